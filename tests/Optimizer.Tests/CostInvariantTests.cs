using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>Invariants of the cost model over many random valid mappings, and a check of its refill counts against literal execution.</summary>
[TestClass]
public sealed class CostInvariantTests
{
    internal static IEnumerable<(Einsum Layer, Architecture Arch)> SmallCases()
    {
        var layers = new[]
        {
            Layers.Conv1d("c1", c: 4, k: 6, p: 12, r: 3),
            Layers.Conv1d("c1s2", c: 2, k: 4, p: 8, r: 3, stride: 2),
            Layers.Conv2d("c2", n: 2, c: 4, k: 4, p: 6, q: 4, r: 3, s: 2, stride: 1),
            Layers.Conv2d("dw", n: 1, c: 1, k: 1, p: 4, q: 4, r: 3, s: 3, stride: 2, groups: 6),
            Layers.Gemm("mm", m: 12, n: 8, k: 18),
            Layers.BatchedMatmul("bmm", batch: 2, m: 6, n: 4, k: 9),
        };
        var archs = new[]
        {
            TestMappings.TwoLevel(256),
            TestMappings.ThreeLevel16(),
            new Architecture("mesh", "test", [
                new StorageLevel("DRAM", null, 16, 200, 200, readBandwidth: 4, writeBandwidth: 4, fanout: new Fanout(2, 2, multicast: true, spatialReduction: false, hopEnergy: 3, topology: Topology.Mesh)),
                new StorageLevel("GB", 2048, 16, 5, 6, fanout: new Fanout(4, 2, multicast: false, spatialReduction: true, hopEnergy: 1)),
                new StorageLevel("WSpad", 32, 16, 1, 1, keeps: [TensorRole.Weights]),
                new StorageLevel("OSpad", 16, 16, 1, 1, keeps: [TensorRole.Outputs]),
            ], new ComputeUnit(0.5)),
        };
        foreach (var l in layers) foreach (var a in archs) yield return (l, a);
    }

