using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>Pipelined fused groups (docs/fusion.md, "Pipelined latency"): the schedule, the search against brute force, the simulator.</summary>
[TestClass]
public sealed class FusionPipelineTests
{
    private static Einsum Conv(string name, int p, int r, int stride, string input, string output, int c = 2, int k = 2)
        => Layers.Conv1d(name, c: c, k: k, p: p, r: r, stride: stride, inputs: input, weights: $"{name}_w", outputs: output);

    /// <summary>A chain of GEMMs T{i+1}[M, sizes[i+1]] = T{i}[M, sizes[i]] x W{i}.</summary>
    internal static Workload Gemms(int m, params int[] sizes)
        => new("gemms", "a GEMM chain", sizes.Skip(1).Select((n, i) => Layers.Gemm($"g{i}", m, n, sizes[i], a: $"T{i}", b: $"W{i}", z: $"T{i + 1}")).ToList());

    private static Workload ConvChain2() => new("chain2", "conv -> conv", [Conv("c0", 14, 3, 1, "X", "Y0", c: 1), Conv("c1", 12, 3, 1, "Y0", "Y1")]);

    private static Workload ConvChain3() => new("chain3", "conv -> conv -> conv",
        [Conv("c0", 16, 3, 1, "X", "Y0", c: 1), Conv("c1", 14, 3, 1, "Y0", "Y1"), Conv("c2", 12, 3, 1, "Y1", "Y2")]);

