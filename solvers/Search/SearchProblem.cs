using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// One tensor as the search sees it: its indexing (the formula kernel's <see cref="TensorIndex"/>, terms
/// over ranks of bound 1 left out), the ranks that index it, and the facts about its indexing that the
/// bounds' rules turn on, each per rank where it depends on one.
/// </summary>
internal sealed class SearchTensor
{
    public SearchTensor(int index, TensorSpec spec, TensorIndex dims, bool[] indexedBy)
    {
        Index = index;
        Bit = 1 << index;
        Spec = spec;
        IsOutput = spec.IsOutput;
        Dims = dims;
        IndexedBy = indexedBy;
        var dimensions = Enumerable.Range(0, dims.Dimensions).ToArray();
        Plain = dimensions.All(k => dims.RanksOf(k).Length == 1);
        PlainDimRank = Enumerable.Range(0, indexedBy.Length).Select(r =>
            dimensions.Any(k => dims.RanksOf(k).Length == 1 && dims.RanksOf(k)[0] == r)).ToArray();
        NonNegative = dimensions.All(k => dims.CoefficientsOf(k).ToArray().All(c => c >= 0));
        WindowRank = Enumerable.Range(0, indexedBy.Length).Select(r => !PlainDimRank[r] &&
            dimensions.Any(k => dims.RanksOf(k).Contains(r))).ToArray();
        UnitCoefficients = dimensions.All(k => dims.CoefficientsOf(k) is [1]);
        IsWindow = WindowRank.Any(w => w);
    }

    /// <summary>The tensor's position in the layer, and so its bit in keep masks.</summary>
    public int Index { get; }
    public int Bit { get; }
    public TensorSpec Spec { get; }
    public bool IsOutput { get; }
    public TensorIndex Dims { get; }
    /// <summary>Per rank: the rank indexes the tensor.</summary>
    public bool[] IndexedBy { get; }
    /// <summary>Every dimension is one rank (any non-zero coefficient).</summary>
    public bool Plain { get; }
    /// <summary>Per rank: the rank alone indexes a dimension.</summary>
    public bool[] PlainDimRank { get; }
    /// <summary>No dimension has a negative coefficient (rewinds never move a tile back toward itself).</summary>
    public bool NonNegative { get; }
    /// <summary>Per rank: the rank indexes the tensor only in dimensions with other ranks (P + R).</summary>
    public bool[] WindowRank { get; }
    /// <summary>Some rank indexes the tensor through a sliding window (<see cref="WindowRank"/>).</summary>
    public bool IsWindow { get; }
    /// <summary>Every dimension is one rank with coefficient 1.</summary>
    public bool UnitCoefficients { get; }

    /// <summary>The words of the tensor's tile over a box of rank extents (the kernel's <see cref="TensorIndex.Words"/>).</summary>
    public long Tile(ReadOnlySpan<long> ext) => Dims.Words(ext);

    /// <summary>
    /// The words of the tile (extents <paramref name="ext"/>) that are new after a loop over r moves it by
    /// <paramref name="stride"/> while the loops inside it rewind by <paramref name="back"/> per rank.
    /// </summary>
    public long WindowFresh(ReadOnlySpan<long> ext, int r, long stride, ReadOnlySpan<long> back)
    {
        Span<long> shift = stackalloc long[back.Length];
        for (int rr = 0; rr < shift.Length; rr++) shift[rr] = checked((rr == r ? stride : 0) - back[rr]);
        return Dims.Fresh(ext, shift);
    }

    /// <summary>
    /// A lower bound on the distinct words of the tensor that the points of a box of rank extents use: per
    /// dimension, the whole span when it has no gaps, the extent of its rank when one rank moves
    /// (a non-zero coefficient never repeats a value), and the larger extent when two or more move.
    /// Every word used reaches an instance at least once, so visits are never fewer.
    /// </summary>
    public long UsedWords(long[] ext) => UsedWords(ext, default);

