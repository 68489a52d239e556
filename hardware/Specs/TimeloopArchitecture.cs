using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using YamlDotNet.RepresentationModel;

namespace Optimizer.Hardware.Specs;

/// <summary>Names with Timeloop's instance ranges, such as <c>PE[0..15]</c>.</summary>
internal static partial class TimeloopNames
{
    /// <summary>The name without its range.</summary>
    public static string Strip(string name) => Range().Match(name) is { Success: true } m ? m.Groups[1].Value : name.Trim();

    /// <summary>How many instances the range names (1 without a range); null when the range is malformed (low above high).</summary>
    public static long? Count(string name)
    {
        var m = Range().Match(name);
        if (!m.Success) return 1;
        long lo = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), hi = long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        return hi >= lo ? hi - lo + 1 : null;
    }

    /// <summary>The dotted path without any range, so that <c>system.PE[0..15].MAC</c> splits on its dots.</summary>
    public static string StripRanges(string path) => AnyRange().Replace(path, "");

    [GeneratedRegex(@"\[\s*\d+\s*\.\.\s*\d+\s*\]")]
    private static partial Regex AnyRange();

    [GeneratedRegex(@"^\s*([^\[\s]+)\s*\[\s*(\d+)\s*\.\.\s*(\d+)\s*\]\s*$")]
    private static partial Regex Range();
}

/// <summary>
/// Reads and writes Timeloop architecture files (docs/interop.md): the v0.3 tree (<c>architecture: {version,
/// subtree, local}</c>, instance ranges such as <c>PE[0..15]</c>) and the v0.4 flat list of <c>!Container</c>
/// and <c>!Component</c> nodes. Energies come from an energy reference table: an <c>ERT</c> key in the same
/// file, or one given separately. Roles a level may not keep come from <c>architecture_constraints</c> bypass
/// entries that name roles.
/// </summary>
public static class TimeloopArchitecture
{
    // Our own attributes, which Timeloop ignores: what the native format says and Timeloop's does not.
    private const string Ext = "optimizer-";

    private static readonly string[] ComputeClasses = ["intmac", "fpmac", "mac", "compute"];
    private static readonly string[] StorageClassParts = ["dram", "sram", "regfile", "smartbuffer", "storage", "buffer"];
    private const string Sparse = "sparse optimizations are not supported: tensors are dense";

    // Attributes that change what Timeloop models in ways the cost model cannot follow, with the reason.
    private static readonly Dictionary<string, string> Unsupported = new()
    {
        ["shared-bandwidth"] = "the cost model has separate read and write bandwidths; give read_bandwidth and write_bandwidth",
        ["multiple-buffering"] = "the cost model holds one buffer per tile",
        ["metadata-storage-width"] = Sparse,
        ["metadata-datawidth"] = Sparse,
        ["compression-supported"] = Sparse,
        ["decompression-supported"] = Sparse,
    };

    /// <summary>Reads a Timeloop architecture file, with energies from <paramref name="energy"/> or the file's own ERT; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static Architecture Load(string path, EnergyTable? energy = null) => Parse(File.ReadAllText(path), path, energy);

    /// <summary>Reads a Timeloop architecture from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static Architecture Parse(string text, string fileName, EnergyTable? energy = null)
    {
        var reader = new SpecReader(fileName);
        var top = reader.Document(text, "architecture");
        var arch = top is null ? null : Read(top, fileName, energy);
        reader.ThrowIfErrors();
        return arch!;
    }

    /// <summary>One component of the flattened tree, with its instances and total mesh width.</summary>
    private sealed record Component(SpecNode Node, string Name, string Class, Dictionary<string, SpecNode> Attributes, long Instances, long? MeshX, SpecNode? Bypass = null)
    {
        public SpecNode? Attr(string key) => Attributes.GetValueOrDefault(key);
        public bool IsCompute => ComputeClasses.Contains(Class.ToLowerInvariant());
    }

