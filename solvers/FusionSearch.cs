using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// A workload on an architecture, what to minimize, how many outer loops a fused group may share, and
/// whether layers of the same shape reuse the first one's evaluated partial mappings (the answer is the
/// same either way; benchmarks turn it off to time the search itself).
/// </summary>
public sealed record FusionProblem(Workload Workload, Architecture Arch, Objective Objective, int MaxFusedLoops = 1, bool ReuseSameShapes = true, bool TemplateOnly = false, bool KeepHalos = false, bool Pipeline = false)
{
    /// <summary>The longest pipelined group the search offers (<see cref="Pipeline"/>).</summary>
    public const int MaxPipelineLayers = 4;

    /// <summary>The longest group that keeps its halos the search offers (<see cref="KeepHalos"/>).</summary>
    public const int MaxKeepLayers = 4;

    /// <summary>
    /// The objective's terms, minimized in order (a lexicographic objective such as latency then energy, as Timeloop's
    /// <c>optimization-metrics</c>); the first is <see cref="Objective"/>. The template's join keeps every
    /// (energy, cycles) Pareto point, so any list is exact over the template (docs/fusion.md, "Lexicographic objectives").
    /// </summary>
    public IReadOnlyList<Objective> Terms { get; init; } = [Objective];

    /// <summary>
    /// How each layer is counted: the default model, or Timeloop's counts (<see cref="CostConvention.Timeloop"/>; over
    /// the template, every order of each axis's spatial loops, mappings Timeloop's format cannot say left out).
    /// </summary>
    public CostConvention Convention { get; init; } = CostConvention.Default;

    /// <summary>
    /// True when every layer's partial mappings come from the full single-layer mapspace (the exact search of
    /// each class, docs/fusion.md): for energy, EDP or latency alone, and the list latency,energy, unless <see cref="TemplateOnly"/>
    /// asks for the per-layer template; latency and EDP also with <see cref="Pipeline"/> (their pipelined groups' members from their whole
    /// classes where those are enumerated, docs/fusion.md "Pipelined groups over the full mapspace"), latency,energy without it,
    /// also with <see cref="KeepHalos"/>. Other lists, and latency,energy with <see cref="Pipeline"/>, search the template.
    /// </summary>
    /// With <see cref="KeepHalos"/>, groups that keep their halos join beside the sequential ones (docs/fusion.md, "Searching
    /// both policies"): over the full mapspace for energy, EDP and latency, over the template for lists.
    public bool FullMapspace => (Objective is Objective.Energy or Objective.Edp || (Objective == Objective.Latency && !(Pipeline && LatencyThenEnergy)))
        && (Terms.Count == 1 || LatencyThenEnergy) && Convention == CostConvention.Default && !TemplateOnly;

    /// <summary>True for the list latency,energy (least cycles, then least energy at those cycles).</summary>
    public bool LatencyThenEnergy => Terms is [Objective.Latency, Objective.Energy];

    /// <summary>
    /// False: the search over the full mapspace for latency starts its classes from no template member (tests only: a template
    /// member that is already optimal would hide a bound that wrongly skips the class holding the optimum).
    /// </summary>
    internal bool SeedFromTemplate { get; init; } = true;

    /// <summary>
    /// Tests only: the exact class searches' nodes after which the search over the full mapspace stops as at its time limit (a
    /// deterministic stop; a class search is not cut, the budget is checked between them; the template's join does not count
    /// and is not stopped by it). Unlimited by default.
    /// </summary>
    internal long NodeBudget { get; init; } = long.MaxValue;

    /// <summary>
    /// Latency and EDP with <see cref="Pipeline"/> over the full mapspace: the most mappings of one member class of a pipelined group
    /// that are enumerated (docs/fusion.md, "Pipelined groups over the full mapspace"); a class with more is not complete, and
    /// a group with such a member keeps its floor as its bound.
    /// </summary>
    internal long PipelineVisitCap { get; init; } = 20_000;

    /// <summary>
    /// Tests only: latency and EDP with <see cref="Pipeline"/> over the full mapspace list this many pipelined groups and then behave
    /// as if stopped there (the groups not listed are open chains bounded by 0, docs/fusion.md "Pipelined groups over the full
    /// mapspace"), while the rest of the search runs on: a deterministic stop of the listing. Unlimited by default.
    /// </summary>
    internal int PipelineListingStop { get; init; } = int.MaxValue;

    /// <summary>The mapspace an OPTIMAL answer is proven over, in words.</summary>
    public string SpaceDescription => FullMapspace
        ? "the full fused mapspace of docs/fusion.md: every layer's mapping from the whole single-layer mapspace of docs/mapspace.md, fused or not" +
          (Objective == Objective.Edp ? $", groups run sequentially{(Pipeline ? $" or, with at most {MaxPipelineLayers} layers and shared loops, pipelined (halos recomputed)" : "")}" : "") +
          (Objective == Objective.Latency ? $", groups run sequentially{(Pipeline ? $" or, with at most {MaxPipelineLayers} layers and shared loops, pipelined" : "")}{(KeepHalos ? "" : ", halos recomputed")}" : "") +
          (KeepHalos ? $", halos recomputed or kept (groups that keep them of 2 to {MaxKeepLayers} layers sharing one loop, each prologue from its own constrained mapspace)" : "")
        : "the fused mapspace with each layer's mapping from the per-layer template of docs/fusion.md, not the whole single-layer mapspace" +
          (Convention == CostConvention.Default ? "" : $", each layer counted by the {Conventions.Names[(int)Convention]} convention") +
          (KeepHalos ? $", halos recomputed or kept (groups that keep them of at most {MaxKeepLayers} layers, one shared loop)" : "") +
          (Pipeline ? $", each group with shared loops run sequentially or, if it has at most {MaxPipelineLayers} layers, pipelined" : "");

    /// <summary>Checks the numbers a user gives.</summary>
    public FusionProblem Validated()
        => MaxFusedLoops is < 0 or > 4
            ? throw new ArgumentOutOfRangeException(nameof(MaxFusedLoops), MaxFusedLoops, "--max-fused-loops must be between 0 and 4.")
            : KeepHalos && Convention != CostConvention.Default
            ? throw new ArgumentException("Kept halos are searched under the default model only.", nameof(KeepHalos))
            : Pipeline && Convention != CostConvention.Default
            ? throw new ArgumentException("Pipelined groups are searched under the default model only.", nameof(Pipeline))
            : this;
}

/// <summary>What the search did for one layer: partial mappings evaluated, valid, kept after pruning, and the frontier after the join.</summary>
public sealed record FusionLayerStats(string Layer, long Evaluated, long Valid, long Kept, long Frontier, int Classes);

/// <summary>
/// One partial mapping of one layer: its mapping, the key of the group state it follows and leaves (null =
/// DRAM), its shared loops, its cost with fusion's removals and the words it holds per level (with those
/// reserved for held tensors that live across it).
/// </summary>
public sealed record FusionPartial(int Layer, int Order, Mapping Mapping, int SharedCount, string? InKey, string? OutKey, double Energy, long Cycles, IReadOnlyList<long> Held)
{
    /// <summary>The held tensors it touches (docs/fusion.md): those it reads where they live, loads, or writes on chip.</summary>
    public IReadOnlyList<TensorId> OnChip { get; init; } = [];
    /// <summary>The fusion level of each held tensor it touches (docs/fusion.md, "The fused mapspace"), by level index.</summary>
    public IReadOnlyDictionary<TensorId, int> Levels { get; init; } = new Dictionary<TensorId, int>();

    /// <summary>The fusion levels of held tensors, as <see cref="Levels"/> takes them.</summary>
    public static IReadOnlyDictionary<TensorId, int> LevelsOf(IEnumerable<HeldTensor> held)
    {
        var levels = new Dictionary<TensorId, int>();
        foreach (var h in held) levels.TryAdd(h.Tensor, h.Level);
        return levels;
    }
    /// <summary>True for a member of a group that keeps its halos (docs/fusion.md, "Halos").</summary>
    public bool Keep { get; init; }
    /// <summary>The mapping of its prologue, in a group that keeps halos; null when it has none.</summary>
    public Mapping? Prologue { get; init; }
    /// <summary>True for a member of a pipelined group (docs/fusion.md, "Pipelined latency"); the group's cycles are on its last member.</summary>
    public bool Pipelined { get; init; }
}

/// <summary>The answer of the fused search, with the best unfused mapping beside it.</summary>
public sealed record FusionResult(
    SolveStatus Status,
    FusedMapping? Mapping,
    FusedCostReport? Report,
    double? Best,
    FusedMapping? Unfused,
    FusedCostReport? UnfusedReport,
    TimeSpan Elapsed,
    IReadOnlyList<FusionLayerStats> Stats,
    IReadOnlyList<IReadOnlyList<FusionPartial>> Survivors,
    string? Explanation = null)
{
    /// <summary>A proven lower bound on the objective over the searched mapspace (equal to <see cref="Best"/> when optimal); null when unknown.</summary>
    public double? Bound { get; init; }

    /// <summary>What the search compared beside its answer (EDP over the full mapspace: its weighted joins and the template's optimum); null when nothing.</summary>
    public string? Summary { get; init; }

    /// <summary>EDP over the full mapspace: the least cycles the search proved every fused mapping has (the whole space's cycle floor the polygon last used); null otherwise.</summary>
    public double? CycleFloor { get; init; }

    /// <summary>True when the unfused mapping is proven the best with every layer alone (each layer's class search finished).</summary>
    public bool UnfusedProven { get; init; }

    /// <summary>The relative gap between best and bound, in percent; null without both.</summary>
    public double? GapPercent => Best is { } b && Bound is { } lb ? (b <= 0 ? 0 : Math.Max(0, (b - lb) / b * 100)) : null;

    /// <summary>Unfused objective over fused objective; null when either is missing.</summary>
    public double? Improvement(Objective o)
        => Report is { } f && UnfusedReport is { } u && f.Objective(o) > 0 ? u.Objective(o) / f.Objective(o) : null;
}

