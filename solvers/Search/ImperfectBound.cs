namespace Optimizer.Solvers;

/// <summary>
/// The bound of the inner-first search over the imperfect mapspace (docs/mapspace.md, "Imperfect factors: the branch and
/// bound"): for a node whose levels d and below are decided under its spatial plan, each tensor's decided keepers with
/// their visits at least the first tile, what the decided levels' steps bring in every tile of level d (exact, each level
/// at its best order for that tensor: <see cref="ImperfectOrders.RecordInnerVisits"/>), and a whole tile at every step
/// above d that must bring one, k such steps at least the k smallest first tiles over the tiles of d (<see cref="TileSizes"/>); the cheapest parent the outermost keeper could still
/// have; for a tensor no decided level keeps, the compute units' accesses at the cheapest level that could keep it. The
/// perfect search's terms that assume every tile full (<see cref="InnerBound"/>'s forced refetch and the outer bound)
/// are replaced by weaker ones valid for partial tiles. Not thread-safe: it reuses its buffers and keeps the links of the
/// plan it last bounded (one instance per search, one thread).
/// </summary>
internal sealed partial class ImperfectBound(SearchProblem problem, ArrayCostModel cost, InnerBound inner, ImperfectOrders orders, LevelEnumeration? levels = null) : SearchPart(problem)
{
    /// <summary>
    /// With a level enumeration, nodes whose level 1 is undecided are bounded per keep set of level 1 with level 1's fills
    /// from DRAM that its capacity forces (<see cref="ImperfectDramSweeps"/>, made on the first such bound); without, as
    /// before (the shape search).
    /// </summary>
    private readonly LevelEnumeration? _levels = levels;
    private ImperfectDramSweeps? _sweeps;
    private bool _sweepsMade;
    private int[] _levelOneKeeps = [];

    private readonly ArrayCostModel _cost = cost;
    private readonly InnerBound _inner = inner;
    private readonly ImperfectOrders _orders = orders;

    /// <summary>What level d's tiles are: per rank how many of them one instance covers, the smallest one's extent, and their count in all.</summary>
    private readonly record struct Tiles(long[] Count, long[] Smallest, double Total);

    private Tiles TilesOf(State s, int d)
    {
        var share = _orders.Share(s, d, _share);
        var count = _tileCount;
        var smallest = _tileSmallest;
        double total = 1;
        for (int r = 0; r < Ranks; r++)
        {
            long e = s.Rem[d][r];
            count[r] = (share[r] + e - 1) / e;
            smallest[r] = share[r] - (count[r] - 1) * e;
            total *= count[r];
        }
        return new Tiles(count, smallest, total);
    }

    /// <summary>The buffers of <see cref="TilesOf"/> (reused: one search, one thread; a bound reads one state's tiles at a time).</summary>
    private readonly long[] _share = new long[problem.Ranks], _tileCount = new long[problem.Ranks], _tileSmallest = new long[problem.Ranks];

    /// <summary>
    /// A lower bound on the energy of every completion of an inner-first state whose levels d (at least 1) and below are
    /// decided. The innermost loop above d runs over some rank r with more than one tile of d left, or none is left
    /// (one tile of d: nothing above steps); the bound is the least over those cases of the tensors' sum. Only the whole
    /// tiles the steps above d bring depend on that rank (<see cref="WholeTileSteps"/>): each tensor's other terms are
    /// taken once (<see cref="TensorTerms"/>) and summed per case.
    /// </summary>
    public double Bound(State s, int d, double cutoff = double.PositiveInfinity)
    {
        var tiles = TilesOf(s, d);
        var terms = _terms;
        foreach (var t in _m.Tensors) Terms(terms[t.Index], t, s, d, tiles);
        _passes = false;
        _pairCount = 0;
        _sharedCount = 0;
        double plain = Least(terms, s, d, tiles, null);
        if (_m.MacEnergy + plain >= cutoff) return _m.MacEnergy + plain;
        // DRAM's sweeps, the passes and the shared steps only raise the bound: weighed for the nodes the plain bound does not prune.
        var sweeps = d < 2 ? null : Sweeps(s);
        _passes = _levels is not null && PassesApply(s, d, tiles);
        if (sweeps is null && !_passes) return _m.MacEnergy + plain;
        double least = Least(terms, s, d, tiles, sweeps);
        // With level 1's tile at least what the plan's fanouts span (the larger: both hold).
        if (sweeps is not null && _m.MacEnergy + least < cutoff && PlanSweeps(s) is { } planned)
            least = Math.Max(least, Least(terms, s, d, tiles, planned));
        // Over the decided tiles too where the capacities' sweeps do not prune (the larger: a merged front may lie lower somewhere).
        if (sweeps is null || _m.MacEnergy + least >= cutoff || SweepsHeld(s, d) is not { } held) return _m.MacEnergy + least;
        least = Math.Max(least, Least(terms, s, d, tiles, held));
        // Over the decided tiles with level 1's tile at least the plan's spans too (both hold of every completion; the larger stands).
        if (_m.MacEnergy + least >= cutoff || SweepsHeldPlanned(s) is not { } heldPlanned) return _m.MacEnergy + least;
        double both = Least(terms, s, d, tiles, heldPlanned);
        if (both > least) HeldPlannedRaises++;
        return _m.MacEnergy + Math.Max(least, both);
    }

