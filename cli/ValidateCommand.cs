using System.CommandLine;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary><c>optimizer validate</c>: simulate random valid mappings of every layer and check them against the cost model.</summary>
internal static class ValidateCommand
{
    public static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: a preset name (optimizer zoo lists them) or a spec file.", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name such as resnet50, or a spec file.", Required = true };
        var samples = new Option<int>("--samples") { Description = "Random valid mappings drawn per distinct layer shape.", DefaultValueFactory = _ => 20 }.Within(1);
        var seed = new Option<int>("--seed") { Description = "Seed of the random draws.", DefaultValueFactory = _ => 1 };
        var maxSteps = new Option<long>("--max-steps") { Description = "Skip mappings with more tile steps than this above the innermost level.", DefaultValueFactory = _ => 5_000_000 }.AtLeast(1);
        var format = ReadingOptions.Format();
        var energy = ReadingOptions.Energy();
        var imperfect = FactorizationOption.Build("the random mappings have imperfect factors, drawn by Mapspace.SampleImperfect");
        var plot = Plots.PlotOption("each sampled mapping's simulated cycles against the model's");
        var report = Plots.ReportOption();
        var cmd = new Command("validate", "Simulate random valid mappings of every layer: counts must equal the cost model's and cycles be at least its bounds; exit 1 on any disagreement.")
        {
            arch, workload, samples, seed, maxSteps, format, energy, imperfect, plot, report,
        };
        cmd.SetAction(pr => Program.Guard(() =>
        {
            var reading = ReadingOptions.Of(pr, format, energy);
            var visuals = Visuals.Of(pr, plot, report);
            using var printout = visuals.Capture();
            var a = Inputs.Architecture(pr.GetValue(arch)!, reading);
            var w = Inputs.Workload(pr.GetValue(workload)!, reading);
            var points = new List<(string, long, long)>();
            int code = Run(w, a, pr.GetValue(samples), pr.GetValue(seed), pr.GetValue(maxSteps), points, out string status, FactorizationOption.Of(pr, imperfect));
            visuals.WriteSummary($"validate: {w.Name} on {a.Name}", status,
                points.Count == 0 ? null : Plots.SimulatedAgainstModelled(points, $"Simulated against modelled cycles: {w.Name} on {a.Name}"),
                "Simulated against modelled cycles", ValidateCaption, printout);
            return code;
        }));
        return cmd;
    }

    private const string ValidateCaption = "One point per sampled mapping whose simulated counts agree with the model: the model's cycles (x) against " +
        "the simulator's (y), both on log scales; the dashed line is y = x. Validate requires the simulated cycles to be at least the model's, so the points " +
        "lie on or above the line; their height above it is how much longer the simulated schedule runs than the model's cycles.";

    /// <summary>Draws, simulates and checks; returns 1 on any disagreement.</summary>
    public static int Run(Workload w, Architecture arch, int samples, int seed, long maxSteps) => Run(w, arch, samples, seed, maxSteps, null, out _);

    /// <summary>Draws, simulates and checks; collects (layer, model cycles, simulated cycles) of every agreeing mapping and gives the summary line.</summary>
    public static int Run(Workload w, Architecture arch, int samples, int seed, long maxSteps, List<(string Layer, long Model, long Simulated)>? points, out string status,
        Factorization factorization = Factorization.Perfect)
    {
        var rng = new Random(seed);
        var names = arch.Levels.Select(l => l.Name).ToList();
        int agreed = 0, disagreed = 0, skipped = 0, undrawn = 0, partial = 0;
        double worstRatio = 1, ratioSum = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var layers = Zoo.DistinctShapes(w);
        int shape = 0;
        Console.WriteLine($"Validating the simulator against the cost model: {samples} random valid {(factorization == Factorization.Imperfect ? "imperfect " : "")}mapping(s) of each of {layers.Count} distinct layer shape(s) of {w.Name} on {arch.Name} (seed {seed})");
        foreach (var (layer, _) in layers)
        {
            var space = new Mapspace(layer, arch);
            int before = agreed + disagreed + skipped + undrawn;
            var layerClock = System.Diagnostics.Stopwatch.StartNew();
            Live.Run($"shape {++shape}/{layers.Count} {layer.Name}", progress =>
            {
                for (int i = 0; i < samples; i++)
                {
                    progress?.Phase($"sample {i + 1}/{samples}, {agreed} agree, {disagreed} disagree");
                    // Fewer factors at the outermost level than the mapper's baseline draws, so that more
                    // mappings have few enough tile steps to simulate; still every draw is a valid mapping.
                    if (!space.TrySampleValid(rng, 4000, out var m, outerBias: 0.2, factorization: factorization)) { undrawn++; continue; }
                    SimReport sim;
                    try { sim = Simulator.Run(layer, arch, m, new SimOptions { MaxSteps = maxSteps, Factorization = factorization }); }
                    catch (ArgumentException) { skipped++; continue; }
                    var model = CostModel.Evaluate(layer, arch, m, factorization);
                    if (layer.Ranks.Any(r => m.Nest().Where(x => x.Rank == r.Id).Aggregate(1L, (a, x) => checked(a * x.Factor)) != r.Bound)) partial++;
                    var diff = ModelCheck.Compare(model, sim);
                    if (diff.Count == 0)
                    {
                        agreed++;
                        double ratio = (double)sim.Cycles / model.Cycles;
                        worstRatio = Math.Max(worstRatio, ratio);
                        ratioSum += ratio;
                        points?.Add((layer.Name, model.Cycles, sim.Cycles));
                        continue;
                    }
                    disagreed++;
                    Console.WriteLine($"DISAGREE {layer.Name}: {m.ToCompactString(names)}");
                    foreach (var d in diff) Console.WriteLine($"  {d}");
                }
                return 0;
            });
            Console.WriteLine($"  {layer.Name}: {agreed + disagreed + skipped + undrawn - before} draw(s) in {layerClock.Elapsed.TotalSeconds:F1} s; so far {agreed} agree, {disagreed} disagree, {skipped} skipped");
        }
        status = $"{(disagreed == 0 ? "AGREE" : "DISAGREE")}: {agreed} agree, {disagreed} disagree";
        Console.WriteLine($"{agreed} agree, {disagreed} disagree; {skipped} skipped (more than {Text.Int(maxSteps)} tile steps), {undrawn} draw(s) found no valid mapping; {sw.Elapsed.TotalSeconds:F1} s");
        if (factorization == Factorization.Imperfect) Console.WriteLine($"{partial} of the {agreed + disagreed} mappings compared have a rank whose factors exceed its bound (a partial last iteration)");
        if (agreed > 0) Console.WriteLine($"Simulated / model cycles: mean {Text.Num(ratioSum / agreed)}, largest {Text.Num(worstRatio)}");
        return disagreed == 0 ? 0 : 1;
    }
}
