namespace Optimizer.Solvers;

/// <summary>
/// The plain bound of the inner-first search on energy (docs/mapspace.md, "Energy: innermost level
/// first"): for a node whose levels d and below are decided, each tensor's decided keepers exactly
/// (their visits at least what the decided levels bring), the cheapest parent the outermost one could
/// still have, the refetch the innermost loop above d forces, and for a tensor no decided level keeps, the
/// compute units' accesses at the cheapest level that could still keep it. Its per-tensor parts
/// (<see cref="DecidedTerms"/>, <see cref="DirectEnergy"/>, <see cref="CanKeepAbove"/>) serve the outer bound too.
/// </summary>
internal sealed class InnerBound(SearchProblem problem, ArrayCostModel cost) : SearchPart(problem)
{
    private readonly ArrayCostModel _cost = cost;

    /// <summary>One tensor's share of the bound with nothing forced above d, and with the whole-tile refetch of a rank that alone indexes one of its dimensions.</summary>
    private record struct Share(double Free, double Forced);

    /// <summary>
    /// A lower bound on the energy of every completion of an inner-first state whose levels d and below are
    /// decided (loops and keep sets) under its spatial plan. Exact for the accesses between decided keepers
    /// and the compute units, except that a keeper's visits count only what the decided levels bring
    /// (the levels above add only non-negative terms); for the part above the outermost decided keeper of
    /// a tensor, the cheapest parent it could have; and the words every dense tensor must cross DRAM once.
    /// </summary>
    public double Bound(State s, int d, double cutoff = double.PositiveInfinity)
    {
        var tensors = _m.Tensors;
        var remaining = Remaining(s, d, out double aboveD);
        // The innermost loop above d runs over some rank r with something left. A tensor that r alone indexes
        // along a dimension gets no reuse from the levels above d: each of their steps brings a whole new
        // tile. At most the tensors r does not index escape that, so the bound is the least, over the
        // candidate ranks, of the tensors' costs with that refetch forced on the ones r indexes.
        var shares = new Share[tensors.Length];
        double free = 0;
        foreach (var t in tensors)
        {
            ref var share = ref shares[t.Index];
            if (_m.Floored(t))
            {
                share.Free = share.Forced = WindowFloor(t, s, d);
                continue;
            }
            share.Free = TensorBound(t, s, d, aboveD, remaining, -1);
            share.Forced = share.Free;
            for (int r = 0; r < Ranks && d > 0 && aboveD > 1; r++)
                if (t.PlainDimRank[r]) { share.Forced = TensorBound(t, s, d, aboveD, remaining, r); break; }
        }
        foreach (var share in shares) free += share.Free;
        // Every candidate's sum is at least the sum with nothing forced: when that already reaches the
        // cutoff, the node is pruned whatever the candidates add.
        double unforced = _m.MacEnergy + free;
        if (unforced >= cutoff) return unforced;
        double best = double.PositiveInfinity;
        bool any = false;
        for (int r = 0; r < Ranks && d > 0; r++)
        {
            if (remaining[r] <= 1) continue;
            any = true;
            double sum = 0;
            foreach (var t in tensors)
                sum += t.PlainDimRank[r] ? shares[t.Index].Forced
                    : t.WindowRank[r] && !_m.Floored(t) ? TensorBound(t, s, d, aboveD, remaining, r) : shares[t.Index].Free;
            best = Math.Min(best, sum);
        }
        if (!any) best = free;
        return _m.MacEnergy + best;
    }

    /// <summary>Per rank, what an inner-first state leaves to split over the temporal loops above level d (the plan's spatial splits and the decided levels taken out), and their product.</summary>
    public long[] Remaining(State s, int d, out double product)
    {
        var remaining = new long[Ranks];
        product = 1;
        for (int r = 0; r < Ranks; r++)
        {
            long left = _m.Bound[r];
            for (int b = 0; b < Levels; b++) left /= s.Spatial(b, r);
            for (int b = d; b < Levels; b++) left /= s.Choice[b]!.Temporal[r];
            remaining[r] = left;
            product *= left;
        }
        return remaining;
    }

    /// <summary>
    /// What the compute units' accesses to t cost when level m is t's innermost keeper: MACs over the largest
    /// multicast (reduction) below m, each at m's read (update) energy and the network hops it crosses on
    /// the way to the compute units; for an output, also the read of every update but the first of each
    /// word an instance of m holds (the partial sum the update adds to), as the cost model counts them.
    /// </summary>
    public double DirectEnergy(SearchTensor t, State s, int m)
    {
        var levels = _m.Storage;
        double hop = 0;
        for (int b = m; b < Levels; b++) if (_m.HopEnergy(b) > 0) hop += _cost.Hops(s, b) * _m.HopEnergy(b);
        double words = _m.Map.Layer.Macs / _cost.MaxShared(t, s, m, Levels);
        if (!t.IsOutput) return words * (levels[m].ReadEnergy + hop);
        double reads = Math.Max(0, words - (double)_cost.PlanPartition(t, s, m) * s.Used[m]);
        return words * (levels[m].WriteEnergy + hop) + reads * (levels[m].ReadEnergy + hop);
    }

