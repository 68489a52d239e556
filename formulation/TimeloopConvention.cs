using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The Timeloop convention (docs/cost-model.md, "The Timeloop convention"): the counts, cycles and energy that
/// Timeloop v3.0.3's <c>timeloop-model</c> reports for a mapping, obtained by emulating its nest analysis over
/// boxes step by step: window overlap kept only while a tile keeps the same translation (rule A), temporal loops
/// sampled at iterations 0 and 1 and spatial rows at their first three children (rule B), words forwarded between
/// neighbouring children (rule C) and multicast by identical deltas (rule C'), then Timeloop's per-level
/// bookkeeping (partition sizes, bypass, peer accesses, first-read elision). Slower than <see cref="CostModel"/>,
/// and independent of it.
/// </summary>
public static class TimeloopConvention
{
    /// <summary>Evaluates a valid mapping in Timeloop's terms; throws <see cref="InvalidOperationException"/> when the mapping is not valid.</summary>
    public static CostReport Evaluate(Einsum einsum, Architecture arch, Mapping mapping)
    {
        ValidityChecker.RequireValid(einsum, arch, mapping, "The Timeloop convention");
        return new TimeloopNest(einsum, arch, mapping).Evaluate();
    }
}

/// <summary>An axis-aligned box of tensor coordinates: low corner inclusive, high corner exclusive.</summary>
internal sealed class TlBox(long[] lo, long[] hi)
{
    public readonly long[] Lo = lo;
    public readonly long[] Hi = hi;

    public long Size
    {
        get
        {
            long s = 1;
            for (int d = 0; d < Lo.Length; d++) s = checked(s * (Hi[d] - Lo[d]));
            return s;
        }
    }

    public bool SameAs(TlBox o)
    {
        for (int d = 0; d < Lo.Length; d++) if (Lo[d] != o.Lo[d] || Hi[d] != o.Hi[d]) return false;
        return true;
    }

    public long Hash()
    {
        long h = 17;
        for (int d = 0; d < Lo.Length; d++) h = unchecked(h * 1_000_003 + Lo[d] * 31 + Hi[d]);
        return h;
    }

    /// <summary>This box minus another, as disjoint slabs cut dimension by dimension (the whole box when they do not meet).</summary>
    public TlBox[] Minus(TlBox b)
    {
        for (int d = 0; d < Lo.Length; d++)
            if (Hi[d] <= b.Lo[d] || b.Hi[d] <= Lo[d]) return [this];
        var result = new List<TlBox>();
        var mlo = (long[])Lo.Clone();
        var mhi = (long[])Hi.Clone();
        for (int d = 0; d < Lo.Length; d++)
        {
            if (mlo[d] < b.Lo[d])
            {
                var h = (long[])mhi.Clone(); h[d] = b.Lo[d];
                result.Add(new TlBox((long[])mlo.Clone(), h));
                mlo[d] = b.Lo[d];
            }
            if (b.Hi[d] < mhi[d])
            {
                var l = (long[])mlo.Clone(); l[d] = b.Hi[d];
                result.Add(new TlBox(l, (long[])mhi.Clone()));
                mhi[d] = b.Hi[d];
            }
        }
        return result.ToArray();
    }

    public TlBox Shifted(long[] by)
    {
        var lo = new long[Lo.Length];
        var hi = new long[Lo.Length];
        for (int d = 0; d < Lo.Length; d++) { lo[d] = checked(Lo[d] + by[d]); hi[d] = checked(Hi[d] + by[d]); }
        return new TlBox(lo, hi);
    }
}

/// <summary>Timeloop's nest analysis and tile bookkeeping for one mapping.</summary>
internal sealed class TimeloopNest
{
    private const int Temporal = 0, SpaceX = 1, SpaceY = 2;
    private const int SampledChildren = 3; // spatial extrapolation: children simulated along the innermost spatial loop

    private sealed class Loop
    {
        public int Rank, Factor, Kind, Level;
        public bool Boundary, Master;
        public long Stride;      // index step of the loop's rank per iteration
        public long[] MoldHigh = []; // per rank: extent of the subnest from this loop inwards, minus 1
        public int RunFanout = 1;    // master spatial loops: product of the factors of the spatial run below
    }

