using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// One layer's mapspace, its validity rules and its exact energy (docs/cost-model.md) as a Z3 model
/// (docs/z3-encoding.md): minimum-energy mapping by iterative tightening, exportable certificates,
/// and unsat cores that explain infeasibility.
/// </summary>
public static class Z3Mapper
{
    /// <summary>Relative margin of "cheaper": a mapping counts as cheaper than C when its energy is below C x (1 - 1e-9).</summary>
    public const double Tolerance = 1e-9;

    /// <summary>Most ranks with a bound above 1 that the encoding accepts.</summary>
    public const int MaxRanks = 5;
    /// <summary>Most storage levels the encoding accepts.</summary>
    public const int MaxLevels = 4;
    /// <summary>Largest rank bound the encoding accepts.</summary>
    public const int MaxBound = 64;
    /// <summary>Most ways one rank's bound can be split over its slots (the size of its choice table).</summary>
    public const int MaxSplitsPerRank = 4000;

    /// <summary>Finds the minimum-energy mapping (<c>--solver z3</c>): find a mapping, demand a cheaper one, repeat until Z3 proves none exists.</summary>
    public static SolveResult Solve(MapProblem p, SearchLimits limits)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(limits);
        CheckScope(p);
        var sw = Stopwatch.StartNew();
        double macEnergy = p.Layer.Macs * p.Arch.Compute.MacEnergy;
        using var enc = new Z3MapEncoding(p, diagnose: false);
        using var solver = new Z3Solver(enc.Context);
        enc.AddTo(solver);
        using var registration = limits.Cancel.Register(enc.Context.Cancel);
        Mapping? best = null;
        CostReport? report = null;
        long found = 0;
        bool proven = false;
        while (true)
        {
            TimeSpan? left = limits.TimeLimit is { } t ? t - sw.Elapsed : null;
            if (left is { } l && l <= TimeSpan.Zero) break;
            if (limits.Cancel.IsCancellationRequested) break;
            var status = solver.Check(left);
            if (status == Z3Status.Unsat) { proven = true; break; }
            if (status == Z3Status.Unknown) break;
            var mapping = enc.Decode(solver);
            double z3Energy = solver.Value(enc.Energy);
            report = Recheck(p, mapping, z3Energy);
            best = mapping;
            found++;
            solver.Add(enc.Energy < report.Energy * (1 - Tolerance));
        }
        var elapsed = sw.Elapsed;
        if (best is null)
        {
            if (proven)
                return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, elapsed, found, "z3", Explain(p, null));
            return new SolveResult(SolveStatus.Unknown, null, null, null, macEnergy, elapsed, found, "z3",
                $"Z3 stopped ({solver.ReasonUnknown ?? "time limit"}) before it found a valid mapping.");
        }
        double value = report!.Energy;
        return proven
            ? new SolveResult(SolveStatus.Optimal, best, report, value, value, elapsed, found, "z3")
            : new SolveResult(SolveStatus.Feasible, best, report, value, Math.Min(macEnergy, value), elapsed, found, "z3",
                $"Z3 stopped ({solver.ReasonUnknown ?? "time limit"}) before it proved that nothing is cheaper; the bound is the MAC energy.");
    }

    /// <summary>
    /// Asks Z3 whether any mapping has energy below <paramref name="optimum"/> x (1 - 1e-9); Unsat is a
    /// certificate that none does. Returns the answer and the SMT-LIB 2 text of exactly that question.
    /// </summary>
    public static (Z3Status Status, string Smt2) Certify(MapProblem p, double optimum, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (!double.IsFinite(optimum) || optimum < 0)
            throw new ArgumentOutOfRangeException(nameof(optimum), optimum, "The optimum to certify must be a finite, non-negative energy.");
        CheckScope(p);
        using var enc = new Z3MapEncoding(p, diagnose: false);
        using var solver = new Z3Solver(enc.Context);
        enc.AddTo(solver);
        solver.Add(enc.Energy < optimum * (1 - Tolerance));
        var status = solver.Check(timeout);
        return (status, solver.ToSmt2());
    }

    /// <summary>Why no mapping is valid, from an unsat core over tracked constraints (capacity, fanout, factor completeness, each user constraint).</summary>
    public static string Explain(MapProblem p, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(p);
        CheckScope(p);
        using var enc = new Z3MapEncoding(p, diagnose: true);
        using var solver = new Z3Solver(enc.Context);
        enc.AddTo(solver);
        var status = solver.Check(timeout);
        if (status == Z3Status.Sat) return "The mapspace has a valid mapping.";
        if (status == Z3Status.Unknown) return $"Z3 could not decide feasibility ({solver.ReasonUnknown}).";
        var core = solver.UnsatCore().Select(enc.Describe).ToList();
        var capacity = core.Where(c => c.StartsWith("capacity", StringComparison.Ordinal)).ToList();
        if (capacity.Count > 0)
        {
            var others = core.Except(capacity).ToList();
            return $"No valid mapping: {string.Join(" and ", capacity)} conflicts with: {(others.Count > 0 ? string.Join(", ", others) : "the smallest tiles the mapspace allows")}.";
        }
        return $"No valid mapping: these constraints conflict: {string.Join("; ", core)}.";
    }

    /// <summary>Throws <see cref="NotSupportedException"/> for objectives other than energy and <see cref="ArgumentException"/> for problems outside the supported scope (docs/z3-encoding.md).</summary>
    public static void CheckScope(MapProblem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.Objective != Objective.Energy)
            throw new NotSupportedException($"The Z3 encoding is exact for energy only; objective {Objectives.Name(p.Objective)} needs the cycle terms (ceilings and a maximum over bandwidth-bound levels), which it does not encode. Use the exact search (--solver exact) for {Objectives.Name(p.Objective)}.");
        var e = p.Layer;
        var a = p.Arch;
        if (a.Levels.Count > MaxLevels)
            throw new ArgumentException($"The Z3 encoding supports at most {MaxLevels} storage levels; architecture {a.Name} has {a.Levels.Count}.", nameof(p));
        var big = e.Ranks.Where(r => r.Bound > MaxBound).ToList();
        if (big.Count > 0)
            throw new ArgumentException($"The Z3 encoding supports rank bounds up to {MaxBound}; layer {e.Name} has {string.Join(", ", big)}.", nameof(p));
        int active = e.Ranks.Count(r => r.Bound > 1);
        if (active > MaxRanks)
            throw new ArgumentException($"The Z3 encoding supports at most {MaxRanks} ranks with a bound above 1; layer {e.Name} has {active}.", nameof(p));
        foreach (var r in e.Ranks)
        {
            int splits = Z3MapEncoding.Splits(p, r.Bound, prefilter: false).Count;
            if (splits > MaxSplitsPerRank)
                throw new ArgumentException($"The Z3 encoding supports at most {MaxSplitsPerRank} splits of one rank over the slots; rank {r.Id} has {splits} on {a.Name}.", nameof(p));
        }
        var c = p.Constraints ?? MappingConstraints.None;
        if (c.Global.Count > 0)
            throw new NotSupportedException($"The Z3 encoding does not state {c.Global[0].Name(a)}: {GlobalConstraint.Honoured}.");
        foreach (var (level, lc) in c.Levels)
        {
            if (level < 0 || level >= a.Levels.Count)
                throw new ArgumentException($"A constraint names level {level}, but architecture {a.Name} has levels 0..{a.Levels.Count - 1}.", nameof(p));
            var ranks = lc.Temporal.Keys.Concat(lc.Spatial.Keys.Select(k => k.Rank)).Concat(lc.SpatialX ?? new HashSet<RankId>())
                .Concat(lc.SpatialY ?? new HashSet<RankId>()).Concat(lc.Order ?? []);
            foreach (var r in ranks)
                if (!e.HasRank(r)) throw new ArgumentException($"A constraint at {a.Levels[level].Name} names rank {r}, which layer {e.Name} does not have.", nameof(p));
            foreach (var t in lc.Keep.Concat(lc.Bypass))
                if (e.FindTensor(t) is null) throw new ArgumentException($"A constraint at {a.Levels[level].Name} names tensor {t}, which layer {e.Name} does not have.", nameof(p));
        }
    }

    /// <summary>Re-checks a decoded mapping with the validity checker and re-costs it with the reference model; a disagreement with Z3's value is a bug.</summary>
    private static CostReport Recheck(MapProblem p, Mapping mapping, double z3Energy)
    {
        var violations = ValidityChecker.Check(p.Layer, p.Arch, mapping);
        if (violations.Count > 0)
            throw new InvalidOperationException($"Z3 returned an invalid mapping ({violations[0].Message}); this is a bug in the encoding.");
        var violated = Z3MapEncoding.BrokenConstraint(p, mapping);
        if (violated is not null)
            throw new InvalidOperationException($"Z3 returned a mapping that breaks a user constraint ({violated}); this is a bug in the encoding.");
        var report = CostModel.Evaluate(p.Layer, p.Arch, mapping);
        if (Math.Abs(report.Energy - z3Energy) > 1e-9 * Math.Max(1, Math.Abs(report.Energy)))
            throw new InvalidOperationException($"Z3 costed its mapping at {z3Energy} pJ but the cost model says {report.Energy} pJ; this is a bug in the encoding.");
        return report;
    }
}

