using System.Diagnostics;
using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// One objective of a workload's layers summed over its distinct shapes (each shape's result times its count) on one
/// architecture: the lower bound (the searches' bounds), the value when every shape found a mapping, whether every
/// shape was proved, the largest per-layer bound and value, and the shape with no valid mapping, if any.
/// </summary>
public sealed record LayerSum(Objective Objective, double Lower, double? Value, bool Proved, double MaxLower, double? MaxValue, string? NoMapping, IReadOnlyList<SolveResult> Results)
{
    /// <summary>Energy and cycles of the mappings found (each shape times its count); null when a shape has none.</summary>
    public (double Energy, double Cycles)? Totals(IReadOnlyList<(Einsum Layer, int Count)> shapes)
    {
        double e = 0, c = 0;
        for (int i = 0; i < Results.Count; i++)
        {
            if (Results[i].Report is not { } r) return null;
            e += shapes[i].Count * r.Energy;
            c += shapes[i].Count * (double)r.Cycles;
        }
        return (e, c);
    }
}

/// <summary>
/// Maps a workload's distinct layer shapes on design points and relaxations with the exact search
/// (<see cref="TilingSearch"/>), caching every search by architecture, shape and objective, and counting them.
/// </summary>
public sealed class LayerEvaluator
{
    // Each search with the time it was given (null: none); a longer search of the same key replaces it.
    private readonly Dictionary<(string Arch, int Shape, Objective Objective), (SolveResult Result, TimeSpan? Given)> _cache = [];
    // The architectures searched, by shape and objective (for the bounds of dominating architectures).
    private readonly Dictionary<(int Shape, Objective Objective), List<(Architecture Arch, string Key)>> _searched = [];
    // The distinct mappings the searches found, by shape and objective, in the order found (carried to other architectures).
    private readonly Dictionary<(int Shape, Objective Objective), (List<(Mapping Mapping, string Text)> List, HashSet<string> Texts)> _found = [];
    // Per architecture, shape and objective: how many of those mappings were valued there, and the least valid one.
    private readonly Dictionary<(string Arch, int Shape, Objective Objective), Carry> _carried = [];

    private sealed record Carry(int Valued, Mapping? Mapping, CostReport? Report, double Value, string Text = "");

    /// <summary>Two values within this relative margin are a tie: the project's one margin, <see cref="Objectives.TieMargin"/>.</summary>
    public const double TieMargin = Objectives.TieMargin;

    /// <summary>
    /// The canonical order of mappings of one shape on one architecture: the lesser value, and between two values within
    /// <see cref="TieMargin"/> (a tie) the lesser canonical text (<see cref="Text"/>, ordinal). Every choice the evaluator
    /// makes among mappings (a search's answer, a longer search's, those carried from other architectures) follows it,
    /// so which of several tied mappings a point reports depends neither on the order the run met them in (which the
    /// machine's load and the shard's points change) nor on which of them a search returned first (docs/codesign.md,
    /// "Which of equal mappings a point reports").
    /// </summary>
    public static bool Precedes(double value, string text, double other, string otherText)
        => value < other * (1 - TieMargin) || (value <= other * (1 + TieMargin) && string.CompareOrdinal(text, otherText) < 0);

    /// <summary>A mapping's canonical text (its compact form with the architecture's level names), what <see cref="Precedes"/> compares between ties.</summary>
    public static string Text(Mapping m, Architecture arch) => m.ToCompactString(arch.Levels.Select(l => l.Name).ToList());
    private readonly SearchLimits _limits;
    private readonly TimeSpan? _boundTime;
    private readonly SearchProgress? _progress;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>The workload's distinct shapes with how many layers share each.</summary>
    public IReadOnlyList<(Einsum Layer, int Count)> Shapes { get; }
    /// <summary>Exact layer searches run on single points.</summary>
    public long PointSearches { get; private set; }
    /// <summary>Exact layer searches run on relaxations of several points (for lower bounds).</summary>
    public long BoundSearches { get; private set; }
    /// <summary>All exact layer searches run (a search repeated with more time counts again).</summary>
    public long Searches => PointSearches + BoundSearches;
    /// <summary>Searches answered from the cache (same architecture, shape and objective, already run long enough).</summary>
    public long CacheHits { get; private set; }
    /// <summary>Searches repeated with more time than their first run (refining a bound or a point's proof).</summary>
    public long Refinements { get; private set; }
    /// <summary>Searches whose bound was raised by a search on an architecture that dominates theirs (each time it happened).</summary>
    public long DominatedBounds { get; private set; }
    /// <summary>Raised after each search run (not after answers from the cache), on the searching thread.</summary>
    public event Action? SearchDone;
    /// <summary>The cap on each search on a relaxation (null: none).</summary>
    public TimeSpan? BoundTime => _boundTime;
    /// <summary>True once the time limit passed or the run was cancelled: searches after it are not started.</summary>
    public bool Stopped => _limits.Cancel.IsCancellationRequested || (_limits.TimeLimit is { } t && _clock.Elapsed >= t);
    /// <summary>Time since the evaluator was made.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>How every layer is costed (<see cref="MapProblem.Convention"/>): the searches' bounds hold under each, so a relaxation's bound does too.</summary>
    public CostConvention Convention { get; }

    /// <summary>Creates an evaluator; <paramref name="limits"/>' time limit is for the whole run, <paramref name="boundTime"/> caps each search on a relaxation (null: none).</summary>
    public LayerEvaluator(Workload workload, SearchLimits limits, TimeSpan? boundTime = null, CostConvention convention = CostConvention.Default)
    {
        Convention = convention;
        Shapes = Zoo.DistinctShapes(workload);
        _progress = limits.Progress;
        _limits = limits with { Progress = null };
        _boundTime = boundTime;
    }

    /// <summary>
    /// One objective summed over the shapes on an architecture; <paramref name="relaxation"/> marks a search for a bound.
    /// <paramref name="cap"/> caps each search (null: on a relaxation the evaluator's bound time, on a point none);
    /// a cached search is reused when it was given at least as much time, or when it finished.
    /// <paramref name="target"/>: once the sum of the shapes' lower bounds (those searched, and for the others what is
    /// already known, <see cref="Known"/>) exceeds it, the shapes not yet searched are left unsearched (their results
    /// say so, with the known bound): the caller drops whatever is above the target, so their searches would change
    /// nothing. The shapes are then searched largest known contribution first, or, given <paramref name="reference"/>
    /// (per shape, the value of the point the target comes from), largest shortfall first: the count times how far the
    /// known bound is below the reference, so that the shapes whose bounds must rise most to pass the target are searched
    /// before those already at the reference's value (only the order, and so which shapes a target leaves, changes).
    /// <paramref name="budget"/>: a time for the whole sum, shared as it goes by the shapes still unproved (each at least
    /// <paramref name="cap"/>), those closest to their proof first, so that the time the quick ones leave goes to the slow.
    /// <paramref name="nodes"/>: instead of a time, each search explores at most this many nodes on one thread, without
    /// the seeding heuristics (<see cref="Run"/>): what it finds and proves is then the same however loaded the machine.
    /// </summary>
    public LayerSum Sum(Architecture arch, Objective objective, bool relaxation, TimeSpan? cap = null, double target = double.PositiveInfinity, TimeSpan? budget = null,
        IReadOnlyList<double>? reference = null, long? nodes = null, bool full = false)
    {
        LastKeptStop = null;
        string key = Key(arch);
        var known = new SolveResult[Shapes.Count];
        double sum = 0;
        for (int s = 0; s < Shapes.Count; s++)
        {
            known[s] = Known(arch, key, s, objective);
            sum += Shapes[s].Count * LowerOf(known[s]);
        }
        var order = Enumerable.Range(0, Shapes.Count).ToList();
        if (budget is not null) order = [.. order.OrderBy(s => Final(known[s]) ? -1 : Gap(known[s])).ThenBy(s => s)];
        else if (double.IsFinite(target))
            order = [.. order.OrderByDescending(s => Shapes[s].Count * (reference is null ? LowerOf(known[s]) : reference[s] - LowerOf(known[s]))).ThenBy(s => s)];
        var start = _clock.Elapsed;
        var got = new SolveResult?[Shapes.Count];
        // A set's EDP bound given a second or more a search: only the searches that could decide the set (branch cd19m).
        if (SearchOnlyWhatCouldDecide && objective == Objective.Edp && Convention == CostConvention.Default && relaxation && nodes is null && budget is null
            && Given(relaxation, cap) is var whole && (whole is null || whole >= EnergyFirstCap))
            return Build(objective, EdpOnRelaxation(arch, key, known, order, target, cap, full));
        bool stopOnceKept = full && StopOnceKept && relaxation && double.IsFinite(target);
        for (int k = 0; k < order.Count; k++)
        {
            int s = order[k];
            // A set's full bound that can no longer drop the set stops (branch cd19w, StopOnceKept): the mappings known valid
            // on the relaxation (the searched shapes' own, the others' carried) sum to at most the target.
            if (stopOnceKept && KnownBelow(arch, key, objective, order, k, got, target) is var (left, value))
            {
                KeptStops++;
                KeptStopsLeft += left;
                LastKeptStop = (left, value);
                for (int j = k; j < order.Count; j++)
                    got[order[j]] = Final(known[order[j]]) || known[order[j]].Mapping is not null ? known[order[j]]
                        : known[order[j]] with { Explanation = "not searched: the mappings known on this relaxation already sum to at most the cutoff, so no search could drop the set" };
                break;
            }
            if (sum > target && !Final(known[s]))
            {
                Skipped++;
                got[s] = known[s].Mapping is null ? known[s] with { Explanation = "not searched: the other shapes' bounds already put this architecture above the cutoff" } : known[s];
                continue;
            }
            var shapeCap = cap;
            if (budget is { } total)
            {
                int pending = order.Skip(k).Count(x => !Final(known[x]));
                var share = (total - (_clock.Elapsed - start)) / Math.Max(1, pending);
                shapeCap = cap is { } floor && floor > share ? floor : share;
            }
            var r = Solve(arch, key, s, objective, relaxation, shapeCap, nodes, enough: Enough(target, sum - Shapes[s].Count * LowerOf(known[s]), Shapes[s].Count));
            got[s] = r;
            if (r.Status == SolveStatus.Infeasible) break;
            sum += Shapes[s].Count * (Math.Max(LowerOf(r), LowerOf(known[s])) - LowerOf(known[s]));
        }
        return Build(objective, got);
    }

    // Whether the mappings known valid on a relaxation sum to at most the target when the shapes order[0..k) have been
    // searched (their results in got) and the others have not (what is known, Known): then the shapes left unsearched
    // whose searches could run are counted and returned; else null. The sum is the value of real mappings, so at least
    // the relaxation's optimum, which is at least any lower bound searched there: no search could put the sum above it.
    private (int Left, double Value)? KnownBelow(Architecture arch, string key, Objective objective, List<int> order, int k, SolveResult?[] got, double target)
    {
        double value = 0;
        int open = 0;
        for (int j = 0; j < order.Count; j++)
        {
            int s = order[j];
            var r = j < k ? got[s] : Known(arch, key, s, objective);
            if (r?.Best is not { } best) return null;
            value += Shapes[s].Count * best;
            if (j >= k && !Final(r)) open++;
        }
        return value <= target ? (open, value) : null;
    }

    /// <summary>
    /// Whether a set's full bound (a sum on its relaxation given <c>full</c>, <see cref="Sum"/>; the EDP form,
    /// <see cref="EdpOnRelaxation"/>) stops once it can no longer drop the set (branch cd19w): after each shape's search,
    /// when the shapes searched so far and the others at the least value of the mappings known valid on the relaxation
    /// (their own search's or carried, as <see cref="KnownValue"/>; for EDP also the energy search's mapping) sum to at most
    /// the target. A lower bound searched on the relaxation is at most the relaxation's optimum, itself at most that sum, so
    /// the searches left could not put the set above the cutoff: the set is kept and split whatever they find. It drops
    /// nothing; only the set's key (the bound it reached) and the bounds its subsets inherit are lower. Off: every search
    /// runs until the sum passes the target, as before (for comparisons).
    /// </summary>
    public bool StopOnceKept { get; set; } = true;

    /// <summary>Full bounds stopped by <see cref="StopOnceKept"/>.</summary>
    public long KeptStops { get; private set; }

    /// <summary>The shapes those stops left unsearched whose searches would have run (energy searches for EDP's floors on an EDP bound).</summary>
    public long KeptStopsLeft { get; private set; }

    /// <summary>
    /// The last <see cref="Sum"/>'s stop by <see cref="StopOnceKept"/> (null: it did not stop so): the shapes it left
    /// unsearched whose searches would have run, and the known sum that stopped it (at most the target, at least the
    /// relaxation's optimum).
    /// </summary>
    public (int Left, double Known)? LastKeptStop { get; private set; }

    // A sum's results (null: not reached, after a shape with no valid mapping) summed: the lower bound, the value when every
    // shape has a mapping, whether all are proved, the largest layer bound and value, the first shape with no mapping.
    private LayerSum Build(Objective objective, SolveResult?[] got)
    {
        var results = new List<SolveResult>(Shapes.Count);
        double lower = 0, value = 0, maxLower = 0, maxValue = 0;
        bool proved = true, complete = true;
        string? none = null;
        for (int s = 0; s < Shapes.Count; s++)
        {
            if (got[s] is not { } r) break;
            results.Add(r);
            int n = Shapes[s].Count;
            if (r.Status == SolveStatus.Infeasible) { none = Shapes[s].Layer.Name; proved = false; complete = false; break; }
            double bound = LowerOf(r);
            lower += n * bound;
            maxLower = Math.Max(maxLower, bound);
            proved &= r.Status == SolveStatus.Optimal;
            if (r.Best is { } b) { value += n * b; maxValue = Math.Max(maxValue, b); }
            else complete = false;
        }
        if (none is null && results.Count < Shapes.Count)
        {
            // A shape had no valid mapping (searched after the one that stopped the list): report it as the loop above would.
            int s = Array.FindIndex(got, r => r?.Status == SolveStatus.Infeasible);
            none = Shapes[s].Layer.Name;
            proved = false;
            complete = false;
        }
        return new LayerSum(objective, lower, complete ? value : null, proved, maxLower, complete ? maxValue : null, none, results);
    }

