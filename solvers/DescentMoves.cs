using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// The moves of the descent (docs/heuristics.md) on <see cref="FactorPoint"/>s, every candidate costed by
/// <see cref="DescentModel.Cost"/>: growing a level's tiles from the outermost level, flipping keeps,
/// climbing keep sets with a regrowth per flip, seeded annealing, and steepest descent over factor
/// moves, exchanges and keep flips. Pinned factors, keeps and orders are never moved.
/// </summary>
internal sealed class DescentMoves(DescentModel m, Func<bool> stopped)
{
    private readonly Dictionary<string, (FactorPoint X, double V)> _regrown = new();
    private static readonly Slot Outer = new(0, SlotKind.Temporal);

    /// <summary>
    /// A regrown copy of a point: every free temporal factor below the outermost level moved out to it,
    /// then <see cref="Grown"/>. Remembered by the spatial factors and keep sets, all it starts from.
    /// </summary>
    public (FactorPoint X, double V) Regrown(FactorPoint start)
    {
        var key = start.SpatialKey() + string.Join(",", start.Keep);
        if (_regrown.TryGetValue(key, out var known)) return known;
        var x = start.Clone();
        for (int l = 1; l < m.Levels; l++)
            for (int r = 0; r < m.Ranks; r++)
            {
                if (m.Pinned(new Slot(l, SlotKind.Temporal), r) is not null || m.Pinned(Outer, r) is not null) continue;
                x.T[0][r] *= x.T[l][r];
                x.T[l][r] = 1;
            }
        return _regrown[key] = (x, Grown(x));
    }

    /// <summary>Grows every level innermost first, flips keeps while that helps, and grows again if a flip did.</summary>
    public double Grown(FactorPoint x)
    {
        double v = GrowAll(x, m.Cost(x));
        double before = v;
        v = Flips(x, v);
        return v < before ? GrowAll(x, v) : v;
    }

    private double GrowAll(FactorPoint x, double v)
    {
        for (int l = m.Levels - 1; l >= 1; l--) v = Grow(x, l, v);
        return v;
    }

    /// <summary>
    /// Grows level l's tiles: moves a prime factor of a rank, or all of its factor, from the outermost
    /// level's temporal loop into level l's, the cheapest such move each time, while the cost does not
    /// rise and the tiles fit (a move that changes nothing is taken too: it can make the next one pay;
    /// among equal costs the larger move wins).
    /// </summary>
    private double Grow(FactorPoint x, int l, double value)
    {
        var inner = new Slot(l, SlotKind.Temporal);
        while (!stopped())
        {
            double best = value * (1 + 1e-12);
            (int R, int P, double V)? move = null;
            for (int r = 0; r < m.Ranks; r++)
            {
                int f = x.T[0][r];
                if (f == 1 || m.Pinned(Outer, r) is not null || m.Pinned(inner, r) is not null) continue;
                foreach (var p in Steps(f))
                {
                    x.T[0][r] /= p; x.T[l][r] *= p;
                    double v = m.Cost(x);
                    x.T[0][r] *= p; x.T[l][r] /= p;
                    bool cheaper = v < best * (1 - 1e-12);
                    bool larger = v <= best && move is { } cur && p > cur.P;
                    if (cheaper || larger) { best = Math.Min(best, v); move = (r, p, v); }
                }
            }
            if (move is not { } mv) break;
            x.T[0][mv.R] /= mv.P; x.T[l][mv.R] *= mv.P;
            value = mv.V;
        }
        return value;
    }

    /// <summary>Every keep flip (one tensor at one level) that the roles and constraints allow, as (level, bit).</summary>
    private IEnumerable<(int Level, int Bit)> FlipChoices()
    {
        for (int l = 1; l < m.Levels; l++)
            for (int t = 0; t < m.Tensors; t++)
            {
                int bit = 1 << t;
                if ((m.MayKeep[l] & bit) != 0 && (m.MustKeep[l] & bit) == 0) yield return (l, bit);
            }
    }

    /// <summary>Takes the best keep flip while one lowers the cost.</summary>
    private double Flips(FactorPoint x, double value)
    {
        while (!stopped())
        {
            double best = value * (1 - 1e-12);
            (int Level, int Bit)? flip = null;
            foreach (var (l, bit) in FlipChoices())
            {
                x.Keep[l] ^= bit;
                double v = m.Cost(x);
                x.Keep[l] ^= bit;
                if (v < best) { best = v; flip = (l, bit); }
            }
            if (flip is not { } f) break;
            x.Keep[f.Level] ^= f.Bit;
            value = best;
        }
        return value;
    }

