using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Validation;

/// <summary>One layer's part of one shared iteration of a fused group, simulated.</summary>
public sealed record FusedStep(string Layer, SimReport Report, long IntermediateWrittenWords, long IntermediateReadWords, long HeldAtFusionLevel, long FusionLevelCapacity);

/// <summary>One fused group simulated as it runs: every member's part of one shared iteration, in order, repeated once per iteration.</summary>
/// <param name="Prologue">In a group that keeps halos, the prologues run once before the first iteration (each whole), in order.</param>
public sealed record FusedGroupSimulation(string Group, int FusionLevel, long Iterations, IReadOnlyList<FusedStep> Steps, IReadOnlyList<FusedStep>? Prologue = null)
{
    /// <summary>Cycles of the whole group: the prologues', then iterations times the members' cycles in one iteration.</summary>
    public long Cycles => checked((Prologue ?? []).Sum(s => s.Report.Cycles) + Iterations * Steps.Sum(s => s.Report.Cycles));
}

/// <summary>
/// Streams a fused group's held tensors through their fusion levels (docs/fusion.md, docs/simulator.md):
/// within one shared iteration, each member runs its own loops over its slice of the iteration space
/// (its bounds divided by the shared factors); a producer's updates fill a held tensor's tile in its level,
/// a loader fills it from DRAM, and later readers read it there; the iteration repeats for every value of
/// the shared loops. The words a member holds in the fusion level include the held tensors that live across it. In a
/// group that keeps halos, the producers' prologues run first (each whole) and each iteration computes only new rows.
/// </summary>
public static class FusedSimulation
{
    /// <summary>Simulates every group of two or more layers that holds a tensor, of a valid fused mapping.</summary>
    public static IReadOnlyList<FusedGroupSimulation> Run(Workload w, Architecture arch, FusedMapping fm)
    {
        var violations = FusionChecker.Check(w, arch, fm);
        if (violations.Count > 0)
            throw new ArgumentException($"The fused simulation runs valid fused mappings only; first violation: {violations[0].Message}", nameof(fm));
        var result = new List<FusedGroupSimulation>();
        foreach (var g in fm.Groups.Where(g => g.Count > 1))
        {
            var holds = FusionRules.MemberHolds(w, arch, g, fm.SharedOf(g));
            // A producer that computes its readers' halos runs its split Einsum: each iteration computes the rows they need.
            var plans = FusionRules.MemberPlans(w, g, fm.SharedOf(g));
            if (holds.All(h => h.Held.Count == 0)) continue;
            int level = holds.SelectMany(h => h.Held).Min(h => h.Level);
            long iterations = fm.Layers[g.First].Levels[0].Temporal.Take(g.SharedLoops).Aggregate(1L, (a, l) => checked(a * l.Factor));
            var steps = new List<FusedStep>();
            for (int i = g.First; i <= g.Last; i++)
            {
                var (slice, mapping) = Slice(plans[i - g.First].Einsum, fm.Layers[i], g.SharedLoops);
                var sim = Simulator.Run(slice, arch, mapping);
                var (held, reserved) = holds[i - g.First];
                var (written, read) = Moved(sim, held);
                long words = sim.Tensors.Where(t => t.LevelIndex == level).Sum(t => t.TileWords) + reserved.GetValueOrDefault(level);
                steps.Add(new FusedStep(w.Layers[i].Name, sim, written, read, words, arch.Levels[level].Capacity ?? long.MaxValue));
            }
            // Keep: each producer's prologue first, whole, its rows left in the fusion level for the first iteration.
            var prologueHolds = FusionRules.PrologueHolds(w, arch, g, plans);
            var prologue = new List<FusedStep>();
            for (int i = g.First; i <= g.Last; i++)
            {
                if (plans[i - g.First].Prologue is not { } pro || fm.Prologues[i] is not { } pm) continue;
                var sim = Simulator.Run(pro, arch, pm);
                var (held, reserved) = prologueHolds[i - g.First];
                var (written, read) = Moved(sim, held);
                long words = sim.Tensors.Where(t => t.LevelIndex == level).Sum(t => t.TileWords) + reserved.GetValueOrDefault(level);
                prologue.Add(new FusedStep(w.Layers[i].Name + " (prologue)", sim, written, read, words, arch.Levels[level].Capacity ?? long.MaxValue));
            }
            result.Add(new FusedGroupSimulation(string.Join(" -> ", Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name)), level, iterations, steps, prologue));
        }
        return result;
    }

    /// <summary>
    /// The words a member moves through the fusion levels of the held tensors it touches, in a simulated run: the
    /// updates of those it writes there, and the reads of those it loads or reads there.
    /// </summary>
    public static (long Written, long Read) Moved(SimReport sim, IReadOnlyList<HeldTensor> held)
        => (held.Where(h => h.Use == HeldUse.Writes).Sum(h => sim.Find(h.Level, h.Tensor)?.TotalUpdates ?? 0),
            held.Where(h => h.Use != HeldUse.Writes).Sum(h => sim.Find(h.Level, h.Tensor)?.TotalReads ?? 0));

    /// <summary>One shared iteration of a layer: its bounds divided by the shared factors, its mapping without the shared loops.</summary>
    private static (Einsum, Mapping) Slice(Einsum e, Mapping m, int sharedLoops)
    {
        var shared = m.Levels[0].Temporal.Take(sharedLoops).ToList();
        var ranks = e.Ranks.Select(r => new Rank(r.Id, r.Bound / shared.Where(l => l.Rank == r.Id).Aggregate(1, (a, l) => a * l.Factor)));
        var slice = new Einsum(e.Name, e.Kind, ranks, e.Tensors);
        var levels = m.Levels.Select((lm, l) => l == 0 ? new LevelMapping(lm.Temporal.Skip(sharedLoops), lm.Spatial, lm.Keep) : lm);
        return (slice, new Mapping(levels));
    }
}
