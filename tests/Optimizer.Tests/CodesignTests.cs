using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Tests;

/// <summary>
/// Co-design (issue 19, docs/codesign.md): on the 16-point space of examples/codesign-simple-ws.yaml, the branch and
/// bound over relaxations gives the exhaustive sweep's answer for every objective and Pareto front; budgets no point
/// meets are INFEASIBLE naming the budget and the closest point (exit 3); bad space files are located errors (exit 2).
/// </summary>
[TestClass]
public sealed class CodesignTests
{
    private static readonly string SpacePath = CommandLine.Example("codesign-simple-ws.yaml");
    private static readonly string WorkloadPath = CommandLine.Example("codesign-small-workload.yaml");

    private static DesignSpace Space() => DesignSpaceSpec.Load(SpacePath);

    /// <summary>The whole space and every set of its points that fixes one parameter's value, or two parameters' values.</summary>
    private static List<List<int>> SetsOfOneAndTwoValues(DesignSpace space)
    {
        var all = Enumerable.Range(0, space.Count).ToList();
        var sets = new List<List<int>> { all };
        int parameters = space.Parameters.Count;
        for (int i = 0; i < parameters; i++)
            foreach (var v in all.Select(p => space.Indices(p)[i]).Distinct())
            {
                sets.Add(all.Where(p => space.Indices(p)[i] == v).ToList());
                for (int j = i + 1; j < parameters; j++)
                    foreach (var w in all.Select(p => space.Indices(p)[j]).Distinct())
                        sets.Add(all.Where(p => space.Indices(p)[i] == v && space.Indices(p)[j] == w).ToList());
            }
        return sets;
    }

    /// <summary>The nodes the stop tests visit: the whole space, each parameter value's points, and every point.</summary>
    private static List<List<int>> NodesOf(DesignSpace space)
    {
        var all = Enumerable.Range(0, space.Count).ToList();
        var nodes = new List<List<int>> { all };
        for (int i = 0; i < space.Parameters.Count; i++)
            foreach (var v in all.Select(p => space.Indices(p)[i]).Distinct())
                nodes.Add(all.Where(p => space.Indices(p)[i] == v).ToList());
        nodes.AddRange(all.Select(p => new List<int> { p }));
        return nodes;
    }

    /// <summary>The stop tests' cases: energy and EDP, fresh and warm, every node with its exact optima (proved), and each
    /// fraction of the node's exact sum as a target.</summary>
    private static IEnumerable<(Objective Objective, bool Warm, List<int> Node, bool Single, Architecture Arch, LayerSum Optima, double Fraction)> StopCases(
        DesignSpace space, List<List<int>> nodes, LayerEvaluator exact, double[] fractions)
    {
        foreach (var objective in new[] { Objective.Energy, Objective.Edp })
            foreach (bool warm in new[] { false, true })
                foreach (var node in nodes)
                {
                    bool single = node.Count == 1;
                    var arch = space.Relax(node);
                    var optima = exact.Sum(arch, objective, relaxation: !single);
                    Assert.IsTrue(optima.Proved);
                    foreach (double f in fractions) yield return (objective, warm, node, single, arch, optima, f);
                }
    }
    private static Workload Small() => WorkloadSpec.Load(WorkloadPath);

    // One exhaustive sweep per objective, shared by the tests (each point's layer searches are what both sides use).
    private static readonly Lazy<(DesignSpace Space, Codesign Sweeper)> Shared = new(() => (Space(), new Codesign(Space(), Small(), SearchLimits.None)));

