using Google.OrTools.Sat;
using Google.OrTools.Util;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers.CpSat;

/// <summary>
/// One layer's mapspace (docs/mapspace.md), its validity rules and its exact cost (docs/cost-model.md) as a
/// CP-SAT model (docs/cpsat.md). Each rank picks one split of its bound over every slot (an element
/// constraint over the split table); keep/bypass are Booleans; loop orders are <c>before</c> Booleans.
/// Every count of the kernel (<see cref="Counts"/>, <see cref="TensorIndex"/>) is restated symbolically under
/// the kernel's names, as <see cref="Z3Mapper"/> does; energies enter scaled to integers by <see cref="Scale"/>.
/// </summary>
internal sealed class CpSatEncoding
{
    /// <summary>
    /// An integer term: a constant, or a linear expression over model variables with bounds that contain
    /// every value it takes.
    /// </summary>
    internal sealed class Z
    {
        public readonly long? C;
        public readonly LinearExpr? E;
        public readonly long Lo, Hi;
        public Z(long c) { C = c; Lo = c; Hi = c; }
        public Z(LinearExpr e, long lo, long hi) { E = e; Lo = lo; Hi = hi; }
        public LinearExpr X => E ?? LinearExpr.Constant(C!.Value);
    }

    /// <summary>A Boolean term: a constant or a literal.</summary>
    internal sealed class B
    {
        public readonly bool? C;
        public readonly ILiteral? L;
        public B(bool c) { C = c; }
        public B(ILiteral l) { L = l; }
    }

    /// <summary>Largest magnitude any term may reach; a product that could exceed it is refused (CP-SAT's arithmetic is 64-bit).</summary>
    internal const long Limit = 1L << 61;

    private readonly MapProblem _p;
    private readonly int _n, _ranks;
    private readonly StorageLevel[] _levels;
    private readonly TensorSpec[] _tensors;
    private readonly RankId[] _rankIds;
    private readonly long[] _bound;
    private readonly List<Z3MapEncoding.Split>[] _splits;
    private readonly IntVar?[] _choice;
    private readonly B[,] _keep;
    private readonly B?[,,] _before;
    private readonly Dictionary<string, Z> _cache = new();
    private readonly long? _energyCap, _cycleCap, _edpCap;
    private Z? _energy, _cycles, _edp;

    /// <summary>The model.</summary>
    public CpModel Model { get; } = new();

    /// <summary>Energies are multiplied by this integer (a power of ten) in the model.</summary>
    public long Scale { get; }

    /// <summary>True when every energy coefficient times <see cref="Scale"/> is an integer, so the scaled energy is exact; otherwise each is rounded down and the model's energy is a lower bound of the reference's.</summary>
    public bool ExactScale { get; }

    /// <summary>The smallest non-zero energy a counted word adds (pJ), for the rounding bound when the scale is not exact.</summary>
    public double SmallestCoefficient { get; }

    /// <summary>
    /// Builds the model. The caps (in model units: scaled pJ, cycles, scaled pJ x cycles) bound every cost term,
    /// which keeps CP-SAT's 64-bit arithmetic safe; a mapping above a cap is not in the model.
    /// </summary>
    public CpSatEncoding(MapProblem p, long scale, bool exactScale, double? energyCapPj, double? cycleCap, double? edpCap)
    {
        _p = p;
        Scale = scale;
        ExactScale = exactScale;
        _levels = p.Arch.Levels.ToArray();
        _n = _levels.Length;
        _tensors = p.Layer.Tensors.ToArray();
        _rankIds = p.Layer.Ranks.Select(r => r.Id).ToArray();
        _bound = p.Layer.Ranks.Select(r => (long)r.Bound).ToArray();
        _ranks = _rankIds.Length;
        SmallestCoefficient = Coefficients(p.Arch).Where(x => x > 0).DefaultIfEmpty(1).Min();
        _energyCap = energyCapPj is { } e ? Sat(Math.Floor(e * scale * (1 + 1e-9)) + 1) : null;
        _cycleCap = cycleCap is { } c ? Sat(Math.Floor(c)) : null;
        _edpCap = edpCap is { } d ? Sat(Math.Floor(d * scale * (1 + 1e-9)) + 1) : null;
        if (_edpCap is { } ec)
        {
            // EDP <= cap with cycles >= the compute floor and energy >= the MACs' energy bounds each factor.
            long macs = Math.Max(1, Coef(p.Arch.Compute.MacEnergy) * p.Layer.Macs);
            _cycleCap = Math.Min(_cycleCap ?? Limit, ec / macs + 1);
            _energyCap = Math.Min(_energyCap ?? Limit, ec / ComputeCyclesFloor() + 1);
        }

        _keep = new B[_n, _tensors.Length];
        for (int l = 0; l < _n; l++)
            for (int t = 0; t < _tensors.Length; t++)
                _keep[l, t] = l == 0 ? new B(true)
                    : !_levels[l].MayKeep(_tensors[t].Role) ? new B(false)
                    : new B(Model.NewBoolVar($"keep_{_levels[l].Name}_{_tensors[t].Id}"));

        _splits = new List<Z3MapEncoding.Split>[_ranks];
        _choice = new IntVar?[_ranks];
        for (int r = 0; r < _ranks; r++)
        {
            _splits[r] = Z3MapEncoding.Splits(p, _bound[r], prefilter: true);
            if (_splits[r].Count > 1) _choice[r] = Model.NewIntVar(0, _splits[r].Count - 1, $"split_{_rankIds[r]}");
            else if (_splits[r].Count == 0) Model.Add(LinearExpr.Constant(0) == 1);
        }
        _before = new B?[_n, _ranks, _ranks];
        BuildOrder();
        AddValidity();
        AddUserConstraints();
    }

