using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The passes a capacity forces in the imperfect branch and bound (<c>ImperfectBound.Passes</c>, docs/mapspace.md,
/// "Passes a capacity forces"), against the enumeration of the imperfect mapspace (<see cref="ImperfectEnumeration"/>).
/// </summary>
[TestClass]
public sealed class ImperfectPassesTests
{
    /// <summary>An Eyeriss-like stack: DRAM, a buffer keeping inputs and outputs, then weight, input and partial-sum scratchpads.</summary>
    internal static Architecture Eyelike(long weightWords, long inputWords = 1, long bufferWords = 256) => new("eyelike", "test", [
        new StorageLevel("DRAM", null, 16, 200, 200),
        new StorageLevel("GLB", bufferWords, 16, 6, 6, keeps: [TensorRole.Inputs, TensorRole.Outputs]),
        new StorageLevel("WSpad", weightWords, 16, 1, 1, keeps: [TensorRole.Weights]),
        new StorageLevel("ISpad", inputWords, 16, 1, 1, keeps: [TensorRole.Inputs]),
        new StorageLevel("PSpad", 4, 16, 1, 1, keeps: [TensorRole.Outputs]),
    ], new ComputeUnit(1));

    /// <summary>
    /// A 1-D convolution (K 5, P 5) whose weights' scratchpad holds 2 words: the enumeration's optimum keeps one input word
    /// in its scratchpad under K loops, and the K loops above the weights' scratchpad (ceil(5 / 2) = 3 boxes) bring each input
    /// 3 times unless the weights come again from DRAM. With the input scratchpad decided and the weights' not (level 3) the
    /// bound without the passes is 0.982 of the optimum; with them 0.996, and with them x 1.3 above the optimum (1.0004).
    /// The branch and bound finds the enumeration's optimum, and every bound along the optimum's path is at most its energy.
    /// </summary>
    [TestMethod]
    public void PassesCloseTheLevelThreeBoundAndTheSearchEqualsTheEnumeration()
    {
        var layer = Layers.Conv1d("k5p5", c: 1, k: 5, p: 5, r: 1);
        var arch = Eyelike(2);
        var p = new MapProblem(layer, arch, Objective.Energy);
        var brute = new ImperfectEnumeration(p).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, brute.Status);
        var bb = new ImperfectSearch(p, seed: false).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, bb.Status);
        Assert.AreEqual(brute.Best!.Value, bb.Best!.Value, 1e-9 * brute.Best.Value, $"enumeration {brute.Mapping}, branch and bound {bb.Mapping}");
        double energy = CostModel.Evaluate(layer, arch, brute.Mapping!, Factorization.Imperfect).Energy;
        var path = new ImperfectSearch(p, seed: false).PathBounds(brute.Mapping!)!;
        foreach (var (level, bound) in path)
            Assert.IsTrue(bound <= energy * (1 + 1e-9), $"the bound with levels {level} and below decided is {bound}, above the optimum's energy {energy}");
        double three = path.Single(x => x.Level == 3).Bound;
        Assert.IsTrue(three >= 0.995 * energy, $"the bound with the input scratchpad decided is {three / energy:F5} of the optimum");
    }
}