    private static Architecture? Read(SpecMap top, string fileName, EnergyTable? energy)
    {
        var root = top.Required("architecture")?.AsMap("version", "subtree", "local", "nodes", "attributes", "name");
        if (root is null) return null;
        var components = new List<Component>();
        string? name = null;
        var rootAttributes = new Dictionary<string, SpecNode>();
        if (root.Has("nodes")) Flat(root.List("nodes")!, components, rootAttributes, ref name);
        else Tree(root.Self, 1, [], 0, components, rootAttributes, ref name);
        var ert = top.Get("ERT") is { } ertNode ? EnergyTable.Read(ertNode) : null;
        energy ??= ert;
        var bypass = Bypassed(top);
        if (top.Self.Reader.HasErrors) return null;

        var storage = components.Where(c => !c.IsCompute).ToList();
        var compute = components.Where(c => c.IsCompute).ToList();
        foreach (var c in components.Where(c => !c.IsCompute && !StorageClassParts.Any(c.Class.ToLowerInvariant().Contains)))
            c.Node.Error($"unknown class '{c.Class}'; storage classes are DRAM, SRAM, regfile, smartbuffer_*, storage; compute classes are {string.Join(", ", ComputeClasses)}; networks and other components are not supported");
        if (storage.Count == 0) root.Self.Error("an architecture needs at least one storage component (DRAM, SRAM, regfile, ...)");
        if (compute.Count != 1) root.Self.Error($"an architecture needs exactly one compute component (class {string.Join(", ", ComputeClasses)}); this one has {compute.Count}");
        else if (components[^1] != compute[0]) compute[0].Node.Error($"the compute component {compute[0].Name} must come last, below every storage level");
        if (top.Self.Reader.HasErrors) return null;

        var levels = new List<StorageLevel>();
        for (int i = 0; i < storage.Count; i++)
        {
            var c = storage[i];
            var below = i + 1 < storage.Count ? storage[i + 1] : compute[0];
            var level = Level(c, below, i == 0, bypass.GetValueOrDefault(c.Name), energy);
            if (level is not null) levels.Add(level);
        }
        var mac = compute[0];
        double? macEnergy = energy?.Components.GetValueOrDefault(mac.Name)?.Mac;
        if (macEnergy is null) mac.Node.Error($"no MAC energy for {mac.Name}: give an energy reference table (--energy FILE, or an ERT key in this file) with a table named ...{mac.Name} and a compute or mac_random action");
        var macsPerCycle = mac.Attr(Ext + "macs-per-cycle")?.AsInt(min: 1) ?? 1;
        double? clock = Clock(rootAttributes);
        var description = rootAttributes.GetValueOrDefault(Ext + "description")?.AsString() ?? $"Timeloop architecture {System.IO.Path.GetFileName(fileName)}";
        if (top.Self.Reader.HasErrors || levels.Count != storage.Count) return null;
        var archName = name is { Length: > 0 } n && !n.Any(char.IsWhiteSpace) ? n : "timeloop-architecture";
        var computeUnit = mac.Node.Build(() => new ComputeUnit(macEnergy!.Value, macsPerCycle));
        return computeUnit is null ? null : root.Self.Build(() => new Architecture(archName, description, levels, computeUnit, clock));
    }

    private static double? Clock(Dictionary<string, SpecNode> attributes)
    {
        if (attributes.GetValueOrDefault(Ext + "clock-ghz") is { } ghz) return ghz.AsDouble(0, exclusive: true);
        if (attributes.GetValueOrDefault("global-cycle-seconds") is { } s && s.AsDouble(0, exclusive: true) is { } seconds) return 1e-9 / seconds;
        return null;
    }

