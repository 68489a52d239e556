using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// Timeloop's nest analysis for one mapping, step by step (rules A, B, C and C' of docs/cost-model.md): the counts
/// per loop and instance (<see cref="TlCounts"/>) that <see cref="TimeloopShape.Report"/> turns into the report.
/// A box is a run of longs (low corners, then high corners: low inclusive, high exclusive). Every buffer is made
/// once per mapping and reused at every step; the words a tile brings are kept as boxes only where a fanout compares
/// them (a temporal parent needs only their number); the children of a fanout with no fanout below are stepped once,
/// the others being the first one moved (<see cref="MirroredRun"/>); and below the last fanout a step from a memory
/// of rule A already met is replayed (<see cref="Memo"/>). Each shortcut rests on one fact: every count depends only
/// on differences of positions. tests/Optimizer.Tests/TimeloopNestReferenceTests.cs compares every count with a plain
/// emulation that takes none of them.
/// </summary>
internal sealed class TimeloopNest
{
    private const int Temporal = TlLoop.Temporal;

    /// <summary>
    /// The words each tensor's tile brings at one step, for every child of a spatial run: per child and tensor, disjoint
    /// boxes, their number of words and an order-free hash of them. The boxes' arrays are rented (a wide fanout's are
    /// large enough to be costly to collect) and given back by <see cref="Release"/>.
    /// </summary>
    private sealed class Deltas
    {
        public readonly int Children;
        public readonly int[] Count;     // [child * tensors + t]: boxes
        public readonly long[] Size;     // [child * tensors + t]: words
        public readonly long[] Hash;     // [child * tensors + t]
        public readonly long[][] Boxes;  // per tensor: per child, Stride[t] longs, of which Count boxes of 2 x order longs are used
        public readonly int[] Stride;

        public Deltas(int children, int[] order)
        {
            int tensors = order.Length;
            Children = children;
            Count = new int[children * tensors];
            Size = new long[children * tensors];
            Hash = new long[children * tensors];
            Stride = new int[tensors];
            Boxes = new long[tensors][];
            for (int t = 0; t < tensors; t++)
            {
                // A box minus another is at most two slabs per dimension.
                Stride[t] = Math.Max(1, 2 * order[t]) * 2 * order[t];
                Boxes[t] = System.Buffers.ArrayPool<long>.Shared.Rent(children * Stride[t]);
            }
        }

        public void Release()
        {
            foreach (var b in Boxes) System.Buffers.ArrayPool<long>.Shared.Return(b);
        }
    }

    /// <summary>One instance of one loop: its counts, and what rules A and C remember from its previous step.</summary>
    private sealed class State(int tensors, int[] order)
    {
        public readonly TlCounts Counts = new(tensors);
        public readonly bool[] HasPrev = new bool[tensors];
        public readonly long[][] Prev = order.Select(d => new long[2 * d]).ToArray();        // rule A: the previous box
        public readonly bool[] HasShift = new bool[tensors];
        public readonly long[][] Shift = order.Select(d => new long[d]).ToArray();           // rule A: the translation kept
        public Deltas? PrevSpatial;                                                            // rule C: the children's deltas at the previous step
    }

    /// <summary>
    /// A spatial run with no fanout below it. Every count of the nest depends only on differences of positions, so each
    /// child steps exactly as the first one, moved by the difference of their positions: its delta is the first
    /// child's moved by a fixed offset (the same at every step, the extrapolated children's included, since rule B's
    /// move between two moved copies of one set is their offset's difference), and its counts at every loop below are
    /// the first child's. So the first child alone is stepped; two children's deltas are identical exactly when their
    /// offsets are (rule C'); and a child's delta equals its neighbour's previous one exactly when the first child's
    /// delta is its previous one moved by the difference of the two offsets (rule C).
    /// </summary>
    private sealed class MirroredRun
    {
        /// <summary>The run's innermost spatial loop.</summary>
        public int Inner;
        /// <summary>The other children Timeloop steps (three along the innermost loop), in the order it steps them.</summary>
        public int[] Simulated = [];
        /// <summary>Per tensor: per child, its group of children with identical deltas.</summary>
        public int[][] GroupOf = [];
        /// <summary>Per tensor: per group, how many children it has.</summary>
        public int[][] GroupSize = [];
        /// <summary>Per tensor: the parent's accesses when no child is served by a neighbour.</summary>
        public Sharing[] Plain = [];
        /// <summary>Per tensor: the parent's accesses and the children served, by the set of moves that match (a bit per move).</summary>
        public Dictionary<long, Sharing>[] Linked = [];
        /// <summary>Per tensor: the distinct differences of offsets, neighbour's minus child's, over the neighbour pairs.</summary>
        public long[][][] Moves = [];
        /// <summary>Per tensor: per neighbour pair (as in <see cref="_neighbours"/>), the index of its move.</summary>
        public int[][] PairMove = [];
        /// <summary>The first-child keys of the run's instances met so far (their other children's counts are registered).</summary>
        public readonly HashSet<long> Met = [];
    }

    /// <summary>How the children of a run share their parent's accesses at one step: per multicast factor f, the groups of f children with one delta (rule C'); and how many children a neighbour serves (rule C).</summary>
    private sealed record Sharing((int Factor, long Groups)[] BySize, long Groups, int Served);

    /// <summary>Equality of sequences of longs (offsets, moves, memories of rule A).</summary>
    private sealed class SequenceComparer : IEqualityComparer<long[]>
    {
        public static readonly SequenceComparer Instance = new();
        public bool Equals(long[]? a, long[]? b) => a.AsSpan().SequenceEqual(b);
        public int GetHashCode(long[] a)
        {
            var h = new HashCode();
            foreach (var x in a) h.Add(x);
            return h.ToHashCode();
        }
    }