    /// <summary>
    /// Whether an EDP sum on a relaxation given a second or more a search (<see cref="EnergyFirstCap"/>; the sets' full
    /// bounds) searches only what could decide the set (<see cref="EdpOnRelaxation"/>; branch cd19m); off: an energy search
    /// then an EDP search for every shape until the sum passes the target, as before (for comparisons).
    /// </summary>
    public bool SearchOnlyWhatCouldDecide { get; set; } = true;

    /// <summary>Energy searches for EDP floors left unrun (<see cref="EdpOnRelaxation"/>): no energy bound could raise the shape's EDP bound.</summary>
    public long EnergySearchesLeft { get; private set; }

    /// <summary>EDP searches on relaxations left unrun (<see cref="EdpOnRelaxation"/>): no search could have put the set above its target.</summary>
    public long EdpSearchesLeft { get; private set; }

    /// <summary>
    /// A set's full EDP bound leaves its EDP searches when, after its energy searches, its sum is at most the target divided
    /// by one plus this margin (branch cd19s): the EDP searches raise a bound little above its energy floor (cd19m: a fifth
    /// of the sets' rise, about 0.4 % a set), so they would not decide such a set, which is then split; null: off. It drops
    /// nothing: a set is dropped only by its own sum above the target, so a run that ends gives the same answer.
    /// </summary>
    public double? EdpRiseMargin { get; set; }

    /// <summary>EDP searches left by <see cref="EdpRiseMargin"/> where some could still have decided the set (also counted in <see cref="EdpSearchesLeft"/>).</summary>
    public long EdpSearchesLeftFar { get; private set; }

    /// <summary>Sets whose EDP searches <see cref="EdpRiseMargin"/> left (their sum after the energy searches far below the target).</summary>
    public long SetsLeftFar { get; private set; }

    /// <summary>Sets bounded by an EDP sum that ran no search at all: no search could have put them above their target.</summary>
    public long SetsLeftUnsearched { get; private set; }

    /// <summary>
    /// An EDP sum on a relaxation (a set's full bound) that searches only what could decide the set, that is put its sum of
    /// bounds above <paramref name="target"/> (the cutoff: the set is then dropped). A set whose sum stays at or below the
    /// cutoff is split whatever its key, so a search that cannot put it above changes nothing but the order of the work and
    /// the bounds its subsets start from. Each shape's EDP optimum here is at most <c>U</c>, the least EDP of a mapping known
    /// valid here (carried from any architecture, or the energy search's mapping here), so no search can raise its bound
    /// above <c>U</c>; and every EDP bound is at least the energy bound times the least cycles (<see cref="EdpFloor"/>).
    /// (1) When the sum of bounds with every open shape at its <c>U</c> is not above the target, nothing is searched.
    /// (2) Otherwise the energy searches first (half the cap each, as the energy search run first before), in the order
    /// given, until the sum passes the target; a shape whose EDP bound no energy bound can raise (its least known energy
    /// times the least cycles is not above it) gets none. On ResNet-50 the EDP search's own bound is rarely above that
    /// product: the energy searches are what raise the sets' keys (docs/benchmarks.md, cd19m). (3) Then, while the sum is
    /// at or below the target and the shapes' rises to their <c>U</c> could still pass it, the EDP searches (the whole cap,
    /// with the energy bound as floor), largest possible rise first. With an infinite target every shape is searched as before.
    /// </summary>
    private SolveResult?[] EdpOnRelaxation(Architecture arch, string key, SolveResult[] known, List<int> order, double target, TimeSpan? cap, bool full = false)
    {
        int n = Shapes.Count;
        var now = (SolveResult[])known.Clone();
        bool finite = double.IsFinite(target);
        double Total() { double t = 0; for (int s = 0; s < n; s++) t += Shapes[s].Count * LowerOf(now[s]); return t; }
        // The least EDP of a mapping known valid here: carried (Known), or the energy search's mapping here.
        double Upper(int s) => Math.Min(now[s].Best ?? double.PositiveInfinity, Known(arch, key, s, Objective.Energy).Report?.Edp ?? double.PositiveInfinity);
        double Rise(int s) => Final(now[s]) ? 0 : Shapes[s].Count * (Upper(s) - LowerOf(now[s]));
        bool Decidable() => !finite || Total() + Enumerable.Range(0, n).Sum(s => Math.Max(0, Rise(s))) > target;
        if (!Decidable())
        {
            SetsLeftUnsearched++;
            EdpSearchesLeft += now.Count(r => !Final(r));
            return Unsearched(now);
        }
        for (int k = 0; k < order.Count; k++)
        {
            int s = order[k];
            if (finite && Total() > target) break;
            // A full bound that can no longer drop the set stops (branch cd19w, StopOnceKept): every open shape at the least
            // EDP of a mapping known valid here (U) sums to at most the target, so no search could put the set above it
            // (the energy searches raise a bound to at most U too: the EDP floor is at most the EDP optimum). (1) is its
            // case of no shape searched; the EDP searches below would all be left by the same test.
            if (finite && full && StopOnceKept && !Decidable())
            {
                int left = order.Skip(k).Count(x => !Final(now[x]) && !Final(Known(arch, key, x, Objective.Energy))
                    && Math.Min(Known(arch, key, x, Objective.Energy).Best ?? double.PositiveInfinity, now[x].Report?.Energy ?? double.PositiveInfinity) * Roots(arch, key, x).Cycles > LowerOf(now[x]));
                KeptStops++;
                KeptStopsLeft += left;
                LastKeptStop = (left, Enumerable.Range(0, n).Sum(x => Shapes[x].Count * (Final(now[x]) ? LowerOf(now[x]) : Math.Max(LowerOf(now[x]), Upper(x)))));
                break;
            }
            if (Final(now[s])) continue;
            var e = Known(arch, key, s, Objective.Energy);
            if (e.Status == SolveStatus.Infeasible) { now[s] = e; return now; }
            if (!Final(e))
            {
                double least = Math.Min(e.Best ?? double.PositiveInfinity, now[s].Report?.Energy ?? double.PositiveInfinity);
                var given = Given(relaxation: true, cap);
                if (!(least * Roots(arch, key, s).Cycles > LowerOf(now[s]))) EnergySearchesLeft++;
                else if (!Stopped && (given is null || given >= EnergyFirstCap))
                {
                    long before = Searches;
                    // Its energy bound times the least cycles is the shape's EDP floor: it passes the target at this energy.
                    double enough = Enough(target, Total() - Shapes[s].Count * LowerOf(now[s]), Shapes[s].Count) / Roots(arch, key, s).Cycles;
                    e = Solve(arch, key, s, Objective.Energy, relaxation: true, given / 2, enough: enough);
                    if (Searches > before) EnergySearchesForEdp++;
                    if (e.Status == SolveStatus.Infeasible) { now[s] = e; return now; }
                }
            }
            now[s] = Known(arch, key, s, Objective.Edp);
        }
        // The EDP searches of a set whose sum after its energy searches is far below the target are left (branch cd19s,
        // EdpRiseMargin): they raise a set's bound little past the energy floors (cd19m), so they would not decide it.
        if (finite && EdpRiseMargin is { } margin && !(Total() > target) && Total() * (1 + margin) <= target)
        {
            SetsLeftFar++;
            // Counted only when some EDP search could still have decided the set (else the loop below would leave them too).
            if (Decidable())
            {
                int open = now.Count(r => !Final(r));
                EdpSearchesLeftFar += open;
                EdpSearchesLeft += open;
            }
            return Unsearched(now);
        }
        foreach (int s in Enumerable.Range(0, n).Where(s => !Final(now[s])).OrderByDescending(Rise).ThenBy(s => s).ToList())
        {
            if (Final(now[s])) continue;
            if (finite && Total() > target) { Skipped++; continue; }
            if (!Decidable()) { EdpSearchesLeft++; continue; }
            var r = Solve(arch, key, s, Objective.Edp, relaxation: true, cap, energyFirst: false, enough: Enough(target, Total() - Shapes[s].Count * LowerOf(now[s]), Shapes[s].Count));
            now[s] = r.Status == SolveStatus.Infeasible || LowerOf(r) >= LowerOf(now[s]) ? r : r with { Bound = LowerOf(now[s]) };
            if (r.Status == SolveStatus.Infeasible) return now;
        }
        return Unsearched(now);
    }

    // Results of shapes left without a mapping, marked as not searched.
    private static SolveResult[] Unsearched(SolveResult[] results)
        => [.. results.Select(r => r.Mapping is null && !Final(r) && r.Explanation == "not searched yet"
            ? r with { Explanation = "not searched: no search of it could have put this set above the cutoff, or the others already did" } : r)];

    private static bool Final(SolveResult r) => r.Status is SolveStatus.Optimal or SolveStatus.Infeasible;

    /// <summary>The sum over the shapes of their counts times what is known of their lower bounds on an architecture without searching (<see cref="Known"/>).</summary>
    public double KnownLower(Architecture arch, Objective objective)
    {
        double sum = 0;
        for (int s = 0; s < Shapes.Count; s++) sum += Shapes[s].Count * KnownLower(arch, s, objective);
        return sum;
    }

    /// <summary>What is known of a shape's lower bound on an architecture without searching (<see cref="Known"/>): its cached search's, the dominating architectures', the EDP floor.</summary>
    public double KnownLower(Architecture arch, int shape, Objective objective) => LowerOf(Known(arch, Key(arch), shape, objective));

    /// <summary>
    /// The sum over the shapes of their counts times the least value on an architecture of the mappings known valid there
    /// (its own searches' best, and those found on any architecture and carried, <see cref="Known"/>), no search run: the
    /// value of real mappings, so at least the architecture's optimum; infinity when some shape has none.
    /// </summary>
    public double KnownValue(Architecture arch, Objective objective)
    {
        string key = Key(arch);
        double sum = 0;
        for (int s = 0; s < Shapes.Count; s++)
        {
            if (Known(arch, key, s, objective).Best is not { } best) return double.PositiveInfinity;
            sum += Shapes[s].Count * best;
        }
        return sum;
    }

    /// <summary>
    /// A sum with each proved shape's mapping replaced by the canonical one: a search of the shape on the architecture
    /// capped at the shape's optimum that settles ties by the mappings' text (<see cref="TilingSearch.CanonicalTies"/>),
    /// which, when it finishes, returns the least text among all the mappings within the tie margin of the optimum, a
    /// function of the architecture, the shape and the objective alone. Each such search is counted in
    /// <see cref="CanonicalSearches"/> (not in <see cref="Searches"/>: it adds no knowledge of the optimum). A search that
    /// stops (<paramref name="cap"/>, the run's cancellation) keeps the sum's mapping.
    /// </summary>
    public LayerSum Canonical(Architecture arch, LayerSum sum, TimeSpan? cap = null)
    {
        var results = sum.Results.ToList();
        double value = 0, maxValue = 0;
        for (int s = 0; s < results.Count; s++)
        {
            var r = results[s];
            if (r is { Status: SolveStatus.Optimal, Best: { } optimum })
            {
                CanonicalSearches++;
                double floor = sum.Objective == Objective.Edp && Convention == CostConvention.Default ? EnergyFloor(arch, Key(arch), s) : 0;
                var c = new TilingSearch(new MapProblem(Shapes[s].Layer, arch, sum.Objective, Convention: Convention) { EnergyFloor = floor }, prune: true, seed: false,
                        ceiling: optimum * (1 + 2 * TieMargin)) { CanonicalTies = true }
                    .Solve(_limits with { TimeLimit = cap });
                if (c is { Status: SolveStatus.Optimal, Mapping: not null, Best: { } v } && v <= optimum * (1 + TieMargin))
                    results[s] = r = r with { Mapping = c.Mapping, Report = c.Report, Best = v, Bound = Math.Min(r.Bound, v) };
            }
        }
        return WithResults(sum, results);
    }

    // A sum with other results of the same shapes: its value and largest layer value taken again from them (a sum without a
    // value, some shape unmapped, keeps none).
    private LayerSum WithResults(LayerSum sum, List<SolveResult> results)
    {
        if (sum.Value is null) return sum with { Results = results };
        double value = 0, maxValue = 0;
        for (int s = 0; s < results.Count; s++)
        {
            value += Shapes[s].Count * results[s].Best!.Value;
            maxValue = Math.Max(maxValue, results[s].Best!.Value);
        }
        return sum with { Value = value, MaxValue = maxValue, Results = results };
    }

    /// <summary>Searches run by <see cref="Canonical"/> to choose a proved shape's mapping among its ties (not in <see cref="Searches"/>).</summary>
    public long CanonicalSearches { get; private set; }

    /// <summary>
    /// A sum of one architecture's shapes with each shape's mapping chosen again in the canonical order (<see cref="Precedes"/>)
    /// among the mappings met by now that are valid there and tie with it (<see cref="WithCarried"/>; a better one is not
    /// taken here, so the value stays the one the run compared): the same bounds and statuses, each value that of the
    /// mapping kept. No search is run or counted.
    /// </summary>
    public LayerSum Settle(Architecture arch, LayerSum sum)
    {
        string key = Key(arch);
        var results = sum.Results.Select((r, s) => WithCarried(r, Carried(arch, key, s, sum.Objective), arch) is var c && c.Best is { } v && r.Best is { } b
            && v >= b * (1 - TieMargin) ? c : r).ToList();
        return WithResults(sum, results);
    }