    /// <summary>How many bounds the held-and-spans sets (<see cref="SweepsHeldPlanned"/>) raised over the stages before them (a count for the tests).</summary>
    public long HeldPlannedRaises { get; private set; }

    /// <summary>Whether <see cref="Case"/> adds <see cref="Passes"/> or <see cref="SharedSteps"/> (the bound being taken, after its plain sum did not prune).</summary>
    private bool _passes;

    /// <summary>The least over the rank of the innermost loop above d (none when one tile of d is left) of <see cref="Case"/>.</summary>
    private double Least(TensorTerms[] terms, State s, int d, Tiles tiles, ImperfectDramSweeps? sweeps)
    {
        double best = double.PositiveInfinity;
        bool any = false;
        for (int r = 0; r < Ranks; r++)
        {
            if (tiles.Count[r] <= 1) continue;
            any = true;
            best = Math.Min(best, Case(terms, s, d, tiles, r, sweeps));
        }
        return any ? best : Case(terms, s, d, tiles, -1, sweeps);
    }

    /// <summary>
    /// The tensors' sum when the innermost loop above d runs over <paramref name="innermost"/>, each tensor at its cheapest
    /// parent; and with level 1 undecided and <paramref name="sweeps"/>, at least the least over level 1's keep sets K and
    /// DRAM's cases (<see cref="ImperfectDramSweeps"/>) of: the tensors in K served (or read) by a level from 1 down plus
    /// Q (level 1's fills and DRAM's side for them, in place of their DRAM floors), and each other tensor served by any
    /// level but 1 with at least B_t words from DRAM (docs/mapspace.md, "DRAM's sweeps").
    /// </summary>
    private double Case(TensorTerms[] terms, State s, int d, Tiles tiles, int innermost, ImperfectDramSweeps? sweeps)
    {
        double sum = 0;
        foreach (var t in _m.Tensors) sum += TensorBound(terms[t.Index], t, s, d, tiles, innermost);
        // The passes and the shared steps both raise a decided tensor's share over its separate one: the more of the two, never their sum.
        if (_passes) sum += Math.Max(Passes(terms, s, d, tiles, innermost), SharedSteps(terms, s, d, tiles, innermost));
        if (sweeps is null) return sum;
        double value = CasePoints(terms, s, d, tiles, innermost, sweeps, sum, passPoints: false);
        // The passes over DRAM's iterations weigh the points that keep the grids' sweeps' counts apart (ImperfectPassesDram): a second least, the larger stands.
        if (_passes && _dramPairs) value = Math.Max(value, CasePoints(terms, s, d, tiles, innermost, sweeps, value, passPoints: true));
        // Level 1 sending its kept operands down again per DRAM iteration (ResendPoints): a third least, the larger stands.
        return ResendsApply(sweeps) ? Math.Max(value, ResendPoints(terms, s, d, sweeps, value)) : value;
    }

    /// <summary>Whether some keep set of level 1 has points with level-1 reads (<see cref="ImperfectDramSweeps.ResendPoints"/>).</summary>
    private bool ResendsApply(ImperfectDramSweeps sweeps)
    {
        foreach (int keep in _levelOneKeeps) if (sweeps.ResendPoints(keep).Length > 0) return true;
        return false;
    }

    /// <summary>
    /// The least over level 1's keep sets and <see cref="ImperfectDramSweeps.ResendPoints"/> of the case's sum in that point with
    /// each tensor in the keep set taking level 1's reads at least the point's words of it (<see cref="TensorTerms.With"/>; no
    /// raise of the passes or the shared steps, which weigh level 1's reads at the keepers' visits: they would count them twice),
    /// at least <paramref name="floor"/> (returned as soon as the least falls to it). A keep set with no such points takes its
    /// plain points.
    /// </summary>
    private double ResendPoints(TensorTerms[] terms, State s, int d, ImperfectDramSweeps sweeps, double floor)
    {
        double least = double.PositiveInfinity, read = _m.Storage[1].ReadEnergy;
        foreach (int keep in _levelOneKeeps)
        {
            bool fits = true;
            foreach (var t in _m.Tensors) if ((keep & t.Bit) != 0) fits &= _inner.CanKeepAbove(t, s, 1, d);
            if (!fits) continue;
            var resend = sweeps.ResendPoints(keep);
            bool plain = resend.Length == 0;
            foreach (var point in plain ? sweeps.Points(keep) : resend)
            {
                double k = point[0];
                foreach (var t in _m.Tensors)
                    k += (keep & t.Bit) != 0 ? terms[t.Index].With(plain ? 0 : point[1 + t.Index], read) : terms[t.Index].Without(point[1 + t.Index]);
                least = Math.Min(least, k);
                if (least <= floor) return floor;
            }
        }
        return double.IsPositiveInfinity(least) ? floor : Math.Max(floor, least);
    }

