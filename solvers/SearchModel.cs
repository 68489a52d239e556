using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>One level's decision: temporal factors and their order, and the spatial split along X and Y.</summary>
internal sealed record LevelChoice(int[] Temporal, int[] Order, int[] SpatialX, int[] SpatialY);

/// <summary>The spatial split of every level decided up front: per level, the factor of each rank along X and along Y.</summary>
internal sealed record SpatialPlan(int[][] X, int[][] Y);

/// <summary>What a spatial plan alone fixes: the MACs per compute unit, and per level and tensor the words one instance touches and uses.</summary>
internal sealed record PlanFacts(long TemporalTotal, long[][] Partition, long[][] Used);

/// <summary>The decisions of a partial mapping, outermost level first, with what they imply.</summary>
internal sealed class State
{
    public readonly long[][] Rem;     // tile extents per rank at each level (Rem[n] = all ones at a leaf)
    public readonly int[] Keep;        // keep bitmask over tensors per level
    public readonly LevelChoice?[] Choice;
    public readonly long[] Used;       // instances used per level; [n] = compute units
    public SpatialPlan? Plan;          // when set, every level's spatial split is fixed by it
    public PlanFacts? Facts;           // what the plan alone fixes, computed once per state
    public readonly double[][][] InnerVisits; // [d][c][tensor]: the least that level d's loops add to the visits at keeper c (inner-first)

    public State(SearchModel m, SpatialPlan? plan = null)
    {
        Plan = plan;
        InnerVisits = new double[m.Levels][][];
        for (int d = 0; d < m.Levels; d++) { InnerVisits[d] = new double[m.Levels][]; for (int c = 0; c < m.Levels; c++) InnerVisits[d][c] = new double[m.TensorCount]; }
        if (plan is not null)
        {
            // The instances used follow from the plan alone, so every level's count is known from the start.
            Used = new long[m.Levels + 1];
            Used[0] = 1;
            for (int d = 0; d < m.Levels; d++)
            {
                long spatial = 1;
                for (int r = 0; r < m.Ranks; r++) spatial *= (long)plan.X[d][r] * plan.Y[d][r];
                Used[d + 1] = Used[d] * spatial;
            }
        }
        else Used = new long[m.Levels + 1];
        Rem = new long[m.Levels + 1][];
        for (int d = 0; d <= m.Levels; d++) Rem[d] = new long[m.Ranks];
        for (int r = 0; r < m.Ranks; r++) Rem[0][r] = m.Bound[r];
        if (plan is not null) Array.Fill(Rem[m.Levels], 1L);
        Keep = new int[m.Levels];
        Choice = new LevelChoice?[m.Levels];
        Used[0] = 1;
    }

    public void Apply(int d, LevelChoice c)
    {
        Choice[d] = c;
        long spatial = 1;
        for (int r = 0; r < Rem[d].Length; r++)
        {
            Rem[d + 1][r] = Rem[d][r] / ((long)c.Temporal[r] * c.SpatialX[r] * c.SpatialY[r]);
            spatial *= (long)c.SpatialX[r] * c.SpatialY[r];
        }
        Used[d + 1] = Used[d] * spatial;
    }

    /// <summary>The spatial factor of rank r at level d along both axes, from the plan or the level's choice.</summary>
    public long Spatial(int d, int r) => Plan is { } p ? (long)p.X[d][r] * p.Y[d][r] : (long)Choice[d]!.SpatialX[r] * Choice[d]!.SpatialY[r];
}

/// <summary>
/// The search's own array-based copy of the cost model (docs/cost-model.md), able to cost a partial
/// mapping's fixed terms. Every answer is re-costed by the reference <see cref="CostModel"/>, and the
/// regression tests compare the two on random mappings.
/// </summary>
internal sealed class SearchModel
{
    /// <summary>One tensor as the search sees it: its indexing (the formula kernel's <see cref="TensorIndex"/>, terms over ranks of bound 1 left out) and the ranks that index it.</summary>
    private sealed record TensorInfo(int Index, TensorSpec Spec, bool IsOutput, TensorIndex Dims, bool[] IndexedBy);

    private readonly MapProblem _p;
    private readonly TensorInfo[] _tensors;
    private readonly StorageLevel[] _levels;
    private readonly Dictionary<long, long[]> _divisors = new();
    private readonly Dictionary<long, long> _smallestFactor = new(); // per divisor of a bound: its least factor above 1
    private readonly int[] _allowedMask;
    private readonly long[] _fanoutBelow; // product of fanout sizes of levels >= d
    private readonly double _macEnergy;
    private readonly bool[] _plain; // per tensor: every dimension is one rank (any non-zero coefficient)
    private readonly bool[][] _plainDimRank; // per tensor and rank: the rank alone indexes a dimension
    private readonly bool[] _nonNegative;    // per tensor: no dimension has a negative coefficient (rewinds never move a tile back toward itself)
    private readonly bool[][] _windowRank;   // per tensor and rank: the rank indexes t only in dimensions with other ranks (P + R)

    public int Levels { get; }
    public int Ranks { get; }
    public int TensorCount => _tensors.Length;

    /// <summary>
    /// True for the branch and bound on energy: it searches levels innermost first
    /// (<see cref="InnerChoices"/>, <see cref="InnerBound"/>) without branching on loop orders, and
    /// <see cref="OptimizeOrders"/> picks every level's best order at a leaf. Sound for energy only, where
    /// each level's order adds its own term (docs/mapspace.md, "Orders are chosen per level").
    /// </summary>
    public bool DeferOrders { get; }
    public long[] Bound { get; }
    public RankId[] RankIds { get; }

    public SearchModel(MapProblem p, bool deferOrders = false)
    {
        _p = p;
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
        // R = 1) is then seen as indexed by P alone, which the closed forms and the refetch rules below need.
        _tensors = e.Tensors.Select((t, i) => new TensorInfo(i, t, t.IsOutput,
            new TensorIndex(t, RankIds, x => Bound[rankIndex[x.Rank]] > 1),
            RankIds.Select(r => t.IsIndexedBy(r)).ToArray())).ToArray();
        _levels = p.Arch.Levels.ToArray();
        _plain = _tensors.Select(t => Dims(t).All(k => t.Dims.RanksOf(k).Length == 1)).ToArray();
        _plainDimRank = _tensors.Select(t => Enumerable.Range(0, Ranks).Select(r =>
            Dims(t).Any(k => t.Dims.RanksOf(k).Length == 1 && t.Dims.RanksOf(k)[0] == r)).ToArray()).ToArray();
        _nonNegative = _tensors.Select(t => Dims(t).All(k => t.Dims.CoefficientsOf(k).ToArray().All(c => c >= 0))).ToArray();
        _windowRank = _tensors.Select(t => Enumerable.Range(0, Ranks).Select(r => !_plainDimRank[t.Index][r] &&
            Dims(t).Any(k => t.Dims.RanksOf(k).Contains(r))).ToArray()).ToArray();
        _allowedMask = new int[Levels];
        for (int d = 0; d < Levels; d++)
            foreach (var t in _tensors)
                if (d == 0 || _levels[d].MayKeep(t.Spec.Role)) _allowedMask[d] |= 1 << t.Index;
        _fanoutBelow = new long[Levels + 1];
        _fanoutBelow[Levels] = 1;
        for (int d = Levels - 1; d >= 0; d--) _fanoutBelow[d] = _fanoutBelow[d + 1] * _levels[d].Fanout.Size;
        foreach (var b in Bound) foreach (var x in DivisorsOf(b)) _divisors[x] = DivisorsOf(x);
        foreach (var (x, divisors) in _divisors) _smallestFactor[x] = divisors.Length > 1 ? divisors[1] : x;
        _macEnergy = e.Macs * p.Arch.Compute.MacEnergy;
    }

    /// <summary>The dimension positions of t's indexing.</summary>
    private static IEnumerable<int> Dims(TensorInfo t) => Enumerable.Range(0, t.Dims.Dimensions);

    private static long[] DivisorsOf(long n)
    {
        var small = new List<long>();
        var large = new List<long>();
        for (long i = 1; i * i <= n; i++)
            if (n % i == 0) { small.Add(i); if (i != n / i) large.Add(n / i); }
        large.Reverse();
        return [.. small, .. large];
    }

    private LevelConstraint Constraint(int d) => (_p.Constraints ?? MappingConstraints.None).For(d);

    /// <summary>The keep sets level d may choose, largest first.</summary>
    public IEnumerable<int> KeepOptions(int d, State s)
    {
        int all = (1 << _tensors.Length) - 1;
        if (d == 0) { yield return all; yield break; }
        var c = Constraint(d);
        int must = 0, mustNot = 0;
        foreach (var t in _tensors)
        {
            if (c.Keep.Contains(t.Spec.Id)) must |= 1 << t.Index;
            if (c.Bypass.Contains(t.Spec.Id)) mustNot |= 1 << t.Index;
        }
        for (int mask = all; mask >= 0; mask--)
        {
            if ((mask & ~_allowedMask[d]) != 0 || (mask & must) != must || (mask & mustNot) != 0) continue;
            yield return mask;
        }
    }

    private static long Tile(TensorInfo t, ReadOnlySpan<long> ext) => t.Dims.Words(ext);

    /// <summary>True when the tiles level d keeps fit its capacity.</summary>
    public bool Fits(int d, State s)
    {
        if (_levels[d].Capacity is not { } cap) return true;
        long need = 0;
        foreach (var t in _tensors) if ((s.Keep[d] & (1 << t.Index)) != 0) need += Tile(t, s.Rem[d]);
        return need <= cap;
    }

