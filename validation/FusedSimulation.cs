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
    /// <summary>A pipelined group's schedule as the simulator ran it (docs/fusion.md, "Pipelined latency"); null for a sequential group.</summary>
    public PipelineRun? Pipeline { get; init; }
    /// <summary>The group's first layer (its index in the workload).</summary>
    public int First { get; init; }

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
            var name = string.Join(" -> ", Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name));
            result.Add(new FusedGroupSimulation(name, level, iterations, steps, prologue)
            {
                First = g.First,
                Pipeline = g.Pipelined ? RunPipeline(w, arch, fm, g, plans, holds, steps, iterations) : null,
            });
        }
        return result;
    }

    /// <summary>
    /// Runs a pipelined group step by step (docs/fusion.md, "Pipelined latency"): in each step, every member whose previous
    /// iteration is done and whose next one every earlier member has finished runs it (checking the held tiles it reads
    /// are in their fusion level, written in an earlier step); a held tensor's tile enters its fusion level when its first
    /// toucher starts it and leaves when its last reader finishes it. A step takes, over the resources, the largest of the
    /// running members' summed demands of one iteration, from each member's whole run simulated (its counts less what
    /// fusion removes, <see cref="FusionCost.Removal"/>); a level holds the running members' simulated tiles (held tensors
    /// apart) and every held tile in it, the tile words the simulated iterations show at the fusion level.
    /// </summary>
    private static PipelineRun RunPipeline(Workload w, Architecture arch, FusedMapping fm, FusedGroup g, IReadOnlyList<MemberPlan> plans,
        IReadOnlyList<(IReadOnlyList<HeldTensor> Held, IReadOnlyDictionary<int, long> Reserved)> holds, IReadOnlyList<FusedStep> slices, long iterations)
    {
        int members = g.Count;
        var demand = new List<long[]>();
        var own = new List<long[]>();
        for (int k = 0; k < members; k++)
        {
            var whole = Simulator.Run(plans[k].Einsum, arch, fm.Layers[g.First + k]);
            var held = holds[k].Held;
            var counts = new List<(int, long, long)>();
            foreach (var t in whole.Tensors)
            {
                var (all, fills) = FusionCost.Removal(held, t.LevelIndex, t.Tensor);
                if (!all) counts.Add((t.LevelIndex, t.Reads, checked((fills ? 0 : t.Fills) + t.Updates)));
            }
            demand.Add(PipelineSchedule.Demand(arch, whole.ComputeCycles, counts));
            var words = new long[arch.Levels.Count];
            foreach (var t in whole.Tensors.Where(t => !held.Any(h => h.Tensor == t.Tensor && h.Level == t.LevelIndex)))
                words[t.LevelIndex] = checked(words[t.LevelIndex] + t.TileWords);
            own.Add(words);
        }
        // Each held tensor: its first and last toucher, its level, and its tile as the simulated iterations hold it there.
        var tensors = holds.SelectMany((h, k) => h.Held.Select(x => (x.Tensor, x.Level, Member: k))).GroupBy(x => x.Tensor)
            .Select(x => (Tensor: x.Key, Level: x.First().Level, First: x.Min(y => y.Member), Last: x.Max(y => y.Member),
                Words: x.Max(y => slices[y.Member].Report.Find(y.Level, x.Key)?.TileWords ?? 0))).ToList();
        var inLevel = tensors.Select(_ => new HashSet<long>()).ToList();
        var done = new long[members];
        var runs = new List<PipelineRunStep>();
        Int128 total = 0;
        var most = new long[arch.Levels.Count];
        for (long step = 0; done[members - 1] < iterations; step++)
        {
            var running = Enumerable.Range(0, members).Where(m => done[m] < iterations && (m == 0 || done[m - 1] > done[m])).ToList();
            if (running.Count == 0) throw new InvalidOperationException($"The pipeline of {w.Layers[g.First].Name}.. stalls at step {step}; this is a bug.");
            foreach (var m in running)
                for (int t = 0; t < tensors.Count; t++)
                {
                    if (tensors[t].First == m) inLevel[t].Add(done[m]);
                    else if (holds[m].Held.Any(h => h.Tensor == tensors[t].Tensor) && !inLevel[t].Contains(done[m]))
                        throw new InvalidOperationException($"Step {step}: {w.Layers[g.First + m].Name} reads tile {done[m]} of {tensors[t].Tensor} before it is written; this is a bug.");
                }
            var words = new long[arch.Levels.Count];
            foreach (var m in running) for (int l = 0; l < words.Length; l++) words[l] = checked(words[l] + own[m][l]);
            for (int t = 0; t < tensors.Count; t++) words[tensors[t].Level] = checked(words[tensors[t].Level] + inLevel[t].Count * tensors[t].Words);
            for (int l = 0; l < words.Length; l++) most[l] = Math.Max(most[l], words[l]);
            long stepDemand = PipelineSchedule.StepDemand(running.Select(m => demand[m]).ToList(), 0, running.Count - 1);
            total += stepDemand;
            if (runs.Count > 0 && runs[^1].Running.SequenceEqual(running) && runs[^1].Words.SequenceEqual(words))
                runs[^1] = runs[^1] with { Steps = runs[^1].Steps + 1 };
            else runs.Add(new PipelineRunStep(step, 1, running, running.Select(m => done[m]).ToList(), stepDemand, words));
            foreach (var m in running) done[m]++;
            for (int t = 0; t < tensors.Count; t++)
                if (running.Contains(tensors[t].Last)) inLevel[t].Remove(done[tensors[t].Last] - 1);
        }
        long cycles = (long)((total + iterations - 1) / iterations);
        return new PipelineRun(cycles, runs, most, arch.Levels.Select(l => l.Capacity ?? long.MaxValue).ToList());
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

/// <summary>Consecutive steps of a simulated pipeline with the same members running and the same words held: the first step, how many, the members (indices in the group) and the iteration each starts with, one step's demand times the iterations, and the words each level holds.</summary>
public sealed record PipelineRunStep(long Step, long Steps, IReadOnlyList<int> Running, IReadOnlyList<long> Iterations, long Demand, IReadOnlyList<long> Words);

/// <summary>A pipelined group as the simulator ran it: its cycles, its steps, and the most words each level held against its capacity.</summary>
public sealed record PipelineRun(long Cycles, IReadOnlyList<PipelineRunStep> Runs, IReadOnlyList<long> MostWords, IReadOnlyList<long> Capacity)
{
    /// <summary>The levels (indices) that held more than their capacity in some step.</summary>
    public IEnumerable<int> Overfull => MostWords.Select((x, l) => (x, l)).Where(p => p.x > Capacity[p.l]).Select(p => p.l);
}
