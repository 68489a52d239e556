using Optimizer.Formulation;
using Optimizer.Hardware;

namespace Optimizer.Solvers;

/// <summary>
/// How <c>codesign --shard i/N</c> partitions a design space (docs/codesign.md, "Shards"): shard i (0-based) holds the
/// contiguous range of point numbers [floor(i x P / N), floor((i + 1) x P / N)) of a space of P points. The N ranges are
/// disjoint and cover 0 to P - 1, so N shards evaluate every point exactly once; their sizes differ by at most one.
/// Contiguous ranges, not point numbers modulo N: points are numbered in mixed radix with the last parameter varying
/// fastest, so a range fixes the leading parameters over most of its points and its relaxations stay tight.
/// </summary>
public static class ShardPlan
{
    /// <summary>The points of shard <paramref name="index"/> of <paramref name="count"/> over <paramref name="points"/> points: first and one past the last.</summary>
    public static (int First, int End) Range(int index, int count, int points)
    {
        if (count < 1 || count > points) throw new ArgumentException($"The space has {points} point(s): split it into 1 to {points} shards, not {count}.", nameof(count));
        if (index < 0 || index >= count) throw new ArgumentException($"A shard of {count} is numbered 0 to {count - 1}, got {index}.", nameof(index));
        return ((int)((long)index * points / count), (int)((long)(index + 1) * points / count));
    }
}

/// <summary>One layer shape's search on a point: its status, the value found (null when none) and the proved lower bound.</summary>
public sealed record ShapeOutcome(SolveStatus Status, double? Best, double Bound);

/// <summary>
/// A point's figures as a shard file keeps them: every metric known (exact when <see cref="Proved"/>) and, per mapping
/// objective, each shape's outcome (its exact value, or its proved lower bound and status).
/// </summary>
public sealed record PointRecord(int Point, string Description, bool Proved, IReadOnlyDictionary<DesignMetric, double> Values,
    IReadOnlyDictionary<Objective, IReadOnlyList<ShapeOutcome>> Shapes)
{
    /// <summary>The record of a point's figures.</summary>
    public static PointRecord From(PointFigures f)
        => new(f.Point, f.Description, f.Proved, new SortedDictionary<DesignMetric, double>(f.Values.ToDictionary()),
            new SortedDictionary<Objective, IReadOnlyList<ShapeOutcome>>(f.Sums.ToDictionary(kv => kv.Key,
                kv => (IReadOnlyList<ShapeOutcome>)kv.Value.Results.Select(r => new ShapeOutcome(r.Status, r.Best, r.Bound)).ToList())));
}

/// <summary>The exact layer searches a run made and its time.</summary>
public sealed record ShardCounts(long Searches, long BoundSearches, long PointSearches, long CacheHits, long Refinements, long FullSweep, double Seconds)
{
    /// <summary>The counts of an evaluator, with the full sweep of the points it was asked about.</summary>
    public static ShardCounts Of(LayerEvaluator e, long fullSweep, TimeSpan elapsed)
        => new(e.Searches, e.BoundSearches, e.PointSearches, e.CacheHits, e.Refinements, fullSweep, elapsed.TotalSeconds);
}

/// <summary>
/// What makes shards mergeable: hashes of the space's canonical text (<see cref="DesignSpace.Canonical"/>), of the
/// workload's distinct shapes and of the question (objective or Pareto pair, and budgets), and the combined
/// <see cref="Value"/>. Shards merge only when their values are equal.
/// </summary>
public sealed record ShardIdentity(string Value, string Space, string Workload, string Question);

