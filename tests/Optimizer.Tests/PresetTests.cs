using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>Checks the built-in architectures against the published numbers they come from.</summary>
[TestClass]
public sealed class PresetTests
{
    private const double Tol = 1e-9;

    private static StorageLevel Level(Architecture arch, string name)
    {
        int i = arch.IndexOf(name);
        Assert.IsGreaterThanOrEqualTo(0, i, $"{arch.Name} has no level {name}");
        return arch.Levels[i];
    }

    private static void AssertKeeps(StorageLevel level, params TensorRole[] roles)
        => CollectionAssert.AreEquivalent(roles, level.Keeps.ToArray(), $"roles kept by {level.Name}");

    /// <summary>Every preset is built, named as listed, described, and unbounded only at DRAM.</summary>
    [TestMethod]
    public void EveryPresetBuilds()
    {
        CollectionAssert.AreEqual(new[] { "eyeriss", "simple-ws", "tpu-v4i", "multinode", "multinode-4x4" }, Presets.Names.ToArray());
        Assert.HasCount(Presets.Names.Count, Presets.All);
        for (int i = 0; i < Presets.All.Count; i++)
        {
            var arch = Presets.All[i];
            Assert.AreEqual(Presets.Names[i], arch.Name);
            Assert.IsFalse(string.IsNullOrWhiteSpace(arch.Description), $"{arch.Name} has no description");
            Assert.AreEqual("DRAM", arch.Levels[0].Name);
            Assert.IsNull(arch.Levels[0].Capacity);
            Assert.IsTrue(arch.Levels.Skip(1).All(l => l.Capacity is > 0), $"{arch.Name} has an unbounded on-chip level");
        }
    }

    /// <summary>Preset names are distinct, even ignoring case.</summary>
    [TestMethod]
    public void NamesAreDistinct()
        => Assert.HasCount(Presets.Names.Count, Presets.Names.Distinct(StringComparer.OrdinalIgnoreCase));

    /// <summary>Presets are built once: every lookup returns the same instance.</summary>
    [TestMethod]
    public void PresetsAreBuiltOnce()
    {
        var first = Presets.All;
        Assert.AreSame(first[0], Presets.Get("eyeriss"));
        Assert.AreSame(first[3], Presets.Get("multinode"));
        Assert.AreSame(first, Presets.All);
    }

    /// <summary>Eyeriss: 168 PEs, a 108 KB buffer, 224/12/24-word scratchpads, energies 200:6:2:1:1.</summary>
    [TestMethod]
    public void EyerissMatchesThePaper()
    {
        var a = Presets.Get("eyeriss");
        Assert.AreEqual(168L, a.ComputeInstances);
        CollectionAssert.AreEqual(new[] { "DRAM", "GlobalBuffer", "WeightsSpad", "InputsSpad", "PsumSpad" }, a.Levels.Select(l => l.Name).ToArray());
        Assert.IsTrue(a.Levels.All(l => l.WordBits == 16));

        var glb = Level(a, "GlobalBuffer");
        Assert.AreEqual(55296L, glb.Capacity);
        Assert.AreEqual(110592L, glb.Capacity * glb.WordBits / 8);
        AssertKeeps(glb, TensorRole.Inputs, TensorRole.Outputs);
        Assert.AreEqual(14, glb.Fanout.X);
        Assert.AreEqual(12, glb.Fanout.Y);
        Assert.IsTrue(glb.Fanout.Multicast && glb.Fanout.SpatialReduction);

        Assert.AreEqual(224L, Level(a, "WeightsSpad").Capacity);
        Assert.AreEqual(12L, Level(a, "InputsSpad").Capacity);
        Assert.AreEqual(24L, Level(a, "PsumSpad").Capacity);
        AssertKeeps(Level(a, "WeightsSpad"), TensorRole.Weights);
        AssertKeeps(Level(a, "InputsSpad"), TensorRole.Inputs);
        AssertKeeps(Level(a, "PsumSpad"), TensorRole.Outputs);
        for (int i = 2; i < a.Levels.Count; i++) Assert.AreEqual(168L, a.InstancesOf(i), $"instances of {a.Levels[i].Name}");

        double mac = a.Compute.MacEnergy;
        Assert.AreEqual(Presets.EyerissPjPerUnit, mac, Tol);
        Assert.AreEqual(200.0, Level(a, "DRAM").ReadEnergy / mac, Tol);
        Assert.AreEqual(6.0, glb.ReadEnergy / mac, Tol);
        Assert.AreEqual(2.0, glb.Fanout.HopEnergy / mac, Tol);
        foreach (var spad in new[] { "WeightsSpad", "InputsSpad", "PsumSpad" })
        {
            Assert.AreEqual(1.0, Level(a, spad).ReadEnergy / mac, Tol);
            Assert.AreEqual(1.0, Level(a, spad).WriteEnergy / mac, Tol);
        }
        Assert.AreEqual(0.2, a.ClockGHz);
    }

