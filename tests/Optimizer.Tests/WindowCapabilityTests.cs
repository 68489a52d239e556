using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;
using static Optimizer.Tests.CommandLine;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>
/// The two window capabilities (docs/cost-model.md, "Window reuse" and "Neighbour forwarding"): worked by hand, and the
/// model (formulation/Counts.cs) equal to the simulator's execution on random mappings for each.
/// </summary>
[TestClass]
public sealed class WindowCapabilityTests
{
    /// <summary>A copy of <paramref name="arch"/> whose levels below the outermost keep overlap by <paramref name="window"/> and whose fanouts forward along <paramref name="forwarding"/>.</summary>
    internal static Architecture With(Architecture arch, WindowReuse window, Forwarding forwarding)
        => new(arch.Name, arch.Description,
            arch.Levels.Select((l, i) => new StorageLevel(l.Name, l.Capacity, l.WordBits, l.ReadEnergy, l.WriteEnergy, l.ReadBandwidth, l.WriteBandwidth, l.Keeps,
                l.Fanout == Fanout.None ? l.Fanout : new Fanout(l.Fanout.X, l.Fanout.Y, l.Fanout.Multicast, l.Fanout.SpatialReduction, l.Fanout.HopEnergy, l.Fanout.Topology) { Forwarding = forwarding })
            { Window = i == 0 ? WindowReuse.Slide : window }),
            arch.Compute, arch.ClockGHz);

    /// <summary>An 8 x 4 array of PEs, each with a register file keeping every tensor, below a buffer.</summary>
    internal static Architecture Row8(Forwarding forwarding, WindowReuse window = WindowReuse.Slide) => With(new("row8", "test", [
        new StorageLevel("DRAM", null, 16, 100, 100),
        new StorageLevel("GLB", 4096, 16, 6, 6, fanout: new Fanout(8, 4, multicast: true, spatialReduction: true, hopEnergy: 2)),
        new StorageLevel("Reg", 32, 16, 1, 1),
    ], new ComputeUnit(1)), window, forwarding);

    private static readonly Einsum RuleAConv = Layers.Conv1d("conv", c: 4, k: 4, p: 16, r: 3);