    /// <summary>
    /// The least over level 1's keep sets and DRAM's points (<see cref="ImperfectDramSweeps.Points"/>, or with
    /// <paramref name="passPoints"/> <see cref="ImperfectDramSweeps.PassPoints"/>, each raised by <see cref="PointRaise"/>) of
    /// the case's sum in that point, raised too by the pairs no decided level and not level 1 keep (<see cref="UndecidedPairRaise"/>;
    /// the most of the raises, never a sum), at least <paramref name="floor"/> (returned as soon as the least falls to it).
    /// </summary>
    private double CasePoints(TensorTerms[] terms, State s, int d, Tiles tiles, int innermost, ImperfectDramSweeps sweeps, double floor, bool passPoints)
    {
        double least = double.PositiveInfinity;
        foreach (int keep in _levelOneKeeps)
        {
            double with = 0;
            bool fits = true;
            foreach (var t in _m.Tensors)
                if ((keep & t.Bit) != 0)
                {
                    fits &= _inner.CanKeepAbove(t, s, 1, d);
                    with += terms[t.Index].With();
                }
            if (!fits) continue;
            foreach (var point in passPoints ? sweeps.PassPoints(keep) : sweeps.Points(keep))
            {
                double k = with + point[0];
                foreach (var t in _m.Tensors) if ((keep & t.Bit) == 0) k += terms[t.Index].Without(point[1 + t.Index]);
                // Each raise lifts the shares of the tensors it pairs, which another pair may share: the most of them, never a sum.
                double undecided = k < least ? UndecidedPairRaise(terms, s, d, keep, point) : 0;
                if (passPoints) k += Math.Max(PointRaise(keep, point), undecided);
                else if (_passes && (_pairCount > 0 || _sharedCount > 0) && k > floor)
                    k += Math.Max(undecided, Math.Max(_pairCount > 0 ? PointRaise(keep, point) : 0, SharedPointRaise(terms, s, d, tiles, innermost, keep, point)));
                else k += undecided;
                least = Math.Min(least, k);
                if (least <= floor) return floor;
            }
        }
        // No keep set of level 1 is open (not with the search's problems, which allow it to keep nothing): the floor.
        return double.IsPositiveInfinity(least) ? floor : Math.Max(floor, least);
    }

    /// <summary>
    /// DRAM's sweeps with level 1's tile at least the spans the node's plan fixes (<see cref="ImperfectDramSweeps.LevelOneLeast"/>),
    /// made once per distinct span vector, at most <see cref="MaxPlanSweeps"/> of them per search (then none: the plain sweeps stand).
    /// </summary>
    private ImperfectDramSweeps? PlanSweeps(State s)
    {
        if (_levels is null || s.Plan is null || !ReferenceEquals(_sweepsPlan, s.Plan)) _sweepsPlanKey = PlanSweepsKey(s);
        if (_sweepsPlanKey is not { } key || !UsesPlanSweeps) return null;
        if (_planSweeps.TryGetValue(key.Key, out var made)) return made;
        if (!MakesPlanSweeps || _planSweeps.Count >= MaxPlanSweeps) return null;
        made = ImperfectDramSweeps.Create(_m, _cost, _levels!, s, least: key.Least, resends: WeighsResends, stop: Stop);
        if (made is null && StopAnswered) return null;
        _planSweeps[key.Key] = made;
        return made;
    }

    private (string Key, long[] Least)? PlanSweepsKey(State s)
    {
        _sweepsPlan = s.Plan;
        if (_levels is null || s.Plan is null || ImperfectDramSweeps.LevelOneLeast(_m, s) is not { } least) return null;
        return (string.Join(",", least), least);
    }

    /// <summary>
    /// Whether a bound may make the sweeps of a span vector, or of a set of decided tiles' H (<see cref="SweepsHeld"/>), not
    /// made yet (true by default). The search lists its plans' roots with it false, so the slots (<see cref="MaxPlanSweeps"/>,
    /// <see cref="MaxHeldSweeps"/>) go to the plans in the order they are searched: each root is bounded again with it true
    /// just before its descent (<see cref="ImperfectSearch"/>).
    /// </summary>
    public bool MakesPlanSweeps { get; set; } = true;

    /// <summary>
    /// Whether DRAM's cases carry level 1's reads of its kept operands (<see cref="ImperfectDramSweeps.ResendWords"/>, rounded
    /// down by <see cref="ImperfectDramSweeps.ResendSteps"/>, weighed by <see cref="ResendPoints"/>). On by default; off only in
    /// tests (the bound without them, to show what they add).
    /// </summary>
    public bool WeighsResends { get; set; } = true;

    /// <summary>
    /// The search's clock (its run's stop rule; null: none, the tests' bounds): every pass over DRAM's cases this bound
    /// makes asks it as it goes (<see cref="ImperfectDramSweeps.Create"/>) and ends when it answers true, so a search stops
    /// within one check of its time limit (branch im21ai: a held-and-spans pass made late ran a 60 s search to 74 s). A pass
    /// so ended is not kept: the bound takes what it had without it (a lower bound too).
    /// </summary>
    public Func<bool>? Stop { get; set; }

    /// <summary>Whether <see cref="Stop"/> answers true (a pass that returned null then ended early, not for want of cases).</summary>
    private bool StopAnswered => Stop?.Invoke() == true;

