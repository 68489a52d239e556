using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// One fused group: the consecutive layers <c>First..Last</c> (workload order) that share the first
/// <c>SharedLoops</c> temporal loops of DRAM (level 0), and the tensors it holds on chip (docs/fusion.md):
/// each held tensor stays in its fusion level from its first member that touches it (its producer, which
/// writes it there, or its first reader, which loads it from DRAM) to its last reader, and every member
/// that reads it reads it there. A group of one layer is an unfused layer.
/// </summary>
public sealed record FusedGroup
{
    /// <summary>Index of the first layer of the group in the workload's layer order.</summary>
    public int First { get; }
    /// <summary>Index of the last layer of the group.</summary>
    public int Last { get; }
    /// <summary>How many outermost DRAM loops every member shares; 0 for a group of one layer.</summary>
    public int SharedLoops { get; }
    /// <summary>
    /// The tensors the group holds on chip; null for the default: every output of a member whose readers are all
    /// later members (in a chain, the intermediates between consecutive members). See <see cref="FusionRules.HeldOf"/>.
    /// </summary>
    public IReadOnlyList<TensorId>? Held { get; }
    /// <summary>
    /// The halo policy (docs/fusion.md, "Halos"): false to recompute every reader's halo in each shared iteration; true
    /// to keep the halo rows in the fusion level between iterations, each producer computing only its new rows per
    /// iteration after a prologue (<see cref="FusedMapping.Prologues"/>) that computes the rows the first iteration needs.
    /// </summary>
    public bool KeepHalos { get; }
    /// <summary>
    /// The schedule (docs/fusion.md, "Pipelined latency"): false to run the members one after the other in each shared
    /// iteration; true to run the shared iterations as a pipeline (<see cref="PipelineSchedule"/>), member m on iteration
    /// i while member m + 1 runs iteration i - 1, the held tiles in flight all in their fusion level.
    /// </summary>
    public bool Pipelined { get; }
    /// <summary>
    /// The fusion level chosen for held tensors (docs/fusion.md, "The fused mapspace"), by level index; a held tensor
    /// not named here lives in its default level, the outermost one that can hold it (<see cref="FusionRules.HoldLevel"/>).
    /// A level must be one of <see cref="FusionRules.HoldLevels"/> (the checker reports any other).
    /// </summary>
    public IReadOnlyDictionary<TensorId, int> Levels { get; }

    /// <summary>Creates a group; <paramref name="last"/> is at least <paramref name="first"/>.</summary>
    public FusedGroup(int first, int last, int sharedLoops, IEnumerable<TensorId>? held = null, bool keepHalos = false, bool pipelined = false,
        IReadOnlyDictionary<TensorId, int>? levels = null)
    {
        First = (int)Check.AtLeast(first, 0, nameof(first), "The first layer of a group");
        Last = (int)Check.AtLeast(last, first, nameof(last), "The last layer of a group");
        SharedLoops = (int)Check.AtLeast(sharedLoops, 0, nameof(sharedLoops), "The number of shared loops");
        Held = held?.ToList();
        KeepHalos = keepHalos;
        Pipelined = pipelined;
        Levels = levels is null ? new Dictionary<TensorId, int>() : new Dictionary<TensorId, int>(levels);
    }

    /// <summary>The same group with the pipelined schedule.</summary>
    public FusedGroup AsPipelined() => new(First, Last, SharedLoops, Held, KeepHalos, pipelined: true, Levels);

    /// <summary>The number of layers in the group.</summary>
    public int Count => Last - First + 1;

    /// <summary>True when layer <paramref name="i"/> is a member.</summary>
    public bool Contains(int i) => First <= i && i <= Last;
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
    /// <summary>
    /// Per layer, the mapping of its prologue (null when it has none): in a group that keeps halos
    /// (<see cref="FusedGroup.KeepHalos"/>), a producer's prologue computes, once before the first shared iteration,
    /// the rows of its output that the first iteration's windows need beyond that iteration's new rows
    /// (<see cref="MemberPlan.Prologue"/>). As long as <see cref="Layers"/>.
    /// </summary>
    public IReadOnlyList<Mapping?> Prologues { get; }

    /// <summary>Creates a fused mapping (the checker says whether it is legal).</summary>
    public FusedMapping(IEnumerable<FusedGroup> groups, IEnumerable<Mapping> layers, IEnumerable<Mapping?>? prologues = null)
    {
        Groups = groups.ToList();
        Layers = layers.ToList();
        Prologues = prologues?.ToList() ?? Layers.Select(_ => (Mapping?)null).ToList();
        if (Groups.Count == 0) throw new ArgumentException("A fused mapping needs at least one group.", nameof(groups));
        if (Prologues.Count != Layers.Count) throw new ArgumentException("A fused mapping has one prologue entry (or null) per layer.", nameof(prologues));
    }

    /// <summary>The group of a layer.</summary>
    public FusedGroup GroupOf(int layer)
    {
        // Groups are in layer order: a binary search on their first layers (a 20,000-layer chain asks once per layer);
        // a mapping read from a file whose groups are out of order falls back to the scan.
        int lo = 0, hi = Groups.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (Groups[mid].First <= layer) lo = mid; else hi = mid - 1;
        }
        return Groups[lo].Contains(layer) ? Groups[lo] : Groups.First(g => g.Contains(layer));
    }

    /// <summary>The shared loops of each member of a group (its first DRAM loops), by layer index.</summary>
    public Func<int, IReadOnlyList<TemporalLoop>> SharedOf(FusedGroup g) => i => Layers[i].Levels[0].Temporal.Take(g.SharedLoops).ToList();

    /// <summary>A canonical one-line text, used to break ties between equal costs.</summary>
    public string ToCompactString(Architecture arch)
        => string.Join(" | ", Groups.Select(g => $"[{string.Join(" ; ", Enumerable.Range(g.First, g.Count).Select(i => Layers[i].ToCompactString(arch.Levels.Select(l => l.Name).ToList())))}] shared {g.SharedLoops}"
            + (g.Held is { } h ? $" held {string.Join(",", h)}" : "") + string.Concat(g.Levels.OrderBy(x => x.Key.Name, StringComparer.Ordinal).Select(x => $" {x.Key}@{arch.Levels[x.Value].Name}"))
           + (g.KeepHalos ? " keep" : "")))
           + string.Concat(Prologues.Select((p, i) => p is null ? "" : $" | prologue {i}: {p.ToCompactString(arch.Levels.Select(l => l.Name).ToList())}"));
}

/// <summary>The rules of fusion a fused mapping can break (the per-layer rules are <see cref="Rule"/>).</summary>
public enum FusionRule
{
    /// <summary>The groups do not cover the layers once each, in order, or the mapping count differs.</summary>
    GroupCover,
    /// <summary>
    /// A held tensor is not one a group can hold: some reader of it from the group's first layer on is outside the
    /// group, or fewer than two members touch it (its producer and a reader, or two readers).
    /// </summary>
    HeldTensor,
    /// <summary>No level can hold the tensor (one instance, a role every member that touches it may keep there).</summary>
    NoFusionLevel,
    /// <summary>A member that touches a held tensor does not keep it in its fusion level, or an outer on-chip level keeps it.</summary>
    IntermediatePlacement,
    /// <summary>
    /// The shared loops differ between members (count or factor), a member's shared loop does not walk a plain
    /// dimension of a held tensor it touches, two members walk different dimensions of one held tensor, a member of
    /// a group with shared loops touches no held tensor, or a group of one layer declares shared loops.
    /// </summary>
    SharedLoops,
    /// <summary>A DRAM loop of a layer's own (below the shared ones), or a loop of an on-chip level above the fusion level, walks a rank of a held tensor, whose tile would then not be resident.</summary>
    OwnLoopOverIntermediate,
    /// <summary>A member's tiles at a level and the held tensors that stay there while it runs (which it does not touch) exceed the level's capacity.</summary>
    HeldCapacity,
    /// <summary>A layer's own mapping breaks a rule of docs/cost-model.md (capacity, factors, fanout, keep).</summary>
    Layer,
    /// <summary>
    /// A producer's halo cannot be planned (docs/fusion.md, "Halos"): its readers need different windows of a held
    /// tensor per shared iteration, or their windows run past the producer's rank.
    /// </summary>
    Halo,
    /// <summary>
    /// A pipelined group (docs/fusion.md, "Pipelined latency") holds more than a level's capacity in some step (the active
    /// members' tiles beside every held tile in flight), or keeps halos (not built for pipelines).
    /// </summary>
    Pipeline,
}

