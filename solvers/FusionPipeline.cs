using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>The search's pipelined groups (docs/fusion.md, "Pipelined latency").</summary>
public sealed partial class FusionSearch
{
    /// <summary>The key between two members of a pipelined group (its members join only each other, <see cref="PipelinedGroups"/>).</summary>
    private const string PipeKey = "\u0000pipe";

    /// <summary>One template mapping of a member of a pipelined group: its energy and cycles with fusion's removals, its resource demand and the words it holds per level (held tensors in their fusion level apart).</summary>
    private sealed record PipeOption(double Energy, long Cycles, long[] Demand, long[] Words, Mapping Mapping);

    /// <summary>The pruned template mappings of each member class met so far (its Einsum, architecture, shared loops and held tensors), reused by every group that has it.</summary>
    private readonly Dictionary<string, List<PipeOption>> _pipeOptions = [];

    /// <summary>A choice of the first members of a pipelined group: its energy, the steps already complete (their demand, summed), and what the open steps carry.</summary>
    private sealed record PipeState(double Energy, long Done, long[] Open, IReadOnlyList<PipeOption> Chosen);

    /// <summary>
    /// The pipelined groups that end at layer <paramref name="last"/> over the template: every group of two to
    /// <see cref="FusionProblem.MaxPipelineLayers"/> layers with shared loops (<see cref="GroupClasses"/>, halos recomputed),
    /// its members' mappings from the template (<see cref="TemplatePipeOptions"/>), combined by <see cref="PipelinedPoints"/>.
    /// Ends early when <paramref name="stop"/> says so (the join then returns no answer).
    /// </summary>
    private IEnumerable<(int First, KeepPoint Point)> PipelinedGroups(int last, FusedMapping unfused, Func<bool> stop)
    {
        for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last; first++)
            foreach (var gc in GroupClasses(first, last, [false]))
            {
                if (stop()) yield break;
                if (gc.Group.SharedLoops == 0) continue;
                int members = gc.Members.Count;
                foreach (var point in PipelinedPoints(gc, k => TemplatePipeOptions(gc, k, stop), unfused, stop, k => k == 0 ? null : PipeKey, k => k == members - 1 ? null : PipeKey))
                    yield return (first, point);
                if (stop()) yield break;
            }
    }

    /// <summary>A member's mapping as an option of a pipelined group: its energy and cycles with fusion's removals, its resource demand and the words it holds per level.</summary>
    private PipeOption PipeOptionOf(string layer, Einsum e, Mapping m, IReadOnlyList<HeldTensor> touched)
    {
        var c = FusionCost.Adjust(layer, _p.Arch, CostModel.Evaluate(e, _p.Arch, m), touched);
        return new PipeOption(c.Energy, c.Cycles, FusionCost.Demand(_p.Arch, c), PipelineSchedule.OwnWords(e, m, touched), m);
    }

    /// <summary>
    /// The dominance rule of a pipelined member's mappings: one is dropped when another of the same class has energy, every
    /// resource demand and every level's own words each no higher (the schedule's cycles grow with each demand, its capacity
    /// rule with each word count, its energy is a sum, and everything else is the class's).
    /// </summary>
    private static List<PipeOption> DominantOptions(List<PipeOption> options)
        => Dominant(options, o => [o.Energy, .. o.Demand.Select(x => (double)x), .. o.Words.Select(x => (double)x)]);

    /// <summary>The cache key of a member's class: its layer, Einsum, shared loops, held tensors and room.</summary>
    private string PipeClassKey(GroupClass gc, int k)
    {
        var (e, room, shared, touched) = gc.Members[k];
        return $"{_p.Workload.Layers[gc.Group.First + k].Name}|{e}|{SharedText(shared)}|{string.Join(",", touched)}|{string.Join(",", room.Levels.Select(l => l.Capacity))}";
    }

    /// <summary>
    /// Member <paramref name="k"/>'s template mappings (valid on its class's architecture and constraints), pruned by
    /// <see cref="DominantOptions"/>; cached per class. Null when stopped (the clock is read every 256 candidates; a class left
    /// unfinished is not remembered).
    /// </summary>
    private List<PipeOption>? TemplatePipeOptions(GroupClass gc, int k, Func<bool> stop)
    {
        var classKey = PipeClassKey(gc, k);
        if (_pipeOptions.TryGetValue(classKey, out var options)) return options;
        var (e, room, shared, touched) = gc.Members[k];
        string name = _p.Workload.Layers[gc.Group.First + k].Name;
        var listed = new List<PipeOption>();
        long seen = 0;
        foreach (var m in FusionMapspace.Candidates(e, _p.Arch, shared))
        {
            if ((++seen & 255) == 0 && stop()) return null;
            if (!FusionMapspace.Allows(e, m, shared, touched) || ValidityChecker.Check(e, room, m).Count != 0) continue;
            listed.Add(PipeOptionOf(name, e, m, touched));
        }
        return _pipeOptions[classKey] = DominantOptions(listed);
    }

    /// <summary>
    /// The (energy, cycles) Pareto points of a pipelined group whose member k's mappings are <paramref name="optionsOf"/>(k)
    /// (null: stopped): the members are combined one by one; after member k, a combination's future depends only on its
    /// energy, the demand of the steps whose members are all chosen (their capacity checked), and, per step that also has
    /// later members, the sums of its chosen members' demands and words; a combination is dropped when another is no higher
    /// in all of them. The complete ones are pruned to their (energy, cycles) Pareto points (what follows sees only that the
    /// group is closed) and each is checked as a whole inside <paramref name="unfused"/> by <see cref="FusionChecker"/>. The
    /// partial mappings follow <paramref name="inKey"/>(k) and leave <paramref name="outKey"/>(k); the group's cycles are on
    /// its last member. Ends early when <paramref name="stop"/> says so.
    /// </summary>
    private IEnumerable<KeepPoint> PipelinedPoints(GroupClass gc, Func<int, List<PipeOption>?> optionsOf, FusedMapping unfused, Func<bool> stop,
        Func<int, string?> inKey, Func<int, string?> outKey)
    {
        var w = _p.Workload;
        var arch = _p.Arch;
        int first = gc.Group.First;
        var group = gc.Group.AsPipelined();
        int members = gc.Members.Count;
        long f = PipeIterations(gc);
        var held = FusionRules.PipelineHeld(w, arch, group, gc.Plans);
        var runs = PipelineSchedule.Runs(members, f).ToList();
        var states = new List<PipeState> { new(0, 0, [], []) };
        for (int k = 0; k < members && states.Count > 0; k++)
        {
            if (optionsOf(k) is not { } options) yield break;
            var next = new List<PipeState>();
            foreach (var s in states)
            {
                if (stop()) yield break;
                foreach (var o in options)
                    if (Extend(s, o, k) is { } grown) next.Add(grown);
            }
            states = Dominant(next, s => [s.Energy, s.Done, .. s.Open.Select(x => (double)x)], stop);
            if (stop()) yield break;
        }
        var points = Pareto(states.Select(s => new KeepPoint(s.Energy, (s.Done + f - 1) / f, s.Chosen.Select((o, k) =>
            new FusionPartial(first + k, -1, o.Mapping, group.SharedLoops, inKey(k), outKey(k), o.Energy, k == members - 1 ? (s.Done + f - 1) / f : 0, [])
            { OnChip = gc.Members[k].Held.Select(h => h.Tensor).ToList(), Levels = FusionPartial.LevelsOf(gc.Members[k].Held), Pipelined = true }).ToList())).ToList(), x => x.Energy, x => x.Cycles);
        foreach (var point in points)
        {
            var layers = unfused.Layers.Select((m, i) => group.Contains(i) ? point.Partials[i - first].Mapping : m);
            var groups = unfused.Groups.Where(g => !group.Contains(g.First)).Append(group).OrderBy(g => g.First);
            if (FusionChecker.Check(w, arch, new FusedMapping(groups, layers)).Count == 0) yield return point;
        }

        // Member k added to a choice of members 0..k-1: the steps it completes are costed (null when one overflows a
        // level), and the open steps' sums of demands and words grow by its own.
        PipeState? Extend(PipeState s, PipeOption o, int k)
        {
            var chosen = s.Chosen.Append(o).ToList();
            long done = s.Done;
            var open = new List<long>();
            foreach (var (a, b, step, steps) in runs.Where(r => r.First <= k && r.Last >= k))
            {
                var words = PipelineSchedule.StepWords(arch, chosen.Select(c => c.Words).ToList(), held, a, k, step, f).ToList();
                if (b == k)
                {
                    if (words.Any(x => x.Over)) return null;
                    done = checked(done + PipelineSchedule.StepDemand(chosen.Select(c => c.Demand).ToList(), a, b) * steps);
                }
                else
                {
                    for (int r = 0; r < o.Demand.Length; r++)
                        open.Add(Enumerable.Range(a, k - a + 1).Sum(m => chosen[m].Demand[r]));
                    open.AddRange(words.Select(x => x.Words));
                }
            }
            return new PipeState(s.Energy + o.Energy, done, [.. open], chosen);
        }
    }

    /// <summary>
    /// The items no other item is at most on every value of (and below on one); among equal ones the first. A sort and one
    /// sweep: sorted lexicographically by their values (then by position), every item that is at most another on every value
    /// comes before it, so an item is decided by the items kept before it and a kept item is never dropped later. An item
    /// kept is compared with every item kept before it (their number, not the items', is the cost: the pipelined members'
    /// fronts keep a few of 20,000 mappings, docs/benchmarks.md "f17k"); a dropped item stops at the first that beats it,
    /// and that one is moved to the front of the comparisons. With <paramref name="stop"/>, the clock is read every 256
    /// items, and a stopped call returns what it kept so far (its caller then ends).
    /// </summary>
    private static List<T> Dominant<T>(List<T> items, Func<T, double[]> values, Func<bool>? stop = null)
    {
        var keyed = items.Select((x, i) => (Item: x, V: values(x), I: i)).ToArray();
        Array.Sort(keyed, (a, b) =>
        {
            for (int j = 0; j < a.V.Length; j++)
                if (a.V[j] != b.V[j]) return a.V[j].CompareTo(b.V[j]);
            return a.I.CompareTo(b.I);
        });
        var kept = new List<int>();
        var probe = new List<int>();
        for (int n = 0; n < keyed.Length; n++)
        {
            if (stop is not null && (n & 255) == 255 && stop()) break;
            var v = keyed[n].V;
            int by = -1;
            for (int q = 0; q < probe.Count && by < 0; q++)
            {
                var k = keyed[probe[q]].V;
                int j = 0;
                while (j < v.Length && k[j] <= v[j]) j++;
                if (j == v.Length) by = q;
            }
            if (by > 0) (probe[0], probe[by]) = (probe[by], probe[0]);
            else if (by < 0) { kept.Add(n); probe.Add(n); }
        }
        return kept.Select(n => keyed[n].Item).ToList();
    }
}
