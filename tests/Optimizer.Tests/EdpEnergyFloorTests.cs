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
    /// Co-design's cycle floor for its EDP floors (<see cref="LayerEvaluator.CycleFloor"/>, the least over the spatial plans of
    /// each plan's root latency bound, branch cd19z): at most the brute-force least cycles, and the energy optimum times it at
    /// most the brute-force EDP optimum; on some cases above the latency search's root bound, and equal to the least cycles.
    /// </summary>
    [TestMethod]
    public void ThePlansCycleFloorIsAtMostTheLeastCycles()
    {
        int compared = 0, above = 0, equal = 0;
        foreach (var (layer, arch) in SearchTests.SmallCases(2024, 40))
        {
            // The exact searches, unseeded (equal to brute force: SearchTests).
            var energy = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true, seed: false).Solve(SearchLimits.None);
            if (energy.Status == SolveStatus.Infeasible) continue;
            var edp = new TilingSearch(new MapProblem(layer, arch, Objective.Edp), prune: true, seed: false).Solve(SearchLimits.None);
            var latency = new TilingSearch(new MapProblem(layer, arch, Objective.Latency), prune: true, seed: false).Solve(SearchLimits.None);
            Assert.IsTrue(energy.Status == SolveStatus.Optimal && edp.Status == SolveStatus.Optimal && latency.Status == SolveStatus.Optimal);
            var problem = new MapProblem(layer, arch, Objective.Energy);
            double floor = LayerEvaluator.CycleFloor(problem), root = TilingSearch.CycleFloor(problem), least = latency.Best!.Value;
            string what = $"{layer} on {arch.Name}: plans' cycle floor {floor}, root {root}, least cycles {least}, energy optimum {energy.Best}, EDP optimum {edp.Best}";
            Assert.IsTrue(floor >= root && floor <= least * (1 + 1e-9), what);
            Assert.IsTrue(energy.Best!.Value * floor <= edp.Best!.Value * (1 + 1e-9), what);
            if (floor > root * (1 + 1e-9)) above++;
            if (floor >= least * (1 - 1e-9)) equal++;
            compared++;
        }
        Assert.IsTrue(compared >= 20, $"only {compared} feasible cases compared");
        Assert.IsTrue(above > 0 && equal > 0, $"{above} floors above the root, {equal} at the least cycles: the test sees nothing");
        Console.WriteLine($"{compared} cases, {above} floors above the root's, {equal} at the least cycles");
    }
}
