using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// <c>map --shapes</c> on energy (docs/shapes.md, "The branch and bound"): the one mapping minimising a statistic of the
/// energy over a shape trace, over the candidates the enumeration lists (the largest shape's imperfect mapspace, valid
/// on every shape), searched as <see cref="ImperfectSearch"/> searches one shape: spatial plans first, then levels from
/// the innermost outward, children searched best bound first. A node's bound is the statistic over the shapes of a
/// lower bound per shape: at first its parent's, at the roots each shape's start value (its floor,
/// <see cref="TilingSearch.AnyMappingFloor"/>, or its own-optimum bound when given), then, shape by shape, heaviest first (weight x MACs), <see cref="ImperfectBound"/> on the node as it runs on that
/// shape (every decided loop clamped as <see cref="ShapeFit.Clamp"/> clamps it), until the statistic reaches the
/// incumbent. At a leaf each shape is costed at its own best orders (a lower bound of its cost under any orders), and
/// the orders shared by every shape are chosen for the statistic: per level for the mean (the energy is a constant plus
/// one term per level's order, <see cref="ImperfectOrders"/>), by a search over every level's orders for the others.
/// The answer is re-checked and re-costed by the reference model on every shape.
/// </summary>
internal sealed class ShapeBranchAndBound
{
    /// <summary>One shape of the trace: its compiled problem, the search parts that bound and cost it, and what every mapping costs at least on it.</summary>
    private sealed class Shape
    {
        public required int TraceIndex { get; init; }
        public required double Weight { get; init; }
        public required SearchProblem Problem { get; init; }
        public required ArrayCostModel Cost { get; init; }
        public required ImperfectOrders Orders { get; init; }
        public required ImperfectBound Bound { get; init; }
        public required double Floor { get; init; }
    }

    private const string Name = "branch and bound";

    private readonly ShapeSearch _search;
    private readonly bool _seed;
    private readonly bool _inPlace;
    private readonly int _earlyVisits;

    /// <summary>
    /// How many of the heaviest shapes a node's refinement bounds with level d's visits right after their bound without
    /// them, before the other shapes (<see cref="Run.Refine"/>). Two: on BERT-base FF1's 100 lengths 2, 3 and 4 took 8.73,
    /// 8.79 and 8.85 million shape bounds against 30.5 million with none, and 2 the least CPU (a recording costs more
    /// than a bound; docs/benchmarks.md, "Shapes at scale: the visits of the heaviest shapes first").
    /// </summary>
    internal const int EarlyVisitShapes = 2;
    private readonly int _tileShapes;

    /// <summary>
    /// After the <see cref="EarlyVisitShapes"/>, how many more shapes a node's refinement bounds with level d's visits: each
    /// the heaviest shape whose count of level d's tiles (per varying rank, <see cref="TilesSeenBefore"/>) differs from every
    /// shape so bounded before it. A child whose bounds with visits on the heaviest shapes equal the incumbent's costs there
    /// (a tie) runs like the incumbent on those shapes; where it runs more tiles of level d, its visits can cost more. One:
    /// on BERT-base FF1's 100 lengths 1, 2 and 3 took the same 6.72 million shape bounds against 8.73 million with none
    /// (MoE 1.47 against 4.50; docs/benchmarks.md, "Shapes at scale: the shape with another count of tiles next").
    /// </summary>
    internal const int TileVisitShapes = 1;
    private readonly ShapeStatistic _statistic;
    private readonly MapProblem _p;
    private readonly SearchProblem _m;
    private readonly LevelEnumeration _enumeration;
    private readonly Shape[] _shapes;
    private readonly double[] _weights;
    private readonly bool[] _dynamic;
    /// <summary>Per shape and rank its bound (heaviest-first order).</summary>
    private readonly long[][] _bounds;

