using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Validation;

/// <summary>
/// A streaming, cycle-approximate simulator: it executes a mapping's loop nest at tile granularity,
/// holds each level's current tile of each kept tensor as a box, and counts the words that move.
/// It shares only the Mapping, Einsum and Architecture types with the cost model (docs/simulator.md).
/// </summary>
public static class Simulator
{
    /// <summary>Simulates a valid mapping; throws <see cref="ArgumentException"/> when it is not valid or too large to simulate.</summary>
    public static SimReport Run(Einsum einsum, Architecture arch, Mapping mapping, SimOptions? options = null)
    {
        options ??= new SimOptions();
        var violations = ValidityChecker.Check(einsum, arch, mapping, options.Factorization);
        if (violations.Count > 0)
            throw new ArgumentException($"The simulator runs valid mappings only; this one breaks {violations.Count} rule(s), first: {violations[0].Message}", nameof(mapping));
        if (arch.HasWindowCapabilities && einsum.Ranks.Any(r => mapping.TileExtent(0, r.Id) != r.Bound))
            throw new NotSupportedException($"Architecture {arch.Name} has a same-stride window or neighbour forwarding, which the simulator executes for perfect factors only; this mapping's factors do not multiply to the bounds.");
        return new Machine(einsum, arch, mapping, options).Run();
    }
}

/// <summary>The state of one simulation: the odometer over the loops, the boxes held and the period accumulators of each level.</summary>
internal sealed class Machine
{
    /// <summary>One tensor kept at one level, for its representative instance.</summary>
    private sealed class Keeper
    {
        public required int Level;
        public required TensorSpec Tensor;
        public required long[] Ext;          // extent of each tensor dimension of the full tile
        public required int[][] TermRank;    // [dim][term]: rank index
        public required long[][] TermCoef;   // [dim][term]: coefficient
        public required long TileWords;
        public required int Parent;          // keeper index of the next level above keeping the tensor; -1 at the top
        public long Children;                // instances of this level below one parent instance
        public long Shared;                  // multicast (operands) or reduction (outputs) factor between parent and here
        public long Indexing;                // spatial factor between parent and here whose ranks index the output
        public long[] Lo = [], Hi = [];      // the box held: lowest and highest index of each dimension
        public long[] Next = [], NextHi = []; // scratch: the box being entered
        public bool Held;
        public long NewFill;                 // fills of the tile entered at the current step
        public readonly HashSet<long> EverHeld = [];
        public readonly HashSet<long> Drained = [];
        public long Fills, Reads, Updates;
        public bool SameStride;              // the level keeps overlap only while the tile moves the same way
        public long[]? Translation;          // same-stride memory: the translation since the last whole fetch; null when none
        public Forward? Links;               // neighbour forwarding from the children of the same parent, or null
        public List<(long[] Lo, long[] Hi)> Delta = []; // the words brought at this step (boxes)
        public List<(long[] Lo, long[] Hi)> Previous = []; // the words brought at the step before, which the neighbours hold
        public long Forwarded;               // words this level's instances sent to a neighbour, over all instances used
    }

    /// <summary>The links an operand keeper's instances use to take words from a neighbour: per link, the rank, factor and stride of its spatial loop.</summary>
    private sealed record Forward(int FanoutLevel, (int Rank, long Factor, long Stride)[] Loops);

    /// <summary>The compute units' link to the innermost keeper of one tensor.</summary>
    private sealed class ComputeLink
    {
        public required TensorSpec Tensor;
        public required int Keeper;
        public required long Children, Shared, Indexing;
        public readonly HashSet<long> Touched = [];
        public long LastKey = -1;
    }

