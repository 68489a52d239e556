using System.Runtime.InteropServices;

namespace Optimizer.Solvers.Z3;

/// <summary>The kinds of reference-counted Z3 objects, other than terms, that a context owns.</summary>
internal enum Z3ObjectKind { Solver, Optimize, Model }

/// <summary>A reference-counted Z3 context and every native object the binding took a reference on in it.</summary>
/// <remarks>
/// Terms are counted once when wrapped and released together when the context is released, so an expression
/// never outlives its native term. Solvers, optimizers and models are released early by their owner's Dispose,
/// or here if their owner was never disposed. Nothing else has a finalizer, so no native call ever runs on the
/// finalizer thread while the context is still in use.
/// </remarks>
internal sealed class Z3ContextHandle : SafeHandle
{
    private readonly List<IntPtr> _terms = [];
    private readonly Dictionary<IntPtr, Z3ObjectKind> _objects = [];

    private Z3ContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Creates a context whose errors are recorded rather than fatal.</summary>
    internal static Z3ContextHandle Create()
    {
        Z3Native.EnsureLoaded();
        var config = Z3Native.Z3_mk_config();
        var result = new Z3ContextHandle();
        try
        {
            result.SetHandle(Z3Native.Z3_mk_context_rc(config));
        }
        finally
        {
            Z3Native.Z3_del_config(config);
        }
        if (result.IsInvalid) throw new Z3Exception("Z3_mk_context_rc returned no context.");
        Z3Native.InstallErrorHandler(result.handle);
        return result;
    }

    /// <summary>Takes a reference on a term for the lifetime of the context.</summary>
    internal void OwnTerm(IntPtr term)
    {
        Z3Native.Z3_inc_ref(handle, term);
        _terms.Add(term);
    }

    /// <summary>Takes a reference on a solver, optimizer or model until <see cref="Release"/> or the end of the context.</summary>
    internal void Own(IntPtr obj, Z3ObjectKind kind)
    {
        switch (kind)
        {
            case Z3ObjectKind.Solver: Z3Native.Z3_solver_inc_ref(handle, obj); break;
            case Z3ObjectKind.Optimize: Z3Native.Z3_optimize_inc_ref(handle, obj); break;
            case Z3ObjectKind.Model: Z3Native.Z3_model_inc_ref(handle, obj); break;
        }
        _objects.Add(obj, kind);
    }

    /// <summary>Drops the reference taken by <see cref="Own"/>; does nothing once the context is closed.</summary>
    internal void Release(IntPtr obj)
    {
        if (IsClosed || !_objects.Remove(obj, out var kind)) return;
        DecRef(obj, kind);
    }

    private void DecRef(IntPtr obj, Z3ObjectKind kind)
    {
        switch (kind)
        {
            case Z3ObjectKind.Solver: Z3Native.Z3_solver_dec_ref(handle, obj); break;
            case Z3ObjectKind.Optimize: Z3Native.Z3_optimize_dec_ref(handle, obj); break;
            case Z3ObjectKind.Model: Z3Native.Z3_model_dec_ref(handle, obj); break;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        foreach (var (obj, kind) in _objects) DecRef(obj, kind);
        _objects.Clear();
        foreach (var term in _terms) Z3Native.Z3_dec_ref(handle, term);
        _terms.Clear();
        Z3Native.Z3_del_context(handle);
        return true;
    }
}
