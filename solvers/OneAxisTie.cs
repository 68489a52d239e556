using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// Timeloop's mapping format holds one spatial factor per dimension and level, so a mapping that splits a rank
/// over both axes of a fanout cannot be written for it, though the exact search may return one among ties. This
/// looks for a mapping Timeloop can express (<see cref="TimeloopMapping.Inexpressible"/>) that costs the same:
/// first the split rank's factors moved onto one axis where the fanout has room, then the optimum of the
/// problem with every rank pinned to one axis. Every candidate is checked by <see cref="ValidityChecker"/>, the
/// problem's constraints and <see cref="CostModel"/>. The one place this is done (<c>map --format timeloop
/// --mapping-out</c>, and the regress test that writes a Timeloop mapping file).
/// </summary>
public static class OneAxisTie
{
    /// <summary>
    /// What was found: an expressible mapping of equal cost (the given one when Timeloop can already express it)
    /// with how it was found, or none, with why and the least cost of the expressible mappings met (null when none was met).
    /// </summary>
    public sealed record Outcome(Mapping? Mapping, string How, double? BestExpressible);

    /// <summary>
    /// An expressible mapping that ties with <paramref name="mapping"/> on the problem's objective (relative
    /// tolerance 1e-9); <paramref name="solve"/> runs the search on a constrained copy of the problem.
    /// </summary>
    public static Outcome Find(MapProblem problem, Mapping mapping, Func<MapProblem, SolveResult> solve)
    {
        var (layer, arch) = (problem.Layer, problem.Arch);
        var why = TimeloopMapping.Inexpressible(mapping, arch);
        if (why is null) return new Outcome(mapping, "the mapping itself", null);
        double target = CostModel.Evaluate(layer, arch, mapping).Objective(problem.Objective);
        double? best = null;
        bool Ties(Mapping m)
        {
            if (TimeloopMapping.Inexpressible(m, arch) is not null || ValidityChecker.Check(layer, arch, m).Count > 0) return false;
            if (problem.Constraints is { } c && !ConstraintCheck.AllowsAll(c, arch, m, () => CostModel.Evaluate(layer, arch, m))) return false;
            double cost = CostModel.Evaluate(layer, arch, m).Objective(problem.Objective);
            best = Math.Min(best ?? cost, cost);
            return Math.Abs(cost - target) <= 1e-9 * Math.Abs(target);
        }

        // The ranks split over both axes, by level.
        var split = Enumerable.Range(0, arch.Levels.Count)
            .SelectMany(l => mapping.Levels[l].Spatial.GroupBy(s => s.Rank).Where(g => g.Select(s => s.Axis).Distinct().Count() > 1).Select(g => (Level: l, Rank: g.Key)))
            .ToList();
        if (split.Count == 0) return new Outcome(null, why, null); // two temporal loops over a rank: not a matter of axes

        // 1. The same factors moved onto one axis: every choice of axis per split rank.
        foreach (var moved in Moves(layer, mapping))
            if (Ties(moved)) return new Outcome(moved, $"the factors of {Describe(split, arch)} moved onto one axis", best);

        // 2. The optimum with every rank pinned to one axis at every fanout: a split rank on the axis that carries
        //    more of it (then on the other), the other ranks where the mapping has them, unused ranks on the axis
        //    the first split rank left.
        foreach (bool dominant in new[] { true, false })
        {
            var pinned = Pinned(problem, mapping, split, dominant);
            var r = solve(problem with { Constraints = pinned });
            if (r.Mapping is { } m && Ties(m))
                return new Outcome(m, $"the optimum with {Describe(split, arch)} kept on one axis ({r.Status.ToString().ToUpperInvariant()} under that constraint)", best);
        }
        return new Outcome(null, $"{why} No mapping that keeps every rank on one axis was found to cost the same " +
            (best is { } b ? $"(the least found costs {b:G6}, {(b - target) / Math.Abs(target) * 100:0.###}% more)." : "(none was found)."), best);
    }

    /// <summary>
    /// The mapping with every rank that a level splits over both axes moved onto one axis, its factor whole: one mapping per
    /// choice of axis per such rank (none when there are more than ten, or none to move). They may not fit the fanouts.
    /// </summary>
    public static IEnumerable<Mapping> Moves(Einsum layer, Mapping mapping)
    {
        var split = Enumerable.Range(0, mapping.Levels.Count)
            .SelectMany(l => mapping.Levels[l].Spatial.GroupBy(s => s.Rank).Where(g => g.Select(s => s.Axis).Distinct().Count() > 1).Select(g => (Level: l, Rank: g.Key)))
            .ToList();
        if (split.Count == 0 || split.Count > 10) yield break;
        for (int choice = 0; choice < 1 << split.Count; choice++)
        {
            var levels = mapping.Levels.ToList();
            for (int i = 0; i < split.Count; i++)
            {
                var (l, rank) = split[i];
                var axis = (choice >> i & 1) == 0 ? Axis.X : Axis.Y;
                var lm = levels[l];
                int factor = (int)lm.SpatialFactor(rank);
                var spatial = lm.Spatial.Where(s => s.Rank != rank).Append(new SpatialLoop(rank, factor, axis))
                    .OrderBy(s => layer.Ranks.ToList().FindIndex(r => r.Id == s.Rank)).ThenBy(s => s.Axis);
                levels[l] = new LevelMapping(lm.Temporal, spatial, lm.Keep);
            }
            yield return new Mapping(levels);
        }
    }

