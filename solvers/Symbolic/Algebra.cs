namespace Optimizer.Solvers.Symbolic;

/// <summary>
/// An integer term of the algebra: a constant (folded, <see cref="C"/>) or a backend expression <see cref="X"/>,
/// with bounds that contain every value it takes and, where the backend tracks it, the finite set of those values.
/// </summary>
internal sealed class IntTerm<TX> where TX : class
{
    /// <summary>The value of a constant term; null for an expression.</summary>
    public readonly long? C;
    /// <summary>The backend's expression; null for a constant.</summary>
    public readonly TX? X;
    /// <summary>Bounds on every value the term takes.</summary>
    public readonly long Lo, Hi;
    /// <summary>Every value the term can take (a superset), when the backend tracks it; null otherwise.</summary>
    public readonly long[]? Values;

    public IntTerm(long c) { C = c; Lo = c; Hi = c; Values = [c]; }

    public IntTerm(TX x, long lo, long hi, long[]? values = null) { X = x; Lo = lo; Hi = hi; Values = values; }
}

/// <summary>A Boolean term of the algebra: a constant (folded) or a backend literal.</summary>
internal sealed class BoolTerm<TL> where TL : class
{
    /// <summary>The value of a constant term; null for a literal.</summary>
    public readonly bool? C;
    /// <summary>The backend's literal; null for a constant.</summary>
    public readonly TL? L;

    public BoolTerm(bool c) { C = c; }

    public BoolTerm(TL l) { L = l; }
}

/// <summary>The name of a constraint in an unsat core and the words that explain it (docs/z3-encoding.md, "diagnose mode").</summary>
internal readonly record struct Tag(string Name, string Words);

/// <summary>
/// The small expression algebra the mapspace's symbolic encoder (<see cref="MapEncoder{TX, TL, TE}"/>) is written over:
/// integer terms (<typeparamref name="TX"/>), Boolean literals (<typeparamref name="TL"/>) and energies
/// (<typeparamref name="TE"/>). Constants are folded here, once, for every backend; a backend (<see cref="Z3Algebra"/>,
/// <see cref="CpSatAlgebra"/>) builds only the terms that are not constant. The <c>cap</c> arguments are bounds that
/// hold for every mapping the model keeps; a backend with bounded arithmetic (CP-SAT) narrows its domains to them,
/// one with exact arithmetic (Z3) ignores them.
/// </summary>
internal abstract class Algebra<TX, TL, TE> where TX : class where TL : class
{
    /// <summary>The constant true.</summary>
    public BoolTerm<TL> True { get; } = new(true);

    /// <summary>The constant false.</summary>
    public BoolTerm<TL> False { get; } = new(false);

    /// <summary>The integer constant.</summary>
    public IntTerm<TX> Const(long c) => new(c);

    /// <summary>The Boolean constant.</summary>
    public BoolTerm<TL> Const(bool b) => b ? True : False;

    // ---- variables ----------------------------------------------------------------------------

    /// <summary>An integer variable in 0..count-1: which row of a table is chosen.</summary>
    public abstract IntTerm<TX> Choice(string name, int count);

    /// <summary><c>values[choice]</c>, a term over the <paramref name="distinct"/> values (sorted, at least two).</summary>
    public abstract IntTerm<TX> Element(IntTerm<TX> choice, long[] values, long[] distinct, string name);

    /// <summary>An integer variable that takes one of the <paramref name="divisors"/> (sorted).</summary>
    public abstract IntTerm<TX> Factor(string name, long[] divisors);

    /// <summary>A Boolean variable.</summary>
    public abstract BoolTerm<TL> NewBool(string name);

    // ---- integer terms ------------------------------------------------------------------------

    /// <summary>The expression of a term (a constant lifted into the backend).</summary>
    protected TX Ex(IntTerm<TX> t) => t.X ?? Lift(t.C!.Value);

    protected abstract TX Lift(long c);

    public IntTerm<TX> Add(IntTerm<TX> a, IntTerm<TX> b)
    {
        if (a.C == 0) return b;
        if (b.C == 0) return a;
        if (a.C is { } x && b.C is { } y) return new(checked(x + y));
        return AddX(a, b);
    }

