using System.Text;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary>Prints a cost report: the loop nest, a table per level and tensor, network traffic and the totals.</summary>
internal static class ReportPrinter
{
    public static string Print(Einsum layer, Architecture arch, Mapping mapping, CostReport r)
    {
        var sb = new StringBuilder();
        sb.Append("Loop nest (outermost first; tile sizes in words):\n");
        sb.Append(LoopNestPrinter.Print(layer, arch, mapping)).Append('\n');
        foreach (var (_, rows) in Tables(r)) sb.Append(Text.Table(rows)).Append('\n');
        sb.Append(Summary(arch, r));
        return sb.ToString();
    }

    /// <summary>The tables of a report, each a header row and its rows: per level and tensor, the network (when used), per level.</summary>
    public static IReadOnlyList<(string Caption, List<string[]> Rows)> Tables(CostReport r)
    {
        var tables = new List<(string, List<string[]>)>();
        var rows = new List<string[]> { new[] { "Level", "Tensor", "Tile", "Instances", "Reads/inst", "Fills/inst", "Updates/inst", "Energy (pJ)" } };
        foreach (var t in r.Tensors)
            rows.Add([t.Level, t.Tensor.Name, Text.Int(t.TileWords), Text.Int(t.InstancesUsed), Text.Int(t.Reads), Text.Int(t.Fills), Text.Int(t.Updates), Text.Pj(t.Energy)]);
        tables.Add(("Per level and tensor (counts per instance; energy over the instances used)", rows));
        if (r.Network.Count > 0)
        {
            var net = new List<string[]> { new[] { "Network below", "Tensor", "Words", "Hops/word", "Energy (pJ)" } };
            foreach (var n in r.Network) net.Add([n.Level, n.Tensor.Name, Text.Int(n.Words), Text.Num(n.Hops), Text.Pj(n.Energy)]);
            tables.Add(("Network traffic below each fanout", net));
        }
        var lv = new List<string[]> { new[] { "Level", "Used/instances", "Words held", "Capacity", "Energy (pJ)", "Bandwidth cycles" } };
        foreach (var l in r.Levels)
            lv.Add([l.Level, $"{Text.Int(l.InstancesUsed)}/{Text.Int(l.Instances)}", Text.Int(l.WordsHeld), l.Capacity is { } c ? Text.Int(c) : "unbounded", Text.Pj(l.Energy), Text.Int(l.BandwidthCycles)]);
        tables.Add(("Per level", lv));
        return tables;
    }

    /// <summary>The totals: energy (and its parts), MACs, cycles, utilization and EDP, one per line.</summary>
    public static string Summary(Architecture arch, CostReport r)
    {
        var sb = new StringBuilder();
        sb.Append($"Energy       {Text.Pj(r.Energy)} pJ  ({Text.Num(r.EnergyPerMac)} pJ/MAC; MACs {Text.Pj(r.MacEnergy)}, storage {Text.Pj(r.StorageEnergy)}, network {Text.Pj(r.NetworkEnergy)})\n");
        sb.Append($"MACs         {Text.Int(r.Macs)} on {Text.Int(r.ComputeInstancesUsed)} of {Text.Int(arch.ComputeInstances)} compute units\n");
        sb.Append($"Cycles       {Text.Int(r.Cycles)}  (bound by {r.BoundBy}; compute alone {Text.Int(r.ComputeCycles)})");
        if (arch.ClockGHz is { } ghz) sb.Append($"  = {Text.Num(r.Cycles / (ghz * 1e3))} us at {Text.Num(ghz)} GHz");
        sb.Append('\n');
        sb.Append($"Utilization  {Text.Pct(r.Utilization)}\n");
        sb.Append($"EDP          {r.Edp.ToString("0.000E+0", System.Globalization.CultureInfo.InvariantCulture)} pJ x cycles\n");
        return sb.ToString();
    }

    public static string Explain(Derivation d)
    {
        var sb = new StringBuilder();
        sb.Append($"How {d.Tensor} at {d.Level} is counted (per instance)\n");
        sb.Append($"  tile extents: {string.Join(" ", d.TileExtents.Select(e => $"{e.Rank}={e.Extent}"))}\n");
        sb.Append($"  tile: {string.Join(" x ", d.TileDims.Select(x => $"[{x.Index}]:{x.Extent}"))} = {Text.Int(d.TileWords)} words\n");
        if (d.Steps.Count == 0) sb.Append("  no temporal loop above this level changes the tile: it is filled once\n");
        else
        {
            sb.Append("  temporal loops above, outermost first (a step of a loop resets every loop inside it):\n");
            var rows = new List<string[]> { new[] { "  loop", "indexes it", "steps", "new words/step", "words", "why" } };
            foreach (var s in d.Steps)
                rows.Add(["  " + s.Loop, s.Relevant ? "yes" : "no", Text.Int(s.Transitions), Text.Int(s.NewWordsPerTransition), Text.Int(s.Words), s.Why]);
            sb.Append(Text.Table(rows));
        }
        sb.Append($"  served to: {d.ChildDescription}\n");
        foreach (var f in d.Formulas) sb.Append("  ").Append(f).Append('\n');
        return sb.ToString();
    }
}
