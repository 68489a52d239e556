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

    /// <summary>The parameters that put a time limit on a check; none when <paramref name="timeout"/> is null.</summary>
    internal static Z3Params Timeout(Z3Context context, TimeSpan? timeout)
    {
        if (timeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "A timeout must not be negative.");
        // Z3 reads 0 as "no limit" and uint.MaxValue as "no limit", so a limit is at least 1 ms and below uint.MaxValue.
        var milliseconds = timeout is { } limit ? (uint)Math.Clamp(Math.Ceiling(limit.TotalMilliseconds), 1, uint.MaxValue - 1) : uint.MaxValue;
        var result = new Z3Params(context);
        try
        {
            result.Set("timeout", milliseconds);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

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
