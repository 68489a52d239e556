using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;
using static Optimizer.Solvers.Symbolic.MapEncoding;

namespace Optimizer.Solvers.Symbolic;

/// <summary>
/// One layer's mapspace (docs/mapspace.md), its validity rules and its exact cost (docs/cost-model.md), written once over
/// the <see cref="Algebra{TX, TL, TE}"/> and stated in Z3 or CP-SAT by the algebra's backend (docs/z3-encoding.md,
/// docs/cpsat.md). Each rank picks one split of its bound over every slot (a choice over the split table; every
/// per-rank quantity is a table lookup over it); keep/bypass are Booleans; loop orders are <c>before</c> Booleans. Every
/// count is the symbolic form of the kernel's function of the same name (<see cref="Counts"/>, <see cref="TensorIndex"/>).
/// With <c>freeFactors</c> (Z3's diagnose mode) the factors are free variables over the bounds' divisors and only the
/// validity rules and the user constraints are stated, each under a <see cref="Tag"/> an unsat core can name.
/// </summary>
internal sealed class MapEncoder<TX, TL, TE> where TX : class where TL : class
{
    private readonly Algebra<TX, TL, TE> _a;
    private readonly MapProblem _p;
    private readonly bool _free;
    private readonly int _n, _ranks;
    private readonly StorageLevel[] _levels;
    private readonly TensorSpec[] _tensors;
    private readonly RankId[] _rankIds;
    private readonly long[] _bound;
    private readonly List<Split>[] _splits;
    private readonly IntTerm<TX>?[] _choice;
    private readonly BoolTerm<TL>[,] _keep;
    private readonly BoolTerm<TL>?[,,] _before;
    private readonly IntTerm<TX>[,]? _tVar, _sxVar, _syVar;
    private readonly Dictionary<string, IntTerm<TX>> _cache = new();
    private readonly Dictionary<string, BoolTerm<TL>> _literals = new();
    /// <summary>Per tensor, the words its Timeloop floor counts at each keeper (<see cref="TimeloopFloor"/>); null: the tensor's own counts.</summary>
    private readonly long?[] _floored;

    /// <summary>States the mapspace, its validity rules and the user constraints (<paramref name="solver"/> names the solver in refusals).</summary>
    /// <param name="timeloopFloor">
    /// The energy and cycles are a lower bound of the Timeloop convention's instead of the default model's (docs/cpsat.md,
    /// "Under the Timeloop convention"): every window tensor's counts are replaced by <see cref="TimeloopFloor"/>; the
    /// caller states the problem on an architecture whose fanouts all multicast and reduce, with no hop energy.
    /// </param>
    public MapEncoder(MapProblem p, Algebra<TX, TL, TE> algebra, bool freeFactors, string solver, bool timeloopFloor = false)
    {
        _a = algebra;
        _p = p;
        _free = freeFactors;
        _levels = p.Arch.Levels.ToArray();
        _n = _levels.Length;
        _tensors = p.Layer.Tensors.ToArray();
        _rankIds = p.Layer.Ranks.Select(r => r.Id).ToArray();
        _bound = p.Layer.Ranks.Select(r => (long)r.Bound).ToArray();
        _ranks = _rankIds.Length;
        _floored = _tensors.Select(t => timeloopFloor && !Moving(t).Plain ? UsedWords(t) : (long?)null).ToArray();

        _keep = new BoolTerm<TL>[_n, _tensors.Length];
        for (int l = 0; l < _n; l++)
        {
            var pin = p.Constraints?.Levels.GetValueOrDefault(l);
            for (int t = 0; t < _tensors.Length; t++)
            {
                var id = _tensors[t].Id;
                bool keep = pin?.Keep.Contains(id) == true, bypass = pin?.Bypass.Contains(id) == true;
                // A choice the constraints pin (one way only) is a constant, so every term it gates is built ungated (the
                // keeper-path floor then sees the one path the pins leave). The pins are still stated below: diagnose mode
                // keeps the literals, so an unsat core can name them.
                _keep[l, t] = l == 0 ? _a.True
                    : !_levels[l].MayKeep(_tensors[t].Role) ? _a.False
                    : !freeFactors && keep != bypass ? _a.Const(keep)
                    : _a.NewBool($"keep_{_levels[l].Name}_{id}");
            }
        }

        _splits = new List<Split>[_ranks];
        _choice = new IntTerm<TX>?[_ranks];
        for (int r = 0; r < _ranks; r++) _splits[r] = Splits(p, _bound[r], prefilter: !freeFactors);
        if (freeFactors)
        {
            _tVar = new IntTerm<TX>[_n, _ranks];
            _sxVar = new IntTerm<TX>[_n, _ranks];
            _syVar = new IntTerm<TX>[_n, _ranks];
            for (int r = 0; r < _ranks; r++)
            {
                var divisors = Divisors(_bound[r]);
                IntTerm<TX> Var(string name, bool exists) => exists && _bound[r] > 1 ? _a.Factor(name, divisors) : _a.Const(1);
                for (int l = 0; l < _n; l++)
                {
                    _tVar[l, r] = Var($"T_{_levels[l].Name}_{_rankIds[r]}", true);
                    _sxVar[l, r] = Var($"SX_{_levels[l].Name}_{_rankIds[r]}", _levels[l].Fanout.X > 1);
                    _syVar[l, r] = Var($"SY_{_levels[l].Name}_{_rankIds[r]}", _levels[l].Fanout.Y > 1);
                }
                if (_bound[r] > 1)
                {
                    int rr = r;
                    var options = _splits[r].Select(s => _a.All(Enumerable.Range(0, _n).SelectMany(l => new[]
                    {
                        _a.Eq(_tVar[l, rr], s.T[l]), _a.Eq(_sxVar[l, rr], s.SX[l]), _a.Eq(_syVar[l, rr], s.SY[l]),
                    })));
                    _a.Require(new Tag($"complete_{_rankIds[r]}", $"the factors of {_rankIds[r]} multiply to its bound {_bound[r]}"), [_a.Any(options)]);
                }
            }
        }
        else
        {
            for (int r = 0; r < _ranks; r++)
                if (_splits[r].Count > 1) _choice[r] = _a.Choice($"split_{_rankIds[r]}", _splits[r].Count);
                else if (_splits[r].Count == 0) _a.Require(null, [_a.False]);  // no split fits: nothing is valid
        }

        _before = new BoolTerm<TL>?[_n, _ranks, _ranks];
        if (!freeFactors) BuildOrder();
        AddValidity();
        AddUserConstraints(solver);
    }

    // ---- the mapspace -------------------------------------------------------------------------

