using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// <c>map --shapes</c> at scale on tpu-v4i (issue 21, docs/shapes.md): BERT-base's FF1 layer with a sequence-length trace
/// and a mixture-of-experts expert layer with a tokens-per-expert trace, each 1,000 requests from a fixed-seed generator.
/// Per case: each shape's own optimum (<see cref="ShapeSearch.OwnOptima"/>), the one mapping for the mean and the max
/// energy started from them, the branch and bound alone (floors, no own optima), 4 buckets, and the regret table; then
/// the time of the whole <c>--shapes</c> answer, and of the branch and bound alone, over 100 distinct shapes against one shape.
/// </summary>
public static class ShapeProofs
{
    /// <summary>Runs the benchmark with <paramref name="seconds"/> of time limit per search (the own optima share one such limit).</summary>
    public static void Run(double seconds)
    {
        var arch = Presets.Get("tpu-v4i");
        var ff1 = Zoo.Get("bert-base").Layers.Single(l => l.Name == "FF1");
        var bert = Trace(ff1, "M", SequenceLengths());
        var moeLayer = Layers.Gemm("expert", m: 256, n: 3072, k: 768);
        var moe = Trace(moeLayer, "M", TokensPerExpert());
        var limits = new SearchLimits(TimeSpan.FromSeconds(seconds));
        Console.WriteLine($"shape-proofs: tpu-v4i, energy, {seconds} s per search (the own optima share {seconds} s), one thread");
        // Warm-up (the JIT), so that the first search timed is not charged for it.
        Answer(new ShapeSearch(Trace(ff1, "M", [64, 32]), arch, Objective.Energy), limits, quiet: true);
        var (hundred, hundredCpu, alone100, alone100Cpu) = Case("BERT-base FF1, sequence lengths", bert, arch, limits);
        Case("MoE expert FFN, tokens per expert", moe, arch, limits);
        var one = new ShapeSearch(Trace(ff1, "M", [512]), arch, Objective.Energy);
        var cpu = UserCpu();
        var sw = Stopwatch.StartNew();
        Answer(one, limits, quiet: true);
        double single = sw.Elapsed.TotalSeconds, singleCpu = UserCpu() - cpu;
        cpu = UserCpu();
        var alone = one.Solve(ShapeStatistic.Mean, limits);
        double aloneCpu = UserCpu() - cpu;
        Console.WriteLine($"BERT-base FF1, 100 shapes against one (M=512), wall (process user CPU):");
        Console.WriteLine($"  --shapes answer (own optima + one mapping): 100 shapes {hundred:F1} s ({hundredCpu:F1} s), one shape {single:F1} s ({singleCpu:F1} s), ratio {hundred / single:F1} ({hundredCpu / singleCpu:F1})");
        Console.WriteLine($"  the branch and bound alone, mean: 100 shapes {alone100.Status} in {alone100.Elapsed.TotalSeconds:F1} s ({alone100Cpu:F1} s), " +
                          $"one shape {alone.Status} in {alone.Elapsed.TotalSeconds:F1} s ({aloneCpu:F1} s), ratio {alone100.Elapsed.TotalSeconds / alone.Elapsed.TotalSeconds:F1} ({alone100Cpu / aloneCpu:F1}); " +
                          $"{alone100.Pruned:N0} and {alone.Pruned:N0} nodes pruned, {alone100.Evaluations:N0} and {alone.Evaluations:N0} shape bounds");
    }

    /// <summary>
    /// The branch and bound alone (per-shape floors, no own optima) for the mean: BERT-base's FF1 over its 100 lengths, the
    /// MoE layer over its 98 counts, and BERT's FF1 at M = 512 alone, with the ratio of the first to the last.
    /// </summary>
    public static void RunAlone(double seconds)
    {
        var arch = Presets.Get("tpu-v4i");
        var ff1 = Zoo.Get("bert-base").Layers.Single(l => l.Name == "FF1");
        var limits = new SearchLimits(TimeSpan.FromSeconds(seconds));
        Console.WriteLine($"shape-proofs:alone: tpu-v4i, energy, mean, the branch and bound alone, {seconds} s per search, one thread");
        // Warm-up (the JIT), a few seconds.
        new ShapeSearch(Trace(ff1, "M", [64, 32]), arch, Objective.Energy).Solve(ShapeStatistic.Mean, new SearchLimits(TimeSpan.FromSeconds(3)));
        (ShapeAnswer Answer, double Cpu) Alone(string name, ShapeTrace trace)
        {
            double cpu = UserCpu();
            var answer = new ShapeSearch(trace, arch, Objective.Energy).Solve(ShapeStatistic.Mean, limits);
            cpu = UserCpu() - cpu;
            Console.WriteLine(Line(name, answer.Status, answer.Best, answer.Bound, answer.GapPercent, answer.Elapsed.TotalSeconds) +
                              $"  ({cpu:F1} s user)  {answer.Evaluations:N0} shape bounds, {answer.Pruned:N0} nodes pruned");
            return (answer, cpu);
        }
        var (bert, bertCpu) = Alone("BERT-base FF1, 100 lengths", Trace(ff1, "M", SequenceLengths()));
        Alone("MoE expert FFN, 98 counts", Trace(Layers.Gemm("expert", m: 256, n: 3072, k: 768), "M", TokensPerExpert()));
        var (one, oneCpu) = Alone("BERT-base FF1, M = 512 alone", Trace(ff1, "M", [512]));
        Console.WriteLine($"  ratio 100 lengths / one: {bert.Elapsed.TotalSeconds / one.Elapsed.TotalSeconds:F1} wall ({bertCpu / oneCpu:F1} user CPU)");
    }