/// <summary>
/// The result of one shard (docs/codesign.md, "Shards"): which run and which points it covers, its answer over its
/// points (a minimization's best point, status, bound, gap and points left open; or a Pareto front), every point it
/// mapped with its figures, and its counts. Everything <see cref="ShardMerge"/> needs.
/// </summary>
public sealed record ShardResult(
    ShardIdentity Identity,
    string SpaceName,
    int SpacePoints,
    string WorkloadName,
    IReadOnlyList<(string Name, int Count)> Shapes,
    DesignMetric Objective,
    DesignMetric? Second,
    IReadOnlyList<string> Budgets,
    long SpaceFullSweep,
    int Index,
    int Count,
    int First,
    int End,
    CodesignStatus Status,
    PointRecord? Best,
    double Bound,
    bool BoundStrict,
    string? Explanation,
    double Over,
    int StaticFeasible,
    int PointsOpen,
    int PointsEvaluated,
    IReadOnlyList<PointRecord> Front,
    IReadOnlyList<PointRecord> Points,
    ShardCounts Counts)
{
    /// <summary>The files <c>--mapping-out</c> writes for the shard's best point (architecture.yaml, then LAYER.yaml each), as names and texts; empty for a front.</summary>
    public IReadOnlyList<(string File, string Text)> BestFiles { get; init; } = [];

    /// <summary>True for a shard of a Pareto front (<see cref="Second"/> given).</summary>
    public bool IsPareto => Second is not null;

    /// <summary>True when some point of the shard could be at most <paramref name="value"/> (beat or tie it) for all the shard proved.</summary>
    public bool Holds(double value) => Status is CodesignStatus.Feasible or CodesignStatus.Unknown && (BoundStrict ? LowerBound < value : LowerBound <= value);

    /// <summary>The shard as "i/N".</summary>
    public string Name => $"{Index}/{Count}";

    /// <summary>The shard's least proved lower bound on the objective over its points: its optimum when proved, infinity when no point meets the budgets.</summary>
    public double LowerBound => Status switch
    {
        CodesignStatus.Optimal => Best!.Values[Objective],
        CodesignStatus.Infeasible => double.PositiveInfinity,
        _ => Bound,
    };
}

/// <summary>The merged answer of a minimization's shards; the same fields a single run prints.</summary>
public sealed record MergedResult(CodesignStatus Status, DesignMetric Objective, PointRecord? Best, int? BestShard, double Bound, string? Explanation, int PointsOpen, int PointsEvaluated)
{
    /// <summary>The best value found, if any.</summary>
    public double? BestValue => Best?.Values.TryGetValue(Objective, out var v) == true ? v : null;

    /// <summary>The relative gap in percent between the best value and the bound; 0 when optimal.</summary>
    public double? GapPercent => BestValue is { } b ? (Status == CodesignStatus.Optimal || b <= 0 ? 0 : Math.Max(0, (b - Bound) / b * 100)) : null;
}

/// <summary>The merged Pareto front of a front's shards.</summary>
public sealed record MergedFront(CodesignStatus Status, DesignMetric First, DesignMetric Second, IReadOnlyList<PointRecord> Front, string? Explanation);

/// <summary>
/// Combines the results of the N shards of one run into the answer of a single run (docs/codesign.md, "Shards", where
/// the argument is written out). The shards must be complete and of one run (the caller checks it, with the files'
/// locations; here it is an invariant).
/// </summary>
public static class ShardMerge
{
    /// <summary>Throws unless the shards are 0 to N-1 of N, once each, of one identity and one space, in order.</summary>
    public static void Require(IReadOnlyList<ShardResult> shards)
    {
        if (shards.Count == 0) throw new ArgumentException("No shard to merge.", nameof(shards));
        var id = shards[0].Identity.Value;
        for (int i = 0; i < shards.Count; i++)
        {
            var s = shards[i];
            if (s.Identity.Value != id || s.Count != shards.Count || s.Index != i)
                throw new ArgumentException($"Shard {s.Name} at position {i}: the shards must be 0 to {shards.Count - 1} of {shards.Count} of one run, in order.", nameof(shards));
            var (first, end) = ShardPlan.Range(i, s.Count, s.SpacePoints);
            if (s.First != first || s.End != end)
                throw new ArgumentException($"Shard {s.Name} covers points {s.First} to {s.End - 1}; the partition gives {first} to {end - 1}.", nameof(shards));
        }
    }

    /// <summary>
    /// The explanation of a run where no shard has a point meeting the budgets, as the single run gives it: when some
    /// point meets the static budgets (area, sram), the single run names a mapped budget, so only shards with such points
    /// are considered; among them, the one whose closest point is closest (least value over the limit; the lowest shard
    /// of equals).
    /// </summary>
    private static string? Closest(IReadOnlyList<ShardResult> shards)
    {
        var pool = shards.Any(s => s.StaticFeasible > 0) ? shards.Where(s => s.StaticFeasible > 0) : shards;
        return pool.MinBy(s => s.Over)!.Explanation;
    }

