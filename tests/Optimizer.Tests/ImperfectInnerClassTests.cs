using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The dominance among an inner level's factors of the imperfect branch and bound (docs/mapspace.md, "An inner level's
/// factors per count of blocks"): at a level d of 2 or more, a rank that indexes every tensor only alone in a dimension and
/// that no level above d splits spatially, with N blocks inside level d's loop, matters to the levels above only through
/// the count of d's tiles <c>ceil(N / f)</c>; the least factor of each count (<see cref="ImperfectLevelOne.LeastFactor"/>)
/// gives a valid mapping whenever another does, at no more energy. Checked on random imperfect mappings against the reference model.
/// </summary>
[TestClass]
public sealed class ImperfectInnerClassTests
{
    /// <summary>Mapping m with level d's temporal factor of every rank where <paramref name="applies"/> holds replaced by
    /// <paramref name="representative"/>(N, f) (null: nothing changes).</summary>
    internal static Mapping? Canonical(Einsum layer, Mapping m, int d, Func<RankId, bool> applies, Func<long, long, long> representative)
    {
        bool changed = false;
        var temporal = m.Levels[d].Temporal.Select(loop =>
        {
            if (!applies(loop.Rank)) return loop;
            long bound = layer.Ranks.Single(r => r.Id == loop.Rank).Bound;
            long inner = Math.Min(bound, m.TileExtent(d + 1, loop.Rank) * m.Levels[d].SpatialFactor(loop.Rank));
            long n = (bound + inner - 1) / inner;
            long least = representative(n, loop.Factor);
            Assert.IsTrue(least <= loop.Factor && (n + least - 1) / least == (n + loop.Factor - 1) / loop.Factor);
            changed |= least != loop.Factor;
            return new TemporalLoop(loop.Rank, (int)least);
        }).ToList();
        if (!changed) return null;
        var levels = m.Levels.ToList();
        levels[d] = new LevelMapping(temporal, m.Levels[d].Spatial, m.Levels[d].Keep);
        return new Mapping(levels);
    }

    private static bool NoSpatialAbove(Mapping m, int d, RankId r)
    {
        for (int e = 0; e < d; e++) if (m.Levels[e].SpatialFactor(r) != 1) return false;
        return true;
    }

    [TestMethod]
    public void AnInnerLevelsLeastFactorPerCountIsValidAndNoDearer()
    {
        int compared = 0, equal = 0;
        var dearer = new int[3];
        var problems = new Dictionary<(string, string), SearchProblem>();
        foreach (var (layer, arch, m, e, d) in ImperfectLevelOneTests.SampledLevels(2144))
        {
            if (d < 2) continue;
            if (!problems.TryGetValue((layer.Name + layer, arch.Name), out var problem))
                problems[(layer.Name + layer, arch.Name)] = problem = new SearchProblem(new MapProblem(layer, arch, Objective.Energy), deferOrders: true, imperfect: true);
            int Index(RankId r) => Array.IndexOf(problem.RankIds, r);
            bool Alone(RankId r) => Index(r) < 0 || ImperfectLevelOne.Alone(problem, Index(r));
            // The dominance made stronger: window ranks too; a rank split spatially above d too; a last tile of one block merged.
            var stronger = new (Func<RankId, bool> Applies, Func<long, long, long> Rep)[]
            {
                (r => NoSpatialAbove(m, d, r), ImperfectLevelOne.LeastFactor),
                (r => Alone(r), ImperfectLevelOne.LeastFactor),
                (r => Alone(r) && NoSpatialAbove(m, d, r), (n, f) => (n + (n + f - 1) / f - 1) / ((n + f - 1) / f)),
            };
            for (int k = 0; k < stronger.Length; k++)
                if (Canonical(layer, m, d, stronger[k].Applies, stronger[k].Rep) is { } x
                    && ValidityChecker.Check(layer, arch, x, Factorization.Imperfect).Count == 0
                    && CostModel.Evaluate(layer, arch, x, Factorization.Imperfect).Energy > e * (1 + 1e-9))
                    dearer[k]++;
            if (Canonical(layer, m, d, r => Alone(r) && NoSpatialAbove(m, d, r), ImperfectLevelOne.LeastFactor) is not { } c) continue;
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, c, Factorization.Imperfect).Count, $"{layer.Name} on {arch.Name}: {c}");
            double ce = CostModel.Evaluate(layer, arch, c, Factorization.Imperfect).Energy;
            Assert.IsTrue(ce <= e * (1 + 1e-9), $"{layer.Name} {layer} on {arch.Name}, level {d}: {m} costs {e}, with the least factors {c} {ce}");
            compared++;
            if (Math.Abs(ce - e) <= 1e-9 * e) equal++;
        }
        Console.WriteLine($"{compared} mappings compared, {equal} equal; dearer with window ranks {dearer[0]}, spatial above {dearer[1]}, a last block merged {dearer[2]}");
        Assert.IsTrue(compared >= 200, $"only {compared} mappings compared");
        Assert.IsTrue(dearer[2] > 0, "a last tile of one block is a class of its own on some mapping");
    }

    /// <summary>
    /// The branch and bound finds the enumeration's optimum on two 1-D convolutions (K 9 and 11 over a weights scratchpad of
    /// 4 words) on an Eyeriss-like stack, where levels 2 and inward split K imperfectly (re-checked and re-costed). With the
    /// inner levels held to factors 1, N and the least of two tiles (a dominance too strong), both optima are missed.
    /// </summary>
    [TestMethod]
    public void TheSearchEqualsTheEnumerationOnAnEyeLikeStack()
    {
        foreach (var layer in new[] { Layers.Conv1d("k9p4", c: 1, k: 9, p: 4, r: 1), Layers.Conv1d("k11p3", c: 1, k: 11, p: 3, r: 1) })
        {
            var arch = ImperfectPassesTests.Eyelike(4);
            ImperfectSharedStepsTests.SearchEqualsEnumeration(layer, arch);
        }
    }
}