    /// <summary>
    /// The steps of a temporal loop whose subtree has no fanout. What a step does there depends only on rule A's memory
    /// (at each storage boundary of the subtree, per tensor: the previous box and the translation kept) taken relative
    /// to the current position, and it adds to the subtree's accesses in proportion to the epochs. So each memory met
    /// is stepped once; a step from a memory already met replays what that step did, moved to the current position.
    /// </summary>
    private sealed class Memo
    {
        /// <summary>The storage-boundary loops at or below the loop.</summary>
        public int[] Boundaries = [];
        /// <summary>The loops at or below it whose every step adds accesses (the innermost, and those just above a boundary).</summary>
        public int[] Touched = [];
        /// <summary>The memory as it is written down: per boundary and tensor, has a previous box, has a translation, the box's low corner, the translation.</summary>
        public long[] Memory = [];
        public long[] Before = [];
        public readonly Dictionary<long[], Recorded> Seen = new(SequenceComparer.Instance);
    }

    /// <summary>What one step from a memory did, relative to its position.</summary>
    private sealed class Recorded
    {
        public long[] After = [];      // the memory after the step
        public long[] Accesses = [];   // per touched loop and tensor: the accesses added, per epoch
        public long[] NewWords = [];   // per tensor: the words the loop's new tile brought (a boundary)
        public int[] Count = [];       // per tensor: the delta's boxes (a boundary whose parent compares them)
        public long[][] Boxes = [];
    }

    /// <summary>A memo holds at most this many memories; beyond, steps are run without one (a bound on memory).</summary>
    private const int MemoCapacity = 4096;

    private readonly TimeloopShape _s;
    private readonly TlLoop[] _loops;
    private readonly int _tensors;
    private readonly int[] _order;                          // per tensor: its number of dimensions
    private readonly (int Rank, long Coef)[][][] _dims;
    private readonly Dictionary<long, State>[] _states;
    private readonly List<TlCounts>[] _counts;              // per loop: its instances' counts in the order first met
    private readonly long[] _transform;
    private readonly long[] _key;                           // per level: the instance key of its loops
    private readonly long[][] _newWords;                    // per boundary loop: per tensor, the words its last step brought
    private readonly long[][] _sums;                        // per temporal loop: per tensor, the words its two sampled iterations brought
    private readonly Deltas?[] _runs;                       // per master spatial loop: its children's deltas at the current step
    private readonly long[][] _tileWords;                   // per loop: per tensor, the words of its box (the same at every position)
    private readonly MirroredRun?[] _mirrored;              // per master spatial loop of a run with no fanout below
    private readonly Memo?[] _memos;                        // per temporal loop with no fanout below and enough steps below to be worth it
    private readonly long[][][] _corner;                    // per loop, per tensor: its box's low corner minus the position's image (Place)
    private readonly long[][][] _extent;                    // per loop, per tensor: its box's extent per dimension
    private readonly long[][][] _base;                      // per memo loop, per tensor: the position's image at its current step
    private readonly long[] _zero;
    private readonly int[]?[] _neighbours;                  // per master spatial loop: pairs (child, its neighbour on the mesh) for rule C
    private readonly List<Deltas> _rented = [];
    private bool _analysed;
    private long _epochs = 1;

    /// <summary>After <see cref="Analyse"/>: the steps replayed from a memo, and the spatial steps of runs with no fanout below (for tests).</summary>
    internal int Replays { get; private set; }
    internal int MirroredSteps { get; private set; }

    // Scratch, used between recursive calls only: a box and a translation per tensor, the cut box of Minus, and
    // per child of a spatial run: served by a neighbour, already grouped, words by multicast factor and groups, and
    // the children in the order of their hashes.
    private readonly long[][] _box, _shift;
    private readonly long[] _cutLo, _cutHi;
    private readonly bool[] _served, _grouped;
    private readonly long[] _plainAccesses, _plainGroups, _linkedAccesses, _linkedGroups;
    private readonly long[] _hashes;
    private readonly int[] _byHash;
    private readonly bool[] _matches;

    public TimeloopNest(Einsum e, Architecture a, Mapping m) : this(new TimeloopShape(e, a, m)) { }

