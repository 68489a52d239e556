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

    /// <summary>
    /// The fewest distinct values dimension k takes over a box whose ranks take <paramref name="rankExtent"/> distinct integer
    /// values each, consecutive unless marked in <paramref name="gapped"/> (docs/mapspace.md, "The least values of a window
    /// dimension"). With n moving terms (extent above 1) of extents e: the values of a sum of sets of integers number at least
    /// <c>sum e - (n - 1)</c> (each set added to a sum brings at least its size less one new values: its least element added
    /// to the sum's elements, then its larger elements added to the sum's largest). When a consecutive rank b has coefficient
    /// +-1, its term is an interval of e_b integers, and the other terms' sums are multiples of their coefficients' gcd G,
    /// distinct ones at least G apart, so each of those sums past the least adds at least <c>min(G, e_b)</c> values of its own
    /// interval above the last: <c>e_b + (N - 1) min(G, e_b)</c>, N the others' least count. The largest of these.
    /// </summary>
    public long LeastDimValues(int k, ReadOnlySpan<long> rankExtent, ReadOnlySpan<bool> gapped)
    {
        var ranks = _ranks[k];
        var coefs = _coefs[k];
        long sum = 0, largest = 1;
        int moving = 0;
        for (int i = 0; i < ranks.Length; i++)
        {
            long e = rankExtent[ranks[i]];
            if (e <= 1) continue;
            moving++;
            sum = checked(sum + e);
            largest = Math.Max(largest, e);
        }
        if (moving == 0) return 1;
        long least = Math.Max(largest, sum - (moving - 1));
        for (int b = 0; b < ranks.Length; b++)
        {
            long eb = rankExtent[ranks[b]];
            if (eb <= 1 || Math.Abs(coefs[b]) != 1 || (!gapped.IsEmpty && gapped[ranks[b]])) continue;
            long others = 0, gcd = 0;
            int count = 0;
            for (int i = 0; i < ranks.Length; i++)
            {
                if (i == b || rankExtent[ranks[i]] <= 1) continue;
                count++;
                others = checked(others + rankExtent[ranks[i]]);
                gcd = Gcd(gcd, Math.Abs((long)coefs[i]));
            }
            if (count == 0) continue;
            least = Math.Max(least, checked(eb + (others - (count - 1) - 1) * Math.Min(gcd, eb)));
        }
        return least;

        static long Gcd(long a, long b) { while (b != 0) (a, b) = (b, a % b); return a; }
    }

    /// <summary>Words in the bounding box of the tensor over a box of rank extents (a tile).</summary>
    public long Words(ReadOnlySpan<long> rankExtent)
    {
        long words = 1;
        for (int k = 0; k < _ranks.Length; k++) words = checked(words * DimExtent(k, rankExtent));
        return words;
    }

    /// <summary>
    /// The distinct words of the union U of copies of a tile of rank extents <paramref name="rankExtent"/>: along each rank r,
    /// <paramref name="copies"/>[r] copies whose corners are <paramref name="spacing"/>[r] apart (a fanout's children, each
    /// child's tile a moved copy of the first). Per dimension the distinct values its terms take over those rank values, the
    /// product over dimensions; exact when no rank indexes two dimensions (else -1). With <paramref name="dimShift"/>, the
    /// words U shares with itself moved by that much along each dimension instead. A dimension whose values would take more
    /// than <paramref name="work"/> steps to list counts the most values of one of its ranks for U (a non-zero coefficient
    /// never repeats a value, so at most the exact count) and every value listed for the shared words (at least it).
    /// </summary>
    public long SpacedWords(ReadOnlySpan<long> rankExtent, ReadOnlySpan<long> copies, ReadOnlySpan<long> spacing,
        ReadOnlySpan<long> dimShift = default, long work = 1 << 16)
    {
        if (RankInTwoDimensions()) return -1;
        long words = 1;
        var seen = new HashSet<long>();
        for (int k = 0; k < _ranks.Length && words > 0; k++)
        {
            var ranks = _ranks[k];
            var coefs = _coefs[k];
            long shift = dimShift.IsEmpty ? 0 : dimShift[k];
            long steps = 1, most = 1;
            foreach (int r in ranks)
            {
                long values = checked(copies[r] * rankExtent[r]);
                most = Math.Max(most, values);
                steps = steps > work ? steps : checked(steps * values);
            }
            if (steps > work) { words = checked(words * (dimShift.IsEmpty ? most : steps)); continue; }
            seen.Clear();
            Span<long> at = stackalloc long[ranks.Length];
            at.Clear();
            while (true)
            {
                long value = 0;
                for (int i = 0; i < ranks.Length; i++)
                {
                    long e = rankExtent[ranks[i]];
                    value += coefs[i] * (at[i] / e * spacing[ranks[i]] + at[i] % e);
                }
                seen.Add(value);
                int j = 0;
                while (j < ranks.Length && ++at[j] == copies[ranks[j]] * rankExtent[ranks[j]]) at[j++] = 0;
                if (j == ranks.Length) break;
            }
            long count = seen.Count;
            if (shift != 0)
            {
                count = 0;
                foreach (long v in seen) if (seen.Contains(v + shift)) count++;
            }
            words = checked(words * count);
        }
        return words;
    }

    /// <summary>Whether some rank indexes two of the tensor's dimensions.</summary>
    private bool RankInTwoDimensions()
    {
        for (int k = 0; k < _ranks.Length; k++)
            foreach (int r in _ranks[k])
                if (InTwoDimensions(r)) return true;
        return false;
    }

    /// <summary>Whether ranks a and b both index one dimension of the tensor.</summary>
    public bool ShareDimension(int a, int b)
    {
        foreach (var ranks in _ranks) if (Array.IndexOf(ranks, a) >= 0 && Array.IndexOf(ranks, b) >= 0) return true;
        return false;
    }

    /// <summary>Whether rank r indexes two of the tensor's dimensions.</summary>
    private bool InTwoDimensions(int r)
    {
        int found = 0;
        foreach (var ranks in _ranks) if (Array.IndexOf(ranks, r) >= 0 && ++found > 1) return true;
        return false;
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

    /// <summary>
    /// The most children of one fanout whose tiles of this tensor sit at the same place, when the fanout splits rank r
    /// into <paramref name="rankFactor"/>[r] children (each child moved along r by its index times r's extent inside it).
    /// A rank that indexes no dimension gives its whole factor. The ranks that index dimensions fall into groups joined
    /// by a shared dimension (P and R of P + R); within a group, the other ranks' indices fix a rank's index (its move
    /// along a dimension it indexes is a non-zero multiple of it), so at most the group's product over its largest
    /// factor coincide. Children's tiles are moved copies of one another, so only coinciding children need identical
    /// words at a step: this bounds what Timeloop multicasts (docs/mapspace.md, "Identical words under the Timeloop
    /// convention").
    /// </summary>
    public long LargestCoincidence(ReadOnlySpan<long> rankFactor)
    {
        int n = rankFactor.Length;
        Span<int> group = n <= 64 ? stackalloc int[n] : new int[n];
        for (int r = 0; r < n; r++) group[r] = -1;
        // Each dimension joins its ranks into one group (a rank in two dimensions joins the two groups).
        for (int k = 0; k < _ranks.Length; k++)
        {
            int g = -1;
            foreach (int r in _ranks[k]) if (group[r] >= 0) { g = group[r]; break; }
            if (g < 0) g = _ranks[k][0];
            foreach (int r in _ranks[k])
            {
                int old = group[r];
                if (old >= 0 && old != g) for (int x = 0; x < n; x++) if (group[x] == old) group[x] = g;
                group[r] = g;
            }
        }
        long most = 1;
        for (int r = 0; r < n; r++)
        {
            if (group[r] < 0) { most = checked(most * rankFactor[r]); continue; }
            // Each group once, at its first rank.
            if (group[..r].Contains(group[r])) continue;
            long product = 1, largest = 1;
            for (int x = r; x < n; x++)
                if (group[x] == group[r]) { product = checked(product * rankFactor[x]); largest = Math.Max(largest, rankFactor[x]); }
            most = checked(most * (product / largest));
        }
        return most;
    }

    /// <summary>
    /// Of the children of one fanout, the distinct places (offsets in the tensor) that hold a child no mesh neighbour can
    /// serve over a link: the parent's reads, in tiles, at a step that brings every child its whole tile (docs/mapspace.md,
    /// "Whole tiles over the places no neighbour serves"). <paramref name="run"/>: the fanout's spatial loops, innermost
    /// first (child i's index in a loop is i over the inner loops' factors, modulo its own; its tile moves by index x
    /// stride along the loop's rank). Children at one offset need identical words (rule C'), children at two different
    /// ones. Rule C serves child i from neighbour j (a pair of <paramref name="pairs"/>: i, j, i, j, ...) only when j's
    /// previous tile is i's current one, i.e. when the step moves the tile by j's offset less i's. The steps' moves: with
    /// <paramref name="moves"/> (per move, the shift of every rank), one of those; without, every step moves rank r by a
    /// multiple of <paramref name="moveUnit"/>[r] (0: not at all). -1 when, without moves, a rank that moves indexes two
    /// dimensions.
    /// </summary>
    public long PlacesNoNeighbourServes(ReadOnlySpan<(int Rank, long Factor, long Stride)> run, ReadOnlySpan<int> pairs, ReadOnlySpan<long> moveUnit, IReadOnlyList<long[]>? moves = null)
    {
        int dims = _ranks.Length;
        var unit = new long[dims]; // per dimension: every move along it is a multiple (0: none)
        var shifts = new HashSet<string>(); // the moves' shifts of the tensor's dimensions
        if (moves is null)
        {
            for (int k = 0; k < dims; k++)
                for (int j = 0; j < _ranks[k].Length; j++)
                {
                    long u = moveUnit[_ranks[k][j]];
                    if (u == 0) continue;
                    if (InTwoDimensions(_ranks[k][j])) return -1;
                    unit[k] = Divisibility.Gcd(unit[k], Math.Abs(checked(_coefs[k][j] * u)));
                }
        }
        else
            foreach (var m in moves) shifts.Add(string.Join(',', Shift(m)));
        var offsets = ChildOffsets(run, moveUnit.Length);
        long children = offsets.Length;
        var served = new bool[children];
        var delta = new long[dims];
        for (int p = 0; p + 1 < pairs.Length; p += 2)
        {
            int cur = pairs[p], old = pairs[p + 1];
            if (cur >= children || old >= children || served[cur]) continue;
            for (int k = 0; k < dims; k++) delta[k] = offsets[old][k] - offsets[cur][k];
            if (moves is not null) { served[cur] = shifts.Contains(string.Join(',', delta)); continue; }
            bool reachable = true;
            for (int k = 0; k < dims && reachable; k++) reachable = unit[k] == 0 ? delta[k] == 0 : delta[k] % unit[k] == 0;
            served[cur] = reachable;
        }
        var places = new HashSet<string>();
        for (long i = 0; i < children; i++) if (!served[i]) places.Add(string.Join(',', offsets[i]));
        return places.Count;

        // A shift of the ranks as a shift of the tensor's dimensions.
        long[] Shift(long[] rankShift)
        {
            var o = new long[dims];
            for (int k = 0; k < dims; k++) o[k] = this.Shift(k, rankShift);
            return o;
        }
    }

    /// <summary>
    /// A bound on the mean multicast of a fanout's parent accesses under Timeloop's rules C' and C (docs/mapspace.md, "The
    /// mean group of children at a step"): the children of <paramref name="run"/> (as in <see cref="PlacesNoNeighbourServes"/>)
    /// on a mesh of neighbour <paramref name="pairs"/> (i, j, i, j, ...). At a step the children's deltas are moved copies of
    /// one another, all empty or none; the parent reads one access per place (offset) holding a child no neighbour serves, shared
    /// by at most the children at that place, and a child is served only when a neighbour's offset less its own is one vector,
    /// the same for every pair at that step (the neighbour's previous delta moved onto the child's current one). So at each step
    /// the accesses' weighted multicast over their number is at most, over a set A of places that contains every place holding
    /// a child not served with that vector (for some non-zero difference of a pair's offsets, or none served), the mean number
    /// of children at a place of A; the most that mean can be is taken, A grown by the places of most children while that
    /// raises it (a subset of the servable children served leaves more places). At most the most children at one place.
    /// A rank in <paramref name="frozen"/> (a bit per rank) alone indexes a dimension and has no loop between the fanout and the
    /// keeper (docs/mapspace.md, "Pairs a frozen rank sets apart"): its tiles move along that dimension only by multiples of
    /// the children's whole span there, so a pair whose offsets differ along it never serves and its difference is left out.
    /// A rank in <paramref name="still"/> (a bit per rank) has its index fixed in each child for the whole run: its factors at
    /// this fanout and above cover its bound, so no loop below the fanout or in time moves it (docs/mapspace.md, "Pairs the
    /// still ranks set apart"). Along a dimension every word a child ever uses then sits at its offset plus a multiple of the
    /// unit (<see cref="StillUnit"/>), so a pair whose offsets differ there by no multiple of it hold disjoint words, never
    /// serve each other, and its difference is left out.
    /// A rank in <paramref name="spread"/> (a bit per rank) is split by this fanout and has no loop below it (its extent in each
    /// child is 1; docs/mapspace.md, "Pairs no step's move reaches"): every loop over it lies above the fanout, with a stride
    /// that is a multiple of its factor across the run, so along a dimension it moves the tiles only by multiples of
    /// |coef| x that factor, and the unit there is taken over those multiples (<see cref="StillUnit"/>'s <c>step</c>).
    /// </summary>
    public double MostChildrenPerAccess(ReadOnlySpan<(int Rank, long Factor, long Stride)> run, ReadOnlySpan<int> pairs, int rankCount, long frozen = 0, long still = 0, long spread = 0)
    {
        var offsets = ChildOffsets(run, rankCount);
        int children = offsets.Length;
        var placeOf = new Dictionary<OffsetKey, int>();
        var place = new int[children];
        var sizes = new List<long>();
        for (int i = 0; i < children; i++)
        {
            var key = new OffsetKey(offsets[i]);
            if (!placeOf.TryGetValue(key, out int p)) { p = placeOf[key] = sizes.Count; sizes.Add(0); }
            place[i] = p;
            sizes[p]++;
        }
        int places = sizes.Count;
        // The places by their children, most first (to grow A).
        var bySize = Enumerable.Range(0, places).OrderByDescending(p => sizes[p]).ToArray();
        // The pairs by the difference of their offsets (neighbour's less child's), the zero difference left out.
        var byDifference = new Dictionary<OffsetKey, List<int>>();
        var diff = new long[offsets.Length == 0 ? 0 : offsets[0].Length];
        var fixedDim = new bool[diff.Length];
        for (int k = 0; k < diff.Length; k++) fixedDim[k] = _ranks[k].Length == 1 && (frozen >> _ranks[k][0] & 1) != 0;
        var unit = new long[diff.Length];
        long[]? step = null;
        if (spread != 0)
        {
            // A spread rank's moves: multiples of its stride above the run (its innermost stride times its factors in the run).
            step = new long[rankCount];
            for (int r = 0; r < rankCount; r++) step[r] = (spread >> r & 1) != 0 ? 0 : 1;
            foreach (var (r, f, st) in run)
                if ((spread >> r & 1) != 0) step[r] = step[r] == 0 ? checked(st * f) : checked(step[r] * f);
            for (int r = 0; r < rankCount; r++) if (step[r] == 0) step[r] = 1;
        }
        for (int k = 0; k < diff.Length; k++) unit[k] = StillUnit(k, still, step);
        for (int q = 0; q + 1 < pairs.Length; q += 2)
        {
            int cur = pairs[q], old = pairs[q + 1];
            if (cur >= children || old >= children) continue;
            bool zero = true, apart = false;
            for (int k = 0; k < diff.Length; k++)
            {
                diff[k] = offsets[old][k] - offsets[cur][k];
                zero &= diff[k] == 0;
                apart |= fixedDim[k] && diff[k] != 0 || (unit[k] == 0 ? diff[k] != 0 : diff[k] % unit[k] != 0);
            }
            if (zero || apart) continue;
            var key = new OffsetKey((long[])diff.Clone());
            if (!byDifference.TryGetValue(key, out var list)) byDifference[key] = list = [];
            list.Add(cur);
        }
        var served = new bool[children];
        var inA = new bool[places];
        double most = Grown(); // none served: every place
        foreach (var list in byDifference.Values)
        {
            Array.Clear(served);
            foreach (int c in list) served[c] = true;
            most = Math.Max(most, Grown());
        }
        return most;

        // The most mean over A: the places holding an unserved child, grown by the places of most children while that raises the mean.
        double Grown()
        {
            Array.Clear(inA);
            long sum = 0, count = 0;
            for (int i = 0; i < children; i++)
                if (!served[i] && !inA[place[i]]) { inA[place[i]] = true; sum += sizes[place[i]]; count++; }
            foreach (int p in bySize)
            {
                if (inA[p]) continue;
                if (count > 0 && sizes[p] * count <= sum) break;
                inA[p] = true; sum += sizes[p]; count++;
            }
            return count == 0 ? 0 : (double)sum / count;
        }
    }

    /// <summary>
    /// Along dimension <paramref name="k"/>, the step between the positions a child's words can take once the ranks in
    /// <paramref name="still"/> are fixed: the greatest common divisor of the other ranks' |coefficients| there (0 when every
    /// rank of the dimension is still: the child's position there never changes). With <paramref name="step"/> (per rank, the
    /// step its moves are multiples of; 1 for a rank any loop may move by one), each |coefficient| times its rank's step.
    /// </summary>
    public long StillUnit(int k, long still, long[]? step = null)
    {
        long unit = 0;
        var ranks = _ranks[k];
        var coefs = _coefs[k];
        for (int i = 0; i < ranks.Length; i++)
            if ((still >> ranks[i] & 1) == 0) unit = Divisibility.Gcd(unit, checked(Math.Abs((long)coefs[i]) * (step?[ranks[i]] ?? 1)));
        return unit;
    }

    /// <summary>An offset (or a difference of offsets) compared by content, as a dictionary key.</summary>
    private readonly struct OffsetKey(long[] values) : IEquatable<OffsetKey>
    {
        private readonly long[] _values = values;
        public bool Equals(OffsetKey other) => _values.AsSpan().SequenceEqual(other._values);
        public override bool Equals(object? obj) => obj is OffsetKey k && Equals(k);
        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (long x in _values) hash.Add(x);
            return hash.ToHashCode();
        }
    }

    /// <summary>
    /// Per child of a fanout's run (<paramref name="run"/>: its spatial loops, innermost first, as in
    /// <see cref="PlacesNoNeighbourServes"/>), its offset in the tensor: the shift of each dimension.
    /// </summary>
    private long[][] ChildOffsets(ReadOnlySpan<(int Rank, long Factor, long Stride)> run, int rankCount)
    {
        var shifts = ChildShifts(run, rankCount);
        var offsets = new long[shifts.Length][];
        for (long i = 0; i < shifts.Length; i++)
        {
            offsets[i] = new long[_ranks.Length];
            for (int k = 0; k < _ranks.Length; k++) offsets[i][k] = Shift(k, shifts[i]);
        }
        return offsets;
    }

    /// <summary>Per child of a fanout's run (as in <see cref="PlacesNoNeighbourServes"/>), its shift of each rank: the sum of its index in each loop times the loop's stride.</summary>
    private static long[][] ChildShifts(ReadOnlySpan<(int Rank, long Factor, long Stride)> run, int rankCount)
    {
        long children = 1;
        foreach (var (_, factor, _) in run) children = checked(children * factor);
        var shifts = new long[children][];
        for (long i = 0; i < children; i++)
        {
            var at = shifts[i] = new long[rankCount];
            long rest = i;
            foreach (var (rank, factor, stride) in run)
            {
                at[rank] = checked(at[rank] + rest % factor * stride);
                rest /= factor;
            }
        }
        return shifts;
    }

    /// <summary>
    /// The words the parent must send at a step that moves every child's tile (rank extents <paramref name="rankExtent"/>)
    /// clear of itself by <paramref name="dimMove"/> along the tensor's dimensions, for the children of <paramref name="run"/>
    /// (as in <see cref="PlacesNoNeighbourServes"/>) on a mesh of neighbour <paramref name="pairs"/> (i, j, i, j, ...): rule C
    /// serves child i over a link only when neighbour j's previous delta (its previous tile, the step bringing whole tiles) is
    /// i's whole new tile, i.e. when j's offset less i's is the move; every other child needs its whole tile from the parent,
    /// which reads each distinct word they need at least once (identical deltas multicast, rule C'). The distinct used words of
    /// the tiles at the places of the children no neighbour serves (<see cref="MeshPlacement.UnservedSets"/>,
    /// <see cref="WordsAt"/>; docs/mapspace.md, "Whole tiles at every step above a bypassed level one"). -1 when a rank
    /// indexes two dimensions.
    /// </summary>
    public long WordsNoNeighbourServes(ReadOnlySpan<(int Rank, long Factor, long Stride)> run, ReadOnlySpan<int> pairs,
        ReadOnlySpan<long> rankExtent, ReadOnlySpan<long> dimMove)
    {
        var placement = new MeshPlacement(this, rankExtent.Length);
        placement.Add(run, pairs);
        var unit = new long[rankExtent.Length];
        Array.Fill(unit, 1);
        var sets = placement.UnservedSets(unit, dimMove);
        return WordsAt(placement.Places(sets[0], unit), rankExtent);
    }

    /// <summary>
    /// The children of one or more runs of a fanout (each as in <see cref="PlacesNoNeighbourServes"/>, on its mesh of neighbour
    /// pairs: a plan's variants and loop orders), their tiles spaced by a per-rank factor given later (<c>spacing</c>: the runs'
    /// strides are in its units). Kept: the distinct shifts (per rank) of the children (<see cref="Shifts"/>), and the distinct
    /// differences (per rank) of a neighbour's shift less its child's (<see cref="RankMoves"/>). A child's place along the
    /// tensor's dimensions is its shift times the spacing, projected (<see cref="Shift"/>, linear), so one build serves every
    /// spacing, and which children a step serves depends only on which of the differences it matches.
    /// </summary>
    public sealed class MeshPlacement(TensorIndex index, int rankCount)
    {
        private readonly List<long[]> _shifts = [];
        private readonly Dictionary<string, int> _shiftIds = [];
        private readonly List<long[]> _rankMoves = [];
        private readonly Dictionary<string, int> _moveIds = [];
        // Per run: each child's entry of _shifts, and its pairs (child, neighbour) with their entries of _rankMoves (-1: one shift).
        private readonly List<(int[] Child, int[] Pairs, int[] Moves)> _runs = [];
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ulong[][]> _sets = new();

        /// <summary>The distinct shifts (per rank, in units of the spacing) of the children of every run.</summary>
        public IReadOnlyList<long[]> Shifts => _shifts;

        /// <summary>The distinct differences, per rank (in units of the spacing), of a neighbour's shift less its child's; none null.</summary>
        public IReadOnlyList<long[]> RankMoves => _rankMoves;

        /// <summary>Adds a run: its loops innermost first (rank, factor, stride in units of the spacing) on a mesh of neighbour <paramref name="pairs"/> (i, j, i, j, ...).</summary>
        public void Add(ReadOnlySpan<(int Rank, long Factor, long Stride)> run, ReadOnlySpan<int> pairs)
        {
            var shifts = ChildShifts(run, rankCount);
            long children = shifts.Length;
            var child = new int[children];
            for (long i = 0; i < children; i++) child[i] = Id(_shifts, _shiftIds, shifts[i]);
            var kept = new List<int>();
            var moves = new List<int>();
            var move = new long[rankCount];
            for (int p = 0; p + 1 < pairs.Length; p += 2)
            {
                int cur = pairs[p], old = pairs[p + 1];
                if (cur >= children || old >= children) continue;
                bool any = false;
                long[] a = _shifts[child[old]], b = _shifts[child[cur]];
                for (int r = 0; r < rankCount; r++) any |= (move[r] = a[r] - b[r]) != 0;
                kept.Add(cur);
                kept.Add(old);
                moves.Add(any ? Id(_rankMoves, _moveIds, move) : -1);
            }
            _runs.Add((child, kept.ToArray(), moves.ToArray()));
            _sets.Clear();
        }

        /// <summary>Per run (in the order the runs were added), its children over their distinct places, spaced by <paramref name="spacing"/>: the mean multicast at a step no neighbour serves.</summary>
        public double[] ChildrenPerPlacePerRun(ReadOnlySpan<long> spacing)
        {
            var place = PlaceIds(spacing, out int count);
            var mean = new double[_runs.Count];
            var mark = new int[count];
            for (int k = 0; k < _runs.Count; k++)
            {
                var child = _runs[k].Child;
                int places = 0;
                foreach (int id in child)
                    if (mark[place[id]] != k + 1) { mark[place[id]] = k + 1; places++; }
                mean[k] = places == 0 ? 0 : (double)child.Length / places;
            }
            return mean;
        }

        /// <summary>Per entry of <see cref="Shifts"/>, the index of its place along the tensor's dimensions (<see cref="Places"/>,
        /// spaced by <paramref name="spacing"/>) among the <paramref name="count"/> distinct places.</summary>
        private int[] PlaceIds(ReadOnlySpan<long> spacing, out int count)
        {
            int dims = index.Dimensions;
            Span<long> scaled = stackalloc long[rankCount];
            var ids = new int[_shifts.Count];
            var seen = new Dictionary<long[], int>(PlaceComparer.Instance);
            for (int id = 0; id < _shifts.Count; id++)
            {
                for (int r = 0; r < rankCount; r++) scaled[r] = checked(_shifts[id][r] * spacing[r]);
                var at = new long[dims];
                for (int k = 0; k < dims; k++) at[k] = index.Shift(k, scaled);
                if (!seen.TryGetValue(at, out int known)) seen[at] = known = seen.Count;
                ids[id] = known;
            }
            count = seen.Count;
            return ids;
        }

        private sealed class PlaceComparer : IEqualityComparer<long[]>
        {
            public static readonly PlaceComparer Instance = new();
            public bool Equals(long[]? a, long[]? b) => a.AsSpan().SequenceEqual(b);
            public int GetHashCode(long[] a)
            {
                var hash = new HashCode();
                foreach (long x in a) hash.Add(x);
                return hash.ToHashCode();
            }
        }

        private static int Id(List<long[]> list, Dictionary<string, int> ids, long[] value)
        {
            var key = string.Join(',', value);
            if (!ids.TryGetValue(key, out int id)) { ids[key] = id = list.Count; list.Add((long[])value.Clone()); }
            return id;
        }

        /// <summary>
        /// The distinct sets (a bit per entry of <see cref="Shifts"/>), over the runs, of the children no neighbour serves at a
        /// step moving every tile by <paramref name="dimMove"/>, the children's tiles spaced by <paramref name="spacing"/>:
        /// rule C serves child i from neighbour j (a pair i, j) only when j's place less i's is the move. Kept per set of the
        /// <see cref="RankMoves"/> the move matches.
        /// </summary>
        public List<ulong[]> UnservedSets(ReadOnlySpan<long> spacing, ReadOnlySpan<long> dimMove)
        {
            var distinct = new List<ulong[]>();
            var seen = new HashSet<string>();
            foreach (var set in UnservedPerRun(spacing, dimMove))
                if (seen.Add(string.Join(',', set))) distinct.Add(set);
            return distinct;
        }

        /// <summary>The number of runs added (placements: a plan's variants and the orders of its spatial loops).</summary>
        public int RunCount => _runs.Count;

        /// <summary>
        /// <see cref="UnservedSets"/> per run, in the order the runs were added (one placement of the children: a mapping has
        /// one, so a bound over several steps of one mapping takes every step's set from the same run). Kept per set of the
        /// <see cref="RankMoves"/> the move matches.
        /// </summary>
        public ulong[][] UnservedPerRun(ReadOnlySpan<long> spacing, ReadOnlySpan<long> dimMove)
        {
            int dims = index.Dimensions;
            Span<long> scaled = stackalloc long[rankCount];
            var matches = new char[_rankMoves.Count + 1];
            bool still = true; // a pair of one shift serves the child when the step does not move
            for (int k = 0; k < dims; k++) still &= dimMove[k] == 0;
            matches[^1] = still ? '1' : '0';
            for (int m = 0; m < _rankMoves.Count; m++)
            {
                for (int r = 0; r < rankCount; r++) scaled[r] = checked(_rankMoves[m][r] * spacing[r]);
                bool same = true;
                for (int k = 0; k < dims && same; k++) same = index.Shift(k, scaled) == dimMove[k];
                matches[m] = same ? '1' : '0';
            }
            return _sets.GetOrAdd(new string(matches), key =>
            {
                var perRun = new ulong[_runs.Count][];
                for (int run = 0; run < _runs.Count; run++)
                {
                    var (child, pairs, moves) = _runs[run];
                    var served = new bool[child.Length];
                    for (int p = 0; p < moves.Length; p++)
                        if (key[moves[p] < 0 ? key.Length - 1 : moves[p]] == '1') served[pairs[2 * p]] = true;
                    var set = new ulong[(_shifts.Count + 63) >> 6];
                    for (int i = 0; i < child.Length; i++)
                        if (!served[i]) set[child[i] >> 6] |= 1UL << (child[i] & 63);
                    perRun[run] = set;
                }
                return perRun;
            });
        }

        /// <summary>The places along the tensor's dimensions of a set of <see cref="Shifts"/> (<see cref="UnservedSets"/>), the children spaced by <paramref name="spacing"/>.</summary>
        public List<long[]> Places(ulong[] set, ReadOnlySpan<long> spacing)
        {
            int dims = index.Dimensions;
            Span<long> scaled = stackalloc long[rankCount];
            var places = new List<long[]>();
            for (int id = 0; id < _shifts.Count; id++)
            {
                if ((set[id >> 6] >> (id & 63) & 1) == 0) continue;
                for (int r = 0; r < rankCount; r++) scaled[r] = checked(_shifts[id][r] * spacing[r]);
                var place = new long[dims];
                for (int k = 0; k < dims; k++) place[k] = index.Shift(k, scaled);
                places.Add(place);
            }
            return places;
        }
    }

    /// <summary>
    /// The tile's values along each dimension (no rank indexes two) and its distinct words, their product.
    /// </summary>
    private long[][] TileValues(ReadOnlySpan<long> rankExtent, out long tile)
    {
        int dims = _ranks.Length;
        var values = new long[dims][];
        tile = 1;
        for (int k = 0; k < dims; k++)
        {
            var seen = new HashSet<long>();
            var ranks = _ranks[k];
            var coefs = _coefs[k];
            Span<long> at = stackalloc long[ranks.Length];
            at.Clear();
            while (true)
            {
                long value = 0;
                for (int i = 0; i < ranks.Length; i++) value = checked(value + coefs[i] * at[i]);
                seen.Add(value);
                int j = 0;
                while (j < ranks.Length && ++at[j] == rankExtent[ranks[j]]) at[j++] = 0;
                if (j == ranks.Length) break;
            }
            values[k] = seen.ToArray();
            tile = checked(tile * values[k].Length);
        }
        return values;
    }

    /// <summary>
    /// The words a parent reads at a step that brings each child at <paramref name="places"/> (offsets along the tensor's
    /// dimensions) its whole tile of rank extents <paramref name="rankExtent"/>, under Timeloop's multicast (rule C'): children
    /// at one place need identical words and share one access, children at two places take two different tiles and the
    /// parent reads each whole, however they overlap. So the distinct places times the tile's distinct words (at least the
    /// union of the tiles, <see cref="WordsAt"/>). -1 when a rank indexes two dimensions or the tensor has more than six.
    /// </summary>
    public long TilesAt(IReadOnlyList<long[]> places, ReadOnlySpan<long> rankExtent)
    {
        int dims = _ranks.Length;
        if (dims > 6 || RankInTwoDimensions()) return -1;
        TileValues(rankExtent, out long tile);
        var distinct = new HashSet<(long, long, long, long, long, long)>();
        Span<long> at = stackalloc long[6];
        foreach (var place in places)
        {
            at.Clear();
            for (int k = 0; k < dims; k++) at[k] = place[k];
            distinct.Add((at[0], at[1], at[2], at[3], at[4], at[5]));
        }
        return checked(distinct.Count * tile);
    }

    /// <summary>
    /// <see cref="TilesAt"/> for the children of <see cref="SpacedWords"/>: along each rank r, <paramref name="copies"/>[r]
    /// copies of the tile <paramref name="spacing"/>[r] apart; their distinct places (the union of one-word tiles at the
    /// corners) times the tile's distinct words. -1 when a rank indexes two dimensions.
    /// </summary>
    public long SpacedTiles(ReadOnlySpan<long> rankExtent, ReadOnlySpan<long> copies, ReadOnlySpan<long> spacing)
    {
        if (RankInTwoDimensions() || _ranks.Length > 6) return -1;
        Span<long> one = stackalloc long[rankExtent.Length];
        one.Fill(1);
        long places = SpacedWords(one, copies, spacing);
        if (places < 0) return -1;
        TileValues(rankExtent, out long tile);
        return checked(places * tile);
    }

    /// <summary>
    /// The distinct used words of the tiles of rank extents <paramref name="rankExtent"/> at <paramref name="places"/> (each an
    /// offset along the tensor's dimensions): the union of the tile moved to each. -1 when a rank indexes two dimensions or the
    /// tensor has more than six.
    /// </summary>
    public long WordsAt(IReadOnlyList<long[]> places, ReadOnlySpan<long> rankExtent)
    {
        int dims = _ranks.Length;
        if (dims > 6 || RankInTwoDimensions()) return -1;
        var values = TileValues(rankExtent, out long tile);
        if (places.Count <= 1) return places.Count * tile;
        // The words as bits of the box that holds every tile (each tile's words one by one, as their values along the
        // dimensions combine); a set of words where that box is large.
        Span<long> low = stackalloc long[dims], size = stackalloc long[dims];
        double box = 1;
        for (int k = 0; k < dims; k++)
        {
            long least = long.MaxValue, most = long.MinValue;
            foreach (var place in places) { least = Math.Min(least, place[k]); most = Math.Max(most, place[k]); }
            low[k] = checked(least + values[k].Min());
            size[k] = checked(most + values[k].Max() - low[k] + 1);
            box *= size[k];
        }
        if (box <= 1 << 24)
        {
            var bits = new ulong[((long)box + 63) >> 6];
            long count = 0;
            var offsets = new long[dims][];
            Span<int> digit = stackalloc int[dims];
            foreach (var place in places)
            {
                long unit = 1;
                for (int k = dims - 1; k >= 0; k--)
                {
                    var o = offsets[k] ??= new long[values[k].Length];
                    for (int i = 0; i < o.Length; i++) o[i] = (place[k] + values[k][i] - low[k]) * unit;
                    unit *= size[k];
                }
                digit.Clear();
                while (true)
                {
                    long at = 0;
                    for (int k = 0; k < dims; k++) at += offsets[k][digit[k]];
                    ulong bit = 1UL << (int)(at & 63);
                    if ((bits[at >> 6] & bit) == 0) { bits[at >> 6] |= bit; count++; }
                    int j = 0;
                    while (j < dims && ++digit[j] == values[j].Length) digit[j++] = 0;
                    if (j == dims) break;
                }
            }
            return count;
        }
        var words = new HashSet<(long, long, long, long, long, long)>();
        Span<long> word = stackalloc long[6];
        foreach (var place in places)
            for (long w = 0; w < tile; w++)
            {
                long rest = w;
                word.Clear();
                for (int k = 0; k < dims; k++)
                {
                    word[k] = checked(place[k] + values[k][rest % values[k].Length]);
                    rest /= values[k].Length;
                }
                words.Add((word[0], word[1], word[2], word[3], word[4], word[5]));
            }
        return words.Count;
    }

    /// <summary>
    /// True when one step of a loop over rank <paramref name="rank"/> (moving it by <paramref name="stride"/>) carries a tile of
    /// rank extents <paramref name="tileExtent"/> clear of itself along some dimension of the rank, even when every loop of
    /// <paramref name="rewinding"/> (rank, stride) moves back one step at the same time: the step's move less those along
    /// the dimension is at least the tile's extent there, so the new tile shares no word with the previous one.
    /// </summary>
    public bool StepClearsTile(int rank, long stride, ReadOnlySpan<(int Rank, long Stride)> rewinding, ReadOnlySpan<long> tileExtent)
    {
        for (int k = 0; k < _ranks.Length; k++)
        {
            int at = Array.IndexOf(_ranks[k], rank);
            if (at < 0) continue;
            long move = checked(Math.Abs((long)_coefs[k][at]) * stride);
            foreach (var (r, step) in rewinding)
            {
                int i = Array.IndexOf(_ranks[k], r);
                if (i >= 0) move = checked(move - Math.Abs((long)_coefs[k][i]) * step);
            }
            if (move >= DimExtent(k, tileExtent)) return true;
        }
        return false;
    }

    /// <summary>
    /// True when every step or rewind of DRAM's loop over <paramref name="rank"/> carries an instance's box clear of itself,
    /// whatever DRAM's other loops do (docs/mapspace.md, "DRAM steps that clear the box"): along some dimension of the rank,
    /// no other rank of it has a DRAM loop (<paramref name="atDram"/>), so the move there is a non-zero multiple of |coef| x
    /// the rank's chip extent (<paramref name="chipExtent"/>, DRAM's stride), at least the instance's span: per rank of the
    /// dimension, its chip extent less one less the children it is split into above the keeper (<paramref name="spread"/>),
    /// since the children's values are copies of one another spread over the chip's.
    /// </summary>
    public bool DramStepClearsBox(int rank, ReadOnlySpan<long> chipExtent, ReadOnlySpan<long> spread, ReadOnlySpan<bool> atDram)
    {
        for (int k = 0; k < _ranks.Length; k++)
        {
            int at = Array.IndexOf(_ranks[k], rank);
            if (at < 0) continue;
            long span = 1;
            bool alone = true;
            for (int i = 0; i < _ranks[k].Length && alone; i++)
            {
                int r = _ranks[k][i];
                if (r != rank && atDram[r]) alone = false;
                span = checked(span + Math.Abs((long)_coefs[k][i]) * (chipExtent[r] - spread[r]));
            }
            if (alone && checked(Math.Abs((long)_coefs[k][at]) * chipExtent[rank]) >= span) return true;
        }
        return false;
    }

    /// <summary>
    /// True when one step of a loop over rank <paramref name="rank"/> (moving it by <paramref name="stride"/>), with every loop
    /// of <paramref name="rewinding"/> (rank, stride) moving back one step at the same time, moves the tile's corner
    /// otherwise than one step of the loop over <paramref name="innerRank"/> (moving it by <paramref name="innerStride"/>)
    /// does, along some dimension: under rule A (Timeloop's same-stride reuse) the step is then a change of stride.
    /// </summary>
    public bool StepChangesStride(int rank, long stride, ReadOnlySpan<(int Rank, long Stride)> rewinding, int innerRank, long innerStride)
    {
        for (int k = 0; k < _ranks.Length; k++)
        {
            var ranks = _ranks[k];
            var coefs = _coefs[k];
            long move = 0, inner = 0;
            for (int i = 0; i < ranks.Length; i++)
            {
                if (ranks[i] == rank) move = checked(move + coefs[i] * stride);
                if (ranks[i] == innerRank) inner = checked(inner + coefs[i] * innerStride);
                foreach (var (r, step) in rewinding) if (ranks[i] == r) move = checked(move - coefs[i] * step);
            }
            if (move != inner) return true;
        }
        return false;
    }

    /// <summary>
    /// The words Timeloop brings into a tile (dimension extents <paramref name="dimExtent"/>, <paramref name="tileWords"/>
    /// words) at one step of a loop over <paramref name="rank"/> with the loops over the ranks of <paramref name="inside"/>
    /// (a rank bit mask) inside it, on its sampled sequence (rule B: each loop runs iterations 0 and 1, so at the step every
    /// loop inside moves back one step), each loop moving its rank by its entry of <paramref name="stride"/>; the tile moves
    /// only at these loops' steps. With nothing inside, the new box less the previous one (rule A never counts fewer). With
    /// loops inside, the translation recorded before the step is the innermost loop's move (its steps are every other step
    /// of the sampled sequence, and after any step from no translation or from its own move it records its move); when
    /// the step moves the tile otherwise than one step of every loop of <paramref name="inside"/> would (whichever is the
    /// innermost), the stride changes and the whole tile is new; otherwise the new box less the previous one.
    /// </summary>
    public long SampledStepWords(ReadOnlySpan<long> dimExtent, long tileWords, int rank, ReadOnlySpan<long> stride, long inside)
    {
        Span<long> shift = stride.Length <= 64 ? stackalloc long[stride.Length] : new long[stride.Length];
        for (int r = 0; r < shift.Length; r++) shift[r] = (r == rank ? stride[r] : 0) - ((inside >> r & 1) != 0 ? stride[r] : 0);
        bool changes = inside != 0;
        for (int i = 0; i < stride.Length && changes; i++)
        {
            if ((inside >> i & 1) == 0) continue;
            // The innermost loop over i moves dimension k by coefficient x its stride; the same move along every dimension is no change.
            bool same = true;
            for (int k = 0; k < _ranks.Length && same; k++)
            {
                long inner = 0;
                var ranks = _ranks[k];
                for (int x = 0; x < ranks.Length; x++) if (ranks[x] == i) inner = checked(inner + _coefs[k][x] * stride[i]);
                same = Shift(k, shift) == inner;
            }
            if (same) changes = false;
        }
        return changes ? tileWords : tileWords - Overlap(dimExtent, shift);
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

    #region Tiles a rank's moves clear (issue 21, from branch im21j; the imperfect branch and bound's passes, im21l)

    /// <summary>
    /// Whether tiles of rank extents <paramref name="rankExtent"/> laid along rank r at the multiples of its extent (the last
    /// one possibly shorter) are pairwise disjoint while the ranks not <paramref name="moving"/> keep one value each: some
    /// dimension k that r indexes, whose other ranks all stay, spans at most how far one tile of r moves it,
    /// <c>|c_r| x e_r &gt;= 1 + sum over k's terms of |c| x (e - 1)</c> (<see cref="DimExtent"/>). A dimension of r alone always
    /// clears; a window <c>2P + R</c> clears along P when R's extent is at most 2. Then moving r to another tile moves the
    /// tile's box, and every box inside it, to words the first one does not hold.
    /// </summary>
    public bool MovesClear(int r, ReadOnlySpan<long> rankExtent, ReadOnlySpan<bool> moving)
    {
        for (int k = 0; k < _ranks.Length; k++)
        {
            int at = MovesAlone(k, r, moving);
            if (at >= 0 && Math.Abs((long)_coefs[k][at]) * rankExtent[r] >= DimExtent(k, rankExtent)) return true;
        }
        return false;
    }

    /// <summary>Where rank r stands among dimension k's ranks when r indexes k and every other rank of k stays (not <paramref name="moving"/>); -1 otherwise.</summary>
    private int MovesAlone(int k, int r, ReadOnlySpan<bool> moving)
    {
        var ranks = _ranks[k];
        int at = Array.IndexOf(ranks, r);
        if (at < 0) return -1;
        foreach (int j in ranks) if (j != r && moving[j]) return -1;
        return at;
    }

    /// <summary>
    /// At least what share of a keeper's first box lies outside one tile of a grid when the grid's tiles (extents
    /// <paramref name="outer"/>, laid along each rank at the multiples of its extent, the last one along a rank possibly
    /// as short as <paramref name="small"/>) are left for another by moving rank r (forward by at least one tile, or back)
    /// while the ranks not <paramref name="moving"/> keep one value each (so their extents are the same in both tiles); the
    /// box is the keeper's tile (extents <paramref name="keeper"/>) at the new tile's lowest corner, clipped to it. 1 when
    /// r moves clear (<see cref="MovesClear"/>); else over the dimensions k that r indexes whose other ranks all stay, the
    /// most (over dimensions whose coefficients are all positive) of the least over those ranks' extents (full or short) of
    /// <c>max(0, e - o) / e</c>, with e the box's extent
    /// along k and o the two tiles' overlap along k after a move forward by one tile (a longer one, or a move back, leaves
    /// at least <c>min(e, shift)</c> of k's values outside, no less). The box's words outside the old tile are at least that
    /// share of its words (a box: a product over dimensions). 0 when no dimension qualifies.
    /// </summary>
    public double MovedShare(int r, ReadOnlySpan<long> outer, ReadOnlySpan<long> small, ReadOnlySpan<long> keeper, ReadOnlySpan<bool> moving)
    {
        double best = 0;
        for (int k = 0; k < _ranks.Length; k++)
        {
            var ranks = _ranks[k];
            var coefs = _coefs[k];
            int at = MovesAlone(k, r, moving);
            if (at < 0) continue;
            // With a negative coefficient the box at the new tile's lowest corner may sit on the overlapping side: not taken.
            bool negative = false;
            foreach (int c in coefs) negative |= c < 0;
            if (negative) continue;
            long shift = Math.Abs((long)coefs[at]) * outer[r];
            long rSpan = Math.Abs((long)coefs[at]) * (Math.Min(keeper[r], small[r]) - 1);
            double least = 1;
            // The other ranks of k at their full or their short extent (the same in both tiles), every combination.
            for (int mask = 0; mask < 1 << ranks.Length; mask++)
            {
                if ((mask >> at & 1) != 0) continue;
                long span = Math.Abs((long)coefs[at]) * (outer[r] - 1), boxSpan = rSpan;
                for (int i = 0; i < ranks.Length; i++)
                {
                    if (i == at) continue;
                    long x = (mask >> i & 1) != 0 ? small[ranks[i]] : outer[ranks[i]];
                    span += Math.Abs((long)coefs[i]) * (x - 1);
                    boxSpan += Math.Abs((long)coefs[i]) * (Math.Min(keeper[ranks[i]], x) - 1);
                }
                long overlap = span + 1 - shift;
                if (overlap <= 0) continue;
                long e = boxSpan + 1;
                least = Math.Min(least, Math.Max(0, e - overlap) / (double)e);
            }
            best = Math.Max(best, least);
        }
        return best;
    }

    #endregion
}

