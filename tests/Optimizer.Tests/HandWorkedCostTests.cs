using Optimizer.Formulation;
using Optimizer.Workloads;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>Cost-model cases whose expected numbers are derived by hand in the comments.</summary>
[TestClass]
public sealed class HandWorkedCostTests
{
    // 1-D convolution O[p] += I[p+r] * W[r], R=3, P=16: 48 MACs; the input has 18 elements.
    private static readonly Einsum Conv1 = Layers.Conv1d("conv", c: 1, k: 1, p: 16, r: 3);

    [TestMethod]
    public void WeightStationaryOneDimensionalConvolutionOnTwoLevels()
    {
        // DRAM: for R in [0:3); Buffer: for P in [0:16); the buffer keeps all three tensors.
        var arch = TwoLevel();
        var r = CostModel.Evaluate(Conv1, arch, M(L("R=3"), L("P=16")));

        // Buffer tiles: W 1 word (r fixed), I 16 words (p = 0..15 at fixed r), O 16 words.
        // W: the R loop above moves the weight each step: 1 + 2*1 = 3 fills; each MAC reads it: 48 reads.
        Assert.AreEqual(1, Row(r, "Buffer", "Weights").TileWords);
        Assert.AreEqual(3, Row(r, "Buffer", "Weights").Fills);
        Assert.AreEqual(48, Row(r, "Buffer", "Weights").Reads);
        // I: r -> r+1 slides the window by one: 16 + 2*1 = 18 fills (the whole input once); 48 reads.
        Assert.AreEqual(16, Row(r, "Buffer", "Inputs").TileWords);
        Assert.AreEqual(18, Row(r, "Buffer", "Inputs").Fills);
        Assert.AreEqual(48, Row(r, "Buffer", "Inputs").Reads);
        // O: R does not index O, so the 16 partial sums stay: no refetch (fills 0), 48 updates,
        // reads = 48 updates - 16 first touches = 32.
        Assert.AreEqual(0, Row(r, "Buffer", "Outputs").Fills);
        Assert.AreEqual(48, Row(r, "Buffer", "Outputs").Updates);
        Assert.AreEqual(32, Row(r, "Buffer", "Outputs").Reads);
        // DRAM serves the buffer's fills: W 3, I 18; O is drained once: 16 updates, 16 - 16 = 0 reads.
        Assert.AreEqual(3, Row(r, "DRAM", "Weights").Reads);
        Assert.AreEqual(18, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(16, Row(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(0, Row(r, "DRAM", "Outputs").Reads);
        // Energy: DRAM (3+18+0) reads + 16 updates at 100 = 3700; buffer 128 reads + (21 fills + 48 updates) at 1 = 197;
        // 48 MACs at 1 = 48; total 3945 pJ. Cycles = 3*16 = 48 with one MAC: utilization 1.
        Assert.AreEqual(3700, r.Levels[0].Energy, 1e-9);
        Assert.AreEqual(197, r.Levels[1].Energy, 1e-9);
        Assert.AreEqual(3945, r.Energy, 1e-9);
        Assert.AreEqual(48, r.Macs);
        Assert.AreEqual(48, r.Cycles);
        Assert.AreEqual(1.0, r.Utilization, 1e-12);
    }

    [TestMethod]
    public void OutputStationaryOrderRefetchesWeightsButNotOutputs()
    {
        // DRAM: for P in [0:16); Buffer: for R in [0:3). The buffer now holds W[0:3], I[p:p+3], O[p].
        var r = CostModel.Evaluate(Conv1, TwoLevel(), M(L("P=16"), L("R=3")));
        // W: P does not index W and nothing inside it resets: the 3 weights are fetched once.
        Assert.AreEqual(3, Row(r, "Buffer", "Weights").Fills);
        // I: each p slides the 3-word window by one: 3 + 15*1 = 18.
        Assert.AreEqual(18, Row(r, "Buffer", "Inputs").Fills);
        // O: a new output word for each p: 16 visits, all first touches: fills 0; updates 48; reads 48-16 = 32.
        Assert.AreEqual(0, Row(r, "Buffer", "Outputs").Fills);
        Assert.AreEqual(32, Row(r, "Buffer", "Outputs").Reads);
        Assert.AreEqual(16, Row(r, "DRAM", "Outputs").Updates);
    }

    [TestMethod]
    public void BypassedBufferSendsEveryOperandFromDram()
    {
        // The buffer keeps only the weights: inputs and outputs go between DRAM and the MAC directly.
        var r = CostModel.Evaluate(Conv1, TwoLevel(), M(L("R=3"), L("P=16", keep: "Weights")));
        // Each MAC reads its input from DRAM: 48; outputs: 48 updates, 48 - 16 = 32 reads at DRAM.
        Assert.AreEqual(48, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(48, Row(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(32, Row(r, "DRAM", "Outputs").Reads);
        Assert.AreEqual(3, Row(r, "DRAM", "Weights").Reads);
        Assert.IsFalse(r.Tensors.Any(t => t.Level == "Buffer" && t.Tensor.Name != "Weights"));
    }

    // O[k,p] += I[c, p+r] * W[k,c,r], C=K=32, R=3, P=16: 49152 MACs on 16 PEs.
    private static readonly Einsum Conv32 = Layers.Conv1d("conv", c: 32, k: 32, p: 16, r: 3);

    [TestMethod]
    public void SixteenPesSplitOverK()
    {
        // DRAM: for K in [0:2); GLB: for C in [0:32), spatial K=16 along X; Reg: for P in [0:16), for R in [0:3).
        var r = CostModel.Evaluate(Conv32, ThreeLevel16(), M(L("K=2"), L("C=32", "K=16@X"), L("P=16 R=3")));
        // Each PE: 2*32*16*3 = 3072 MACs; 16 PEs used.
        Assert.AreEqual(49152, r.Macs);
        Assert.AreEqual(3072, r.Cycles);
        Assert.AreEqual(16, Row(r, "Reg", "Weights").InstancesUsed);
        // Reg W tile = 3 (k, c fixed). The DRAM K step (stride 16) and every C step bring a new tile:
        // 3 + 1*3 + (31*2)*3 = 192 = the PE's 2 k x 32 c x 3 r weights.
        Assert.AreEqual(192, Row(r, "Reg", "Weights").Fills);
        // Reg I tile = 16+3-1 = 18 words of one channel. The K step resets C (new channel): 18; each C step: 62*18.
        // 18 + 18 + 1116 = 1152.
        Assert.AreEqual(18, Row(r, "Reg", "Inputs").TileWords);
        Assert.AreEqual(1152, Row(r, "Reg", "Inputs").Fills);
        // Reg O tile = 16 words of one k. C does not index O: kept across C. K step: 16 new; visits 32,
        // partition 2*16 = 32 first touches: fills 0; updates 3072; reads 3072-32 = 3040.
        Assert.AreEqual(0, Row(r, "Reg", "Outputs").Fills);
        Assert.AreEqual(3072, Row(r, "Reg", "Outputs").Updates);
        Assert.AreEqual(3040, Row(r, "Reg", "Outputs").Reads);
        // GLB tiles: W 16*32*3 = 1536, I 32*18 = 576, O 16*16 = 256.
        // GLB W: the DRAM K step swaps the whole tile: 3072 fills; reads = 192 per PE x 16 PEs (K indexes W: no multicast) = 3072.
        Assert.AreEqual(3072, Row(r, "GLB", "Weights").Fills);
        Assert.AreEqual(3072, Row(r, "GLB", "Weights").Reads);
        // GLB I: the K step does not index I and no loop between resets: 576 fills. Reads: 1152 x 16 / 16 (multicast over K) = 1152.
        Assert.AreEqual(576, Row(r, "GLB", "Inputs").Fills);
        Assert.AreEqual(1152, Row(r, "GLB", "Inputs").Reads);
        // GLB O: 256 + 256 visits, all first touches: fills 0; updates 32 x 16 (K indexes O: no reduction) = 512; reads 0.
        Assert.AreEqual(0, Row(r, "GLB", "Outputs").Fills);
        Assert.AreEqual(512, Row(r, "GLB", "Outputs").Updates);
        Assert.AreEqual(0, Row(r, "GLB", "Outputs").Reads);
        // DRAM: W 3072 reads, I 576 reads, O 512 updates and 0 reads.
        Assert.AreEqual(3072, Row(r, "DRAM", "Weights").Reads);
        Assert.AreEqual(576, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(512, Row(r, "DRAM", "Outputs").Updates);
        // Array bus: (3072 + 1152 + 512) words x 1 hop x 2 pJ = 9472 pJ.
        Assert.AreEqual(9472, r.NetworkEnergy, 1e-9);
        // Energy: DRAM (3072+576)*200 + 512*200 = 832000; GLB reads (3072+1152+0)*6 + writes (3072+576+512)*6 = 50304;
        // Reg 16 x [reads (3072+3072+3040) + writes (192+1152+0+3072)] = 16 x 13600 = 217600; MACs 49152.
        Assert.AreEqual(832000, r.Levels[0].Energy, 1e-6);
        Assert.AreEqual(50304, r.Levels[1].Energy, 1e-6);
        Assert.AreEqual(217600, r.Levels[2].Energy, 1e-6);
        Assert.AreEqual(832000 + 50304 + 217600 + 49152 + 9472, r.Energy, 1e-6);
    }

    [TestMethod]
    public void SixteenPesSplitOverCReduceSpatially()
    {
        // DRAM: for K in [0:2); GLB: for C in [0:2), for K in [0:16), spatial C=16 along X; Reg: for P, for R.
        var r = CostModel.Evaluate(Conv32, ThreeLevel16(), M(L("K=2"), L("C=2 K=16", "C=16@X"), L("P=16 R=3")));
        Assert.AreEqual(49152, r.Macs);
        // Reg W: every (k, c) pair a PE sees is a new 3-word tile: 2*2*16 pairs -> 192 fills.
        Assert.AreEqual(192, Row(r, "Reg", "Weights").Fills);
        // Reg I: K2 step resets C: 18; C2 steps: 2*18 = 36; K16 steps do not index I: 0. 18 + 18 + 36 = 72.
        Assert.AreEqual(72, Row(r, "Reg", "Inputs").Fills);
        // Reg O: every (k) change is new: 16 + 16 (K2) + 2*16 (C2, resets K) + 60*16 (K16) = 1024 visits;
        // the PE's partition is 32 k x 16 p = 512 words, so 1024 - 512 = 512 refetches (fills); reads 3072 - 512 = 2560.
        Assert.AreEqual(512, Row(r, "Reg", "Outputs").Fills);
        Assert.AreEqual(2560, Row(r, "Reg", "Outputs").Reads);
        // GLB O: 16 PEs each drain 1024 words; C does not index O and the bus reduces: 1024 x 16 / 16 = 1024 updates;
        // reads = 1024 - 512 (the GLB's partition: 2 x 256) = 512.
        Assert.AreEqual(1024, Row(r, "GLB", "Outputs").Updates);
        Assert.AreEqual(512, Row(r, "GLB", "Outputs").Reads);
        // GLB W reads: 192 x 16 (C indexes W: no multicast) = 3072; GLB I reads: 72 x 16 = 1152.
        Assert.AreEqual(3072, Row(r, "GLB", "Weights").Reads);
        Assert.AreEqual(1152, Row(r, "GLB", "Inputs").Reads);
        Assert.AreEqual(576, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(512, Row(r, "DRAM", "Outputs").Updates);
    }

    [TestMethod]
    public void StridedWindowCountsBoundingBoxAndNoOverlapBetweenDisjointTiles()
    {
        // O[p] += I[2p + r] * W[r], P=4, R=1 (a 1x1 stride-2 convolution): the input is 7 words (bounding box).
        var e = Layers.Conv1d("s2", c: 1, k: 1, p: 4, r: 1, stride: 2);
        Assert.AreEqual(7, e.TensorWords(e.Tensors.Single(t => t.Role == TensorRole.Inputs)));
        // DRAM: for P in [0:4); Buffer holds I[2p]: each step moves 2 > 1 word: 4 whole new tiles, no double counting.
        var r = CostModel.Evaluate(e, TwoLevel(), M(L("P=4"), L("")));
        Assert.AreEqual(4, Row(r, "Buffer", "Inputs").Fills);
    }
}
