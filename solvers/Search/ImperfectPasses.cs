namespace Optimizer.Solvers;

/// <summary>
/// The passes a capacity forces (docs/mapspace.md, "Passes two tensors share"): a tensor A with a decided keeper and a
/// tensor B that the ranks A does not see split into tiles (X: moving ranks that do not index A and are alone in a dimension
/// of B) cannot both take the steps above d their own way. A step that changes X ranks only keeps A's tile; every other
/// step changes a rank that clears A (D: a rank alone in a dimension of A or one whose moves clear it,
/// <see cref="Optimizer.Formulation.TensorIndex.MovesClear"/>), bringing each keeper of A a whole new tile. If B's
/// innermost keeper m holds at most W words, one of its tiles spans at most <c>floor(W / w)</c> positions of X (w: B's words
/// of the smallest tile of d; distinct positions of X hold disjoint words of B), so every position of D is in at least
/// <c>ceil(n_X / floor(W / w))</c> of m's tiles, and A takes at least that many passes over D, less one step per step of m's
/// loops that changes X only; each such step brings B a tile of m again once it has entered every tile of m of B once.
/// </summary>
internal sealed partial class ImperfectBound
{
    /// <summary>Per rank of the state being bounded: whether it has more than one tile of d, its extent (at most the share), and the smallest tile's.</summary>
    private bool[] _passMoving = [];
    private long[] _passExtent = [], _passSmall = [];

    /// <summary>How many ranges <see cref="Undecided"/> cuts s into between the free steps and the most: over a range, A's share at its top plus B's at its bottom (A's only falls with s, B's only grows).</summary>
    private const int PassGrid = 16;

    /// <summary>Fills the per-rank buffers of the state being bounded (<see cref="TilesOf"/> taken); false when no rank has two tiles of d.</summary>
    private bool PassesApply(State s, int d, Tiles tiles)
    {
        if (_passMoving.Length != Ranks) { _passMoving = new bool[Ranks]; _passExtent = new long[Ranks]; _passSmall = new long[Ranks]; }
        bool any = false;
        for (int r = 0; r < Ranks; r++)
        {
            _passMoving[r] = tiles.Count[r] > 1;
            any |= _passMoving[r];
            _passExtent[r] = Math.Min(s.Rem[d][r], _share[r]);
            _passSmall[r] = Math.Min(s.Rem[d][r], tiles.Smallest[r]);
        }
        return any;
    }

    /// <summary>
    /// What the passes add to the separate shares of a case (the innermost loop above d over <paramref name="innermost"/>),
    /// the most over ordered pairs (A, B): A with a decided keeper, B not an output and with none. For B's innermost keeper m
    /// on chip, served by DRAM alone (no level between may keep B), with a capacity W and no fanout down to d, every position
    /// of D lies in at least <c>N = ceil(n_X / floor(W / w))</c> of m's tiles. The tiles of m are visited once each and each
    /// visit runs its positions of d together, so A's whole-tile steps are at least <c>K - s = N P_D - 1 - s</c> and each
    /// position of D is entered N times but s (<see cref="PassWords"/>), where s counts m's steps that change X only. Each of
    /// those brings B a whole tile of m (its X moved clear, at least w words); B's tile of m depends on its boxes of X and of
    /// the ranks of D alone in a dimension of B (<c>n_Z</c> positions) only (D's other ranks must not index B), so beyond the
    /// first entry of each of the at most <c>N n_Z</c> boxes (their words at least B's used words), <c>s - N n_Z</c> of them
    /// bring at least w words again, from DRAM. The least over s of A's share plus B's with DRAM sending it that much, less
    /// their separate shares, is the pair's raise (the least over B's possible innermost keepers: DRAM or a keeper not so,
    /// no raise). The pairs are kept for DRAM's sweeps (<see cref="PointRaise"/>). Fewer boxes of X or more of Z only lower it.
    /// </summary>
    private double Passes(TensorTerms[] terms, State s, int d, Tiles tiles, int innermost)
    {
        double raise = 0;
        _pairCount = 0;
        _dramPairs = false;
        DramPassesCase(s, d, tiles, innermost);
        var tensors = _m.Tensors;
        foreach (var a in tensors)
        {
            var xa = terms[a.Index];
            if (xa.Count == 0) continue;
            foreach (var b in tensors)
            {
                var xb = terms[b.Index];
                if (b.Index == a.Index || b.IsOutput || xb.Count > 0 || !PassRanks(a, b, tiles, out double nx, out double pd, out double nz)) continue;
                double ea = xa.Energy, va = xa.Visits0;
                raise = Math.Max(raise, Undecided(a, xa, b, xb, s, d, tiles, innermost, nx, pd, nz, TensorBound(xa, a, s, d, tiles, innermost)));
                (xa.Energy, xa.Visits0) = (ea, va);
            }
        }
        return raise;
    }

