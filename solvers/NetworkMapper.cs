using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// How far the whole-network search looks: the longest segment, how many chains of segments the
/// dynamic programme keeps and solves in full, the most passes a pipelined segment may split its batch
/// into, and whether candidate segments are estimated (fast) or solved in full (for tests and small cases).
/// </summary>
public sealed record NetworkOptions(int MaxSegment = 8, int Chains = 8, int MaxPasses = 8, bool FullEstimates = false)
{
    /// <summary>The defaults.</summary>
    public static NetworkOptions Default { get; } = new();
}

/// <summary>A whole workload on a multi-node architecture, what to minimize, and how far to look.</summary>
public sealed record NetworkProblem(Workload Workload, Architecture Arch, Objective Objective, NetworkOptions? Options = null)
{
    /// <summary>The objective's terms, compared in order (a lexicographic objective such as latency then energy); the first is <see cref="Objective"/>.</summary>
    public IReadOnlyList<Objective> Terms { get; init; } = [Objective];
}

/// <summary>
/// The whole-network answer: the best plan found and its cost, the baseline (every layer alone on all
/// nodes) and its cost, and what the search did (<c>Estimated</c> is the chosen plan's objective as the
/// estimates put it, before it was solved in full). A heuristic, so the status is Feasible.
/// </summary>
public sealed record NetworkResult(
    SolveStatus Status,
    NetworkPlan Plan,
    NetworkCostReport Cost,
    NetworkPlan Baseline,
    NetworkCostReport BaselineCost,
    TimeSpan Elapsed,
    int Candidates,
    int ChainsSolved,
    int Descents,
    bool Stopped,
    double Estimated);

/// <summary>
/// Maps a whole network on a multi-node design (docs/network.md): every layer on the whole array first
/// (the baseline, and the reports the estimates scale), then every candidate segment (up to
/// <see cref="NetworkOptions.MaxSegment"/> layers, sequential or pipelined with each pass count) is
/// estimated, a dynamic programme over the layers keeps the best <see cref="NetworkOptions.Chains"/>
/// chains of segments, and only those are solved in full: every layer of every segment mapped by the
/// descent on its region. The cheapest fully solved chain wins; the baseline is always one of them.
/// </summary>
public sealed class NetworkMapper
{
    private readonly NetworkProblem _problem;
    private readonly NetworkOptions _options;
    private readonly Workload _w;
    private readonly Architecture _arch;
    private readonly NodeRegion _whole;
    private readonly Action<string>? _progress;
    private readonly Dictionary<(int Rows, int Cols), Architecture> _archs = [];
    private readonly Dictionary<string, (Einsum Layer, Mapping Mapping)> _solved = [];
    private readonly Dictionary<(int Layer, int Passes), Einsum> _perPass = [];
    private readonly Dictionary<string, SegmentSolution> _segments = [];
    private readonly Dictionary<string, NetworkSegmentCost> _estimates = [];
    private readonly List<NetworkSegment>[] _candidates;
    private Stopwatch _clock = new();
    private SearchLimits _limits = SearchLimits.None;
    private int _descents;

    private sealed record SegmentSolution(NetworkSegmentCost Cost, IReadOnlyList<NetworkLayer> Layers);

    /// <summary>A chain of segments covering layers 0..End-1, as a list linked backwards, with its summed energy and latency.</summary>
    private sealed record Chain(Chain? Previous, NetworkSegment? Segment, double Energy, double Cycles)
    {
        public static Chain Empty { get; } = new(null, null, 0, 0);

        public IReadOnlyList<NetworkSegment> Segments()
        {
            var list = new List<NetworkSegment>();
            for (var c = this; c.Segment is not null; c = c.Previous!) list.Add(c.Segment);
            list.Reverse();
            return list;
        }

        public string Key => string.Join(" | ", Segments().Select(s => s.Key));
    }

    /// <summary>Prepares the search; throws <see cref="ArgumentException"/> when the architecture has no node mesh.</summary>
    public NetworkMapper(NetworkProblem problem, Action<string>? progress = null)
    {
        _problem = problem;
        _options = problem.Options ?? NetworkOptions.Default;
        Check.AtLeast(_options.MaxSegment, 1, nameof(problem), "The longest segment");
        Check.AtLeast(_options.Chains, 1, nameof(problem), "The number of chains solved in full");
        Check.AtLeast(_options.MaxPasses, 1, nameof(problem), "The most passes");
        _w = problem.Workload;
        _arch = problem.Arch;
        if (NodeArray.Mesh(_arch) is null)
            throw new ArgumentException($"Whole-network mapping needs a multi-node architecture (a mesh fanout below its outermost level, like multinode), but {_arch.Name}'s outermost fanout is {_arch.Levels[0].Fanout.X} x {_arch.Levels[0].Fanout.Y} {_arch.Levels[0].Fanout.Topology.ToString().ToLowerInvariant()}.", nameof(problem));
        _whole = NodeArray.Whole(_arch);
        _progress = progress;
        _candidates = new List<NetworkSegment>[_w.Layers.Count + 1];
    }

