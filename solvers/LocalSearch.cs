using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// Hill climbing over the mapspace from a valid mapping: move one prime factor of a rank from one slot
/// to another, swap two neighbouring temporal loops, or change whether a level keeps a tensor; take
/// any move that lowers the objective, until no move does or the time is up. It proves nothing; the
/// exact search uses it for a good incumbent to prune with.
/// </summary>
public static class LocalSearch
{
    /// <summary>Improves a valid mapping until no single move helps or the deadline passes.</summary>
    public static (Mapping Mapping, double Value) Improve(MapProblem p, Mapping start, DateTime deadline, CancellationToken cancel)
        => Climb(p, MappingDraft.From(start), d => d.Value(p), deadline, cancel);

    /// <summary>
    /// Improves a mapping by the values <paramref name="value"/> gives (null: not an allowed answer), e.g. the problem's own
    /// convention's: the moves above plus, since the Timeloop convention's counts depend on them, every swap of two spatial
    /// loops of a level and every move of a spatial loop onto the other axis (<see cref="MappingDraft.SpatialMoves"/>).
    /// </summary>
    public static (Mapping Mapping, double Value) Improve(MapProblem p, Mapping start, Func<Mapping, double?> value, DateTime deadline, CancellationToken cancel)
        => Climb(p, MappingDraft.From(start, ordered: true), d => value(d.ToMapping()), deadline, cancel);

    private static (Mapping Mapping, double Value) Climb(MapProblem p, MappingDraft current, Func<MappingDraft, double?> valueOf, DateTime deadline, CancellationToken cancel)
    {
        double best = valueOf(current) ?? throw new ArgumentException("The start mapping must be valid.", "start");
        bool improved = true;
        while (improved && DateTime.UtcNow < deadline && !cancel.IsCancellationRequested)
        {
            improved = false;
            foreach (var candidate in Neighbours(p, current))
            {
                if (DateTime.UtcNow >= deadline || cancel.IsCancellationRequested) break;
                if (valueOf(candidate) is { } value && value < best * (1 - 1e-12))
                {
                    best = value;
                    current = candidate;
                    improved = true;
                    break;
                }
            }
        }
        return (current.ToMapping(), best);
    }

    private static IEnumerable<MappingDraft> Neighbours(MapProblem p, MappingDraft cur)
    {
        int n = p.Arch.Levels.Count;
        var slots = new List<(int Level, Axis? Axis)>();
        for (int l = 0; l < n; l++)
        {
            slots.Add((l, null));
            if (p.Arch.Levels[l].Fanout.X > 1) slots.Add((l, Axis.X));
            if (p.Arch.Levels[l].Fanout.Y > 1) slots.Add((l, Axis.Y));
        }
        foreach (var rank in p.Layer.Ranks)
            foreach (var from in slots)
            {
                int f = cur.Factor(from.Level, from.Axis, rank.Id);
                if (f == 1) continue;
                foreach (var prime in Mapspace.PrimeFactors(f).Distinct())
                    foreach (var to in slots)
                    {
                        if (to == from) continue;
                        var m = cur.Clone();
                        m.SetFactor(from.Level, from.Axis, rank.Id, f / prime);
                        m.SetFactor(to.Level, to.Axis, rank.Id, m.Factor(to.Level, to.Axis, rank.Id) * prime);
                        yield return m;
                    }
            }
        for (int l = 0; l < n; l++)
            foreach (var m in cur.SwapMoves(l)) yield return m;
        for (int l = 1; l < n; l++)
            foreach (var m in cur.KeepMoves(p, l)) yield return m;
        if (!cur.Ordered) yield break;
        for (int l = 0; l < n; l++)
            foreach (var m in cur.SpatialMoves(l)) yield return m;
        // Exchanges: a prime of one rank from slot A to slot B and a prime of another from B to A, what a full fanout or a
        // full buffer needs to trade one spatial factor for another (P 4 along X for P 2 and Q 2).
        var held = p.Layer.Ranks.SelectMany(r => slots.SelectMany(s => Mapspace.PrimeFactors(cur.Factor(s.Level, s.Axis, r.Id)).Distinct()
            .Select(prime => (Rank: r.Id, Slot: s, Prime: prime)))).ToList();
        foreach (var a in held)
            foreach (var b in held)
            {
                if (b.Rank == a.Rank || b.Slot == a.Slot || (a.Slot.Level, a.Slot.Axis, a.Rank.Name).CompareTo((b.Slot.Level, b.Slot.Axis, b.Rank.Name)) > 0) continue;
                var m = cur.Clone();
                m.SetFactor(a.Slot.Level, a.Slot.Axis, a.Rank, m.Factor(a.Slot.Level, a.Slot.Axis, a.Rank) / a.Prime);
                m.SetFactor(b.Slot.Level, b.Slot.Axis, a.Rank, m.Factor(b.Slot.Level, b.Slot.Axis, a.Rank) * a.Prime);
                m.SetFactor(b.Slot.Level, b.Slot.Axis, b.Rank, m.Factor(b.Slot.Level, b.Slot.Axis, b.Rank) / b.Prime);
                m.SetFactor(a.Slot.Level, a.Slot.Axis, b.Rank, m.Factor(a.Slot.Level, a.Slot.Axis, b.Rank) * b.Prime);
                yield return m;
            }
    }
}
