using System.Globalization;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>Costs that do not fit in a double (energy, EDP) or a long (cycles): an input error, named by the inputs that cause it.</summary>
public sealed class NonFiniteCostException(string message) : Exception(message);

/// <summary>
/// The range check on an architecture's numbers for one layer: a generous ceiling on any mapping's energy, cycles and
/// energy-delay product (every level touched by every tensor several times per MAC), which must stay finite, so no
/// search ever meets an infinite or overflowed cost. It is an input check, not a cost formula (docs/cost-model.md).
/// </summary>
public static class CostRange
{
    /// <summary>How many accesses per MAC and tensor the ceiling allows at each level (reads, fills, updates, with room to spare).</summary>
    private const double AccessesPerMac = 4;

    /// <summary>Headroom: the ceiling times this must still be finite, so sums of terms near it cannot overflow.</summary>
    private const double Headroom = 1e6;

    /// <summary>Throws <see cref="NonFiniteCostException"/> naming the inputs when a mapping's cost could overflow.</summary>
    public static void Require(Einsum einsum, Architecture arch)
    {
        if (Problem(einsum, arch) is { } p) throw new NonFiniteCostException(p);
    }

    /// <summary>Throws when a computed report is not finite, naming the inputs responsible (or the report's terms).</summary>
    public static CostReport RequireFinite(CostReport report, Einsum einsum, Architecture arch)
    {
        if (double.IsFinite(report.Energy) && double.IsFinite(report.Edp) && report.Cycles >= 0) return report;
        Require(einsum, arch);
        throw new NonFiniteCostException($"Layer {einsum.Name} on {arch.Name}: the cost overflows (energy {Show(report.Energy)} pJ, cycles {report.Cycles}); " +
                                         "scale the architecture's energies or bandwidths down.");
    }

    /// <summary>What overflows, or null when every cost of the layer on the architecture fits.</summary>
    public static string? Problem(Einsum einsum, Architecture arch)
    {
        double macs = einsum.Ranks.Aggregate(1.0, (acc, r) => acc * r.Bound);
        double accesses = macs * einsum.Tensors.Count * AccessesPerMac;
        var terms = new List<(string What, double PerUnit, double Units)> { ("mac-energy", arch.Compute.MacEnergy, macs) };
        double cycles = macs;
        foreach (var level in arch.Levels)
        {
            terms.Add(($"{level.Name} read-energy", level.ReadEnergy, accesses));
            terms.Add(($"{level.Name} write-energy", level.WriteEnergy, accesses));
            terms.Add(($"{level.Name} hop-energy", level.Fanout.HopEnergy, accesses * (level.Fanout.X + level.Fanout.Y)));
            foreach (var bw in new[] { level.ReadBandwidth, level.WriteBandwidth })
                if (bw is { } b && b > 0) cycles += accesses / b;
        }
        var (what, perUnit, units) = terms.MaxBy(t => t.PerUnit * t.Units);
        double energy = terms.Sum(t => t.PerUnit * t.Units);
        string where = $"layer {einsum.Name} ({macs.ToString("0.###E+0", CultureInfo.InvariantCulture)} MACs) on {arch.Name}";
        if (!double.IsFinite(energy * Headroom))
            return $"Energies too large for {where}: {what} {Show(perUnit)} pJ times up to {Show(units)} uses may exceed a double's range (with room for sums); scale the energies down.";
        if (cycles * Headroom > long.MaxValue)
        {
            var slowest = arch.Levels.Where(l => (l.ReadBandwidth ?? double.MaxValue) > 0).MinBy(l => Math.Min(l.ReadBandwidth ?? double.MaxValue, l.WriteBandwidth ?? double.MaxValue))!;
            return $"Bandwidths too small for {where}: {slowest.Name}'s bandwidth gives cycle counts up to {Show(cycles)}, beyond a 64-bit count; raise it.";
        }
        if (!double.IsFinite(energy * cycles * Headroom))
            return $"The energy-delay product overflows for {where}: energies up to {Show(energy)} pJ times cycles up to {Show(cycles)}; scale the energies down.";
        return null;
    }

    private static string Show(double v) => v.ToString("0.###E+0", CultureInfo.InvariantCulture);
}
