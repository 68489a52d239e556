using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The pipelined schedule of a fused group (docs/fusion.md, "Pipelined latency"). The group's <c>f</c> shared iterations
/// run as a linear pipeline in synchronous steps: in step <c>k</c> (0 .. f + M - 2 for M members) member <c>m</c> runs its
/// iteration <c>k - m</c> when that is one of 0 .. f - 1, so a member starts a tile one step after the member before it
/// finished the same tile (every earlier member, not only its producers), and the group's cycles are fill (the steps with
/// members 0..k), steady state (every member) and drain. The members active in a step share the hardware as the cost model
/// shares it inside one layer: each resource (the compute units, each level's read port and write port) serves all of
/// them, so a step takes the largest, over the resources, of the sum of the active members' demands of one iteration. A
/// member's demand of one iteration is its whole run's demand over <c>f</c> (the counts of a fused layer, docs/fusion.md,
/// "Cost"); the group's cycles are the steps' sum, rounded up. While a step runs, every level holds every active member's
/// own tiles, and its fusion level every tile of a held tensor written and not yet read by its last reader (two in a
/// chain: the held tile is double-buffered).
/// </summary>
public static class PipelineSchedule
{
    /// <summary>
    /// The resources one member's whole run needs, in cycles: the compute cycles, then per level its read port's and its
    /// write port's cycles (<see cref="Counts.PortCycles"/>) for the per-instance counts given; the member alone takes the
    /// largest (<see cref="FusionCost.Cycles"/>).
    /// </summary>
    public static long[] Demand(Architecture arch, long computeCycles, IEnumerable<(int Level, long Reads, long Writes)> counts)
    {
        var reads = new long[arch.Levels.Count];
        var writes = new long[arch.Levels.Count];
        foreach (var (l, r, wr) in counts)
        {
            reads[l] = checked(reads[l] + r);
            writes[l] = checked(writes[l] + wr);
        }
        var d = new long[1 + 2 * arch.Levels.Count];
        d[0] = computeCycles;
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            d[1 + 2 * l] = Counts.PortCycles(reads[l], arch.Levels[l].ReadBandwidth);
            d[2 + 2 * l] = Counts.PortCycles(writes[l], arch.Levels[l].WriteBandwidth);
        }
        return d;
    }

    /// <summary>
    /// The steps of a pipeline of <paramref name="members"/> over <paramref name="iterations"/> shared iterations, as runs of
    /// consecutive steps with the same active members (<c>First..Last</c>): <c>Step</c> is the run's first step and
    /// <c>Steps</c> how many it has. Only the steady state (every member active) spans more than one step.
    /// </summary>
    public static IEnumerable<(int First, int Last, long Step, long Steps)> Runs(int members, long iterations)
    {
        long last = iterations + members - 2;
        for (long k = 0; k <= last; k++)
        {
            int first = (int)Math.Max(0, k - iterations + 1), end = (int)Math.Min(k, members - 1);
            if (first == 0 && end == members - 1)
            {
                long steps = iterations - members + 1;
                yield return (0, members - 1, k, steps);
                k += steps - 1;
            }
            else yield return (first, end, k, 1);
        }
    }

    /// <summary>
    /// The group's cycles: over the steps, the largest over the resources of the active members' summed demands
    /// (<paramref name="demands"/>, each a member's whole run, <see cref="Demand"/>) divided by the iterations, summed
    /// and rounded up. One iteration: the members' own cycles, summed (the sequential schedule).
    /// </summary>
    public static long Cycles(IReadOnlyList<long[]> demands, long iterations)
    {
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "A group runs at least one shared iteration.");
        Int128 total = 0;
        foreach (var (first, last, _, steps) in Runs(demands.Count, iterations))
            total += (Int128)StepDemand(demands, first, last) * steps;
        return (long)((total + iterations - 1) / iterations);
    }

    /// <summary>One step's demand times the iterations: the largest over the resources of the summed demands of members <paramref name="first"/>..<paramref name="last"/>.</summary>
    public static long StepDemand(IReadOnlyList<long[]> demands, int first, int last)
    {
        long most = 0;
        for (int r = 0; r < demands[first].Length; r++)
        {
            long sum = 0;
            for (int m = first; m <= last; m++) sum = checked(sum + demands[m][r]);
            most = Math.Max(most, sum);
        }
        return most;
    }

    /// <summary>
    /// A lower bound on a pipelined group's energy from a narrow level (docs/fusion.md, "Pipelined groups in EDP over the full
    /// mapspace", "a narrow level"): in every step the level holds the own tiles of every active member (<see cref="StepWords"/>),
    /// at least one word for each member that keeps anything there besides the held tensors (<see cref="OwnWords"/>), so at most
    /// <paramref name="capacity"/> of the members active in any step (<see cref="Runs"/>) keep something there. The least, over
    /// the sets of keepers that allows, of the keepers' energy bounds (<paramref name="keeping"/>) plus the other members' bounds
    /// when keeping nothing there (<paramref name="bare"/>, each at least its <paramref name="keeping"/> for the bound to help).
    /// </summary>
    public static double LeastOverKeepers(IReadOnlyList<double> keeping, IReadOnlyList<double> bare, long capacity, long iterations)
    {
        int n = keeping.Count;
        var active = Runs(n, iterations).Select(r => Enumerable.Range(r.First, r.Last - r.First + 1).Aggregate(0, (a, m) => a | 1 << m)).Distinct().ToList();
        double least = double.PositiveInfinity;
        for (int keepers = 0; keepers < 1 << n; keepers++)
        {
            if (active.Any(a => System.Numerics.BitOperations.PopCount((uint)(a & keepers)) > capacity)) continue;
            double sum = 0;
            for (int m = 0; m < n; m++) sum += (keepers >> m & 1) == 1 ? keeping[m] : bare[m];
            least = Math.Min(least, sum);
        }
        return least;
    }

    /// <summary>
    /// Tiles of a held tensor in its fusion level during step <paramref name="step"/>: the iterations its first toucher
    /// (<paramref name="producer"/>, the member that writes or loads it) has started and its last reader has not finished.
    /// </summary>
    public static long AliveTiles(int producer, int lastReader, long step, long iterations)
        => Math.Max(0, Math.Min(iterations - 1, step - producer) - Math.Max(0, step - lastReader) + 1);

    /// <summary>
    /// The words a member holds at each level while it runs, held tensors apart: the tiles every level keeps
    /// (<see cref="TileShapes"/>) except a held tensor's in its fusion level, which <see cref="Over"/> counts per live tile.
    /// </summary>
    public static long[] OwnWords(Einsum e, Mapping m, IReadOnlyList<HeldTensor> held)
    {
        var tiles = new TileShapes(e, m);
        var words = new long[m.Levels.Count];
        for (int l = 0; l < m.Levels.Count; l++)
            foreach (var t in e.Tensors.Where(t => m.Levels[l].Keep.Contains(t.Id) && !held.Any(h => h.Tensor == t.Id && h.Level == l)))
                words[l] = checked(words[l] + tiles.TileWords(t, l));
        return words;
    }

    /// <summary>A held tensor of a pipelined group: the members (indices in the group) that first and last touch it, its fusion level and the words of one tile.</summary>
    public readonly record struct HeldTiles(int Producer, int LastReader, int Level, long Words);

    /// <summary>
    /// What each level holds in step <paramref name="step"/> when members <paramref name="first"/>..<paramref name="last"/>
    /// run: their own words (<paramref name="own"/>, <see cref="OwnWords"/>) and every live tile of every held tensor in it
    /// (<see cref="AliveTiles"/>); and whether that is above the level's capacity.
    /// </summary>
    public static IEnumerable<(long Words, bool Over)> StepWords(Architecture arch, IReadOnlyList<long[]> own, IReadOnlyList<HeldTiles> held, int first, int last, long step, long iterations)
    {
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            long words = 0;
            for (int m = first; m <= last; m++) words = checked(words + own[m][l]);
            foreach (var h in held.Where(h => h.Level == l))
                words = checked(words + AliveTiles(h.Producer, h.LastReader, step, iterations) * h.Words);
            yield return (words, arch.Levels[l].Capacity is { } cap && words > cap);
        }
    }

    /// <summary>
    /// Every run of steps in which some level holds more than its capacity (<see cref="StepWords"/>): its first step, the
    /// level, the words held and the capacity.
    /// </summary>
    public static IEnumerable<(long Step, int Level, long Words, long Capacity)> Over(Architecture arch, IReadOnlyList<long[]> own, IReadOnlyList<HeldTiles> held, long iterations)
    {
        foreach (var (first, last, step, _) in Runs(own.Count, iterations))
            foreach (var (x, l) in StepWords(arch, own, held, first, last, step, iterations).Select((x, l) => (x, l)).Where(p => p.x.Over))
                yield return (step, l, x.Words, arch.Levels[l].Capacity!.Value);
    }
}