    // v0.3: a node with a name (perhaps with a range), attributes inherited downwards, local components and at most
    // one subtree. Depth 0 is the architecture key itself; the subtree at depth 1 names the design.
    private static void Tree(SpecNode node, long instances, Dictionary<string, SpecNode> inherited, int depth, List<Component> into,
        Dictionary<string, SpecNode> rootAttributes, ref string? archName)
    {
        var m = depth == 0 ? node.AsMap() : node.AsMap("name", "attributes", "local", "subtree");
        if (m is null) return;
        var attributes = new Dictionary<string, SpecNode>(inherited);
        if (depth > 0)
        {
            var nameText = m.String("name", required: true) ?? "";
            instances = checked(instances * Count(m.Get("name"), nameText));
            if (depth == 1)
            {
                archName = TimeloopNames.Strip(nameText);
                foreach (var (k, v) in Attributes(m.Get("attributes"))) rootAttributes[k] = v;
            }
        }
        foreach (var (k, v) in Attributes(m.Get("attributes"))) attributes[k] = v;
        foreach (var item in m.List("local") ?? [])
        {
            var c = item.AsMap("name", "class", "attributes", "required_actions", "actions", "subclass");
            var cname = c?.String("name", required: true);
            var cls = c?.String("class", required: true);
            if (cname is null || cls is null) continue;
            var own = new Dictionary<string, SpecNode>(attributes);
            foreach (var (k, v) in Attributes(c!.Get("attributes"))) own[k] = v;
            long n = checked(instances * Count(c.Get("name"), cname));
            if (own.GetValueOrDefault("instances") is { } inst && inst.AsLong(1) is { } given && n == 1) n = given;
            into.Add(new Component(item, TimeloopNames.Strip(cname), cls, own, n, MeshX(own, n, item, TimeloopNames.Strip(cname))));
        }
        var subtrees = m.List("subtree") ?? [];
        if (subtrees.Count > 1) subtrees[1].Error("only one subtree per level is supported (a chain of levels): the architecture is one hierarchy of storage levels");
        if (subtrees.Count > 0) Tree(subtrees[0], instances, attributes, depth + 1, into, rootAttributes, ref archName);
    }

    // The mesh width from meshX, or from meshY (meshX = instances / meshY); null (meshX = instances) when neither is given.
    private static long? MeshX(Dictionary<string, SpecNode> attributes, long instances, SpecNode component, string name)
    {
        var x = attributes.GetValueOrDefault("meshx")?.AsLong(1);
        var y = attributes.GetValueOrDefault("meshy")?.AsLong(1);
        if (y is null) return x;
        if (x is null ? instances % y != 0 : x * y != instances)
            component.Error($"a {(x is null ? "" : $"{x} x ")}{y}-high mesh does not hold the {instances} instances of {name}");
        return x ?? instances / y;
    }

    // v0.4: !Container and !Component nodes, outermost first; a node's spatial mesh multiplies the instances of it and every node after it.
    private static void Flat(IReadOnlyList<SpecNode> nodes, List<Component> into, Dictionary<string, SpecNode> rootAttributes, ref string? archName)
    {
        long instances = 1, meshX = 1;
        foreach (var node in nodes)
        {
            var tag = node.Node.Tag.IsEmpty ? "" : node.Node.Tag.Value.TrimStart('!');
            var m = node.AsMap("name", "class", "attributes", "spatial", "constraints", "actions", "enabled", "required_actions", "subclass");
            if (m is null) continue;
            var nameText = m.String("name", required: true) ?? "";
            if (m.Map("spatial", false, "meshX", "meshY") is { } sp)
            {
                long x = sp.Long("meshX", min: 1) ?? 1, y = sp.Long("meshY", min: 1) ?? 1;
                instances = checked(instances * x * y);
                meshX = checked(meshX * x);
            }
            var attributes = Attributes(m.Get("attributes"));
            if (tag == "Container")
            {
                if (archName is null)
                {
                    archName = nameText;
                    foreach (var (k, v) in attributes) rootAttributes[k] = v;
                }
                continue;
            }
            if (tag != "Component")
            {
                node.Error($"unknown node type '!{tag}'; the flat form lists !Container and !Component nodes (nested !Hierarchical or !Parallel nodes are not supported)");
                continue;
            }
            if (m.Get("enabled")?.AsBool() == false) continue;
            SpecNode? bypass = null;
            if (m.Get("constraints") is { } cons)
            {
                // Only a dataspace bypass of roles belongs to the architecture; other constraints go to --constraints.
                var cm = cons.AsMap();
                foreach (var (key, value) in cm?.Entries ?? [])
                    if (key != "dataspace") value.Error($"{key} constraints are mapper constraints, not properties of the architecture; give them with --constraints");
                var ds = cm?.Map("dataspace", false, "keep", "bypass");
                if (ds?.Get("keep") is { } keep) keep.Error("a component's keep list is a mapper constraint, not a property of the architecture; give it with --constraints");
                bypass = ds?.Get("bypass");
            }
            var cls = m.String("class", required: true);
            if (cls is not null) into.Add(new Component(node, nameText, cls, attributes, instances, meshX, bypass));
        }
    }

