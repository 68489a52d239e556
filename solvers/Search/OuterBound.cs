namespace Optimizer.Solvers;

/// <summary>
/// The outer bound of the inner-first search on energy (docs/mapspace.md, "The outer bound"): for nodes
/// whose undecided levels are DRAM, level 1 (the outermost on-chip level) and possibly middle levels
/// that may each keep only tensors no decided level keeps, the least over every split of the remaining
/// factors between the chip and DRAM, level 1's keep sets that fit, and the two innermost loops; its
/// cases also bound the next node's children (<see cref="ChildBounds"/>).
/// </summary>
internal sealed class OuterBound(SearchProblem problem, ArrayCostModel cost, InnerBound inner, LevelEnumeration levels, OrderOptimizer orders) : SearchPart(problem)
{
    private readonly ArrayCostModel _cost = cost;
    private readonly OrderOptimizer _orders = orders;
    private readonly InnerBound _inner = inner;
    private readonly LevelEnumeration _levels = levels;

    /// <summary>The most steps (register-level factors tried) <c>RootOrders</c> takes in one node; past it the term adds nothing (still a bound).</summary>
    private const long RootWorkLimit = 20_000;

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
    /// With level 1 the only undecided on-chip level (d = 2), each split and keep set is also bounded with one loop
    /// order per level shared by every tensor (<c>JointOrders</c>); with levels between level 1 and d undecided too
    /// (d > 2), with one DRAM order shared by every tensor (<c>DramOrder</c>) and, when a middle level's capacity forces a loop
    /// over its tensor's ranks above it, with that loop's place among the others (<c>ForcedLoop</c>); at a plan's root on a
    /// three-level hierarchy (d = 3), with one order per level shared by every tensor for every choice of the register
    /// level's factors and keep set (<c>RootOrders</c>); the largest value is taken.
    /// In both shared-order terms a window tensor under the Timeloop convention that level 1 keeps also counts level 1's
    /// fills of the DRAM order at hand (<c>WithWindows</c>); in the keep sets where level 1 does not keep it, its floor is
    /// raised to its outermost keeper's refills at every DRAM iteration of the split, and DRAM's reads to the whole chip's box
    /// less what the chip can hold at every DRAM iteration (<c>BypassRefills</c>).
    /// Every completion falls in one case, and in it each term is at most what the completion costs, so
    /// the least over the cases bounds every completion (docs/mapspace.md, "The outer bound"). Computed only
    /// for nodes the plain bound does not prune. Also returns the cases that bound the next node's children
    /// (null when they were not recorded).
    /// </summary>
    public double Refine(State s, int d, double bound, double cutoff, out ChildBounds? children)
    {
        children = null;
        if (d < 2 || d > Levels || !_m.DeferOrders || bound >= cutoff) return bound;
        var remaining = _inner.Remaining(s, d, out double aboveD);
        var record = new ChildBounds(remaining, _m.Divisors, _m.TensorCount, cutoff);
        double outer = Least(s, d, remaining, aboveD, record, cutoff - _m.MacEnergy);
        if (outer <= 0) return bound; // a case this bound does not cover: nothing recorded either
        if (!record.Overflowed) children = record;
        return Math.Max(bound, _m.MacEnergy + outer);
    }

    /// <summary>The most choices (c's tile and the middle level's factors) <c>WholeTileSteps</c> takes in one case; past it the term adds nothing.</summary>
    private const long WholeTileWork = 1 << 14;

    /// <summary>The most combinations (placements of the children times each level's orders of its movers) <c>WholeTileSteps</c>' exact count takes for one choice; past it each loop takes its least over all of them.</summary>
    internal const long ConsistentWork = 4_096;

    /// <summary>The choices <c>WholeTileSteps</c> takes between two looks at <see cref="Stop"/>.</summary>
    private const long StopEvery = 64;

    /// <summary>
    /// The search's stop check (its clock, cancellation and budgets; null: never stops). <c>WholeTileSteps</c>, which may
    /// take seconds in one case, looks at it on entry and every <see cref="StopEvery"/> choices; once it is true the term adds
    /// nothing more (0: a smaller bound, still valid; a stopped search reports a FEASIBLE answer anyway).
    /// </summary>
    public Func<bool>? Stop { get; set; }

    private long _wholeTileChoices;

    /// <summary>The choices <c>WholeTileSteps</c> has taken so far, over every call (what a stop saves, counted without a clock).</summary>
    public long WholeTileChoices => Interlocked.Read(ref _wholeTileChoices);

    /// <summary><c>WholeTileSteps</c>' children on level 1's mesh, per plan (or level 1's choice) and tensor.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(object, int), Formulation.TensorIndex.MeshPlacement> _meshes = new();

    /// <summary><c>WholeTileSteps</c>' neighbours, per plan (or level 1's choice), tensor and spacing of the children.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, Neighbours> _neighbours = new();

    /// <summary>
    /// The children of level 1's fanout as placed on its physical mesh in each variant of a plan and each order of each axis's
    /// spatial loops (<c>Mesh</c>: one build for every spacing, <see cref="Formulation.TensorIndex.MeshPlacement"/>), spaced
    /// by <c>Spacing</c>: the moves by which a step lets a neighbour serve some child in one of those placements (<c>Moves</c>,
    /// along the tensor's dimensions, both signs), and per tile extent and move the least over them of the words no neighbour
    /// serves (<c>Unserved</c>, <see cref="Formulation.TensorIndex.WordsNoNeighbourServes"/>).
    /// </summary>
    private sealed record Neighbours(Formulation.TensorIndex.MeshPlacement Mesh, long[] Spacing, HashSet<(long, long, long, long)> Moves)
    {
        /// <summary>
        /// Per move, the distinct sets of places no neighbour serves over the placements and, per placement (run), the index of
        /// its set among them (<c>MeshPlacement.UnservedPerRun</c>).
        /// </summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<(long, long, long, long), (List<long[]>[] Sets, int[] SetOfRun)> Places = new();
        public readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, long> Unserved = new();
        /// <summary>Per tile extent and move, the words of the unserved children's tiles per placement (<c>MeshPlacement.UnservedPerRun</c>).</summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, long[]> PerRun = new();
        /// <summary>Per tile extent and move, the words the children's tiles' union shares with itself moved by it (<c>TensorIndex.SpacedWords</c>).</summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, long> Shared = new();
        /// <summary>Per placement (run), its children over their distinct places (<c>MeshPlacement.ChildrenPerPlacePerRun</c>).</summary>
        public double[]? Plain;
        /// <summary>Per set of moves, the placements (runs) in groups with the same counts (<c>Groups</c>).</summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, (int[] GroupOfRun, int[] First)> Groups = new();
        /// <summary>Per move, per placement (run), the unserved children over their distinct places.</summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<(long, long, long, long), double[]> MeanByMove = new();
    }

    /// <summary>The most register-level choices (keep set and factors) <see cref="RegisterOrders"/> takes in one plan; past it the term adds nothing.</summary>
    private const long RegisterWorkLimit = 4_000;

