using System.Diagnostics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// A lexicographic objective (Timeloop's <c>optimization-metrics</c>, e.g. delay then energy), searched
/// term by term: the first term is minimized; each later term is minimized among the mappings that keep
/// every earlier term at its optimum (the earlier optima become caps, <see cref="CostCaps"/>), starting
/// from the previous term's answer. The answer is OPTIMAL only when every term was proved; a term the
/// time limit cut short ends the search with that term's best, bound and gap.
/// </summary>
public static class Lexicographic
{
    /// <summary>
    /// Searches the terms in order under the limits (the time limit covers all terms). The answer's best,
    /// bound and gap are about its last term searched (<see cref="SolveResult.Terms"/>): the first one not
    /// proved, else the last of the list.
    /// </summary>
    public static SolveResult Solve(MapProblem problem, IReadOnlyList<Objective> terms, SearchLimits limits, bool prune = true)
    {
        if (terms.Count == 0) throw new ArgumentException("A lexicographic objective needs at least one term.", nameof(terms));
        var clock = Stopwatch.StartNew();
        var done = new List<(Objective, SolveResult)>();
        var caps = problem.Caps ?? new CostCaps();
        Mapping? previous = null;
        long explored = 0;
        foreach (var objective in terms)
        {
            var left = limits.TimeLimit is { } t ? t - clock.Elapsed : (TimeSpan?)null;
            if (left is { } l && l < TimeSpan.Zero) left = TimeSpan.Zero;
            var capped = problem with { Objective = objective, Caps = done.Count == 0 ? problem.Caps : caps };
            var r = new TilingSearch(capped, prune, incumbent: previous).Solve(limits with { TimeLimit = left });
            explored += r.Explored;
            done.Add((objective, r));
            if (r.Status != SolveStatus.Optimal || r.Report is null) break;
            caps = caps.With(objective, r.Report.Objective(objective));
            previous = r.Mapping;
        }
        var last = done[^1].Item2;
        bool proved = done.Count == terms.Count && done.All(x => x.Item2.Status == SolveStatus.Optimal);
        string names = string.Join(",", terms.Select(Objectives.Name));
        string? why = proved ? null
            : last.Status is SolveStatus.Feasible or SolveStatus.Unknown
                ? $"{names}: the search of {Objectives.Name(done[^1].Item1)} stopped before its proof" + (done.Count < terms.Count ? $"; {string.Join(", ", terms.Skip(done.Count).Select(Objectives.Name))} not searched" : "")
                : last.Explanation;
        return last with { Elapsed = clock.Elapsed, Explored = explored, Explanation = why ?? last.Explanation, Terms = done.Select(x => x.Item1).ToList() };
    }

    /// <summary>
    /// A heuristic under a lexicographic objective: the heuristic minimizes the first term; then, for each later term,
    /// hill climbing on the reference model (<see cref="LocalSearch"/>) lowers that term among the mappings that keep
    /// every earlier term at most the value reached (caps), from the previous answer. It proves nothing: the answer is
    /// FEASIBLE, its best and bound about the first term (the only one the heuristic bounds), and every term's value
    /// is in its report.
    /// </summary>
    public static SolveResult Heuristic(MapProblem problem, IReadOnlyList<Objective> terms, SearchLimits limits, Func<MapProblem, SearchLimits, SolveResult> heuristic)
    {
        if (terms.Count == 0) throw new ArgumentException("A lexicographic objective needs at least one term.", nameof(terms));
        var clock = Stopwatch.StartNew();
        var first = heuristic(problem with { Objective = terms[0] }, limits);
        if (first.Mapping is not { } mapping || first.Report is not { } report || terms.Count == 1) return first with { Terms = terms };
        var caps = problem.Caps ?? new CostCaps();
        var deadline = limits.TimeLimit is { } t ? DateTime.UtcNow + (t - clock.Elapsed) : DateTime.MaxValue;
        for (int k = 1; k < terms.Count && DateTime.UtcNow < deadline && !limits.Cancel.IsCancellationRequested; k++)
        {
            caps = caps.With(terms[k - 1], report.Objective(terms[k - 1]));
            (mapping, _) = LocalSearch.Improve(problem with { Objective = terms[k], Caps = caps }, mapping, deadline, limits.Cancel);
            report = CostModel.Evaluate(problem.Layer, problem.Arch, mapping);
        }
        return first with { Mapping = mapping, Report = report, Best = report.Objective(terms[0]), Elapsed = clock.Elapsed, Terms = terms };
    }
}
