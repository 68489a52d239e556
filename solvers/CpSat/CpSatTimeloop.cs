using System.Diagnostics;
using Google.OrTools.Sat;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers.Symbolic;

namespace Optimizer.Solvers.CpSat;

/// <summary>
/// <c>--solver cpsat --convention timeloop</c> (docs/cpsat.md, "Under the Timeloop convention"): an exact search that
/// does not use the branch and bound's bounds. Timeloop's counts are an emulation, not a closed form, so the CP-SAT model
/// states the mapspace with a proven lower bound of the convention's cost (the default model's exact terms for the
/// tensors without a sliding window, a floor for the window tensors; <see cref="CpSatEncoding"/> with its
/// <c>timeloopFloor</c>), and a loop around it finds every mapping whose bound is below the incumbent: CP-SAT gives the
/// least-bound mapping still in the model, the emulation (<see cref="TimeloopConvention"/>) costs it in every order of
/// its spatial loops (which the model does not see), the incumbent improves, a clause excludes that mapping's decisions,
/// and again, until the model is INFEASIBLE: then no mapping's cost can be below the incumbent (cost &gt;= bound &gt;=
/// incumbent). A lexicographic list goes term by term, each later term among the mappings whose earlier terms' bounds
/// are at most their optima.
/// </summary>
public static class CpSatTimeloop
{
    /// <summary>The solver's name in results.</summary>
    public const string Name = "cpsat (timeloop convention)";

    private const double Tolerance = CpSatMapper.Tolerance;

    /// <summary>
    /// How many of CP-SAT's solutions come back from one round (its solution pool): every one is a mapping of the model,
    /// costed and excluded, so a round may close several. Measured (docs/benchmarks.md, "CP-SAT under the Timeloop
    /// convention").
    /// </summary>
    internal const int Pool = 20;

    /// <summary>A mapping's loops and keep sets as text (two decodings of one assignment have the same).</summary>
    private static string Signature(Mapping m)
        => string.Join("|", m.Levels.Select(l => string.Join(",", l.Temporal.Select(x => $"{x.Rank}{x.Factor}")) + "/" +
            string.Join(",", l.Spatial.Select(x => $"{x.Rank}{x.Factor}{x.Axis}")) + "/" + string.Join(",", l.Keep.Select(x => x.Name).Order(StringComparer.Ordinal))));