/// <summary>
/// The Z3 terms of one problem. In cost mode each rank picks one split of its bound over the slots
/// from a table and every count of docs/cost-model.md is a term; in diagnose mode the factors are free
/// variables and only the tracked validity rules and user constraints are asserted.
/// </summary>
internal sealed class Z3MapEncoding : IDisposable
{
    /// <summary>One split of a rank's bound: temporal and spatial factors per level.</summary>
    internal sealed record Split(long[] T, long[] SX, long[] SY);

    /// <summary>
    /// An integer term with its value folded when it is a constant, and a finite set that contains
    /// every value it can take (null when too large to track), used to keep products linear.
    /// </summary>
    private sealed class Z
    {
        public readonly long? C;
        public readonly IntExpr? E;
        public readonly long[]? Dom;
        public Z(long c) { C = c; Dom = [c]; }
        public Z(IntExpr e, IEnumerable<long>? dom)
        {
            E = e;
            if (dom is null) return;
            var d = dom.Distinct().Order().ToArray();
            Dom = d.Length <= MaxDomain ? d : null;
        }
    }

    /// <summary>The largest value set a term keeps; beyond it a product falls back to a nonlinear term.</summary>
    private const int MaxDomain = 4096;

    /// <summary>A Boolean term with its value folded when it is a constant.</summary>
    private sealed class B
    {
        public readonly bool? C;
        public readonly BoolExpr? E;
        public B(bool c) { C = c; }
        public B(BoolExpr e) { E = e; }
    }