/// <summary>One broken fusion rule, as data: the rule, the layer, the tensor and the level when they apply, and a message.</summary>
public sealed record FusionViolation(FusionRule Rule, string? Layer, string? Tensor, string? Level, long Needed, long Available, string Message)
{
    /// <inheritdoc/>
    public override string ToString() => Message;
}

/// <summary>How a member of a group uses a tensor the group holds on chip.</summary>
public enum HeldUse
{
    /// <summary>The member produces it and writes it into its fusion level (no DRAM traffic).</summary>
    Writes,
    /// <summary>The member is its first reader in the group: it loads it from DRAM into its fusion level, where later readers find it.</summary>
    Loads,
    /// <summary>The member reads it from its fusion level, where its producer or loader left it (no DRAM traffic, no fills there).</summary>
    Reads,
}

/// <summary>One held tensor a member touches: the tensor, its fusion level and how the member uses it.</summary>
public readonly record struct HeldTensor(TensorId Tensor, int Level, HeldUse Use);

/// <summary>
/// How a producer computes the halo its readers need (docs/fusion.md, "Halos"; the recompute policy): its rank
/// <see cref="Rank"/> is split into <see cref="Tile"/> (<see cref="Tiles"/> values, one per shared iteration) and
/// <see cref="Row"/> (<see cref="Rows"/> values: the rows one iteration computes), row <c>Step*tile + row</c> of the
/// original rank; consecutive iterations overlap by <c>Rows - Step</c> rows (the halo, recomputed) when that is positive.
/// <para>When its group keeps halos (<see cref="FusedGroup.KeepHalos"/>), <see cref="Rows"/> are the new rows one
/// iteration computes and <see cref="Kept"/> the rows of its readers' window kept in the fusion level from the earlier
/// iteration (or the prologue); the window its readers read is <c>Rows + Kept</c> rows every <see cref="Step"/>.</para>
/// </summary>
public sealed record HaloSplit(RankId Rank, int Tiles, int Rows, int Step, int Kept = 0)
{
    /// <summary>The window its readers read in each shared iteration: the rows computed then and those kept, every <see cref="Step"/> rows.</summary>
    public (long Extent, long Step) Supplied => (Rows + (long)Kept, Step);

    /// <summary>What a split rank's tile rank adds to its name.</summary>
    public const string TileSuffix = ".t";
    /// <summary>The rank over the shared iterations: <c>P.t</c>.</summary>
    public RankId Tile => new(Rank.Name + TileSuffix);
    /// <summary>The rank over the rows of one iteration: <c>P.h</c>.</summary>
    public RankId Row => new(Rank.Name + ".h");
}

/// <summary>
/// The rows a producer of <see cref="Rows"/> rows would compute in each of <see cref="Tiles"/> shared iterations for readers
/// that read it padded by <see cref="Pad"/> rows each side through windows of <see cref="Extent"/> padded rows every
/// <see cref="Step"/> (docs/fusion.md, "Padded readers: clipped first and last tiles"): window <c>i</c> is the producer's
/// rows <c>[i*Step - Pad, i*Step - Pad + Extent)</c>, of which it computes those inside <c>[0, Rows)</c>.
/// </summary>
public sealed record ClippedWindows(long Rows, int Pad, int Tiles, long Extent, long Step)
{
    /// <summary>Why these windows are not clipped tiles (they must cover the padded rows exactly, and only the first and last may run past); null when they are.</summary>
    public string? Why
        => checked((Tiles - 1) * Step + Extent) != Rows + 2L * Pad ? $"its readers' {Tiles} windows of {Extent} rows every {Step} cover {checked((Tiles - 1) * Step + Extent)} padded rows, not {Rows + 2L * Pad}"
            : Tiles > 1 && (Step < Pad || Extent <= Pad) ? $"windows of {Extent} rows every {Step} run past it beyond the first and the last"
            : null;

    /// <summary>The first row iteration <paramref name="i"/> computes.</summary>
    public long Start(int i) => Math.Max(0, checked(i * Step - Pad));

    /// <summary>The rows iteration <paramref name="i"/> computes: the window's rows inside <c>[0, Rows)</c>.</summary>
    public long Computed(int i) => Math.Min(Rows, checked(i * Step - Pad + Extent)) - Start(i);

    /// <summary>The rows computed in all: every window's, less the padding rows the first and last would run past.</summary>
    public long Total => checked(Tiles * Extent - 2L * Pad);

    /// <summary>
    /// The Einsums a producer's clipped iterations would run (docs/fusion.md, "Padded readers"; at least two windows, <see cref="Why"/>
    /// null): the middle <c>Tiles - 2</c> iterations as its split Einsum (<c>P.t = Tiles - 2</c>, <c>P.h = Extent</c>; null when
    /// there are none), the first and the last each as the layer with <paramref name="rank"/> cut to their rows.
    /// </summary>
    public (Einsum? Middle, Einsum Edge) Parts(Einsum producer, RankId rank)
    {
        if (Tiles < 2 || Why is { } why) throw new InvalidOperationException($"Clipped first and last tiles need two windows or more that only clip at the ends: {Why ?? "one window"}.");
        var middle = Tiles == 2 ? null : FusionRules.Expand(producer, [new HaloSplit(rank, Tiles - 2, checked((int)Extent), checked((int)Step))]);
        return (middle, FusionRules.Cut(producer, rank, Computed(0)));
    }
}

/// <summary>
/// One member of a group as its mapping sees it: the Einsum its mapping is over (the layer, or the layer with the
/// ranks of <see cref="Splits"/> split to compute its readers' halos), its shared loops in that Einsum's ranks, and
/// why a halo its readers need could not be planned (null when nothing is wrong).
/// </summary>
/// <param name="Prologue">In a group that keeps halos, the Einsum of the member's prologue (the layer with its split rank
/// cut to the rows computed before the first shared iteration); null when it has none.</param>
public sealed record MemberPlan(Einsum Einsum, IReadOnlyList<TemporalLoop> Shared, IReadOnlyList<HaloSplit> Splits, string? Problem, Einsum? Prologue = null);

/// <summary>Facts about a workload and an architecture that decide what may fuse (docs/fusion.md).</summary>
public static class FusionRules
{
    /// <summary>The layers that read a tensor, in workload order.</summary>
    public static IReadOnlyList<int> Readers(Workload w, TensorId t) => w.ReadersOf(t);

    /// <summary>The layer that writes a tensor; -1 for a workload input.</summary>
    public static int Producer(Workload w, TensorId t) => w.ProducerOf(t);

    /// <summary>The members of layers <paramref name="first"/>..<paramref name="last"/> that touch a tensor: its producer when a member, and its readers that are members.</summary>
    public static IReadOnlyList<int> Touchers(Workload w, TensorId t, int first, int last)
    {
        int p = Producer(w, t);
        return Readers(w, t).Where(r => r >= first && r <= last).Prepend(p).Where(i => i >= first && i <= last).Distinct().Order().ToList();
    }

    /// <summary>
    /// Why a group of layers <paramref name="first"/>..<paramref name="last"/> cannot hold a tensor, or null when it can:
    /// every reader of it from <paramref name="first"/> on is a member, and at least two members touch it.
    /// </summary>
    public static string? WhyNotHeld(Workload w, TensorId t, int first, int last)
    {
        var outside = Readers(w, t).Where(r => r > last && r >= first).ToList();
        if (outside.Count > 0)
            return $"{t} is read by {w.Layers[outside[0]].Name}, which is not in the group; a held tensor stays on chip for all its readers, so every reader from the group's first layer on must be a member";
        if (Touchers(w, t, first, last).Count < 2)
            return $"only one member of the group touches {t}; a held tensor is written by a member and read by a later one, or read by two members";
        return null;
    }

    /// <summary>The default held tensors of a group: every output of a member whose readers are all later members.</summary>
    public static IReadOnlyList<TensorId> DefaultHeld(Workload w, int first, int last)
        => Enumerable.Range(first, last - first + 1).Select(i => w.Layers[i].Output.Id)
            .Where(t => Readers(w, t) is { Count: > 0 } r && r.All(x => x <= last)).ToList();

    /// <summary>The tensors a group holds: its own list, or the default (<see cref="DefaultHeld"/>).</summary>
    public static IReadOnlyList<TensorId> HeldOf(Workload w, FusedGroup g) => g.Held ?? DefaultHeld(w, g.First, g.Last);

    /// <summary>
    /// The level that holds a tensor touched by the given layers: the outermost on-chip level with one instance
    /// that may keep the tensor's role in every one of them; null when there is none.
    /// </summary>
    public static int? HoldLevel(Workload w, Architecture arch, TensorId t, IEnumerable<int> touchers)
        => HoldLevels(w, arch, t, touchers) is { Count: > 0 } levels ? levels[0] : null;

