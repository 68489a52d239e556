using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The fused mapspace of docs/fusion.md: which shared loops a group may have, how they carry from a
/// producer to its consumer, and the per-layer mapping template below the shared loops. The exact
/// fused search and the brute-force enumerator both draw from here, so they search the same set.
/// </summary>
public static class FusionMapspace
{
    /// <summary>
    /// The shared loops a member may start a group with when it touches the held tensors <paramref name="held"/>:
    /// every sequence of at most <paramref name="maxLoops"/> distinct ranks that index every one of them through a
    /// plain dimension (<see cref="FusionRules.PlainDim"/>), each with a factor that divides its bound and is above 1,
    /// outermost first; the empty sequence first.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<TemporalLoop>> SharedLoopOptions(Einsum first, IReadOnlyList<TensorId> held, int maxLoops)
    {
        var ranks = first.Ranks.Select(r => r.Id).Where(r => first.Bound(r) > 1 && held.Count > 0 && held.All(t => FusionRules.PlainDim(first, t, r) >= 0)).ToList();
        return SharedLoopSequences(ranks, r => Divisors(first.Bound(r)).Where(f => f > 1), maxLoops);
    }

    /// <summary>Every sequence of at most <paramref name="maxLoops"/> distinct ranks of <paramref name="ranks"/>, each with one of its factors, outermost first; the empty sequence first.</summary>
    public static IReadOnlyList<IReadOnlyList<TemporalLoop>> SharedLoopSequences(IReadOnlyList<RankId> ranks, Func<RankId, IEnumerable<int>> factors, int maxLoops)
    {
        var result = new List<IReadOnlyList<TemporalLoop>> { Array.Empty<TemporalLoop>() };
        void Extend(List<TemporalLoop> prefix)
        {
            if (prefix.Count == maxLoops) return;
            foreach (var r in ranks)
            {
                if (prefix.Any(l => l.Rank == r)) continue;
                foreach (var f in factors(r))
                {
                    var next = new List<TemporalLoop>(prefix) { new(r, f) };
                    result.Add(next);
                    Extend(next);
                }
            }
        }
        Extend([]);
        return result;
    }

    /// <summary>
    /// The layer's mappings under the given shared loops, in a fixed order (docs/fusion.md, "the
    /// per-layer template"): DRAM holds the shared loops then at most one own loop; each fanout
    /// splits at most one rank along X and one along Y, by the largest factor that fits; every other
    /// factor is a temporal loop of level 1, in rank order or with one rank moved innermost; every
    /// level keeps every tensor it may.
    /// Mappings may break capacity; the caller checks them.
    /// </summary>
    public static IEnumerable<Mapping> Candidates(Einsum e, Architecture arch, IReadOnlyList<TemporalLoop> shared)
    {
        var remaining = e.Ranks.ToDictionary(r => r.Id, r => (long)r.Bound);
        foreach (var s in shared)
        {
            if (remaining[s.Rank] % s.Factor != 0)
                throw new ArgumentException($"Shared loop {s} of layer {e.Name} does not divide the rank's bound {e.Bound(s.Rank)}.", nameof(shared));
            remaining[s.Rank] /= s.Factor;
        }
        var keeps = arch.Levels.Select((lv, l) => e.Tensors.Where(t => l == 0 || lv.MayKeep(t.Role)).Select(t => t.Id).ToList()).ToList();
        var own = new List<TemporalLoop?> { null };
        foreach (var r in e.Ranks)
            foreach (var f in Divisors((int)remaining[r.Id]).Where(f => f > 1))
                own.Add(new TemporalLoop(r.Id, f));
        var fanoutLevels = Enumerable.Range(0, arch.Levels.Count).Where(l => arch.Levels[l].Fanout.Size > 1).ToList();
        foreach (var o in own)
        {
            var rest = new Dictionary<RankId, long>(remaining);
            if (o is { } ol) rest[ol.Rank] /= ol.Factor;
            foreach (var spatial in SpatialChoices(e, arch, fanoutLevels, 0, rest))
            {
                var left = new Dictionary<RankId, long>(rest);
                foreach (var (_, loop) in spatial) left[loop.Rank] /= loop.Factor;
                int inner = arch.Levels.Count > 1 ? 1 : 0;
                var rankOrder = e.Ranks.Where(r => left[r.Id] > 1).Select(r => r.Id).ToList();
                // Rank order, or rank order with one rank moved innermost (so that the tiles below can stay while it steps).
                var orders = new List<List<RankId>> { rankOrder };
                for (int k = 0; k + 1 < rankOrder.Count; k++)
                    orders.Add([.. rankOrder.Where((_, j) => j != k), rankOrder[k]]);
                foreach (var order in orders)
                {
                    var levels = new List<LevelMapping>();
                    for (int l = 0; l < arch.Levels.Count; l++)
                    {
                        var temporal = new List<TemporalLoop>();
                        if (l == 0)
                        {
                            temporal.AddRange(shared);
                            if (o is { } x) temporal.Add(x);
                        }
                        if (l == inner)
                            temporal.AddRange(order.Select(r => new TemporalLoop(r, (int)left[r])));
                        levels.Add(new LevelMapping(temporal, spatial.Where(s => s.Level == l).Select(s => s.Loop), keeps[l]));
                    }
                    yield return new Mapping(levels);
                }
            }
        }
    }