    /// <summary>An integer term from the rank's split table: a constant when every split agrees, else a lookup over the split choice.</summary>
    private IntTerm<TX> Table(int r, string key, Func<Split, long> value)
    {
        if (_free) throw new InvalidOperationException("The split tables are not stated when the factors are free variables.");
        string k = $"{key}#{r}";
        if (_cache.TryGetValue(k, out var hit)) return hit;
        var splits = _splits[r];
        IntTerm<TX> result;
        if (splits.Count == 0) result = _a.Const(1);
        else
        {
            var values = splits.Select(value).ToArray();
            var distinct = values.Distinct().Order().ToArray();
            result = distinct.Length == 1 ? _a.Const(distinct[0]) : _a.Element(_choice[r]!, values, distinct, $"{key}_{_rankIds[r]}");
        }
        _cache[k] = result;
        return result;
    }

    private IntTerm<TX> T(int l, int r) => _free ? _tVar![l, r] : Table(r, $"T{l}", s => s.T[l]);
    private IntTerm<TX> SX(int l, int r) => _free ? _sxVar![l, r] : Table(r, $"SX{l}", s => s.SX[l]);
    private IntTerm<TX> SY(int l, int r) => _free ? _syVar![l, r] : Table(r, $"SY{l}", s => s.SY[l]);

    /// <summary>Extent of rank r in the tile of level l: the product of its factors at l and below.</summary>
    private IntTerm<TX> E(int l, int r) => _free
        ? _a.Product(Enumerable.Range(l, _n - l).Select(d => _a.Mul(T(d, r), _a.Mul(SX(d, r), SY(d, r)))))
        : Table(r, $"E{l}", s => Ext(s, l));

    private long Ext(Split s, int l)
    {
        long x = 1;
        for (int d = l; d < _n; d++) x *= s.T[d] * s.SX[d] * s.SY[d];
        return x;
    }

    /// <summary>The stride of the temporal loop of rank r at level d: the product of its factors in every loop inside it.</summary>
    private IntTerm<TX> Inner(int d, int r) => Table(r, $"I{d}", s => Ext(s, d) / s.T[d]);

    /// <summary>How far the temporal loop of rank r at level d moves its rank back when it restarts: (f - 1) x stride.</summary>
    private long Reset(Split s, int d) => (s.T[d] - 1) * (Ext(s, d) / s.T[d]);

    /// <summary>The product over every rank of one per-rank table (products over one rank's slots are folded into its table).</summary>
    private IntTerm<TX> AcrossRanks(string key, Func<Split, long> value, long? cap)
        => _a.Product(Enumerable.Range(0, _ranks).Select(r => Table(r, key, value)), cap);

    /// <summary>Loop order: before[d, a, b] says rank a's temporal loop is outside rank b's at level d. Factor-1 loops go innermost in rank order; the innermost level's order changes no count and is fixed.</summary>
    private void BuildOrder()
    {
        for (int d = 0; d < _n; d++)
            for (int a = 0; a < _ranks; a++)
                for (int b = a + 1; b < _ranks; b++)
                {
                    BoolTerm<TL> v;
                    var ta = T(d, a);
                    var tb = T(d, b);
                    if (d == _n - 1 || (ta.C == 1 && tb.C == 1)) v = _a.True;
                    else if (ta.C == 1) v = _a.False;
                    else if (tb.C == 1) v = _a.True;
                    else
                    {
                        v = _a.NewBool($"before_{_levels[d].Name}_{_rankIds[a]}_{_rankIds[b]}");
                        var (a1, aMore) = _a.Unit(ta);
                        var (b1, bMore) = _a.Unit(tb);
                        _a.Require(null,
                            [aMore, bMore, v],            // both factor 1: rank order
                            [aMore, b1, _a.Not(v)],       // a = 1, b > 1: b is outside
                            [a1, bMore, v]);              // a > 1, b = 1: a is outside
                    }
                    _before[d, a, b] = v;
                    _before[d, b, a] = _a.Not(v);
                }
        for (int d = 0; d < _n - 1; d++)
            for (int a = 0; a < _ranks; a++)
                for (int b = 0; b < _ranks; b++)
                    for (int c = 0; c < _ranks; c++)
                    {
                        if (a == b || b == c || a == c) continue;
                        _a.Require(null, [_a.Not(Before(d, a, b)), _a.Not(Before(d, b, c)), Before(d, a, c)]);
                    }
    }

    private BoolTerm<TL> Before(int d, int a, int b) => _before[d, a, b]!;

    // ---- validity -----------------------------------------------------------------------------

    /// <summary>The symbolic form of the kernel's <see cref="TensorIndex.Words"/>: the product of the dimension extents.</summary>
    private IntTerm<TX> Tile(TensorSpec t, Func<int, IntTerm<TX>> extent)
    {
        // A tile (or partition) is a box of the tensor: at most its words.
        long words = _p.Layer.TensorWords(t);
        var z = _a.Const(1);
        foreach (var dim in t.Dims) z = _a.Mul(z, DimExtent(dim, extent), words);
        return z;
    }

    /// <summary>The symbolic form of the kernel's <see cref="TensorIndex.DimExtent"/>: <c>1 + sum |c| x (e - 1)</c>.</summary>
    private IntTerm<TX> DimExtent(AffineExpr dim, Func<int, IntTerm<TX>> extent)
    {
        var z = _a.Const(1);
        foreach (var term in dim.Terms)
            z = _a.Add(z, _a.Scaled(_a.Sub(extent(RankIndex(term.Rank)), _a.Const(1)), Math.Abs((long)term.Coefficient)));
        return z;
    }

    private int RankIndex(RankId r) => Array.IndexOf(_rankIds, r);

    /// <summary>The words of tensor ti's tile at level l (<see cref="Tile"/> over the extents <c>E(l, r)</c>), built once.</summary>
    private IntTerm<TX> LevelTile(int ti, int l)
    {
        string key = $"tile{ti}_{l}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        return _cache[key] = Tile(_tensors[ti], r => E(l, r));
    }

    private IntTerm<TX> Spatial(int l, int r, Axis axis) => axis == Axis.X ? SX(l, r) : SY(l, r);

    /// <summary>The product of every rank's spatial factor along one axis of level l (at most <paramref name="cap"/>).</summary>
    private IntTerm<TX> AxisUsed(int l, Axis axis, long cap) => _a.Product(Enumerable.Range(0, _ranks).Select(r => Spatial(l, r, axis)), cap);

    private void AddValidity()
    {
        for (int l = 0; l < _n; l++)
        {
            var level = _levels[l];
            var fan = level.Fanout;
            int li = l;
            if (level.Capacity is { } cap)
            {
                var need = _a.Sum(Enumerable.Range(0, _tensors.Length).Select(t => _a.Gate(_keep[li, t], LevelTile(t, li))));
                _a.RequireAtMost(new Tag($"cap_{level.Name}", $"capacity of {level.Name} ({cap} words)"), need, cap);
            }
            if (fan.X > 1) _a.RequireAtMost(new Tag($"fanX_{level.Name}", $"fanout of {level.Name} along X ({fan.X})"), AxisUsed(l, Axis.X, fan.X), fan.X);
            if (fan.Y > 1) _a.RequireAtMost(new Tag($"fanY_{level.Name}", $"fanout of {level.Name} along Y ({fan.Y})"), AxisUsed(l, Axis.Y, fan.Y), fan.Y);
        }
    }