    /// <summary>The search: baseline, estimates, dynamic programme, full solve of the kept chains.</summary>
    public NetworkResult Solve(SearchLimits limits)
    {
        Start(limits);
        var baseline = Baseline();
        int n = _w.Layers.Count;
        var chains = new List<Chain>[n + 1];
        chains[0] = [Chain.Empty];
        int candidates = 0;
        for (int end = 1; end <= n && !Stopped(); end++)
        {
            var options = new List<Chain>();
            foreach (var s in Candidates(end))
            {
                candidates++;
                var est = Estimate(s);
                foreach (var prev in chains[s.First])
                    options.Add(new Chain(prev, s, prev.Energy + est.Energy, prev.Cycles + est.Cycles));
            }
            // Stable: among equal values the chain generated first (shorter last segment, sequential first) stays.
            chains[end] = Ranked(options).Take(_options.Chains).ToList();
        }
        Report($"{candidates} candidate segments {(_options.FullEstimates ? "solved" : "estimated")}; {(chains[n] is null ? "stopped before the last layer" : $"{chains[n].Count} chains kept")} [{_clock.Elapsed.TotalSeconds:0.0} s]");
        var kept = chains[n] ?? [];
        var solved = new List<(Chain Chain, NetworkCostReport Cost)> { (baseline, FullCost(baseline)) };
        var seen = new HashSet<string> { baseline.Key };
        foreach (var chain in kept)
        {
            if (Stopped()) break;
            if (!seen.Add(chain.Key)) continue;
            Report($"solving chain {solved.Count}/{kept.Count} in full ({chain.Segments().Count} segments, estimated {_problem.Objective.ToString().ToLowerInvariant()} {FusionCost.Combine(_problem.Objective, chain.Energy, chain.Cycles):G4}) [{_clock.Elapsed.TotalSeconds:0.0} s]");
            var cost = FullCost(chain);
            if (Stopped()) break;
            solved.Add((chain, cost));
        }
        return Result(solved, baseline, candidates);
    }

    /// <summary>The chains by their estimates, term after term of the objective (stable: among equal values the chain generated first).</summary>
    private IOrderedEnumerable<Chain> Ranked(IEnumerable<Chain> chains)
    {
        var terms = _problem.Terms;
        var ranked = chains.OrderBy(c => FusionCost.Combine(terms[0], c.Energy, c.Cycles));
        foreach (var t in terms.Skip(1)) ranked = ranked.ThenBy(c => FusionCost.Combine(t, c.Energy, c.Cycles));
        return ranked;
    }

    /// <summary>
    /// The reference for small cases: every chain of candidate segments solved in full, the cheapest
    /// kept (ties to the first enumerated). Exponential in the number of layers.
    /// </summary>
    public NetworkResult BruteForce(SearchLimits limits)
    {
        Start(limits);
        var baseline = Baseline();
        var solved = new List<(Chain Chain, NetworkCostReport Cost)> { (baseline, FullCost(baseline)) };
        foreach (var chain in Enumerate(_w.Layers.Count))
        {
            if (Stopped()) break;
            solved.Add((chain, FullCost(chain)));
        }
        return Result(solved, baseline, Enumerable.Range(1, _w.Layers.Count).Sum(e => Candidates(e).Count));
    }

    private void Start(SearchLimits limits)
    {
        _limits = limits;
        _clock = Stopwatch.StartNew();
    }

    private bool Stopped() => _limits.Cancel.IsCancellationRequested || (_limits.TimeLimit is { } t && _clock.Elapsed > t);

    private void Report(string message) => _progress?.Invoke($"network: {message}");

    private IEnumerable<Chain> Enumerate(int end)
    {
        if (end == 0) { yield return Chain.Empty; yield break; }
        foreach (var s in Candidates(end))
            foreach (var prefix in Enumerate(s.First))
                yield return new Chain(prefix, s, 0, 0);
    }

    /// <summary>Every layer alone on the whole array, one after another: mapped first, since the estimates scale these reports.</summary>
    private Chain Baseline()
    {
        var chain = Chain.Empty;
        for (int i = 0; i < _w.Layers.Count; i++)
        {
            var s = new NetworkSegment(i, i, SegmentLayout.Sequential, 1, [_whole]);
            var cost = SolveSegment(s, complete: true).Cost;
            chain = new Chain(chain, s, chain.Energy + cost.Energy, chain.Cycles + cost.Cycles);
        }
        Report($"{_w.Layers.Count} layers mapped on all {_whole.Nodes} nodes ({_descents} descents) [{_clock.Elapsed.TotalSeconds:0.0} s]");
        return chain;
    }

