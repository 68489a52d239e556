using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Bench;

/// <summary>
/// `bench fusion-keep`: the halo policies of docs/fusion.md ("Halos") on examples/conv-chain-workload.yaml, on
/// examples/two-level-arch.yaml and on two variants of it where a MAC costs more beside a DRAM word: the energy optimum
/// by brute force over the full fused mapspace recomputing halos only, and over both policies (keep: producers compute
/// only new rows after a prologue), with the time of each, the MACs of the answer and which policy it takes; then the
/// search over the full mapspace with both policies (`fuse --keep-halos`), its status, energy and time beside them.
/// </summary>
public static class FusionKeep
{
    /// <summary>Runs the three architectures.</summary>
    public static void Run()
    {
        string Example(string file) => Path.Combine(Program.RepositoryRoot(), "examples", file);
        var w = WorkloadSpec.Load(Example("conv-chain-workload.yaml"));
        var baseArch = ArchitectureSpec.Load(Example("two-level-arch.yaml"));
        foreach (var (mac, dram) in new[] { (baseArch.Compute.MacEnergy, baseArch.Levels[0].ReadEnergy), (20.0, 60.0), (50.0, 100.0) })
        {
            var arch = Variant(baseArch, mac, dram);
            var search = new FusionSearch(new FusionProblem(w, arch, Objective.Energy));
            var clock = Stopwatch.StartNew();
            var (recompute, recomputeBest, recomputeCount) = search.BruteForceFull();
            double recomputeSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var (both, bothBest, bothCount) = search.BruteForceFull(keepHalos: true);
            double bothSeconds = clock.Elapsed.TotalSeconds;
            long Macs(FusedMapping fm) => FusionCost.Evaluate(w, arch, fm).Layers.Sum(l => l.Report.Macs + (l.Prologue?.Report.Macs ?? 0));
            Console.WriteLine($"fusion-keep: {w.Name} on {arch.Name} (MAC {mac} pJ, DRAM {dram} pJ/word): recompute only {recomputeBest:G8} pJ " +
                              $"({recomputeCount} fused mappings, {recomputeSeconds:F1} s, {Macs(recompute!)} MACs); both policies {bothBest:G8} pJ " +
                              $"({bothCount} fused mappings, {bothSeconds:F1} s, {Macs(both!)} MACs, {(both!.Groups.Any(g => g.KeepHalos) ? "keeps" : "recomputes")}); " +
                              $"unfused layers' MACs {w.Layers.Sum(l => l.Macs)}; recompute/both {recomputeBest / bothBest:F4}");
            var r = new FusionSearch(new FusionProblem(w, arch, Objective.Energy, KeepHalos: true)).Solve(SearchLimits.None);
            Console.WriteLine($"fusion-keep:   fuse --keep-halos (full mapspace, both policies): {r.Status} {r.Best:G8} pJ in {r.Elapsed.TotalSeconds:F1} s, " +
                              $"{(r.Mapping?.Groups.Any(g => g.KeepHalos) == true ? "keeps" : "recomputes")}; equals brute force: {r.Best is { } b && Math.Abs(b - bothBest) <= bothBest * 1e-9}");
        }
    }

    private static Architecture Variant(Architecture a, double mac, double dram)
    {
        var levels = a.Levels.Select((l, i) => i == 0 ? new StorageLevel(l.Name, l.Capacity, l.WordBits, dram, dram, l.ReadBandwidth, l.WriteBandwidth, l.Keeps, l.Fanout) { Window = l.Window } : l);
        return new Architecture(a.Name, a.Description, levels, new ComputeUnit(mac, a.Compute.MacsPerCycle), a.ClockGHz);
    }
}