    /// <summary>
    /// <see cref="UsedWords(long[])"/> for an instance whose values of the ranks marked in <paramref name="gapped"/> need not be
    /// consecutive (a rank split across a fanout above it, with loops over it above the split): a dimension indexed by such a
    /// rank, or not dense, counts the fewest values its terms can take with the other ranks' values consecutive
    /// (<see cref="TensorIndex.LeastDimValues"/>).
    /// </summary>
    public long UsedWords(long[] ext, ReadOnlySpan<bool> gapped)
    {
        long words = 1;
        for (int k = 0; k < Dims.Dimensions; k++)
        {
            bool dense = true;
            long largest = 1;
            foreach (int r in Dims.RanksOf(k))
            {
                largest = Math.Max(largest, ext[r]);
                if (!gapped.IsEmpty && gapped[r]) dense = false;
            }
            // Without the gaps said, a rank's values are not known to be consecutive where the dimension is not dense.
            words = checked(words * (dense && DenseDim(k, ext) ? Dims.DimExtent(k, ext) : gapped.IsEmpty ? largest : Dims.LeastDimValues(k, ext, gapped)));
        }
        return words;
    }

    /// <summary>True when every index in the tensor's bounding box over these extents is used by some point of the box.</summary>
    public bool DenseTile(long[] ext)
    {
        for (int d = 0; d < Dims.Dimensions; d++) if (!DenseDim(d, ext)) return false;
        return true;
    }

    /// <summary>True when every index of dimension k's span over these extents is used by some point of the box.</summary>
    private bool DenseDim(int k, long[] ext)
    {
        var ranks = Dims.RanksOf(k);
        var coefs = Dims.CoefficientsOf(k);
        // Terms over a rank of extent 1 do not move; what remains must step by 1, or be two terms whose steps leave no gap.
        int count = 0, a = -1, b = -1;
        for (int i = 0; i < ranks.Length; i++)
        {
            if (ext[ranks[i]] <= 1) continue;
            if (count == 0) a = i; else b = i;
            if (++count > 2) return false;
        }
        if (count == 0) return true;
        if (count == 1) return Math.Abs(coefs[a]) == 1;
        long ca = Math.Abs(coefs[a]), cb = Math.Abs(coefs[b]);
        long ea = ext[ranks[a]], eb = ext[ranks[b]];
        return (ca == 1 && cb <= ea) || (cb == 1 && ca <= eb);
    }
}

/// <summary>
/// The problem compiled once for the search's parts: ranks and their bounds, the tensors
/// (<see cref="SearchTensor"/>), the storage levels with what each may keep and the fanout below each,
/// the divisors of every bound's divisors, and the MACs' energy.
/// </summary>
internal sealed class SearchProblem
{
    public MapProblem Map { get; }
    public int Levels { get; }
    public int Ranks { get; }
    public int TensorCount => Tensors.Length;
    public long[] Bound { get; }
    public RankId[] RankIds { get; }
    public SearchTensor[] Tensors { get; }
    /// <summary>The architecture's levels, outermost first.</summary>
    public StorageLevel[] Storage { get; }
    /// <summary>Per divisor of a bound, its divisors in increasing order.</summary>
    public Dictionary<long, long[]> Divisors { get; } = new();
    /// <summary>Per divisor of a bound, its least factor above 1.</summary>
    public Dictionary<long, long> SmallestFactor { get; } = new();
    /// <summary>Per level, the keep bitmask of the tensors the level may keep (every tensor at level 0).</summary>
    public int[] AllowedMask { get; }
    /// <summary>Per level d, the product of the fanout sizes of levels d and below ([Levels] = 1).</summary>
    public long[] FanoutBelow { get; }
    public double MacEnergy { get; }
    /// <summary>The search defers loop orders to the leaves (energy, uncapped; see <see cref="SearchModel.DeferOrders"/>).</summary>
    public bool DeferOrders { get; }
    /// <summary>
    /// The mapspace has imperfect factors (docs/mapspace.md, "Imperfect factors"; <see cref="ImperfectSearch"/>): a state's
    /// tile extents are clipped to the bounds, and the array model counts partial tiles (<see cref="Counts.ClippedVisits"/>).
    /// </summary>
    public bool Imperfect { get; }
    /// <summary>
    /// The problem's counts may give children the words of a sliding window more cheaply than the array model's parent
    /// reads (one read per distinct stream): the Timeloop convention multicasts identical words and forwards words between
    /// neighbours, and an architecture may forward (docs/cost-model.md). The array model then counts, for a window tensor
    /// served across a fanout that splits a window rank, only the words new to the union of the children's tiles
    /// (<see cref="ArrayCostModel"/>, "shared windows"): a lower bound of those counts, so its bounds stay valid while its
    /// exact value is not the problem's cost (leaves are costed by the reference model).
    /// </summary>
    public bool SharedWindows { get; }
    /// <summary>The problem's counts have no network energy (the Timeloop convention counts none), so the array model counts none either.</summary>
    public bool NoNetwork { get; }

