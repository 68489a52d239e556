using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// The search's own cost of a partial or complete mapping (docs/cost-model.md) over its array state,
/// through the formula kernel (<see cref="Counts"/>, <see cref="TensorIndex"/>): the exact objective of a
/// complete state, the terms a partial one fixes (the outer-first searches' lower bound), and the counts
/// the bounds share (visits, what a plan fixes, multicast and reduction, hops, the energy of a visit word).
/// Every answer is re-costed by the reference <see cref="CostModel"/>, and the tests compare the two on
/// random mappings of every preset.
/// </summary>
internal sealed class ArrayCostModel(SearchProblem problem) : SearchPart(problem)
{

    /// <summary>The temporal loops above level c, outermost first, with their strides as seen from c's tile.</summary>
    private StepLoop[] LoopsAbove(State s, int c)
    {
        var inner = (long[])s.Rem[c].Clone();
        var list = new List<StepLoop>();
        for (int d = c - 1; d >= 0; d--)
        {
            var ch = s.Choice[d]!;
            for (int r = 0; r < Ranks; r++) inner[r] = checked(inner[r] * ch.SpatialX[r] * ch.SpatialY[r]);
            for (int i = ch.Order.Length - 1; i >= 0; i--)
            {
                int r = ch.Order[i];
                list.Add(new StepLoop(r, ch.Temporal[r], inner[r]));
                inner[r] = checked(inner[r] * ch.Temporal[r]);
            }
        }
        list.Reverse();
        return list.ToArray();
    }

    /// <summary>Words brought into one instance of level c over the run (<see cref="Counts.Visits"/>, or <see cref="Counts.ClippedVisits"/> with imperfect factors).</summary>
    public long Visits(SearchTensor t, State s, int c)
        => c == 0 ? t.Tile(s.Rem[0])
            : _m.Imperfect ? Counts.ClippedVisits(t.Dims, s.Rem[c], ChainAbove(s, c), _m.Bound)
            : Counts.Visits(t.Dims, s.Rem[c], LoopsAbove(s, c), sampled: Sampled(t));

    /// <summary>
    /// True when t's visits are counted as Timeloop samples them (the Timeloop convention, a window tensor): a lower bound of
    /// Timeloop's count, which can be below the sliding window's (<see cref="Counts.Visits"/>).
    /// </summary>
    private bool Sampled(SearchTensor t) => _m.SharedWindows && _m.Map.Convention == CostConvention.Timeloop && t.IsWindow;

    /// <summary>
    /// Every loop above level c with a factor above 1, outermost first, as the clipped count sees it (per level its
    /// temporal loops in the level's order, then its spatial ones), each with its stride: the product of its rank's
    /// factors inside it. The state's extents are clipped to the bounds, which changes no such stride: a loop with a
    /// factor above 1 has less than the bound inside it.
    /// </summary>
    public ChainLoop[] ChainAbove(State s, int c)
    {
        var inner = (long[])s.Rem[c].Clone();
        var list = new List<ChainLoop>();
        for (int d = c - 1; d >= 0; d--)
        {
            var ch = s.Choice[d]!;
            for (int r = Ranks - 1; r >= 0; r--)
                foreach (long f in new long[] { ch.SpatialY[r], ch.SpatialX[r] })
                    if (f > 1) { list.Add(new ChainLoop(r, f, inner[r], true)); inner[r] = checked(inner[r] * f); }
            for (int i = ch.Order.Length - 1; i >= 0; i--)
            {
                int r = ch.Order[i];
                list.Add(new ChainLoop(r, ch.Temporal[r], inner[r], false));
                inner[r] = checked(inner[r] * ch.Temporal[r]);
            }
        }
        list.Reverse();
        return list.ToArray();
    }

    /// <summary>
    /// A lower bound on the objective of every completion of a partial mapping whose loops are fixed
    /// for levels below <paramref name="loopsDecided"/> and whose keep sets are fixed up to
    /// <paramref name="keepDecidedAt"/>: the terms those decisions fix, plus zero for the rest (every
    /// count is non-negative), except that every output word still reaches its last decided keeper once.
    /// </summary>
    public double LowerBound(State s, int loopsDecided, int keepDecidedAt) => Evaluate(s, loopsDecided, keepDecidedAt, exact: false);

    /// <summary>The exact objective of a complete mapping.</summary>
    public double Exact(State s) => Evaluate(s, Levels, Levels - 1, exact: true);

    /// <summary>The lower bound before any decision: what every mapping costs at least.</summary>
    public double RootBound()
    {
        var s = new State(_m);
        s.Keep[0] = (1 << _m.TensorCount) - 1;
        return Evaluate(s, 0, 0, exact: false);
    }