    /// <summary>Prepares the search of <paramref name="search"/>'s trace (energy) for one statistic.</summary>
    /// <param name="lower">Per shape (trace order) a lower bound on its cost under every mapping, or null: each shape's
    /// own-optimum bound (<see cref="ShapeSearch.OwnOptima"/>) starts its bound at every node instead of its floor.</param>
    /// <param name="inPlace">Whether the refinement writes each choice of a level into the node's per-shape states
    /// (<see cref="ShapeState"/>) instead of copies; false only in the tests, which check that both search alike.</param>
    /// <param name="earlyVisits">How many of the heaviest shapes are bounded with level d's visits before the others
    /// (<see cref="EarlyVisitShapes"/>); other values only in the tests, which check that every value searches alike.</param>
    /// <param name="tileVisits">How many more shapes, each with a count of level d's tiles no shape bounded with visits
    /// before it has, are bounded with those visits next (<see cref="TileVisitShapes"/>); other values only in the tests.</param>
    public ShapeBranchAndBound(ShapeSearch search, ShapeStatistic statistic, bool seed = true, IReadOnlyList<double>? lower = null, bool inPlace = true,
        int earlyVisits = EarlyVisitShapes, int tileVisits = TileVisitShapes)
    {
        _tileShapes = tileVisits;
        _seed = seed;
        _inPlace = inPlace;
        _earlyVisits = earlyVisits;
        _search = search;
        _statistic = statistic;
        _p = new MapProblem(search.Largest, search.Arch, Objective.Energy);
        _m = new SearchProblem(_p, deferOrders: true, imperfect: true);
        _enumeration = new LevelEnumeration(_m);
        var layers = search.Layers;
        var order = Enumerable.Range(0, layers.Count).OrderByDescending(s => search.Trace.Shapes[s].Weight * (double)layers[s].Macs).ThenBy(s => s).ToArray();
        _shapes = order.Select(s =>
        {
            var problem = new MapProblem(layers[s], search.Arch, Objective.Energy);
            var m = new SearchProblem(problem, deferOrders: true, imperfect: true);
            var cost = new ArrayCostModel(m);
            var orders = new ImperfectOrders(m, cost);
            return new Shape
            {
                TraceIndex = s, Weight = search.Trace.Shapes[s].Weight, Problem = m, Cost = cost, Orders = orders,
                Bound = new ImperfectBound(m, cost, new InnerBound(m, cost), orders),
                Floor = Math.Max(TilingSearch.AnyMappingFloor(problem), lower?[s] ?? 0),
            };
        }).ToArray();
        _weights = _shapes.Select(x => x.Weight).ToArray();
        _bounds = _shapes.Select(x => x.Problem.Bound).ToArray();
        _dynamic = Enumerable.Range(0, _m.Ranks).Select(r => _bounds.Any(b => b[r] != _m.Bound[r])).ToArray();
    }

