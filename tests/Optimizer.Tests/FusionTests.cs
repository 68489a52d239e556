using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>The fused search (docs/fusion.md) against brute force, the unfused baseline, the checker and the Z3 certificate.</summary>
[TestClass]
public sealed class FusionTests
{
    /// <summary>A chain of small GEMMs T{i+1}[M,N_i] = T{i}[M,N_{i-1}] * W{i}, with random bounds.</summary>
    internal static Workload Chain(Random rng, int length, int[] sizes)
    {
        int m = sizes[rng.Next(sizes.Length)];
        int k = sizes[rng.Next(sizes.Length)];
        var layers = new List<Einsum>();
        for (int i = 0; i < length; i++)
        {
            int n = sizes[rng.Next(sizes.Length)];
            layers.Add(Layers.Gemm($"g{i}", m, n, k, a: $"T{i}", b: $"W{i}", z: $"T{i + 1}"));
            k = n;
        }
        return new Workload("chain", "random small chain", layers);
    }

    /// <summary>DRAM, a small global buffer with a 2 x 1 fanout, and a small register file; bandwidth-limited DRAM so latency feels fusion.</summary>
    internal static Architecture SmallArch(Random rng, long buffer, bool fanout = true)
        => new("tiny", "random small", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 1 + rng.Next(2), writeBandwidth: 1),
            new StorageLevel("Buffer", buffer, 16, 5, 6, fanout: fanout ? new Fanout(2, 1) : null),
            new StorageLevel("Reg", 3 + rng.Next(6), 16, 1, 1, keeps: rng.Next(2) == 0 ? null : [TensorRole.Weights, TensorRole.Outputs]),
        ], new ComputeUnit(0.5));

    /// <summary>A small architecture where parallel compute costs energy (words pay hops over a 4-wide fanout) and DRAM is slow, so the least-energy mapping is not the least-cycle one.</summary>
    internal static Architecture TradeOffArch(Random rng)
        => new("trade-off", "random small, hops cost energy", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 1 + rng.Next(3), writeBandwidth: 1 + rng.Next(2)),
            new StorageLevel("Buffer", 20 + rng.Next(40), 16, 5, 6, fanout: new Fanout(4, 1, multicast: rng.Next(2) == 0, hopEnergy: 2 + rng.Next(20))),
            new StorageLevel("Reg", 3 + rng.Next(6), 16, 1, 1),
        ], new ComputeUnit(0.5));

    internal static IEnumerable<(Workload W, Architecture A, Objective O)> SmallCases()
    {
        var rng = new Random(7);
        Objective[] objectives = [Objective.Energy, Objective.Latency, Objective.Edp];
        // Kept small: brute force enumerates every fused mapping, and these cases run on every test run.
        for (int i = 0; i < 6; i++)
            yield return (Chain(rng, 2, [2, 4]), SmallArch(rng, 24 + rng.Next(40)), objectives[i % 3]);
        for (int i = 0; i < 3; i++)
            yield return (Chain(rng, 3, [2, 4]), SmallArch(rng, 24 + rng.Next(40), fanout: false), objectives[i % 3]);
        yield return (Chain(rng, 4, [2]), SmallArch(rng, 16, fanout: false), Objective.Edp);
        yield return (Chain(rng, 4, [2]), SmallArch(rng, 10, fanout: false), Objective.Energy);
    }

    [TestMethod]
    public void FusedOptimumEqualsBruteForceOnSmallChains()
    {
        int fusedWins = 0;
        foreach (var (w, a, o) in SmallCases())
        {
            var search = new FusionSearch(new FusionProblem(w, a, o, MaxFusedLoops: 1));
            var r = search.Solve(SearchLimits.None);
            // Every objective alone searches the full mapspace: against brute force over it.
            var (brute, bruteBest, count) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status);
            Assert.IsNotNull(brute, $"brute force found nothing over {count} fused mappings");
            Console.WriteLine($"{w.Layers.Count} layers, {o}: {count} fused mappings enumerated, optimum {bruteBest:G6}, unfused {r.UnfusedReport!.Objective(o):G6}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9,
                $"{w.Layers.Count} layers, {o}: fused search {r.Best} vs brute force {bruteBest} over {count} fused mappings");
            if (r.Best < r.UnfusedReport!.Objective(o) * (1 - 1e-9)) fusedWins++;
        }
        Assert.IsTrue(fusedWins > 0, "on none of the small cases did fusion beat the unfused optimum, so the comparison tested little");
    }

    // EDP over the full mapspace (docs/fusion.md, "EDP over the full mapspace"): equal to brute force over the full fused
    // mapspace (every class's whole mapspace, its fused (energy, cycles) Pareto front) on small chains over slow DRAM links,
    // never worse than the template's EDP optimum; on some case the least-energy fused mapping and the template's optimum
    // are both beaten, so neither the first weighted join (lambda = 0) nor the template decides the answer alone.
    [TestMethod]
    public void FusedEdpOverTheFullMapspaceEqualsBruteForce()
    {
        int beyond = 0;
        var rng = new Random(17);
        var cases = SmallCases().Where(c => c.O == Objective.Edp).Select(c => (c.W, c.A))
            .Concat(Enumerable.Range(0, 6).Select(_ => (Chain(rng, 2, [2, 4]), TradeOffArch(rng)))).ToList();
        foreach (var (w, a) in cases)
        {
            var search = new FusionSearch(new FusionProblem(w, a, Objective.Edp, MaxFusedLoops: 1));
            var r = search.Solve(SearchLimits.None);
            var (brute, bruteBest, count) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status, r.Explanation);
            Assert.IsNotNull(brute);
            var template = new FusionSearch(new FusionProblem(w, a, Objective.Edp, MaxFusedLoops: 1, TemplateOnly: true)).Solve(SearchLimits.None).Best!.Value;
            var energy = new FusionSearch(new FusionProblem(w, a, Objective.Energy, MaxFusedLoops: 1)).Solve(SearchLimits.None).Report!.Edp;
            Console.WriteLine($"{w.Layers.Count} layers: {count} fused mappings, EDP optimum {bruteBest:G8}, search {r.Best:G8} ({r.Summary}); template {template:G8}, least energy's EDP {energy:G8}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9);
            Assert.IsTrue(r.Best <= template * (1 + 1e-12), "worse than the template's optimum");
            if (bruteBest < Math.Min(template, energy) * (1 - 1e-9)) beyond++;
        }
        Assert.IsTrue(beyond > 0, "on no case did the EDP optimum beat both the template's and the least-energy fused mapping's EDP, so the lambda steps were not tested");
    }

    // A weighted class search that a search at a smaller lambda decides is not run (docs/fusion.md, "EDP over the full
    // mapspace", f17u): its bound from that search, E + lambda C >= (least E + l C) + (lambda - l) x the class's cycle floor,
    // is at most the class's least E + lambda C by brute force, on every class of the EDP small chains. Checked: it fails
    // with the bound scaled by 1.3 (classes whose optimum at lambda sits near the one at l, on its cycle floor).
    [TestMethod]
    public void AClassBoundFromASmallerLambdaIsAtMostItsLeastWeightedValue()
    {
        int classes = 0, close = 0;
        var rng = new Random(17);
        var cases = SmallCases().Where(c => c.O == Objective.Edp).Select(c => (c.W, c.A))
            .Concat(Enumerable.Range(0, 3).Select(_ => (Chain(rng, 2, [2, 4]), TradeOffArch(rng)))).ToList();
        foreach (var (w, a) in cases)
            foreach (var (l, lambda) in new[] { (0.0, 0.5), (1.0, 1.5), (10.0, 12.0) })
                foreach (var (term, least) in new FusionSearch(new FusionProblem(w, a, Objective.Edp, MaxFusedLoops: 1)).SmallerLambdaBoundsAndLeast(l, lambda))
                {
                    classes++;
                    Assert.IsTrue(term <= least * (1 + 1e-9), $"{w.Layers.Count} layers, lambda {l} -> {lambda}: bound {term:G9} above the least {least:G9}");
                    if (term >= least * 0.8) close++;
                }
        Console.WriteLine($"{classes} classes, {close} bounds within 20 % of their least");
        Assert.IsTrue(close > 0, "no bound close to its least: a bound scaled up would go unseen");
    }

    // A weighted class search's plan cycles with its held tensors' traffic on their fusion level's ports (docs/fusion.md, "EDP
    // over the full mapspace", f17w): every word of a held tensor the member writes, reads or loads passes that level at least
    // once. The least over the plans, and the class's cycle floor, at most the class's least fused cycles by brute force, on the
    // classes with held tensors of small chains whose buffer has narrow ports; some are met exactly only with the held words
    // (above the floor without them). Checked: it fails with the held words scaled by 1.3.
    [TestMethod]
    public void AHeldTensorsPortFloorIsAtMostItsClassesLeastCycles()
    {
        int classes = 0, met = 0;
        var rng = new Random(41);
        for (int k = 0; k < 6; k++)
        {
            var w = Chain(rng, 2, [2, 4]);
            var a = new Architecture("narrow-ports", "random small, a buffer with narrow ports", [
                new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 4, writeBandwidth: 4),
                new StorageLevel("Buffer", 40 + rng.Next(40), 16, 5, 6, readBandwidth: 1 + rng.Next(2), writeBandwidth: 1, fanout: new Fanout(4, 1, multicast: rng.Next(2) == 0)),
                new StorageLevel("Reg", 3 + rng.Next(6), 16, 1, 1),
            ], new ComputeUnit(1, 1));
            foreach (var (floor, planFloor, least) in new FusionSearch(new FusionProblem(w, a, Objective.Edp, MaxFusedLoops: 1)).HeldClassCycleFloorsAndLeast())
            {
                classes++;
                Assert.IsTrue(floor <= least * (1 + 1e-9), $"case {k}: cycle floor {floor} above the least fused cycles {least}");
                Assert.IsTrue(planFloor <= least * (1 + 1e-9), $"case {k}: plans' cycle floor {planFloor} above the least fused cycles {least}");
                if (planFloor >= least * (1 - 1e-9) && planFloor > floor) met++;
            }
        }
        Console.WriteLine($"{classes} classes with held tensors, {met} plan cycle floors met exactly by the held words");
        Assert.IsTrue(met > 0, "no floor met exactly: a floor scaled up would go unseen");
    }

    // Latency over the full mapspace (docs/fusion.md, "Latency over the full mapspace"): equal to brute force over the full
    // fused mapspace (every class's whole mapspace, its fused (energy, cycles) Pareto front) on small chains over slow DRAM
    // links, never worse than the template's latency optimum and better on some case; its unfused answer is the sum of every
    // layer's own least cycles (map --objective latency), the pruned search's and plain enumeration's. Checked: it fails when
    // the classes' cycle floors are scaled by 1.3, and when a class is searched for its own (unfused) cycles.
    [TestMethod]
    public void FusedLatencyOverTheFullMapspaceEqualsBruteForce()
    {
        int beyond = 0, fused = 0;
        var rng = new Random(29);
        var cases = SmallCases().Where(c => c.O == Objective.Latency).Select(c => (c.W, c.A))
            .Concat(Enumerable.Range(0, 4).Select(_ => (Chain(rng, 2, [2, 4]), TradeOffArch(rng))))
            .Concat(Enumerable.Range(0, 2).Select(_ => (Chain(rng, 3, [2, 4]), SmallArch(rng, 24 + rng.Next(40), fanout: false)))).ToList();
        foreach (var (w, a) in cases)
        {
            var search = new FusionSearch(new FusionProblem(w, a, Objective.Latency, MaxFusedLoops: 1));
            var r = search.Solve(SearchLimits.None);
            var (brute, bruteBest, count) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status, r.Explanation);
            Assert.IsNotNull(brute);
            var template = new FusionSearch(new FusionProblem(w, a, Objective.Latency, MaxFusedLoops: 1, TemplateOnly: true)).Solve(SearchLimits.None).Best!.Value;
            Console.WriteLine($"{w.Layers.Count} layers: {count} fused mappings, latency optimum {bruteBest}, search {r.Best}; template {template}, unfused {r.UnfusedReport!.Cycles}; {r.Mapping!.ToCompactString(a)}");
            Assert.AreEqual(bruteBest, r.Best!.Value, 0.5);
            Assert.AreEqual(r.Best.Value, FusionCost.Evaluate(w, a, r.Mapping).Cycles, 0.5);
            // Without the template's members to start from, the classes' bounds alone decide which are searched: a bound
            // above some member's cycles skips the class that holds the optimum, which the template's members would hide.
            var unseeded = new FusionSearch(new FusionProblem(w, a, Objective.Latency, MaxFusedLoops: 1) { SeedFromTemplate = false }).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, unseeded.Status, unseeded.Explanation);
            Assert.AreEqual(bruteBest, unseeded.Best!.Value, 0.5, "the search without the template's members");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count);
            Assert.IsTrue(r.Best <= template, "worse than the template's optimum");
            if (bruteBest < template) beyond++;
            if (r.Best < r.UnfusedReport.Cycles) fused++;
            Assert.IsTrue(r.UnfusedProven);
            double own = w.Layers.Sum(l => new TilingSearch(new MapProblem(l, a, Objective.Latency), prune: true).Solve(SearchLimits.None).Best!.Value);
            Assert.AreEqual(own, r.UnfusedReport.Cycles, 0.5, "the unfused answer is not every layer's own least cycles");
            Assert.AreEqual(w.Layers.Sum(l => new TilingSearch(new MapProblem(l, a, Objective.Latency), prune: false).Solve(SearchLimits.None).Best!.Value), own, 0.5);
        }
        Assert.IsGreaterThan(0, beyond, "on no case did the full mapspace beat the template's latency, so it tested little");
        Assert.IsGreaterThan(0, fused, "on no case did fusion lower the cycles, so the fused classes' searches were not tested");
    }

    // Lexicographic lists over the template: every term equals brute force's lexicographic least, and on some case the
    // later term decides (the single first term alone picks a mapping that is worse in it), so the list is not ignored.
    [TestMethod]
    public void LexicographicListsEqualBruteForceOverTheTemplate()
    {
        Objective[][] lists = [[Objective.Latency, Objective.Energy], [Objective.Energy, Objective.Latency], [Objective.Edp, Objective.Energy]];
        int decided = 0;
        foreach (var (w, a, _) in SmallCases().Take(6))
            foreach (var terms in lists)
            {
                // latency,energy searches the full mapspace unless asked for the template (FusionLexicographicTests); the others always the template.
                var p = new FusionProblem(w, a, terms[0], TemplateOnly: terms is [Objective.Latency, Objective.Energy]) { Terms = terms };
                Assert.IsFalse(p.FullMapspace, "a list searches the template");
                var search = new FusionSearch(p);
                var r = search.Solve(SearchLimits.None);
                var (brute, _, count) = search.BruteForce();
                Assert.AreEqual(SolveStatus.Optimal, r.Status);
                Assert.IsNotNull(brute);
                var bruteReport = FusionCost.Evaluate(w, a, brute);
                foreach (var t in terms)
                    Assert.AreEqual(bruteReport.Objective(t), r.Report!.Objective(t), bruteReport.Objective(t) * 1e-9,
                        $"{string.Join(",", terms)}: term {t} of the search vs brute force over {count} fused mappings");
                // Brute force with the first term alone keeps the first enumerated of the mappings that tie on it.
                var (firstOfTies, _, _) = new FusionSearch(new FusionProblem(w, a, terms[0], TemplateOnly: true)).BruteForce();
                var firstReport = FusionCost.Evaluate(w, a, firstOfTies!);
                Assert.AreEqual(firstReport.Objective(terms[0]), r.Report!.Objective(terms[0]), r.Report.Objective(terms[0]) * 1e-9);
                if (r.Report.Objective(terms[1]) < firstReport.Objective(terms[1]) * (1 - 1e-9)) decided++;
            }
        Assert.IsGreaterThan(0, decided, "on no case did the second term decide among mappings that tie on the first, so the lists were not tested");
    }

    // A layer whose tiles do not fit under one own DRAM loop has no template mapping alone, but fused it may have: the
    // group's shared loops split its tiles further. The search must then find the fused optimum (brute force's), not say
    // the mapspace is empty; INFEASIBLE only when brute force finds nothing either.
    [TestMethod]
    public void TemplateSearchFusesALayerThatHasNoMappingAlone()
    {
        var rng = new Random(11);
        int fusedOnly = 0, empty = 0;
        for (int i = 0; i < 17; i++)
        {
            var w = Chain(rng, 2 + rng.Next(2), [2, 4]);
            var a = SmallArch(rng, 6 + rng.Next(20), fanout: rng.Next(2) == 0);
            var search = new FusionSearch(new FusionProblem(w, a, Objective.Latency, TemplateOnly: true));
            var r = search.Solve(SearchLimits.None);
            if (r.Unfused is not null) continue;
            var (brute, best, count) = search.BruteForce();
            string name = $"case {i}: {string.Join(" ; ", w.Layers)} on a {a.Levels[1].Capacity}-word buffer";
            if (brute is null)
            {
                Assert.AreEqual(SolveStatus.Infeasible, r.Status, name);
                StringAssert.Contains(r.Explanation, "the fused mapspace is empty");
                empty++;
                continue;
            }
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{name}: {r.Explanation}");
            Assert.AreEqual(best, r.Best!.Value, best * 1e-9, $"{name}: search {r.Best} vs brute force {best} over {count}");
            Assert.IsNull(r.UnfusedReport);
            StringAssert.Contains(r.Explanation, "no valid mapping alone");
            Assert.IsTrue(r.Mapping!.Groups.Any(g => g.Count > 1));
            // Groups that keep halos are checked inside an unfused mapping: without one the answer is not claimed optimal.
            var halos = new FusionSearch(new FusionProblem(w, a, Objective.Latency, TemplateOnly: true, KeepHalos: true)).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Feasible, halos.Status, name);
            Assert.AreEqual(best, halos.Best!.Value, best * 1e-9);
            fusedOnly++;
        }
        Assert.IsGreaterThan(0, fusedOnly, "no case had a layer without a template mapping alone and a fused mapping");
        Assert.IsGreaterThan(0, empty, "no case had an empty fused mapspace");
    }

    [TestMethod]
    public void FusedIsNeverWorseThanUnfused()
    {
        foreach (var (w, a, o) in SmallCases())
        {
            var r = new FusionSearch(new FusionProblem(w, a, o)).Solve(SearchLimits.None);
            Assert.IsTrue(r.Best!.Value <= r.UnfusedReport!.Objective(o) * (1 + 1e-12), $"fused {r.Best} is worse than unfused {r.UnfusedReport.Objective(o)}");
            Assert.IsTrue(r.Unfused!.Groups.All(g => g.Count == 1));
        }
        var gpt = Zoo.Get("bert-base:seq=64");
        var big = new FusionSearch(new FusionProblem(gpt, Presets.Get("tpu-v4i"), Objective.Edp)).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, big.Status);
        Assert.IsTrue(big.Best!.Value <= big.UnfusedReport!.Edp * (1 + 1e-12));
    }

    [TestMethod]
    public void CheckerCatchesOverCapacityAndBrokenSharing()
    {
        var rng = new Random(3);
        var w = Chain(rng, 2, [4]);
        var a = SmallArch(rng, 1000);
        var r = new FusionSearch(new FusionProblem(w, a, Objective.Energy)).Solve(SearchLimits.None);
        Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping!).Count);
        // Every layer of the answer fits every level it keeps.
        for (int i = 0; i < w.Layers.Count; i++)
            foreach (var lv in r.Report!.Layers[i].Report.Levels)
                Assert.IsTrue(lv.Capacity is null || lv.WordsHeld <= lv.Capacity, $"{lv.Level} holds {lv.WordsHeld} > {lv.Capacity}");

        // Fuse the two layers with the whole intermediate on chip in a buffer too small for it.
        var tiny = new Architecture("tiny", "", [a.Levels[0], new StorageLevel("Buffer", 20, 16, 5, 6, fanout: new Fanout(2, 1)), a.Levels[2]], a.Compute);
        var fused = new FusedMapping([new FusedGroup(0, 1, 0)],
            w.Layers.Select(l => FusionMapspace.Candidates(l, tiny, []).First()));
        var v = FusionChecker.Check(w, tiny, fused);
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.Layer && x.Level == "Buffer" && x.Needed > x.Available), string.Join("; ", v));

        // Shared loops that disagree between producer and consumer.
        var p = FusionMapspace.Candidates(w.Layers[0], a, [new TemporalLoop(new RankId("M"), 2)]).First();
        var c = FusionMapspace.Candidates(w.Layers[1], a, [new TemporalLoop(new RankId("M"), 4)]).First();
        var bad = new FusedMapping([new FusedGroup(0, 1, 1)], [p, c]);
        Assert.IsTrue(FusionChecker.Check(w, a, bad).Any(x => x.Rule == FusionRule.SharedLoops));

        // An own DRAM loop of the consumer walking the on-chip intermediate (K indexes T1).
        var own = FusionMapspace.Candidates(w.Layers[1], a, []).First(m => m.Levels[0].Temporal.Any(t => t.Rank.Name == "K"));
        var walk = new FusedMapping([new FusedGroup(0, 1, 0)], [FusionMapspace.Candidates(w.Layers[0], a, []).First(), own]);
        Assert.IsTrue(FusionChecker.Check(w, a, walk).Any(x => x.Rule == FusionRule.OwnLoopOverIntermediate));
    }

    [TestMethod]
    public void FusionRemovesTheIntermediatesDramTraffic()
    {
        var rng = new Random(5);
        var w = Chain(rng, 2, [4]);
        var a = SmallArch(rng, 1000);
        var m0 = FusionMapspace.Candidates(w.Layers[0], a, []).First();
        var m1 = FusionMapspace.Candidates(w.Layers[1], a, []).First();
        var apart = FusionCost.Evaluate(w, a, new FusedMapping([new FusedGroup(0, 0, 0), new FusedGroup(1, 1, 0)], [m0, m1]));
        var together = FusionCost.Evaluate(w, a, new FusedMapping([new FusedGroup(0, 1, 0)], [m0, m1]));
        long words = w.Layers[0].TensorWords(w.Layers[0].Output);
        // DRAM: the producer's updates of T1 and the consumer's reads of T1, at 100 pJ a word; the
        // consumer's fills of T1 in the buffer (6 pJ a word), since the producer already wrote it there.
        Assert.AreEqual(words * (100 + 100 + 6), apart.Energy - together.Energy, 1e-6);
        Assert.IsFalse(together.Layers.SelectMany(l => l.Tensors).Any(t => t.Tensor.Name == "T1" && t.LevelIndex == 0));
    }

    [TestMethod]
    public void CertificateIsUnsatAtTheOptimumAndSatJustAbove()
    {
        foreach (var (w, a, o) in SmallCases().Take(4))
        {
            var r = new FusionSearch(new FusionProblem(w, a, o)).Solve(SearchLimits.None);
            var (atOptimum, smt2) = FusionCertificate.Certify(FusionCertifier.Z3, a, o, r.Survivors, r.Best!.Value, TimeSpan.FromSeconds(60));
            Assert.AreEqual(CertificateStatus.Unsat, atOptimum, $"{o}: Z3 found a combination below the fused optimum {r.Best}");
            StringAssert.Contains(smt2, "pick_L0_");
            var (above, _) = FusionCertificate.Check(FusionCertifier.Z3, a, o, r.Survivors, r.Best.Value * 1.001, TimeSpan.FromSeconds(60));
            Assert.AreEqual(CertificateStatus.Sat, above, $"{o}: Z3 found nothing below 1.001 x the optimum, which the optimum itself is");
            // CP-SAT answers the same questions over scaled integers: the same verdicts.
            var (cpAtOptimum, cpText) = FusionCertificate.Certify(FusionCertifier.CpSat, a, o, r.Survivors, r.Best!.Value, TimeSpan.FromSeconds(60));
            Assert.AreEqual(CertificateStatus.Unsat, cpAtOptimum, $"{o}: CP-SAT found a combination below the fused optimum {r.Best}");
            StringAssert.Contains(cpText, "Infeasible");
            var (cpAbove, _) = FusionCertificate.Check(FusionCertifier.CpSat, a, o, r.Survivors, r.Best.Value * 1.001, TimeSpan.FromSeconds(60));
            Assert.AreEqual(CertificateStatus.Sat, cpAbove, $"{o}: CP-SAT found nothing below 1.001 x the optimum, which the optimum itself is");
        }
    }

    [TestMethod]
    public void FusionLevelBelowALevelThatKeepsOnlyTheProducersRole()
    {
        // Level 1 keeps outputs only, so the intermediate (an output of g0, an input of g1) lives in level 2;
        // the template's level 1 keeps it in g0, which the fusion rules forbid: the search must agree with brute force.
        var rng = new Random(11);
        var w = Chain(rng, 2, [2, 4]);
        var a = new Architecture("split", "outputs-only buffer above a shared buffer", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 1, writeBandwidth: 1),
            new StorageLevel("OutBuf", 64, 16, 4, 4, keeps: [TensorRole.Outputs]),
            new StorageLevel("Buffer", 64, 16, 5, 6, fanout: new Fanout(2, 1)),
            new StorageLevel("Reg", 8, 16, 1, 1),
        ], new ComputeUnit(0.5));
        Assert.AreEqual(2, FusionRules.HoldLevel(w, a, w.Layers[0].Output.Id, [0, 1]));
        foreach (var o in new[] { Objective.Energy, Objective.Edp })
        {
            var search = new FusionSearch(new FusionProblem(w, a, o));
            var r = search.Solve(SearchLimits.None);
            var (_, bruteBest, _) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status);
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{o}");
        }
    }

    [TestMethod]
    public void StoppedSearchNeverClaimsOptimal()
    {
        var (w, a, _) = SmallCases().First();
        // The full mapspace (energy) and the template (EDP) alike.
        foreach (var o in new[] { Objective.Energy, Objective.Edp })
        {
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            // Interrupted (Ctrl-C, SIGTERM): the unfused mapping is still finished and returned as FEASIBLE.
            var r = new FusionSearch(new FusionProblem(w, a, o)).Solve(new SearchLimits(Cancel: cancelled.Token));
            Assert.AreEqual(SolveStatus.Feasible, r.Status, $"{o}");
            Assert.IsNotNull(r.Mapping);
            Assert.AreEqual(r.Unfused!.ToCompactString(a), r.Mapping.ToCompactString(a));
            Assert.IsTrue(r.Bound is null || r.Bound <= r.Best, $"{o}: bound {r.Bound} above the answer {r.Best}");
            // Out of time before even that: UNKNOWN, with no mapping.
            var late = new FusionSearch(new FusionProblem(w, a, o)).Solve(new SearchLimits(TimeSpan.FromTicks(1)));
            Assert.AreEqual(SolveStatus.Unknown, late.Status, $"{o}");
            Assert.IsNull(late.Mapping);
        }
    }

    [TestMethod]
    public void StoppedFullSearchGivesAValidBound()
    {
        // A full-mapspace search stopped part way: FEASIBLE, and its bound is below the true optimum.
        var rng = new Random(13);
        var w = Chain(rng, 3, [4, 8]);
        var a = SmallArch(rng, 200);
        var exact = new FusionSearch(new FusionProblem(w, a, Objective.Energy)).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, exact.Status);
        foreach (var ms in new[] { 50, 200, 800 })
        {
            var r = new FusionSearch(new FusionProblem(w, a, Objective.Energy, ReuseSameShapes: false)).Solve(new SearchLimits(TimeSpan.FromMilliseconds(ms)));
            if (r.Status == SolveStatus.Optimal) { Assert.AreEqual(exact.Best!.Value, r.Best!.Value, exact.Best.Value * 1e-9); continue; }
            if (r.Mapping is null) continue;
            Assert.AreEqual(SolveStatus.Feasible, r.Status);
            Assert.IsTrue(r.Bound <= exact.Best!.Value * (1 + 1e-9), $"{ms} ms: bound {r.Bound} above the optimum {exact.Best}");
            Assert.IsTrue(r.Best >= exact.Best.Value * (1 - 1e-9));
        }
    }

    /// <summary>Each layer's exact single-layer optimum, as map --solver exact finds it.</summary>
    private static double MapOptimum(Einsum e, Architecture a, bool prune = true)
        => new TilingSearch(new MapProblem(e, a, Objective.Energy), prune).Solve(SearchLimits.None).Best!.Value;

    [TestMethod]
    public void FullMapspaceBeatsOrMatchesTheTemplateAndItsUnfusedIsEveryLayersOwnOptimum()
    {
        int better = 0, fusedLayers = 0;
        foreach (var (w, a, _) in SmallCases())
        {
            var full = new FusionSearch(new FusionProblem(w, a, Objective.Energy)).Solve(SearchLimits.None);
            var template = new FusionSearch(new FusionProblem(w, a, Objective.Energy, TemplateOnly: true)).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, full.Status);
            Assert.IsTrue(full.UnfusedProven);
            Assert.IsTrue(full.Best <= template.Best * (1 + 1e-9), $"full {full.Best} above the template's {template.Best}");
            if (full.Best < template.Best * (1 - 1e-9)) better++;
            // The unfused answer beside it is the sum of every layer's own exact optimum, and of brute force's.
            double sum = w.Layers.Sum(l => MapOptimum(l, a));
            Assert.AreEqual(sum, full.UnfusedReport!.Energy, sum * 1e-9);
            Assert.AreEqual(w.Layers.Sum(l => MapOptimum(l, a, prune: false)), sum, sum * 1e-9);
            // Every answer is re-checked and re-costed.
            Assert.AreEqual(0, FusionChecker.Check(w, a, full.Mapping!).Count);
            Assert.AreEqual(full.Best!.Value, FusionCost.Evaluate(w, a, full.Mapping!).Energy, full.Best.Value * 1e-12);
            // What fusion removes from each layer is its class's removal, computed on the class's simplest loop nest.
            foreach (var g in full.Mapping!.Groups)
            {
                var holds = FusionRules.MemberHolds(w, a, g, full.Mapping.SharedOf(g));
                for (int i = g.First; i <= g.Last; i++)
                {
                    var held = holds[i - g.First].Held;
                    double removed = FusionCost.ClassRemoval(w.Layers[i], a, full.Mapping.SharedOf(g)(i), held);
                    Assert.AreEqual(full.Report!.Layers[i].RemovedEnergy, removed, 1e-6 * Math.Max(1, removed), $"layer {i}");
                    if (held.Count > 0) fusedLayers++;
                }
            }
        }
        Assert.IsTrue(better > 0, "the full mapspace never beat the template, so it tested little");
        Assert.IsTrue(fusedLayers > 0, "no answer fused any layer, so the removal was not tested");
    }

    [TestMethod]
    public void ClassSearchHonoursTheSharedLoopsAsAnOuterPrefix()
    {
        // A class's constraints: the shared loops outermost at DRAM, no own DRAM loop over the intermediate,
        // the intermediate kept at its fusion level. Exact search = plain enumeration, and the answer obeys them.
        var rng = new Random(17);
        for (int trial = 0; trial < 4; trial++)
        {
            var w = Chain(rng, 2, [4, 8]);
            var a = SmallArch(rng, 200);
            var consumer = w.Layers[1];
            var t = w.Layers[0].Output.Id;
            var shared = new List<TemporalLoop> { new(new RankId("M"), trial % 2 == 0 ? 2 : 4) };
            var c = FusionMapspace.ClassConstraints(consumer, shared, [new HeldTensor(t, 1, HeldUse.Reads)]);
            Assert.AreEqual(new RankId("M"), c.For(0).OuterPrefix.Single());
            var p = new MapProblem(consumer, a, Objective.Energy, c);
            var exact = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
            var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, exact.Status);
            Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, brute.Best.Value * 1e-9);
            Assert.IsTrue(ConstraintCheck.Allows(c, exact.Mapping!));
            var dram = exact.Mapping!.Levels[0].Temporal.Where(l => l.Factor > 1).ToList();
            Assert.AreEqual(shared[0], dram[0], "the shared loop must be DRAM's outermost loop");
            Assert.IsTrue(dram.Skip(1).All(l => !consumer.FindTensor(t)!.IsIndexedBy(l.Rank)));
            // A mapping whose DRAM loops put the shared loop inside another breaks the prefix.
            var swapped = new Mapping(exact.Mapping.Levels.Select((l, d) => d == 0 && l.Temporal.Count > 1
                ? new LevelMapping(l.Temporal.Skip(1).Append(l.Temporal[0]), l.Spatial, l.Keep) : l));
            if (dram.Count > 1) Assert.IsFalse(ConstraintCheck.Allows(c, swapped));
        }
    }

    [TestMethod]
    public void ClassBoundIsBelowEveryMemberAndSeesThePinnedDramFactors()
    {
        // TilingSearch.LowerBound under a class's constraints (the bound every class starts from, docs/fusion.md): never above
        // the class's optimum by plain enumeration, and on some classes above the layer's own unconstrained optimum (what
        // u - R starts from), so the pinned DRAM factors and the capacity left count. The exact search still equals brute force.
        var rng = new Random(29);
        int above = 0, tight = 0, cases = 0;
        for (int trial = 0; trial < 12; trial++)
        {
            var w = Chain(rng, 2, [4, 8]);
            var a = SmallArch(rng, 16 + rng.Next(120));
            foreach (var (e, use) in new[] { (w.Layers[0], HeldUse.Writes), (w.Layers[1], HeldUse.Reads) })
            {
                var t = w.Layers[0].Output.Id;
                var shared = trial % 3 == 0 ? new List<TemporalLoop>() : [new(new RankId("M"), trial % 3 == 1 ? 2 : 4)];
                var p = new MapProblem(e, a, Objective.Energy, FusionMapspace.ClassConstraints(e, shared, [new HeldTensor(t, 1, use)]));
                double bound = new TilingSearch(p, prune: true, seed: false).LowerBound(SearchLimits.None);
                var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
                var exact = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
                Assert.AreEqual(brute.Status, exact.Status, $"trial {trial}, {e.Name}");
                if (brute.Status == SolveStatus.Infeasible) continue;
                cases++;
                double optimum = brute.Best!.Value;
                Assert.AreEqual(optimum, exact.Best!.Value, optimum * 1e-9, $"trial {trial}, {e.Name}: exact against brute force");
                Assert.IsTrue(bound <= optimum * (1 + 1e-9), $"trial {trial}, {e.Name}: class bound {bound} above the class's optimum {optimum}");
                if (bound > MapOptimum(e, a) * (1 + 1e-9)) above++;
                if (bound * 1.3 > optimum) tight++;
            }
        }
        Console.WriteLine($"{cases} classes with members: bound above the layer's own optimum on {above}, within 1.3x of the class's optimum on {tight}");
        Assert.IsTrue(above > 0, "the class bound never rose above the layer's own optimum, so it added nothing to u - R");
        Assert.IsTrue(tight > 0, "the class bound was never within 1.3x of the optimum, so the comparison tested little");
    }

    // Under the Timeloop convention each layer is counted by Timeloop's rules (with fusion's removals) over the
    // template, every order of each axis's spatial loops included: the search equals brute force over the same set,
    // its report is Timeloop's counts, and on the convolutions (windows) the two conventions give other optima.
    [TestMethod]
    public void TimeloopConventionOverTheTemplateEqualsBruteForce()
    {
        var convs = new Workload("cnn", "two 1-D convolutions", [
            Layers.Conv1d("c0", c: 2, k: 4, p: 4, r: 3, inputs: "X", weights: "W0", outputs: "Y0"),
            Layers.Conv1d("c1", c: 4, k: 2, p: 2, r: 3, inputs: "Y0", weights: "W1", outputs: "Y1"),
        ]);
        var cases = SmallCases().Take(3).Select(c => (c.W, c.A, c.O))
            .Concat([(convs, SmallArch(new Random(2), 40), Objective.Energy), (convs, SmallArch(new Random(5), 40), Objective.Edp)]).ToList();
        int differ = 0;
        foreach (var (w, a, o) in cases)
        {
            var p = new FusionProblem(w, a, o) { Convention = CostConvention.Timeloop };
            Assert.IsFalse(p.FullMapspace);
            var search = new FusionSearch(p);
            var r = search.Solve(SearchLimits.None);
            var (brute, bruteBest, count) = search.BruteForce();
            Assert.AreEqual(SolveStatus.Optimal, r.Status);
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name} {o}: timeloop convention vs brute force over {count} fused mappings");
            var recount = FusionCost.Evaluate(w, a, r.Mapping!, CostConvention.Timeloop).Objective(o);
            Assert.AreEqual(recount, r.Best.Value, recount * 1e-12);
            var byDefault = new FusionSearch(new FusionProblem(w, a, o, TemplateOnly: true)).Solve(SearchLimits.None);
            if (Math.Abs(byDefault.Best!.Value - r.Best.Value) > 1e-9 * r.Best.Value) differ++;
        }
        Assert.IsGreaterThan(0, differ, "on no case did Timeloop's counts change the optimum, so the convention was not tested");
    }

    [TestMethod]
    public void SearchIsDeterministicAndChainsOfConvolutionsFuseOverChannels()
    {
        var convs = new Workload("cnn", "two 1-D convolutions", [
            Layers.Conv1d("c0", c: 2, k: 4, p: 4, r: 3, inputs: "X", weights: "W0", outputs: "Y0"),
            Layers.Conv1d("c1", c: 4, k: 2, p: 2, r: 3, inputs: "Y0", weights: "W1", outputs: "Y1"),
        ]);
        var a = SmallArch(new Random(2), 40);
        var search = new FusionSearch(new FusionProblem(convs, a, Objective.Energy));
        var r1 = search.Solve(SearchLimits.None);
        var r2 = new FusionSearch(new FusionProblem(convs, a, Objective.Energy)).Solve(SearchLimits.None);
        Assert.AreEqual(r1.Mapping!.ToCompactString(a), r2.Mapping!.ToCompactString(a));
        var (_, bruteBest, _) = search.BruteForceFull();
        Assert.AreEqual(bruteBest, r1.Best!.Value, bruteBest * 1e-9);
        // The intermediate's only plain shared dimension is the channel: K of c0 is C of c1; P is a window in c1.
        var y0 = new TensorId("Y0");
        Assert.AreEqual(new RankId("C"), FusionRules.PlainRank(convs.Layers[1], y0, FusionRules.PlainDim(convs.Layers[0], y0, new RankId("K"))));
        Assert.IsNull(FusionRules.PlainRank(convs.Layers[1], y0, FusionRules.PlainDim(convs.Layers[0], y0, new RankId("P"))));
    }
}

