using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// `fuse --objective edp --pipeline` over the full mapspace (docs/fusion.md, "Pipelined groups in EDP over the full
/// mapspace"): pipelined groups' members from their whole classes in every weighted join, against brute force.
/// </summary>
[TestClass]
public sealed class FusionPipelineEdpTests
{
    /// <summary>
    /// The answer equals <see cref="FusionSearch.BruteForceFull"/> (every partition, held set and shared loops; each sequential
    /// class's mappings its whole class's (energy, cycles) Pareto front, each pipelined member's every mapping of its whole
    /// class not beaten or tied on energy, every demand and every level's words) on the GEMM and convolution chains of
    /// <see cref="FusionPipelineTests"/>, OPTIMAL; never above the template's pipelined optimum nor the full mapspace's
    /// sequential one, and below each on some cases; and the simulator's run of every pipelined group of the answer has the
    /// model's cycles.
    /// </summary>
    [TestMethod]
    public void PipelinedEdpOverTheFullMapspaceEqualsBruteForce()
    {
        int belowSequential = 0, belowTemplate = 0, simulated = 0;
        foreach (var (w, a) in FusionPipelineTests.Cases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            Assert.IsTrue(p.FullMapspace);
            var (brute, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            Assert.IsNotNull(brute, $"{w.Name}: brute force found nothing over {count} fused mappings");
            var template = new FusionSearch(p with { TemplateOnly = true }).Solve(SearchLimits.None).Best!.Value;
            var sequential = new FusionSearch(new FusionProblem(w, a, Objective.Edp)).Solve(SearchLimits.None).Best!.Value;
            var r = new FusionSearch(p).Solve(SearchLimits.None);
            Console.WriteLine($"{w.Name}: {count} fused mappings enumerated; optimum {bruteBest:G8}, template's pipelined optimum {template:G8}, " +
                              $"sequential over the full mapspace {sequential:G8}; answer {r.Best:G8} {string.Join(" | ", r.Mapping!.Groups.Select(g => $"{g.First}..{g.Last}{(g.Pipelined ? " pipelined" : "")}"))}; {r.Summary}");
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name}: {r.Explanation}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}: search {r.Best} vs brute force {bruteBest} over {count}");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count, "the answer is a valid fused mapping");
            var rep = FusionCost.Evaluate(w, a, r.Mapping);
            Assert.AreEqual(rep.Edp, r.Best.Value, rep.Edp * 1e-9, "the answer's EDP is its cost's");
            Assert.IsTrue(r.Best <= template * (1 + 1e-9), "the template's pipelined mappings are options of the same groups");
            Assert.IsTrue(r.Best <= sequential * (1 + 1e-9), "the pipelined space contains the sequential one");
            if (r.Best < sequential * (1 - 1e-9))
            {
                belowSequential++;
                Assert.IsTrue(r.Mapping.Groups.Any(g => g.Pipelined), "a gain over the sequential optimum comes from a pipelined group");
            }
            if (r.Best < template * (1 - 1e-9)) belowTemplate++;
            // The simulator's fused run schedules every pipelined group as the model does.
            foreach (var gs in FusedSimulation.Run(w, a, r.Mapping).Where(x => x.Pipeline is not null))
            {
                int index = r.Mapping.Groups.ToList().FindIndex(g => g.First == gs.First);
                Assert.AreEqual(rep.GroupCycles[index], gs.Pipeline!.Cycles, $"{w.Name}: the simulated pipeline's cycles");
                Assert.IsFalse(gs.Pipeline.Overfull.Any(), "a valid pipelined group fits every step");
                simulated++;
            }
        }
        Assert.IsTrue(belowSequential >= 2, $"pipelining beat the sequential EDP optimum on {belowSequential} case(s) only, so the comparison tested little");
        Assert.IsTrue(belowTemplate >= 2, $"the full mapspace beat the template's pipelined EDP optimum on {belowTemplate} case(s) only");
        Assert.IsTrue(simulated >= 2, $"only {simulated} pipelined group(s) of the answers simulated");
    }

    /// <summary>
    /// The pipelined groups' members' class bounds computed ahead of the join (f17y, <see cref="FusionSearch.BoundsAheadFirst"/>:
    /// every one the join's thread would compute ahead, before the join) leave the search as it was: the same status, answer,
    /// bound and `EDP search:` line as without them (one thread, where nothing is computed ahead), on the chains of
    /// <see cref="FusionPipelineTests"/>, and the same path (<see cref="FusionSearch.GroupDecisions"/>: the groups in the order
    /// the joins decide them, each with the members whose bounds the known bounds raised, those the search then took, and what
    /// ended it); some bounds were computed ahead. Reading every computed bound as known instead of only those the search took
    /// itself (the mutation of <see cref="FusionSearch"/>'s KnownClassBound, tried on 2026-12-07) keeps the answers and lines
    /// but changes the path: on the third GEMM chain and the three-convolution chain a group's member whose bound was computed
    /// ahead is raised as known ("known [0,1,2] taken []" where one thread has "known [0,2] taken [1]"), so this test fails then.
    /// </summary>
    [TestMethod]
    public void ClassBoundsComputedAheadLeaveTheSearchAsItWas()
    {
        var one = SearchLimits.None with { Threads = 1 };
        int ahead = 0, decided = 0;
        foreach (var (w, a) in FusionPipelineTests.Cases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            var alone = new FusionSearch(p) { GroupDecisions = [] };
            var plain = alone.Solve(one);
            var first = new FusionSearch(p) { BoundsAheadFirst = true, GroupDecisions = [] };
            var r = first.Solve(one);
            Console.WriteLine($"{w.Name}: {first.BoundsComputedAhead} bound(s) computed ahead; {r.Status} {r.Best:G8}; {r.Summary}");
            Assert.AreEqual(plain.Status, r.Status, w.Name);
            Assert.AreEqual(plain.Best, r.Best, w.Name);
            Assert.AreEqual(plain.Bound, r.Bound, w.Name);
            Assert.AreEqual(plain.Summary, r.Summary, w.Name);
            var (x, y) = (alone.GroupDecisions!, first.GroupDecisions!);
            for (int i = 0; i < Math.Max(x.Count, y.Count); i++)
                Assert.AreEqual(x.ElementAtOrDefault(i), y.ElementAtOrDefault(i), $"{w.Name}: the groups' searches, decision {i + 1} of {x.Count} (one thread) and {y.Count} (bounds ahead)");
            ahead += first.BoundsComputedAhead;
            decided += x.Count;
        }
        Assert.IsTrue(ahead > 0, "no class bound was computed ahead, so the comparison tested nothing");
        Assert.IsTrue(decided > 0, "no pipelined group was searched, so the paths compared nothing");
    }

    /// <summary>
    /// The join's flat copy of its classes (f17ae, <c>FusionSearch.JoinView</c>), which <c>NextClass</c>'s passes read and which
    /// takes only the classes that told it of a change since the last call, equals the classes read afresh at every call
    /// (<see cref="FusionSearch.CheckJoinViews"/> throws on the first stale value), in the EDP, latency and energy searches with
    /// pipelined groups on the chains of <see cref="FusionPipelineTests"/>; with the check on, the same answers as without.
    /// Fails when a change of a class's bound, member or searched mark is not reported to its view.
    /// </summary>
    [TestMethod]
    public void JoinViewsFollowEveryChangeOfTheClasses()
    {
        var one = SearchLimits.None with { Threads = 1 };
        long checks = 0;
        foreach (var (w, a) in FusionPipelineTests.Cases())
            foreach (var objective in new[] { Objective.Edp, Objective.Latency, Objective.Energy })
            {
                var p = new FusionProblem(w, a, objective, Pipeline: true);
                // The checked run first: a stale view throws there (unchecked, it may pick a searched class again and again).
                var search = new FusionSearch(p) { CheckJoinViews = true };
                var r = search.Solve(one);
                var plain = new FusionSearch(p).Solve(one);
                Assert.AreEqual(plain.Status, r.Status, $"{w.Name} {objective}");
                Assert.AreEqual(plain.Best, r.Best, $"{w.Name} {objective}");
                Assert.AreEqual(plain.Bound, r.Bound, $"{w.Name} {objective}");
                Assert.AreEqual(plain.Summary, r.Summary, $"{w.Name} {objective}");
                Console.WriteLine($"{w.Name} {objective}: {search.JoinViewsChecked} join views checked; {r.Status} {r.Best:G8}");
                checks += search.JoinViewsChecked;
            }
        Assert.IsTrue(checks > 0, "no join view was checked");
    }

    /// <summary>
    /// The template's candidates are costed once per layer shape and set of shared loops (f17ad, <c>FusionSearch.SharedCosts</c>):
    /// another layer of the shape reads the report with its tensors renamed by position. On GPT-3's layer on tpu-v4i, for Q
    /// against K and V under three sets of shared loops, every valid candidate among the first 400 of each has, renamed from
    /// Q's, exactly the report K's or V's own costing gives (every tensor's, level's and network's counts and energies, the
    /// cycles and what bounds them), and the same validity. Fails if the cost model came to depend on the tensors' names, or if
    /// the renaming left a name (Q's own report, not renamed, is checked to differ).
    /// </summary>
    [TestMethod]
    public void TemplateCostsSharedBySameShapeLayersAreEachLayersOwn()
    {
        var w = Zoo.Get("gpt3-6.7b");
        var arch = Presets.Get("tpu-v4i");
        var q = w.Layer("Q");
        int compared = 0;
        foreach (var other in new[] { w.Layer("K"), w.Layer("V") })
            foreach (TemporalLoop[] shared in new[] { Array.Empty<TemporalLoop>(), [new TemporalLoop(new RankId("M"), 4)], [new TemporalLoop(new RankId("H"), 32)] })
                foreach (var (mq, mo) in FusionMapspace.Candidates(q, arch, shared).Zip(FusionMapspace.Candidates(other, arch, shared)).Take(400))
                {
                    bool validQ = CostModel.TryEvaluate(q, arch, mq, out var rq, out _);
                    bool validO = CostModel.TryEvaluate(other, arch, mo, out var ro, out _);
                    Assert.AreEqual(validQ, validO, $"{other.Name}: a candidate valid for one layer only");
                    if (!validQ) continue;
                    var renamed = FusionSearch.Renamed(rq!, q, other);
                    Assert.IsTrue(renamed.Tensors.SequenceEqual(ro!.Tensors), $"{other.Name} [{string.Join(",", shared)}]: tensors' counts differ");
                    Assert.IsFalse(rq!.Tensors.SequenceEqual(ro.Tensors), "Q's own report already names K's or V's tensors, so the renaming was not tested");
                    Assert.IsTrue(renamed.Network.SequenceEqual(ro.Network) && renamed.Fanouts.SequenceEqual(ro.Fanouts) && renamed.Levels.SequenceEqual(ro.Levels), $"{other.Name}: network or levels differ");
                    Assert.AreEqual((ro.Energy, ro.Cycles, ro.ComputeCycles, ro.BoundBy, ro.Macs, ro.Utilization), (renamed.Energy, renamed.Cycles, renamed.ComputeCycles, renamed.BoundBy, renamed.Macs, renamed.Utilization));
                    compared++;
                }
        Console.WriteLine($"{compared} valid candidates compared");
        Assert.IsTrue(compared >= 100, $"only {compared} valid candidates compared");
    }

    /// <summary>
    /// The shared template reports of a layer shape are dropped once the fused join has made the partial mappings of the shape's
    /// last layer (f17af, <c>FusionSearch.ReleaseSharedCosts</c>): on matmul-chain:4 (four layers of one shape) over the template,
    /// sets of reports were made and shared, none is held after the search, and the answer, its value and every layer's counts
    /// are those of the search that shares nothing. Fails if the reports are kept to the end of the run (f17ad's peak memory).
    /// </summary>
    [TestMethod]
    public void SharedTemplateReportsAreReleasedAfterTheShapesLastLayer()
    {
        var p = new FusionProblem(Zoo.Get("matmul-chain:4"), Presets.Get("tpu-v4i"), Objective.Energy, TemplateOnly: true);
        var search = new FusionSearch(p);
        var shared = search.Solve(SearchLimits.None);
        var alone = new FusionSearch(p with { ReuseSameShapes = false }).Solve(SearchLimits.None);
        Console.WriteLine($"{search.SharedCostSetsMade} sets of reports made, {search.SharedCostSetsHeld} held after the search; {shared.Status} {shared.Best:R}");
        Assert.IsTrue(search.SharedCostSetsMade > 0, "no reports were shared, so nothing was released");
        Assert.AreEqual(0, search.SharedCostSetsHeld, "shared template reports kept after the shape's last layer");
        Assert.AreEqual((alone.Status, alone.Best), (shared.Status, shared.Best));
        Assert.IsTrue(alone.Stats.Select(s => (s.Evaluated, s.Valid, s.Kept, s.Frontier)).SequenceEqual(shared.Stats.Select(s => (s.Evaluated, s.Valid, s.Kept, s.Frontier))), "the layers' counts differ");
    }

    /// <summary>
    /// A class's bound is computed once per problem, shared by the shapes whose held tensors differ only in how the class uses
    /// them (f17aa, <c>FusionSearch._classBoundValues</c>): on GPT-3's layer on tpu-v4i (Q, K and V load or read the same
    /// input), each of the first such classes has as its shared bound exactly the bound computed afresh for its own shape.
    /// Fails if the class problem came to depend on the uses.
    /// </summary>
    [TestMethod]
    public void ClassBoundsSharedAcrossHeldUsesAreEachShapesOwn()
    {
        var p = new FusionProblem(Zoo.Get("gpt3-6.7b"), Presets.Get("tpu-v4i"), Objective.Edp, Pipeline: true);
        var pairs = new FusionSearch(p).ClassBoundsAcrossUses(4);
        foreach (var (shape, earlier, shared, own) in pairs)
        {
            Console.WriteLine($"{shape}: {own:R} (shared with {earlier}: {shared:R})");
            Assert.AreEqual(own, shared, $"{shape} against {earlier}");
        }
        Assert.AreEqual(4, pairs.Count, "fewer classes than asked share a problem with another shape, so little was compared");
    }

    /// <summary>
    /// The classes' bounds take their spatial plans' plain bounds from parts made once per layer shape (f17ab,
    /// <c>FusionSearch._plainPlans</c>, <see cref="PlainPlans"/>): on GPT-3's layer on tpu-v4i, for the first classes of every
    /// layer with a problem of their own (held tensors, levels, reserved words, bare levels, shared loops), every plan's plain
    /// bound so taken equals the one computed afresh, to the last bit, and so does the class bound. Fails when the parts' terms
    /// are scaled by 1.3 or the keep sets are not applied (f17ab's mutations); on these classes the capacities never decide a
    /// plan's root bound, which <see cref="PlainPlansApplyEachProblemsKeepSetsAndCapacities"/> covers.
    /// </summary>
    [TestMethod]
    public void PlainBoundsOnSharedPlansAreEachClasssOwn()
    {
        var p = new FusionProblem(Zoo.Get("gpt3-6.7b"), Presets.Get("tpu-v4i"), Objective.Edp, Pipeline: true);
        var rows = new FusionSearch(p).ClassPlainBoundsOnSharedPlans(most: 40, perLayer: 4);
        var maker = new Dictionary<string, IReadOnlyList<double>>();
        int plans = 0, shared = 0, differ = 0;
        foreach (var (problem, shape, onShared, own, sharedBound, ownBound) in rows)
        {
            Assert.AreEqual(own.Count, onShared.Count, $"{problem}: the plans listed");
            for (int i = 0; i < own.Count; i++)
                Assert.AreEqual(own[i], onShared[i], $"{problem}: plan {i}'s plain bound from the shared parts against afresh");
            Assert.AreEqual(ownBound, sharedBound, $"{problem}: the class bound");
            plans += own.Count;
            if (!maker.TryAdd(shape, own))
            {
                shared++;
                if (!own.SequenceEqual(maker[shape])) differ++;
            }
        }
        Console.WriteLine($"{rows.Count} classes, {plans} plans compared; {shared} on parts another class made, {differ} of them with plain bounds unlike the maker's");
        Assert.IsTrue(shared >= 10, "few classes took parts made by another, so little was compared");
    }

    /// <summary>
    /// <see cref="PlainPlans"/> made from GPT-3's Q on tpu-v4i without constraints give, for the same layer with inputs and
    /// outputs bypassing the local buffer (a bare level's constraints) and the global buffer's capacity reserved down to 2,000
    /// words, every plan's plain bound and the bound exactly as that problem's own search computes them; and most of those plain
    /// bounds differ from the unconstrained problem's, so the parts apply each problem's keep sets and capacities (on GPT-3's
    /// classes above they seldom matter at a plan's root).
    /// </summary>
    [TestMethod]
    public void PlainPlansApplyEachProblemsKeepSetsAndCapacities()
    {
        var arch = Presets.Get("tpu-v4i");
        var q = Zoo.Get("gpt3-6.7b").Layers.First(l => l.Name == "Q");
        var free = new MapProblem(q, arch, Objective.Energy);
        var bypass = new LevelConstraint { Bypass = q.Tensors.Where(t => t.Role != TensorRole.Weights).Select(t => t.Id).ToHashSet() };
        var tight = new MapProblem(q, FusionRules.Reserve(arch, new Dictionary<int, long> { [1] = arch.Levels[1].Capacity!.Value - 2000 })!, Objective.Energy,
            new MappingConstraints(new Dictionary<int, LevelConstraint> { [2] = bypass }));
        var parts = new TilingSearch(free, prune: true, seed: false).PlainPlans(SearchLimits.None);
        Assert.IsNotNull(parts);
        var search = new TilingSearch(tight, prune: true, seed: false);
        var onParts = search.PlainBounds(parts)!;
        var own = new TilingSearch(tight, prune: true, seed: false).PlainBounds(null)!;
        var freeOwn = new TilingSearch(free, prune: true, seed: false).PlainBounds(null)!;
        CollectionAssert.AreEqual(own.ToList(), onParts.ToList(), "the plain bounds from the unconstrained problem's parts against the problem's own");
        int differ = own.Where((x, i) => x != freeOwn[i]).Count();
        Console.WriteLine($"{own.Count} plans; {differ} with a plain bound unlike the unconstrained problem's");
        Assert.IsTrue(differ > own.Count / 2, "the keep sets and the capacity change few plain bounds, so the test tests little");
        Assert.AreEqual(new TilingSearch(tight, prune: true, seed: false).LowerBound(SearchLimits.None), search.LowerBound(SearchLimits.None, parts), "the bound");
    }

    /// <summary>
    /// The whole space's cycle floor the EDP search last used (<see cref="FusionResult.CycleFloor"/>: the classes' cycle floors
    /// along compatible keys, a pipelined group's raised by its searches, a complete group's to its front's least cycles) is at
    /// most the least cycles of every fused mapping with pipelined groups (<see cref="FusionSearch.BruteForceFull"/> for
    /// latency) on the chains of <see cref="FusionPipelineTests"/>, and within 1 / 1.3 of it on some chain (so a floor scaled up
    /// by 1.3 fails here).
    /// </summary>
    [TestMethod]
    public void PipelinedEdpWholeSpaceCycleFloorIsAtMostTheLeastCycles()
    {
        double closest = 0;
        foreach (var (w, a) in FusionPipelineTests.Cases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            var (_, leastCycles, count) = new FusionSearch(p with { Objective = Objective.Latency }).BruteForceFull();
            var r = new FusionSearch(p).Solve(SearchLimits.None);
            Console.WriteLine($"{w.Name}: cycle floor {r.CycleFloor:G8}, least cycles {leastCycles:G8} over {count}; {r.Summary}");
            Assert.IsNotNull(r.CycleFloor, $"{w.Name}: {r.Explanation}");
            Assert.IsTrue(r.CycleFloor <= leastCycles * (1 + 1e-9), $"{w.Name}: cycle floor {r.CycleFloor} above the least cycles {leastCycles}");
            closest = Math.Max(closest, r.CycleFloor!.Value / leastCycles);
        }
        Console.WriteLine($"the floor at most {closest:F4} of the least cycles");
        Assert.IsTrue(closest * 1.3 > 1, $"the floor is within {closest:F4} of the least cycles at best, so the test tests little");
    }

    /// <summary>
    /// Every member class enumerated up to one mapping only (<see cref="FusionProblem.PipelineVisitCap"/>), so no pipelined
    /// group's front is whole and each keeps its floor (its members' energy bounds summed plus lambda times its cycle floor):
    /// the bound stays at or below the brute force's optimum, OPTIMAL only at it. Fails when that floor is scaled up by 1.3.
    /// </summary>
    [TestMethod]
    public void PipelinedEdpGroupFloorsAreLowerBounds()
    {
        int belowSequential = 0;
        foreach (var (w, a) in FusionPipelineTests.Cases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            var (_, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            var sequential = new FusionSearch(new FusionProblem(w, a, Objective.Edp)).Solve(SearchLimits.None).Best!.Value;
            if (bruteBest < sequential * (1 - 1e-9)) belowSequential++;
            var r = new FusionSearch(p with { PipelineVisitCap = 1 }).Solve(SearchLimits.None);
            Console.WriteLine($"{w.Name}: {r.Status} {r.Best:G8} (bound {r.Bound:G8}), optimum {bruteBest:G8} over {count}, sequential {sequential:G8}; {r.Explanation}");
            Assert.IsNotNull(r.Bound, $"{w.Name}: {r.Explanation}");
            Assert.IsTrue(r.Bound <= bruteBest * (1 + 1e-9), $"{w.Name}: bound {r.Bound} above the optimum {bruteBest}");
            Assert.IsTrue(r.Best >= bruteBest * (1 - 1e-9), $"{w.Name}: {r.Best} below the optimum {bruteBest}");
            Assert.IsTrue(r.Best <= sequential * (1 + 1e-9), $"{w.Name}: {r.Best} above the sequential optimum {sequential}");
            if (r.Status == SolveStatus.Optimal) Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}: OPTIMAL only when it is");
        }
        Assert.IsTrue(belowSequential >= 2, $"pipelining beat the sequential optimum on {belowSequential} case(s) only, so the floors were tested little");
    }

    /// <summary>
    /// Every pipelined group's members' weighted floor (the group's cycles are at least each member's own, so E + lambda C is at
    /// least one member's least E_j + lambda C_j plus the others' least energies; <c>PipelineWeightedFloorsAndLeast</c>) is at
    /// most the group's least E + lambda C by brute force on the chains of <see cref="FusionPipelineTests"/>, at three lambdas
    /// around the unfused mapping's E / C, and within 1 / 1.3 of it on some group (so the floor scaled up by 1.3 fails here).
    /// </summary>
    [TestMethod]
    public void PipelinedGroupsMembersWeightedFloorsAreBelowTheirLeastWeightedValue()
    {
        int groups = 0;
        double closest = 0;
        foreach (var (w, a) in FusionPipelineTests.Cases())
        {
            var unfused = new FusionSearch(new FusionProblem(w, a, Objective.Latency)).Solve(SearchLimits.None).Unfused!;
            var rep = FusionCost.Evaluate(w, a, unfused);
            double scale = rep.Layers.Sum(x => x.Energy) / rep.GroupCycles.Sum();
            foreach (double lambda in new[] { scale / 4, scale, 4 * scale })
                foreach (var (g, floor, least) in new FusionSearch(new FusionProblem(w, a, Objective.Edp, Pipeline: true)).PipelineWeightedFloorsAndLeast(unfused, lambda))
                {
                    if (double.IsPositiveInfinity(least)) continue;
                    groups++;
                    Assert.IsTrue(floor <= least * (1 + 1e-9), $"{w.Name}, group {g.First}..{g.Last}, lambda {lambda:G4}: floor {floor:G8} above the least {least:G8}");
                    closest = Math.Max(closest, floor / least);
                }
        }
        Console.WriteLine($"{groups} group(s) and lambdas; the floor at most {closest:F4} of the group's least");
        Assert.IsTrue(closest * 1.3 > 1, $"the floor is within {closest:F4} of a group's least at best ({groups} compared), so the test tests little");
    }

    /// <summary>
    /// A small machine with a one-word weight register below its buffer (as tpu-v4i's WeightRegister): at most one of the
    /// members active in a pipelined group's step may keep a weight there, the others read theirs from the buffer.
    /// </summary>
    internal static Architecture NarrowArch(long buffer) => new("narrow", "small, with a one-word weight register", [
        new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 1, writeBandwidth: 1),
        new StorageLevel("Buffer", buffer, 16, 5, 6),
        new StorageLevel("WReg", 1, 16, 0.1, 0.1, keeps: [Workloads.TensorRole.Weights]),
    ], new ComputeUnit(0.5, 1));

    /// <summary>GEMM chains of <see cref="FusionPipelineTests"/> on <see cref="NarrowArch"/>.</summary>
    internal static IEnumerable<(Workloads.Workload W, Architecture A)> NarrowCases()
    {
        yield return (FusionPipelineTests.Gemms(4, 8, 2, 8), NarrowArch(128));
        yield return (FusionPipelineTests.Gemms(4, 4, 4, 2), NarrowArch(96));
        yield return (FusionPipelineTests.Gemms(4, 8, 2, 2, 8), NarrowArch(96));
    }

    /// <summary>
    /// Every pipelined group's energy floor with its narrow levels (docs/fusion.md, "a narrow level": at most one member active
    /// in a step keeps anything in the one-word register, so the group's energy is at least the least, over which member may,
    /// of its least energy plus the others' least energies with the register bypassed; <c>PipelineNarrowFloorsAndLeast</c>) is
    /// at most the group's least energy by brute force on <see cref="NarrowCases"/>, above its members' least energies summed
    /// on some groups, and on some group its rise above that sum within 1 / 1.3 of the rise to the least (so the rise scaled
    /// up by 1.3 fails here).
    /// </summary>
    [TestMethod]
    public void PipelinedGroupsNarrowLevelFloorsAreBelowTheirLeastEnergy()
    {
        int groups = 0, raised = 0;
        double closest = 0;
        foreach (var (w, a) in NarrowCases())
        {
            var unfused = new FusionSearch(new FusionProblem(w, a, Objective.Latency)).Solve(SearchLimits.None).Unfused!;
            foreach (var (g, plain, floor, least) in new FusionSearch(new FusionProblem(w, a, Objective.Edp, Pipeline: true)).PipelineNarrowFloorsAndLeast(unfused))
            {
                Console.WriteLine($"{w.Name}, group {g.First}..{g.Last}: members' least energies {plain:G8}, narrow floor {floor:G8}, least {least:G8}");
                if (double.IsPositiveInfinity(least)) continue;
                groups++;
                Assert.IsTrue(floor <= least * (1 + 1e-9), $"{w.Name}, group {g.First}..{g.Last}: narrow floor {floor:G8} above the least {least:G8}");
                if (floor > plain * (1 + 1e-9))
                {
                    raised++;
                    closest = Math.Max(closest, (floor - plain) / (least - plain));
                }
            }
        }
        Console.WriteLine($"{groups} group(s); {raised} raised by the narrow level, the rise at most {closest:F4} of the rise to the least");
        Assert.IsTrue(raised >= 2, $"the narrow level raised {raised} group(s) only, so the test tests little");
        Assert.IsTrue(closest * 1.3 > 1, $"the rise is within {closest:F4} of the least's at best, so the test tests little");
    }

    /// <summary>
    /// On <see cref="NarrowCases"/>, the search equals <see cref="FusionSearch.BruteForceFull"/> (OPTIMAL), and with every member
    /// class capped at one mapping (no group complete: the bounds rest on the floors, the narrow levels' among them) its bound is
    /// at most the optimum, OPTIMAL only at it.
    /// </summary>
    [TestMethod]
    public void PipelinedEdpWithANarrowLevelEqualsBruteForce()
    {
        foreach (var (w, a) in NarrowCases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            var (brute, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            Assert.IsNotNull(brute, $"{w.Name}: brute force found nothing over {count} fused mappings");
            var r = new FusionSearch(p).Solve(SearchLimits.None);
            var capped = new FusionSearch(p with { PipelineVisitCap = 1 }).Solve(SearchLimits.None);
            Console.WriteLine($"{w.Name}: optimum {bruteBest:G8} over {count}; answer {r.Status} {r.Best:G8}; capped {capped.Status} {capped.Best:G8} (bound {capped.Bound:G8}); {capped.Summary}");
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name}: {r.Explanation}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}: search {r.Best} vs brute force {bruteBest} over {count}");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping!).Count, "the answer is a valid fused mapping");
            Assert.IsNotNull(capped.Bound, $"{w.Name}: {capped.Explanation}");
            Assert.IsTrue(capped.Bound <= bruteBest * (1 + 1e-9), $"{w.Name}: bound {capped.Bound} above the optimum {bruteBest}");
            Assert.IsTrue(capped.Best >= bruteBest * (1 - 1e-9), $"{w.Name}: {capped.Best} below the optimum {bruteBest}");
            if (capped.Status == SolveStatus.Optimal) Assert.AreEqual(bruteBest, capped.Best!.Value, bruteBest * 1e-9, $"{w.Name}: OPTIMAL only when it is");
        }
    }

    /// <summary>
    /// A chain whose first layer has no template mapping alone (a 16-word buffer), so the template has no unfused mapping to
    /// check pipelined groups in: they are checked inside every layer's own least-energy mapping instead (`UnfusedFrame`), and
    /// the answer is OPTIMAL and equal to brute force. Before it, the answer was FEASIBLE ("no unfused mapping, so groups that
    /// keep their halos or pipeline were not searched"; `bench fusion-cases:pipeline:small:edp 12 9`, case 6).
    /// </summary>
    [TestMethod]
    public void WithoutATemplateUnfusedMappingPipelinedGroupsAreCheckedInEveryLayersOwn()
    {
        var w = FusionPipelineTests.Gemms(4, 8, 4, 2);
        var a = new Architecture("tiny", "small", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 3, writeBandwidth: 1),
            new StorageLevel("Buffer", 16, 16, 6, 6, fanout: new Fanout(4, 1)),
            new StorageLevel("Reg", 10, 16, 1, 1),
        ], new ComputeUnit(0.5, 16));
        var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
        Assert.IsNull(new FusionSearch(p with { TemplateOnly = true }).Solve(SearchLimits.None).Unfused, "the case needs a template without an unfused mapping");
        var (brute, bruteBest, count) = new FusionSearch(p).BruteForceFull();
        Assert.IsNotNull(brute, $"brute force found nothing over {count} fused mappings");
        var r = new FusionSearch(p).Solve(SearchLimits.None);
        Console.WriteLine($"{r.Status} {r.Best:G8}, optimum {bruteBest:G8} over {count}; {r.Summary}; {r.Explanation}");
        Assert.AreEqual(SolveStatus.Optimal, r.Status, r.Explanation);
        Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9);
    }

    /// <summary>
    /// The listing of pipelined groups stopped after 0, 1, 2 and 4 groups (<see cref="FusionProblem.PipelineListingStop"/>):
    /// the groups not listed are open chains bounded by 0 in every weighted join. The answer is valid, never below the brute
    /// force's optimum nor above the full mapspace's sequential one, and its bound at most the optimum; OPTIMAL only at it.
    /// </summary>
    [TestMethod]
    public void AStopWhileListingPipelinedGroupsKeepsAValidEdpBound()
    {
        foreach (var (w, a) in FusionPipelineTests.Cases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            var (_, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            var sequential = new FusionSearch(new FusionProblem(w, a, Objective.Edp)).Solve(SearchLimits.None).Best!.Value;
            foreach (int listed in new[] { 0, 1, 2, 4 })
            {
                var r = new FusionSearch(p with { PipelineListingStop = listed }).Solve(SearchLimits.None);
                Console.WriteLine($"{w.Name}, {listed} listed: {r.Status} {r.Best:G8} (bound {r.Bound:G8}), optimum {bruteBest:G8} over {count}, sequential {sequential:G8}");
                Assert.IsNotNull(r.Mapping, $"{w.Name}: {r.Explanation}");
                Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count, "the answer is a valid fused mapping");
                Assert.IsTrue(r.Best >= bruteBest * (1 - 1e-9), $"{w.Name}: {r.Best} below the brute force's optimum {bruteBest}");
                Assert.IsTrue(r.Best <= sequential * (1 + 1e-9), $"{w.Name}, {listed} listed: {r.Best} above the sequential optimum {sequential}");
                Assert.IsNotNull(r.Bound, $"{w.Name}: a stopped listing keeps a bound");
                Assert.IsTrue(r.Bound <= bruteBest * (1 + 1e-9), $"{w.Name}, {listed} listed: bound {r.Bound} above the optimum {bruteBest}");
                if (r.Status == SolveStatus.Optimal) Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}: OPTIMAL only when it is");
            }
        }
    }

    /// <summary>
    /// With --pipeline the sequential groups' EDP search runs to its end first, then the pipelined groups' (docs/fusion.md,
    /// "Pipelined groups in EDP over the full mapspace"): stopped after any number of exact class search nodes
    /// (<see cref="FusionProblem.NodeBudget"/>, one thread, a deterministic stop; the budgets after the class searches of
    /// both runs, up to 16 per chain spread over them), the answer is never worse than the plain search's (without
    /// --pipeline) stopped at the same budget, never below the brute force's optimum, its bound at most that optimum, OPTIMAL
    /// only at it; unstopped, OPTIMAL and equal to brute force. Checked by hand: with the sequential search cut after its
    /// first join (what main did before f17o: the pipelined groups joined from lambda > 0 on), the answer is worse than the
    /// plain one at some budgets.
    /// </summary>
    [TestMethod]
    public void AStoppedPipelinedEdpSearchIsNeverWorseThanThePlainOne()
    {
        var one = SearchLimits.None with { Threads = 1 };
        int compared = 0, better = 0;
        foreach (var (w, a) in StopCases())
        {
            var p = new FusionProblem(w, a, Objective.Edp, Pipeline: true);
            var plain = p with { Pipeline = false };
            var (_, bruteBest, count) = new FusionSearch(p).BruteForceFull();
            var search = new FusionSearch(p);
            var whole = search.Solve(one);
            Assert.AreEqual(SolveStatus.Optimal, whole.Status, $"{w.Name}: {whole.Explanation}");
            Assert.AreEqual(bruteBest, whole.Best!.Value, bruteBest * 1e-9, $"{w.Name}: unstopped, the brute force's optimum");
            var plainSearch = new FusionSearch(plain);
            plainSearch.Solve(one);
            var all = search.SpentAfter.Concat(plainSearch.SpentAfter).Where(b => b > 0).Distinct().Order().ToList();
            var budgets = Enumerable.Range(0, Math.Min(24, all.Count)).Select(k => all[k * all.Count / Math.Min(24, all.Count)]).Append(all[^1]).Distinct().ToList();
            foreach (long budget in budgets)
            {
                string name = $"{w.Name}, budget {budget} of {all[^1]}";
                var q = new FusionSearch(plain with { NodeBudget = budget }).Solve(one);
                var r = new FusionSearch(p with { NodeBudget = budget }).Solve(one);
                Console.WriteLine($"{name}: --pipeline {r.Status} {r.Best:G8} (bound {r.Bound:G8}), plain {q.Status} {q.Best:G8} (bound {q.Bound:G8}), optimum {bruteBest:G8} over {count}; plain: {q.Summary}");
                if (q.Best is null) continue;
                Assert.IsNotNull(r.Mapping, $"{name}: no answer where the plain search has one ({r.Explanation})");
                Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count, $"{name}: a valid fused mapping");
                Assert.IsTrue(r.Best <= q.Best * (1 + 1e-9), $"{name}: --pipeline {r.Best} worse than the plain search's {q.Best}");
                Assert.IsTrue(r.Best >= bruteBest * (1 - 1e-9), $"{name}: {r.Best} below the optimum {bruteBest}");
                Assert.IsNotNull(r.Bound, $"{name}: {r.Explanation}");
                Assert.IsTrue(r.Bound <= bruteBest * (1 + 1e-9), $"{name}: bound {r.Bound} above the optimum {bruteBest}");
                if (r.Status == SolveStatus.Optimal) Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{name}: OPTIMAL only when it is");
                compared++;
                if (r.Best < q.Best * (1 - 1e-9)) better++;
            }
        }
        Console.WriteLine($"{compared} stops compared, {better} with --pipeline better");
        Assert.IsTrue(compared >= 12, $"only {compared} stops compared");
        Assert.IsTrue(better >= 1, "--pipeline never better than the plain search at a stop: the comparison tested little");
    }

    /// <summary>Chains for the stopped runs: the GEMM chains of <see cref="FusionPipelineTests"/> and GEMM chains on architectures with an energy-cycles trade-off.</summary>
    private static IEnumerable<(Workloads.Workload W, Architecture A)> StopCases()
    {
        foreach (var c in FusionPipelineTests.Cases().Take(3)) yield return c;
        var rng = new Random(31);
        for (int i = 0; i < 4; i++) yield return (FusionTests.Chain(rng, 2 + i % 2, [2, 4]), FusionTests.TradeOffArch(rng));
    }
}
