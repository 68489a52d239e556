using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// One fused group: the consecutive layers <c>First..Last</c> (workload order) that share the first
/// <c>SharedLoops</c> temporal loops of DRAM (level 0); each intermediate between two consecutive
/// members stays in the fusion level (docs/fusion.md). A group of one layer is an unfused layer.
/// </summary>
public sealed record FusedGroup
{
    /// <summary>Index of the first layer of the group in the workload's layer order.</summary>
    public int First { get; }
    /// <summary>Index of the last layer of the group.</summary>
    public int Last { get; }
    /// <summary>How many outermost DRAM loops every member shares; 0 for a group of one layer.</summary>
    public int SharedLoops { get; }

    /// <summary>Creates a group; <paramref name="last"/> is at least <paramref name="first"/>.</summary>
    public FusedGroup(int first, int last, int sharedLoops)
    {
        First = (int)Check.AtLeast(first, 0, nameof(first), "The first layer of a group");
        Last = (int)Check.AtLeast(last, first, nameof(last), "The last layer of a group");
        SharedLoops = (int)Check.AtLeast(sharedLoops, 0, nameof(sharedLoops), "The number of shared loops");
    }

    /// <summary>The number of layers in the group.</summary>
    public int Count => Last - First + 1;
}

/// <summary>
/// A fused mapping of a whole workload: its groups (covering every layer once, in order) and one
/// ordinary <see cref="Mapping"/> per layer, whose first DRAM loops are its group's shared loops.
/// </summary>
public sealed class FusedMapping
{
    /// <summary>The groups, in layer order.</summary>
    public IReadOnlyList<FusedGroup> Groups { get; }
    /// <summary>One mapping per layer, in the workload's layer order.</summary>
    public IReadOnlyList<Mapping> Layers { get; }

    /// <summary>Creates a fused mapping (the checker says whether it is legal).</summary>
    public FusedMapping(IEnumerable<FusedGroup> groups, IEnumerable<Mapping> layers)
    {
        Groups = groups.ToList();
        Layers = layers.ToList();
        if (Groups.Count == 0) throw new ArgumentException("A fused mapping needs at least one group.", nameof(groups));
    }

    /// <summary>The group of a layer.</summary>
    public FusedGroup GroupOf(int layer) => Groups.First(g => g.First <= layer && layer <= g.Last);

    /// <summary>True when layer <paramref name="i"/>'s output stays on chip for layer i+1 (both in one group).</summary>
    public bool FusedAfter(int i) => Groups.Any(g => g.First <= i && i < g.Last);

    /// <summary>A canonical one-line text, used to break ties between equal costs.</summary>
    public string ToCompactString(Architecture arch)
        => string.Join(" | ", Groups.Select(g => $"[{string.Join(" ; ", Enumerable.Range(g.First, g.Count).Select(i => Layers[i].ToCompactString(arch.Levels.Select(l => l.Name).ToList())))}] shared {g.SharedLoops}"));
}

/// <summary>The rules of fusion a fused mapping can break (the per-layer rules are <see cref="Rule"/>).</summary>
public enum FusionRule
{
    /// <summary>The groups do not cover the layers once each, in order, or the mapping count differs.</summary>
    GroupCover,
    /// <summary>Two consecutive members are not a chain: the next does not read the previous one's output, or another layer reads it too.</summary>
    ChainEdge,
    /// <summary>No level can hold the intermediate (one instance, a role both layers may keep there).</summary>
    NoFusionLevel,
    /// <summary>The intermediate is not kept in the fusion level by both layers, or an outer on-chip level keeps it.</summary>
    IntermediatePlacement,
    /// <summary>The shared loops differ between two members (count, rank correspondence or factor), or a group of one layer declares shared loops.</summary>
    SharedLoops,
    /// <summary>A DRAM loop of a layer's own (below the shared ones) walks a rank of an on-chip intermediate, whose tile would then not be resident.</summary>
    OwnLoopOverIntermediate,
    /// <summary>A layer's own mapping breaks a rule of docs/cost-model.md (capacity, factors, fanout, keep).</summary>
    Layer,
}