    /// <summary>Whether a bound weighs the plan sweeps at all (true by default; the search's dives descend without them).</summary>
    public bool UsesPlanSweeps { get; set; } = true;

    /// <summary>At most this many span vectors get their own sweeps in one search (each a pass over DRAM's cases).</summary>
    private const int MaxPlanSweeps = 8;
    private readonly Dictionary<string, ImperfectDramSweeps?> _planSweeps = new();
    private SpatialPlan? _sweepsPlan;
    private (string Key, long[] Least)? _sweepsPlanKey;

    private ImperfectDramSweeps? Sweeps(State s)
    {
        if (_levels is null) return null;
        if (!_sweepsMade)
        {
            _sweeps = ImperfectDramSweeps.Create(_m, _cost, _levels, s, resends: WeighsResends, stop: Stop);
            _levelOneKeeps = _levels.KeepOptions(1).Distinct().ToArray();
            _sweepsMade = _sweeps is not null || !StopAnswered;
        }
        return _sweeps;
    }

    /// <summary>
    /// How many of the steps above d bring keeper c a whole new tile of t, at least, when the innermost loop above d runs over
    /// <paramref name="innermost"/> (-1: unknown). A step above d goes from one tile of d to the next, and every decided loop
    /// rewinds. When a rank alone indexing a dimension of t changes its tile of d, the two tiles of c lie in disjoint ranges
    /// of that dimension, so the new one is all new; the tiles of d differ in those ranks at least (their product of counts
    /// - 1) times. When the innermost loop above d runs over such a rank r, every step changes r except the steps out of a
    /// run of that loop that had one iteration, which only happens at r's last tile of d: at most a 1/count of the tiles
    /// (none when d = 1: DRAM's one loop over r then covers every tile of r, so it always runs all of its iterations). A
    /// decided loop over such a rank q with a factor above 1 runs all its iterations in every tile of d as long in q as the
    /// first one, so a step out of such a tile that keeps q's tile rewinds q by at least its stride, further than c's extent.
    /// </summary>
    private static double WholeTileSteps(SearchTensor t, State s, int d, int c, Tiles tiles, int innermost)
    {
        double plain = 1;
        for (int r = 0; r < t.PlainDimRank.Length; r++) if (t.PlainDimRank[r]) plain *= tiles.Count[r];
        double steps = plain - 1;
        // With DRAM alone above d (one loop per rank, the innermost over r running all its iterations every time), every step changes r.
        if (innermost >= 0 && t.PlainDimRank[innermost])
            steps = Math.Max(steps, d == 1 ? tiles.Total - 1 : tiles.Total - 1 - tiles.Total / tiles.Count[innermost]);
        for (int q = 0; q < t.PlainDimRank.Length; q++)
        {
            if (!t.PlainDimRank[q]) continue;
            bool rewinds = false;
            for (int b = d; b < c && !rewinds; b++) rewinds = s.Choice[b]!.Temporal[q] > 1;
            if (!rewinds) continue;
            double full = tiles.Smallest[q] == s.Rem[d][q] ? tiles.Count[q] : tiles.Count[q] - 1;
            steps = Math.Max(steps, full * (tiles.Total / tiles.Count[q]) - 1);
        }
        return Math.Max(0, steps);
    }

    /// <summary>
    /// What one tensor's share of <see cref="Bound"/> needs besides the steps above d: its decided keepers (outermost
    /// first), per keeper the visits without those steps (its first tile and what the decided levels
    /// bring), the words of the smallest whole tile a step brings, the words its MACs use, its fill energy per word and
    /// floor; the links between consecutive keepers, the last one's to the compute units, and the first one's from every
    /// level above d that could still be its parent. For a tensor no decided level keeps, its whole share (<c>Alone</c>).
    /// </summary>
    private sealed class TensorTerms(int levels)
    {
        public int Count, ParentCount;
        public readonly int[] Keepers = new int[levels];
        public readonly double[] Base = new double[levels], Dense = new double[levels], Fill = new double[levels], Floor = new double[levels];
        /// <summary>Per keeper, the words of its first tile over the positions of level d's tiles, smallest first, with how many positions have each (<see cref="TileSizes"/>).</summary>
        public readonly (double Words, double Count)[][] Sizes = new (double, double)[levels][];
        public readonly int[] SizeCount = new int[levels];
        public readonly VisitLink[] Links = new VisitLink[levels];
        public VisitLink Last;
        public readonly VisitLink[] Parents = new VisitLink[levels];
        public readonly double[] ParentExtra = new double[levels];
        /// <summary>Per parent on chip, its fills of the words the MACs under each of its instances use (<see cref="FillFloor"/>; 0 for DRAM).</summary>
        public readonly double[] ParentFill = new double[levels];
        /// <summary>Per parent on chip, whether DRAM must serve it (no level between may keep the tensor).</summary>
        public readonly bool[] ParentFromDram = new bool[levels];
        public readonly int[] ParentLevel = new int[levels];
        /// <summary>Per parent on chip, the link from DRAM to it (its fills from DRAM).</summary>
        public readonly VisitLink[] ParentDram = new VisitLink[levels];
        public double Alone;
        /// <summary>For a tensor no decided level keeps: per level that may be its innermost keeper, the compute units' accesses there and the link from DRAM to it.</summary>
        public int AloneCount;
        public readonly int[] AloneLevel = new int[levels];
        public readonly double[] AloneDirect = new double[levels];
        /// <summary>Per such level on chip, its fills of the words the MACs under each of its instances use (<see cref="FillFloor"/>).</summary>
        public readonly double[] AloneFill = new double[levels];
        /// <summary>Per such level on chip, whether DRAM must serve it (no level between may keep the tensor).</summary>
        public readonly bool[] AloneFromDram = new bool[levels];
        public readonly VisitLink[] AloneDram = new VisitLink[levels];
        /// <summary>The case <see cref="TensorBound"/> last weighed: the energy without the parent, and the outermost keeper's visits.</summary>
        public double Energy, Visits0;

