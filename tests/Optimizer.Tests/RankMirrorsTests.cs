using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// Mirrored spatial plans in the imperfect branch and bound (docs/mapspace.md, "Mirrored spatial plans"): the rank
/// permutations that map a layer onto itself (<c>RankMirrors</c>), the claim that a mapping renamed by one is valid exactly
/// when the mapping is and costs the same under the reference model, and the search that skips a plan whose mirror it
/// exhausted against the enumeration of the imperfect mapspace.
/// </summary>
[TestClass]
public sealed class RankMirrorsTests
{
    private static readonly Einsum Square = Layers.Conv2d("sq", n: 1, c: 2, k: 3, p: 4, q: 4, r: 3, s: 3, stride: 1);
    private static readonly Einsum SquareStrided = Layers.Conv2d("sq2", n: 1, c: 3, k: 2, p: 3, q: 3, r: 2, s: 2, stride: 2);
    private static readonly Einsum SquareOneByOne = Layers.Conv2d("sq1", n: 1, c: 4, k: 3, p: 5, q: 5, r: 1, s: 1, stride: 2);
    /// <summary>Almost square: P and Q differ, or the strides do, or the kernels do.</summary>
    private static readonly Einsum[] Asymmetric =
    [
        Layers.Conv2d("pq", n: 1, c: 2, k: 3, p: 4, q: 3, r: 3, s: 3, stride: 1),
        Layers.Conv("strides", 1, 2, 3, [4, 4], [3, 3], [1, 2], [1, 1]),
        Layers.Conv("dilations", 1, 2, 3, [4, 4], [2, 2], [1, 1], [1, 2]),
        Layers.Conv2d("rs", n: 1, c: 2, k: 3, p: 4, q: 4, r: 3, s: 2, stride: 1),
    ];

    private static int Rank(Einsum e, string name) => e.Ranks.Select((r, i) => (r, i)).Single(x => x.r.Id.Name == name).i;

    [TestMethod]
    public void ASquareConvolutionsOneMirrorSwapsPWithQAndRWithS()
    {
        foreach (var layer in new[] { Square, SquareStrided, SquareOneByOne })
        {
            var mirrors = RankMirrors.Of(layer);
            // A 1x1 kernel's R and S (bound 1, like N) may also be swapped alone or with N where the indices allow: P with Q is in every one that moves P.
            Assert.IsTrue(mirrors.Length >= 1, layer.Name);
            Assert.IsTrue(mirrors.Any(pi => pi[Rank(layer, "P")] == Rank(layer, "Q") && pi[Rank(layer, "R")] == Rank(layer, "S")), layer.Name);
            foreach (var pi in mirrors)
                if (pi[Rank(layer, "P")] != Rank(layer, "P"))
                    Assert.AreEqual(Rank(layer, "S"), pi[Rank(layer, "R")], $"{layer.Name}: P moves with R to S");
        }
        Assert.AreEqual(1, RankMirrors.Of(Square).Length);
        foreach (var layer in Asymmetric) Assert.AreEqual(0, RankMirrors.Of(layer).Length, layer.Name);
        Assert.AreEqual(0, RankMirrors.Of(Layers.Gemm("mm", m: 6, n: 6, k: 6)).Length, "a GEMM's M and N index different tensors");
    }

    /// <summary>Architectures with fanouts (a mesh with hop energy among them), where the plans move ranks between children.</summary>
    private static IEnumerable<Architecture> Archs()
    {
        yield return new Architecture("eyefan", "test", [
            new StorageLevel("DRAM", null, 16, 200, 200),
            new StorageLevel("GLB", 64, 16, 6, 6, keeps: [TensorRole.Inputs, TensorRole.Outputs]) { Fanout = new Fanout(3, 2) },
            new StorageLevel("WSpad", 4, 16, 1, 1, keeps: [TensorRole.Weights]),
            new StorageLevel("ISpad", 2, 16, 1, 1, keeps: [TensorRole.Inputs]),
            new StorageLevel("PSpad", 4, 16, 1, 1, keeps: [TensorRole.Outputs]),
        ], new ComputeUnit(1));
        foreach (var a in CostInvariantTests.SmallCases().Select(x => x.Arch).DistinctBy(x => x.Name)) yield return a;
        yield return Presets.Get("eyeriss");
    }

