using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// Issue 21, item 1: <c>map --imperfect</c> on energy by the branch and bound over the imperfect mapspace
/// (<see cref="ImperfectSearch"/>), per distinct ResNet-50 shape on eyeriss: its status, optimum (or best and bound),
/// nodes and seconds, beside the perfect-factorization optimum (<see cref="TilingSearch"/>), which seeds it, and the gain.
/// Usage: <c>bench imperfect-proofs [seconds per search] [first shape] [shapes]</c>.
/// </summary>
public static class ImperfectProofs
{
    /// <summary>Runs the searches and prints one row per shape.</summary>
    public static void Run(double secondsPerSearch, int first, int count)
    {
        var eyeriss = Presets.Get("eyeriss");
        var shapes = Zoo.DistinctShapes(Zoo.Get("resnet50")).Skip(first).Take(count).ToList();
        var limit = new SearchLimits(TimeSpan.FromSeconds(secondsPerSearch), Threads: 1);
        Console.WriteLine($"imperfect-proofs: resnet50 on eyeriss, energy, {secondsPerSearch} s per search, one thread each; shapes {first} to {first + shapes.Count - 1}");
        Console.WriteLine("layer       imperfect   status    bound       gap%   nodes        s       perfect     status    s      gain%");
        int proven = 0;
        foreach (var (layer, _) in shapes)
        {
            var p = new MapProblem(layer, eyeriss, Objective.Energy);
            // The perfect optimum first: it seeds the imperfect search (its time is not counted in the imperfect column).
            var e = new TilingSearch(p, prune: true).Solve(limit);
            var i = new ImperfectSearch(p, incumbent: e.Mapping).Solve(limit);
            double gain = i.Best is { } ib && e.Best is { } eb ? (1 - ib / eb) * 100 : double.NaN;
            double gap = i.Best is { } b && b > 0 ? Math.Max(0, (b - i.Bound) / b * 100) : double.NaN;
            if (i.Status == SolveStatus.Optimal) proven++;
            Console.WriteLine($"{layer.Name,-10} {i.Best,11:G6}  {i.Status,-8}  {i.Bound,11:G6}  {gap,5:F1}  {i.Explored,11:N0}  {i.Elapsed.TotalSeconds,6:F1}  " +
                              $"{e.Best,11:G6}  {e.Status,-8}  {e.Elapsed.TotalSeconds,5:F1}  {gain,5:F2}");
        }
        Console.WriteLine($"imperfect-proofs: {proven} of {shapes.Count} shapes proven");
    }
}
