using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Formulation.Specs;

/// <summary>One distinct shape of a trace: every rank's size (in the layer's rank order), the summed weight of its rows, and its row count.</summary>
public sealed record TraceShape(IReadOnlyList<int> Sizes, double Weight, int Rows, int FirstLine)
{
    /// <summary>The shape as <c>S=128,K=64</c>, listing only the ranks named in <paramref name="dynamic"/>.</summary>
    public string Label(Einsum layer, IReadOnlyList<int> dynamic)
        => string.Join(",", dynamic.Select(r => $"{layer.Ranks[r].Id}={Sizes[r]}"));
}

/// <summary>
/// A shape trace (<c>--shapes trace.csv</c>, docs/shapes.md): one row per run, one column per rank that varies
/// (the ranks not listed keep the layer's bound), optionally a <c>weight</c> column (1 when absent). Identical
/// rows are merged, their weights added, so a trace costs one evaluation per distinct shape.
/// </summary>
public sealed class ShapeTrace
{
    /// <summary>The layer the trace is for, with its declared bounds.</summary>
    public Einsum Layer { get; }
    /// <summary>The distinct shapes with a positive weight, in the order of their first row.</summary>
    public IReadOnlyList<TraceShape> Shapes { get; }
    /// <summary>The positions (in <see cref="Einsum.Ranks"/>) of the ranks the trace names.</summary>
    public IReadOnlyList<int> Dynamic { get; }
    /// <summary>The rows read (runs), zero-weight rows included.</summary>
    public int Rows { get; }
    /// <summary>The sum of the weights.</summary>
    public double TotalWeight => Shapes.Sum(s => s.Weight);

    /// <summary>A trace of already-merged shapes (tests, benchmarks); sizes are per rank of the layer, in its order.</summary>
    public ShapeTrace(Einsum layer, IReadOnlyList<int> dynamic, IReadOnlyList<TraceShape> shapes, int rows)
    {
        if (shapes.Count == 0) throw new ArgumentException("A shape trace needs at least one shape of positive weight.", nameof(shapes));
        foreach (var s in shapes)
        {
            if (s.Sizes.Count != layer.Ranks.Count || s.Sizes.Any(x => x < 1))
                throw new ArgumentException($"A shape needs one positive size per rank of layer {layer.Name}.", nameof(shapes));
            if (!(s.Weight > 0) || double.IsInfinity(s.Weight))
                throw new ArgumentException("Every shape of a trace needs a positive, finite weight.", nameof(shapes));
        }
        Layer = layer;
        Dynamic = dynamic;
        Shapes = shapes;
        Rows = rows;
    }

    /// <summary>Merges rows of sizes (one entry per rank of the layer) and weights into distinct shapes, in order of first appearance.</summary>
    public static ShapeTrace FromRows(Einsum layer, IReadOnlyList<int> dynamic, IEnumerable<(int[] Sizes, double Weight)> rows)
    {
        var merged = new Dictionary<string, int>();
        var shapes = new List<TraceShape>();
        int n = 0;
        foreach (var (sizes, weight) in rows)
        {
            n++;
            string key = string.Join(",", sizes);
            if (merged.TryGetValue(key, out int i)) shapes[i] = shapes[i] with { Weight = shapes[i].Weight + weight, Rows = shapes[i].Rows + 1 };
            else { merged[key] = shapes.Count; shapes.Add(new TraceShape(sizes, weight, 1, n + 1)); }
        }
        return new ShapeTrace(layer, dynamic, shapes.Where(s => s.Weight > 0).ToList(), n);
    }

    /// <summary>The largest size of every rank over the trace: the shape the one mapping's loops are sized for.</summary>
    public int[] Largest() => Enumerable.Range(0, Layer.Ranks.Count).Select(r => Shapes.Max(s => s.Sizes[r])).ToArray();

    /// <summary>The layer with its bounds set to <paramref name="sizes"/> (one per rank, in the layer's order).</summary>
    public Einsum LayerOf(IReadOnlyList<int> sizes) => WithBounds(Layer, sizes);

    /// <summary>An Einsum with the same tensors and new bounds (one per rank, in its order).</summary>
    public static Einsum WithBounds(Einsum layer, IReadOnlyList<int> sizes)
        => new(layer.Name, layer.Kind, layer.Ranks.Select((r, i) => new Rank(r.Id, sizes[i])), layer.Tensors) { Source = layer.Source };

