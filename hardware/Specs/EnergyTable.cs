using Optimizer.Workloads.Specs;

namespace Optimizer.Hardware.Specs;

/// <summary>
/// The energies of one component in an energy reference table (ERT), in pJ per action: a read, a write
/// (fill or update) and a MAC; null when the table gives no such action.
/// </summary>
public sealed record ComponentEnergy(string Component, double? Read, double? Write, double? Mac, SpecError Where);

/// <summary>
/// An energy reference table in the Timeloop/Accelergy format (<c>ERT: {version, tables: [{name, actions:
/// [{name, arguments, energy}]}]}</c>), by component name (the last part of the table's dotted name, without
/// its instance range). docs/interop.md says which actions count as what.
/// </summary>
public sealed class EnergyTable
{
    private static readonly string[] ReadActions = ["read", "random_read"];
    private static readonly string[] WriteActions = ["write", "random_write", "fill", "random_fill"];
    private static readonly string[] UpdateActions = ["update", "random_update"];
    private static readonly string[] MacActions = ["compute", "mac_random", "mac"];

    /// <summary>The components, by name.</summary>
    public IReadOnlyDictionary<string, ComponentEnergy> Components { get; }

    private EnergyTable(IReadOnlyDictionary<string, ComponentEnergy> components) => Components = components;

    /// <summary>Reads an ERT file; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static EnergyTable Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Reads an ERT from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static EnergyTable Parse(string text, string fileName)
    {
        var reader = new SpecReader(fileName);
        var node = reader.Document(text, "ERT")?.Required("ERT");
        var table = node is null ? null : Read(node);
        reader.ThrowIfErrors();
        return table!;
    }

    /// <summary>Reads the value of an <c>ERT</c> key; null with located errors when it is malformed.</summary>
    internal static EnergyTable? Read(SpecNode ert)
    {
        var m = ert.AsMap("version", "tables");
        if (m is null) return null;
        var components = new Dictionary<string, ComponentEnergy>();
        foreach (var item in m.List("tables", required: true) ?? [])
        {
            var t = item.AsMap("name", "actions");
            var full = t?.String("name", required: true);
            var actions = t?.List("actions", required: true);
            if (full is null || actions is null) continue;
            var name = TimeloopNames.Strip(TimeloopNames.StripRanges(full).Split('.')[^1]);
            var energies = new Dictionary<string, (double Energy, SpecNode Node)>();
            foreach (var a in actions)
            {
                var am = a.AsMap("name", "arguments", "energy");
                var action = am?.String("name", required: true);
                var energy = am?.Double("energy", required: true, min: 0);
                // An action listed once per argument combination costs the most expensive one (a random access).
                if (action is not null && energy is not null && (!energies.TryGetValue(action, out var e) || e.Energy < energy))
                    energies[action] = (energy.Value, a);
            }
            double? First(string[] names) => names.Where(energies.ContainsKey).Select(n => (double?)energies[n].Energy).FirstOrDefault();
            var read = First(ReadActions);
            var write = First(WriteActions);
            var update = First(UpdateActions);
            if (write is not null && update is not null && Math.Abs(write.Value - update.Value) > 1e-9 * Math.Max(1, Math.Abs(write.Value)))
            {
                var node = energies[UpdateActions.First(energies.ContainsKey)].Node;
                node.Error($"component {name}: a write (fill) costs {YamlText.Number(write.Value)} pJ but an update {YamlText.Number(update.Value)} pJ; " +
                           "the cost model charges fills and updates one write energy, so they must be equal");
            }
            var where = new SpecError(ert.Reader.File, item.Line, item.Column, item.Path, "");
            if (components.TryGetValue(name, out var first))
                t!.Get("name")!.Error($"component {name} has two tables (the first at line {first.Where.Line})");
            else components[name] = new ComponentEnergy(name, read, write ?? update, First(MacActions), where);
        }
        return ert.Reader.HasErrors ? null : new EnergyTable(components);
    }

    /// <summary>
    /// The architecture with the energies this table gives: per word for each level named in it (an action on a
    /// native level moves one word), and the MAC energy from the one component with a MAC action. A component
    /// that names no level and has no MAC action is an error; throws <see cref="SpecException"/> listing every one.
    /// </summary>
    public Architecture Apply(Architecture arch)
    {
        var errors = new List<SpecError>();
        double mac = arch.Compute.MacEnergy;
        var macs = Components.Values.Where(c => c.Mac is not null).ToList();
        if (macs.Count > 1) errors.Add(macs[1].Where with { Message = $"two components have a MAC action ({macs[0].Component} and {macs[1].Component}); the architecture has one compute unit" });
        else if (macs.Count == 1) mac = macs[0].Mac!.Value;
        foreach (var c in Components.Values.Where(c => c.Mac is null && arch.IndexOf(c.Component) < 0))
            errors.Add(c.Where with { Message = $"component {c.Component} is neither a level of {arch.Name} ({string.Join(", ", arch.Levels.Select(l => l.Name))}) nor a compute unit (no {string.Join("/", MacActions)} action)" });
        if (errors.Count > 0) throw new SpecException(errors);
        var levels = arch.Levels.Select(l => Components.TryGetValue(l.Name, out var e)
            ? new StorageLevel(l.Name, l.Capacity, l.WordBits, e.Read ?? l.ReadEnergy, e.Write ?? l.WriteEnergy, l.ReadBandwidth, l.WriteBandwidth, l.Keeps, l.Fanout) { Window = l.Window }
            : l);
        return new Architecture(arch.Name, arch.Description, levels, new ComputeUnit(mac, arch.Compute.MacsPerCycle), arch.ClockGHz);
    }
}
