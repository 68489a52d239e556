using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>The Z3 encoding of the mapspace and its exact energy, against brute-force enumeration.</summary>
[TestClass]
public sealed class Z3MapperTests
{
    /// <summary>Small random layers and architectures, like <c>SearchTests</c>' cases but smaller, so that Z3 proves each optimum quickly.</summary>
    private static IEnumerable<(Einsum, Architecture)> TinyCases(int seed, int count)
    {
        var rng = new Random(seed);
        int[] sizes = [1, 2, 3, 4, 6, 8];
        for (int i = 0; i < count; i++)
        {
            Einsum layer = (i % 3) switch
            {
                0 => Layers.Conv1d($"c{i}", c: sizes[rng.Next(2)], k: sizes[rng.Next(1, 3)], p: sizes[rng.Next(1, 4)], r: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
                1 => Layers.Gemm($"g{i}", m: sizes[rng.Next(1, 4)], n: sizes[rng.Next(1, 3)], k: sizes[rng.Next(1, 3)]),
                _ => Layers.Conv2d($"v{i}", n: 1, c: sizes[rng.Next(2)], k: sizes[rng.Next(1, 3)], p: sizes[rng.Next(1, 3)], q: 2, r: 1 + rng.Next(2), s: 1),
            };
            long buffer = 16 + rng.Next(64);
            int fx = 1 + rng.Next(4), fy = rng.Next(2) == 0 ? 1 : 2;
            var levels = new List<StorageLevel>
            {
                new("DRAM", null, 16, 100, 100,
                    fanout: i % 4 == 0 ? new Fanout(2, 1, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: 3, topology: Topology.Mesh) : null),
                new("Buffer", buffer, 16, 5, 6, fanout: new Fanout(fx, fy, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: rng.Next(3),
                    topology: rng.Next(2) == 0 ? Topology.Bus : Topology.Mesh)),
            };
            if (i % 5 != 4)
                levels.Add(new StorageLevel("Reg", 4 + rng.Next(12), 16, 1, 1, keeps: rng.Next(2) == 0 ? null : [TensorRole.Weights, TensorRole.Outputs]));
            yield return (layer, new Architecture($"a{i}", "random tiny", levels, new ComputeUnit(0.5)));
        }
    }

    [TestMethod]
    public void OptimumEqualsBruteForceOnSmallRandomCases()
    {
        int compared = 0, infeasible = 0;
        var sw = Stopwatch.StartNew();
        foreach (var (layer, arch) in TinyCases(2025, 50))
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
            var z3 = Z3Mapper.Solve(p, SearchLimits.None);
            string what = $"{layer} on {arch.Name}";
            Assert.AreEqual(brute.Status, z3.Status, what);
            if (brute.Status == SolveStatus.Infeasible) { infeasible++; continue; }
            Assert.AreEqual(brute.Best!.Value, z3.Best!.Value, 1e-9 * brute.Best.Value, what);
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, z3.Mapping!).Count, what);
            Assert.AreEqual(z3.Best.Value, CostModel.Evaluate(layer, arch, z3.Mapping!).Energy, 1e-9 * z3.Best.Value, what);
            Assert.AreEqual(z3.Best.Value, z3.Bound, "an optimal answer's bound is its value");
            compared++;
        }
        Console.WriteLine($"{compared} optima compared, {infeasible} infeasible, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.IsTrue(compared >= 40, $"only {compared} feasible cases compared");
    }
}
