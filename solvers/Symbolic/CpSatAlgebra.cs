using Google.OrTools.Sat;
using Google.OrTools.Util;

namespace Optimizer.Solvers.Symbolic;

/// <summary>
/// The algebra in CP-SAT (a Google OR-Tools <see cref="CpModel"/>): every non-constant term is a linear expression with
/// bounds that contain its values; a product of two non-constant terms is a new variable with a multiplication
/// constraint, its bounds the interval product clipped to its cap; maxima are <c>AddMaxEquality</c>, <c>|x|</c>
/// <c>AddAbsEquality</c>, if-then-else an enforced equality per branch. Energies are integers: pJ times
/// <see cref="Scale"/>, rounded down when the scale is not exact (docs/cpsat.md, "Scaling energies to integers").
/// The caps (in model units) bound every cost term for the mappings the model keeps, which keeps the 64-bit arithmetic safe.
/// </summary>
internal sealed class CpSatAlgebra : Algebra<LinearExpr, ILiteral, IntTerm<LinearExpr>>
{
    /// <summary>Largest magnitude any term may reach; a product that could exceed it is refused (CP-SAT's arithmetic is 64-bit).</summary>
    internal const long Limit = 1L << 61;

    private readonly string _what;

    /// <summary>The model the terms are stated in.</summary>
    public CpModel Model { get; }

    /// <summary>Energies are multiplied by this integer (a power of ten) in the model.</summary>
    public long Scale { get; }

    /// <summary>True when every energy coefficient times <see cref="Scale"/> is an integer, so the scaled energy is exact; otherwise each is rounded down.</summary>
    public bool ExactScale { get; }

    /// <summary>Caps in model units (scaled pJ, cycles, scaled pJ x cycles); null where there is none.</summary>
    public long? EnergyCap { get; set; }
    public long? CycleCap { get; set; }

    /// <param name="what">The layer and architecture, for the refusal of a product beyond 64 bits.</param>
    public CpSatAlgebra(CpModel model, long scale, bool exactScale, string what)
    {
        Model = model;
        Scale = scale;
        ExactScale = exactScale;
        _what = what;
    }

    /// <summary>A coefficient in model units: the energy times the scale, rounded to the integer when exact, down otherwise.</summary>
    public long Coef(double pj) => ExactScale ? (long)Math.Round(pj * Scale) : (long)Math.Floor(pj * Scale);

    private static long SatMul(long a, long b)
    {
        double x = (double)a * b;
        if (x >= Limit) return Limit;
        if (x <= -Limit) return -Limit;
        return a * b;
    }

    private static long SatAdd(long a, long b) => Math.Clamp(a + (double)b, -Limit, Limit) is var x && Math.Abs(x) >= Limit ? (long)x : a + b;

    /// <summary>A new variable in [lo, hi] equal to the expression.</summary>
    private IntTerm<LinearExpr> Fresh(long lo, long hi, string name = "")
        => new(Model.NewIntVar(lo, hi, name), lo, hi);

    protected override LinearExpr Lift(long c) => LinearExpr.Constant(c);

    public override IntTerm<LinearExpr> Choice(string name, int count) => Fresh(0, count - 1, name);

    public override IntTerm<LinearExpr> Element(IntTerm<LinearExpr> choice, long[] values, long[] distinct, string name)
    {
        var v = Model.NewIntVarFromDomain(Domain.FromValues(distinct), name);
        Model.AddElement((IntVar)choice.X!, values, v);
        return new(v, distinct[0], distinct[^1]);
    }

    public override IntTerm<LinearExpr> Factor(string name, long[] divisors)
        => new(Model.NewIntVarFromDomain(Domain.FromValues(divisors), name), divisors[0], divisors[^1]);

    public override BoolTerm<ILiteral> NewBool(string name) => new(Model.NewBoolVar(name));

    protected override IntTerm<LinearExpr> AddX(IntTerm<LinearExpr> a, IntTerm<LinearExpr> b) => new(Ex(a) + Ex(b), SatAdd(a.Lo, b.Lo), SatAdd(a.Hi, b.Hi));

    protected override IntTerm<LinearExpr> SubX(IntTerm<LinearExpr> a, IntTerm<LinearExpr> b) => new(Ex(a) - Ex(b), SatAdd(a.Lo, -b.Hi), SatAdd(a.Hi, -b.Lo));

