using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Validation;

/// <summary>One layer's part of one shared iteration of a fused group, simulated.</summary>
public sealed record FusedStep(string Layer, SimReport Report, long IntermediateWrittenWords, long IntermediateReadWords, long HeldAtFusionLevel, long FusionLevelCapacity);

/// <summary>One fused group simulated as it runs: every member's part of one shared iteration, in order, repeated once per iteration.</summary>
public sealed record FusedGroupSimulation(string Group, int FusionLevel, long Iterations, IReadOnlyList<FusedStep> Steps)
{
    /// <summary>Cycles of the whole group: iterations times the members' cycles in one iteration.</summary>
    public long Cycles => checked(Iterations * Steps.Sum(s => s.Report.Cycles));
}

/// <summary>
/// Streams a fused group's intermediates through the fusion level (docs/fusion.md, docs/simulator.md):
/// within one shared iteration, each member runs its own loops over its slice of the iteration space
/// (its bounds divided by the shared factors), the producer's updates fill the intermediate's tile in
/// the fusion level and the consumer reads it from there, with no DRAM traffic for it; the iteration
/// repeats for every value of the shared loops.
/// </summary>
public static class FusedSimulation
{
    /// <summary>Simulates every group of two or more layers of a valid fused mapping.</summary>
    public static IReadOnlyList<FusedGroupSimulation> Run(Workload w, Architecture arch, FusedMapping fm)
    {
        var violations = FusionChecker.Check(w, arch, fm);
        if (violations.Count > 0)
            throw new ArgumentException($"The fused simulation runs valid fused mappings only; first violation: {violations[0].Message}", nameof(fm));
        var result = new List<FusedGroupSimulation>();
        foreach (var g in fm.Groups.Where(g => g.Count > 1))
        {
            int level = FusionRules.IntermediateLevel(w, arch, g.First)!.Value;
            long iterations = fm.Layers[g.First].Levels[0].Temporal.Take(g.SharedLoops).Aggregate(1L, (a, l) => checked(a * l.Factor));
            var steps = new List<FusedStep>();
            for (int i = g.First; i <= g.Last; i++)
            {
                var (slice, mapping) = Slice(w.Layers[i], fm.Layers[i], g.SharedLoops);
                var sim = Simulator.Run(slice, arch, mapping);
                long written = i < g.Last ? sim.Find(level, w.Layers[i].Output.Id)?.TotalUpdates ?? 0 : 0;
                long read = i > g.First ? sim.Find(level, w.Layers[i - 1].Output.Id)?.TotalReads ?? 0 : 0;
                long held = sim.Tensors.Where(t => t.LevelIndex == level).Sum(t => t.TileWords);
                steps.Add(new FusedStep(w.Layers[i].Name, sim, written, read, held, arch.Levels[level].Capacity ?? long.MaxValue));
            }
            result.Add(new FusedGroupSimulation(string.Join(" -> ", Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name)), level, iterations, steps));
        }
        return result;
    }

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
