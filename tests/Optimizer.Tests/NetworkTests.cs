using System.Globalization;
using CsvHelper;
using Optimizer.Cli;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using static Optimizer.Tests.CommandLine;

namespace Optimizer.Tests;

/// <summary>Whole-network mapping on multi-node designs (docs/network.md): the plan's legality, its cost, the dynamic programme against brute force, and the CLI.</summary>
[TestClass]
[DoNotParallelize]
public sealed class NetworkTests
{
    private static readonly Objective[] Objectives = [Objective.Energy, Objective.Latency, Objective.Edp];

    /// <summary>A chain of GEMMs T{i+1}[M, n_i] = T{i}[M, n_{i-1}] * W{i}, batch M.</summary>
    private static Workload GemmChain(int batch, params int[] widths)
        => new("chain", "small GEMM chain", Enumerable.Range(0, widths.Length - 1)
            .Select(i => Layers.Gemm($"g{i}", batch, widths[i + 1], widths[i], a: $"T{i}", b: $"W{i}", z: $"T{i + 1}")));

    /// <summary>Four convolutions, the second and the fourth reading the first's output (a branch, as ResNet's projections).</summary>
    private static Workload SmallConvs() => new("convs", "small conv graph",
    [
        Layers.Conv2d("c0", 2, 4, 8, 8, 8, 3, 3, inputs: "image", weights: "w0", outputs: "a0"),
        Layers.Conv2d("c1", 2, 8, 8, 8, 8, 1, 1, inputs: "a0", weights: "w1", outputs: "a1"),
        Layers.Conv2d("c2", 2, 8, 16, 4, 4, 3, 3, stride: 2, inputs: "a1", weights: "w2", outputs: "a2"),
        Layers.Conv2d("c3", 2, 8, 16, 4, 4, 1, 1, stride: 2, inputs: "a0", weights: "w3", outputs: "a3"),
    ]);

    private static IEnumerable<(Workload W, Architecture A)> Cases()
    {
        yield return (GemmChain(8, 64, 96, 48, 32, 10), Presets.Get("multinode-4x4"));
        yield return (SmallConvs(), Presets.Get("multinode-4x4"));
        yield return (Zoo.Get("mlp-l:batch=16"), Presets.Get("multinode"));
    }

    private static void AssertClose(double expected, double actual, string what)
        => Assert.IsTrue(Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected}, got {actual}");

    [TestMethod]
    public void EveryLayerMappingIsValidOnItsRegionAndRecostsToTheReportedValue()
    {
        int layers = 0;
        foreach (var (w, arch) in Cases())
            foreach (var objective in Objectives)
            {
                var r = new NetworkMapper(new NetworkProblem(w, arch, objective)).Solve(SearchLimits.None);
                Assert.AreEqual(SolveStatus.Feasible, r.Status, "a heuristic never claims optimality");
                Assert.IsEmpty(NetworkModel.Check(w, arch, r.Plan), $"{w.Name} {objective}");
                foreach (var seg in r.Cost.Segments)
                    foreach (var l in seg.Layers)
                    {
                        var planned = r.Plan.Layers[l.Index];
                        var region = seg.Segment.RegionOf(l.Index);
                        // The region's architecture: the same levels with the mesh fanout reduced to the region.
                        Assert.AreEqual(region.Cols, planned.Arch.Levels[0].Fanout.X);
                        Assert.AreEqual(region.Rows, planned.Arch.Levels[0].Fanout.Y);
                        Assert.AreEqual(arch.Levels[1].Capacity, planned.Arch.Levels[1].Capacity);
                        Assert.AreEqual(region.Nodes * arch.InstancesOf(2) / arch.InstancesOf(1), planned.Arch.InstancesOf(2));
                        Assert.IsEmpty(ValidityChecker.Check(planned.Layer, planned.Arch, planned.Mapping), $"{w.Name} {planned.Layer.Name}");
                        var again = CostModel.Evaluate(planned.Layer, planned.Arch, planned.Mapping);
                        Assert.AreEqual(again.Energy, l.Report.Energy, $"{planned.Layer.Name} re-costs to its report");
                        Assert.AreEqual(again.Cycles, l.Report.Cycles);
                        Assert.AreEqual(w.Layers[l.Index].Macs, again.Macs * l.Passes, "the passes together do the layer's work");
                        layers++;
                    }
                // The whole plan re-costs, from its mappings alone, to what the mapper reported.
                var recost = NetworkModel.Evaluate(w, arch, r.Plan);
                AssertClose(r.Cost.Energy, recost.Energy, $"{w.Name} {objective} energy");
                Assert.AreEqual(r.Cost.Cycles, recost.Cycles, $"{w.Name} {objective} cycles");
                AssertClose(r.Cost.Energy, r.Cost.Layers.Sum(l => l.Energy), "the layers add up to the total");
            }
        Assert.IsGreaterThan(30, layers);
    }