/// <summary>One temporal loop above a tile, as the window formula sees it: its rank position, its factor, and how far one step moves the rank (the product of the rank's factors inside it).</summary>
public readonly record struct StepLoop(int Rank, long Factor, long Stride);

/// <summary>
/// One loop above a tile as the clipped count of imperfect factorization sees it (docs/cost-model.md,
/// "Imperfect factorization"): its rank position, its factor, its stride (the product of the rank's
/// factors in every loop inside it), and whether it is spatial: a spatial loop never steps, the
/// representative instance sits at its index 0, and it only limits what is left of the rank below it.
/// </summary>
public readonly record struct ChainLoop(int Rank, long Factor, long Stride, bool Spatial);

/// <summary>
/// One link of a fanout that forwards between neighbours (docs/cost-model.md, "Neighbour forwarding"): the fastest
/// spatial loop on a forwarding axis, as its rank position, its factor, and how far its rank moves from one child to the
/// next (its stride).
/// </summary>
public readonly record struct ForwardLink(int Rank, long Factor, long Stride);

/// <summary>
/// A child keeper's words over the run under the window capabilities (<see cref="Counts.WindowVisits"/>): the words one
/// child brings in (its visits), what one parent instance sends its <c>children</c> for them before multicast
/// (<see cref="FromParent"/>), and the words children take from a neighbour instead (<see cref="Forwarded"/>, per parent
/// instance; each costs a read at the sending child and a hop). <see cref="PerLoop"/>: the words each loop's steps bring.
/// </summary>
public readonly record struct WindowCount(long Visits, long FromParent, long Forwarded, long[] PerLoop);