    /// <summary>A new variable with a multiplication constraint, its bounds the interval product (clipped to <paramref name="cap"/>).</summary>
    protected override IntTerm<LinearExpr> MulX(IntTerm<LinearExpr> a, IntTerm<LinearExpr> b, long? cap)
    {
        var c = new[] { SatMul(a.Lo, b.Lo), SatMul(a.Lo, b.Hi), SatMul(a.Hi, b.Lo), SatMul(a.Hi, b.Hi) };
        long lo = c.Min(), hi = c.Max();
        if (cap is { } k && hi > k) hi = Math.Max(lo, k);
        if (Math.Abs((double)Math.Max(Math.Abs(a.Lo), Math.Abs(a.Hi)) * Math.Max(Math.Abs(b.Lo), Math.Abs(b.Hi))) >= (double)long.MaxValue / 2)
            throw new ArgumentException($"The CP-SAT model of {_what} has a product of terms up to {Math.Max(Math.Abs(a.Lo), a.Hi)} and {Math.Max(Math.Abs(b.Lo), b.Hi)}, beyond CP-SAT's 64-bit arithmetic.");
        var v = Fresh(lo, hi);
        Model.AddMultiplicationEquality(v.X!, a.X!, b.X!);
        return v;
    }

    protected override IntTerm<LinearExpr> ScaledX(IntTerm<LinearExpr> a, long k)
    {
        long x = SatMul(a.Lo, k), y = SatMul(a.Hi, k);
        return new(LinearExpr.Term(a.X!, k), Math.Min(x, y), Math.Max(x, y));
    }

    protected override IntTerm<LinearExpr> IteX(BoolTerm<ILiteral> c, IntTerm<LinearExpr> a, IntTerm<LinearExpr> b)
    {
        var r = Fresh(Math.Min(a.Lo, b.Lo), Math.Max(a.Hi, b.Hi));
        Model.Add(r.X! == Ex(a)).OnlyEnforceIf(c.L!);
        Model.Add(r.X! == Ex(b)).OnlyEnforceIf(c.L!.Not());
        return r;
    }

    protected override IntTerm<LinearExpr> GateX(BoolTerm<ILiteral> c, IntTerm<LinearExpr> a, long? cap)
    {
        long lo = Math.Min(a.Lo, 0), hi = Math.Max(a.Hi, 0);
        if (cap is { } k && hi > k) hi = Math.Max(lo, k);
        var r = Fresh(lo, hi);
        Model.Add(r.X! == Ex(a)).OnlyEnforceIf(c.L!);
        Model.Add(r.X! == 0).OnlyEnforceIf(c.L!.Not());
        return r;
    }

    protected override IntTerm<LinearExpr> CapX(IntTerm<LinearExpr> a, long cap)
    {
        var v = Fresh(Math.Min(a.Lo, cap), cap);
        Model.Add(v.X! == a.X!);
        return v;
    }

    protected override IntTerm<LinearExpr> NonNegX(IntTerm<LinearExpr> a)
    {
        var v = Fresh(0, Math.Max(0, a.Hi));
        Model.Add(v.X! == a.X!);
        return v;
    }

    protected override IntTerm<LinearExpr> Max0X(IntTerm<LinearExpr> a)
    {
        var v = Fresh(0, a.Hi);
        Model.AddMaxEquality(v.X!, [a.X!, LinearExpr.Constant(0)]);
        return v;
    }

    protected override IntTerm<LinearExpr> AbsX(IntTerm<LinearExpr> a)
    {
        if (a.Hi <= 0) return new(-a.X!, -a.Hi, -a.Lo);
        var v = Fresh(0, Math.Max(Math.Abs(a.Lo), Math.Abs(a.Hi)));
        Model.AddAbsEquality(v.X!, a.X!);
        return v;
    }

    /// <summary>rq x v &gt;= q x a and rq x (v - 1) &lt; q x a: v is the least integer at or above a / rate (capped by the cycle cap).</summary>
    protected override IntTerm<LinearExpr> CeilX(IntTerm<LinearExpr> a, long q, long rq, string what)
    {
        long hi = Math.Max(0, (Mul(a, Const(q)).Hi + rq - 1) / rq);
        long lo = Math.Max(0, a.Lo) * q / rq;
        if (CycleCap is { } cc) hi = Math.Min(hi, cc);
        var v = Fresh(lo, Math.Max(lo, hi), $"ceil_{what}");
        Model.Add(LinearExpr.Term(v.X!, rq) >= LinearExpr.Term(a.X!, q));
        Model.Add(LinearExpr.Term(v.X!, rq) - rq < LinearExpr.Term(a.X!, q));
        return v;
    }