    /// <summary>
    /// Every level that may hold a tensor touched by the given layers (docs/fusion.md, "The fused mapspace"), outermost
    /// first: each on-chip level with one instance that may keep the tensor's role in every one of them. The first is
    /// the default (<see cref="HoldLevel"/>); empty when there is none.
    /// </summary>
    public static IReadOnlyList<int> HoldLevels(Workload w, Architecture arch, TensorId t, IEnumerable<int> touchers)
    {
        var roles = touchers.Select(i => w.Layers[i].FindTensor(t)!.Role).Distinct().ToList();
        var result = new List<int>();
        for (int l = 1; l < arch.Levels.Count; l++)
        {
            if (arch.InstancesOf(l) != 1) break;
            if (roles.All(arch.Levels[l].MayKeep)) result.Add(l);
        }
        return result;
    }

    /// <summary>
    /// The fusion level of a tensor group <paramref name="g"/> holds, touched by <paramref name="touchers"/>: the one the
    /// group names (<see cref="FusedGroup.Levels"/>) when it is one of <see cref="HoldLevels"/>, else the default
    /// (<see cref="HoldLevel"/>) when the group names none; null when there is none or the named one cannot hold it.
    /// </summary>
    public static int? LevelOf(Workload w, Architecture arch, FusedGroup g, TensorId t, IReadOnlyList<int> touchers)
    {
        var levels = HoldLevels(w, arch, t, touchers);
        if (!g.Levels.TryGetValue(t, out int named)) return levels.Count > 0 ? levels[0] : null;
        return levels.Contains(named) ? named : null;
    }

    /// <summary>
    /// The fused mapping with each group naming only the fusion levels that differ from the default (<see cref="HoldLevel"/>):
    /// the same mapping, written and compared as a spec that names only those reads it back.
    /// </summary>
    public static FusedMapping WithoutDefaultLevels(Workload w, Architecture arch, FusedMapping fm)
    {
        if (fm.Groups.All(g => g.Levels.Count == 0)) return fm;
        var groups = fm.Groups.Select(g => new FusedGroup(g.First, g.Last, g.SharedLoops, g.Held, g.KeepHalos, g.Pipelined,
            g.Levels.Where(x => HeldOf(w, g).Contains(x.Key) && x.Value != HoldLevel(w, arch, x.Key, Touchers(w, x.Key, g.First, g.Last)))
                .ToDictionary(x => x.Key, x => x.Value)));
        return new FusedMapping(groups, fm.Layers, fm.Prologues);
    }

    /// <summary>How a member uses a held tensor whose touchers (in order) are given: the producer writes, the first reader otherwise loads, later readers read.</summary>
    public static HeldUse UseOf(Workload w, TensorId t, IReadOnlyList<int> touchers, int member)
        => w.Layers[member].Output.Id == t ? HeldUse.Writes : member == touchers[0] ? HeldUse.Loads : HeldUse.Reads;

    /// <summary>The dimension of tensor <paramref name="t"/> that layer <paramref name="e"/> indexes by exactly <paramref name="rank"/> (a plain index, coefficient 1); -1 when none.</summary>
    public static int PlainDim(Einsum e, TensorId t, RankId rank)
    {
        var dims = e.FindTensor(t)?.Dims;
        if (dims is null) return -1;
        for (int d = 0; d < dims.Count; d++)
            if (dims[d].Terms.Count == 1 && dims[d].Terms[0].Rank == rank && dims[d].Terms[0].Coefficient == 1) return d;
        return -1;
    }

    /// <summary>The rank by which layer <paramref name="e"/> indexes dimension <paramref name="dim"/> of tensor <paramref name="t"/> when that index is plain; null otherwise.</summary>
    public static RankId? PlainRank(Einsum e, TensorId t, int dim)
    {
        var dims = e.FindTensor(t)?.Dims;
        if (dims is null || dim < 0 || dim >= dims.Count || dims[dim].Terms.Count != 1 || dims[dim].Terms[0].Coefficient != 1) return null;
        return dims[dim].Terms[0].Rank;
    }

    /// <summary>The rank of the original layer that a member's shared loop rank stands for: a split's tile rank (<c>P.t</c>) stands for <c>P</c>.</summary>
    public static RankId Untiled(Einsum original, RankId rank)
        => !original.HasRank(rank) && rank.Name.EndsWith(HaloSplit.TileSuffix, StringComparison.Ordinal)
            && new RankId(rank.Name[..^HaloSplit.TileSuffix.Length]) is var r && original.HasRank(r) ? r : rank;

    /// <summary>
    /// The dimension of tensor <paramref name="t"/> that a member walks by <paramref name="rank"/>: for a member that
    /// writes or loads it, the dimension indexed by exactly that rank (<see cref="PlainDim"/>); for a reader, the one
    /// dimension whose index has the rank as a term (a sliding window, such as <c>p*2 + r</c>); -1 when none, or when
    /// the rank appears in two dimensions.
    /// </summary>
    public static int WalkedDim(Einsum e, TensorId t, RankId rank, HeldUse use)
    {
        if (use != HeldUse.Reads) return PlainDim(e, t, rank);
        var dims = e.FindTensor(t)?.Dims;
        if (dims is null) return -1;
        var found = Enumerable.Range(0, dims.Count).Where(d => dims[d].CoefficientOf(rank) != 0).ToList();
        return found.Count == 1 ? found[0] : -1;
    }

    /// <summary>
    /// The window one shared iteration of a reader covers along dimension <paramref name="dim"/> of tensor <paramref name="t"/>
    /// when its shared loop over <paramref name="rank"/> steps it: the extent (the box extent of the index over the
    /// reader's ranks, each its bound divided by its shared factors: the formula kernel's <see cref="TensorIndex.DimExtent"/>)
    /// and the step between consecutive iterations (the rank's coefficient times its extent).
    /// </summary>
    public static (long Extent, long Step) Window(Einsum reader, TensorId t, int dim, RankId rank, IReadOnlyList<TemporalLoop> shared)
    {
        var spec = reader.FindTensor(t)!;
        long Tile(RankId r) => reader.Bound(r) / shared.Where(l => l.Rank == r).Aggregate(1L, (a, l) => checked(a * l.Factor));
        var index = new TensorIndex(spec, reader.Ranks.Select(r => r.Id).ToList());
        return (index.DimExtent(dim, index.RankExtents(Tile)), checked(Math.Abs((long)spec.Dims[dim].CoefficientOf(rank)) * Tile(rank)));
    }

