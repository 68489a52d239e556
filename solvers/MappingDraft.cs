using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// A mutable mapping that the heuristics edit one move at a time: per level, the temporal loops
/// (outermost first), the spatial factor of each (rank, axis), and the keep set. Moves return edited
/// copies; <see cref="ToMapping"/> gives the one Mapping type, which is what gets checked and costed.
/// </summary>
internal sealed class MappingDraft
{
    public List<(RankId Rank, int Factor)>[] Temporal = [];
    public Dictionary<(RankId Rank, Axis Axis), int>[] Spatial = [];
    public HashSet<TensorId>[] Keep = [];

    /// <summary>A draft of an existing mapping.</summary>
    public static MappingDraft From(Mapping m) => new()
    {
        Temporal = m.Levels.Select(l => l.Temporal.Select(t => (t.Rank, t.Factor)).ToList()).ToArray(),
        Spatial = m.Levels.Select(l => l.Spatial.GroupBy(s => (s.Rank, s.Axis)).ToDictionary(g => g.Key, g => g.Aggregate(1, (a, s) => a * s.Factor))).ToArray(),
        Keep = m.Levels.Select(l => l.Keep.ToHashSet()).ToArray(),
    };

    public MappingDraft Clone() => new()
    {
        Temporal = Temporal.Select(t => new List<(RankId, int)>(t)).ToArray(),
        Spatial = Spatial.Select(s => new Dictionary<(RankId, Axis), int>(s)).ToArray(),
        Keep = Keep.Select(k => new HashSet<TensorId>(k)).ToArray(),
    };

    public Mapping ToMapping() => new(Temporal.Select((t, l) => new LevelMapping(
        t.Where(x => x.Factor > 1).Select(x => new TemporalLoop(x.Rank, x.Factor)),
        Spatial[l].Where(kv => kv.Value > 1).OrderBy(kv => kv.Key.Rank.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Axis)
            .Select(kv => new SpatialLoop(kv.Key.Rank, kv.Value, kv.Key.Axis)),
        Keep[l])));

    /// <summary>The factor of a rank in a slot: a level's temporal loop (axis null) or its spatial loop along an axis.</summary>
    public int Factor(int level, Axis? axis, RankId rank)
        => axis is { } a ? Spatial[level].GetValueOrDefault((rank, a), 1)
            : Temporal[level].Where(t => t.Rank == rank).Select(t => t.Factor).DefaultIfEmpty(1).First();

    /// <summary>Sets the factor of a rank in a slot; a new temporal loop goes innermost.</summary>
    public void SetFactor(int level, Axis? axis, RankId rank, int factor)
    {
        if (axis is { } a) { Spatial[level][(rank, a)] = factor; return; }
        var t = Temporal[level];
        int i = t.FindIndex(x => x.Rank == rank);
        if (i >= 0) t[i] = (rank, factor); else t.Add((rank, factor));
    }

    /// <summary>Every swap of two neighbouring temporal loops at a level.</summary>
    public IEnumerable<MappingDraft> SwapMoves(int level)
    {
        for (int i = 0; i + 1 < Temporal[level].Count; i++)
        {
            var m = Clone();
            (m.Temporal[level][i], m.Temporal[level][i + 1]) = (m.Temporal[level][i + 1], m.Temporal[level][i]);
            yield return m;
        }
    }

    /// <summary>Every change of whether a level (not the outermost) keeps one tensor its role allows.</summary>
    public IEnumerable<MappingDraft> KeepMoves(MapProblem p, int level)
    {
        foreach (var t in p.Layer.Tensors)
        {
            if (!p.Arch.Levels[level].MayKeep(t.Role)) continue;
            var m = Clone();
            if (!m.Keep[level].Remove(t.Id)) m.Keep[level].Add(t.Id);
            yield return m;
        }
    }

    /// <summary>The objective of the draft's mapping, or null when it is not valid, breaks the constraints (the global kinds included) or exceeds a cap.</summary>
    public double? Value(MapProblem p)
    {
        var m = ToMapping();
        if (p.Constraints is { } c && !ConstraintCheck.Allows(c, m)) return null;
        if (!CostModel.TryEvaluate(p.Layer, p.Arch, m, out var report, out _)) return null;
        if (p.Constraints is { Global.Count: > 0 } g && ConstraintCheck.Broken(g, p.Arch, m, () => report!).Count > 0) return null;
        return p.Caps is { } caps && !caps.Allow(report!) ? null : report!.Objective(p.Objective);
    }
}