    private static long Count(SpecNode? nameNode, string name)
    {
        var count = TimeloopNames.Count(name);
        if (count is null) nameNode?.Error($"the instance range of '{name}' is empty: write Name[0..N-1] with N at least 1");
        return count ?? 1;
    }

    // Attribute names compared without case and with _ and - alike, as Timeloop's own spellings vary.
    private static Dictionary<string, SpecNode> Attributes(SpecNode? node)
    {
        var result = new Dictionary<string, SpecNode>();
        if (node?.AsMap() is { } m)
            foreach (var (k, v) in m.Entries) result[k.ToLowerInvariant().Replace('_', '-')] = v;
        return result;
    }

    // Roles that architecture_constraints bypass at a level (entries naming other data-spaces are mapper constraints).
    private static Dictionary<string, HashSet<TensorRole>> Bypassed(SpecMap top)
    {
        var result = new Dictionary<string, HashSet<TensorRole>>();
        var node = top.Get("architecture_constraints");
        if (node is null) return result;
        var items = node.IsList ? node.AsList() : node.AsMap()?.List("targets");
        foreach (var item in items ?? [])
        {
            var m = item.AsMap();
            if (m?.String("type") is not ("bypass" or "datatype")) continue;
            var target = m.String("target");
            if (target is null) continue;
            foreach (var b in m.List("bypass") ?? [])
                if (b.AsString() is { } text && WorkloadSpec.ParseRole(text) is { } role)
                    (result.TryGetValue(target, out var set) ? set : result[target] = []).Add(role);
        }
        return result;
    }