    /// <summary>
    /// The Einsum a member's mapping is over, and its shared loops in that Einsum's ranks, for every member of a group
    /// (docs/fusion.md, "Halos"): a member that writes a held tensor whose readers in the group walk it through a
    /// sliding window (or any tile other than its own plain one) under a shared loop computes, each shared iteration,
    /// exactly the rows those readers need (the recompute policy): its rank that indexes that dimension is split
    /// (<see cref="HaloSplit"/>). Worked from the last member back, since a reader's own split changes the window it
    /// needs. <paramref name="sharedOf"/> gives each member's shared loops, over its original ranks or the split's
    /// tile ranks (both are read the same way). A producer whose readers need different windows, or whose windows run
    /// past its rank, keeps its Einsum and the reason is returned (the checker reports it).
    /// In a group that keeps halos (<see cref="FusedGroup.KeepHalos"/>, one shared loop) a producer computes per iteration
    /// only the window's rows no earlier window had (<see cref="HaloSplit.Kept"/> rows stay in the fusion level) and its
    /// prologue (<see cref="MemberPlan.Prologue"/>) computes, once, the rows from row 0 that its readers' prologues read
    /// and that the first window keeps; a reader with a prologue starts its first window after the rows it covers.
    /// </summary>
    public static IReadOnlyList<MemberPlan> MemberPlans(Workload w, FusedGroup g, Func<int, IReadOnlyList<TemporalLoop>> sharedOf)
    {
        var plans = new MemberPlan[g.Count];
        var held = HeldOf(w, g);
        for (int i = g.Last; i >= g.First; i--)
        {
            var e = w.Layers[i];
            var logical = sharedOf(i).Select(l => new TemporalLoop(Untiled(e, l.Rank), l.Factor)).ToList();
            var splits = new List<HaloSplit>();
            string? problem = null;
            Einsum? prologue = null;
            var t = e.Output.Id;
            var readers = held.Contains(t) ? Readers(w, t).Where(r => r > i && r <= g.Last).ToList() : [];
            for (int j = 0; j < logical.Count && readers.Count > 0; j++)
            {
                var rank = logical[j].Rank;
                int dim = e.HasRank(rank) ? PlainDim(e, t, rank) : -1;
                if (dim < 0) continue;
                var windows = new HashSet<(long, long)>();
                // How each reader pads t along this dimension (docs/fusion.md, "Padded readers"): said when its windows run past.
                var pads = new HashSet<(int Pad, string? Why)>();
                // Keep: the rows of t each reader's prologue reads (from row 0) and where its first window starts.
                var starts = new HashSet<(long Rows, long Start)>();
                foreach (var r in readers)
                {
                    var plan = plans[r - g.First];
                    // A reader whose loop differs (the checker reports it) plans nothing: iterations correspond one to one.
                    if (plan.Shared.Count <= j || plan.Shared[j].Factor != logical[j].Factor || WalkedDim(plan.Einsum, t, plan.Shared[j].Rank, HeldUse.Reads) != dim) continue;
                    windows.Add(Window(plan.Einsum, t, dim, plan.Shared[j].Rank, plan.Shared));
                    pads.Add(Padding(w.Layers[r], t, dim, Untiled(w.Layers[r], plan.Shared[j].Rank), e.Bound(rank)));
                    if (g.KeepHalos) starts.Add(PrologueDemand(w.Layers[r], plan, t, dim, j));
                }
                if (windows.Count == 0) continue;
                if (windows.Count > 1 || starts.Count > 1)
                {
                    problem = windows.Count > 1
                        ? $"the readers of {t} in the group need different windows of dimension {dim + 1} per shared iteration ({string.Join(", ", windows.Select(x => $"{x.Item1} rows every {x.Item2}"))})"
                        : $"the readers of {t} in the group start their windows of dimension {dim + 1} at different rows after their prologues ({string.Join(", ", starts.Select(x => x.Start))})";
                    continue;
                }
                var (extent, step) = windows.Single();
                var (proRows, start) = g.KeepHalos ? starts.Single() : (0L, 0L);
                int f = logical[j].Factor, bound = e.Bound(rank);
                // Keep: each iteration computes the window's rows not in an earlier window (or the prologue); the prologue, what
                // the first window and the readers' prologues need before that.
                long fresh = g.KeepHalos ? Math.Min(extent, step) : extent;
                long halo = g.KeepHalos ? (proRows > 0 ? proRows : extent - fresh) : 0;
                if (extent == step && (long)f * step == bound && halo == 0) continue;
                if (checked(start + (f - 1) * step + extent) > bound)
                {
                    problem = $"its readers' windows of {t} ({extent} rows every {step}, {f} times{(start > 0 ? $", from row {start}" : "")}) run past its rank {rank}={bound}"
                        + (g.KeepHalos || pads.Count != 1 ? "" : PaddedReason(t, pads.Single(), new ClippedWindows(bound, pads.Single().Pad, f, extent, step)));
                    continue;
                }
                if (g.KeepHalos && (logical.Count > 1 || (extent > fresh ? halo != start + extent - fresh : halo > start)))
                {
                    problem = logical.Count > 1 ? $"a group that keeps halos shares one loop (the rows); this one shares {logical.Count}"
                        : $"its prologue of {halo} rows of {t} does not end where the first window's new rows start (row {start + extent - fresh})";
                    continue;
                }
                splits.Add(new HaloSplit(rank, f, (int)fresh, (int)step, (int)(extent - fresh)));
                if (halo > 0) prologue = Cut(e, rank, halo);
                // Its iterations start after the prologue's rows; a held tensor loaded from DRAM is loaded from row 0 by the
                // group's iterations, so it cannot follow that shift.
                if (prologue is not null && e.Tensors.FirstOrDefault(x => !x.IsOutput && held.Contains(x.Id) && Producer(w, x.Id) < g.First && x.IsIndexedBy(rank)) is { } loaded)
                    problem = $"it would compute its first rows of {t} in a prologue, but it reads {loaded.Id}, which the group loads from DRAM row by row from row 0, along the same rank; keeping needs every held tensor it reads there to come from a producer in the group";
            }
            var member = splits.Count == 0 ? e : Expand(e, splits);
            var shared = logical.Select(l => splits.FirstOrDefault(s => s.Rank == l.Rank) is { } s ? new TemporalLoop(s.Tile, l.Factor) : l).ToList();
            plans[i - g.First] = new MemberPlan(member, shared, splits, problem, prologue);
        }
        return plans;
    }

    /// <summary>The layer with <paramref name="rank"/> cut to its first <paramref name="rows"/> values (a prologue's rows, a clipped tile's).</summary>
    public static Einsum Cut(Einsum e, RankId rank, long rows)
        => new(e.Name, e.Kind, e.Ranks.Select(x => x.Id == rank ? new Rank(rank, checked((int)rows)) : x), e.Tensors) { Source = e.Source };

    /// <summary>
    /// How a reader pads a held tensor it reads along dimension <paramref name="dim"/> through its rank <paramref name="rank"/>
    /// (docs/fusion.md, "Padded readers: clipped first and last tiles"), the producer writing <paramref name="producerRows"/>
    /// rows there: (0, null) when its index stays within them; (pad, null) when it reads exactly what a same-padded stride-1
    /// convolution reads (the rank with coefficient 1, as many rows of its own as the producer's, and <c>pad</c> extra rows
    /// each side); otherwise (0, why).
    /// </summary>
    public static (int Pad, string? Why) Padding(Einsum reader, TensorId t, int dim, RankId rank, long producerRows)
    {
        long rows = Window(reader, t, dim, rank, []).Extent;
        if (rows <= producerRows) return (0, null);
        long coefficient = reader.FindTensor(t)!.Dims[dim].CoefficientOf(rank), own = reader.Bound(rank);
        if (coefficient != 1 || own != producerRows)
            return (0, $"{reader.Name} reads {rows} rows of {t}, which has {producerRows}, {(coefficient != 1 ? $"with stride {coefficient}" : $"for {own} rows of its own")}: not what a same-padded stride-1 convolution reads, so its extra rows are not padding split evenly between both ends");
        if ((rows - producerRows) % 2 != 0)
            return (0, $"{reader.Name} reads {rows} rows of {t}, which has {producerRows}: an odd number of extra rows is not padding split evenly between both ends");
        return (checked((int)((rows - producerRows) / 2)), null);
    }

    /// <summary>Why a producer whose readers pad its output cannot be planned (<see cref="Padding"/>, <see cref="ClippedWindows"/>): said after the windows that run past.</summary>
    private static string PaddedReason(TensorId t, (int Pad, string? Why) padding, ClippedWindows clipped)
        => padding.Why is { } why ? $" ({why})"
            : padding.Pad == 0 ? ""
            : clipped.Why is { } bad ? $" ({t} is read padded by {padding.Pad} rows each side, but {bad})"
            : $": {t} is read padded by {padding.Pad} rows each side (a same-padded convolution), so it would compute clipped first and last tiles"
              + $" ({clipped.Computed(0)} rows, then {clipped.Extent}, last {clipped.Computed(clipped.Tiles - 1)}: {clipped.Total} in all), which are not built (docs/fusion.md, \"Padded readers\")";

    /// <summary>
    /// What a reader in a group that keeps halos needs of a held tensor it reads along dimension <paramref name="dim"/>
    /// before the first shared iteration: the rows its prologue reads (from row 0: the extent of its index over the
    /// prologue's ranks) and the row where its first window starts (its prologue's rows times the rank's coefficient);
    /// (0, 0) for a reader without a prologue.
    /// </summary>
    private static (long Rows, long Start) PrologueDemand(Einsum reader, MemberPlan plan, TensorId t, int dim, int loop)
    {
        if (plan.Prologue is not { } pro) return (0, 0);
        var rank = Untiled(reader, plan.Shared[loop].Rank);
        long coefficient = Math.Abs((long)reader.FindTensor(t)!.Dims[dim].CoefficientOf(rank));
        return (Window(pro, t, dim, rank, []).Extent, checked(coefficient * pro.Bound(rank)));
    }

    /// <summary>The Einsum each layer's mapping is over in a fused mapping (<see cref="MemberPlans"/>, from each member's shared loops).</summary>
    public static IReadOnlyList<Einsum> MemberEinsums(Workload w, FusedMapping fm)
        => fm.Groups.SelectMany(g => MemberPlans(w, g, fm.SharedOf(g)).Select(p => p.Einsum)).ToList();