        /// <summary>
        /// The share when level 1 keeps the tensor: its parent (or innermost keeper) a level from 1 down, its DRAM side left to
        /// <see cref="ImperfectDramSweeps"/>; level 1 reading at least <paramref name="levelOneWords"/> words of it
        /// (<see cref="ImperfectDramSweeps.ResendWords"/>; <paramref name="read"/> its read energy per word). Where the compute
        /// units read level 1, those reads are taken at least that. Where level 1 is the parent of the keeper below it (the
        /// outermost decided keeper, or the innermost keeper when no level between may keep the tensor), every word it reads
        /// crosses the network to that keeper and fills it (perWord parent words per visit word, <see cref="VisitLink"/>): the
        /// keeper's visits are at least the words over perWord, costed with their fills and the network (branch im21aj; before,
        /// those words were costed at level 1's read energy alone). Where the parent is a level between, level 1's reads are
        /// added at their read energy.
        /// </summary>
        public double With(double levelOneWords = 0, double read = 0)
        {
            double best = double.PositiveInfinity, levelOne = read * levelOneWords;
            if (Count == 0)
            {
                for (int a = 0; a < AloneCount; a++) best = Math.Min(best, WithOption(a, levelOneWords, read));
                return best;
            }
            for (int p = 0; p < ParentCount; p++)
                if (ParentLevel[p] == 1)
                    best = Math.Min(best, Parents[p].WordsEnergy(Math.Max(Parents[p].Words(Visits0), levelOneWords)) + FirstFill * Math.Max(0, levelOneWords / Parents[p].Words(1) - Visits0));
                else if (ParentLevel[p] > 1) best = Math.Min(best, Parents[p].ParentEnergy(Visits0) + ParentFill[p] + levelOne);
            return Energy + best;
        }

        /// <summary>
        /// <see cref="With"/> for a tensor no decided level keeps, with its innermost keeper the a-th level that may be
        /// (<see cref="AloneLevel"/>; DRAM: infinite, level 1 keeps the tensor).
        /// </summary>
        public double WithOption(int a, double levelOneWords = 0, double read = 0)
        {
            double levelOne = read * levelOneWords;
            if (AloneLevel[a] == 1) return Math.Max(AloneDirect[a], levelOne);
            if (AloneLevel[a] > 1 && AloneViaOne[a] is { } one)
                return AloneDirect[a] + Math.Max(AloneFill[a], one.FillEnergy(levelOneWords / one.Words(1))) + Math.Max(AloneParentWith[a], one.WordsEnergy(levelOneWords));
            if (AloneLevel[a] > 1) return AloneDirect[a] + AloneFill[a] + Math.Max(AloneParentWith[a], levelOne);
            return double.PositiveInfinity;
        }

        /// <summary>Per level that may be the innermost keeper (on chip, below 1), the link from level 1 to it when no level between may keep the tensor (level 1, keeping it, is then its parent); null otherwise.</summary>
        public readonly VisitLink?[] AloneViaOne = new VisitLink?[levels];

        /// <summary>The share when level 1 does not keep the tensor and DRAM sends it at least <paramref name="words"/> words.</summary>
        public double Without(double words)
        {
            double best = double.PositiveInfinity;
            if (Count == 0)
            {
                for (int a = 0; a < AloneCount; a++) if (AloneLevel[a] != 1) best = Math.Min(best, AloneOption(a, words, levelOneOut: true));
                return best;
            }
            for (int p = 0; p < ParentCount; p++)
            {
                int m = ParentLevel[p];
                if (m == 1) continue;
                // DRAM reads perWord x the visits of the keeper it serves: sending `words`, it fills that keeper with at least words / perWord.
                best = Math.Min(best, m == 0
                    ? Parents[p].WordsEnergy(Math.Max(Parents[p].Words(Visits0), words)) + FirstFill * Math.Max(0, words / Parents[p].Words(1) - Visits0)
                    : Parents[p].ParentEnergy(Visits0) + Math.Max(ParentExtra[p], ParentDram[p].WordsEnergy(words)) + FillFrom(ParentFill[p], ParentFromDram[p], ParentDram[p], words));
            }
            return Energy + best;
        }