    private static long Sat(double x) => x >= Limit ? Limit : (long)x;

    /// <summary>Every per-word energy of the architecture (reads, writes, hops, the MAC), in pJ.</summary>
    internal static IEnumerable<double> Coefficients(Architecture a)
    {
        foreach (var l in a.Levels)
        {
            yield return l.ReadEnergy;
            yield return l.WriteEnergy;
            if (l.Fanout.HopEnergy != 0) yield return l.Fanout.Topology == Topology.Bus ? l.Fanout.HopEnergy : l.Fanout.HopEnergy / 2;
        }
        yield return a.Compute.MacEnergy;
    }

    /// <summary>
    /// The scale for energies: the smallest power of ten (up to 10^9) that makes every coefficient an integer
    /// (within 1e-12 relative), exact; otherwise the largest power of ten that keeps <paramref name="maxPj"/> x scale
    /// within 64 bits, with coefficients rounded down (not exact).
    /// </summary>
    internal static (long Scale, bool Exact) ChooseScale(Architecture a, double maxPj)
    {
        var coefs = Coefficients(a).Where(x => x != 0).ToArray();
        long room = maxPj > 0 ? (long)Math.Min(1e15, Limit / 4 / Math.Max(1, maxPj)) : (long)1e9;
        long best = 1;
        for (long s = 1; s <= 1_000_000_000 && s <= room; s *= 10)
        {
            best = s;
            if (coefs.All(x => Math.Abs(x * s - Math.Round(x * s)) <= 1e-12 * Math.Max(1, x * s))) return (s, true);
        }
        return (best, false);
    }

    /// <summary>A coefficient in model units: the energy times the scale, rounded to the integer when exact, down otherwise.</summary>
    private long Coef(double pj) => ExactScale ? (long)Math.Round(pj * Scale) : (long)Math.Floor(pj * Scale);

    // ---- the mapspace -------------------------------------------------------------------------

    /// <summary>An integer term from the rank's split table: a constant when every split agrees, else an element constraint over the split choice.</summary>
    private Z Table(int r, string key, Func<Z3MapEncoding.Split, long> value)
    {
        string k = $"{key}#{r}";
        if (_cache.TryGetValue(k, out var hit)) return hit;
        var splits = _splits[r];
        Z result;
        if (splits.Count == 0) result = new Z(1);
        else
        {
            var values = splits.Select(value).ToArray();
            var distinct = values.Distinct().Order().ToArray();
            if (distinct.Length == 1) result = new Z(distinct[0]);
            else
            {
                var v = Model.NewIntVarFromDomain(Domain.FromValues(distinct), $"{key}_{_rankIds[r]}");
                Model.AddElement(_choice[r]!, values, v);
                result = new Z(v, distinct[0], distinct[^1]);
            }
        }
        _cache[k] = result;
        return result;
    }

    private Z T(int l, int r) => Table(r, $"T{l}", s => s.T[l]);
    private Z SX(int l, int r) => Table(r, $"SX{l}", s => s.SX[l]);
    private Z SY(int l, int r) => Table(r, $"SY{l}", s => s.SY[l]);

    /// <summary>Extent of rank r in the tile of level l: the product of its factors at l and below.</summary>
    private Z E(int l, int r) => Table(r, $"E{l}", s => Ext(s, l));

    private long Ext(Z3MapEncoding.Split s, int l)
    {
        long x = 1;
        for (int d = l; d < _n; d++) x *= s.T[d] * s.SX[d] * s.SY[d];
        return x;
    }

    /// <summary>The stride of the temporal loop of rank r at level d: the product of its factors in every loop inside it.</summary>
    private Z Inner(int d, int r) => Table(r, $"I{d}", s => Ext(s, d) / s.T[d]);

    /// <summary>How far the temporal loop of rank r at level d moves its rank back when it restarts: (f - 1) x stride.</summary>
    private long Reset(Z3MapEncoding.Split s, int d) => (s.T[d] - 1) * (Ext(s, d) / s.T[d]);

    /// <summary>Loop order: before[d, a, b] says rank a's temporal loop is outside rank b's at level d. Factor-1 loops go innermost in rank order; the innermost level's order changes no count and is fixed.</summary>
    private void BuildOrder()
    {
        for (int d = 0; d < _n; d++)
            for (int a = 0; a < _ranks; a++)
                for (int b = a + 1; b < _ranks; b++)
                {
                    B v;
                    var ta = T(d, a);
                    var tb = T(d, b);
                    if (d == _n - 1 || (ta.C == 1 && tb.C == 1)) v = new B(true);
                    else if (ta.C == 1) v = new B(false);
                    else if (tb.C == 1) v = new B(true);
                    else
                    {
                        var x = Model.NewBoolVar($"before_{_levels[d].Name}_{_rankIds[a]}_{_rankIds[b]}");
                        v = new B(x);
                        var a1 = Eq(ta, 1);
                        var b1 = Eq(tb, 1);
                        AddClause(Not(a1), Not(b1), v);  // both factor 1: rank order
                        AddClause(Not(a1), b1, Not(v));  // a = 1, b > 1: b is outside
                        AddClause(a1, Not(b1), v);       // a > 1, b = 1: a is outside
                    }
                    _before[d, a, b] = v;
                    _before[d, b, a] = Not(v);
                }
        for (int d = 0; d < _n - 1; d++)
            for (int a = 0; a < _ranks; a++)
                for (int b = 0; b < _ranks; b++)
                    for (int c = 0; c < _ranks; c++)
                    {
                        if (a == b || b == c || a == c) continue;
                        AddClause(Not(Before(d, a, b)), Not(Before(d, b, c)), Before(d, a, c));
                    }
    }

