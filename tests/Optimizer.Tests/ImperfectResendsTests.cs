using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// Level 1 sending its kept operands down again per DRAM iteration, weighed in the search (<c>ImperfectBound.ResendPoints</c>
/// over <c>ImperfectDramSweeps.ResendPoints</c>, the counts rounded by <see cref="ImperfectDramSweeps.ResendSteps"/>;
/// docs/mapspace.md, "Level 1 sends its tile again per DRAM iteration"), against the enumeration of the imperfect mapspace.
/// </summary>
[TestClass]
public sealed class ImperfectResendsTests
{
    /// <summary>DRAM, a buffer of <paramref name="buffer"/> words keeping inputs and outputs, a 1-word weights register and an input register of <paramref name="inputs"/> words.</summary>
    private static Architecture InputsBuffer(long buffer, long inputs, double dram, double glb) => new("inputs-buffer", "test", [
        new StorageLevel("DRAM", null, 16, dram, dram),
        new StorageLevel("Buffer", buffer, 16, glb, glb, keeps: [TensorRole.Inputs, TensorRole.Outputs]),
        new StorageLevel("WReg", 1, 16, 1, 1, keeps: [TensorRole.Weights]),
        new StorageLevel("Reg", inputs, 16, 1, 1, keeps: [TensorRole.Inputs]),
    ], new ComputeUnit(1));

    /// <summary>
    /// A GEMM (M 4, N 6, K 3) over a 16-word buffer: its 12 inputs and the outputs' M x N tile do not fit together, so a
    /// buffer that keeps both makes DRAM split M or N, and with N split it sends its inputs to the 2-word register again per N chunk. The search
    /// with the resends on proves the enumeration's optimum (2,664); every bound along the optimum's path is at most its
    /// energy; the root's bound rises from 0.9302 of it without the resends to 0.9527 with them (checked on 2026-12-07: the
    /// term x 0 gives 0.9302, so this fails without it; x 1.3 leaves the root at 0.9527, bound there by another case, so it
    /// does not catch a term too large: <see cref="ImperfectDramSweepsTests.LevelOneReadsAKeptOperandAtLeastWhatTheResendsClaim"/> does, on the count).
    /// </summary>
    [TestMethod]
    public void TheResendsRaiseTheRootAndTheSearchEqualsTheEnumeration()
    {
        var layer = Layers.Gemm("g463", m: 4, n: 6, k: 3);
        var (problem, optimum, energy, path) = ImperfectUndecidedPairsTests.ProvesTheOptimumAlongItsPath(layer, InputsBuffer(16, 2, 20, 8));
        double without = new ImperfectSearch(problem, seed: false) { WeighsResends = false }.PathBounds(optimum)![0].Bound;
        double root = path[0].Bound;
        Console.WriteLine($"{layer.Name}: optimum {energy}, root bound {root / energy:F4} of it ({without / energy:F4} without the resends)");
        Assert.IsTrue(root >= 0.945 * energy, $"{layer.Name}: the root's bound is {root / energy:F4} of the optimum ({without / energy:F4} without the resends)");
    }
}
