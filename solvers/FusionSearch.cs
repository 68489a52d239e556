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
public sealed record FusionProblem(Workload Workload, Architecture Arch, Objective Objective, int MaxFusedLoops = 1, bool ReuseSameShapes = true, bool TemplateOnly = false)
{
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
    /// each class, docs/fusion.md): for energy alone, unless <see cref="TemplateOnly"/> asks for the per-layer
    /// template. Latency, EDP and lexicographic lists search the template.
    /// </summary>
    public bool FullMapspace => Objective == Objective.Energy && Terms.Count == 1 && Convention == CostConvention.Default && !TemplateOnly;

    /// <summary>The mapspace an OPTIMAL answer is proven over, in words.</summary>
    public string SpaceDescription => FullMapspace
        ? "the full fused mapspace of docs/fusion.md: every layer's mapping from the whole single-layer mapspace of docs/mapspace.md, fused or not"
        : "the fused mapspace with each layer's mapping from the per-layer template of docs/fusion.md, not the whole single-layer mapspace" +
          (Convention == CostConvention.Default ? "" : $", each layer counted by the {Conventions.Names[(int)Convention]} convention");

    /// <summary>Checks the numbers a user gives.</summary>
    public FusionProblem Validated()
        => MaxFusedLoops is < 0 or > 4
            ? throw new ArgumentOutOfRangeException(nameof(MaxFusedLoops), MaxFusedLoops, "--max-fused-loops must be between 0 and 4.")
            : this;
}

/// <summary>What the search did for one layer: partial mappings evaluated, valid, kept after pruning, and the frontier after the join.</summary>
public sealed record FusionLayerStats(string Layer, long Evaluated, long Valid, long Kept, long Frontier, int Classes);

