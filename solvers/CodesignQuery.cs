using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>Whether a query's tolerance applies to every layer on its own or to the network's sum over layers.</summary>
public enum QueryScope
{
    /// <summary>Every distinct layer shape within the tolerance of its own optimum at the reference.</summary>
    PerLayer,
    /// <summary>The network's sum (each layer's optimum times its count) within the tolerance of the reference's sum.</summary>
    Network,
}

/// <summary>What is proved about a query's condition at one value.</summary>
public enum QueryVerdict
{
    /// <summary>No layer was searched at this value.</summary>
    NotSearched,
    /// <summary>Proved: the condition holds (the mappings found are within the tolerance of the reference's proved lower bounds).</summary>
    Holds,
    /// <summary>Proved: the condition fails (a proved lower bound is above the tolerance times the reference's best, or a layer has no valid mapping).</summary>
    Refuted,
    /// <summary>Searched, but the searches' gaps leave both answers possible.</summary>
    Undecided,
}

/// <summary>What a query proved.</summary>
public enum QueryStatus
{
    /// <summary>The smallest value is proved: the condition holds there and fails at every smaller value.</summary>
    Proved,
    /// <summary>Some value below the smallest one proved to hold is undecided (time limit, or searches stopped early).</summary>
    Undecided,
    /// <summary>Some layer has no valid mapping at the reference: the condition cannot be judged.</summary>
    Infeasible,
}

/// <summary>
/// The condition at one value of the queried parameter (the other parameters held): its verdict (direct, or implied
/// through monotonicity by the value <see cref="ImpliedBy"/>), the layer that decides it (<see cref="Decider"/>: the
/// refuting shape, or the shape nearest to the tolerance) with its ratios <see cref="Low"/> = proved lower bound here /
/// the reference's best and <see cref="High"/> = best found here / the reference's proved lower bound (network sums
/// for <see cref="QueryScope.Network"/>), and every shape's search (null where not searched).
/// </summary>
public sealed record ValueOutcome(int Index, DesignValue Value, int Point, string Description, Architecture Arch, QueryVerdict Verdict, int? ImpliedBy,
    int? Decider, double? Low, double? High, IReadOnlyList<SolveResult?> Results);

/// <summary>
/// The answer of a smallest-value query (docs/codesign.md, "Smallest value under a tolerance"). <see cref="Values"/> are
/// in ascending order, the reference (the largest value) last; <see cref="Answer"/> is the position of the smallest
/// value proved to hold, <see cref="LowestOpen"/> the position of the smallest value not refuted (equal to
/// <see cref="Answer"/> when <see cref="QueryStatus.Proved"/>).
/// </summary>
public sealed record SmallestResult(QueryStatus Status, DesignParameter Parameter, int ParameterIndex, Objective Objective, QueryScope Scope, double Tolerance,
    IReadOnlyList<ValueOutcome> Values, int Answer, int LowestOpen, bool Monotone, string MonotoneWhy, string? Explanation,
    long Searches, long CacheHits, long Refinements, long FullSweep, TimeSpan Elapsed)
{
    /// <summary>The reference: the largest value of the parameter, the others held.</summary>
    public ValueOutcome Reference => Values[^1];
}

/// <summary>
/// The smallest value of one parameter of a design space, the others held, such that every layer's optimum (or the
/// network's) is within a tolerance of its optimum at the parameter's largest value, proved in both directions: the
/// witness mappings at the answer and a proved lower bound above the tolerance at every smaller value (at the next
/// smaller one when the parameter is monotone, binary search). Uses <see cref="LayerEvaluator"/>'s exact searches and cache.
/// </summary>
public sealed class SmallestQuery
{
    private readonly DesignSpace _space;
    private readonly LayerEvaluator _eval;
    private readonly TimeSpan? _firstCap;

    /// <summary>
    /// Creates a query over a space for a workload: <paramref name="limits"/>' time limit is for the whole query,
    /// <paramref name="firstCap"/> caps each layer search of a first pass over the values (null: no first pass; each
    /// search has the time left); a second pass gives the searches that stay undecided the time left.
    /// </summary>
    public SmallestQuery(DesignSpace space, Workload workload, SearchLimits limits, TimeSpan? firstCap = null, CostConvention convention = CostConvention.Default)
    {
        _space = space;
        _eval = new LayerEvaluator(workload, limits, convention: convention);
        _firstCap = firstCap;
    }

    /// <summary>Creates a query that searches through an existing evaluator (sharing its cache and counts, and its time limit).</summary>
    public SmallestQuery(DesignSpace space, LayerEvaluator evaluator, TimeSpan? firstCap = null)
    {
        _space = space;
        _eval = evaluator;
        _firstCap = firstCap;
    }

