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
    private sealed class Level
    {
        public List<(RankId Rank, int Factor)> Temporal = new();
        public Dictionary<(RankId, Axis), int> Spatial = new();
        public HashSet<TensorId> Keep = new();

        public Level Clone() => new() { Temporal = new(Temporal), Spatial = new(Spatial), Keep = new(Keep) };
    }

    /// <summary>Improves a valid mapping until no single move helps or the deadline passes.</summary>
    public static (Mapping Mapping, double Value) Improve(MapProblem p, Mapping start, DateTime deadline, CancellationToken cancel)
    {
        var constraints = p.Constraints ?? MappingConstraints.None;
        var current = start.Levels.Select(l => new Level
        {
            Temporal = l.Temporal.Select(t => (t.Rank, t.Factor)).ToList(),
            Spatial = l.Spatial.GroupBy(s => (s.Rank, s.Axis)).ToDictionary(g => g.Key, g => g.Aggregate(1, (a, s) => a * s.Factor)),
            Keep = l.Keep.ToHashSet(),
        }).ToArray();
        double best = Value(p, constraints, ToMapping(current)) ?? throw new ArgumentException("The start mapping must be valid.", nameof(start));
        bool improved = true;
        while (improved && DateTime.UtcNow < deadline && !cancel.IsCancellationRequested)
        {
            improved = false;
            foreach (var candidate in Neighbours(p, current))
            {
                if (DateTime.UtcNow >= deadline || cancel.IsCancellationRequested) break;
                var v = Value(p, constraints, ToMapping(candidate));
                if (v is { } value && value < best * (1 - 1e-12))
                {
                    best = value;
                    current = candidate;
                    improved = true;
                    break;
                }
            }
        }
        return (ToMapping(current), best);
    }

    private static double? Value(MapProblem p, MappingConstraints constraints, Mapping m)
    {
        if (ValidityChecker.Check(p.Layer, p.Arch, m).Count > 0 || !ConstraintCheck.Allows(constraints, m)) return null;
        return CostModel.Evaluate(p.Layer, p.Arch, m).Objective(p.Objective);
    }

    private static Mapping ToMapping(Level[] levels) => new(levels.Select(l => new LevelMapping(
        l.Temporal.Where(t => t.Factor > 1).Select(t => new TemporalLoop(t.Rank, t.Factor)),
        l.Spatial.Where(kv => kv.Value > 1).OrderBy(kv => kv.Key.Item1.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Item2)
            .Select(kv => new SpatialLoop(kv.Key.Item1, kv.Value, kv.Key.Item2)),
        l.Keep)));

    private static IEnumerable<Level[]> Neighbours(MapProblem p, Level[] cur)
    {
        int n = cur.Length;
        // Slots: (level, axis or null for temporal).
        var slots = new List<(int Level, Axis? Axis)>();
        for (int l = 0; l < n; l++)
        {
            slots.Add((l, null));
            if (p.Arch.Levels[l].Fanout.X > 1) slots.Add((l, Axis.X));
            if (p.Arch.Levels[l].Fanout.Y > 1) slots.Add((l, Axis.Y));
        }
        int Get(Level[] m, (int Level, Axis? Axis) s, RankId r)
            => s.Axis is { } a ? m[s.Level].Spatial.GetValueOrDefault((r, a), 1) : m[s.Level].Temporal.Where(t => t.Rank == r).Select(t => t.Factor).DefaultIfEmpty(1).First();
        void Set(Level[] m, (int Level, Axis? Axis) s, RankId r, int f)
        {
            if (s.Axis is { } a) { m[s.Level].Spatial[(r, a)] = f; return; }
            var t = m[s.Level].Temporal;
            int i = t.FindIndex(x => x.Rank == r);
            if (i >= 0) t[i] = (r, f); else t.Add((r, f));
        }
        foreach (var rank in p.Layer.Ranks)
            foreach (var from in slots)
            {
                int f = Get(cur, from, rank.Id);
                if (f == 1) continue;
                foreach (var prime in Mapspace.PrimeFactors(f).Distinct())
                    foreach (var to in slots)
                    {
                        if (to == from) continue;
                        var m = cur.Select(x => x.Clone()).ToArray();
                        Set(m, from, rank.Id, f / prime);
                        Set(m, to, rank.Id, Get(m, to, rank.Id) * prime);
                        yield return m;
                    }
            }
        for (int l = 0; l < n; l++)
            for (int i = 0; i + 1 < cur[l].Temporal.Count; i++)
            {
                var m = cur.Select(x => x.Clone()).ToArray();
                (m[l].Temporal[i], m[l].Temporal[i + 1]) = (m[l].Temporal[i + 1], m[l].Temporal[i]);
                yield return m;
            }
        for (int l = 1; l < n; l++)
            foreach (var t in p.Layer.Tensors)
            {
                if (!p.Arch.Levels[l].MayKeep(t.Role)) continue;
                var m = cur.Select(x => x.Clone()).ToArray();
                if (!m[l].Keep.Remove(t.Id)) m[l].Keep.Add(t.Id);
                yield return m;
            }
    }
}
