using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Optimizer.Solvers.Z3;

/// <summary>The functions of the Z3 C API (libz3 4.8) that the binding calls; see docs/z3-binding.md for who owns each handle.</summary>
/// <remarks>Strings returned by Z3 are owned by the context and valid until the next call, so they come back as pointers and are copied at once.</remarks>
internal static partial class Z3Native
{
    private const string Library = "z3";
    private static readonly string[] Candidates = ["libz3.so.4", "libz3.so", "z3"];
    private static readonly Lock Gate = new();
    private static IntPtr _library;

    /// <summary>Loads libz3 once and routes this assembly's imports of "z3" to it.</summary>
    internal static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_library != IntPtr.Zero) return;
            foreach (var candidate in Candidates)
            {
                if (NativeLibrary.TryLoad(candidate, typeof(Z3Native).Assembly, null, out var handle))
                {
                    _library = handle;
                    break;
                }
            }
            if (_library == IntPtr.Zero) throw new Z3UnavailableException();
            NativeLibrary.SetDllImportResolver(typeof(Z3Native).Assembly, Resolve);
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Library ? _library : IntPtr.Zero;

    /// <summary>Installs a handler that does nothing, so that Z3 records errors instead of exiting; callers read them with <see cref="Z3_get_error_code"/>.</summary>
    internal static unsafe void InstallErrorHandler(IntPtr context) =>
        Z3_set_error_handler(context, (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, int, void>)&IgnoreError);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void IgnoreError(IntPtr context, int code) { }

    /// <summary>Copies a string that Z3 owns.</summary>
    internal static string Text(IntPtr utf8) => Marshal.PtrToStringUTF8(utf8) ?? "";

    // Configuration, context, errors.
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_config();
    [LibraryImport(Library)] internal static partial void Z3_del_config(IntPtr config);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_context_rc(IntPtr config);
    [LibraryImport(Library)] internal static partial void Z3_del_context(IntPtr c);
    [LibraryImport(Library)] internal static partial void Z3_set_error_handler(IntPtr c, IntPtr handler);
    [LibraryImport(Library)] internal static partial int Z3_get_error_code(IntPtr c);
    [LibraryImport(Library)] internal static partial IntPtr Z3_get_error_msg(IntPtr c, int code);
    [LibraryImport(Library)] internal static partial void Z3_interrupt(SafeHandle c);

    // Reference counts.
    [LibraryImport(Library)] internal static partial void Z3_inc_ref(IntPtr c, IntPtr ast);
    [LibraryImport(Library)] internal static partial void Z3_dec_ref(IntPtr c, IntPtr ast);
    [LibraryImport(Library)] internal static partial void Z3_solver_inc_ref(IntPtr c, IntPtr solver);
    [LibraryImport(Library)] internal static partial void Z3_solver_dec_ref(IntPtr c, IntPtr solver);
    [LibraryImport(Library)] internal static partial void Z3_optimize_inc_ref(IntPtr c, IntPtr optimize);
    [LibraryImport(Library)] internal static partial void Z3_optimize_dec_ref(IntPtr c, IntPtr optimize);
    [LibraryImport(Library)] internal static partial void Z3_model_inc_ref(IntPtr c, IntPtr model);
    [LibraryImport(Library)] internal static partial void Z3_model_dec_ref(IntPtr c, IntPtr model);
    [LibraryImport(Library)] internal static partial void Z3_params_inc_ref(IntPtr c, IntPtr p);
    [LibraryImport(Library)] internal static partial void Z3_params_dec_ref(IntPtr c, IntPtr p);
    [LibraryImport(Library)] internal static partial void Z3_ast_vector_inc_ref(IntPtr c, IntPtr v);
    [LibraryImport(Library)] internal static partial void Z3_ast_vector_dec_ref(IntPtr c, IntPtr v);

    // Symbols, sorts, constants.
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr Z3_mk_string_symbol(IntPtr c, string s);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_int_sort(IntPtr c);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_real_sort(IntPtr c);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_bool_sort(IntPtr c);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_const(IntPtr c, IntPtr symbol, IntPtr sort);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_int64(IntPtr c, long value, IntPtr sort);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial IntPtr Z3_mk_numeral(IntPtr c, string numeral, IntPtr sort);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_true(IntPtr c);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_false(IntPtr c);

    // Terms.
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_add(IntPtr c, uint count, IntPtr[] args);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_sub(IntPtr c, uint count, IntPtr[] args);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_mul(IntPtr c, uint count, IntPtr[] args);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_unary_minus(IntPtr c, IntPtr arg);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_lt(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_le(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_gt(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_ge(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_eq(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_xor(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_not(IntPtr c, IntPtr arg);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_and(IntPtr c, uint count, IntPtr[] args);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_or(IntPtr c, uint count, IntPtr[] args);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_implies(IntPtr c, IntPtr left, IntPtr right);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_ite(IntPtr c, IntPtr condition, IntPtr then, IntPtr otherwise);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_distinct(IntPtr c, uint count, IntPtr[] args);
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_int2real(IntPtr c, IntPtr arg);
    [LibraryImport(Library)] internal static partial IntPtr Z3_ast_to_string(IntPtr c, IntPtr ast);

    // Numerals and Booleans read back from a model.
    [LibraryImport(Library)] [return: MarshalAs(UnmanagedType.U1)] internal static partial bool Z3_get_numeral_int64(IntPtr c, IntPtr ast, out long value);
    [LibraryImport(Library)] internal static partial IntPtr Z3_get_numeral_decimal_string(IntPtr c, IntPtr ast, uint precision);
    [LibraryImport(Library)] internal static partial int Z3_get_bool_value(IntPtr c, IntPtr ast);

    // Parameters.
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_params(IntPtr c);
    [LibraryImport(Library)] internal static partial void Z3_params_set_uint(IntPtr c, IntPtr p, IntPtr key, uint value);
    [LibraryImport(Library)] internal static partial void Z3_params_set_bool(IntPtr c, IntPtr p, IntPtr key, [MarshalAs(UnmanagedType.U1)] bool value);
    [LibraryImport(Library)] internal static partial void Z3_params_validate(IntPtr c, IntPtr p, IntPtr descriptions);
    [LibraryImport(Library)] internal static partial void Z3_param_descrs_inc_ref(IntPtr c, IntPtr descriptions);
    [LibraryImport(Library)] internal static partial void Z3_param_descrs_dec_ref(IntPtr c, IntPtr descriptions);

    // Solver.
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_solver(IntPtr c);
    [LibraryImport(Library)] internal static partial void Z3_solver_set_params(IntPtr c, IntPtr solver, IntPtr p);
    [LibraryImport(Library)] internal static partial IntPtr Z3_solver_get_param_descrs(IntPtr c, IntPtr solver);
    [LibraryImport(Library)] internal static partial void Z3_solver_assert(IntPtr c, IntPtr solver, IntPtr ast);
    [LibraryImport(Library)] internal static partial void Z3_solver_assert_and_track(IntPtr c, IntPtr solver, IntPtr ast, IntPtr literal);
    [LibraryImport(Library)] internal static partial int Z3_solver_check(SafeHandle c, IntPtr solver);
    [LibraryImport(Library)] internal static partial IntPtr Z3_solver_get_model(IntPtr c, IntPtr solver);
    [LibraryImport(Library)] internal static partial IntPtr Z3_solver_get_unsat_core(IntPtr c, IntPtr solver);
    [LibraryImport(Library)] internal static partial IntPtr Z3_solver_get_reason_unknown(IntPtr c, IntPtr solver);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr Z3_benchmark_to_smtlib_string(IntPtr c, string name, string logic, string status, string attributes, uint count, IntPtr[] assumptions, IntPtr formula);

    // Optimizer.
    [LibraryImport(Library)] internal static partial IntPtr Z3_mk_optimize(IntPtr c);
    [LibraryImport(Library)] internal static partial void Z3_optimize_set_params(IntPtr c, IntPtr optimize, IntPtr p);
    [LibraryImport(Library)] internal static partial void Z3_optimize_assert(IntPtr c, IntPtr optimize, IntPtr ast);
    [LibraryImport(Library)] internal static partial uint Z3_optimize_minimize(IntPtr c, IntPtr optimize, IntPtr ast);
    [LibraryImport(Library)] internal static partial int Z3_optimize_check(SafeHandle c, IntPtr optimize, uint count, IntPtr[]? assumptions);
    [LibraryImport(Library)] internal static partial IntPtr Z3_optimize_get_model(IntPtr c, IntPtr optimize);
    [LibraryImport(Library)] internal static partial IntPtr Z3_optimize_get_reason_unknown(IntPtr c, IntPtr optimize);
    [LibraryImport(Library)] internal static partial IntPtr Z3_optimize_get_lower_as_vector(IntPtr c, IntPtr optimize, uint index);
    [LibraryImport(Library)] internal static partial IntPtr Z3_optimize_get_upper_as_vector(IntPtr c, IntPtr optimize, uint index);
    [LibraryImport(Library)] internal static partial IntPtr Z3_optimize_to_string(IntPtr c, IntPtr optimize);

    // Models and vectors.
    [LibraryImport(Library)] [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool Z3_model_eval(IntPtr c, IntPtr model, IntPtr ast, [MarshalAs(UnmanagedType.U1)] bool completion, out IntPtr value);
    [LibraryImport(Library)] internal static partial uint Z3_ast_vector_size(IntPtr c, IntPtr v);
    [LibraryImport(Library)] internal static partial IntPtr Z3_ast_vector_get(IntPtr c, IntPtr v, uint index);
}