    private static double Gap(SolveResult r) => r.Best is { } b && b > 0 ? (b - LowerOf(r)) / b : double.PositiveInfinity;

    /// <summary>Shapes left unsearched by <see cref="Sum"/> because the others' bounds already exceeded its target.</summary>
    public long Skipped { get; private set; }

    /// <summary>
    /// What is known of a shape on an architecture without searching: its cached search, or a search not started (bound
    /// 0), with the bound raised by the searches on architectures that dominate it (<see cref="Strengthen"/>).
    /// </summary>
    private SolveResult Known(Architecture arch, string key, int shape, Objective objective)
    {
        var r = _cache.TryGetValue((key, shape, objective), out var c) ? c.Result
            : new SolveResult(SolveStatus.Unknown, null, null, null, 0, TimeSpan.Zero, 0, "exact", "not searched yet");
        r = WithCarried(r, Carried(arch, key, shape, objective), arch);
        if (Final(r)) return r;
        double bound = Math.Max(DominatingBound(arch, key, shape, objective), EdpFloor(arch, key, shape, objective));
        if (bound > LowerOf(r)) r = r with { Bound = bound };
        return Proved(r);
    }

    /// <summary>
    /// A result whose proved bound reaches its best mapping's value, marked OPTIMAL (the mapping is then an optimum: no
    /// mapping costs less than the bound, and this one costs it).
    /// </summary>
    private static SolveResult Proved(SolveResult r)
        => !Final(r) && r.Best is { } best && LowerOf(r) >= best
            ? r with { Status = SolveStatus.Optimal, Bound = best, Explanation = "proved by the bound of a search on an architecture that dominates this one" }
            : r;

    /// <summary>
    /// The least value, on an architecture, of the mappings the searches found for a shape and objective on any
    /// architecture, among those valid there (<see cref="ValidityChecker"/>; under the Timeloop convention also sayable in
    /// its format), with its report costed there; null when none is. A mapping valid on an architecture that this one
    /// dominates is always valid here and costs no more (docs/codesign.md, "Mappings carried between architectures");
    /// the others are kept when they happen to fit. Each mapping is valued once per architecture, in the order found
    /// (ties: the first).
    /// </summary>
    private Carry? Carried(Architecture arch, string key, int shape, Objective objective)
    {
        if (!_found.TryGetValue((shape, objective), out var found)) return null;
        var c = _carried.GetValueOrDefault((key, shape, objective)) ?? new Carry(0, null, null, double.PositiveInfinity);
        if (c.Valued < found.List.Count)
        {
            var began = _clock.Elapsed;
            CarriedValued += found.List.Count - c.Valued;
            var best = c;
            for (int i = c.Valued; i < found.List.Count; i++)
            {
                var (m, text) = found.List[i];
                if (ValueOn(arch, shape, m) is not { } report) continue;
                double v = report.Objective(objective);
                if (best.Mapping is null ? v < best.Value : Precedes(v, text, best.Value, best.Text)) best = new Carry(0, m, report, v, text);
            }
            _carried[(key, shape, objective)] = c = best with { Valued = found.List.Count };
            CarriedTime += _clock.Elapsed - began;
        }
        return c.Mapping is null ? null : c;
    }

    /// <summary>The distinct mappings the searches found so far for a shape and objective, on any architecture, in the order found.</summary>
    public IReadOnlyList<Mapping> Found(int shape, Objective objective)
        => _found.TryGetValue((shape, objective), out var found) ? found.List.Select(x => x.Mapping).ToList() : [];

    /// <summary>
    /// A mapping of a shape costed on an architecture when it is valid there (<see cref="ValidityChecker"/>; under the
    /// Timeloop convention also sayable in its format), by the run's convention; null when it is not.
    /// </summary>
    public CostReport? ValueOn(Architecture arch, int shape, Mapping mapping)
    {
        var layer = Shapes[shape].Layer;
        if (ValidityChecker.Check(layer, arch, mapping).Count > 0) return null;
        if (Convention == CostConvention.Timeloop && Formulation.Specs.TimeloopMapping.Inexpressible(mapping, arch) is not null) return null;
        return Conventions.Evaluate(Convention, layer, arch, mapping);
    }

    /// <summary>
    /// A result with the carried mapping as its best when that comes first in the canonical order (<see cref="Precedes"/>):
    /// better, or a tie of lesser text, or the result has none. A finished search keeps its status and proof (a tie of
    /// its optimum is an optimum too); an infeasible one is kept as it is.
    /// </summary>
    private static SolveResult WithCarried(SolveResult r, Carry? c, Architecture arch)
    {
        if (r.Status == SolveStatus.Infeasible || c?.Mapping is not { } m) return r;
        if (r.Mapping is { } own && r.Best is { } b && !Precedes(c.Value, c.Text, b, Text(own, arch))) return r;
        if (r.Status == SolveStatus.Optimal)
            return r.Best is { } optimum && c.Value <= optimum * (1 + TieMargin) ? r with { Mapping = m, Report = c.Report, Best = c.Value, Bound = Math.Min(r.Bound, c.Value) } : r;
        return r with { Status = SolveStatus.Feasible, Mapping = m, Report = c.Report, Best = c.Value, Explanation = "the best mapping is one found on another architecture, valid here" };
    }

    /// <summary>Mappings valued on an architecture other than their own (<see cref="Carried"/>), and the time that took.</summary>
    public long CarriedValued { get; private set; }

    /// <summary>The time spent valuing carried mappings.</summary>
    public TimeSpan CarriedTime { get; private set; }

    /// <summary>Shapes proved on an architecture without searching there: a carried mapping (or a stopped search's) reached by a dominating architecture's bound.</summary>
    public long ProvedUnsearched { get; private set; }

    /// <summary>Searches capped from the start by a mapping found on another architecture (its value as their ceiling).</summary>
    public long CarriedSeeds { get; private set; }

    /// <summary>
    /// For EDP under the default convention, a bound from the energy searches: every mapping's energy is at least the best
    /// energy bound known for the shape on this architecture (its own energy search's, or a dominating architecture's, and
    /// at least the energy search's root bound, <see cref="TilingSearch.EnergyFloor(MapProblem)"/>, known without a search)
    /// and its cycles at least the least cycles of every mapping (<see cref="TilingSearch.CycleFloor(MapProblem)"/>), so its
    /// EDP is at least their product. 0 otherwise.
    /// </summary>
    private double EdpFloor(Architecture arch, string key, int shape, Objective objective)
    {
        if (objective != Objective.Edp || Convention != CostConvention.Default) return 0;
        var (root, cycles) = Roots(arch, key, shape);
        double energy = Math.Max(EnergyFloor(arch, key, shape), root);
        return energy > 0 ? energy * cycles : 0;
    }

    /// <summary>
    /// A shape's energy and cycle floors on an architecture without a search (the energy search's root bound; the least over
    /// the spatial plans of the latency search's bound at each plan's root, <see cref="CycleFloor"/>), computed once per
    /// architecture and shape.
    /// </summary>
    private (double Energy, double Cycles) Roots(Architecture arch, string key, int shape)
    {
        if (_roots.TryGetValue((key, shape), out var known)) return known;
        var problem = new MapProblem(Shapes[shape].Layer, arch, Objective.Energy, Convention: Convention);
        return _roots[(key, shape)] = (TilingSearch.EnergyFloor(problem), CycleFloor(problem));
    }

    /// <summary>
    /// The least cycles of every mapping of a problem without a search (branch cd19z): the least over its spatial plans of
    /// each plan's latency bound at its root (<see cref="TilingSearch.PlanCycleFloor"/>: the plan's exact compute cycles and
    /// the bandwidth cycles every mapping of it has), at least the latency search's root bound
    /// (<see cref="TilingSearch.CycleFloor(MapProblem)"/>, which takes the largest spatial fanout whether or not a plan reaches
    /// it). Every mapping has one spatial plan, so its cycles are at least its plan's bound. On ResNet-50 over eyeriss the
    /// plans' floor is the least cycles of a mapping on every shape tried, 1.5 x the root's on the 1 x 1 shapes.
    /// </summary>
    public static double CycleFloor(MapProblem problem)
        => new TilingSearch(problem with { Caps = null }, prune: true, seed: false).PlanCycleFloor(SearchLimits.None);

    private readonly Dictionary<(string Arch, int Shape), (double Energy, double Cycles)> _roots = [];

    /// <summary>The best proved bound on a shape's energy on an architecture: its own energy search's, or a dominating architecture's (0 when none).</summary>
    private double EnergyFloor(Architecture arch, string key, int shape) => LowerOf(Known(arch, key, shape, Objective.Energy));

    /// <summary>A search's proved lower bound on its layer's optimum: the optimum when it finished, else its bound (at least 0).</summary>
    public static double LowerOf(SolveResult r) => r.Status == SolveStatus.Optimal && r.Best is { } optimum ? optimum : Math.Max(0, r.Bound);

    /// <summary>
    /// One shape (an index into <see cref="Shapes"/>) searched on a point's architecture, from the cache when it was
    /// searched there long enough; <paramref name="cap"/> caps the search (null: the time left).
    /// </summary>
    public SolveResult Search(Architecture arch, int shape, Objective objective, TimeSpan? cap = null) => Solve(arch, Key(arch), shape, objective, relaxation: false, cap);

    private SolveResult Solve(Architecture arch, string key, int shape, Objective objective, bool relaxation, TimeSpan? cap, long? nodes = null, bool energyFirst = true,
        double enough = double.PositiveInfinity)
    {
        // Proved already by what is known (a carried or stopped search's mapping reached by a dominating bound): no search.
        if (!(_cache.TryGetValue((key, shape, objective), out var had) && Final(had.Result)) && Known(arch, key, shape, objective) is var known && Final(known))
        {
            ProvedUnsearched++;
            return known;
        }
        double floor = 0;
        if (energyFirst && objective == Objective.Edp && Convention == CostConvention.Default && relaxation && nodes is null && !Stopped && Given(relaxation, cap) is var given
            && (given is null || given >= EnergyFirstCap) && !Cached(key, shape, objective, given))
        {
            // On a relaxation, the energy search first, with half the time: its bound is a floor on every plan's energy in the
            // EDP search (MapProblem.EnergyFloor), which gets the time it leaves (at least the other half), and on every
            // architecture the relaxation dominates. Not on points: there the EDP search keeps all its time for the value
            // (measured: with half of it, the best point's EDP came out 5 % worse in `bench codesign 300 2`).
            var began = _clock.Elapsed;
            long before = Searches;
            Solve(arch, key, shape, Objective.Energy, relaxation, given / 2);
            if (Searches > before) EnergySearchesForEdp++;
            if (given is { } whole) cap = whole - (_clock.Elapsed - began) is var rest && rest > whole / 2 ? rest : whole / 2;
        }
        if (objective == Objective.Edp && Convention == CostConvention.Default) floor = EnergyFloor(arch, key, shape);
        return Strengthen(arch, key, shape, objective, Run(arch, key, shape, objective, relaxation, cap, floor, nodes, enough));
    }

    /// <summary>
    /// The one formula of a search's stop (branch cd19o): the bound on one shape (of <paramref name="count"/> layers) at which
    /// a sum passes its <paramref name="target"/> when the other shapes' bounds sum to <paramref name="others"/>, a hair above
    /// (a relative 1e-10 of the target) so that the sum is then strictly above it. A search given it as its ceiling prunes every
    /// node whose bound reaches it and, when nothing is below it, proves exactly that bound: the node's key then passes its
    /// target (the node is dropped), and a longer search could only raise a key that already drops it. Infinite without a
    /// finite target. Used by every sum with a target: a set's bound (its energy searches at this over the shape's least
    /// cycles, <see cref="EdpFloor"/>; its EDP searches) and a point's.
    /// </summary>
    public static double Enough(double target, double others, int count)
        => double.IsFinite(target) && count > 0 ? (target * (1 + 1e-10) - others) / count : double.PositiveInfinity;

    /// <summary>
    /// Whether the timed searches seed themselves with the heuristics (<see cref="TilingSearch"/>'s <c>seed</c>; default on).
    /// Off for the tests that must see what a search proves by itself: on small shapes the seeds are the optima, and a seed
    /// at the optimum turns any bound claimed at or above it into a proof at the seed's value (<see cref="Proved"/>), so
    /// that an overclaimed bound would not show (docs/codesign.md, "A search stops at the bound that decides its node").
    /// </summary>
    public bool Seeded { get; init; } = true;

    /// <summary>Whether a search with a target stops at the bound that decides its node (<see cref="Enough"/>; default on; off for comparisons).</summary>
    public bool StopAtEnough { get; set; } = true;

    /// <summary>Searches that ended at the bound deciding their node (<see cref="Enough"/>): nothing below it, so the node passes its target.</summary>
    public long StoppedAtEnough { get; private set; }

    /// <summary>The least cap on an EDP search on a relaxation for which an energy search of the same shape is run first, with half of it (<see cref="Solve"/>): shorter searches (the quick bounds) take the energy bounds already known.</summary>
    public static readonly TimeSpan EnergyFirstCap = TimeSpan.FromSeconds(1);

    /// <summary>EDP searches whose bound was raised above their own and the dominating architectures' by the energy bound times the least cycles (<see cref="EdpFloor"/>).</summary>
    public long EdpFloorBounds { get; private set; }

    /// <summary>Energy searches run to give an EDP search its energy floor (counted in <see cref="Searches"/> too).</summary>
    public long EnergySearchesForEdp { get; private set; }