    private sealed class State
    {
        public TlBox?[] Prev = [];
        public long[]?[] PrevShift = [];
        public long[] MaxSize = [];
        public Dictionary<(long Multicast, long Scatter), long>[] Accesses = [];
        public long[] Links = [];
        public TlBox[][][]? PrevSpatial;
    }

    private readonly Einsum _e;
    private readonly Architecture _a;
    private readonly Mapping _m;
    private readonly int _n, _ranks, _tensors;
    private readonly (int Rank, long Coef)[][][] _dims; // tensor -> dim -> terms
    private readonly List<Loop> _loops = [];            // innermost first
    private readonly Dictionary<long, State>[] _states;
    private readonly long[] _transform;
    private readonly long[] _key;      // per level: the instance key of its loops
    private readonly long[] _fanout;   // per level: product of its spatial factors
    private readonly long[] _used;     // per level: instances used; [n] compute units used
    private long _epochs = 1;

    public TimeloopNest(Einsum e, Architecture a, Mapping m)
    {
        _e = e; _a = a; _m = m;
        _n = a.Levels.Count;
        _ranks = e.Ranks.Count;
        _tensors = e.Tensors.Count;
        var rankIndex = e.Ranks.Select((r, i) => (r.Id, i)).ToDictionary(x => x.Id, x => x.i);
        _dims = e.Tensors.Select(t => t.Dims.Select(d => d.Terms.Select(x => (rankIndex[x.Rank], (long)x.Coefficient)).ToArray()).ToArray()).ToArray();

        // The nest outermost first: per level its temporal loops (a trivial one when it has none), then its
        // spatial loops, Y outside X (Timeloop lays the first dimensions of a spatial permutation, the innermost, along X).
        var outerFirst = new List<Loop>();
        for (int l = 0; l < _n; l++)
        {
            var lm = m.Levels[l];
            var temporal = lm.Temporal.Where(x => x.Factor > 1).Select(x => new Loop { Rank = rankIndex[x.Rank], Factor = x.Factor, Kind = Temporal, Level = l }).ToList();
            if (temporal.Count == 0) temporal.Add(new Loop { Rank = 0, Factor = 1, Kind = Temporal, Level = l });
            temporal[0].Boundary = true;
            outerFirst.AddRange(temporal);
            outerFirst.AddRange(lm.Spatial.Where(x => x.Factor > 1 && x.Axis == Axis.Y).Select(x => new Loop { Rank = rankIndex[x.Rank], Factor = x.Factor, Kind = SpaceY, Level = l }));
            outerFirst.AddRange(lm.Spatial.Where(x => x.Factor > 1 && x.Axis == Axis.X).Select(x => new Loop { Rank = rankIndex[x.Rank], Factor = x.Factor, Kind = SpaceX, Level = l }));
        }
        outerFirst.Reverse();
        _loops = outerFirst;
        var scale = new long[_ranks];
        Array.Fill(scale, 1L);
        for (int i = 0; i < _loops.Count; i++)
        {
            var lp = _loops[i];
            lp.Stride = scale[lp.Rank];
            scale[lp.Rank] = checked(scale[lp.Rank] * lp.Factor);
            lp.MoldHigh = scale.Select(x => x - 1).ToArray();
            lp.Master = lp.Kind != Temporal && (i + 1 == _loops.Count || _loops[i + 1].Kind == Temporal);
            if (lp.Master)
            {
                long f = 1;
                for (int j = i; j >= 0 && _loops[j].Kind != Temporal; j--) f = checked(f * _loops[j].Factor);
                lp.RunFanout = (int)f;
            }
        }
        _states = _loops.Select(_ => new Dictionary<long, State>()).ToArray();
        _transform = new long[_ranks];
        _key = new long[_n + 1];
        _fanout = new long[_n];
        _used = new long[_n + 1];
        _used[0] = 1;
        for (int l = 0; l < _n; l++)
        {
            _fanout[l] = m.Levels[l].Spatial.Aggregate(1L, (acc, s) => checked(acc * s.Factor));
            _used[l + 1] = checked(_used[l] * _fanout[l]);
        }
    }