/// <summary>
/// The count and cost formulas of docs/cost-model.md, each written once. Every model, search and
/// bound calls these; the simulator alone counts by executing the mapping, as the independent check.
/// </summary>
public static class Counts
{
    /// <summary>
    /// The least DRAM reads of a tensor that reaches a fanout's children through a middle level bypassing it (docs/mapspace.md,
    /// "Forwarded words still fill the children"): Timeloop hands the middle level's accesses (the children's fills, forwarded
    /// words included) up through the fanout's mean multicast, so DRAM reads C F / W, C the parent's accesses, F the fills, W the
    /// words the children not served by a neighbour take from the parent. Over counted steps with C at least
    /// <paramref name="accesses"/>, F at least <paramref name="fills"/> and W at most <paramref name="mean"/> x C, and any other
    /// steps (W_O words, at most <paramref name="most"/> x their C, their fills at least W_O): the least over W_O >= 0 of
    /// (a + x / M)(F + x) / (rho a + x), written as b x + (a + b F - b d) + (a - b d)(F - d) / (d + x) with b = 1 / M, d = rho a.
    /// Valid for rho <= M (a larger C only raises it then).
    /// </summary>
    public static double ReadsThroughBypassedMiddle(double accesses, double fills, double mean, double most)
    {
        double a = accesses, c = fills, d = mean * a, b = 1 / Math.Max(most, mean);
        if (a <= 0 || d <= 0) return 0;
        double k = (a - b * d) * (c - d);
        if (k <= 0 || k / b <= d * d) return a * c / d; // increasing in x: its least at x = 0
        return 2 * Math.Sqrt(b * k) + a + b * (c - 2 * d);
    }