    /// <summary>DRAM whose reads and writes are separate ports with small bandwidths, so that members bound by different resources gain from overlapping.</summary>
    private static Architecture Arch(long buffer, int dramRead, int dramWrite, bool fanout = true, int macsPerCycle = 1)
        => new("tiny", "small", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: dramRead, writeBandwidth: dramWrite),
            new StorageLevel("Buffer", buffer, 16, 5, 6, fanout: fanout ? new Fanout(2, 1) : null),
            new StorageLevel("Reg", 8, 16, 1, 1),
        ], new ComputeUnit(0.5, macsPerCycle));

    internal static IEnumerable<(Workload W, Architecture A)> Cases()
    {
        // g0 is bound by DRAM reads (its input and weights), g1 by compute and DRAM writes: they gain from overlapping.
        yield return (Gemms(4, 8, 2, 8), Arch(128, 1, 1));
        yield return (Gemms(4, 4, 4, 2), Arch(96, 1, 1));
        yield return (Gemms(4, 8, 2, 2, 8), Arch(96, 1, 1, fanout: false, macsPerCycle: 2));
        // Convolutions with halos on fast compute: the first bound by reading its input, the last by writing its output.
        yield return (ConvChain2(), Arch(96, 1, 1, fanout: false, macsPerCycle: 16));
        yield return (ConvChain3(), Arch(128, 1, 1, fanout: false, macsPerCycle: 16));
    }

    /// <summary>The schedule's steps enumerated one by one: each step's active members, their summed demands, the largest.</summary>
    private static long StepByStep(IReadOnlyList<long[]> d, long f)
    {
        long total = 0;
        for (long k = 0; k < f + d.Count - 1; k++)
            total += Enumerable.Range(0, d[0].Length).Max(r => Enumerable.Range(0, d.Count).Where(m => k - m >= 0 && k - m < f).Sum(m => d[m][r]));
        return (total + f - 1) / f;
    }

    [TestMethod]
    public void ScheduleCyclesAreFillSteadyStateAndDrain()
    {
        // Worked by hand: a compute-bound member (4, 1) then a bandwidth-bound one (1, 4) over 2 iterations: steps take
        // 4/2, (4+1 | 1+4)/2 = 5/2, 4/2, so 13/2 = 6.5 -> 7 cycles, where one after the other takes 4 + 4 = 8.
        Assert.AreEqual(7, PipelineSchedule.Cycles([[4, 1], [1, 4]], 2));
        // One iteration is the sequential schedule; one member is its own cycles.
        Assert.AreEqual(8, PipelineSchedule.Cycles([[4, 1], [1, 4]], 1));
        Assert.AreEqual(5, PipelineSchedule.Cycles([[5, 3]], 7));
        var rng = new Random(3);
        for (int t = 0; t < 300; t++)
        {
            int members = 1 + rng.Next(4), f = 1 + rng.Next(7);
            var d = Enumerable.Range(0, members).Select(_ => Enumerable.Range(0, 3).Select(_ => (long)rng.Next(40) * f).ToArray()).ToList();
            Assert.AreEqual(StepByStep(d, f), PipelineSchedule.Cycles(d, f), $"{members} members, {f} iterations");
            Assert.IsTrue(PipelineSchedule.Cycles(d, f) <= d.Sum(x => x.Max()), "a pipeline is never slower than one member after the other");
        }
        // Held tiles in flight: a chain edge holds two tiles in its steady state (double-buffered), an edge skipping a member three.
        Assert.AreEqual(2, PipelineSchedule.AliveTiles(0, 1, 3, 8));
        Assert.AreEqual(3, PipelineSchedule.AliveTiles(0, 2, 3, 8));
        Assert.AreEqual(1, PipelineSchedule.AliveTiles(0, 1, 0, 8));
        Assert.AreEqual(1, PipelineSchedule.AliveTiles(0, 1, 8, 8));
    }

    [TestMethod]
    public void PipelinedOptimumEqualsBruteForce()
    {
        int pipelinedWins = 0;
        foreach (var (w, a) in Cases())
            foreach (var o in new[] { Objective.Latency, Objective.Edp })
            {
                // Over the template (EDP alone searches the full mapspace for sequential groups, docs/fusion.md).
                var search = new FusionSearch(new FusionProblem(w, a, o, Pipeline: true, TemplateOnly: true));
                var r = search.Solve(SearchLimits.None);
                var (brute, bruteBest, count) = search.BruteForce();
                Assert.AreEqual(SolveStatus.Optimal, r.Status);
                Assert.IsNotNull(brute, $"{w.Name}: brute force found nothing over {count} fused mappings");
                var sequential = new FusionSearch(new FusionProblem(w, a, o, TemplateOnly: true)).Solve(SearchLimits.None).Best!.Value;
                Console.WriteLine($"{w.Name}, {o}: {count} fused mappings enumerated; pipelined optimum {bruteBest:G6}, sequential {sequential:G6}, " +
                                  $"answer {string.Join(" | ", r.Mapping!.Groups.Select(g => $"{g.First}..{g.Last}{(g.Pipelined ? " pipelined" : "")}"))}");
                Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}, {o}: search {r.Best} vs brute force {bruteBest} over {count}");
                Assert.IsTrue(r.Best <= sequential * (1 + 1e-9), "the pipelined space contains the sequential one");
                if (r.Best < sequential * (1 - 1e-9))
                {
                    pipelinedWins++;
                    Assert.IsTrue(r.Mapping.Groups.Any(g => g.Pipelined), "a gain over the sequential optimum comes from a pipelined group");
                }
            }
        Assert.IsTrue(pipelinedWins >= 2, $"pipelining beat the sequential optimum on {pipelinedWins} case(s) only, so the comparison tested little");
    }

    [TestMethod]
    public void PipelinedLatencyOverTheFullMapspaceEqualsBruteForce()
    {
        int pipelinedWins = 0, belowTemplate = 0;
        foreach (var (w, a) in Cases())
        {
            var p = new FusionProblem(w, a, Objective.Latency, Pipeline: true);
            Assert.IsTrue(p.FullMapspace);
            // Every partition, held set and shared loops; each pipelined member's mappings every mapping of its whole class not
            // beaten or tied on energy, every demand and every level's words by another (sequential ones: energy and cycles).
            var (brute, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            Assert.IsNotNull(brute, $"{w.Name}: brute force found nothing over {count} fused mappings");
            var template = new FusionSearch(p with { TemplateOnly = true }).Solve(SearchLimits.None).Best!.Value;
            var sequential = new FusionSearch(new FusionProblem(w, a, Objective.Latency)).Solve(SearchLimits.None).Best!.Value;
            // With the template's starting members, and without them (the classes' and groups' bounds alone decide what is searched).
            foreach (bool seed in new[] { true, false })
            {
                var r = new FusionSearch(p with { SeedFromTemplate = seed }).Solve(SearchLimits.None);
                Console.WriteLine($"{w.Name}, seeded {seed}: {count} fused mappings enumerated; optimum {bruteBest}, template's pipelined optimum {template}, " +
                                  $"sequential over the full mapspace {sequential}; answer {string.Join(" | ", r.Mapping!.Groups.Select(g => $"{g.First}..{g.Last}{(g.Pipelined ? " pipelined" : "")}"))}");
                Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name}: {r.Explanation}");
                Assert.AreEqual(bruteBest, r.Best!.Value, 0.5, $"{w.Name}, seeded {seed}: search {r.Best} vs brute force {bruteBest} over {count}");
                Assert.IsTrue(r.Best <= template, "the template's mappings are members of the same classes");
                Assert.IsTrue(r.Best <= sequential, "the pipelined space contains the sequential one");
                if (r.Best < sequential)
                {
                    pipelinedWins++;
                    Assert.IsTrue(r.Mapping.Groups.Any(g => g.Pipelined), "a gain over the sequential optimum comes from a pipelined group");
                }
                if (r.Best < template) belowTemplate++;
            }
        }
        Assert.IsTrue(pipelinedWins >= 2, $"pipelining beat the sequential optimum on {pipelinedWins} run(s) only, so the comparison tested little");
        Assert.IsTrue(belowTemplate >= 2, $"the full mapspace beat the template's pipelined optimum on {belowTemplate} run(s) only");
    }

    [TestMethod]
    public void AStopWhileListingPipelinedGroupsKeepsTheBestFoundAndAValidBound()
    {
        // The listing stopped after 0, 1, 2 and 4 groups (PipelineListingStop, as a time limit would, deterministically): the
        // groups not listed are open chains bounded by 0. The answer is the best of what was searched (never worse than the
        // full mapspace's sequential optimum, which the search still reaches), and the bound stays at or below the brute
        // force's optimum (without the open chains, it would be the sequential optimum, above it where pipelining pays).
        int belowSequential = 0;
        foreach (var (w, a) in Cases())
        {
            var p = new FusionProblem(w, a, Objective.Latency, Pipeline: true);
            var (_, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            var sequential = new FusionSearch(new FusionProblem(w, a, Objective.Latency)).Solve(SearchLimits.None).Best!.Value;
            if (bruteBest < sequential) belowSequential++;
            foreach (int listed in new[] { 0, 1, 2, 4 })
            {
                var r = new FusionSearch(p with { PipelineListingStop = listed }).Solve(SearchLimits.None);
                Console.WriteLine($"{w.Name}, {listed} listed: {r.Status} {r.Best} (bound {r.Bound}), optimum {bruteBest} over {count}, sequential {sequential}");
                Assert.IsNotNull(r.Mapping, $"{w.Name}: {r.Explanation}");
                Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count, "the answer is a valid fused mapping");
                Assert.IsTrue(r.Best >= bruteBest - 0.5, $"{w.Name}: {r.Best} below the brute force's optimum {bruteBest}");
                Assert.IsTrue(r.Best <= sequential + 0.5, $"{w.Name}, {listed} listed: {r.Best} above the sequential optimum {sequential}");
                Assert.IsNotNull(r.Bound, $"{w.Name}: a stopped listing keeps a bound");
                Assert.IsTrue(r.Bound <= bruteBest + 0.5, $"{w.Name}, {listed} listed: bound {r.Bound} above the optimum {bruteBest}");
                if (r.Status == SolveStatus.Optimal) Assert.AreEqual(bruteBest, r.Best!.Value, 0.5, $"{w.Name}: OPTIMAL only when it is");
            }
        }
        Assert.IsTrue(belowSequential >= 2, $"pipelining beat the sequential optimum on {belowSequential} case(s) only, so the bound was tested little");
    }

    [TestMethod]
    public void PipelinedGroupFloorsAreLowerBounds()
    {
        // Every member class enumerated up to 1 mapping only (PipelineVisitCap), so no pipelined group is complete and each
        // keeps its floor (PipelineFloor) as its bound: the join of the bounds must stay at or below the brute force's optimum,
        // and OPTIMAL only at it. Where a pipelined group is the optimum, its floor is what the bound rests on.
        foreach (var (w, a) in Cases())
        {
            var p = new FusionProblem(w, a, Objective.Latency, Pipeline: true);
            var (_, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            foreach (bool seed in new[] { true, false })
            {
                var r = new FusionSearch(p with { PipelineVisitCap = 1, SeedFromTemplate = seed }).Solve(SearchLimits.None);
                Console.WriteLine($"{w.Name}, seeded {seed}: {r.Status} {r.Best} (bound {r.Bound}), optimum {bruteBest} over {count}");
                Assert.IsNotNull(r.Bound, $"{w.Name}: {r.Explanation}");
                Assert.IsTrue(r.Bound <= bruteBest + 0.5, $"{w.Name}, seeded {seed}: bound {r.Bound} above the optimum {bruteBest}");
                Assert.IsTrue(r.Best >= bruteBest - 0.5, $"{w.Name}: {r.Best} below the optimum {bruteBest}");
                if (r.Status == SolveStatus.Optimal) Assert.AreEqual(bruteBest, r.Best!.Value, 0.5, $"{w.Name}: OPTIMAL only when it is");
            }
        }
    }

    /// <summary>
    /// Every pipelined group's floor (the schedule's own cycles over its members' floor vectors, PipelineFloor) against the
    /// group's least cycles by brute force (every combination of its members' mappings, checked and costed): never above, and
    /// tight on groups where the fill and drain steps decide. Fails when the floor's part above the steady state's (the
    /// largest class floor, or the compute floors summed) is scaled up by 1.3: on the 2-GEMM chain the floor meets the
    /// group's least cycles only with that part.
    /// </summary>
    [TestMethod]
    public void PipelinedGroupFloorsMeetTheGroupsLeastCyclesWhereFillAndDrainDecide()
    {
        int tightByFillAndDrain = 0;
        foreach (var (w, g, floor, steady, _, _, least) in EveryPipelinedGroupsFloors())
        {
            Console.WriteLine($"{w.Name} ({w.Layers.Count} layers) {g.First}..{g.Last} holding {string.Join(",", g.Held)}: floor {floor} (steady state {steady}), " +
                              $"least {(least == long.MaxValue ? "none valid" : least)}");
            Assert.IsTrue(floor <= least, $"{w.Name} {g.First}..{g.Last}: floor {floor} above the group's least cycles {least}");
            if (floor == least && floor > steady) tightByFillAndDrain++;
        }
        Assert.IsTrue(tightByFillAndDrain >= 1, "no group whose floor is tight only by its fill and drain steps, so the test tests little");
    }

    /// <summary>
    /// The floors that need no class of the group itself, against every pipelined group's least cycles by brute force on the
    /// same chains: the listing's first floor (<c>PipelineFloor</c> over each member's layer's least sequential cycle floor: a
    /// member's own cycles are its sequential twin's) and the open chain's floor of its layers (<c>OpenRunFloor</c>: the
    /// steady state over the same vectors, whatever the shared iterations), what a listing stopped by the time limit leaves
    /// the groups it did not list. Never above; the open floor meets some group's least (so the bound of a stopped listing
    /// is as high as it can be there). Fails when the open floor is scaled up by 1.3 (83.2 above 72 on the 2-GEMM chain), and
    /// when the least sequential floors are (the listing's first floor, 85 above 72).
    /// </summary>
    [TestMethod]
    public void FloorsFromTheLayersSequentialClassesAreBelowEveryPipelinedGroup()
    {
        int tight = 0;
        foreach (var (w, g, _, _, twin, open, least) in EveryPipelinedGroupsFloors())
        {
            Console.WriteLine($"{w.Name} {g.First}..{g.Last} holding {string.Join(",", g.Held)}: twin floor {twin}, open floor {open}, " +
                              $"least {(least == long.MaxValue ? "none valid" : least)}");
            Assert.IsTrue(open > 0, $"{w.Name} {g.First}..{g.Last}: the open floor is 0");
            Assert.IsTrue(open <= least, $"{w.Name} {g.First}..{g.Last}: the open floor {open} above the group's least cycles {least}");
            Assert.IsTrue(open <= twin, $"{w.Name} {g.First}..{g.Last}: the open floor {open} above the twin floor {twin} (the steady state is a part of it)");
            Assert.IsTrue(twin <= least, $"{w.Name} {g.First}..{g.Last}: the floor from the sequential classes {twin} above the group's least cycles {least}");
            if (open == least) tight++;
        }
        Assert.IsTrue(tight >= 1, "no group whose least cycles the open floor meets, so the test tests little");
    }

    /// <summary>Every pipelined group of every case with its floors and its least cycles by brute force (<c>PipelineFloorsAndLeast</c>, inside the sequential latency optimum's unfused mapping).</summary>
    private static IEnumerable<(Workload Workload, FusedGroup Group, double Floor, double Steady, double Twin, double Open, long Least)> EveryPipelinedGroupsFloors()
    {
        foreach (var (w, a) in Cases())
        {
            var unfused = new FusionSearch(new FusionProblem(w, a, Objective.Latency)).Solve(SearchLimits.None).Unfused!;
            foreach (var (g, floor, steady, twin, open, least) in new FusionSearch(new FusionProblem(w, a, Objective.Latency, Pipeline: true)).PipelineFloorsAndLeast(unfused))
                yield return (w, g, floor, steady, twin, open, least);
        }
    }

    [TestMethod]
    public void SimulatorRunsTheModelsSchedule()
    {
        int groups = 0;
        foreach (var (w, a) in Cases())
        {
            var r = new FusionSearch(new FusionProblem(w, a, Objective.Latency, Pipeline: true)).Solve(SearchLimits.None);
            var fm = r.Mapping!;
            // The answer and the same groups all pipelined (where legal), each simulated.
            var all = new FusedMapping(fm.Groups.Select(g => g.SharedLoops > 0 ? g.AsPipelined() : g), fm.Layers);
            foreach (var m in new[] { fm, all }.Where(m => FusionChecker.Check(w, a, m).Count == 0))
            {
                var rep = FusionCost.Evaluate(w, a, m);
                foreach (var gs in FusedSimulation.Run(w, a, m).Where(x => x.Pipeline is not null))
                {
                    int index = m.Groups.ToList().FindIndex(g => g.First == gs.First);
                    var g = m.Groups[index];
                    var run = gs.Pipeline!;
                    Assert.AreEqual(rep.GroupCycles[index], run.Cycles, $"{w.Name}: the simulated pipeline's cycles");
                    Assert.AreEqual(gs.Iterations + g.Count - 1, run.Runs.Sum(x => x.Steps), "steps: fill, steady state, drain");
                    Assert.IsFalse(run.Overfull.Any(), "a valid pipelined group fits every step");
                    // The words the simulator finds in every step are those the checker's rule counts.
                    var plans = FusionRules.MemberPlans(w, g, m.SharedOf(g));
                    var holds = FusionRules.MemberHolds(w, a, g, m.SharedOf(g));
                    var own = plans.Select((p, k) => PipelineSchedule.OwnWords(p.Einsum, m.Layers[g.First + k], holds[k].Held)).ToList();
                    var held = FusionRules.PipelineHeld(w, a, g, plans);
                    foreach (var step in run.Runs)
                        CollectionAssert.AreEqual(PipelineSchedule.StepWords(a, own, held, step.Running[0], step.Running[^1], step.Step, gs.Iterations).Select(x => x.Words).ToList(),
                            step.Words.ToList(), $"{w.Name}: words in step {step.Step}");
                    groups++;
                }
            }
        }
        Assert.IsTrue(groups >= 3, $"only {groups} pipelined group(s) simulated");
    }

    [TestMethod]
    public void PipelinedSpecRoundTripsAndItsCapacityRuleIsChecked()
    {
        var w = ConvChain3();
        var a = Arch(128, 1, 1, fanout: false, macsPerCycle: 16);
        var r = new FusionSearch(new FusionProblem(w, a, Objective.Latency, Pipeline: true)).Solve(SearchLimits.None);
        var text = Formulation.Specs.FusedMappingSpec.Write(w, a, r.Mapping!);
        var back = Formulation.Specs.FusedMappingSpec.Parse(text, "answer.yaml", w, a);
        CollectionAssert.AreEqual(r.Mapping!.Groups.Select(g => g.Pipelined).ToList(), back.Groups.Select(g => g.Pipelined).ToList());
        Assert.AreEqual(r.Report!.Cycles, FusionCost.Evaluate(w, a, back).Cycles);
        // The same mapping on a buffer too small for the steady state (every member's tiles and two held tiles): the rule
        // reports it, and the sequential schedule of the same mapping (one member at a time) is still valid.
        var g = r.Mapping!.Groups.FirstOrDefault(x => x.Pipelined);
        Assert.IsNotNull(g, "the latency optimum of this chain is pipelined");
        var plans = FusionRules.MemberPlans(w, g, r.Mapping.SharedOf(g));
        var holds = FusionRules.MemberHolds(w, a, g, r.Mapping.SharedOf(g));
        var own = plans.Select((p, k) => PipelineSchedule.OwnWords(p.Einsum, r.Mapping.Layers[g.First + k], holds[k].Held)).ToList();
        long f = FusionRules.Iterations(g, r.Mapping.SharedOf(g));
        long steady = PipelineSchedule.Runs(g.Count, f).Max(x => PipelineSchedule.StepWords(a, own, FusionRules.PipelineHeld(w, a, g, plans), x.First, x.Last, x.Step, f).ElementAt(1).Words);
        var sequentialPeak = Enumerable.Range(0, g.Count).Max(k => own[k][1] + FusionRules.PipelineHeld(w, a, g, plans).Sum(h => h.Words));
        Console.WriteLine($"pipeline peak {steady} words in the buffer, one member at a time at most {sequentialPeak}");
        // The case is chosen so that the pipeline's steady state needs more than any member alone: a buffer in between tells them apart.
        Assert.IsGreaterThanOrEqualTo(sequentialPeak, steady - 1, "the pipeline needs more than one member at a time here");
        var small = new Architecture(a.Name, "", [a.Levels[0], new StorageLevel("Buffer", steady - 1, 16, 5, 6), a.Levels[2]], a.Compute);
        var v = FusionChecker.Check(w, small, r.Mapping);
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.Pipeline), "a pipeline above the buffer's capacity in some step is reported");
        var sequential = new FusedMapping(r.Mapping.Groups.Select(x => new FusedGroup(x.First, x.Last, x.SharedLoops, x.Held)), r.Mapping.Layers);
        Assert.AreEqual(0, FusionChecker.Check(w, small, sequential).Count, "the sequential schedule needs less");
    }
    /// <summary>
    /// `fuse --csv` says what a pipelined group costs: a `group (pipelined)` row whose cycles are the schedule's (below the
    /// sum of its layers' own cycles), and the total's cycles are the sum of the group rows' and the single layers'.
    /// Fails when the group rows are left out (the layers' rows alone add up to more than the total).
    /// </summary>
    [TestMethod]
    public void TheCsvRowsOfAPipelinedGroupAddUpToTheTotal()
    {
        var w = ConvChain3();
        var a = Arch(128, 1, 1, fanout: false, macsPerCycle: 16);
        var r = new FusionSearch(new FusionProblem(w, a, Objective.Latency, Pipeline: true)).Solve(SearchLimits.None);
        var rows = Optimizer.Cli.FuseCommand.Rows(w, r.Mapping!, r.Report!, null).ToList();
        var groups = rows.Where(x => x.Level.StartsWith("group", StringComparison.Ordinal)).ToList();
        var pipelined = groups.Where(x => x.Level == "group (pipelined)").ToList();
        Assert.IsNotEmpty(pipelined, "the latency optimum of this chain is pipelined");
        var layerTotals = rows.Where(x => x.Level == "total").ToDictionary(x => x.Layer, x => x.Cycles!.Value);
        foreach (var g in pipelined)
            Assert.IsLessThan(g.Layer.Split('+').Sum(l => layerTotals[l]), g.Cycles!.Value, $"{g.Layer}: overlapped, fewer cycles than its layers' sum");
        var inGroups = groups.SelectMany(x => x.Layer.Split('+')).ToHashSet();
        long summed = groups.Sum(x => x.Cycles!.Value) + layerTotals.Where(x => !inGroups.Contains(x.Key)).Sum(x => x.Value);
        Assert.AreEqual(rows.Single(x => x.Layer == "total").Cycles, summed);
        Assert.AreEqual(r.Report!.Cycles, summed);
    }
}