/// <summary><c>optimizer fuse</c> end to end, and fused mappings read back by <c>evaluate</c> and <c>simulate</c>.</summary>
[TestClass]
[DoNotParallelize]
public sealed class FusionCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CommandLine.Run(args);

    [TestMethod]
    public void FuseWritesAMappingThatEvaluateAndSimulateReadBack()
    {
        var dir = Directory.CreateTempSubdirectory("optimizer-fusion-cli-").FullName;
        try
        {
            string spec = Path.Combine(dir, "fused.yaml"), csv = Path.Combine(dir, "fused.csv");
            var fuse = Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--objective", "energy", "--mapping-out", spec, "--csv", csv, "--certify");
            Assert.AreEqual(0, fuse.Code, fuse.Err);
            StringAssert.Contains(fuse.Out, "OPTIMAL energy=");
            StringAssert.Contains(fuse.Out, "CERTIFIED by Z3");
            StringAssert.Contains(fuse.Out, "stays in GlobalBuffer");
            var byCpSat = Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--objective", "energy", "--certify", "cpsat");
            Assert.AreEqual(0, byCpSat.Code, byCpSat.Err);
            StringAssert.Contains(byCpSat.Out, "CERTIFIED by CP-SAT");
            StringAssert.Contains(byCpSat.Out, "(infeasible)");
            var unknown = Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--certify", "cvc5");
            Assert.AreEqual(2, unknown.Code);
            StringAssert.Contains(File.ReadAllText(csv), "unfused,total");
            string energy = fuse.Out.Split('\n').First(l => l.StartsWith("fused:")).Split(',')[0].Split(' ')[^2];

            var evaluate = Run("evaluate", "--arch", "simple-ws", "--workload", "mlp", "--mapping", spec);
            Assert.AreEqual(0, evaluate.Code, evaluate.Out + evaluate.Err);
            StringAssert.Contains(evaluate.Out, $"total: energy {energy} pJ");

            var simulate = Run("simulate", "--arch", "simple-ws", "--workload", "mlp", "--mapping", spec);
            Assert.AreEqual(0, simulate.Code, simulate.Out + simulate.Err);
            StringAssert.Contains(simulate.Out, "AGREE");
            StringAssert.Contains(simulate.Out, "fc1_out held in GlobalBuffer");

            // A fused mapping that breaks a rule is reported, not costed: exit 1.
            var broken = System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(spec), @"shared-loops: \d+", "shared-loops: 3");
            File.WriteAllText(spec, broken);
            var bad = Run("evaluate", "--arch", "simple-ws", "--workload", "mlp", "--mapping", spec);
            Assert.AreEqual(1, bad.Code, bad.Out + bad.Err);
            StringAssert.Contains(bad.Out, "[SharedLoops]");

            // A misspelled layer is bad input: a located message, exit 2.
            // fc3 is the last layer, so it ends its group's list whatever the groups are.
            File.WriteAllText(spec, broken.Replace("fc3]", "fc4]"));
            var typo = Run("evaluate", "--arch", "simple-ws", "--workload", "mlp", "--mapping", spec);
            Assert.AreEqual(2, typo.Code);
            StringAssert.Contains(typo.Err, "no layer 'fc4'");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void BadFuseArgumentsExitWithTwo()
    {
        Assert.AreEqual(2, Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--max-fused-loops", "9").Code);
        Assert.AreEqual(2, Run("fuse", "--arch", "nope", "--workload", "mlp").Code);
        Assert.AreEqual(2, Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--time-limit", "-1").Code);
        var badList = Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--objective", "latency,power");
        Assert.AreEqual(2, badList.Code);
        StringAssert.Contains(badList.Err, "Unknown objective 'power'");
    }

    [TestMethod]
    public void SimulatorStreamsTheIntermediateOneSharedIterationAtATime()
    {
        var w = Zoo.Get("matmul-chain:3,m=64,k=32");
        var a = Presets.Get("simple-ws");
        // The template's energy optimum here shares a loop (the full mapspace's does not), and streaming is what is tested.
        var r = new FusionSearch(new FusionProblem(w, a, Objective.Energy, TemplateOnly: true)).Solve(SearchLimits.None);
        var group = r.Mapping!.Groups.Single(g => g.Count > 1);
        Assert.IsTrue(group.SharedLoops > 0, "the case should share a loop, or it tests no streaming");
        var streamed = Optimizer.Validation.FusedSimulation.Run(w, a, r.Mapping).Single();
        Assert.IsTrue(streamed.Iterations > 1);
        for (int k = 0; k + 1 < streamed.Steps.Count; k++)
        {
            // What the producer writes into the fusion level in one iteration is what the consumer reads there.
            var whole = Optimizer.Validation.Simulator.Run(w.Layers[group.First + k], a, r.Mapping.Layers[group.First + k]);
            Assert.AreEqual(whole.Find(streamed.FusionLevel, w.Layers[group.First + k].Output.Id)!.TotalUpdates, streamed.Steps[k].IntermediateWrittenWords * streamed.Iterations);
            Assert.IsTrue(streamed.Steps[k + 1].IntermediateReadWords > 0);
            Assert.IsTrue(streamed.Steps[k].HeldAtFusionLevel <= streamed.Steps[k].FusionLevelCapacity);
        }
    }

    [TestMethod]
    public void FusedMappingSpecRoundTrips()
    {
        var w = Zoo.Get("matmul-chain:3,m=8,k=8");
        var a = Presets.Get("simple-ws");
        var r = new FusionSearch(new FusionProblem(w, a, Objective.Edp)).Solve(SearchLimits.None);
        var text = Optimizer.Formulation.Specs.FusedMappingSpec.Write(w, a, r.Mapping!);
        var back = Optimizer.Formulation.Specs.FusedMappingSpec.Parse(text, "round-trip.yaml", w, a);
        Assert.AreEqual(r.Mapping!.ToCompactString(a), back.ToCompactString(a));
    }
}