    /// <summary>
    /// The layer with, beside its own ranks, the names of every split a halo could make (<c>P.t</c>, <c>P.h</c> for
    /// each rank <c>P</c> above 1), so that a fused mapping spec may name them; the bounds are placeholders (the
    /// checker checks a mapping against the Einsum <see cref="MemberPlans"/> gives).
    /// </summary>
    public static Einsum WithSplitRanks(Einsum e)
    {
        var extra = e.Ranks.Where(r => r.Bound > 1).Select(r => new HaloSplit(r.Id, r.Bound, r.Bound, 1))
            .SelectMany(s => new[] { new Rank(s.Tile, s.Tiles), new Rank(s.Row, s.Rows) }).Where(r => !e.HasRank(r.Id));
        return new Einsum(e.Name, e.Kind, e.Ranks.Concat(extra), e.Tensors) { Source = e.Source };
    }

    /// <summary>
    /// The layer with the given ranks split (<see cref="HaloSplit"/>): each split rank <c>P</c> becomes <c>P.t</c>
    /// (one value per shared iteration) and <c>P.h</c> (the rows computed in one), an operand's index term <c>c*P</c>
    /// becomes <c>c*Step*P.t + c*P.h</c>, and the output's dimension <c>P</c> becomes <c>P.t</c> with a last dimension
    /// <c>P.h</c> added: each iteration writes its own rows (the halo rows once per iteration that needs them).
    /// </summary>
    public static Einsum Expand(Einsum e, IReadOnlyList<HaloSplit> splits)
    {
        HaloSplit? Of(RankId r) => splits.FirstOrDefault(s => s.Rank == r);
        var ranks = e.Ranks.SelectMany(r => Of(r.Id) is { } s ? new[] { new Rank(s.Tile, s.Tiles), new Rank(s.Row, s.Rows) } : [r]);
        var tensors = e.Tensors.Select(t =>
        {
            if (t.IsOutput)
                return new TensorSpec(t.Id, t.Role, t.Dims.Select(d => Of(d.Terms[0].Rank) is { } s ? AffineExpr.Of(s.Tile) : d)
                    .Concat(t.Dims.Where(d => Of(d.Terms[0].Rank) is not null).Select(d => AffineExpr.Of(Of(d.Terms[0].Rank)!.Row))));
            return new TensorSpec(t.Id, t.Role, t.Dims.Select(d => new AffineExpr(d.Terms.SelectMany(x => Of(x.Rank) is { } s
                ? new[] { new AffineTerm(s.Tile, checked(x.Coefficient * s.Step)), new AffineTerm(s.Row, x.Coefficient) } : [x]))));
        });
        return new Einsum(e.Name, e.Kind, ranks, tensors) { Source = e.Source };
    }

    /// <summary>
    /// The words a held tensor takes in its level under the shared loops: the largest footprint any member that
    /// touches it has of it (in the Einsum its mapping is over, <see cref="MemberPlans"/>), each rank's bound divided
    /// by that member's shared factors (one shared iteration's part; a reader's window counts its halo).
    /// </summary>
    public static long HeldWords(TensorId t, IEnumerable<(Einsum Member, IReadOnlyList<TemporalLoop> Shared)> touchers)
        => touchers.Max(x => x.Member.FindTensor(t)!.Footprint(r => x.Member.Bound(r) / x.Shared.Where(l => l.Rank == r).Aggregate(1L, (a, l) => checked(a * l.Factor))));

