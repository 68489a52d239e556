using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Google.OrTools.Sat;
using Optimizer.Formulation;
using Optimizer.Solvers.Symbolic;

namespace Optimizer.Solvers.CpSat;

/// <summary>
/// <c>--solver cpsat</c> and <c>--certify cpsat</c>: one layer's mapspace and exact cost as a CP-SAT model
/// (<see cref="CpSatEncoding"/>, docs/cpsat.md), solved with the descent's mapping as hint, CP-SAT's parallel
/// workers, its time limit and interruption. Every answer is decoded into a <see cref="Mapping"/>, re-checked by
/// <see cref="ValidityChecker"/> and re-costed by <see cref="CostModel"/>; a disagreement with the model's value throws.
/// </summary>
public static class CpSatMapper
{
    /// <summary>Relative margin of "cheaper", as the branch and bound's and Z3's.</summary>
    public const double Tolerance = 1e-9;

    /// <summary>The random seed of every solve (the answer of a proof does not depend on it; ties may differ with several workers).</summary>
    public const int Seed = 1;

    /// <summary>Throws <see cref="ArgumentException"/> for a problem the CP-SAT model does not cover.</summary>
    public static void CheckScope(MapProblem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.Convention != CostConvention.Default)
            throw new ArgumentException($"CpSatMapper states the default cost model only; --convention {p.Convention.ToString().ToLowerInvariant()} goes through CpSatTimeloop (--solver cpsat picks it).");
        if (p.Caps is not null)
            throw new ArgumentException("The CP-SAT model takes no cost caps; a lexicographic objective goes through CpSatMapper.SolveLexicographic.");
        if (p.Arch.HasWindowCapabilities)
            throw new NotSupportedException($"The CP-SAT model does not encode the window capabilities of architecture {p.Arch.Name} ({p.Arch.WindowCapabilities()}); search it with --solver exact or brute (docs/mapspace.md, \"Window capabilities\").");
    }

    /// <summary>Minimizes one objective.</summary>
    /// <param name="keeperFloor">Adds the redundant keeper-path floor on the energy when the problem is solved as one model (a lexicographic list, no free keep choice); the keep cases and the whole model beside them always carry it (docs/cpsat.md, "Keeper paths").</param>
    public static SolveResult Solve(MapProblem p, SearchLimits limits, bool keeperFloor = false) => SolveLexicographic(p, [p.Objective], limits, keeperFloor);

    /// <summary>
    /// Minimizes the terms in order (as <see cref="Lexicographic"/>): each later term among the mappings whose earlier
    /// terms equal their optima, in one model (the earlier optima become constraints) with the previous answer as hint.
    /// </summary>
    public static SolveResult SolveLexicographic(MapProblem p, IReadOnlyList<Objective> terms, SearchLimits limits, bool keeperFloor = false)
        => SolveLexicographic(p, terms, limits, keeperFloor, start: null, wholeModel: true);

    /// <summary>
    /// Minimizes the problem's objective starting from a given mapping instead of the descent's, over the keep cases alone
    /// (no whole model beside them), so that the cases' own answer is what is checked (tests: a start outside the optimum's
    /// keep case).
    /// </summary>
    internal static SolveResult SolveFrom(MapProblem p, Mapping start, SearchLimits limits)
    {
        var report = CostModel.Evaluate(p.Layer, p.Arch, start);
        var seed = new SolveResult(SolveStatus.Feasible, start, report, report.Objective(p.Objective), 0, TimeSpan.Zero, 0, "start");
        return SolveLexicographic(p, [p.Objective], limits, keeperFloor: false, seed, wholeModel: false);
    }

    private static SolveResult SolveLexicographic(MapProblem p, IReadOnlyList<Objective> terms, SearchLimits limits, bool keeperFloor, SolveResult? start, bool wholeModel)
    {
        CheckScope(p);
        if (terms.Count == 0) throw new ArgumentException("A lexicographic objective needs at least one term.", nameof(terms));
        var clock = Stopwatch.StartNew();
        // The hint and the caps that keep CP-SAT's 64-bit arithmetic safe: the descent's mapping (nothing better is excluded).
        var seed = start ?? HintSource(p with { Objective = terms[0] }, limits);
        var hintReport = seed.Report;
        bool needEnergy = terms.Any(t => t != Objective.Latency), needCycles = terms.Any(t => t != Objective.Energy);
        var (scale, exact) = CpSatEncoding.ChooseScale(p.Arch, hintReport?.Energy ?? 0, needEnergy && needCycles ? hintReport?.Edp : null);
        var caps = hintReport is null ? (E: (double?)null, C: (double?)null, D: (double?)null)
            : (E: terms[0] == Objective.Energy ? hintReport.Energy : (double?)null,
               C: terms[0] == Objective.Latency ? hintReport.Cycles : (double?)null,
               D: terms[0] == Objective.Edp ? hintReport.Edp : (double?)null);
        // One term with a hint: the keep cases, each a model with its keep set fixed (docs/cpsat.md, "Keep cases").
        if (terms.Count == 1 && seed.Mapping is not null && KeepCase.Of(p) is { Count: > 1 } cases)
            return SolveByCases(p, terms[0], cases, seed, scale, exact, limits, clock, wholeModel);
        var enc = new CpSatEncoding(p, scale, exact, caps.E, caps.C, caps.D);
        enc.BuildCosts(needEnergy, needCycles, keeperFloor);
        // The global constraints as assumptions: an infeasible model names a set of them that conflicts.
        if (enc.GlobalLiterals.Count > 0) enc.Model.AddAssumptions(enc.GlobalLiterals);
        Mapping? hint = seed.Mapping;
        SolveResult? last = null;
        long branches = 0;
        var done = new List<Objective>();
        foreach (var term in terms)
        {
            var left = limits.TimeLimit is { } t ? t - clock.Elapsed : (TimeSpan?)null;
            if (left is { } lt && lt < TimeSpan.FromMilliseconds(50)) left = TimeSpan.FromMilliseconds(50);
            var obj = enc.Objective(term);
            if (obj.X is not null) enc.Model.Minimize(obj.X);
            if (hint is not null) enc.Hint(hint);
            var r = Run(p with { Objective = term }, enc, term, limits with { TimeLimit = left }, out long b, out long? value);
            branches += b;
            done.Add(term);
            last = r;
            if (r.Status != SolveStatus.Optimal || value is null) break;
            // The next terms keep this one at its optimum (exact in model units; a rounded-down scale keeps a superset).
            if (obj.X is not null) enc.Model.Add(obj.X <= value.Value);
            hint = r.Mapping;
        }
        bool proved = done.Count == terms.Count && last!.Status == SolveStatus.Optimal;
        string? why = proved || terms.Count == 1 ? last!.Explanation
            : $"{string.Join(",", terms.Select(Objectives.Name))}: the search of {Objectives.Name(done[^1])} stopped before its proof" +
              (done.Count < terms.Count ? $"; {string.Join(", ", terms.Skip(done.Count).Select(Objectives.Name))} not searched" : "");
        if (last!.Mapping is null && seed.Mapping is not null && last.Status == SolveStatus.Unknown && done.Count == 1)
        {
            // CP-SAT found nothing in time: the descent's mapping is still a valid answer, with CP-SAT's bound.
            last = last with { Status = SolveStatus.Feasible, Mapping = seed.Mapping, Report = seed.Report, Best = seed.Best, Explanation = "CP-SAT stopped before it found a mapping; the answer is the descent's hint" };
        }
        return last with { Elapsed = clock.Elapsed, Explored = branches, Explanation = why ?? last.Explanation, Terms = terms.Count > 1 ? done : null };
    }

    private static TimeSpan? Min(TimeSpan? a, TimeSpan b) => a is { } x && x < b ? x : b;

    /// <summary>How many keep cases run at once: <see cref="SearchLimits.Threads"/>, or one per core (each case one CP-SAT worker).</summary>
    private static int CaseWorkers(SearchLimits limits) => Math.Max(1, limits.Threads > 0 ? limits.Threads : Environment.ProcessorCount);

    /// <summary>The largest model value strictly cheaper than <paramref name="value"/> by more than the tolerance.</summary>
    internal static long Below(double value, double unit) => (long)Math.Ceiling(value * (1 - Tolerance) * unit) - 1;

    /// <summary>
    /// How long the whole model runs beside the keep cases in a search (<see cref="SolveByCases"/>): a quarter of the time
    /// left, at most this. Measured (docs/benchmarks.md, "CP-SAT floors per keep case"): the whole model's share is what
    /// bounds a search stopped before its cases have all started.
    /// </summary>
    internal static readonly TimeSpan WholeModelShare = TimeSpan.FromSeconds(15);

    private static TimeSpan WholeModelTime(SearchLimits limits, Stopwatch clock)
        => limits.TimeLimit is { } t ? TimeSpan.FromTicks(Math.Max(0, Math.Min(WholeModelShare.Ticks, (t - clock.Elapsed).Ticks / 4))) : WholeModelShare;

    /// <summary>
    /// Minimizes one term over the keep cases (docs/cpsat.md, "Keep cases"), beside the whole model: a portfolio whose
    /// first item is the whole model (keep literals open) for <see cref="WholeModelTime"/>, then the hint's case, minimized
    /// at most at the hint's value; every other case asks only for mappings strictly cheaper than the best found when it
    /// starts (INFEASIBLE closes it); <see cref="CaseWorkers"/> items run at a time, each model with the keeper-path floor.
    /// OPTIMAL when the whole model proves its optimum (the cases are stopped) or every case is closed; otherwise FEASIBLE
    /// with the bound the larger of the whole model's (it holds in every case) and the least of the open cases' (a case
    /// not started has none of its own).
    /// </summary>
    private static SolveResult SolveByCases(MapProblem p, Objective term, IReadOnlyList<KeepCase> cases, SolveResult seed,
        long scale, bool exact, SearchLimits limits, Stopwatch clock, bool wholeModel)
    {
        var gate = new object();
        double incumbent = seed.Report!.Objective(term);
        Mapping bestMapping = seed.Mapping!;
        CostReport bestReport = seed.Report;
        int first = Math.Max(0, cases.ToList().FindIndex(c => c.Holds(bestMapping)));
        const int whole = -1;
        var order = (wholeModel ? new[] { whole, first } : [first]).Concat(Enumerable.Range(0, cases.Count).Where(i => i != first)).ToArray();
        var closed = new bool[cases.Count];
        var caseBound = new double[cases.Count];
        double wholeBound = 0;
        bool wholeOptimal = false;
        long branches = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(limits.Cancel);
        var options = new ParallelOptions { MaxDegreeOfParallelism = CaseWorkers(limits) };
        // One item at a time, in order (an array's default partitioning hands each worker a range of its own).
        Parallel.ForEach(Partitioner.Create(order, EnumerablePartitionerOptions.NoBuffering), options, i =>
        {
            var left = limits.TimeLimit is { } t ? t - clock.Elapsed : (TimeSpan?)null;
            if (i == whole) left = Min(left, WholeModelTime(limits, clock));
            if (stop.IsCancellationRequested || left is { } l0 && l0 <= TimeSpan.Zero) return;
            double cap;
            Mapping hint;
            lock (gate) (cap, hint) = (incumbent, bestMapping);
            var q = (i == whole ? p : cases[i].Problem) with { Objective = term };
            // The whole model and the hint's own case may tie the hint; every other case must beat the best found so far.
            if (CutoffModel(q, scale, exact, cap, strict: i != first && i != whole, keeperFloor: true) is not { } model)
            {
                lock (gate) if (i != whole) closed[i] = true;
                return;
            }
            var (enc, obj) = model;
            double unit = term == Objective.Latency ? 1 : scale;
            // The whole model's objective is at least its lower end as built (with the floor, the keeper paths' least
            // words, rank by rank): a bound for every case even when CP-SAT is stopped before its presolve ends.
            if (i == whole) lock (gate) wholeBound = Math.Max(wholeBound, obj.Lo / unit);
            if (obj.X is not null) enc.Model.Minimize(obj.X);
            enc.Hint(hint);
            var r = Run(q, enc, term, limits with { TimeLimit = left, Threads = 1, Cancel = stop.Token }, out long b, out _, explain: false);
            lock (gate)
            {
                branches += b;
                if (r.Best is { } v && v < incumbent) { incumbent = v; bestMapping = r.Mapping!; bestReport = r.Report!; }
                if (i == whole)
                {
                    wholeOptimal = r.Status == SolveStatus.Optimal;
                    if (r.Status != SolveStatus.Infeasible) wholeBound = Math.Max(wholeBound, r.Bound);
                }
                else
                {
                    closed[i] = r.Status is SolveStatus.Optimal or SolveStatus.Infeasible;
                    caseBound[i] = Math.Max(r.Bound, obj.Lo / unit);
                }
                // Proved by the whole model, or every case closed: nothing is left to run.
                if (wholeOptimal || closed.All(c => c)) stop.Cancel();
            }
        });
        int open = wholeOptimal ? 0 : closed.Count(c => !c);
        double bound = Math.Max(wholeBound, Enumerable.Range(0, cases.Count).Where(i => !closed[i]).Select(i => caseBound[i]).Append(incumbent).Min());
        bool optimal = open == 0;
        string? why = optimal ? null
            : $"CP-SAT closed {cases.Count - open} of {cases.Count} keep cases before it stopped (time limit or interrupt); the bound is the larger of the whole model's and the least of the open cases'";
        return new SolveResult(optimal ? SolveStatus.Optimal : SolveStatus.Feasible, bestMapping, bestReport, incumbent,
            optimal ? incumbent : Math.Min(incumbent, bound), clock.Elapsed, branches, "cpsat", why);
    }

    /// <summary>
    /// The hint and the source of the caps: the descent's mapping (at most 5 s; it knows the level constraints only). Under
    /// global constraints it is used only when it satisfies them, else random sampling's (which honours them; at most 2 s),
    /// else none: a cap from a mapping outside the constrained mapspace could exclude the constrained optimum.
    /// </summary>
    private static SolveResult HintSource(MapProblem p, SearchLimits limits)
    {
        var none = new SolveResult(SolveStatus.Unknown, null, null, null, 0, TimeSpan.Zero, 0, "descent");
        SolveResult descent;
        try
        {
            descent = new Descent(p with { Constraints = p.Constraints?.LevelsOnly }).Solve(limits with { TimeLimit = Min(limits.TimeLimit, TimeSpan.FromSeconds(5)) });
        }
        catch (InvalidOperationException)
        {
            descent = none;
        }
        if (p.Constraints is not { Global.Count: > 0 } c) return descent;
        if (descent.Mapping is { } m && ConstraintCheck.Broken(c, p.Arch, m, () => descent.Report!).Count == 0) return descent;
        var sample = new RandomSampler(p, seed: 1, patience: 200, attemptsPerSample: 500).Solve(limits with { TimeLimit = Min(limits.TimeLimit, TimeSpan.FromSeconds(2)) });
        return sample.Mapping is not null ? sample : none;
    }

    /// <summary>The solver's parameters: workers, fixed seed, time limit (the fusion certificate's questions).</summary>
    internal static string Parameters(SearchLimits limits)
    {
        int workers = limits.Threads > 0 ? limits.Threads : Environment.ProcessorCount;
        var ps = new List<string> { $"num_workers:{Math.Max(1, workers)}", $"random_seed:{Seed}", "log_search_progress:false" };
        if (limits.TimeLimit is { } t) ps.Add($"max_time_in_seconds:{Math.Max(0.05, t.TotalSeconds).ToString("R", CultureInfo.InvariantCulture)}");
        return string.Join(" ", ps);
    }

    /// <summary>
    /// The parameters of the mapspace model (<see cref="Solve"/>, <see cref="Certify"/>): one worker unless
    /// <see cref="SearchLimits.Threads"/> asks for more, and no linear relaxation (<c>linearization_level:0</c>). Measured
    /// (docs/benchmarks.md, "CP-SAT reach"): the proofs come from the tree search; the second default worker runs
    /// neighbourhood searches that improve nothing once the descent's hint is optimal, and the LP over the products of
    /// factors costs more time than its bound saves.
    /// </summary>
    internal static string MapspaceParameters(SearchLimits limits)
        => Parameters(limits with { Threads = Math.Max(1, limits.Threads) }) + " linearization_level:0";

    /// <summary>Validates the model; an invalid model is a bug in the encoding, reported with CP-SAT's text.</summary>
    internal static void Validate(CpSatEncoding enc, MapProblem p)
    {
        string text = enc.Model.Validate();
        if (string.IsNullOrEmpty(text)) return;
        // The variables the message names, with their domains (the usual cause: bounds too wide for 64-bit sums).
        var proto = enc.Model.Model;
        var vars = System.Text.RegularExpressions.Regex.Matches(text, @"vars: (\d+)").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Distinct()
            .Where(i => i < proto.Variables.Count).Select(i => $"#{i} {proto.Variables[i].Name} [{string.Join(", ", proto.Variables[i].Domain)}]");
        string first = string.Join(" ", text.Split('\n').Select(x => x.Trim()).Where(x => !x.StartsWith("vars:", StringComparison.Ordinal) && !x.StartsWith("coeffs:", StringComparison.Ordinal)));
        throw new InvalidOperationException($"The CP-SAT model of layer {p.Layer.Name} on {p.Arch.Name} is invalid (a bug in the encoding): {first}; variables: {string.Join("; ", vars)}");
    }

    private static SolveResult Run(MapProblem p, CpSatEncoding enc, Objective term, SearchLimits limits, out long branches, out long? value, bool explain = true)
    {
        Validate(enc, p);
        var sw = Stopwatch.StartNew();
        var solver = new CpSolver { StringParameters = MapspaceParameters(limits) };
        CpSolverStatus status;
        using (limits.Cancel.Register(solver.StopSearch))
            status = limits.Cancel.IsCancellationRequested ? CpSolverStatus.Unknown : solver.Solve(enc.Model);
        branches = solver.Response?.NumBranches ?? 0;
        value = null;
        double unit = term == Objective.Latency ? 1 : enc.Scale;
        double bound = solver.Response is not null && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible or CpSolverStatus.Unknown ? Math.Max(0, solver.BestObjectiveBound / unit) : 0;
        if (status == CpSolverStatus.ModelInvalid)
            throw new InvalidOperationException($"CP-SAT rejected the model of layer {p.Layer.Name} on {p.Arch.Name} (a bug in the encoding): {solver.Response?.SolutionInfo}");
        if (status == CpSolverStatus.Infeasible)
            return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, sw.Elapsed, branches, "cpsat",
                explain ? $"CP-SAT proved the model infeasible: {Conflict(p, enc, solver) ?? Infeasibility.Explain(p)}" : "CP-SAT proved the model infeasible");
        if (status == CpSolverStatus.Unknown)
            return new SolveResult(SolveStatus.Unknown, null, null, null, bound, sw.Elapsed, branches, "cpsat", "CP-SAT stopped (time limit or interrupt) before it found a mapping.");
        var mapping = enc.Decode(solver);
        var obj = enc.Objective(term);
        long modelValue = enc.Value(solver, term);
        value = modelValue;
        var report = Recheck(p, enc, mapping, term, modelValue);
        double best = report.Objective(term);
        // With a rounded-down scale the model's optimum is a lower bound only: OPTIMAL when it meets the answer.
        bool closed = best <= bound * (1 + Tolerance) + 1e-12;
        bool optimal = status == CpSolverStatus.Optimal && (term == Objective.Latency || enc.ExactScale || closed);
        if (status == CpSolverStatus.Optimal) bound = Math.Min(best, bound);
        return optimal
            ? new SolveResult(SolveStatus.Optimal, mapping, report, best, best, sw.Elapsed, branches, "cpsat")
            : new SolveResult(SolveStatus.Feasible, mapping, report, best, Math.Min(best, bound), sw.Elapsed, branches, "cpsat",
                status == CpSolverStatus.Optimal
                    ? $"CP-SAT proved the optimum of the model, whose energies are rounded down to 1/{enc.Scale} pJ; the bound is that optimum"
                    : "CP-SAT stopped (time limit or interrupt) before it proved optimality");
    }

    /// <summary>
    /// The global constraints among CP-SAT's sufficient assumptions for infeasibility (a set that conflicts with the rest
    /// of the model), in words; null when the model is infeasible without any of them.
    /// </summary>
    private static string? Conflict(MapProblem p, CpSatEncoding enc, CpSolver solver)
    {
        if (enc.GlobalLiterals.Count == 0) return null;
        var core = solver.SufficientAssumptionsForInfeasibility().ToHashSet();
        var global = p.Constraints!.Global;
        var kept = Enumerable.Range(0, global.Count).Where(i => core.Contains(enc.GlobalLiterals[i].GetIndex())).ToList();
        if (kept.Count == 0) return null;
        // CP-SAT's set is sufficient, not always minimal: drop each constraint whose absence still leaves the model infeasible.
        var clock = Stopwatch.StartNew();
        bool minimal = true;
        foreach (int i in kept.ToList())
        {
            if (kept.Count == 1) break;
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) { minimal = false; break; }
            var rest = kept.Where(j => j != i).ToList();
            enc.Model.ClearAssumptions();
            enc.Model.AddAssumptions(rest.Select(j => enc.GlobalLiterals[j]));
            var check = new CpSolver { StringParameters = "num_workers:1 random_seed:1 stop_after_first_solution:true max_time_in_seconds:5" };
            var status = check.Solve(enc.Model);
            if (status == CpSolverStatus.Infeasible) kept = rest;
            else if (status is not (CpSolverStatus.Feasible or CpSolverStatus.Optimal)) minimal = false;
        }
        enc.Model.ClearAssumptions();
        enc.Model.AddAssumptions(enc.GlobalLiterals);
        return $"these constraints conflict: {string.Join("; ", kept.Select(i => global[i].Name(p.Arch)))}" +
               (kept.Count == 1 ? "." : minimal ? " (dropping any one of them leaves a mapping that satisfies the others)."
                   : " (CP-SAT did not decide within its time whether a smaller set of them conflicts).");
    }

    /// <summary>Re-checks a decoded mapping with the validity checker and the user constraints, re-costs it with the reference model, and compares with the model's value.</summary>
    private static CostReport Recheck(MapProblem p, CpSatEncoding enc, Mapping mapping, Objective term, long modelValue)
    {
        var report = MapEncoding.Recheck(p, mapping, "CP-SAT");
        if (p.Constraints is { Global.Count: > 0 } g && ConstraintCheck.Broken(g, p.Arch, mapping, () => report) is { Count: > 0 } bad)
            throw new InvalidOperationException($"CP-SAT returned a mapping that breaks {g.Global[bad[0]].Name(p.Arch)}; this is a bug in the encoding.");
        double reference = report.Objective(term);
        double model = term == Objective.Latency ? modelValue : (double)modelValue / enc.Scale;
        bool agree;
        if (term == Objective.Latency || enc.ExactScale)
            agree = Math.Abs(reference - model) <= Tolerance * Math.Max(1, Math.Abs(reference));
        else
        {
            // Rounded down: every counted word loses less than 1/scale pJ, and there are at most energy / smallest coefficient of them.
            double slack = reference / enc.SmallestCoefficient / enc.Scale * (term == Objective.Edp ? report.Cycles : 1);
            agree = model <= reference * (1 + Tolerance) + 1e-9 && reference - model <= slack * (1 + Tolerance) + 1e-9;
        }
        if (!agree)
            throw new InvalidOperationException($"CP-SAT costed its mapping at {model} ({Objectives.Name(term)}) but the cost model says {reference}; this is a bug in the encoding.");
        return report;
    }

    /// <summary>What <c>--certify cpsat</c> answered.</summary>
    public enum Verdict { Certified, Failed, Unknown }

    /// <summary>
    /// A certificate's answer: the verdict, a cheaper mapping's value when one was found, the time it took, and how many
    /// keep cases the question was split into and how many of them were left undecided.
    /// </summary>
    public sealed record Certificate(Verdict Verdict, double? Cheaper, TimeSpan Elapsed, int Cases, int Open);

    /// <summary>
    /// Asks CP-SAT whether any mapping has an objective below <paramref name="optimum"/> x (1 - 1e-9), independently of
    /// the search that found it; INFEASIBLE is the certificate. The question is asked in every keep case
    /// (<see cref="KeepCase"/>, <paramref name="keepCases"/>), each with its keeper-path floor, <see cref="CaseWorkers"/>
    /// at a time, the most kept first: CERTIFIED when every case is infeasible, FAILED as soon as one holds a cheaper
    /// mapping (re-costed by the reference model). <paramref name="keeperFloor"/> decides the floor of a single model.
    /// </summary>
    public static Certificate Certify(MapProblem p, double optimum, SearchLimits limits, bool keeperFloor = false, bool keepCases = true)
    {
        CheckScope(p);
        if (!double.IsFinite(optimum) || optimum < 0)
            throw new ArgumentOutOfRangeException(nameof(optimum), optimum, "The optimum to certify must be a finite, non-negative value.");
        var sw = Stopwatch.StartNew();
        var cases = keepCases ? KeepCase.Of(p) : [new KeepCase(p, [])];
        if (cases.Count == 1)
        {
            var (v1, c1) = CertifyCase(cases[0].Problem, optimum, limits, keeperFloor);
            return new Certificate(v1, c1, sw.Elapsed, 1, v1 == Verdict.Unknown ? 1 : 0);
        }
        var verdicts = new Verdict?[cases.Count];
        var cheaper = new double?[cases.Count];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(limits.Cancel);
        var options = new ParallelOptions { MaxDegreeOfParallelism = CaseWorkers(limits) };
        // One case at a time, in order (the most kept first).
        Parallel.ForEach(Partitioner.Create(Enumerable.Range(0, cases.Count), EnumerablePartitionerOptions.NoBuffering), options, i =>
        {
            var left = limits.TimeLimit is { } t ? t - sw.Elapsed : (TimeSpan?)null;
            if (stop.IsCancellationRequested || left is { } l0 && l0 <= TimeSpan.Zero) return;
            var (v, c) = CertifyCase(cases[i].Problem, optimum, limits with { TimeLimit = left, Cancel = stop.Token, Threads = 1 }, keeperFloor: true);
            verdicts[i] = v;
            cheaper[i] = c;
            if (v == Verdict.Failed) stop.Cancel();
        });
        int open = verdicts.Count(v => v is not Verdict.Certified);
        var failed = Enumerable.Range(0, cases.Count).Where(i => verdicts[i] == Verdict.Failed).Select(i => cheaper[i]!.Value).ToList();
        if (failed.Count > 0) return new Certificate(Verdict.Failed, failed.Min(), sw.Elapsed, cases.Count, open);
        return new Certificate(open == 0 ? Verdict.Certified : Verdict.Unknown, null, sw.Elapsed, cases.Count, open);
    }

    /// <summary>
    /// The model of p's objective term at most <paramref name="cap"/> (pJ, cycles or pJ x cycles), or, when
    /// <paramref name="strict"/>, cheaper than it by more than the tolerance (a rounded-down model keeps every such
    /// mapping), with every global constraint enforced; null when the objective is a constant that cannot be that cheap.
    /// </summary>
    private static (CpSatEncoding Enc, IntTerm<Google.OrTools.Sat.LinearExpr> Obj)? CutoffModel(MapProblem p, long scale, bool exact, double cap, bool strict, bool keeperFloor)
    {
        var term = p.Objective;
        var enc = new CpSatEncoding(p, scale, exact, term == Objective.Energy ? cap : null, term == Objective.Latency ? cap : null, term == Objective.Edp ? cap : null);
        enc.BuildCosts(term != Objective.Latency, term != Objective.Energy, keeperFloor);
        foreach (var lit in enc.GlobalLiterals) enc.Model.AddBoolOr([lit]);
        var obj = enc.Objective(term);
        if (!strict) return (enc, obj);
        long below = Below(cap, term == Objective.Latency ? 1 : scale);
        if (obj.X is not null) enc.Model.Add(obj.X <= below);
        else if (obj.C > below) return null;
        return (enc, obj);
    }

    /// <summary>The certificate's question in one model: INFEASIBLE certifies, a re-costed cheaper mapping fails it.</summary>
    private static (Verdict Verdict, double? Cheaper) CertifyCase(MapProblem p, double optimum, SearchLimits limits, bool keeperFloor)
    {
        var term = p.Objective;
        var (scale, exact) = CpSatEncoding.ChooseScale(p.Arch, term == Objective.Energy ? optimum : 0);
        if (term == Objective.Edp)
        {
            double room = CpSatEncoding.Limit / 4.0 / Math.Max(1, optimum);
            if (room < scale) { scale = Math.Max(1, (long)Math.Pow(10, Math.Floor(Math.Log10(Math.Max(1, room))))); exact = false; }
        }
        if (CutoffModel(p, scale, exact, optimum, strict: true, keeperFloor) is not { } model) return (Verdict.Certified, null);
        var (enc, obj) = model;
        Validate(enc, p);
        var solver = new CpSolver { StringParameters = MapspaceParameters(limits) };
        CpSolverStatus status;
        using (limits.Cancel.Register(solver.StopSearch))
            status = limits.Cancel.IsCancellationRequested ? CpSolverStatus.Unknown : solver.Solve(enc.Model);
        if (status == CpSolverStatus.ModelInvalid)
            throw new InvalidOperationException($"CP-SAT rejected the certificate model of layer {p.Layer.Name} (a bug in the encoding): {solver.Response?.SolutionInfo}");
        if (status == CpSolverStatus.Infeasible) return (Verdict.Certified, null);
        if (status is CpSolverStatus.Feasible or CpSolverStatus.Optimal)
        {
            var m = enc.Decode(solver);
            var report = Recheck(p, enc, m, term, enc.Value(solver, term));
            double v = report.Objective(term);
            return v < optimum * (1 - Tolerance) ? (Verdict.Failed, v) : (Verdict.Unknown, null);
        }
        return (Verdict.Unknown, null);
    }
}
