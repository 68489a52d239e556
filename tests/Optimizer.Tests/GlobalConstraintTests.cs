using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Solvers.CpSat;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using static Optimizer.Tests.CommandLine;

namespace Optimizer.Tests;

/// <summary>
/// The global constraint kinds (tile multiples, utilization, bandwidth within compute, fanout use, count bounds): each
/// binds on small cases (the free optimum breaks it), and the constrained answer of the branch and bound and of CP-SAT
/// equals brute force over the constrained mapspace; the reader's errors are located.
/// </summary>
[TestClass]
public sealed class GlobalConstraintTests
{
    private static readonly SearchLimits CpLimits = new(TimeSpan.FromSeconds(60), Threads: 2);

    /// <summary>
    /// Over random small cases: the free optimum, a constraint <paramref name="make"/> derives from it that it breaks (null:
    /// none on this case), then the constrained problem solved by brute force, the branch and bound (seeded and not) and, on
    /// the first <paramref name="cpsatCases"/>, CP-SAT. Returns how many binding cases had a constrained optimum.
    /// </summary>
    private static int Binds(Func<Einsum, Architecture, Mapping, CostReport, GlobalConstraint?> make, Objective objective, int cases, int cpsatCases,
        Func<Architecture, Architecture>? adapt = null)
    {
        int feasible = 0, cp = 0;
        foreach (var (layer, original) in SearchTests.SmallCases(77, cases))
        {
            var arch = adapt?.Invoke(original) ?? original;
            var free = new TilingSearch(new MapProblem(layer, arch, objective), prune: true).Solve(SearchLimits.None);
            if (free.Status != SolveStatus.Optimal) continue;
            var g = make(layer, arch, free.Mapping!, free.Report!);
            if (g is null) continue;
            var what = $"{g.Describe(arch)}, {Objectives.Name(objective)} of {layer} on {arch.Name}";
            Assert.IsFalse(ConstraintCheck.Holds(g, arch, free.Mapping!, () => free.Report!), $"the free optimum breaks {what}");
            var p = new MapProblem(layer, arch, objective, MappingConstraints.None with { Global = [g] });
            var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
            var answers = new List<SolveResult>
            {
                new TilingSearch(p, prune: true, seed: false).Solve(SearchLimits.None),
                new TilingSearch(p, prune: true).Solve(SearchLimits.None),
            };
            if (cp++ < cpsatCases) answers.Add(CpSatMapper.Solve(p, CpLimits));
            foreach (var r in answers)
            {
                Assert.AreEqual(brute.Status, r.Status, $"{r.Solver}: {what}: {r.Explanation}");
                if (brute.Status == SolveStatus.Infeasible) continue;
                Assert.AreEqual(SolveStatus.Optimal, r.Status, what);
                Assert.AreEqual(brute.Best!.Value, r.Best!.Value, 1e-9 * brute.Best.Value, $"{r.Solver}: {what}");
                var report = CostModel.Evaluate(layer, arch, r.Mapping!);
                Assert.IsTrue(ConstraintCheck.Holds(g, arch, r.Mapping!, () => report), $"{r.Solver}'s answer satisfies {what}");
            }
            // Random sampling draws only mappings that satisfy it, never one cheaper than the constrained optimum.
            var sampled = new RandomSampler(p, patience: 100).Solve(new SearchLimits(TimeSpan.FromSeconds(5)));
            if (sampled.Mapping is { } drawn)
            {
                Assert.IsTrue(ConstraintCheck.Holds(g, arch, drawn, () => sampled.Report!), $"random: {what}");
                Assert.IsTrue(sampled.Best!.Value >= brute.Best!.Value * (1 - 1e-9), $"random: {what}");
            }
            if (brute.Status == SolveStatus.Infeasible)
            {
                StringAssert.Contains(brute.Explanation, g.Describe(arch), "the infeasible answer names the constraint");
                continue;
            }
            Assert.IsTrue(brute.Best!.Value >= free.Best!.Value * (1 - 1e-9), "a constraint never makes the optimum cheaper");
            feasible++;
        }
        return feasible;
    }

    /// <summary>The least divisor of a rank's bound that the free optimum's tile extent at a level is not a multiple of.</summary>
    private static GlobalConstraint? TileThatBinds(Einsum layer, Mapping m, int level)
    {
        foreach (var rank in layer.Ranks)
        {
            long e = m.TileExtent(level, rank.Id);
            for (int d = 2; d <= rank.Bound; d++)
                if (rank.Bound % d == 0 && e % d != 0) return new TileMultiple(level, rank.Id, d);
        }
        return null;
    }