    private State StateOf(int i)
    {
        var dict = _states[i];
        long key = _key[_loops[i].Level];
        if (!dict.TryGetValue(key, out var s))
        {
            s = new State
            {
                Prev = new TlBox?[_tensors],
                PrevShift = new long[]?[_tensors],
                MaxSize = new long[_tensors],
                Accesses = Enumerable.Range(0, _tensors).Select(_ => new Dictionary<(long, long), long>()).ToArray(),
                Links = new long[_tensors],
            };
            dict[key] = s;
        }
        return s;
    }

    /// <summary>The box of tensor t over the subnest from loop i inwards, at the current position.</summary>
    private TlBox BoxOf(int t, long[] moldHigh)
    {
        var dims = _dims[t];
        var lo = new long[dims.Length];
        var hi = new long[dims.Length];
        for (int d = 0; d < dims.Length; d++)
        {
            long a = 0, b = 0;
            foreach (var (r, c) in dims[d])
            {
                long low = _transform[r], high = checked(_transform[r] + moldHigh[r]);
                if (c < 0) { a = checked(a + high * c); b = checked(b + low * c); }
                else { a = checked(a + low * c); b = checked(b + high * c); }
            }
            lo[d] = a; hi[d] = checked(b + 1);
        }
        return new TlBox(lo, hi);
    }

    private static long SizeOf(TlBox[] boxes)
    {
        long s = 0;
        foreach (var b in boxes) s = checked(s + b.Size);
        return s;
    }

    /// <summary>
    /// Runs loop i (and everything inside it) at the current position; for a storage boundary returns, per
    /// tensor, the words of the level's new tile that its previous tile did not hold under rule A.
    /// </summary>
    private TlBox[][]? Deltas(int i)
    {
        var lp = _loops[i];
        var state = StateOf(i);
        if (lp.Kind == Temporal) TemporalStep(i, state);
        else SpatialStep(i, state);
        if (!lp.Boundary && !lp.Master) return null;
        var result = lp.Boundary ? new TlBox[_tensors][] : null;
        for (int t = 0; t < _tensors; t++)
        {
            var box = BoxOf(t, lp.MoldHigh);
            long size = box.Size;
            if (size > state.MaxSize[t]) state.MaxSize[t] = size;
            if (!lp.Boundary) continue;
            // Rule A: subtract the previous tile only while the translation stays the one first seen after a reset.
            var prev = state.Prev[t];
            long[]? shift = null;
            if (prev is not null)
            {
                shift = new long[box.Lo.Length];
                for (int d = 0; d < shift.Length; d++) shift[d] = box.Lo[d] - prev.Lo[d];
            }
            var prevShift = state.PrevShift[t];
            if (prevShift is null)
            {
                result![t] = prev is null ? [box] : box.Minus(prev);
                state.PrevShift[t] = shift;
            }
            else if (shift is not null && shift.AsSpan().SequenceEqual(prevShift))
                result![t] = box.Minus(prev!);
            else
            {
                result![t] = [box];
                state.PrevShift[t] = null;
            }
            state.Prev[t] = box;
        }
        return result;
    }

    private void TemporalStep(int i, State state)
    {
        var lp = _loops[i];
        long n = lp.Factor;
        if (i == 0)
        {
            long body = checked(n * _epochs);
            for (int t = 0; t < _tensors; t++) Add(state.Accesses[t], (1, 1), body);
            return;
        }
        var child = _loops[i - 1];
        if (child.Boundary) _key[child.Level] = _key[lp.Level];
        var sizes = new long[_tensors];
        long saved = _transform[lp.Rank];
        // Iteration 0.
        var d0 = Deltas(i - 1);
        if (d0 is not null) for (int t = 0; t < _tensors; t++) sizes[t] = checked(sizes[t] + SizeOf(d0[t]));
        _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
        // Iteration 1 stands for iterations 1..n-1.
        if (n >= 2)
        {
            long savedEpochs = _epochs;
            _epochs = checked(_epochs * (n - 1));
            if (child.Boundary) _key[child.Level] = _key[lp.Level];
            var d1 = Deltas(i - 1);
            _epochs = savedEpochs;
            if (d1 is not null) for (int t = 0; t < _tensors; t++) sizes[t] = checked(sizes[t] + checked(SizeOf(d1[t]) * (n - 1)));
        }
        _transform[lp.Rank] = saved;
        if (child.Boundary)
            for (int t = 0; t < _tensors; t++) Add(state.Accesses[t], (1, 1), checked(sizes[t] * _epochs));
    }