    private readonly MapProblem _p;
    private readonly bool _diagnose;
    private readonly int _n, _ranks;
    private readonly StorageLevel[] _levels;
    private readonly TensorSpec[] _tensors;
    private readonly RankId[] _rankIds;
    private readonly long[] _bound;
    private readonly List<Split>[] _splits;
    private readonly IntExpr?[] _choice;
    private readonly B[,] _keep;
    private readonly B?[,,] _before;
    private readonly Z[,]? _tVar, _sxVar, _syVar;
    private readonly Dictionary<string, Z> _cache = new();
    private readonly List<BoolExpr> _plain = new();
    private readonly List<(string Name, string Words, BoolExpr Constraint)> _tracked = new();

    /// <summary>The context that owns every term.</summary>
    public Z3Context Context { get; } = new();

    /// <summary>The total energy in pJ (cost mode only).</summary>
    public RealExpr Energy { get; }

    public Z3MapEncoding(MapProblem p, bool diagnose)
    {
        _p = p;
        _diagnose = diagnose;
        _levels = p.Arch.Levels.ToArray();
        _n = _levels.Length;
        _tensors = p.Layer.Tensors.ToArray();
        _rankIds = p.Layer.Ranks.Select(r => r.Id).ToArray();
        _bound = p.Layer.Ranks.Select(r => (long)r.Bound).ToArray();
        _ranks = _rankIds.Length;
        var ctx = Context;

        _keep = new B[_n, _tensors.Length];
        for (int l = 0; l < _n; l++)
            for (int t = 0; t < _tensors.Length; t++)
                _keep[l, t] = l == 0 ? new B(true)
                    : !_levels[l].MayKeep(_tensors[t].Role) ? new B(false)
                    : new B(ctx.BoolVar($"keep_{_levels[l].Name}_{_tensors[t].Id}"));

        _splits = new List<Split>[_ranks];
        _choice = new IntExpr?[_ranks];
        for (int r = 0; r < _ranks; r++) _splits[r] = Splits(p, _bound[r], prefilter: !diagnose);
        if (diagnose)
        {
            _tVar = new Z[_n, _ranks];
            _sxVar = new Z[_n, _ranks];
            _syVar = new Z[_n, _ranks];
            for (int r = 0; r < _ranks; r++)
            {
                var divisors = Divisors(_bound[r]);
                Z Var(string name, bool exists)
                {
                    if (!exists || _bound[r] == 1) return new Z(1);
                    var v = ctx.IntVar(name, 1, _bound[r]);
                    _plain.Add(ctx.Or(divisors.Select(d => v == d)));
                    return new Z(v, divisors);
                }
                for (int l = 0; l < _n; l++)
                {
                    _tVar[l, r] = Var($"T_{_levels[l].Name}_{_rankIds[r]}", true);
                    _sxVar[l, r] = Var($"SX_{_levels[l].Name}_{_rankIds[r]}", _levels[l].Fanout.X > 1);
                    _syVar[l, r] = Var($"SY_{_levels[l].Name}_{_rankIds[r]}", _levels[l].Fanout.Y > 1);
                }
                if (_bound[r] > 1)
                {
                    var options = _splits[r].Select(s => ctx.And(Enumerable.Range(0, _n).SelectMany(l => new[]
                    {
                        Eq(_tVar[l, r], s.T[l]), Eq(_sxVar[l, r], s.SX[l]), Eq(_syVar[l, r], s.SY[l]),
                    }).Where(b => b.C != true).Select(Bx)));
                    Track($"complete_{_rankIds[r]}", $"the factors of {_rankIds[r]} multiply to its bound {_bound[r]}", ctx.Or(options));
                }
            }
        }
        else
        {
            for (int r = 0; r < _ranks; r++)
                if (_splits[r].Count > 1) _choice[r] = ctx.IntVar($"split_{_rankIds[r]}", 0, _splits[r].Count - 1);
                else if (_splits[r].Count == 0) _plain.Add(ctx.False);
        }

        _before = new B?[_n, _ranks, _ranks];
        if (!diagnose) BuildOrder();
        AddValidity();
        AddUserConstraints();
        if (diagnose)
        {
            Energy = ctx.Real(0, 1);
            return;
        }
        Energy = ctx.RealVar("energy");
        _plain.Add(Energy == BuildEnergy());
    }

    /// <summary>Asserts every constraint of the encoding; tracked ones with their names in diagnose mode.</summary>
    public void AddTo(Z3Solver solver)
    {
        foreach (var c in _plain) solver.Add(c);
        foreach (var (name, _, c) in _tracked)
            if (_diagnose) solver.Add(c, name); else solver.Add(c);
    }

    /// <summary>The words for a tracking name of an unsat core.</summary>
    public string Describe(string trackingName) => _tracked.First(t => t.Name == trackingName).Words;

