namespace Optimizer.Solvers.Z3;

/// <summary>An immutable real term; operators build terms and constraints, with <c>double</c> constants on either side.</summary>
/// <remarks><c>==</c> and <c>!=</c> build constraints; <see cref="Equals(object?)"/> is reference equality.</remarks>
public sealed class RealExpr : Z3Expr
{
    internal RealExpr(Z3Context context, IntPtr ast) : base(context, ast) { }

    /// <summary>Reference equality: true only for the same object, because <c>==</c> builds a constraint.</summary>
    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    /// <summary>A hash of the object's identity, consistent with <see cref="Equals(object?)"/>.</summary>
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);

    /// <summary>The sum of two terms.</summary>
    public static RealExpr operator +(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Add, left, right));

    /// <summary>The sum of a term and a constant.</summary>
    public static RealExpr operator +(RealExpr left, double right) => left + ContextOf(left).Real(right);

    /// <summary>The sum of a constant and a term.</summary>
    public static RealExpr operator +(double left, RealExpr right) => ContextOf(right).Real(left) + right;

    /// <summary>The difference of two terms.</summary>
    public static RealExpr operator -(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Sub, left, right));

    /// <summary>The difference of a term and a constant.</summary>
    public static RealExpr operator -(RealExpr left, double right) => left - ContextOf(left).Real(right);

    /// <summary>The difference of a constant and a term.</summary>
    public static RealExpr operator -(double left, RealExpr right) => ContextOf(right).Real(left) - right;

    /// <summary>The product of two terms.</summary>
    public static RealExpr operator *(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Mul, left, right));

    /// <summary>The product of a term and a constant.</summary>
    public static RealExpr operator *(RealExpr left, double right) => left * ContextOf(left).Real(right);

    /// <summary>The product of a constant and a term.</summary>
    public static RealExpr operator *(double left, RealExpr right) => ContextOf(right).Real(left) * right;

    /// <summary>The negation of a term.</summary>
    public static RealExpr operator -(RealExpr operand) => new(ContextOf(operand), ContextOf(operand).Unary(Z3Native.Z3_mk_unary_minus, operand));

    /// <summary>The constraint that the left term is less than the right term.</summary>
    public static BoolExpr operator <(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_lt, left, right));

    /// <summary>The constraint that the term is less than the constant.</summary>
    public static BoolExpr operator <(RealExpr left, double right) => left < ContextOf(left).Real(right);

    /// <summary>The constraint that the constant is less than the term.</summary>
    public static BoolExpr operator <(double left, RealExpr right) => ContextOf(right).Real(left) < right;

    /// <summary>The constraint that the left term is at most the right term.</summary>
    public static BoolExpr operator <=(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_le, left, right));

    /// <summary>The constraint that the term is at most the constant.</summary>
    public static BoolExpr operator <=(RealExpr left, double right) => left <= ContextOf(left).Real(right);

    /// <summary>The constraint that the constant is at most the term.</summary>
    public static BoolExpr operator <=(double left, RealExpr right) => ContextOf(right).Real(left) <= right;

    /// <summary>The constraint that the left term is greater than the right term.</summary>
    public static BoolExpr operator >(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_gt, left, right));

    /// <summary>The constraint that the term is greater than the constant.</summary>
    public static BoolExpr operator >(RealExpr left, double right) => left > ContextOf(left).Real(right);

    /// <summary>The constraint that the constant is greater than the term.</summary>
    public static BoolExpr operator >(double left, RealExpr right) => ContextOf(right).Real(left) > right;

    /// <summary>The constraint that the left term is at least the right term.</summary>
    public static BoolExpr operator >=(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_ge, left, right));

    /// <summary>The constraint that the term is at least the constant.</summary>
    public static BoolExpr operator >=(RealExpr left, double right) => left >= ContextOf(left).Real(right);

    /// <summary>The constraint that the constant is at least the term.</summary>
    public static BoolExpr operator >=(double left, RealExpr right) => ContextOf(right).Real(left) >= right;

    /// <summary>The constraint that the left term is equal to the right term.</summary>
    public static BoolExpr operator ==(RealExpr left, RealExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_eq, left, right));

    /// <summary>The constraint that the term is equal to the constant.</summary>
    public static BoolExpr operator ==(RealExpr left, double right) => left == ContextOf(left).Real(right);

    /// <summary>The constraint that the constant is equal to the term.</summary>
    public static BoolExpr operator ==(double left, RealExpr right) => ContextOf(right).Real(left) == right;

    /// <summary>The constraint that the left term is different from the right term.</summary>
    public static BoolExpr operator !=(RealExpr left, RealExpr right) => !(left == right);

    /// <summary>The constraint that the term is different from the constant.</summary>
    public static BoolExpr operator !=(RealExpr left, double right) => !(left == right);

    /// <summary>The constraint that the constant is different from the term.</summary>
    public static BoolExpr operator !=(double left, RealExpr right) => !(left == right);

    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Add = (c, l, r) => Z3Native.Z3_mk_add(c, 2, [l, r]);
    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Sub = (c, l, r) => Z3Native.Z3_mk_sub(c, 2, [l, r]);
    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Mul = (c, l, r) => Z3Native.Z3_mk_mul(c, 2, [l, r]);
}
