using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>The axis of a spatial fanout a spatial loop runs along.</summary>
public enum Axis { X, Y }

/// <summary>A temporal loop <c>for rank in 0..Factor-1</c> at one level.</summary>
public readonly record struct TemporalLoop
{
    /// <summary>The rank the loop walks.</summary>
    public RankId Rank { get; }
    /// <summary>The trip count; at least 1.</summary>
    public int Factor { get; }

    /// <summary>Creates a temporal loop.</summary>
    public TemporalLoop(RankId rank, int factor)
    {
        Rank = rank;
        Factor = (int)Check.AtLeast(factor, 1, nameof(factor), $"The factor of loop {rank}");
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Rank}={Factor}";
}

/// <summary>A spatial loop: the rank split <c>Factor</c> ways over the children along one axis.</summary>
public readonly record struct SpatialLoop
{
    /// <summary>The rank split across children.</summary>
    public RankId Rank { get; }
    /// <summary>How many children it spans; at least 1.</summary>
    public int Factor { get; }
    /// <summary>The fanout axis it runs along.</summary>
    public Axis Axis { get; }

    /// <summary>Creates a spatial loop.</summary>
    public SpatialLoop(RankId rank, int factor, Axis axis)
    {
        Rank = rank;
        Factor = (int)Check.AtLeast(factor, 1, nameof(factor), $"The factor of spatial loop {rank}");
        Axis = axis;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Rank}={Factor}@{Axis}";
}

/// <summary>What a mapping says about one storage level: its loops and the tensors it keeps.</summary>
public sealed class LevelMapping
{
    /// <summary>Temporal loops, outermost first.</summary>
    public IReadOnlyList<TemporalLoop> Temporal { get; }
    /// <summary>Spatial loops over the fanout below the level, outermost first.</summary>
    public IReadOnlyList<SpatialLoop> Spatial { get; }
    /// <summary>The tensors this level keeps; the others pass through it.</summary>
    public IReadOnlySet<TensorId> Keep { get; }

    /// <summary>Creates a level's mapping.</summary>
    public LevelMapping(IEnumerable<TemporalLoop> temporal, IEnumerable<SpatialLoop> spatial, IEnumerable<TensorId> keep)
    {
        Temporal = temporal.ToList();
        Spatial = spatial.ToList();
        Keep = new SortedSet<TensorId>(keep, Comparer<TensorId>.Create((a, b) => string.CompareOrdinal(a.Name, b.Name)));
    }

    /// <summary>Product of the temporal factors of a rank at this level.</summary>
    public long TemporalFactor(RankId rank)
    {
        // Plain loops: the cost model and the checker ask this for every level, rank and tensor.
        long p = 1;
        foreach (var l in Temporal) if (l.Rank == rank) p = checked(p * l.Factor);
        return p;
    }

    /// <summary>Product of the spatial factors of a rank at this level.</summary>
    public long SpatialFactor(RankId rank)
    {
        long p = 1;
        foreach (var l in Spatial) if (l.Rank == rank) p = checked(p * l.Factor);
        return p;
    }
    /// <summary>Product of all spatial factors: the children this level uses.</summary>
    public long SpatialProduct => Spatial.Aggregate(1L, (a, l) => checked(a * l.Factor));
}

/// <summary>
/// A mapping of one Einsum onto one architecture: for every storage level (outermost first) its
/// temporal loops, its spatial loops and its keep set. This one type is what every solver returns
/// and what the checker and the cost model read.
/// </summary>
public sealed class Mapping
{
    /// <summary>One entry per storage level, outermost first.</summary>
    public IReadOnlyList<LevelMapping> Levels { get; }

    /// <summary>Creates a mapping.</summary>
    public Mapping(IEnumerable<LevelMapping> levels)
    {
        Levels = levels.ToList();
        if (Levels.Count == 0) throw new ArgumentException("A mapping needs at least one level.", nameof(levels));
    }