    /// <summary>Runs the search under the limits (one thread).</summary>
    public ShapeAnswer Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var run = new Run(this, limits, sw);
        limits.Progress?.Attach(() => new SearchSnapshot("shape branch and bound", run.Explored, double.IsFinite(run.Best) ? run.Best : null, run.OpenBound()));
        if (_seed) run.SeedFromPerfectSearch();
        double floor = Statistic(_shapes.Select(x => x.Floor).ToArray());
        var roots = new List<(State State, double Bound, double[] Lower, State?[] States)>();
        foreach (var plan in _enumeration.SpatialPlans())
        {
            if (run.CheckStop()) break;
            var s = new State(_m, plan);
            s.Keep[0] = (1 << _m.TensorCount) - 1;
            var lower = _shapes.Select(x => x.Floor).ToArray();
            var states = new State?[_shapes.Length];
            double b = run.RootBound(s, lower, states);
            roots.Add((s, b, lower, states));
        }
        bool listed = !run.Stopped;
        if (!listed) run.Open(floor);
        var sorted = Enumerable.Range(0, roots.Count).OrderBy(i => roots[i].Bound).ThenBy(i => i).ToList();
        foreach (int i in sorted)
        {
            var (s, b, lower, states) = roots[i];
            if (run.Stopped) { run.Open(b); continue; }
            if (run.Prunable(b)) continue;
            run.Descend(s, _m.Levels - 1, b, lower, states);
        }
        bool finished = !run.Stopped && listed;
        if (run.BestMapping is not { } mapping)
            return new ShapeAnswer(finished ? SolveStatus.Infeasible : SolveStatus.Unknown, null, null, null, floor, sw.Elapsed, run.Leaves, run.Evaluations, run.Pruned,
                finished ? ShapeSearch.NoneRuns : "the search stopped before it found a mapping that runs on every shape") { Method = Name };
        // Re-checked and re-costed: valid on the largest shape and on every shape, each cost by the reference model.
        var violations = ValidityChecker.Check(_p.Layer, _p.Arch, mapping, Factorization.Imperfect);
        if (violations.Count > 0 || !_search.RunsOnEveryShape(mapping))
            throw new InvalidOperationException($"The shape branch and bound returned a mapping that does not run on every shape (a bug): {string.Join("; ", violations)}");
        var costs = Enumerable.Range(0, _search.Layers.Count).Select(s => _search.CostOn(mapping, s)).ToArray();
        double value = ShapeStatistics.Of(_statistic, _shapes.Select(x => costs[x.TraceIndex]).ToArray(), _weights);
        if (Math.Abs(value - run.Best) > 1e-9 * Math.Max(1, Math.Abs(value)))
            throw new InvalidOperationException($"The shape branch and bound values its mapping at {run.Best}, the reference model at {value} (a bug).");
        double bound = finished ? value : Math.Max(floor, Math.Min(value, run.OpenBound()));
        return new ShapeAnswer(finished ? SolveStatus.Optimal : SolveStatus.Feasible, mapping, costs, value, bound, sw.Elapsed, run.Leaves, run.Evaluations, run.Pruned,
            finished ? null : "the search stopped before it could prove optimality") { Method = Name };
    }

    /// <summary>The statistic of per-shape values in heaviest-first order.</summary>
    private double Statistic(double[] values) => ShapeStatistics.Of(_statistic, values, _weights);

    /// <summary>
    /// Shape <paramref name="i"/>'s clamped spatial plan when every level's clamp is known with levels <paramref name="d"/>
    /// and below decided (a spatial loop's clamp reads its rank's factors inside it: decided, or the one tile every
    /// candidate below can have, <see cref="OnlyTile"/>), else null. Only ranks that vary can be clamped.
    /// </summary>
    private SpatialPlan? ClampedPlan(int i, State s, int d)
    {
        var plan = s.Plan!;
        int[][] x = plan.X, y = plan.Y;
        bool copied = false;
        for (int e = 0; e < _m.Levels; e++)
            for (int r = 0; r < _m.Ranks; r++)
            {
                if (!_dynamic[r] || (plan.X[e][r] == 1 && plan.Y[e][r] == 1)) continue;
                if (OnlyTile(s, d, e, r) is var tile && tile <= 0) return null;
                var (_, cx, cy) = ClampLevel(_bounds[i][r], tile, 1, plan.X[e][r], plan.Y[e][r]);
                if (cx == plan.X[e][r] && cy == plan.Y[e][r]) continue;
                if (!copied)
                {
                    x = plan.X.Select(a => (int[])a.Clone()).ToArray();
                    y = plan.Y.Select(a => (int[])a.Clone()).ToArray();
                    copied = true;
                }
                x[e][r] = cx;
                y[e][r] = cy;
            }
        return copied ? new SpatialPlan(x, y) : plan;
    }

    /// <summary>
    /// False when no completion of the node (levels <paramref name="d"/> and below decided) runs on every shape: some spatial
    /// loop of a varying rank runs on some shape with a span that does not divide the shape's size (the checker's
    /// <c>SpatialRemainder</c>, on the clamped loop) whatever the undecided levels inside it hold. A split at level e runs
    /// over tiles of <c>S</c>, the product of its rank's factors inside it. When those levels are decided, S is known.
    /// Otherwise S is a multiple of what is known inside (the decided levels' factors and the plan's spatial factors at the
    /// undecided ones), and every candidate has <c>S X Y</c> dividing the largest shape's size (<c>SpatialRemainder</c> on
    /// the largest shape, which every candidate meets: the span of the split's outer loop is <c>S X Y</c>); the node is
    /// cut only when no such S lets the split run on every shape.
    /// </summary>
    private bool RunsOnEveryShape(State s, int d)
    {
        var plan = s.Plan!;
        for (int e = 0; e < _m.Levels; e++)
            for (int r = 0; r < _m.Ranks; r++)
                if (_dynamic[r] && (plan.X[e][r] > 1 || plan.Y[e][r] > 1) && OnlyTile(s, d, e, r) == 0) return false;
        return true;
    }

    /// <summary>
    /// The tile <c>S</c> under rank r's spatial split at level e when the node (levels <paramref name="d"/> and below
    /// decided) leaves it one value that lets the split run on every shape (<see cref="RunsOnEveryShape(State, int)"/>):
    /// the product of the levels inside when they are decided, else the only multiple of what is known inside with
    /// <c>S X Y</c> dividing the largest size that runs on every shape. 0 when no value does (no candidate below), -1 when
    /// several do.
    /// </summary>
    private long OnlyTile(State s, int d, int e, int r)
    {
        var plan = s.Plan!;
        int x = plan.X[e][r], y = plan.Y[e][r];
        long known = 1;
        for (int b = e + 1; b < _m.Levels; b++)
            known = checked(known * (b >= d ? s.Choice[b]!.Temporal[r] * s.Choice[b]!.SpatialX[r] * s.Choice[b]!.SpatialY[r] : plan.X[b][r] * plan.Y[b][r]));
        if (e + 1 >= d || e + 1 >= _m.Levels) return SplitRunsOnEveryShape(r, known, x, y) ? known : 0;
        long largest = _m.Bound[r], split = (long)x * y, only = 0;
        for (long inner = known; inner * split <= largest; inner += known)
        {
            if (largest % (inner * split) != 0 || !SplitRunsOnEveryShape(r, inner, x, y)) continue;
            if (only > 0) return -1;
            only = inner;
        }
        return only;
    }

    /// <summary>
    /// Whether <see cref="RunsOnEveryShape(State, int)"/> lets through every node on the path of a mapping of the largest
    /// shape (the plan, then each level from the innermost outward), per node from the root; null when the mapping is not
    /// a leaf of the tree (<see cref="ImperfectSearch.Decompose"/>). Every candidate must pass at every node (the tests).
    /// </summary>
    internal List<bool>? PathRuns(Mapping mapping)
    {
        if (ImperfectSearch.Decompose(_m, mapping) is not { } parts) return null;
        var (plan, temporal) = parts;
        var s = new State(_m, plan);
        var path = new List<bool> { RunsOnEveryShape(s, _m.Levels) };
        for (int d = _m.Levels - 1; d >= 1; d--)
        {
            s.ApplyInner(d, ImperfectSearch.Choice(plan, temporal, d), _m.Bound);
            path.Add(RunsOnEveryShape(s, d));
        }
        return path;
    }

    /// <summary>
    /// The per-shape bounds (trace order) the search takes along a mapping's path from the root, as the search's refinement
    /// takes them with every shape refined: at the root, then at each level from the innermost outward with its factors and
    /// keep set as the mapping has them; a shape not bounded at a node (its clamp not known yet) is 0 there. Each must be
    /// at most the mapping's cost on that shape when the mapping is a candidate (the tests); null when the mapping is not a
    /// leaf of the tree (<see cref="ImperfectSearch.Decompose"/>).
    /// </summary>
    internal List<double[]>? PathShapeBounds(Mapping mapping)
    {
        if (ImperfectSearch.Decompose(_m, mapping) is not { } parts) return null;
        var (plan, temporal) = parts;
        var s = new State(_m, plan);
        s.Keep[0] = (1 << _m.TensorCount) - 1;
        var path = new List<double[]>();
        var parents = new State?[_shapes.Length];
        for (int d = _m.Levels; d >= 1; d--)
        {
            if (d < _m.Levels)
            {
                s.ApplyInner(d, ImperfectSearch.Choice(plan, temporal, d), _m.Bound);
                foreach (var t in _m.Tensors) if (mapping.Levels[d].Keep.Contains(t.Spec.Id)) s.Keep[d] |= t.Bit;
            }
            var bounds = new double[_shapes.Length];
            for (int i = 0; i < _shapes.Length; i++)
            {
                var st = d == _m.Levels ? ShapeState(i, s, d, null, record: false) : ShapeState(i, s, d, parents[i], record: true);
                if (st is null) continue;
                if (d < _m.Levels) st.Keep[d] = s.Keep[d];
                bounds[_shapes[i].TraceIndex] = _shapes[i].Bound.Bound(st, d);
                parents[i] = d == _m.Levels ? st : st.Above(_shapes[i].Problem, d - 1);
            }
            path.Add(bounds);
        }
        return path;
    }

    /// <summary>Whether rank r's spatial loops Y (inside) and X, over tiles of <paramref name="inner"/>, run on every shape with spans that divide its size.</summary>
    private bool SplitRunsOnEveryShape(int r, long inner, int x, int y)
    {
        foreach (var b in _bounds)
        {
            long span = inner;
            foreach (int f in (ReadOnlySpan<int>)[y, x])
            {
                long runs = ShapeFit.Runs(b[r], f, span);
                if (runs > 1 && b[r] % (span * runs) != 0) return false;
                span = checked(span * f);
            }
        }
        return true;
    }

    private bool HasDynamicSplit(State s)
    {
        for (int e = 0; e < _m.Levels; e++)
            for (int r = 0; r < _m.Ranks; r++)
                if (_dynamic[r] && s.Spatial(e, r) > 1) return true;
        return false;
    }

    /// <summary>The product of rank r's factors, as written, at levels <paramref name="from"/> and below (all decided).</summary>
    private long Inner(State s, int from, int r)
    {
        long inner = 1;
        for (int b = from; b < _m.Levels; b++)
        {
            var c = s.Choice[b]!;
            inner = checked(inner * c.Temporal[r] * c.SpatialX[r] * c.SpatialY[r]);
        }
        return inner;
    }

    /// <summary>Per rank the product of its factors, as written, at level d and inside (all decided), into <paramref name="tiles"/>.</summary>
    private void LevelTiles(State s, int d, long[] tiles)
    {
        for (int r = 0; r < _m.Ranks; r++) tiles[r] = _dynamic[r] ? Inner(s, d, r) : 1;
    }

    /// <summary>
    /// Whether shape i runs as many of level d's tiles (per varying rank, <c>ceil(B / inner)</c> with <paramref name="inner"/>
    /// from <see cref="LevelTiles"/>) as one of the shapes <c>0 .. early - 1</c> or <c>chosen[0 .. count - 1]</c>.
    /// </summary>
    private bool TilesSeenBefore(int i, long[] inner, int early, int[] chosen, int count)
    {
        for (int j = 0; j < early + count; j++)
        {
            int o = j < early ? j : chosen[j - early];
            bool same = true;
            for (int r = 0; r < _m.Ranks && same; r++)
                same = !_dynamic[r] || CeilDiv(_bounds[i][r], inner[r]) == CeilDiv(_bounds[o][r], inner[r]);
            if (same) return true;
        }
        return false;
    }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    /// <summary>One level's loops of one rank (temporal outside X outside Y, over tiles of <paramref name="inner"/>) as they run on a bound (<see cref="ShapeFit.Runs"/>).</summary>
    private static (int T, int X, int Y) ClampLevel(long bound, long inner, int t, int x, int y)
    {
        int cy = (int)ShapeFit.Runs(bound, y, inner);
        inner = checked(inner * y);
        int cx = (int)ShapeFit.Runs(bound, x, inner);
        inner = checked(inner * x);
        return ((int)ShapeFit.Runs(bound, t, inner), cx, cy);
    }

    /// <summary>Level b's choice (decided in <paramref name="s"/>, as are the levels below it) as it runs on shape i.</summary>
    /// <remarks>
    /// The choice itself when the shape runs it as written (no loop of a varying rank cut, every ordered loop above 1);
    /// otherwise the clamped choice, shared by the shapes that run the same choice alike (<see cref="_clamped"/>).
    /// </remarks>
    private LevelChoice ClampChoice(int i, State s, int b)
    {
        var c = s.Choice[b]!;
        Span<int> t = stackalloc int[_m.Ranks], x = stackalloc int[_m.Ranks], y = stackalloc int[_m.Ranks];
        bool cut = false;
        for (int r = 0; r < _m.Ranks; r++)
        {
            (t[r], x[r], y[r]) = (c.Temporal[r], c.SpatialX[r], c.SpatialY[r]);
            if (_dynamic[r]) (t[r], x[r], y[r]) = ClampLevel(_bounds[i][r], Inner(s, b + 1, r), t[r], x[r], y[r]);
            cut |= t[r] != c.Temporal[r] || x[r] != c.SpatialX[r] || y[r] != c.SpatialY[r];
        }
        if (!cut && Array.TrueForAll(c.Order, r => c.Temporal[r] > 1)) return c;
        if (!ReferenceEquals(_clampedOf, c)) { _clampedOf = c; _clamped.Clear(); }
        foreach (var k in _clamped)
            if (t.SequenceEqual(k.Temporal) && x.SequenceEqual(k.SpatialX) && y.SequenceEqual(k.SpatialY)) return k;
        var ts = t.ToArray();
        var clamped = new LevelChoice(ts, c.Order.Where(r => ts[r] > 1).ToArray(), x.ToArray(), y.ToArray());
        _clamped.Add(clamped);
        return clamped;
    }

    /// <summary>The choice whose clamped forms <see cref="_clamped"/> holds (one per distinct clamp, for the shapes that share it).</summary>
    private LevelChoice? _clampedOf;
    private readonly List<LevelChoice> _clamped = [];

    /// <summary>
    /// Shape i's state for the node of <paramref name="s"/> whose levels <paramref name="d"/> and below are decided: the
    /// parent's state (levels below d) with level d clamped, or built from the plan up; with <paramref name="record"/>, the
    /// visits level d's loops bring below (what the bound reads). Null while the clamped plan is not known. With
    /// <paramref name="inPlace"/> level d is written into the parent itself instead of into a copy (the parent's level d
    /// is undecided, so nothing of it is lost; its visits are cleared first): the refinement tries one choice of level d
    /// after another on the node's own states and copies a shape's state only for a child it keeps.
    /// </summary>
    private State? ShapeState(int i, State s, int d, State? parent, bool record, bool inPlace = false)
    {
        var sh = _shapes[i];
        State st;
        int from;
        if (parent is not null && d < _m.Levels && inPlace)
        {
            st = parent;
            foreach (var visits in st.InnerVisits[d]) Array.Clear(visits);
            from = d;
        }
        else if (parent is not null && d < _m.Levels) { st = parent.Above(sh.Problem, d); from = d; }
        else
        {
            if (ClampedPlan(i, s, d) is not { } plan) return null;
            st = new State(sh.Problem, plan);
            st.Keep[0] = s.Keep[0];
            from = _m.Levels - 1;
        }
        for (int b = from; b >= d; b--)
        {
            st.ApplyInner(b, ClampChoice(i, s, b), sh.Problem.Bound);
            st.Keep[b] = s.Keep[b];
            if (record || b > d) sh.Orders.RecordInnerVisits(st, b);
        }
        return st;
    }

    /// <summary>One run's incumbent, counters and the bounds of what it left unexplored.</summary>
    private sealed class Run(ShapeBranchAndBound search, SearchLimits limits, Stopwatch clock) : BranchAndBoundRun(limits, clock)
    {
        private readonly int _n = search._shapes.Length;
        /// <summary>Per rank the product of its factors at level d and inside (<see cref="LevelTiles"/>), for <see cref="Refine"/>.</summary>
        private readonly long[] _tiles = new long[search._m.Ranks];
        /// <summary>The shapes <see cref="Refine"/> bounded with visits for their tiles (<see cref="TileVisitShapes"/>).</summary>
        private readonly int[] _tileShape = new int[Math.Max(1, search._tileShapes)];

        public long Leaves { get; private set; }
        public long Evaluations { get; private set; }
        public long Pruned { get; private set; }
        public Mapping? BestMapping { get; private set; }

        /// <summary>
        /// The perfect-factorization optimum of the largest shape, when it runs on every shape, sets the first threshold
        /// (its statistic by the reference model); a quarter of the time limit.
        /// </summary>
        public void SeedFromPerfectSearch()
        {
            var perfect = new TilingSearch(search._p, prune: true).Solve(Limits with { TimeLimit = Limits.TimeLimit / 4, Progress = null });
            if (perfect.Mapping is not { } m || ValidityChecker.Check(search._p.Layer, search._p.Arch, m, Factorization.Imperfect).Count > 0 || !search._search.RunsOnEveryShape(m)) return;
            Best = search.Statistic(search._shapes.Select(x => search._search.CostOn(m, x.TraceIndex)).ToArray());
            BestMapping = m;
        }

        /// <summary>
        /// The root bound of a spatial plan: per shape its <see cref="ImperfectBound"/> with nothing decided, heaviest first,
        /// until the statistic reaches the incumbent (<paramref name="lower"/> raised, each shape's state kept in <paramref name="states"/>).
        /// </summary>
        public double RootBound(State s, double[] lower, State?[] states)
        {
            if (search.HasDynamicSplit(s) && !search.RunsOnEveryShape(s, search._m.Levels)) return double.PositiveInfinity;
            double value = search.Statistic(lower);
            for (int i = 0; i < _n && !Prunable(value); i++)
            {
                if (search.ShapeState(i, s, search._m.Levels, null, record: false) is not { } st) continue;
                states[i] = st;
                value = Raise(lower, i, search._shapes[i].Bound.Bound(st, search._m.Levels), value);
            }
            return value;
        }

        /// <summary>Shape i's bound raised to <paramref name="b"/> when higher; the statistic after.</summary>
        private double Raise(double[] lower, int i, double b, double value)
        {
            Evaluations++;
            if (b <= lower[i]) return value;
            lower[i] = b;
            return search.Statistic(lower);
        }

        /// <summary>
        /// Raises <paramref name="lower"/> (per shape, a lower bound on every completion of the node whose levels
        /// <paramref name="d"/> and below are decided, level d's keep set <paramref name="keep"/>) by each shape's
        /// <see cref="ImperfectBound"/> until the statistic reaches the incumbent, heaviest shape first. The first
        /// <see cref="EarlyVisitShapes"/> shapes are bounded one by one without the visits level d's loops bring below it
        /// (cheap: most nodes are pruned there) and, when that does not prune, at once with them; then, alike, the
        /// <see cref="TileVisitShapes"/> heaviest shapes each running another count of level d's tiles than every shape so
        /// bounded before it (where a tie with the incumbent on the heaviest shapes can differ from it); the others in two passes
        /// as <see cref="ImperfectSearch"/> does: first without the visits (they only raise the bound), then with them.
        /// Without the early visits, a child whose bound without them equals the incumbent's cost on every shape (a tie:
        /// on BERT-base FF1's lengths, children at tpu-v4i's LocalBuffer with the optimum's WeightRegister below, whose
        /// weights the LocalBuffer's loops bring again in every tile above) reached the incumbent only after every shape's
        /// bound without visits, though one shape's visits prune it. Every value taken is a lower bound on the shape's
        /// cost over the node's completions, so the order changes how many bounds a node takes, never whether it is
        /// pruned once every bound is in. <paramref name="states"/> holds each shape's state for level d's choice (shared
        /// by the keep sets: the visits below d do not depend on d's keep set) and <paramref name="recorded"/> whether its
        /// visits are in. Returns the statistic of the bounds.
        /// </summary>
        public double Refine(State s, int d, int keep, double[] lower, State?[] states, bool[] recorded, State?[] parents)
        {
            if (search.HasDynamicSplit(s) && !search.RunsOnEveryShape(s, d)) return double.PositiveInfinity;
            double value = search.Statistic(lower);
            int early = Math.Min(_n, search._earlyVisits);
            // Shape i bounded without level d's visits, then, when that does not prune, with them.
            void WithVisits(int i)
            {
                if ((states[i] ??= search.ShapeState(i, s, d, parents[i], record: false, search._inPlace)) is not { } st) return;
                st.Keep[d] = keep;
                if (!recorded[i])
                {
                    value = Raise(lower, i, search._shapes[i].Bound.Bound(st, d), value);
                    if (Prunable(value)) return;
                    search._shapes[i].Orders.RecordInnerVisits(st, d);
                    recorded[i] = true;
                }
                value = Raise(lower, i, search._shapes[i].Bound.Bound(st, d), value);
            }
            for (int i = 0; i < early && !Prunable(value); i++) WithVisits(i);
            int tileShapes = 0;
            if (search._tileShapes > 0 && early > 0 && !Prunable(value))
            {
                search.LevelTiles(s, d, _tiles);
                for (int i = early; i < _n && tileShapes < search._tileShapes && !Prunable(value); i++)
                {
                    if (search.TilesSeenBefore(i, _tiles, early, _tileShape, tileShapes)) continue;
                    _tileShape[tileShapes++] = i;
                    WithVisits(i);
                }
            }
            for (int pass = 0; pass < 2; pass++)
                for (int i = early; i < _n && !Prunable(value); i++)
                {
                    if (tileShapes > 0 && Array.IndexOf(_tileShape, i, 0, tileShapes) >= 0) continue;
                    if (pass == 1 && !recorded[i] && states[i] is { } open) { search._shapes[i].Orders.RecordInnerVisits(open, d); recorded[i] = true; }
                    if ((states[i] ??= search.ShapeState(i, s, d, parents[i], record: false, search._inPlace)) is not { } st) continue;
                    st.Keep[d] = keep;
                    if (pass == 1 || !recorded[i]) value = Raise(lower, i, search._shapes[i].Bound.Bound(st, d), value);
                }
            return value;
        }

        /// <summary>Decides level d (its factors and keep set) over the decided levels below it, best bound first; at level 0, the leaf.</summary>
        public void Descend(State s, int d, double nodeBound, double[] lower, State?[] states)
        {
            if ((++Explored & 1023) == 0) CheckStop();
            if (Stopped) { Open(nodeBound); return; }
            var m = search._m;
            if (d == 0)
            {
                s.ApplyInner(0, search._enumeration.ImperfectInnerChoices(0, s).Single(), m.Bound);
                Leaf(s, lower, states);
                return;
            }
            var children = new List<(LevelChoice Choice, int Keep, double Bound, double[] Lower, State?[] States)>();
            var keeps = search._enumeration.KeepOptions(d).ToArray();
            // Per choice of level d, each shape's state (level d written into the node's own, ShapeState's inPlace) and
            // whether its visits are in; per child the shapes' bounds, copied for a child kept.
            var choiceStates = new State?[_n];
            var recorded = new bool[_n];
            var scratch = new double[_n];
            foreach (var choice in search._enumeration.ImperfectInnerChoices(d, s))
            {
                s.ApplyInner(d, choice, m.Bound);
                Array.Clear(choiceStates);
                Array.Clear(recorded);
                foreach (int keep in keeps)
                {
                    s.Keep[d] = keep;
                    if (!search._enumeration.Fits(d, s)) continue;
                    Array.Copy(lower, scratch, _n);
                    double bound = Refine(s, d, keep, scratch, choiceStates, recorded, states);
                    if (Prunable(bound)) { Pruned++; continue; }
                    var childLower = (double[])scratch.Clone();
                    // The child keeps the shapes' states whose visits are in (its own copy: the keep sets share them).
                    var childStates = new State?[_n];
                    for (int i = 0; i < _n; i++)
                        if (recorded[i] && choiceStates[i] is { } st) { st.Keep[d] = keep; childStates[i] = st.Above(search._shapes[i].Problem, d - 1); }
                    children.Add((choice, keep, bound, childLower, childStates));
                }
                if ((++Explored & 1023) == 0 && CheckStop()) { Open(nodeBound); return; }
            }
            var sorted = children.Select((c, i) => (c, i)).OrderBy(x => x.c.Bound).ThenBy(x => x.i).Select(x => x.c).ToList();
            for (int k = 0; k < sorted.Count; k++)
            {
                var child = sorted[k];
                if (Prunable(child.Bound)) { Pruned += sorted.Count - k; break; }
                var next = k + 1 < sorted.Count ? s.Above(m, d) : s;
                next.ApplyInner(d, child.Choice, m.Bound);
                next.Keep[d] = child.Keep;
                Descend(next, d - 1, child.Bound, child.Lower, child.States);
                if (Stopped)
                {
                    if (k + 1 < sorted.Count) Open(sorted[k + 1].Bound);
                    return;
                }
            }
        }

        /// <summary>
        /// A complete mapping of the largest shape: each shape costed at its own best orders, heaviest first, until the
        /// statistic (the others at their bounds) reaches the incumbent; then the orders every shape shares chosen for the
        /// statistic, each shape costed exactly under them.
        /// </summary>
        private void Leaf(State s, double[] lower, State?[] parents)
        {
            Leaves++;
            if (search.HasDynamicSplit(s) && !search._search.RunsOnEveryShape(search._m.ToMapping(s))) return;
            var full = new State[_n];
            var least = (double[])lower.Clone();
            for (int i = 0; i < _n; i++)
            {
                full[i] = search.ShapeState(i, s, 0, parents[i], record: false)!;
                var sh = search._shapes[i];
                sh.Orders.OptimizeOrders(full[i]);
                least[i] = sh.Cost.Exact(full[i]);
                Evaluations++;
                if (Prunable(search.Statistic(least))) { Pruned++; return; }
            }
            ShareOrders(s, full, least);
            var costs = new double[_n];
            for (int i = 0; i < _n; i++) costs[i] = search._shapes[i].Cost.Exact(full[i]);
            Evaluations += _n;
            double value = search.Statistic(costs);
            if (value < Best * (1 - BranchAndBoundRun.TieMargin))
            {
                Best = value;
                BestMapping = search._m.ToMapping(s);
            }
        }

        /// <summary>
        /// Gives every level of the leaf one order for every shape (the largest's loops; a shape's clamped loops in the
        /// same order), the one minimising the statistic: each shape's energy is its cost at its own best orders
        /// (<paramref name="least"/>) plus, per level, what that level's order costs above the shape's best
        /// (<see cref="ImperfectOrders.LevelCosts"/>). For the mean the levels are chosen one by one; for the other
        /// statistics every combination of the levels' orders is searched, a partial one dropped once its statistic
        /// (the levels left at each shape's best) reaches the best combination's.
        /// </summary>
        private void ShareOrders(State s, State[] full, double[] least)
        {
            var m = search._m;
            var levels = new List<(int Level, int[] Active, List<int[]> Orders, double[][] Extra)>();
            for (int b = 0; b < m.Levels - 1; b++)
            {
                var active = search._shapes[0].Orders.Active(s, b);
                if (active.Length < 2) continue;
                var tables = new double[_n][][];
                for (int i = 0; i < _n; i++) tables[i] = search._shapes[i].Orders.LevelCosts(full[i], b, active);
                if (search._statistic == ShapeStatistic.Mean)
                {
                    var (_, order) = ImperfectOrders.Least(active, (j, mask) =>
                    {
                        double sum = 0;
                        for (int i = 0; i < _n; i++) sum += search._weights[i] * tables[i][j][mask];
                        return sum;
                    });
                    SetOrder(s, full, b, order);
                    continue;
                }
                // Every order of the level, with each shape's cost above its own best order of the level.
                var orders = Permutations(Enumerable.Range(0, active.Length).ToArray()).ToList();
                var cost = orders.Select(p => Enumerable.Range(0, _n).Select(i => OrderCost(tables[i], p)).ToArray()).ToList();
                var extra = orders.Select((_, o) => new double[_n]).ToArray();
                for (int i = 0; i < _n; i++)
                {
                    double min = cost.Min(c => c[i]);
                    for (int o = 0; o < orders.Count; o++) extra[o][i] = Math.Max(0, cost[o][i] - min);
                }
                levels.Add((b, active, orders.Select(p => p.Select(j => active[j]).ToArray()).ToList(), extra));
            }
            if (levels.Count == 0) return;
            var pick = new int[levels.Count];
            var bestPick = new int[levels.Count];
            double bestValue = double.PositiveInfinity;
            var total = (double[])least.Clone();
            void Choose(int l)
            {
                if (search.Statistic(total) >= bestValue) return;
                if (l == levels.Count) { bestValue = search.Statistic(total); Array.Copy(pick, bestPick, pick.Length); return; }
                for (int o = 0; o < levels[l].Orders.Count; o++)
                {
                    pick[l] = o;
                    for (int i = 0; i < _n; i++) total[i] += levels[l].Extra[o][i];
                    Choose(l + 1);
                    for (int i = 0; i < _n; i++) total[i] -= levels[l].Extra[o][i];
                }
            }
            Choose(0);
            for (int l = 0; l < levels.Count; l++) SetOrder(s, full, levels[l].Level, levels[l].Orders[bestPick[l]]);
        }

        /// <summary>The cost of one order (positions into the level's loops, outermost first) from a level's cost table.</summary>
        private static double OrderCost(double[][] table, int[] order)
        {
            double sum = 0;
            int inside = 0;
            for (int p = order.Length - 1; p >= 0; p--)
            {
                sum += table[order[p]][inside];
                inside |= 1 << order[p];
            }
            return sum;
        }

        private static void SetOrder(State s, State[] full, int b, int[] order)
        {
            s.Choice[b] = s.Choice[b]! with { Order = order };
            foreach (var st in full) st.Choice[b] = st.Choice[b]! with { Order = order.Where(r => st.Choice[b]!.Temporal[r] > 1).ToArray() };
        }

        private static IEnumerable<int[]> Permutations(int[] items)
        {
            if (items.Length <= 1) { yield return items; yield break; }
            for (int i = 0; i < items.Length; i++)
                foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
                    yield return [items[i], .. rest];
        }
    }
}