    /// <summary>
    /// The energy of a complete mapping without the tensors bounded by their order-free floor (<see cref="SearchProblem.Floored"/>):
    /// the MACs and every other tensor, whose counts are the problem's own.
    /// </summary>
    public double PlainEnergy(State s) => Parts(s, Levels, Levels - 1, exact: true, withCycles: false, plainOnly: true).Energy;

    /// <summary>The exact energy and cycles of a complete mapping, whatever the objective (a leaf of the EDP search, which picks orders for both).</summary>
    public (double Energy, double Cycles) ExactParts(State s) => Parts(s, Levels, Levels - 1, exact: true, withCycles: true);

    /// <summary>
    /// For a complete mapping, the most bandwidth cycles of a level whose traffic no loop order at level
    /// <paramref name="open"/> or below changes: a level's fills follow the loops above it, the words it serves a
    /// keeper below follow the loops above that keeper, and what it serves the compute units follows no order. So
    /// every mapping that differs from <paramref name="s"/> only in the orders of levels <paramref name="open"/> and
    /// below has at least these cycles (the EDP leaf's order search, docs/mapspace.md).
    /// </summary>
    public double CyclesFixedAbove(State s, int open)
    {
        var levelCycles = new double[Levels];
        Parts(s, Levels, Levels - 1, exact: true, withCycles: true, levelCycles);
        double cycles = 0;
        for (int d = 0; d <= open && d < Levels; d++)
        {
            bool fixedByOrdersAbove = true;
            foreach (var t in _m.Tensors)
            {
                if ((s.Keep[d] & t.Bit) == 0) continue;
                int c = d + 1;
                while (c < Levels && (s.Keep[c] & t.Bit) == 0) c++;
                if (c < Levels && c > open) { fixedByOrdersAbove = false; break; }
            }
            if (fixedByOrdersAbove) cycles = Math.Max(cycles, levelCycles[d]);
        }
        return cycles;
    }

    private double Evaluate(State s, int loopsDecided, int keepDecidedAt, bool exact)
    {
        var p = _m.Map;
        bool withCycles = p.Objective != Objective.Energy || p.Caps is { Cycles: not null } or { Edp: not null };
        var (energy, cycles) = Parts(s, loopsDecided, keepDecidedAt, exact, withCycles);
        if (p.Caps is { } caps && !caps.AllowEnergy(energy)) return double.PositiveInfinity;
        if (!withCycles) return energy;
        if (p.Caps is { } capped && !capped.Allow(energy, cycles)) return double.PositiveInfinity;
        double value = FusionCost.Combine(p.Objective, energy, cycles);
        if (exact && !double.IsFinite(value)) throw BeyondDouble(value);
        return value;
    }