    public TimeloopNest(TimeloopShape shape)
    {
        _s = shape;
        _loops = shape.Loops;
        _tensors = shape.Tensors;
        _dims = shape.Dims;
        _order = _dims.Select(d => d.Length).ToArray();
        int loops = _loops.Length, maxOrder = _order.DefaultIfEmpty(0).Max();
        _states = new Dictionary<long, State>[loops];
        _counts = new List<TlCounts>[loops];
        _newWords = new long[loops][];
        _sums = new long[loops][];
        _runs = new Deltas[loops];
        _tileWords = new long[loops][];
        _mirrored = new MirroredRun[loops];
        _memos = new Memo[loops];
        _corner = new long[loops][][];
        _extent = new long[loops][][];
        _base = new long[loops][][];
        _neighbours = new int[loops][];
        int widest = 1;
        for (int i = 0; i < loops; i++)
        {
            var lp = _loops[i];
            _states[i] = [];
            _counts[i] = [];
            _newWords[i] = new long[_tensors];
            _sums[i] = new long[_tensors];
            if (lp.Master)
            {
                _neighbours[i] = TimeloopConvention.NeighbourPairs(shape.Arch.Levels[lp.Level].Fanout, lp.RunFanout);
                int inner = i;
                while (inner > 0 && _loops[inner - 1].Kind != Temporal) inner--;
                if (inner > 0 && !_loops.Take(inner).Any(x => x.Kind != Temporal)) _mirrored[i] = Mirrored(inner, i);
                _runs[i] = NewDeltas(_mirrored[i] is null ? lp.RunFanout : 1);
                widest = Math.Max(widest, lp.RunFanout);
            }
            _tileWords[i] = new long[_tensors];
            _corner[i] = new long[_tensors][];
            _extent[i] = new long[_tensors][];
            for (int t = 0; t < _tensors; t++)
            {
                long words = 1;
                var corner = _corner[i][t] = new long[_order[t]];
                var extents = _extent[i][t] = new long[_order[t]];
                for (int d = 0; d < _order[t]; d++)
                {
                    long extent = 1;
                    foreach (var (r, c) in _dims[t][d])
                    {
                        extent = checked(extent + Math.Abs(c) * lp.MoldHigh[r]);
                        if (c < 0) corner[d] = checked(corner[d] + c * lp.MoldHigh[r]);
                    }
                    extents[d] = extent;
                    words = checked(words * extent);
                }
                _tileWords[i][t] = words;
            }
        }
        // Memos where a step has at least 8 steps below it and no fanout.
        long below = 1;
        for (int i = 0; i < loops && _loops[i].Kind == Temporal; i++)
        {
            if (i > 0) below = checked(below * (_loops[i].Factor >= 2 ? 2 : 1) + 1);
            if (below < 8) continue;
            var memo = _memos[i] = new Memo
            {
                Boundaries = Enumerable.Range(0, i + 1).Where(j => _loops[j].Boundary).ToArray(),
                Touched = Enumerable.Range(0, i + 1).Where(j => j == 0 || _loops[j - 1].Boundary).ToArray(),
            };
            int width = memo.Boundaries.Length * _order.Sum(o => 2 + 2 * o);
            memo.Memory = new long[width];
            memo.Before = new long[memo.Touched.Length * _tensors];
            _base[i] = _order.Select(o => new long[o]).ToArray();
        }
        _transform = new long[shape.Ranks];
        _zero = new long[shape.Ranks];
        _key = new long[shape.Levels + 1];
        _box = _order.Select(d => new long[2 * d]).ToArray();
        _shift = _order.Select(d => new long[d]).ToArray();
        _cutLo = new long[maxOrder];
        _cutHi = new long[maxOrder];
        _served = new bool[widest];
        _grouped = new bool[widest];
        _plainAccesses = new long[widest + 1];
        _plainGroups = new long[widest + 1];
        _linkedAccesses = new long[widest + 1];
        _linkedGroups = new long[widest + 1];
        _hashes = new long[widest];
        _byHash = new int[widest];
        _matches = new bool[4 * widest];
    }

    private Deltas NewDeltas(int children)
    {
        var d = new Deltas(children, _order);
        _rented.Add(d);
        return d;
    }

    /// <summary>Runs the whole nest, once; per loop, its instances' counts in the order first met.</summary>
    public List<TlCounts>[] Analyse()
    {
        if (_analysed) throw new InvalidOperationException("A Timeloop nest is analysed once.");
        _analysed = true;
        try
        {
            _epochs = 1;
            Step(_loops.Length - 1, null, 0);
            return _counts;
        }
        finally
        {
            foreach (var d in _rented) d.Release();
            _rented.Clear();
        }
    }

    public CostReport Evaluate() => _s.Report(Analyse());

    private State StateOf(int i) => StateOf(i, _key[_loops[i].Level]);

    private State StateOf(int i, long key)
    {
        if (!_states[i].TryGetValue(key, out var s))
        {
            s = new State(_tensors, _order);
            // A box's words do not depend on its position: the largest tile is the first.
            if (_loops[i].Boundary || _loops[i].Master) Array.Copy(_tileWords[i], s.Counts.MaxSize, _tensors);
            _states[i][key] = s;
            _counts[i].Add(s.Counts);
        }
        return s;
    }

    /// <summary>Writes into <paramref name="box"/> the box of tensor t over the subnest whose extents are <paramref name="moldHigh"/> + 1, at the current position.</summary>
    private void Place(int t, long[] moldHigh, long[] box)
    {
        var dims = _dims[t];
        int order = dims.Length;
        for (int d = 0; d < order; d++)
        {
            long a = 0, b = 0;
            foreach (var (r, c) in dims[d])
            {
                long low = _transform[r], high = checked(_transform[r] + moldHigh[r]);
                if (c < 0) { a = checked(a + high * c); b = checked(b + low * c); }
                else { a = checked(a + low * c); b = checked(b + high * c); }
            }
            box[d] = a; box[order + d] = checked(b + 1);
        }
    }

    /// <summary>The words in the box at <paramref name="at"/> of <paramref name="boxes"/>.</summary>
    private static long SizeOf(long[] boxes, int at, int order)
    {
        long s = 1;
        for (int d = 0; d < order; d++) s = checked(s * (boxes[at + order + d] - boxes[at + d]));
        return s;
    }

    /// <summary>Sets child c's words and hash of tensor t from its boxes.</summary>
    private void Seal(Deltas into, int c, int t)
    {
        int order = _order[t], width = 2 * order, slot = c * _tensors + t, n = into.Count[slot];
        var boxes = into.Boxes[t];
        int at = c * into.Stride[t];
        long size = 0, hash = 0;
        for (int k = 0; k < n; k++, at += width)
        {
            size = checked(size + SizeOf(boxes, at, order));
            long h = 17;
            for (int d = 0; d < order; d++) h = unchecked(h * 1_000_003 + boxes[at + d] * 31 + boxes[at + order + d]);
            hash = unchecked(hash + h);
        }
        into.Size[slot] = size;
        into.Hash[slot] = unchecked(hash * 31 + n);
    }