    public IntTerm<TX> Sub(IntTerm<TX> a, IntTerm<TX> b)
    {
        if (b.C == 0) return a;
        if (a.C is { } x && b.C is { } y) return new(checked(x - y));
        return SubX(a, b);
    }

    /// <summary>The product of two terms; <paramref name="cap"/> bounds it for every mapping the model keeps.</summary>
    public IntTerm<TX> Mul(IntTerm<TX> a, IntTerm<TX> b, long? cap = null)
    {
        if (a.C == 0 || b.C == 0) return new(0);
        if (a.C == 1) return Cap(b, cap);
        if (b.C == 1) return Cap(a, cap);
        if (a.C is { } x && b.C is { } y) return new(checked(x * y));
        if (a.C is { } ca) return Cap(Scaled(b, ca), cap);
        if (b.C is { } cb) return Cap(Scaled(a, cb), cap);
        return MulX(a, b, cap);
    }

    /// <summary>A product of terms; <paramref name="cap"/> bounds every partial product (a bound that holds for every mapping, e.g. the MACs for temporal factors).</summary>
    public IntTerm<TX> Product(IEnumerable<IntTerm<TX>> terms, long? cap = null) => terms.Aggregate(new IntTerm<TX>(1), (acc, z) => Mul(acc, z, cap));

    public IntTerm<TX> Sum(IEnumerable<IntTerm<TX>> terms) => terms.Aggregate(new IntTerm<TX>(0), Add);

    /// <summary>The term times a constant.</summary>
    public IntTerm<TX> Scaled(IntTerm<TX> a, long k)
    {
        if (k == 0 || a.C == 0) return new(0);
        if (a.C is { } c) return new(checked(c * k));
        if (k == 1) return a;
        return ScaledX(a, k);
    }

    public IntTerm<TX> Ite(BoolTerm<TL> c, IntTerm<TX> a, IntTerm<TX> b)
    {
        if (c.C is { } v) return v ? a : b;
        if (a.C is { } x && b.C is { } y && x == y) return a;
        return IteX(c, a, b);
    }

    /// <summary>The term when the condition holds, else 0.</summary>
    public IntTerm<TX> Gate(BoolTerm<TL> c, IntTerm<TX> a, long? cap = null)
    {
        if (c.C is { } v) return v ? Cap(a, cap) : new(0);
        if (a.C == 0) return a;
        return GateX(c, a, cap);
    }

    /// <summary>The term with its upper bound lowered to a cap that holds for every solution the model keeps.</summary>
    public IntTerm<TX> Cap(IntTerm<TX> a, long? cap)
        => cap is not { } k || a.C is not null || a.Hi <= k ? a : CapX(a, k);

    /// <summary>A count that the cost model proves non-negative (it throws otherwise): its lower bound is raised to 0.</summary>
    public IntTerm<TX> NonNeg(IntTerm<TX> a) => a.C is not null || a.Lo >= 0 ? a : NonNegX(a);

    /// <summary>max(0, a).</summary>
    public IntTerm<TX> Max0(IntTerm<TX> a)
    {
        if (a.C is { } x) return new(Math.Max(0, x));
        if (a.Lo >= 0) return a;
        if (a.Hi <= 0) return new(0);
        return Max0X(a);
    }

    /// <summary>|a|.</summary>
    public IntTerm<TX> Abs(IntTerm<TX> a)
    {
        if (a.C is { } x) return new(Math.Abs(x));
        if (a.Lo >= 0) return a;
        return AbsX(a);
    }

    /// <summary>ceil(a / rate) for a rate that is an integer after scaling by a power of ten up to 10^6.</summary>
    public IntTerm<TX> Ceil(IntTerm<TX> a, double rate, string what)
    {
        long q = 1;
        while (q <= 1_000_000 && Math.Abs(rate * q - Math.Round(rate * q)) > 1e-9 * rate * q) q *= 10;
        if (q > 1_000_000) throw new ArgumentException($"The symbolic model needs bandwidths with at most 6 decimals; {what} has {rate}.");
        long rq = (long)Math.Round(rate * q);
        if (a.C is { } c) return new((c * q + rq - 1) / rq);
        return CeilX(a, q, rq, what);
    }

