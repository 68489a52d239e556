using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>How the layers of a segment share the node array (docs/network.md).</summary>
public enum SegmentLayout
{
    /// <summary>One after another, each on every node; intermediates stay in the node buffers when they fit.</summary>
    Sequential,
    /// <summary>Side by side on disjoint regions, running concurrently over the passes; intermediates go node to node.</summary>
    Pipelined,
}

/// <summary>
/// A segment of a whole-network plan: the consecutive layers <c>First..Last</c> (workload order), their
/// layout, the number of passes the batch is split into (1 unless pipelined), and one node region per
/// layer (the whole array for a sequential segment).
/// </summary>
public sealed record NetworkSegment(int First, int Last, SegmentLayout Layout, int Passes, IReadOnlyList<NodeRegion> Regions)
{
    /// <summary>The number of layers.</summary>
    public int Count => Last - First + 1;

    /// <summary>The region of workload layer <paramref name="layer"/>.</summary>
    public NodeRegion RegionOf(int layer) => Regions[layer - First];

    /// <summary>A short text naming the segment exactly (layers, layout, passes, regions).</summary>
    public string Key => $"{First}-{Last}:{Layout}:{Passes}:{string.Join(";", Regions)}";
}

/// <summary>One layer of a plan: the Einsum it runs in one pass (the batch rank divided by the passes), the architecture of its region, and its mapping.</summary>
public sealed record NetworkLayer(Einsum Layer, Architecture Arch, Mapping Mapping);

/// <summary>
/// A whole-network plan: segments covering the layers in order, and one <see cref="NetworkLayer"/> per
/// workload layer (<see cref="NetworkModel.Check"/> says whether it is legal).
/// </summary>
public sealed record NetworkPlan(IReadOnlyList<NetworkSegment> Segments, IReadOnlyList<NetworkLayer> Layers);

/// <summary>
/// One layer's cost in a plan. <see cref="Report"/> is the cost model's report of its mapping on its
/// region for one pass. The first pass costs that report with the on-chip intermediates' DRAM traffic
/// replaced by node-buffer accesses and mesh hops; every later pass also reads its resident operands
/// (weights kept in the region's buffers across passes) from the buffers instead of DRAM
/// (docs/network.md). With one pass, first pass and later passes are the same thing.
/// </summary>
public sealed record NetworkLayerCost(
    int Index,
    Einsum Layer,
    NodeRegion Region,
    int Passes,
    CostReport Report,
    double FirstPassEnergy,
    long FirstPassCycles,
    double EnergyPerPass,
    long CyclesPerPass,
    long DramReads,
    long DramWrites,
    IReadOnlyList<TensorId> OnChipInputs,
    IReadOnlyList<TensorId> OnChipOutputs,
    IReadOnlyList<TensorId> Resident)
{
    /// <summary>Energy over all passes, in pJ.</summary>
    public double Energy => FirstPassEnergy + (Passes - 1) * EnergyPerPass;
    /// <summary>The cycles the layer is busy over all passes.</summary>
    public long Cycles => checked(FirstPassCycles + (Passes - 1) * CyclesPerPass);
}

/// <summary>One segment's cost: its layers, energy, latency and what bounds the latency.</summary>
public sealed record NetworkSegmentCost(NetworkSegment Segment, IReadOnlyList<NetworkLayerCost> Layers, double Energy, long Cycles, string BoundBy);

/// <summary>A whole plan's cost: segments run one after another, so energies and latencies add.</summary>
public sealed record NetworkCostReport(IReadOnlyList<NetworkSegmentCost> Segments)
{
    /// <summary>Total energy in pJ.</summary>
    public double Energy => Segments.Sum(s => s.Energy);
    /// <summary>Total latency in cycles.</summary>
    public long Cycles => Segments.Aggregate(0L, (a, s) => checked(a + s.Cycles));
    /// <summary>Energy times latency.</summary>
    public double Edp => Energy * Cycles;
    /// <summary>The value of an objective.</summary>
    public double Objective(Objective objective) => FusionCost.Combine(objective, Energy, Cycles);
    /// <summary>Every layer's cost, in layer order.</summary>
    public IEnumerable<NetworkLayerCost> Layers => Segments.SelectMany(s => s.Layers);
}

