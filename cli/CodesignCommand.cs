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
        var timeLimit = OptionRules.TimeLimit("Seconds for the whole run; when reached, the best point so far is printed with the bound, the gap and the points not yet ruled out.");
        var bound = new Option<double?>("--bound-time") { Description = "Seconds at most for each layer search on a relaxation (a lower bound stays valid when it stops early); default: no cap. " +
                                                                        "With --smallest: each search of a first pass over the values (those left undecided get the time left in a second pass); " +
                                                                        "default there: --time-limit over twice the distinct layers." };
        bound.Validators.Add(r => { if (r.Tokens.Count > 0 && r.GetValueOrDefault<double?>() is { } s && (!double.IsFinite(s) || s <= 0 || s > OptionRules.MaxSeconds)) r.AddError($"--bound-time must be a positive number of seconds, at most {OptionRules.MaxSeconds}, got {s.ToString("R", CultureInfo.InvariantCulture)}."); });
        var quick = new Option<double?>("--quick-bound-time") { Description = "Seconds at most for each layer search of the dive (the quick bounds of the root and its halves, refined with --bound-time only when a set stays competitive; its points), at most --bound-time. Without it, each of those searches explores a fixed number of nodes on one thread, so that where the dive lands does not depend on the machine's load." };
        quick.Validators.Add(r => { if (r.Tokens.Count > 0 && r.GetValueOrDefault<double?>() is { } s && (!double.IsFinite(s) || s <= 0 || s > OptionRules.MaxSeconds)) r.AddError($"--quick-bound-time must be a positive number of seconds, at most {OptionRules.MaxSeconds}, got {s.ToString("R", CultureInfo.InvariantCulture)}."); });
        var threads = new Option<int>("--threads") { Description = "Worker threads of each layer search (0, the default: one per core).", DefaultValueFactory = _ => 0 }.Within(0, 1024);
        var csv = new Option<string?>("--csv") { Description = "Write the answer as CSV: the best point, or one row per point of the Pareto front (with --smallest: one row per value and layer)." };
        var mappingOut = new Option<string?>("--mapping-out") { Description = "A folder to write the best point's architecture (architecture.yaml) and every layer's mapping (LAYER.yaml) into (with --smallest: the answer's, and the reference's in FOLDER/reference)." };
        var shard = new Option<string?>("--shard")
        {
            Description = "Run one shard i/N (0-based i) of the space: the contiguous points floor(i*P/N) to floor((i+1)*P/N)-1; needs --shard-out. " +
                          "`optimizer merge` combines the N shard files into the single run's answer (docs/codesign.md, \"Shards\").",
            HelpName = "i/N",
        };
        var shardOut = new Option<string?>("--shard-out") { Description = "The shard file to write (JSON, docs/codesign.md): the shard's answer, every point it mapped, its counts and the run's identity.", HelpName = "FILE" };
        var plot = Plots.PlotOption("the Pareto front (with --pareto) and the other points mapped exactly");
        var boundsFrom = new Option<string[]>("--bounds-from")
        {
            Description = "With --shard: shard files of the same run already written (other shards', or this shard's earlier run); the least best value among them " +
                          "is a cutoff: sets of this shard whose lower bound is above it are dropped (docs/codesign.md, \"Shards\").",
            HelpName = "FILE",
            AllowMultipleArgumentsPerToken = true,
        };
        var convention = OptionRules.Convention("How every layer is costed: default (docs/cost-model.md) or timeloop (Timeloop v3.0.3's counts; the layer searches' bounds hold " +
                                                 "for them, so proofs stand, but real layers prove more slowly, docs/mapspace.md).");
        var query = SmallestCommand.Options();
        var cmd = new Command("codesign", "Find the point of a declared design space that minimizes the objective for a workload under budgets, each layer mapped optimally; OPTIMAL when proved over the whole space. " +
                                          "With --smallest: the smallest value of one parameter keeping the layers within --within of their optima at its largest value, proved.")
        {
            space, workload, objective, require, pareto, timeLimit, bound, quick, threads, csv, mappingOut, shard, shardOut, plot, boundsFrom, convention,
        };
        foreach (var o in query.All) cmd.Options.Add(o);
        cmd.SetAction(pr => Program.Guard(() => Run(pr, Interrupt.Token)));
        return cmd;

        int Run(ParseResult pr, CancellationToken cancel)
        {
            var s = DesignSpaceSpec.Load(Inputs.RequireFile(pr.GetValue(space)!, "design space"));
            var w = Inputs.Workload(pr.GetValue(workload)!);
            var costing = OptionRules.ConventionOf(pr, convention);
            if (!DesignMetrics.TryParse(pr.GetValue(objective)!, out var obj) || obj is DesignMetric.Power or DesignMetric.LayerLatency)
                throw new InputException($"--objective must be one of energy, latency, edp, area, sram; got '{pr.GetValue(objective)}'.");
            if (query.Given(pr) is { } asked)
            {
                var conflicting = new (Option Option, bool Given)[]
                {
                    (require, (pr.GetValue(require) ?? []).Length > 0), (pareto, pr.GetValue(pareto) is not null), (shard, pr.GetValue(shard) is not null),
                    (shardOut, pr.GetValue(shardOut) is not null), (plot, pr.GetValue(plot) is not null), (boundsFrom, (pr.GetValue(boundsFrom) ?? []).Length > 0),
                    (quick, pr.GetValue(quick) is not null),
                }.Where(c => c.Given).Select(c => c.Option.Name).ToList();
                if (conflicting.Count > 0)
                    throw new InputException($"{asked} asks a query (the smallest value of one parameter within a tolerance); {string.Join(", ", conflicting)} belong to the minimization and do not go with it.");
                return SmallestCommand.Run(pr, query, s, pr.GetValue(space)!, w, obj, new SearchLimits(OptionRules.Span(pr.GetValue(timeLimit)), cancel, pr.GetValue(threads)),
                    OptionRules.Span(pr.GetValue(bound)), pr.GetValue(csv), pr.GetValue(mappingOut), costing);
            }
            var budgets = s.Budgets.Concat((pr.GetValue(require) ?? []).Select(Requirement)).ToList();
            var limits = new SearchLimits(OptionRules.Span(pr.GetValue(timeLimit)), cancel, pr.GetValue(threads));
            var boundSpan = OptionRules.Span(pr.GetValue(bound));
            var quickSpan = OptionRules.Span(pr.GetValue(quick));
            (DesignMetric, DesignMetric)? front = pr.GetValue(pareto) is { } text ? ParetoPair(text) : null;
            if (front is not null && pr.GetResult(objective) is { Implicit: false }) throw new InputException("--pareto and --objective contradict each other: the front is over the two metrics --pareto names.");
            if (front is not null && pr.GetValue(mappingOut) is not null) throw new InputException("--mapping-out writes one point's mappings; it does not go with --pareto.");
            if (front is null && pr.GetValue(plot) is not null) throw new InputException("--plot draws a Pareto front: give --pareto too.");
            var shapes = Zoo.DistinctShapes(w);
            (int Index, int Count)? part = pr.GetValue(shard) is { } st ? ShardSpec(st, s.Count) : null;
            if (part is not null && pr.GetValue(shardOut) is null) throw new InputException("--shard needs --shard-out FILE: a shard's answer is its file, which `optimizer merge` reads.");
            if (part is null && pr.GetValue(shardOut) is not null) throw new InputException("--shard-out writes a shard's file; give --shard i/N too.");
            if (part is not null && (pr.GetValue(csv) is not null || pr.GetValue(mappingOut) is not null || pr.GetValue(plot) is not null))
                throw new InputException("--csv, --plot and --mapping-out are not written by a shard (its answer is not the space's): give them to `optimizer merge`.");
            var from = pr.GetValue(boundsFrom) ?? [];
            if (from.Length > 0 && (part is null || front is not null))
                throw new InputException("--bounds-from gives a shard of a minimization the best values of other shards: give --shard i/N and no --pareto.");
            if (part is { } sh) return Shard(s, w, shapes, obj, front, budgets, limits, boundSpan, quickSpan, sh, pr.GetValue(shardOut)!, from, costing);
            Console.WriteLine($"Co-design of {w.Name} ({w.Layers.Count} layers, {shapes.Count} distinct shapes) over design space {s.Name} ({Text.Int(s.Count)} points, base {s.Base.Name}), " +
                              (front is { } f0 ? $"Pareto front of {DesignMetrics.Name(f0.Item1)} and {DesignMetrics.Name(f0.Item2)}" : $"minimizing {DesignMetrics.Name(obj)}"));
            foreach (var p in s.Parameters) Console.WriteLine($"  {p.Name}: {string.Join(", ", p.Values)}");
            foreach (var b in budgets) Console.WriteLine($"  budget: {b} ({b.Source})");
            if (costing != CostConvention.Default) Console.WriteLine($"  every layer costed by the {Conventions.Names[(int)costing]} convention");
            Codesign run = null!;
            if (front is { } pair)
            {
                var fr = Live.Run("codesign --pareto", p => (run = new Codesign(s, w, limits with { Progress = p }, boundSpan, quickSpan, costing)).Pareto(pair.Item1, pair.Item2, budgets));
                return Front(run, fr, s, budgets, pr.GetValue(csv), pr.GetValue(plot), w.Name);
            }
            var r = Live.Run("codesign", p => (run = new Codesign(s, w, limits with { Progress = p }, boundSpan, quickSpan, costing)).Minimize(obj, budgets));
            Console.WriteLine();
            PointRecord? record = null;
            if (r.Best is { } found)
            {
                var (best, sum) = Canonical(run, found, obj, limits);
                r = r with { Best = best };
                record = Record(best, sum);
                PrintPoint(record, Codesign.MappedFor(obj), shapes.Select(x => (x.Layer.Name, x.Count)).ToList());
                if (pr.GetValue(mappingOut) is { } dir) WriteMappings(dir, w, best.Arch, sum, shapes);
                if (pr.GetValue(csv) is { } path) { CsvExport.Write(path, [Row(record, r.Status.ToString().ToUpperInvariant())]); Console.WriteLine($"Wrote {path}"); }
            }
            Console.WriteLine(Counts(ShardCounts.Of(run.Evaluator, r.FullSweep, r.Elapsed), s.Count, shapes.Count, Codesign.Needed(obj, budgets).Count));
            Console.WriteLine(StatusLine(r.Status, obj, record, r.BestValue, r.Bound, r.GapPercent, r.PointsOpen, r.Explanation));
            return r.Status is CodesignStatus.Optimal or CodesignStatus.Feasible ? 0 : 3;
        }
    }

    /// <summary>Reads <c>--shard i/N</c>: 0 &lt;= i &lt; N, N at most the space's points.</summary>
    private static (int Index, int Count) ShardSpec(string text, int points)
    {
        var m = ShardText().Match(text);
        if (!m.Success || !int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var i) || !int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            throw new InputException($"--shard \"{text}\": write i/N, the 0-based shard i of N shards, such as 0/4.");
        if (i >= n) throw new InputException($"--shard \"{text}\": the shards of {n} are numbered 0 to {n - 1}.");
        if (n > points) throw new InputException($"--shard \"{text}\": the space has {points} point(s); split it into at most {points} shards.");
        return (i, n);
    }

    [GeneratedRegex(@"^\s*(\d{1,9})\s*/\s*(\d{1,9})\s*$")]
    private static partial Regex ShardText();

    /// <summary>
    /// One shard: the minimization or the Pareto front over the shard's points, printed like a single run but scoped to
    /// the shard, and its file written. Exit 0 whenever the file is written, whatever the shard's status (a shard with
    /// no point meeting the budgets is a normal part of a run; the merge gives the run's status and exit code).
    /// </summary>
    private static int Shard(DesignSpace s, Workload w, IReadOnlyList<(Einsum Layer, int Count)> shapes, DesignMetric obj, (DesignMetric, DesignMetric)? front, List<Budget> budgets,
        SearchLimits limits, TimeSpan? boundSpan, TimeSpan? quickSpan, (int Index, int Count) part, string file, IReadOnlyList<string> boundsFrom, CostConvention costing)
    {
        var (first, end) = ShardPlan.Range(part.Index, part.Count, s.Count);
        var candidates = Enumerable.Range(first, end - first).ToList();
        var objective = front?.Item1 ?? obj;
        var identity = ShardFile.Identity(s, shapes, objective, front?.Item2, budgets, costing);
        string scope = $"shard {part.Index}/{part.Count} (points {first} to {end - 1})";
        Console.WriteLine($"Co-design of {w.Name} ({w.Layers.Count} layers, {shapes.Count} distinct shapes) over design space {s.Name} ({Text.Int(s.Count)} points, base {s.Base.Name}), " +
                          (front is { } f0 ? $"Pareto front of {DesignMetrics.Name(f0.Item1)} and {DesignMetrics.Name(f0.Item2)}" : $"minimizing {DesignMetrics.Name(obj)}") + $": {scope}");
        foreach (var b in budgets) Console.WriteLine($"  budget: {b} ({b.Source})");
        if (costing != CostConvention.Default) Console.WriteLine($"  every layer costed by the {Conventions.Names[(int)costing]} convention");
        double? cutoff = null;
        if (boundsFrom.Count > 0)
        {
            var (value, source) = ShardFile.Cutoff(boundsFrom, identity, part.Count);
            cutoff = value;
            Console.WriteLine(value is { } c ? $"  cutoff: {DesignMetrics.Name(obj)} {Codesign.Num(c)} {DesignMetrics.Unit(obj)}, {source} (--bounds-from)" : "  cutoff: none (no file of --bounds-from has a best point)");
        }
        Codesign run = null!;
        var shapeNames = shapes.Select(x => (x.Layer.Name, x.Count)).ToList();
        ShardResult result;
        int staticFeasible = candidates.Count(p => budgets.Where(b => DesignMetrics.IsStatic(b.Metric)).All(b => b.Allows(s.Static(b.Metric, p))));
        ShardResult Make(CodesignStatus status, PointRecord? best, double bound, bool strict, string? why, double over, int open, int evaluated, IReadOnlyList<PointRecord> frontPoints, long fullSweep, TimeSpan elapsed)
            => new(identity, s.Name, s.Count, w.Name, shapeNames, objective, front?.Item2, budgets.Select(b => $"{b} ({b.Source})").ToList(),
                run.FullSweep(objective, budgets), part.Index, part.Count, first, end, status, best, bound, strict, why, over, staticFeasible, open, evaluated, frontPoints,
                run.Mapped.Values.Select(PointRecord.From).ToList(), ShardCounts.Of(run.Evaluator, fullSweep, elapsed));
        Console.WriteLine();
        if (front is { } pair)
        {
            var fr = Live.Run("codesign --pareto --shard", p => (run = new Codesign(s, w, limits with { Progress = p }, boundSpan, quickSpan, costing)).Pareto(pair.Item1, pair.Item2, budgets, candidates));
            var points = fr.Front.Select(PointRecord.From).ToList();
            PrintFront(points, pair.Item1, pair.Item2);
            long full = run.FullSweep(pair.Item1, budgets, candidates.Count);
            result = Make(fr.Status, null, double.PositiveInfinity, false, fr.Explanation, fr.Over, 0, run.Mapped.Count, points, full, run.Evaluator.Elapsed);
            Console.WriteLine(Counts(result.Counts, candidates.Count, shapes.Count, Codesign.Needed(pair.Item1, budgets).Count));
            Console.WriteLine($"Shard {part.Index}/{part.Count}: " + FrontLine(fr.Status, pair.Item1, pair.Item2, fr.Front.Count, fr.Explanation).Replace("every other point meeting", "every other point of the shard meeting"));
        }
        else
        {
            var r = Live.Run("codesign --shard", p => (run = new Codesign(s, w, limits with { Progress = p }, boundSpan, quickSpan, costing)).Minimize(obj, budgets, candidates, cutoff: cutoff));
            PointRecord? record = null;
            IReadOnlyList<(string, string)> bestFiles = [];
            if (r.Best is { } found)
            {
                var (best, sum) = Canonical(run, found, obj, limits);
                r = r with { Best = best };
                var mapped = Codesign.MappedFor(obj);
                record = Record(best, sum);
                bestFiles = MappingFiles(w, best.Arch, sum.Results, shapes);
                PrintPoint(record, mapped, shapeNames);
            }
            long full = run.FullSweep(obj, budgets, candidates.Count);
            result = Make(r.Status, record, r.Bound, r.BoundStrict, r.Explanation, r.Over, r.PointsOpen, r.PointsEvaluated, [], full, run.Evaluator.Elapsed) with { BestFiles = bestFiles };
            Console.WriteLine(Counts(result.Counts, candidates.Count, shapes.Count, Codesign.Needed(obj, budgets).Count));
            Console.WriteLine($"Shard {part.Index}/{part.Count}: " + (r.Status == CodesignStatus.Unknown && r.BoundStrict && r.PointsOpen == 0
                ? $"no point of the {scope} meeting the budgets has {DesignMetrics.Name(obj)} at or below the cutoff {Codesign.Num(r.Bound)} (proved)"
                : StatusLine(r.Status, obj, record, r.BestValue, r.Bound, r.GapPercent, r.PointsOpen, r.Explanation, $"the {scope}")));
        }
        ShardFile.Write(file, result);
        Console.WriteLine($"Wrote {file} (merge the {part.Count} shard files with `optimizer merge`)");
        return 0;
    }

    /// <summary>
    /// The best point with its canonical mappings (<see cref="Codesign.Canonical"/>), and the sum of the objective's
    /// mapping metric (a static objective maps the point for energy, like the printout does): what the single run, a
    /// shard and so the merge report, whichever of equal mappings the run met first. Each canonical search gets the time
    /// left of <c>--time-limit</c>, at most <see cref="CanonicalCap"/> (one that stops keeps the run's mapping).
    /// </summary>
    /// <summary>The most time each canonical search gets (where ties abound, as for latency, settling them all can take long).</summary>
    private static readonly TimeSpan CanonicalCap = TimeSpan.FromSeconds(60);

    private static (PointFigures Best, LayerSum Sum) Canonical(Codesign run, PointFigures found, DesignMetric obj, SearchLimits limits)
    {
        TimeSpan? left = limits.TimeLimit is { } t ? (t - run.Evaluator.Elapsed is var l && l > TimeSpan.Zero ? l : TimeSpan.Zero) : null;
        if (left is not { } cap || cap > CanonicalCap) left = CanonicalCap;
        var best = run.Canonical(found, obj, left);
        var mapped = Codesign.MappedFor(obj);
        var sum = best.Sums.GetValueOrDefault(mapped) ?? run.Evaluator.Canonical(best.Arch, run.Evaluator.Sum(best.Arch, mapped, relaxation: false), left);
        return (best, sum);
    }

    /// <summary>A point's record with the mapped objective's per-shape outcomes (a static objective maps the point for them, like the printout does).</summary>
    private static PointRecord Record(PointFigures f, LayerSum sum)
    {
        var r = PointRecord.From(f);
        if (r.Shapes.ContainsKey(sum.Objective)) return r;
        var shapes = new SortedDictionary<Objective, IReadOnlyList<ShapeOutcome>>(r.Shapes.ToDictionary()) { [sum.Objective] = sum.Results.Select(x => new ShapeOutcome(x.Status, x.Best, x.Bound)).ToList() };
        return r with { Shapes = shapes };
    }

    /// <summary>The last line of a minimization: its status with the best value, the bound, the gap and the points not yet ruled out, as the single run and the merge print it.</summary>
    internal static string StatusLine(CodesignStatus status, DesignMetric obj, PointRecord? best, double? bestValue, double bound, double? gap, int pointsOpen, string? why, string scope = "the declared space")
    {
        string name = DesignMetrics.Name(obj);
        return status switch
        {
            CodesignStatus.Optimal => $"OPTIMAL {name}={Codesign.Num(bestValue!.Value)} {DesignMetrics.Unit(obj)} at point {best!.Point} " +
                                      $"(proved: no point of {scope}, each layer mapped optimally, is better within the budgets)",
            CodesignStatus.Feasible => $"FEASIBLE best={Codesign.Num(bestValue!.Value)} bound={Codesign.Num(bound)} gap={gap!.Value:0.###}% " +
                                       $"({pointsOpen} point(s) not yet ruled out, the best one's included: {why})",
            CodesignStatus.Infeasible => $"INFEASIBLE: {why}",
            _ => $"UNKNOWN: no point known to meet the budgets ({why}; {pointsOpen} point(s) not yet ruled out)",
        };
    }

    /// <summary>The last line of a Pareto front.</summary>
    internal static string FrontLine(CodesignStatus status, DesignMetric first, DesignMetric second, int points, string? why) => status switch
    {
        CodesignStatus.Optimal => $"OPTIMAL Pareto front of {DesignMetrics.Name(first)} and {DesignMetrics.Name(second)}: {points} point(s) (proved: every other point meeting the budgets is dominated or ties)",
        CodesignStatus.Feasible => $"FEASIBLE: {why}",
        CodesignStatus.Infeasible => $"INFEASIBLE: {why}",
        _ => $"UNKNOWN: {why}",
    };

    private static int Front(Codesign run, ParetoResult r, DesignSpace s, IReadOnlyList<Budget> budgets, string? csv, string? plot, string workload)
    {
        var (first, second) = (r.First, r.Second);
        Console.WriteLine();
        var front = r.Front.Select(PointRecord.From).ToList();
        PrintFront(front, first, second);
        if (csv is not null) { CsvExport.Write(csv, front.Select(f => Row(f, r.Status.ToString().ToUpperInvariant()))); Console.WriteLine($"Wrote {csv}"); }
        if (plot is not null) WritePlot(plot, front, run.Mapped.Values.Select(PointRecord.From).ToList(), first, second, budgets, $"{workload} on {s.Name}", r.Status);
        Console.WriteLine(Counts(ShardCounts.Of(run.Evaluator, r.FullSweep, r.Elapsed), s.Count, run.Evaluator.Shapes.Count, Codesign.Needed(first, budgets).Count));
        Console.WriteLine(FrontLine(r.Status, first, second, r.Front.Count, r.Explanation));
        return r.Status is CodesignStatus.Optimal or CodesignStatus.Feasible ? 0 : 3;
    }

    /// <summary>Draws a front with the other points mapped exactly (proved, meeting the budgets whose metric they have) into a picture file.</summary>
    internal static void WritePlot(string path, IReadOnlyList<PointRecord> front, IReadOnlyList<PointRecord> mapped, DesignMetric first, DesignMetric second,
        IReadOnlyList<Budget> budgets, string what, CodesignStatus status)
    {
        var onFront = front.Select(p => p.Point).ToHashSet();
        var others = mapped.Where(p => p.Proved && !onFront.Contains(p.Point) && p.Values.ContainsKey(first) && p.Values.ContainsKey(second)
                                       && budgets.All(b => !p.Values.TryGetValue(b.Metric, out var v) || b.Allows(v))).ToList();
        var title = $"{(status == CodesignStatus.Optimal ? "Exact" : status.ToString().ToUpperInvariant())} Pareto front of {DesignMetrics.Name(first)} and {DesignMetrics.Name(second)}: {what}";
        Plots.Write(Plots.ParetoFront(front, others, first, second, title), path);
        Console.WriteLine($"Wrote {path}");
    }

    /// <summary>The table of a Pareto front.</summary>
    internal static void PrintFront(IReadOnlyList<PointRecord> front, DesignMetric first, DesignMetric second)
    {
        var table = new List<string[]> { new[] { "point", DesignMetrics.Name(first), DesignMetrics.Name(second), "parameters" } };
        foreach (var f in front) table.Add([f.Point.ToString(CultureInfo.InvariantCulture), Codesign.Num(f.Values[first]), Codesign.Num(f.Values[second]), f.Description]);
        Console.Write(Text.Table(table));
    }

    /// <summary>The counts line: exact layer searches against the full sweep, cache answers, repeats and the time (<paramref name="time"/> replaces the seconds, for a merge).</summary>
    internal static string Counts(ShardCounts e, int points, int shapes, int objectives, string? time = null)
        => $"Exact layer searches: {Text.Int(e.Searches)} ({Text.Int(e.BoundSearches)} on relaxations for bounds, {Text.Int(e.PointSearches)} on points) " +
           $"vs {Text.Int(e.FullSweep)} for a full sweep ({Text.Int(points)} points x {shapes} shapes x {Math.Max(1, objectives)} objective(s)): " +
           $"{(e.Searches == 0 ? "none needed" : $"{(double)e.FullSweep / e.Searches:0.#}x fewer")} ({Text.Int(e.CacheHits)} answered from the cache, {Text.Int(e.Refinements)} repeated with more time); " +
           (time ?? $"{e.Seconds:0.#} s");

    /// <summary>The best point's figures and its per-shape table for the mapped objective.</summary>
    internal static void PrintPoint(PointRecord best, Objective mapped, IReadOnlyList<(string Name, int Count)> shapes)
    {
        Console.WriteLine($"Best point {best.Point}: {best.Description}");
        var figures = new[] { DesignMetric.Energy, DesignMetric.Latency, DesignMetric.Edp, DesignMetric.Area, DesignMetric.Sram, DesignMetric.Power, DesignMetric.LayerLatency }
            .Where(best.Values.ContainsKey).Select(m => $"{DesignMetrics.Name(m)} {Codesign.Num(best.Values[m])} {DesignMetrics.Unit(m)}");
        Console.WriteLine($"  {string.Join(", ", figures)}");
        if (best.Shapes.GetValueOrDefault(mapped) is not { } outcomes) return;
        var table = new List<string[]> { new[] { "shape", "layers", "status", Objectives.Name(mapped), "bound" } };
        for (int i = 0; i < outcomes.Count; i++)
        {
            var r = outcomes[i];
            table.Add([shapes[i].Name, shapes[i].Count.ToString(CultureInfo.InvariantCulture), r.Status.ToString().ToUpperInvariant(), r.Best is { } b ? Text.Num(b) : "-", Text.Num(r.Bound)]);
        }
        Console.Write(Text.Table(table));
    }

    /// <summary>One CSV row: a point and its figures (empty where not computed).</summary>
    public sealed record PointRow(int Point, string Parameters, string Status, double? Energy, double? Latency, double? Edp, double Area, double Sram, double? Power, double? LayerLatency);

    internal static PointRow Row(PointRecord f, string status)
    {
        double? V(DesignMetric m) => f.Values.TryGetValue(m, out var v) ? v : null;
        return new PointRow(f.Point, f.Description, status, V(DesignMetric.Energy), V(DesignMetric.Latency), V(DesignMetric.Edp), f.Values[DesignMetric.Area], f.Values[DesignMetric.Sram], V(DesignMetric.Power), V(DesignMetric.LayerLatency));
    }

    private static void WriteMappings(string dir, Workload w, Architecture arch, LayerSum sum, IReadOnlyList<(Einsum Layer, int Count)> shapes)
        => WriteFiles(dir, MappingFiles(w, arch, sum.Results, shapes));

    /// <summary>The files of <c>--mapping-out</c>: the point's architecture (architecture.yaml) and every layer's mapping (LAYER.yaml; a shape's result per shape, null where not searched), as texts.</summary>
    internal static IReadOnlyList<(string File, string Text)> MappingFiles(Workload w, Architecture arch, IReadOnlyList<SolveResult?> results, IReadOnlyList<(Einsum Layer, int Count)> shapes)
    {
        var files = new List<(string, string)> { ("architecture.yaml", ArchitectureSpec.Write(arch)) };
        var index = shapes.Select((s, i) => (Zoo.ShapeKey(s.Layer), i)).ToDictionary(x => x.Item1, x => x.i);
        foreach (var layer in w.Layers)
        {
            int i = index[Zoo.ShapeKey(layer)];
            if (results[i]?.Mapping is not { } m) continue;
            var mapping = ReferenceEquals(shapes[i].Layer, layer) ? m : m.RenameTensors(shapes[i].Layer, layer);
            files.Add(($"{layer.Name}.yaml", MappingSpec.Write(mapping, layer, arch)));
        }
        return files;
    }

    /// <summary>Writes the files of <c>--mapping-out</c> into a folder (each through <see cref="AtomicFile"/>).</summary>
    internal static void WriteFiles(string dir, IReadOnlyList<(string File, string Text)> files)
    {
        if (File.Exists(dir)) throw new InputException($"--mapping-out {dir} is a file; give a folder.");
        Directory.CreateDirectory(dir);
        foreach (var (file, text) in files) AtomicFile.WriteAllText(Path.Combine(dir, file), text);
        Console.WriteLine($"Wrote {dir}/architecture.yaml and {files.Count - 1} layer mapping(s) in {dir}");
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
