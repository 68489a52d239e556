using Optimizer.Solvers.Z3;

namespace Optimizer.Solvers.Symbolic;

/// <summary>
/// The algebra in Z3 (over the project's binding, solvers/Z3/): exact integers, Booleans and, for energies, exact
/// rationals (<see cref="Z3Energy"/>: integer counts each times its energy per word, one real term by <see cref="ToReal"/>;
/// the instances multiply each count, an integer product, rather than the real sum: a case split of the real sum over the
/// instances' values made three of the tests' small cases run past their 60 s limit, against 13-55 s). Every term carries the finite set of values it can take, and a product of two non-constant terms is a
/// case split over the operand with the smaller set (each branch a constant times the other), so the model stays linear
/// (docs/z3-encoding.md, "Products stay linear"). Caps are ignored: nothing can overflow. Constraints are collected:
/// plain ones, and tracked ones under their <see cref="Tag"/> for unsat cores. The Z3 encoding states energy only: the
/// cycle terms (ceilings, maxima) and enforced global constraints are refused.
/// </summary>
internal sealed class Z3Algebra(Z3Context ctx) : Algebra<IntExpr, BoolExpr, Z3Energy>
{
    /// <summary>The largest value set a term keeps; beyond it a product falls back to a nonlinear term.</summary>
    private const int MaxValues = 4096;

    /// <summary>The largest value set a product is split over.</summary>
    private const int MaxSplit = 64;

    /// <summary>Constraints asserted as they are.</summary>
    public List<BoolExpr> Plain { get; } = [];

    /// <summary>Constraints with a name, for unsat cores.</summary>
    public List<(string Name, string Words, BoolExpr Constraint)> Tracked { get; } = [];

    private static IntTerm<IntExpr> Term(IntExpr e, IEnumerable<long>? values)
    {
        var v = values?.Distinct().Order().ToArray();
        return v is { Length: > 0 and <= MaxValues } ? new(e, v[0], v[^1], v) : new(e, long.MinValue, long.MaxValue);
    }

    private static IEnumerable<long>? Combine(IntTerm<IntExpr> a, IntTerm<IntExpr> b, Func<long, long, long> f)
        => a.Values is { } x && b.Values is { } y && (long)x.Length * y.Length <= 1L << 20 ? x.SelectMany(u => y.Select(v => f(u, v))) : null;

    protected override IntExpr Lift(long c) => ctx.Int(c);

    public override IntTerm<IntExpr> Choice(string name, int count) => Term(ctx.IntVar(name, 0, count - 1), Enumerable.Range(0, count).Select(i => (long)i));

    /// <summary>An if-then-else over the choice, the values in the order the splits first take them.</summary>
    public override IntTerm<IntExpr> Element(IntTerm<IntExpr> choice, long[] values, long[] distinct, string name)
    {
        var order = values.Distinct().ToArray();
        IntExpr e = ctx.Int(order[^1]);
        for (int i = order.Length - 2; i >= 0; i--)
        {
            long v = order[i];
            var when = ctx.Or(Enumerable.Range(0, values.Length).Where(j => values[j] == v).Select(j => choice.X! == j));
            e = ctx.Ite(when, ctx.Int(v), e);
        }
        return Term(e, distinct);
    }

    public override IntTerm<IntExpr> Factor(string name, long[] divisors)
    {
        var v = ctx.IntVar(name, divisors[0], divisors[^1]);
        Plain.Add(ctx.Or(divisors.Select(d => v == d)));
        return Term(v, divisors);
    }

    public override BoolTerm<BoolExpr> NewBool(string name) => new(ctx.BoolVar(name));

    protected override IntTerm<IntExpr> AddX(IntTerm<IntExpr> a, IntTerm<IntExpr> b) => Term(Ex(a) + Ex(b), Combine(a, b, (u, v) => checked(u + v)));

    protected override IntTerm<IntExpr> SubX(IntTerm<IntExpr> a, IntTerm<IntExpr> b) => Term(Ex(a) - Ex(b), Combine(a, b, (u, v) => checked(u - v)));

    /// <summary>The product kept linear: a case split over the values of the operand with the smaller value set.</summary>
    protected override IntTerm<IntExpr> MulX(IntTerm<IntExpr> a, IntTerm<IntExpr> b, long? cap)
    {
        var values = Combine(a, b, (u, v) => checked(u * v));
        var (split, other) = a.Values is null ? (b, a) : b.Values is null || a.Values.Length <= b.Values.Length ? (a, b) : (b, a);
        if (split.Values is not { Length: <= MaxSplit } cases) return Term(Ex(a) * Ex(b), values);
        IntExpr e = cases[^1] * other.X!;
        for (int i = cases.Length - 2; i >= 0; i--)
            e = ctx.Ite(split.X! == cases[i], cases[i] == 0 ? ctx.Int(0) : cases[i] * other.X!, e);
        return Term(e, values);
    }

