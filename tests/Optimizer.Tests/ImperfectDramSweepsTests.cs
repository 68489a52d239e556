using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The claims of <see cref="ImperfectDramSweeps"/> (docs/mapspace.md, "DRAM's sweeps") against the reference model's DRAM
/// counts of random imperfect mappings, tensor by tensor: what DRAM sends a tensor level 1 keeps (its visits there), and a
/// tensor level 1 does not keep, given the mapping's DRAM trips, innermost DRAM loop and level 1's keep set. The cases
/// include ones where a claim is met exactly, so a claim scaled up fails.
/// </summary>
[TestClass]
public sealed class ImperfectDramSweepsTests
{
    /// <summary>DRAM, a buffer that keeps only outputs, and a small register that keeps the operands: the operands pass level 1.</summary>
    private static Architecture Bypass(long buffer, long register) => new("bypass", "test", [
        new StorageLevel("DRAM", null, 16, 100, 100),
        new StorageLevel("Buffer", buffer, 16, 3, 3, keeps: [TensorRole.Outputs]),
        new StorageLevel("Reg", register, 16, 1, 1, keeps: [TensorRole.Inputs, TensorRole.Weights]),
    ], new ComputeUnit(1));

    private static IEnumerable<(Einsum Layer, Architecture Arch)> Cases()
    {
        var rng = new Random(4242);
        for (int i = 0; i < 16; i++)
            yield return (Layers.Gemm($"g{i}", m: 2 + rng.Next(5), n: 1 + rng.Next(4), k: 1 + rng.Next(4)), Bypass(4 + rng.Next(24), 1 + rng.Next(4)));
        foreach (var c in ImperfectSearchTests.RandomCases(31, 24)) yield return c;
    }

    [TestMethod]
    public void DramSendsEveryTensorAtLeastWhatTheSweepsClaim()
    {
        var rng = new Random(2026);
        int checkedTensors = 0, tightKept = 0, tightFresh = 0, tightCarry = 0;
        foreach (var (layer, arch) in Cases())
        {
            if (arch.Levels[0].Fanout.Size != 1) continue;
            var m = new SearchProblem(new MapProblem(layer, arch, Objective.Energy), deferOrders: true, imperfect: true);
            var space = new Mapspace(layer, arch);
            for (int i = 0; i < 40; i++)
            {
                if (!space.TrySampleValid(rng, 2000, out var mapping, factorization: Factorization.Imperfect)) continue;
                var report = CostModel.Evaluate(layer, arch, mapping, Factorization.Imperfect);
                var trips = m.RankIds.Select(r => mapping.Levels[0].TemporalFactor(r)).ToArray();
                int r0 = -1;
                foreach (var loop in mapping.Levels[0].Temporal) if (loop.Factor > 1) r0 = Array.IndexOf(m.RankIds, loop.Rank);
                foreach (var t in m.Tensors)
                {
                    var row = report.Tensors.Single(x => x.LevelIndex == 0 && x.Tensor == t.Spec.Id);
                    double dram = t.IsOutput ? row.Updates : row.Reads;
                    double used = t.UsedWords(m.Bound);
                    double claim;
                    if (mapping.Levels[1].Keep.Contains(t.Spec.Id))
                    {
                        double sweeps = ImperfectDramSweeps.LevelOneSweeps(t, trips, r0);
                        claim = sweeps * used;
                        if (sweeps > 1 && dram == claim) tightKept++;
                    }
                    else
                    {
                        double held = ImperfectDramSweeps.Held(m, t);
                        claim = ImperfectDramSweeps.BypassWords(t, m.Bound, trips, r0, used, held);
                        bool fresh = r0 >= 0 && t.PlainDimRank[r0];
                        if (dram == claim && claim > used && fresh) tightFresh++;
                        if (dram == claim && claim > used && !fresh) tightCarry++;
                    }
                    Assert.IsTrue(dram >= claim, $"{layer.Name} on {arch.Name}, {mapping}: DRAM sends {t.Spec.Id} {dram} words, the sweeps claim at least {claim}");
                    checkedTensors++;
                }
            }
        }
        Console.WriteLine($"{checkedTensors} tensors checked; met exactly: {tightKept} kept by level 1, {tightFresh} passing it with r0 indexing them, {tightCarry} passing it with later iterations kept in part");
        Assert.IsTrue(checkedTensors >= 1000, $"only {checkedTensors} tensors checked");
        Assert.IsTrue(tightKept >= 1 && tightFresh >= 1 && tightCarry >= 1, $"claims met exactly: {tightKept}, {tightFresh}, {tightCarry}");
    }
}
