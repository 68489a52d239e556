using System.Globalization;

namespace Optimizer.Solvers.Z3;

/// <summary>A Z3 context: the factory of named variables, constants and expressions that solvers and optimizers check.</summary>
/// <remarks>
/// A context and everything made from it are single-threaded; only <see cref="Cancel"/> may be called from another
/// thread. Every native term an expression wraps stays alive until the context is disposed, so one context is meant
/// for one model (build it, check it, read it, dispose it). Names are unique per context.
/// </remarks>
public sealed class Z3Context : IDisposable
{
    private readonly Z3ContextHandle _handle;
    private readonly IntPtr _intSort;
    private readonly IntPtr _realSort;
    private readonly IntPtr _boolSort;
    private readonly HashSet<string> _names = [];
    private readonly List<BoolExpr> _domains = [];

    /// <summary>Creates a context; throws <see cref="Z3UnavailableException"/> when libz3 is not installed.</summary>
    public Z3Context()
    {
        _handle = Z3ContextHandle.Create();
        _intSort = Term(Z3Native.Z3_mk_int_sort(Raw));
        _realSort = Term(Z3Native.Z3_mk_real_sort(Raw));
        _boolSort = Term(Z3Native.Z3_mk_bool_sort(Raw));
        True = new BoolExpr(this, Term(Z3Native.Z3_mk_true(Raw)));
        False = new BoolExpr(this, Term(Z3Native.Z3_mk_false(Raw)));
    }

    /// <summary>The Boolean constant true.</summary>
    public BoolExpr True { get; }

    /// <summary>The Boolean constant false.</summary>
    public BoolExpr False { get; }

    /// <summary>An unbounded integer variable.</summary>
    public IntExpr IntVar(string name) => new(this, Declare(name, _intSort));

    /// <summary>An integer variable in [lo, hi]; every solver and optimizer of this context asserts the bounds.</summary>
    public IntExpr IntVar(string name, long lo, long hi)
    {
        if (lo > hi) throw new ArgumentOutOfRangeException(nameof(hi), hi, $"The upper bound of '{name}' must be at least its lower bound {lo}.");
        var variable = IntVar(name);
        _domains.Add((lo <= variable) & (variable <= hi));
        return variable;
    }

    /// <summary>A Boolean variable.</summary>
    public BoolExpr BoolVar(string name) => new(this, Declare(name, _boolSort));

    /// <summary>A real variable.</summary>
    public RealExpr RealVar(string name) => new(this, Declare(name, _realSort));

    /// <summary>An integer constant.</summary>
    public IntExpr Int(long value) => new(this, Term(Z3Native.Z3_mk_int64(Raw, value, _intSort)));

