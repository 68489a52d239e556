namespace Optimizer.Solvers;

/// <summary>
/// What DRAM's loops force, per keep set K of level 1 (the outermost on-chip level), over every imperfect completion
/// (docs/mapspace.md, "Imperfect factors: the branch and bound", "DRAM's sweeps"). DRAM is the outermost level, so each of
/// its loops runs all of its D_r iterations every time: its iterations are the full grid of D, and level 1's tile spans at
/// least <c>ceil(B / D)</c> per rank (K's tiles must fit level 1). For a tensor t, with S the product of D over the ranks
/// that do not index it and r0 the rank of DRAM's innermost loop:
/// <list type="bullet">
/// <item>when r0 alone indexes a dimension of t, every DRAM step moves t's tiles to words no level below DRAM holds, so each
/// iteration brings all the words its MACs use, and the S iterations of each position of t's ranks bring every used word
/// U: at least S x U words from DRAM;</item>
/// <item>otherwise, for a tensor level 1 does not keep whose dimensions are each one rank: the first iteration at each
/// position follows another position, whose words are disjoint, and brings all of its words; each later one at least its
/// words less what the levels below 1 that may keep t can hold (H, their capacities over their instances): at least
/// <c>U + (S - 1) x max(0, U - N x H)</c> words (N positions);</item>
/// <item>for such a tensor with a window dimension: each iteration brings what its MACs use but the at most H held below:
/// at least <c>S x (W - N x H)</c>, W the words its N positions use summed over them (at least U; <see cref="PositionWords"/>);</item>
/// <item>else every used word once;</item>
/// <item>and per order of DRAM's loops (docs/mapspace.md, "DRAM's sweeps in the order of its loops"): for a loop q that clears
/// t on its rewind but for at most ov words (<see cref="Overlap"/>), <see cref="OrderSweeps"/> x U less <see cref="OrderLoss"/>.</item>
/// </list>
/// For the tensors in K that is level 1's visits from DRAM, costed with level 1's fills (<see cref="VisitLink.Energy"/>);
/// their sum is <c>Q</c>. For the others it is the words DRAM sends them (<c>B_t</c>), costed by the bound with the node's
/// own links. Per K the cases are kept as the points (Q, B_t for t not in K) that no other case is below in every one
/// (groups of them replaced by their least in each, still below every case they stand for). Computed once per search from
/// the problem alone: it applies when DRAM has no fanout (then nothing in it depends on the spatial plan) and the layer has
/// at most four tensors.
/// </summary>
internal sealed class ImperfectDramSweeps : SearchPart
{
    /// <summary>At most this many points per keep set (the rest merged into their least).</summary>
    private const int MaxPoints = 48;

    /// <summary>Per keep mask of level 1: the points (Q, then B_t per tensor, 0 for the tensors in the mask); empty for a mask that is not allowed or never fits.</summary>
    private readonly double[][][] _points;

    /// <summary>Per keep mask: the points that keep the sweeps' counts apart (a point stands for another only when below it in those too).</summary>
    private readonly double[][][] _passPoints;

    /// <summary>Per keep mask: the points with, in the slots of the tensors in the mask, the words level 1 must read of each (<see cref="ResendWords"/>); empty when those are 0 in every case.</summary>
    private readonly double[][][] _resendPoints;

    private ImperfectDramSweeps(SearchProblem problem, double[][][] points, double[][][] passPoints, double[][][] resendPoints) : base(problem)
        => (_points, _passPoints, _resendPoints) = (points, passPoints, resendPoints);

    /// <summary>
    /// The cases of level 1's keep mask <paramref name="keep"/>: per point, Q then per tensor the least words DRAM sends it (for
    /// tensors not in the mask), then per tensor a sweeps' count (<see cref="Sweeps"/>), 1 here: these points stand for the
    /// cases in Q and the B_t alone (<see cref="PassPoints"/> keep the counts).
    /// </summary>
    public double[][] Points(int keep) => _points[keep];

    /// <summary>The points of <paramref name="keep"/> that keep the sweeps' counts apart (<see cref="Sweeps"/>, for the passes over DRAM's iterations); <see cref="Points"/> stand for the cases in Q and the B_t alone, their counts 1.</summary>
    public double[][] PassPoints(int keep) => _passPoints[keep];

    /// <summary>
    /// The points of <paramref name="keep"/> in Q and the B_t with, for each tensor in the mask, the least words level 1 reads
    /// of it over the cases the point stands for (<see cref="ResendWords"/>; its counts 1); empty when every such count is 0.
    /// </summary>
    public double[][] ResendPoints(int keep) => _resendPoints[keep];

