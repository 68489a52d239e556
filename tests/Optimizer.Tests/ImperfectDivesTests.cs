using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The imperfect search dives for incumbents before its best-first loop (<c>ImperfectSearch.Dive</c>): the lowest listed
/// roots are descended at most so many nodes each, and a plan a dive searched to the end is not searched again. A dive
/// cut short must leave its plan to the loop (else the search skips mappings), which search = enumeration checks at budgets
/// small enough to cut dives and large enough to finish plans.
/// </summary>
[TestClass]
public sealed class ImperfectDivesTests
{
    /// <summary>
    /// Unseeded, with dives of 1 to 400 nodes into 1 to 1,000 roots (and none), the search proves the enumeration's optimum;
    /// some dives are cut short and some search their plan to the end.
    /// </summary>
    [TestMethod]
    public void DivesCutShortOrFinishedTheSearchEqualsTheEnumeration()
    {
        var arch = ImperfectRootsInSearchOrderTests.Fanned();
        int dived = 0, finished = 0;
        foreach (var layer in ImperfectRootsInSearchOrderTests.SmallWindowLayers())
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new ImperfectEnumeration(p).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, brute.Status, layer.Name);
            foreach (var (roots, nodes) in new (int, long)[] { (0, 0), (1, 1), (4, 3), (1000, 7), (1000, 40), (2, 400), (1000, 400) })
            {
                var search = new ImperfectSearch(p, seed: false) { DiveRoots = roots, DiveNodes = nodes };
                var bb = search.Solve(SearchLimits.None);
                string what = $"{layer.Name}, dives into {roots} roots of {nodes} nodes";
                ImperfectSharedStepsTests.AssertProvesTheEnumerationsOptimum(layer, arch, brute, bb, what);
                Console.WriteLine($"{what}: {bb.Explored} nodes, {search.RootsDived} dived, {search.PlansFinishedByDives} finished by dives");
                dived += search.RootsDived;
                finished += search.PlansFinishedByDives;
            }
        }
        Assert.IsTrue(finished > 0, "no dive searched its plan to the end");
        Assert.IsTrue(dived > finished, "no dive was cut short");
    }
}