    /// <summary>
    /// The words A's whole-tile steps bring keeper i at least when every position of D is in <paramref name="boxes"/> tiles of
    /// B's keeper and <paramref name="carried"/> of those tiles' steps change X only (<see cref="Passes"/>): each position of D
    /// is entered once per such tile but where a step of X only carries A's tile over, at the words of keeper i's tile there
    /// (the positions' words over all of d's tiles, <see cref="TileSizes"/>, over <see cref="_passX"/>: X does not index A);
    /// the first tile (in the keeper's base) and each carried entry taken at the largest.
    /// </summary>
    private double PassWords(TensorTerms x, int i, double boxes, double carried)
    {
        if (boxes <= 0) return 0;
        var sizes = x.Sizes[i]!;
        double total = 0;
        for (int k = 0; k < x.SizeCount[i]; k++) total += sizes[k].Words * sizes[k].Count;
        return Math.Max(0, boxes * total / _passX - (carried + 1) * sizes[x.SizeCount[i] - 1].Words);
    }

    /// <summary>The positions of X of the pair <see cref="PassWords"/> is weighing.</summary>
    private double _passX = 1;

    /// <summary>The end of range j of [s1, k] (range 0 ends at s1).</summary>
    private static double Cut(double s1, double k, int j) => s1 + Math.Floor((k - s1) * j / PassGrid);

    /// <summary>
    /// The ranges of s <see cref="Ranges"/> weighs with <paramref name="boxes"/> boxes (<paramref name="pd"/> positions of D,
    /// <paramref name="nz"/> of Z): per range its bottom and top (A's share is taken at the top, B's at the bottom), s1 (B's
    /// extra words are <c>max(0, bottom - s1) w</c>), and their count. Every s from 0 to <c>boxes x pd - 1</c> lies in one.
    /// </summary>
    internal static int RangeCuts(double boxes, double pd, double nz, Span<double> lo, Span<double> hi, out double s1)
    {
        double k = boxes * pd - 1;
        s1 = Math.Min(boxes * nz, k);
        int n = 0;
        for (int j = 0; j <= PassGrid; j++)
        {
            if (j > 0 && s1 >= k) break;
            (lo[n], hi[n]) = j == 0 ? (0, s1) : (Cut(s1, k, j - 1), Cut(s1, k, j));
            n++;
        }
        return n;
    }

    /// <summary>How many ranges <see cref="RangeCuts"/> gives at most.</summary>
    internal const int RangeCount = PassGrid + 1;

