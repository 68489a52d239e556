using System.CommandLine;
using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;

namespace Optimizer.Cli;

/// <summary>
/// <c>optimizer merge FILE...</c>: combines the shard files of one <c>codesign --shard i/N</c> run into the single run's
/// answer (docs/codesign.md, "Shards"): the same best point and status, or the same Pareto front.
/// </summary>
internal static class MergeCommand
{
    public static Command Build()
    {
        var files = new Argument<string[]>("files") { Description = "The shard files of one run, shards 0 to N-1 each once (any order).", Arity = ArgumentArity.OneOrMore };
        var csv = new Option<string?>("--csv") { Description = "Write the answer as CSV: the best point, or one row per point of the Pareto front (as `codesign --csv`)." };
        var plot = Plots.PlotOption("the merged Pareto front and the other points the shards mapped exactly");
        var mappingOut = new Option<string?>("--mapping-out") { Description = "A folder to write the best point's architecture (architecture.yaml) and every layer's mapping (LAYER.yaml) into, from its shard's file (as `codesign --mapping-out`)." };
        var cmd = new Command("merge", "Combine the shard files of `codesign --shard i/N` into the answer of a single run: the best point with its status, bound and gap, or the Pareto front.")
        {
            files, csv, plot, mappingOut,
        };
        cmd.SetAction(pr => Program.Guard(() => Run(pr.GetValue(files)!, pr.GetValue(csv), pr.GetValue(plot), pr.GetValue(mappingOut))));
        return cmd;
    }

    /// <summary>The budgets of a run as its identity's question writes them (<c>...; budgets: area &lt;= 1, latency &lt;= 3000</c>).</summary>
    private static List<Budget> Budgets(string question)
    {
        var list = new List<Budget>();
        int at = question.IndexOf("; budgets: ", StringComparison.Ordinal);
        if (at < 0) return list;
        foreach (var item in question[(at + "; budgets: ".Length)..].Split(", ", StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(" <= ");
            if (parts.Length == 2 && DesignMetrics.TryParse(parts[0], out var m) && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var limit))
                list.Add(new Budget(m, limit, "the shards' question"));
        }
        return list;
    }

    private static int Run(IReadOnlyList<string> paths, string? csv, string? plot, string? mappingOut)
    {
        var shards = ShardFile.LoadAll(paths);
        var s0 = shards[0];
        if (mappingOut is not null && s0.IsPareto) throw new InputException("--mapping-out writes one point's mappings; these shards are of a Pareto front.");
        if (plot is not null && !s0.IsPareto) throw new InputException("--plot draws a Pareto front: these shards are of a minimization.");
        int objectives = (int)(s0.SpaceFullSweep / Math.Max(1, (long)s0.SpacePoints * s0.Shapes.Count));
        string what = s0.Second is { } sec ? $"Pareto front of {DesignMetrics.Name(s0.Objective)} and {DesignMetrics.Name(sec)}" : $"minimizing {DesignMetrics.Name(s0.Objective)}";
        Console.WriteLine($"Merge of {shards.Count} shard(s) of the co-design of {s0.WorkloadName} ({s0.Shapes.Count} distinct shapes) over design space {s0.SpaceName} ({Text.Int(s0.SpacePoints)} points), {what}");
        foreach (var b in s0.Budgets) Console.WriteLine($"  budget: {b}");
        foreach (var s in shards)
            Console.WriteLine($"  shard {s.Name}: points {s.First} to {s.End - 1}, {s.Status.ToString().ToUpperInvariant()}, {Text.Int(s.Counts.Searches)} layer searches, {s.Counts.Seconds:0.#} s");
        var counts = new ShardCounts(shards.Sum(s => s.Counts.Searches), shards.Sum(s => s.Counts.BoundSearches), shards.Sum(s => s.Counts.PointSearches),
            shards.Sum(s => s.Counts.CacheHits), shards.Sum(s => s.Counts.Refinements), s0.SpaceFullSweep, shards.Sum(s => s.Counts.Seconds));
        string time = $"{counts.Seconds:0.#} s summed over the shards, the longest {shards.Max(s => s.Counts.Seconds):0.#} s";
        Console.WriteLine();
        if (s0.IsPareto)
        {
            var f = ShardMerge.Pareto(shards);
            CodesignCommand.PrintFront(f.Front, f.First, f.Second);
            if (csv is not null) { CsvExport.Write(csv, f.Front.Select(p => CodesignCommand.Row(p, f.Status.ToString().ToUpperInvariant()))); Console.WriteLine($"Wrote {csv}"); }
            if (plot is not null) CodesignCommand.WritePlot(plot, f.Front, shards.SelectMany(s => s.Points).ToList(), f.First, f.Second, Budgets(s0.Identity.Question), $"{s0.WorkloadName} on {s0.SpaceName}", f.Status);
            Console.WriteLine(CodesignCommand.Counts(counts, s0.SpacePoints, s0.Shapes.Count, objectives, time));
            Console.WriteLine(CodesignCommand.FrontLine(f.Status, f.First, f.Second, f.Front.Count, f.Explanation));
            return f.Status is CodesignStatus.Optimal or CodesignStatus.Feasible ? 0 : 3;
        }
        var r = ShardMerge.Minimize(shards);
        if (r.Best is { } best)
        {
            CodesignCommand.PrintPoint(best, Codesign.MappedFor(r.Objective), s0.Shapes);
            if (mappingOut is not null)
            {
                var files = shards[r.BestShard!.Value].BestFiles;
                if (files.Count == 0) throw new InputException($"--mapping-out: the file of shard {shards[r.BestShard.Value].Name} holds no mappings of its best point.");
                CodesignCommand.WriteFiles(mappingOut, files);
            }
            if (csv is not null) { CsvExport.Write(csv, [CodesignCommand.Row(best, r.Status.ToString().ToUpperInvariant())]); Console.WriteLine($"Wrote {csv}"); }
        }
        Console.WriteLine(CodesignCommand.Counts(counts, s0.SpacePoints, s0.Shapes.Count, objectives, time));
        Console.WriteLine(CodesignCommand.StatusLine(r.Status, r.Objective, r.Best, r.BestValue, r.Bound, r.GapPercent, r.PointsOpen, r.Explanation));
        return r.Status is CodesignStatus.Optimal or CodesignStatus.Feasible ? 0 : 3;
    }
}
