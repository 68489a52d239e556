using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Validation;
using Optimizer.Workloads;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>Imperfect factorization (docs/cost-model.md, "Imperfect factorization"): the checker's rules, the worked example, and model = simulator on random imperfect mappings.</summary>
[TestClass]
public sealed class ImperfectTests
{
    private static readonly Einsum Conv10 = Layers.Conv1d("conv", c: 1, k: 1, p: 10, r: 3);

    /// <summary>Small layers whose bounds have few divisors (primes, 10, 9), so that imperfect factors are common.</summary>
    internal static IEnumerable<(Einsum Layer, Architecture Arch)> Cases()
    {
        var layers = new[]
        {
            Layers.Conv1d("c1", c: 3, k: 5, p: 10, r: 3),
            Layers.Conv1d("c1s2", c: 2, k: 3, p: 7, r: 3, stride: 2),
            Layers.Conv2d("c2", n: 1, c: 3, k: 5, p: 5, q: 7, r: 3, s: 2, stride: 1),
            Layers.Gemm("mm", m: 7, n: 10, k: 9),
            Layers.BatchedMatmul("bmm", batch: 3, m: 5, n: 7, k: 6),
        };
        foreach (var l in layers)
            foreach (var a in CostInvariantTests.SmallCases().Select(x => x.Arch).DistinctBy(x => x.Name))
                yield return (l, a);
    }

    private static bool HasResidual(Einsum e, Mapping m)
        => e.Ranks.Any(r => m.Levels.Aggregate(1L, (a, l) => a * l.TemporalFactor(r.Id) * l.SpatialFactor(r.Id)) != r.Bound);