    /// <summary>
    /// A search's result with its bound raised to the best bound proved on an architecture that dominates this one
    /// (<see cref="Dominates"/>): the optimum there is at most the optimum here, so each of its lower bounds holds here
    /// too. When that bound reaches the best mapping found here, the search is proved (OPTIMAL) without running longer.
    /// </summary>
    private SolveResult Strengthen(Architecture arch, string key, int shape, Objective objective, SolveResult r)
    {
        r = WithCarried(r, Carried(arch, key, shape, objective), arch);
        if (Final(r)) return r;
        double own = LowerOf(r), dominating = DominatingBound(arch, key, shape, objective), floor = EdpFloor(arch, key, shape, objective);
        double bound = Math.Max(own, Math.Max(dominating, floor));
        if (bound <= own) return Proved(r);
        if (dominating > own) DominatedBounds++;
        if (floor > Math.Max(own, dominating)) EdpFloorBounds++;
        return Proved(r with { Bound = bound });
    }

    /// <summary>The best bound proved for a shape on any architecture searched that dominates this one (0 when none).</summary>
    private double DominatingBound(Architecture arch, string key, int shape, Objective objective)
    {
        double bound = 0;
        if (!_searched.TryGetValue((shape, objective), out var others)) return bound;
        foreach (var (other, otherKey) in others)
            if (otherKey != key && _cache.TryGetValue((otherKey, shape, objective), out var c) && c.Result.Status != SolveStatus.Infeasible && Dominates(other, arch))
                bound = Math.Max(bound, LowerOf(c.Result));
        return bound;
    }

    /// <summary>
    /// Whether every mapping valid on <paramref name="b"/> is valid on <paramref name="a"/> with the same counts and no
    /// more energy or cycles there: the same levels (names, word sizes, tensors kept, windows), each capacity and
    /// bandwidth at least b's (unbounded counts as largest), each energy per access at most b's, each fanout at least
    /// b's along X and along Y with the same network (multicast, reduction, hop energy, topology, forwarding), the same
    /// MAC energy and at least b's MACs a cycle (the argument of docs/codesign.md, "Why the relaxation bounds every
    /// point of its set"). Then a's optimum is at most b's, for energy, cycles and their product.
    /// </summary>
    public static bool Dominates(Architecture a, Architecture b)
    {
        if (a.Levels.Count != b.Levels.Count || a.Compute.MacEnergy != b.Compute.MacEnergy || a.Compute.MacsPerCycle < b.Compute.MacsPerCycle) return false;
        static bool AtLeast(double? x, double? y) => x is not { } u || (y is { } v && u >= v);
        for (int l = 0; l < a.Levels.Count; l++)
        {
            StorageLevel x = a.Levels[l], y = b.Levels[l];
            if (x.Name != y.Name || x.WordBits != y.WordBits || !x.Keeps.SetEquals(y.Keeps) || !Equals(x.Window, y.Window)) return false;
            if (!AtLeast(x.Capacity, y.Capacity) || !AtLeast(x.ReadBandwidth, y.ReadBandwidth) || !AtLeast(x.WriteBandwidth, y.WriteBandwidth)) return false;
            if (x.ReadEnergy > y.ReadEnergy || x.WriteEnergy > y.WriteEnergy) return false;
            Fanout f = x.Fanout, g = y.Fanout;
            if (f.X < g.X || f.Y < g.Y || f.Multicast != g.Multicast || f.SpatialReduction != g.SpatialReduction || f.HopEnergy != g.HopEnergy
                || f.Topology != g.Topology || f.Forwarding != g.Forwarding) return false;
        }
        return true;
    }

    /// <summary>The time a search would be given: the cap (on a relaxation by default the bound time), at most the time left; null for none.</summary>
    private TimeSpan? Given(bool relaxation, TimeSpan? cap)
    {
        TimeSpan? left = _limits.TimeLimit is { } t ? t - _clock.Elapsed : null;
        var limit = cap ?? (relaxation ? _boundTime : null);
        if (limit is { } c) left = left is { } l && l < c ? l : c;
        return left;
    }

    /// <summary>Whether a search is answered from the cache when given <paramref name="left"/>: it finished there, or was given no limit or at least as much time.</summary>
    private bool Cached(string key, int shape, Objective objective, TimeSpan? left)
        => _cache.TryGetValue((key, shape, objective), out var cached) && Answers(cached, left);

    /// <summary>Whether a cached search answers one given <paramref name="left"/>: it finished, or was given no limit or at least as much time.</summary>
    private static bool Answers((SolveResult Result, TimeSpan? Given) cached, TimeSpan? left)
        => cached.Result.Status is SolveStatus.Optimal or SolveStatus.Infeasible || cached.Given is null || left is { } want && want <= cached.Given;

    /// <summary>
    /// One search run, or answered from the cache. With <paramref name="nodes"/> (a node-limited search: the quick bounds of
    /// the dive, <see cref="Codesign"/>), at most that many nodes on one thread, unseeded (the seeding heuristics run on a
    /// clock), within only the run's time limit: every such search, and so what it finds and proves, is the same whatever
    /// the machine's load. It is answered by any search of the same key already run (each was given at least as much), and
    /// is cached as given no time, so that any timed search of the key runs again (keeping the better bound and mapping).
    /// </summary>
    private SolveResult Run(Architecture arch, string key, int shape, Objective objective, bool relaxation, TimeSpan? cap, double energyFloor = 0, long? nodes = null,
        double enough = double.PositiveInfinity)
    {
        var left = nodes is null ? Given(relaxation, cap) : Given(relaxation: false, null);
        bool had = _cache.TryGetValue((key, shape, objective), out var cached);
        if (had && (nodes is not null || Answers(cached, left)))
        {
            CacheHits++;
            return cached.Result;
        }
        var layer = Shapes[shape].Layer;
        if (Stopped || left is { } z && z <= TimeSpan.Zero)
            return had ? cached.Result : new SolveResult(SolveStatus.Unknown, null, null, null, 0, TimeSpan.Zero, 0, "exact", "the time limit was reached before this search started");
        _progress?.Phase($"{Searches} layer searches; {(relaxation ? "bounding" : "mapping")} {layer.Name} ({Objectives.Name(objective)}) on {arch.Name}");
        // A mapping found on another architecture and valid here caps the search from the start (its ceiling, a hair above
        // its value so that the search still reaches every mapping that ties with it): the search still seeds itself with
        // the heuristics (a carried mapping can be far worse), and one that finishes returns the mapping it would have
        // returned without the cap. A stopped search that found nothing better takes the carried mapping (Strengthen).
        var carried = Carried(arch, key, shape, objective);
        if (carried is not null) CarriedSeeds++;
        var problem = new MapProblem(layer, arch, objective, Convention: Convention) { EnergyFloor = energyFloor };
        var descent = nodes is null ? null : DescentSeed(problem, left);
        double ceiling = carried is null ? double.PositiveInfinity : carried.Value * (1 + 1e-9);
        // The bound that decides the node (branch cd19o): a search whose bound reaches it puts the sum above its target, and
        // nothing it would prove beyond is used, so it stops there (its ceiling; not the dive's node-limited searches).
        bool stops = StopAtEnough && nodes is null && enough > 0 && enough < ceiling;
        if (stops) ceiling = enough;
        // Node-limited without the descent's mapping: unseeded (the search's own seeding would sample on a clock).
        var r = new TilingSearch(problem, prune: true, seed: (nodes is null && Seeded) || descent is not null, incumbent: descent,
                ceiling: ceiling) { NodeLimit = nodes ?? long.MaxValue }
            .Solve(_limits with { TimeLimit = left, Threads = nodes is null ? _limits.Threads : 1 });
        // Ended at that bound (nothing below it): what it proved is all the node needed; cached as given no time, so that a
        // later search of the key for its own sake runs again (keeping the better bound and mapping).
        stops &= !Final(r) && LowerOf(r) >= enough;
        if (stops) StoppedAtEnough++;
        if (r.Mapping is { } found)
        {
            if (!_found.TryGetValue((shape, objective), out var list)) _found[(shape, objective)] = list = ([], []);
            var text = Text(found, arch);
            if (list.Texts.Add(text)) list.List.Add((found, text));
        }
        if (relaxation) BoundSearches++; else PointSearches++;
        if (had)
        {
            Refinements++;
            // A longer search that stopped keeps the better of the two proved bounds and the better mapping found.
            if (r.Status is not (SolveStatus.Optimal or SolveStatus.Infeasible))
            {
                if (cached.Result is { Best: { } ob, Mapping: { } om } && (r.Best is not { } nb || r.Mapping is not { } nm || Precedes(ob, Text(om, arch), nb, Text(nm, arch)))) r = r with { Status = SolveStatus.Feasible, Mapping = cached.Result.Mapping, Report = cached.Result.Report, Best = ob };
                if (cached.Result.Bound > r.Bound) r = r with { Bound = cached.Result.Bound };
            }
        }
        if (!had)
        {
            if (!_searched.TryGetValue((shape, objective), out var list)) _searched[(shape, objective)] = list = [];
            list.Add((arch, key));
        }
        _cache[(key, shape, objective)] = (r, nodes is null && !stops ? left : TimeSpan.Zero);
        SearchDone?.Invoke();
        return r;
    }

    /// <summary>
    /// The seed of a node-limited search: the bottom-up descent's mapping (<see cref="Descent"/>, run without a clock: the
    /// same mapping whatever the load), in place of the search's own seeding, whose sampling runs on one. Null when the
    /// descent finds none (the search then starts unseeded).
    /// </summary>
    private Mapping? DescentSeed(MapProblem problem, TimeSpan? left)
    {
        try { return new Descent(problem).Solve(_limits with { TimeLimit = left, Threads = 1 }).Mapping; }
        catch (InvalidOperationException) { return null; }
    }

    /// <summary>A text that two architectures share exactly when every number a search reads is equal.</summary>
    private static string Key(Architecture a)
    {
        static string N(double? v) => v is { } x ? x.ToString("R", CultureInfo.InvariantCulture) : "-";
        var parts = a.Levels.Select(l => $"{l.Name}:{l.Capacity}:{N(l.ReadEnergy)}:{N(l.WriteEnergy)}:{N(l.ReadBandwidth)}:{N(l.WriteBandwidth)}:{l.Fanout.X}x{l.Fanout.Y}:{N(l.Fanout.HopEnergy)}");
        return string.Join("|", parts) + $"|{N(a.Compute.MacEnergy)}:{a.Compute.MacsPerCycle}";
    }
}

/// <summary>What a co-design run proved.</summary>
public enum CodesignStatus
{
    /// <summary>No point of the declared space, each layer mapped optimally, is better (within the budgets).</summary>
    Optimal,
    /// <summary>A point meeting the budgets was found, but the run stopped before proving it best.</summary>
    Feasible,
    /// <summary>No point of the space meets the budgets.</summary>
    Infeasible,
    /// <summary>The run stopped before finding any point known to meet the budgets.</summary>
    Unknown,
}

/// <summary>One design point's figures: every metric known for it (exact values when <see cref="Proved"/>).</summary>
public sealed record PointFigures(int Point, string Description, Architecture Arch, IReadOnlyDictionary<DesignMetric, double> Values, bool Proved,
    IReadOnlyDictionary<Objective, LayerSum> Sums);

/// <summary>
/// The answer of a co-design minimization. <see cref="Over"/>, for <see cref="CodesignStatus.Infeasible"/>: how far the
/// point closest to meeting the named budget is from it (its value over the limit; infinity when no point could be
/// named), so that the merge of shards names the closest point of all of them. <see cref="BoundStrict"/>: every point
/// left is strictly above <see cref="Bound"/> (the bound is a cutoff given from outside, which pruned them).
/// <see cref="PointsOpen"/>: the points not yet ruled out when the run stopped (those of the sets still queued and the
/// points not proved, the best one's included); <see cref="PointsEvaluated"/>: the points mapped in full (every shape
/// given a mapping).
/// </summary>
public sealed record CodesignResult(
    CodesignStatus Status,
    DesignMetric Objective,
    PointFigures? Best,
    double Bound,
    string? Explanation,
    int PointsOpen,
    int PointsEvaluated,
    long Searches,
    long FullSweep,
    TimeSpan Elapsed,
    double Over = double.PositiveInfinity,
    bool BoundStrict = false)
{
    /// <summary>The best value found, if any.</summary>
    public double? BestValue => Best?.Values.TryGetValue(Objective, out var v) == true ? v : null;

    /// <summary>The relative gap in percent between the best value and the bound; 0 when optimal.</summary>
    public double? GapPercent => BestValue is { } b ? (Status == CodesignStatus.Optimal || b <= 0 ? 0 : Math.Max(0, (b - Bound) / b * 100)) : null;
}

/// <summary>
/// One kind of node evaluation of a co-design run, summed: the nodes evaluated, how many of them were dropped at once
/// (ruled out, or their key above the cutoff), the exact layer searches run, the shapes left unsearched because the
/// others' bounds already exceeded the cutoff, and the wall time.
/// </summary>
public sealed record StageTally(int Nodes, int Dropped, long Searches, long Skipped, TimeSpan Time);

/// <summary>
/// One half the dive evaluated: its points, its key (a lower bound), its tie-break value and its estimate (<see cref="Codesign.Dive"/>; null when none),
/// and <paramref name="Own"/>, what the estimate would be from the half's own mappings alone (the other mappings found are what brings it lower).
/// </summary>
public sealed record DiveHalf(IReadOnlyList<int> Points, double Key, double Tie, double? Estimate, double? Own = null);

/// <summary>
/// One step of the dive: the halves evaluated and the index of the one it descended into; <paramref name="Left"/>, the halves
/// left unsearched (<see cref="Codesign.LeaveHopelessHalves"/>), each with its key known without a search and its estimate
/// from the mappings found before.
/// </summary>
public sealed record DiveStep(IReadOnlyList<DiveHalf> Halves, int Chosen, IReadOnlyList<DiveHalf> Left)
{
    /// <summary>A step with no half left.</summary>
    public DiveStep(IReadOnlyList<DiveHalf> halves, int chosen) : this(halves, chosen, []) { }
}