    /// <summary>
    /// The energy and (with <paramref name="withCycles"/>, else NaN) the cycles of <see cref="Evaluate"/>: exact for a
    /// complete mapping, else the terms the decided levels fix.
    /// </summary>
    private (double Energy, double Cycles) Parts(State s, int loopsDecided, int keepDecidedAt, bool exact, bool withCycles, double[]? levelCycles = null, bool plainOnly = false)
    {
        var p = _m.Map;
        var levels = _m.Storage;
        double energy = _m.MacEnergy, network = 0;
        var held = p.Weighted?.Held;
        var reads = new long[Levels];
        var writes = new long[Levels];
        long temporalProduct = 1;
        // With imperfect factors the temporal factors cover more than the points each compute unit does: the plan gives those.
        if (exact && _m.Imperfect) temporalProduct = Facts(s).TemporalTotal;
        else if (exact)
            for (int d = 0; d < Levels; d++) for (int r = 0; r < Ranks; r++) temporalProduct = checked(temporalProduct * s.Choice[d]!.Temporal[r]);
        foreach (var t in _m.Tensors)
        {
            if (plainOnly && _m.Floored(t)) continue;
            int l = 0;
            long visitsL = Visits(t, s, 0);
            while (true)
            {
                int c = l + 1;
                while (c <= keepDecidedAt && (s.Keep[c] & t.Bit) == 0) c++;
                bool childKnown = c <= keepDecidedAt || exact;
                long partition = t.IsOutput ? Partition(t, s, l) : 0;
                long fills = Counts.Fills(t.IsOutput, l == 0, visitsL, partition);
                long r = 0, u = 0;
                long visitsC = 0;
                if (childKnown)
                {
                    long childWords = c >= Levels ? temporalProduct : (visitsC = Visits(t, s, c));
                    long children = s.Used[Math.Min(c, Levels)] / s.Used[l];
                    long served = Counts.Served(childWords, children, SharedFactor(t, s, l, Math.Min(c, Levels)));
                    bool shared = WindowShared(t, s, l, Math.Min(c, Levels));
                    if (shared)
                    {
                        served = Math.Min(served, UnionServed(t, s, l));
                        // Timeloop counts a child's fills as its share of the parent's reads and of the link transfers,
                        // which can be fewer than the words its tile takes in: only that share of the union is sure.
                        if (_m.Map.Convention == CostConvention.Timeloop && c < Levels)
                            visitsC = Math.Min(visitsC, checked(served * s.Used[l]) / s.Used[c]);
                    }
                    if (t.IsOutput) { u = served; r = Counts.OutputReads(u, partition); }
                    else r = served;
                    double words = (double)checked(r + u) * s.Used[l];
                    // Shared or forwarded words take fewer or other hops than the streams' (none are counted for them).
                    if (!_m.NoNetwork && !shared)
                        for (int m = l; m < Math.Min(c, Levels); m++)
                            if (_m.HopEnergy(m) > 0 && words > 0) network += words * Hops(s, m) * _m.HopEnergy(m);
                }
                else
                {
                    // What l must at least serve below, from the finest tile already fixed (see ServedAtLeast).
                    long served = ServedAtLeast(t, s, l, loopsDecided);
                    if (t.IsOutput) { u = Math.Max(partition, served); r = Counts.OutputReads(u, partition); }
                    else r = served;
                    energy += PendingInnermost(t, s, l, keepDecidedAt, loopsDecided, t.IsOutput ? u : r);
                }
                energy += s.Used[l] * Counts.AccessEnergy(levels[l], r, fills, u);
                // A member of a fused class (MapProblem.Weighted): the counts fusion removes take no bandwidth.
                var (gone, fillsGone) = held is null ? (false, false) : FusionCost.Removal(held, l, t.Spec.Id);
                if (!gone)
                {
                    reads[l] = checked(reads[l] + r);
                    writes[l] = checked(writes[l] + (fillsGone ? 0 : fills) + u);
                }
                if (!childKnown || c >= Levels) break;
                l = c;
                visitsL = visitsC;
            }
        }
        energy += network;
        if (exact && !double.IsFinite(energy)) throw BeyondDouble(energy);
        if (!withCycles) return (energy, double.NaN);
        double cycles;
        if (exact) cycles = Counts.ComputeCycles(temporalProduct, p.Arch.Compute.MacsPerCycle);
        else
        {
            long maxUnits = checked(s.Used[loopsDecided] * _m.FanoutBelow[loopsDecided]);
            // A spatial plan fixes every level's spatial factors, so every mapping below uses exactly its compute units
            // (fewer than the fanouts offer when the bounds do not divide them): the compute cycles are then exact.
            if (s.Plan is not null) maxUnits = Math.Min(maxUnits, PlanUnits(s));
            cycles = Math.Ceiling(Math.Ceiling((double)p.Layer.Macs / maxUnits) / p.Arch.Compute.MacsPerCycle);
        }
        for (int d = 0; d < Levels; d++)
        {
            double bandwidth = Counts.BandwidthCycles(levels[d], reads[d], writes[d]);
            if (levelCycles is not null) levelCycles[d] = bandwidth;
            cycles = Math.Max(cycles, bandwidth);
        }
        return (energy, cycles);
    }

    /// <summary>
    /// The least cycles a fused class's held tensors (<see cref="MapProblem.Weighted"/>) put on their fusion levels' ports, in
    /// every mapping of the class (docs/fusion.md, "EDP over the full mapspace", f17w): the class's constraints keep a held tensor
    /// at its fusion level and fusion leaves it no DRAM counts, so every word of it the MACs use passes that level at least
    /// once: a word the member writes is an update there, a word it reads a read there, a word it loads a fill and a read there.
    /// The level's instances share those words, so each has at least their share (rounded down) on that port; the most
    /// bandwidth cycles over the levels. 0 without held tensors. On GPT-3's Softmax, whose output A stays in the global buffer,
    /// this is 2^31 words at 975 a cycle, 2,202,010, where the MACs alone take 131,072.
    /// </summary>
    public double HeldPortCycles()
    {
        if (_m.Map.Weighted?.Held is not { Count: > 0 } held) return 0;
        var reads = new long[Levels];
        var writes = new long[Levels];
        foreach (var h in held)
        {
            if (h.Level <= 0 || h.Level >= Levels) continue;
            var t = _m.Tensors.FirstOrDefault(x => x.Spec.Id == h.Tensor);
            if (t is null) continue;
            long share = t.UsedWords(_m.Bound) / (_m.FanoutBelow[0] / _m.FanoutBelow[h.Level]);
            if (t.IsOutput) writes[h.Level] = checked(writes[h.Level] + share);
            else
            {
                reads[h.Level] = checked(reads[h.Level] + share);
                if (h.Use == HeldUse.Loads) writes[h.Level] = checked(writes[h.Level] + share);
            }
        }
        double cycles = 0;
        for (int d = 1; d < Levels; d++) cycles = Math.Max(cycles, Counts.BandwidthCycles(_m.Storage[d], reads[d], writes[d]));
        return cycles;
    }

