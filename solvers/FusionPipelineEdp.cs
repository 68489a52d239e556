using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// Pipelined groups in the EDP search over the full mapspace (docs/fusion.md, "Pipelined groups in EDP over the full
/// mapspace"): for each lambda, E + lambda C is still a sum over the groups (a pipelined group adds its members' energies
/// and its schedule's cycles), so each pipelined group enters every weighted join as the latency search lists it
/// (<see cref="AddPipelinedClasses"/>: a chain of classes with keys of its own, the group's value on its last member), its
/// bound the members' energy bounds summed plus lambda times its <see cref="PipelineFloor"/>, and, once its members' whole
/// classes are enumerated, its exact (energy, cycles) front, which answers every lambda.
/// </summary>
public sealed partial class FusionSearch
{
    /// <summary>
    /// What the EDP search knows of one pipelined group: the checked (energy, cycles) Pareto points found (each with its
    /// members' partial mappings), whether they are the group's whole front (every member's class enumerated to the end), a
    /// lower bound on its energy (its members' class bounds summed) and on its cycles (<see cref="PipelineFloor"/>), per member
    /// the mappings its class's weighted searches found (the options added when its class is not enumerated to the end), and
    /// the lambdas it was searched at.
    /// </summary>
    private sealed class PipeEdp(PipeGroup group)
    {
        public PipeGroup Group { get; } = group;
        public List<KeepPoint> Points { get; set; } = [];
        public bool Complete { get; set; }
        public double EnergyLower { get; set; }
        /// <summary>Per member, a lower bound on its fused energy (its class's energy bound, raised by its class's least-energy search).</summary>
        public double[] MemberEnergy { get; } = new double[group.Members.Count];
        /// <summary>True once its members' energy bounds were raised with their class bounds (<see cref="RaiseEnergyBounds"/>).</summary>
        public bool EnergyRaised { get; set; }
        /// <summary>Per member, true once its energy bound was raised with its class bound (<see cref="RaiseEnergyBounds"/>).</summary>
        public bool[] MemberRaised { get; } = new bool[group.Members.Count];
        /// <summary>True once every member's class had its least-energy search (<see cref="SettleEnergy"/>).</summary>
        public bool EnergySettled { get; set; }
        public double CycleFloor { get; set; }
        public List<PipeOption>[] Extra { get; } = group.Members.Select(_ => new List<PipeOption>()).ToArray();
        public HashSet<double> SearchedAt { get; } = [];
        /// <summary>
        /// Per member, its class as a single-layer problem for E + lambda C (its own fused cycles), whose weighted searches' bounds
        /// (<see cref="ClassState.Known"/>) give <see cref="MemberWeightedFloor"/>; null until the group is first searched.
        /// </summary>
        public ClassState[]? Own { get; set; }
        /// <summary>The group's shared iterations (<see cref="PipeIterations"/>).</summary>
        public long Iterations { get; } = PipeIterations(group.Class);
        /// <summary>
        /// Per narrow level (<see cref="NarrowLevels"/>: its capacity and, per member, a lower bound on the member's fused energy
        /// when it keeps nothing there but held tensors, its class searched with that level bypassed, <see cref="SettleBare"/>;
        /// 0 until searched, and read no lower than the member's energy bound).
        /// </summary>
        public List<(int Level, long Capacity, double[] Bare)> Narrow { get; } = [];
        /// <summary>True once every member's class was searched with each narrow level bypassed (<see cref="SettleBare"/>).</summary>
        public bool BareSettled { get; set; }
    }

    /// <summary>
    /// The narrow levels of a pipelined group (docs/fusion.md, "Pipelined groups in EDP over the full mapspace", "a narrow
    /// level"): every on-chip level whose capacity (words per instance) is below the most members active in one step (the
    /// smaller of the members and the shared iterations), so that not every active member may keep something there.
    /// </summary>
    private IEnumerable<(int Level, long Capacity)> NarrowLevels(PipeEdp p)
    {
        long widest = Math.Min(p.Group.Members.Count, p.Iterations);
        for (int l = 1; l < _p.Arch.Levels.Count; l++)
            if (_p.Arch.Levels[l].Capacity is { } cap && cap < widest) yield return (l, cap);
    }