    [TestMethod]
    public void RegionsOfASegmentAreDisjointAndInsideTheArray()
    {
        int pipelined = 0;
        foreach (var (w, arch) in Cases().Append((Zoo.Get("resnet50"), Presets.Get("multinode"))))
        {
            var whole = NodeArray.Whole(arch);
            var mapper = new NetworkMapper(new NetworkProblem(w, arch, Objective.Edp));
            // Every candidate segment the search may choose, not only the chosen ones.
            for (int end = 1; end <= w.Layers.Count; end++)
                foreach (var seg in mapper.CandidatesEndingAt(end))
                {
                    Assert.AreEqual(end - 1, seg.Last);
                    Assert.HasCount(seg.Count, seg.Regions);
                    // One after another: each layer has the whole array to itself in turn.
                    if (seg.Layout == SegmentLayout.Sequential) { Assert.IsTrue(seg.Regions.All(g => g == whole)); continue; }
                    pipelined++;
                    Assert.AreEqual(whole.Nodes, seg.Regions.Sum(g => g.Nodes), "the strips cover the array");
                    for (int a = 0; a < seg.Count; a++)
                    {
                        Assert.IsTrue(seg.Regions[a].IsInside(whole));
                        for (int b = a + 1; b < seg.Count; b++) Assert.IsFalse(seg.Regions[a].Overlaps(seg.Regions[b]), $"{seg.Regions[a]} and {seg.Regions[b]}");
                    }
                }
        }
        Assert.IsGreaterThan(100, pipelined);
        // Strips: one row each, then the 13 spare rows in proportion 1:6:1 = 1.625, 9.75, 1.625: floors
        // 1, 9, 1 and the two left to the largest remainders (0.75, then the first 0.625).
        var strips = NodeArray.Strips(new NodeRegion(0, 0, 16, 16), [1, 6, 1])!;
        Assert.AreEqual("rows 0-2 x cols 0-15|rows 3-13 x cols 0-15|rows 14-15 x cols 0-15", string.Join("|", strips));
        Assert.IsNull(NodeArray.Strips(new NodeRegion(0, 0, 2, 4), [1, 1, 1]), "three strips do not fit in two rows");
        // The checker catches overlapping, outside and wrongly sized regions.
        var w2 = GemmChain(8, 16, 16, 16);
        var arch4 = Presets.Get("multinode-4x4");
        var good = new NetworkMapper(new NetworkProblem(w2, arch4, Objective.Energy, new NetworkOptions(Chains: 1))).Solve(SearchLimits.None);
        NetworkPlan WithRegions(NodeRegion a, NodeRegion b)
        {
            var seg = new NetworkSegment(0, 1, SegmentLayout.Pipelined, 1, [a, b]);
            var layers = new[] { a, b }.Select((g, i) =>
            {
                var regionArch = NodeArray.ForRegion(arch4, new NodeRegion(0, 0, g.Rows, g.Cols));
                var e = w2.Layers[i];
                var m = new Descent(new MapProblem(e, regionArch, Objective.Energy)).Solve(SearchLimits.None).Mapping!;
                return new NetworkLayer(e, regionArch, m);
            });
            return new NetworkPlan([seg], layers.ToList());
        }
        Assert.IsEmpty(NetworkModel.Check(w2, arch4, WithRegions(new NodeRegion(0, 0, 2, 4), new NodeRegion(2, 0, 2, 4))));
        StringAssert.Contains(string.Join("\n", NetworkModel.Check(w2, arch4, WithRegions(new NodeRegion(0, 0, 3, 4), new NodeRegion(2, 0, 2, 4)))), "overlap");
        StringAssert.Contains(string.Join("\n", NetworkModel.Check(w2, arch4, WithRegions(new NodeRegion(0, 0, 2, 4), new NodeRegion(3, 0, 2, 4)))), "not inside");
        var wrongArch = WithRegions(new NodeRegion(0, 0, 2, 4), new NodeRegion(2, 0, 2, 4));
        var swapped = new NetworkPlan(wrongArch.Segments, [wrongArch.Layers[0], wrongArch.Layers[1] with { Arch = arch4 }]);
        StringAssert.Contains(string.Join("\n", NetworkModel.Check(w2, arch4, swapped)), "which is not");
        Assert.IsEmpty(NetworkModel.Check(w2, arch4, good.Plan));
    }