    /// <summary>Child c's words of tensor t become the single box <paramref name="box"/>.</summary>
    private void SetWhole(Deltas into, int c, int t, long[] box)
    {
        Array.Copy(box, 0, into.Boxes[t], c * into.Stride[t], box.Length);
        into.Count[c * _tensors + t] = 1;
        Seal(into, c, t);
    }

    /// <summary>Whether boxes a and b meet.</summary>
    private static bool Meet(long[] a, long[] b, int order)
    {
        for (int d = 0; d < order; d++)
            if (a[order + d] <= b[d] || b[order + d] <= a[d]) return false;
        return true;
    }

    /// <summary>The words of box a that box b does not hold.</summary>
    private static long SizeMinus(long[] a, long[] b, int order)
    {
        long size = SizeOf(a, 0, order);
        if (!Meet(a, b, order)) return size;
        long common = 1;
        for (int d = 0; d < order; d++) common = checked(common * (Math.Min(a[order + d], b[order + d]) - Math.Max(a[d], b[d])));
        return checked(size - common);
    }

    /// <summary>Child c's words of tensor t become box a minus box b, as disjoint slabs cut dimension by dimension (all of a when they do not meet).</summary>
    private void Minus(long[] a, long[] b, Deltas into, int c, int t)
    {
        int order = _order[t];
        if (!Meet(a, b, order)) { SetWhole(into, c, t, a); return; }
        var lo = _cutLo;
        var hi = _cutHi;
        Array.Copy(a, 0, lo, 0, order);
        Array.Copy(a, order, hi, 0, order);
        var boxes = into.Boxes[t];
        int start = c * into.Stride[t], n = 0;
        void Emit(int d, bool upper, long cut)
        {
            int at = start + n++ * 2 * order;
            Array.Copy(lo, 0, boxes, at, order);
            Array.Copy(hi, 0, boxes, at + order, order);
            boxes[at + (upper ? 0 : order) + d] = cut;
        }
        for (int d = 0; d < order; d++)
        {
            if (lo[d] < b[d]) { Emit(d, upper: false, b[d]); lo[d] = b[d]; }
            if (b[order + d] < hi[d]) { Emit(d, upper: true, b[order + d]); hi[d] = b[order + d]; }
        }
        into.Count[c * _tensors + t] = n;
        Seal(into, c, t);
    }

    /// <summary>
    /// Runs loop i (and everything inside it) at the current position. At a storage boundary, sets per tensor the
    /// words of the level's new tile that its previous tile did not hold under rule A (<see cref="_newWords"/>), and
    /// writes them as boxes into child c of <paramref name="into"/> when the caller compares them.
    /// </summary>
    private void Step(int i, Deltas? into, int c)
    {
        if (_memos[i] is { } memo) Remembered(i, memo, into, c);
        else Run(i, into, c);
    }

    /// <summary>Loop i's step through its memo: replayed from a memory met before, else run and written down.</summary>
    private void Remembered(int i, Memo memo, Deltas? into, int c)
    {
        long key = _key[_loops[i].Level];
        var bases = _base[i];
        for (int t = 0; t < _tensors; t++)
        {
            var at = bases[t];
            for (int d = 0; d < at.Length; d++)
            {
                long v = 0;
                foreach (var (r, coef) in _dims[t][d]) v = checked(v + coef * _transform[r]);
                at[d] = v;
            }
        }
        WriteMemory(memo, key, bases, memo.Memory);
        if (memo.Seen.TryGetValue(memo.Memory, out var replay))
        {
            Replay(i, memo, replay, key, bases, into, c);
            return;
        }
        for (int k = 0; k < memo.Touched.Length; k++)
        {
            var state = _states[memo.Touched[k]].GetValueOrDefault(key);
            for (int t = 0; t < _tensors; t++)
                memo.Before[k * _tensors + t] = state is null ? 0 : state.Counts.Accesses[t].GetValueOrDefault((1, 1));
        }
        var before = (long[])memo.Memory.Clone();
        Run(i, into, c);
        if (memo.Seen.Count >= MemoCapacity) return;
        replay = new Recorded { After = new long[memo.Memory.Length], Accesses = new long[memo.Before.Length] };
        WriteMemory(memo, key, bases, replay.After);
        for (int k = 0; k < memo.Touched.Length; k++)
        {
            var state = _states[memo.Touched[k]][key];
            for (int t = 0; t < _tensors; t++)
            {
                long added = checked(state.Counts.Accesses[t][(1, 1)] - memo.Before[k * _tensors + t]);
                if (added % _epochs != 0) throw new InvalidOperationException("Accesses not proportional to the epochs in the Timeloop convention: an invariant is broken.");
                replay.Accesses[k * _tensors + t] = added / _epochs;
            }
        }
        if (_loops[i].Boundary)
        {
            replay.NewWords = (long[])_newWords[i].Clone();
            if (into is not null)
            {
                replay.Count = new int[_tensors];
                replay.Boxes = new long[_tensors][];
                for (int t = 0; t < _tensors; t++)
                {
                    int order = _order[t], n = replay.Count[t] = into.Count[c * _tensors + t];
                    var boxes = replay.Boxes[t] = new long[n * 2 * order];
                    Array.Copy(into.Boxes[t], c * into.Stride[t], boxes, 0, boxes.Length);
                    for (int k = 0; k < boxes.Length; k++) boxes[k] -= bases[t][k % order];
                }
            }
        }
        memo.Seen[before] = replay;
    }