    private B Before(int d, int a, int b) => _before[d, a, b]!;

    // ---- validity -----------------------------------------------------------------------------

    /// <summary>The symbolic form of the kernel's <see cref="TensorIndex.Words"/>: the product of the dimension extents.</summary>
    private Z Tile(TensorSpec t, Func<int, Z> extent)
    {
        // A tile (or partition) is a box of the tensor: at most its words.
        long words = _p.Layer.TensorWords(t);
        var z = new Z(1);
        foreach (var dim in t.Dims) z = Mul(z, DimExtent(dim, extent), words);
        return z;
    }

    /// <summary>The symbolic form of the kernel's <see cref="TensorIndex.DimExtent"/>: <c>1 + sum |c| x (e - 1)</c>.</summary>
    private Z DimExtent(AffineExpr dim, Func<int, Z> extent)
    {
        var z = new Z(1);
        foreach (var term in dim.Terms)
            z = Add(z, Scaled(Sub(extent(RankIndex(term.Rank)), new Z(1)), Math.Abs((long)term.Coefficient)));
        return z;
    }

    private int RankIndex(RankId r) => Array.IndexOf(_rankIds, r);

    private void AddValidity()
    {
        for (int l = 0; l < _n; l++)
        {
            var level = _levels[l];
            var fan = level.Fanout;
            int li = l;
            if (level.Capacity is { } cap)
            {
                var need = new Z(0);
                for (int t = 0; t < _tensors.Length; t++)
                    need = Add(need, Gate(_keep[l, t], Tile(_tensors[t], r => E(li, r))));
                if (need.E is not null) Model.Add(need.E <= cap);
                else if (need.C > cap) Model.Add(LinearExpr.Constant(0) == 1);
            }
            if (fan.X > 1) Le(Product(Enumerable.Range(0, _ranks).Select(r => SX(li, r)), fan.X), fan.X);
            if (fan.Y > 1) Le(Product(Enumerable.Range(0, _ranks).Select(r => SY(li, r)), fan.Y), fan.Y);
        }
    }

    private void Le(Z a, long v)
    {
        if (a.E is not null) Model.Add(a.E <= v);
        else if (a.C > v) Model.Add(LinearExpr.Constant(0) == 1);
    }

    private void AddUserConstraints()
    {
        var cons = _p.Constraints ?? MappingConstraints.None;
        cons.RefuseOuterPrefix("CP-SAT");
        foreach (var (l, c) in cons.Levels.OrderBy(kv => kv.Key))
        {
            foreach (var (rank, f) in c.Temporal) Require(Eq(T(l, RankIndex(rank)), f));
            foreach (var ((rank, axis), f) in c.Spatial) Require(Eq(axis == Axis.X ? SX(l, RankIndex(rank)) : SY(l, RankIndex(rank)), f));
            foreach (var (allowed, axis) in new[] { (c.SpatialX, Axis.X), (c.SpatialY, Axis.Y) })
            {
                if (allowed is null) continue;
                for (int r = 0; r < _ranks; r++)
                    if (!allowed.Contains(_rankIds[r])) Require(Eq(axis == Axis.X ? SX(l, r) : SY(l, r), 1));
            }
            if (c.Order is { } order)
            {
                var ids = order.ToList();
                for (int r = 0; r < _ranks; r++) if (!ids.Contains(_rankIds[r])) Require(Eq(T(l, r), 1));
                // The innermost level's order changes no count; there the decoder writes the pinned order.
                if (l < _n - 1)
                    for (int i = 0; i < ids.Count; i++)
                        for (int j = i + 1; j < ids.Count; j++)
                        {
                            int a = RankIndex(ids[i]), b = RankIndex(ids[j]);
                            if (a == b) continue;
                            AddClause(Not(Gt1(T(l, a))), Not(Gt1(T(l, b))), Before(l, a, b));
                        }
            }
            foreach (var t in c.Keep) Require(_keep[l, TensorPosition(t)]);
            foreach (var t in c.Bypass) Require(Not(_keep[l, TensorPosition(t)]));
        }
    }

    private int TensorPosition(TensorId id) => Array.FindIndex(_tensors, t => t.Id == id);

    // ---- the cost model (docs/cost-model.md) --------------------------------------------------

    /// <summary>Instances used of level l (l = n: compute units): the product of the spatial factors above it.</summary>
    private Z Used(int l)
    {
        string key = $"used{l}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        long most = l == _n ? _p.Arch.ComputeInstances : _p.Arch.InstancesOf(l);
        return _cache[key] = Product(Enumerable.Range(0, _ranks).Select(r => Table(r, $"U{l}", s => Enumerable.Range(0, l).Aggregate(1L, (a, d) => a * s.SX[d] * s.SY[d]))), most);
    }

