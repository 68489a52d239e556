using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// <c>map --imperfect</c> on energy: a branch and bound over the imperfect mapspace (docs/mapspace.md, "Imperfect factors:
/// the branch and bound"), the same set <see cref="ImperfectEnumeration"/> enumerates. As the perfect search on energy:
/// spatial plans first (best root bound first), then levels from the innermost outward, each level's temporal factors
/// (<see cref="LevelEnumeration.ImperfectInnerChoices"/>, one factor per class where <see cref="ImperfectLevelOne"/> shows the
/// others no cheaper) and keep set, children bounded (<see cref="ImperfectBound"/>) and
/// searched best bound first, every level's order chosen at the leaves (<see cref="ImperfectOrders"/>) and the leaf costed
/// by the array model over clipped tiles. Single-threaded, so the first optimum in the tree's fixed order is returned.
/// Every answer is re-checked by the validity checker and re-costed by the reference model.
/// </summary>
public sealed class ImperfectSearch
{
    private readonly MapProblem _p;
    private readonly bool _seed;
    private readonly SearchProblem _m;
    private readonly LevelEnumeration _enumeration;
    private readonly ArrayCostModel _cost;
    private readonly ImperfectOrders _orders;
    private readonly ImperfectBound _bound;
    private readonly long[] _clip;
    private readonly Mapping? _incumbent;
    /// <summary>Level 1 searches one factor per class of each rank (<see cref="ImperfectLevelOne"/>): DRAM has no fanout.</summary>
    private readonly bool _levelOneClasses;


    /// <summary>Prepares the search of one problem: energy, default convention, no constraints or caps.</summary>
    /// <param name="seed">False starts from no incumbent (the regression tests: a seed that is already optimal would hide a search that wrongly prunes every optimum).</param>
    /// <param name="incumbent">A valid mapping to start from (a perfect one is in the imperfect mapspace) instead of the seeding
    /// heuristics; it only sets the pruning threshold, and is the answer only when the search finds nothing cheaper.</param>
    public ImperfectSearch(MapProblem problem, bool seed = true, Mapping? incumbent = null)
    {
        _incumbent = incumbent;
        if (problem.Convention != CostConvention.Default)
            throw new ArgumentException("Imperfect factors are counted by the default model only.", nameof(problem));
        if (problem.Arch.HasWindowCapabilities)
            throw new ArgumentException(ImperfectRules.WindowCapabilities(problem.Arch.Name), nameof(problem));
        if (problem.Constraints is not null || problem.Caps is not null)
            throw new ArgumentException("The imperfect branch and bound takes no constraints and one objective term.", nameof(problem));
        if (problem.Objective != Objective.Energy)
            throw new ArgumentException($"The imperfect branch and bound minimizes energy; {problem.Objective} is searched by the enumeration (ImperfectEnumeration).", nameof(problem));
        _p = problem;
        _seed = seed;
        _m = new SearchProblem(problem, deferOrders: true, imperfect: true);
        _enumeration = new LevelEnumeration(_m);
        _cost = new ArrayCostModel(_m);
        _orders = new ImperfectOrders(_m, _cost);
        _bound = new ImperfectBound(_m, _cost, new InnerBound(_m, _cost), _orders, _enumeration);
        _clip = _m.Bound;
        _levelOneClasses = _m.Levels >= 2 && _m.Storage[0].Fanout.Size == 1;
        _mirrors = RankMirrors.Of(problem.Layer);
    }

    /// <summary>The rank permutations that map the layer onto itself (<see cref="RankMirrors"/>): a plan whose mirror under one of them is exhausted is skipped.</summary>
    private readonly int[][] _mirrors;

    /// <summary>How many spatial plans the last <see cref="Solve"/> skipped as mirrors of exhausted ones.</summary>
    internal int MirroredPlansSkipped { get; private set; }

    /// <summary>How many plans' roots the last <see cref="Solve"/> bounded again before their descents (or their pruning), and how many of those bounds rose.</summary>
    internal int RootsRebounded { get; private set; }
    internal int RootsRaised { get; private set; }

    /// <summary>How many bounds this search's bound has taken whose held-and-spans sets raised them (<see cref="ImperfectBound.HeldPlannedRaises"/>; the tests' witness).</summary>
    internal long HeldPlannedRaises => _bound.HeldPlannedRaises;