    /// <summary>The candidate segments that end with layer <paramref name="end"/>-1: each length up to the limit, sequential, and pipelined with each pass count.</summary>
    public IReadOnlyList<NetworkSegment> CandidatesEndingAt(int end) => Candidates(end);

    private List<NetworkSegment> Candidates(int end)
    {
        if (_candidates[end] is { } known) return known;
        var list = new List<NetworkSegment>();
        for (int length = 1; length <= _options.MaxSegment && length <= end; length++)
        {
            int first = end - length, last = end - 1;
            list.Add(new NetworkSegment(first, last, SegmentLayout.Sequential, 1, Enumerable.Repeat(_whole, length).ToList()));
            if (length < 2) continue;
            // Regions: horizontal strips with heights in proportion to the layers' MACs (balanced stages).
            var strips = NodeArray.Strips(_whole, Enumerable.Range(first, length).Select(i => (double)_w.Layers[i].Macs).ToList());
            if (strips is null) continue;
            foreach (var passes in NetworkModel.PassOptions(_w, first, last, _options.MaxPasses))
                list.Add(new NetworkSegment(first, last, SegmentLayout.Pipelined, passes, strips));
        }
        return _candidates[end] = list;
    }

    /// <summary>
    /// A segment's estimated cost: the segment model on each layer's whole-array report scaled to one
    /// pass on its region (docs/network.md, "Estimates"); exact for a sequential segment. In full with
    /// <see cref="NetworkOptions.FullEstimates"/>.
    /// </summary>
    private NetworkSegmentCost Estimate(NetworkSegment s)
    {
        if (_options.FullEstimates || s.Layout == SegmentLayout.Sequential) return SolveSegment(s).Cost;
        if (_estimates.TryGetValue(s.Key, out var known)) return known;
        var layers = new List<(Einsum, CostReport)>();
        for (int i = s.First; i <= s.Last; i++)
        {
            var full = SolveLayer(_w.Layers[i], _whole).Report;
            int nodesUsed = (int)Math.Max(1, full.Levels[1].InstancesUsed);
            double slower = Math.Max(1.0, (double)nodesUsed / s.RegionOf(i).Nodes);
            layers.Add((PerPass(i, s.Passes), Scale(full, _w.Layers[i], s.Passes, slower)));
        }
        return _estimates[s.Key] = NetworkModel.Segment(_w, _arch, s, layers);
    }

    /// <summary>
    /// A whole-array report scaled to one of <paramref name="passes"/> passes on a region: every count and
    /// energy divided by the passes except DRAM's weight traffic (fetched again each pass), compute
    /// cycles also times how many times fewer nodes the region has than the report used.
    /// </summary>
    private CostReport Scale(CostReport r, Einsum layer, int passes, double slower)
    {
        if (passes == 1 && slower == 1) return r;
        var weights = layer.Tensors.Where(t => t.Role == TensorRole.Weights).Select(t => t.Id).ToHashSet();
        double Share(int level, TensorId t) => level == 0 && weights.Contains(t) ? 1 : 1.0 / passes;
        long Part(long count, double share) => (long)Math.Ceiling(count * share);
        var tensors = r.Tensors.Select(t =>
        {
            double f = Share(t.LevelIndex, t.Tensor);
            return t with { Fills = Part(t.Fills, f), Reads = Part(t.Reads, f), Updates = Part(t.Updates, f), Energy = t.Energy * f };
        }).ToList();
        var network = r.Network.Select(x => x with { Words = Part(x.Words, Share(x.LevelIndex, x.Tensor)), Energy = x.Energy * Share(x.LevelIndex, x.Tensor) }).ToList();
        long compute = (long)Math.Ceiling(r.ComputeCycles * slower / passes);
        return r with
        {
            Tensors = tensors,
            Network = network,
            ComputeCycles = compute,
            Cycles = FusionCost.Cycles(_arch, compute, tensors),
            MacEnergy = r.MacEnergy / passes,
            StorageEnergy = tensors.Sum(t => t.Energy),
            NetworkEnergy = network.Sum(x => x.Energy),
        };
    }

    private NetworkCostReport FullCost(Chain chain)
        => new(chain.Segments().Select(s => SolveSegment(s).Cost).ToList());