    /// <summary>
    /// The architecture a member runs on while held tensors it does not touch stay on chip: every level's capacity
    /// less the words reserved there; null when a reservation fills a level. The same architecture when nothing is reserved.
    /// </summary>
    public static Architecture? Reserve(Architecture arch, IReadOnlyDictionary<int, long> reserved)
    {
        if (reserved.Values.All(x => x == 0)) return arch;
        var levels = new List<StorageLevel>();
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var lv = arch.Levels[l];
            long r = reserved.GetValueOrDefault(l);
            if (r == 0 || lv.Capacity is not { } cap) { levels.Add(lv); continue; }
            if (r >= cap) return null;
            levels.Add(new StorageLevel(lv.Name, cap - r, lv.WordBits, lv.ReadEnergy, lv.WriteEnergy, lv.ReadBandwidth, lv.WriteBandwidth, lv.Keeps, lv.Fanout));
        }
        return new Architecture(arch.Name, arch.Description, levels, arch.Compute, arch.ClockGHz);
    }

    /// <summary>
    /// What each member of a group holds on chip (the held tensors it touches, with their levels and uses) and
    /// the words reserved at each level while it runs (held tensors live across it that it does not touch), from
    /// the group's held tensors and each member's shared loops (<paramref name="sharedOf"/>, by layer index). Tensors
    /// a group cannot hold or with no fusion level are left out (the checker reports them).
    /// </summary>
    public static IReadOnlyList<(IReadOnlyList<HeldTensor> Held, IReadOnlyDictionary<int, long> Reserved)> MemberHolds(Workload w, Architecture arch, FusedGroup g, Func<int, IReadOnlyList<TemporalLoop>> sharedOf)
    {
        var result = Enumerable.Range(0, g.Count).Select(_ => (Held: new List<HeldTensor>(), Reserved: new Dictionary<int, long>())).ToList();
        var plans = MemberPlans(w, g, sharedOf);
        foreach (var t in HeldOf(w, g))
        {
            var touchers = Touchers(w, t, g.First, g.Last);
            if (WhyNotHeld(w, t, g.First, g.Last) is not null || LevelOf(w, arch, g, t, touchers) is not { } level) continue;
            foreach (var i in touchers) result[i - g.First].Held.Add(new HeldTensor(t, level, UseOf(w, t, touchers, i)));
            long words = HeldWords(t, touchers.Select(i => (plans[i - g.First].Einsum, plans[i - g.First].Shared)));
            for (int i = touchers[0] + 1; i < touchers[^1]; i++)
                if (!touchers.Contains(i)) result[i - g.First].Reserved[level] = result[i - g.First].Reserved.GetValueOrDefault(level) + words;
            // Keep: the rows kept for the next window stay while the producer computes its new rows and while the members
            // outside its producer..last reader run (before the producer, after the last reader: between two iterations).
            if (KeptWords(plans[touchers[0] - g.First], t) is > 0 and var kept)
                for (int i = g.First; i <= g.Last; i++)
                    if (i == touchers[0] || i > touchers[^1] || i < touchers[0])
                        result[i - g.First].Reserved[level] = result[i - g.First].Reserved.GetValueOrDefault(level) + kept;
        }
        return result.Select(x => ((IReadOnlyList<HeldTensor>)x.Held, (IReadOnlyDictionary<int, long>)x.Reserved)).ToList();
    }

    /// <summary>
    /// The held tensors of a pipelined group as its schedule sees them (<see cref="PipelineSchedule.HeldTiles"/>): the
    /// members (indices in the group) that first and last touch each, its fusion level and the words of one tile
    /// (<see cref="HeldWords"/>). Tensors a group cannot hold or with no fusion level are left out (the checker reports them).
    /// </summary>
    public static IReadOnlyList<PipelineSchedule.HeldTiles> PipelineHeld(Workload w, Architecture arch, FusedGroup g, IReadOnlyList<MemberPlan> plans)
    {
        var result = new List<PipelineSchedule.HeldTiles>();
        foreach (var t in HeldOf(w, g))
        {
            var touchers = Touchers(w, t, g.First, g.Last);
            if (WhyNotHeld(w, t, g.First, g.Last) is not null || LevelOf(w, arch, g, t, touchers) is not { } level) continue;
            result.Add(new(touchers[0] - g.First, touchers[^1] - g.First, level, HeldWords(t, touchers.Select(i => (plans[i - g.First].Einsum, plans[i - g.First].Shared)))));
        }
        return result;
    }

    /// <summary>The shared iterations of a group: the product of its first member's shared factors (1 without shared loops).</summary>
    public static long Iterations(FusedGroup g, Func<int, IReadOnlyList<TemporalLoop>> sharedOf)
        => sharedOf(g.First).Aggregate(1L, (a, l) => checked(a * l.Factor));

    /// <summary>
    /// The words of held tensor <paramref name="t"/> its producer keeps in the fusion level between shared iterations
    /// (docs/fusion.md, "Halos", keep): its footprint in the producer's Einsum with the split's row rank cut to the kept
    /// rows and every other rank its tile under the shared loops; 0 when the producer keeps nothing of it.
    /// </summary>
    public static long KeptWords(MemberPlan producer, TensorId t)
    {
        var e = producer.Einsum;
        if (e.Output.Id != t || producer.Splits.FirstOrDefault(x => x.Kept > 0) is not { } split) return 0;
        return e.Output.Footprint(r => r == split.Row ? split.Kept : e.Bound(r) / producer.Shared.Where(l => l.Rank == r).Aggregate(1L, (a, l) => checked(a * l.Factor)));
    }

    /// <summary>
    /// What each member's prologue (<see cref="MemberPlan.Prologue"/>; empty for a member without one) holds on chip and
    /// the words reserved while it runs: it writes its output into the output's fusion level and reads there every held
    /// input an earlier member's prologue wrote (an input from DRAM, or a held tensor loaded later, it reads from DRAM);
    /// the prologues run in the group's order before the first shared iteration, and every earlier prologue's output
    /// it does not read stays whole in its level (reserved) until the first iteration.
    /// </summary>
    public static IReadOnlyList<(IReadOnlyList<HeldTensor> Held, IReadOnlyDictionary<int, long> Reserved)> PrologueHolds(Workload w, Architecture arch, FusedGroup g, IReadOnlyList<MemberPlan> plans)
    {
        var levels = new Dictionary<TensorId, int>();
        foreach (var t in HeldOf(w, g))
            if (WhyNotHeld(w, t, g.First, g.Last) is null && LevelOf(w, arch, g, t, Touchers(w, t, g.First, g.Last)) is { } level) levels[t] = level;
        var result = new List<(IReadOnlyList<HeldTensor>, IReadOnlyDictionary<int, long>)>();
        for (int i = g.First; i <= g.Last; i++)
        {
            var held = new List<HeldTensor>();
            var reserved = new Dictionary<int, long>();
            if (plans[i - g.First].Prologue is { } pro)
            {
                foreach (var x in pro.Tensors.Where(x => levels.ContainsKey(x.Id)))
                {
                    int p = Producer(w, x.Id);
                    if (x.IsOutput) held.Add(new HeldTensor(x.Id, levels[x.Id], HeldUse.Writes));
                    else if (p >= g.First && p < i && plans[p - g.First].Prologue is not null) held.Add(new HeldTensor(x.Id, levels[x.Id], HeldUse.Reads));
                }
                for (int p = g.First; p < i; p++)
                    if (plans[p - g.First].Prologue is { } earlier && levels.TryGetValue(earlier.Output.Id, out int level) && !held.Any(h => h.Tensor == earlier.Output.Id))
                        reserved[level] = reserved.GetValueOrDefault(level) + earlier.TensorWords(earlier.Output);
            }
            result.Add((held, reserved));
        }
        return result;
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
        // A producer that computes its readers' halos is checked as the Einsum it then runs (its rank split, docs/fusion.md).
        var members = FusionRules.MemberEinsums(w, fm);
        for (int i = 0; i < n; i++)
            foreach (var x in ValidityChecker.Check(members[i], arch, fm.Layers[i]))
                v.Add(new(FusionRule.Layer, w.Layers[i].Name, x.Tensor, x.Level, x.Needed, x.Available,
                    $"Layer {w.Layers[i].Name}{(ReferenceEquals(members[i], w.Layers[i]) ? "" : $" (computing its readers' halos as {members[i]})")}: {x.Message}"));
        if (v.Count > 0) return v;
        foreach (var g in fm.Groups) CheckGroup(w, arch, fm, g, v);
        return v;
    }

    private static void CheckGroup(Workload w, Architecture arch, FusedMapping fm, FusedGroup g, List<FusionViolation> v)
    {
        int s = g.SharedLoops;
        string dram = arch.Levels[0].Name;
        if (g.Count == 1 && s > 0)
            v.Add(new(FusionRule.SharedLoops, w.Layers[g.First].Name, null, null, 0, s, $"Layer {w.Layers[g.First].Name} is alone in its group, so it shares no loops, but the group declares {s}."));
        bool loopsComplete = true;
        for (int i = g.First; i <= g.Last; i++)
        {
            var dramLoops = fm.Layers[i].Levels[0].Temporal;
            if (dramLoops.Count < s)
            {
                loopsComplete = false;
                v.Add(new(FusionRule.SharedLoops, w.Layers[i].Name, null, dram, s, dramLoops.Count, $"Layer {w.Layers[i].Name} has {dramLoops.Count} DRAM loops, fewer than the {s} its group shares."));
                continue;
            }
            for (int j = 0; j < s && i > g.First && fm.Layers[g.First].Levels[0].Temporal.Count >= s; j++)
            {
                var (first, mine) = (fm.Layers[g.First].Levels[0].Temporal[j], dramLoops[j]);
                if (first.Factor != mine.Factor)
                    v.Add(new(FusionRule.SharedLoops, w.Layers[i].Name, null, dram, first.Factor, mine.Factor,
                        $"Shared loop {j + 1}: {w.Layers[g.First].Name} has {first} and {w.Layers[i].Name} has {mine}; every member's shared loop has the same factor."));
            }
        }
        var held = FusionRules.HeldOf(w, g);
        var plans = FusionRules.MemberPlans(w, g, fm.SharedOf(g));
        foreach (var (plan, i) in plans.Select((p, k) => (p, g.First + k)).Where(x => x.p.Problem is not null))
            v.Add(new(FusionRule.Halo, w.Layers[i].Name, w.Layers[i].Output.Id.Name, null, 0, 0, $"Layer {w.Layers[i].Name} cannot compute its readers' halos: {plan.Problem}."));
        CheckPrologues(w, arch, fm, g, plans, v);
        var touched = new HashSet<int>();
        foreach (var t in held)
        {
            if (FusionRules.WhyNotHeld(w, t, g.First, g.Last) is { } why)
            {
                v.Add(new(FusionRule.HeldTensor, null, t.Name, null, 0, 0, $"The group {GroupName(w, g)} holds {t} on chip, but {why}."));
                continue;
            }
            var touchers = FusionRules.Touchers(w, t, g.First, g.Last);
            touched.UnionWith(touchers);
            if (FusionRules.LevelOf(w, arch, g, t, touchers) is not { } level)
            {
                string roles = string.Join(", ", touchers.Select(i => $"{w.Layers[i].FindTensor(t)!.Role} of {w.Layers[i].Name}"));
                var options = FusionRules.HoldLevels(w, arch, t, touchers);
                if (g.Levels.TryGetValue(t, out int named) && options.Count > 0)
                {
                    string name = named >= 0 && named < arch.Levels.Count ? arch.Levels[named].Name : $"level {named}";
                    string reason = named <= 0 || named >= arch.Levels.Count ? "is not an on-chip level"
                        : arch.InstancesOf(named) != 1 ? $"has {arch.InstancesOf(named)} instances (a held tensor lives in one)"
                        : $"may not keep it in the roles {roles}";
                    v.Add(new(FusionRule.NoFusionLevel, null, t.Name, name, 0, 0,
                        $"The group {GroupName(w, g)} holds {t} in {name}, which {reason}; it may hold it in {string.Join(" or ", options.Select(l => arch.Levels[l].Name))}."));
                }
                else
                    v.Add(new(FusionRule.NoFusionLevel, null, t.Name, null, 0, 0,
                        $"No on-chip level of {arch.Name} with one instance may keep {t} in the roles {roles}."));
                continue;
            }
            int[]? dims = null;
            (long Extent, long Step)?[]? supplied = null;
            foreach (var i in touchers)
            {
                var (e, m) = (plans[i - g.First].Einsum, fm.Layers[i]);
                if (!m.Levels[level].Keep.Contains(t))
                    v.Add(new(FusionRule.IntermediatePlacement, e.Name, t.Name, arch.Levels[level].Name, 1, 0,
                        $"Layer {e.Name}: the held tensor {t} lives in {arch.Levels[level].Name}, which must keep it."));
                for (int l = 1; l < level; l++)
                    if (m.Levels[l].Keep.Contains(t))
                        v.Add(new(FusionRule.IntermediatePlacement, e.Name, t.Name, arch.Levels[l].Name, 0, 1,
                            $"Layer {e.Name}: {arch.Levels[l].Name} keeps {t}, above its fusion level {arch.Levels[level].Name}."));
                for (int l = 1; l < level; l++)
                    foreach (var above in m.Levels[l].Temporal.Where(x => x.Factor > 1 && e.FindTensor(t)!.IsIndexedBy(x.Rank)))
                        v.Add(new(FusionRule.OwnLoopOverIntermediate, e.Name, t.Name, arch.Levels[l].Name, 1, above.Factor,
                            $"Layer {e.Name}: its loop {above} at {arch.Levels[l].Name}, above {t}'s fusion level {arch.Levels[level].Name}, walks {t}; only the shared loops may step a held tensor."));
                var dramLoops = m.Levels[0].Temporal;
                if (dramLoops.Count < s) continue;
                foreach (var own in dramLoops.Skip(s))
                    if (own.Factor > 1 && e.FindTensor(t)!.IsIndexedBy(own.Rank))
                        v.Add(new(FusionRule.OwnLoopOverIntermediate, e.Name, t.Name, dram, 1, own.Factor,
                            $"Layer {e.Name}: its own DRAM loop {own} walks {t}, which stays on chip; only the shared loops may step a held tensor."));
                var use = FusionRules.UseOf(w, t, touchers, i);
                var mine = dramLoops.Take(s).Select(l => FusionRules.WalkedDim(e, t, l.Rank, use)).ToArray();
                for (int j = 0; j < s; j++)
                {
                    if (mine[j] < 0)
                        v.Add(new(FusionRule.SharedLoops, e.Name, t.Name, dram, 0, 0,
                            $"Shared loop {j + 1} of {e.Name}, {dramLoops[j]}, does not walk a dimension of the held tensor {t} ({(use == HeldUse.Reads ? "its index must have the rank as a term, in one dimension" : "the member writes or loads it, so through a plain index")}); every shared loop steps every held tensor its member touches."));
                    else if (dims is not null && dims[j] >= 0 && dims[j] != mine[j])
                        v.Add(new(FusionRule.SharedLoops, e.Name, t.Name, dram, dims[j], mine[j],
                            $"Shared loop {j + 1}: {e.Name}'s {dramLoops[j]} walks dimension {mine[j] + 1} of {t}, but {w.Layers[touchers[0]].Name}'s walks dimension {dims[j] + 1}; the members of a group walk the same slices of a held tensor."));
                    else if (supplied is not null && mine[j] >= 0 && supplied[j] is { } have
                             && FusionRules.Window(e, t, mine[j], dramLoops[j].Rank, dramLoops.Take(s).ToList()) is var need && need != have)
                        v.Add(new(FusionRule.Halo, e.Name, t.Name, arch.Levels[level].Name, need.Extent, have.Extent,
                            $"Shared loop {j + 1}: {e.Name} needs {need.Extent} rows of dimension {mine[j] + 1} of {t} every {need.Step} per shared iteration, but {w.Layers[touchers[0]].Name} supplies {have.Extent} every {have.Step}; a reader's window must be what its producer computes (or its loader loads) each iteration."));
                }
                dims ??= mine;
                // What the first toucher puts in the fusion level each shared iteration, along each walked dimension: a split's rows, or its plain tile.
                supplied ??= mine.Select((d, j) => d < 0 ? ((long, long)?)null
                    : plans[i - g.First].Splits.FirstOrDefault(x => x.Tile == dramLoops[j].Rank) is { } split ? split.Supplied
                    : FusionRules.Window(e, t, d, dramLoops[j].Rank, dramLoops.Take(s).ToList())).ToArray();
            }
        }
        if (s > 0 && g.Count > 1)
            foreach (var i in Enumerable.Range(g.First, g.Count).Where(i => !touched.Contains(i)))
                v.Add(new(FusionRule.SharedLoops, w.Layers[i].Name, null, dram, 0, 0,
                    $"Layer {w.Layers[i].Name} touches no tensor the group holds, so its shared loops walk nothing the other members share."));
        if (!loopsComplete) return;
        var holds = FusionRules.MemberHolds(w, arch, g, fm.SharedOf(g));
        for (int i = g.First; i <= g.Last; i++)
        {
            var reserved = holds[i - g.First].Reserved;
            if (reserved.Count == 0) continue;
            var lessRoom = FusionRules.Reserve(arch, reserved);
            var over = lessRoom is null ? [] : ValidityChecker.Check(plans[i - g.First].Einsum, lessRoom, fm.Layers[i]).Where(x => x.Rule == Rule.Capacity).ToList();
            foreach (var (l, words) in reserved)
            {
                var x = over.FirstOrDefault(o => o.Level == arch.Levels[l].Name);
                if (lessRoom is not null && x is null) continue;
                long own = x?.Needed ?? 0;
                v.Add(new(FusionRule.HeldCapacity, w.Layers[i].Name, null, arch.Levels[l].Name, own + words, arch.Levels[l].Capacity ?? 0,
                    $"Layer {w.Layers[i].Name}: {arch.Levels[l].Name} holds {words} words of held tensors that live across it{(x is null ? "" : $" and {own} of its own tiles")}, above its {arch.Levels[l].Capacity} words."));
            }
        }
        if (g.Pipelined) CheckPipeline(w, arch, fm, g, plans, holds, v);
    }

    /// <summary>
    /// A pipelined group (docs/fusion.md, "Pipelined latency"): no kept halos, and in every step of its schedule every level
    /// holds the active members' own tiles and every held tile in flight within its capacity.
    /// </summary>
    private static void CheckPipeline(Workload w, Architecture arch, FusedMapping fm, FusedGroup g, IReadOnlyList<MemberPlan> plans,
        IReadOnlyList<(IReadOnlyList<HeldTensor> Held, IReadOnlyDictionary<int, long> Reserved)> holds, List<FusionViolation> v)
    {
        if (g.KeepHalos)
        {
            v.Add(new(FusionRule.Pipeline, w.Layers[g.First].Name, null, null, 0, 0, $"The group {GroupName(w, g)} is pipelined and keeps halos; a pipeline of a group that keeps halos is not built (recompute them, or run it sequentially)."));
            return;
        }
        var own = plans.Select((p, k) => PipelineSchedule.OwnWords(p.Einsum, fm.Layers[g.First + k], holds[k].Held)).ToList();
        long f = FusionRules.Iterations(g, fm.SharedOf(g));
        foreach (var (step, l, words, cap) in PipelineSchedule.Over(arch, own, FusionRules.PipelineHeld(w, arch, g, plans), f))
            v.Add(new(FusionRule.Pipeline, null, null, arch.Levels[l].Name, words, cap,
                $"The pipelined group {GroupName(w, g)}: in step {step + 1} of {f + g.Count - 1}, {arch.Levels[l].Name} holds {words} words (the active members' tiles and the held tiles in flight), above its {cap} words."));
    }

    /// <summary>
    /// The prologues of a group that keeps halos: a member has one exactly when its plan needs one; each is a valid
    /// mapping of its prologue Einsum on the architecture less the words reserved while it runs, keeps its output (and
    /// every held input an earlier prologue wrote) in the fusion level with no level above keeping it, and has no DRAM
    /// loop over a rank of those tensors (they stay whole in the fusion level until the first iteration).
    /// </summary>
    private static void CheckPrologues(Workload w, Architecture arch, FusedMapping fm, FusedGroup g, IReadOnlyList<MemberPlan> plans, List<FusionViolation> v)
    {
        var holds = FusionRules.PrologueHolds(w, arch, g, plans);
        for (int i = g.First; i <= g.Last; i++)
        {
            var (name, pro, m) = (w.Layers[i].Name, plans[i - g.First].Prologue, fm.Prologues[i]);
            if (pro is null != m is null)
            {
                v.Add(new(FusionRule.Halo, name, w.Layers[i].Output.Id.Name, null, pro is null ? 0 : 1, m is null ? 0 : 1, pro is null
                    ? $"Layer {name} has a prologue mapping, but it computes no rows before the first shared iteration{(g.KeepHalos ? "" : " (its group recomputes halos)")}."
                    : $"Layer {name} keeps its readers' halos, so it needs a prologue mapping (computing {pro.Output.Id}'s first {pro.TensorWords(pro.Output)} words as {pro})."));
                continue;
            }
            if (pro is null || m is null) continue;
            var (held, reserved) = holds[i - g.First];
            if (FusionRules.Reserve(arch, reserved) is not { } room)
            {
                v.Add(new(FusionRule.HeldCapacity, name, null, null, reserved.Values.Sum(), 0, $"The prologue of {name}: the earlier prologues' rows reserved while it runs fill a level."));
                continue;
            }
            foreach (var x in ValidityChecker.Check(pro, room, m))
                v.Add(new(x.Rule == Rule.Capacity ? FusionRule.HeldCapacity : FusionRule.Layer, name, x.Tensor, x.Level, x.Needed, x.Available,
                    $"The prologue of {name} ({pro}{(reserved.Count == 0 ? "" : $", beside {reserved.Values.Sum()} words of earlier prologues' rows")}): {x.Message}"));
            if (!FusionMapspace.Allows(pro, m, [], held))
                v.Add(new(FusionRule.IntermediatePlacement, name, pro.Output.Id.Name, null, 0, 0,
                    $"The prologue of {name} must keep {string.Join(", ", held.Select(h => $"{h.Tensor} in {arch.Levels[h.Level].Name}"))} (no level above keeping them) with no DRAM loop over their ranks: its rows stay there until the first shared iteration."));
        }
    }

    private static string GroupName(Workload w, FusedGroup g) => string.Join(" -> ", Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name));
}

/// <summary>
/// The cost of one layer inside a fused mapping: its own report and what fusion removes from it; with a prologue (a group
/// that keeps halos), <see cref="Energy"/>, <see cref="Cycles"/> and <see cref="RemovedEnergy"/> include the prologue's,
/// which <see cref="Prologue"/> gives apart (<see cref="Report"/> and <see cref="Tensors"/> are the shared iterations' alone).
/// </summary>
public sealed record FusedLayerCost(
    string Layer,
    CostReport Report,
    double Energy,
    long Cycles,
    double RemovedEnergy,
    IReadOnlyList<TensorLevelCost> Tensors,
    FusedLayerCost? Prologue = null);

/// <summary>
/// The cost of a fused mapping: per layer, and in total (energy summed; cycles summed over the groups, each group's its
/// members' summed or, pipelined, its schedule's, <see cref="GroupCycles"/>).
/// </summary>
public sealed record FusedCostReport(IReadOnlyList<FusedLayerCost> Layers, IReadOnlyList<long> GroupCycles)
{
    /// <summary>Total energy in pJ.</summary>
    public double Energy => Layers.Sum(l => l.Energy);
    /// <summary>Total cycles: the groups run one after the other.</summary>
    public long Cycles => GroupCycles.Sum();
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
        var groupCycles = new List<long>();
        foreach (var g in fm.Groups)
        {
            var holds = FusionRules.MemberHolds(w, arch, g, fm.SharedOf(g));
            var plans = FusionRules.MemberPlans(w, g, fm.SharedOf(g));
            var prologues = FusionRules.PrologueHolds(w, arch, g, plans);
            for (int i = g.First; i <= g.Last; i++)
            {
                var cost = Adjust(w.Layers[i].Name, arch, Conventions.Count(convention, plans[i - g.First].Einsum, arch, fm.Layers[i]), holds[i - g.First].Held);
                // A member that keeps its readers' halos runs its prologue once, before the first shared iteration.
                if (plans[i - g.First].Prologue is { } pro && fm.Prologues[i] is { } pm)
                {
                    var before = Adjust(w.Layers[i].Name, arch, Conventions.Count(convention, pro, arch, pm), prologues[i - g.First].Held);
                    cost = cost with { Energy = cost.Energy + before.Energy, Cycles = checked(cost.Cycles + before.Cycles), RemovedEnergy = cost.RemovedEnergy + before.RemovedEnergy, Prologue = before };
                }
                layers.Add(cost);
            }
            var members = layers.Skip(g.First).Take(g.Count).ToList();
            groupCycles.Add(g.Pipelined
                ? PipelineSchedule.Cycles(members.Select(c => Demand(arch, c)).ToList(), FusionRules.Iterations(g, fm.SharedOf(g)))
                : members.Sum(c => c.Cycles));
        }
        return new FusedCostReport(layers, groupCycles);
    }

    /// <summary>A fused layer's resource demand (<see cref="PipelineSchedule.Demand"/>) from the counts fusion leaves it.</summary>
    public static long[] Demand(Architecture arch, FusedLayerCost c)
        => PipelineSchedule.Demand(arch, c.Report.ComputeCycles, c.Tensors.Select(t => (t.LevelIndex, t.Reads, checked(t.Fills + t.Updates))));

    /// <summary>
    /// What fusion removes of one layer's counts of <paramref name="tensor"/> at <paramref name="level"/> (docs/fusion.md,
    /// "Cost"): all of them (a held tensor the layer writes or reads on chip, at DRAM), its fills (a held tensor it reads,
    /// at its fusion level: its producer or loader put the words there), or nothing.
    /// </summary>
    public static (bool All, bool Fills) Removal(IReadOnlyList<HeldTensor> held, int level, TensorId tensor)
    {
        foreach (var h in held)
            if (h.Tensor == tensor && h.Use != HeldUse.Loads)
                return (level == 0, level == h.Level && h.Use == HeldUse.Reads);
        return (false, false);
    }

    /// <summary>
    /// One layer's cost with the held tensors it touches: every DRAM count of a tensor it writes on chip or reads
    /// there is removed with its network words above its fusion level, and so are the fills at the fusion level
    /// of a tensor it reads there (its producer or loader already put it there); a tensor it loads keeps its
    /// counts. Cycles are recomputed from the remaining counts exactly as the cost model does.
    /// </summary>
    public static FusedLayerCost Adjust(string layer, Architecture arch, CostReport r, IReadOnlyList<HeldTensor> held)
    {
        var moved = held.Where(h => h.Use != HeldUse.Loads).ToList();
        if (moved.Count == 0)
            return new FusedLayerCost(layer, r, r.Energy, r.Cycles, 0, r.Tensors);
        var kept = new List<TensorLevelCost>();
        double removed = 0;
        foreach (var t in r.Tensors)
        {
            var (all, fills) = Removal(held, t.LevelIndex, t.Tensor);
            if (all) { removed += t.Energy; continue; }
            if (fills && t.Fills > 0)
            {
                double fillEnergy = t.InstancesUsed * Counts.AccessEnergy(arch.Levels[t.LevelIndex], 0, t.Fills, 0);
                removed += fillEnergy;
                kept.Add(t with { Fills = 0, Energy = t.Energy - fillEnergy });
                continue;
            }
            kept.Add(t);
        }
        foreach (var net in r.Network)
            if (moved.Any(h => h.Tensor == net.Tensor && net.LevelIndex < h.Level)) removed += net.Energy;
        return new FusedLayerCost(layer, r, r.Energy - removed, Cycles(arch, r.ComputeCycles, kept), removed, kept);
    }

    /// <summary>
    /// The energy fusion removes (<see cref="Adjust"/>) from every member of one class of partial mappings of
    /// layer <paramref name="e"/> (docs/fusion.md, "Cost inside a class"): the same for all of them, since the
    /// class's constraints (<see cref="FusionMapspace.ClassConstraints"/>) fix every count Adjust removes (the
    /// held tensors' DRAM counts, the network words above the fusion level, a reader's fills there): each held
    /// tensor's tile at its fusion level is the part one shared iteration uses, brought once per iteration.
    /// Computed by the cost model and <see cref="Adjust"/> themselves on the class's simplest loop nest (the shared
    /// loops at DRAM, every other factor at the deepest fusion level, the held tensors kept there, nothing
    /// spatial), whose capacity does not matter to those counts.
    /// </summary>
    public static double ClassRemoval(Einsum e, Architecture arch, IReadOnlyList<TemporalLoop> shared, IReadOnlyList<HeldTensor> held)
    {
        if (held.All(h => h.Use == HeldUse.Loads)) return 0;
        int deepest = held.Max(x => x.Level);
        var rest = e.Ranks.Select(r => new TemporalLoop(r.Id, e.Bound(r.Id) / shared.Where(l => l.Rank == r.Id).Aggregate(1, (a, l) => a * l.Factor))).Where(l => l.Factor > 1);
        var levels = arch.Levels.Select((_, l) => new LevelMapping(
            l == 0 ? shared : l == deepest ? rest : [],
            [],
            l == 0 ? e.Tensors.Select(t => t.Id) : held.Where(x => x.Level == l).Select(x => x.Tensor))).ToList();
        var report = new Nest(e, arch, new Mapping(levels)).Evaluate();
        return Adjust(e.Name, arch, report, held).RemovedEnergy;
    }

    /// <summary>
    /// Cycles from compute cycles and the per-instance counts that remain, exactly as the cost model
    /// computes them: the largest of the compute cycles and every level's read and write bandwidth cycles.
    /// </summary>
    public static long Cycles(Architecture arch, long computeCycles, IEnumerable<TensorLevelCost> counts)
        => PipelineSchedule.Demand(arch, computeCycles, counts.Select(t => (t.LevelIndex, t.Reads, checked(t.Fills + t.Updates)))).Max();

    /// <summary>The objective of a total energy and total cycles.</summary>
    public static double Combine(Objective objective, double energy, double cycles) => objective switch
    {
        Formulation.Objective.Energy => energy,
        Formulation.Objective.Latency => cycles,
        Formulation.Objective.Edp => energy * cycles,
        _ => throw new ArgumentOutOfRangeException(nameof(objective), objective, "Unknown objective."),
    };
}
