using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>What a search proved about its answer.</summary>
public enum SolveStatus
{
    /// <summary>Proved: nothing in the (constrained) mapspace costs less.</summary>
    Optimal,
    /// <summary>A valid mapping was found, but the search stopped (time limit, cancel) before proving it best.</summary>
    Feasible,
    /// <summary>Proved: no mapping in the (constrained) mapspace is valid.</summary>
    Infeasible,
    /// <summary>The search stopped before finding any valid mapping.</summary>
    Unknown,
}

/// <summary>One layer on one architecture, what to minimize, and the constraints that pin parts of the mapping.</summary>
public sealed record MapProblem(Einsum Layer, Architecture Arch, Objective Objective, MappingConstraints? Constraints = null);

/// <summary>When a search must stop: a time limit (null = none) and a cancellation token (Ctrl-C).</summary>
public sealed record SearchLimits(TimeSpan? TimeLimit = null, CancellationToken Cancel = default, int Threads = 0)
{
    /// <summary>No time limit, not cancellable, one thread per core.</summary>
    public static SearchLimits None { get; } = new();
}

/// <summary>
/// A search's answer: status, the best mapping (re-checked and re-costed by the reference model), the
/// best objective value, the proven lower bound, and what the search did.
/// </summary>
public sealed record SolveResult(
    SolveStatus Status,
    Mapping? Mapping,
    CostReport? Report,
    double? Best,
    double Bound,
    TimeSpan Elapsed,
    long Explored,
    string Solver,
    string? Explanation = null)
{
    /// <summary>Relative gap between best and bound in percent; 0 when optimal, null when nothing was found.</summary>
    public double? GapPercent => Best is { } b ? (b <= 0 ? 0 : Math.Max(0, (b - Bound) / b * 100)) : null;
}
