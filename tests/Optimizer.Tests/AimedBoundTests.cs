using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// Issue 14's soundness audit of the search's bounds (branch tl14u): random mappings drawn where windows are shared or
/// forwarded (window layers of stride 1 and 2; a spatial loop over a window rank, often with the fanning-out level not
/// keeping the inputs; small meshes that wrap; neighbour forwarding along X, Y or both; `same-stride` and `slide` levels;
/// the presets with those capabilities), and on the way to each mapping every bound the search takes (the inner bound,
/// the outer bound and the child bound it records; the imperfect search's path bounds) is at most the mapping's cost in
/// each order of its spatial loops. <see cref="SharedWindowBoundTests.ListedPlansBoundEveryVariantOfTheirClass"/> aims
/// the same way at the Timeloop convention's outer bound on eyeriss-like machines; these take the other paths.
/// </summary>
[TestClass]
public sealed class AimedBoundTests
{
    private static readonly string[] WindowRanks = ["P", "Q", "R", "S"];

    /// <summary>A small window layer: a 1-D or 2-D convolution of stride 1 or 2.</summary>
    private static Einsum WindowLayer(int i, Random rng) => (i % 3) switch
    {
        0 => Layers.Conv1d($"a{i}", c: 1 + rng.Next(3), k: 2, p: 4 + 4 * rng.Next(2), r: 2 + rng.Next(3), stride: 1 + rng.Next(2)),
        1 => Layers.Conv2d($"a{i}", n: 1, c: 1 + rng.Next(2), k: 2, p: 2 + 2 * rng.Next(2), q: 2 + rng.Next(2), r: 2 + rng.Next(2), s: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
        _ => Layers.Conv1d($"a{i}", c: 2, k: 1 + rng.Next(2), p: 6 + 2 * rng.Next(2), r: 3, stride: 2),
    };

    /// <summary>An eyeriss-like machine (SearchTests.RoleSplit) with a small array, as a mesh when <paramref name="mesh"/> (which wraps when a plan's children outnumber a row).</summary>
    private static Architecture SmallArray(int i, Random rng, bool mesh)
    {
        var a = SearchTests.RoleSplit($"m{i}", glb: 8 + rng.Next(40), fanout: (2 + rng.Next(4), 1 + rng.Next(3)),
            spads: (1 + rng.Next(8), 1 + rng.Next(6), 1 + rng.Next(4)));
        if (!mesh) return a;
        return new Architecture(a.Name, a.Description, a.Levels.Select(l => l.Fanout.Size > 1
            ? l with { Fanout = new Fanout(l.Fanout.X, l.Fanout.Y, l.Fanout.Multicast, l.Fanout.SpatialReduction, l.Fanout.HopEnergy, Topology.Mesh) }
            : l), a.Compute, a.ClockGHz);
    }

    /// <summary>
    /// True when the mapping is of the aimed kind: some level splits a window rank across its fanout; when
    /// <paramref name="bypass"/>, that level also keeps no inputs (its children's tiles come whole from above or from a neighbour).
    /// </summary>
    private static bool Aimed(Einsum layer, Mapping m, bool bypass)
    {
        for (int d = 0; d < m.Levels.Count; d++)
        {
            var lm = m.Levels[d];
            if (!lm.Spatial.Any(l => WindowRanks.Contains(l.Rank.ToString()))) continue;
            if (!bypass) return true;
            if (d > 0 && !lm.Keep.Any(k => layer.Tensors.Single(t => t.Id == k).Role == TensorRole.Inputs)) return true;
        }
        return false;
    }

    /// <summary>
    /// Draws up to <paramref name="samples"/> aimed valid mappings (half of them with the inputs bypassing the split level)
    /// and checks every inner-first node's plain, outer and child bound on the way to each (on the listed plan of the
    /// mapping's class, as the search takes it) against the mapping's cost under <paramref name="convention"/> in each
    /// order of its spatial loops. Returns the ordered mappings compared.
    /// </summary>
    private static int CheckAimed(Random rng, Einsum layer, Architecture arch, CostConvention convention, int samples, List<string> failures)
    {
        // The model as TilingSearch makes it for energy: inner-first (orders deferred) but under the default model with window
        // capabilities, which the search takes outer-first, branching on orders.
        bool deferOrders = convention == CostConvention.Timeloop || !arch.HasWindowCapabilities;
        var model = new SearchModel(new MapProblem(layer, arch, Objective.Energy, Convention: convention), deferOrders);
        if (convention == CostConvention.Timeloop && !model.Problem.AnyFloored) return 0;
        var space = new Mapspace(layer, arch);
        var names = arch.Levels.Select(l => l.Name).ToList();
        var listed = model.SpatialPlans().ToList();
        // With a same-stride window and no forwarding, an EDP or capped search bounds each plan's energy by the inner-first
        // energy twin (TilingSearch's PlanTwins): its bounds are checked too.
        var twin = convention == CostConvention.Default && arch.HasWindowCapabilities && !arch.HasForwarding
            ? new SearchModel(new MapProblem(layer, arch, Objective.Energy), deferOrders: true) : null;
        var twinListed = twin?.SpatialPlans().ToList();
        int compared = 0, tries = 0;
        for (int j = 0; j < samples && tries < 4000; tries++)
        {
            if (!space.TrySampleValid(rng, 200, out var mapping, outerBias: 0.5)) break;
            if (!Aimed(layer, mapping, bypass: j % 2 == 0)) continue;
            j++;
            var own = SharedWindowBoundTests.SplitOf(model, mapping);
            bool Is(SpatialPlan p) => Enumerable.Range(0, model.Levels).All(d => p.X[d].SequenceEqual(own.X[d]) && p.Y[d].SequenceEqual(own.Y[d]));
            var plan = listed.FirstOrDefault(p => Is(p) || p.Variants.Any(Is));
            if (plan is null) continue; // a split the search does not take
            var bounds = (deferOrders ? SearchTests.BoundsOnTheWay(model, layer, mapping, plan: plan).Bounds : OuterFirstBoundsOnTheWay(model, layer, mapping, plan))
                .Select(b => (Model: deferOrders ? "inner-first" : "outer-first", b.Level, b.Plain, b.Outer, b.Child)).ToList();
            if (twinListed?.FirstOrDefault(p => Is(p) || p.Variants.Any(Is)) is { } twinPlan)
                bounds.AddRange(SearchTests.BoundsOnTheWay(twin!, layer, mapping, plan: twinPlan).Bounds.Select(b => (Model: "energy twin", b.Level, b.Plain, b.Outer, b.Child)));
            foreach (var ordered in Mapspace.SpatialOrders(mapping))
            {
                double cost;
                if (convention == CostConvention.Timeloop)
                {
                    if (Optimizer.Formulation.Specs.TimeloopMapping.Inexpressible(ordered, arch) is not null) continue;
                    cost = TimeloopConvention.Evaluate(layer, arch, ordered).Energy;
                }
                else cost = CostModel.Evaluate(layer, arch, ordered).Energy;
                foreach (var (modelName, d, plain, outer, child) in bounds)
                    foreach (var (what, value) in new[] { ("plain", plain), ("outer", outer), ("child", child ?? 0) })
                        if (value > cost * (1 + 1e-9))
                            failures.Add($"{convention} {layer} [{string.Join(" ", layer.Ranks.Select(r => r.Id + "=" + r.Bound))}] on {arch.Name} ({Describe(arch)}), {modelName} {what} bound at level {d}: {value:R} above {cost:R} of {ordered.ToCompactString(names)}");
                compared++;
            }
        }
        return compared;
    }

    /// <summary>
    /// The outer-first search's bounds on the way to a mapping (TilingSearch's <c>Descend</c>): from DRAM inward, each level's
    /// keep set as the mapping has it, the node's lower bound with the levels above decided, then the level's loops in the
    /// mapping's order; as (level, bound, bound, null) to match <see cref="SearchTests.BoundsOnTheWay"/>'s records.
    /// </summary>
    private static List<(int Level, double Plain, double Outer, double? Child)> OuterFirstBoundsOnTheWay(SearchModel model, Einsum layer, Mapping mapping, SpatialPlan plan)
    {
        var bounds = new List<(int, double, double, double?)>();
        var s = new State(model, plan);
        var ids = layer.Tensors.Select(t => t.Id).ToArray();
        bounds.Add((model.Levels, model.LowerBound(s, 0, keepDecidedAt: 0), model.LowerBound(s, 0, keepDecidedAt: 0), null));
        for (int d = 0; d < model.Levels; d++)
        {
            var lm = mapping.Levels[d];
            s.Keep[d] = d == 0 ? (1 << model.TensorCount) - 1 : Enumerable.Range(0, ids.Length).Where(i => lm.Keep.Contains(ids[i])).Sum(i => 1 << i);
            double b = model.LowerBound(s, d, keepDecidedAt: d);
            bounds.Add((d, b, b, null));
            var temporal = model.RankIds.Select(id => (int)lm.TemporalFactor(id)).ToArray();
            s.Apply(d, new LevelChoice(temporal, lm.Temporal.Select(l => Array.IndexOf(model.RankIds, l.Rank)).ToArray(), plan.X[d], plan.Y[d]));
            // DRAM's loops decided, no keep set below it yet: the bound the search sorts DRAM's choices by.
            if (d == 0 && model.Levels > 1) { double r = model.LowerBound(s, 1, keepDecidedAt: 0); bounds.Add((model.Levels, r, r, null)); }
        }
        return bounds;
    }

    private static string Describe(Architecture arch) => string.Join("; ", arch.Levels.Select(l =>
        $"{l.Name} {l.Capacity?.ToString() ?? "-"}{(l.Window == WindowReuse.SameStride ? " same-stride" : "")}{(l.Fanout.Size > 1 ? $" fan {l.Fanout.X}x{l.Fanout.Y} {l.Fanout.Topology} fwd {l.Fanout.Forwarding}" : "")}"));

    private static readonly Forwarding[] Forwardings = [Forwarding.None, Forwarding.X, Forwarding.Y, Forwarding.XY];

    /// <summary>
    /// The default model with the architecture's window capabilities: every level below DRAM `slide` or `same-stride`, the
    /// fanouts forwarding along none, X, Y or both; on eyeriss-like machines with small arrays (buses and wrapping meshes),
    /// on Row8 and on the presets. Every inner-first node's inner, outer and child bound on the way to an aimed mapping is
    /// at most the default model's energy of the mapping in each order of its spatial loops.
    /// </summary>
    [TestMethod]
    public void DefaultConventionBoundsHoldOnAimedMappingsWithWindowCapabilities() => RunAimed(new Random(1414_2), CostConvention.Default, 96,
        (i, rng) => WindowCapabilityTests.With(SmallArray(i, rng, mesh: i % 4 >= 2), i % 2 == 0 ? WindowReuse.SameStride : WindowReuse.Slide, Forwardings[(i / 2) % 4]),
        (preset, v) => WindowCapabilityTests.With(preset, v % 2 == 0 ? WindowReuse.SameStride : WindowReuse.Slide, Forwardings[v]), 4,
        WindowCapabilityTests.Row8(Forwarding.None), 2500);

    /// <summary>
    /// The Timeloop convention on the machines the listed-plan test does not draw: small arrays as wrapping meshes, the
    /// presets (with their capabilities as given and with forwarding switched on) and Row8. Every inner-first node's inner,
    /// outer and child bound on the way to an aimed mapping is at most Timeloop's energy of the mapping in each
    /// expressible order of its spatial loops.
    /// </summary>
    [TestMethod]
    public void TimeloopConventionBoundsHoldOnAimedMappingsOfMeshesAndPresets() => RunAimed(new Random(1414_3), CostConvention.Timeloop, 96,
        (i, rng) => SmallArray(i, rng, mesh: true),
        (preset, v) => v == 0 ? preset : WindowCapabilityTests.With(preset, WindowReuse.Slide, Forwardings[v]), 3,
        WindowCapabilityTests.Row8(Forwarding.XY), 2500);

    /// <summary>
    /// <paramref name="cases"/> random window layers on the small machines <paramref name="small"/> makes, then on each preset
    /// and <paramref name="row8"/> in <paramref name="variants"/> variants: <see cref="CheckAimed"/> under
    /// <paramref name="convention"/>, no failure and at least <paramref name="least"/> ordered mappings compared.
    /// </summary>
    private static void RunAimed(Random rng, CostConvention convention, int cases, Func<int, Random, Architecture> small,
        Func<Architecture, int, Architecture> variant, int variants, Architecture row8, int least)
    {
        var failures = new List<string>();
        int compared = 0;
        for (int i = 0; i < cases; i++)
            compared += CheckAimed(rng, WindowLayer(i, rng), small(i, rng), convention, 30, failures);
        foreach (var preset in Presets.All.Append(row8))
            for (int v = 0; v < variants; v++)
                compared += CheckAimed(rng, WindowLayer(v, rng), variant(preset, v), convention, 16, failures);
        Console.WriteLine($"{compared} ordered mappings compared");
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures.Take(6)));
        Assert.IsGreaterThanOrEqualTo(least, compared);
    }

    /// <summary>
    /// The imperfect search's bounds along a mapping's path (<see cref="ImperfectSearch.PathBounds"/>: the plan's root, then
    /// each level from the innermost outward) on aimed imperfect mappings of window layers, on small arrays (buses, wrapping
    /// meshes, a DRAM-level mesh of two nodes): each is at most the default model's energy of the mapping (imperfect
    /// factors) in each order of its spatial loops. (The default model counts `same-stride` and forwarding for perfect
    /// factors only, so the machines have neither.)
    /// </summary>
    [TestMethod]
    public void ImperfectPathBoundsHoldOnAimedMappingsOfMeshes()
    {
        var rng = new Random(1414_4);
        var failures = new List<string>();
        int compared = 0;
        for (int i = 0; i < 24; i++)
        {
            var layer = (i % 2) switch
            {
                0 => Layers.Conv1d($"i{i}", c: 1 + rng.Next(3), k: 1 + rng.Next(3), p: 3 + rng.Next(6), r: 2 + rng.Next(2), stride: 1 + rng.Next(2)),
                _ => Layers.Conv2d($"i{i}", n: 1, c: 1 + rng.Next(2), k: 1 + rng.Next(2), p: 2 + rng.Next(3), q: 2 + rng.Next(2), r: 2, s: 1 + rng.Next(2), stride: 1 + rng.Next(2)),
            };
            // The default model counts window capabilities for perfect factors only, so the machines here have none.
            var arch = i % 3 == 2 ? TestMappings.RandomSmall(rng, $"r{i}", 24, mesh: true) : SmallArray(i, rng, mesh: i % 3 == 1);
            var search = new ImperfectSearch(new MapProblem(layer, arch, Objective.Energy), seed: false);
            var space = new Mapspace(layer, arch);
            var names = arch.Levels.Select(l => l.Name).ToList();
            int drawn = 0;
            for (int tries = 0; drawn < 30 && tries < 3000; tries++)
            {
                if (!space.TrySampleValid(rng, 500, out var m, factorization: Factorization.Imperfect)) break;
                if (!Aimed(layer, m, bypass: drawn % 2 == 0)) continue;
                drawn++;
                if (search.PathBounds(m) is not { } path) continue;
                foreach (var ordered in Mapspace.SpatialOrders(m))
                {
                    double energy = CostModel.Evaluate(layer, arch, ordered, Factorization.Imperfect).Energy;
                    foreach (var (level, bound) in path)
                        if (bound > energy * (1 + 1e-9))
                            failures.Add($"{layer} [{string.Join(" ", layer.Ranks.Select(r => r.Id + "=" + r.Bound))}] on {arch.Name} ({Describe(arch)}): path bound at level {level} {bound:R} above {energy:R} of {ordered.ToCompactString(names)}");
                    compared++;
                }
            }
        }
        Console.WriteLine($"{compared} ordered imperfect mappings compared");
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures.Take(6)));
        Assert.IsGreaterThanOrEqualTo(500, compared);
    }
}