    // Rule A by hand: the example of TimeloopConventionTests, now as the hardware's own rule.
    [TestMethod]
    public void SameStrideFetchesTheWholeTileAfterTheTileStoodStill()
    {
        var slide = TwoLevel();
        var same = With(slide, WindowReuse.SameStride, Forwarding.None);
        var pOuter = M(L("P=4 K=4"), L("P=4 R=3 C=4", keep: "Inputs"));
        Assert.AreEqual(72, Row(CostModel.Evaluate(RuleAConv, slide, pOuter), "Buffer", "Inputs").Fills);
        // K steps stand still (translation 0); each P step moves by 4: a change, so the whole 24 words: 4 x 24.
        var r = CostModel.Evaluate(RuleAConv, same, pOuter);
        Assert.AreEqual(96, Row(r, "Buffer", "Inputs").Fills);
        Assert.AreEqual(96, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(0, ModelCheck.Compare(r, Simulator.Run(RuleAConv, same, pOuter)).Count);
        // With for K in 4 { for P in 4 } every K step moves the tile back (a new translation, whole tile), then the P
        // steps slide: both rules give 4 x (24 + 3 x 16) = 288.
        var kOuter = M(L("K=4 P=4"), L("P=4 R=3 C=4", keep: "Inputs"));
        Assert.AreEqual(288, Row(CostModel.Evaluate(RuleAConv, same, kOuter), "Buffer", "Inputs").Fills);
        Assert.AreEqual(288, Row(CostModel.Evaluate(RuleAConv, slide, kOuter), "Buffer", "Inputs").Fills);
        // The emulation of Timeloop agrees here (every loop has at most 4 iterations and rule B's sampling does not change rule A's count).
        Assert.AreEqual(96, Row(TimeloopConvention.Evaluate(RuleAConv, same, pOuter), "Buffer", "Inputs").Fills);
    }

    // Rule C by hand: R = 3 unrolled over 3 PEs of a row, P stepping above. Each PE holds one input word (p + r);
    // at a P step PE r needs p + 1 + r, which PE r + 1 needed one step earlier: PEs 0 and 1 take it over the link,
    // PE 2 from the buffer.
    [TestMethod]
    public void ForwardingFeedsARowFromItsNeighbours()
    {
        var e = Layers.Conv1d("conv", c: 1, k: 1, p: 16, r: 3);
        var m = M(L("", keep: "Weights Inputs Outputs"), L("P=16", "R=3@X"), L(""));
        var plain = Row8(Forwarding.None);
        var fwd = Row8(Forwarding.X);
        var a = CostModel.Evaluate(e, plain, m);
        var b = CostModel.Evaluate(e, fwd, m);
        // Each PE brings 16 input words; without links the buffer reads 3 x 16 = 48.
        Assert.AreEqual(16, Row(a, "Reg", "Inputs").Fills);
        Assert.AreEqual(48, Row(a, "GLB", "Inputs").Reads);
        // With links: the first word of each PE from the buffer (3), then 15 steps of 1 from the buffer and 2 forwarded.
        Assert.AreEqual(16, Row(b, "Reg", "Inputs").Fills);
        Assert.AreEqual(3 + 15, Row(b, "GLB", "Inputs").Reads);
        Assert.AreEqual(30, Row(b, "Reg", "Inputs").ForwardedReads);
        var link = b.Fanouts.Single();
        Assert.AreEqual(("GLB", "Inputs", 30L), (link.Level, link.Tensor.Name, link.LinkTransfers));
        // Energy: 30 buffer reads (6 pJ) and 30 hops at the buffer (2 pJ) become 30 register reads (1 pJ) and 30 one-hop transfers (2 pJ).
        Assert.AreEqual(a.Energy - 30 * 6 - 30 * 2 + 30 * 1 + 30 * 2, b.Energy, 1e-9);
        Assert.AreEqual(0, ModelCheck.Compare(b, Simulator.Run(e, fwd, m)).Count);
        // Along Y only, the X row has no links: nothing changes.
        Assert.AreEqual(a.Energy, CostModel.Evaluate(e, Row8(Forwarding.Y), m).Energy, 1e-9);
    }

    // The same row laid along Y takes the Y links, not the X ones; a tile wider than one word slides, and only the new column is forwarded.
    [TestMethod]
    public void ForwardingFollowsTheAxisAndSlidesWideTiles()
    {
        var e = Layers.Conv1d("conv", c: 1, k: 1, p: 16, r: 3);
        var alongY = M(L(""), L("P=16", "R=3@Y"), L(""));
        Assert.AreEqual(30, Row(CostModel.Evaluate(e, Row8(Forwarding.Y), alongY), "Reg", "Inputs").ForwardedReads);
        Assert.AreEqual(0, Row(CostModel.Evaluate(e, Row8(Forwarding.X), alongY), "Reg", "Inputs").ForwardedReads);
        // Each PE keeps a window of P=2: 2 words first, then 7 steps of 2 new words (moves of 2 leave no overlap), so
        // whole tiles: steps move by 2 but neighbours are 1 apart, nothing forwarded.
        var wide = M(L(""), L("P=8", "R=3@X"), L("P=2"));
        var fwd = Row8(Forwarding.X);
        var r = CostModel.Evaluate(e, fwd, wide);
        Assert.AreEqual(0, Row(r, "Reg", "Inputs").ForwardedReads);
        Assert.AreEqual(0, ModelCheck.Compare(r, Simulator.Run(e, fwd, wide)).Count);
    }

    private static void RandomAgreement(int seed, WindowReuse window, Forwarding forwarding, int perCase, int atLeast)
    {
        var rng = new Random(seed);
        int checkedCount = 0, moved = 0;
        var archs = CostInvariantTests.SmallCases().Select(x => x.Arch).DistinctBy(a => a.Name).Append(Row8(Forwarding.None)).Append(Presets.Get("simple-ws")).ToList();
        var layers = CostInvariantTests.SmallCases().Select(x => x.Layer).DistinctBy(l => l.Name).ToList();
        foreach (var arch0 in archs)
            foreach (var layer in layers)
            {
                var arch = With(arch0, window, forwarding);
                var space = new Mapspace(layer, arch);
                for (int i = 0; i < perCase; i++)
                {
                    if (!space.TrySampleValid(rng, 2000, out var m)) continue;
                    SimReport sim;
                    try { sim = Simulator.Run(layer, arch, m, new SimOptions { MaxSteps = 200_000 }); }
                    catch (ArgumentException) { continue; }
                    var model = CostModel.Evaluate(layer, arch, m);
                    var diff = ModelCheck.Compare(model, sim);
                    Assert.AreEqual(0, diff.Count, $"{layer.Name} on {arch.Name}, {m.ToCompactString(arch.Levels.Select(x => x.Name).ToList())}: {string.Join("; ", diff)}");
                    var baseline = CostModel.Evaluate(layer, arch0, m);
                    if (Math.Abs(baseline.Energy - model.Energy) > 1e-9 * baseline.Energy) moved++;
                    checkedCount++;
                }
            }
        Console.WriteLine($"{checkedCount} mappings agree; {moved} cost differently from the plain architecture");
        Assert.IsGreaterThanOrEqualTo(atLeast, checkedCount);
        Assert.IsGreaterThanOrEqualTo(5, moved, "mappings whose cost the capability changes");
    }

    [TestMethod]
    public void SameStrideModelEqualsTheSimulatorOnRandomMappings() => RandomAgreement(31, WindowReuse.SameStride, Forwarding.None, 25, 400);

    [TestMethod]
    public void ForwardingModelEqualsTheSimulatorOnRandomMappings() => RandomAgreement(32, WindowReuse.Slide, Forwarding.XY, 25, 400);

    [TestMethod]
    public void BothCapabilitiesModelEqualsTheSimulatorOnRandomMappings() => RandomAgreement(33, WindowReuse.SameStride, Forwarding.X, 25, 400);

    /// <summary>
    /// The exact search against brute force under a capability: same-stride keeps the bounds (they only miss words) and
    /// branches on every order; forwarding enumerates (its bounds would not hold). Both must give the brute-force optimum
    /// as OPTIMAL, re-costed by the reference model; some optima must differ from the plain architecture's.
    /// </summary>
    private static void ExactEqualsBruteForce(int seed, int count, WindowReuse window, Forwarding forwarding, int atLeast, int movedAtLeast, params Objective[] objectives)
    {
        int compared = 0, moved = 0;
        long exactNodes = 0, bruteNodes = 0;
        foreach (var (layer, plain) in SearchTests.SmallCases(seed, count))
        {
            var arch = With(plain, window, forwarding);
            foreach (var objective in objectives)
            {
                if (SearchTests.Agree(layer, arch, objective) is not var (exact, brute)) continue;
                var before = new TilingSearch(new MapProblem(layer, plain, objective), prune: true, seed: false).Solve(SearchLimits.None);
                if (Math.Abs(before.Best!.Value - exact.Best!.Value) > 1e-9 * exact.Best.Value) moved++;
                exactNodes += exact.Explored;
                bruteNodes += brute.Explored;
                compared++;
            }
        }
        Console.WriteLine($"{compared} cases, {moved} optima moved by the capability; nodes exact {exactNodes}, brute {bruteNodes}");
        Assert.IsGreaterThanOrEqualTo(atLeast, compared);
        Assert.IsGreaterThanOrEqualTo(movedAtLeast, moved, "optima the capability changes");
    }

    // Same-stride rarely moves an optimum on small cases (the search picks orders that keep the stride); the bounds and
    // the branching on every order are what is checked here.
    [TestMethod]
    public void ExactEqualsBruteForceUnderSameStride()
        => ExactEqualsBruteForce(41, 16, WindowReuse.SameStride, Forwarding.None, 30, 0, Objective.Energy, Objective.Latency, Objective.Edp);

    [TestMethod]
    public void ExactEqualsBruteForceUnderForwarding() => ExactEqualsBruteForce(42, 8, WindowReuse.Slide, Forwarding.XY, 10, 1, Objective.Energy, Objective.Latency);

    [TestMethod]
    public void ExactEqualsBruteForceUnderBoth() => ExactEqualsBruteForce(43, 8, WindowReuse.SameStride, Forwarding.XY, 6, 1, Objective.Energy);

    /// <summary>
    /// The native same-stride window against the emulation of Timeloop on Timeloop's own fixture cases (their
    /// architectures read by the Timeloop reader, so same-stride and forwarding on): every operand's fills at every
    /// level, which rule A decides, must equal the emulation's (whose counts equal Timeloop's on these cases,
    /// TimeloopConventionTests), and the same mappings under sliding windows must differ on some. Reads are not compared:
    /// Timeloop samples loops (rule B) and multicasts identical words (rule C'), which are not the hardware's; link
    /// transfers are printed, not asserted, for the same reason.
    /// </summary>
    [TestMethod]
    public void SameStrideFillsEqualTimeloopOnTheFixtures()
    {
        int compared = 0, slideDiffers = 0, linksEqual = 0, withLinks = 0;
        foreach (var c in TimeloopConventionTests.LoadCases())
        {
            Assert.IsTrue(c.Arch.Levels.Skip(1).All(l => l.Window == WindowReuse.SameStride), c.Id);
            var native = CostModel.Evaluate(c.Layer, c.Arch, c.Mapping);
            var slide = CostModel.Evaluate(c.Layer, With(c.Arch, WindowReuse.Slide, Forwarding.XY), c.Mapping);
            var timeloop = TimeloopConvention.Evaluate(c.Layer, c.Arch, c.Mapping);
            long TimeloopFills(TensorLevelCost t) => timeloop.Tensors.Single(x => x.LevelIndex == t.LevelIndex && x.Tensor == t.Tensor).Fills;
            var operands = native.Tensors.Where(t => t.Role != TensorRole.Outputs).ToList();
            var mismatches = operands.Where(t => TimeloopFills(t) != t.Fills).ToList();
            Assert.AreEqual(0, mismatches.Count, $"{c.Id}: {string.Join("; ", mismatches.Select(m => $"{m.Level} {m.Tensor} fills {m.Fills}, Timeloop {TimeloopFills(m)}"))}");
            if (slide.Tensors.Where(t => t.Role != TensorRole.Outputs).Any(t => TimeloopFills(t) != t.Fills)) slideDiffers++;
            if (native.Fanouts.Count + timeloop.Fanouts.Count(f => f.LinkTransfers > 0) > 0)
            {
                withLinks++;
                if (native.Fanouts.Sum(f => f.LinkTransfers) == timeloop.Fanouts.Sum(f => f.LinkTransfers)) linksEqual++;
            }
            compared++;
        }
        Console.WriteLine($"{compared} fixture cases agree on operand fills ({slideDiffers} would not with sliding windows); link transfers equal on {linksEqual} of {withLinks} with any");
        Assert.IsGreaterThanOrEqualTo(100, compared);
        Assert.IsGreaterThanOrEqualTo(1, slideDiffers, "fixture cases where the window rule matters");
    }

    // From the command line: the example systolic row forwards (evaluate lists the link transfers and the forwarded reads);
    // CP-SAT and Z3 refuse it; an unknown window is a located error.
    [TestMethod]
    public void CommandLineShowsLinkTransfersAndRefusesWhatItCannotEncode()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"window-cli-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var workload = Path.Combine(dir, "w.yaml");
            var mapping = Path.Combine(dir, "m.yaml");
            File.WriteAllText(workload, "workload:\n  name: row\n  layers:\n    - name: conv\n      conv1d: {k: 1, c: 1, p: 16, r: 3}\n      tensors: {inputs: Inputs, weights: Weights, outputs: Outputs}\n");
            File.WriteAllText(mapping, "mapping:\n  layer: conv\n  levels:\n    - level: DRAM\n    - level: GlobalBuffer\n      temporal: \"P=16\"\n      spatial: \"R=3@X\"\n    - level: RegisterFile\n");
            string[] common = ["--arch", Example("systolic-row.yaml"), "--workload", workload];
            var (code, output, err) = Run(["evaluate", .. common, "--mapping", mapping]);
            Assert.AreEqual(0, code, err + output);
            StringAssert.Contains(output, "below GlobalBuffer, Inputs: 30 link transfers");
            StringAssert.Contains(output, "RegisterFile Inputs: 30 reads (total) of words sent to a neighbour");
            // The CSV carries the forwarded reads on the level that sends them and in the total.
            var csv = Path.Combine(dir, "costs.csv");
            (code, output, err) = Run(["evaluate", .. common, "--mapping", mapping, "--csv", csv]);
            Assert.AreEqual(0, code, err + output);
            var rows = File.ReadAllLines(csv);
            Assert.IsTrue(rows[0].EndsWith(",ForwardedReads", StringComparison.Ordinal), rows[0]);
            Assert.IsTrue(rows.Any(r => r.StartsWith("conv,RegisterFile,Inputs,", StringComparison.Ordinal) && r.EndsWith(",30", StringComparison.Ordinal)), string.Join("\n", rows));
            Assert.IsTrue(rows.Any(r => r.StartsWith("conv,total,", StringComparison.Ordinal) && r.EndsWith(",30", StringComparison.Ordinal)), string.Join("\n", rows));
            (code, output, err) = Run(["evaluate", .. common, "--mapping", mapping, "--style", "timeloop"]);
            Assert.AreEqual(0, code, err + output);
            StringAssert.Contains(output, "Forwarded reads (total)         : 30");
            StringAssert.Contains(output, "Network below, Inputs (total)       : 48 words x 1 hops = 48.0 pJ");
            (code, output, err) = Run(["simulate", .. common, "--mapping", mapping]);
            Assert.AreEqual(0, code, err + output);
            foreach (var solver in new[] { "cpsat", "z3" })
            {
                (code, _, err) = Run(["map", .. common, "--solver", solver]);
                Assert.AreEqual(2, code, solver);
                StringAssert.Contains(err, "does not encode the window capabilities of architecture systolic-row (neighbour forwarding along x below GlobalBuffer)");
            }
            // The imperfect mapspace's searches leave window capabilities out of their array model: refused, naming the file.
            (code, _, err) = Run(["map", .. common, "--imperfect"]);
            Assert.AreEqual(2, code, err);
            StringAssert.Contains(err, Example("systolic-row.yaml") + ": Architecture systolic-row has a same-stride window or neighbour forwarding");
            var bad = Path.Combine(dir, "bad.yaml");
            File.WriteAllText(bad, File.ReadAllText(Example("systolic-row.yaml")).Replace("      capacity: 32", "      capacity: 32\n      window: same"));
            (code, _, err) = Run(["evaluate", "--arch", bad, "--workload", workload, "--mapping", mapping]);
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "unknown window 'same'; a window is slide or same-stride");
        }
        finally { Directory.Delete(dir, true); }
    }

    // Found by the aimed bound tests (tl14u): with forwarding along X, the imperfect branch and bound answered OPTIMAL 2460 for
    // conv1d C1 K2 P6 R2 while the perfect search's optimum (in the imperfect mapspace too) costs 2437; its array model leaves
    // forwarding out. Both imperfect searches now refuse such architectures; the perfect search still maps the case.
    [TestMethod]
    public void ImperfectSearchesRefuseWindowCapabilities()
    {
        var layer = Layers.Conv1d("fwd", c: 1, k: 2, p: 6, r: 2, stride: 1);
        var arch = With(SearchTests.RoleSplit("f0", glb: 19, fanout: (2, 1), spads: (2, 2, 2)), WindowReuse.Slide, Forwarding.X);
        var p = new MapProblem(layer, arch, Objective.Energy);
        var perfect = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, perfect.Status);
        Assert.AreEqual(2437.0, perfect.Best!.Value, 1e-6);
        var e1 = Assert.ThrowsExactly<ArgumentException>(() => new ImperfectSearch(p, seed: false));
        StringAssert.Contains(e1.Message, "counts for perfect factors only");
        Assert.ThrowsExactly<ArgumentException>(() => new ImperfectEnumeration(p));
    }
}
