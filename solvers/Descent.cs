using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// A fast bottom-up cost descent (docs/heuristics.md). It proves nothing; `optimizer regress`
/// measures how far it is from the exact optimum.
/// </summary>
public sealed class Descent(MapProblem problem)
{
    /// <summary>Runs the descent.</summary>
    public SolveResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var m = new DescentModel(problem);
        var starts = new List<(FactorPoint X, double V)>();
        var memo = new Dictionary<string, (FactorPoint X, double V)>();
        var origin = new Dictionary<FactorPoint, string>(ReferenceEqualityComparer.Instance);
        // Stage A: every spatial plan with every level keeping what it may.
        var plans = Plans(m).ToList();
        var screened = new List<(int Plan, double V)>();
        for (int i = 0; i < plans.Count; i++)
        {
            var (x, v) = Regrown(m, KeepVariants(m, plans[i]).First(), memo);
            origin.TryAdd(x, $"plan{i}");
            starts.Add((x, v));
            screened.Add((i, v));
        }
        // Stage B: the other keep sets to start from, for the best few plans.
        int widen = int.Parse(Environment.GetEnvironmentVariable("DESCENT_WIDEN") ?? "5");
        foreach (var (i, _) in screened.OrderBy(p => p.V).Take(widen))
            foreach (var variant in KeepVariants(m, plans[i]).Skip(1))
            {
                var (x, v) = Regrown(m, variant, memo);
                origin.TryAdd(x, $"plan{i}v");
                starts.Add((x, v));
            }
        // Stage B': for the best plans, starts where one tensor is whole (all of its ranks) in one buffer level.
        int resident = int.Parse(Environment.GetEnvironmentVariable("DESCENT_RESIDENT") ?? "2");
        foreach (var (i, _) in screened.OrderBy(p => p.V).Take(resident))
            foreach (var start in Residents(m, KeepVariants(m, plans[i]).First()))
            {
                double v = Grown(m, start);
                origin.TryAdd(start, $"plan{i}r");
                starts.Add((start, v));
            }
        // Stage C: the best screened point of each of the best few spatial plans gets its keep sets climbed, a regrowth per flip.
        int climb = int.Parse(Environment.GetEnvironmentVariable("DESCENT_CLIMB") ?? "3");
        var perPlan = starts.OrderBy(s => s.V).GroupBy(s => SpatialKey(s.X)).Select(g => g.First()).Take(climb).ToList();
        foreach (var (x0, v0) in perPlan)
        {
            var x = x0;
            double v = ClimbKeeps(m, ref x, v0, memo);
            origin.TryAdd(x, "climb" + origin.GetValueOrDefault(x0, "?"));
            starts.Add((x, v));
        }
        var distinct = new HashSet<string>();
        starts = starts.OrderBy(s => s.V).Where(s => distinct.Add(s.X.Key())).ToList();
        long screening = m.Evaluations;
        var best = starts.OrderBy(s => s.V).First();
        int budget = int.Parse(Environment.GetEnvironmentVariable("DESCENT_SA") ?? "1500");
        int take = int.Parse(Environment.GetEnvironmentVariable("DESCENT_TAKE") ?? "2");
        int seed = 1;
        foreach (var (x0, v0) in starts.OrderBy(s => s.V).Take(take))
        {
            long e0 = m.Evaluations;
            var (x, v) = budget > 0 ? Anneal(m, x0, v0, budget, seed++) : (x0, v0);
            double va = v;
            long e1 = m.Evaluations;
            v = Improve(m, x, v, limits, sw);
            if (Tracing) Console.Error.WriteLine($"STAT {problem.Layer.Name} start#{seed - 1} {origin.GetValueOrDefault(x0, "?")} screened {v0:G6} annealed {va:G6} ({e1 - e0} ev) polished {v:G6} ({m.Evaluations - e1} ev)");
            if (v < best.V) best = (x, v);
        }
        if (Tracing) Console.Error.WriteLine($"{problem.Layer.Name}: {starts.Count} starts, {screening} evaluations to screen, {m.Evaluations - screening} to polish");
        var mapping = m.ToMapping(best.X)!;
        var report = CostModel.Evaluate(problem.Layer, problem.Arch, mapping);
        return new SolveResult(SolveStatus.Feasible, mapping, report, report.Objective(problem.Objective),
            new SearchModel(problem).RootBound(), sw.Elapsed, m.Evaluations, "descent");
    }

    /// <summary>
    /// Starting points: every level keeps what it may, every temporal factor is at the outermost level,
    /// and each fanout is spread over the ranks that do not index one chosen tensor (so that tensor is
    /// multicast or reduced), a different tensor (or none) per axis.
    /// </summary>
    private IEnumerable<FactorPoint> Plans(DescentModel m)
    {
        var favour = Enumerable.Range(-1, m.Tensors + 1).ToArray();
        foreach (var fx in favour)
            foreach (var fy in favour)
            {
                var x = new FactorPoint(m.Levels, m.Ranks);
                for (int r = 0; r < m.Ranks; r++) x.T[0][r] = problem.Layer.Ranks[r].Bound;
                for (int l = 0; l < m.Levels; l++) x.Keep[l] = m.MayKeep[l];
                for (int l = m.Levels - 1; l >= 0; l--)
                {
                    var fan = problem.Arch.Levels[l].Fanout;
                    if (fan.X > 1) Spread(m, x, new Slot(l, SlotKind.X), fan.X, fx);
                    if (fan.Y > 1) Spread(m, x, new Slot(l, SlotKind.Y), fan.Y, fy);
                }
                yield return x;
            }
    }

    /// <summary>
    /// Keep sets to start from: every level keeps what it may; or one tensor passes its innermost
    /// possible keeper. With a tensor whose tiles have gaps (a stride past its window), each also in a
    /// form where that tensor passes every level but the outermost and its innermost possible keeper.
    /// </summary>
    private static IEnumerable<FactorPoint> KeepVariants(DescentModel m, FactorPoint x)
    {
        var bases = new List<FactorPoint> { x };
        for (int t = 0; t < m.Tensors; t++)
        {
            int bit = 1 << t;
            int l = Innermost(m, t);
            if (l > 0 && (m.MustKeep[l] & bit) == 0)
            {
                var v = x.Clone();
                v.Keep[l] &= ~bit;
                bases.Add(v);
            }
        }
        foreach (var b in bases)
        {
            bool changed = false;
            var g = b.Clone();
            for (int t = 0; t < m.Tensors; t++)
            {
                if (!m.Gappy[t]) continue;
                int inner = Innermost(m, t);
                for (int l = 1; l < inner; l++)
                    if ((g.Keep[l] & (1 << t)) != 0 && (m.MustKeep[l] & (1 << t)) == 0) { g.Keep[l] &= ~(1 << t); changed = true; }
            }
            // The form without gaps first: the plans are screened with the first variant alone.
            if (changed) yield return g;
            yield return b;
        }
    }

    /// <summary>The innermost level that may keep tensor t (0 when only the outermost may).</summary>
    private static int Innermost(DescentModel m, int t)
    {
        for (int l = m.Levels - 1; l >= 1; l--) if ((m.MayKeep[l] & (1 << t)) != 0) return l;
        return 0;
    }

    /// <summary>Fills a spatial slot with the largest product of factors (taken from the outermost level) of ranks that do not index tensor t (any rank when t is -1).</summary>
    private static void Spread(DescentModel m, FactorPoint x, Slot slot, int room, int t)
    {
        var ranks = Enumerable.Range(0, m.Ranks).Where(r => (t < 0 || !m.Indexes[t][r]) && m.Pinned(slot, r) is null && x.T[0][r] > 1).ToArray();
        var best = new int[m.Ranks];
        long bestProduct = 1;
        var cur = new int[m.Ranks];
        Array.Fill(cur, 1);
        Search(0, 1);
        for (int r = 0; r < m.Ranks; r++)
            if (best[r] > 1) { x.T[0][r] /= best[r]; x.Of(slot)[r] = best[r]; }

        void Search(int i, long product)
        {
            if (product > bestProduct) { bestProduct = product; Array.Copy(cur, best, m.Ranks); }
            if (i == ranks.Length) return;
            int r = ranks[i];
            for (int f = 1; f <= x.T[0][r] && product * f <= room; f++)
            {
                if (x.T[0][r] % f != 0) continue;
                cur[r] = f;
                Search(i + 1, product * f);
            }
            cur[r] = 1;
        }
    }

    /// <summary>Experimental: improves a valid mapping (with its temporal factors moved to the outermost level when asked).</summary>
    public SolveResult Polish(Mapping start, bool stripTemporal, SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var m = new DescentModel(problem);
        var x = m.From(start);
        if (stripTemporal)
            for (int l = 1; l < m.Levels; l++)
                for (int r = 0; r < m.Ranks; r++) { x.T[0][r] *= x.T[l][r]; x.T[l][r] = 1; }
        if (Environment.GetEnvironmentVariable("DESCENT_ALLKEEP") == "1") for (int l = 0; l < m.Levels; l++) x.Keep[l] = m.MayKeep[l];
        double value = m.Cost(x);
        if (Tracing) Console.Error.WriteLine($"start {value:G6} {x.Key()}");
        for (int l = m.Levels - 1; l >= 1; l--) value = Grow(m, x, l, value);
        if (Tracing) Console.Error.WriteLine($"grown {value:G6} {x.Key()}");
        int budget = int.Parse(Environment.GetEnvironmentVariable("DESCENT_SA") ?? "1500");
        if (budget > 0) { var (y, vy) = Anneal(m, x, value, budget, 1); if (Tracing) Console.Error.WriteLine($"annealed {vy:G6}"); x = y; value = vy; }
        value = Improve(m, x, value, limits, sw);
        var mapping = m.ToMapping(x)!;
        var report = CostModel.Evaluate(problem.Layer, problem.Arch, mapping);
        return new SolveResult(SolveStatus.Feasible, mapping, report, report.Objective(problem.Objective), 0, sw.Elapsed, m.Evaluations, "descent");
    }

    private static IEnumerable<int> Divisors(int n)
    {
        for (int d = 2; d <= n; d++) if (n % d == 0) yield return d;
    }

    internal static readonly bool NoFlips = Environment.GetEnvironmentVariable("DESCENT_NOFLIPS") == "1";
    internal static readonly bool Tracing = Environment.GetEnvironmentVariable("DESCENT_TRACE") == "1";

    private static bool Stopped(SearchLimits limits, Stopwatch sw)
        => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);

    private FactorPoint Start(DescentModel m)
    {
        var x = new FactorPoint(m.Levels, m.Ranks);
        for (int r = 0; r < m.Ranks; r++) x.T[0][r] = problem.Layer.Ranks[r].Bound;
        for (int l = 0; l < m.Levels; l++) x.Keep[l] = m.MayKeep[l];
        return x;
    }

    /// <summary>Moves prime factors from the outermost level into level l while the cost does not rise and the tiles fit.</summary>
    private static double Grow(DescentModel m, FactorPoint x, int l, double value)
    {
        var outer = new Slot(0, SlotKind.Temporal);
        var inner = new Slot(l, SlotKind.Temporal);
        while (true)
        {
            double best = value * (1 + 1e-12);
            (int R, int P, double V)? move = null;
            for (int r = 0; r < m.Ranks; r++)
            {
                if (m.Pinned(outer, r) is not null || m.Pinned(inner, r) is not null) continue;
                int f = x.T[0][r];
                if (f == 1) continue;
                // Each prime, and the whole factor at once; on a tie the larger move wins.
                foreach (var p in Mapspace.PrimeFactors(f).Distinct().Append(f).Distinct())
                {
                    x.T[0][r] /= p; x.T[l][r] *= p;
                    double v = m.Cost(x);
                    x.T[0][r] *= p; x.T[l][r] /= p;
                    if (v < best * (1 - 1e-12) || (v <= best && move is { } cur && p > cur.P && v <= value * (1 + 1e-12)))
                    {
                        best = Math.Min(best, v);
                        move = (r, p, v);
                    }
                }
            }
            if (move is not { } mv) return value;
            x.T[0][mv.R] /= mv.P; x.T[l][mv.R] *= mv.P;
            value = mv.V;
            if (Tracing) Console.Error.WriteLine($"  grow {l} r{mv.R} p{mv.P} {value:G6}");
        }
    }

    private static string SpatialKey(FactorPoint x) => string.Join("|", x.X.Select(a => string.Join(",", a))) + "/" + string.Join("|", x.Y.Select(a => string.Join(",", a)));

    /// <summary>
    /// A regrown copy of a point (see <see cref="Regrow"/>), remembered by its spatial factors and keep
    /// sets, which are all that regrowth starts from.
    /// </summary>
    private static (FactorPoint X, double V) Regrown(DescentModel m, FactorPoint start, Dictionary<string, (FactorPoint X, double V)> memo)
    {
        var key = SpatialKey(start) + "/" + string.Join(",", start.Keep);
        if (memo.TryGetValue(key, out var known)) return known;
        var x = start.Clone();
        double v = Regrow(m, x);
        return memo[key] = (x, v);
    }

    /// <summary>
    /// Starts in which one tensor is resident in one buffer level: every factor of the ranks indexing it
    /// moves from the outermost level into that level (when the level's tiles still fit), so the
    /// tensor is fetched once.
    /// </summary>
    private static IEnumerable<FactorPoint> Residents(DescentModel m, FactorPoint plan)
    {
        for (int l = 1; l < m.Levels; l++)
            for (int t = 0; t < m.Tensors; t++)
            {
                if ((plan.Keep[l] & (1 << t)) == 0) continue;
                var x = plan.Clone();
                var slot = new Slot(l, SlotKind.Temporal);
                for (int r = 0; r < m.Ranks; r++)
                {
                    if (!m.Indexes[t][r] || m.Pinned(slot, r) is not null || m.Pinned(new Slot(0, SlotKind.Temporal), r) is not null) continue;
                    x.T[l][r] *= x.T[0][r];
                    x.T[0][r] = 1;
                }
                if (!double.IsInfinity(m.Cost(x))) yield return x;
            }
    }

    /// <summary>Grows the levels innermost first from what the point has, changes keeps while that helps, and grows again.</summary>
    private static double Grown(DescentModel m, FactorPoint x)
    {
        double v = m.Cost(x);
        for (int l = m.Levels - 1; l >= 1; l--) v = Grow(m, x, l, v);
        double before = v;
        v = Flips(m, x, v);
        if (v < before) for (int l = m.Levels - 1; l >= 1; l--) v = Grow(m, x, l, v);
        return v;
    }

    /// <summary>Moves every temporal factor below the outermost level out to it, then grows the levels innermost first, changes keeps while that helps and grows again.</summary>
    private static double Regrow(DescentModel m, FactorPoint x)
    {
        for (int l = 1; l < m.Levels; l++)
            for (int r = 0; r < m.Ranks; r++)
            {
                if (m.Pinned(new Slot(l, SlotKind.Temporal), r) is not null) continue;
                x.T[0][r] *= x.T[l][r];
                x.T[l][r] = 1;
            }
        return Grown(m, x);
    }

    /// <summary>Hill climbing over keep sets: each flip of one tensor at one level is judged after a full regrowth.</summary>
    private static double ClimbKeeps(DescentModel m, ref FactorPoint x, double value, Dictionary<string, (FactorPoint X, double V)> memo)
    {
        while (true)
        {
            FactorPoint? winner = null;
            double best = value * (1 - 1e-12);
            for (int l = 1; l < m.Levels; l++)
                for (int t = 0; t < m.Tensors; t++)
                {
                    int bit = 1 << t;
                    if ((m.MayKeep[l] & bit) == 0 || (m.MustKeep[l] & bit) != 0) continue;
                    x.Keep[l] ^= bit;
                    var (y, v) = Regrown(m, x, memo);
                    x.Keep[l] ^= bit;
                    if (v < best) { best = v; winner = y; }
                }
            if (winner is null) return value;
            if (Tracing) Console.Error.WriteLine($"  keeps {string.Join(",", winner.Keep)}: {value:G6} -> {best:G6}");
            x = winner.Clone();
            value = best;
        }
    }

    /// <summary>Changes what levels keep, one tensor at a time, while that lowers the cost.</summary>
    private static double Flips(DescentModel m, FactorPoint x, double value)
    {
        while (true)
        {
            double best = value * (1 - 1e-12);
            (int L, int Bit)? flip = null;
            for (int l = 1; l < m.Levels; l++)
                for (int t = 0; t < m.Tensors; t++)
                {
                    int bit = 1 << t;
                    if ((m.MayKeep[l] & bit) == 0 || (m.MustKeep[l] & bit) != 0) continue;
                    x.Keep[l] ^= bit;
                    double v = m.Cost(x);
                    x.Keep[l] ^= bit;
                    if (v < best) { best = v; flip = (l, bit); }
                }
            if (flip is not { } f) return value;
            x.Keep[f.L] ^= f.Bit;
            value = m.Cost(x);
        }
    }

    /// <summary>Simulated annealing over single factor moves, exchanges and keep flips, with a fixed seed; returns the best point seen.</summary>
    private static (FactorPoint, double) Anneal(DescentModel m, FactorPoint start, double value, int budget, int seed)
    {
        var rng = new Random(seed);
        var x = start.Clone();
        var best = x.Clone();
        double bestValue = value, cur = value;
        var slots = m.Slots;
        double t0 = double.Parse(Environment.GetEnvironmentVariable("DESCENT_T0") ?? "0.03"), t1 = 0.0003;
        var sources = new List<(int R, Slot S)>();
        int accepted = 0, tried = 0, invalid = 0;
        for (int i = 0; i < budget; i++)
        {
            double temp = t0 * Math.Pow(t1 / t0, (double)i / budget);
            double roll = rng.NextDouble();
            Action undo;
            if (roll < 0.1)
            {
                int l = 1 + rng.Next(m.Levels - 1), t = rng.Next(m.Tensors), bit = 1 << t;
                if ((m.MayKeep[l] & bit) == 0 || (m.MustKeep[l] & bit) != 0) continue;
                x.Keep[l] ^= bit;
                undo = () => x.Keep[l] ^= bit;
            }
            else
            {
                sources.Clear();
                for (int rr = 0; rr < m.Ranks; rr++)
                    foreach (var sl in slots)
                        if (x.Of(sl)[rr] > 1 && m.Pinned(sl, rr) is null) sources.Add((rr, sl));
                if (sources.Count == 0) break;
                var (r, a) = sources[rng.Next(sources.Count)];
                var b = slots[rng.Next(slots.Count)];
                if (a == b || m.Pinned(b, r) is not null) continue;
                var fa = x.Of(a); var fb = x.Of(b);
                var primes = Mapspace.PrimeFactors(fa[r]);
                int p = rng.NextDouble() < 0.2 ? fa[r] : primes[rng.Next(primes.Count)];
                if (b.Kind != SlotKind.Temporal && DescentModel.Used(fb) * p > m.Room(b)) continue;
                fa[r] /= p; fb[r] *= p;
                undo = () => { fa[r] *= p; fb[r] /= p; };
                if (roll > 0.75)
                {
                    // An exchange: a factor of another rank goes the other way.
                    int r2 = rng.Next(m.Ranks);
                    if (r2 != r && fb[r2] > 1 && m.Pinned(a, r2) is null && m.Pinned(b, r2) is null)
                    {
                        var pr = Mapspace.PrimeFactors(fb[r2]);
                        int q = pr[rng.Next(pr.Count)];
                        if (a.Kind == SlotKind.Temporal || DescentModel.Used(fa) * q <= m.Room(a))
                        {
                            fb[r2] /= q; fa[r2] *= q;
                            var first = undo;
                            undo = () => { fb[r2] *= q; fa[r2] /= q; first(); };
                        }
                    }
                }
            }
            double v = m.Cost(x);
            tried++;
            if (double.IsInfinity(v)) invalid++;
            if (v <= cur || (!double.IsInfinity(v) && rng.NextDouble() < Math.Exp(-(v / cur - 1) / temp)))
            {
                cur = v;
                accepted++;
                if (v < bestValue * (1 - 1e-12)) { bestValue = v; best = x.Clone(); }
            }
            else undo();
        }
        if (Tracing) Console.Error.WriteLine($"  anneal: {tried} tried, {invalid} invalid, {accepted} accepted; {value:G6} -> {bestValue:G6}");
        return (best, bestValue);
    }

    /// <summary>Steepest descent over single moves: one prime factor of a rank from one slot to another, or one keep flip.</summary>
    private static double Improve(DescentModel m, FactorPoint x, double value, SearchLimits limits, Stopwatch sw)
    {
        var slots = m.Slots;
        while (!Stopped(limits, sw))
        {
            double best = value * (1 - 1e-12);
            (int R, int P, Slot A, Slot B)? move = null;
            (int L, int Bit)? flip = null;
            for (int r = 0; r < m.Ranks; r++)
                foreach (var a in slots)
                {
                    if (m.Pinned(a, r) is not null) continue;
                    var fa = x.Of(a);
                    foreach (var p in Divisors(fa[r]))
                        foreach (var b in slots)
                        {
                            if (b == a || m.Pinned(b, r) is not null) continue;
                            var fb = x.Of(b);
                            if (b.Kind != SlotKind.Temporal && DescentModel.Used(fb) * p > m.Room(b)) continue;
                            fa[r] /= p; fb[r] *= p;
                            double v = m.Cost(x);
                            fa[r] *= p; fb[r] /= p;
                            if (v < best) { best = v; move = (r, p, a, b); flip = null; }
                        }
                }
            for (int l = 1; l < m.Levels && !NoFlips; l++)
                for (int t = 0; t < m.Tensors; t++)
                {
                    int bit = 1 << t;
                    if ((m.MayKeep[l] & bit) == 0 || (m.MustKeep[l] & bit) != 0) continue;
                    x.Keep[l] ^= bit;
                    double v = m.Cost(x);
                    x.Keep[l] ^= bit;
                    if (v < best) { best = v; flip = (l, bit); move = null; }
                }
            if (move is { } mv) { x.Of(mv.A)[mv.R] /= mv.P; x.Of(mv.B)[mv.R] *= mv.P; }
            else if (flip is { } f) x.Keep[f.L] ^= f.Bit;
            else break;
            value = m.Cost(x);
            if (Tracing) Console.Error.WriteLine($"  step {value:G6} {(move is { } q ? $"r{q.R} p{q.P} {q.A}->{q.B}" : $"flip {flip}")}");
        }
        return value;
    }
}