    /// <summary>The kernel's <see cref="Counts.Transitions"/> of the loop of rank r at level d: (f - 1) x the product of the factors of the temporal loops outside it.</summary>
    private Z Steps(int d, int r)
    {
        string key = $"steps{d}_{r}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        // Every partial product is at most the product of all temporal factors, itself at most the MACs.
        long macs = _p.Layer.Macs;
        var z = Sub(T(d, r), new Z(1));
        if (d > 0) z = Mul(z, Product(Enumerable.Range(0, _ranks).Select(rr => Table(rr, $"A{d}", s => Enumerable.Range(0, d).Aggregate(1L, (a, x) => a * s.T[x]))), macs), macs);
        for (int rr = 0; rr < _ranks; rr++)
            if (rr != r) z = Mul(z, Ite(Before(d, rr, r), T(d, rr), new Z(1)), macs);
        return _cache[key] = z;
    }

    /// <summary>
    /// The symbolic form of the kernel's <see cref="Counts.Visits"/>: the tile, plus for every temporal loop above l its
    /// steps times the words of the tile less <see cref="TensorIndex.Overlap"/>, with the loop order as before(...) Booleans.
    /// </summary>
    private Z Visits(int ti, int l)
    {
        string key = $"visits{ti}_{l}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        var t = _tensors[ti];
        var tile = Tile(t, r => E(l, r));
        var total = tile;
        if (l > 0)
        {
            var extents = t.Dims.Select(dim => DimExtent(dim, r => E(l, r))).ToArray();
            for (int d = 0; d < l; d++)
                for (int r = 0; r < _ranks; r++)
                {
                    if (T(d, r).C == 1) continue;
                    var steps = Steps(d, r);
                    var overlap = new Z(1);
                    for (int k = 0; k < t.Dims.Count && overlap.C != 0; k++)
                    {
                        var shift = new Z(0);
                        foreach (var term in t.Dims[k].Terms)
                        {
                            int rr = RankIndex(term.Rank);
                            var delta = rr == r ? Inner(d, r) : new Z(0);
                            if (rr != r) delta = Sub(delta, Ite(Before(d, r, rr), Table(rr, $"Q{d}", s => Reset(s, d)), new Z(0)));
                            int dd = d, ll = l;
                            delta = Sub(delta, Table(rr, $"D{d}_{l}", s => Enumerable.Range(dd + 1, Math.Max(0, ll - dd - 1)).Sum(x => Reset(s, x))));
                            shift = Add(shift, Scaled(delta, term.Coefficient));
                        }
                        overlap = Mul(overlap, Max0(Sub(extents[k], Abs(shift))));
                    }
                    // The kernel's Fresh: the tile less its overlap with the previous one (never negative: the overlap is inside the tile).
                    total = Add(total, Mul(steps, NonNeg(Sub(tile, overlap))));
                }
        }
        return _cache[key] = total;
    }

    /// <summary>Distinct output words one instance of level l ever holds: the tile grown by every temporal loop above l.</summary>
    private Z Partition(TensorSpec t, int l)
        => Tile(t, r => Table(r, $"P{l}", s => Ext(s, l) * Enumerable.Range(0, l).Aggregate(1L, (a, d) => a * s.T[d])));

    /// <summary>The counts of one tensor at one level, per instance, when the level keeps it (the kernel's Fills, Served, OutputReads).</summary>
    private (Z Fills, Z Reads, Z Updates, Z Partition, List<(B Cond, int Child, Z Words)> Net) CountsOf(int ti, int l, Z temporalProduct)
    {
        var t = _tensors[ti];
        var partition = t.IsOutput ? Partition(t, l) : new Z(0);
        var fills = l == 0 ? new Z(0) : t.IsOutput ? NonNeg(Sub(Visits(ti, l), partition)) : Visits(ti, l);
        var served = new Z(0);
        var net = new List<(B, int, Z)>();
        for (int c = l + 1; c <= _n; c++)
        {
            var cond = c < _n ? _keep[c, ti] : new B(true);
            for (int m = l + 1; m < c; m++) cond = And(cond, Not(_keep[m, ti]));
            if (cond.C == false) continue;
            var childWords = c == _n ? temporalProduct : Visits(ti, c);
            // children / shared: the spatial factors between l and c that do not share t's accesses (Counts.Shares).
            var perChild = new Z(1);
            for (int m = l; m < c; m++)
            {
                bool shares = Counts.Shares(_levels[m].Fanout, t.IsOutput);
                int mm = m;
                long children = _p.Arch.ComputeInstances;
                perChild = Mul(perChild, Product(Enumerable.Range(0, _ranks)
                    .Where(r => !shares || t.IsIndexedBy(_rankIds[r]))
                    .Select(r => Table(r, $"S{mm}", s => s.SX[mm] * s.SY[mm])), children), children);
            }
            var words = Mul(childWords, perChild);
            served = Add(served, Gate(cond, words));
            if (Enumerable.Range(l, c - l).Any(m => _levels[m].Fanout.HopEnergy != 0)) net.Add((cond, c, words));
        }
        var reads = t.IsOutput ? NonNeg(Sub(served, partition)) : served;
        var updates = t.IsOutput ? served : new Z(0);
        return (fills, reads, updates, partition, net);
    }

