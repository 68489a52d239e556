using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The fused searches' dominance rules (docs/fusion.md, "Dominance", "Halos", "Pipelined latency") against brute force
/// on cases where each rule, made too strong, loses the optimum. The cases were found by running the searches with each
/// rule weakened by one dimension over 600 random small chains and keeping those whose answer changed
/// (docs/fusion.md, "How the dominance rules are tested"); the random cases of the other fusion tests do not separate them.
/// </summary>
[TestClass]
public sealed class FusionDominanceTests
{
    /// <summary>DRAM with separate read and write bandwidths, a buffer over a fanout, a register (all roles, or weights and outputs).</summary>
    private static Architecture Arch(long buffer, double bufferRead, double? bufferBandwidth, int dramRead, int dramWrite, int fx, int fy, long reg, bool regKeepsAll, int macs)
        => new("tiny", "small", [
            new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: dramRead, writeBandwidth: dramWrite),
            new StorageLevel("Buffer", buffer, 16, bufferRead, 6, readBandwidth: bufferBandwidth, fanout: fx * fy > 1 ? new Fanout(fx, fy) : null),
            new StorageLevel("Reg", reg, 16, 1, 1, keeps: regKeepsAll ? null : [TensorRole.Weights, TensorRole.Outputs]),
        ], new ComputeUnit(0.5, macs));

    /// <summary>A chain of 1-D convolutions with window r, the last layer's output p wide, channels as given.</summary>
    private static Workload Convs(int p, int r, params int[] channels)
    {
        int n = channels.Length - 1;
        return new("convs", "a convolution chain", Enumerable.Range(0, n).Select(j => Layers.Conv1d($"c{j}", c: channels[j], k: channels[j + 1],
            p: p + (n - 1 - j) * (r - 1), r: r, inputs: j == 0 ? "X" : $"Y{j - 1}", weights: $"c{j}_w", outputs: $"Y{j}")).ToList());
    }

    private static void AssertEqualsBruteForce(FusionProblem p, string name, Func<FusedMapping, bool> shape)
    {
        var search = new FusionSearch(p);
        var r = search.Solve(SearchLimits.None);
        var (brute, best, count) = p.FullMapspace ? search.BruteForceFull(keepHalos: p.KeepHalos) : search.BruteForce(keepHalos: p.KeepHalos);
        Assert.AreEqual(SolveStatus.Optimal, r.Status, name);
        Assert.IsNotNull(brute, $"{name}: brute force found nothing over {count} fused mappings");
        Console.WriteLine($"{name}: {count} fused mappings enumerated, optimum {best:G6}, answer {string.Join(" | ", r.Mapping!.Groups.Select(g => $"{g.First}..{g.Last}"))}");
        Assert.AreEqual(best, r.Best!.Value, best * 1e-9, $"{name}: search {r.Best} vs brute force {best} over {count}");
        Assert.IsTrue(shape(r.Mapping), $"{name}: the optimum no longer has the group this case was chosen for, so it tests nothing");
    }

    // The template's classes and the join keep every (energy, cycles) Pareto point: pruning on energy alone changes these answers
    // (EDP and latency over the template: TemplateOnly, since either alone searches the full mapspace).
    [TestMethod]
    public void TheTemplatesParetoPruningKeepsTheOptimum()
    {
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 1, 1, 1, 1), Arch(83, 8, null, 3, 1, 4, 1, 4, false, 2), Objective.Edp, TemplateOnly: true), "conv chain, EDP", m => m.Groups.Count == 1);
        AssertEqualsBruteForce(new FusionProblem(FusionPipelineTests.Gemms(4, 4, 8, 2), Arch(20, 3, 2, 3, 2, 1, 1, 4, false, 1), Objective.Edp, TemplateOnly: true), "GEMM chain, EDP", m => m.Groups.Count == 1);
        AssertEqualsBruteForce(new FusionProblem(Convs(6, 3, 1, 2, 3), Arch(120, 10, null, 3, 2, 4, 2, 8, true, 1), Objective.Latency, TemplateOnly: true), "conv chain with halos, latency", m => m.Groups.Count == 1);
    }

    // A pipelined member's mappings are pruned on (energy, every resource demand, every level's words) and combinations on
    // (energy, completed steps' demand, open steps' sums); leaving out any one of these changes one of these answers.
    [TestMethod]
    public void ThePipelinedSearchsDominanceKeepsTheOptimum()
    {
        AssertEqualsBruteForce(new FusionProblem(FusionPipelineTests.Gemms(8, 2, 8, 2), Arch(110, 7, 4, 1, 2, 4, 1, 8, true, 1), Objective.Latency, Pipeline: true, TemplateOnly: true),
            "GEMM chain, latency, pipelined", m => m.Groups.Any(g => g.Pipelined));
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 3, 3, 1, 2), Arch(52, 5, null, 2, 1, 2, 1, 10, false, 16), Objective.Latency, Pipeline: true, TemplateOnly: true),
            "conv chain with halos, latency, pipelined", m => m.Groups.Any(g => g.Pipelined));
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 1, 1, 1, 3, 2), Arch(60, 6, 4, 1, 2, 1, 2, 8, false, 2), Objective.Edp, Pipeline: true, TemplateOnly: true),
            "conv chain, EDP, pipelined", m => m.Groups.Any(g => g.Pipelined));
    }

    // Latency with --pipeline over the full mapspace (docs/fusion.md, "Pipelined groups over the full mapspace"), without the
    // template's starting members: a pipelined group's bound (its members' largest cycle floor, their compute summed) scaled
    // by 1.3 skips the group of the optimum on the first case (29 cycles instead of 26); the members' mappings from their whole
    // classes are pruned on (energy, every resource demand, every level's words): with the demands replaced by the member's cycles
    // the third case changes (found by running the search both ways over random small chains).
    [TestMethod]
    public void ThePipelinedSearchOverTheFullMapspaceKeepsTheOptimum()
    {
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 1, 1, 1, 3), Arch(47, 2, 4, 1, 1, 2, 1, 5, false, 2), Objective.Latency, Pipeline: true) { SeedFromTemplate = false },
            "conv chain, latency, pipelined, full mapspace", m => m.Groups.Any(g => g.Pipelined));
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 3, 3, 1, 2), Arch(52, 5, null, 2, 1, 2, 1, 10, false, 16), Objective.Latency, Pipeline: true) { SeedFromTemplate = false },
            "conv chain with halos, latency, pipelined, full mapspace", m => m.Groups.Any(g => g.Pipelined));
        // Pruned on (energy, cycles, words) instead of every demand, this one answers 22 cycles instead of 21.
        AssertEqualsBruteForce(new FusionProblem(Convs(6, 1, 2, 3, 1, 2), Arch(78, 4, 3, 3, 2, 4, 1, 8, false, 1), Objective.Latency, Pipeline: true) { SeedFromTemplate = false },
            "3-conv chain, latency, pipelined, full mapspace", m => m.Groups.Any(g => g.Pipelined));
    }

    // EDP with --pipeline over the full mapspace (docs/fusion.md, "Pipelined groups in EDP over the full mapspace"): a searched
    // group keeps every (energy, cycles) Pareto point of its combinations, its value at each lambda the least E + lambda C
    // over them. Pruned to its least-energy point alone, this case answers OPTIMAL 146,723 instead of 145,590 (found by
    // `bench fusion-cases:pipeline:small:edp 60 9`, case 55, run both ways).
    [TestMethod]
    public void ThePipelinedEdpSearchOverTheFullMapspaceKeepsEveryParetoPoint()
    {
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 1, 3, 1, 2), Arch(78, 5, 1, 1, 2, 1, 1, 6, true, 2), Objective.Edp, Pipeline: true),
            "conv chain, EDP, pipelined, full mapspace", m => m.Groups.Any(g => g.Pipelined));
    }

    // Groups that keep their halos are combined member by member and pruned to (energy, cycles) Pareto points.
    [TestMethod]
    public void TheKeptHalosParetoPruningKeepsTheOptimum()
    {
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 3, 2, 2, 3), Arch(27, 9, null, 3, 1, 4, 1, 5, false, 1), Objective.Edp, KeepHalos: true, TemplateOnly: true),
            "conv chain, EDP, halos kept", m => m.Groups.Any(g => g.KeepHalos));
        AssertEqualsBruteForce(new FusionProblem(Convs(8, 3, 3, 3, 3), Arch(39, 10, 2, 2, 2, 2, 1, 7, true, 1), Objective.Edp, KeepHalos: true, TemplateOnly: true),
            "conv chain 3 channels, EDP, halos kept", m => m.Groups.Any(g => g.KeepHalos));
    }
}
