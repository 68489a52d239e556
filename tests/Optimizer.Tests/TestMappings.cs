using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>Terse builders for mappings and small architectures used by the hand-worked tests.</summary>
internal static class TestMappings
{
    /// <summary>A level from strings: temporal "K=2 C=4" (outermost first), spatial "K=16@X", keep "Weights Inputs".</summary>
    public static LevelMapping L(string temporal, string spatial = "", string keep = "Weights Inputs Outputs")
        => new(
            Split(temporal).Select(x => { var p = x.Split('='); return new TemporalLoop(new RankId(p[0]), int.Parse(p[1])); }),
            Split(spatial).Select(x =>
            {
                var p = x.Split('=', '@');
                return new SpatialLoop(new RankId(p[0]), int.Parse(p[1]), Enum.Parse<Axis>(p[2]));
            }),
            Split(keep).Select(x => new TensorId(x)));

    public static Mapping M(params LevelMapping[] levels) => new(levels);

    private static string[] Split(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// A random small three-level architecture for brute-force comparisons: DRAM (with a mesh of two nodes
    /// below it when <paramref name="mesh"/>), a buffer of 16 to 16 + <paramref name="bufferSpread"/> - 1
    /// words over a random fanout of at most 4 x 2, and a 4- to 15-word register that keeps every role
    /// or only weights and outputs; random multicast, reduction and hop energies.
    /// </summary>
    public static Architecture RandomSmall(Random rng, string name, int bufferSpread, bool mesh)
    {
        long buffer = 16 + rng.Next(bufferSpread);
        int fx = 1 + rng.Next(4), fy = rng.Next(2) == 0 ? 1 : 2;
        return new Architecture(name, "random small", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 2, writeBandwidth: 2,
                fanout: mesh ? new Fanout(2, 1, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: 3, topology: Topology.Mesh) : null),
            new StorageLevel("Buffer", buffer, 16, 5, 6, fanout: new Fanout(fx, fy, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: rng.Next(3))),
            new StorageLevel("Reg", 4 + rng.Next(12), 16, 1, 1, keeps: rng.Next(2) == 0 ? null : [TensorRole.Weights, TensorRole.Outputs]),
        ], new ComputeUnit(0.5));
    }

    /// <summary>DRAM (100 pJ) and a 64-word buffer (1 pJ) above one MAC (1 pJ).</summary>
    public static Architecture TwoLevel(long bufferWords = 64) => new("two-level", "test", [
        new StorageLevel("DRAM", null, 16, 100, 100),
        new StorageLevel("Buffer", bufferWords, 16, 1, 1),
    ], new ComputeUnit(1));

    /// <summary>DRAM (200), a 4096-word global buffer (6) with a 16x1 array bus (2 pJ per word) to 16 PEs, each with a 64-word register file (1); MAC 1.</summary>
    public static Architecture ThreeLevel16() => new("three-level", "test", [
        new StorageLevel("DRAM", null, 16, 200, 200),
        new StorageLevel("GLB", 4096, 16, 6, 6, fanout: new Fanout(16, 1, multicast: true, spatialReduction: true, hopEnergy: 2)),
        new StorageLevel("Reg", 64, 16, 1, 1),
    ], new ComputeUnit(1));

    public static TensorLevelCost Row(CostReport r, string level, string tensor)
        => r.Tensors.Single(t => t.Level == level && t.Tensor.Name == tensor);
}