    /// <summary>
    /// Builds the energy (scaled pJ), the cycles, or both, as the objective needs, and the global constraints
    /// (<see cref="MappingConstraints.Global"/>), each enforced by its literal in <see cref="GlobalLiterals"/>.
    /// </summary>
    public void BuildCosts(bool energy, bool cycles)
    {
        var temporalProduct = Product(Enumerable.Range(0, _ranks).Select(r => Table(r, "TP", s => s.T.Aggregate(1L, (a, x) => a * x))), _p.Layer.Macs);
        long? termCap = _energyCap;
        var energyParts = new List<Z> { new Z(Coef(_p.Arch.Compute.MacEnergy) * _p.Layer.Macs) };
        var bandwidth = new List<Z>();
        var global = (_p.Constraints ?? MappingConstraints.None).Global;
        var lits = global.Select((g, i) => Model.NewBoolVar($"global_{i}")).ToArray();
        _globalLiterals = lits;
        AddShapeConstraints(global, lits);
        // The kernel's ComputeCycles: ceil(MACs per unit / MACs per cycle); built once, for the cycles or a bandwidth constraint.
        Z? computeCycles = cycles || global.Any(g => g is BandwidthWithinCompute) ? Ceil(temporalProduct, _p.Arch.Compute.MacsPerCycle, "compute") : null;
        for (int l = 0; l < _n; l++)
        {
            var level = _levels[l];
            var readsAt = new Z(0);
            var writesAt = new Z(0);
            int li = l;
            var bounded = Enumerable.Range(0, global.Count).Where(i => global[i] is BandwidthWithinCompute b && b.Level == li).ToList();
            var counted = Enumerable.Range(0, global.Count).Where(i => global[i] is MaxCount c && c.Level == li).ToDictionary(i => i, _ => new Z(0));
            for (int ti = 0; ti < _tensors.Length; ti++)
            {
                var keep = _keep[l, ti];
                if (keep.C == false) continue;
                var (fills, reads, updates, partition, net) = CountsOf(ti, l, temporalProduct);
                foreach (var i in counted.Keys.ToList())
                {
                    var c = (MaxCount)global[i];
                    if (c.Tensor is { } only && only != _tensors[ti].Id) continue;
                    // The count per instance when l keeps t (0 otherwise), times the instances used for the total.
                    var count = Gate(keep, c.Count switch { CountKind.Reads => reads, CountKind.Fills => fills, _ => updates });
                    counted[i] = Add(counted[i], c.Total ? Mul(Used(l), count) : count);
                }
                if (cycles || bounded.Count > 0)
                {
                    readsAt = Add(readsAt, Gate(keep, reads));
                    writesAt = Add(writesAt, Gate(keep, Add(fills, updates)));
                }
                if (!energy) continue;
                // The kernel's AccessEnergy per instance, times the instances used; 0 when the level does not keep t.
                // Each count is capped before it is scaled: kept, its energy is at most the energy cap.
                long cr = Coef(level.ReadEnergy), cw = Coef(level.WriteEnergy);
                var access = Add(Scaled(Gate(keep, reads, cr > 0 ? termCap / cr : null), cr), Scaled(Gate(keep, Add(fills, updates), cw > 0 ? termCap / cw : null), cw));
                var part = Mul(Used(l), access, termCap);
                // The network: (reads + updates) x used words cross every fanout with hop energy between l and the child keeper.
                foreach (var (cond, c, words) in net)
                {
                    var moved = _tensors[ti].IsOutput ? Add(NonNeg(Sub(words, partition)), words) : words;
                    var hops = Enumerable.Range(l, c - l).Where(m => _levels[m].Fanout.HopEnergy != 0)
                        .Select(m => (m, k: Coef(_levels[m].Fanout.Topology == Topology.Bus ? _levels[m].Fanout.HopEnergy : _levels[m].Fanout.HopEnergy / 2)))
                        .Where(x => x.k > 0).ToList();
                    if (hops.Count == 0) continue;
                    long? wordCap = termCap / hops.Max(x => x.k);
                    var movedAll = Mul(Used(l), Gate(And(keep, cond), moved, wordCap), wordCap);
                    foreach (var (m, k) in hops)
                    {
                        if (_levels[m].Fanout.Topology == Topology.Bus) part = Add(part, Scaled(movedAll, k));
                        else
                        {
                            // The kernel's Hops on a mesh: 1 + (ux - 1)/2 + (uy - 1)/2 = (ux + uy)/2.
                            var ux = Product(Enumerable.Range(0, _ranks).Select(r => SX(m, r)), _levels[m].Fanout.X);
                            var uy = Product(Enumerable.Range(0, _ranks).Select(r => SY(m, r)), _levels[m].Fanout.Y);
                            part = Add(part, Scaled(Mul(movedAll, Add(ux, uy), wordCap), k));
                        }
                    }
                }
                energyParts.Add(part);
            }
            foreach (var (i, count) in counted) EnforceAtMost(lits[i], count, new Z(((MaxCount)global[i]).Limit));
            if (cycles || bounded.Count > 0)
            {
                // The kernel's BandwidthCycles: ceil(reads / read bandwidth), ceil(writes / write bandwidth).
                var own = new List<Z>();
                if (level.ReadBandwidth is { } rb) own.Add(Ceil(readsAt, rb, level.Name));
                if (level.WriteBandwidth is { } wb) own.Add(Ceil(writesAt, wb, level.Name));
                if (cycles) bandwidth.AddRange(own);
                foreach (var i in bounded) foreach (var b in own) EnforceAtMost(lits[i], b, computeCycles!);
            }
        }
        if (energy)
        {
            _energy = Sum(energyParts);
            if (_energyCap is { } cap && _energy.E is not null)
            {
                Model.Add(_energy.E <= cap);
                _energy = new Z(_energy.E, _energy.Lo, Math.Min(_energy.Hi, cap));
            }
        }
        if (cycles)
        {
            bandwidth.Add(computeCycles!);
            long lo = bandwidth.Max(b => b.Lo), hi = bandwidth.Max(b => b.Hi);
            if (_cycleCap is { } cc) hi = Math.Min(hi, cc);
            if (bandwidth.All(b => b.C is not null)) _cycles = new Z(bandwidth.Max(b => b.C!.Value));
            else
            {
                var v = Model.NewIntVar(lo, Math.Max(lo, hi), "cycles");
                Model.AddMaxEquality(v, bandwidth.Select(b => b.X));
                _cycles = new Z(v, lo, Math.Max(lo, hi));
            }
        }
        if (energy && cycles)
        {
            _edp = Mul(_energy!, _cycles!, _edpCap);
            if (_edpCap is { } cap && _edp.E is not null) Model.Add(_edp.E <= cap);
        }
    }