    /// <summary>
    /// The order-free floor of a tensor the problem floors (<see cref="SearchProblem.Floored"/>: a window tensor under the
    /// Timeloop convention) at an inner-first node whose levels d and below are decided: a lower bound of its energy in every
    /// completion, whatever the orders. With W(m) the words the MACs under all instances of level m use (each instance's
    /// used words times the instances): a keeper l serving its next keeper c reads at least W(l) words and c takes in at least
    /// W(l) in all (a word the MACs under an instance of l use enters that instance's part of c from l at least once; a
    /// neighbour forwards only words it took in before, and Timeloop counts a child's fills as its share of the parent's
    /// reads and link transfers); the outermost decided keeper is served by the cheapest level above d that may keep the
    /// tensor, which is itself filled with every used word from DRAM; and the compute units read it at the innermost
    /// keeper (<see cref="DirectEnergy"/>: MACs over the most children that can need identical words). A pair also counts,
    /// when larger, the whole tiles Timeloop refetches into c (<see cref="WindowRefetch"/>), and the parent's reads of them
    /// over the most children that can share each (<see cref="ArrayCostModel.CoincidingChildren"/>).
    /// </summary>
    /// <remarks>
    /// With <paramref name="underOne"/> (d at least 2), the floor of the completions in which level 1 keeps t, less level 1's
    /// fills from DRAM and DRAM's reads of them: the outermost decided keeper is served by level 1 or by a level between 1
    /// and d, or with none decided the compute units read t at one of those (the fills of a level between left out). The outer bound adds
    /// level 1's fills of its DRAM order (<see cref="OuterBound"/>, "DRAM's order and the window tensor kept at level 1").
    /// </remarks>
    public double WindowFloor(SearchTensor t, State s, int d, bool ordered = false, int levelOne = -1, bool underOne = false)
    {
        var levels = _m.Storage;
        var used = _cost.Facts(s).Used;
        double W(int m) => (double)used[m][t.Index] * s.Used[m];
        // Level 1 (undecided when d > 1) as the case asks: -1 either, 0 not a keeper of t, 1 a keeper of t. Level m as
        // the parent of the outermost decided keeper, or as the innermost keeper: with level 1 keeping t it is level 1 or
        // a level below it, never DRAM; with level 1 not keeping t, any level but 1.
        bool Allowed(int m) => d <= 1 || levelOne < 0 || (m == 1) == (levelOne == 1) || (m > 1 && levelOne == 1);
        // A level above d that may keep t, served from DRAM: its fills and DRAM's reads of every used word.
        double Above(int m) => m == 0 ? 0 : W(0) * (levels[0].ReadEnergy + levels[m].WriteEnergy);
        // Under level 1 (underOne), DRAM's reads and the fills from them are the outer bound's.
        if (underOne) levelOne = 1;
        double Up(int m) => underOne ? 0 : Above(m);
        // Parent p serving keeper c: p reads at least every word used under it, and at least c's refetched tiles over
        // the most children that can share each (WindowRefetch); c takes in at least as many. With no fanout just above
        // c, each instance of c takes in every word used under it at least once (WholeUse), and p's reads are at least
        // those over the same largest groups: the levels between pass c's fills up, scaled by each fanout over its
        // mean multicast (docs/mapspace.md, "Scratchpads served across a bypassed fanout").
        double Pair(int p, int c)
        {
            double refetched = c < d ? 0 : ordered && d == 0 ? OrderedRefetch(t, s, c) : WindowRefetch(t, s, d, c);
            refetched = Math.Max(refetched, WholeUse(c));
            double fills = Math.Max(W(p), refetched), reads = Math.Max(W(p), refetched / _cost.CoincidingChildren(t, s, p, c));
            if (c >= d) reads = Math.Max(reads, PlacesReads(t, s, d, p, ordered));
            return reads * levels[p].ReadEnergy + fills * levels[c].WriteEnergy;
        }
        double WholeUse(int c)
        {
            for (int r = 0; r < Ranks; r++) if (s.Spatial(c - 1, r) > 1) return 0;
            // An instance's values of a rank split across a fanout above c come in blocks (W(c)'s count assumes them consecutive).
            var ext = new long[Ranks];
            var gapped = new bool[Ranks];
            for (int r = 0; r < Ranks; r++)
            {
                ext[r] = _m.Bound[r];
                for (int b = 0; b < c; b++)
                    if (s.Spatial(b, r) > 1) { ext[r] /= s.Spatial(b, r); gapped[r] = true; }
            }
            return (double)t.UsedWords(ext, gapped) * s.Used[c];
        }
        // An undecided keeper c above d filled from its parent q (DRAM, or a level between that may keep t, itself filled from DRAM).
        double Filled(int c)
        {
            if (underOne && c == 1) return 0;
            double least = double.PositiveInfinity;
            for (int q = 0; q < c; q++)
            {
                // DRAM fills c straight only when level 1 does not keep t (or is c).
                if (q == 0 ? d > 1 && levelOne == 1 && c > 1 : !CanKeepAbove(t, s, q, d) || !Allowed(q)) continue;
                least = Math.Min(least, Pair(q, c) + Up(q));
            }
            return least;
        }
        int inner = -1, outer = -1;
        double energy = 0;
        for (int c = Levels - 1; c >= Math.Max(d, 1); c--)
        {
            if ((s.Keep[c] & t.Bit) == 0) continue;
            if (inner < 0) inner = c;
            else energy += Pair(c, outer);
            outer = c;
        }
        if (d == 0)
        {
            if (outer < 0) return DirectEnergy(t, s, 0);
            return energy + DirectEnergy(t, s, inner) + Pair(0, outer);
        }
        double best = double.PositiveInfinity;
        for (int m = 0; m < d; m++)
        {
            if (m != 0 && !CanKeepAbove(t, s, m, d)) continue;
            if (!Allowed(m)) continue;
            best = Math.Min(best, outer < 0 ? DirectEnergy(t, s, m) + (m == 0 ? 0 : Filled(m)) 
                : Pair(m, outer) + Up(m));
        }
        return outer < 0 ? best : energy + DirectEnergy(t, s, inner) + best;
    }

