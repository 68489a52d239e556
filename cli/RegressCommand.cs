using System.CommandLine;
using System.Globalization;
using System.Diagnostics;
using CsvHelper;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary>
/// <c>optimizer regress</c>: runs a heuristic and the exact mapper on every distinct layer shape and
/// reports the heuristic's gap to the exact answer per layer, with a summary; against a baseline CSV
/// it fails when any layer's gap grew by more than a tolerance (the command a team puts in its CI).
/// </summary>
internal static class RegressCommand
{
    /// <summary>One CSV row per layer shape.</summary>
    public sealed record Row(string Layer, int Count, string ExactStatus, double ExactCost, double ExactBound, double HeuristicCost, double GapPercent, double ExactSeconds, double HeuristicSeconds,
        string Source = "", string Term = "");

    public static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: a preset name or a spec file.", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name, a spec file, or a model file (.onnx or .mlir; docs/frontends.md).", Required = true };
        var heuristic = new Option<string>("--heuristic")
        {
            Description = "The heuristic to check: descent (bottom-up cost descent), random (the sampling baseline), or FILE: mappings made by another tool, "
                          + "a directory with one mapping file per layer (native or Timeloop; the layer is the file's 'layer' key or its name) or one "
                          + "mapping set file ('mappings:', one entry per layer). Layers without a mapping are skipped and listed; a mapping that breaks "
                          + "a rule is an error. A FILE's time is the time to read, check and cost its mappings (docs/heuristics.md).",
            DefaultValueFactory = _ => "descent",
        };
        var objective = OptionRules.Objective("What to minimize: energy, latency (or delay), edp, or a lexicographic list such as delay,energy. The exact mapper proves the list term by term; "
            + "descent and random minimize its first term, then hill-climb each later term with the earlier ones capped; the gap is taken in the first term where the two answers differ.");
        var convention = OptionRules.Convention("How mappings are costed: default (docs/cost-model.md) or timeloop (Timeloop v3.0.3's counts; the exact mapper then searches with bounds that hold for them, "
            + "docs/mapspace.md; the heuristic's mappings are re-costed by the same convention).");
        var seed = new Option<int>("--seed") { Description = "Seed of the random heuristic.", DefaultValueFactory = _ => 1 };
        var samples = new Option<int>("--samples") { Description = "The random heuristic stops after this many valid draws without improvement.", DefaultValueFactory = _ => 500 }.Within(1);
        var timeLimit = OptionRules.TimeLimit("Seconds per layer for the exact mapper; an unproved layer's gap is to its best-found mapping.", 10);
        var baseline = new Option<string?>("--baseline") { Description = "An earlier run's CSV: exit 1 when any layer's gap grew by more than --tolerance percentage points." };
        var tolerance = new Option<double>("--tolerance") { Description = "Percentage points a gap may grow before --baseline fails.", DefaultValueFactory = _ => 0.5 }.AtLeast(0);
        var csv = new Option<string?>("--csv") { Description = "Write one row per layer shape." };
        var format = ReadingOptions.Format();
        var energy = ReadingOptions.Energy();
        var plot = Plots.PlotOption("each layer shape's gap and the speed-up");
        var report = Plots.ReportOption();
        var cmd = new Command("regress", "Compare a heuristic mapper with the exact mapper on every distinct layer shape; fail on a worsened gap against a baseline.")
        {
            arch, workload, heuristic, objective, convention, seed, samples, timeLimit, baseline, tolerance, csv, format, energy, plot, report,
        };
        cmd.SetAction(pr => Program.Guard(() =>
        {
            var reading = ReadingOptions.Of(pr, format, energy);
            var visuals = Visuals.Of(pr, plot, report);
            using var printout = visuals.Capture();
            var a = Inputs.Architecture(pr.GetValue(arch)!, reading);
            var w = Inputs.Workload(pr.GetValue(workload)!, reading);
            double limit = pr.GetValue(timeLimit);
            int patience = pr.GetValue(samples);
            var terms = OptionRules.ObjectiveOf(pr, objective);
            var costing = OptionRules.ConventionOf(pr, convention);
            int s = pr.GetValue(seed);
            var name = pr.GetValue(heuristic)!;
            Func<MapProblem, SolveResult?> h;
            string label;
            if (name == "random") { h = p => Lexicographic.Heuristic(p, terms, SearchLimits.None, (q, l) => new RandomSampler(q, s, patience).Solve(l)); label = "random sampling"; }
            else if (name == "descent") { h = p => Lexicographic.Heuristic(p, terms, SearchLimits.None, (q, l) => new Descent(q).Solve(l)); label = "the descent"; }
            else if (MappingFiles.Exists(name))
            {
                var files = MappingFiles.Load(name, w, a, reading);
                h = files.Solve;
                label = $"the mappings in {name}";
            }
            else throw new InputException($"--heuristic must be descent, random, or an existing file or directory of mappings; '{name}' is none of these.");
            var rows = Run(w, a, terms, h, TimeSpan.FromSeconds(limit), label, costing);
            if (pr.GetValue(csv) is { } path) { CsvExport.Write(path, rows); Console.WriteLine($"Wrote {path}"); }
            int code = pr.GetValue(baseline) is { } b ? CompareWithBaseline(rows, ReadBaseline(b), pr.GetValue(tolerance)) : 0;
            if (visuals.Any)
            {
                string status = rows.Count == 0 ? "UNKNOWN: no layer shape was compared"
                    : (code == 0 ? "" : "REGRESSION: a layer's gap grew beyond the tolerance over the baseline. ") + GapSummary(rows);
                visuals.WriteSummary($"regress: {label} on {w.Name}, {a.Name}", status, rows.Count == 0 ? null : Plots.RegressGaps(rows, label),
                    "Gap and speed-up per layer shape", RegressCaption, printout);
            }
            return code;
        }));
        return cmd;
    }

    /// <summary>
    /// Runs the heuristic (default model) and the exact mapper (every term, lexicographically, under the convention)
    /// on every distinct shape. The heuristic's mapping is re-costed by the convention; its gap is taken in the first term where its
    /// value differs from the exact answer's (zero when the heuristic's mapping is lexicographically no worse).
    /// </summary>
    /// <remarks>A heuristic that returns null for a shape has no mapping for it: the shape is skipped (the exact mapper does not run) and listed.</remarks>
    public static List<Row> Run(Workload w, Architecture arch, IReadOnlyList<Objective> terms, Func<MapProblem, SolveResult?> heuristic, TimeSpan exactLimit,
        string label = "the heuristic", CostConvention convention = CostConvention.Default)
    {
        string names = string.Join(",", terms.Select(Objectives.Name));
        Console.WriteLine($"Regression of {label} against the exact mapper: {w.Name} on {arch.Name}, {names}"
                          + (convention == CostConvention.Default ? "" : $", {Conventions.Names[(int)convention]} convention"));
        var rows = new List<Row>();
        var missing = new List<string>();
        var table = new List<string[]> { new[] { "layer", "x", "exact", "exact status", "heuristic", "gap %", "exact s", "heuristic s" } };
        if (terms.Count > 1) table[0] = [.. table[0], "term"];
        var shapes = Zoo.DistinctShapes(w);
        int done = 0;
        foreach (var (layer, count) in shapes)
        {
            var p = new MapProblem(layer, arch, terms[0]);
            string title = $"shape {++done}/{shapes.Count} {layer.Name}";
            if (Live.Run($"{title}, the heuristic", _ => heuristic(p)) is not { } h)
            {
                missing.Add(layer.Name);
                continue;
            }
            var exactProblem = p with { Convention = convention };
            var e = Live.Run($"{title}, the exact mapper", progress =>
            {
                var limits = new SearchLimits(exactLimit, Interrupt.Token, Progress: progress);
                return terms.Count > 1 ? Lexicographic.Solve(exactProblem, terms, limits) : new TilingSearch(exactProblem, prune: true).Solve(limits);
            });
            if (e.Report is not { } exactReport || h.Mapping is not { } hm)
            {
                Console.WriteLine($"  {layer.Name}: no valid mapping found ({(e.Report is null ? "exact" : "heuristic")}); skipped");
                continue;
            }
            // Both answers are costed by the reference model of the convention.
            var found = Conventions.Evaluate(convention, layer, arch, hm);
            var (term, exact, mine, gap) = Gap(terms, exactReport, found);
            var row = new Row(layer.Name, count, e.Status.ToString().ToUpperInvariant(), exact, TermBound(e, term, exact), mine, gap, e.Elapsed.TotalSeconds, h.Elapsed.TotalSeconds, layer.Source,
                terms.Count > 1 ? Objectives.Name(term) : "");
            rows.Add(row);
            string[] cells = [layer.Name, count.ToString(CultureInfo.InvariantCulture), Text.Num(exact), row.ExactStatus, Text.Num(mine), gap.ToString("0.###", CultureInfo.InvariantCulture),
                e.Elapsed.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture), h.Elapsed.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)];
            table.Add(terms.Count > 1 ? [.. cells, row.Term] : cells);
            Console.WriteLine($"  {layer.Name}: gap {gap:0.###}%{(terms.Count > 1 ? $" in {row.Term}" : "")} (exact {row.ExactStatus})");
        }
        Console.WriteLine();
        Console.Write(Text.Table(table));
        if (rows.Count > 0)
        {
            Console.WriteLine(GapSummary(rows));
            Console.WriteLine($"Speed: the heuristic took {rows.Sum(r => r.HeuristicSeconds):0.##} s, the exact mapper {rows.Sum(r => r.ExactSeconds):0.##} s ({SpeedUp(rows.Sum(r => r.ExactSeconds), rows.Sum(r => r.HeuristicSeconds)):0.#}x)");
            int unproved = rows.Count(r => r.ExactStatus != "OPTIMAL");
            if (unproved > 0)
                Console.WriteLine($"Note: {unproved} of {rows.Count} shapes were not proved optimal within the time limit; their gaps are to the best mapping found, not to a proven optimum.");
        }
        if (missing.Count > 0)
            Console.WriteLine($"Skipped {missing.Count} layer shape(s) with no mapping given: {string.Join(", ", missing)}");
        return rows;
    }

    /// <summary>
    /// The term the gap is taken in (the first where the two values differ by more than a relative 1e-12; the last term when none does),
    /// the exact and the heuristic's value there, and the gap in percent over the lower of the two (an exact search stopped early can
    /// lose to the heuristic: the gap is then zero).
    /// </summary>
    public static (Objective Term, double Exact, double Heuristic, double GapPercent) Gap(IReadOnlyList<Objective> terms, CostReport exact, CostReport heuristic)
    {
        foreach (var t in terms)
        {
            double a = exact.Objective(t), b = heuristic.Objective(t);
            bool last = t == terms[^1];
            if (!last && Math.Abs(a - b) <= 1e-12 * Math.Max(Math.Abs(a), Math.Abs(b))) continue;
            double reference = Math.Min(a, b);
            return (t, a, b, reference > 0 ? (b - reference) / reference * 100 : 0);
        }
        throw new ArgumentException("No objective term.", nameof(terms));
    }

    /// <summary>
    /// The exact search's bound in the gap's term: its reported bound when that term is the one it ended in, the term's value when an
    /// earlier term (proved before the search went on), and 0 (nothing known) when the search stopped before reaching the term.
    /// </summary>
    private static double TermBound(SolveResult e, Objective term, double value)
    {
        if (e.Terms is not { Count: > 0 } searched || searched[^1] == term) return e.Bound;
        return searched.Contains(term) ? value : 0;
    }

    /// <summary>How many times faster the heuristic was than the exact mapper (a heuristic time of zero counts as a nanosecond).</summary>
    public static double SpeedUp(double exactSeconds, double heuristicSeconds) => exactSeconds / Math.Max(1e-9, heuristicSeconds);

    /// <summary>The gap line of the summary: mean, median, worst and the shares within 1, 2 and 5 %.</summary>
    private static string GapSummary(IReadOnlyList<Row> rows)
    {
        var gaps = rows.Select(r => r.GapPercent).Order().ToList();
        double Share(double pct) => rows.Count(r => r.GapPercent <= pct) / (double)rows.Count;
        return $"Gap: mean {gaps.Average():0.###}%, median {gaps[gaps.Count / 2]:0.###}%, worst {gaps[^1]:0.###}%; within 1%: {Text.Pct(Share(1))}, 2%: {Text.Pct(Share(2))}, 5%: {Text.Pct(Share(5))}";
    }

    private const string RegressCaption = "One bar per distinct layer shape (x N: how many layers share it): the heuristic's gap to the exact mapper in percent, " +
        "blue where the exact answer is proved optimal, orange where the exact mapper stopped at its time limit (the gap is then to its best found). " +
        "Diamonds, right axis, log scale: the exact mapper's seconds over the heuristic's for that shape.";

    private static Dictionary<string, double> ReadBaseline(string path)
    {
        if (!File.Exists(path)) throw new InputException($"The baseline file '{path}' does not exist.");
        using var reader = new StreamReader(path);
        // Only the two columns compared are read, so baselines written before the Source column still read.
        using var csv = new CsvReader(reader, CultureInfo.InvariantCulture);
        try
        {
            if (!csv.Read() || !csv.ReadHeader() || csv.HeaderRecord is not { } header || !header.Contains(nameof(Row.Layer)) || !header.Contains(nameof(Row.GapPercent)))
                throw new InputException($"{path}: not a regress CSV (it needs the columns {nameof(Row.Layer)} and {nameof(Row.GapPercent)}).");
            var gaps = new Dictionary<string, double>();
            while (csv.Read()) gaps[csv.GetField(nameof(Row.Layer))!] = csv.GetField<double>(nameof(Row.GapPercent));
            return gaps;
        }
        catch (CsvHelperException e)
        {
            throw new InputException($"{path}: not a regress CSV ({e.Message.Split('\n')[0]}).");
        }
    }

    /// <summary>Exit code 1 when any layer's gap grew by more than the tolerance (percentage points) over the baseline.</summary>
    public static int CompareWithBaseline(IReadOnlyList<Row> rows, IReadOnlyDictionary<string, double> baseline, double tolerance)
    {
        var worse = rows.Where(r => baseline.TryGetValue(r.Layer, out var b) && r.GapPercent > b + tolerance).ToList();
        foreach (var r in worse)
            Console.WriteLine($"REGRESSION {r.Layer}: gap {r.GapPercent:0.###}% vs baseline {baseline[r.Layer]:0.###}% (tolerance {tolerance} points)");
        var missing = baseline.Keys.Except(rows.Select(r => r.Layer)).ToList();
        if (missing.Count > 0) Console.WriteLine($"Not in this run: {string.Join(", ", missing)}");
        Console.WriteLine(worse.Count == 0 ? $"No layer's gap grew by more than {tolerance} points over the baseline." : $"{worse.Count} layer(s) got worse.");
        return worse.Count == 0 ? 0 : 1;
    }
}
