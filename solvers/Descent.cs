using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// A fast bottom-up cost descent (docs/heuristics.md). Start with every loop at the outermost level
/// and every level keeping what it may; then, from the innermost level outward, first spread the
/// level's fanout over ranks (one prime factor at a time, the move that lowers the cost most), then
/// grow the level's tiles (move one prime factor from the outermost level into this level's
/// temporal loops, taking the best move while one lowers the cost and everything still fits), and
/// finally try every order of the level's loops that a swap of two neighbours reaches and keep the
/// cheapest. It proves nothing; `optimizer regress` measures how far it is from the exact optimum.
/// </summary>
public sealed class Descent(MapProblem problem)
{
    private sealed class Draft
    {
        public List<(RankId Rank, int Factor)>[] Temporal = [];
        public Dictionary<(RankId, Axis), int>[] Spatial = [];
        public HashSet<TensorId>[] Keep = [];

        public Draft Clone() => new()
        {
            Temporal = Temporal.Select(t => new List<(RankId, int)>(t)).ToArray(),
            Spatial = Spatial.Select(s => new Dictionary<(RankId, Axis), int>(s)).ToArray(),
            Keep = Keep.Select(k => new HashSet<TensorId>(k)).ToArray(),
        };

        public Mapping ToMapping() => new(Temporal.Select((t, l) => new LevelMapping(
            t.Where(x => x.Factor > 1).Select(x => new TemporalLoop(x.Rank, x.Factor)),
            Spatial[l].Where(kv => kv.Value > 1).OrderBy(kv => kv.Key.Item1.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Item2)
                .Select(kv => new SpatialLoop(kv.Key.Item1, kv.Value, kv.Key.Item2)),
            Keep[l])));
    }

    private long _evaluations;

    /// <summary>Runs the descent.</summary>
    public SolveResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var e = problem.Layer;
        var arch = problem.Arch;
        int n = arch.Levels.Count;
        var d = new Draft
        {
            Temporal = Enumerable.Range(0, n).Select(l => l == 0 ? e.Ranks.Select(r => (r.Id, r.Bound)).ToList() : new List<(RankId, int)>()).ToArray(),
            Spatial = Enumerable.Range(0, n).Select(_ => new Dictionary<(RankId, Axis), int>()).ToArray(),
            Keep = Enumerable.Range(0, n).Select(l => e.Tensors.Where(t => l == 0 || arch.Levels[l].MayKeep(t.Role)).Select(t => t.Id).ToHashSet()).ToArray(),
        };
        // Levels whose tiles cannot hold even one word of what they keep let those tensors pass.
        double best = Cost(d) ?? DropUntilValid(d);
        for (int l = n - 1; l >= 0 && !Stopped(limits, sw); l--)
        {
            foreach (var axis in new[] { Axis.X, Axis.Y })
                while (BestMove(d, ref best, SpatialMoves(d, l, axis))) { }
            if (l > 0)
                while (BestMove(d, ref best, TileMoves(d, l))) { }
            while (BestMove(d, ref best, OrderMoves(d, l))) { }
            if (l > 0) while (BestMove(d, ref best, KeepMoves(d, l))) { }
        }
        var mapping = d.ToMapping();
        var report = CostModel.Evaluate(e, arch, mapping);
        return new SolveResult(SolveStatus.Feasible, mapping, report, report.Objective(problem.Objective),
            new SearchModel(problem).RootBound(), sw.Elapsed, _evaluations, "descent");
    }

    private static bool Stopped(SearchLimits limits, Stopwatch sw)
        => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);

    private double? Cost(Draft d)
    {
        _evaluations++;
        var m = d.ToMapping();
        if (ValidityChecker.Check(problem.Layer, problem.Arch, m).Count > 0) return null;
        if (problem.Constraints is { } c && !ConstraintCheck.Allows(c, m)) return null;
        return CostModel.Evaluate(problem.Layer, problem.Arch, m).Objective(problem.Objective);
    }

    private double DropUntilValid(Draft d)
    {
        for (int l = d.Keep.Length - 1; l > 0; l--)
        {
            d.Keep[l].Clear();
            if (Cost(d) is { } v) return v;
        }
        return Cost(d) ?? throw new InvalidOperationException("The all-in-the-outermost-level mapping is not valid; the descent has no starting point.");
    }

    /// <summary>Applies the cheapest of the moves when it lowers the cost; ties go to the first, so the result is deterministic.</summary>
    private bool BestMove(Draft d, ref double best, IEnumerable<Draft> moves)
    {
        Draft? winner = null;
        double value = best;
        foreach (var m in moves)
            if (Cost(m) is { } v && v < value * (1 - 1e-12)) { value = v; winner = m; }
        if (winner is null) return false;
        d.Temporal = winner.Temporal; d.Spatial = winner.Spatial; d.Keep = winner.Keep;
        best = value;
        return true;
    }

    private static int Outer(Draft d, RankId r) => d.Temporal[0].Where(x => x.Rank == r).Select(x => x.Factor).DefaultIfEmpty(1).First();

    private static void SetOuter(Draft d, RankId r, int f)
    {
        int i = d.Temporal[0].FindIndex(x => x.Rank == r);
        if (i >= 0) d.Temporal[0][i] = (r, f);
    }

    private IEnumerable<Draft> SpatialMoves(Draft d, int l, Axis axis)
    {
        var fan = problem.Arch.Levels[l].Fanout;
        int size = axis == Axis.X ? fan.X : fan.Y;
        if (size == 1) yield break;
        long used = d.Spatial[l].Where(kv => kv.Key.Item2 == axis).Aggregate(1L, (a, kv) => a * kv.Value);
        foreach (var rank in problem.Layer.Ranks)
            foreach (var p in Mapspace.PrimeFactors(Outer(d, rank.Id)).Distinct())
            {
                if (used * p > size) continue;
                var m = d.Clone();
                SetOuter(m, rank.Id, Outer(d, rank.Id) / p);
                m.Spatial[l][(rank.Id, axis)] = m.Spatial[l].GetValueOrDefault((rank.Id, axis), 1) * p;
                yield return m;
            }
    }

    private IEnumerable<Draft> TileMoves(Draft d, int l)
    {
        foreach (var rank in problem.Layer.Ranks)
            foreach (var p in Mapspace.PrimeFactors(Outer(d, rank.Id)).Distinct())
            {
                var m = d.Clone();
                SetOuter(m, rank.Id, Outer(d, rank.Id) / p);
                var t = m.Temporal[l];
                int i = t.FindIndex(x => x.Rank == rank.Id);
                if (i >= 0) t[i] = (rank.Id, t[i].Factor * p); else t.Add((rank.Id, p));
                yield return m;
            }
    }

    private static IEnumerable<Draft> OrderMoves(Draft d, int l)
    {
        for (int i = 0; i + 1 < d.Temporal[l].Count; i++)
        {
            var m = d.Clone();
            (m.Temporal[l][i], m.Temporal[l][i + 1]) = (m.Temporal[l][i + 1], m.Temporal[l][i]);
            yield return m;
        }
    }

    private IEnumerable<Draft> KeepMoves(Draft d, int l)
    {
        foreach (var t in problem.Layer.Tensors)
        {
            if (!problem.Arch.Levels[l].MayKeep(t.Role)) continue;
            var m = d.Clone();
            if (!m.Keep[l].Remove(t.Id)) m.Keep[l].Add(t.Id);
            yield return m;
        }
    }
}
