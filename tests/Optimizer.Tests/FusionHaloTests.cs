using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// Convolution chains fused over their rows (docs/fusion.md, "Halos"): a producer whose readers walk its output through
/// sliding windows computes, each shared iteration, the rows they need (its rank split, the halo recomputed). Checked
/// by literal enumeration of the rows, against brute force, by the simulator's streamed run, and by the checker.
/// </summary>
[TestClass]
public sealed class FusionHaloTests
{
    private static Einsum Conv(string name, int p, int r, int stride, string input, string output, int c = 2, int k = 2)
        => Layers.Conv1d(name, c: c, k: k, p: p, r: r, stride: stride, inputs: input, weights: $"{name}_w", outputs: output);

    /// <summary>Two 1-D 3-wide convolutions, stride 1: Y0 has 14 rows, c1 reads them all.</summary>
    internal static Workload Chain2() => new("chain2", "conv -> conv", [Conv("c0", 14, 3, 1, "X", "Y0", c: 1), Conv("c1", 12, 3, 1, "Y0", "Y1")]);

    /// <summary>c1 reads Y0 (13 rows) with stride 2.</summary>
    internal static Workload Chain2Stride2() => new("chain2s2", "conv -> conv/2", [Conv("c0", 13, 3, 1, "X", "Y0", c: 1), Conv("c1", 6, 3, 2, "Y0", "Y1")]);

    /// <summary>Three convolutions: a split of c1 changes the window c1 needs of Y0.</summary>
    internal static Workload Chain3() => new("chain3", "conv -> conv -> conv",
        [Conv("c0", 16, 3, 1, "X", "Y0", c: 1), Conv("c1", 14, 3, 1, "Y0", "Y1"), Conv("c2", 12, 3, 1, "Y1", "Y2")]);

    /// <summary>A branch: c1 and c2 both read Y0 through the same window.</summary>
    internal static Workload Branch() => new("branch", "conv -> conv, conv -> conv",
        [Conv("c0", 14, 3, 1, "X", "Y0", c: 1), Conv("c1", 12, 3, 1, "Y0", "Y1"), Conv("c2", 12, 3, 1, "Y0", "Y2", k: 1)]);

    /// <summary>DRAM (costly), a global buffer and registers; optionally a 2 x 1 fanout below the buffer.</summary>
    internal static Architecture Arch(long buffer, bool fanout = false, int dramBandwidth = 2)
        => new("tiny", "small", [
            new StorageLevel("DRAM", null, 16, 200, 200, readBandwidth: dramBandwidth, writeBandwidth: 1),
            new StorageLevel("Buffer", buffer, 16, 2, 3, fanout: fanout ? new Fanout(2, 1) : null),
            new StorageLevel("Reg", 6, 16, 1, 1),
        ], new ComputeUnit(0.5));

    /// <summary>The values an index expression takes over a box of rank values (literal enumeration).</summary>
    private static SortedSet<long> Values(AffineExpr d, Func<RankId, IEnumerable<int>> values)
    {
        var result = new SortedSet<long> { 0 };
        foreach (var term in d.Terms)
            result = new SortedSet<long>(result.SelectMany(x => values(term.Rank).Select(v => x + (long)term.Coefficient * v)));
        return result;
    }

