using System.Globalization;
using Optimizer.Workloads.Specs;

namespace Optimizer.Workloads.Frontends;

/// <summary>A node of a model file that did not become an Einsum, and why (docs/frontends.md).</summary>
public sealed record SkippedNode(string Node, string Op, string Reason);

/// <summary>A model file read as a workload: the Einsums (each with its <see cref="Einsum.Source"/>) and every node left out, with the reason.</summary>
public sealed record ImportedModel(Workload Workload, IReadOnlyList<SkippedNode> Skipped);

/// <summary>
/// Reads model files (ONNX <c>.onnx</c>, MLIR <c>.mlir</c>) as workloads. A spec is a path, optionally followed by
/// values for symbolic dimensions: <c>model.onnx:batch=4,seq=512</c>.
/// </summary>
public static class ModelImport
{
    /// <summary>True when the spec names a model file by its extension (with or without symbolic-dimension values).</summary>
    public static bool IsModel(string spec)
    {
        var path = SplitSpec(spec).Path;
        return path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".mlir", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The path and the symbolic-dimension values of a spec such as <c>model.onnx:batch=4</c>.</summary>
    public static (string Path, IReadOnlyDictionary<string, int> Values) SplitSpec(string spec)
    {
        var values = new Dictionary<string, int>(StringComparer.Ordinal);
        var colon = spec.LastIndexOf(':');
        if (colon <= 0 || File.Exists(spec) || !spec[(colon + 1)..].Contains('=')) return (spec, values);
        var path = spec[..colon];
        foreach (var item in spec[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = item.IndexOf('=');
            if (eq <= 0 || !int.TryParse(item[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1)
                throw Error(path, "", $"the dimension value '{item}' is not name=positive-integer (as in {Path.GetFileName(path)}:batch=4)");
            if (!values.TryAdd(item[..eq].Trim(), v))
                throw Error(path, "", $"the dimension '{item[..eq].Trim()}' is given twice");
        }
        return (path, values);
    }

    /// <summary>Reads a model file; throws <see cref="SpecException"/> (naming the file and the node or line) for bad input.</summary>
    public static ImportedModel Load(string spec)
    {
        var (path, values) = SplitSpec(spec);
        if (!File.Exists(path)) throw Error(path, "", "the model file does not exist");
        if (path.EndsWith(".mlir", StringComparison.OrdinalIgnoreCase)) return MlirImport.Parse(File.ReadAllText(path), path);
        return OnnxImport.Read(File.ReadAllBytes(path), path, values);
    }

    /// <summary>One error about a model file, as the spec readers report them.</summary>
    internal static SpecException Error(string file, string where, string message, int line = 0, int column = 0)
        => new([new SpecError(file, line, column, where, message)]);

    /// <summary>A name usable as a layer, tensor or workload name: white space replaced by '_', empty replaced by the fallback.</summary>
    internal static string Name(string? name, string fallback)
        => string.IsNullOrWhiteSpace(name) ? fallback : new string(name.Select(c => char.IsWhiteSpace(c) ? '_' : c).ToArray());
}

/// <summary>
/// The producer/consumer links of a model graph as a workload sees them: a node that is not an Einsum but passes
/// data through (activation, normalization, pooling, reshape, residual add, concatenation) makes its output an alias
/// of its first data input, so the Einsum reading it reads the tensor the last Einsum before it wrote.
/// </summary>
internal sealed class GraphLinks
{
    private readonly Dictionary<string, string> _alias = new(StringComparer.Ordinal);
    private readonly HashSet<string> _layerNames = new(StringComparer.Ordinal);

    /// <summary>The tensor a name stands for, after following pass-through nodes back.</summary>
    public string Root(string tensor) => _alias.TryGetValue(tensor, out var r) ? r : tensor;

    /// <summary>Makes <paramref name="output"/> stand for what <paramref name="input"/> stands for.</summary>
    public void Alias(string output, string input) => _alias[output] = Root(input);

    /// <summary>A layer name not used before: the node's own name, or the fallback, made unique with a suffix.</summary>
    public string LayerName(string? name, string fallback)
    {
        var baseName = ModelImport.Name(name, fallback);
        var result = baseName;
        for (int i = 2; !_layerNames.Add(result); i++) result = $"{baseName}_{i}";
        return result;
    }
}
