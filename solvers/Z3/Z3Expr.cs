using System.Runtime.CompilerServices;

namespace Optimizer.Solvers.Z3;

/// <summary>An immutable Z3 term of a <see cref="Z3Context"/>.</summary>
/// <remarks>
/// The operators <c>==</c> and <c>!=</c> of the derived types build constraints (they return a <see cref="BoolExpr"/>),
/// so <see cref="Equals(object?)"/> and <see cref="GetHashCode"/> keep reference semantics: two expressions are equal
/// only when they are the same object. Test for null with <c>is null</c>.
/// </remarks>
public abstract class Z3Expr
{
    private protected Z3Expr(Z3Context context, IntPtr ast)
    {
        Context = context;
        Ast = ast;
    }

    /// <summary>The context the term belongs to.</summary>
    internal Z3Context Context { get; }

    /// <summary>The native term, kept alive by the context.</summary>
    internal IntPtr Ast { get; }

    /// <summary>The context of an operand; throws <see cref="ArgumentNullException"/> for null.</summary>
    private protected static Z3Context ContextOf(Z3Expr? operand, [CallerArgumentExpression(nameof(operand))] string? name = null) =>
        operand?.Context ?? throw new ArgumentNullException(name);

    /// <summary>The term in SMT-LIB 2 syntax.</summary>
    public override string ToString() => Z3Native.Text(Z3Native.Z3_ast_to_string(Context.Raw, Ast));
}
