using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// Groups that keep their halos in the search over the full mapspace (energy; docs/fusion.md, "Searching both policies"):
/// every member of such a group is a class of the join with keys of its own group, valued by its shared iterations' class
/// plus its prologue's class, each a constrained single-layer problem that <see cref="TilingSearch"/> solves exactly.
/// </summary>
public sealed partial class FusionSearch
{
    /// <summary>A group that keeps its halos in the full search: the group and its members' classes, in order.</summary>
    private sealed record KeptGroup(FusedGroup Group, IReadOnlyList<ClassState> Members);

    /// <summary>
    /// Adds to <paramref name="layers"/> the members of every group that keeps its halos (two to
    /// <see cref="FusionProblem.MaxKeepLayers"/> layers, one shared loop; <see cref="GroupClasses"/>, as the brute force lists
    /// them): member k of group g follows the key <c>g:k</c> (DRAM for the first) and leaves <c>g:k+1</c> (DRAM for the last),
    /// so a group enters the join from the DRAM key before its first layer and returns to it after its last, beside the
    /// sequential groups. Within one group a member's fused energy depends only on its own mapping and its prologue's, so its
    /// least is the least of each class: the shared iterations' (its plan's Einsum under the shared loop, the held tensors it
    /// touches, the architecture less what is reserved for it) and the prologue's (the prologue's Einsum, no shared loops,
    /// its held tensors resident). Each starts from the bound 0, or u - R for a member that runs the layer itself.
    /// </summary>
    private List<KeptGroup> AddKeptClasses(List<List<ClassState>> layers, Func<int, double> aloneLower)
    {
        var w = _p.Workload;
        var groups = new List<KeptGroup>();
        var prologues = new Dictionary<string, ClassState>(StringComparer.Ordinal);
        for (int last = 1; last < w.Layers.Count; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxKeepLayers + 1); first < last; first++)
                foreach (var gc in GroupClasses(first, last, [true]))
                {
                    if (gc.Group.SharedLoops != 1) continue;
                    int id = groups.Count;
                    var members = new List<ClassState>();
                    for (int k = 0; k < gc.Members.Count; k++)
                    {
                        int i = first + k;
                        var (e, _, shared, held) = gc.Members[k];
                        var job = new Job(k == 0 ? null : $"{KeepKey}{id}:{k}", shared, held, gc.Reserved[k], i == last ? null : $"{KeepKey}{id}:{k + 1}")
                            { Member = gc.Plans[k].Splits.Count == 0 ? null : e };
                        var main = new ClassState(i, job) { Removed = FusionCost.ClassRemoval(EinsumOf(i, job), _p.Arch, shared, held) };
                        // A member of the layer's own Einsum costs at least its own optimum less R; a split one computes other rows.
                        main.Lower = job.Member is null ? Math.Max(0, aloneLower(i) - main.Removed.Value) : 0;
                        ClassState? prologue = null;
                        if (gc.Prologues[k] is { } pro)
                        {
                            var proJob = new Job(null, [], pro.Held, gc.PrologueReserved[k], null) { Member = pro.Einsum };
                            var key = $"{i}|{ShapeKeyOf(i, proJob)}";
                            if (!prologues.TryGetValue(key, out prologue))
                                prologues[key] = prologue = new ClassState(i, proJob) { Removed = FusionCost.ClassRemoval(pro.Einsum, _p.Arch, [], pro.Held) };
                        }
                        members.Add(new ClassState(i, job) { Main = main, Prologue = prologue, KeptGroup = id, Lower = main.Lower + (prologue?.Lower ?? 0) });
                    }
                    groups.Add(new KeptGroup(gc.Group, members));
                    foreach (var c in members) layers[c.Layer].Add(c);
                }
        return groups;
    }

    /// <summary>The bound of a kept member's class before any search: its shared iterations' class bound plus its prologue's (<see cref="ClassBound"/>, less R).</summary>
    private void BoundKept(ClassState c)
    {
        var main = c.Main!;
        main.Lower = Math.Max(main.Lower, ClassBound(main) - main.Removed!.Value);
        if (c.Prologue is { Searched: false } pro) pro.Lower = Math.Max(pro.Lower, ClassBound(pro) - pro.Removed!.Value);
        c.Lower = Math.Max(c.Lower, main.Lower + (c.Prologue?.Lower ?? 0));
    }

    /// <summary>True when a class's bound is its member's value (its optimum) or it has no member.</summary>
    private static bool Exact(ClassState c, Func<FusionPartial, double> value) => double.IsPositiveInfinity(c.Lower) || (c.Member is { } m && Meets(c.Lower, value(m)));

    /// <summary>
    /// The exact search of a kept member's class under a ceiling (fused energy, or for latency fused cycles): its prologue's class to its optimum (no
    /// ceiling; prologues are a few rows, and shared by every group that has the same one), then its shared iterations'
    /// class under the ceiling less the prologue's optimum. The member is the two together (the prologue's mapping and
    /// energy and cycles added, as <see cref="FusionCost.Evaluate"/> adds them); the bound is the two bounds summed. When
    /// every member of its group has a member, the group is checked as a whole inside the unfused mapping by
    /// <see cref="FusionChecker"/>; a group it rejects leaves the join.
    /// </summary>
    private void SearchKept(ClassState c, double ceiling, Func<bool> stop, List<KeptGroup> groups, FusedMapping unfused)
    {
        c.Searched = true;
        Func<FusionPartial, double> value = _p.Objective == Objective.Latency ? p => p.Cycles : p => p.Energy;
        var main = c.Main!;
        var pro = c.Prologue;
        if (pro is { Searched: false }) Search(pro, double.PositiveInfinity, stop, seedWithDescent: false);
        if (pro is not null && !Exact(pro, value))
        {
            // Stopped: what is known.
            c.Lower = Math.Max(c.Lower, main.Lower + pro.Lower);
            return;
        }
        if (pro is { Member: null })
        {
            (c.Member, c.Lower) = (null, double.PositiveInfinity);
            return;
        }
        var before = pro?.Member;
        Search(main, ceiling - (before is null ? 0 : value(before)), stop, seedWithDescent: false);
        c.Nodes = main.Nodes + (pro?.Nodes ?? 0);
        c.Lower = main.Lower + (pro?.Lower ?? 0);
        c.Member = main.Member is { } m ? Together(m, before) : null;
        CheckKept(groups[c.KeptGroup], unfused);
    }

    /// <summary>A kept member's shared iterations and prologue (null: none) as one partial mapping: the prologue's energy and cycles added.</summary>
    private static FusionPartial Together(FusionPartial main, FusionPartial? prologue)
        => main with { Energy = main.Energy + (prologue?.Energy ?? 0), Cycles = checked(main.Cycles + (prologue?.Cycles ?? 0)), Keep = true, Prologue = prologue?.Mapping };

    /// <summary>
    /// Once every member of a kept group has a member, the group with them checked as a whole inside the unfused mapping by
    /// <see cref="FusionChecker"/>; a group it rejects leaves the join (its members' classes become empty).
    /// </summary>
    private void CheckKept(KeptGroup group, FusedMapping unfused)
    {
        if (group.Members.Any(x => x.Member is null)) return;
        var g = group.Group;
        var layers = unfused.Layers.Select((m, i) => g.Contains(i) ? group.Members[i - g.First].Member!.Mapping : m);
        var prologueMaps = unfused.Layers.Select((_, i) => g.Contains(i) ? group.Members[i - g.First].Member!.Prologue : null);
        var all = unfused.Groups.Where(x => !g.Contains(x.First)).Append(g).OrderBy(x => x.First);
        if (FusionChecker.Check(_p.Workload, _p.Arch, new FusedMapping(all, layers, prologueMaps)).Count == 0) return;
        foreach (var x in group.Members) (x.Member, x.Lower, x.Searched, x.Empty) = (null, double.PositiveInfinity, true, true);
    }

    /// <summary>EDP: a kept member's energy bound and cycle floor, the sums of its shared iterations' and prologue's (each once).</summary>
    private void BoundKeptWeighted(ClassState c)
    {
        foreach (var x in new[] { c.Main!, c.Prologue }.OfType<ClassState>())
        {
            if (x.Known.Count > 0 || x.CycleFloor > 0 || x.Empty) continue;
            x.EnergyLower = Math.Max(0, ClassBound(x) - x.Removed!.Value);
            x.Empty = double.IsPositiveInfinity(x.EnergyLower);
            x.CycleFloor = x.Empty ? double.PositiveInfinity : new TilingSearch(WeightedProblem(x, 0), prune: true, seed: false).CycleFloor();
        }
        c.EnergyLower = c.Main!.EnergyLower + (c.Prologue?.EnergyLower ?? 0);
        c.CycleFloor = c.Main.CycleFloor + (c.Prologue?.CycleFloor ?? 0);
        c.Empty = c.Main.Empty || (c.Prologue?.Empty ?? false);
    }

    /// <summary>EDP: a kept member at the start of a weighted join: its parts' best members and bounds at this lambda, summed.</summary>
    private static void ResetKept(ClassState c, double lambda)
    {
        double Value(FusionPartial p) => p.Energy + lambda * p.Cycles;
        foreach (var x in new[] { c.Main!, c.Prologue }.OfType<ClassState>())
        {
            x.Member = x.Pool.Count == 0 ? null : x.Pool.MinBy(Value);
            x.Lower = WeightedLower(x, lambda);
        }
        c.Empty |= c.Main!.Empty || (c.Prologue?.Empty ?? false);
        c.Lower = c.Empty ? double.PositiveInfinity : c.Main.Lower + (c.Prologue?.Lower ?? 0);
        c.Member = c.Empty || c.Main.Member is null || (c.Prologue is not null && c.Prologue.Member is null) ? null : Together(c.Main.Member, c.Prologue?.Member);
        c.Searched = c.Empty;
    }

    /// <summary>
    /// EDP: <see cref="SearchKept"/> for energy + lambda x cycles: the prologue's class exactly at this lambda (once per lambda),
    /// then the shared iterations' under the ceiling less the prologue's value; the member is the two together, the bound the
    /// two bounds summed, and a complete group is checked as a whole.
    /// </summary>
    private void SearchKeptWeighted(ClassState c, double lambda, double ceiling, Func<bool> stop, List<KeptGroup> groups, FusedMapping unfused)
    {
        double Value(FusionPartial p) => p.Energy + lambda * p.Cycles;
        c.Searched = true;
        var main = c.Main!;
        var pro = c.Prologue;
        if (pro is not null && !pro.Known.Any(k => k.Lambda == lambda)) SearchWeighted(pro, lambda, double.PositiveInfinity, stop);
        if (pro is { Empty: true })
        {
            (c.Member, c.Lower, c.Empty) = (null, double.PositiveInfinity, true);
            return;
        }
        if (pro is not null && (pro.Member is null || !Meets(pro.Lower, Value(pro.Member))))
        {
            c.Lower = Math.Max(c.Lower, main.Lower + pro.Lower);
            return;
        }
        SearchWeighted(main, lambda, ceiling - (pro is null ? 0 : Value(pro.Member!)), stop);
        c.Nodes = main.Nodes + (pro?.Nodes ?? 0);
        c.Empty = main.Empty;
        c.Lower = c.Empty ? double.PositiveInfinity : main.Lower + (pro?.Lower ?? 0);
        c.Member = !c.Empty && main.Member is { } m ? Together(m, pro?.Member) : null;
        CheckKept(groups[c.KeptGroup], unfused);
    }
}
