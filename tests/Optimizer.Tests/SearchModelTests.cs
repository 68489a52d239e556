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

    /// <summary>
    /// The order DP with costs past double's range (infinite or NaN, as energies of 1e308 give): it used to
    /// leave a set of loops with no pick and index out of range while reading the order back. Now every
    /// answer is an order of the loops, the value infinite when no cost is finite.
    /// </summary>
    [TestMethod]
    public void BestOrderIsAnOrderOfTheLoopsWhenCostsAreNotFinite()
    {
        var layer = Optimizer.Workloads.Layers.Conv2d("c2d", n: 1, c: 4, k: 4, p: 6, q: 6, r: 3, s: 3);
        var model = new SearchModel(new MapProblem(layer, Presets.Get("simple-ws"), Objective.Energy));
        var factors = Enumerable.Range(0, model.Ranks).Select(r => model.Bound[r]).Select(b => (int)b).ToArray();
        var active = Enumerable.Range(0, model.Ranks).Where(r => factors[r] > 1).ToArray();
        var costs = new (string Name, Func<int, long, double> Cost)[]
        {
            ("infinite", (_, _) => double.PositiveInfinity),
            ("NaN", (_, _) => double.NaN),
            ("infinite or NaN (infinity times nothing new)", (rank, inside) => inside == 0 ? 0 : double.PositiveInfinity * (rank % 2)),
            ("finite but for one loop", (rank, _) => rank == active[^1] ? double.PositiveInfinity : rank + 1),
        };
        foreach (var (name, cost) in costs)
        {
            var (value, order) = model.BestOrder(factors, cost);
            CollectionAssert.AreEquivalent(active, order, name);
            Assert.AreEqual(double.PositiveInfinity, value, name);
        }
    }

    /// <summary>
    /// Energies so large that a mapping's cost overflows a double: a clear error (the command line's exit
    /// code 2) before any search, not an exception from inside the order DP, and not a wrong INFEASIBLE.
    /// </summary>
    [TestMethod]
    public void CostsPastDoublesRangeAreAClearError()
    {
        var layer = Optimizer.Workloads.Layers.Conv1d("c1d", c: 32, k: 32, p: 16, r: 3);
        var arch = new Architecture("huge", "DRAM at 1e308 pJ per word", [
            new StorageLevel("DRAM", null, 16, 1e308, 1e308),
            new StorageLevel("Buffer", 64, 16, 6, 6)], new ComputeUnit(1, 1));
        // Refused where every solver starts, naming the input that overflows, before any search or order DP sees it.
        foreach (var objective in new[] { Objective.Energy, Objective.Edp })
        {
            var e = Assert.ThrowsExactly<NonFiniteCostException>(() => new MapProblem(layer, arch, objective));
            StringAssert.Contains(e.Message, "DRAM read-energy");
        }

        var file = Path.Combine(Path.GetTempPath(), $"huge-arch-{Environment.ProcessId}.yaml");
        File.WriteAllText(file, File.ReadAllText(CommandLine.Example("two-level-arch.yaml")).Replace("read-energy: 200.0", "read-energy: 1e308").Replace("write-energy: 200.0", "write-energy: 1e308"));
        try
        {
            var (code, _, err) = CommandLine.Run("map", "--arch", file, "--workload", CommandLine.Example("conv1d-workload.yaml"), "--time-limit", "20");
            Assert.AreEqual(2, code, err);
            StringAssert.Contains(err, "DRAM read-energy");
        }
        finally { File.Delete(file); }
    }
}
