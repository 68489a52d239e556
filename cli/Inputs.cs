using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary>Bad input from the user: printed as one clear message, exit code 2.</summary>
internal sealed class InputException(string message) : Exception(message);

/// <summary>Turns the names and paths a user types into architectures, workloads, layers and mappings.</summary>
internal static class Inputs
{
    /// <summary>A preset name or an architecture spec file.</summary>
    public static Architecture Architecture(string nameOrPath)
    {
        if (LooksLikeFile(nameOrPath)) return ArchitectureSpec.Load(RequireFile(nameOrPath, "architecture"));
        if (Presets.TryGet(nameOrPath, out var arch)) return arch;
        throw new InputException($"Unknown architecture '{nameOrPath}': it is neither a spec file nor a preset. Presets: {string.Join(", ", Presets.Names)}.");
    }

    /// <summary>A zoo name (with parameters) or a workload spec file.</summary>
    public static Workload Workload(string nameOrPath)
    {
        if (LooksLikeFile(nameOrPath)) return WorkloadSpec.Load(RequireFile(nameOrPath, "workload"));
        if (Zoo.TryGet(nameOrPath, out var w, out var error)) return w!;
        throw new InputException(error);
    }

    /// <summary>The layer a command works on: the named one, or the only one.</summary>
    public static Einsum Layer(Workload workload, string? name)
    {
        if (name is not null)
        {
            var layer = workload.Layers.FirstOrDefault(l => l.Name == name);
            return layer ?? throw new InputException($"Workload {workload.Name} has no layer '{name}'. Its layers: {string.Join(", ", workload.Layers.Select(l => l.Name))}.");
        }
        if (workload.Layers.Count == 1) return workload.Layers[0];
        throw new InputException($"Workload {workload.Name} has {workload.Layers.Count} layers: name one with --layer (for example --layer {workload.Layers[0].Name}); 'optimizer zoo {workload.Name}' lists them.");
    }

    /// <summary>A mapping spec file for the layer on the architecture.</summary>
    public static Mapping Mapping(string path, Einsum layer, Architecture arch)
        => MappingSpec.Load(RequireFile(path, "mapping"), layer, arch);

    /// <summary>True when the path is an existing fused mapping spec file (docs/fusion.md) rather than one layer's mapping.</summary>
    public static bool IsFusedMapping(string path) => File.Exists(path) && FusedMappingSpec.IsFused(File.ReadAllText(path));

    /// <summary>A fused mapping spec file for the workload on the architecture.</summary>
    public static FusedMapping FusedMapping(string path, Workload workload, Architecture arch)
        => FusedMappingSpec.Load(RequireFile(path, "fused mapping"), workload, arch);

    /// <summary>A constraint spec file for the layer on the architecture.</summary>
    public static MappingConstraints Constraints(string path, Einsum layer, Architecture arch)
        => ConstraintSpec.Load(RequireFile(path, "constraints"), layer, arch);

    private static bool LooksLikeFile(string s)
        => File.Exists(s) || s.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || s.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
           || s.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || s.Contains('/');

    private static string RequireFile(string path, string what)
        => File.Exists(path) ? path : throw new InputException($"The {what} file '{path}' does not exist.");
}