/// <summary>
/// The whole-network cost model of docs/network.md: which intermediates stay on chip, what they cost
/// instead of DRAM, and how a segment's latency follows from its layers'. A model: what it leaves out is
/// listed there.
/// </summary>
public static class NetworkModel
{
    /// <summary>
    /// The rank a pipelined segment splits into passes: the rank of the output's first dimension (the
    /// batch in every zoo network); null when the output has no dimension.
    /// </summary>
    public static RankId? PipelineRank(Einsum e) => e.Output.Dims.Count > 0 ? e.Output.Dims[0].Terms[0].Rank : null;

    /// <summary>The Einsum one pass runs: the pipeline rank's bound divided by <paramref name="passes"/> (which must divide it).</summary>
    public static Einsum PerPass(Einsum e, int passes)
    {
        if (passes == 1) return e;
        var rank = PipelineRank(e) ?? throw new ArgumentException($"Layer {e.Name} has no rank to split into passes.", nameof(e));
        int bound = e.Bound(rank);
        if (passes < 1 || bound % passes != 0)
            throw new ArgumentException($"{passes} passes do not divide rank {rank} (bound {bound}) of layer {e.Name}.", nameof(passes));
        return new Einsum(e.Name, e.Kind, e.Ranks.Select(r => r.Id == rank ? new Rank(r.Id, bound / passes) : r), e.Tensors);
    }

    /// <summary>
    /// The pass counts a pipelined segment of layers <c>first..last</c> may use: 1, and the powers of two
    /// up to <paramref name="maxPasses"/> that divide every layer's pipeline rank, when every
    /// intermediate between two of its layers is read with that rank as its first (plain) index.
    /// </summary>
    public static IReadOnlyList<int> PassOptions(Workload w, int first, int last, int maxPasses)
    {
        var options = new List<int> { 1 };
        int common = 0;
        for (int i = first; i <= last; i++)
        {
            if (PipelineRank(w.Layers[i]) is not { } r) return options;
            common = (int)Divisibility.Gcd(common, w.Layers[i].Bound(r));
        }
        foreach (var (p, c, tensor) in Intermediates(w, first, last))
        {
            var read = w.Layers[c].FindTensor(tensor)!;
            if (read.Dims.Count == 0 || read.Dims[0].Terms.Count != 1 || read.Dims[0].Terms[0].Coefficient != 1
                || read.Dims[0].Terms[0].Rank != PipelineRank(w.Layers[c])) return options;
        }
        for (int passes = 2; passes <= maxPasses && common % passes == 0; passes *= 2) options.Add(passes);
        return options;
    }

    /// <summary>The edges (producer index, consumer index, tensor) with both ends in <c>first..last</c>, in producer then consumer order.</summary>
    private static IEnumerable<(int Producer, int Consumer, TensorId Tensor)> Intermediates(Workload w, int first, int last)
    {
        for (int p = first; p <= last; p++)
            foreach (var c in Consumers(w, p))
                if (c >= first && c <= last) yield return (p, c, w.Layers[p].Output.Id);
    }

    /// <summary>The indices of the layers that read layer <paramref name="p"/>'s output, in order.</summary>
    public static IReadOnlyList<int> Consumers(Workload w, int p)
    {
        var output = w.Layers[p].Output.Id;
        var list = new List<int>();
        for (int c = p + 1; c < w.Layers.Count; c++)
            if (w.Layers[c].Tensors.Any(t => !t.IsOutput && t.Id == output)) list.Add(c);
        return list;
    }