/// <summary>A node of a co-design run left open: its points and the sums of its last evaluation (null when never evaluated itself).</summary>
public sealed record OpenNode(IReadOnlyList<int> Points, IReadOnlyDictionary<Objective, LayerSum>? Sums);

/// <summary>An exact Pareto front of a mapped metric against a static one (energy against area).</summary>
public sealed record ParetoResult(CodesignStatus Status, DesignMetric First, DesignMetric Second, IReadOnlyList<PointFigures> Front, string? Explanation, long Searches, long FullSweep, TimeSpan Elapsed,
    double Over = double.PositiveInfinity);

/// <summary>
/// Hardware co-design over a declared design space (docs/codesign.md): the point that minimizes a metric of the
/// workload (each layer mapped optimally by the exact search) under budgets, proven by a best-first branch and bound
/// over sets of points whose lower bounds are the optima of their relaxations (<see cref="DesignSpace.Relax"/>), and
/// exact Pareto fronts by repeated minimization. <see cref="Sweep"/> and <see cref="SweepPareto"/> are the exhaustive
/// references the tests compare with.
/// </summary>
public sealed class Codesign
{
    private readonly DesignSpace _space;
    private readonly LayerEvaluator _eval;
    private readonly Dictionary<(int, DesignMetric), double> _static = [];

    private readonly TimeSpan? _quick;
    private readonly long? _quickNodes;
    private readonly TimeSpan? _limit;

    /// <summary>The cap on each search for a set's first (quick) bound when one is given in seconds (<c>--quick-bound-time</c>).</summary>
    public static readonly TimeSpan DefaultQuickTime = TimeSpan.FromSeconds(0.25);

    /// <summary>
    /// The nodes each search of the dive explores by default (on one thread, unseeded: <see cref="LayerEvaluator.Sum"/>'s
    /// <c>nodes</c>): the quick bounds of the root and the dive's halves, and the dive's points before the longer search of the
    /// one it lands on. A count, not a clock, so that where the dive lands does not depend on the machine's load
    /// (docs/codesign.md, "Where the dive goes").
    /// </summary>
    public const long DefaultQuickNodes = 2_000;

    /// <summary>
    /// Creates a co-design run of a workload over a space: <paramref name="limits"/>' time limit is for the whole run,
    /// <paramref name="boundTime"/> caps each search on a relaxation (null: none). The dive's searches (the quick bounds of
    /// the root and its halves, its points before the longer search) explore <paramref name="quickNodes"/> nodes each
    /// (default <see cref="DefaultQuickNodes"/>) on one thread; given <paramref name="quickTime"/> instead, they are capped
    /// at that time (at most the bound time; a point at the bound time), as before (their landing then depends on the load).
    /// </summary>
    public Codesign(DesignSpace space, Workload workload, SearchLimits limits, TimeSpan? boundTime = null, TimeSpan? quickTime = null,
        CostConvention convention = CostConvention.Default, long? quickNodes = null)
    {
        _space = space;
        _eval = new LayerEvaluator(workload, limits, boundTime, convention) { EdpRiseMargin = DefaultEdpRiseMargin };
        var q = quickTime ?? DefaultQuickTime;
        _quick = boundTime is { } b && b < q ? b : q;
        _quickNodes = quickTime is null || quickNodes is not null ? quickNodes ?? DefaultQuickNodes : null;
        _limit = limits.TimeLimit;
    }

    /// <summary>The evaluator (its counts of searches).</summary>
    public LayerEvaluator Evaluator => _eval;

    private readonly SortedDictionary<int, PointFigures> _mapped = [];
    private readonly Dictionary<string, StageTally> _stages = [];

    /// <summary>
    /// After a minimization stopped with sets or points open: the node whose key is the bound (the least key; ties: the
    /// lowest point number), its points and the sums of its last evaluation (null when it was never evaluated itself),
    /// to compare shape by shape with the best point's (where the gap is).
    /// </summary>
    public OpenNode? Least { get; private set; }

    /// <summary>Where a run's time went: per kind of node evaluation, in the order first met (docs/codesign.md, "Counts").</summary>
    public IReadOnlyDictionary<string, StageTally> Stages => _stages;

    private void Tally(string stage, bool dropped, long searches, long skipped, TimeSpan time)
    {
        var t = _stages.GetValueOrDefault(stage) ?? new StageTally(0, 0, 0, 0, TimeSpan.Zero);
        _stages[stage] = new StageTally(t.Nodes + 1, t.Dropped + (dropped ? 1 : 0), t.Searches + searches, t.Skipped + skipped, t.Time + time);
    }

    /// <summary>Every point evaluated on its own so far (its layers searched on its architecture), with its latest figures, by point number.</summary>
    public IReadOnlyDictionary<int, PointFigures> Mapped => _mapped;

    /// <summary>The objective a metric's layers are mapped for (power and the static metrics: energy).</summary>
    public static Objective MappedFor(DesignMetric m) => m switch
    {
        DesignMetric.Latency or DesignMetric.LayerLatency => Objective.Latency,
        DesignMetric.Edp => Objective.Edp,
        _ => Objective.Energy,
    };

    /// <summary>The objectives every point must be mapped for to judge this objective and these budgets.</summary>
    public static IReadOnlyList<Objective> Needed(DesignMetric objective, IEnumerable<Budget> budgets)
    {
        var list = new List<Objective>();
        if (!DesignMetrics.IsStatic(objective)) list.Add(MappedFor(objective));
        foreach (var b in budgets)
        {
            if (DesignMetrics.IsStatic(b.Metric)) continue;
            var o = b.Metric == DesignMetric.Power ? MappedFor(objective) : MappedFor(b.Metric);
            if (!list.Contains(o)) list.Add(o);
        }
        return list;
    }

    /// <summary>Exact layer searches a sweep of every point would run for this objective and these budgets.</summary>
    public long FullSweep(DesignMetric objective, IEnumerable<Budget> budgets) => FullSweep(objective, budgets, _space.Count);

    /// <summary>Exact layer searches a sweep of <paramref name="points"/> points (a shard's) would run for this objective and these budgets.</summary>
    public long FullSweep(DesignMetric objective, IEnumerable<Budget> budgets, int points)
        => (long)points * _eval.Shapes.Count * Math.Max(1, Needed(objective, budgets).Count);

    private double Static(DesignMetric m, int point)
    {
        if (!_static.TryGetValue((point, m), out var v)) _static[(point, m)] = v = _space.Static(m, point);
        return v;
    }

    private sealed class Node(List<int> points, double key, double tie, bool evaluated)
    {
        public List<int> Points { get; } = points;
        public double Key { get; set; } = key;
        public double Tie { get; set; } = tie;
        public int MinIndex { get; } = points.Min();
        public bool Evaluated { get; set; } = evaluated;
        public PointFigures? Figures { get; set; }
        /// <summary>The sums of the node's last evaluation, per mapping objective.</summary>
        public IReadOnlyDictionary<Objective, LayerSum>? Sums { get; set; }
        /// <summary>0: evaluated with the short search times (quick bounds, points mapped with a cap); 1: with the full ones.</summary>
        public int Stage { get; set; }
        /// <summary>Every search of the node's last evaluation finished (its key cannot grow by searching longer).</summary>
        public bool Proved { get; set; }
    }

    private sealed class Violations
    {
        public double Ratio = double.PositiveInfinity;
        public string? Text;
        /// <summary>The budget a set of points broke by its lower bound (no single point named yet).</summary>
        public Budget? SetBudget;

        public void Add(double ratio, string text, Budget? setBudget = null)
        {
            if (ratio < Ratio || Text is null) (Ratio, Text, SetBudget) = (ratio, text, setBudget);
        }
    }

