using System.Diagnostics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// Pipelined groups in the latency search over the full mapspace (docs/fusion.md, "Pipelined groups over the full
/// mapspace"): every pipelined group is a chain of classes of the join with keys of its own, its cycles on its last member's
/// class, bounded below by <see cref="PipelineFloor"/> and, when the branch and bound reaches it, searched with every
/// member's mappings from its class's whole constrained mapspace (<see cref="FullPipeOptions"/>) pruned by the pipelined
/// dominance rule (<see cref="DominantOptions"/>).
/// </summary>
public sealed partial class FusionSearch
{
    /// <summary>A pipelined group in the full search: its group class and its members' classes, in order (the last carries the group's cycles).</summary>
    private sealed record PipeGroup(GroupClass Class, IReadOnlyList<ClassState> Members);

    /// <summary>One member class's enumeration (<see cref="ProfilePipelineMembers"/>): mappings reached, valid, kept by the pruning, whether complete, and the time enumerating, checking validity, costing and pruning.</summary>
    public sealed record PipelineMemberProfile(string Layer, long Seen, long Valid, int Kept, bool Complete, TimeSpan Enumeration, TimeSpan Checking, TimeSpan Costing, TimeSpan Pruning);

    /// <summary>The options of each member class from its whole mapspace, and whether the enumeration was complete (cached per class).</summary>
    private readonly Dictionary<string, (List<PipeOption> Options, bool Complete)> _pipeFull = [];

    /// <summary>
    /// Adds to <paramref name="layers"/> every pipelined group (two to <see cref="FusionProblem.MaxPipelineLayers"/> layers with
    /// shared loops, halos recomputed; <see cref="GroupClasses"/>, as the brute force lists them): member k of group g follows
    /// the key <c>g:k</c> (DRAM for the first) and leaves <c>g:k+1</c> (DRAM for the last). Its members but the last are
    /// marked searched with the bound 0 (the group is searched as a whole, through its last member); the last has the group's
    /// bound (<see cref="PipelineFloor"/>: first its compute term alone for every group, then with its members' cycle floors).
    /// When stopped while listing (<paramref name="stopped"/>), every run of layers whose groups were not all listed gets
    /// instead one open chain (<see cref="AddOpenRun"/>), bound 0, so that the join of the bounds stays a lower bound over
    /// every pipelined group; stopped while taking the cycle floors, the groups left keep their compute floors.
    /// </summary>
    private List<PipeGroup> AddPipelinedClasses(List<List<ClassState>> layers, Func<ClassState, double> floorOf, Func<bool> stop, out bool stopped)
    {
        var w = _p.Workload;
        var groups = new List<PipeGroup>();
        stopped = false;
        int open = 0;
        for (int last = 1; last < w.Layers.Count; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last; first++)
            {
                if (!stopped)
                    foreach (var gc in GroupClasses(first, last, [false]))
                    {
                        if (stopped = stop() || groups.Count >= _p.PipelineListingStop) break;
                        if (gc.Group.SharedLoops == 0) continue;
                        var members = PipeMembers(gc, groups.Count);
                        members[^1].Lower = PipelineFloor(gc, members, _ => 0);
                        groups.Add(new PipeGroup(gc, members));
                        foreach (var c in members) layers[c.Layer].Add(c);
                    }
                if (stopped) AddOpenRun(layers, first, last, open++);
            }
        // The members' cycle floors (each a latency search's root bound, cached per shape), once every group is listed with its
        // compute floor: a stop here leaves the rest at their compute floors.
        foreach (var g in groups)
        {
            if (stop()) break;
            g.Members[^1].Lower = PipelineFloor(g.Class, g.Members, floorOf);
        }
        return groups;
    }

    /// <summary>
    /// The classes of the members of pipelined group number <paramref name="id"/>: member k follows the key <c>id:k</c> (DRAM
    /// for the first) and leaves <c>id:k+1</c> (DRAM for the last); all but the last are marked searched.
    /// </summary>
    private static List<ClassState> PipeMembers(GroupClass gc, int id)
    {
        int size = gc.Members.Count;
        var members = new List<ClassState>();
        for (int k = 0; k < size; k++)
        {
            var (e, _, shared, touched) = gc.Members[k];
            var job = new Job(k == 0 ? null : $"{PipeKey}{id}:{k}", shared, touched, gc.Reserved[k], k == size - 1 ? null : $"{PipeKey}{id}:{k + 1}")
                { Member = gc.Plans[k].Splits.Count == 0 ? null : e };
            members.Add(new ClassState(gc.Group.First + k, job) { PipeGroup = id, Searched = k < size - 1 });
        }
        return members;
    }