    /// <summary>
    /// Words brought into one instance of a level over the run when it holds exactly the current tile
    /// (docs/cost-model.md, "Visits"): the first tile, plus for every step of a temporal loop above it
    /// the words of the new tile the previous one did not hold. A step of loop j moves its rank by its
    /// stride and rewinds every loop inside it; it happens (f_j - 1) x (product of the factors outside j)
    /// times. <paramref name="loops"/> are outermost first; <paramref name="fresh"/>, when given, receives
    /// each loop's new words per step. With <paramref name="sampled"/>, the step is the one Timeloop's sampling
    /// (rule B, docs/cost-model.md) measures and extrapolates: from iteration 0 to 1 of the loop, where every loop
    /// inside it stands at its iteration 1, so each rewinds by one stride instead of f - 1. Counted with sliding windows,
    /// that is a lower bound of Timeloop's count, which keeps overlap only under the same stride (rule A).
    /// </summary>
    public static long Visits(TensorIndex t, ReadOnlySpan<long> tileExtent, ReadOnlySpan<StepLoop> loops, Span<long> fresh = default, bool sampled = false)
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
            rewind[r] = checked(rewind[r] + (sampled ? Math.Min(f - 1, 1) : f - 1) * stride);
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

    /// <summary>
    /// <see cref="Visits"/> under the window capabilities (docs/cost-model.md, "Window reuse" and "Neighbour forwarding").
    /// A step of loop j moves the tile by a translation T_j (in tensor coordinates) and brings its new words; with
    /// <paramref name="sameStride"/> the overlap is kept only while the translation stays the one first seen after a
    /// whole fetch (a step with another translation fetches the whole tile and forgets the translation). Over the
    /// <paramref name="children"/> children of one parent instance, at a step whose new words equal the previous step's
    /// moved by T (both whole tiles, or both partial with the same translation), every child with a neighbour at
    /// displacement T along one of <paramref name="links"/> takes them from it; the others (the children over the
    /// product of the matching links' factors) take them from the parent. The state after a step is its translation,
    /// whether it brought a whole tile and whether the same-stride memory was reset, so the run is a composition of
    /// maps over few states, raised to each loop's factor by squaring: no step is enumerated.
    /// </summary>
    public static WindowCount WindowVisits(TensorIndex t, ReadOnlySpan<long> tileExtent, ReadOnlySpan<StepLoop> loops, bool sameStride,
        ReadOnlySpan<ForwardLink> links, long children)
    {
        int m = loops.Length, dims = t.Dimensions;
        var extent = new long[dims];
        t.DimExtents(tileExtent, extent);
        long tile = 1;
        foreach (var x in extent) tile = checked(tile * x);
        var rewind = new long[tileExtent.Length];
        var shift = new long[tileExtent.Length];
        var perStep = new long[m];
        var moved = new long[m][];
        for (int j = m - 1; j >= 0; j--)
        {
            var (r, f, stride) = loops[j];
            for (int i = 0; i < shift.Length; i++) shift[i] = -rewind[i];
            shift[r] = checked(shift[r] + stride);
            perStep[j] = tile - t.Overlap(extent, shift);
            moved[j] = new long[dims];
            for (int k = 0; k < dims; k++) moved[j][k] = t.Shift(k, shift);
            rewind[r] = checked(rewind[r] + (f - 1) * stride);
        }
        // Loops whose steps move the tile the same way share a class: the same-stride memory compares translations.
        var cls = new int[m];
        for (int j = 0; j < m; j++)
        {
            cls[j] = j;
            for (int i = 0; i < j; i++) if (moved[i].AsSpan().SequenceEqual(moved[j])) { cls[j] = cls[i]; break; }
        }
        // Per loop: the children that still take its steps' words from the parent (the rest have a neighbour at T_j).
        var fromParent = new long[m];
        for (int j = 0; j < m; j++)
        {
            long apart = 1;
            foreach (var link in links)
            {
                if (link.Factor < 2) continue;
                var step = new long[tileExtent.Length];
                step[link.Rank] = link.Stride;
                bool any = false, plus = true, minus = true;
                for (int k = 0; k < dims; k++)
                {
                    long d = t.Shift(k, step);
                    any |= d != 0;
                    plus &= moved[j][k] == d;
                    minus &= moved[j][k] == -d;
                }
                if (any && (plus || minus)) apart = checked(apart * link.Factor);
            }
            fromParent[j] = children / apart;
        }
        // States: (class of the last translation or -1 before any step) x (last step whole) x (same-stride memory empty).
        int states = 4 * (m + 1);
        static int State(int c, bool whole, bool empty) => 4 * (c + 1) + (whole ? 2 : 0) + (empty ? 1 : 0);
        int width = 3 + m; // words, from parent, forwarded, then per loop words
        var steps = new Transfer[m];
        for (int j = 0; j < m; j++)
        {
            var g = Transfer.Identity(states, width);
            for (int s = 0; s < states; s++)
            {
                int pc = s / 4 - 1;
                bool pWhole = (s & 2) != 0, empty = (s & 1) != 0;
                bool reset = sameStride && !empty && pc != cls[j];
                long w = reset ? tile : perStep[j];
                bool whole = w == tile;
                bool forward = w > 0 && fromParent[j] < children && (whole ? pWhole : !pWhole && pc == cls[j]);
                long parent = forward ? fromParent[j] : children;
                g.Next[s] = State(cls[j], whole, reset);
                g.Acc[s][0] = w;
                g.Acc[s][1] = checked(w * parent);
                g.Acc[s][2] = checked(w * (children - parent));
                g.Acc[s][3 + j] = w;
            }
            steps[j] = g;
        }
        var inner = Transfer.Identity(states, width);
        for (int j = m - 1; j >= 0; j--)
            inner = inner.Then(steps[j].Then(inner).Power(loops[j].Factor - 1));
        int start = State(-1, true, true);
        var acc = inner.Acc[start];
        return new WindowCount(checked(tile + acc[0]), checked(tile * children + acc[1]), acc[2], acc[3..]);
    }