    /// <summary>
    /// A bound of a plan's root on a three-level hierarchy (nothing decided) that sees the register level's capacity at
    /// microseconds (docs/mapspace.md, "Every loop above the register level as one level"): every loop above the register
    /// level (level 1's and DRAM's) taken as one level of merged factors <c>F = remaining / T</c>, with <c>T</c> the register
    /// level's factors. A tensor the register level keeps has visits there of at least its tile times the product of F
    /// from its innermost loop over a rank alone indexing one of its dimensions outward (any such step, or any rewind of
    /// such a loop inside a step, brings a whole new tile); merging a rank's two loops at the place of its inner one only
    /// lowers that product, so one order of the merged loops bounds every pair of orders. Its visit energy, served by level 1
    /// (then filled with every used word once) or by DRAM, whichever is less, is convex and never decreasing, so it is at
    /// least its value at the least visits plus its slope there times the visits above them; the least over the merged
    /// loops' orders of the weighted sum is the order programme's. Every other tensor is read by the compute units from
    /// level 1 or DRAM. A window tensor counts per step a whole tile or a slid one (<c>WindowSteps</c>), the energy at the
    /// larger of that and its used words. The least over every keep set and T whose tiles fit bounds the plan (counted up to
    /// <paramref name="cutoff"/>); 0 where it does not apply (other hierarchies, a floor, a window tensor whose windows the
    /// array model shares between children or with imperfect factors),
    /// when a choice is no higher than <paramref name="plain"/> (it adds nothing), or past <see cref="RegisterWorkLimit"/> choices.
    /// </summary>
    public double RegisterOrders(State s, double plain, double cutoff)
    {
        int reg = Levels - 1;
        if (Levels != 3 || !_m.DeferOrders || _m.Storage[reg].Capacity is not { } cap) return 0;
        // A window tensor's visits are bounded per step by whole tiles and slid rows of the formula kernel (WindowSteps below);
        // where the array model shares windows between children (Timeloop's convention, forwarding) it counts fewer.
        foreach (var t in _m.Tensors) if (_m.Floored(t) || t.IsWindow && (_m.SharedWindows || _m.Imperfect)) return 0;
        var remaining = _inner.Remaining(s, Levels, out _);
        int n = _m.TensorCount;
        // Per tensor: read from level 1 or DRAM by the compute units (not kept at the register level), and kept there.
        var direct = new double[n];
        var canKeep = new bool[n];
        var atReg = new double[n];
        var one = new VisitLink[n];
        var fromOne = new VisitLink[n];
        var fromDram = new VisitLink[n];
        var fillOne = new double[n];
        var used = new double[n];
        var masks = new long[n];
        foreach (var t in _m.Tensors)
        {
            int i = t.Index;
            bool keep1 = _inner.CanKeepAbove(t, s, 1, Levels);
            fillOne[i] = double.PositiveInfinity;
            if (keep1)
            {
                one[i] = new VisitLink(_cost, _m, t, s, 0, 1);
                fillOne[i] = one[i].Energy(_cost.PlanDensePartition(t, s, 1));
                fromOne[i] = new VisitLink(_cost, _m, t, s, 1, reg);
            }
            direct[i] = Math.Min(_inner.DirectEnergy(t, s, 0), keep1 ? _inner.DirectEnergy(t, s, 1) + fillOne[i] : double.PositiveInfinity);
            canKeep[i] = _inner.CanKeepAbove(t, s, reg, Levels);
            if (!canKeep[i]) continue;
            atReg[i] = _inner.DirectEnergy(t, s, reg);
            fromDram[i] = new VisitLink(_cost, _m, t, s, 0, reg);
            used[i] = _cost.PlanDensePartition(t, s, reg);
            for (int r = 0; r < Ranks; r++) if (t.PlainDimRank[r]) masks[i] |= 1L << r;
        }
        var active = Enumerable.Range(0, Ranks).Where(r => remaining[r] > 1).ToArray();
        var keeps = _levels.KeepOptions(reg).Where(k => _m.Tensors.All(t => (k & t.Bit) == 0 || canKeep[t.Index])).ToArray();
        var tReg = new long[Ranks];
        var ext = new long[Ranks];
        var factors = new int[Ranks];
        var weights = new double[n];
        var spare = new double[n]; // per tensor, what the order programme counts at least
        // Window tensors (WindowSteps): per tensor the weight per step of a whole tile and, per rank, of a slid one.
        var weightsA = new double[n];
        var slid = new double[n][];
        var back = new long[Ranks]; // no loop inside moves: a step of r alone
        long windowRanks = 0;
        foreach (var t in _m.Tensors)
            if (t.IsWindow && canKeep[t.Index])
            {
                slid[t.Index] = new double[Ranks];
                for (int r = 0; r < Ranks; r++) if (t.WindowRank[r]) windowRanks |= 1L << r;
            }
        long work = 0;
        // Only whether the least reaches the cutoff matters beyond it; the search stops at a choice no higher than the plain bound.
        double lowest = cutoff - _m.MacEnergy, floor = plain - _m.MacEnergy;
        Func<int, long, double> perStep = (rank, inside) =>
        {
            long hit = inside | 1L << rank;
            double w = 0;
            for (int i = 0; i < n; i++) if ((masks[i] & hit) != 0) w += weights[i];
            return w;
        };
        Func<int, long, double> perStepA = (rank, inside) =>
        {
            long hit = inside | 1L << rank;
            double w = 0;
            for (int i = 0; i < n; i++)
            {
                if ((masks[i] & hit) != 0) { w += weightsA[i]; continue; }
                if (slid[i] is not { } sl) continue;
                double most = 0;
                for (int r = 0; r < Ranks; r++) if ((hit >> r & 1) != 0) most = Math.Max(most, sl[r]);
                w += most;
            }
            return w;
        };
        foreach (var k in keeps)
        {
            Array.Fill(tReg, 1L);
            // Every tensor is plain here, so the order-free value does not depend on T (a tile times its merged factors is
            // what one instance uses): a keep set whose value reaches the lowest is skipped whole.
            if (Constant(k) is var (c0, free0, _) && c0 + free0 >= lowest) continue;
            bool ok = Choose(k, 0);
            if (!ok || lowest <= floor) return 0;
        }
        return double.IsFinite(lowest) ? _m.MacEnergy + lowest : 0;

        // The register level's factors rank by rank, pruned by its capacity (every tile grows with T); false past the work limit.
        bool Choose(int k, int a)
        {
            if (a < active.Length && k != 0)
            {
                int r = active[a];
                foreach (var f in _m.Divisors[remaining[r]])
                {
                    tReg[r] = f;
                    if (!Fits(k)) break; // divisors ascend
                    if (!Choose(k, a + 1)) return false;
                }
                tReg[r] = 1;
                return true;
            }
            // Every tensor being plain, raising a factor of T while the tiles fit never adds visits in any order (a tensor's
            // tile times its merged factors stays, a rank not indexing it has fewer steps): only maximal T are taken.
            // A window rank's factor is not raised this way (a larger window tile is not shown to bring fewer words): every one is taken.
            if (k != 0)
                foreach (int r in active)
                {
                    if ((windowRanks >> r & 1) != 0) continue;
                    long was = tReg[r];
                    var ds = _m.Divisors[remaining[r]];
                    int at = Array.IndexOf(ds, was);
                    if (at + 1 >= ds.Length) continue;
                    tReg[r] = ds[at + 1];
                    bool fits = Fits(k);
                    tReg[r] = was;
                    if (fits) return true;
                }
            if (++work > RegisterWorkLimit) return false;
            var (constant, orderFree, constantA) = Constant(k);
            if (constant + orderFree >= lowest) return true;
            // The innermost merged loop runs over some rank with a factor above 1, and every step of it brings a whole tile
            // of each tensor it indexes: the least over those ranks of that, the other tensors at their least, is at most
            // the order programme's value, and skips it when it already reaches the lowest.
            double all = 1;
            foreach (int r in active) all *= remaining[r] / tReg[r];
            double innermost = double.PositiveInfinity;
            foreach (int r in active)
            {
                if (remaining[r] == tReg[r]) continue;
                double v = orderFree;
                for (int i = 0; i < n; i++) if ((masks[i] >> r & 1) != 0) v += weights[i] * (all - 1) - spare[i];
                innermost = Math.Min(innermost, v);
            }
            if (double.IsFinite(innermost) && constant + innermost >= lowest) return true;
            for (int r = 0; r < Ranks; r++) factors[r] = checked((int)(remaining[r] / tReg[r]));
            double value = constant + _orders.BestOrder(factors, perStep).Value;
            if (value < lowest && double.IsFinite(constantA)) value = Math.Max(value, constantA + _orders.BestOrder(factors, perStepA).Value);
            lowest = Math.Min(lowest, value);
            return lowest > floor;
        }

        // The choice's constant (each tensor at its least visits, less what the order programme counts above its tile) and
        // what that programme counts at least, with each tensor's weight per step in `weights`; and the constant of the same
        // with each window tensor the register level keeps bounded by its slid windows too (WindowSteps, weights in
        // `weightsA` and `slid`; infinite when the register level keeps no window tensor).
        (double Constant, double OrderFree, double ConstantA) Constant(int k)
        {
            Extents();
            double constant = 0, orderFree = 0, windowB = 0, windowA = 0;
            bool anyWindow = false;
            Array.Clear(weights);
            Array.Clear(spare);
            Array.Clear(weightsA);
            foreach (var sl in slid) if (sl is not null) Array.Clear(sl);
            foreach (var t in _m.Tensors)
            {
                int i = t.Index;
                if ((k & t.Bit) == 0) { constant += direct[i]; continue; }
                // The least visits whatever the order: the tile times every merged factor of a rank alone indexing a
                // dimension of t (the words one instance uses when t is plain; fewer with a window).
                long tile = t.Tile(ext);
                double least = tile;
                for (int r = 0; r < Ranks; r++) if ((masks[i] >> r & 1) != 0) least *= remaining[r] / tReg[r];
                double e = Serve(i, Math.Max(least, used[i]));
                double part = atReg[i] + e;
                if (used[i] <= least) // else counted at its used words alone
                {
                    double slope = SlopeAt(i, least);
                    weights[i] = weightsA[i] = slope * tile;
                    part -= slope * (least - tile); // the order programme counts the visits above the tile
                    orderFree += spare[i] = slope * (least - tile); // what it counts at least
                }
                constant += part;
                if (slid[i] is not { } sl) continue;
                anyWindow = true;
                windowB += part;
                windowA += WindowSteps(t, tile, least, sl);
            }
            return (constant, orderFree, anyWindow ? constant - windowB + windowA : double.PositiveInfinity);
        }

        // A window tensor the register level keeps (docs/mapspace.md, "Every loop above the register level as one level"):
        // a step that changes the index of a rank alone indexing one of its dimensions brings a whole tile (the new tile
        // lies apart from the old along that dimension), and a step that changes a window rank r whose dimensions no other
        // rank moves above the register level brings at least the words a tile slid once along r leaves new (the kernel's
        // fresh words, a shift of one step of level 1's loop over r: any change of r's index moves it by a non-zero multiple
        // of that, and moves along other dimensions only add new words). Counting the larger of these per step, the steps of
        // a set of ranks nest as the plain tensors' steps do, so the merged loops' order bounds every pair of orders again.
        // Its visits V are at least that count X and at least the words one instance uses, so at least v0 = max(least,
        // used); its energy is at least its value at v0 plus the slope there times X - v0 (for X >= v0 the served energy,
        // the lesser of two convex curves, lies above either tangent at v0; for X < v0 this is below its value at v0, at
        // most its value at V). Returns the choice's part for the tensor, the weights per step set.
        double WindowSteps(SearchTensor t, long tile, double least, double[] sl)
        {
            int i = t.Index;
            least = Math.Max(least, used[i]);
            double slope = SlopeAt(i, least);
            weightsA[i] = slope * tile;
            for (int r = 0; r < Ranks; r++)
            {
                if (!t.WindowRank[r] || remaining[r] == tReg[r] || !Alone(t, r)) continue;
                sl[r] = slope * t.WindowFresh(ext, r, checked(ext[r] * s.Spatial(1, r)), back);
            }
            return atReg[i] + Serve(i, least) - slope * (least - tile);
        }

        // No other rank of r's dimensions of t has a loop above the register level (so a change of r's index moves them).
        bool Alone(SearchTensor t, int r)
        {
            for (int dim = 0; dim < t.Dims.Dimensions; dim++)
            {
                var ranks = t.Dims.RanksOf(dim);
                if (!ranks.Contains(r)) continue;
                foreach (int q in ranks) if (q != r && remaining[q] != tReg[q]) return false;
            }
            return true;
        }

        // Served by DRAM or by level 1 (then filled with every used word once), the less: its energy and its slope.
        double Serve(int i, double visits)
        {
            double e = fromDram[i].Energy(visits);
            return canKeepOne(i) ? Math.Min(e, fromOne[i].Energy(visits) + fillOne[i]) : e;
        }

        double SlopeAt(int i, double visits)
        {
            double slope = fromDram[i].Slope(visits);
            return canKeepOne(i) ? Math.Min(slope, fromOne[i].Slope(visits)) : slope;
        }

        bool canKeepOne(int i) => double.IsFinite(fillOne[i]);

        bool Fits(int k)
        {
            Extents();
            long need = 0;
            foreach (var t in _m.Tensors) if ((k & t.Bit) != 0) need = checked(need + t.Tile(ext));
            return need <= cap;
        }

        void Extents()
        {
            for (int r = 0; r < Ranks; r++) ext[r] = checked(s.Rem[Levels][r] * s.Spatial(reg, r) * tReg[r]);
        }
    }

    /// <summary>
    /// One tensor in the outer bound of one node: what is fixed for the node (its keepers and their costs
    /// served by DRAM or level 1), then what the split at hand gives it. Arrays over <c>1 + Ranks</c> are
    /// indexed by the innermost loop above d (0: none or no effect, else 1 + its rank).
    /// </summary>
    private sealed class Part
    {
        public Part(SearchTensor t, int ranks)
        {
            T = t;
            Rest = new double[1 + ranks];
            V0 = new double[1 + ranks];
            ForcedBy = new bool[1 + ranks];
            BaseDram = new double[1 + ranks];
            BaseOne = new double[1 + ranks];
            DramBase = new double[1 + ranks];
            OneBase = new double[1 + ranks];
            ViaOne = new double[1 + ranks, 2];
            ViaDram = new double[1 + ranks, 2];
            WindowOne = new double[ranks];
        }

        public readonly SearchTensor T;
        // ---- Fixed for the node. ----
        /// <summary>A tensor bounded by its order-free floor (<see cref="SearchProblem.Floored"/>): the least of the next two, else NaN.</summary>
        public double Floor = double.NaN;
        public bool Floored => !double.IsNaN(Floor);
        /// <summary>That floor in the keep sets where level 1 keeps the tensor, and where it does not.</summary>
        public double FloorKept, FloorSkipped;
        /// <summary>The floor where level 1 does not keep the tensor, in the split at hand: <c>FloorSkipped</c>, raised by <c>BypassRefills</c> once <see cref="Raised"/>.</summary>
        public double SkippedHere;
        public bool Raised;
        /// <summary>The floor in the cases of level 1's keep set <paramref name="keep"/>, in the split at hand.</summary>
        public double FloorIn(int keep) => (keep & T.Bit) != 0 ? FloorKept : SkippedHere;
        /// <summary>A floored tensor level 1 may keep, served by DRAM with no fanout between: its floor with level 1 keeping it, less level 1's fills from DRAM (else NaN), and what a word of those fills costs (DRAM's read and level 1's write).</summary>
        public double UnderOne = double.NaN, FillOne;
        /// <summary>What one step of each DRAM loop brings into its tile at level 1 on Timeloop's sampled sequence, in the split at hand.</summary>
        public OrderOptimizer.SampledWindowStep? StepWindow;
        /// <summary>The outermost decided keeper (-1: none), and the one middle level that may keep the tensor (-1: none).</summary>
        public int Keeper0 = -1, Middle = -1;
        /// <summary>Level 1 may keep the tensor.</summary>
        public bool CanKeep;
        /// <summary>What the decided keepers cost apart from the outermost one's fills and parent, and that keeper's visits from the decided levels.</summary>
        public readonly double[] Rest, V0;
        /// <summary>The innermost loop above d over that rank forces more than nothing.</summary>
        public readonly bool[] ForcedBy;
        /// <summary>The outermost decided keeper served by DRAM or by level 1; level 1 served by DRAM.</summary>
        public VisitLink TopDram, TopOne, One;
        /// <summary>Used words and tile at the outermost decided keeper; used words at level 1.</summary>
        public double Used0, Tile0, Used1;
        /// <summary>The outermost decided keeper's extents in one DRAM iteration, but for the undecided on-chip factors G.</summary>
        public long[] KeeperExt = [];
        /// <summary>A tensor no decided level keeps: the compute units' accesses at DRAM, at level 1, at its middle level.</summary>
        public double DirectDram, DirectOne, DirectMiddle;
        /// <summary>Its middle level served by DRAM or by level 1, the words used there, and its tile extents with no undecided temporal factor.</summary>
        public VisitLink MiddleFromDram, MiddleFromOne;
        public double UsedMiddle;
        public long[] MiddleExt = [];
        /// <summary>What a decided keeper costs served by DRAM or by level 1, the same in every split.</summary>
        public readonly double[] BaseDram, BaseOne;
        /// <summary>Level 1's fills and DRAM's side for every used word once.</summary>
        public double FloorOne;
        // ---- The split at hand. ----
        /// <summary>The tile at level 1, the product of D over the ranks that do not index the tensor, and whether an on-chip loop over a rank alone indexing a dimension has G above 1.</summary>
        public long Tile;
        public double Scale;
        public bool OnChip;
        /// <summary>A tensor no decided level keeps: its cheapest innermost keeper served by level 1, by DRAM, and by DRAM with the DRAM scaling.</summary>
        public double FromOne, FromDram, FromDramScaled;
        /// <summary>The visits at the innermost keeper below level 1 that DRAM's steps force.</summary>
        public double Sweep;
        /// <summary>BaseDram and BaseOne with the outermost decided keeper's visits at least <see cref="Sweep"/>.</summary>
        public readonly double[] DramBase, OneBase;
        /// <summary>Served by level 1 [innermost rank, forced at level 1]; served by DRAM [innermost rank, DRAM loops outside an indexing loop].</summary>
        public readonly double[,] ViaOne, ViaDram;
        /// <summary>Per rank: level 1's fills and DRAM's side when DRAM's innermost loop runs over a window rank of the tensor.</summary>
        public readonly double[] WindowOne;
        // ---- DRAM's order shared by the tensors (d = 2 only). ----
        /// <summary>The outermost decided keeper's visits from the decided levels alone (no dense floor, nothing forced).</summary>
        public double Raw0;
        /// <summary>What one step of each DRAM loop brings into level 1's tile and into the outermost decided keeper's, in the split at hand.</summary>
        public OrderOptimizer.StepModel? StepOne, StepKeeper;
        /// <summary>What one step of each of level 1's loops brings into the outermost decided keeper's tile, in the split at hand.</summary>
        public OrderOptimizer.StepModel? StepKeeperOne;
        // ---- DRAM's order shared by the tensors (d > 2). ----
        /// <summary>A plain tensor no decided level keeps, at its middle level: the box one instance uses in one DRAM iteration, as a tile DRAM's loops move.</summary>
        public OrderOptimizer.StepModel? StepMiddle;
        /// <summary>The words one instance of the middle level uses in one DRAM iteration, over the words of that box (1 but for strided dimensions).</summary>
        public double MiddleWords, MiddleDensity;
        // ---- The orders shared at a plan's root (RootOrders). ----
        /// <summary>A tensor the register level keeps: what one step of each DRAM loop and of each of level 1's loops brings into its tile there, for the choice at hand.</summary>
        public OrderOptimizer.StepModel? RootDram, RootOne;
    }