    public SearchProblem(MapProblem p, bool deferOrders, bool imperfect = false)
    {
        Map = p;
        Imperfect = imperfect;
        NoNetwork = p.Convention == CostConvention.Timeloop;
        // A cap on cycles couples the levels' orders (bandwidth cycles depend on them), so capped searches branch on orders.
        DeferOrders = deferOrders && p.Objective == Objective.Energy && p.Caps is null;
        var e = p.Layer;
        Levels = p.Arch.Levels.Count;
        Ranks = e.Ranks.Count;
        RankIds = e.Ranks.Select(r => r.Id).ToArray();
        Bound = e.Ranks.Select(r => (long)r.Bound).ToArray();
        var rankIndex = RankIds.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i);
        // A term over a rank of bound 1 never moves (its index is always 0), so it is left out, and so is a
        // dimension left with no term: every count is the same, and a 1x1 convolution's input (P + R with
        // R = 1) is then seen as indexed by P alone, which the closed forms and the refetch rules need.
        Tensors = e.Tensors.Select((t, i) => new SearchTensor(i, t,
            new TensorIndex(t, RankIds, x => Bound[rankIndex[x.Rank]] > 1),
            RankIds.Select(r => t.IsIndexedBy(r)).ToArray())).ToArray();
        // Without a sliding window no child's tile overlaps a neighbour's or its own previous one, so nothing is shared or
        // forwarded beyond multicast, and Timeloop's sampling of a plain projection is exact: the counts are the model's.
        SharedWindows = !imperfect && (p.Convention == CostConvention.Timeloop || p.Arch.HasForwarding) && Tensors.Any(t => t.IsWindow);
        Storage = p.Arch.Levels.ToArray();
        AllowedMask = new int[Levels];
        for (int d = 0; d < Levels; d++)
            foreach (var t in Tensors)
                if (d == 0 || Storage[d].MayKeep(t.Spec.Role)) AllowedMask[d] |= t.Bit;
        FanoutBelow = new long[Levels + 1];
        FanoutBelow[Levels] = 1;
        for (int d = Levels - 1; d >= 0; d--) FanoutBelow[d] = checked(FanoutBelow[d + 1] * Storage[d].Fanout.Size);
        foreach (var b in Bound) foreach (var x in DivisorsOf(b)) Divisors[x] = DivisorsOf(x);
        foreach (var (x, divisors) in Divisors) SmallestFactor[x] = divisors.Length > 1 ? divisors[1] : x;
        MacEnergy = e.Macs * p.Arch.Compute.MacEnergy;
    }

    /// <summary>The energy of one word's hop over level m's fanout as the problem counts it: none under the Timeloop convention (<see cref="NoNetwork"/>).</summary>
    public double HopEnergy(int m) => NoNetwork ? 0 : Storage[m].Fanout.HopEnergy;

    /// <summary>
    /// True when the Timeloop convention's counts of every mapping are the array model's own (the Timeloop convention, no
    /// tensor indexed through a sliding window, perfect factors): multicast on every fanout and no network energy are the
    /// model's bookkeeping under it, and Timeloop's sampling extrapolates a plain projection exactly. The energy search's
    /// per-level orders and bounds then hold as they are (docs/mapspace.md, "Shared windows").
    /// </summary>
    public bool TimeloopExact => Map.Convention == CostConvention.Timeloop && !Imperfect && !Tensors.Any(t => t.IsWindow);

    /// <summary>
    /// True when the energy search bounds tensor t by an order-free floor instead of its counts (docs/mapspace.md,
    /// "Window layers under the Timeloop convention"): a window tensor under the Timeloop convention, whose counts depend on
    /// every level's order together (Timeloop's sampling, neighbours' link transfers) and are costed at the leaves by the
    /// emulation. The plain tensors of the same layer keep the array model's counts, which are Timeloop's own.
    /// </summary>
    public bool Floored(SearchTensor t) => DeferOrders && t.IsWindow && Map.Convention == CostConvention.Timeloop && !Imperfect;

    /// <summary>True when some tensor is bounded by its order-free floor (<see cref="Floored"/>): leaves then search every order class by the emulation.</summary>
    public bool AnyFloored => _anyFloored ??= Tensors.Any(Floored);
    private bool? _anyFloored;

    /// <summary>What the constraints pin at level d.</summary>
    public LevelConstraint Constraint(int d) => (Map.Constraints ?? MappingConstraints.None).For(d);

    /// <summary>True when the constraints let level m keep t and the architecture allows it.</summary>
    public bool MayKeep(SearchTensor t, int m) => (AllowedMask[m] & t.Bit) != 0 && !Constraint(m).Bypass.Contains(t.Spec.Id);

    /// <summary>
    /// Whether level m may keep t when t's smallest possible tile there is <paramref name="leastTile"/> words: <see cref="MayKeep"/>
    /// and that tile within m's capacity (the one test of <c>InnerBound.CanKeepAbove</c> and <c>PlainPlans.Plain</c>).
    /// </summary>
    public bool MayKeepTile(SearchTensor t, int m, long leastTile) => MayKeep(t, m) && TileFits(m, leastTile);

    /// <summary>Whether a tile of <paramref name="words"/> fits level m's capacity (always, for a level without one).</summary>
    public bool TileFits(int m, long words) => Storage[m].Capacity is not { } cap || words <= cap;

    /// <summary>A complete state as the one Mapping type: per level its temporal loops in the chosen order, its spatial loops (X, then Y) and its keep set.</summary>
    public Mapping ToMapping(State s) => ToMapping(s, null);

    /// <summary><see cref="ToMapping(State)"/> with the spatial split of <paramref name="plan"/> (a variant of the state's plan) instead of the state's.</summary>
    public Mapping ToMapping(State s, SpatialPlan? plan)
    {
        var levels = new List<LevelMapping>();
        for (int d = 0; d < Levels; d++)
        {
            var ch = s.Choice[d]!;
            if (plan is not null) ch = ch with { SpatialX = plan.X[d], SpatialY = plan.Y[d] };
            var temporal = ch.Order.Select(r => new TemporalLoop(RankIds[r], ch.Temporal[r]));
            var spatial = new List<SpatialLoop>();
            for (int r = 0; r < Ranks; r++)
            {
                if (ch.SpatialX[r] > 1) spatial.Add(new SpatialLoop(RankIds[r], ch.SpatialX[r], Axis.X));
                if (ch.SpatialY[r] > 1) spatial.Add(new SpatialLoop(RankIds[r], ch.SpatialY[r], Axis.Y));
            }
            var keep = Tensors.Where(t => (s.Keep[d] & t.Bit) != 0).Select(t => t.Spec.Id);
            levels.Add(new LevelMapping(temporal, spatial, keep));
        }
        return new Mapping(levels);
    }

    private static long[] DivisorsOf(long n)
    {
        var small = new List<long>();
        var large = new List<long>();
        for (long i = 1; i * i <= n; i++)
            if (n % i == 0) { small.Add(i); if (i != n / i) large.Add(n / i); }
        large.Reverse();
        return [.. small, .. large];
    }
}

/// <summary>A part of the search's model: the compiled problem it works on, with its level and rank counts at hand.</summary>
internal abstract class SearchPart(SearchProblem problem)
{
    protected readonly SearchProblem _m = problem;
    protected int Levels => _m.Levels;
    protected int Ranks => _m.Ranks;
}
