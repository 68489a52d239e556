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
    /// <summary>Per level, the spatial factor of each (rank, axis), in the order of the level's spatial loops (outermost first).</summary>
    public List<(RankId Rank, Axis Axis, int Factor)>[] Spatial = [];
    public HashSet<TensorId>[] Keep = [];
    /// <summary>
    /// True when the spatial loops keep their order (the Timeloop convention's counts depend on it within an axis, rule C);
    /// false, the default model's drafts, when each level's spatial loops are written sorted by rank name.
    /// </summary>
    public bool Ordered { get; private init; }

    /// <summary>A draft of an existing mapping; <paramref name="ordered"/> keeps its spatial loops' order (<see cref="Ordered"/>).</summary>
    public static MappingDraft From(Mapping m, bool ordered = false) => new()
    {
        Temporal = m.Levels.Select(l => l.Temporal.Select(t => (t.Rank, t.Factor)).ToList()).ToArray(),
        Spatial = m.Levels.Select(l => l.Spatial.GroupBy(s => (s.Rank, s.Axis)).Select(g => (g.Key.Rank, g.Key.Axis, g.Aggregate(1, (a, s) => a * s.Factor))).ToList()).ToArray(),
        Keep = m.Levels.Select(l => l.Keep.ToHashSet()).ToArray(),
        Ordered = ordered,
    };

    public MappingDraft Clone() => new()
    {
        Temporal = Temporal.Select(t => new List<(RankId, int)>(t)).ToArray(),
        Spatial = Spatial.Select(s => new List<(RankId, Axis, int)>(s)).ToArray(),
        Keep = Keep.Select(k => new HashSet<TensorId>(k)).ToArray(),
        Ordered = Ordered,
    };

    public Mapping ToMapping() => new(Temporal.Select((t, l) => new LevelMapping(
        t.Where(x => x.Factor > 1).Select(x => new TemporalLoop(x.Rank, x.Factor)),
        (Ordered ? Spatial[l] : Spatial[l].OrderBy(x => x.Rank.Name, StringComparer.Ordinal).ThenBy(x => x.Axis).ToList())
            .Where(x => x.Factor > 1).Select(x => new SpatialLoop(x.Rank, x.Factor, x.Axis)),
        Keep[l])));

    /// <summary>The factor of a rank in a slot: a level's temporal loop (axis null) or its spatial loop along an axis.</summary>
    public int Factor(int level, Axis? axis, RankId rank)
    {
        if (axis is { } a)
        {
            foreach (var s in Spatial[level]) if (s.Rank == rank && s.Axis == a) return s.Factor;
            return 1;
        }
        foreach (var t in Temporal[level]) if (t.Rank == rank) return t.Factor;
        return 1;
    }

    /// <summary>Sets the factor of a rank in a slot; a new temporal loop goes innermost, a new spatial loop last.</summary>
    public void SetFactor(int level, Axis? axis, RankId rank, int factor)
    {
        if (axis is { } a)
        {
            var s = Spatial[level];
            int j = s.FindIndex(x => x.Rank == rank && x.Axis == a);
            if (j >= 0) s[j] = (rank, a, factor); else s.Add((rank, a, factor));
            return;
        }
        var t = Temporal[level];
        int i = t.FindIndex(x => x.Rank == rank);
        if (i >= 0) t[i] = (rank, factor); else t.Add((rank, factor));
    }

    /// <summary>
    /// Every swap of two of a level's spatial loops (their order, which the Timeloop convention's counts depend on
    /// within an axis) and every move of one spatial loop onto the other axis, where it goes last; factors of 1 skipped.
    /// </summary>
    public IEnumerable<MappingDraft> SpatialMoves(int level)
    {
        var s = Spatial[level];
        for (int i = 0; i < s.Count; i++)
        {
            if (s[i].Factor == 1) continue;
            for (int j = i + 1; j < s.Count; j++)
            {
                if (s[j].Factor == 1) continue;
                var m = Clone();
                (m.Spatial[level][i], m.Spatial[level][j]) = (s[j], s[i]);
                yield return m;
            }
            var other = s[i].Axis == Axis.X ? Axis.Y : Axis.X;
            if (s.Any(x => x.Rank == s[i].Rank && x.Axis == other && x.Factor > 1)) continue;
            var flipped = Clone();
            flipped.Spatial[level].RemoveAt(i);
            flipped.Spatial[level].Add((s[i].Rank, other, s[i].Factor));
            yield return flipped;
        }
    }

    /// <summary>
    /// Re-splits a level's spatial loops into <paramref name="plan"/> (another good mapping's loops of that level, in its
    /// order): per rank, what the level and the outermost level iterate together is kept, the level's temporal loop taking
    /// what the plan no longer runs in space, the outermost level what the level cannot (the most of its old factor it can
    /// keep); with the plan, every subset of changes of the level's keep set (bypassing a tensor often goes with the plan
    /// that suits it). Nothing when the plan is the level's own or a rank's factor does not divide what the two levels hold.
    /// </summary>
    public IEnumerable<MappingDraft> ResplitMoves(MapProblem p, int level, IReadOnlyList<(RankId Rank, Axis Axis, int Factor)> plan)
    {
        if (level == 0 || plan.SequenceEqual(Spatial[level].Where(x => x.Factor > 1))) yield break;
        var m = Clone();
        m.Spatial[level] = plan.ToList();
        foreach (var rank in p.Layer.Ranks)
        {
            long pool = (long)Factor(0, null, rank.Id) * Factor(level, null, rank.Id)
                * Spatial[level].Where(x => x.Rank == rank.Id).Aggregate(1L, (a, x) => a * x.Factor);
            long space = plan.Where(x => x.Rank == rank.Id).Aggregate(1L, (a, x) => a * x.Factor);
            if (pool % space != 0) yield break;
            long rest = pool / space, outer = Divisibility.Gcd(rest, Factor(0, null, rank.Id));
            m.SetFactor(0, null, rank.Id, (int)outer);
            m.SetFactor(level, null, rank.Id, (int)(rest / outer));
        }
        var toggles = p.Layer.Tensors.Where(t => p.Arch.Levels[level].MayKeep(t.Role)).Select(t => t.Id).ToList();
        for (int mask = 0; mask < 1 << toggles.Count; mask++)
        {
            var k = m.Clone();
            for (int i = 0; i < toggles.Count; i++)
                if ((mask >> i & 1) == 1 && !k.Keep[level].Remove(toggles[i])) k.Keep[level].Add(toggles[i]);
            yield return k;
        }
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