/// <summary>One broken fusion rule, as data: the rule, the layer, the tensor and the level when they apply, and a message.</summary>
public sealed record FusionViolation(FusionRule Rule, string? Layer, string? Tensor, string? Level, long Needed, long Available, string Message)
{
    /// <inheritdoc/>
    public override string ToString() => Message;
}

/// <summary>Facts about a workload and an architecture that decide what may fuse (docs/fusion.md).</summary>
public static class FusionRules
{
    /// <summary>
    /// The intermediate between layers i and i+1 when they form a chain edge: layer i+1 reads layer i's
    /// output and no other layer does; null otherwise.
    /// </summary>
    public static TensorSpec? ChainTensor(Workload w, int i)
    {
        if (i < 0 || i + 1 >= w.Layers.Count) return null;
        var output = w.Layers[i].Output;
        var readers = w.Layers.Where(l => l.Tensors.Any(t => !t.IsOutput && t.Id == output.Id)).ToList();
        return readers.Count == 1 && ReferenceEquals(readers[0], w.Layers[i + 1]) ? output : null;
    }

    /// <summary>
    /// The level that holds the intermediate between layers i and i+1: the outermost on-chip level with
    /// one instance that may keep the tensor's role in both layers; null when the two cannot fuse.
    /// </summary>
    public static int? IntermediateLevel(Workload w, Architecture arch, int i)
    {
        var t = ChainTensor(w, i);
        if (t is null) return null;
        var consumerRole = w.Layers[i + 1].FindTensor(t.Id)!.Role;
        for (int l = 1; l < arch.Levels.Count; l++)
        {
            if (arch.InstancesOf(l) != 1) break;
            if (arch.Levels[l].MayKeep(t.Role) && arch.Levels[l].MayKeep(consumerRole)) return l;
        }
        return null;
    }

    /// <summary>
    /// The consumer's rank that walks the same dimension of the intermediate as the producer's rank
    /// <paramref name="producerRank"/>; null when that rank does not index the intermediate or the
    /// consumer's index there is not a plain rank of the same bound.
    /// </summary>
    public static RankId? ConsumerRank(Einsum producer, Einsum consumer, TensorId tensor, RankId producerRank)
    {
        var dims = producer.Output.Dims;
        int d = -1;
        for (int k = 0; k < dims.Count; k++) if (dims[k].Terms[0].Rank == producerRank) d = k;
        if (d < 0 || producer.Output.Id != tensor) return null;
        var read = consumer.FindTensor(tensor);
        if (read is null || read.Dims.Count != dims.Count) return null;
        var idx = read.Dims[d];
        if (idx.Terms.Count != 1 || idx.Terms[0].Coefficient != 1) return null;
        var r = idx.Terms[0].Rank;
        return consumer.Bound(r) == producer.Bound(producerRank) ? r : null;
    }
}

