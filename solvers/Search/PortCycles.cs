using Optimizer.Formulation;
using Optimizer.Hardware;

namespace Optimizer.Solvers;

/// <summary>
/// A lower bound on the cycles of every completion of an inner-first state from the words its bandwidth-limited ports must
/// move (docs/mapspace.md, "EDP: the energy search times the plan's cycles"): per level and port (reads, writes) with a
/// bandwidth, an energy model of the same problem whose only cost is one pJ per word through that port. The energy search's
/// inner bound holds for any non-negative energies, so on that model it bounds the port's words (over the level's
/// instances) of every completion; a level's cycles are at least its busiest instance's words over the port's bandwidth
/// (<see cref="Counts.BandwidthCycles"/>), hence at least the words per instance over it.
/// </summary>
internal sealed class PortCycles
{
    private readonly (SearchModel Model, int Level, double Bandwidth)[] _ports;

    private PortCycles((SearchModel, int, double)[] ports) => _ports = ports;

    /// <summary>The ports' models of an energy problem searched inner-first; null when no level has a bandwidth.</summary>
    public static PortCycles? Of(MapProblem energy)
    {
        var arch = energy.Arch;
        var ports = new List<(SearchModel, int, double)>();
        for (int l = 0; l < arch.Levels.Count; l++)
            foreach (bool write in new[] { false, true })
                if ((write ? arch.Levels[l].WriteBandwidth : arch.Levels[l].ReadBandwidth) is { } bandwidth)
                    ports.Add((new SearchModel(energy with { Arch = Counting(arch, l, write) }, deferOrders: true), l, bandwidth));
        return ports.Count == 0 ? null : new PortCycles([.. ports]);
    }

    /// <summary>
    /// The architecture whose energy is the words through one port: one pJ per read (or per write: fills and updates) of
    /// level <paramref name="level"/>, every other access, hop and MAC free.
    /// </summary>
    private static Architecture Counting(Architecture arch, int level, bool write)
    {
        var levels = arch.Levels.Select((l, i) => new StorageLevel(l.Name, l.Capacity, l.WordBits, i == level && !write ? 1 : 0, i == level && write ? 1 : 0,
            l.ReadBandwidth, l.WriteBandwidth, l.Keeps,
            new Fanout(l.Fanout.X, l.Fanout.Y, l.Fanout.Multicast, l.Fanout.SpatialReduction, 0, l.Fanout.Topology) { Forwarding = l.Fanout.Forwarding })
            { Window = l.Window });
        return new Architecture(arch.Name, arch.Description, levels, new ComputeUnit(0, arch.Compute.MacsPerCycle), arch.ClockGHz);
    }

    /// <summary>The least cycles of every completion of <paramref name="s"/>, whose levels <paramref name="d"/> and below are decided: the most, over the ports, of the words each must move per instance over its bandwidth.</summary>
    public double Bound(State s, int d)
    {
        double cycles = 0;
        foreach (var (model, level, bandwidth) in _ports)
            cycles = Math.Max(cycles, model.InnerBound(s, d) / s.Used[level] / bandwidth);
        return cycles;
    }
}