    /// <summary>
    /// A lower bound on the words a decided keeper c of a floored window tensor takes in over the run, all instances
    /// together, from the whole tiles Timeloop fetches (docs/mapspace.md, "Refetched window tiles"); 0 when the level just
    /// above c splits over a fanout (c's fills are then its share of its parent's grouped and linked accesses, not its
    /// own new words). Each step of a loop above c brings c's whole tile when the loop's rank does not index t and a loop
    /// that moves the tile is nested inside it above c (rule A: the rewind is a change of stride), or when the step
    /// moves the tile by at least its extent along a dimension (nothing overlaps); so the tile comes at least the
    /// product of those loops' factors times. Counted: the decided loops (levels d to c - 1), with a loop of a deeper
    /// decided level as the moving one and every other loop along the dimension taken as rewinding against the step;
    /// and above d, what is left of the ranks that alone index a dimension, and of the ranks that do not index t when a
    /// decided level above c moves the tile.
    /// </summary>
    private double WindowRefetch(SearchTensor t, State s, int d, int c)
    {
        for (int r = 0; r < Ranks; r++) if (s.Spatial(c - 1, r) > 1) return 0;
        return (double)WholeTiles(t, s, d, c) * t.Tile(s.Rem[c]) * s.Used[c];
    }

    /// <summary>
    /// <see cref="WindowRefetch"/>'s count of whole tiles per instance of level c (levels d and below decided): the product
    /// of the factors of the loops whose every step brings c's whole tile (rule A on each instance's own tiles, a fanout
    /// just above c or not).
    /// </summary>
    private long WholeTiles(SearchTensor t, State s, int d, int c)
    {
        var dims = t.Dims;
        long times = 1;
        bool movedBelow = false; // a decided level between the one looked at and c has a loop that moves t's tile
        // With level 1 decided, DRAM's loops are what is left of each rank (their order alone is open): they are taken as
        // a decided level's, every other loop rewinding against each step as at any level.
        var top = d == 1 ? Remaining(s, 1, out _) : null;
        long Factor(int b, int r) => b < d ? top![r] : s.Choice[b]!.Temporal[r];
        for (int b = c - 1; b >= (top is null ? d : 0); b--)
        {
            for (int r = 0; r < Ranks; r++)
            {
                if (Factor(b, r) < 2) continue;
                if (!t.IndexedBy[r] ? movedBelow : Disjoint(b, r)) times = checked(times * Factor(b, r));
            }
            for (int r = 0; r < Ranks; r++) if (t.IndexedBy[r] && Factor(b, r) > 1) movedBelow = true;
        }
        if (d > 1)
        {
            var remaining = Remaining(s, d, out _);
            for (int r = 0; r < Ranks; r++)
                if (t.PlainDimRank[r] || (!t.IndexedBy[r] && movedBelow) || (remaining[r] > 1 && AloneAbove(r))) times = checked(times * remaining[r]);
        }
        return times;

        // A step of level b's loop over r carries c's tile clear of itself whatever the order: every other loop from b
        // down to c taken as rewinding against it.
        bool Disjoint(int b, int r)
        {
            var rewinding = new List<(int Rank, long Stride)>();
            for (int l = b; l < c; l++)
                for (int x = 0; x < Ranks; x++)
                    if ((l != b || x != r) && t.IndexedBy[x] && Factor(l, x) > 1) rewinding.Add((x, Stride(l, x)));
            return dims.StepClearsTile(r, Stride(b, r), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rewinding), s.Rem[c]);
        }

