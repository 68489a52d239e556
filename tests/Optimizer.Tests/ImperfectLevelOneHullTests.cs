using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// What level 1 takes in per sweep of DRAM's loops when it keeps a tensor: the union of its tiles over DRAM's grid, gaps of a
/// strided window included (<see cref="ImperfectDramSweeps.LevelOneHull"/>; docs/mapspace.md, "Level 1 takes in its tiles,
/// gaps included"), against a brute-force union of the tiles and against the reference model's DRAM counts of random
/// imperfect mappings. Claims above the used words' are met exactly, so the union scaled up by 1.3 fails both.
/// </summary>
[TestClass]
public sealed class ImperfectLevelOneHullTests
{
    /// <summary>Strided 1-D convolutions whose window leaves gaps (R below the stride) and others, on two-level stacks.</summary>
    private static IEnumerable<(Einsum Layer, Architecture Arch)> Cases()
    {
        var rng = new Random(515);
        for (int i = 0; i < 24; i++)
            yield return (Layers.Conv1d($"gap{i}", c: 1 + rng.Next(3), k: 1 + rng.Next(3), p: 3 + rng.Next(6), r: 1 + rng.Next(2), stride: 2 + rng.Next(2)),
                TestMappings.TwoLevel(8 + rng.Next(40)));
        foreach (var c in ImperfectSearchTests.RandomCases(91, 24)) yield return c;
    }

    /// <summary>The union of level 1's tiles over every grid of DRAM's trips, counted word by word, equals <see cref="ImperfectDramSweeps.LevelOneHull"/> where it claims one.</summary>
    [TestMethod]
    public void TheHullIsTheUnionOfLevelOnesTiles()
    {
        int compared = 0, gapped = 0;
        foreach (var (layer, arch) in Cases())
        {
            var m = new SearchProblem(new MapProblem(layer, arch, Objective.Energy), deferOrders: true, imperfect: true);
            foreach (var t in m.Tensors)
            {
                // Every extent vector of level 1's tile: E per rank, DRAM's trips ceil(B / E).
                foreach (var ext in Extents(m.Bound, 0))
                {
                    var trips = m.Bound.Select((b, r) => (b + ext[r] - 1) / ext[r]).ToArray();
                    double hull = ImperfectDramSweeps.LevelOneHull(t, m.Bound, trips);
                    if (hull == 0) continue;
                    var words = new HashSet<string>();
                    foreach (var at in Extents(trips, 0, exact: true))
                    {
                        // The tile at this grid position: per rank its chunk [at E, min(B, (at + 1) E)).
                        var lo = at.Select((a, r) => a * ext[r]).ToArray();
                        var hi = lo.Select((l, r) => Math.Min(m.Bound[r], l + ext[r])).ToArray();
                        Box(t, lo, hi, 0, new long[m.Ranks], words);
                    }
                    Assert.AreEqual(words.Count, hull, 1e-9, $"{layer.Name}, {t.Spec.Id}, extents {string.Join(",", ext)}");
                    if (hull > t.UsedWords(m.Bound)) gapped++;
                    compared++;
                }
            }
        }
        Console.WriteLine($"{compared} unions compared, {gapped} above the used words");
        Assert.IsTrue(compared >= 500 && gapped >= 20, $"{compared} compared, {gapped} above the used words");
    }