    private static void Add(Dictionary<(long, long), long> acc, (long, long) key, long value)
        => acc[key] = checked(acc.GetValueOrDefault(key) + value);

    private void SpatialStep(int i, State state)
    {
        var lp = _loops[i];
        int count = lp.RunFanout;
        var deltas = new TlBox[count][][];
        Fill(i, deltas, 0);
        var hashes = new long[count][];
        for (int c = 0; c < count; c++)
        {
            hashes[c] = new long[_tensors];
            for (int t = 0; t < _tensors; t++)
            {
                long h = 0;
                foreach (var b in deltas[c][t]) h = unchecked(h + b.Hash());
                hashes[c][t] = unchecked(h * 31 + deltas[c][t].Length);
            }
        }
        var none = new bool[_tensors][];
        for (int t = 0; t < _tensors; t++) none[t] = new bool[count];
        var without = Multicast(deltas, hashes, none);
        var linked = LinkTransfers(lp, state, deltas, hashes, out var links);
        var with = Multicast(deltas, hashes, linked);
        for (int t = 0; t < _tensors; t++)
        {
            var chosen = without[t];
            if (with[t].Values.Sum() < without[t].Values.Sum())
            {
                state.Links[t] = checked(state.Links[t] + links[t]);
                chosen = with[t];
            }
            foreach (var (k, v) in chosen) Add(state.Accesses[t], k, v);
        }
    }

    private static bool Same(TlBox[] a, TlBox[] b)
    {
        if (a.Length != b.Length) return false;
        foreach (var x in a)
        {
            bool found = false;
            foreach (var y in b) if (x.SameAs(y)) { found = true; break; }
            if (!found) return false;
        }
        return true;
    }

    /// <summary>Parent accesses when children whose deltas are identical share one access (rule C'), skipping the children already served.</summary>
    private Dictionary<(long, long), long>[] Multicast(TlBox[][][] deltas, long[][] hashes, bool[][] served)
    {
        var result = new Dictionary<(long, long), long>[_tensors];
        int count = deltas.Length;
        for (int t = 0; t < _tensors; t++)
        {
            var done = (bool[])served[t].Clone();
            var byFactor = new SortedDictionary<long, (long Accesses, long Scatter)>();
            for (int a = 0; a < count; a++)
            {
                if (done[a]) continue;
                done[a] = true;
                long matches = 1;
                for (int b = a + 1; b < count; b++)
                {
                    if (done[b] || hashes[a][t] != hashes[b][t] || !Same(deltas[a][t], deltas[b][t])) continue;
                    done[b] = true;
                    matches++;
                }
                long size = SizeOf(deltas[a][t]);
                if (size > 0)
                {
                    var cur = byFactor.GetValueOrDefault(matches);
                    byFactor[matches] = (checked(cur.Accesses + checked(size * _epochs)), cur.Scatter + 1);
                }
            }
            result[t] = byFactor.ToDictionary(x => (x.Key, x.Value.Scatter), x => x.Value.Accesses);
        }
        return result;
    }

