namespace Optimizer.Solvers.Z3;

/// <summary>One objective of a <see cref="Z3Optimizer"/>, used to read its bounds after a check.</summary>
public sealed class Z3Objective
{
    internal Z3Objective(Z3Optimizer owner, uint index)
    {
        Owner = owner;
        Index = index;
    }

    /// <summary>The optimizer that holds the objective.</summary>
    internal Z3Optimizer Owner { get; }

    /// <summary>Z3's index of the objective.</summary>
    internal uint Index { get; }
}

/// <summary>A Z3 optimizer (νZ): add constraints and objectives, check, then read values and objective bounds.</summary>
/// <remarks>
/// Objectives are minimized in the order they were added (lexicographically). Single-threaded like its context;
/// to stop a check from another thread call <see cref="Z3Context.Cancel"/>.
/// </remarks>
public sealed class Z3Optimizer : IDisposable
{
    private readonly Z3Context _context;
    private readonly IntPtr _optimize;
    private int _domainsAsserted;
    private Z3Status? _status;
    private Z3Model? _model;
    private bool _disposed;

    /// <summary>Creates an optimizer in <paramref name="context"/>; it asserts the bounds of the context's bounded variables.</summary>
    public Z3Optimizer(Z3Context context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _optimize = Z3Native.Z3_mk_optimize(context.Raw);
        context.ThrowIfError();
        context.Handle.Own(_optimize, Z3ObjectKind.Optimize);
    }

    /// <summary>Why the last check returned <see cref="Z3Status.Unknown"/> (for example "timeout" or "canceled"); null otherwise.</summary>
    public string? ReasonUnknown { get; private set; }

    /// <summary>Adds a constraint.</summary>
    public void Add(BoolExpr constraint)
    {
        var ast = _context.Operand(constraint, nameof(constraint));
        Z3Native.Z3_optimize_assert(Raw, _optimize, ast);
        _context.ThrowIfError();
    }

    /// <summary>Adds an integer objective to minimize.</summary>
    public Z3Objective Minimize(IntExpr objective) => AddObjective(objective);

    /// <summary>Adds a real objective to minimize.</summary>
    public Z3Objective Minimize(RealExpr objective) => AddObjective(objective);

    /// <summary>Checks and optimizes, giving up with <see cref="Z3Status.Unknown"/> after <paramref name="timeout"/> (no limit when null).</summary>
    /// <remarks>Sat means every objective reached a proven optimum.</remarks>
    public Z3Status Check(TimeSpan? timeout = null)
    {
        ThrowIfDisposed();
        Z3Context.CheckTimeout(timeout);
        AssertDomains();
        _model?.Dispose();
        _model = null;
        ReasonUnknown = null;
        _status = null;
        // The time limit is the context's watchdog, never Z3's "timeout" parameter: see Z3Context.Watchdog.
        using var watchdog = _context.Watchdog(timeout);
        var answer = Z3Native.Z3_optimize_check(_context.Handle, _optimize, 0, null);
        watchdog?.Dispose();
        _context.ThrowIfError();
        var status = answer switch { 1 => Z3Status.Sat, -1 => Z3Status.Unsat, _ => Z3Status.Unknown };
        if (status == Z3Status.Sat) _model = new Z3Model(_context, Z3Native.Z3_optimize_get_model(Raw, _optimize));
        if (status == Z3Status.Unknown) ReasonUnknown = Z3Context.Reason(Z3Native.Text(Z3Native.Z3_optimize_get_reason_unknown(Raw, _optimize)), watchdog);
        _status = status;
        return status;
    }

    /// <summary>The value of an integer term in the optimal model of the last check, which must have returned Sat.</summary>
    public long Value(IntExpr expr) => Model.Value(expr);

    /// <summary>The value of a Boolean term in the optimal model of the last check, which must have returned Sat.</summary>
    public bool Value(BoolExpr expr) => Model.Value(expr);

    /// <summary>The value of a real term in the optimal model of the last check, rounded to the nearest double.</summary>
    public double Value(RealExpr expr) => Model.Value(expr);

    /// <summary>The proven lower bound of an objective after a Sat or Unknown check; negative infinity when none is known.</summary>
    /// <remarks>An infinitesimal part (a strict bound on a real objective) is dropped.</remarks>
    public double Lower(Z3Objective objective) => Bound(objective, Z3Native.Z3_optimize_get_lower_as_vector);

    /// <summary>The best objective value found after a Sat or Unknown check; positive infinity when none was found.</summary>
    /// <remarks>An infinitesimal part (a strict bound on a real objective) is dropped.</remarks>
    public double Upper(Z3Objective objective) => Bound(objective, Z3Native.Z3_optimize_get_upper_as_vector);

    /// <summary>The optimizer's constraints and objectives in Z3's SMT-LIB 2 dialect (with minimize and check-sat commands).</summary>
    public string ToSmt2()
    {
        AssertDomains();
        var text = Z3Native.Text(Z3Native.Z3_optimize_to_string(Raw, _optimize));
        _context.ThrowIfError();
        return text;
    }

    /// <summary>Releases the native optimizer and its last model; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _model?.Dispose();
        _model = null;
        _context.Handle.Release(_optimize);
    }

    private IntPtr Raw
    {
        get
        {
            ThrowIfDisposed();
            return _context.Raw;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private Z3Model Model
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _model ?? throw new InvalidOperationException($"Values need a check that returned Sat; the last check returned {Z3Solver.Describe(_status)}.");
        }
    }

    private Z3Objective AddObjective(Z3Expr objective)
    {
        var ast = _context.Operand(objective, nameof(objective));
        var index = Z3Native.Z3_optimize_minimize(Raw, _optimize, ast);
        _context.ThrowIfError();
        return new Z3Objective(this, index);
    }

    private void AssertDomains()
    {
        for (; _domainsAsserted < _context.Domains.Count; _domainsAsserted++) Add(_context.Domains[_domainsAsserted]);
    }

    // Z3 gives a bound as the vector (coefficient of infinity, finite value, coefficient of epsilon).
    private double Bound(Z3Objective objective, Func<IntPtr, IntPtr, uint, IntPtr> get)
    {
        ArgumentNullException.ThrowIfNull(objective);
        if (!ReferenceEquals(objective.Owner, this)) throw new ArgumentException("The objective belongs to a different optimizer.", nameof(objective));
        if (_status is not (Z3Status.Sat or Z3Status.Unknown))
            throw new InvalidOperationException($"Objective bounds need a check that returned Sat or Unknown; the last check returned {Z3Solver.Describe(_status)}.");
        var vector = get(Raw, _optimize, objective.Index);
        _context.ThrowIfError();
        Z3Native.Z3_ast_vector_inc_ref(Raw, vector);
        try
        {
            var infinity = Z3Model.ToDouble(_context, Z3Native.Z3_ast_vector_get(Raw, vector, 0));
            if (infinity != 0) return infinity > 0 ? double.PositiveInfinity : double.NegativeInfinity;
            return Z3Model.ToDouble(_context, Z3Native.Z3_ast_vector_get(Raw, vector, 1));
        }
        finally
        {
            Z3Native.Z3_ast_vector_dec_ref(Raw, vector);
        }
    }
}