    /// <summary>The largest of the terms (at least one).</summary>
    public IntTerm<TX> Max(IReadOnlyList<IntTerm<TX>> terms, string name)
        => terms.All(t => t.C is not null) ? new(terms.Max(t => t.C!.Value)) : MaxX(terms, name);

    /// <summary>The smallest of the terms (at least one).</summary>
    public IntTerm<TX> MinOf(IReadOnlyList<IntTerm<TX>> terms, string name)
        => terms.All(t => t.C is not null) ? new(terms.Min(t => t.C!.Value)) : terms.Count == 1 ? terms[0] : MinX(terms, name);

    /// <summary>min(a, k): a cut at k, for any value of a (not a cap: larger values of a stay in the model).</summary>
    public IntTerm<TX> AtMost(IntTerm<TX> a, long k)
        => a.C is { } x ? new(Math.Min(x, k)) : a.Hi <= k ? a : a.Lo >= k ? new(k) : MinX([a, Const(k)], "");

    protected abstract IntTerm<TX> AddX(IntTerm<TX> a, IntTerm<TX> b);
    protected abstract IntTerm<TX> SubX(IntTerm<TX> a, IntTerm<TX> b);
    protected abstract IntTerm<TX> MulX(IntTerm<TX> a, IntTerm<TX> b, long? cap);
    protected abstract IntTerm<TX> ScaledX(IntTerm<TX> a, long k);
    protected abstract IntTerm<TX> IteX(BoolTerm<TL> c, IntTerm<TX> a, IntTerm<TX> b);
    protected abstract IntTerm<TX> GateX(BoolTerm<TL> c, IntTerm<TX> a, long? cap);
    protected abstract IntTerm<TX> CapX(IntTerm<TX> a, long cap);
    protected abstract IntTerm<TX> NonNegX(IntTerm<TX> a);
    protected abstract IntTerm<TX> Max0X(IntTerm<TX> a);
    protected abstract IntTerm<TX> AbsX(IntTerm<TX> a);
    /// <summary>The least v with rq x v &gt;= q x a.</summary>
    protected abstract IntTerm<TX> CeilX(IntTerm<TX> a, long q, long rq, string what);
    protected abstract IntTerm<TX> MaxX(IReadOnlyList<IntTerm<TX>> terms, string name);
    protected abstract IntTerm<TX> MinX(IReadOnlyList<IntTerm<TX>> terms, string name);

    // ---- Boolean terms ------------------------------------------------------------------------

    public BoolTerm<TL> Eq(IntTerm<TX> a, long v)
    {
        if (a.C is { } x) return Const(x == v);
        if (v < a.Lo || v > a.Hi) return False;
        return new(EqX(a, v));
    }

    /// <summary>A factor (at least 1) is 1, and is above 1: two literals, each the negation of the other.</summary>
    public (BoolTerm<TL> One, BoolTerm<TL> AboveOne) Unit(IntTerm<TX> a)
    {
        if (a.C is { } x) return (Const(x == 1), Const(x != 1));
        if (a.Hi <= 1) return (True, False);
        if (a.Lo > 1) return (False, True);
        var (one, above) = UnitX(a);
        return (new(one), new(above));
    }

    /// <summary>The factor is above 1 (factors are at least 1).</summary>
    public BoolTerm<TL> Gt1(IntTerm<TX> a) => Unit(a).AboveOne;

    public BoolTerm<TL> Not(BoolTerm<TL> a) => a.C is { } x ? Const(!x) : new(NotX(a.L!));

    public BoolTerm<TL> And(BoolTerm<TL> a, BoolTerm<TL> b) => All([a, b]);

    /// <summary>The conjunction; true when there are no operands.</summary>
    public BoolTerm<TL> All(IEnumerable<BoolTerm<TL>> operands)
    {
        var list = operands.ToList();
        if (list.Any(o => o.C == false)) return False;
        var lits = list.Where(o => o.C is null).Select(o => o.L!).ToList();
        return lits.Count switch { 0 => True, 1 => new(lits[0]), _ => new(AllX(lits)) };
    }