    private void AddUserConstraints(string solver)
    {
        var cons = _p.Constraints ?? MappingConstraints.None;
        cons.RefuseOuterPrefix(solver);
        foreach (var (l, c) in cons.Levels.OrderBy(kv => kv.Key))
        {
            string level = _levels[l].Name;
            foreach (var (rank, f) in c.Temporal.OrderBy(kv => kv.Key.Name, StringComparer.Ordinal))
                _a.Require(new Tag($"pinT_{level}_{rank}", $"{rank} pinned to {f} at {level}"), [_a.Eq(T(l, RankIndex(rank)), f)]);
            foreach (var ((rank, axis), f) in c.Spatial.OrderBy(kv => kv.Key.Rank.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Axis))
                _a.Require(new Tag($"pinS_{level}_{rank}_{axis}", $"{rank} pinned to {f} along {axis} at {level}"), [_a.Eq(Spatial(l, RankIndex(rank), axis), f)]);
            foreach (var (allowed, axis) in new[] { (c.SpatialX, Axis.X), (c.SpatialY, Axis.Y) })
            {
                if (allowed is null) continue;
                var others = Enumerable.Range(0, _ranks).Where(r => !allowed.Contains(_rankIds[r]));
                _a.Require(new Tag($"allow{axis}_{level}", $"only {(allowed.Count == 0 ? "no rank" : string.Join(", ", allowed.Select(x => x.Name).Order(StringComparer.Ordinal)))} may be split along {axis} at {level}"),
                    others.Select(r => new[] { _a.Eq(Spatial(l, r, axis), 1) }).ToArray());
            }
            if (c.Order is { } order)
            {
                var ids = order.ToList();
                var clauses = Enumerable.Range(0, _ranks).Where(r => !ids.Contains(_rankIds[r])).Select(r => new[] { _a.Eq(T(l, r), 1) }).ToList();
                // The innermost level's order changes no count; there the decoder writes the pinned order.
                if (!_free && l < _n - 1)
                    for (int i = 0; i < ids.Count; i++)
                        for (int j = i + 1; j < ids.Count; j++)
                        {
                            int a = RankIndex(ids[i]), b = RankIndex(ids[j]);
                            if (a == b) continue;
                            clauses.Add([_a.Not(_a.Gt1(T(l, a))), _a.Not(_a.Gt1(T(l, b))), Before(l, a, b)]);
                        }
                _a.Require(new Tag($"order_{level}", $"the loop order at {level} is {string.Join(" ", ids)} (other ranks have factor 1 there)"), clauses.ToArray());
            }
            foreach (var t in c.Keep.OrderBy(x => x.Name, StringComparer.Ordinal))
                _a.Require(new Tag($"keep_pin_{level}_{t}", $"{level} must keep {t}"), [_keep[l, TensorPosition(t)]]);
            foreach (var t in c.Bypass.OrderBy(x => x.Name, StringComparer.Ordinal))
                _a.Require(new Tag($"bypass_pin_{level}_{t}", $"{level} must let {t} pass"), [_a.Not(_keep[l, TensorPosition(t)])]);
        }
    }

    private int TensorPosition(TensorId id) => Array.FindIndex(_tensors, t => t.Id == id);

    // ---- the cost model (docs/cost-model.md) --------------------------------------------------

    /// <summary>Instances used of level l (l = n: compute units): the product of the spatial factors above it.</summary>
    private IntTerm<TX> Used(int l)
    {
        string key = $"used{l}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        long most = l == _n ? _p.Arch.ComputeInstances : _p.Arch.InstancesOf(l);
        return _cache[key] = AcrossRanks($"U{l}", s => Enumerable.Range(0, l).Aggregate(1L, (a, d) => a * s.SX[d] * s.SY[d]), most);
    }

    /// <summary>The kernel's <see cref="Counts.Transitions"/> of the loop of rank r at level d: (f - 1) x the product of the factors of the temporal loops outside it.</summary>
    private IntTerm<TX> Steps(int d, int r)
    {
        string key = $"steps{d}_{r}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        // Every partial product is at most the product of all temporal factors, itself at most the MACs.
        long macs = _p.Layer.Macs;
        var z = _a.Sub(T(d, r), _a.Const(1));
        if (d > 0) z = _a.Mul(z, AcrossRanks($"A{d}", s => Enumerable.Range(0, d).Aggregate(1L, (a, x) => a * s.T[x]), macs), macs);
        for (int rr = 0; rr < _ranks; rr++)
            if (rr != r) z = _a.Mul(z, _a.Ite(Before(d, rr, r), T(d, rr), _a.Const(1)), macs);
        return _cache[key] = z;
    }

    /// <summary>
    /// The symbolic form of the kernel's <see cref="Counts.Visits"/>: the tile, plus for every temporal loop above l its
    /// steps times the words of the tile less <see cref="TensorIndex.Overlap"/>, with the loop order as before(...) Booleans.
    /// </summary>
    private IntTerm<TX> Visits(int ti, int l)
    {
        string key = $"visits{ti}_{l}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        var t = _tensors[ti];
        var tile = LevelTile(ti, l);
        var (single, plain) = Moving(t);
        // Every loop at or outside the innermost loop over a single-term rank brings a whole tile (the telescoped sum).
        var total = _a.Mul(tile, Outer(ti, l, single));
        if (!plain)
        {
            // The loops inside it (never over a single-term rank) bring what the window leaves new: the per-loop form.
            var extents = t.Dims.Select(dim => DimExtent(dim, r => E(l, r))).ToArray();
            for (int d = 0; d < l; d++)
                for (int r = 0; r < _ranks; r++)
                {
                    if (T(d, r).C == 1 || single[r]) continue;
                    var inside = _a.Not(Outside(ti, d, l, r, single));
                    var steps = Steps(d, r);
                    var overlap = _a.Const(1);
                    for (int k = 0; k < t.Dims.Count && overlap.C != 0; k++)
                    {
                        var shift = _a.Const(0);
                        foreach (var term in t.Dims[k].Terms)
                        {
                            int rr = RankIndex(term.Rank);
                            var delta = rr == r ? Inner(d, r) : _a.Const(0);
                            if (rr != r) delta = _a.Sub(delta, _a.Ite(Before(d, r, rr), Table(rr, $"Q{d}", s => Reset(s, d)), _a.Const(0)));
                            int dd = d, ll = l;
                            delta = _a.Sub(delta, Table(rr, $"D{d}_{l}", s => Enumerable.Range(dd + 1, Math.Max(0, ll - dd - 1)).Sum(x => Reset(s, x))));
                            shift = _a.Add(shift, _a.Scaled(delta, term.Coefficient));
                        }
                        overlap = _a.Mul(overlap, _a.Max0(_a.Sub(extents[k], _a.Abs(shift))));
                    }
                    // The kernel's Fresh: the tile less its overlap with the previous one (never negative: the overlap is inside the tile).
                    total = _a.Add(total, _a.Gate(inside, _a.Mul(steps, _a.NonNeg(_a.Sub(tile, overlap)))));
                }
        }
        return _cache[key] = total;
    }

