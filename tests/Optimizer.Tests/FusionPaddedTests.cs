using Optimizer.Formulation;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// Padded readers (docs/fusion.md, "Padded readers: clipped first and last tiles"): a same-padded convolution reads
/// <c>P + 2*pad</c> rows of a producer that writes <c>P</c>; fused over rows, the producer's first and last tiles are
/// clipped. Recognized (and, until the counting is built, refused with its reason); the clipped rows are checked against
/// the rows enumerated one by one.
/// </summary>
[TestClass]
public sealed class FusionPaddedTests
{
    private static Einsum Conv(string name, int p, int r, int stride, string input, string output)
        => Layers.Conv1d(name, c: 2, k: 2, p: p, r: r, stride: stride, inputs: input, weights: $"{name}_w", outputs: output);

    /// <summary>c0 writes 12 rows of Y0; c1, a same-padded r-wide convolution (stride 1, 12 rows of its own), reads 12 + r - 1.</summary>
    private static Workload Padded(int r) => new("padded", "conv -> padded conv", [Conv("c0", 12, 1, 1, "X", "Y0"), Conv("c1", 12, r, 1, "Y0", "Y1")]);

    /// <summary>c1 reads Y0 (12 rows) 3-wide with stride 2 for 6 rows of its own: 13 rows, one padding row at one end only.</summary>
    private static Workload PaddedStride2() => new("padded2", "conv -> padded conv/2", [Conv("c0", 12, 1, 1, "X", "Y0"), Conv("c1", 6, 3, 2, "Y0", "Y1")]);

    private static IReadOnlyList<MemberPlan> Plans(Workload w, int f)
        => FusionRules.MemberPlans(w, new FusedGroup(0, 1, 1, [new TensorId("Y0")]), _ => [new TemporalLoop(new RankId("P"), f)]);

    // Every same-padded reader and factor: the rows of each window inside [0, P), enumerated row by row, are what
    // ClippedWindows says the producer computes, and in all fewer than the windows' rows by the padding rows exactly.
    [TestMethod]
    public void ClippedTilesComputeExactlyTheWindowsRowsInsideTheProducer()
    {
        foreach (int r in new[] { 3, 5, 7 })
            foreach (int f in new[] { 2, 3, 4, 6 })
            {
                var w = Padded(r);
                var (c0, c1) = (w.Layers[0], w.Layers[1]);
                int dim = FusionRules.WalkedDim(c1, new TensorId("Y0"), new RankId("P"), HeldUse.Reads);
                var (pad, why) = FusionRules.Padding(c1, new TensorId("Y0"), dim, new RankId("P"), c0.Bound(new RankId("P")));
                Assert.IsNull(why);
                Assert.AreEqual((r - 1) / 2, pad);
                var (extent, step) = FusionRules.Window(c1, new TensorId("Y0"), dim, new RankId("P"), [new TemporalLoop(new RankId("P"), f)]);
                var clipped = new ClippedWindows(12, pad, f, extent, step);
                if (12 / f < pad) { Assert.IsNotNull(clipped.Why, $"r={r} f={f}"); continue; }
                Assert.IsNull(clipped.Why, $"r={r} f={f}");
                long total = 0;
                for (int i = 0; i < f; i++)
                {
                    // Window i is padded rows [i*step, i*step + extent): the producer's rows i*step - pad + k.
                    var rows = Enumerable.Range(0, (int)extent).Select(k => i * step - pad + k).Where(x => x >= 0 && x < 12).ToList();
                    Assert.AreEqual(rows.Count, clipped.Computed(i), $"r={r} f={f} i={i}");
                    Assert.AreEqual(rows.Count == 0 ? 0 : rows[0], rows.Count == 0 ? 0 : clipped.Start(i), $"r={r} f={f} i={i}");
                    total += rows.Count;
                }
                Assert.AreEqual(total, clipped.Total, $"r={r} f={f}");
                Assert.AreEqual(f * extent - 2 * pad, total);
            }
        // The stated case: 12 rows in 3 windows of 6 every 4 (3-wide, pad 1): 5 + 6 + 5 = 16 rows, not the windows' 18.
        Assert.AreEqual(16, new ClippedWindows(12, 1, 3, 6, 4).Total);
    }

