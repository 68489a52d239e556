namespace Optimizer.Solvers.Z3;

/// <summary>An immutable integer term; operators build terms and constraints, with <c>long</c> constants on either side.</summary>
/// <remarks><c>==</c> and <c>!=</c> build constraints; <see cref="Equals(object?)"/> is reference equality.</remarks>
public sealed class IntExpr : Z3Expr
{
    internal IntExpr(Z3Context context, IntPtr ast) : base(context, ast) { }

    /// <summary>Reference equality: true only for the same object, because <c>==</c> builds a constraint.</summary>
    public override bool Equals(object? obj) => ReferenceEquals(this, obj);

    /// <summary>A hash of the object's identity, consistent with <see cref="Equals(object?)"/>.</summary>
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);

    /// <summary>The same value as a real term.</summary>
    public RealExpr ToReal() => new(Context, Context.Unary(Z3Native.Z3_mk_int2real, this));

    /// <summary>The sum of two terms.</summary>
    public static IntExpr operator +(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Add, left, right));

    /// <summary>The sum of a term and a constant.</summary>
    public static IntExpr operator +(IntExpr left, long right) => left + ContextOf(left).Int(right);

    /// <summary>The sum of a constant and a term.</summary>
    public static IntExpr operator +(long left, IntExpr right) => ContextOf(right).Int(left) + right;

    /// <summary>The difference of two terms.</summary>
    public static IntExpr operator -(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Sub, left, right));

    /// <summary>The difference of a term and a constant.</summary>
    public static IntExpr operator -(IntExpr left, long right) => left - ContextOf(left).Int(right);

    /// <summary>The difference of a constant and a term.</summary>
    public static IntExpr operator -(long left, IntExpr right) => ContextOf(right).Int(left) - right;

    /// <summary>The product of two terms.</summary>
    public static IntExpr operator *(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Mul, left, right));

    /// <summary>The product of a term and a constant.</summary>
    public static IntExpr operator *(IntExpr left, long right) => left * ContextOf(left).Int(right);

    /// <summary>The product of a constant and a term.</summary>
    public static IntExpr operator *(long left, IntExpr right) => ContextOf(right).Int(left) * right;

    /// <summary>The negation of a term.</summary>
    public static IntExpr operator -(IntExpr operand) => new(ContextOf(operand), ContextOf(operand).Unary(Z3Native.Z3_mk_unary_minus, operand));

    /// <summary>The constraint that the left term is less than the right term.</summary>
    public static BoolExpr operator <(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_lt, left, right));

    /// <summary>The constraint that the term is less than the constant.</summary>
    public static BoolExpr operator <(IntExpr left, long right) => left < ContextOf(left).Int(right);

    /// <summary>The constraint that the constant is less than the term.</summary>
    public static BoolExpr operator <(long left, IntExpr right) => ContextOf(right).Int(left) < right;

    /// <summary>The constraint that the left term is at most the right term.</summary>
    public static BoolExpr operator <=(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_le, left, right));

    /// <summary>The constraint that the term is at most the constant.</summary>
    public static BoolExpr operator <=(IntExpr left, long right) => left <= ContextOf(left).Int(right);

    /// <summary>The constraint that the constant is at most the term.</summary>
    public static BoolExpr operator <=(long left, IntExpr right) => ContextOf(right).Int(left) <= right;

    /// <summary>The constraint that the left term is greater than the right term.</summary>
    public static BoolExpr operator >(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_gt, left, right));

    /// <summary>The constraint that the term is greater than the constant.</summary>
    public static BoolExpr operator >(IntExpr left, long right) => left > ContextOf(left).Int(right);

    /// <summary>The constraint that the constant is greater than the term.</summary>
    public static BoolExpr operator >(long left, IntExpr right) => ContextOf(right).Int(left) > right;

    /// <summary>The constraint that the left term is at least the right term.</summary>
    public static BoolExpr operator >=(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_ge, left, right));

    /// <summary>The constraint that the term is at least the constant.</summary>
    public static BoolExpr operator >=(IntExpr left, long right) => left >= ContextOf(left).Int(right);

    /// <summary>The constraint that the constant is at least the term.</summary>
    public static BoolExpr operator >=(long left, IntExpr right) => ContextOf(right).Int(left) >= right;

    /// <summary>The constraint that the left term is equal to the right term.</summary>
    public static BoolExpr operator ==(IntExpr left, IntExpr right) => new(ContextOf(left), ContextOf(left).Binary(Z3Native.Z3_mk_eq, left, right));

    /// <summary>The constraint that the term is equal to the constant.</summary>
    public static BoolExpr operator ==(IntExpr left, long right) => left == ContextOf(left).Int(right);

    /// <summary>The constraint that the constant is equal to the term.</summary>
    public static BoolExpr operator ==(long left, IntExpr right) => ContextOf(right).Int(left) == right;

    /// <summary>The constraint that the left term is different from the right term.</summary>
    public static BoolExpr operator !=(IntExpr left, IntExpr right) => !(left == right);

    /// <summary>The constraint that the term is different from the constant.</summary>
    public static BoolExpr operator !=(IntExpr left, long right) => !(left == right);

    /// <summary>The constraint that the constant is different from the term.</summary>
    public static BoolExpr operator !=(long left, IntExpr right) => !(left == right);

    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Add = (c, l, r) => Z3Native.Z3_mk_add(c, 2, [l, r]);
    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Sub = (c, l, r) => Z3Native.Z3_mk_sub(c, 2, [l, r]);
    private static readonly Func<IntPtr, IntPtr, IntPtr, IntPtr> Mul = (c, l, r) => Z3Native.Z3_mk_mul(c, 2, [l, r]);
}