    protected override IntTerm<LinearExpr> MinX(IReadOnlyList<IntTerm<LinearExpr>> terms, string name)
    {
        long lo = terms.Min(b => b.Lo), hi = terms.Min(b => b.Hi);
        var v = Fresh(lo, hi, name);
        Model.AddMinEquality(v.X!, terms.Select(Ex));
        return v;
    }

    protected override IntTerm<LinearExpr> MaxX(IReadOnlyList<IntTerm<LinearExpr>> terms, string name)
    {
        long lo = terms.Max(b => b.Lo), hi = terms.Max(b => b.Hi);
        if (CycleCap is { } cc) hi = Math.Min(hi, cc);
        var v = Fresh(lo, Math.Max(lo, hi), name);
        Model.AddMaxEquality(v.X!, terms.Select(Ex));
        return v;
    }

    protected override ILiteral EqX(IntTerm<LinearExpr> a, long v)
    {
        var b = Model.NewBoolVar("");
        Model.Add(a.X! == v).OnlyEnforceIf(b);
        Model.Add(a.X! != v).OnlyEnforceIf(b.Not());
        return b;
    }

    protected override (ILiteral One, ILiteral AboveOne) UnitX(IntTerm<LinearExpr> a)
    {
        var one = EqX(a, 1);
        return (one, one.Not());
    }

    protected override ILiteral NotX(ILiteral a) => a.Not();

    protected override ILiteral AllX(IReadOnlyList<ILiteral> operands)
    {
        var x = Model.NewBoolVar("");
        Model.AddBoolAnd(operands).OnlyEnforceIf(x);
        Model.AddBoolOr(operands.Select(o => o.Not())).OnlyEnforceIf(x.Not());
        return x;
    }

    protected override ILiteral AnyX(IReadOnlyList<ILiteral> operands)
    {
        var x = Model.NewBoolVar("");
        Model.AddBoolOr(operands).OnlyEnforceIf(x);
        Model.AddBoolAnd(operands.Select(o => o.Not())).OnlyEnforceIf(x.Not());
        return x;
    }

    protected override void RequireX(Tag? tag, IReadOnlyList<IReadOnlyList<ILiteral>> clauses)
    {
        foreach (var c in clauses)
            if (c.Count == 0) Model.Add(LinearExpr.Constant(0) == 1);
            else Model.AddBoolOr(c);
    }

    protected override void RequireAtMostX(Tag? tag, IntTerm<LinearExpr> a, long v) => Model.Add(a.X! <= v);

    protected override void EnforceAtMostX(ILiteral lit, IntTerm<LinearExpr> a, IntTerm<LinearExpr> b) => Model.Add(Ex(a) <= Ex(b)).OnlyEnforceIf(lit);

    public override IntTerm<LinearExpr> NoEnergy => Const(0);

    public override IntTerm<LinearExpr> Joules(IntTerm<LinearExpr> count, double pj) => Scaled(count, Coef(pj));

    public override IntTerm<LinearExpr> Plus(IntTerm<LinearExpr> a, IntTerm<LinearExpr> b) => Add(a, b);

    public override IntTerm<LinearExpr> Times(IntTerm<LinearExpr> instances, IntTerm<LinearExpr> perInstance) => Mul(instances, perInstance, EnergyCap);

    public override bool Weighs(double pj) => Coef(pj) > 0;

    public override long? CountCap(double pj) => EnergyCap is { } cap && Coef(pj) is var k && k > 0 ? cap / k : null;

    public override long? EnergyUnits(double pj) => Coef(pj);

    public override void RequireEnergyAtLeast(IntTerm<LinearExpr> energy, IntTerm<LinearExpr> floor)
    {
        EnergyFloor = floor;
        if (energy.C is { } e && floor.C is { } f) { if (e < f) Model.Add(LinearExpr.Constant(0) == 1); return; }
        Model.Add(Ex(energy) >= Ex(floor));
    }

    /// <summary>
    /// The floor <see cref="RequireEnergyAtLeast"/> stated, if any: CP-SAT's search bounds an objective that is a sum by
    /// its terms' bounds alone, so an objective that should see the floor must be a variable at least both
    /// (<see cref="CpSat.CpSatEncoding"/>).
    /// </summary>
    public IntTerm<LinearExpr>? EnergyFloor { get; private set; }
}