    private static void SameAnswer(DesignMetric objective, IReadOnlyList<Budget> budgets)
    {
        var (space, sweeper) = Shared.Value;
        var expected = sweeper.Sweep(objective, budgets);
        var run = new Codesign(space, Small(), SearchLimits.None);
        var got = run.Minimize(objective, budgets);
        string what = $"{DesignMetrics.Name(objective)} with [{string.Join("; ", budgets)}]";
        if (expected is null)
        {
            Assert.AreEqual(CodesignStatus.Infeasible, got.Status, what);
            return;
        }
        Assert.AreEqual(CodesignStatus.Optimal, got.Status, $"{what}: {got.Explanation}");
        Assert.AreEqual(expected.Point, got.Best!.Point, $"{what}: sweep {expected.Description} {expected.Values[objective]}, branch and bound {got.Best.Description} {got.BestValue}");
        Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * Math.Abs(expected.Values[objective]), what);
        Assert.IsTrue(got.Searches <= got.FullSweep, $"{what}: {got.Searches} searches, more than the sweep's {got.FullSweep}");
    }

    [TestMethod]
    public void EveryObjectiveEqualsTheSweep()
    {
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp, DesignMetric.Area, DesignMetric.Sram })
            SameAnswer(objective, []);
    }

    [TestMethod]
    public void ObjectivesUnderBudgetsEqualTheSweep()
    {
        var (space, sweeper) = Shared.Value;
        // Budgets that cut the space where it matters: the latency of the median point, half the largest area.
        var latencies = sweeper.SweepAll(DesignMetric.Latency, []).Select(f => f!.Values[DesignMetric.Latency]).OrderBy(v => v).ToList();
        double areaCap = Enumerable.Range(0, space.Count).Max(space.Area) / 2;
        var budgets = new List<Budget> { new(DesignMetric.Latency, latencies[latencies.Count / 2], "test"), new(DesignMetric.Area, areaCap, "test") };
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Edp, DesignMetric.Area })
            SameAnswer(objective, budgets);
        SameAnswer(DesignMetric.Energy, [new Budget(DesignMetric.Power, 0.1, "test")]);
        SameAnswer(DesignMetric.Latency, [new Budget(DesignMetric.Energy, sweeper.Sweep(DesignMetric.Energy, [])!.Values[DesignMetric.Energy] * 1.05, "test")]);
    }

    [TestMethod]
    public void ParetoFrontsEqualTheSweep()
    {
        var (space, sweeper) = Shared.Value;
        foreach (var (first, second) in new[] { (DesignMetric.Energy, DesignMetric.Area), (DesignMetric.Latency, DesignMetric.Area), (DesignMetric.Edp, DesignMetric.Sram) })
        {
            var expected = sweeper.SweepPareto(first, second, []);
            var got = new Codesign(space, Small(), SearchLimits.None).Pareto(first, second, []);
            Assert.AreEqual(CodesignStatus.Optimal, got.Status, got.Explanation);
            CollectionAssert.AreEqual(expected.Select(f => f.Point).ToList(), got.Front.Select(f => f.Point).ToList(),
                $"{first}/{second}: sweep [{string.Join(", ", expected.Select(f => $"{f.Point}:{f.Values[first]}/{f.Values[second]}"))}], " +
                $"branch and bound [{string.Join(", ", got.Front.Select(f => $"{f.Point}:{f.Values[first]}/{f.Values[second]}"))}]");
            Assert.IsTrue(expected.Count >= 2, $"{first}/{second}: a front of {expected.Count} point(s) tests little");
        }
    }

    [TestMethod]
    public void ARunStoppedAfterItsDiveIsFeasibleWithAValidBound()
    {
        var (space, sweeper) = Shared.Value;
        int stopped = 0;
        // Latency too: with the EDP floors known without a search (branch cd19l) the EDP run needs no search on a point here.
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
        {
            double optimum = sweeper.Sweep(objective, [])!.Values[objective];
            // Cancelled at the first search on a point (the dive's: its other shapes then keep what is known, mappings carried
            // from the relaxations): the run stops at its next step. (A run may need no search on a point at all, its shapes
            // proved by mappings carried from the relaxations and their bounds; it is then OPTIMAL.)
            using var cancel = new CancellationTokenSource();
            var run = new Codesign(space, Small(), new SearchLimits(Cancel: cancel.Token));
            run.Evaluator.SearchDone += () => { if (run.Evaluator.PointSearches > 0) cancel.Cancel(); };
            var got = run.Minimize(objective, []);
            string what = $"{DesignMetrics.Name(objective)}: {got.Status} best {got.BestValue} bound {got.Bound} optimum {optimum}, {got.PointsOpen} point(s) open, " +
                          $"{run.Evaluator.PointSearches} point searches, {run.Evaluator.BoundSearches} on relaxations, {run.Evaluator.ProvedUnsearched} proved without a search";
            Console.WriteLine(what);
            Assert.AreNotEqual(CodesignStatus.Unknown, got.Status, what);
            Assert.IsNotNull(got.Best, what);
            Assert.IsTrue(got.Bound <= optimum * (1 + 1e-12), what);
            Assert.IsTrue(optimum <= got.BestValue!.Value * (1 + 1e-12), what);
            if (!cancel.IsCancellationRequested)
            {
                Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
                Assert.AreEqual(optimum, got.BestValue.Value, 1e-9 * optimum, what);
                continue;
            }
            stopped++;
            Assert.AreEqual(CodesignStatus.Feasible, got.Status, what);
            Assert.IsTrue(got.GapPercent is >= 0 && got.PointsOpen > 0 && got.PointsEvaluated >= 1, what);
        }
        Assert.IsTrue(stopped > 0, "no run was stopped after its dive: the test sees nothing");
    }

    [TestMethod]
    public void ARunCancelledBeforeAnyPointIsUnknownWithEveryPointOpen()
    {
        var space = Space();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var r = new Codesign(space, Small(), new SearchLimits(Cancel: cancel.Token)).Minimize(DesignMetric.Energy, []);
        Assert.AreEqual(CodesignStatus.Unknown, r.Status, r.Explanation);
        Assert.AreEqual(space.Count, r.PointsOpen);
    }

    [TestMethod]
    public void RelaxationBoundsEveryPoint()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var relaxed = space.Relax(all);
        var eval = new LayerEvaluator(Small(), SearchLimits.None);
        foreach (var objective in new[] { Formulation.Objective.Energy, Formulation.Objective.Latency })
        {
            double bound = eval.Sum(relaxed, objective, relaxation: true).Lower;
            foreach (var p in all)
            {
                var v = eval.Sum(space.Build(p), objective, relaxation: false).Value!.Value;
                Assert.IsTrue(bound <= v * (1 + 1e-12), $"{objective}: the relaxation's {bound} exceeds point {p}'s {v}");
            }
        }
    }

    /// <summary>
    /// A search stopped at once on a point gets, from searches on architectures that dominate the point's (the
    /// relaxations of the sets holding it), a bound that never exceeds the point's optimum (the exhaustive search's), is
    /// raised above the stopped search's own somewhere and reaches the optimum somewhere (the bound is then a proof);
    /// and a relaxation dominates each of its points but not the other way round.
    /// </summary>
    [TestMethod]
    public void BoundsOfDominatingArchitecturesHoldOnEveryPoint()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var eval = new LayerEvaluator(Small(), SearchLimits.None);
        // The relaxations of the root and of each half of every parameter, searched to the end.
        var sets = new List<List<int>> { all };
        for (int i = 0; i < space.Parameters.Count; i++)
            for (int v = 0; v < space.Parameters[i].Values.Count; v++)
                sets.Add(all.Where(p => space.Indices(p)[i] == v).ToList());
        foreach (var objective in new[] { Formulation.Objective.Energy, Formulation.Objective.Latency, Formulation.Objective.Edp })
            foreach (var set in sets)
                eval.Sum(space.Relax(set), objective, relaxation: true);
        int reached = 0;
        foreach (var objective in new[] { Formulation.Objective.Energy, Formulation.Objective.Latency, Formulation.Objective.Edp })
            foreach (var p in all)
            {
                var arch = space.Build(p);
                foreach (var set in sets.Where(s => s.Contains(p)))
                {
                    Assert.IsTrue(LayerEvaluator.Dominates(space.Relax(set), arch), $"the relaxation of {set.Count} points does not dominate point {p}");
                    if (set.Count > 1 && space.Relax(set).Levels.Zip(arch.Levels).Any(l => l.First.Capacity > l.Second.Capacity))
                        Assert.IsFalse(LayerEvaluator.Dominates(arch, space.Relax(set)), $"point {p} dominates a relaxation with a larger capacity");
                }
                for (int s = 0; s < eval.Shapes.Count; s++)
                {
                    double optimum = exact.Search(arch, s, objective).Best!.Value;
                    long before = eval.DominatedBounds, unsearched = eval.ProvedUnsearched;
                    var stopped = eval.Search(arch, s, objective, TimeSpan.FromTicks(1));
                    double bound = LayerEvaluator.LowerOf(stopped);
                    string what = $"{objective}, point {p}, {eval.Shapes[s].Layer.Name}: bound {bound} ({stopped.Status}), optimum {optimum}";
                    Assert.IsTrue(bound <= optimum * (1 + 1e-12), what);
                    if (stopped.Status == SolveStatus.Optimal) Assert.AreEqual(optimum, stopped.Best!.Value, 1e-9 * optimum, what);
                    // Raised by a dominating architecture's bound, in the stopped search's result or before any search (a
                    // mapping carried from a relaxation reached by that bound).
                    if ((eval.DominatedBounds > before || eval.ProvedUnsearched > unsearched) && bound >= optimum * (1 - 1e-12)) reached++;
                }
            }
        Assert.IsTrue(eval.DominatedBounds > 0 && reached > 0, $"{eval.DominatedBounds} bounds raised, {reached} at the optimum: the test sees nothing");
        Console.WriteLine($"{eval.DominatedBounds} bounds raised, {reached} of them to the optimum");
    }

    /// <summary>
    /// Mappings carried between architectures (branch cd19f): on every point of the 16-point space, in order, for energy,
    /// latency and EDP, a search stopped at once after the root's relaxation and the points before it were searched to the
    /// end reports a mapping that is valid on the point, costs there what it reports, and is never below the point's
    /// exhaustive optimum (a proved result equals it); some points get their mapping so, and some shapes are proved
    /// without a search (a carried mapping reached by the relaxation's bound).
    /// </summary>
    [TestMethod]
    public void MappingsCarriedFromOtherArchitecturesAreValidUpperBounds()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        long seeds = 0, unsearched = 0;
        foreach (var objective in new[] { Formulation.Objective.Energy, Formulation.Objective.Latency, Formulation.Objective.Edp })
        {
            var eval = new LayerEvaluator(Small(), SearchLimits.None);
            eval.Sum(space.Relax(all), objective, relaxation: true);
            foreach (var p in all)
            {
                var arch = space.Build(p);
                for (int s = 0; s < eval.Shapes.Count; s++)
                {
                    var layer = eval.Shapes[s].Layer;
                    // The reference is the plain exact search, which knows nothing of other architectures.
                    double optimum = new TilingSearch(new MapProblem(layer, arch, objective), prune: true).Solve(SearchLimits.None).Best!.Value;
                    var stopped = eval.Search(arch, s, objective, TimeSpan.FromTicks(1));
                    string what = $"{objective}, point {p}, {layer.Name}: {stopped.Status} best {stopped.Best} bound {LayerEvaluator.LowerOf(stopped)}, optimum {optimum}";
                    Assert.IsTrue(LayerEvaluator.LowerOf(stopped) <= optimum * (1 + 1e-12), what);
                    if (stopped.Mapping is { } m)
                    {
                        Assert.AreEqual(0, Formulation.ValidityChecker.Check(layer, arch, m).Count, $"{what}: the mapping is not valid on the point");
                        Assert.AreEqual(Formulation.CostModel.Evaluate(layer, arch, m).Objective(objective), stopped.Best!.Value, 1e-9 * optimum, what);
                        Assert.IsTrue(stopped.Best.Value >= optimum * (1 - 1e-12), $"{what}: below the optimum");
                    }
                    if (stopped.Status == SolveStatus.Optimal) Assert.AreEqual(optimum, stopped.Best!.Value, 1e-9 * optimum, what);
                    Assert.AreEqual(optimum, eval.Search(arch, s, objective).Best!.Value, 1e-9 * optimum, what);
                }
            }
            seeds += eval.CarriedSeeds;
            unsearched += eval.ProvedUnsearched;
        }
        Assert.IsTrue(seeds > 0 && unsearched > 0, $"{seeds} searches seeded with a carried mapping, {unsearched} shapes proved without a search: the test sees nothing");
        Console.WriteLine($"{seeds} searches seeded with a carried mapping, {unsearched} shapes proved without a search");
    }

    /// <summary>
    /// EDP bounds from energy bounds (branch cd19e): on every point of the 16-point space, once each shape's energy is
    /// searched to its optimum there, an EDP search stopped at once has a bound of at least that optimum times the least
    /// cycles of every mapping (<see cref="TilingSearch.CycleFloor(MapProblem)"/>), and never above the shape's exhaustive
    /// EDP optimum; some shapes are proved by it. An energy search is also run first, with half the time, for an EDP search
    /// on a relaxation given a second or more, and not for one on a point.
    /// </summary>
    [TestMethod]
    public void EdpBoundsFromEnergyBoundsHoldOnEveryPoint()
    {
        var space = Space();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var eval = new LayerEvaluator(Small(), SearchLimits.None);
        var plain = new LayerEvaluator(Small(), SearchLimits.None); // no energy known: EDP searches stopped at once alone
        int reached = 0, raised = 0;
        for (int p = 0; p < space.Count; p++)
        {
            var arch = space.Build(p);
            for (int s = 0; s < eval.Shapes.Count; s++)
            {
                double optimum = exact.Search(arch, s, Formulation.Objective.Edp).Best!.Value;
                double energy = eval.Search(arch, s, Formulation.Objective.Energy).Best!.Value;
                double cycles = TilingSearch.CycleFloor(new MapProblem(eval.Shapes[s].Layer, arch, Formulation.Objective.Latency));
                var stopped = eval.Search(arch, s, Formulation.Objective.Edp, TimeSpan.FromTicks(1));
                double bound = LayerEvaluator.LowerOf(stopped);
                string what = $"point {p}, {eval.Shapes[s].Layer.Name}: bound {bound} ({stopped.Status}), energy optimum {energy} x least cycles {cycles}, EDP optimum {optimum}";
                Assert.IsTrue(bound <= optimum * (1 + 1e-12), what);
                Assert.IsTrue(bound >= energy * cycles * (1 - 1e-12), what);
                if (stopped.Status == SolveStatus.Optimal) Assert.AreEqual(optimum, stopped.Best!.Value, 1e-9 * optimum, what);
                double alone = LayerEvaluator.LowerOf(plain.Search(arch, s, Formulation.Objective.Edp, TimeSpan.FromTicks(1)));
                if (bound > alone * (1 + 1e-9))
                {
                    raised++;
                    if (bound >= optimum * (1 - 1e-12)) reached++;
                }
            }
        }
        Assert.IsTrue(raised > 0 && reached > 0, $"{raised} bounds raised, {reached} to the optimum: the test sees nothing");
        Assert.AreEqual(0, eval.EnergySearchesForEdp, "an EDP search capped at a tick runs no energy search first");
        // Given time (here none: no limit), an EDP search on a relaxation whose energy is not known yet runs the energy search
        // first; on a point it does not.
        var fresh = new LayerEvaluator(Small(), SearchLimits.None);
        var root = space.Relax(Enumerable.Range(0, space.Count).ToList());
        var sum = fresh.Sum(root, Formulation.Objective.Edp, relaxation: true);
        Assert.IsTrue(sum.Proved);
        Assert.AreEqual(exact.Sum(root, Formulation.Objective.Edp, relaxation: true).Value!.Value, sum.Value!.Value, 1e-9 * sum.Value.Value);
        Assert.AreEqual(fresh.Shapes.Count, fresh.EnergySearchesForEdp);
        Assert.AreEqual(2 * fresh.Shapes.Count, fresh.Searches);
        fresh.Search(space.Build(0), 0, Formulation.Objective.Edp);
        Assert.AreEqual(fresh.Shapes.Count, fresh.EnergySearchesForEdp);
        Console.WriteLine($"{raised} bounds raised, {reached} of them to the optimum");
    }

    /// <summary>
    /// The EDP floor known without a search (branch cd19l): every mapping's energy is at least the energy search's root bound
    /// and its cycles at least the latency search's, so an evaluator that has searched nothing knows, for every shape, at
    /// least their product. On the 16-point space, on every point and on the relaxations of the whole space and of each
    /// parameter value's points, for every shape, that known bound is at most the exhaustive EDP optimum of the points it
    /// covers, and it is not 0; it comes within 30 % of the optimum somewhere, so a floor scaled up by 1.3 fails the test.
    /// </summary>
    [TestMethod]
    public void EdpFloorsKnownWithoutASearchHoldOnEveryPointAndSet()
    {
        var space = Space();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var optima = Enumerable.Range(0, space.Count).Select(p => Enumerable.Range(0, exact.Shapes.Count)
            .Select(s => exact.Search(space.Build(p), s, Objective.Edp).Best!.Value).ToArray()).ToArray();
        var sets = new List<List<int>> { Enumerable.Range(0, space.Count).ToList() };
        sets.AddRange(Enumerable.Range(0, space.Count).Select(p => new List<int> { p }));
        for (int i = 0; i < space.Parameters.Count; i++)
            foreach (var v in Enumerable.Range(0, space.Count).Select(p => space.Indices(p)[i]).Distinct())
                sets.Add(Enumerable.Range(0, space.Count).Where(p => space.Indices(p)[i] == v).ToList());
        double tightest = 0;
        foreach (var set in sets)
        {
            var fresh = new LayerEvaluator(Small(), SearchLimits.None);
            var arch = space.Relax(set);
            for (int s = 0; s < fresh.Shapes.Count; s++)
            {
                double floor = fresh.KnownLower(arch, s, Objective.Edp), least = set.Min(p => optima[p][s]);
                string what = $"{set.Count} point(s) from {set.Min()}, {fresh.Shapes[s].Layer.Name}: floor {floor}, least EDP optimum {least}";
                Assert.IsTrue(floor > 0, what);
                Assert.IsTrue(floor <= least * (1 + 1e-12), what);
                tightest = Math.Max(tightest, floor / least);
            }
            Assert.AreEqual(0, fresh.Searches, "the floor needs no search");
        }
        Console.WriteLine($"{sets.Count} sets; the tightest floor is {tightest:P2} of the least optimum");
        Assert.IsTrue(tightest * 1.3 > 1, $"the tightest floor is {tightest:P2} of its optimum: scaled by 1.3 it would still pass");
    }

    /// <summary>
    /// A set's EDP bound searches only what could decide the set (branch cd19m, <see cref="LayerEvaluator.SearchOnlyWhatCouldDecide"/>):
    /// on the 16-point space, on the relaxations of the whole space and of every set fixing one or two parameters, with
    /// targets from 0.7 to 1.01 times the relaxation's EDP optimum, each from a fresh evaluator and from one that has first
    /// bounded the whole space (so that mappings are carried): the sum is never above the least EDP of the set's points
    /// (each by exhaustive search), it passes the target exactly when the sum of the evaluator that searches every shape
    /// (energy, then EDP) until it passes does, and it runs fewer searches in all. Skipping with a too-strong upper bound
    /// (each shape's least known EDP divided by 1.3) leaves sets below targets the full search passes, and fails.
    /// </summary>
    [TestMethod]
    public void ASetsEdpBoundSearchesOnlyWhatCouldDecideIt()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var values = all.Select(p => exact.Sum(space.Build(p), Objective.Edp, relaxation: false).Value!.Value).ToArray();
        var sets = SetsOfOneAndTwoValues(space);
        long searches = 0, full = 0, left = 0;
        int passed = 0, below = 0;
        foreach (bool warm in new[] { false, true })
            foreach (var set in sets)
            {
                var arch = space.Relax(set);
                double optimum = exact.Sum(arch, Objective.Edp, relaxation: true).Value!.Value, least = set.Min(p => values[p]);
                foreach (double f in new[] { 0.7, 0.9, 0.97, 0.99, 1.01 })
                {
                    var only = new LayerEvaluator(Small(), SearchLimits.None);
                    var every = new LayerEvaluator(Small(), SearchLimits.None) { SearchOnlyWhatCouldDecide = false };
                    if (warm)
                        foreach (var e in new[] { only, every }) e.Sum(space.Relax(all), Objective.Edp, relaxation: true);
                    long a = only.Searches, b = every.Searches;
                    double target = f * optimum;
                    var got = only.Sum(arch, Objective.Edp, relaxation: true, target: target);
                    var want = every.Sum(arch, Objective.Edp, relaxation: true, target: target);
                    string what = $"{set.Count} points from {set.Min()}, {(warm ? "warm" : "fresh")}, target {f} x {optimum}: sum {got.Lower} ({only.Searches - a} searches), " +
                                  $"every shape searched {want.Lower} ({every.Searches - b}), least point {least}";
                    Assert.IsTrue(got.Lower <= least * (1 + 1e-12), what);
                    Assert.AreEqual(want.Lower > target, got.Lower > target, what);
                    if (got.Lower > target) passed++; else below++;
                    searches += only.Searches - a;
                    full += every.Searches - b;
                    left += only.EdpSearchesLeft + only.EnergySearchesLeft;
                }
            }
        Console.WriteLine($"{sets.Count} sets x 5 targets x 2: {passed} passed the target, {below} not; {searches} searches against {full}, {left} left");
        Assert.IsTrue(passed > 0 && below > 0 && left > 0, $"{passed} passed, {below} below, {left} searches left: the test sees nothing");
        Assert.IsTrue(searches < full, $"{searches} searches, not fewer than {full}");
    }

    /// <summary>
    /// A search with a target stops at the bound that decides its node (branch cd19o, <see cref="LayerEvaluator.Enough"/>):
    /// on the 16-point space, for energy and EDP, on every point and on the relaxations of the whole space and of each
    /// parameter value, with targets 0.8 to 1.01 times the node's exact sum, fresh and after bounding the whole space: every
    /// shape's bound is at most its exhaustive optimum there, the sum passes the target exactly when the sum of the optima
    /// does (and when the evaluator without the stop passes it), some searches stop at their bound, and the searches explore
    /// fewer nodes in all than without the stop. A stop that claims more than its ceiling (the bound times 1.3) fails it.
    /// </summary>
    [TestMethod]
    public void ASearchStopsAtTheBoundThatDecidesItsNode()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var nodes = NodesOf(space);
        long stopped = 0, explored = 0, exploredWithout = 0;
        int passed = 0, below = 0;
        double tightest = 0; // the largest bound of a search left unproved, over its shape's optimum
        foreach (var (objective, warm, node, single, arch, optima, f) in StopCases(space, nodes, exact, [0.8, 0.95, 0.99, 0.999, 1.01]))
        {
            double target = f * optima.Value!.Value;
            var with = new LayerEvaluator(Small(), SearchLimits.None);
            var without = new LayerEvaluator(Small(), SearchLimits.None) { StopAtEnough = false };
            if (warm)
                foreach (var e in new[] { with, without }) e.Sum(space.Relax(all), objective, relaxation: true);
            long before = with.StoppedAtEnough;
            var got = with.Sum(arch, objective, relaxation: !single, target: target);
            var want = without.Sum(arch, objective, relaxation: !single, target: target);
            long a = got.Results.Sum(r => r.Explored), b = want.Results.Sum(r => r.Explored);
            string what = $"{objective}, {node.Count} point(s) from {node.Min()}, {(warm ? "warm" : "fresh")}, target {f} x {optima.Value}: sum {got.Lower}, without the stop {want.Lower}";
            for (int s = 0; s < got.Results.Count; s++)
            {
                if (got.Results[s].Status != SolveStatus.Optimal) tightest = Math.Max(tightest, LayerEvaluator.LowerOf(got.Results[s]) / optima.Results[s].Best!.Value);
                Assert.IsTrue(LayerEvaluator.LowerOf(got.Results[s]) <= optima.Results[s].Best!.Value * (1 + 1e-9),
                    $"{what}: shape {s} bound {LayerEvaluator.LowerOf(got.Results[s])} above its optimum {optima.Results[s].Best}");
            }
            Assert.AreEqual(optima.Value!.Value > target, got.Lower > target, what);
            Assert.AreEqual(want.Lower > target, got.Lower > target, what);
            if (got.Lower > target) passed++; else below++;
            stopped += with.StoppedAtEnough - before;
            explored += a;
            exploredWithout += b;
        }
        Console.WriteLine($"{nodes.Count} nodes x 5 targets x 2 x 2 objectives: {passed} passed, {below} not; {stopped} searches stopped at their bound; nodes explored {explored} against {exploredWithout} without the stop; the tightest unproved bound {tightest} of its optimum");
        Assert.IsTrue(passed > 0 && below > 0 && stopped > 0, $"{passed} passed, {below} below, {stopped} stopped: the test sees nothing");
        Assert.IsTrue(explored < exploredWithout, $"{explored} nodes explored, not fewer than {exploredWithout}");
    }

    /// <summary>
    /// A stopped search claims no more than its ceiling (branch cd19p, the guard cd19o lacked): the stop's bound
    /// (<see cref="LayerEvaluator.Enough"/>) hides on the 16-point space when the searches seed themselves, since there the
    /// seeds are the optima and a bound claimed at or above a seed becomes a proof at the seed's value. Here the searches
    /// run unseeded (<see cref="LayerEvaluator.Seeded"/> off), so a stopped search has no mapping of its own, or, after the
    /// whole space was bounded, a mapping carried from another architecture, which is not the optimum here. On every point
    /// and the relaxations of the whole space and of each parameter value, energy and EDP, targets 0.9 to 1.01 times the
    /// node's exact sum: every shape's bound is at most its exhaustive optimum, the sum passes the target exactly when the
    /// optima's sum does, and some stopped searches have their shape's optimum within 30 % of their bound with no mapping
    /// at it, so a stop that claims 1.3 times its ceiling puts a bound above an optimum and fails.
    /// </summary>
    [TestMethod]
    public void AStoppedSearchWithoutSeedsClaimsNoMoreThanItsCeiling()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var nodes = NodesOf(space);
        long stopped = 0;
        int passed = 0, below = 0, exposed = 0;
        foreach (var (objective, warm, node, single, arch, optima, f) in StopCases(space, nodes, exact, [0.9, 0.99, 0.999, 1.01]))
        {
            double target = f * optima.Value!.Value;
            var eval = new LayerEvaluator(Small(), SearchLimits.None) { Seeded = false };
            if (warm) eval.Sum(space.Relax(all), objective, relaxation: true);
            long before = eval.StoppedAtEnough;
            var got = eval.Sum(arch, objective, relaxation: !single, target: target);
            string what = $"{objective}, {node.Count} point(s) from {node.Min()}, {(warm ? "warm" : "fresh")}, target {f} x {optima.Value}: sum {got.Lower}";
            for (int s = 0; s < got.Results.Count; s++)
            {
                var r = got.Results[s];
                double bound = LayerEvaluator.LowerOf(r), optimum = optima.Results[s].Best!.Value;
                Assert.IsTrue(bound <= optimum * (1 + 1e-9), $"{what}: shape {s} bound {bound} ({r.Status}) above its optimum {optimum}");
                if (r.Status == SolveStatus.Optimal) Assert.AreEqual(optimum, r.Best!.Value, 1e-9 * optimum, $"{what}: shape {s}");
                // A bound short of its optimum by less than 30 %, not proved by a mapping: scaled by 1.3 it lands above the optimum.
                if (r.Status != SolveStatus.Optimal && bound > 0 && optimum < 1.3 * bound) exposed++;
            }
            Assert.AreEqual(optima.Value!.Value > target, got.Lower > target, what);
            if (got.Lower > target) passed++; else below++;
            stopped += eval.StoppedAtEnough - before;
        }
        Console.WriteLine($"{nodes.Count} nodes x 4 targets x 2 x 2 objectives: {passed} passed, {below} not; {stopped} searches stopped at their bound; {exposed} unproved bounds within 30 % of their optimum");
        Assert.IsTrue(passed > 0 && below > 0 && stopped > 0 && exposed > 0, $"{passed} passed, {below} below, {stopped} stopped, {exposed} exposed: the test sees nothing");
    }

    /// <summary>
    /// A sum given a target leaves unsearched the shapes it no longer needs once the bounds already known (the cache and
    /// the searches on dominating architectures) exceed it: on every point of the 16-point space, for energy, latency
    /// and EDP, with a target of 0 nothing but the known bounds is used and their sum never exceeds the point's exact
    /// value (and reaches it somewhere); with that known sum as the target the shapes are searched largest known
    /// contribution first, each result stays with its shape (a proved one equals that shape's exact optimum), and a sum
    /// that stopped early is above the target; given a time budget, the shapes already proved go first and each result
    /// still stays with its shape.
    /// </summary>
    [TestMethod]
    public void ASumGivenATargetSkipsOnlyWhatItNoLongerNeeds()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var objectives = new[] { Formulation.Objective.Energy, Formulation.Objective.Latency, Formulation.Objective.Edp };
        int tight = 0, skippedEarly = 0;
        foreach (var objective in objectives)
        {
            var eval = new LayerEvaluator(Small(), SearchLimits.None);
            for (int i = 0; i < space.Parameters.Count; i++)
                for (int v = 0; v < space.Parameters[i].Values.Count; v++)
                    eval.Sum(space.Relax(all.Where(p => space.Indices(p)[i] == v).ToList()), objective, relaxation: true);
            foreach (var p in all)
            {
                var arch = space.Build(p);
                var optimum = exact.Sum(arch, objective, relaxation: false);
                double value = optimum.Value!.Value;
                long searches = eval.Searches, skipped = eval.Skipped;
                var known = eval.Sum(arch, objective, relaxation: false, TimeSpan.FromTicks(1), target: 0);
                string what = $"{objective}, point {p}: known {known.Lower}, exact {value}";
                Assert.AreEqual(searches, eval.Searches, $"{what}: a target of 0 searched");
                Assert.AreEqual(eval.Shapes.Count, known.Results.Count, what);
                Assert.IsTrue(known.Lower <= value * (1 + 1e-12), what);
                if (eval.Skipped > skipped && known.Lower >= value * (1 - 1e-12)) tight++;
                var half = eval.Sum(arch, objective, relaxation: false, target: known.Lower);
                what = $"{objective}, point {p}: sum targeted at the known {known.Lower}: {half.Lower}, exact {value}";
                Assert.AreEqual(eval.Shapes.Count, half.Results.Count, what);
                Assert.IsTrue(half.Lower <= value * (1 + 1e-12), what);
                for (int s = 0; s < eval.Shapes.Count; s++)
                    if (half.Results[s].Status == SolveStatus.Optimal)
                        Assert.AreEqual(optimum.Results[s].Best!.Value, half.Results[s].Best!.Value, 1e-9 * optimum.Results[s].Best!.Value, $"{what}, {eval.Shapes[s].Layer.Name}");
                if (!half.Proved) { Assert.IsTrue(half.Lower > known.Lower, what); skippedEarly++; }
                // Given a budget, the shapes already proved come first (here the last one): each result still stays with its shape.
                var fresh = new LayerEvaluator(Small(), SearchLimits.None);
                fresh.Search(arch, fresh.Shapes.Count - 1, objective);
                var shared = fresh.Sum(arch, objective, relaxation: false, budget: TimeSpan.FromSeconds(60));
                Assert.IsTrue(shared.Proved, $"{objective}, point {p}: a 60 s budget left a shape unproved");
                for (int s = 0; s < fresh.Shapes.Count; s++)
                    Assert.AreEqual(optimum.Results[s].Best!.Value, shared.Results[s].Best!.Value, 1e-9 * optimum.Results[s].Best!.Value, $"{objective}, point {p}, budget, {fresh.Shapes[s].Layer.Name}");
            }
        }
        Assert.IsTrue(tight > 0 && skippedEarly > 0, $"{tight} known sums at the exact value, {skippedEarly} sums stopped above the known sum: the test sees nothing");
        Console.WriteLine($"{tight} known sums at the exact value, {skippedEarly} sums stopped above the known sum");
    }

    /// <summary>
    /// Given a target and a reference (per shape, the value of the point the target comes from), a sum searches the shape
    /// of largest shortfall (count times reference minus known bound) first: with nothing searched and the known sum as the
    /// target, the one shape searched is the reference's, whichever it is; without a reference, the shape of largest known
    /// contribution (branch cd19i; the known sum is 0 for energy, the floors known without a search for EDP, branch cd19l).
    /// </summary>
    [TestMethod]
    public void ASumGivenAReferenceSearchesTheLargestShortfallFirst()
    {
        var arch = Space().Build(0);
        var shapes = new LayerEvaluator(Small(), SearchLimits.None).Shapes;
        Assert.IsTrue(shapes.Count >= 2, "one shape tests no order");
        foreach (var objective in new[] { Formulation.Objective.Energy, Formulation.Objective.Edp })
            for (int k = -1; k < shapes.Count; k++)
            {
                // The search stopped at the bound that decides the sum (branch cd19o) is left out here: with the known sum as the
                // target it would stop at the first rise, unproved; with it on, the same one shape is searched and stops there.
                var eval = new LayerEvaluator(Small(), SearchLimits.None) { StopAtEnough = false };
                var stopping = new LayerEvaluator(Small(), SearchLimits.None);
                // Nothing searched yet: for EDP the floors known without a search (branch cd19l) are not 0, so the target is
                // the known sum, and without a reference the shape of largest known contribution goes first (ties: the first).
                double known = eval.KnownLower(arch, objective);
                var reference = k < 0 ? null : Enumerable.Range(0, shapes.Count).Select(s => s == k ? 1e30 : 0.0).ToList();
                var sum = eval.Sum(arch, objective, relaxation: false, target: known, reference: reference);
                var before = Enumerable.Range(0, shapes.Count).Select(s => stopping.KnownLower(arch, s, objective)).ToArray();
                var stopped = stopping.Sum(arch, objective, relaxation: false, target: known, reference: reference);
                int searched = k >= 0 ? k : Enumerable.Range(0, shapes.Count).OrderByDescending(s => shapes[s].Count * eval.KnownLower(arch, s, objective)).ThenBy(s => s).First();
                string what = $"{objective}, reference on shape {k}: [{string.Join(", ", sum.Results.Select(r => r.Status))}]";
                Assert.AreEqual(1L, eval.Searches, what);
                Assert.AreEqual(1L, stopping.Searches, what);
                Assert.AreEqual(shapes.Count, sum.Results.Count, what);
                for (int s = 0; s < shapes.Count; s++)
                {
                    Assert.AreEqual(s == searched, sum.Results[s].Status == SolveStatus.Optimal, $"{what}: shape {s}");
                    Assert.AreEqual(s == searched, LayerEvaluator.LowerOf(stopped.Results[s]) > before[s], $"{what}: shape {s}, with the stop");
                }
                Assert.IsTrue(sum.Lower > 0, what);
                Assert.IsTrue(stopped.Lower > known, what);
            }
    }

    /// <summary>
    /// A split's child sets go straight to their full bounds (branch cd19i): on the 16-point space, for energy, latency and
    /// EDP, the only sets bounded quickly are the root and the dive's halves, some split's children are bounded in full,
    /// and the answers are the sweep's. Evaluating the children quickly first, as before, fails it.
    /// </summary>
    [TestMethod]
    public void ASplitsChildSetsGoStraightToFullBounds()
    {
        // On the 16-point space the dive lands on the optimum and every other set is dropped at once. With four DRAM
        // bandwidths (32 points) the first split is on the bandwidth, which does not change energy: the other half ties
        // with the dive's point and is split in turn.
        var text = File.ReadAllText(SpacePath).Replace("{level: DRAM, bandwidth: [2, 4]}", "{level: DRAM, bandwidth: [1, 2, 3, 4]}");
        var space = DesignSpaceSpec.Parse(text, "bandwidths.yaml");
        Assert.AreEqual(32, space.Count, "the test's space");
        var sweeper = new Codesign(space, Small(), SearchLimits.None);
        int full = 0;
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
        {
            var run = new Codesign(space, Small(), SearchLimits.None);
            var got = run.Minimize(objective, []);
            var expected = sweeper.Sweep(objective, [])!;
            int diveSets = 1 + run.Dive.Sum(d => d.Halves.Count(h => h.Points.Count > 1));
            var quick = run.Stages.GetValueOrDefault("sets, quick bounds");
            var complete = run.Stages.GetValueOrDefault("sets, full bounds");
            string what = $"{DesignMetrics.Name(objective)}: {diveSets} sets in the dive, stages [{string.Join("; ", run.Stages.Select(x => $"{x.Key}: {x.Value.Nodes}"))}]";
            Assert.AreEqual(diveSets, quick?.Nodes ?? 0, what);
            full += complete?.Nodes ?? 0;
            Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
            Assert.AreEqual(expected.Point, got.Best!.Point, what);
            Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * expected.Values[objective], what);
            Console.WriteLine(what);
        }
        Assert.IsTrue(full > 0, "no split's child was bounded: the test sees nothing");
    }

    /// <summary>
    /// Branch cd19n: (1) the dive's last step searches both of its points at once for longer (the pass its landing point
    /// got after node-limited searches of both), so no node-limited search of a point is run; (2) a set of two points
    /// taken from the queue goes to its points without a full bound. On the 16-point space, energy, latency and EDP
    /// alone and under budgets that only points can be judged by (power) or that cut the space (the median latency), each
    /// change on and off: the answers are the sweep's, the stages say which ran, and some pair went to its points unbounded.
    /// </summary>
    [TestMethod]
    public void TheDivesLastPointsAndTwoPointSetsGoStraightToTheirPoints()
    {
        var (space, sweeper) = Shared.Value;
        var latencies = sweeper.SweepAll(DesignMetric.Latency, []).Select(f => f!.Values[DesignMetric.Latency]).OrderBy(v => v).ToList();
        var median = new Budget(DesignMetric.Latency, latencies[latencies.Count / 2], "test");
        var cases = new (DesignMetric Objective, Budget[] Budgets)[]
        {
            (DesignMetric.Energy, []), (DesignMetric.Latency, []), (DesignMetric.Edp, []),
            (DesignMetric.Energy, [new Budget(DesignMetric.Power, 0.1, "test")]), (DesignMetric.Edp, [new Budget(DesignMetric.Power, 0.1, "test")]),
            (DesignMetric.Energy, [median]), (DesignMetric.Edp, [median]),
        };
        int pairs = 0;
        foreach (var (objective, budgets) in cases)
        {
            var expected = sweeper.Sweep(objective, budgets);
            string? closest = null;
            foreach (bool on in new[] { true, false })
            {
                var run = new Codesign(space, Small(), SearchLimits.None) { LastStepLonger = on, PairsToPoints = on };
                var got = run.Minimize(objective, budgets);
                string what = $"{DesignMetrics.Name(objective)} [{string.Join("; ", budgets.Select(b => b.ToString()))}], changes {(on ? "on" : "off")}: " +
                              $"stages [{string.Join("; ", run.Stages.Select(x => $"{x.Key}: {x.Value.Nodes} ({x.Value.Searches} searches)"))}]";
                Console.WriteLine(what);
                int split = run.Stages.GetValueOrDefault("sets of two points, to their points")?.Nodes ?? 0;
                if (on) pairs += split;
                else Assert.AreEqual(0, split, what);
                if (expected is null)
                {
                    // Every point ruled out: the closest point named is the same with and without the changes (a point lost
                    // on the way would change it when it is the closest).
                    Assert.AreEqual(CodesignStatus.Infeasible, got.Status, what);
                    if (on) closest = got.Explanation;
                    else Assert.AreEqual(got.Explanation, closest, what);
                    continue;
                }
                Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
                Assert.AreEqual(expected.Point, got.Best!.Point, what);
                Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * expected.Values[objective], what);
                if (run.Dive.Count > 0 && run.Dive[^1].Halves.All(h => h.Points.Count == 1))
                {
                    Assert.AreEqual(on, !run.Stages.ContainsKey("the dive's points, node-limited searches"), what);
                    int longer = run.Stages.GetValueOrDefault("the dive's point, searched longer")?.Nodes ?? 0;
                    Assert.IsTrue(on ? longer == 2 : longer <= 1, what);
                }
            }
        }
        Assert.IsTrue(pairs > 0, "no set of two points was taken from the queue: the test sees nothing");
    }

    /// <summary>
    /// The dive descends into the half of least midpoint of key and estimate (the estimate: its relaxation's mappings at the
    /// half's largest energies per access; docs/codesign.md "Where the dive goes"): on the 16-point space, for energy,
    /// latency and EDP, every half's estimate is at least its key (a lower bound on its points) and at least the least
    /// exhaustive optimum of its points (here the value of real mappings on its largest point), the half taken has the least midpoint, the dive ends on one point
    /// whose estimate is its value as mapped, and the answer is still the sweep's. A set's estimate below its key (the
    /// relaxation's least energies instead of the largest) or a dive that takes the least key instead fails it. A half
    /// bounded after another stops once its key is above the least midpoint so far (branch cd19l); it then may have no
    /// estimate, and its key must be above the chosen half's midpoint (EDP's first step here); that target divided by 1.3
    /// fails it.
    /// </summary>
    [TestMethod]
    public void TheDiveTakesTheHalfOfLeastMidpointAndLandsOnAPointAtItsValue()
    {
        var (space, sweeper) = Shared.Value;
        int sets = 0, above = 0, lowered = 0, cut = 0;
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
        {
            var run = new Codesign(space, Small(), SearchLimits.None);
            var got = run.Minimize(objective, []);
            var expected = sweeper.Sweep(objective, [])!;
            var optima = sweeper.SweepAll(objective, []);
            string what = $"{DesignMetrics.Name(objective)}: dive [{string.Join("; ", run.Dive.Select(d => string.Join(" / ", d.Halves.Select(h => $"{h.Points.Count} from {h.Points.Min()} key {h.Key} est {h.Estimate} own {h.Own}"))))}]";
            Assert.IsTrue(run.Dive.Count > 0, what);
            foreach (var step in run.Dive)
            {
                // A half bounded after another stops its searches once its key is above the least midpoint so far (branch
                // cd19l): it cannot be taken, and may be left without an estimate; its key is then above the chosen half's midpoint.
                var chosen = step.Halves[step.Chosen];
                Assert.IsNotNull(chosen.Estimate, what);
                double middle = (chosen.Key + chosen.Estimate.Value) / 2;
                foreach (var h in step.Halves.Where(h => h.Estimate is null))
                {
                    Assert.IsTrue(h.Key > middle, $"{what}: a half without an estimate, key {h.Key}, not above the chosen half's midpoint {middle}");
                    cut++;
                }
                foreach (var h in step.Halves.Where(h => h.Estimate is not null))
                {
                    Assert.IsTrue(h.Estimate!.Value >= h.Key * (1 - 1e-12), $"{what}: estimate below the key");
                    double least = h.Points.Min(p => optima[p]!.Values[objective]);
                    Assert.IsTrue(h.Estimate.Value >= least * (1 - 1e-12), $"{what}: estimate {h.Estimate} below the least optimum {least} of the half's points");
                    if (h.Points.Count > 1) { sets++; if (h.Estimate.Value > h.Key * (1 + 1e-9)) above++; }
                    Assert.IsTrue(h.Estimate.Value <= h.Own!.Value, $"{what}: estimate above the half's own mappings' {h.Own}");
                    if (h.Estimate.Value < h.Own.Value * (1 - 1e-9)) lowered++;
                }
                Assert.AreEqual(step.Halves.Where(h => h.Estimate is not null).Min(h => h.Key + h.Estimate!.Value), chosen.Key + chosen.Estimate.Value, what);
            }
            // Without the targets the dive takes the same halves; a half whose key differs (its searches stopped at the
            // target) has a key above the chosen half's midpoint, so it could not have been taken.
            var plain = new Codesign(space, Small(), SearchLimits.None) { DiveTargets = false };
            plain.Minimize(objective, []);
            Assert.AreEqual(plain.Dive.Count, run.Dive.Count, what);
            for (int k = 0; k < run.Dive.Count; k++)
            {
                var (step, other) = (run.Dive[k], plain.Dive[k]);
                var chosen = step.Halves[step.Chosen];
                CollectionAssert.AreEqual(other.Halves[other.Chosen].Points.ToList(), chosen.Points.ToList(), what);
                // The same half in both (a half the dive left unsearched, branch cd19p, is in the step's Left instead).
                foreach (var h in step.Halves)
                    if (other.Halves.First(o => o.Points.SequenceEqual(h.Points)) is var same && h.Key != same.Key)
                        Assert.IsTrue(h.Key > (chosen.Key + chosen.Estimate!.Value) / 2, $"{what}: a half of step {k} stopped at {h.Key}, below the chosen half's midpoint");
                Assert.AreEqual(other.Halves.Count, step.Halves.Count + step.Left.Count, what);
            }
            var last = run.Dive[^1].Halves[run.Dive[^1].Chosen];
            Assert.AreEqual(1, last.Points.Count, what);
            double value = run.Mapped[last.Points[0]].Values[objective];
            Assert.AreEqual(value, last.Estimate!.Value, 1e-9 * value, what);
            Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
            Assert.AreEqual(expected.Point, got.Best!.Point, what);
        }
        Assert.IsTrue(sets > 0, "no set in the dives: the test sees nothing");
        Assert.IsTrue(cut > 0, "no half's searches stopped at the target: the test does not see it");
        Console.WriteLine($"{sets} sets in the dives, {above} with an estimate above the key, {lowered} halves whose estimate other mappings found brought below their own mappings', {cut} halves stopped above the chosen one's midpoint");
    }

    /// <summary>
    /// The dive leaves unsearched a later half whose midpoint before its searches is above the target (branch cd19p,
    /// <see cref="Codesign.LeaveHopelessHalves"/>): on the 16-point space and on the same space with the fanout declared last,
    /// for energy, latency and EDP, alone and under the median latency as a budget, with the rule on and off: the sweep's
    /// answer either way; each half left has its key known without a search at most the least optimum of its points (a
    /// lower bound), its estimate at least that least optimum, their midpoint above the chosen half's; the run with the rule
    /// runs no more searches in its dive than without, and fewer in all of them together; and some half is left.
    /// </summary>
    [TestMethod]
    public void TheDiveLeavesHalvesWhoseMidpointBeforeItsSearchesIsAboveTheTarget()
    {
        string text = File.ReadAllText(SpacePath);
        string last = text.Replace("    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n", "")
            .Replace("    - {level: DRAM, bandwidth: [2, 4]}\n", "    - {level: DRAM, bandwidth: [2, 4]}\n    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n");
        int leftHalves = 0;
        long with = 0, without = 0;
        foreach (var space in new[] { Space(), DesignSpaceSpec.Parse(last, "fanout-last.yaml") })
        {
            var sweeper = new Codesign(space, Small(), SearchLimits.None);
            var latencies = sweeper.SweepAll(DesignMetric.Latency, []).Select(f => f!.Values[DesignMetric.Latency]).OrderBy(v => v).ToList();
            foreach (var budgets in new List<Budget>[] { [], [new(DesignMetric.Latency, latencies[latencies.Count / 2], "test")] })
                foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
                {
                    var optima = sweeper.SweepAll(objective, budgets);
                    var all = sweeper.SweepAll(objective, []);
                    var expected = sweeper.Sweep(objective, budgets)!;
                    var on = new Codesign(space, Small(), SearchLimits.None) { LeaveHopelessHalves = true };
                    var off = new Codesign(space, Small(), SearchLimits.None) { LeaveHopelessHalves = false };
                    var a = on.Minimize(objective, budgets);
                    var b = off.Minimize(objective, budgets);
                    string what = $"{space.Parameters[0].Level} first, {DesignMetrics.Name(objective)} [{string.Join("; ", budgets)}]: dive [{string.Join("; ", on.Dive.Select(d => string.Join(" / ", d.Halves.Select(h => $"{h.Points.Count} from {h.Points.Min()} key {h.Key} est {h.Estimate}")) + string.Concat(d.Left.Select(h => $" / left {h.Points.Count} from {h.Points.Min()} key {h.Key} est {h.Estimate}"))))}]";
                    foreach (var r in new[] { a, b })
                    {
                        Assert.AreEqual(CodesignStatus.Optimal, r.Status, what);
                        Assert.AreEqual(expected.Point, r.Best!.Point, what);
                        Assert.AreEqual(expected.Values[objective], r.BestValue!.Value, 1e-9 * expected.Values[objective], what);
                    }
                    foreach (var step in on.Dive)
                    {
                        var chosen = step.Halves[step.Chosen];
                        foreach (var h in step.Left)
                        {
                            double least = h.Points.Min(p => all[p]!.Values[objective]);
                            Assert.IsTrue(h.Key <= least * (1 + 1e-12), $"{what}: a left half's known key {h.Key} above its least optimum {least}");
                            Assert.IsTrue(h.Estimate!.Value >= least * (1 - 1e-12), $"{what}: a left half's estimate {h.Estimate} below its least optimum {least}");
                            if (chosen.Estimate is { } e) Assert.IsTrue((h.Key + h.Estimate.Value) / 2 > (chosen.Key + e) / 2, $"{what}: a left half's midpoint not above the chosen one's");
                            leftHalves++;
                        }
                    }
                    Assert.AreEqual(0, off.LeftHalves, what);
                    Assert.AreEqual(on.Dive.Sum(d => d.Left.Count), on.LeftHalves, what);
                    long Dive(Codesign c) => c.Stages.Where(x => x.Key.StartsWith("sets, quick") || x.Key.StartsWith("the dive")).Sum(x => x.Value.Searches);
                    Assert.IsTrue(Dive(on) <= Dive(off), $"{what}: {Dive(on)} searches in the dive against {Dive(off)}");
                    with += a.Searches;
                    without += b.Searches;
                }
        }
        Console.WriteLine($"{leftHalves} halves left; {with} searches with the rule against {without} without");
        Assert.IsTrue(leftHalves > 0, "no half left: the test sees nothing");
    }

    /// <summary>
    /// A set whose relaxation has mappings known at or below the cutoff is split without its own full bound
    /// (<see cref="Codesign.SplitKnownBelow"/>). On the 16-point space and its fanout-last variant, for energy, latency and
    /// EDP, the rule on and off: (1) the whole space, the dive's searches at 10 and 2,000 nodes: the sweep's answer each
    /// time; (2) a shard (<c>--bounds-from</c>) holding every point but the sweep's winner, whose cutoff is the winner's
    /// value: every point of the shard is above it, and sets of them whose relaxations beat it are where the rule fires
    /// (on the whole space it never does: every set bounded there is known 3.8 % to 4.5 % above the cutoff): the same
    /// status, best and bound with the rule as without. Each split set's known value is at most the cutoff then and at
    /// least the exact optimum of the set's relaxation (each shape searched to its optimum there), which is at least any
    /// bound searched on it, so that the set's bound could not have dropped it; some split's known value is within 30 % of
    /// that optimum, so that a known value scaled down by 1.3 fails the test, and the rule made to fire up to 1.3 x the
    /// cutoff fails the first check.
    /// </summary>
    [TestMethod]
    public void ASetKnownBelowTheCutoffIsSplitWithoutItsBound()
    {
        string text = File.ReadAllText(SpacePath);
        string last = text.Replace("    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n", "")
            .Replace("    - {level: DRAM, bandwidth: [2, 4]}\n", "    - {level: DRAM, bandwidth: [2, 4]}\n    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n");
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        int splits = 0, tight = 0, shardSplits = 0;
        foreach (var space in new[] { Space(), DesignSpaceSpec.Parse(last, "fanout-last.yaml") })
        {
            var sweeper = new Codesign(space, Small(), SearchLimits.None);
            var optima = new Dictionary<(string, Objective), double>();
            foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
            {
                var expected = sweeper.Sweep(objective, [])!;
                var o = Codesign.MappedFor(objective);
                void Check(Codesign run, string what)
                {
                    foreach (var split in run.KnownSplits)
                    {
                        string key = string.Join(",", split.Points);
                        if (!optima.TryGetValue((key, o), out var optimum))
                            optima[(key, o)] = optimum = exact.Sum(space.Relax(split.Points), o, relaxation: true).Value!.Value;
                        Assert.IsTrue(split.Points.Count > 1, what);
                        Assert.IsTrue(split.Upper <= split.Cutoff, $"{what}: a split set's known value {split.Upper} above the cutoff {split.Cutoff}");
                        Assert.IsTrue(split.Upper >= optimum * (1 - 1e-12), $"{what}: a split set's known value {split.Upper} below its relaxation's optimum {optimum}");
                        splits++;
                        if (split.Upper / 1.3 < optimum) tight++;
                    }
                }
                foreach (long nodes in new long[] { 10, Codesign.DefaultQuickNodes })
                    foreach (bool on in new[] { false, true })
                    {
                        // With the dive's searches cut at 10 nodes and its hopeless halves left, sets reach the queue unbounded.
                        var run = new Codesign(space, Small(), SearchLimits.None, quickNodes: nodes) { SplitKnownBelow = on, LeaveHopelessHalves = nodes < 100 };
                        var got = run.Minimize(objective, []);
                        string what = $"{space.Parameters[0].Level} first, {DesignMetrics.Name(objective)}, dive nodes {nodes}, rule {on}: splits [{string.Join("; ", run.KnownSplits.Select(x => $"{x.Points.Count} from {x.Points.Min()} known {x.Upper} cutoff {x.Cutoff}"))}]";
                        Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
                        Assert.AreEqual(expected.Point, got.Best!.Point, what);
                        Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * expected.Values[objective], what);
                        if (!on) Assert.AreEqual(0, run.KnownSplits.Count, what);
                        Check(run, what);
                    }
                // The dive cut short (a test hook), without and with the sweep's value as an external cutoff (as
                // --bounds-from gives another shard's best): sets reach the queue before their full bounds.
                foreach (int steps in new[] { 0, 1, 2 })
                    foreach (double? cutoff in new double?[] { null, expected.Values[objective] })
                    {
                        CodesignResult? off = null;
                        foreach (bool on in new[] { false, true })
                        {
                            var run = new Codesign(space, Small(), SearchLimits.None) { SplitKnownBelow = on, DiveSteps = steps };
                            var got = run.Minimize(objective, [], cutoff: cutoff);
                            string what = $"dive {steps} steps, cutoff {cutoff}, {space.Parameters[0].Level} first, {DesignMetrics.Name(objective)}, rule {on}: {got.Status} best {got.Best?.Point} bound {got.Bound}; splits [{string.Join("; ", run.KnownSplits.Select(x => $"{x.Points.Count} from {x.Points.Min()} known {x.Upper} cutoff {x.Cutoff}"))}]";
                            Console.WriteLine(what);
                            if (off is null) { off = got; Assert.AreEqual(0, run.KnownSplits.Count, what); continue; }
                            Assert.AreEqual(off.Status, got.Status, what);
                            Assert.AreEqual(off.Best?.Point, got.Best?.Point, what);
                            Assert.AreEqual(off.Bound, got.Bound, 1e-9 * Math.Abs(off.Bound), what);
                            shardSplits += run.KnownSplits.Count;
                            Check(run, what);
                        }
                    }
            }
        }
        Console.WriteLine($"{splits} sets split with their relaxation known below the cutoff ({shardSplits} in the shards), {tight} with a known value within 30 % of the relaxation's optimum");
        Assert.IsTrue(splits > 0, "no set split: the test sees nothing");
        Assert.IsTrue(tight > 0, "no split set's known value near its relaxation's optimum: a value scaled down by 1.3 would pass");
    }

    /// <summary>
    /// A set's full bound stops once it can no longer drop the set (<see cref="Codesign.StopOnceKept"/>, branch cd19w): on
    /// the 16-point space and its fanout-last variant, for energy (the plain sum) and EDP (<c>EdpOnRelaxation</c>'s form)
    /// and latency, the stop on and off, the whole dive and the dive cut after 0, 1 or 2 steps (a test hook), without and
    /// with the sweep's value and 1.1 times it as an external cutoff (as <c>--bounds-from</c> gives one): the same status,
    /// best and bound with the stop as without, and the sweep's answer when no cutoff or the larger is given. Each stopped set was kept, and its known sum at
    /// the stop is at most the cutoff and at least the exact optimum of the set's relaxation (each shape searched to its
    /// optimum there), which is then at most the cutoff: no bound searched there could have dropped the set. Some stops
    /// come after searches (not only cd19v's case of none). On these two layers it fires for latency only (energy's and
    /// EDP's sets are dropped or split before); <see cref="AFullBoundSumStopsOnceItsKnownMappingsAreAtMostTheTarget"/>
    /// sees it fire for both on four layers.
    /// </summary>
    [TestMethod]
    public void AFullBoundStopsOnceItCanNoLongerDropTheSet()
    {
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var optima = new Dictionary<(string, string, Objective), double>();
        int stops = 0, afterSearches = 0, left = 0;
        var objectives = new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp };
        var stopsBy = objectives.ToDictionary(o => o, _ => 0);
        foreach (var space in new[] { Space(), FanoutLast() })
        {
            var sweeper = new Codesign(space, Small(), SearchLimits.None);
            foreach (var objective in objectives)
            {
                var expected = sweeper.Sweep(objective, [])!;
                var o = Codesign.MappedFor(objective);
                foreach (int? steps in new int?[] { null, 0, 1, 2 })
                    foreach (double? cutoff in new double?[] { null, expected.Values[objective], expected.Values[objective] * 1.1 })
                    {
                        CodesignResult? off = null;
                        foreach (bool on in new[] { false, true })
                        {
                            var run = new Codesign(space, Small(), SearchLimits.None) { StopOnceKept = on, DiveSteps = steps };
                            var got = run.Minimize(objective, [], cutoff: cutoff);
                            string what = $"{space.Parameters[0].Level} first, {DesignMetrics.Name(objective)}, dive {steps?.ToString() ?? "whole"}, cutoff {cutoff}, stop {on}: {got.Status} best {got.Best?.Point} bound {got.Bound}; " +
                                $"full bounds [{string.Join("; ", run.FullBounds.Select(x => $"{x.Points.Count} from {x.Points.Min()} {x.Searches} searches {(x.Dropped ? "dropped" : "kept")} key {x.Key} cutoff {x.Cutoff}{(x.KeptStopLeft is { } l ? $" stopped at {x.KnownAtStop}, {l} left" : "")}"))}]";
                            if (on && run.FullBounds.Any(x => x.KeptStopLeft is not null)) Console.WriteLine(what);
                            if (cutoff is null || cutoff > expected.Values[objective])
                            {
                                Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
                                Assert.AreEqual(expected.Point, got.Best!.Point, what);
                                Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * expected.Values[objective], what);
                            }
                            if (!on)
                            {
                                off = got;
                                Assert.IsTrue(run.FullBounds.All(x => x.KeptStopLeft is null), what);
                                continue;
                            }
                            Assert.AreEqual(off!.Status, got.Status, what);
                            Assert.AreEqual(off.Best?.Point, got.Best?.Point, what);
                            Assert.AreEqual(off.Bound, got.Bound, 1e-9 * Math.Abs(off.Bound), what);
                            foreach (var x in run.FullBounds.Where(x => x.KeptStopLeft is not null))
                            {
                                string key = string.Join(",", x.Points);
                                if (!optima.TryGetValue((space.Parameters[0].Level, key, o), out var optimum))
                                    optima[(space.Parameters[0].Level, key, o)] = optimum = exact.Sum(space.Relax(x.Points), o, relaxation: true).Value!.Value;
                                Assert.IsFalse(x.Dropped, what);
                                Assert.IsTrue(x.KnownAtStop <= x.Cutoff, $"{what}: a stopped set's known sum {x.KnownAtStop} above the cutoff {x.Cutoff}");
                                Assert.IsTrue(x.KnownAtStop >= optimum * (1 - 1e-12), $"{what}: a stopped set's known sum {x.KnownAtStop} below its relaxation's optimum {optimum}");
                                Assert.IsTrue(optimum <= x.Cutoff * (1 + 1e-12), $"{what}: a stopped set's relaxation optimum {optimum} above the cutoff {x.Cutoff}: its bound could have dropped it");
                                stops++;
                                stopsBy[objective]++;
                                if (x.Searches > 0) afterSearches++;
                                left += x.KeptStopLeft!.Value;
                            }
                        }
                    }
            }
        }
        Console.WriteLine($"{stops} full bounds stopped once kept ({string.Join(", ", stopsBy.Select(x => $"{DesignMetrics.Name(x.Key)} {x.Value}"))}), {afterSearches} after searches, {left} searches left");
        Assert.IsTrue(stops > 0 && afterSearches > 0, "no full bound stopped after a search: the test does not see the stop");
    }

    // The 16-point space with the fanout declared last (the same points, split in another order).
    private static DesignSpace FanoutLast() => DesignSpaceSpec.Parse(File.ReadAllText(SpacePath).Replace("    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n", "")
        .Replace("    - {level: DRAM, bandwidth: [2, 4]}\n", "    - {level: DRAM, bandwidth: [2, 4]}\n    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n"), "fanout-last.yaml");

    // Four small layers (the two of codesign-small-workload.yaml and two more), so that a full bound has shapes left to stop before.
    private const string FourLayers = "workload:\n  name: codesign-four\n  layers:\n"
        + "    - name: conv\n      conv1d: {k: 8, c: 4, p: 16, r: 3}\n"
        + "    - name: fc\n      gemm: {m: 4, n: 16, k: 16}\n      tensors: {inputs: X, weights: W, outputs: Y}\n"
        + "    - name: conv2\n      conv1d: {k: 4, c: 8, p: 8, r: 3}\n      tensors: {inputs: I2, weights: F2, outputs: O2}\n"
        + "    - name: fc2\n      gemm: {m: 8, n: 8, k: 32}\n      tensors: {inputs: X2, weights: W2, outputs: Y2}\n";

    /// <summary>
    /// A full bound's sum stops once the mappings known valid on the relaxation can no longer let it pass its target
    /// (<see cref="LayerEvaluator.StopOnceKept"/>, branch cd19w), in the plain form (energy) and in EDP's
    /// (<c>EdpOnRelaxation</c>, after an energy search): four small layers, the sets of the 16-point space that fix one
    /// parameter's value and the whole space, targets at 0.9, 0.99, 1.1 and 1.3 times each set's exact relaxation optimum, one
    /// shape's mappings carried from four points (each shape in turn). The set passes its target (would be dropped)
    /// exactly when its optimum does, as a full bound without the stop decides it (its searches run to the optima); a
    /// stop comes only with the known sum at most the target and at least the optimum (so never below 1); some stops come
    /// after searches and leave searches unrun, for energy and for EDP; the stop made to fire up to 1.3 x the target fails
    /// the test below 1 (energy at 0.9, EDP at 0.99: known sums at the optimum).
    /// </summary>
    [TestMethod]
    public void AFullBoundSumStopsOnceItsKnownMappingsAreAtMostTheTarget()
    {
        var workload = WorkloadSpec.Parse(FourLayers, "four-layers.yaml");
        var space = Space();
        var sets = NodesOf(space).Where(n => n.Count > 1).ToList();
        var exact = new LayerEvaluator(workload, SearchLimits.None);
        var stops = new Dictionary<Formulation.Objective, (int Stops, int After, int Left)>();
        foreach (var objective in new[] { Formulation.Objective.Energy, Formulation.Objective.Edp })
        {
            var optima = sets.Select(n => exact.Sum(space.Relax(n), objective, relaxation: true).Value!.Value).ToList();
            var seen = (Stops: 0, After: 0, Left: 0);
            foreach (double f in new[] { 0.9, 0.99, 1.1, 1.3 })
                foreach (int warm in Enumerable.Range(0, exact.Shapes.Count))
                {
                    // One shape's mappings carried from four points: the others have none known until searched, so the stop
                    // can come only after their searches, and before the warm shape's when it is searched last.
                    var eval = new LayerEvaluator(workload, SearchLimits.None);
                    foreach (int p in new[] { 0, 5, 10, 15 }) eval.Search(space.Build(p), warm, objective);
                    for (int i = 0; i < sets.Count; i++)
                    {
                        double target = optima[i] * f;
                        long before = eval.Searches;
                        var got = eval.Sum(space.Relax(sets[i]), objective, relaxation: true, target: target, full: true);
                        string what = $"{objective}, {sets[i].Count} from {sets[i].Min()}, target {f} x optimum {optima[i]}, shape {warm} carried: lower {got.Lower}, {eval.Searches - before} searches, stop {eval.LastKeptStop}";
                        Assert.AreEqual(eval.Shapes.Count, got.Results.Count, what);
                        Assert.IsTrue(got.Lower <= optima[i] * (1 + 1e-9), $"{what}: a bound above the optimum");
                        Assert.AreEqual(optima[i] > target, got.Lower > target, $"{what}: the set's fate differs from its optimum's");
                        if (eval.LastKeptStop is not { } stop) continue;
                        Assert.IsTrue(stop.Known <= target, $"{what}: stopped with the known sum {stop.Known} above the target {target}");
                        Assert.IsTrue(stop.Known >= optima[i] * (1 - 1e-9), $"{what}: stopped with the known sum {stop.Known} below the optimum {optima[i]}");
                        Assert.IsTrue(optima[i] <= target, $"{what}: stopped though the relaxation's optimum {optima[i]} is above the target {target}");
                        seen.Stops++;
                        if (eval.Searches > before && stop.Left > 0) { seen.After++; Console.WriteLine($"{what}: known {stop.Known / optima[i]:0.####} x optimum"); }
                        seen.Left += stop.Left;
                    }
                }
            stops[objective] = seen;
        }
        Console.WriteLine(string.Join("; ", stops.Select(x => $"{x.Key}: {x.Value.Stops} stops, {x.Value.After} after searches with searches left, {x.Value.Left} searches left")));
        foreach (var (objective, seen) in stops)
            Assert.IsTrue(seen.After > 0, $"{objective}: no full bound stopped after a search with searches left: the test does not see the stop");
    }

    /// <summary>
    /// A set holding a point known within a margin of the cutoff is split without its own full bound (branch cd19r,
    /// <see cref="Codesign.SplitNearCutoff"/>, sets of more than two points; branch cd19t, <see cref="Codesign.PairsNearCutoff"/>,
    /// sets of two points, sent to their points): on the 16-point space and on the same space with the
    /// fanout declared last, for energy, latency and EDP, alone and under the median latency as a budget, with the margins
    /// off, at 5 % and at 1000 % (every set taken from the queue then split unbounded), each margin alone and both: the sweep's answer each time; each
    /// split set's known value (<c>upper</c>) at least the least optimum of its points (it is the value of real mappings on
    /// one of them) and within the margin of the cutoff then; and, for the sets of more than two points and for the pairs
    /// each, some split's upper within 30 % of that least optimum, so that an upper scaled down by 1.3 fails the test.
    /// </summary>
    [TestMethod]
    public void ASetNearTheCutoffIsSplitWithoutItsBound()
    {
        string text = File.ReadAllText(SpacePath);
        string last = text.Replace("    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n", "")
            .Replace("    - {level: DRAM, bandwidth: [2, 4]}\n", "    - {level: DRAM, bandwidth: [2, 4]}\n    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n");
        int splits = 0, tight = 0, pairs = 0, tightPairs = 0;
        foreach (var space in new[] { Space(), DesignSpaceSpec.Parse(last, "fanout-last.yaml") })
        {
            var sweeper = new Codesign(space, Small(), SearchLimits.None);
            var latencies = sweeper.SweepAll(DesignMetric.Latency, []).Select(f => f!.Values[DesignMetric.Latency]).OrderBy(v => v).ToList();
            foreach (var budgets in new List<Budget>[] { [], [new(DesignMetric.Latency, latencies[latencies.Count / 2], "test")] })
                foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
                {
                    var all = sweeper.SweepAll(objective, []);
                    var expected = sweeper.Sweep(objective, budgets)!;
                    foreach (long nodes in new long[] { 10, Codesign.DefaultQuickNodes })
                    foreach (double? margin in new double?[] { null, 0.05, 10.0 })
                    foreach (var (larger, two) in margin is null ? [(true, true)] : new[] { (true, false), (false, true), (true, true) })
                    {
                        // With the dive's searches cut at 10 nodes the sets it leaves are unproved, so the rule meets them.
                        var run = new Codesign(space, Small(), SearchLimits.None, quickNodes: nodes)
                            { SplitNearCutoff = larger ? margin : null, PairsNearCutoff = two ? margin : null, LeaveHopelessHalves = nodes < 100 };
                        var got = run.Minimize(objective, budgets);
                        string what = $"{space.Parameters[0].Level} first, {DesignMetrics.Name(objective)} [{string.Join("; ", budgets)}], dive nodes {nodes}, margin {margin} (larger sets {larger}, pairs {two}): " +
                                      $"splits [{string.Join("; ", run.NearSplits.Select(x => $"{x.Points.Count} from {x.Points.Min()} upper {x.Upper} cutoff {x.Cutoff}"))}]";
                        Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
                        Assert.AreEqual(expected.Point, got.Best!.Point, what);
                        Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * expected.Values[objective], what);
                        if (margin is null) Assert.AreEqual(0, run.NearSplits.Count, what);
                        foreach (var split in run.NearSplits)
                        {
                            double least = split.Points.Min(p => all[p]!.Values[objective]);
                            Assert.IsTrue(split.Points.Count > 2 ? larger : split.Points.Count == 2 && two, what);
                            Assert.IsTrue(split.Upper >= least * (1 - 1e-12), $"{what}: a split set's known value {split.Upper} below the least optimum of its points {least}");
                            Assert.IsTrue(split.Upper <= split.Cutoff * (1 + margin!.Value), what);
                            if (split.Points.Count == 2) { pairs++; if (split.Upper / 1.3 < least) tightPairs++; }
                            else { splits++; if (split.Upper / 1.3 < least) tight++; }
                        }
                    }
                }
        }
        Console.WriteLine($"{splits} sets of more than two points split without a bound, {tight} with a known value within 30 % of their least optimum; " +
                          $"{pairs} pairs sent to their points, {tightPairs} within 30 %");
        Assert.IsTrue(splits > 0, "no set split: the test sees nothing");
        Assert.IsTrue(tight > 0, "no split set's known value near its least optimum: a value scaled down by 1.3 would pass");
        Assert.IsTrue(pairs > 0, "no pair sent to its points: the test sees nothing");
        Assert.IsTrue(tightPairs > 0, "no pair's known value near its least optimum: a value scaled down by 1.3 would pass");
    }

    /// <summary>
    /// A set's full EDP bound leaves its EDP searches when its sum after the energy searches is far below the target
    /// (branch cd19s, <see cref="LayerEvaluator.EdpRiseMargin"/>): on the 16-point space, on the relaxations of the whole
    /// space and of every set fixing one or two parameters, with targets from 0.7 to 1.3 times the relaxation's EDP optimum,
    /// margins 0 and 4 %, each from a fresh evaluator and from one that has first bounded the whole space: the sum
    /// is never above the least EDP of the set's points (each by exhaustive search); a set the rule leaves is at or below
    /// its target (it is split, never dropped by the rule); a set the full search leaves at or below the target is left
    /// there too; the rule acts on some sets, and no more searches run than without it (on this space every EDP search it
    /// leaves is one the full order leaves too: proved, or unable to decide the set). A rule that dropped the sets it leaves (their sum reported above
    /// the target) fails the second assertion.
    /// </summary>
    [TestMethod]
    public void AFarSetsEdpSearchesAreLeft()
    {
        var space = Space();
        var all = Enumerable.Range(0, space.Count).ToList();
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        var values = all.Select(p => exact.Sum(space.Build(p), Objective.Edp, relaxation: false).Value!.Value).ToArray();
        var sets = SetsOfOneAndTwoValues(space);
        long left = 0, with = 0, without = 0;
        int lost = 0, leftSets = 0;
        foreach (bool warm in new[] { false, true })
            foreach (var set in sets)
            {
                var arch = space.Relax(set);
                double optimum = exact.Sum(arch, Objective.Edp, relaxation: true).Value!.Value, least = set.Min(p => values[p]);
                foreach (double f in new[] { 0.7, 0.97, 1.01, 1.3 })
                    foreach (double margin in new[] { 0, 0.04 })
                    {
                        var rule = new LayerEvaluator(Small(), SearchLimits.None) { EdpRiseMargin = margin };
                        var plain = new LayerEvaluator(Small(), SearchLimits.None);
                        if (warm)
                            foreach (var e in new[] { rule, plain }) e.Sum(space.Relax(all), Objective.Edp, relaxation: true);
                        long a = rule.Searches, b = plain.Searches, leftBefore = rule.EdpSearchesLeftFar, setsBefore = rule.SetsLeftFar;
                        double target = f * optimum;
                        var got = rule.Sum(arch, Objective.Edp, relaxation: true, target: target);
                        var want = plain.Sum(arch, Objective.Edp, relaxation: true, target: target);
                        bool fired = rule.SetsLeftFar > setsBefore;
                        string what = $"{set.Count} points from {set.Min()}, {(warm ? "warm" : "fresh")}, target {f} x {optimum}, margin {margin}: sum {got.Lower} " +
                                      $"({rule.Searches - a} searches, {rule.EdpSearchesLeftFar - leftBefore} left), without the rule {want.Lower} ({plain.Searches - b}), least point {least}";
                        Assert.IsTrue(got.Lower <= least * (1 + 1e-12), what);
                        if (fired) { Assert.IsFalse(got.Lower > target, what); leftSets++; }
                        if (!(want.Lower > target)) Assert.IsFalse(got.Lower > target, what);
                        if (want.Lower > target && !(got.Lower > target)) lost++;
                        left += rule.EdpSearchesLeftFar - leftBefore;
                        with += rule.Searches - a;
                        without += plain.Searches - b;
                    }
            }
        // On this space every shape left is proved or could not decide its set anyway, so no search is saved here (ResNet-50's are: docs/benchmarks.md, cd19s).
        Console.WriteLine($"{sets.Count} sets x 4 targets x 2 margins x 2: {leftSets} sets left their EDP searches ({left} that could have decided them), {lost} decisions lost; {with} searches against {without}");
        Assert.IsTrue(leftSets > 0, "no set left its EDP searches: the test sees nothing");
        Assert.IsTrue(with <= without, $"{with} searches, more than {without}");
    }

    /// <summary>
    /// The splits put the compute parameters first for the objectives that count cycles: on the 16-point space with the
    /// fanout declared last (so that the plain rule, the most distinct values and the first such, splits the global
    /// buffer first), the dive's first halves for latency and EDP each hold one fanout, for energy one global buffer and
    /// both fanouts; and every answer is still the exhaustive sweep's.
    /// </summary>
    [TestMethod]
    public void CyclesObjectivesSplitTheFanoutFirst()
    {
        string text = File.ReadAllText(SpacePath).Replace("    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n", "");
        text = text.Replace("    - {level: DRAM, bandwidth: [2, 4]}\n", "    - {level: DRAM, bandwidth: [2, 4]}\n    - {level: GlobalBuffer, fanout: [2x2, 4x4]}\n");
        var space = DesignSpaceSpec.Parse(text, "fanout-last.yaml");
        int fanout = space.Parameters.Count - 1;
        Assert.AreEqual(DesignKnob.Fanout, space.Parameters[fanout].Knob, "the test's space declares the fanout last");
        var sweeper = new Codesign(space, Small(), SearchLimits.None);
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp })
        {
            var run = new Codesign(space, Small(), SearchLimits.None);
            var got = run.Minimize(objective, []);
            var expected = sweeper.Sweep(objective, [])!;
            var first = run.Dive[0].Halves.Concat(run.Dive[0].Left).ToList();
            string what = $"{DesignMetrics.Name(objective)}: first halves [{string.Join(" / ", first.Select(h => string.Join(",", h.Points)))}]";
            int Distinct(DiveHalf h, int parameter) => h.Points.Select(p => space.Indices(p)[parameter]).Distinct().Count();
            Assert.AreEqual(2, first.Count, what);
            bool cycles = objective != DesignMetric.Energy;
            Assert.AreEqual(cycles, Codesign.ComputeFirst(objective), what);
            foreach (var h in first)
            {
                Assert.AreEqual(cycles ? 1 : 2, Distinct(h, fanout), what);
                Assert.AreEqual(cycles ? 2 : 1, Distinct(h, 0), what);
            }
            Assert.AreEqual(CodesignStatus.Optimal, got.Status, what);
            Assert.AreEqual(expected.Point, got.Best!.Point, what);
            Assert.AreEqual(expected.Values[objective], got.BestValue!.Value, 1e-9 * expected.Values[objective], what);
        }
    }

    /// <summary>
    /// The dive's choice between halves: the least midpoint of key and estimate, even where another half has a lower key or
    /// a lower estimate; the least key when a half has no estimate; ties by key, then the tie-break metric, then the lowest point.
    /// </summary>
    /// <summary>
    /// The dive's searches (the quick bounds of the root and the halves, the points before the longer search) explore a
    /// number of nodes on one thread, seeded by the descent, not a time (docs/codesign.md "Where the dive goes"), so its
    /// path is the same however loaded the machine: on the 16-point space, for energy and EDP with a limit of 1 node, a run
    /// alone and a run beside two threads spinning take the same steps, with the same keys and estimates to the last bit,
    /// land on the same point, and give the sweep's answer (the small space's searches finish within the limit's first
    /// check; <see cref="ANodeLimitedSumIsTheSameWhateverTheLoad"/> stops them).
    /// </summary>
    [TestMethod]
    public void TheDivesPathDoesNotDependOnTheLoad()
    {
        var (space, sweeper) = Shared.Value;
        static string Path(Codesign run) => string.Join("; ", run.Dive.Select(d => $"{d.Chosen}: " + string.Join(" / ",
            d.Halves.Select(h => $"{h.Points.Count} from {h.Points.Min()} key {h.Key:R} est {h.Estimate:R}"))));
        foreach (var objective in new[] { DesignMetric.Energy, DesignMetric.Edp })
        {
            var expected = sweeper.Sweep(objective, [])!;
            var alone = new Codesign(space, Small(), SearchLimits.None, quickNodes: 1);
            var first = alone.Minimize(objective, []);
            var (loaded, second) = Spinning(() => new Codesign(space, Small(), SearchLimits.None, quickNodes: 1) is var c ? (c, c.Minimize(objective, [])) : default);
            string what = $"{DesignMetrics.Name(objective)}:\n  alone  {Path(alone)}\n  loaded {Path(loaded)}";
            Console.WriteLine(what);
            Assert.IsTrue(alone.Dive.Count > 0, what);
            Assert.AreEqual(Path(alone), Path(loaded), what);
            foreach (var r in new[] { first, second })
            {
                Assert.AreEqual(CodesignStatus.Optimal, r.Status, what);
                Assert.AreEqual(expected.Point, r.Best!.Point, what);
                Assert.AreEqual(expected.Values[objective], r.BestValue!.Value, 1e-9 * expected.Values[objective], what);
            }
        }
    }

    /// <summary>
    /// A node-limited sum (<see cref="LayerEvaluator.Sum"/>'s nodes, what the dive's searches use): every ResNet-50 shape's
    /// EDP search on the relaxation of four points of examples/codesign-eyeriss.yaml, limited to 1 node (each search stops at
    /// its first check), alone and beside two threads spinning: each search stops after at most 2,048 nodes, some without
    /// their proof, and the two sums are the same to the last bit, search by search (status, nodes, bound, value), and
    /// their bounds are lower bounds (at most the same shapes' values). With the limit not applied, the searches run to
    /// the evaluator's 20 s and this fails.
    /// </summary>
    [TestMethod]
    public void ANodeLimitedSumIsTheSameWhateverTheLoad()
    {
        var space = DesignSpaceSpec.Load(CommandLine.Example("codesign-eyeriss.yaml"));
        var arch = space.Relax([240, 241, 242, 243]);
        LayerSum Run() => new LayerEvaluator(Zoo.Get("resnet50"), new SearchLimits(TimeSpan.FromSeconds(20))).Sum(arch, Objective.Edp, relaxation: true, nodes: 1);
        var alone = Run();
        var loaded = Spinning(Run);
        static string Text(LayerSum s) => string.Join("\n", s.Results.Select(r => $"{r.Status} {r.Explored} {r.Bound:R} {r.Best:R}"));
        Console.WriteLine(Text(alone));
        Assert.AreEqual(24, alone.Results.Count);
        Assert.AreEqual(Text(alone), Text(loaded));
        Assert.IsTrue(alone.Results.All(r => r.Explored <= 2048 && r.Best is not null), Text(alone));
        Assert.IsTrue(alone.Results.Any(r => r.Status != SolveStatus.Optimal), "every search finished within the limit: the test sees nothing");
        Assert.IsTrue(alone.Results.All(r => LayerEvaluator.LowerOf(r) <= r.Best!.Value * (1 + 1e-12)), Text(alone));
    }

    // Runs a function with two threads spinning beside it (the machine loaded), and returns its result.
    private static T Spinning<T>(Func<T> run)
    {
        using var stop = new CancellationTokenSource();
        var spinners = Enumerable.Range(0, 2).Select(_ => Task.Run(() => { long k = 0; while (!stop.IsCancellationRequested) k++; return k; })).ToList();
        try { return run(); }
        finally
        {
            stop.Cancel();
            Task.WaitAll([.. spinners]);
        }
    }

    [TestMethod]
    public void TheDiveChoosesByMidpointThenKey()
    {
        static DiveHalf H(int from, double key, double tie, double? estimate) => new([from, from + 1], key, tie, estimate);
        Assert.AreEqual(1, Codesign.DiveChoice([H(0, 1.0, 0, 4.0), H(2, 2.0, 0, 2.6)]), "the least midpoint (2.3), not the least key");
        Assert.AreEqual(0, Codesign.DiveChoice([H(0, 1.0, 0, 3.0), H(2, 2.0, 0, 2.5)]), "the least midpoint (2), not the least estimate");
        Assert.AreEqual(0, Codesign.DiveChoice([H(0, 1.0, 0, null), H(2, 2.0, 0, 1.5)]), "a half without an estimate: the least key");
        Assert.AreEqual(1, Codesign.DiveChoice([H(0, 2.0, 0, 2.0), H(2, 1.0, 0, 3.0)]), "equal midpoints: the least key");
        Assert.AreEqual(1, Codesign.DiveChoice([H(0, 1.0, 2, 3.0), H(2, 1.0, 1, 3.0)]), "then the least tie-break");
        Assert.AreEqual(0, Codesign.DiveChoice([H(0, 1.0, 1, 3.0), H(2, 1.0, 1, 3.0)]), "then the lowest point");
    }

    /// <summary>
    /// Under the Timeloop convention (every layer costed by Timeloop's counts, searched with the bounds of shared windows) the
    /// branch and bound over relaxations still gives the sweep's answer, the answer's layers re-cost to it under the
    /// convention, and the command says the convention and proves it.
    /// </summary>
    [TestMethod]
    public void UnderTheTimeloopConventionTheOptimumEqualsTheSweep()
    {
        var convention = Formulation.CostConvention.Timeloop;
        var space = Space();
        var expected = new Codesign(space, Small(), SearchLimits.None, convention: convention).Sweep(DesignMetric.Energy, []);
        var run = new Codesign(space, Small(), SearchLimits.None, convention: convention);
        var got = run.Minimize(DesignMetric.Energy, []);
        Assert.AreEqual(CodesignStatus.Optimal, got.Status, got.Explanation);
        Assert.AreEqual(expected!.Point, got.Best!.Point);
        Assert.AreEqual(expected.Values[DesignMetric.Energy], got.BestValue!.Value, 1e-9 * got.BestValue.Value);
        // Each layer's answer on the winning point is the convention's cost of its mapping, and differs from the default model's optimum somewhere.
        var timeloop = run.Evaluator.Sum(got.Best.Arch, Formulation.Objective.Energy, relaxation: false);
        var plain = new LayerEvaluator(Small(), SearchLimits.None).Sum(got.Best.Arch, Formulation.Objective.Energy, relaxation: false);
        for (int i = 0; i < timeloop.Results.Count; i++)
        {
            var r = timeloop.Results[i];
            Assert.AreEqual(r.Best!.Value, Formulation.TimeloopConvention.Evaluate(run.Evaluator.Shapes[i].Layer, got.Best.Arch, r.Mapping!).Energy, 1e-9 * r.Best.Value);
        }
        Assert.AreNotEqual(plain.Value!.Value, timeloop.Value!.Value, "the convention changes no layer's optimum here; the test would not see it ignored");
        var cli = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--objective", "energy", "--convention", "timeloop");
        Assert.AreEqual(0, cli.Code, cli.Err + cli.Out);
        StringAssert.Contains(cli.Out, "every layer costed by the timeloop convention");
        StringAssert.Contains(cli.Out, $"OPTIMAL energy={Codesign.Num(got.BestValue.Value)}");
        var bad = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--convention", "timeloops");
        Assert.AreEqual(2, bad.Code, bad.Err + bad.Out);
        StringAssert.Contains(bad.Err + bad.Out, "default, timeloop");
    }

    [TestMethod]
    public void CommandFindsTheOptimumAndWritesItsMappings()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"codesign-{Guid.NewGuid():N}");
        var csv = Path.Combine(Path.GetTempPath(), $"codesign-{Guid.NewGuid():N}.csv");
        try
        {
            var r = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--objective", "energy", "--csv", csv, "--mapping-out", dir);
            Assert.AreEqual(0, r.Code, r.Err + r.Out);
            StringAssert.Contains(r.Out, "OPTIMAL energy=");
            StringAssert.Contains(r.Out, "Exact layer searches: ");
            StringAssert.Contains(r.Out, "for a full sweep (16 points x 2 shapes x 1 objective(s))");
            Assert.IsTrue(File.Exists(Path.Combine(dir, "architecture.yaml")));
            Assert.IsTrue(File.Exists(Path.Combine(dir, "conv.yaml")) && File.Exists(Path.Combine(dir, "fc.yaml")));
            // The written mapping evaluates on the written architecture to the energy printed for its layer.
            var eval = CommandLine.Run("evaluate", "--arch", Path.Combine(dir, "architecture.yaml"), "--workload", WorkloadPath, "--layer", "fc", "--mapping", Path.Combine(dir, "fc.yaml"));
            Assert.AreEqual(0, eval.Code, eval.Err + eval.Out);
            StringAssert.Contains(File.ReadAllText(csv), "OPTIMAL");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            File.Delete(csv);
        }
    }

    [TestMethod]
    public void BudgetsNoPointMeetsAreInfeasibleNamingTheBudgetAndTheClosestPoint()
    {
        var area = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--require", "area <= 0.01");
        Assert.AreEqual(3, area.Code, area.Err + area.Out);
        StringAssert.Contains(area.Out, "INFEASIBLE: area <= 0.01 mm² (--require) is binding");
        StringAssert.Contains(area.Out, "the closest point, 0 (GlobalBuffer.fanout=2x2, GlobalBuffer.capacity=1024, Registers.capacity=16, DRAM.bandwidth=2), has area 0.061");
        var latency = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--require", "latency <= 10");
        Assert.AreEqual(3, latency.Code, latency.Err + latency.Out);
        StringAssert.Contains(latency.Out, "INFEASIBLE: latency <= 10 cycles (--require) is binding");
        StringAssert.Contains(latency.Out, "the closest point, ");
        StringAssert.Contains(latency.Out, "proved least");
        var bad = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--require", "area < 3");
        Assert.AreEqual(2, bad.Code);
        StringAssert.Contains(bad.Err, "METRIC <= NUMBER");
    }

    [TestMethod]
    public void BadSpaceFilesAreLocatedErrors()
    {
        var cases = new (string Yaml, string Expected)[]
        {
            ("design-space:\n  base: simple-ws\n  parameters: []\n", ":3:15: parameters: the space is empty"),
            ("design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBufer, capacity: [1024]}\n", ":4:15: parameters[0].level: the base architecture simple-ws has no level 'GlobalBufer'; did you mean 'GlobalBuffer'?"),
            ("design-space:\n  base: simple-ws\n  parameters:\n    - {level: DRAM, capacity: [1024]}\n", "level DRAM is off chip"),
            ("design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBuffer, fanout: [4x4, four]}\n", ":4:43: parameters[0].fanout[1]: a fanout is written XxY"),
            ("design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBuffer, capacity: [1024, 1024]}\n", "the value 1024 is given twice"),
            ("design-space:\n  base: nowhere\n  parameters:\n    - {level: GlobalBuffer, capacity: [1024]}\n", ":2:9: base: 'nowhere' is neither a preset"),
            ("design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBuffer, capacity: [1024]}\n  costs:\n    levels:\n      GlobalBuffer:\n        table:\n          - {words: 1024, read: 3, area: 0.1}\n          - {words: 4096, read: 2, area: 0.2}\n",
                ":10:13: costs.levels.GlobalBuffer.table[1]: the read energy is not increasing: 2 at 4096 words is below 3 at 1024 words"),
            ("design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBuffer, capacity: [1024]}\n  budgets: {area: -1}\n", ":5:19: budgets.area: must be a number above 0"),
            ("design-space:\n  base: simple-ws\n  paramters: []\n", "unknown key 'paramters'; did you mean 'parameters'?"),
        };
        foreach (var (yaml, expected) in cases)
        {
            var path = Path.Combine(Path.GetTempPath(), $"space-{Guid.NewGuid():N}.yaml");
            File.WriteAllText(path, yaml);
            try
            {
                var r = CommandLine.Run("codesign", "--space", path, "--workload", WorkloadPath);
                Assert.AreEqual(2, r.Code, $"{yaml}\n{r.Out}{r.Err}");
                StringAssert.Contains(r.Err, expected, yaml);
                StringAssert.Contains(r.Err, Path.GetFileName(path), yaml);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    // Which of several equal mappings a co-design point reports (docs/codesign.md, "Which of equal mappings a point
    // reports"): the least compact text among the mappings within the tie margin of the optimum, whatever order the
    // search met them in and whatever the run searched before (mappings carried from other architectures).
    private static string Text(Mapping m, Architecture arch) => LayerEvaluator.Text(m, arch);

    [TestMethod]
    public void ACanonicalSearchReturnsTheLeastTextOfTheTiesWhateverItsOrder()
    {
        var space = Space();
        var shapes = Zoo.DistinctShapes(Small());
        int differ = 0, cases = 0;
        foreach (var objective in new[] { Objective.Energy, Objective.Edp })
            for (int p = 0; p < space.Count; p++)
            {
                var arch = space.Build(p);
                foreach (var (layer, _) in shapes)
                {
                    var problem = new MapProblem(layer, arch, objective);
                    // The reference answer: the search unseeded on one thread, ties settled by text (the least text among the
                    // mappings of the search's mapspace within the margin of the optimum).
                    var reference = new TilingSearch(problem, prune: true, seed: false) { CanonicalTies = true }.Solve(new SearchLimits(Threads: 1));
                    Assert.AreEqual(SolveStatus.Optimal, reference.Status);
                    double optimum = reference.Best!.Value;
                    string expected = Text(reference.Mapping!, arch);
                    double energy = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true).Solve(SearchLimits.None).Best!.Value;
                    // Orders that differ: an EDP search's energy floor reorders its plans; a ceiling and the threads change what is met first.
                    var variants = new List<(string Name, TilingSearch Search, int Threads)>
                    {
                        ("plain", new TilingSearch(problem, prune: true) { CanonicalTies = true }, 1),
                        ("unseeded, 2 threads", new TilingSearch(problem, prune: true, seed: false) { CanonicalTies = true }, 2),
                        ("ceiling at the optimum", new TilingSearch(problem, prune: true, seed: false, ceiling: optimum * (1 + 2e-9)) { CanonicalTies = true }, 1),
                        ("energy floor", new TilingSearch(problem with { EnergyFloor = energy }, prune: true) { CanonicalTies = true }, 1),
                    };
                    var plain = new HashSet<string>();
                    foreach (var (name, search, threads) in variants)
                    {
                        var r = search.Solve(new SearchLimits(Threads: threads));
                        Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{name}, point {p}, {layer.Name}");
                        Assert.AreEqual(optimum, r.Best!.Value, optimum * 1e-9, $"{name}, point {p}, {layer.Name}");
                        Assert.AreEqual(expected, Text(r.Mapping!, arch), $"{Objectives.Name(objective)}, {name}, point {p}, {layer.Name}");
                    }
                    // Without the canonical tie-break the same searches may answer other ties: count where they do (the test's reach).
                    foreach (var floor in new[] { 0, energy })
                    {
                        plain.Add(Text(new TilingSearch(problem with { EnergyFloor = floor }, prune: true).Solve(new SearchLimits(Threads: 1)).Mapping!, arch));
                        plain.Add(Text(new TilingSearch(problem with { EnergyFloor = floor }, prune: true, seed: false, ceiling: optimum * (1 + 2e-9)).Solve(new SearchLimits(Threads: 2)).Mapping!, arch));
                    }
                    cases++;
                    if (plain.Count > 1) differ++;
                }
            }
        // On this space the search's own order settles every tie the same way under these variations too (0 of 64 when
        // written), so this test checks that the canonical search keeps one answer; it does not see the flag removed
        // (MappingsCarriedFromOtherArchitecturesTieByTheirTextNotTheOrderFound and the shard tests do).
        Console.WriteLine($"{differ} of {cases} (point, shape, objective) cases have ties that the search's own order settles differently");
    }

    [TestMethod]
    public void MappingsCarriedFromOtherArchitecturesTieByTheirTextNotTheOrderFound()
    {
        var space = Space();
        var workload = Small();
        int ties = 0;
        var optima = new Dictionary<(int, int, Objective), Mapping?>();
        foreach (var objective in new[] { Objective.Energy, Objective.Edp, Objective.Latency })
            for (int p = 0; p < space.Count; p++)
            {
                // Two runs that searched every other point, in opposite orders, then ask about point p without a search
                // (a cap of zero): p's best mapping is the least, on p, of the mappings carried from the others.
                var others = Enumerable.Range(0, space.Count).Where(q => q != p).ToList();
                var forward = new LayerEvaluator(workload, SearchLimits.None);
                var backward = new LayerEvaluator(workload, SearchLimits.None);
                var arch = space.Build(p);
                Mapping? Optimum(int q, int s)
                {
                    if (!optima.TryGetValue((q, s, objective), out var m))
                        optima[(q, s, objective)] = m = new TilingSearch(new MapProblem(forward.Shapes[s].Layer, space.Build(q), objective), prune: true).Solve(SearchLimits.None).Mapping;
                    return m;
                }
                for (int s = 0; s < forward.Shapes.Count; s++)
                {
                    foreach (int q in others) forward.Search(space.Build(q), s, objective);
                    foreach (int q in Enumerable.Reverse(others)) backward.Search(space.Build(q), s, objective);
                    var a = forward.Search(arch, s, objective, TimeSpan.Zero);
                    var b = backward.Search(arch, s, objective, TimeSpan.Zero);
                    if (a.Mapping is null) { Assert.IsNull(b.Mapping); continue; }
                    Assert.AreEqual(a.Best!.Value, b.Best!.Value, 1e-9 * a.Best.Value);
                    // How many distinct mappings tie for p's best here (what the tie-break decides between).
                    var tied = others.Select(q => Optimum(q, s))
                        .Where(m => m is not null && forward.ValueOn(arch, s, m) is { } v && v.Objective(objective) <= a.Best.Value * (1 + LayerEvaluator.TieMargin))
                        .Select(m => Text(m!, arch)).Distinct().Order(StringComparer.Ordinal).ToList();
                    if (tied.Count > 1) ties++;
                    Assert.AreEqual(tied[0], Text(a.Mapping, arch), $"{Objectives.Name(objective)}, point {p}, shape {s}: the least text of the {tied.Count} ties");
                    Assert.AreEqual(Text(a.Mapping, arch), Text(b.Mapping!, arch), $"{Objectives.Name(objective)}, point {p}, shape {s}");
                }
            }
        Console.WriteLine($"{ties} (objective, point, shape) cases with several tied carried mappings");
        Assert.IsTrue(ties > 0, "no ties: the test would not see the tie-break removed");
    }
}
