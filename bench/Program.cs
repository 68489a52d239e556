using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>Benchmarks that print figures measured in one run. Usage: bench [costmodel] ...</summary>
public static class Program
{
    /// <summary>Runs the named benchmarks (all when none is named).</summary>
    public static int Main(string[] args)
    {
        var which = args.Length == 0 ? new[] { "costmodel" } : args;
        foreach (var name in which)
        {
            switch (name)
            {
                case "costmodel": CostModelThroughput(); break;
                default:
                    Console.Error.WriteLine($"error: unknown benchmark '{name}'; known: costmodel");
                    return 2;
            }
        }
        return 0;
    }

    /// <summary>Evaluations per second of the analytical model on random valid mappings of ResNet-50 layers on eyeriss.</summary>
    private static void CostModelThroughput()
    {
        var arch = Presets.Get("eyeriss");
        var rng = new Random(1);
        var mappings = new List<(Einsum, Mapping)>();
        foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get("resnet50")))
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 20; i++)
                if (space.TrySampleValid(rng, 20000, out var m)) mappings.Add((layer, m));
        }
        var sw = Stopwatch.StartNew();
        int evaluations = 0;
        double sink = 0;
        while (sw.Elapsed.TotalSeconds < 3)
            foreach (var (l, m) in mappings) { sink += CostModel.Evaluate(l, arch, m).Energy; evaluations++; }
        Console.WriteLine($"costmodel: {mappings.Count} random valid mappings of ResNet-50 layers on eyeriss; " +
                          $"{evaluations / sw.Elapsed.TotalSeconds:F0} evaluations/s (checker + model), checksum {sink:G3}");
    }
}
