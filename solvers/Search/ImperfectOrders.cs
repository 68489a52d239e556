using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// Loop orders in the imperfect mapspace (docs/mapspace.md, "Imperfect factors: the branch and bound"). With clipped
/// tiles a tensor's visits at keeper c are its first tile plus, per temporal loop j above c, the words j's steps bring
/// (<see cref="Counts.ClippedStepWords"/>). Those words depend on every rank's factors and on the set of j's own
/// level's loops inside j, never on another level's order: each rank's loops keep their level order whatever the
/// orders, and the count of a loop reads, per rank, only what the rank's loops outside and inside it leave. Nor do they
/// depend on how the levels above j's level split a rank: those levels cut it into tiles of j's level's extent, all
/// full but the last, whatever their factors (a mixed radix over the multiples of the extent below the bound), so one
/// loop per rank over those tiles stands for them. So the words of level b's loops are known once levels b and below
/// are decided, and energy, linear in visits, is a constant plus one term per level that depends on that level's order
/// alone: each level's order is found alone, by dynamic programming over the sets of its innermost loops.
/// </summary>
internal sealed class ImperfectOrders(SearchProblem problem, ArrayCostModel cost) : SearchPart(problem)
{
    private readonly ArrayCostModel _cost = cost;

    /// <summary>Per rank, the points one instance of level b covers: the bound over the plan's spatial splits above b.</summary>
    public long[] Share(State s, int b)
    {
        var share = new long[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            long above = 1;
            for (int e = 0; e < b; e++) above = checked(above * s.Spatial(e, r));
            share[r] = Counts.PerInstance(_m.Bound[r], above);
        }
        return share;
    }

    /// <summary>
    /// The words each loop of level b brings into keeper c's tile of t, per loop (in <paramref name="active"/>'s order) and per
    /// set of the level's other loops inside it (a bitmask over <paramref name="active"/>): <c>[j][mask]</c>.
    /// </summary>
    public long[][] Words(SearchTensor t, State s, int b, int c, int[] active)
    {
        var share = Share(s, b);
        int k = active.Length;
        var table = new long[k][];
        var chain = new List<ChainLoop>();
        for (int j = 0; j < k; j++)
        {
            table[j] = new long[1 << k];
            for (int mask = 0; mask < 1 << k; mask++)
            {
                if ((mask & (1 << j)) != 0) continue;
                chain.Clear();
                // The levels above b, as one loop per rank over b's tiles.
                for (int r = 0; r < Ranks; r++)
                {
                    long tiles = (share[r] + s.Rem[b][r] - 1) / s.Rem[b][r];
                    if (tiles > 1) chain.Add(new ChainLoop(r, tiles, s.Rem[b][r], false));
                }
                int at = -1;
                // Level b: the loops outside j, j, then the ones inside it (mask), then its spatial loops.
                foreach (int pass in new[] { 0, 1, 2 })
                    for (int i = 0; i < k; i++)
                    {
                        bool inside = (mask & (1 << i)) != 0;
                        if ((pass == 0 && (i == j || inside)) || (pass == 1 && i != j) || (pass == 2 && !inside)) continue;
                        if (pass == 1) at = chain.Count;
                        chain.Add(new ChainLoop(active[i], s.Choice[b]!.Temporal[active[i]], 0, false));
                    }
                for (int e = b; e < c; e++)
                {
                    var ch = s.Choice[e]!;
                    if (e > b) foreach (int r in ch.Order) chain.Add(new ChainLoop(r, ch.Temporal[r], 0, false));
                    for (int r = 0; r < Ranks; r++)
                        foreach (long f in new long[] { ch.SpatialX[r], ch.SpatialY[r] })
                            if (f > 1) chain.Add(new ChainLoop(r, f, 0, true));
                }
                table[j][mask] = Counts.ClippedStepWords(t.Dims, s.Rem[c], WithStrides(chain, s.Rem[c]), share, at);
            }
        }
        return table;
    }

