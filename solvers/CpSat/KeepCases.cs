using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers.CpSat;

/// <summary>
/// The mapspace split by keep choice (docs/cpsat.md, "Keep cases"): one constrained problem per assignment of every
/// keep / bypass choice no constraint pins (a level that may keep a tensor's role, below DRAM). The cases partition the
/// mapspace (each mapping has exactly one keep set), so a question answered in every case is answered over the whole
/// mapspace. A case pins its keep choices as level constraints, which CP-SAT's presolve fixes, so every count they gate
/// is a plain term: CP-SAT's bound no longer starts from the gated terms' 0 (what kept it from closing on eyeriss).
/// </summary>
public sealed record KeepCase(MapProblem Problem, IReadOnlyList<(int Level, TensorId Tensor, bool Keep)> Choices)
{
    /// <summary>Most free keep choices split into cases (2^this cases); with more the model keeps its keep literals.</summary>
    public const int MaxChoices = 8;

    /// <summary>The choices in words, such as "GlobalBuffer keeps I, bypasses O".</summary>
    public string Describe(MapProblem p)
        => Choices.Count == 0 ? "every keep choice pinned"
            : string.Join("; ", Choices.GroupBy(c => c.Level).Select(g => $"{p.Arch.Levels[g.Key].Name} " +
                string.Join(", ", g.Select(c => (c.Keep ? "keeps " : "bypasses ") + c.Tensor.Name))));

    /// <summary>True when a mapping is in this case (its keep sets agree with every choice).</summary>
    public bool Holds(Mapping m) => Choices.All(c => m.Levels[c.Level].Keep.Contains(c.Tensor) == c.Keep);

    /// <summary>
    /// The keep cases of a problem, in a fixed order: most choices kept first, then the choices as a binary number
    /// (keep = 1, the first choice the highest bit, descending); a single case (the problem itself) when no choice is
    /// free or more than <see cref="MaxChoices"/> are.
    /// </summary>
    public static IReadOnlyList<KeepCase> Of(MapProblem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        var free = new List<(int Level, TensorId Tensor)>();
        for (int l = 1; l < p.Arch.Levels.Count; l++)
        {
            var pin = p.Constraints?.Levels.GetValueOrDefault(l);
            foreach (var t in p.Layer.Tensors)
                if (p.Arch.Levels[l].MayKeep(t.Role) && !(pin is not null && (pin.Keep.Contains(t.Id) || pin.Bypass.Contains(t.Id))))
                    free.Add((l, t.Id));
        }
        if (free.Count == 0 || free.Count > MaxChoices) return [new KeepCase(p, [])];
        var cases = new List<KeepCase>(1 << free.Count);
        for (int mask = (1 << free.Count) - 1; mask >= 0; mask--)
        {
            var choices = free.Select((f, i) => (f.Level, f.Tensor, Keep: (mask >> (free.Count - 1 - i) & 1) == 1)).ToList();
            var levels = new Dictionary<int, LevelConstraint>(p.Constraints?.Levels ?? new Dictionary<int, LevelConstraint>());
            foreach (var g in choices.GroupBy(c => c.Level))
            {
                var lc = levels.GetValueOrDefault(g.Key) ?? new LevelConstraint();
                levels[g.Key] = lc with
                {
                    Keep = lc.Keep.Concat(g.Where(c => c.Keep).Select(c => c.Tensor)).ToHashSet(),
                    Bypass = lc.Bypass.Concat(g.Where(c => !c.Keep).Select(c => c.Tensor)).ToHashSet(),
                };
            }
            var constraints = (p.Constraints ?? MappingConstraints.None) with { Levels = levels };
            cases.Add(new KeepCase(p with { Constraints = constraints }, choices));
        }
        // The cases that keep the most first: measured, they are the slow ones (more keepers, more counts to bound), and
        // starting the longest first makes the shortest finish when several run at once.
        return cases.OrderByDescending(c => c.Choices.Count(x => x.Keep)).ToList();
    }
}
