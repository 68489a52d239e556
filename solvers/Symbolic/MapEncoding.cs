using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers.Symbolic;

/// <summary>
/// What the symbolic encoder's backends share outside the algebra: the table of splits of a rank's bound over the
/// slots, a solution as the one <see cref="Mapping"/> type, and the independent check of the user constraints.
/// </summary>
internal static class MapEncoding
{
    /// <summary>One split of a rank's bound: temporal and spatial factors per level.</summary>
    internal sealed record Split(long[] T, long[] SX, long[] SY);

    /// <summary>
    /// Every split of a bound over the temporal slot of every level and the X / Y slots of levels whose fanout has them; with
    /// <paramref name="prefilter"/>, each spatial factor fits its axis alone. Under the Timeloop convention (or
    /// <see cref="MapProblem.OneAxis"/>) a split over both axes of one fanout is left out: Timeloop's format cannot say it.
    /// </summary>
    internal static List<Split> Splits(MapProblem p, long bound, bool prefilter)
    {
        bool oneAxis = p.OneAxis || p.Convention == CostConvention.Timeloop;
        var levels = p.Arch.Levels;
        int n = levels.Count;
        var slots = new List<(int Level, int Kind)>();
        for (int l = 0; l < n; l++)
        {
            slots.Add((l, 0));
            if (levels[l].Fanout.X > 1) slots.Add((l, 1));
            if (levels[l].Fanout.Y > 1) slots.Add((l, 2));
        }
        var result = new List<Split>();
        var f = new long[slots.Count];
        void Go(int i, long left)
        {
            if (i == slots.Count)
            {
                if (left != 1) return;
                var s = new Split(new long[n], new long[n], new long[n]);
                for (int l = 0; l < n; l++) { s.T[l] = 1; s.SX[l] = 1; s.SY[l] = 1; }
                for (int k = 0; k < slots.Count; k++)
                {
                    var (l, kind) = slots[k];
                    (kind == 0 ? s.T : kind == 1 ? s.SX : s.SY)[l] = f[k];
                }
                if (oneAxis && Enumerable.Range(0, n).Any(l => s.SX[l] > 1 && s.SY[l] > 1)) return;
                result.Add(s);
                return;
            }
            var (level, kindOf) = slots[i];
            foreach (var d in Divisors(left))
            {
                if (prefilter && kindOf == 1 && d > levels[level].Fanout.X) continue;
                if (prefilter && kindOf == 2 && d > levels[level].Fanout.Y) continue;
                f[i] = d;
                Go(i + 1, left / d);
            }
        }
        Go(0, bound);
        return result;
    }

    internal static long[] Divisors(long n)
    {
        var d = new List<long>();
        for (long i = 1; i <= n; i++) if (n % i == 0) d.Add(i);
        return d.ToArray();
    }

    /// <summary>
    /// A solution as the one <see cref="Mapping"/> type: each rank's chosen split gives the factors; at each level the
    /// loops with a factor above 1 go outermost first by how many others the order Booleans put outside them (the
    /// innermost level's pinned order as given); <paramref name="before"/>(l, a, b) is "rank a's loop is outside rank
    /// b's at level l", <paramref name="keeps"/>(l, t) "level l keeps tensor t".
    /// </summary>
    internal static Mapping ToMapping(MapProblem p, Split[] split, IReadOnlyList<RankId> rankIds, IReadOnlyList<TensorSpec> tensors,
        Func<int, int, int, bool> before, Func<int, int, bool> keeps)
    {
        int n = p.Arch.Levels.Count, ranks = rankIds.Count;
        var levels = new List<LevelMapping>();
        for (int l = 0; l < n; l++)
        {
            int li = l;
            var active = Enumerable.Range(0, ranks).Where(r => split[r].T[li] > 1).ToList();
            var pinned = (p.Constraints ?? MappingConstraints.None).For(l).Order?.ToList();
            var order = li == n - 1 && pinned is not null
                ? active.OrderBy(r => pinned.IndexOf(rankIds[r])).ToList()
                : active.OrderBy(r => active.Count(o => o != r && before(li, o, r))).ToList();
            var temporal = order.Select(r => new TemporalLoop(rankIds[r], (int)split[r].T[li]));
            var spatial = new List<SpatialLoop>();
            for (int r = 0; r < ranks; r++)
            {
                if (split[r].SX[l] > 1) spatial.Add(new SpatialLoop(rankIds[r], (int)split[r].SX[l], Axis.X));
                if (split[r].SY[l] > 1) spatial.Add(new SpatialLoop(rankIds[r], (int)split[r].SY[l], Axis.Y));
            }
            var keep = Enumerable.Range(0, tensors.Count).Where(t => keeps(li, t)).Select(t => tensors[t].Id);
            levels.Add(new LevelMapping(temporal, spatial, keep));
        }
        return new Mapping(levels);
    }

    /// <summary>
    /// Re-checks a solver's decoded mapping with the validity checker and the user constraints and re-costs it with the
    /// reference model; a mapping that breaks either is a bug in the encoding (<paramref name="solver"/> names the solver).
    /// </summary>
    internal static CostReport Recheck(MapProblem p, Mapping mapping, string solver)
    {
        var violations = ValidityChecker.Check(p.Layer, p.Arch, mapping);
        if (violations.Count > 0)
            throw new InvalidOperationException($"{solver} returned an invalid mapping ({violations[0].Message}); this is a bug in the encoding.");
        var broken = BrokenConstraint(p, mapping);
        if (broken is not null)
            throw new InvalidOperationException($"{solver} returned a mapping that breaks a user constraint ({broken}); this is a bug in the encoding.");
        return CostModel.Evaluate(p.Layer, p.Arch, mapping);
    }

    /// <summary>The first user constraint a mapping breaks, or null (an independent check of a decoded answer).</summary>
    internal static string? BrokenConstraint(MapProblem p, Mapping m)
    {
        var cons = p.Constraints ?? MappingConstraints.None;
        foreach (var (l, c) in cons.Levels)
        {
            var lm = m.Levels[l];
            foreach (var (rank, f) in c.Temporal) if (lm.TemporalFactor(rank) != f) return $"{rank} pinned to {f} at level {l}";
            foreach (var ((rank, axis), f) in c.Spatial)
                if (SpatialFactor(lm, rank, axis) != f) return $"{rank} pinned to {f} along {axis} at level {l}";
            if (c.SpatialX is { } ax && lm.Spatial.Any(s => s.Axis == Axis.X && !ax.Contains(s.Rank))) return $"allowed X ranks at level {l}";
            if (c.SpatialY is { } ay && lm.Spatial.Any(s => s.Axis == Axis.Y && !ay.Contains(s.Rank))) return $"allowed Y ranks at level {l}";
            if (c.Order is { } order)
            {
                var ids = order.ToList();
                var active = lm.Temporal.Where(x => x.Factor > 1).Select(x => x.Rank).ToList();
                if (active.Any(r => !ids.Contains(r)) || !active.SequenceEqual(active.OrderBy(ids.IndexOf))) return $"loop order at level {l}";
            }
            if (c.Keep.Any(t => !lm.Keep.Contains(t)) || c.Bypass.Any(lm.Keep.Contains)) return $"keep / bypass at level {l}";
        }
        return null;
    }

    /// <summary>The product of a rank's spatial factors along one axis of a level.</summary>
    internal static long SpatialFactor(LevelMapping lm, RankId rank, Axis axis)
        => lm.Spatial.Where(s => s.Rank == rank && s.Axis == axis).Aggregate(1L, (a, s) => a * s.Factor);
}
