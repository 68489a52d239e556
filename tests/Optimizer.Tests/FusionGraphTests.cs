using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// Fused groups over graphs (docs/fusion.md): a tensor with several readers held on chip for all of them, and
/// held tensors living across members that do not touch them, against brute force, the checker and the simulator.
/// </summary>
[TestClass]
public sealed class FusionGraphTests
{
    /// <summary>
    /// A diamond of small GEMMs: A makes T1 from X; B and C both read T1; D reads B's T2 and C's T3
    /// (T4[m,n] = T2[m,k] * T3[k,n], so C's M is D's K).
    /// </summary>
    internal static Workload Diamond(Random rng, int m = 4)
    {
        int na = m == 2 ? 2 : 2 + 2 * rng.Next(2), nc = m == 2 ? 2 : 2 * (1 + rng.Next(2));
        return new Workload("diamond", "A -> B, A -> C, B,C -> D", [
            Layers.Gemm("A", m, na, 2, a: "X", b: "W0", z: "T1"),
            Layers.Gemm("B", m, m, na, a: "T1", b: "W1", z: "T2"),
            Layers.Gemm("C", m, nc, na, a: "T1", b: "W2", z: "T3"),
            Layers.Gemm("D", m, nc, m, a: "T2", b: "T3", z: "T4"),
        ]);
    }

    /// <summary>Three GEMMs that read the same workload input X (as Q, K and V read their input); the first may load it for all three.</summary>
    internal static Workload ThreeReaders(Random rng)
    {
        int m = 2 + 2 * rng.Next(2), k = 2 + 2 * rng.Next(2);
        return new Workload("fan", "X read by three layers", [
            Layers.Gemm("Q", m, 2, k, a: "X", b: "WQ", z: "Q"),
            Layers.Gemm("K", m, 4, k, a: "X", b: "WK", z: "K"),
            Layers.Gemm("V", m, 2, k, a: "X", b: "WV", z: "V"),
        ]);
    }

