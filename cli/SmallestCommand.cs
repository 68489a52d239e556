using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary>
/// <c>optimizer codesign --smallest PARAM --within TOL</c>: the smallest value of one parameter of a design space, the
/// others held, keeping every layer (or the network) within a tolerance of its optimum at the parameter's largest value,
/// proved both ways (docs/codesign.md, "Smallest value under a tolerance").
/// </summary>
internal static partial class SmallestCommand
{
    /// <summary>The query's options of <c>codesign</c>.</summary>
    internal sealed record QueryOptions(Option<string?> Smallest, Option<string?> Within, Option<bool> PerLayer, Option<bool> Network, Option<string[]> Fix, Option<string?> At)
    {
        public IEnumerable<Option> All => [Smallest, Within, PerLayer, Network, Fix, At];

        /// <summary>The name of the first query option given (the query is asked), or null.</summary>
        public string? Given(ParseResult pr)
        {
            if (pr.GetValue(Smallest) is not null) return Smallest.Name;
            foreach (var o in new Option[] { Within, Fix, At, PerLayer, Network })
                if (pr.GetResult(o) is { Implicit: false })
                    throw new InputException($"{o.Name} belongs to a query: give --smallest PARAMETER --within TOLERANCE too.");
            return null;
        }
    }

    public static QueryOptions Options() => new(
        new Option<string?>("--smallest") { Description = "Query: the smallest value of this parameter (such as GlobalBuffer.capacity) keeping the layers within --within of their optima at its largest value, the other parameters held (--fix, --at).", HelpName = "PARAMETER" },
        new Option<string?>("--within") { Description = "With --smallest: the tolerance, a percentage such as 5%: each layer's optimum at most (1 + 5/100) x its optimum at the reference.", HelpName = "PERCENT" },
        new Option<bool>("--per-layer") { Description = "With --smallest: every distinct layer within the tolerance of its own optimum (the default)." },
        new Option<bool>("--network") { Description = "With --smallest: the network's sum over layers within the tolerance of the reference's sum." },
        new Option<string[]>("--fix") { Description = "With --smallest: hold another parameter at one of its values, such as GlobalBuffer.fanout=14x12; repeatable.", HelpName = "PARAMETER=VALUE", AllowMultipleArgumentsPerToken = false },
        new Option<string?>("--at") { Description = "With --smallest: hold the other parameters (those not given by --fix) at their values in a point of the space (its number) or in the base architecture (base).", HelpName = "POINT|base" });

