using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// The incumbents of ResNet-50's open shapes on eyeriss under the Timeloop convention (issue 14): each seeding source's
/// mapping valued under the convention, then climbed under it (<see cref="LocalSearch"/> with the convention's values and
/// the spatial-order and axis moves), one thread.
/// </summary>
public static class TimeloopSeeds
{
    /// <summary>Runs the comparison for the named layers (the open ones when none), <paramref name="seconds"/> per climb.</summary>
    public static void Run(double seconds, double plainSeconds, double searchSeconds, IReadOnlyList<string> layers, IReadOnlyList<string> files)
    {
        var arch = Presets.Get("eyeriss");
        var net = Zoo.Get("resnet50");
        if (layers.Count == 0) layers = ["conv2_1_b", "conv3_1_b", "conv1", "conv4_1_b"];
        foreach (var name in layers)
        {
            var layer = net.Layers.Single(l => l.Name == name);
            var p = new MapProblem(layer, arch, Objective.Energy, Convention: CostConvention.Timeloop);
            double? Value(Mapping m)
            {
                if (ValidityChecker.Check(layer, arch, m).Count > 0 || TimeloopMapping.Inexpressible(m, arch) is not null) return null;
                return TimeloopConvention.Evaluate(layer, arch, m).Energy;
            }
            var starts = new List<(string, Mapping)>();
            var sw = Stopwatch.StartNew();
            var descent = new Descent(p with { Convention = CostConvention.Default }).Solve(new SearchLimits(TimeSpan.FromSeconds(2)));
            if (descent.Mapping is { } dm) { starts.Add(("descent", dm)); foreach (var mv in OneAxisTie.Moves(layer, dm)) starts.Add(("descent one-axis", mv)); foreach (var mv in OneAxisTie.Fitted(layer, arch, dm)) starts.Add(("descent fitted", mv)); }
            Console.WriteLine($"{name}: descent {sw.Elapsed.TotalSeconds:F2} s");
            sw.Restart();
            var plainProblem = p with { Convention = CostConvention.Default, OneAxis = true };
            if (plainSeconds > 0)
            {
                var plain = new TilingSearch(plainProblem, prune: true).Solve(new SearchLimits(TimeSpan.FromSeconds(plainSeconds), Threads: 1));
                Console.WriteLine($"{name}: plain one-axis {plain.Status} {plain.Best:G6} in {sw.Elapsed.TotalSeconds:F2} s");
                if (plain.Mapping is { } pm) { starts.Add(("plain one-axis", pm)); Console.WriteLine(MappingSpec.Write(pm, layer, arch)); }
            }
            foreach (var file in files)
                if (MappingSpec.LayerOf(File.ReadAllText(file), file) == name) starts.Add((file, MappingSpec.Load(file, layer, arch)));
            (Mapping Mapping, double Value)? best = null;
            foreach (var (what, m) in starts)
            {
                var v = Value(m);
                Console.WriteLine($"  {what}: {(v is { } x ? x.ToString("G6") : "not allowed")}");
                if (v is null) continue;
                sw.Restart();
                var (climbed, cv) = LocalSearch.Improve(p, m, Value, DateTime.UtcNow + TimeSpan.FromSeconds(seconds), CancellationToken.None);
                Console.WriteLine($"    climbed: {cv:G6} in {sw.Elapsed.TotalSeconds:F2} s");
                Console.WriteLine(MappingSpec.Write(climbed, layer, arch));
                if (best is null || cv < best.Value.Value) best = (climbed, cv);
            }
            if (searchSeconds > 0 && best is { } b)
            {
                sw.Restart();
                var r = new TilingSearch(p, prune: true, incumbent: b.Mapping).Solve(new SearchLimits(TimeSpan.FromSeconds(searchSeconds)));
                Console.WriteLine($"{name}: search from {b.Value:G6}: {r.Status} {r.Best:G6} bound {r.Bound:G6} gap {(r.Best - r.Bound) / r.Best * 100:F3} % {r.Explored:N0} nodes in {sw.Elapsed.TotalSeconds:F2} s");
            }
        }
    }
}
