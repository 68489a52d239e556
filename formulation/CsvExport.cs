using System.Globalization;
using CsvHelper;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// One CSV row: a level and tensor, or the total; <c>Source</c> is the layer's model node (<see cref="Einsum.Source"/>), empty for
/// zoo and spec layers; <c>ForwardedReads</c> the reads of words a level's instances sent to a neighbour (neighbour forwarding,
/// over all instances; in the energy, not in <c>Reads</c>), empty where there are none.
/// </summary>
public sealed record CostCsvRow(
    string Layer, string Level, string Tensor, string Role,
    long? TileWords, long? InstancesUsed,
    long? ReadsPerInstance, long? FillsPerInstance, long? UpdatesPerInstance,
    long? Reads, long? Fills, long? Updates,
    double EnergyPj, double? EnergyPerMacPj, long? Macs, long? Cycles, double? Utilization, double? Edp, string Source = "", long? ForwardedReads = null);

/// <summary>Writes cost reports as CSV through CsvHelper: one row per level and tensor, one per network, one total row.</summary>
public static class CsvExport
{
    /// <summary>The rows of one report.</summary>
    public static IEnumerable<CostCsvRow> Rows(Einsum einsum, CostReport r)
    {
        foreach (var t in r.Tensors)
            yield return new CostCsvRow(einsum.Name, t.Level, t.Tensor.Name, t.Role.ToString(), t.TileWords, t.InstancesUsed,
                t.Reads, t.Fills, t.Updates, t.TotalReads, t.TotalFills, t.TotalUpdates, t.Energy, null, null, null, null, null, einsum.Source,
                t.ForwardedReads == 0 ? null : t.ForwardedReads);
        foreach (var n in r.Network)
            yield return new CostCsvRow(einsum.Name, n.Level + ".network", n.Tensor.Name, "", null, null,
                null, null, null, n.Words, null, null, n.Energy, null, null, null, null, null, einsum.Source);
        yield return new CostCsvRow(einsum.Name, "MAC", "", "", null, r.ComputeInstancesUsed, null, null, null, null, null, null,
            r.MacEnergy, null, r.Macs, null, null, null, einsum.Source);
        yield return new CostCsvRow(einsum.Name, "total", "", "", null, null, null, null, null,
            r.Tensors.Sum(t => t.TotalReads), r.Tensors.Sum(t => t.TotalFills), r.Tensors.Sum(t => t.TotalUpdates),
            r.Energy, r.EnergyPerMac, r.Macs, r.Cycles, r.Utilization, r.Edp, einsum.Source,
            r.Tensors.Sum(t => t.ForwardedReads) is var forwarded and > 0 ? forwarded : null);
    }

    /// <summary>Writes rows to a file atomically (see <see cref="AtomicFile"/>).</summary>
    public static void Write<T>(string path, IEnumerable<T> rows)
        => AtomicFile.Write(path, writer =>
        {
            using var csv = new CsvWriter(writer, CultureInfo.InvariantCulture, leaveOpen: true);
            csv.WriteRecords(rows);
        });
}