    /// <summary>Throws <see cref="ArgumentException"/> for a problem this search does not cover.</summary>
    public static void CheckScope(MapProblem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.Convention != CostConvention.Timeloop)
            throw new ArgumentException("CpSatTimeloop searches the Timeloop convention; the default model goes through CpSatMapper.");
        if (p.Caps is not null)
            throw new ArgumentException("The CP-SAT search under the Timeloop convention takes no cost caps; a lexicographic objective is a list of terms.");
        // The architecture's window capabilities are not refused: the convention counts as Timeloop does whatever they say.
    }

    /// <summary>
    /// The architecture the floor is stated on: Timeloop multicasts identical words and reduces on every fanout whatever its
    /// flags, and counts no network energy, so every fanout multicasts and reduces, with no hop energy (docs/mapspace.md,
    /// "Layers without a sliding window": the convention's counts of such tensors are the default model's on it).
    /// </summary>
    internal static Architecture FloorArchitecture(Architecture a)
        => new(a.Name, a.Description, a.Levels.Select(l => l with
        {
            Window = WindowReuse.Slide,
            Fanout = new Fanout(l.Fanout.X, l.Fanout.Y, multicast: true, spatialReduction: true, hopEnergy: 0, l.Fanout.Topology),
        }), a.Compute, a.ClockGHz);

    /// <summary>The problem whose CP-SAT model bounds the convention's cost: on <see cref="FloorArchitecture"/>, one axis per rank and fanout.</summary>
    internal static MapProblem FloorProblem(MapProblem p)
        => p with { Arch = FloorArchitecture(p.Arch), Convention = CostConvention.Default, OneAxis = true, Caps = null };

    /// <summary>
    /// The model of the floor for the terms up to <paramref name="k"/>: energy and cycles as those terms need, every global
    /// constraint enforced on the floor's counts (a relaxation: the candidates are checked on the convention's report),
    /// each earlier term's bound at most its optimum, and term k's bound strictly below <paramref name="incumbent"/>.
    /// </summary>
    /// <param name="largest">The largest energy (pJ) and energy-delay product the model must hold (the incumbent's), for the scale.</param>
    internal static (CpSatEncoding Enc, IntTerm<LinearExpr> Obj, double Unit) Model(MapProblem floor, IReadOnlyList<Objective> terms, int k,
        IReadOnlyList<double> optima, double? incumbent, (double Energy, double Edp)? largest)
    {
        var upto = terms.Take(k + 1).ToList();
        bool needEnergy = upto.Any(t => t != Objective.Latency), needCycles = upto.Any(t => t != Objective.Energy);
        double? Cap(Objective o) => upto.IndexOf(o) is var i && i < 0 ? null : i < k ? optima[i] : incumbent;
        var (scale, exact) = CpSatEncoding.ChooseScale(floor.Arch, largest?.Energy ?? 0, needEnergy && needCycles ? largest?.Edp : null);
        var enc = new CpSatEncoding(floor, scale, exact, Cap(Objective.Energy), Cap(Objective.Latency), Cap(Objective.Edp), timeloopFloor: true);
        enc.BuildCosts(needEnergy, needCycles);
        foreach (var lit in enc.GlobalLiterals) enc.Model.AddBoolOr([lit]);
        double Unit(Objective o) => o == Objective.Latency ? 1 : scale;
        for (int j = 0; j < k; j++)
        {
            // At most the optimum (rounded up by the tolerance): every mapping at the optimum has its bound below it.
            var o = enc.Objective(terms[j]);
            long most = (long)Math.Floor(optima[j] * (1 + Tolerance) * Unit(terms[j]));
            if (o.X is not null) enc.Model.Add(o.X <= most);
            else if (o.C > most) throw new InvalidOperationException($"The Timeloop floor of {Objectives.Name(terms[j])} ({o.C}) is above its optimum ({optima[j]}); this is a bug in the floor.");
        }
        var obj = enc.Objective(terms[k]);
        if (obj.X is not null) enc.Model.Minimize(obj.X);
        return (enc, obj, Unit(terms[k]));
    }

    /// <summary>
    /// A mapping of the model in every order of its spatial loops that Timeloop's format can say, each costed by the
    /// emulation (after the validity checker and the level constraints: a decoded mapping that breaks them is a bug).
    /// </summary>
    internal static List<(Mapping Mapping, CostReport Report)> Costed(MapProblem p, Mapping m)
    {
        var violations = ValidityChecker.Check(p.Layer, p.Arch, m);
        if (violations.Count > 0)
            throw new InvalidOperationException($"CP-SAT returned an invalid mapping ({violations[0].Message}); this is a bug in the encoding.");
        if (MapEncoding.BrokenConstraint(p, m) is { } broken)
            throw new InvalidOperationException($"CP-SAT returned a mapping that breaks a user constraint ({broken}); this is a bug in the encoding.");
        var costed = new List<(Mapping, CostReport)>();
        foreach (var ordered in Mapspace.SpatialOrders(m))
            if (TimeloopMapping.Inexpressible(ordered, p.Arch) is null)
                costed.Add((ordered, TimeloopConvention.Evaluate(p.Layer, p.Arch, ordered)));
        return costed;
    }

    /// <summary>True when a costed mapping meets the global constraints (on the convention's report).</summary>
    private static bool Meets(MapProblem p, (Mapping Mapping, CostReport Report) c)
        => p.Constraints is not { Global.Count: > 0 } g || ConstraintCheck.Broken(g, p.Arch, c.Mapping, () => c.Report).Count == 0;

    /// <summary>Lexicographic order of two reports over the terms (each within the tolerance).</summary>
    private static int Compare(IReadOnlyList<Objective> terms, CostReport a, CostReport b)
    {
        foreach (var t in terms)
        {
            double x = a.Objective(t), y = b.Objective(t);
            if (x < y * (1 - Tolerance)) return -1;
            if (y < x * (1 - Tolerance)) return 1;
        }
        return 0;
    }

    /// <summary>The descent's mapping (default model, at most 5 s), valued under the convention in its best spatial order: the first incumbent.</summary>
    private static (Mapping Mapping, CostReport Report)? Start(MapProblem p, IReadOnlyList<Objective> terms, SearchLimits limits)
    {
        try
        {
            var budget = TimeSpan.FromSeconds(Math.Min(5, (limits.TimeLimit?.TotalSeconds ?? 50) / 10));
            var d = new Descent(p with { Convention = CostConvention.Default, Objective = terms[0], Constraints = p.Constraints?.LevelsOnly }).Solve(limits with { TimeLimit = budget });
            if (d.Mapping is null) return null;
            var ok = Costed(p, d.Mapping).Where(c => Meets(p, c)).ToList();
            return ok.Count == 0 ? null : ok.Aggregate((a, b) => Compare(terms, b.Report, a.Report) < 0 ? b : a);
        }
        catch (InvalidOperationException)
        {
            return null;  // no valid start (tight constraints): the loop starts without an incumbent
        }
    }

    /// <summary>Minimizes the terms in order under the Timeloop convention (one term: a list of one).</summary>
    public static SolveResult Solve(MapProblem p, IReadOnlyList<Objective> terms, SearchLimits limits) => Search(p, terms, limits, claim: null);

    /// <summary>
    /// <c>--certify cpsat</c> under the Timeloop convention: the same loop started from the claimed optimum instead of a
    /// mapping, so every mapping cheaper than it by more than 1e-9 is still in the model. CERTIFIED when the model empties
    /// with nothing cheaper found, FAILED with the cheapest found (costed by the emulation), UNKNOWN when stopped first.
    /// </summary>
    public static CpSatMapper.Certificate Certify(MapProblem p, double optimum, SearchLimits limits)
    {
        if (!double.IsFinite(optimum) || optimum < 0)
            throw new ArgumentOutOfRangeException(nameof(optimum), optimum, "The optimum to certify must be a finite, non-negative value.");
        var r = Search(p, [p.Objective], limits, optimum);
        var verdict = r.Best is { } v && v < optimum * (1 - Tolerance) ? CpSatMapper.Verdict.Failed
            : r.Status == SolveStatus.Infeasible ? CpSatMapper.Verdict.Certified : CpSatMapper.Verdict.Unknown;
        return new CpSatMapper.Certificate(verdict, verdict == CpSatMapper.Verdict.Failed ? r.Best : null, r.Elapsed, 1, verdict == CpSatMapper.Verdict.Unknown ? 1 : 0);
    }

    /// <summary>The loop; with a <paramref name="claim"/> it starts from that value of the first term instead of the descent's mapping.</summary>
    private static SolveResult Search(MapProblem p, IReadOnlyList<Objective> terms, SearchLimits limits, double? claim)
    {
        CheckScope(p);
        if (terms.Count == 0) throw new ArgumentException("A lexicographic objective needs at least one term.", nameof(terms));
        var clock = Stopwatch.StartNew();
        var floor = FloorProblem(p);
        var best = claim is null ? Start(p, terms, limits) : null;
        var optima = new List<double>();
        long candidates = 0, rounds = 0, branches = 0;
        double bound = 0;
        bool stopped = false;
        for (int k = 0; k < terms.Count && !stopped; k++)
        {
            var term = terms[k];
            double? incumbent = best?.Report.Objective(term) ?? (k == 0 ? claim : null);
            // The scale holds the incumbent's energy and EDP; from a claim, the claimed value (an energy is at most its EDP).
            var largest = best is { } b0 ? (b0.Report.Energy, b0.Report.Edp) : claim is { } c0 && term != Objective.Latency ? (c0, c0) : ((double, double)?)null;
            var (enc, obj, unit) = Model(floor, terms, k, optima, incumbent, largest);
            CpSatMapper.Validate(enc, floor);
            bool closed = false;
            // Term k's bound strictly below the incumbent: a mapping that cannot beat it by more than the tolerance is out.
            void Below(double value)
            {
                long below = CpSatMapper.Below(value, unit);
                if (obj.X is not null) enc.Model.Add(obj.X <= below);
                else if (obj.C > below) closed = true;
            }
            if (incumbent is { } i0) Below(i0);
            double open = 0;  // the least bound of the mappings still in the model, as far as proved
            while (!closed)
            {
                var left = limits.TimeLimit is { } t ? t - clock.Elapsed : (TimeSpan?)null;
                if (limits.Cancel.IsCancellationRequested || left is { } l0 && l0 <= TimeSpan.Zero) { stopped = true; break; }
                // The solver's pool of solutions comes back too: each is a mapping of the model, costed and excluded alike.
                var solver = new CpSolver { StringParameters = CpSatMapper.MapspaceParameters(limits with { TimeLimit = left }) + $" fill_additional_solutions_in_response:true solution_pool_size:{Pool}" };
                CpSolverStatus status;
                using (limits.Cancel.Register(solver.StopSearch)) status = solver.Solve(enc.Model);
                rounds++;
                branches += solver.Response?.NumBranches ?? 0;
                if (status == CpSolverStatus.ModelInvalid)
                    throw new InvalidOperationException($"CP-SAT rejected the Timeloop floor model of layer {p.Layer.Name} on {p.Arch.Name} (a bug in the encoding): {solver.Response?.SolutionInfo}");
                if (status == CpSolverStatus.Infeasible) break;
                if (status == CpSolverStatus.Unknown)
                {
                    if (obj.X is not null) open = Math.Max(open, solver.BestObjectiveBound / unit);
                    stopped = true;
                    break;
                }
                var m = enc.Decode(solver);
                double least = (obj.C ?? solver.Value(obj.X!)) / unit;
                if (status == CpSolverStatus.Optimal) open = Math.Max(open, least);
                else if (obj.X is not null) open = Math.Max(open, solver.BestObjectiveBound / unit);
                var pooled = (solver.Response?.AdditionalSolutions ?? []).Select(x => enc.Decode(x.Values)).ToList();
                var seen = new HashSet<string>();
                foreach (var (candidate, floorValue) in pooled.Select(x => (x, (double?)null)).Prepend((m, least)))
                {
                    if (!seen.Add(Signature(candidate))) continue;
                    var costed = Costed(p, candidate);
                    candidates++;
                    // The floor is a proven lower bound; a candidate that costs less than it is a bug in the floor.
                    foreach (var c in costed)
                        if (floorValue is { } f && c.Report.Objective(term) < f * (1 - Tolerance) - 1e-9)
                            throw new InvalidOperationException($"The Timeloop floor of {Objectives.Name(term)} ({f}) is above the emulation's cost ({c.Report.Objective(term)}) of a mapping of layer {p.Layer.Name}; this is a bug in the floor.");
                    var ok = costed.Where(c => Meets(p, c) && Enumerable.Range(0, k).All(j => c.Report.Objective(terms[j]) <= optima[j] * (1 + Tolerance))).ToList();
                    if (ok.Count > 0)
                    {
                        var cand = ok.MinBy(c => c.Report.Objective(term));
                        double v = cand.Report.Objective(term);
                        if (incumbent is not { } inc || v < inc * (1 - Tolerance))
                        {
                            best = cand;
                            incumbent = v;
                            Below(v);
                        }
                    }
                    if (!enc.Exclude(candidate)) closed = true;
                }
                if (status != CpSolverStatus.Optimal) { stopped = true; break; }
            }
            if (stopped)
            {
                bound = incumbent is { } inc ? Math.Min(inc, open) : open;
                optima.Add(double.NaN);
                break;
            }
            if (best is null)
                return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, clock.Elapsed, branches, Name,
                    claim is { } cl ? $"no mapping has {Objectives.Name(term)} below {cl} ({candidates} candidates costed in {rounds} CP-SAT rounds)"
                        : $"no mapping Timeloop's format can say meets the constraints ({candidates} candidates costed in {rounds} CP-SAT rounds): {Infeasibility.Explain(p)}");
            optima.Add(best.Value.Report.Objective(term));
        }
        var done = terms.Take(optima.Count).ToList();
        string counts = $"{candidates} candidates costed by the Timeloop emulation in {rounds} CP-SAT rounds";
        if (!stopped)
        {
            var (bm, br) = best!.Value;
            double v = br.Objective(terms[^1]);
            return new SolveResult(SolveStatus.Optimal, bm, br, v, v, clock.Elapsed, branches, Name, counts) { Terms = terms.Count > 1 ? done : null };
        }
        string why = $"CP-SAT under the Timeloop convention stopped (time limit or interrupt) in {Objectives.Name(done[^1])}; the bound is the least floor of the mappings left open; {counts}";
        if (best is not { } b)
            return new SolveResult(SolveStatus.Unknown, null, null, null, bound, clock.Elapsed, branches, Name, why) { Terms = terms.Count > 1 ? done : null };
        double value = b.Report.Objective(done[^1]);
        return new SolveResult(SolveStatus.Feasible, b.Mapping, b.Report, value, Math.Min(value, bound), clock.Elapsed, branches, Name, why) { Terms = terms.Count > 1 ? done : null };
    }
}
