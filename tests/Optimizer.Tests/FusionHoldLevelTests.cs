using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The fusion level as a choice (docs/fusion.md, "The fused mapspace"): on an architecture with two single-instance on-chip
/// levels, a held tensor may live in either; the searches offer both and equal brute force, the checker names a level that
/// cannot hold a tensor, the spec names a deeper level and reads back, and the simulator agrees with the model there.
/// </summary>
[TestClass]
public sealed class FusionHoldLevelTests
{
    /// <summary>
    /// DRAM, a large global buffer (one instance), a local buffer of <paramref name="local"/> words (one instance, cheaper per
    /// access) and a one-word register: single-instance on-chip levels that keep every role (the register holds no tile of T1).
    /// </summary>
    internal static Architecture TwoBuffers(long local, long global = 400)
        => new("two-buffers", "two single-instance on-chip levels", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 2, writeBandwidth: 2),
            new StorageLevel("Global", global, 16, 6, 7),
            new StorageLevel("Local", local, 16, 2, 2),
            new StorageLevel("Reg", 1, 16, 1, 1),
        ], new ComputeUnit(0.5));

    /// <summary>Two GEMMs, A making T1 from X, B reading T1.</summary>
    internal static Workload Pair(int m = 4, int n = 4, int k = 2)
        => new("pair", "A -> B", [
            Layers.Gemm("A", m, n, k, a: "X", b: "W0", z: "T1"),
            Layers.Gemm("B", m, 2, n, a: "T1", b: "W1", z: "T2"),
        ]);

    /// <summary>Each case: a local buffer that holds T1 (the deeper level wins) or one too small for it (the outer level wins).</summary>
    private static IEnumerable<(string Name, Workload W, Architecture A, Objective O, bool Template, bool Pipeline)> Cases()
    {
        // T1 is 4 x 2; one shared iteration's tile of it is at least 2 words, so a 1-word local buffer (or register) cannot hold it.
        foreach (var o in new[] { Objective.Energy, Objective.Edp })
        {
            yield return ($"local fits, {o}", Pair(n: 2), TwoBuffers(local: 64), o, false, false);
            yield return ($"local too small, {o}", Pair(n: 2), TwoBuffers(local: 1), o, false, false);
        }
    }

    /// <summary>The fusion level of every held tensor of a fused mapping's groups, by level name.</summary>
    private static List<string> HeldLevels(Workload w, Architecture a, FusedMapping fm)
        => fm.Groups.Where(g => g.Count > 1).SelectMany(g => FusionRules.HeldOf(w, g)
            .Select(t => FusionRules.LevelOf(w, a, g, t, FusionRules.Touchers(w, t, g.First, g.Last)) is { } l ? a.Levels[l].Name : "none")).ToList();

    [TestMethod]
    public void HoldLevelsListsEverySingleInstanceLevelThatMayKeepTheRoles()
    {
        var w = Pair();
        var a = TwoBuffers(local: 64);
        Assert.AreEqual("1,2,3", string.Join(",", FusionRules.HoldLevels(w, a, new TensorId("T1"), [0, 1])), "Global, Local and the one-instance registers");
        Assert.AreEqual(1, FusionRules.HoldLevel(w, a, new TensorId("T1"), [0, 1]));
        // A fanout below Global: Local then has two instances and cannot hold a tensor.
        var fanned = new Architecture("fanned", "", [a.Levels[0], new StorageLevel("Global", 400, 16, 6, 7, fanout: new Fanout(2, 1)), a.Levels[2], a.Levels[3]], a.Compute);
        Assert.AreEqual("1", string.Join(",", FusionRules.HoldLevels(w, fanned, new TensorId("T1"), [0, 1])));
        // tpu-v4i: GlobalBuffer and LocalBuffer both keep Inputs and Outputs with one instance.
        var tpu = Presets.Get("tpu-v4i");
        var names = FusionRules.HoldLevels(w, tpu, new TensorId("T1"), [0, 1]).Select(l => tpu.Levels[l].Name).ToList();
        Assert.AreEqual("GlobalBuffer,LocalBuffer", string.Join(",", names));
    }

    [TestMethod]
    public void TheSearchesOfferEveryFusionLevelAndEqualBruteForce()
    {
        var deeper = new List<string>();
        var outer = new List<string>();
        foreach (var (name, w, a, o, template, pipeline) in Cases())
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var search = new FusionSearch(new FusionProblem(w, a, o, MaxFusedLoops: 1, TemplateOnly: template, Pipeline: pipeline));
            var r = search.Solve(SearchLimits.None);
            var (brute, bruteBest, count) = template ? search.BruteForce() : search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{name}: {r.Explanation}");
            Assert.IsNotNull(brute, $"{name}: brute force found nothing over {count} fused mappings");
            var levels = HeldLevels(w, a, r.Mapping!);
            Console.WriteLine($"{name}: {count} fused mappings enumerated, optimum {bruteBest:G6}, search {r.Best:G6}, unfused {r.UnfusedReport?.Objective(o):G6}, {clock.Elapsed.TotalSeconds:F1} s; held at [{string.Join(", ", levels)}]; {r.Mapping!.ToCompactString(a)}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{name}: fused search {r.Best} vs brute force {bruteBest} over {count} fused mappings");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count);
            Assert.AreEqual(r.Best.Value, FusionCost.Evaluate(w, a, r.Mapping).Objective(o), r.Best.Value * 1e-12);
            if (levels.Contains("Local")) deeper.Add(name);
            if (levels.Contains("Global")) outer.Add(name);
        }
        Console.WriteLine($"answers holding in Local: {string.Join("; ", deeper)}; in Global: {string.Join("; ", outer)}");
        Assert.IsTrue(deeper.Count > 0, "no answer held a tensor at the deeper level");
        Assert.IsTrue(outer.Count > 0, "no answer held a tensor at the outer level");
        Assert.IsTrue(deeper.Contains($"local fits, {Objective.Energy}"), "with a local buffer that holds T1, the least energy holds it there");
    }

    /// <summary>The pair as one group holding T1 at <paramref name="level"/>, one shared loop over M: every other factor at Local, the held tensor kept at its level only.</summary>
    private static FusedMapping Held(Workload w, Architecture a, int level)
    {
        var t1 = new TensorId("T1");
        var g = new FusedGroup(0, 1, 1, [t1], levels: new Dictionary<TensorId, int> { [t1] = level });
        Mapping For(Einsum e) => new([
            new LevelMapping([new TemporalLoop(new RankId("M"), e.Bound(new RankId("M")))], [], e.Tensors.Select(t => t.Id)),
            new LevelMapping([], [], e.Tensors.Select(t => t.Id).Where(t => t != t1 || level == 1)),
            new LevelMapping(e.Ranks.Where(r => r.Id.Name != "M").Select(r => new TemporalLoop(r.Id, r.Bound)), [], e.Tensors.Where(t => a.Levels[2].MayKeep(t.Role)).Select(t => t.Id)),
            new LevelMapping([], [], []),
        ]);
        return new FusedMapping([g], w.Layers.Select(For));
    }

    [TestMethod]
    public void TheCheckerNamesALevelThatCannotHoldTheTensor()
    {
        var w = Pair();
        var a = TwoBuffers(local: 64);
        Assert.AreEqual(0, FusionChecker.Check(w, a, Held(w, a, 2)).Count, string.Join("; ", FusionChecker.Check(w, a, Held(w, a, 2))));
        // Local keeps only weights: it may not keep T1 (Outputs of A, Inputs of B).
        var weightsOnly = new Architecture("w", "", [a.Levels[0], a.Levels[1], new StorageLevel("Local", 64, 16, 2, 2, keeps: [TensorRole.Weights]), a.Levels[3]], a.Compute);
        var v = FusionChecker.Check(w, weightsOnly, Held(w, weightsOnly, 2));
        foreach (var x in v) Console.WriteLine($"[{x.Rule}] {x.Message}");
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.NoFusionLevel && x.Tensor == "T1" && x.Level == "Local" && x.Message.Contains("may not keep")), string.Join("; ", v));
        // A fanout below Global: Local has two instances.
        var fanned = new Architecture("fanned", "", [a.Levels[0], new StorageLevel("Global", 400, 16, 6, 7, fanout: new Fanout(2, 1)), a.Levels[2], a.Levels[3]], a.Compute);
        v = FusionChecker.Check(w, fanned, Held(w, fanned, 2));
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.NoFusionLevel && x.Tensor == "T1" && x.Level == "Local" && x.Message.Contains("2 instances")), string.Join("; ", v));
        // DRAM is not on chip.
        v = FusionChecker.Check(w, a, Held(w, a, 0));
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.NoFusionLevel && x.Tensor == "T1" && x.Level == "DRAM"), string.Join("; ", v));
        // Held at Local, a member that keeps T1 in Global (above its fusion level) breaks the placement rule.
        var fm = Held(w, a, 2);
        var above = new Mapping(fm.Layers[0].Levels.Select((l, k) => k == 1 ? new LevelMapping(l.Temporal, l.Spatial, w.Layers[0].Tensors.Select(t => t.Id)) : l));
        v = FusionChecker.Check(w, a, new FusedMapping(fm.Groups, [above, fm.Layers[1]]));
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.IntermediatePlacement && x.Tensor == "T1" && x.Level == "Global"), string.Join("; ", v));
        // Held at Local, a loop at Global over N (a rank of T1) would refill T1's tile in Local through DRAM: not resident.
        var n = new RankId("N");
        var split = new Mapping(fm.Layers[0].Levels.Select((l, k) => k == 1 ? new LevelMapping([new TemporalLoop(n, 2)], l.Spatial, l.Keep)
            : k == 2 ? new LevelMapping(l.Temporal.Select(x => x.Rank == n ? new TemporalLoop(n, x.Factor / 2) : x), l.Spatial, l.Keep) : l));
        v = FusionChecker.Check(w, a, new FusedMapping(fm.Groups, [split, fm.Layers[1]]));
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.OwnLoopOverIntermediate && x.Tensor == "T1" && x.Level == "Global"), string.Join("; ", v));
        Assert.IsFalse(FusionMapspace.Allows(w.Layers[0], split, [new TemporalLoop(new RankId("M"), 4)], [new HeldTensor(new TensorId("T1"), 2, HeldUse.Writes)]));
    }

    [TestMethod]
    public void ADeeperLevelInTheSpecReadsBackAndTheSimulatorAgrees()
    {
        var w = Pair();
        var a = TwoBuffers(local: 64);
        foreach (int level in new[] { 1, 2 })
        {
            var fm = Held(w, a, level);
            var text = FusedMappingSpec.Write(w, a, fm);
            Console.WriteLine(text);
            // The default (outermost) level is not written, so files of earlier versions read the same.
            Assert.AreEqual(level == 2, text.Contains("held-levels: { T1: Local }"), text);
            var back = FusedMappingSpec.Parse(text, "round-trip.yaml", w, a);
            Assert.AreEqual(level, FusionRules.LevelOf(w, a, back.Groups[0], new TensorId("T1"), [0, 1]));
            var cost = FusionCost.Evaluate(w, a, fm);
            Assert.AreEqual(cost.Energy, FusionCost.Evaluate(w, a, back).Energy, cost.Energy * 1e-12);
            // The model's counts equal the simulator's, layer by layer; the streamed iterations move what the whole run moves.
            for (int i = 0; i < w.Layers.Count; i++)
                Assert.AreEqual(0, ModelCheck.Compare(CostModel.Evaluate(w.Layers[i], a, fm.Layers[i]), Simulator.Run(w.Layers[i], a, fm.Layers[i])).Count);
            var holds = FusionRules.MemberHolds(w, a, fm.Groups[0], fm.SharedOf(fm.Groups[0]));
            Assert.IsTrue(holds.All(h => h.Held.All(x => x.Level == level)));
            var gs = FusedSimulation.Run(w, a, fm).Single();
            Assert.AreEqual(level, gs.FusionLevel);
            for (int k = 0; k < gs.Steps.Count; k++)
            {
                var whole = FusedSimulation.Moved(Simulator.Run(w.Layers[k], a, fm.Layers[k]), holds[k].Held);
                Assert.AreEqual(whole.Written, gs.Steps[k].IntermediateWrittenWords * gs.Iterations, $"{gs.Steps[k].Layer} written");
                Assert.AreEqual(whole.Read, gs.Steps[k].IntermediateReadWords * gs.Iterations, $"{gs.Steps[k].Layer} read");
                Assert.IsTrue(gs.Steps[k].HeldAtFusionLevel <= gs.Steps[k].FusionLevelCapacity);
            }
        }
        // Held at Local, T1 never reaches Global: the deeper choice costs less than the outer one here.
        Assert.IsTrue(FusionCost.Evaluate(w, a, Held(w, a, 2)).Energy < FusionCost.Evaluate(w, a, Held(w, a, 1)).Energy);
        // A spec naming a level that does not exist, or a tensor the group does not hold: located errors.
        var bad = FusedMappingSpec.Write(w, a, Held(w, a, 2)).Replace("T1: Local", "T1: Locl");
        var e = Assert.ThrowsExactly<Workloads.Specs.SpecException>(() => FusedMappingSpec.Parse(bad, "bad.yaml", w, a));
        StringAssert.Contains(e.Message, "did you mean Local");
        bad = FusedMappingSpec.Write(w, a, Held(w, a, 2)).Replace("{ T1: Local }", "{ X: Local }");
        e = Assert.ThrowsExactly<Workloads.Specs.SpecException>(() => FusedMappingSpec.Parse(bad, "bad.yaml", w, a));
        StringAssert.Contains(e.Message, "not a tensor the group holds");
    }
}