    /// <summary>The evaluator (its counts of searches and its cache).</summary>
    public LayerEvaluator Evaluator => _eval;

    /// <summary>
    /// Whether the optimum of every layer is non-increasing as the parameter grows (the others held) for this objective,
    /// and why: the relaxation argument of docs/codesign.md applied to two values, which needs the larger value to allow
    /// every mapping of the smaller one at no more energy per access. False for a capacity whose energy per access grows
    /// (energy and EDP) and for fanouts not ordered on both axes.
    /// </summary>
    public static (bool Monotone, string Why) Monotonicity(DesignSpace space, int parameter, Objective objective)
    {
        var p = space.Parameters[parameter];
        var order = DesignSpace.Ascending(p);
        string N(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);
        switch (p.Knob)
        {
            case DesignKnob.Capacity:
                if (objective == Objective.Latency)
                    return (true, $"monotone: a larger {p.Level} keeps every mapping of a smaller one valid with the same counts, and cycles do not depend on energies");
                var costs = space.Costs.Of(space.Base.Levels[space.Base.IndexOf(p.Level!)]);
                for (int i = 1; i < order.Count; i++)
                {
                    double a = p.Values[order[i - 1]].Number, b = p.Values[order[i]].Number;
                    if (costs.Read.At(b) > costs.Read.At(a) || costs.Write.At(b) > costs.Write.At(a))
                        return (false, $"not monotone: the energy per access of {p.Level} grows with its capacity (read {N(costs.Read.At(a))} pJ at {p.Values[order[i - 1]]} words, " +
                                       $"{N(costs.Read.At(b))} pJ at {p.Values[order[i]]}), so a larger {p.Level} can cost more {Objectives.Name(objective)}");
                }
                return (true, $"monotone: {p.Level}'s energies per access do not grow over these capacities, and a larger {p.Level} keeps every mapping of a smaller one valid with the same counts");
            case DesignKnob.Fanout:
                for (int i = 1; i < order.Count; i++)
                {
                    var (a, b) = (p.Values[order[i - 1]], p.Values[order[i]]);
                    if (b.X < a.X || b.Y < a.Y)
                        return (false, $"not monotone: the fanouts are not ordered on both axes ({a} then {b}), so a larger one need not allow every mapping of a smaller one");
                }
                return (true, "monotone: a fanout no smaller on either axis keeps every mapping of a smaller one valid with the same counts and energies");
            default:
                return (true, $"monotone: more {DesignParameter.KnobName(p.Knob)} never adds cycles and does not change energies");
        }
    }

