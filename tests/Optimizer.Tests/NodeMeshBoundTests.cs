using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The energy search on multinode-like hierarchies (docs/presets.md, "multinode"): DRAM over a mesh of nodes with a
/// costly hop, a global buffer per node over a PE bus, a register per PE, every level free to keep every tensor. Here
/// the network words between DRAM and the nodes are a large part of every mapping's energy, and the bounds count them
/// (<see cref="InnerBound.CrossingEnergy"/>).
/// </summary>
[TestClass]
public sealed class NodeMeshBoundTests
{
    /// <summary>DRAM over a mesh of nodes (hop energy <paramref name="hop"/>), a buffer per node over a bus of PEs, a register per PE.</summary>
    internal static Architecture MiniMultinode(string name, (int X, int Y) nodes, bool multicast, double hop, long buffer, (int X, int Y) pes, long register) =>
        new(name, "multinode-like", [
            new StorageLevel("DRAM", null, 16, 100, 100, fanout: new Fanout(nodes.X, nodes.Y, multicast, spatialReduction: multicast, hopEnergy: hop, topology: Topology.Mesh)),
            new StorageLevel("GlobalBuffer", buffer, 16, 3, 3, fanout: new Fanout(pes.X, pes.Y, multicast: true, spatialReduction: true, hopEnergy: 1.5)),
            new StorageLevel("RegFile", register, 16, 0.1, 0.1),
        ], new ComputeUnit(1));