    /// <summary>
    /// The pair's raise with B undecided (<see cref="Passes"/>), its grid kept for <see cref="PointRaise"/>: per possible
    /// innermost keeper of B, per range of s, A's state at the range's top and DRAM's least words for B at its bottom.
    /// </summary>
    private double Undecided(SearchTensor a, TensorTerms xa, SearchTensor b, TensorTerms xb, State s, int d, Tiles tiles, int innermost,
        double nx, double pd, double nz, double sepA)
    {
        if (_pairs.Length <= _pairCount) Array.Resize(ref _pairs, _pairCount + 4);
        var pair = _pairs[_pairCount] ??= new PassPair(Levels);
        (pair.A, pair.XA, pair.B, pair.XB) = (a, xa, b, xb);
        (pair.SepEnergy, pair.SepVisits) = (xa.Energy, xa.Visits0);
        double small = b.Tile(_passSmall), joint = double.PositiveInfinity;
        bool any = false, xSplit = false;
        for (int r = 0; r < Ranks; r++) xSplit |= _passMoving[r] && !a.IndexedBy[r] && SplitAbove(s, d, r);
        (pair.Nx, pair.Pd, pair.Nz, pair.Small) = (nx, pd, nz, small);
        for (int o = 0; o < xb.AloneCount; o++)
        {
            int m = xb.AloneLevel[o];
            double boxes = m == 0 || !xb.AloneFromDram[o] ? 1 : Boxes(b, s, m, d, nx, small);
            pair.Cuts[o] = 0;
            pair.Boxes[o] = boxes;
            pair.DramSweeps[o] = m != 0 && xb.AloneFromDram[o] && !xSplit && !FanoutBetween(m, d);
            any |= pair.DramSweeps[o];
            _dramPairs |= pair.DramSweeps[o];
            if (boxes <= 1) { joint = Math.Min(joint, sepA + xb.AloneOption(o, 0)); continue; }
            any = true;
            int n = Ranges(a, xa, b, xb, o, s, d, tiles, innermost, nx, pd, nz, small, boxes, pair.Plain[o], pair.Energy[o], pair.Visits[o], pair.Words[o], passWords: true);
            for (int j = 0; j < n; j++) joint = Math.Min(joint, pair.Plain[o][j] + xb.AloneOption(o, pair.Words[o][j]));
            pair.Cuts[o] = n;
        }
        if (any) _pairCount++;
        return double.IsFinite(joint) ? Math.Max(0, joint - sepA - xb.Alone) : 0;
    }

    /// <summary>
    /// The pair's ranges of s (<see cref="Passes"/>) when every position of D is entered in <paramref name="boxes"/> visited
    /// boxes (tiles of B's keeper o, or DRAM's iterations: <see cref="DramPasses"/>): per range, A's share at its top
    /// (<paramref name="plain"/>, with its energy and visits) and DRAM's least words for B at its bottom. Returns the ranges' count.
    /// Without <paramref name="passWords"/> A's words are its whole-tile steps' smallest tiles only (<see cref="PassWords"/>, which
    /// falls as the boxes grow at a given count of entries, is left out: with DRAM's points' counts, at most the grid's, the
    /// share must only grow with the count).
    /// </summary>
    private int Ranges(SearchTensor a, TensorTerms xa, SearchTensor b, TensorTerms xb, int o, State s, int d, Tiles tiles, int innermost,
        double nx, double pd, double nz, double small, double boxes, double[] plain, double[] energy, double[] visits, double[] words, bool passWords)
    {
        double k = boxes * pd - 1, dense = _cost.PlanDensePartition(b, s, xb.AloneLevel[o]);
        var dram = xb.AloneDram[o];
        Span<double> los = stackalloc double[RangeCount], his = stackalloc double[RangeCount];
        int n = RangeCuts(boxes, pd, nz, los, his, out double s1);
        for (int j = 0; j < n; j++)
        {
            _passX = nx;
            plain[j] = TensorBound(xa, a, s, d, tiles, innermost, k - his[j], passWords ? boxes : 0, his[j]);
            (energy[j], visits[j]) = (xa.Energy, xa.Visits0);
            words[j] = dram.Words(dense + Math.Max(0, los[j] - s1) * small);
        }
        return n;
    }

    /// <summary>Whether a level from m to d - 1 has a fanout (m's instances are then not d's).</summary>
    private bool FanoutBetween(int m, int d)
    {
        for (int l = m; l < d; l++) if (_m.Storage[l].Fanout.Size != 1) return true;
        return false;
    }

