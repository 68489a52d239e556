namespace Optimizer.Workloads.Frontends;

/// <summary>Reads the MLIR linalg subset of docs/frontends.md as a workload.</summary>
public static class MlirImport
{
    /// <summary>Parses MLIR text; <paramref name="file"/> names it in errors.</summary>
    public static ImportedModel Parse(string text, string file) => throw ModelImport.Error(file, "", "MLIR is not read yet");
}
