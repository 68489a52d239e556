namespace Optimizer.Solvers;

/// <summary>
/// Two operands that no decided level keeps and that level 1 does not keep either, each sent by DRAM straight to its
/// innermost keeper (docs/mapspace.md, "Two undecided keepers"): A's keeper m_A holds at most W_A words and B's keeper m_B
/// at most W_B (per instance; no fanout from the nearer of the two down to the compute units, so their instances are the
/// compute units'). Cut the visits of m_A's tiles into runs with the same tile of A. Each run starts with a tile of A
/// disjoint from the one before (every dimension of A is one rank, and tiles lie at the multiples of their extents), so
/// m_A takes in at least <c>a_j</c> words per run j (its tile's words, at most W_A). A MAC is fixed by its A word and its B
/// word (<see cref="Determined"/>), so run j's <c>n_j</c> MACs use at least <c>n_j / a_j</c> words of B, of which m_B holds
/// at most W_B as the run starts: it takes in at least <c>max(0, n_j / a_j - W_B)</c>, which is at least
/// <c>n_j / W_A - W_B a_j / W_A</c> (both when <c>n_j / a_j &gt;= W_B</c> and when not, as <c>a_j &lt;= W_A</c>). Summed
/// over the runs, with A's visits <c>v_A &gt;= sum a_j</c>: B's visits are at least <c>M / W_A - (W_B / W_A) v_A</c> (M: the
/// MACs per compute unit), and with W_A replaced by the most words of a tile of A that one word of B pairs with
/// (<see cref="PairDegree"/>, at most W_A; branch im21al). The pair's share is the least over A's visits of A's share plus B's at that need (both only grow
/// with their visits; ranges of v_A, A at a range's bottom and B at its top).
/// </summary>
internal sealed partial class ImperfectBound
{
    /// <summary>How many ranges of A's visits <see cref="UndecidedPairRaise"/> weighs between A's used words and the visits at which B's need reaches its own.</summary>
    private const int UndecidedGrid = 16;

    /// <summary>
    /// Whether every iteration point is fixed by its word of <paramref name="a"/> and its word of <paramref name="b"/>: each
    /// rank of more than one value indexes A, or is the only rank in some dimension of B that A does not fix (its coefficient
    /// non-zero: given A's ranks and B's index it has one value).
    /// </summary>
    private bool Determined(SearchTensor a, SearchTensor b)
    {
        _determined ??= new int[_m.TensorCount * _m.TensorCount];
        ref int known = ref _determined[a.Index * _m.TensorCount + b.Index];
        if (known == 0) known = IsDetermined(a, b) ? 1 : 2;
        return known == 1;
    }

    /// <summary>Per ordered pair of tensors, whether <see cref="Determined"/> holds (1), does not (2) or is not known yet (0): it reads the problem only.</summary>
    private int[]? _determined;

    private bool IsDetermined(SearchTensor a, SearchTensor b)
    {
        for (int r = 0; r < Ranks; r++)
        {
            if (_m.Bound[r] <= 1 || a.IndexedBy[r]) continue;
            bool fixedByB = false;
            for (int k = 0; k < b.Dims.Dimensions && !fixedByB; k++)
            {
                var ranks = b.Dims.RanksOf(k);
                var coefs = b.Dims.CoefficientsOf(k);
                bool has = false, alone = true;
                for (int i = 0; i < ranks.Length; i++)
                {
                    if (ranks[i] == r) has |= coefs[i] != 0;
                    else if (!a.IndexedBy[ranks[i]] && _m.Bound[ranks[i]] > 1) alone = false;
                }
                fixedByB = has && alone;
            }
            if (!fixedByB) return false;
        }
        return true;
    }

    /// <summary>
    /// Whether tensor t's option o (its innermost keeper m, not DRAM nor level 1) takes every word from DRAM in a case where
    /// level 1 does not keep t: no level from 2 to m - 1 may keep t, and m has a capacity.
    /// </summary>
    private bool AloneFromDramBelowOne(SearchTensor t, TensorTerms x, int o, State s, int d)
    {
        int m = x.AloneLevel[o];
        if (m <= 1 || _m.Storage[m].Capacity is null) return false;
        for (int l = 2; l < m; l++) if (_inner.CanKeepAbove(t, s, l, d)) return false;
        return true;
    }

    /// <summary>
    /// Whether tensor t's option o (its innermost keeper m, below 1) takes every word from level 1 in a case where level 1
    /// keeps t: no level between may keep t (<see cref="TensorTerms.AloneViaOne"/>), and m has a capacity.
    /// </summary>
    private bool AloneFromOne(TensorTerms x, int o)
        => x.AloneLevel[o] > 1 && x.AloneViaOne[o] is not null && _m.Storage[x.AloneLevel[o]].Capacity is not null;