    /// <summary>
    /// <see cref="Undecided"/>'s raise in one of DRAM's cases (a keep set of level 1 and a point of <see cref="ImperfectDramSweeps"/>):
    /// B not kept by level 1, DRAM sends it at least the point's words and at least the grid's; A's share is its share in the
    /// point (level 1 keeps it, or DRAM sends it the point's words) at each range's steps. The most over the kept pairs.
    /// </summary>
    private double PointRaise(int keep, double[] point)
    {
        double raise = 0;
        for (int i = 0; i < _pairCount; i++)
        {
            var pair = _pairs[i];
            var (xa, xb) = (pair.XA, pair.XB);
            if ((keep & pair.B.Bit) != 0) continue;
            bool kept = (keep & pair.A.Bit) != 0;
            double aWords = point[1 + pair.A.Index], bWords = point[1 + pair.B.Index];
            double ea = xa.Energy, va = xa.Visits0;
            (xa.Energy, xa.Visits0) = (pair.SepEnergy, pair.SepVisits);
            double sepA = kept ? xa.With() : xa.Without(aWords), sepB = xb.Without(bWords), joint = double.PositiveInfinity;
            double sweeps = ImperfectDramSweeps.Sweeps(point, pair.A.Index);
            for (int o = 0; o < xb.AloneCount && joint > sepA + sepB; o++)
            {
                if (xb.AloneLevel[o] == 1) continue;
                double option = pair.Cuts[o] == 0 ? sepA + xb.AloneOption(o, bWords)
                    : LeastOverRanges(xa, xb, o, pair.Cuts[o], pair.Energy[o], pair.Visits[o], pair.Words[o], kept, aWords, bWords);
                // DRAM's iterations as the boxes, when they are more than B's keeper's tiles (both hold: the larger).
                if (pair.DramSweeps[o] && sweeps > Math.Max(1, pair.Boxes[o]))
                    option = Math.Max(option, DramPasses(i, o, sweeps, kept, aWords, bWords));
                joint = Math.Min(joint, option);
            }
            (xa.Energy, xa.Visits0) = (ea, va);
            if (double.IsFinite(joint)) raise = Math.Max(raise, joint - sepA - sepB);
        }
        return raise;
    }

    /// <summary>
    /// The least over a pair's <paramref name="count"/> ranges (<see cref="Ranges"/>: A's energy and visits, DRAM's words for B) of
    /// A's share in a case of DRAM's sweeps (kept by level 1, or sent <paramref name="aWords"/>) plus B's with its innermost
    /// keeper option o, sent at least <paramref name="bWords"/>. Leaves A's terms at the last range's.
    /// </summary>
    private static double LeastOverRanges(TensorTerms xa, TensorTerms xb, int o, int count, double[] energy, double[] visits, double[] words,
        bool kept, double aWords, double bWords)
    {
        double least = double.PositiveInfinity;
        for (int j = 0; j < count; j++)
        {
            (xa.Energy, xa.Visits0) = (energy[j], visits[j]);
            least = Math.Min(least, (kept ? xa.With() : xa.Without(aWords)) + xb.AloneOption(o, Math.Max(bWords, words[j])));
        }
        return least;
    }

    /// <summary>A pair with B undecided kept by <see cref="Undecided"/> for <see cref="PointRaise"/>: per option of B (up to the levels) and range (<see cref="PassGrid"/> + 1).</summary>
    private sealed class PassPair(int levels)
    {
        public SearchTensor A = null!, B = null!;
        public TensorTerms XA = null!, XB = null!;
        public double SepEnergy, SepVisits, Nx, Pd, Nz, Small;
        public readonly int[] Cuts = new int[levels];
        /// <summary>Per option of B: its keeper's boxes, and whether DRAM's iterations may stand as the boxes (<see cref="DramPasses"/>).</summary>
        public readonly double[] Boxes = new double[levels];
        public readonly bool[] DramSweeps = new bool[levels];
        public readonly double[][] Plain = Grid(levels), Energy = Grid(levels), Visits = Grid(levels), Words = Grid(levels);