    private BoolVar[] _globalLiterals = [];

    /// <summary>Per global constraint (in <see cref="MappingConstraints.Global"/>'s order), the literal that enforces it (built by <see cref="BuildCosts"/>).</summary>
    public IReadOnlyList<BoolVar> GlobalLiterals => _globalLiterals;

    /// <summary>The global kinds that need no cost term (tile multiples, utilization, fanout use), each enforced by its literal.</summary>
    private void AddShapeConstraints(IReadOnlyList<GlobalConstraint> global, BoolVar[] lits)
    {
        for (int i = 0; i < global.Count; i++)
        {
            switch (global[i])
            {
                case TileMultiple t:
                    long n = t.Multiple;
                    int ti = t.Level;
                    EnforceTrue(lits[i], Eq(Table(RankIndex(t.Rank), $"M{ti}_{n}", s => Ext(s, ti) % n == 0 ? 1 : 0), 1));
                    break;
                case MinUtilization u:
                    EnforceAtMost(lits[i], new Z(GlobalConstraint.AtLeast(u.Fraction, _p.Arch.ComputeInstances)), Used(_n));
                    break;
                case MinFanoutUsed f:
                    int fl = f.Level;
                    var fan = _levels[fl].Fanout;
                    var used = f.Part switch
                    {
                        FanoutPart.X => Product(Enumerable.Range(0, _ranks).Select(r => SX(fl, r)), fan.X),
                        FanoutPart.Y => Product(Enumerable.Range(0, _ranks).Select(r => SY(fl, r)), fan.Y),
                        _ => Product(Enumerable.Range(0, _ranks).Select(r => Table(r, $"S{fl}", s => s.SX[fl] * s.SY[fl])), fan.Size),
                    };
                    EnforceAtMost(lits[i], new Z(GlobalConstraint.AtLeast(f.Fraction, f.Children(_p.Arch))), used);
                    break;
            }
        }
    }

    /// <summary><paramref name="a"/> &lt;= <paramref name="b"/> when the literal holds (a constant comparison that fails forbids the literal).</summary>
    private void EnforceAtMost(BoolVar lit, Z a, Z b)
    {
        if (a.C is { } x && b.C is { } y)
        {
            if (x > y) Model.AddBoolOr([lit.Not()]);
            return;
        }
        Model.Add(a.X <= b.X).OnlyEnforceIf(lit);
    }

    /// <summary>The Boolean holds when the literal does.</summary>
    private void EnforceTrue(BoolVar lit, B b)
    {
        if (b.C == true) return;
        if (b.C == false) Model.AddBoolOr([lit.Not()]);
        else Model.AddImplication(lit, b.L!);
    }

    /// <summary>A lower bound on the compute cycles of any mapping: the MACs over every compute unit.</summary>
    private long ComputeCyclesFloor()
        => Math.Max(1, _p.Layer.Macs / Math.Max(1, _p.Arch.ComputeInstances * (long)_p.Arch.Compute.MacsPerCycle));

    /// <summary>The objective in model units (scaled pJ, cycles, scaled pJ x cycles).</summary>
    public Z Objective(Objective o) => o switch
    {
        Formulation.Objective.Energy => _energy ?? throw new InvalidOperationException("The energy was not built."),
        Formulation.Objective.Latency => _cycles ?? throw new InvalidOperationException("The cycles were not built."),
        _ => _edp ?? throw new InvalidOperationException("The energy-delay product was not built."),
    };

    /// <summary>ceil(a / rate) for a rate that is an integer after scaling by a power of ten up to 10^6.</summary>
    private Z Ceil(Z a, double rate, string what)
    {
        long q = 1;
        while (q <= 1_000_000 && Math.Abs(rate * q - Math.Round(rate * q)) > 1e-9 * rate * q) q *= 10;
        if (q > 1_000_000) throw new ArgumentException($"The CP-SAT model needs bandwidths with at most 6 decimals; {what} has {rate}.");
        long rq = (long)Math.Round(rate * q);
        if (a.C is { } c) return new Z((c * q + rq - 1) / rq);
        long hi = Math.Max(0, (Mul(a, new Z(q)).Hi + rq - 1) / rq);
        long lo = Math.Max(0, a.Lo) * q / rq;
        if (_cycleCap is { } cc) hi = Math.Min(hi, cc);
        var v = Model.NewIntVar(lo, Math.Max(lo, hi), $"ceil_{what}");
        // rq x v >= q x a and rq x (v - 1) < q x a: v is the least integer at or above a / rate.
        Model.Add(LinearExpr.Term(v, rq) >= LinearExpr.Term(a.X, q));
        Model.Add(LinearExpr.Term(v, rq) - rq < LinearExpr.Term(a.X, q));
        return new Z(v, lo, Math.Max(lo, hi));
    }