    /// <summary>
    /// A lower bound on a pipelined group's energy (<paramref name="j"/> &lt; 0), or on its energy with member <paramref name="j"/>'s
    /// energy replaced by <paramref name="own"/> (<see cref="MemberWeightedFloor"/>): its members' energy bounds summed, and at each
    /// narrow level the least, over the sets of members that may keep something there, of the keepers' energy bounds plus the
    /// others' when keeping nothing there (<see cref="PipelineSchedule.LeastOverKeepers"/>; member j counted at
    /// <paramref name="own"/> either way). The largest.
    /// </summary>
    private static double NarrowFloor(PipeEdp p, int j = -1, double own = 0)
    {
        var keeping = p.MemberEnergy.ToArray();
        if (j >= 0) keeping[j] = own;
        double best = keeping.Sum();
        foreach (var (_, capacity, bare) in p.Narrow)
        {
            var without = bare.Select((x, k) => k == j ? own : Math.Max(x, keeping[k])).ToArray();
            best = Math.Max(best, PipelineSchedule.LeastOverKeepers(keeping, without, capacity, p.Iterations));
        }
        return best;
    }

    /// <summary>A group's energy bound raised to its members' energy bounds summed and its narrow levels' floor (<see cref="NarrowFloor"/>), on its last member's class.</summary>
    private static void RaiseEnergy(PipeEdp p)
    {
        p.EnergyLower = Math.Max(p.EnergyLower, NarrowFloor(p));
        SetBounds(p);
    }

    /// <summary>
    /// A lower bound on E + <paramref name="lambda"/> C over every point of the group from its members' weighted class bounds
    /// (docs/fusion.md, "Pipelined groups in EDP over the full mapspace", "Its members' weighted bounds"): the group's cycles are
    /// at least every member's own cycles (the largest of its demands: the member is active in f steps and a step takes at
    /// least its demand of that resource over f), so for each member j, E + lambda C is at least member j's least
    /// E_j + lambda C_j over its class (<see cref="WeightedLower"/> from its weighted searches) plus the other members' energy
    /// bounds (with the narrow levels' floor, <see cref="NarrowFloor"/>, j's term the same whether it keeps there or not). The
    /// largest over j; 0 before the group's first search.
    /// </summary>
    private static double MemberWeightedFloor(PipeEdp p, double lambda)
    {
        if (p.Own is null) return 0;
        double best = 0;
        for (int j = 0; j < p.Own.Length; j++)
            best = Math.Max(best, NarrowFloor(p, j, Math.Max(p.MemberEnergy[j], WeightedLower(p.Own[j], lambda))));
        return double.IsNaN(best) ? double.PositiveInfinity : best;
    }

    /// <summary>
    /// Each member's class searched for its least E + <paramref name="lambda"/> C_own (<see cref="SearchWeighted"/>, shared per
    /// shape and lambda with the sequential classes) under the ceiling the group's <paramref name="ceiling"/> leaves it (less the
    /// other members' energy bounds), the members of largest cycle floor first, until <see cref="MemberWeightedFloor"/> puts the
    /// group at the ceiling. Each member's optimum found becomes one of its options. False when stopped.
    /// </summary>
    private bool WeighMembers(PipeEdp p, double lambda, double ceiling, Func<bool> stop)
    {
        var g = p.Group;
        p.Own ??= g.Members.Select(m => new ClassState(m.Layer, m.Job) { Removed = m.Removed }).ToArray();
        double energy = p.MemberEnergy.Sum();
        foreach (int k in Enumerable.Range(0, g.Members.Count).OrderByDescending(k => g.Least[k]))
        {
            if (stop()) return false;
            var own = p.Own[k];
            own.EnergyLower = Math.Max(own.EnergyLower, p.MemberEnergy[k]);
            if (own.Known.Any(x => x.Lambda == lambda)) continue;
            SearchWeighted(own, lambda, ceiling - (energy - p.MemberEnergy[k]), stop);
            if (own.Member is { } m) p.Extra[k].Add(OptionOf(g, k, m.Mapping));
            _memberWeighings++;
            ResetPiped(p, lambda);
            if (Meets(g.Members[^1].Lower, ceiling)) return true;
        }
        return !stop();
    }

    /// <summary>Counters printed in the `EDP search:` line: member weighted searches run, group searches ended by the member floor before enumerating, and group searches that enumerated.</summary>
    private long _memberWeighings, _groupsCutByMembers, _groupsEnumerated, _bareSearches, _groupsCutByBare;

