using System.Diagnostics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// The fused latency search over the full mapspace (docs/fusion.md, "Latency over the full mapspace"): with every group run
/// sequentially the workload's cycles are the sum of its layers' fused cycles, and a layer's fused cycles depend only on its
/// own mapping and its class, so one member per class, its least fused cycles, suffices; the branch and bound over the join
/// of the energy search (<see cref="SolveFull"/>, step 3) decides which classes must be searched, each by the latency
/// <see cref="TilingSearch"/> on its fused cycles (<see cref="LatencyProblem"/>, searched by <see cref="Search"/>).
/// </summary>
public sealed partial class FusionSearch
{
    private FusionResult SolveFullLatency(SearchLimits limits, Stopwatch sw, Func<bool> late, Func<bool> stop)
    {
        var w = _p.Workload;
        int n = w.Layers.Count;
        // 1. Every layer alone: the unconstrained single-layer latency search, exactly what map --objective latency finds.
        if (EveryLayerAlone(c => Search(c, double.PositiveInfinity, stop, seedWithDescent: true), limits, "every layer's own least cycles (the unfused mapping)", sw, late, stop) is not { } alone) return _noLayerAlone!;
        var (uMap, uRep) = Recheck(Assemble(alone.Select(c => c.Member!).ToList()));
        bool unfusedProven = Meets(alone.Sum(c => c.Lower), uRep.Cycles);

        // 2. Every class of every layer, bounded by its cycle floor: the latency search's root bound of the class problem, whose
        //    counts leave out what fusion removes (cycles are integers, so it is rounded up). Fusion lowers cycles, so the
        //    layer's own optimum bounds nothing here.
        limits.Progress?.Phase("listing and bounding the classes of partial mappings");
        var floors = new Dictionary<string, double>();
        var layers = ListClasses((i, job) =>
        {
            if (job.InKey is null && job.OutKey is null) return alone[i];
            if (stop()) return null;
            var c = new ClassState(i, job);
            var key = ShapeKeyOf(i, job);
            if (!_p.ReuseSameShapes || !floors.TryGetValue(key, out var floor))
                floors[key] = floor = Math.Ceiling(new TilingSearch(LatencyProblem(c), prune: true, seed: false).PlanCycleFloor(_classLimits()));
            c.Lower = floor;
            ShapeResult? known;
            lock (_shapes) known = _p.ReuseSameShapes ? _shapes.GetValueOrDefault(key) : null;
            if (known is not null)
            {
                c.Member = Adopt(known, i, job);
                c.Lower = Math.Max(c.Lower, known.Lower);
                c.Searched = known.Exact;
            }
            return c;
        }, c => double.IsPositiveInfinity(c.Lower));
        if (layers is null)
            return new FusionResult(SolveStatus.Feasible, uMap, uRep, uRep.Cycles, uMap, uRep, sw.Elapsed, [], [],
                "stopped while listing the classes of partial mappings; the answer is the best unfused mapping")
            { UnfusedProven = unfusedProven };

        // The template's partial mappings are members of the same classes: each class starts from its fastest template member,
        // so the answer is never worse than the template's optimum and the ceilings start tighter.
        if (!stop() && _p.SeedFromTemplate)
        {
            limits.Progress?.Phase("the template's partial mappings (the starting members)");
            if (Join(fuse: true, stop, out _, out var template) is not null)
                for (int i = 0; i < n; i++)
                    foreach (var c in layers[i])
                    {
                        var best = template[i].Where(p => (p.InKey ?? DramKey) == c.InKey && (p.OutKey ?? DramKey) == c.OutKey)
                            .OrderBy(p => p.Cycles).ThenBy(p => p.Energy).FirstOrDefault();
                        if (best is not null && (c.Member is null || Faster(best, c.Member))) c.Member = best;
                    }
        }

        // 3. Branch and bound over the join, in cycles: the class on the least total of bounds is searched next, under the
        //    ceiling the best total known leaves it, until no unsearched class could improve on that total.
        int searched = 0;
        while (!stop() && NextClass(layers, p => p.Cycles) is var (next, ceiling) && next is not null)
        {
            limits.Progress?.Phase($"exact latency search of class {++searched} ({w.Layers[next.Layer].Name}, shared [{SharedText(next.Job.Shared)}])");
            Search(next, ceiling, stop, seedWithDescent: false);
        }

        // 4. The join of the members (least total cycles), and its proof: the join of the classes' bounds.
        var survivors = layers.Select(l => (IReadOnlyList<FusionPartial>)l.Where(c => c.Member is not null).Select((c, k) => c.Member! with { Order = k }).ToList()).ToList();
        var (fMap, fRep) = Recheck(Assemble(FastestChain(layers)));
        double value = fRep.Cycles;
        var keysAfter = Forward(layers, c => c.Lower);
        double bound = keysAfter[n].GetValueOrDefault(DramKey, double.PositiveInfinity);
        bool proven = Meets(bound, value);
        var stats = layers.Select((l, i) => new FusionLayerStats(w.Layers[i].Name, l.Sum(c => c.Nodes), l.Count(c => c.Member is not null), l.Count(c => c.Searched),
            keysAfter[i + 1].Count, l.Count)).ToList();
        return new FusionResult(proven ? SolveStatus.Optimal : SolveStatus.Feasible, fMap, fRep, value, uMap, uRep, sw.Elapsed, stats, survivors,
            proven ? null : "stopped before every class of partial mappings that could improve on the answer was searched to the end; the bound is the join of the classes' lower bounds")
        { Bound = proven ? value : Math.Min(value, bound), UnfusedProven = unfusedProven };
    }