    /// <summary>
    /// The words level 1 reads of an operand t it keeps, at least, when DRAM's loops run <paramref name="trips"/> (docs/mapspace.md,
    /// "Level 1 sends its tile again per DRAM iteration"): each of DRAM's iterations runs MACs that use every word of t at its
    /// position; the levels below 1 hold at most <paramref name="held"/> words of t as it starts (H), and every other word
    /// must come from level 1, its only source (level 1 keeps t: it is the parent of t's outermost keeper below). For each
    /// value of the chunks of the ranks that do not index t (S_t of them), the iterations over the other ranks' chunks use
    /// together every used word U; the iterations number I (the product of the trips), so level 1 reads at least
    /// <c>S_t x U - I x H</c> distinct words. 0 for an output (its words go up, not down).
    /// </summary>
    internal static double ResendWords(SearchTensor t, long[] trips, double used, double held)
    {
        if (t.IsOutput || double.IsPositiveInfinity(held)) return 0;
        double sweeps = 1, iterations = 1;
        for (int k = 0; k < trips.Length; k++)
        {
            iterations *= trips[k];
            if (!t.IndexedBy[k]) sweeps *= trips[k];
        }
        return Math.Max(0, sweeps * used - iterations * held);
    }

    /// <summary>
    /// <see cref="ResendWords"/> as the points carry it: rounded down to the used words U times a power of 2^(1/4) (0 below U), so
    /// the count takes a few values per tensor and DRAM's fronts stay small (docs/mapspace.md, "Level 1 sends its tile again
    /// per DRAM iteration"; unrounded, the fronts grew to thousands of points and making them took most of a 60 s search).
    /// Never above the count, so a lower bound still.
    /// </summary>
    internal static double ResendSteps(double words, double used)
    {
        if (words <= 0 || used <= 0) return Math.Max(0, words);
        if (words < used) return 0;
        // Quarter steps of log2 (as the held sets' key, ImperfectHeldTiles): the largest U x 2^(k/4) at most the count.
        int k = Math.Max(0, (int)Math.Floor(4 * Math.Log2(words / used)) + 1);
        while (k > 0 && used * Math.Pow(2, k / 4.0) > words) k--;
        return used * Math.Pow(2, k / 4.0);
    }

    /// <summary>A point's least product of DRAM's trips over the ranks that do not index tensor <paramref name="t"/> (the grid's count of t's sweeps).</summary>
    public static double Sweeps(double[] point, int t) => point[(point.Length + 1) / 2 + t];

    /// <summary>How many of DRAM's grids <see cref="Create"/> weighs between two questions to its stop.</summary>
    internal const int StopCheckGrids = 64;

