using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// Exact search of the perfect-factorization mapspace (docs/mapspace.md): spatial plans first, then for energy
/// and EDP innermost level first (each level's order picked at the leaves), for latency and capped problems
/// outermost level first: at each level choose what it keeps, its temporal factors (and, outer-first, their
/// order). With <c>prune</c> it is a branch and bound: the cost terms that the decided outer
/// levels already fix are summed into an admissible lower bound, and a node whose bound exceeds the
/// best complete mapping is dropped. Without it, it is plain enumeration (the brute-force ground truth).
/// </summary>
public sealed class TilingSearch
{
    private readonly MapProblem _p;
    private readonly SearchModel _model;
    private readonly bool _prune;
    private readonly string _name;

    /// <summary>
    /// Settles ties by the mappings' compact text (the least, ordinal) instead of the search's order: every node whose
    /// bound is within the tie margin of the incumbent is searched, so a search that finishes returns the least text
    /// among all the mappings within the margin of its optimum, whatever its order (which the plans' bounds, and so an
    /// EDP search's energy floor, its ceiling and the threads' timing, can change) and whatever it met first. Slower where
    /// ties abound (latency's least-cycle mappings); for an answer that must not depend on how it was reached (the
    /// co-design's reported mappings, docs/codesign.md, "Which of equal mappings a point reports").
    /// </summary>
    public bool CanonicalTies { get; init; }

    /// <summary>Creates a search; <paramref name="prune"/> false enumerates everything.</summary>
    /// <remarks>
    /// <paramref name="seed"/> false starts the branch and bound from no incumbent: the regression tests use
    /// it, since a seed that is already optimal is returned when the search meets nothing better and would
    /// hide a search that wrongly prunes every optimum.
    /// </remarks>
    /// <param name="incumbent">A valid mapping within the problem's caps to start from instead of the seeding heuristics
    /// (a lexicographic objective's previous term's answer); it only sets the pruning threshold.</param>
    /// <param name="ceiling">A value known from outside to be no better than needed (a fused search's class that
    /// cannot improve on the best fused mapping above it, docs/fusion.md): every node whose bound reaches it is
    /// pruned. When the search finishes with nothing below it, the answer is not Optimal: it is the incumbent (if
    /// any) as Feasible, or Unknown, with the ceiling as the proven bound.</param>
    public TilingSearch(MapProblem problem, bool prune, bool seed = true, Mapping? incumbent = null, double ceiling = double.PositiveInfinity)
    {
        _ceiling = ceiling;
        _seed = seed;
        _incumbent = incumbent;
        _p = problem;
        // Leaves are costed by the reference model under another convention or a window capability. The array model's
        // bounds stay lower bounds: a same-stride window only adds words, and where children may share or forward a
        // window's words (neighbour forwarding, the Timeloop convention) the model counts only what they cannot
        // (SearchProblem.SharedWindows; docs/mapspace.md, "Shared windows").
        // Without a sliding window the Timeloop convention's counts are the array model's own (SearchProblem.TimeloopExact):
        // the energy search runs as under the default model, and the answer is re-costed by the convention's model.
        bool timeloopExact = new SearchProblem(problem, deferOrders: false).TimeloopExact;
        // With a sliding window, energy under the Timeloop convention takes the energy search too, the window tensor bounded
        // by an order-free floor and every leaf's order classes costed by the emulation (docs/mapspace.md, "Window layers
        // under the Timeloop convention").
        // So does energy within a cap on cycles alone (the second term of latency,energy) when the window tensor is floored: every
        // leaf's order classes at every level are then costed by the emulation, each against the cap (LeafValue), and the bounds,
        // which know no cap, stay lower bounds (the cap only removes mappings; docs/mapspace.md, "Window layers within a cycle cap").
        bool windowsCapped = problem.Convention == CostConvention.Timeloop && !timeloopExact && problem.Objective == Objective.Energy
            && problem.Caps is { Cycles: not null, Energy: null, Edp: null } && problem.Weighted is null && prune
            && new SearchProblem(problem with { Caps = null }, deferOrders: true).AnyFloored;
        bool timeloopWindows = problem.Convention == CostConvention.Timeloop && !timeloopExact && problem.Objective == Objective.Energy && (problem.Caps is null || windowsCapped);
        _byConvention = problem.Convention != CostConvention.Default || problem.Arch.HasWindowCapabilities;
        // The enumeration (the ground truth) costs every leaf by the convention's model whatever the layer.
        _byReference = _byConvention && !(timeloopExact && prune);
        // A global constraint on counts or cycles couples the levels' orders (as a cost cap does), so the search then branches on
        // orders; so does a same-stride window, whose counts depend on which loop steps next across levels.
        _global = problem.Constraints is { Global.Count: > 0 } c ? c : null;
        bool deferOrders = prune && _global is not { OrderDependent: true }
            && (timeloopExact || timeloopWindows || (!problem.Arch.HasWindowCapabilities && problem.Convention == CostConvention.Default));
        // EDP without caps is searched by the energy search, its bounds times each plan's least cycles (docs/mapspace.md,
        // "EDP: the energy search times the plan's cycles").
        _edpInner = deferOrders && problem.Objective == Objective.Edp && problem.Caps is null;
        // A proved bound on every mapping's energy (an energy search's on the same problem) raises each EDP plan's energy bound.
        _energyFloor = _edpInner && double.IsFinite(problem.EnergyFloor) ? Math.Max(0, problem.EnergyFloor) : 0;
        // Energy under a cap on cycles alone (the second term of latency,energy) is searched by the energy search too: its
        // bounds hold (the cap only removes mappings), plans whose least cycles are above the cap are dropped, and each
        // leaf's orders are searched for the least energy within the cap (docs/mapspace.md, "Energy within a cycle cap").
        _cyclesCapped = deferOrders && problem.Objective == Objective.Energy && problem.Caps is { Cycles: not null, Energy: null, Edp: null } && !windowsCapped;
        // Energy plus lambda times a fused member's cycles (a class of the fused EDP search, docs/fusion.md): the energy search
        // too, each bound plus lambda times the plan's least (fused) cycles, each leaf's orders searched as for EDP.
        // A fused class searched for latency (docs/fusion.md, "Latency over the full mapspace"): the latency search itself, whose
        // array model takes the fused cycles from the problem's held tensors; every answer valued by those cycles.
        bool fusedLatency = problem.Weighted is not null && problem.Objective == Objective.Latency;
        _weighted = fusedLatency ? null : problem.Weighted;
        _fusedCycles = fusedLatency ? problem.Weighted : null;
        // A fused class's least energy within a cap on its fused cycles (lambda 0 and a cycle cap: the second term of a fused
        // latency,energy, docs/fusion.md "Latency then energy over the full mapspace"): the capped energy search, its cycles the fused ones.
        if (problem.Weighted is { } weightedBy && !(deferOrders && (problem.Caps is null || (_cyclesCapped && weightedBy.Lambda == 0)) && _global is null
                && problem.Convention == CostConvention.Default && !problem.Arch.HasWindowCapabilities
                && (problem.Objective == Objective.Energy ? weightedBy.Lambda >= 0 && double.IsFinite(weightedBy.Lambda) : fusedLatency && weightedBy.Lambda == 0)))
            throw new ArgumentException("A weighted problem (energy + lambda x fused cycles, or a fused class's latency with lambda 0) is searched under the default model, without global constraints, with a finite lambda >= 0, and without caps but a cap on cycles with lambda 0.", nameof(problem));
        _model = new SearchModel(_edpInner ? problem with { Objective = Objective.Energy } : _cyclesCapped || (windowsCapped && deferOrders) ? problem with { Caps = null } : problem, deferOrders);
        // Within a cycle cap on a window layer: a plan whose least cycles (the latency search's bound, valid under shared windows)
        // are above the cap holds no allowed mapping (the energy search's latency twin is not made under shared windows).
        _capCycles = windowsCapped && deferOrders ? new SearchModel(problem with { Objective = Objective.Latency, Caps = null }) : null;
        _prune = prune;
        _name = prune ? (problem.Convention != CostConvention.Default ? $"exact ({Conventions.Names[(int)problem.Convention]} convention)" : "exact") : problem.Convention != CostConvention.Default ? $"enumeration ({Conventions.Names[(int)problem.Convention]} convention)"
            : problem.Arch.HasForwarding ? "enumeration (neighbour forwarding)" : "brute";
        _levelsCount = problem.Arch.Levels.Count;
        _twins = Twins();
        // EDP searched inner-first: a node's cycles are also at least what its bandwidth-limited ports must move (PortCycles).
        _ports = _edpInner && _prune && !_model.Problem.SharedWindows ? PortCycles.Of(problem with { Objective = Objective.Energy }) : null;
    }

    private readonly int _levelsCount;
    // The latency model whose plan bounds drop the plans above a cycle cap, for energy within the cap on a window layer under
    // the Timeloop convention searched inner-first (null otherwise).
    private readonly SearchModel? _capCycles;
    private readonly bool _edpInner;
    private readonly double _energyFloor;
    private readonly bool _cyclesCapped;
    private readonly WeightedCycles? _weighted;
    // A fused class's latency (MapProblem.Weighted with Objective.Latency): its objective is the member's fused cycles.
    private readonly WeightedCycles? _fusedCycles;
    // True when leaves are costed by the reference model (another convention, or a window capability the search's array model lacks).
    private readonly bool _byReference;
    // True when the problem's counts are not the default model's, so seeds are valued by the reference model under them.
    private readonly bool _byConvention;
    private readonly PlanTwins? _twins;
    private readonly PortCycles? _ports;

    /// <summary>The lower bound before any decision, on the problem's objective (for EDP searched inner-first: the energy model's times the latency twin's).</summary>
    private double RootBound() => _edpInner ? FusionCost.Combine(Objective.Edp, Math.Max(_model.RootBound(), _energyFloor), _twins!.Latency.RootBound())
        : _weighted is { } w ? _model.RootBound() + w.Lambda * _twins!.Latency.RootBound() : _model.RootBound();

    /// <summary>The least (fused, for a weighted problem) cycles of every mapping, without a search: the latency twin's root bound.</summary>
    public double CycleFloor() => _twins is { } t ? t.Latency.RootBound() : CycleFloor(_p);

    /// <summary>The least cycles of every mapping of a problem (its caps and objective aside), without a search: the latency search's root bound.</summary>
    public static double CycleFloor(MapProblem problem) => new SearchModel(problem with { Objective = Objective.Latency, Caps = null }).RootBound();

    /// <summary>The least energy of every mapping of a problem (its caps and objective aside), without a search: the energy search's root bound.</summary>
    public static double EnergyFloor(MapProblem problem) => new SearchModel(problem with { Objective = Objective.Energy, Caps = null, EnergyFloor = 0 }).RootBound();