    private readonly Architecture _a;
    private readonly SimOptions _o;
    private readonly int _n;
    private readonly Dictionary<RankId, int> _rank;
    private readonly long[] _used;          // instances used per level; [n] = compute units used
    private readonly long[][] _extent;      // [level][rank]: product of the rank's factors at that level and below
    private readonly long[] _bound;         // [rank]: the rank's bound; a tile is clipped to it and an iteration starting beyond it is skipped
    private readonly List<(long Factor, long Stride)>[] _innerLoops; // [rank]: the innermost level's temporal loops over it
    private readonly Dictionary<(int Rank, long Left), long> _innerRuns = [];
    private long _innerMacs;                // MACs per compute unit in the current step
    private long _macsPerUnit;              // MACs per compute unit so far
    // The odometer: temporal loops of every level but the innermost, with factor > 1, outermost first.
    private readonly int[] _loopLevel, _loopRank, _loopFactor;
    private readonly long[] _loopStride;
    private readonly int[] _idx;
    private readonly int[][] _levelLoops;   // [level]: odometer loops at that level
    private readonly long[] _stepFills;     // [level]: words filled into the level at the current step
    private readonly long[][] _base;        // [level][rank]: index origin of the level's tile (spatial indices 0)
    private readonly List<Keeper> _keepers = [];
    private readonly List<int>[] _keptAt;
    private readonly List<ComputeLink> _compute = [];
    private readonly long[] _outputStrides; // linear index multipliers of the output dimensions
    private readonly int[] _outputRanks;    // the rank index of each output dimension
    // Cycle accounting, per level: the current period (one tile) and totals.
    private readonly bool[] _db;
    private readonly bool[] _firstPeriod;
    private readonly double[] _work, _fill, _upd, _reads, _stall;
    private readonly long[] _tiles, _readWords, _writeWords;
    private double _clock, _work0;
    private long _sweepOutputWords;         // output words one compute unit touches in the current step
    private long _step;
    private readonly List<SimEvent> _trace = [];
    private bool _traceTruncated;

