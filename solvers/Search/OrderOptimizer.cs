using System.Numerics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// Loop orders for energy (docs/mapspace.md, "Orders are chosen per level"): each level's order adds its
/// own term to every visit count, so each level's best order is found alone, by dynamic programming over
/// the sets of innermost loops (<see cref="BestOrder"/>), at the leaves (<see cref="OptimizeOrders"/>)
/// and, for the inner-first bound, as the least each decided level adds (<see cref="RecordInnerVisits"/>).
/// </summary>
internal sealed class OrderOptimizer(SearchProblem problem, ArrayCostModel cost) : SearchPart(problem)
{
    private readonly ArrayCostModel _cost = cost;

    /// <summary>
    /// For tensor t kept at level c and a level d above it, what one step of each of d's loops brings
    /// into c's tile, given which of d's loops sit inside it. A step of d's loop over rank j moves the tile
    /// by j's stride and rewinds every loop inside it; the loops of the levels between d and c are inside
    /// every loop of d whatever the orders, and their rewind is a fixed sum. So d's contribution to the
    /// visits, sum over its loops of (factor - 1) x (factors of d's loops outside) x new words, depends on
    /// d's own order only, times the product of every temporal factor above d.
    /// </summary>
    internal sealed class StepModel
    {
        private readonly SearchTensor _t;
        private long _tile;
        private readonly long[] _extent;  // per dimension of t, at c
        private readonly long[] _stride;  // per rank, of d's loop as seen from c's tile
        private readonly long[] _rewind;  // per rank, of d's loop over all its iterations
        private readonly long[] _between; // per rank, the rewind of the levels between d and c

        public StepModel(int ranks, SearchTensor t, State s, int c, int d)
        {
            _t = t;
            var ext = s.Rem[c];
            _tile = t.Tile(ext);
            _extent = new long[t.Dims.Dimensions];
            t.Dims.DimExtents(ext, _extent);
            _stride = new long[ranks];
            _rewind = new long[ranks];
            _between = new long[ranks];
            for (int r = 0; r < ranks; r++)
            {
                for (int b = d + 1; b < c; b++)
                {
                    long f = s.Choice[b]!.Temporal[r];
                    _between[r] = checked(_between[r] + (f - 1) * (s.Rem[b + 1][r] * s.Spatial(b, r)));
                }
                _stride[r] = checked(s.Rem[d + 1][r] * s.Spatial(d, r));
                _rewind[r] = checked((s.Choice[d]!.Temporal[r] - 1) * _stride[r]);
            }
        }

        /// <summary>
        /// The same for a level d whose loops are not in a state yet (the outer bound's split): c's tile extents,
        /// and per rank the stride of d's loop as seen from c's tile, d's factors, and the rewind of the levels
        /// between d and c over all their iterations.
        /// </summary>
        public StepModel(SearchTensor t, long[] extC, long[] stride, long[] factors, long[] between)
        {
            _t = t;
            _extent = new long[t.Dims.Dimensions];
            _stride = new long[stride.Length];
            _between = new long[stride.Length];
            _rewind = new long[stride.Length];
            Reset(extC, stride, factors, between);
        }

        /// <summary>The same model for other extents, strides, factors and rewinds, in place (the outer bound asks for one per choice of a level's factors).</summary>
        public StepModel Reset(long[] extC, long[] stride, long[] factors, long[] between)
        {
            _tile = _t.Tile(extC);
            _t.Dims.DimExtents(extC, _extent);
            Array.Copy(stride, _stride, _stride.Length);
            Array.Copy(between, _between, _between.Length);
            for (int r = 0; r < _stride.Length; r++) _rewind[r] = checked((factors[r] - 1) * _stride[r]);
            return this;
        }

        /// <summary>New words in c's tile when d's loop over <paramref name="rank"/> steps with the loops of d in <paramref name="inside"/> (a rank bit mask) inside it.</summary>
        public double Fresh(int rank, long inside)
        {
            Span<long> shift = stackalloc long[_stride.Length];
            for (int r = 0; r < shift.Length; r++)
                shift[r] = (r == rank ? _stride[r] : 0) - _between[r] - ((inside >> r & 1) != 0 ? _rewind[r] : 0);
            return _tile - _t.Dims.Overlap(_extent, shift);
        }
    }

    /// <summary>
    /// For a window tensor under the Timeloop convention kept at level 1 (tile extents <c>ext</c>), what one step of each of
    /// DRAM's loops brings into that tile on Timeloop's sampled sequence (<see cref="TensorIndex.SampledStepWords"/>), given
    /// which of DRAM's loops sit inside it: no loop lies between DRAM and level 1, so the tile moves at DRAM's steps alone.
    /// </summary>
    internal sealed class SampledWindowStep
    {
        private readonly TensorIndex _dims;
        private readonly long _tile;
        private readonly long[] _extent; // per dimension of t
        private readonly long[] _stride; // per rank, of DRAM's loop