    // The rows a split producer computes in shared iteration t are the rows its reader's slice indexes in iteration t,
    // found by enumerating the reader's index over its slice: no formula of the model is used.
    [TestMethod]
    public void SplitProducerComputesExactlyTheRowsItsReaderNeeds()
    {
        int checkedSplits = 0;
        foreach (var w in new[] { Chain2(), Chain2Stride2(), Chain3() })
        {
            var last = w.Layers[^1];
            foreach (int f in FusionMapspace.Divisors(last.Bound(new RankId("P"))).Where(f => f > 1))
            {
                var group = new FusedGroup(0, w.Layers.Count - 1, 1, FusionRules.DefaultHeld(w, 0, w.Layers.Count - 1));
                var plans = FusionRules.MemberPlans(w, group, _ => [new TemporalLoop(new RankId("P"), f)]);
                for (int i = 0; i + 1 < w.Layers.Count; i++)
                {
                    var (producer, reader) = (plans[i], plans[i + 1]);
                    Assert.IsNull(producer.Problem, producer.Problem);
                    var t = w.Layers[i].Output.Id;
                    var shared = reader.Shared[0];
                    var dim = reader.Einsum.FindTensor(t)!.Dims.Single(d => d.CoefficientOf(shared.Rank) != 0);
                    for (int it = 0; it < f; it++)
                    {
                        var needed = Values(dim, r => r == shared.Rank
                            ? Enumerable.Range(it * (reader.Einsum.Bound(r) / f), reader.Einsum.Bound(r) / f)
                            : Enumerable.Range(0, reader.Einsum.Bound(r)));
                        var produced = producer.Splits.Count == 0
                            ? new SortedSet<long>(Enumerable.Range(it * (w.Layers[i].Bound(new RankId("P")) / f), w.Layers[i].Bound(new RankId("P")) / f).Select(x => (long)x))
                            : new SortedSet<long>(Enumerable.Range(0, producer.Splits[0].Rows).Select(h => (long)producer.Splits[0].Step * it + h));
                        Assert.IsTrue(needed.IsSubsetOf(produced), $"{w.Name}, factor {f}, {w.Layers[i].Name} iteration {it}: needs rows {string.Join(",", needed)}, computes {string.Join(",", produced)}");
                        Assert.AreEqual(needed.Min, produced.Min, $"{w.Name} {f}: the first row computed is the first needed");
                        Assert.AreEqual(needed.Max, produced.Max, $"{w.Name} {f}: the last row computed is the last needed");
                        Assert.IsLessThan(w.Layers[i].Bound(new RankId("P")), produced.Max, "the rows computed lie within the producer's rank");
                    }
                    if (producer.Splits.Count > 0) checkedSplits++;
                }
            }
        }
        Assert.IsGreaterThan(4, checkedSplits, "too few splits were checked");
    }

    private static IEnumerable<(Workload W, Architecture A, Objective O)> Cases()
    {
        yield return (Chain2(), Arch(24), Objective.Energy);
        yield return (Chain2(), Arch(32, fanout: true), Objective.Energy);
        yield return (Chain2Stride2(), Arch(24), Objective.Energy);
        yield return (Chain3(), Arch(32), Objective.Energy);
        // Both edges split: c1's split (8 rows of Y1 every 6) makes c0 compute 10 rows of Y0 every 6.
        yield return (Chain3(), Arch(40), Objective.Energy);
        yield return (Branch(), Arch(32), Objective.Energy);
        yield return (Chain2(), Arch(24, dramBandwidth: 1), Objective.Edp);
        yield return (Chain2Stride2(), Arch(24, fanout: true), Objective.Edp);
        yield return (Chain3(), Arch(40), Objective.Edp);
        // Latency over the full mapspace (docs/fusion.md, "Latency over the full mapspace"): slow DRAM, so fusion saves cycles.
        yield return (Chain2(), Arch(24, dramBandwidth: 1), Objective.Latency);
        yield return (Chain3(), Arch(40, dramBandwidth: 1), Objective.Latency);
        yield return (Branch(), Arch(32, dramBandwidth: 1), Objective.Latency);
    }

