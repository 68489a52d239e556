using System.Text;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Hardware.Specs;

/// <summary>Reads and writes architecture spec files (docs/spec-format.md): storage levels outermost first, their fanouts, and the compute units.</summary>
public static class ArchitectureSpec
{
    private static readonly TensorRole[] AllRoles = Enum.GetValues<TensorRole>();

    /// <summary>Reads an architecture spec file; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static Architecture Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Reads an architecture spec from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static Architecture Parse(string text, string fileName)
    {
        var reader = new SpecReader(fileName);
        var arch = Read(reader, reader.Root(text, "architecture"));
        reader.ThrowIfErrors();
        return arch!;
    }

    /// <summary>Writes the architecture with every field explicit (capacity in words), so that it reads back equal.</summary>
    public static string Write(Architecture arch)
    {
        var sb = new StringBuilder();
        sb.Append("architecture:\n");
        sb.Append($"  name: {YamlText.Scalar(arch.Name)}\n");
        if (arch.Description.Length > 0) sb.Append($"  description: {YamlText.Quoted(arch.Description)}\n");
        if (arch.ClockGHz is { } ghz) sb.Append($"  clock-ghz: {YamlText.Number(ghz)}\n");
        sb.Append($"  compute: {{mac-energy: {YamlText.Number(arch.Compute.MacEnergy)}, macs-per-cycle: {arch.Compute.MacsPerCycle}}}\n");
        sb.Append("  levels:\n");
        foreach (var l in arch.Levels)
        {
            sb.Append($"    - name: {YamlText.Scalar(l.Name)}\n");
            sb.Append($"      word-bits: {l.WordBits}\n");
            sb.Append($"      read-energy: {YamlText.Number(l.ReadEnergy)}\n");
            sb.Append($"      write-energy: {YamlText.Number(l.WriteEnergy)}\n");
            if (l.Capacity is { } c) sb.Append($"      capacity: {c}\n");
            if (l.ReadBandwidth is { } rb) sb.Append($"      read-bandwidth: {YamlText.Number(rb)}\n");
            if (l.WriteBandwidth is { } wb) sb.Append($"      write-bandwidth: {YamlText.Number(wb)}\n");
            sb.Append($"      keeps: {YamlText.List(AllRoles.Where(l.MayKeep).Select(WorkloadSpec.RoleName))}\n");
            var f = l.Fanout;
            if (l.Window != WindowReuse.Slide) sb.Append($"      window: {WindowName(l.Window)}\n");
            if (f != Fanout.None)
                sb.Append($"      fanout: {{x: {f.X}, y: {f.Y}, multicast: {Bool(f.Multicast)}, reduction: {Bool(f.SpatialReduction)}, " +
                          $"hop-energy: {YamlText.Number(f.HopEnergy)}, topology: {f.Topology.ToString().ToLowerInvariant()}" +
                          (f.Forwarding == Forwarding.None ? "" : $", forwarding: {ForwardingName(f.Forwarding)}") + "}\n");
        }
        return sb.ToString();
    }

    private static string Bool(bool b) => b ? "true" : "false";

    /// <summary>The choices of a level's <c>window</c>, as a user reads them in an error.</summary>
    public const string WindowChoices = "slide or same-stride";

    /// <summary>The choices of a fanout's <c>forwarding</c>, as a user reads them in an error.</summary>
    public const string ForwardingChoices = "none, x, y or xy";

    /// <summary>A window rule as written in a spec file.</summary>
    public static string WindowName(WindowReuse w) => w == WindowReuse.SameStride ? "same-stride" : "slide";

    /// <summary>Forwarding axes as written in a spec file.</summary>
    public static string ForwardingName(Forwarding f) => f switch { Forwarding.X => "x", Forwarding.Y => "y", Forwarding.XY => "xy", _ => "none" };

    /// <summary>Reads a window rule by name (case ignored); null when unknown.</summary>
    public static WindowReuse? ParseWindow(string text) => text.ToLowerInvariant() switch
    {
        "slide" => WindowReuse.Slide,
        "same-stride" => WindowReuse.SameStride,
        _ => null,
    };

    /// <summary>Reads forwarding axes by name (case ignored); null when unknown.</summary>
    public static Forwarding? ParseForwarding(string text) => text.ToLowerInvariant() switch
    {
        "none" => Forwarding.None,
        "x" => Forwarding.X,
        "y" => Forwarding.Y,
        "xy" or "yx" => Forwarding.XY,
        _ => null,
    };

    private static Architecture? Read(SpecReader reader, SpecMap? root)
    {
        if (root is null) return null;
        root.AllowOnly("name", "description", "clock-ghz", "compute", "levels");
        var name = root.String("name", required: true);
        var description = root.String("description") ?? "";
        var clock = root.Double("clock-ghz", min: 0, exclusive: true);
        var computeMap = root.Map("compute", true, "mac-energy", "macs-per-cycle");
        var macEnergy = computeMap?.Double("mac-energy", true, min: 0);
        var macsPerCycle = computeMap?.Int("macs-per-cycle", min: 1) ?? 1;
        var items = root.List("levels", required: true);
        if (items is { Count: 0 }) root.Get("levels")!.Error("must list at least one storage level");
        var levels = new List<StorageLevel>();
        var seen = new Dictionary<string, SpecNode>();
        for (int i = 0; i < (items?.Count ?? 0); i++)
        {
            var level = ReadLevel(items![i], outermost: i == 0, seen);
            if (level is not null) levels.Add(level);
        }
        if (reader.HasErrors || name is null || macEnergy is null) return null;
        var compute = computeMap!.Self.Build(() => new ComputeUnit(macEnergy.Value, macsPerCycle));
        return compute is null ? null : root.Self.Build(() => new Architecture(name, description, levels, compute, clock));
    }