    /// <summary>A map over the window states with the words counted along it (<see cref="WindowVisits"/>).</summary>
    private sealed class Transfer(int[] next, long[][] acc)
    {
        public readonly int[] Next = next;
        public readonly long[][] Acc = acc;

        public static Transfer Identity(int states, int width)
            => new(Enumerable.Range(0, states).ToArray(), Enumerable.Range(0, states).Select(_ => new long[width]).ToArray());

        /// <summary>This map, then <paramref name="b"/>.</summary>
        public Transfer Then(Transfer b)
        {
            var next = new int[Next.Length];
            var acc = new long[Next.Length][];
            for (int s = 0; s < Next.Length; s++)
            {
                int mid = Next[s];
                next[s] = b.Next[mid];
                var sum = acc[s] = new long[Acc[s].Length];
                for (int k = 0; k < sum.Length; k++) sum[k] = checked(Acc[s][k] + b.Acc[mid][k]);
            }
            return new Transfer(next, acc);
        }

        /// <summary>This map applied <paramref name="n"/> times.</summary>
        public Transfer Power(long n)
        {
            var result = Identity(Next.Length, Acc[0].Length);
            var square = this;
            while (n > 0)
            {
                if ((n & 1) != 0) result = result.Then(square);
                n >>= 1;
                if (n > 0) square = square.Then(square);
            }
            return result;
        }
    }

