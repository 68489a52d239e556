namespace Optimizer.Solvers.Z3;

/// <summary>The answer of one check.</summary>
public enum Z3Status
{
    /// <summary>The constraints have a solution; values can be read from the model.</summary>
    Sat,
    /// <summary>The constraints have no solution; an unsat core can be read.</summary>
    Unsat,
    /// <summary>The solver gave up (timeout, cancellation, incompleteness); see the reason.</summary>
    Unknown,
}
