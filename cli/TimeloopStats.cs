using System.Text;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary>
/// Prints a cost report in the terms of Timeloop's statistics (<c>evaluate --style timeloop</c>): the compute
/// level, then every storage level from the innermost out, each data space with its utilized capacity and
/// instances and its scalar reads, fills and updates per instance, and a summary with pJ per compute, so that
/// the two tools' outputs can be put side by side (docs/interop.md says where they count differently). Under the
/// Timeloop convention the report also has the link transfers and spatial reductions among each fanout's children.
/// </summary>
internal static class TimeloopStats
{
    public static string Print(Einsum layer, Architecture arch, CostReport r)
    {
        var sb = new StringBuilder();
        sb.Append($"Timeloop-style statistics for {layer.Name} on {arch.Name} (counts per instance unless marked total)\n\n");
        sb.Append("=== MAC ===\n");
        Line(sb, 4, "Instances", Text.Int(arch.ComputeInstances));
        Line(sb, 4, "Utilized instances", Text.Int(r.ComputeInstancesUsed));
        Line(sb, 4, "Computes (per-instance)", Text.Int(r.Macs / r.ComputeInstancesUsed));
        Line(sb, 4, "Computes (total)", Text.Int(r.Macs));
        Line(sb, 4, "Energy (total)", $"{Text.Pj(r.MacEnergy)} pJ");
        for (int l = arch.Levels.Count - 1; l >= 0; l--)
        {
            var level = r.Levels[l];
            sb.Append($"\n=== {level.Level} ===\n");
            Line(sb, 4, "Instances", Text.Int(level.Instances));
            Line(sb, 4, "Utilized instances", Text.Int(level.InstancesUsed));
            Line(sb, 4, "Capacity (words)", level.Capacity is { } c ? Text.Int(c) : "unbounded");
            Line(sb, 4, "Bandwidth cycles", Text.Int(level.BandwidthCycles));
            foreach (var t in r.Tensors.Where(t => t.LevelIndex == l))
            {
                sb.Append($"    {t.Tensor}:\n");
                Line(sb, 8, "Utilized capacity", Text.Int(t.TileWords));
                Line(sb, 8, "Utilized instances (max)", Text.Int(t.InstancesUsed));
                Line(sb, 8, "Scalar reads (per-instance)", Text.Int(t.Reads));
                Line(sb, 8, "Scalar fills (per-instance)", Text.Int(t.Fills));
                Line(sb, 8, "Scalar updates (per-instance)", Text.Int(t.Updates));
                Line(sb, 8, "Scalar reads (total)", Text.Int(t.TotalReads));
                Line(sb, 8, "Scalar fills (total)", Text.Int(t.TotalFills));
                Line(sb, 8, "Scalar updates (total)", Text.Int(t.TotalUpdates));
                if (t.ForwardedReads > 0) Line(sb, 8, "Forwarded reads (total)", Text.Int(t.ForwardedReads));
                Line(sb, 8, "Energy (per-instance)", $"{Text.Pj(t.Energy / t.InstancesUsed)} pJ");
                Line(sb, 8, "Energy (total)", $"{Text.Pj(t.Energy)} pJ");
            }
            foreach (var f in r.Fanouts.Where(f => f.LevelIndex == l))
            {
                sb.Append($"    Network below, {f.Tensor}:\n");
                Line(sb, 8, "Link transfers", Text.Int(f.LinkTransfers));
                Line(sb, 8, "Spatial reductions", Text.Int(f.SpatialReductions));
            }
            foreach (var n in r.Network.Where(n => n.LevelIndex == l))
                Line(sb, 4, $"Network below, {n.Tensor} (total)", $"{Text.Int(n.Words)} words x {Text.Num(n.Hops)} hops = {Text.Pj(n.Energy)} pJ");
        }
        sb.Append("\nSummary Stats\n-------------\n");
        Line(sb, 0, "Cycles", Text.Int(r.Cycles));
        Line(sb, 0, "Energy", $"{Text.Pj(r.Energy)} pJ");
        Line(sb, 0, "Utilization", Text.Pct(r.Utilization));
        Line(sb, 0, "Computes", Text.Int(r.Macs));
        sb.Append("pJ/Compute\n");
        Line(sb, 4, "MAC", Text.Num(r.MacEnergy / r.Macs));
        for (int l = arch.Levels.Count - 1; l >= 0; l--) Line(sb, 4, r.Levels[l].Level, Text.Num(r.Levels[l].Energy / r.Macs));
        if (r.NetworkEnergy > 0) Line(sb, 4, "Networks", Text.Num(r.NetworkEnergy / r.Macs));
        Line(sb, 4, "Total", Text.Num(r.EnergyPerMac));
        return sb.ToString();
    }

    private static void Line(StringBuilder sb, int indent, string label, string value)
        => sb.Append(new string(' ', indent)).Append(label.PadRight(40 - indent)).Append(": ").Append(value).Append('\n');
}