    /// <summary>
    /// Imperfect factorization (docs/cost-model.md): the iterations a loop of factor <paramref name="factor"/>
    /// and stride <paramref name="stride"/> runs when <paramref name="remaining"/> points of its rank are left
    /// from its first index on: <c>min(factor, ceil(remaining / stride))</c>. Every iteration whose first point
    /// is below the bound runs; the last may be partial.
    /// </summary>
    public static long Trips(long remaining, long factor, long stride)
        => Math.Min(factor, checked(remaining + stride - 1) / stride);

    /// <summary>
    /// For one rank's loops (outermost first, factors <paramref name="factors"/>) covering <paramref name="bound"/>,
    /// the iterations each runs when every loop outside it is at its last iteration: Timeloop's
    /// <c>residual_end</c> (a factor written <c>D=end,residual</c>; docs/interop.md). They are the digits of
    /// <c>bound - 1</c> in the mixed radix of the factors, plus one, i.e. <see cref="Trips"/> along the last
    /// iterations; with factors that multiply to the bound every residual equals its factor.
    /// </summary>
    public static void Residuals(long bound, ReadOnlySpan<long> factors, Span<long> into)
    {
        long stride = 1;
        for (int k = factors.Length - 1; k >= 0; k--) stride = checked(stride * factors[k]);
        long rem = bound;
        for (int k = 0; k < factors.Length; k++)
        {
            stride /= factors[k];
            long runs = Trips(rem, factors[k], stride);
            into[k] = runs;
            rem = Math.Min(stride, checked(rem - (runs - 1) * stride));
        }
    }