    /// <summary>
    /// Reads a trace for <paramref name="layer"/> with CsvHelper; every mistake is reported with its file, line and
    /// column (<see cref="SpecException"/>): an unknown or repeated column, a size that is not a positive whole number,
    /// a weight that does not parse or is negative or not finite, no rows, or no row of positive weight.
    /// </summary>
    public static ShapeTrace Load(string path, Einsum layer)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, path, layer);
    }

    /// <summary>As <see cref="Load"/>, from text (<paramref name="file"/> names it in messages).</summary>
    public static ShapeTrace Parse(TextReader text, string file, Einsum layer)
    {
        var errors = new List<SpecError>();
        var config = new CsvConfiguration(CultureInfo.InvariantCulture) { TrimOptions = TrimOptions.Trim, DetectColumnCountChanges = false, BadDataFound = null };
        using var csv = new CsvParser(text, config);
        // Column positions: 1-based columns of each field, computed from the raw record (CsvHelper gives fields, not offsets).
        if (!csv.Read())
            throw new SpecException([new SpecError(file, 1, 1, "", "the shape trace is empty: it needs a header row naming ranks of layer " + layer.Name + " (and optionally weight), then one row per run.")]);
        var header = csv.Record!;
        int headerLine = csv.RawRow;
        var columns = new int[header.Length]; // rank position, -1 for weight
        var seen = new HashSet<int>();
        int weightColumn = -1;
        var starts = FieldStarts(csv.RawRecord, header.Length);
        for (int c = 0; c < header.Length; c++)
        {
            string name = header[c];
            if (name.Equals("weight", StringComparison.OrdinalIgnoreCase))
            {
                if (weightColumn >= 0) errors.Add(new SpecError(file, headerLine, starts[c], name, "the weight column appears twice."));
                weightColumn = c;
                columns[c] = -1;
                continue;
            }
            int r = -1;
            for (int i = 0; i < layer.Ranks.Count; i++) if (layer.Ranks[i].Id.Name == name) r = i;
            if (r < 0)
                errors.Add(new SpecError(file, headerLine, starts[c], name,
                    $"unknown rank '{name}': layer {layer.Name} has ranks {string.Join(", ", layer.Ranks.Select(x => x.Id.Name))} (and a column may be 'weight')."));
            else if (!seen.Add(r)) errors.Add(new SpecError(file, headerLine, starts[c], name, $"rank {name} appears twice in the header."));
            columns[c] = r;
        }
        if (seen.Count == 0 && errors.Count == 0)
            errors.Add(new SpecError(file, headerLine, 1, "", $"the header names no rank of layer {layer.Name} ({string.Join(", ", layer.Ranks.Select(x => x.Id.Name))})."));
        if (errors.Count > 0) throw new SpecException(errors);

        var rows = new List<(int[] Sizes, double Weight)>();
        var lines = new List<int>();
        while (csv.Read())
        {
            var rec = csv.Record!;
            int line = csv.RawRow;
            if (rec.Length == 1 && rec[0].Length == 0) continue; // a blank line
            var at = FieldStarts(csv.RawRecord, rec.Length);
            if (rec.Length != header.Length)
            {
                errors.Add(new SpecError(file, line, 1, "", $"this row has {rec.Length} field(s), the header {header.Length}."));
                continue;
            }
            var sizes = layer.Ranks.Select(r => r.Bound).ToArray();
            double weight = 1;
            for (int c = 0; c < rec.Length; c++)
            {
                string v = rec[c];
                if (columns[c] < 0)
                {
                    if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out weight) || !double.IsFinite(weight) || weight < 0)
                    {
                        errors.Add(new SpecError(file, line, at[c], "weight", $"'{v}' is not a weight: it must be a finite number at least 0."));
                        weight = 0;
                    }
                }
                else if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int size) || size < 1)
                    errors.Add(new SpecError(file, line, at[c], header[c], $"'{v}' is not a size of rank {header[c]}: it must be a positive whole number."));
                else sizes[columns[c]] = size;
            }
            rows.Add((sizes, weight));
            lines.Add(line);
        }
        if (errors.Count > 0) throw new SpecException(errors);
        if (rows.Count == 0)
            throw new SpecException([new SpecError(file, headerLine + 1, 1, "", "the shape trace has a header but no rows: it needs one row per run.")]);
        if (rows.All(r => r.Weight == 0))
            throw new SpecException([new SpecError(file, lines[0], 1, "weight", "every row has weight 0: the trace describes no run.")]);
        var trace = FromRows(layer, seen.Order().ToList(), rows);
        // FromRows numbers rows from 2; give each shape the line of its first row instead.
        var firstLine = new Dictionary<string, int>();
        for (int i = 0; i < rows.Count; i++) firstLine.TryAdd(string.Join(",", rows[i].Sizes), lines[i]);
        return new ShapeTrace(layer, trace.Dynamic, trace.Shapes.Select(s => s with { FirstLine = firstLine[string.Join(",", s.Sizes)] }).ToList(), trace.Rows);
    }

    /// <summary>The 1-based column where each field of a raw CSV record starts (quotes respected).</summary>
    private static int[] FieldStarts(string raw, int fields)
    {
        var starts = new int[fields];
        int f = 0;
        bool quoted = false;
        if (fields > 0) starts[0] = 1;
        for (int i = 0; i < raw.Length && f < fields - 1; i++)
        {
            char ch = raw[i];
            if (ch == '"') quoted = !quoted;
            else if (ch == ',' && !quoted) starts[++f] = i + 2;
        }
        for (int k = f + 1; k < fields; k++) starts[k] = starts[f];
        return starts;
    }
}
