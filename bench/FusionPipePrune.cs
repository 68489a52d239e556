using Optimizer.Formulation;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;

namespace Optimizer.Bench;

/// <summary>
/// `bench fusion-pipe-prune[:resnet50|:mobilenetv2|:gpt3] [groups]`: the member classes of the first pipelined groups of
/// `fuse --objective latency --pipeline` (docs/fusion.md, "Pipelined groups over the full mapspace"), each enumerated up to
/// <c>PipelineVisitCap</c> mappings and pruned by the pipelined members' dominance rule as the search does: per class, the
/// mappings reached, valid and kept, and the seconds spent enumerating and costing against the seconds spent pruning.
/// </summary>
public static class FusionPipePrune
{
    /// <summary>Runs the networks <paramref name="name"/> names (all by default), <paramref name="groups"/> groups each.</summary>
    public static void Run(string name, int groups)
    {
        var cases = new List<(Workload W, string Arch)>();
        if (name is "fusion-pipe-prune" or "fusion-pipe-prune:resnet50") cases.Add((Zoo.Get("resnet50"), "eyeriss"));
        if (name is "fusion-pipe-prune" or "fusion-pipe-prune:mobilenetv2") cases.Add((Zoo.Get("mobilenetv2"), "eyeriss"));
        if (name is "fusion-pipe-prune" or "fusion-pipe-prune:gpt3") cases.Add((Zoo.Get("gpt3-6.7b"), "tpu-v4i"));
        foreach (var (w, arch) in cases)
        {
            var search = new FusionSearch(new FusionProblem(w, Presets.Get(arch), Objective.Latency, Pipeline: true));
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            var profile = search.ProfilePipelineMembers(groups, () => false);
            foreach (var c in profile)
                Console.WriteLine(FormattableString.Invariant($"fusion-pipe-prune: {w.Name} on {arch}, {c.Layer}: {c.Seen} reached, {c.Valid} valid, {c.Kept} kept{(c.Complete ? ", complete" : "")}; enumerating {c.Enumeration.TotalSeconds:F2} s, checking {c.Checking.TotalSeconds:F2} s, costing {c.Costing.TotalSeconds:F2} s, pruning {c.Pruning.TotalSeconds:F3} s"));
            Console.WriteLine(FormattableString.Invariant($"fusion-pipe-prune: {w.Name} on {arch}: {profile.Count} classes, {profile.Sum(c => c.Valid)} valid, {profile.Sum(c => c.Kept)} kept; enumerating {profile.Sum(c => c.Enumeration.TotalSeconds):F2} s, checking {profile.Sum(c => c.Checking.TotalSeconds):F2} s, costing {profile.Sum(c => c.Costing.TotalSeconds):F2} s, pruning {profile.Sum(c => c.Pruning.TotalSeconds):F3} s, wall {System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds:F2} s"));
        }
    }
}