    /// <summary>
    /// The extent of a rank in the tile of a level: the product of its factors in every loop at that level and
    /// below, temporal and spatial (the level's own spatial loops included; docs/mapspace.md).
    /// </summary>
    public long TileExtent(int level, RankId rank)
    {
        long p = 1;
        for (int l = level; l < Levels.Count; l++) p = checked(p * Levels[l].TemporalFactor(rank) * Levels[l].SpatialFactor(rank));
        return p;
    }

    /// <summary>The product of a level's spatial factors along one axis: the children it uses along that axis.</summary>
    public long SpatialAlong(int level, Axis axis) => Levels[level].Spatial.Where(s => s.Axis == axis).Aggregate(1L, (a, s) => checked(a * s.Factor));

    /// <summary>The loop nest flattened outermost first: each level's temporal loops, then its spatial loops.</summary>
    public IEnumerable<NestLoop> Nest()
    {
        for (int l = 0; l < Levels.Count; l++)
        {
            foreach (var t in Levels[l].Temporal) yield return new NestLoop(l, t.Rank, t.Factor, null);
            foreach (var s in Levels[l].Spatial) yield return new NestLoop(l, s.Rank, s.Factor, s.Axis);
        }
    }

    /// <summary>
    /// For each loop of <see cref="Nest"/>: the iterations it runs when every loop outside it over its rank is at
    /// its last iteration (imperfect factorization; Timeloop's <c>residual_end</c>, <see cref="Counts.Residuals"/>),
    /// equal to its factor when the factors divide the bound; null for a rank whose factors do not cover its bound.
    /// </summary>
    public IReadOnlyList<long?> Residuals(Einsum einsum)
    {
        var nest = Nest().ToList();
        var result = new long?[nest.Count];
        foreach (var rank in einsum.Ranks)
        {
            var at = Enumerable.Range(0, nest.Count).Where(i => nest[i].Rank == rank.Id).ToList();
            var factors = at.Select(i => (long)nest[i].Factor).ToArray();
            if (factors.Aggregate(1L, (a, f) => checked(a * f)) < rank.Bound) continue;
            var residuals = new long[factors.Length];
            Counts.Residuals(rank.Bound, factors, residuals);
            for (int k = 0; k < at.Count; k++) result[at[k]] = residuals[k];
        }
        return result;
    }

    /// <summary>
    /// The same loops for another layer of the same shape: each tensor of <paramref name="from"/> in the
    /// keep sets becomes the tensor of <paramref name="to"/> in the same position (the caller re-checks it).
    /// </summary>
    public Mapping RenameTensors(Einsum from, Einsum to)
    {
        if (from.Tensors.Count != to.Tensors.Count)
            throw new ArgumentException($"Layers {from.Name} and {to.Name} have different tensor counts; a mapping cannot be carried between them.", nameof(to));
        var rename = from.Tensors.Zip(to.Tensors).ToDictionary(x => x.First.Id, x => x.Second.Id);
        return new Mapping(Levels.Select(l => new LevelMapping(l.Temporal, l.Spatial, l.Keep.Select(t => rename[t]))));
    }

    /// <summary>A short one-line form, such as <c>DRAM[K=2 | keep A,B,Z] ...</c>, for logs and CSV cells.</summary>
    public string ToCompactString(IReadOnlyList<string> levelNames)
        => string.Join(" ", Levels.Select((lm, i) =>
            $"{levelNames[i]}[{string.Join(",", lm.Temporal)}{(lm.Spatial.Count > 0 ? " spatial " + string.Join(",", lm.Spatial) : "")} keep {string.Join(",", lm.Keep)}]"));
}

/// <summary>One loop of the flattened nest: its level, rank, factor, and axis when spatial.</summary>
public readonly record struct NestLoop(int Level, RankId Rank, int Factor, Axis? Axis)
{
    /// <summary>True for a spatial loop.</summary>
    public bool IsSpatial => Axis is not null;
}