    [TestMethod]
    public void ModelEqualsSimulatorOnRandomImperfectMappings()
    {
        var rng = new Random(2101);
        int compared = 0, imperfect = 0;
        foreach (var (layer, arch) in Cases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 30; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m, factorization: Factorization.Imperfect)) continue;
                var model = CostModel.Evaluate(layer, arch, m, Factorization.Imperfect);
                var sim = Simulator.Run(layer, arch, m, new SimOptions { Factorization = Factorization.Imperfect, MaxSteps = 2_000_000 });
                var diff = ModelCheck.Compare(model, sim);
                Assert.AreEqual(0, diff.Count, $"{layer.Name} on {arch.Name}, {m.ToCompactString(arch.Levels.Select(x => x.Name).ToList())}: {string.Join("; ", diff)}");
                // MACs are the true number of points, whatever the padding.
                Assert.AreEqual(layer.Ranks.Aggregate(1L, (a, r) => a * r.Bound), model.Macs);
                compared++;
                if (HasResidual(layer, m)) imperfect++;
            }
        }
        Assert.IsTrue(compared >= 300, $"only {compared} mappings compared");
        Assert.IsTrue(imperfect >= 200, $"only {imperfect} mappings had a partial last iteration");
    }

    [TestMethod]
    public void WorkedExampleOfTheCostModelPage()
    {
        // docs/cost-model.md, "Imperfect factorization": P = 10 as DRAM P=3 over Buffer P=4 R=3.
        var m = M(L("P=3"), L("P=4 R=3"));
        var r = CostModel.Evaluate(Conv10, TwoLevel(), m, Factorization.Imperfect);
        Assert.AreEqual(30, r.Macs);
        Assert.AreEqual(30, r.ComputeCycles);
        Assert.AreEqual(6, Row(r, "Buffer", "Inputs").TileWords);
        Assert.AreEqual(12, Row(r, "Buffer", "Inputs").Fills);     // 6 + 4 + 2: the last tile holds P 8..9, inputs 8..11
        Assert.AreEqual(30, Row(r, "Buffer", "Inputs").Reads);
        Assert.AreEqual(3, Row(r, "Buffer", "Weights").Fills);
        Assert.AreEqual(0, Row(r, "Buffer", "Outputs").Fills);
        Assert.AreEqual(30, Row(r, "Buffer", "Outputs").Updates);
        Assert.AreEqual(20, Row(r, "Buffer", "Outputs").Reads);
        Assert.AreEqual(12, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(10, Row(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(0, Row(r, "DRAM", "Outputs").Reads);
        var sim = Simulator.Run(Conv10, TwoLevel(), m, new SimOptions { Factorization = Factorization.Imperfect });
        Assert.AreEqual(0, ModelCheck.Compare(r, sim).Count);
    }

    [TestMethod]
    public void TwoLoopsOverOneRankAtOneLevelAgreeWithTheSimulator()
    {
        // P = 10 as DRAM P=2 over DRAM P=2 over buffer P=3 (12 points, the last 2 never run), in both orders with K between.
        var layer = Layers.Conv1d("conv", c: 2, k: 3, p: 10, r: 3);
        foreach (var dram in new[] { "P=2 K=3 P=2", "K=3 P=2 P=2", "P=2 P=2 K=3" })
        {
            var m = M(L(dram), L("C=2 P=3 R=3"));
            var model = CostModel.Evaluate(layer, TwoLevel(), m, Factorization.Imperfect);
            var sim = Simulator.Run(layer, TwoLevel(), m, new SimOptions { Factorization = Factorization.Imperfect });
            Assert.AreEqual(0, ModelCheck.Compare(model, sim).Count, $"{dram}: {string.Join("; ", ModelCheck.Compare(model, sim))}");
            Assert.AreEqual(layer.Macs, model.Macs);
        }
    }

    /// <summary>
    /// Per random valid mapping of the small cases (<paramref name="perCase"/> tries each) and level l from 1 up: each tensor's
    /// index, the tile extents at l, the loops above l as the perfect formula reads them (temporal, factor above 1) and as
    /// the clipped kernel does (spatial ones too), with the layer's bounds.
    /// </summary>
    private static IEnumerable<(string Where, TensorIndex Index, long[] Ext, StepLoop[] Perfect, ChainLoop[] Chain, long[] Bound)> SampledChains(Random rng, int perCase)
    {
        foreach (var (layer, arch) in CostInvariantTests.SmallCases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < perCase; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m)) continue;
                var nest = m.Nest().ToList();
                var ranks = layer.Ranks.Select(x => x.Id).ToList();
                var stride = new long[nest.Count];
                var inner = ranks.ToDictionary(x => x, _ => 1L);
                for (int j = nest.Count - 1; j >= 0; j--) { stride[j] = inner[nest[j].Rank]; inner[nest[j].Rank] *= nest[j].Factor; }
                var bound = layer.Ranks.Select(x => (long)x.Bound).ToArray();
                for (int l = 1; l < arch.Levels.Count; l++)
                {
                    int start = nest.FindIndex(x => x.Level >= l);
                    if (start < 0) start = nest.Count;
                    var ext = ranks.Select(x => nest.Skip(start).Where(y => y.Rank == x).Aggregate(1L, (a, y) => a * y.Factor)).ToArray();
                    var perfect = Enumerable.Range(0, start).Where(j => !nest[j].IsSpatial && nest[j].Factor > 1)
                        .Select(j => new StepLoop(ranks.IndexOf(nest[j].Rank), nest[j].Factor, stride[j])).ToArray();
                    var chain = Enumerable.Range(0, start).Where(j => nest[j].Factor > 1)
                        .Select(j => new ChainLoop(ranks.IndexOf(nest[j].Rank), nest[j].Factor, stride[j], nest[j].IsSpatial)).ToArray();
                    foreach (var t in layer.Tensors)
                        yield return ($"{layer.Name} on {arch.Name}, level {l}, {t.Id}", new TensorIndex(t, ranks), ext, perfect, chain, bound);
                }
            }
        }
    }

    [TestMethod]
    public void TheClippedKernelCountsAlikeWhateverItsThreadCountedBefore()
    {
        // Counts.ClippedVisits and Counts.ClippedStepWords keep their working lists in per-thread buffers (ClipScratch),
        // reused from call to call: every case counted on a thread that counted nothing before must give the same numbers
        // as counted after every other case (layers of 3 to 7 ranks, clipped and unclipped bounds), in either order.
        var cases = new List<(TensorIndex Index, long[] Ext, ChainLoop[] Chain, long[] Bound)>();
        foreach (var (_, index, ext, _, chain, bound) in SampledChains(new Random(2121), 4))
        {
            cases.Add((index, ext, chain, bound));
            // The same loops over bounds one smaller where a rank has more than one point: partial last tiles.
            cases.Add((index, ext, chain, bound.Select(b => b > 1 ? b - 1 : b).ToArray()));
        }
        long[] One((TensorIndex Index, long[] Ext, ChainLoop[] Chain, long[] Bound) c)
        {
            var words = new long[c.Chain.Length];
            var counts = new List<long> { Counts.ClippedVisits(c.Index, c.Ext, c.Chain, c.Bound, words: words) };
            counts.AddRange(words);
            for (int j = 0; j < c.Chain.Length; j++) counts.Add(Counts.ClippedStepWords(c.Index, c.Ext, c.Chain, c.Bound, j));
            return counts.ToArray();
        }
        long[][] OnNewThread(IEnumerable<int> order)
        {
            var result = new long[cases.Count][];
            Exception? error = null;
            var thread = new Thread(() =>
            {
                try { foreach (int i in order) result[i] = One(cases[i]); }
                catch (Exception e) { error = e; }
            });
            thread.Start();
            thread.Join();
            if (error is not null) throw new AssertFailedException($"the kernel threw: {error.Message}", error);
            return result;
        }
        var forward = OnNewThread(Enumerable.Range(0, cases.Count));
        var backward = OnNewThread(Enumerable.Range(0, cases.Count).Reverse());
        Assert.IsTrue(cases.Count >= 200 && cases.Select(c => c.Bound.Length).Distinct().Count() >= 3, $"{cases.Count} cases");
        Assert.IsTrue(forward.Any(x => x.Skip(1).Any(w => w > 0)), "no loop brought any words");
        for (int i = 0; i < cases.Count; i++)
        {
            var alone = OnNewThread([i])[i];
            CollectionAssert.AreEqual(alone, forward[i], $"case {i}, after the cases before it");
            CollectionAssert.AreEqual(alone, backward[i], $"case {i}, after the cases after it");
        }
    }

    [TestMethod]
    public void PerfectMappingsCountTheSameThroughTheClippedKernel()
    {
        // Counts.ClippedVisits with bounds the factors divide must equal Counts.Visits (the perfect formula).
        int checkedCount = 0;
        foreach (var (where, index, ext, perfect, chain, bound) in SampledChains(new Random(77), 10))
        {
            Assert.AreEqual(Counts.Visits(index, ext, perfect), Counts.ClippedVisits(index, ext, chain, bound), where);
            checkedCount++;
        }
        Assert.IsTrue(checkedCount >= 500, $"only {checkedCount} tiles compared");
    }

    [TestMethod]
    public void PerfectCheckerRefusesImperfectFactorsAndSaysHowToAskForThem()
    {
        var v = ValidityChecker.Check(Conv10, TwoLevel(), M(L("P=3"), L("P=4 R=3")));
        Assert.AreEqual(1, v.Count);
        Assert.AreEqual(Rule.FactorProduct, v[0].Rule);
        StringAssert.Contains(v[0].Message, "--imperfect");
        Assert.ThrowsExactly<InvalidOperationException>(() => CostModel.Evaluate(Conv10, TwoLevel(), M(L("P=3"), L("P=4 R=3"))));
    }

    [TestMethod]
    public void ImperfectCheckerExplainsEveryViolation()
    {
        // Factors below the bound.
        var below = ValidityChecker.Check(Conv10, TwoLevel(), M(L("P=2"), L("P=4 R=3")), Factorization.Imperfect);
        Assert.AreEqual(Rule.FactorProduct, below.Single().Rule);
        StringAssert.Contains(below[0].Message, "below its bound 10");
        // A whole empty iteration: P=4 over tiles of 4 covers 16, but 10 needs only 3.
        var empty = ValidityChecker.Check(Conv10, TwoLevel(), M(L("P=4"), L("P=4 R=3")), Factorization.Imperfect);
        Assert.AreEqual(Rule.EmptyIteration, empty.Single().Rule);
        Assert.AreEqual("DRAM", empty[0].Level);
        Assert.AreEqual(3, empty[0].Available);
        StringAssert.Contains(empty[0].Message, "use factor 3");
        // An inner loop beyond the bound by a whole tile: Buffer P=12 over single points.
        var inner = ValidityChecker.Check(Conv10, TwoLevel(), M(L(""), L("P=12 R=3")), Factorization.Imperfect);
        Assert.AreEqual(Rule.EmptyIteration, inner.Single().Rule);
        Assert.AreEqual("Buffer", inner[0].Level);
        // A spatial loop whose span does not divide the bound: the PEs would get unequal shares.
        var layer = Layers.Conv1d("conv", c: 1, k: 10, p: 4, r: 1);
        var spatial = ValidityChecker.Check(layer, ThreeLevel16(), M(L("K=3"), L("P=4", "K=4@X"), L("")), Factorization.Imperfect);
        Assert.AreEqual(Rule.SpatialRemainder, spatial.Single().Rule);
        StringAssert.Contains(spatial[0].Message, "does not divide its bound 10");
        // The remainder in temporal loops outside a spatial loop whose span (2) divides the bound: valid
        // (GLB's K=3 over pairs runs 3, 3 and 2 of them: K 0..5, then 6..9).
        var outside = M(L("K=2"), L("K=3 P=4", "K=2@X"), L(""));
        Assert.AreEqual(0, ValidityChecker.Check(layer, ThreeLevel16(), outside, Factorization.Imperfect).Count);
        var r = CostModel.Evaluate(layer, ThreeLevel16(), outside, Factorization.Imperfect);
        Assert.AreEqual(40, r.Macs);
        Assert.AreEqual(20, r.ComputeCycles);
        Assert.AreEqual(0, ModelCheck.Compare(r, Simulator.Run(layer, ThreeLevel16(), outside, new SimOptions { Factorization = Factorization.Imperfect })).Count);
        // And the capacity of a clipped tile: a buffer loop of 12 over a bound of 10 holds 10 points, not 12.
        var tiles = new TileShapes(Conv10, M(L(""), L("P=10 R=3")));
        Assert.AreEqual(10, tiles.Extent(1, new RankId("P")));
    }
}