    /// <summary>simple-ws: 16 PEs under a 4096-word buffer, with weight-only registers.</summary>
    [TestMethod]
    public void SimpleWsIsSmall()
    {
        var a = Presets.Get("simple-ws");
        Assert.AreEqual(16L, a.ComputeInstances);
        Assert.HasCount(3, a.Levels);
        Assert.AreEqual(4096L, Level(a, "GlobalBuffer").Capacity);
        AssertKeeps(Level(a, "Registers"), TensorRole.Weights);
        Assert.AreEqual(0.5, a.Compute.MacEnergy, Tol);
        Assert.AreEqual(100.0, Level(a, "DRAM").ReadEnergy, Tol);
    }

    /// <summary>tpu-v4i: a 128 x 128 array, 56.24 pJ per byte-wide DRAM word, GB/s turned into words per cycle at 1.05 GHz.</summary>
    [TestMethod]
    public void TpuV4iConvertsUnits()
    {
        var a = Presets.Get("tpu-v4i");
        Assert.AreEqual(16384L, a.ComputeInstances);
        Assert.IsTrue(a.Levels.All(l => l.WordBits == 8));
        var dram = Level(a, "DRAM");
        Assert.AreEqual(56.24, dram.ReadEnergy, Tol);
        Assert.AreEqual(56.24, dram.WriteEnergy, Tol);
        Assert.AreEqual(584.7619, dram.ReadBandwidth!.Value, 1e-3);
        var glb = Level(a, "GlobalBuffer");
        Assert.AreEqual(128L * 1024 * 1024, glb.Capacity);
        Assert.AreEqual(1950.4762, glb.ReadBandwidth!.Value, 1e-3);
        Assert.AreEqual(975.2381, glb.WriteBandwidth!.Value, 1e-3);
        var local = Level(a, "LocalBuffer");
        Assert.AreEqual(16L * 1024 * 1024, local.Capacity);
        AssertKeeps(local, TensorRole.Inputs, TensorRole.Outputs);
        Assert.AreEqual(1L, a.InstancesOf(a.IndexOf("LocalBuffer")));
        var reg = Level(a, "WeightRegister");
        Assert.AreEqual(1L, reg.Capacity);
        AssertKeeps(reg, TensorRole.Weights);
        Assert.AreEqual(0.084, a.Compute.MacEnergy, Tol);
        Assert.AreEqual(1.05, a.ClockGHz);
    }

    /// <summary>multinode: 16 x 16 nodes of 8 x 8 PEs; multinode-4x4: 4 x 4 nodes with 64 KB buffers.</summary>
    [TestMethod]
    public void MultinodeCountsNodesAndPes()
    {
        var a = Presets.Get("multinode");
        Assert.AreEqual(16384L, a.ComputeInstances);
        Assert.AreEqual(256L, a.InstancesOf(a.IndexOf("GlobalBuffer")));
        Assert.AreEqual(16384L, a.InstancesOf(a.IndexOf("RegFile")));
        Assert.AreEqual(16384L, Level(a, "GlobalBuffer").Capacity);
        Assert.AreEqual(32L, Level(a, "RegFile").Capacity);
        var noc = Level(a, "DRAM").Fanout;
        Assert.AreEqual(Topology.Mesh, noc.Topology);
        Assert.AreEqual(9.76, noc.HopEnergy, Tol);
        Assert.AreEqual(25.0, Level(a, "DRAM").ReadBandwidth);
        Assert.AreEqual(401.89, Level(a, "DRAM").ReadEnergy, Tol);
        Assert.AreEqual(Topology.Bus, Level(a, "GlobalBuffer").Fanout.Topology);
        Assert.AreEqual(1.6416, Level(a, "GlobalBuffer").Fanout.HopEnergy, Tol);
        Assert.AreEqual(0.9984, a.Compute.MacEnergy, Tol);

        var small = Presets.Get("multinode-4x4");
        Assert.AreEqual(1024L, small.ComputeInstances);
        Assert.AreEqual(16L, small.InstancesOf(small.IndexOf("GlobalBuffer")));
        Assert.AreEqual(32768L, Level(small, "GlobalBuffer").Capacity);
        Assert.AreEqual(32L, Level(small, "RegFile").Capacity);
    }

    /// <summary>TryGet ignores case and reports a missing name as false.</summary>
    [TestMethod]
    public void TryGetIgnoresCase()
    {
        Assert.IsTrue(Presets.TryGet("EyeRiss", out var arch));
        Assert.AreEqual("eyeriss", arch!.Name);
        Assert.IsTrue(Presets.TryGet("TPU-V4I", out arch));
        Assert.AreEqual("tpu-v4i", arch!.Name);
        Assert.IsFalse(Presets.TryGet("nope", out arch));
        Assert.IsNull(arch);
    }

    /// <summary>Get with an unknown name throws an ArgumentException that lists every valid name.</summary>
    [TestMethod]
    public void GetUnknownListsNames()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Presets.Get("nope"));
        StringAssert.Contains(e.Message, "nope");
        foreach (var name in Presets.Names) StringAssert.Contains(e.Message, name);
    }
}