    /// <summary>
    /// Points of a rank one instance covers when the spatial loops above it split the rank
    /// <paramref name="spatialAbove"/> ways: <c>bound / spatialAbove</c> (exact: the checker lets a spatial loop
    /// split a rank only when its span divides the bound, so every instance gets the same share).
    /// </summary>
    public static long PerInstance(long bound, long spatialAbove) => bound / spatialAbove;

    /// <summary>
    /// Words brought into one instance of a level over the run under imperfect factorization
    /// (docs/cost-model.md, "Imperfect factorization"): as <see cref="Visits"/>, but every tile is clipped to
    /// the bounds (the rank's extent in a tile whose first point is <c>o</c> is <c>min(E, bound - o)</c>) and
    /// an iteration whose first point is at or beyond the bound does not run. <paramref name="loops"/> are
    /// every loop above the level, outermost first, spatial ones included (the representative instance sits at
    /// their index 0); <paramref name="tileExtent"/> is the product of each rank's factors at the level and
    /// below. Each rank is in one of few situations at a step (its outer loops at their last iteration or
    /// not), so the sum runs over those situations, weighted by how often they occur, not over the steps.
    /// <paramref name="transitions"/> and <paramref name="words"/>, when given, receive each loop's steps and
    /// the words its steps bring. With bounds that the factors divide exactly it equals <see cref="Visits"/>.
    /// </summary>
    public static long ClippedVisits(TensorIndex t, ReadOnlySpan<long> tileExtent, ReadOnlySpan<ChainLoop> loops, ReadOnlySpan<long> bound,
        Span<long> transitions = default, Span<long> words = default)
    {
        int nr = tileExtent.Length;
        var chain = loops.ToArray();
        var ext = new long[nr];
        for (int i = 0; i < nr; i++) ext[i] = Math.Min(tileExtent[i], bound[i]);
        var indexing = new bool[nr];
        for (int k = 0; k < t.Dimensions; k++) foreach (int r in t.RanksOf(k)) indexing[r] = true;

        var zero = new long[nr];
        var firstRem = new long[nr];
        for (int i = 0; i < nr; i++) firstRem[i] = FirstRemaining(chain, 0, i, bound[i]);
        long total = ClippedBox(t, zero, firstRem, ext);

        for (int j = 0; j < chain.Length; j++)
        {
            if (chain[j].Spatial) continue;
            var (steps, brought) = LoopWords(t, chain, j, nr, ext, indexing, bound);
            total = checked(total + brought);
            if (!transitions.IsEmpty) transitions[j] = steps;
            if (!words.IsEmpty) words[j] = brought;
        }
        return total;
    }

    /// <summary>
    /// The words the steps of one temporal loop <paramref name="j"/> of <paramref name="loops"/> bring into the tile over the
    /// run, as <see cref="ClippedVisits"/> counts them (its entry of <c>words</c>), without the other loops' terms. It depends
    /// on the loops of every rank (their factors and strides) and on which loops sit inside <paramref name="j"/>, not on
    /// the order of the loops outside it over other ranks: the exact search's order choice and its bounds rely on that.
    /// </summary>
    public static long ClippedStepWords(TensorIndex t, ReadOnlySpan<long> tileExtent, ReadOnlySpan<ChainLoop> loops, ReadOnlySpan<long> bound, int j)
    {
        if (loops[j].Spatial) return 0;
        int nr = tileExtent.Length;
        var sc = ClipScratch.For(nr);
        var ext = sc.Ext;
        for (int i = 0; i < nr; i++) ext[i] = Math.Min(tileExtent[i], bound[i]);
        var indexing = sc.Indexing;
        Array.Clear(indexing, 0, nr);
        for (int k = 0; k < t.Dimensions; k++) foreach (int r in t.RanksOf(k)) indexing[r] = true;
        return LoopWords(t, loops, j, nr, ext, indexing, bound).Words;
    }

    /// <summary>
    /// Per thread, the working lists and arrays of <see cref="LoopWords"/> and <see cref="ClippedStepWords"/>, reused from
    /// call to call (the search's bounds call them millions of times; no call holds them across another). Arrays are at
    /// least as long as the ranks; only the first <c>nr</c> entries are read.
    /// </summary>
    private sealed class ClipScratch
    {
        [ThreadStatic] private static ClipScratch? _current;
        public long[] Ext = [], PrevOff = [], PrevRem = [], NewOff = [], NewRem = [];
        public bool[] Indexing = [];
        public int[] Idx = [];
        public List<Situation>[] Situations = [];
        public readonly List<(long Remaining, long Count)> PrefixA = [], PrefixB = [];