    /// <summary>
    /// On random valid imperfect mappings of square convolutions (and of the almost square ones, whose mirrors are none),
    /// every mirror the layer has gives a valid mapping at the same energy under the reference model. With the bounds, the
    /// coefficients or the kernel ranks left out of <c>RankMirrors.Of</c>'s check this fails (an almost square layer's
    /// "mirror" is invalid or dearer on some mapping).
    /// </summary>
    [TestMethod]
    public void AMirroredMappingIsValidAndCostsTheSame()
    {
        var rng = new Random(2146);
        int compared = 0, moved = 0;
        foreach (var arch in Archs())
            foreach (var layer in Asymmetric.Prepend(SquareOneByOne).Prepend(SquareStrided).Prepend(Square))
            {
                var mirrors = RankMirrors.Of(layer);
                if (mirrors.Length == 0) continue;
                var space = new Mapspace(layer, arch);
                for (int i = 0; i < 60; i++)
                {
                    if (!space.TrySampleValid(rng, 2000, out var m, factorization: Factorization.Imperfect)) continue;
                    double e = CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Energy;
                    foreach (var pi in mirrors)
                    {
                        var x = RankMirrors.Apply(layer, pi, m);
                        var violations = ValidityChecker.Check(layer, arch, x, Factorization.Imperfect);
                        Assert.AreEqual(0, violations.Count, $"{layer.Name} on {arch.Name}: {string.Join(" ", m.Nest())} mirrored to {string.Join(" ", x.Nest())}: {string.Join("; ", violations)}");
                        double xe = CostModel.Evaluate(layer, arch, x, Factorization.Imperfect).Energy;
                        Assert.AreEqual(e, xe, 1e-9 * e, $"{layer.Name} on {arch.Name}: {string.Join(" ", m.Nest())} costs {e}, mirrored {string.Join(" ", x.Nest())} {xe}");
                        compared++;
                        if (string.Join(" ", x.Nest()) != string.Join(" ", m.Nest())) moved++;
                    }
                }
            }
        Console.WriteLine($"{compared} mirrored mappings compared, {moved} differ from their mapping");
        Assert.IsTrue(moved >= 300, $"only {moved} mirrored mappings differ from their mapping");
    }

    /// <summary>
    /// The branch and bound (unseeded), which skips the plans whose mirrors it exhausted and, at a node a mirror fixes, the
    /// children whose mirrors it exhausted, proves the enumeration's optimum on small square convolutions on an Eyeriss-like
    /// stack with 2 processing elements, and skips some plans and children. Skipping both plans of a mirrored pair (each one's
    /// mirror listed rather than searched) fails it; skipping both children of a mirrored pair does not (checked, also on
    /// c2k2p3 and k2p3r2, 3.6 M mappings): the claim test above is what guards the children's rule.
    /// </summary>
    [TestMethod]
    public void SkippingMirroredPlansTheSearchEqualsTheEnumeration()
    {
        var arch = new Architecture("eyefan2", "test", [
            new StorageLevel("DRAM", null, 16, 200, 200),
            new StorageLevel("GLB", 32, 16, 6, 6, keeps: [TensorRole.Inputs, TensorRole.Outputs]) { Fanout = new Fanout(2, 1) },
            new StorageLevel("WSpad", 2, 16, 1, 1, keeps: [TensorRole.Weights]),
            new StorageLevel("ISpad", 1, 16, 1, 1, keeps: [TensorRole.Inputs]),
            new StorageLevel("PSpad", 2, 16, 1, 1, keeps: [TensorRole.Outputs]),
        ], new ComputeUnit(1));
        int skipped = 0;
        long children = 0;
        foreach (var layer in new[]
        {
            Layers.Conv2d("c2k2p2", n: 1, c: 2, k: 2, p: 2, q: 2, r: 1, s: 1, stride: 1),
            Layers.Conv2d("c1k2p3s2", n: 1, c: 1, k: 2, p: 3, q: 3, r: 1, s: 1, stride: 2),
            Layers.Conv2d("p2r2", n: 1, c: 1, k: 1, p: 2, q: 2, r: 2, s: 2, stride: 1),
        })
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new ImperfectEnumeration(p).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, brute.Status, layer.Name);
            var search = new ImperfectSearch(p, seed: false);
            var bb = search.Solve(SearchLimits.None);
            ImperfectSharedStepsTests.AssertProvesTheEnumerationsOptimum(layer, arch, brute, bb, layer.Name);
            Console.WriteLine($"{layer.Name}: {brute.Explored} mappings, {bb.Explored} nodes, {search.MirroredPlansSkipped} plans and {search.MirroredChildrenSkipped} children skipped");
            skipped += search.MirroredPlansSkipped;
            children += search.MirroredChildrenSkipped;
        }
        Assert.IsTrue(skipped > 0, "no plan was skipped as a mirror");
        Assert.IsTrue(children > 0, "no child was skipped as a mirror");
    }
}
