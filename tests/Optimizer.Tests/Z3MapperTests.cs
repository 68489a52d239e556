using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>The Z3 encoding of the mapspace and its exact energy, against brute-force enumeration.</summary>
[TestClass]
public sealed class Z3MapperTests
{
    /// <summary>
    /// Small random layers and architectures, like <c>SearchTests</c>' cases but smaller (Z3 proves each
    /// optimum by exhausting the encoded mapspace): GEMMs and 1-D convolutions with bounds up to 4, two
    /// or three levels, fanouts up to 3 along X and 2 along Y, multicast, reduction, bus and mesh hops.
    /// </summary>
    private static IEnumerable<(Einsum, Architecture)> TinyCases(int seed, int count)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            Einsum layer = (i % 2) switch
            {
                0 => Layers.Conv1d($"c{i}", c: 1 + rng.Next(2), k: 1 + rng.Next(2), p: 2 + rng.Next(2), r: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
                _ => Layers.Gemm($"g{i}", m: 2 + rng.Next(3), n: 1 + rng.Next(2), k: 1 + rng.Next(2)),
            };
            int fx = 1 + rng.Next(3), fy = rng.Next(3) == 0 ? 2 : 1;
            var levels = new List<StorageLevel>
            {
                new("DRAM", null, 16, 100, 100,
                    fanout: i % 4 == 0 ? new Fanout(2, 1, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: 3, topology: Topology.Mesh) : null),
                new("Buffer", 6 + rng.Next(40), 16, 5, 6, fanout: new Fanout(fx, fy, multicast: rng.Next(2) == 0, spatialReduction: rng.Next(2) == 0, hopEnergy: rng.Next(3),
                    topology: rng.Next(2) == 0 ? Topology.Bus : Topology.Mesh)),
            };
            if (i % 3 == 2)
                levels.Add(new StorageLevel("Reg", 3 + rng.Next(8), 16, 1, 1, keeps: rng.Next(2) == 0 ? null : [TensorRole.Weights, TensorRole.Outputs]));
            yield return (layer, new Architecture($"a{i}", "random tiny", levels, new ComputeUnit(0.5)));
        }
    }

    [TestMethod]
    public void OptimumEqualsBruteForceOnSmallRandomCases()
    {
        var sw = Stopwatch.StartNew();
        // Three-level cases stay under 25 MACs: Z3 exhausts their mapspace within seconds.
        var cases = TinyCases(2025, 80).Where(c => c.Item2.Levels.Count == 2 || c.Item1.Macs <= 24).Take(50).ToList();
        Assert.AreEqual(50, cases.Count);
        var outcome = new string?[cases.Count];
        var infeasible = new bool[cases.Count];
        // Two cases at a time, one Z3 context each.
        Parallel.For(0, cases.Count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            var (layer, arch) = cases[i];
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new TilingSearch(p, prune: false).Solve(new SearchLimits(Threads: 1));
            var z3 = Z3Mapper.Solve(p, new SearchLimits(TimeSpan.FromSeconds(60)));
            string what = $"{layer} on {arch.Name}";
            if (brute.Status != z3.Status) { outcome[i] = $"{what}: brute {brute.Status}, z3 {z3.Status}"; return; }
            if (brute.Status == SolveStatus.Infeasible) { infeasible[i] = true; return; }
            double b = brute.Best!.Value, z = z3.Best!.Value;
            if (Math.Abs(b - z) > 1e-9 * b) { outcome[i] = $"{what}: brute {b}, z3 {z}"; return; }
            if (ValidityChecker.Check(layer, arch, z3.Mapping!).Count > 0) { outcome[i] = $"{what}: invalid z3 mapping"; return; }
            double re = CostModel.Evaluate(layer, arch, z3.Mapping!).Energy;
            if (Math.Abs(re - z) > 1e-9 * z || z3.Bound != z) outcome[i] = $"{what}: re-costed {re}, reported {z}, bound {z3.Bound}";
        });
        var failures = outcome.Where(o => o is not null).ToList();
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures));
        int compared = cases.Count - infeasible.Count(x => x);
        Console.WriteLine($"{compared} optima equal to brute force, {infeasible.Count(x => x)} infeasible in both, {sw.Elapsed.TotalSeconds:F1} s");
        Assert.IsTrue(compared >= 40, $"only {compared} feasible cases compared");
    }

    [TestMethod]
    public void CertificatesAtTheOptimumAreUnsatAndReCheckWithTheZ3Binary()
    {
        int certified = 0;
        foreach (var (layer, arch) in TinyCases(77, 12))
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
            if (brute.Status != SolveStatus.Optimal) continue;
            double optimum = brute.Best!.Value;
            var (status, smt2) = Z3Mapper.Certify(p, optimum, TimeSpan.FromSeconds(60));
            Assert.AreEqual(Z3Status.Unsat, status, $"nothing is cheaper than the brute-force optimum of {layer} on {arch.Name}");
            StringAssert.Contains(smt2, "(check-sat)");
            Assert.AreEqual("unsat", RunZ3Binary(smt2), "the exported certificate re-checks with the z3 binary");
            var (above, _) = Z3Mapper.Certify(p, optimum * 1.01, TimeSpan.FromSeconds(60));
            Assert.AreEqual(Z3Status.Sat, above, "the optimum itself is cheaper than 1.01 x the optimum");
            certified++;
        }
        Assert.IsTrue(certified >= 5, $"only {certified} cases certified");
    }

    [TestMethod]
    public void OverConstrainedProblemIsInfeasibleWithTheConflictInWords()
    {
        // A 4x4 tile of A cannot fit an 8-word buffer.
        var layer = Layers.Gemm("g", m: 4, n: 2, k: 4);
        var arch = TestMappings.TwoLevel(bufferWords: 8);
        var pins = new MappingConstraints(new Dictionary<int, LevelConstraint>
        {
            [1] = new LevelConstraint
            {
                Temporal = new Dictionary<RankId, int> { [new RankId("M")] = 4, [new RankId("K")] = 4 },
                Keep = new HashSet<TensorId> { new("A") },
            },
        });
        var p = new MapProblem(layer, arch, Objective.Energy, pins);
        var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Infeasible, brute.Status);
        var r = Z3Mapper.Solve(p, SearchLimits.None);
        Assert.AreEqual(SolveStatus.Infeasible, r.Status);
        Assert.IsNull(r.Mapping);
        StringAssert.Contains(r.Explanation, "capacity of Buffer (8 words) conflicts with");
        StringAssert.Contains(r.Explanation, "M pinned to 4 at Buffer");
        StringAssert.Contains(r.Explanation, "K pinned to 4 at Buffer");
        StringAssert.Contains(r.Explanation, "Buffer must keep A");
        Assert.IsFalse(r.Explanation!.Contains("N pinned"), "only constraints that take part in the conflict are named");

        // Without the keep pin the buffer may let A pass, and a mapping exists.
        var relaxed = new MappingConstraints(new Dictionary<int, LevelConstraint>
        {
            [1] = new LevelConstraint { Temporal = new Dictionary<RankId, int> { [new RankId("M")] = 4, [new RankId("K")] = 4 } },
        });
        var ok = Z3Mapper.Solve(new MapProblem(layer, arch, Objective.Energy, relaxed), SearchLimits.None);
        var okBrute = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, relaxed), prune: false).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, ok.Status);
        Assert.AreEqual(okBrute.Best!.Value, ok.Best!.Value, 1e-9 * okBrute.Best.Value);
        Assert.IsFalse(ok.Mapping!.Levels[1].Keep.Contains(new TensorId("A")));
    }

    [TestMethod]
    public void ConstrainedOptimumEqualsBruteForce()
    {
        var layer = Layers.Conv1d("c", c: 2, k: 4, p: 4, r: 3);
        var arch = new Architecture("pe4", "test", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("Buffer", 64, 16, 5, 6, fanout: new Fanout(4, 1, multicast: true, spatialReduction: false, hopEnergy: 1)),
            new StorageLevel("Reg", 12, 16, 1, 1),
        ], new ComputeUnit(0.5));
        var k = new RankId("K");
        var pins = new MappingConstraints(new Dictionary<int, LevelConstraint>
        {
            [0] = new LevelConstraint { Order = [new RankId("P"), k, new RankId("C")] },
            [1] = new LevelConstraint { SpatialX = new HashSet<RankId> { k }, Bypass = new HashSet<TensorId> { new("Weights") } },
            [2] = new LevelConstraint { Temporal = new Dictionary<RankId, int> { [new RankId("R")] = 3 } },
        });
        var p = new MapProblem(layer, arch, Objective.Energy, pins);
        var brute = new TilingSearch(p, prune: false).Solve(SearchLimits.None);
        var z3 = Z3Mapper.Solve(p, SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, brute.Status);
        Assert.AreEqual(SolveStatus.Optimal, z3.Status);
        Assert.AreEqual(brute.Best!.Value, z3.Best!.Value, 1e-9 * brute.Best.Value);
        var m = z3.Mapping!;
        Assert.IsTrue(m.Levels[1].Spatial.All(s => s.Rank == k));
        Assert.IsFalse(m.Levels[1].Keep.Contains(new TensorId("Weights")));
        Assert.AreEqual(3, m.Levels[2].TemporalFactor(new RankId("R")));
    }

    [TestMethod]
    public void OtherObjectivesAndOversizedProblemsAreRejected()
    {
        var layer = Layers.Gemm("g", m: 2, n: 2, k: 2);
        var arch = TestMappings.TwoLevel();
        Assert.ThrowsExactly<NotSupportedException>(() => Z3Mapper.Solve(new MapProblem(layer, arch, Objective.Latency), SearchLimits.None));
        Assert.ThrowsExactly<NotSupportedException>(() => Z3Mapper.Certify(new MapProblem(layer, arch, Objective.Edp), 1, null));
        var big = Layers.Gemm("big", m: 128, n: 2, k: 2);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Z3Mapper.Solve(new MapProblem(big, arch, Objective.Energy), SearchLimits.None));
        StringAssert.Contains(e.Message, "bounds up to 64");
    }

    [TestMethod]
    public void TimeLimitGivesFeasibleWithAValidBoundOrOptimal()
    {
        var layer = Layers.Conv1d("c", c: 4, k: 8, p: 8, r: 3);
        var arch = TestMappings.ThreeLevel16();
        var p = new MapProblem(layer, arch, Objective.Energy);
        var r = Z3Mapper.Solve(p, new SearchLimits(TimeSpan.FromSeconds(3)));
        Assert.IsTrue(r.Status is SolveStatus.Feasible or SolveStatus.Optimal or SolveStatus.Unknown, r.Status.ToString());
        if (r.Best is { } best)
        {
            Assert.IsTrue(r.Bound <= best);
            Assert.IsTrue(r.Bound >= layer.Macs * arch.Compute.MacEnergy * (1 - 1e-12));
            Assert.AreEqual(best, CostModel.Evaluate(layer, arch, r.Mapping!).Energy, 1e-9 * best);
        }
    }

    private static string RunZ3Binary(string smt2)
    {
        const string z3 = "/usr/bin/z3";
        Assert.IsTrue(File.Exists(z3), "The z3 binary is not installed: install the Debian package z3 (scripts/test does).");
        var file = Path.Combine(Path.GetTempPath(), $"z3cert-{Guid.NewGuid():N}.smt2");
        File.WriteAllText(file, smt2);
        try
        {
            using var proc = Process.Start(new ProcessStartInfo(z3, ["-smt2", file]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string output = proc.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            return output.Trim();
        }
        finally
        {
            File.Delete(file);
        }
    }
}