    /// <summary>
    /// Weighs every case (null when it does not apply: fewer than two levels, DRAM with a fanout, more than four tensors).
    /// <paramref name="root"/> is any plan's root state, for the links (their values do not depend on the plan when DRAM has
    /// no fanout).
    /// </summary>
    /// <param name="heldBelow">Per tensor, what the levels below 1 hold of it at most, in place of <see cref="Held"/> (their
    /// decided tiles, <see cref="ImperfectBound"/>'s nodes with every level below 1 decided); null: their capacities.</param>
    /// <param name="least">Per rank, the least extent level 1's tile can have (<see cref="LevelOneLeast"/>: the spans its
    /// plan's fanouts fix); null: 1. Level 1's tile spans at least that and <c>ceil(B / D)</c>, and D is at most
    /// <c>ceil(B / least)</c>.</param>
    /// <param name="skipGrids">False weighs every order of every grid (the tests' reference: the points are the same).</param>
    /// <param name="resends">Whether the points carry level 1's reads of its kept operands (<see cref="ResendWords"/>, <see cref="ResendPoints"/>); without, those slots are 0 and the fronts are as before.</param>
    /// <param name="stop">Asked before the grids and every <see cref="StopCheckGrids"/> grids (the search's clock): once it
    /// answers true the making ends and null is returned (a part of the cases would claim more than the whole: never kept).</param>
    public static ImperfectDramSweeps? Create(SearchProblem m, ArrayCostModel cost, LevelEnumeration levels, State root, double[]? heldBelow = null, long[]? least = null, bool skipGrids = true, bool resends = false, Func<bool>? stop = null)
    {
        int n = m.TensorCount, ranks = m.Ranks;
        if (m.Levels < 2 || m.Storage[0].Fanout.Size != 1 || n > 4) return null;
        if (stop is not null && stop()) return null;
        long grids = 0;
        bool stopped = false;
        // The orders' shapes are kept per pattern of 2n + 1 bits per rank (a long), the claims per rank mask.
        // Every order of DRAM's loops is weighed, for the capacities' sweeps (made once per search) and for the decided
        // tiles' sets alike (branch im21ad: with r0 alone a set's smaller H let a tensor outside K keep its words across
        // DRAM's iterations in an order that sweeps another K times, and the capacities' H were too large to see it).
        bool ordered = ranks * (n + 1) <= 62 && ranks <= 12;
        var tensors = m.Tensors;
        var links = tensors.Select(t => new VisitLink(cost, m, t, root, 0, 1)).ToArray();
        var dense = tensors.Select(t => (double)cost.PlanDensePartition(t, root, 1)).ToArray();
        var used = tensors.Select(t => (double)cost.PlanDensePartition(t, root, 0)).ToArray();
        var once = new double[n];
        for (int i = 0; i < n; i++) once[i] = links[i].Energy(dense[i]);
        // What the levels below 1 that may keep t can hold, over all their instances.
        var held = heldBelow ?? tensors.Select(t => Held(m, t)).ToArray();
        var masks = levels.KeepOptions(1).Distinct().ToArray();
        long? capacity = m.Storage[1].Capacity;
        var options = new long[ranks][];
        for (int r = 0; r < ranks; r++)
        {
            long b = m.Bound[r];
            var set = new SortedSet<long>();
            for (long e = least is null ? 1 : Math.Min(b, least[r]); e <= b; e++) set.Add((b + e - 1) / e);
            options[r] = set.ToArray();
        }
        // Per keep mask, the points no other found so far is below in Q and every B_t (kept as they come: a point below none
        // of them joins and drops those it is below), so a grid whose least point for a mask is already below one is skipped.
        var fronts = new List<double[]>[1 << n];
        foreach (int keep in masks) fronts[keep] = new();
        // Per point, after Q and the B_t, per tensor the product of DRAM's trips over the ranks that do not index it (its
        // sweeps' count S_t: the passes, ImperfectPassesDram), the least over the cases the point stands for.
        var point = new double[2 * n + 1];
        var live = new bool[masks.Length];
        var trips = new long[ranks];
        var ext = new long[ranks];
        var tile = new long[n];
        var plainWords = new double[n];
        // Per tensor, what level 1 takes in per sweep when it keeps it: the union of its tiles over DRAM's grid (LevelOneHull), at least the used words.
        var swept = new double[n];
        // Per tensor, the words level 1 reads of it at least when it keeps it (ResendWords), in the kept tensors' slots of a point.
        var resend = new double[n];
        bool anyResend = false;
        var vectors = new List<double[]>();
        var shapes = new Dictionary<(long, long), List<int[][]>>();
        var orders0 = new List<int[][]>();
        var overlap = new double[n, ranks];
        var distinct = new HashSet<(double, double, double, double, double, double, double, double)>();
        long stamp = 0;
        int slots = ordered ? n * ranks << ranks : 0;
        var claimStamp = new long[slots];
        double[] claimDense = new double[slots], claimUsed = new double[slots];
        Enumerate(0);
        if (stopped) return null;
        var points = new double[1 << n][][];
        var passPoints = new double[1 << n][][];
        var resendPoints = new double[1 << n][][];
        for (int keep = 0; keep < 1 << n; keep++)
        {
            // The fronts keep the kept tensors' level-1 reads (ResendWords) in their slots; the points and the pass points have them 0, as before.
            var f = fronts[keep]?.Select(p => Unsent(p, keep)).ToList();
            passPoints[keep] = f is null ? [] : Front(f, counts: true);
            // In Q and the B_t alone (each point standing for every case above it in those, its counts 1: no passes from them).
            points[keep] = f is null ? [] : Front(f, counts: false);
            resendPoints[keep] = fronts[keep] is { } g && anyResend ? Front(g, counts: false) : [];
        }
        return new ImperfectDramSweeps(m, points, passPoints, resendPoints);

        void Enumerate(int r)
        {
            if (stopped) return;
            if (r < ranks)
            {
                foreach (long d in options[r]) { trips[r] = d; Enumerate(r + 1); }
                return;
            }
            if (stop is not null && ++grids % StopCheckGrids == 0 && stop()) { stopped = true; return; }
            for (int k = 0; k < ranks; k++)
            {
                ext[k] = (m.Bound[k] + trips[k] - 1) / trips[k];
                if (least is not null) ext[k] = Math.Max(ext[k], Math.Min(m.Bound[k], least[k]));
            }
            for (int i = 0; i < n; i++)
            {
                double sweepsOf = 1;
                for (int k = 0; k < ranks; k++) if (!tensors[i].IndexedBy[k]) sweepsOf *= trips[k];
                point[1 + n + i] = sweepsOf;
                tile[i] = tensors[i].Tile(ext);
                swept[i] = Math.Max(dense[i], LevelOneHull(tensors[i], m.Bound, trips));
                plainWords[i] = BypassWords(tensors[i], m.Bound, trips, -1, used[i], held[i]);
                resend[i] = resends ? ResendSteps(ResendWords(tensors[i], trips, used[i], held[i]), used[i]) : 0;
            }
            // Each order of DRAM's loops gives every tensor its claims (OrderSweeps less OrderLoss, per loop that may clear it):
            // the distinct vectors of the largest, per order (the orders' shapes kept per pattern of loops).
            long pattern = 0, disjoint = 0;
            for (int q = 0; q < ranks; q++) if (trips[q] > 1) pattern |= 1L << q;
            for (int i = 0; i < n; i++)
                for (int q = 0; q < ranks; q++)
                {
                    if (trips[q] <= 1) continue;
                    overlap[i, q] = Overlap(tensors[i], q, m.Bound, trips);
                    if (overlap[i, q] >= 0) pattern |= 1L << (ranks * (i + 1) + q);
                    if (overlap[i, q] == 0) disjoint |= 1L << (ranks * (i + 1) + q);
                }
            // Every order's innermost loop r0 is a loop of DRAM (or there is none), and r0 is the first candidate of each tensor it
            // may clear (inside it nothing), so each order's claims are at least those of its r0 alone: per mask that fits, when a
            // point found is below that floor's point for every r0, it is below every point of this grid for the mask.
            bool anyLive = false;
            for (int j = 0; j < masks.Length; j++)
            {
                int keep = masks[j];
                long need = 0;
                for (int i = 0; i < n; i++) if ((keep & 1 << i) != 0) need += tile[i];
                live[j] = capacity is not { } cap || need <= cap;
                if (!live[j]) continue;
                bool covered = skipGrids;
                for (int r0 = pattern == 0 ? -1 : 0; r0 < ranks && covered; r0++)
                {
                    if (r0 >= 0 && trips[r0] <= 1) continue;
                    point[0] = 0;
                    for (int i = 0; i < n; i++)
                    {
                        double vd = swept[i], vu = used[i];
                        if (r0 >= 0 && (ordered ? overlap[i, r0] >= 0 : tensors[i].PlainDimRank[r0]))
                        {
                            double sweeps = OrderSweeps(tensors[i], trips, 0), loss = ordered ? OrderLoss(trips, 0, r0, overlap[i, r0]) : 0;
                            vd = Math.Max(vd, sweeps * swept[i] - loss);
                            vu = Math.Max(vu, sweeps * used[i] - loss);
                        }
                        if ((keep & 1 << i) != 0) { point[0] += Math.Max(once[i], links[i].Energy(vd)); point[1 + i] = resend[i]; }
                        else point[1 + i] = Math.Max(plainWords[i], vu);
                    }
                    covered = Covered(fronts[keep], point);
                    if (r0 < 0) break;
                }
                live[j] = !covered;
                anyLive |= live[j];
            }
            if (!anyLive) return;
            if (!ordered)
            {
                // Only DRAM's innermost loop r0 is weighed (its claims need no order): per r0, the tensors it alone indexes a dimension of.
                orders0.Clear();
                for (int q = 0; q < ranks; q++)
                    if (trips[q] > 1) orders0.Add(Enumerable.Range(0, n).Select(i => tensors[i].PlainDimRank[q] ? new[] { q << 20 } : []).ToArray());
                if (orders0.Count == 0) orders0.Add(Enumerable.Range(0, n).Select(_ => Array.Empty<int>()).ToArray());
                shapes[(pattern, disjoint)] = orders0;
            }
            if (!shapes.TryGetValue((pattern, disjoint), out var orders))
            {
                orders = new List<int[][]>();
                var seen = new HashSet<string>();
                var path = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
                Orders(0, 0, path, orders, seen, pattern, disjoint);
                // An order whose candidates include another's, tensor by tensor, claims at least as much: only the other counts.
                var sets = orders.Select(o => o.Select(c => new HashSet<int>(c)).ToArray()).ToList();
                var kept = new List<int[][]>();
                for (int a = 0; a < orders.Count; a++)
                {
                    bool covered = false;
                    for (int b = 0; b < orders.Count && !covered; b++)
                    {
                        if (b == a) continue;
                        bool within = true;
                        for (int i = 0; i < n && within; i++) within = sets[b][i].IsSubsetOf(sets[a][i]);
                        // Equal sets: the first stands for both.
                        if (within && (b < a || !Enumerable.Range(0, n).All(i => sets[a][i].SetEquals(sets[b][i])))) covered = true;
                    }
                    if (!covered) kept.Add(orders[a]);
                }
                orders = kept;
                shapes[(pattern, disjoint)] = orders;
            }
            vectors.Clear();
            distinct.Clear();
            stamp++;
            foreach (var order in orders)
            {
                // Per tensor, the most its clearing loops claim of level 1's visits (dense) and of DRAM's words (used).
                var v = new double[8];
                for (int i = 0; i < n; i++)
                {
                    v[i] = swept[i];
                    v[4 + i] = used[i];
                    foreach (int c in order[i])
                    {
                        int q = c >> 20, inner = c & ((1 << 20) - 1), slot = slots == 0 ? 0 : (i * ranks + q) << ranks | inner;
                        if (slots == 0)
                        {
                            double sweeps0 = OrderSweeps(tensors[i], trips, inner);
                            v[i] = Math.Max(v[i], sweeps0 * swept[i]);
                            v[4 + i] = Math.Max(v[4 + i], sweeps0 * used[i]);
                            continue;
                        }
                        if (claimStamp[slot] != stamp)
                        {
                            double sweeps = OrderSweeps(tensors[i], trips, inner), loss = OrderLoss(trips, inner, q, overlap[i, q]);
                            claimDense[slot] = sweeps * swept[i] - loss;
                            claimUsed[slot] = sweeps * used[i] - loss;
                            claimStamp[slot] = stamp;
                        }
                        v[i] = Math.Max(v[i], claimDense[slot]);
                        v[4 + i] = Math.Max(v[4 + i], claimUsed[slot]);
                    }
                }
                if (distinct.Add((v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]))) vectors.Add(v);
            }
            for (int j = 0; j < masks.Length; j++)
            {
                if (!live[j]) continue;
                int keep = masks[j];
                foreach (var v in vectors)
                {
                    point[0] = 0;
                    for (int i = 0; i < n; i++)
                    {
                        if ((keep & 1 << i) != 0) { point[0] += Math.Max(once[i], links[i].Energy(v[i])); point[1 + i] = resend[i]; anyResend |= resend[i] > 0; }
                        else point[1 + i] = Math.Max(plainWords[i], v[4 + i]);
                    }
                    Join(fronts[keep], point);
                }
            }
        }

