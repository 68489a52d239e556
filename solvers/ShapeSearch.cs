using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>What <c>map --shapes</c> minimises over the trace's distribution of a mapping's per-shape costs (docs/shapes.md).</summary>
public enum ShapeStatistic { Mean, P50, P99, Max }

/// <summary>The statistics of docs/shapes.md over per-shape costs and weights. Each is non-decreasing in every cost.</summary>
public static class ShapeStatistics
{
    /// <summary>The name the command line uses.</summary>
    public static string Name(ShapeStatistic s) => s.ToString().ToLowerInvariant();

    /// <summary>
    /// The statistic of <paramref name="costs"/> under <paramref name="weights"/> (both in the same order, weights
    /// positive): mean = <c>sum w c / sum w</c> summed in the order given; max = the largest cost; p50 and p99 =
    /// the weighted lower quantile: the smallest cost <c>c</c> such that the shapes costing at most <c>c</c> carry
    /// at least q of the weight.
    /// </summary>
    public static double Of(ShapeStatistic s, ReadOnlySpan<double> costs, ReadOnlySpan<double> weights)
    {
        switch (s)
        {
            case ShapeStatistic.Mean:
                double sum = 0, total = 0;
                for (int i = 0; i < costs.Length; i++) { sum += weights[i] * costs[i]; total += weights[i]; }
                return sum / total;
            case ShapeStatistic.Max:
                double max = double.NegativeInfinity;
                foreach (var c in costs) max = Math.Max(max, c);
                return max;
            default:
                double q = s == ShapeStatistic.P50 ? 0.5 : 0.99;
                var idx = Enumerable.Range(0, costs.Length).ToArray();
                var cc = costs.ToArray();
                Array.Sort(cc.ToArray(), idx);
                double all = 0;
                foreach (var w in weights) all += w;
                double cum = 0;
                foreach (int i in idx)
                {
                    cum += weights[i];
                    if (cum >= q * all) return cc[i];
                }
                return cc[idx[^1]];
        }
    }
}

/// <summary>The one mapping for a trace: its per-shape costs (trace order), the statistic, and what the search did.</summary>
public sealed record ShapeAnswer(SolveStatus Status, Mapping? Mapping, IReadOnlyList<double>? Costs, double? Best, double Bound,
    TimeSpan Elapsed, long Candidates, long Evaluations, long Pruned, string? Explanation = null)
{
    /// <summary>Which search answered: the enumeration, or the branch and bound (<see cref="ShapeBranchAndBound"/>).</summary>
    public string Method { get; init; } = "enumeration";

    /// <summary>Relative gap in percent between best and bound; 0 when optimal, null when nothing was found.</summary>
    public double? GapPercent => Best is { } b ? (b <= 0 ? 0 : Math.Max(0, (b - Bound) / b * 100)) : null;

    /// <summary>A stopped answer with its bound raised to <paramref name="bound"/> (<see cref="ShapeSearch.OwnOptimaBound"/>); OPTIMAL when that closes the gap.</summary>
    public ShapeAnswer Tightened(double? bound)
    {
        var (status, b, why) = ShapeBounds.Tighten(Status, Best, Bound, bound, Explanation);
        return this with { Status = status, Bound = b, Explanation = why };
    }
}

/// <summary>One bucket: the shapes it serves (positions <paramref name="First"/>..<paramref name="Last"/> of <see cref="BucketAnswer.Order"/>) and its mapping.</summary>
public sealed record ShapeBucket(int First, int Last, Mapping Mapping, IReadOnlyList<double> Costs);

