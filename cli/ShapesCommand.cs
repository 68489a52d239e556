using System.CommandLine;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Validation;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary>One CSV row of <c>map --shapes</c>: a shape, the bucket serving it, its cost, its own optimum and the regret.</summary>
internal sealed record ShapeCsvRow(string Shape, double Weight, int Rows, int Bucket, string Objective, double Cost, double? OwnOptimum, string OwnStatus,
    double? Regret, double? RegretPercent, string Mapping);

/// <summary>One CSV row of <c>simulate --shapes</c>: a shape (or the weighted total) simulated beside the model.</summary>
internal sealed record ShapeSimCsvRow(string Shape, double Weight, long? SimCycles, long? ModelCycles, double ModelEnergy, bool CountsAgree,
    double WeightedSimCycles, double WeightedModelCycles, double WeightedModelEnergy);

/// <summary>The options <c>map</c> takes for a shape trace (docs/shapes.md).</summary>
internal sealed record ShapeOptions(Option<string?> Shapes, Option<string> Statistic, Option<int?> Buckets)
{
    /// <summary>New options, to add to <c>map</c>.</summary>
    public static ShapeOptions Build()
    {
        var shapes = new Option<string?>("--shapes") { Description = "A shape trace (CSV: one row per run, columns = rank names, optional weight): find the one mapping minimising --statistic over it, over the imperfect mapspace of the largest shape: energy by each shape's own optimum and a branch and bound, latency and EDP by enumeration (small layers; docs/shapes.md)." };
        var statistic = new Option<string>("--statistic") { Description = "With --shapes: mean, p50, p99 or max of the objective over the trace's runs.", DefaultValueFactory = _ => "mean" };
        statistic.AcceptOnlyFromAmong("mean", "p50", "p99", "max");
        var buckets = new Option<int?>("--buckets") { Description = "With --shapes: the best K mappings and the ranges of shapes each serves (switching points by dynamic programming; mean or max)." };
        return new ShapeOptions(shapes, statistic, buckets);
    }

    /// <summary>The options, to list in the command.</summary>
    public IEnumerable<Option> All => [Shapes, Statistic, Buckets];

    /// <summary>True when --shapes was given; refuses --statistic and --buckets without it.</summary>
    public bool Given(ParseResult pr)
    {
        if (pr.GetValue(Shapes) is not null) return true;
        if (pr.GetResult(Statistic) is { Implicit: false } || pr.GetValue(Buckets) is not null)
            throw new InputException("--statistic and --buckets apply only with --shapes trace.csv.");
        return false;
    }
}

/// <summary><c>map --shapes</c> and <c>simulate --shapes</c> (docs/shapes.md).</summary>
internal static class ShapesCommand
{
    /// <summary>Reads a trace for the layer, located errors on a bad one.</summary>
    public static ShapeTrace Trace(string path, Einsum layer) => ShapeTrace.Load(Inputs.RequireFile(path, "shape trace"), layer);

    /// <summary>Refuses the options of <c>map</c> that a shape search does not take.</summary>
    public static void Refuse(ParseResult pr, IEnumerable<Option> options, string? solver, CostConvention convention, int terms)
    {
        foreach (var o in options)
            if (pr.GetResult(o) is { Implicit: false })
                throw new InputException($"{o.Name} is not supported with --shapes (one layer, no constraints; docs/shapes.md).");
        if (convention != CostConvention.Default || terms > 1 || solver is not ("exact" or "brute"))
            throw new InputException("--shapes is searched by enumeration (--solver exact or brute) under the default model, for one objective term.");
    }

