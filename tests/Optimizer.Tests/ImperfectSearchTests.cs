using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>
/// The branch and bound over the imperfect mapspace (<see cref="ImperfectSearch"/>, docs/mapspace.md, "Imperfect factors:
/// the branch and bound") against the enumeration of the same mapspace (<see cref="ImperfectEnumeration"/>), and its
/// bounds against the cost of random imperfect mappings, node by node.
/// </summary>
[TestClass]
public sealed class ImperfectSearchTests
{
    /// <summary>Random small layers (a 1-D convolution with stride among them) on random 2- and 3-level architectures with a fanout.</summary>
    internal static IEnumerable<(Einsum Layer, Architecture Arch)> RandomCases(int seed, int count)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            Einsum layer = rng.Next(4) switch
            {
                0 => Layers.Conv1d($"c1d{i}", c: 1 + rng.Next(3), k: 1 + rng.Next(4), p: 3 + rng.Next(6), r: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
                1 => Layers.Gemm($"mm{i}", m: 2 + rng.Next(6), n: 2 + rng.Next(6), k: 1 + rng.Next(5)),
                2 => Layers.Conv1d($"c1s2_{i}", c: 1 + rng.Next(2), k: 1 + rng.Next(3), p: 3 + rng.Next(5), r: 2 + rng.Next(2), stride: 2),
                _ => Layers.Conv2d($"c2d{i}", n: 1, c: 1 + rng.Next(2), k: 1 + rng.Next(3), p: 2 + rng.Next(3), q: 2 + rng.Next(2), r: 1 + rng.Next(2), s: 1 + rng.Next(2), stride: 1),
            };
            Architecture arch = rng.Next(3) switch
            {
                0 => TwoLevel(8 + rng.Next(40)),
                1 => new Architecture("two-fan", "test", [
                    new StorageLevel("DRAM", null, 16, 100, 100, fanout: new Fanout(1 + rng.Next(3), 1, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: rng.Next(3))),
                    new StorageLevel("Buffer", 6 + rng.Next(30), 16, 2, 3),
                ], new ComputeUnit(1)),
                _ => RandomSmall(rng, $"three{i}", 24, mesh: false),
            };
            yield return (layer, arch);
        }
    }

    [TestMethod]
    public void EqualsTheEnumerationOnRandomSmallCases()
    {
        int compared = 0, beatPerfect = 0;
        foreach (var (layer, arch) in RandomCases(2121, 36))
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new ImperfectEnumeration(p).Solve(new SearchLimits(TimeSpan.FromSeconds(5)));
            if (brute.Status != SolveStatus.Optimal) continue;
            var bb = new ImperfectSearch(p, seed: false).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, bb.Status, $"{layer.Name} on {arch.Name}");
            Assert.AreEqual(brute.Best!.Value, bb.Best!.Value, 1e-9 * brute.Best.Value, $"{layer.Name} on {arch.Name}: enumeration {brute.Mapping}, branch and bound {bb.Mapping}");
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, bb.Mapping!, Factorization.Imperfect).Count);
            Assert.AreEqual(bb.Best.Value, CostModel.Evaluate(layer, arch, bb.Mapping!, Factorization.Imperfect).Energy, 1e-9 * bb.Best.Value);
            Assert.IsTrue(bb.Explored < brute.Explored * 10 + 1000, $"{layer.Name} on {arch.Name}: {bb.Explored} nodes against {brute.Explored} mappings");
            var perfect = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
            if (perfect.Best > bb.Best * (1 + 1e-9)) beatPerfect++;
            compared++;
        }
        Console.WriteLine($"{compared} cases compared, {beatPerfect} where imperfect factors beat the perfect optimum");
        Assert.IsTrue(compared >= 25, $"only {compared} cases compared");
        Assert.IsTrue(beatPerfect >= 1, $"only {beatPerfect} cases where imperfect factors beat the perfect optimum");
    }

    [TestMethod]
    public void EqualsTheEnumerationOnTheEnumerationsCases()
    {
        foreach (var (layer, arch) in new (Einsum, Architecture)[]
        {
            (Layers.Gemm("g7", m: 7, n: 7, k: 7), TwoLevel(32)),
            (Layers.Conv1d("c2", c: 2, k: 3, p: 7, r: 3), TwoLevel(32)),
            (Layers.Conv1d("c1s2", c: 2, k: 3, p: 7, r: 3, stride: 2), TwoLevel(24)),
        })
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new ImperfectEnumeration(p).Solve(SearchLimits.None);
            var bb = new ImperfectSearch(p, seed: false).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, brute.Status);
            Assert.AreEqual(SolveStatus.Optimal, bb.Status);
            Assert.AreEqual(brute.Best!.Value, bb.Best!.Value, 1e-9 * brute.Best.Value, layer.Name);
        }
    }

    [TestMethod]
    public void EveryBoundOnAMappingsPathIsAtMostItsEnergy()
    {
        var rng = new Random(77);
        int checkedNodes = 0;
        var cases = RandomCases(9, 30).Concat(ImperfectTests.Cases());
        foreach (var (layer, arch) in cases)
        {
            var search = new ImperfectSearch(new MapProblem(layer, arch, Objective.Energy), seed: false);
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 15; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m, factorization: Factorization.Imperfect)) continue;
                if (search.PathBounds(m) is not { } path) continue;
                double energy = CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Energy;
                foreach (var (level, bound) in path)
                {
                    Assert.IsTrue(bound <= energy * (1 + 1e-9), $"{layer.Name} on {arch.Name}, {m}: the bound with levels {level} and below decided is {bound}, above the mapping's energy {energy}");
                    checkedNodes++;
                }
            }
        }
        Assert.IsTrue(checkedNodes >= 500, $"only {checkedNodes} nodes checked");
    }

    /// <summary>
    /// ResNet-50's conv2_1_a and conv3_2_a on eyeriss: their perfect optima are also the imperfect ones, and the bound of
    /// the plan's root reaches them once every undecided scratchpad keeper is filled with every word its MACs use (conv2_1_a:
    /// the weights' and inputs' fills, 2.05E+05 pJ, which the bound left out before) and, where DRAM must serve it, with
    /// every word DRAM sends (conv3_2_a: its weights come twice, DRAM's sweeps, so the weights scratchpads take 131,072
    /// words, not 65,536); never above them along the path.
    /// </summary>
    [TestMethod]
    [DataRow("conv2_1_a")]
    [DataRow("conv3_2_a")]
    public void UndecidedKeepersFillsCloseTheRootBound(string name)
    {
        var layer = Zoo.DistinctShapes(Zoo.Get("resnet50")).Select(x => x.Layer).Single(l => l.Name == name);
        var p = new MapProblem(layer, Presets.Get("eyeriss"), Objective.Energy);
        var perfect = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, perfect.Status);
        double energy = CostModel.Evaluate(p.Layer, p.Arch, perfect.Mapping!, Factorization.Imperfect).Energy;
        var path = new ImperfectSearch(p, seed: false).PathBounds(perfect.Mapping!)!;
        foreach (var (level, bound) in path)
            Assert.IsTrue(bound <= energy * (1 + 1e-9), $"the bound with levels {level} and below decided is {bound}, above the mapping's energy {energy}");
        Assert.AreEqual(energy, path[0].Bound, 1e-9 * energy, "the root bound of the optimum's plan");
        var imperfect = new ImperfectSearch(p, incumbent: perfect.Mapping).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, imperfect.Status);
        Assert.AreEqual(energy, imperfect.Best!.Value, 1e-9 * energy);
    }

    [TestMethod]
    public void RefusesWhatItDoesNotSearch()
    {
        var layer = Layers.Gemm("g", m: 3, n: 3, k: 3);
        Assert.ThrowsExactly<ArgumentException>(() => new ImperfectSearch(new MapProblem(layer, TwoLevel(), Objective.Latency)));
    }
}
