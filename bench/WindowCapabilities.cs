using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;

namespace Optimizer.Bench;

/// <summary>
/// `bench window-capabilities [seconds]`: the exact search's optimum (energy) of a 1-D convolution and a small 3x3 layer
/// on examples/systolic-row.yaml, without the window capabilities, with a same-stride window on the PEs' registers and
/// the buffer, with neighbour forwarding along the row, and with both: status, optimum, nodes and time of each.
/// </summary>
public static class WindowCapabilities
{
    /// <summary>Runs the comparison; each search under the time limit.</summary>
    public static void Run(double seconds)
    {
        var path = Path.Combine(Program.RepositoryRoot(), "examples", "systolic-row.yaml");
        var row = ArchitectureSpec.Load(Path.GetFullPath(path));
        var layers = new[]
        {
            Layers.Conv1d("conv1d_R3_P16_C4_K4", c: 4, k: 4, p: 16, r: 3),
            Layers.Conv2d("conv3x3_P4Q4_C2_K4", n: 1, c: 2, k: 4, p: 4, q: 4, r: 3, s: 3, stride: 1),
        };
        var variants = new (string Name, WindowReuse Window, Forwarding Forwarding)[]
        {
            ("slide, no forwarding", WindowReuse.Slide, Forwarding.None),
            ("same-stride", WindowReuse.SameStride, Forwarding.None),
            ("forwarding x", WindowReuse.Slide, Forwarding.X),
            ("same-stride + forwarding x", WindowReuse.SameStride, Forwarding.X),
        };
        Console.WriteLine($"window-capabilities on {row.Name} (16 PEs), energy, time limit {seconds} s per search");
        foreach (var layer in layers)
            foreach (var (name, window, forwarding) in variants)
            {
                var arch = With(row, window, forwarding);
                var problem = new MapProblem(layer, arch, Objective.Energy);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var r = new TilingSearch(problem, prune: true).Solve(new SearchLimits(TimeSpan.FromSeconds(seconds)));
                var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
                long links = r.Report?.Fanouts.Sum(f => f.LinkTransfers) ?? 0;
                Console.WriteLine($"  {layer.Name,-22} {name,-28} {r.Status,-9} {r.Best:F1} pJ (bound {r.Bound:F1}), {r.Explored:N0} nodes, " +
                    $"{r.Elapsed.TotalSeconds:F1} s wall, {used.TotalSeconds:F1} s CPU, {links} link transfers, solver {r.Solver}");
            }
    }

    private static Architecture With(Architecture a, WindowReuse window, Forwarding forwarding)
        => new(a.Name, a.Description, a.Levels.Select((l, i) => new StorageLevel(l.Name, l.Capacity, l.WordBits, l.ReadEnergy, l.WriteEnergy, l.ReadBandwidth, l.WriteBandwidth, l.Keeps,
                l.Fanout.Size == 1 ? l.Fanout : new Fanout(l.Fanout.X, l.Fanout.Y, l.Fanout.Multicast, l.Fanout.SpatialReduction, l.Fanout.HopEnergy, l.Fanout.Topology) { Forwarding = forwarding })
            { Window = i == 0 ? WindowReuse.Slide : window }), a.Compute, a.ClockGHz);
}