    public void Dispose() => Context.Dispose();

    // ---- the mapspace -------------------------------------------------------------------------

    /// <summary>Every split of a bound over the temporal slot of every level and the X / Y slots of levels whose fanout has them; with <paramref name="prefilter"/>, each spatial factor fits its axis alone.</summary>
    internal static List<Split> Splits(MapProblem p, long bound, bool prefilter)
    {
        var levels = p.Arch.Levels;
        int n = levels.Count;
        var slots = new List<(int Level, int Kind)>();
        for (int l = 0; l < n; l++)
        {
            slots.Add((l, 0));
            if (levels[l].Fanout.X > 1) slots.Add((l, 1));
            if (levels[l].Fanout.Y > 1) slots.Add((l, 2));
        }
        var result = new List<Split>();
        var f = new long[slots.Count];
        void Go(int i, long left)
        {
            if (i == slots.Count)
            {
                if (left != 1) return;
                var s = new Split(new long[n], new long[n], new long[n]);
                for (int l = 0; l < n; l++) { s.T[l] = 1; s.SX[l] = 1; s.SY[l] = 1; }
                for (int k = 0; k < slots.Count; k++)
                {
                    var (l, kind) = slots[k];
                    (kind == 0 ? s.T : kind == 1 ? s.SX : s.SY)[l] = f[k];
                }
                result.Add(s);
                return;
            }
            var (level, kindOf) = slots[i];
            foreach (var d in Divisors(left))
            {
                if (prefilter && kindOf == 1 && d > levels[level].Fanout.X) continue;
                if (prefilter && kindOf == 2 && d > levels[level].Fanout.Y) continue;
                f[i] = d;
                Go(i + 1, left / d);
            }
        }
        Go(0, bound);
        return result;
    }

    private static List<long> Divisors(long n)
    {
        var d = new List<long>();
        for (long i = 1; i <= n; i++) if (n % i == 0) d.Add(i);
        return d;
    }

    /// <summary>An integer term from the rank's split table: a constant when every split agrees, else an if-then-else over the split choice.</summary>
    private Z Table(int r, string key, Func<Split, long> value)
    {
        string k = $"{key}#{r}";
        if (_cache.TryGetValue(k, out var hit)) return hit;
        var splits = _splits[r];
        Z result;
        if (splits.Count == 0) result = new Z(1);
        else
        {
            var values = splits.Select(value).ToArray();
            var distinct = values.Distinct().ToList();
            if (distinct.Count == 1) result = new Z(distinct[0]);
            else
            {
                var ch = _choice[r]!;
                IntExpr e = Context.Int(distinct[^1]);
                for (int i = distinct.Count - 2; i >= 0; i--)
                {
                    long v = distinct[i];
                    var when = Context.Or(Enumerable.Range(0, values.Length).Where(j => values[j] == v).Select(j => ch == j));
                    e = Context.Ite(when, Context.Int(v), e);
                }
                result = new Z(e, distinct);
            }
        }
        _cache[k] = result;
        return result;
    }

    private Z T(int l, int r) => _diagnose ? _tVar![l, r] : Table(r, $"T{l}", s => s.T[l]);
    private Z SX(int l, int r) => _diagnose ? _sxVar![l, r] : Table(r, $"SX{l}", s => s.SX[l]);
    private Z SY(int l, int r) => _diagnose ? _syVar![l, r] : Table(r, $"SY{l}", s => s.SY[l]);

    /// <summary>Extent of rank r in the tile of level l: the product of its factors at l and below (1 at l = n).</summary>
    private Z E(int l, int r)
    {
        if (!_diagnose) return Table(r, $"E{l}", s => Ext(s, l));
        var z = new Z(1);
        for (int d = l; d < _n; d++) z = Mul(z, Mul(T(d, r), Mul(SX(d, r), SY(d, r))));
        return z;
    }

    private long Ext(Split s, int l)
    {
        long x = 1;
        for (int d = l; d < _n; d++) x *= s.T[d] * s.SX[d] * s.SY[d];
        return x;
    }

    /// <summary>The stride of the temporal loop of rank r at level d: the product of its factors in every loop inside it.</summary>
    private Z Inner(int d, int r) => Table(r, $"I{d}", s => Ext(s, d) / s.T[d]);

    /// <summary>How far the temporal loop of rank r at level d moves its rank back when it restarts: (f - 1) x stride.</summary>
    private long Reset(Split s, int d) => (s.T[d] - 1) * (Ext(s, d) / s.T[d]);

