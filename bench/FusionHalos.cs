using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// `bench fusion-halos[:resnet50|:mobilenetv2][:template|:keep] [seconds]`: the energy-optimal fused mapping of ResNet-50 and MobileNetV2 on
/// eyeriss (docs/fusion.md, "Halos"), over the per-layer template and over the full mapspace (with :keep, groups that keep
/// their halos offered too, as `fuse --keep-halos`; with :template, the template alone), each under the time limit:
/// status, energy, bound and time; every fused group with its shared loops, whether a member computes its readers' halos
/// (its rank split) and its energy against the same layers unfused (the gain per block).
/// </summary>
public static class FusionHalos
{
    /// <summary>Runs the named networks (both when none is named), each search under the limit (none when null).</summary>
    public static void Run(string name, double? seconds)
    {
        var limits = new SearchLimits(seconds is { } s ? TimeSpan.FromSeconds(s) : null);
        var arch = Presets.Get("eyeriss");
        var parts = name.Split(':');
        bool keep = parts.Skip(1).Contains("keep"), templateOnly = parts.Skip(1).Contains("template");
        var nets = parts.Skip(1).Where(x => x is not ("" or "keep" or "template")).ToList();
        foreach (var net in nets.Count > 0 ? nets : ["resnet50", "mobilenetv2"])
        {
            var w = Zoo.Get(net);
            // With :keep, each search offering groups that keep their halos too (fuse --keep-halos).
            foreach (bool template in templateOnly ? [true] : new[] { true, false })
            {
                var r = new FusionSearch(new FusionProblem(w, arch, Objective.Energy, TemplateOnly: template, KeepHalos: keep)).Solve(limits);
                string space = (template ? "template mapspace" : "full mapspace") + (keep ? ", halos recomputed or kept" : "");
                if (r.Mapping is null || r.UnfusedReport is null)
                {
                    Console.WriteLine($"fusion-halos: {net} on eyeriss, energy, {space}: {r.Status} in {r.Elapsed.TotalSeconds:F1} s: {r.Explanation}");
                    continue;
                }
                var groups = r.Mapping.Groups.Where(g => g.Count > 1).ToList();
                var members = FusionRules.MemberEinsums(w, r.Mapping);
                Console.WriteLine($"fusion-halos: {net} on eyeriss, energy, {space}: {r.Status} {r.Best:G6}" +
                                  (r.Status == SolveStatus.Optimal ? "" : $" bound {r.Bound:G6} gap {r.GapPercent:F3}%") +
                                  $" in {r.Elapsed.TotalSeconds:F1} s; unfused {r.UnfusedReport.Energy:G6}, fused/unfused {r.Best / r.UnfusedReport.Energy:F4}; " +
                                  $"{groups.Count} fused groups, {groups.Count(g => g.SharedLoops > 0)} with shared loops, {members.Where((e, i) => !ReferenceEquals(e, w.Layers[i])).Count()} layers computing halos");
                foreach (var g in groups)
                {
                    double fused = r.Report!.EnergyOf(g), alone = r.UnfusedReport.EnergyOf(g);
                    var shared = r.Mapping.Layers[g.Last].Levels[0].Temporal.Take(g.SharedLoops);
                    var plans = FusionRules.MemberPlans(w, g, r.Mapping.SharedOf(g));
                    var halos = plans.Select((p, k) => (p, Layer: w.Layers[g.First + k].Name)).Where(x => x.p.Splits.Count > 0 || x.p.Prologue is not null)
                        .Select(x => $"{x.Layer} ({string.Join(", ", x.p.Splits.Select(sp => $"{sp.Rank}: {sp.Tiles} x {sp.Rows} rows every {sp.Step}"))})").ToList();
                    Console.WriteLine($"fusion-halos:   {string.Join("+", Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name))} shared [{string.Join(", ", shared)}] " +
                                      $"held [{string.Join(", ", FusionRules.HeldOf(w, g))}]{(g.KeepHalos ? " halos kept" : "")}{(halos.Count == 0 ? "" : $" split by {string.Join(", ", halos)}")}: {fused:G6} pJ vs {alone:G6} alone ({alone / fused:F3}x)");
                }
            }
        }
    }
}