    /// <summary>The disjunction; false when there are no operands.</summary>
    public BoolTerm<TL> Any(IEnumerable<BoolTerm<TL>> operands)
    {
        var list = operands.ToList();
        if (list.Any(o => o.C == true)) return True;
        var lits = list.Where(o => o.C is null).Select(o => o.L!).ToList();
        return lits.Count switch { 0 => False, 1 => new(lits[0]), _ => new(AnyX(lits)) };
    }

    protected abstract TL EqX(IntTerm<TX> a, long v);
    /// <summary>a = 1 and a &gt; 1 for a factor.</summary>
    protected abstract (TL One, TL AboveOne) UnitX(IntTerm<TX> a);
    protected abstract TL NotX(TL a);
    protected abstract TL AllX(IReadOnlyList<TL> operands);
    protected abstract TL AnyX(IReadOnlyList<TL> operands);

    // ---- assertions ---------------------------------------------------------------------------

    /// <summary>
    /// Asserts every clause (a disjunction of terms), as one constraint named by <paramref name="tag"/> when it is given.
    /// A clause with a true constant holds; false constants drop out; a clause left empty is false.
    /// </summary>
    public void Require(Tag? tag, params BoolTerm<TL>[][] clauses)
    {
        var kept = clauses.Where(c => !c.Any(b => b.C == true)).Select(c => (IReadOnlyList<TL>)c.Where(b => b.C is null).Select(b => b.L!).ToList()).ToList();
        if (kept.Count > 0 || tag is not null) RequireX(tag, kept);
    }

    /// <summary>Asserts a &lt;= v, as one constraint named by <paramref name="tag"/> when it is given.</summary>
    public void RequireAtMost(Tag? tag, IntTerm<TX> a, long v)
    {
        if (a.C is { } x) { if (x > v || tag is not null) RequireX(tag, x > v ? [[]] : []); }
        else RequireAtMostX(tag, a, v);
    }

    /// <summary>a &lt;= b when the literal holds (a constant comparison that fails forbids the literal).</summary>
    public void EnforceAtMost(BoolTerm<TL> lit, IntTerm<TX> a, IntTerm<TX> b)
    {
        if (a.C is { } x && b.C is { } y)
        {
            if (x > y) Require(null, [Not(lit)]);
            return;
        }
        EnforceAtMostX(lit.L!, a, b);
    }

    protected abstract void RequireX(Tag? tag, IReadOnlyList<IReadOnlyList<TL>> clauses);
    protected abstract void RequireAtMostX(Tag? tag, IntTerm<TX> a, long v);
    protected abstract void EnforceAtMostX(TL lit, IntTerm<TX> a, IntTerm<TX> b);

    // ---- energies -----------------------------------------------------------------------------

    /// <summary>No energy.</summary>
    public abstract TE NoEnergy { get; }

    /// <summary>A count of words (or MACs) times an energy per word (pJ).</summary>
    public abstract TE Joules(IntTerm<TX> count, double pj);

    public abstract TE Plus(TE a, TE b);

    /// <summary>An energy per instance times the instances used.</summary>
    public abstract TE Times(IntTerm<TX> instances, TE perInstance);

    /// <summary>True when a count times this energy adds to the model's energy (false for 0, and for one a rounded-down scale makes 0).</summary>
    public abstract bool Weighs(double pj);

    /// <summary>A bound on a count whose energy at <paramref name="pj"/> per word is part of a kept mapping's energy; null when there is none.</summary>
    public abstract long? CountCap(double pj);

    /// <summary>An energy per word in model units, when the backend's energies are integer terms (CP-SAT); null otherwise.</summary>
    public virtual long? EnergyUnits(double pj) => null;

    /// <summary>energy &gt;= floor, the floor in model units (only for a backend whose <see cref="EnergyUnits"/> is not null).</summary>
    public virtual void RequireEnergyAtLeast(TE energy, IntTerm<TX> floor)
        => throw new NotSupportedException("This backend's energies are not integer terms.");
}
