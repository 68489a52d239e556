using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// fuse --objective latency,energy over the full mapspace (docs/fusion.md, "Latency then energy over the full mapspace"):
/// the least cycles, then the least energy at them, against brute force over the full fused mapspace on chains, graphs with
/// branches and convolution chains fused over rows with halos.
/// </summary>
[TestClass]
public sealed class FusionLexicographicTests
{
    private static readonly Objective[] LatencyEnergy = [Objective.Latency, Objective.Energy];

    private static IEnumerable<(Workload W, Architecture A)> Cases()
    {
        var rng = new Random(31);
        // Chains of small GEMMs over slow DRAM links.
        foreach (var c in FusionTests.SmallCases().Where(c => c.O == Objective.Latency)) yield return (c.W, c.A);
        for (int i = 0; i < 3; i++) yield return (FusionTests.Chain(rng, 2, [2, 4]), FusionTests.TradeOffArch(rng));
        yield return (FusionTests.Chain(rng, 3, [2, 4]), FusionTests.SmallArch(rng, 24 + rng.Next(40), fanout: false));
        // Branches: one input read by three layers; a diamond.
        yield return (FusionGraphTests.ThreeReaders(rng), FusionGraphTests.SmallArch(rng, 40, fanout: false));
        yield return (FusionGraphTests.ThreeReaders(rng), FusionGraphTests.SmallArch(rng, 32, fanout: true));
        yield return (FusionGraphTests.Diamond(rng), FusionGraphTests.SmallArch(rng, 32, fanout: false));
        // Convolution chains fused over rows (halos recomputed), one with a branch.
        yield return (FusionHaloTests.Chain2(), FusionHaloTests.Arch(24, dramBandwidth: 1));
        yield return (FusionHaloTests.Chain3(), FusionHaloTests.Arch(40, dramBandwidth: 1));
        yield return (FusionHaloTests.Branch(), FusionHaloTests.Arch(32, dramBandwidth: 1));
        // A 1x1 stride-2 reader: its producer, split, computes only the rows it reads (fewer MACs, fewer cycles).
        yield return (Skip(third: false), FusionHaloTests.Arch(16, dramBandwidth: 1));
        yield return (Skip(third: true), FusionHaloTests.Arch(20, fanout: true, dramBandwidth: 1));
    }

    /// <summary>c0 (12 rows) -> c1 (1x1, stride 2: rows 0, 2, .., 10 of Y0), and with <paramref name="third"/> -> c2 (3 wide).</summary>
    private static Workload Skip(bool third)
    {
        var layers = new List<Einsum>
        {
            Layers.Conv1d("c0", c: 1, k: 2, p: 12, r: 3, stride: 1, inputs: "X", weights: "c0_w", outputs: "Y0"),
            Layers.Conv1d("c1", c: 2, k: 2, p: 6, r: 1, stride: 2, inputs: "Y0", weights: "c1_w", outputs: "Y1"),
        };
        if (third) layers.Add(Layers.Conv1d("c2", c: 2, k: 2, p: 4, r: 3, stride: 1, inputs: "Y1", weights: "c2_w", outputs: "Y2"));
        return new Workload(third ? "skip3" : "skip", "conv -> 1x1 stride 2" + (third ? " -> conv" : ""), layers);
    }

    // Equal to brute force over the full fused mapspace (every class's whole mapspace, its fused (energy, cycles) Pareto front,
    // the least of the whole fused mappings in the list's order), with and without the template's members to start from; the
    // same cycles as latency alone, never more energy and less on some case (so the second term was searched); never worse
    // than the template's list optimum; the unfused answer is every layer's own map --objective latency,energy optimum.
    // Checked: it fails when the tight classes' energy bounds are scaled by 1.3, and when a class's energy within the cap
    // counts the layer's own (unfused) cycles.
    [TestMethod]
    public void LatencyThenEnergyOverTheFullMapspaceEqualsBruteForce()
    {
        int decided = 0, fused = 0, graphs = 0, halos = 0;
        foreach (var (w, a) in Cases())
        {
            var p = new FusionProblem(w, a, Objective.Latency, MaxFusedLoops: 1) { Terms = LatencyEnergy };
            Assert.IsTrue(p.FullMapspace, "latency,energy searches the full mapspace");
            var search = new FusionSearch(p);
            var r = search.Solve(SearchLimits.None);
            var (brute, _, count) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name}: {r.Explanation}");
            Assert.IsNotNull(brute, $"{w.Name}: brute force found nothing over {count} fused mappings");
            var b = FusionCost.Evaluate(w, a, brute);
            var f = r.Report!;
            Console.WriteLine($"{w.Name}: {count} fused mappings; brute force {b.Cycles} cycles {b.Energy:G8} pJ, search {f.Cycles} {f.Energy:G8}; unfused {r.UnfusedReport!.Cycles} {r.UnfusedReport.Energy:G8}; {r.Mapping!.ToCompactString(a)}");
            Assert.AreEqual(b.Cycles, f.Cycles, $"{w.Name}: cycles");
            Assert.AreEqual(b.Energy, f.Energy, b.Energy * 1e-9, $"{w.Name}: energy at the least cycles");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count);
            Assert.AreEqual(f.Energy, FusionCost.Evaluate(w, a, r.Mapping).Energy, f.Energy * 1e-12);
            Assert.AreEqual((double)f.Cycles, r.Best!.Value, 0.5, "best is the first term");

