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

/// <summary>
/// One layer on one architecture, what to minimize, the constraints that pin parts of the mapping, and
/// caps on the other costs (a mapping above a cap is not a solution): how a lexicographic objective's
/// later terms are searched among the mappings that keep the earlier terms at their optimum.
/// </summary>
/// <remarks>
/// Under a <see cref="Convention"/> other than the default, the exact search costs complete mappings by that convention
/// (docs/mapspace.md, "Shared windows"). <see cref="OneAxis"/> keeps every rank on one axis of each fanout (what
/// Timeloop's mapping format can say; always so under the Timeloop convention): the default-model search that seeds a
/// Timeloop-convention search sets it, so that its answer is a mapping the convention accepts.
/// </remarks>
public sealed record MapProblem(Einsum Layer, Architecture Arch, Objective Objective, MappingConstraints? Constraints = null, CostCaps? Caps = null,
    CostConvention Convention = CostConvention.Default, bool OneAxis = false)
{
    /// <summary>
    /// A member of a fused class searched for energy plus lambda times its fused cycles (docs/fusion.md, "EDP over the full
    /// mapspace"); null for the problem's own objective. With <see cref="Objective"/> latency and lambda 0, the member's fused
    /// cycles alone (docs/fusion.md, "Latency over the full mapspace"); with objective energy, lambda 0 and a cap on cycles alone,
    /// the least energy within that cap on the member's fused cycles (docs/fusion.md, "Latency then energy over the full
    /// mapspace"). Only <see cref="TilingSearch"/> takes it, with objective energy or latency, the default convention, no caps
    /// but that one, and no global constraints.
    /// </summary>
    public WeightedCycles? Weighted { get; init; }

    /// <summary>
    /// A proved lower bound on the energy of every valid mapping of the layer on <see cref="Arch"/> under
    /// <see cref="Convention"/> (an energy search's bound or optimum on the same problem, or on an architecture that
    /// dominates it); 0 when none is known. The EDP search searched inner-first takes each plan's energy bound as at least
    /// this (every mapping's EDP is at least it times the plan's least cycles; docs/mapspace.md, "EDP: the energy search
    /// times the plan's cycles"). A floor above the true least energy makes that search wrong: only give a proved one.
    /// </summary>
    public double EnergyFloor { get; init; }

    // Every solver starts from a MapProblem: costs that could overflow are refused here, before any search sees one.
    private readonly bool _inRange = CheckRange(Layer, Arch);

    private static bool CheckRange(Einsum layer, Architecture arch)
    {
        CostRange.Require(layer, arch);
        return true;
    }
}

/// <summary>
/// The objective energy + <paramref name="Lambda"/> x cycles, with the cycles a member of a fused class has: the counts
/// fusion removes for the <paramref name="Held"/> tensors (<see cref="FusionCost.Removal"/>) take no bandwidth, so they are
/// <see cref="FusionCost.Adjust"/>'s cycles. The energy stays the layer's own (fusion removes the same energy from every
/// member of a class).
/// </summary>
public sealed record WeightedCycles(double Lambda, IReadOnlyList<HeldTensor> Held)
{
    /// <summary>The objective of a member's own cost report.</summary>
    public double Value(Architecture arch, CostReport r) => r.Energy + Lambda * Cycles(arch, r);

    /// <summary>A member's fused cycles from its own cost report (<see cref="FusionCost.Adjust"/>).</summary>
    public long Cycles(Architecture arch, CostReport r) => FusionCost.Adjust("", arch, r, Held).Cycles;
}

/// <summary>Upper bounds on a mapping's energy (pJ), cycles and energy-delay product, each compared within a relative 1e-9; null = no cap.</summary>
public sealed record CostCaps(double? Energy = null, double? Cycles = null, double? Edp = null)
{
    /// <summary>Relative margin within which an energy equals its cap (the rounding of sums of doubles).</summary>
    public const double Margin = 1e-9;

    /// <summary>True when a cost report is within every cap.</summary>
    public bool Allow(CostReport r) => AllowEnergy(r.Energy) && Allow(r.Energy, r.Cycles);

    /// <summary>True when an energy (or a lower bound on it) is within the energy cap.</summary>
    public bool AllowEnergy(double energy) => Within(energy, Energy);

    /// <summary>True when cycles and energy x cycles (or lower bounds on them) are within their caps.</summary>
    public bool Allow(double energy, double cycles) => Within(cycles, Cycles) && Within(energy * cycles, Edp);

    /// <summary>The cap for one objective: a lexicographic term's optimum caps it for the terms after it.</summary>
    public CostCaps With(Objective objective, double value) => objective switch
    {
        Objective.Energy => this with { Energy = value },
        Objective.Latency => this with { Cycles = value },
        _ => this with { Edp = value },
    };

    private static bool Within(double value, double? cap) => cap is not { } c || value <= c + Margin * Math.Max(1, Math.Abs(c));
}

/// <summary>
/// When a search must stop: a time limit (null = none) and a cancellation token (Ctrl-C); how many threads; and
/// where it shows how far it got (null: nowhere).
/// </summary>
public sealed record SearchLimits(TimeSpan? TimeLimit = null, CancellationToken Cancel = default, int Threads = 0, SearchProgress? Progress = null)
{
    /// <summary>No time limit, not cancellable, one thread per core.</summary>
    public static SearchLimits None { get; } = new();
}

/// <summary>What a running search has done so far, as a display reads it: nodes, incumbent, bound, phase.</summary>
public readonly record struct SearchSnapshot(string Phase, long Nodes, double? Best, double Bound)
{
    /// <summary>The relative gap between the incumbent and the bound, in percent; null without an incumbent.</summary>
    public double? GapPercent => Best is { } b && b > 0 && double.IsFinite(Bound) ? Math.Max(0, (b - Bound) / b * 100) : null;
}

/// <summary>
/// A running search's window for a progress display: the search attaches a function that reads its own counters
/// (racy reads are fine for a display), the display polls <see cref="Read"/> a few times a second. Searches that
/// attach nothing show their phase only.
/// </summary>
public sealed class SearchProgress
{
    private volatile Func<SearchSnapshot>? _source;
    private volatile string _phase = "starting";

    /// <summary>Lets the display read the search's counters.</summary>
    public void Attach(Func<SearchSnapshot> source) => _source = source;

    /// <summary>Names what the search is doing now (seeding, bounding plans, searching).</summary>
    public void Phase(string phase) => _phase = phase;

    /// <summary>The latest figures.</summary>
    public SearchSnapshot Read() => _source is { } f ? f() with { Phase = _phase } : new SearchSnapshot(_phase, 0, null, 0);
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
    /// <summary>For a lexicographic objective, the terms searched in order; the last is the one Best, Bound and the gap are about.</summary>
    public IReadOnlyList<Objective>? Terms { get; init; }

    /// <summary>Relative gap between best and bound in percent; 0 when optimal, null when nothing was found.</summary>
    public double? GapPercent => Best is { } b ? (b <= 0 ? 0 : Math.Max(0, (b - Bound) / b * 100)) : null;
}