    /// <summary>Every layer of the segment mapped by the descent on its region, and the segment's cost.</summary>
    private SegmentSolution SolveSegment(NetworkSegment s, bool complete = false)
    {
        if (_segments.TryGetValue(s.Key, out var known)) return known;
        var layers = new List<NetworkLayer>();
        var reports = new List<(Einsum, CostReport)>();
        for (int i = s.First; i <= s.Last; i++)
        {
            var e = PerPass(i, s.Passes);
            var region = s.RegionOf(i);
            var (mapping, report) = SolveLayer(e, region, complete);
            layers.Add(new NetworkLayer(e, ArchFor(region), mapping));
            reports.Add((e, report));
        }
        return _segments[s.Key] = new SegmentSolution(NetworkModel.Segment(_w, _arch, s, reports), layers);
    }

    /// <summary>
    /// One layer on a region by the descent; a layer of the same shape on a region of the same size
    /// reuses the answer (tensors renamed, re-costed by the model).
    /// </summary>
    /// <remarks>
    /// With <paramref name="complete"/> (the baseline) the first descent ignores the time limit and interruptions, so that
    /// there is always a whole plan to return; otherwise a descent stopped by the limit is cut short, and
    /// the chain it belongs to is dropped.
    /// </remarks>
    private (Mapping Mapping, CostReport Report) SolveLayer(Einsum e, NodeRegion region, bool complete = false)
    {
        var arch = ArchFor(region);
        var key = $"{Zoo.ShapeKey(e)}@{region.Rows}x{region.Cols}";
        if (_solved.TryGetValue(key, out var hit))
        {
            var mapping = ReferenceEquals(hit.Layer, e) ? hit.Mapping : hit.Mapping.RenameTensors(hit.Layer, e);
            return (mapping, CostModel.Evaluate(e, arch, mapping));
        }
        // The greedy descent can land better for one objective when steered by another, so it runs
        // for each objective (the network's first) and the best under the network's objective (its terms in order) is kept.
        (Mapping Mapping, CostReport Report)? best = null;
        var found = new List<(Mapping Mapping, CostReport Report)>();
        foreach (var objective in new[] { _problem.Objective }.Concat(Enum.GetValues<Objective>().Where(o => o != _problem.Objective)))
        {
            var remaining = _limits.TimeLimit is { } t ? t - _clock.Elapsed : (TimeSpan?)null;
            if (best is not null && remaining is { } over && over <= TimeSpan.Zero) break;
            if (best is null && complete) remaining = null;
            if (remaining is { } left && left < TimeSpan.FromMilliseconds(1)) remaining = TimeSpan.FromMilliseconds(1);
            // The baseline's first descent per layer also outlives an interruption (Ctrl-C, SIGTERM): it is what makes a whole plan.
            var cancel = best is null && complete ? CancellationToken.None : _limits.Cancel;
            var r = new Descent(new MapProblem(e, arch, objective)).Solve(new SearchLimits(remaining, cancel, _limits.Threads));
            _descents++;
            if (r.Mapping is null || r.Report is null)
            {
                if (best is not null) break; // stopped (time limit, interruption) before it had one: keep the first objective's
                throw new InvalidOperationException($"The descent found no mapping for layer {e.Name} on {arch.Name}.");
            }
            found.Add((r.Mapping, r.Report));
            best = Objectives.Least(found, _problem.Terms, (x, o) => x.Report.Objective(o));
        }
        _solved[key] = (e, best!.Value.Mapping);
        return best.Value;
    }

    private Einsum PerPass(int layer, int passes)
    {
        if (!_perPass.TryGetValue((layer, passes), out var e))
            _perPass[(layer, passes)] = e = NetworkModel.PerPass(_w.Layers[layer], passes);
        return e;
    }

    private Architecture ArchFor(NodeRegion region)
    {
        if (!_archs.TryGetValue((region.Rows, region.Cols), out var a))
            _archs[(region.Rows, region.Cols)] = a = NodeArray.ForRegion(_arch, new NodeRegion(0, 0, region.Rows, region.Cols));
        return a;
    }

    private NetworkPlan Plan(Chain chain)
    {
        var segments = chain.Segments();
        return new NetworkPlan(segments, segments.SelectMany(s => SolveSegment(s).Layers).ToList());
    }

    private NetworkResult Result(List<(Chain Chain, NetworkCostReport Cost)> solved, Chain baseline, int candidates)
    {
        // The cheapest (the objective's terms in order); ties go to the first solved (the baseline, then the chains in estimate order).
        var best = Objectives.Least(solved, _problem.Terms, (x, o) => x.Cost.Objective(o));
        var stopped = Stopped();
        Report($"{solved.Count} chains solved in full, {_descents} descents{(stopped ? "; stopped by the time limit" : "")} [{_clock.Elapsed.TotalSeconds:0.0} s]");
        return new NetworkResult(SolveStatus.Feasible, Plan(best.Chain), best.Cost, Plan(baseline), solved[0].Cost,
            _clock.Elapsed, candidates, solved.Count, _descents, stopped, FusionCost.Combine(_problem.Objective, best.Chain.Energy, best.Chain.Cycles));
    }
}