    /// <summary>
    /// The smallest value of parameter <paramref name="parameter"/> such that, with every other parameter at its value
    /// index in <paramref name="held"/> (the queried parameter's entry is ignored), the optimum of <paramref name="objective"/>
    /// is within <paramref name="tolerance"/> (0.05 for 5 %) of its optimum at the parameter's largest value: for every
    /// layer (<see cref="QueryScope.PerLayer"/>) or for the network's sum.
    /// </summary>
    public SmallestResult Run(int parameter, IReadOnlyList<int> held, Objective objective, QueryScope scope, double tolerance)
    {
        if (!double.IsFinite(tolerance) || tolerance < 0) throw new ArgumentException($"A tolerance must be a non-negative fraction, got {tolerance}.", nameof(tolerance));
        var p = _space.Parameters[parameter];
        if (p.Values.Count < 2) throw new ArgumentException($"{p.Name} has a single value ({p.Values[0]}): there is no smaller value to ask about.", nameof(parameter));
        var start = _eval.Elapsed;
        long searches = _eval.Searches, hits = _eval.CacheHits, refinements = _eval.Refinements;
        var (monotone, why) = Monotonicity(_space, parameter, objective);
        var order = DesignSpace.Ascending(p);
        int n = order.Count, reference = n - 1, shapes = _eval.Shapes.Count;
        var points = new int[n];
        var archs = new Architecture[n];
        for (int pos = 0; pos < n; pos++)
        {
            var idx = held.ToArray();
            idx[parameter] = order[pos];
            points[pos] = _space.PointOf(idx);
            archs[pos] = _space.Build(points[pos]);
        }
        var results = Enumerable.Range(0, n).Select(_ => new SolveResult?[shapes]).ToArray();
        double factor = 1 + tolerance;
        // What refutes: a proved optimum as it is, a stopped search's bound less rounding. That bound, at the optimum's own
        // plan, may equal the optimum analytically and come out one unit in the last place above it (the bound and the cost
        // are summed in other orders), which at tolerance 0 would refute a value that holds.
        static double Refuting(SolveResult r) => r.Status == SolveStatus.Optimal ? LayerEvaluator.LowerOf(r) : LayerEvaluator.LowerOf(r) * (1 - 1e-12);
        var counts = _eval.Shapes.Select(s => (double)s.Count).ToArray();

        // The reference's figures for shape s: its best found (the threshold of refutations) and proved lower bound (of witnesses).
        double RefBest(int s) => results[reference][s]?.Best ?? double.PositiveInfinity;
        double RefLower(int s) => results[reference][s] is { } r ? LayerEvaluator.LowerOf(r) : 0;
        static bool Done(SolveResult? r) => r is { Status: SolveStatus.Optimal or SolveStatus.Infeasible };
        bool ShapeRefutes(int pos, int s) => results[pos][s] is { } r && (r.Status == SolveStatus.Infeasible || Refuting(r) > factor * RefBest(s));
        bool ShapeHolds(int pos, int s) => results[pos][s] is { Best: { } b } && b <= factor * RefLower(s);
        double Ratio(double a, double b) => b > 0 ? a / b : a > 0 ? double.PositiveInfinity : 1;

        // The verdict from the searches at a value alone, with the deciding shape and its ratios.
        (QueryVerdict Verdict, int? Decider, double? Low, double? High) Direct(int pos)
        {
            var rs = results[pos];
            if (rs.All(r => r is null)) return (pos == reference ? QueryVerdict.Holds : QueryVerdict.NotSearched, null, null, null);
            if (scope == QueryScope.Network)
            {
                double lower = 0, best = 0, refBest = 0, refLower = 0;
                bool complete = true, none = false;
                for (int s = 0; s < shapes; s++)
                {
                    if (rs[s]?.Status == SolveStatus.Infeasible) none = true;
                    lower += counts[s] * (rs[s] is { } r ? Refuting(r) : 0);
                    if (rs[s]?.Best is { } b) best += counts[s] * b; else complete = false;
                    refBest += counts[s] * RefBest(s);
                    refLower += counts[s] * RefLower(s);
                }
                double low = none ? double.PositiveInfinity : Ratio(lower, refBest), high = complete ? Ratio(best, refLower) : double.PositiveInfinity;
                if (pos == reference) return (QueryVerdict.Holds, null, low, high);
                if (none || lower > factor * refBest) return (QueryVerdict.Refuted, null, low, high);
                if (complete && best <= factor * refLower) return (QueryVerdict.Holds, null, low, high);
                return (QueryVerdict.Undecided, null, low, high);
            }
            (int s, double Low, double High) Figures(int s)
            {
                var r = rs[s]!;
                double low = r.Status == SolveStatus.Infeasible ? double.PositiveInfinity : Ratio(LayerEvaluator.LowerOf(r), RefBest(s));
                return (s, low, r.Best is { } b ? Ratio(b, RefLower(s)) : double.PositiveInfinity);
            }
            var searched = Enumerable.Range(0, shapes).Where(s => rs[s] is not null).Select(Figures).ToList();
            if (pos != reference && searched.Where(f => ShapeRefutes(pos, f.s)).ToList() is { Count: > 0 } refuting)
            {
                var most = refuting.MaxBy(f => f.Low);
                return (QueryVerdict.Refuted, most.s, most.Low, most.High);
            }
            var open = searched.Where(f => !ShapeHolds(pos, f.s)).ToList();
            if (pos == reference || (open.Count == 0 && searched.Count == shapes))
            {
                var nearest = searched.MaxBy(f => f.High);
                return (QueryVerdict.Holds, nearest.s, nearest.Low, nearest.High);
            }
            var worst = (open.Count > 0 ? open : searched).MaxBy(f => f.High);
            return (QueryVerdict.Undecided, worst.s, worst.Low, worst.High);
        }

        // The verdict with monotonicity: holding at a value implies holding at every larger one, failing at a value failing at every smaller one.
        (QueryVerdict Verdict, int? ImpliedBy) Effective(int pos)
        {
            var d = Direct(pos).Verdict;
            if (d is QueryVerdict.Holds or QueryVerdict.Refuted || !monotone) return (d, null);
            for (int q = pos - 1; q >= 0; q--) if (Direct(q).Verdict == QueryVerdict.Holds) return (QueryVerdict.Holds, q);
            for (int q = pos + 1; q < n; q++) if (Direct(q).Verdict == QueryVerdict.Refuted) return (QueryVerdict.Refuted, q);
            return (d, null);
        }
        int Smallest() => Enumerable.Range(0, n).First(pos => Effective(pos).Verdict == QueryVerdict.Holds);

        var visited = new HashSet<(int Pos, int Stage)>();
        // The next value to search: under monotonicity the middle of those between the largest refuted value and the
        // smallest holding one (binary search); otherwise the smallest value not refuted below the smallest holding one.
        int? Next(int stage)
        {
            int hi = Smallest();
            var open = Enumerable.Range(0, hi).Where(pos => Effective(pos).Verdict != QueryVerdict.Refuted && !visited.Contains((pos, stage))).ToList();
            if (open.Count == 0) return null;
            if (!monotone) return open[0];
            int lo = Enumerable.Range(0, n).LastOrDefault(pos => Effective(pos).Verdict == QueryVerdict.Refuted, -1);
            double mid = (lo + hi) / 2.0;
            return open.MinBy(pos => (Math.Abs(pos - mid), pos));
        }

        int? lastRefuter = null;
        void Search(int pos, int s, int stage) => results[pos][s] = _eval.Search(archs[pos], s, objective, stage == 0 ? _firstCap : null);
        // One value: its shapes, the one that refuted the last value first; stops at the first refutation.
        void Evaluate(int pos, int stage)
        {
            var sequence = Enumerable.Range(0, shapes).ToList();
            if (lastRefuter is { } first) { sequence.Remove(first); sequence.Insert(0, first); }
            foreach (var s in sequence)
            {
                if (_eval.Stopped || Direct(pos).Verdict == QueryVerdict.Refuted) break;
                if (Done(results[pos][s]) || (scope == QueryScope.PerLayer && ShapeHolds(pos, s))) continue;
                Search(pos, s, stage);
                if (scope == QueryScope.PerLayer && ShapeRefutes(pos, s)) lastRefuter = s;
            }
        }

        string? infeasible = null;
        for (int stage = 0; stage <= (_firstCap is null ? 0 : 1) && !_eval.Stopped; stage++)
        {
            for (int s = 0; s < shapes && !_eval.Stopped; s++)
                if (!Done(results[reference][s])) Search(reference, s, stage);
            if (Enumerable.Range(0, shapes).FirstOrDefault(s => results[reference][s]?.Status == SolveStatus.Infeasible, -1) is var bad && bad >= 0)
            {
                infeasible = $"layer {_eval.Shapes[bad].Layer.Name} has no valid mapping at the reference, point {points[reference]} ({_space.Describe(points[reference])}): the condition cannot be judged";
                break;
            }
            while (!_eval.Stopped && Next(stage) is { } pos)
            {
                visited.Add((pos, stage));
                Evaluate(pos, stage);
            }
            if (Enumerable.Range(0, Smallest()).All(pos => Effective(pos).Verdict == QueryVerdict.Refuted)) break;
        }

        var outcomes = new List<ValueOutcome>();
        for (int pos = 0; pos < n; pos++)
        {
            var d = Direct(pos);
            var (verdict, implied) = Effective(pos);
            // An infinite ratio up means a layer without a mapping found (or not searched): no figure.
            outcomes.Add(new ValueOutcome(order[pos], p.Values[order[pos]], points[pos], _space.Describe(points[pos]), archs[pos], verdict, implied is { } q ? order[q] : null,
                d.Decider, d.Low, d.High is { } h && double.IsPositiveInfinity(h) ? null : d.High, results[pos]));
        }
        int answer = Smallest();
        int lowest = Enumerable.Range(0, answer).FirstOrDefault(pos => Effective(pos).Verdict != QueryVerdict.Refuted, answer);
        var status = infeasible is not null ? QueryStatus.Infeasible : lowest == answer ? QueryStatus.Proved : QueryStatus.Undecided;
        string? explanation = infeasible;
        if (status == QueryStatus.Undecided)
        {
            // The searches that leave the open values undecided: those that stopped before proving their optimum, there and at the reference.
            var open = Enumerable.Range(lowest, answer - lowest).Where(pos => Effective(pos).Verdict != QueryVerdict.Refuted).Append(reference).ToList();
            int stopped = open.Sum(pos => results[pos].Count(r => r is not null && !Done(r)));
            int unsearched = open.Sum(pos => results[pos].Count(r => r is null));
            explanation = string.Join("; ", new[]
            {
                stopped > 0 ? $"{stopped} layer search(es) at the open values and the reference stopped before proving their optimum" : null,
                unsearched > 0 ? $"{unsearched} layer search(es) there not run" : null,
                _eval.Stopped ? "the time limit or an interrupt stopped the query" : null,
            }.Where(x => x is not null));
        }
        return new SmallestResult(status, p, parameter, objective, scope, tolerance, outcomes, answer, lowest, monotone, why, explanation,
            _eval.Searches - searches, _eval.CacheHits - hits, _eval.Refinements - refinements, (long)n * shapes, _eval.Elapsed - start);
    }
}