    /// <summary>The compute units a spatial plan uses: the product of its spatial factors over every level and rank.</summary>
    private long PlanUnits(State s)
    {
        long units = 1;
        for (int d = 0; d < Levels; d++) for (int r = 0; r < Ranks; r++) units = checked(units * s.Spatial(d, r));
        return units;
    }

    /// <summary>
    /// The error for a cost past double's range: counts are exact 64-bit integers, but energies times
    /// counts are doubles, and an infinite (or NaN) cost would make every comparison of the search
    /// meaningless. <see cref="CostRange"/> refuses such inputs when the <see cref="MapProblem"/> is made, so this is
    /// the search's own invariant: reaching it is a bug in that range check.
    /// </summary>
    public static InvalidOperationException BeyondDouble(double value)
        => new($"A mapping's cost is {value}, beyond the range of a double, though CostRange accepted the inputs: this is a bug in its ceiling.");

    /// <summary>
    /// A lower bound on the energy still to come, beyond what l's own pending term counts, for a tensor
    /// whose last decided keeper is l and whose next keeper is not decided yet: every MAC reads each
    /// operand (or updates the output) at the innermost level that keeps it, which is l itself or a
    /// level below the decided ones that may keep it; those accesses number at least MACs divided by
    /// the largest multicast (or reduction) the fanouts below that level can give. The bound is the
    /// cheapest of these choices. <paramref name="counted"/> is the reads (operands) or updates (outputs)
    /// per instance of l already counted.
    /// </summary>
    private double PendingInnermost(SearchTensor t, State s, int l, int keepDecidedAt, int loopsDecided, long counted)
    {
        var levels = _m.Storage;
        double macs = _m.Map.Layer.Macs;
        double best = double.PositiveInfinity;
        for (int m = l; m < Levels; m++)
        {
            if (m != l && (m <= keepDecidedAt || !_m.MayKeep(t, m))) continue;
            double accesses = macs / MaxShared(t, s, m, loopsDecided);
            // At l itself only the accesses beyond those already counted are new; for outputs each extra
            // update also brings one extra read-modify-write read (updates are above the partition).
            double e = m == l
                ? Math.Max(0, accesses - counted * (double)s.Used[l]) * (t.IsOutput ? levels[l].WriteEnergy + levels[l].ReadEnergy : levels[l].ReadEnergy)
                : accesses * (t.IsOutput ? levels[m].WriteEnergy : levels[m].ReadEnergy);
            best = Math.Min(best, e);
        }
        return best;
    }

    /// <summary>
    /// A lower bound on what one instance of level l must serve below it (operand reads, or output
    /// updates) whatever the undecided levels do: the visits of a virtual keeper at level v (the
    /// finest level whose tile is fixed), times the distinct data streams between l and v. Argument:
    /// when v's tile is dense (every word in its box is used by some MAC of that tile), each word new
    /// to v's tile at a step of a loop above v must reach some keeper below v (or a MAC) during that
    /// tile's lifetime, since every tile below v lies inside v's current tile; so the keepers below
    /// fetch at least that many words per distinct stream. A tile with gaps (a stride wider than the
    /// window) gives no bound (0).
    /// </summary>
    private long ServedAtLeast(SearchTensor t, State s, int l, int v)
    {
        if (!t.DenseTile(s.Rem[v])) return 0;
        long visits = Visits(t, s, v);
        long streams = (s.Used[v] / s.Used[l]) / SharedFactor(t, s, l, v);
        long served = checked(visits * streams);
        // Shared windows: the undecided levels below may split a window rank too, so only the union's new words are sure.
        return _m.SharedWindows && t.IsWindow ? Math.Min(served, l < v ? UnionServed(t, s, l) : 0) : served;
    }

