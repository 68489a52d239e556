namespace Optimizer.Solvers.Z3;

/// <summary>A short-lived Z3 parameter set, released when disposed.</summary>
internal sealed class Z3Params : IDisposable
{
    private readonly Z3Context _context;

    /// <summary>Creates an empty parameter set.</summary>
    internal Z3Params(Z3Context context)
    {
        _context = context;
        Native = Z3Native.Z3_mk_params(context.Raw);
        context.ThrowIfError();
        Z3Native.Z3_params_inc_ref(context.Raw, Native);
    }

    /// <summary>The native parameter set.</summary>
    internal IntPtr Native { get; }

    /// <summary>Sets an unsigned integer parameter.</summary>
    internal void Set(string name, uint value)
    {
        Z3Native.Z3_params_set_uint(_context.Raw, Native, Symbol(name), value);
        _context.ThrowIfError();
    }

    /// <summary>Sets a Boolean parameter.</summary>
    internal void Set(string name, bool value)
    {
        Z3Native.Z3_params_set_bool(_context.Raw, Native, Symbol(name), value);
        _context.ThrowIfError();
    }

    /// <summary>Releases the parameter set, unless the context is already gone.</summary>
    public void Dispose()
    {
        if (!_context.Handle.IsClosed) Z3Native.Z3_params_dec_ref(_context.Raw, Native);
    }

    private IntPtr Symbol(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var symbol = Z3Native.Z3_mk_string_symbol(_context.Raw, name);
        _context.ThrowIfError();
        return symbol;
    }
}
