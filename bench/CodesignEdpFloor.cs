using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// Issue 19 (branch cd19e): what the energy search's bound adds to the EDP search on one point of the Eyeriss-like space
/// (examples/codesign-eyeriss.yaml). Per distinct ResNet-50 shape: the EDP search alone for T seconds, against an energy
/// search for T/2 seconds whose bound is the EDP search's energy floor (<see cref="MapProblem.EnergyFloor"/>) for the other
/// T/2; the bounds, the best values and their sums over the network (each shape times its count).
/// </summary>
internal static class CodesignEdpFloor
{
    public static void Run(int point, double seconds)
    {
        var dir = Program.RepositoryRoot();
        var space = Optimizer.Hardware.Specs.DesignSpaceSpec.Load(Path.Combine(dir, "examples", "codesign-eyeriss.yaml"));
        var arch = space.Build(point);
        var shapes = Zoo.DistinctShapes(Zoo.Get("resnet50"));
        Console.WriteLine($"codesign-edp-floor: point {point} ({space.Describe(point)}), {seconds} s a shape: EDP alone, then energy {seconds / 2} s + EDP {seconds / 2} s with the energy bound as floor");
        Console.WriteLine("  shape           count | EDP alone: status bound best | energy: status bound | floored EDP: status bound best | E bound x least cycles");
        double[] sums = new double[5];
        var limits = (double s) => new SearchLimits(TimeSpan.FromSeconds(s)) { Threads = 1 };
        foreach (var (layer, count) in shapes)
        {
            var alone = new TilingSearch(new MapProblem(layer, arch, Objective.Edp), prune: true).Solve(limits(seconds));
            var energy = new TilingSearch(new MapProblem(layer, arch, Objective.Energy), prune: true).Solve(limits(seconds / 2));
            double floor = LayerEvaluator.LowerOf(energy);
            var floored = new TilingSearch(new MapProblem(layer, arch, Objective.Edp) { EnergyFloor = floor }, prune: true);
            double product = floor * floored.CycleFloor();
            var f = floored.Solve(limits(seconds / 2));
            sums[0] += count * LayerEvaluator.LowerOf(alone);
            sums[1] += count * (alone.Best ?? double.NaN);
            sums[2] += count * LayerEvaluator.LowerOf(f);
            sums[3] += count * (f.Best ?? double.NaN);
            sums[4] += count * Math.Max(LayerEvaluator.LowerOf(alone), product);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {layer.Name,-15} x{count,-3} | {alone.Status,-8} {LayerEvaluator.LowerOf(alone),11:G5} {alone.Best,11:G5} | {energy.Status,-8} {floor,11:G5} | {f.Status,-8} {LayerEvaluator.LowerOf(f),11:G5} {f.Best,11:G5} | {product,11:G5}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  network: EDP alone bound {sums[0]:G6} best {sums[1]:G6}; floored EDP bound {sums[2]:G6} best {sums[3]:G6}; max(EDP alone, E bound x least cycles) {sums[4]:G6}"));
    }
}
