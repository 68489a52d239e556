using System.Diagnostics;
using System.CommandLine;
using System.Text;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Solvers.Z3;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary><c>optimizer fuse</c>: the optimal fused mapping of a whole workload, beside the best unfused one (docs/fusion.md).</summary>
internal static class FuseCommand
{
    public static Command Build()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture: a preset name or a spec file.", Required = true };
        var workload = new Option<string>("--workload") { Description = "Workload: a zoo name, a spec file, or a model file (.onnx or .mlir; docs/frontends.md).", Required = true };
        var objective = OptionRules.Objective("What to minimize over the whole workload: " + Objectives.Choices + "; energy, EDP, latency alone and the list latency,energy search the full fused mapspace " +
                                              "(EDP and latency: groups run sequentially, or with --pipeline also pipelined); other lists, and latency,energy with --pipeline, the per-layer template (docs/fusion.md).", "edp");
        var maxLoops = new Option<int>("--max-fused-loops") { Description = "Outer DRAM loops a fused group may share (0 to 4).", DefaultValueFactory = _ => 1 }.Within(0, 4);
        var timeLimit = OptionRules.TimeLimit("Seconds; when reached (or at Ctrl-C or SIGTERM), the best mapping found is returned as FEASIBLE, with its bound and gap over the full mapspace when it has one " +
                                             "(never worse than the template's optimum once the template's join has finished: EDP runs it first, energy and latency after every layer's own search).");
        var csv = new Option<string?>("--csv") { Description = "Write the fused cost as CSV: one row per layer, level and tensor, then totals." };
        var mappingOut = new Option<string?>("--mapping-out") { Description = "Write the fused mapping in the fused mapping format of docs/fusion.md." };
        var certify = new Option<string?>("--certify")
        {
            Description = "Ask a second solver whether any combination of surviving partial mappings costs less: z3 (the default; unsat = certified) or cpsat (CP-SAT; infeasible = certified).",
            Arity = ArgumentArity.ZeroOrOne,
            HelpName = "z3|cpsat",
        };
        certify.AcceptOnlyFromAmong("z3", "cpsat");
        var convention = OptionRules.Convention("How each layer is counted: default (docs/cost-model.md) or timeloop (Timeloop v3.0.3's counts, with fusion's removals; " +
                                                "searched over the per-layer template, whatever the objective).");
        var keep = new Option<bool>("--keep-halos")
        {
            Description = "Also search groups that keep convolution halos on chip between row iterations (each producer computes only new rows after a prologue; " +
                          "docs/fusion.md, \"Halos\"): groups of at most 4 layers sharing one loop; for energy, EDP, latency and latency,energy over the full mapspace, for other lists over the per-layer template.",
        };
        var pipeline = new Option<bool>("--pipeline")
        {
            Description = "Also search pipelined groups (docs/fusion.md, \"Pipelined latency\": the shared iterations overlap, member m on iteration i while m + 1 " +
                          "runs i - 1), groups of at most 4 layers with shared loops: for latency and EDP over the full mapspace (each member's whole class where it has at most 20,000 mappings, " +
                          "else its template mappings and its fastest, or for EDP its weighted optima; the status says what is proved), for other lists over the per-layer template.",
        };
        var plot = Plots.PlotOption("each fused group's energy beside the same layers unfused");
        var report = Plots.ReportOption();
        var cmd = new Command("fuse", "Find the optimal fused mapping of a workload over the fused mapspace (docs/fusion.md) and compare it with the best unfused one.")
        {
            arch, workload, objective, maxLoops, timeLimit, csv, mappingOut, certify, convention, keep, pipeline, plot, report,
        };
        cmd.SetAction(pr => Program.Guard(() =>
        {
            // The time limit covers reading and building the workload too (a 100,000-layer chain takes seconds).
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var visuals = Visuals.Of(pr, plot, report);
            using var printout = visuals.Capture();
            var a = Inputs.Architecture(pr.GetValue(arch)!);
            var w = Inputs.Workload(pr.GetValue(workload)!);
            var limit = OptionRules.Span(pr.GetValue(timeLimit)) is { } t ? TimeSpan.FromTicks(Math.Max(1, (t - clock.Elapsed).Ticks)) : (TimeSpan?)null;
            var limits = new SearchLimits(limit, Interrupt.Token);
            var terms = OptionRules.ObjectiveOf(pr, objective);
            bool keepHalos = pr.GetValue(keep);
            if (keepHalos && pr.GetResult(certify) is not null)
                throw new InputException("--certify checks the join of the partial mappings, which does not include groups that keep their halos; use one or the other.");
            if (keepHalos && OptionRules.ConventionOf(pr, convention) != CostConvention.Default)
                throw new InputException("--keep-halos searches under the default model only.");
            bool pipelined = pr.GetValue(pipeline);
            if (pipelined && OptionRules.ConventionOf(pr, convention) != CostConvention.Default)
                throw new InputException("--pipeline searches under the default model only.");
            var problem = new FusionProblem(w, a, terms[0], pr.GetValue(maxLoops), KeepHalos: keepHalos, Pipeline: pipelined) { Terms = terms, Convention = OptionRules.ConventionOf(pr, convention) };
            // Over the full mapspace (latency, EDP) the certificate's picks include every pipelined group's points found; the
            // template's join (lists) takes its pipelined groups whole, outside its partial mappings.
            if (pipelined && !problem.FullMapspace && pr.GetResult(certify) is not null)
                throw new InputException("--certify with --pipeline checks the searches over the full mapspace (--objective latency or edp); over the per-layer template (lists of objectives) the join's pipelined groups are not among its partial mappings; use one or the other.");
            return Run(problem, limits, pr.GetValue(csv), pr.GetValue(mappingOut), Certifier(pr, certify), visuals, printout);
        }));
        return cmd;
    }

    /// <summary>The solver --certify names (bare --certify: Z3); null without the option.</summary>
    private static FusionCertifier? Certifier(ParseResult pr, Option<string?> certify)
        => pr.GetResult(certify) is null ? null : pr.GetValue(certify) == "cpsat" ? FusionCertifier.CpSat : FusionCertifier.Z3;

    private static int Run(FusionProblem p, SearchLimits limits, string? csv, string? mappingOut, FusionCertifier? certify, Visuals visuals, Printout? printout)
    {
        var (w, a, o) = (p.Workload, p.Arch, p.Objective);
        string obj = Objectives.Name(o), objectives = string.Join(",", p.Terms.Select(Objectives.Name));
        string title = $"fuse: {p.Workload.Name} on {p.Arch.Name}, minimizing {objectives}";
        Console.WriteLine($"Fusing {w.Name} ({w.Layers.Count} layers) on {a.Name}, minimizing {objectives}{(p.Terms.Count > 1 ? " (in that order)" : "")}{(p.Convention == CostConvention.Default ? "" : $", counted by the {Conventions.Names[(int)p.Convention]} convention")}, at most {p.MaxFusedLoops} shared loop(s) per group");
        var r = Live.Run("fused search", progress => new FusionSearch(p).Solve(limits with { Progress = progress }));
        Console.WriteLine($"fused search: {r.Elapsed.TotalSeconds:0.###} s");
        if (r.Mapping is null)
        {
            string none = $"{(r.Status == SolveStatus.Infeasible ? "INFEASIBLE" : "UNKNOWN")}: {r.Explanation}";
            Console.WriteLine(none);
            visuals.WriteSummary(title, none, null, "", "", printout);
            return 3;
        }
        Console.WriteLine();
        Console.Write(Describe(w, a, r.Mapping, r.Report!));
        Console.WriteLine();
        Console.WriteLine(p.FullMapspace
            ? "Classes of partial mappings per layer (evaluated = exact search nodes; valid = classes with a member known; kept = classes searched exactly; classes; frontier = keys after the layer):"
            : "Partial mappings per layer (evaluated -> valid -> kept after pruning; frontier after the join):");
        var stats = new List<string[]> { new[] { "layer", "evaluated", "valid", "kept", "kept/evaluated", "classes", "frontier" } };
        foreach (var s in r.Stats)
            stats.Add([s.Layer, Text.Int(s.Evaluated), Text.Int(s.Valid), Text.Int(s.Kept), !p.FullMapspace && s.Evaluated > 0 ? ((double)s.Kept / s.Evaluated).ToString("0.####") : "-", s.Classes.ToString(), Text.Int(s.Frontier)]);
        Console.Write(Text.Table(stats));
        Console.WriteLine();
        var (f, u) = (r.Report!, r.UnfusedReport);
        Console.WriteLine($"fused:   energy {Text.Num(f.Energy)} pJ, cycles {Text.Int(f.Cycles)}, EDP {Text.Num(f.Edp)}");
        if (u is null)
            Console.WriteLine($"unfused: none ({r.Explanation})");
        else
        {
            Console.WriteLine($"unfused: energy {Text.Num(u.Energy)} pJ, cycles {Text.Int(u.Cycles)}, EDP {Text.Num(u.Edp)} (every layer alone, intermediates through DRAM; " +
                (p.FullMapspace && o is Objective.Energy or Objective.Latency ? r.UnfusedProven ? $"each layer's exact optimum, as map --all-layers{(o == Objective.Latency ? $" --objective {objectives}" : "")} finds it)" : "not every layer's search finished)" : "the best of the per-layer template)"));
            Console.WriteLine($"unfused/fused {obj}: {r.Improvement(o):0.####}x (energy {u.Energy / f.Energy:0.####}x, cycles {(double)u.Cycles / f.Cycles:0.####}x)");
        }
        if (mappingOut is not null)
        {
            AtomicFile.WriteAllText(mappingOut, FusedMappingSpec.Write(w, a, r.Mapping));
            Console.WriteLine($"Wrote {mappingOut}");
        }
        if (csv is not null)
        {
            CsvExport.Write(csv, Rows(w, r.Mapping, r.Report!, r.UnfusedReport));
            Console.WriteLine($"Wrote {csv}");
        }
        string values = string.Join(", ", p.Terms.Select(t => $"{Objectives.Name(t)}={Text.Num(r.Report!.Objective(t))}"));
        string statusLine = r.Status == SolveStatus.Optimal
            ? p.Terms.Count == 1
                ? $"OPTIMAL {obj}={Text.Num(r.Best!.Value)} (proved by the fused search over {p.SpaceDescription}: nothing in it costs less)"
                : $"OPTIMAL {objectives}: {values} (proved by the fused search over {p.SpaceDescription}: nothing in it is less in the first term, or equal in the earlier terms and less in a later one)"
            : $"FEASIBLE best={Text.Num(r.Best!.Value)}{(r.Bound is { } lb ? $" bound={Text.Num(lb)} gap={r.GapPercent:0.###}%" : "")} ({r.Explanation}; searched space: {p.SpaceDescription})";
        if (r.Summary is { } summary) Console.WriteLine($"EDP search: {summary}");
        Console.WriteLine(statusLine);
        if (certify is { } by && r.Status == SolveStatus.Optimal)
        {
            var clock = Stopwatch.StartNew();
            // The certificate asks about one term: the first of a list (the join keeps every Pareto point whatever the terms).
            if (p.Terms.Count > 1) Console.WriteLine($"The certificate checks the first term, {obj}.");
            var (status, _, found) = FusionCertificate.CertifyFound(by, a, o, r.Survivors, r.Best!.Value, limits.TimeLimit);
            string who = by == FusionCertifier.Z3 ? "Z3" : "CP-SAT", yes = by == FusionCertifier.Z3 ? "unsat" : "infeasible";
            Console.WriteLine(status switch
            {
                CertificateStatus.Unsat => $"CERTIFIED by {who} in {clock.Elapsed.TotalSeconds:0.##} s: no combination of the {r.Survivors.Sum(x => x.Count)} surviving partial mappings" +
                                           (p.Pipeline ? $" ({r.Survivors.Sum(x => x.Count(y => y.Pipelined))} of them members of pipelined groups' points found)" : "") +
                                           $" has {obj} below {Text.Num(r.Best!.Value)} ({yes})",
                CertificateStatus.Sat => $"CERTIFICATE FAILED: {who} found a combination with {obj} below {Text.Num(r.Best!.Value)}: {Text.Num(found!.Value)}, " +
                                         $"{(r.Best.Value - found.Value) / r.Best.Value * 100:0.######}% less",
                _ => $"CERTIFICATE UNKNOWN: {who} stopped after {clock.Elapsed.TotalSeconds:0.##} s before it could decide",
            });
        }
        visuals.WriteSummary(title, statusLine, Plots.FusedAgainstUnfused(w, r.Mapping, r.Report!, r.UnfusedReport), "Fused groups against unfused", FuseCaption, printout);
        return 0;
    }

    private const string FuseCaption = "For each fused group (a group of one is a layer left alone), the energy of its layers in the best unfused mapping " +
        "(every layer alone, intermediates through DRAM; grey) beside their energy in the fused mapping (blue). The groups are the fused mapping's; " +
        "the number above a bar is its energy.";

    /// <summary>The groups, shared loops, where each intermediate lives, each layer's loop nest and its cost by level and tensor.</summary>
    private static string Describe(Workload w, Architecture a, FusedMapping fm, FusedCostReport rep)
    {
        var sb = new StringBuilder();
        var members = FusionRules.MemberEinsums(w, fm);
        for (int index = 0; index < fm.Groups.Count; index++)
        {
            var g = fm.Groups[index];
            var names = Enumerable.Range(g.First, g.Count).Select(i => w.Layers[i].Name);
            var shared = fm.Layers[g.First].Levels[0].Temporal.Take(g.SharedLoops);
            sb.AppendLine(g.Count == 1 ? $"Group {w.Layers[g.First].Name}: alone, output to DRAM"
                : g.SharedLoops == 0 ? $"Group {string.Join(" -> ", names)}: no shared loops (each held tensor stays on chip whole)"
                : $"Group {string.Join(" -> ", names)}: shared loops [{string.Join(", ", shared)}] (outermost first, at {a.Levels[0].Name})");
            if (g.Pipelined)
                sb.AppendLine($"  pipelined over {Text.Int(FusionRules.Iterations(g, fm.SharedOf(g)))} shared iteration(s): {Text.Int(rep.GroupCycles[index])} cycles " +
                              $"(fill, steady state and drain, docs/fusion.md \"Pipelined latency\"); its layers' own cycles sum to {Text.Int(rep.Layers.Skip(g.First).Take(g.Count).Sum(l => l.Cycles))}");
            var holds = FusionRules.MemberHolds(w, a, g, fm.SharedOf(g));
            foreach (var t in FusionRules.HeldOf(w, g))
            {
                var uses = Enumerable.Range(g.First, g.Count).SelectMany(i => holds[i - g.First].Held.Where(h => h.Tensor == t).Select(h => (Layer: i, Use: h))).ToList();
                if (uses.Count == 0) continue;
                var (first, level) = (uses[0].Layer, uses[0].Use.Level);
                long tile = new TileShapes(members[first], fm.Layers[first]).TileWords(members[first].FindTensor(t)!, level);
                string how = uses[0].Use.Use == HeldUse.Loads ? $"loaded once from {a.Levels[0].Name} by {w.Layers[first].Name}" : $"written by {w.Layers[first].Name}, never in {a.Levels[0].Name}";
                sb.AppendLine($"  {t} stays in {a.Levels[level].Name} ({how}) for {string.Join(", ", uses.Skip(1).Select(u => w.Layers[u.Layer].Name))}: a {Text.Int(tile)}-word tile per shared iteration");
            }
        }
        sb.AppendLine();
        for (int i = 0; i < w.Layers.Count; i++)
        {
            var c = rep.Layers[i];
            sb.AppendLine($"Layer {w.Layers[i].Name}: energy {Text.Num(c.Energy)} pJ (fusion removed {Text.Num(c.RemovedEnergy)}), cycles {Text.Int(c.Cycles)}");
            if (!ReferenceEquals(members[i], w.Layers[i]))
                sb.AppendLine(fm.GroupOf(i).KeepHalos ? $"  computes only its readers' new rows each shared iteration (the halo kept): {members[i]}"
                    : $"  computes its readers' halos (recomputed each shared iteration): {members[i]}");
            sb.Append(LoopNestPrinter.Print(members[i], a, fm.Layers[i]));
            foreach (var t in c.Tensors)
                sb.AppendLine($"    {t.Level,-14} {t.Tensor.Name,-10} fills {Text.Int(t.Fills)} reads {Text.Int(t.Reads)} updates {Text.Int(t.Updates)}  {Text.Num(t.Energy)} pJ");
            if (c.Prologue is not { } pc || fm.Prologues[i] is not { } pm) continue;
            var pro = FusionRules.MemberPlans(w, fm.GroupOf(i), fm.SharedOf(fm.GroupOf(i)))[i - fm.GroupOf(i).First].Prologue!;
            sb.AppendLine($"  prologue, once before the first shared iteration: {pro}: energy {Text.Num(pc.Energy)} pJ (fusion removed {Text.Num(pc.RemovedEnergy)}), cycles {Text.Int(pc.Cycles)}");
            sb.Append(LoopNestPrinter.Print(pro, a, pm));
            foreach (var t in pc.Tensors)
                sb.AppendLine($"    {t.Level,-14} {t.Tensor.Name,-10} fills {Text.Int(t.Fills)} reads {Text.Int(t.Reads)} updates {Text.Int(t.Updates)}  {Text.Num(t.Energy)} pJ");
        }
        return sb.ToString();
    }

    /// <summary>One CSV row per layer, level and tensor of the fused mapping, then one total row each for fused and unfused.</summary>
    public sealed record FuseRow(string Mapping, string Layer, string Level, string Tensor, long? Fills, long? Reads, long? Updates, double EnergyPj, long? Cycles, double? Edp, string Source = "");

    /// <summary>
    /// The CSV's rows: per layer its tensors' counts and its own total (its cycles are the layer's alone), then per group
    /// of more than one layer a row with the group's energy and cycles (`group`, or `group (pipelined)` when its members
    /// overlap: fewer cycles than their sum), then the totals; the total's cycles are the sum of the groups'.
    /// </summary>
    internal static IEnumerable<FuseRow> Rows(Workload w, FusedMapping fm, FusedCostReport fused, FusedCostReport? unfused)
    {
        var groupOf = new int[fused.Layers.Count];
        for (int gi = 0; gi < fm.Groups.Count; gi++)
            for (int i = fm.Groups[gi].First; i <= fm.Groups[gi].Last; i++) groupOf[i] = gi;
        for (int li = 0; li < fused.Layers.Count; li++)
        {
            var l = fused.Layers[li];
            var source = w.Layer(l.Layer).Source;
            foreach (var t in l.Tensors)
                yield return new FuseRow("fused", l.Layer, t.Level, t.Tensor.Name, t.TotalFills, t.TotalReads, t.TotalUpdates, t.Energy, null, null, source);
            // A producer that keeps its readers' halos: its prologue's rows too (the layer's total includes them).
            foreach (var t in l.Prologue?.Tensors ?? [])
                yield return new FuseRow("fused", l.Layer + " (prologue)", t.Level, t.Tensor.Name, t.TotalFills, t.TotalReads, t.TotalUpdates, t.Energy, null, null, source);
            yield return new FuseRow("fused", l.Layer, "total", "", null, null, null, l.Energy, l.Cycles, null, source);
            var g = fm.Groups[groupOf[li]];
            if (g.Count > 1 && li == g.Last)
                yield return new FuseRow("fused", string.Join("+", fused.Layers.Skip(g.First).Take(g.Count).Select(x => x.Layer)),
                    g.Pipelined ? "group (pipelined)" : "group", "", null, null, null, fused.EnergyOf(g), fused.GroupCycles[groupOf[li]], null);
        }
        yield return new FuseRow("fused", "total", "", "", null, null, null, fused.Energy, fused.Cycles, fused.Edp);
        if (unfused is not null)
            yield return new FuseRow("unfused", "total", "", "", null, null, null, unfused.Energy, unfused.Cycles, unfused.Edp);
    }

    /// <summary><c>optimizer evaluate</c> of a fused mapping: every violation (exit 1), or the groups, loop nests and costs.</summary>
    public static int Evaluate(Workload w, Architecture a, FusedMapping fm, string? csv)
    {
        Console.WriteLine($"Fused mapping of {w.Name} ({w.Layers.Count} layers) on {a.Name}");
        if (!Valid(w, a, fm)) return 1;
        var rep = FusionCost.Evaluate(w, a, fm);
        Console.WriteLine();
        Console.Write(Describe(w, a, fm, rep));
        Console.WriteLine();
        Console.WriteLine($"total: energy {Text.Num(rep.Energy)} pJ, cycles {Text.Int(rep.Cycles)}, EDP {Text.Num(rep.Edp)}");
        if (csv is not null)
        {
            CsvExport.Write(csv, Rows(w, fm, rep, null));
            Console.WriteLine($"Wrote {csv}");
        }
        return 0;
    }

    /// <summary>
    /// <c>optimizer simulate</c> of a fused mapping: every layer is simulated on its own mapping and
    /// compared with the model; then each on-chip intermediate is followed from the simulated words its
    /// producer writes into the fusion level to the words its consumer reads there, with no DRAM traffic.
    /// Returns 1 when the mapping is invalid, a count disagrees, or a simulated level holds more than it can.
    /// </summary>
    public static int Simulate(Workload w, Architecture a, FusedMapping fm)
    {
        Console.WriteLine($"Simulating the fused mapping of {w.Name} ({w.Layers.Count} layers) on {a.Name}: each layer whole, then each fused group one shared iteration at a time");
        if (!Valid(w, a, fm)) return 1;
        var rep = FusionCost.Evaluate(w, a, fm);
        var sims = new List<SimReport>();
        int problems = 0;
        var table = new List<string[]> { new[] { "layer", "tile steps", "sim cycles", "model cycles", "disagreements", "largest level use" } };
        var members = FusionRules.MemberEinsums(w, fm);
        for (int i = 0; i < w.Layers.Count; i++)
        {
            var sim = Simulator.Run(members[i], a, fm.Layers[i]);
            sims.Add(sim);
            var disagreements = ModelCheck.Compare(rep.Layers[i].Report, sim);
            problems += disagreements.Count;
            var use = Enumerable.Range(1, a.Levels.Count - 1).Where(l => a.Levels[l].Capacity is not null)
                .Select(l => (Level: l, Held: sim.Tensors.Where(t => t.LevelIndex == l).Sum(t => t.TileWords))).ToList();
            foreach (var (l, held) in use.Where(u => u.Held > a.Levels[u.Level].Capacity))
            {
                Console.WriteLine($"OVER CAPACITY: layer {w.Layers[i].Name} holds {held} words in {a.Levels[l].Name}, which has {a.Levels[l].Capacity}");
                problems++;
            }
            var top = use.OrderByDescending(u => (double)u.Held / a.Levels[u.Level].Capacity!.Value).FirstOrDefault();
            table.Add([w.Layers[i].Name, Text.Int(sim.TilesSimulated), Text.Int(sim.Cycles), Text.Int(rep.Layers[i].Report.Cycles), disagreements.Count.ToString(),
                use.Count == 0 ? "-" : $"{a.Levels[top.Level].Name} {Text.Int(top.Held)}/{Text.Int(a.Levels[top.Level].Capacity!.Value)}"]);
            // A producer that keeps its readers' halos: its prologue simulated whole and compared with the model too.
            if (rep.Layers[i].Prologue is { } pc && fm.Prologues[i] is { } pm)
            {
                var g = fm.GroupOf(i);
                var pro = FusionRules.MemberPlans(w, g, fm.SharedOf(g))[i - g.First].Prologue!;
                var psim = Simulator.Run(pro, a, pm);
                var pd = ModelCheck.Compare(pc.Report, psim);
                problems += pd.Count;
                table.Add([w.Layers[i].Name + " (prologue)", Text.Int(psim.TilesSimulated), Text.Int(psim.Cycles), Text.Int(pc.Report.Cycles), pd.Count.ToString(), "-"]);
            }
        }
        Console.Write(Text.Table(table));
        foreach (var g in fm.Groups)
        {
            var holds = FusionRules.MemberHolds(w, a, g, fm.SharedOf(g));
            foreach (var t in holds.SelectMany(h => h.Held).Select(h => h.Tensor).Distinct())
            {
                var uses = Enumerable.Range(g.First, g.Count).SelectMany(i => holds[i - g.First].Held.Where(h => h.Tensor == t).Select(h => (Layer: i, Use: h))).ToList();
                int level = uses[0].Use.Level;
                var parts = uses.Select(u => u.Use.Use == HeldUse.Writes
                    ? $"{w.Layers[u.Layer].Name} writes {Text.Int(sims[u.Layer].Find(level, t)?.TotalUpdates ?? 0)} words (tile {Text.Int(sims[u.Layer].Find(level, t)?.TileWords ?? 0)})"
                    : $"{w.Layers[u.Layer].Name} {(u.Use.Use == HeldUse.Loads ? "loads it from DRAM and reads" : "reads")} {Text.Int(sims[u.Layer].Find(level, t)?.TotalReads ?? 0)}");
                long removed = uses.Where(u => u.Use.Use != HeldUse.Loads).Sum(u => (sims[u.Layer].Find(0, t)?.TotalUpdates ?? 0) + (sims[u.Layer].Find(0, t)?.TotalReads ?? 0));
                Console.WriteLine($"{t} held in {a.Levels[level].Name}: {string.Join(", ", parts)}; DRAM words removed by fusion: {Text.Int(removed)}");
            }
        }
        foreach (var gs in FusedSimulation.Run(w, a, fm))
        {
            string level = a.Levels[gs.FusionLevel].Name;
            if (gs.Prologue is { Count: > 0 }) Console.WriteLine($"Prologues of {gs.Group} (the group keeps halos), in order:");
            foreach (var st in gs.Prologue ?? [])
            {
                Console.WriteLine($"  {st.Layer}, once before the first iteration: {Text.Int(st.Report.TilesSimulated)} tile steps, {Text.Int(st.Report.Cycles)} cycles; " +
                                  $"reads {Text.Int(st.IntermediateReadWords)} and writes {Text.Int(st.IntermediateWrittenWords)} held words; holds {Text.Int(st.HeldAtFusionLevel)} of {Text.Int(st.FusionLevelCapacity)} words in {level} (earlier prologues' rows included)");
                if (st.HeldAtFusionLevel > st.FusionLevelCapacity) { Console.WriteLine($"OVER CAPACITY: {st.Layer} holds more than {level} can"); problems++; }
            }
            Console.WriteLine($"Streaming {gs.Group}: {Text.Int(gs.Iterations)} shared iteration(s) through {level}; one iteration:");
            for (int k = 0; k < gs.Steps.Count; k++)
            {
                var st = gs.Steps[k];
                int i = w.Layers.Select((l, j) => (l, j)).First(x => x.l.Name == st.Layer).j;
                Console.WriteLine($"  {st.Layer}: {Text.Int(st.Report.TilesSimulated)} tile steps, {Text.Int(st.Report.Cycles)} cycles; " +
                                  $"reads {Text.Int(st.IntermediateReadWords)} and writes {Text.Int(st.IntermediateWrittenWords)} held words; holds {Text.Int(st.HeldAtFusionLevel)} of {Text.Int(st.FusionLevelCapacity)} words in {level} (held tensors living across it included)");
                if (st.HeldAtFusionLevel > st.FusionLevelCapacity) { Console.WriteLine($"OVER CAPACITY: {st.Layer} holds more than {level} can"); problems++; }
                // The iterations together must move exactly what the whole run moves through the fusion levels.
                var g = fm.GroupOf(i);
                var (wholeWritten, wholeRead) = FusedSimulation.Moved(sims[i], FusionRules.MemberHolds(w, a, g, fm.SharedOf(g))[i - g.First].Held);
                if (checked(st.IntermediateWrittenWords * gs.Iterations) != wholeWritten || checked(st.IntermediateReadWords * gs.Iterations) != wholeRead)
                {
                    Console.WriteLine($"DISAGREE: {st.Layer}'s iterations move {Text.Int(st.IntermediateWrittenWords * gs.Iterations)}/{Text.Int(st.IntermediateReadWords * gs.Iterations)} intermediate words, the whole run {Text.Int(wholeWritten)}/{Text.Int(wholeRead)}");
                    problems++;
                }
            }
            Console.WriteLine($"  streamed cycles (iterations x one iteration, intermediates' DRAM traffic still simulated): {Text.Int(gs.Cycles)}");
            if (gs.Pipeline is { } run) problems += ShowPipeline(w, a, fm, rep, gs, run);
        }
        Console.WriteLine(problems == 0 ? "AGREE: every layer's simulated counts match the model, the streamed iterations move what the whole run moves, and no level holds more than its capacity"
            : $"DISAGREE: {problems} problem(s)");
        return problems == 0 ? 0 : 1;
    }

    /// <summary>Prints a pipelined group's simulated schedule and compares its cycles with the model's; the problems found.</summary>
    private static int ShowPipeline(Workload w, Architecture a, FusedMapping fm, FusedCostReport rep, FusedGroupSimulation gs, PipelineRun run)
    {
        int index = fm.Groups.ToList().FindIndex(g => g.First == gs.First);
        var g = fm.Groups[index];
        Console.WriteLine($"Pipeline of {gs.Group} (steps of its schedule as simulated; demand = one step's cycles x {Text.Int(gs.Iterations)}):");
        string[] header = ["steps", "running (member:iteration)", "demand", .. a.Levels.Skip(1).Select(l => $"{l.Name} words")];
        var table = new List<string[]> { header };
        foreach (var r in run.Runs.Take(12))
            table.Add([r.Steps == 1 ? $"{r.Step + 1}" : $"{r.Step + 1}..{r.Step + r.Steps}", string.Join(" ", r.Running.Select((m, k) => $"{w.Layers[g.First + m].Name}:{r.Iterations[k]}{(r.Steps > 1 ? "+" : "")}")),
                Text.Int(r.Demand), .. r.Words.Skip(1).Select(Text.Int)]);
        Console.Write(Text.Table(table));
        if (run.Runs.Count > 12) Console.WriteLine($"  ... {run.Runs.Count - 12} more");
        int problems = 0;
        foreach (var l in run.Overfull)
        {
            Console.WriteLine($"OVER CAPACITY: the pipeline holds {Text.Int(run.MostWords[l])} words in {a.Levels[l].Name}, which has {Text.Int(run.Capacity[l])}");
            problems++;
        }
        bool agree = run.Cycles == rep.GroupCycles[index];
        Console.WriteLine($"  {(agree ? "AGREE" : "DISAGREE")}: pipelined cycles {Text.Int(run.Cycles)} simulated, {Text.Int(rep.GroupCycles[index])} model");
        return problems + (agree ? 0 : 1);
    }

    private static bool Valid(Workload w, Architecture a, FusedMapping fm)
    {
        var violations = FusionChecker.Check(w, a, fm);
        if (violations.Count == 0) return true;
        Console.WriteLine($"INVALID: the fused mapping breaks {violations.Count} rule(s):");
        foreach (var v in violations) Console.WriteLine($"  [{v.Rule}] {v.Message}");
        return false;
    }
}
