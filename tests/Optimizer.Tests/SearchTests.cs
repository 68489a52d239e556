using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>The exact search against brute-force enumeration on small cases, and its answers re-checked.</summary>
[TestClass]
public sealed class SearchTests
{
    /// <summary>The random small cases every exact solver is compared with brute force on (CpSatTests uses them too).</summary>
    internal static IEnumerable<(Einsum, Architecture)> SmallCases(int seed, int count)
    {
        var rng = new Random(seed);
        int[] sizes = [1, 2, 3, 4, 6, 8];
        // Kept small: brute force enumerates every mapping, and these cases run on every CI build.
        for (int i = 0; i < count; i++)
        {
            Einsum layer = (i % 3) switch
            {
                0 => Layers.Conv1d($"c{i}", c: sizes[rng.Next(3)], k: sizes[rng.Next(1, 4)], p: sizes[rng.Next(1, 5)], r: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
                1 => Layers.Gemm($"g{i}", m: sizes[rng.Next(1, 5)], n: sizes[rng.Next(1, 4)], k: sizes[rng.Next(1, 4)]),
                _ => Layers.Conv2d($"v{i}", n: 1, c: sizes[rng.Next(2)], k: sizes[rng.Next(1, 3)], p: sizes[rng.Next(1, 3)], q: 2, r: 1 + rng.Next(2), s: 1),
            };
            yield return (layer, TestMappings.RandomSmall(rng, $"a{i}", 64, mesh: i % 4 == 0));
        }
    }

    [TestMethod]
    public void ExactEqualsBruteForceOnSmallRandomCases()
    {
        int compared = 0;
        long exactNodes = 0, bruteNodes = 0;
        foreach (var (layer, arch) in SmallCases(2024, 60))
            foreach (var objective in new[] { Objective.Energy, Objective.Latency, Objective.Edp })
            {
                if (Agree(layer, arch, objective) is not var (exact, brute)) continue;
                exactNodes += exact.Explored;
                bruteNodes += brute.Explored;
                compared++;
            }
        Assert.IsTrue(compared >= 100, $"only {compared} feasible cases compared");
        // Per case the branch and bound may visit a few more nodes (it lists spatial plans first), but over the suite pruning must pay.
        Assert.IsTrue(exactNodes < bruteNodes / 2, $"pruning explored {exactNodes} nodes against {bruteNodes} for enumeration");
    }

    /// <summary>
    /// Runs the branch and bound (unseeded) and brute force on one problem and asserts they agree: the same status and,
    /// when feasible, OPTIMAL with the same best, which the reference model re-costs to. Null when infeasible.
    /// </summary>
    internal static (SolveResult Exact, SolveResult Brute)? Agree(Einsum layer, Architecture arch, Objective objective)
    {
        var problem = new MapProblem(layer, arch, objective);
        var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
        var brute = new TilingSearch(problem, prune: false).Solve(SearchLimits.None);
        Assert.AreEqual(brute.Status, exact.Status, $"{layer} on {arch.Name}");
        if (brute.Status == SolveStatus.Infeasible) return null;
        Assert.AreEqual(SolveStatus.Optimal, exact.Status);
        Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, 1e-9 * brute.Best.Value, $"{objective} of {layer} on {arch.Name}");
        // The answer re-costs to the reported value with the reference model.
        Assert.AreEqual(exact.Best.Value, CostModel.Evaluate(layer, arch, exact.Mapping!).Objective(objective), 1e-9 * exact.Best.Value);
        return (exact, brute);
    }