    /// <summary>
    /// The ranks that move a tensor's tile alone in a dimension (<c>Single</c>: the one term with a bound above 1 there),
    /// and whether the tensor is plain (no dimension over two moving terms, a sliding window). A step that moves a
    /// single-term dimension moves it by at least its extent: a whole new tile.
    /// </summary>
    private (bool[] Single, bool Plain) Moving(TensorSpec t)
    {
        var single = new bool[_ranks];
        bool plain = true;
        foreach (var dim in t.Dims)
        {
            var moving = dim.Terms.Where(x => x.Coefficient != 0 && _bound[RankIndex(x.Rank)] > 1).Select(x => RankIndex(x.Rank)).ToList();
            if (moving.Count == 1) single[moving[0]] = true;
            plain &= moving.Count <= 1;
        }
        return (single, plain);
    }

    /// <summary>
    /// The product of the factors of every temporal loop above level l at or outside the innermost loop over a rank in
    /// <paramref name="single"/> (the ranks alone in a dimension of the tensor, <see cref="Moving"/>; docs/cpsat.md, "Loop
    /// orders"). A step of such a loop, or of any loop with one inside it, moves a single-term dimension by at least its
    /// extent: a whole new tile. These loops are an outer part of the nest, so their terms of the kernel's
    /// <see cref="Counts.Visits"/>, (f - 1) x (factors outside) x tile each, telescope to the tile times this product less
    /// the tile. Per rank: a single-term rank's every factor above l; another rank's factor at level d only when the loop
    /// is outside (<see cref="Outside"/>).
    /// </summary>
    private IntTerm<TX> Outer(int ti, int l, bool[] single)
    {
        long macs = _p.Layer.Macs;
        var z = new List<IntTerm<TX>>();
        for (int r = 0; r < _ranks; r++)
        {
            if (single[r]) { z.Add(Table(r, $"A{l}", s => Enumerable.Range(0, l).Aggregate(1L, (a, x) => a * s.T[x]))); continue; }
            for (int d = 0; d < l; d++)
                if (T(d, r).C != 1) z.Add(_a.Ite(Outside(ti, d, l, r, single), T(d, r), _a.Const(1)));
        }
        return _a.Product(z, macs);
    }

    /// <summary>
    /// For tensor ti kept at level l, whether the temporal loop of rank r (not in <paramref name="single"/>) at level d &lt; l
    /// is outside the innermost loop over a single-term rank above l: one has a factor above 1 at a level between d and l,
    /// or at d in a loop inside r's. The literal is the tensor's loop order as the counts see it.
    /// </summary>
    private BoolTerm<TL> Outside(int ti, int d, int l, int r, bool[] single)
    {
        string key = $"out{ti}_{d}_{l}_{r}";
        if (_literals.TryGetValue(key, out var hit)) return hit;
        var moves = new List<BoolTerm<TL>>();
        for (int x = 0; x < _ranks; x++)
        {
            if (!single[x]) continue;
            for (int e = d + 1; e < l; e++) moves.Add(Active(e, x));
            moves.Add(_a.And(Active(d, x), Before(d, r, x)));
        }
        return _literals[key] = _a.Any(moves);
    }

    /// <summary>The temporal loop of rank r at level d has a factor above 1 (one literal per loop).</summary>
    private BoolTerm<TL> Active(int d, int r)
    {
        string key = $"active{d}_{r}";
        if (_literals.TryGetValue(key, out var hit)) return hit;
        return _literals[key] = _a.Gt1(T(d, r));
    }

    /// <summary>Distinct output words one instance of level l ever holds: the tile grown by every temporal loop above l.</summary>
    private IntTerm<TX> Partition(TensorSpec t, int l)
        => Tile(t, r => Table(r, $"P{l}", s => Ext(s, l) * Enumerable.Range(0, l).Aggregate(1L, (a, d) => a * s.T[d])));

    /// <summary>The counts of one tensor at one level, per instance, when the level keeps it (the kernel's Fills, Served, OutputReads).</summary>
    /// <remarks><c>Children</c>: per level c below l that may be t's nearest keeper below l (c = n: the compute units), the
    /// condition that it is, and the words l serves each instance of c's parent fanout then (the kernel's Served before the sum).</remarks>
    private (IntTerm<TX> Fills, IntTerm<TX> Reads, IntTerm<TX> Updates, IntTerm<TX> Partition, List<(BoolTerm<TL> Cond, int Child, IntTerm<TX> Words)> Children)
        CountsOf(int ti, int l, IntTerm<TX> temporalProduct)
    {
        var t = _tensors[ti];
        var partition = t.IsOutput ? Partition(t, l) : _a.Const(0);
        var fills = l == 0 ? _a.Const(0) : t.IsOutput ? _a.NonNeg(_a.Sub(Visits(ti, l), partition)) : Visits(ti, l);
        var served = _a.Const(0);
        var keepers = new List<(BoolTerm<TL>, int, IntTerm<TX>)>();
        // The child keeper c: the next level below l that keeps t, or the compute units (c = n).
        for (int c = l + 1; c <= _n; c++)
        {
            var cond = c < _n ? _keep[c, ti] : _a.True;
            for (int m = l + 1; m < c; m++) cond = _a.And(cond, _a.Not(_keep[m, ti]));
            if (cond.C == false) continue;
            var childWords = c == _n ? temporalProduct : Visits(ti, c);
            // children / shared: the spatial factors between l and c that do not share t's accesses (Counts.Shares).
            var perChild = _a.Const(1);
            long children = _p.Arch.ComputeInstances;
            for (int m = l; m < c; m++)
            {
                bool shares = Counts.Shares(_levels[m].Fanout, t.IsOutput);
                int mm = m;
                perChild = _a.Mul(perChild, _a.Product(Enumerable.Range(0, _ranks)
                    .Where(r => !shares || t.IsIndexedBy(_rankIds[r]))
                    .Select(r => Table(r, $"S{mm}", s => s.SX[mm] * s.SY[mm])), children), children);
            }
            var words = _a.Mul(childWords, perChild);
            served = _a.Add(served, _a.Gate(cond, words));
            keepers.Add((cond, c, words));
        }
        var reads = t.IsOutput ? _a.NonNeg(_a.Sub(served, partition)) : served;
        var updates = t.IsOutput ? served : _a.Const(0);
        return (fills, reads, updates, partition, keepers);
    }

