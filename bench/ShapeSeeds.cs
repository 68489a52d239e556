using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// Where one shape's own optimum (<c>map --imperfect</c>, <see cref="ImperfectSearch"/>) spends its time, for BERT-base's
/// FF1 on tpu-v4i at several sequence lengths (issue 21, the <c>--shapes</c> own optima): the perfect-factorization
/// search that seeds it, the whole search with that seed, the search seeded with its own optimum (the proof alone), with
/// no seed, and seeded with the M = 512 optimum clamped to the shape (a neighbour's optimum). Each in turn, one thread.
/// </summary>
public static class ShapeSeeds
{
    /// <summary>Runs the comparison, <paramref name="seconds"/> per search.</summary>
    public static void Run(double seconds)
    {
        var arch = Presets.Get("tpu-v4i");
        var ff1 = Zoo.Get("bert-base").Layers.Single(l => l.Name == "FF1");
        var limits = new SearchLimits(TimeSpan.FromSeconds(seconds));
        Einsum At(int m) { var t = ShapeProofs.Trace(ff1, "M", [m]); return t.LayerOf(t.Largest()); }
        new ImperfectSearch(new MapProblem(At(64), arch, Objective.Energy)).Solve(limits); // warm-up (the JIT)
        Console.WriteLine($"shape-seeds: BERT-base FF1 on tpu-v4i, energy, own optimum per sequence length M, {seconds} s per search, one thread");
        Console.WriteLine("     M  perfect seed   default (seeded)        proof alone (own optimum)  no seed              from M=512's optimum");
        Mapping? largest = null;
        foreach (int m in new[] { 512, 439, 256, 159, 100, 54, 16 })
        {
            var p = new MapProblem(At(m), arch, Objective.Energy);
            var (perfect, tp) = Time(() => new TilingSearch(p, prune: true).Solve(limits));
            var (full, tf) = Time(() => new ImperfectSearch(p).Solve(limits));
            var (proof, tq) = Time(() => new ImperfectSearch(p, incumbent: full.Mapping).Solve(limits));
            var (none, tn) = Time(() => new ImperfectSearch(p, seed: false).Solve(limits));
            largest ??= full.Mapping;
            var (fromLargest, tl) = Time(() => new ImperfectSearch(p, incumbent: ShapeFit.Clamp(largest!, p.Layer)).Solve(limits));
            Console.WriteLine($"  {m,4}  {tp,6:F2} s {(perfect.Best == full.Best ? "=opt" : "    ")}  {Cell(full, tf)}  {Cell(proof, tq)}  {Cell(none, tn)}  {Cell(fromLargest, tl)}");
        }
    }

    private static string Cell(SolveResult r, double seconds) => $"{r.Status,-8} {seconds,6:F2} s {r.Explored,9:N0} nodes";

    private static (SolveResult Result, double Seconds) Time(Func<SolveResult> run)
    {
        var sw = Stopwatch.StartNew();
        var r = run();
        return (r, sw.Elapsed.TotalSeconds);
    }
}
