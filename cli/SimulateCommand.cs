using System.CommandLine;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary>One CSV row of <c>optimizer simulate</c>: a level and tensor (simulated beside the model), a level's stalls, or the total.</summary>
internal sealed record SimCsvRow(
    string Layer, string Level, string Tensor, long? InstancesUsed,
    long? SimReads, long? ModelReads, long? SimFills, long? ModelFills, long? SimUpdates, long? ModelUpdates,
    double? StallCycles, long? SimCycles, long? ModelCycles, double? Utilization);

/// <summary><c>optimizer simulate</c>: execute a mapping in the simulator and compare it with the cost model.</summary>
internal static class SimulateCommand
{
    public static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: a preset name (optimizer zoo lists them) or a spec file.", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name such as resnet50, or a spec file.", Required = true };
        var layer = new Option<string?>("--layer") { Description = "The layer, when the workload has more than one." };
        var mapping = new Option<string>("--mapping") { Description = "The mapping spec file (docs/spec-format.md), or a fused mapping of the whole workload (docs/fusion.md).", Required = true };
        var csv = new Option<string?>("--csv") { Description = "Also write simulated and model counts as CSV." };
        var trace = new Option<string?>("--trace") { Description = "Write the simulator's event trace (first 100,000 events) as CSV." };
        var format = ReadingOptions.Format();
        var energy = ReadingOptions.Energy();
        var imperfect = FactorizationOption.Build("the simulator skips the iterations beyond the bound and clips the last tiles");
        var shapes = new Option<string?>("--shapes") { Description = "A shape trace (docs/shapes.md): replay it through the mapping (written for the trace's largest shape), per shape and in total, beside the model." };
        var convention = OptionRules.Convention("The model column: default (docs/cost-model.md, which the simulator must equal) or timeloop (Timeloop v3.0.3's counts for the mapping, " +
                          "shown beside the executed run; the run is still checked against the default model).");
        var cmd = new Command("simulate", "Execute a mapping tile by tile: cycles, stalls per level, utilization, and the simulated counts beside the cost model's.")
        {
            arch, workload, layer, mapping, csv, trace, format, energy, imperfect, shapes, convention,
        };
        cmd.SetAction(pr => Program.Guard(() =>
        {
            var reading = ReadingOptions.Of(pr, format, energy);
            var a = Inputs.Architecture(pr.GetValue(arch)!, reading);
            var w = Inputs.Workload(pr.GetValue(workload)!, reading);
            var factorization = FactorizationOption.Of(pr, imperfect);
            var costing = OptionRules.ConventionOf(pr, convention);
            if (costing != CostConvention.Default && factorization == Factorization.Imperfect)
                throw new InputException("--imperfect is counted by the default model only; --convention timeloop emulates Timeloop's nest analysis for perfect factors.");
            if (costing != CostConvention.Default && (pr.GetValue(shapes) is not null || Inputs.IsFusedMapping(pr.GetValue(mapping)!)))
                throw new InputException("--convention timeloop shows Timeloop's counts beside one layer's simulated mapping; a shape trace and a fused mapping are compared with the default model only.");
            if (Inputs.IsFusedMapping(pr.GetValue(mapping)!))
            {
                if (factorization == Factorization.Imperfect)
                    throw new InputException("--imperfect simulates one layer's mapping; fused mappings need perfect factors.");
                return FuseCommand.Simulate(w, a, Inputs.FusedMapping(pr.GetValue(mapping)!, w, a));
            }
            var l = Inputs.Layer(w, pr.GetValue(layer));
            if (pr.GetValue(shapes) is { } tracePath)
            {
                if (pr.GetValue(trace) is not null) throw new InputException("--trace writes one simulation's events; it is not supported with --shapes.");
                return ShapesCommand.Simulate(w, l, a, pr.GetValue(mapping)!, tracePath, pr.GetValue(csv), reading);
            }
            var m = Inputs.Mapping(pr.GetValue(mapping)!, l, a, reading);
            return Run(w, l, a, m, pr.GetValue(csv), pr.GetValue(trace), factorization, costing);
        }));
        return cmd;
    }

    /// <summary>
    /// Simulates and prints one mapping; returns 1 when it is invalid or disagrees with the model. Under the Timeloop
    /// convention the model column shows Timeloop's counts and cycles beside the run, and their differences are listed
    /// as information: the simulator executes the hardware the default model describes, which it must still equal.
    /// </summary>
    public static int Run(Workload w, Einsum layer, Architecture arch, Mapping mapping, string? csvPath, string? tracePath, Factorization factorization = Factorization.Perfect,
        CostConvention convention = CostConvention.Default)
    {
        Console.WriteLine($"Simulating layer {layer.Name} of {w.Name} on {arch.Name}: {layer}");
        var violations = ValidityChecker.Check(layer, arch, mapping, factorization);
        if (violations.Count > 0)
        {
            Console.WriteLine($"INVALID: the mapping breaks {violations.Count} rule(s):");
            foreach (var v in violations) Console.WriteLine($"  [{v.Rule}] {v.Message}");
            return 1;
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var sim = Simulator.Run(layer, arch, mapping, new SimOptions { Trace = tracePath is not null, Factorization = factorization });
        sw.Stop();
        var model = CostModel.Evaluate(layer, arch, mapping, factorization);
        Console.WriteLine($"{Text.Int(sim.TilesSimulated)} tile steps simulated in {sw.Elapsed.TotalSeconds:F2} s\n");
        var shown = model;
        if (convention != CostConvention.Default)
        {
            shown = Conventions.Evaluate(convention, layer, arch, mapping);
            Console.WriteLine($"Model column: the {Conventions.Names[(int)convention]} convention (docs/cost-model.md); the run is checked against the default model.\n");
        }

        var rows = new List<string[]> { new[] { "Level", "Tensor", "Instances", "Reads sim", "model", "diff", "Fills sim", "model", "diff", "Updates sim", "model", "diff" } };
        foreach (var m in shown.Tensors)
        {
            var s = sim.Find(m.LevelIndex, m.Tensor)!;
            rows.Add([m.Level, m.Tensor.Name, Text.Int(s.InstancesUsed),
                Text.Int(s.Reads), Text.Int(m.Reads), Text.Int(s.Reads - m.Reads),
                Text.Int(s.Fills), Text.Int(m.Fills), Text.Int(s.Fills - m.Fills),
                Text.Int(s.Updates), Text.Int(m.Updates), Text.Int(s.Updates - m.Updates)]);
        }
        Console.Write(Text.Table(rows));
        Console.WriteLine("(counts per instance; totals are these times the instances used)\n");

        var lv = new List<string[]> { new[] { "Level", "Buffering", "Tiles", "Stall cycles", "Model bandwidth cycles" } };
        foreach (var l in sim.Levels)
            lv.Add([l.Level, l.DoubleBuffered ? "double" : "single", Text.Int(l.Tiles), Text.Num(Math.Round(l.StallCycles, 1)), Text.Int(shown.Levels[l.LevelIndex].BandwidthCycles)]);
        Console.Write(Text.Table(lv));
        Console.WriteLine();
        Console.WriteLine($"Cycles       {Text.Int(sim.Cycles)} simulated; model {Text.Int(shown.Cycles)} (bound by {shown.BoundBy}; compute alone {Text.Int(shown.ComputeCycles)}); ratio {Text.Num((double)sim.Cycles / shown.Cycles)}");
        Console.WriteLine($"Utilization  {Text.Pct(sim.Utilization)} simulated; model {Text.Pct(shown.Utilization)}");

        var diff = ModelCheck.Compare(model, sim);
        if (convention != CostConvention.Default)
        {
            var apart = ModelCheck.Compare(shown, sim);
            Console.WriteLine(apart.Count == 0
                ? "Timeloop     every count of the run equals Timeloop's"
                : $"Timeloop     {apart.Count} count(s) of the run differ from Timeloop's (window reuse, sampling, multicast and forwarding rules of docs/cost-model.md; information, not a failure):");
            foreach (var d in apart)
                Console.WriteLine($"  {string.Join(" ", new[] { d.Level, d.Tensor, d.Quantity }.Where(x => x.Length > 0))}: timeloop {d.Model}, simulated {d.Simulated}");
        }
        if (diff.Count == 0) Console.WriteLine($"Agreement    every count equals the {(convention == CostConvention.Default ? "" : "default ")}model's; cycles are at or above its bounds");
        else
        {
            Console.WriteLine($"DISAGREEMENT {diff.Count} difference(s):");
            foreach (var d in diff) Console.WriteLine($"  {d}");
        }
        if (csvPath is not null)
        {
            CsvExport.Write(csvPath, CsvRows(layer, shown, sim));
            Console.WriteLine($"\nWrote {csvPath}");
        }
        if (tracePath is not null)
        {
            CsvExport.Write(tracePath, sim.Trace);
            Console.WriteLine($"{(csvPath is null ? "\n" : "")}Wrote {tracePath} ({Text.Int(sim.Trace.Count)} events{(sim.TraceTruncated ? ", truncated" : "")})");
        }
        return diff.Count == 0 ? 0 : 1;
    }

    private static IEnumerable<SimCsvRow> CsvRows(Einsum layer, CostReport model, SimReport sim)
    {
        foreach (var m in model.Tensors)
        {
            var s = sim.Find(m.LevelIndex, m.Tensor)!;
            yield return new SimCsvRow(layer.Name, m.Level, m.Tensor.Name, s.InstancesUsed, s.Reads, m.Reads, s.Fills, m.Fills, s.Updates, m.Updates, null, null, null, null);
        }
        foreach (var l in sim.Levels)
            yield return new SimCsvRow(layer.Name, l.Level, "", l.InstancesUsed, null, null, null, null, null, null, l.StallCycles, null, null, null);
        yield return new SimCsvRow(layer.Name, "total", "", null, null, null, null, null, null, null, sim.Levels.Sum(l => l.StallCycles), sim.Cycles, model.Cycles, sim.Utilization);
    }
}