    /// <summary>DRAM (bandwidth-limited), a small global buffer and registers; optionally a 2 x 1 fanout below the buffer.</summary>
    internal static Architecture SmallArch(Random rng, long buffer, bool fanout)
        => new("tiny", "random small", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 1 + rng.Next(2), writeBandwidth: 1),
            new StorageLevel("Buffer", buffer, 16, 5, 6, fanout: fanout ? new Fanout(2, 1) : null),
            new StorageLevel("Reg", 3 + rng.Next(6), 16, 1, 1),
        ], new ComputeUnit(0.5));

    private static IEnumerable<(Workload W, Architecture A, Objective O)> Cases()
    {
        var rng = new Random(23);
        for (int i = 0; i < 3; i++)
            yield return (Diamond(rng), SmallArch(rng, 20 + rng.Next(40), fanout: false), Objective.Energy);
        for (int i = 0; i < 3; i++)
            yield return (ThreeReaders(rng), SmallArch(rng, 12 + rng.Next(30), fanout: i == 0), Objective.Energy);
        yield return (ThreeReaders(rng), SmallArch(rng, 24, fanout: false), Objective.Edp);
        yield return (ThreeReaders(rng), SmallArch(rng, 40, fanout: false), Objective.Latency);
        for (int i = 0; i < 3; i++)
            yield return (ThreeReaders(rng), SmallArch(rng, 24 + rng.Next(20), fanout: true), i == 1 ? Objective.Latency : Objective.Edp);
        yield return (Diamond(rng, m: 2), SmallArch(rng, 12 + rng.Next(8), fanout: false), Objective.Edp);
    }

    [TestMethod]
    public void FusedOptimumEqualsBruteForceOnGraphsWithBranches()
    {
        int branching = 0, reserving = 0;
        foreach (var (w, a, o) in Cases())
        {
            var search = new FusionSearch(new FusionProblem(w, a, o, MaxFusedLoops: 1));
            var r = search.Solve(SearchLimits.None);
            var (brute, bruteBest, count) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name}, {o}: {r.Explanation}");
            Assert.IsNotNull(brute, $"brute force found nothing over {count} fused mappings");
            Console.WriteLine($"{w.Name}, {o}: {count} fused mappings enumerated, optimum {bruteBest:G6}, unfused {r.UnfusedReport!.Objective(o):G6}; answer {r.Mapping!.ToCompactString(a)}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}, {o}: fused search {r.Best} vs brute force {bruteBest} over {count} fused mappings");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count);
            Assert.AreEqual(r.Best.Value, FusionCost.Evaluate(w, a, r.Mapping).Objective(o), r.Best.Value * 1e-12);
            // A group whose held tensor has two readers, or whose held tensor lives across a member that does not touch it.
            foreach (var g in r.Mapping.Groups)
            {
                if (FusionRules.HeldOf(w, g).Any(t => FusionRules.Touchers(w, t, g.First, g.Last).Count > 2
                        || FusionRules.Touchers(w, t, g.First, g.Last).All(i => w.Layers[i].Output.Id != t))) branching++;
                if (FusionRules.MemberHolds(w, a, g, r.Mapping.SharedOf(g)).Any(h => h.Reserved.Count > 0)) reserving++;
            }
        }
        Console.WriteLine($"answers with a branching held tensor: {branching}, with a held tensor living across a member: {reserving}");
        Assert.IsTrue(branching > 0, "no answer held a tensor for several readers, so the graph groups were not tested");
    }

    [TestMethod]
    public void HeldTensorsLivingAcrossAMemberTakeItsCapacity()
    {
        // Diamond group [A, B, C, D] holding T1, T2 and T3 with nothing shared: T2 (written by B, read by D) lives
        // across C, which does not touch it, so C's buffer must hold its own tiles and all of T2.
        var w = Diamond(new Random(5));
        var a = SmallArch(new Random(5), 1000, fanout: false);
        var holds = FusionRules.MemberHolds(w, a, new FusedGroup(0, 3, 0), _ => []);
        var t2 = w.Layers[1].Output;
        Assert.AreEqual(w.Layers[1].TensorWords(t2), holds[2].Reserved[1], "C reserves all of T2 in the buffer");
        Assert.AreEqual(0, holds[1].Reserved.Count, "B touches every tensor live across it");
        Assert.AreEqual(HeldUse.Writes, holds[0].Held.Single(h => h.Tensor == w.Layers[0].Output.Id).Use);
        Assert.AreEqual(HeldUse.Reads, holds[2].Held.Single(h => h.Tensor == w.Layers[0].Output.Id).Use);
        // The same group with a buffer that fits C's own tiles but not T2 beside them: the checker says so.
        var fm = FusedWhole(w, a);
        long cNeeds = CostModel.Evaluate(w.Layers[2], a, fm.Layers[2]).Levels[1].WordsHeld;
        long most = Enumerable.Range(0, 4).Max(i => CostModel.Evaluate(w.Layers[i], a, fm.Layers[i]).Levels[1].WordsHeld);
        var tight = new Architecture("tight", "", [a.Levels[0], new StorageLevel("Buffer", Math.Max(most, cNeeds + holds[2].Reserved[1] - 1), 16, 5, 6), a.Levels[2]], a.Compute);
        Assert.IsTrue(cNeeds + holds[2].Reserved[1] - 1 >= most, "the case must let every layer fit alone while C and T2 together do not");
        var v = FusionChecker.Check(w, tight, fm);
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.HeldCapacity && x.Layer == "C"), string.Join("; ", v));
        Assert.IsTrue(v.All(x => x.Rule == FusionRule.HeldCapacity), string.Join("; ", v));
        Assert.AreEqual(0, FusionChecker.Check(w, a, fm).Count, string.Join("; ", FusionChecker.Check(w, a, fm)));
    }

    /// <summary>The diamond as one group holding T1, T2, T3, nothing shared: every layer's mapping keeps the held tensors it touches in the buffer, all other factors in the buffer too.</summary>
    private static FusedMapping FusedWhole(Workload w, Architecture a)
    {
        var g = new FusedGroup(0, 3, 0);
        var holds = FusionRules.MemberHolds(w, a, g, _ => []);
        var maps = w.Layers.Select((e, i) => new Mapping([
            new LevelMapping([], [], e.Tensors.Select(t => t.Id)),
            new LevelMapping(e.Ranks.Select(r => new TemporalLoop(r.Id, r.Bound)), [], e.Tensors.Select(t => t.Id)),
            new LevelMapping([], [], []),
        ])).ToList();
        return new FusedMapping([g], maps);
    }

    [TestMethod]
    public void CheckerListsEveryBrokenRuleOfAGraphGroup()
    {
        var w = Diamond(new Random(3));
        var a = SmallArch(new Random(3), 1000, fanout: false);
        var whole = FusedWhole(w, a);
        // [A, B] holding T1, which C (outside the group) also reads; [C, D] sharing loops of different factors, and
        // D's shared loop walks M, which is not a dimension of T3 that C's shared loop walks.
        var m = new RankId("M");
        Mapping WithOuter(int i, RankId r, int f)
        {
            var e = w.Layers[i];
            return new Mapping([
                new LevelMapping([new TemporalLoop(r, f)], [], e.Tensors.Select(t => t.Id)),
                new LevelMapping(e.Ranks.Select(x => new TemporalLoop(x.Id, x.Id == r ? e.Bound(x.Id) / f : e.Bound(x.Id))), [], e.Tensors.Select(t => t.Id)),
                new LevelMapping([], [], []),
            ]);
        }
        var bad = new FusedMapping([new FusedGroup(0, 1, 0, [new TensorId("T1")]), new FusedGroup(2, 3, 1, [new TensorId("T3")])],
            [whole.Layers[0], whole.Layers[1], WithOuter(2, m, 2), WithOuter(3, m, 4)]);
        var v = FusionChecker.Check(w, a, bad);
        foreach (var x in v) Console.WriteLine($"[{x.Rule}] {x.Message}");
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.HeldTensor && x.Tensor == "T1"), "T1 has a reader outside its group");
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.SharedLoops && x.Message.Contains("same factor")), "the factors differ");
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.SharedLoops && x.Message.Contains("dimension")), "C's M walks T3's rows, D's M does not walk T3");
        Assert.AreEqual(0, FusionChecker.Check(w, a, whole).Count);
    }

    [TestMethod]
    public void SpecRoundTripsAndTheSimulatorAgreesOnHeldTensors()
    {
        int streamed = 0;
        foreach (var (w, a, o) in Cases().Where(c => c.O == Objective.Energy))
        {
            var r = new FusionSearch(new FusionProblem(w, a, o, MaxFusedLoops: 1)).Solve(SearchLimits.None);
            var fm = r.Mapping!;
            // The spec says the held tensors; reading it back gives the same fused mapping and cost.
            var text = Formulation.Specs.FusedMappingSpec.Write(w, a, fm);
            var back = Formulation.Specs.FusedMappingSpec.Parse(text, "round-trip.yaml", w, a);
            Assert.AreEqual(fm.ToCompactString(a), back.ToCompactString(a), text);
            Assert.AreEqual(r.Best!.Value, FusionCost.Evaluate(w, a, back).Energy, r.Best.Value * 1e-12);
            // Every layer's simulated counts equal the model's; the streamed iterations move what the whole run moves.
            for (int i = 0; i < w.Layers.Count; i++)
                Assert.AreEqual(0, ModelCheck.Compare(CostModel.Evaluate(w.Layers[i], a, fm.Layers[i]), Simulator.Run(w.Layers[i], a, fm.Layers[i])).Count);
            foreach (var gs in FusedSimulation.Run(w, a, fm))
            {
                var g = fm.Groups.First(x => w.Layers[x.First].Name == gs.Steps[0].Layer);
                var holds = FusionRules.MemberHolds(w, a, g, fm.SharedOf(g));
                for (int k = 0; k < gs.Steps.Count; k++)
                {
                    var whole = FusedSimulation.Moved(Simulator.Run(w.Layers[g.First + k], a, fm.Layers[g.First + k]), holds[k].Held);
                    Assert.AreEqual(whole.Written, gs.Steps[k].IntermediateWrittenWords * gs.Iterations, $"{gs.Steps[k].Layer} written");
                    Assert.AreEqual(whole.Read, gs.Steps[k].IntermediateReadWords * gs.Iterations, $"{gs.Steps[k].Layer} read");
                    Assert.IsTrue(gs.Steps[k].HeldAtFusionLevel <= gs.Steps[k].FusionLevelCapacity);
                    Assert.IsTrue(gs.Steps[k].HeldAtFusionLevel >= holds[k].Reserved.GetValueOrDefault(gs.FusionLevel));
                }
                streamed++;
            }
        }
        Assert.IsTrue(streamed > 0, "no answer had a fused group to stream");
    }

    [TestMethod]
    public void SpecWithAnUnknownHeldTensorIsALocatedError()
    {
        var w = Diamond(new Random(3));
        var a = SmallArch(new Random(3), 1000, fanout: false);
        var text = Formulation.Specs.FusedMappingSpec.Write(w, a, FusedWhole(w, a)).Replace("held: [T1, T2, T3]", "held: [T1, T9]");
        StringAssert.Contains(text, "T9");
        var e = Assert.ThrowsExactly<Workloads.Specs.SpecException>(() => Formulation.Specs.FusedMappingSpec.Parse(text, "bad.yaml", w, a));
        StringAssert.Contains(e.Message, "bad.yaml");
        StringAssert.Contains(e.Message, "T9");
    }
}

