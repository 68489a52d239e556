using System.CommandLine;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary><c>optimizer evaluate</c>: check a mapping and, when valid, print and write its costs.</summary>
internal static class EvaluateCommand
{
    public static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: a preset name (optimizer zoo lists them) or a spec file.", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name such as resnet50 or resnet50:batch=4, or a spec file.", Required = true };
        var layer = new Option<string?>("--layer") { Description = "The layer to map, when the workload has more than one." };
        var mapping = new Option<string>("--mapping") { Description = "The mapping spec file (docs/spec-format.md), or a fused mapping of the whole workload (docs/fusion.md).", Required = true };
        var csv = new Option<string?>("--csv") { Description = "Also write the costs as CSV: one row per level and tensor, and a total row." };
        var explain = new Option<string?>("--explain")
        {
            Description = "Show how the counts were derived: LEVEL:TENSOR for one pair, or no value for every level and tensor kept.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var style = new Option<string>("--style")
        {
            Description = "How to print the costs: native (the loop nest and tables) or timeloop (per level and data space, in the terms of Timeloop's statistics).",
            DefaultValueFactory = _ => "native",
        };
        style.AcceptOnlyFromAmong("native", "timeloop");
        var convention = OptionRules.Convention("How to count: default (the closed-form model of docs/cost-model.md) or timeloop (Timeloop v3.0.3's counts for the mapping, docs/cost-model.md \"The Timeloop convention\").");
        var format = ReadingOptions.Format();
        var energy = ReadingOptions.Energy();
        var imperfect = FactorizationOption.Build("the mapping is checked and costed with its partial tiles");
        var plot = Plots.PlotOption("the energy by level and tensor");
        var report = Plots.ReportOption();
        var cmd = new Command("evaluate", "Check a mapping (every violation) and, when valid, print its loop nest and its cost by level and tensor.")
        {
            arch, workload, layer, mapping, csv, explain, style, convention, format, energy, imperfect, plot, report,
        };
        cmd.SetAction(pr => Program.Guard(() =>
        {
            var costing = OptionRules.ConventionOf(pr, convention);
            var reading = ReadingOptions.Of(pr, format, energy);
            var a = Inputs.Architecture(pr.GetValue(arch)!, reading);
            var w = Inputs.Workload(pr.GetValue(workload)!, reading);
            var visuals = Visuals.Of(pr, plot, report);
            var factorization = FactorizationOption.Of(pr, imperfect);
            if (factorization == Factorization.Imperfect && costing != CostConvention.Default)
                throw new InputException("--imperfect is counted by the default model only; --convention timeloop emulates Timeloop's nest analysis for perfect factors.");
            if (Inputs.IsFusedMapping(pr.GetValue(mapping)!))
            {
                if (factorization == Factorization.Imperfect)
                    throw new InputException("--imperfect evaluates one layer's mapping; fused mappings need perfect factors.");
                visuals.NotWith("for a fused mapping in evaluate (fuse --plot draws fused groups against unfused)");
                if (costing != CostConvention.Default)
                    throw new InputException("--convention timeloop evaluates one layer's mapping; a fused mapping is costed by the default model only.");
                return FuseCommand.Evaluate(w, a, Inputs.FusedMapping(pr.GetValue(mapping)!, w, a), pr.GetValue(csv));
            }
            var l = Inputs.Layer(w, pr.GetValue(layer));
            var m = Inputs.Mapping(pr.GetValue(mapping)!, l, a, reading);
            string? explainWhat = pr.GetResult(explain) is null ? null : pr.GetValue(explain) ?? "";
            if (explainWhat is not null && costing != CostConvention.Default)
                throw new InputException("--explain shows the default model's derivation; it cannot be combined with --convention timeloop.");
            return Run(w, l, a, m, pr.GetValue(csv), explainWhat, pr.GetValue(style) == "timeloop", costing == CostConvention.Timeloop, visuals, factorization);
        }));
        return cmd;
    }

    /// <summary>Checks, costs and prints one mapping (under the Timeloop convention when asked); returns 1 when it is invalid.</summary>
    public static int Run(Workload w, Einsum layer, Architecture arch, Mapping mapping, string? csvPath, string? explain, bool timeloopStyle = false, bool timeloopConvention = false,
        Visuals? visuals = null, Factorization factorization = Factorization.Perfect)
    {
        visuals ??= Visuals.None;
        string title = $"evaluate: {layer.Name} of {w.Name} on {arch.Name}";
        Console.WriteLine($"Layer {layer.Name} of {w.Name} on {arch.Name}: {layer}");
        Console.WriteLine($"MACs {Text.Int(layer.Macs)}");
        Console.WriteLine();
        var violations = ValidityChecker.Check(layer, arch, mapping, factorization);
        if (violations.Count > 0)
        {
            Console.WriteLine($"INVALID: the mapping breaks {violations.Count} rule(s):");
            foreach (var v in violations) Console.WriteLine($"  [{v.Rule}] {v.Message}");
            visuals.WriteLayer(title, layer, arch, null, null, $"INVALID: the mapping breaks {violations.Count} rule(s)", violations.Select(v => $"[{v.Rule}] {v.Message}"));
            return 1;
        }
        var report = timeloopConvention ? TimeloopConvention.Evaluate(layer, arch, mapping) : CostModel.Evaluate(layer, arch, mapping, factorization);
        if (timeloopConvention) Console.WriteLine("Convention: timeloop (the counts Timeloop v3.0.3 gives for this mapping; docs/cost-model.md)\n");
        Console.Write(timeloopStyle ? TimeloopStats.Print(layer, arch, report) : ReportPrinter.Print(layer, arch, mapping, report));
        if (!timeloopStyle && report.Fanouts.Count > 0)
        {
            Console.WriteLine("\nTraffic among the children of a fanout (per instance of the level above):");
            foreach (var f in report.Fanouts)
                Console.WriteLine($"  below {f.Level}, {f.Tensor}: {Text.Int(f.LinkTransfers)} link transfers, {Text.Int(f.SpatialReductions)} spatial reductions");
            foreach (var t in report.Tensors.Where(t => t.ForwardedReads > 0))
                Console.WriteLine($"  {t.Level} {t.Tensor}: {Text.Int(t.ForwardedReads)} reads (total) of words sent to a neighbour, in its energy beside the reads above");
        }
        if (explain is not null)
        {
            foreach (var (level, tensor) in ExplainTargets(layer, arch, mapping, explain))
            {
                Console.WriteLine();
                Console.Write(ReportPrinter.Explain(CostModel.Explain(layer, arch, mapping, level, tensor, factorization)));
            }
        }
        if (csvPath is not null)
        {
            CsvExport.Write(csvPath, CsvExport.Rows(layer, report));
            Console.WriteLine($"\nWrote {csvPath}");
        }
        if (visuals.Any) Console.WriteLine();
        visuals.WriteLayer(title, layer, arch, mapping, report, "VALID: the mapping breaks no rule (evaluated as given, not searched)",
            timeloopConvention ? ["Convention: timeloop (the counts Timeloop v3.0.3 gives for this mapping; docs/cost-model.md)."] : []);
        return 0;
    }

    private static IEnumerable<(string Level, TensorId Tensor)> ExplainTargets(Einsum layer, Architecture arch, Mapping mapping, string what)
    {
        if (what.Length == 0)
        {
            for (int l = 0; l < arch.Levels.Count; l++)
                foreach (var t in layer.Tensors)
                    if (mapping.Levels[l].Keep.Contains(t.Id)) yield return (arch.Levels[l].Name, t.Id);
            yield break;
        }
        var parts = what.Split(':');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            throw new InputException($"--explain takes LEVEL:TENSOR (for example {arch.Levels[^1].Name}:{layer.Tensors[0].Id}), not '{what}'.");
        var tensor = layer.Tensors.FirstOrDefault(t => t.Id.Name == parts[1] || string.Equals(t.Role.ToString(), parts[1], StringComparison.OrdinalIgnoreCase))
            ?? throw new InputException($"--explain: layer {layer.Name} has no tensor '{parts[1]}'; its tensors: {string.Join(", ", layer.Tensors.Select(t => t.Id))}.");
        yield return (parts[0], tensor.Id);
    }
}
