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
    {
        var current = MappingDraft.From(start);
        double best = current.Value(p) ?? throw new ArgumentException("The start mapping must be valid.", nameof(start));
        bool improved = true;
        while (improved && DateTime.UtcNow < deadline && !cancel.IsCancellationRequested)
        {
            improved = false;
            foreach (var candidate in Neighbours(p, current))
            {
                if (DateTime.UtcNow >= deadline || cancel.IsCancellationRequested) break;
                if (candidate.Value(p) is { } value && value < best * (1 - 1e-12))
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
    }
}
