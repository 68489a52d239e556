using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// Hill climbing over the mapspace from a valid mapping: move one prime factor of a rank from one slot
/// to another, swap two neighbouring temporal loops, or change whether a level keeps a tensor; take
/// any move that lowers the objective, until no move does, the moves are spent or the time is up. It proves nothing;
/// the exact search uses it for a good incumbent to prune with.
/// </summary>
/// <remarks>
/// <c>moves</c> caps the mappings valued (each candidate move, valid or not, counts one): a climb that stops at that cap
/// ends at the same mapping on every run however loaded the machine, where one stopped by the deadline does not (the
/// exact search's seeding gives a fixed number; the deadline is then only a safety net).
/// </remarks>
public static class LocalSearch
{
    /// <summary>Improves a valid mapping until no single move helps, <paramref name="moves"/> mappings are valued or the deadline passes.</summary>
    public static (Mapping Mapping, double Value) Improve(MapProblem p, Mapping start, DateTime deadline, CancellationToken cancel, int moves = int.MaxValue)
        => Climb(p, MappingDraft.From(start), d => d.Value(p), new Budget(deadline, cancel, moves));

    /// <summary>
    /// Improves a mapping by the values <paramref name="value"/> gives (null: not an allowed answer), e.g. the problem's own
    /// convention's: the moves above plus, since the Timeloop convention's counts depend on them, every swap of two spatial
    /// loops of a level and every move of a spatial loop onto the other axis (<see cref="MappingDraft.SpatialMoves"/>).
    /// </summary>
    /// <remarks>
    /// <paramref name="donors"/>: other good mappings whose spatial loops each level may take as a whole, with any change of
    /// its keep set (<see cref="MappingDraft.ResplitMoves"/>): a plan differs from another by several factors at once, each
    /// alone a worse mapping (conv3_1_b under the Timeloop convention, issue 14).
    /// </remarks>
    public static (Mapping Mapping, double Value) Improve(MapProblem p, Mapping start, Func<Mapping, double?> value, DateTime deadline, CancellationToken cancel,
        IReadOnlyList<Mapping>? donors = null, int moves = int.MaxValue)
        => Climb(p, MappingDraft.From(start, ordered: true), Remembered(p, value), new Budget(deadline, cancel, moves), Plans(p, donors ?? []));

    /// <summary>
    /// A draft's value, each distinct mapping valued once: the kicks' climbs come back to mappings already valued (each of them
    /// costed by a reference model in milliseconds). The moves count every draft all the same, so the climb is unchanged.
    /// </summary>
    private static Func<MappingDraft, double?> Remembered(MapProblem p, Func<Mapping, double?> value)
    {
        var names = p.Arch.Levels.Select(l => l.Name).ToList();
        var known = new Dictionary<string, double?>();
        return d =>
        {
            var m = d.ToMapping();
            string key = m.ToCompactString(names);
            if (!known.TryGetValue(key, out var v)) known[key] = v = value(m);
            return v;
        };
    }

    /// <summary>What a climb may still spend: mappings valued (at most <c>moves</c>), the deadline, the cancellation.</summary>
    private sealed class Budget(DateTime deadline, CancellationToken cancel, int moves)
    {
        private int _valued;

        /// <summary>True once the moves are spent, the deadline passed or the climb is cancelled.</summary>
        public bool Spent => _valued >= moves || cancel.IsCancellationRequested || DateTime.UtcNow >= deadline;

        /// <summary>Counts one mapping valued.</summary>
        public void Take() => _valued++;
    }

    /// <summary>Per level, the distinct spatial plans of the donors (their loops of the level, in order, factors of 1 left out).</summary>
    private static List<(RankId Rank, Axis Axis, int Factor)>[][] Plans(MapProblem p, IReadOnlyList<Mapping> donors)
        => Enumerable.Range(0, p.Arch.Levels.Count).Select(l => donors
            .Select(d => MappingDraft.From(d, ordered: true).Spatial[l].Where(x => x.Factor > 1).ToList())
            .Where(s => s.Count > 0)
            .DistinctBy(s => string.Join(" ", s.Select(x => $"{x.Rank.Name}{x.Factor}{x.Axis}")))
            .ToArray()).ToArray();

    private static (Mapping Mapping, double Value) Climb(MapProblem p, MappingDraft current, Func<MappingDraft, double?> value, Budget budget,
        List<(RankId Rank, Axis Axis, int Factor)>[][]? plans = null)
    {
        double best = value(current) ?? throw new ArgumentException("The start mapping must be valid.", "start");
        double? valueOf(MappingDraft d)
        {
            budget.Take();
            return value(d);
        }
        (current, best) = Descend(p, current, best, valueOf, budget);
        // At a local minimum, the donors' plans (with keep changes) as kicks: each valid re-split is climbed by the moves
        // above and taken when it ends lower; the re-split alone is usually worse (its factors still placed for the old plan).
        bool kicked = plans is not null;
        while (kicked && !budget.Spent)
        {
            kicked = false;
            for (int l = 1; l < p.Arch.Levels.Count && !kicked; l++)
                foreach (var plan in plans![l])
                {
                    foreach (var candidate in current.ResplitMoves(p, l, plan))
                    {
                        if (budget.Spent) break;
                        if (valueOf(candidate) is not { } start) continue;
                        var (end, reached) = Descend(p, candidate, start, valueOf, budget);
                        if (reached < best * (1 - 1e-12)) { (current, best, kicked) = (end, reached, true); break; }
                    }
                    if (kicked) break;
                }
        }
        return (current.ToMapping(), best);
    }

    /// <summary>Takes the first lowering move until none lowers the value or the budget is spent.</summary>
    private static (MappingDraft Draft, double Value) Descend(MapProblem p, MappingDraft current, double best, Func<MappingDraft, double?> valueOf, Budget budget)
    {
        bool improved = true;
        while (improved && !budget.Spent)
        {
            improved = false;
            foreach (var candidate in Neighbours(p, current))
            {
                if (budget.Spent) break;
                if (valueOf(candidate) is { } value && value < best * (1 - 1e-12))
                {
                    best = value;
                    current = candidate;
                    improved = true;
                    break;
                }
            }
        }
        return (current, best);
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
