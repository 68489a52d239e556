using Optimizer.Formulation;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The dominance among the factors of a level's free ranks in the imperfect branch and bound (docs/mapspace.md, "A rank
/// no kept tensor of a level indexes"): when level d keeps something, no level below it keeps anything and level d - 1 has
/// no fanout, level d's temporal loop over a rank that indexes none of level d's tensors (K under an input scratchpad)
/// moved into level d - 1's loops as its innermost one (the factor the two made, clipped to the bound) gives a valid
/// mapping of no more energy, and of the same energy when the rank's loop at d - 1 was already innermost or absent (the
/// class conv5_1_b's tie children form). Checked on random imperfect mappings against the reference model, each condition
/// and the innermost placement shown to be needed.
/// </summary>
[TestClass]
public sealed class ImperfectFreeRankTests
{
    /// <summary>
    /// The mapping with level d's temporal loops over its free ranks (factor above 1, indexing none of level d's kept
    /// tensors) moved into level d - 1's loops, innermost (or, with <paramref name="inPlace"/>, where the rank's loop at
    /// d - 1 stands); null when the case does not arise. <paramref name="anyBelow"/> / <paramref name="anyFanout"/> waive
    /// the conditions. <paramref name="innermost"/> tells whether every moved rank's loop at d - 1 was absent or innermost.
    /// </summary>
    internal static Mapping? Moved(Einsum layer, Mapping m, int d, out bool innermost, bool anyBelow = false, bool anyFanout = false, bool inPlace = false)
    {
        innermost = true;
        var level = m.Levels[d];
        if (d < 1 || level.Keep.Count == 0) return null;
        if (!anyBelow && m.Levels.Skip(d + 1).Any(l => l.Keep.Count > 0)) return null;
        if (!anyFanout && m.Levels[d - 1].Spatial.Any(l => l.Factor > 1)) return null;
        var kept = layer.Tensors.Where(t => level.Keep.Contains(t.Id)).ToList();
        var free = level.Temporal.Where(l => l.Factor > 1 && kept.All(t => !t.IsIndexedBy(l.Rank))).ToList();
        if (free.Count == 0) return null;
        var above = m.Levels[d - 1].Temporal.ToList();
        var appended = new List<TemporalLoop>();
        foreach (var loop in free)
        {
            long bound = layer.Ranks.Single(r => r.Id == loop.Rank).Bound;
            long inner = Math.Min(bound, m.TileExtent(d + 1, loop.Rank) * level.SpatialFactor(loop.Rank));
            long outer = Math.Min(bound, m.TileExtent(d - 1, loop.Rank) / Math.Max(1, m.Levels[d - 1].SpatialFactor(loop.Rank)));
            var moved = new TemporalLoop(loop.Rank, (int)((outer + inner - 1) / inner));
            int at = above.FindIndex(l => l.Rank == loop.Rank);
            if (at >= 0 && above[at].Factor > 1 && above.Skip(at + 1).Any(l => l.Factor > 1)) innermost = false;
            if (inPlace && at >= 0) above[at] = moved;
            else
            {
                if (at >= 0) above.RemoveAt(at);
                appended.Add(moved);
            }
        }
        above.AddRange(appended);
        var levels = m.Levels.ToList();
        levels[d - 1] = new LevelMapping(above, m.Levels[d - 1].Spatial, m.Levels[d - 1].Keep);
        levels[d] = new LevelMapping(level.Temporal.Where(l => !free.Contains(l)).ToList(), level.Spatial, level.Keep);
        return new Mapping(levels);
    }

    [TestMethod]
    public void AFreeRanksLoopMovedInnermostIntoTheLevelAboveCostsNoMore()
    {
        int compared = 0, equal = 0, strictly = 0;
        var dearer = new int[3];
        foreach (var (layer, arch, m, e, d) in ImperfectLevelOneTests.SampledLevels(2131))
        {
            // Each condition waived alone, and the loop left where it stood: some mapping must cost more.
            var waived = new[] { Moved(layer, m, d, out _, anyBelow: true), Moved(layer, m, d, out _, anyFanout: true), Moved(layer, m, d, out _, inPlace: true) };
            for (int k = 0; k < waived.Length; k++)
                if (waived[k] is { } w && ValidityChecker.Check(layer, arch, w, Factorization.Imperfect).Count == 0
                    && CostModel.Evaluate(layer, arch, w, Factorization.Imperfect).Energy > e * (1 + 1e-9))
                    dearer[k]++;
            if (Moved(layer, m, d, out bool innermost) is not { } x) continue;
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, x, Factorization.Imperfect).Count, $"{layer.Name} on {arch.Name}, level {d}: {x}");
            double xe = CostModel.Evaluate(layer, arch, x, Factorization.Imperfect).Energy;
            Assert.IsTrue(xe <= e * (1 + 1e-9), $"{layer.Name} on {arch.Name}, level {d}: {m} costs {e}, moved {x} {xe}");
            if (innermost) { Assert.AreEqual(e, xe, 1e-9 * e, $"{layer.Name} on {arch.Name}, level {d}: {m}"); equal++; }
            else if (xe < e * (1 - 1e-9)) strictly++;
            compared++;
        }
        Console.WriteLine($"{compared} mappings compared ({equal} in the class, equal; {strictly} cheaper moved); waived, dearer: {dearer[0]} (a level below keeps something), {dearer[1]} (a fanout above), {dearer[2]} (the loop left in place)");
        Assert.IsTrue(compared >= 100 && equal >= 50, $"only {compared} mappings compared, {equal} in the class");
        Assert.IsTrue(dearer[0] > 0, "the condition that nothing below keeps anything is needed on some mapping");
        Assert.IsTrue(dearer[2] > 0, "the innermost placement is needed on some mapping");
    }
}
