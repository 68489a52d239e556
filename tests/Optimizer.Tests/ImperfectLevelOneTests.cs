using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The dominance among level 1's factors of the imperfect branch and bound (docs/mapspace.md, "Level 1's factors through
/// DRAM's counts"): under a DRAM without a fanout, level 1's factor f of a rank matters only through DRAM's count
/// <c>ceil(n / f)</c> (n the blocks of what lies inside level 1's loop), and the least f of each count is a valid mapping
/// whenever another is, at no more energy (in fact the same). Checked on random imperfect mappings against the reference model.
/// </summary>
[TestClass]
public sealed class ImperfectLevelOneTests
{
    /// <summary>The mapping with level 1's temporal factor of every rank replaced by the least with the same DRAM count (null: nothing changes or DRAM splits spatially).</summary>
    private static Mapping? Canonical(Einsum layer, SearchProblem problem, Mapping m, Func<int, long, long, long> representative)
    {
        if (m.Levels.Count < 2 || m.Levels[0].Spatial.Count > 0) return null;
        bool changed = false;
        var temporal = m.Levels[1].Temporal.Select(loop =>
        {
            long bound = layer.Ranks.Single(r => r.Id == loop.Rank).Bound;
            long inner = Math.Min(bound, m.TileExtent(2, loop.Rank) * m.Levels[1].SpatialFactor(loop.Rank));
            long n = (bound + inner - 1) / inner;
            long dram = (n + loop.Factor - 1) / loop.Factor;
            Assert.AreEqual(dram, m.Levels[0].TemporalFactor(loop.Rank), $"DRAM's count of {loop.Rank} in {m}");
            int least = (int)representative(Array.IndexOf(problem.RankIds, loop.Rank), n, loop.Factor);
            Assert.IsTrue(least <= loop.Factor && (n + least - 1) / least == dram);
            changed |= least != loop.Factor;
            return new TemporalLoop(loop.Rank, least);
        }).ToList();
        if (!changed) return null;
        var levels = m.Levels.ToList();
        levels[1] = new LevelMapping(temporal, m.Levels[1].Spatial, m.Levels[1].Keep);
        return new Mapping(levels);
    }

    private static string Show(Mapping m) => string.Join(" | ", m.Levels.Select((l, i) => $"L{i} T[{string.Join(",", l.Temporal)}] S[{string.Join(",", l.Spatial)}] K[{string.Join(",", l.Keep.Select(k => k.Name))}]"));

    /// <summary>The layers and architectures the dominance claims are checked on: random small ones, the imperfect cost model's cases, and three larger layers on every small architecture.</summary>
    internal static IEnumerable<(Einsum Layer, Architecture Arch)> ClaimCases()
    {
        var larger = new[]
        {
            Layers.Conv1d("c1s2", c: 3, k: 7, p: 17, r: 3, stride: 2),
            Layers.Conv2d("c2", n: 1, c: 2, k: 5, p: 11, q: 9, r: 3, s: 3, stride: 1),
            Layers.Gemm("mm", m: 13, n: 11, k: 10),
        };
        return ImperfectSearchTests.RandomCases(5, 40).Concat(ImperfectTests.Cases())
            .Concat(larger.SelectMany(l => CostInvariantTests.SmallCases().Select(x => x.Arch).DistinctBy(x => x.Name).Select(a => (l, a))));
    }

    /// <summary>Every level d >= 1 of up to 200 valid imperfect mappings sampled per claim case, with the mapping's energy.</summary>
    internal static IEnumerable<(Einsum Layer, Architecture Arch, Mapping M, double Energy, int Level)> SampledLevels(int seed)
    {
        var rng = new Random(seed);
        foreach (var (layer, arch) in ClaimCases())
        {
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 200; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m, factorization: Factorization.Imperfect)) continue;
                double e = CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Energy;
                for (int d = 1; d < m.Levels.Count; d++) yield return (layer, arch, m, e, d);
            }
        }
    }

    [TestMethod]
    public void LevelOnesLeastFactorPerDramCountIsValidAndNoDearer()
    {
        var rng = new Random(1821);
        int compared = 0;
        var differs = new int[2];
        foreach (var (layer, arch) in ClaimCases())
        {
            var space = new Mapspace(layer, arch);
            var problem = new SearchProblem(new MapProblem(layer, arch, Objective.Energy), deferOrders: true, imperfect: true);
            for (int i = 0; i < 100; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var m, factorization: Factorization.Imperfect)) continue;
                // The dominance made stronger: window ranks too, or a last group of one block merged into its DRAM count's class.
                var stronger = new Func<int, long, long, long>[]
                {
                    (r, n, f) => ImperfectLevelOne.LeastFactor(n, f),
                    (r, n, f) => ImperfectLevelOne.Alone(problem, r) ? (n + (n + f - 1) / f - 1) / ((n + f - 1) / f) : f,
                };
                for (int k = 0; k < stronger.Length; k++)
                    if (Canonical(layer, problem, m, stronger[k]) is { } x && Math.Abs(CostModel.Evaluate(layer, arch, x, Factorization.Imperfect).Energy - CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Energy) > 1e-6)
                        differs[k]++;
                if (Canonical(layer, problem, m, (r, n, f) => ImperfectLevelOne.Representative(problem, r, n, f)) is not { } c) continue;
                Assert.AreEqual(0, ValidityChecker.Check(layer, arch, c, Factorization.Imperfect).Count, $"{layer.Name} on {arch.Name}: {c}");
                double e = CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Energy;
                double ce = CostModel.Evaluate(layer, arch, c, Factorization.Imperfect).Energy;
                if (ce > e * (1 + 1e-9))
                    foreach (var (a, b) in CostModel.Evaluate(layer, arch, m, Factorization.Imperfect).Tensors.Zip(CostModel.Evaluate(layer, arch, c, Factorization.Imperfect).Tensors))
                        Console.WriteLine($"L{a.LevelIndex} {a.Tensor} tile {a.TileWords}/{b.TileWords} fills {a.TotalFills}/{b.TotalFills} reads {a.TotalReads}/{b.TotalReads} upd {a.TotalUpdates}/{b.TotalUpdates} E {a.Energy}/{b.Energy}");
                Assert.IsTrue(ce <= e * (1 + 1e-9), $"{layer.Name} {layer} on {arch.Name}: {Show(m)} costs {e}, with level 1's least factors {Show(c)} {ce}");
                Assert.AreEqual(e, ce, 1e-9 * e, $"{layer.Name} on {arch.Name}: {m}");
                compared++;
            }
        }
        Console.WriteLine($"{compared} mappings compared; the stronger dominances change {differs[0]} (window ranks) and {differs[1]} (a last block alone) energies");
        Assert.IsTrue(differs[0] > 0 && differs[1] > 0, "each exclusion of the dominance is needed on some mapping");
        Assert.IsTrue(compared >= 200, $"only {compared} mappings compared");
    }
}