/// <summary>The best K mappings for a trace, each serving a contiguous range of the shapes in <see cref="Order"/>.</summary>
public sealed record BucketAnswer(SolveStatus Status, IReadOnlyList<ShapeBucket>? Buckets, IReadOnlyList<int> Order, double? Best, double Bound,
    TimeSpan Elapsed, long Candidates, long Evaluations, string? Explanation = null)
{
    /// <summary>Relative gap in percent between best and bound; 0 when optimal, null when nothing was found.</summary>
    public double? GapPercent => Best is { } b ? (b <= 0 ? 0 : Math.Max(0, (b - Bound) / b * 100)) : null;

    /// <summary>A stopped answer with its bound raised to <paramref name="bound"/> (<see cref="ShapeSearch.OwnOptimaBound"/>); OPTIMAL when that closes the gap.</summary>
    public BucketAnswer Tightened(double? bound)
    {
        var (status, b, why) = ShapeBounds.Tighten(Status, Best, Bound, bound, Explanation);
        return this with { Status = status, Bound = b, Explanation = why };
    }
}

/// <summary>Raising a stopped shape search's bound by a second valid bound.</summary>
internal static class ShapeBounds
{
    /// <summary>Relative margin within which a bound equal to the best found proves it (the rounding of the two sums).</summary>
    public const double Rounding = 1e-9;

    /// <summary>
    /// A FEASIBLE answer's bound raised to <paramref name="other"/> when that is higher; OPTIMAL when the raised bound
    /// reaches the best found (within <see cref="Rounding"/>). Other statuses are left as they are.
    /// </summary>
    public static (SolveStatus Status, double Bound, string? Explanation) Tighten(SolveStatus status, double? best, double bound, double? other, string? why)
    {
        if (status != SolveStatus.Feasible || other is not { } o || best is not { } b || o <= bound) return (status, bound, why);
        if (o >= b * (1 - Rounding)) return (SolveStatus.Optimal, b, "proved by the shapes' own optima: the statistic of each shape's own optimum is reached");
        return (status, o, why + "; bound: the statistic of each shape's own-optimum bound");
    }
}

/// <summary>
/// <c>map --shapes</c> (docs/shapes.md): the mapping that minimises a statistic of the objective over a shape
/// trace, or the best K mappings with the shape ranges each serves. The candidates are the imperfect mapspace of
/// the largest shape (<see cref="ImperfectEnumeration"/>), restricted to mappings that run validly on every shape
/// of the trace; a candidate runs on a shape as <see cref="ShapeFit.Clamp"/> writes it and is costed there by the
/// reference model. OPTIMAL only when the enumeration finishes.
/// </summary>
public sealed class ShapeSearch
{
    private readonly ShapeTrace _trace;
    private readonly Architecture _arch;
    private readonly Objective _objective;
    private readonly Einsum[] _layers;
    private readonly Einsum _largest;

    /// <summary>Prepares the search of one trace on one architecture for one objective term.</summary>
    public ShapeSearch(ShapeTrace trace, Architecture arch, Objective objective)
    {
        if (arch.HasWindowCapabilities)
            throw new ArgumentException(ImperfectRules.WindowCapabilities(arch.Name), nameof(arch));
        _trace = trace;
        _arch = arch;
        _objective = objective;
        _layers = trace.Shapes.Select(s => trace.LayerOf(s.Sizes)).ToArray();
        _largest = trace.LayerOf(trace.Largest());
        var largest = trace.Largest();
        _dynamic = trace.Layer.Ranks.Where((r, i) => trace.Shapes.Any(x => x.Sizes[i] != largest[i])).Select(r => r.Id).ToHashSet();
    }

    private readonly HashSet<RankId> _dynamic;

    /// <summary>The trace searched.</summary>
    public ShapeTrace Trace => _trace;

    /// <summary>The architecture searched.</summary>
    public Architecture Arch => _arch;

    /// <summary>The layer at the largest size of every rank: the shape the candidates' loops are sized for.</summary>
    public Einsum Largest => _largest;

    /// <summary>The layer at each shape of the trace (trace order).</summary>
    public IReadOnlyList<Einsum> Layers => _layers;