        /// <summary>
        /// A tensor no decided level keeps, with its innermost keeper the a-th level that may be (<see cref="AloneLevel"/>), when
        /// DRAM sends it at least <paramref name="words"/> words: that level's accesses, DRAM's words and that level's fills
        /// (0 words: the share <see cref="Alone"/> takes for that level).
        /// </summary>
        /// <remarks>
        /// The level's parent reads (and the network words between) at least its fills' floor, perWord x the words the MACs
        /// under each instance use (branch im21r, docs/mapspace.md "An undecided keeper's parent"): when DRAM is its parent,
        /// DRAM sends at least those words; when an on-chip level l is, l reads at least as many (the least over the levels
        /// that may be it). With <paramref name="levelOneOut"/> level 1 is known not to keep the tensor (<see cref="Without"/>),
        /// so only the levels from 2 may be the on-chip parent.
        /// </remarks>
        public double AloneOption(int a, double words, bool levelOneOut = false)
        {
            if (AloneLevel[a] == 0) return AloneDirect[a];
            double onChip = levelOneOut ? AloneParentBelowOne[a] : AloneParentOnChip[a];
            // DRAM its parent: DRAM sends at least the fills' floor's words, and fills the level with at least what it sends / perWord.
            double w = Math.Max(words, AloneDenseWords[a]);
            double fromDram = Math.Max(Floor0, AloneDram[a].WordsEnergy(w)) + FillFrom(AloneFill[a], true, AloneDram[a], w);
            // An on-chip parent (when one may be): its reads, and DRAM's words and the fills as before.
            double between = double.IsPositiveInfinity(onChip) ? double.PositiveInfinity
                : Math.Max(Floor0, AloneDram[a].WordsEnergy(words)) + AloneFill[a] + onChip;
            return AloneDirect[a] + Math.Min(fromDram, between);
        }

        /// <summary>Per such level on chip (an operand's), DRAM's words when DRAM fills each instance with the words its MACs use (0 for an output).</summary>
        public readonly double[] AloneDenseWords = new double[levels];
        /// <summary>Per such level on chip, the least reads (and network) of an on-chip level that may be its parent, serving each instance the words its MACs use: from level 1, from level 2 (infinite when none may; 0 for an output), and with level 1 keeping the tensor.</summary>
        public readonly double[] AloneParentOnChip = new double[levels], AloneParentBelowOne = new double[levels], AloneParentWith = new double[levels];

        /// <summary>Every used word once from DRAM (the floor of a tensor served on chip).</summary>
        public double Floor0;

        /// <summary>
        /// The fills of an on-chip level that DRAM serves (no level between may keep the tensor) when DRAM sends it
        /// <paramref name="words"/>: DRAM reads perWord x that level's visits, so it takes in at least words / perWord; at least
        /// <paramref name="floor"/> (its used words) in any case.
        /// </summary>
        private static double FillFrom(double floor, bool fromDram, VisitLink dram, double words)
            => fromDram ? Math.Max(floor, dram.FillEnergy(words / dram.Words(1))) : floor;

        /// <summary>What one more visit word of the outermost decided keeper costs in fills over its instances (0 for an output, whose first writes are no fills).</summary>
        public double FirstFill;
    }

    /// <summary>Per tensor, the terms of the state <see cref="Bound"/> is bounding (reused: one search, one thread).</summary>
    private readonly TensorTerms[] _terms = Enumerable.Range(0, problem.TensorCount).Select(_ => new TensorTerms(problem.Levels)).ToArray();

    /// <summary>
    /// The links between two levels for a tensor (<see cref="VisitLink"/>) read the plan and the shape alone (the instances
    /// used, the multicast factors, the hops, the words each instance touches), so they are kept per plan's facts
    /// (<see cref="ArrayCostModel.Facts"/>, one object per plan and shape) and made once: <c>[(tensor x levels + l) x
    /// (levels + 1) + c]</c>.
    /// </summary>
    private PlanFacts? _linksOf;
    private readonly VisitLink[] _links = new VisitLink[problem.TensorCount * problem.Levels * (problem.Levels + 1)];
    private readonly bool[] _linked = new bool[problem.TensorCount * problem.Levels * (problem.Levels + 1)];

    private VisitLink Link(SearchTensor t, State s, int l, int c)
    {
        var facts = _cost.Facts(s);
        if (!ReferenceEquals(_linksOf, facts)) { _linksOf = facts; Array.Clear(_linked); }
        int k = (t.Index * Levels + l) * (Levels + 1) + c;
        if (!_linked[k]) { _links[k] = new VisitLink(_cost, _m, t, s, l, c); _linked[k] = true; }
        return _links[k];
    }