    /// <summary>How many roots the last <see cref="Solve"/> dived into (<see cref="Dive"/>), and how many of those dives searched their plan to the end.</summary>
    internal int RootsDived { get; private set; }
    internal int PlansFinishedByDives { get; private set; }

    /// <summary>How many children of nodes the last <see cref="Solve"/> skipped as mirrors of exhausted siblings.</summary>
    internal long MirroredChildrenSkipped { get; private set; }

    /// <summary>The mirrors that fix the plan being searched (each level's spatial factors where they were).</summary>
    private int[][] _planMirrors = [];

    /// <summary>
    /// The mirrors that fix a node whose levels above d are decided: its plan's (<see cref="_planMirrors"/>) under which every
    /// decided level's temporal factors stay where they are (keep sets name tensors, which a mirror leaves in place).
    /// </summary>
    private int[][] FixingMirrors(State s, int d)
    {
        if (_planMirrors.Length == 0) return [];
        return Array.FindAll(_planMirrors, pi =>
        {
            for (int c = d + 1; c < _m.Levels; c++)
            {
                var t = s.Choice[c]!.Temporal;
                for (int r = 0; r < t.Length; r++) if (t[pi[r]] != t[r]) return false;
            }
            return true;
        });
    }

    /// <summary>A child's key among its siblings: its temporal factors (renamed by <paramref name="pi"/> when given) and keep set.</summary>
    private static string ChildKey(int[] temporal, int keep, int[]? pi = null)
    {
        var t = temporal;
        if (pi is not null) { t = new int[temporal.Length]; for (int r = 0; r < t.Length; r++) t[pi[r]] = temporal[r]; }
        return string.Join(",", t) + "/" + keep;
    }

    private const string Name = "exact (imperfect factorization)";

