using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// `bench fusion-cases[:plain|:pipeline|:halos][:small][:edp] [count [seed]]`: the fused search (latency or EDP, or EDP alone
/// with `:edp`; plain, with pipelined groups, which latency and EDP search over the full mapspace, or with kept halos over the
/// template) on random small GEMM and convolution chains and random three-level machines, one
/// line per case with its inputs, status, value and groups. Diffing two runs, one with a dominance rule weakened by hand,
/// finds the cases that rule decides: that is how tests/Optimizer.Tests/FusionDominanceTests.cs got its cases
/// (docs/fusion.md, "How the dominance rules are tested"). The cases depend only on the seed.
/// </summary>
public static class FusionCases
{
    /// <summary>Runs <paramref name="count"/> cases from <paramref name="seed"/> (20 s limit each).</summary>
    public static void Run(string name, int count, int seed)
    {
        var parts = name.Split(':').Skip(1).ToHashSet();
        int? mode = parts.Contains("plain") ? 0 : parts.Contains("pipeline") ? 1 : parts.Contains("halos") ? 2 : null;
        bool small = parts.Contains("small"), edp = parts.Contains("edp");
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            Workload w;
            string desc;
            if (rng.Next(2) == 0 && mode != 2)
            {
                int m = new[] { 2, 4, 8 }[rng.Next(3)];
                int len = small ? 2 : 2 + rng.Next(2);
                var sizes = Enumerable.Range(0, len + 1).Select(_ => new[] { 2, 4, 8 }[rng.Next(3)]).ToArray();
                w = new Workload("gemms", "chain", sizes.Skip(1).Select((n, j) => Layers.Gemm($"g{j}", m, n, sizes[j], a: $"T{j}", b: $"W{j}", z: $"T{j + 1}")).ToList());
                desc = $"gemm m={m} sizes={string.Join(",", sizes)}";
            }
            else
            {
                int len = small ? 2 : 2 + rng.Next(2), p = new[] { 4, 6, 8 }[rng.Next(3)], r = mode == 2 ? 3 : 1 + 2 * rng.Next(2);
                var chans = Enumerable.Range(0, len + 1).Select(_ => 1 + rng.Next(3)).ToArray();
                w = new Workload("convs", "chain", Enumerable.Range(0, len).Select(j => Layers.Conv1d($"c{j}", c: chans[j], k: chans[j + 1],
                    p: p + (len - 1 - j) * (r - 1), r: r, inputs: j == 0 ? "X" : $"Y{j - 1}", weights: $"c{j}_w", outputs: $"Y{j}")).ToList());
                desc = $"conv p={p} r={r} chans={string.Join(",", chans)}";
            }
            long buffer = 12 + rng.Next(120);
            int fx = new[] { 1, 2, 4 }[rng.Next(3)], fy = new[] { 1, 1, 2 }[rng.Next(3)];
            double? bufRead = rng.Next(2) == 0 ? null : 1 + rng.Next(4);
            var a = new Architecture("tiny", "small", [
                new StorageLevel("DRAM", null, 16, 100, 100, readBandwidth: 1 + rng.Next(3), writeBandwidth: 1 + rng.Next(2)),
                new StorageLevel("Buffer", buffer, 16, 3 + rng.Next(8), 6, readBandwidth: bufRead, fanout: fx * fy > 1 ? new Fanout(fx, fy) : null),
                new StorageLevel("Reg", 3 + rng.Next(8), 16, 1, 1, keeps: rng.Next(2) == 0 ? null : [TensorRole.Weights, TensorRole.Outputs]),
            ], new ComputeUnit(0.5, new[] { 1, 2, 4, 16 }[rng.Next(4)]));
            var o = rng.Next(2) == 0 && !edp ? Objective.Latency : Objective.Edp;
            int kind = rng.Next(3);
            if (mode is { } forced) kind = forced;
            string res;
            try
            {
                var r = new FusionSearch(new FusionProblem(w, a, o, Pipeline: kind == 1, KeepHalos: kind == 2, TemplateOnly: kind == 2)).Solve(new SearchLimits(TimeSpan.FromSeconds(20)));
                res = $"{r.Status} {r.Best?.ToString("R", CultureInfo.InvariantCulture)} groups={(r.Mapping is null ? "-" : string.Join("|", r.Mapping.Groups.Select(g => $"{g.First}..{g.Last}{(g.Pipelined ? "p" : "")}{(g.KeepHalos ? "k" : "")}")))}{(r.Status == SolveStatus.Optimal ? "" : $" ({r.Explanation})")}";
            }
            catch (Exception e) { res = $"{e.GetType().Name}: {e.Message}"; }
            Console.WriteLine(FormattableString.Invariant($"{i} {(kind == 1 ? "pipeline" : kind == 2 ? "halos" : "plain")} {o} {desc} buffer={buffer} read-energy={a.Levels[1].ReadEnergy} read-bandwidth={bufRead?.ToString(CultureInfo.InvariantCulture) ?? "-"} dram={a.Levels[0].ReadBandwidth},{a.Levels[0].WriteBandwidth} fanout={fx}x{fy} reg={a.Levels[2].Capacity} reg-keeps={a.Levels[2].Keeps.Count} macs={a.Compute.MacsPerCycle}: {res}"));
        }
    }
}