    /// <summary>
    /// The raise of a case of DRAM's sweeps (level 1's keep set <paramref name="keep"/>, DRAM sending each tensor outside it at
    /// least the point's words) over its separate shares for the pairs of operands that no decided level and not level 1 keep
    /// (the class summary): the most over ordered pairs (A, B) of the least over both tensors' innermost keepers of their
    /// joint share, less their separate shares in the case (<see cref="TensorTerms.Without"/>). 0 when none applies.
    /// </summary>
    private double UndecidedPairRaise(TensorTerms[] terms, State s, int d, int keep, double[] point)
    {
        double raise = 0;
        var tensors = _m.Tensors;
        var facts = _cost.Facts(s);
        foreach (var a in tensors)
        {
            var xa = terms[a.Index];
            if (a.IsOutput || xa.Count > 0 || (keep & a.Bit) != 0 || !a.Plain) continue;
            foreach (var b in tensors)
            {
                var xb = terms[b.Index];
                if (b.Index == a.Index || b.IsOutput || xb.Count > 0 || !Determined(a, b)) continue;
                // B kept by level 1 (branch im21ak): its keeper's visits obey the same need, each a read of level 1 over the network and a fill (TensorTerms.WithOption).
                bool bKept = (keep & b.Bit) != 0;
                double aWords = point[1 + a.Index], bWords = point[1 + b.Index];
                double sep = xa.Without(aWords) + (bKept ? xb.With() : xb.Without(bWords)), joint = double.PositiveInfinity;
                for (int oa = 0; oa < xa.AloneCount && joint > sep; oa++)
                {
                    if (xa.AloneLevel[oa] == 1) continue;
                    for (int ob = 0; ob < xb.AloneCount && joint > sep; ob++)
                    {
                        if (xb.AloneLevel[ob] == 1 && !bKept) continue;
                        double plain = xa.AloneOption(oa, aWords, levelOneOut: true) + (bKept ? xb.WithOption(ob) : xb.AloneOption(ob, bWords, levelOneOut: true));
                        if (!AloneFromDramBelowOne(a, xa, oa, s, d) || !(bKept ? AloneFromOne(xb, ob) : AloneFromDramBelowOne(b, xb, ob, s, d))
                            || FanoutBetween(Math.Min(xa.AloneLevel[oa], xb.AloneLevel[ob]), Levels))
                        {
                            joint = Math.Min(joint, plain);
                            continue;
                        }
                        joint = Math.Min(joint, Math.Max(plain, PairShare(a, xa, oa, b, xb, ob, s, facts.TemporalTotal, aWords, bWords, bKept)));
                    }
                }
                if (double.IsFinite(joint)) raise = Math.Max(raise, joint - sep);
            }
        }
        return raise;
    }

    /// <summary>
    /// The most words of one tile of A at its keeper <paramref name="ma"/> (at most <paramref name="wa"/> words, each rank within
    /// the instance's share there) that a single word of B pairs with (branch im21al; docs/mapspace.md, "A word of B pairs with
    /// few words of A's tile"): at most <paramref name="wa"/>. A tile is a box (per rank an extent e, clipped ones only smaller).
    /// Of its words, those a word b of B pairs with number at most the product over A's ranks of: e for a rank that does not
    /// index B; 1 for a rank alone (with a non-zero coefficient) in a dimension of B (b fixes it); <c>ceil(e / q)</c> for a rank
    /// that shares a dimension of B with one other rank, one that does not index A, whose coefficient over the gcd of the two is
    /// q (b fixes the dimension's value, so the rank's values step by q: a strided convolution's R and S); e otherwise. The
    /// most over the boxes that fit: the windowed ranks' extents enumerated (at most 4,096 boxes of them; a rank past that taken
    /// as e), the ranks that do not index B given what is left of the words.
    /// </summary>
    private double PairDegree(SearchTensor a, SearchTensor b, State s, int ma, double wa)
    {
        var share = _orders.Share(s, ma, _degreeShare);
        double free = 1;
        int windows = 0;
        long boxes = 1;
        for (int r = 0; r < Ranks; r++)
        {
            if (!a.IndexedBy[r] || share[r] <= 1) continue;
            long q = b.IndexedBy[r] ? DegreeStep(a, b, r) : 1;
            if (q == 0) continue;
            // At most 4,096 boxes of the windowed ranks are weighed: a rank past that counts as one that does not index B.
            if (q == 1 || boxes * share[r] > 4096) { free *= share[r]; continue; }
            boxes *= share[r];
            _degreeWindow[windows++] = (share[r], q);
        }
        double best = 0;
        Span<long> e = stackalloc long[Math.Max(1, windows)];
        for (int k = 0; k < windows; k++) e[k] = 1;
        while (true)
        {
            double words = 1, degree = 1;
            for (int k = 0; k < windows; k++) { words *= e[k]; degree *= (e[k] + _degreeWindow[k].Step - 1) / _degreeWindow[k].Step; }
            if (words <= wa) best = Math.Max(best, degree * Math.Min(free, Math.Floor(wa / words)));
            int j = 0;
            while (j < windows && ++e[j] > _degreeWindow[j].Share) e[j++] = 1;
            if (j == windows) break;
        }
        return Math.Min(wa, best);
    }