            var unseeded = new FusionSearch(p with { SeedFromTemplate = false }).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, unseeded.Status, unseeded.Explanation);
            Assert.AreEqual(b.Cycles, unseeded.Report!.Cycles, "without the template's members");
            Assert.AreEqual(b.Energy, unseeded.Report.Energy, b.Energy * 1e-9, "without the template's members");

            var latency = new FusionSearch(new FusionProblem(w, a, Objective.Latency, MaxFusedLoops: 1)).Solve(SearchLimits.None).Report!;
            Assert.AreEqual(latency.Cycles, f.Cycles, "latency alone has the same least cycles");
            Assert.IsTrue(f.Energy <= latency.Energy * (1 + 1e-9), "more energy than latency alone's answer");
            if (f.Energy < latency.Energy * (1 - 1e-9)) decided++;
            var template = new FusionSearch(p with { TemplateOnly = true }).Solve(SearchLimits.None).Report!;
            Assert.IsTrue(f.Cycles < template.Cycles || (f.Cycles == template.Cycles && f.Energy <= template.Energy * (1 + 1e-9)), "worse than the template's optimum");

            Assert.IsTrue(r.UnfusedProven);
            var own = w.Layers.Select(l => Lexicographic.Solve(new MapProblem(l, a, Objective.Latency), LatencyEnergy, SearchLimits.None)).ToList();
            Assert.IsTrue(own.All(x => x.Status == SolveStatus.Optimal));
            Assert.AreEqual(own.Sum(x => x.Report!.Cycles), r.UnfusedReport.Cycles, "the unfused answer's cycles are not every layer's own least");
            Assert.AreEqual(own.Sum(x => x.Report!.Energy), r.UnfusedReport.Energy, r.UnfusedReport.Energy * 1e-9, "the unfused answer is not every layer's own latency,energy optimum");

            if (f.Cycles < r.UnfusedReport.Cycles || f.Energy < r.UnfusedReport.Energy * (1 - 1e-9)) fused++;
            if (w.Name is "fan" or "diamond") graphs++;
            if (FusionRules.MemberEinsums(w, r.Mapping).Where((e, i) => !ReferenceEquals(e, w.Layers[i])).Any()) halos++;
        }
        Console.WriteLine($"decided by energy: {decided}, fused answers: {fused}, graphs: {graphs}, answers computing halos: {halos}");
        Assert.IsGreaterThan(0, decided, "on no case did the second term lower the energy of latency alone's answer, so it tested little");
        Assert.IsGreaterThan(0, fused, "on no case did fusion win, so the fused classes' searches were not tested");
        Assert.IsGreaterThan(0, halos, "no answer computed a halo, so the convolution chains were not tested");
    }

    // A list other than latency,energy (or latency,energy with pipelined groups) stays over the template, and says so.
    [TestMethod]
    public void OtherListsSearchTheTemplate()
    {
        var (w, a) = (FusionHaloTests.Chain2(), FusionHaloTests.Arch(24));
        Assert.IsFalse(new FusionProblem(w, a, Objective.Energy) { Terms = [Objective.Energy, Objective.Latency] }.FullMapspace);
        Assert.IsFalse(new FusionProblem(w, a, Objective.Latency, Pipeline: true) { Terms = LatencyEnergy }.FullMapspace);
        Assert.IsTrue(new FusionProblem(w, a, Objective.Latency, KeepHalos: true) { Terms = LatencyEnergy }.FullMapspace, "latency,energy with --keep-halos: FusionKeepTests");
        var p = new FusionProblem(w, a, Objective.Latency) { Terms = LatencyEnergy };
        StringAssert.StartsWith(p.SpaceDescription, "the full fused mapspace");
        StringAssert.Contains(p.SpaceDescription, "groups run sequentially");
    }
}
