using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Bench;

/// <summary>
/// `bench fusion-pipeline[:examples|:gpt3|:resnet50] [seconds per fused search]`: the fused template search's latency and
/// EDP optima with sequential groups only and with pipelined groups too (docs/fusion.md, "Pipelined latency"), on the
/// examples (the conv chain and the diamond on two-level, and the conv chain on a variant with a 16-MAC PE and DRAM read
/// and write bandwidths of 1 word per cycle), on GPT-3 6.7B on tpu-v4i and on ResNet-50 on eyeriss: each answer's
/// status, objective, energy, cycles, time, and its pipelined groups.
/// </summary>
public static class FusionPipeline
{
    /// <summary>Runs the cases <paramref name="name"/> names (all by default).</summary>
    public static void Run(string name, double? seconds)
    {
        string Example(string file) => Path.Combine(Program.RepositoryRoot(), "examples", file);
        var cases = new List<(string Key, Workload W, Architecture A)>();
        if (name is "fusion-pipeline" or "fusion-pipeline:examples")
        {
            var two = ArchitectureSpec.Load(Example("two-level-arch.yaml"));
            var chain = WorkloadSpec.Load(Example("conv-chain-workload.yaml"));
            cases.Add(("examples", chain, two));
            cases.Add(("examples", WorkloadSpec.Load(Example("diamond-workload.yaml")), two));
            var fast = new Architecture("two-level-fast", "two-level with a 16-MAC PE and DRAM read and write bandwidths of 1 word per cycle",
                two.Levels.Select((l, i) => i == 0 ? new StorageLevel(l.Name, l.Capacity, l.WordBits, l.ReadEnergy, l.WriteEnergy, 1, 1, l.Keeps, l.Fanout) : l),
                new ComputeUnit(two.Compute.MacEnergy, 16), two.ClockGHz);
            cases.Add(("examples", chain, fast));
        }
        if (name is "fusion-pipeline" or "fusion-pipeline:gpt3") cases.Add(("gpt3", Zoo.Get("gpt3-6.7b"), Presets.Get("tpu-v4i")));
        if (name is "fusion-pipeline" or "fusion-pipeline:resnet50") cases.Add(("resnet50", Zoo.Get("resnet50"), Presets.Get("eyeriss")));
        var limits = new SearchLimits(seconds is { } s ? TimeSpan.FromSeconds(s) : null);
        foreach (var (_, w, a) in cases)
            foreach (var o in new[] { Objective.Latency, Objective.Edp })
            {
                // Both over the template, as measured since the start (EDP alone searches the full mapspace's sequential groups).
                var seq = new FusionSearch(new FusionProblem(w, a, o, TemplateOnly: true)).Solve(limits);
                var pipe = new FusionSearch(new FusionProblem(w, a, o, Pipeline: true, TemplateOnly: true)).Solve(limits);
                string Line(FusionResult r) => r.Report is not { } rep ? $"{r.Status}" :
                    $"{r.Status} {Objectives.Name(o)} {r.Best:G6} (energy {rep.Energy:G6} pJ, cycles {rep.Cycles}) in {r.Elapsed.TotalSeconds:F1} s";
                var piped = pipe.Mapping?.Groups.Where(g => g.Pipelined).Select(g => $"{w.Layers[g.First].Name}..{w.Layers[g.Last].Name} x{FusionRules.Iterations(g, pipe.Mapping.SharedOf(g))}").ToList() ?? [];
                Console.WriteLine($"fusion-pipeline: {w.Name} on {a.Name}, {Objectives.Name(o)}: sequential {Line(seq)}; with pipelines {Line(pipe)}; " +
                                  $"sequential/pipelined {seq.Best / pipe.Best:F4}; pipelined groups: {(piped.Count == 0 ? "none" : string.Join(", ", piped))}");
            }
    }
}