    private static StorageLevel? Level(Component c, Component below, bool outermost, HashSet<TensorRole>? bypass, EnergyTable? energy)
    {
        var errors = c.Node.Reader.Errors.Count;
        foreach (var (key, why) in Unsupported)
            if (c.Attr(key) is { } bad && !(key == "multiple-buffering" && bad.AsString() == "1"))
                bad.Error($"attribute {key} is not supported: {why} (docs/interop.md)");
        var wordBits = (c.Attr("word-bits") ?? c.Attr("datawidth"))?.AsInt(1) ?? 16;
        var width = (c.Attr("width") ?? c.Attr("memory-width"))?.AsInt(1);
        long? blockSize = c.Attr("block-size")?.AsLong(1);
        if (blockSize is null && width is { } w)
        {
            if (w % wordBits != 0) c.Attr("width")?.Error($"a width of {w} bits is not a whole number of {wordBits}-bit words; give block-size");
            blockSize = Math.Max(1, w / wordBits);
        }
        long block = blockSize ?? 1;
        var capacity = c.Class.Contains("dram", StringComparison.OrdinalIgnoreCase) ? null : Capacity(c, wordBits, block);
        var readBandwidth = Bandwidth(c.Attr("read-bandwidth"));
        var writeBandwidth = Bandwidth(c.Attr("write-bandwidth"));
        var fanout = Fanout(c, below, checkParent: outermost);
        var roles = Enum.GetValues<TensorRole>().Where(r => bypass?.Contains(r) != true).ToList();
        if (c.Bypass is { } listNode)
            foreach (var item in listNode.AsList() ?? [])
                if (item.AsString() is { } text && WorkloadSpec.ParseRole(text) is { } role) roles.Remove(role);
        // Ours, which Timeloop ignores: the roles a level may not keep, naming no data-space (so the file loads with any problem).
        if (c.Attr(Ext + "bypass") is { } ours)
            foreach (var item in ours.AsList() ?? [])
                if (item.AsString() is { } text)
                {
                    if (WorkloadSpec.ParseRole(text) is { } role) roles.Remove(role);
                    else item.Error($"{Ext}bypass names roles (Inputs, Weights, Outputs), got '{text}'");
                }
        if (outermost && roles.Count != 3) c.Node.Error($"the outermost level {c.Name} must keep every role: it is where tensors start and end");
        var e = energy?.Components.GetValueOrDefault(c.Name);
        if (e?.Read is null || e.Write is null)
            c.Node.Error($"no read and write energy for {c.Name}: give an energy reference table (--energy FILE, or an ERT key in this file) with a table named ...{c.Name} and read and write (or update) actions");
        // Timeloop keeps window overlap only under the same stride (rule A); ours, which Timeloop ignores, may say otherwise.
        var window = outermost ? WindowReuse.Slide : WindowReuse.SameStride;
        if (c.Attr(Ext + "window") is { } windowNode && windowNode.AsString() is { } windowText)
        {
            if (ArchitectureSpec.ParseWindow(windowText) is { } rule) window = rule;
            else windowNode.Error($"unknown {Ext}window '{windowText}'; a window is {ArchitectureSpec.WindowChoices}");
        }
        if (c.Node.Reader.Errors.Count > errors || fanout is null) return null;
        return c.Node.Build(() => new StorageLevel(c.Name, capacity, wordBits, e!.Read!.Value / block, e.Write!.Value / block, readBandwidth, writeBandwidth, roles, fanout) { Window = window });
    }

    private static double? Bandwidth(SpecNode? node)
    {
        if (node is null) return null;
        if (node.Node is YamlScalarNode) return node.AsDouble(0, exclusive: true);
        node.Error("datatype-specific bandwidth is not supported: give one number of words per cycle for every data space");
        return null;
    }

    private static long? Capacity(Component c, int wordBits, long block)
    {
        if (c.Attr("entries") is { } entries) return entries.AsLong(1);
        if ((c.Attr("depth") ?? c.Attr("memory-depth")) is { } depth) return depth.AsLong(1) is { } d ? checked(d * block) : null;
        if (c.Attr("sizekb") is { } kb)
        {
            if (kb.AsDouble(0, exclusive: true) * 8192 is not { } bits) return null;
            if (bits % wordBits == 0) return (long)(bits / wordBits);
            kb.Error($"{kb.Describe()} KB is not a whole number of {wordBits}-bit words");
        }
        return null;
    }

