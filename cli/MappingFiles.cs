using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary>
/// The mappings another tool made, for <c>optimizer regress --heuristic FILE</c> (docs/heuristics.md):
/// a directory with one mapping file per layer (native or Timeloop, told apart by content; the layer is
/// the native file's <c>layer</c>, else the file name without its extension), or one file: a mapping set
/// (<c>mappings:</c>, one entry per layer) or a single layer's mapping. Every mapping is read, checked and
/// costed when loaded; an unknown layer, a layer given twice, or a mapping that breaks a rule is an error
/// naming the file (and line), the layer and the rule.
/// </summary>
internal sealed class MappingFiles
{
    private sealed record Loaded(LayerMappingEntry Entry, CostReport Report, double Seconds);

    private readonly Workload _workload;
    private readonly Architecture _arch;
    private readonly Dictionary<string, Loaded> _byLayer;

    /// <summary>What the mappings were read from, as the user gave it.</summary>
    public string Path { get; }

    private MappingFiles(string path, Workload w, Architecture arch, Dictionary<string, Loaded> byLayer)
    {
        Path = path;
        _workload = w;
        _arch = arch;
        _byLayer = byLayer;
    }

    /// <summary>True when the argument names an existing file or directory.</summary>
    public static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    /// <summary>Reads, checks and costs every mapping under the path for layers of the workload on the architecture.</summary>
    public static MappingFiles Load(string path, Workload w, Architecture arch, Reading reading)
    {
        var entries = new List<(LayerMappingEntry Entry, double Seconds)>();
        var specErrors = new List<SpecError>();
        var files = Directory.Exists(path)
            ? Directory.GetFiles(path).Where(IsSpecFile).Order(StringComparer.Ordinal).ToList()
            : [path];
        foreach (var file in files)
        {
            var sw = Stopwatch.StartNew();
            try
            {
                var read = Read(file, w, arch, reading);
                double share = sw.Elapsed.TotalSeconds / Math.Max(1, read.Count);
                entries.AddRange(read.Select(e => (e, share)));
            }
            catch (SpecException e)
            {
                specErrors.AddRange(e.Errors);
            }
        }
        if (specErrors.Count > 0) throw new SpecException(specErrors);
        if (entries.Count == 0)
            throw new InputException(Directory.Exists(path)
                ? $"The directory '{path}' holds no mapping file (*.yaml, *.yml or *.json)."
                : $"The file '{path}' holds no mapping.");

        var byLayer = new Dictionary<string, Loaded>();
        var problems = new List<string>();
        foreach (var (entry, seconds) in entries)
        {
            if (byLayer.TryGetValue(entry.Layer.Name, out var earlier))
            {
                problems.Add($"{entry.Source}: layer {entry.Layer.Name}: it has a mapping already in {earlier.Entry.Source}.");
                continue;
            }
            var sw = Stopwatch.StartNew();
            var violations = ValidityChecker.Check(entry.Layer, arch, entry.Mapping);
            if (violations.Count > 0)
            {
                problems.AddRange(violations.Select(v => $"{entry.Source}: layer {entry.Layer.Name}: {v.Rule}: {v.Message}"));
                continue;
            }
            var report = CostModel.Evaluate(entry.Layer, arch, entry.Mapping);
            byLayer[entry.Layer.Name] = new Loaded(entry, report, seconds + sw.Elapsed.TotalSeconds);
        }
        if (problems.Count > 0)
            throw new InputException($"{problems.Count} problem(s) with the mappings in {path} (architecture {arch.Name}):{Environment.NewLine}  "
                                     + string.Join(Environment.NewLine + "  ", problems));
        return new MappingFiles(path, w, arch, byLayer);
    }

    private static bool IsSpecFile(string file)
        => file.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
           || file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The mappings in one file: a mapping set, or one layer's mapping (native or Timeloop).</summary>
    private static IReadOnlyList<LayerMappingEntry> Read(string file, Workload w, Architecture arch, Reading reading)
    {
        var text = File.ReadAllText(file);
        if (MappingSetSpec.IsSet(text)) return MappingSetSpec.Parse(text, file, w, arch);
        bool timeloop = reading.FormatOf(text) == SpecFormat.Timeloop;
        var declared = timeloop ? null : MappingSpec.LayerOf(text, file);
        var name = declared ?? System.IO.Path.GetFileNameWithoutExtension(file);
        var layer = w.Layers.FirstOrDefault(l => l.Name == name);
        if (layer is null)
        {
            var close = SpecReader.Closest(name, w.Layers.Select(l => l.Name));
            throw new SpecException([new SpecError(file, 1, 1, "layer",
                $"workload {w.Name} has no layer '{name}' (named by the file's {(declared is null ? "name" : "layer key")}){(close is null ? "" : $"; did you mean {close}?")}")]);
        }
        var mapping = timeloop ? TimeloopMapping.Parse(text, file, layer, arch) : MappingSpec.Parse(text, file, layer, arch);
        return [new LayerMappingEntry(layer, mapping, file)];
    }

    /// <summary>
    /// The given mapping for a layer shape as a heuristic's answer: the layer's own, or else that of another
    /// layer of the same shape (its tensors renamed by position); null when the files have none. Its time is
    /// the time to read (its share of its file), check and cost it.
    /// </summary>
    public SolveResult? Solve(MapProblem p)
    {
        var sameShape = _workload.Layers.Where(l => l.Name != p.Layer.Name && Zoo.ShapeKey(l) == Zoo.ShapeKey(p.Layer));
        foreach (var name in sameShape.Select(l => l.Name).Prepend(p.Layer.Name))
        {
            if (!_byLayer.TryGetValue(name, out var loaded)) continue;
            var sw = Stopwatch.StartNew();
            var mapping = name == p.Layer.Name ? loaded.Entry.Mapping : Renamed(loaded.Entry.Mapping, loaded.Entry.Layer, p.Layer);
            var report = name == p.Layer.Name ? loaded.Report : CostModel.Evaluate(p.Layer, _arch, mapping);
            return new SolveResult(SolveStatus.Feasible, mapping, report, report.Objective(p.Objective), 0,
                TimeSpan.FromSeconds(loaded.Seconds) + sw.Elapsed, 1, "file");
        }
        return null;
    }

    /// <summary>A mapping of one layer for another of the same shape: the same loops, the keep sets renamed tensor by tensor in order.</summary>
    private static Mapping Renamed(Mapping mapping, Einsum from, Einsum to)
    {
        var rename = from.Tensors.Select((t, i) => (t.Id, To: to.Tensors[i].Id)).ToDictionary(x => x.Id, x => x.To);
        return new Mapping(mapping.Levels.Select(l => new LevelMapping(l.Temporal, l.Spatial, l.Keep.Select(t => rename[t]))));
    }
}