    // The producer of a same-padded reader is refused with the clipped tiles it would compute; a stride-2 reader's extra
    // row (one end only) is refused as not padding; a reader within the producer's rows plans its split as before.
    [TestMethod]
    public void PaddedReadersAreRecognizedAndRefusedWithTheirReason()
    {
        var plans = Plans(Padded(3), 3);
        StringAssert.Contains(plans[0].Problem, "run past its rank P=12");
        StringAssert.Contains(plans[0].Problem, "padded by 1 rows each side");
        StringAssert.Contains(plans[0].Problem, "(5 rows, then 6, last 5: 16 in all)");
        Assert.AreEqual(0, plans[0].Splits.Count);

        var stride2 = Plans(PaddedStride2(), 2);
        StringAssert.Contains(stride2[0].Problem, "with stride 2");
        Assert.IsFalse(stride2[0].Problem!.Contains("clipped"), stride2[0].Problem);

        // Windows that clip a middle iteration (7-wide, pad 3, windows every 2 rows) are refused as such.
        StringAssert.Contains(Plans(Padded(7), 6)[0].Problem, "beyond the first and the last");

        var inside = Plans(FusionHaloTests.Chain2(), 2);
        Assert.IsNull(inside[0].Problem);
        Assert.AreEqual(1, inside[0].Splits.Count);
    }

    // The parts a clipped producer would run: its middle iterations as the split Einsum and its first and last as the
    // layer cut to their rows; their MACs are the clipped rows' (16 rows of 4 MACs: 64, where the unclipped windows' 18
    // rows would be 72), and the model and the simulator agree on every count of each part.
    [TestMethod]
    public void ClippedPartsComputeTheClippedRowsAndTheSimulatorAgrees()
    {
        var w = Padded(3);
        var c0 = w.Layers[0];
        var a = FusionHaloTests.Arch(24);
        foreach (int f in new[] { 2, 3, 4 })
        {
            var (extent, step) = FusionRules.Window(w.Layers[1], new TensorId("Y0"), FusionRules.WalkedDim(w.Layers[1], new TensorId("Y0"), new RankId("P"), HeldUse.Reads), new RankId("P"), [new TemporalLoop(new RankId("P"), f)]);
            var clipped = new ClippedWindows(12, 1, f, extent, step);
            var (middle, edge) = clipped.Parts(c0, new RankId("P"));
            Assert.AreEqual(f == 2, middle is null);
            long macs = 0;
            foreach (var (part, runs) in new[] { (middle, 1), (edge, 2) })
            {
                if (part is null) continue;
                // Every loop at DRAM, every tensor kept there only: a valid mapping of any part.
                var m = new Mapping([
                    new LevelMapping(part.Ranks.Where(r => r.Bound > 1).Select(r => new TemporalLoop(r.Id, r.Bound)), [], part.Tensors.Select(t => t.Id)),
                    new LevelMapping([], [], []), new LevelMapping([], [], [])]);
                var model = CostModel.Evaluate(part, a, m);
                Assert.AreEqual(0, ModelCheck.Compare(model, Simulator.Run(part, a, m)).Count, $"f={f} {part}");
                macs += runs * model.Macs;
            }
            Assert.AreEqual(clipped.Total * 4, macs, $"f={f}");
            if (f == 3) Assert.AreEqual(64, macs);
        }
    }

    // The zoo's 3x3 edges: ResNet-50's 16 conv*_a -> conv*_b and MobileNetV2's 17 -> dw edges; those of stride 1 (13 and 13)
    // are same-padded, the stride-2 ones (conv3_1_b, conv4_1_b, conv5_1_b; block2_1, 3_1, 4_1 and 6_1's dw) are not.
    [TestMethod]
    public void ZooThreeByThreeEdgesAreClassified()
    {
        foreach (var (name, padded, refused) in new[] { ("resnet50", 13, 3), ("mobilenetv2", 13, 4) })
        {
            var w = Zoo.Get(name);
            var p = new RankId("P");
            int same = 0, not = 0;
            foreach (var reader in w.Layers.Where(l => l.HasRank(new RankId("R")) && l.Bound(new RankId("R")) == 3))
            {
                var input = reader.Tensors.First(t => t.Role == TensorRole.Inputs);
                int producer = w.ProducerOf(input.Id);
                if (producer < 0) continue;
                int dim = FusionRules.WalkedDim(reader, input.Id, p, HeldUse.Reads);
                var (pad, why) = FusionRules.Padding(reader, input.Id, dim, p, w.Layers[producer].Bound(p));
                if (why is null) { Assert.AreEqual(1, pad, reader.Name); same++; }
                else not++;
            }
            Assert.AreEqual((padded, refused), (same, not), name);
        }
    }
}
