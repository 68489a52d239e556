using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

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
    /// <summary>
    /// A pipelined group in the full search: its group class, its members' classes, in order (the last carries the group's
    /// cycles), and per member its layer's least sequential floor (<see cref="SequentialFloors"/>).
    /// </summary>
    private sealed record PipeGroup(GroupClass Class, IReadOnlyList<ClassState> Members, double[] Least)
    {
        /// <summary>True once its floor was raised with its members' own class cycle floors (<see cref="RaisedFloor"/>).</summary>
        public bool Floored { get; set; }
    }

    /// <summary>One member class's enumeration (<see cref="ProfilePipelineMembers"/>): mappings reached, valid, kept by the pruning, whether complete, and the time enumerating, checking validity, costing and pruning.</summary>
    public sealed record PipelineMemberProfile(string Layer, long Seen, long Valid, int Kept, bool Complete, TimeSpan Enumeration, TimeSpan Checking, TimeSpan Costing, TimeSpan Pruning);

    /// <summary>The options of each member class from its whole mapspace, and whether the enumeration was complete (cached per class).</summary>
    private readonly Dictionary<string, (List<PipeOption> Options, bool Complete)> _pipeFull = [];

    /// <summary>
    /// Adds to <paramref name="layers"/> every pipelined group (two to <see cref="FusionProblem.MaxPipelineLayers"/> layers with
    /// shared loops, halos recomputed; <see cref="GroupClasses"/>, as the brute force lists them): member k of group g follows
    /// the key <c>g:k</c> (DRAM for the first) and leaves <c>g:k+1</c> (DRAM for the last). Its members but the last are
    /// marked searched with the bound 0 (the group is searched as a whole, through its last member); the last has the group's
    /// bound, <see cref="PipelineFloor"/> over its members' layers' sequential floors (<see cref="SequentialFloors"/>), raised
    /// with its members' own class cycle floors only when the branch and bound reaches it (<see cref="RaisedFloor"/>). When
    /// stopped while listing (<paramref name="stopped"/>), every run of layers whose groups were not all listed gets instead one
    /// open chain (<see cref="AddOpenRun"/>) bounded by <see cref="OpenRunFloor"/>, so that the join of the bounds stays a lower
    /// bound over every pipelined group. <paramref name="sequentialFloor"/> reads a sequential class's cycle floor (the search's
    /// own: latency's bound, EDP's cycle floor); for EDP, <paramref name="sequentialEnergy"/> a sequential class's energy bound,
    /// whose least per layer, summed over an open chain's layers, is its energy bound (a member's energy in the pipeline is its
    /// twin's).
    /// </summary>
    private List<PipeGroup> AddPipelinedClasses(List<List<ClassState>> layers, Func<ClassState, double> sequentialFloor, Func<bool> stop, out bool stopped,
        Func<ClassState, double>? sequentialEnergy = null)
    {
        var w = _p.Workload;
        var groups = new List<PipeGroup>();
        var least = SequentialFloors(layers, sequentialFloor);
        var leastEnergy = sequentialEnergy is null ? null : SequentialFloors(layers, sequentialEnergy);
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
                        members[^1].Lower = PipelineFloor(gc, members, c => least[c.Layer]);
                        groups.Add(new PipeGroup(gc, members, least[first..(last + 1)]));
                        foreach (var c in members) layers[c.Layer].Add(c);
                    }
                if (stopped)
                    AddOpenRun(layers, first, last, open++, OpenRunFloor(first, last, least), leastEnergy?.Skip(first).Take(last - first + 1).Sum() ?? 0);
            }
        return groups;
    }

    /// <summary>
    /// A pipelined group's floor raised, once, when the branch and bound first reaches it: <see cref="PipelineFloor"/> with each
    /// member's own class cycle floor (a latency search's root bound, cached per shape, <see cref="ShapeCycleFloor"/>) or its
    /// layer's least sequential floor, the larger; the dear part of a group's bound, so taken only for the groups the search
    /// reaches (before f17n, for every group before the search began: on GPT-3, 7,837 groups). Null when already raised.
    /// </summary>
    private double? RaisedFloor(PipeGroup g, Func<bool> stop)
    {
        if (g.Floored) return null;
        g.Floored = true;
        return PipelineFloor(g.Class, g.Members, c => Math.Max(ShapeCycleFloor(c, stop), g.Least[c.Layer - g.Class.Group.First]));
    }

    /// <summary>
    /// Per layer, the least cycle floor (<paramref name="floorOf"/>) of its sequential classes (those of groups run one layer
    /// after the other, halos recomputed: the join's own, listed before any pipelined group); +infinity when it has none. A
    /// floor on every member's own cycles (the largest of its demands) in every pipelined group over that layer: the same group
    /// run sequentially with the same mappings is valid (the pipelined capacity rule only adds to the sequential rules), each
    /// member a member of one of the layer's sequential classes there with the same counts, so the same demands, and its fused
    /// cycles, the largest of them, at least that class's floor.
    /// </summary>
    private static double[] SequentialFloors(List<List<ClassState>> layers, Func<ClassState, double> floorOf)
        => layers.Select(l => l.Where(IsSequential).Select(floorOf).DefaultIfEmpty(double.PositiveInfinity).Min()).ToArray();

    /// <summary>A class of the sequential join: not a pipelined group's member, an open chain's, nor a kept-halo group's.</summary>
    private static bool IsSequential(ClassState c) => c.PipeGroup < 0 && !c.Open && c.Main is null;

    /// <summary>
    /// A floor on the cycles of every pipelined group of layers <paramref name="first"/>..<paramref name="last"/>, whatever its
    /// classes and shared iterations: the schedule's steady state (<see cref="PipelineSchedule.StepDemand"/> over every member)
    /// over floor vectors, per member its layer's compute floor in the slot all share and its layer's least sequential floor
    /// (<paramref name="least"/>, <see cref="SequentialFloors"/>) in a slot of its own. Every member runs in exactly
    /// <c>f</c> of the steps, so the schedule's steps summed hold, for each resource, <c>f</c> times the members' demands of
    /// it summed, and its cycles (that sum over <c>f</c>) are at least the largest over the resources of the members' summed
    /// demands: the steady state's step, whatever <c>f</c>.
    /// </summary>
    private double OpenRunFloor(int first, int last, double[] least)
    {
        var vectors = new List<long[]>();
        for (int i = first; i <= last; i++)
        {
            if (double.IsPositiveInfinity(least[i])) return double.PositiveInfinity;
            var v = new long[2 + last - first];
            v[0] = ComputeFloor(_p.Workload.Layers[i]);
            v[1 + i - first] = (long)Math.Ceiling(least[i]);
            vectors.Add(v);
        }
        return PipelineSchedule.StepDemand(vectors, 0, vectors.Count - 1);
    }

    /// <summary>A layer's compute floor: its MACs spread over every compute unit (<see cref="Counts.ComputeCycles"/>); a member's compute demand is at least it (a split member computes more).</summary>
    private long ComputeFloor(Einsum e)
    {
        long units = _p.Arch.ComputeInstances;
        return Counts.ComputeCycles((e.Macs + units - 1) / units, _p.Arch.Compute.MacsPerCycle);
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
    /// chain of classes from DRAM to DRAM over those layers, marked searched, with no member, its last class bounded by
    /// <paramref name="floor"/> (<see cref="OpenRunFloor"/>; its <see cref="ClassState.Lower"/> and its
    /// <see cref="ClassState.CycleFloor"/>, EDP's) and its energy by <paramref name="energy"/> (EDP's), the others by 0. It keeps
    /// the join of the classes' bounds a lower bound over every pipelined group and adds no answer.
    /// </summary>
    private static void AddOpenRun(List<List<ClassState>> layers, int first, int last, int id, double floor, double energy)
    {
        for (int i = first; i <= last; i++)
            layers[i].Add(new ClassState(i, new Job(i == first ? null : $"{PipeKey}open{id}:{i - first}", [], [], new Dictionary<int, long>(),
                i == last ? null : $"{PipeKey}open{id}:{i - first + 1}")) { Searched = true, Lower = i == last ? floor : 0, CycleFloor = i == last ? floor : 0,
                    EnergyLower = i == last ? energy : 0, Open = true });
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
        var vectors = new List<long[]>();
        for (int k = 0; k < members.Count; k++)
        {
            var c = members[k];
            double floor = floorOf(c);
            if (double.IsPositiveInfinity(floor)) return null;
            var v = new long[1 + members.Count];
            v[0] = ComputeFloor(EinsumOf(c.Layer, c.Job));
            v[1 + k] = (long)Math.Ceiling(floor);
            vectors.Add(v);
        }
        return vectors;
    }

    /// <summary>
    /// A pipelined group's member's partial mapping <paramref name="p"/> as a pick of the certificate (docs/fusion.md,
    /// "Certificate"), on the keys given: its energy and cycles unchanged (the group's cycles on its last member, 0 on the
    /// others), and its held words per level those of a member of its class (<see cref="Member"/>: its own tiles and the words
    /// reserved for held tensors living across it), the per-layer capacity rule the certificate states for every pick; the
    /// group's steps' words are its pipelined rule, checked whole when the point was found (<see cref="PipelinedPoints"/>).
    /// </summary>
    private FusionPartial CertificateMember(ClassState c, FusionPartial p, string? inKey, string? outKey)
        => p with { InKey = inKey, OutKey = outKey, Held = Member(c.Layer, c.Job, p.Mapping, CostModel.Evaluate(EinsumOf(c.Layer, c.Job), _p.Arch, p.Mapping), p.Order, out _).Held };

    /// <summary>A pipelined group's shared iterations (<see cref="FusionRules.Iterations"/>).</summary>
    private static long PipeIterations(GroupClass gc) => FusionRules.Iterations(gc.Group, i => gc.Plans[i - gc.Group.First].Shared);

    /// <summary>
    /// For tests: every valid mapping of the whole graph with <paramref name="gc"/>'s group pipelined inside
    /// <paramref name="unfused"/> and its members' mappings drawn from <see cref="BrutePipeMembers"/> (each combination),
    /// checked by <see cref="FusionChecker"/> and costed by <see cref="FusionCost"/>, with the group's index among the groups.
    /// </summary>
    private IEnumerable<(FusedCostReport Report, int Group)> BrutePipelined(FusedMapping unfused, GroupClass gc, Dictionary<string, List<Mapping>> cache)
    {
        var w = _p.Workload;
        var group = gc.Group.AsPipelined();
        int first = group.First;
        foreach (var ms in Product(gc.Members.Select(m => BrutePipeMembers(cache, m.Einsum, m.Room, m.Shared, m.Held)).ToList()))
        {
            var fm = new FusedMapping(unfused.Groups.Where(g => !group.Contains(g.First)).Append(group).OrderBy(g => g.First),
                unfused.Layers.Select((m, i) => group.Contains(i) ? ms[i - first] : m));
            if (FusionChecker.Check(w, _p.Arch, fm).Count > 0) continue;
            yield return (FusionCost.Evaluate(w, _p.Arch, fm), fm.Groups.ToList().FindIndex(g => g.First == first));
        }
    }

    /// <summary>
    /// For tests: every pipelined group (two to <see cref="FusionProblem.MaxPipelineLayers"/> layers with shared loops, as
    /// <see cref="AddPipelinedClasses"/> lists them), its floor (<see cref="PipelineFloor"/>, from its members' class cycle
    /// floors), its steady state's floor (one step of every member, times the iterations: the largest class floor or the
    /// compute floors summed, <see cref="PipelineSchedule.StepDemand"/>), its floor from its layers' least sequential floors
    /// alone (<see cref="PipelineFloor"/> over <see cref="SequentialFloors"/> of the sequential classes' cycle floors, the
    /// listing's first floor), the open chain's floor of its layers (<see cref="OpenRunFloor"/>, the same sequential floors),
    /// and its least cycles by brute force: every combination of its members' mappings of <see cref="BrutePipeMembers"/>, the
    /// group pipelined inside <paramref name="unfused"/>, checked by <see cref="FusionChecker"/> and costed by
    /// <see cref="FusionCost"/> (infinite when none is valid).
    /// </summary>
    internal IReadOnlyList<(FusedGroup Group, double Floor, double Steady, double Twin, double Open, long Least)> PipelineFloorsAndLeast(FusedMapping unfused)
    {
        var w = _p.Workload;
        var cache = new Dictionary<string, List<Mapping>>();
        var result = new List<(FusedGroup, double, double, double, double, long)>();
        var layers = ListClasses((i, job) =>
        {
            var c = new ClassState(i, job);
            c.Lower = CycleFloor(c);
            return c;
        }, c => double.IsPositiveInfinity(c.Lower))!;
        var sequential = SequentialFloors(layers, c => c.Lower);
        for (int last = 1; last < w.Layers.Count; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last; first++)
                foreach (var gc in GroupClasses(first, last, [false]))
                {
                    if (gc.Group.SharedLoops == 0) continue;
                    var members = PipeMembers(gc, result.Count);
                    var classFloors = members.Select(CycleFloor).ToArray();
                    double floor = PipelineFloor(gc, members, c => classFloors[c.Layer - first]);
                    double steady = FloorVectors(members, c => classFloors[c.Layer - first]) is { } v ? PipelineSchedule.StepDemand(v, 0, v.Count - 1) : double.PositiveInfinity;
                    double twin = PipelineFloor(gc, members, c => sequential[c.Layer]);
                    double open = OpenRunFloor(first, last, sequential);
                    var group = gc.Group.AsPipelined();
                    long least = long.MaxValue;
                    foreach (var (rep, g) in BrutePipelined(unfused, gc, cache)) least = Math.Min(least, rep.GroupCycles[g]);
                    result.Add((group, floor, steady, twin, open, least));
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
    /// The search of a pipelined group, reached through its last member's class under <paramref name="ceiling"/> (first its
    /// floor raised, <see cref="RaisedFloor"/>: at the ceiling, it is not enumerated): every member's options are its template
    /// mappings and its whole class's (<see cref="FullPipeOptions"/>; when that enumeration is not complete, also its class's
    /// fastest member, the latency search of the class), combined by <see cref="PipelinedPoints"/>; the fastest point (then
    /// least energy) becomes the members' members when it beats what they had. When every member's enumeration was complete
    /// and nothing stopped, the group's bound is its least cycles (infinite when no combination is valid); otherwise it keeps
    /// its floor.
    /// </summary>
    private void SearchPipelined(ClassState last, double ceiling, Func<bool> stop, List<PipeGroup> groups, FusedMapping unfused)
    {
        last.Searched = true;
        var g = groups[last.PipeGroup];
        // First its floor with its members' class floors: a group that floor puts at the ceiling is not enumerated.
        if (RaisedFloor(g, stop) is { } raised && Meets(last.Lower = Math.Max(last.Lower, raised), ceiling)) return;
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