    /// <summary>The chain with each loop's stride: the product of its rank's factors inside it, over the tile extents at the keeper.</summary>
    private static ChainLoop[] WithStrides(List<ChainLoop> chain, long[] tile)
    {
        var inner = (long[])tile.Clone();
        var result = new ChainLoop[chain.Count];
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            var l = chain[i];
            result[i] = l with { Stride = inner[l.Rank] };
            inner[l.Rank] = checked(inner[l.Rank] * l.Factor);
        }
        return result;
    }

    /// <summary>The loops of level b with a factor above 1, in rank order.</summary>
    public int[] Active(State s, int b) => Enumerable.Range(0, Ranks).Where(r => s.Choice[b]!.Temporal[r] > 1).ToArray();

    /// <summary>
    /// The least, over level b's orders, of <c>sum over its loops j of cost(j, loops inside j)</c>, and an order that
    /// reaches it (outermost first; ties go to the lowest position outermost): dynamic programming over the sets of
    /// innermost loops, <c>2^k x k</c> steps for k loops.
    /// </summary>
    public static (double Value, int[] Order) Least(int[] active, Func<int, int, double> cost)
    {
        int k = active.Length;
        var best = new double[1 << k];
        var outermost = new int[1 << k];
        for (int set = 1; set < 1 << k; set++)
        {
            best[set] = double.PositiveInfinity;
            for (int j = 0; j < k; j++)
            {
                if ((set & (1 << j)) == 0) continue;
                double v = best[set & ~(1 << j)] + cost(j, set & ~(1 << j));
                if (v < best[set]) { best[set] = v; outermost[set] = j; }
            }
        }
        var order = new int[k];
        for (int set = (1 << k) - 1, i = 0; set != 0; i++)
        {
            int j = outermost[set];
            order[i] = active[j];
            set &= ~(1 << j);
        }
        return (best[(1 << k) - 1], order);
    }

    /// <summary>
    /// Records, for every keeper c below level b (decided) and every tensor it keeps, the least words level b's loops
    /// bring to c's tile over b's orders (that tensor alone): <see cref="State.InnerVisits"/><c>[b][c][t]</c>.
    /// </summary>
    public void RecordInnerVisits(State s, int b)
    {
        var active = Active(s, b);
        for (int c = b + 1; c < Levels; c++)
            foreach (var t in _m.Tensors)
            {
                if ((s.Keep[c] & t.Bit) == 0 || active.Length == 0) { s.InnerVisits[b][c][t.Index] = 0; continue; }
                var words = Words(t, s, b, c, active);
                s.InnerVisits[b][c][t.Index] = Least(active, (j, mask) => words[j][mask]).Value;
            }
    }

    /// <summary>
    /// Gives every level of a complete state the order of least energy: per level, the least order of
    /// <see cref="LevelCosts"/> by <see cref="Least"/>.
    /// </summary>
    public void OptimizeOrders(State s)
    {
        for (int b = 0; b < Levels - 1; b++)
        {
            var active = Active(s, b);
            if (active.Length < 2) continue;
            var costs = LevelCosts(s, b, active);
            var (_, order) = Least(active, (j, mask) => costs[j][mask]);
            s.Choice[b] = s.Choice[b]! with { Order = order };
        }
    }

    /// <summary>
    /// The energy the steps of level b's loops (<paramref name="active"/>, of a complete state) cost, per loop j and set of
    /// the level's other loops inside it (<c>[j][mask]</c>, as <see cref="Words"/>): the words j's steps bring to every keeper
    /// below, each weighted by what one visit word costs there (<see cref="VisitLink.Slope"/>: its fill and its parent's read
    /// or update with the network between; a complete mapping's visits are above both floors of an output's slope, so the
    /// slope is constant). A level's order changes the energy by the sum of its loops' entries alone. A loop of factor 1
    /// in <paramref name="active"/> brings nothing.
    /// </summary>
    public double[][] LevelCosts(State s, int b, int[] active)
    {
        int k = active.Length;
        var table = new double[k][];
        for (int j = 0; j < k; j++) table[j] = new double[1 << k];
        foreach (var t in _m.Tensors)
            for (int c = b + 1; c < Levels; c++)
            {
                if ((s.Keep[c] & t.Bit) == 0) continue;
                int parent = c - 1;
                while (parent > 0 && (s.Keep[parent] & t.Bit) == 0) parent--;
                double slope = new VisitLink(_cost, _m, t, s, parent, c).Slope(double.MaxValue);
                var words = Words(t, s, b, c, active);
                for (int j = 0; j < k; j++)
                    for (int mask = 0; mask < 1 << k; mask++) table[j][mask] += slope * words[j][mask];
            }
        return table;
    }
}
