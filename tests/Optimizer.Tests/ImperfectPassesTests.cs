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

    /// <summary>
    /// The step the passes' soundness rests on when the boxes N (<c>ImperfectBound.Boxes</c>, or DRAM's iterations) are fewer
    /// than the completion's N' (docs/mapspace.md, "Why fewer boxes than the completion's keep the least a bound"): for every
    /// s' from 0 to <c>N' P_D - 1</c> some range of <c>ImperfectBound.RangeCuts</c> at N has A's steps
    /// (<c>N P_D - 1 - top</c>) and each keeper's words (<c>N T - (top + 1) L</c>, clamped at 0) at most the completion's at s'
    /// and B's extra steps (<c>bottom - s1</c>) at most <c>s' - N' n_Z</c>: so the least over the ranges at N is at most the
    /// completion's share, with positions of unequal words (T below n_Z L in some: short last tiles) included.
    /// </summary>
    [TestMethod]
    public void TheLeastOverTheRangesOnlyGrowsWithTheBoxes()
    {
        var rng = new Random(21);
        int cases = 0, below = 0;
        Span<double> lo = stackalloc double[ImperfectBound.RangeCount], hi = stackalloc double[ImperfectBound.RangeCount];
        for (int trial = 0; trial < 400; trial++)
        {
            int pd = 1 + rng.Next(6), nz = 1 + rng.Next(pd), boxes = 1 + rng.Next(6);
            // Two keepers of A, each with its words per position of D.
            var words = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, pd).Select(_ => 1.0 + rng.Next(9)).ToArray()).ToArray();
            var total = words.Select(w => w.Sum()).ToArray();
            var largest = words.Select(w => w.Max()).ToArray();
            if (total.Zip(largest).Any(x => x.First < nz * x.Second)) below++;
            double AWords(int i, double n, double s) => Math.Max(0, n * total[i] - (s + 1) * largest[i]);
            int count = ImperfectBound.RangeCuts(boxes, pd, nz, lo, hi, out double s1);
            for (int more = 0; more <= 5; more++)
            {
                int n2 = boxes + more;
                for (int s2 = 0; s2 <= n2 * pd - 1; s2++)
                {
                    double steps2 = Math.Max(0, n2 * pd - 1 - s2), extra2 = Math.Max(0, s2 - n2 * nz);
                    bool covered = false;
                    for (int j = 0; j < count && !covered; j++)
                        covered = Math.Max(0, boxes * pd - 1 - hi[j]) <= steps2 && Math.Max(0, lo[j] - s1) <= extra2
                            && AWords(0, boxes, hi[j]) <= AWords(0, n2, s2) && AWords(1, boxes, hi[j]) <= AWords(1, n2, s2);
                    Assert.IsTrue(covered, $"P_D {pd}, n_Z {nz}, N {boxes}, N' {n2}, s' {s2}, words {string.Join("/", words.Select(w => string.Join(",", w)))}: no range at N is below");
                    cases++;
                }
            }
        }
        Console.WriteLine($"{cases} completions (s', N') covered; {below} of 400 draws with T < n_Z L at a keeper");
        Assert.IsTrue(below >= 20, $"only {below} draws with T < n_Z L");
    }
}