    /// <summary>
    /// True when the problem shares windows (<see cref="SearchProblem.SharedWindows"/>) and a fanout from level l down to
    /// level c (exclusive) splits a rank that indexes t through a sliding window: children's tiles then overlap, and the
    /// problem's counts may serve them with fewer parent reads than one per stream.
    /// </summary>
    private bool WindowShared(SearchTensor t, State s, int l, int c)
    {
        if (!_m.SharedWindows || !t.IsWindow) return false;
        for (int m = l; m < c; m++)
            for (int r = 0; r < Ranks; r++)
                if (t.WindowRank[r] && s.Spatial(m, r) > 1) return true;
        return false;
    }

    /// <summary>
    /// A lower bound on the words one instance of level l reads for its children over the run when they may share or
    /// forward words: the visits of a virtual keeper whose tile is the union of l's children's tiles (level l+1's extents
    /// times l's spatial factors) under the loops above it. A word new to that union at a step of those loops was in no
    /// child's tile at the step before, so no child holds it and no neighbour can forward it: it is read from l at least
    /// once, however many children need it. Valid only when the union is the whole box (a dense tile); 0 otherwise.
    /// </summary>
    private long UnionServed(SearchTensor t, State s, int l)
    {
        var union = (long[])s.Rem[l + 1].Clone();
        for (int r = 0; r < Ranks; r++) union[r] = checked(union[r] * s.Spatial(l, r));
        if (!t.DenseTile(union)) return 0;
        return Counts.Visits(t.Dims, union, LoopsAbove(s, l + 1), sampled: Sampled(t));
    }

    /// <summary>The largest multicast (operands) or reduction (outputs) factor the fanouts from level m down can give.</summary>
    public double MaxShared(SearchTensor t, State s, int m, int loopsDecided)
    {
        double p = 1;
        for (int k = m; k < Levels; k++)
        {
            var fan = _m.Storage[k].Fanout;
            // Shared windows: a fanout that does not multicast may still forward a window's words.
            if (!Shares(fan, t.IsOutput) && !(_m.SharedWindows && t.IsWindow)) continue;
            if (k < loopsDecided || s.Plan is not null)
            {
                // Timeloop multicasts identical words: only children whose tiles coincide share (P and R split together).
                if (IdenticalWords(t)) p *= MeanCoinciding(t, s, k);
                // Shared windows: children splitting a window rank may share words too.
                else for (int r = 0; r < Ranks; r++) if (!t.IndexedBy[r] || (_m.SharedWindows && t.WindowRank[r])) p *= s.Spatial(k, r);
            }
            else p *= fan.Size;
        }
        return p;
    }

    /// <summary>
    /// True when t's children share parent accesses exactly when they need identical words (the Timeloop convention, a window
    /// tensor): the compute units' reads at its innermost keeper are then at least the MACs over the most children whose
    /// tiles coincide (<see cref="TensorIndex.LargestCoincidence"/>) at each fanout below it.
    /// </summary>
    private bool IdenticalWords(SearchTensor t) => _m.SharedWindows && t.IsWindow && _m.Map.Convention == CostConvention.Timeloop;

    /// <summary>
    /// The most children, over the fanouts from level <paramref name="from"/> down to <paramref name="to"/> (exclusive), that
    /// need identical words of t at a step under the plan: the product of each fanout's <see cref="TensorIndex.LargestCoincidence"/>.
    /// </summary>
    public double CoincidingChildren(SearchTensor t, State s, int from, int to, long frozen = 0)
    {
        double p = 1;
        for (int k = from; k < to; k++) p *= MeanCoinciding(t, s, k, frozen);
        return p;
    }

