using YamlDotNet.RepresentationModel;

namespace Optimizer.Workloads.Specs;

/// <summary>The two families of spec files the optimizer reads and writes.</summary>
public enum SpecFormat
{
    /// <summary>The optimizer's own formats (docs/spec-format.md).</summary>
    Native,
    /// <summary>The Timeloop/Accelergy YAML formats (docs/interop.md).</summary>
    Timeloop,
}

/// <summary>Tells the spec formats apart from a file's content, in one place.</summary>
public static class SpecFormats
{
    // Top-level keys only Timeloop's tool chain uses.
    private static readonly string[] TimeloopKeys =
        ["problem", "ERT", "mapspace_constraints", "architecture_constraints", "mapspace", "mapper", "sparse_optimizations", "compound_components"];

    // Top-level keys only the native formats use (docs/spec-format.md).
    private static readonly string[] NativeKeys = ["workload", "mappings", "fused-mapping"];

    /// <summary>
    /// The format of a spec text: <see cref="Shown"/>, or native when the content shows neither (including text
    /// that does not parse, so that the native reader reports where it stops).
    /// </summary>
    public static SpecFormat Detect(string text) => Shown(text) ?? SpecFormat.Native;

    /// <summary>
    /// The format a spec text's content shows, in one place: Timeloop when a top-level key only Timeloop uses is
    /// present, when <c>architecture</c> holds <c>version</c>, <c>subtree</c>, <c>local</c> or <c>nodes</c>, when
    /// <c>mapping</c> is a list or holds <c>targets</c>, or when <c>constraints</c> is a list or holds <c>targets</c>;
    /// otherwise native when a top-level key of the native formats is present (<c>workload</c>, <c>architecture</c>,
    /// <c>mapping</c>, <c>constraints</c>, <c>mappings</c>, <c>fused-mapping</c>); null when it shows neither (text
    /// that does not parse, or only keys neither format knows).
    /// </summary>
    public static SpecFormat? Shown(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or InvalidOperationException)
        {
            return null;
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode top) return null;
        bool native = false;
        foreach (var (keyNode, value) in top.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            bool timeloop = key switch
            {
                "architecture" => value is YamlMappingNode a && a.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value is "version" or "subtree" or "local" or "nodes"),
                "mapping" or "constraints" => value is YamlSequenceNode || value is YamlMappingNode c && c.Children.ContainsKey(new YamlScalarNode("targets")),
                _ => TimeloopKeys.Contains(key),
            };
            if (timeloop) return SpecFormat.Timeloop;
            native |= key is "architecture" or "mapping" or "constraints" || NativeKeys.Contains(key);
        }
        return native ? SpecFormat.Native : null;
    }

    /// <summary>The format a user named (<c>native</c> or <c>timeloop</c>, case-insensitive); null for <c>auto</c> or no value.</summary>
    public static SpecFormat? Parse(string? name) => name?.ToLowerInvariant() switch
    {
        null or "auto" => null,
        "native" => SpecFormat.Native,
        "timeloop" => SpecFormat.Timeloop,
        _ => throw new ArgumentException($"Unknown format '{name}': a format is auto, native or timeloop."),
    };
}
