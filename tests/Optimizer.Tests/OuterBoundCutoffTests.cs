using Optimizer.Formulation;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The outer bound's cutoff (issue 14, branch tl14v): the search asks the outer bound of a node with the incumbent as the
/// cutoff, and the bound skips work that cannot bring a case below it (the bypassed refills of a floored tensor are taken
/// only in the splits and keep sets where they can matter). Its contract: below the cutoff the value is the one without a
/// cutoff, and so is every child's recorded bound; at or above it, the value is at least the cutoff.
/// </summary>
[TestClass]
public sealed class OuterBoundCutoffTests
{
    /// <summary>
    /// Window layers on eyeriss-like machines under the Timeloop convention, random mappings whose level 1 keeps no inputs
    /// (where the bypassed refills and the whole tiles at every step count): at every inner-first node on the way to each
    /// (the listed plan of the mapping's class, as the search takes it), the outer bound with a cutoff just above its value
    /// equals it, as does the child bound recorded for the next node on the way (level 1 alone undecided), and with a cutoff
    /// just below its value it is at least that cutoff. Fails when the raised floors are left out of keep sets that stay
    /// below the cutoff (checked with the raise taken only below 0.9 x the cutoff: e.g. 14,568 under the cutoff where the
    /// bound without one is 16,128, and 14,568 returned for a cutoff just below 16,128).
    /// </summary>
    [TestMethod]
    public void BelowTheCutoffTheOuterBoundIsTheBoundWithoutOne()
    {
        var rng = new Random(14);
        int nodes = 0;
        var failures = new List<string>();
        for (int i = 0; i < 40; i++)
        {
            var layer = i % 3 == 2
                ? Layers.Conv1d($"u{i}", c: 2 + 2 * rng.Next(2), k: 2, p: 4 + 4 * rng.Next(2), r: 2 + rng.Next(3), stride: 1 + rng.Next(2))
                : Layers.Conv2d($"u{i}", n: 1, c: 1 + rng.Next(3), k: 2, p: 2 + 2 * rng.Next(2), q: 2 + rng.Next(3), r: 2 + rng.Next(2), s: 1 + rng.Next(3),
                    stride: 1 + rng.Next(2));
            var arch = SearchTests.RoleSplit($"us{i}", glb: 8 + rng.Next(40), fanout: (2 + rng.Next(5), 2 + rng.Next(3)),
                spads: (1 + rng.Next(8), 1 + rng.Next(6), 1 + rng.Next(4)));
            var model = new SearchModel(new MapProblem(layer, arch, Objective.Energy, Convention: CostConvention.Timeloop), deferOrders: true);
            if (!model.Problem.AnyFloored) continue;
            var space = new Mapspace(layer, arch);
            var listed = model.SpatialPlans().ToList();
            var ids = layer.Tensors.Select(t => t.Id).ToArray();
            for (int j = 0, tries = 0; j < 8 && tries < 2000; tries++)
            {
                if (!space.TrySampleValid(rng, 500, out var mapping, outerBias: 0.5)) break;
                if (mapping.Levels[1].Keep.Any(k => layer.Tensors.Single(t => t.Id == k).Role == TensorRole.Inputs)) continue;
                var own = SharedWindowBoundTests.SplitOf(model, mapping);
                bool Is(SpatialPlan p) => Enumerable.Range(0, own.Levels).All(d => p.X[d].SequenceEqual(own.X[d]) && p.Y[d].SequenceEqual(own.Y[d]));
                var plan = listed.FirstOrDefault(p => Is(p) || p.Variants.Any(Is));
                if (plan is null) continue;
                j++;
                var oneTemporal = model.RankIds.Select(id => (int)mapping.Levels[1].TemporalFactor(id)).ToArray();
                int oneKeep = Enumerable.Range(0, ids.Length).Where(k => mapping.Levels[1].Keep.Contains(ids[k])).Sum(k => 1 << k);
                SearchTests.BoundsOnTheWay(model, layer, mapping, plan: plan, visit: (s, d) =>
                {
                    if (d < 2) return;
                    double plain = model.InnerBound(s, d);
                    double full = model.RefineBound(s, d, plain, double.PositiveInfinity, out var fullChildren);
                    if (!double.IsFinite(full) || full <= plain) return;
                    nodes++;
                    string where = $"{layer} on {arch.Name}, level {d} of {mapping.ToCompactString(arch.Levels.Select(l => l.Name).ToList())}";
                    double above = full * (1 + 1e-7), below = full * (1 - 1e-7);
                    double cut = model.RefineBound(s, d, plain, above, out var children);
                    if (cut != full) failures.Add($"{where}: {cut:R} with the cutoff {above:R}, {full:R} without");
                    if (model.RefineBound(s, d, plain, below) < below) failures.Add($"{where}: below the cutoff {below:R} where the bound is {full:R}");
                    if (d == 2 && fullChildren is not null && children is not null)
                    {
                        long g = fullChildren.Index(oneTemporal);
                        if (fullChildren.TryGet(g, oneKeep, out var least) && least < above
                            && (!children.TryGet(children.Index(oneTemporal), oneKeep, out var cutLeast) || cutLeast != least))
                            failures.Add($"{where}: the child's recorded bound differs under the cutoff {above:R} ({least:R} without)");
                    }
                });
            }
        }
        Console.WriteLine($"{nodes} nodes compared");
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures.Take(6)));
        Assert.IsGreaterThanOrEqualTo(200, nodes);
    }
}