/// <summary>The --imperfect option of evaluate, simulate and validate.</summary>
[TestClass]
public sealed class ImperfectCliTests
{
    private static readonly string[] Inputs = ["--arch", CommandLine.Example("two-level-arch.yaml"), "--workload", CommandLine.Example("conv1d-workload.yaml"),
        "--mapping", CommandLine.Example("conv1d-imperfect-mapping.yaml")];

    [TestMethod]
    public void EvaluateAcceptsImperfectFactorsOnlyWhenAsked()
    {
        var (code, output, _) = CommandLine.Run(["evaluate", .. Inputs]);
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "[FactorProduct] Rank P: factors over all levels multiply to 18, but its bound is 16");
        StringAssert.Contains(output, "--imperfect");
        (code, output, _) = CommandLine.Run(["evaluate", .. Inputs, "--imperfect"]);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "MACs         49,152 on 1 of 1 compute units");
        StringAssert.Contains(output, "Buffer  Inputs      16          1      49,152       4,608");
        (code, _, var err) = CommandLine.Run(["evaluate", .. Inputs, "--imperfect", "--convention", "timeloop"]);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--imperfect is counted by the default model only");
    }

    [TestMethod]
    public void SimulateAgreesWithTheModelOnTheExample()
    {
        var (code, output, _) = CommandLine.Run(["simulate", .. Inputs, "--imperfect"]);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "every count equals the model's");
    }

    [TestMethod]
    public void MapImperfectProvesASmallLayerAndRefusesWhatItDoesNotCover()
    {
        var dir = Directory.CreateTempSubdirectory("imperfect").FullName;
        var workload = Path.Combine(dir, "g7.yaml");
        File.WriteAllText(workload, "workload:\n  name: g7\n  layers:\n    - name: g7\n      gemm: {m: 7, n: 7, k: 7}\n");
        var arch = Path.Combine(dir, "a.yaml");
        File.WriteAllText(arch, "architecture:\n  name: a32\n  compute: {mac-energy: 1.0, macs-per-cycle: 1}\n  levels:\n" +
            "    - {name: DRAM, read-energy: 100.0, write-energy: 100.0}\n    - {name: Buffer, read-energy: 1.0, write-energy: 1.0, capacity: 32}\n");
        var output = Path.Combine(dir, "best.yaml");
        var (code, text, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--imperfect", "--quiet", "--simulate",
            "--mapping-out", output, "--format", "timeloop");
        Assert.AreEqual(0, code, text + err);
        StringAssert.Contains(text, "OPTIMAL energy=26362 (proved by exact (imperfect factorization) search");
        StringAssert.Contains(text, "every count equals the model's");
        // The optimum has ties; whichever is written carries a partial last iteration (Timeloop's residual form).
        StringAssert.Matches(File.ReadAllText(output), new System.Text.RegularExpressions.Regex(@"[MNK]=\d+,\d+"));
        (code, text, _) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--quiet");
        StringAssert.Contains(text, "OPTIMAL energy=45472");
        (code, _, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--imperfect", "--solver", "descent");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--imperfect is searched by --solver exact");
        (code, _, err) = CommandLine.Run("map", "--arch", "eyeriss", "--workload", "resnet50", "--all-layers", "--imperfect");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--all-layers is not supported with --imperfect");
    }

    [TestMethod]
    public void ValidateDrawsImperfectMappings()
    {
        var (code, output, _) = CommandLine.Run("validate", "--arch", "simple-ws", "--workload", "mlp", "--samples", "3", "--imperfect", "--quiet");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "random valid imperfect mapping(s)");
        StringAssert.Contains(output, " 0 disagree");
    }
}