/// <summary>Decides whether a fused mapping is legal, reporting every violation as data.</summary>
public static class FusionChecker
{
    /// <summary>Every violation; empty when the fused mapping is valid.</summary>
    public static IReadOnlyList<FusionViolation> Check(Workload w, Architecture arch, FusedMapping fm)
    {
        var v = new List<FusionViolation>();
        int n = w.Layers.Count;
        int next = 0;
        foreach (var g in fm.Groups)
        {
            if (g.First != next)
                v.Add(new(FusionRule.GroupCover, null, null, null, next, g.First, $"Groups must cover the layers in order: a group starts at layer {g.First} where layer {next} was expected."));
            next = g.Last + 1;
        }
        if (next != n || fm.Layers.Count != n)
        {
            v.Add(new(FusionRule.GroupCover, null, null, null, n, Math.Max(next, fm.Layers.Count), $"The workload has {n} layers; the groups cover {next} and there are {fm.Layers.Count} mappings."));
            return v;
        }
        for (int i = 0; i < n; i++)
            foreach (var x in ValidityChecker.Check(w.Layers[i], arch, fm.Layers[i]))
                v.Add(new(FusionRule.Layer, w.Layers[i].Name, x.Tensor, x.Level, x.Needed, x.Available, $"Layer {w.Layers[i].Name}: {x.Message}"));
        if (v.Count > 0) return v;

        foreach (var g in fm.Groups)
        {
            if (g.Count == 1 && g.SharedLoops > 0)
                v.Add(new(FusionRule.SharedLoops, w.Layers[g.First].Name, null, null, 0, g.SharedLoops, $"Layer {w.Layers[g.First].Name} is alone in its group, so it shares no loops, but the group declares {g.SharedLoops}."));
            for (int i = g.First; i <= g.Last; i++)
            {
                var e = w.Layers[i];
                var dram = fm.Layers[i].Levels[0].Temporal;
                if (dram.Count < g.SharedLoops)
                {
                    v.Add(new(FusionRule.SharedLoops, e.Name, null, arch.Levels[0].Name, g.SharedLoops, dram.Count, $"Layer {e.Name} has {dram.Count} DRAM loops, fewer than the {g.SharedLoops} its group shares."));
                    continue;
                }
                var onChip = new List<TensorId>();
                if (i > g.First) onChip.Add(w.Layers[i - 1].Output.Id);
                if (i < g.Last) onChip.Add(e.Output.Id);
                foreach (var own in dram.Skip(g.SharedLoops))
                    foreach (var t in onChip)
                        if (own.Factor > 1 && e.FindTensor(t)!.IsIndexedBy(own.Rank))
                            v.Add(new(FusionRule.OwnLoopOverIntermediate, e.Name, t.Name, arch.Levels[0].Name, 1, own.Factor,
                                $"Layer {e.Name}: its own DRAM loop {own} walks {t}, which stays on chip; only the shared loops may step an on-chip intermediate."));
            }
            for (int i = g.First; i < g.Last; i++)
                CheckEdge(w, arch, fm, g, i, v);
        }
        return v;
    }

    private static void CheckEdge(Workload w, Architecture arch, FusedMapping fm, FusedGroup g, int i, List<FusionViolation> v)
    {
        var (p, c) = (w.Layers[i], w.Layers[i + 1]);
        var t = FusionRules.ChainTensor(w, i);
        if (t is null)
        {
            v.Add(new(FusionRule.ChainEdge, c.Name, p.Output.Id.Name, null, 0, 0,
                $"Layers {p.Name} and {c.Name} are in one group, but {c.Name} does not read {p.Output.Id} or another layer reads it too; a group is a chain."));
            return;
        }
        if (FusionRules.IntermediateLevel(w, arch, i) is not { } level)
        {
            v.Add(new(FusionRule.NoFusionLevel, c.Name, t.Id.Name, null, 0, 0,
                $"No on-chip level of {arch.Name} with one instance may keep {t.Id} as {t.Role} of {p.Name} and as {c.FindTensor(t.Id)!.Role} of {c.Name}."));
            return;
        }
        foreach (var (e, m) in new[] { (p, fm.Layers[i]), (c, fm.Layers[i + 1]) })
        {
            if (!m.Levels[level].Keep.Contains(t.Id))
                v.Add(new(FusionRule.IntermediatePlacement, e.Name, t.Id.Name, arch.Levels[level].Name, 1, 0,
                    $"Layer {e.Name}: the intermediate {t.Id} lives in {arch.Levels[level].Name}, which must keep it."));
            for (int l = 1; l < level; l++)
                if (m.Levels[l].Keep.Contains(t.Id))
                    v.Add(new(FusionRule.IntermediatePlacement, e.Name, t.Id.Name, arch.Levels[l].Name, 0, 1,
                        $"Layer {e.Name}: {arch.Levels[l].Name} keeps {t.Id}, above its fusion level {arch.Levels[level].Name}."));
        }
        var (pl, cl) = (fm.Layers[i].Levels[0].Temporal, fm.Layers[i + 1].Levels[0].Temporal);
        for (int j = 0; j < g.SharedLoops && j < pl.Count && j < cl.Count; j++)
        {
            var want = FusionRules.ConsumerRank(p, c, t.Id, pl[j].Rank);
            if (want is null || want != cl[j].Rank || pl[j].Factor != cl[j].Factor)
                v.Add(new(FusionRule.SharedLoops, c.Name, t.Id.Name, arch.Levels[0].Name, pl[j].Factor, cl[j].Factor,
                    $"Shared loop {j + 1}: {p.Name} has {pl[j]} and {c.Name} has {cl[j]}, but the consumer's loop must walk the same dimension of {t.Id} ({(want is null ? "none does" : want.ToString())}) with the same factor."));
        }
    }
}

