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
    private long _evaluations;

    /// <summary>Runs the descent.</summary>
    public SolveResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var e = problem.Layer;
        var arch = problem.Arch;
        int n = arch.Levels.Count;
        var d = new MappingDraft
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
            while (BestMove(d, ref best, d.SwapMoves(l))) { }
            if (l > 0) while (BestMove(d, ref best, d.KeepMoves(problem, l))) { }
        }
        var mapping = d.ToMapping();
        var report = CostModel.Evaluate(e, arch, mapping);
        return new SolveResult(SolveStatus.Feasible, mapping, report, report.Objective(problem.Objective),
            new SearchModel(problem).RootBound(), sw.Elapsed, _evaluations, "descent");
    }

    private static bool Stopped(SearchLimits limits, Stopwatch sw)
        => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);

    private double? Cost(MappingDraft d)
    {
        _evaluations++;
        return d.Value(problem);
    }

    private double DropUntilValid(MappingDraft d)
    {
        for (int l = d.Keep.Length - 1; l > 0; l--)
        {
            d.Keep[l].Clear();
            if (Cost(d) is { } v) return v;
        }
        return Cost(d) ?? throw new InvalidOperationException("The all-in-the-outermost-level mapping is not valid; the descent has no starting point.");
    }

    /// <summary>Applies the cheapest of the moves when it lowers the cost; ties go to the first, so the result is deterministic.</summary>
    private bool BestMove(MappingDraft d, ref double best, IEnumerable<MappingDraft> moves)
    {
        MappingDraft? winner = null;
        double value = best;
        foreach (var m in moves)
            if (Cost(m) is { } v && v < value * (1 - 1e-12)) { value = v; winner = m; }
        if (winner is null) return false;
        d.Temporal = winner.Temporal; d.Spatial = winner.Spatial; d.Keep = winner.Keep;
        best = value;
        return true;
    }

    private static int Outer(MappingDraft d, RankId r) => d.Factor(0, null, r);

    private IEnumerable<MappingDraft> SpatialMoves(MappingDraft d, int l, Axis axis)
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
                m.SetFactor(0, null, rank.Id, Outer(d, rank.Id) / p);
                m.SetFactor(l, axis, rank.Id, m.Factor(l, axis, rank.Id) * p);
                yield return m;
            }
    }

    private IEnumerable<MappingDraft> TileMoves(MappingDraft d, int l)
    {
        foreach (var rank in problem.Layer.Ranks)
            foreach (var p in Mapspace.PrimeFactors(Outer(d, rank.Id)).Distinct())
            {
                var m = d.Clone();
                m.SetFactor(0, null, rank.Id, Outer(d, rank.Id) / p);
                m.SetFactor(l, null, rank.Id, m.Factor(l, null, rank.Id) * p);
                yield return m;
            }
    }
}
