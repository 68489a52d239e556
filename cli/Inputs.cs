using System.CommandLine;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Workloads;
using Optimizer.Workloads.Frontends;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary>Bad input from the user: printed as one clear message, exit code 2.</summary>
internal sealed class InputException(string message) : Exception(message);

/// <summary>
/// How the user's spec files are read: each in the format its content shows; <paramref name="Format"/> (the
/// user's --format, null for auto) only for a file whose content shows neither; and an energy table file.
/// </summary>
internal sealed record Reading(SpecFormat? Format, string? EnergyPath)
{
    /// <summary>Formats detected from content, no energy table.</summary>
    public static Reading Detect { get; } = new(null, null);

    /// <summary>
    /// The format to read this text in: the one its content shows, whatever --format says (so a native constraints
    /// file goes with Timeloop files); the --format named when the content shows neither; else native.
    /// </summary>
    public SpecFormat FormatOf(string text) => SpecFormats.Shown(text) ?? Format ?? SpecFormat.Native;
}

/// <summary>The options every command that reads spec files shares: --format and --energy.</summary>
internal static class ReadingOptions
{
    /// <summary>A new --format option (auto, native or timeloop).</summary>
    public static Option<string> Format(string? writes = null)
    {
        var option = new Option<string>("--format")
        {
            Description = (writes is null ? "" : writes + " ") +
                          "Every input file is read in the format its content shows (docs/interop.md); native or timeloop only decides a file whose content shows neither; auto is the default.",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong("auto", "native", "timeloop");
        return option;
    }

    /// <summary>A new --energy option: an energy reference table (ERT) for the architecture.</summary>
    public static Option<string?> Energy()
        => new("--energy") { Description = "An energy reference table (Timeloop/Accelergy ERT) giving the architecture's energies per action (docs/interop.md)." };

    /// <summary>The reading the two options ask for.</summary>
    public static Reading Of(ParseResult pr, Option<string> format, Option<string?> energy)
        => new(SpecFormats.Parse(pr.GetValue(format)), pr.GetValue(energy));
}

/// <summary>The --imperfect option of evaluate, simulate, validate and map (docs/cost-model.md, "Imperfect factorization").</summary>
internal static class FactorizationOption
{
    /// <summary>A new --imperfect option.</summary>
    public static Option<bool> Build(string what)
        => new("--imperfect") { Description = $"Allow imperfect factorization: factors that cover a rank's bound with a partial last iteration ({what}; docs/cost-model.md)." };

    /// <summary>The factorization the option asks for.</summary>
    public static Factorization Of(ParseResult pr, Option<bool> option) => pr.GetValue(option) ? Factorization.Imperfect : Factorization.Perfect;
}

/// <summary>Turns the names and paths a user types into architectures, workloads, layers and mappings.</summary>
internal static class Inputs
{
    /// <summary>A preset name or an architecture spec file (native or Timeloop), with the energies of the reading's energy table when it names one.</summary>
    public static Architecture Architecture(string nameOrPath, Reading? reading = null)
    {
        reading ??= Reading.Detect;
        var energy = reading.EnergyPath is { } e ? EnergyTable.Load(RequireFile(e, "energy table")) : null;
        Architecture arch;
        if (LooksLikeFile(nameOrPath))
        {
            var path = RequireFile(nameOrPath, "architecture");
            var text = File.ReadAllText(path);
            if (reading.FormatOf(text) == SpecFormat.Timeloop) return TimeloopArchitecture.Parse(text, path, energy);
            arch = ArchitectureSpec.Parse(text, path);
        }
        else if (!Presets.TryGet(nameOrPath, out arch!))
            throw new InputException($"Unknown architecture '{nameOrPath}': it is neither a spec file nor a preset. Presets: {string.Join(", ", Presets.Names)}.");
        return energy is null ? arch : energy.Apply(arch);
    }