    /// <summary>Every decision level d can take, given the tile extents it has.</summary>
    public IEnumerable<LevelChoice> LevelChoices(int d, State s)
    {
        var rem = s.Rem[d];
        var c = Constraint(d);
        var fan = _levels[d].Fanout;
        bool last = d == Levels - 1;
        var sx = new int[Ranks];
        var sy = new int[Ranks];
        var spatialOptions = s.Plan is { } plan ? FromPlan(plan) : Spatial(0, 1, 1);
        foreach (var _ in spatialOptions)
        {
            var t = new int[Ranks];
            foreach (var __ in Temporal(0))
            {
                // The innermost level's order changes no count (only the compute units are below it), so one canonical order stands for all.
                var active = Enumerable.Range(0, Ranks).Where(r => t[r] > 1).ToArray();
                if (c.Order is not null)
                {
                    if (PinnedOrder(c, active) is { } order)
                        yield return new LevelChoice((int[])t.Clone(), order, (int[])sx.Clone(), (int[])sy.Clone());
                }
                else if (last || active.Length <= 1)
                    yield return new LevelChoice((int[])t.Clone(), active, (int[])sx.Clone(), (int[])sy.Clone());
                else
                {
                    // Orders that cost the same for every tensor a level below may keep are one class;
                    // only the first order of each class (in lexicographic order) is searched.
                    var below = BelowTensors(d);
                    var seen = below is null ? null : new HashSet<string>();
                    foreach (var perm in Permutations(active))
                    {
                        if (seen is not null && !seen.Add(OrderClass(perm, below!))) continue;
                        yield return new LevelChoice((int[])t.Clone(), perm, (int[])sx.Clone(), (int[])sy.Clone());
                    }
                }
            }

            IEnumerable<bool> Temporal(int r)
            {
                if (r == Ranks) { yield return true; yield break; }
                // With a spatial plan, the splits of the levels below must still divide what is left.
                long left = rem[r] / ((long)sx[r] * sy[r]);
                if (s.Plan is { } p) for (int b = d + 1; b < Levels; b++) left /= (long)p.X[b][r] * p.Y[b][r];
                IEnumerable<long> options = last ? [left]
                    : c.Temporal.TryGetValue(RankIds[r], out var pinned) ? (left % pinned == 0 ? [pinned] : [])
                    : _divisors[left];
                foreach (var f in options)
                {
                    if (last && c.Temporal.TryGetValue(RankIds[r], out var must) && must != f) continue;
                    t[r] = (int)f;
                    foreach (var x in Temporal(r + 1)) yield return x;
                }
            }
        }

        IEnumerable<bool> FromPlan(SpatialPlan plan)
        {
            Array.Copy(plan.X[d], sx, Ranks);
            Array.Copy(plan.Y[d], sy, Ranks);
            yield return true;
        }

        IEnumerable<bool> Spatial(int r, long px, long py)
        {
            if (r == Ranks) { yield return true; yield break; }
            foreach (var fx in AxisOptions(c, r, Axis.X, rem[r], fan.X / px))
            {
                sx[r] = (int)fx;
                foreach (var fy in AxisOptions(c, r, Axis.Y, rem[r] / fx, fan.Y / py))
                {
                    sy[r] = (int)fy;
                    foreach (var x in Spatial(r + 1, px * fx, py * fy)) yield return x;
                }
            }
        }
    }

    /// <summary>What costs see of a spatial plan: per level, each rank's factor, and on a mesh the children used along X plus along Y.</summary>
    private string PlanKey(int[][] x, int[][] y)
    {
        var sb = new System.Text.StringBuilder();
        for (int d = 0; d < Levels; d++)
        {
            long ux = 1, uy = 1;
            for (int r = 0; r < Ranks; r++) { sb.Append(x[d][r] * y[d][r]).Append(','); ux *= x[d][r]; uy *= y[d][r]; }
            if (_levels[d].Fanout.Topology != Topology.Bus) sb.Append('m').Append(ux + uy);
            sb.Append('|');
        }
        return sb.ToString();
    }

    /// <summary>
    /// The loops of a level in the order its constraint pins (outermost first), or, with no pinned order,
    /// in rank order; null when a loop's rank is not in the pinned order (it must then have factor 1).
    /// </summary>
    private int[]? PinnedOrder(LevelConstraint c, int[] active)
    {
        if (c.Order is not { } pinned) return active;
        var ids = pinned.ToList();
        if (active.Any(r => !ids.Contains(RankIds[r]))) return null;
        return active.OrderBy(r => ids.IndexOf(RankIds[r])).ToArray();
    }

    /// <summary>The spatial factors rank r may take along one axis of level d's fanout, given what is left of it and the room on the axis.</summary>
    private IEnumerable<long> AxisOptions(LevelConstraint c, int r, Axis axis, long left, long room)
    {
        if (c.Spatial.TryGetValue((RankIds[r], axis), out var pinned))
        {
            if (left % pinned == 0 && pinned <= room) yield return pinned;
            yield break;
        }
        var allowed = axis == Axis.X ? c.SpatialX : c.SpatialY;
        if (allowed is not null && !allowed.Contains(RankIds[r])) { yield return 1; yield break; }
        foreach (var f in _divisors[left]) { if (f > room) break; yield return f; }
    }

    /// <summary>
    /// Every spatial split of every level that the fanouts and the constraints allow (the same splits
    /// <see cref="LevelChoices"/> offers level by level), in a fixed order.
    /// </summary>
    public List<SpatialPlan> SpatialPlans()
    {
        var plans = new List<SpatialPlan>();
        var seen = new HashSet<string>();
        var x = new int[Levels][];
        var y = new int[Levels][];
        for (int d = 0; d < Levels; d++) { x[d] = Enumerable.Repeat(1, Ranks).ToArray(); y[d] = Enumerable.Repeat(1, Ranks).ToArray(); }
        var left = (long[])Bound.Clone();
        Split(0, 0, 1, 1);
        return plans;

        void Split(int d, int r, long px, long py)
        {
            if (d == Levels)
            {
                // Costs see a plan only through each rank's spatial factor per level (and, on a mesh, the
                // number of children used along X plus along Y), never through which axis a rank is on:
                // plans that agree on those are the same for every count, so the first stands for all.
                if (seen.Add(PlanKey(x, y))) plans.Add(new SpatialPlan(x.Select(a => (int[])a.Clone()).ToArray(), y.Select(a => (int[])a.Clone()).ToArray()));
                return;
            }
            if (r == Ranks) { Split(d + 1, 0, 1, 1); return; }
            var fan = _levels[d].Fanout;
            var c = Constraint(d);
            foreach (var fx in AxisOptions(c, r, Axis.X, left[r], fan.X / px))
                foreach (var fy in AxisOptions(c, r, Axis.Y, left[r] / fx, fan.Y / py))
                {
                    x[d][r] = (int)fx;
                    y[d][r] = (int)fy;
                    left[r] /= fx * fy;
                    Split(d, r + 1, px * fx, py * fy);
                    left[r] *= fx * fy;
                }
            x[d][r] = 1;
            y[d][r] = 1;
        }
    }

    /// <summary>
    /// The tensors some level below d may keep, when every one of them is indexed by plain ranks (no
    /// sliding window, coefficient 1); null otherwise, and then every order is searched.
    /// </summary>
    private TensorInfo[]? BelowTensors(int d)
    {
        var c = _p.Constraints ?? MappingConstraints.None;
        var below = _tensors.Where(t => Enumerable.Range(d + 1, Levels - d - 1)
            .Any(m => (_allowedMask[m] & (1 << t.Index)) != 0 && !c.For(m).Bypass.Contains(t.Spec.Id))).ToArray();
        bool plain = below.All(t => Dims(t).All(k => t.Dims.CoefficientsOf(k) is [1]));
        return plain ? below : null;
    }