    // Fused = brute force over the full fused mapspace with halos (each class's least-energy member, or for EDP and latency
    // its fused (energy, cycles) Pareto front, by plain enumeration). The brute force plans every producer's
    // split backwards from its readers' shared loops (FusionRules.MemberPlans); the searches offer splits forwards
    // from what readers could need (FusionSearch.Demands): two derivations that must agree.
    [TestMethod]
    public void FusedOptimumEqualsBruteForceOnConvChains()
    {
        int split = 0, chained = 0;
        foreach (var (w, a, o) in Cases())
        {
            var search = new FusionSearch(new FusionProblem(w, a, o, MaxFusedLoops: 1));
            var r = search.Solve(SearchLimits.None);
            var (brute, bruteBest, count) = search.BruteForceFull();
            Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name}, {o}: {r.Explanation}");
            Assert.IsNotNull(brute, $"brute force found nothing over {count} fused mappings");
            Console.WriteLine($"{w.Name}, {o}: {count} fused mappings enumerated, optimum {bruteBest:G6}, unfused {r.UnfusedReport!.Objective(o):G6}; answer {r.Mapping!.ToCompactString(a)}");
            Assert.AreEqual(bruteBest, r.Best!.Value, bruteBest * 1e-9, $"{w.Name}, {o}: fused search {r.Best} vs brute force {bruteBest} over {count} fused mappings");
            Assert.AreEqual(0, FusionChecker.Check(w, a, r.Mapping).Count);
            Assert.AreEqual(r.Best.Value, FusionCost.Evaluate(w, a, r.Mapping).Objective(o), r.Best.Value * 1e-12);
            int splits = FusionRules.MemberEinsums(w, r.Mapping).Where((e, i) => !ReferenceEquals(e, w.Layers[i])).Count();
            if (splits > 0) split++;
            if (splits > 1) chained++;
        }
        Assert.IsGreaterThan(2, split, "too few optima compute a halo, so the halos were hardly tested");
        Assert.IsGreaterThan(0, chained, "no optimum splits two producers in a row, so a split reader's window was not tested");
    }

    /// <summary>The energy optimum of a case, with the layers whose mappings run a split Einsum.</summary>
    private static (FusionResult R, IReadOnlyList<Einsum> Members) Solve(Workload w, Architecture a)
    {
        var r = new FusionSearch(new FusionProblem(w, a, Objective.Energy)).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, r.Status);
        return (r, FusionRules.MemberEinsums(w, r.Mapping!));
    }

    // Recompute pays here: the producer does more MACs than alone (its halo rows twice), yet the chain costs less
    // than unfused, because the intermediate never goes to DRAM; and the report counts those MACs.
    [TestMethod]
    public void RecomputedHaloCostsMoreMacsAndLessEnergy()
    {
        var w = Chain2();
        var (r, members) = Solve(w, Arch(24));
        Assert.IsFalse(ReferenceEquals(members[0], w.Layers[0]), $"the optimum should compute c1's halo: {r.Mapping!.ToCompactString(Arch(24))}");
        Assert.IsGreaterThan(w.Layers[0].Macs, members[0].Macs);
        Assert.AreEqual(members[0].Macs, r.Report!.Layers[0].Report.Macs);
        Assert.IsLessThan(r.UnfusedReport!.Energy, r.Report.Energy);
    }

    // The simulator executes the split producer and the windowed reader: every layer's simulated counts equal the
    // model's, and the streamed run (one shared iteration at a time) moves what the whole run moves, within capacity.
    [TestMethod]
    public void StreamedRunAgreesWithTheModelOnHalos()
    {
        int streamed = 0;
        foreach (var (w, a) in new[] { (Chain2(), Arch(24)), (Chain3(), Arch(40)), (Chain2Stride2(), Arch(24)) })
        {
            var (r, members) = Solve(w, a);
            var fm = r.Mapping!;
            var sims = members.Select((e, i) => Simulator.Run(e, a, fm.Layers[i])).ToList();
            for (int i = 0; i < w.Layers.Count; i++)
                Assert.AreEqual(0, ModelCheck.Compare(r.Report!.Layers[i].Report, sims[i]).Count, $"{w.Name} {w.Layers[i].Name}");
            foreach (var gs in FusedSimulation.Run(w, a, fm))
            {
                var g = fm.Groups.Single(x => x.Count > 1);
                var holds = FusionRules.MemberHolds(w, a, g, fm.SharedOf(g));
                for (int k = 0; k < gs.Steps.Count; k++)
                {
                    var (written, read) = FusedSimulation.Moved(sims[g.First + k], holds[k].Held);
                    Assert.AreEqual(written, gs.Steps[k].IntermediateWrittenWords * gs.Iterations, $"{w.Name} {gs.Steps[k].Layer} written");
                    Assert.AreEqual(read, gs.Steps[k].IntermediateReadWords * gs.Iterations, $"{w.Name} {gs.Steps[k].Layer} read");
                    Assert.IsLessThanOrEqualTo(gs.Steps[k].FusionLevelCapacity, gs.Steps[k].HeldAtFusionLevel);
                }
                // Within one iteration, the tile of each held tensor the simulator finds in its fusion level (the box of the
                // member's own index over its slice) is the same for its producer and every reader: the rows computed are the
                // rows read, found by the simulator from the indices, not from the model's window formula.
                foreach (var t in holds.SelectMany(h => h.Held).Select(h => h.Tensor).Distinct())
                {
                    var tiles = gs.Steps.Where((_, k) => holds[k].Held.Any(h => h.Tensor == t)).Select(st => st.Report.Find(gs.FusionLevel, t)!.TileWords).Distinct().ToList();
                    Assert.HasCount(1, tiles, $"{w.Name}: {t}'s tiles per iteration differ between its members: {string.Join(", ", tiles)}");
                }
                if (gs.Iterations > 1 && members.Where((e, i) => !ReferenceEquals(e, w.Layers[i])).Any()) streamed++;
            }
        }
        Assert.IsGreaterThan(0, streamed, "no streamed group computed a halo");
    }

    // A producer mapped as if it computed only its own rows, under a reader that walks them through a window, is
    // rejected; a halo optimum written as a fused mapping spec reads back the same (its split ranks by name).
    [TestMethod]
    public void CheckerRejectsAProducerWithoutItsHaloAndTheSpecRoundTrips()
    {
        var w = Chain2();
        var a = Arch(24);
        var (r, _) = Solve(w, a);
        var fm = r.Mapping!;
        var text = Optimizer.Formulation.Specs.FusedMappingSpec.Write(w, a, fm);
        StringAssert.Contains(text, "P.t=");
        var back = Optimizer.Formulation.Specs.FusedMappingSpec.Parse(text, "halo.yaml", w, a);
        Assert.AreEqual(fm.ToCompactString(a), back.ToCompactString(a));
        Assert.AreEqual(0, FusionChecker.Check(w, a, back).Count);

        // c0 tiled plainly (P=14 in 2 tiles of 7 rows) while c1 shares P=2 and needs 8 rows of Y0 per tile.
        var plain = new Mapping([
            new LevelMapping([new TemporalLoop(new RankId("P"), 2)], [], w.Layers[0].Tensors.Select(t => t.Id)),
            new LevelMapping([new TemporalLoop(new RankId("K"), 2), new TemporalLoop(new RankId("P"), 7), new TemporalLoop(new RankId("R"), 3)], [], [new TensorId("Y0")]),
            new LevelMapping([], [], []),
        ]);
        var consumer = new Mapping([
            new LevelMapping([new TemporalLoop(new RankId("P"), 2)], [], w.Layers[1].Tensors.Select(t => t.Id)),
            new LevelMapping([new TemporalLoop(new RankId("K"), 2), new TemporalLoop(new RankId("C"), 2), new TemporalLoop(new RankId("P"), 6), new TemporalLoop(new RankId("R"), 3)], [], [new TensorId("Y0")]),
            new LevelMapping([], [], []),
        ]);
        var bad = new FusedMapping([new FusedGroup(0, 1, 1, [new TensorId("Y0")])], [plain, consumer]);
        var v = FusionChecker.Check(w, a, bad);
        Assert.IsTrue(v.Any(x => x.Rule == FusionRule.Layer && x.Message.Contains("computing its readers' halos")), string.Join("\n", v));
    }
}

