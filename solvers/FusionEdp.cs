using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// The fused EDP search over the full mapspace (docs/fusion.md, "EDP over the full mapspace"): EDP = (sum E)(sum C) is least
/// at a supported point of the (sum E, sum C) front, one that minimizes E + lambda C for some lambda >= 0, and E + lambda C is
/// a sum over the layers, so each lambda is the class join of the energy search with a weighted class objective. A
/// dichotomic search over lambda, with the bound of the polygon the solved lambdas cut out, finds the least EDP and proves it.
/// </summary>
public sealed partial class FusionSearch
{
    /// <summary>One weighted join solved: its lambda, a lower bound on min(E + lambda C) over the fused mapspace, and the point it found.</summary>
    private sealed record LambdaLine(double Lambda, double Bound, double Energy, double Cycles);

    private FusionResult SolveFullEdp(SearchLimits limits, Stopwatch sw, Func<bool> stop, FusionResult template)
    {
        var w = _p.Workload;
        int n = w.Layers.Count;
        // 1. The template's optimum (groups that keep halos too with --keep-halos, groups run sequentially; searched first, Solve):
        //    the answer to beat, its unfused mapping the one printed beside, its partial mappings the classes' first members.
        if (template.Status == SolveStatus.Unknown) return template;
        if (stop()) return TemplateAnswer(template, sw, "stopped before the search over the full mapspace began");

        // 2. Every class of every layer reachable along compatible keys, with its removal, its energy bound (the energy search's,
        //    TilingSearch.LowerBound less R) and its cycle floor (the least fused cycles any member has, the latency root bound).
        limits.Progress?.Phase("listing and bounding the classes of partial mappings");
        // A layer's classes are bounded on every thread the search has (f17t: one at a time this took about 30 s of GPT-3's
        // proof); each shape's bound and floor once (ClassBound's sharing; the floor, the same constrained problem, too).
        var floors = new System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<double>>();
        double FloorOf(ClassState c)
        {
            double Floor() => new TilingSearch(WeightedProblem(c, 0), prune: true, seed: false).CycleFloor();
            return _p.ReuseSameShapes ? floors.GetOrAdd(ShapeKeyOf(c.Layer, c.Job), _ => new Lazy<double>(Floor)).Value : Floor();
        }
        var layers = ListClasses((i, job) =>
        {
            if (stop()) return null;
            var c = new ClassState(i, job);
            c.Removed = job.InKey is null && job.OutKey is null ? 0 : FusionCost.ClassRemoval(EinsumOf(i, job), _p.Arch, job.Shared, job.Held);
            c.EnergyLower = Math.Max(0, ClassBound(c) - c.Removed.Value);
            c.Empty = double.IsPositiveInfinity(c.EnergyLower);
            c.CycleFloor = c.Empty ? double.PositiveInfinity : FloorOf(c);
            foreach (var p in template.Survivors.ElementAtOrDefault(i) ?? [])
                if (!p.Pipelined && !p.Keep && (p.InKey ?? DramKey) == c.InKey && (p.OutKey ?? DramKey) == c.OutKey) c.Pool.Add(p);
            return c;
        }, c => c.Empty, SearchThreads);
        if (layers is null) return TemplateAnswer(template, sw, "stopped while listing the classes of partial mappings");
        // Groups that keep their halos or pipeline are checked inside an unfused mapping (the other layers' mappings): the
        // template's, or, when some layer has no template mapping alone, every layer's own least-energy mapping (the exact
        // search, as the energy search's step 1); without one they are not searched and nothing is proven over them.
        var frame = template.Unfused ?? (_p.KeepHalos || _p.Pipeline ? UnfusedFrame(limits, stop) : null);
        // With --keep-halos, every group that keeps its halos, its members' classes beside the join's (FusionKept.cs).
        var kept = _p.KeepHalos && frame is not null ? AddKeptClasses(layers, _ => 0) : [];
        foreach (var c in kept.SelectMany(g => g.Members))
        {
            if (stop()) return TemplateAnswer(template, sw, "stopped while bounding the groups that keep their halos");
            BoundKeptWeighted(c);
        }
        bool partial = frame is null && (_p.KeepHalos || _p.Pipeline);
        // Every fused mapping of sequential groups has at least the least sum of the classes' cycle floors along compatible keys.
        double cycleFloor = SpaceCycleFloor(layers);

        // 3. The weighted joins over the sequential groups (and the groups that keep their halos), lambda = 0 (energy) first;
        //    then the lambda the polygon's least vertex asks for, until that vertex's EDP reaches the best EDP found. With
        //    --pipeline this is the whole sequential search run to its end first (f17o): its answer is a candidate, and its
        //    bound one over the fused mappings whose groups all run sequentially.
        (FusedMapping Map, FusedCostReport Rep)? best = template.Mapping is { } tm ? (tm, template.Report!) : null;
        double incumbent = template.Report?.Edp ?? double.PositiveInfinity;
        var lines = new List<LambdaLine>();
        double firstFloor = cycleFloor, lastFloor = cycleFloor;
        var (bound, proven, why) = Joins(lines, [], cycleFloor, "");

        // 4. With --pipeline, then every pipelined group as a chain of classes with keys of its own (the latency search's
        //    listing, AddPipelinedClasses, its cycle floor PipelineFloor from its members' layers' sequential floors), its value
        //    on its last member: its members' energy bounds summed plus lambda times that floor until it is searched, both
        //    raised with its members' own class bounds when a join first reaches it (FusionPipelineEdp.cs). They are checked
        //    inside the unfused mapping, so without one they are not searched either. Stopped while listing (or before it), the
        //    groups not listed are open chains bounded by their layers' floors (AddOpenRun, OpenRunFloor: their least sequential
        //    energy bounds and cycle floors). The joins go on from the sequential search's line at lambda = 0 (its bound is one
        //    on every fused mapping's energy: a pipelined group has the energy of its sequential twin) and the cycle floor of
        //    the join with the groups' floors; the polygon of their lines bounds every fused mapping, at least that line's
        //    bound times that floor, whether or not a join with the groups finishes.
        bool listingStopped = false, sequentialProven = proven;
        string? sequentialWhy = why;
        int sequentialJoins = lines.Count;
        var piped = new List<PipeEdp>();
        bool secondPhase = _p.Pipeline && frame is not null && lines.Count > 0 && lines[0].Lambda == 0;
        if (secondPhase)
        {
            double SequentialCycles(ClassState c) => c.Empty ? double.PositiveInfinity : c.CycleFloor;
            double SequentialEnergy(ClassState c) => c.Empty ? double.PositiveInfinity : c.EnergyLower;
            limits.Progress?.Phase("listing the pipelined groups");
            piped = BoundPipedWeighted(AddPipelinedClasses(layers, SequentialCycles, stop, out listingStopped, SequentialEnergy), SequentialFloors(layers, SequentialEnergy));
            firstFloor = lastFloor = cycleFloor = SpaceCycleFloor(layers);
            lines = [lines[0]];
            (bound, proven, why) = Joins(lines, piped, cycleFloor, " with the pipelined groups");
            if (!sequentialProven && sequentialWhy is not null) why += $" (the sequential groups' search first: {sequentialWhy})";
        }

        (double Bound, bool Proven, string? Why) Joins(List<LambdaLine> lines, List<PipeEdp> piped, double cycleFloor, string what)
        {
            double lambda = 0, bound = 0;
            while (true)
            {
                if (lines.Count > 0)
                {
                    // With the pipelined groups, a lone line at the floor is steepened around the best EDP's point (f17p): the
                    // sequential search's line at lambda 0 has the energy optimum's point, often far slower than the answer.
                    // With the pipelined groups, the whole space's cycle floor is taken again from the classes' floors as the
                    // groups' searches raised them (RaiseEnergyBounds, RaiseCycles, a complete group's least cycles): each is a floor on its class.
                    if (piped.Count > 0) lastFloor = cycleFloor = Math.Max(cycleFloor, SpaceCycleFloor(layers));
                    var (vertexBound, next) = Polygon(lines, cycleFloor, incumbent, piped.Count > 0 && best is { } b ? (b.Rep.Energy, b.Rep.Cycles) : null);
                    bound = vertexBound;
                    if (Meets(bound, incumbent) && !partial) return (bound, true, null);
                    if (Meets(bound, incumbent)) return (bound, false, "no unfused mapping, so groups that keep their halos or pipeline were not searched");
                    if (stop()) return (bound, false, "stopped before every supported point that could improve on the answer was searched");
                    if (next is not { } l || lines.Any(x => Math.Abs(x.Lambda - l) <= 1e-12 * Math.Max(1, l)))
                    {
                        int open = piped.Count(x => x.SearchedAt.Count > 0 && !x.Complete);
                        return (bound, false, open > 0
                            ? $"{open} pipelined group(s) searched without every member's class enumerated (more than {_p.PipelineVisitCap:N0} mappings) keep their floors as their bounds"
                            : "a weighted join that stopped early left the next lambda undecided");
                    }
                    lambda = l;
                }
                limits.Progress?.Phase($"weighted join {lines.Count + 1}{what} (energy + {lambda:G4} x cycles)");
                var chain = WeightedJoin(layers, lambda, stop, out double joinBound, kept, piped, frame);
                if (chain is null) return (bound, false, "stopped before a weighted join had a member in every layer");
                var (map, rep) = Recheck(Assemble(chain));
                lines.Add(new LambdaLine(lambda, Math.Min(joinBound, rep.Energy + lambda * rep.Cycles), rep.Energy, rep.Cycles));
                if (rep.Edp < incumbent * (1 - 1e-12)) (best, incumbent) = ((map, rep), rep.Edp);
            }
        }
        if (best is null)
            return TemplateAnswer(template, sw, why!);
        var (fMap, fRep) = best.Value;
        var keysAfter = Forward(layers, c => c.Empty ? double.PositiveInfinity : 0);
        var stats = layers.Select((l, i) => new FusionLayerStats(w.Layers[i].Name, l.Sum(c => c.Nodes), l.Count(c => c.Pool.Count > 0), l.Count(c => c.Known.Count > 0),
            keysAfter[i + 1].Count, l.Count)).ToList();
        // The certificate's picks: every class's members found, and with --pipeline every point found of every pipelined group,
        // each on keys of its own (CertificatePoints).
        var picks = layers.Select(l => l.SelectMany(c => c.Pool).ToList()).ToList();
        foreach (var (i, pick) in CertificatePoints(piped))
            picks[i].Add(pick);
        var survivors = picks.Select(l => (IReadOnlyList<FusionPartial>)l.Select((p, k) => p with { Order = k }).ToList()).ToList();
        // With --pipeline the joins with the pipelined groups start from the sequential search's line at lambda = 0 (not counted again).
        var withGroups = secondPhase ? lines.Skip(1).ToList() : lines;
        string summary = (withGroups != lines ? $"the sequential groups first: {sequentialJoins} weighted join(s), {(sequentialProven ? "proved" : "not proved")}; then with the pipelined groups: " : "") +
            $"{withGroups.Count} weighted join(s){(withGroups.Count > 0 ? ", lambda = " : "")}{string.Join(", ", withGroups.Select(x => x.Lambda.ToString("G4")))}; " +
            $"the template's optimum EDP {template.Report?.Edp:G6}{(_p.Pipeline ? " (groups sequential)" : "")}{(ReferenceEquals(fMap, template.Mapping) ? " (kept: nothing in the full mapspace beats it)" : "")}" +
            (_p.Pipeline ? $"; pipelined groups: {piped.Count} listed{(listingStopped ? " (stopped while listing them: those not listed bounded by their layers' floors)" : "")}, " +
                $"{piped.Count(x => x.SearchedAt.Count > 0)} searched, {piped.Count(x => x.Complete)} with every member's class enumerated, " +
                $"{_groupsCutByMembers} search(es) ended by the members' weighted floors before enumerating ({_memberWeighings} member weighted search(es)), " +
                $"{_groupsCutByBare} by the narrow levels' floors ({_bareSearches} member search(es) with a narrow level bypassed), {_groupsEnumerated} enumerated; " +
                $"the whole space's cycle floor {lastFloor:G6}{(lastFloor > firstFloor ? $" (listed: {firstFloor:G6})" : "")}" : "");
        return new FusionResult(proven ? SolveStatus.Optimal : SolveStatus.Feasible, fMap, fRep, fRep.Edp, template.Unfused, template.UnfusedReport, sw.Elapsed, stats, survivors,
            proven ? null : why + "; the bound is the least EDP over the region the weighted joins' bounds leave")
        { Bound = proven ? fRep.Edp : Math.Min(fRep.Edp, bound), UnfusedProven = template.UnfusedProven, Summary = summary, CycleFloor = lastFloor };
    }

    /// <summary>
    /// The least cycles of every fused mapping: the least sum of the classes' cycle floors (<see cref="ClassState.CycleFloor"/>,
    /// a pipelined group's on its last member, its members but the last 0) along compatible keys.
    /// </summary>
    private static double SpaceCycleFloor(List<List<ClassState>> layers)
        => Forward(layers, c => c.Empty ? double.PositiveInfinity : c.CycleFloor)[layers.Count].GetValueOrDefault(DramKey, double.PositiveInfinity);

    /// <summary>
    /// Every layer's own least-energy mapping (each layer alone searched exactly, as the energy search's step 1), as the
    /// unfused mapping that groups which keep their halos or pipeline are checked inside when the template has none; null
    /// when stopped or when some layer has none.
    /// </summary>
    private FusedMapping? UnfusedFrame(SearchLimits limits, Func<bool> stop)
        => EveryLayerAlone(c => Search(c, double.PositiveInfinity, stop, seedWithDescent: true), limits, "every layer's own least energy (the unfused mapping the groups are checked in)",
            Stopwatch.StartNew(), () => false, stop) is { } alone ? Assemble(alone.Select(c => c.Member!).ToList()) : null;

    /// <summary>
    /// The template's answer as the answer of a search over the full mapspace that stopped before it had one of its own:
    /// FEASIBLE (an optimum over the template proves nothing over the full mapspace), without a bound over it.
    /// </summary>
    private static FusionResult TemplateAnswer(FusionResult template, Stopwatch sw, string why)
        => template.Mapping is null ? template with { Elapsed = sw.Elapsed, Explanation = template.Explanation ?? why }
            : template with { Status = SolveStatus.Feasible, Bound = null, Elapsed = sw.Elapsed, Explanation = $"{why}; the answer is the template's {(template.Status == SolveStatus.Optimal ? "optimum" : "best")}" };

    /// <summary>A class as a single-layer problem for energy + lambda x its fused cycles (<see cref="MapProblem.Weighted"/>).</summary>
    private MapProblem WeightedProblem(ClassState c, double lambda) => ClassProblem(c) with { Weighted = new WeightedCycles(lambda, c.Job.Held) };

    /// <summary>A lower bound on min(E + lambda C) over a class's members (fused costs; +infinity when it has none).</summary>
    private static double WeightedLower(ClassState c, double lambda)
    {
        if (c.Empty) return double.PositiveInfinity;
        double lower = c.EnergyLower + lambda * c.CycleFloor;
        // min(E + lambda C) never decreases with lambda, and for lambda < l it is at least (lambda / l) min(E + l C).
        foreach (var (l, b) in c.Known)
            lower = Math.Max(lower, l <= lambda ? b : lambda / l * b);
        return c.Pool.Count == 0 ? lower : Math.Min(lower, c.Pool.Min(p => p.Energy + lambda * p.Cycles));
    }

    /// <summary>
    /// The join of the energy search (<see cref="SolveFull"/>, step 3) for E + lambda C: the class on the least total of bounds
    /// is searched next under a ceiling, until no class could improve on the best chain. Returns that chain (null when some
    /// layer has no member) and the forward pass over the classes' bounds, a lower bound on min(E + lambda C).
    /// </summary>
    private List<FusionPartial>? WeightedJoin(List<List<ClassState>> layers, double lambda, Func<bool> stop, out double bound, List<KeptGroup> kept, List<PipeEdp> piped,
        FusedMapping? unfused)
    {
        int n = layers.Count;
        double Value(FusionPartial p) => p.Energy + lambda * p.Cycles;
        // One delegate for the whole join: NextClass's flat copy of the classes keeps its members' values while it is the same.
        Func<FusionPartial, double> value = Value;
        foreach (var p in piped) ResetPiped(p, lambda);
        foreach (var c in layers.SelectMany(l => l))
        {
            // Pipelined groups' members keep what they have (ResetPiped); an open chain's bound is its energy bound plus lambda
            // times its cycle floor, left out at lambda 0 as pipelined groups are (each has a sequential twin of the same energy).
            if (c.PipeGroup >= 0) continue;
            if (c.Open) { c.Lower = lambda == 0 ? double.PositiveInfinity : c.EnergyLower + lambda * c.CycleFloor; continue; }
            if (c.Main is not null) { ResetKept(c, lambda); continue; }
            c.Member = c.Pool.Count == 0 ? null : c.Pool.MinBy(Value);
            c.Lower = WeightedLower(c, lambda);
            c.Searched = c.Empty;
        }
        // The pipelined groups' members' class bounds computed ahead on a thread of their own (f17y), stopped when the join ends.
        using (ClassBoundsAhead(layers, piped, lambda, Value, stop))
            while (!stop() && NextClass(layers, value) is var (next, ceiling) && next is not null)
                if (next.PipeGroup >= 0) SearchPipelinedWeighted(piped[next.PipeGroup], lambda, ceiling, stop, unfused!);
                else if (next.Main is null) SearchWeighted(next, lambda, ceiling, stop);
                else SearchKeptWeighted(next, lambda, ceiling, stop, kept, unfused!);
        bound = Forward(layers, c => c.Lower)[n].GetValueOrDefault(DramKey, double.PositiveInfinity);
        bool complete = Forward(layers, c => c.Member is null ? double.PositiveInfinity : 0)[n].ContainsKey(DramKey);
        return complete ? BestChain(layers, Value) : null;
    }

    private readonly Dictionary<string, (Einsum From, FusionPartial? Member, double Bound, bool Exact)> _weightedShapes = [];

    /// <summary>
    /// The exact search of one class for E + lambda C (fused) under a ceiling: its optimum when below the ceiling (added to its
    /// members), else the proof that nothing is; when stopped, the search's bound. Layers of the same shape share the result.
    /// </summary>
    private void SearchWeighted(ClassState c, double lambda, double ceiling, Func<bool> stop)
    {
        double Value(FusionPartial p) => p.Energy + lambda * p.Cycles;
        var key = $"{ShapeKeyOf(c.Layer, c.Job)}|{lambda:R}";
        c.Searched = true;
        (Einsum From, FusionPartial? Member, double Bound, bool Exact) known = default;
        bool hit;
        lock (_weightedShapes) hit = _p.ReuseSameShapes && _weightedShapes.TryGetValue(key, out known);
        if (hit && (known.Exact || known.Bound >= ceiling))
        {
            if (Adopt(new ShapeResult(known.From, known.Member, c.Removed, known.Bound, known.Exact, 0), c.Layer, c.Job) is { } adopted) c.Pool.Add(adopted);
            Settle(known.Bound);
            return;
        }
        if (stop()) return;
        double removed = c.Removed!.Value;
        // A search whose answer its class's earlier searches already decide is not run (f17u): below the ceiling there is
        // nothing when the class's bound from a search at a smaller lambda already reaches it (SmallerLambdaBound), and when
        // its best member is above the ceiling the search would end exactly so (TilingSearch's ceiling): its bound the
        // ceiling, its seed (that member) among the class's members, the same entry in the shapes' results.
        if (double.IsFinite(ceiling) && c.Member is { } seedMember && Value(seedMember) > ceiling && SmallerLambdaBound(c, lambda) >= ceiling)
        {
            // What the search would settle: its bound (the ceiling it was given, ceiling + R) less R, rounded as that path rounds it.
            double atCeiling = (ceiling + removed) - removed;
            c.Pool.Add(seedMember);
            Settle(atCeiling);
            lock (_weightedShapes) _weightedShapes[key] = (EinsumOf(c.Layer, c.Job), c.Member, atCeiling, false);
            return;
        }
        var r = new TilingSearch(WeightedProblem(c, lambda), prune: true, seed: c.Member is not null, incumbent: c.Member?.Mapping,
            ceiling: double.IsFinite(ceiling) ? ceiling + removed : double.PositiveInfinity).Solve(_classLimits());
        c.Nodes += Spend(r.Explored);
        if (r.Status == SolveStatus.Infeasible)
        {
            c.Empty = true;
            (c.Member, c.Lower) = (null, double.PositiveInfinity);
            lock (_weightedShapes) _weightedShapes[key] = (EinsumOf(c.Layer, c.Job), null, double.PositiveInfinity, true);
            return;
        }
        FusionPartial? found = null;
        if (r is { Mapping: { } m, Report: { } report })
        {
            found = Member(c.Layer, c.Job, m, report, 0, out _);
            c.Pool.Add(found);
        }
        bool exact = r.Status == SolveStatus.Optimal;
        double bound = exact ? Value(found!) : r.Bound - removed;
        Settle(bound);
        lock (_weightedShapes) _weightedShapes[key] = (EinsumOf(c.Layer, c.Job), exact ? found : c.Member, bound, exact);

        void Settle(double b)
        {
            c.Known.Add((lambda, b));
            c.Member = c.Pool.Count == 0 ? null : c.Pool.MinBy(Value);
            c.Lower = WeightedLower(c, lambda);
        }
    }

    /// <summary>
    /// A lower bound on min(E + <paramref name="lambda"/> C) over a class's members from its searches at smaller lambdas
    /// (<see cref="ClassState.Known"/>): for l &lt; lambda, E + lambda C = (E + l C) + (lambda - l) C, at least that search's bound
    /// plus (lambda - l) times the class's cycle floor (f17t's term). Read only to skip a search it decides (<see cref="SearchWeighted"/>),
    /// never as the class's bound in the join. -infinity when there is none.
    /// </summary>
    private static double SmallerLambdaBound(ClassState c, double lambda)
    {
        double best = double.NegativeInfinity;
        foreach (var (l, b) in c.Known)
            if (l < lambda) best = Math.Max(best, b + (lambda - l) * c.CycleFloor);
        return best;
    }

    /// <summary>
    /// For tests: every class of every layer the EDP search lists (the classes that are not empty) with its
    /// <see cref="SmallerLambdaBound"/> at <paramref name="lambda"/> from its exact search at <paramref name="l"/> (no ceiling)
    /// and its cycle floor, and its least E + <paramref name="lambda"/> C by brute force (every mapping of the class's whole
    /// mapspace, <see cref="TilingSearch.Visit"/>, its fused energy and cycles by <see cref="FusionCost.Adjust"/>, as <see cref="BruteForceFull"/>).
    /// </summary>
    internal IReadOnlyList<(double Term, double Least)> SmallerLambdaBoundsAndLeast(double l, double lambda)
    {
        var result = new List<(double, double)>();
        var layers = ListClasses((i, job) => new ClassState(i, job), _ => false)!;
        foreach (var c in layers.SelectMany(x => x))
        {
            c.Removed = c.Job.InKey is null && c.Job.OutKey is null ? 0 : FusionCost.ClassRemoval(EinsumOf(c.Layer, c.Job), _p.Arch, c.Job.Shared, c.Job.Held);
            c.CycleFloor = new TilingSearch(WeightedProblem(c, 0), prune: true, seed: false).CycleFloor();
            SearchWeighted(c, l, double.PositiveInfinity, () => false);
            if (c.Empty) continue;
            var e = EinsumOf(c.Layer, c.Job);
            double least = double.PositiveInfinity;
            new TilingSearch(ClassProblem(c), prune: false).Visit(m =>
            {
                var fused = FusionCost.Adjust(e.Name, _p.Arch, CostModel.Evaluate(e, _p.Arch, m), c.Job.Held);
                least = Math.Min(least, fused.Energy + lambda * fused.Cycles);
            }, SearchLimits.None with { Threads = 1 });
            result.Add((SmallerLambdaBound(c, lambda), least));
        }
        return result;
    }

    /// <summary>
    /// For tests: every class of every layer the EDP search lists with held tensors it writes, reads or loads, its cycle floor
    /// (<see cref="TilingSearch.CycleFloor()"/> of its weighted problem, as the EDP listing takes it), the least over its spatial
    /// plans of the cycles its weighted searches scale each plan's energy bound by (<see cref="TilingSearch.WeightedPlanCycleFloor"/>,
    /// with its held tensors' port cycles) and its least fused cycles by brute force (every mapping of its whole mapspace,
    /// <see cref="TilingSearch.Visit"/>, <see cref="FusionCost.Adjust"/>); classes without a member left out.
    /// </summary>
    internal IReadOnlyList<(double Floor, double PlanFloor, double Least)> HeldClassCycleFloorsAndLeast()
    {
        var result = new List<(double, double, double)>();
        var layers = ListClasses((i, job) => new ClassState(i, job), _ => false)!;
        foreach (var c in layers.SelectMany(x => x))
        {
            if (!c.Job.Held.Any()) continue;
            var e = EinsumOf(c.Layer, c.Job);
            double least = double.PositiveInfinity;
            new TilingSearch(ClassProblem(c), prune: false).Visit(m =>
                least = Math.Min(least, FusionCost.Adjust(e.Name, _p.Arch, CostModel.Evaluate(e, _p.Arch, m), c.Job.Held).Cycles), SearchLimits.None with { Threads = 1 });
            if (double.IsPositiveInfinity(least)) continue;
            var search = new TilingSearch(WeightedProblem(c, 1), prune: true, seed: false);
            result.Add((search.CycleFloor(), search.WeightedPlanCycleFloor(), least));
        }
        return result;
    }

    /// <summary>
    /// The least EDP over the region every fused mapping's (E, C) lies in: C at least <paramref name="cycleFloor"/>, and
    /// E + lambda C at least each line's bound. E x C is least over that convex region at a vertex (its logarithm is concave
    /// and it grows with E and C), and the vertices lie where two lines cross or a line meets the floor. Also the lambda to
    /// solve next (null when none helps): between the two lines that cross at the least vertex, the slope through their
    /// points (Aneja and Nair's step); at the floor, the lambda whose line through the last point puts that vertex's EDP at the
    /// best EDP found (with <paramref name="around"/>, the best EDP's own point, through that point when it is faster than the
    /// line's: the pipelined groups' joins, f17p).
    /// </summary>
    private static (double Bound, double? Next) Polygon(List<LambdaLine> lines, double cycleFloor, double incumbent, (double Energy, double Cycles)? around = null)
    {
        double EnergyAt(double cycles) => Math.Max(0, lines.Max(l => l.Bound - l.Lambda * cycles));
        var candidates = new List<double> { cycleFloor };
        for (int i = 0; i < lines.Count; i++)
            for (int j = i + 1; j < lines.Count; j++)
                if (lines[i].Lambda != lines[j].Lambda)
                {
                    double cycles = (lines[i].Bound - lines[j].Bound) / (lines[i].Lambda - lines[j].Lambda);
                    if (double.IsFinite(cycles) && cycles > cycleFloor) candidates.Add(cycles);
                }
        double least = double.PositiveInfinity, at = cycleFloor;
        foreach (var cycles in candidates)
            if (EnergyAt(cycles) * cycles is var edp && edp < least) (least, at) = (edp, cycles);
        double e = EnergyAt(at);
        var active = lines.Where(l => l.Bound - l.Lambda * at >= e - 1e-9 * Math.Max(1, e)).OrderBy(l => l.Lambda).ToList();
        if (active.Count == 0) return (least, null);
        var (lo, hi) = (active[0], active[^1]);
        if (lo.Lambda < hi.Lambda)
            return (least, lo.Cycles > hi.Cycles ? (hi.Energy - lo.Energy) / (lo.Cycles - hi.Cycles) : null);
        // One line at the floor: steepen it around its point until that vertex reaches the best EDP.
        if (hi.Cycles <= cycleFloor || !double.IsFinite(incumbent)) return (least, null);
        // Around the best EDP's point when given and faster than the line's own: every join at lambda has a bound at most that
        // point's E + lambda C, so no lambda below this one can put the vertex at the floor at the best EDP.
        if (around is { } a && a.Cycles > cycleFloor && a.Cycles < hi.Cycles && (incumbent / cycleFloor - a.Energy) / (a.Cycles - cycleFloor) is var steep && steep > hi.Lambda)
            return (least, steep * (1 + 1e-6));
        double lambda = (incumbent / cycleFloor - hi.Energy) / (hi.Cycles - cycleFloor);
        return (least, lambda > hi.Lambda ? lambda * (1 + 1e-6) : null);
    }
}
