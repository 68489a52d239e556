using System.Globalization;

namespace Optimizer.Solvers.Z3;

/// <summary>A model returned by a check, from which values are read; the context owns it until <see cref="Dispose"/>.</summary>
internal sealed class Z3Model : IDisposable
{
    private readonly Z3Context _context;
    private readonly IntPtr _model;

    /// <summary>Takes a reference on a model just returned by Z3.</summary>
    internal Z3Model(Z3Context context, IntPtr model)
    {
        context.ThrowIfError();
        if (model == IntPtr.Zero) throw new Z3Exception("Z3 returned no model.");
        _context = context;
        _model = model;
        context.Handle.Own(model, Z3ObjectKind.Model);
    }

    /// <summary>The value of an integer term; throws <see cref="OverflowException"/> beyond the range of <c>long</c>.</summary>
    internal long Value(IntExpr expr)
    {
        var (fits, result) = Evaluate(expr, value => (Z3Native.Z3_get_numeral_int64(_context.Raw, value, out var number), number));
        return fits ? result : throw new OverflowException($"The value of {expr} does not fit in a long.");
    }

    /// <summary>The value of a Boolean term.</summary>
    internal bool Value(BoolExpr expr) => Evaluate(expr, value => Z3Native.Z3_get_bool_value(_context.Raw, value)) switch
    {
        1 => true,
        -1 => false,
        _ => throw new Z3Exception($"The model gives no Boolean value to {expr}."),
    };

    /// <summary>The value of a real term, rounded to the nearest double.</summary>
    internal double Value(RealExpr expr) => Evaluate(expr, value => ToDouble(_context, value));

    /// <summary>A numeral (rational or algebraic) as the nearest double.</summary>
    internal static double ToDouble(Z3Context context, IntPtr numeral)
    {
        var text = Z3Native.Text(Z3Native.Z3_get_numeral_decimal_string(context.Raw, numeral, 20));
        context.ThrowIfError();
        return double.Parse(text.TrimEnd('?'), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>Drops the context's reference on the model.</summary>
    public void Dispose() => _context.Handle.Release(_model);

    // Evaluates a term with model completion and reads the value while holding a reference on it.
    private T Evaluate<T>(Z3Expr expr, Func<IntPtr, T> read)
    {
        var ast = _context.Operand(expr, nameof(expr));
        if (!Z3Native.Z3_model_eval(_context.Raw, _model, ast, completion: true, out var value) || value == IntPtr.Zero)
        {
            _context.ThrowIfError();
            throw new Z3Exception($"The model cannot evaluate {expr}.");
        }
        Z3Native.Z3_inc_ref(_context.Raw, value);
        try
        {
            return read(value);
        }
        finally
        {
            Z3Native.Z3_dec_ref(_context.Raw, value);
        }
    }
}
