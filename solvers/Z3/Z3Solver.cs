namespace Optimizer.Solvers.Z3;

/// <summary>A Z3 satisfiability solver: add constraints, check, then read values or an unsat core.</summary>
/// <remarks>
/// Single-threaded like its context; to stop a check from another thread call <see cref="Z3Context.Cancel"/>.
/// Values, the unsat core and the reason are those of the last <see cref="Check"/>.
/// </remarks>
public sealed class Z3Solver : IDisposable
{
    private readonly Z3Context _context;
    private readonly IntPtr _solver;
    private readonly List<BoolExpr> _assertions = [];
    private readonly Dictionary<IntPtr, string> _trackingNames = [];
    private readonly List<string> _trackingOrder = [];
    private int _domainsAsserted;
    private Z3Status? _status;
    private Z3Model? _model;
    private bool _disposed;

    /// <summary>Creates a solver in <paramref name="context"/>; it asserts the bounds of the context's bounded variables.</summary>
    public Z3Solver(Z3Context context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _solver = Z3Native.Z3_mk_solver(context.Raw);
        context.ThrowIfError();
        context.Handle.Own(_solver, Z3ObjectKind.Solver);
    }

    /// <summary>Why the last check returned <see cref="Z3Status.Unknown"/> (for example "timeout" or "canceled"); null otherwise.</summary>
    public string? ReasonUnknown { get; private set; }

    /// <summary>Adds a constraint.</summary>
    public void Add(BoolExpr constraint)
    {
        var ast = _context.Operand(constraint, nameof(constraint));
        Z3Native.Z3_solver_assert(Raw, _solver, ast);
        _context.ThrowIfError();
        _assertions.Add(constraint);
    }

    /// <summary>Adds a constraint that is reported under <paramref name="trackingName"/> when it belongs to an unsat core.</summary>
    /// <remarks>The tracking literal is a Boolean constant of that name, so the name must be unused in the context.</remarks>
    public void Add(BoolExpr constraint, string trackingName)
    {
        var ast = _context.Operand(constraint, nameof(constraint));
        var literal = _context.BoolVar(trackingName);
        Z3Native.Z3_solver_assert_and_track(Raw, _solver, ast, literal.Ast);
        _context.ThrowIfError();
        _assertions.Add(constraint);
        _trackingNames.Add(literal.Ast, trackingName);
        _trackingOrder.Add(trackingName);
    }

    /// <summary>Sets a Z3 solver parameter (such as "random_seed"); an unknown name raises <see cref="Z3Exception"/>.</summary>
    public void SetParameter(string name, uint value)
    {
        using var parameters = new Z3Params(_context);
        parameters.Set(name, value);
        Validate(parameters);
        Apply(parameters);
    }

    /// <summary>Sets a Z3 solver parameter (such as "unsat_core"); an unknown name raises <see cref="Z3Exception"/>.</summary>
    public void SetParameter(string name, bool value)
    {
        using var parameters = new Z3Params(_context);
        parameters.Set(name, value);
        Validate(parameters);
        Apply(parameters);
    }

