using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The branch and bound where children may share or forward the words of a sliding window (the Timeloop convention's
/// multicast of identical words and forwarding, and the architecture's neighbour forwarding; docs/mapspace.md, "Shared
/// windows"): the search's array model then counts only the words new to the union of the children's tiles, which must be
/// a lower bound of the problem's own cost on every mapping, and the search must equal brute force.
/// </summary>
[TestClass]
public sealed class SharedWindowBoundTests
{
    /// <summary>Architectures with fanouts of several shapes: the presets and the Timeloop fixtures' (read by the Timeloop reader).</summary>
    private static IEnumerable<Architecture> Architectures()
    {
        foreach (var arch in Presets.All) yield return arch;
        foreach (var arch in TimeloopOptimaTests.Fixtures().Select(f => f.Arch).DistinctBy(a => a.Name)) yield return arch;
        yield return WindowCapabilityTests.Row8(Forwarding.XY);
        // Small random ones: fanouts with and without multicast and reduction, meshes and buses, hop energies.
        var rng = new Random(5);
        for (int i = 0; i < 8; i++) yield return TestMappings.RandomSmall(rng, $"r{i}", 64, mesh: i % 2 == 0);
    }

    /// <summary>Layers with windows of every kind (stride, dilation, 2-D), and a GEMM where nothing may be shared.</summary>
    private static IEnumerable<Einsum> LayersFor()
    {
        yield return Layers.Conv1d("c1d", c: 2, k: 4, p: 12, r: 3);
        yield return Layers.Conv1d("c1d-s2", c: 2, k: 2, p: 8, r: 3, stride: 2);
        yield return Layers.Conv1d("c1d-r5", c: 3, k: 2, p: 6, r: 5);
        yield return Layers.Conv2d("c2d", n: 1, c: 2, k: 2, p: 4, q: 4, r: 3, s: 3);
        yield return Layers.Conv2d("dil", n: 1, c: 2, k: 2, p: 4, q: 2, r: 2, s: 2, dilation: 2);
        yield return Layers.Conv2d("s2", n: 1, c: 2, k: 2, p: 4, q: 4, r: 3, s: 3, stride: 2);
        yield return Layers.Conv2d("c2d-wide", n: 1, c: 4, k: 4, p: 8, q: 6, r: 3, s: 3);
        yield return Layers.Conv2d("c2d-r1-s2", n: 1, c: 4, k: 2, p: 4, q: 4, r: 1, s: 1, stride: 2);
        yield return Layers.Gemm("gemm", m: 8, n: 4, k: 6);
    }

    private static readonly Objective[] Objectives = [Objective.Energy, Objective.Latency, Objective.Edp];

    /// <summary>
    /// On random valid mappings of every architecture, in every order of each axis's spatial loops: the array model's value
    /// under shared windows is at most the Timeloop convention's, and at most the default model's with neighbour forwarding
    /// switched on; where the architecture shares nothing of a window (a GEMM) it is equal to the default model's.
    /// </summary>
    [TestMethod]
    public void ArrayModelIsALowerBoundOfTimeloopAndForwardingOnRandomMappings()
    {
        var rng = new Random(20261203);
        int compared = 0, below = 0;
        var failures = new List<string>();
        foreach (var arch0 in Architectures())
        {
            var forwarding = WindowCapabilityTests.With(arch0.WithoutWindowCapabilities(), WindowReuse.Slide, Forwarding.XY);
            foreach (var layer in LayersFor())
            {
                var space = new Mapspace(layer, arch0);
                var timeloop = Objectives.Select(o => new SearchModel(new MapProblem(layer, arch0, o, Convention: CostConvention.Timeloop))).ToArray();
                var forwarded = Objectives.Select(o => new SearchModel(new MapProblem(layer, forwarding, o))).ToArray();
                for (int i = 0; i < 40; i++)
                {
                    if (!space.TrySampleValid(rng, 300, out var mapping, outerBias: 0.3)) break;
                    foreach (var ordered in Mapspace.SpatialOrders(mapping))
                    {
                        bool expressible = Optimizer.Formulation.Specs.TimeloopMapping.Inexpressible(ordered, arch0) is null;
                        var tl = expressible ? TimeloopConvention.Evaluate(layer, arch0, ordered) : null;
                        var fw = CostModel.Evaluate(layer, forwarding, ordered);
                        for (int k = 0; k < Objectives.Length; k++)
                        {
                            double bound = timeloop[k].Exact(timeloop[k].FromMapping(ordered)!);
                            if (tl is not null && Check("timeloop", bound, tl.Objective(Objectives[k]), k) && Objectives[k] == Objective.Energy)
                            {
                                var d = CostModel.Evaluate(layer, arch0.WithoutWindowCapabilities(), ordered);
                                failures.Add(ordered.ToCompactString(arch0.Levels.Select(x => x.Name).ToList()) + "\n" + string.Join("\n", tl.Tensors.Select(x => $"TL {x.Level} {x.Tensor} f{x.Fills} r{x.Reads} u{x.Updates} e{x.Energy}")) + "\n" + string.Join("\n", d.Tensors.Select(x => $"DF {x.Level} {x.Tensor} f{x.Fills} r{x.Reads} u{x.Updates} e{x.Energy}")));
                            }
                            Check("forwarding", forwarded[k].Exact(forwarded[k].FromMapping(ordered)!), fw.Objective(Objectives[k]), k);
                            // Nothing of a GEMM is shared: the bound is Timeloop's value itself (whose counts equal the default model's there).
                            if (layer.Name == "gemm" && tl is not null && Math.Abs(bound - tl.Objective(Objectives[k])) > 1e-9 * bound)
                                failures.Add($"{arch0.Name} gemm {Objectives[k]}: the bound {bound:R} is not Timeloop's {tl.Objective(Objectives[k]):R}");
                        }
                        compared++;
                    }
                }

                bool Check(string what, double bound, double actual, int k)
                {
                    if (bound > actual * (1 + 1e-9)) { failures.Add($"{arch0.Name} {layer.Name} {Objectives[k]} {what}: bound {bound:R} above {actual:R}"); return true; }
                    if (bound < actual * (1 - 1e-9)) below++;
                    return false;
                }
            }
        }
        Console.WriteLine($"{compared} ordered mappings compared; bound strictly below on {below} (mapping, objective, model) triples");
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures.Take(8)));
        Assert.IsGreaterThanOrEqualTo(1000, compared);
        Assert.IsGreaterThanOrEqualTo(100, below, "cases where sharing lowers the bound");
    }

    /// <summary>
    /// The branch and bound under the Timeloop convention (bounds from the array model under shared windows, leaves costed
    /// by the emulation) against the enumeration of the same mapspace, for every objective: the same optimum, proved, and
    /// the answer re-costed by the emulation. The search must also prune (fewer nodes than the enumeration).
    /// </summary>
    [TestMethod]
    public void ExactEqualsEnumerationUnderTheTimeloopConvention()
    {
        int compared = 0;
        long exactNodes = 0, bruteNodes = 0;
        foreach (var (layer, arch) in SearchTests.SmallCases(77, 14))
            foreach (var objective in Objectives)
            {
                var problem = new MapProblem(layer, arch, objective, Convention: CostConvention.Timeloop);
                var exact = new TilingSearch(problem, prune: true, seed: false).Solve(SearchLimits.None);
                var brute = new TilingSearch(problem, prune: false).Solve(SearchLimits.None);
                string what = $"{objective} of {layer.Name} on {arch.Name}";
                Assert.AreEqual(brute.Status, exact.Status, what);
                if (brute.Status == SolveStatus.Infeasible) continue;
                Assert.AreEqual(SolveStatus.Optimal, exact.Status, what);
                Assert.AreEqual(brute.Best!.Value, exact.Best!.Value, 1e-9 * brute.Best.Value, what);
                Assert.AreEqual(exact.Best.Value, TimeloopConvention.Evaluate(layer, arch, exact.Mapping!).Objective(objective), 1e-9 * exact.Best.Value, what);
                exactNodes += exact.Explored;
                bruteNodes += brute.Explored;
                compared++;
            }
        Console.WriteLine($"{compared} cases; nodes exact {exactNodes}, enumeration {bruteNodes}");
        Assert.IsGreaterThanOrEqualTo(30, compared);
        Assert.IsLessThan(bruteNodes, exactNodes, "the branch and bound pruned nothing");
    }
}