    /// <summary>
    /// The point of <paramref name="candidates"/> (all points when null) with the least objective among those meeting
    /// every budget; ties go to the least <paramref name="tieBreak"/> (a static metric), then the lower point number.
    /// <paramref name="cutoff"/>: the value of a point known elsewhere (another shard's best); sets whose lower bound is
    /// above it are dropped like those above the run's own best. When nothing at or below it is left, the result is
    /// UNKNOWN with the cutoff as a strict bound (<see cref="CodesignResult.BoundStrict"/>) and no point open.
    /// </summary>
    public CodesignResult Minimize(DesignMetric objective, IReadOnlyList<Budget> budgets, IReadOnlyList<int>? candidates = null, DesignMetric tieBreak = DesignMetric.Area,
        double? cutoff = null)
    {
        var start = _eval.Elapsed;
        long searchesBefore = _eval.Searches;
        candidates ??= Enumerable.Range(0, _space.Count).ToList();
        var statics = budgets.Where(b => DesignMetrics.IsStatic(b.Metric)).ToList();
        var dynamics = budgets.Where(b => !DesignMetrics.IsStatic(b.Metric)).ToList();
        var needed = Needed(objective, budgets);
        long full = FullSweep(objective, budgets);
        CodesignResult Done(CodesignStatus status, PointFigures? best, double bound, string? why, int open, int evaluated, double over = double.PositiveInfinity, bool strict = false)
            => new(status, objective, best, bound, why, open, evaluated, _eval.Searches - searchesBefore, full, _eval.Elapsed - start, over, strict);

        var feasible = candidates.Where(p => statics.All(b => b.Allows(Static(b.Metric, p)))).ToList();
        if (feasible.Count == 0)
        {
            var (text, worst) = StaticInfeasibility(candidates, statics);
            return Done(CodesignStatus.Infeasible, null, double.PositiveInfinity, text, 0, 0, worst);
        }

        bool staticObjective = DesignMetrics.IsStatic(objective);
        var violations = new Violations();
        var queue = new PriorityQueue<Node, (double, double, int)>();
        var open = new List<Node>();
        var evaluated = new HashSet<int>();
        PointFigures? incumbent = null;
        double external = cutoff ?? double.PositiveInfinity;
        bool cut = false; // some node was dropped by the external cutoff only
        double Cutoff() => Math.Min(external, incumbent is not null ? incumbent.Values[objective] : double.PositiveInfinity);
        bool Keep(Node n)
        {
            if (n.Key <= Cutoff()) return true;
            if (n.Key > external) cut = true;
            return false;
        }
        // A node whose lower bound exceeds the value of a point found (mapped, meeting the budgets) cannot hold the optimum.
        void Push(Node n) { if (Keep(n)) queue.Enqueue(n, (n.Key, n.Tie, n.MinIndex)); }
        Node? Eval(Node n, int stage, bool proof = false, bool dive = false, double target = double.PositiveInfinity)
        {
            n.Stage = stage;
            var began = _eval.Elapsed;
            long searches = _eval.Searches, skipped = _eval.Skipped;
            var nodes = dive ? _quickNodes : null;
            var ready = Evaluate(n, objective, staticObjective, needed, dynamics, tieBreak, violations, proof, Math.Min(Cutoff(), target), Reference(incumbent, objective), nodes);
            if (n.Points.Count > 1 && stage >= 1)
                _fullBounds.Add(new FullBound(n.Points, _eval.Searches - searches, ready is null || ready.Key > Cutoff(), _eval.LastKeptStop?.Left, ready?.Key ?? double.PositiveInfinity, Cutoff(), _eval.LastKeptStop?.Known));
            Tally(n.Points.Count > 1 ? (stage == 0 ? "sets, quick bounds" : "sets, full bounds")
                : proof ? "the dive's point, searched longer" : nodes is not null ? "the dive's points, node-limited searches" : stage == 0 ? "points, capped searches" : "points, uncapped searches",
                ready is null || ready.Key > Cutoff(), _eval.Searches - searches, _eval.Skipped - skipped, _eval.Elapsed - began);
            if (n.Points.Count > 1 || ready?.Figures is not { } f) return ready;
            if (f.Sums.Values.All(x => x.Value is not null)) evaluated.Add(n.Points[0]);
            if (Meets(f, dynamics) && f.Values.TryGetValue(objective, out var v) && (incumbent is null || v < incumbent.Values[objective])) incumbent = f;
            return ready;
        }
        // A node evaluated: a point mapped in full and not proved goes to the open list; everything else to the queue.
        void Place(Node? ready)
        {
            if (ready is null) return;
            if (ready.Points.Count == 1 && !ready.Proved && ready.Stage >= 1) open.Add(ready);
            else Push(ready);
        }

        // The dive: from the root, evaluate both halves cheaply and descend into the one with the least key, down to
        // one point, which is mapped; the first incumbent, so that a run stopped early reports a point and a gap.
        // The dive stops at a set whose bound is above the external cutoff: it has nothing to find there.
        _dive.Clear();
        var dive = Eval(new Node(feasible, 0, 0, evaluated: false), 0, dive: true);
        bool longer = false;
        int steps = 0;
        while (dive is not null && dive.Points.Count > 1 && !_eval.Stopped && dive.Key <= external && !(DiveSteps is { } most && steps++ >= most))
        {
            // The halves are bounded in the order of their keys known without a search (the searches' root bounds, the
            // dominating architectures' bounds), least first; each later one with the least midpoint of the halves bounded
            // so far as its target: once its bound is above that, it cannot be the half taken (its midpoint is at least its
            // key), and its remaining searches are left (branch cd19l).
            var children = Split(dive.Points, ComputeFirst(objective)).Select(c => new Node(c, dive.Key, 0, evaluated: false)).ToList();
            var order = Enumerable.Range(0, children.Count).ToList();
            bool targeted = DiveTargets && !staticObjective && objective != DesignMetric.LayerLatency;
            if (targeted) order = [.. order.OrderBy(i => _eval.KnownLower(_space.Relax(children[i].Points), MappedFor(objective))).ThenBy(i => i)];
            var done = new Node?[children.Count];
            double least = double.PositiveInfinity;
            // The last step, between single points (branch cd19n): each point is searched at once for longer, as the point
            // the dive lands on was after node-limited searches of both: those searches are all run again by the longer
            // pass (the landing point's) or by the full evaluation of the other point when it is taken from the queue,
            // so they only chose between the two. The second point's searches stop once its sum is above the first's value.
            bool points = targeted && LastStepLonger && children.All(c => c.Points.Count == 1);
            var leftHalves = new List<(Node Node, DiveHalf Half)>();
            foreach (int i in order)
            {
                // A later half (a set) whose midpoint before its searches (its key known without a search, its estimate from
                // the mappings found so far) is above the target is left unsearched (branch cd19p): queued at its known key,
                // it goes to its full bound when taken, as a half bounded here and not taken would. Not a point: left, the
                // point's uncapped searches took 2.2 to 2.5 times as long without its node-limited mappings (docs/benchmarks.md, cd19p).
                if (targeted && LeaveHopelessHalves && !points && children[i].Points.Count > 1 && double.IsFinite(least) && Before(children[i], objective) is var (known, estimate) && (known + estimate) / 2 > least)
                {
                    children[i].Key = Math.Max(children[i].Key, known);
                    leftHalves.Add((children[i], new DiveHalf(children[i].Points, known, 0, estimate)));
                    LeftHalves++;
                    continue;
                }
                done[i] = points ? Eval(children[i], 0, proof: true) : Eval(children[i], 0, dive: true, target: targeted ? least : double.PositiveInfinity);
                if (targeted && done[i] is { } h && !(h.Key > least)) least = Math.Min(least, DiveEstimate(h, objective) is var (est, _) ? (h.Key + est) / 2 : h.Key);
            }
            longer |= points;
            var halves = done.Where(h => h is not null).Select(h => h!).ToList();
            if (halves.Count == 0) { dive = null; break; }
            var next = Landing(halves, objective, targeted ? least : double.PositiveInfinity, leftHalves.Select(x => x.Half).ToList());
            foreach (var h in halves) if (h != next) Place(h);
            foreach (var (n, _) in leftHalves) Push(n);
            dive = next;
        }
        // The dive's point is searched again at once for longer (at most half the time left, shared evenly by its
        // searches): its value comes closer to its optimum, the cutoff every set is compared with, and to the winner's
        // proof that OPTIMAL needs if it stays best. It stays at the first stage, so that it can still be proved in full.
        if (!longer && dive is { Points.Count: 1, Proved: false, Stage: 0 } && !_eval.Stopped) dive = Eval(dive, 0, proof: true);
        Place(dive);

        // Best first: the node of least key is evaluated cheaply when first taken, evaluated again with the full
        // search times when it is taken again unproved (only nodes that stay competitive pay for it), then split.
        while (queue.Count > 0)
        {
            if (_eval.Stopped) break;
            var node = queue.Dequeue();
            if (!Keep(node)) continue;
            // A split's child set goes straight to its full bound (branch cd19i): its parent was taken with the least key, so
            // the child, which starts from the parent's bounds (those of a dominating architecture), would be taken again
            // at once after a quick pass, which then only delays the full one. Points are first mapped with capped searches.
            // A set of two points goes to its points without a full bound (branch cd19n): its relaxation is nearly either
            // point (the larger capacities at the smaller energies), so its bound cost about what one point's evaluation
            // does (37 to 42 searches each on ResNet-50, energy and EDP) and, its optimum at most the lesser point's, did
            // not pass the cutoff in a trace under load (none of 6; docs/benchmarks.md, cd19n); each point's own searches
            // stop once its sum passes the cutoff.
            if (PairsToPoints && !staticObjective && node.Points.Count == 2 && !node.Proved)
            {
                foreach (var child in Split(node.Points, ComputeFirst(objective))) Push(new Node(child, node.Key, node.Tie, evaluated: false));
                Tally("sets of two points, to their points", false, 0, 0, TimeSpan.Zero);
                continue;
            }
            // A set whose relaxation has mappings known at or below the cutoff is split without a full bound of its own: that
            // bound, a lower bound on the relaxation's optimum, is at most their value and so cannot drop the set (branch cd19u).
            if (SplitKnownBelow && node.Points.Count > 1 && (!node.Evaluated || (!node.Proved && node.Stage < 1))
                && (objective is DesignMetric.Energy or DesignMetric.Latency or DesignMetric.Edp) && double.IsFinite(Cutoff())
                && _eval.KnownValue(_space.Relax(node.Points), MappedFor(objective)) is var relaxedKnown && relaxedKnown <= Cutoff())
            {
                _knownSplits.Add(new NearSplit(node.Points, relaxedKnown, Cutoff()));
                foreach (var child in Split(node.Points, ComputeFirst(objective))) Push(new Node(child, node.Key, node.Tie, evaluated: false));
                Tally("sets known below the cutoff, split without a bound", false, 0, 0, TimeSpan.Zero);
                continue;
            }
            // A set that holds a point known within a margin of the cutoff is split without a full bound of its own: a bound
            // could drop it only by rising above that margin (branch cd19r, SplitNearCutoff, sets of more than two points;
            // branch cd19t, PairsNearCutoff, sets of two points, which go to their points).
            if ((node.Points.Count > 2 ? SplitNearCutoff : PairsNearCutoff) is { } margin && node.Points.Count > 1 && (!node.Evaluated || (!node.Proved && node.Stage < 1))
                && (objective is DesignMetric.Energy or DesignMetric.Latency or DesignMetric.Edp) && double.IsFinite(Cutoff())
                && NearestKnown(node.Points, MappedFor(objective), Cutoff() * (1 + margin)) is var upper && upper <= Cutoff() * (1 + margin))
            {
                _nearSplits.Add(new NearSplit(node.Points, upper, Cutoff()));
                foreach (var child in Split(node.Points, ComputeFirst(objective))) Push(new Node(child, node.Key, node.Tie, evaluated: false));
                Tally(node.Points.Count > 2 ? "sets near the cutoff, split without a bound" : "sets of two points near the cutoff, to their points", false, 0, 0, TimeSpan.Zero);
                continue;
            }
            if (!node.Evaluated) { Place(Eval(node, node.Points.Count > 1 ? 1 : 0)); continue; }
            if (!node.Proved && node.Stage < 1) { Place(Eval(node, 1)); continue; }
            if (node.Points.Count == 1)
            {
                // A point whose searches stopped early may still hide something better: then the answer is not proved.
                if (!open.Any(o => o.Key <= node.Key)) return Done(CodesignStatus.Optimal, node.Figures, node.Key, null, 0, evaluated.Count);
                queue.Enqueue(node, (node.Key, node.Tie, node.MinIndex));
                break;
            }
            foreach (var child in Split(node.Points, ComputeFirst(objective))) Push(new Node(child, node.Key, staticObjective ? child.Min(p => Static(objective, p)) : node.Tie, evaluated: false));
        }
        open.RemoveAll(o => !Keep(o));
        var waiting = queue.UnorderedItems.Select(n => n.Element).Where(Keep).ToList();
        int evaluatedPoints = evaluated.Count;
        int left = waiting.Sum(n => n.Points.Count) + open.Count;
        if (waiting.Count == 0 && open.Count == 0 && incumbent is null && !cut)
        {
            var closest = Closest(violations, statics, feasible);
            return Done(CodesignStatus.Infeasible, null, double.PositiveInfinity, closest?.Text ?? violations.Text ?? "no point meets the budgets", 0, evaluatedPoints,
                closest?.Over ?? violations.Ratio);
        }
        double bound = Math.Min(waiting.Count > 0 ? waiting.Min(n => n.Key) : double.PositiveInfinity, open.Count > 0 ? open.Min(n => n.Key) : double.PositiveInfinity);
        Least = waiting.Concat(open).Where(n => n.Key == bound).OrderBy(n => n.MinIndex).Select(n => new OpenNode(n.Points, n.Sums)).FirstOrDefault();
        // Points dropped by the external cutoff are all strictly above it.
        bool strict = false;
        if (cut && external < bound) (bound, strict) = (external, true);
        if (incumbent is not null && incumbent.Values[objective] <= bound) (bound, strict) = (incumbent.Values[objective], false);
        string why = waiting.Count == 0 && open.Count == 0 && cut
            ? $"every other point meeting the budgets is above the cutoff {Num(external)} (proved)"
            : _eval.Stopped ? "the time limit or an interrupt stopped the run" : "some layer searches stopped before proving their optimum";
        return Done(incumbent is null ? CodesignStatus.Unknown : CodesignStatus.Feasible, incumbent, bound, why, left, evaluatedPoints, strict: strict);
    }

    /// <summary>
    /// When a budget ruled out a whole set of points by its lower bound, the point closest to meeting it: the least value
    /// of its metric over the points that meet the static budgets, found by the same proved minimization.
    /// </summary>
    private (string Text, double Over)? Closest(Violations v, IReadOnlyList<Budget> statics, IReadOnlyList<int> feasible)
    {
        if (v.SetBudget is not { } b || !double.IsFinite(v.Ratio)) return null;
        var r = Minimize(b.Metric, statics, feasible);
        if (r.Best is not { } p || r.BestValue is not { } value) return null;
        string proved = r.Status == CodesignStatus.Optimal ? "proved least" : "least found";
        return ($"{b} ({b.Source}) is binding: no point meets it; the closest point, {p.Point} ({p.Description}), has {DesignMetrics.Name(b.Metric)} {Num(value)} {DesignMetrics.Unit(b.Metric)} " +
                $"({proved}; {(value / b.Limit - 1) * 100:0.#}% over)", value / b.Limit);
    }

    private static bool Meets(PointFigures f, IReadOnlyList<Budget> dynamics)
        => dynamics.All(b => f.Values.TryGetValue(b.Metric, out var v) && b.Allows(v));

    /// <summary>
    /// Evaluates a node: the searches on its relaxation (on the point itself for one point), its key (a lower bound on
    /// the objective over its points; the exact value for a proved point), and whether budgets rule it out. Null when
    /// no point of the node can meet the budgets (the reason recorded).
    /// </summary>
    private Node? Evaluate(Node node, DesignMetric objective, bool staticObjective, IReadOnlyList<Objective> needed, IReadOnlyList<Budget> dynamics,
        DesignMetric tieBreak, Violations violations, bool proof = false, double cutoff = double.PositiveInfinity, IReadOnlyList<double>? reference = null,
        long? nodes = null)
    {
        bool single = node.Points.Count == 1;
        var arch = _space.Relax(node.Points);
        var sums = new Dictionary<Objective, LayerSum>();
        var cap = nodes is not null ? null : proof ? (_limit is null ? null : _eval.BoundTime) : Cap(single, node.Stage, needed.Count);
        var budget = nodes is not null ? null : proof ? ProofBudget(needed.Count) : single && node.Stage >= 1 ? PointBudget(needed.Count) : null;
        foreach (var o in needed)
        {
            // The key's searches stop once their bounds exceed the cutoff (the node is then dropped); the layer latency's key is a maximum, not a sum.
            double target = !staticObjective && objective != DesignMetric.LayerLatency && o == MappedFor(objective) ? cutoff : double.PositiveInfinity;
            var s = _eval.Sum(arch, o, relaxation: !single, cap, target, budget, double.IsFinite(target) ? reference : null, nodes, full: !single && node.Stage >= 1 && nodes is null);
            if (s.NoMapping is { } layer)
            {
                violations.Add(double.PositiveInfinity, single
                    ? $"point {node.Points[0]} ({_space.Describe(node.Points[0])}): layer {layer} has no valid mapping"
                    : $"{node.Points.Count} points: layer {layer} has no valid mapping even on their relaxation");
                return null;
            }
            sums[o] = s;
        }
        string where = single ? $"point {node.Points[0]} ({_space.Describe(node.Points[0])})" : $"a set of {node.Points.Count} points";
        // A budget a lower bound already breaks rules out every point of the node.
        foreach (var b in dynamics)
        {
            if (b.Metric == DesignMetric.Power) continue;
            double lower = Lower(sums[MappedFor(b.Metric)], b.Metric);
            if (!b.Allows(lower))
            {
                violations.Add(lower / b.Limit, $"{b} ({b.Source}) is binding: {where} needs {DesignMetrics.Name(b.Metric)} {(single ? "" : "at least ")}{Num(lower)} {DesignMetrics.Unit(b.Metric)}", b);
                return null;
            }
        }
        double key = staticObjective ? node.Points.Min(p => Static(objective, p)) : Lower(sums[MappedFor(objective)], objective);
        node.Key = Math.Max(node.Key, key);
        node.Tie = staticObjective ? 0 : node.Points.Min(p => Static(tieBreak, p));
        node.Evaluated = true;
        node.Sums = sums;
        node.Proved = sums.Values.All(s => s.Proved);
        if (!single) return node;
        int point = node.Points[0];
        node.Figures = Figures(point, arch, sums, objective);
        _mapped[point] = node.Figures;
        var values = node.Figures.Values;
        if (!node.Figures.Proved) return node;
        foreach (var b in dynamics)
        {
            if (!values.TryGetValue(b.Metric, out var v))
            {
                violations.Add(double.PositiveInfinity, $"{b} ({b.Source}) cannot be judged: the base architecture gives no clock");
                return null;
            }
            if (!b.Allows(v))
            {
                violations.Add(v / b.Limit, $"{b} ({b.Source}) is binding: the closest point, {where}, has {DesignMetrics.Name(b.Metric)} {Num(v)} {DesignMetrics.Unit(b.Metric)}");
                return null;
            }
        }
        if (!staticObjective) node.Key = values[objective];
        return node;
    }