    // The fanout from one level to the next: the ratio of their meshes along X and along Y.
    private static Fanout? Fanout(Component parent, Component child, bool checkParent)
    {
        long px = parent.MeshX ?? parent.Instances, cx = child.MeshX ?? child.Instances;
        // Each component is checked as a child; only the outermost, which is no one's child, as a parent.
        if ((checkParent && parent.Instances % px != 0) || child.Instances % cx != 0)
        {
            var bad = child.Instances % cx != 0 ? child : parent;
            bad.Node.Error($"meshX {bad.MeshX} does not divide the {bad.Instances} instances of {bad.Name}");
            return null;
        }
        long py = parent.Instances / px, cy = child.Instances / cx;
        if (cx % px != 0 || cy % py != 0)
        {
            child.Node.Error($"the {cx} x {cy} mesh of {child.Name} is not a whole number of copies of the {px} x {py} mesh of {parent.Name} above it");
            return null;
        }
        var attr = parent.Attributes;
        var topologyText = attr.GetValueOrDefault(Ext + "topology")?.AsString() ?? "bus";
        Topology? topology = topologyText.ToLowerInvariant() switch { "bus" => Topology.Bus, "mesh" => Topology.Mesh, _ => null };
        if (topology is null) attr[Ext + "topology"].Error($"unknown topology '{topologyText}'; a topology is bus or mesh");
        var multicast = attr.GetValueOrDefault(Ext + "multicast")?.AsBool() ?? true;
        var reduction = attr.GetValueOrDefault(Ext + "reduction")?.AsBool() ?? true;
        var hop = attr.GetValueOrDefault(Ext + "hop-energy")?.AsDouble(0) ?? 0;
        // Timeloop forwards between neighbours along both axes (rule C); ours may say otherwise.
        Forwarding? forwarding = cx / px * (cy / py) > 1 ? Forwarding.XY : Forwarding.None;
        if (attr.GetValueOrDefault(Ext + "forwarding") is { } forwardNode && forwardNode.AsString() is { } forwardText)
        {
            forwarding = ArchitectureSpec.ParseForwarding(forwardText);
            if (forwarding is null) forwardNode.Error($"unknown {Ext}forwarding '{forwardText}'; forwarding is {ArchitectureSpec.ForwardingChoices}");
        }
        if (topology is null || forwarding is null) return null;
        return parent.Node.Build(() => new Fanout(checked((int)(cx / px)), checked((int)(cy / py)), multicast, reduction, hop, topology.Value) { Forwarding = forwarding.Value });
    }