    /// <summary>Writes down rule A's memory at the boundaries of a memo's subtree, relative to the position's images <paramref name="bases"/>.</summary>
    private void WriteMemory(Memo memo, long key, long[][] bases, long[] into)
    {
        int at = 0;
        foreach (int b in memo.Boundaries)
        {
            var state = _states[b].GetValueOrDefault(key);
            for (int t = 0; t < _tensors; t++)
            {
                int order = _order[t];
                bool prev = state is not null && state.HasPrev[t], shift = state is not null && state.HasShift[t];
                into[at++] = prev ? 1 : 0;
                into[at++] = shift ? 1 : 0;
                for (int d = 0; d < order; d++) into[at++] = prev ? state!.Prev[t][d] - _corner[b][t][d] - bases[t][d] : 0;
                for (int d = 0; d < order; d++) into[at++] = shift ? state!.Shift[t][d] : 0;
            }
        }
    }

    /// <summary>Replays a step written down: the memory after it, the accesses it added, the words its tile brought, moved to the current position.</summary>
    private void Replay(int i, Memo memo, Recorded replay, long key, long[][] bases, Deltas? into, int c)
    {
        Replays++;
        for (int k = i; k >= 0; k--) StateOf(k, key);
        int at = 0;
        foreach (int b in memo.Boundaries)
        {
            var state = _states[b][key];
            for (int t = 0; t < _tensors; t++)
            {
                int order = _order[t];
                state.HasPrev[t] = replay.After[at++] == 1;
                state.HasShift[t] = replay.After[at++] == 1;
                var prev = state.Prev[t];
                for (int d = 0; d < order; d++)
                {
                    prev[d] = checked(replay.After[at++] + _corner[b][t][d] + bases[t][d]);
                    prev[order + d] = checked(prev[d] + _extent[b][t][d]);
                }
                Array.Copy(replay.After, at, state.Shift[t], 0, order);
                at += order;
            }
        }
        for (int k = 0; k < memo.Touched.Length; k++)
        {
            var accesses = _states[memo.Touched[k]][key].Counts.Accesses;
            for (int t = 0; t < _tensors; t++) Add(accesses[t], (1, 1), checked(replay.Accesses[k * _tensors + t] * _epochs));
        }
        if (!_loops[i].Boundary) return;
        Array.Copy(replay.NewWords, _newWords[i], _tensors);
        if (into is null) return;
        for (int t = 0; t < _tensors; t++)
        {
            int order = _order[t], start = c * into.Stride[t];
            var boxes = replay.Boxes[t];
            for (int k = 0; k < boxes.Length; k++) into.Boxes[t][start + k] = checked(boxes[k] + bases[t][k % order]);
            into.Count[c * _tensors + t] = replay.Count[t];
            Seal(into, c, t);
        }
    }

    /// <summary>Runs loop i's step (see <see cref="Step"/>).</summary>
    private void Run(int i, Deltas? into, int c)
    {
        var lp = _loops[i];
        var state = StateOf(i);
        if (lp.Kind == Temporal) TemporalStep(i, state);
        else SpatialStep(i, state);
        if (!lp.Boundary) return;
        for (int t = 0; t < _tensors; t++)
        {
            int order = _order[t];
            var box = _box[t];
            Place(t, lp.MoldHigh, box);
            long size = _tileWords[i][t];
            // Rule A: subtract the previous tile only while the translation stays the one first seen after a reset.
            var prev = state.Prev[t];
            bool subtract = false;
            if (state.HasPrev[t])
            {
                var kept = state.Shift[t];
                if (!state.HasShift[t])
                {
                    for (int d = 0; d < order; d++) kept[d] = box[d] - prev[d];
                    state.HasShift[t] = subtract = true;
                }
                else
                {
                    subtract = true;
                    for (int d = 0; d < order; d++) if (box[d] - prev[d] != kept[d]) { subtract = false; break; }
                    state.HasShift[t] = subtract;
                }
            }
            if (into is null) _newWords[i][t] = subtract ? SizeMinus(box, prev, order) : size;
            else
            {
                if (subtract) Minus(box, prev, into, c, t);
                else SetWhole(into, c, t, box);
                _newWords[i][t] = into.Size[c * _tensors + t];
            }
            Array.Copy(box, prev, box.Length);
            state.HasPrev[t] = true;
        }
    }

    private void TemporalStep(int i, State state)
    {
        var lp = _loops[i];
        long n = lp.Factor;
        var accesses = state.Counts.Accesses;
        if (i == 0)
        {
            long body = checked(n * _epochs);
            for (int t = 0; t < _tensors; t++) Add(accesses[t], (1, 1), body);
            return;
        }
        var child = _loops[i - 1];
        var sums = _sums[i];
        var brought = _newWords[i - 1];
        Array.Clear(sums);
        if (child.Boundary) _key[child.Level] = _key[lp.Level];
        long saved = _transform[lp.Rank];
        // Iteration 0.
        Step(i - 1, null, 0);
        if (child.Boundary) for (int t = 0; t < _tensors; t++) sums[t] = checked(sums[t] + brought[t]);
        _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
        // Iteration 1 stands for iterations 1..n-1.
        if (n >= 2)
        {
            long savedEpochs = _epochs;
            _epochs = checked(_epochs * (n - 1));
            if (child.Boundary) _key[child.Level] = _key[lp.Level];
            Step(i - 1, null, 0);
            _epochs = savedEpochs;
            if (child.Boundary) for (int t = 0; t < _tensors; t++) sums[t] = checked(sums[t] + checked(brought[t] * (n - 1)));
        }
        _transform[lp.Rank] = saved;
        if (child.Boundary)
            for (int t = 0; t < _tensors; t++) Add(accesses[t], (1, 1), checked(sums[t] * _epochs));
    }