    /// <summary>
    /// The pipelined groups of layers <paramref name="first"/>..<paramref name="last"/> not listed (the listing was stopped): one
    /// chain of classes from DRAM to DRAM over those layers, each bound 0 and marked searched, with no member. It keeps the
    /// join of the classes' bounds a lower bound (a group's cycles are at least 0) and adds no answer.
    /// </summary>
    private static void AddOpenRun(List<List<ClassState>> layers, int first, int last, int id)
    {
        for (int i = first; i <= last; i++)
            layers[i].Add(new ClassState(i, new Job(i == first ? null : $"{PipeKey}open{id}:{i - first}", [], [], new Dictionary<int, long>(),
                i == last ? null : $"{PipeKey}open{id}:{i - first + 1}")) { Searched = true, Lower = 0, Open = true });
    }

    /// <summary>
    /// A lower bound on a pipelined group's cycles (docs/fusion.md, "Pipelined groups over the full mapspace"): the schedule's
    /// own cycles (<see cref="PipelineSchedule.Cycles"/>) over floor vectors, one per member: its compute floor (its MACs
    /// spread over every compute unit, <see cref="Counts.ComputeCycles"/>) as the resource all members share, and its class's
    /// cycle floor (<paramref name="floorOf"/>) as a resource of its own. A step's demand is then the larger of its active
    /// members' compute floors summed and the largest of their cycle floors, and every member's real demand vector is at least
    /// that in both: its compute demand is at least its compute floor, and its largest demand (its own cycles) at least its
    /// class's floor. The schedule's cycles grow with every demand, so the group takes at least these cycles: in the steady
    /// state the old floor (the largest cycle floor, or the compute floors summed), and in the fill and drain steps the
    /// largest floor of the members they run.
    /// </summary>
    private double PipelineFloor(GroupClass gc, IReadOnlyList<ClassState> members, Func<ClassState, double> floorOf)
        => FloorVectors(members, floorOf) is { } vectors ? PipelineSchedule.Cycles(vectors, PipeIterations(gc)) : double.PositiveInfinity;

    /// <summary>The members' floor vectors of <see cref="PipelineFloor"/>: per member its compute floor, then its class's cycle floor in a slot of its own (null when a class is empty).</summary>
    private List<long[]>? FloorVectors(IReadOnlyList<ClassState> members, Func<ClassState, double> floorOf)
    {
        long units = _p.Arch.ComputeInstances;
        var vectors = new List<long[]>();
        for (int k = 0; k < members.Count; k++)
        {
            var c = members[k];
            double floor = floorOf(c);
            if (double.IsPositiveInfinity(floor)) return null;
            var v = new long[1 + members.Count];
            v[0] = Counts.ComputeCycles((EinsumOf(c.Layer, c.Job).Macs + units - 1) / units, _p.Arch.Compute.MacsPerCycle);
            v[1 + k] = (long)Math.Ceiling(floor);
            vectors.Add(v);
        }
        return vectors;
    }

    /// <summary>A pipelined group's shared iterations (<see cref="FusionRules.Iterations"/>).</summary>
    private static long PipeIterations(GroupClass gc) => FusionRules.Iterations(gc.Group, i => gc.Plans[i - gc.Group.First].Shared);