    [TestMethod]
    public void ThePlanIsNeverWorseThanEveryLayerAloneOnAllNodes()
    {
        foreach (var (w, arch) in Cases())
            foreach (var objective in Objectives)
            {
                var r = new NetworkMapper(new NetworkProblem(w, arch, objective)).Solve(SearchLimits.None);
                var whole = NodeArray.Whole(arch);
                // The baseline is what it says: every layer alone, on the whole array, one pass.
                Assert.HasCount(w.Layers.Count, r.Baseline.Segments);
                Assert.IsTrue(r.Baseline.Segments.All(s => s.Count == 1 && s.Layout == SegmentLayout.Sequential && s.Passes == 1 && s.Regions[0] == whole));
                Assert.IsTrue(r.BaselineCost.Layers.All(l => l.OnChipInputs.Count == 0 && l.OnChipOutputs.Count == 0), "alone, nothing stays on chip");
                var baseline = NetworkModel.Evaluate(w, arch, r.Baseline);
                AssertClose(r.BaselineCost.Objective(objective), baseline.Objective(objective), "baseline re-costs");
                // Alone on all nodes a layer costs exactly what the cost model says of its mapping.
                foreach (var l in baseline.Layers)
                {
                    AssertClose(l.Report.Energy, l.Energy, l.Layer.Name);
                    Assert.AreEqual(l.Report.Cycles, l.Cycles);
                }
                Assert.IsTrue(r.Cost.Objective(objective) <= baseline.Objective(objective) * (1 + 1e-12),
                    $"{w.Name} {objective}: plan {r.Cost.Objective(objective)} vs baseline {baseline.Objective(objective)}");
            }
    }

    [TestMethod]
    public void TheDynamicProgrammeEqualsBruteForceOnSmallNetworks()
    {
        var arch = Presets.Get("multinode-4x4");
        var networks = new[] { GemmChain(8, 64, 96, 48, 32, 10), SmallConvs(), GemmChain(4, 32, 32, 32, 32) };
        int compared = 0, beatBaseline = 0;
        foreach (var w in networks)
            foreach (var objective in Objectives)
            {
                var small = new NetworkOptions(MaxSegment: 4, Chains: 1, MaxPasses: 4, FullEstimates: true);
                var brute = new NetworkMapper(new NetworkProblem(w, arch, objective, small)).BruteForce(SearchLimits.None);
                Assert.IsGreaterThan(8, brute.ChainsSolved, "brute force looked at every segmentation and layout");
                // Energy and latency add over segments, so keeping the best chain per prefix is exact;
                // EDP does not, so the programme keeps enough chains to hold every one.
                var exact = small with { Chains = objective == Objective.Edp ? brute.ChainsSolved : 1 };
                var dp = new NetworkMapper(new NetworkProblem(w, arch, objective, exact)).Solve(SearchLimits.None);
                AssertClose(brute.Cost.Objective(objective), dp.Cost.Objective(objective), $"{w.Name} {objective}: DP over full costs vs brute force");
                // With estimates, keeping every chain and solving each in full is brute force again.
                var estimated = new NetworkMapper(new NetworkProblem(w, arch, objective, small with { FullEstimates = false, Chains = brute.ChainsSolved })).Solve(SearchLimits.None);
                AssertClose(brute.Cost.Objective(objective), estimated.Cost.Objective(objective), $"{w.Name} {objective}: every estimated chain solved");
                compared++;
                if (brute.Cost.Objective(objective) < brute.BaselineCost.Objective(objective) * (1 - 1e-9)) beatBaseline++;
            }
        Assert.AreEqual(9, compared);
        Assert.IsGreaterThan(3, beatBaseline, "the optimum is often not the baseline, so the comparison has teeth");
    }