    /// <summary>The fanouts with hop energy between keeper l and its child keeper c, with the energy of one word's hop there (the kernel's Hops: a bus one hop; a mesh half a hop's energy per used unit along each axis).</summary>
    private List<(int Level, double Pj)> Hops(int l, int c)
        => Enumerable.Range(l, c - l).Where(m => _levels[m].Fanout.HopEnergy != 0)
            .Select(m => (m, _levels[m].Fanout.Topology == Topology.Bus ? _levels[m].Fanout.HopEnergy : _levels[m].Fanout.HopEnergy / 2))
            .Where(x => _a.Weighs(x.Item2)).ToList();

    /// <summary>The words one instance of a keeper moves over the network to its child keeper: the words served, and for an output also the partial sums read back (served less the partition).</summary>
    private IntTerm<TX> Moved(int ti, IntTerm<TX> words, IntTerm<TX> partition)
        => _tensors[ti].IsOutput ? _a.Add(_a.NonNeg(_a.Sub(words, partition)), words) : words;

    /// <summary>The word hops at fanout m of words moved by every used instance: on a bus the words, on a mesh the words times (ux + uy) (half a hop's energy each; <paramref name="times"/> multiplies).</summary>
    private IntTerm<TX> Crossed(int m, IntTerm<TX> movedAll, Func<(IntTerm<TX> Words, IntTerm<TX> Units), IntTerm<TX>> times)
    {
        var fan = _levels[m].Fanout;
        return fan.Topology == Topology.Bus ? movedAll : times((movedAll, _a.Add(AxisUsed(m, Axis.X, fan.X), AxisUsed(m, Axis.Y, fan.Y))));
    }

    /// <summary>
    /// A floor on the energy of the tensors' movements that holds for every keep choice (a redundant constraint, docs/cpsat.md,
    /// "Keeper paths"). A tensor's keepers form a path from level 0 to the compute units, and its energy (access and network,
    /// the MACs apart) is the sum over the path's hops l -> c of what l spends serving c (reads, updates and the network, the
    /// terms <see cref="CountsOf"/> gates) plus, per keeper c &gt; 0, its fills. The least path over every level that may
    /// keep the tensor (a shortest path: one minimum per level) is at most the energy of the path the keep literals choose,
    /// so the model's energy is at least the MACs' energy plus the sum of these minima. Each hop's counts are stated per rank
    /// (<see cref="SpreadWords"/>, <see cref="SpreadPartition"/>), lower bounds of the counts <see cref="CountsOf"/> makes;
    /// a path through a level whose tile overflows its capacity costs more than the cap. Every count is cut at its cap (a
    /// minimum, not a bound on a variable: larger values stay in the model); on the path taken each count's energy is part
    /// of the energy, at most the cap. Built only when the backend's energies are integer terms with a cap (CP-SAT with the
    /// descent's cap); null otherwise.
    /// </summary>
    private IntTerm<TX>? KeeperPathFloor(IReadOnlySet<(int Level, int Tensor)> kept)
    {
        double widest = _levels.Max(x => Math.Max(x.ReadEnergy, x.WriteEnergy));
        if (_a.EnergyUnits(widest) is not { } units || units == 0 || _a.CountCap(widest) is not { } cap) return null;
        if ((double)units * (cap + 1) * 8 * (_levels.Length + 2) * Math.Max(1, _tensors.Length) >= long.MaxValue / 4) return null;
        // Words are cut at the count cap of the cheapest access (each energy below cuts them again at its own): a cut at the
        // dearest access's cap would lose the words of the cheap levels, which on eyeriss are most of the energy.
        double cheapest = _levels.SelectMany(x => new[] { x.ReadEnergy, x.WriteEnergy }).Where(x => _a.EnergyUnits(x) > 0).DefaultIfEmpty(widest).Min();
        long words = Math.Max(cap, _a.CountCap(cheapest) ?? cap);
        bool capless = false;
        // A count of words times an energy per word, in model units, the count cut at its cap.
        IntTerm<TX> Joules(IntTerm<TX> count, double pj)
        {
            long u = _a.EnergyUnits(pj)!.Value;
            if (u == 0) return _a.Const(0);
            if (_a.CountCap(pj) is not { } k) { capless = true; return _a.Const(0); }
            return _a.Scaled(_a.AtMost(count, k), u);
        }
        var floor = _a.Const(0);
        for (int ti = 0; ti < _tensors.Length; ti++)
        {
            bool output = _tensors[ti].IsOutput;
            // least[l]: the least energy from keeper l down to the compute units (least[n] = 0).
            var least = new IntTerm<TX>?[_n + 1];
            least[_n] = _a.Const(0);
            for (int l = _n - 1; l >= 0; l--)
            {
                if (!kept.Contains((l, ti))) continue;
                var level = _levels[l];
                var paths = new List<IntTerm<TX>>();
                for (int c = l + 1; c <= _n; c++)
                {
                    if (least[c] is not { } below) continue;
                    // A level between them that keeps the tensor in every mapping (a pinned keep) is on every path taken.
                    if (Enumerable.Range(l + 1, c - l - 1).Any(m => _keep[m, ti].C == true)) continue;
                    // Every used instance of l serves c: the words (updates, for an output), and for an output the partial sums read back.
                    var served = SpreadWords(ti, c, l, words);
                    var readBack = output ? _a.Max0(_a.Sub(served, SpreadPartition(ti, l))) : _a.Const(0);
                    var hop = _a.Add(Joules(output ? readBack : served, level.ReadEnergy), output ? Joules(served, level.WriteEnergy) : _a.Const(0));
                    var hops = Hops(l, c);
                    if (hops.Count > 0)
                    {
                        if (_a.CountCap(hops.Max(x => x.Pj)) is not { } wordCap) return null;
                        var movedAll = _a.AtMost(_a.Add(served, readBack), wordCap);
                        foreach (var (m, pj) in hops) hop = _a.Add(hop, Joules(Crossed(m, movedAll, x => _a.Mul(x.Words, x.Units)), pj));
                    }
                    paths.Add(_a.Add(hop, below));
                }
                var fills = _a.Const(0);
                if (l > 0)
                {
                    var visits = SpreadWords(ti, l, l, words);
                    fills = Joules(output ? _a.Max0(_a.Sub(visits, SpreadPartition(ti, l))) : visits, level.WriteEnergy);
                }
                // A keeper's tile fits its capacity: a path through a level its tile overflows costs more than the cap.
                if (level.Capacity is { } room)
                    fills = _a.Add(fills, _a.Scaled(_a.AtMost(_a.Max0(_a.Sub(LevelTile(ti, l), _a.Const(room))), 1), units * (cap + 1)));
                least[l] = _a.Add(fills, _a.MinOf(paths, $"least_{level.Name}_{_tensors[ti].Id}"));
            }
            floor = _a.Add(floor, least[0]!);
        }
        return capless ? null : floor;
    }

