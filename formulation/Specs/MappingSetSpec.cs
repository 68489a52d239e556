using System.Text;
using Optimizer.Hardware;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Formulation.Specs;

/// <summary>One layer's mapping read from a file: the layer it names, the mapping, and where it was written (file:line).</summary>
public sealed record LayerMappingEntry(Einsum Layer, Mapping Mapping, string Source);

/// <summary>
/// The mapping set spec (docs/spec-format.md): a <c>mappings</c> list with one entry per layer of a
/// workload, each written like the body of a mapping spec with its <c>layer</c> required. It holds the
/// mappings another tool made, so that <c>optimizer regress --heuristic FILE</c> can compare them with
/// the exact mapper.
/// </summary>
public static class MappingSetSpec
{
    /// <summary>True when the text's root key is <c>mappings</c>.</summary>
    public static bool IsSet(string text)
        => text.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#')) is { } first
           && first.StartsWith("mappings:", StringComparison.Ordinal);

    /// <summary>
    /// Reads a mapping set for the layers of the workload on the architecture: every entry names a layer of
    /// the workload (at most once). Throws <see cref="SpecException"/> listing every mistake.
    /// </summary>
    public static IReadOnlyList<LayerMappingEntry> Parse(string text, string fileName, Workload w, Architecture arch)
    {
        var reader = new SpecReader(fileName);
        var top = reader.Document(text, "mappings");
        top?.AllowOnly("mappings");
        var entries = new List<LayerMappingEntry>();
        var first = new Dictionary<int, int>();
        foreach (var item in top?.List("mappings", required: true) ?? [])
        {
            var m = item.AsMap("layer", "levels");
            var layerNode = m?.Required("layer");
            if (m is null || layerNode is null) continue;
            int index = FusedMappingSpec.LayerIndex(layerNode, w);
            if (index < 0) continue;
            if (first.TryGetValue(index, out var line))
            {
                layerNode.Error($"layer {w.Layers[index].Name} has a mapping already (line {line})");
                continue;
            }
            first[index] = layerNode.Line;
            if (MappingSpec.Read(m, w.Layers[index], arch) is { } mapping)
                entries.Add(new LayerMappingEntry(w.Layers[index], mapping, $"{fileName}:{item.Line}"));
        }
        reader.ThrowIfErrors();
        return entries;
    }

    /// <summary>Writes a mapping set: one entry per (layer, mapping), with explicit levels and keep lists.</summary>
    public static string Write(IEnumerable<(Einsum Layer, Mapping Mapping)> mappings, Architecture arch, string? comment = null)
    {
        var sb = new StringBuilder();
        if (comment is not null) sb.Append("# ").Append(comment).Append('\n');
        sb.Append("mappings:\n");
        foreach (var (layer, mapping) in mappings) MappingSpec.AppendListItem(sb, mapping, layer, arch);
        return sb.ToString();
    }
}