    /// <summary>
    /// For tests: every pipelined group (two to <see cref="FusionProblem.MaxPipelineLayers"/> layers with shared loops, as
    /// <see cref="AddPipelinedClasses"/> lists them), its floor (<see cref="PipelineFloor"/>, from its members' class cycle
    /// floors), its steady state's floor (one step of every member, times the iterations: the largest class floor or the
    /// compute floors summed, <see cref="PipelineSchedule.StepDemand"/>), and its least cycles by brute force: every
    /// combination of its members' mappings of <see cref="BrutePipeMembers"/>, the group pipelined inside
    /// <paramref name="unfused"/>, checked by <see cref="FusionChecker"/> and costed by <see cref="FusionCost"/> (infinite when
    /// none is valid).
    /// </summary>
    internal IReadOnlyList<(FusedGroup Group, double Floor, double Steady, long Least)> PipelineFloorsAndLeast(FusedMapping unfused)
    {
        var w = _p.Workload;
        var cache = new Dictionary<string, List<Mapping>>();
        var result = new List<(FusedGroup, double, double, long)>();
        for (int last = 1; last < w.Layers.Count; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last; first++)
                foreach (var gc in GroupClasses(first, last, [false]))
                {
                    if (gc.Group.SharedLoops == 0) continue;
                    var members = PipeMembers(gc, result.Count);
                    var classFloors = members.Select(CycleFloor).ToArray();
                    double floor = PipelineFloor(gc, members, c => classFloors[c.Layer - first]);
                    double steady = FloorVectors(members, c => classFloors[c.Layer - first]) is { } v ? PipelineSchedule.StepDemand(v, 0, v.Count - 1) : double.PositiveInfinity;
                    var group = gc.Group.AsPipelined();
                    long least = long.MaxValue;
                    foreach (var ms in Product(gc.Members.Select(m => BrutePipeMembers(cache, m.Einsum, m.Room, m.Shared, m.Held)).ToList()))
                    {
                        var fm = new FusedMapping(unfused.Groups.Where(g => !group.Contains(g.First)).Append(group).OrderBy(g => g.First),
                            unfused.Layers.Select((m, i) => group.Contains(i) ? ms[i - first] : m));
                        if (FusionChecker.Check(w, _p.Arch, fm).Count > 0) continue;
                        var rep = FusionCost.Evaluate(w, _p.Arch, fm);
                        least = Math.Min(least, rep.GroupCycles[fm.Groups.ToList().FindIndex(g => g.First == first)]);
                    }
                    result.Add((group, floor, steady, least));
                }
        return result;
    }

    /// <summary>
    /// Member <paramref name="k"/>'s mappings from its class's whole constrained mapspace (<see cref="TilingSearch.Visit"/>, one
    /// thread, in its fixed order), pruned by <see cref="DominantOptions"/>; complete when the enumeration ended within
    /// <see cref="FusionProblem.PipelineVisitCap"/> mappings and was not stopped. Cached per class (a stopped one is not).
    /// </summary>
    private (List<PipeOption> Options, bool Complete) FullPipeOptions(GroupClass gc, int k, Func<bool> stop)
    {
        var classKey = PipeClassKey(gc, k);
        if (_pipeFull.TryGetValue(classKey, out var known)) return known;
        var (e, room, shared, touched) = gc.Members[k];
        string name = _p.Workload.Layers[gc.Group.First + k].Name;
        var problem = new MapProblem(e, room, Objective.Energy, FusionMapspace.ClassConstraints(e, shared, touched));
        var listed = new List<PipeOption>();
        long seen = 0, valid = 0;
        int pruneAt = 4096;
        bool capped = false, stopped = false;
        long started = Stopwatch.GetTimestamp();
        TimeSpan checking = TimeSpan.Zero, costing = TimeSpan.Zero, pruning = TimeSpan.Zero;
        using var cancel = new CancellationTokenSource();
        new TilingSearch(problem, prune: false).Visit(m =>
        {
            if (capped || stopped) return;
            if (++seen > _p.PipelineVisitCap) { capped = true; cancel.Cancel(); return; }
            if ((seen & 255) == 0 && stop()) { stopped = true; cancel.Cancel(); return; }
            long at = Stopwatch.GetTimestamp();
            bool invalid = ValidityChecker.Check(e, room, m).Count != 0;
            checking += Stopwatch.GetElapsedTime(at);
            if (invalid) return;
            valid++;
            at = Stopwatch.GetTimestamp();
            listed.Add(PipeOptionOf(name, e, m, touched));
            costing += Stopwatch.GetElapsedTime(at);
            if (listed.Count >= pruneAt)
            {
                at = Stopwatch.GetTimestamp();
                pruneAt = 2 * (listed = DominantOptions(listed)).Count + 4096;
                pruning += Stopwatch.GetElapsedTime(at);
            }
        }, SearchLimits.None with { Threads = 1, Cancel = cancel.Token });
        long last = Stopwatch.GetTimestamp();
        var result = (DominantOptions(listed), !capped && !stopped);
        pruning += Stopwatch.GetElapsedTime(last);
        _pipeProfile?.Add(new PipelineMemberProfile(name, Math.Min(seen, _p.PipelineVisitCap), valid, result.Item1.Count, result.Item2,
            Stopwatch.GetElapsedTime(started) - checking - costing - pruning, checking, costing, pruning));
        if (!stopped) _pipeFull[classKey] = result;
        return result;
    }

    /// <summary>When not null, every member class <see cref="FullPipeOptions"/> enumerates adds its figures here (the bench's).</summary>
    private List<PipelineMemberProfile>? _pipeProfile;