/// <summary>The cost of one layer inside a fused mapping: its own report and what fusion removes from it.</summary>
public sealed record FusedLayerCost(
    string Layer,
    CostReport Report,
    double Energy,
    long Cycles,
    double RemovedEnergy,
    IReadOnlyList<TensorLevelCost> Tensors);

/// <summary>The cost of a fused mapping: per layer, and in total (energy summed, cycles summed).</summary>
public sealed record FusedCostReport(IReadOnlyList<FusedLayerCost> Layers)
{
    /// <summary>Total energy in pJ.</summary>
    public double Energy => Layers.Sum(l => l.Energy);
    /// <summary>Total cycles: the layers run one after the other.</summary>
    public long Cycles => Layers.Sum(l => l.Cycles);
    /// <summary>Energy times cycles.</summary>
    public double Edp => Energy * Cycles;

    /// <summary>The energy of the layers of one group (of this mapping's groups or another's over the same layers), in pJ.</summary>
    public double EnergyOf(FusedGroup g) => Layers.Skip(g.First).Take(g.Count).Sum(l => l.Energy);

    /// <summary>The value of an objective.</summary>
    public double Objective(Objective objective) => FusionCost.Combine(objective, Energy, Cycles);
}

/// <summary>
/// The cost of fused mappings (docs/fusion.md): each layer's ordinary cost (docs/cost-model.md) with the
/// traffic of its on-chip intermediates to and from DRAM taken out.
/// </summary>
public static class FusionCost
{
    /// <summary>
    /// Evaluates a valid fused mapping, each layer counted under <paramref name="convention"/> (the default model, or
    /// Timeloop's counts) with fusion's removals; throws <see cref="InvalidOperationException"/> when it is not valid.
    /// </summary>
    public static FusedCostReport Evaluate(Workload w, Architecture arch, FusedMapping fm, CostConvention convention = CostConvention.Default)
    {
        var violations = FusionChecker.Check(w, arch, fm);
        if (violations.Count > 0)
            throw new InvalidOperationException($"Only a valid fused mapping is costed; this one breaks {violations.Count} rule(s), first: {violations[0].Message}");
        var layers = new List<FusedLayerCost>();
        for (int i = 0; i < w.Layers.Count; i++)
        {
            var report = Conventions.Count(convention, w.Layers[i], arch, fm.Layers[i]);
            TensorId? input = i > 0 && fm.FusedAfter(i - 1) ? w.Layers[i - 1].Output.Id : null;
            TensorId? output = fm.FusedAfter(i) ? w.Layers[i].Output.Id : null;
            int level = input is not null ? FusionRules.IntermediateLevel(w, arch, i - 1)!.Value
                : output is not null ? FusionRules.IntermediateLevel(w, arch, i)!.Value : 0;
            layers.Add(Adjust(w.Layers[i].Name, arch, report, input, output, level));
        }
        return new FusedCostReport(layers);
    }