    /// <summary>
    /// Under a plan and the Timeloop convention, the most fanout k's parent accesses of t can be multicast on average (docs/mapspace.md,
    /// "The mean group of children at a step"): <see cref="TensorIndex.MostChildrenPerAccess"/> of k's children, the most over the
    /// plan's variants, every order of each axis's spatial loops (Timeloop's row-major placement on the mesh) and the children's
    /// tile extents level k + 1 can still take (per rank that shares a dimension with another rank k splits: its extent below k
    /// once the decided levels are taken, times a divisor of what is left); without a plan, or past 256 choices of the extents,
    /// <see cref="TensorIndex.LargestCoincidence"/>, never more than it. The ranks in <paramref name="frozen"/> (a bit per rank) have no
    /// loop between k and the keeper: pairs whose offsets differ along their dimensions serve no child. A grouped rank whose
    /// extent in the children is 1 has no loop below k and moves only by multiples of its factor at k (docs/mapspace.md, "Pairs
    /// no step's move reaches"): pairs no such move reaches are left out too.
    /// </summary>
    public double MeanCoinciding(SearchTensor t, State s, int k, long frozen = 0)
    {
        long largest = t.Dims.LargestCoincidence(SpatialFactors(s, k));
        if (s.Plan is null || largest <= 1 || !IdenticalWords(t)) return largest;
        // The decided levels below k: the outermost one's tile, and the spatial factors between.
        int j = k + 1;
        while (j < Levels && s.Choice[j] is null) j++;
        var key = new long[2 * Ranks];
        var groupedRank = new bool[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            long inner = j < Levels ? s.Rem[j][r] : 1, across = 1;
            for (int l = k + 1; l < j; l++) inner = checked(inner * s.Spatial(l, r));
            for (int l = 0; l < j; l++) across = checked(across * s.Spatial(l, r));
            long free = _m.Bound[r] / checked((j < Levels ? s.Rem[j][r] : 1) * across);
            // Only a rank that shares a dimension with another rank split at k changes which children coincide or which
            // differences are equal; every other rank scales its dimensions alike whatever its extent (taken as 1).
            bool grouped = false;
            if (t.IndexedBy[r] && s.Spatial(k, r) > 1)
                for (int x = 0; x < Ranks && !grouped; x++) grouped = x != r && s.Spatial(k, x) > 1 && t.Dims.ShareDimension(r, x);
            groupedRank[r] = grouped;
            key[r] = grouped ? inner : 1;
            key[Ranks + r] = grouped ? free : 1;
        }
        var lookup = new ContentKey(s.Plan, (t.Index, k, frozen, 0), key);
        if (_meanCoinciding.TryGetValue(lookup, out double known)) return known;
        return _meanCoinciding.GetOrAdd(lookup.Copy(), _ =>
        {
            var choices = new List<long[]>();
            long combos = 1;
            for (int r = 0; r < Ranks; r++) choices.Add(_m.Divisors.TryGetValue(key[Ranks + r], out var ds) ? ds : [1]);
            // Extents past a rank's threshold give one same structure: along each dimension of r, with R the most the other ranks
            // k splits move it (their largest extents), |coef| x extent > 4 R keeps r's index and each difference of it apart from
            // theirs, so which children coincide and which differences are equal no longer change; one extent past it stands for all.
            var dims = t.Dims;
            var thresholds = new double[Ranks];
            for (int r = 0; r < Ranks; r++)
            {
                if (choices[r].Length <= 1) continue;
                double threshold = 0;
                for (int dim = 0; dim < dims.Dimensions; dim++)
                {
                    var ranks = dims.RanksOf(dim);
                    var coefs = dims.CoefficientsOf(dim);
                    int at = ranks.IndexOf(r);
                    if (at < 0) continue;
                    double rest = 0;
                    for (int i = 0; i < ranks.Length; i++)
                    {
                        int x = ranks[i];
                        if (x == r || s.Spatial(k, x) <= 1) continue;
                        rest += Math.Abs((double)coefs[i]) * (s.Spatial(k, x) - 1) * key[x] * choices[x][^1];
                    }
                    threshold = Math.Max(threshold, 4 * rest / Math.Abs((double)coefs[at]));
                }
                thresholds[r] = threshold;
            }
            for (int r = 0; r < Ranks; r++)
            {
                if (choices[r].Length <= 1) continue;
                var kept = new List<long>();
                foreach (long e in choices[r])
                {
                    kept.Add(e);
                    if (key[r] * e > thresholds[r]) break; // divisors ascend
                }
                choices[r] = kept.ToArray();
            }
            for (int r = 0; r < Ranks; r++) combos = checked(combos * choices[r].Length);
            if (combos > 256) return largest;
            // Per variant of the plan, its neighbour pairs and every order of its spatial loops (X's then Y's), the same for every extent.
            var layouts = new List<(int[] Pairs, List<(int Rank, long Factor)[]> Orders)>();
            foreach (var plan in s.Plan!.Variants.Prepend(s.Plan!))
            {
                var x = Enumerable.Range(0, Ranks).Where(r => plan.X[k][r] > 1).Select(r => (r, (long)plan.X[k][r])).ToList();
                var y = Enumerable.Range(0, Ranks).Where(r => plan.Y[k][r] > 1).Select(r => (r, (long)plan.Y[k][r])).ToList();
                long children = 1;
                foreach (var (_, f) in x.Concat(y)) children = checked(children * f);
                var orders = new List<(int Rank, long Factor)[]>();
                foreach (var px in Mapspace.Permutations(x))
                    foreach (var py in Mapspace.Permutations(y))
                        orders.Add([.. px.Concat(py)]);
                layouts.Add((TimeloopConvention.NeighbourPairs(_m.Storage[k].Fanout, (int)children), orders));
            }
            // The ranks whose factors at k and above cover their bound: fixed in each child for the whole run.
            long still = 0;
            for (int r = 0; r < Ranks; r++)
            {
                long across = 1;
                for (int l = 0; l <= k; l++) across = checked(across * s.Spatial(l, r));
                if (across == _m.Bound[r]) still |= 1L << r;
            }
            double most = 0;
            var ext = new long[Ranks];
            var stride = new long[Ranks];
            var run = new List<(int Rank, long Factor, long Stride)>();
            for (long c = 0; c < combos; c++)
            {
                long rest = c;
                for (int r = 0; r < Ranks; r++) { ext[r] = checked(key[r] * choices[r][rest % choices[r].Length]); rest /= choices[r].Length; }
                // A grouped rank with extent 1 below k has no loop below k: it moves only by multiples of its factor at k.
                long spread = 0;
                for (int r = 0; r < Ranks; r++) if (groupedRank[r] && ext[r] == 1) spread |= 1L << r;
                foreach (var (pairs, orders) in layouts)
                    foreach (var order in orders)
                    {
                        run.Clear();
                        ext.CopyTo(stride, 0);
                        foreach (var (r, f) in order) { run.Add((r, f, stride[r])); stride[r] = checked(stride[r] * f); }
                        most = Math.Max(most, t.Dims.MostChildrenPerAccess(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(run), pairs, Ranks, frozen, still, spread));
                        if (most >= largest) return largest;
                    }
            }
            return Math.Min(most, largest);
        });
    }
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, double> _meanCoinciding = new();