/// <summary>
/// One partial mapping of one layer: its mapping, the key of the on-chip intermediate it takes in and
/// gives out (null = DRAM), its shared loops and its cost with fusion's removals.
/// </summary>
public sealed record FusionPartial(int Layer, int Order, Mapping Mapping, int SharedCount, string? InKey, string? OutKey, double Energy, long Cycles, IReadOnlyList<long> Held);

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
        bool Late() => deadline is { } d && sw.Elapsed > d;
        bool Stop() => limits.Cancel.IsCancellationRequested || Late();
        _classLimits = () => limits with { TimeLimit = deadline is { } d ? TimeSpan.FromTicks(Math.Max(1, (d - sw.Elapsed).Ticks)) : null, Progress = null };
        if (_p.FullMapspace) return SolveFull(limits, sw, Late, Stop);
        // The unfused mapping (seconds at most on the zoo's networks) is finished even after an interruption, so
        // Ctrl-C or SIGTERM always has a FEASIBLE answer to give; only the time limit cuts it short.
        limits.Progress?.Phase("the best unfused mapping");
        var unfused = Join(fuse: false, Late, out _, out _);
        if (unfused is null)
            return new FusionResult(Late() ? SolveStatus.Unknown : SolveStatus.Infeasible, null, null, null, null, null, sw.Elapsed, [], [],
                Late() ? "stopped by the time limit before any mapping was complete"
                    : $"layer {_deadEnd} has no valid mapping in the per-layer template of docs/fusion.md (at most one own DRAM loop; its tiles do not fit), so the fused mapspace is empty");
        var (uMap, uRep) = Recheck(unfused);
        limits.Progress?.Phase("partial mappings and the join");
        var fused = Join(fuse: true, Stop, out var stats, out var survivors);
        if (fused is null)
            return new FusionResult(SolveStatus.Feasible, uMap, uRep, uRep.Objective(_p.Objective), uMap, uRep, sw.Elapsed, stats, survivors,
                "stopped before the fused search finished; the answer is the best unfused mapping");
        var (fMap, fRep) = Recheck(fused);
        double best = fRep.Objective(_p.Objective);
        return new FusionResult(SolveStatus.Optimal, fMap, fRep, best, uMap, uRep, sw.Elapsed, stats, survivors) { Bound = best, UnfusedProven = true };
    }

    /// <summary>True when a lower bound reaches a value (within the searches' tie margin): the value is then proven the least.</summary>
    private static bool Meets(double bound, double value) => bound >= value * (1 - 1e-9);

    private Func<SearchLimits> _classLimits = () => SearchLimits.None;

    /// <summary>Every fused mapping of the template mapspace, checked and costed one by one: the reference for tests (small cases only).</summary>
    public (FusedMapping? Mapping, double Best, long Count) BruteForce()
        => Enumerate((e, shared, input, output) => FusionMapspace.Candidates(e, _p.Arch, shared)
            .SelectMany(m => _p.Convention == CostConvention.Default ? [m]
                : Formulation.Specs.TimeloopMapping.Inexpressible(m, _p.Arch) is null ? Mapspace.SpatialOrders(m) : [])
            .Where(m => FusionMapspace.Allows(e, m, shared, input, output)).ToList());

    /// <summary>
    /// The reference for the full mapspace (energy; tests only, tiny cases): every partition into chain groups
    /// and every shared-loop choice of every group, each layer's mapping the least-energy one of its class found
    /// by plain enumeration of the class's whole constrained single-layer mapspace (<see cref="TilingSearch"/>
    /// without pruning), each whole fused mapping checked by <see cref="FusionChecker"/> and costed by
    /// <see cref="FusionCost"/>. Within one choice of groups and shared loops a layer's fused energy depends on its
    /// own mapping alone and the total is a sum, so the least per layer gives the least fused mapping of that choice.
    /// </summary>
    public (FusedMapping? Mapping, double Best, long Count) BruteForceFull()
    {
        var classBest = new Dictionary<string, List<Mapping>>();
        return Enumerate((e, shared, input, output) =>
        {
            var key = $"{e.Name}|{SharedText(shared)}|{input}|{output}";
            if (!classBest.TryGetValue(key, out var best))
            {
                var problem = new MapProblem(e, _p.Arch, Objective.Energy, FusionMapspace.ClassConstraints(e, shared, input, output));
                classBest[key] = best = new TilingSearch(problem, prune: false).Solve(SearchLimits.None).Mapping is { } m ? [m] : [];
            }
            return best;
        });
    }

    /// <summary>
    /// Every partition into chain groups, every shared-loop choice of every group, and every combination of the
    /// layers' mappings that <paramref name="members"/> gives for each layer's class (its shared loops and on-chip
    /// intermediates with their levels), each checked and costed as a whole fused mapping; the least.
    /// </summary>
    private (FusedMapping? Mapping, double Best, long Count) Enumerate(
        Func<Einsum, IReadOnlyList<TemporalLoop>, (TensorId, int)?, (TensorId, int)?, List<Mapping>> members)
    {
        var w = _p.Workload;
        var valid = new List<(FusedMapping Mapping, FusedCostReport Report)>();
        long count = 0;
        foreach (var groups in Partitions(w, 0))
            foreach (var combo in Product(groups.Select(GroupChoices).ToList()))
            {
                var fm = new FusedMapping(groups.Select((g, k) => new FusedGroup(g.First, g.Last, combo[k].Shared)), combo.SelectMany(c => c.Mappings));
                count++;
                if (FusionChecker.Check(w, _p.Arch, fm).Count > 0) continue;
                valid.Add((fm, FusionCost.Evaluate(w, _p.Arch, fm, _p.Convention)));
            }
        if (valid.Count == 0) return (null, double.PositiveInfinity, count);
        // The least under the problem's terms, in order (one term: the least objective; ties: the first enumerated).
        var best = Objectives.Least(valid, _p.Terms, (x, o) => x.Report.Objective(o));
        return (best.Mapping, best.Report.Objective(_p.Objective), count);

        IEnumerable<(int Shared, List<Mapping> Mappings)> GroupChoices(FusedGroup g)
        {
            var options = g.Count == 1 ? [Array.Empty<TemporalLoop>()] : FusionMapspace.SharedLoopOptions(w.Layers[g.First], _p.MaxFusedLoops);
            foreach (var shared in options)
            {
                var perLayer = new List<List<Mapping>>();
                IReadOnlyList<TemporalLoop>? s = shared;
                for (int i = g.First; i <= g.Last && s is not null; i++)
                {
                    if (i > g.First) s = FusionMapspace.Carry(w.Layers[i - 1], w.Layers[i], w.Layers[i - 1].Output.Id, s);
                    if (s is null) break;
                    (TensorId, int)? input = i > g.First ? (w.Layers[i - 1].Output.Id, FusionRules.IntermediateLevel(w, _p.Arch, i - 1)!.Value) : null;
                    (TensorId, int)? output = i < g.Last ? (w.Layers[i].Output.Id, FusionRules.IntermediateLevel(w, _p.Arch, i)!.Value) : null;
                    perLayer.Add(members(w.Layers[i], s, input, output));
                }
                if (perLayer.Count != g.Count) continue;
                foreach (var ms in Product(perLayer))
                    yield return (shared.Count, ms);
            }
        }
    }

    /// <summary>Every partition of the layers from <paramref name="start"/> on into groups of consecutive layers joined by chain edges that can fuse.</summary>
    private IEnumerable<List<FusedGroup>> Partitions(Workload w, int start)
    {
        if (start == w.Layers.Count) { yield return []; yield break; }
        for (int last = start; last < w.Layers.Count; last++)
        {
            if (last > start && FusionRules.IntermediateLevel(w, _p.Arch, last - 1) is null) break;
            foreach (var rest in Partitions(w, last + 1))
                yield return [new FusedGroup(start, last, 0), .. rest];
        }
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
        var v = FusionChecker.Check(_p.Workload, _p.Arch, fm);
        if (v.Count > 0) throw new InvalidOperationException($"The fused search returned an invalid mapping ({v[0].Message}); this is a bug.");
        return (fm, FusionCost.Evaluate(_p.Workload, _p.Arch, fm, _p.Convention));
    }

    private sealed record Node(double Energy, long Cycles, Node? Prev, FusionPartial Partial);

    /// <summary>The join of docs/fusion.md over the template's partial mappings; null when stopped or when nothing is valid.</summary>
    private FusedMapping? Join(bool fuse, Func<bool> stop, out List<FusionLayerStats> stats, out List<IReadOnlyList<FusionPartial>> survivors)
    {
        var w = _p.Workload;
        stats = [];
        survivors = [];
        var frontier = new SortedDictionary<string, List<Node>>(StringComparer.Ordinal) { [DramKey] = [] };
        for (int i = 0; i < w.Layers.Count; i++)
        {
            if (stop()) return null;
            List<string?> keys = i == 0 ? [null] : frontier.Keys.Select(k => k == DramKey ? null : k).ToList();
            var (kept, evaluated, valid) = Partials(i, keys, fuse);
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
            foreach (var k in next.Keys.ToList())
            {
                next[k] = Pareto(next[k], n => n.Energy, n => n.Cycles);
                if (next[k].Count == 0 || (i == w.Layers.Count - 1 && k != DramKey)) next.Remove(k);
            }
            frontier = next;
            if (frontier.Count == 0) _deadEnd ??= w.Layers[i].Name;
            stats.Add(new FusionLayerStats(w.Layers[i].Name, evaluated, valid, kept.Count, frontier.Values.Sum(b => (long)b.Count), kept.Select(p => (p.InKey, p.OutKey)).Distinct().Count()));
        }
        if (!frontier.TryGetValue(DramKey, out var done) || done.Count == 0) return null;
        return Decode(Objectives.Least(done, _p.Terms, (nd, o) => FusionCost.Combine(o, nd.Energy, nd.Cycles)));
    }

    private const string DramKey = "\u0000dram";

    private FusedMapping Decode(Node last)
    {
        var chain = new List<FusionPartial>();
        for (var n = last; n is not null; n = n.Prev) chain.Add(n.Partial);
        chain.Reverse();
        return Assemble(chain);
    }

    /// <summary>The fused mapping made of one partial mapping per layer (groups follow the keys).</summary>
    public static FusedMapping Assemble(IReadOnlyList<FusionPartial> chain)
    {
        var groups = new List<FusedGroup>();
        int first = 0;
        for (int i = 0; i < chain.Count; i++)
            if (chain[i].OutKey is null)
            {
                groups.Add(new FusedGroup(first, i, i > first ? chain[i].SharedCount : 0));
                first = i + 1;
            }
        return new FusedMapping(groups, chain.Select(p => p.Mapping));
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

    /// <summary>One class of partial mappings of a layer: the key it takes in (null = DRAM), its shared loops, and whether its output stays on chip.</summary>
    private sealed record Job(string? InKey, IReadOnlyList<TemporalLoop> Shared, bool OutOnChip);

    /// <summary>The survivors of one template class, what it evaluated and how many were valid; cached for layers of the same shape.</summary>
    private sealed record JobResult(List<FusionPartial> Kept, long Evaluated, long Valid);

    /// <summary>
    /// The classes of layer i for the given incoming keys (null = the input comes from DRAM): for each, no
    /// shared loops and the output to DRAM, or (when the output may fuse) the output on chip under each
    /// set of shared loops a group may start with or carry on; classes whose intermediates cannot fit their
    /// level under the shared loops (no valid member) are left out.
    /// </summary>
    private List<Job> Jobs(int i, IEnumerable<string?> inKeys, bool fuse, out int? inLevel, out int? outLevel)
    {
        var w = _p.Workload;
        var e = w.Layers[i];
        inLevel = i > 0 ? FusionRules.IntermediateLevel(w, _p.Arch, i - 1) : null;
        outLevel = fuse ? FusionRules.IntermediateLevel(w, _p.Arch, i) : null;
        var jobs = new List<Job>();
        foreach (var inKey in inKeys)
        {
            if (inKey is null)
            {
                jobs.Add(new Job(null, [], false));
                if (outLevel is not null)
                    foreach (var s in FusionMapspace.SharedLoopOptions(e, _p.MaxFusedLoops)) jobs.Add(new Job(null, s, true));
                continue;
            }
            var producer = w.Layers[i - 1];
            var loops = inKey.Length == 0 ? [] : inKey.Split(',').Select(x => x.Split('x'))
                .Select(x => new TemporalLoop(producer.Output.Dims[int.Parse(x[0])].Terms[0].Rank, int.Parse(x[1]))).ToList();
            var carried = FusionMapspace.Carry(producer, e, producer.Output.Id, loops);
            if (carried is null) continue;
            jobs.Add(new Job(inKey, carried, false));
            if (outLevel is not null && carried.All(l => OutputDim(e, l.Rank) >= 0)) jobs.Add(new Job(inKey, carried, true));
        }
        var (a, b) = (inLevel, outLevel);
        return jobs.Where(j => Fits(i, j, a, b)).ToList();
    }

    /// <summary>The partial mappings of layer i for the given incoming keys (null = the input comes from DRAM), pruned within each class.</summary>
    private (List<FusionPartial>, long Evaluated, long Valid) Partials(int i, IReadOnlyList<string?> inKeys, bool fuse)
    {
        var jobs = Jobs(i, inKeys, fuse, out var inLevel, out var outLevel);
        // Evaluate each distinct set of shared loops once (in parallel); every class with those loops takes its members from it.
        var bySharing = jobs.GroupBy(j => SharedText(j.Shared)).Select(g => g.ToList()).ToList();
        var results = new JobResult[bySharing.Count][];
        Parallel.For(0, bySharing.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            k => results[k] = Evaluate(i, bySharing[k], inLevel, outLevel));
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

    /// <summary>The key of an on-chip output under shared loops: each loop as the output's dimension and its factor.</summary>
    private static string OutKey(Einsum e, IReadOnlyList<TemporalLoop> shared) => string.Join(",", shared.Select(l => $"{OutputDim(e, l.Rank)}x{l.Factor}"));

    private bool Fits(int i, Job j, int? inLevel, int? outLevel)
    {
        var w = _p.Workload;
        var e = w.Layers[i];
        long Under(TensorSpec t) => t.Footprint(r => e.Bound(r) / j.Shared.Where(l => l.Rank == r).Aggregate(1L, (a, l) => checked(a * l.Factor)));
        long inWords = j.InKey is null ? 0 : Under(e.FindTensor(w.Layers[i - 1].Output.Id)!);
        long outWords = j.OutOnChip ? Under(e.Output) : 0;
        long? Cap(int? level) => level is { } l ? _p.Arch.Levels[l].Capacity : null;
        if (j.InKey is not null && Cap(inLevel) is { } ci && inWords > ci) return false;
        if (j.OutOnChip && Cap(outLevel) is { } co && outWords > co) return false;
        if (j.InKey is not null && j.OutOnChip && inLevel == outLevel && Cap(inLevel) is { } c && inWords + outWords > c) return false;
        return true;
    }

    /// <summary>
    /// The classes of layer i under one set of shared loops: every template mapping checked and costed once,
    /// then placed in each class and pruned there. Layers of the same shape whose intermediates sit at the
    /// same tensor positions share the work: their survivors differ only in tensor names, which are renamed.
    /// </summary>
    private JobResult[] Evaluate(int i, List<Job> jobs, int? inLevel, int? outLevel)
    {
        var e = _p.Workload.Layers[i];
        var results = new JobResult[jobs.Count];
        var missing = new List<int>();
        for (int k = 0; k < jobs.Count; k++)
        {
            (JobResult Result, Einsum From)? hit;
            lock (_cache) hit = _p.ReuseSameShapes && _cache.TryGetValue(ShapeKeyOf(i, jobs[k], inLevel, outLevel), out var c) ? c : null;
            if (hit is { } h) results[k] = Renamed(h.Result, h.From, e, i, jobs[k]);
            else missing.Add(k);
        }
        if (missing.Count == 0) return results;
        var fresh = TemplateClasses(i, missing.Select(k => jobs[k]).ToList(), inLevel, outLevel);
        for (int x = 0; x < missing.Count; x++)
        {
            results[missing[x]] = fresh[x];
            lock (_cache) _cache.TryAdd(ShapeKeyOf(i, jobs[missing[x]], inLevel, outLevel), (fresh[x], e));
        }
        return results;
    }

    /// <summary>The on-chip intermediates of a class of layer i, each with its fusion level.</summary>
    private ((TensorId, int)? Input, (TensorId, int)? Output) OnChip(int i, Job job, int? inLevel, int? outLevel)
        => (job.InKey is null ? null : (_p.Workload.Layers[i - 1].Output.Id, inLevel!.Value),
            job.OutOnChip ? (_p.Workload.Layers[i].Output.Id, outLevel!.Value) : null);

    /// <summary>A member of a class: its mapping costed by the reference model with fusion's removals (docs/fusion.md).</summary>
    private FusionPartial Member(int i, Job job, Mapping m, CostReport report, int order, int? inLevel, int? outLevel, out FusedLayerCost cost)
    {
        var e = _p.Workload.Layers[i];
        var (input, output) = OnChip(i, job, inLevel, outLevel);
        int level = input is { } x ? x.Item2 : output is { } y ? y.Item2 : 0;
        cost = FusionCost.Adjust(e.Name, _p.Arch, report, input?.Item1, output?.Item1, level);
        return new FusionPartial(i, order, m, job.Shared.Count, job.InKey, job.OutOnChip ? OutKey(e, job.Shared) : null, cost.Energy, cost.Cycles,
            report.Levels.Select(l => l.WordsHeld).ToList());
    }

    /// <summary>Every template mapping of layer i under the jobs' (common) shared loops, checked and costed once, then placed in each class that allows it and pruned there.</summary>
    private JobResult[] TemplateClasses(int i, List<Job> jobs, int? inLevel, int? outLevel)
    {
        var e = _p.Workload.Layers[i];
        var shared = jobs[0].Shared;
        var constraints = jobs.Select(j => { var (input, output) = OnChip(i, j, inLevel, outLevel); return FusionMapspace.ClassConstraints(e, j.Shared, input, output); }).ToList();
        var accepted = jobs.Select(_ => new List<FusionPartial>()).ToList();
        long evaluated = 0;
        var valid = new long[jobs.Count];
        int order = 0;
        foreach (var candidate in FusionMapspace.Candidates(e, _p.Arch, shared))
        {
            evaluated++;
            foreach (var (m, report) in Costed(e, candidate))
                for (int k = 0; k < jobs.Count; k++)
                {
                    if (!ConstraintCheck.Allows(constraints[k], m)) continue;
                    valid[k]++;
                    accepted[k].Add(Member(i, jobs[k], m, report, order, inLevel, outLevel, out _));
                }
            order++;
        }
        return jobs.Select((_, k) => new JobResult(Pareto(accepted[k], p => p.Energy, p => p.Cycles), evaluated, valid[k])).ToArray();
    }

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

    /// <summary>A cached class moved to another layer of the same shape: tensors renamed by position in every keep set, keys taken from the job.</summary>
    private static JobResult Renamed(JobResult r, Einsum from, Einsum to, int layer, Job job)
    {
        var rename = from.Tensors.Zip(to.Tensors).ToDictionary(x => x.First.Id, x => x.Second.Id);
        var kept = r.Kept.Select(p => p with
        {
            Mapping = new Mapping(p.Mapping.Levels.Select(l => new LevelMapping(l.Temporal, l.Spatial, l.Keep.Select(t => rename[t])))),
            InKey = job.InKey,
            Layer = layer,
        }).ToList();
        return r with { Kept = kept };
    }

    private static int OutputDim(Einsum e, RankId rank)
    {
        var dims = e.Output.Dims;
        for (int d = 0; d < dims.Count; d++) if (dims[d].Terms[0].Rank == rank) return d;
        return -1;
    }

    private static string SharedText(IReadOnlyList<TemporalLoop> shared) => string.Join(",", shared);
}
