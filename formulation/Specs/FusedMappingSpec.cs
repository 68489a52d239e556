using System.Text;
using Optimizer.Hardware;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Formulation.Specs;

/// <summary>
/// The fused mapping spec (docs/fusion.md): a <c>fused-mapping</c> with its <c>groups</c> (layers,
/// shared-loop count and the tensors held on chip) and one entry per layer under <c>mappings</c>, each written like the body of a
/// mapping spec (docs/spec-format.md).
/// </summary>
public static class FusedMappingSpec
{
    /// <summary>True when the text's root key is <c>fused-mapping</c> (so a command that takes a mapping file can tell the two apart).</summary>
    public static bool IsFused(string text)
        => text.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => l.Length > 0 && !l.StartsWith('#')) is { } first
           && first.StartsWith("fused-mapping:", StringComparison.Ordinal);

    /// <summary>Reads a fused mapping spec file; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static FusedMapping Load(string path, Workload w, Architecture arch) => Parse(File.ReadAllText(path), path, w, arch);

    /// <summary>Reads a fused mapping spec from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static FusedMapping Parse(string text, string fileName, Workload w, Architecture arch)
    {
        var reader = new SpecReader(fileName);
        var root = reader.Root(text, "fused-mapping");
        FusedMapping? result = null;
        if (root is not null)
        {
            root.AllowOnly("groups", "mappings", "prologues");
            var groups = new List<FusedGroup>();
            foreach (var item in root.List("groups", required: true) ?? [])
            {
                var m = item.AsMap("layers", "shared-loops", "held", "held-levels", "halo", "schedule");
                if (m is null) continue;
                int shared = m.Int("shared-loops", min: 0) ?? 0;
                bool keep = false;
                if (m.Get("halo") is { } haloNode && haloNode.AsString() is { } policy)
                {
                    if (policy is "keep" or "recompute") keep = policy == "keep";
                    else haloNode.Error($"the halo policy is 'recompute' (the default) or 'keep', not '{policy}'");
                }
                bool pipelined = false;
                if (m.Get("schedule") is { } scheduleNode && scheduleNode.AsString() is { } schedule)
                {
                    if (schedule is "pipelined" or "sequential") pipelined = schedule == "pipelined";
                    else scheduleNode.Error($"the schedule is 'sequential' (the default) or 'pipelined', not '{schedule}'");
                }
                var layersNode = m.Required("layers");
                var indices = (layersNode?.AsList() ?? []).Select(n => (Node: n, Index: LayerIndex(n, w))).ToList();
                if (indices.Count == 0) { layersNode?.Error("a group lists at least one layer"); continue; }
                if (indices.Any(x => x.Index < 0)) continue;
                for (int k = 1; k < indices.Count; k++)
                    if (indices[k].Index != indices[k - 1].Index + 1)
                        indices[k].Node.Error($"the layers of a group are consecutive in the workload's order; after {w.Layers[indices[k - 1].Index].Name} comes {(indices[k - 1].Index + 1 < w.Layers.Count ? w.Layers[indices[k - 1].Index + 1].Name : "nothing")}");
                var held = HeldTensors(m.Get("held"), w, indices.Select(x => x.Index).ToList());
                int first = indices[0].Index, last = Math.Max(indices[0].Index, indices[^1].Index);
                var levels = HeldLevels(m.Get("held-levels"), w, arch, held ?? FusionRules.DefaultHeld(w, first, last));
                groups.Add(new FusedGroup(first, last, shared, held, keep, pipelined, levels));
            }
            var mappings = new Mapping?[w.Layers.Count];
            foreach (var item in root.List("mappings", required: true) ?? [])
            {
                var m = item.AsMap("layer", "levels");
                var layerNode = m?.Required("layer");
                if (m is null || layerNode is null) continue;
                int index = LayerIndex(layerNode, w);
                if (index < 0) continue;
                if (mappings[index] is not null) { layerNode.Error($"layer {w.Layers[index].Name} has two mappings"); continue; }
                // A producer that computes its readers' halos names its split ranks (P.t, P.h; docs/fusion.md, "Halos").
                mappings[index] = MappingSpec.Read(m, FusionRules.WithSplitRanks(w.Layers[index]), arch);
            }
            // A producer that keeps its readers' halos has a prologue mapping over its own ranks (docs/fusion.md, "Halos").
            var prologues = new Mapping?[w.Layers.Count];
            foreach (var item in root.List("prologues") ?? [])
            {
                var m = item.AsMap("layer", "levels");
                var layerNode = m?.Required("layer");
                if (m is null || layerNode is null) continue;
                int index = LayerIndex(layerNode, w);
                if (index < 0) continue;
                if (prologues[index] is not null) { layerNode.Error($"layer {w.Layers[index].Name} has two prologues"); continue; }
                prologues[index] = MappingSpec.Read(m, w.Layers[index], arch);
            }
            foreach (var missing in Enumerable.Range(0, w.Layers.Count).Where(i => mappings[i] is null && !reader.HasErrors))
                root.Self.Error($"no mapping for layer {w.Layers[missing].Name}; every layer of {w.Name} needs one");
            if (!reader.HasErrors) result = new FusedMapping(groups, mappings!, prologues);
        }
        reader.ThrowIfErrors();
        return result!;
    }

    /// <summary>Writes a fused mapping: groups, then every layer's mapping with explicit levels and keep lists.</summary>
    public static string Write(Workload w, Architecture arch, FusedMapping fm)
    {
        var sb = new StringBuilder();
        sb.Append($"# fused mapping of {w.Name} on {arch.Name} (docs/fusion.md)\n");
        sb.Append("fused-mapping:\n  groups:\n");
        // A held tensor's level is written only when it is not the default (the outermost that can hold it), so files read the same.
        foreach (var g in FusionRules.WithoutDefaultLevels(w, arch, fm).Groups)
        {
            var deeper = FusionRules.HeldOf(w, g).Where(t => g.Levels.TryGetValue(t, out int l) && l >= 0 && l < arch.Levels.Count).ToList();
            string levels = deeper.Count == 0 ? "" : $", held-levels: {{ {string.Join(", ", deeper.Select(t => $"{t.Name}: {arch.Levels[g.Levels[t]].Name}"))} }}";
            sb.Append($"    - {{ layers: {YamlText.List(Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name))}, shared-loops: {g.SharedLoops}, held: {YamlText.List(FusionRules.HeldOf(w, g).Select(t => t.Name))}{levels}{(g.KeepHalos ? ", halo: keep" : "")}{(g.Pipelined ? ", schedule: pipelined" : "")} }}\n");
        }
        sb.Append("  mappings:\n");
        for (int i = 0; i < w.Layers.Count; i++) MappingSpec.AppendListItem(sb, fm.Layers[i], w.Layers[i], arch);
        if (fm.Prologues.Any(p => p is not null))
        {
            sb.Append("  prologues:\n");
            for (int i = 0; i < w.Layers.Count; i++)
                if (fm.Prologues[i] is { } p) MappingSpec.AppendListItem(sb, p, w.Layers[i], arch);
        }
        return sb.ToString();
    }

    /// <summary>
    /// The tensors a group holds (<c>held</c>, a list of tensor names each of which some member touches); null when
    /// the key is absent (the default of <see cref="FusionRules.DefaultHeld"/>) or a name is wrong (reported).
    /// </summary>
    private static IReadOnlyList<TensorId>? HeldTensors(SpecNode? node, Workload w, IReadOnlyList<int> members)
    {
        var items = node?.AsList();
        if (items is null) return null;
        var result = new List<TensorId>();
        bool ok = true;
        var touched = members.Where(i => i >= 0).SelectMany(i => w.Layers[i].Tensors.Select(t => t.Id.Name)).Distinct().ToList();
        foreach (var item in items)
        {
            var name = item.AsString();
            if (name is null) { ok = false; continue; }
            if (!touched.Contains(name))
            {
                var close = SpecReader.Closest(name, touched);
                item.Error($"no layer of the group reads or writes a tensor '{name}'{(close is null ? "" : $"; did you mean {close}?")}; a group holds tensors its members touch");
                ok = false;
                continue;
            }
            result.Add(new TensorId(name));
        }
        return ok ? result : null;
    }

    /// <summary>
    /// The fusion level of held tensors (<c>held-levels</c>, a map from a held tensor's name to a level's name); null when
    /// the key is absent (every held tensor in its default level). A name that is not a held tensor or not a level is
    /// reported here; a level that cannot hold the tensor (several instances, or not keeping its role) the checker reports.
    /// </summary>
    private static Dictionary<TensorId, int>? HeldLevels(SpecNode? node, Workload w, Architecture arch, IReadOnlyList<TensorId> held)
    {
        if (node is null) return null;
        var map = node.AsMap();
        if (map is null) return null;
        var result = new Dictionary<TensorId, int>();
        var names = arch.Levels.Select(l => l.Name).ToList();
        foreach (var (key, value) in map.Entries)
        {
            if (!held.Any(t => t.Name == key))
            {
                value.Error($"'{key}' is not a tensor the group holds ({string.Join(", ", held)}); held-levels names the level of a held tensor");
                continue;
            }
            if (value.AsString() is not { } level) continue;
            int index = names.IndexOf(level);
            if (index < 0)
            {
                var close = SpecReader.Closest(level, names);
                value.Error($"{arch.Name} has no level '{level}'{(close is null ? "" : $"; did you mean {close}?")}");
                continue;
            }
            result[new TensorId(key)] = index;
        }
        return result;
    }

    internal static int LayerIndex(SpecNode node, Workload w)
    {
        var name = node.AsString();
        if (name is null) return -1;
        for (int i = 0; i < w.Layers.Count; i++) if (w.Layers[i].Name == name) return i;
        var close = SpecReader.Closest(name, w.Layers.Select(l => l.Name));
        node.Error($"workload {w.Name} has no layer '{name}'{(close is null ? "" : $"; did you mean {close}?")}");
        return -1;
    }
}