    private static void Add(Dictionary<(long, long), long> acc, (long, long) key, long value)
    {
        ref long slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(acc, key, out _);
        slot = checked(slot + value);
    }

    private void SpatialStep(int i, State state)
    {
        if (_mirrored[i] is { } mirrored) { MirroredStep(i, state, mirrored); return; }
        var lp = _loops[i];
        int count = lp.RunFanout;
        var run = _runs[i]!;
        Fill(i, run, 0);
        var prev = state.PrevSpatial;
        var counts = state.Counts;
        for (int t = 0; t < _tensors; t++)
        {
            long links = LinkTransfers(i, run, prev, t);
            Array.Fill(_grouped, false, 0, count);
            long plain = Multicast(run, t, _plainAccesses, _plainGroups);
            Array.Copy(_served, _grouped, count);
            long linked = Multicast(run, t, _linkedAccesses, _linkedGroups);
            var (accesses, groups) = (_plainAccesses, _plainGroups);
            if (linked < plain)
            {
                counts.Links[t] = checked(counts.Links[t] + links);
                (accesses, groups) = (_linkedAccesses, _linkedGroups);
            }
            for (int f = 1; f <= count; f++)
                if (groups[f] > 0) Add(counts.Accesses[t], (f, groups[f]), accesses[f]);
        }
        // This step's deltas become the state's previous ones; the state's old buffer serves the next step.
        state.PrevSpatial = run;
        _runs[i] = prev ?? NewDeltas(count);
    }

    /// <summary>The offsets of the children of the run of loops <paramref name="inner"/> to <paramref name="master"/>, grouped (see <see cref="MirroredRun"/>).</summary>
    private MirroredRun Mirrored(int inner, int master)
    {
        int children = _loops[master].RunFanout;
        var run = new MirroredRun { Inner = inner };
        // Child c's position: its index in each loop of the run, the master's most significant, times the loop's stride.
        var moves = new long[children][];
        var simulated = new List<int>();
        for (int c = 0; c < children; c++)
        {
            var at = moves[c] = new long[_s.Ranks];
            int rest = c;
            for (int j = inner; j <= master; j++)
            {
                int idx = rest % _loops[j].Factor;
                rest /= _loops[j].Factor;
                at[_loops[j].Rank] = checked(at[_loops[j].Rank] + idx * _loops[j].Stride);
                if (j == inner && idx < TimeloopShape.SampledChildren && c > 0) simulated.Add(c);
            }
        }
        run.Simulated = simulated.ToArray();
        run.GroupOf = new int[_tensors][];
        run.GroupSize = new int[_tensors][];
        run.Plain = new Sharing[_tensors];
        run.Linked = new Dictionary<long, Sharing>[_tensors];
        run.Moves = new long[_tensors][][];
        run.PairMove = new int[_tensors][];
        var pairs = _neighbours[master]!;
        for (int t = 0; t < _tensors; t++)
        {
            var offsets = new long[children][];
            var groups = new Dictionary<long[], int>(SequenceComparer.Instance);
            var groupOf = run.GroupOf[t] = new int[children];
            var sizes = new List<int>();
            for (int c = 0; c < children; c++)
            {
                var o = offsets[c] = new long[_order[t]];
                for (int d = 0; d < o.Length; d++)
                    foreach (var (r, coef) in _dims[t][d]) o[d] = checked(o[d] + coef * moves[c][r]);
                if (!groups.TryGetValue(o, out int g)) { groups[o] = g = sizes.Count; sizes.Add(0); }
                groupOf[c] = g;
                sizes[g]++;
            }
            run.GroupSize[t] = sizes.ToArray();
            run.Plain[t] = Share(run.GroupSize[t], 0);
            run.Linked[t] = [];
            var distinct = new Dictionary<long[], int>(SequenceComparer.Instance);
            var pairMove = run.PairMove[t] = new int[pairs.Length / 2];
            for (int p = 0; p < pairs.Length; p += 2)
            {
                var (cur, old) = (offsets[pairs[p]], offsets[pairs[p + 1]]);
                var move = new long[cur.Length];
                for (int d = 0; d < move.Length; d++) move[d] = checked(old[d] - cur[d]);
                if (!distinct.TryGetValue(move, out int k)) distinct[move] = k = distinct.Count;
                pairMove[p / 2] = k;
            }
            run.Moves[t] = distinct.OrderBy(x => x.Value).Select(x => x.Key).ToArray();
        }
        return run;
    }