    /// <summary><c>map --shapes</c>: the one mapping (or K buckets), the per-shape table with regrets, the status line.</summary>
    public static int Map(ParseResult pr, ShapeOptions o, Workload w, Einsum layer, Architecture arch, Objective objective, SearchLimits limits, string? csv, string? mappingOut)
    {
        var path = pr.GetValue(o.Shapes)!;
        var trace = Trace(path, layer);
        var statistic = Enum.Parse<ShapeStatistic>(pr.GetValue(o.Statistic)!, ignoreCase: true);
        int? k = pr.GetValue(o.Buckets);
        if (k is < 1) throw new InputException($"--buckets must be at least 1, got {k}.");
        if (k is not null && statistic is not (ShapeStatistic.Mean or ShapeStatistic.Max))
            throw new InputException($"--buckets minimises --statistic mean or max (they add up, or take the largest, over buckets); {ShapeStatistics.Name(statistic)} does not decompose over buckets.");
        if (k is not null && mappingOut is not null)
            throw new InputException("--mapping-out writes one mapping; with --buckets the mappings are in --csv (one per shape row).");
        var search = new ShapeSearch(trace, arch, objective);
        string obj = Objectives.Name(objective), stat = ShapeStatistics.Name(statistic);
        var names = arch.Levels.Select(l => l.Name).ToList();
        var ranks = trace.Dynamic.Select(r => $"{layer.Ranks[r].Id} {trace.Shapes.Min(s => s.Sizes[r])}..{trace.Shapes.Max(s => s.Sizes[r])}");
        Console.WriteLine($"Mapping layer {layer.Name} of {w.Name} on {arch.Name} over the shape trace {path}: {Text.Int(trace.Rows)} runs, " +
                          $"{trace.Shapes.Count} distinct shapes ({string.Join(", ", ranks)}), minimizing the {stat} {obj}{(k is { } kb ? $" with at most {kb} mappings" : "")}");
        Console.WriteLine($"Largest shape (the loops are sized for it): {search.Largest}");

        double[] cost = new double[trace.Shapes.Count];
        int[] bucketOf = new int[trace.Shapes.Count];
        Mapping?[] mappingOf = new Mapping?[trace.Shapes.Count];
        string status;
        int code;
        // Each shape's own optimum: the regret's reference, and (their statistic) a bound on every answer. On energy they
        // come first: their bounds start the branch and bound's, and the buckets are chosen among them.
        bool energy = objective == Objective.Energy;
        IReadOnlyList<SolveResult>? own = energy ? search.OwnOptima(limits) : null;
        double? OwnBound(bool found)
        {
            if (own is null && found) own = search.OwnOptima(limits);
            return own is null ? null : search.OwnOptimaBound(statistic, own);
        }
        if (k is { } kk)
        {
            // Energy: first the buckets among the pool of the one-mapping answer and the shapes' own optima (proved when
            // they reach the own optima's statistic); when that is not proved, the enumeration (small layers).
            BucketAnswer Enumerated() => Live.Run(layer.Name, p => search.SolveBuckets(kk, statistic, limits with { Progress = p }));
            var r = energy ? search.SolveBucketsOverPool(kk, statistic, Live.Run(layer.Name, p => search.Solve(statistic, limits with { Progress = p }, own: own)), own!) : Enumerated();
            r = r.Tightened(OwnBound(r.Buckets is not null));
            if (energy && r.Status != SolveStatus.Optimal && Enumerated().Tightened(OwnBound(true)) is { Status: SolveStatus.Optimal } exact) r = exact;
            Console.WriteLine($"{(r.Candidates <= own?.Count + 1 ? "pool of the one-mapping answer and the shapes' own optima" : "enumeration")}: {Text.Int(r.Candidates)} candidate mappings, {Text.Int(r.Evaluations)} shape evaluations in {r.Elapsed.TotalSeconds:0.###} s");
            Console.WriteLine();
            if (r.Buckets is { } buckets)
                for (int b = 0; b < buckets.Count; b++)
                {
                    var bk = buckets[b];
                    for (int p = bk.First; p <= bk.Last; p++) { int s = r.Order[p]; cost[s] = bk.Costs[p - bk.First]; bucketOf[s] = b + 1; mappingOf[s] = bk.Mapping; }
                    string from = trace.Shapes[r.Order[bk.First]].Label(layer, trace.Dynamic), to = trace.Shapes[r.Order[bk.Last]].Label(layer, trace.Dynamic);
                    Console.WriteLine($"Bucket {b + 1}: {from} .. {to} ({bk.Last - bk.First + 1} shapes): {bk.Mapping.ToCompactString(names)}");
                }
            status = Status(r.Status, r.Best, r.Bound, r.GapPercent, r.Explanation, stat, obj, $"at most {kk} mappings");
            code = r.Buckets is null ? 3 : 0;
        }
        else
        {
            var r = Live.Run(layer.Name, p => search.Solve(statistic, limits with { Progress = p }, own: own));
            r = r.Tightened(OwnBound(r.Mapping is not null));
            Console.WriteLine($"{r.Method}: {Text.Int(r.Candidates)} candidate mappings, {Text.Int(r.Evaluations)} shape evaluations, {Text.Int(r.Pruned)} candidates pruned, in {r.Elapsed.TotalSeconds:0.###} s");
            Console.WriteLine();
            if (r.Mapping is { } m)
            {
                Console.Write(ReportPrinter.Print(search.Largest, arch, m, CostModel.Evaluate(search.Largest, arch, m, Factorization.Imperfect)));
                Console.WriteLine("(the costs above are the largest shape's)");
                for (int s = 0; s < cost.Length; s++) { cost[s] = r.Costs![s]; bucketOf[s] = 1; mappingOf[s] = m; }
                if (mappingOut is not null)
                {
                    AtomicFile.WriteAllText(mappingOut, Formulation.Specs.MappingSpec.Write(m, search.Largest, arch));
                    Console.WriteLine($"Wrote {mappingOut} (for the largest shape; simulate --shapes replays it over a trace)");
                }
            }
            status = Status(r.Status, r.Best, r.Bound, r.GapPercent, r.Explanation, stat, obj, "one mapping");
            code = r.Mapping is null ? 3 : 0;
        }
        if (code == 0 && own is not null)
        {
            Console.WriteLine();
            var rows = new List<ShapeCsvRow>();
            var table = new List<string[]> { new[] { "shape", "weight", k is null ? "" : "bucket", obj, "own optimum", "regret", "regret %" } };
            foreach (int s in search.BucketOrder())
            {
                var sh = trace.Shapes[s];
                var mine = own[s];
                double? regret = mine.Best is { } b ? cost[s] - b : null;
                double? pct = regret is { } g && mine.Best is > 0 ? g / mine.Best.Value * 100 : regret is not null ? 0 : null;
                string proven = mine.Status == SolveStatus.Optimal ? "" : "*";
                table.Add([sh.Label(layer, trace.Dynamic), Text.Num(sh.Weight), k is null ? "" : bucketOf[s].ToString(), Text.Num(cost[s]),
                    mine.Best is { } ob ? Text.Num(ob) + proven : "-", regret is { } rg ? Text.Num(rg) : "-", pct is { } pp ? pp.ToString("0.##") : "-"]);
                rows.Add(new ShapeCsvRow(sh.Label(layer, trace.Dynamic), sh.Weight, sh.Rows, bucketOf[s], obj, cost[s], mine.Best, mine.Status.ToString().ToUpperInvariant(),
                    regret, pct, ShapeFit.Clamp(mappingOf[s]!, search.Layers[s]).ToCompactString(names)));
            }
            Console.Write(Text.Table(table));
            var weights = trace.Shapes.Select(s => s.Weight).ToArray();
            Console.WriteLine($"Regret: against each shape's own optimum over its own imperfect mapspace (map --imperfect on that shape); " +
                              (own.All(x => x.Status == SolveStatus.Optimal) ? "every own optimum proved." : "* = not proved (time limit): the regret is against the best found.") +
                              (rows.All(x => x.Regret is not null)
                                  ? $" Weighted mean regret {Text.Num(ShapeStatistics.Of(ShapeStatistic.Mean, rows.Select(x => x.Regret!.Value).ToArray(), rows.Select(x => x.Weight).ToArray()))}."
                                  : " Some shapes have no own optimum (-): no mean regret."));
            if (csv is not null)
            {
                CsvExport.Write(csv, rows);
                Console.WriteLine($"Wrote {csv}");
            }
        }
        Console.WriteLine(status);
        return code;
    }

    private static string Status(SolveStatus s, double? best, double bound, double? gap, string? why, string stat, string obj, string what) => s switch
    {
        SolveStatus.Optimal => $"OPTIMAL {stat} {obj}={Text.Num(best!.Value)} ({what}; {why ?? "proved over the imperfect mapspace of the largest shape"}: nothing that runs on every shape does better)",
        SolveStatus.Feasible => $"FEASIBLE best={Text.Num(best!.Value)} bound={Text.Num(bound)} gap={gap!.Value:0.###}% ({why})",
        SolveStatus.Infeasible => $"INFEASIBLE: {why}",
        _ => $"UNKNOWN: {why}",
    };

    /// <summary>
    /// <c>simulate --shapes</c>: the mapping (written for the largest shape) replayed on every distinct shape of the
    /// trace as <see cref="ShapeFit.Clamp"/> runs it; simulated cycles beside the model's, the model's energy, and
    /// whether every simulated count equals the model's; then the totals weighted by the trace. Exit 1 when the
    /// mapping does not run on a shape or a count disagrees.
    /// </summary>
    public static int Simulate(Workload w, Einsum layer, Architecture arch, string mappingPath, string tracePath, string? csv, Reading reading)
    {
        var trace = Trace(tracePath, layer);
        var largest = trace.LayerOf(trace.Largest());
        var mapping = Inputs.Mapping(mappingPath, largest, arch, reading);
        Console.WriteLine($"Replaying {tracePath} ({Text.Int(trace.Rows)} runs, {trace.Shapes.Count} distinct shapes) through {mappingPath} on layer {layer.Name} of {w.Name} on {arch.Name}");
        var rows = new List<ShapeSimCsvRow>();
        var table = new List<string[]> { new[] { "shape", "weight", "cycles sim", "model", "energy (model)", "counts" } };
        bool bad = false;
        double simTotal = 0, modelTotal = 0, energyTotal = 0;
        var order = Enumerable.Range(0, trace.Shapes.Count).OrderBy(s => trace.LayerOf(trace.Shapes[s].Sizes).Macs).ToList();
        foreach (int s in order)
        {
            var sh = trace.Shapes[s];
            var l = trace.LayerOf(sh.Sizes);
            var m = ShapeFit.Clamp(mapping, l);
            string label = sh.Label(layer, trace.Dynamic);
            var violations = ValidityChecker.Check(l, arch, m, Factorization.Imperfect);
            if (violations.Count > 0)
            {
                Console.WriteLine($"INVALID on {label}: {violations[0].Message}");
                bad = true;
                continue;
            }
            var sim = Simulator.Run(l, arch, m, new SimOptions { Factorization = Factorization.Imperfect });
            var model = CostModel.Evaluate(l, arch, m, Factorization.Imperfect);
            bool agree = ModelCheck.Compare(model, sim).Count == 0;
            bad |= !agree;
            simTotal += sh.Weight * sim.Cycles;
            modelTotal += sh.Weight * model.Cycles;
            energyTotal += sh.Weight * model.Energy;
            table.Add([label, Text.Num(sh.Weight), Text.Int(sim.Cycles), Text.Int(model.Cycles), Text.Pj(model.Energy), agree ? "equal" : "DIFFER"]);
            rows.Add(new ShapeSimCsvRow(label, sh.Weight, sim.Cycles, model.Cycles, model.Energy, agree, sh.Weight * sim.Cycles, sh.Weight * model.Cycles, sh.Weight * model.Energy));
        }
        table.Add(["total (weighted)", Text.Num(trace.TotalWeight), Text.Num(simTotal), Text.Num(modelTotal), Text.Pj(energyTotal), bad ? "" : "equal"]);
        rows.Add(new ShapeSimCsvRow("total", trace.TotalWeight, null, null, energyTotal, !bad, simTotal, modelTotal, energyTotal));
        Console.Write(Text.Table(table));
        Console.WriteLine("Energy is the model's: where every simulated count equals the model's (\"equal\"), the simulated counts cost exactly that.");
        if (csv is not null)
        {
            CsvExport.Write(csv, rows);
            Console.WriteLine($"Wrote {csv}");
        }
        return bad ? 1 : 0;
    }
}