        public static ClipScratch For(int nr)
        {
            var sc = _current ??= new ClipScratch();
            if (sc.Ext.Length < nr)
            {
                sc.Ext = new long[nr]; sc.PrevOff = new long[nr]; sc.PrevRem = new long[nr]; sc.NewOff = new long[nr]; sc.NewRem = new long[nr];
                sc.Indexing = new bool[nr]; sc.Idx = new int[nr];
                sc.Situations = Enumerable.Range(0, nr).Select(_ => new List<Situation>()).ToArray();
            }
            return sc;
        }
    }

    /// <summary>The steps of temporal loop j and the words they bring (<see cref="ClippedVisits"/>), summed over the situations of every rank.</summary>
    private static (long Steps, long Words) LoopWords(TensorIndex t, ReadOnlySpan<ChainLoop> chain, int j, int nr, long[] ext, bool[] indexing, ReadOnlySpan<long> bound)
    {
        var sc = ClipScratch.For(nr);
        var situations = sc.Situations;
        long steps = 1, otherWeight = 1;
        for (int i = 0; i < nr; i++)
        {
            var list = situations[i];
            list.Clear();
            foreach (var (rem, count) in Prefix(chain, j, i, bound[i], sc))
            {
                if (i != chain[j].Rank)
                {
                    var (rewind, lastRem) = LastRemaining(chain, j + 1, i, rem);
                    Add(list, new Situation(count, rewind, lastRem, 0, FirstRemaining(chain, j + 1, i, rem)));
                    continue;
                }
                long f = chain[j].Factor, s = chain[j].Stride;
                long n = Trips(rem, f, s);
                if (n < 2) continue;
                var (rw, lr) = LastRemaining(chain, j + 1, i, s);
                if (n >= 3) Add(list, new Situation(checked(count * (n - 2)), rw, lr, s, FirstRemaining(chain, j + 1, i, s)));
                Add(list, new Situation(count, rw, lr, s, FirstRemaining(chain, j + 1, i, checked(rem - (n - 1) * s))));
            }
            long weight = 0;
            foreach (var x in list) weight = checked(weight + x.Weight);
            steps = checked(steps * weight);
            if (!indexing[i]) otherWeight = checked(otherWeight * weight);
        }
        if (steps == 0) return (0, 0);
        var idx = sc.Idx;
        int indexed = 0;
        for (int i = 0; i < nr; i++) if (indexing[i]) idx[indexed++] = i;
        long[] prevOff = sc.PrevOff, prevRem = sc.PrevRem, newOff = sc.NewOff, newRem = sc.NewRem;
        for (int i = 0; i < nr; i++) { prevOff[i] = 0; newOff[i] = 0; prevRem[i] = 1; newRem[i] = 1; }
        return (steps, checked(otherWeight * SumCombos(t, situations, idx, indexed, 0, ext, prevOff, prevRem, newOff, newRem)));
    }

    private readonly record struct Situation(long Weight, long PrevOffset, long PrevRemaining, long NewOffset, long NewRemaining);

    private static void Add(List<Situation> list, Situation s)
    {
        if (s.Weight == 0) return;
        for (int i = 0; i < list.Count; i++)
            if (list[i] with { Weight = 0 } == s with { Weight = 0 }) { list[i] = list[i] with { Weight = checked(list[i].Weight + s.Weight) }; return; }
        list.Add(s);
    }

    /// <summary>What is left of rank <paramref name="rank"/> below each tuple of its loops before <paramref name="end"/> that runs, with how many tuples leave it.</summary>
    private static List<(long Remaining, long Count)> Prefix(ReadOnlySpan<ChainLoop> chain, int end, int rank, long bound, ClipScratch sc)
    {
        List<(long Remaining, long Count)> states = sc.PrefixA, next = sc.PrefixB;
        states.Clear();
        states.Add((bound, 1));
        for (int k = 0; k < end; k++)
        {
            var loop = chain[k];
            if (loop.Rank != rank) continue;
            next.Clear();
            foreach (var (rem, count) in states)
            {
                if (loop.Spatial) { Merge(next, Math.Min(rem, loop.Stride), count); continue; }
                long n = Trips(rem, loop.Factor, loop.Stride);
                if (n > 1) Merge(next, loop.Stride, checked(count * (n - 1)));
                Merge(next, Math.Min(loop.Stride, checked(rem - (n - 1) * loop.Stride)), count);
            }
            (states, next) = (next, states);
        }
        return states;
    }

    private static void Merge(List<(long Remaining, long Count)> states, long rem, long count)
    {
        for (int i = 0; i < states.Count; i++)
            if (states[i].Remaining == rem) { states[i] = (rem, checked(states[i].Count + count)); return; }
        states.Add((rem, count));
    }

    /// <summary>What is left of the rank below its loops from <paramref name="from"/> on, all at index 0.</summary>
    private static long FirstRemaining(ReadOnlySpan<ChainLoop> chain, int from, int rank, long rem)
    {
        for (int k = from; k < chain.Length; k++) if (chain[k].Rank == rank) rem = Math.Min(rem, chain[k].Stride);
        return rem;
    }

    /// <summary>The offset of the rank's last tuple of its loops from <paramref name="from"/> on that runs (how far a step of an outer loop rewinds it), and what is left below it.</summary>
    private static (long Rewind, long Remaining) LastRemaining(ReadOnlySpan<ChainLoop> chain, int from, int rank, long rem)
    {
        long rewind = 0;
        for (int k = from; k < chain.Length; k++)
        {
            var loop = chain[k];
            if (loop.Rank != rank) continue;
            if (!loop.Spatial)
            {
                long last = Trips(rem, loop.Factor, loop.Stride) - 1;
                rewind = checked(rewind + last * loop.Stride);
                rem = checked(rem - last * loop.Stride);
            }
            rem = Math.Min(rem, loop.Stride);
        }
        return (rewind, rem);
    }

    private static long SumCombos(TensorIndex t, List<Situation>[] situations, int[] idx, int count, int at, long[] ext,
        long[] prevOff, long[] prevRem, long[] newOff, long[] newRem)
    {
        if (at == count)
        {
            long fresh = ClippedBox(t, newOff, newRem, ext) - ClippedOverlap(t, prevOff, prevRem, newOff, newRem, ext);
            return fresh;
        }
        int i = idx[at];
        long sum = 0;
        foreach (var s in situations[i])
        {
            prevOff[i] = s.PrevOffset; prevRem[i] = s.PrevRemaining; newOff[i] = s.NewOffset; newRem[i] = s.NewRemaining;
            sum = checked(sum + s.Weight * SumCombos(t, situations, idx, count, at + 1, ext, prevOff, prevRem, newOff, newRem));
        }
        return sum;
    }

    /// <summary>Words of the tile whose ranks start at <paramref name="offset"/> with <paramref name="remaining"/> points left (extent <c>min(ext, remaining)</c>).</summary>
    private static long ClippedBox(TensorIndex t, long[] offset, long[] remaining, long[] ext)
    {
        long words = 1;
        for (int k = 0; k < t.Dimensions; k++)
        {
            var (lo, hi) = Interval(t, k, offset, remaining, ext);
            words = checked(words * (hi - lo + 1));
        }
        return words;
    }

    /// <summary>Words two clipped tiles share: per dimension, the overlap of their index intervals.</summary>
    private static long ClippedOverlap(TensorIndex t, long[] offA, long[] remA, long[] offB, long[] remB, long[] ext)
    {
        long words = 1;
        for (int k = 0; k < t.Dimensions && words > 0; k++)
        {
            var (loA, hiA) = Interval(t, k, offA, remA, ext);
            var (loB, hiB) = Interval(t, k, offB, remB, ext);
            words = checked(words * Math.Max(0, Math.Min(hiA, hiB) - Math.Max(loA, loB) + 1));
        }
        return words;
    }

    /// <summary>The index interval dimension k of a tensor spans over a box of ranks (offset, extent min(ext, remaining)).</summary>
    private static (long Lo, long Hi) Interval(TensorIndex t, int k, long[] offset, long[] remaining, long[] ext)
    {
        var ranks = t.RanksOf(k);
        var coefs = t.CoefficientsOf(k);
        long lo = 0, hi = 0;
        for (int x = 0; x < ranks.Length; x++)
        {
            int r = ranks[x];
            long c = coefs[x], e = Math.Min(ext[r], remaining[r]);
            long a = checked(c * offset[r]), b = checked(c * (offset[r] + e - 1));
            lo = checked(lo + Math.Min(a, b));
            hi = checked(hi + Math.Max(a, b));
        }
        return (lo, hi);
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

    /// <summary>
    /// Words a parent serves when its children's requests, summed over the children that take them from it
    /// (<see cref="WindowCount.FromParent"/>: each child's visits times the children, less what neighbours forward), are
    /// shared by the children the fanout multicasts to: equal to <see cref="Served(long, long, long)"/> without forwarding.
    /// </summary>
    public static long Served(long fromParent, long shared) => fromParent / shared;

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
        => Math.Max(PortCycles(reads, level.ReadBandwidth), PortCycles(writes, level.WriteBandwidth));

    /// <summary>Cycles one port of a level (its reads or its writes) needs per instance: the words over its bandwidth, rounded up (0 without a limit).</summary>
    public static long PortCycles(double words, double? bandwidth) => bandwidth is { } bw ? (long)Math.Ceiling(words / bw) : 0;

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