    /// <summary>Every rule the plan breaks, as messages; empty when it is legal (docs/network.md, "A plan").</summary>
    public static IReadOnlyList<string> Check(Workload w, Architecture arch, NetworkPlan plan)
    {
        var v = new List<string>();
        if (NodeArray.Mesh(arch) is null)
        {
            v.Add($"Architecture {arch.Name} has no node mesh: its outermost level's fanout is not a mesh of several nodes.");
            return v;
        }
        var whole = NodeArray.Whole(arch);
        if (plan.Layers.Count != w.Layers.Count) v.Add($"The plan has {plan.Layers.Count} layers but workload {w.Name} has {w.Layers.Count}.");
        int next = 0;
        foreach (var s in plan.Segments)
        {
            string name = $"Segment {s.First}-{s.Last}";
            if (s.First != next || s.Last < s.First || s.Last >= w.Layers.Count) { v.Add($"{name} does not start where the previous one ended (layer {next}) or runs past the last layer."); break; }
            next = s.Last + 1;
            if (s.Regions.Count != s.Count) { v.Add($"{name} has {s.Regions.Count} regions for {s.Count} layers."); continue; }
            if (s.Layout == SegmentLayout.Sequential)
            {
                if (s.Passes != 1) v.Add($"{name} is sequential but has {s.Passes} passes (only a pipelined segment splits the batch).");
                if (s.Regions.Any(r => r != whole)) v.Add($"{name} is sequential, so every layer runs on the whole array {whole}.");
            }
            else
            {
                if (s.Count < 2) v.Add($"{name} is pipelined but has one layer.");
                if (!PassOptions(w, s.First, s.Last, s.Passes).Contains(s.Passes)) v.Add($"{name} cannot be split into {s.Passes} passes.");
                for (int a = 0; a < s.Count; a++)
                {
                    if (!s.Regions[a].IsInside(whole)) v.Add($"{name}: region {s.Regions[a]} is not inside the array {whole}.");
                    for (int b = a + 1; b < s.Count; b++)
                        if (s.Regions[a].Overlaps(s.Regions[b])) v.Add($"{name}: regions {s.Regions[a]} and {s.Regions[b]} overlap.");
                }
            }
            for (int i = s.First; i <= Math.Min(s.Last, plan.Layers.Count - 1); i++)
            {
                var layer = plan.Layers[i];
                var region = s.RegionOf(i);
                var expected = s.Passes == 1 || PassOptions(w, s.First, s.Last, s.Passes).Contains(s.Passes) ? PerPass(w.Layers[i], s.Passes) : w.Layers[i];
                if (layer.Layer.Name != w.Layers[i].Name || Zoo.ShapeKey(layer.Layer) != Zoo.ShapeKey(expected))
                    v.Add($"Layer {i} of the plan is {layer.Layer.Name} ({layer.Layer}), not {w.Layers[i].Name} split into {s.Passes} passes ({expected}).");
                var fan = layer.Arch.Levels[0].Fanout;
                if (layer.Arch.Levels.Count != arch.Levels.Count || fan.X != region.Cols || fan.Y != region.Rows)
                    v.Add($"Layer {w.Layers[i].Name} runs on {layer.Arch.Name}, which is not {arch.Name} on region {region}.");
                foreach (var violation in ValidityChecker.Check(layer.Layer, layer.Arch, layer.Mapping))
                    v.Add($"Layer {w.Layers[i].Name}: {violation.Message}");
            }
        }
        if (next != w.Layers.Count) v.Add($"The segments cover layers 0-{next - 1}, not all {w.Layers.Count}.");
        return v;
    }

    /// <summary>Checks and costs a plan; throws <see cref="InvalidOperationException"/> when it breaks a rule.</summary>
    public static NetworkCostReport Evaluate(Workload w, Architecture arch, NetworkPlan plan)
    {
        var violations = Check(w, arch, plan);
        if (violations.Count > 0)
            throw new InvalidOperationException($"Only a legal plan is costed; this one breaks {violations.Count} rule(s), first: {violations[0]}");
        return new NetworkCostReport(plan.Segments.Select(s => Segment(w, arch, s,
            Enumerable.Range(s.First, s.Count).Select(i => (plan.Layers[i].Layer, CostModel.Evaluate(plan.Layers[i].Layer, plan.Layers[i].Arch, plan.Layers[i].Mapping))).ToList())).ToList());
    }