    /// <summary>A step of a run with no fanout below (<see cref="MirroredRun"/>): its first child stepped, the others counted from it.</summary>
    private void MirroredStep(int i, State state, MirroredRun run)
    {
        MirroredSteps++;
        var lp = _loops[i];
        var first = _runs[i]!;
        long firstKey = checked(_key[lp.Level] * _s.FanoutOf(lp.Level));
        _key[_loops[run.Inner - 1].Level] = firstKey;
        Step(run.Inner - 1, first, 0);
        // The other stepped children's instances below have the first child's counts, met in Timeloop's order.
        if (run.Met.Add(firstKey))
            foreach (int c in run.Simulated)
                for (int j = 0; j < run.Inner; j++) _counts[j].Add(_states[j][firstKey].Counts);
        var prev = state.PrevSpatial;
        var counts = state.Counts;
        int children = lp.RunFanout;
        for (int t = 0; t < _tensors; t++)
        {
            long words = first.Size[t];
            if (words == 0) continue; // no child needs a word: no access, no transfer
            long each = checked(words * _epochs);
            var chosen = run.Plain[t];
            if (prev is not null && Linked(run, i, t, first, prev) is { } linked
                && checked(linked.Groups * each) < checked(chosen.Groups * each))
            {
                counts.Links[t] = checked(counts.Links[t] + checked(linked.Served * each));
                chosen = linked;
            }
            foreach (var (f, groups) in chosen.BySize) Add(counts.Accesses[t], (f, groups), checked(groups * each));
        }
        // This step's delta becomes the state's previous one; the state's old buffer serves the next step.
        state.PrevSpatial = first;
        _runs[i] = prev ?? NewDeltas(1);
    }

    /// <summary>
    /// Rule C at a step of a run with no fanout below, for tensor t: the moves (between a child and a neighbour) by which
    /// the first child's previous delta becomes its current one, and from them the children served and the sharing of
    /// the others; null when no child is served. Remembered per set of moves.
    /// </summary>
    private Sharing? Linked(MirroredRun run, int i, int t, Deltas first, Deltas prev)
    {
        var moves = run.Moves[t];
        var match = _matches;
        long set = 0;
        bool any = false;
        for (int k = 0; k < moves.Length; k++)
        {
            match[k] = SameMoved(first, prev, t, moves[k]);
            any |= match[k];
            if (match[k] && k < 64) set |= 1L << k;
        }
        if (!any) return null;
        if (moves.Length <= 64 && run.Linked[t].TryGetValue(set, out var known)) return known;
        int children = _loops[i].RunFanout, served = 0;
        Array.Fill(_served, false, 0, children);
        var pairs = _neighbours[i]!;
        var pairMove = run.PairMove[t];
        for (int p = 0; p < pairMove.Length; p++)
            if (match[pairMove[p]] && !_served[pairs[2 * p]]) { _served[pairs[2 * p]] = true; served++; }
        // Rule C': the groups of children not served by a neighbour.
        var left = (int[])run.GroupSize[t].Clone();
        for (int c = 0; c < children; c++) if (_served[c]) left[run.GroupOf[t][c]]--;
        var sharing = Share(left, served);
        if (moves.Length <= 64) run.Linked[t][set] = sharing;
        return sharing;
    }

    /// <summary>The sharing of groups of the given sizes (empty groups left out).</summary>
    private static Sharing Share(int[] sizes, int served)
    {
        var bySize = new SortedDictionary<int, long>();
        long groups = 0;
        foreach (int n in sizes)
            if (n > 0) { bySize[n] = bySize.GetValueOrDefault(n) + 1; groups++; }
        return new Sharing(bySize.Select(x => (x.Key, x.Value)).ToArray(), groups, served);
    }

    /// <summary>Whether the first child of a holds, for tensor t, the boxes of the first child of b moved by <paramref name="by"/>.</summary>
    private bool SameMoved(Deltas a, Deltas b, int t, long[] by)
    {
        int n = a.Count[t];
        if (n != b.Count[t] || a.Size[t] != b.Size[t]) return false;
        int order = _order[t], width = 2 * order;
        var x = a.Boxes[t];
        var y = b.Boxes[t];
        for (int u = 0; u < n; u++)
        {
            bool found = false;
            for (int v = 0; v < n && !found; v++)
            {
                found = true;
                for (int d = 0; d < order && found; d++)
                    found = x[u * width + d] == y[v * width + d] + by[d] && x[u * width + order + d] == y[v * width + order + d] + by[d];
            }
            if (!found) return false;
        }
        return true;
    }

    /// <summary>Whether child p of a and child q of b hold the same boxes of tensor t.</summary>
    private bool Same(Deltas a, int p, Deltas b, int q, int t)
    {
        int sp = p * _tensors + t, sq = q * _tensors + t, n = a.Count[sp];
        if (n != b.Count[sq] || a.Hash[sp] != b.Hash[sq]) return false;
        int width = 2 * _order[t];
        var x = a.Boxes[t].AsSpan(p * a.Stride[t], n * width);
        var y = b.Boxes[t].AsSpan(q * b.Stride[t], n * width);
        if (x.SequenceEqual(y)) return true; // the same boxes in the same order, as a move keeps them
        for (int u = 0; u < n; u++)
        {
            bool found = false;
            for (int v = 0; v < n && !found; v++) found = x.Slice(u * width, width).SequenceEqual(y.Slice(v * width, width));
            if (!found) return false;
        }
        return true;
    }

    /// <summary>
    /// Rule C' for tensor t: children whose deltas are identical share one parent access, skipping the children marked
    /// in <see cref="_grouped"/> (served by a neighbour). Per multicast factor f, the accesses and the groups; returns
    /// their total. Children are grouped among those of equal hash only.
    /// </summary>
    private long Multicast(Deltas run, int t, long[] accesses, long[] groups)
    {
        int count = run.Children;
        Array.Clear(accesses, 0, count + 1);
        Array.Clear(groups, 0, count + 1);
        for (int c = 0; c < count; c++) { _hashes[c] = run.Hash[c * _tensors + t]; _byHash[c] = c; }
        Array.Sort(_hashes, _byHash, 0, count);
        long total = 0;
        for (int start = 0, end; start < count; start = end)
        {
            for (end = start + 1; end < count && _hashes[end] == _hashes[start]; end++) { }
            for (int u = start; u < end; u++)
            {
                int a = _byHash[u];
                if (_grouped[a]) continue;
                _grouped[a] = true;
                int matches = 1;
                for (int v = u + 1; v < end; v++)
                {
                    int b = _byHash[v];
                    if (_grouped[b] || !Same(run, a, run, b, t)) continue;
                    _grouped[b] = true;
                    matches++;
                }
                long size = run.Size[a * _tensors + t];
                if (size > 0)
                {
                    long words = checked(size * _epochs);
                    accesses[matches] = checked(accesses[matches] + words);
                    groups[matches]++;
                    total = checked(total + words);
                }
            }
        }
        return total;
    }