    // A lexicographic objective: the terms compared in order. Brute force and the programme (every chain kept) agree
    // on every term, and the command line prints every term.
    [TestMethod]
    public void LexicographicObjectivesEqualBruteForceOnSmallNetworks()
    {
        var arch = Presets.Get("multinode-4x4");
        Objective[][] lists = [[Objective.Latency, Objective.Energy], [Objective.Energy, Objective.Latency]];
        foreach (var w in new[] { GemmChain(8, 64, 96, 48, 32, 10), SmallConvs() })
            foreach (var terms in lists)
            {
                var small = new NetworkOptions(MaxSegment: 4, Chains: 1, MaxPasses: 4, FullEstimates: true);
                var brute = new NetworkMapper(new NetworkProblem(w, arch, terms[0], small) { Terms = terms }).BruteForce(SearchLimits.None);
                var dp = new NetworkMapper(new NetworkProblem(w, arch, terms[0], small with { Chains = brute.ChainsSolved }) { Terms = terms }).Solve(SearchLimits.None);
                foreach (var t in terms) AssertClose(brute.Cost.Objective(t), dp.Cost.Objective(t), $"{w.Name} {string.Join(",", terms)}: term {t}");
                // The heuristic's layer mappings are chosen under the list too, so the plans differ from the single term's;
                // among the plans brute force solved, none is lexicographically below its answer.
                Assert.IsGreaterThan(8, brute.ChainsSolved);
            }
        var (code, output, err) = Run(["map", "--arch", "multinode-4x4", "--workload", "mlp-l:batch=16", "--network", "--objective", "latency,energy"]);
        Assert.AreEqual(0, code, err);
        StringAssert.Contains(output, "minimizing latency,energy (in that order)");
        Assert.AreEqual(1, output.Split('\n').Count(l => l.StartsWith("FEASIBLE latency=") && l.Contains(", energy=")));
    }