    // ---- hints and decoding -------------------------------------------------------------------

    /// <summary>Hints the solver with a mapping of the mapspace (its splits, keep sets and orders); false when it is not in the model's tables.</summary>
    public bool Hint(Mapping m)
    {
        var idx = new int[_ranks];
        for (int r = 0; r < _ranks; r++)
        {
            var rank = _rankIds[r];
            idx[r] = _splits[r].FindIndex(s => Enumerable.Range(0, _n).All(l =>
                s.T[l] == m.Levels[l].TemporalFactor(rank)
                && s.SX[l] == m.Levels[l].Spatial.Where(x => x.Rank == rank && x.Axis == Axis.X).Aggregate(1L, (a, x) => a * x.Factor)
                && s.SY[l] == m.Levels[l].Spatial.Where(x => x.Rank == rank && x.Axis == Axis.Y).Aggregate(1L, (a, x) => a * x.Factor)));
            if (idx[r] < 0) return false;
        }
        Model.ClearHints();
        for (int r = 0; r < _ranks; r++) if (_choice[r] is { } ch) Model.AddHint(ch, idx[r]);
        for (int l = 0; l < _n; l++)
            for (int t = 0; t < _tensors.Length; t++)
                if (_keep[l, t].L is BoolVar bv) Model.AddHint(bv, m.Levels[l].Keep.Contains(_tensors[t].Id));
        for (int d = 0; d < _n; d++)
        {
            // Position in the order: the mapping's loops of factor > 1 outermost first, then factor-1 ranks in rank order.
            var active = m.Levels[d].Temporal.Where(x => x.Factor > 1).Select(x => RankIndex(x.Rank)).ToList();
            var pos = new int[_ranks];
            for (int r = 0; r < _ranks; r++) pos[r] = active.Contains(r) ? active.IndexOf(r) : _ranks + r;
            for (int a = 0; a < _ranks; a++)
                for (int b = a + 1; b < _ranks; b++)
                    if (_before[d, a, b]?.L is BoolVar x) Model.AddHint(x, pos[a] < pos[b]);
        }
        return true;
    }

    /// <summary>The mapping of a solution, as the one <see cref="Mapping"/> type.</summary>
    public Mapping Decode(Func<IntVar, long> intValue, Func<ILiteral, bool> boolValue)
    {
        var split = new Z3MapEncoding.Split[_ranks];
        for (int r = 0; r < _ranks; r++) split[r] = _splits[r][_choice[r] is { } ch ? (int)intValue(ch) : 0];
        bool Val(B b) => b.C ?? boolValue(b.L!);
        return Z3MapEncoding.ToMapping(_p, split, _rankIds, _tensors, (l, a, b) => Val(Before(l, a, b)), (l, t) => Val(_keep[l, t]));
    }

    // ---- term helpers -------------------------------------------------------------------------

    private static long SatMul(long a, long b)
    {
        double x = (double)a * b;
        if (x >= Limit) return Limit;
        if (x <= -Limit) return -Limit;
        return a * b;
    }

    private static long SatAdd(long a, long b) => Math.Clamp(a + (double)b, -Limit, Limit) is var x && Math.Abs(x) >= Limit ? (long)x : a + b;

    /// <summary>The product of two terms: a new variable with a multiplication constraint, its bounds the interval product (clipped to <paramref name="cap"/>, a cap that holds for every solution the model keeps).</summary>
    private Z Mul(Z a, Z b, long? cap = null)
    {
        if (a.C == 0 || b.C == 0) return new Z(0);
        if (a.C == 1) return Cap(b, cap);
        if (b.C == 1) return Cap(a, cap);
        if (a.C is { } x && b.C is { } y) return new Z(checked(x * y));
        if (a.C is { } ca) return Cap(Scaled(b, ca), cap);
        if (b.C is { } cb) return Cap(Scaled(a, cb), cap);
        var c = new[] { SatMul(a.Lo, b.Lo), SatMul(a.Lo, b.Hi), SatMul(a.Hi, b.Lo), SatMul(a.Hi, b.Hi) };
        long lo = c.Min(), hi = c.Max();
        if (cap is { } k && hi > k) hi = Math.Max(lo, k);
        if (Math.Abs((double)Math.Max(Math.Abs(a.Lo), Math.Abs(a.Hi)) * Math.Max(Math.Abs(b.Lo), Math.Abs(b.Hi))) >= (double)long.MaxValue / 2)
            throw new ArgumentException($"The CP-SAT model of layer {_p.Layer.Name} on {_p.Arch.Name} has a product of terms up to {Math.Max(Math.Abs(a.Lo), a.Hi)} and {Math.Max(Math.Abs(b.Lo), b.Hi)}, beyond CP-SAT's 64-bit arithmetic.");
        var v = Model.NewIntVar(lo, hi, "");
        Model.AddMultiplicationEquality(v, a.X, b.X);
        return new Z(v, lo, hi);
    }

    /// <summary>A product of terms; <paramref name="cap"/> bounds every partial product (a bound that holds for every mapping, e.g. the MACs for temporal factors).</summary>
    private Z Product(IEnumerable<Z> terms, long? cap = null) => terms.Aggregate(new Z(1), (acc, z) => Mul(acc, z, cap));

    private static Z Scaled(Z a, long k)
    {
        if (k == 0 || a.C == 0) return new Z(0);
        if (a.C is { } c) return new Z(checked(c * k));
        if (k == 1) return a;
        long x = SatMul(a.Lo, k), y = SatMul(a.Hi, k);
        return new Z(LinearExpr.Term(a.E!, k), Math.Min(x, y), Math.Max(x, y));
    }

