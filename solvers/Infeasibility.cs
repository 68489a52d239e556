using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>Explains, in words, why no mapping of a (constrained) mapspace is valid.</summary>
public static class Infeasibility
{
    /// <summary>
    /// Reasons that prove no mapping of the constrained mapspace is valid, found without searching:
    /// a level must keep tensors whose smallest possible tiles (free factors moved outward, pinned ones
    /// where the constraints put them; a tile only grows with its extents) exceed its capacity; pinned
    /// factors of a rank that do not divide its bound, or that fill every slot without reaching it;
    /// pinned spatial factors beyond a fanout; a spatial factor pinned on a rank the level's spatial-x or spatial-y
    /// list leaves out; a tile-multiple that does not divide its rank's bound. Empty when none of these holds.
    /// </summary>
    public static IReadOnlyList<string> Contradictions(MapProblem p)
    {
        var c = p.Constraints ?? MappingConstraints.None;
        var e = p.Layer;
        var reasons = new List<string>();
        for (int l = 1; l < p.Arch.Levels.Count; l++)
        {
            var level = p.Arch.Levels[l];
            if (level.Capacity is not { } cap) continue;
            // Smallest tile at l: only the pinned factors at l and below stay inside it.
            long Extent(RankId r)
            {
                long x = 1;
                for (int d = l; d < p.Arch.Levels.Count; d++)
                {
                    var lc = c.For(d);
                    if (lc.Temporal.TryGetValue(r, out var f)) x = checked(x * f);
                    foreach (var kv in lc.Spatial) if (kv.Key.Rank == r) x = checked(x * kv.Value);
                }
                return x;
            }
            var must = e.Tensors.Where(t => c.For(l).Keep.Contains(t.Id)).ToList();
            long need = must.Sum(t => t.Footprint(Extent));
            if (need > cap)
                reasons.Add($"{level.Name} must keep {string.Join(" and ", must.Select(t => t.Id))}, but even the smallest tiles the constraints allow need {need} words and it holds {cap}.");
        }
        foreach (var rank in e.Ranks)
        {
            long pinned = 1;
            bool free = false;
            for (int d = 0; d < p.Arch.Levels.Count; d++)
            {
                var lc = c.For(d);
                var fan = p.Arch.Levels[d].Fanout;
                if (lc.Temporal.TryGetValue(rank.Id, out var f)) pinned = checked(pinned * f); else free = true;
                foreach (var kv in lc.Spatial) if (kv.Key.Rank == rank.Id) pinned = checked(pinned * kv.Value);
                if (fan.X > 1 && !lc.Spatial.ContainsKey((rank.Id, Axis.X)) && (lc.SpatialX is null || lc.SpatialX.Contains(rank.Id))) free = true;
                if (fan.Y > 1 && !lc.Spatial.ContainsKey((rank.Id, Axis.Y)) && (lc.SpatialY is null || lc.SpatialY.Contains(rank.Id))) free = true;
            }
            if (rank.Bound % pinned != 0 || (!free && pinned != rank.Bound))
                reasons.Add($"{rank.Id}={rank.Bound} cannot be split as the constraints pin it: the pinned factors multiply to {pinned}.");
        }
        // A tile extent is a product of factors of its rank's bound, so it divides the bound (perfect factorization).
        foreach (var g in c.Global)
            if (g is TileMultiple t && e.Bound(t.Rank) % t.Multiple != 0)
                reasons.Add($"{t.Name(p.Arch)}: no tile extent of {t.Rank}={e.Bound(t.Rank)} is, since every tile extent divides the bound.");
        for (int d = 0; d < p.Arch.Levels.Count; d++)
        {
            var lc = c.For(d);
            var fan = p.Arch.Levels[d].Fanout;
            long x = lc.Spatial.Where(kv => kv.Key.Axis == Axis.X).Aggregate(1L, (a, kv) => checked(a * kv.Value));
            long y = lc.Spatial.Where(kv => kv.Key.Axis == Axis.Y).Aggregate(1L, (a, kv) => checked(a * kv.Value));
            if (x > fan.X || y > fan.Y)
                reasons.Add($"{p.Arch.Levels[d].Name}: the pinned spatial factors ({x} along X, {y} along Y) exceed its {fan.X}x{fan.Y} fanout.");
            foreach (var ((rank, axis), f) in lc.Spatial)
                if (f > 1 && (axis == Axis.X ? lc.SpatialX : lc.SpatialY) is { } allowed && !allowed.Contains(rank))
                    reasons.Add($"{p.Arch.Levels[d].Name}: the constraints pin {rank}={f} along {axis}, but spatial-{axis.ToString().ToLowerInvariant()} allows only " +
                                $"{(allowed.Count == 0 ? "no rank" : string.Join(", ", allowed.Select(r => r.ToString()).Order(StringComparer.Ordinal)))} along {axis} there.");
        }
        return reasons;
    }

    /// <summary>
    /// Explains an empty mapspace when valid mappings exist but each breaks global constraints: <paramref name="brokenSets"/>
    /// holds, for the valid mappings a complete search met, the sets of global constraints each broke (bit i:
    /// <c>Global[i]</c>). A set of constraints conflicts when it meets every one of those sets; the union does, and it is
    /// shrunk, one constraint at a time, to a conflict from which no constraint can be dropped. A recorded set may be a
    /// subset of what the mappings it stands for break (a spatial plan dropped for its spatial kinds alone): the set named
    /// still conflicts, but then it is said to be minimal only when <paramref name="minimal"/> holds.
    /// </summary>
    public static string ExplainGlobal(MapProblem p, IReadOnlyCollection<ulong> brokenSets, bool minimal = true)
    {
        var global = (p.Constraints ?? MappingConstraints.None).Global;
        var names = new List<string>();
        if (global.Count > 64) names.AddRange(global.Select(g => g.Name(p.Arch)));
        else
        {
            ulong conflict = brokenSets.Aggregate(0UL, (a, x) => a | x);
            for (int i = 0; i < global.Count; i++)
            {
                ulong without = conflict & ~(1UL << i);
                if ((conflict & (1UL << i)) != 0 && brokenSets.All(x => (x & without) != 0)) conflict = without;
            }
            for (int i = 0; i < global.Count; i++) if ((conflict & (1UL << i)) != 0) names.Add(global[i].Name(p.Arch));
        }
        return $"Every valid mapping breaks at least one of these constraints, which conflict: {string.Join("; ", names)}." +
               (names.Count == 1 ? "" : minimal ? " Dropping any one of them leaves a mapping that satisfies the others." : "");
    }

    /// <summary>Explains, in words, why a search found no valid mapping.</summary>
    public static string Explain(MapProblem p)
    {
        var reasons = Contradictions(p);
        return reasons.Count > 0 ? string.Join(" ", reasons)
            : "Every level could hold its smallest tiles on its own, but no assignment of the factors satisfies the capacities, fanouts and constraints of all levels at once.";
    }
}