    /// <summary>Loop order: before[d, a, b] says rank a's temporal loop is outside rank b's at level d. Factor-1 loops go innermost in rank order; the innermost level's order changes no count and is fixed.</summary>
    private void BuildOrder()
    {
        var ctx = Context;
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
                        var x = ctx.BoolVar($"before_{_levels[d].Name}_{_rankIds[a]}_{_rankIds[b]}");
                        v = new B(x);
                        _plain.Add(((Ix(ta) == 1) & (Ix(tb) == 1)).Implies(x));
                        _plain.Add(((Ix(ta) == 1) & (Ix(tb) > 1)).Implies(!x));
                        _plain.Add(((Ix(ta) > 1) & (Ix(tb) == 1)).Implies(x));
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
                        var imp = Or(Not(And(Before(d, a, b), Before(d, b, c))), Before(d, a, c));
                        if (imp.C != true) _plain.Add(Bx(imp));
                    }
    }

    private B Before(int d, int a, int b) => _before[d, a, b]!;

    // ---- validity -----------------------------------------------------------------------------

    private Z Tile(TensorSpec t, Func<int, Z> extent)
    {
        var z = new Z(1);
        foreach (var dim in t.Dims) z = Mul(z, DimExtent(dim, extent));
        return z;
    }

    /// <summary>The symbolic form of the kernel's <see cref="TensorIndex.DimExtent"/>: <c>1 + sum |c| x (e - 1)</c>.</summary>
    private Z DimExtent(AffineExpr dim, Func<int, Z> extent)
    {
        var z = new Z(1);
        foreach (var term in dim.Terms)
            z = Add(z, Mul(new Z(Math.Abs((long)term.Coefficient)), Sub(extent(RankIndex(term.Rank)), new Z(1))));
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
                    need = Add(need, IteZ(_keep[l, t], Tile(_tensors[t], r => E(li, r)), new Z(0)));
                Track($"cap_{level.Name}", $"capacity of {level.Name} ({cap} words)", Le(need, cap));
            }
            if (fan.X > 1)
            {
                var x = new Z(1);
                for (int r = 0; r < _ranks; r++) x = Mul(x, SX(l, r));
                Track($"fanX_{level.Name}", $"fanout of {level.Name} along X ({fan.X})", Le(x, fan.X));
            }
            if (fan.Y > 1)
            {
                var y = new Z(1);
                for (int r = 0; r < _ranks; r++) y = Mul(y, SY(l, r));
                Track($"fanY_{level.Name}", $"fanout of {level.Name} along Y ({fan.Y})", Le(y, fan.Y));
            }
        }
    }

    private void AddUserConstraints()
    {
        var cons = _p.Constraints ?? MappingConstraints.None;
        cons.RefuseOuterPrefix("Z3");
        foreach (var (l, c) in cons.Levels.OrderBy(kv => kv.Key))
        {
            string level = _levels[l].Name;
            foreach (var (rank, f) in c.Temporal.OrderBy(kv => kv.Key.Name, StringComparer.Ordinal))
                Track($"pinT_{level}_{rank}", $"{rank} pinned to {f} at {level}", Bx(Eq(T(l, RankIndex(rank)), f)));
            foreach (var ((rank, axis), f) in c.Spatial.OrderBy(kv => kv.Key.Rank.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Axis))
                Track($"pinS_{level}_{rank}_{axis}", $"{rank} pinned to {f} along {axis} at {level}",
                    Bx(Eq(axis == Axis.X ? SX(l, RankIndex(rank)) : SY(l, RankIndex(rank)), f)));
            foreach (var (allowed, axis) in new[] { (c.SpatialX, Axis.X), (c.SpatialY, Axis.Y) })
            {
                if (allowed is null) continue;
                var others = Enumerable.Range(0, _ranks).Where(r => !allowed.Contains(_rankIds[r])).ToList();
                var cond = Context.And(others.Select(r => Bx(Eq(axis == Axis.X ? SX(l, r) : SY(l, r), 1))));
                Track($"allow{axis}_{level}", $"only {(allowed.Count == 0 ? "no rank" : string.Join(", ", allowed.Select(x => x.Name).Order(StringComparer.Ordinal)))} may be split along {axis} at {level}", cond);
            }
            if (c.Order is { } order)
            {
                var ids = order.ToList();
                var parts = Enumerable.Range(0, _ranks).Where(r => !ids.Contains(_rankIds[r])).Select(r => Bx(Eq(T(l, r), 1))).ToList();
                // The innermost level's order changes no count; there the decoder writes the pinned order.
                if (!_diagnose && l < _n - 1)
                    for (int i = 0; i < ids.Count; i++)
                        for (int j = i + 1; j < ids.Count; j++)
                        {
                            int a = RankIndex(ids[i]), b = RankIndex(ids[j]);
                            if (a == b) continue;
                            var both = And(Gt1(T(l, a)), Gt1(T(l, b)));
                            var imp = Or(Not(both), Before(l, a, b));
                            if (imp.C != true) parts.Add(Bx(imp));
                        }
                Track($"order_{level}", $"the loop order at {level} is {string.Join(" ", ids)} (other ranks have factor 1 there)", Context.And(parts));
            }
            foreach (var t in c.Keep.OrderBy(x => x.Name, StringComparer.Ordinal))
                Track($"keep_pin_{level}_{t}", $"{level} must keep {t}", Bx(_keep[l, TensorIndex(t)]));
            foreach (var t in c.Bypass.OrderBy(x => x.Name, StringComparer.Ordinal))
                Track($"bypass_pin_{level}_{t}", $"{level} must let {t} pass", Bx(Not(_keep[l, TensorIndex(t)])));
        }
    }

    private int TensorIndex(TensorId id) => Array.FindIndex(_tensors, t => t.Id == id);

    private void Track(string name, string words, BoolExpr c) => _tracked.Add((name, words, c));

    /// <summary>The first user constraint a mapping breaks, or null (an independent check of the decoded answer).</summary>
    internal static string? BrokenConstraint(MapProblem p, Mapping m)
    {
        var cons = p.Constraints ?? MappingConstraints.None;
        foreach (var (l, c) in cons.Levels)
        {
            var lm = m.Levels[l];
            foreach (var (rank, f) in c.Temporal) if (lm.TemporalFactor(rank) != f) return $"{rank} pinned to {f} at level {l}";
            foreach (var ((rank, axis), f) in c.Spatial)
                if (lm.Spatial.Where(s => s.Rank == rank && s.Axis == axis).Aggregate(1L, (a, s) => a * s.Factor) != f) return $"{rank} pinned to {f} along {axis} at level {l}";
            if (c.SpatialX is { } ax && lm.Spatial.Any(s => s.Axis == Axis.X && !ax.Contains(s.Rank))) return $"allowed X ranks at level {l}";
            if (c.SpatialY is { } ay && lm.Spatial.Any(s => s.Axis == Axis.Y && !ay.Contains(s.Rank))) return $"allowed Y ranks at level {l}";
            if (c.Order is { } order)
            {
                var ids = order.ToList();
                var active = lm.Temporal.Where(x => x.Factor > 1).Select(x => x.Rank).ToList();
                if (active.Any(r => !ids.Contains(r)) || !active.SequenceEqual(active.OrderBy(ids.IndexOf))) return $"loop order at level {l}";
            }
            if (c.Keep.Any(t => !lm.Keep.Contains(t)) || c.Bypass.Any(lm.Keep.Contains)) return $"keep / bypass at level {l}";
        }
        return null;
    }

    // ---- the cost model (docs/cost-model.md) --------------------------------------------------

    /// <summary>Instances used of level l (l = n: compute units): the product of the spatial factors above it.</summary>
    private Z Used(int l)
    {
        var z = new Z(1);
        for (int d = 0; d < l; d++) for (int r = 0; r < _ranks; r++) z = Mul(z, Mul(SX(d, r), SY(d, r)));
        return z;
    }

    /// <summary>(f - 1) x the product of the factors of the temporal loops outside the loop of rank r at level d: its steps.</summary>
    private Z Steps(int d, int r)
    {
        string key = $"steps{d}_{r}";
        if (_cache.TryGetValue(key, out var hit)) return hit;
        var z = Sub(T(d, r), new Z(1));
        for (int dd = 0; dd < d; dd++) for (int rr = 0; rr < _ranks; rr++) z = Mul(z, T(dd, rr));
        for (int rr = 0; rr < _ranks; rr++)
            if (rr != r) z = Mul(z, IteZ(Before(d, rr, r), T(d, rr), new Z(1)));
        return _cache[key] = z;
    }

    /// <summary>
    /// Words brought into one instance of level l over the run: the symbolic form of the kernel's
    /// <see cref="Counts.Visits"/>, with each step's new words the tile less <see cref="TensorIndex.Overlap"/>,
    /// and the loop order (which the kernel takes as given) as Before(...) variables.
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
                    var steps = Steps(d, r);
                    if (steps.C == 0) continue;
                    var overlap = new Z(1);
                    for (int k = 0; k < t.Dims.Count; k++)
                    {
                        var shift = new Z(0);
                        foreach (var term in t.Dims[k].Terms)
                        {
                            int rr = RankIndex(term.Rank);
                            var delta = rr == r ? Inner(d, r) : new Z(0);
                            if (rr != r) delta = Sub(delta, IteZ(Before(d, r, rr), Table(rr, $"Q{d}", s => Reset(s, d)), new Z(0)));
                            int dd = d, ll = l;
                            delta = Sub(delta, Table(rr, $"D{d}_{l}", s => Enumerable.Range(dd + 1, Math.Max(0, ll - dd - 1)).Sum(x => Reset(s, x))));
                            shift = Add(shift, Mul(new Z(term.Coefficient), delta));
                        }
                        overlap = Mul(overlap, Max0(Sub(extents[k], Abs(shift))));
                    }
                    total = Add(total, Mul(steps, Sub(tile, overlap)));
                }
        }
        return _cache[key] = total;
    }

    /// <summary>Distinct output words one instance of level l ever holds: the tile grown by every temporal loop above l.</summary>
    private Z Partition(TensorSpec t, int l)
        => Tile(t, r => Table(r, $"P{l}", s => Ext(s, l) * Enumerable.Range(0, l).Aggregate(1L, (a, d) => a * s.T[d])));

    private RealExpr BuildEnergy()
    {
        var ctx = Context;
        var parts = new List<RealExpr> { ctx.Real(_p.Layer.Macs * _p.Arch.Compute.MacEnergy) };
        var temporalProduct = new Z(1);
        for (int r = 0; r < _ranks; r++) temporalProduct = Mul(temporalProduct, Table(r, "TP", s => s.T.Aggregate(1L, (a, x) => a * x)));
        for (int ti = 0; ti < _tensors.Length; ti++)
        {
            var t = _tensors[ti];
            for (int l = 0; l < _n; l++)
            {
                var keepL = _keep[l, ti];
                if (keepL.C == false) continue;
                var level = _levels[l];
                var used = Used(l);
                var partition = t.IsOutput ? Partition(t, l) : new Z(0);
                var fills = l == 0 ? new Z(0) : t.IsOutput ? Sub(Visits(ti, l), partition) : Visits(ti, l);
                var terms = new List<RealExpr>();
                if (fills.C != 0 && level.WriteEnergy != 0) terms.Add(R(Mul(used, fills)) * level.WriteEnergy);
                // The child keeper c: the next level below l that keeps t, or the compute units (c = n).
                for (int c = l + 1; c <= _n; c++)
                {
                    var cond = c < _n ? _keep[c, ti] : new B(true);
                    for (int m = l + 1; m < c; m++) cond = And(cond, Not(_keep[m, ti]));
                    if (cond.C == false) continue;
                    var childWords = c == _n ? temporalProduct : Visits(ti, c);
                    var perChild = new Z(1);
                    for (int m = l; m < c; m++)
                    {
                        bool capable = t.IsOutput ? _levels[m].Fanout.SpatialReduction : _levels[m].Fanout.Multicast;
                        for (int r = 0; r < _ranks; r++)
                            if (!capable || t.IsIndexedBy(_rankIds[r])) perChild = Mul(perChild, Mul(SX(m, r), SY(m, r)));
                    }
                    var words = Mul(childWords, perChild);
                    Z reads, updates;
                    if (t.IsOutput) { updates = words; reads = Sub(words, partition); }
                    else { reads = words; updates = new Z(0); }
                    var inner = new List<RealExpr>();
                    if (level.ReadEnergy != 0 && reads.C != 0) inner.Add(R(Mul(used, reads)) * level.ReadEnergy);
                    if (level.WriteEnergy != 0 && updates.C != 0) inner.Add(R(Mul(used, updates)) * level.WriteEnergy);
                    var moved = Mul(Add(reads, updates), used);
                    for (int m = l; m < c; m++)
                    {
                        var fan = _levels[m].Fanout;
                        if (fan.HopEnergy == 0 || moved.C == 0) continue;
                        if (fan.Topology == Topology.Bus) inner.Add(R(moved) * fan.HopEnergy);
                        else
                        {
                            // hops = 1 + (ux - 1)/2 + (uy - 1)/2 = (ux + uy)/2
                            var ux = new Z(1);
                            var uy = new Z(1);
                            for (int r = 0; r < _ranks; r++) { ux = Mul(ux, SX(m, r)); uy = Mul(uy, SY(m, r)); }
                            inner.Add(R(Mul(moved, Add(ux, uy))) * ctx.Real(fan.HopEnergy) * ctx.Real(1, 2));
                        }
                    }
                    if (inner.Count == 0) continue;
                    var sum = ctx.Sum(inner);
                    terms.Add(cond.C == true ? sum : ctx.Ite(Bx(cond), sum, ctx.Real(0, 1)));
                }
                if (terms.Count == 0) continue;
                var all = ctx.Sum(terms);
                parts.Add(keepL.C == true ? all : ctx.Ite(Bx(keepL), all, ctx.Real(0, 1)));
            }
        }
        return ctx.Sum(parts);
    }

    // ---- decoding -----------------------------------------------------------------------------

    /// <summary>The mapping of the solver's model, as the one <see cref="Mapping"/> type.</summary>
    public Mapping Decode(Z3Solver solver) => Decode(solver.Value, solver.Value);

    private Mapping Decode(Func<IntExpr, long> intValue, Func<BoolExpr, bool> boolValue)
    {
        var split = new Split[_ranks];
        for (int r = 0; r < _ranks; r++) split[r] = _splits[r][_choice[r] is { } ch ? (int)intValue(ch) : 0];
        bool Val(B b) => b.C ?? boolValue(b.E!);
        return ToMapping(_p, split, _rankIds, _tensors, (l, a, b) => Val(Before(l, a, b)), (l, t) => Val(_keep[l, t]));
    }

    /// <summary>
    /// A solution as the one <see cref="Mapping"/> type, for both solver encodings (Z3 here, CP-SAT in
    /// solvers/CpSat): each rank's chosen split gives the factors; at each level the loops with a factor above 1
    /// go outermost first by how many others the order Booleans put outside them (the innermost level's pinned
    /// order as given); <paramref name="before"/>(l, a, b) is "rank a's loop is outside rank b's at level l",
    /// <paramref name="keeps"/>(l, t) "level l keeps tensor t".
    /// </summary>
    internal static Mapping ToMapping(MapProblem p, Split[] split, IReadOnlyList<RankId> rankIds, IReadOnlyList<TensorSpec> tensors,
        Func<int, int, int, bool> before, Func<int, int, bool> keeps)
    {
        int n = p.Arch.Levels.Count, ranks = rankIds.Count;
        var levels = new List<LevelMapping>();
        for (int l = 0; l < n; l++)
        {
            int li = l;
            var active = Enumerable.Range(0, ranks).Where(r => split[r].T[li] > 1).ToList();
            var pinned = (p.Constraints ?? MappingConstraints.None).For(l).Order?.ToList();
            var order = li == n - 1 && pinned is not null
                ? active.OrderBy(r => pinned.IndexOf(rankIds[r])).ToList()
                : active.OrderBy(r => active.Count(o => o != r && before(li, o, r))).ToList();
            var temporal = order.Select(r => new TemporalLoop(rankIds[r], (int)split[r].T[li]));
            var spatial = new List<SpatialLoop>();
            for (int r = 0; r < ranks; r++)
            {
                if (split[r].SX[l] > 1) spatial.Add(new SpatialLoop(rankIds[r], (int)split[r].SX[l], Axis.X));
                if (split[r].SY[l] > 1) spatial.Add(new SpatialLoop(rankIds[r], (int)split[r].SY[l], Axis.Y));
            }
            var keep = Enumerable.Range(0, tensors.Count).Where(t => keeps(li, t)).Select(t => tensors[t].Id);
            levels.Add(new LevelMapping(temporal, spatial, keep));
        }
        return new Mapping(levels);
    }

    // ---- folding term helpers -----------------------------------------------------------------

    private IntExpr Ix(Z z) => z.E ?? Context.Int(z.C!.Value);
    private BoolExpr Bx(B b) => b.E ?? (b.C!.Value ? Context.True : Context.False);
    private RealExpr R(Z z) => z.E is { } e ? e.ToReal() : Context.Real(z.C!.Value, 1);

    private static IEnumerable<long>? Combine(Z a, Z b, Func<long, long, long> f)
        => a.Dom is { } x && b.Dom is { } y && (long)x.Length * y.Length <= 1L << 20 ? x.SelectMany(u => y.Select(v => f(u, v))) : null;

    /// <summary>
    /// The product of two terms, kept linear: a case split over the values of the operand with the
    /// smaller value set (each branch is a constant times the other operand).
    /// </summary>
    private Z Mul(Z a, Z b)
    {
        if (a.C == 0 || b.C == 0) return new Z(0);
        if (a.C == 1) return b;
        if (b.C == 1) return a;
        if (a.C is { } x && b.C is { } y) return new Z(checked(x * y));
        if (a.C is { } ca) return new Z(ca * b.E!, b.Dom?.Select(v => checked(ca * v)));
        if (b.C is { } cb) return new Z(cb * a.E!, a.Dom?.Select(v => checked(cb * v)));
        var dom = Combine(a, b, (u, v) => checked(u * v));
        var (split, other) = (a.Dom, b.Dom) switch
        {
            (null, null) => (null, null),
            (null, _) => (b, a),
            (_, null) => (a, b),
            _ => a.Dom!.Length <= b.Dom!.Length ? (a, b) : (b, a),
        };
        if (split is null || split.Dom!.Length > 64) return new Z(Ix(a) * Ix(b), dom);
        var values = split.Dom;
        IntExpr e = values[^1] * other!.E!;
        for (int i = values.Length - 2; i >= 0; i--)
            e = Context.Ite(split.E! == values[i], values[i] == 0 ? Context.Int(0) : values[i] * other.E!, e);
        return new Z(e, dom);
    }

    private Z Add(Z a, Z b)
    {
        if (a.C == 0) return b;
        if (b.C == 0) return a;
        if (a.C is { } x && b.C is { } y) return new Z(checked(x + y));
        return new Z(Ix(a) + Ix(b), Combine(a, b, (u, v) => checked(u + v)));
    }

    private Z Sub(Z a, Z b)
    {
        if (b.C == 0) return a;
        if (a.C is { } x && b.C is { } y) return new Z(checked(x - y));
        return new Z(Ix(a) - Ix(b), Combine(a, b, (u, v) => checked(u - v)));
    }

    private Z IteZ(B c, Z a, Z b)
    {
        if (c.C is { } v) return v ? a : b;
        if (a.C is { } x && b.C is { } y && x == y) return a;
        return new Z(Context.Ite(c.E!, Ix(a), Ix(b)), a.Dom is { } da && b.Dom is { } db ? da.Concat(db) : null);
    }

    private Z Max0(Z a) => a.C is { } x ? new Z(Math.Max(0, x)) : new Z(Context.Ite(a.E! >= 0, a.E!, Context.Int(0)), a.Dom?.Select(v => Math.Max(0, v)));
    private Z Abs(Z a) => a.C is { } x ? new Z(Math.Abs(x)) : new Z(Context.Ite(a.E! >= 0, a.E!, -a.E!), a.Dom?.Select(Math.Abs));

    private B Eq(Z a, long v) => a.C is { } x ? new B(x == v) : new B(a.E! == v);
    private B Gt1(Z a) => a.C is { } x ? new B(x > 1) : new B(a.E! > 1);
    private BoolExpr Le(Z a, long v) => a.C is { } x ? (x <= v ? Context.True : Context.False) : a.E! <= v;
    private static B Not(B a) => a.C is { } x ? new B(!x) : new B(!a.E!);

    private B And(B a, B b)
    {
        if (a.C == false || b.C == false) return new B(false);
        if (a.C == true) return b;
        if (b.C == true) return a;
        return new B(a.E! & b.E!);
    }

    private B Or(B a, B b)
    {
        if (a.C == true || b.C == true) return new B(true);
        if (a.C == false) return b;
        if (b.C == false) return a;
        return new B(a.E! | b.E!);
    }
}