    /// <summary>Hill climbing over keep sets: each flip of one tensor at one level is judged after a full regrowth.</summary>
    public (FactorPoint X, double V) ClimbKeeps(FactorPoint x, double value)
    {
        x = x.Clone();
        while (!stopped())
        {
            (FactorPoint X, double V)? winner = null;
            foreach (var (l, bit) in FlipChoices())
            {
                x.Keep[l] ^= bit;
                var regrown = Regrown(x);
                x.Keep[l] ^= bit;
                if (regrown.V < (winner?.V ?? value * (1 - 1e-12))) winner = regrown;
            }
            if (winner is not { } w) break;
            x = w.X.Clone();
            value = w.V;
        }
        return (x, value);
    }

    /// <summary>
    /// Simulated annealing with a fixed seed over random moves: a prime factor (or all of a factor) of a
    /// rank from one slot to another, sometimes with a prime factor of another rank going the other way,
    /// or a keep flip. A worse point is accepted with probability exp(-relative rise / temperature), the
    /// temperature falling geometrically from 3% to 0.03%. Returns the best point seen.
    /// </summary>
    public (FactorPoint X, double V) Anneal(FactorPoint start, double value, int steps, int seed)
    {
        var rng = new Random(seed);
        var x = start.Clone();
        var best = x.Clone();
        double bestValue = value, current = value;
        var slots = m.Slots;
        var flips = FlipChoices().ToList();
        var sources = new List<(int Rank, Slot Slot)>();
        const double hot = 0.03, cold = 0.0003;
        for (int i = 0; i < steps && !stopped(); i++)
        {
            double temperature = hot * Math.Pow(cold / hot, (double)i / steps);
            double roll = rng.NextDouble();
            Action undo;
            if (roll < 0.1)
            {
                if (flips.Count == 0) continue;
                var (l, bit) = flips[rng.Next(flips.Count)];
                x.Keep[l] ^= bit;
                undo = () => x.Keep[l] ^= bit;
            }
            else
            {
                sources.Clear();
                for (int r = 0; r < m.Ranks; r++)
                    foreach (var s in slots)
                        if (x.Of(s)[r] > 1 && m.Pinned(s, r) is null) sources.Add((r, s));
                if (sources.Count == 0) continue;
                var (rank, a) = sources[rng.Next(sources.Count)];
                var b = slots[rng.Next(slots.Count)];
                if (a == b || m.Pinned(b, rank) is not null) continue;
                var fa = x.Of(a);
                var fb = x.Of(b);
                var primes = Primes(fa[rank]);
                int p = rng.NextDouble() < 0.2 ? fa[rank] : primes[rng.Next(primes.Length)];
                if (!Fits(b, fb, p)) continue;
                fa[rank] /= p; fb[rank] *= p;
                undo = () => { fa[rank] *= p; fb[rank] /= p; };
                int other = rng.Next(m.Ranks);
                if (roll > 0.75 && other != rank && fb[other] > 1 && m.Pinned(a, other) is null && m.Pinned(b, other) is null)
                {
                    var back = Primes(fb[other]);
                    int q = back[rng.Next(back.Length)];
                    if (Fits(a, fa, q))
                    {
                        fb[other] /= q; fa[other] *= q;
                        var first = undo;
                        undo = () => { fb[other] *= q; fa[other] /= q; first(); };
                    }
                }
            }
            double v = m.Cost(x);
            if (v <= current || (!double.IsInfinity(v) && rng.NextDouble() < Math.Exp(-(v / current - 1) / temperature)))
            {
                current = v;
                if (v < bestValue * (1 - 1e-12)) { bestValue = v; best = x.Clone(); }
            }
            else undo();
        }
        return (best, bestValue);
    }

    /// <summary>True when a factor p more still fits a slot (the fanout of a spatial slot; a temporal slot always).</summary>
    private bool Fits(Slot s, int[] factors, long p) => s.Kind == SlotKind.Temporal || DescentModel.Used(factors) * p <= m.Room(s);