/// <summary><c>fuse</c>, <c>evaluate</c> and <c>simulate</c> on a chain of three convolutions fused over rows (examples/conv-chain-workload.yaml).</summary>
[TestClass]
[DoNotParallelize]
public sealed class FusionHaloCliTests
{
    [TestMethod]
    public void ConvChainFusesOverRowsCertifiesSimulatesAndABrokenHaloIsListed()
    {
        var dir = Directory.CreateTempSubdirectory("optimizer-fusion-halo-").FullName;
        try
        {
            string arch = CommandLine.Example("two-level-arch.yaml"), workload = CommandLine.Example("conv-chain-workload.yaml"), spec = Path.Combine(dir, "fused.yaml");
            var fuse = CommandLine.Run("fuse", "--arch", arch, "--workload", workload, "--objective", "energy", "--quiet", "--mapping-out", spec, "--certify");
            Assert.AreEqual(0, fuse.Code, fuse.Err);
            StringAssert.Contains(fuse.Out, "OPTIMAL energy=25512");
            StringAssert.Contains(fuse.Out, "CERTIFIED by Z3");
            StringAssert.Contains(fuse.Out, "computes its readers' halos");
            var text = File.ReadAllText(spec);
            StringAssert.Contains(text, "P.h=10");
            var evaluate = CommandLine.Run("evaluate", "--arch", arch, "--workload", workload, "--mapping", spec);
            Assert.AreEqual(0, evaluate.Code, evaluate.Out + evaluate.Err);
            StringAssert.Contains(evaluate.Out, "total: energy 25512 pJ");
            var simulate = CommandLine.Run("simulate", "--arch", arch, "--workload", workload, "--mapping", spec);
            Assert.AreEqual(0, simulate.Code, simulate.Out + simulate.Err);
            StringAssert.Contains(simulate.Out, "AGREE");
            // c0 computing 9 rows per iteration where c1 needs 10: the split Einsum's rank is not completed, exit 1.
            File.WriteAllText(spec, text.Replace("P.h=10", "P.h=9"));
            var bad = CommandLine.Run("evaluate", "--arch", arch, "--workload", workload, "--mapping", spec);
            Assert.AreEqual(1, bad.Code, bad.Out + bad.Err);
            StringAssert.Contains(bad.Out, "computing its readers' halos");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