    /// <summary>
    /// One segment's cost from its layers' per-pass Einsums and cost reports (one per layer, in order):
    /// decides which intermediates stay on chip, adjusts every layer's energy and cycles, and combines
    /// them into the segment's energy and latency (docs/network.md).
    /// </summary>
    public static NetworkSegmentCost Segment(Workload w, Architecture arch, NetworkSegment s, IReadOnlyList<(Einsum Layer, CostReport Report)> layers)
    {
        if (layers.Count != s.Count || s.Regions.Count != s.Count)
            throw new ArgumentException($"Segment {s.First}-{s.Last} has {s.Count} layers but {layers.Count} reports and {s.Regions.Count} regions were given.", nameof(layers));
        var store = arch.Levels[1];
        bool pipelined = s.Layout == SegmentLayout.Pipelined;
        int n = s.Count;

        // Room in the node buffers beside each layer's own working set, over its region.
        var free = new double[n];
        var used = new double[n];
        for (int j = 0; j < n; j++)
            free[j] = store.Capacity is { } cap
                ? (double)s.Regions[j].Nodes * Math.Max(0, cap - layers[j].Report.Levels[1].WordsHeld)
                : double.PositiveInfinity;

        // An output stays on chip when every reader is in the segment and it fits, decided in producer order.
        var onChip = new Dictionary<TensorId, IReadOnlyList<int>>();
        for (int p = s.First; p <= s.Last; p++)
        {
            var readers = Consumers(w, p);
            if (readers.Count == 0 || readers.Any(c => c > s.Last)) continue;
            var tensor = w.Layers[p].Output.Id;
            if (pipelined)
            {
                // Each reader's region holds one pass of it, twice when there are several passes (double buffering).
                var need = readers.Select(c => (double)layers[c - s.First].Layer.TensorWords(layers[c - s.First].Layer.FindTensor(tensor)!) * (s.Passes > 1 ? 2 : 1)).ToList();
                if (readers.Where((c, k) => used[c - s.First] + need[k] > free[c - s.First]).Any()) continue;
                for (int k = 0; k < readers.Count; k++) used[readers[k] - s.First] += need[k];
            }
            else
            {
                // The whole tensor stays in the buffers of all nodes from its producer to its last reader.
                double words = layers[p - s.First].Layer.TensorWords(layers[p - s.First].Layer.Output);
                int last = readers[^1] - s.First;
                if (Enumerable.Range(p - s.First, last - (p - s.First) + 1).Any(j => used[j] + words > free[j])) continue;
                for (int j = p - s.First; j <= last; j++) used[j] += words;
            }
            onChip[tensor] = readers;
        }

        // With several passes, an operand the passes share (not indexed by the pipeline rank: the weights)
        // stays in the region's buffers after the first pass when it fits beside everything else.
        var resident = new List<TensorId>[n];
        for (int j = 0; j < n; j++)
        {
            resident[j] = [];
            if (!pipelined || s.Passes == 1) continue;
            var layer = layers[j].Layer;
            var rank = PipelineRank(layer);
            foreach (var t in layer.Tensors.Where(t => !t.IsOutput && !onChip.ContainsKey(t.Id) && (rank is null || !t.IsIndexedBy(rank.Value))))
            {
                double words = layer.TensorWords(t);
                if (used[j] + words > free[j]) continue;
                used[j] += words;
                resident[j].Add(t.Id);
            }
        }

        var costs = new List<NetworkLayerCost>();
        for (int j = 0; j < n; j++)
        {
            var (layer, r) = layers[j];
            var region = s.Regions[j];
            var inputs = layer.Tensors.Where(t => !t.IsOutput && onChip.ContainsKey(t.Id)).Select(t => t.Id).ToList();
            var outputs = onChip.ContainsKey(layer.Output.Id) ? new List<TensorId> { layer.Output.Id } : [];
            // Where a tensor served from the node buffers comes from or goes to: an output to its readers'
            // regions (one copy each when pipelined), anything else within the layer's own region.
            double Hops(TensorId t) => outputs.Contains(t) && pipelined ? onChip[t].Sum(c => NodeRegion.MeanHops(region, s.RegionOf(c))) : NodeRegion.MeanHops(region, region);
            int Copies(TensorId t) => outputs.Contains(t) && pipelined ? onChip[t].Count : 1;
            var first = FromBuffers(arch, r, [.. inputs, .. outputs], Hops, Copies);
            var later = resident[j].Count == 0 ? first : FromBuffers(arch, r, [.. inputs, .. outputs, .. resident[j]], Hops, Copies);
            int more = s.Passes - 1;
            costs.Add(new NetworkLayerCost(s.First + j, layer, region, s.Passes, r, first.Energy, first.Cycles, later.Energy, later.Cycles,
                checked(first.DramReads + more * later.DramReads), checked(first.DramWrites + more * later.DramWrites), inputs, outputs, resident[j]));
        }

        double segmentEnergy = costs.Sum(c => c.Energy);
        if (!pipelined)
            return new NetworkSegmentCost(s, costs, segmentEnergy, costs.Aggregate(0L, (a, c) => checked(a + c.Cycles)), "layers one after another");
        // Pipelined: the first pass goes through the stages along the longest chain of dependencies
        // (stages that do not depend on each other run at the same time on their regions), then one pass
        // leaves every slowest-stage time; all stages share DRAM's bandwidth.
        var finish = new long[n];
        for (int j = 0; j < n; j++)
        {
            var operands = layers[j].Layer.Tensors.Where(t => !t.IsOutput).Select(t => t.Id).ToHashSet();
            long start = 0;
            for (int p = 0; p < j; p++)
                if (operands.Contains(layers[p].Layer.Output.Id)) start = Math.Max(start, finish[p]);
            finish[j] = checked(start + costs[j].FirstPassCycles);
        }
        long pipeline = checked(finish.Max() + (s.Passes - 1) * costs.Max(c => c.CyclesPerPass));
        var dram = arch.Levels[0];
        long shared = Counts.BandwidthCycles(dram, costs.Sum(c => c.DramReads), costs.Sum(c => c.DramWrites));
        return shared > pipeline
            ? new NetworkSegmentCost(s, costs, segmentEnergy, shared, $"{dram.Name} bandwidth shared by the stages")
            : new NetworkSegmentCost(s, costs, segmentEnergy, pipeline, s.Passes > 1 ? "pipeline: first pass, then the slowest stage" : "one pass along the longest chain of stages");
    }