    /// <summary>Level k's spatial factor of every rank.</summary>
    private long[] SpatialFactors(State s, int k)
    {
        var f = new long[Ranks];
        for (int r = 0; r < Ranks; r++) f[r] = s.Spatial(k, r);
        return f;
    }

    /// <summary>What the state's plan fixes, computed on first use.</summary>
    public PlanFacts Facts(State s)
    {
        if (s.Facts is { } known) return known;
        var plan = s.Plan!;
        var partition = new long[Levels][];
        var used = new long[Levels][];
        for (int c = 0; c < Levels; c++)
        {
            var ext = (long[])_m.Bound.Clone();
            for (int b = 0; b < c; b++) for (int r = 0; r < Ranks; r++) ext[r] /= (long)plan.X[b][r] * plan.Y[b][r];
            partition[c] = _m.Tensors.Select(t => t.Tile(ext)).ToArray();
            used[c] = _m.Tensors.Select(t => t.UsedWords(ext)).ToArray();
        }
        return s.Facts = new PlanFacts(TemporalTotal(plan), partition, used);
    }

    /// <summary>The product of every level's temporal factors under a plan: the MACs each compute unit does.</summary>
    private long TemporalTotal(SpatialPlan plan)
    {
        long total = 1;
        for (int r = 0; r < Ranks; r++)
        {
            long left = _m.Bound[r];
            for (int d = 0; d < Levels; d++) left /= (long)plan.X[d][r] * plan.Y[d][r];
            total = checked(total * left);
        }
        return total;
    }

    /// <summary>At least the words of t that the MACs of one instance of level c use over the run (see <see cref="SearchTensor.UsedWords"/>).</summary>
    public long PlanDensePartition(SearchTensor t, State s, int c) => Facts(s).Used[c][t.Index];

    /// <summary>The words of t one instance of level c touches over the run, from the plan alone.</summary>
    public long PlanPartition(SearchTensor t, State s, int c) => Facts(s).Partition[c][t.Index];

    /// <summary>The words of t one instance of level c touches over the run, from the decided levels above it.</summary>
    private long Partition(SearchTensor t, State s, int c)
    {
        // With imperfect factors the decided factors cover more than the instance's share: the plan gives the share.
        if (_m.Imperfect) return PlanPartition(t, s, c);
        var ext = (long[])s.Rem[c].Clone();
        for (int d = 0; d < c; d++)
        {
            var ch = s.Choice[d]!;
            for (int r = 0; r < Ranks; r++) ext[r] = checked(ext[r] * ch.Temporal[r]);
        }
        return t.Tile(ext);
    }