    /// <summary>The real constant whose decimal expansion is the shortest one that round-trips <paramref name="value"/> (0.1 is 1/10).</summary>
    public RealExpr Real(double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "A real constant must be finite.");
        return new(this, Term(Z3Native.Z3_mk_numeral(Raw, Rational(value), _realSort)));
    }

    /// <summary>The exact rational constant <paramref name="numerator"/> / <paramref name="denominator"/>.</summary>
    public RealExpr Real(long numerator, long denominator)
    {
        if (denominator == 0) throw new ArgumentOutOfRangeException(nameof(denominator), denominator, "The denominator of a rational constant must not be 0.");
        var text = string.Create(CultureInfo.InvariantCulture, $"{numerator}/{denominator}");
        return new(this, Term(Z3Native.Z3_mk_numeral(Raw, text, _realSort)));
    }

    /// <summary>The sum of the terms; 0 when there are none.</summary>
    public IntExpr Sum(IEnumerable<IntExpr> terms) => new(this, Nary(Z3Native.Z3_mk_add, terms, () => Int(0)));

    /// <summary>The sum of the terms; 0 when there are none.</summary>
    public RealExpr Sum(IEnumerable<RealExpr> terms) => new(this, Nary(Z3Native.Z3_mk_add, terms, () => Real(0, 1)));

    /// <summary>The product of the factors; 1 when there are none.</summary>
    public IntExpr Product(IEnumerable<IntExpr> factors) => new(this, Nary(Z3Native.Z3_mk_mul, factors, () => Int(1)));

    /// <summary>The product of the factors; 1 when there are none.</summary>
    public RealExpr Product(IEnumerable<RealExpr> factors) => new(this, Nary(Z3Native.Z3_mk_mul, factors, () => Real(1, 1)));

    /// <summary>True when all operands are true; true when there are none.</summary>
    public BoolExpr And(IEnumerable<BoolExpr> operands) => new(this, Nary(Z3Native.Z3_mk_and, operands, () => True));

    /// <summary>True when some operand is true; false when there are none.</summary>
    public BoolExpr Or(IEnumerable<BoolExpr> operands) => new(this, Nary(Z3Native.Z3_mk_or, operands, () => False));

    /// <summary>True when the terms are pairwise different; true when there are fewer than two.</summary>
    public BoolExpr Distinct(IEnumerable<IntExpr> terms)
    {
        var list = terms.ToList();
        return list.Count < 2 ? True : new(this, Nary(Z3Native.Z3_mk_distinct, list, () => True));
    }

    /// <summary>If <paramref name="condition"/> then <paramref name="then"/> else <paramref name="otherwise"/>.</summary>
    public IntExpr Ite(BoolExpr condition, IntExpr then, IntExpr otherwise) => new(this, IteTerm(condition, then, otherwise));

    /// <summary>If <paramref name="condition"/> then <paramref name="then"/> else <paramref name="otherwise"/>.</summary>
    public RealExpr Ite(BoolExpr condition, RealExpr then, RealExpr otherwise) => new(this, IteTerm(condition, then, otherwise));

    /// <summary>If <paramref name="condition"/> then <paramref name="then"/> else <paramref name="otherwise"/>.</summary>
    public BoolExpr Ite(BoolExpr condition, BoolExpr then, BoolExpr otherwise) => new(this, IteTerm(condition, then, otherwise));

    /// <summary>
    /// The time limit of a check: a thread that interrupts this context at the deadline and every 20 ms after it,
    /// until disposed; null without a deadline.
    /// </summary>
    /// <remarks>
    /// This is the binding's only timer. Z3's own "timeout" parameter is never set: libz3 4.8.10 to 4.8.12 (the
    /// Debian package) runs it on a pool of timer threads that can deadlock when a timer thread is reused
    /// (Z3 pull request 5371), which hung a check for good about once in five test runs. An interrupt needs no
    /// timer thread of Z3's, and repeating it also stops the checks that a single interrupt does not (seen on
    /// nonlinear problems). The thread is its own rather than a thread-pool timer, so a busy pool cannot delay it.
    /// </remarks>
    internal Watchdog? Watchdog(TimeSpan? timeout) => timeout is { } t ? new Watchdog(this, t) : null;

    /// <summary>Rejects a negative time limit.</summary>
    internal static void CheckTimeout(TimeSpan? timeout)
    {
        if (timeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "A timeout must not be negative.");
    }

    /// <summary>Why a check returned Unknown: "timeout" when the watchdog stopped it, otherwise Z3's own reason.</summary>
    internal static string Reason(string z3Reason, Watchdog? watchdog) => watchdog is { Fired: true } ? "timeout" : z3Reason;

    /// <summary>Interrupts the check running in this context, if any; safe to call from any thread, and after disposal.</summary>
    public void Cancel()
    {
        if (_handle.IsClosed) return;
        try
        {
            Z3Native.Z3_interrupt(_handle);
        }
        catch (ObjectDisposedException)
        {
            // Disposed between the test and the call: there is nothing left to interrupt.
        }
    }

    /// <summary>Releases every native object of the context; expressions, solvers and optimizers made from it become unusable.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>The native context; throws once the context is disposed.</summary>
    internal IntPtr Raw
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    /// <summary>The owner of the native handles.</summary>
    internal Z3ContextHandle Handle => _handle;

    /// <summary>The domain constraints of bounded variables, in declaration order.</summary>
    internal IReadOnlyList<BoolExpr> Domains => _domains;

    /// <summary>Turns a pending Z3 error into a <see cref="Z3Exception"/>.</summary>
    internal void ThrowIfError()
    {
        var raw = Raw;
        var code = Z3Native.Z3_get_error_code(raw);
        if (code == 0) return;
        var message = Z3Native.Text(Z3Native.Z3_get_error_msg(raw, code));
        // An unknown parameter's message goes on to list every legal parameter; the first line says what is wrong.
        var list = message.IndexOf("\nLegal parameters are", StringComparison.Ordinal);
        throw new Z3Exception(list < 0 ? message : message[..list]);
    }

    /// <summary>Checks the call that returned <paramref name="term"/> and keeps the term alive for the life of the context.</summary>
    internal IntPtr Term(IntPtr term)
    {
        ThrowIfError();
        if (term == IntPtr.Zero) throw new Z3Exception("Z3 returned no term.");
        _handle.OwnTerm(term);
        return term;
    }

    /// <summary>The native term of an operand, after checking that it belongs to this context.</summary>
    internal IntPtr Operand(Z3Expr operand, string name)
    {
        ArgumentNullException.ThrowIfNull(operand, name);
        if (!ReferenceEquals(operand.Context, this)) throw new ArgumentException("The expression belongs to a different Z3 context.", name);
        return operand.Ast;
    }

    /// <summary>A binary term of two operands of this context.</summary>
    internal IntPtr Binary(Func<IntPtr, IntPtr, IntPtr, IntPtr> make, Z3Expr left, Z3Expr right) =>
        Term(make(Raw, Operand(left, nameof(left)), Operand(right, nameof(right))));

    /// <summary>A unary term of one operand of this context.</summary>
    internal IntPtr Unary(Func<IntPtr, IntPtr, IntPtr> make, Z3Expr operand) =>
        Term(make(Raw, Operand(operand, nameof(operand))));

    /// <summary>A term over any number of operands; the term of <paramref name="empty"/> when there are none.</summary>
    internal IntPtr Nary(Func<IntPtr, uint, IntPtr[], IntPtr> make, IEnumerable<Z3Expr> operands, Func<Z3Expr> empty)
    {
        ArgumentNullException.ThrowIfNull(operands);
        var args = operands.Select(o => Operand(o, nameof(operands))).ToArray();
        return args.Length switch
        {
            0 => empty().Ast,
            1 => args[0],
            _ => Term(make(Raw, (uint)args.Length, args)),
        };
    }

    /// <summary>Declares a fresh constant; the name must not be in use in this context.</summary>
    internal IntPtr Declare(string name, IntPtr sort)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.AsSpan().IndexOfAny('|', '\\') >= 0) throw new ArgumentException($"The name '{name}' contains '|' or '\\', which SMT-LIB 2 cannot write.", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"The name '{name}' is already declared in this context.", nameof(name));
        var symbol = Z3Native.Z3_mk_string_symbol(Raw, name);
        ThrowIfError();
        return Term(Z3Native.Z3_mk_const(Raw, symbol, sort));
    }

    // The shortest round-trip decimal of a finite double as "n" or "n/10^k": libz3 4.8 misreads exponents ("1E-05").
    private static string Rational(double value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E');
        var exponent = e < 0 ? 0 : int.Parse(text[(e + 1)..], CultureInfo.InvariantCulture);
        var digits = e < 0 ? text : text[..e];
        var dot = digits.IndexOf('.');
        if (dot >= 0)
        {
            exponent -= digits.Length - dot - 1;
            digits = digits.Remove(dot, 1);
        }
        return exponent >= 0 ? digits + new string('0', exponent) : $"{digits}/1{new string('0', -exponent)}";
    }

    private IntPtr IteTerm(BoolExpr condition, Z3Expr then, Z3Expr otherwise) =>
        Term(Z3Native.Z3_mk_ite(Raw, Operand(condition, nameof(condition)), Operand(then, nameof(then)), Operand(otherwise, nameof(otherwise))));
}

/// <summary>The thread that enforces one check's time limit (see <see cref="Z3Context.Watchdog"/>).</summary>
internal sealed class Watchdog : IDisposable
{
    private readonly ManualResetEventSlim _done = new();
    private readonly Thread _thread;
    private volatile bool _fired;

    internal Watchdog(Z3Context context, TimeSpan timeout)
    {
        _thread = new Thread(() =>
        {
            if (_done.Wait(timeout)) return;
            _fired = true;
            do context.Cancel(); while (!_done.Wait(20));
        }) { IsBackground = true, Name = "z3-watchdog" };
        _thread.Start();
    }

    /// <summary>True once the deadline passed before the check ended.</summary>
    internal bool Fired => _fired;

    /// <summary>Stops the interrupts and waits for the thread, so no interrupt lands after this returns; safe to call more than once.</summary>
    public void Dispose()
    {
        _done.Set();
        _thread.Join();
    }
}