    protected override IntTerm<IntExpr> ScaledX(IntTerm<IntExpr> a, long k) => Term(k * a.X!, a.Values?.Select(v => checked(k * v)));

    protected override IntTerm<IntExpr> IteX(BoolTerm<BoolExpr> c, IntTerm<IntExpr> a, IntTerm<IntExpr> b)
        => Term(ctx.Ite(c.L!, Ex(a), Ex(b)), a.Values is { } da && b.Values is { } db ? da.Concat(db) : null);

    protected override IntTerm<IntExpr> GateX(BoolTerm<BoolExpr> c, IntTerm<IntExpr> a, long? cap) => IteX(c, a, Const(0));

    protected override IntTerm<IntExpr> CapX(IntTerm<IntExpr> a, long cap) => a;

    protected override IntTerm<IntExpr> NonNegX(IntTerm<IntExpr> a) => a;

    protected override IntTerm<IntExpr> Max0X(IntTerm<IntExpr> a) => Term(ctx.Ite(a.X! >= 0, a.X!, ctx.Int(0)), a.Values?.Select(v => Math.Max(0, v)));

    protected override IntTerm<IntExpr> AbsX(IntTerm<IntExpr> a) => Term(ctx.Ite(a.X! >= 0, a.X!, -a.X!), a.Values?.Select(Math.Abs));

    protected override IntTerm<IntExpr> CeilX(IntTerm<IntExpr> a, long q, long rq, string what) => throw EnergyOnly();

    protected override IntTerm<IntExpr> MaxX(IReadOnlyList<IntTerm<IntExpr>> terms, string name) => throw EnergyOnly();

    protected override IntTerm<IntExpr> MinX(IReadOnlyList<IntTerm<IntExpr>> terms, string name) => throw EnergyOnly();

    protected override BoolExpr EqX(IntTerm<IntExpr> a, long v) => a.X! == v;

    /// <summary>a = 1 and a &gt; 1: a bound atom each (a disequality would make Z3 split a &lt; 1 or a &gt; 1).</summary>
    protected override (BoolExpr One, BoolExpr AboveOne) UnitX(IntTerm<IntExpr> a) => (a.X! == 1, a.X! > 1);

    protected override BoolExpr NotX(BoolExpr a) => !a;

    protected override BoolExpr AllX(IReadOnlyList<BoolExpr> operands) => ctx.And(operands);

    protected override BoolExpr AnyX(IReadOnlyList<BoolExpr> operands) => ctx.Or(operands);

    protected override void RequireX(Tag? tag, IReadOnlyList<IReadOnlyList<BoolExpr>> clauses)
        => Assert(tag, clauses.Count == 1 && clauses[0].Count == 1 ? clauses[0][0] : ctx.And(clauses.Select(c => c.Count == 1 ? c[0] : ctx.Or(c))));

    protected override void RequireAtMostX(Tag? tag, IntTerm<IntExpr> a, long v) => Assert(tag, a.X! <= v);

    protected override void EnforceAtMostX(BoolExpr lit, IntTerm<IntExpr> a, IntTerm<IntExpr> b) => throw EnergyOnly();

    private void Assert(Tag? tag, BoolExpr c)
    {
        if (tag is { } t) Tracked.Add((t.Name, t.Words, c));
        else Plain.Add(c);
    }

    private static NotSupportedException EnergyOnly()
        => new("The Z3 encoding states energy only: cycle terms and global constraints are stated by CP-SAT (docs/z3-encoding.md, \"Scope\").");

    public override Z3Energy NoEnergy { get; } = new([]);

    public override Z3Energy Joules(IntTerm<IntExpr> count, double pj) => pj == 0 || count.C == 0 ? NoEnergy : new([(count, pj)]);

    public override Z3Energy Plus(Z3Energy a, Z3Energy b) => a.Terms.Count == 0 ? b : b.Terms.Count == 0 ? a : new([.. a.Terms, .. b.Terms]);

    /// <summary>instances x energy, term by term: each count times the instances, an integer product kept linear.</summary>
    public override Z3Energy Times(IntTerm<IntExpr> instances, Z3Energy perInstance)
        => new(perInstance.Terms.Select(t => (Mul(instances, t.Count), t.Pj)).ToList());

    /// <summary>The energy as one real term: each count times its energy per word, the exact rational of its shortest round-trip decimal.</summary>
    public RealExpr ToReal(Z3Energy e)
        => ctx.Sum(e.Terms.Select(t => (t.Count.C is { } c ? ctx.Real(c, 1) : t.Count.X!.ToReal()) * ctx.Real(t.Pj)));

    public override bool Weighs(double pj) => pj != 0;

    public override long? CountCap(double pj) => null;
}

/// <summary>An energy in the Z3 algebra: a sum of integer counts, each times its energy per word (pJ).</summary>
internal sealed record Z3Energy(IReadOnlyList<(IntTerm<IntExpr> Count, double Pj)> Terms);
