using System.CommandLine;
using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Solvers.CpSat;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary><c>optimizer map</c>: find the best mapping of a layer (or of every layer) and say what was proved.</summary>
internal static class MapCommand
{
    public static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: a preset name or a spec file.", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name, a spec file, or a model file (.onnx or .mlir; docs/frontends.md).", Required = true };
        var layer = new Option<string?>("--layer") { Description = "The layer to map (default: the only one)." };
        var allLayers = new Option<bool>("--all-layers") { Description = "Map every layer; one line per layer, then totals." };
        var objective = OptionRules.Objective("What to minimize: energy, latency (or delay), edp, or a lexicographic list such as delay,energy (least cycles, then least energy among them, as Timeloop's optimization-metrics; exact, brute and cpsat solvers).");
        var solver = new Option<string>("--solver")
        {
            Description = "exact (branch and bound), brute (plain enumeration, small cases), cpsat (the mapspace as a CP-SAT model, docs/cpsat.md), z3 (the SMT encoding, small cases, energy only), descent (fast bottom-up cost descent) or random (the sampling baseline); the last two prove nothing.",
            DefaultValueFactory = _ => "exact",
        };
        solver.AcceptOnlyFromAmong("exact", "brute", "cpsat", "z3", "random", "descent");
        var convention = OptionRules.Convention("How mappings are costed: default (docs/cost-model.md; proved by the branch and bound) or timeloop (Timeloop v3.0.3's counts; " +
                          "proved by a branch and bound with weaker bounds that hold for those counts, docs/mapspace.md, or by --solver cpsat over a floor of them, docs/cpsat.md; real layers may end FEASIBLE with a gap).");
        var seed = new Option<int>("--seed") { Description = "Seed of --solver random.", DefaultValueFactory = _ => 1 };
        var certify = new Option<string?>("--certify")
        {
            Description = "Ask a second solver whether any mapping costs less than the answer: z3 (the default; unsat = certified; small cases, energy only) or cpsat (CP-SAT; infeasible = certified; every objective of one term; under --convention timeloop too).",
            Arity = ArgumentArity.ZeroOrOne,
            HelpName = "z3|cpsat",
        };
        certify.AcceptOnlyFromAmong("z3", "cpsat");
        var simulate = new Option<bool>("--simulate") { Description = "Simulate the chosen mapping (optimizer simulate) and print its counts and cycles beside the model's." };
        var exportSmt2 = new Option<string?>("--export-smt2") { Description = "Write that question in SMT-LIB 2, so any SMT solver can re-check it." };
        var timeLimit = OptionRules.TimeLimit("Seconds per layer; when reached, the best mapping so far is returned with its bound and gap.");
        var threads = new Option<int>("--threads") { Description = "Worker threads (0, the default: one per core; --solver cpsat and --certify cpsat: one CP-SAT worker, docs/cpsat.md); the answer is the same for any count.", DefaultValueFactory = _ => 0 }.Within(0, 1024);
        var csv = new Option<string?>("--csv") { Description = "Write the result as CSV (one row per level and tensor, or one row per layer with --all-layers)." };
        var constraints = new Option<string?>("--constraints") { Description = "A constraint spec file pinning parts of the mapping; the proof is then over the constrained mapspace." };
        var mappingOut = new Option<string?>("--mapping-out") { Description = "Write the best mapping as a mapping spec file (optimizer evaluate reads it back); in Timeloop's format with --format timeloop." };
        var network = new Option<bool>("--network")
        {
            Description = "Map the whole network on a multi-node architecture (multinode, multinode-4x4): segments of consecutive layers, " +
                          "each laid out on node regions (side by side, pipelined) or one after another on all nodes, each layer mapped by the descent; " +
                          "prints segments, regions, per-layer costs and totals beside the all-sequential baseline (docs/network.md).",
        };
        var maxSegment = new Option<int>("--max-segment") { Description = "With --network: the most layers in one segment.", DefaultValueFactory = _ => NetworkOptions.Default.MaxSegment }.Within(1);
        var chains = new Option<int>("--chains") { Description = "With --network: how many chains of segments the dynamic programme keeps and solves in full.", DefaultValueFactory = _ => NetworkOptions.Default.Chains }.Within(1);
        var maxPasses = new Option<int>("--max-passes") { Description = "With --network: the most passes a pipelined segment splits its batch into (powers of two).", DefaultValueFactory = _ => NetworkOptions.Default.MaxPasses }.Within(1);
        var format = ReadingOptions.Format("The format --mapping-out writes: timeloop writes Timeloop's mapping format (the best mapping it can express; exit code 4 when none ties with the answer), native or auto the native one.");
        var energy = ReadingOptions.Energy();
        var imperfect = FactorizationOption.Build("one layer, no constraints, one objective: energy by a branch and bound, latency and EDP by enumeration (small layers only; docs/mapspace.md)");
        var plot = Plots.PlotOption("the chosen mapping's energy by level and tensor (one layer)");
        var report = Plots.ReportOption();
        var shapes = ShapeOptions.Build();
        var cmd = new Command("map", "Find the mapping that minimizes the objective over the mapspace (docs/mapspace.md), and prove it optimal when the search completes.")
        {
            arch, workload, layer, allLayers, objective, convention, solver, seed, timeLimit, threads, constraints, csv, mappingOut, certify, exportSmt2, simulate, format, energy,
            network, maxSegment, chains, maxPasses, imperfect, plot, report,
        };
        foreach (var o in shapes.All) cmd.Options.Add(o);
        // Ctrl-C or SIGTERM stops the search, which then prints the best mapping so far with its bound.
        cmd.SetAction(pr => Program.Guard(() => Run(pr, Interrupt.Token)));
        return cmd;

        int Run(ParseResult pr, CancellationToken cancel)
        {
            var reading = ReadingOptions.Of(pr, format, energy);
            var a = Inputs.Architecture(pr.GetValue(arch)!, reading);
            var w = Inputs.Workload(pr.GetValue(workload)!, reading);
            var limits = new SearchLimits(OptionRules.Span(pr.GetValue(timeLimit)), cancel, pr.GetValue(threads));
            var terms = OptionRules.ObjectiveOf(pr, objective);
            var obj = terms[0];
            var costing = OptionRules.ConventionOf(pr, convention);
            var engine = new Engine(pr.GetValue(solver)!, pr.GetValue(seed), terms, costing, FactorizationOption.Of(pr, imperfect));
            if ((shapes.Given(pr) || engine.Factorization == Factorization.Imperfect) && a.HasWindowCapabilities)
                throw new InputException($"{pr.GetValue(arch)}: {ImperfectRules.WindowCapabilities(a.Name)}");
            if (shapes.Given(pr))
            {
                ShapesCommand.Refuse(pr, [allLayers, network, constraints, certify, exportSmt2, simulate, plot, report], engine.Name, costing, terms.Count);
                return ShapesCommand.Map(pr, shapes, w, Inputs.Layer(w, pr.GetValue(layer)), a, obj, limits, pr.GetValue(csv), pr.GetValue(mappingOut));
            }
            if (engine.Factorization == Factorization.Imperfect)
            {
                Option[] notWithImperfect = [allLayers, network, constraints, certify, exportSmt2];
                foreach (var o in notWithImperfect)
                    if (pr.GetResult(o) is { Implicit: false })
                        throw new InputException($"{o.Name} is not supported with --imperfect (the imperfect mapspace is searched for one layer without constraints; docs/mapspace.md).");
                if (costing != CostConvention.Default || terms.Count > 1 || engine.Name is not ("exact" or "brute"))
                    throw new InputException("--imperfect is searched by --solver exact (a branch and bound for energy, an enumeration for latency and EDP) or brute (an enumeration) under the default model, for one objective term.");
            }
            string? certifier = pr.GetResult(certify) is { Implicit: false } ? pr.GetValue(certify) ?? "z3" : null;
            if (costing != CostConvention.Default && (certifier == "z3" || pr.GetValue(exportSmt2) is not null))
                throw new InputException("--certify z3 and --export-smt2 certify the default model; they cannot be combined with --convention timeloop (--certify cpsat can).");
            if (costing != CostConvention.Default && (pr.GetValue(network) || engine.Name is not ("exact" or "brute" or "cpsat")))
                throw new InputException($"--convention {pr.GetValue(convention)} is searched by --solver exact, brute or cpsat (costed by that convention); not with {(pr.GetValue(network) ? "--network" : $"--solver {engine.Name}")}.");
            if (terms.Count > 1 && engine.Name == "z3")
                throw new InputException($"A lexicographic objective ({pr.GetValue(objective)}) is searched by --solver exact, brute, cpsat, descent or random (and --network); not with --solver z3.");
            if (engine.Name == "z3" && (terms.Count > 1 || obj != Objective.Energy))
                throw new InputException($"--solver z3 encodes energy only (docs/z3-encoding.md); for --objective {pr.GetValue(objective)} use --solver exact.");
            var constraintFile = pr.GetValue(constraints);
            var visuals = Visuals.Of(pr, plot, report);
            if (pr.GetValue(network) || pr.GetValue(allLayers))
                visuals.NotWith($"with {(pr.GetValue(network) ? "--network" : "--all-layers")}: they draw one layer's mapping (map --layer NAME)");
            if (pr.GetValue(network))
            {
                Option[] notWithNetwork = [layer, allLayers, constraints, mappingOut, certify, exportSmt2, simulate, seed];
                foreach (var o in notWithNetwork)
                    if (pr.GetResult(o) is { Implicit: false })
                        throw new InputException($"{o.Name} is not supported with --network (a whole-network plan is one mapping per layer and region; use --csv for them).");
                if (pr.GetResult(solver) is { Implicit: false } && pr.GetValue(solver) != "descent")
                    throw new InputException($"--network maps every layer with the descent heuristic; --solver {pr.GetValue(solver)} is not supported with it.");
                var options = new NetworkOptions(pr.GetValue(maxSegment), pr.GetValue(chains), pr.GetValue(maxPasses));
                return NetworkMap.Run(w, a, terms, options, limits, pr.GetValue(csv));
            }
            if (pr.GetValue(maxSegment) != NetworkOptions.Default.MaxSegment || pr.GetValue(chains) != NetworkOptions.Default.Chains || pr.GetValue(maxPasses) != NetworkOptions.Default.MaxPasses)
                throw new InputException("--max-segment, --chains and --max-passes apply only with --network.");
            if (pr.GetValue(allLayers))
            {
                if (pr.GetValue(layer) is { } named) throw new InputException($"--layer {named} and --all-layers contradict each other: give one of them.");
                if (constraintFile is not null) throw new InputException("--constraints applies to one layer; use it with --layer, not --all-layers.");
                return MapAll(w, a, obj, engine, limits, pr.GetValue(csv));
            }
            var l = Inputs.Layer(w, pr.GetValue(layer));
            var c = constraintFile is null ? null : Inputs.Constraints(constraintFile, l, a, reading);
            if (c is { Global.Count: > 0 } && (engine.Name is "descent" or "z3" || certifier == "z3" || pr.GetValue(exportSmt2) is not null))
                throw new InputException($"{constraintFile} has global constraints ({c.Global[0].Name(a)}{(c.Global.Count > 1 ? $" and {c.Global.Count - 1} more" : "")}): " +
                                         $"{GlobalConstraint.Honoured}; not with {(engine.Name is "descent" or "z3" ? $"--solver {engine.Name}" : certifier == "z3" ? "--certify z3" : "--export-smt2")}.");
            if (certifier == "cpsat" && terms.Count > 1)
                throw new InputException("--certify cpsat certifies one objective; a lexicographic list is proved term by term by --solver cpsat itself.");
            var outputs = new Outputs(pr.GetValue(csv), pr.GetValue(mappingOut), certifier, pr.GetValue(exportSmt2), pr.GetValue(simulate), reading.Format == SpecFormat.Timeloop, visuals);
            return MapOne(w, l, a, obj, c, engine, limits, outputs);
        }
    }

    /// <summary>The status line: OPTIMAL, FEASIBLE with bound and gap, INFEASIBLE with why, or UNKNOWN.</summary>
    public static string StatusLine(SolveResult r, Objective objective) => r.Terms is { Count: > 1 } ? LexicographicStatus(r) : r.Status switch
    {
        SolveStatus.Optimal => $"OPTIMAL {objective.ToString().ToLowerInvariant()}={Text.Num(r.Best!.Value)} (proved by {r.Solver} search: nothing in the mapspace costs less)",
        SolveStatus.Feasible => $"FEASIBLE best={Text.Num(r.Best!.Value)} bound={Text.Num(r.Bound)} gap={r.GapPercent!.Value:0.###}% " +
            (r.Solver is "descent" or "random" ? $"({r.Solver} is a heuristic: it proves nothing)" : "(the search stopped before it could prove optimality)"),
        SolveStatus.Infeasible => $"INFEASIBLE: {r.Explanation}",
        _ => $"UNKNOWN: {r.Explanation}",
    };

    /// <summary>The status line of a lexicographic objective: every term's value in order, or the term the search stopped in with its bound and gap.</summary>
    private static string LexicographicStatus(SolveResult r)
    {
        var terms = r.Terms!;
        string names = string.Join(",", terms.Select(Objectives.Name));
        return r.Status switch
        {
            SolveStatus.Optimal => $"OPTIMAL {names}: {string.Join(", then ", terms.Select(t => $"{Objectives.Name(t)}={Text.Num(r.Report!.Objective(t))}"))} " +
                $"(proved by {r.Solver} search term by term: nothing in the mapspace is better in this order)",
            SolveStatus.Feasible when r.Solver is "descent" or "random" =>
                $"FEASIBLE {names}: {string.Join(", then ", terms.Select(t => $"{Objectives.Name(t)}={Text.Num(r.Report!.Objective(t))}"))} " +
                $"({r.Solver} is a heuristic: it proves nothing; {Objectives.Name(terms[0])} bound={Text.Num(r.Bound)} gap={r.GapPercent!.Value:0.###}%)",
            SolveStatus.Feasible => $"FEASIBLE {names}: {Objectives.Name(terms[^1])} best={Text.Num(r.Best!.Value)} bound={Text.Num(r.Bound)} gap={r.GapPercent!.Value:0.###}% ({r.Explanation})",
            SolveStatus.Infeasible => $"INFEASIBLE: {r.Explanation}",
            _ => $"UNKNOWN: {r.Explanation}",
        };
    }

    /// <summary>Which solver runs, its seed when it samples, and the objective's terms (more than one: lexicographic).</summary>
    private sealed record Engine(string Name, int Seed, IReadOnlyList<Objective> Terms, CostConvention Convention = CostConvention.Default,
        Factorization Factorization = Factorization.Perfect)
    {
        /// <summary>The objective as the user wrote it, normalized (delay,energy reads latency,energy).</summary>
        public string Label => string.Join(",", Terms.Select(Objectives.Name));

        public SolveResult Solve(MapProblem problem, SearchLimits limits)
        {
            var p = problem with { Convention = Convention };
            // Energy is proven by the branch and bound over the imperfect mapspace; latency, EDP and --solver brute enumerate it.
            if (Factorization == Factorization.Imperfect)
                return Name == "exact" && p.Objective == Objective.Energy ? new ImperfectSearch(p).Solve(limits) : new ImperfectEnumeration(p).Solve(limits);
            if (Name == "cpsat")
            {
                try
                {
                    // Under the Timeloop convention: a floor model and the emulation in a loop (docs/cpsat.md, "Under the Timeloop convention").
                    return p.Convention == CostConvention.Timeloop ? CpSatTimeloop.Solve(p, Terms, limits) : CpSatMapper.SolveLexicographic(p, Terms, limits);
                }
                catch (InvalidOperationException e)
                {
                    // A model CP-SAT rejects, or an answer the reference model disagrees with, is a bug: one clear message, no stack trace.
                    throw new InputException($"--solver cpsat failed (a bug, please report it): {e.Message}");
                }
            }
            if (Terms.Count > 1 && Name is "descent" or "random") return Lexicographic.Heuristic(p, Terms, limits, Pick);
            return Terms.Count > 1 ? Lexicographic.Solve(p, Terms, limits, prune: Name != "brute") : Pick(p, limits);
        }

        private SolveResult Pick(MapProblem p, SearchLimits limits) => Name switch
        {
            "brute" => new TilingSearch(p, prune: false).Solve(limits),
            "z3" => Z3Mapper.Solve(p, limits),
            "random" => new RandomSampler(p, Seed).Solve(limits),
            "descent" => new Descent(p).Solve(limits),
            _ => new TilingSearch(p, prune: true).Solve(limits),
        };
    }

    /// <summary>What MapOne writes besides the printout.</summary>
    private sealed record Outputs(string? Csv, string? MappingOut, string? Certify, string? Smt2, bool Simulate, bool Timeloop, Visuals Visuals);

    private static int MapOne(Workload w, Einsum layer, Architecture arch, Objective objective, MappingConstraints? constraints, Engine engine, SearchLimits limits, Outputs outputs)
    {
        string? csv = outputs.Csv, mappingOut = outputs.MappingOut;
        Console.WriteLine($"Mapping layer {layer.Name} of {w.Name} on {arch.Name}, minimizing {engine.Label}: {layer}");
        var problem = new MapProblem(layer, arch, objective, constraints);
        var r = Live.Run(layer.Name, p => engine.Solve(problem, limits with { Progress = p }));
        bool notWritten = false;
        Console.WriteLine($"{r.Solver} search: {Text.Int(r.Explored)} nodes in {r.Elapsed.TotalSeconds:0.###} s");
        if (r.Solver == CpSatTimeloop.Name && r.Status == SolveStatus.Optimal) Console.WriteLine(r.Explanation);
        Console.WriteLine();
        if (r.Mapping is not null)
        {
            Console.Write(ReportPrinter.Print(layer, arch, r.Mapping, r.Report!));
            Console.WriteLine();
            if (mappingOut is not null && !outputs.Timeloop)
            {
                AtomicFile.WriteAllText(mappingOut, MappingSpec.Write(r.Mapping, layer, arch));
                Console.WriteLine($"Wrote {mappingOut}");
            }
            else if (mappingOut is not null && engine.Factorization == Factorization.Imperfect)
            {
                // Timeloop's format says imperfect factors with their residuals; a rank along both axes of a fanout it cannot say.
                if (TimeloopMapping.Inexpressible(r.Mapping, arch) is { } why)
                {
                    Console.WriteLine($"Did not write {mappingOut} (exit code {TimeloopNotWritten}; --format native writes the mapping above in the native format): {why}");
                    notWritten = true;
                }
                else
                {
                    AtomicFile.WriteAllText(mappingOut, TimeloopMapping.Write(r.Mapping, layer, arch));
                    Console.WriteLine($"Wrote {mappingOut}");
                }
            }
            else if (mappingOut is not null)
                notWritten = !WriteTimeloop(problem, r.Mapping, mappingOut, p => engine.Solve(p, limits));
            if (csv is not null)
            {
                CsvExport.Write(csv, CsvExport.Rows(layer, r.Report!));
                Console.WriteLine($"Wrote {csv}");
            }
        }
        Console.WriteLine(StatusLine(r, objective));
        outputs.Visuals.WriteLayer($"map: {layer.Name} of {w.Name} on {arch.Name}, minimizing {engine.Label}", layer, arch, r.Mapping, r.Report, StatusLine(r, objective),
            [$"{r.Solver} search: {Text.Int(r.Explored)} nodes in {r.Elapsed.TotalSeconds:0.###} s, minimizing {engine.Label}."]);
        if (outputs.Simulate && r.Mapping is not null)
        {
            Console.WriteLine();
            if (SimulateCommand.Run(w, layer, arch, r.Mapping, null, null, engine.Factorization) != 0) return 1;
        }
        if (outputs.Certify == "cpsat" && r.Best is { } proved)
            CertifyWithCpSat(problem with { Convention = engine.Convention }, proved, limits);
        if ((outputs.Certify == "z3" || outputs.Smt2 is not null) && r.Best is { } best)
            CertifyAnswer(problem, best, limits, outputs);
        return r.Status is not (SolveStatus.Optimal or SolveStatus.Feasible) ? 3 : notWritten ? TimeloopNotWritten : 0;
    }

    /// <summary>The exit code of <c>map --mapping-out FILE --format timeloop</c> when no mapping Timeloop can express ties with the answer (the result is printed, FILE is not written).</summary>
    public const int TimeloopNotWritten = 4;

    /// <summary>
    /// Writes the answer in Timeloop's format, or an equal-cost mapping Timeloop can express when the answer splits a
    /// rank over both axes (<see cref="OneAxisTie"/>), saying so; false, with why, when there is none.
    /// </summary>
    private static bool WriteTimeloop(MapProblem problem, Mapping mapping, string path, Func<MapProblem, SolveResult> solve)
    {
        var tie = OneAxisTie.Find(problem, mapping, solve);
        if (tie.Mapping is not { } m)
        {
            Console.WriteLine($"Did not write {path} (exit code {TimeloopNotWritten}; --format native writes the mapping above in the native format): {tie.How}");
            return false;
        }
        AtomicFile.WriteAllText(path, TimeloopMapping.Write(m, problem.Layer, problem.Arch));
        if (ReferenceEquals(m, mapping)) Console.WriteLine($"Wrote {path}");
        else
            Console.WriteLine($"Wrote {path}: a mapping of equal {problem.Objective.ToString().ToLowerInvariant()} that Timeloop's format can express, " +
                              $"{tie.How}, since it holds one spatial factor per dimension and level and the mapping above does not: " +
                              m.ToCompactString(problem.Arch.Levels.Select(l => l.Name).ToList()));
        return true;
    }

    /// <summary>Asks CP-SAT whether anything costs less than the answer (its own model, independent of the search that found it), and says how long it took.</summary>
    private static void CertifyWithCpSat(MapProblem problem, double best, SearchLimits limits)
    {
        string name = Objectives.Name(problem.Objective);
        try
        {
            // Under the Timeloop convention: the floor model and the emulation in a loop, started from the answer (docs/cpsat.md).
            var (verdict, cheaper, elapsed, cases, open) = problem.Convention == CostConvention.Timeloop
                ? CpSatTimeloop.Certify(problem, best, limits) : CpSatMapper.Certify(problem, best, limits);
            string split = cases > 1 ? $" in each of its {cases} keep cases" : "";
            Console.WriteLine(verdict switch
            {
                CpSatMapper.Verdict.Certified => $"CERTIFIED by CP-SAT in {elapsed.TotalSeconds:0.###} s: no mapping in the mapspace has {name} below {Text.Num(best)} (infeasible{split})",
                CpSatMapper.Verdict.Failed => $"CERTIFICATE FAILED: CP-SAT found a mapping with {name} {Text.Num(cheaper!.Value)} below {Text.Num(best)}, so the answer is not optimal ({elapsed.TotalSeconds:0.###} s)",
                _ => $"CERTIFICATE UNKNOWN: CP-SAT stopped before it could decide ({elapsed.TotalSeconds:0.###} s{(cases > 1 ? $"; {open} of {cases} keep cases undecided" : "")})",
            });
        }
        catch (ArgumentException e)
        {
            Console.WriteLine($"CERTIFICATE not available: {e.Message}");
        }
    }

    /// <summary>Asks Z3 whether anything costs less than the answer, and writes the question in SMT-LIB 2 when asked.</summary>
    private static void CertifyAnswer(MapProblem problem, double best, SearchLimits limits, Outputs outputs)
    {
        Z3Status status;
        string smt2;
        try
        {
            (status, smt2) = Z3Mapper.Certify(problem, best, limits.TimeLimit);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            Console.WriteLine($"CERTIFICATE not available: {Text.Message(e)}");
            return;
        }
        if (outputs.Smt2 is { } path)
        {
            AtomicFile.WriteAllText(path, smt2);
            Console.WriteLine($"Wrote {path} (an SMT-LIB 2 question: is there a mapping with energy below {Text.Num(best)}? unsat = no)");
        }
        if (outputs.Certify != "z3") return;
        Console.WriteLine(status switch
        {
            Z3Status.Unsat => $"CERTIFIED by Z3: no mapping in the mapspace has energy below {Text.Num(best)} (unsat)",
            Z3Status.Sat => $"CERTIFICATE FAILED: Z3 found a mapping with energy below {Text.Num(best)}, so the answer is not optimal",
            _ => "CERTIFICATE UNKNOWN: Z3 stopped before it could decide (time limit)",
        });
    }

    /// <summary>A result for one layer, moved to another of the same shape: tensors renamed by position, mapping re-checked and re-costed.</summary>
    private static SolveResult Carry(SolveResult r, Einsum from, Einsum to, Architecture arch, Objective objective, CostConvention convention)
    {
        if (r.Mapping is null) return r with { Elapsed = TimeSpan.Zero };
        var mapping = r.Mapping.RenameTensors(from, to);
        var violations = ValidityChecker.Check(to, arch, mapping);
        if (violations.Count > 0)
            throw new InvalidOperationException($"Layers {from.Name} and {to.Name} have the same shape, but the carried mapping breaks a rule ({violations[0].Message}); this is a bug.");
        var report = Conventions.Evaluate(convention, to, arch, mapping);
        return r with { Mapping = mapping, Report = report, Best = report.Objective(r.Terms is { } terms ? terms[^1] : objective), Elapsed = TimeSpan.Zero };
    }

    /// <summary>One CSV row per layer of a whole-workload run.</summary>
    public sealed record LayerRow(string Layer, string Status, double? Best, double Bound, double? GapPercent, double Seconds, long Nodes, string Objective, string Mapping, string Source);

    private static int MapAll(Workload w, Architecture arch, Objective objective, Engine engine, SearchLimits limits, string? csv)
    {
        Console.WriteLine($"Mapping every layer of {w.Name} on {arch.Name}, minimizing {engine.Label}");
        var rows = new List<LayerRow>();
        var table = new List<string[]> { new[] { "layer", "status", "best", "bound", "gap %", "seconds" } };
        double total = 0, bound = 0;
        bool allOptimal = true, anyMissing = false;
        var reports = new List<CostReport>();
        var names = arch.Levels.Select(l => l.Name).ToList();
        var clock = Stopwatch.StartNew();
        // Layers of the same shape share one search: the answer is carried over by renaming its tensors
        // (same positions, same roles), then re-checked and re-costed for the layer it now maps.
        var solved = new Dictionary<string, (Einsum Layer, SolveResult Result)>();
        foreach (var layer in w.Layers)
        {
            var key = Zoo.ShapeKey(layer);
            SolveResult r;
            string note = "";
            if (solved.TryGetValue(key, out var same))
            {
                r = Carry(same.Result, same.Layer, layer, arch, objective, engine.Convention);
                note = $", same shape as {same.Layer.Name}";
            }
            else
            {
                r = Live.Run($"layer {rows.Count + 1}/{w.Layers.Count} {layer.Name}", p => engine.Solve(new MapProblem(layer, arch, objective), limits with { Progress = p }));
                solved[key] = (layer, r);
            }
            Console.WriteLine($"  {layer.Name}: {StatusLine(r, objective)} [{r.Elapsed.TotalSeconds:0.##} s{note}]");
            table.Add([layer.Name, r.Status.ToString().ToUpperInvariant(), r.Best is { } b ? Text.Num(b) : "-", Text.Num(r.Bound), r.GapPercent is { } g ? g.ToString("0.###") : "-", r.Elapsed.TotalSeconds.ToString("0.##")]);
            rows.Add(new LayerRow(layer.Name, r.Status.ToString().ToUpperInvariant(), r.Best, r.Bound, r.GapPercent, r.Elapsed.TotalSeconds, r.Explored,
                engine.Label, r.Mapping?.ToCompactString(names) ?? "", layer.Source));
            allOptimal &= r.Status == SolveStatus.Optimal;
            if (r.Report is not null) reports.Add(r.Report);
            if (r.Best is { } best) { total += best; bound += r.Bound; } else anyMissing = true;
        }
        Console.WriteLine();
        Console.Write(Text.Table(table));
        if (engine.Terms.Count > 1 && !anyMissing)
            Console.WriteLine($"Totals: {string.Join(", ", engine.Terms.Where(t => t != Objective.Edp).Select(t => $"{Objectives.Name(t)} {Text.Num(reports.Sum(x => x.Objective(t)))}"))} " +
                $"({(allOptimal ? "every layer proved optimal in this order" : "not every layer proved")}), {clock.Elapsed.TotalSeconds:0.#} s");
        else if (objective != Objective.Edp && !anyMissing)
            Console.WriteLine($"Total {objective.ToString().ToLowerInvariant()}: {Text.Num(total)} ({(allOptimal ? "every layer proved optimal" : $"bound {Text.Num(bound)}")}), {clock.Elapsed.TotalSeconds:0.#} s");
        if (csv is not null)
        {
            CsvExport.Write(csv, rows);
            Console.WriteLine($"Wrote {csv}");
        }
        return anyMissing ? 3 : 0;
    }
}