/// <summary>Imperfect mappings in Timeloop's mapping format: residuals written as D=end,residual (Timeloop v3's residual_end).</summary>
[TestClass]
public sealed class ImperfectTimeloopFormatTests
{
    [TestMethod]
    public void RandomImperfectMappingsRoundTripWithTheirResiduals()
    {
        var rng = new Random(5150);
        int written = 0, withResidual = 0;
        foreach (var (layer, arch) in ImperfectTests.Cases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 8; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m, factorization: Factorization.Imperfect)) continue;
                if (Optimizer.Formulation.Specs.TimeloopMapping.Inexpressible(m, arch) is not null) continue;
                var text = Optimizer.Formulation.Specs.TimeloopMapping.Write(m, layer, arch);
                var back = Optimizer.Formulation.Specs.TimeloopMapping.Parse(text, "m.yaml", layer, arch);
                Assert.AreEqual(Optimizer.Formulation.Specs.MappingSpec.Write(m, layer, arch), Optimizer.Formulation.Specs.MappingSpec.Write(back, layer, arch), text);
                Assert.AreEqual(CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Energy, CostModel.Evaluate(layer, arch, back, Factorization.Imperfect).Energy);
                written++;
                if (text.Contains(',')) withResidual++;
            }
        }
        Assert.IsTrue(written >= 80 && withResidual >= 40, $"{written} written, {withResidual} with a residual");
    }

    [TestMethod]
    public void TheWorkedExampleIsWrittenWithTimeloopsResidualsAndWrongOnesAreRefused()
    {
        var layer = Layers.Conv1d("conv", c: 1, k: 1, p: 10, r: 3);
        var arch = TwoLevel();
        var m = M(L("P=3"), L("P=4 R=3"));
        var text = Optimizer.Formulation.Specs.TimeloopMapping.Write(m, layer, arch);
        // The DRAM loop runs all 3 iterations; the buffer's P loop runs 2 of its 4 in the last one: bound - 1 = 9 = (3 - 1) x 4 + (2 - 1).
        StringAssert.Contains(text, "P=3 ");
        StringAssert.Contains(text, "P=4,2");
        var e = Assert.ThrowsExactly<Optimizer.Workloads.Specs.SpecException>(() =>
            Optimizer.Formulation.Specs.TimeloopMapping.Parse(text.Replace("P=4,2", "P=4,3"), "m.yaml", layer, arch));
        StringAssert.Contains(e.Message, "m.yaml:");
        StringAssert.Contains(e.Message, "the residual 3 of P does not fit its bound 10");
        e = Assert.ThrowsExactly<Optimizer.Workloads.Specs.SpecException>(() =>
            Optimizer.Formulation.Specs.TimeloopMapping.Parse(text.Replace("P=4,2", "P=4,5"), "m.yaml", layer, arch));
        StringAssert.Contains(e.Message, "the residual 5 must be between 1 and the factor 4");
        e = Assert.ThrowsExactly<Optimizer.Workloads.Specs.SpecException>(() =>
            Optimizer.Formulation.Specs.TimeloopMapping.ParseConstraints("mapspace_constraints:\n  - target: Buffer\n    type: temporal\n    factors: P=4,2\n", "c.yaml", layer, arch));
        StringAssert.Contains(e.Message, "c.yaml:4:14:");
        StringAssert.Contains(e.Message, "belongs to a mapping, not to constraints");
        // Without residuals the factors alone are read too (the residuals follow from the bound).
        Assert.AreEqual(Optimizer.Formulation.Specs.MappingSpec.Write(m, layer, arch),
            Optimizer.Formulation.Specs.MappingSpec.Write(Optimizer.Formulation.Specs.TimeloopMapping.Parse(text.Replace("P=4,2", "P=4"), "m.yaml", layer, arch), layer, arch));
    }
}