    /// <summary>Whether <see cref="PairShare"/> takes A's tiles' degree (<see cref="PairDegree"/>) in place of W_A (true by default; off only in tests, to show what it adds).</summary>
    public bool PairDegrees { get; set; } = true;

    private readonly long[] _degreeShare = new long[problem.Ranks];
    private readonly (long Share, long Step)[] _degreeWindow = new (long, long)[problem.Ranks];

    /// <summary>
    /// For a rank r of A that indexes B: 0 when r is alone (non-zero coefficient) in some dimension of B; else the most, over
    /// B's dimensions that hold r with exactly one other rank of more than one value, one that does not index A, of that
    /// rank's coefficient over the gcd of the two coefficients; 1 when none.
    /// </summary>
    private long DegreeStep(SearchTensor a, SearchTensor b, int r)
    {
        long step = 1;
        for (int k = 0; k < b.Dims.Dimensions; k++)
        {
            var ranks = b.Dims.RanksOf(k);
            var coefs = b.Dims.CoefficientsOf(k);
            long own = 0, other = 0;
            int others = 0;
            bool otherInA = false;
            for (int i = 0; i < ranks.Length; i++)
            {
                if (coefs[i] == 0) continue;
                if (ranks[i] == r) own = Math.Abs(coefs[i]);
                else if (_m.Bound[ranks[i]] > 1) { others++; other = Math.Abs(coefs[i]); otherInA |= a.IndexedBy[ranks[i]]; }
            }
            if (own == 0) continue;
            if (others == 0) return 0;
            if (others == 1 && !otherInA) step = Math.Max(step, other / (long)System.Numerics.BigInteger.GreatestCommonDivisor(other, own));
        }
        return step;
    }

    /// <summary>
    /// The least joint share of A (keeper option oa) and B (option ob) under <c>v_B &gt;= M / W_A - (W_B / W_A) v_A</c>, with
    /// <c>v_A</c> at least A's used words per instance, each sent at least the case's words: over ranges of v_A up to where B's
    /// need falls to its used words, A's share at the range's bottom plus B's at the need at its top, and past them A at the
    /// last top with B at its own floor, W_A taken as <see cref="PairDegree"/> (with <see cref="PairDegrees"/>). 0 (the caller
    /// keeps the plain shares) when W_B is at least that.
    /// </summary>
    private double PairShare(SearchTensor a, TensorTerms xa, int oa, SearchTensor b, TensorTerms xb, int ob, State s, double macs, double aWords, double bWords, bool bKept = false)
    {
        int ma = xa.AloneLevel[oa], mb = xb.AloneLevel[ob];
        // A word of B pairs with at most the degree's words of any tile of A (branch im21al): the runs' need uses it in place of W_A.
        double wa = PairDegrees ? PairDegree(a, b, s, ma, _m.Storage[ma].Capacity!.Value) : _m.Storage[ma].Capacity!.Value, wb = _m.Storage[mb].Capacity!.Value;
        if (wb >= wa) return 0;
        double ua = _cost.PlanDensePartition(a, s, ma), ub = _cost.PlanDensePartition(b, s, mb);
        double need0 = macs / wa, slope = wb / wa;
        // B's need at A's visits v; past `top` it is at most B's used words, which B's share takes anyway.
        double Need(double v) => Math.Max(0, need0 - slope * v);
        var da = xa.AloneDram[oa];
        var db = xb.AloneDram[ob];
        var one = xb.AloneViaOne[ob];
        double Share(double va, double vb) =>
            xa.AloneOption(oa, Math.Max(aWords, da.Words(va)), levelOneOut: true)
            + (bKept ? xb.WithOption(ob, one!.Value.Words(vb)) : xb.AloneOption(ob, Math.Max(bWords, db.Words(vb)), levelOneOut: true));
        if (slope <= 0) return Share(ua, need0);
        double top = Math.Max(ua, (need0 - ub) / slope);
        double least = Share(top, 0);
        for (int j = 0; j < UndecidedGrid && least > 0; j++)
        {
            double lo = ua + (top - ua) * j / UndecidedGrid, hi = ua + (top - ua) * (j + 1) / UndecidedGrid;
            least = Math.Min(least, Share(lo, Need(hi)));
        }
        return least;
    }
}
