namespace Optimizer.Solvers.Z3;

/// <summary>An error reported by Z3, with Z3's own message.</summary>
public sealed class Z3Exception(string message) : Exception(message);

/// <summary>Thrown when libz3 cannot be loaded.</summary>
public sealed class Z3UnavailableException()
    : Exception("libz3 not found: install the Debian package libz3-4 (tried libz3.so.4, libz3.so, z3).");