/// <summary>How an imperfect mapping is printed and explained.</summary>
[TestClass]
public sealed class ImperfectPrintTests
{
    [TestMethod]
    public void TheLoopNestShowsTheLastOuterIterationsPartialLoopAndExplainSumsThePartialSteps()
    {
        var layer = Layers.Conv1d("conv", c: 1, k: 1, p: 10, r: 3);
        var m = M(L("P=3"), L("P=4 R=3"));
        var text = LoopNestPrinter.Print(layer, TwoLevel(), m);
        StringAssert.Contains(text, "for P in [0:4)  (under the last outer iterations: [0:2))");
        StringAssert.Contains(text, "for P in [0:3)\n");
        Assert.IsFalse(LoopNestPrinter.Print(layer, TwoLevel(), M(L("P=2"), L("P=5 R=3"))).Contains("under the last"));
        var d = CostModel.Explain(layer, TwoLevel(), m, "Buffer", new TensorId("Inputs"), Factorization.Imperfect);
        Assert.AreEqual(12, d.Visits);
        var step = d.Steps.Single();
        Assert.AreEqual(2, step.Transitions);
        Assert.AreEqual(6, step.Words);   // 4 new words into the second tile, 2 into the last (partial) one
        StringAssert.Contains(step.Why, "6 words over its 2 steps in all");
    }
}