    private void Terms(TensorTerms x, SearchTensor t, State s, int d, Tiles tiles)
    {
        var levels = _m.Storage;
        var facts = _cost.Facts(s);
        double floor0 = t.IsOutput ? facts.Partition[0][t.Index] * levels[0].WriteEnergy : facts.Used[0][t.Index] * levels[0].ReadEnergy;
        int count = 0;
        for (int c = d; c < Levels; c++) if ((s.Keep[c] & t.Bit) != 0) x.Keepers[count++] = c;
        x.Count = count;
        if (count == 0)
        {
            double best = double.PositiveInfinity;
            x.AloneCount = 0;
            x.Floor0 = floor0;
            for (int m = 0; m < d; m++)
                if (m == 0 || _inner.CanKeepAbove(t, s, m, d))
                {
                    double direct = _inner.DirectEnergy(t, s, m);
                    double fill = m != 0 ? FillFloor(t, s, m) : 0;
                    if (_levels is null)
                    {
                        best = Math.Min(best, direct + (m != 0 ? floor0 + fill : 0));
                        continue;
                    }
                    x.AloneLevel[x.AloneCount] = m;
                    x.AloneDirect[x.AloneCount] = direct;
                    x.AloneFill[x.AloneCount] = fill;
                    x.AloneFromDram[x.AloneCount] = m != 0 && FromDram(t, s, m, d);
                    if (m != 0)
                    {
                        x.AloneDram[x.AloneCount] = Link(t, s, 0, m);
                        AloneParents(x, x.AloneCount, t, s, m, d);
                    }
                    x.AloneCount++;
                }
            // With the levels' sweeps, each option as AloneOption weighs it (its parent's reads too).
            for (int a = 0; a < x.AloneCount; a++) best = Math.Min(best, x.AloneOption(a, 0));
            x.Alone = best;
            return;
        }
        Span<long> smallest = stackalloc long[Ranks];
        for (int i = 0; i < count; i++)
        {
            int c = x.Keepers[i];
            double v = t.Tile(s.Rem[c]);
            for (int b = d; b < c; b++) v += s.InnerVisits[b][c][t.Index];
            x.Base[i] = v;
            TileSizes(x, i, t, s, c, d, tiles, smallest);
            x.Dense[i] = _cost.PlanDensePartition(t, s, c);
            x.Fill[i] = levels[c].WriteEnergy;
            x.Floor[i] = t.IsOutput ? _cost.PlanPartition(t, s, c) : 0;
        }
        x.FirstFill = t.IsOutput ? 0 : s.Used[x.Keepers[0]] * x.Fill[0];
        for (int i = 0; i + 1 < count; i++) x.Links[i] = Link(t, s, x.Keepers[i], x.Keepers[i + 1]);
        x.Last = Link(t, s, x.Keepers[count - 1], Levels);
        x.ParentCount = 0;
        for (int m = 0; m < d; m++)
            if (m == 0 || _inner.CanKeepAbove(t, s, m, d))
            {
                x.Parents[x.ParentCount] = Link(t, s, m, x.Keepers[0]);
                x.ParentLevel[x.ParentCount] = m;
                if (m != 0 && _levels is not null) x.ParentDram[x.ParentCount] = Link(t, s, 0, m);
                x.ParentFill[x.ParentCount] = m != 0 ? FillFloor(t, s, m) : 0;
                x.ParentFromDram[x.ParentCount] = m != 0 && _levels is not null && FromDram(t, s, m, d);
                x.ParentExtra[x.ParentCount++] = m != 0 ? floor0 : 0;
            }
    }

    /// <summary>
    /// The fills of an on-chip level m that keeps t and is not yet decided (the innermost keeper of a tensor no decided level
    /// keeps, or the parent of the outermost decided keeper): every word the MACs under an instance of m use enters that
    /// instance at least once (<see cref="ArrayCostModel.PlanDensePartition"/>), at m's fill energy
    /// (<see cref="VisitLink.FillEnergy"/>). An output's first write of each word is no fill, so for an output nothing.
    /// </summary>
    private double FillFloor(SearchTensor t, State s, int m)
        => t.IsOutput ? 0 : Link(t, s, 0, m).FillEnergy(_cost.PlanDensePartition(t, s, m));

    /// <summary>
    /// For an undecided on-chip innermost keeper m of an operand: DRAM's words when it fills every instance with the words
    /// the MACs under it use (<see cref="ArrayCostModel.PlanDensePartition"/>), and the least reads (with the network between)
    /// of an on-chip level that may be m's parent serving those words (<see cref="VisitLink.ParentEnergy"/>): any level from 1,
    /// any from 2, and, with level 1 keeping t, any from 1 that may keep t (level 1 included). Every word the MACs under an
    /// instance of m use enters it at least once, and m's parent reads perWord x m's visits. Nothing for an output.
    /// </summary>
    private void AloneParents(TensorTerms x, int a, SearchTensor t, State s, int m, int d)
    {
        x.AloneDenseWords[a] = 0;
        x.AloneParentOnChip[a] = x.AloneParentBelowOne[a] = x.AloneParentWith[a] = t.IsOutput ? 0 : double.PositiveInfinity;
        x.AloneViaOne[a] = null;
        if (t.IsOutput) return;
        double dense = _cost.PlanDensePartition(t, s, m);
        x.AloneDenseWords[a] = Link(t, s, 0, m).Words(dense);
        bool between = false;
        for (int l = 2; l < m && !between; l++) between = _inner.CanKeepAbove(t, s, l, d);
        if (m > 1 && !between) x.AloneViaOne[a] = Link(t, s, 1, m);
        for (int l = 1; l < m; l++)
        {
            bool may = _inner.CanKeepAbove(t, s, l, d);
            if (!may && l != 1) continue;
            double reads = Link(t, s, l, m).ParentEnergy(dense);
            x.AloneParentWith[a] = Math.Min(x.AloneParentWith[a], reads);
            if (!may) continue;
            x.AloneParentOnChip[a] = Math.Min(x.AloneParentOnChip[a], reads);
            if (l >= 2) x.AloneParentBelowOne[a] = Math.Min(x.AloneParentBelowOne[a], reads);
        }
    }

