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
    /// <summary>Tensors this level must keep.</summary>
    public IReadOnlySet<TensorId> Keep { get; init; } = new HashSet<TensorId>();
    /// <summary>Tensors this level must let pass.</summary>
    public IReadOnlySet<TensorId> Bypass { get; init; } = new HashSet<TensorId>();
}

/// <summary>Constraints on a mapping, by level index (levels not present are free).</summary>
public sealed record MappingConstraints(IReadOnlyDictionary<int, LevelConstraint> Levels)
{
    /// <summary>No constraint.</summary>
    public static MappingConstraints None { get; } = new(new Dictionary<int, LevelConstraint>());

    /// <summary>The constraint of a level, or an empty one.</summary>
    public LevelConstraint For(int level) => Levels.TryGetValue(level, out var c) ? c : Empty;

    private static readonly LevelConstraint Empty = new();
}