    /// <summary>Own optima, then the one mapping for the mean started from them; returns the seconds both took.</summary>
    private static (IReadOnlyList<SolveResult> Own, ShapeAnswer Mean, double Seconds) Answer(ShapeSearch search, SearchLimits limits, bool quiet = false)
    {
        var sw = Stopwatch.StartNew();
        var own = search.OwnOptima(limits);
        double ownSeconds = sw.Elapsed.TotalSeconds;
        var mean = search.Solve(ShapeStatistic.Mean, limits, own: own);
        if (!quiet)
            Console.WriteLine($"  own optima: {own.Count(o => o.Status == SolveStatus.Optimal)} of {own.Count} proved in {ownSeconds:F1} s");
        return (own, mean, sw.Elapsed.TotalSeconds);
    }

    private static string Line(string what, SolveStatus status, double? best, double bound, double? gap, double seconds)
        => $"  {what,-44} {status,-9} {best,12:G6}  bound {bound,12:G6}  gap {gap ?? double.NaN,6:F3} %  {seconds,7:F1} s";

    /// <summary>The process's user CPU seconds so far (every thread, the runtime's included).</summary>
    private static double UserCpu() => Process.GetCurrentProcess().UserProcessorTime.TotalSeconds;

    /// <summary>One case; returns the --shapes answer's wall and user CPU seconds, and the branch and bound alone with its user CPU seconds.</summary>
    private static (double Seconds, double Cpu, ShapeAnswer Alone, double AloneCpu) Case(string name, ShapeTrace trace, Architecture arch, SearchLimits limits)
    {
        var search = new ShapeSearch(trace, arch, Objective.Energy);
        var sizes = trace.Shapes.Select(s => s.Sizes[trace.Dynamic[0]]).ToArray();
        Console.WriteLine($"{name}: {trace.Layer}; {trace.Rows:N0} requests, {trace.Shapes.Count} distinct sizes {sizes.Min()}..{sizes.Max()}");
        var cpu = UserCpu();
        var (own, mean, seconds) = Answer(search, limits);
        double answerCpu = UserCpu() - cpu;
        Console.WriteLine(Line("one mapping, mean (own optima + branch and bound)", mean.Status, mean.Best, mean.Bound, mean.GapPercent, mean.Elapsed.TotalSeconds));
        var max = search.Solve(ShapeStatistic.Max, limits, own: own);
        Console.WriteLine(Line("one mapping, max", max.Status, max.Best, max.Bound, max.GapPercent, max.Elapsed.TotalSeconds));
        cpu = UserCpu();
        var alone = search.Solve(ShapeStatistic.Mean, limits);
        double aloneCpu = UserCpu() - cpu;
        Console.WriteLine(Line("one mapping, mean, branch and bound alone", alone.Status, alone.Best, alone.Bound, alone.GapPercent, alone.Elapsed.TotalSeconds) +
                          $"  {alone.Evaluations:N0} shape bounds, {alone.Pruned:N0} nodes pruned");
        var buckets = search.SolveBucketsOverPool(4, ShapeStatistic.Mean, mean, own);
        Console.WriteLine(Line("4 buckets, mean (pool)", buckets.Status, buckets.Best, buckets.Bound, buckets.GapPercent, buckets.Elapsed.TotalSeconds) + $"  {buckets.Buckets?.Count} used");
        if (mean.Costs is not { } costs) return (seconds, answerCpu, alone, aloneCpu);
        var names = arch.Levels.Select(l => l.Name).ToList();
        Console.WriteLine($"  mapping: {mean.Mapping!.ToCompactString(names)}");
        var bucketCost = new double[costs.Count];
        foreach (var b in buckets.Buckets ?? [])
            for (int p = b.First; p <= b.Last; p++) bucketCost[buckets.Order[p]] = b.Costs[p - b.First];
        var w = trace.Shapes.Select(s => s.Weight).ToArray();
        var regret = Enumerable.Range(0, costs.Count).Select(s => (costs[s] - own[s].Best!.Value) / own[s].Best!.Value * 100).ToArray();
        var bucketRegret = Enumerable.Range(0, costs.Count).Select(s => (bucketCost[s] - own[s].Best!.Value) / own[s].Best!.Value * 100).ToArray();
        Console.WriteLine($"  regret of the one mapping: weighted mean {ShapeStatistics.Of(ShapeStatistic.Mean, regret, w):F4} %, max {regret.Max():F4} %; " +
                          $"of the 4 buckets: weighted mean {ShapeStatistics.Of(ShapeStatistic.Mean, bucketRegret, w):F4} %, max {bucketRegret.Max():F4} %");
        Console.WriteLine("  size  weight  one mapping   own optimum  proved  regret %  bucket regret %   (every 10th size, ascending)");
        var order = search.BucketOrder();
        for (int p = 0; p < order.Count; p++)
        {
            if (p % 10 != 0 && p != order.Count - 1) continue;
            int s = order[p];
            Console.WriteLine($"  {sizes[s],4}  {w[s],6:G4}  {costs[s],11:G6}  {own[s].Best,12:G6}  {(own[s].Status == SolveStatus.Optimal ? "yes" : "no"),-6}  {regret[s],8:F4}  {bucketRegret[s],8:F4}");
        }
        return (seconds, answerCpu, alone, aloneCpu);
    }