    public Machine(Einsum e, Architecture a, Mapping m, SimOptions o)
    {
        _a = a; _o = o;
        _n = a.Levels.Count;
        _rank = new Dictionary<RankId, int>();
        for (int i = 0; i < e.Ranks.Count; i++) _rank[e.Ranks[i].Id] = i;
        int nr = e.Ranks.Count;

        _used = new long[_n + 1];
        _used[0] = 1;
        for (int l = 0; l < _n; l++) _used[l + 1] = checked(_used[l] * m.Levels[l].Spatial.Aggregate(1L, (x, s) => x * s.Factor));

        _extent = new long[_n + 1][];
        _extent[_n] = Enumerable.Repeat(1L, nr).ToArray();
        for (int l = _n - 1; l >= 0; l--)
        {
            _extent[l] = (long[])_extent[l + 1].Clone();
            foreach (var t in m.Levels[l].Temporal) _extent[l][_rank[t.Rank]] = checked(_extent[l][_rank[t.Rank]] * t.Factor);
            foreach (var s in m.Levels[l].Spatial) _extent[l][_rank[s.Rank]] = checked(_extent[l][_rank[s.Rank]] * s.Factor);
        }
        _bound = e.Ranks.Select(r => (long)r.Bound).ToArray();

        // Strides: a loop's step moves its rank by the product of that rank's factors in every loop inside it.
        var nest = m.Nest().ToList();
        var stride = new long[nest.Count];
        var inner = new long[nr];
        Array.Fill(inner, 1L);
        for (int i = nest.Count - 1; i >= 0; i--)
        {
            int r = _rank[nest[i].Rank];
            stride[i] = inner[r];
            inner[r] = checked(inner[r] * nest[i].Factor);
        }
        var odo = Enumerable.Range(0, nest.Count).Where(i => !nest[i].IsSpatial && nest[i].Level < _n - 1 && nest[i].Factor > 1).ToList();
        _loopLevel = odo.Select(i => nest[i].Level).ToArray();
        _loopRank = odo.Select(i => _rank[nest[i].Rank]).ToArray();
        _loopFactor = odo.Select(i => nest[i].Factor).ToArray();
        _loopStride = odo.Select(i => stride[i]).ToArray();
        _innerLoops = Enumerable.Range(0, nr).Select(_ => new List<(long, long)>()).ToArray();
        for (int i = 0; i < nest.Count; i++)
            if (!nest[i].IsSpatial && nest[i].Level == _n - 1 && nest[i].Factor > 1) _innerLoops[_rank[nest[i].Rank]].Add((nest[i].Factor, stride[i]));
        _idx = new int[odo.Count];
        _levelLoops = Enumerable.Range(0, _n).Select(l => Enumerable.Range(0, odo.Count).Where(j => _loopLevel[j] == l).ToArray()).ToArray();
        _stepFills = new long[_n];
        long steps = 1;
        foreach (var f in _loopFactor)
        {
            steps = checked(steps * f);
            if (steps > o.MaxSteps)
                throw new ArgumentException($"The mapping has more than {o.MaxSteps:N0} tile steps above the innermost level; the simulator refuses it (raise SimOptions.MaxSteps).");
        }
        _base = Enumerable.Range(0, _n).Select(_ => new long[nr]).ToArray();

        var output = e.Output;
        _outputStrides = new long[output.Dims.Count];
        long mult = 1;
        for (int d = output.Dims.Count - 1; d >= 0; d--)
        {
            _outputStrides[d] = mult;
            mult = checked(mult * e.Bound(output.Dims[d].Terms[0].Rank));
        }
        _outputRanks = output.Dims.Select(d => _rank[d.Terms[0].Rank]).ToArray();

        _keptAt = Enumerable.Range(0, _n).Select(_ => new List<int>()).ToArray();
        var innermost = new Dictionary<TensorId, int>();
        for (int l = 0; l < _n; l++)
            foreach (var t in e.Tensors)
            {
                if (!m.Levels[l].Keep.Contains(t.Id)) continue;
                var ext = TensorIndex.Of(t).DimExtents(r => Math.Min(_extent[l][_rank[r]], e.Bound(r))); // the largest box it holds
                var k = new Keeper
                {
                    Level = l, Tensor = t, Ext = ext, TileWords = ext.Aggregate(1L, (x, y) => checked(x * y)),
                    Lo = new long[ext.Length], Next = new long[ext.Length], Hi = new long[ext.Length], NextHi = new long[ext.Length],
                    TermRank = t.Dims.Select(d => d.Terms.Select(x => _rank[x.Rank]).ToArray()).ToArray(),
                    TermCoef = t.Dims.Select(d => d.Terms.Select(x => (long)x.Coefficient).ToArray()).ToArray(),
                    Parent = innermost.GetValueOrDefault(t.Id, -1),
                };
                if (k.Parent >= 0) (k.Children, k.Shared, k.Indexing) = Link(m, t, _keepers[k.Parent].Level, l);
                k.SameStride = a.Levels[l].Window == WindowReuse.SameStride;
                if (k.Parent >= 0 && !t.IsOutput && o.Factorization == Factorization.Perfect) k.Links = Links(m, nest, stride, _keepers[k.Parent].Level, l);
                innermost[t.Id] = _keepers.Count;
                _keptAt[l].Add(_keepers.Count);
                _keepers.Add(k);
            }
        foreach (var t in e.Tensors)
        {
            int q = innermost[t.Id];
            var (children, shared, indexing) = Link(m, t, _keepers[q].Level, _n);
            _compute.Add(new ComputeLink { Tensor = t, Keeper = q, Children = children, Shared = shared, Indexing = indexing });
        }

        _db = new bool[_n];
        for (int l = 0; l < _n; l++)
        {
            long held = _keptAt[l].Sum(k => _keepers[k].TileWords);
            _db[l] = a.Levels[l].Capacity is not { } cap || cap >= 2 * held;
        }
        _firstPeriod = Enumerable.Repeat(true, _n).ToArray();
        _work = new double[_n]; _fill = new double[_n]; _upd = new double[_n]; _reads = new double[_n]; _stall = new double[_n];
        _tiles = new long[_n]; _readWords = new long[_n]; _writeWords = new long[_n];
    }