        private static double[][] Grid(int levels) => Enumerable.Range(0, levels).Select(_ => new double[PassGrid + 1]).ToArray();
    }

    private PassPair[] _pairs = [];
    private int _pairCount;

    /// <summary>
    /// The products of the moving ranks' tile counts of d in X (ranks that do not index A, each alone in a dimension of B),
    /// in D (ranks that clear A) and in D's ranks alone in a dimension of B; false when a moving rank is in neither, when a
    /// rank of D indexes B otherwise, or when X has one position.
    /// </summary>
    private bool PassRanks(SearchTensor a, SearchTensor b, Tiles tiles, out double nx, out double pd, out double nz)
    {
        nx = pd = nz = 1;
        _passXRank = -1;
        for (int r = 0; r < Ranks; r++)
        {
            if (!_passMoving[r]) continue;
            double n = tiles.Count[r];
            if (!a.IndexedBy[r])
            {
                if (!b.PlainDimRank[r]) return false;
                _passXRank = nx == 1 ? r : -2;
                nx *= n;
                continue;
            }
            if (!a.PlainDimRank[r] && !a.Dims.MovesClear(r, _passExtent, _passMoving)) return false;
            pd *= n;
            if (b.PlainDimRank[r]) nz *= n;
            else if (b.IndexedBy[r]) return false;
        }
        return nx > 1;
    }

    /// <summary>
    /// The least count of the boxes of X that tiles of an undecided innermost keeper m of b cut: <c>ceil(n_X / floor(W / w))</c>
    /// with W m's capacity and w b's words of the smallest tile of d; with one rank in X, <c>ceil(n_X / floor(W / w'))</c> with
    /// w' the words with that rank's tile of d whole (m's first tile, which must fit, spans F whole ones unless the bound clips
    /// it, and then it holds every position: 1 box when W allows that). 1 (no raise) when m has no capacity or a fanout lies
    /// between m and d (its instances would not be d's).
    /// </summary>
    private double Boxes(SearchTensor b, State s, int m, int d, double nx, double small)
    {
        if (_m.Storage[m].Capacity is not { } cap) return 1;
        for (int l = m; l < d; l++) if (_m.Storage[l].Fanout.Size != 1) return 1;
        double span = Math.Floor(cap / small);
        if (_passXRank >= 0)
        {
            // One rank in X, alone in its dimension of b: m's tile spans F of d's extents along it, clipped to the bound, and
            // holds F times the words of a whole tile of d there, unless clipped: then it spans every position (n_X - 1
            // whole ones and the last).
            long last = _passSmall[_passXRank];
            _passSmall[_passXRank] = _passExtent[_passXRank];
            double whole = b.Tile(_passSmall);
            _passSmall[_passXRank] = last;
            span = cap >= (nx - 1) * whole + small ? nx : Math.Floor(cap / whole);
            // Split spatially above m, the rank keeps every span below that split a divisor of its share (the checker's
            // SpatialRemainder): m's tile and d's divide it, so m's tiles are whole runs of the same number of d's tiles, a
            // divisor of n_X (docs/mapspace.md, "Passes under a spatial split").
            if (span >= 1 && span < nx && SplitAbove(s, m, _passXRank) && _passSmall[_passXRank] == _passExtent[_passXRank] && nx == Math.Floor(nx))
            {
                long n = (long)nx, most = 1;
                for (long f = 1; f <= span; f++) if (n % f == 0) most = f;
                return n / most;
            }
        }
        return span < 1 ? nx : Math.Ceiling(nx / span);
    }

    /// <summary>Whether a fanout above level m (at a level before it) splits rank r.</summary>
    private static bool SplitAbove(State s, int m, int r)
    {
        for (int l = 0; l < m; l++) if (s.Spatial(l, r) > 1) return true;
        return false;
    }

    /// <summary>The one rank of X of the pair being weighed (<see cref="PassRanks"/>), or -2 when X has several.</summary>
    private int _passXRank = -1;
}