    /// <summary>Whether DRAM must serve an undecided on-chip keeper m of t (no level between may keep it); never for an output.</summary>
    private bool FromDram(SearchTensor t, State s, int m, int d)
    {
        if (t.IsOutput) return false;
        for (int l = 1; l < m; l++) if (_inner.CanKeepAbove(t, s, l, d)) return false;
        return true;
    }

    /// <summary>
    /// The words keeper c's first tile of t has over the positions of level d's tiles (one instance's: per rank
    /// <c>Count - 1</c> tiles of extent <c>Rem[d]</c> and a last one of extent <c>Smallest</c>), as a list of (words, how
    /// many positions) smallest first. In a position the keeper's first tile spans, per rank, the least of its own extent and
    /// the position's; only the ranks indexing t whose last tile clips it (<c>Smallest &lt; Rem[c]</c>, more than one tile)
    /// make positions differ: one entry per subset of those ranks at their last tile. Each step above d enters a position
    /// not entered before (the loops above d run every position once), so the whole tiles k steps bring are at least the k
    /// smallest positions' tiles (<see cref="SmallestTiles"/>); before, every step was counted at the smallest position's.
    /// </summary>
    private void TileSizes(TensorTerms x, int i, SearchTensor t, State s, int c, int d, Tiles tiles, Span<long> ext)
    {
        Span<int> clipped = stackalloc int[Ranks];
        int q = 0;
        double others = tiles.Total;
        for (int r = 0; r < Ranks; r++)
        {
            if (t.IndexedBy[r] && tiles.Count[r] > 1 && tiles.Smallest[r] < Math.Min(s.Rem[c][r], s.Rem[d][r]))
            {
                clipped[q++] = r;
                others /= tiles.Count[r];
            }
            ext[r] = Math.Min(s.Rem[c][r], tiles.Smallest[r]);
        }
        int n = 1 << q;
        var sizes = x.Sizes[i] is { } a && a.Length >= n ? a : x.Sizes[i] = new (double, double)[Math.Max(n, 4)];
        for (int mask = 0; mask < n; mask++)
        {
            double count = others;
            for (int k = 0; k < q; k++)
            {
                int r = clipped[k];
                bool last = (mask >> k & 1) != 0;
                ext[r] = last ? tiles.Smallest[r] : Math.Min(s.Rem[c][r], s.Rem[d][r]);
                if (!last) count *= tiles.Count[r] - 1;
            }
            // Insertion by words, smallest first.
            var entry = ((double)t.Tile(ext), count);
            int j = mask;
            while (j > 0 && sizes[j - 1].Words > entry.Item1) { sizes[j] = sizes[j - 1]; j--; }
            sizes[j] = entry;
        }
        x.SizeCount[i] = n;
    }

    /// <summary>The words of the <paramref name="steps"/> smallest positions' tiles of keeper i (<see cref="TileSizes"/>).</summary>
    private static double SmallestTiles(TensorTerms x, int i, double steps)
    {
        double sum = 0;
        var sizes = x.Sizes[i]!;
        for (int k = 0; k < x.SizeCount[i] && steps > 0; k++)
        {
            double take = Math.Min(steps, sizes[k].Count);
            sum += take * sizes[k].Words;
            steps -= take;
        }
        return sum;
    }

    /// <summary>One tensor's share of <see cref="Bound"/> when the innermost loop above d runs over <paramref name="innermost"/> (its energy without the parent and its outermost keeper's visits kept for <see cref="TensorTerms.With"/> and <see cref="TensorTerms.Without"/>).</summary>
    private double TensorBound(TensorTerms x, SearchTensor t, State s, int d, Tiles tiles, int innermost, double minSteps = 0, double boxes = 0, double carried = 0)
    {
        int count = x.Count;
        if (count == 0) return x.Alone;
        Span<double> visits = stackalloc double[count];
        double energy = 0;
        for (int i = 0; i < count; i++)
        {
            int c = x.Keepers[i];
            double v = x.Base[i] + Math.Max(SmallestTiles(x, i, Math.Max(minSteps, WholeTileSteps(t, s, d, c, tiles, innermost))), PassWords(x, i, boxes, carried));
            // Every word an instance's MACs use reaches it at least once.
            v = Math.Max(v, x.Dense[i]);
            energy += s.Used[c] * (t.IsOutput ? Math.Max(0, v - x.Floor[i]) : v) * x.Fill[i];
            visits[i] = v;
        }
        for (int i = 0; i + 1 < count; i++) energy += x.Links[i].ParentEnergy(visits[i + 1]);
        energy += x.Last.ParentEnergy(_cost.Facts(s).TemporalTotal);
        double best = double.PositiveInfinity;
        for (int p = 0; p < x.ParentCount; p++) best = Math.Min(best, x.Parents[p].ParentEnergy(visits[0]) + x.ParentExtra[p] + x.ParentFill[p]);
        x.Energy = energy;
        x.Visits0 = visits[0];
        return energy + best;
    }
}
