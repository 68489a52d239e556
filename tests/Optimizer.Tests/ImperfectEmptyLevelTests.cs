using Optimizer.Formulation;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The dominance among the factors of a level that keeps nothing in the imperfect branch and bound (docs/mapspace.md, "A
/// level that keeps nothing"): when no level below it keeps anything and the level above it has no fanout, its temporal
/// factors moved into the level above's loops (clipped to the bound) give a valid mapping of the same energy. Checked on
/// random imperfect mappings against the reference model, with the first condition shown to be needed (the second is a precaution: no sampled mapping needs it).
/// </summary>
[TestClass]
public sealed class ImperfectEmptyLevelTests
{
    /// <summary>
    /// The mapping with level d's temporal factors moved into level d - 1's loops (null when level d keeps something or
    /// has no factor above 1; into DRAM's, when d is 1, as the ceiling); the conditions of the dominance checked unless <paramref name="anyBelow"/> /
    /// <paramref name="anyFanout"/> waive them.
    /// </summary>
    internal static Mapping? Merged(Einsum layer, Mapping m, int d, bool anyBelow = false, bool anyFanout = false)
    {
        var level = m.Levels[d];
        if (d < 1 || level.Keep.Count > 0 || level.Temporal.All(l => l.Factor == 1)) return null;
        if (!anyBelow && m.Levels.Skip(d + 1).Any(l => l.Keep.Count > 0)) return null;
        if (!anyFanout && m.Levels[d - 1].Spatial.Any(l => l.Factor > 1)) return null;
        var above = m.Levels[d - 1].Temporal.ToList();
        foreach (var loop in level.Temporal.Where(l => l.Factor > 1))
        {
            long bound = layer.Ranks.Single(r => r.Id == loop.Rank).Bound;
            long inner = Math.Min(bound, m.TileExtent(d + 1, loop.Rank) * level.SpatialFactor(loop.Rank));
            long outer = Math.Min(bound, m.TileExtent(d - 1, loop.Rank) / Math.Max(1, m.Levels[d - 1].SpatialFactor(loop.Rank)));
            int factor = (int)((outer + inner - 1) / inner);
            int at = above.FindIndex(l => l.Rank == loop.Rank);
            if (at >= 0) above[at] = new TemporalLoop(loop.Rank, factor);
            else above.Add(new TemporalLoop(loop.Rank, factor));
        }
        var levels = m.Levels.ToList();
        levels[d - 1] = new LevelMapping(above, m.Levels[d - 1].Spatial, m.Levels[d - 1].Keep);
        levels[d] = new LevelMapping(level.Temporal.Where(l => l.Factor == 1).ToList(), level.Spatial, level.Keep);
        return new Mapping(levels);
    }

    [TestMethod]
    public void AnEmptyLevelsFactorsMoveIntoTheLevelAboveAtTheSameEnergy()
    {
        int compared = 0;
        var differs = new int[2];
        foreach (var (layer, arch, m, e, d) in ImperfectLevelOneTests.SampledLevels(2121))
        {
            // Each condition waived alone: the energies must differ on some mapping.
            var waived = new[] { Merged(layer, m, d, anyBelow: true), Merged(layer, m, d, anyFanout: true) };
            for (int k = 0; k < waived.Length; k++)
                if (waived[k] is { } w && ValidityChecker.Check(layer, arch, w, Factorization.Imperfect).Count == 0
                    && Math.Abs(CostModel.Evaluate(layer, arch, w, Factorization.Imperfect).Energy - e) > 1e-6 * e)
                    differs[k]++;
            if (Merged(layer, m, d) is not { } x) continue;
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, x, Factorization.Imperfect).Count, $"{layer.Name} on {arch.Name}, level {d}: {x}");
            Assert.AreEqual(e, CostModel.Evaluate(layer, arch, x, Factorization.Imperfect).Energy, 1e-9 * e, $"{layer.Name} on {arch.Name}, level {d}");
            compared++;
        }
        Console.WriteLine($"{compared} mappings compared; waiving a condition changes {differs[0]} (a level below keeps something) and {differs[1]} (a fanout above) energies");
        Assert.IsTrue(compared >= 100, $"only {compared} mappings compared");
        // No fanout above: kept as a precaution, no sampled mapping needs it (differs[1] is 0 here).
        Assert.IsTrue(differs[0] > 0, "the condition that nothing below keeps anything is needed on some mapping");
    }
}