    /// <summary>
    /// A lower bound, stated rank by rank, of the words every used instance of level l serves tensor ti's keeper c below it
    /// (c = n: the compute units; c = l: the keeper's own visits): <c>Used(l) x Visits(ti, c) x children(l, c)</c> of
    /// <see cref="CountsOf"/>. Per rank one table over its split: its share of the tile (a dimension of two moving terms
    /// counts its larger rank only, which keeps the product a lower bound of the kernel's <see cref="TensorIndex.DimExtent"/>),
    /// its factors above c when it is single-term (<see cref="Outer"/>), its spatial factors above l (<see cref="Used"/>)
    /// and between l and c unless the fanout shares t's accesses; times the loops of other ranks that are outside
    /// (<see cref="Outside"/>, as in <see cref="Outer"/>). The window terms (<see cref="Visits"/>) are left out (they add).
    /// Products of per-rank tables propagate where products across ranks of tile, visits and children do not: for a
    /// plain tensor served from level 0 the tables multiply to its words. Partial products are cut at <paramref name="cut"/>.
    /// </summary>
    private IntTerm<TX> SpreadWords(int ti, int c, int l, long cut)
    {
        string key = $"spread{ti}_{c}_{l}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        var t = _tensors[ti];
        var (single, _) = Moving(t);
        // Per dimension, the moving term whose rank bounds its extent from below (the rank with the larger bound).
        var owner = t.Dims.Select(dim => dim.Terms.Where(x => x.Coefficient != 0 && _bound[RankIndex(x.Rank)] > 1)
            .OrderByDescending(x => _bound[RankIndex(x.Rank)]).Select(x => (Rank: RankIndex(x.Rank), Coef: Math.Abs((long)x.Coefficient))).Take(1).ToList()).ToArray();
        var z = new List<IntTerm<TX>>();
        for (int r = 0; r < _ranks; r++)
        {
            int rr = r;
            var mine = owner.Where(o => o.Count == 1 && o[0].Rank == rr).Select(o => o[0].Coef).ToArray();
            bool shared(int m) => Counts.Shares(_levels[m].Fanout, t.IsOutput) && !t.IsIndexedBy(_rankIds[rr]);
            z.Add(Table(r, $"G{ti}_{c}_{l}", s =>
            {
                long x = 1;
                if (c == _n) for (int d = 0; d < _n; d++) x *= s.T[d];
                else
                {
                    foreach (long k in mine) x *= 1 + k * (Ext(s, c) - 1);
                    if (single[rr]) for (int d = 0; d < c; d++) x *= s.T[d];
                }
                for (int d = 0; d < l; d++) x *= s.SX[d] * s.SY[d];
                for (int m = l; m < c; m++) if (!shared(m)) x *= s.SX[m] * s.SY[m];
                return x;
            }));
            if (c < _n && !single[r])
                for (int d = 0; d < c; d++)
                    if (T(d, r).C != 1) z.Add(_a.Ite(Outside(ti, d, c, r, single), T(d, r), _a.Const(1)));
        }
        var product = _a.Const(1);
        foreach (var f in z) product = _a.AtMost(_a.Mul(product, f), cut);
        return _cache[key] = product;
    }

    /// <summary>The output words every used instance of level l ever holds, <c>Used(l) x Partition(t, l)</c>, rank by rank (each table exact).</summary>
    private IntTerm<TX> SpreadPartition(int ti, int l)
    {
        var t = _tensors[ti];
        return _a.Product(Enumerable.Range(0, _ranks).Select(r => Table(r, $"UP{ti}_{l}", s =>
        {
            long x = 1;
            if (t.IsIndexedBy(_rankIds[r])) { x = Ext(s, l); for (int d = 0; d < l; d++) x *= s.T[d]; }
            for (int d = 0; d < l; d++) x *= s.SX[d] * s.SY[d];
            return x;
        })));
    }

    /// <summary>The cost terms <see cref="BuildCosts"/> made: the energy (null when not asked for), the cycles (likewise) and one literal per global constraint.</summary>
    internal sealed record Costs(TE? Energy, IntTerm<TX>? Cycles, IReadOnlyList<BoolTerm<TL>> GlobalLiterals);

