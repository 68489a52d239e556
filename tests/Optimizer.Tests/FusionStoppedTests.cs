using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// A search over the full fused mapspace stopped early (docs/fusion.md, "Time limit and Ctrl-C") never answers worse than the
/// template's optimum once every layer's own search and the template's join have finished, never worse than the unfused
/// mapping beside it, says FEASIBLE, and its bound stays below the proved optimum. The stop is deterministic: a budget of
/// exact class search nodes (<see cref="FusionProblem.NodeBudget"/>), checked between class searches, one thread.
/// </summary>
[TestClass]
public sealed class FusionStoppedTests
{
    private static readonly SearchLimits OneThread = SearchLimits.None with { Threads = 1 };

    private static IEnumerable<(Workload W, Architecture A)> Cases()
    {
        var rng = new Random(31);
        for (int i = 0; i < 3; i++) yield return (FusionTests.Chain(rng, 2, [2, 4]), FusionTests.TradeOffArch(rng));
        yield return (FusionTests.Chain(rng, 3, [2, 4]), FusionTests.SmallArch(rng, 24 + rng.Next(40), fanout: false));
        yield return (FusionGraphTests.Diamond(rng), FusionGraphTests.SmallArch(rng, 32, fanout: false));
        yield return (FusionHaloTests.Chain2(), FusionHaloTests.Arch(24, dramBandwidth: 1));
        yield return (FusionHaloTests.Chain3(), FusionHaloTests.Arch(40, dramBandwidth: 1));
    }

    private static readonly Objective[][] Lists = [[Objective.Energy], [Objective.Latency], [Objective.Latency, Objective.Energy], [Objective.Edp]];

    /// <summary>True when <paramref name="a"/> is worse than <paramref name="b"/> in the terms, in order (ties within the searches' margin).</summary>
    private static bool Worse(FusedCostReport a, FusedCostReport b, IReadOnlyList<Objective> terms)
    {
        foreach (var t in terms)
        {
            double x = a.Objective(t), y = b.Objective(t);
            if (x > y * (1 + 1e-9)) return true;
            if (x < y * (1 - 1e-9)) return false;
        }
        return false;
    }

    // The run stopped after each of its exact class searches: stopped inside every layer's own search, no answer (UNKNOWN,
    // as before: the template's join comes after them); after them, an answer no worse than the template's optimum (in the
    // list's order) nor than the unfused mapping beside it, FEASIBLE unless it equals the proved optimum, its bound at most
    // the optimum. On some stops the search had joined only mappings worse than the template's (the unfused ones: latency,
    // stopped while listing the classes), so the template's answer is what the guard gave. Checked: without NoWorseThan the
    // test fails (a stopped run answers the unfused mapping).
    [TestMethod]
    public void AStoppedSearchIsNeverWorseThanTheTemplate()
    {
        int stops = 0, rescued = 0, worse = 0;
        foreach (var (w, a) in Cases())
            foreach (var terms in Lists)
            {
                var p = new FusionProblem(w, a, terms[0], MaxFusedLoops: 1) { Terms = terms };
                Assert.IsTrue(p.FullMapspace);
                var search = new FusionSearch(p);
                var exact = search.Solve(OneThread);
                Assert.AreEqual(SolveStatus.Optimal, exact.Status, $"{w.Name} {string.Join(",", terms)}: {exact.Explanation}");
                var template = new FusionSearch(p with { TemplateOnly = true }).Solve(OneThread);
                Assert.AreEqual(SolveStatus.Optimal, template.Status);
                // The run stopped after each of its class searches (the nodes spent then are the budget that stops it there):
                // inside every layer's own search, between those and the classes, inside the branch and bound.
                // (A budget of 0 would stop the template's search too: nothing to compare.)
                var budgets = search.SpentAfter.Where(b => b > 0).Distinct().ToList();
                foreach (long budget in budgets)
                {
                    string name = $"{w.Name} {string.Join(",", terms)}, budget {budget} of {budgets[^1]} nodes";
                    var r = new FusionSearch(p with { NodeBudget = budget }).Solve(OneThread);
                    if (r.Mapping is null && terms[0] != Objective.Edp)
                    {
                        Assert.AreEqual(SolveStatus.Unknown, r.Status, name);
                        StringAssert.StartsWith(r.Explanation, "stopped before layer", name);
                        continue;
                    }
                    Assert.IsNotNull(r.Mapping, $"{name}: no answer ({r.Status}: {r.Explanation})");
                    Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count, name);
                    var rep = FusionCost.Evaluate(w, a, r.Mapping);
                    Assert.IsFalse(Worse(rep, template.Report!, terms), $"{name}: worse than the template's optimum ({r.Explanation})");
                    Assert.IsFalse(Worse(exact.Report!, rep, terms), $"{name}: better than the proved optimum");
                    if (r.UnfusedReport is { } unfused) Assert.IsFalse(Worse(rep, unfused, terms), $"{name}: worse than the unfused mapping beside it ({r.Explanation})");
                    if (r.Status == SolveStatus.Optimal)
                    {
                        Assert.IsFalse(Worse(rep, exact.Report!, terms), $"{name}: OPTIMAL but worse than the optimum");
                        continue;
                    }
                    Assert.AreEqual(SolveStatus.Feasible, r.Status, name);
                    stops++;
                    if (r.Bound is { } lb)
                    {
                        Assert.IsTrue(lb <= r.Best!.Value * (1 + 1e-9), $"{name}: bound {lb} above best {r.Best}");
                        // The bound is in the first term, or, once the first is proved, in the second at the first's optimum.
                        bool second = terms.Length > 1 && rep.Objective(terms[0]) == exact.Report!.Objective(terms[0]) && r.Best == rep.Objective(terms[1]) && r.Best != rep.Objective(terms[0]);
                        double optimum = exact.Report!.Objective(second ? terms[1] : terms[0]);
                        Assert.IsTrue(lb <= optimum * (1 + 1e-9), $"{name}: bound {lb} above the optimum {optimum}");
                    }
                    if (r.Explanation?.Contains("the answer is the template's") == true) rescued++;
                    if (r.Explanation?.Contains("than what the search had joined") == true)
                    {
                        worse++;
                        Console.WriteLine($"{name}: template {template.Report!.Cycles} {template.Report.Energy:G10}; unfused {r.UnfusedReport!.Cycles} {r.UnfusedReport.Energy:G10}; answer {rep.Cycles} {rep.Energy:G10}: {r.Explanation}");
                    }
                }
            }
        Console.WriteLine($"stopped runs: {stops}; answered the template's optimum: EDP before its first join {rescued}, the others after joining a worse mapping {worse}");
        Assert.IsGreaterThan(0, stops, "no budget stopped a search, so the test tested little");
        Assert.IsGreaterThan(0, worse, "no stopped search had joined a mapping worse than the template's, so the guard was not tested");
    }
}