    /// <summary>
    /// Rule C: a child whose delta equals the delta its neighbour (left, right, above or below on the physical
    /// mesh) had at the previous step takes it over the link. Returns the children so served per tensor.
    /// </summary>
    private bool[][] LinkTransfers(Loop lp, State state, TlBox[][][] deltas, long[][] hashes, out long[] links)
    {
        int count = deltas.Length;
        var fan = _a.Levels[lp.Level].Fanout;
        long h = fan.X, v = fan.Y;
        var reuse = new bool[_tensors][];
        for (int t = 0; t < _tensors; t++) reuse[t] = new bool[Math.Max(count, checked((int)(h * v)))];
        var prev = state.PrevSpatial;
        void Compare(long cur, long old)
        {
            if (prev is null || cur >= count || old >= prev.Length) return;
            for (int t = 0; t < _tensors; t++)
                if (deltas[cur][t].Length > 0 && SizeOf(deltas[cur][t]) > 0 && Same(deltas[cur][t], prev[old][t])) reuse[t][cur] = true;
        }
        if (v > 1)
        {
            for (long x = 0; x < h; x++) for (long y = 1; y < v; y++) Compare(y * h + x, (y - 1) * h + x);
            for (long x = 0; x < h; x++) for (long y = 0; y < v - 1; y++) Compare(y * h + x, (y + 1) * h + x);
        }
        if (h > 1)
        {
            for (long y = 0; y < v; y++) for (long x = 1; x < h; x++) Compare(y * h + x, y * h + x - 1);
            for (long y = 0; y < v; y++) for (long x = 0; x < h - 1; x++) Compare(y * h + x, y * h + x + 1);
        }
        links = new long[_tensors];
        var served = new bool[_tensors][];
        for (int t = 0; t < _tensors; t++)
        {
            served[t] = new bool[count];
            for (int c = 0; c < count; c++)
                if (reuse[t][c])
                {
                    served[t][c] = true;
                    links[t] = checked(links[t] + checked(SizeOf(deltas[c][t]) * _epochs));
                }
        }
        state.PrevSpatial = deltas;
        return served;
    }

    /// <summary>Fills the deltas of every child of the spatial run that starts at loop i (rule B: three children simulated along the innermost spatial loop, the rest translated).</summary>
    private void Fill(int i, TlBox[][][] deltas, long baseIndex)
    {
        var lp = _loops[i];
        long n = lp.Factor;
        baseIndex = checked(baseIndex * n);
        long saved = _transform[lp.Rank];
        if (i == 0)
        {
            var zero = new long[_ranks];
            for (long idx = 0; idx < n; idx++)
            {
                deltas[baseIndex + idx] = Enumerable.Range(0, _tensors).Select(t => new[] { BoxOf(t, zero) }).ToArray();
                _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
            }
        }
        else if (_loops[i - 1].Kind != Temporal)
        {
            for (long idx = 0; idx < n; idx++)
            {
                Fill(i - 1, deltas, baseIndex + idx);
                _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
            }
        }
        else
        {
            var child = _loops[i - 1];
            long run = Math.Min(n, SampledChildren);
            for (long idx = 0; idx < run; idx++)
            {
                _key[child.Level] = checked(_key[lp.Level] * _fanout[lp.Level] + baseIndex + idx);
                deltas[baseIndex + idx] = Deltas(i - 1)!;
                _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
            }
            if (run < n)
            {
                var last = deltas[baseIndex + run - 1];
                var before = deltas[baseIndex + run - 2];
                var shifts = Enumerable.Range(0, _tensors).Select(t => Translation(before[t], last[t])).ToArray();
                var cur = last;
                for (long idx = run; idx < n; idx++)
                {
                    var c = cur;
                    cur = Enumerable.Range(0, _tensors).Select(t => c[t].Select(b => b.Shifted(shifts[t])).ToArray()).ToArray();
                    deltas[baseIndex + idx] = cur;
                }
            }
        }
        _transform[lp.Rank] = saved;
    }

    /// <summary>The translation between two sets of boxes: the difference of their size-weighted centroids, rounded half away from zero (0 when either is empty).</summary>
    private static long[] Translation(TlBox[] a, TlBox[] b)
    {
        int order = a.Length > 0 ? a[0].Lo.Length : b.Length > 0 ? b[0].Lo.Length : 0;
        var result = new long[order];
        long sa = SizeOf(a), sb = SizeOf(b);
        if (sa == 0 || sb == 0 || order == 0) return result;
        for (int d = 0; d < order; d++)
        {
            double ca = 0, cb = 0;
            foreach (var x in a) ca += (x.Lo[d] + x.Hi[d]) / 2.0 * x.Size;
            foreach (var x in b) cb += (x.Lo[d] + x.Hi[d]) / 2.0 * x.Size;
            result[d] = (long)Math.Round(cb / sb - ca / sa, MidpointRounding.AwayFromZero);
        }
        return result;
    }

    /// <summary>One level's collapsed tile for one tensor, in Timeloop's bookkeeping.</summary>
    private sealed class Tile
    {
        public long Size, Partition, Links, PartitionDenominator;
        public SortedDictionary<(long Multicast, long Scatter), double> Stats = new();
        public double Content, ParentShare, PeerAccesses, PeerFills;
        public long Fanout, Replication;
        public long Reads, Fills, Updates, SpatialReductions;
        public double Total => Stats.Values.Sum();
        public double Weighted => Stats.Sum(x => x.Value * x.Key.Multicast);
    }