    /// <summary>
    /// The neighbour links between the instances of level <paramref name="to"/> below one instance of level <paramref name="from"/>:
    /// those of the nearest fanout above <paramref name="to"/> with more than one child, when it is at or below
    /// <paramref name="from"/> and forwards; along each forwarding axis, its last spatial loop with a factor above 1.
    /// </summary>
    private Forward? Links(Mapping m, List<NestLoop> nest, long[] stride, int from, int to)
    {
        int fan = -1;
        for (int l = to - 1; l >= from && fan < 0; l--) if (_a.Levels[l].Fanout.Size > 1) fan = l;
        if (fan < 0 || _a.Levels[fan].Fanout.Forwarding == Forwarding.None) return null;
        var loops = new List<(int, long, long)>();
        foreach (var (axis, flag) in new[] { (Axis.X, Forwarding.X), (Axis.Y, Forwarding.Y) })
        {
            if ((_a.Levels[fan].Fanout.Forwarding & flag) == 0) continue;
            int last = nest.FindLastIndex(x => x.Level == fan && x.Axis == axis && x.Factor > 1);
            if (last >= 0) loops.Add((_rank[nest[last].Rank], nest[last].Factor, stride[last]));
        }
        return loops.Count == 0 ? null : new Forward(fan, loops.ToArray());
    }

    /// <summary>Children, shared factor (multicast for operands, reduction for outputs) and output-indexing factor of the spatial loops in levels [from, to).</summary>
    private (long Children, long Shared, long Indexing) Link(Mapping m, TensorSpec t, int from, int to)
    {
        long children = 1, shared = 1, indexing = 1;
        for (int l = from; l < to; l++)
        {
            var fan = _a.Levels[l].Fanout;
            bool capable = t.IsOutput ? fan.SpatialReduction : fan.Multicast;
            foreach (var s in m.Levels[l].Spatial)
            {
                children *= s.Factor;
                if (t.IsIndexedBy(s.Rank)) indexing *= s.Factor;
                else if (capable) shared *= s.Factor;
            }
        }
        return (children, shared, indexing);
    }

    /// <summary>Runs the odometer over every tile step, drains what is left and closes every level's last period.</summary>
    public SimReport Run()
    {
        Enter(-1);
        while (true)
        {
            int j = _idx.Length - 1;
            // An iteration whose first point of its rank is at or beyond the bound does not run (imperfect factors).
            while (j >= 0 && (++_idx[j] == _loopFactor[j] || Start(j) >= _bound[_loopRank[j]])) { _idx[j] = 0; j--; }
            if (j < 0) break;
            _step++;
            Enter(_loopLevel[j]);
        }
        // The run ends: every output tile still held below the top is drained to its parent.
        for (int l = _n - 1; l >= 1; l--)
            foreach (int ki in _keptAt[l])
            {
                var k = _keepers[ki];
                if (k.Tensor.IsOutput) Drain(ki, k.Lo, k.Hi, null, null);
            }
        for (int l = _n - 1; l >= 0; l--) Close(l, 0);

        long macs = checked(_macsPerUnit * _used[_n]);
        // Float sums of per-step times may land a hair above an integer; the relative slack is far below any real fraction.
        long cycles = (long)Math.Ceiling(_work0 * (1 - 1e-12));
        long perUnit = _macsPerUnit;
        long computeCycles = (perUnit + _a.Compute.MacsPerCycle - 1) / _a.Compute.MacsPerCycle;
        double util = (double)macs / ((double)_a.ComputeInstances * _a.Compute.MacsPerCycle * Math.Max(1, cycles));
        var tensors = _keepers.Select(k => new SimTensorLevel(k.Level, _a.Levels[k.Level].Name, k.Tensor.Id, k.Tensor.Role,
            k.TileWords, k.Fills, k.Reads, k.Updates, _used[k.Level]) { ForwardedReads = k.Forwarded }).ToList();
        var levels = Enumerable.Range(0, _n).Select(l => new SimLevel(l, _a.Levels[l].Name, _used[l], _db[l], _tiles[l],
            _readWords[l], _writeWords[l], _stall[l])).ToList();
        return new SimReport(tensors, levels, macs, _used[_n], computeCycles, cycles, util, _step + 1, _trace, _traceTruncated);
    }