        // Places DRAM's loops (the pattern's low bits) from the innermost outward until every tensor is closed: each loop
        // that may clear a tensor (Overlap at least 0; the pattern's bits per tensor) is one of its candidates, with the loops
        // placed before it inside (`path`, each as inside | rank << 20); a loop that clears it fully (Overlap 0: `disjoint`)
        // closes it, as does having no candidate left. The distinct results in `into`.
        void Orders(int placed, int closed, List<int>[] path, List<int[][]> into, HashSet<string> seen, long pattern, long disjoint)
        {
            bool open = false;
            for (int i = 0; i < n && !open; i++)
                open = (closed & 1 << i) == 0 && ((pattern >> (ranks * (i + 1))) & ((1L << ranks) - 1) & ~(long)placed) != 0;
            if (!open)
            {
                var result = path.Select(x => x.ToArray()).ToArray();
                if (seen.Add(string.Join("|", result.Select(x => string.Join(",", x))))) into.Add(result);
                return;
            }
            for (int r = 0; r < ranks; r++)
            {
                if ((pattern >> r & 1) == 0 || (placed & 1 << r) != 0) continue;
                int next = closed;
                for (int i = 0; i < n; i++)
                {
                    if ((closed & 1 << i) != 0 || (pattern >> (ranks * (i + 1) + r) & 1) == 0) continue;
                    path[i].Add(placed | r << 20);
                    if ((disjoint >> (ranks * (i + 1) + r) & 1) != 0) next |= 1 << i;
                }
                Orders(placed | 1 << r, next, path, into, seen, pattern, disjoint);
                for (int i = 0; i < n; i++)
                    if ((closed & 1 << i) == 0 && (pattern >> (ranks * (i + 1) + r) & 1) != 0) path[i].RemoveAt(path[i].Count - 1);
            }
        }
    }

    /// <summary>
    /// What DRAM's loop over r (more than one trip) leaves of t's words when it rewinds, at most: -1 when it may leave any
    /// (r does not index t, or shares a dimension with a rank DRAM splits, or a coefficient is negative), else the words the
    /// tile at its last chunk and the tile at its first can share. 0 when r alone indexes a dimension of t (its chunks are
    /// disjoint); when r shares a dimension k (coefficient c &gt; 0) only with ranks DRAM does not split (their whole extents,
    /// W = the sum of c' (B' - 1)), the first chunk spans c (E - 1) + W + 1 indices of k and the last starts at c (D - 1) E,
    /// so they share at most <c>ov = max(0, W + 1 - c - c (D - 2) E)</c> indices, the least over such k of
    /// <c>ov / (c (E - 1) + W + 1)</c> of the largest tile (E at least ceil(B / D) for the ratio, which only falls as E
    /// grows; every rank at its largest extent for the tile: <see cref="LargestExtent"/>).
    /// </summary>
    internal static double Overlap(SearchTensor t, int r, long[] bound, long[] trips)
    {
        if (trips[r] <= 1 || !t.IndexedBy[r]) return -1;
        if (t.PlainDimRank[r]) return 0;
        if (!t.NonNegative) return -1;
        long e = (bound[r] + trips[r] - 1) / trips[r];
        double least = double.PositiveInfinity;
        for (int k = 0; k < t.Dims.Dimensions; k++)
        {
            var rs = t.Dims.RanksOf(k);
            var cs = t.Dims.CoefficientsOf(k);
            int at = rs.IndexOf(r);
            if (at < 0 || cs[at] <= 0) continue;
            double w = 0;
            bool split = false;
            for (int j = 0; j < rs.Length; j++)
            {
                if (j == at) continue;
                if (trips[rs[j]] > 1) split = true;
                w += (double)cs[j] * (bound[rs[j]] - 1);
            }
            if (split) continue;
            double c = cs[at];
            double ov = Math.Max(0, w + 1 - c - c * (trips[r] - 2) * e);
            least = Math.Min(least, ov / (c * (e - 1) + w + 1));
        }
        if (double.IsPositiveInfinity(least)) return -1;
        if (least == 0) return 0;
        Span<long> ext = stackalloc long[trips.Length];
        for (int k = 0; k < trips.Length; k++) ext[k] = LargestExtent(bound[k], trips[k]);
        return least * t.Tile(ext);
    }

    /// <summary>
    /// The words of the union of level 1's tiles of t over DRAM's grid of <paramref name="trips"/> (docs/mapspace.md, "Level 1
    /// takes in its tiles, gaps included"), or 0 when a dimension of t has two ranks DRAM splits or a rank DRAM splits indexes
    /// two of its dimensions (then the used words stand). DRAM's loop over r cuts it into D chunks (every one non-empty,
    /// together B), whatever level 1's factors; level 1's tile at a chunk of extent e spans <c>|c| (e - 1) + W + 1</c> indices
    /// of a dimension k where r has coefficient c and the ranks DRAM does not split span W (<c>sum |c'| (B' - 1)</c>: their
    /// whole extents), gaps included (a strided window's tile is its bounding box, as the model counts it). Consecutive chunks'
    /// spans share at most <c>max(0, W + 1 - |c|)</c> indices and their ends increase, so along k the tiles cover
    /// <c>|c| (B - D) + D (W + 1) - (D - 1) max(0, W + 1 - |c|)</c> indices (<c>W + 1</c> with no split rank); with each split
    /// rank in one dimension the positions are a product over dimensions, and so is the union. Each sweep DRAM's loops make
    /// over t brings level 1 every word of the tiles it enters (level 1 holds only its current tile), so the union stands in
    /// for the used words in what level 1 takes in: more than them where a stride leaves gaps (a 1 x 1 layer of stride 2 whose
    /// level-1 tile spans several output rows takes in about 4 times its used words).
    /// </summary>
    internal static double LevelOneHull(SearchTensor t, long[] bound, long[] trips)
    {
        var dims = t.Dims;
        Span<int> dimOf = stackalloc int[trips.Length];
        dimOf.Fill(-1);
        double words = 1;
        for (int k = 0; k < dims.Dimensions; k++)
        {
            var rs = dims.RanksOf(k);
            var cs = dims.CoefficientsOf(k);
            int split = -1;
            double w = 0;
            for (int j = 0; j < rs.Length; j++)
            {
                int r = rs[j];
                if (trips[r] <= 1) { w += Math.Abs((double)cs[j]) * (bound[r] - 1); continue; }
                if (split >= 0 || (dimOf[r] >= 0 && dimOf[r] != k)) return 0;
                split = j;
                dimOf[r] = k;
            }
            if (split < 0) { words *= w + 1; continue; }
            double c = Math.Abs((double)cs[split]), d = trips[rs[split]], b = bound[rs[split]];
            words *= c * (b - d) + d * (w + 1) - (d - 1) * Math.Max(0, w + 1 - c);
        }
        return words;
    }

    /// <summary>The largest chunk E a DRAM loop of <paramref name="trips"/> iterations over a rank of bound B can have: ceil(B / E) = D, so (D - 1) E &lt; B.</summary>
    internal static long LargestExtent(long bound, long trips) => trips <= 1 ? bound : (bound - 1) / (trips - 1);

    /// <summary>
    /// The words <see cref="OrderSweeps"/>' runs may find held: each run (one value of the loops outside q) but the first
    /// starts right after q's last chunk, and may find at most <paramref name="overlap"/> of its words held (<see cref="Overlap"/>).
    /// The runs number the trips of every loop outside q: those not indexing t (the sweeps) times those indexing it.
    /// </summary>
    internal static double OrderLoss(long[] trips, int inside, int q, double overlap)
    {
        if (overlap <= 0) return 0;
        double runs = 1;
        for (int k = 0; k < trips.Length; k++) if (k != q && (inside & 1 << k) == 0) runs *= trips[k];
        return (runs - 1) * overlap;
    }


    /// <summary>
    /// How many times at least DRAM sends every word of t its MACs use (to level 1 when it keeps t, else to the levels
    /// below), less <see cref="OrderLoss"/>, when a DRAM loop q that clears t on its rewind (<see cref="Overlap"/>) has the
    /// loops <paramref name="inside"/> (a mask of ranks) inside it: the product of the trips of the ranks that do not index t
    /// and are not inside q (docs/mapspace.md, "DRAM's sweeps in the order of its loops"). Each run of DRAM's iterations at
    /// one value of the loops outside q starts right after q's last chunk (or is the first): no level below DRAM holds a word
    /// of it then but what the two chunks share, so the run takes in every other word its MACs use. The runs at one value of
    /// the loops outside q that index t use, together, that slice's words, and each such value comes once per value of the
    /// loops outside q that do not index t.
    /// </summary>
    internal static double OrderSweeps(SearchTensor t, long[] trips, int inside)
    {
        double s = 1;
        for (int k = 0; k < trips.Length; k++) if (!t.IndexedBy[k] && (inside & 1 << k) == 0) s *= trips[k];
        return s;
    }

    /// <summary>
    /// Per rank, the least extent of level 1's tile under a spatial plan: the product of the plan's spatial factors at level 1
    /// and below (every tile spans at least one element, and a level's tile spans its fanout's children's tiles), clipped to
    /// the bound; null when it is 1 for every rank (the plan fixes nothing beyond <c>ceil(B / D)</c>).
    /// </summary>
    internal static long[]? LevelOneLeast(SearchProblem m, State s)
    {
        var least = new long[m.Ranks];
        bool any = false;
        for (int r = 0; r < m.Ranks; r++)
        {
            long e = 1;
            for (int l = 1; l < m.Levels; l++) e *= s.Spatial(l, r);
            least[r] = Math.Min(m.Bound[r], e);
            any |= least[r] > 1;
        }
        return any ? least : null;
    }

    /// <summary>What the levels below 1 that may keep t can hold, over all their instances (+inf when one has no capacity).</summary>
    internal static double Held(SearchProblem m, SearchTensor t)
    {
        double held = 0;
        for (int c = 2; c < m.Levels; c++)
            if (m.MayKeep(t, c))
                held += m.Storage[c].Capacity is { } cap ? (double)cap * (m.FanoutBelow[0] / m.FanoutBelow[c]) : double.PositiveInfinity;
        return held;
    }

    /// <summary>
    /// How many times at least level 1 takes in every word of t its MACs use when it keeps t, DRAM's loops run
    /// <paramref name="trips"/> and its innermost loop is over <paramref name="r0"/> (-1: none): the product of the trips of
    /// the ranks that do not index t when r0 alone indexes a dimension of t, else once.
    /// </summary>
    internal static double LevelOneSweeps(SearchTensor t, long[] trips, int r0, bool fresh = false)
    {
        if (!fresh && (r0 < 0 || !t.PlainDimRank[r0])) return 1;
        double s = 1;
        for (int k = 0; k < trips.Length; k++) if (!t.IndexedBy[k]) s *= trips[k];
        return s;
    }

    /// <summary>
    /// The least words DRAM sends t when level 1 does not keep it (U its used words, H what the levels below can hold):
    /// S x U when r0 alone indexes a dimension of t; for a tensor whose dimensions are each one rank, U plus, for each of the
    /// S - 1 later iterations at each position, that position's words unless at most H (then the levels below may still
    /// hold them all): at least <c>(S - 1) x max(0, U - N' x H)</c>, N' the positions that can have at most H words (when the tile at
    /// <c>ceil(B / D)</c> has more than H words, those at the last extent of some rank with more than one trip, else all);
    /// else U. A later iteration keeps words from the one before only when it follows one at the same position, and then
    /// only when its position's words lie in one tile of t's outermost keeper below level 1 (per instance): with two or more,
    /// its first and the previous one's last differ in a rank that indexes t, so they are disjoint. For a tensor with a window
    /// dimension (not each dimension one rank): each iteration brings every word its MACs use but the at most H the levels
    /// below hold as it starts, and the iterations at one value of the ranks that do not index t (N of them, one per
    /// position) use W words summed over them, at least U and <see cref="PositionWords"/>: at least <c>S x (W - N x H)</c>, and U.
    /// </summary>
    internal static double BypassWords(SearchTensor t, long[] bound, long[] trips, int r0, double used, double held)
    {
        double s = 1, positions = 1, full = 1;
        Span<long> ext = stackalloc long[trips.Length];
        for (int k = 0; k < trips.Length; k++)
        {
            if (t.IndexedBy[k]) { positions *= trips[k]; full *= Math.Max(1, trips[k] - 1); } else s *= trips[k];
            ext[k] = (bound[k] + trips[k] - 1) / trips[k];
        }
        if (r0 >= 0 && t.PlainDimRank[r0]) return s * used;
        // A tensor with a window dimension: each of DRAM's iterations brings every word its MACs use but what the levels below
        // hold as it starts (at most H); the `positions` iterations at one value of the ranks that do not index t use W words
        // summed over them (at least U and PositionWords): at least S x (W - positions x H).
        if (!t.Plain) return Math.Max(used, s * (Math.Max(used, PositionWords(t, bound, trips)) - positions * held));
        double small = t.Tile(ext) > held ? positions - full : positions;
        return used + (s - 1) * Math.Max(0, used - small * held);
    }

    /// <summary>
    /// The words of t that DRAM's positions (one chunk per rank indexing t) use, summed over the positions, at least; 0 when a
    /// rank indexes two of t's dimensions or a coefficient is negative. A position's words are the product over t's
    /// dimensions of the indices its chunks reach (each dimension's ranks its own); along a dimension whose ranks reach
    /// extents e_r with positive coefficients, at least <c>sum (e_r - 1) + 1</c> distinct indices (one rank stepping at a
    /// time, each step increases the index). The chunks of a rank partition its bound B_r into D_r, so over the chunk
    /// combinations of a dimension's ranks that sums to <c>sum_r (B_r - D_r) x prod_{r' != r} D_r' + prod_r D_r</c>, and
    /// the positions are the products of those combinations.
    /// </summary>
    internal static double PositionWords(SearchTensor t, long[] bound, long[] trips)
    {
        double total = 1;
        long ranksSeen = 0;
        for (int k = 0; k < t.Dims.Dimensions; k++)
        {
            var rs = t.Dims.RanksOf(k);
            var cs = t.Dims.CoefficientsOf(k);
            double combos = 1, sum = 0;
            for (int j = 0; j < rs.Length; j++)
            {
                if (cs[j] == 0) continue;
                if (cs[j] < 0 || (ranksSeen >> rs[j] & 1) != 0) return 0;
                ranksSeen |= 1L << rs[j];
                combos *= trips[rs[j]];
            }
            for (int j = 0; j < rs.Length; j++)
                if (cs[j] != 0) sum += (double)(bound[rs[j]] - trips[rs[j]]) * (combos / trips[rs[j]]);
            total *= sum + combos;
        }
        return total;
    }

    /// <summary>Whether a point of <paramref name="front"/> is below <paramref name="p"/> in Q, every B_t and every sweeps' count.</summary>
    private static bool Covered(List<double[]> front, double[] p)
    {
        foreach (var f in front) if (Below(f, p)) return true;
        return false;
    }

    /// <summary>How many leading entries of a point are costs (Q and the B_t; the sweeps' counts follow).</summary>
    private static int Costs(double[] p) => (p.Length + 1) / 2;

    /// <summary>Adds a copy of <paramref name="p"/> to <paramref name="front"/> unless a point there is below it, dropping the points it is below.</summary>
    private static void Join(List<double[]> front, double[] p)
    {
        if (Covered(front, p)) return;
        front.RemoveAll(f => Below(p, f));
        front.Add((double[])p.Clone());
    }

    /// <summary>
    /// The cases no other is below in Q and every B_t (and with <paramref name="counts"/> every sweeps' count; without, the
    /// counts set to 1), at most <see cref="MaxPoints"/> (consecutive ones by Q merged into their least).
    /// </summary>
    private static double[][] Front(List<double[]> cases, bool counts)
    {
        var all = cases.OrderBy(p => p[0]).ThenBy(p => p.Skip(1).Take(Costs(p) - 1).Sum()).ToList();
        var front = new List<double[]>();
        foreach (var p in all)
            if (!front.Any(f => counts ? Below(f, p) : CostsBelow(f, p))) front.Add(counts ? p : Ones(p));
        if (front.Count <= MaxPoints) return front.ToArray();
        var merged = new List<double[]>();
        int per = (front.Count + MaxPoints - 1) / MaxPoints;
        for (int i = 0; i < front.Count; i += per)
        {
            var least = (double[])front[i].Clone();
            for (int j = i + 1; j < Math.Min(front.Count, i + per); j++)
                for (int k = 0; k < least.Length; k++) least[k] = Math.Min(least[k], front[j][k]);
            merged.Add(least);
        }
        return merged.ToArray();
    }

    /// <summary>A copy of a point with the slots of the tensors in <paramref name="keep"/> 0 (their level-1 reads, <see cref="ResendWords"/>, left out).</summary>
    private static double[] Unsent(double[] p, int keep)
    {
        var q = (double[])p.Clone();
        for (int i = 0; i < Costs(p) - 1; i++) if ((keep & 1 << i) != 0) q[1 + i] = 0;
        return q;
    }

    /// <summary>A copy of a point with its sweeps' counts 1 (below every case's).</summary>
    private static double[] Ones(double[] p)
    {
        var q = (double[])p.Clone();
        for (int k = Costs(p); k < q.Length; k++) q[k] = 1;
        return q;
    }

    /// <summary>Whether <paramref name="a"/> is at most <paramref name="b"/> in Q and every B_t.</summary>
    private static bool CostsBelow(double[] a, double[] b)
    {
        for (int k = 0, c = Costs(a); k < c; k++) if (a[k] > b[k]) return false;
        return true;
    }

    /// <summary>Whether <paramref name="a"/> is at most <paramref name="b"/> in Q, every B_t and every sweeps' count (a then stands for b: every term only grows with each).</summary>
    private static bool Below(double[] a, double[] b)
    {
        for (int k = 0; k < a.Length; k++) if (a[k] > b[k]) return false;
        return true;
    }
}