    public CostReport Evaluate()
    {
        _epochs = 1;
        Deltas(_loops.Count - 1);

        // Per level: its storage-boundary loop (size) and its innermost loop that counts accesses.
        var boundary = new int[_n];
        var inner = new int[_n];
        for (int l = 0; l < _n; l++)
        {
            boundary[l] = _loops.FindIndex(x => x.Level == l && x.Boundary);
            inner[l] = _loops.FindIndex(x => x.Level == l && (x.Kind == Temporal || x.Master));
        }
        var tiles = new Tile[_tensors][];
        for (int t = 0; t < _tensors; t++)
        {
            var tile = tiles[t] = new Tile[_n];
            for (int l = 0; l < _n; l++)
            {
                var sizeStates = _states[boundary[l]].Values;
                var accStates = _states[inner[l]].Values;
                var k = tile[l] = new Tile
                {
                    Size = sizeStates.Aggregate(0L, (acc, s) => checked(acc + s.MaxSize[t])) / sizeStates.Count,
                    Links = accStates.Aggregate(0L, (acc, s) => checked(acc + s.Links[t])) / accStates.Count,
                    Fanout = _fanout[l],
                    Replication = _used[l],
                };
                foreach (var s in accStates)
                    foreach (var (key, v) in s.Accesses[t]) k.Stats[key] = k.Stats.GetValueOrDefault(key) + v;
                foreach (var key in k.Stats.Keys.ToList()) k.Stats[key] /= accStates.Count;
                k.Content = k.Total;
            }
            for (int l = 1; l < _n; l++)
            {
                var masterLoop = _loops[inner[l - 1]];
                tile[l].PartitionDenominator = masterLoop.Master
                    ? _states[inner[l - 1]].Values.Aggregate(0L, (acc, s) => checked(acc + s.MaxSize[t])) / _states[inner[l - 1]].Count
                    : tile[l].Size;
            }
            // Partition sizes, outermost down.
            long partition = tile[0].Size;
            tile[0].Partition = partition;
            for (int l = 1; l < _n; l++)
            {
                if (tile[l].PartitionDenominator != 0) partition = checked(partition * tile[l].Size) / tile[l].PartitionDenominator;
                tile[l].Partition = partition;
            }
            // Each level's share of its parent's accesses (its fills), before bypass is applied.
            for (int l = 1; l < _n; l++)
                foreach (var (key, acc) in tile[l - 1].Stats) tile[l].ParentShare += acc * key.Multicast / tile[l - 1].Fanout;
            // Bypass: a level that does not keep the tensor hands its children's accesses to the next keeper above.
            var id = _e.Tensors[t].Id;
            for (int l = _n - 1; l >= 0; l--)
            {
                if (tile[l].Size == 0 || _m.Levels[l].Keep.Contains(id)) continue;
                int outer = l - 1;
                while (outer >= 0 && tile[outer].Size == 0) outer--;
                if (outer < 0)
                {
                    Clear(tile[l]);
                    break;
                }
                double weighted = tile[outer].Weighted;
                double factor = weighted == 0 ? 0 : tile[l].Content * tile[outer].Fanout / weighted;
                foreach (var key in tile[outer].Stats.Keys.ToList()) tile[outer].Stats[key] *= factor;
                tile[outer].Links = 0;
                tile[outer].Content = tile[outer].Total;
                Clear(tile[l]);
            }
            for (int l = 0; l < _n; l++)
            {
                if (!_m.Levels[l].Keep.Contains(id)) { tile[l] = new Tile { Fanout = _fanout[l], Replication = _used[l] }; continue; }
                tile[l].ParentShare = 0;
                break;
            }
            // Words forwarded between neighbours are read from and written into the receiving children.
            for (int l = 0; l < _n - 1; l++)
            {
                if (tile[l].Links == 0) continue;
                double each = tile[l].Links / tile[l + 1].Replication;
                tile[l + 1].PeerAccesses += each;
                tile[l + 1].PeerFills += each;
            }
            bool output = _e.Tensors[t].IsOutput;
            for (int l = 0; l < _n; l++)
            {
                var k = tile[l];
                if (output)
                    foreach (var (key, acc) in k.Stats) k.SpatialReductions = checked(k.SpatialReductions + (long)Math.Round(acc * (key.Multicast - 1), MidpointRounding.AwayFromZero));
                if (k.Size == 0) continue;
                bool outermost = true;
                for (int o = 0; o < l; o++) if (tile[o].Size > 0) outermost = false;
                if (output)
                {
                    k.Updates = Round(k.Content);
                    k.Reads = Round(k.Content + k.PeerAccesses - k.Partition);
                    k.Fills = outermost ? Round(k.ParentShare + k.PeerFills) : Round(k.ParentShare + k.PeerFills - k.Partition);
                }
                else
                {
                    k.Reads = Round(k.Content + k.PeerAccesses);
                    k.Fills = Round(k.ParentShare + k.PeerFills);
                }
            }
        }
        return Report(tiles);
    }

