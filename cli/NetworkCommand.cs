using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary><c>optimizer map --network</c>: a whole network on a multi-node design (docs/network.md).</summary>
internal static class NetworkMap
{
    /// <summary>One CSV row per layer.</summary>
    public sealed record Row(int Segment, string Layout, int Passes, string Layer, string Region, int Nodes,
        double EnergyPj, long Cycles, long CyclesPerPass, string OnChipInputs, string OnChipOutputs, string Resident, string Mapping, string Source);

    /// <summary>Maps the workload, prints the plan, the totals and the baseline, and writes the CSV when asked.</summary>
    public static int Run(Workload w, Architecture arch, IReadOnlyList<Objective> terms, NetworkOptions options, SearchLimits limits, string? csv)
    {
        var objective = terms[0];
        if (NodeArray.Mesh(arch) is null)
            throw new InputException($"--network needs a multi-node architecture, one whose outermost level ({arch.Levels[0].Name}) fans out to a mesh of nodes " +
                $"(such as multinode or multinode-4x4); {arch.Name}'s is a {arch.Levels[0].Fanout.X} x {arch.Levels[0].Fanout.Y} {arch.Levels[0].Fanout.Topology.ToString().ToLowerInvariant()}.");
        var whole = NodeArray.Whole(arch);
        string obj = Objectives.Name(objective), objectives = string.Join(",", terms.Select(Objectives.Name));
        Console.WriteLine($"Mapping the whole network {w.Name} ({w.Layers.Count} layers, {Text.Int(w.Macs)} MACs) on {arch.Name} ({whole.Rows} x {whole.Cols} nodes), minimizing {objectives}{(terms.Count > 1 ? " (in that order)" : "")}");
        Console.WriteLine($"Each layer mapped by the descent on its region; segments of up to {options.MaxSegment} layers, {options.Chains} chains solved in full, " +
                          $"up to {options.MaxPasses} passes (docs/network.md)");
        var r = new NetworkMapper(new NetworkProblem(w, arch, objective, options) { Terms = terms }, m => Console.Error.WriteLine(m)).Solve(limits);
        Console.WriteLine();
        Console.Write(Print(w, arch, r.Plan, r.Cost));
        Console.WriteLine();
        Console.WriteLine($"Total     {Totals(r.Cost)}");
        Console.WriteLine($"Baseline  {Totals(r.BaselineCost)} (every layer one after another on all nodes)");
        Console.WriteLine($"Baseline / plan: energy {Ratio(r.BaselineCost.Energy, r.Cost.Energy)}, latency {Ratio(r.BaselineCost.Cycles, r.Cost.Cycles)}, " +
                          $"EDP {Ratio(r.BaselineCost.Edp, r.Cost.Edp)}");
        Console.WriteLine($"Search: {r.Candidates} candidate segments, {r.ChainsSolved} chains solved in full (the baseline among them), {r.Descents} descents, " +
                          $"{r.Elapsed.TotalSeconds:0.##} s{(r.Stopped ? "; stopped by the time limit, best so far" : "")}; the plan's {obj} was estimated at {Text.Num(r.Estimated)}");
        if (csv is not null)
        {
            CsvExport.Write(csv, Rows(arch, r.Plan, r.Cost));
            Console.WriteLine($"Wrote {csv}");
        }
        Console.WriteLine($"FEASIBLE {string.Join(", ", terms.Select(t => $"{Objectives.Name(t)}={Text.Num(r.Cost.Objective(t))}"))} (a heuristic: descent per layer and estimated segments; it proves nothing)");
        return 0;
    }

    private static string Totals(NetworkCostReport c)
        => $"energy {Text.Pj(c.Energy)} pJ, latency {Text.Int(c.Cycles)} cycles, EDP {c.Edp.ToString("0.000E+0", CultureInfo.InvariantCulture)} pJ x cycles";

    private static string Ratio(double baseline, double plan) => plan > 0 ? (baseline / plan).ToString("0.000", CultureInfo.InvariantCulture) + "x" : "-";

    private static string Layout(NetworkSegment s) => s.Layout == SegmentLayout.Sequential
        ? (s.Count == 1 ? "alone on all nodes" : "one after another on all nodes")
        : $"side by side, pipelined in {s.Passes} pass{(s.Passes == 1 ? "" : "es")}";

    private static string OnChip(NetworkLayerCost l)
    {
        var parts = new List<string>();
        if (l.OnChipInputs.Count > 0) parts.Add("in " + string.Join(",", l.OnChipInputs));
        if (l.OnChipOutputs.Count > 0) parts.Add("out " + string.Join(",", l.OnChipOutputs));
        if (l.Resident.Count > 0) parts.Add("resident " + string.Join(",", l.Resident));
        return parts.Count == 0 ? "none" : string.Join("; ", parts);
    }

    /// <summary>The segments, one line per layer with its region and cost, and every layer's mapping.</summary>
    public static string Print(Workload w, Architecture arch, NetworkPlan plan, NetworkCostReport cost)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("Segments (run one after another):\n");
        for (int k = 0; k < cost.Segments.Count; k++)
        {
            var s = cost.Segments[k];
            var seg = s.Segment;
            string layers = seg.Count == 1 ? w.Layers[seg.First].Name : $"{w.Layers[seg.First].Name} .. {w.Layers[seg.Last].Name}";
            sb.Append($"  {k + 1,3}  layers {seg.First}-{seg.Last} ({layers}): {Layout(seg)}; energy {Text.Pj(s.Energy)} pJ, latency {Text.Int(s.Cycles)} cycles ({s.BoundBy})\n");
        }
        sb.Append('\n');
        var rows = new List<string[]> { new[] { "seg", "layer", "region", "nodes", "passes", "energy (pJ)", "cycles", "on chip" } };
        for (int k = 0; k < cost.Segments.Count; k++)
            foreach (var l in cost.Segments[k].Layers)
                rows.Add([(k + 1).ToString(CultureInfo.InvariantCulture), l.Layer.Name, l.Region.ToString(), Text.Int(l.Region.Nodes),
                    l.Passes.ToString(CultureInfo.InvariantCulture), Text.Pj(l.Energy), Text.Int(l.Cycles), OnChip(l)]);
        sb.Append(Text.Table(rows)).Append('\n');
        sb.Append("Mappings (one pass, on the layer's region; level names as in the architecture):\n");
        var names = arch.Levels.Select(l => l.Name).ToList();
        foreach (var l in plan.Layers) sb.Append($"  {l.Layer.Name}: {l.Mapping.ToCompactString(names)}\n");
        return sb.ToString();
    }

    /// <summary>The CSV rows: one per layer.</summary>
    public static IEnumerable<Row> Rows(Architecture arch, NetworkPlan plan, NetworkCostReport cost)
    {
        var names = arch.Levels.Select(l => l.Name).ToList();
        for (int k = 0; k < cost.Segments.Count; k++)
            foreach (var l in cost.Segments[k].Layers)
                yield return new Row(k + 1, cost.Segments[k].Segment.Layout.ToString().ToLowerInvariant(), l.Passes, l.Layer.Name, l.Region.ToString(), l.Region.Nodes,
                    l.Energy, l.Cycles, l.CyclesPerPass, string.Join(" ", l.OnChipInputs), string.Join(" ", l.OnChipOutputs), string.Join(" ", l.Resident), plan.Layers[l.Index].Mapping.ToCompactString(names), l.Layer.Source);
    }
}