    /// <summary>The multicast (operands) or reduction (outputs) factor of the fanouts from level <paramref name="from"/> down to <paramref name="to"/> (exclusive).</summary>
    public long SharedFactor(SearchTensor t, State s, int from, int to)
    {
        long p = 1;
        for (int m = from; m < to; m++)
        {
            if (!Shares(_m.Storage[m].Fanout, t.IsOutput)) continue;
            for (int r = 0; r < Ranks; r++) if (!t.IndexedBy[r]) p = checked(p * s.Spatial(m, r));
        }
        return p;
    }

    /// <summary>
    /// True when a fanout shares one parent access among children for the tensor (<see cref="Counts.Shares"/>); under the
    /// Timeloop convention always, since Timeloop multicasts identical words whatever the fanout's flags.
    /// </summary>
    private bool Shares(Hardware.Fanout fanout, bool output) => _m.Map.Convention == CostConvention.Timeloop || Counts.Shares(fanout, output);

    /// <summary>Hops per word over level m's fanout (<see cref="Counts.Hops"/>), from the children the state uses.</summary>
    public double Hops(State s, int m)
    {
        long ux = 1, uy = 1;
        for (int r = 0; r < Ranks; r++) { ux *= s.Plan?.X[m][r] ?? s.Choice[m]!.SpatialX[r]; uy *= s.Plan?.Y[m][r] ?? s.Choice[m]!.SpatialY[r]; }
        return Counts.Hops(_m.Storage[m].Fanout.Topology, ux, uy);
    }

    /// <summary>The energy of keeper l serving keeper (or compute units) c whose instances each ask for <paramref name="childWords"/>: reads (and updates) at l and the network between.</summary>
    public double PairEnergy(SearchTensor t, State s, int l, int c, double childWords) => new VisitLink(this, _m, t, s, l, c).ParentEnergy(childWords);
}

/// <summary>What one more visit word of a tensor at keeper c costs, linear in the visits: its fill at c, and its parent l's read (and, for outputs, update) with the network between.</summary>
internal readonly struct VisitLink
{
    private readonly double _fill, _fillFloor, _perWord, _read, _update, _readFloor;
    private readonly bool _output;

    public VisitLink(ArrayCostModel cost, SearchProblem m, SearchTensor t, State s, int l, int c)
    {
        var levels = m.Storage;
        _output = t.IsOutput;
        _fill = c < m.Levels ? s.Used[c] * levels[c].WriteEnergy : 0;
        _fillFloor = t.IsOutput && c < m.Levels ? cost.PlanPartition(t, s, c) : 0;
        _perWord = (double)s.Used[c] / s.Used[l] / cost.SharedFactor(t, s, l, c) * s.Used[l];
        double hop = 0;
        for (int k = l; k < c; k++) if (m.HopEnergy(k) > 0) hop += cost.Hops(s, k) * m.HopEnergy(k);
        _read = levels[l].ReadEnergy + hop;
        _update = levels[l].WriteEnergy + hop;
        _readFloor = t.IsOutput ? checked(cost.PlanPartition(t, s, l) * s.Used[l]) : 0;
    }

    /// <summary>The fills at c and the parent's side, for <paramref name="visits"/> words into one instance of c.</summary>
    public double Energy(double visits) => FillEnergy(visits) + ParentEnergy(visits);

    /// <summary>The fills at c alone (an output's first writes of each word left out), for <paramref name="visits"/> words into one instance of c.</summary>
    public double FillEnergy(double visits) => _fill * (_output ? Math.Max(0, visits - _fillFloor) : visits);

    /// <summary>
    /// The right derivative of <see cref="Energy"/> at <paramref name="visits"/>: every term of it is a non-negative
    /// multiple of the visits or of the visits above a floor, so it is convex and never decreasing, and
    /// <c>Energy(v + h) >= Energy(v) + Slope(v) x h</c> for every h >= 0.
    /// </summary>
    public double Slope(double visits)
    {
        if (!_output) return _fill + _perWord * _read;
        return (visits >= _fillFloor ? _fill : 0) + _perWord * _update + (_perWord * visits >= _readFloor ? _perWord * _read : 0);
    }

    /// <summary>The parent's reads (and updates) and the network words between, for <paramref name="visits"/> words into one instance of c.</summary>
    public double ParentEnergy(double visits) => WordsEnergy(Words(visits));

    /// <summary>The parent's words (over every instance of it) for <paramref name="visits"/> words into one instance of c.</summary>
    public double Words(double visits) => _perWord * visits;

    /// <summary>The parent's reads (and updates) and the network words between, for <paramref name="words"/> parent words in all.</summary>
    public double WordsEnergy(double words) => _output ? words * _update + Math.Max(0, words - _readFloor) * _read : words * _read;
}
