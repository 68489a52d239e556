using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The exact search's own cost of a complete mapping (its array model over the formula kernel) against
/// the reference cost model, directly, on random valid mappings of every preset: the search re-costs its
/// answers at run time, but only this compares the two on mappings the search never chose.
/// </summary>
[TestClass]
public sealed class SearchModelTests
{
    private static IEnumerable<Einsum> Layers(Architecture arch)
    {
        // Sliding windows with stride and dilation, depthwise, 1x1, GEMM and batched matmuls.
        yield return Optimizer.Workloads.Layers.Conv1d("c1d", c: 4, k: 6, p: 12, r: 3, stride: 2);
        yield return Optimizer.Workloads.Layers.Conv2d("dil", n: 1, c: 4, k: 4, p: 6, q: 6, r: 3, s: 3, dilation: 2);
        foreach (var name in new[] { "resnet50", "mobilenetv2", "bert-base" })
            foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get(name)).Take(name == "resnet50" ? 8 : 4))
                yield return layer;
    }

    [TestMethod]
    public void SearchCostEqualsReferenceModelOnRandomMappingsOfEveryPreset()
    {
        var rng = new Random(20261202);
        var perPreset = new Dictionary<string, int>();
        var mismatches = new List<string>();
        foreach (var arch in Presets.All)
        {
            int compared = 0;
            foreach (var layer in Layers(arch))
            {
                var space = new Mapspace(layer, arch);
                var models = new[] { Objective.Energy, Objective.Latency, Objective.Edp }
                    .Select(o => (Objective: o, Model: new SearchModel(new MapProblem(layer, arch, o)))).ToArray();
                for (int i = 0; i < 60; i++)
                {
                    if (!space.TrySampleValid(rng, 200, out var mapping, outerBias: 0.3)) break;
                    var report = CostModel.Evaluate(layer, arch, mapping);
                    foreach (var (objective, model) in models)
                    {
                        var state = model.FromMapping(mapping) ?? throw new AssertFailedException("A sampled mapping has two loops over one rank at a level.");
                        double search = model.Exact(state), reference = report.Objective(objective);
                        if (Math.Abs(search - reference) > 1e-9 * Math.Max(1, Math.Abs(reference)))
                            mismatches.Add($"{arch.Name} {layer.Name} {objective}: search {search:R}, reference {reference:R}\n{mapping}");
                    }
                    compared++;
                }
            }
            perPreset[arch.Name] = compared;
        }
        Console.WriteLine("compared: " + string.Join(", ", perPreset.Select(p => $"{p.Key} {p.Value}")));
        Assert.AreEqual(0, mismatches.Count, string.Join("\n", mismatches.Take(5)));
        foreach (var (name, count) in perPreset)
            Assert.IsTrue(count >= 100, $"Only {count} random valid mappings drawn on {name}; the comparison needs at least 100.");
        Assert.IsTrue(perPreset.Values.Sum() >= 1000, $"Only {perPreset.Values.Sum()} mappings compared in all.");
    }

    [TestMethod]
    public void FromMappingInvertsToMapping()
    {
        var layer = Optimizer.Workloads.Layers.Conv1d("c1d", c: 4, k: 6, p: 12, r: 3);
        var arch = Presets.Get("simple-ws");
        var space = new Mapspace(layer, arch);
        var model = new SearchModel(new MapProblem(layer, arch, Objective.Energy));
        var rng = new Random(7);
        for (int i = 0; i < 50; i++)
        {
            Assert.IsTrue(space.TrySampleValid(rng, 500, out var mapping));
            var back = model.ToMapping(model.FromMapping(mapping)!);
            Assert.AreEqual(CostModel.Evaluate(layer, arch, mapping).Energy, CostModel.Evaluate(layer, arch, back).Energy, 1e-9);
            Assert.IsTrue(mapping.Levels.Zip(back.Levels).All(p => p.First.Temporal.Where(x => x.Factor > 1).SequenceEqual(p.Second.Temporal)
                && p.First.Keep.SetEquals(p.Second.Keep)), $"{mapping}\nbecame\n{back}");
        }
    }
}