    /// <summary>
    /// DRAM sends a tensor level 1 keeps at least the sweeps' claims with the union in place of the used words: DRAM's
    /// innermost loop (<see cref="ImperfectDramSweeps.LevelOneSweeps"/>) and each loop that clears it on its rewind
    /// (<see cref="ImperfectDramSweeps.OrderSweeps"/> less <see cref="ImperfectDramSweeps.OrderLoss"/>), against the reference
    /// model's DRAM reads of random imperfect mappings; some claims above the used words' are met exactly.
    /// </summary>
    [TestMethod]
    public void LevelOneTakesInTheUnionOfItsTilesPerSweep()
    {
        var rng = new Random(2032);
        int checkedClaims = 0, raised = 0, tight = 0;
        foreach (var (layer, arch) in Cases())
        {
            if (arch.Levels[0].Fanout.Size != 1) continue;
            var m = new SearchProblem(new MapProblem(layer, arch, Objective.Energy), deferOrders: true, imperfect: true);
            var space = new Mapspace(layer, arch);
            for (int n = 0; n < 60; n++)
            {
                if (!space.TrySampleValid(rng, 2000, out var mapping, factorization: Factorization.Imperfect)) continue;
                var report = CostModel.Evaluate(layer, arch, mapping, Factorization.Imperfect);
                var trips = m.RankIds.Select(r => mapping.Levels[0].TemporalFactor(r)).ToArray();
                var order = mapping.Levels[0].Temporal.Where(l => l.Factor > 1).Select(l => Array.IndexOf(m.RankIds, l.Rank)).ToArray();
                if (order.Length != order.Distinct().Count()) continue;
                int r0 = order.Length > 0 ? order[^1] : -1;
                foreach (var t in m.Tensors)
                {
                    if (t.IsOutput || !mapping.Levels[1].Keep.Contains(t.Spec.Id)) continue;
                    double dram = report.Tensors.Single(x => x.LevelIndex == 0 && x.Tensor == t.Spec.Id).Reads;
                    double used = t.UsedWords(m.Bound);
                    double hull = Math.Max(used, ImperfectDramSweeps.LevelOneHull(t, m.Bound, trips));
                    var claims = new List<(double Claim, double Used)> { (ImperfectDramSweeps.LevelOneSweeps(t, trips, r0) * hull, ImperfectDramSweeps.LevelOneSweeps(t, trips, r0) * used) };
                    foreach (var (_, _, sweeps, loss) in ImperfectDramSweepsTests.OrderClaims(t, order, m.Bound, trips))
                        claims.Add((sweeps * hull - loss, sweeps * used - loss));
                    foreach (var (claim, before) in claims)
                    {
                        Assert.IsTrue(dram >= claim - 1e-9, $"{layer.Name} on {arch.Name}, {mapping}: DRAM sends {t.Spec.Id} {dram} words, the union's claim is {claim}");
                        if (claim > before) raised++;
                        if (claim > before && Math.Abs(dram - claim) < 1e-9) tight++;
                        checkedClaims++;
                    }
                }
            }
        }
        Console.WriteLine($"{checkedClaims} claims checked, {raised} above the used words' claim, {tight} of them met exactly");
        Assert.IsTrue(checkedClaims >= 300 && tight >= 1, $"{checkedClaims} claims checked, {tight} raised claims met exactly");
    }

    /// <summary>Every vector with entries 1 to bound (or 0 to bound - 1 with <paramref name="exact"/>), rank by rank.</summary>
    private static IEnumerable<long[]> Extents(long[] bound, int r, bool exact = false)
    {
        if (r == bound.Length) { yield return new long[bound.Length]; yield break; }
        for (long e = exact ? 0 : 1; e < (exact ? bound[r] : bound[r] + 1); e++)
            foreach (var rest in Extents(bound, r + 1, exact))
            {
                rest[r] = e;
                yield return rest;
            }
    }

    /// <summary>Adds the words of t's tile over the ranks' values in [lo, hi) to <paramref name="words"/>: its bounding box, per dimension every index from the least to the largest the box reaches (as the model counts a tile, gaps included).</summary>
    private static void Box(SearchTensor t, long[] lo, long[] hi, int r, long[] at, HashSet<string> words)
    {
        int dims = t.Dims.Dimensions;
        var from = new long[dims];
        var to = new long[dims];
        for (int k = 0; k < dims; k++)
        {
            var rs = t.Dims.RanksOf(k);
            var cs = t.Dims.CoefficientsOf(k);
            for (int j = 0; j < rs.Length; j++)
            {
                long a = cs[j] * lo[rs[j]], b = cs[j] * (hi[rs[j]] - 1);
                from[k] += Math.Min(a, b);
                to[k] += Math.Max(a, b);
            }
        }
        var idx = new long[dims];
        Add(0);

        void Add(int k)
        {
            if (k == dims) { words.Add(string.Join(",", idx)); return; }
            for (long v = from[k]; v <= to[k]; v++) { idx[k] = v; Add(k + 1); }
        }
    }
}