    /// <summary>
    /// The branch and bound picks each level's loop order on its own at the leaves (energy only); brute
    /// force enumerates every order of every level. Four levels and sliding windows (strides, dilations)
    /// are where orders interact most, so they are checked here.
    /// </summary>
    [TestMethod]
    public void PerLevelOrdersEqualEveryOrderOnDeepHierarchiesWithWindows()
    {
        var rng = new Random(7);
        int compared = 0;
        for (int i = 0; i < 12; i++)
        {
            var layer = (i % 6 == 4 ? 4 : i) switch
            {
                5 => Layers.Conv1d($"c{i}", c: 2, k: 2, p: 4, r: 2, stride: 1 + rng.Next(2)),
                4 => Layers.Conv2d($"v{i}", n: 1, c: 1, k: 2, p: 2 + rng.Next(2), q: 1, r: 2, s: 1, stride: 1 + rng.Next(2), dilation: 1 + rng.Next(2)),
                _ => Layers.Conv1d($"c{i}", c: 1, k: 2 << rng.Next(2), p: 4 + 2 * rng.Next(2), r: 2 + rng.Next(2), stride: 1 + rng.Next(2)),
            };
            var arch = new Architecture($"deep{i}", "four levels", [
                new StorageLevel("DRAM", null, 16, 100, 100),
                new StorageLevel("L2", 64 + rng.Next(64), 16, 8, 9, fanout: new Fanout(1 + rng.Next(2), 1, multicast: rng.Next(2) == 0, spatialReduction: true, hopEnergy: 1)),
                new StorageLevel("L1", 12 + rng.Next(24), 16, 3, 3),
                new StorageLevel("Reg", 2 + rng.Next(6), 16, 1, 1),
            ], new ComputeUnit(0.5));
            var problem = new MapProblem(layer, arch, Objective.Energy);
            var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
            var brute = new TilingSearch(problem, prune: false).Solve(SearchLimits.None);
            Assert.AreEqual(brute.Status, exact.Status, $"{layer} on {arch.Name}");
            if (brute.Status == SolveStatus.Infeasible) continue;
            Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, 1e-9 * brute.Best.Value, $"{layer} on {arch.Name}");
            Assert.AreEqual(exact.Best.Value, CostModel.Evaluate(layer, arch, exact.Mapping!).Energy, 1e-9 * exact.Best.Value);
            compared++;
        }
        Assert.IsTrue(compared >= 8, $"only {compared} feasible cases compared");
    }

    /// <summary>
    /// EDP is searched with the energy search's tree, its bounds times each plan's least cycles, and at a leaf the
    /// least-energy orders stand for every order only when they meet those cycles; otherwise the leaf searches its
    /// orders. Small bandwidths on every level above the registers make the cycles depend on the orders (with sliding
    /// windows, on eyeriss-like scratchpads too); DRAM's cheap, narrow writes against its dear, wide reads make the
    /// orders of least energy and of least cycles differ. Brute force enumerates every order of every level, over the
    /// whole mapspace and over the orders of random tilings alone (every factor and keep set pinned), where the leaf's
    /// own order search decides the answer.
    /// </summary>
    [TestMethod]
    public void EdpEqualsBruteForceWhenBandwidthCyclesDependOnOrders()
    {
        var rng = new Random(5);
        int compared = 0, pinned = 0;
        for (int i = 0; i < 16; i++)
        {
            var layer = (i % 4) switch
            {
                0 => Layers.Conv1d($"c{i}", c: 2, k: 2, p: 4, r: 2, stride: 1 + rng.Next(2)),
                1 => Layers.Conv2d($"v{i}", n: 1, c: 1 + rng.Next(2), k: 2, p: 2 + rng.Next(2), q: 2, r: 2, s: 1, dilation: 1 + rng.Next(2)),
                2 => Layers.Gemm($"g{i}", m: 4 << rng.Next(2), n: 2, k: 2 + 2 * rng.Next(2)),
                _ => Layers.Conv1d($"d{i}", c: 1, k: 2 << rng.Next(2), p: 4 + 2 * rng.Next(2), r: 2 + rng.Next(2), stride: 1 + rng.Next(2)),
            };
            double Bandwidth() => 0.25 * (1 + rng.Next(8));
            var dram = new StorageLevel("DRAM", null, 16, 100, 1 + rng.Next(100), readBandwidth: 4 * Bandwidth(), writeBandwidth: Bandwidth() / 4);
            var arch = i % 2 == 0
                ? new Architecture($"deep{i}", "four levels, small bandwidths", [
                    dram,
                    new StorageLevel("L2", 32 + rng.Next(64), 16, 8, 9, readBandwidth: Bandwidth(), writeBandwidth: Bandwidth(),
                        fanout: new Fanout(1 + rng.Next(2), 1, multicast: rng.Next(2) == 0, spatialReduction: true, hopEnergy: 1)),
                    new StorageLevel("L1", 8 + rng.Next(24), 16, 3, 3, readBandwidth: Bandwidth(), writeBandwidth: Bandwidth()),
                    new StorageLevel("Reg", 2 + rng.Next(6), 16, 1, 1),
                ], new ComputeUnit(0.5))
                : new Architecture($"roles{i}", "eyeriss-like, small bandwidths", [
                    dram,
                    new StorageLevel("GLB", 4 + rng.Next(24), 16, 6, 6, readBandwidth: Bandwidth(), writeBandwidth: Bandwidth(), keeps: [TensorRole.Inputs, TensorRole.Outputs],
                        fanout: new Fanout(2, 1 + rng.Next(2), multicast: true, spatialReduction: true, hopEnergy: 2)),
                    new StorageLevel("WSpad", 1 + rng.Next(6), 16, 1, 1, keeps: [TensorRole.Weights]),
                    new StorageLevel("ISpad", 1 + rng.Next(4), 16, 1, 1, keeps: [TensorRole.Inputs]),
                    new StorageLevel("PSpad", 1 + rng.Next(4), 16, 1, 1, keeps: [TensorRole.Outputs]),
                ], new ComputeUnit(0.5));
            if (Compare(new MapProblem(layer, arch, Objective.Edp))) compared++;
            // Random tilings with only their orders left free.
            var space = new Mapspace(layer, arch);
            for (int j = 0; j < 6; j++)
                if (space.TrySampleValid(rng, 500, out var m) && Compare(new MapProblem(layer, arch, Objective.Edp, OrdersOnly(layer, m)))) pinned++;
        }
        Assert.IsTrue(compared >= 12, $"only {compared} feasible cases compared");
        Assert.IsTrue(pinned >= 60, $"only {pinned} tilings compared");

        static bool Compare(MapProblem problem)
        {
            var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
            var brute = new TilingSearch(problem, prune: false).Solve(SearchLimits.None);
            Assert.AreEqual(brute.Status, exact.Status, $"{problem.Layer} on {problem.Arch.Name}");
            if (brute.Status == SolveStatus.Infeasible) return false;
            Assert.AreEqual(SolveStatus.Optimal, exact.Status);
            Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, 1e-9 * brute.Best.Value, $"{problem.Layer} on {problem.Arch.Name}");
            Assert.AreEqual(exact.Best.Value, CostModel.Evaluate(problem.Layer, problem.Arch, exact.Mapping!).Edp, 1e-9 * exact.Best.Value);
            return true;
        }
    }

    /// <summary>
    /// The cycles EDP's nodes take from their ports (<see cref="PortCycles"/>): on random valid mappings over slow links, at
    /// every node on the way to the mapping's tiling (the plan's root down to the complete tiling), never above the mapping's
    /// cycles, whatever its orders; and, on the complete tilings, within 1 % of the cycles of one in ten or more of them
    /// (those whose own orders move the least words through the busiest port; 31 of 240 when written).
    /// </summary>
    [TestMethod]
    public void PortCyclesBoundEveryMappingBelowTheNodeAndMeetManyTilings()
    {
        var rng = new Random(41);
        int nodes = 0, tilings = 0, met = 0;
        for (int i = 0; i < 24; i++)
        {
            var (layer, arch) = SlowCase(rng, i, fanout: true);
            var problem = new MapProblem(layer, arch, Objective.Energy);
            var model = new SearchModel(problem, deferOrders: true);
            var ports = PortCycles.Of(problem)!;
            var space = new Mapspace(layer, arch);
            for (int j = 0; j < 10; j++)
            {
                if (!space.TrySampleValid(rng, 500, out var m)) continue;
                double cycles = CostModel.Evaluate(layer, arch, m).Cycles;
                double atTiling = 0;
                BoundsOnTheWay(model, layer, m, (s, d) =>
                {
                    double bound = ports.Bound(s, d);
                    Assert.IsTrue(bound <= cycles * (1 + 1e-9), $"{layer} on {arch.Name}: port cycles {bound} at level {d} above the {cycles} of {m}");
                    if (d == 0) atTiling = bound;
                    nodes++;
                });
                tilings++;
                if (atTiling >= cycles * 0.99) met++;
            }
        }
        Assert.IsTrue(tilings >= 150, $"only {tilings} tilings checked ({nodes} nodes)");
        Assert.IsTrue(met * 10 >= tilings, $"the port cycles met the cycles of only {met} of {tilings} tilings");
    }

    /// <summary>
    /// The EDP leaf's order search over bandwidth-bound tilings: DRAM and the levels below it slow enough that the
    /// cycles depend on the orders of two or more levels, so the order search's bound on a partial choice of orders
    /// (the least energy times the cycles the chosen orders already fix) decides what it prunes. Only the orders are
    /// free; brute force costs every one of them.
    /// </summary>
    [TestMethod]
    public void EdpOrderSearchEqualsBruteForceWhenOuterBandwidthBinds() => OrderSearchEqualsBruteForce(Objective.Edp, capped: false);

    /// <summary>
    /// The same leaf order search for energy within a cycle cap (latency,energy's second term): the cap at the least cycles
    /// of the pinned tiling's orders, or up to 20 % above, so that the least-energy orders are often above it.
    /// </summary>
    [TestMethod]
    public void EnergyWithinACycleCapOrderSearchEqualsBruteForce() => OrderSearchEqualsBruteForce(Objective.Energy, capped: true);

    private static void OrderSearchEqualsBruteForce(Objective objective, bool capped)
    {
        var rng = new Random(23);
        int pinned = 0;
        for (int i = 0; i < 40; i++)
        {
            var (layer, arch) = SlowCase(rng, i, fanout: false);
            var space = new Mapspace(layer, arch);
            for (int j = 0; j < 5; j++)
            {
                if (!space.TrySampleValid(rng, 500, out var m)) continue;
                var problem = new MapProblem(layer, arch, objective, OrdersOnly(layer, m));
                if (capped)
                {
                    var fastest = new TilingSearch(problem with { Objective = Objective.Latency }, prune: false).Solve(SearchLimits.None);
                    problem = problem with { Caps = new CostCaps(Cycles: fastest.Best!.Value * (1 + 0.1 * rng.Next(3))) };
                }
                var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
                var brute = new TilingSearch(problem, prune: false).Solve(SearchLimits.None);
                Assert.AreEqual(SolveStatus.Optimal, brute.Status, $"{layer} on {arch.Name}");
                Assert.AreEqual(SolveStatus.Optimal, exact.Status, $"{layer} on {arch.Name}");
                Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, 1e-9 * brute.Best.Value, $"{layer} on {arch.Name}: {m}");
                Assert.AreEqual(exact.Best.Value, CostModel.Evaluate(layer, arch, exact.Mapping!).Objective(objective), 1e-9 * exact.Best.Value);
                pinned++;
            }
        }
        Assert.IsTrue(pinned >= 150, $"only {pinned} tilings compared");
    }

    /// <summary>
    /// A small layer (GEMM, 1-D or 2-D convolution) over three looping levels with slow links, so that bandwidth sets the
    /// cycles; with <paramref name="fanout"/>, L2 feeds up to 2 x 2 L1 instances.
    /// </summary>
    private static (Einsum Layer, Architecture Arch) SlowCase(Random rng, int i, bool fanout)
    {
        var layer = (i % 3) switch
        {
            0 => Layers.Gemm($"g{i}", m: 4 << rng.Next(2), n: 2 << rng.Next(2), k: 4 << rng.Next(2)),
            1 => Layers.Conv1d($"c{i}", c: 2 << rng.Next(2), k: 4, p: 4 << rng.Next(2), r: 2 + rng.Next(2), stride: 1),
            _ => Layers.Conv2d($"v{i}", n: 1, c: 2, k: 2 << rng.Next(2), p: 4, q: 2, r: 2, s: 1, dilation: 1),
        };
        double Slow() => 0.05 * (1 + rng.Next(10));
        var dram = new StorageLevel("DRAM", null, 16, 100, 1 + rng.Next(100), readBandwidth: Slow(), writeBandwidth: Slow());
        long l2 = 16 + rng.Next(48);
        double l2Read = Slow() * 4, l2Write = Slow() * 4;
        var array = fanout ? new Fanout(1 + rng.Next(2), 1 + rng.Next(2), multicast: rng.Next(2) == 0, spatialReduction: true, hopEnergy: 1) : null;
        return (layer, new Architecture($"slow{i}", "three looping levels, slow links", [
            dram,
            new StorageLevel("L2", l2, 16, 8, 9, readBandwidth: l2Read, writeBandwidth: l2Write, fanout: array),
            new StorageLevel("L1", 4 + rng.Next(12), 16, 3, 3, readBandwidth: 0.5 + rng.Next(4), writeBandwidth: 0.5 + rng.Next(4)),
            new StorageLevel("Reg", 1 + rng.Next(3), 16, 1, 1),
        ], new ComputeUnit(0.5)));
    }

    /// <summary>Constraints that pin a mapping's every temporal and spatial factor and keep set, leaving its loop orders free.</summary>
    internal static MappingConstraints OrdersOnly(Einsum layer, Mapping m)
    {
        var tensors = layer.Tensors.Select(t => t.Id).ToList();
        return new MappingConstraints(Enumerable.Range(0, m.Levels.Count).ToDictionary(d => d, d => new LevelConstraint
        {
            Temporal = layer.Ranks.ToDictionary(r => r.Id, r => m.Levels[d].Temporal.Where(l => l.Rank == r.Id).Aggregate(1, (f, l) => f * l.Factor)),
            Spatial = layer.Ranks.SelectMany(r => new[] { Axis.X, Axis.Y }.Select(a => (r.Id, a)))
                .ToDictionary(x => x, x => m.Levels[d].Spatial.Where(l => l.Rank == x.Item1 && l.Axis == x.Item2).Aggregate(1, (f, l) => f * l.Factor)),
            Keep = m.Levels[d].Keep.ToHashSet(),
            Bypass = tensors.Where(t => !m.Levels[d].Keep.Contains(t)).ToHashSet(),
        }));
    }

    /// <summary>
    /// Eyeriss-like hierarchies: a global buffer that keeps inputs and outputs over a PE array, and one
    /// scratchpad per role. Here the bound for states with only the outer levels undecided sees levels
    /// that keep a single tensor between the decided ones and the global buffer, and capacities that
    /// force refetch; it must still never cut an optimum (energy, where it applies).
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceOnRoleSplitScratchpads()
    {
        var rng = new Random(11);
        int compared = 0;
        for (int i = 0; i < 14; i++)
        {
            // The last cases have few weights and a long non-weight rank over a small buffer: the weights can
            // stay in their scratchpad while DRAM loops over that rank, so nothing may charge them a refetch.
            bool few = i >= 10;
            var layer = few ? Layers.Gemm($"f{i}", m: 8 << rng.Next(2), n: 2, k: 2) : (i % 3) switch
            {
                0 => Layers.Conv2d($"v{i}", n: 1, c: 2, k: 2 << rng.Next(2), p: 2 + rng.Next(2), q: 2, r: 1, s: 1),
                1 => Layers.Conv2d($"w{i}", n: 1, c: 2, k: 2, p: 2, q: 2, r: 1 + rng.Next(2), s: 1, stride: 1 + rng.Next(2)),
                _ => Layers.Gemm($"g{i}", m: 4, n: 2 << rng.Next(2), k: 2 + 2 * rng.Next(2)),
            };
            var arch = RoleSplit($"roles{i}", glb: few ? 4 + rng.Next(4) : 8 + rng.Next(24), fanout: (2, 1 + rng.Next(2)),
                spads: (2 + rng.Next(6), 1 + rng.Next(4), 1 + rng.Next(4)));
            if (ExactEqualsBruteForce(layer, arch)) compared++;
        }
        Assert.IsTrue(compared >= 12, $"only {compared} feasible cases compared");
    }

    /// <summary>An eyeriss-like hierarchy: DRAM, a global buffer for inputs and outputs over a PE array, and one scratchpad per role (weights, inputs, outputs).</summary>
    internal static Architecture RoleSplit(string name, int glb, (int X, int Y) fanout, (int Weights, int Inputs, int Outputs) spads) =>
        new(name, "eyeriss-like", [
            new StorageLevel("DRAM", null, 16, 100, 100),
            new StorageLevel("GLB", glb, 16, 6, 6, keeps: [TensorRole.Inputs, TensorRole.Outputs],
                fanout: new Fanout(fanout.X, fanout.Y, multicast: true, spatialReduction: true, hopEnergy: 2)),
            new StorageLevel("WSpad", spads.Weights, 16, 1, 1, keeps: [TensorRole.Weights]),
            new StorageLevel("ISpad", spads.Inputs, 16, 1, 1, keeps: [TensorRole.Inputs]),
            new StorageLevel("PSpad", spads.Outputs, 16, 1, 1, keeps: [TensorRole.Outputs]),
        ], new ComputeUnit(0.5));

    /// <summary>Solves for energy with the branch and bound and with brute force and asserts they agree; false when the case is infeasible (nothing compared).</summary>
    internal static bool ExactEqualsBruteForce(Einsum layer, Architecture arch) => ExactEqualsBruteForce(layer, arch, out _);

    /// <summary>As above, with brute force's answer (its optimum, when feasible) in <paramref name="brute"/>.</summary>
    internal static bool ExactEqualsBruteForce(Einsum layer, Architecture arch, out SolveResult brute)
    {
        var problem = new MapProblem(layer, arch, Objective.Energy);
        var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
        brute = new TilingSearch(problem, prune: false).Solve(SearchLimits.None);
        Assert.AreEqual(brute.Status, exact.Status, $"{layer} on {arch.Name}");
        if (brute.Status == SolveStatus.Infeasible) return false;
        Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, 1e-9 * brute.Best.Value, $"{layer} on {arch.Name}");
        return true;
    }

    /// <summary>
    /// Sliding windows (P + R) over eyeriss-like scratchpads and small buffers: a loop above the decided
    /// levels over P (or DRAM's innermost loop over P, for the global buffer's tile) brings only the part of
    /// the window its step uncovers, which the bounds charge as forced refetch. Charging more would cut the
    /// optimum in some of these cases, so the search must still equal brute force on every one.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceOnSlidingWindowsOverScratchpads()
    {
        // Every fourth case has a long P over a buffer too small for the inputs, so DRAM's innermost loop runs over P.
        ExactEqualsBruteForceOn(seed: 23, cases: 12, atLeast: 10, (rng, i) => (
            (i % 4) switch
            {
                3 => Layers.Conv1d($"d{i}", c: 1, k: 1 + rng.Next(2), p: 8, r: 3, stride: 1),
                2 => Layers.Conv2d($"v{i}", n: 1, c: 1, k: 2, p: 2 + rng.Next(2), q: 2, r: 2, s: 2, stride: 1 + rng.Next(2)),
                _ => Layers.Conv1d($"c{i}", c: 1 + rng.Next(2), k: 2, p: 4 + 2 * rng.Next(2), r: 2 + rng.Next(2), stride: 1 + rng.Next(2)),
            },
            RoleSplit($"windows{i}", glb: 4 + rng.Next(12), fanout: (1 + rng.Next(2), 1),
                spads: (1 + rng.Next(4), 1 + rng.Next(4), 1 + rng.Next(3)))));
    }

    /// <summary>Compares the branch and bound with brute force on <paramref name="cases"/> generated cases; at least <paramref name="atLeast"/> must be feasible.</summary>
    private static void ExactEqualsBruteForceOn(int seed, int cases, int atLeast, Func<Random, int, (Einsum Layer, Architecture Arch)> make)
    {
        var rng = new Random(seed);
        int compared = 0;
        for (int i = 0; i < cases; i++)
        {
            var (layer, arch) = make(rng, i);
            if (ExactEqualsBruteForce(layer, arch)) compared++;
        }
        Assert.IsTrue(compared >= atLeast, $"only {compared} feasible cases compared");
    }

    /// <summary>
    /// DRAM's loops over ranks that do not index a tensor (K for inputs, P for weights) refetch it through
    /// scratchpads far smaller than what the chip's loops sweep: the bounds charge, per DRAM iteration, the
    /// words it uses less one scratchpad tile, and, for the global buffer's window under DRAM's innermost
    /// loop over P, the part each rewind uncovers. Charging more cuts the optimum in some of these cases.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceWhenDramRefetchesThroughSmallScratchpads()
    {
        ExactEqualsBruteForceOn(seed: 41, cases: 8, atLeast: 6, (rng, i) => (
            Layers.Conv1d($"s{i}", c: 1 + rng.Next(2), k: 4, p: 4 + 4 * rng.Next(2), r: 3, stride: 1),
            RoleSplit($"small{i}", glb: 3 + rng.Next(6), fanout: (1, 1), spads: (1 + rng.Next(3), 1 + rng.Next(3), 1 + rng.Next(2)))));
    }

    /// <summary>
    /// A weights scratchpad too small for the weights one DRAM iteration uses forces a loop over a rank of the weights into
    /// the global buffer; the inputs kept below (fed from DRAM or the buffer) and the weights then trade refetch over that
    /// loop's place in the order: the global buffer's loops over the inputs' other ranks (M, P) sit inside it, and each step
    /// of it over a rank the inputs do not use (N, K) brings their sweep again, or outside it, and each of their steps brings
    /// the weights again (OuterBound's ForcedLoop, docs/mapspace.md). Charging more than the cheaper of the two, or the
    /// inputs' sweep over factors that need not lie inside that loop, cuts the optimum in some of these cases.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceWhenTheWeightsScratchpadForcesALoopAboveIt()
    {
        ExactEqualsBruteForceOn(seed: 57, cases: 10, atLeast: 8, (rng, i) => (
            i % 2 == 0
                ? Layers.Gemm($"h{i}", m: 4 << rng.Next(2), n: 4 << rng.Next(2), k: 1 + rng.Next(2))
                : Layers.Conv1d($"f{i}", c: 1, k: 4 << rng.Next(2), p: 4 + 2 * rng.Next(2), r: 1 + rng.Next(2), stride: 1),
            RoleSplit($"forced{i}", glb: 6 + rng.Next(10), fanout: (1, 1), spads: (1 + rng.Next(3), 1 + rng.Next(2), 1 + rng.Next(2)))));
    }

    /// <summary>
    /// The loop the weights scratchpad forces above it may run over a window rank of the inputs (R of a strided 1-D
    /// convolution): every run of that loop's body uses the inputs' box inside it, and the input scratchpad, fed again at
    /// each run, holds at most its tile when a run starts (OuterBound's ForcedLoop, docs/mapspace.md). Charging more than
    /// that box less the tile per run cuts the optimum in some of these cases.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceWhenTheForcedLoopRunsOverAWindowRank()
    {
        ExactEqualsBruteForceOn(seed: 61, cases: 10, atLeast: 8, (rng, i) => (
            Layers.Conv1d($"w{i}", c: 1 + rng.Next(2), k: 2 << rng.Next(2), p: 4 + 2 * rng.Next(2), r: 3, stride: 2),
            RoleSplit($"slide{i}", glb: 8 + rng.Next(16), fanout: (1, 1), spads: (1 + rng.Next(3), 1 + rng.Next(2), 1 + rng.Next(2)))));
    }

    /// <summary>
    /// Admissibility directly: for random valid mappings over eyeriss-like hierarchies with sliding windows,
    /// every node on the way to the mapping (its plan's root, then each level decided as the mapping has it,
    /// innermost first) gets a plain and an outer bound no larger than the cost of the mapping's tiling at
    /// its best loop orders (which is at most the mapping's own cost), and the bound the outer bound records
    /// for the node's child on the way (with only the global buffer left on chip, one split and keep set of it)
    /// is no larger either. This sees every case of the bounds that random mappings reach, not only the optimum's.
    /// </summary>
    [TestMethod]
    public void BoundsOnTheWayToAnyMappingNeverExceedItsCost()
    {
        var rng = new Random(5);
        int nodes = 0, children = 0;
        for (int i = 0; i < 16; i++)
        {
            var layer = i % 2 == 0
                ? Layers.Conv1d($"b{i}", c: 1 + rng.Next(3), k: 2 + 2 * rng.Next(2), p: 4 + 4 * rng.Next(2), r: 2 + rng.Next(2), stride: 1 + rng.Next(2))
                : Layers.Conv2d($"b{i}", n: 1, c: 1 + rng.Next(2), k: 2 + 2 * rng.Next(2), p: 2 + rng.Next(3), q: 2, r: 2 + rng.Next(2), s: 2, stride: 1);
            var arch = RoleSplit($"bounds{i}", glb: 4 + rng.Next(24), fanout: (1 + rng.Next(3), 1 + rng.Next(2)),
                spads: (1 + rng.Next(6), 1 + rng.Next(6), 1 + rng.Next(4)));
            nodes += CheckBoundsOnTheWay(rng, layer, arch, 40, c => children += c);
        }
        Assert.IsTrue(nodes >= 1000, $"only {nodes} nodes checked");
        Assert.IsTrue(children >= 200, $"only {children} child bounds checked");
    }

    /// <summary>
    /// Samples up to <paramref name="samples"/> random valid mappings and asserts that every bound on the way to each
    /// (<see cref="BoundsOnTheWay"/>) is at most the cost of its tiling at its best orders; returns the nodes checked and
    /// reports the child bounds checked to <paramref name="childrenChecked"/>.
    /// </summary>
    internal static int CheckBoundsOnTheWay(Random rng, Einsum layer, Architecture arch, int samples, Action<int>? childrenChecked = null)
    {
        int nodes = 0, children = 0;
        var model = new SearchModel(new MapProblem(layer, arch, Objective.Energy), deferOrders: true);
        var space = new Mapspace(layer, arch);
        for (int j = 0; j < samples; j++)
        {
            if (!space.TrySampleValid(rng, 500, out var mapping)) break;
            double cost = CostModel.Evaluate(layer, arch, mapping).Energy;
            var (bounds, bestOrders) = BoundsOnTheWay(model, layer, mapping);
            Assert.IsTrue(bestOrders <= cost * (1 + 1e-9), $"{layer} on {arch.Name}: best orders {bestOrders} cost more than {cost}");
            var names = arch.Levels.Select(l => l.Name).ToList();
            foreach (var (d, plain, outer, child) in bounds)
            {
                Assert.IsTrue(plain <= bestOrders * (1 + 1e-9), $"{layer} on {arch.Name}: plain bound {plain} at level {d} exceeds {bestOrders} of {mapping.ToCompactString(names)} at its best orders");
                Assert.IsTrue(outer <= bestOrders * (1 + 1e-9), $"{layer} on {arch.Name}: outer bound {outer} at level {d} exceeds {bestOrders} of {mapping.ToCompactString(names)} at its best orders");
                if (child is { } c)
                {
                    Assert.IsTrue(c <= bestOrders * (1 + 1e-9), $"{layer} on {arch.Name}: the child bound {c} recorded at level {d} exceeds {bestOrders} of {mapping.ToCompactString(names)} at its best orders");
                    children++;
                }
                nodes++;
            }
        }
        childrenChecked?.Invoke(children);
        return nodes;
    }

    /// <summary>
    /// The inner-first search's plain and outer bounds at every node on the way to a complete mapping, with the
    /// bound the outer bound records for the next node on the way (when it records children and one for it), and
    /// the cost of the mapping's tiling with every level's best loop order (as the search costs its leaves).
    /// <paramref name="visit"/> sees each node's state with its level (the plan's root at the level count, the complete tiling at 0).
    /// With <paramref name="plan"/> (a plan the search lists, of the mapping's class: the same factors, perhaps on other axes)
    /// the nodes are that plan's, as the search takes them, where the mapping is one of its variants.
    /// </summary>
    internal static (List<(int Level, double Plain, double Outer, double? Child)> Bounds, double BestOrders) BoundsOnTheWay(SearchModel model, Einsum layer, Mapping mapping,
        Action<State, int>? visit = null, SpatialPlan? plan = null)
    {
        var bounds = new List<(int, double, double, double?)>();
        int levels = model.Levels, ranks = model.Ranks;
        var x = new int[levels][];
        var y = new int[levels][];
        var choices = new LevelChoice[levels];
        for (int d = 0; d < levels; d++)
        {
            var lm = mapping.Levels[d];
            var temporal = new int[ranks];
            x[d] = new int[ranks];
            y[d] = new int[ranks];
            for (int r = 0; r < ranks; r++)
            {
                var id = model.RankIds[r];
                temporal[r] = (int)lm.TemporalFactor(id);
                x[d][r] = (int)lm.Spatial.Where(l => l.Rank == id && l.Axis == Axis.X).Aggregate(1L, (a, l) => a * l.Factor);
                y[d][r] = (int)lm.Spatial.Where(l => l.Rank == id && l.Axis == Axis.Y).Aggregate(1L, (a, l) => a * l.Factor);
            }
            if (plan is not null) (x[d], y[d]) = (plan.X[d], plan.Y[d]);
            choices[d] = new LevelChoice(temporal, lm.Temporal.Select(l => Array.IndexOf(model.RankIds, l.Rank)).ToArray(), x[d], y[d]);
        }
        var s = new State(model, plan ?? new SpatialPlan(x, y));
        s.Keep[0] = (1 << model.TensorCount) - 1;
        var ids = layer.Tensors.Select(t => t.Id).ToArray();
        int KeepAt(int d) => Enumerable.Range(0, ids.Length).Where(i => mapping.Levels[d].Keep.Contains(ids[i])).Sum(i => 1 << i);
        for (int d = levels; d >= 1; d--)
        {
            if (d < levels)
            {
                model.ApplyInner(s, d, choices[d]);
                model.RecordInnerVisits(s, d);
                s.Keep[d] = KeepAt(d);
            }
            double plain = model.InnerBound(s, d);
            // A plan's root: the search's plain bound is raised by every loop above the register level taken as one level.
            if (d == levels) plain = Math.Max(plain, model.RegisterOrders(s, plain, double.PositiveInfinity));
            double outer = model.RefineBound(s, d, plain, double.PositiveInfinity, out var known);
            double? child = null;
            // With level 1 alone left on chip, the record holds every split and keep set of level 1 below the cutoff (none here).
            if (d == 2 && known is not null)
            {
                long g = known.Index(choices[1].Temporal);
                Assert.IsTrue(known.TryGet(g, KeepAt(1), out var least), $"the outer bound closed the child on the way to {mapping}");
                child = least;
            }
            bounds.Add((d, plain, outer, child));
            visit?.Invoke(s, d);
        }
        model.ApplyInner(s, 0, choices[0]);
        model.RecordInnerVisits(s, 0);
        visit?.Invoke(s, 0);
        model.OptimizeOrders(s);
        return (bounds, model.Exact(s));
    }

    [TestMethod]
    public void NoRandomValidMappingBeatsTheProvenOptimum()
    {
        var rng = new Random(99);
        foreach (var (layer, arch) in SmallCases(7, 20))
        {
            var result = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true).Solve(SearchLimits.None);
            if (result.Status != SolveStatus.Optimal) continue;
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 50; i++)
                if (space.TrySampleValid(rng, 500, out var m))
                    Assert.IsTrue(CostModel.Evaluate(layer, arch, m).Energy >= result.Best!.Value * (1 - 1e-12));
        }
    }

    [TestMethod]
    public void SameAnswerOnEveryRunAndThreadCount()
    {
        foreach (var (layer, arch) in SmallCases(31, 8))
        {
            var p = new MapProblem(layer, arch, Objective.Edp);
            var one = new TilingSearch(p, true).Solve(new SearchLimits(Threads: 1));
            var two = new TilingSearch(p, true).Solve(new SearchLimits(Threads: 2));
            var again = new TilingSearch(p, true).Solve(new SearchLimits(Threads: 2));
            var names = arch.Levels.Select(l => l.Name).ToList();
            Assert.AreEqual(one.Mapping?.ToCompactString(names), two.Mapping?.ToCompactString(names));
            Assert.AreEqual(two.Mapping?.ToCompactString(names), again.Mapping?.ToCompactString(names));
        }
    }

    [TestMethod]
    public void ConstraintsAreHonouredAndOverConstraintIsInfeasible()
    {
        var layer = Layers.Conv1d("c", c: 4, k: 8, p: 8, r: 3);
        var arch = TestMappings.ThreeLevel16();
        var k = new RankId("K");
        var pinned = new MappingConstraints(new Dictionary<int, LevelConstraint>
        {
            [1] = new LevelConstraint { SpatialX = new HashSet<RankId> { k }, Bypass = new HashSet<TensorId> { new("Weights") } },
            [2] = new LevelConstraint { Temporal = new Dictionary<RankId, int> { [new RankId("R")] = 3 } },
        });
        var r = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, pinned), true).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, r.Status);
        var m = r.Mapping!;
        Assert.IsTrue(m.Levels[1].Spatial.All(s => s.Rank == k), "only K may be split across the PEs");
        Assert.IsFalse(m.Levels[1].Keep.Contains(new TensorId("Weights")));
        Assert.AreEqual(3, m.Levels[2].TemporalFactor(new RankId("R")));
        var free = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), true).Solve(SearchLimits.None);
        Assert.IsTrue(free.Best!.Value <= r.Best!.Value, "constraints can only make the optimum worse");

        // The register file (64 words) cannot keep an 8x4x3 = 96-word weight tile.
        var over = new MappingConstraints(new Dictionary<int, LevelConstraint>
        {
            [2] = new LevelConstraint
            {
                Temporal = new Dictionary<RankId, int> { [k] = 8, [new RankId("C")] = 4, [new RankId("R")] = 3 },
                Keep = new HashSet<TensorId> { new("Weights") },
            },
        });
        var inf = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, over), true).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Infeasible, inf.Status);
        StringAssert.Contains(inf.Explanation, "Reg must keep Weights");
        StringAssert.Contains(inf.Explanation, "96 words");
    }

    [TestMethod]
    public void TimeLimitReturnsBestSoFarWithAValidBound()
    {
        var layer = Layers.Conv2d("big", n: 1, c: 64, k: 64, p: 28, q: 28, r: 3, s: 3);
        var arch = Presets.Get("eyeriss");
        var r = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), true).Solve(new SearchLimits(TimeSpan.FromMilliseconds(300)));
        // 300 ms cannot finish this search, so it must neither claim a proof nor claim nothing fits.
        Assert.IsTrue(r.Status is SolveStatus.Feasible or SolveStatus.Unknown, $"got {r.Status}");
        if (r.Best is { } best)
        {
            Assert.IsTrue(r.Bound <= best * (1 + 1e-12), "the bound never exceeds the best found");
            Assert.IsTrue(r.Bound >= layer.Macs * arch.Compute.MacEnergy, "the bound is at least the MAC energy");
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, r.Mapping!).Count);
        }
    }

    [TestMethod]
    public void CancellationStopsTheSearchWithoutClaimingAnything()
    {
        var layer = Layers.Conv2d("big", n: 1, c: 64, k: 64, p: 28, q: 28, r: 3, s: 3);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = new TilingSearch(new MapProblem(layer, Presets.Get("eyeriss"), Objective.Energy), true).Solve(new SearchLimits(Cancel: cts.Token));
        Assert.AreEqual(SolveStatus.Unknown, r.Status);
        Assert.IsNull(r.Mapping);
        Assert.IsTrue(r.Bound >= layer.Macs * 1.0, "even a stopped search reports a valid lower bound (at least the MAC energy)");
    }

    [TestMethod]
    public void DescentReturnsValidMappingsThatReCostToTheReportedValueAndNeverBeatTheOptimum()
    {
        int compared = 0;
        foreach (var (layer, arch) in SmallCases(555, 30))
            foreach (var objective in new[] { Objective.Energy, Objective.Edp })
            {
                var p = new MapProblem(layer, arch, objective);
                var d = new Descent(p).Solve(SearchLimits.None);
                Assert.AreEqual(SolveStatus.Feasible, d.Status, "a heuristic never claims optimality");
                Assert.AreEqual(0, ValidityChecker.Check(layer, arch, d.Mapping!).Count);
                Assert.AreEqual(d.Best!.Value, CostModel.Evaluate(layer, arch, d.Mapping!).Objective(objective), 1e-9 * d.Best.Value);
                var exact = new TilingSearch(p, prune: true).Solve(SearchLimits.None);
                if (exact.Status != SolveStatus.Optimal) continue;
                Assert.IsTrue(d.Best.Value >= exact.Best!.Value * (1 - 1e-9), "no heuristic beats a proven optimum");
                compared++;
            }
        Assert.IsTrue(compared >= 30, $"only {compared} cases compared");
    }
}