    /// <summary>Checks the constraints, giving up with <see cref="Z3Status.Unknown"/> after <paramref name="timeout"/> (no limit when null).</summary>
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
        var answer = Z3Native.Z3_solver_check(_context.Handle, _solver);
        watchdog?.Dispose();
        _context.ThrowIfError();
        var status = answer switch { 1 => Z3Status.Sat, -1 => Z3Status.Unsat, _ => Z3Status.Unknown };
        if (status == Z3Status.Sat) _model = new Z3Model(_context, Z3Native.Z3_solver_get_model(Raw, _solver));
        if (status == Z3Status.Unknown) ReasonUnknown = Z3Context.Reason(Z3Native.Text(Z3Native.Z3_solver_get_reason_unknown(Raw, _solver)), watchdog);
        _status = status;
        return status;
    }

    /// <summary>The value of an integer term in the model of the last check, which must have returned Sat.</summary>
    public long Value(IntExpr expr) => Model.Value(expr);

    /// <summary>The value of a Boolean term in the model of the last check, which must have returned Sat.</summary>
    public bool Value(BoolExpr expr) => Model.Value(expr);

    /// <summary>The value of a real term in the model of the last check, rounded to the nearest double.</summary>
    public double Value(RealExpr expr) => Model.Value(expr);

    /// <summary>The tracking names of the constraints in the unsat core of the last check, which must have returned Unsat; in the order they were added.</summary>
    public IReadOnlyList<string> UnsatCore()
    {
        ThrowIfDisposed();
        if (_status != Z3Status.Unsat) throw new InvalidOperationException($"An unsat core needs a check that returned Unsat; the last check returned {Describe(_status)}.");
        var core = Z3Native.Z3_solver_get_unsat_core(Raw, _solver);
        _context.ThrowIfError();
        Z3Native.Z3_ast_vector_inc_ref(Raw, core);
        try
        {
            var inCore = new HashSet<string>();
            var size = Z3Native.Z3_ast_vector_size(Raw, core);
            for (uint i = 0; i < size; i++)
            {
                if (_trackingNames.TryGetValue(Z3Native.Z3_ast_vector_get(Raw, core, i), out var name)) inCore.Add(name);
            }
            return _trackingOrder.Where(inCore.Contains).ToList();
        }
        finally
        {
            Z3Native.Z3_ast_vector_dec_ref(Raw, core);
        }
    }

    /// <summary>An SMT-LIB 2 script (declarations, one assert per constraint, check-sat) that any SMT-LIB solver can check.</summary>
    /// <remarks>Tracked constraints become plain asserts, so the script is satisfiable exactly when <see cref="Check"/> says Sat.</remarks>
    public string ToSmt2()
    {
        ThrowIfDisposed();
        AssertDomains();
        var assertions = _assertions.Select(a => a.Ast).ToList();
        var formula = assertions.Count > 0 ? assertions[^1] : _context.True.Ast;
        if (assertions.Count > 0) assertions.RemoveAt(assertions.Count - 1);
        var text = Z3Native.Text(Z3Native.Z3_benchmark_to_smtlib_string(
            Raw, "", "", "unknown", "", (uint)assertions.Count, [.. assertions], formula));
        _context.ThrowIfError();
        return text;
    }

    /// <summary>Releases the native solver and its last model; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _model?.Dispose();
        _model = null;
        _context.Handle.Release(_solver);
    }

    private IntPtr Raw
    {
        get
        {
            ThrowIfDisposed();
            return _context.Raw;
        }
    }

    private Z3Model Model
    {
        get
        {
            ThrowIfDisposed();
            return _model ?? throw new InvalidOperationException($"Values need a check that returned Sat; the last check returned {Describe(_status)}.");
        }
    }

    private void AssertDomains()
    {
        for (; _domainsAsserted < _context.Domains.Count; _domainsAsserted++) Add(_context.Domains[_domainsAsserted]);
    }

    private void Apply(Z3Params parameters)
    {
        Z3Native.Z3_solver_set_params(Raw, _solver, parameters.Native);
        _context.ThrowIfError();
    }

    // Z3 checks parameter names on its own only once the solver holds a constraint, so check them here.
    private void Validate(Z3Params parameters)
    {
        var descriptions = Z3Native.Z3_solver_get_param_descrs(Raw, _solver);
        _context.ThrowIfError();
        Z3Native.Z3_param_descrs_inc_ref(Raw, descriptions);
        try
        {
            Z3Native.Z3_params_validate(Raw, parameters.Native, descriptions);
            _context.ThrowIfError();
        }
        finally
        {
            Z3Native.Z3_param_descrs_dec_ref(Raw, descriptions);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>A status for a message, or "nothing" before the first check.</summary>
    internal static string Describe(Z3Status? status) => status?.ToString() ?? "nothing (no check yet)";
}
