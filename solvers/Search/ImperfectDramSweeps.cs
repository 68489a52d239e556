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
/// <item>else every used word once.</item>
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

    private ImperfectDramSweeps(SearchProblem problem, double[][][] points) : base(problem) => _points = points;

    /// <summary>The cases of level 1's keep mask <paramref name="keep"/>: per point, Q then per tensor the least words DRAM sends it (for tensors not in the mask).</summary>
    public double[][] Points(int keep) => _points[keep];

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
    public static ImperfectDramSweeps? Create(SearchProblem m, ArrayCostModel cost, LevelEnumeration levels, State root, double[]? heldBelow = null, long[]? least = null)
    {
        int n = m.TensorCount, ranks = m.Ranks;
        if (m.Levels < 2 || m.Storage[0].Fanout.Size != 1 || n > 4) return null;
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
        var cases = new Dictionary<(double, double, double, double), double>[1 << n];
        foreach (int keep in masks) cases[keep] = new();
        var trips = new long[ranks];
        var ext = new long[ranks];
        var tile = new long[n];
        var words = new double[4];
        double[] freshQ = new double[n], freshWords = new double[n], plainWords = new double[n];
        Enumerate(0);
        var points = new double[1 << n][][];
        for (int keep = 0; keep < 1 << n; keep++) points[keep] = cases[keep] is { } c ? Front(c, n) : [];
        return new ImperfectDramSweeps(m, points);

        void Enumerate(int r)
        {
            if (r < ranks)
            {
                foreach (long d in options[r]) { trips[r] = d; Enumerate(r + 1); }
                return;
            }
            bool anyLoop = false;
            for (int k = 0; k < ranks; k++)
            {
                ext[k] = (m.Bound[k] + trips[k] - 1) / trips[k];
                if (least is not null) ext[k] = Math.Max(ext[k], Math.Min(m.Bound[k], least[k]));
                anyLoop |= trips[k] > 1;
            }
            // Per tensor, what does not depend on r0: its sweeps and words when r0 alone indexes a dimension of it ("fresh") and when not.
            for (int i = 0; i < n; i++)
            {
                tile[i] = tensors[i].Tile(ext);
                double sweeps = LevelOneSweeps(tensors[i], trips, -1, fresh: true);
                freshQ[i] = Math.Max(once[i], links[i].Energy(sweeps * dense[i]));
                freshWords[i] = sweeps * used[i];
                plainWords[i] = BypassWords(tensors[i], m.Bound, trips, -1, used[i], held[i]);
            }
            foreach (int keep in masks)
            {
                long need = 0;
                for (int i = 0; i < n; i++) if ((keep & 1 << i) != 0) need += tile[i];
                if (capacity is { } cap && need > cap) continue;
                for (int r0 = anyLoop ? 0 : -1; r0 < ranks; r0++)
                {
                    if (r0 >= 0 && trips[r0] <= 1) continue;
                    double q = 0;
                    Array.Clear(words);
                    for (int i = 0; i < n; i++)
                    {
                        bool fresh = r0 >= 0 && tensors[i].PlainDimRank[r0];
                        if ((keep & 1 << i) != 0) q += fresh ? freshQ[i] : once[i];
                        else words[i] = fresh ? freshWords[i] : plainWords[i];
                    }
                    var key = (words[0], words[1], words[2], words[3]);
                    var map = cases[keep];
                    if (!map.TryGetValue(key, out double known) || q < known) map[key] = q;
                    if (r0 < 0) break;
                }
            }
        }
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
    /// its first and the previous one's last differ in a rank that indexes t, so they are disjoint.
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
        if (!t.Plain) return used;
        double small = t.Tile(ext) > held ? positions - full : positions;
        return used + (s - 1) * Math.Max(0, used - small * held);
    }

    /// <summary>The cases no other is below in Q and every B_t, at most <see cref="MaxPoints"/> (consecutive ones by Q merged into their least).</summary>
    private static double[][] Front(Dictionary<(double, double, double, double), double> cases, int n)
    {
        var all = cases.Select(kv => new[] { kv.Value, kv.Key.Item1, kv.Key.Item2, kv.Key.Item3, kv.Key.Item4 }[..(n + 1)])
            .OrderBy(p => p[0]).ThenBy(p => p.Skip(1).Sum()).ToList();
        var front = new List<double[]>();
        foreach (var p in all)
            if (!front.Any(f => Below(f, p))) front.Add(p);
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

    private static bool Below(double[] a, double[] b)
    {
        for (int k = 0; k < a.Length; k++) if (a[k] > b[k]) return false;
        return true;
    }
}