        public SampledWindowStep(SearchTensor t, long[] ext, long[] stride)
        {
            _dims = t.Dims;
            _tile = t.Tile(ext);
            _extent = new long[t.Dims.Dimensions];
            t.Dims.DimExtents(ext, _extent);
            _stride = (long[])stride.Clone();
        }

        /// <summary>The words one step of DRAM's loop over <paramref name="rank"/> brings with the loops in <paramref name="inside"/> (a rank bit mask) inside it.</summary>
        public double Fresh(int rank, long inside) => _dims.SampledStepWords(_extent, _tile, rank, _stride, inside);
    }

    /// <summary>
    /// The order of one level's loops (the ranks with a factor above 1) that minimizes
    /// sum over loops j of (f_j - 1) x (factors of the loops outside j) x cost(j, loops inside j), by dynamic
    /// programming over the sets of innermost loops; ties go to the lowest rank outermost, so the answer
    /// is the same on every run. Returns the minimum and the order, outermost first. A set of loops whose
    /// every value is infinite or NaN (energies past double's range) keeps its first loop innermost and
    /// the value infinity, so the order is always a permutation of the loops.
    /// </summary>
    internal (double Value, int[] Order) BestOrder(int[] factors, Func<int, long, double> cost)
    {
        int k = 0;
        for (int r = 0; r < Ranks; r++) if (factors[r] > 1) k++;
        var active = new int[k];
        for (int r = 0, i = 0; r < Ranks; r++) if (factors[r] > 1) active[i++] = r;
        if (k == 0) return (0, active);
        double all = 1;
        foreach (var r in active) all *= factors[r];
        // The outer bound asks for orders of a few loops millions of times: its tables live on the stack.
        Span<double> best = k <= 8 ? stackalloc double[1 << k] : new double[1 << k];
        Span<int> pick = k <= 8 ? stackalloc int[1 << k] : new int[1 << k];
        Span<double> product = k <= 8 ? stackalloc double[1 << k] : new double[1 << k];
        Span<long> ranksOf = k <= 8 ? stackalloc long[1 << k] : new long[1 << k];
        product[0] = 1;
        for (int mask = 1; mask < 1 << k; mask++)
        {
            int low = BitOperations.TrailingZeroCount(mask);
            product[mask] = product[mask & (mask - 1)] * factors[active[low]];
            ranksOf[mask] = ranksOf[mask & (mask - 1)] | 1L << active[low];
            double outside = all / product[mask];
            best[mask] = double.PositiveInfinity;
            pick[mask] = low; // kept when no value is below infinity (every one infinite or NaN)
            for (int j = low; j < k; j++)
            {
                if ((mask >> j & 1) == 0) continue;
                int inner = mask & ~(1 << j);
                int rank = active[j];
                double v = best[inner] + LoopTerm(factors[rank], outside, cost(rank, ranksOf[inner]));
                if (v < best[mask]) { best[mask] = v; pick[mask] = j; }
            }
        }
        var order = new int[k];
        for (int mask = (1 << k) - 1, i = 0; mask != 0; i++)
        {
            order[i] = active[pick[mask]];
            mask &= ~(1 << pick[mask]);
        }
        return (best[(1 << k) - 1], order);
    }

    /// <summary>
    /// For energy, picks every level's best loop order for a complete tiling: the energy is a constant plus
    /// a weighted sum of visits, and each level's order adds its own term to every visit count, so each
    /// level is minimized on its own (docs/mapspace.md). Pinned orders and the innermost level are kept.
    /// </summary>
    public void OptimizeOrders(State s)
    {
        for (int d = 0; d < Levels - 1; d++)
        {
            var ch = s.Choice[d]!;
            var constraint = _m.Constraint(d);
            if (constraint.Order is null && ch.Order.Length > 1)
            {
                // An outer prefix's loops sit outside every other loop of the level: what they add depends only
                // on the set inside them (fixed), and they multiply every other loop's term by the same product,
                // so the best order is the prefix, then the best order of the rest found alone.
                var prefix = constraint.OuterPrefix.Select(id => Array.IndexOf(_m.RankIds, id)).Where(r => ch.Temporal[r] > 1).ToArray();
                var factors = (int[])ch.Temporal.Clone();
                foreach (var r in prefix) factors[r] = 1;
                var (_, order) = BestOrder(factors, StepEnergy(s, d));
                s.Choice[d] = ch with { Order = [.. prefix, .. order] };
            }
        }
    }

    /// <summary>
    /// The energy one step of one of level d's loops brings (given the loops of d inside it), summed over every tensor
    /// kept below d: the per-loop cost whose weighted sum over d's loops is d's own term in the energy. A tensor bounded by
    /// its order-free floor (<see cref="SearchProblem.Floored"/>) is left out: its counts are not the array model's.
    /// </summary>
    private Func<int, long, double> StepEnergy(State s, int d)
    {
        var terms = new List<(StepModel Step, double Weight)>();
        foreach (var t in _m.Tensors)
        {
            if (_m.Floored(t)) continue;
            int l = 0;
            for (int c = 1; c < Levels; c++)
            {
                if ((s.Keep[c] & t.Bit) == 0) continue;
                if (c > d) terms.Add((new StepModel(Ranks, t, s, c, d), VisitWeight(t, s, l, c)));
                l = c;
            }
        }
        return (rank, inside) =>
        {
            double sum = 0;
            foreach (var (step, weight) in terms) sum += weight * step.Fresh(rank, inside);
            return sum;
        };
    }

