using System.CommandLine;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Workloads;
using Optimizer.Workloads.Frontends;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary><c>optimizer zoo</c>: list the built-in workloads and architectures, show one, or export it as a spec file.</summary>
internal static class ZooCommand
{
    public static Command Build()
    {
        var name = new Argument<string?>("name") { Description = "A workload or architecture to show in detail.", Arity = ArgumentArity.ZeroOrOne };
        var export = new Option<string?>("--export") { Description = "Write the named workload or preset as a spec file (to stdout, or to --output)." };
        var output = new Option<string?>("--output") { Description = "The file --export writes (a directory for a workload of many layers in Timeloop's format)." };
        var format = new Option<string>("--format")
        {
            Description = "The format --export writes: native, timeloop (an architecture with its energy table, or one Timeloop problem per layer, its data-spaces named Inputs, Weights, Outputs; they load together in Timeloop, docs/interop.md), or onnx (a workload as an ONNX model without weight data, to --output; docs/frontends.md).",
            DefaultValueFactory = _ => "native",
        };
        format.AcceptOnlyFromAmong("native", "timeloop", "onnx");
        var cmd = new Command("zoo", "List the built-in workloads and architectures with their key parameters.") { name, export, output, format };
        cmd.SetAction(pr => Program.Guard(() =>
        {
            if (pr.GetValue(export) is { } what)
                return pr.GetValue(format) switch
                {
                    "timeloop" => ExportTimeloop(what, pr.GetValue(output)),
                    "onnx" => ExportOnnx(what, pr.GetValue(output)),
                    _ => Export(what, pr.GetValue(output)),
                };
            if (pr.GetValue(name) is { } one) return Show(one);
            return List();
        }));
        return cmd;
    }

    private static int List()
    {
        Console.WriteLine("Workloads (name[:key=value,...]):");
        var rows = new List<string[]> { new[] { "name", "parameters", "layers", "MACs", "description" } };
        foreach (var e in Zoo.Entries)
        {
            var w = Zoo.Get(e.Name);
            rows.Add([e.Name, e.Parameters, Text.Int(w.Layers.Count), Text.Int(w.Macs), Short(e.Description)]);
        }
        Console.Write(Text.Table(rows));
        Console.WriteLine();
        Console.WriteLine("Architectures:");
        var arows = new List<string[]> { new[] { "name", "levels", "compute units", "on-chip capacity (words per instance)", "clock" } };
        foreach (var a in Presets.All)
            arows.Add([a.Name, string.Join(" > ", a.Levels.Select(l => l.Name)), Text.Int(a.ComputeInstances),
                string.Join(", ", a.Levels.Where(l => l.Capacity is not null).Select(l => $"{l.Name} {Text.Int(l.Capacity!.Value)}")),
                a.ClockGHz is { } g ? $"{Text.Num(g)} GHz" : "-"]);
        Console.Write(Text.Table(arows));
        Console.WriteLine();
        Console.WriteLine("'optimizer zoo NAME' shows one; 'optimizer zoo --export NAME' writes it as a spec file.");
        return 0;
    }

    /// <summary>The first clause of a description, for the list; 'optimizer zoo NAME' shows it whole.</summary>
    private static string Short(string description)
    {
        var cut = description.IndexOfAny([':', ';', '(']);
        var text = cut > 0 ? description[..cut].TrimEnd() : description;
        return text.Length <= 70 ? text : text[..67] + "...";
    }