    /// <summary>Cost of <paramref name="mapping"/> (sized for the largest shape) on shape <paramref name="s"/> (trace order), by the reference model.</summary>
    public double CostOn(Mapping mapping, int s)
        => CostModel.Evaluate(_layers[s], _arch, ShapeFit.Clamp(mapping, _layers[s]), Factorization.Imperfect).Objective(_objective);

    /// <summary>
    /// True when <paramref name="mapping"/> (valid on the largest shape) runs validly on every shape of the trace (after
    /// <see cref="ShapeFit.Clamp"/>). Clamping only lowers factors and tiles and removes empty iterations, so the one rule a
    /// clamped mapping can break is <c>SpatialRemainder</c>: a mapping with no spatial split of a rank that varies is
    /// accepted without checking each shape (every shape's cost is still checked by the reference model, which refuses
    /// an invalid mapping).
    /// </summary>
    public bool RunsOnEveryShape(Mapping mapping)
    {
        if (!mapping.Levels.Any(l => l.Spatial.Any(x => x.Factor > 1 && _dynamic.Contains(x.Rank)))) return true;
        for (int s = 0; s < _layers.Length; s++)
            if (ValidityChecker.Check(_layers[s], _arch, ShapeFit.Clamp(mapping, _layers[s]), Factorization.Imperfect).Count > 0) return false;
        return true;
    }

    /// <summary>Every candidate mapping in enumeration order (tests' brute force; small cases).</summary>
    public IEnumerable<Mapping> Candidates()
    {
        var en = new ImperfectEnumeration(new MapProblem(_largest, _arch, _objective));
        var (options, failed) = en.Options(() => false);
        if (options is null) throw new ArgumentException($"The imperfect mapspace is too large to list (rank {failed!.Id}).");
        return en.Walk(options, RunsOnEveryShape, () => false, new ImperfectEnumeration.WalkState());
    }

    /// <summary>A bound every mapping meets on each shape (<see cref="TilingSearch.AnyMappingFloor"/>), trace order.</summary>
    private double[] Floors() => _layers.Select(l => TilingSearch.AnyMappingFloor(new MapProblem(l, _arch, _objective))).ToArray();

    private double[] Weights => _trace.Shapes.Select(s => s.Weight).ToArray();

    internal const string NoneRuns = "no mapping of the largest shape's imperfect mapspace runs validly on every shape of the trace " +
        "(a spatial split of a rank that varies must divide every size of it; docs/shapes.md)";

    /// <summary>
    /// The one mapping minimising <paramref name="statistic"/>: on energy by the branch and bound
    /// (<see cref="ShapeBranchAndBound"/>), on latency and EDP by the enumeration (<see cref="Enumerate"/>).
    /// </summary>
    /// <param name="seed">False starts the branch and bound from no incumbent (the regression tests: a seed that is already
    /// optimal would hide a search that wrongly prunes every optimum).</param>
    /// <param name="own">Each shape's own optimum (<see cref="OwnOptima"/>), or null: their bounds start the branch and
    /// bound's per-shape bounds (far above the floors), and their statistic bounds every answer (<see cref="OwnOptimaBound"/>).</param>
    public ShapeAnswer Solve(ShapeStatistic statistic, SearchLimits limits, bool seed = true, IReadOnlyList<SolveResult>? own = null)
    {
        var lower = own?.Select(o => double.IsFinite(o.Bound) ? o.Bound : 0).ToArray();
        var answer = _objective == Objective.Energy ? new ShapeBranchAndBound(this, statistic, seed, lower).Solve(limits) : Enumerate(statistic, limits);
        return own is null ? answer : answer.Tightened(OwnOptimaBound(statistic, own));
    }