    /// <summary>A point's figures from its sums: the static metrics, each mapped objective's value, and the power of the objective's mappings.</summary>
    private PointFigures Figures(int point, Architecture arch, IReadOnlyDictionary<Objective, LayerSum> sums, DesignMetric objective)
    {
        var values = new Dictionary<DesignMetric, double>
        {
            [DesignMetric.Area] = Static(DesignMetric.Area, point),
            [DesignMetric.Sram] = Static(DesignMetric.Sram, point),
        };
        foreach (var (o, s) in sums)
        {
            if (s.Value is not { } v) continue;
            values[o switch { Objective.Energy => DesignMetric.Energy, Objective.Latency => DesignMetric.Latency, _ => DesignMetric.Edp }] = v;
            if (o == Objective.Latency) values[DesignMetric.LayerLatency] = s.MaxValue!.Value;
        }
        var mapped = sums.GetValueOrDefault(MappedFor(objective));
        if (mapped?.Totals(_eval.Shapes) is { } t && arch.ClockGHz is { } ghz && t.Cycles > 0) values[DesignMetric.Power] = t.Energy / t.Cycles * ghz * 1e-3;
        return new PointFigures(point, _space.Describe(point), arch, values, sums.Values.All(s => s.Proved), sums);
    }

    /// <summary>
    /// A point's figures with each proved shape's mapping the canonical one (<see cref="LayerEvaluator.Canonical"/>: the
    /// least text among all the mappings within the tie margin of its optimum, found by a search that settles ties by
    /// text) and each other shape's chosen again among the ties the run met (<see cref="LayerEvaluator.Settle"/>): what
    /// a run reports as the point's mappings (its <c>--mapping-out</c>, a shard's files, its power) then depends on the
    /// point alone, not on which of several equal mappings the run met first, which the machine's load and a shard's
    /// points change (docs/codesign.md, "Which of equal mappings a point reports"). <paramref name="cap"/> caps each
    /// canonical search (null: none); one that stops keeps the run's mapping.
    /// </summary>
    public PointFigures Canonical(PointFigures f, DesignMetric objective, TimeSpan? cap = null)
        => Figures(f.Point, f.Arch, f.Sums.ToDictionary(x => x.Key, x => _eval.Canonical(f.Arch, _eval.Settle(f.Arch, x.Value), cap)), objective);

    /// <summary>
    /// The cap on each layer search of a node's evaluation: at stage 0 the quick bound time on a relaxation and the
    /// bound time on a point (without one, an even share of the time left over the point's searches); at stage 1 the
    /// evaluator's bound time on a relaxation and none on a point (the time left, shared by its unproved shapes: <see cref="PointBudget"/>).
    /// </summary>
    private TimeSpan? Cap(bool single, int stage, int objectives)
    {
        if (stage >= 1) return null;
        if (!single) return _quick;
        if (_eval.BoundTime is { } b) return b;
        return _limit is { } t ? (t - _eval.Elapsed) / Math.Max(1, _eval.Shapes.Count * objectives) : null;
    }

    /// <summary>
    /// The time for each objective's searches of the dive's point searched again: half the time left, shared by the
    /// objectives (<see cref="LayerEvaluator.Sum"/> shares it among the shapes still unproved, each at least the bound
    /// time); none without a time limit.
    /// </summary>
    private TimeSpan? ProofBudget(int objectives) => _limit is { } t ? (t - _eval.Elapsed) / (2 * Math.Max(1, objectives)) : null;

    /// <summary>
    /// The time for each objective's searches of a point evaluated in full: all the time left, shared by the objectives
    /// and, as it goes, by the shapes still unproved (before, the first unproved shape could take all of it); none
    /// without a time limit.
    /// </summary>
    private TimeSpan? PointBudget(int objectives) => _limit is { } t ? (t - _eval.Elapsed) / Math.Max(1, objectives) : null;

    /// <summary>
    /// The half the dive descends into (<see cref="DiveChoice"/>): by the midpoint of key and <see cref="DiveEstimate"/>
    /// when every half has an estimate, else by the least key as before (a static objective, layer latency or power, or a
    /// shape without a mapping), and the step recorded (<see cref="Dive"/>). Only the dive's path depends on it: it is a
    /// guess at where a good point is, not a bound.
    /// </summary>
    private Node Landing(List<Node> halves, DesignMetric objective, double above = double.PositiveInfinity, IReadOnlyList<DiveHalf>? left = null)
    {
        var step = new DiveStep(halves.Select(h => DiveEstimate(h, objective) is var (estimate, own) ? new DiveHalf(h.Points, h.Key, h.Tie, estimate, own) : new DiveHalf(h.Points, h.Key, h.Tie, null)).ToList(), 0,
            left ?? []);
        // A half whose key is above the least midpoint of the others (its searches stopped there) cannot be taken.
        var contenders = Enumerable.Range(0, halves.Count).Where(i => !(halves[i].Key > above)).ToList();
        if (contenders.Count == 0) contenders = [.. Enumerable.Range(0, halves.Count)];
        step = step with { Chosen = contenders[DiveChoice(contenders.Select(i => step.Halves[i]).ToList())] };
        _dive.Add(step);
        return halves[step.Chosen];
    }

    /// <summary>
    /// The index of the half the dive descends into: when every half has an estimate, the least midpoint of key and
    /// estimate (the key is a lower bound on the half's points, the estimate about the value of its largest point, and
    /// its best point lies between), else the least key; ties by key, then tie-break metric, then lowest point.
    /// </summary>
    public static int DiveChoice(IReadOnlyList<DiveHalf> halves)
    {
        bool estimated = halves.All(h => h.Estimate is not null);
        return Enumerable.Range(0, halves.Count)
            .MinBy(i => (estimated ? (halves[i].Key + halves[i].Estimate!.Value) / 2 : halves[i].Key, halves[i].Key, halves[i].Tie, halves[i].Points.Min()));
    }

    private readonly List<DiveStep> _dive = [];

    /// <summary>
    /// Whether the dive's last step, between two single points, searches each point at once for longer (the pass the point
    /// the dive lands on gets; branch cd19n) instead of node-limited searches of both first. Default off: on a quiet machine
    /// the ResNet-50 EDP run with it was no longer proved in 600 s (docs/benchmarks.md, stop 46's figures).
    /// </summary>
    public bool LastStepLonger { get; init; }

    /// <summary>
    /// Whether a set of two points taken from the queue goes to its points without a full bound of its own (branch cd19n;
    /// not for the static objectives, whose sets cost no search). Default off: on a quiet machine the pairs' full bounds
    /// drop them, and with this on the ResNet-50 EDP run was no longer proved in 600 s (docs/benchmarks.md, stop 46's figures).
    /// </summary>
    public bool PairsToPoints { get; init; }

    /// <summary>
    /// Whether the dive leaves unsearched a later half whose midpoint before its searches is above the least midpoint of the
    /// halves bounded before it (branch cd19p; <see cref="Before"/>): its key known without a search (a lower bound, which its
    /// searches can only raise) and its estimate from the mappings found so far (which its searches could lower, by
    /// mappings of their own). On ResNet-50 over the Eyeriss-like space such halves' searches did not change the dive's
    /// choice (docs/benchmarks.md, cd19o). The half is queued at its known key and, when taken, gets the full bound a half
    /// bounded here would have got next. Sets only: a point left took 2.2 to 2.5 times as long in its uncapped searches
    /// without the mappings of its node-limited ones (docs/benchmarks.md, cd19p). Only which searches run changes: no
    /// bound. Default off: on the quiet ResNet-50 EDP proof it saved 9 searches (790 against 799) and the proof took 590 s
    /// against 528 s (a set once dropped by its node-limited key now takes a full bound; docs/codesign.md).
    /// </summary>
    public bool LeaveHopelessHalves { get; init; }

    /// <summary>
    /// The margin above the cutoff within which a point of a set of more than two points, known by the mappings found so far
    /// (<see cref="NearestKnown"/>), sends the set taken from the queue (not yet bounded in full) to its two halves without a
    /// full bound of its own (branch cd19r; null: off). The set's optimum is at most that point's known value, so its bound
    /// could drop it only by rising to above the cutoff while at most that value: the sets of ResNet-50's EDP proof whose
    /// point came within a few per cent of the cutoff were kept after their full bounds, 19 to 46 searches each (docs/
    /// benchmarks.md, cd19q). The rule drops nothing (a set leaves the queue only by its own bound, or its points' values,
    /// above the cutoff), so every answer stays the same; only which searches run, and the keys the halves start from
    /// (their parent's), change. Objectives summed over the shapes only (energy, latency, EDP).
    /// </summary>
    public double? SplitNearCutoff { get; init; } = DefaultSplitNearCutoff;

    /// <summary>
    /// A set's full EDP bound leaves its EDP searches when its sum after its energy searches is at most the cutoff divided
    /// by one plus this margin (branch cd19s, <see cref="LayerEvaluator.EdpRiseMargin"/>): the set is then split as one
    /// its searches leave at or below the cutoff would be. Null: off. Drops nothing.
    /// </summary>
    public double? EdpRiseMargin { get => _eval.EdpRiseMargin; init => _eval.EdpRiseMargin = value; }

    /// <summary>The default of <see cref="EdpRiseMargin"/>.</summary>
    public const double DefaultEdpRiseMargin = 0.04;

    /// <summary>
    /// The same margin for a set of two points (branch cd19t; null: off): a pair taken from the queue before its full bound
    /// whose nearer point is known within this margin of the cutoff (<see cref="NearestKnown"/>) goes to its two points
    /// without a full bound. Its bound, about 24 energy searches and some EDP ones, could drop it only by rising above the
    /// cutoff while at most that point's known value; kept, the pair's points are mapped anyway (each point's searches stop
    /// once its sum passes the cutoff), so the pair's searches decided nothing (docs/benchmarks.md, cd19s and cd19t). Drops
    /// nothing, like <see cref="SplitNearCutoff"/>. Not <see cref="PairsToPoints"/>, which sends every pair to its points.
    /// </summary>
    public double? PairsNearCutoff { get; init; } = DefaultPairsNearCutoff;

    /// <summary>The default of <see cref="PairsNearCutoff"/>.</summary>
    public const double DefaultPairsNearCutoff = 0.03;

    /// <summary>The default of <see cref="SplitNearCutoff"/>: 7 %, the margin cd19q's trace under load suggested (4-sets within 4 % to 6 % of the cutoff kept).</summary>
    public const double DefaultSplitNearCutoff = 0.07;

    /// <summary>A set split without a full bound by <see cref="SplitNearCutoff"/> or <see cref="PairsNearCutoff"/>: its points, their least known value and the cutoff then.</summary>
    public sealed record NearSplit(IReadOnlyList<int> Points, double Upper, double Cutoff);

    private readonly List<NearSplit> _nearSplits = [];

    /// <summary>The sets split without a full bound by <see cref="SplitNearCutoff"/> or <see cref="PairsNearCutoff"/>, in the order split (every minimization of this run).</summary>
    public IReadOnlyList<NearSplit> NearSplits => _nearSplits;

    /// <summary>
    /// The least over a set's points of the sum of their shapes' least values known without a search
    /// (<see cref="LayerEvaluator.KnownValue"/>): the value of real mappings on a real point, so at least the least optimum
    /// of the set's points; infinity when no point has every shape mapped by what is known. When the same sum on the set's
    /// relaxation is above <paramref name="above"/>, so is every point's (a mapping valid on a point is valid on the
    /// relaxation, which dominates it, and costs no more there): that sum is returned without valuing the points one by one.
    /// </summary>
    private double NearestKnown(IReadOnlyList<int> points, Objective objective, double above = double.PositiveInfinity)
        => _eval.KnownValue(_space.Relax(points), objective) is var relaxed && relaxed > above ? relaxed : points.Min(p => _eval.KnownValue(_space.Relax([p]), objective));

    /// <summary>
    /// Whether a set (two points or more) taken from the queue before its full bound is split without it when the mappings
    /// known valid on its relaxation (<see cref="LayerEvaluator.KnownValue"/>: its own searches' and those carried from
    /// any architecture) sum to at most the cutoff (branch cd19u). Its bound, searched on that relaxation, is a lower bound
    /// on the relaxation's optimum, which is at most the value of those mappings: the bound cannot pass the cutoff, the set
    /// would be kept and split, and its searches would decide nothing. Drops nothing; only which searches run, and the keys
    /// the halves start from (their parent's), change. Objectives summed over the shapes only (energy, latency, EDP).
    /// </summary>
    public bool SplitKnownBelow { get; init; } = true;

    private readonly List<NearSplit> _knownSplits = [];

    /// <summary>The sets split by <see cref="SplitKnownBelow"/>: their points, the known value on their relaxation (in <see cref="NearSplit.Upper"/>) and the cutoff then.</summary>
    public IReadOnlyList<NearSplit> KnownSplits => _knownSplits;

    /// <summary>
    /// Whether a set's full bound stops once it can no longer drop the set (<see cref="LayerEvaluator.StopOnceKept"/>,
    /// branch cd19w): the shapes searched and the others at the mappings known valid on its relaxation sum to at most the
    /// cutoff. Drops nothing. Off: as before (for comparisons).
    /// </summary>
    public bool StopOnceKept { get => _eval.StopOnceKept; init => _eval.StopOnceKept = value; }

    /// <summary>
    /// A set's full bound: its points, the searches it ran, whether it dropped the set, the shapes
    /// <see cref="StopOnceKept"/> left unsearched (null: it did not stop so), the key it gave, the cutoff then, and the
    /// known sum that stopped it.
    /// </summary>
    public sealed record FullBound(IReadOnlyList<int> Points, long Searches, bool Dropped, int? KeptStopLeft, double Key, double Cutoff, double? KnownAtStop = null);