    /// <summary>
    /// A zoo name (with parameters), a workload spec file (native, or a Timeloop problem), or a model file (ONNX or
    /// MLIR, with values for symbolic dimensions as in <c>model.onnx:batch=4</c>; docs/frontends.md).
    /// </summary>
    public static Workload Workload(string nameOrPath, Reading? reading = null)
    {
        if (ModelImport.IsModel(nameOrPath)) return ModelImport.Load(nameOrPath).Workload;
        if (LooksLikeFile(nameOrPath))
        {
            var path = RequireFile(nameOrPath, "workload");
            var text = File.ReadAllText(path);
            return (reading ?? Reading.Detect).FormatOf(text) == SpecFormat.Timeloop ? TimeloopProblem.Parse(text, path) : WorkloadSpec.Parse(text, path);
        }
        if (Zoo.TryGet(nameOrPath, out var w, out var error)) return w!;
        throw new InputException(error);
    }

    /// <summary>The layer a command works on: the named one, or the only one.</summary>
    public static Einsum Layer(Workload workload, string? name)
    {
        if (name is not null)
        {
            var layer = workload.Layers.FirstOrDefault(l => l.Name == name);
            return layer ?? throw new InputException($"Workload {workload.Name} has no layer '{name}'. {LayerNames(workload, name)}");
        }
        if (workload.Layers.Count == 1) return workload.Layers[0];
        throw new InputException($"Workload {workload.Name} has {workload.Layers.Count} layers: name one with --layer (for example --layer {workload.Layers[0].Name}); 'optimizer zoo {workload.Name}' lists them.");
    }

    /// <summary>The layers to suggest: all of a small workload; of a large one, those whose names are closest, with the count.</summary>
    private static string LayerNames(Workload workload, string wanted)
    {
        const int Shown = 12;
        var names = workload.Layers.Select(l => l.Name).ToList();
        if (names.Count <= Shown) return $"Its layers: {string.Join(", ", names)}.";
        var close = names.OrderBy(n => Distance(n, wanted)).ThenBy(n => n, StringComparer.Ordinal).Take(Shown);
        return $"It has {names.Count} layers; the closest names: {string.Join(", ", close)}.";
    }

    /// <summary>Edit distance, for suggesting names.</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int up = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = up;
            }
        }
        return row[b.Length];
    }

    /// <summary>A mapping spec file (native or Timeloop) for the layer on the architecture.</summary>
    public static Mapping Mapping(string path, Einsum layer, Architecture arch, Reading? reading = null)
    {
        var text = File.ReadAllText(RequireFile(path, "mapping"));
        return (reading ?? Reading.Detect).FormatOf(text) == SpecFormat.Timeloop ? TimeloopMapping.Parse(text, path, layer, arch) : MappingSpec.Parse(text, path, layer, arch);
    }

    /// <summary>True when the path is an existing fused mapping spec file (docs/fusion.md) rather than one layer's mapping.</summary>
    public static bool IsFusedMapping(string path) => File.Exists(path) && FusedMappingSpec.IsFused(File.ReadAllText(path));

    /// <summary>A fused mapping spec file for the workload on the architecture.</summary>
    public static FusedMapping FusedMapping(string path, Workload workload, Architecture arch)
        => FusedMappingSpec.Load(RequireFile(path, "fused mapping"), workload, arch);

    /// <summary>A constraint spec file (native, or Timeloop constraint entries) for the layer on the architecture.</summary>
    public static MappingConstraints Constraints(string path, Einsum layer, Architecture arch, Reading? reading = null)
    {
        var text = File.ReadAllText(RequireFile(path, "constraints"));
        return (reading ?? Reading.Detect).FormatOf(text) == SpecFormat.Timeloop ? TimeloopMapping.ParseConstraints(text, path, layer, arch) : ConstraintSpec.Parse(text, path, layer, arch);
    }

    private static bool LooksLikeFile(string s)
        => File.Exists(s) || s.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || s.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
           || s.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || s.Contains('/');

    internal static string RequireFile(string path, string what)
        => File.Exists(path) ? path
            : Directory.Exists(path) ? throw new InputException($"The {what} file '{path}' is a folder; give the file in it.")
            : throw new InputException($"The {what} file '{path}' does not exist.");
}