    [TestMethod]
    public void TileMultipleBindsAndEqualsBruteForce()
    {
        // Energy searches inner-first, latency outer-first: the tile multiples prune each as soon as a level's tile is known.
        Assert.IsTrue(Binds((layer, arch, m, r) => TileThatBinds(layer, m, 1), Objective.Energy, 12, 4) >= 3);
        Assert.IsTrue(Binds((layer, arch, m, r) => TileThatBinds(layer, m, 2), Objective.Latency, 12, 2) >= 2);
    }

    [TestMethod]
    public void MinUtilizationBindsAndEqualsBruteForce()
        => Assert.IsTrue(Binds((layer, arch, m, r) => r.ComputeInstancesUsed < arch.ComputeInstances
            ? new MinUtilization((r.ComputeInstancesUsed + 1) / (double)arch.ComputeInstances) : null, Objective.Energy, 12, 4) >= 3);

    [TestMethod]
    public void BandwidthWithinComputeBindsAndEqualsBruteForce()
        => Assert.IsTrue(Binds((layer, arch, m, r) => r.Levels.FirstOrDefault(l => l.BandwidthCycles > r.ComputeCycles) is { } bound
            ? new BandwidthWithinCompute(bound.LevelIndex) : null, Objective.Energy, 12, 4, SlowDram) >= 3);

    /// <summary>The architecture with DRAM reading and writing one word a cycle, so that more free optima are bandwidth-bound.</summary>
    private static Architecture SlowDram(Architecture a)
    {
        var d = a.Levels[0];
        return new Architecture(a.Name + "-slow", a.Description, [
            new StorageLevel(d.Name, d.Capacity, d.WordBits, d.ReadEnergy, d.WriteEnergy, 1, 1, d.Keeps, d.Fanout), .. a.Levels.Skip(1)], a.Compute);
    }

    [TestMethod]
    public void MinFanoutUsedBindsAndEqualsBruteForce()
        => Assert.IsTrue(Binds((layer, arch, m, r) =>
        {
            var fan = arch.Levels[1].Fanout;
            if (fan.X > 1 && m.SpatialAlong(1, Axis.X) < fan.X) return new MinFanoutUsed(1, FanoutPart.X, 1.0);
            if (m.Levels[1].SpatialProduct < fan.Size) return new MinFanoutUsed(1, FanoutPart.Total, (m.Levels[1].SpatialProduct + 1) / (double)fan.Size);
            return null;
        }, Objective.Energy, 12, 4) >= 3);

    [TestMethod]
    public void MaxCountBindsAndEqualsBruteForce()
    {
        // Totals: the buffer's reads of the first tensor it reads, over every instance used.
        Assert.IsTrue(Binds((layer, arch, m, r) => r.Tensors.FirstOrDefault(t => t.LevelIndex == 1 && t.TotalReads > 0) is { } row
            ? new MaxCount(1, row.Tensor, CountKind.Reads, Total: true, row.TotalReads - 1) : null, Objective.Energy, 20, 3) >= 2);
        // Per instance, every tensor together: the buffer's fills, for latency.
        Assert.IsTrue(Binds((layer, arch, m, r) => new MaxCount(1, null, CountKind.Fills, Total: false, 0).Of(r) is var fills && fills > 0
            ? new MaxCount(1, null, CountKind.Fills, Total: false, fills - 1) : null, Objective.Latency, 20, 3) >= 2);
    }

