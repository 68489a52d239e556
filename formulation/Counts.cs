using System.Runtime.CompilerServices;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// A tensor's affine indexing compiled to arrays over a list of rank positions: the one place where
/// the box extent of a tile, the overlap of a tile with itself moved, and so the words a moved window
/// brings are computed (docs/cost-model.md, "Tiles" and "Visits"). The reference model, the exact
/// search's array model, the bounds and the validity checker all call it.
/// </summary>
public sealed class TensorIndex
{
    private static readonly ConditionalWeakTable<TensorSpec, TensorIndex> OwnRanks = new();
    private readonly int[][] _ranks;
    private readonly int[][] _coefs;

    /// <summary>The tensor this indexing belongs to.</summary>
    public TensorSpec Tensor { get; }

    /// <summary>The ranks the positions of the extent and shift arrays stand for.</summary>
    public IReadOnlyList<RankId> Ranks { get; }

    /// <summary>The dimensions kept (with <c>keepTerm</c>, a dimension whose every term was left out is dropped).</summary>
    public int Dimensions => _ranks.Length;

    /// <summary>
    /// Compiles the indexing of <paramref name="tensor"/> over <paramref name="ranks"/> (every rank of its
    /// indices must be among them). <paramref name="keepTerm"/> may leave out terms that never move (a rank
    /// of bound 1): every count stays the same, and a dimension it leaves with no term (extent 1 always) is
    /// dropped. Without it every dimension is kept, in the tensor's order.
    /// </summary>
    public TensorIndex(TensorSpec tensor, IReadOnlyList<RankId> ranks, Func<AffineTerm, bool>? keepTerm = null)
    {
        Tensor = tensor;
        Ranks = ranks;
        var position = new Dictionary<RankId, int>();
        for (int i = 0; i < ranks.Count; i++) position[ranks[i]] = i;
        var dims = tensor.Dims
            .Select(d => d.Terms.Where(x => x.Coefficient != 0 && (keepTerm?.Invoke(x) ?? true)).ToArray())
            .Where(terms => terms.Length > 0 || keepTerm is null).ToArray();
        _ranks = dims.Select(d => d.Select(x => position.TryGetValue(x.Rank, out int p) ? p
            : throw new ArgumentException($"Tensor {tensor.Id} is indexed by rank {x.Rank}, which is not among the ranks given ({string.Join(", ", ranks)}).", nameof(ranks))).ToArray()).ToArray();
        _coefs = dims.Select(d => d.Select(x => x.Coefficient).ToArray()).ToArray();
    }

    /// <summary>The indexing of a tensor over its own ranks, in the order they first appear in its indices (cached per tensor).</summary>
    public static TensorIndex Of(TensorSpec tensor)
        => OwnRanks.GetValue(tensor, t => new TensorIndex(t, t.Dims.SelectMany(d => d.Terms).Select(x => x.Rank).Distinct().ToArray()));

    /// <summary>The rank positions of dimension k's terms.</summary>
    public ReadOnlySpan<int> RanksOf(int k) => _ranks[k];

    /// <summary>The coefficients of dimension k's terms.</summary>
    public ReadOnlySpan<int> CoefficientsOf(int k) => _coefs[k];

    /// <summary>The box extent of dimension k over a box of rank extents: <c>1 + sum |c| x (e - 1)</c> (a strided window counts its gaps).</summary>
    public long DimExtent(int k, ReadOnlySpan<long> rankExtent)
    {
        var ranks = _ranks[k];
        var coefs = _coefs[k];
        long span = 0;
        for (int i = 0; i < ranks.Length; i++) span = checked(span + Math.Abs((long)coefs[i]) * (rankExtent[ranks[i]] - 1));
        return span + 1;
    }

    /// <summary>Words in the bounding box of the tensor over a box of rank extents (a tile).</summary>
    public long Words(ReadOnlySpan<long> rankExtent)
    {
        long words = 1;
        for (int k = 0; k < _ranks.Length; k++) words = checked(words * DimExtent(k, rankExtent));
        return words;
    }