    private static void Clear(Tile k)
    {
        k.Size = 0; k.Partition = 0; k.Content = 0; k.ParentShare = 0;
    }

    private static long Round(double x)
    {
        if (double.IsNaN(x) || x < -0.5) throw new InvalidOperationException($"Negative or undefined count {x} in the Timeloop convention: an invariant is broken.");
        return checked((long)Math.Round(x, MidpointRounding.AwayFromZero));
    }

    private CostReport Report(Tile[][] tiles)
    {
        var perLevel = Enumerable.Range(0, _n).Select(_ => new List<TensorLevelCost>()).ToArray();
        var levels = new List<LevelCost>();
        var fanouts = new List<FanoutTraffic>();
        long perUnit = _m.Levels.SelectMany(l => l.Temporal).Aggregate(1L, (acc, x) => checked(acc * x.Factor));
        long computeCycles = (perUnit + _a.Compute.MacsPerCycle - 1) / _a.Compute.MacsPerCycle;
        long cycles = computeCycles;
        string boundBy = "compute";
        double storage = 0;
        for (int l = _n - 1; l >= 0; l--)
        {
            var level = _a.Levels[l];
            long held = 0, reads = 0, writes = 0;
            double levelEnergy = 0;
            for (int t = 0; t < _tensors; t++)
            {
                var k = tiles[t][l];
                var spec = _e.Tensors[t];
                if (_fanout[l] > 1 && (k.Links != 0 || k.SpatialReductions != 0))
                    fanouts.Add(new FanoutTraffic(l, level.Name, spec.Id, k.Links, k.SpatialReductions));
                if (!_m.Levels[l].Keep.Contains(spec.Id)) continue;
                double energy = (k.Reads * level.ReadEnergy + k.Fills * level.WriteEnergy + k.Updates * level.WriteEnergy) * _used[l];
                perLevel[l].Add(new TensorLevelCost(l, level.Name, spec.Id, spec.Role, k.Size, k.Fills, k.Reads, k.Updates, _used[l], energy));
                levelEnergy += energy;
                held = checked(held + k.Size);
                reads = checked(reads + k.Reads);
                writes = checked(writes + k.Fills + k.Updates);
            }
            long bw = Math.Max(
                level.ReadBandwidth is { } rb ? (long)Math.Ceiling(reads / rb) : 0,
                level.WriteBandwidth is { } wb ? (long)Math.Ceiling(writes / wb) : 0);
            if (bw > cycles) { cycles = bw; boundBy = level.Name; }
            levels.Add(new LevelCost(l, level.Name, _used[l], _a.InstancesOf(l), held, level.Capacity, levelEnergy, bw));
            storage += levelEnergy;
        }
        var tensors = perLevel.SelectMany(x => x).ToList();
        levels.Reverse();
        fanouts.Reverse();
        long macs = checked(perUnit * _used[_n]);
        double util = (double)macs / ((double)_a.ComputeInstances * cycles * _a.Compute.MacsPerCycle);
        return new CostReport(tensors, [], levels, macs, _used[_n], computeCycles, cycles, boundBy,
            macs * _a.Compute.MacEnergy, storage, 0, util)
        { Fanouts = fanouts };
    }
}
