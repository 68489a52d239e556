using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// What a user pins about one level (as dataflow constraints do in other mappers). Absent parts are
/// free. A search honours every part, and its proof is over the constrained mapspace.
/// </summary>
public sealed record LevelConstraint
{
    /// <summary>Exact temporal factors of some ranks at this level.</summary>
    public IReadOnlyDictionary<RankId, int> Temporal { get; init; } = new Dictionary<RankId, int>();
    /// <summary>Exact spatial factors of some ranks along an axis at this level.</summary>
    public IReadOnlyDictionary<(RankId Rank, Axis Axis), int> Spatial { get; init; } = new Dictionary<(RankId, Axis), int>();
    /// <summary>The only ranks that may be split along X here; null means any.</summary>
    public IReadOnlySet<RankId>? SpatialX { get; init; }
    /// <summary>The only ranks that may be split along Y here; null means any.</summary>
    public IReadOnlySet<RankId>? SpatialY { get; init; }
    /// <summary>The order of the temporal loops, outermost first; a rank not listed must have factor 1 here. Null means any order.</summary>
    public IReadOnlyList<RankId>? Order { get; init; }
    /// <summary>
    /// Ranks whose temporal loops must be this level's outermost ones, in this order (the loops a fused
    /// group shares, docs/fusion.md); each must have a factor above 1 here, and the other loops follow in
    /// any order. Empty means no prefix.
    /// </summary>
    public IReadOnlyList<RankId> OuterPrefix { get; init; } = [];
    /// <summary>Tensors this level must keep.</summary>
    public IReadOnlySet<TensorId> Keep { get; init; } = new HashSet<TensorId>();
    /// <summary>Tensors this level must let pass.</summary>
    public IReadOnlySet<TensorId> Bypass { get; init; } = new HashSet<TensorId>();

    /// <summary>
    /// The order this constraint gives the loops of the ranks in <paramref name="active"/> (those with a
    /// factor above 1 here, in rank order): the pinned order, or the outer prefix followed by the other
    /// ranks in their given order, or the given order; null when no order allowed here has exactly these
    /// loops (a rank outside the pinned order, or a prefix rank missing). Every search's canonical order
    /// and <see cref="ConstraintCheck"/> come from here.
    /// </summary>
    public IReadOnlyList<T>? Arrange<T>(IReadOnlyList<T> active, Func<T, RankId> rank)
    {
        IReadOnlyList<T> order = active;
        if (Order is { } pinned)
        {
            var ids = pinned.ToList();
            if (active.Any(a => !ids.Contains(rank(a)))) return null;
            order = active.OrderBy(a => ids.IndexOf(rank(a))).ToList();
        }
        if (OuterPrefix.Count == 0) return order;
        var head = new List<T>();
        foreach (var r in OuterPrefix)
        {
            int k = -1;
            for (int i = 0; i < order.Count; i++) if (rank(order[i]).Equals(r)) k = i;
            if (k < 0) return null;
            head.Add(order[k]);
        }
        var result = head.Concat(order.Where(a => !OuterPrefix.Contains(rank(a)))).ToList();
        return Order is not null && !result.SequenceEqual(order) ? null : result;
    }

    /// <summary>True when an order of this level's loops (outermost first, factor-1 loops left out) starts with the outer prefix.</summary>
    public bool StartsWithPrefix<T>(IReadOnlyList<T> order, Func<T, RankId> rank)
    {
        if (order.Count < OuterPrefix.Count) return false;
        for (int i = 0; i < OuterPrefix.Count; i++) if (!rank(order[i]).Equals(OuterPrefix[i])) return false;
        return true;
    }
}

/// <summary>
/// Constraints on a mapping, by level index (levels not present are free), and the global kinds
/// (<see cref="GlobalConstraint"/>) that a complete mapping and its cost report must satisfy.
/// </summary>
public sealed record MappingConstraints(IReadOnlyDictionary<int, LevelConstraint> Levels)
{
    /// <summary>No constraint.</summary>
    public static MappingConstraints None { get; } = new(new Dictionary<int, LevelConstraint>());

    /// <summary>Constraints on the complete mapping and its cost report (docs/spec-format.md, "Constraints"); empty: none.</summary>
    public IReadOnlyList<GlobalConstraint> Global { get; init; } = [];

    /// <summary>True when a global constraint depends on loop orders (bandwidth cycles, counts), not on factors and keep sets alone.</summary>
    public bool OrderDependent => Global.Any(g => g is BandwidthWithinCompute or MaxCount);

    /// <summary>
    /// True when a global constraint depends on which axis a rank is split along (min-fanout-used along X or Y), which
    /// costs never do: the exact search then keeps plans that differ only in their axes apart.
    /// </summary>
    public bool AxisDependent => Global.Any(g => g is MinFanoutUsed { Part: not FanoutPart.Total });

    /// <summary>The same constraints without the global kinds.</summary>
    public MappingConstraints LevelsOnly => Global.Count == 0 ? this : this with { Global = [] };