    /// <summary>How far dimension k moves when every rank moves by its entry of <paramref name="rankShift"/>.</summary>
    public long Shift(int k, ReadOnlySpan<long> rankShift)
    {
        var ranks = _ranks[k];
        var coefs = _coefs[k];
        long shift = 0;
        for (int i = 0; i < ranks.Length; i++) shift = checked(shift + coefs[i] * rankShift[ranks[i]]);
        return shift;
    }

    /// <summary>
    /// The words a tile of dimension extents <paramref name="dimExtent"/> shares with itself moved by
    /// <paramref name="rankShift"/>: per dimension, the extent less the distance moved (none when it
    /// moved further than its extent).
    /// </summary>
    public long Overlap(ReadOnlySpan<long> dimExtent, ReadOnlySpan<long> rankShift)
    {
        long overlap = 1;
        for (int k = 0; k < _ranks.Length && overlap > 0; k++)
            overlap = checked(overlap * Math.Max(0, dimExtent[k] - Math.Abs(Shift(k, rankShift))));
        return overlap;
    }

    /// <summary>The dimension extents of the tile over a box of rank extents, into <paramref name="into"/> (one entry per dimension).</summary>
    public void DimExtents(ReadOnlySpan<long> rankExtent, Span<long> into)
    {
        for (int k = 0; k < _ranks.Length; k++) into[k] = DimExtent(k, rankExtent);
    }

    /// <summary>The extents of <see cref="Ranks"/> read from a function of the rank, as the other members take them.</summary>
    public long[] RankExtents(Func<RankId, long> rankExtent)
    {
        var ext = new long[Ranks.Count];
        for (int i = 0; i < ext.Length; i++) ext[i] = rankExtent(Ranks[i]);
        return ext;
    }

    /// <summary>The dimension extents of the tile over a box of rank extents given per rank (one entry per dimension kept).</summary>
    public long[] DimExtents(Func<RankId, long> rankExtent)
    {
        var into = new long[Dimensions];
        DimExtents(RankExtents(rankExtent), into);
        return into;
    }

    /// <summary>The words of a tile (rank extents <paramref name="rankExtent"/>) that are new after it moves by <paramref name="rankShift"/>: the tile less its overlap with the previous one.</summary>
    public long Fresh(ReadOnlySpan<long> rankExtent, ReadOnlySpan<long> rankShift)
    {
        Span<long> ext = _ranks.Length <= 16 ? stackalloc long[_ranks.Length] : new long[_ranks.Length];
        DimExtents(rankExtent, ext);
        long tile = 1;
        foreach (var x in ext) tile = checked(tile * x);
        return tile - Overlap(ext, rankShift);
    }
}

/// <summary>One temporal loop above a tile, as the window formula sees it: its rank position, its factor, and how far one step moves the rank (the product of the rank's factors inside it).</summary>
public readonly record struct StepLoop(int Rank, long Factor, long Stride);

/// <summary>
/// The count and cost formulas of docs/cost-model.md, each written once. Every model, search and
/// bound calls these; the simulator alone counts by executing the mapping, as the independent check.
/// </summary>
public static class Counts
{
    /// <summary>
    /// Words brought into one instance of a level over the run when it holds exactly the current tile
    /// (docs/cost-model.md, "Visits"): the first tile, plus for every step of a temporal loop above it
    /// the words of the new tile the previous one did not hold. A step of loop j moves its rank by its
    /// stride and rewinds every loop inside it; it happens (f_j - 1) x (product of the factors outside j)
    /// times. <paramref name="loops"/> are outermost first; <paramref name="fresh"/>, when given, receives
    /// each loop's new words per step.
    /// </summary>
    public static long Visits(TensorIndex t, ReadOnlySpan<long> tileExtent, ReadOnlySpan<StepLoop> loops, Span<long> fresh = default)
    {
        int dims = t.Dimensions;
        Span<long> extent = dims <= 16 ? stackalloc long[dims] : new long[dims];
        t.DimExtents(tileExtent, extent);
        long tile = 1;
        foreach (var x in extent) tile = checked(tile * x);
        // shift[r]: how far the rank moves at a step of the current loop, once the loops inside it rewind.
        Span<long> rewind = tileExtent.Length <= 32 ? stackalloc long[tileExtent.Length] : new long[tileExtent.Length];
        Span<long> shift = tileExtent.Length <= 32 ? stackalloc long[tileExtent.Length] : new long[tileExtent.Length];
        rewind.Clear();
        Span<long> perLoop = loops.Length <= 64 ? stackalloc long[loops.Length] : new long[loops.Length];
        for (int j = loops.Length - 1; j >= 0; j--)
        {
            var (r, f, stride) = loops[j];
            for (int i = 0; i < shift.Length; i++) shift[i] = -rewind[i];
            shift[r] = checked(shift[r] + stride);
            perLoop[j] = tile - t.Overlap(extent, shift);
            rewind[r] = checked(rewind[r] + (f - 1) * stride);
        }
        long total = tile, outer = 1;
        for (int j = 0; j < loops.Length; j++)
        {
            total = checked(total + Transitions(loops[j].Factor, outer) * perLoop[j]);
            outer = checked(outer * loops[j].Factor);
        }
        if (!fresh.IsEmpty) perLoop.CopyTo(fresh);
        return total;
    }