    /// <summary>
    /// The chain of members of least total cycles and, among those, least total energy (of the members known: each class's
    /// member has its least cycles, not necessarily the least energy at them); ties: the first class in each layer's order.
    /// </summary>
    private static List<FusionPartial> FastestChain(List<List<ClassState>> layers)
    {
        int n = layers.Count;
        static bool Less((long C, double E) a, (long C, double E) b) => a.C < b.C || (a.C == b.C && a.E < b.E * (1 - 1e-12));
        var after = new Dictionary<string, (long C, double E)>[n + 1];
        after[n] = new() { [DramKey] = (0, 0) };
        for (int i = n - 1; i >= 0; i--)
        {
            after[i] = [];
            foreach (var c in layers[i])
            {
                if (c.Member is not { } m || !after[i + 1].TryGetValue(c.OutKey, out var rest)) continue;
                var total = (m.Cycles + rest.C, m.Energy + rest.E);
                if (!after[i].TryGetValue(c.InKey, out var known) || Less(total, known)) after[i][c.InKey] = total;
            }
        }
        var chain = new List<FusionPartial>();
        string key = DramKey;
        for (int i = 0; i < n; i++)
        {
            ClassState? pick = null;
            (long C, double E) least = (long.MaxValue, double.PositiveInfinity);
            foreach (var c in layers[i])
            {
                if (c.InKey != key || c.Member is not { } m || !after[i + 1].TryGetValue(c.OutKey, out var rest)) continue;
                var total = (m.Cycles + rest.C, m.Energy + rest.E);
                if (pick is null || Less(total, least)) (pick, least) = (c, total);
            }
            chain.Add(pick!.Member!);
            key = pick.OutKey;
        }
        return chain;
    }

    /// <summary>True when a member has fewer fused cycles than another, or as many and less energy.</summary>
    private static bool Faster(FusionPartial a, FusionPartial b) => a.Cycles < b.Cycles || (a.Cycles == b.Cycles && a.Energy < b.Energy * (1 - 1e-12));

    /// <summary>A class as a single-layer latency problem on its fused cycles (the counts fusion removes take no bandwidth).</summary>
    private MapProblem LatencyProblem(ClassState c)
        => ClassProblem(c) with { Objective = Objective.Latency, Weighted = c.Job.Held.Count == 0 ? null : new WeightedCycles(0, c.Job.Held) };
}