        long Stride(int l, int r) => LoopStride(s, l, r);

        // A rank of one dimension whose other ranks have nothing left above d: the loops above d along that dimension are r's
        // alone, at whatever levels. The innermost moves r by at least its stride just above d, and each outer one by its
        // stride less one step of those inside it, at least as much (its stride is at least the inner factor times the inner
        // stride); so when that least move clears c's tile net of one step back of every decided loop along the dimension,
        // every step of every loop over r above d brings the whole tile.
        bool AloneAbove(int r)
        {
            if (!t.IndexedBy[r]) return false;
            int dim = -1;
            for (int k = 0; k < dims.Dimensions; k++)
            {
                if (dims.RanksOf(k).IndexOf(r) < 0) continue;
                if (dim >= 0) return false;
                dim = k;
            }
            var remaining = Remaining(s, d, out _);
            foreach (int x in dims.RanksOf(dim)) if (x != r && remaining[x] > 1) return false;
            var rewinding = new List<(int Rank, long Stride)>();
            for (int l = d; l < c; l++)
                for (int x = 0; x < Ranks; x++)
                    if (t.IndexedBy[x] && s.Choice[l]!.Temporal[x] > 1) rewinding.Add((x, Stride(l, x)));
            return dims.StepClearsTile(r, Stride(d - 1, r), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rewinding), s.Rem[c]);
        }
    }

    /// <summary>
    /// <see cref="WindowRefetch"/> for a complete mapping with every level's order: the loops above c in nest order, each
    /// counted when a loop lies inside it above c and its step (its move less one step back of each loop inside it) moves the
    /// tile otherwise than a step of the innermost loop does (<see cref="TensorIndex.StepChangesStride"/>: in the sampled run
    /// of its body the innermost loop's move is the translation recorded last, so the step is a change of stride; a rank
    /// that does not index t, with a loop that moves the tile inside it, is the first case of the order-free floor), or when
    /// its step moves the tile along a dimension by at least the extent, net of one step back of each loop inside it along
    /// that dimension.
    /// </summary>
    private double OrderedRefetch(SearchTensor t, State s, int c)
    {
        for (int r = 0; r < Ranks; r++) if (s.Spatial(c - 1, r) > 1) return 0;
        return NestRefetch(t, OrderedLoops(s, c), s.Rem[c], out _) * s.Used[c];
    }

    /// <summary>The temporal loops above level c of a complete mapping, outermost first.</summary>
    private ReadOnlySpan<Formulation.StepLoop> OrderedLoops(State s, int c)
    {
        var loops = new List<Formulation.StepLoop>();
        for (int b = 0; b < c; b++)
            foreach (int r in s.Choice[b]!.Order)
                if (s.Choice[b]!.Temporal[r] > 1) loops.Add(new Formulation.StepLoop(r, s.Choice[b]!.Temporal[r], LoopStride(s, b, r)));
        return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(loops);
    }

    /// <summary>
    /// A lower bound on the words Timeloop brings into one instance of a keeper of t (tile extents <paramref name="tile"/>)
    /// under the temporal loops above it, <paramref name="loops"/> outermost first (docs/mapspace.md, "Refetched window
    /// tiles" and "A sweep after each whole tile"). S: the loops with a loop inside whose step (their move less one step back
    /// of each loop inside) moves the tile otherwise than the innermost loop's step (<see cref="TensorIndex.StepChangesStride"/>),
    /// and the loops whose step clears the tile along a dimension net of those rewinds; each step of a loop of S brings a
    /// whole tile. On Timeloop's sampled sequence (rule B) the runs of the body of L, the innermost loop of S, that begin
    /// with a whole tile (the first, or one after a step of a loop of S) weigh at least the product over S of the factors;
    /// in each, after the whole tile, every step of k, the innermost loop inside L over a rank that indexes t, moves the
    /// tile by k's stride alone (the loops inside k do not move it) and brings at least the words of the moved tile that
    /// the previous one did not hold (rule A never counts fewer than the new box less the previous box), on (f(k) - 1) times
    /// the factors of the loops between L and k. So: product over S of f x (tile + that).
    /// </summary>
    private static double NestRefetch(SearchTensor t, ReadOnlySpan<Formulation.StepLoop> loops, long[] tile, out long wholeTiles)
    {
        var dims = t.Dims;
        long times = 1;
        int last = -1; // the innermost loop of S
        var rewinding = new List<(int Rank, long Stride)>();
        for (int j = 0; j < loops.Length; j++)
        {
            var (r, f, stride) = loops[j];
            rewinding.Clear();
            for (int i = j + 1; i < loops.Length; i++) rewinding.Add((loops[i].Rank, loops[i].Stride));
            var back = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rewinding);
            // A loop with a loop inside it: its step (its move less one step back of each loop inside) against the innermost
            // loop's move. This covers a rank that does not index t with a moving loop inside (its step only rewinds).
            bool whole = j + 1 < loops.Length && dims.StepChangesStride(r, stride, back, loops[^1].Rank, loops[^1].Stride);
            if (!whole && t.IndexedBy[r]) whole = dims.StepClearsTile(r, stride, back, tile);
            if (whole) { times = checked(times * f); last = j; }
        }
        wholeTiles = times;
        double sweep = t.Tile(tile);
        for (int k = loops.Length - 1; k > last; k--)
        {
            if (!t.IndexedBy[loops[k].Rank]) continue;
            double steps = loops[k].Factor - 1;
            for (int i = last + 1; i < k; i++) steps *= loops[i].Factor;
            sweep += steps * t.WindowFresh(tile, loops[k].Rank, loops[k].Stride, new long[tile.Length]);
            break;
        }
        return times * sweep;
    }

    /// <summary>
    /// The parent p's reads of the whole tiles its fanout's children take in (docs/mapspace.md, "Whole tiles over the places
    /// no neighbour serves"), when one fanout lies between p and its next keeper of t, at p or at a level f between them
    /// (which keeps nothing of t and passes its children's fills up to p), and level f + 1 is decided (0 otherwise): the
    /// child's tile is t's tile at level f + 1 (the levels below f keep it or pass it on whole),
    /// at least its used words (a strided tile's gaps are not read); at each of the steps that bring it whole (<see cref="WholeTiles"/>, or the ordered count of a complete mapping),
    /// p reads, per instance of f, one tile per place of <see cref="Formulation.TensorIndex.PlacesNoNeighbourServes"/>, the least over the
    /// plan's variants and every order of each axis's spatial loops (Timeloop's row-major placement, X innermost). A
    /// step moves rank r by a multiple of r's extent across the fanout (every loop above it, and every rewind, moves r so),
    /// and not at all when no loop above the fanout runs over r.
    /// </summary>
    private double PlacesReads(SearchTensor t, State s, int d, int p, bool ordered)
    {
        if (s.Plan is null) return 0;
        // The fanout: at p, or at a level between p and its next keeper c, which keep nothing of t (they pass c's fills up).
        int f = -1;
        for (int k = p; k < Levels; k++)
        {
            if (k > p && (s.Keep[k] & t.Bit) != 0) break;
            bool split = false;
            for (int r = 0; r < Ranks; r++) split |= s.Spatial(k, r) > 1;
            if (!split) continue;
            if (f >= 0) return 0;
            f = k;
        }
        int q = f + 1;
        if (f < 0 || q < d) return 0;
        long places = Places(t, s, d, f, ordered);
        if (places <= 0) return 0;
        long whole = ordered && d == 0 ? Whole(s) : WholeTiles(t, s, d, q);
        return (double)whole * places * t.UsedWords(s.Rem[q]) * s.Used[f];

        long Whole(State s)
        {
            NestRefetch(t, OrderedLoops(s, q), s.Rem[q], out long times);
            return times;
        }
    }
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ContentKey, long> _places = new();

    /// <summary>
    /// <see cref="PlacesReads"/>'s places, remembered per plan, tensor, level, tile and moves (keyed by content, no strings). The moves of the steps above
    /// the fanout when every loop there is known (levels d and below decided, or DRAM's what is left at d = 1; no fanout
    /// above p): a step of loop k moves its rank by k's stride and every loop inside k back by one step of its own (rule B's
    /// sampled run, in which a loop's last iteration met is its second); the loops of deeper levels are inside k, those of
    /// k's level in the order of a complete mapping, or any of them when open. Otherwise every step moves each rank by a
    /// multiple of its extent across the fanout, not at all when no loop above the fanout runs over it.
    /// </summary>
    private long Places(SearchTensor t, State s, int d, int p, bool ordered)
    {
        var tile = s.Rem[p + 1];
        var moves = Moves(s, d, p, ordered);
        // The key by content: the tile, then the number of moves (-1: not known) and each move.
        var content = new long[Ranks + 1 + (moves?.Count ?? 0) * Ranks];
        tile.AsSpan().CopyTo(content);
        content[Ranks] = moves?.Count ?? -1;
        if (moves is not null) for (int i = 0; i < moves.Count; i++) moves[i].AsSpan().CopyTo(content.AsSpan(Ranks + 1 + i * Ranks));
        return _places.GetOrAdd(new ContentKey(s.Plan!, (t.Index, p, 0, 0), content), _ =>
        {
            var unit = new long[Ranks];
            for (int r = 0; r < Ranks; r++)
            {
                long across = checked(tile[r] * s.Spatial(p, r)), inside = across;
                for (int l = 0; l < p; l++) inside = checked(inside * s.Spatial(l, r));
                unit[r] = _m.Bound[r] > inside ? across : 0;
            }
            long least = long.MaxValue;
            foreach (var plan in s.Plan!.Variants.Prepend(s.Plan!))
            {
                var x = Enumerable.Range(0, Ranks).Where(r => plan.X[p][r] > 1).Select(r => (r, (long)plan.X[p][r])).ToList();
                var y = Enumerable.Range(0, Ranks).Where(r => plan.Y[p][r] > 1).Select(r => (r, (long)plan.Y[p][r])).ToList();
                long children = 1;
                foreach (var (_, f) in x.Concat(y)) children = checked(children * f);
                var pairs = Formulation.TimeloopConvention.NeighbourPairs(_m.Storage[p].Fanout, (int)children);
                foreach (var px in Formulation.Mapspace.Permutations(x))
                    foreach (var py in Formulation.Mapspace.Permutations(y))
                    {
                        var run = new List<(int Rank, long Factor, long Stride)>();
                        var stride = (long[])tile.Clone();
                        foreach (var (r, f) in px.Concat(py)) { run.Add((r, f, stride[r])); stride[r] = checked(stride[r] * f); }
                        long n = t.Dims.PlacesNoNeighbourServes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(run), pairs, unit, moves);
                        if (n < 0) return -1;
                        least = Math.Min(least, n);
                    }
            }
            return least;
        });
    }

    /// <summary>The moves (per rank) of the steps of the temporal loops above level p's fanout (<see cref="Places"/>); null when not known.</summary>
    private List<long[]>? Moves(State s, int d, int p, bool ordered)
    {
        if (d > 1) return null;
        for (int l = 0; l < p; l++) for (int r = 0; r < Ranks; r++) if (s.Spatial(l, r) > 1) return null;
        bool exact = ordered && d == 0;
        var top = d == 1 ? Remaining(s, 1, out _) : null;
        var levels = new List<(int Rank, long Stride)>[p + 1];
        for (int b = 0; b <= p; b++)
        {
            levels[b] = [];
            var order = exact ? s.Choice[b]!.Order : Enumerable.Range(0, Ranks).ToArray();
            foreach (int r in order)
            {
                long f = b < d ? top![r] : s.Choice[b]!.Temporal[r];
                if (f > 1) levels[b].Add((r, LoopStride(s, b, r)));
            }
        }
        var moves = new List<long[]>();
        var seen = new HashSet<ContentKey>();
        for (int b = 0; b <= p; b++)
        {
            var own = levels[b];
            for (int k = 0; k < own.Count; k++)
            {
                var move = new long[Ranks];
                move[own[k].Rank] += own[k].Stride;
                for (int l = b + 1; l <= p; l++) foreach (var (r, stride) in levels[l]) move[r] -= stride;
                var others = Enumerable.Range(0, own.Count).Where(j => j != k && (!exact || j > k)).ToList();
                // Exact: the loops after k in the level's order (inside it); open: any subset of the level's other loops.
                int subsets = exact ? 1 : 1 << others.Count;
                for (int m = 0; m < subsets; m++)
                {
                    var shifted = (long[])move.Clone();
                    for (int j = 0; j < others.Count; j++)
                        if (exact || (m >> j & 1) != 0) shifted[own[others[j]].Rank] -= own[others[j]].Stride;
                    if (seen.Add(new ContentKey((0, 0, 0, 0), shifted))) moves.Add(shifted);
                }
            }
        }
        return moves;
    }

    /// <summary>How far one step of level l's temporal loop over r moves r: r's extent inside the loop (l's spatial split included).</summary>
    private static long LoopStride(State s, int l, int r) => checked(s.Rem[l + 1][r] * s.Spatial(l, r));

    /// <summary>
    /// One tensor's share of <see cref="Bound"/>: what its decided keepers fix (<see cref="DecidedTerms"/>;
    /// with <paramref name="innermost"/>, the innermost loop above d runs over that rank), plus the cheapest
    /// level above d that could serve the outermost one, and the words every dense tensor reads from DRAM once.
    /// </summary>
    private double TensorBound(SearchTensor t, State s, int d, double aboveD, long[] remaining, int innermost)
    {
        var levels = _m.Storage;
        double floor0 = DramFloor(t, s, out double words0);
        int outer = DecidedTerms(t, s, d, aboveD, remaining, innermost, out double energy, out double v0);
        double best = double.PositiveInfinity;
        if (outer < 0)
        {
            for (int m = 0; m < d; m++)
            {
                if (m != 0 && !CanKeepAbove(t, s, m, d)) continue;
                best = Math.Min(best, DirectEnergy(t, s, m) + FromDram(t, s, m, floor0, words0));
            }
            return best;
        }
        if (outer == 0) return energy;
        energy += s.Used[outer] * (t.IsOutput ? Math.Max(0, v0 - _cost.PlanPartition(t, s, outer)) : v0) * levels[outer].WriteEnergy;
        for (int m = 0; m < d; m++)
        {
            if (m != 0 && !CanKeepAbove(t, s, m, d)) continue;
            best = Math.Min(best, _cost.PairEnergy(t, s, m, outer, v0) + FromDram(t, s, m, floor0, words0));
        }
        return energy + best;
    }

    /// <summary>
    /// One term of <see cref="TensorBound"/> for a tensor no decided level keeps (nothing decided at a plan's root): with level
    /// <paramref name="m"/> its innermost keeper, the compute units' accesses there (<see cref="DirectEnergy"/>) and, when m is not
    /// DRAM, DRAM's reads of every used word on their way to m (<see cref="FromDram"/>). The tensor's share of the plain bound is
    /// the least of these over DRAM and the levels that <see cref="CanKeepAbove"/>; neither term depends on which levels may keep
    /// it nor on their capacities, which decide only which terms are taken (<see cref="PlainPlans"/> keeps them per plan).
    /// </summary>
    public double UnkeptShare(SearchTensor t, State s, int m)
    {
        double floor0 = DramFloor(t, s, out double words0);
        return DirectEnergy(t, s, m) + FromDram(t, s, m, floor0, words0);
    }

    /// <summary>DRAM's side of the words every dense tensor crosses once (<paramref name="words0"/>: every used word, or for an output every word of its partition updated once), in energy.</summary>
    private double DramFloor(SearchTensor t, State s, out double words0)
    {
        var facts = _cost.Facts(s);
        words0 = t.IsOutput ? facts.Partition[0][t.Index] : facts.Used[0][t.Index];
        return words0 * (t.IsOutput ? _m.Storage[0].WriteEnergy : _m.Storage[0].ReadEnergy);
    }

    /// <summary>With level m (not DRAM) serving t's outermost keeper or the compute units, DRAM's reads of every used word and their crossings on the way to m; 0 for m = 0 (DRAM itself).</summary>
    private double FromDram(SearchTensor t, State s, int m, double floor0, double words0) => m != 0 ? floor0 + words0 * CrossingEnergy(t, s, m) : 0;

    /// <summary>
    /// The network energy per word of t that DRAM reads (or updates) on its way to keeper m: the hops of every fanout
    /// above m. Whoever keeps t between DRAM and m, each fanout k above m lies between two consecutive keepers of it,
    /// and the parent's accesses that cross it are counted once each at k's hops (docs/cost-model.md), so the words
    /// that cross it are at least every word used once (for an output, every word of its partition updated once):
    /// the words the DRAM floor counts. None for a window tensor whose children may share words
    /// (<see cref="SearchProblem.SharedWindows"/>: shared and forwarded words take other hops).
    /// </summary>
    public double CrossingEnergy(SearchTensor t, State s, int m)
    {
        if (_m.SharedWindows && t.IsWindow) return 0;
        double hop = 0;
        for (int k = 0; k < m; k++) if (_m.HopEnergy(k) > 0) hop += _cost.Hops(s, k) * _m.HopEnergy(k);
        return hop;
    }

    /// <summary>
    /// The part of t's bound that its decided keepers fix (those from d down, and DRAM when d = 0): each
    /// keeper's visits (what the decided levels bring, a whole tile per step above d when a decided level
    /// rewinds a rank alone indexing a dimension, or what the innermost loop above d over rank
    /// <paramref name="innermost"/> forces, and at least every used word), the fills of all keepers but the
    /// outermost, and the accesses between them and to the compute units. Returns the outermost decided
    /// keeper (-1 when none) with its visits.
    /// </summary>
    public int DecidedTerms(SearchTensor t, State s, int d, double aboveD, long[] remaining, int innermost, out double energy, out double outerVisits)
    {
        var levels = _m.Storage;
        Span<int> keepers = stackalloc int[Levels];
        int count = 0;
        if (d == 0) keepers[count++] = 0;
        for (int c = Math.Max(d, 1); c < Levels; c++) if ((s.Keep[c] & t.Bit) != 0) keepers[count++] = c;
        keepers = keepers[..count];
        energy = 0;
        outerVisits = 0;
        if (keepers.Length == 0) return -1;
        Span<double> visits = stackalloc double[keepers.Length];
        for (int i = 0; i < keepers.Length; i++)
        {
            int c = keepers[i];
            double v = t.Tile(s.Rem[c]);
            if (c > 0)
            {
                for (int b = d; b < c; b++) v += s.InnerVisits[b][c][t.Index];
                if (RewindsPlainDim(t, s, d, c)) v += t.Tile(s.Rem[c]) * (aboveD - 1);
                else if (innermost >= 0 && d > 0) v += ForcedVisits(t, s, d, c, innermost, aboveD, remaining);
                // Every word an instance's MACs use reaches it at least once.
                v = Math.Max(v, _cost.PlanDensePartition(t, s, c));
                if (i > 0) energy += s.Used[c] * (t.IsOutput ? Math.Max(0, v - _cost.PlanPartition(t, s, c)) : v) * levels[c].WriteEnergy;
            }
            visits[i] = v;
        }
        for (int i = 0; i + 1 < keepers.Length; i++) energy += _cost.PairEnergy(t, s, keepers[i], keepers[i + 1], visits[i + 1]);
        energy += _cost.PairEnergy(t, s, keepers[^1], Levels, _cost.Facts(s).TemporalTotal);
        outerVisits = visits[0];
        return keepers[0];
    }

    /// <summary>
    /// The visits the levels above d add at least to t's decided keeper c when the innermost loop above d
    /// runs over rank r. When r alone indexes a dimension of t, every step above d brings a whole tile (a
    /// step of r moves that dimension by at least its extent, and a rewind of r moves it back as far).
    /// Otherwise only r's own steps are counted, (f - 1) of every f, with f at least the smallest factor of
    /// what is left of r: each moves c's tile by r's stride (at least d's tile extent times the spatial
    /// splits of the levels up to the one holding the loop, which have no loops inside it) while the
    /// decided loops from d down to c rewind, and brings the words of the tile that the move uncovers,
    /// the least over the levels that may hold the loop. For a sliding window (P + R) that is the part of
    /// the halo the step does not keep.
    /// </summary>
    private double ForcedVisits(SearchTensor t, State s, int d, int c, int r, double aboveD, long[] remaining)
    {
        long tile = t.Tile(s.Rem[c]);
        if (t.PlainDimRank[r]) return tile * (aboveD - 1);
        if (!t.WindowRank[r]) return 0;
        var ext = s.Rem[c];
        Span<long> back = stackalloc long[Ranks];
        for (int rr = 0; rr < Ranks; rr++)
        {
            long b = 0;
            for (int l = d; l < c; l++) b = checked(b + (s.Choice[l]!.Temporal[rr] - 1) * s.Rem[l + 1][rr] * s.Spatial(l, rr));
            back[rr] = b;
        }
        long least = tile;
        long stride = s.Rem[d][r];
        for (int h = d - 1; h >= 0 && least > 0; h--)
        {
            stride = checked(stride * s.Spatial(h, r));
            least = Math.Min(least, t.WindowFresh(ext, r, stride, back));
        }
        return least * aboveD * (1 - 1.0 / _m.SmallestFactor[remaining[r]]);
    }

    /// <summary>
    /// True when an undecided level m above the decided level d may still keep t: the architecture and the
    /// constraints allow it, and t's smallest possible tile there fits m's capacity on its own. That tile
    /// is at least d's tile times the spatial splits from m down to d, since the temporal factors of the
    /// levels from m to d (undecided) are at least 1.
    /// </summary>
    public bool CanKeepAbove(SearchTensor t, State s, int m, int d)
    {
        // The tile is computed only where a capacity could refuse it (this runs at every node of the inner-first search).
        return _m.MayKeep(t, m) && (_m.Storage[m].Capacity is null || _m.TileFits(m, LeastTileAbove(t, s, m, d)));
    }

    /// <summary>
    /// t's smallest possible tile at an undecided level m above the decided level d (<see cref="CanKeepAbove"/>): d's tile
    /// times the spatial splits from m down to d.
    /// </summary>
    public long LeastTileAbove(SearchTensor t, State s, int m, int d)
    {
        Span<long> ext = stackalloc long[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            long e = s.Rem[d][r];
            for (int b = m; b < d; b++) e = checked(e * s.Spatial(b, r));
            ext[r] = e;
        }
        return t.Tile(ext);
    }

    /// <summary>
    /// True when a decided level from d down to c (exclusive) loops over a rank that alone indexes a
    /// dimension of t: that loop rewinds inside every loop above d, so each step of those loops moves t's
    /// tile at c to words it does not hold, and the levels above d add exactly a whole tile per step
    /// (tile x (product of their temporal factors - 1)), whatever their split and order.
    /// </summary>
    public static bool RewindsPlainDim(SearchTensor t, State s, int d, int c)
    {
        for (int b = d; b < c; b++)
        {
            var f = s.Choice[b]!.Temporal;
            for (int k = 0; k < t.Dims.Dimensions; k++)
                if (t.Dims.RanksOf(k) is [var only] && f[only] > 1) return true;
        }
        return false;
    }
}