    /// <summary>
    /// EDP's first bounds of the pipelined groups <see cref="AddPipelinedClasses"/> listed (their last members' bounds are then
    /// their first cycle floors): per group, its members' energy bounds (each its layer's least sequential energy bound,
    /// <paramref name="leastEnergy"/>, <see cref="SequentialFloors"/>: a member's energy is its sequential twin's) summed, and
    /// that cycle floor, and what fusion removes from each member's energy; on the classes, as the weighted join reads them: the members but the last bound 0 (energy and cycles),
    /// the last the group's. Both are raised with the members' own class bounds when a join first reaches the group
    /// (<see cref="RaiseEnergyBounds"/>, <see cref="RaiseCycles"/>).
    /// </summary>
    private List<PipeEdp> BoundPipedWeighted(List<PipeGroup> groups, double[] leastEnergy)
    {
        var result = new List<PipeEdp>();
        foreach (var g in groups)
        {
            var last = g.Members[^1];
            var p = new PipeEdp(g) { CycleFloor = last.Lower };
            for (int k = 0; k < g.Members.Count; k++)
            {
                var c = g.Members[k];
                c.Removed = FusionCost.ClassRemoval(EinsumOf(c.Layer, c.Job), _p.Arch, c.Job.Shared, c.Job.Held);
                p.EnergyLower += p.MemberEnergy[k] = leastEnergy[c.Layer];
            }
            SetBounds(p);
            result.Add(p);
        }
        return result;
    }

    /// <summary>A group's energy bound and cycle floor on its last member's class, as the weighted join reads them.</summary>
    private static void SetBounds(PipeEdp p)
    {
        var last = p.Group.Members[^1];
        last.EnergyLower = p.EnergyLower;
        last.CycleFloor = p.CycleFloor;
        last.Empty = double.IsPositiveInfinity(p.EnergyLower) || double.IsPositiveInfinity(p.CycleFloor);
    }

    /// <summary>
    /// A group's energy bound raised when a join reaches it: each member's energy bound with the energy search's class bound
    /// (<see cref="ClassBound"/>, less what fusion removes: a member's fused energy is its own in the pipeline, the energy of the
    /// same group run sequentially), shared by shape with the sequential classes. Taken before its cycle floor
    /// (<see cref="RaiseCycles"/>, f17s): on GPT-3 it alone puts most groups the join reaches at their ceilings. With
    /// <paramref name="knownOnly"/>, only the members whose shape's class bound is already known (free; f17u: a group these
    /// put at its ceiling has its other members' bounds left for a later visit); otherwise every member not yet raised, on
    /// every thread the search has. Each raise is a lower bound on its member, so any subset of them is sound. False when it
    /// raised no member.
    /// </summary>
    private bool RaiseEnergyBounds(PipeEdp p, Func<bool> stop, bool knownOnly)
    {
        if (p.EnergyRaised) return false;
        var g = p.Group;
        var todo = Enumerable.Range(0, g.Members.Count).Where(k => !p.MemberRaised[k]).ToList();
        var bounds = new double[todo.Count];
        var taken = new bool[todo.Count];
        if (knownOnly)
        {
            for (int t = 0; t < todo.Count; t++)
                if (KnownClassBound(g.Members[todo[t]]) is { } b) (bounds[t], taken[t]) = (b, true);
        }
        else
            // The members' class bounds on every thread the search has (f17t; each shape once, ClassBound): each member's own.
            Parallel.For(0, todo.Count, new ParallelOptions { MaxDegreeOfParallelism = SearchThreads }, t =>
            {
                if (stop()) return;
                bounds[t] = ClassBound(g.Members[todo[t]]);
                taken[t] = true;
            });
        bool raised = false;
        for (int t = 0; t < todo.Count; t++)
        {
            if (!taken[t]) continue;
            int k = todo[t];
            p.MemberEnergy[k] = Math.Max(p.MemberEnergy[k], bounds[t] - g.Members[k].Removed!.Value);
            p.MemberRaised[k] = raised = true;
        }
        p.EnergyRaised = p.MemberRaised.All(x => x) || (!knownOnly && stop());
        if (raised) RaiseEnergy(p);
        return raised;
    }