    /// <summary>One tile step: the loops of levels up to <paramref name="k"/> changed, so every level below k enters a new tile.</summary>
    private void Enter(int k)
    {
        // New tile origins of the levels below k.
        for (int l = Math.Max(k + 1, 1); l < _n; l++)
        {
            var b = _base[l];
            Array.Copy(_base[l - 1], b, b.Length);
            foreach (int j in _levelLoops[l - 1]) b[_loopRank[j]] += _idx[j] * _loopStride[j];
        }
        // New boxes: fills, and drains of the outputs' old tiles into their parents' current periods.
        var fills = _stepFills;
        for (int l = Math.Max(k + 1, 0); l < _n; l++)
        {
            fills[l] = 0;
            foreach (int ki in _keptAt[l])
            {
                var kp = _keepers[ki];
                var lo = kp.Next;
                var hi = kp.NextHi;
                Box(kp, _base[l], l, lo, hi);
                kp.NewFill = 0;
                // Same stride: a step that moves the tile another way than the last (staying put included) fetches it whole.
                bool whole = !kp.Held || Remember(kp, lo);
                if (kp.Links is not null) { kp.Previous = kp.Delta; kp.Delta = []; }
                if (kp.Held && !whole && SameBox(kp.Lo, lo) && SameBox(kp.Hi, hi)) continue;
                if (whole && kp.Tensor.IsOutput && kp.Held && Overlap(kp.Lo, kp.Hi, lo, hi) > 0)
                    throw new InvalidOperationException("A same-stride level refetched an output tile that overlaps the one it held; the simulator does not execute that (plain output indices never do it).");
                kp.Next = kp.Lo;
                kp.NextHi = kp.Hi;
                if (l == 0) { kp.Lo = lo; kp.Hi = hi; kp.Held = true; continue; }   // the tensor starts at the top: no fills
                long words = Words(lo, hi);
                if (kp.Tensor.IsOutput)
                {
                    if (kp.Held) Drain(ki, kp.Lo, kp.Hi, lo, hi);
                    // A partial sum held before is fetched back; the first touch of a word starts at zero.
                    if (!kp.EverHeld.Add(Key(lo))) kp.NewFill = words;
                }
                else
                {
                    kp.NewFill = whole ? words : words - Overlap(kp.Lo, kp.Hi, lo, hi);
                    if (kp.Links is not null) kp.Delta = Delta(kp, whole, lo, hi);
                }
                kp.Lo = lo;
                kp.Hi = hi;
                kp.Held = true;
                fills[l] += kp.NewFill;
            }
        }
        // Close the changed levels' periods, innermost first, then open the new ones.
        if (k >= 0) for (int l = _n - 1; l > k; l--) Close(l, fills[l]);
        for (int l = k + 1; l < _n; l++)
        {
            _tiles[l]++;
            _fill[l] = fills[l];
            _work[l] = 0; _upd[l] = 0; _reads[l] = 0;
            foreach (int ki in _keptAt[l])
            {
                var kp = _keepers[ki];
                if (kp.NewFill == 0) continue;
                kp.Fills += kp.NewFill;
                _writeWords[l] += kp.NewFill;
                Record(l, kp.Tensor, "fill", kp.NewFill, _a.Levels[l].WriteBandwidth);
                if (kp.Tensor.IsOutput) continue; // a fetched-back partial sum costs the parent the read-modify-write reads counted at drain time
                var parent = _keepers[kp.Parent];
                long takers = kp.Children - Receivers(kp);
                long served = checked(kp.NewFill * (takers / kp.Shared));
                parent.Reads += served;
                AddReads(parent.Level, parent.Tensor, served);
                long forwarded = checked(kp.NewFill * (kp.Children - takers));
                if (forwarded == 0) continue;
                kp.Forwarded = checked(kp.Forwarded + checked(forwarded * _used[parent.Level]));
                AddReads(l, kp.Tensor, (forwarded + kp.Children - 1) / kp.Children);
            }
        }
        // The compute units work through this step: one word of each operand per MAC, one update per MAC.
        _innerMacs = 1;
        _sweepOutputWords = 1;
        for (int r = 0; r < _bound.Length; r++)
        {
            long runs = InnerRuns(r, _bound[r] - _base[_n - 1][r]);
            _innerMacs = checked(_innerMacs * runs);
            if (Array.IndexOf(_outputRanks, r) >= 0) _sweepOutputWords = checked(_sweepOutputWords * runs);
        }
        _macsPerUnit = checked(_macsPerUnit + _innerMacs);
        _work[_n - 1] += (double)_innerMacs / _a.Compute.MacsPerCycle;
        foreach (var c in _compute)
        {
            var q = _keepers[c.Keeper];
            long words = checked(_innerMacs * (c.Children / c.Shared));
            if (!c.Tensor.IsOutput)
            {
                q.Reads += words;
                AddReads(q.Level, q.Tensor, words);
                continue;
            }
            q.Updates += words;
            _upd[q.Level] += words;
            _writeWords[q.Level] += words;
            long key = SweepKey();
            long first = key != c.LastKey && c.Touched.Add(key) ? checked(c.Indexing * _sweepOutputWords) : 0;
            c.LastKey = key;
            q.Reads += words - first;
            AddReads(q.Level, q.Tensor, words - first);
        }
    }