    /// <summary>
    /// <see cref="Moves"/> made to fit the fanouts: where an axis then holds more than the fanout has, the moved rank's
    /// smallest primes go to the same level's temporal loop over it (a new one innermost) until it fits. Seeds for a
    /// search whose answers must keep ranks on one axis (the Timeloop convention); they may still break a constraint.
    /// </summary>
    public static IEnumerable<Mapping> Fitted(Einsum layer, Architecture arch, Mapping mapping)
    {
        foreach (var moved in Moves(layer, mapping))
        {
            var levels = moved.Levels.ToList();
            for (int l = 0; l < levels.Count; l++)
            {
                var lm = levels[l];
                var spatial = lm.Spatial.ToList();
                var temporal = lm.Temporal.ToList();
                foreach (var axis in new[] { Axis.X, Axis.Y })
                {
                    long room = axis == Axis.X ? arch.Levels[l].Fanout.X : arch.Levels[l].Fanout.Y;
                    long Along() => spatial.Where(s => s.Axis == axis).Aggregate(1L, (a, s) => a * s.Factor);
                    // The largest loop along the axis gives up its smallest prime first.
                    while (Along() > room)
                    {
                        int i = spatial.Select((s, k) => (s, k)).Where(x => x.s.Axis == axis && x.s.Factor > 1).MaxBy(x => x.s.Factor).k;
                        var loop = spatial[i];
                        int prime = Mapspace.PrimeFactors(loop.Factor).Min();
                        spatial[i] = new SpatialLoop(loop.Rank, loop.Factor / prime, axis);
                        int t = temporal.FindIndex(x => x.Rank == loop.Rank);
                        if (t >= 0) temporal[t] = new TemporalLoop(loop.Rank, temporal[t].Factor * prime);
                        else temporal.Add(new TemporalLoop(loop.Rank, prime));
                    }
                }
                levels[l] = new LevelMapping(temporal, spatial.Where(s => s.Factor > 1), lm.Keep);
            }
            yield return new Mapping(levels);
        }
    }

    private static string Describe(List<(int Level, RankId Rank)> split, Architecture arch)
        => string.Join(", ", split.Select(s => $"{s.Rank} at {arch.Levels[s.Level].Name}"));

    // The problem's constraints with every fanout's ranks pinned to one axis.
    private static MappingConstraints Pinned(MapProblem problem, Mapping mapping, List<(int Level, RankId Rank)> split, bool dominant)
    {
        var levels = new Dictionary<int, LevelConstraint>((problem.Constraints ?? MappingConstraints.None).Levels);
        for (int l = 0; l < problem.Arch.Levels.Count; l++)
        {
            if (problem.Arch.Levels[l].Fanout.Size == 1) continue;
            var lm = mapping.Levels[l];
            long On(RankId rank, Axis axis) => lm.Spatial.Where(s => s.Rank == rank && s.Axis == axis).Aggregate(1L, (a, s) => checked(a * s.Factor));
            var x = new HashSet<RankId>();
            var y = new HashSet<RankId>();
            Axis? freed = null;
            foreach (var rank in problem.Layer.Ranks.Select(r => r.Id))
            {
                long fx = On(rank, Axis.X), fy = On(rank, Axis.Y);
                if (split.Contains((l, rank)))
                {
                    var axis = (fx >= fy) == dominant ? Axis.X : Axis.Y;
                    (axis == Axis.X ? x : y).Add(rank);
                    freed ??= axis == Axis.X ? Axis.Y : Axis.X;
                }
                else if (fx > 1) x.Add(rank);
                else if (fy > 1) y.Add(rank);
            }
            foreach (var rank in problem.Layer.Ranks.Select(r => r.Id).Where(r => !x.Contains(r) && !y.Contains(r)))
                ((freed ?? Axis.X) == Axis.X ? x : y).Add(rank);
            var c = levels.GetValueOrDefault(l) ?? new LevelConstraint();
            levels[l] = c with
            {
                SpatialX = c.SpatialX is { } ux ? x.Where(ux.Contains).ToHashSet() : x,
                SpatialY = c.SpatialY is { } uy ? y.Where(uy.Contains).ToHashSet() : y,
            };
        }
        return (problem.Constraints ?? MappingConstraints.None) with { Levels = levels };
    }
}