    /// <summary>
    /// The least (fused, for a weighted problem) cycles of every mapping, spatial plan by plan: the least over the plans of the
    /// latency search's bound at each plan's root (its exact compute cycles, and the bandwidth cycles of the traffic every
    /// mapping of the plan has), the floor the latency search itself proves against; at least <see cref="CycleFloor"/>, which
    /// it returns when stopped. Infinite when there is no plan.
    /// </summary>
    public double PlanCycleFloor(SearchLimits limits)
    {
        var latency = _twins?.Latency ?? new SearchModel(_p with { Objective = Objective.Latency, Caps = null });
        double root = latency.RootBound(), least = double.PositiveInfinity;
        var sw = Stopwatch.StartNew();
        int k = 0;
        foreach (var plan in latency.SpatialPlans())
        {
            if ((k++ & 255) == 0 && (limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t))) return root;
            least = Math.Min(least, latency.LowerBound(State.PlanRoot(latency, plan), 0, keepDecidedAt: 0));
        }
        return Math.Max(root, least);
    }

    /// <summary>
    /// For tests: the least over the spatial plans of the cycles a weighted search (a fused class) scales its plans' energy
    /// bounds by: each plan's latency bound, with the held tensors' port cycles (<see cref="SearchModel.HeldPortCycles"/>).
    /// </summary>
    internal double WeightedPlanCycleFloor()
    {
        double held = _model.HeldPortCycles(), least = double.PositiveInfinity;
        foreach (var plan in _model.SpatialPlans())
            if (PlanAdmits(plan)) least = Math.Min(least, WeightedCycles(_twins!, plan, held));
        return least;
    }

    /// <summary>
    /// The cycles a weighted search (a fused class) scales a spatial plan's energy bound by: the plan's latency bound, and at
    /// least the held tensors' port cycles <paramref name="held"/> (f17w, <see cref="SearchModel.HeldPortCycles"/>).
    /// </summary>
    private static double WeightedCycles(PlanTwins twins, SpatialPlan plan, double held) => Math.Max(twins.Cycles(plan), held);

    /// <summary>True when a cost report is within the problem's caps, its cycles a fused class's for a weighted problem.</summary>
    private bool WithinCaps(CostReport r) => _p.Caps is not { } caps
        || (caps.AllowEnergy(r.Energy) && caps.Allow(r.Energy, _p.Weighted is { } w ? w.Cycles(_p.Arch, r) : r.Cycles));

    /// <summary>The problem's objective of a cost report: its own, or for a weighted problem energy + lambda x the fused cycles.</summary>
    private double ValueOf(CostReport r) => _weighted is { } w ? w.Value(_p.Arch, r) : _fusedCycles is { } f ? f.Cycles(_p.Arch, r) : r.Objective(_p.Objective);

    /// <summary>
    /// A plan's bound from an energy bound and the plan's least cycles <paramref name="floor"/> (1 when unknown): their product
    /// for EDP, energy + lambda x floor for a weighted problem, else the energy bound itself; <see cref="PlanEnergy"/> inverts it.
    /// </summary>
    /// <remarks>For EDP the energy bound is taken as at least <see cref="MapProblem.EnergyFloor"/>, a proved bound on every mapping's energy.</remarks>
    private double PlanValue(double energy, double floor) => _weighted is { } w ? energy + w.Lambda * floor : Math.Max(energy, _energyFloor) * floor;

    /// <summary>The energy bound below which a plan's node may hold a value below <paramref name="value"/> (<see cref="PlanValue"/> inverted).</summary>
    private double PlanEnergy(double value, double floor) => _weighted is { } w ? value - w.Lambda * floor : value / floor;
    private readonly double _ceiling;
    private readonly bool _seed;
    private readonly MappingConstraints? _global;
    // The sets of global constraints (bit i: Global[i]) that complete valid mappings broke, for the explanation of INFEASIBLE.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, bool> _brokenSets = new();

    /// <summary>
    /// The leaf filter of the global constraints (null when there are none): a complete mapping is offered only when it
    /// satisfies every one (<see cref="ConstraintCheck.Broken"/> over its report under the problem's convention). The bounds
    /// stay valid, since they are lower bounds over the unconstrained superset.
    /// </summary>
    private Func<Mapping, bool>? Admit => _visit is { } visit ? mapping => { lock (visit) visit(mapping); return false; } : _global is not { } g ? null : mapping =>
    {
        var broken = ConstraintCheck.Broken(g, _p.Arch, mapping, () => Conventions.Evaluate(_p.Convention, _p.Layer, _p.Arch, mapping));
        if (broken.Count == 0) return true;
        ulong set = broken.Aggregate(0UL, (a, i) => a | (i < 64 ? 1UL << i : 0));
        _brokenSets.TryAdd(set, true);
        return false;
    };

    private Action<Mapping>? _visit;

    /// <summary>
    /// Every complete mapping the enumeration (<c>prune: false</c>) reaches, each given to <paramref name="visit"/> (one call at
    /// a time): the whole mapspace, every tile within its level's capacity, for brute force in tests. Nothing is answered.
    /// </summary>
    public void Visit(Action<Mapping> visit, SearchLimits limits)
    {
        if (_prune) throw new InvalidOperationException("Visit enumerates the whole mapspace: create the search with prune: false.");
        _visit = visit;
        try { Solve(limits); }
        finally { _visit = null; }
    }

    /// <summary>
    /// False when a spatial plan breaks a global constraint that the spatial factors alone decide (min-utilization,
    /// min-fanout-used): every mapping of the plan breaks it, so the plan is dropped before its bound is taken. The
    /// constraints it breaks are recorded for the explanation of INFEASIBLE (a subset of what its mappings break).
    /// </summary>
    private bool PlanAdmits(SpatialPlan plan)
    {
        if (_global is not { } g || !g.Global.Any(x => x is MinUtilization or MinFanoutUsed)) return true;
        // The plan as a mapping with its spatial loops only: what the spatial kinds of ConstraintCheck.Holds read.
        var spatial = new Mapping(Enumerable.Range(0, _levelsCount).Select(d => new LevelMapping([],
            Enumerable.Range(0, _model.Ranks).SelectMany(r => new[] { (r, f: plan.X[d][r], Axis.X), (r, f: plan.Y[d][r], Axis.Y) })
                .Where(x => x.f > 1).Select(x => new SpatialLoop(_model.RankIds[x.r], x.f, x.Item3)), [])));
        ulong set = 0;
        for (int i = 0; i < g.Global.Count; i++)
            if (g.Global[i] is MinUtilization or MinFanoutUsed
                && !ConstraintCheck.Holds(g.Global[i], _p.Arch, spatial, () => throw new InvalidOperationException("The spatial kinds need no cost report.")))
                set |= i < 64 ? 1UL << i : 0;
        if (set == 0) return true;
        _brokenSets.TryAdd(set, true);
        _partialSets = true;
        return false;
    }

    // True once a plan or a subtree was dropped before its leaves (PlanAdmits, TilesAdmit): its recorded set is a subset
    // of what its mappings break.
    private volatile bool _partialSets;

    /// <summary>
    /// The tile multiples of the branch and bound, checked as soon as a level's tile extents are decided (outer-first:
    /// level d once the levels above it are; inner-first: once d and the levels below it are): a node whose extent at a
    /// constrained level is not a multiple is dropped with its subtree. The extents are the search's own state, equal to
    /// <see cref="Mapping.TileExtent"/> of every mapping below the node; the leaf filter still decides every leaf. Null
    /// for brute force (a plain enumeration) and without tile multiples.
    /// </summary>
    private Func<State, int, bool>? TilesAdmit()
    {
        if (!_prune || _global is not { } g) return null;
        var tiles = g.Global.Select((x, i) => (x, i)).Where(t => t.x is TileMultiple)
            .Select(t => (Tile: (TileMultiple)t.x, Index: t.i, Rank: Array.IndexOf(_model.RankIds, ((TileMultiple)t.x).Rank))).ToArray();
        if (tiles.Length == 0) return null;
        return (s, level) =>
        {
            ulong set = 0;
            foreach (var (tile, i, r) in tiles)
                if (tile.Level == level && s.Rem[level][r] % tile.Multiple != 0) set |= i < 64 ? 1UL << i : 0;
            if (set == 0) return true;
            _brokenSets.TryAdd(set, true);
            _partialSets = true;
            return false;
        };
    }

    /// <summary>True when a mapping satisfies the global constraints (always, without them).</summary>
    private bool Satisfies(Mapping m, CostReport r) => _global is not { } g || ConstraintCheck.Broken(g, _p.Arch, m, () => r).Count == 0;
    private readonly Mapping? _incumbent;

    /// <summary>
    /// Gives the branch and bound a good incumbent to prune with from the start: the best of a short
    /// random sampling run (fixed seed) improved by hill climbing, or the bottom-up descent's mapping when it
    /// is cheaper. It only sets the pruning threshold; the
    /// search still explores every mapping that could tie with it.
    /// </summary>
    private void SeedIncumbent(Shared shared, SearchLimits limits, Stopwatch sw)
    {
        if (_incumbent is not null || _p.Caps is not null)
        {
            // The heuristics know no caps, so a capped search starts from the mapping it is given (if any).
            if (_incumbent is null) return;
            if (SeedValue(_incumbent) is { } given) shared.Seed(_incumbent, given);
            return;
        }
        var budget = SeedBudget(limits);
        var safety = SafetyDeadline(limits, sw);
        // The heuristics cost by the reference model, a fused class's cycles unknown to them: they search the layer's own
        // problem, and their mappings are valued by this one's objective below.
        var heuristic = _p with { Weighted = null };
        Mapping? seed = null;
        double seedValue = double.PositiveInfinity;
        var donors = new List<Mapping>(); // every candidate, whose spatial plans the convention's climb may take (LocalSearch.Improve)
        // The bottom-up descent (milliseconds) usually lands far closer to the optimum than sampling does;
        // the two run side by side, and the descent's answer is kept unless sampling beats it.
        var sampling = Task.Run(() =>
        {
            var sample = new RandomSampler(heuristic, seed: 1, patience: 200, attemptsPerSample: 500).Solve(limits with { TimeLimit = budget });
            return sample.Mapping is null ? ((Mapping, double)?)null
                : LocalSearch.Improve(heuristic, sample.Mapping, safety, limits.Cancel, ClimbMoves(limits));
        });
        if (!limits.Cancel.IsCancellationRequested)
        {
            try
            {
                // The descent knows the level constraints only: its answer seeds the search when it satisfies the global ones.
                var descent = new Descent(heuristic with { Constraints = _p.Constraints?.LevelsOnly }).Solve(limits with { TimeLimit = budget });
                if (descent.Mapping is not null && descent.Best is { } d && Satisfies(descent.Mapping, descent.Report!))
                {
                    donors.Add(descent.Mapping);
                    if (!_byConvention && !_p.OneAxis && _p.Weighted is null) (seed, seedValue) = (descent.Mapping, d);
                    else if (Valued(descent.Mapping) is var (m, v)) (seed, seedValue) = (m, v);
                }
            }
            catch (InvalidOperationException)
            {
                // The descent found no valid starting point (tight constraints); the sampler may still.
            }
        }
        // Under shared windows (neighbour forwarding, the Timeloop convention) the bounds are weaker: the proved optimum of the
        // plain problem (default model, no capabilities; fast), valued under the problem's own counts, is a good incumbent.
        if (_model.Problem.SharedWindows && !limits.Cancel.IsCancellationRequested)
        {
            // A proof, usually fast; a quarter of the time limit (at most 30 s) so that a loaded machine still finishes it.
            var proof = TimeSpan.FromSeconds(Math.Min(30, (limits.TimeLimit?.TotalSeconds ?? 120) / 4));
            // Under the Timeloop convention its plans keep every rank on one axis, so that its answer is one the convention takes.
            var plainProblem = _p with { Arch = _p.Arch.WithoutWindowCapabilities(), Convention = CostConvention.Default, OneAxis = _p.Convention == CostConvention.Timeloop };
            var plain = new TilingSearch(plainProblem, prune: true).Solve(limits with { TimeLimit = proof });
            var m = plain.Mapping;
            // Under the Timeloop convention only mappings its format can say are answers: a plain optimum that splits a rank
            // over both axes is replaced by a tie that does not, when one is found quickly.
            if (m is not null && _p.Convention == CostConvention.Timeloop && Formulation.Specs.TimeloopMapping.Inexpressible(m, _p.Arch) is not null)
                m = OneAxisTie.Find(plainProblem, m, q => new TilingSearch(q, prune: true).Solve(limits with { TimeLimit = proof / 2 })).Mapping ?? m;
            if (m is not null) donors.Add(m);
            if (m is not null && Valued(m) is var (mv, v) && v < seedValue) (seed, seedValue) = (mv, v);
        }
        if (sampling.Result is var (improved, sampled))
        {
            donors.Add(improved);
            if (!_byConvention && !_p.OneAxis && _p.Weighted is null) { if (sampled < seedValue) (seed, seedValue) = (improved, sampled); }
            else if (Valued(improved) is var (mi, vi) && vi < seedValue) (seed, seedValue) = (mi, vi);
        }
        // The heuristics value mappings by the default model; the threshold must be the problem's own value of the seed.
        // Under other counts the seed is climbed by them (the order of spatial loops and their axes among the moves, which
        // Timeloop's neighbour forwarding depends on): conv2_1_b under the Timeloop convention from 5.14034E+08 to 5.08455E+08.
        // Under another convention than the default, the climb may also take the candidates' spatial plans as a whole.
        if (_byConvention && seed is not null && Allowed(seed) is not null && !limits.Cancel.IsCancellationRequested)
            (seed, seedValue) = LocalSearch.Improve(_p, seed, Allowed, safety, limits.Cancel,
                _p.Convention != CostConvention.Default ? donors : null, ClimbMoves(limits));
        if (seed is not null && double.IsFinite(seedValue)) shared.Seed(seed, seedValue);
    }

    /// <summary>The time the sampling and the descent each get: a tenth of the limit, at most 2 s.</summary>
    private static TimeSpan SeedBudget(SearchLimits limits) => TimeSpan.FromSeconds(Math.Min(2, (limits.TimeLimit?.TotalSeconds ?? 20) / 10));

    /// <summary>
    /// The mappings each climb of the seeding may value (<see cref="LocalSearch.Improve"/>'s moves): 4,000 per second of
    /// <see cref="SeedBudget"/>, 8,000 from a 20-s limit up (a core values about 5,000 a second on ResNet-50's conv2_1_b under
    /// the Timeloop convention). A fixed count, not a clock, so the seed is the same however loaded the machine: under load
    /// a climb stopped by the clock missed conv2_1_b's best mapping about one run in three (issue 14).
    /// </summary>
    internal static int ClimbMoves(SearchLimits limits) => (int)(4000 * SeedBudget(limits).TotalSeconds);

    /// <summary>
    /// When a climb must stop whatever its moves (never, without a limit): after a quarter of the limit, and when the search's
    /// own time is up. A safety net for layers whose every costing takes milliseconds; conv2_1_b's 8,000 moves under the
    /// Timeloop convention take about 1.5 s of CPU.
    /// </summary>
    private static DateTime SafetyDeadline(SearchLimits limits, Stopwatch sw)
        => limits.TimeLimit is { } t ? DateTime.UtcNow + TimeSpan.FromTicks(Math.Min(t.Ticks / 4, Math.Max(0, (t - sw.Elapsed).Ticks))) : DateTime.MaxValue;

    /// <summary>A mapping's value as a seed (<see cref="SeedValue"/>), or null when it breaks the constraints.</summary>
    private double? Allowed(Mapping m) => _p.Constraints is { } c && !ConstraintCheck.Allows(c, m) ? null : SeedValue(m);

    /// <summary>
    /// Under another convention, climbs the seed again with the spatial plans searched first and those of the least bounds as
    /// donors (<see cref="LocalSearch.Improve"/>'s re-splits): the seed's own candidates rarely hold the plan of a better
    /// mapping (conv3_1_b under the Timeloop convention: 5.99131E+08, the search's plan 174 holding 5.91325E+08).
    /// </summary>
    private void ClimbIntoPlans(Shared shared, SearchLimits limits, Stopwatch sw, List<SpatialPlan> plans, int[] order, List<double> rootBounds)
    {
        if (shared.SeedMapping is not { } seed || limits.Cancel.IsCancellationRequested) return;
        const int Donors = 8;
        var picked = order.Take(Donors).Concat(Enumerable.Range(0, plans.Count).OrderBy(i => rootBounds[i]).ThenBy(i => i).Take(Donors)).Distinct();
        var donors = picked.Select(i => new Mapping(Enumerable.Range(0, _levelsCount).Select(d => new LevelMapping([],
            Enumerable.Range(0, _model.Ranks).SelectMany(r => new[] { (r, f: plans[i].X[d][r], Axis.X), (r, f: plans[i].Y[d][r], Axis.Y) })
                .Where(x => x.f > 1).Select(x => new SpatialLoop(_model.RankIds[x.r], x.f, x.Item3)), [])))).ToList();
        if (Allowed(seed) is null) return;
        var (climbed, value) = LocalSearch.Improve(_p, seed, Allowed, SafetyDeadline(limits, sw), limits.Cancel, donors, ClimbMoves(limits));
        if (value < shared.SeedValue) shared.Seed(climbed, value);
    }

    /// <summary>True when only mappings Timeloop's format can say are answers (the Timeloop convention, or <see cref="MapProblem.OneAxis"/>).</summary>
    private bool OneAxisOnly => _p.Convention == CostConvention.Timeloop || _p.OneAxis;

    /// <summary>
    /// A heuristic's mapping as a seed under the problem's convention: itself, or under the Timeloop convention, when its
    /// format cannot say it (a rank over both axes), the best of its variants with each such rank moved onto one axis
    /// (<see cref="OneAxisTie.Fitted"/>: what no longer fits the fanout goes to the level's temporal loop) that is an allowed answer; with its value (<see cref="SeedValue"/>), or infinity.
    /// </summary>
    private (Mapping Mapping, double Value) Valued(Mapping m)
    {
        if (SeedValue(m) is { } v) return (m, v);
        var best = (Mapping: m, Value: double.PositiveInfinity);
        if (!OneAxisOnly) return best;
        foreach (var moved in OneAxisTie.Fitted(_p.Layer, _p.Arch, m))
            if (SeedValue(moved) is { } w && w < best.Value) best = (moved, w);
        return best;
    }

    /// <summary>
    /// A seed's objective under the problem's convention and capabilities, or null when it is not an allowed answer (not
    /// valid, above a cap, breaking a global constraint, or not expressible in Timeloop's format under its convention).
    /// </summary>
    private double? SeedValue(Mapping m)
    {
        if (!ValidityChecker.Check(_p.Layer, _p.Arch, m).Count.Equals(0)) return null;
        if (OneAxisOnly && Formulation.Specs.TimeloopMapping.Inexpressible(m, _p.Arch) is not null) return null;
        var report = Conventions.Evaluate(_p.Convention, _p.Layer, _p.Arch, m);
        if (!WithinCaps(report) || !Satisfies(m, report)) return null;
        return ValueOf(report);
    }

    /// <summary>Runs the search under the limits.</summary>
    // The nodes a search may explore before it stops as if its time were up (the quick unseeded run of Solve).
    private long _nodeLimit = long.MaxValue;
    /// <summary>The nodes the search may explore before it stops as if its time were up (tests of a stopped search's bound).</summary>
    internal long NodeLimit { init => _nodeLimit = value; }
    private const long QuickNodes = 1024;
    // The mappings the reference model may cost before the search stops as if its time were up (the quick run: each costing of
    // a large layer in every spatial order takes milliseconds, so 1,024 nodes of conv3_1_b under the Timeloop convention
    // took 2 s of CPU where the Timeloop fixtures' quick proofs take tens of milliseconds); counted, like the nodes, on one thread.
    private long _evaluationLimit = long.MaxValue;
    private const long QuickEvaluations = 256;
    // The spatial plans the search may list before it stops (the quick run): the Timeloop fixtures have 1 to 23; ResNet-50's
    // layers on eyeriss 24 (fc) and 43 to 633 (hundreds to thousands outer-first), whose listing and bounding took the
    // quick run 0.1 to 9 s under load (conv3_2_b's its whole 30-s limit at load 30) without proving any of them.
    private int _planLimit = int.MaxValue;
    private const int QuickPlans = 32;
    private long _evaluated; // the mappings LeafValue costed by the reference model

    public SolveResult Solve(SearchLimits limits)
    {
        try { return SolveWithin(limits); }
        finally { StopBoundsAt(null); }
    }

    /// <summary>
    /// Gives the search's stop check to the outer bound (<see cref="SearchModel.Stop"/>), its energy twin's included, so that
    /// a plan's outer bound, seconds long on the largest layers, ends soon after the clock runs out (a smaller bound, still
    /// valid); null when the search is over.
    /// </summary>
    private void StopBoundsAt(Func<bool>? stop)
    {
        _model.Stop = stop;
        if (_twins?.Energy is { } energy && energy != _model) energy.Stop = stop;
    }

    private SolveResult SolveWithin(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var deadline = limits.TimeLimit is { } t ? sw.Elapsed + t : (TimeSpan?)null;
        var contradictions = Infeasibility.Contradictions(_p);
        if (contradictions.Count > 0)
            return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, sw.Elapsed, 0, _name, string.Join(" ", contradictions));
        // A cost past double's range, even the least any mapping could have, is an input error, never an answer.
        if (_p.Convention == CostConvention.Default && _p.Caps is null && RootBound() is var floor && !double.IsFinite(floor))
            throw ArrayCostModel.BeyondDouble(floor);
        // Under another convention or a window capability the seeding (the heuristics and their climbs valued by that model, the
        // plain problem's proof) takes tenths of a second, more than the whole search of a small problem. A short unseeded run
        // first (at most QuickPlans spatial plans, QuickNodes nodes and QuickEvaluations leaves costed by the reference model, on
        // one thread: whether it finishes does not depend on the machine) returns at once when it proves the answer; a search
        // that finishes returns the same mapping seeded or not (Shared.Seed). Otherwise the seeded search starts afresh. The
        // quick run is the search itself (inner-first for energy), so what it proves is what the seeded search would return.
        if (_prune && _seed && _byConvention && _incumbent is null && _p.Caps is null && _nodeLimit == long.MaxValue)
        {
            var quick = new TilingSearch(_p, prune: true, seed: false, null, _ceiling)
                { _nodeLimit = QuickNodes, _evaluationLimit = QuickEvaluations, _planLimit = QuickPlans, CanonicalTies = CanonicalTies }
                .Solve(limits with { Threads = 1, Progress = null, TimeLimit = deadline is { } end ? end - sw.Elapsed : null });
            if (quick.Status is SolveStatus.Optimal or SolveStatus.Infeasible) return quick with { Elapsed = sw.Elapsed };
        }
        // The leaves of the inner-first search whose least-energy orders may not be the answer: EDP's, and energy's within a cycle cap.
        // (A capped weighted problem has lambda 0: its value is the energy within the cap.)
        Func<double, double, double>? leafOrders = _edpInner ? (e, c) => FusionCost.Combine(Objective.Edp, e, c)
            : _cyclesCapped ? (e, c) => _p.Caps!.Allow(e, c) ? e : double.PositiveInfinity
            : _weighted is { } weighted ? (e, c) => e + weighted.Lambda * c : null;
        // A stopped search takes the outer bounds of the plans it never reached before it reports (below); the tree's
        // deadline leaves them 5 % of the limit, at most 2 s.
        var reserve = _prune && _model.DeferOrders && limits.TimeLimit is { } whole ? TimeSpan.FromTicks(Math.Min(whole.Ticks / 20, TimeSpan.TicksPerSecond * 2)) : TimeSpan.Zero;
        var shared = new Shared(_model, _prune, sw, deadline - reserve, limits.Cancel, _byReference ? LeafValue : null, Admit, TilesAdmit(), leafOrders, PlanValue, PlanEnergy, _ports is { } ports ? ports.Bound : null) { NodeLimit = _nodeLimit, EvaluationLimit = _evaluationLimit, Evaluated = () => Interlocked.Read(ref _evaluated),
            CanonicalNames = CanonicalTies ? _p.Arch.Levels.Select(l => l.Name).ToList() : null };
        StopBoundsAt(shared.CheckStop);
        var progress = limits.Progress;
        bool[]? finishedSoFar = null; // for the display's bound: the plans still open
        double[]? openSoFar = null;
        progress?.Attach(() => new SearchSnapshot("", shared.Explored, shared.BestValue, DisplayBound()));
        double DisplayBound()
        {
            if (finishedSoFar is not { } done || openSoFar is not { } open) return 0;
            double b = shared.BestValue ?? double.PositiveInfinity;
            for (int i = 0; i < done.Length; i++) if (!done[i]) b = Math.Min(b, open[i]);
            return b;
        }
        progress?.Phase("seeding the incumbent");
        if (_prune && _seed) SeedIncumbent(shared, limits, sw);
        if (_prune && _ceiling < double.PositiveInfinity) shared.Cap(_ceiling);
        progress?.Phase("bounding the spatial plans");
        // The units of parallel work, each a subtree searched depth-first: for the branch and bound, one per
        // spatial plan (every level's spatial split, decided first so that the bounds know every
        // multicast and reduction); for brute force, one per choice of the first level. Listing them is
        // itself bounded by the time limit: if it stops early, the bound falls back to the root's.
        var roots = new List<Func<State>>();
        // Energy and EDP are searched inner-first (levels from the innermost outward); latency and capped searches outer-first.
        var rootDepth = !_prune ? 1 : _model.DeferOrders ? _levelsCount - 1 : 0;
        var rootBounds = new List<double>();
        var rootKeys = new List<double>(); // the order plans are searched in
        var rootScales = new List<double>(); // per plan, what its energy bounds are multiplied by: its least cycles for EDP searched inner-first, else 1
        var rootEnergies = new List<double>(); // per plan searched inner-first, its plain energy bound
        bool listed = true;
        var plans = new List<SpatialPlan>();
        if (_prune)
        {
            int listedPlans = 0;
            foreach (var plan in _model.SpatialPlans())
            {
                if ((listedPlans++ & 255) == 0 && shared.CheckStop()) { listed = false; break; }
                if (!PlanAdmits(plan)) continue;
                // The quick run stops before bounding a large layer's plans (ResNet-50's 3x3 layers on eyeriss have hundreds
                // to thousands), which would cost it more than the seeding and which its node budget does not prove.
                if (plans.Count == _planLimit)
                    return new SolveResult(SolveStatus.Unknown, null, null, null, RootBound(), sw.Elapsed, 0, _name, $"more than {_planLimit} spatial plans");
                roots.Add(() => State.PlanRoot(_model, plan));
                plans.Add(plan);
            }
            var twins = _twins;
            // The plans' bounds are independent, so the threads share them.
            var keys = new double[roots.Count];
            var bounds = new double[roots.Count];
            var scales = new double[roots.Count];
            var energies = new double[roots.Count];
            double any = RootBound(); // what every mapping costs at least: the bound of a plan not bounded before the limit
            double heldCycles = _weighted is not null ? _model.HeldPortCycles() : 0;
            Parallel.For(0, roots.Count, new ParallelOptions { MaxDegreeOfParallelism = limits.Threads > 0 ? limits.Threads : Environment.ProcessorCount }, i =>
            {
                if (((i & 1023) == 0 && shared.CheckStop()) || shared.Stopped)
                {
                    keys[i] = bounds[i] = energies[i] = any;
                    scales[i] = 1;
                    return;
                }
                // EDP searched inner-first: every mapping of the plan has at least its energy bound and at least its cycles.
                // Weighted: every mapping of the plan has at least its energy bound and at least its (fused) cycles.
                double scale = _weighted is not null ? WeightedCycles(twins!, plans[i], heldCycles) : _edpInner ? twins!.Cycles(plans[i]) : 1;
                if (_ports is { } ports) scale = Math.Max(scale, ports.Bound(roots[i](), _levelsCount));
                scales[i] = scale;
                double energy = energies[i] = _model.DeferOrders ? _model.InnerBound(roots[i](), _levelsCount) : double.NaN;
                double plain = _model.DeferOrders ? PlanValue(energy, scale) : _model.LowerBound(roots[i](), 0, keepDecidedAt: 0);
                keys[i] = plain; // the search order stays the plain bound's (see below)
                // Every loop above the register level as one level (microseconds a plan, against milliseconds for the
                // outer bound): on multinode it puts most plans of GPT-3's Q above the best mapping before any is searched.
                if (_model.DeferOrders && _model.RegisterOrders(roots[i](), energy, PlanEnergy(shared.Threshold, scale)) is var merged && merged > energy)
                {
                    energy = energies[i] = merged;
                    plain = PlanValue(energy, scale);
                }
                // Within a cycle cap, a plan whose least cycles are above it holds no allowed mapping.
                if (_cyclesCapped && !_p.Caps!.Allow(0, twins!.Cycles(plans[i]))) plain = double.PositiveInfinity;
                else if (_capCycles is { } latency && !_p.Caps!.Allow(0, new[] { plans[i] }.Concat(plans[i].Variants)
                             .Min(m => latency.LowerBound(State.PlanRoot(latency, m), 0, keepDecidedAt: 0)))) plain = double.PositiveInfinity;
                else if (twins is not null && !_edpInner && !_cyclesCapped && _weighted is null && !shared.CheckStop()) plain = Math.Max(plain, twins.Bound(plans[i], shared.CheckStop));
                bounds[i] = plain;
            });
            rootKeys.AddRange(keys);
            rootBounds.AddRange(bounds);
            rootScales.AddRange(scales);
            rootEnergies.AddRange(energies);
        }
        else
        {
            var rootState = new State(_model);
            foreach (var keep0 in _model.KeepOptions(0, rootState))
            {
                rootState.Keep[0] = keep0;
                foreach (var choice in _model.LevelChoices(0, rootState))
                {
                    if ((roots.Count & 255) == 0 && shared.CheckStop()) { listed = false; break; }
                    State Make()
                    {
                        var s = new State(_model);
                        s.Keep[0] = keep0;
                        s.Apply(0, choice);
                        return s;
                    }
                    roots.Add(Make);
                    rootBounds.Add(_levelsCount == 1 ? _model.Exact(Make()) : _model.LowerBound(Make(), 1, keepDecidedAt: 0));
                    rootKeys.Add(rootBounds[^1]);
                }
                if (!listed) break;
            }
        }
        // Plans are searched by their plain bound: the outer bound (which prunes plans and is what a stopped
        // search reports) ranks them by DRAM traffic alone, which measured worse at finding good mappings early.
        var order = Enumerable.Range(0, roots.Count).OrderBy(i => rootKeys[i]).ThenBy(i => i).ToArray();
        if (_prune && _seed && _p.Convention != CostConvention.Default && _p.Caps is null && plans.Count == roots.Count) ClimbIntoPlans(shared, limits, sw, plans, order, rootBounds);
        var finished = new bool[roots.Count];
        var open = rootBounds.ToArray(); // per root: the least bound of what it left unexplored
        (finishedSoFar, openSoFar) = (finished, open);
        // The least root bound bounds the whole mapspace (under every convention and capability: see the constructor);
        // an incumbent that meets it, the seed included, is optimal.
        // Latency only: least-cycle mappings tie by the thousand, and searching them all for the first in the tree's
        // order is what kept latency from ever finishing; stopping at the first one found proves the value, while the
        // tie returned may then depend on the seed and the threads (docs/mapspace.md). Energy and EDP keep the
        // deterministic answer.
        if (_prune && listed && roots.Count > 0 && _p.Objective == Objective.Latency && !CanonicalTies)
        {
            shared.SetFloor(rootBounds.Min());
            if (shared.SeedMapping is { } seedMapping && shared.SeedValue <= rootBounds.Min() * (1 + 1e-9)) shared.AdoptSeed(seedMapping);
        }
        progress?.Phase($"searching {roots.Count:N0} {(_prune ? "spatial plans" : "first-level choices")}");
        int threads = limits.Threads > 0 ? limits.Threads : Environment.ProcessorCount;
        var position = new int[roots.Count];
        for (int k = 0; k < order.Length; k++) position[order[k]] = k;
        var reached = new bool[roots.Count];
        var ahead = new double[roots.Count]; // a plan's outer bound taken ahead of its turn (NaN: not taken)
        Array.Fill(ahead, double.NaN);
        // A plan's outer bound, taken against the incumbent of the moment (the plain bound when it is larger).
        double RefinedRoot(int i) => Math.Max(rootBounds[i], PlanValue(_model.RefineBound(roots[i](), _levelsCount, rootEnergies[i], PlanEnergy(shared.Threshold, rootScales[i])), rootScales[i]));
        void Search(int i, int share)
        {
            if (shared.CheckStop()) return; // plans pruned at their root call no other check
            reached[i] = true;
            double[] path = [position[i]];
            if (shared.Prunable(rootBounds[i], path)) { finished[i] = true; return; }
            // A plan's outer bound (milliseconds each, and a multinode layer has 10^5 plans) is taken when the plan's turn
            // comes, against the incumbent of that moment: most plans are pruned by their plain bound by then. A plan not
            // reached keeps its plain bound, which is valid, until a stopped search raises it to its outer bound (below).
            if (_model.DeferOrders)
            {
                open[i] = rootBounds[i] = double.IsNaN(ahead[i]) ? RefinedRoot(i) : ahead[i];
                if (shared.Prunable(rootBounds[i], path)) { finished[i] = true; return; }
            }
            var frontier = new Frontier();
            if (_model.DeferOrders) shared.DescendInner(roots[i](), rootDepth, rootBounds[i], path, frontier, share, roots[i], scale: rootScales[i]);
            else shared.Descend(roots[i](), rootDepth, path);
            if (shared.Stopped && frontier.Min < double.PositiveInfinity) open[i] = Math.Max(rootBounds[i], frontier.Min);
            if (!shared.Stopped) finished[i] = true;
        }
        // Energy and EDP: one plan at a time, in order, its first level's subtrees shared by the threads; a few plans
        // hold most of the work, and one thread per plan left the other cores idle on them. Latency and capped
        // searches: one thread per plan.
        if (_model.DeferOrders)
        {
            // The plans' outer bounds are taken one plan at a time at their turn, while the descents below share the threads; on
            // multinode most plans reached are closed by that bound alone (VGG-16 conv1_2: 1,220 of 1,225), so the search
            // was one thread of milliseconds per plan. The outer bounds of the next plans the plain bound leaves open are taken
            // ahead by every thread, a batch at a time, against the incumbent of that moment (the threshold only falls, so
            // each is the value the plan's turn would take or one that prunes it as well).
            int batch = 16 * threads;
            if (_prune && listed) RootsFirst(batch);
            for (int at = 0; at < order.Length; at += batch)
            {
                int end = Math.Min(order.Length, at + batch);
                if (threads > 1 && !shared.CheckStop())
                    Parallel.For(at, end, new ParallelOptions { MaxDegreeOfParallelism = threads }, k =>
                    {
                        int i = order[k];
                        if (shared.CheckStop() || !double.IsNaN(ahead[i]) || shared.Prunable(rootBounds[i], [position[i]])) return;
                        ahead[i] = RefinedRoot(i);
                    });
                for (int k = at; k < end; k++) Search(order[k], threads);
            }
        }
        else Parallel.ForEach(order, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => Search(i, 1));

        // Before any descent, the outer bounds of the plans in the order of their plain bounds, a batch at a time on every
        // thread, while the next plain bound is below the least outer bound taken so far (and the incumbent), within half the
        // tree's time (multinode's layers have up to 5 x 10^5 plans): then every plan not taken has a plain bound at least the
        // least outer bound, and a stopped search
        // reports at least that (conv3_1_b under the Timeloop convention: the tree's first plans held every thread to the time
        // limit, and the 1.5 s left for the plans never reached raised a few, so it reported a plain bound 5 % lower). In a
        // search that finishes these plans' outer bounds are taken at their turn anyway (each plain bound is below the least
        // outer bound, so below the optimum, and no incumbent prunes it); here they are taken against the seeded incumbent.
        void RootsFirst(int batch)
        {
            var stop = deadline is { } last ? sw.Elapsed + (last - reserve - sw.Elapsed) / 2 : (TimeSpan?)null;
            double least = double.PositiveInfinity;
            for (int at = 0; at < order.Length && rootBounds[order[at]] < Math.Min(least, shared.Threshold); at += batch)
            {
                if (shared.CheckStop() || sw.Elapsed > stop) return;
                double below = least;
                int end = Math.Min(order.Length, at + batch);
                Parallel.For(at, end, new ParallelOptions { MaxDegreeOfParallelism = threads }, k =>
                {
                    int i = order[k];
                    if (rootBounds[i] >= below || sw.Elapsed > stop || shared.CheckStop() || shared.Prunable(rootBounds[i], [position[i]])) return;
                    ahead[i] = RefinedRoot(i);
                });
                for (int k = at; k < end; k++)
                {
                    int i = order[k];
                    if (double.IsNaN(ahead[i])) continue;
                    open[i] = rootBounds[i] = ahead[i];
                    least = Math.Min(least, ahead[i]);
                }
            }
        }

        // A stopped search reports the least bound of what it left open, and a plan it never reached holds only its plain
        // bound (conv2_1_b under the Timeloop convention at 60 s: 4.805E+08, where that plan's outer bound is 5.063E+08).
        // Those plans' outer bounds, what each would have started from, are taken now in the order of their plain bounds
        // while the next plain bound is below the least bound left open, until the time limit (the time the tree left
        // them); a plan whose outer bound reaches the incumbent is closed, as at its turn.
        if (_prune && _model.DeferOrders && listed && shared.Stopped && !limits.Cancel.IsCancellationRequested)
        {
            // The tree's stop has fired; these bounds stop at the limit itself.
            StopBoundsAt(() => limits.Cancel.IsCancellationRequested || sw.Elapsed > deadline);
            double least = shared.BestValue ?? double.PositiveInfinity;
            for (int i = 0; i < roots.Count; i++) if (reached[i] && !finished[i]) least = Math.Min(least, open[i]);
            foreach (int i in order.Where(i => !reached[i] && !finished[i]).OrderBy(i => open[i]))
            {
                if (open[i] >= least || sw.Elapsed > deadline) break;
                open[i] = rootBounds[i] = double.IsNaN(ahead[i]) ? RefinedRoot(i) : ahead[i];
                if (shared.Prunable(rootBounds[i], [position[i]])) finished[i] = true;
                else least = Math.Min(least, open[i]);
            }
        }
        bool complete = shared.MetFloor || (listed && (!shared.Stopped || finished.All(f => f)));
        double bound = shared.BestValue ?? double.PositiveInfinity;
        for (int i = 0; i < roots.Count; i++) if (!finished[i]) bound = Math.Min(bound, open[i]);
        if (!listed) bound = Math.Min(bound, RootBound());
        // Nodes pruned at the ceiling hold nothing below it, and no more is known of them.
        bound = Math.Min(bound, _ceiling);
        var found = shared.BestMapping;
        double? foundValue = shared.BestValue;
        // Nothing below the ceiling (which was below the seed, if any): that is all the search proved.
        if (_prune && found is null && _ceiling < shared.SeedValue && complete)
        {
            var seedReport = shared.SeedMapping is { } below ? Recheck(below, ValueOf(Conventions.Evaluate(_p.Convention, _p.Layer, _p.Arch, below))) : null;
            return new SolveResult(seedReport is null ? SolveStatus.Unknown : SolveStatus.Feasible, shared.SeedMapping, seedReport, seedReport is null ? null : ValueOf(seedReport),
                _ceiling, sw.Elapsed, shared.Explored, _name, $"nothing in the mapspace costs less than the ceiling {_ceiling:G6}");
        }
        if (found is null && shared.SeedMapping is { } seed)
        {
            found = seed;
            foundValue = ValueOf(Conventions.Evaluate(_p.Convention, _p.Layer, _p.Arch, seed));
        }
        var elapsed = sw.Elapsed;
        long explored = shared.Explored;
        if (found is null)
        {
            if (complete)
                return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, elapsed, explored, _name,
                    !_brokenSets.IsEmpty ? Infeasibility.ExplainGlobal(_p, _brokenSets.Keys.ToList(), minimal: !_partialSets) : Infeasibility.Explain(_p));
            return new SolveResult(SolveStatus.Unknown, null, null, null, Math.Min(bound, RootBound()), elapsed, explored, _name,
                "The search stopped before it found a valid mapping.");
        }
        var report = Recheck(found, foundValue!.Value);
        double best = ValueOf(report);
        return new SolveResult(complete ? SolveStatus.Optimal : SolveStatus.Feasible, found, report, best,
            complete ? best : Math.Min(bound, best), elapsed, explored, _name);
    }

    /// <summary>
    /// A lower bound on every mapping of the problem without searching its tilings: the least over the spatial plans of
    /// each plan's bound, for energy searched inner-first its plain bound raised by the outer bound (which sees level 1's
    /// capacity and the DRAM factors the constraints pin; the bound a search starts each plan from), otherwise the root's
    /// bound. Plans are refined in the order of their plain bounds, until the next one's plain bound reaches the least
    /// refined so far. Infinite when no mapping can exist; the root's bound when stopped by the limits.
    /// </summary>
    public double LowerBound(SearchLimits limits) => LowerBound(limits, null);

    /// <summary>
    /// <see cref="LowerBound(SearchLimits)"/> with the plans and their plain bounds taken from <paramref name="shared"/> when it
    /// <see cref="PlainPlans.Serves"/> this problem (the same numbers, without listing the plans and bounding each afresh:
    /// docs/fusion.md, "The spatial plans' plain bounds, made once per layer shape"); as without it otherwise.
    /// </summary>
    internal double LowerBound(SearchLimits limits, PlainPlans? shared)
    {
        if (Infeasibility.Contradictions(_p).Count > 0) return double.PositiveInfinity;
        double root = RootBound();
        if (!BoundsPlans) return root;
        var sw = Stopwatch.StartNew();
        bool Stopped() => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);
        StopBoundsAt(Stopped);
        try { return LeastPlanBound(); }
        finally { StopBoundsAt(null); }

        double LeastPlanBound()
        {
            if (PlanPlainBounds(shared, Stopped) is not { } plans) return root;
            double least = double.PositiveInfinity;
            foreach (var (plan, state, plain) in plans.OrderBy(x => x.Plain))
            {
                if (plain >= least) break;
                if (Stopped()) return root;
                least = Math.Min(least, _model.RefineBound(state ?? State.PlanRoot(_model, plan), _levelsCount, plain, least));
            }
            return Math.Max(root, least);
        }
    }

    /// <summary>True when <see cref="LowerBound(SearchLimits)"/> bounds the spatial plans one by one (energy searched inner-first), not the root alone.</summary>
    private bool BoundsPlans => _prune && _model.DeferOrders && !_edpInner && !_cyclesCapped && _weighted is null && _global is null;

    /// <summary>
    /// Every spatial plan in the model's order with its plain inner bound (<see cref="SearchModel.InnerBound"/> at its root): from
    /// <paramref name="shared"/> when it serves this problem (no state made), else listed and bounded here (with the state
    /// bounded); null when <paramref name="stopped"/> said so while listing.
    /// </summary>
    private List<(SpatialPlan Plan, State? State, double Plain)>? PlanPlainBounds(PlainPlans? shared, Func<bool> stopped)
    {
        var plans = new List<(SpatialPlan, State?, double)>();
        if (shared is not null && shared.Serves(_model.Problem))
        {
            for (int i = 0; i < shared.Plans.Count; i++)
            {
                if ((i & 255) == 0 && stopped()) return null;
                plans.Add((shared.Plans[i], null, shared.Plain(_model.Problem, i)));
            }
            return plans;
        }
        foreach (var plan in _model.SpatialPlans())
        {
            if ((plans.Count & 255) == 0 && stopped()) return null;
            var s = State.PlanRoot(_model, plan);
            plans.Add((plan, s, _model.InnerBound(s, _levelsCount)));
        }
        return plans;
    }

    /// <summary>
    /// This problem's plans with the parts of their plain bounds (<see cref="PlainPlans.Of"/>), to be shared with the problems it
    /// serves; null where <see cref="LowerBound(SearchLimits)"/> bounds no plans, where the parts do not apply, or when stopped by the limits.
    /// </summary>
    internal PlainPlans? PlainPlans(SearchLimits limits)
    {
        if (!BoundsPlans) return null;
        var sw = Stopwatch.StartNew();
        return Solvers.PlainPlans.Of(_model, () => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t));
    }

    /// <summary>
    /// For tests: every plan's plain bound as <see cref="LowerBound(SearchLimits, PlainPlans?)"/> takes it, from
    /// <paramref name="shared"/> (when it serves this problem) or computed afresh; null where the plans are not bounded one by one.
    /// </summary>
    internal IReadOnlyList<double>? PlainBounds(PlainPlans? shared)
        => BoundsPlans ? PlanPlainBounds(shared, () => false)!.Select(x => x.Plain).ToList() : null;

    /// <summary>
    /// The energy and the cycles of a plan's mappings bounded apart, each by the search built for it (the energy
    /// search's inner and outer bounds, the latency search's plan cycles), for the problems whose own root bound is
    /// weak: EDP searched outer-first (their product bounds every EDP of the plan, far above the EDP search's root bound,
    /// whose energy part knows no loop yet; searched inner-first, EDP takes the plan's cycles from here) and any capped problem (a lexicographic term: a plan whose least cycles or least energy is
    /// beyond a cap holds no allowed mapping, and under a cycle cap, which leaves only the plans of least compute
    /// cycles, most plans are dropped at once). Null otherwise, where the plain bound stays.
    /// </summary>
    private PlanTwins? Twins()
    {
        // The twins' energy bound is the inner-first one, which knows nothing of shared windows.
        if (!_prune || (_p.Objective != Objective.Edp && _p.Caps is null && _weighted is null) || _model.Problem.SharedWindows) return null;
        var free = _p with { Caps = null };
        // EDP searched inner-first: the search's own model is the energy twin.
        return new PlanTwins(_edpInner || _cyclesCapped || _weighted is not null ? _model : new SearchModel(free with { Objective = Objective.Energy }, deferOrders: true), new SearchModel(free with { Objective = Objective.Latency }),
            _levelsCount, _p.Objective, _p.Caps);
    }

    /// <summary>A plan's bound from an energy twin and a latency twin of the problem without caps (see <see cref="Twins"/>).</summary>
    private sealed record PlanTwins(SearchModel Energy, SearchModel Latency, int Levels, Objective Objective, CostCaps? Caps)
    {
        public double Bound(SpatialPlan plan, Func<bool> stop)
        {
            var e = State.PlanRoot(Energy, plan);
            double energy = Energy.InnerBound(e, Levels);
            if (!stop()) energy = Math.Max(energy, Energy.RefineBound(e, Levels, energy, double.PositiveInfinity));
            double cycles = Cycles(plan);
            if (Caps is { } caps && !(caps.AllowEnergy(energy) && caps.Allow(energy, cycles))) return double.PositiveInfinity;
            return FusionCost.Combine(Objective, energy, cycles);
        }

        /// <summary>The least cycles of every mapping of the plan: the latency search's root bound under it (its exact compute cycles, and the bandwidth cycles of the traffic every mapping has).</summary>
        public double Cycles(SpatialPlan plan)
        {
            var c = State.PlanRoot(Latency, plan);
            return Latency.LowerBound(c, 0, keepDecidedAt: 0);
        }
    }

    /// <summary>A bound every mapping meets under any convention, imperfect factors included (the MACs are the true points): every MAC's energy, and the cycles of the MACs spread over every compute unit.</summary>
    internal static double AnyMappingFloor(MapProblem p)
    {
        double energy = p.Layer.Macs * p.Arch.Compute.MacEnergy;
        double cycles = Math.Ceiling((double)p.Layer.Macs / p.Arch.ComputeInstances / p.Arch.Compute.MacsPerCycle);
        return p.Objective switch { Objective.Energy => energy, Objective.Latency => cycles, _ => energy * cycles };
    }

    /// <summary>
    /// The objective of a complete mapping under the problem's convention, or infinity when the mapping is
    /// above a cap or is one Timeloop's mapping format cannot say (a rank along both axes of a fanout).
    /// A member of the plan's class that <paramref name="skip"/> rules out (a bound of the leaf in that member that the
    /// incumbent prunes) is not costed: each of its orders would have been pruned, so the least of the rest is pruned
    /// exactly when the least of all is, and is the same mapping when it is not.
    /// </summary>
    private (double Value, Mapping Mapping) LeafValue(State s, Func<SpatialPlan, bool>? skip)
    {
        var first = _model.ToMapping(s);
        var best = (Value: double.PositiveInfinity, Mapping: first);
        // A plan standing for its class (SpatialPlan.Variants): the leaf in every plan of the class.
        List<SpatialPlan?> members = s.Plan is { Variants.Count: > 0 } plan ? [plan, .. plan.Variants] : [s.Plan];
        foreach (var member in members)
        {
            if (skip is not null && member is not null && skip(member)) continue;
            var mapping = member is null || ReferenceEquals(member, s.Plan) ? first : _model.ToMapping(s, member);
            if (_p.Convention == CostConvention.Timeloop && Formulation.Specs.TimeloopMapping.Inexpressible(mapping, _p.Arch) is not null) continue;
            // The search's state holds each axis's spatial factors, not their order; Timeloop's counts depend on the order
            // (which children are neighbours), so the leaf is the least over the orders, the first of equals kept.
            foreach (var ordered in _p.Convention == CostConvention.Timeloop || _p.Arch.HasForwarding ? Mapspace.SpatialOrders(mapping) : [mapping])
            {
                var report = Conventions.Evaluate(_p.Convention, _p.Layer, _p.Arch, ordered);
                Interlocked.Increment(ref _evaluated);
                double value = !WithinCaps(report) ? double.PositiveInfinity : report.Objective(_p.Objective);
                if (value < best.Value) best = (value, ordered);
            }
        }
        return best;
    }

    /// <summary>Re-checks the answer with the validity checker and re-costs it with the reference model (of the problem's convention); any disagreement is a bug, reported loudly.</summary>
    private CostReport Recheck(Mapping mapping, double searchValue)
    {
        var violations = ValidityChecker.Check(_p.Layer, _p.Arch, mapping);
        if (violations.Count > 0)
            throw new InvalidOperationException($"The {_name} search returned an invalid mapping ({violations[0].Message}); this is a bug.");
        if (OneAxisOnly && Formulation.Specs.TimeloopMapping.Inexpressible(mapping, _p.Arch) is { } why)
            throw new InvalidOperationException($"The {_name} search returned a mapping Timeloop's format cannot say ({why}); this is a bug.");
        var report = Conventions.Evaluate(_p.Convention, _p.Layer, _p.Arch, mapping);
        if (!Satisfies(mapping, report))
            throw new InvalidOperationException($"The {_name} search returned a mapping that breaks a global constraint; this is a bug.");
        double reference = ValueOf(report);
        if (Math.Abs(reference - searchValue) > 1e-9 * Math.Max(1, Math.Abs(reference)))
            throw new InvalidOperationException($"The {_name} search costed its mapping at {searchValue} but the cost model says {reference}; this is a bug.");
        return report;
    }

    /// <summary>The smallest bound among the nodes a stopped descent left unexplored (one per root, one thread each).</summary>
    private sealed class Frontier
    {
        public double Min { get; private set; } = double.PositiveInfinity;
        private readonly object _lock = new();

        public void Add(double bound)
        {
            lock (_lock) Min = Math.Min(Min, bound);
        }
    }

    /// <summary>The incumbent and the stopping rule, shared by the threads.</summary>
    private sealed class Shared(SearchModel model, bool prune, Stopwatch clock, TimeSpan? deadline, CancellationToken cancel, Func<State, Func<SpatialPlan, bool>?, (double Value, Mapping Mapping)>? leafValue = null,
        Func<Mapping, bool>? admit = null, Func<State, int, bool>? tilesAdmit = null, Func<double, double, double>? leafOrders = null,
        Func<double, double, double>? planValue = null, Func<double, double, double>? planEnergy = null, Func<State, int, double>? nodeCycles = null)
    {
        private readonly object _lock = new();
        private long _explored;
        private volatile bool _stopped;
        private double _bestValue = double.PositiveInfinity; // the least cost met
        private (double Value, double[] Path, Mapping Mapping)? _incumbent;
        private double[]? _incumbentPath;
        private string? _incumbentText;

        /// <summary>The level names of the canonical text when ties are settled by it (<see cref="TilingSearch.CanonicalTies"/>); null: by the search's order.</summary>
        public IReadOnlyList<string>? CanonicalNames { get; init; }

        /// <summary>
        /// Two costs within this relative margin are a tie: far above the rounding of the bounds' and the
        /// model's arithmetic, far below any real difference.
        /// </summary>
        private const double TieMargin = 1e-9;

        /// <summary>
        /// The answer: among the cheapest mappings (up to the tie margin), the first in the search's fixed order
        /// (plans by their position, then at every level children by bound and enumeration index; see
        /// <see cref="Prunable"/>). A finished search gives the same mapping on every run and thread count.
        /// </summary>
        public Mapping? BestMapping
        {
            get
            {
                lock (_lock) return _incumbent?.Mapping;
            }
        }

        /// <summary>The cost of <see cref="BestMapping"/>.</summary>
        public double? BestValue
        {
            get
            {
                lock (_lock) return _incumbent?.Value;
            }
        }

        public long Explored => Interlocked.Read(ref _explored);
        public bool Stopped => _stopped;

        /// <summary>
        /// A node is dropped when its bound reaches the incumbent (or the seed) plus the tie margin: it can hold
        /// nothing cheaper. A node within the margin could hold a tie: it is searched only when its
        /// <paramref name="path"/> (its position in the fixed order) is not after the incumbent's, so the
        /// tie that comes first in that order is always met, whichever thread met which tie first.
        /// </summary>
        public bool Prunable(double bound, double[]? path)
        {
            int zone = Zone(bound);
            if (zone != 0) return zone > 0;
            if (CanonicalNames is not null) return false; // a tie settled by its text: searched wherever it is in the order
            var incumbent = Volatile.Read(ref _incumbentPath);
            return incumbent is not null && path is not null && Compare(path, incumbent) > 0;
        }

        /// <summary>1 when a bound reaches the incumbent (or the seed) plus the tie margin, -1 when it is below it by more than the margin, 0 for a tie.</summary>
        private int Zone(double bound)
        {
            if (!prune) return -1;
            double limit = Math.Min(Volatile.Read(ref _bestValue), Volatile.Read(ref _threshold));
            return bound >= limit * (1 + TieMargin) ? 1 : bound < limit * (1 - TieMargin) ? -1 : 0;
        }

        /// <summary><see cref="Prunable(double, double[])"/> for the child of <paramref name="parent"/> with this bound and enumeration index, without building its position.</summary>
        public bool Prunable(double bound, double[] parent, int index)
        {
            int zone = Zone(bound);
            return zone != 0 ? zone > 0 : Prunable(bound, Extend(parent, bound, index));
        }

        /// <summary>Compares two positions in the fixed order over their common length (a node and the leaves below it compare equal).</summary>
        private static int Compare(double[] a, double[] b)
        {
            for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
                if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
            return 0;
        }

        /// <summary>A child's position: its parent's, then its bound and enumeration index.</summary>
        public static double[] Extend(double[] path, double bound, int index)
        {
            var child = new double[path.Length + 2];
            Array.Copy(path, child, path.Length);
            child[^2] = bound;
            child[^1] = index;
            return child;
        }

        /// <summary>The value a bound must stay below for its node to be searched.</summary>
        public double Threshold => !prune ? double.PositiveInfinity
            : Math.Min(Volatile.Read(ref _bestValue), Volatile.Read(ref _threshold)) * (1 + TieMargin);

        /// <summary>Checks the clock and the cancellation token; true once the search must stop.</summary>
        public bool CheckStop()
        {
            if (cancel.IsCancellationRequested || (deadline is { } d && clock.Elapsed > d) || Interlocked.Read(ref _explored) > NodeLimit
                || (EvaluationLimit < long.MaxValue && Evaluated is { } evaluated && evaluated() > EvaluationLimit)) _stopped = true;
            return _stopped;
        }

        /// <summary>The nodes the search may explore; past them it stops as if its time were up.</summary>
        public long NodeLimit { get; init; } = long.MaxValue;

        /// <summary>The mappings the reference model may cost (<see cref="Evaluated"/>); past them the search stops as if its time were up.</summary>
        public long EvaluationLimit { get; init; } = long.MaxValue;

        /// <summary>The mappings the reference model costed so far (the leaves' values).</summary>
        public Func<long>? Evaluated { get; init; }

        private double _threshold = double.PositiveInfinity;

        /// <summary>Prunes from the start at a value known from outside (no mapping goes with it).</summary>
        public void Cap(double value) => Volatile.Write(ref _threshold, Math.Min(Volatile.Read(ref _threshold), value));

        /// <summary>
        /// Prunes from the start with a known valid mapping's value. The mapping itself is kept apart and
        /// returned only when the search finds nothing: a search that finishes always finds an equal or
        /// better mapping itself, so the answer does not depend on how good the seed was.
        /// </summary>
        public void Seed(Mapping mapping, double value)
        {
            Volatile.Write(ref _threshold, value);
            SeedMapping = mapping;
            SeedValue = value;
        }

        /// <summary>The seed's value (infinite without a seed).</summary>
        public double SeedValue { get; private set; } = double.PositiveInfinity;

        /// <summary>Makes the seed the answer when it already meets the floor: it is then proven optimal without a search.</summary>
        public void AdoptSeed(Mapping mapping)
        {
            lock (_lock)
            {
                _incumbent = (SeedValue, [double.NegativeInfinity], mapping);
                Volatile.Write(ref _incumbentPath, _incumbent.Value.Path);
                _bestValue = Math.Min(_bestValue, SeedValue);
            }
            MetFloor = true;
            _stopped = true;
        }

        public Mapping? SeedMapping { get; private set; }

        public void Descend(State s, int depth, double[] path)
        {
            if ((Interlocked.Increment(ref _explored) & 1023) == 0) CheckStop();
            if (_stopped) return;
            if (depth == model.Levels)
            {
                Offer(s, path);
                return;
            }
            // The levels above decided this level's tile extents.
            if (depth > 0 && tilesAdmit is not null && !tilesAdmit(s, depth)) return;
            int k = -1;
            foreach (var keep in model.KeepOptions(depth, s))
            {
                k++;
                s.Keep[depth] = keep;
                if (!model.Fits(depth, s)) continue;
                if (Prunable(model.LowerBound(s, depth, keepDecidedAt: depth), Extend(path, k, 0))) continue;
                int j = -1;
                foreach (var choice in model.LevelChoices(depth, s))
                {
                    // The choice at this level fixes no new energy term until the next level decides what it keeps, so the bound is taken there.
                    s.Apply(depth, choice);
                    Descend(s, depth + 1, Extend(path, k, ++j));
                    if (_stopped) return;
                }
            }
        }

        /// <summary>
        /// Inner-first descent (energy): decide level d's loops and keep set with the levels below already
        /// decided, bound, and go one level out; at the top, pick every level's order and offer the mapping.
        /// </summary>
        /// <remarks>
        /// With <paramref name="threads"/> above 1, this node's children are searched in parallel, each from
        /// a fresh state that <paramref name="make"/> builds (this node's own state, undecided below).
        /// For EDP and a weighted problem, <paramref name="scale"/> is the plan's least cycles: the model's bounds are on energy, and a node's
        /// bound on EDP is its energy bound times that (every mapping of the plan has at least those cycles), on energy + lambda x
        /// cycles its energy bound plus lambda times that (the plan value the search gives, <c>planValue</c>);
        /// <paramref name="nodeBound"/>, the children's bounds and positions and what the frontier records are on the objective.
        /// </remarks>
        public void DescendInner(State s, int d, double nodeBound, double[] path, Frontier frontier, int threads = 1, Func<State>? make = null, ChildBounds? known = null,
            double scale = 1)
        {
            if ((Interlocked.Increment(ref _explored) & 1023) == 0) CheckStop();
            if (_stopped) { frontier.Add(nodeBound); return; }
            if (d < 0)
            {
                model.OptimizeOrders(s);
                if (leafOrders is not null) OfferOrders(s, path, scale, leafOrders);
                else if (model.Problem.AnyFloored) OfferEveryOrder(s, path);
                else Offer(s, path);
                return;
            }
            // The cutoff the energy bounds may stop at: a node whose energy bound reaches it is pruned.
            double cutoff = planEnergy is null ? Threshold / scale : planEnergy(Threshold, scale);
            // Children are bounded first and then searched best bound first, so good mappings come early
            // and prune the rest; equal bounds keep the enumeration order, so the order is deterministic.
            // The parent's outer bound may have bounded these children already (see ChildBounds): then only the
            // ones it left open are bounded again.
            // A child's enumeration index counts every (choice, keep set) in the fixed enumeration order, pruned
            // or not, so its position (see Prunable) does not depend on what the threads have found.
            var children = new List<(LevelChoice Choice, int Keep, double Bound, double[] Path, double[][] Visits, ChildBounds? Known, double Scale)>();
            var keeps = model.KeepOptions(d, s).ToArray();
            int index = -keeps.Length;
            foreach (var choice in model.InnerChoices(d, s))
            {
                index += keeps.Length;
                // Level 1 alone left on chip: a child is one of the parent's splits; with more, it divides one.
                long g = d == 1 ? known?.Index(choice.Temporal) ?? -1 : -1;
                if (g >= 0 && !known!.AnyOpen(g)) continue;
                if (d > 1 && known is not null && !known.MayDivide(choice.Temporal)) continue;
                model.ApplyInner(s, d, choice);
                // This level and the ones below decided its tile extents.
                if (tilesAdmit is not null && !tilesAdmit(s, d)) continue;
                model.RecordInnerVisits(s, d);
                for (int k = 0; k < keeps.Length; k++)
                {
                    int keep = keeps[k];
                    s.Keep[d] = keep;
                    double least = 0;
                    if (g >= 0 && !known!.TryGet(g, keep, out least)) continue;
                    if (!model.Fits(d, s)) continue;
                    double energy = Math.Max(least, model.InnerBound(s, d, cutoff));
                    if (Prunable(PlanValue(energy, scale), path, index + k)) continue;
                    // EDP: the cycles the child's ports must take (PortCycles), when more than the node's, bound every mapping below it.
                    double childScale = scale, childCutoff = cutoff;
                    if (nodeCycles is not null && nodeCycles(s, d) is var portCycles && portCycles > scale)
                    {
                        childScale = portCycles;
                        childCutoff = planEnergy is null ? Threshold / childScale : planEnergy(Threshold, childScale);
                        if (Prunable(PlanValue(energy, childScale), path, index + k)) continue;
                    }
                    double bound = PlanValue(model.RefineBound(s, d, energy, childCutoff, out var grandchildren), childScale);
                    // Bounding a child can take milliseconds (the outer bound's cases): the clock is read after each.
                    if (CheckStop()) { frontier.Add(nodeBound); return; }
                    var childPath = Extend(path, bound, index + k);
                    if (Prunable(bound, childPath)) continue;
                    children.Add((choice, keep, bound, childPath, s.InnerVisits[d].Select(v => (double[])v.Clone()).ToArray(), grandchildren, childScale));
                }
                if ((Interlocked.Increment(ref _explored) & 1023) == 0 && CheckStop()) { frontier.Add(nodeBound); return; }
            }
            var sorted = children.OrderBy(x => x.Bound).ThenBy(x => x.Path[^1]).ToList();
            if (threads > 1 && make is not null)
            {
                Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(sorted, loadBalance: true),
                    new ParallelOptions { MaxDegreeOfParallelism = threads }, child =>
                    {
                        if (_stopped) { frontier.Add(child.Bound); return; }
                        if (Prunable(child.Bound, child.Path)) return;
                        var x = make();
                        model.ApplyInner(x, d, child.Choice);
                        for (int c = 0; c < child.Visits.Length; c++) Array.Copy(child.Visits[c], x.InnerVisits[d][c], child.Visits[c].Length);
                        x.Keep[d] = child.Keep;
                        DescendInner(x, d - 1, child.Bound, child.Path, frontier, known: child.Known, scale: child.Scale);
                    });
                return;
            }
            for (int k = 0; k < sorted.Count; k++)
            {
                var child = sorted[k];
                if (Prunable(child.Bound, child.Path)) continue;
                model.ApplyInner(s, d, child.Choice);
                for (int c = 0; c < child.Visits.Length; c++) Array.Copy(child.Visits[c], s.InnerVisits[d][c], child.Visits[c].Length);
                s.Keep[d] = child.Keep;
                DescendInner(s, d - 1, child.Bound, child.Path, frontier, known: child.Known, scale: child.Scale);
                if (_stopped)
                {
                    // What is left unexplored here: the next sibling holds the smallest bound of the rest.
                    if (k + 1 < sorted.Count) frontier.Add(sorted[k + 1].Bound);
                    return;
                }
            }
        }

        private double PlanValue(double energy, double floor) => planValue is null ? energy * floor : planValue(energy, floor);

        /// <summary>
        /// A leaf of the inner-first search whose objective <paramref name="value"/> combines energy and cycles, never
        /// decreasing in either: EDP's (docs/mapspace.md, "EDP: the energy search times the plan's cycles"), and energy's
        /// within a cycle cap (infinite above it; "Energy within a cycle cap"). The tiling has every level's least-energy
        /// order. When those orders' value is already the value of their energy at the plan's least cycles
        /// (<paramref name="floor"/>; 1 when unknown, as within a cap), no order does better. Otherwise the other orders are
        /// searched: level by level, each level's orders (one per class, <see cref="SearchModel.Orders"/>) by the energy
        /// they add, a partial choice bounded by the value of its least energy (the orders chosen, the least-energy ones for
        /// the rest: each level's order adds its own term) at the floor or the bandwidth cycles the chosen orders already
        /// fix (<see cref="SearchModel.CyclesFixedAbove"/>), whichever is more.
        /// </summary>
        private void OfferOrders(State s, double[] path, double floor, Func<double, double, double> value)
        {
            var (energy, cycles) = model.ExactParts(s);
            double here = value(energy, cycles), best = value(energy, floor);
            Offer(s, path, here);
            if (here <= best || Prunable(best, path)) return;
            var levels = LevelOrders(s);
            Orders(0, 0);

            void Orders(int k, double extra)
            {
                if (k == levels.Count)
                {
                    if ((Interlocked.Increment(ref _explored) & 1023) == 0) CheckStop();
                    var (e, c) = model.ExactParts(s);
                    Offer(s, path, value(e, c));
                    return;
                }
                var (d, chosen, orders, extras) = levels[k];
                for (int i = 0; i < orders.Length && !_stopped; i++)
                {
                    // The orders come by the energy they add: once one is pruned, so is every one after it.
                    if (Prunable(value(energy + extra + extras[i], floor), path)) break;
                    s.Choice[d] = chosen with { Order = orders[i] };
                    // The orders chosen so far fix the bandwidth cycles of the levels above the next open one.
                    if (k + 1 < levels.Count
                        && Prunable(value(energy + extra + extras[i], Math.Max(floor, model.CyclesFixedAbove(s, levels[k + 1].Level))), path))
                        continue;
                    Orders(k + 1, extra + extras[i]);
                }
                s.Choice[d] = chosen;
            }
        }

        /// <summary>
        /// Per level above the innermost (whose order changes nothing) with more than one order class: the level, its chosen
        /// (least-energy) choice, its orders (one per class) by the energy each adds beyond the chosen one's, and those energies.
        /// </summary>
        private List<(int Level, LevelChoice Best, int[][] Orders, double[] Extra)> LevelOrders(State s)
        {
            var levels = new List<(int Level, LevelChoice Best, int[][] Orders, double[] Extra)>();
            for (int d = 0; d < model.Levels - 1; d++)
            {
                var chosen = s.Choice[d]!;
                var orders = model.Orders(d, chosen.Temporal).ToArray();
                if (orders.Length <= 1) continue;
                var energies = model.LevelEnergies(s, d, [chosen.Order, .. orders]);
                var extra = energies.Skip(1).Select(e => Math.Max(0, e - energies[0])).ToArray();
                var sorted = Enumerable.Range(0, orders.Length).OrderBy(i => extra[i]).ThenBy(i => i).ToArray();
                levels.Add((d, chosen, sorted.Select(i => orders[i]).ToArray(), sorted.Select(i => extra[i]).ToArray()));
            }
            return levels;
        }

        /// <summary>
        /// A leaf of a problem with floored tensors (<see cref="SearchProblem.Floored"/>: a window layer under the Timeloop
        /// convention), whose counts depend on every level's order together: every combination of one order per class at
        /// each level is a candidate, costed by the reference model (the leaf value). The other tensors' energy is the array
        /// model's, a constant plus one term per level's order (<see cref="SearchModel.LevelEnergies"/>, the floored tensors
        /// left out), so each level's orders come by what they add and a partial combination is bounded by that energy with
        /// the least orders for the rest plus the floored tensors' floor; a complete one, before the reference model, by the
        /// array model's energy (a lower bound of the problem's under shared windows).
        /// </summary>
        private void OfferEveryOrder(State s, double[] path)
        {
            double plain = model.PlainEnergy(s), floor = model.FlooredEnergy(s);
            if (Prunable(plain + floor, path)) return;
            var levels = LevelOrders(s);
            if (levels.Count == 0) { Offer(s, path, skip: Members(plain)); return; }
            Orders(0, 0);

            void Orders(int k, double extra)
            {
                if (k == levels.Count)
                {
                    if ((Interlocked.Increment(ref _explored) & 1023) == 0) CheckStop();
                    // The plain tensors' energy in these orders plus the floored tensors' floor in this nest (its refetched
                    // tiles) is a lower bound of the reference model's under shared windows; so is the array model's energy,
                    // the dearer of the two to compute, asked only when the first does not prune.
                    double floored = plain + extra + model.OrderedFlooredEnergy(s);
                    if (!Prunable(floored, path) && !Prunable(Math.Max(model.Exact(s), floored), path)) Offer(s, path, skip: Members(plain + extra));
                    return;
                }
                var (d, chosen, orders, extras) = levels[k];
                for (int i = 0; i < orders.Length && !_stopped; i++)
                {
                    // The orders come by the energy they add: once one is pruned, so is every one after it.
                    if (Prunable(plain + floor + extra + extras[i], path)) break;
                    s.Choice[d] = chosen with { Order = orders[i] };
                    Orders(k + 1, extra + extras[i]);
                }
                s.Choice[d] = chosen;
            }

            // In a plan standing for its class, each member's own floor (the plain tensors' energy in these orders plus the
            // floored tensors' ordered floor over that member's spatial orders only) may prune it: the leaf is then not costed
            // in that member (LeafValue).
            Func<SpatialPlan, bool>? Members(double plainHere) =>
                s.Plan is { Variants.Count: > 0 } ? member => Prunable(plainHere + model.OrderedFlooredEnergy(s, member), path) : null;
        }

        private void Offer(State s, double[] path, double? known = null, Func<SpatialPlan, bool>? skip = null)
        {
            Mapping? leaf = null;
            double value;
            if (known is { } given) value = given;
            else if (leafValue is not null)
            {
                (value, leaf) = leafValue(s, skip);
                // A leaf costed by the reference model in every spatial order can take milliseconds: the clock is read
                // after each, not once per 1,024 nodes, so that the time limit holds.
                CheckStop();
            }
            else value = model.Exact(s);
            if (double.IsPositiveInfinity(value) || Prunable(value, path)) return;
            var mapping = leaf ?? model.ToMapping(s);
            // The global constraints filter leaves only: checked once a leaf could improve the incumbent, so the pruning is unchanged.
            if (admit is not null && !admit(mapping)) return;
            lock (_lock)
            {
                // A cheaper mapping (beyond the tie margin) replaces the incumbent; a tie replaces it when it comes first.
                string? text = CanonicalNames is { } names ? mapping.ToCompactString(names) : null;
                bool first = _incumbent is not { } held || value < held.Value * (1 - TieMargin)
                    || (value < held.Value * (1 + TieMargin) && (text is null ? Compare(path, held.Path) < 0 : string.CompareOrdinal(text, _incumbentText) < 0));
                if (first)
                {
                    _incumbent = (value, path, mapping);
                    _incumbentText = text;
                    Volatile.Write(ref _incumbentPath, path);
                }
                if (value < _bestValue) _bestValue = value;
                // Nothing in the mapspace is below the floor: a mapping that meets it is proven optimal now, and the
                // search stops rather than look for a tie earlier in its order (so the tie returned may then depend
                // on the threads' timing; the value never does).
                if (value <= Volatile.Read(ref _floor) * (1 + TieMargin)) { MetFloor = true; _stopped = true; }
            }
        }

        private double _floor = double.NegativeInfinity;

        /// <summary>A lower bound on every mapping of the mapspace (the least root bound), once every root is listed.</summary>
        public void SetFloor(double floor) => Volatile.Write(ref _floor, floor);

        /// <summary>True when an incumbent met the floor, which proves it optimal.</summary>
        public bool MetFloor { get; private set; }
    }
}