    [TestMethod]
    public void InvariantsHoldOverRandomValidMappings()
    {
        var rng = new Random(12345);
        int evaluated = 0;
        foreach (var (layer, arch) in SmallCases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 40; i++)
                if (space.TrySampleValid(rng, 2000, out var m)) { CheckInvariants(layer, arch, m); evaluated++; }
        }
        Assert.IsTrue(evaluated >= 300, $"only {evaluated} valid mappings were drawn");
    }

    [TestMethod]
    public void InvariantsHoldOnZooLayersAndPresets()
    {
        var rng = new Random(4242);
        int evaluated = 0;
        var layers = new[] { "resnet50", "mobilenetv2", "bert-base", "mlp", "lstm", "gpt3-6.7b:tokens=256" }
            .SelectMany(w => Zoo.DistinctShapes(Zoo.Get(w)).Select(x => x.Layer).Take(6)).ToList();
        foreach (var arch in Presets.All)
            foreach (var layer in layers)
            {
                var space = new Mapspace(layer, arch);
                for (int i = 0; i < 2; i++)
                    if (space.TrySampleValid(rng, 400, out var m)) { CheckInvariants(layer, arch, m); evaluated++; }
            }
        Assert.IsTrue(evaluated >= 150, $"only {evaluated} valid mappings were drawn");
    }

    private static void CheckInvariants(Einsum layer, Architecture arch, Mapping m)
    {
        var r = CostModel.Evaluate(layer, arch, m);
        Assert.AreEqual(layer.Macs, r.Macs, "MACs must equal the Einsum's volume");
        foreach (var t in r.Tensors)
        {
            Assert.IsTrue(t.Fills >= 0 && t.Reads >= 0 && t.Updates >= 0, $"negative count at {t.Level} {t.Tensor}");
            if (t.LevelIndex > 0 && t.Role != TensorRole.Outputs)
                Assert.IsTrue(t.Fills >= t.TileWords, $"{t.Tensor} at {t.Level}: a kept operand tile is filled at least once");
        }
        foreach (var spec in layer.Tensors)
        {
            var dram = r.Tensors.Single(t => t.LevelIndex == 0 && t.Tensor == spec.Id);
            long words = layer.TensorWords(spec);
            if (spec.IsOutput)
            {
                Assert.IsTrue(dram.Updates >= words, "every output word reaches DRAM at least once");
                Assert.AreEqual(dram.Updates - words, dram.Reads, "DRAM output reads are updates minus first writes");
            }
            else if (Dense(layer, spec))
                Assert.IsTrue(dram.Reads >= words, $"{spec.Id} is read from DRAM at least once in full ({dram.Reads} < {words})");
            CheckParentServesChildren(layer, arch, m, r, spec);
        }
        Assert.IsTrue(r.Cycles >= r.ComputeCycles);
        Assert.IsTrue(r.Utilization is > 0 and <= 1.0 + 1e-12);
    }

    /// <summary>
    /// True when every word of the tensor's bounding box is used by some MAC: each index is one rank,
    /// or a window a*s + b*d whose steps leave no gap (a stride of 1 with d no larger than a's bound, or
    /// the reverse). Strided windows with gaps never need the gap words, so they are not read in full.
    /// </summary>
    private static bool Dense(Einsum layer, TensorSpec spec)
        => spec.Dims.All(d => d.Terms.Count == 1 && Math.Abs(d.Terms[0].Coefficient) == 1
            || d.Terms.Count == 2 && (Math.Abs(d.Terms[0].Coefficient) == 1 && Math.Abs(d.Terms[1].Coefficient) <= layer.Bound(d.Terms[0].Rank)
                                     || Math.Abs(d.Terms[1].Coefficient) == 1 && Math.Abs(d.Terms[0].Coefficient) <= layer.Bound(d.Terms[1].Rank)));

    /// <summary>Reads of an input at a keeping level equal the fills of the next keeping level below (or MACs), over all instances, divided by multicast.</summary>
    private static void CheckParentServesChildren(Einsum layer, Architecture arch, Mapping m, CostReport r, TensorSpec spec)
    {
        var keepers = r.Tensors.Where(t => t.Tensor == spec.Id).OrderBy(t => t.LevelIndex).ToList();
        for (int i = 0; i < keepers.Count; i++)
        {
            var parent = keepers[i];
            int childLevel = i + 1 < keepers.Count ? keepers[i + 1].LevelIndex : arch.Levels.Count;
            long shared = 1;
            for (int lv = parent.LevelIndex; lv < childLevel; lv++)
            {
                var fan = arch.Levels[lv].Fanout;
                bool can = spec.IsOutput ? fan.SpatialReduction : fan.Multicast;
                if (can) foreach (var s in m.Levels[lv].Spatial) if (!spec.IsIndexedBy(s.Rank)) shared *= s.Factor;
            }
            // What the children ask for over all their instances: fills plus first touches for outputs
            // (visits), or one operand per MAC at the compute units.
            long childTotal = childLevel == arch.Levels.Count
                ? r.Macs
                : keepers[i + 1].TotalFills + (spec.IsOutput ? Partition(layer, m, spec, childLevel) * keepers[i + 1].InstancesUsed : 0);
            long parentTotal = spec.IsOutput ? parent.TotalUpdates : parent.TotalReads;
            Assert.AreEqual(childTotal / shared, parentTotal, $"{spec.Id}: {parent.Level} must serve what the level below takes");
        }
    }

    private static long Partition(Einsum layer, Mapping m, TensorSpec spec, int level)
        => spec.Footprint(rank =>
        {
            long x = 1;
            for (int l = 0; l < m.Levels.Count; l++)
            {
                x *= m.Levels[l].TemporalFactor(rank);
                if (l >= level) x *= m.Levels[l].SpatialFactor(rank);
            }
            return x;
        });

    [TestMethod]
    public void RefillCountsMatchLiteralExecution()
    {
        // Executes the temporal loops above each keeping level one iteration at a time, holds the current
        // tile as a box of tensor indices, and counts the words of each new box that the previous one did
        // not hold: an independent count of what the closed form computes.
        var rng = new Random(777);
        int compared = 0;
        foreach (var (layer, arch) in SmallCases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 12; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m)) continue;
                var r = CostModel.Evaluate(layer, arch, m);
                foreach (var row in r.Tensors.Where(t => t.LevelIndex > 0))
                {
                    var spec = layer.FindTensor(row.Tensor)!;
                    long visits = LiteralVisits(layer, m, spec, row.LevelIndex);
                    long expected = spec.IsOutput ? visits - Partition(layer, m, spec, row.LevelIndex) : visits;
                    Assert.AreEqual(expected, row.Fills, $"{layer.Name} on {arch.Name}, {row.Level} {row.Tensor}: {m.ToCompactString(arch.Levels.Select(x => x.Name).ToList())}");
                    compared++;
                }
            }
        }
        Assert.IsTrue(compared >= 200, $"only {compared} counts compared");
    }

    private static long LiteralVisits(Einsum layer, Mapping m, TensorSpec spec, int level)
    {
        var nest = m.Nest().ToList();
        int start = 0;
        for (int l = 0; l < level; l++) start += m.Levels[l].Temporal.Count + m.Levels[l].Spatial.Count;
        // Stride of each loop: product of its rank's factors in every loop inside it.
        var stride = new long[nest.Count];
        var inner = layer.Ranks.ToDictionary(x => x.Id, _ => 1L);
        for (int i = nest.Count - 1; i >= 0; i--) { stride[i] = inner[nest[i].Rank]; inner[nest[i].Rank] *= nest[i].Factor; }
        var extent = layer.Ranks.ToDictionary(x => x.Id, x => { long e = 1; for (int i = start; i < nest.Count; i++) if (nest[i].Rank == x.Id) e *= nest[i].Factor; return e; });
        var above = Enumerable.Range(0, start).Where(i => !nest[i].IsSpatial).ToList();
        var idx = new int[above.Count];
        long[]? prevLo = null;
        long total = 0;
        while (true)
        {
            // Lower corner of the tile in each tensor dimension (instance 0 of every spatial loop).
            var offset = layer.Ranks.ToDictionary(x => x.Id, _ => 0L);
            for (int a = 0; a < above.Count; a++) offset[nest[above[a]].Rank] += idx[a] * stride[above[a]];
            var lo = spec.Dims.Select(d => d.Terms.Sum(t => (long)t.Coefficient * offset[t.Rank])).ToArray();
            var ext = TensorIndex.Of(spec).DimExtents(rk => extent[rk]);
            long tile = ext.Aggregate(1L, (x, y) => x * y);
            if (prevLo is null) total += tile;
            else
            {
                long overlap = 1;
                for (int d = 0; d < lo.Length; d++) overlap *= Math.Max(0, ext[d] - Math.Abs(lo[d] - prevLo[d]));
                total += tile - overlap;
            }
            prevLo = lo;
            int k = above.Count - 1;
            while (k >= 0 && ++idx[k] == nest[above[k]].Factor) { idx[k] = 0; k--; }
            if (k < 0) break;
        }
        return total;
    }
}