    /// <summary>
    /// For the bench (`bench fusion-pipe-prune`): enumerates and prunes the member classes of the first <paramref name="groups"/>
    /// pipelined groups (in the order <see cref="AddPipelinedClasses"/> lists them) as <see cref="FullPipeOptions"/> does for the
    /// search, and returns each class's figures: the time spent enumerating and costing, and the time spent pruning.
    /// </summary>
    public IReadOnlyList<PipelineMemberProfile> ProfilePipelineMembers(int groups, Func<bool> stop)
    {
        _pipeProfile = [];
        var w = _p.Workload;
        int n = 0;
        for (int last = 1; last < w.Layers.Count && n < groups; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last && n < groups; first++)
                foreach (var gc in GroupClasses(first, last, [false]))
                {
                    if (gc.Group.SharedLoops == 0) continue;
                    if (n++ >= groups || stop()) break;
                    for (int k = 0; k < gc.Members.Count; k++) FullPipeOptions(gc, k, stop);
                }
        var result = _pipeProfile;
        _pipeProfile = null;
        return result;
    }

    /// <summary>
    /// The search of a pipelined group, reached through its last member's class: every member's options are its template
    /// mappings and its whole class's (<see cref="FullPipeOptions"/>; when that enumeration is not complete, also its class's
    /// fastest member, the latency search of the class), combined by <see cref="PipelinedPoints"/>; the fastest point (then
    /// least energy) becomes the members' members when it beats what they had. When every member's enumeration was complete
    /// and nothing stopped, the group's bound is its least cycles (infinite when no combination is valid); otherwise it keeps
    /// its floor.
    /// </summary>
    private void SearchPipelined(ClassState last, Func<bool> stop, List<PipeGroup> groups, FusedMapping unfused)
    {
        last.Searched = true;
        var g = groups[last.PipeGroup];
        if (MemberOptions(g, stop, k =>
            {
                var own = new ClassState(g.Members[k].Layer, g.Members[k].Job);
                Search(own, double.PositiveInfinity, stop, seedWithDescent: false);
                return own.Member is { } m ? [OptionOf(g, k, m.Mapping)] : [];
            }) is not { } found)
            return;
        var (options, complete) = found;
        var points = GroupPoints(g, options, unfused, stop);
        complete &= !stop();
        var best = points.OrderBy(p => p.Cycles).ThenBy(p => p.Energy).FirstOrDefault();
        if (best is not null && (g.Members[^1].Member is not { } had || best.Cycles < had.Cycles))
            for (int k = 0; k < g.Members.Count; k++) g.Members[k].Member = best.Partials[k];
        if (complete) last.Lower = best?.Cycles ?? double.PositiveInfinity;
        last.Nodes += Spend(1);
    }

    /// <summary>
    /// Every member's options of a pipelined group in the searches over the full mapspace: its template mappings and its whole
    /// class's (<see cref="FullPipeOptions"/>); when that enumeration is not complete, also <paramref name="fallback"/>'s
    /// (its class's best mappings for the objective, found by that class's exact search); pruned by
    /// <see cref="DominantOptions"/>. Complete when every member's class was enumerated to the end; null when stopped.
    /// </summary>
    private (List<PipeOption>[] Options, bool Complete)? MemberOptions(PipeGroup g, Func<bool> stop, Func<int, IEnumerable<PipeOption>> fallback)
    {
        var gc = g.Class;
        var options = new List<PipeOption>[gc.Members.Count];
        bool complete = true;
        for (int k = 0; k < options.Length; k++)
        {
            if (TemplatePipeOptions(gc, k, stop) is not { } template) return null;
            var (full, whole) = FullPipeOptions(gc, k, stop);
            var list = template.Concat(full).ToList();
            if (!whole)
            {
                complete = false;
                list.AddRange(fallback(k));
            }
            if (stop()) return null;
            options[k] = DominantOptions(list);
        }
        return (options, complete);
    }

    /// <summary>A mapping of member <paramref name="k"/> of a pipelined group as one of its options (<see cref="PipeOptionOf"/>).</summary>
    private PipeOption OptionOf(PipeGroup g, int k, Mapping m)
        => PipeOptionOf(_p.Workload.Layers[g.Members[k].Layer].Name, g.Class.Members[k].Einsum, m, g.Class.Members[k].Held);

    /// <summary>The group's checked (energy, cycles) Pareto points over its members' options (<see cref="PipelinedPoints"/>), its members' partial mappings on the group's own keys.</summary>
    private List<KeepPoint> GroupPoints(PipeGroup g, List<PipeOption>[] options, FusedMapping unfused, Func<bool> stop)
        => PipelinedPoints(g.Class, k => options[k], unfused, stop, k => g.Members[k].Job.InKey, k => g.Members[k].Job.OutKey).ToList();
}