    /// <summary>Runs the search under the limits (one thread, whatever <see cref="SearchLimits.Threads"/> says).</summary>
    public SolveResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var run = new Run(this, limits, sw);
        // The bound's passes over DRAM's cases ask the run's clock as they go (a late one ends at the limit, not after it).
        _bound.Stop = run.CheckStop;
        limits.Progress?.Attach(() => new SearchSnapshot("imperfect branch and bound", run.Explored, double.IsFinite(run.Best) ? run.Best : null, run.OpenBound()));
        if (_incumbent is not null) run.Seed(_incumbent);
        else if (_seed) run.SeedFromPerfectSearch();
        // The roots are listed without the plan sweeps not made yet (ImperfectBound.PlanSweeps): their few slots go to the
        // plans in the order they are searched, each root bounded again with them as it comes first (RootsRebounded).
        var roots = new List<State>();
        var bounds = new List<double>();
        _bound.MakesPlanSweeps = false;
        try
        {
            foreach (var plan in _enumeration.SpatialPlans())
            {
                if (run.CheckStop()) break;
                var s = NewRoot(plan);
                roots.Add(s);
                bounds.Add(_bound.Bound(s, _m.Levels, run.Cutoff));
            }
        }
        finally { _bound.MakesPlanSweeps = true; }
        bool listed = !run.Stopped;
        // Plans never listed have no bound of their own: what every mapping meets stands for them.
        if (!listed) run.Open(TilingSearch.AnyMappingFloor(_p));
        // Best bound first (ties in listing order); a root raised by its second bound goes back in its place.
        var queue = new PriorityQueue<int, (double Bound, int Index)>();
        for (int i = 0; i < roots.Count; i++) queue.Enqueue(i, (bounds[i], i));
        var rebounded = new bool[roots.Count];
        // Dives for incumbents first (Dive); the plans a dive searched to the end are not searched again.
        var dived = Dive(run, roots, bounds);
        // The plans searched to the end (or pruned at their roots): a plan whose mirror is among them has mappings of the
        // same energies (RankMirrors), none below what that search left, so it is not searched again.
        var done = new HashSet<string>();
        MirroredPlansSkipped = 0;
        MirroredChildrenSkipped = 0;
        RootsRebounded = 0;
        RootsRaised = 0;
        while (queue.TryDequeue(out int i, out _))
        {
            var s = roots[i];
            double b = bounds[i];
            if (dived[i]) { done.Add(RankMirrors.Key(s.Plan!)); continue; }
            if (run.Stopped) { run.Open(b); continue; }
            if (_mirrors.Length > 0 && Array.Exists(_mirrors, pi => done.Contains(RankMirrors.Key(RankMirrors.Apply(pi, s.Plan!)))))
            {
                MirroredPlansSkipped++;
                continue;
            }
            if (run.Prunable(b)) { done.Add(RankMirrors.Key(s.Plan!)); continue; }
            if (!rebounded[i])
            {
                // The same bound of the same root, now free to make this plan's sweeps: at least the listed one (both hold).
                rebounded[i] = true;
                RootsRebounded++;
                double again = _bound.Bound(s, _m.Levels, run.Cutoff);
                if (again > b)
                {
                    RootsRaised++;
                    bounds[i] = again;
                    queue.Enqueue(i, (again, i));
                    continue;
                }
            }
            var key = RankMirrors.Key(s.Plan!);
            _planMirrors = Array.FindAll(_mirrors, pi => RankMirrors.Key(RankMirrors.Apply(pi, s.Plan!)) == key);
            run.Descend(s, _m.Levels - 1, b);
            if (!run.Stopped) done.Add(key);
        }
        double floor = TilingSearch.AnyMappingFloor(_p);
        if (run.BestState is null)
        {
            if (run.Stopped || !listed)
                return new SolveResult(SolveStatus.Unknown, null, null, null, floor, sw.Elapsed, run.Explored, Name, "the search stopped before it found a valid mapping");
            return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, sw.Elapsed, run.Explored, Name,
                "no mapping with imperfect factors fits the architecture");
        }
        var mapping = run.BestMapping!;
        var violations = ValidityChecker.Check(_p.Layer, _p.Arch, mapping, Factorization.Imperfect);
        if (violations.Count > 0)
            throw new InvalidOperationException($"The imperfect branch and bound returned an invalid mapping (a bug): {string.Join("; ", violations)}");
        var report = CostModel.Evaluate(_p.Layer, _p.Arch, mapping, Factorization.Imperfect);
        double value = report.Objective(_p.Objective);
        if (run.BestFromSearch && Math.Abs(value - run.Best) > 1e-9 * Math.Max(1, Math.Abs(value)))
            throw new InvalidOperationException($"The imperfect branch and bound costs its mapping {run.Best}, the reference model {value} (a bug).");
        bool finished = !run.Stopped && listed;
        double bound = finished ? value : Math.Max(floor, Math.Min(value, run.OpenBound()));
        return new SolveResult(finished ? SolveStatus.Optimal : SolveStatus.Feasible, mapping, report, value, bound, sw.Elapsed, run.Explored, Name);
    }

    /// <summary>How many of the lowest listed roots get a dive (<see cref="Dive"/>), and how many nodes each dive may explore.</summary>
    internal int DiveRoots { get; init; } = 1;

    /// <summary>Whether the bound weighs level 1's reads of its kept operands per DRAM iteration (<see cref="ImperfectBound.WeighsResends"/>; off by default).</summary>
    internal bool WeighsResends { get => _bound.WeighsResends; init => _bound.WeighsResends = value; }
    internal long DiveNodes { get; init; } = 1 << 18;

    /// <summary>Whether the undecided pairs' need takes the degree of A's tiles in place of W_A (<see cref="ImperfectBound.PairDegrees"/>; on by default, off only in tests).</summary>
    internal bool WeighsPairDegrees { get => _bound.PairDegrees; init => _bound.PairDegrees = value; }

    /// <summary>
    /// Dives for incumbents before the best-first loop: the <see cref="DiveRoots"/> lowest listed roots below the incumbent
    /// (listed bound, then listing index: the order of the search before roots were bounded again; the lowest only when its
    /// own plan's sweeps raise it) are each descended as the search descends them, at most <see cref="DiveNodes"/> nodes,
    /// weighing no plan sweeps (cheap nodes). A dive only
    /// finds mappings (leaves costed exactly) and records nothing as unexplored; the plans it searched to the end within its
    /// nodes are returned (true), not searched again.
    /// </summary>
    private bool[] Dive(Run run, List<State> roots, List<double> bounds)
    {
        var finished = new bool[roots.Count];
        RootsDived = 0;
        PlansFinishedByDives = 0;
        if (DiveRoots <= 0 || DiveNodes <= 0) return finished;
        var order = Enumerable.Range(0, roots.Count).OrderBy(i => bounds[i]).ThenBy(i => i).Take(DiveRoots).ToList();
        try
        {
            foreach (int i in order)
            {
                if (run.Stopped || run.Prunable(bounds[i])) break;
                var s = roots[i];
                // A root its own plan's sweeps do not raise is still the lowest: the loop descends it first, with those sweeps.
                if (i == order[0] && _bound.Bound(s, _m.Levels, run.Cutoff) <= bounds[i]) continue;
                _bound.MakesPlanSweeps = _bound.UsesPlanSweeps = false;
                var key = RankMirrors.Key(s.Plan!);
                _planMirrors = Array.FindAll(_mirrors, pi => RankMirrors.Key(RankMirrors.Apply(pi, s.Plan!)) == key);
                finished[i] = run.Dive(s.Above(_m, _m.Levels - 1), _m.Levels - 1, bounds[i], DiveNodes);
                RootsDived++;
                if (finished[i]) PlansFinishedByDives++;
            }
        }
        finally { _bound.MakesPlanSweeps = _bound.UsesPlanSweeps = true; }
        return finished;
    }

    /// <summary>
    /// The bounds the search takes along a mapping's path from the root (level, bound): the plan's root bound, then each
    /// level from the innermost outward with its factors and keep set as the mapping has them. Every one must be at most
    /// the mapping's energy (the per-node admissibility test); null when the mapping has two temporal loops over one
    /// rank at a level, which the search's levels never hold.
    /// </summary>
    internal List<(int Level, double Bound)>? PathBounds(Mapping mapping)
    {
        if (Decompose(_m, mapping) is not { } parts) return null;
        var (plan, temporal) = parts;
        var s = NewRoot(plan);
        var path = new List<(int, double)> { (_m.Levels, _bound.Bound(s, _m.Levels)) };
        for (int d = _m.Levels - 1; d >= 1; d--)
        {
            s.ApplyInner(d, Choice(plan, temporal, d), _clip);
            foreach (var t in _m.Tensors) if (mapping.Levels[d].Keep.Contains(t.Spec.Id)) s.Keep[d] |= t.Bit;
            _orders.RecordInnerVisits(s, d);
            path.Add((d, _bound.Bound(s, d)));
        }
        return path;
    }

    /// <summary>
    /// A mapping as the search's tree holds it: its spatial plan and each level's temporal factor per rank (search rank
    /// order); null when a level has two temporal loops over one rank, which the search's levels never hold.
    /// </summary>
    internal static (SpatialPlan Plan, int[][] Temporal)? Decompose(SearchProblem m, Mapping mapping)
    {
        var position = m.RankIds.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i);
        var x = new int[m.Levels][];
        var y = new int[m.Levels][];
        var temporal = new int[m.Levels][];
        for (int d = 0; d < m.Levels; d++)
        {
            x[d] = Enumerable.Repeat(1, m.Ranks).ToArray();
            y[d] = Enumerable.Repeat(1, m.Ranks).ToArray();
            temporal[d] = Enumerable.Repeat(1, m.Ranks).ToArray();
            foreach (var loop in mapping.Levels[d].Spatial) (loop.Axis == Axis.X ? x : y)[d][position[loop.Rank]] *= loop.Factor;
            foreach (var loop in mapping.Levels[d].Temporal)
            {
                if (temporal[d][position[loop.Rank]] != 1) return null;
                temporal[d][position[loop.Rank]] = loop.Factor;
            }
        }
        return (new SpatialPlan(x, y), temporal);
    }

    /// <summary>Level d's choice of a decomposed mapping (<see cref="Decompose"/>): its temporal factors in rank order and the plan's spatial factors.</summary>
    internal static LevelChoice Choice(SpatialPlan plan, int[][] temporal, int d)
        => new(temporal[d], Enumerable.Range(0, temporal[d].Length).Where(r => temporal[d][r] > 1).ToArray(), plan.X[d], plan.Y[d]);

    /// <summary>
    /// Whether level d's loops over the ranks that index none of its kept tensors (all its loops when it keeps nothing)
    /// need only take factors of 1: no level below d keeps anything and level d - 1 has no fanout. When level d keeps nothing
    /// (docs/mapspace.md, "A level that keeps nothing"), its loops touch no keeper's visits (the compute units read every
    /// operand at its innermost keeper above d once per MAC whatever the loops), so they matter only through the tiles of
    /// the levels above, whose extents level d - 1's temporal factor reaches from factors of 1 here as well (its tile over
    /// level d's is a multiple of it either way, clipped to the bound): every completion below another factor has one of
    /// equal energy below factors of 1. When it keeps something (docs/mapspace.md, "A rank no kept tensor of a level
    /// indexes"), such a loop (K under an input scratchpad) moved into level d - 1's loops as the innermost one, its factor
    /// the two made (clipped to the bound), changes no tile of d or above, and d's tiles, refilled only when a loop above
    /// them changes them, are never changed by it: no count rises, and none changes when the loop at d - 1 was already
    /// innermost or absent (<c>ImperfectFreeRankTests</c>); level d - 1's orders are chosen at the leaves, that one among them.
    /// </summary>
    private static bool OnesWhereUnkept(State s, int d)
    {
        for (int c = d + 1; c < s.Keep.Length; c++) if (s.Keep[c] != 0) return false;
        for (int r = 0; r < s.Rem[d].Length; r++) if (s.Spatial(d - 1, r) != 1) return false;
        return true;
    }

    /// <summary>Whether a choice of level d steps over a rank that indexes none of the tensors in <paramref name="keep"/> (a nonempty keep set).</summary>
    private bool StepsOverAFreeRank(LevelChoice choice, int keep)
    {
        for (int r = 0; r < choice.Temporal.Length; r++)
        {
            if (choice.Temporal[r] == 1) continue;
            bool indexes = false;
            foreach (var t in _m.Tensors) indexes |= (keep & t.Bit) != 0 && t.IndexedBy[r];
            if (!indexes) return true;
        }
        return false;
    }

    private State NewRoot(SpatialPlan plan)
    {
        var s = new State(_m, plan);
        s.Keep[0] = (1 << _m.TensorCount) - 1;
        return s;
    }

    /// <summary>One run's incumbent, counters and the bounds of what it left unexplored.</summary>
    private sealed class Run(ImperfectSearch search, SearchLimits limits, Stopwatch clock) : BranchAndBoundRun(limits, clock)
    {
        public State? BestState { get; private set; }
        public Mapping? BestMapping { get; private set; }
        /// <summary>False while the incumbent is the seed (costed by the reference model, not by the search).</summary>
        public bool BestFromSearch { get; private set; }

        /// <summary>What a bound must reach to prune (<see cref="BranchAndBoundRun.Prunable"/>): a bound stops refining there.</summary>
        public double Cutoff => Best * (1 - TieMargin);

        /// <summary>
        /// The perfect-factorization search's best mapping (in the imperfect mapspace too) sets the first pruning threshold: it is
        /// often the imperfect optimum as well, and the branch and bound then only proves it. It gets a quarter of the time
        /// limit (all of it without one: it finishes).
        /// </summary>
        public void SeedFromPerfectSearch()
        {
            var perfect = new TilingSearch(search._p, prune: true).Solve(Limits with { TimeLimit = Limits.TimeLimit / 4, Progress = null });
            if (perfect.Mapping is { } m) Seed(m);
        }

        /// <summary>Prunes from the start with a valid mapping's value (re-costed by the reference model under imperfect factorization).</summary>
        public void Seed(Mapping m)
        {
            if (ValidityChecker.Check(search._p.Layer, search._p.Arch, m, Factorization.Imperfect).Count > 0) return;
            Best = CostModel.Evaluate(search._p.Layer, search._p.Arch, m, Factorization.Imperfect).Objective(search._p.Objective);
            BestMapping = m;
            BestState = new State(search._m);
        }

        /// <summary>The count of nodes explored at which the current dive ends (<see cref="Dive"/>); -1 outside dives.</summary>
        private long _diveEnd = -1;
        private bool DiveSpent => _diveEnd >= 0 && Explored >= _diveEnd;

        /// <summary>
        /// Descends a root as <see cref="Descend"/> does, at most <paramref name="nodes"/> nodes; true when it searched the
        /// plan to the end (not stopped, nodes left). Nodes it did not reach are not recorded as unexplored: the search
        /// descends the root again unless this returns true.
        /// </summary>
        public bool Dive(State root, int d, double bound, long nodes)
        {
            _diveEnd = Explored + nodes;
            Descend(root, d, bound);
            bool finished = !Stopped && !DiveSpent;
            _diveEnd = -1;
            return finished;
        }

        /// <summary>Decides level d (its factors and keep set) over the decided levels below it, best bound first; at level 0, the leaf.</summary>
        public void Descend(State s, int d, double nodeBound)
        {
            if (DiveSpent) return;
            if ((++Explored & 1023) == 0) CheckStop();
            if (Stopped) { Open(nodeBound); return; }
            var m = search._m;
            if (d == 0)
            {
                var top = search._enumeration.ImperfectInnerChoices(0, s).Single();
                s.ApplyInner(0, top, search._clip);
                search._orders.OptimizeOrders(s);
                double value = search._cost.Exact(s);
                if (value < Best * (1 - BranchAndBoundRun.TieMargin))
                {
                    Best = value;
                    BestState = s;
                    BestMapping = m.ToMapping(s);
                    BestFromSearch = true;
                }
                return;
            }
            var children = new List<(LevelChoice Choice, int Keep, double Bound, double[][] Visits)>();
            var keeps = search._enumeration.KeepOptions(d).ToArray();
            bool onesWhereUnkept = OnesWhereUnkept(s, d);
            foreach (var choice in search._enumeration.ImperfectInnerChoices(d, s, levelOneClasses: search._levelOneClasses, innerClasses: true))
            {
                s.ApplyInner(d, choice, search._clip);
                bool ones = Array.TrueForAll(choice.Temporal, f => f == 1);
                // What level d's loops bring below it only raises the bound (and costs 2^k x k counts per keeper): a keep set
                // whose bound without it is already pruned is dropped first, and it is counted only for the others.
                foreach (var v in s.InnerVisits[d]) Array.Clear(v);
                bool recorded = false;
                foreach (int keep in keeps)
                {
                    s.Keep[d] = keep;
                    if (onesWhereUnkept && !ones && (keep == 0 || search.StepsOverAFreeRank(choice, keep))) continue;
                    if (!search._enumeration.Fits(d, s)) continue;
                    if (Prunable(search._bound.Bound(s, d, Cutoff))) continue;
                    if (!recorded) { search._orders.RecordInnerVisits(s, d); recorded = true; }
                    // A child's mappings are its parent's: its bound is at least the parent's.
                    double bound = Math.Max(search._bound.Bound(s, d, Cutoff), nodeBound);
                    if (Prunable(bound)) continue;
                    children.Add((choice, keep, bound, s.InnerVisits[d].Select(v => (double[])v.Clone()).ToArray()));
                }
                // Stopped as well: a bound's pass over DRAM's cases may have found the limit passed (ImperfectBound.Stop).
                if (((++Explored & 1023) == 0 && CheckStop()) || Stopped) { Open(nodeBound); return; }
                if (DiveSpent) return;
            }
            var sorted = children.Select((c, i) => (c, i)).OrderBy(x => x.c.Bound).ThenBy(x => x.i).Select(x => x.c).ToList();
            // A node that a mirror fixes has mirrored children, whose subtrees hold the mirrored mappings at the same energies
            // (RankMirrors): a child whose mirror was searched to the end is not searched again.
            var fixing = sorted.Count > 1 ? search.FixingMirrors(s, d) : [];
            var searched = fixing.Length > 0 ? new HashSet<string>() : null;
            for (int k = 0; k < sorted.Count; k++)
            {
                var child = sorted[k];
                if (Prunable(child.Bound)) break;
                if (searched is not null && Array.Exists(fixing, pi => searched.Contains(ChildKey(child.Choice.Temporal, child.Keep, pi))))
                {
                    search.MirroredChildrenSkipped++;
                    continue;
                }
                var next = k + 1 < sorted.Count ? s.Above(m, d) : s;
                next.ApplyInner(d, child.Choice, search._clip);
                for (int c = 0; c < child.Visits.Length; c++) Array.Copy(child.Visits[c], next.InnerVisits[d][c], child.Visits[c].Length);
                next.Keep[d] = child.Keep;
                Descend(next, d - 1, child.Bound);
                if (DiveSpent) return;
                if (Stopped)
                {
                    if (k + 1 < sorted.Count) Open(sorted[k + 1].Bound);
                    return;
                }
                searched?.Add(ChildKey(child.Choice.Temporal, child.Keep));
            }
        }
    }
}