    /// <summary>
    /// What level d's loops in <paramref name="orders"/> (each outermost first) add to the energy of a complete tiling, one
    /// value per order: the energy is a constant plus one such term per level (docs/mapspace.md, "Orders are chosen per
    /// level"), so two orders of d differ in energy by the difference of their terms, whatever the other levels' orders.
    /// </summary>
    public double[] LevelEnergies(State s, int d, IReadOnlyList<int[]> orders)
    {
        var cost = StepEnergy(s, d);
        var factors = s.Choice[d]!.Temporal;
        double above = 1; // the temporal factors of the levels above d
        for (int b = 0; b < d; b++) for (int r = 0; r < Ranks; r++) above *= s.Choice[b]!.Temporal[r];
        var values = new double[orders.Count];
        for (int i = 0; i < orders.Count; i++)
        {
            double outside = 1, sum = 0;
            long inside = 0;
            foreach (var r in orders[i]) outside *= factors[r];
            for (int j = orders[i].Length - 1; j >= 0; j--)
            {
                int rank = orders[i][j];
                outside /= factors[rank];
                sum += LoopTerm(factors[rank], outside, cost(rank, inside));
                inside |= 1L << rank;
            }
            values[i] = above * sum;
        }
        return values;
    }

    /// <summary>One loop's share of a level's term: its steps (factor - 1, once per iteration of the loops outside it) times what each brings.</summary>
    private static double LoopTerm(int factor, double outside, double perStep) => (factor - 1) * outside * perStep;

    /// <summary>
    /// The energy one visit word of tensor t at keeper c costs (docs/cost-model.md): the fill at c, the
    /// read (and, for outputs, the update) it asks of its parent keeper l, and the network hops between.
    /// </summary>
    private double VisitWeight(SearchTensor t, State s, int l, int c)
    {
        var levels = _m.Storage;
        double perChildWord = (double)s.Used[c] / _cost.SharedFactor(t, s, l, c);
        double w = s.Used[c] * levels[c].WriteEnergy
                   + perChildWord * (levels[l].ReadEnergy + (t.IsOutput ? levels[l].WriteEnergy : 0));
        for (int m = l; m < c; m++)
            if (_m.HopEnergy(m) > 0) w += perChildWord * (t.IsOutput ? 2 : 1) * _cost.Hops(s, m) * _m.HopEnergy(m);
        return w;
    }

    /// <summary>
    /// Records what level d's loops add, at the least over its orders, to the visits of every tensor kept
    /// below it (each level's order adds its own term; see <see cref="StepModel"/>): fixed once d and
    /// the levels below are decided, whatever the levels above do.
    /// </summary>
    public void RecordInnerVisits(State s, int d)
    {
        long below = 1; // temporal factors of the levels from d down
        for (int b = d; b < Levels; b++) for (int r = 0; r < Ranks; r++) below = checked(below * s.Choice[b]!.Temporal[r]);
        double above = (double)_cost.Facts(s).TemporalTotal / below;
        foreach (var t in _m.Tensors)
            for (int c = d + 1; c < Levels; c++)
            {
                // A floored tensor's bound uses no visits.
                if ((s.Keep[c] & t.Bit) == 0 || _m.Floored(t)) { s.InnerVisits[d][c][t.Index] = 0; continue; }
                s.InnerVisits[d][c][t.Index] = above * (t.Plain ? PlainLeastTerm(t, s, c, d) : BestOrder(s.Choice[d]!.Temporal, new StepModel(Ranks, t, s, c, d).Fresh).Value);
            }
    }

    /// <summary>
    /// The least, over level d's loop orders, of d's term in the visits of a tensor indexed by plain ranks
    /// at keeper c, in closed form: a step of a loop that indexes t, or of any loop with such a loop
    /// rewinding inside it, brings a whole new tile, and any other step brings nothing; so the best order
    /// puts the loops that do not index t innermost, unless a level between d and c already rewinds an
    /// indexing rank, in which case every step brings a whole tile.
    /// </summary>
    private double PlainLeastTerm(SearchTensor t, State s, int c, int d)
    {
        var f = s.Choice[d]!.Temporal;
        double all = 1, indexing = 1;
        bool rewound = false;
        for (int r = 0; r < Ranks; r++)
        {
            all *= f[r];
            if (!t.IndexedBy[r]) continue;
            indexing *= f[r];
            for (int b = d + 1; b < c && !rewound; b++) rewound = s.Choice[b]!.Temporal[r] > 1;
        }
        return t.Tile(s.Rem[c]) * ((rewound ? all : indexing) - 1);
    }
}