    private static Z Add(Z a, Z b)
    {
        if (a.C == 0) return b;
        if (b.C == 0) return a;
        if (a.C is { } x && b.C is { } y) return new Z(checked(x + y));
        return new Z(a.X + b.X, SatAdd(a.Lo, b.Lo), SatAdd(a.Hi, b.Hi));
    }

    private static Z Sum(IEnumerable<Z> terms) => terms.Aggregate(new Z(0), Add);

    private static Z Sub(Z a, Z b)
    {
        if (b.C == 0) return a;
        if (a.C is { } x && b.C is { } y) return new Z(checked(x - y));
        return new Z(a.X - b.X, SatAdd(a.Lo, -b.Hi), SatAdd(a.Hi, -b.Lo));
    }

    /// <summary>A count that the cost model proves non-negative (it throws otherwise): its lower bound is raised to 0.</summary>
    private Z NonNeg(Z a)
    {
        if (a.C is not null || a.Lo >= 0) return a;
        var v = Model.NewIntVar(0, Math.Max(0, a.Hi), "");
        Model.Add(v == a.X);
        return new Z(v, 0, Math.Max(0, a.Hi));
    }

    private Z Ite(B c, Z a, Z b)
    {
        if (c.C is { } v) return v ? a : b;
        if (a.C is { } x && b.C is { } y && x == y) return a;
        long lo = Math.Min(a.Lo, b.Lo), hi = Math.Max(a.Hi, b.Hi);
        var r = Model.NewIntVar(lo, hi, "");
        Model.Add(r == a.X).OnlyEnforceIf(c.L!);
        Model.Add(r == b.X).OnlyEnforceIf(c.L!.Not());
        return new Z(r, lo, hi);
    }

    /// <summary>The term when the condition holds, else 0.</summary>
    /// <summary>The term with its upper bound lowered to a cap that holds for every solution the model keeps (a new variable when the bound is above it).</summary>
    private Z Cap(Z a, long? cap)
    {
        if (cap is not { } k || a.C is not null || a.Hi <= k) return a;
        long lo = Math.Min(a.Lo, k);
        var v = Model.NewIntVar(lo, k, "");
        Model.Add(v == a.X);
        return new Z(v, lo, k);
    }

    private Z Gate(B c, Z a, long? cap = null)
    {
        if (c.C is { } v) return v ? Cap(a, cap) : new Z(0);
        if (a.C == 0) return a;
        long lo = Math.Min(a.Lo, 0), hi = Math.Max(a.Hi, 0);
        if (cap is { } k && hi > k) hi = Math.Max(lo, k);
        var r = Model.NewIntVar(lo, hi, "");
        Model.Add(r == a.X).OnlyEnforceIf(c.L!);
        Model.Add(r == 0).OnlyEnforceIf(c.L!.Not());
        return new Z(r, lo, hi);
    }

    private Z Max0(Z a)
    {
        if (a.C is { } x) return new Z(Math.Max(0, x));
        if (a.Lo >= 0) return a;
        if (a.Hi <= 0) return new Z(0);
        var v = Model.NewIntVar(0, a.Hi, "");
        Model.AddMaxEquality(v, [a.X, LinearExpr.Constant(0)]);
        return new Z(v, 0, a.Hi);
    }

    private Z Abs(Z a)
    {
        if (a.C is { } x) return new Z(Math.Abs(x));
        if (a.Lo >= 0) return a;
        long hi = Math.Max(Math.Abs(a.Lo), Math.Abs(a.Hi));
        if (a.Hi <= 0) return new Z(-a.X, -a.Hi, -a.Lo);
        var v = Model.NewIntVar(0, hi, "");
        Model.AddAbsEquality(v, a.X);
        return new Z(v, 0, hi);
    }

    private B Eq(Z a, long v)
    {
        if (a.C is { } x) return new B(x == v);
        if (v < a.Lo || v > a.Hi) return new B(false);
        var b = Model.NewBoolVar("");
        Model.Add(a.X == v).OnlyEnforceIf(b);
        Model.Add(a.X != v).OnlyEnforceIf(b.Not());
        return new B(b);
    }

    private B Gt1(Z a) => Not(Eq(a, 1)); // factors are at least 1

    private void Require(B b)
    {
        if (b.C == true) return;
        if (b.C == false) { Model.Add(LinearExpr.Constant(0) == 1); return; }
        Model.AddBoolOr([b.L!]);
    }

    private void AddClause(params B[] parts)
    {
        if (parts.Any(p => p.C == true)) return;
        var lits = parts.Where(p => p.C is null).Select(p => p.L!).ToList();
        if (lits.Count == 0) Model.Add(LinearExpr.Constant(0) == 1);
        else Model.AddBoolOr(lits);
    }

    private static ILiteral L(B b) => b.L ?? throw new InvalidOperationException("A constant where a literal was expected.");

    private static B Not(B a) => a.C is { } x ? new B(!x) : new B(a.L!.Not());

    private B And(B a, B b)
    {
        if (a.C == false || b.C == false) return new B(false);
        if (a.C == true) return b;
        if (b.C == true) return a;
        var x = Model.NewBoolVar("");
        Model.AddBoolAnd([a.L!, b.L!]).OnlyEnforceIf(x);
        Model.AddBoolOr([a.L!.Not(), b.L!.Not()]).OnlyEnforceIf(x.Not());
        return new B(x);
    }
}