/// <summary><c>fuse</c>, <c>evaluate</c> and <c>simulate</c> on a graph with branches (examples/diamond-workload.yaml).</summary>
[TestClass]
[DoNotParallelize]
public sealed class FusionGraphCliTests
{
    [TestMethod]
    public void DiamondFusesCertifiesReadsBackAndEveryBrokenRuleIsListed()
    {
        var dir = Directory.CreateTempSubdirectory("optimizer-fusion-graph-").FullName;
        try
        {
            string arch = CommandLine.Example("two-level-arch.yaml"), workload = CommandLine.Example("diamond-workload.yaml"), spec = Path.Combine(dir, "fused.yaml");
            var fuse = CommandLine.Run("fuse", "--arch", arch, "--workload", workload, "--objective", "energy", "--quiet", "--mapping-out", spec, "--certify");
            Assert.AreEqual(0, fuse.Code, fuse.Err);
            StringAssert.Contains(fuse.Out, "OPTIMAL energy=");
            StringAssert.Contains(fuse.Out, "CERTIFIED by Z3");
            StringAssert.Contains(fuse.Out, "T1 stays in Buffer (written by A, never in DRAM) for B, C");
            var byCpSat = CommandLine.Run("fuse", "--arch", arch, "--workload", workload, "--objective", "energy", "--quiet", "--certify", "cpsat");
            Assert.AreEqual(0, byCpSat.Code, byCpSat.Err);
            StringAssert.Contains(byCpSat.Out, "CERTIFIED by CP-SAT");
            var text = File.ReadAllText(spec);
            StringAssert.Contains(text, "held: [T1, T2, T3]");
            var evaluate = CommandLine.Run("evaluate", "--arch", arch, "--workload", workload, "--mapping", spec);
            Assert.AreEqual(0, evaluate.Code, evaluate.Out + evaluate.Err);
            var simulate = CommandLine.Run("simulate", "--arch", arch, "--workload", workload, "--mapping", spec);
            Assert.AreEqual(0, simulate.Code, simulate.Out + simulate.Err);
            StringAssert.Contains(simulate.Out, "T1 held in Buffer: A writes");
            StringAssert.Contains(simulate.Out, "AGREE");
            // Holding X (read by A alone) and sharing a loop that no member has: both rules are listed, exit 1.
            File.WriteAllText(spec, text.Replace("shared-loops: 0, held: [T1, T2, T3]", "shared-loops: 1, held: [T1, T2, T3, X]"));
            var bad = CommandLine.Run("evaluate", "--arch", arch, "--workload", workload, "--mapping", spec);
            Assert.AreEqual(1, bad.Code, bad.Out + bad.Err);
            StringAssert.Contains(bad.Out, "[HeldTensor]");
            StringAssert.Contains(bad.Out, "[SharedLoops]");
            Assert.AreEqual(1, CommandLine.Run("simulate", "--arch", arch, "--workload", workload, "--mapping", spec).Code);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