    internal static ShapeTrace Trace(Einsum layer, string rank, IEnumerable<int> sizes)
    {
        int r = layer.Ranks.ToList().FindIndex(x => x.Id.Name == rank);
        return ShapeTrace.FromRows(layer, [r], sizes.Select(x =>
        {
            var s = layer.Ranks.Select(q => q.Bound).ToArray();
            s[r] = x;
            return (s, 1.0);
        }));
    }

    /// <summary>
    /// 1,000 sequence lengths from 16 to 512 (seed 21): 100 distinct lengths drawn without replacement (16 and 512 always
    /// in), each once, then 900 requests drawn with Zipf-like weights 1/rank.
    /// </summary>
    internal static List<int> SequenceLengths()
    {
        var rng = new Random(21);
        var lengths = new SortedSet<int> { 16, 512 };
        while (lengths.Count < 100) lengths.Add(rng.Next(16, 513));
        var byPopularity = lengths.OrderBy(_ => rng.Next()).ToList();
        var cumulative = new double[byPopularity.Count];
        double z = 0;
        for (int i = 0; i < cumulative.Length; i++) cumulative[i] = z += 1.0 / (i + 1);
        var rows = lengths.ToList();
        for (int i = 0; i < 900; i++)
        {
            double u = rng.NextDouble() * z;
            rows.Add(byPopularity[Array.FindIndex(cumulative, c => c >= u)]);
        }
        return rows;
    }

    /// <summary>
    /// 1,000 tokens-per-expert counts (seed 42): batches of 128 tokens routed top-2 over 8 experts whose popularity is
    /// skewed (weights 1, 1/2, ..., 1/8, each batch's weights jittered by up to 50 %); expert b mod 8 of batch b is the row.
    /// </summary>
    internal static List<int> TokensPerExpert()
    {
        var rng = new Random(42);
        var rows = new List<int>();
        for (int b = 0; b < 1000; b++)
        {
            var weights = Enumerable.Range(0, 8).Select(e => (1.0 / (e + 1)) * (0.5 + rng.NextDouble())).ToArray();
            double sum = weights.Sum();
            var counts = new int[8];
            for (int t = 0; t < 128; t++)
            {
                // Two distinct experts per token.
                int first = Pick(rng, weights, sum, -1);
                counts[first]++;
                counts[Pick(rng, weights, sum - weights[first], first)]++;
            }
            rows.Add(Math.Max(1, counts[b % 8]));
        }
        return rows;
    }

    private static int Pick(Random rng, double[] weights, double sum, int skip)
    {
        double u = rng.NextDouble() * sum;
        for (int e = 0; e < weights.Length; e++)
        {
            if (e == skip) continue;
            if ((u -= weights[e]) <= 0) return e;
        }
        return weights.Length - 1 == skip ? weights.Length - 2 : weights.Length - 1;
    }
}