    /// <summary>
    /// The branch and bound lists one spatial plan per class of plans that differ only in their axes (costs never tell
    /// them apart); a fanout use along one axis does, so then every plan is listed. M=2 over a 2x2 fanout: the class of
    /// "M split 2 ways" is represented by M along Y, and only M along X uses every child along X.
    /// </summary>
    [TestMethod]
    public void PerAxisFanoutUseSeesEveryAxisAssignment()
    {
        var layer = Layers.Gemm("g", m: 2, n: 1, k: 1);
        var arch = new Architecture("axes", "test", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("Buffer", 64, 16, 5, 5, fanout: new Fanout(2, 2)),
            new StorageLevel("Reg", 16, 16, 1, 1),
        ], new ComputeUnit(1));
        foreach (var part in new[] { FanoutPart.X, FanoutPart.Y })
            foreach (var objective in new[] { Objective.Energy, Objective.Latency })
            {
                var g = new MinFanoutUsed(1, part, 1.0);
                var p = new MapProblem(layer, arch, objective, MappingConstraints.None with { Global = [g] });
                var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
                Assert.AreEqual(SolveStatus.Optimal, brute.Status);
                foreach (var r in new[] { new TilingSearch(p, prune: true, seed: false).Solve(SearchLimits.None), CpSatMapper.Solve(p, CpLimits) })
                {
                    Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{r.Solver}, {part}, {objective}: {r.Explanation}");
                    Assert.AreEqual(brute.Best!.Value, r.Best!.Value, 1e-9 * brute.Best.Value);
                    Assert.AreEqual(2L, r.Mapping!.SpatialAlong(1, part == FanoutPart.X ? Axis.X : Axis.Y), $"{r.Solver}, {part}");
                }
            }
    }

    [TestMethod]
    public void CpSatCertifiesOverTheConstrainedMapspace()
    {
        // The first small case where a least utilization makes the optimum dearer: CP-SAT certifies the constrained
        // optimum with the constraint, and refutes it without (the free optimum is cheaper).
        foreach (var (layer, arch) in SearchTests.SmallCases(77, 12))
        {
            var free = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true).Solve(SearchLimits.None);
            if (free.Status != SolveStatus.Optimal || free.Report!.ComputeInstancesUsed == arch.ComputeInstances) continue;
            var g = new MinUtilization(1.0);
            var p = new MapProblem(layer, arch, Objective.Energy, MappingConstraints.None with { Global = [g] });
            var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
            if (brute.Status != SolveStatus.Optimal || brute.Best!.Value <= free.Best!.Value * (1 + 1e-6)) continue;
            Assert.AreEqual(CpSatMapper.Verdict.Certified, CpSatMapper.Certify(p, brute.Best.Value, CpLimits).Verdict);
            Assert.AreEqual(CpSatMapper.Verdict.Failed, CpSatMapper.Certify(p with { Constraints = null }, brute.Best.Value, CpLimits).Verdict);
            return;
        }
        Assert.Fail("no case where a least utilization of 1 makes the optimum dearer");
    }

    [TestMethod]
    public void HoldsFollowsTheDefinitions()
    {
        var layer = Layers.Conv1d("c", c: 4, k: 8, p: 8, r: 3);
        var arch = TestMappings.ThreeLevel16();
        var k = new RankId("K");
        // K=2 at DRAM, K=4 across 4 of the 16 PEs along X, and the rest in the registers.
        var m = new Mapping([
            new LevelMapping([new TemporalLoop(k, 2)], [], layer.Tensors.Select(t => t.Id)),
            new LevelMapping([new TemporalLoop(new RankId("P"), 8)], [new SpatialLoop(k, 4, Axis.X)], layer.Tensors.Select(t => t.Id)),
            new LevelMapping([new TemporalLoop(new RankId("C"), 4), new TemporalLoop(new RankId("R"), 3)], [], layer.Tensors.Select(t => t.Id)),
        ]);
        Assert.AreEqual(0, ValidityChecker.Check(layer, arch, m).Count);
        var r = CostModel.Evaluate(layer, arch, m);
        bool Holds(GlobalConstraint g) => ConstraintCheck.Holds(g, arch, m, () => r);
        Assert.AreEqual(4, m.TileExtent(1, k));
        Assert.IsTrue(Holds(new TileMultiple(1, k, 4)));
        Assert.IsFalse(Holds(new TileMultiple(1, k, 8)));
        Assert.IsTrue(Holds(new TileMultiple(0, k, 8)));
        Assert.IsTrue(Holds(new MinUtilization(0.25)));
        Assert.IsFalse(Holds(new MinUtilization(0.26)));
        Assert.IsTrue(Holds(new MinFanoutUsed(1, FanoutPart.X, 0.25)));
        Assert.IsFalse(Holds(new MinFanoutUsed(1, FanoutPart.X, 0.3)));
        Assert.IsTrue(Holds(new MinFanoutUsed(1, FanoutPart.Y, 1)));
        var weights = TestMappings.Row(r, "DRAM", "Weights");
        Assert.IsTrue(Holds(new MaxCount(0, weights.Tensor, CountKind.Reads, false, weights.Reads)));
        Assert.IsFalse(Holds(new MaxCount(0, weights.Tensor, CountKind.Reads, false, weights.Reads - 1)));
        var regWeights = TestMappings.Row(r, "Reg", "Weights");
        Assert.IsTrue(regWeights.InstancesUsed > 1);
        Assert.IsFalse(Holds(new MaxCount(2, regWeights.Tensor, CountKind.Fills, true, regWeights.TotalFills - 1)));
        Assert.IsTrue(Holds(new MaxCount(2, regWeights.Tensor, CountKind.Fills, false, regWeights.Fills)));
        long allFills = r.Tensors.Where(t => t.LevelIndex == 2).Sum(t => t.Fills);
        Assert.AreEqual(allFills, new MaxCount(2, null, CountKind.Fills, false, 0).Of(r));
        // No bandwidth limits on this architecture: every level is within the compute cycles.
        Assert.IsTrue(Holds(new BandwidthWithinCompute(0)));
        var slow = new Architecture("slow", "test", [
            new StorageLevel("DRAM", null, 16, 200, 200, readBandwidth: 0.01),
            arch.Levels[1], arch.Levels[2]], arch.Compute);
        var rs = CostModel.Evaluate(layer, slow, m);
        Assert.IsFalse(ConstraintCheck.Holds(new BandwidthWithinCompute(0), slow, m, () => rs));
        Assert.IsTrue(ConstraintCheck.Holds(new BandwidthWithinCompute(1), slow, m, () => rs));
    }

    [TestMethod]
    public void TheReaderReadsEveryKindWithItsLocation()
    {
        var layer = Layers.Conv1d("c", c: 4, k: 8, p: 8, r: 3);
        var arch = TestMappings.ThreeLevel16();
        var c = ConstraintSpec.Parse("""
            constraints:
              min-utilization: 0.5
              levels:
                - level: GLB
                  tile-multiple: "K=4 P=2"
                  min-fanout-used: {x: 0.75, total: 0.5}
                  bandwidth-within-compute: true
                  max-count:
                    - {count: reads, tensor: Weights, at-most: 100}
                    - {count: fills, scope: total, at-most: 5000}
                    - {count: updates, tensor: outputs, at-most: 7}
            """, "c.yaml", layer, arch);
        Assert.AreEqual(9, c.Global.Count);
        Assert.AreEqual(new MinUtilization(0.5) { Where = "c.yaml:2:20" }, c.Global[0]);
        Assert.AreEqual(new TileMultiple(1, new RankId("K"), 4) { Where = "c.yaml:5:22" }, c.Global[1]);
        Assert.AreEqual(new TileMultiple(1, new RankId("P"), 2) { Where = "c.yaml:5:22" }, c.Global[2]);
        Assert.AreEqual(new MinFanoutUsed(1, FanoutPart.X, 0.75) { Where = "c.yaml:6:28" }, c.Global[3]);
        Assert.AreEqual(new MinFanoutUsed(1, FanoutPart.Total, 0.5) { Where = "c.yaml:6:41" }, c.Global[4]);
        Assert.AreEqual(new BandwidthWithinCompute(1) { Where = "c.yaml:7:33" }, c.Global[5]);
        Assert.AreEqual(new MaxCount(1, new TensorId("Weights"), CountKind.Reads, false, 100) { Where = "c.yaml:9:11" }, c.Global[6]);
        Assert.AreEqual(new MaxCount(1, null, CountKind.Fills, true, 5000) { Where = "c.yaml:10:11" }, c.Global[7]);
        Assert.AreEqual(new MaxCount(1, new TensorId("Outputs"), CountKind.Updates, false, 7) { Where = "c.yaml:11:11" }, c.Global[8]);
        Assert.IsTrue(c.OrderDependent);
        Assert.AreEqual(0, c.LevelsOnly.Global.Count);
    }

    [TestMethod]
    public void BadGlobalConstraintsGiveLocatedErrors()
    {
        var layer = Layers.Conv1d("c", c: 4, k: 8, p: 8, r: 3);
        var arch = TestMappings.ThreeLevel16();
        var e = Assert.ThrowsExactly<SpecException>(() => ConstraintSpec.Parse("""
            constraints:
              min-utilization: 1.5
              levels:
                - level: GLB
                  tile-multiple: "Q=4 K=0"
                  min-fanout-used: {z: 0.5, x: 0}
                  bandwidth-within-compute: maybe
                  max-count:
                    - {count: writes, tensor: Weight, scope: all}
                    - {count: reads, at-most: -1}
            """, "bad.yaml", layer, arch));
        string all = string.Join("\n", e.Errors.Select(x => x.ToString()));
        foreach (var expected in new[]
        {
            "bad.yaml:2:20: min-utilization: must be a fraction above 0 and at most 1, got 1.5",
            "bad.yaml:5:23", "unknown rank 'Q'",
            "bad.yaml:5:27", "a loop factor must be a positive integer, got '0'",
            "bad.yaml:6:25", "unknown key 'z'",
            "bad.yaml:6:36", "must be a number above 0",
            "bad.yaml:7:33", "must be true or false",
            "bad.yaml:9:19", "unknown count 'writes'; a count is reads, fills or updates",
            "bad.yaml:9:35", "unknown tensor or role 'Weight'",
            "bad.yaml:9:50", "unknown scope 'all'",
            "bad.yaml:9:11", "at-most",
            "bad.yaml:10:35", "must be a non-negative integer",
        })
            StringAssert.Contains(all, expected);
    }

    [TestMethod]
    public void TheExampleIsHonoured()
    {
        var workload = WorkloadSpec.Load(Example("conv1d-workload.yaml"));
        var layer = workload.Layers[0];
        var arch = Presets.Get("simple-ws");
        var c = ConstraintSpec.Load(Example("simple-ws-global-constraints.yaml"), layer, arch);
        Assert.AreEqual(4, c.Global.Count);
        var r = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, c), prune: true).Solve(new SearchLimits(TimeSpan.FromSeconds(120)));
        Assert.AreEqual(SolveStatus.Optimal, r.Status, r.Explanation);
        Assert.IsTrue(ConstraintCheck.AllowsAll(c, arch, r.Mapping!, () => r.Report!));
    }

    [TestMethod]
    public void TheCliHonoursRefusesAndExplains()
    {
        var dir = Path.Combine(Path.GetTempPath(), "optimizer-global-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            string Write(string name, string text)
            {
                var path = Path.Combine(dir, name);
                File.WriteAllText(path, text);
                return path;
            }
            var w = Write("w.yaml", "workload:\n  name: w\n  layers:\n    - name: conv\n      conv1d: {k: 4, c: 2, p: 8, r: 3}\n");
            var c = Write("c.yaml", "constraints:\n  min-utilization: 0.25\n  levels:\n    - level: GlobalBuffer\n      tile-multiple: \"P=4\"\n");
            var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", c);
            Assert.AreEqual(0, code, err);
            StringAssert.Contains(output, "OPTIMAL");
            (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", c, "--solver", "descent");
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "--solver exact, brute and cpsat honour them");
            StringAssert.Contains(err, "not with --solver descent");
            (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", c, "--certify", "z3");
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "not with --certify z3");
            // P=8 has no tile extent that is a multiple of 3: INFEASIBLE before any search, naming the constraint and its place.
            var none = Write("n.yaml", "constraints:\n  levels:\n    - level: GlobalBuffer\n      tile-multiple: \"P=3\"\n");
            (code, output, _) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", none);
            Assert.AreEqual(3, code);
            StringAssert.Contains(output, "INFEASIBLE: GlobalBuffer: the tile extent of P is a multiple of 3 (");
            StringAssert.Contains(output, "n.yaml:4:22");
            // Every PE of simple-ws's 4x4 array used, with K whole in the registers' tile (so K is not split over the
            // array): C=2, P=8 and R=3 fill 16 PEs only as C=2 and P=8 split over the array, so the registers' tile of C
            // (or of P) is 1. Both {utilization, K, C} and {utilization, K, P} conflict, and no two of them do.
            var clash = Write("x.yaml", "constraints:\n  min-utilization: 1\n  levels:\n    - level: Registers\n      tile-multiple: \"K=4 C=2 P=2\"\n");
            foreach (var solver in new[] { "exact", "cpsat" })
            {
                (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", clash, "--solver", solver, "--time-limit", "60");
                Assert.AreEqual(3, code, $"{solver}: {output}{err}");
                StringAssert.Contains(output, "INFEASIBLE");
                StringAssert.Contains(output, "min-utilization 1: at least 16 of the 16 compute units used (");
                StringAssert.Contains(output, "x.yaml:2:20");
                StringAssert.Contains(output, "Registers: the tile extent of K is a multiple of 4 (");
                Assert.AreNotEqual(output.Contains("tile extent of C"), output.Contains("tile extent of P"), $"{solver} names one of the two conflicts: {output}");
                StringAssert.Contains(output, "x.yaml:5:22");
            }
            var bad = Write("b.yaml", "constraints:\n  levels:\n    - level: GlobalBuffer\n      max-count: [{count: reads, tensor: Nope, at-most: 3}]\n");
            (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", bad);
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "b.yaml:4:");
            StringAssert.Contains(err, "unknown tensor or role 'Nope'");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