    public static int Run(ParseResult pr, QueryOptions q, DesignSpace s, string spaceFile, Workload w, DesignMetric metric, SearchLimits limits, TimeSpan? firstCap, string? csv, string? mappingOut,
        CostConvention convention = CostConvention.Default)
    {
        string where = $"design space {s.Name} ({spaceFile})";
        int parameter = Parameter(s, pr.GetValue(q.Smallest)!, "--smallest", where);
        var p = s.Parameters[parameter];
        if (p.Values.Count < 2)
            throw new InputException($"--smallest {p.Name}: in {where} it has a single value ({p.Values[0]}); there is no smaller value to ask about. Give it several values in the space file.");
        if (pr.GetValue(q.Within) is not { } withinText) throw new InputException("--smallest needs --within PERCENT, the tolerance, such as --within 5%.");
        double tolerance = Tolerance(withinText);
        if (pr.GetValue(q.PerLayer) && pr.GetValue(q.Network)) throw new InputException("--per-layer and --network contradict each other: give one (--per-layer is the default).");
        var scope = pr.GetValue(q.Network) ? QueryScope.Network : QueryScope.PerLayer;
        var objective = metric switch
        {
            DesignMetric.Energy => Objective.Energy,
            DesignMetric.Latency => Objective.Latency,
            DesignMetric.Edp => Objective.Edp,
            _ => throw new InputException($"--objective {DesignMetrics.Name(metric)} with --smallest: a query compares the layers' optima of energy, latency or edp."),
        };
        var (held, sources) = Held(s, parameter, pr.GetValue(q.Fix) ?? [], pr.GetValue(q.At), where);
        var shapes = Zoo.DistinctShapes(w);
        var order = DesignSpace.Ascending(p);

        string tol = Percent(tolerance);
        string what = scope == QueryScope.PerLayer ? $"every layer's {Objectives.Name(objective)} within {tol} of its optimum" : $"the network's {Objectives.Name(objective)} within {tol} of its optimum";
        Console.WriteLine($"Smallest {p.Name} of design space {s.Name} ({Text.Int(s.Count)} points, base {s.Base.Name}) for {w.Name} ({w.Layers.Count} layers, {shapes.Count} distinct shapes): {what} at the reference");
        Console.WriteLine($"  {p.Name}: {string.Join(", ", order.Select(v => p.Values[v]))} (from the smallest)");
        Console.WriteLine($"  held: {(sources.Count == 0 ? "nothing (the space has no other parameter)" : string.Join(", ", sources))}");
        var refIdx = held.ToArray();
        refIdx[parameter] = order[^1];
        int refPoint = s.PointOf(refIdx);
        Console.WriteLine($"  reference: point {refPoint} ({s.Describe(refPoint)}), the largest {p.Name}");
        var (monotone, why) = SmallestQuery.Monotonicity(s, parameter, objective);
        Console.WriteLine($"  {why}: {(monotone ? "binary search over the values" : "every value is searched from the smallest up until one holds")}");
        // Without --bound-time, a time limit is shared evenly over the searches of two values (the reference and one other) in a first pass.
        string cap = firstCap is { } given ? $"at most {given.TotalSeconds:0.###} s a search (--bound-time)" : "";
        if (firstCap is null && limits.TimeLimit is { } t)
        {
            firstCap = t / (2 * shapes.Count);
            cap = $"at most {firstCap.Value.TotalSeconds:0.###} s a search (the time limit shared over two values' searches)";
        }
        if (firstCap is not null) Console.WriteLine($"  first pass: {cap}; then the searches still undecided get the time left");
        if (convention != CostConvention.Default) Console.WriteLine($"  every layer costed by the {Conventions.Names[(int)convention]} convention");
        if (s.Budgets.Count > 0) Console.WriteLine($"  the space's budgets ({string.Join("; ", s.Budgets)}) are not part of the query");

        var r = Live.Run("codesign --smallest", pg => new SmallestQuery(s, w, limits with { Progress = pg }, firstCap, convention).Run(parameter, held, objective, scope, tolerance));
        var names = shapes.Select(x => (x.Layer.Name, x.Count)).ToList();
        Console.WriteLine();
        PrintValues(r, names);
        var answer = r.Values[r.Answer];
        if (r.Status != QueryStatus.Infeasible)
        {
            Console.WriteLine();
            Console.WriteLine(r.Answer == r.Values.Count - 1
                ? $"The reference, {p.Name}={answer.Value} (point {answer.Point}), per layer ({Objectives.Name(objective)}):"
                : $"Witness at {p.Name}={answer.Value} (point {answer.Point}) against the reference, per layer ({Objectives.Name(objective)}):");
            PrintLayers(r, answer, names);
            if (r.Answer > 0 && r.Values[r.Answer - 1] is { Verdict: QueryVerdict.Refuted, ImpliedBy: null } below)
                Console.WriteLine(Refutation(r, below, names));
        }
        if (csv is not null) { CsvExport.Write(csv, Rows(r, names)); Console.WriteLine($"Wrote {csv}"); }
        if (mappingOut is not null && r.Status != QueryStatus.Infeasible)
        {
            CodesignCommand.WriteFiles(mappingOut, CodesignCommand.MappingFiles(w, answer.Arch, answer.Results, shapes));
            if (r.Answer != r.Values.Count - 1) CodesignCommand.WriteFiles(Path.Combine(mappingOut, "reference"), CodesignCommand.MappingFiles(w, r.Reference.Arch, r.Reference.Results, shapes));
        }
        Console.WriteLine($"Exact layer searches: {Text.Int(r.Searches)} vs {Text.Int(r.FullSweep)} for every value ({r.Values.Count} values x {shapes.Count} shapes) " +
                          $"({Text.Int(r.CacheHits)} answered from the cache, {Text.Int(r.Refinements)} repeated with more time); {r.Elapsed.TotalSeconds:0.#} s");
        Console.WriteLine(StatusLine(r, names));
        return r.Status == QueryStatus.Proved ? 0 : 3;
    }