    private static int Show(string name)
    {
        if (Presets.TryGet(name, out var arch))
        {
            Console.WriteLine($"{arch.Name}: {arch.Description}");
            Console.WriteLine();
            var rows = new List<string[]> { new[] { "level", "instances", "capacity", "word bits", "read pJ", "write pJ", "read bw", "write bw", "keeps", "fanout below" } };
            for (int i = 0; i < arch.Levels.Count; i++)
            {
                var l = arch.Levels[i];
                var f = l.Fanout;
                rows.Add([l.Name, Text.Int(arch.InstancesOf(i)), l.Capacity is { } c ? Text.Int(c) : "unbounded", l.WordBits.ToString(), Text.Num(l.ReadEnergy), Text.Num(l.WriteEnergy),
                    l.ReadBandwidth is { } rb ? Text.Num(rb) : "-", l.WriteBandwidth is { } wb ? Text.Num(wb) : "-", string.Join(",", l.Keeps.Order()),
                    f.Size == 1 ? "-" : $"{f.X}x{f.Y} {f.Topology}{(f.Multicast ? " multicast" : "")}{(f.SpatialReduction ? " reduction" : "")} {Text.Num(f.HopEnergy)} pJ/hop"]);
            }
            Console.Write(Text.Table(rows));
            Console.WriteLine($"compute: {Text.Int(arch.ComputeInstances)} units, {Text.Num(arch.Compute.MacEnergy)} pJ/MAC, {arch.Compute.MacsPerCycle} MAC/cycle");
            return 0;
        }
        var model = ModelImport.IsModel(name) ? ModelImport.Load(name) : null;
        var w = model?.Workload ?? Inputs.Workload(name);
        Console.WriteLine($"{w.Name}: {w.Description}");
        Console.WriteLine();
        var lrows = new List<string[]> { model is null ? ["layer", "kind", "ranks", "MACs", "einsum"] : ["layer", "kind", "ranks", "MACs", "einsum", "source"] };
        foreach (var l in w.Layers)
            lrows.Add([l.Name, l.Kind, string.Join(" ", l.Ranks), Text.Int(l.Macs), l.ToString().Split("  (")[0], .. model is null ? Array.Empty<string>() : [l.Source]]);
        Console.Write(Text.Table(lrows));
        Console.WriteLine($"{w.Layers.Count} layers, {Text.Int(w.Macs)} MACs");
        if (model is { Skipped.Count: > 0 })
        {
            Console.WriteLine();
            Console.WriteLine($"{model.Skipped.Count} node(s) not mapped as Einsums:");
            var srows = new List<string[]> { new[] { "node", "op", "reason" } };
            srows.AddRange(model.Skipped.Select(s => new[] { s.Node, s.Op, s.Reason }));
            Console.Write(Text.Table(srows));
        }
        return 0;
    }

    private static int Export(string name, string? output)
        => Emit(Presets.TryGet(name, out var arch) ? ArchitectureSpec.Write(arch) : WorkloadSpec.Write(Inputs.Workload(name)), output);

    // A preset as one Timeloop file (architecture, its constraints and its ERT); a workload as one problem per layer.
    private static int ExportTimeloop(string name, string? output)
    {
        if (Presets.TryGet(name, out var arch)) return Emit(TimeloopArchitecture.Write(arch), output);
        var w = Inputs.Workload(name);
        if (w.Layers.Count == 1) return Emit(TimeloopProblem.Write(w.Layers[0]), output);
        if (output is null)
            throw new InputException($"Workload {w.Name} has {w.Layers.Count} layers and a Timeloop problem holds one: give --output DIR to write one file per layer.");
        Directory.CreateDirectory(output);
        foreach (var layer in w.Layers) Emit(TimeloopProblem.Write(layer), Path.Combine(output, layer.Name + ".yaml"));
        return 0;
    }

    // A workload as one ONNX model (a binary file, so --output is required).
    private static int ExportOnnx(string name, string? output)
    {
        if (output is null) throw new InputException("--format onnx writes a binary file: give --output FILE.onnx.");
        var bytes = OnnxExport.Write(Inputs.Workload(name));
        AtomicFile.WriteAllBytes(output, bytes);
        Console.Error.WriteLine($"Wrote {output}");
        return 0;
    }

    private static int Emit(string yaml, string? output)
    {
        if (output is null) Console.Write(yaml);
        else
        {
            AtomicFile.WriteAllText(output, yaml);
            Console.Error.WriteLine($"Wrote {output}");
        }
        return 0;
    }
}
