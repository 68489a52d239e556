using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Tests;

/// <summary>Shape traces (docs/shapes.md): reading them, one mapping run on smaller shapes, map --shapes against brute force, buckets, regret, the command line.</summary>
[TestClass]
public sealed class ShapeTests
{
    /// <summary>DRAM over a 12-word buffer with 2 x 1 compute units: small enough to enumerate, with a spatial split.</summary>
    private static Architecture Tiny() => new("tiny", "test", [
        new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 2, writeBandwidth: 2),
        new StorageLevel("Buffer", 12, 16, 4, 5, fanout: new Fanout(2, 1, multicast: true, spatialReduction: true, hopEnergy: 1)),
    ], new ComputeUnit(1));

    private static readonly Einsum Gemm = Layers.Gemm("g", m: 7, n: 2, k: 2);

    private static ShapeTrace TraceOf(Einsum layer, string rank, params (int Size, double Weight)[] rows)
    {
        int r = layer.Ranks.ToList().FindIndex(x => x.Id.Name == rank);
        return ShapeTrace.FromRows(layer, [r], rows.Select(x =>
        {
            var sizes = layer.Ranks.Select(q => q.Bound).ToArray();
            sizes[r] = x.Size;
            return (sizes, x.Weight);
        }));
    }

    private static ShapeTrace Parse(string text, Einsum? layer = null) => ShapeTrace.Parse(new StringReader(text), "t.csv", layer ?? Gemm);

    [TestMethod]
    public void IdenticalRowsMergeWithTheirWeightsAdded()
    {
        var t = Parse("M,weight\n4,1\n7,2.5\n4,3\n\n7,0\n2,0\n");
        Assert.AreEqual(5, t.Rows);
        Assert.AreEqual(2, t.Shapes.Count, "the zero-weight shape M=2 is left out");
        Assert.AreEqual(4.0, t.Shapes[0].Weight);
        Assert.AreEqual(2, t.Shapes[0].Rows);
        CollectionAssert.AreEqual(new[] { 4, 2, 2 }, t.Shapes[0].Sizes.ToArray(), "ranks not listed keep the layer's bound");
        Assert.AreEqual(2.5, t.Shapes[1].Weight);
        CollectionAssert.AreEqual(new[] { 7, 2, 2 }, t.Largest());
        var unweighted = Parse("K,M\n3,5\n2,5\n3,5\n");
        Assert.AreEqual(2, unweighted.Shapes.Count);
        Assert.AreEqual(2.0, unweighted.Shapes[0].Weight);
    }

    [TestMethod]
    [DataRow("", "t.csv:1:1: the shape trace is empty")]
    [DataRow("M,weight\n", "t.csv:2:1: the shape trace has a header but no rows")]
    [DataRow("M,Q\n4,1\n", "t.csv:1:3: Q: unknown rank 'Q'")]
    [DataRow("M,M\n4,1\n", "t.csv:1:3: M: rank M appears twice")]
    [DataRow("weight\n1\n", "t.csv:1:1: the header names no rank")]
    [DataRow("M\n4\n0\n", "t.csv:3:1: M: '0' is not a size of rank M")]
    [DataRow("N,M\n4,2.5\n", "t.csv:2:3: M: '2.5' is not a size of rank M")]
    [DataRow("N,M\n4,-3\n", "t.csv:2:3: M: '-3' is not a size")]
    [DataRow("M,weight\n4,abc\n", "t.csv:2:3: weight: 'abc' is not a weight")]
    [DataRow("M,weight\n4,-1\n", "t.csv:2:3: weight: '-1' is not a weight")]
    [DataRow("M,weight\n4,NaN\n", "t.csv:2:3: weight: 'NaN' is not a weight")]
    [DataRow("M,weight\n4,Infinity\n", "t.csv:2:3: weight: 'Infinity' is not a weight")]
    [DataRow("M,weight\n4,0\n", "t.csv:2:1: weight: every row has weight 0")]
    [DataRow("M,N\n4\n", "t.csv:2:1: this row has 1 field(s), the header 2")]
    public void BadTracesAreLocated(string text, string expected)
    {
        var e = Assert.ThrowsExactly<SpecException>(() => Parse(text));
        StringAssert.Contains(e.Errors[0].ToString(), expected, e.Message);
    }

    [TestMethod]
    public void EveryMistakeOfATraceIsReported()
    {
        var e = Assert.ThrowsExactly<SpecException>(() => Parse("M,weight\n0,1\n3,x\n"));
        Assert.AreEqual(2, e.Errors.Count, e.Message);
    }

    [TestMethod]
    public void AClampedMappingRunsEachShapeAsTheModelAndTheSimulatorCountIt()
    {
        var trace = TraceOf(Gemm, "M", (1, 1), (2, 1), (3, 1), (5, 1), (7, 1));
        var search = new ShapeSearch(trace, Tiny(), Objective.Energy);
        int compared = 0, cut = 0;
        foreach (var m in search.Candidates().Where((_, i) => i % 5 == 0).Take(150))
            for (int s = 0; s < trace.Shapes.Count; s++)
            {
                var layer = search.Layers[s];
                var c = ShapeFit.Clamp(m, layer);
                if (!ReferenceEquals(c, m)) cut++;
                var model = CostModel.Evaluate(layer, Tiny(), c, Factorization.Imperfect);
                var sim = Simulator.Run(layer, Tiny(), c, new SimOptions { Factorization = Factorization.Imperfect });
                Assert.AreEqual(0, ModelCheck.Compare(model, sim).Count);
                Assert.AreEqual(layer.Macs, model.Macs);
                compared++;
            }
        Assert.IsTrue(compared >= 500 && cut >= 100, $"{compared} compared, {cut} clamped");
    }

    [TestMethod]
    public void ClampCutsOnlyIterationsThatNeverRun()
    {
        // M = 8 as DRAM 2 x Buffer 4; on M = 3 the DRAM loop's second iteration would start at 4 >= 3, the Buffer loop's fourth at 3.
        var all = new[] { new TensorId("A"), new TensorId("B"), new TensorId("Z") };
        var m = new Mapping([
            new LevelMapping([new TemporalLoop(new RankId("M"), 2)], [], all),
            new LevelMapping([new TemporalLoop(new RankId("M"), 4), new TemporalLoop(new RankId("N"), 2), new TemporalLoop(new RankId("K"), 2)], [], [new TensorId("B")]),
        ]);
        var three = ShapeTrace.WithBounds(Gemm, [3, 2, 2]);
        var c = ShapeFit.Clamp(m, three);
        Assert.AreEqual(0, c.Levels[0].Temporal.Count);
        Assert.AreEqual(3, c.Levels[1].Temporal[0].Factor, "the inner loop runs 3 of its 4 iterations");
        Assert.AreSame(m, ShapeFit.Clamp(m, ShapeTrace.WithBounds(Gemm, [7, 2, 2])));
        Assert.AreEqual(0, ValidityChecker.Check(three, Tiny(), c, Factorization.Imperfect).Count);
    }

    private static double BruteForce(ShapeSearch search, ShapeTrace trace, ShapeStatistic statistic, out int candidates)
    {
        double best = double.PositiveInfinity;
        var w = trace.Shapes.Select(s => s.Weight).ToArray();
        candidates = 0;
        foreach (var m in search.Candidates())
        {
            candidates++;
            var costs = Enumerable.Range(0, trace.Shapes.Count).Select(s => search.CostOn(m, s)).ToArray();
            best = Math.Min(best, ShapeStatistics.Of(statistic, costs, w));
        }
        return best;
    }

    [TestMethod]
    [DataRow(ShapeStatistic.Mean, Objective.Energy)]
    [DataRow(ShapeStatistic.Max, Objective.Energy)]
    [DataRow(ShapeStatistic.P99, Objective.Energy)]
    [DataRow(ShapeStatistic.Mean, Objective.Latency)]
    [DataRow(ShapeStatistic.P50, Objective.Edp)]
    public void OneMappingEqualsBruteForce(ShapeStatistic statistic, Objective objective)
    {
        var trace = TraceOf(Gemm, "M", (2, 5), (3, 1), (5, 2), (7, 0.5), (4, 3));
        var search = new ShapeSearch(trace, Tiny(), objective);
        double brute = BruteForce(search, trace, statistic, out int candidates);
        var r = search.Enumerate(statistic, SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, r.Status);
        Assert.AreEqual(brute, r.Best!.Value, brute * 1e-12);
        Assert.AreEqual(candidates, r.Candidates);
        // The answer's own per-shape costs give its value.
        Assert.AreEqual(r.Best.Value, ShapeStatistics.Of(statistic, r.Costs!.ToArray(), trace.Shapes.Select(s => s.Weight).ToArray()), brute * 1e-12);
        var plain = search.Enumerate(statistic, SearchLimits.None, prune: false);
        Assert.AreEqual(plain.Best!.Value, r.Best.Value, brute * 1e-12);
        Assert.IsTrue(r.Evaluations < plain.Evaluations, $"pruning saved nothing ({r.Evaluations} vs {plain.Evaluations})");
    }

    [TestMethod]
    public void WeightedQuantilesAndMeanOnAHandExample()
    {
        double[] c = [10, 40, 20, 30], w = [1, 1, 6, 2];
        Assert.AreEqual((10 + 40 + 120 + 60) / 10.0, ShapeStatistics.Of(ShapeStatistic.Mean, c, w), 1e-12);
        Assert.AreEqual(20, ShapeStatistics.Of(ShapeStatistic.P50, c, w), "10 carries 1/10, 10 and 20 carry 7/10 >= 1/2");
        Assert.AreEqual(40, ShapeStatistics.Of(ShapeStatistic.P99, c, w));
        Assert.AreEqual(40, ShapeStatistics.Of(ShapeStatistic.Max, c, w));
    }

    [TestMethod]
    [DataRow(ShapeStatistic.Mean)]
    [DataRow(ShapeStatistic.Max)]
    public void TwoBucketsEqualBruteForceOverPartitions(ShapeStatistic statistic)
    {
        var trace = TraceOf(Gemm, "M", (7, 1), (2, 3), (5, 2), (1, 1), (3, 1));
        var search = new ShapeSearch(trace, Tiny(), Objective.Energy);
        var order = search.BucketOrder();
        CollectionAssert.AreEqual(new[] { 3, 1, 4, 2, 0 }, order.ToArray(), "sizes ascending");
        var w = order.Select(s => trace.Shapes[s].Weight).ToArray();
        var costs = search.Candidates().Select(m => order.Select(s => search.CostOn(m, s)).ToArray()).ToList();
        double Part(double[] c, int from, int to) => statistic == ShapeStatistic.Mean
            ? Enumerable.Range(from, to - from).Sum(i => w[i] * c[i]) : Enumerable.Range(from, to - from).Max(i => c[i]);
        double brute = double.PositiveInfinity;
        int n = order.Count;
        // Every partition of the sorted shapes into one or two ranges, every mapping on each range.
        for (int split = 1; split <= n; split++)
            foreach (var a in costs)
                foreach (var b in split == n ? [a] : costs)
                {
                    double left = Part(a, 0, split), right = split == n ? (statistic == ShapeStatistic.Mean ? 0 : 0) : Part(b, split, n);
                    double v = statistic == ShapeStatistic.Mean ? (left + right) / w.Sum() : Math.Max(left, right);
                    brute = Math.Min(brute, v);
                }
        var r = search.SolveBuckets(2, statistic, SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, r.Status);
        Assert.AreEqual(brute, r.Best!.Value, brute * 1e-9);
        Assert.IsTrue(r.Buckets!.Count is 1 or 2);
        Assert.AreEqual(0, r.Buckets[0].First);
        Assert.AreEqual(n - 1, r.Buckets[^1].Last);
        var one = search.Enumerate(statistic, SearchLimits.None);
        Assert.IsTrue(r.Best.Value <= one.Best!.Value * (1 + 1e-12), "two buckets never do worse than one mapping");
        var single = search.SolveBuckets(1, statistic, SearchLimits.None);
        Assert.AreEqual(one.Best.Value, single.Best!.Value, one.Best.Value * 1e-9, "one bucket is the one-mapping answer");
    }

    [TestMethod]
    public void WithTwoVaryingRanksBucketsAreRangesOfTheShapesByMacs()
    {
        var t = Parse("M,N,weight\n7,1,1\n2,2,1\n3,1,2\n1,2,1\n");
        var search = new ShapeSearch(t, Tiny(), Objective.Energy);
        // MACs (K = 2): 14, 8, 6, 4.
        CollectionAssert.AreEqual(new[] { 3, 2, 1, 0 }, search.BucketOrder().ToArray());
        var r = search.SolveBuckets(2, ShapeStatistic.Mean, SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, r.Status);
        Assert.IsTrue(r.Best!.Value <= search.Enumerate(ShapeStatistic.Mean, SearchLimits.None).Best!.Value * (1 + 1e-12));
    }

    [TestMethod]
    public void RegretIsNeverNegativeAndZeroWhereTheShapesOwnOptimumIsChosen()
    {
        var trace = TraceOf(Gemm, "M", (2, 1), (5, 1), (7, 1));
        var search = new ShapeSearch(trace, Tiny(), Objective.Energy);
        var r = search.Enumerate(ShapeStatistic.Mean, SearchLimits.None);
        var own = search.OwnOptima(SearchLimits.None);
        for (int s = 0; s < trace.Shapes.Count; s++)
        {
            Assert.AreEqual(SolveStatus.Optimal, own[s].Status);
            Assert.IsTrue(r.Costs![s] >= own[s].Best!.Value * (1 - 1e-12), $"shape {s}: {r.Costs[s]} below its own optimum {own[s].Best}");
        }
        // A trace of one shape: the answer is that shape's own optimum, regret 0.
        var alone = TraceOf(Gemm, "M", (5, 4));
        var one = new ShapeSearch(alone, Tiny(), Objective.Energy);
        Assert.AreEqual(one.OwnOptima(SearchLimits.None)[0].Best!.Value, one.Enumerate(ShapeStatistic.Mean, SearchLimits.None).Costs![0], 1e-9);
    }

    /// <summary>Three levels with a 4-wide fanout: too large to enumerate in a second with a 60 x 36 x 30 GEMM.</summary>
    internal static Architecture Deep() => new("deep", "test", [
        new StorageLevel("DRAM", null, 16, 100, 100),
        new StorageLevel("Buffer", 512, 16, 4, 5, fanout: new Fanout(4, 1, multicast: true, spatialReduction: true, hopEnergy: 1)),
        new StorageLevel("Reg", 16, 16, 1, 1),
    ], new ComputeUnit(1));

    [TestMethod]
    public void ATimeLimitGivesFeasibleWithABound()
    {
        var layer = Layers.Gemm("big", m: 60, n: 36, k: 30);
        var arch = Deep();
        var trace = TraceOf(layer, "M", (17, 1), (60, 1), (33, 1));
        var r = new ShapeSearch(trace, arch, Objective.Energy).Enumerate(ShapeStatistic.Mean, new SearchLimits(TimeSpan.FromSeconds(1)));
        Assert.AreNotEqual(SolveStatus.Optimal, r.Status);
        if (r.Best is { } b) Assert.IsTrue(r.Bound <= b && r.Bound > 0);
    }

    private static (string Dir, string Arch, string Workload) Files()
    {
        var dir = Directory.CreateTempSubdirectory("shapes").FullName;
        var workload = Path.Combine(dir, "g.yaml");
        File.WriteAllText(workload, "workload:\n  name: g\n  layers:\n    - name: g\n      gemm: {m: 11, n: 2, k: 2}\n");
        var arch = Path.Combine(dir, "a.yaml");
        File.WriteAllText(arch, "architecture:\n  name: a32\n  compute: {mac-energy: 1.0, macs-per-cycle: 1}\n  levels:\n" +
            "    - {name: DRAM, read-energy: 100.0, write-energy: 100.0}\n    - {name: Buffer, read-energy: 1.0, write-energy: 1.0, capacity: 12}\n");
        return (dir, arch, workload);
    }

    [TestMethod]
    public void MapAndSimulateShapesOnTheCommandLine()
    {
        var (dir, arch, workload) = Files();
        var trace = Path.Combine(dir, "trace.csv");
        File.WriteAllText(trace, "M\n" + string.Join("\n", Enumerable.Range(0, 40).Select(i => 1 + i * 7 % 11)) + "\n");
        var csv = Path.Combine(dir, "shapes.csv");
        var mapping = Path.Combine(dir, "m.yaml");
        var (code, text, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--shapes", trace, "--quiet", "--csv", csv, "--mapping-out", mapping);
        Assert.AreEqual(0, code, text + err);
        StringAssert.Contains(text, "40 runs, 11 distinct shapes (M 1..11)");
        StringAssert.Contains(text, "OPTIMAL mean energy=");
        StringAssert.Contains(text, "every own optimum proved");
        var lines = File.ReadAllLines(csv);
        Assert.AreEqual(12, lines.Length);
        StringAssert.StartsWith(lines[0], "Shape,Weight,Rows,Bucket,Objective,Cost,OwnOptimum,OwnStatus,Regret,RegretPercent,Mapping");
        (code, text, err) = CommandLine.Run("simulate", "--arch", arch, "--workload", workload, "--shapes", trace, "--mapping", mapping, "--quiet");
        Assert.AreEqual(0, code, text + err);
        StringAssert.Contains(text, "total (weighted)");
        Assert.IsFalse(text.Contains("DIFFER"), text);

        (code, text, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--shapes", trace, "--quiet", "--buckets", "3", "--statistic", "max");
        Assert.AreEqual(0, code, text + err);
        StringAssert.Contains(text, "Bucket 1: M=1 ..");
        StringAssert.Contains(text, "OPTIMAL max energy=");
    }

    [TestMethod]
    public void BadShapeInputIsExitTwoWithALocation()
    {
        var (dir, arch, workload) = Files();
        var trace = Path.Combine(dir, "bad.csv");
        File.WriteAllText(trace, "M,weight\n4,1\n5,x\n");
        var (code, text, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--shapes", trace, "--quiet");
        Assert.AreEqual(2, code, text + err);
        StringAssert.Contains(err, $"{trace}:3:3: weight: 'x' is not a weight");
        Assert.IsFalse(err.Contains("   at "), err);
        (code, _, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--shapes", Path.Combine(dir, "none.csv"), "--quiet");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "does not exist");
        var good = Path.Combine(dir, "good.csv");
        File.WriteAllText(good, "M\n4\n");
        (code, _, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--shapes", good, "--buckets", "2", "--statistic", "p99", "--quiet");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "does not decompose over buckets");
        (code, _, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--statistic", "max", "--quiet");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "apply only with --shapes");
        (code, _, err) = CommandLine.Run("map", "--arch", arch, "--workload", workload, "--shapes", good, "--solver", "descent", "--quiet");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--shapes is searched by enumeration");
    }
}