    [TestMethod]
    public void IntermediatesStayOnChipOnlyWhenTheyFitAndCostWhatTheModelSays()
    {
        var w = GemmChain(8, 64, 96, 48);
        var arch = Presets.Get("multinode-4x4");
        var whole = NodeArray.Whole(arch);
        var reports = w.Layers.Select(l =>
        {
            var m = new Descent(new MapProblem(l, arch, Objective.Energy)).Solve(SearchLimits.None).Mapping!;
            return (l, CostModel.Evaluate(l, arch, m));
        }).ToList();
        var seq = NetworkModel.Segment(w, arch, new NetworkSegment(0, 1, SegmentLayout.Sequential, 1, [whole, whole]), reports);
        var t1 = new TensorId("T1");
        Assert.IsTrue(seq.Layers[0].OnChipOutputs.SequenceEqual([t1]));
        Assert.IsTrue(seq.Layers[1].OnChipInputs.SequenceEqual([t1]));
        // By hand: DRAM's accesses of T1 and their mesh words are replaced by global-buffer accesses and
        // the mean node-to-node distance of the array.
        var glb = arch.Levels[1];
        double hop = arch.Levels[0].Fanout.HopEnergy, meanHops = NodeRegion.MeanHops(whole, whole);
        Assert.AreEqual(2.5, meanHops, 1e-12, "4 x 4: 1.25 rows + 1.25 columns on average");
        for (int j = 0; j < 2; j++)
        {
            var r = reports[j].Item2;
            var dram = r.Tensors.Single(t => t.LevelIndex == 0 && t.Tensor == t1);
            double mesh = r.Network.Where(x => x.LevelIndex == 0 && x.Tensor == t1).Sum(x => x.Energy);
            double instead = dram.Reads * glb.ReadEnergy + (dram.Fills + dram.Updates) * glb.WriteEnergy + (dram.Reads + dram.Updates) * meanHops * hop;
            AssertClose(r.Energy - dram.Energy - mesh + instead, seq.Layers[j].Energy, $"layer {j}");
            Assert.AreEqual(r.Tensors.Where(t => t.LevelIndex == 0 && t.Tensor != t1).Sum(t => t.Reads), seq.Layers[j].DramReads);
        }
        Assert.AreEqual(seq.Layers.Sum(l => l.Cycles), seq.Cycles, "sequential: latencies add");

        // Pipelined over two strips: the producer's words travel between the strips.
        var strips = NodeArray.Strips(whole, [1, 1])!;
        var onStrips = w.Layers.Select((l, i) =>
        {
            var a = NodeArray.ForRegion(arch, strips[i]);
            return (l, CostModel.Evaluate(l, a, new Descent(new MapProblem(l, a, Objective.Energy)).Solve(SearchLimits.None).Mapping!));
        }).ToList();
        var pipe = NetworkModel.Segment(w, arch, new NetworkSegment(0, 1, SegmentLayout.Pipelined, 2, strips),
            onStrips.Select(x => (NetworkModel.PerPass(x.l, 2), x.Item2)).ToList());
        // Two passes: the first through both stages, then one slowest (steady) stage; or DRAM shared by the stages.
        long fillPlusSlowest = pipe.Layers.Sum(l => l.FirstPassCycles) + pipe.Layers.Max(l => l.CyclesPerPass);
        long sharedDram = Math.Max((long)Math.Ceiling(pipe.Layers.Sum(l => l.DramReads) / 25.0), (long)Math.Ceiling(pipe.Layers.Sum(l => l.DramWrites) / 25.0));
        Assert.AreEqual(Math.Max(fillPlusSlowest, sharedDram), pipe.Cycles);
        AssertClose(pipe.Layers.Sum(l => l.FirstPassEnergy + l.EnergyPerPass), pipe.Energy, "the first pass and one more");
        // The weights fit beside the intermediate, so after the first pass they come from the buffers.
        for (int j = 0; j < 2; j++)
        {
            var l = pipe.Layers[j];
            Assert.IsTrue(l.Resident.SequenceEqual([new TensorId($"W{j}")]), string.Join(",", l.Resident));
            var dramW = l.Report.Tensors.Single(t => t.LevelIndex == 0 && t.Tensor == new TensorId($"W{j}"));
            Assert.IsGreaterThan(0L, dramW.Reads);
            long dramT1 = l.Report.Tensors.Single(t => t.LevelIndex == 0 && t.Tensor == t1).Reads;
            Assert.AreEqual(2 * (l.Report.Tensors.Where(t => t.LevelIndex == 0).Sum(t => t.Reads) - dramT1) - dramW.Reads, l.DramReads,
                "the intermediate never from DRAM, the weights only in the first pass");
            Assert.IsLessThan(l.FirstPassEnergy, l.EnergyPerPass);
        }
        Assert.AreEqual(2 + 1.25, NodeRegion.MeanHops(new NodeRegion(0, 0, 2, 4), new NodeRegion(2, 0, 2, 4)), 1e-12, "rows: 2 on average; columns: 1.25");

        // Stages that do not depend on each other run at the same time: c1 and c3 both read only c0's
        // output, c2 reads c1's; one pass takes the longest chain c0 -> c1 -> c2.
        var convs = SmallConvs();
        var quarters = NodeArray.Strips(whole, [1, 1, 1, 1])!;
        var convReports = convs.Layers.Select((l, i) =>
        {
            var a = NodeArray.ForRegion(arch, quarters[i]);
            return (l, CostModel.Evaluate(l, a, new Descent(new MapProblem(l, a, Objective.Latency)).Solve(SearchLimits.None).Mapping!));
        }).ToList();
        var branches = NetworkModel.Segment(convs, arch, new NetworkSegment(0, 3, SegmentLayout.Pipelined, 1, quarters), convReports);
        var c = branches.Layers.Select(l => l.FirstPassCycles).ToArray();
        long dramBound = (long)Math.Max(Math.Ceiling(branches.Layers.Sum(l => l.DramReads) / 25.0), Math.Ceiling(branches.Layers.Sum(l => l.DramWrites) / 25.0));
        Assert.AreEqual(Math.Max(Math.Max(c[0] + c[1] + c[2], c[0] + c[3]), dramBound), branches.Cycles);

        // A buffer too small for the intermediate beside the working set: it goes through DRAM.
        var tiny = new Architecture("tiny-nodes", "2 x 2 nodes with 64-word buffers", [
            new StorageLevel("DRAM", null, 16, 400, 400, 25, 25, fanout: new Fanout(2, 2, hopEnergy: 10, topology: Topology.Mesh)),
            new StorageLevel("GlobalBuffer", 64, 16, 3, 3, fanout: new Fanout(2, 2, hopEnergy: 1)),
            new StorageLevel("RegFile", 8, 16, 0.1, 0.1),
        ], new ComputeUnit(1));
        var tinyWhole = NodeArray.Whole(tiny);
        var tinyReports = w.Layers.Select(l => (l, CostModel.Evaluate(l, tiny, new Descent(new MapProblem(l, tiny, Objective.Energy)).Solve(SearchLimits.None).Mapping!))).ToList();
        var spilled = NetworkModel.Segment(w, tiny, new NetworkSegment(0, 1, SegmentLayout.Sequential, 1, [tinyWhole, tinyWhole]), tinyReports);
        Assert.IsTrue(spilled.Layers.All(l => l.OnChipInputs.Count == 0 && l.OnChipOutputs.Count == 0), "8 x 96 words do not fit 4 x 64");
        AssertClose(tinyReports.Sum(x => x.Item2.Energy), spilled.Energy, "nothing on chip: the reports' energies");
    }

