using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary><c>optimizer codesign</c>: the best point of a declared design space for a workload under budgets, proved (docs/codesign.md).</summary>
internal static partial class CodesignCommand
{
    public static Command Build()
    {
        var space = new Option<string>("--space") { Description = "A design space file (docs/spec-format.md, \"Design space\").", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name or a spec file.", Required = true };
        var objective = new Option<string>("--objective")
        {
            Description = "What to minimize: energy, latency, edp (each the sum over layers of each layer's optimum), area or sram (from the cost tables).",
            DefaultValueFactory = _ => "energy",
        };
        var require = new Option<string[]>("--require")
        {
            Description = "A budget such as \"area <= 12\" (mm²), \"sram <= 256\" (KiB), \"power <= 0.3\" (W), \"latency <= 2e9\" (network cycles), " +
                          "\"layer-latency <= 1e8\", \"energy <= ...\" (pJ), \"edp <= ...\"; repeatable, added to the space file's budgets.",
            AllowMultipleArgumentsPerToken = false,
        };
        var pareto = new Option<string?>("--pareto") { Description = "Print the exact Pareto front of two metrics instead, a mapped one and a static one: energy,area (latency or edp; area or sram)." };
        var timeLimit = OptionRules.TimeLimit("Seconds for the whole run; when reached, the best point so far is printed with the bound, the gap and the points left open.");
        var bound = new Option<double?>("--bound-time") { Description = "Seconds at most for each layer search on a relaxation (a lower bound stays valid when it stops early); default: no cap." };
        bound.Validators.Add(r => { if (r.Tokens.Count > 0 && r.GetValueOrDefault<double?>() is { } s && (!double.IsFinite(s) || s <= 0 || s > OptionRules.MaxSeconds)) r.AddError($"--bound-time must be a positive number of seconds, at most {OptionRules.MaxSeconds}, got {s.ToString("R", CultureInfo.InvariantCulture)}."); });
        var quick = new Option<double?>("--quick-bound-time") { Description = "Seconds at most for each layer search of a set's first, quick bound (refined with --bound-time only when the set stays competitive); default 0.25, at most --bound-time." };
        quick.Validators.Add(r => { if (r.Tokens.Count > 0 && r.GetValueOrDefault<double?>() is { } s && (!double.IsFinite(s) || s <= 0 || s > OptionRules.MaxSeconds)) r.AddError($"--quick-bound-time must be a positive number of seconds, at most {OptionRules.MaxSeconds}, got {s.ToString("R", CultureInfo.InvariantCulture)}."); });
        var threads = new Option<int>("--threads") { Description = "Worker threads of each layer search (0, the default: one per core).", DefaultValueFactory = _ => 0 }.Within(0, 1024);
        var csv = new Option<string?>("--csv") { Description = "Write the answer as CSV: the best point, or one row per point of the Pareto front." };
        var mappingOut = new Option<string?>("--mapping-out") { Description = "A folder to write the best point's architecture (architecture.yaml) and every layer's mapping (LAYER.yaml) into." };
        var cmd = new Command("codesign", "Find the point of a declared design space that minimizes the objective for a workload under budgets, each layer mapped optimally; OPTIMAL when proved over the whole space.")
        {
            space, workload, objective, require, pareto, timeLimit, bound, quick, threads, csv, mappingOut,
        };
        cmd.SetAction(pr => Program.Guard(() => Run(pr, Interrupt.Token)));
        return cmd;

        int Run(ParseResult pr, CancellationToken cancel)
        {
            var s = DesignSpaceSpec.Load(Inputs.RequireFile(pr.GetValue(space)!, "design space"));
            var w = Inputs.Workload(pr.GetValue(workload)!);
            if (!DesignMetrics.TryParse(pr.GetValue(objective)!, out var obj) || obj is DesignMetric.Power or DesignMetric.LayerLatency)
                throw new InputException($"--objective must be one of energy, latency, edp, area, sram; got '{pr.GetValue(objective)}'.");
            var budgets = s.Budgets.Concat((pr.GetValue(require) ?? []).Select(Requirement)).ToList();
            var limits = new SearchLimits(OptionRules.Span(pr.GetValue(timeLimit)), cancel, pr.GetValue(threads));
            var boundSpan = OptionRules.Span(pr.GetValue(bound));
            var quickSpan = OptionRules.Span(pr.GetValue(quick));
            (DesignMetric, DesignMetric)? front = pr.GetValue(pareto) is { } text ? ParetoPair(text) : null;
            if (front is not null && pr.GetResult(objective) is { Implicit: false }) throw new InputException("--pareto and --objective contradict each other: the front is over the two metrics --pareto names.");
            if (front is not null && pr.GetValue(mappingOut) is not null) throw new InputException("--mapping-out writes one point's mappings; it does not go with --pareto.");
            var shapes = Zoo.DistinctShapes(w);
            Console.WriteLine($"Co-design of {w.Name} ({w.Layers.Count} layers, {shapes.Count} distinct shapes) over design space {s.Name} ({Text.Int(s.Count)} points, base {s.Base.Name}), " +
                              (front is { } f0 ? $"Pareto front of {DesignMetrics.Name(f0.Item1)} and {DesignMetrics.Name(f0.Item2)}" : $"minimizing {DesignMetrics.Name(obj)}"));
            foreach (var p in s.Parameters) Console.WriteLine($"  {p.Name}: {string.Join(", ", p.Values)}");
            foreach (var b in budgets) Console.WriteLine($"  budget: {b} ({b.Source})");
            Codesign run = null!;
            if (front is { } pair)
            {
                var fr = Live.Run("codesign --pareto", p => (run = new Codesign(s, w, limits with { Progress = p }, boundSpan, quickSpan)).Pareto(pair.Item1, pair.Item2, budgets));
                return Front(run, fr, s, budgets, pr.GetValue(csv));
            }
            var r = Live.Run("codesign", p => (run = new Codesign(s, w, limits with { Progress = p }, boundSpan, quickSpan)).Minimize(obj, budgets));
            Console.WriteLine();
            if (r.Best is { } best)
            {
                var mapped = Codesign.MappedFor(obj);
                var sum = best.Sums.GetValueOrDefault(mapped) ?? run.Evaluator.Sum(best.Arch, mapped, relaxation: false);
                PrintPoint(s, best, sum, shapes);
                if (pr.GetValue(mappingOut) is { } dir) WriteMappings(dir, w, best.Arch, sum, shapes);
                if (pr.GetValue(csv) is { } path) { CsvExport.Write(path, [Row(best, r.Status.ToString().ToUpperInvariant())]); Console.WriteLine($"Wrote {path}"); }
            }
            Console.WriteLine(Counts(run.Evaluator, r.FullSweep, r.Elapsed, s.Count, shapes.Count, Codesign.Needed(obj, budgets).Count));
            string name = DesignMetrics.Name(obj);
            Console.WriteLine(r.Status switch
            {
                CodesignStatus.Optimal => $"OPTIMAL {name}={Codesign.Num(r.BestValue!.Value)} {DesignMetrics.Unit(obj)} at point {r.Best!.Point} " +
                                          "(proved: no point of the declared space, each layer mapped optimally, is better within the budgets)",
                CodesignStatus.Feasible => $"FEASIBLE best={Codesign.Num(r.BestValue!.Value)} bound={Codesign.Num(r.Bound)} gap={r.GapPercent!.Value:0.###}% " +
                                           $"({r.PointsOpen} point(s) left open: {r.Explanation})",
                CodesignStatus.Infeasible => $"INFEASIBLE: {r.Explanation}",
                _ => $"UNKNOWN: no point known to meet the budgets ({r.Explanation}; {r.PointsOpen} point(s) left open)",
            });
            return r.Status is CodesignStatus.Optimal or CodesignStatus.Feasible ? 0 : 3;
        }
    }

    private static int Front(Codesign run, ParetoResult r, DesignSpace s, IReadOnlyList<Budget> budgets, string? csv)
    {
        var (first, second) = (r.First, r.Second);
        Console.WriteLine();
        var table = new List<string[]> { new[] { "point", DesignMetrics.Name(first), DesignMetrics.Name(second), "parameters" } };
        foreach (var f in r.Front) table.Add([f.Point.ToString(CultureInfo.InvariantCulture), Codesign.Num(f.Values[first]), Codesign.Num(f.Values[second]), f.Description]);
        Console.Write(Text.Table(table));
        if (csv is not null) { CsvExport.Write(csv, r.Front.Select(f => Row(f, r.Status.ToString().ToUpperInvariant()))); Console.WriteLine($"Wrote {csv}"); }
        Console.WriteLine(Counts(run.Evaluator, r.FullSweep, r.Elapsed, s.Count, run.Evaluator.Shapes.Count, Codesign.Needed(first, budgets).Count));
        Console.WriteLine(r.Status switch
        {
            CodesignStatus.Optimal => $"OPTIMAL Pareto front of {DesignMetrics.Name(first)} and {DesignMetrics.Name(second)}: {r.Front.Count} point(s) (proved: every other point meeting the budgets is dominated or ties)",
            CodesignStatus.Feasible => $"FEASIBLE: {r.Explanation}",
            CodesignStatus.Infeasible => $"INFEASIBLE: {r.Explanation}",
            _ => $"UNKNOWN: {r.Explanation}",
        });
        return r.Status is CodesignStatus.Optimal or CodesignStatus.Feasible ? 0 : 3;
    }

    private static string Counts(LayerEvaluator e, long full, TimeSpan elapsed, int points, int shapes, int objectives)
        => $"Exact layer searches: {Text.Int(e.Searches)} ({Text.Int(e.BoundSearches)} on relaxations for bounds, {Text.Int(e.PointSearches)} on points) " +
           $"vs {Text.Int(full)} for a full sweep ({Text.Int(points)} points x {shapes} shapes x {Math.Max(1, objectives)} objective(s)): " +
           $"{(e.Searches == 0 ? "none needed" : $"{(double)full / e.Searches:0.#}x fewer")} ({Text.Int(e.CacheHits)} answered from the cache, {Text.Int(e.Refinements)} repeated with more time); {elapsed.TotalSeconds:0.#} s";

    private static void PrintPoint(DesignSpace s, PointFigures best, LayerSum sum, IReadOnlyList<(Einsum Layer, int Count)> shapes)
    {
        Console.WriteLine($"Best point {best.Point}: {best.Description}");
        var figures = new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp, DesignMetric.Area, DesignMetric.Sram, DesignMetric.Power, DesignMetric.LayerLatency }
            .Where(best.Values.ContainsKey).Select(m => $"{DesignMetrics.Name(m)} {Codesign.Num(best.Values[m])} {DesignMetrics.Unit(m)}");
        Console.WriteLine($"  {string.Join(", ", figures)}");
        var table = new List<string[]> { new[] { "shape", "layers", "status", Objectives.Name(sum.Objective), "bound" } };
        for (int i = 0; i < sum.Results.Count; i++)
        {
            var r = sum.Results[i];
            table.Add([shapes[i].Layer.Name, shapes[i].Count.ToString(CultureInfo.InvariantCulture), r.Status.ToString().ToUpperInvariant(), r.Best is { } b ? Text.Num(b) : "-", Text.Num(r.Bound)]);
        }
        Console.Write(Text.Table(table));
    }

    /// <summary>One CSV row: a point and its figures (empty where not computed).</summary>
    public sealed record PointRow(int Point, string Parameters, string Status, double? Energy, double? Latency, double? Edp, double Area, double Sram, double? Power, double? LayerLatency);

    private static PointRow Row(PointFigures f, string status)
    {
        double? V(DesignMetric m) => f.Values.TryGetValue(m, out var v) ? v : null;
        return new PointRow(f.Point, f.Description, status, V(DesignMetric.Energy), V(DesignMetric.Latency), V(DesignMetric.Edp), f.Values[DesignMetric.Area], f.Values[DesignMetric.Sram], V(DesignMetric.Power), V(DesignMetric.LayerLatency));
    }

    private static void WriteMappings(string dir, Workload w, Architecture arch, LayerSum sum, IReadOnlyList<(Einsum Layer, int Count)> shapes)
    {
        if (File.Exists(dir)) throw new InputException($"--mapping-out {dir} is a file; give a folder.");
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, "architecture.yaml"), ArchitectureSpec.Write(arch));
        var index = shapes.Select((s, i) => (Zoo.ShapeKey(s.Layer), i)).ToDictionary(x => x.Item1, x => x.i);
        int written = 0;
        foreach (var layer in w.Layers)
        {
            int i = index[Zoo.ShapeKey(layer)];
            if (sum.Results[i].Mapping is not { } m) continue;
            var mapping = ReferenceEquals(shapes[i].Layer, layer) ? m : m.RenameTensors(shapes[i].Layer, layer);
            AtomicFile.WriteAllText(Path.Combine(dir, $"{layer.Name}.yaml"), MappingSpec.Write(mapping, layer, arch));
            written++;
        }
        Console.WriteLine($"Wrote {dir}/architecture.yaml and {written} layer mapping(s) in {dir}");
    }

    private static Budget Requirement(string text)
    {
        var m = RequireText().Match(text);
        if (!m.Success || !double.TryParse(m.Groups[2].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var limit) || !double.IsFinite(limit) || limit <= 0)
            throw new InputException($"--require \"{text}\": write METRIC <= NUMBER with a positive number, such as \"area <= 12\"; metrics: {DesignMetrics.Choices}.");
        if (!DesignMetrics.TryParse(m.Groups[1].Value, out var metric))
            throw new InputException($"--require \"{text}\": unknown metric '{m.Groups[1].Value}'; metrics: {DesignMetrics.Choices}.");
        return new Budget(metric, limit, "--require");
    }

    [GeneratedRegex(@"^\s*([A-Za-z-]+)\s*<=\s*(\S+)\s*$")]
    private static partial Regex RequireText();

    private static (DesignMetric, DesignMetric) ParetoPair(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !DesignMetrics.TryParse(parts[0], out var a) || !DesignMetrics.TryParse(parts[1], out var b))
            throw new InputException($"--pareto \"{text}\": name two metrics, such as energy,area.");
        if (DesignMetrics.IsStatic(a) && !DesignMetrics.IsStatic(b)) (a, b) = (b, a);
        if (a is not (DesignMetric.Energy or DesignMetric.Latency or DesignMetric.Edp) || !DesignMetrics.IsStatic(b))
            throw new InputException($"--pareto \"{text}\": the front is of one mapped metric (energy, latency or edp) against one static metric (area or sram).");
        return (a, b);
    }
}