    /// <remarks>
    /// A split whose cheapest variant of every tensor already sums to <paramref name="cutoff"/> or more is
    /// skipped: the least returned is then exact when it is below the cutoff, and at least the cutoff otherwise.
    /// </remarks>
    private double Least(State s, int d, long[] remaining, double aboveD, ChildBounds? record, double cutoff)
    {
        var active = Enumerable.Range(0, Ranks).Where(r => remaining[r] > 1).ToArray();
        var parts = new Part[_m.TensorCount];
        foreach (var t in _m.Tensors)
        {
            var o = parts[t.Index] = new Part(t, Ranks);
            o.CanKeep = _inner.CanKeepAbove(t, s, 1, d);
            // Its floor holds whatever the split, level 1's keep set and the orders; level 1's capacity still counts its tile.
            if (_m.Floored(t))
            {
                o.FloorSkipped = _inner.WindowFloor(t, s, d, levelOne: 0);
                o.FloorKept = o.CanKeep ? _inner.WindowFloor(t, s, d, levelOne: 1) : double.PositiveInfinity;
                o.Floor = Math.Min(o.FloorKept, o.FloorSkipped);
                if (o.CanKeep && Enumerable.Range(0, Ranks).All(r => s.Spatial(0, r) == 1))
                {
                    o.UnderOne = _inner.WindowFloor(t, s, d, underOne: true);
                    o.FillOne = _m.Storage[0].ReadEnergy + _m.Storage[1].WriteEnergy;
                }
                continue;
            }
            for (int c = d; c < Levels; c++) if ((s.Keep[c] & t.Bit) != 0) { o.Keeper0 = c; break; }
            for (int m = 2; m < d; m++)
            {
                if (!_inner.CanKeepAbove(t, s, m, d)) continue;
                // A middle level that may serve a decided keeper, or a second one, is beyond this bound's cases.
                if (o.Keeper0 >= 0 || o.Middle >= 0) return 0;
                o.Middle = m;
            }
            if (o.CanKeep) { o.One = new VisitLink(_cost, _m, t, s, 0, 1); o.Used1 = _cost.PlanDensePartition(t, s, 1); }
            if (o.Keeper0 < 0)
            {
                // Read by the compute units from its innermost keeper: DRAM, level 1, or the one middle level
                // (between 1 and d) that may keep it, served by DRAM or level 1.
                o.DirectDram = _inner.DirectEnergy(t, s, 0);
                o.DirectOne = o.CanKeep ? _inner.DirectEnergy(t, s, 1) : double.PositiveInfinity;
                o.DirectMiddle = double.PositiveInfinity;
                if (o.Middle is var m and >= 0)
                {
                    o.DirectMiddle = _inner.DirectEnergy(t, s, m);
                    o.MiddleFromDram = new VisitLink(_cost, _m, t, s, 0, m);
                    if (o.CanKeep) o.MiddleFromOne = new VisitLink(_cost, _m, t, s, 1, m);
                    o.UsedMiddle = _cost.PlanDensePartition(t, s, m);
                    o.MiddleExt = new long[Ranks];
                    for (int r = 0; r < Ranks; r++)
                    {
                        o.MiddleExt[r] = s.Rem[d][r];
                        for (int b = m; b < d; b++) o.MiddleExt[r] = checked(o.MiddleExt[r] * s.Spatial(b, r));
                    }
                }
                continue;
            }
            int k0 = o.Keeper0;
            o.Used0 = _cost.PlanDensePartition(t, s, k0);
            o.Tile0 = t.Tile(s.Rem[k0]);
            o.KeeperExt = new long[Ranks];
            for (int r = 0; r < Ranks; r++)
            {
                o.KeeperExt[r] = s.Rem[k0][r];
                for (int b = d; b < k0; b++) o.KeeperExt[r] = checked(o.KeeperExt[r] * s.Choice[b]!.Temporal[r]);
            }
            o.TopDram = new VisitLink(_cost, _m, t, s, 0, k0);
            if (o.CanKeep) o.TopOne = new VisitLink(_cost, _m, t, s, 1, k0);
            _inner.DecidedTerms(t, s, d, aboveD, remaining, -1, out o.Rest[0], out o.V0[0]);
            o.Raw0 = o.Tile0;
            for (int b = d; b < k0; b++) o.Raw0 += s.InnerVisits[b][k0][t.Index];
            for (int r = 0; r < Ranks; r++)
                if (aboveD > 1 && remaining[r] > 1 && (t.PlainDimRank[r] || t.WindowRank[r]))
                {
                    _inner.DecidedTerms(t, s, d, aboveD, remaining, r, out o.Rest[1 + r], out o.V0[1 + r]);
                    o.ForcedBy[1 + r] = o.Rest[1 + r] != o.Rest[0] || o.V0[1 + r] != o.V0[0];
                }
        }
        foreach (var o in parts)
        {
            if (o.Keeper0 < 0 || o.Floored) continue;
            for (int f = 0; f <= Ranks; f++)
            {
                if (f > 0 && !o.ForcedBy[f]) continue;
                o.BaseDram[f] = o.Rest[f] + o.TopDram.Energy(o.V0[f]);
                if (o.CanKeep) o.BaseOne[f] = o.Rest[f] + o.TopOne.Energy(o.V0[f]);
            }
        }
        var keeps = new List<int>();
        foreach (var k in _levels.KeepOptions(1))
        {
            bool ok = true;
            foreach (var o in parts) if ((k & o.T.Bit) != 0 && !o.CanKeep) ok = false;
            if (ok) keeps.Add(k);
        }
        long? cap = _m.Storage[1].Capacity;
        var spread = new long[Ranks]; // the spatial splits of levels 1 to d - 1, inside level 1's tile
        for (int r = 0; r < Ranks; r++)
        {
            spread[r] = s.Rem[d][r];
            for (int b = 1; b < d; b++) spread[r] = checked(spread[r] * s.Spatial(b, r));
        }
        var g = new long[Ranks];
        Array.Fill(g, 1L);
        var ext = new long[Ranks];
        var extKeeper = new long[Ranks];
        var extMiddle = new long[Ranks];
        var r0s = new List<int>();
        var inners = new List<int>();
        var noBack = new long[Ranks];
        var rewind = new long[Ranks];
        var refillBox = new long[Ranks];
        var refillGapped = new bool[Ranks];
        var dramExtent = new long[Ranks];
        var dramSpread = new long[Ranks];
        var dramMoves = new bool[Ranks];
        foreach (var o in parts) o.FloorOne = o.CanKeep && !o.Floored ? o.One.Energy(o.Used1) : 0;
        // With level 1 the only undecided on-chip level, a split and a keep set fix every factor: DRAM's order is then
        // shared by the tensors in the joint term (JointOrders).
        bool joint = d == 2;
        var dramFactors = new long[Ranks];
        var dramInt = new int[Ranks];
        var dramStride = new long[Ranks];
        var between = new long[Ranks];
        var noBetween = new long[Ranks];
        var oneStride = new long[Ranks];
        var gInt = new int[Ranks];
        var dramTerms = new List<(OrderOptimizer.StepModel Step, double Slope)>();
        var windowTerms = new List<(OrderOptimizer.SampledWindowStep Step, double Slope)>();
        var oneTerms = new List<(OrderOptimizer.StepModel Step, double Slope)>();
        bool stepsBuilt = false;
        // The forced loop over a rank of a middle tensor (ForcedLoop): the first plain tensor no decided level keeps whose
        // middle level has a capacity, and the tensors with a decided keeper whose visits there count nothing above d yet.
        Part? held = null;
        var atD = new List<Part>();
        var windows = new List<Part>(); // ForcedLoop's window tensors level 1 does not keep
        if (d > 2)
            foreach (var o in parts)
            {
                if (o.Floored) continue;
                if (held is null && o.Keeper0 < 0 && o.Middle >= 0 && o.T.Plain && _m.Storage[o.Middle].Capacity is not null) held = o;
                else if (o.Keeper0 >= d && !InnerBound.RewindsPlainDim(o.T, s, d, o.Keeper0)) atD.Add(o);
            }
        // The orders shared at a plan's root over three levels (RootOrders): nothing decided, the register level (the innermost,
        // level 2) the one middle level, so a choice of its factors and keep set makes the joint term of JointOrders apply.
        bool rootOrders = d == 3 && Levels == 3 && parts.All(o => o.Floored || o.Keeper0 < 0);
        var rootKeeps = rootOrders ? _levels.KeepOptions(2).Where(k => parts.All(o => (k & o.T.Bit) == 0 || o.Floored || o.Middle == 2)).ToArray() : [];
        long? capRoot = rootOrders ? _m.Storage[2].Capacity : null;
        var t2 = new long[Ranks];
        var ext2 = new long[Ranks];
        var stride2 = new long[Ranks];
        var gOne2 = new long[Ranks];
        var gOneInt2 = new int[Ranks];
        var between2 = new long[Ranks];
        long rootWork = 0; // RootOrders' steps in this node
        bool forcedBuilt = false, forced = false;
        var forcedFirsts = new double[_m.TensorCount];
        var splitRanks = new List<int>(); // the ranks with on-chip factors above 1, w's first
        int heldRanks = 0;
        var inside = new long[Ranks];
        var swept = new long[Ranks];
        double best = double.PositiveInfinity;
        long gIndex = 0;
        double dramSteps = 1; // the product of D in the split at hand
        // DRAM factors pinned by the problem's constraints (a fused class's: docs/fusion.md) leave one split per pinned
        // rank: every completion has D = the pin there, so the other splits hold none (and stay unrecorded: closed).
        var pins = new long[Ranks];
        foreach (var (rank, factor) in _m.Constraint(0).Temporal)
        {
            int r = Array.IndexOf(_m.RankIds, rank);
            if (r < 0) continue;
            if (remaining[r] % factor != 0) return double.PositiveInfinity;
            pins[r] = factor;
        }
        Split(0, 1);
        return best;

        void Split(int a, long stride)
        {
            if (a < active.Length)
            {
                int r = active[a];
                var divisors = _m.Divisors[remaining[r]];
                for (int j = 0; j < divisors.Length; j++)
                {
                    if (pins[r] > 0 && remaining[r] / divisors[j] != pins[r]) continue;
                    g[r] = divisors[j];
                    gIndex += j * stride;
                    Split(a + 1, checked(stride * divisors.Length));
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
                ext[r] = checked(spread[r] * g[r]);
                long dr = remaining[r] / g[r];
                dramSteps *= dr;
                if (dr > 1) r0s.Add(r);
                if (g[r] > 1) inners.Add(r);
            }
            if (r0s.Count == 0) r0s.Add(-1);
            stepsBuilt = false;
            forcedBuilt = false;
            // First each tensor's cheapest variant in this split (nothing forced, no DRAM scaling unless an
            // on-chip loop forces it): when they already sum to the cutoff, every case of the split does.
            double floor = 0;
            foreach (var o in parts)
            {
                var t = o.T;
                o.Tile = t.Tile(ext);
                if (o.Floored)
                {
                    // BypassRefills raises the floor where level 1 does not keep the tensor; it costs more than the rest of
                    // the split, so it is taken only where a case could use it (Raise): till then the floor is the plain one.
                    o.SkippedHere = o.FloorSkipped;
                    o.Raised = false;
                    floor += Math.Min(o.FloorKept, o.FloorSkipped);
                    continue;
                }
                double scale = 1;
                bool onChipIndexes = false;
                for (int r = 0; r < Ranks; r++)
                {
                    if (!t.IndexedBy[r]) scale *= remaining[r] / g[r];
                    else if (g[r] > 1 && t.PlainDimRank[r]) onChipIndexes = true;
                }
                o.Scale = scale;
                o.OnChip = onChipIndexes;
                if (o.Keeper0 < 0)
                {
                    double fromOne = o.DirectOne, fromDram = o.DirectDram, fromDramScaled = o.DirectDram;
                    if (o.Middle is var m and >= 0)
                    {
                        // The middle level's tile is at most its capacity and at most its tile with every on-chip factor below it.
                        for (int r = 0; r < Ranks; r++) extMiddle[r] = checked(o.MiddleExt[r] * g[r]);
                        double largest = Math.Min(t.Tile(extMiddle), _m.Storage[m].Capacity ?? long.MaxValue);
                        // The words the DRAM iterations use: every used word once per iteration over ranks that do not
                        // index t, and at least the box the chip's loops sweep in each iteration; less what each can
                        // carry over from the last (one tile).
                        double used = Math.Max(scale * o.UsedMiddle, dramSteps * t.UsedWords(extMiddle));
                        double visitsM = Math.Max(o.UsedMiddle, used - dramSteps * largest);
                        if (o.CanKeep) fromOne = Math.Min(fromOne, o.DirectMiddle + o.MiddleFromOne.Energy(visitsM));
                        fromDram = Math.Min(fromDram, o.DirectMiddle + o.MiddleFromDram.Energy(visitsM));
                        fromDramScaled = Math.Min(o.DirectDram, o.DirectMiddle + o.MiddleFromDram.Energy(o.UsedMiddle * scale));
                        // When the middle level could not hold t's tile with every on-chip factor of a rank indexing t
                        // at or below it, some loop above it indexes t, and every DRAM loop is outside that loop.
                        if (t.Plain && _m.Storage[m].Capacity is { } capM)
                        {
                            for (int r = 0; r < Ranks; r++) extMiddle[r] = checked(o.MiddleExt[r] * (t.IndexedBy[r] ? g[r] : 1));
                            if (t.Tile(extMiddle) > capM) fromDram = fromDramScaled;
                        }
                    }
                    (o.FromOne, o.FromDram, o.FromDramScaled) = (fromOne, fromDram, fromDramScaled);
                    floor += Math.Min(fromDram, fromOne + o.FloorOne);
                    continue;
                }
                for (int r = 0; r < Ranks; r++) extKeeper[r] = checked(g[r] * o.KeeperExt[r]);
                o.Sweep = Math.Max(scale * o.Used0, dramSteps * t.UsedWords(extKeeper)) - dramSteps * o.Tile0;
                Bases(o, 0);
                o.ViaDram[0, 1] = scale > 1 ? o.Rest[0] + o.TopDram.Energy(Math.Max(o.V0[0], o.Used0 * scale)) : o.DramBase[0];
                // Every DRAM loop sits outside an on-chip loop that indexes t.
                o.ViaDram[0, 0] = onChipIndexes ? o.ViaDram[0, 1] : o.DramBase[0];
                floor += o.CanKeep ? Math.Min(o.ViaDram[0, 0], o.OneBase[0] + o.FloorOne) : o.ViaDram[0, 0];
            }
            if (floor >= cutoff) return;
            // Where the floor without level 1 keeping a floored tensor is its cheaper one, the raised floor may prune the split.
            foreach (var o in parts)
                if (o.Floored && o.FloorKept > o.FloorSkipped)
                {
                    floor -= o.FloorSkipped;
                    Raise(o);
                    floor += Math.Min(o.FloorKept, o.SkippedHere);
                }
            if (floor >= cutoff) return;
            foreach (var o in parts)
            {
                if (o.Floored) continue;
                var t = o.T;
                double floorOne = o.FloorOne;
                if (o.CanKeep)
                    foreach (var r0 in r0s)
                        if (r0 >= 0 && t.WindowRank[r0]) o.WindowOne[r0] = o.One.Energy(Math.Max(o.Used1, WindowVisits(o, r0)));
                double forcedOne = o.CanKeep ? o.One.Energy(Math.Max(o.Used1, o.Tile * dramSteps)) : 0;
                if (o.Keeper0 < 0)
                {
                    o.ViaDram[0, 0] = o.FromDram;
                    o.ViaDram[0, 1] = o.FromDramScaled;
                    o.ViaOne[0, 0] = o.FromOne + floorOne;
                    o.ViaOne[0, 1] = o.FromOne + forcedOne;
                    continue;
                }
                for (int f = 0; f <= Ranks; f++)
                {
                    if (f > 0 && !o.ForcedBy[f]) continue;
                    if (f > 0)
                    {
                        Bases(o, f);
                        o.ViaDram[f, 1] = o.Scale > 1 ? o.Rest[f] + o.TopDram.Energy(Math.Max(o.V0[f], o.Used0 * o.Scale)) : o.DramBase[f];
                        o.ViaDram[f, 0] = o.OnChip ? o.ViaDram[f, 1] : o.DramBase[f];
                    }
                    if (!o.CanKeep) continue;
                    o.ViaOne[f, 0] = o.OneBase[f] + floorOne;
                    o.ViaOne[f, 1] = o.OneBase[f] + forcedOne;
                }
            }
            foreach (var keep in keeps)
            {
                if (cap is { } c)
                {
                    long need = 0;
                    foreach (var o in parts) if ((keep & o.T.Bit) != 0) need = checked(need + o.Tile);
                    if (need > c) continue;
                }
                double least = Cases(keep);
                // Below the cutoff with a floored tensor's plain floor where level 1 does not keep it: again with the raised one.
                if (least < cutoff && parts.Any(o => o.Floored && (keep & o.T.Bit) == 0 && !o.Raised))
                {
                    foreach (var o in parts) if (o.Floored && (keep & o.T.Bit) == 0) Raise(o);
                    least = Cases(keep);
                }
                if (joint && least < cutoff) least = Math.Max(least, JointOrders(keep));
                else if (d > 2 && least < cutoff)
                {
                    least = Math.Max(least, DramOrder(keep));
                    if (held is not null && least < cutoff) least = Math.Max(least, ForcedLoop(keep));
                    if (rootOrders && least < cutoff) least = Math.Max(least, RootOrders(keep, least));
                }
                best = Math.Min(best, least);
                record?.Add(gIndex, g, keep, _m.MacEnergy + least);
            }
        }

        // A floored tensor's floor where level 1 does not keep it, raised by BypassRefills in the split at hand (once per split).
        void Raise(Part o)
        {
            if (o.Raised) return;
            o.Raised = true;
            if (double.IsFinite(o.FloorSkipped)) o.SkippedHere = Math.Max(o.FloorSkipped, BypassRefills(o));
        }

        // The least over DRAM's innermost loop and the innermost loop above d of the order-free cases of a keep set.
        double Cases(int keep)
        {
            double least = double.PositiveInfinity;
            foreach (var r0 in r0s)
            {
                if (inners.Count == 0) least = Math.Min(least, Consider(keep, r0, r0));
                else foreach (var inner in inners) least = Math.Min(least, Consider(keep, r0, inner));
            }
            return least;
        }

        // A floored tensor that level 1 does not keep, in the split at hand (docs/mapspace.md, "Refills across a bypassed
        // fanout at every DRAM iteration"): its outermost keeper c below level 1 is served by DRAM (every level between
        // bypasses t). In each DRAM iteration an instance of c uses every word of its box (the extents left per instance
        // once DRAM's and the fanouts' factors above c are taken out) and holds at most c's tile when the iteration
        // begins, so it takes in at least the box's used words less the tile, in each of the product(D) iterations; DRAM
        // reads at least those fills over the largest group of children needing identical words (as WholeUse), and at least
        // the used words of the whole chip's box in each iteration less every word the keepers below level 1 hold. With no
        // keeper below level 1, the compute units read DRAM. The least over those choices, with the compute units' reads at
        // the cheapest level at or below c, bounds t's energy in every completion of the case.
        double BypassRefills(Part o) => Refills(o, g, 1, dramSteps, Levels);

        // The same with a loop a middle level's capacity forces (ForcedLoop; docs/mapspace.md, "The window tensor under the
        // forced loop"), for the keepers c at or below `forcedFrom` (the middle level): `inside` every rank's on-chip factor
        // inside that loop j, `passes` the product of G / I over the held tensor's ranks that do not index t (each pass of
        // their innermost loop's body but the first brings again the words the first used, at least the box inside j less
        // c's tile), `runs` the runs of j's body (each uses the box inside j and starts with at most c's tile); DRAM reads at
        // least the chip's box inside j less what the chip holds, in each run. With inside = G, one pass and product(D)
        // runs, these are the terms above (and c's whole tiles at every step, WholeTileSteps, are counted too).
        double Refills(Part o, long[] inside, double passes, double runs, int forcedFrom)
        {
            var t = o.T;
            int decided = -1;
            for (int c = d; c < Levels; c++) if ((s.Keep[c] & t.Bit) != 0) { decided = c; break; }
            double least = decided < 0 ? _inner.DirectEnergy(t, s, 0) : double.PositiveInfinity;
            var store = _m.Storage;
            // The union of every instance's box in one DRAM iteration (the whole chip's, contiguous per rank) less every word
            // the keepers below level 1 can hold when the iteration begins: DRAM reads at least that in each iteration.
            double onChip = 0;
            for (int c = 1; c < Levels && onChip < double.PositiveInfinity; c++)
            {
                if (c < d ? c == 1 || !_inner.CanKeepAbove(t, s, c, d) : (s.Keep[c] & t.Bit) == 0) continue;
                onChip += (c >= d ? t.Tile(s.Rem[c]) : store[c].Capacity ?? double.PositiveInfinity) * (double)s.Used[c];
            }
            bool plain = forcedFrom >= Levels;
            double unionReads = 0, unionForced = 0;
            if (!double.IsPositiveInfinity(onChip))
            {
                for (int r = 0; r < Ranks; r++) refillBox[r] = _m.Bound[r] / (remaining[r] / g[r]);
                unionReads = dramSteps * Math.Max(0, t.UsedWords(refillBox) - onChip);
                if (!plain)
                {
                    for (int r = 0; r < Ranks; r++) refillBox[r] = _m.Bound[r] / (remaining[r] / inside[r]);
                    unionForced = runs * Math.Max(0, t.UsedWords(refillBox) - onChip);
                }
            }
            for (int c = 2; c < Levels; c++)
            {
                if (c < d ? !_inner.CanKeepAbove(t, s, c, d) : c != decided) continue;
                bool forcedHere = !plain && c >= forcedFrom;
                double direct = double.PositiveInfinity;
                for (int m = c; m < Levels; m++) direct = Math.Min(direct, _inner.DirectEnergy(t, s, m));
                double held = c >= d ? t.Tile(s.Rem[c]) : store[c].Capacity ?? double.PositiveInfinity;
                double fills = 0;
                bool fannedRightAbove = false;
                for (int r = 0; r < Ranks && !fannedRightAbove; r++) fannedRightAbove = s.Spatial(c - 1, r) != 1;
                if (!double.IsPositiveInfinity(held) && !fannedRightAbove)
                {
                    // Only the iterations after a DRAM step that may leave part of the box in place start with words of it.
                    double box = BoxWords(t, c, g);
                    double first = Math.Max(0, dramSteps * box - Math.Min(box, held) * (dramSteps - ClearingSteps(t, c)));
                    if (forcedHere)
                    {
                        double body = Math.Max(0, BoxWords(t, c, inside) - held);
                        first = Math.Max(first + dramSteps * (passes - 1) * body, runs * body);
                    }
                    fills = first * s.Used[c];
                }
                double frozenMean = _cost.CoincidingChildren(t, s, 0, c, Frozen(t, c, forcedHere ? inside : null, forcedFrom));
                double reads = Math.Max(fills / frozenMean, forcedHere ? Math.Max(unionReads, unionForced) : unionReads);
                if (plain) reads = Math.Max(reads, WholeTileSteps(t, c, reads));
                least = Math.Min(least, direct + reads * store[0].ReadEnergy + fills * store[c].WriteEnergy);
                if (c == decided) break;
            }
            return double.IsPositiveInfinity(least) ? 0 : least;
        }

        // The product of D over the ranks whose DRAM loop carries c's box clear of itself at each of its steps and rewinds
        // (docs/mapspace.md, "DRAM steps that clear the box"): in every DRAM order the iterations that follow a step of a loop
        // over the other ranks with only such loops inside it, the only ones that can start with words of their box, number
        // at most product(D) less this.
        double ClearingSteps(SearchTensor t, int c)
        {
            for (int r = 0; r < Ranks; r++)
            {
                long dr = remaining[r] / g[r];
                dramExtent[r] = _m.Bound[r] / dr;
                dramMoves[r] = dr > 1;
                dramSpread[r] = 1;
                for (int b = 0; b < c; b++) dramSpread[r] = checked(dramSpread[r] * s.Spatial(b, r));
            }
            double clearing = 1;
            for (int r = 0; r < Ranks; r++)
                if (dramMoves[r] && t.IndexedBy[r] && t.Dims.DramStepClearsBox(r, dramExtent, dramSpread, dramMoves)) clearing *= remaining[r] / g[r];
            return clearing;
        }

        // The ranks (a bit each) that alone index a dimension of t and have no loop between a fanout above c and c in every
        // completion of the case (docs/mapspace.md, "Pairs a frozen rank sets apart"): no on-chip factor in the split and none at
        // the decided levels above c; with the forced loop (`inside` its factors, m = `forcedFrom`), a rank of the held tensor
        // with nothing inside j (no loop from m down to d) when every fanout above c is at m - 1 or below m.
        long Frozen(SearchTensor t, int c, long[]? inside, int m)
        {
            long frozen = 0;
            bool fannedAboveMiddle = false;
            if (inside is not null)
                for (int b = 0; b < m - 1 && !fannedAboveMiddle; b++)
                    for (int r = 0; r < Ranks && !fannedAboveMiddle; r++) fannedAboveMiddle = s.Spatial(b, r) != 1;
            for (int r = 0; r < Ranks; r++)
            {
                if (!t.PlainDimRank[r]) continue;
                bool still = g[r] == 1 || inside is not null && !fannedAboveMiddle && held!.T.IndexedBy[r] && inside[r] == 1;
                for (int b = d; b < c && still; b++) still = s.Choice[b]!.Temporal[r] == 1;
                if (still) frozen |= 1L << r;
            }
            return frozen;
        }

        // The used words of an instance of c's box with the on-chip factors `factors` (the ranks split by a fanout above c
        // marked: their values need not be consecutive).
        double BoxWords(SearchTensor t, int c, long[] factors)
        {
            for (int r = 0; r < Ranks; r++)
            {
                refillBox[r] = _m.Bound[r] / (remaining[r] / factors[r]);
                refillGapped[r] = false;
                for (int b = 0; b < c; b++)
                    if (s.Spatial(b, r) > 1) { refillBox[r] /= s.Spatial(b, r); refillGapped[r] = true; }
            }
            return t.UsedWords(refillBox, refillGapped);
        }

        // A tensor that level 1 does not keep (not an output), c its outermost keeper below level 1 with at most one level
        // between them, in the split at hand (docs/mapspace.md, "Whole tiles at every step above a bypassed level one"). Every
        // instance of c steps with the loops above c (DRAM's, level 1's and the middle level's), all by one move. A rank r
        // whose loops above c move a dimension of t that no other rank moves above c, by |coef| x (c's tile extent e[r]) at
        // least the tile's extent there, carries every tile clear of itself at each step that changes r's index: each child's
        // delta is then its whole tile (level 1's fanout the only one above c), and Timeloop shares a parent access only
        // between identical deltas (rule C'): children at one place, so DRAM reads a tile per distinct place, however the
        // tiles overlap (at least the union U of the tiles). A child takes its delta from a neighbour only when the step's
        // move equals the difference of the two children's places (Timeloop's forwarding wants the neighbour's previous delta
        // equal to it); where no step's move does, DRAM reads every place's tile at each such step, and the index tuples of
        // those ranks change at least product(D) x the product of their on-chip factors times (their DRAM factors alone when
        // none has one), the least over the levels' orders. The least over c's tiles that fit its capacity (c undecided) and
        // the middle level's factors (each rank's on-chip factor above c split between level 1 and it) of that count times
        // the places' tiles (fewer where a neighbour may forward, below); 0 when the case is not one of these, when some choice is no higher than <paramref name="known"/>
        // (the term adds nothing), or past WholeTileWork choices.
        double WholeTileSteps(SearchTensor t, int c, double known)
        {
            if (t.IsOutput || c > 3 || t.Dims.Dimensions > 4) return 0;
            var stop = Stop;
            if (stop is not null && stop()) return 0;
            var plan = s.Plan;
            if (plan is null && s.Choice[1] is null) return 0;
            // Level 1's split along X and Y: the plan's and its variants' (the plan's bounds hold for each; docs/mapspace.md).
            var axes = plan is { } pl ? pl.Variants.Prepend(pl).Select(v => (X: v.X[1], Y: v.Y[1])).ToList()
                : [(X: s.Choice[1]!.SpatialX, Y: s.Choice[1]!.SpatialY)];
            foreach (var (ax, ay) in axes)
                for (int r = 0; r < Ranks; r++) if (ax[r] > 1 && ay[r] > 1) return 0;
            for (int r = 0; r < Ranks; r++)
                for (int b = 0; b < c; b++) if (b != 1 && s.Spatial(b, r) != 1) return 0;
            var index = t.Dims;
            int dims = index.Dimensions;
            var e = new long[Ranks];
            var f = new long[Ranks]; // on-chip temporal factors above c (levels 1 to c - 1)
            var mid = new long[Ranks]; // the middle level's share of f
            var dr = new long[Ranks];
            var s1 = new long[Ranks];
            var rel = new List<int>();
            bool midDecided = c == 3 && d <= 2;
            for (int r = 0; r < Ranks; r++)
            {
                dr[r] = remaining[r] / g[r];
                s1[r] = s.Spatial(1, r);
                mid[r] = midDecided ? s.Choice[2]!.Temporal[r] : 1;
                if (t.IndexedBy[r]) rel.Add(r);
                if (c >= d)
                {
                    e[r] = s.Rem[c][r];
                    long below = checked(dr[r] * s1[r] * e[r]);
                    if (_m.Bound[r] % below != 0) return 0;
                    f[r] = _m.Bound[r] / below;
                }
                else
                {
                    e[r] = s.Rem[d][r];
                    for (int b = c; b < d; b++) e[r] = checked(e[r] * s.Spatial(b, r));
                    f[r] = g[r];
                }
            }
            if (index.SpacedWords(e, s1, e) < 0) return 0; // a rank indexing two dimensions
            long? cap = _m.Storage[c].Capacity;
            var spacing = new long[Ranks];
            var delta = new long[Ranks];
            var whole = new bool[Ranks];
            var perWords = new double[3, Ranks];
            var layers = new List<(double Words, long Factor)>();
            var forwarded = new List<(int Level, int Rank, int Inside, (long, long, long, long) Move)>(); // the steps a neighbour may serve (Inside: the same level's movers rewinding, a bit per rank)
            var movers = rel.ToArray();
            var same = new int[Ranks];
            var tileKey = new long[movers.Length]; // c's tile over the ranks indexing t
            // With a middle level between the fanout and c (c = 3, level 2 bypassing t), Timeloop hands level 2's accesses (c's
            // fills, a neighbour's forwarded words included) up through the fanout's mean multicast (`Exact`).
            bool middle = c == 3 && _m.Map.Convention == Formulation.CostConvention.Timeloop;
            double lowest = double.PositiveInfinity;
            long work = 0, taken = 0;
            Tiles(0);
            Interlocked.Add(ref _wholeTileChoices, taken); // once per call, not per choice (the count is read by tests)
            return double.IsPositiveInfinity(lowest) || lowest <= known ? 0 : lowest;

            // c's tile: with c undecided, each rank indexing t takes a divisor x of its on-chip factor (e x x), f / x above c.
            void Tiles(int a)
            {
                if (c < d && a < rel.Count)
                {
                    int r = rel[a];
                    long e0 = e[r], f0 = f[r];
                    // The largest tiles first (the fewest steps): a choice no higher than `known` ends the search sooner.
                    var xs = _m.Divisors[f0];
                    for (int i = xs.Length - 1; i >= 0 && lowest > known; i--)
                    {
                        e[r] = checked(e0 * xs[i]);
                        f[r] = f0 / xs[i];
                        if (cap is { } k && t.Tile(e) > k) continue;
                        Tiles(a + 1);
                    }
                    (e[r], f[r]) = (e0, f0);
                    return;
                }
                if (cap is { } kk && t.Tile(e) > kk) return;
                // The ranks whose index changes carry every tile clear of itself.
                foreach (int r in rel) whole[r] = dr[r] * f[r] > 1 && Clears(r);
                Middle(0);
            }

            // The middle level's share of each rank's factor above c (with c = 3 and level 2 undecided); a rank split by level 1's
            // fanout then has its children's tiles mid x e apart.
            void Middle(int a)
            {
                if (a < rel.Count)
                {
                    int r = rel[a];
                    if (c == 2 || midDecided || f[r] == 1) { Middle(a + 1); return; }
                    var ms = _m.Divisors[f[r]];
                    for (int i = ms.Length - 1; i >= 0 && lowest > known; i--) { mid[r] = ms[i]; Middle(a + 1); }
                    mid[r] = 1;
                    return;
                }
                if (lowest <= known) return;
                if (++work > WholeTileWork || (stop is not null && work % StopEvery == 0 && stop())) { lowest = 0; return; }
                taken++;
                for (int r = 0; r < Ranks; r++) spacing[r] = checked(mid[r] * e[r]);
                double union = index.SpacedWords(e, s1, spacing);
                // What DRAM reads at a step that brings every child its whole tile where no neighbour serves one: a tile per
                // distinct place (rule C' shares identical tiles only; at least U).
                double tiles = index.SpacedTiles(e, s1, spacing);
                // The steps that change the index tuple of those ranks are the first and the steps of the loops from the
                // innermost over one of them outward: at least every loop of the levels outside the innermost level with one
                // (level 1's loops over ranks not indexing t counted only where its share is known) and its loops over them.
                int star = 0;
                foreach (int r in rel)
                    if (whole[r]) star = Math.Max(star, mid[r] > 1 ? 2 : f[r] / mid[r] > 1 ? 1 : 0);
                double steps = Chain(star);
                // Forwarding only lowers it; the reads through a bypassed middle level (Exact's fills) may raise it.
                if (!middle && steps * tiles <= known) { lowest = Math.Min(lowest, steps * tiles); return; }
                // First with each forwarded step's words at least those of U not in U moved back by its move (the tiles a
                // neighbour serves lie there; the places' tiles are at least their union): when that is no lower than a choice
                // already taken, the exact count is not either.
                Forwards(union, tiles, false);
                if (Layered(star, tiles) >= lowest) return;
                // Each step of those brings every instance of c its whole tile, a neighbour's or not.
                lowest = Math.Min(lowest, Exact(star, tiles, middle ? steps * t.Tile(e) * (double)s.Used[c] : 0));
            }

            // The product of the factors of those loops.
            double Chain(int star)
            {
                double product = 1;
                for (int level = 0; level <= star; level++)
                    for (int q = 0; q < Ranks; q++) product *= ChainFactor(star, level, q);
                return product;
            }

            // The factor of the loop over q at `level` among those loops (1 when it is not one of them).
            long ChainFactor(int star, int level, int q)
            {
                if (level == star && !(t.IndexedBy[q] && whole[q])) return 1;
                return level == 0 ? dr[q] : level == 2 ? mid[q] : t.IndexedBy[q] || c == 2 || midDecided ? f[q] / mid[q] : 1;
            }

            // The words DRAM reads over those steps: the first reads every place's tile, and a step of the loop over q at `level` (the
            // outermost whose index changes) at least perWords[level, q]. Whatever the order, the steps of the loops with the
            // k largest perWords, with the first, number at least the product of those loops' factors (each such index tuple
            // first appears at the first step or at a step of one of them), so taking the loops by perWords from the largest
            // down, each adds (its product with the loops before it less theirs) steps at its perWords at least.
            double Layered(int star, double first)
            {
                layers.Clear();
                for (int level = 0; level <= star; level++)
                    for (int q = 0; q < Ranks; q++)
                        if (ChainFactor(star, level, q) is var factor and > 1) layers.Add((perWords[level, q], factor));
                layers.Sort((a, b) => b.Words.CompareTo(a.Words));
                double total = first, product = 1;
                foreach (var (w, factor) in layers)
                {
                    total += product * (factor - 1) * w;
                    product *= factor;
                }
                return total;
            }

            // A step that changes r's index moves every tile clear of itself along a dimension no other rank moves above c.
            bool Clears(int r)
            {
                for (int k = 0; k < dims; k++)
                {
                    var ranks = index.RanksOf(k);
                    int at = ranks.IndexOf(r);
                    if (at < 0) continue;
                    bool fixedOthers = true;
                    foreach (int q in ranks) if (q != r && dr[q] * f[q] != 1) fixedOthers = false;
                    if (fixedOthers && Math.Abs((long)index.CoefficientsOf(k)[at]) * e[r] >= index.DimExtent(k, e)) return true;
                }
                return false;
            }

            // Per loop, the least words DRAM reads at one of its steps: every place's tile unless the step's move equals the
            // difference of two neighbours' places on level 1's physical mesh (`Neighbours`) in some variant and order of the
            // spatial loops, else the tiles of the places of the children no neighbour serves under that move (one tile per
            // distinct place: rule C' shares identical deltas only), the least over those placements. A step is one loop's (level L, rank r) moving r by its stride while every loop inside it rewinds:
            // those of the deeper levels, and any of level L's (order not known); the least over those moves.
            void Forwards(double union, double tiles, bool exact)
            {
                for (int level = 0; level < 3; level++)
                    for (int r = 0; r < Ranks; r++) perWords[level, r] = tiles;
                var near = NeighbourPlaces();
                if (near.Moves.Count == 0) return;
                for (int i = 0; i < movers.Length; i++) tileKey[i] = e[movers[i]];
                if (exact)
                {
                    // The steps are those of the first pass (same choice): only their words change.
                    foreach (var (level, r, _, v) in forwarded) perWords[level, r] = Math.Min(perWords[level, r], Unserved(near, v));
                    return;
                }
                forwarded.Clear();
                int top = c == 3 ? 2 : 1;
                for (int level = 0; level <= top; level++)
                    for (int r = 0; r < Ranks; r++) // a loop over a rank not indexing t moves t's tiles by its inner loops' rewinds
                    {
                        if (Factor(level, r) == 1) continue;
                        int sames = 0;
                        foreach (int q in movers) if (q != r && Factor(level, q) > 1) same[sames++] = q;
                        // The rewinds of the deeper levels up to `inner`: with c = 3, a step above the fanout also without the
                        // middle level's, whose loops run inside each child (Timeloop compares the children's deltas there).
                        // Timeloop runs a loop's iterations 0 and 1 only (rule B), so at a step of this loop each loop inside
                        // it goes back from its iteration 1 to 0: one stride.
                        for (int inner = top; inner >= (level < 2 ? Math.Min(top, 1) : top); inner--)
                        for (int mask = 0; mask < 1 << sames; mask++)
                        {
                            Array.Clear(delta);
                            foreach (int q in movers)
                            {
                                long back = 0;
                                for (int l = level + 1; l <= inner; l++) if (Factor(l, q) > 1) back += Stride(l, q);
                                delta[q] = -back;
                            }
                            if (t.IndexedBy[r]) delta[r] += Stride(level, r);
                            int inside = 0;
                            for (int j = 0; j < sames; j++)
                                if ((mask >> j & 1) != 0) { delta[same[j]] -= Stride(level, same[j]); inside |= 1 << same[j]; }
                            var v = Project();
                            if (!near.Moves.Contains(v)) continue;
                            forwarded.Add((level, r, inside, v));
                            perWords[level, r] = Math.Min(perWords[level, r], union - Shared(near, v));
                        }
                    }
            }

            // The exact count of a choice whose first pass is below the least so far. A mapping has one order per level and one
            // placement of the children (a variant of the plan and an order of each axis's spatial loops), so every loop's
            // steps take their words from the same placement, and the movers a loop's step rewinds at its own level are those
            // inside it in that level's order. The least over the placements and the orders of each level's movers (a loop
            // over a rank not indexing t may sit anywhere: any of its moves). The placements are taken from the least of
            // their counts with each loop's least over the orders (never more than theirs in any order) up; past
            // ConsistentWork combinations a placement keeps that count. Stops at a count no higher than `known`.
            // `fills` (> 0 with a middle level): what every instance of c takes in at those steps; a placement's count is then at
            // least Counts.ReadsThroughBypassedMiddle of it, its fills, the most mean multicast at those steps (no child served, or
            // those a forwarded move leaves) and at any step (CoincidingChildren).
            double Exact(int star, double tiles, double fills)
            {
                // Each loop's least over every placement and order: never more than the count below; when it is no higher
                // than `known` the term adds nothing whatever the count.
                Forwards(0, tiles, true);
                double loose = Layered(star, tiles);
                var near = NeighbourPlaces();
                int runs = near.Mesh.RunCount;
                if ((loose <= known && fills <= 0) || runs == 0 || (forwarded.Count == 0 && fills <= 0)) return loose;
                int top = c == 3 ? 2 : 1;
                // The placements of one group (the same unserved places at every forwarded move, the same children per place)
                // have the same words at every step and the same mean multicast, so the same counts: each group's are made once,
                // at its first placement (`Groups`), and every placement still takes its place in the order below.
                var (groupOfRun, first) = Groups(near);
                int groups = first.Length;
                var words = forwarded.Select(x => UnservedPerRun(near, x.Move)).ToArray();
                var rho = new double[groups];
                double most = 0;
                if (fills > 0)
                {
                    var plain = near.Plain!;
                    most = _cost.CoincidingChildren(t, s, 0, c); // the most at any step in any placement (kept per plan)
                    for (int g = 0; g < groups; g++) rho[g] = plain[first[g]];
                    foreach (var x in forwarded)
                    {
                        var mean = MeanPerRun(near, x.Move);
                        for (int g = 0; g < groups; g++) rho[g] = Math.Max(rho[g], mean[first[g]]);
                    }
                }
                double Through(int g, double count) => fills > 0 ? Math.Max(count, Formulation.Counts.ReadsThroughBypassedMiddle(count, fills, rho[g], most)) : count;
                if (forwarded.Count == 0)
                {
                    double leastRun = double.PositiveInfinity;
                    for (int g = 0; g < groups; g++) leastRun = Math.Min(leastRun, Through(g, loose));
                    return leastRun;
                }
                // Per placement, each loop's least over the orders: a count no higher than that placement's in any order.
                var byRun = new (double Value, int Run)[runs];
                var ofGroup = new double[groups];
                Array.Fill(ofGroup, double.NaN);
                for (int run = 0; run < runs; run++)
                {
                    int g = groupOfRun[run];
                    if (double.IsNaN(ofGroup[g]))
                    {
                        for (int level = 0; level <= top; level++)
                            for (int r = 0; r < Ranks; r++) perWords[level, r] = tiles;
                        for (int i = 0; i < forwarded.Count; i++)
                        {
                            var (level, r, _, _) = forwarded[i];
                            perWords[level, r] = Math.Min(perWords[level, r], words[i][first[g]]);
                        }
                        ofGroup[g] = Through(g, Layered(star, tiles));
                    }
                    byRun[run] = (ofGroup[g], run);
                    if (byRun[run].Value <= known) return byRun[run].Value;
                }
                Array.Sort(byRun);
                var orders = new List<List<int>>[top + 1];
                long combinations = 1;
                for (int level = 0; level <= top; level++)
                {
                    var here = movers.Where(q => Factor(level, q) > 1).ToList();
                    orders[level] = Formulation.Mapspace.Permutations(here).ToList();
                    combinations *= orders[level].Count;
                }
                var insideOf = new int[top + 1, Ranks];
                var choice = new int[top + 1];
                double least = double.PositiveInfinity;
                long work = 0;
                Array.Fill(ofGroup, double.NaN); // now each group's least over the orders
                foreach (var (value, run) in byRun)
                {
                    if (value >= least) break; // the runs after it are no lower
                    if (combinations == 1 || (work += combinations) > ConsistentWork) { least = Math.Min(least, value); continue; }
                    int g = groupOfRun[run];
                    if (!double.IsNaN(ofGroup[g])) { least = Math.Min(least, ofGroup[g]); continue; }
                    double group = double.PositiveInfinity;
                    Array.Clear(choice);
                    while (true)
                    {
                        for (int level = 0; level <= top; level++)
                        {
                            var order = orders[level][choice[level]]; // outermost first
                            int inside = 0;
                            for (int k = order.Count - 1; k >= 0; k--) { insideOf[level, order[k]] = inside; inside |= 1 << order[k]; }
                        }
                        for (int level = 0; level <= top; level++)
                            for (int r = 0; r < Ranks; r++) perWords[level, r] = tiles;
                        for (int i = 0; i < forwarded.Count; i++)
                        {
                            var (level, r, inside, _) = forwarded[i];
                            if (t.IndexedBy[r] && inside != insideOf[level, r]) continue; // not this order's step
                            perWords[level, r] = Math.Min(perWords[level, r], words[i][run]);
                        }
                        double count = Through(g, Layered(star, tiles));
                        group = Math.Min(group, count);
                        least = Math.Min(least, count);
                        if (least <= known) return least;
                        int at = 0;
                        while (at <= top && ++choice[at] == orders[at].Count) choice[at++] = 0;
                        if (at > top) break;
                    }
                    ofGroup[g] = group;
                }
                return least;
            }

            // The placements (runs) in groups with the same set of unserved places at each of the forwarded steps' moves
            // (`PlacesOf`) and the same children per place (`MeshPlacement.ChildrenPerPlacePerRun`): per run its group, and per
            // group its first run. Kept per set of moves.
            (int[] GroupOfRun, int[] First) Groups(Neighbours near)
            {
                var moves = new List<(long, long, long, long)>();
                foreach (var x in forwarded) if (!moves.Contains(x.Move)) moves.Add(x.Move);
                var flat = new long[4 * moves.Count];
                for (int i = 0; i < moves.Count; i++) (flat[4 * i], flat[4 * i + 1], flat[4 * i + 2], flat[4 * i + 3]) = moves[i];
                var key = new ContentKey((moves.Count, 0, 0, 0), flat);
                if (near.Groups.TryGetValue(key, out var known)) return known;
                var plain = near.Plain ??= near.Mesh.ChildrenPerPlacePerRun(near.Spacing);
                var sets = moves.Select(m => PlacesOf(near, m).SetOfRun).ToArray();
                int runs = near.Mesh.RunCount;
                var groupOfRun = new int[runs];
                var first = new List<int>();
                var ids = new Dictionary<string, int>();
                for (int run = 0; run < runs; run++)
                {
                    var id = plain[run].ToString("R") + ";" + string.Join(',', sets.Select(x => x[run]));
                    if (!ids.TryGetValue(id, out int g)) { ids[id] = g = first.Count; first.Add(run); }
                    groupOfRun[run] = g;
                }
                return near.Groups.GetOrAdd(key, (groupOfRun, first.ToArray()));
            }

            // The words U shares with itself moved by `move` (the tiles a neighbour serves lie there; kept per tile extent and move).
            long Shared(Neighbours near, (long, long, long, long) move)
            {
                var key = new ContentKey(move, tileKey);
                if (near.Shared.TryGetValue(key, out long known)) return known;
                Span<long> shift = stackalloc long[4];
                (shift[0], shift[1], shift[2], shift[3]) = move;
                long words = index.SpacedWords(e, s1, spacing, shift[..dims]);
                near.Shared[key.Copy()] = words;
                return words;
            }

            // The least, over the placements of the children, of the words DRAM reads for the children no neighbour serves at a
            // step moving them by `move`: a tile per distinct place of theirs (kept per tile extent and move).
            long Unserved(Neighbours near, (long, long, long, long) move)
            {
                var key = new ContentKey(move, tileKey);
                if (near.Unserved.TryGetValue(key, out long known)) return known;
                long least = long.MaxValue;
                foreach (var places in PlacesOf(near, move).Sets) least = Math.Min(least, index.TilesAt(places, e));
                near.Unserved[key.Copy()] = least;
                return least;
            }

            // Per placement of the children (in the order of MeshPlacement's runs), the unserved children over their distinct places
            // at a step moving them by `move` (the mean multicast of the parent's accesses there; kept per move).
            double[] MeanPerRun(Neighbours near, (long, long, long, long) move)
                => near.MeanByMove.GetOrAdd(move, m =>
                {
                    var (sets, setOfRun) = PlacesOf(near, m);
                    var bySet = sets.Select(places => places.Count == 0 ? 0 : (double)places.Count / places.Select(p => (p[0], dims > 1 ? p[1] : 0, dims > 2 ? p[2] : 0, dims > 3 ? p[3] : 0)).Distinct().Count()).ToArray();
                    return setOfRun.Select(k => bySet[k]).ToArray();
                });

            // Per placement of the children (in the order of MeshPlacement's runs), the words DRAM reads for the children no
            // neighbour serves at a step moving them by `move`: a tile per distinct place of theirs (kept per tile extent and move).
            long[] UnservedPerRun(Neighbours near, (long, long, long, long) move)
            {
                var key = new ContentKey(move, tileKey);
                if (near.PerRun.TryGetValue(key, out var known)) return known;
                var (sets, setOfRun) = PlacesOf(near, move);
                var bySet = sets.Select(places => index.TilesAt(places, e)).ToArray();
                var words = setOfRun.Select(k => bySet[k]).ToArray();
                near.PerRun[key.Copy()] = words;
                return words;
            }

            // Per move (kept across tile extents), the distinct sets of places of the children no neighbour serves and each
            // placement's set among them (MeshPlacement.UnservedPerRun): what Unserved and UnservedPerRun both read.
            (List<long[]>[] Sets, int[] SetOfRun) PlacesOf(Neighbours near, (long, long, long, long) move)
                => near.Places.GetOrAdd(move, m =>
                {
                    long[] dimMove = [m.Item1, m.Item2, m.Item3, m.Item4];
                    var perRun = near.Mesh.UnservedPerRun(near.Spacing, dimMove.AsSpan(0, dims));
                    var sets = new List<List<long[]>>();
                    var ids = new Dictionary<string, int>();
                    var setOfRun = new int[perRun.Length];
                    for (int run = 0; run < perRun.Length; run++)
                    {
                        var id = string.Join(',', perRun[run]);
                        if (!ids.TryGetValue(id, out int k)) { ids[id] = k = sets.Count; sets.Add(near.Mesh.Places(perRun[run], near.Spacing)); }
                        setOfRun[run] = k;
                    }
                    return (sets.ToArray(), setOfRun);
                });

            // The differences of offsets (along t's dimensions) between the children of level 1's fanout and their neighbours on
            // its physical mesh (Timeloop's row-major placement, X innermost: `TimeloopConvention.NeighbourPairs`), either way
            // round, over the plan's variants (the plan's bounds hold for each) and every order of each axis's spatial loops,
            // the children spaced by `spacing`: each a difference per rank of the mesh (`Mesh`, kept per plan, or level 1's
            // choice, and tensor) times the spacing, projected. Kept per plan, tensor and spacing.
            Neighbours NeighbourPlaces()
            {
                var mesh = _meshes.GetOrAdd((plan ?? (object)s.Choice[1]!, t.Index), _ =>
                {
                    var placement = new Formulation.TensorIndex.MeshPlacement(index, Ranks);
                    foreach (var (ax, ay) in axes)
                    {
                        var x = Enumerable.Range(0, Ranks).Where(r => ax[r] > 1).Select(r => (r, (long)ax[r])).ToList();
                        var y = Enumerable.Range(0, Ranks).Where(r => ay[r] > 1).Select(r => (r, (long)ay[r])).ToList();
                        long children = 1;
                        foreach (var (_, n) in x.Concat(y)) children = checked(children * n);
                        var pairs = Formulation.TimeloopConvention.NeighbourPairs(_m.Storage[1].Fanout, (int)children);
                        foreach (var px in Formulation.Mapspace.Permutations(x))
                            foreach (var py in Formulation.Mapspace.Permutations(y))
                            {
                                var run = new List<(int Rank, long Factor, long Stride)>();
                                var stride = new long[Ranks];
                                Array.Fill(stride, 1);
                                foreach (var (r, n) in px.Concat(py)) { run.Add((r, n, stride[r])); stride[r] = checked(stride[r] * n); }
                                placement.Add(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(run), pairs);
                            }
                    }
                    return placement;
                });
                var key = new ContentKey(plan ?? (object)s.Choice[1]!, t.Index, spacing);
                if (_neighbours.TryGetValue(key, out var known)) return known;
                return _neighbours.GetOrAdd(key.Copy(), _ =>
                {
                    var found = new HashSet<(long, long, long, long)>();
                    var scaled = new long[Ranks];
                    Span<long> v = stackalloc long[4];
                    foreach (var m in mesh.RankMoves)
                    {
                        for (int r = 0; r < Ranks; r++) scaled[r] = checked(m[r] * spacing[r]);
                        v.Clear();
                        bool any = false;
                        for (int k = 0; k < dims; k++) any |= (v[k] = index.Shift(k, scaled)) != 0;
                        if (!any) continue;
                        found.Add((v[0], v[1], v[2], v[3]));
                        found.Add((-v[0], -v[1], -v[2], -v[3]));
                    }
                    return new Neighbours(mesh, (long[])spacing.Clone(), found);
                });
            }

            // The move `delta` along t's dimensions (at most four here).
            (long, long, long, long) Project()
            {
                Span<long> v = stackalloc long[4];
                for (int k = 0; k < dims; k++) v[k] = index.Shift(k, delta);
                return (v[0], v[1], v[2], v[3]);
            }

            // The factor and the stride of the loop over q at level 0 (DRAM), 1, or 2 (the middle level), above c. A rank not
            // indexing t whose share of the middle level is not known may put its whole factor at either level.
            long Factor(int level, int q) => level == 0 ? dr[q]
                : !t.IndexedBy[q] && c == 3 && !midDecided ? f[q]
                : level == 1 ? f[q] / mid[q] : mid[q];
            long Stride(int level, int q) => level switch { 0 => checked(f[q] * s1[q] * e[q]), 1 => checked(s1[q] * mid[q] * e[q]), _ => e[q] };
        }

        // Level 1's visits of t when DRAM's innermost loop runs over r0, a window rank of t: its first tile, then
        // each of r0's own steps, (D - 1) of every D, moves the tile by r0's DRAM stride with nothing inside to
        // rewind and brings the words the move uncovers; and each step of a DRAM loop over a rank that does not
        // index t rewinds r0's loop inside it (perhaps more, which only moves the tile further when no
        // coefficient is negative): at least (product of those loops' factors - 1) such steps, whatever the order.
        double WindowVisits(Part o, int r0)
        {
            var t = o.T;
            long dr = remaining[r0] / g[r0];
            long stride0 = checked(ext[r0] * s.Spatial(0, r0));
            double visits = o.Tile + dramSteps * (1 - 1.0 / dr) * t.WindowFresh(ext, r0, stride0, noBack);
            if (!t.NonNegative) return visits;
            double others = 1;
            for (int r = 0; r < Ranks; r++) if (!t.IndexedBy[r]) others *= remaining[r] / g[r];
            if (others <= 1) return visits;
            rewind[r0] = checked((dr - 1) * stride0);
            visits += (others - 1) * t.WindowFresh(ext, r0, 0, rewind);
            rewind[r0] = 0;
            return visits;
        }

        // The term of the shared orders (docs/mapspace.md, "The outer bound"): with d = 2, a split and a keep set of level 1
        // fix every factor, and each tensor's keeper right below DRAM is known (level 1 when it keeps the tensor, else the
        // outermost decided keeper). A keeper's visits are what the decided levels bring (Raw0), plus product(D) times level
        // 1's own term, plus DRAM's own term (docs/cost-model.md, "Visits"); level 1's visits are its tile plus DRAM's term.
        // Each level's term depends on that level's order alone, and every tensor sees the same order. The visit energy is
        // convex and never decreasing in the visits, so each tensor pays at least its energy with neither term plus its
        // slope there times the terms; the least over each level's orders of the weighted sum is found by the dynamic
        // programme that picks orders at the leaves. A keeper whose order-free floor (forced visits, the sweep) already
        // costs what a whole tile per step of every loop above d would is taken at that floor alone.
        double JointOrders(int keep)
        {
            if (!stepsBuilt)
            {
                DramSteps();
                for (int r = 0; r < Ranks; r++)
                {
                    oneStride[r] = checked(s.Rem[d][r] * s.Spatial(1, r));
                    gInt[r] = checked((int)g[r]);
                }
                foreach (var o in parts)
                {
                    if (o.Floored) continue;
                    if (o.Keeper0 < 0) { o.StepKeeper = o.StepKeeperOne = null; continue; }
                    // The rewinds between DRAM (or level 1) and the keeper: level 1's loops (for DRAM only), then the decided levels'.
                    for (int r = 0; r < Ranks; r++)
                    {
                        long b = 0;
                        for (int l = d; l < o.Keeper0; l++) b = checked(b + (s.Choice[l]!.Temporal[r] - 1) * s.Rem[l + 1][r] * s.Spatial(l, r));
                        between[r] = b;
                    }
                    o.StepKeeperOne = new OrderOptimizer.StepModel(o.T, s.Rem[o.Keeper0], oneStride, g, between);
                    for (int r = 0; r < Ranks; r++) between[r] = checked(between[r] + (g[r] - 1) * oneStride[r]);
                    o.StepKeeper = new OrderOptimizer.StepModel(o.T, s.Rem[o.Keeper0], dramStride, dramFactors, between);
                }
                stepsBuilt = true;
            }
            double constant = 0;
            dramTerms.Clear();
            oneTerms.Clear();
            foreach (var o in parts)
            {
                if (o.Floored) continue;
                bool kept = (keep & o.T.Bit) != 0;
                if (kept)
                {
                    constant += o.One.Energy(o.Tile);
                    dramTerms.Add((o.StepOne!, o.One.Slope(o.Tile)));
                }
                if (o.Keeper0 < 0) { constant += kept ? o.FromOne : o.FromDram; continue; }
                var link = kept ? o.TopOne : o.TopDram;
                double floorCost = kept ? o.OneBase[0] : o.DramBase[0];
                if (floorCost >= o.Rest[0] + link.Energy(o.Raw0 + o.Tile0 * (aboveD - 1))) { constant += floorCost; continue; }
                constant += o.Rest[0] + link.Energy(o.Raw0);
                double slope = link.Slope(o.Raw0);
                dramTerms.Add((o.StepKeeper!, slope));
                oneTerms.Add((o.StepKeeperOne!, slope * dramSteps));
            }
            // DRAM's loops are few: when they alone reach the cutoff, level 1's programme (up to 2^k x k steps) is skipped;
            // the value is then smaller, and still a bound.
            double sum = WithWindows(keep, constant, out _);
            return sum >= cutoff ? sum : sum + WeightedOrder(gInt, oneTerms);
        }

        // DRAM's order shared by every tensor when level 1 and a middle level are undecided (d > 2; docs/mapspace.md, "DRAM's
        // order shared by every tensor"): level 1's tile is known in the split, and its visits are that tile plus DRAM's own
        // term; a plain tensor no decided level keeps, kept at its middle level and served by DRAM, gets at least the box one
        // instance uses in a DRAM iteration at every DRAM step that changes an index of the tensor (the boxes of two such
        // iterations are disjoint, and every word an iteration uses is in the box). Everything else counts its order-free
        // value of the split. Each tensor pays at least its energy at the first tile plus its slope there times DRAM's term,
        // and one DRAM order serves every tensor: the least over DRAM's orders of the weighted sum is a bound of the case.
        double DramOrder(int keep)
        {
            if (!stepsBuilt)
            {
                DramSteps();
                foreach (var o in parts)
                {
                    if (o.Floored) continue;
                    o.StepMiddle = null;
                    if (o.Keeper0 >= 0 || o.Middle < 0 || !o.T.Plain) continue;
                    for (int r = 0; r < Ranks; r++) extMiddle[r] = checked(o.MiddleExt[r] * g[r]);
                    o.StepMiddle = new OrderOptimizer.StepModel(o.T, extMiddle, dramStride, dramFactors, noBetween);
                    o.MiddleWords = o.T.UsedWords(extMiddle);
                    o.MiddleDensity = o.MiddleWords / o.T.Tile(extMiddle);
                }
                stepsBuilt = true;
            }
            // firsts: the middle tensors' first tiles; choices: each one's cheaper of that and its direct reads; direct: the
            // least any one of them adds when it is read straight from DRAM.
            double constant = 0, firsts = 0, choices = 0, direct = double.PositiveInfinity;
            dramTerms.Clear();
            foreach (var o in parts)
            {
                if (o.Floored) continue;
                if ((keep & o.T.Bit) != 0)
                {
                    constant += o.One.Energy(o.Tile) + (o.Keeper0 < 0 ? o.FromOne : o.OneBase[0]);
                    dramTerms.Add((o.StepOne!, o.One.Slope(o.Tile)));
                    continue;
                }
                if (o.Keeper0 >= 0) { constant += o.ViaDram[0, 0]; continue; }
                if (o.StepMiddle is null || o.FromDram >= o.DirectDram) { constant += o.FromDram; continue; }
                // Kept at its middle level (with DRAM's term), or read by the compute units straight from DRAM: a completion
                // that does the latter pays at least its direct reads and the order-free values of the others.
                double first = o.DirectMiddle + o.MiddleFromDram.Energy(o.MiddleWords);
                constant += first;
                firsts += first;
                choices += Math.Min(first, o.DirectDram);
                direct = Math.Min(direct, o.DirectDram - Math.Min(first, o.DirectDram));
                dramTerms.Add((o.StepMiddle, o.MiddleFromDram.Slope(o.MiddleWords) * o.MiddleDensity));
            }
            double viaMiddle = WithWindows(keep, constant, out double floors);
            return Math.Min(viaMiddle, constant + floors - firsts + choices + direct);
        }

        // The loop a middle level's capacity forces above it (docs/mapspace.md, "The loop a middle level's capacity forces"):
        // when the held tensor w (eyeriss's weights), kept at its middle level m and served by DRAM, has a box per DRAM
        // iteration (its tile with every on-chip factor G of its ranks) larger than m's capacity, some on-chip loop above m
        // runs over a rank of w; call the innermost such loop j. Every step of a loop at or outside j (and of every DRAM loop)
        // brings w's whole tile into m and the steps of the loops inside j bring nothing. Let I be every rank's on-chip factors
        // inside j (the loops above m inside j and every loop from m down to d).
        // A tensor x with a decided keeper c whose visits count nothing above d yet (eyeriss's inputs and outputs) has every
        // loop above m over a rank of w that does not index x at or outside j: with the other loops outside the innermost of
        // them fixed, each pass of its body but the first uses again the words the first used (at least the used words of
        // c's tile with the factors I, all inside j) and starts with at most c's tile: at least (Q - 1) x (those words - the
        // tile) arrive again in each DRAM iteration, with Q the product of those ranks' factors above m (G over I). These are
        // words c held earlier in the iteration, so they come on top of the first arrivals (the sweep and the other floors).
        // Whatever ranks j and the loops outside it run over (R of the inputs' window too), each run of j's body uses x's box
        // inside j (c's tile with the factors I) and starts with at most c's tile held: x's visits are also at least the runs
        // (every on-chip factor G over I, times product(D)) times (the box's used words less the tile).
        // Here I runs over every rank (for w's ranks, the factors from m down to d, whose tile of w must fit m's capacity), w's
        // visits are its tile at m with I times every other factor (G over I) times product(D). The least over I of w's and
        // x's energies, and w's direct reads plus x's floors alone (a completion that reads w straight from DRAM forces nothing),
        // the smaller of the two plus every other tensor's order-free value bounds the case.
        double ForcedLoop(int keep)
        {
            var w = held!;
            if ((keep & w.T.Bit) != 0) return 0;
            if (!forcedBuilt)
            {
                forcedBuilt = true;
                for (int r = 0; r < Ranks; r++) swept[r] = checked(w.MiddleExt[r] * (w.T.IndexedBy[r] ? g[r] : 1));
                forced = w.T.Tile(swept) > _m.Storage[w.Middle].Capacity!.Value;
                splitRanks.Clear();
                for (int r = 0; r < Ranks; r++) if (w.T.IndexedBy[r] && g[r] > 1) splitRanks.Add(r);
                heldRanks = splitRanks.Count;
                for (int r = 0; r < Ranks; r++) if (!w.T.IndexedBy[r] && g[r] > 1) splitRanks.Add(r);
            }
            if (!forced) return 0;
            double constant = 0;
            windows.Clear();
            foreach (var o in parts)
            {
                if (o == w || atD.Contains(o)) continue;
                // A window tensor level 1 does not keep: refilled over the forced loop's passes and runs (Refills).
                if (o.Floored && (keep & o.T.Bit) == 0) windows.Add(o);
                else constant += o.Floored ? o.FloorIn(keep) : (keep & o.T.Bit) != 0 ? o.ViaOne[0, 0] : o.ViaDram[0, 0];
            }
            // Read straight from DRAM, w forces nothing: its direct reads and x's floors.
            double direct = w.DirectDram;
            foreach (var x in windows) direct += x.FloorIn(keep);
            foreach (var x in atD)
            {
                bool kept = (keep & x.T.Bit) != 0;
                double first = Math.Max(x.V0[0], x.Sweep);
                if (!kept && x.OnChip) first = Math.Max(first, x.Used0 * x.Scale);
                forcedFirsts[x.T.Index] = first;
                direct += XEnergy(x, kept, first);
            }
            long capacity = _m.Storage[w.Middle].Capacity!.Value;
            double best = direct, heldTile = 0;
            Array.Fill(inside, 1L);
            Inside(0);
            return constant + best;

            double XEnergy(Part x, bool kept, double visits) =>
                kept ? x.Rest[0] + x.TopOne.Energy(visits) + x.FloorOne : x.Rest[0] + x.TopDram.Energy(visits);

            // inside: every rank's on-chip factor inside j (for w's ranks, the levels from m down to d).
            void Inside(int a)
            {
                if (a == heldRanks)
                {
                    for (int r = 0; r < Ranks; r++) swept[r] = checked(w.MiddleExt[r] * inside[r]);
                    heldTile = w.T.Tile(swept);
                    if (heldTile > capacity) return;
                }
                if (a < splitRanks.Count)
                {
                    int r = splitRanks[a];
                    foreach (var f in _m.Divisors[g[r]]) { inside[r] = f; Inside(a + 1); }
                    inside[r] = 1;
                    return;
                }
                // w's tile changes at every step of a loop at or outside j: the on-chip factors of its ranks above m and of
                // the other ranks outside j, and every DRAM step.
                double changes = dramSteps;
                foreach (var r in splitRanks) changes *= g[r] / inside[r];
                double sum = Math.Max(w.FromDram, w.DirectMiddle + w.MiddleFromDram.Energy(Math.Max(w.UsedMiddle * w.Scale, heldTile * changes)));
                foreach (var x in atD)
                {
                    double passes = 1;
                    for (int i = 0; i < heldRanks; i++) if (!x.T.IndexedBy[splitRanks[i]]) passes *= g[splitRanks[i]] / inside[splitRanks[i]];
                    for (int r = 0; r < Ranks; r++) swept[r] = checked(x.KeeperExt[r] * inside[r]);
                    double body = Math.Max(0, x.T.UsedWords(swept) - x.Tile0);
                    double visits = forcedFirsts[x.T.Index];
                    if (passes > 1) visits += dramSteps * (passes - 1) * body;
                    // Each of the `changes` runs of j's body uses the box inside j and starts with at most c's tile.
                    visits = Math.Max(visits, changes * body);
                    sum += XEnergy(x, (keep & x.T.Bit) != 0, visits);
                    if (sum >= best) return;
                }
                foreach (var x in windows)
                {
                    double passes = 1;
                    for (int i = 0; i < heldRanks; i++) if (!x.T.IndexedBy[splitRanks[i]]) passes *= g[splitRanks[i]] / inside[splitRanks[i]];
                    sum += Math.Max(x.FloorIn(keep), Refills(x, inside, passes, changes, w.Middle));
                    if (sum >= best) return;
                }
                best = Math.Min(best, sum);
            }
        }

        // The shared DRAM order's value with the floored tensors (docs/mapspace.md, "DRAM's order and the window tensor kept at
        // level 1"): constant and dramTerms hold the other tensors. A floored tensor counts its floor; when level 1 keeps it
        // (served by DRAM with no fanout between), level 1's fills are also at least its first tile and what each step of
        // DRAM's loops brings on Timeloop's sampled sequence (SampledWindowStep), which depends on DRAM's order alone: the
        // larger of the two values (the floors, and the fills with that order shared by every tensor) bounds the case.
        double WithWindows(int keep, double constant, out double floors)
        {
            floors = 0;
            double under = 0;
            windowTerms.Clear();
            foreach (var o in parts)
            {
                if (!o.Floored) continue;
                floors += o.FloorIn(keep);
                if ((keep & o.T.Bit) != 0 && o.StepWindow is not null)
                {
                    under += o.UnderOne + o.FillOne * o.Tile;
                    windowTerms.Add((o.StepWindow, o.FillOne));
                }
                else under += o.FloorIn(keep);
            }
            double plain = constant + floors + WeightedOrder(dramInt, dramTerms);
            if (windowTerms.Count == 0 || plain >= cutoff) return plain;
            return Math.Max(plain, constant + under + WeightedOrder(dramInt, dramTerms, windowTerms));
        }

        // The orders shared by every tensor at a plan's root on a three-level hierarchy (docs/mapspace.md, "The orders shared
        // at a plan's root"): with nothing decided, the register level below level 1 is the one middle level, and a completion
        // of the split and keep set of level 1 at hand picks its factors T (dividing G rank by rank) and its keep set, whose
        // tiles fit its capacity. Those fix every factor, so JointOrders' argument holds: a tensor the register level keeps
        // has visits there of exactly its tile plus product(D) times level 1's own term plus DRAM's own term, a tensor level 1
        // keeps has its tile there plus DRAM's term, and the compute units read every other tensor from its innermost keeper
        // (level 1 or DRAM). Each visit energy is convex and never decreasing, so each tensor pays at least a constant plus its
        // slope times those terms, and one order per level serves every tensor: the least over every such choice of the
        // constant plus each level's least weighted sum bounds the case. Returns `least` as soon as a choice is no higher.
        double RootOrders(int keep, double least)
        {
            if (rootWork > RootWorkLimit) return least;
            if (!stepsBuilt) { DramSteps(); stepsBuilt = true; }
            // Only whether the least reaches the cutoff matters beyond it: choices that do are skipped.
            double lowest = cutoff;
            foreach (var k2 in rootKeeps)
            {
                // Every tile is at least its size with T all ones (the energies never decrease), so a keep set whose
                // constant reaches the lowest value there is skipped whatever T; with nothing kept, T changes nothing.
                Array.Fill(t2, 1L);
                if (Constant(keep, k2) >= lowest) continue;
                if (Choose(k2, 0)) return least;
                if (rootWork > RootWorkLimit) return least;
            }
            return Math.Max(least, lowest);

            // Register-level factors T rank by rank, pruned by its capacity (every tile grows with T); true when a choice no
            // higher than `least` was found (the term then adds nothing).
            bool Choose(int k2, int a)
            {
                if (++rootWork > RootWorkLimit) return false;
                if (a < active.Length && k2 != 0)
                {
                    int r = active[a];
                    foreach (var f in _m.Divisors[g[r]])
                    {
                        t2[r] = f;
                        if (!Fits(k2)) break; // divisors ascend
                        if (Choose(k2, a + 1)) { t2[r] = 1; return true; }
                        if (rootWork > RootWorkLimit) break;
                    }
                    t2[r] = 1;
                    return false;
                }
                double constant = Constant(keep, k2);
                if (constant >= lowest) return false;
                double sum = constant + WeightedOrder(dramInt, dramTerms);
                if (sum >= lowest) return false;
                sum += WeightedOrder(gOneInt2, oneTerms);
                lowest = Math.Min(lowest, sum);
                return lowest <= least;
            }

            bool Fits(int k2)
            {
                if (capRoot is not { } c) return true;
                long need = 0;
                foreach (var o in parts) if ((k2 & o.T.Bit) != 0) need = checked(need + o.T.Tile(Extents()));
                return need <= c;
            }

            long[] Extents()
            {
                for (int r = 0; r < Ranks; r++) ext2[r] = checked(s.Rem[d][r] * s.Spatial(2, r) * t2[r]);
                return ext2;
            }

            // The choice's constant, with each level's terms and slopes in dramTerms and oneTerms.
            double Constant(int keep1, int k2)
            {
                Extents();
                for (int r = 0; r < Ranks; r++)
                {
                    stride2[r] = checked(ext2[r] * s.Spatial(1, r));
                    gOne2[r] = g[r] / t2[r];
                    gOneInt2[r] = checked((int)gOne2[r]);
                    between2[r] = checked((gOne2[r] - 1) * stride2[r]);
                }
                double constant = 0;
                dramTerms.Clear();
                oneTerms.Clear();
                foreach (var o in parts)
                {
                    if (o.Floored) { constant += o.FloorIn(keep1); continue; }
                    bool kept1 = (keep1 & o.T.Bit) != 0;
                    if (kept1)
                    {
                        constant += o.One.Energy(o.Tile);
                        dramTerms.Add((o.StepOne!, o.One.Slope(o.Tile)));
                    }
                    if ((k2 & o.T.Bit) == 0) { constant += kept1 ? o.DirectOne : o.DirectDram; continue; }
                    var link = kept1 ? o.MiddleFromOne : o.MiddleFromDram;
                    long tile = o.T.Tile(ext2);
                    double slope = link.Slope(tile);
                    constant += o.DirectMiddle + link.Energy(tile);
                    // Each tensor's two steps are rebuilt in place for every choice (the lists are refilled with them each time).
                    o.RootDram = o.RootDram?.Reset(ext2, dramStride, dramFactors, between2) ?? new(o.T, ext2, dramStride, dramFactors, between2);
                    o.RootOne = o.RootOne?.Reset(ext2, stride2, gOne2, noBetween) ?? new(o.T, ext2, stride2, gOne2, noBetween);
                    dramTerms.Add((o.RootDram, slope));
                    oneTerms.Add((o.RootOne, slope * dramSteps));
                }
                return constant;
            }
        }

        // DRAM's factors and strides in the split at hand, and what one step of each DRAM loop brings into level 1's tile.
        void DramSteps()
        {
            for (int r = 0; r < Ranks; r++)
            {
                dramFactors[r] = remaining[r] / g[r];
                dramInt[r] = checked((int)dramFactors[r]);
                dramStride[r] = checked(ext[r] * s.Spatial(0, r));
            }
            foreach (var o in parts)
                if (!o.Floored) o.StepOne = o.CanKeep ? new OrderOptimizer.StepModel(o.T, ext, dramStride, dramFactors, noBetween) : null;
                else o.StepWindow = double.IsNaN(o.UnderOne) ? null : new OrderOptimizer.SampledWindowStep(o.T, ext, dramStride);
        }

        double WeightedOrder(int[] factors, List<(OrderOptimizer.StepModel Step, double Slope)> terms, List<(OrderOptimizer.SampledWindowStep Step, double Slope)>? windows = null) =>
            terms.Count == 0 && (windows is null || windows.Count == 0) ? 0 : _orders.BestOrder(factors, (rank, inside) =>
            {
                double sum = 0;
                foreach (var (step, slope) in terms) sum += slope * step.Fresh(rank, inside);
                if (windows is not null) foreach (var (step, slope) in windows) sum += slope * step.Fresh(rank, inside);
                return sum;
            }).Value;

        // A decided keeper's base costs in this split, its visits raised to the sweep floor when that is more.
        void Bases(Part o, int f)
        {
            if (o.Sweep <= o.V0[f])
            {
                o.DramBase[f] = o.BaseDram[f];
                o.OneBase[f] = o.BaseOne[f];
                return;
            }
            o.DramBase[f] = o.Rest[f] + o.TopDram.Energy(o.Sweep);
            if (o.CanKeep) o.OneBase[f] = o.Rest[f] + o.TopOne.Energy(o.Sweep);
        }

        double Consider(int keep, int r0, int inner)
        {
            double sum = 0;
            foreach (var o in parts)
            {
                if (o.Floored) { sum += o.FloorIn(keep); continue; }
                var t = o.T;
                int f = inner >= 0 && o.ForcedBy[1 + inner] ? 1 + inner : 0;
                if ((keep & t.Bit) != 0)
                    sum += r0 >= 0 && t.WindowRank[r0] ? o.ViaOne[f, 0] - o.FloorOne + o.WindowOne[r0] : o.ViaOne[f, r0 >= 0 && t.PlainDimRank[r0] ? 1 : 0];
                else sum += o.ViaDram[f, r0 >= 0 && t.PlainDimRank[r0] ? 1 : 0];
            }
            return sum;
        }
    }
}