    /// <summary>
    /// The class bounds a weighted join with pipelined groups will ask for (<see cref="RaiseEnergyBounds"/>), computed ahead on
    /// one thread of their own beside the join (f17y): the join runs one group after another on its thread, and each group
    /// otherwise computes the few bounds it lacks there. The groups below the best total at the join's start (no other is
    /// ever reached) in the order of their totals of bounds then (<see cref="NextClass"/>'s, on their last members): the order
    /// the join reaches them as far as its start tells. A group's members' bounds are computed only when the bounds computed
    /// by then would leave it below that best total (the join's first raise, with the known bounds, ends the others, and their
    /// other members' bounds are never asked for there): its members' energy bounds summed, each raised with its shape's
    /// bound when computed, plus lambda times its cycle floor, with the totals of bounds before and after it. Each bound is a
    /// pure value of its shape, computed once whoever asks first (<see cref="ShapeBoundOf"/>), and the search reads as known
    /// only the bounds it took itself (<see cref="KnownClassBound"/>): the same answers and the same path, only sooner. Null
    /// (nothing started) with one thread (<c>--threads 1</c>), without shared shapes or without groups. Disposing it stops it
    /// after the bound in hand and waits for it. With <see cref="BoundsAheadFirst"/> (tests) the same bounds are computed on
    /// the calling thread before the join, and null is returned.
    /// </summary>
    private IDisposable? ClassBoundsAhead(List<List<ClassState>> layers, List<PipeEdp> piped, double lambda, Func<FusionPartial, double> value, Func<bool> stop)
    {
        if (piped.Count == 0 || !_p.ReuseSameShapes || (SearchThreads < 2 && !BoundsAheadFirst)) return null;
        int n = layers.Count;
        var keys = KeyIndex.Of(layers);
        var forward = keys.Forward(layers, c => c.Lower);
        var backward = keys.Backward(layers, c => c.Lower);
        double best = keys.Forward(layers, c => c.Member is { } m ? value(m) : double.PositiveInfinity)[n][keys.Dram];
        var reached = new List<(double Total, double Around, PipeEdp Group)>();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < layers[i].Count; j++)
            {
                var c = layers[i][j];
                if (c.PipeGroup < 0 || c.Searched || !ReferenceEquals(c, piped[c.PipeGroup].Group.Members[^1]) || piped[c.PipeGroup].EnergyRaised) continue;
                double around = forward[i][keys.In[i][j]] + backward[i + 1][keys.Out[i][j]];
                if (!Meets(around + c.Lower, best)) reached.Add((around + c.Lower, around, piped[c.PipeGroup]));
            }
        if (reached.Count == 0) return null;
        var order = reached.OrderBy(x => x.Total).ToList();
        void Compute(Func<bool> done)
        {
            foreach (var (total, around, p) in order)
            {
                if (done() || stop()) return;
                var members = p.Group.Members;
                var missing = new List<ShapeBound>();
                double energy = 0;
                for (int k = 0; k < members.Count; k++)
                {
                    var shape = p.MemberRaised[k] ? null : ShapeBoundOf(members[k]);
                    if (shape is { Value.IsValueCreated: false }) missing.Add(shape);
                    energy += shape is { Value.IsValueCreated: true } ? Math.Max(p.MemberEnergy[k], shape.Value.Value - members[k].Removed!.Value) : p.MemberEnergy[k];
                }
                if (missing.Count == 0 || Meets(Math.Max(total, around + Math.Max(p.EnergyLower, energy) + lambda * p.CycleFloor), best)) continue;
                foreach (var shape in missing)
                {
                    if (done() || stop()) return;
                    if (BoundsAheadFirst && !shape.Value.IsValueCreated) BoundsComputedAhead++;
                    // An exception stays in the shape's Lazy, thrown again to the search when it asks.
                    try { _ = shape.Value.Value; } catch (Exception) { }
                }
            }
        }
        if (!BoundsAheadFirst) return new AheadThread(Compute);
        Compute(() => false);
        return null;
    }

    /// <summary>
    /// Tests only: the class bounds <see cref="ClassBoundsAhead"/> computes on a thread of their own, computed instead on the
    /// search's thread before each join with pipelined groups, all of them, whatever the threads: a deterministic stand-in for
    /// the thread at its fastest (every bound ready before the join asks).
    /// </summary>
    internal bool BoundsAheadFirst { get; init; }

    /// <summary>
    /// Tests only: when set, each search of a pipelined group in a weighted join (<see cref="SearchPipelinedWeighted"/>) adds a
    /// line, in the order the join decides them: the group, the lambda, the members each pass of <see cref="RaiseEnergyBounds"/>
    /// raised (the known class bounds', then the ones it took), and what ended it. The search's path, to compare between runs.
    /// </summary>
    internal List<string>? GroupDecisions { get; init; }

    /// <summary>Tests only, with <see cref="BoundsAheadFirst"/>: the class bounds computed ahead that no one had computed before.</summary>
    internal int BoundsComputedAhead { get; private set; }

    /// <summary>A background thread running a loop that reads a "done" flag, stopped and waited for when disposed.</summary>
    private sealed class AheadThread : IDisposable
    {
        private volatile bool _done;
        private readonly Thread _thread;

        public AheadThread(Action<Func<bool>> loop)
        {
            _thread = new Thread(() => loop(() => _done)) { IsBackground = true, Name = "class bounds ahead" };
            _thread.Start();
        }

        public void Dispose()
        {
            _done = true;
            _thread.Join();
        }
    }

    /// <summary>
    /// A group's cycle floor raised, once, with its members' own class cycle floors (<see cref="RaisedFloor"/>, latency's).
    /// False when already raised.
    /// </summary>
    private bool RaiseCycles(PipeEdp p, Func<bool> stop)
    {
        if (RaisedFloor(p.Group, stop) is not { } floor) return false;
        p.CycleFloor = Math.Max(p.CycleFloor, floor);
        SetBounds(p);
        return true;
    }

    /// <summary>
    /// A pipelined group at the start of a weighted join at <paramref name="lambda"/>, and after its search: its members the
    /// partial mappings of its point of least E + lambda C; its last member's bound that least value when the points are its
    /// whole front (+infinity when it has none), else its energy bound plus lambda times its cycle floor (every point of the
    /// group has E at least the one and C at least the other); searched when its front is whole or it was searched at this lambda.
    /// At lambda 0 it is left out of the join (+infinity, searched): its sequential twin has the same energy.
    /// </summary>
    private static void ResetPiped(PipeEdp p, double lambda)
    {
        double Value(KeepPoint x) => x.Energy + lambda * x.Cycles;
        var members = p.Group.Members;
        var last = members[^1];
        var best = p.Points.Count == 0 ? null : p.Points.MinBy(Value);
        for (int k = 0; k < members.Count; k++) members[k].Member = best?.Partials[k];
        double floor = last.Empty ? double.PositiveInfinity : Math.Max(p.EnergyLower + lambda * p.CycleFloor, MemberWeightedFloor(p, lambda));
        last.Lower = p.Complete ? (best is null ? double.PositiveInfinity : Value(best)) : floor;
        last.Searched = last.Empty || p.Complete || p.SearchedAt.Contains(lambda);
        // Energy alone: the same group run sequentially with the same mappings is valid (the pipelined capacity rule only adds
        // to the sequential rules) and has the same energy, so the least energy over the space is the sequential groups' and
        // the join at lambda 0 leaves pipelined groups out; its bound is still one on every fused mapping's energy.
        if (lambda == 0) (last.Lower, last.Searched) = (double.PositiveInfinity, true);
    }

    /// <summary>
    /// Raises a group's energy bound by its members' least energies: each member's class searched for its least fused energy
    /// (<see cref="SearchWeighted"/> at lambda 0, shared per shape with the sequential classes) under the ceiling the group's
    /// <paramref name="ceiling"/> leaves it (less lambda times the group's cycle floor and the other members' energy bounds);
    /// a member's fused energy in the pipeline is its own (the same counts as run sequentially), so every point of the group
    /// has at least their sum. Each member's least-energy mapping found becomes one of its options. True when settled (not
    /// stopped); the group's bound at <paramref name="lambda"/> is then raised (<see cref="ResetPiped"/>).
    /// </summary>
    private bool SettleEnergy(PipeEdp p, double lambda, double ceiling, Func<bool> stop)
    {
        var g = p.Group;
        for (int k = 0; k < g.Members.Count; k++)
        {
            if (stop()) return false;
            var own = new ClassState(g.Members[k].Layer, g.Members[k].Job) { Removed = g.Members[k].Removed, EnergyLower = p.MemberEnergy[k] };
            SearchWeighted(own, 0, ceiling - lambda * p.CycleFloor - (p.MemberEnergy.Sum() - p.MemberEnergy[k]), stop);
            if (own.Empty) p.MemberEnergy[k] = double.PositiveInfinity;
            else p.MemberEnergy[k] = Math.Max(p.MemberEnergy[k], own.Known.Where(x => x.Lambda == 0).Select(x => x.Bound).DefaultIfEmpty(0).Max());
            if (own.Member is { } m) p.Extra[k].Add(OptionOf(g, k, m.Mapping));
        }
        if (stop()) return false;
        p.EnergySettled = true;
        RaiseEnergy(p);
        ResetPiped(p, lambda);
        return true;
    }

    /// <summary>
    /// Raises a group's energy bound by its narrow levels (<see cref="NarrowLevels"/>, <see cref="NarrowFloor"/>; docs/fusion.md,
    /// "a narrow level"): at each, each member that could keep something there besides the held tensors has its class searched
    /// for its least fused energy with that level keeping nothing else (<see cref="FusionMapspace.KeepingNothingAt"/>,
    /// <see cref="SearchWeighted"/> at lambda 0, shared per shape) under the ceiling the group's <paramref name="ceiling"/> leaves
    /// it (less lambda times the group's cycle floor and the other members' energy bounds: a bound at that ceiling already puts
    /// every set of keepers without it there). Each such least mapping is a member of the class too and becomes one of its
    /// options. True when settled (not stopped); the group's bound at <paramref name="lambda"/> is then raised.
    /// </summary>
    private bool SettleBare(PipeEdp p, double lambda, double ceiling, Func<bool> stop)
    {
        var g = p.Group;
        if (p.Narrow.Count == 0)
            foreach (var (l, cap) in NarrowLevels(p)) p.Narrow.Add((l, cap, new double[g.Members.Count]));
        foreach (var (l, _, bare) in p.Narrow)
            for (int k = 0; k < g.Members.Count; k++)
            {
                var c = g.Members[k];
                var e = EinsumOf(c.Layer, c.Job);
                // A member that could keep nothing there anyway (its tensors' roles, or only held tensors) keeps its energy bound.
                if (!e.Tensors.Any(t => _p.Arch.Levels[l].MayKeep(t.Role) && !c.Job.Held.Any(h => h.Tensor == t.Id && h.Level == l))) continue;
                if (bare[k] > 0) continue;
                if (stop()) return false;
                var own = new ClassState(c.Layer, c.Job with { Bare = l }) { Removed = c.Removed, EnergyLower = p.MemberEnergy[k] };
                SearchWeighted(own, 0, ceiling - lambda * p.CycleFloor - (p.MemberEnergy.Sum() - p.MemberEnergy[k]), stop);
                bare[k] = own.Empty ? double.PositiveInfinity : Math.Max(p.MemberEnergy[k], own.Known.Where(x => x.Lambda == 0).Select(x => x.Bound).DefaultIfEmpty(0).Max());
                if (own.Member is { } m) p.Extra[k].Add(OptionOf(g, k, m.Mapping));
                _bareSearches++;
            }
        if (stop()) return false;
        p.BareSettled = true;
        RaiseEnergy(p);
        ResetPiped(p, lambda);
        return true;
    }

    /// <summary>
    /// The search of a pipelined group at <paramref name="lambda"/>, reached through its last member's class: every member's
    /// options (<see cref="MemberOptions"/>: its template mappings and its whole class's; when that class is not enumerated
    /// to the end, also the weighted optimum at every lambda searched so far of its class, <see cref="SearchWeighted"/>),
    /// combined by <see cref="PipelinedPoints"/> into checked (energy, cycles) points, kept with the points found before on
    /// their Pareto front. When every member's class was enumerated and nothing stopped, that front is the group's whole
    /// front: its bound at every lambda is then its least E + lambda C. Otherwise it keeps its floor.
    /// </summary>
    private void SearchPipelinedWeighted(PipeEdp p, double lambda, double ceiling, Func<bool> stop, FusedMapping unfused)
    {
        var g = p.Group;
        var last = g.Members[^1];
        last.Searched = true;
        p.SearchedAt.Add(lambda);
        // First its bounds with its members' class bounds, the energy's (RaiseEnergyBounds), then the cycles' (RaiseCycles): a
        // group either puts at the ceiling is not enumerated (nor, by the first, has its cycle floor taken).
        // The members whose class bounds are known first (free), then the others (f17u).
        var decision = GroupDecisions is null ? null : new System.Text.StringBuilder($"group {last.PipeGroup} at {lambda:R}:");
        void Decided(string how)
        {
            if (decision is null) return;
            decision.Append($" {how}");
            lock (GroupDecisions!) GroupDecisions.Add(decision.ToString());
        }
        foreach (bool knownOnly in new[] { true, false })
        {
            var before = decision is null ? null : p.MemberRaised.ToArray();
            bool raisedAny = RaiseEnergyBounds(p, stop, knownOnly);
            if (before is not null)
                decision!.Append($" {(knownOnly ? "known" : "taken")} [{string.Join(",", Enumerable.Range(0, before.Length).Where(k => !before[k] && p.MemberRaised[k]))}]");
            if (raisedAny)
            {
                ResetPiped(p, lambda);
                last.Searched = true;
                if (Meets(last.Lower, ceiling)) { Decided("ended by its class bounds"); return; }
            }
        }
        if (RaiseCycles(p, stop))
        {
            ResetPiped(p, lambda);
            last.Searched = true;
            if (Meets(last.Lower, ceiling)) { Decided("ended by its cycle floor"); return; }
        }
        // First the members' least energies (cheap beside the enumeration, and shared by shape with the sequential classes):
        // a group whose bound they raise to the ceiling is not enumerated at this lambda.
        if (!p.EnergySettled && SettleEnergy(p, lambda, ceiling, stop) && Meets(last.Lower, ceiling)) { Decided("ended by its members' least energies"); return; }
        // Then the narrow levels' floor (every member's class with each narrow level bypassed, shared by shape): a group it
        // raises to the ceiling is not enumerated at this lambda.
        if (p.EnergySettled && !p.BareSettled && SettleBare(p, lambda, ceiling, stop) && Meets(last.Lower, ceiling)) { _groupsCutByBare++; Decided("ended by its narrow levels' floors"); return; }
        // Then each member's weighted optimum at this lambda (shared by shape and lambda with the sequential classes): a group
        // whose member floor (MemberWeightedFloor) reaches the ceiling is not enumerated at this lambda.
        if (!p.Complete && WeighMembers(p, lambda, ceiling, stop) && Meets(last.Lower, ceiling)) { _groupsCutByMembers++; Decided("ended by its members' weighted floors"); return; }
        _groupsEnumerated++;
        Decided("enumerated");
        if (MemberOptions(g, stop, k =>
            {
                var own = p.Own![k];
                SearchWeighted(own, lambda, double.PositiveInfinity, stop);
                if (own.Member is { } m) p.Extra[k].Add(OptionOf(g, k, m.Mapping));
                return p.Extra[k];
            }) is not { } found)
            return;
        var (options, complete) = found;
        var points = GroupPoints(g, options, unfused, stop);
        complete &= !stop();
        p.Points = Pareto(p.Points.Concat(points).ToList(), x => x.Energy, x => x.Cycles);
        p.Complete |= complete;
        if (p.Complete) Settle(p);
        ResetPiped(p, lambda);
        last.Nodes += Spend(1);
    }

    /// <summary>
    /// Every point found of every pipelined group (<see cref="PipeEdp.Points"/>) as the certificate's picks (docs/fusion.md,
    /// "Certificate"), with the layer each belongs to: point <c>q</c> of group <c>g</c> on keys of its own (member k follows
    /// <c>g.q:k</c>, DRAM before the first, and leaves <c>g.q:k+1</c>, DRAM after the last), so that a combination takes a
    /// whole point or none of it, as the weighted joins do (<see cref="ResetPiped"/> gives a group's members one point's
    /// partial mappings). Each member keeps the point's values: its energy, and the group's cycles (its schedule's,
    /// <see cref="PipelinedPoints"/>) on the last member, 0 on the others; its held words are <see cref="CertificateMember"/>'s.
    /// </summary>
    private IEnumerable<(int Layer, FusionPartial Partial)> CertificatePoints(List<PipeEdp> piped)
    {
        for (int g = 0; g < piped.Count; g++)
        {
            var members = piped[g].Group.Members;
            for (int q = 0; q < piped[g].Points.Count; q++)
                for (int k = 0; k < members.Count; k++)
                    yield return (members[k].Layer, CertificateMember(members[k], piped[g].Points[q].Partials[k],
                        k == 0 ? null : $"{PipeKey}{g}.{q}:{k}", k == members.Count - 1 ? null : $"{PipeKey}{g}.{q}:{k + 1}"));
        }
    }

    /// <summary>
    /// A group whose points are its whole front: its energy bound and cycle floor raised to its least energy and its least
    /// cycles over them (+infinity when it has none), so that the whole space's cycle floor (<see cref="SpaceCycleFloor"/>),
    /// taken again before each polygon, sees them.
    /// </summary>
    private static void Settle(PipeEdp p)
    {
        p.EnergyLower = Math.Max(p.EnergyLower, p.Points.Count == 0 ? double.PositiveInfinity : p.Points.Min(x => x.Energy));
        p.CycleFloor = Math.Max(p.CycleFloor, p.Points.Count == 0 ? double.PositiveInfinity : p.Points.Min(x => x.Cycles));
        SetBounds(p);
    }

    /// <summary>For tests: each member's least fused energy, its class searched exactly (no ceiling), as the group's member energy bounds.</summary>
    private void SearchLeastEnergies(PipeEdp p)
    {
        var members = p.Group.Members;
        for (int k = 0; k < members.Count; k++)
        {
            var c = members[k];
            c.Removed = FusionCost.ClassRemoval(EinsumOf(c.Layer, c.Job), _p.Arch, c.Job.Shared, c.Job.Held);
            var least = new ClassState(c.Layer, c.Job) { Removed = c.Removed };
            SearchWeighted(least, 0, double.PositiveInfinity, () => false);
            p.MemberEnergy[k] = least.Empty ? double.PositiveInfinity : least.Known.Max(x => x.Bound);
        }
    }

    /// <summary>
    /// For tests: every pipelined group (as <see cref="AddPipelinedClasses"/> lists them) with a narrow level
    /// (<see cref="NarrowLevels"/>): its members' least energies summed (each member's class searched exactly), its energy floor
    /// with its narrow levels (<see cref="NarrowFloor"/> after <see cref="SettleBare"/>, no ceiling), and its least energy by
    /// brute force: every combination of its members' <see cref="BrutePipeMembers"/> mappings, the group pipelined inside
    /// <paramref name="unfused"/>, checked by <see cref="FusionChecker"/> and costed by <see cref="FusionCost"/> (infinite when
    /// none is valid).
    /// </summary>
    internal IReadOnlyList<(FusedGroup Group, double Plain, double Floor, double Least)> PipelineNarrowFloorsAndLeast(FusedMapping unfused)
    {
        var w = _p.Workload;
        var cache = new Dictionary<string, List<Mapping>>();
        var result = new List<(FusedGroup, double, double, double)>();
        int id = 0;
        for (int last = 1; last < w.Layers.Count; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last; first++)
                foreach (var gc in GroupClasses(first, last, [false]))
                {
                    if (gc.Group.SharedLoops == 0) continue;
                    var members = PipeMembers(gc, id++);
                    var p = new PipeEdp(new PipeGroup(gc, members, new double[members.Count]));
                    if (!NarrowLevels(p).Any()) continue;
                    SearchLeastEnergies(p);
                    SettleBare(p, 0, double.PositiveInfinity, () => false);
                    double best = double.PositiveInfinity;
                    foreach (var (rep, _) in BrutePipelined(unfused, gc, cache))
                        best = Math.Min(best, rep.Layers.Skip(first).Take(last - first + 1).Sum(x => x.Energy));
                    result.Add((gc.Group.AsPipelined(), p.MemberEnergy.Sum(), NarrowFloor(p), best));
                }
        return result;
    }

    /// <summary>
    /// For tests: every pipelined group (as <see cref="AddPipelinedClasses"/> lists them) with its members' weighted floor at
    /// <paramref name="lambda"/> (<see cref="MemberWeightedFloor"/>, each member's class searched exactly for E + lambda C_own and
    /// for its least energy, the search's energy bound) and its least E + lambda C by brute force: every combination of its
    /// members' <see cref="BrutePipeMembers"/> mappings, the group pipelined inside <paramref name="unfused"/>, checked by
    /// <see cref="FusionChecker"/> and costed by <see cref="FusionCost"/> (infinite when none is valid).
    /// </summary>
    internal IReadOnlyList<(FusedGroup Group, double Floor, double Least)> PipelineWeightedFloorsAndLeast(FusedMapping unfused, double lambda)
    {
        var w = _p.Workload;
        var cache = new Dictionary<string, List<Mapping>>();
        var result = new List<(FusedGroup, double, double)>();
        for (int last = 1; last < w.Layers.Count; last++)
            for (int first = Math.Max(0, last - FusionProblem.MaxPipelineLayers + 1); first < last; first++)
                foreach (var gc in GroupClasses(first, last, [false]))
                {
                    if (gc.Group.SharedLoops == 0) continue;
                    var members = PipeMembers(gc, result.Count);
                    var p = new PipeEdp(new PipeGroup(gc, members, new double[members.Count]));
                    SearchLeastEnergies(p);
                    p.Own = members.Select(c => new ClassState(c.Layer, c.Job) { Removed = c.Removed }).ToArray();
                    foreach (var own in p.Own) SearchWeighted(own, lambda, double.PositiveInfinity, () => false);
                    double floor = MemberWeightedFloor(p, lambda);
                    var group = gc.Group.AsPipelined();
                    double best = double.PositiveInfinity;
                    foreach (var (rep, g) in BrutePipelined(unfused, gc, cache))
                        best = Math.Min(best, rep.Layers.Skip(first).Take(last - first + 1).Sum(x => x.Energy) + lambda * rep.GroupCycles[g]);
                    result.Add((group, floor, best));
                }
        return result;
    }
}