    /// <summary>Drains the words of an output keeper's old box that the new box (null at the end) does not hold into its parent.</summary>
    private void Drain(int ki, long[] oldLo, long[] oldHi, long[]? newLo, long[]? newHi)
    {
        var kp = _keepers[ki];
        long words = newLo is null || newHi is null ? Words(oldLo, oldHi) : Words(oldLo, oldHi) - Overlap(oldLo, oldHi, newLo, newHi);
        if (words == 0) return;
        var parent = _keepers[kp.Parent];
        long updates = checked(words * (kp.Children / kp.Shared));
        // The first update of a word at the parent needs no read: by symmetry, the children at other spatial
        // indices drain the translates of this box, so the parent first touches Indexing x the new words.
        long first = kp.Drained.Add(Key(oldLo)) ? checked(kp.Indexing * words) : 0;
        parent.Updates += updates;
        parent.Reads += updates - first;
        _upd[parent.Level] += updates;
        _writeWords[parent.Level] += updates;
        AddReads(parent.Level, parent.Tensor, updates - first);
        Record(parent.Level, parent.Tensor, "update", updates, _a.Levels[parent.Level].WriteBandwidth);
    }

    private void AddReads(int level, TensorSpec t, long words)
    {
        if (words == 0) return;
        _reads[level] += words;
        _readWords[level] += words;
        Record(level, t, "read", words, _a.Levels[level].ReadBandwidth);
    }

    /// <summary>
    /// Ends the current period (tile) of a level: its duration is its children's work, or its port time when
    /// longer; a single-buffered level first loads its tile, a double-buffered one prefetches the next tile
    /// (<paramref name="nextFill"/> words) while the children work on this one.
    /// </summary>
    private void Close(int l, long nextFill)
    {
        var level = _a.Levels[l];
        double wb = level.WriteBandwidth ?? double.PositiveInfinity, rb = level.ReadBandwidth ?? double.PositiveInfinity;
        double d;
        if (_db[l])
        {
            double port = Math.Max((nextFill + _upd[l]) / wb, _reads[l] / rb);
            d = Math.Max(_work[l], port);
            if (_firstPeriod[l]) d += _fill[l] / wb;
        }
        else d = _fill[l] / wb + Math.Max(_work[l], Math.Max(_upd[l] / wb, _reads[l] / rb));
        _firstPeriod[l] = false;
        _stall[l] += d - _work[l];
        _clock += l == _n - 1 ? d : d - _work[l];
        if (l > 0) _work[l - 1] += d;
        else _work0 = d;
    }