    /// <summary>One pass of a layer with some tensors served by the node buffers instead of DRAM.</summary>
    private readonly record struct PassCost(double Energy, long Cycles, long DramReads, long DramWrites);

    /// <summary>
    /// A report with DRAM's accesses of <paramref name="fromBuffers"/> charged at the node buffers'
    /// energies (times <paramref name="copies"/>), and the words they moved charged
    /// <paramref name="hops"/> mesh hops each instead of the report's mesh term; cycles recomputed from
    /// what DRAM still serves.
    /// </summary>
    private static PassCost FromBuffers(Architecture arch, CostReport r, IReadOnlyList<TensorId> fromBuffers, Func<TensorId, double> hops, Func<TensorId, int> copies)
    {
        var store = arch.Levels[1];
        double hopEnergy = arch.Levels[0].Fanout.HopEnergy;
        double energy = r.Energy;
        var kept = new List<TensorLevelCost>();
        long reads = 0, writes = 0;
        foreach (var t in r.Tensors)
        {
            if (t.LevelIndex != 0 || !fromBuffers.Contains(t.Tensor))
            {
                kept.Add(t);
                if (t.LevelIndex == 0) { reads = checked(reads + t.TotalReads); writes = checked(writes + t.TotalFills + t.TotalUpdates); }
                continue;
            }
            long words = checked((t.Reads + t.Updates) * t.InstancesUsed);
            double buffers = copies(t.Tensor) * t.InstancesUsed * Counts.AccessEnergy(store, t.Reads, t.Fills, t.Updates);
            energy += buffers + words * hops(t.Tensor) * hopEnergy - t.Energy;
        }
        foreach (var net in r.Network)
            if (net.LevelIndex == 0 && fromBuffers.Contains(net.Tensor)) energy -= net.Energy;
        return new PassCost(energy, FusionCost.Cycles(arch, r.ComputeCycles, kept), reads, writes);
    }
}
