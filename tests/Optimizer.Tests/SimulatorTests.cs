using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Validation;
using Optimizer.Workloads;
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
}
