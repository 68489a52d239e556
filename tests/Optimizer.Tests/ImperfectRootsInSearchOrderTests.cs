using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The imperfect search lists its plans' roots without the plan sweeps not made yet (<c>ImperfectBound.MakesPlanSweeps</c>
/// false) and bounds each root again, free to make its plan's sweeps, as it comes first: the slots go to the plans in the
/// order they are searched, and a root raised by its second bound goes back into the queue in its place.
/// </summary>
[TestClass]
public sealed class ImperfectRootsInSearchOrderTests
{
    /// <summary>An Eyeriss-like stack whose buffer fans out to 4 PEs over X and 2 over Y: many plans, many span vectors.</summary>
    internal static Architecture Fanned() => new("fanned-eye-4x2", "test", [
        new StorageLevel("DRAM", null, 16, 200, 200),
        new StorageLevel("GLB", 10, 16, 6, 6, keeps: [TensorRole.Inputs, TensorRole.Outputs]) { Fanout = new Fanout(4, 2) },
        new StorageLevel("WSpad", 3, 16, 1, 1, keeps: [TensorRole.Weights]),
        new StorageLevel("ISpad", 1, 16, 1, 1, keeps: [TensorRole.Inputs]),
        new StorageLevel("PSpad", 2, 16, 1, 1, keeps: [TensorRole.Outputs]),
    ], new ComputeUnit(1));

    /// <summary>Small convolutions with window ranks (1-D and 2-D) whose plans the search lists many of on <see cref="Fanned"/>.</summary>
    internal static IEnumerable<Einsum> SmallWindowLayers() =>
    [
        Layers.Conv1d("c2p5r3", c: 2, k: 1, p: 5, r: 3),
        Layers.Conv1d("c3k2p4r2", c: 3, k: 2, p: 4, r: 2),
        Layers.Conv2d("c2p3q2r2", n: 1, c: 2, k: 1, p: 3, q: 2, r: 2, s: 1, stride: 1),
    ];

    /// <summary>
    /// Unseeded, the search with the roots bounded again in search order proves the enumeration's optimum and bounds some
    /// roots again, on small convolutions with window ranks (none of their roots rises: the raise is checked below on ResNet).
    /// </summary>
    [TestMethod]
    public void RootsBoundedAgainInSearchOrderTheSearchEqualsTheEnumeration()
    {
        var arch = Fanned();
        int rebounded = 0, raised = 0;
        foreach (var layer in SmallWindowLayers())
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new ImperfectEnumeration(p).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, brute.Status, layer.Name);
            // No dives (ImperfectDivesTests): they would search these small plans to the end before any root is bounded again.
            var search = new ImperfectSearch(p, seed: false) { DiveRoots = 0 };
            var bb = search.Solve(SearchLimits.None);
            ImperfectSharedStepsTests.AssertProvesTheEnumerationsOptimum(layer, arch, brute, bb, layer.Name);
            Console.WriteLine($"{layer.Name}: {brute.Explored} mappings, {bb.Explored} nodes, {search.RootsRebounded} roots bounded again, {search.RootsRaised} raised");
            rebounded += search.RootsRebounded;
            raised += search.RootsRaised;
        }
        Assert.IsTrue(rebounded > 0, "no root was bounded again");
    }
    /// <summary>
    /// The listing spends no slot: on ResNet-50's conv3_2_b on Eyeriss, every plan's root is bounded by one bound object
    /// with <c>MakesPlanSweeps</c> false, then the 8 lowest roots again with it true, in that order. Each second bound is the
    /// bound of that root alone (a fresh bound object), at least the listed one, and some are above it (the plans' sweeps
    /// raise them: 0.9575 -> 1.0064 of the best for C 4 S 3 x C 4 R 3). Listing with it true, as before, spends the slots on the
    /// first plans listed and this fails.
    /// </summary>
    [TestMethod]
    public void TheLowestRootsBoundedAgainGetTheirOwnPlanSweeps()
    {
        var layer = Zoo.DistinctShapes(Zoo.Get("resnet50")).Select(x => x.Item1).Single(l => l.Name == "conv3_2_b");
        var m = new SearchProblem(new MapProblem(layer, Presets.Get("eyeriss"), Objective.Energy), deferOrders: true, imperfect: true);
        var levels = new LevelEnumeration(m);
        var cost = new ArrayCostModel(m);
        ImperfectBound Make() => new(m, cost, new InnerBound(m, cost), new ImperfectOrders(m, cost), levels);
        var roots = levels.SpatialPlans().Select(p => { var s = new State(m, p); s.Keep[0] = (1 << m.TensorCount) - 1; return s; }).ToList();
        var listing = Make();
        listing.MakesPlanSweeps = false;
        var listed = roots.Select(s => listing.Bound(s, m.Levels)).ToArray();
        listing.MakesPlanSweeps = true;
        int raised = 0;
        foreach (int i in Enumerable.Range(0, roots.Count).OrderBy(i => listed[i]).ThenBy(i => i).Take(8))
        {
            double again = listing.Bound(roots[i], m.Levels), alone = Make().Bound(roots[i], m.Levels);
            Console.WriteLine($"plan {i}: listed {listed[i]:G6}, again {again:G6}, alone {alone:G6}");
            Assert.AreEqual(alone, again, 1e-9 * alone, $"plan {i}: bounded again {again:R}, alone {alone:R}");
            Assert.IsTrue(again >= listed[i] * (1 - 1e-12), $"plan {i}: bounded again {again:R} below its listed bound {listed[i]:R}");
            if (again > listed[i] * (1 + 1e-9)) raised++;
        }
        Assert.IsTrue(raised > 0, "no root of the lowest 8 was raised by its plan's sweeps");
    }
}