    /// <summary>
    /// Throws <see cref="NotSupportedException"/> when some level pins an outer prefix, for a solver whose
    /// encoding does not express one (<paramref name="solver"/> names it).
    /// </summary>
    public void RefuseOuterPrefix(string solver)
    {
        if (Levels.Values.Any(c => c.OuterPrefix.Count > 0))
            throw new NotSupportedException($"The {solver} encoding cannot pin an outer prefix of a level's loops; the exact search (TilingSearch) can.");
    }

    /// <summary>The constraint of a level, or an empty one.</summary>
    public LevelConstraint For(int level) => Levels.TryGetValue(level, out var c) ? c : Empty;

    private static readonly LevelConstraint Empty = new();
}

/// <summary>Checks a complete mapping against constraints.</summary>
public static class ConstraintCheck
{
    /// <summary>
    /// True when a complete, valid mapping satisfies a global constraint; <paramref name="report"/> is its cost report
    /// (asked for only by the kinds that need counts or cycles: bandwidth and counts). The one definition of every
    /// global kind. The spatial kinds (utilization, fanout use) read the mapping's spatial loops only, so the exact
    /// search decides them on a spatial plan.
    /// </summary>
    public static bool Holds(GlobalConstraint g, Architecture arch, Mapping mapping, Func<CostReport> report) => g switch
    {
        TileMultiple t => mapping.TileExtent(t.Level, t.Rank) % t.Multiple == 0,
        MinUtilization u => mapping.Levels.Aggregate(1L, (a, l) => checked(a * l.SpatialProduct)) >= GlobalConstraint.AtLeast(u.Fraction, arch.ComputeInstances),
        MinFanoutUsed f => (f.Part switch
        {
            FanoutPart.X => mapping.SpatialAlong(f.Level, Axis.X),
            FanoutPart.Y => mapping.SpatialAlong(f.Level, Axis.Y),
            _ => mapping.Levels[f.Level].SpatialProduct,
        }) >= GlobalConstraint.AtLeast(f.Fraction, f.Children(arch)),
        BandwidthWithinCompute b => report().Levels[b.Level].BandwidthCycles <= report().ComputeCycles,
        MaxCount c => c.Of(report()) <= c.Limit,
        _ => throw new ArgumentOutOfRangeException(nameof(g), g, "Unknown kind of global constraint."),
    };

    /// <summary>The positions (in <see cref="MappingConstraints.Global"/>) of the global constraints a complete, valid mapping breaks.</summary>
    public static List<int> Broken(MappingConstraints constraints, Architecture arch, Mapping mapping, Func<CostReport> report)
    {
        CostReport? cached = null;
        CostReport Report() => cached ??= report();
        var broken = new List<int>();
        for (int i = 0; i < constraints.Global.Count; i++)
            if (!Holds(constraints.Global[i], arch, mapping, Report)) broken.Add(i);
        return broken;
    }

    /// <summary>True when a complete, valid mapping honours every constraint, level and global; the report is the mapping's under the cost model searched.</summary>
    public static bool AllowsAll(MappingConstraints constraints, Architecture arch, Mapping mapping, Func<CostReport> report)
        => Allows(constraints, mapping) && Broken(constraints, arch, mapping, report).Count == 0;

    /// <summary>True when the mapping honours every pinned factor, order, outer prefix, spatial rank set and keep/bypass choice.</summary>
    public static bool Allows(MappingConstraints constraints, Mapping mapping)
    {
        foreach (var (level, c) in constraints.Levels)
        {
            if (level >= mapping.Levels.Count) return false;
            var lm = mapping.Levels[level];
            foreach (var (rank, f) in c.Temporal) if (lm.TemporalFactor(rank) != f) return false;
            foreach (var ((rank, axis), f) in c.Spatial)
                if (lm.Spatial.Where(s => s.Rank == rank && s.Axis == axis).Aggregate(1L, (a, s) => checked(a * s.Factor)) != f) return false;
            if (c.SpatialX is { } xs && lm.Spatial.Any(s => s.Axis == Axis.X && s.Factor > 1 && !xs.Contains(s.Rank))) return false;
            if (c.SpatialY is { } ys && lm.Spatial.Any(s => s.Axis == Axis.Y && s.Factor > 1 && !ys.Contains(s.Rank))) return false;
            var active = lm.Temporal.Where(t => t.Factor > 1).Select(t => t.Rank).ToList();
            if (c.Order is { } order)
            {
                if (active.Any(r => !order.Contains(r))) return false;
                var expected = active.OrderBy(r => order.ToList().IndexOf(r)).ToList();
                if (!active.SequenceEqual(expected)) return false;
            }
            if (!c.StartsWithPrefix(active, r => r)) return false;
            if (c.Keep.Any(t => !lm.Keep.Contains(t)) || c.Bypass.Any(lm.Keep.Contains)) return false;
        }
        return true;
    }
}
