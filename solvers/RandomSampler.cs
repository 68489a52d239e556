using System.Diagnostics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// The random-sampling baseline most mappers ship: draw valid mappings at random and keep the best,
/// stopping after <c>patience</c> consecutive valid mappings without improvement (500 by default,
/// the usual default in this field), or at the time limit. It draws only mappings that honour the constraints,
/// the global kinds included (a draw that breaks one is rejected). It proves nothing: its status is
/// FEASIBLE, with the search model's root lower bound as the bound.
/// </summary>
public sealed class RandomSampler(MapProblem problem, int seed = 1, int patience = 500, int attemptsPerSample = 2000)
{
    /// <summary>Samples until the stopping rule holds.</summary>
    public SolveResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var rng = new Random(seed);
        var space = new Mapspace(problem.Layer, problem.Arch);
        var constraints = problem.Constraints ?? MappingConstraints.None;
        Mapping? best = null;
        CostReport? bestReport = null;
        double bestValue = double.PositiveInfinity;
        long drawn = 0;
        int sinceImprovement = 0, failures = 0, rejected = 0;
        while (sinceImprovement < patience)
        {
            if (limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t)) break;
            if (!space.TrySampleValid(rng, attemptsPerSample, out var m) || !ConstraintCheck.Allows(constraints, m))
            {
                // A mapspace where valid draws are this rare is reported, not sampled forever.
                if (++failures >= 20 && best is null) break;
                drawn += attemptsPerSample;
                continue;
            }
            drawn++;
            var report = CostModel.Evaluate(problem.Layer, problem.Arch, m);
            if (ConstraintCheck.Broken(constraints, problem.Arch, m, () => report).Count > 0)
            {
                // A draw the global constraints reject counts as one without improvement; before any is accepted, the
                // sampler gives up after `patience` rejected draws.
                if (best is null && ++rejected >= patience) break;
                sinceImprovement += best is null ? 0 : 1;
                continue;
            }
            double value = report.Objective(problem.Objective);
            if (value < bestValue) { bestValue = value; best = m; bestReport = report; sinceImprovement = 0; }
            else sinceImprovement++;
        }
        double bound = new SearchModel(problem).RootBound();
        if (best is null)
            return new SolveResult(SolveStatus.Unknown, null, null, null, bound, sw.Elapsed, drawn, "random",
                "No valid mapping was drawn; random sampling cannot prove that none exists (try --solver exact).");
        return new SolveResult(SolveStatus.Feasible, best, bestReport, bestValue, Math.Min(bound, bestValue), sw.Elapsed, drawn, "random");
    }
}