    /// <summary>How many times a loop of factor <paramref name="factor"/> steps when the loops outside it run <paramref name="outer"/> times.</summary>
    public static long Transitions(long factor, long outer) => checked((factor - 1) * outer);

    /// <summary>Fills of a keeper below the outermost level: its visits, less the first touch of each output element it holds (no fill needed).</summary>
    public static long Fills(bool output, bool outermost, long visits, long partition)
        => outermost ? 0 : output ? visits - partition : visits;

    /// <summary>
    /// Words a parent serves its children below over the run: reads of an operand, or updates of an
    /// output, one per child word, shared by the children the fanout multicasts to (or reduces over).
    /// </summary>
    public static long Served(long childWords, long children, long shared) => checked(childWords * (children / shared));

    /// <summary>Reads of an output at its keeper: one per update (read-modify-write) except the first touch of each element it holds.</summary>
    public static long OutputReads(long updates, long partition) => updates - partition;

    /// <summary>True when the fanout shares one parent access among children for this tensor: multicast for operands, spatial reduction for outputs.</summary>
    public static bool Shares(Fanout fanout, bool output) => output ? fanout.SpatialReduction : fanout.Multicast;

    /// <summary>Hops per word over a fanout: 1 on a bus; on a mesh 1 plus the mean Manhattan distance from the entry corner to the children used (<paramref name="usedX"/> x <paramref name="usedY"/>).</summary>
    public static double Hops(Topology topology, long usedX, long usedY)
        => topology == Topology.Bus ? 1 : 1 + (usedX - 1) / 2.0 + (usedY - 1) / 2.0;

    /// <summary>Energy of one instance's accesses at a level: reads at the read energy, fills and updates at the write energy.</summary>
    public static double AccessEnergy(StorageLevel level, double reads, double fills, double updates)
        => reads * level.ReadEnergy + (fills + updates) * level.WriteEnergy;

    /// <summary>Cycles a level needs for its accesses per instance: the larger of reads over the read bandwidth and writes over the write bandwidth (0 without limits).</summary>
    public static long BandwidthCycles(StorageLevel level, double reads, double writes)
        => Math.Max(
            level.ReadBandwidth is { } rb ? (long)Math.Ceiling(reads / rb) : 0,
            level.WriteBandwidth is { } wb ? (long)Math.Ceiling(writes / wb) : 0);

    /// <summary>Compute cycles: the MACs one compute unit does over its MACs per cycle, rounded up.</summary>
    public static long ComputeCycles(long macsPerUnit, int macsPerCycle) => (macsPerUnit + macsPerCycle - 1) / macsPerCycle;

    /// <summary>Words in the bounding box of a tensor over a box of rank extents (see <see cref="TensorIndex.Words"/>).</summary>
    public static long Footprint(this TensorSpec tensor, Func<RankId, long> rankExtent)
    {
        var index = TensorIndex.Of(tensor);
        return index.Words(index.RankExtents(rankExtent));
    }

    /// <summary>Words of the whole tensor (its box over every rank's bound).</summary>
    public static long TensorWords(this Einsum einsum, TensorSpec tensor) => tensor.Footprint(r => einsum.Bound(r));
}
