using System.Diagnostics;
using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// Issue 19 (branch cd19k): what a quick bound of the co-design dive costs and finds, timed against node-limited. On the
/// relaxation of the whole Eyeriss-like space (examples/codesign-eyeriss.yaml) and of the four points from 240, every
/// ResNet-50 shape's EDP search: capped at 0.25 s (the run's default threads), then at each node limit given (one thread,
/// seeded with the descent's mapping: <see cref="LayerEvaluator.Sum"/>'s nodes); per configuration the sum of the bounds
/// and of the best values (each shape times its count), the nodes explored and the wall time.
/// </summary>
internal static class CodesignDiveNodes
{
    public static void Run(IReadOnlyList<long> limits)
    {
        var dir = Program.RepositoryRoot();
        var space = Optimizer.Hardware.Specs.DesignSpaceSpec.Load(Path.Combine(dir, "examples", "codesign-eyeriss.yaml"));
        var workload = Zoo.Get("resnet50");
        foreach (var (name, points) in new[] { ("all 256 points", Enumerable.Range(0, space.Count).ToList()), ("points 240-243", Enumerable.Range(240, 4).ToList()) })
        {
            var arch = space.Relax(points);
            foreach (long? nodes in new long?[] { null }.Concat(limits.Select(n => (long?)n)))
            {
                var eval = new LayerEvaluator(workload, SearchLimits.None, TimeSpan.FromSeconds(0.25));
                var sw = Stopwatch.StartNew();
                var sum = eval.Sum(arch, Objective.Edp, relaxation: true, cap: nodes is null ? TimeSpan.FromSeconds(0.25) : null, nodes: nodes);
                long explored = sum.Results.Sum(r => r.Explored);
                int proved = sum.Results.Count(r => r.Status == SolveStatus.Optimal);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {name}, {(nodes is { } n ? $"{n} nodes, one thread" : "0.25 s capped")}: bound {sum.Lower:G6} value {(sum.Value is { } v ? v.ToString("G6", CultureInfo.InvariantCulture) : "-")}, {proved} of {sum.Results.Count} proved, {explored} nodes, {sw.Elapsed.TotalSeconds:0.0} s"));
            }
        }
    }
}
