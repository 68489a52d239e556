using System.Globalization;
using CsvHelper;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>One CSV row: a level and tensor, or the total.</summary>
public sealed record CostCsvRow(
    string Layer, string Level, string Tensor, string Role,
    long? TileWords, long? InstancesUsed,
    long? ReadsPerInstance, long? FillsPerInstance, long? UpdatesPerInstance,
    long? Reads, long? Fills, long? Updates,
    double EnergyPj, double? EnergyPerMacPj, long? Macs, long? Cycles, double? Utilization, double? Edp);

/// <summary>Writes cost reports as CSV through CsvHelper: one row per level and tensor, one per network, one total row.</summary>
public static class CsvExport
{
    /// <summary>The rows of one report.</summary>
    public static IEnumerable<CostCsvRow> Rows(Einsum einsum, CostReport r)
    {
        foreach (var t in r.Tensors)
            yield return new CostCsvRow(einsum.Name, t.Level, t.Tensor.Name, t.Role.ToString(), t.TileWords, t.InstancesUsed,
                t.Reads, t.Fills, t.Updates, t.TotalReads, t.TotalFills, t.TotalUpdates, t.Energy, null, null, null, null, null);
        foreach (var n in r.Network)
            yield return new CostCsvRow(einsum.Name, n.Level + ".network", n.Tensor.Name, "", null, null,
                null, null, null, n.Words, null, null, n.Energy, null, null, null, null, null);
        yield return new CostCsvRow(einsum.Name, "MAC", "", "", null, r.ComputeInstancesUsed, null, null, null, null, null, null,
            r.MacEnergy, null, r.Macs, null, null, null);
        yield return new CostCsvRow(einsum.Name, "total", "", "", null, null, null, null, null,
            r.Tensors.Sum(t => t.TotalReads), r.Tensors.Sum(t => t.TotalFills), r.Tensors.Sum(t => t.TotalUpdates),
            r.Energy, r.EnergyPerMac, r.Macs, r.Cycles, r.Utilization, r.Edp);
    }

    /// <summary>Writes rows to a file atomically: a temporary file renamed into place, so no half-written file is ever left.</summary>
    public static void Write<T>(string path, IEnumerable<T> rows)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new IOException($"Cannot write {path}: folder {dir} does not exist.");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var writer = new StreamWriter(tmp))
            using (var csv = new CsvWriter(writer, CultureInfo.InvariantCulture))
                csv.WriteRecords(rows);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