    /// <summary>
    /// Writes the architecture in Timeloop's v0.3 tree form, one nested subtree per fanout, followed by the
    /// <c>ERT</c> with its energies (block size 1, so an action moves one word); what Timeloop has no words for
    /// (hop energy, topology, multicast, reduction, description, clock, MACs per cycle, and the roles a level
    /// may not keep) goes in <c>optimizer-</c> attributes. The roles a level may not keep are not written as
    /// <c>architecture_constraints</c>: those name data-spaces, and Timeloop stops when a problem read with the
    /// architecture lacks one (an elementwise layer has no Weights); they follow as a comment to copy for
    /// problems that have all three (docs/interop.md).
    /// </summary>
    public static string Write(Architecture arch)
    {
        var sb = new StringBuilder();
        var ert = new StringBuilder();
        var bypass = new StringBuilder();
        sb.Append("architecture:\n  version: 0.3\n  subtree:\n");
        sb.Append($"    - name: {YamlText.Scalar(arch.Name)}\n");
        sb.Append($"      attributes: {{{Ext}description: {YamlText.Quoted(arch.Description)}");
        if (arch.ClockGHz is { } ghz) sb.Append($", {Ext}clock-ghz: {YamlText.Number(ghz)}");
        sb.Append("}\n");
        var indent = "      ";
        var path = arch.Name;
        sb.Append($"{indent}local:\n");
        for (int i = 0; i < arch.Levels.Count; i++)
        {
            var l = arch.Levels[i];
            var attrs = new List<string> { $"word-bits: {l.WordBits}", "block-size: 1" };
            if (l.Capacity is { } cap) attrs.InsertRange(0, [$"depth: {cap}", $"width: {l.WordBits}"]);
            if (l.ReadBandwidth is { } rb) attrs.Add($"read_bandwidth: {YamlText.Number(rb)}");
            if (l.WriteBandwidth is { } wb) attrs.Add($"write_bandwidth: {YamlText.Number(wb)}");
            attrs.AddRange(Mesh(arch, i));
            var f = l.Fanout;
            if (f.HopEnergy != 0) attrs.Add($"{Ext}hop-energy: {YamlText.Number(f.HopEnergy)}");
            if (f.Topology != Topology.Bus) attrs.Add($"{Ext}topology: {f.Topology.ToString().ToLowerInvariant()}");
            if (!f.Multicast) attrs.Add($"{Ext}multicast: false");
            if (!f.SpatialReduction) attrs.Add($"{Ext}reduction: false");
            if (f.Size > 1 && f.Forwarding != Forwarding.XY) attrs.Add($"{Ext}forwarding: {ArchitectureSpec.ForwardingName(f.Forwarding)}");
            if (i > 0 && l.Window != WindowReuse.SameStride) attrs.Add($"{Ext}window: {ArchitectureSpec.WindowName(l.Window)}");
            var bypassed = Enum.GetValues<TensorRole>().Where(r => !l.MayKeep(r)).ToList();
            if (bypassed.Count > 0) attrs.Add($"{Ext}bypass: [{string.Join(", ", bypassed)}]");
            var cls = l.Capacity is null ? "DRAM" : l.Capacity <= 1024 ? "regfile" : "SRAM";
            sb.Append($"{indent}  - name: {YamlText.Scalar(l.Name)}\n{indent}    class: {cls}\n{indent}    attributes: {{{string.Join(", ", attrs)}}}\n");
            ert.Append($"    - name: {YamlText.Scalar($"{path}.{l.Name}")}\n      actions:\n");
            ert.Append($"        - {{name: read, energy: {YamlText.Number(l.ReadEnergy)}}}\n");
            ert.Append($"        - {{name: write, energy: {YamlText.Number(l.WriteEnergy)}}}\n");
            ert.Append($"        - {{name: update, energy: {YamlText.Number(l.WriteEnergy)}}}\n");
            if (bypassed.Count > 0)
                bypass.Append($"#     - {{target: {YamlText.Scalar(l.Name)}, type: bypass, bypass: [{string.Join(", ", bypassed)}]}}\n");
            if (f.Size > 1)
            {
                var sub = $"{(i + 1 < arch.Levels.Count ? arch.Levels[i + 1].Name : "MAC")}Array[0..{f.Size - 1}]";
                sb.Append($"{indent}subtree:\n{indent}  - name: {YamlText.Scalar(sub)}\n");
                indent += "    ";
                path += "." + sub;
                sb.Append($"{indent}local:\n");
            }
        }
        var mac = arch.IndexOf("MAC") < 0 ? "MAC" : "MACUnit";
        var macAttrs = new List<string> { $"datawidth: {arch.Levels[^1].WordBits}" };
        macAttrs.AddRange(Mesh(arch, arch.Levels.Count));
        if (arch.Compute.MacsPerCycle != 1) macAttrs.Add($"{Ext}macs-per-cycle: {arch.Compute.MacsPerCycle}");
        sb.Append($"{indent}  - name: {mac}\n{indent}    class: intmac\n{indent}    attributes: {{{string.Join(", ", macAttrs)}}}\n");
        ert.Append($"    - name: {YamlText.Scalar($"{path}.{mac}")}\n      actions:\n");
        ert.Append($"        - {{name: compute, energy: {YamlText.Number(arch.Compute.MacEnergy)}}}\n");
        ert.Append($"        - {{name: mac_random, energy: {YamlText.Number(arch.Compute.MacEnergy)}}}\n");
        if (bypass.Length > 0)
            sb.Append("# The optimizer-bypass attributes above, for Timeloop's mapper: copy these entries into the constraints of a problem whose\n")
              .Append("# data-spaces are named Inputs, Weights and Outputs (Timeloop's CNN layer; the problems optimizer writes for layers of both\n")
              .Append("# operands). They are not active here because Timeloop stops on a data-space a problem lacks (an elementwise layer has no Weights).\n")
              .Append("# architecture_constraints:\n#   targets:\n").Append(bypass);
        sb.Append("ERT:\n  version: 0.3\n  tables:\n").Append(ert);
        return sb.ToString();
    }

    // meshX of the instances of level i (or of the compute units for i = level count): the product of the X sizes of the fanouts above.
    private static IEnumerable<string> Mesh(Architecture arch, int i)
    {
        long x = 1;
        for (int j = 0; j < i; j++) x *= arch.Levels[j].Fanout.X;
        long instances = i < arch.Levels.Count ? arch.InstancesOf(i) : arch.ComputeInstances;
        return instances > 1 ? [$"meshX: {x}"] : [];
    }
}