    /// <summary>
    /// One layer's cost with its on-chip intermediates: every DRAM count of <paramref name="input"/> and
    /// <paramref name="output"/> is removed, and so are the fills of <paramref name="input"/> at the
    /// fusion level (the producer already wrote it there) and their network words; cycles are recomputed
    /// from the remaining counts exactly as the cost model does.
    /// </summary>
    public static FusedLayerCost Adjust(string layer, Architecture arch, CostReport r, TensorId? input, TensorId? output, int fusionLevel)
    {
        if (input is null && output is null)
            return new FusedLayerCost(layer, r, r.Energy, r.Cycles, 0, r.Tensors);
        var kept = new List<TensorLevelCost>();
        double removed = 0;
        foreach (var t in r.Tensors)
        {
            bool onChip = t.Tensor == input || t.Tensor == output;
            if (onChip && t.LevelIndex == 0) { removed += t.Energy; continue; }
            if (t.Tensor == input && t.LevelIndex == fusionLevel && t.Fills > 0)
            {
                double fillEnergy = t.InstancesUsed * Counts.AccessEnergy(arch.Levels[t.LevelIndex], 0, t.Fills, 0);
                removed += fillEnergy;
                kept.Add(t with { Fills = 0, Energy = t.Energy - fillEnergy });
                continue;
            }
            kept.Add(t);
        }
        foreach (var net in r.Network)
            if ((net.Tensor == input || net.Tensor == output) && net.LevelIndex < fusionLevel) removed += net.Energy;
        return new FusedLayerCost(layer, r, r.Energy - removed, Cycles(arch, r.ComputeCycles, kept), removed, kept);
    }

    /// <summary>
    /// The energy fusion removes (<see cref="Adjust"/>) from every member of one class of partial mappings of
    /// layer <paramref name="e"/> (docs/fusion.md, "Cost inside a class"): the same for all of them, since the
    /// class's constraints (<see cref="FusionMapspace.ClassConstraints"/>) fix every count Adjust removes (the
    /// intermediates' DRAM counts, the network words above the fusion level, the consumer's fills there): each
    /// intermediate's tile at its fusion level is the part one shared iteration uses, brought once per
    /// iteration. Computed by the cost model and <see cref="Adjust"/> themselves on the class's simplest loop
    /// nest (the shared loops at DRAM, every other factor at the deepest fusion level, the intermediates kept
    /// there, nothing spatial), whose capacity does not matter to those counts.
    /// </summary>
    public static double ClassRemoval(Einsum e, Architecture arch, IReadOnlyList<TemporalLoop> shared, (TensorId Tensor, int Level)? input, (TensorId Tensor, int Level)? output)
    {
        var onChip = new[] { input, output }.OfType<(TensorId Tensor, int Level)>().ToList();
        if (onChip.Count == 0) return 0;
        int deepest = onChip.Max(x => x.Level);
        var rest = e.Ranks.Select(r => new TemporalLoop(r.Id, e.Bound(r.Id) / shared.Where(l => l.Rank == r.Id).Aggregate(1, (a, l) => a * l.Factor))).Where(l => l.Factor > 1);
        var levels = arch.Levels.Select((_, l) => new LevelMapping(
            l == 0 ? shared : l == deepest ? rest : [],
            [],
            l == 0 ? e.Tensors.Select(t => t.Id) : onChip.Where(x => x.Level == l).Select(x => x.Tensor))).ToList();
        var report = new Nest(e, arch, new Mapping(levels)).Evaluate();
        int level = input is { } i ? i.Level : output!.Value.Level;
        return Adjust(e.Name, arch, report, input?.Tensor, output?.Tensor, level).RemovedEnergy;
    }

    /// <summary>
    /// Cycles from compute cycles and the per-instance counts that remain, exactly as the cost model
    /// computes them: the largest of the compute cycles and every level's read and write bandwidth cycles.
    /// </summary>
    public static long Cycles(Architecture arch, long computeCycles, IEnumerable<TensorLevelCost> counts)
    {
        long cycles = computeCycles;
        var list = counts as IReadOnlyCollection<TensorLevelCost> ?? counts.ToList();
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var level = arch.Levels[l];
            long reads = 0, writes = 0;
            foreach (var t in list.Where(t => t.LevelIndex == l))
            {
                reads = checked(reads + t.Reads);
                writes = checked(writes + t.Fills + t.Updates);
            }
            cycles = Math.Max(cycles, Counts.BandwidthCycles(level, reads, writes));
        }
        return cycles;
    }

    /// <summary>The objective of a total energy and total cycles.</summary>
    public static double Combine(Objective objective, double energy, double cycles) => objective switch
    {
        Formulation.Objective.Energy => energy,
        Formulation.Objective.Latency => cycles,
        Formulation.Objective.Edp => energy * cycles,
        _ => throw new ArgumentOutOfRangeException(nameof(objective), objective, "Unknown objective."),
    };
}