    /// <summary>
    /// The one mapping minimising <paramref name="statistic"/>, by enumerating every candidate (the brute-force reference
    /// of <see cref="Solve"/>, and its search for latency and EDP). Shapes are costed heaviest first (weight times
    /// MACs); with <paramref name="prune"/>, a candidate is dropped as soon as the statistic with the shapes not yet
    /// costed at 0 reaches the incumbent: every cost is non-negative and every statistic is non-decreasing in each
    /// cost, so that is a lower bound on the candidate's value, and the candidate could not be strictly better.
    /// </summary>
    public ShapeAnswer Enumerate(ShapeStatistic statistic, SearchLimits limits, bool prune = true)
    {
        var sw = Stopwatch.StartNew();
        bool Stop() => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);
        int n = _layers.Length;
        var order = Enumerable.Range(0, n).OrderByDescending(s => _trace.Shapes[s].Weight * (double)_layers[s].Macs).ThenBy(s => s).ToArray();
        var w = order.Select(s => _trace.Shapes[s].Weight).ToArray();
        double totalWeight = TotalWeight(w);
        double floor = ShapeStatistics.Of(statistic, Floors(), Weights);
        var en = new ImperfectEnumeration(new MapProblem(_largest, _arch, _objective));
        var (options, failed) = en.Options(Stop);
        if (options is null)
            return new ShapeAnswer(SolveStatus.Unknown, null, null, null, floor, sw.Elapsed, 0, 0, 0,
                $"the imperfect mapspace of the largest shape is too large to enumerate: listing rank {failed!.Id}'s factor vectors " + (Stop() ? "ran out of time" : $"passed {ImperfectEnumeration.MaxOptions:N0}"));
        long candidates = 0, evaluations = 0, pruned = 0;
        Mapping? best = null;
        double[]? bestCosts = null;
        double bestValue = double.PositiveInfinity;
        var costs = new double[n];
        var partial = new double[n];
        var walk = new ImperfectEnumeration.WalkState();
        limits.Progress?.Attach(() => new SearchSnapshot("shape enumeration", candidates, best is null ? null : bestValue, floor));
        foreach (var m in en.Walk(options, RunsOnEveryShape, Stop, walk))
        {
            if (++candidates % 64 == 0 && Stop()) { walk.Stopped = true; break; }
            bool cut = false;
            double sum = 0, max = 0;
            for (int i = 0; i < n; i++)
            {
                costs[i] = CostOn(m, order[i]);
                evaluations++;
                if (costs[i] < 0 || !double.IsFinite(costs[i]))
                    throw new InvalidOperationException($"The reference model gave a cost of {costs[i]} on a shape; the pruning of docs/shapes.md needs non-negative costs.");
                if (!prune || i == n - 1) continue;
                double lower;
                switch (statistic)
                {
                    case ShapeStatistic.Mean: sum += w[i] * costs[i]; lower = sum / totalWeight; break;
                    case ShapeStatistic.Max: max = Math.Max(max, costs[i]); lower = max; break;
                    default:
                        Array.Copy(costs, partial, i + 1);
                        Array.Clear(partial, i + 1, n - i - 1);
                        lower = ShapeStatistics.Of(statistic, partial, w);
                        break;
                }
                if (lower >= bestValue) { cut = true; pruned++; break; }
            }
            if (cut) continue;
            double value = ShapeStatistics.Of(statistic, costs, w);
            if (value < bestValue)
            {
                bestValue = value;
                best = m;
                bestCosts = new double[n];
                for (int i = 0; i < n; i++) bestCosts[order[i]] = costs[i];
            }
        }
        bool stopped = walk.Stopped;
        if (best is null)
            return new ShapeAnswer(stopped ? SolveStatus.Unknown : SolveStatus.Infeasible, null, null, null, floor, sw.Elapsed, candidates, evaluations, pruned,
                stopped ? "the enumeration stopped before it found a mapping that runs on every shape" : NoneRuns);
        return new ShapeAnswer(stopped ? SolveStatus.Feasible : SolveStatus.Optimal, best, bestCosts, bestValue, stopped ? floor : bestValue,
            sw.Elapsed, candidates, evaluations, pruned, stopped ? "the search stopped before it could prove optimality" : null);
    }

    private static double TotalWeight(double[] w)
    {
        double t = 0;
        foreach (var x in w) t += x;
        return t;
    }

    /// <summary>
    /// The order buckets are ranges of: with one rank that varies, its sizes ascending; with several, the shapes by
    /// MACs ascending, then by their sizes in rank order (docs/shapes.md says what that leaves out).
    /// </summary>
    public IReadOnlyList<int> BucketOrder()
        => Enumerable.Range(0, _layers.Length).OrderBy(s => _layers[s].Macs)
            .ThenBy(s => string.Join(",", _trace.Shapes[s].Sizes.Select(x => x.ToString("D10")))).ToArray();

    /// <summary>
    /// The best at most <paramref name="k"/> mappings, each serving a contiguous range of <see cref="BucketOrder"/>,
    /// minimising the statistic over the whole trace when every shape runs its bucket's mapping (mean or max, the
    /// statistics that decompose over buckets). Every candidate is costed on every shape; for every range the best
    /// single candidate is kept (its weighted sum, or its max), then a dynamic programme over the switching points
    /// picks the ranges. Exact over the candidates: the value of a partition is the combination of its ranges' values,
    /// each range is best served by its best single candidate, and the programme tries every partition into at most
    /// k ranges.
    /// </summary>
    public BucketAnswer SolveBuckets(int k, ShapeStatistic statistic, SearchLimits limits)
    {
        CheckBuckets(k, statistic);
        var sw = Stopwatch.StartNew();
        bool Stop() => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);
        double floor = ShapeStatistics.Of(statistic, Floors(), Weights);
        var en = new ImperfectEnumeration(new MapProblem(_largest, _arch, _objective));
        var (options, failed) = en.Options(Stop);
        if (options is null)
            return new BucketAnswer(SolveStatus.Unknown, null, BucketOrder(), null, floor, sw.Elapsed, 0, 0,
                $"the imperfect mapspace of the largest shape is too large to enumerate: listing rank {failed!.Id}'s factor vectors " + (Stop() ? "ran out of time" : $"passed {ImperfectEnumeration.MaxOptions:N0}"));
        var walk = new ImperfectEnumeration.WalkState();
        return BucketsOver(k, statistic, en.Walk(options, RunsOnEveryShape, Stop, walk), Stop, limits, sw, floor, () => walk.Stopped, s => walk.Stopped = s);
    }

    private static void CheckBuckets(int k, ShapeStatistic statistic)
    {
        if (statistic is not (ShapeStatistic.Mean or ShapeStatistic.Max))
            throw new ArgumentException($"--buckets minimises the mean or the max (they add up, or take the largest, over buckets); {ShapeStatistics.Name(statistic)} does not decompose over buckets.");
        if (k < 1) throw new ArgumentException("--buckets needs at least 1 bucket.");
    }

    /// <summary>
    /// The best at most <paramref name="k"/> mappings for energy over a pool of candidates, each valid on every shape: the
    /// one-mapping answer <paramref name="one"/> (<see cref="Solve"/>) and each shape's own optimum (<paramref name="own"/>)
    /// sized for the largest shape (<see cref="Lift"/>), by the same ranges and dynamic programme as
    /// <see cref="SolveBuckets"/>. The pool is not the mapspace: the answer is OPTIMAL only when its statistic reaches the
    /// statistic of the shapes' own optima (<see cref="OwnOptimaBound"/>, a bound on any assignment of mappings to shapes),
    /// else FEASIBLE with that bound.
    /// </summary>
    public BucketAnswer SolveBucketsOverPool(int k, ShapeStatistic statistic, ShapeAnswer one, IReadOnlyList<SolveResult> own)
    {
        CheckBuckets(k, statistic);
        var sw = Stopwatch.StartNew();
        var pool = new List<Mapping>();
        if (one.Mapping is { } m) pool.Add(m);
        foreach (var o in own)
            if (o.Mapping is { } x && Lift(x) is { } lifted && !pool.Contains(lifted)) pool.Add(lifted);
        var bound = OwnOptimaBound(statistic, own);
        bool stopped = false;
        var r = BucketsOver(k, statistic, pool, () => false, SearchLimits.None, sw, bound ?? 0, () => stopped, s => stopped = s);
        if (r.Status != SolveStatus.Optimal) return r;
        var fromPool = r with { Status = SolveStatus.Feasible, Bound = ShapeStatistics.Of(statistic, Floors(), Weights), Explanation = "the buckets are chosen from a pool of mappings (the one-mapping answer and each shape's own optimum), not from the whole mapspace" };
        return fromPool.Tightened(bound);
    }

    /// <summary>
    /// A mapping of one shape (its own optimum) sized for the largest: every rank that varies gets the outermost level's loop
    /// that covers the largest size (<c>ceil(B / inner)</c>, in its place, or outermost when the shape had none); null when that is not valid on the largest shape or on
    /// every shape. On its own shape it runs as it was: that loop clamps back to its factor there.
    /// </summary>
    public Mapping? Lift(Mapping mapping)
    {
        var top = mapping.Levels[0];
        var temporal = top.Temporal.ToList();
        foreach (var rank in _largest.Ranks)
        {
            if (!_dynamic.Contains(rank.Id)) continue;
            long inner = 1;
            foreach (var loop in mapping.Nest()) if (loop.Rank == rank.Id && (loop.Level > 0 || loop.Axis is not null)) inner = checked(inner * loop.Factor);
            int f = (int)((rank.Bound + inner - 1) / inner);
            int at = temporal.FindIndex(t => t.Rank == rank.Id);
            if (at >= 0) temporal[at] = new TemporalLoop(rank.Id, f);
            else if (f > 1) temporal.Insert(0, new TemporalLoop(rank.Id, f));
        }
        var lifted = new Mapping([new LevelMapping(temporal, top.Spatial, top.Keep), .. mapping.Levels.Skip(1)]);
        if (ValidityChecker.Check(_largest, _arch, lifted, Factorization.Imperfect).Count > 0 || !RunsOnEveryShape(lifted)) return null;
        return lifted;
    }

    private BucketAnswer BucketsOver(int k, ShapeStatistic statistic, IEnumerable<Mapping> candidateList, Func<bool> stop, SearchLimits limits, Stopwatch sw, double floor,
        Func<bool> wasStopped, Action<bool> setStopped)
    {
        var order = BucketOrder();
        int n = order.Count;
        var w = order.Select(s => _trace.Shapes[s].Weight).ToArray();
        double total = TotalWeight(w);
        bool mean = statistic == ShapeStatistic.Mean;
        // range[i, j]: the best value of one candidate over positions i..j (weighted sum, or max), and which candidate.
        var range = new double[n, n];
        var arg = new Mapping?[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) range[i, j] = double.PositiveInfinity;
        long candidates = 0, evaluations = 0;
        var costs = new double[n];
        limits.Progress?.Attach(() => new SearchSnapshot("bucket enumeration", candidates, null, floor));
        foreach (var m in candidateList)
        {
            if (++candidates % 64 == 0 && stop()) { setStopped(true); break; }
            for (int i = 0; i < n; i++) { costs[i] = CostOn(m, order[i]); evaluations++; }
            for (int i = 0; i < n; i++)
            {
                double acc = mean ? 0 : double.NegativeInfinity;
                for (int j = i; j < n; j++)
                {
                    acc = mean ? acc + w[j] * costs[j] : Math.Max(acc, costs[j]);
                    if (acc < range[i, j]) { range[i, j] = acc; arg[i, j] = m; }
                }
            }
        }
        bool stopped = wasStopped();
        if (arg[0, n - 1] is null)
            return new BucketAnswer(stopped ? SolveStatus.Unknown : SolveStatus.Infeasible, null, order, null, floor, sw.Elapsed, candidates, evaluations,
                stopped ? "the enumeration stopped before it found a mapping that runs on every shape" : NoneRuns);
        // f[b, j]: the best value covering positions 0..j-1 with b ranges; cut[b, j] where the last range starts.
        int kk = Math.Min(k, n);
        var f = new double[kk + 1, n + 1];
        var cut = new int[kk + 1, n + 1];
        for (int b = 0; b <= kk; b++) for (int j = 0; j <= n; j++) f[b, j] = double.PositiveInfinity;
        f[0, 0] = mean ? 0 : double.NegativeInfinity;
        for (int b = 1; b <= kk; b++)
            for (int j = 1; j <= n; j++)
                for (int i = b - 1; i < j; i++)
                {
                    if (double.IsPositiveInfinity(f[b - 1, i])) continue;
                    double v = mean ? f[b - 1, i] + range[i, j - 1] : Math.Max(f[b - 1, i], range[i, j - 1]);
                    if (v < f[b, j]) { f[b, j] = v; cut[b, j] = i; }
                }
        int use = 1;
        // More buckets only when strictly better beyond the rounding of the ranges' sums.
        for (int b = 2; b <= kk; b++) if (f[b, n] < f[use, n] - 1e-12 * Math.Abs(f[use, n])) use = b;
        var buckets = new List<ShapeBucket>();
        for (int b = use, j = n; b >= 1; b--)
        {
            int i = cut[b, j];
            var m = arg[i, j - 1]!;
            buckets.Insert(0, new ShapeBucket(i, j - 1, m, Enumerable.Range(i, j - i).Select(p => CostOn(m, order[p])).ToList()));
            j = i;
        }
        double value = mean ? f[use, n] / total : f[use, n];
        return new BucketAnswer(stopped ? SolveStatus.Feasible : SolveStatus.Optimal, buckets, order, value, stopped ? floor : value,
            sw.Elapsed, candidates, evaluations, stopped ? "the search stopped before it could prove optimality" : null);
    }

    /// <summary>
    /// Each shape's own optimum (trace order), over its own imperfect mapspace, sharing <paramref name="limits"/>' time
    /// limit equally; what regret is measured against. Energy by the branch and bound (<see cref="ImperfectSearch"/>,
    /// <c>map --imperfect</c>'s), latency and EDP by the enumeration (<see cref="ImperfectEnumeration"/>).
    /// </summary>
    public IReadOnlyList<SolveResult> OwnOptima(SearchLimits limits)
    {
        var results = new List<SolveResult>();
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < _layers.Length; s++)
        {
            TimeSpan? left = limits.TimeLimit is { } t ? (t - sw.Elapsed) / (_layers.Length - s) : null;
            if (left is { } l && l < TimeSpan.Zero) left = TimeSpan.Zero;
            var problem = new MapProblem(_layers[s], _arch, _objective);
            var shapeLimits = limits with { TimeLimit = left, Progress = null };
            results.Add(_objective == Objective.Energy ? new ImperfectSearch(problem).Solve(shapeLimits) : new ImperfectEnumeration(problem).Solve(shapeLimits));
        }
        return results;
    }

    /// <summary>
    /// A lower bound on the statistic of every mapping (one, or one per bucket): the statistic of the shapes' own-optimum
    /// bounds (<paramref name="own"/>, trace order). One mapping's cost on a shape is at least that shape's own optimum
    /// (the clamped mapping is in the shape's own mapspace), so at least its bound, and every statistic offered is
    /// non-decreasing in each shape's cost. Null when a shape has no finite bound.
    /// </summary>
    public double? OwnOptimaBound(ShapeStatistic statistic, IReadOnlyList<SolveResult> own)
        => own.All(o => double.IsFinite(o.Bound)) ? ShapeStatistics.Of(statistic, own.Select(o => o.Bound).ToArray(), Weights) : null;
}