/// <summary>map --imperfect: the enumeration of the imperfect mapspace, against the perfect exact search.</summary>
[TestClass]
public sealed class ImperfectEnumerationTests
{
    [TestMethod]
    public void RankOptionsAreEveryCoverWithoutAnEmptyIteration()
    {
        var layer = Layers.Conv1d("conv", c: 1, k: 1, p: 10, r: 3);
        var e = new Optimizer.Solvers.ImperfectEnumeration(new Optimizer.Solvers.MapProblem(layer, TwoLevel(), Objective.Energy));
        var p = e.RankOptions(layer.Ranks.Single(r => r.Id.Name == "P"));
        // Buffer factor 1..10, DRAM the rest: 10/1, 10/2, ceil(10/3) = 4, 3, 2, 2, 2, 2, 2, 1.
        CollectionAssert.AreEqual(new[] { 10, 5, 4, 3, 2, 2, 2, 2, 2, 1 }, p.Select(x => x[0]).ToArray());
        CollectionAssert.AreEqual(Enumerable.Range(1, 10).ToArray(), p.Select(x => x[1]).ToArray());
        // With a 16-wide fanout a spatial factor's span must divide the bound.
        var three = new Optimizer.Solvers.ImperfectEnumeration(new Optimizer.Solvers.MapProblem(layer, ThreeLevel16(), Objective.Energy));
        foreach (var option in three.RankOptions(layer.Ranks.Single(r => r.Id.Name == "P")))
            if (option[2] > 1) Assert.AreEqual(0, 10 % (option[2] * option[3]), string.Join(",", option));
    }