    [TestMethod]
    public void PerPassLayersSplitTheBatch()
    {
        var w = Zoo.Get("mlp-l");
        Assert.HasCount(4, w.Layers);
        Assert.AreEqual(64L * (784 * 1500 + 1500 * 1000 + 1000 * 500 + 500 * 10), w.Macs);
        Assert.IsTrue(new[] { 1, 2, 4, 8 }.SequenceEqual(NetworkModel.PassOptions(w, 0, 3, 8)));
        var half = NetworkModel.PerPass(w.Layers[1], 4);
        Assert.AreEqual(16, half.Bound(new RankId("M")));
        Assert.AreEqual(w.Layers[1].Macs / 4, half.Macs);
        Assert.ThrowsExactly<ArgumentException>(() => NetworkModel.PerPass(w.Layers[1], 3));
        // ResNet-50 at batch 1 has nothing to split.
        Assert.IsTrue(new[] { 1 }.SequenceEqual(NetworkModel.PassOptions(Zoo.Get("resnet50"), 1, 3, 8)));
        // The plain mlp entry is unchanged.
        Assert.AreEqual(784L * 512 + 512 * 256 + 256 * 10, Zoo.Get("mlp").Macs);
    }

    [TestMethod]
    public void CliPrintsThePlanAndWritesOneCsvRowPerLayer()
    {
        var dir = Path.Combine(Path.GetTempPath(), "optimizer-network-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            var csv = Path.Combine(dir, "plan.csv");
            string[] args = ["map", "--arch", "multinode-4x4", "--workload", "mlp-l:batch=16", "--network", "--objective", "edp", "--csv", csv];
            var (code, output, err) = Run(args);
            Assert.AreEqual(0, code, err);
            StringAssert.Contains(output, "Segments (run one after another):");
            StringAssert.Contains(output, "x cols 0-3");
            StringAssert.Contains(output, "Baseline / plan:");
            StringAssert.Contains(err, "network: ");
            Assert.IsFalse(output.Contains("OPTIMAL"), "a heuristic never claims optimality");
            var status = output.Split('\n').Single(l => l.StartsWith("FEASIBLE edp="));

            // The CSV holds the plan the library finds, one row per layer, written whole.
            var expected = new NetworkMapper(new NetworkProblem(Zoo.Get("mlp-l:batch=16"), Presets.Get("multinode-4x4"), Objective.Edp)).Solve(SearchLimits.None);
            List<NetworkMap.Row> rows;
            using (var reader = new StreamReader(csv))
            using (var parser = new CsvReader(reader, CultureInfo.InvariantCulture))
                rows = parser.GetRecords<NetworkMap.Row>().ToList();
            Assert.HasCount(4, rows);
            Assert.IsTrue(rows.Select(r => r.Layer).SequenceEqual(["fc1", "fc2", "fc3", "fc4"]));
            var names = Presets.Get("multinode-4x4").Levels.Select(l => l.Name).ToList();
            foreach (var (row, layer) in rows.Zip(expected.Cost.Layers))
            {
                AssertClose(layer.Energy, row.EnergyPj, row.Layer);
                Assert.AreEqual(layer.Cycles, row.Cycles);
                Assert.AreEqual(layer.Region.ToString(), row.Region);
                Assert.AreEqual(expected.Plan.Layers[layer.Index].Mapping.ToCompactString(names), row.Mapping);
            }
            StringAssert.Contains(status, Text.Num(expected.Cost.Edp));
            Assert.IsFalse(Directory.GetFiles(dir).Any(f => f.EndsWith(".tmp")), "no temporary file left");

            // Deterministic: the same run prints the same plan.
            var again = Run(args);
            static string Stable(string s) => string.Join("\n", s.Split('\n').Where(l => !l.StartsWith("Search:") && !l.StartsWith("Wrote")));
            Assert.AreEqual(Stable(output), Stable(again.Out));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void CliRefusesArchitecturesWithoutANodeMeshAndUnsupportedOptions()
    {
        var (code, output, err) = Run("map", "--arch", "eyeriss", "--workload", "mlp", "--network");
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(err, "--network needs a multi-node architecture");
        StringAssert.Contains(err, "eyeriss's is a 1 x 1 bus");
        (code, _, err) = Run("map", "--arch", "multinode-4x4", "--workload", "mlp", "--network", "--mapping-out", "x.yaml");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--mapping-out is not supported with --network");
        (code, _, err) = Run("map", "--arch", "multinode-4x4", "--workload", "mlp", "--network", "--solver", "exact");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--solver exact is not supported");
        (code, _, err) = Run("map", "--arch", "multinode-4x4", "--workload", "mlp", "--network", "--chains", "0");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--chains must be at least 1");
        (code, _, err) = Run("map", "--arch", "multinode-4x4", "--workload", "mlp", "--layer", "fc1", "--max-segment", "3");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "only with --network");
        Assert.ThrowsExactly<ArgumentException>(() => new NetworkMapper(new NetworkProblem(Zoo.Get("mlp"), Presets.Get("simple-ws"), Objective.Energy)));
    }

    [TestMethod]
    public void TheTimeLimitReturnsTheBestPlanSoFar()
    {
        var w = Zoo.Get("resnet50");
        var arch = Presets.Get("multinode");
        var r = new NetworkMapper(new NetworkProblem(w, arch, Objective.Energy)).Solve(new SearchLimits(TimeSpan.FromMilliseconds(1)));
        Assert.IsTrue(r.Stopped);
        // The baseline always completes, so there is a whole legal plan to return.
        Assert.IsEmpty(NetworkModel.Check(w, arch, r.Plan));
        Assert.HasCount(w.Layers.Count, r.Plan.Layers);
        Assert.IsTrue(r.Cost.Energy <= r.BaselineCost.Energy);
    }
}