    /// <summary>
    /// Rule C for tensor t: a child whose delta equals the delta one of its neighbours (left, right, above or below on
    /// the physical mesh) had at the previous step takes it over the link. Marks the children so served in
    /// <see cref="_served"/> and returns the words forwarded.
    /// </summary>
    private long LinkTransfers(int i, Deltas run, Deltas? prev, int t)
    {
        int count = run.Children;
        Array.Fill(_served, false, 0, count);
        if (prev is null) return 0;
        var pairs = _neighbours[i]!;
        long links = 0;
        for (int p = 0; p < pairs.Length; p += 2)
        {
            int cur = pairs[p], old = pairs[p + 1];
            if (_served[cur] || run.Hash[cur * _tensors + t] != prev.Hash[old * _tensors + t]) continue;
            long size = run.Size[cur * _tensors + t];
            if (size > 0 && Same(run, cur, prev, old, t))
            {
                _served[cur] = true;
                links = checked(links + checked(size * _epochs));
            }
        }
        return links;
    }

    /// <summary>Fills the deltas of every child of the spatial run that starts at loop i (rule B: three children simulated along the innermost spatial loop, the rest translated).</summary>
    private void Fill(int i, Deltas run, int baseIndex)
    {
        var lp = _loops[i];
        int n = lp.Factor;
        baseIndex = checked(baseIndex * n);
        long saved = _transform[lp.Rank];
        if (i == 0)
        {
            for (int idx = 0; idx < n; idx++)
            {
                for (int t = 0; t < _tensors; t++)
                {
                    Place(t, _zero, _box[t]);
                    SetWhole(run, baseIndex + idx, t, _box[t]);
                }
                _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
            }
        }
        else if (_loops[i - 1].Kind != Temporal)
        {
            for (int idx = 0; idx < n; idx++)
            {
                Fill(i - 1, run, baseIndex + idx);
                _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
            }
        }
        else
        {
            var child = _loops[i - 1];
            int simulated = Math.Min(n, TimeloopShape.SampledChildren);
            for (int idx = 0; idx < simulated; idx++)
            {
                _key[child.Level] = checked(_key[lp.Level] * _s.FanoutOf(lp.Level) + baseIndex + idx);
                Step(i - 1, run, baseIndex + idx);
                _transform[lp.Rank] = checked(_transform[lp.Rank] + lp.Stride);
            }
            if (simulated < n)
            {
                int before = baseIndex + simulated - 2, last = baseIndex + simulated - 1;
                for (int t = 0; t < _tensors; t++) Translation(run, before, last, t, _shift[t]);
                for (int idx = simulated; idx < n; idx++)
                    for (int t = 0; t < _tensors; t++) Moved(run, baseIndex + idx - 1, baseIndex + idx, t, _shift[t]);
            }
        }
        _transform[lp.Rank] = saved;
    }

    /// <summary>Child <paramref name="to"/>'s boxes of tensor t become child <paramref name="from"/>'s moved by <paramref name="by"/>.</summary>
    private void Moved(Deltas run, int from, int to, int t, long[] by)
    {
        int order = _order[t], n = run.Count[from * _tensors + t];
        var boxes = run.Boxes[t];
        int src = from * run.Stride[t], dst = to * run.Stride[t];
        for (int k = 0; k < n; k++)
            for (int d = 0; d < order; d++)
            {
                int at = k * 2 * order + d;
                boxes[dst + at] = checked(boxes[src + at] + by[d]);
                boxes[dst + at + order] = checked(boxes[src + at + order] + by[d]);
            }
        run.Count[to * _tensors + t] = n;
        Seal(run, to, t);
    }

    /// <summary>The translation of tensor t from child a to child b: the difference of their size-weighted centroids, rounded half away from zero (0 when either is empty).</summary>
    private void Translation(Deltas run, int a, int b, int t, long[] result)
    {
        int order = _order[t], width = 2 * order;
        Array.Clear(result);
        long sa = run.Size[a * _tensors + t], sb = run.Size[b * _tensors + t];
        if (sa == 0 || sb == 0) return;
        var boxes = run.Boxes[t];
        int na = run.Count[a * _tensors + t], nb = run.Count[b * _tensors + t];
        int xa = a * run.Stride[t], xb = b * run.Stride[t];
        for (int d = 0; d < order; d++)
        {
            double ca = 0, cb = 0;
            for (int k = 0, at = xa; k < na; k++, at += width) ca += (boxes[at + d] + boxes[at + order + d]) / 2.0 * SizeOf(boxes, at, order);
            for (int k = 0, at = xb; k < nb; k++, at += width) cb += (boxes[at + d] + boxes[at + order + d]) / 2.0 * SizeOf(boxes, at, order);
            result[d] = (long)Math.Round(cb / sb - ca / sa, MidpointRounding.AwayFromZero);
        }
    }
}
