using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>How a mapping's accesses are counted.</summary>
public enum CostConvention
{
    /// <summary>The closed-form model of docs/cost-model.md (<see cref="CostModel"/>).</summary>
    Default,
    /// <summary>Timeloop v3.0.3's counts for the mapping (<see cref="TimeloopConvention"/>): same-stride window reuse, sampled loops, neighbour forwarding, multicast of identical words.</summary>
    Timeloop,
}

/// <summary>Convention names as users write them, and evaluation under a convention.</summary>
public static class Conventions
{
    /// <summary>The names accepted, in order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["default", "timeloop"];

    /// <summary>Reads a convention name; false with a message listing the choices.</summary>
    public static bool TryParse(string text, out CostConvention convention, out string error)
    {
        error = "";
        switch (text.Trim().ToLowerInvariant())
        {
            case "default": convention = CostConvention.Default; return true;
            case "timeloop": convention = CostConvention.Timeloop; return true;
            default:
                convention = CostConvention.Default;
                error = $"Unknown convention '{text}'; the choices: {string.Join(", ", Names)}.";
                return false;
        }
    }

    /// <summary>
    /// Counts a mapping under the convention without checking it alone: for a fused layer, whose validity is the fused
    /// checker's (<see cref="FusionChecker"/>), not the single-layer one.
    /// </summary>
    internal static CostReport Count(CostConvention convention, Einsum einsum, Architecture arch, Mapping mapping) => convention switch
    {
        CostConvention.Timeloop => new TimeloopNest(einsum, arch, mapping).Evaluate(),
        _ => new Nest(einsum, arch, mapping).Evaluate(),
    };

    /// <summary>Evaluates a valid mapping under the convention; throws <see cref="InvalidOperationException"/> for an invalid one.</summary>
    public static CostReport Evaluate(CostConvention convention, Einsum einsum, Architecture arch, Mapping mapping) => convention switch
    {
        CostConvention.Timeloop => TimeloopConvention.Evaluate(einsum, arch, mapping),
        _ => CostModel.Evaluate(einsum, arch, mapping),
    };
}