/// <summary>
/// The exact fused search of docs/fusion.md: per layer, partial mappings with compatibility keys, Pareto
/// pruning within each class, and a join layer by layer. Also the brute-force enumerator of the same
/// fused mapspace, for tests.
/// </summary>
public sealed partial class FusionSearch
{
    private readonly FusionProblem _p;
    private readonly Dictionary<string, (JobResult Result, Einsum From)> _cache = [];
    private string? _deadEnd;

    /// <summary>Creates a search.</summary>
    public FusionSearch(FusionProblem p) => _p = p.Validated();

    /// <summary>
    /// Finds the optimal fused mapping. Template mapspace: on the time limit or cancel, the best unfused mapping
    /// with status Feasible. Full mapspace (energy): a class search stopped by the limit or cancel keeps its
    /// incumbent and its bound, the classes not searched keep their bounds, and the answer is Feasible with the
    /// join of the classes' bounds as its bound.
    /// </summary>
    public FusionResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var deadline = limits.TimeLimit;
        bool OutOfTime() => deadline is { } d && sw.Elapsed > d;
        bool Late() => OutOfTime() || Interlocked.Read(ref _spent) >= _p.NodeBudget;
        bool Stop() => limits.Cancel.IsCancellationRequested || Late();
        // The node budget counts the exact class searches only: the template's join is stopped by the time limit and Ctrl-C.
        _joinStop = () => limits.Cancel.IsCancellationRequested || OutOfTime();
        _late = Late;
        _classLimits = () => limits with { TimeLimit = deadline is { } d ? TimeSpan.FromTicks(Math.Max(1, (d - sw.Elapsed).Ticks)) : null, Progress = null };
        if (!_p.FullMapspace) return SolveTemplate(limits, sw, Late, Stop);
        // EDP: the template's optimum first (its baseline, kept and pipelined groups included). Energy and latency: every
        // layer's own search first, then the template's join (TemplateJoin); a search stopped before its answer is as good as
        // the template's answers the template's instead (docs/fusion.md, "Time limit and Ctrl-C").
        if (_p.Objective == Objective.Edp) return SolveFullEdp(limits, sw, Stop, SolveTemplate(limits, sw, Late, Stop));
        var full = _p.Objective == Objective.Latency ? SolveFullLatency(limits, sw, Late, Stop) : SolveFull(limits, sw, Late, Stop);
        return _templateAnswer is { } template ? NoWorseThan(full, template) : full;
    }

    /// <summary>What stops <see cref="TemplateJoin"/>: the time limit and Ctrl-C, not <see cref="FusionProblem.NodeBudget"/>.</summary>
    private Func<bool> _joinStop = () => false;

    /// <summary>The template's optimum once <see cref="TemplateJoin"/> finished; null before, or when it was stopped.</summary>
    private FusionResult? _templateAnswer;

    /// <summary>
    /// The template's join (docs/fusion.md, "The search over the template"; halos recomputed, groups sequential) in a search
    /// over the full mapspace, after every layer's own search: its partial mappings are members of the same classes, so
    /// they are the classes' first members (the survivors of every layer it reached, whether or not it finished), and its
    /// optimum, when it finished, the answer a stopped search falls back to (<see cref="NoWorseThan"/>).
    /// </summary>
    private IReadOnlyList<IReadOnlyList<FusionPartial>> TemplateJoin(SearchLimits limits, Stopwatch sw)
    {
        limits.Progress?.Phase("the template's partial mappings and their join (the starting members, the answer to beat)");
        var fused = Join(fuse: true, _joinStop, out var stats, out var survivors);
        if (fused is null) return survivors;
        var (map, rep) = Recheck(fused);
        _templateAnswer = new FusionResult(SolveStatus.Optimal, map, rep, rep.Objective(_p.Objective), null, null, sw.Elapsed, stats, survivors);
        return survivors;
    }

    /// <summary>The exact class searches' nodes so far (<see cref="FusionProblem.NodeBudget"/>).</summary>
    private long _spent;

    /// <summary>Counts an exact class search's nodes (at least one: a search proved at its root stops too) towards <see cref="FusionProblem.NodeBudget"/>; returns them.</summary>
    private long Spend(long nodes)
    {
        long total = Interlocked.Add(ref _spent, Math.Max(1, nodes));
        lock (SpentAfter) SpentAfter.Add(total);
        return nodes;
    }

    /// <summary>Tests only: the nodes spent after each exact class search, in order (the budgets that stop the search after each).</summary>
    internal List<long> SpentAfter { get; } = [];

    /// <summary>
    /// The answer of a search over the full mapspace, never worse than the template's (whose mappings are members of the same
    /// classes, so the search's bound holds for them too): when the template's answer is better in the problem's terms (in
    /// order), which happens only when the search stopped before every class had its template member, or stopped before any
    /// answer, it is the answer, FEASIBLE, with the search's bound (none when the search had none). The unfused mapping beside
    /// it stays the search's (the template's when the search has none).
    /// </summary>
    private FusionResult NoWorseThan(FusionResult full, FusionResult template)
    {
        // Ties go to the search's answer (the first of the two).
        if (template is not { Mapping: { } tMap, Report: { } tRep }
            || (full.Report is { } fRep && Objectives.Least([(Index: 0, Report: fRep), (Index: 1, Report: tRep)], _p.Terms, (x, o) => x.Report.Objective(o)).Index == 0))
            return full;
        if (full.Status == SolveStatus.Optimal)
            throw new InvalidOperationException("The template's answer is better than a proved optimum over the full mapspace; this is a bug.");
        // A list's best and bound are in its second term once its first is proved (latency,energy: the energy at the least
        // cycles); the template's answer then has those cycles too (it cannot have fewer).
        var term = full.Report is { } r && full.Best is { } b && _p.Terms.Count > 1 && b != r.Objective(_p.Objective) && b == r.Objective(_p.Terms[1]) ? _p.Terms[1] : _p.Objective;
        double best = tRep.Objective(term);
        return full with
        {
            Status = SolveStatus.Feasible,
            Mapping = tMap,
            Report = tRep,
            Best = best,
            Bound = full.Bound is { } lb ? Math.Min(lb, best) : null,
            Unfused = full.Unfused ?? template.Unfused,
            UnfusedReport = full.Unfused is null ? template.UnfusedReport : full.UnfusedReport,
            UnfusedProven = full.Unfused is null ? false : full.UnfusedProven,
            Stats = full.Stats.Count > 0 ? full.Stats : template.Stats,
            Survivors = full.Survivors.Count > 0 ? full.Survivors : template.Survivors,
            Explanation = $"{full.Explanation ?? "stopped"}; the template's {(template.Status == SolveStatus.Optimal ? "optimum" : "answer")} is better than what the search had joined, so it is the answer instead" +
                          (full.Unfused is null ? " (the unfused mapping beside it is the template's)" : ""),
        };
    }

    /// <summary>The search over the template (docs/fusion.md, "The search over the template").</summary>
    private FusionResult SolveTemplate(SearchLimits limits, Stopwatch sw, Func<bool> Late, Func<bool> Stop)
    {
        // The unfused mapping (seconds at most on the zoo's networks) is finished even after an interruption, so
        // Ctrl-C or SIGTERM always has a FEASIBLE answer to give; only the time limit cuts it short.
        limits.Progress?.Phase("the best unfused mapping");
        var unfused = Join(fuse: false, Late, out _, out _);
        if (unfused is null && Late())
            return new FusionResult(SolveStatus.Unknown, null, null, null, null, null, sw.Elapsed, [], [], "stopped by the time limit before any mapping was complete");
        if (unfused is null) return SolveWithoutUnfused(sw, Stop);
        var (uMap, uRep) = Recheck(unfused);
        limits.Progress?.Phase("partial mappings and the join");
        var fused = Join(fuse: true, Stop, out var stats, out var survivors, _p.KeepHalos || TemplatePipelines ? uMap : null);
        if (fused is null)
            return new FusionResult(SolveStatus.Feasible, uMap, uRep, uRep.Objective(_p.Objective), uMap, uRep, sw.Elapsed, stats, survivors,
                "stopped before the fused search finished; the answer is the best unfused mapping");
        var (fMap, fRep) = Recheck(fused);
        double best = fRep.Objective(_p.Objective);
        return new FusionResult(SolveStatus.Optimal, fMap, fRep, best, uMap, uRep, sw.Elapsed, stats, survivors) { Bound = best, UnfusedProven = true };
    }

    /// <summary>
    /// The template search when some layer has no template mapping alone (its tiles do not fit under one own DRAM loop):
    /// fused groups may still map it, their shared loops splitting its tiles further, so the join runs without the unfused
    /// baseline. Groups that keep their halos or pipeline are checked inside the unfused mapping, so without it they are not
    /// searched and the answer is FEASIBLE, saying so; INFEASIBLE only when they were not asked for and the join is empty.
    /// </summary>
    private FusionResult SolveWithoutUnfused(Stopwatch sw, Func<bool> stop)
    {
        string alone = _deadEnd!;
        _deadEnd = null;
        bool partial = _p.KeepHalos || TemplatePipelines;
        var fused = Join(fuse: true, stop, out var stats, out var survivors);
        string noUnfused = $"layer {alone} has no valid mapping alone in the per-layer template of docs/fusion.md (at most one own DRAM loop; its tiles do not fit), so there is no unfused mapping";
        if (fused is null)
            return stop()
                ? new FusionResult(SolveStatus.Unknown, null, null, null, null, null, sw.Elapsed, stats, survivors, $"{noUnfused}, and the search stopped before a fused one was complete")
                : partial
                    ? new FusionResult(SolveStatus.Unknown, null, null, null, null, null, sw.Elapsed, stats, survivors,
                        $"{noUnfused}; no fused mapping that recomputes its halos and runs its groups one after another exists (from layer {_deadEnd} on), and groups that keep halos or pipeline are searched only beside an unfused mapping")
                    : new FusionResult(SolveStatus.Infeasible, null, null, null, null, null, sw.Elapsed, stats, survivors,
                        $"{noUnfused}, and no fused mapping joins past layer {_deadEnd}: the fused mapspace is empty");
        var (fMap, fRep) = Recheck(fused);
        double best = fRep.Objective(_p.Objective);
        return partial
            ? new FusionResult(SolveStatus.Feasible, fMap, fRep, best, null, null, sw.Elapsed, stats, survivors,
                $"{noUnfused}; groups that keep halos or pipeline are searched only beside an unfused mapping, so they were not searched")
            : new FusionResult(SolveStatus.Optimal, fMap, fRep, best, null, null, sw.Elapsed, stats, survivors, noUnfused) { Bound = best };
    }

    /// <summary>
    /// True when the template's join offers pipelined groups (<see cref="PipelinedGroups"/>): with <see cref="FusionProblem.Pipeline"/>
    /// over the template only. Over the full mapspace the searches take pipelined groups as chains of classes of their own
    /// (<see cref="AddPipelinedClasses"/>), and the template's join, their baseline and first members, runs its groups sequentially.
    /// </summary>
    private bool TemplatePipelines => _p.Pipeline && !_p.FullMapspace;

    /// <summary>True when a lower bound reaches a value (within the searches' tie margin): the value is then proven the least.</summary>
    private static bool Meets(double bound, double value) => bound >= value * (1 - 1e-9);

    private Func<SearchLimits> _classLimits = () => SearchLimits.None;

    /// <summary>Every fused mapping of the template mapspace, checked and costed one by one: the reference for tests (small cases only).</summary>
    /// <param name="keepHalos">Also every group of two or more layers with the keep policy (docs/fusion.md, "Halos": each
    /// producer's prologue from the same template, no shared loops), where it differs from recomputing.</param>
    public (FusedMapping? Mapping, double Best, long Count) BruteForce(bool keepHalos = false)
        => Enumerate(keepHalos, (e, _, shared, held) => FusionMapspace.Candidates(e, _p.Arch, shared)
            .SelectMany(m => _p.Convention == CostConvention.Default ? [m]
                : Formulation.Specs.TimeloopMapping.Inexpressible(m, _p.Arch) is null ? Mapspace.SpatialOrders(m) : [])
            .Where(m => FusionMapspace.Allows(e, m, shared, held)).ToList());

    /// <summary>
    /// The reference for the full mapspace (energy or EDP; tests only, tiny cases): every partition into groups of
    /// consecutive layers, every set of tensors each group holds and every choice of every member's shared loops,
    /// each layer's mapping the least-energy one of its class (its shared loops, the held tensors it touches, and
    /// its levels' capacity less what held tensors living across it take) found by plain enumeration of the class's
    /// whole constrained single-layer mapspace (<see cref="TilingSearch"/> without pruning), each whole fused mapping
    /// checked by <see cref="FusionChecker"/> and costed by <see cref="FusionCost"/>. Within one such choice a layer's
    /// fused energy depends on its own mapping alone and the total is a sum, so the least per layer gives the least
    /// fused mapping of that choice. For EDP each layer's mappings are every mapping of its class's whole mapspace
    /// (<see cref="TilingSearch.Visit"/>) on the Pareto front of its fused energy and cycles.
    /// </summary>
    /// <param name="keepHalos">Also every group with the keep policy, each prologue the least-energy mapping of its own
    /// constrained mapspace (no shared loops; its held tensors resident) on the architecture less what is reserved for it.</param>
    public (FusedMapping? Mapping, double Best, long Count) BruteForceFull(bool keepHalos = false)
    {
        var classBest = new Dictionary<string, List<Mapping>>();
        return Enumerate(keepHalos, (e, room, shared, held) =>
        {
            // The Einsum itself (a split producer's differs from the layer's), not only its name.
            var key = $"{e.Name}|{e}|{SharedText(shared)}|{string.Join(",", held)}|{string.Join(",", room.Levels.Select(l => l.Capacity))}";
            if (!classBest.TryGetValue(key, out var best))
            {
                var problem = new MapProblem(e, room, Objective.Energy, FusionMapspace.ClassConstraints(e, shared, held));
                if (_p.Objective == Objective.Energy)
                    classBest[key] = best = new TilingSearch(problem, prune: false).Solve(SearchLimits.None).Mapping is { } m ? [m] : [];

                else
                {
                    // EDP: every mapping of the class whose fused energy and cycles no other beats or ties on both (the
                    // objective grows with each total, and the totals are sums over the layers of one choice).
                    var all = new List<(double Energy, long Cycles, Mapping Mapping)>();
                    new TilingSearch(problem, prune: false).Visit(m =>
                    {
                        var c = FusionCost.Adjust(e.Name, _p.Arch, CostModel.Evaluate(e, _p.Arch, m), held);
                        all.Add((c.Energy, c.Cycles, m));
                    }, SearchLimits.None with { Threads = 1 });
                    classBest[key] = best = Pareto(all, x => x.Energy, x => x.Cycles).Select(x => x.Mapping).ToList();
                }
            }
            return best;
        }, !_p.Pipeline ? null : (e, room, shared, held) => BrutePipeMembers(classBest, e, room, shared, held));
    }

    /// <summary>
    /// The brute force's mappings of a member of a pipelined group (cached in <paramref name="cache"/>): a pipelined group's
    /// cycles grow with every resource demand of every member and its capacity rule with every level's words, and its energy
    /// is a sum, so per member, every mapping of its class whose energy, demands and words no other mapping of the class beats
    /// or ties on all (plain enumeration, compared value by value).
    /// </summary>
    private List<Mapping> BrutePipeMembers(Dictionary<string, List<Mapping>> cache, Einsum e, Architecture room, IReadOnlyList<TemporalLoop> shared, IReadOnlyList<HeldTensor> held)
    {
        var key = $"pipe|{e.Name}|{e}|{SharedText(shared)}|{string.Join(",", held)}|{string.Join(",", room.Levels.Select(l => l.Capacity))}";
        if (!cache.TryGetValue(key, out var best))
        {
            var all = new List<(double[] V, Mapping M)>();
            new TilingSearch(new MapProblem(e, room, Objective.Energy, FusionMapspace.ClassConstraints(e, shared, held)), prune: false).Visit(m =>
            {
                var o = PipeOptionOf(e.Name, e, m, held);
                all.Add(([o.Energy, .. o.Demand.Select(x => (double)x), .. o.Words.Select(x => (double)x)], m));
            }, SearchLimits.None with { Threads = 1 });
            bool Beats(double[] a, double[] b) => a.Zip(b).All(x => x.First <= x.Second);
            cache[key] = best = all.Where((x, i) => !all.Where((y, j) => j != i && Beats(y.V, x.V) && (!Beats(x.V, y.V) || j < i)).Any()).Select(x => x.M).ToList();
        }
        return best;
    }

    /// <summary>
    /// Every partition into groups of consecutive layers, every non-empty set of tensors a group may hold
    /// (<see cref="FusionRules.WhyNotHeld"/>), every choice of every member's shared loops (the first member's any
    /// sequence of at most --max-fused-loops ranks, every other member's any sequence of its ranks with the same
    /// factors), and every combination of the layers' mappings that <paramref name="members"/> gives for each
    /// layer's class (the architecture with what is reserved for it, its shared loops, the held tensors it touches),
    /// each checked and costed as a whole fused mapping; the least. Choices the checker rejects are left to it.
    /// </summary>
    /// <param name="pipeMembers">With --pipeline, the mappings of a member of a pipelined group (null: the same as <paramref name="members"/>).</param>
    private (FusedMapping? Mapping, double Best, long Count) Enumerate(bool keepHalos,
        Func<Einsum, Architecture, IReadOnlyList<TemporalLoop>, IReadOnlyList<HeldTensor>, List<Mapping>> members,
        Func<Einsum, Architecture, IReadOnlyList<TemporalLoop>, IReadOnlyList<HeldTensor>, List<Mapping>>? pipeMembers = null)
    {
        var w = _p.Workload;
        var valid = new List<(FusedMapping Mapping, FusedCostReport Report)>();
        long count = 0;
        foreach (var groups in Partitions(w.Layers.Count, 0))
            foreach (var combo in Product(groups.Select(GroupChoices).ToList()))
            {
                var fm = new FusedMapping(combo.Select(c => c.Group), combo.SelectMany(c => c.Mappings), combo.SelectMany(c => c.Prologues));
                count++;
                if (FusionChecker.Check(w, _p.Arch, fm).Count > 0) continue;
                valid.Add((fm, FusionCost.Evaluate(w, _p.Arch, fm, _p.Convention)));
            }
        if (valid.Count == 0) return (null, double.PositiveInfinity, count);
        // The least under the problem's terms, in order (one term: the least objective; ties: the first enumerated).
        var best = Objectives.Least(valid, _p.Terms, (x, o) => x.Report.Objective(o));
        // Named as the searches name their answers (Recheck): only the fusion levels other than the default.
        return (FusionRules.WithoutDefaultLevels(w, _p.Arch, best.Mapping), best.Report.Objective(_p.Objective), count);

        IEnumerable<(FusedGroup Group, List<Mapping> Mappings, List<Mapping?> Prologues)> GroupChoices((int First, int Last) g)
        {
            int size = g.Last - g.First + 1;
            if (size == 1)
            {
                foreach (var m in members(w.Layers[g.First], _p.Arch, [], []))
                    yield return (new FusedGroup(g.First, g.First, 0, []), [m], [null]);
                yield break;
            }
            foreach (var gc in GroupClasses(g.First, g.Last, keepHalos ? [false, true] : [false]))
            {
                var perLayer = gc.Members.Select(m => members(m.Einsum, m.Room, m.Shared, m.Held)).ToList();
                var perPrologue = gc.Prologues.Select(p => p is { } x ? members(x.Einsum, x.Room, [], x.Held).Select(m => (Mapping?)m).ToList() : [null]).ToList();
                // With --pipeline a group with shared loops also runs pipelined (checked and costed by the same rules).
                bool pipe = _p.Pipeline && gc.Group.SharedLoops > 0 && !gc.Group.KeepHalos && size <= FusionProblem.MaxPipelineLayers;
                foreach (var ms in Product(perLayer))
                    foreach (var ps in Product(perPrologue))
                    {
                        yield return (gc.Group, ms, ps);
                        if (pipe && pipeMembers is null) yield return (gc.Group.AsPipelined(), ms, ps);
                    }
                if (pipe && pipeMembers is not null)
                    foreach (var ms in Product(gc.Members.Select(m => pipeMembers(m.Einsum, m.Room, m.Shared, m.Held)).ToList()))
                        yield return (gc.Group.AsPipelined(), ms, gc.Members.Select(_ => (Mapping?)null).ToList());
            }
        }
    }

    /// <summary>
    /// One choice for a group of two or more layers (the brute force's and, for groups that keep halos, the search's):
    /// the group (held tensors, shared loops, policy), its members' plans, and per member the class its mappings come
    /// from (its Einsum, the architecture less what is reserved for it, its shared loops, the held tensors it touches)
    /// and its prologue's (null when it has none).
    /// </summary>
    private sealed record GroupClass(FusedGroup Group, IReadOnlyList<MemberPlan> Plans,
        IReadOnlyList<(Einsum Einsum, Architecture Room, IReadOnlyList<TemporalLoop> Shared, IReadOnlyList<HeldTensor> Held)> Members,
        IReadOnlyList<(Einsum Einsum, Architecture Room, IReadOnlyList<HeldTensor> Held)?> Prologues)
    {
        /// <summary>Per member, the words reserved per level for held tensors living across it (its room's complement).</summary>
        public IReadOnlyList<IReadOnlyDictionary<int, long>> Reserved { get; init; } = [];
        /// <summary>Per member, the words reserved while its prologue runs (empty without one).</summary>
        public IReadOnlyList<IReadOnlyDictionary<int, long>> PrologueReserved { get; init; } = [];
    }

    /// <summary>
    /// Every choice for the group of layers <paramref name="first"/>..<paramref name="last"/>: every non-empty set of
    /// tensors it may hold, every choice of every member's shared loops (<see cref="MembersShared"/>), and each policy of
    /// <paramref name="keepPolicies"/> (keeping only where it differs from recomputing: some producer keeps rows or has a
    /// prologue); choices whose members cannot have a class (a shared loop walking nothing held, a reservation filling a
    /// level) are left out, the rest are left to the checker.
    /// </summary>
    private IEnumerable<GroupClass> GroupClasses(int first, int last, IEnumerable<bool> keepPolicies)
    {
        var w = _p.Workload;
        int size = last - first + 1;
        var policies = keepPolicies.ToList();
        var candidates = Enumerable.Range(first, size).SelectMany(i => w.Layers[i].Tensors.Select(t => t.Id)).Distinct()
            .Where(t => FusionRules.WhyNotHeld(w, t, first, last) is null).ToList();
        for (int mask = 1; mask < 1 << candidates.Count; mask++)
        {
            var held = candidates.Where((_, k) => (mask >> k & 1) == 1).ToList();
            // Every fusion level of every held tensor (docs/fusion.md, "The fused mapspace"); one with none is left to the checker.
            var levelOptions = held.Select(t => FusionRules.HoldLevels(w, _p.Arch, t, FusionRules.Touchers(w, t, first, last)).Select(l => (int?)l).DefaultIfEmpty(null)).ToList();
            foreach (var levelChoice in Product(levelOptions))
            foreach (var sharedLists in MembersShared(first, size))
                foreach (var keep in policies)
                {
                    var levels = held.Zip(levelChoice).Where(x => x.Second is not null).ToDictionary(x => x.First, x => x.Second!.Value);
                    var group = new FusedGroup(first, last, sharedLists[0].Count, held, keep, levels: levels);
                    var holds = FusionRules.MemberHolds(w, _p.Arch, group, i => sharedLists[i - first]);
                    // A producer whose readers walk its output through windows computes their halos (its rank split; the plan
                    // is worked back from the readers, independently of the searches' forward demands).
                    var plans = FusionRules.MemberPlans(w, group, i => sharedLists[i - first]);
                    if (keep && plans.All(p => p.Prologue is null && p.Splits.All(x => x.Kept == 0))) continue;
                    // A held tensor's tile under the shared loops must fit its fusion level (every toucher keeps it whole there): a
                    // level too small for it is no choice (the checker's capacity rule would reject every mapping of the class).
                    if (group.Levels.Any(x => _p.Arch.Levels[x.Value].Capacity is { } cap
                            && FusionRules.HeldWords(x.Key, FusionRules.Touchers(w, x.Key, first, last).Select(i => (plans[i - first].Einsum, plans[i - first].Shared))) > cap)) continue;
                    var prologueHolds = FusionRules.PrologueHolds(w, _p.Arch, group, plans);
                    var members = new List<(Einsum, Architecture, IReadOnlyList<TemporalLoop>, IReadOnlyList<HeldTensor>)>();
                    var prologues = new List<(Einsum, Architecture, IReadOnlyList<HeldTensor>)?>();
                    for (int k = 0; k < size; k++)
                    {
                        var (e, shared, (touched, reserved)) = (plans[k].Einsum, plans[k].Shared, holds[k]);
                        // A class needs every shared loop to walk a held tensor its member touches (the checker rejects the others).
                        if (shared.Any(l => touched.All(h => !e.FindTensor(h.Tensor)!.IsIndexedBy(l.Rank)))) break;
                        if (FusionRules.Reserve(_p.Arch, reserved) is not { } room) break;
                        if (plans[k].Prologue is not { } pro) prologues.Add(null);
                        else if (FusionRules.Reserve(_p.Arch, prologueHolds[k].Reserved) is { } proRoom) prologues.Add((pro, proRoom, prologueHolds[k].Held));
                        else break;
                        members.Add((e, room, shared, touched));
                    }
                    if (members.Count == size)
                        yield return new GroupClass(group, plans, members, prologues)
                        { Reserved = holds.Select(h => h.Reserved).ToList(), PrologueReserved = prologueHolds.Select(h => h.Reserved).ToList() };
                }
        }
    }

    /// <summary>
    /// Every choice of the shared loops of the members of a group starting at <paramref name="first"/>: the first
    /// member's any sequence of at most --max-fused-loops ranks, every other member's any sequence of its ranks with
    /// the same factors.
    /// </summary>
    private IEnumerable<List<IReadOnlyList<TemporalLoop>>> MembersShared(int first, int size)
    {
        var w = _p.Workload;
        var head = w.Layers[first];
        var firstOptions = FusionMapspace.SharedLoopSequences(head.Ranks.Select(r => r.Id).Where(r => head.Bound(r) > 1).ToList(),
            r => FusionMapspace.Divisors(head.Bound(r)).Where(f => f > 1), _p.MaxFusedLoops);
        foreach (var lead in firstOptions)
        {
            var factors = lead.Select(l => l.Factor).ToList();
            var others = Enumerable.Range(first + 1, size - 1).Select(i =>
            {
                var e = w.Layers[i];
                return FusionMapspace.SharedLoopSequences(e.Ranks.Select(r => r.Id).ToList(), r => factors.Where(f => e.Bound(r) % f == 0).Distinct(), factors.Count)
                    .Where(o => o.Select(l => l.Factor).SequenceEqual(factors));
            }).ToList();
            foreach (var rest in Product(others))
                yield return [lead, .. rest];
        }
    }

    /// <summary>Every partition of the layers from <paramref name="start"/> on into groups of consecutive layers.</summary>
    private static IEnumerable<List<(int First, int Last)>> Partitions(int n, int start)
    {
        if (start == n) { yield return []; yield break; }
        for (int last = start; last < n; last++)
            foreach (var rest in Partitions(n, last + 1))
                yield return [(start, last), .. rest];
    }

    private static IEnumerable<List<T>> Product<T>(IReadOnlyList<IEnumerable<T>> lists)
    {
        if (lists.Count == 0) { yield return []; yield break; }
        var rest = lists.Skip(1).ToList();
        foreach (var head in lists[0])
            foreach (var tail in Product(rest))
                yield return [head, .. tail];
    }

    /// <summary>Re-checks a found fused mapping and re-costs it with the reference model; a disagreement is a bug.</summary>
    private (FusedMapping, FusedCostReport) Recheck(FusedMapping fm)
    {
        fm = FusionRules.WithoutDefaultLevels(_p.Workload, _p.Arch, fm);
        var v = FusionChecker.Check(_p.Workload, _p.Arch, fm);
        if (v.Count > 0) throw new InvalidOperationException($"The fused search returned an invalid mapping ({v[0].Message}); this is a bug.");
        return (fm, FusionCost.Evaluate(_p.Workload, _p.Arch, fm, _p.Convention));
    }

    private sealed record Node(double Energy, long Cycles, Node? Prev, FusionPartial Partial);

    /// <summary>The join of docs/fusion.md over the template's partial mappings; null when stopped or when nothing is valid.</summary>
    /// <param name="unfused">With <see cref="FusionProblem.KeepHalos"/>, the unfused answer: groups that keep their halos
    /// (<see cref="KeptGroups"/>) join the DRAM frontier before their first layer and enter it after their last.</param>
    private FusedMapping? Join(bool fuse, Func<bool> stop, out List<FusionLayerStats> stats, out List<IReadOnlyList<FusionPartial>> survivors, FusedMapping? unfused = null)
    {
        var w = _p.Workload;
        stats = [];
        survivors = [];
        var frontier = new SortedDictionary<string, List<Node>>(StringComparer.Ordinal) { [DramKey] = [] };
        var dramAfter = new List<List<Node>>();
        for (int i = 0; i < w.Layers.Count; i++)
        {
            if (stop()) return null;
            List<string?> keys = i == 0 ? [null] : frontier.Keys.Select(k => k == DramKey ? null : k).ToList();
            var (kept, evaluated, valid) = Partials(i, keys, fuse);
            if (fuse) ReleaseSharedCosts(i);
            survivors.Add(kept);
            var next = new SortedDictionary<string, List<Node>>(StringComparer.Ordinal);
            foreach (var p in kept)
            {
                var bucketKey = p.OutKey ?? DramKey;
                if (!next.TryGetValue(bucketKey, out var bucket)) next[bucketKey] = bucket = [];
                if (i == 0) { bucket.Add(new Node(p.Energy, p.Cycles, null, p)); continue; }
                if (!frontier.TryGetValue(p.InKey ?? DramKey, out var prev)) continue;
                foreach (var node in prev) bucket.Add(new Node(node.Energy + p.Energy, node.Cycles + p.Cycles, node, p));
            }
            // A group that keeps its halos, from any closed prefix before its first layer; it closes after layer i.
            if (unfused is not null)
                foreach (var (first, point) in (_p.KeepHalos ? KeptGroups(i, unfused) : []).Concat(TemplatePipelines ? PipelinedGroups(i, unfused, stop) : []))
                    foreach (var before in first == 0 ? [null] : dramAfter[first - 1].Select(n => (Node?)n))
                    {
                        var node = before;
                        foreach (var p in point.Partials) node = new Node((node?.Energy ?? 0) + p.Energy, (node?.Cycles ?? 0) + p.Cycles, node, p);
                        if (!next.TryGetValue(DramKey, out var bucket)) next[DramKey] = bucket = [];
                        bucket.Add(node!);
                    }
            // A stop inside the groups' enumeration leaves some out: the layer's frontier is incomplete.
            if (unfused is not null && stop()) return null;
            foreach (var k in next.Keys.ToList())
            {
                next[k] = Pareto(next[k], n => n.Energy, n => n.Cycles);
                if (next[k].Count == 0 || (i == w.Layers.Count - 1 && k != DramKey)) next.Remove(k);
            }
            frontier = next;
            dramAfter.Add(frontier.TryGetValue(DramKey, out var closed) ? closed : []);
            if (frontier.Count == 0) _deadEnd ??= w.Layers[i].Name;
            stats.Add(new FusionLayerStats(w.Layers[i].Name, evaluated, valid, kept.Count, frontier.Values.Sum(b => (long)b.Count), kept.Select(p => (p.InKey, p.OutKey)).Distinct().Count()));
        }
        if (!frontier.TryGetValue(DramKey, out var done) || done.Count == 0) return null;
        return Decode(Objectives.Least(done, _p.Terms, (nd, o) => FusionCost.Combine(o, nd.Energy, nd.Cycles)));
    }

    private const string DramKey = "\u0000dram";

    /// <summary>The key between two members of a group that keeps its halos (its members join only each other, <see cref="KeptGroups"/>).</summary>
    private const string KeepKey = "\u0000keep";

    /// <summary>A combination of one partial mapping per member of a group that keeps its halos, with its totals.</summary>
    private sealed record KeepPoint(double Energy, long Cycles, IReadOnlyList<FusionPartial> Partials);

    /// <summary>
    /// The groups that keep their halos and end at layer <paramref name="last"/> (docs/fusion.md, "Halos"): every group of
    /// two to <see cref="FusionProblem.MaxKeepLayers"/> layers with one shared loop (<see cref="GroupClasses"/>), its
    /// members' and prologues' mappings from the template (each checked on its class's architecture and constraints,
    /// costed with fusion's removals, pruned to the (energy, cycles) Pareto points of its class), combined member by member
    /// and pruned again (a group's total is a sum over its members, and what follows sees only that the group is closed,
    /// so the dominance argument of the join holds), each combination checked as a whole inside
    /// <paramref name="unfused"/> by <see cref="FusionChecker"/>.
    /// </summary>
    private IEnumerable<(int First, KeepPoint Point)> KeptGroups(int last, FusedMapping unfused)
    {
        var w = _p.Workload;
        for (int first = Math.Max(0, last - FusionProblem.MaxKeepLayers + 1); first < last; first++)
            foreach (var gc in GroupClasses(first, last, [true]))
            {
                if (gc.Group.SharedLoops != 1) continue;
                var points = new List<KeepPoint> { new(0, 0, []) };
                for (int k = 0; k < gc.Members.Count && points.Count > 0; k++)
                {
                    var (e, room, shared, held) = gc.Members[k];
                    string name = w.Layers[first + k].Name;
                    var main = Options(name, e, room, shared, held);
                    var prologue = gc.Prologues[k] is { } pro ? Options(name, pro.Einsum, pro.Room, [], pro.Held) : [(0.0, 0L, null)];
                    var onChip = held.Select(h => h.Tensor).ToList();
                    var next = new List<KeepPoint>();
                    foreach (var x in points)
                        foreach (var m in main)
                            foreach (var q in prologue)
                            {
                                var partial = new FusionPartial(first + k, -1, m.Mapping!, gc.Group.SharedLoops, k == 0 ? null : KeepKey, k == gc.Members.Count - 1 ? null : KeepKey,
                                    m.Energy + q.Energy, checked(m.Cycles + q.Cycles), []) { OnChip = onChip, Levels = FusionPartial.LevelsOf(held), Keep = true, Prologue = q.Mapping };
                                next.Add(new KeepPoint(x.Energy + partial.Energy, checked(x.Cycles + partial.Cycles), [.. x.Partials, partial]));
                            }
                    points = Pareto(next, x => x.Energy, x => x.Cycles);
                }
                foreach (var point in points)
                {
                    var layers = unfused.Layers.Select((m, i) => gc.Group.Contains(i) ? point.Partials[i - first].Mapping : m);
                    var prologues = unfused.Layers.Select((_, i) => gc.Group.Contains(i) ? point.Partials[i - first].Prologue : null);
                    var groups = unfused.Groups.Where(g => !gc.Group.Contains(g.First)).Append(gc.Group).OrderBy(g => g.First);
                    if (FusionChecker.Check(w, _p.Arch, new FusedMapping(groups, layers, prologues)).Count == 0) yield return (first, point);
                }
            }
    }

    /// <summary>The template's mappings of one class (its constraints, valid on its architecture), each with its energy and cycles after fusion's removals; the Pareto points.</summary>
    private List<(double Energy, long Cycles, Mapping? Mapping)> Options(string layer, Einsum e, Architecture room, IReadOnlyList<TemporalLoop> shared, IReadOnlyList<HeldTensor> held)
        => Pareto(FusionMapspace.Candidates(e, _p.Arch, shared)
            .Where(m => FusionMapspace.Allows(e, m, shared, held) && ValidityChecker.Check(e, room, m).Count == 0)
            .Select(m => FusionCost.Adjust(layer, _p.Arch, CostModel.Evaluate(e, _p.Arch, m), held) is var c ? (c.Energy, c.Cycles, (Mapping?)m) : default)
            .ToList(), x => x.Energy, x => x.Cycles);

    private FusedMapping Decode(Node last)
    {
        var chain = new List<FusionPartial>();
        for (var n = last; n is not null; n = n.Prev) chain.Add(n.Partial);
        chain.Reverse();
        return Assemble(chain);
    }

    /// <summary>The fused mapping made of one partial mapping per layer (groups follow the keys; a group holds the tensors its members touch on chip).</summary>
    public static FusedMapping Assemble(IReadOnlyList<FusionPartial> chain)
    {
        var groups = new List<FusedGroup>();
        int first = 0;
        for (int i = 0; i < chain.Count; i++)
            if (chain[i].OutKey is null)
            {
                var held = chain.Skip(first).Take(i - first + 1).SelectMany(p => p.OnChip).Distinct();
                var members = chain.Skip(first).Take(i - first + 1).ToList();
                var levels = new Dictionary<TensorId, int>();
                foreach (var (t, l) in members.SelectMany(p => p.Levels)) levels.TryAdd(t, l);
                groups.Add(new FusedGroup(first, i, i > first ? chain[i].SharedCount : 0, held, members.Any(p => p.Keep), members.Any(p => p.Pipelined), levels));
                first = i + 1;
            }
        return new FusedMapping(groups, chain.Select(p => p.Mapping), chain.Select(p => p.Prologue));
    }

    /// <summary>The points that no other point beats or ties on both values; among equal points the first (canonical) one.</summary>
    private static List<T> Pareto<T>(List<T> items, Func<T, double> a, Func<T, long> b)
    {
        var kept = new List<T>();
        long bestB = long.MaxValue;
        foreach (var x in items.OrderBy(a).ThenBy(b))
            if (b(x) < bestB) { kept.Add(x); bestB = b(x); }
        return kept;
    }

    /// <summary>The survivors of one template class, what it evaluated and how many were valid; cached for layers of the same shape.</summary>
    private sealed record JobResult(List<FusionPartial> Kept, long Evaluated, long Valid);

    /// <summary>
    /// A held tensor live between two members of a group: its fusion level, the dimension of it each shared loop
    /// walks, the words it takes there under the shared loops, and its last reader.
    /// </summary>
    private sealed record Live(TensorId Tensor, int Level, int[] Dims, (long Extent, long Step)[] Windows, long Words, int LastReader)
    {
        public override string ToString() => $"{Tensor}@{Level}:{string.Join(".", Dims)}:{string.Join(".", Windows.Select(x => $"{x.Extent}/{x.Step}"))}:{Words}:{LastReader}";
    }

    /// <summary>
    /// The state between two members of a group, the key that decides which partial mappings of the next layer may
    /// follow (docs/fusion.md, "Partial mappings and compatibility"): the shared factors, the held tensors live
    /// across the boundary, and the tensors a member of the group touched through DRAM that a later member
    /// therefore may not load (a held tensor's first toucher in its group is its producer or its loader).
    /// </summary>
    private sealed record GroupState(IReadOnlyList<int> Factors, IReadOnlyList<Live> Live, IReadOnlyList<TensorId> NoLoad)
    {
        public string Key => $"{string.Join(",", Factors)}|{string.Join(";", Live)}|{string.Join(",", NoLoad)}";
    }

    private readonly Dictionary<string, GroupState> _states = new(StringComparer.Ordinal);

    /// <summary>The Einsum the mappings of a class of layer i are over.</summary>
    private Einsum EinsumOf(int i, Job j) => j.Member ?? _p.Workload.Layers[i];

    /// <summary>
    /// One class of partial mappings of a layer: the state it follows (null = it starts a group or is alone), its
    /// shared loops, the held tensors it touches, the words reserved per level for held tensors that live across
    /// it, and the state it leaves (null = the group ends with it).
    /// </summary>
    private sealed record Job(string? InKey, IReadOnlyList<TemporalLoop> Shared, IReadOnlyList<HeldTensor> Held, IReadOnlyDictionary<int, long> Reserved, string? OutKey)
    {
        /// <summary>The Einsum the class's mappings are over when the layer computes its readers' halos (its rank split, docs/fusion.md, "Halos"); null: the layer itself. <see cref="Shared"/> is in its ranks.</summary>
        public Einsum? Member { get; init; }

        /// <summary>
        /// A level where the class's members keep nothing but the held tensors there (<see cref="FusionMapspace.KeepingNothingAt"/>):
        /// the members of a pipelined group that leave a narrow level to another member; null: no such restriction.
        /// </summary>
        public int? Bare { get; init; }

        /// <summary>The class of a layer alone: nothing shared, nothing held.</summary>
        public static Job Alone { get; } = new(null, [], [], new Dictionary<int, long>(), null);
    }

    /// <summary>
    /// The classes of layer i for the given incoming states (null = DRAM: the layer starts a group or is alone):
    /// every choice of holding its output on chip (when it has readers), of loading inputs that later layers also
    /// read, with the shared loops the state gives it (or, starting a group, any it may share), the held tensors
    /// it reads where they live; classes whose held tensors cannot fit their levels are left out.
    /// </summary>
    private List<Job> Jobs(int i, IEnumerable<string?> inKeys, bool fuse)
    {
        var jobs = new List<Job>();
        foreach (var inKey in inKeys)
        {
            GroupState? s;
            lock (_states) s = inKey is null ? null : _states[inKey];
            jobs.AddRange(JobsAfter(i, inKey, s, fuse).Where(j => Fits(i, j)));
        }
        return jobs;
    }

    private IEnumerable<Job> JobsAfter(int i, string? inKey, GroupState? s, bool fuse)
    {
        var w = _p.Workload;
        var e = w.Layers[i];
        var live = s?.Live ?? [];
        var inputs = e.Tensors.Where(t => !t.IsOutput).Select(t => t.Id).Distinct().ToList();
        var reads = live.Where(l => inputs.Contains(l.Tensor)).ToList();
        var passing = live.Where(l => !reads.Contains(l)).ToList();
        var loadable = !fuse ? [] : inputs.Where(t => live.All(l => l.Tensor != t) && !(s?.NoLoad.Contains(t) ?? false)
            && FusionRules.Readers(w, t).Any(r => r > i)).ToList();
        bool outMayHold = fuse && FusionRules.Readers(w, e.Output.Id).Count > 0;
        for (int mask = 0; mask < 1 << loadable.Count; mask++)
            foreach (var outHeld in outMayHold ? [false, true] : new[] { false })
            {
                var fresh = loadable.Where((_, k) => (mask >> k & 1) == 1).Select(t => (Tensor: t, Touchers: FusionRules.Readers(w, t).Where(r => r >= i).ToList())).ToList();
                if (outHeld) fresh.Add((e.Output.Id, FusionRules.Readers(w, e.Output.Id).Prepend(i).ToList()));
                // Every fusion level each new held tensor may live in (docs/fusion.md, "The fused mapspace"); the state's key carries it.
                var levelOptions = fresh.Select(x => FusionRules.HoldLevels(w, _p.Arch, x.Tensor, x.Touchers)).ToList();
                if (levelOptions.Any(l => l.Count == 0)) continue;
                foreach (var levels in Product<int>(levelOptions))
                foreach (var shared in SharedChoices(e, s, reads, fresh.Select(x => x.Tensor).ToList()))
                    foreach (var splits in SplitChoices(e, outHeld, shared))
                    {
                        // A layer that computes its readers' halos runs its split Einsum; its shared loops walk the splits' tile ranks.
                        var member = splits.Count == 0 ? e : FusionRules.Expand(e, splits);
                        var mine = shared.Select(l => splits.FirstOrDefault(x => x.Rank == l.Rank) is { } x ? new TemporalLoop(x.Tile, l.Factor) : l).ToList();
                        // Each held tensor it reads must come in the window it needs per shared iteration (its producer's rows, or its loader's tile).
                        if (!reads.All(r => r.Dims.Select((d, j) => FusionRules.WalkedDim(member, r.Tensor, mine[j].Rank, HeldUse.Reads) == d
                                && FusionRules.Window(member, r.Tensor, d, mine[j].Rank, mine) == r.Windows[j]).All(x => x))) continue;
                        var made = new List<Live>();
                        foreach (var (x, level) in fresh.Zip(levels))
                        {
                            var dims = shared.Select(l => FusionRules.PlainDim(e, x.Tensor, l.Rank)).ToArray();
                            if (dims.Any(d => d < 0)) { made = null; break; }
                            var windows = dims.Select((d, j) => splits.FirstOrDefault(z => z.Rank == shared[j].Rank) is { } z
                                ? ((long)z.Rows, (long)z.Step) : FusionRules.Window(member, x.Tensor, d, mine[j].Rank, mine)).ToArray();
                            // Every later toucher must be able to walk those dimensions with the group's factors (checked again, exactly, when it comes).
                            if (WindowWords(x.Tensor, x.Touchers, dims, windows, shared.Select(l => l.Factor).ToList()) is not { } words) { made = null; break; }
                            made.Add(new Live(x.Tensor, level, dims, windows, words, x.Touchers[^1]));
                        }
                        if (made is null) continue;
                        var held = reads.Select(l => new HeldTensor(l.Tensor, l.Level, HeldUse.Reads))
                            .Concat(made.Select(l => new HeldTensor(l.Tensor, l.Level, l.Tensor == e.Output.Id ? HeldUse.Writes : HeldUse.Loads))).ToList();
                        var reserved = new Dictionary<int, long>();
                        foreach (var p in passing) reserved[p.Level] = reserved.GetValueOrDefault(p.Level) + p.Words;
                        var after = passing.Concat(reads.Where(l => l.LastReader > i)).Concat(made).OrderBy(l => l.Tensor.Name, StringComparer.Ordinal).ToList();
                        if (after.Count > 0 && i == w.Layers.Count - 1) continue;
                        string? outKey = null;
                        if (after.Count > 0)
                        {
                            var throughDram = inputs.Where(t => held.All(h => h.Tensor != t)).Concat(outHeld ? [] : [e.Output.Id]);
                            var noLoad = (s?.NoLoad ?? []).Concat(throughDram).Distinct()
                                .Where(t => FusionRules.Readers(w, t).Count(r => r > i) >= 2).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
                            var state = new GroupState(s?.Factors ?? shared.Select(l => l.Factor).ToList(), after, noLoad);
                            outKey = state.Key;
                            lock (_states) _states.TryAdd(outKey, state);
                        }
                        yield return new Job(inKey, mine, held, reserved, outKey) { Member = splits.Count == 0 ? null : member };
                    }
            }
    }

    /// <summary>
    /// The shared loops of a member, over its own ranks: starting a group, any its new held tensors allow (none when it
    /// holds nothing); inside one, ranks that walk the dimensions the held tensors it reads are walked by (plainly or
    /// through a window: a reader's window is checked against what its producer supplies), all of them agreeing; when
    /// it reads none, any ranks that walk every held tensor it adds, with the group's factors.
    /// </summary>
    private IEnumerable<IReadOnlyList<TemporalLoop>> SharedChoices(Einsum e, GroupState? s, IReadOnlyList<Live> reads, IReadOnlyList<TensorId> fresh)
    {
        if (s is null)
            return fresh.Count == 0 ? [[]] : FusionMapspace.SharedLoopOptions(e, fresh, _p.MaxFusedLoops);
        if (s.Factors.Count == 0) return [[]];
        if (reads.Count > 0)
        {
            var first = reads[0];
            var options = first.Dims.Select((d, j) => (e.FindTensor(first.Tensor)!.Dims.ElementAtOrDefault(d)?.Terms ?? []).Select(x => x.Rank)
                .Where(r => e.Bound(r) % s.Factors[j] == 0).Select(r => new TemporalLoop(r, s.Factors[j])).ToList()).ToList();
            return Product<TemporalLoop>(options).Where(loops => loops.Select(l => l.Rank).Distinct().Count() == loops.Count
                && reads.All(r => r.Dims.Select((d, j) => FusionRules.WalkedDim(e, r.Tensor, loops[j].Rank, HeldUse.Reads) == d).All(x => x)))
                .Select(loops => (IReadOnlyList<TemporalLoop>)loops).ToList();
        }
        if (fresh.Count == 0) return [];
        var ranks = e.Ranks.Select(r => r.Id).Where(r => fresh.All(t => FusionRules.PlainDim(e, t, r) >= 0)).ToList();
        return FusionMapspace.SharedLoopSequences(ranks, r => s.Factors.Where(f => e.Bound(r) % f == 0).Distinct(), s.Factors.Count)
            .Where(o => o.Count == s.Factors.Count && o.Select(l => l.Factor).SequenceEqual(s.Factors));
    }

    /// <summary>
    /// How a layer that holds its output may split its shared ranks to compute the halos its readers need (docs/fusion.md,
    /// "Halos"): for each shared loop, no split, or a split for one window its readers could need along the output
    /// dimension the loop walks (<see cref="Demands"/>); every combination, the empty one first.
    /// </summary>
    private IEnumerable<IReadOnlyList<HaloSplit>> SplitChoices(Einsum e, bool outHeld, IReadOnlyList<TemporalLoop> shared)
    {
        var perLoop = shared.Select(l =>
        {
            var options = new List<HaloSplit?> { null };
            int d = outHeld ? FusionRules.PlainDim(e, e.Output.Id, l.Rank) : -1;
            if (d >= 0) options.AddRange(Demands(e.Output.Id, d, l.Factor).Select(x => Split(e, l.Rank, l.Factor, x)).Where(x => x is not null));
            return options;
        }).ToList();
        return Product<HaloSplit?>(perLoop).Select(c => (IReadOnlyList<HaloSplit>)c.Where(x => x is not null).Select(x => x!).ToList());
    }

    /// <summary>The split of a rank that computes the given window per shared iteration; null when the window is the rank's own plain tile or runs past the rank.</summary>
    private static HaloSplit? Split(Einsum e, RankId rank, int factor, (long Extent, long Step) w)
    {
        int bound = e.Bound(rank);
        if (w.Extent == w.Step && (long)factor * w.Step == bound) return null;
        if ((factor - 1) * w.Step + w.Extent > bound) return null;
        return new HaloSplit(rank, factor, (int)w.Extent, (int)w.Step);
    }

    private readonly Dictionary<(TensorId, int, int), List<(long, long)>> _demands = [];

    /// <summary>
    /// The windows (extent, step) of dimension <paramref name="dim"/> of tensor <paramref name="t"/> that its readers
    /// could need per shared iteration of factor <paramref name="factor"/>: each reader with each rank of that
    /// dimension's index as its shared loop, unsplit, or split to compute a window its own readers could need
    /// (worked forward through the readers' outputs; windows that run past a rank are left out). Worked out from the last
    /// readers back with an explicit stack, not recursion, so a chain of any length takes no more call stack than a chain of one.
    /// </summary>
    private IReadOnlyList<(long Extent, long Step)> Demands(TensorId t, int dim, int factor)
    {
        var w = _p.Workload;
        List<(long, long)>? Known(TensorId x, int d)
        {
            lock (_demands) return _demands.TryGetValue((x, d, factor), out var k) ? k : null;
        }
        // What (tensor, dimension) each reader's window goes on to: its output's dimension that rank indexes plainly.
        IEnumerable<(int Reader, RankId Rank, int Next)> Steps(TensorId x, int d)
        {
            foreach (var k in FusionRules.Readers(w, x))
            {
                var e = w.Layers[k];
                // A reader that indexes the tensor with fewer dimensions (a GEMM reading a convolution's output) walks no window of it.
                var dims = e.FindTensor(x)!.Dims;
                if (d >= dims.Count) continue;
                foreach (var r in dims[d].Terms.Select(y => y.Rank).Where(r => e.Bound(r) % factor == 0))
                    yield return (k, r, FusionRules.PlainDim(e, e.Output.Id, r));
            }
        }
        var stack = new Stack<(TensorId T, int Dim, bool Ready)>();
        stack.Push((t, dim, false));
        while (stack.Count > 0)
        {
            var (x, d, ready) = stack.Pop();
            if (Known(x, d) is not null) continue;
            if (!ready)
            {
                stack.Push((x, d, true));
                foreach (var s in Steps(x, d))
                    if (s.Next >= 0 && Known(w.Layers[s.Reader].Output.Id, s.Next) is null)
                        stack.Push((w.Layers[s.Reader].Output.Id, s.Next, false));
                continue;
            }
            var result = new List<(long, long)>();
            foreach (var (k, r, next) in Steps(x, d))
            {
                var e = w.Layers[k];
                result.Add(FusionRules.Window(e, x, d, r, [new TemporalLoop(r, factor)]));
                if (next < 0) continue;
                foreach (var need in Known(e.Output.Id, next)!)
                    if (Split(e, r, factor, need) is { } split)
                        result.Add(FusionRules.Window(FusionRules.Expand(e, [split]), x, d, split.Tile, [new TemporalLoop(split.Tile, factor)]));
            }
            var distinct = result.Distinct().ToList();
            lock (_demands) _demands[(x, d, factor)] = distinct;
        }
        return Known(t, dim)!;
    }

    /// <summary>
    /// The words a held tensor takes under the shared loops when every toucher walks it in the given windows (the
    /// readers are checked to), as <see cref="FusionRules.HeldWords"/> counts them: the largest footprint of a toucher,
    /// each walked dimension its window's extent and every other dimension its full extent in that toucher's index; null
    /// when a toucher cannot walk a dimension with its shared factor (it lacks the dimension, or no rank of its index
    /// there has a bound the factor divides).
    /// </summary>
    private long? WindowWords(TensorId t, IReadOnlyList<int> touchers, int[] dims, (long Extent, long Step)[] windows, IReadOnlyList<int> factors)
    {
        long words = 0;
        foreach (var k in touchers)
        {
            var e = _p.Workload.Layers[k];
            var spec = e.FindTensor(t)!;
            if (dims.Select((d, j) => d < spec.Dims.Count && spec.Dims[d].Terms.Any(x => e.Bound(x.Rank) % factors[j] == 0)).Any(ok => !ok)) return null;
            var index = new TensorIndex(spec, e.Ranks.Select(r => r.Id).ToList());
            var extents = index.DimExtents(r => e.Bound(r));
            for (int j = 0; j < dims.Length; j++) extents[dims[j]] = windows[j].Extent;
            words = Math.Max(words, extents.Aggregate(1L, (a, x) => checked(a * x)));
        }
        return words;
    }

    /// <summary>True when the held tensors a class touches fit their levels under its shared loops beside what is reserved there.</summary>
    private bool Fits(int i, Job j)
    {
        var need = new Dictionary<int, long>(j.Reserved);
        foreach (var h in j.Held)
            need[h.Level] = checked(need.GetValueOrDefault(h.Level) + FusionRules.HeldWords(h.Tensor, [(EinsumOf(i, j), j.Shared)]));
        return FusionRules.Reserve(_p.Arch, j.Reserved) is not null && need.All(x => _p.Arch.Levels[x.Key].Capacity is not { } cap || x.Value <= cap);
    }

    /// <summary>The partial mappings of layer i for the given incoming keys (null = the input comes from DRAM), pruned within each class.</summary>
    private (List<FusionPartial>, long Evaluated, long Valid) Partials(int i, IReadOnlyList<string?> inKeys, bool fuse)
    {
        var jobs = Jobs(i, inKeys, fuse);
        // Evaluate each distinct set of shared loops once (in parallel); every class with those loops takes its members from it.
        var bySharing = jobs.GroupBy(j => $"{SharedText(j.Shared)}|{j.Member}").Select(g => g.ToList()).ToList();
        var results = new JobResult[bySharing.Count][];
        Parallel.For(0, bySharing.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            k => results[k] = Evaluate(i, bySharing[k]));
        var all = new List<FusionPartial>();
        long evaluated = 0, valid = 0;
        foreach (var r in results.SelectMany(x => x))
        {
            all.AddRange(r.Kept);
            evaluated += r.Evaluated;
            valid += r.Valid;
        }
        return (all.Select((p, k) => p with { Order = k }).ToList(), evaluated, valid);
    }

    /// <summary>
    /// The classes of layer i under one set of shared loops: every template mapping checked and costed once,
    /// then placed in each class and pruned there. Layers of the same shape whose held tensors sit at the
    /// same tensor positions share the work: their survivors differ only in tensor names, which are renamed.
    /// </summary>
    private JobResult[] Evaluate(int i, List<Job> jobs)
    {
        var e = EinsumOf(i, jobs[0]);
        var results = new JobResult[jobs.Count];
        var missing = new List<int>();
        for (int k = 0; k < jobs.Count; k++)
        {
            (JobResult Result, Einsum From)? hit;
            lock (_cache) hit = _p.ReuseSameShapes && _cache.TryGetValue(ShapeKeyOf(i, jobs[k]), out var c) ? c : null;
            if (hit is { } h) results[k] = Renamed(h.Result, h.From, e, i, jobs[k]);
            else missing.Add(k);
        }
        if (missing.Count == 0) return results;
        var fresh = TemplateClasses(i, missing.Select(k => jobs[k]).ToList());
        for (int x = 0; x < missing.Count; x++)
        {
            results[missing[x]] = fresh[x];
            lock (_cache) _cache.TryAdd(ShapeKeyOf(i, jobs[missing[x]]), (fresh[x], e));
        }
        return results;
    }

    /// <summary>A member of a class: its mapping costed by the reference model with fusion's removals (docs/fusion.md), the words it holds per level with what is reserved there.</summary>
    private FusionPartial Member(int i, Job job, Mapping m, CostReport report, int order, out FusedLayerCost cost)
    {
        var e = _p.Workload.Layers[i];
        cost = FusionCost.Adjust(e.Name, _p.Arch, report, job.Held);
        return new FusionPartial(i, order, m, job.Shared.Count, job.InKey, job.OutKey, cost.Energy, cost.Cycles,
            report.Levels.Select((l, k) => l.WordsHeld + job.Reserved.GetValueOrDefault(k)).ToList()) { OnChip = job.Held.Select(h => h.Tensor).ToList(), Levels = FusionPartial.LevelsOf(job.Held) };
    }

    /// <summary>
    /// Every template mapping of layer i under the jobs' (common) shared loops, checked and costed once, then placed in
    /// each class that allows it (its constraints, and its tiles beside the words reserved there) and pruned there.
    /// </summary>
    private JobResult[] TemplateClasses(int i, List<Job> jobs)
    {
        var e = EinsumOf(i, jobs[0]);
        var shared = jobs[0].Shared;
        var constraints = jobs.Select(j => FusionMapspace.ClassConstraints(e, j.Shared, j.Held)).ToList();
        var accepted = jobs.Select(_ => new List<FusionPartial>()).ToList();
        long evaluated = 0;
        var valid = new long[jobs.Count];
        int order = 0;
        var allows = new bool[jobs.Count];
        bool same = _p.Convention == CostConvention.Default;
        // Layers of the same shape under the same shared loops have the same candidates in the same order, costed the same but
        // for the tensors' names: under the default convention each is costed once, by whichever layer first needs it.
        var costed = same ? SharedCosts(e, shared) : null;
        foreach (var candidate in FusionMapspace.Candidates(e, _p.Arch, shared))
        {
            evaluated++;
            // Under the default convention the mapping costed is the candidate itself, so the classes' constraints are checked
            // first and a candidate none of them allows is not costed: it would be placed in no class.
            bool any = false;
            for (int k = 0; k < jobs.Count; k++) any |= allows[k] = same && ConstraintCheck.Allows(constraints[k], candidate);
            if (same && !any) { order++; continue; }
            foreach (var (m, report) in costed is null ? Costed(e, candidate) : costed.Get(order, e, candidate, () => Costed(e, candidate)))
                for (int k = 0; k < jobs.Count; k++)
                {
                    if (!(same ? allows[k] : ConstraintCheck.Allows(constraints[k], m)) || !FitsBeside(report, jobs[k].Reserved)) continue;
                    valid[k]++;
                    accepted[k].Add(Member(i, jobs[k], m, report, order, out _));
                }
            order++;
        }
        return jobs.Select((_, k) => new JobResult(Pareto(accepted[k], p => p.Energy, p => p.Cycles), evaluated, valid[k])).ToArray();
    }

    /// <summary>
    /// The template candidates' reports under one set of shared loops, per layer shape (<see cref="Zoo.ShapeKey"/>), kept only
    /// for shapes that more than one layer of the workload has; null otherwise (or without <see cref="FusionProblem.ReuseSameShapes"/>).
    /// </summary>
    private SharedCandidateCosts? SharedCosts(Einsum e, IReadOnlyList<TemporalLoop> shared)
    {
        if (!_p.ReuseSameShapes) return null;
        string shape = Zoo.ShapeKey(e);
        if (_p.Workload.Layers.Count(l => Zoo.ShapeKey(l) == shape) < 2) return null;
        lock (_sharedCosts)
        {
            if (!_sharedCosts.TryGetValue(shape, out var bySharing)) _sharedCosts[shape] = bySharing = [];
            string key = SharedText(shared);
            if (!bySharing.TryGetValue(key, out var costs))
            {
                bySharing[key] = costs = new SharedCandidateCosts();
                SharedCostSetsMade++;
            }
            return costs;
        }
    }

    /// <summary>The shared template reports (<see cref="SharedCosts"/>): per layer shape, per set of shared loops.</summary>
    private readonly Dictionary<string, Dictionary<string, SharedCandidateCosts>> _sharedCosts = [];

    /// <summary>Tests only: how many sets of shared template reports (one shape, one set of shared loops) were made, and how many are held now.</summary>
    internal int SharedCostSetsMade { get; private set; }

    /// <inheritdoc cref="SharedCostSetsMade"/>
    internal int SharedCostSetsHeld { get { lock (_sharedCosts) return _sharedCosts.Values.Sum(x => x.Count); } }

    /// <summary>
    /// Drops the shared template reports of every layer shape whose last layer is at or before layer <paramref name="i"/>: called by
    /// the fused join (<see cref="Join"/>) once layer i's partial mappings are made (every set of shared loops of the layer
    /// finished, <see cref="Partials"/>), no later layer of that join reads them. They are a cache of the cost model's reports,
    /// so a later reader (another join, a class falling back to the template) costs its candidates again and gets the same.
    /// Before this, GPT-3's reports of Q's shape were kept to the end of the run (about 120 MB of the peak, f17ad).
    /// </summary>
    private void ReleaseSharedCosts(int i)
    {
        var w = _p.Workload;
        lock (_sharedCosts)
            foreach (var shape in _sharedCosts.Keys.ToList())
                if (Enumerable.Range(i + 1, w.Layers.Count - i - 1).All(k => Zoo.ShapeKey(w.Layers[k]) != shape))
                    _sharedCosts.Remove(shape);
    }

    /// <summary>
    /// The reports of one shape's template candidates under one set of shared loops, by the candidate's place in
    /// <see cref="FusionMapspace.Candidates"/>'s order (the same for every layer of the shape), each costed once in the names
    /// of the layer that costed it and read by another layer with the tensors renamed by position (the cost model sees roles,
    /// dimensions and the architecture, never names; test <c>TemplateCostsSharedBySameShapeLayersAreEachLayersOwn</c>).
    /// </summary>
    private sealed class SharedCandidateCosts
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<int, (Einsum From, CostReport? Report)> _reports = new();

        /// <summary>Candidate <paramref name="index"/> of <paramref name="e"/> with its report (none when invalid), costed by <paramref name="cost"/> when no layer has yet.</summary>
        public IEnumerable<(Mapping Mapping, CostReport Report)> Get(int index, Einsum e, Mapping candidate, Func<IEnumerable<(Mapping, CostReport)>> cost)
        {
            var (from, report) = _reports.GetOrAdd(index, _ => (e, cost().Select(x => x.Item2).FirstOrDefault()));
            if (report is null) return [];
            return [(candidate, ReferenceEquals(from, e) ? report : Renamed(report, from, e))];
        }
    }

    /// <summary>A report of one Einsum as the report of another of the same shape: its tensors renamed by position.</summary>
    internal static CostReport Renamed(CostReport r, Einsum from, Einsum to)
    {
        var rename = from.Tensors.Zip(to.Tensors).ToDictionary(x => x.First.Id, x => x.Second.Id);
        return r with
        {
            Tensors = r.Tensors.Select(t => t with { Tensor = rename[t.Tensor] }).ToList(),
            Network = r.Network.Select(t => t with { Tensor = rename[t.Tensor] }).ToList(),
            Fanouts = r.Fanouts.Select(t => t with { Tensor = rename[t.Tensor] }).ToList(),
        };
    }

    /// <summary>True when a mapping's tiles fit every level beside the words reserved there for held tensors that live across it.</summary>
    private bool FitsBeside(CostReport report, IReadOnlyDictionary<int, long> reserved)
        => reserved.All(x => _p.Arch.Levels[x.Key].Capacity is not { } cap || report.Levels[x.Key].WordsHeld + x.Value <= cap);

    /// <summary>
    /// A valid template mapping with its report under the problem's convention; none when it is invalid. Under the
    /// Timeloop convention, each order of each axis's spatial loops (Timeloop's counts depend on it), and none that
    /// Timeloop's mapping format cannot say.
    /// </summary>
    private IEnumerable<(Mapping Mapping, CostReport Report)> Costed(Einsum e, Mapping m)
    {
        if (_p.Convention == CostConvention.Default)
        {
            if (CostModel.TryEvaluate(e, _p.Arch, m, out var report, out _)) yield return (m, report!);
            yield break;
        }
        if (ValidityChecker.Check(e, _p.Arch, m).Count > 0 || Formulation.Specs.TimeloopMapping.Inexpressible(m, _p.Arch) is not null) yield break;
        foreach (var ordered in Mapspace.SpatialOrders(m)) yield return (ordered, Conventions.Evaluate(_p.Convention, e, _p.Arch, ordered));
    }

    private static int IndexOfTensor(Einsum e, TensorId id)
    {
        for (int k = 0; k < e.Tensors.Count; k++) if (e.Tensors[k].Id == id) return k;
        return -1;
    }

    /// <summary>A cached class moved to another layer of the same shape: tensors renamed by position in every keep set, keys and held tensors taken from the job.</summary>
    private static JobResult Renamed(JobResult r, Einsum from, Einsum to, int layer, Job job)
    {
        var rename = from.Tensors.Zip(to.Tensors).ToDictionary(x => x.First.Id, x => x.Second.Id);
        var kept = r.Kept.Select(p => p with
        {
            Mapping = new Mapping(p.Mapping.Levels.Select(l => new LevelMapping(l.Temporal, l.Spatial, l.Keep.Select(t => rename[t])))),
            InKey = job.InKey,
            OutKey = job.OutKey,
            Layer = layer,
            OnChip = job.Held.Select(h => h.Tensor).ToList(),
            Levels = FusionPartial.LevelsOf(job.Held),
        }).ToList();
        return r with { Kept = kept };
    }

    private static string SharedText(IReadOnlyList<TemporalLoop> shared) => string.Join(",", shared);
}