    /// <summary>
    /// Builds the energy, the cycles, or both, as the objective needs, and the global constraints
    /// (<see cref="MappingConstraints.Global"/>), each enforced by its literal.
    /// </summary>
    /// <param name="keeperFloor">States the redundant keeper-path floor (<see cref="KeeperPathFloor"/>) on the energy.</param>
    public Costs BuildCosts(bool energy, bool cycles, bool keeperFloor = false)
    {
        var temporalProduct = AcrossRanks("TP", s => s.T.Aggregate(1L, (a, x) => a * x), _p.Layer.Macs);
        var energyTotal = _a.Joules(_a.Const(_p.Layer.Macs), _p.Arch.Compute.MacEnergy);
        var bandwidth = new List<IntTerm<TX>>();
        var global = (_p.Constraints ?? MappingConstraints.None).Global;
        var lits = global.Select((g, i) => _a.NewBool($"global_{i}")).ToArray();
        var kept = new HashSet<(int Level, int Tensor)>();
        AddShapeConstraints(global, lits);
        // The kernel's ComputeCycles: ceil(MACs per unit / MACs per cycle); built once, for the cycles or a bandwidth constraint.
        IntTerm<TX>? computeCycles = cycles || global.Any(g => g is BandwidthWithinCompute) ? _a.Ceil(temporalProduct, _p.Arch.Compute.MacsPerCycle, "compute") : null;
        for (int l = 0; l < _n; l++)
        {
            var level = _levels[l];
            var readsAt = _a.Const(0);
            var writesAt = _a.Const(0);
            int li = l;
            var bounded = Enumerable.Range(0, global.Count).Where(i => global[i] is BandwidthWithinCompute b && b.Level == li).ToList();
            var counted = Enumerable.Range(0, global.Count).Where(i => global[i] is MaxCount c && c.Level == li).ToDictionary(i => i, _ => _a.Const(0));
            for (int ti = 0; ti < _tensors.Length; ti++)
            {
                var keep = _keep[l, ti];
                if (keep.C == false) continue;
                if (_floored[ti] is { } used)
                {
                    // Counted by its floor alone; its counts enter no global constraint (0 is below Timeloop's).
                    var least = TimeloopFloor(ti, l, used);
                    if (energy) energyTotal = _a.Plus(energyTotal, least.Energy);
                    if ((cycles || bounded.Count > 0) && _p.Arch.InstancesOf(l) == 1)
                    {
                        // One instance: the floor's words are that instance's, a floor of its bandwidth's words too.
                        readsAt = _a.Add(readsAt, least.Reads);
                        writesAt = _a.Add(writesAt, least.Fills);
                    }
                    continue;
                }
                var (fills, reads, updates, partition, children) = CountsOf(ti, l, temporalProduct);
                kept.Add((l, ti));
                foreach (var i in counted.Keys.ToList())
                {
                    var c = (MaxCount)global[i];
                    if (c.Tensor is { } only && only != _tensors[ti].Id) continue;
                    // The count per instance when l keeps t (0 otherwise), times the instances used for the total.
                    var count = _a.Gate(keep, c.Count switch { CountKind.Reads => reads, CountKind.Fills => fills, _ => updates });
                    counted[i] = _a.Add(counted[i], c.Total ? _a.Mul(Used(l), count) : count);
                }
                if (cycles || bounded.Count > 0)
                {
                    readsAt = _a.Add(readsAt, _a.Gate(keep, reads));
                    writesAt = _a.Add(writesAt, _a.Gate(keep, _a.Add(fills, updates)));
                }
                if (!energy) continue;
                // The kernel's AccessEnergy per instance, times the instances used; 0 when the level does not keep t.
                // Each count is capped before it is weighed: kept, its energy is at most the energy cap.
                var access = _a.Plus(_a.Joules(_a.Gate(keep, reads, _a.CountCap(level.ReadEnergy)), level.ReadEnergy),
                    _a.Joules(_a.Gate(keep, _a.Add(fills, updates), _a.CountCap(level.WriteEnergy)), level.WriteEnergy));
                var part = _a.Times(Used(l), access);
                // The network: (reads + updates) x used words cross every fanout with hop energy between l and the child keeper.
                foreach (var (cond, c, words) in children)
                {
                    var hops = Hops(l, c);
                    if (hops.Count == 0) continue;
                    long? wordCap = _a.CountCap(hops.Max(x => x.Pj));
                    var movedAll = _a.Mul(Used(l), _a.Gate(_a.And(keep, cond), Moved(ti, words, partition), wordCap), wordCap);
                    foreach (var (m, pj) in hops) part = _a.Plus(part, _a.Joules(Crossed(m, movedAll, x => _a.Mul(x.Words, x.Units, wordCap)), pj));
                }
                energyTotal = _a.Plus(energyTotal, part);
            }
            foreach (var (i, count) in counted) _a.EnforceAtMost(lits[i], count, _a.Const(((MaxCount)global[i]).Limit));
            if (cycles || bounded.Count > 0)
            {
                // The kernel's BandwidthCycles: ceil(reads / read bandwidth), ceil(writes / write bandwidth).
                var own = new List<IntTerm<TX>>();
                if (level.ReadBandwidth is { } rb) own.Add(_a.Ceil(readsAt, rb, level.Name));
                if (level.WriteBandwidth is { } wb) own.Add(_a.Ceil(writesAt, wb, level.Name));
                if (cycles) bandwidth.AddRange(own);
                foreach (var i in bounded) foreach (var b in own) _a.EnforceAtMost(lits[i], b, computeCycles!);
            }
        }
        // Redundant: the energy is at least the MACs' plus every tensor's least keeper path (valid for every keep choice).
        if (energy && keeperFloor && KeeperPathFloor(kept) is { } floor)
            _a.RequireEnergyAtLeast(energyTotal, _a.Add(floor, _a.Const(_a.EnergyUnits(_p.Arch.Compute.MacEnergy)!.Value * _p.Layer.Macs)));
        IntTerm<TX>? cycleTerm = null;
        if (cycles)
        {
            bandwidth.Add(computeCycles!);
            cycleTerm = _a.Max(bandwidth, "cycles");
        }
        return new Costs(energy ? energyTotal : default, cycleTerm, lits);
    }

    /// <summary>
    /// The floor of a window tensor's energy at level l under the Timeloop convention (docs/cpsat.md, "Under the Timeloop
    /// convention"), in all of l's instances together, when l keeps it: every word the MACs use is read from each keeper at
    /// least once (a word reaches a keeper's part of the tensor from its parent or from a neighbour, which took it in
    /// earlier), so <paramref name="used"/> reads; a keeper below a level with no fanout takes in its own deltas, at least
    /// as many fills (below a fanout Timeloop's fills are shares of the parent's grouped accesses, counted 0 here); and the
    /// innermost keeper is read at least MACs / <see cref="SharingGroup"/> times. An output window tensor counts nothing (its reads and fills
    /// can be elided; left at 0, which is below any count).
    /// </summary>
    private (TE Energy, IntTerm<TX> Reads, IntTerm<TX> Fills) TimeloopFloor(int ti, int l, long used)
    {
        var t = _tensors[ti];
        if (t.IsOutput) return (_a.NoEnergy, _a.Const(0), _a.Const(0));
        var level = _levels[l];
        var keep = _keep[l, ti];
        // Reads: at least the used words; the innermost keeper at least the MACs over the most children below it that can
        // share one access (G: the ranks that do not index the tensor share whole; two ranks of one window dimension at
        // most the smaller factor's worth of children on one diagonal; a rank alone in a dimension nothing): x with
        // x >= used when kept and x x G >= MACs when innermost, which the minimization takes at the larger.
        var reads = _a.Gate(keep, _a.Const(used));
        long macs = _p.Layer.Macs;
        if (macs > used && macs < int.MaxValue && keep.C != false)
        {
            var innermost = _a.All(Enumerable.Range(l + 1, _n - l - 1).Select(m => _a.Not(_keep[m, ti])).Prepend(keep));
            var x = _a.Choice($"tl_reads_{level.Name}_{t.Id}", (int)macs + 1);
            AtLeastWhen(keep, x, used);
            AtLeastWhen(innermost, _a.Mul(x, SharingGroup(t, l)), macs);
            reads = x;
        }
        // Fills only where the level above has no fanout: below one, Timeloop's fills are shares of the parent's grouped
        // accesses (measured: 6 fills for 8 used words on M3L2x4 x conv1d R3 P2 C2 K2, the global buffer bypassed).
        var fills = l > 0 && _levels[l - 1].Fanout.Size == 1 ? _a.Gate(keep, _a.Const(used)) : _a.Const(0);
        return (_a.Plus(_a.Joules(reads, level.ReadEnergy), _a.Joules(fills, level.WriteEnergy)), reads, fills);
    }

    /// <summary>v &gt;= k when the literal holds (a constant literal: always, or never).</summary>
    private void AtLeastWhen(BoolTerm<TL> lit, IntTerm<TX> v, long k)
    {
        if (lit.C == false) return;
        if (lit.C == true) _a.RequireAtMost(null, _a.Scaled(v, -1), -k);
        else _a.EnforceAtMost(lit, _a.Const(k), v);
    }