    /// <summary>
    /// Steepest descent: the best of every move of a divisor of a rank's factor from one slot to another
    /// and every keep flip, while one lowers the cost; when none does, the best exchange between two
    /// slots (see <see cref="Exchange"/>). Improves the point in place and returns its cost.
    /// </summary>
    public double Improve(FactorPoint x, double value)
    {
        var slots = m.Slots;
        while (!stopped())
        {
            double best = value * (1 - 1e-12);
            (int R, int P, Slot A, Slot B)? move = null;
            (int Level, int Bit)? flip = null;
            for (int r = 0; r < m.Ranks; r++)
                foreach (var a in slots)
                {
                    var fa = x.Of(a);
                    if (fa[r] == 1 || m.Pinned(a, r) is not null) continue;
                    foreach (var p in Divisors(fa[r]))
                        foreach (var b in slots)
                        {
                            var fb = x.Of(b);
                            if (b == a || m.Pinned(b, r) is not null || !Fits(b, fb, p)) continue;
                            fa[r] /= p; fb[r] *= p;
                            double v = m.Cost(x);
                            fa[r] *= p; fb[r] /= p;
                            if (v < best) { best = v; move = (r, p, a, b); }
                        }
                }
            foreach (var (l, bit) in FlipChoices())
            {
                x.Keep[l] ^= bit;
                double v = m.Cost(x);
                x.Keep[l] ^= bit;
                if (v < best) { best = v; flip = (l, bit); move = null; }
            }
            if (move is { } mv) { x.Of(mv.A)[mv.R] /= mv.P; x.Of(mv.B)[mv.R] *= mv.P; }
            else if (flip is { } f) x.Keep[f.Level] ^= f.Bit;
            else if (!Exchange(x, ref best)) break;
            value = best;
        }
        return value;
    }

    private readonly Dictionary<int, int[]> _primes = new(), _distinct = new(), _steps = new(), _divisors = new();

    /// <summary>The prime factors of n with multiplicity (so a random pick favours the frequent ones).</summary>
    private int[] Primes(int n) => Memo(_primes, n, () => Mapspace.PrimeFactors(n).ToArray());

    /// <summary>The distinct prime factors of n.</summary>
    private int[] DistinctPrimes(int n) => Memo(_distinct, n, () => Mapspace.PrimeFactors(n).Distinct().ToArray());

    /// <summary>What growth tries to move: each distinct prime factor of n, and n itself.</summary>
    private int[] Steps(int n) => Memo(_steps, n, () => Mapspace.PrimeFactors(n).Append(n).Distinct().ToArray());

    /// <summary>Every divisor of n above 1, ascending.</summary>
    private int[] Divisors(int n) => Memo(_divisors, n, () =>
    {
        var d = new List<int>();
        for (int i = 1; (long)i * i <= n; i++)
            if (n % i == 0) { d.Add(i); if (i != n / i) d.Add(n / i); }
        return d.Where(x => x > 1).Order().ToArray();
    });

    private static int[] Memo(Dictionary<int, int[]> memo, int n, Func<int[]> make)
    {
        if (!memo.TryGetValue(n, out var v)) memo[n] = v = make();
        return v;
    }

    /// <summary>
    /// The best exchange between two slots: a prime factor of one rank goes from slot a to slot b while a
    /// prime factor of another rank goes from b to a, so tiles keep about their size when capacity binds.
    /// Applies it when it lowers the cost below <paramref name="best"/> (which it then updates).
    /// </summary>
    private bool Exchange(FactorPoint x, ref double best)
    {
        var slots = m.Slots;
        (int R1, int P1, int R2, int P2, Slot A, Slot B)? move = null;
        foreach (var a in slots)
            foreach (var b in slots)
            {
                if (a == b) continue;
                var fa = x.Of(a);
                var fb = x.Of(b);
                for (int r1 = 0; r1 < m.Ranks; r1++)
                {
                    if (fa[r1] == 1 || m.Pinned(a, r1) is not null || m.Pinned(b, r1) is not null) continue;
                    foreach (var p1 in DistinctPrimes(fa[r1]))
                        for (int r2 = r1 + 1; r2 < m.Ranks; r2++)
                        {
                            if (fb[r2] == 1 || m.Pinned(a, r2) is not null || m.Pinned(b, r2) is not null) continue;
                            foreach (var p2 in DistinctPrimes(fb[r2]))
                            {
                                fa[r1] /= p1; fb[r1] *= p1; fb[r2] /= p2; fa[r2] *= p2;
                                bool fits = Fits(a, fa, 1) && Fits(b, fb, 1);
                                double v = fits ? m.Cost(x) : double.PositiveInfinity;
                                fa[r1] *= p1; fb[r1] /= p1; fb[r2] *= p2; fa[r2] /= p2;
                                if (v < best) { best = v; move = (r1, p1, r2, p2, a, b); }
                            }
                        }
                }
            }
        if (move is not { } mv) return false;
        var xa = x.Of(mv.A);
        var xb = x.Of(mv.B);
        xa[mv.R1] /= mv.P1; xb[mv.R1] *= mv.P1; xb[mv.R2] /= mv.P2; xa[mv.R2] *= mv.P2;
        return true;
    }
}