    [TestMethod]
    public void TheImperfectOptimumIsNeverWorseThanThePerfectOneAndBeatsItWhereDivisorsDoNotFit()
    {
        // A 7 x 7 x 7 GEMM on a 32-word buffer: perfect tiles of each rank are 1 or 7, so the output tile is a row or a
        // column at most; imperfect tiles fit better: 26,362 pJ against 45,472 pJ for energy.
        var cases = new (Einsum Layer, Architecture Arch)[]
        {
            (Layers.Gemm("g7", m: 7, n: 7, k: 7), TwoLevel(32)),
            (Layers.Gemm("g", m: 7, n: 5, k: 3), TwoLevel(24)),
            (Layers.Conv1d("c2", c: 2, k: 3, p: 7, r: 3), TwoLevel(32)),
        };
        int better = 0;
        foreach (var (layer, arch) in cases)
            foreach (var objective in new[] { Objective.Energy, Objective.Latency })
            {
                var problem = new Optimizer.Solvers.MapProblem(layer, arch, objective);
                var perfect = new Optimizer.Solvers.TilingSearch(problem, prune: true).Solve(Optimizer.Solvers.SearchLimits.None);
                var imperfect = new Optimizer.Solvers.ImperfectEnumeration(problem).Solve(Optimizer.Solvers.SearchLimits.None);
                Assert.AreEqual(Optimizer.Solvers.SolveStatus.Optimal, perfect.Status);
                Assert.AreEqual(Optimizer.Solvers.SolveStatus.Optimal, imperfect.Status);
                Assert.IsTrue(imperfect.Best <= perfect.Best * (1 + 1e-12), $"{layer.Name} {objective}: {imperfect.Best} > {perfect.Best}");
                Assert.AreEqual(0, ValidityChecker.Check(layer, arch, imperfect.Mapping!, Factorization.Imperfect).Count);
                Assert.AreEqual(imperfect.Best!.Value, CostModel.Evaluate(layer, arch, imperfect.Mapping!, Factorization.Imperfect).Objective(objective));
                Console.WriteLine($"{layer.Name} {objective}: imperfect {imperfect.Best} ({imperfect.Explored} mappings, {imperfect.Elapsed.TotalSeconds:F1} s), perfect {perfect.Best}");
                if (imperfect.Best < perfect.Best * (1 - 1e-9)) better++;
            }
        Assert.IsTrue(better >= 1, "no case where imperfect factors beat the perfect optimum");
    }
}

/// <summary>The enumeration's limits: a time limit holds, and a mapspace too large to list is said so.</summary>
[TestClass]
public sealed class ImperfectEnumerationLimitTests
{
    [TestMethod]
    public void ALargeLayerStopsAtTheTimeLimitWithAnHonestBound()
    {
        var layer = Zoo.DistinctShapes(Zoo.Get("resnet50"))[0].Layer;
        var p = new Optimizer.Solvers.MapProblem(layer, Presets.Get("eyeriss"), Objective.Energy);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = new Optimizer.Solvers.ImperfectEnumeration(p).Solve(new Optimizer.Solvers.SearchLimits(TimeSpan.FromSeconds(1)));
        Assert.IsTrue(sw.Elapsed.TotalSeconds < 3, $"{sw.Elapsed.TotalSeconds} s");
        Assert.AreNotEqual(Optimizer.Solvers.SolveStatus.Optimal, r.Status);
        Assert.AreEqual(layer.Macs * p.Arch.Compute.MacEnergy, r.Bound);
    }
}