    /// <summary>The index of a parameter named as printed (GlobalBuffer.capacity), case-insensitively; a located error otherwise.</summary>
    private static int Parameter(DesignSpace s, string name, string option, string where)
    {
        for (int i = 0; i < s.Parameters.Count; i++)
            if (string.Equals(s.Parameters[i].Name, name.Trim(), StringComparison.OrdinalIgnoreCase)) return i;
        var all = s.Parameters.Select(x => x.Name).ToList();
        string hint = SpecReader.Closest(name, all) is { } c ? $" did you mean '{c}'?" : "";
        throw new InputException($"{option} {name}: {where} has no parameter '{name}';{hint} its parameters: {string.Join(", ", all)}.");
    }

    /// <summary>Reads a tolerance written as a percentage (5%, 0.5 %): a fraction (0.05).</summary>
    internal static double Tolerance(string text)
    {
        var m = PercentText().Match(text);
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || !double.IsFinite(percent) || percent < 0 || percent > 1e6)
            throw new InputException($"--within \"{text}\": write the tolerance as a non-negative percentage with its sign, such as 5% (each layer at most 1.05 x its optimum at the reference).");
        return percent / 100;
    }

    [GeneratedRegex(@"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*%\s*$")]
    private static partial Regex PercentText();

    private static string Percent(double fraction) => (fraction * 100).ToString("0.####", CultureInfo.InvariantCulture) + "%";

    /// <summary>
    /// The value index every parameter is held at (the queried one's entry is a placeholder) and how each was chosen:
    /// --fix, else --at (a point or the base), else the parameter's only value; a parameter with several values and none
    /// of these is ambiguous (an error naming it and how to hold it).
    /// </summary>
    private static (int[] Held, List<string> Sources) Held(DesignSpace s, int parameter, IReadOnlyList<string> fixes, string? at, string where)
    {
        var held = new int?[s.Parameters.Count];
        var sources = new string?[s.Parameters.Count];
        foreach (var f in fixes)
        {
            int eq = f.IndexOf('=');
            if (eq <= 0) throw new InputException($"--fix \"{f}\": write PARAMETER=VALUE, such as GlobalBuffer.fanout=14x12.");
            int i = Parameter(s, f[..eq], "--fix", where);
            var p = s.Parameters[i];
            if (i == parameter) throw new InputException($"--fix \"{f}\": {p.Name} is the parameter asked about (--smallest); the others are held.");
            if (held[i] is not null) throw new InputException($"--fix \"{f}\": {p.Name} is fixed twice.");
            string text = f[(eq + 1)..].Trim();
            int v = Enumerable.Range(0, p.Values.Count).FirstOrDefault(k => string.Equals(p.Values[k].ToString(), text, StringComparison.OrdinalIgnoreCase)
                || (p.Values[k].X == 0 && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x == p.Values[k].Number), -1);
            if (v < 0) throw new InputException($"--fix \"{f}\": {text} is not a value of {p.Name} in {where}; its values: {string.Join(", ", p.Values)}.");
            (held[i], sources[i]) = (v, $"{p.Name}={p.Values[v]} (--fix)");
        }
        if (at is not null)
        {
            int[]? idx = null;
            if (string.Equals(at.Trim(), "base", StringComparison.OrdinalIgnoreCase))
            {
                for (int i = 0; i < s.Parameters.Count; i++)
                {
                    var p = s.Parameters[i];
                    if (i == parameter || held[i] is not null || p.Values.Count == 1) continue;
                    if (s.BaseIndex(i) is not { } b)
                        throw new InputException($"--at base: the base architecture {s.Base.Name}'s {p.Name} is not one of its values in {where} ({string.Join(", ", p.Values)}); hold it with --fix {p.Name}=VALUE.");
                    (held[i], sources[i]) = (b, $"{p.Name}={p.Values[b]} (--at base)");
                }
            }
            else if (int.TryParse(at, NumberStyles.None, CultureInfo.InvariantCulture, out var point) && point < s.Count) idx = s.Indices(point);
            else throw new InputException($"--at \"{at}\": give a point number of {where} (0 to {s.Count - 1}) or base.");
            if (idx is not null)
                for (int i = 0; i < s.Parameters.Count; i++)
                    if (i != parameter && held[i] is null) (held[i], sources[i]) = (idx[i], $"{s.Parameters[i].Name}={s.Parameters[i].Values[idx[i]]} (--at {at.Trim()})");
        }
        var open = new List<string>();
        for (int i = 0; i < s.Parameters.Count; i++)
        {
            if (i == parameter || held[i] is not null) continue;
            var p = s.Parameters[i];
            if (p.Values.Count == 1) (held[i], sources[i]) = (0, $"{p.Name}={p.Values[0]} (its only value)");
            else open.Add($"{p.Name} ({string.Join(", ", p.Values)})");
        }
        if (open.Count > 0)
            throw new InputException($"--smallest {s.Parameters[parameter].Name}: the query is ambiguous: the other parameters must be held, and {string.Join(", ", open)} " +
                                     $"{(open.Count == 1 ? "has" : "have")} several values in {where}. Hold each with --fix PARAMETER=VALUE, or all of them at a point with --at POINT or at the base architecture's values with --at base.");
        return (held.Select(h => h ?? 0).ToArray(), sources.Where((x, i) => i != parameter).Select(x => x!).ToList());
    }

    private static string Verdict(ValueOutcome v, SmallestResult r, int pos) => pos == r.Values.Count - 1 ? "reference"
        : (v.Verdict switch { QueryVerdict.NotSearched => "not searched", _ => v.Verdict.ToString().ToUpperInvariant() })
          + (v.ImpliedBy is { } by ? $" (implied by {r.Parameter.Values[by]})" : "");

    private static string Ratio(double? x) => x is not { } v ? "-" : double.IsPositiveInfinity(v) ? "inf" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>The table of the values: verdict, deciding layer, and its ratios to the reference.</summary>
    private static void PrintValues(SmallestResult r, IReadOnlyList<(string Name, int Count)> shapes)
    {
        var table = new List<string[]> { new[] { "value", "point", "verdict", "layer", "bound/ref-best", "best/ref-bound" } };
        for (int pos = 0; pos < r.Values.Count; pos++)
        {
            var v = r.Values[pos];
            bool direct = v.Verdict != QueryVerdict.NotSearched && v.ImpliedBy is null && pos != r.Values.Count - 1;
            string layer = !direct ? "" : r.Scope == QueryScope.Network ? "(network)" : v.Decider is { } d ? shapes[d].Name : "";
            table.Add([v.Value.ToString(), v.Point.ToString(CultureInfo.InvariantCulture), Verdict(v, r, pos), layer, direct ? Ratio(v.Low) : "", direct ? Ratio(v.High) : ""]);
        }
        Console.Write(Text.Table(table));
        Console.WriteLine($"  holds where best/ref-bound <= {1 + r.Tolerance:0.####}; refuted where bound/ref-best > {1 + r.Tolerance:0.####} " +
                          $"({(r.Scope == QueryScope.PerLayer ? "the layer shown: the refuting one, or the one nearest the limit" : "sums over the network")})");
    }

    /// <summary>Per layer at a value against the reference: both searches' status, best and bound, and the witness ratio.</summary>
    private static void PrintLayers(SmallestResult r, ValueOutcome v, IReadOnlyList<(string Name, int Count)> shapes)
    {
        var reference = r.Reference;
        if (ReferenceEquals(v, reference))
        {
            var own = new List<string[]> { new[] { "layer", "layers", "status", "best", "bound" } };
            for (int s = 0; s < shapes.Count; s++)
                own.Add([shapes[s].Name, shapes[s].Count.ToString(CultureInfo.InvariantCulture), Status(v.Results[s]), Best(v.Results[s]), Bound(v.Results[s])]);
            Console.Write(Text.Table(own));
            return;
        }
        var table = new List<string[]> { new[] { "layer", "layers", "ref status", "ref best", "ref bound", "status", "best", "bound", "best/ref-bound" } };
        for (int s = 0; s < shapes.Count; s++)
        {
            var (a, b) = (reference.Results[s], v.Results[s]);
            double? ratio = b?.Best is { } x && a is not null && LayerEvaluator.LowerOf(a) is var lo && lo > 0 ? x / lo : null;
            table.Add([shapes[s].Name, shapes[s].Count.ToString(CultureInfo.InvariantCulture), Status(a), Best(a), Bound(a), Status(b), Best(b), Bound(b), Ratio(ratio)]);
        }
        Console.Write(Text.Table(table));
        static string Status(SolveResult? x) => x?.Status.ToString().ToUpperInvariant() ?? "not searched";
        static string Best(SolveResult? x) => x?.Best is { } b ? Text.Num(b) : "-";
        static string Bound(SolveResult? x) => x is null ? "-" : Text.Num(LayerEvaluator.LowerOf(x));
    }

    /// <summary>The line proving the condition false at a value: the layer (or the network) whose proved lower bound exceeds the tolerance times the reference's best.</summary>
    private static string Refutation(SmallestResult r, ValueOutcome v, IReadOnlyList<(string Name, int Count)> shapes)
    {
        string unit = Objectives.Name(r.Objective);
        double f = 1 + r.Tolerance;
        if (r.Scope == QueryScope.Network)
        {
            double lower = 0, best = 0;
            for (int s = 0; s < shapes.Count; s++)
            {
                lower += shapes[s].Count * (v.Results[s] is { } x ? LayerEvaluator.LowerOf(x) : 0);
                best += shapes[s].Count * (r.Reference.Results[s]?.Best ?? double.PositiveInfinity);
            }
            return $"Refuted at {r.Parameter.Name}={v.Value} (point {v.Point}): the network needs {unit} at least {Text.Num(lower)} (proved) > {f:0.####} x {Text.Num(best)} (the reference's best) = {Text.Num(f * best)}";
        }
        int d = v.Decider!.Value;
        var res = v.Results[d]!;
        if (res.Status == SolveStatus.Infeasible) return $"Refuted at {r.Parameter.Name}={v.Value} (point {v.Point}): layer {shapes[d].Name} has no valid mapping there (proved)";
        double refBest = r.Reference.Results[d]!.Best!.Value;
        return $"Refuted at {r.Parameter.Name}={v.Value} (point {v.Point}): layer {shapes[d].Name} needs {unit} at least {Text.Num(LayerEvaluator.LowerOf(res))} " +
               $"({(res.Status == SolveStatus.Optimal ? "its optimum" : "a proved lower bound")}) > {f:0.####} x {Text.Num(refBest)} (the reference's best) = {Text.Num(f * refBest)}";
    }

    /// <summary>The last line: what was proved.</summary>
    private static string StatusLine(SmallestResult r, IReadOnlyList<(string Name, int Count)> shapes)
    {
        var p = r.Parameter;
        var answer = r.Values[r.Answer];
        string condition = r.Scope == QueryScope.PerLayer
            ? $"every layer's {Objectives.Name(r.Objective)} within {Percent(r.Tolerance)} of its optimum at the reference"
            : $"the network's {Objectives.Name(r.Objective)} within {Percent(r.Tolerance)} of its optimum at the reference";
        switch (r.Status)
        {
            case QueryStatus.Infeasible:
                return $"INFEASIBLE: {r.Explanation}";
            case QueryStatus.Proved:
            {
                int proved = answer.Results.Count(x => x?.Status == SolveStatus.Optimal);
                string witness = r.Answer == r.Values.Count - 1
                    ? $"it is the reference: holds by definition; its mappings are the best found, {proved} of {shapes.Count} layers proved optimal"
                    : $"witness: {(r.Scope == QueryScope.PerLayer ? "each layer's mapping there costs" : "the mappings there cost")} at most {1 + r.Tolerance:0.####} x the reference's proved lower bound";
                string below;
                if (r.Answer == 0) below = "it is the space's smallest value";
                else
                {
                    var v = r.Values[r.Answer - 1];
                    string who = r.Scope == QueryScope.Network ? "the network" : v.Decider is { } d ? $"layer {shapes[d].Name}" : "a layer";
                    below = $"at {v.Value}, the next smaller value, {who} needs at least {Ratio(v.Low)} x the reference's best (proved)";
                    if (r.Answer > 1) below += r.Monotone ? ", and so every smaller value (monotone)" : ", and every smaller value was refuted too (searched)";
                }
                return $"PROVED: the smallest {p.Name} is {answer.Value} (point {answer.Point}) with {condition} ({witness}); {below}";
            }
            default:
            {
                var candidates = r.Values.Take(r.Answer + 1).Skip(r.LowestOpen).Where(v => v.Verdict != QueryVerdict.Refuted).ToList();
                var open = candidates.Where(v => v.Verdict != QueryVerdict.Holds).Select(v =>
                    v.Verdict == QueryVerdict.NotSearched || v.Low is null ? $"{v.Value} not searched"
                        : $"{v.Value} undecided ({(r.Scope == QueryScope.Network ? "the network" : v.Decider is { } d ? $"layer {shapes[d].Name}" : "a layer")} between {Ratio(v.Low)} and {Ratio(v.High)} x the reference's)");
                return $"UNDECIDED: the smallest {p.Name} with {condition} is one of {string.Join(", ", candidates.Select(v => v.Value))}: " +
                       $"proved to hold at {answer.Value}{(r.Answer == r.Values.Count - 1 ? " (the reference)" : "")}; {string.Join("; ", open)} ({r.Explanation})";
            }
        }
    }

    /// <summary>One CSV row: a layer (or the network) at a value, with its search and the reference's.</summary>
    public sealed record QueryRow(string Parameter, string Value, int Point, string Role, string Verdict, string? ImpliedBy, string Layer, int Layers, string Status,
        double? Best, double? Bound, double? ReferenceBest, double? ReferenceBound, double? BestOverReferenceBound, double? BoundOverReferenceBest, string LayerVerdict);

    private static IEnumerable<QueryRow> Rows(SmallestResult r, IReadOnlyList<(string Name, int Count)> shapes)
    {
        double f = 1 + r.Tolerance;
        static double? Div(double? a, double? b) => a is { } x && b is { } y && y > 0 && double.IsFinite(x) ? x / y : null;
        for (int pos = 0; pos < r.Values.Count; pos++)
        {
            var v = r.Values[pos];
            string role = pos == r.Values.Count - 1 ? "reference" : pos == r.Answer ? "answer" : pos == r.Answer - 1 && r.Status == QueryStatus.Proved ? "refuted-below" : "";
            if (pos == r.Answer && pos == r.Values.Count - 1) role = "reference+answer";
            string verdict = pos == r.Values.Count - 1 ? "HOLDS" : v.Verdict == QueryVerdict.NotSearched ? "NOT-SEARCHED" : v.Verdict.ToString().ToUpperInvariant();
            string? implied = v.ImpliedBy is { } by ? r.Parameter.Values[by].ToString() : null;
            double lowerSum = 0, bestSum = 0, refBestSum = 0, refLowerSum = 0;
            bool complete = true;
            for (int s = 0; s < shapes.Count; s++)
            {
                var (x, a) = (v.Results[s], r.Reference.Results[s]);
                double? best = x?.Best, bound = x is null ? null : LayerEvaluator.LowerOf(x), refBest = a?.Best, refBound = a is null ? null : LayerEvaluator.LowerOf(a);
                string layerVerdict = x is null ? "not-searched"
                    : x.Status == SolveStatus.Infeasible || (bound > f * (refBest ?? double.PositiveInfinity)) ? "refuted"
                    : best is { } b && b <= f * (refBound ?? 0) ? "holds" : "undecided";
                yield return new QueryRow(r.Parameter.Name, v.Value.ToString(), v.Point, role, verdict, implied, shapes[s].Name, shapes[s].Count,
                    x?.Status.ToString().ToUpperInvariant() ?? "NOT-SEARCHED", best, bound, refBest, refBound, Div(best, refBound), Div(bound, refBest), layerVerdict);
                lowerSum += shapes[s].Count * (bound ?? 0);
                if (best is { } bb) bestSum += shapes[s].Count * bb; else complete = false;
                refBestSum += shapes[s].Count * (refBest ?? double.PositiveInfinity);
                refLowerSum += shapes[s].Count * (refBound ?? 0);
            }
            if (r.Scope == QueryScope.Network)
                yield return new QueryRow(r.Parameter.Name, v.Value.ToString(), v.Point, role, verdict, implied, "(network)", shapes.Sum(x => x.Count), "",
                    complete ? bestSum : null, lowerSum, double.IsFinite(refBestSum) ? refBestSum : null, refLowerSum, complete ? Div(bestSum, refLowerSum) : null, Div(lowerSum, refBestSum),
                    v.Verdict.ToString().ToLowerInvariant());
        }
    }
}