    private readonly List<FullBound> _fullBounds = [];

    /// <summary>The sets' full bounds in the order run (every minimization of this run).</summary>
    public IReadOnlyList<FullBound> FullBounds => _fullBounds;

    /// <summary>
    /// A test hook: the dive stops after this many steps (null: it goes down to a point), leaving its set in the queue at the
    /// key its node-limited searches gave, so that sets reach the queue before any point is mapped (the tests of
    /// <see cref="SplitKnownBelow"/> use it; on the 16-point space a whole dive leaves no set it could split).
    /// </summary>
    public int? DiveSteps { get; init; }

    /// <summary>Halves the dive left unsearched (<see cref="LeaveHopelessHalves"/>).</summary>
    public int LeftHalves { get; private set; }

    /// <summary>
    /// What is known of a half before its searches: its key known without a search (<see cref="LayerEvaluator.KnownLower(Architecture, Objective)"/>)
    /// and its estimate as <see cref="DiveEstimate"/> takes it, from the mappings found so far on any architecture valid on
    /// the half's pessimistic relaxation; null when some shape has none there, or for an objective without estimates.
    /// </summary>
    private (double Known, double Estimate)? Before(Node node, DesignMetric objective)
    {
        if (objective is not (DesignMetric.Energy or DesignMetric.Latency or DesignMetric.Edp)) return null;
        var o = MappedFor(objective);
        var arch = Pessimistic(node.Points);
        double sum = 0;
        for (int i = 0; i < _eval.Shapes.Count; i++)
        {
            double least = double.PositiveInfinity;
            foreach (var m in _eval.Found(i, o))
                if (_eval.ValueOn(arch, i, m) is { } report) least = Math.Min(least, report.Objective(o));
            if (!double.IsFinite(least)) return null;
            sum += _eval.Shapes[i].Count * least;
        }
        return (_eval.KnownLower(_space.Relax(node.Points), o), sum);
    }

    /// <summary>Whether the dive bounds its halves least known key first, each later one with a target (default on; off for comparisons).</summary>
    public bool DiveTargets { get; init; } = true;

    /// <summary>The dive's steps of the last minimization: at each, the halves evaluated (points, key, estimate) and the one descended into.</summary>
    public IReadOnlyList<DiveStep> Dive => _dive;

    /// <summary>
    /// A guess at the least value among a node's points, for the dive (energy, latency, EDP; null otherwise, or when a
    /// shape has no mapping): per shape, the least value of its mappings costed on the relaxation with every energy per
    /// access raised to its largest over the node's points (<see cref="Pessimistic"/>), among the best mapping of the node's
    /// last evaluation (found on its relaxation, so valid there) and every mapping found so far on any architecture that is
    /// valid there (branch cd19k: the node-limited searches of the dive find worse mappings than the timed ones did on an
    /// idle machine, and the others' mappings make up for it), times its count, summed; with it, the estimate from the
    /// node's own mappings alone (<see cref="DiveHalf.Own"/>). The relaxation's own key takes every energy at its least:
    /// over a set whose memories span small and large sizes, that favors the small memories' cheap accesses with the
    /// large ones' capacity, a mix no point has, and the key-based dive went, run to run as the quick bounds' timing
    /// went, to points of the 16384- or 32768-word global buffer, up to 13 % worse on energy and 17 % on EDP than the
    /// best points found (docs/codesign.md, "Where the dive goes"). For one point it is the value of its mappings; with
    /// non-decreasing tables and the node's largest point in it, the value of real mappings on that point. At least the
    /// sum of the node's searches' bounds (the same mappings at no smaller energies, each costing at least its search's bound).
    /// </summary>
    private (double Estimate, double Own)? DiveEstimate(Node node, DesignMetric objective)
    {
        if (objective is not (DesignMetric.Energy or DesignMetric.Latency or DesignMetric.Edp)) return null;
        var o = MappedFor(objective);
        if (node.Sums?.GetValueOrDefault(o) is not { } s || s.Results.Count < _eval.Shapes.Count) return null;
        var arch = Pessimistic(node.Points);
        double sum = 0, ownSum = 0;
        for (int i = 0; i < _eval.Shapes.Count; i++)
        {
            if (s.Results[i].Mapping is not { } m) return null;
            double own = Conventions.Evaluate(_eval.Convention, _eval.Shapes[i].Layer, arch, m).Objective(o), least = own;
            // Every mapping found so far (on any architecture) that is valid on it: the least of their values.
            foreach (var other in _eval.Found(i, o))
                if (_eval.ValueOn(arch, i, other) is { } report) least = Math.Min(least, report.Objective(o));
            sum += _eval.Shapes[i].Count * least;
            ownSum += _eval.Shapes[i].Count * own;
        }
        return (sum, ownSum);
    }

    /// <summary>
    /// The relaxation of a set of points (<see cref="DesignSpace.Relax"/>) with every level's read and write energy per
    /// access at its largest over the points instead of its least: the same capacities, fanouts and bandwidths, so a
    /// mapping valid on the relaxation is valid on it, with the same counts and cycles.
    /// </summary>
    private Architecture Pessimistic(IReadOnlyList<int> points)
    {
        var relaxed = _space.Relax(points);
        if (points.Count == 1) return relaxed;
        var built = points.Select(_space.Build).ToList();
        var levels = relaxed.Levels.Select((l, i) => new StorageLevel(l.Name, l.Capacity, l.WordBits, built.Max(a => a.Levels[i].ReadEnergy), built.Max(a => a.Levels[i].WriteEnergy),
            l.ReadBandwidth, l.WriteBandwidth, l.Keeps, l.Fanout) { Window = l.Window });
        return new Architecture(relaxed.Name, relaxed.Description, levels, relaxed.Compute, relaxed.ClockGHz);
    }

    /// <summary>
    /// Per shape, the incumbent's value for the objective's mapping metric (its mappings' costs), which the cutoff sums:
    /// the order in which a node's searches try to pass the cutoff (<see cref="LayerEvaluator.Sum"/>); null without an
    /// incumbent with every shape mapped.
    /// </summary>
    private IReadOnlyList<double>? Reference(PointFigures? incumbent, DesignMetric objective)
    {
        if (incumbent?.Sums.GetValueOrDefault(MappedFor(objective)) is not { } s || s.Results.Count < _eval.Shapes.Count || s.Results.Any(r => r.Best is null)) return null;
        return s.Results.Select(r => r.Best!.Value).ToList();
    }

    private static double Lower(LayerSum s, DesignMetric m) => m == DesignMetric.LayerLatency ? s.MaxLower : s.Lower;

    /// <summary>
    /// Splits a set of points in two on the parameter with the most distinct values among them (the first such), lower
    /// values first. With <paramref name="computeFirst"/> (objectives that count cycles: latency, layer latency, EDP), the
    /// compute parameters (fanouts, MACs a cycle) are split first while one of them still has two values or more: the
    /// relaxation takes their largest values, whose compute cycles (the MACs over the PEs) mask every smaller array of
    /// the set, so a set that mixes arrays keeps the small arrays' points until it is split on them (docs/codesign.md,
    /// "How the space is searched").
    /// </summary>
    private IEnumerable<List<int>> Split(List<int> points, bool computeFirst = false)
    {
        var indices = points.Select(_space.Indices).ToList();
        int best = -1, most = 1;
        bool compute = computeFirst && Enumerable.Range(0, _space.Parameters.Count).Any(i => IsCompute(i) && indices.Select(x => x[i]).Distinct().Count() > 1);
        for (int i = 0; i < _space.Parameters.Count; i++)
        {
            if (compute && !IsCompute(i)) continue;
            int distinct = indices.Select(x => x[i]).Distinct().Count();
            if (distinct > most) (best, most) = (i, distinct);
        }
        var present = indices.Select(x => x[best]).ToHashSet();
        var sorted = DesignSpace.Ascending(_space.Parameters[best]).Where(present.Contains).ToList();
        var low = sorted.Take(sorted.Count / 2).ToHashSet();
        yield return points.Where((_, k) => low.Contains(indices[k][best])).ToList();
        yield return points.Where((_, k) => !low.Contains(indices[k][best])).ToList();
    }

    private bool IsCompute(int parameter) => _space.Parameters[parameter].Knob is DesignKnob.Fanout or DesignKnob.MacsPerCycle;

    /// <summary>Whether the splits put the compute parameters first for this objective (<see cref="Split"/>): those that count cycles.</summary>
    public static bool ComputeFirst(DesignMetric objective) => objective is DesignMetric.Latency or DesignMetric.LayerLatency or DesignMetric.Edp;

    private (string Text, double Over) StaticInfeasibility(IReadOnlyList<int> candidates, IReadOnlyList<Budget> statics)
    {
        int closest = -1;
        double worst = double.PositiveInfinity;
        Budget? binding = null;
        foreach (var p in candidates)
        {
            double w = 0;
            Budget? by = null;
            foreach (var b in statics)
            {
                double ratio = Static(b.Metric, p) / b.Limit;
                if (ratio > w) (w, by) = (ratio, b);
            }
            if (w < worst) (worst, closest, binding) = (w, p, by);
        }
        if (binding is null) return ("the space has no point", double.PositiveInfinity);
        return ($"{binding} ({binding.Source}) is binding: no point meets it; the closest point, {closest} ({_space.Describe(closest)}), has {DesignMetrics.Name(binding.Metric)} " +
                $"{Num(Static(binding.Metric, closest))} {DesignMetrics.Unit(binding.Metric)} ({(worst - 1) * 100:0.#}% over)", worst);
    }

    /// <summary>
    /// The exact Pareto front of a mapped metric (<paramref name="first"/>: energy, latency or edp) against a static one
    /// (<paramref name="second"/>: area or sram) among the points meeting the budgets: the point of least first metric
    /// (ties: least second), then repeatedly the same among the points whose second metric is strictly less.
    /// <paramref name="candidates"/> (all points when null) restricts the front to some points (a shard's).
    /// </summary>
    public ParetoResult Pareto(DesignMetric first, DesignMetric second, IReadOnlyList<Budget> budgets, IReadOnlyList<int>? candidates = null)
    {
        var start = _eval.Elapsed;
        long before = _eval.Searches;
        var front = new List<PointFigures>();
        IReadOnlyList<int> subset = candidates ?? Enumerable.Range(0, _space.Count).ToList();
        var status = CodesignStatus.Optimal;
        string? why = null;
        double over = double.PositiveInfinity;
        while (subset.Count > 0)
        {
            var r = Minimize(first, budgets, subset, second);
            if (r.Status == CodesignStatus.Infeasible) { if (front.Count == 0) (status, why, over) = (CodesignStatus.Infeasible, r.Explanation, r.Over); break; }
            if (r.Status != CodesignStatus.Optimal)
            {
                status = front.Count == 0 && r.Best is null ? CodesignStatus.Unknown : CodesignStatus.Feasible;
                why = $"{r.Explanation}; the front is exact up to {front.Count} point(s), {r.PointsOpen} point(s) not yet ruled out";
                if (r.Best is not null) front.Add(r.Best);
                break;
            }
            front.Add(r.Best!);
            double s = Static(second, r.Best!.Point);
            subset = subset.Where(p => Static(second, p) < s).ToList();
        }
        return new ParetoResult(status, first, second, front, why, _eval.Searches - before, FullSweep(first, budgets), _eval.Elapsed - start, over);
    }

    /// <summary>Every point evaluated exactly (the full sweep, for tests and comparisons): its figures, or null when a budget or a layer rules it out.</summary>
    public IReadOnlyList<PointFigures?> SweepAll(DesignMetric objective, IReadOnlyList<Budget> budgets)
    {
        var needed = Needed(objective, budgets);
        var result = new List<PointFigures?>();
        for (int p = 0; p < _space.Count; p++)
        {
            var node = new Node([p], 0, 0, evaluated: false) { Stage = 1 };
            bool staticOk = budgets.Where(b => DesignMetrics.IsStatic(b.Metric)).All(b => b.Allows(Static(b.Metric, p)));
            var ready = staticOk ? Evaluate(node, objective, DesignMetrics.IsStatic(objective), needed, budgets.Where(b => !DesignMetrics.IsStatic(b.Metric)).ToList(), DesignMetric.Area, new Violations()) : null;
            result.Add(ready?.Figures is { Proved: true } f ? f : null);
        }
        return result;
    }

    /// <summary>The exhaustive minimum: every point evaluated, the least objective (ties: least area, then point number); null when none meets the budgets.</summary>
    public PointFigures? Sweep(DesignMetric objective, IReadOnlyList<Budget> budgets)
        => SweepAll(objective, budgets).Where(f => f is not null).Select(f => f!)
            .OrderBy(f => f.Values[objective]).ThenBy(f => DesignMetrics.IsStatic(objective) ? 0 : f.Values[DesignMetric.Area]).ThenBy(f => f.Point).FirstOrDefault();

    /// <summary>The exhaustive Pareto front: every point evaluated, sorted by (first, second, point), kept when its second metric is below every kept one.</summary>
    public IReadOnlyList<PointFigures> SweepPareto(DesignMetric first, DesignMetric second, IReadOnlyList<Budget> budgets)
    {
        var front = new List<PointFigures>();
        foreach (var f in SweepAll(first, budgets).Where(f => f is not null).Select(f => f!)
                     .OrderBy(f => f.Values[first]).ThenBy(f => f.Values[second]).ThenBy(f => f.Point))
            if (front.Count == 0 || f.Values[second] < front[^1].Values[second]) front.Add(f);
        return front;
    }

    /// <summary>A number as printed in messages.</summary>
    public static string Num(double v) => v.ToString(Math.Abs(v) >= 1e5 || (Math.Abs(v) < 1e-3 && v != 0) ? "0.####E+0" : "0.####", CultureInfo.InvariantCulture);
}