    /// <summary>
    /// The same-stride memory of a keeper entering the box at <paramref name="lo"/>: true when the whole tile must be
    /// fetched (the translation differs from the one remembered); slide levels never fetch whole after the first tile.
    /// </summary>
    private static bool Remember(Keeper kp, long[] lo)
    {
        if (!kp.SameStride) return false;
        var move = new long[lo.Length];
        for (int d = 0; d < lo.Length; d++) move[d] = lo[d] - kp.Lo[d];
        if (kp.Translation is null) { kp.Translation = move; return false; }
        if (SameBox(kp.Translation, move)) return false;
        kp.Translation = null;
        return true;
    }

    /// <summary>The words brought at this step as disjoint boxes: the whole new box, or the new box less the one held.</summary>
    private static List<(long[] Lo, long[] Hi)> Delta(Keeper kp, bool whole, long[] lo, long[] hi)
    {
        var result = new List<(long[], long[])>();
        if (whole || Overlap(kp.Lo, kp.Hi, lo, hi) == 0) { result.Add(((long[])lo.Clone(), (long[])hi.Clone())); return result; }
        var a = (long[])lo.Clone();
        var b = (long[])hi.Clone();
        for (int d = 0; d < lo.Length; d++)
        {
            if (a[d] < kp.Lo[d]) { var h = (long[])b.Clone(); h[d] = kp.Lo[d] - 1; result.Add(((long[])a.Clone(), h)); a[d] = kp.Lo[d]; }
            if (b[d] > kp.Hi[d]) { var x = (long[])a.Clone(); x[d] = kp.Hi[d] + 1; result.Add((x, (long[])b.Clone())); b[d] = kp.Hi[d]; }
        }
        return result;
    }

    /// <summary>
    /// The children of one parent instance that take this step's words from a neighbour: those with a neighbour, along
    /// a link, whose words of the previous step equal theirs now. The neighbour's boxes are executed (the representative's
    /// boxes with the link's rank one step on); every child tuple along the links is counted.
    /// </summary>
    private long Receivers(Keeper kp)
    {
        if (kp.Links is null || kp.NewFill == 0) return 0;
        var loops = kp.Links.Loops;
        var sign = new int[loops.Length];
        for (int a = 0; a < loops.Length; a++)
        {
            var b = (long[])_base[kp.Level].Clone();
            b[loops[a].Rank] += loops[a].Stride;
            var lo = new long[kp.Lo.Length];
            var hi = new long[kp.Lo.Length];
            Box(kp, b, kp.Level, lo, hi);
            var move = new long[lo.Length];
            for (int d = 0; d < lo.Length; d++) move[d] = lo[d] - kp.Lo[d];
            if (move.All(x => x == 0)) continue;
            if (SameWords(kp.Delta, kp.Previous, move, 1)) sign[a] = 1;
            else if (SameWords(kp.Delta, kp.Previous, move, -1)) sign[a] = -1;
        }
        long tuples = 1, receiving = 0;
        foreach (var x in loops) tuples = checked(tuples * x.Factor);
        var idx = new long[loops.Length];
        for (long n = 0; n < tuples; n++)
        {
            long rest = n;
            for (int a = loops.Length - 1; a >= 0; a--) { idx[a] = rest % loops[a].Factor; rest /= loops[a].Factor; }
            bool takes = false;
            for (int a = 0; a < loops.Length && !takes; a++)
                takes = sign[a] != 0 && idx[a] + sign[a] >= 0 && idx[a] + sign[a] < loops[a].Factor;
            if (takes) receiving++;
        }
        return checked(kp.Children / tuples * receiving);
    }

    /// <summary>True when the boxes <paramref name="now"/> hold exactly the words of <paramref name="before"/> moved by <paramref name="sign"/> x <paramref name="move"/>.</summary>
    private static bool SameWords(List<(long[] Lo, long[] Hi)> now, List<(long[] Lo, long[] Hi)> before, long[] move, int sign)
    {
        long a = 0, b = 0, common = 0;
        foreach (var (lo, hi) in now) a += Words(lo, hi);
        foreach (var (lo, hi) in before) b += Words(lo, hi);
        if (a == 0 || a != b) return false;
        foreach (var (lo, hi) in now)
            foreach (var (plo, phi) in before)
            {
                var slo = new long[lo.Length];
                var shi = new long[lo.Length];
                for (int d = 0; d < lo.Length; d++) { slo[d] = plo[d] + sign * move[d]; shi[d] = phi[d] + sign * move[d]; }
                common += Overlap(lo, hi, slo, shi);
            }
        return common == a;
    }

