using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Validation;
using Optimizer.Workloads;
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
        => new($"{arch.Name}-{ArchitectureSpecName(window)}-{forwarding}".ToLowerInvariant(), arch.Description,
            arch.Levels.Select((l, i) => new StorageLevel(l.Name, l.Capacity, l.WordBits, l.ReadEnergy, l.WriteEnergy, l.ReadBandwidth, l.WriteBandwidth, l.Keeps,
                l.Fanout == Fanout.None ? l.Fanout : new Fanout(l.Fanout.X, l.Fanout.Y, l.Fanout.Multicast, l.Fanout.SpatialReduction, l.Fanout.HopEnergy, l.Fanout.Topology) { Forwarding = forwarding })
            { Window = i == 0 ? WindowReuse.Slide : window }),
            arch.Compute, arch.ClockGHz);

    private static string ArchitectureSpecName(WindowReuse w) => w == WindowReuse.SameStride ? "same-stride" : "slide";

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
}