    /// <summary>
    /// The single-layer constraints (docs/mapspace.md, item 5) that make a mapping of layer
    /// <paramref name="e"/> a member of one class of partial mappings (docs/fusion.md): the shared loops
    /// are DRAM's outermost loops, in order, with their factors; DRAM has no loop of its own over a rank
    /// that indexes a held tensor the layer touches (each given with its fusion level), so the tensor's tile
    /// is resident under the shared loops; the fusion level keeps each held tensor and no on-chip level
    /// above it does. Every shared rank indexes a held tensor. The exact search of a class runs the
    /// single-layer search under these constraints; the template and the checks of a template mapping
    /// use them too (<see cref="Allows"/>).
    /// </summary>
    public static MappingConstraints ClassConstraints(Einsum e, IReadOnlyList<TemporalLoop> shared, IReadOnlyList<HeldTensor> held)
    {
        var dramFactors = new Dictionary<RankId, int>();
        foreach (var h in held)
            foreach (var r in e.Ranks.Where(r => e.FindTensor(h.Tensor)!.IsIndexedBy(r.Id)))
                dramFactors[r.Id] = 1;
        foreach (var loop in shared)
        {
            if (!dramFactors.ContainsKey(loop.Rank))
                throw new ArgumentException($"Shared loop {loop} of layer {e.Name} walks no held tensor.", nameof(shared));
            dramFactors[loop.Rank] = loop.Factor;
        }
        var levels = new Dictionary<int, LevelConstraint>
        {
            [0] = new LevelConstraint { Temporal = dramFactors, OuterPrefix = shared.Select(l => l.Rank).ToList() },
        };
        int deepest = held.Count == 0 ? 0 : held.Max(x => x.Level);
        // An on-chip level above a held tensor's fusion level lets it pass and has no loop over a rank that indexes it: a
        // deeper fusion level (docs/fusion.md, "The fused mapspace") then still holds the whole part of one shared iteration.
        for (int l = 1; l <= deepest; l++)
            levels[l] = new LevelConstraint
            {
                Keep = held.Where(x => x.Level == l).Select(x => x.Tensor).ToHashSet(),
                Bypass = held.Where(x => x.Level > l).Select(x => x.Tensor).ToHashSet(),
                Temporal = e.Ranks.Where(r => held.Any(x => x.Level > l && e.FindTensor(x.Tensor)!.IsIndexedBy(r.Id))).ToDictionary(r => r.Id, _ => 1),
            };
        return new MappingConstraints(levels);
    }

    /// <summary>
    /// The constraints <paramref name="c"/> (a class's, <see cref="ClassConstraints"/>) with level <paramref name="level"/>
    /// keeping nothing of <paramref name="e"/> but the held tensors given there (every other tensor bypasses it): the members of
    /// a pipelined group that leave a narrow level to another member (docs/fusion.md, "Pipelined groups in EDP over the full
    /// mapspace", "a narrow level").
    /// </summary>
    public static MappingConstraints KeepingNothingAt(MappingConstraints c, Einsum e, int level, IReadOnlyList<HeldTensor> held)
    {
        var at = c.For(level);
        var bypass = at.Bypass.Concat(e.Tensors.Select(t => t.Id).Where(t => !held.Any(h => h.Tensor == t && h.Level == level))).ToHashSet();
        var levels = c.Levels.ToDictionary(x => x.Key, x => x.Value);
        levels[level] = at with { Bypass = bypass };
        return c with { Levels = levels };
    }

    /// <summary>
    /// True when the mapping, whose first DRAM loops are <paramref name="shared"/>, can serve the held tensors
    /// it touches: it meets the class's constraints (<see cref="ClassConstraints"/>).
    /// </summary>
    public static bool Allows(Einsum e, Mapping m, IReadOnlyList<TemporalLoop> shared, IReadOnlyList<HeldTensor> held)
        => ConstraintCheck.Allows(ClassConstraints(e, shared, held), m);

    /// <summary>The divisors of n in increasing order.</summary>
    public static IEnumerable<int> Divisors(int n)
    {
        for (int d = 1; d <= n; d++) if (n % d == 0) yield return d;
    }

    private static IEnumerable<List<(int Level, SpatialLoop Loop)>> SpatialChoices(Einsum e, Architecture arch, List<int> fanoutLevels, int k, Dictionary<RankId, long> rest)
    {
        if (k == fanoutLevels.Count)
        {
            yield return [];
            yield break;
        }
        int level = fanoutLevels[k];
        var fan = arch.Levels[level].Fanout;
        var options = new List<RankId?> { null };
        options.AddRange(e.Ranks.Where(r => rest[r.Id] > 1).Select(r => (RankId?)r.Id));
        foreach (var x in options)
            foreach (var y in options)
            {
                if (x is not null && x == y) continue;
                var here = new List<(int, SpatialLoop)>();
                var after = new Dictionary<RankId, long>(rest);
                bool useless = false;
                foreach (var (rank, size, axis) in new[] { (x, fan.X, Axis.X), (y, fan.Y, Axis.Y) })
                {
                    if (rank is not { } r) continue;
                    int f = LargestDivisorAtMost(after[r], size);
                    if (f == 1) { useless = true; break; }
                    here.Add((level, new SpatialLoop(r, f, axis)));
                    after[r] /= f;
                }
                if (useless) continue;
                foreach (var tail in SpatialChoices(e, arch, fanoutLevels, k + 1, after))
                    yield return [.. here, .. tail];
            }
    }

    private static int LargestDivisorAtMost(long n, int max)
    {
        for (int d = (int)Math.Min(n, max); d > 1; d--) if (n % d == 0) return d;
        return 1;
    }
}
