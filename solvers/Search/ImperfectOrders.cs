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
    public long[] Share(State s, int b) => Share(s, b, new long[Ranks]);

    /// <summary><see cref="Share(State, int)"/> written into <paramref name="share"/> (one entry per rank), which it returns.</summary>
    public long[] Share(State s, int b, long[] share)
    {
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
        var table = NewTable(active.Length);
        Words([t], s, b, c, active, [table]);
        return table;
    }

    private static long[][] NewTable(int k)
    {
        var table = new long[k][];
        for (int j = 0; j < k; j++) table[j] = new long[1 << k];
        return table;
    }

    /// <summary>
    /// <see cref="Words(SearchTensor, State, int, int, int[])"/> for several tensors at once (<c>tables[i]</c> for
    /// <c>tensors[i]</c>): each loop chain is built once and counted for every tensor.
    /// </summary>
    private void Words(ReadOnlySpan<SearchTensor> tensors, State s, int b, int c, int[] active, long[][][] tables)
    {
        var share = Share(s, b, _share);
        var tile = s.Rem[c];
        int k = active.Length;
        // The loops below level b's own, innermost last: the levels b + 1 .. c - 1's temporal loops (in their orders) and
        // every level's spatial loops, from level b to c - 1.
        int most = Ranks + k;
        for (int e = b; e < c; e++) most += s.Choice[e]!.Order.Length + 2 * Ranks;
        if (_chain.Length < most) { _chain = new ChainLoop[most]; _strided = new ChainLoop[most]; }
        ChainLoop[] chain = _chain, strided = _strided;
        var inner = _inner;
        for (int j = 0; j < k; j++)
            for (int mask = 0; mask < 1 << k; mask++)
            {
                if ((mask & (1 << j)) != 0) continue;
                int n = 0;
                // The levels above b, as one loop per rank over b's tiles.
                for (int r = 0; r < Ranks; r++)
                {
                    long tiles = (share[r] + s.Rem[b][r] - 1) / s.Rem[b][r];
                    if (tiles > 1) chain[n++] = new ChainLoop(r, tiles, s.Rem[b][r], false);
                }
                // Level b: the loops outside j, j, then the ones inside it (mask), then its spatial loops.
                for (int i = 0; i < k; i++)
                    if (i != j && (mask & (1 << i)) == 0) chain[n++] = new ChainLoop(active[i], s.Choice[b]!.Temporal[active[i]], 0, false);
                int at = n;
                chain[n++] = new ChainLoop(active[j], s.Choice[b]!.Temporal[active[j]], 0, false);
                for (int i = 0; i < k; i++)
                    if ((mask & (1 << i)) != 0) chain[n++] = new ChainLoop(active[i], s.Choice[b]!.Temporal[active[i]], 0, false);
                for (int e = b; e < c; e++)
                {
                    var ch = s.Choice[e]!;
                    if (e > b) foreach (int r in ch.Order) chain[n++] = new ChainLoop(r, ch.Temporal[r], 0, false);
                    for (int r = 0; r < Ranks; r++)
                    {
                        if (ch.SpatialX[r] > 1) chain[n++] = new ChainLoop(r, ch.SpatialX[r], 0, true);
                        if (ch.SpatialY[r] > 1) chain[n++] = new ChainLoop(r, ch.SpatialY[r], 0, true);
                    }
                }
                WithStrides(chain.AsSpan(0, n), tile, inner, strided);
                for (int i = 0; i < tensors.Length; i++)
                    tables[i][j][mask] = Counts.ClippedStepWords(tensors[i].Dims, tile, strided.AsSpan(0, n), share, at);
            }
    }

    /// <summary>The chain with each loop's stride: the product of its rank's factors inside it, over the tile extents at the keeper.</summary>
    private static void WithStrides(ReadOnlySpan<ChainLoop> chain, long[] tile, long[] inner, ChainLoop[] result)
    {
        Array.Copy(tile, inner, tile.Length);
        for (int i = chain.Length - 1; i >= 0; i--)
        {
            var l = chain[i];
            result[i] = l with { Stride = inner[l.Rank] };
            inner[l.Rank] = checked(inner[l.Rank] * l.Factor);
        }
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
        Programme(k, new CostOf(cost), best, outermost);
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
        int k = active.Length;
        var kept = _kept;
        if (_tables.Length == 0 || _tables[0].Length < k || (k > 0 && _tables[0][k - 1].Length < 1 << k))
            _tables = Enumerable.Range(0, _m.TensorCount).Select(_ => NewTable(Math.Max(k, 1))).ToArray();
        for (int c = b + 1; c < Levels; c++)
        {
            int n = 0;
            foreach (var t in _m.Tensors)
            {
                s.InnerVisits[b][c][t.Index] = 0;
                if ((s.Keep[c] & t.Bit) != 0 && k > 0) kept[n++] = t;
            }
            if (n == 0) continue;
            Words(kept.AsSpan(0, n), s, b, c, active, _tables);
            for (int i = 0; i < n; i++) s.InnerVisits[b][c][kept[i].Index] = LeastValue(k, _tables[i]);
        }
    }

    /// <summary><see cref="Least"/>'s value over a table of words <c>[j][mask]</c>, without its order (no allocation).</summary>
    private static double LeastValue(int k, long[][] words)
    {
        Span<double> best = stackalloc double[1 << k];
        Span<int> outermost = stackalloc int[1 << k];
        best[0] = 0;
        Programme(k, new WordsOf(words), best, outermost);
        return best[(1 << k) - 1];
    }

    /// <summary>A cost per loop j and set of the level's loops inside it, for <see cref="Programme"/>.</summary>
    private interface ILoopCost { double Cost(int j, int mask); }
    private readonly struct CostOf(Func<int, int, double> cost) : ILoopCost { public double Cost(int j, int mask) => cost(j, mask); }
    private readonly struct WordsOf(long[][] words) : ILoopCost { public double Cost(int j, int mask) => words[j][mask]; }

    /// <summary>
    /// The dynamic programme of <see cref="Least"/>: <c>best[set]</c>, the least cost of the loops in <c>set</c> innermost
    /// (<c>best[0]</c> is 0), and <c>outermost[set]</c>, the outermost loop of a least order of them.
    /// </summary>
    private static void Programme<T>(int k, T cost, Span<double> best, Span<int> outermost) where T : ILoopCost
    {
        for (int set = 1; set < 1 << k; set++)
        {
            best[set] = double.PositiveInfinity;
            for (int j = 0; j < k; j++)
            {
                if ((set & (1 << j)) == 0) continue;
                double v = best[set & ~(1 << j)] + cost.Cost(j, set & ~(1 << j));
                if (v < best[set]) { best[set] = v; outermost[set] = j; }
            }
        }
    }

    /// <summary>The buffers of <see cref="RecordInnerVisits"/> and <see cref="Words(ReadOnlySpan{SearchTensor}, State, int, int, int[], long[][][])"/>
    /// (reused: one instance per search, one thread; each call fills what it reads).</summary>
    private readonly SearchTensor[] _kept = new SearchTensor[problem.TensorCount];
    private long[][][] _tables = [];
    private ChainLoop[] _chain = [], _strided = [];
    private readonly long[] _share = new long[problem.Ranks], _inner = new long[problem.Ranks];

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
