namespace Optimizer.Solvers.Z3;

/// <summary>An immutable Boolean term: a constraint to add to a solver, or a condition.</summary>
/// <remarks><c>==</c> (if and only if) and <c>!=</c> (exclusive or) build terms; <see cref="Equals(object?)"/> is reference equality.</remarks>
public sealed class BoolExpr : Z3Expr
{
    internal BoolExpr(Z3Context context, IntPtr ast) : base(context, ast) { }

    /// <summary>Reference equality: true only for the same object, because <c>==</c> builds a constraint.</summary>
    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    /// <summary>A hash of the object's identity, consistent with <see cref="Equals(object?)"/>.</summary>
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);

    /// <summary>The constraint that this one implies <paramref name="consequence"/>.</summary>
    public BoolExpr Implies(BoolExpr consequence) => new(Context, Context.Binary(Z3Native.Z3_mk_implies, this, consequence));

    /// <summary>The conjunction of two terms.</summary>
    public static BoolExpr operator &(BoolExpr left, BoolExpr right) => new(ContextOf(left), ContextOf(left).Binary(And, left, right));

    /// <summary>The disjunction of two terms.</summary>
    public static BoolExpr operator |(BoolExpr left, BoolExpr right) => new(ContextOf(left), ContextOf(left).Binary(Or, left, right));

    /// <summary>The negation of a term.</summary>
    public static BoolExpr operator !(BoolExpr operand) => new(ContextOf(operand), ContextOf(operand).Unary(Z3Native.Z3_mk_not, operand));

    /// <summary>The constraint that both terms have the same value (if and only if).</summary>
    public static BoolExpr operator ==(BoolExpr left, BoolExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_eq, left, right));

    /// <summary>The constraint that the terms have different values (exclusive or).</summary>
    public static BoolExpr operator !=(BoolExpr left, BoolExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_xor, left, right));

    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> And = (c, l, r) => Z3Native.Z3_mk_and(c, 2, [l, r]);
    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Or = (c, l, r) => Z3Native.Z3_mk_or(c, 2, [l, r]);
}