    /// <summary>
    /// The class of a level's loop order for tensors indexed by plain ranks. For such a tensor a step of a
    /// loop brings either nothing or a whole new tile, so its visits are the tile times the factors of
    /// every loop at or outside its innermost indexing loop (docs/cost-model.md, "Visits"). Within this
    /// level, an order matters to it only through which loops sit inside its innermost indexing loop
    /// here; two orders with the same such sets for every tensor give the same counts.
    /// </summary>
    private static string OrderClass(int[] order, TensorInfo[] tensors)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var t in tensors)
        {
            int innermost = -1;
            for (int i = 0; i < order.Length; i++) if (t.IndexedBy[order[i]]) innermost = i;
            long inside = 0;
            for (int i = innermost + 1; i < order.Length && innermost >= 0; i++) inside |= 1L << order[i];
            sb.Append(inside).Append(',');
        }
        return sb.ToString();
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        var a = (int[])items.Clone();
        // Lexicographic order, starting from the sorted array: deterministic.
        while (true)
        {
            yield return (int[])a.Clone();
            int i = a.Length - 2;
            while (i >= 0 && a[i] >= a[i + 1]) i--;
            if (i < 0) yield break;
            int j = a.Length - 1;
            while (a[j] <= a[i]) j--;
            (a[i], a[j]) = (a[j], a[i]);
            Array.Reverse(a, i + 1, a.Length - i - 1);
        }
    }

    /// <summary>The temporal loops above level c, outermost first, with their strides as seen from c's tile.</summary>
    private StepLoop[] LoopsAbove(State s, int c)
    {
        var inner = (long[])s.Rem[c].Clone();
        var list = new List<StepLoop>();
        for (int d = c - 1; d >= 0; d--)
        {
            var ch = s.Choice[d]!;
            for (int r = 0; r < Ranks; r++) inner[r] *= (long)ch.SpatialX[r] * ch.SpatialY[r];
            for (int i = ch.Order.Length - 1; i >= 0; i--)
            {
                int r = ch.Order[i];
                list.Add(new StepLoop(r, ch.Temporal[r], inner[r]));
                inner[r] = checked(inner[r] * ch.Temporal[r]);
            }
        }
        list.Reverse();
        return list.ToArray();
    }

    /// <summary>Words brought into one instance of level c over the run (<see cref="Counts.Visits"/>).</summary>
    private long Visits(TensorInfo t, State s, int c)
        => c == 0 ? Tile(t, s.Rem[0]) : Counts.Visits(t.Dims, s.Rem[c], LoopsAbove(s, c));

    /// <summary>
    /// For tensor t kept at level c and a level d above it, what one step of each of d's loops brings
    /// into c's tile, given which of d's loops sit inside it. A step of d's loop over rank j moves the tile
    /// by j's stride and rewinds every loop inside it; the loops of the levels between d and c are inside
    /// every loop of d whatever the orders, and their rewind is a fixed sum. So d's contribution to the
    /// visits, sum over its loops of (factor - 1) x (factors of d's loops outside) x new words, depends on
    /// d's own order only, times the product of every temporal factor above d.
    /// </summary>
    private sealed class StepModel
    {
        private readonly TensorInfo _t;
        private readonly long _tile;
        private readonly long[] _extent;  // per dimension of t, at c
        private readonly long[] _stride;  // per rank, of d's loop as seen from c's tile
        private readonly long[] _rewind;  // per rank, of d's loop over all its iterations
        private readonly long[] _between; // per rank, the rewind of the levels between d and c


        public StepModel(SearchModel m, TensorInfo t, State s, int c, int d)
        {
            _t = t;
            var ext = s.Rem[c];
            _tile = Tile(t, ext);
            _extent = new long[t.Dims.Dimensions];
            t.Dims.DimExtents(ext, _extent);
            _stride = new long[m.Ranks];
            _rewind = new long[m.Ranks];
            _between = new long[m.Ranks];
            for (int r = 0; r < m.Ranks; r++)
            {
                for (int b = d + 1; b < c; b++)
                {
                    long f = s.Choice[b]!.Temporal[r];
                    _between[r] += (f - 1) * (s.Rem[b + 1][r] * s.Spatial(b, r));
                }
                _stride[r] = s.Rem[d + 1][r] * s.Spatial(d, r);
                _rewind[r] = (s.Choice[d]!.Temporal[r] - 1) * _stride[r];
            }
        }

        /// <summary>The least, over d's loop orders, of d's term in t's visits at c (the orders searched; see <see cref="PlainLeastTerm"/> for plain tensors).</summary>
        public double LeastTerm(SearchModel m, int[] factors) => m.BestOrder(factors, Fresh).Value;

        /// <summary>New words in c's tile when d's loop over <paramref name="rank"/> steps with the loops of d in <paramref name="inside"/> (a rank bit mask) inside it.</summary>
        public double Fresh(int rank, long inside)
        {
            Span<long> shift = stackalloc long[_stride.Length];
            for (int r = 0; r < shift.Length; r++)
                shift[r] = (r == rank ? _stride[r] : 0) - _between[r] - ((inside >> r & 1) != 0 ? _rewind[r] : 0);
            return _tile - _t.Dims.Overlap(_extent, shift);
        }
    }

    /// <summary>
    /// The order of one level's loops (the ranks with a factor above 1) that minimizes
    /// sum over loops j of (f_j - 1) x (factors of the loops outside j) x cost(j, loops inside j), by dynamic
    /// programming over the sets of innermost loops; ties go to the lowest rank outermost, so the answer
    /// is the same on every run. Returns the minimum and the order, outermost first.
    /// </summary>
    internal (double Value, int[] Order) BestOrder(int[] factors, Func<int, long, double> cost)
    {
        var active = Enumerable.Range(0, Ranks).Where(r => factors[r] > 1).ToArray();
        int k = active.Length;
        if (k == 0) return (0, active);
        double all = 1;
        foreach (var r in active) all *= factors[r];
        var best = new double[1 << k];
        var pick = new int[1 << k];
        var product = new double[1 << k];
        var ranksOf = new long[1 << k];
        product[0] = 1;
        for (int mask = 1; mask < 1 << k; mask++)
        {
            int low = System.Numerics.BitOperations.TrailingZeroCount(mask);
            product[mask] = product[mask & (mask - 1)] * factors[active[low]];
            ranksOf[mask] = ranksOf[mask & (mask - 1)] | 1L << active[low];
            double outside = all / product[mask];
            best[mask] = double.PositiveInfinity;
            for (int j = 0; j < k; j++)
            {
                if ((mask >> j & 1) == 0) continue;
                int inner = mask & ~(1 << j);
                int rank = active[j];
                double v = best[inner] + (factors[rank] - 1) * outside * cost(rank, ranksOf[inner]);
                if (v < best[mask]) { best[mask] = v; pick[mask] = j; }
            }
        }
        var order = new int[k];
        for (int mask = (1 << k) - 1, i = 0; mask != 0; i++)
        {
            order[i] = active[pick[mask]];
            mask &= ~(1 << pick[mask]);
        }
        return (best[(1 << k) - 1], order);
    }

    /// <summary>
    /// For energy, picks every level's best loop order for a complete tiling: the energy is a constant plus
    /// a weighted sum of visits, and each level's order adds its own term to every visit count, so each
    /// level is minimized on its own (docs/mapspace.md). Pinned orders and the innermost level are kept.
    /// </summary>
    public void OptimizeOrders(State s)
    {
        for (int d = 0; d < Levels - 1; d++)
        {
            var ch = s.Choice[d]!;
            if (Constraint(d).Order is null && ch.Order.Length > 1)
            {
                var terms = new List<(StepModel Step, double Weight)>();
                foreach (var t in _tensors)
                {
                    int bit = 1 << t.Index;
                    int l = 0;
                    for (int c = 1; c < Levels; c++)
                    {
                        if ((s.Keep[c] & bit) == 0) continue;
                        if (c > d) terms.Add((new StepModel(this, t, s, c, d), VisitWeight(t, s, l, c)));
                        l = c;
                    }
                }
                var (_, order) = BestOrder(ch.Temporal, (rank, inside) =>
                {
                    double sum = 0;
                    foreach (var (step, weight) in terms) sum += weight * step.Fresh(rank, inside);
                    return sum;
                });
                s.Choice[d] = ch with { Order = order };
            }
        }
    }

    /// <summary>
    /// The energy one visit word of tensor t at keeper c costs (docs/cost-model.md): the fill at c, the
    /// read (and, for outputs, the update) it asks of its parent keeper l, and the network hops between.
    /// </summary>
    private double VisitWeight(TensorInfo t, State s, int l, int c)
    {
        double perChildWord = (double)s.Used[c] / SharedFactor(t, s, l, c);
        double w = s.Used[c] * _levels[c].WriteEnergy
                   + perChildWord * (_levels[l].ReadEnergy + (t.IsOutput ? _levels[l].WriteEnergy : 0));
        for (int m = l; m < c; m++)
            if (_levels[m].Fanout.HopEnergy > 0) w += perChildWord * (t.IsOutput ? 2 : 1) * Hops(s, m) * _levels[m].Fanout.HopEnergy;
        return w;
    }

    // ---- Inner-first search (energy): levels are decided from the innermost outward under a spatial plan. ----

    /// <summary>The product of every level's temporal factors under a plan: the MACs each compute unit does.</summary>
    private static long TemporalTotal(SearchModel m, SpatialPlan plan)
    {
        long total = 1;
        for (int r = 0; r < m.Ranks; r++)
        {
            long left = m.Bound[r];
            for (int d = 0; d < m.Levels; d++) left /= (long)plan.X[d][r] * plan.Y[d][r];
            total = checked(total * left);
        }
        return total;
    }

    /// <summary>
    /// Every decision level d can take when the levels below it are decided (inner-first): temporal
    /// factors that divide what the levels below and the plan leave (all of it at the outermost level),
    /// in one canonical order (the orders are picked at the leaves), or the pinned order.
    /// </summary>
    public IEnumerable<LevelChoice> InnerChoices(int d, State s)
    {
        var plan = s.Plan!;
        var c = Constraint(d);
        var left = new long[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            left[r] = Bound[r];
            for (int b = 0; b < Levels; b++) left[r] /= (long)plan.X[b][r] * plan.Y[b][r];
            for (int b = d + 1; b < Levels; b++) left[r] /= s.Choice[b]!.Temporal[r];
        }
        var t = new int[Ranks];
        foreach (var _ in Temporal(0))
        {
            int n = 0;
            for (int r = 0; r < Ranks; r++) if (t[r] > 1) n++;
            var active = new int[n];
            for (int r = 0, i = 0; r < Ranks; r++) if (t[r] > 1) active[i++] = r;
            if (PinnedOrder(c, active) is not { } order) continue;
            // The plan's arrays are shared: no choice is ever changed after it is made.
            yield return new LevelChoice((int[])t.Clone(), order, plan.X[d], plan.Y[d]);
        }

        IEnumerable<bool> Temporal(int r)
        {
            if (r == Ranks) { yield return true; yield break; }
            IEnumerable<long> options = d == 0 ? [left[r]]
                : c.Temporal.TryGetValue(RankIds[r], out var pinned) ? (left[r] % pinned == 0 ? [pinned] : [])
                : _divisors[left[r]];
            foreach (var f in options)
            {
                if (d == 0 && c.Temporal.TryGetValue(RankIds[r], out var must) && must != f) continue;
                t[r] = (int)f;
                foreach (var x in Temporal(r + 1)) yield return x;
            }
        }
    }

    /// <summary>Decides level d in an inner-first state: its choice, and the tile extents at d that follow from the levels below.</summary>
    public void ApplyInner(State s, int d, LevelChoice choice)
    {
        s.Choice[d] = choice;
        for (int r = 0; r < Ranks; r++)
            s.Rem[d][r] = (d + 1 < Levels ? s.Rem[d + 1][r] : 1) * choice.Temporal[r] * choice.SpatialX[r] * choice.SpatialY[r];
    }

    /// <summary>
    /// Records what level d's loops add, at the least over its orders, to the visits of every tensor kept
    /// below it (each level's order adds its own term; see <see cref="StepModel"/>): fixed once d and
    /// the levels below are decided, whatever the levels above do.
    /// </summary>
    public void RecordInnerVisits(State s, int d)
    {
        long below = 1; // temporal factors of the levels from d down
        for (int b = d; b < Levels; b++) for (int r = 0; r < Ranks; r++) below *= s.Choice[b]!.Temporal[r];
        double above = (double)Facts(s).TemporalTotal / below;
        foreach (var t in _tensors)
            for (int c = d + 1; c < Levels; c++)
            {
                if ((s.Keep[c] & (1 << t.Index)) == 0) { s.InnerVisits[d][c][t.Index] = 0; continue; }
                s.InnerVisits[d][c][t.Index] = above * (_plain[t.Index] ? PlainLeastTerm(t, s, c, d) : new StepModel(this, t, s, c, d).LeastTerm(this, s.Choice[d]!.Temporal));
            }
    }

    /// <summary>
    /// The least, over level d's loop orders, of d's term in the visits of a tensor indexed by plain ranks
    /// at keeper c, in closed form: a step of a loop that indexes t, or of any loop with such a loop
    /// rewinding inside it, brings a whole new tile, and any other step brings nothing; so the best order
    /// puts the loops that do not index t innermost, unless a level between d and c already rewinds an
    /// indexing rank, in which case every step brings a whole tile.
    /// </summary>
    private double PlainLeastTerm(TensorInfo t, State s, int c, int d)
    {
        var f = s.Choice[d]!.Temporal;
        double all = 1, indexing = 1;
        bool rewound = false;
        for (int r = 0; r < Ranks; r++)
        {
            all *= f[r];
            if (!t.IndexedBy[r]) continue;
            indexing *= f[r];
            for (int b = d + 1; b < c && !rewound; b++) rewound = s.Choice[b]!.Temporal[r] > 1;
        }
        return Tile(t, s.Rem[c]) * ((rewound ? all : indexing) - 1);
    }

    /// <summary>
    /// A lower bound on the energy of every completion of an inner-first state whose levels d and below are
    /// decided (loops and keep sets) under its spatial plan. Exact for the accesses between decided keepers
    /// and the compute units, except that a keeper's visits count only what the decided levels bring
    /// (the levels above add only non-negative terms); for the part above the outermost decided keeper of
    /// a tensor, the cheapest parent it could have; and the words every dense tensor must cross DRAM once.
    /// </summary>
    public double InnerBound(State s, int d, double cutoff = double.PositiveInfinity)
    {
        var remaining = Remaining(s, d, out double aboveD);
        // The innermost loop above d runs over some rank r with something left. A tensor that r alone indexes
        // along a dimension gets no reuse from the levels above d: each of their steps brings a whole new
        // tile. At most the tensors r does not index escape that, so the bound is the least, over the
        // candidate ranks, of the tensors' costs with that refetch forced on the ones r indexes.
        var free = new double[_tensors.Length];
        var forced = new double[_tensors.Length];
        foreach (var t in _tensors)
        {
            free[t.Index] = TensorBound(t, s, d, aboveD, remaining, -1);
            forced[t.Index] = free[t.Index];
            for (int r = 0; r < Ranks && d > 0 && aboveD > 1; r++)
                if (_plainDimRank[t.Index][r]) { forced[t.Index] = TensorBound(t, s, d, aboveD, remaining, r); break; }
        }
        // Every candidate's sum is at least the sum with nothing forced: when that already reaches the
        // cutoff, the node is pruned whatever the candidates add.
        double unforced = _macEnergy + free.Sum();
        if (unforced >= cutoff) return unforced;
        double best = double.PositiveInfinity;
        bool any = false;
        for (int r = 0; r < Ranks && d > 0; r++)
        {
            if (remaining[r] <= 1) continue;
            any = true;
            double sum = 0;
            foreach (var t in _tensors)
                sum += _plainDimRank[t.Index][r] ? forced[t.Index] : _windowRank[t.Index][r] ? TensorBound(t, s, d, aboveD, remaining, r) : free[t.Index];
            best = Math.Min(best, sum);
        }
        if (!any) best = free.Sum();
        return _macEnergy + best;
    }

    /// <summary>
    /// A sharper bound for inner-first states whose undecided levels are DRAM, level 1 (the outermost
    /// on-chip level) and possibly levels between level 1 and d that may each keep only tensors no decided
    /// level keeps (eyeriss's scratchpads), that sees level 1's capacity and how the remaining factors
    /// split between the chip and DRAM. The undecided on-chip levels' loops are taken together (G, with
    /// DRAM's the rest, D): level 1's tile depends only on G. It takes the least, over every split G x D,
    /// every keep set of level 1 whose tiles fit its capacity, the rank of DRAM's innermost loop (r0) and
    /// the rank of the innermost loop above d (one with G > 1, or r0 when G is all ones), of the sum over
    /// tensors of:
    /// <list type="bullet">
    /// <item>the decided keepers' costs, with the whole-tile refetch forced when that innermost loop alone
    /// indexes the tensor, served by its real parent: level 1 when level 1 keeps it, else DRAM;</item>
    /// <item>for a tensor level 1 keeps, its fills there and DRAM's side: every used word once, and a whole
    /// level-1 tile per DRAM step when r0 alone indexes it (visits = tile x the product of D);</item>
    /// <item>for a tensor with plain dimensions served straight from DRAM: when an on-chip loop above d
    /// or r0 indexes it, every DRAM loop over a rank that does not index it sits outside an indexing loop,
    /// so each of its steps brings every used word again (visits >= used words x those factors);</item>
    /// <item>for a tensor no decided level keeps: the compute units' accesses at its innermost keeper (DRAM,
    /// level 1, or the middle level that may keep it, then served by level 1 or DRAM).</item>
    /// </list>
    /// Every completion falls in one case, and in it each term is at most what the completion costs, so
    /// the least over the cases bounds every completion (docs/mapspace.md, "The outer bound"). Computed only
    /// for nodes the plain bound does not prune.
    /// </summary>
    public double RefineBound(State s, int d, double bound, double cutoff) => RefineBound(s, d, bound, cutoff, out _);

    /// <summary>
    /// <see cref="RefineBound(State, int, double, double)"/>, with the cases that bound the next node's
    /// children (<see cref="ChildBounds"/>; null when they were not recorded).
    /// </summary>
    public double RefineBound(State s, int d, double bound, double cutoff, out ChildBounds? children)
    {
        children = null;
        if (d < 2 || d > Levels || !DeferOrders || bound >= cutoff) return bound;
        var remaining = Remaining(s, d, out double aboveD);
        var record = new ChildBounds(remaining, _divisors, _tensors.Length, cutoff);
        double outer = OuterBound(s, d, remaining, aboveD, record, cutoff - _macEnergy);
        if (outer <= 0) return bound; // a case this bound does not cover: nothing recorded either
        if (!record.Overflowed) children = record;
        return Math.Max(bound, _macEnergy + outer);
    }

    /// <summary>Per rank, what an inner-first state leaves to split over the temporal loops above level d (the plan's spatial splits and the decided levels taken out), and their product.</summary>
    private long[] Remaining(State s, int d, out double product)
    {
        var remaining = new long[Ranks];
        product = 1;
        for (int r = 0; r < Ranks; r++)
        {
            long left = Bound[r];
            for (int b = 0; b < Levels; b++) left /= s.Spatial(b, r);
            for (int b = d; b < Levels; b++) left /= s.Choice[b]!.Temporal[r];
            remaining[r] = left;
            product *= left;
        }
        return remaining;
    }

    /// <summary>What one more visit word at keeper c costs, linear in the visits: its fill at c, and its parent l's read (and, for outputs, update) with the network between.</summary>
    private readonly struct Link
    {
        private readonly double _fill, _fillFloor, _perWord, _read, _update, _readFloor;
        private readonly bool _output;

        public Link(SearchModel m, TensorInfo t, State s, int l, int c)
        {
            _output = t.IsOutput;
            _fill = c < m.Levels ? s.Used[c] * m._levels[c].WriteEnergy : 0;
            _fillFloor = t.IsOutput && c < m.Levels ? m.PlanPartition(t, s, c) : 0;
            _perWord = (double)s.Used[c] / s.Used[l] / m.SharedFactor(t, s, l, c) * s.Used[l];
            double hop = 0;
            for (int k = l; k < c; k++) if (m._levels[k].Fanout.HopEnergy > 0) hop += m.Hops(s, k) * m._levels[k].Fanout.HopEnergy;
            _read = m._levels[l].ReadEnergy + hop;
            _update = m._levels[l].WriteEnergy + hop;
            _readFloor = t.IsOutput ? m.PlanPartition(t, s, l) * s.Used[l] : 0;
        }

        /// <summary>The fills at c and the parent's side, for <paramref name="visits"/> words into one instance of c.</summary>
        public double Energy(double visits) => _fill * (_output ? Math.Max(0, visits - _fillFloor) : visits) + ParentEnergy(visits);

        /// <summary>The parent's reads (and updates) and the network words between, for <paramref name="visits"/> words into one instance of c.</summary>
        public double ParentEnergy(double visits)
        {
            double words = _perWord * visits; // over every instance of the parent
            return _output ? words * _update + Math.Max(0, words - _readFloor) * _read : words * _read;
        }
    }

    /// <remarks>
    /// A split whose cheapest variant of every tensor already sums to <paramref name="cutoff"/> or more is
    /// skipped: the least returned is then exact when it is below the cutoff, and at least the cutoff otherwise.
    /// </remarks>
    private double OuterBound(State s, int d, long[] remaining, double aboveD, ChildBounds? record, double cutoff)
    {
        var active = Enumerable.Range(0, Ranks).Where(r => remaining[r] > 1).ToArray();
        int n = _tensors.Length;
        // Per tensor: what its decided keepers cost apart from the outermost one's fills and parent
        // (rest), that keeper's visits from the decided levels (v0), with and without the forced refetch.
        var rest = new double[n, 1 + Ranks]; // [tensor, 0 or 1 + the rank of the innermost loop above d]
        var v0 = new double[n, 1 + Ranks];
        var forcedBy = new bool[n, 1 + Ranks]; // the innermost loop above d over that rank forces more than nothing
        var keeper0 = new int[n];
        var canKeep = new bool[n];
        var top = new Link[n, 2];    // the outermost decided keeper served by DRAM (0) or level 1 (1)
        var one = new Link[n];       // level 1 served by DRAM
        var used0 = new double[n];   // used words at the outermost decided keeper
        var tile0 = new double[n];   // its tile
        var keeperExt = new long[n][]; // its extents in one DRAM iteration, but for the undecided on-chip factors G
        var extKeeper = new long[Ranks];
        var used1 = new double[n];
        // A tensor no decided level keeps is read by the compute units from its innermost keeper: DRAM,
        // level 1, or the one middle level (between 1 and d) that may keep it, served by DRAM or level 1.
        var direct = new double[n, 2];
        var middle = new int[n];
        var directMiddle = new double[n];
        var middleFromDram = new Link[n];
        var middleFromOne = new Link[n];
        var usedMiddle = new double[n];
        var middleExt = new long[n][]; // t's tile extents at its middle level with no undecided temporal factor
        foreach (var t in _tensors)
        {
            int i = t.Index;
            canKeep[i] = CanKeepAbove(t, s, 1, d);
            keeper0[i] = -1;
            middle[i] = -1;
            for (int c = d; c < Levels; c++) if ((s.Keep[c] & (1 << i)) != 0) { keeper0[i] = c; break; }
            for (int m = 2; m < d; m++)
            {
                if (!CanKeepAbove(t, s, m, d)) continue;
                // A middle level that may serve a decided keeper, or a second one, is beyond this bound's cases.
                if (keeper0[i] >= 0 || middle[i] >= 0) return 0;
                middle[i] = m;
            }
            if (canKeep[i]) { one[i] = new Link(this, t, s, 0, 1); used1[i] = PlanDensePartition(t, s, 1); }
            if (keeper0[i] < 0)
            {
                direct[i, 0] = DirectEnergy(t, s, 0);
                direct[i, 1] = canKeep[i] ? DirectEnergy(t, s, 1) : double.PositiveInfinity;
                directMiddle[i] = double.PositiveInfinity;
                if (middle[i] is var m and >= 0)
                {
                    directMiddle[i] = DirectEnergy(t, s, m);
                    middleFromDram[i] = new Link(this, t, s, 0, m);
                    if (canKeep[i]) middleFromOne[i] = new Link(this, t, s, 1, m);
                    usedMiddle[i] = PlanDensePartition(t, s, m);
                    middleExt[i] = new long[Ranks];
                    for (int r = 0; r < Ranks; r++)
                    {
                        middleExt[i][r] = s.Rem[d][r];
                        for (int b = m; b < d; b++) middleExt[i][r] *= s.Spatial(b, r);
                    }
                }
                continue;
            }
            int k0 = keeper0[i];
            used0[i] = PlanDensePartition(t, s, k0);
            tile0[i] = Tile(t, s.Rem[k0]);
            keeperExt[i] = new long[Ranks];
            for (int r = 0; r < Ranks; r++)
            {
                keeperExt[i][r] = s.Rem[k0][r];
                for (int b = d; b < k0; b++) keeperExt[i][r] *= s.Choice[b]!.Temporal[r];
            }
            top[i, 0] = new Link(this, t, s, 0, k0);
            if (canKeep[i]) top[i, 1] = new Link(this, t, s, 1, k0);
            DecidedTerms(t, s, d, aboveD, remaining, -1, out rest[i, 0], out v0[i, 0]);
            for (int r = 0; r < Ranks; r++)
                if (aboveD > 1 && remaining[r] > 1 && (_plainDimRank[i][r] || _windowRank[i][r]))
                {
                    DecidedTerms(t, s, d, aboveD, remaining, r, out rest[i, 1 + r], out v0[i, 1 + r]);
                    forcedBy[i, 1 + r] = rest[i, 1 + r] != rest[i, 0] || v0[i, 1 + r] != v0[i, 0];
                }
        }
        // What a decided keeper costs served by DRAM or by level 1, the same in every split.
        var baseDram = new double[n, 1 + Ranks];
        var baseOne = new double[n, 1 + Ranks];
        foreach (var t in _tensors)
        {
            int i = t.Index;
            if (keeper0[i] < 0) continue;
            for (int f = 0; f <= Ranks; f++)
            {
                if (f > 0 && !forcedBy[i, f]) continue;
                baseDram[i, f] = rest[i, f] + top[i, 0].Energy(v0[i, f]);
                if (canKeep[i]) baseOne[i, f] = rest[i, f] + top[i, 1].Energy(v0[i, f]);
            }
        }
        var keeps = new List<int>();
        foreach (var k in KeepOptions(1, s))
        {
            bool ok = true;
            foreach (var t in _tensors) if ((k & (1 << t.Index)) != 0 && !canKeep[t.Index]) ok = false;
            if (ok) keeps.Add(k);
        }
        long? cap = _levels[1].Capacity;
        var spread = new long[Ranks]; // the spatial splits of levels 1 to d - 1, inside level 1's tile
        for (int r = 0; r < Ranks; r++)
        {
            spread[r] = s.Rem[d][r];
            for (int b = 1; b < d; b++) spread[r] *= s.Spatial(b, r);
        }
        var g = new long[Ranks];
        Array.Fill(g, 1L);
        var ext = new long[Ranks];
        var extMiddle = new long[Ranks];
        var tiles = new long[n];
        var viaOne = new double[n, 1 + Ranks, 2]; // [tensor, innermost rank above d (0 none, else 1 + rank), forced at level 1]: served by level 1
        var viaDram = new double[n, 1 + Ranks, 2]; // [tensor, innermost rank above d, DRAM loops outside an indexing loop]: served by DRAM
        var r0s = new List<int>();
        var inners = new List<int>();
        var scales = new double[n];
        var onChip = new bool[n];
        var fromOnes = new double[n];
        var fromDrams = new double[n];
        var fromDramsScaled = new double[n];
        var floorOnes = new double[n];
        var sweeps = new double[n]; // the visits at t's innermost keeper below level 1 that DRAM's steps force (see below)
        var dramBase = new double[n, 1 + Ranks]; // baseDram and baseOne with the outermost decided keeper's visits at least sweeps
        var oneBase = new double[n, 1 + Ranks];
        var windowOnes = new double[n, Ranks]; // level 1's fills and DRAM's side when DRAM's innermost loop runs over a window rank of t
        var noBack = new long[Ranks];
        var rewind = new long[Ranks];
        foreach (var t in _tensors) floorOnes[t.Index] = canKeep[t.Index] ? one[t.Index].Energy(used1[t.Index]) : 0;
        double best = double.PositiveInfinity;
        long gIndex = 0;
        double dramSteps = 1; // the product of D in the split at hand
        Split(0, 1);
        return best;

        void Split(int a, long stride)
        {
            if (a < active.Length)
            {
                int r = active[a];
                var divisors = _divisors[remaining[r]];
                for (int j = 0; j < divisors.Length; j++)
                {
                    g[r] = divisors[j];
                    gIndex += j * stride;
                    Split(a + 1, stride * divisors.Length);
                    gIndex -= j * stride;
                }
                g[r] = 1;
                return;
            }
            dramSteps = 1;
            r0s.Clear();
            inners.Clear();
            for (int r = 0; r < Ranks; r++)
            {
                ext[r] = spread[r] * g[r];
                long dr = remaining[r] / g[r];
                dramSteps *= dr;
                if (dr > 1) r0s.Add(r);
                if (g[r] > 1) inners.Add(r);
            }
            if (r0s.Count == 0) r0s.Add(-1);
            // First each tensor's cheapest variant in this split (nothing forced, no DRAM scaling unless an
            // on-chip loop forces it): when they already sum to the cutoff, every case of the split does.
            double floor = 0;
            foreach (var t in _tensors)
            {
                int i = t.Index;
                tiles[i] = Tile(t, ext);
                double scale = 1;
                bool onChipIndexes = false;
                for (int r = 0; r < Ranks; r++)
                {
                    if (!t.IndexedBy[r]) scale *= remaining[r] / g[r];
                    else if (g[r] > 1 && _plainDimRank[i][r]) onChipIndexes = true;
                }
                scales[i] = scale;
                onChip[i] = onChipIndexes;
                if (keeper0[i] < 0)
                {
                    double fromOne = direct[i, 1], fromDram = direct[i, 0], fromDramScaled = direct[i, 0];
                    if (middle[i] is var m and >= 0)
                    {
                        // The middle level's tile is at most its capacity and at most its tile with every on-chip factor below it.
                        for (int r = 0; r < Ranks; r++) extMiddle[r] = middleExt[i][r] * g[r];
                        double largest = Math.Min(Tile(t, extMiddle), _levels[m].Capacity ?? long.MaxValue);
                        // The words the DRAM iterations use: every used word once per iteration over ranks that do not
                        // index t, and at least the box the chip's loops sweep in each iteration; less what each can
                        // carry over from the last (one tile).
                        double used = Math.Max(scale * usedMiddle[i], dramSteps * UsedWords(t, extMiddle));
                        double visitsM = Math.Max(usedMiddle[i], used - dramSteps * largest);
                        if (canKeep[i]) fromOne = Math.Min(fromOne, directMiddle[i] + middleFromOne[i].Energy(visitsM));
                        fromDram = Math.Min(fromDram, directMiddle[i] + middleFromDram[i].Energy(visitsM));
                        fromDramScaled = Math.Min(direct[i, 0], directMiddle[i] + middleFromDram[i].Energy(usedMiddle[i] * scale));
                        // When the middle level could not hold t's tile with every on-chip factor of a rank indexing t
                        // at or below it, some loop above it indexes t, and every DRAM loop is outside that loop.
                        if (_plain[i] && _levels[m].Capacity is { } capM)
                        {
                            for (int r = 0; r < Ranks; r++) extMiddle[r] = middleExt[i][r] * (t.IndexedBy[r] ? g[r] : 1);
                            if (Tile(t, extMiddle) > capM) fromDram = fromDramScaled;
                        }
                    }
                    (fromOnes[i], fromDrams[i], fromDramsScaled[i]) = (fromOne, fromDram, fromDramScaled);
                    floor += Math.Min(fromDram, fromOne + floorOnes[i]);
                    continue;
                }
                for (int r = 0; r < Ranks; r++) extKeeper[r] = g[r] * keeperExt[i][r];
                sweeps[i] = Math.Max(scale * used0[i], dramSteps * UsedWords(t, extKeeper)) - dramSteps * tile0[i];
                Bases(i, 0);
                viaDram[i, 0, 1] = scale > 1 ? rest[i, 0] + top[i, 0].Energy(Math.Max(v0[i, 0], used0[i] * scale)) : dramBase[i, 0];
                // Every DRAM loop sits outside an on-chip loop that indexes t.
                viaDram[i, 0, 0] = onChipIndexes ? viaDram[i, 0, 1] : dramBase[i, 0];
                floor += canKeep[i] ? Math.Min(viaDram[i, 0, 0], oneBase[i, 0] + floorOnes[i]) : viaDram[i, 0, 0];
            }
            if (floor >= cutoff) return;
            foreach (var t in _tensors)
            {
                int i = t.Index;
                double floorOne = floorOnes[i];
                if (canKeep[i])
                    foreach (var r0 in r0s)
                        if (r0 >= 0 && _windowRank[i][r0]) windowOnes[i, r0] = one[i].Energy(Math.Max(used1[i], WindowVisits(t, r0)));
                double forcedOne = canKeep[i] ? one[i].Energy(Math.Max(used1[i], tiles[i] * dramSteps)) : 0;
                if (keeper0[i] < 0)
                {
                    viaDram[i, 0, 0] = fromDrams[i];
                    viaDram[i, 0, 1] = fromDramsScaled[i];
                    viaOne[i, 0, 0] = fromOnes[i] + floorOne;
                    viaOne[i, 0, 1] = fromOnes[i] + forcedOne;
                    continue;
                }
                for (int f = 0; f <= Ranks; f++)
                {
                    if (f > 0 && !forcedBy[i, f]) continue;
                    if (f > 0)
                    {
                        Bases(i, f);
                        viaDram[i, f, 1] = scales[i] > 1 ? rest[i, f] + top[i, 0].Energy(Math.Max(v0[i, f], used0[i] * scales[i])) : dramBase[i, f];
                        viaDram[i, f, 0] = onChip[i] ? viaDram[i, f, 1] : dramBase[i, f];
                    }
                    if (!canKeep[i]) continue;
                    viaOne[i, f, 0] = oneBase[i, f] + floorOne;
                    viaOne[i, f, 1] = oneBase[i, f] + forcedOne;
                }
            }
            foreach (var keep in keeps)
            {
                if (cap is { } c)
                {
                    long need = 0;
                    foreach (var t in _tensors) if ((keep & (1 << t.Index)) != 0) need += tiles[t.Index];
                    if (need > c) continue;
                }
                double least = double.PositiveInfinity;
                foreach (var r0 in r0s)
                {
                    if (inners.Count == 0) least = Math.Min(least, Consider(keep, r0, r0));
                    else foreach (var inner in inners) least = Math.Min(least, Consider(keep, r0, inner));
                }
                best = Math.Min(best, least);
                record?.Add(gIndex, g, keep, _macEnergy + least);
            }
        }

        // Level 1's visits of t when DRAM's innermost loop runs over r0, a window rank of t: its first tile, then
        // each of r0's own steps, (D - 1) of every D, moves the tile by r0's DRAM stride with nothing inside to
        // rewind and brings the words the move uncovers; and each step of a DRAM loop over a rank that does not
        // index t rewinds r0's loop inside it (perhaps more, which only moves the tile further when no
        // coefficient is negative): at least (product of those loops' factors - 1) such steps, whatever the order.
        double WindowVisits(TensorInfo t, int r0)
        {
            long dr = remaining[r0] / g[r0];
            long stride0 = ext[r0] * s.Spatial(0, r0);
            double visits = tiles[t.Index] + dramSteps * (1 - 1.0 / dr) * WindowFresh(t, ext, r0, stride0, noBack);
            if (!_nonNegative[t.Index]) return visits;
            double others = 1;
            for (int r = 0; r < Ranks; r++) if (!t.IndexedBy[r]) others *= remaining[r] / g[r];
            if (others <= 1) return visits;
            rewind[r0] = (dr - 1) * stride0;
            visits += (others - 1) * WindowFresh(t, ext, r0, 0, rewind);
            rewind[r0] = 0;
            return visits;
        }

        // A decided keeper's base costs in this split, its visits raised to the sweep floor when that is more.
        void Bases(int i, int f)
        {
            if (sweeps[i] <= v0[i, f])
            {
                dramBase[i, f] = baseDram[i, f];
                oneBase[i, f] = baseOne[i, f];
                return;
            }
            dramBase[i, f] = rest[i, f] + top[i, 0].Energy(sweeps[i]);
            if (canKeep[i]) oneBase[i, f] = rest[i, f] + top[i, 1].Energy(sweeps[i]);
        }

        double Consider(int keep, int r0, int inner)
        {
            double sum = 0;
            foreach (var t in _tensors)
            {
                int i = t.Index;
                int f = inner >= 0 && forcedBy[i, 1 + inner] ? 1 + inner : 0;
                if ((keep & (1 << i)) != 0)
                    sum += r0 >= 0 && _windowRank[i][r0] ? viaOne[i, f, 0] - floorOnes[i] + windowOnes[i, r0] : viaOne[i, f, r0 >= 0 && _plainDimRank[i][r0] ? 1 : 0];
                else sum += viaDram[i, f, r0 >= 0 && _plainDimRank[i][r0] ? 1 : 0];
            }
            return sum;
        }
    }

    /// <summary>
    /// What the compute units' accesses to t cost when level m is t's innermost keeper: MACs over the largest
    /// multicast (reduction) below m, each at m's read (update) energy and the network hops it crosses on
    /// the way to the compute units; for an output, also the read of every update but the first of each
    /// word an instance of m holds (the partial sum the update adds to), as the cost model counts them.
    /// </summary>
    private double DirectEnergy(TensorInfo t, State s, int m)
    {
        double hop = 0;
        for (int b = m; b < Levels; b++) if (_levels[b].Fanout.HopEnergy > 0) hop += Hops(s, b) * _levels[b].Fanout.HopEnergy;
        double words = _p.Layer.Macs / MaxShared(t, s, m, Levels);
        if (!t.IsOutput) return words * (_levels[m].ReadEnergy + hop);
        double reads = Math.Max(0, words - (double)PlanPartition(t, s, m) * s.Used[m]);
        return words * (_levels[m].WriteEnergy + hop) + reads * (_levels[m].ReadEnergy + hop);
    }

    /// <summary>
    /// One tensor's share of <see cref="InnerBound"/>; with <paramref name="refetch"/>, the levels above d
    /// bring a whole new tile at every step to each keeper from d down. With <paramref name="parent"/>, the
    /// level above the decided keepers that serves them is that one (and what it costs itself is left to
    /// the caller); otherwise the cheapest one that could, plus the words every dense tensor reads from DRAM once.
    /// <paramref name="outerScale"/> multiplies the used-words floor of the outermost decided keeper's visits.
    /// </summary>
    private double TensorBound(TensorInfo t, State s, int d, double aboveD, long[] remaining, int innermost)
    {
        var facts = Facts(s);
        double floor0 = t.IsOutput ? facts.Partition[0][t.Index] * _levels[0].WriteEnergy : facts.Used[0][t.Index] * _levels[0].ReadEnergy;
        int outer = DecidedTerms(t, s, d, aboveD, remaining, innermost, out double energy, out double v0);
        double best = double.PositiveInfinity;
        if (outer < 0)
        {
            for (int m = 0; m < d; m++)
            {
                if (m != 0 && !CanKeepAbove(t, s, m, d)) continue;
                best = Math.Min(best, DirectEnergy(t, s, m) + (m != 0 ? floor0 : 0));
            }
            return best;
        }
        if (outer == 0) return energy;
        energy += s.Used[outer] * (t.IsOutput ? Math.Max(0, v0 - PlanPartition(t, s, outer)) : v0) * _levels[outer].WriteEnergy;
        for (int m = 0; m < d; m++)
        {
            if (m != 0 && !CanKeepAbove(t, s, m, d)) continue;
            best = Math.Min(best, PairEnergy(t, s, m, outer, v0) + (m != 0 ? floor0 : 0));
        }
        return energy + best;
    }

    /// <summary>
    /// The part of t's bound that its decided keepers fix (those from d down, and DRAM when d = 0): each
    /// keeper's visits (what the decided levels bring, a whole tile per step above d when
    /// <paramref name="refetch"/> or a decided level rewinds a rank alone indexing a dimension, and at
    /// least every used word), the fills of all keepers but the outermost, and the accesses between them
    /// and to the compute units. Returns the outermost decided keeper (-1 when none) with its visits.
    /// </summary>
    private int DecidedTerms(TensorInfo t, State s, int d, double aboveD, long[] remaining, int innermost, out double energy, out double outerVisits)
    {
        int bit = 1 << t.Index;
        Span<int> keepers = stackalloc int[Levels];
        int count = 0;
        if (d == 0) keepers[count++] = 0;
        for (int c = Math.Max(d, 1); c < Levels; c++) if ((s.Keep[c] & bit) != 0) keepers[count++] = c;
        keepers = keepers[..count];
        energy = 0;
        outerVisits = 0;
        if (keepers.Length == 0) return -1;
        Span<double> visits = stackalloc double[keepers.Length];
        for (int i = 0; i < keepers.Length; i++)
        {
            int c = keepers[i];
            double v = Tile(t, s.Rem[c]);
            if (c > 0)
            {
                for (int b = d; b < c; b++) v += s.InnerVisits[b][c][t.Index];
                if (RewindsPlainDim(t, s, d, c)) v += Tile(t, s.Rem[c]) * (aboveD - 1);
                else if (innermost >= 0 && d > 0) v += ForcedVisits(t, s, d, c, innermost, aboveD, remaining);
                // Every word an instance's MACs use reaches it at least once.
                v = Math.Max(v, PlanDensePartition(t, s, c));
                if (i > 0) energy += s.Used[c] * (t.IsOutput ? Math.Max(0, v - PlanPartition(t, s, c)) : v) * _levels[c].WriteEnergy;
            }
            visits[i] = v;
        }
        for (int i = 0; i + 1 < keepers.Length; i++) energy += PairEnergy(t, s, keepers[i], keepers[i + 1], visits[i + 1]);
        energy += PairEnergy(t, s, keepers[^1], Levels, Facts(s).TemporalTotal);
        outerVisits = visits[0];
        return keepers[0];
    }

    /// <summary>
    /// The visits the levels above d add at least to t's decided keeper c when the innermost loop above d
    /// runs over rank r. When r alone indexes a dimension of t, every step above d brings a whole tile (a
    /// step of r moves that dimension by at least its extent, and a rewind of r moves it back as far).
    /// Otherwise only r's own steps are counted, (f - 1) of every f, with f at least the smallest factor of
    /// what is left of r: each moves c's tile by r's stride (at least d's tile extent times the spatial
    /// splits of the levels up to the one holding the loop, which have no loops inside it) while the
    /// decided loops from d down to c rewind, and brings the words of the tile that the move uncovers,
    /// the least over the levels that may hold the loop. For a sliding window (P + R) that is the part of
    /// the halo the step does not keep.
    /// </summary>
    private double ForcedVisits(TensorInfo t, State s, int d, int c, int r, double aboveD, long[] remaining)
    {
        long tile = Tile(t, s.Rem[c]);
        if (_plainDimRank[t.Index][r]) return tile * (aboveD - 1);
        if (!_windowRank[t.Index][r]) return 0;
        var ext = s.Rem[c];
        Span<long> back = stackalloc long[Ranks];
        for (int rr = 0; rr < Ranks; rr++)
        {
            long b = 0;
            for (int l = d; l < c; l++) b += (s.Choice[l]!.Temporal[rr] - 1) * s.Rem[l + 1][rr] * s.Spatial(l, rr);
            back[rr] = b;
        }
        long least = tile;
        long stride = s.Rem[d][r];
        for (int h = d - 1; h >= 0 && least > 0; h--)
        {
            stride *= s.Spatial(h, r);
            least = Math.Min(least, WindowFresh(t, ext, r, stride, back));
        }
        return least * aboveD * (1 - 1.0 / _smallestFactor[remaining[r]]);
    }

    /// <summary>
    /// The words of t's tile (extents <paramref name="ext"/>) that are new after a loop over r moves it by
    /// <paramref name="stride"/> while the loops inside it rewind by <paramref name="back"/> per rank.
    /// </summary>
    private static long WindowFresh(TensorInfo t, ReadOnlySpan<long> ext, int r, long stride, ReadOnlySpan<long> back)
    {
        Span<long> shift = stackalloc long[back.Length];
        for (int rr = 0; rr < shift.Length; rr++) shift[rr] = (rr == r ? stride : 0) - back[rr];
        return t.Dims.Fresh(ext, shift);
    }

    /// <summary>
    /// True when an undecided level m above the decided level d may still keep t: the architecture and the
    /// constraints allow it, and t's smallest possible tile there fits m's capacity on its own. That tile
    /// is at least d's tile times the spatial splits from m down to d, since the temporal factors of the
    /// levels from m to d (undecided) are at least 1.
    /// </summary>
    private bool CanKeepAbove(TensorInfo t, State s, int m, int d)
    {
        if ((_allowedMask[m] & (1 << t.Index)) == 0 || Constraint(m).Bypass.Contains(t.Spec.Id)) return false;
        if (_levels[m].Capacity is not { } cap) return true;
        Span<long> ext = stackalloc long[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            long e = s.Rem[d][r];
            for (int b = m; b < d; b++) e *= s.Spatial(b, r);
            ext[r] = e;
        }
        return Tile(t, ext) <= cap;
    }

    /// <summary>The energy of keeper l serving keeper (or compute units) c whose instances each ask for <paramref name="childWords"/>: reads (and updates) at l and the network between.</summary>
    private double PairEnergy(TensorInfo t, State s, int l, int c, double childWords) => new Link(this, t, s, l, c).ParentEnergy(childWords);

    /// <summary>
    /// True when a decided level from d down to c (exclusive) loops over a rank that alone indexes a
    /// dimension of t: that loop rewinds inside every loop above d, so each step of those loops moves t's
    /// tile at c to words it does not hold, and the levels above d add exactly a whole tile per step
    /// (tile x (product of their temporal factors - 1)), whatever their split and order.
    /// </summary>
    private bool RewindsPlainDim(TensorInfo t, State s, int d, int c)
    {
        for (int b = d; b < c; b++)
        {
            var f = s.Choice[b]!.Temporal;
            for (int k = 0; k < t.Dims.Dimensions; k++)
                if (t.Dims.RanksOf(k) is [var only] && f[only] > 1) return true;
        }
        return false;
    }

    /// <summary>At least the words of t that the MACs of one instance of level c use over the run (see <see cref="UsedWords"/>).</summary>
    private long PlanDensePartition(TensorInfo t, State s, int c) => Facts(s).Used[c][t.Index];

    /// <summary>What the state's plan fixes, computed on first use.</summary>
    private PlanFacts Facts(State s)
    {
        if (s.Facts is { } known) return known;
        var plan = s.Plan!;
        var partition = new long[Levels][];
        var used = new long[Levels][];
        for (int c = 0; c < Levels; c++)
        {
            var ext = (long[])Bound.Clone();
            for (int b = 0; b < c; b++) for (int r = 0; r < Ranks; r++) ext[r] /= (long)plan.X[b][r] * plan.Y[b][r];
            partition[c] = _tensors.Select(t => Tile(t, ext)).ToArray();
            used[c] = _tensors.Select(t => UsedWords(t, ext)).ToArray();
        }
        return s.Facts = new PlanFacts(TemporalTotal(this, plan), partition, used);
    }

    /// <summary>
    /// A lower bound on the distinct words of t that the points of a box of rank extents use: per
    /// dimension, the whole span when it has no gaps, the extent of its rank when one rank moves
    /// (a non-zero coefficient never repeats a value), and the larger extent when two or more move.
    /// Every word used reaches an instance at least once, so visits are never fewer.
    /// </summary>
    private static long UsedWords(TensorInfo t, long[] ext)
    {
        long words = 1;
        for (int k = 0; k < t.Dims.Dimensions; k++)
        {
            long largest = 1;
            foreach (int r in t.Dims.RanksOf(k)) largest = Math.Max(largest, ext[r]);
            words = checked(words * (DenseDim(t, k, ext) ? t.Dims.DimExtent(k, ext) : largest));
        }
        return words;
    }

    /// <summary>The words of t one instance of level c touches over the run, from the plan alone.</summary>
    private long PlanPartition(TensorInfo t, State s, int c) => Facts(s).Partition[c][t.Index];

    private long Partition(TensorInfo t, State s, int c)
    {
        var ext = (long[])s.Rem[c].Clone();
        for (int d = 0; d < c; d++)
        {
            var ch = s.Choice[d]!;
            for (int r = 0; r < Ranks; r++) ext[r] *= ch.Temporal[r];
        }
        return Tile(t, ext);
    }

    private long SharedFactor(TensorInfo t, State s, int from, int to)
    {
        long p = 1;
        for (int m = from; m < to; m++)
        {
            if (!Counts.Shares(_levels[m].Fanout, t.IsOutput)) continue;
            for (int r = 0; r < Ranks; r++) if (!t.IndexedBy[r]) p = checked(p * s.Spatial(m, r));
        }
        return p;
    }

    private double Hops(State s, int m)
    {
        long ux = 1, uy = 1;
        for (int r = 0; r < Ranks; r++) { ux *= s.Plan?.X[m][r] ?? s.Choice[m]!.SpatialX[r]; uy *= s.Plan?.Y[m][r] ?? s.Choice[m]!.SpatialY[r]; }
        return Counts.Hops(_levels[m].Fanout.Topology, ux, uy);
    }

    /// <summary>
    /// A lower bound on the objective of every completion of a partial mapping whose loops are fixed
    /// for levels below <paramref name="loopsDecided"/> and whose keep sets are fixed up to
    /// <paramref name="keepDecidedAt"/>: the terms those decisions fix, plus zero for the rest (every
    /// count is non-negative), except that every output word still reaches its last decided keeper once.
    /// </summary>
    public double LowerBound(State s, int loopsDecided, int keepDecidedAt) => Evaluate(s, loopsDecided, keepDecidedAt, exact: false);

    /// <summary>The exact objective of a complete mapping.</summary>
    public double Exact(State s) => Evaluate(s, Levels, Levels - 1, exact: true);

    private double Evaluate(State s, int loopsDecided, int keepDecidedAt, bool exact)
    {
        double energy = _macEnergy, network = 0;
        var reads = new long[Levels];
        var writes = new long[Levels];
        long temporalProduct = 1;
        if (exact)
            for (int d = 0; d < Levels; d++) for (int r = 0; r < Ranks; r++) temporalProduct = checked(temporalProduct * s.Choice[d]!.Temporal[r]);
        foreach (var t in _tensors)
        {
            int bit = 1 << t.Index;
            int l = 0;
            long visitsL = Visits(t, s, 0);
            while (true)
            {
                int c = l + 1;
                while (c <= keepDecidedAt && (s.Keep[c] & bit) == 0) c++;
                bool childKnown = c <= keepDecidedAt || exact;
                long partition = t.IsOutput ? Partition(t, s, l) : 0;
                long fills = Counts.Fills(t.IsOutput, l == 0, visitsL, partition);
                long r = 0, u = 0;
                long visitsC = 0;
                if (childKnown)
                {
                    long childWords = c >= Levels ? temporalProduct : (visitsC = Visits(t, s, c));
                    long children = s.Used[Math.Min(c, Levels)] / s.Used[l];
                    long served = Counts.Served(childWords, children, SharedFactor(t, s, l, Math.Min(c, Levels)));
                    if (t.IsOutput) { u = served; r = Counts.OutputReads(u, partition); }
                    else r = served;
                    double words = (double)(r + u) * s.Used[l];
                    for (int m = l; m < Math.Min(c, Levels); m++)
                        if (_levels[m].Fanout.HopEnergy > 0 && words > 0) network += words * Hops(s, m) * _levels[m].Fanout.HopEnergy;
                }
                else
                {
                    // What l must at least serve below, from the finest tile already fixed (see ServedAtLeast).
                    long served = ServedAtLeast(t, s, l, loopsDecided);
                    if (t.IsOutput) { u = Math.Max(partition, served); r = Counts.OutputReads(u, partition); }
                    else r = served;
                    energy += PendingInnermost(t, s, l, keepDecidedAt, loopsDecided, t.IsOutput ? u : r);
                }
                energy += s.Used[l] * Counts.AccessEnergy(_levels[l], r, fills, u);
                reads[l] = checked(reads[l] + r);
                writes[l] = checked(writes[l] + fills + u);
                if (!childKnown || c >= Levels) break;
                l = c;
                visitsL = visitsC;
            }
        }
        energy += network;
        if (_p.Caps is { } caps && !caps.AllowEnergy(energy)) return double.PositiveInfinity;
        if (_p.Objective == Objective.Energy && _p.Caps is not { Cycles: not null } and not { Edp: not null }) return energy;
        double cycles;
        if (exact) cycles = Counts.ComputeCycles(temporalProduct, _p.Arch.Compute.MacsPerCycle);
        else
        {
            long maxUnits = s.Used[loopsDecided] * _fanoutBelow[loopsDecided];
            cycles = Math.Ceiling(Math.Ceiling((double)_p.Layer.Macs / maxUnits) / _p.Arch.Compute.MacsPerCycle);
        }
        for (int d = 0; d < Levels; d++) cycles = Math.Max(cycles, Counts.BandwidthCycles(_levels[d], reads[d], writes[d]));
        if (_p.Caps is { } capped && !capped.Allow(energy, cycles)) return double.PositiveInfinity;
        return _p.Objective switch { Objective.Energy => energy, Objective.Latency => cycles, _ => energy * cycles };
    }

    /// <summary>
    /// A lower bound on the energy still to come, beyond what l's own pending term counts, for a tensor
    /// whose last decided keeper is l and whose next keeper is not decided yet: every MAC reads each
    /// operand (or updates the output) at the innermost level that keeps it, which is l itself or a
    /// level below the decided ones that may keep it; those accesses number at least MACs divided by
    /// the largest multicast (or reduction) the fanouts below that level can give. The bound is the
    /// cheapest of these choices. <paramref name="counted"/> is the reads (operands) or updates (outputs)
    /// per instance of l already counted.
    /// </summary>
    private double PendingInnermost(TensorInfo t, State s, int l, int keepDecidedAt, int loopsDecided, long counted)
    {
        double macs = _p.Layer.Macs;
        double best = double.PositiveInfinity;
        var c = _p.Constraints ?? MappingConstraints.None;
        for (int m = l; m < Levels; m++)
        {
            if (m != l && (m <= keepDecidedAt || (_allowedMask[m] & (1 << t.Index)) == 0 || c.For(m).Bypass.Contains(t.Spec.Id))) continue;
            double accesses = macs / MaxShared(t, s, m, loopsDecided);
            // At l itself only the accesses beyond those already counted are new; for outputs each extra
            // update also brings one extra read-modify-write read (updates are above the partition).
            double e = m == l
                ? Math.Max(0, accesses - counted * (double)s.Used[l]) * (t.IsOutput ? _levels[l].WriteEnergy + _levels[l].ReadEnergy : _levels[l].ReadEnergy)
                : accesses * (t.IsOutput ? _levels[m].WriteEnergy : _levels[m].ReadEnergy);
            best = Math.Min(best, e);
        }
        return best;
    }

    /// <summary>
    /// A lower bound on what one instance of level l must serve below it (operand reads, or output
    /// updates) whatever the undecided levels do: the visits of a virtual keeper at level v (the
    /// finest level whose tile is fixed), times the distinct data streams between l and v. Argument:
    /// when v's tile is dense (every word in its box is used by some MAC of that tile), each word new
    /// to v's tile at a step of a loop above v must reach some keeper below v (or a MAC) during that
    /// tile's lifetime, since every tile below v lies inside v's current tile; so the keepers below
    /// fetch at least that many words per distinct stream. A tile with gaps (a stride wider than the
    /// window) gives no bound (0).
    /// </summary>
    private long ServedAtLeast(TensorInfo t, State s, int l, int v)
    {
        if (!DenseTile(t, s.Rem[v])) return 0;
        long visits = Visits(t, s, v);
        long streams = (s.Used[v] / s.Used[l]) / SharedFactor(t, s, l, v);
        return checked(visits * streams);
    }

    /// <summary>True when every index in the tensor's bounding box over these extents is used by some point of the box.</summary>
    private static bool DenseTile(TensorInfo t, long[] ext)
    {
        for (int d = 0; d < t.Dims.Dimensions; d++) if (!DenseDim(t, d, ext)) return false;
        return true;
    }

    /// <summary>True when every index of dimension k's span over these extents is used by some point of the box.</summary>
    private static bool DenseDim(TensorInfo t, int k, long[] ext)
    {
        var ranks = t.Dims.RanksOf(k);
        var coefs = t.Dims.CoefficientsOf(k);
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

    /// <summary>The largest multicast (operands) or reduction (outputs) factor the fanouts from level m down can give.</summary>
    private double MaxShared(TensorInfo t, State s, int m, int loopsDecided)
    {
        double p = 1;
        for (int k = m; k < Levels; k++)
        {
            var fan = _levels[k].Fanout;
            if (!Counts.Shares(fan, t.IsOutput)) continue;
            if (k < loopsDecided || s.Plan is not null)
            {
                for (int r = 0; r < Ranks; r++) if (!t.IndexedBy[r]) p *= s.Spatial(k, r);
            }
            else p *= fan.Size;
        }
        return p;
    }

    /// <summary>The lower bound before any decision: what every mapping costs at least.</summary>
    public double RootBound()
    {
        var s = new State(this);
        s.Keep[0] = (1 << _tensors.Length) - 1;
        return Evaluate(s, 0, 0, exact: false);
    }

    /// <summary>
    /// A mapping as a complete state of this search (the inverse of <see cref="ToMapping"/>), so the
    /// search's own cost of any mapping can be compared with the reference model's; null when the mapping
    /// has two temporal loops over one rank at a level, which the search's levels never hold.
    /// </summary>
    public State? FromMapping(Mapping mapping)
    {
        if (mapping.Levels.Count != Levels) throw new ArgumentException($"The mapping has {mapping.Levels.Count} levels; the architecture has {Levels}.", nameof(mapping));
        var position = RankIds.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i);
        var s = new State(this);
        for (int d = 0; d < Levels; d++)
        {
            var level = mapping.Levels[d];
            int[] temporal = new int[Ranks], x = new int[Ranks], y = new int[Ranks];
            Array.Fill(temporal, 1); Array.Fill(x, 1); Array.Fill(y, 1);
            var order = new List<int>();
            foreach (var loop in level.Temporal)
            {
                int r = position[loop.Rank];
                if (order.Contains(r)) return null;
                order.Add(r);
                temporal[r] = loop.Factor;
            }
            foreach (var loop in level.Spatial)
            {
                var axis = loop.Axis == Axis.X ? x : y;
                axis[position[loop.Rank]] = checked(axis[position[loop.Rank]] * loop.Factor);
            }
            foreach (var t in _tensors) if (level.Keep.Contains(t.Spec.Id)) s.Keep[d] |= 1 << t.Index;
            s.Apply(d, new LevelChoice(temporal, order.Where(r => temporal[r] > 1).ToArray(), x, y));
        }
        return s;
    }

    /// <summary>The complete state as the one Mapping type.</summary>
    public Mapping ToMapping(State s)
    {
        var levels = new List<LevelMapping>();
        for (int d = 0; d < Levels; d++)
        {
            var ch = s.Choice[d]!;
            var temporal = ch.Order.Select(r => new TemporalLoop(RankIds[r], ch.Temporal[r]));
            var spatial = new List<SpatialLoop>();
            for (int r = 0; r < Ranks; r++)
            {
                if (ch.SpatialX[r] > 1) spatial.Add(new SpatialLoop(RankIds[r], ch.SpatialX[r], Axis.X));
                if (ch.SpatialY[r] > 1) spatial.Add(new SpatialLoop(RankIds[r], ch.SpatialY[r], Axis.Y));
            }
            var keep = _tensors.Where(t => (s.Keep[d] & (1 << t.Index)) != 0).Select(t => t.Spec.Id);
            levels.Add(new LevelMapping(temporal, spatial, keep));
        }
        return new Mapping(levels);
    }
}