    /// <summary>The box a level's tile covers when its origin is <paramref name="b"/>: per dimension its lowest and highest index, each rank's range clipped to its bound.</summary>
    private void Box(Keeper k, long[] b, int l, long[] lo, long[] hi)
    {
        for (int d = 0; d < lo.Length; d++)
        {
            var ranks = k.TermRank[d];
            var coefs = k.TermCoef[d];
            long x = 0, y = 0;
            for (int i = 0; i < ranks.Length; i++)
            {
                int r = ranks[i];
                long last = Math.Min(b[r] + _extent[l][r], _bound[r]) - 1;
                long p = coefs[i] * b[r], q = coefs[i] * last;
                x += Math.Min(p, q);
                y += Math.Max(p, q);
            }
            lo[d] = x;
            hi[d] = y;
        }
    }

    /// <summary>The first point of its rank the odometer loop j's current iteration starts at (inner loops at 0).</summary>
    private long Start(int j)
    {
        long x = 0;
        for (int i = 0; i <= j; i++) if (_loopRank[i] == _loopRank[j]) x += _idx[i] * _loopStride[i];
        return x;
    }

    /// <summary>The iterations of the innermost level's temporal loops over rank r whose first point is within <paramref name="left"/> points (counted one by one, cached).</summary>
    private long InnerRuns(int r, long left)
    {
        if (_innerRuns.TryGetValue((r, left), out long runs)) return runs;
        var loops = _innerLoops[r];
        var idx = new long[loops.Count];
        runs = 0;
        while (true)
        {
            long offset = 0;
            for (int i = 0; i < idx.Length; i++) offset += idx[i] * loops[i].Stride;
            if (offset < left) runs++;
            int k = idx.Length - 1;
            while (k >= 0 && ++idx[k] == loops[k].Factor) { idx[k] = 0; k--; }
            if (k < 0) break;
        }
        _innerRuns[(r, left)] = runs;
        return runs;
    }

    private static long Words(long[] lo, long[] hi)
    {
        long words = 1;
        for (int d = 0; d < lo.Length; d++) words = checked(words * (hi[d] - lo[d] + 1));
        return words;
    }

    private static bool SameBox(long[] a, long[] b)
    {
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
        return true;
    }

    private static long Overlap(long[] aLo, long[] aHi, long[] bLo, long[] bHi)
    {
        long words = 1;
        for (int d = 0; d < aLo.Length; d++)
        {
            long o = Math.Min(aHi[d], bHi[d]) - Math.Max(aLo[d], bLo[d]) + 1;
            if (o <= 0) return 0;
            words *= o;
        }
        return words;
    }

    /// <summary>The linear index of an output box's origin (output indices are plain ranks, so boxes of one level never partly overlap).</summary>
    private long Key(long[] lo)
    {
        long key = 0;
        for (int d = 0; d < lo.Length; d++) key += lo[d] * _outputStrides[d];
        return key;
    }

    /// <summary>The origin of the output words one compute unit touches in this step.</summary>
    private long SweepKey()
    {
        var b = _base[_n - 1];
        long key = 0;
        for (int d = 0; d < _outputRanks.Length; d++) key += b[_outputRanks[d]] * _outputStrides[d];
        return key;
    }

    private void Record(int level, TensorSpec t, string kind, long words, double? bandwidth)
    {
        if (!_o.Trace || words == 0) return;
        if (_trace.Count >= _o.TraceLimit) { _traceTruncated = true; return; }
        double end = _clock + (bandwidth is { } bw ? words / bw : 0);
        _trace.Add(new SimEvent(_step, level, _a.Levels[level].Name, t.Id.Name, kind, _clock, end, words));
    }
}