    private static StorageLevel? ReadLevel(SpecNode item, bool outermost, Dictionary<string, SpecNode> seen)
    {
        var m = item.AsMap("name", "word-bits", "read-energy", "write-energy", "capacity", "capacity-bytes",
            "read-bandwidth", "write-bandwidth", "keeps", "fanout", "window");
        if (m is null) return null;
        var errorsBefore = item.Reader.Errors.Count;
        var nameNode = m.Required("name");
        var name = nameNode?.AsString();
        if (name is not null)
        {
            if (name.Length == 0 || name.Any(char.IsWhiteSpace)) nameNode!.Error($"a level name must be non-empty and free of white space, got '{name}'");
            else if (seen.TryGetValue(name, out var first)) nameNode!.Error($"level name '{name}' is already used by the level at line {first.Line}");
            else seen[name] = item;
        }
        var wordBits = m.Int("word-bits", min: 1) ?? 16;
        var readEnergy = m.Double("read-energy", true, min: 0);
        var writeEnergy = m.Double("write-energy", true, min: 0);
        var capacity = Capacity(m, wordBits);
        var readBandwidth = m.Double("read-bandwidth", min: 0, exclusive: true);
        var writeBandwidth = m.Double("write-bandwidth", min: 0, exclusive: true);
        var keeps = Keeps(m.Get("keeps"), outermost);
        var fanout = ReadFanout(m.Map("fanout", false, "x", "y", "multicast", "reduction", "hop-energy", "topology", "forwarding"));
        var windowNode = m.Get("window");
        var windowText = windowNode?.AsString();
        var window = windowText is null ? WindowReuse.Slide : ParseWindow(windowText);
        if (window is null) windowNode!.Error($"unknown window '{windowText}'; a window is {WindowChoices}");
        if (item.Reader.Errors.Count > errorsBefore || name is null || readEnergy is null || writeEnergy is null || keeps is null || fanout is null || window is null) return null;
        return item.Build(() => new StorageLevel(name, capacity, wordBits, readEnergy.Value, writeEnergy.Value, readBandwidth, writeBandwidth, keeps, fanout) { Window = window.Value });
    }

    // Capacity in words from `capacity` (words) or `capacity-bytes`; null (unbounded) when neither is given.
    private static long? Capacity(SpecMap m, int wordBits)
    {
        var words = m.Long("capacity", min: 1);
        var bytesNode = m.Get("capacity-bytes");
        if (bytesNode is null) return words;
        if (m.Has("capacity"))
        {
            bytesNode.Error("give capacity (in words) or capacity-bytes, not both");
            return null;
        }
        var bytes = bytesNode.AsLong(min: 1);
        if (bytes is null) return null;
        if (bytes.Value * 8 % wordBits != 0)
        {
            bytesNode.Error($"{bytes} bytes is not a whole number of {wordBits}-bit words");
            return null;
        }
        return bytes.Value * 8 / wordBits;
    }

    private static TensorRole[]? Keeps(SpecNode? node, bool outermost)
    {
        if (node is null) return AllRoles;
        var items = node.AsList();
        if (items is null) return null;
        var roles = new List<TensorRole>();
        foreach (var item in items)
        {
            var text = item.AsString();
            if (text is null) continue;
            if (WorkloadSpec.ParseRole(text) is not { } role) item.Error($"unknown role '{text}'; a role is inputs, weights or outputs");
            else if (roles.Contains(role)) item.Error($"role {text} is listed twice");
            else roles.Add(role);
        }
        if (roles.Count != items.Count) return null;
        if (roles.Count == 0) { node.Error("a level must be allowed to keep at least one role"); return null; }
        if (outermost && roles.Count != AllRoles.Length)
        {
            node.Error($"the outermost level must keep every role (inputs, weights, outputs): it is where tensors start and end; it lacks {string.Join(", ", AllRoles.Except(roles).Select(WorkloadSpec.RoleName))}");
            return null;
        }
        return roles.ToArray();
    }

    private static Fanout? ReadFanout(SpecMap? m)
    {
        if (m is null) return Fanout.None;
        var x = m.Int("x", min: 1) ?? 1;
        var y = m.Int("y", min: 1) ?? 1;
        var multicast = m.Bool("multicast") ?? true;
        var reduction = m.Bool("reduction") ?? true;
        var hop = m.Double("hop-energy", min: 0) ?? 0;
        var topologyNode = m.Get("topology");
        var topologyText = topologyNode?.AsString();
        var topology = topologyText?.ToLowerInvariant() switch
        {
            null or "bus" => Topology.Bus,
            "mesh" => Topology.Mesh,
            _ => (Topology?)null,
        };
        if (topology is null)
        {
            topologyNode!.Error($"unknown topology '{topologyText}'; a topology is bus or mesh");
            return null;
        }
        var forwardNode = m.Get("forwarding");
        var forwardText = forwardNode?.AsString();
        var forwarding = forwardText is null ? Forwarding.None : ParseForwarding(forwardText);
        if (forwarding is null)
        {
            forwardNode!.Error($"unknown forwarding '{forwardText}'; forwarding is {ForwardingChoices}");
            return null;
        }
        return m.Self.Build(() => new Fanout(x, y, multicast, reduction, hop, topology.Value) { Forwarding = forwarding.Value });
    }
}
