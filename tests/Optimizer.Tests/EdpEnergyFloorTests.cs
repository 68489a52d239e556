using Optimizer.Formulation;
using Optimizer.Solvers;

namespace Optimizer.Tests;

/// <summary>
/// The EDP search with an energy floor (<see cref="MapProblem.EnergyFloor"/>, issue 19, branch cd19e): every plan's energy
/// bound is taken as at least a proved bound on every mapping's energy, here the brute-force energy optimum. The search
/// must still find the brute-force EDP optimum, and a search stopped early must report a bound no larger than it.
/// </summary>
[TestClass]
public sealed class EdpEnergyFloorTests
{
    [TestMethod]
    public void EdpWithTheEnergyOptimumAsFloorEqualsBruteForce()
    {
        int compared = 0, raised = 0;
        foreach (var (layer, arch) in SearchTests.SmallCases(2024, 60))
        {
            var energy = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: false).Solve(SearchLimits.None);
            if (energy.Status == SolveStatus.Infeasible) continue;
            var edp = new TilingSearch(new MapProblem(layer, arch, Objective.Edp), prune: false).Solve(SearchLimits.None);
            double floor = energy.Best!.Value, optimum = edp.Best!.Value;
            var problem = new MapProblem(layer, arch, Objective.Edp) { EnergyFloor = floor };
            string what = $"{layer} on {arch.Name}: energy optimum {floor}, EDP optimum {optimum}";
            var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, exact.Status, what);
            Assert.AreEqual(optimum, exact.Best!.Value, 1e-9 * optimum, what);
            // Stopped after a few nodes: the bound it reports is still a lower bound, and with the floor at least the floor's.
            foreach (long nodes in new long[] { 0, 1, 8, 64 })
            {
                var stopped = new TilingSearch(problem, prune: true, seed: false) { NodeLimit = nodes }.Solve(SearchLimits.None);
                var plain = new TilingSearch(problem with { EnergyFloor = 0 }, prune: true, seed: false) { NodeLimit = nodes }.Solve(SearchLimits.None);
                double bound = LayerEvaluator.LowerOf(stopped);
                Assert.IsTrue(bound <= optimum * (1 + 1e-9), $"{what}: {nodes} nodes, bound {bound} ({stopped.Status})");
                if (stopped.Status != SolveStatus.Optimal) Assert.IsTrue(bound >= LayerEvaluator.LowerOf(plain) * (1 - 1e-12) || plain.Status == SolveStatus.Optimal, $"{what}: the floor lowered the bound");
                if (stopped.Status != SolveStatus.Optimal && plain.Status != SolveStatus.Optimal && bound > LayerEvaluator.LowerOf(plain) * (1 + 1e-9)) raised++;
            }
            compared++;
        }
        Assert.IsTrue(compared >= 30, $"only {compared} feasible cases compared");
        Assert.IsTrue(raised > 0, "the floor never raised a stopped search's bound: the test sees nothing");
        Console.WriteLine($"{compared} cases, {raised} stopped bounds raised by the floor");
    }

    /// <summary>
    /// The front step of co-design's EDP floor (<see cref="LayerEvaluator.FrontFloor"/>, branch cd19z): for a cap c1 on the
    /// cycles, the least energy within it times the least cycles, or the least energy times c1, whichever is less, is at most
    /// the brute-force EDP optimum, for caps around the least cycles and the EDP optimum's cycles; and on some case it is well
    /// above the plain floor (least energy times least cycles).
    /// </summary>
    [TestMethod]
    public void TheFrontStepIsAtMostTheEdpOptimum()
    {
        int compared = 0, above = 0;
        double closest = 0;
        foreach (var (layer, arch) in SearchTests.SmallCases(2024, 40))
        {
            var energy = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: false).Solve(SearchLimits.None);
            if (energy.Status == SolveStatus.Infeasible) continue;
            var edp = new TilingSearch(new MapProblem(layer, arch, Objective.Edp), prune: false).Solve(SearchLimits.None);
            var latency = new TilingSearch(new MapProblem(layer, arch, Objective.Latency), prune: false).Solve(SearchLimits.None);
            double least = energy.Best!.Value, optimum = edp.Best!.Value, cycles = latency.Report!.Cycles, atOptimum = edp.Report!.Cycles;
            foreach (double c1 in new[] { cycles, cycles * 1.1, cycles * 1.5, cycles * 2, atOptimum * 0.999, atOptimum * 0.9, atOptimum * 0.75, atOptimum })
            {
                var capped = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, Caps: new CostCaps(Cycles: c1)), prune: false).Solve(SearchLimits.None);
                double e1 = capped.Status == SolveStatus.Infeasible ? double.PositiveInfinity : capped.Best!.Value;
                double step = LayerEvaluator.FrontFloor(e1, c1, least, cycles);
                string what = $"{layer} on {arch.Name}: cap {c1} cycles, least energy within it {e1}, least energy {least}, least cycles {cycles}: step {step}, EDP optimum {optimum}";
                Assert.IsTrue(step <= optimum * (1 + 1e-9), what);
                closest = Math.Max(closest, step / optimum);
                if (step > least * cycles * 1.05) above++;
            }
            compared++;
        }
        Assert.IsTrue(compared >= 20, $"only {compared} feasible cases compared");
        Assert.IsTrue(above > 0, "no step above the plain floor: the test sees nothing");
        Console.WriteLine($"{compared} cases, {above} steps 5 % above the plain floor, the closest step {closest:0.####} of the EDP optimum");
    }
}