    /// <summary>
    /// At least the most compute units below one instance of level l that can need tensor t's identical words at one step
    /// (docs/mapspace.md, "Identical words under the Timeloop convention"), per fanout from l down: a rank that does not
    /// index t, its whole spatial factor; the two ranks of a window dimension, the smaller factor (more ranks: their product);
    /// a rank alone in a dimension, 1.
    /// </summary>
    private IntTerm<TX> SharingGroup(TensorSpec t, int l)
    {
        long most = Enumerable.Range(l, _n - l).Aggregate(1L, (a, m) => a * _levels[m].Fanout.Size);
        var group = _a.Const(1);
        for (int m = l; m < _n; m++)
        {
            if (_levels[m].Fanout.Size == 1) continue;
            int mm = m;
            IntTerm<TX> S(int r) => Table(r, $"S{mm}", s => s.SX[mm] * s.SY[mm]);
            for (int r = 0; r < _ranks; r++)
                if (!t.IsIndexedBy(_rankIds[r])) group = _a.Mul(group, S(r), most);
            foreach (var dim in t.Dims)
            {
                var moving = dim.Terms.Where(x => x.Coefficient != 0 && _bound[RankIndex(x.Rank)] > 1).Select(x => RankIndex(x.Rank)).Distinct().ToList();
                if (moving.Count == 2) group = _a.Mul(group, _a.MinOf([S(moving[0]), S(moving[1])], ""), most);
                else if (moving.Count > 2) foreach (int r in moving) group = _a.Mul(group, S(r), most);
            }
        }
        return group;
    }

    /// <summary>
    /// The distinct words of tensor t the layer's MACs use: per dimension the distinct values of its index expression over
    /// the ranks' bounds, multiplied over the dimensions when no rank indexes two of them (the used set is then their
    /// product); otherwise the most distinct values of one dimension.
    /// </summary>
    private long UsedWords(TensorSpec t)
    {
        var perDim = t.Dims.Select(dim =>
        {
            var terms = dim.Terms.Where(x => x.Coefficient != 0).Select(x => (Bound: _bound[RankIndex(x.Rank)], Coef: (long)x.Coefficient)).ToList();
            long points = terms.Aggregate(1L, (a, x) => a > 1 << 22 ? a : a * x.Bound);
            if (points > 1 << 22) return terms.Select(x => x.Bound).DefaultIfEmpty(1).Max();
            var values = new HashSet<long> { 0 };
            foreach (var (bound, coef) in terms)
                values = values.SelectMany(v => Enumerable.Range(0, (int)bound).Select(i => v + coef * i)).ToHashSet();
            return (long)values.Count;
        }).ToArray();
        var ranks = t.Dims.SelectMany(d => d.Terms.Where(x => x.Coefficient != 0).Select(x => x.Rank).Distinct()).ToList();
        bool independent = ranks.Count == ranks.Distinct().Count();
        return independent ? perDim.Aggregate(1L, (a, x) => checked(a * x)) : perDim.DefaultIfEmpty(1).Max();
    }

    /// <summary>The global kinds that need no cost term (tile multiples, utilization, fanout use), each enforced by its literal.</summary>
    private void AddShapeConstraints(IReadOnlyList<GlobalConstraint> global, BoolTerm<TL>[] lits)
    {
        for (int i = 0; i < global.Count; i++)
        {
            switch (global[i])
            {
                case TileMultiple t:
                    long n = t.Multiple;
                    int ti = t.Level;
                    _a.Require(null, [_a.Not(lits[i]), _a.Eq(Table(RankIndex(t.Rank), $"M{ti}_{n}", s => Ext(s, ti) % n == 0 ? 1 : 0), 1)]);
                    break;
                case MinUtilization u:
                    _a.EnforceAtMost(lits[i], _a.Const(GlobalConstraint.AtLeast(u.Fraction, _p.Arch.ComputeInstances)), Used(_n));
                    break;
                case MinFanoutUsed f:
                    int fl = f.Level;
                    var fan = _levels[fl].Fanout;
                    var used = f.Part switch
                    {
                        FanoutPart.X => AxisUsed(fl, Axis.X, fan.X),
                        FanoutPart.Y => AxisUsed(fl, Axis.Y, fan.Y),
                        _ => AcrossRanks($"S{fl}", s => s.SX[fl] * s.SY[fl], fan.Size),
                    };
                    _a.EnforceAtMost(lits[i], _a.Const(GlobalConstraint.AtLeast(f.Fraction, f.Children(_p.Arch))), used);
                    break;
            }
        }
    }

    /// <summary>A lower bound on the compute cycles of any mapping: the MACs over every compute unit.</summary>
    public long ComputeCyclesFloor()
        => Math.Max(1, _p.Layer.Macs / Math.Max(1, _p.Arch.ComputeInstances * (long)_p.Arch.Compute.MacsPerCycle));

    // ---- hints and decoding -------------------------------------------------------------------

    /// <summary>A mapping of the mapspace as values of the model's variables (its splits, keep sets and orders); null when it is not in the split tables.</summary>
    public (List<(IntTerm<TX> Var, long Value)> Ints, List<(BoolTerm<TL> Var, bool Value)> Bools)? Assignment(Mapping m)
    {
        var idx = new int[_ranks];
        for (int r = 0; r < _ranks; r++)
        {
            var rank = _rankIds[r];
            idx[r] = _splits[r].FindIndex(s => Enumerable.Range(0, _n).All(l =>
                s.T[l] == m.Levels[l].TemporalFactor(rank)
                && s.SX[l] == SpatialFactor(m.Levels[l], rank, Axis.X)
                && s.SY[l] == SpatialFactor(m.Levels[l], rank, Axis.Y)));
            if (idx[r] < 0) return null;
        }
        var ints = new List<(IntTerm<TX>, long)>();
        var bools = new List<(BoolTerm<TL>, bool)>();
        for (int r = 0; r < _ranks; r++) if (_choice[r] is { } ch) ints.Add((ch, idx[r]));
        for (int l = 0; l < _n; l++)
            for (int t = 0; t < _tensors.Length; t++)
                if (_keep[l, t].C is null) bools.Add((_keep[l, t], m.Levels[l].Keep.Contains(_tensors[t].Id)));
        for (int d = 0; d < _n; d++)
        {
            // Position in the order: the mapping's loops of factor > 1 outermost first, then factor-1 ranks in rank order.
            var active = m.Levels[d].Temporal.Where(x => x.Factor > 1).Select(x => RankIndex(x.Rank)).ToList();
            var pos = new int[_ranks];
            for (int r = 0; r < _ranks; r++) pos[r] = active.Contains(r) ? active.IndexOf(r) : _ranks + r;
            for (int a = 0; a < _ranks; a++)
                for (int b = a + 1; b < _ranks; b++)
                    if (_before[d, a, b] is { C: null } x) bools.Add((x, pos[a] < pos[b]));
        }
        return (ints, bools);
    }

    /// <summary>The mapping of a solution, as the one <see cref="Mapping"/> type, from the values of the model's variables.</summary>
    public Mapping Decode(Func<IntTerm<TX>, long> value, Func<BoolTerm<TL>, bool> truth)
    {
        var split = new Split[_ranks];
        for (int r = 0; r < _ranks; r++) split[r] = _splits[r][_choice[r] is { } ch ? (int)value(ch) : 0];
        bool Val(BoolTerm<TL> b) => b.C ?? truth(b);
        return ToMapping(_p, split, _rankIds, _tensors, (l, a, b) => Val(Before(l, a, b)), (l, t) => Val(_keep[l, t]));
    }
}