    /// <summary>
    /// The order a single run breaks ties in: least objective, then least area (for a static objective, none), then the
    /// lower point number.
    /// </summary>
    private static (double, double, int) Order(PointRecord p, DesignMetric objective)
        => (p.Values[objective], DesignMetrics.IsStatic(objective) ? 0 : p.Values[DesignMetric.Area], p.Point);

    /// <summary>
    /// The best point of all shards: the least by the single run's order among the shards' best points. OPTIMAL when its
    /// shard proved it and every other shard either proved its own optimum, proved that none of its points meets the
    /// budgets, or stopped with a lower bound strictly above the best value (so no point of it can beat or tie it), or
    /// with a strict bound (a cutoff, <c>--bounds-from</c>) at or above it.
    /// Otherwise FEASIBLE with the least bound of what is still open, or UNKNOWN without any point; INFEASIBLE when every
    /// shard is, naming the budget of the shard whose closest point is closest.
    /// </summary>
    public static MergedResult Minimize(IReadOnlyList<ShardResult> shards)
    {
        Require(shards);
        var objective = shards[0].Objective;
        int evaluated = shards.Sum(s => s.PointsEvaluated);
        if (shards.All(s => s.Status == CodesignStatus.Infeasible))
        {
            return new MergedResult(CodesignStatus.Infeasible, objective, null, null, double.PositiveInfinity, Closest(shards), 0, evaluated);
        }
        ShardResult? from = null;
        foreach (var s in shards)
            if (s.Best is { } b && s.Best.Values.ContainsKey(objective) && (from is null || Order(b, objective).CompareTo(Order(from.Best!, objective)) < 0)) from = s;
        double? value = from?.Best!.Values[objective];
        // Shards that still hold points that could beat or tie the best (all unproved shards when there is no best).
        var open = shards.Where(s => s.Status is CodesignStatus.Feasible or CodesignStatus.Unknown && (value is not { } v || s.Holds(v))).ToList();
        if (from is not null && from.Status == CodesignStatus.Optimal && open.Count == 0)
            return new MergedResult(CodesignStatus.Optimal, objective, from.Best, from.Index, value!.Value, null, 0, evaluated);
        double bound = open.Count > 0 ? open.Min(s => s.LowerBound) : double.PositiveInfinity;
        if (value is { } best) bound = Math.Min(bound, best);
        // The best's own shard, when it stopped, holds points that may beat it: it is among the open ones already.
        string why = string.Join("; ", open.Select(s => $"shard {s.Name}: {s.Status.ToString().ToUpperInvariant()}, bound {Codesign.Num(s.LowerBound)}, {s.PointsOpen} point(s) open ({s.Explanation})"));
        return new MergedResult(from is null ? CodesignStatus.Unknown : CodesignStatus.Feasible, objective, from?.Best, from?.Index, bound, why, open.Sum(s => s.PointsOpen), evaluated);
    }

    /// <summary>
    /// The Pareto front of all shards: the union of the shards' fronts sorted by (first, second, point number), each
    /// point kept when its second metric is below every kept one's, as a single run's front is defined. OPTIMAL when
    /// every shard proved its front (or that none of its points meets the budgets); INFEASIBLE when every shard is.
    /// </summary>
    public static MergedFront Pareto(IReadOnlyList<ShardResult> shards)
    {
        Require(shards);
        var (first, second) = (shards[0].Objective, shards[0].Second!.Value);
        if (shards.All(s => s.Status == CodesignStatus.Infeasible))
            return new MergedFront(CodesignStatus.Infeasible, first, second, [], Closest(shards));
        var front = new List<PointRecord>();
        foreach (var p in shards.SelectMany(s => s.Front).OrderBy(p => p.Values[first]).ThenBy(p => p.Values[second]).ThenBy(p => p.Point))
            if (front.Count == 0 || p.Values[second] < front[^1].Values[second]) front.Add(p);
        var open = shards.Where(s => s.Status is not (CodesignStatus.Optimal or CodesignStatus.Infeasible)).ToList();
        if (open.Count == 0) return new MergedFront(CodesignStatus.Optimal, first, second, front, null);
        string why = "the front is not proved: " + string.Join("; ", open.Select(s => $"shard {s.Name}: {s.Status.ToString().ToUpperInvariant()} ({s.Explanation})"));
        return new MergedFront(front.Count == 0 ? CodesignStatus.Unknown : CodesignStatus.Feasible, first, second, front, why);
    }
}