    private static (Einsum Layer, Architecture Arch) Case(Random rng, int i)
    {
        var layer = (i % 3) switch
        {
            0 => Layers.Gemm($"g{i}", m: 2 << rng.Next(2), n: 2 << rng.Next(2), k: 2 + 2 * rng.Next(2)),
            1 => Layers.Conv1d($"c{i}", c: 1 + rng.Next(2), k: 2 << rng.Next(2), p: 4, r: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
            _ => Layers.Gemm($"h{i}", m: 8, n: 1 + rng.Next(2), k: 4),
        };
        var nodes = rng.Next(3) switch { 0 => (2, 1), 1 => (2, 2), _ => (4, 1) };
        var arch = MiniMultinode($"mesh{i}", nodes, multicast: rng.Next(3) > 0, hop: 20 + 40 * rng.NextDouble(),
            buffer: 8 + rng.Next(24), pes: (1 + rng.Next(2), 1 + rng.Next(2)), register: 2 + rng.Next(6));
        return (layer, arch);
    }

    /// <summary>
    /// The branch and bound equals brute force on energy over small multinode-like hierarchies with a costly mesh hop.
    /// Fails when the network words the bounds charge between DRAM and a keeper below (<see cref="InnerBound.CrossingEnergy"/>)
    /// are scaled up by 30 %.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceOverANodeMesh()
    {
        var rng = new Random(7);
        int compared = 0;
        for (int i = 0; i < 12; i++)
        {
            var (layer, arch) = Case(rng, i);
            if (SearchTests.ExactEqualsBruteForce(layer, arch)) compared++;
        }
        Assert.IsTrue(compared >= 10, $"only {compared} feasible cases compared");
    }

    /// <summary>
    /// On a 4 x 4 mesh the same spatial factors can use different numbers of nodes along X plus along Y, and the plans keep
    /// only the fewest (<see cref="LevelEnumeration.SpatialPlans"/>); with a cheap hop and tiny buffers the optimum spreads
    /// over several nodes, so the branch and bound must still equal brute force. Fails (4 of 12 cases) when the plans keep
    /// the most instead.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceOnAFourByFourMesh()
    {
        var rng = new Random(3);
        int compared = 0;
        for (int i = 0; i < 12; i++)
        {
            var layer = i % 2 == 0 ? Layers.Gemm($"g{i}", m: 4 << rng.Next(2), n: 2 << rng.Next(2), k: 2) : Layers.Conv1d($"c{i}", c: 2, k: 4, p: 4, r: 1 + rng.Next(2));
            var arch = MiniMultinode($"mesh4x4_{i}", (4, 4), multicast: true, hop: 1 + 4 * rng.NextDouble(), buffer: 4 + rng.Next(8), pes: (1, 1), register: 1 + rng.Next(3));
            if (SearchTests.ExactEqualsBruteForce(layer, arch)) compared++;
        }
        Assert.IsTrue(compared >= 10, $"only {compared} feasible cases compared");
    }

    /// <summary>
    /// GEMMs over small node meshes whose register holds 1 to 4 words and whose buffer cannot hold every tensor: at a plan's
    /// root the buffer's loops above the register decide how often the register's tensors come again, and the register's
    /// factors and keep set are open, which the orders shared at the root (<c>OuterBound.RootOrders</c>) bound by every
    /// choice of them. The branch and bound must still equal brute force. Fails when that term is scaled up by 30 %.
    /// </summary>
    [TestMethod]
    public void ExactEqualsBruteForceWithTheRegistersFactorsOpenAtTheRoot()
    {
        var rng = new Random(29);
        int compared = 0;
        for (int i = 0; i < 12; i++)
        {
            var layer = Layers.Gemm($"r{i}", m: 4 << rng.Next(2), n: 2 << rng.Next(2), k: 2 << rng.Next(2));
            var arch = MiniMultinode($"regs{i}", (2, 1), multicast: rng.Next(2) > 0, hop: 5 + 20 * rng.NextDouble(),
                buffer: 4 + rng.Next(12), pes: (1 + rng.Next(2), 1), register: 1 + rng.Next(4));
            if (SearchTests.ExactEqualsBruteForce(layer, arch)) compared++;
        }
        Assert.IsTrue(compared >= 10, $"only {compared} feasible cases compared");
    }

    /// <summary>
    /// Every loop above the register level taken as one level (<c>OuterBound.RegisterOrders</c>, a plan's root bound at
    /// microseconds) on matrix products over multinode-like hierarchies with 2- to 9-word registers: at each plan's root
    /// it is at most every random valid mapping of the plan at its best orders, it is above the plain bound at some of
    /// those roots (so it is what prunes there), and the branch and bound still equals brute force. Fails when the term is
    /// scaled up by 30 %.
    /// </summary>
    [TestMethod]
    public void RegisterOrdersBoundEveryMappingOfThePlan() => RegisterOrdersBoundsEveryMapping(new Random(41), (i, rng) =>
        (Layers.Gemm($"q{i}", m: 4 << rng.Next(2), n: 2 << rng.Next(2), k: 2 << rng.Next(2)),
         MiniMultinode($"reg{i}", rng.Next(2) > 0 ? (2, 1) : (2, 2), multicast: rng.Next(2) > 0, hop: 5 + 30 * rng.NextDouble(),
             buffer: 6 + rng.Next(20), pes: (1 + rng.Next(2), 1), register: 2 + rng.Next(8))));

    /// <summary>
    /// The same term with a sliding window (<c>OuterBound.RegisterOrders</c>, <c>WindowSteps</c>): 1-D convolutions
    /// (strides 1 and 2, filters of 2 and 3) and small 2-D ones over multinode-like hierarchies with 3- to 12-word registers.
    /// At each random valid mapping's plan root the bound is at most the mapping's cost at its best orders, the term is
    /// above the plain bound at some roots, and the branch and bound equals brute force. Fails when the window tensor's
    /// part (its whole and slid tiles per step) is scaled up by 30 %.
    /// </summary>
    [TestMethod]
    public void RegisterOrdersBoundEveryMappingOfAWindowPlan() => RegisterOrdersBoundsEveryMapping(new Random(43), (i, rng) =>
        (i % 3 == 2
            ? Layers.Conv2d($"w{i}", n: 1, c: 1 + rng.Next(2), k: 2, p: 4, q: 2, r: 3, s: 1 + rng.Next(2))
            : Layers.Conv1d($"w{i}", c: 1 + rng.Next(2), k: 2 << rng.Next(2), p: 4 << rng.Next(2), r: 2 + rng.Next(2), stride: 1 + rng.Next(2)),
         MiniMultinode($"win{i}", rng.Next(2) > 0 ? (2, 1) : (2, 2), multicast: rng.Next(2) > 0, hop: 5 + 30 * rng.NextDouble(),
             buffer: 8 + rng.Next(24), pes: (1 + rng.Next(2), 1), register: 3 + rng.Next(10))));

    /// <summary>
    /// The slid steps alone (<c>OuterBound.RegisterOrders</c>, <c>WindowSteps</c>): 1-D convolutions with P 8 or 12, a 3-tap
    /// filter, strides 1 and 2 and one or two output channels, over 2-node meshes with 7- to 9-word registers, so that the
    /// register holds a whole window and a step of a loop over P above it brings only the words the window slides onto.
    /// There the optimum's plan root is bounded by those slides, not by whole tiles. Fails when only the slid steps'
    /// weights are scaled up by 30 % (as does the window test above, by the check at the optimum's own plan root).
    /// </summary>
    [TestMethod]
    public void RegisterOrdersBoundTheSlidesOfALongConvolution() => RegisterOrdersBoundsEveryMapping(new Random(47), (i, rng) =>
        (Layers.Conv1d($"s{i}", c: 1, k: 1 + rng.Next(2), p: 8 + 4 * rng.Next(2), r: 3, stride: 1 + rng.Next(2)),
         MiniMultinode($"slide{i}", (2, 1), multicast: rng.Next(2) > 0, hop: 5 + 30 * rng.NextDouble(),
             buffer: 6 + rng.Next(12), pes: (1, 1), register: 7 + rng.Next(3))));

    /// <summary>
    /// The checks of <c>RegisterOrders</c> on ten random cases from <paramref name="make"/>: exact = brute force (at least 8
    /// compared, and the root bound of the optimum's own plan at most its cost), the root bound (the term included) at most each of 40 random valid mappings' cost at its best orders
    /// (at least 200), and the term above the plain bound at 20 plan roots or more.
    /// </summary>
    private static void RegisterOrdersBoundsEveryMapping(Random rng, Func<int, Random, (Einsum Layer, Architecture Arch)> make)
    {
        int compared = 0, roots = 0, above = 0;
        for (int i = 0; i < 10; i++)
        {
            var (layer, arch) = make(i, rng);
            var model = new SearchModel(new MapProblem(layer, arch, Objective.Energy), deferOrders: true);
            if (SearchTests.ExactEqualsBruteForce(layer, arch, out var brute))
            {
                compared++;
                // The optimum's own plan root: a search that meets that plan before a better incumbent cannot show a bound
                // above the optimum there, so it is checked directly.
                var (atOptimum, cost) = SearchTests.BoundsOnTheWay(model, layer, brute.Mapping!);
                double rootAtOptimum = atOptimum.Single(b => b.Level == model.Levels).Plain;
                Assert.IsTrue(rootAtOptimum <= cost * (1 + 1e-9), $"{layer} on {arch.Name}: the root bound {rootAtOptimum} of the optimum's plan exceeds its {cost}");
            }
            var space = new Mapspace(layer, arch);
            for (int j = 0; j < 40; j++)
            {
                if (!space.TrySampleValid(rng, 500, out var mapping)) break;
                var (bounds, best) = SearchTests.BoundsOnTheWay(model, layer, mapping);
                var root = bounds.Single(b => b.Level == model.Levels);
                Assert.IsTrue(root.Plain <= best * (1 + 1e-9), $"{layer} on {arch.Name}: the root bound {root.Plain} exceeds {best} of {mapping}");
                roots++;
            }
            foreach (var plan in model.SpatialPlans())
            {
                var s = State.PlanRoot(model, plan);
                double plain = model.InnerBound(s, model.Levels);
                if (model.RegisterOrders(s, plain, double.PositiveInfinity) > plain * (1 + 1e-9)) above++;
            }
        }
        Assert.IsTrue(compared >= 8 && roots >= 200 && above >= 20, $"{compared} cases compared, {roots} roots checked, {above} plans above the plain bound");
    }

    /// <summary>
    /// <c>RootOrders</c> rebuilds each tensor's step models in place for every choice of the register level's factors
    /// (<see cref="OrderOptimizer.StepModel.Reset"/>): a model reset from other extents, strides, factors and rewinds
    /// gives, for every rank and set of inner loops, what a model built afresh from them gives, on a convolution
    /// (window dimensions, a stride) and a matrix product.
    /// </summary>
    [TestMethod]
    public void StepsResetInPlaceGiveWhatFreshStepsGive()
    {
        var rng = new Random(7);
        int compared = 0, differing = 0;
        foreach (var layer in new[] { Layers.Conv2d("c", n: 1, c: 4, k: 4, p: 6, q: 5, r: 3, s: 3, stride: 2), Layers.Gemm("g", m: 8, n: 4, k: 6) })
        {
            var problem = new SearchProblem(new MapProblem(layer, Presets.Get("multinode"), Objective.Energy), deferOrders: true);
            int ranks = problem.RankIds.Length;
            long[] Draw(int lo, int hi) => Enumerable.Range(0, ranks).Select(_ => (long)rng.Next(lo, hi)).ToArray();
            foreach (var t in problem.Tensors)
            {
                var reused = new OrderOptimizer.StepModel(t, Draw(1, 5), Draw(1, 7), Draw(1, 4), Draw(0, 3));
                for (int trial = 0; trial < 20; trial++)
                {
                    var (ext, stride, factors, between) = (Draw(1, 5), Draw(1, 7), Draw(1, 4), Draw(0, 3));
                    var before = Enumerable.Range(0, ranks << ranks).Select(a => reused.Fresh(a % ranks, a / ranks)).ToArray();
                    var fresh = new OrderOptimizer.StepModel(t, ext, stride, factors, between);
                    Assert.AreSame(reused, reused.Reset(ext, stride, factors, between));
                    for (int a = 0; a < ranks << ranks; a++)
                    {
                        double want = fresh.Fresh(a % ranks, a / ranks);
                        Assert.AreEqual(want, reused.Fresh(a % ranks, a / ranks), $"{layer.Name} tensor {t.Index} rank {a % ranks} inside {a / ranks}");
                        if (want != before[a]) differing++;
                        compared++;
                    }
                }
            }
        }
        // The draws change the values (else the comparison would not see a reset that changes nothing).
        Assert.IsTrue(compared > 1000 && differing > compared / 4, $"{differing} of {compared} values changed");
    }

    /// <summary>
    /// Admissibility node by node: on random valid mappings of the same hierarchies, every bound on the way to the
    /// mapping (its plan's root, then each level decided as the mapping has it) is at most the cost of its tiling at
    /// its best loop orders.
    /// </summary>
    [TestMethod]
    public void BoundsOnTheWayToAnyMappingOverANodeMeshNeverExceedItsCost()
    {
        var rng = new Random(13);
        int nodes = 0;
        for (int i = 0; i < 12; i++)
        {
            var (layer, arch) = Case(rng, i);
            nodes += SearchTests.CheckBoundsOnTheWay(rng, layer, arch, 40);
        }
        Assert.IsTrue(nodes >= 500, $"only {nodes} nodes checked");
    }
}
