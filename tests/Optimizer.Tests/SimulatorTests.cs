using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Validation;
using Optimizer.Workloads;
using static Optimizer.Tests.CommandLine;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>The simulator executes mappings and must reproduce the cost model's counts exactly, with cycles at or above its bounds.</summary>
[TestClass]
public sealed class SimulatorTests
{
    private static readonly Einsum Conv1 = Layers.Conv1d("conv", c: 1, k: 1, p: 16, r: 3);
    private static readonly Einsum Conv32 = Layers.Conv1d("conv", c: 32, k: 32, p: 16, r: 3);

    private static SimTensorLevel S(SimReport r, string level, string tensor)
        => r.Tensors.Single(t => t.Level == level && t.Tensor.Name == tensor);

    private static SimReport Checked(Einsum e, Architecture a, Mapping m)
    {
        var sim = Simulator.Run(e, a, m);
        var model = CostModel.Evaluate(e, a, m);
        var diff = ModelCheck.Compare(model, sim);
        Assert.AreEqual(0, diff.Count, $"{e.Name} on {a.Name}, {m.ToCompactString(a.Levels.Select(x => x.Name).ToList())}: {string.Join("; ", diff)}");
        return sim;
    }

    [TestMethod]
    public void WeightStationaryOneDimensionalConvolution()
    {
        var r = Checked(Conv1, TwoLevel(), M(L("R=3"), L("P=16")));
        Assert.AreEqual(3, S(r, "Buffer", "Weights").Fills);
        Assert.AreEqual(48, S(r, "Buffer", "Weights").Reads);
        Assert.AreEqual(18, S(r, "Buffer", "Inputs").Fills);
        Assert.AreEqual(48, S(r, "Buffer", "Inputs").Reads);
        Assert.AreEqual(0, S(r, "Buffer", "Outputs").Fills);
        Assert.AreEqual(48, S(r, "Buffer", "Outputs").Updates);
        Assert.AreEqual(32, S(r, "Buffer", "Outputs").Reads);
        Assert.AreEqual(3, S(r, "DRAM", "Weights").Reads);
        Assert.AreEqual(18, S(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(16, S(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(0, S(r, "DRAM", "Outputs").Reads);
        Assert.AreEqual(48, r.Macs);
        Assert.AreEqual(48, r.Cycles);
        Assert.AreEqual(1.0, r.Utilization, 1e-12);
    }

    [TestMethod]
    public void OutputStationaryOrder()
    {
        var r = Checked(Conv1, TwoLevel(), M(L("P=16"), L("R=3")));
        Assert.AreEqual(3, S(r, "Buffer", "Weights").Fills);
        Assert.AreEqual(18, S(r, "Buffer", "Inputs").Fills);
        Assert.AreEqual(0, S(r, "Buffer", "Outputs").Fills);
        Assert.AreEqual(32, S(r, "Buffer", "Outputs").Reads);
        Assert.AreEqual(16, S(r, "DRAM", "Outputs").Updates);
    }

    [TestMethod]
    public void BypassedBuffer()
    {
        var r = Checked(Conv1, TwoLevel(), M(L("R=3"), L("P=16", keep: "Weights")));
        Assert.AreEqual(48, S(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(48, S(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(32, S(r, "DRAM", "Outputs").Reads);
        Assert.AreEqual(3, S(r, "DRAM", "Weights").Reads);
    }

    [TestMethod]
    public void SixteenPesSplitOverK()
    {
        var r = Checked(Conv32, ThreeLevel16(), M(L("K=2"), L("C=32", "K=16@X"), L("P=16 R=3")));
        Assert.AreEqual(49152, r.Macs);
        Assert.AreEqual(3072, r.Cycles);
        Assert.AreEqual(16, S(r, "Reg", "Weights").InstancesUsed);
        Assert.AreEqual(192, S(r, "Reg", "Weights").Fills);
        Assert.AreEqual(1152, S(r, "Reg", "Inputs").Fills);
        Assert.AreEqual(0, S(r, "Reg", "Outputs").Fills);
        Assert.AreEqual(3072, S(r, "Reg", "Outputs").Updates);
        Assert.AreEqual(3040, S(r, "Reg", "Outputs").Reads);
        Assert.AreEqual(3072, S(r, "GLB", "Weights").Fills);
        Assert.AreEqual(3072, S(r, "GLB", "Weights").Reads);
        Assert.AreEqual(576, S(r, "GLB", "Inputs").Fills);
        Assert.AreEqual(1152, S(r, "GLB", "Inputs").Reads);
        Assert.AreEqual(0, S(r, "GLB", "Outputs").Fills);
        Assert.AreEqual(512, S(r, "GLB", "Outputs").Updates);
        Assert.AreEqual(0, S(r, "GLB", "Outputs").Reads);
        Assert.AreEqual(3072, S(r, "DRAM", "Weights").Reads);
        Assert.AreEqual(576, S(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(512, S(r, "DRAM", "Outputs").Updates);
    }

    [TestMethod]
    public void SixteenPesSplitOverCReduceSpatially()
    {
        var r = Checked(Conv32, ThreeLevel16(), M(L("K=2"), L("C=2 K=16", "C=16@X"), L("P=16 R=3")));
        Assert.AreEqual(192, S(r, "Reg", "Weights").Fills);
        Assert.AreEqual(72, S(r, "Reg", "Inputs").Fills);
        Assert.AreEqual(512, S(r, "Reg", "Outputs").Fills);
        Assert.AreEqual(2560, S(r, "Reg", "Outputs").Reads);
        Assert.AreEqual(1024, S(r, "GLB", "Outputs").Updates);
        Assert.AreEqual(512, S(r, "GLB", "Outputs").Reads);
        Assert.AreEqual(3072, S(r, "GLB", "Weights").Reads);
        Assert.AreEqual(1152, S(r, "GLB", "Inputs").Reads);
        Assert.AreEqual(576, S(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(512, S(r, "DRAM", "Outputs").Updates);
    }

    [TestMethod]
    public void StridedWindowCountsBoundingBox()
    {
        var e = Layers.Conv1d("s2", c: 1, k: 1, p: 4, r: 1, stride: 2);
        var r = Checked(e, TwoLevel(), M(L("P=4"), L("")));
        Assert.AreEqual(4, S(r, "Buffer", "Inputs").Fills);
    }

    [TestMethod]
    public void CountsEqualTheModelOverRandomValidMappings()
    {
        var rng = new Random(777);
        int checkedCount = 0;
        double worst = 1;
        foreach (var (layer, arch) in CostInvariantTests.SmallCases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 70; i++)
                if (space.TrySampleValid(rng, 2000, out var m))
                {
                    var sim = Checked(layer, arch, m);
                    worst = Math.Max(worst, (double)sim.Cycles / CostModel.Evaluate(layer, arch, m).Cycles);
                    checkedCount++;
                }
        }
        Console.WriteLine($"{checkedCount} mappings agree; largest simulated/model cycle ratio {worst:F3}");
        Assert.IsTrue(checkedCount >= 1000, $"only {checkedCount} valid mappings were drawn");
    }

    [TestMethod]
    public void CountsEqualTheModelOnZooLayersAndPresets()
    {
        var rng = new Random(99);
        int checkedCount = 0;
        double worst = 1;
        var layers = new[] { "resnet50", "mobilenetv2", "bert-base", "mlp" }
            .SelectMany(w => Zoo.DistinctShapes(Zoo.Get(w)).Select(x => x.Layer).Take(3)).ToList();
        foreach (var arch in Presets.All)
            foreach (var layer in layers)
            {
                var space = new Mapspace(layer, arch);
                if (!space.TrySampleValid(rng, 400, out var m)) continue;
                SimReport sim;
                try { sim = Simulator.Run(layer, arch, m, new SimOptions { MaxSteps = 2_000_000 }); }
                catch (ArgumentException) { continue; } // too many tile steps for a unit test
                var model = CostModel.Evaluate(layer, arch, m);
                var diff = ModelCheck.Compare(model, sim);
                Assert.AreEqual(0, diff.Count, $"{layer.Name} on {arch.Name}, {m.ToCompactString(arch.Levels.Select(x => x.Name).ToList())}: {string.Join("; ", diff)}");
                worst = Math.Max(worst, (double)sim.Cycles / model.Cycles);
                checkedCount++;
            }
        Console.WriteLine($"{checkedCount} zoo mappings agree; largest simulated/model cycle ratio {worst:F3}");
        Assert.IsTrue(checkedCount >= 20, $"only {checkedCount} zoo mappings were simulated");
    }

    [TestMethod]
    public void StarvedDramSetsTheCyclesAndTakesTheStalls()
    {
        // DRAM serves 3 + 18 = 21 operand words and takes 16 updates at 0.01 words per cycle: 2,100 cycles against 48 MACs.
        var arch = new Architecture("starved", "test", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 0.01, writeBandwidth: 0.01),
            new StorageLevel("Buffer", 64, 16, 1, 1),
        ], new ComputeUnit(1));
        var r = Checked(Conv1, arch, M(L("R=3"), L("P=16")));
        Assert.AreEqual(2100, CostModel.Evaluate(Conv1, arch, M(L("R=3"), L("P=16"))).Cycles);
        Assert.AreEqual(2100, r.Cycles);
        Assert.AreEqual(2100 - 48, r.Levels[0].StallCycles, 1e-6);
        Assert.AreEqual(0, r.Levels[1].StallCycles, 1e-6);
        Assert.AreEqual(48.0 / 2100, r.Utilization, 1e-12);
    }

    [TestMethod]
    public void SingleBufferedStarvedBufferSerializesItsFills()
    {
        // The buffer (64 words) holds W 1 + I 16 + O 16 = 33 words: not two tiles, so each of its 3 tiles is loaded
        // before the MACs use it. Its writes (3 + 18 fills, 48 updates) at 2 words per cycle need 35 cycles: the model
        // says 48 (compute-bound). Serialized: tile 0 loads 17 words (8.5) then 16 MACs; tiles 1 and 2 load 2 words (1)
        // then 16 MACs: 8.5 + 16 + 2 x (1 + 16) = 58.5 -> 59 cycles, 10.5 of them stalls on the buffer.
        var arch = new Architecture("slow-buffer", "test", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("Buffer", 64, 16, 1, 1, writeBandwidth: 2),
        ], new ComputeUnit(1));
        var m = M(L("R=3"), L("P=16"));
        var r = Checked(Conv1, arch, m);
        Assert.IsFalse(r.Levels[1].DoubleBuffered);
        Assert.AreEqual(48, CostModel.Evaluate(Conv1, arch, m).Cycles);
        Assert.AreEqual(59, r.Cycles);
        Assert.AreEqual(10.5, r.Levels[1].StallCycles, 1e-9);
        // With room for two tiles the fills are prefetched: only the first tile's 8.5 cycles are exposed.
        var roomy = new Architecture("roomy-buffer", "test", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("Buffer", 128, 16, 1, 1, writeBandwidth: 2),
        ], new ComputeUnit(1));
        var d = Checked(Conv1, roomy, m);
        Assert.IsTrue(d.Levels[1].DoubleBuffered);
        Assert.AreEqual(57, d.Cycles);
    }

    [TestMethod]
    public void TraceRecordsBoundedEvents()
    {
        var r = Simulator.Run(Conv32, ThreeLevel16(), M(L("K=2"), L("C=32", "K=16@X"), L("P=16 R=3")), new SimOptions { Trace = true, TraceLimit = 50 });
        Assert.AreEqual(50, r.Trace.Count);
        Assert.IsTrue(r.TraceTruncated);
        Assert.IsTrue(r.Trace.All(e => e.EndCycle >= e.StartCycle && e.Words > 0));
        Assert.AreEqual(0, r.Trace[0].Tile);
    }

    [TestMethod]
    public void ResNetLayerOnEyerissIsFast()
    {
        var arch = Presets.Get("eyeriss");
        var layer = Zoo.DistinctShapes(Zoo.Get("resnet50")).Select(x => x.Layer).First(l => l.Name == "conv2_1_a");
        var space = new Mapspace(layer, arch);
        var rng = new Random(5);
        // A random mapping can have tens of millions of tile steps; take the first one drawn with at most two million.
        Mapping m;
        do Assert.IsTrue(space.TrySampleValid(rng, 400, out m));
        while (m.Levels.Take(m.Levels.Count - 1).SelectMany(x => x.Temporal).Aggregate(1L, (a, t) => a * t.Factor) > 2_000_000);
        var sw = Stopwatch.StartNew();
        var sim = Simulator.Run(layer, arch, m);
        sw.Stop();
        Assert.AreEqual(0, ModelCheck.Compare(CostModel.Evaluate(layer, arch, m), sim).Count);
        Console.WriteLine($"{layer.Name} on eyeriss: {sim.TilesSimulated:N0} tile steps in {sw.Elapsed.TotalSeconds:F2} s");
        Assert.IsTrue(sw.Elapsed.TotalSeconds < 4, $"took {sw.Elapsed.TotalSeconds:F2} s");
    }
}

/// <summary>The simulate and validate commands end to end.</summary>
[TestClass]
[DoNotParallelize]
public sealed class SimulatorCliTests
{
    [TestMethod]
    public void SimulateAgreesAndWritesCsvAndTrace()
    {
        var dir = Path.Combine(Path.GetTempPath(), "optimizer-sim-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            var (code, output, err) = Run("simulate", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"),
                "--mapping", Example("conv1d-mapping.yaml"), "--csv", Path.Combine(dir, "s.csv"), "--trace", Path.Combine(dir, "t.csv"));
            Assert.AreEqual(0, code, err);
            StringAssert.Contains(output, "every count equals the model's");
            StringAssert.Contains(output, "Cycles       49,152 simulated; model 49,152");
            StringAssert.StartsWith(File.ReadAllText(Path.Combine(dir, "s.csv")), "Layer,Level,Tensor");
            StringAssert.StartsWith(File.ReadAllText(Path.Combine(dir, "t.csv")), "Tile,LevelIndex,Level,Tensor,Kind,StartCycle,EndCycle,Words");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestMethod]
    public void ValidateReportsAgreementAndRejectsBadArguments()
    {
        var (code, output, err) = Run("validate", "--arch", "simple-ws", "--workload", "mlp", "--samples", "3", "--seed", "7");
        Assert.AreEqual(0, code, output + err);
        StringAssert.Contains(output, "0 disagree");
        var bad = Run("validate", "--arch", "simple-ws", "--workload", "mlp", "--samples", "0");
        Assert.AreEqual(2, bad.Code);
        StringAssert.Contains(bad.Err, "--samples must be at least 1");
    }
}
