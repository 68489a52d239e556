using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Tests;

/// <summary>
/// Smallest-value queries (issue 19 item 3, docs/codesign.md "Smallest value under a tolerance"): on the 16-point space
/// of examples/codesign-simple-ws.yaml and on a space with more values per parameter, the query's answer equals the
/// exhaustive check computed here from every point's exact per-layer optima, every verdict it claims is true, it uses
/// binary search only where the optimum is monotone, an interrupted query never claims a proof, and bad input is exit 2.
/// </summary>
[TestClass]
public sealed class CodesignQueryTests
{
    private static readonly string SpacePath = CommandLine.Example("codesign-simple-ws.yaml");
    private static readonly string WorkloadPath = CommandLine.Example("codesign-small-workload.yaml");

    // Six global buffer sizes at a constant energy per access (monotone for every objective) and five register files on
    // the default power law (energy grows with capacity: not monotone for energy and EDP).
    private const string RichSpace = """
        design-space:
          name: simple-ws-30
          base: simple-ws
          parameters:
            - {level: GlobalBuffer, capacity: [4096, 32, 64, 128, 256, 512]}
            - {level: Registers, capacity: [2, 4, 8, 16, 64]}
          costs:
            levels:
              GlobalBuffer:
                table:
                  - {words: 1024, read: 3, write: 3, area: 0.05}
        """;

    private static Workload Small() => WorkloadSpec.Load(WorkloadPath);

    private static DesignSpace Load(string yaml)
    {
        var path = Path.Combine(Path.GetTempPath(), $"space-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        try { return DesignSpaceSpec.Load(path); }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// The exhaustive check: every value of the parameter with the others held, each point's exact per-shape optima
    /// (found among all points of the space by their value indices), whether the condition holds at each value in
    /// ascending order, and the ratios that put tolerances right at its boundaries.
    /// </summary>
    private static (bool[] Holds, List<double> Ratios) Exhaustive(LayerEvaluator exact, DesignSpace space, int parameter, int[] held, Objective objective, QueryScope scope, double tolerance)
    {
        var order = DesignSpace.Ascending(space.Parameters[parameter]);
        var sums = new List<LayerSum>();
        foreach (var v in order)
        {
            int point = Enumerable.Range(0, space.Count).Single(p => space.Indices(p).Select((x, i) => i == parameter ? x == v : x == held[i]).All(b => b));
            var sum = exact.Sum(space.Build(point), objective, relaxation: false);
            Assert.IsTrue(sum.Proved && sum.Value is not null, $"point {point}: every layer must be proved for the check");
            sums.Add(sum);
        }
        var reference = sums[^1];
        double f = 1 + tolerance;
        var holds = sums.Select(s => scope == QueryScope.Network
            ? s.Value!.Value <= f * reference.Value!.Value
            : s.Results.Select((r, i) => r.Best!.Value <= f * reference.Results[i].Best!.Value).All(b => b)).ToArray();
        var ratios = sums.Select(s => scope == QueryScope.Network ? s.Value!.Value / reference.Value!.Value
            : s.Results.Select((r, i) => r.Best!.Value / reference.Results[i].Best!.Value).Max()).ToList();
        return (holds, ratios);
    }

    /// <summary>Every parameter, two ways of holding the others, three objectives, both scopes, tolerances at and around each value's ratio.</summary>
    private static int CompareWithExhaustive(DesignSpace space, IReadOnlyList<int[]> helds, bool expectSomeRefuted)
    {
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        int queries = 0, refutedBelow = 0;
        for (int parameter = 0; parameter < space.Parameters.Count; parameter++)
        foreach (var held in helds)
        foreach (var objective in new[] { Objective.Energy, Objective.Latency, Objective.Edp })
        foreach (var scope in new[] { QueryScope.PerLayer, QueryScope.Network })
        {
            var (_, ratios) = Exhaustive(exact, space, parameter, held, objective, scope, 0);
            var tolerances = new List<double> { 0, 0.05 };
            foreach (var r in ratios.Where(r => r > 1)) tolerances.AddRange([r - 1, (r - 1) * (1 + 1e-9), (r - 1) * (1 - 1e-9)]);
            foreach (var tol in tolerances.Distinct())
            {
                var (holds, _) = Exhaustive(exact, space, parameter, held, objective, scope, tol);
                int expected = Array.IndexOf(holds, true);
                var got = new SmallestQuery(space, exact).Run(parameter, held, objective, scope, tol);
                string what = $"{space.Parameters[parameter].Name}, others [{string.Join(",", held)}], {objective}, {scope}, tolerance {tol:R}: " +
                              $"exhaustive [{string.Join(" ", holds.Select(h => h ? "holds" : "fails"))}], query {got.Status} at position {got.Answer} " +
                              $"[{string.Join(" ", got.Values.Select(v => $"{v.Verdict}{(v.ImpliedBy is null ? "" : "*")}"))}] ({got.MonotoneWhy})";
                Assert.AreEqual(QueryStatus.Proved, got.Status, what);
                Assert.AreEqual(expected, got.Answer, what);
                for (int pos = 0; pos < holds.Length; pos++)
                {
                    if (got.Values[pos].Verdict == QueryVerdict.Holds) Assert.IsTrue(holds[pos], $"{what}: a false witness at position {pos}");
                    if (got.Values[pos].Verdict == QueryVerdict.Refuted) Assert.IsFalse(holds[pos], $"{what}: a false refutation at position {pos}");
                    if (pos < expected) Assert.AreEqual(QueryVerdict.Refuted, got.Values[pos].Verdict, $"{what}: position {pos} below the answer is not refuted");
                }
                // A monotone claim must hold on the exhaustive check: once the condition holds, it holds at every larger value.
                if (got.Monotone) Assert.IsTrue(holds.Skip(expected).All(h => h), $"{what}: claimed monotone, but the condition fails above the answer");
                if (expected > 0) refutedBelow++;
                queries++;
            }
        }
        if (expectSomeRefuted) Assert.IsTrue(refutedBelow > queries / 4, $"only {refutedBelow} of {queries} queries had a value below the answer: the check tests little");
        return queries;
    }

    [TestMethod]
    public void SmallestEqualsTheExhaustiveCheckOnTheSixteenPointSpace()
    {
        var space = DesignSpaceSpec.Load(SpacePath);
        int queries = CompareWithExhaustive(space, [space.Indices(0), space.Indices(15), space.Indices(6)], expectSomeRefuted: true);
        Console.WriteLine($"{queries} queries equal the exhaustive check");
    }

    [TestMethod]
    public void SmallestEqualsTheExhaustiveCheckWithMoreValuesPerParameter()
    {
        var space = Load(RichSpace);
        int queries = CompareWithExhaustive(space, [[0, 0], [5, 4], [3, 2]], expectSomeRefuted: true);
        Console.WriteLine($"{queries} queries equal the exhaustive check");
    }

    [TestMethod]
    public void BinarySearchOnlyWhereMonotone()
    {
        var space = Load(RichSpace);
        // The global buffer's energy per access is constant: monotone, binary search; the registers' grows: every value for energy.
        Assert.IsTrue(SmallestQuery.Monotonicity(space, 0, Objective.Energy).Monotone);
        var (registers, why) = SmallestQuery.Monotonicity(space, 1, Objective.Energy);
        Assert.IsFalse(registers);
        StringAssert.Contains(why, "the energy per access of Registers grows with its capacity");
        Assert.IsFalse(SmallestQuery.Monotonicity(space, 1, Objective.Edp).Monotone);
        Assert.IsTrue(SmallestQuery.Monotonicity(space, 1, Objective.Latency).Monotone);
        var simple = DesignSpaceSpec.Load(SpacePath);
        Assert.IsFalse(SmallestQuery.Monotonicity(simple, 1, Objective.Energy).Monotone, "the 16-point space's global buffer table grows from 1.5 to 3 pJ");
        Assert.IsTrue(SmallestQuery.Monotonicity(simple, 0, Objective.Energy).Monotone, "2x2 then 4x4 are ordered on both axes");
        Assert.IsTrue(SmallestQuery.Monotonicity(simple, 3, Objective.Energy).Monotone, "bandwidth");
        var unordered = Load("design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBuffer, fanout: [2x8, 4x3]}\n");
        Assert.IsFalse(SmallestQuery.Monotonicity(unordered, 0, Objective.Latency).Monotone);

        // Binary search over six values searches at most three below the reference (fresh evaluator: nothing cached).
        var q = new SmallestQuery(space, Small(), SearchLimits.None);
        var r = q.Run(0, [0, 4], Objective.Latency, QueryScope.PerLayer, 0.5);
        Assert.AreEqual(QueryStatus.Proved, r.Status);
        int searched = r.Values.Take(r.Values.Count - 1).Count(v => v.Results.Any(x => x is not null));
        Assert.IsTrue(searched <= 3, $"{searched} values searched");
        Assert.IsTrue(r.Searches <= r.FullSweep, $"{r.Searches} searches, more than every value's {r.FullSweep}");
    }

    [TestMethod]
    public void QueriesWithSearchesCutShortNeverClaimAWrongVerdict()
    {
        // Searches capped at a millisecond and whole queries at 30 to 600 ms stop anywhere: whatever they claim must be true.
        var space = Load(RichSpace);
        var exact = new LayerEvaluator(Small(), SearchLimits.None);
        int claims = 0, undecided = 0;
        foreach (var held in new[] { new[] { 0, 0 }, new[] { 5, 4 } })
        for (int parameter = 0; parameter < 2; parameter++)
        foreach (var scope in new[] { QueryScope.PerLayer, QueryScope.Network })
        foreach (var (tol, ms) in new[] { (0.0, 30), (0.02, 150), (0.1, 600) })
        {
            var (holds, _) = Exhaustive(exact, space, parameter, held, Objective.Energy, scope, tol);
            var got = new SmallestQuery(space, Small(), new SearchLimits(TimeSpan.FromMilliseconds(ms)), TimeSpan.FromMilliseconds(1)).Run(parameter, held, Objective.Energy, scope, tol);
            string what = $"{space.Parameters[parameter].Name}, [{string.Join(",", held)}], {scope}, {tol}: {got.Status} at {got.Answer} [{string.Join(" ", got.Values.Select(v => v.Verdict))}]";
            for (int pos = 0; pos < holds.Length - 1; pos++)
            {
                if (got.Values[pos].Verdict == QueryVerdict.Holds) { Assert.IsTrue(holds[pos], $"{what}: a false witness at {pos}"); claims++; }
                if (got.Values[pos].Verdict == QueryVerdict.Refuted) { Assert.IsFalse(holds[pos], $"{what}: a false refutation at {pos}"); claims++; }
            }
            if (got.Status == QueryStatus.Proved) Assert.AreEqual(Array.IndexOf(holds, true), got.Answer, what);
            else undecided++;
            if (got.Status != QueryStatus.Proved) Assert.IsTrue(got.LowestOpen <= Array.IndexOf(holds, true) && Array.IndexOf(holds, true) <= got.Answer, $"{what}: the true answer is outside the range reported");
        }
        Console.WriteLine($"{claims} verdicts claimed below the references, all true; {undecided} of 24 queries undecided");
    }

    [TestMethod]
    public void AnInterruptedQueryIsUndecidedNeverProved()
    {
        var space = DesignSpaceSpec.Load(SpacePath);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var r = new SmallestQuery(space, Small(), new SearchLimits(Cancel: cancel.Token)).Run(1, space.Indices(15), Objective.Energy, QueryScope.PerLayer, 0.05);
        Assert.AreEqual(QueryStatus.Undecided, r.Status);
        Assert.AreEqual(r.Values.Count - 1, r.Answer, "only the reference holds without a search (by definition)");
        Assert.AreEqual(0, r.LowestOpen);
        StringAssert.Contains(r.Explanation, "stopped");
        // The command says so, with exit 3, when its time limit is too short for any search.
        var c = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--smallest", "Registers.capacity", "--within", "5%", "--at", "15", "--time-limit", "0.000001");
        Assert.AreEqual(3, c.Code, c.Out + c.Err);
        StringAssert.Contains(c.Out, "UNDECIDED: the smallest Registers.capacity with every layer's energy within 5% of its optimum at the reference is one of 16, 64: proved to hold at 64 (the reference); 16 not searched (4 layer search(es) there not run; the time limit or an interrupt stopped the query)");
    }

    [TestMethod]
    public void CommandProvesTheAnswerAndWritesTheWitness()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"query-{Guid.NewGuid():N}");
        var csv = Path.Combine(Path.GetTempPath(), $"query-{Guid.NewGuid():N}.csv");
        try
        {
            var r = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--smallest", "DRAM.bandwidth", "--within", "0%",
                "--objective", "latency", "--at", "15", "--csv", csv, "--mapping-out", dir);
            Assert.AreEqual(0, r.Code, r.Err + r.Out);
            StringAssert.Contains(r.Out, "monotone: more bandwidth never adds cycles and does not change energies: binary search over the values");
            StringAssert.Contains(r.Out, "PROVED: the smallest DRAM.bandwidth is 4 (point 15)");
            StringAssert.Contains(r.Out, "at 2, the next smaller value, layer ");
            StringAssert.Contains(r.Out, "Refuted at DRAM.bandwidth=2 (point 14): layer ");
            var lines = File.ReadAllLines(csv);
            StringAssert.StartsWith(lines[0], "Parameter,Value,Point,Role,Verdict,ImpliedBy,Layer,Layers,Status,Best,Bound,ReferenceBest,ReferenceBound");
            Assert.AreEqual(1 + 2 * 2, lines.Length, string.Join("\n", lines));
            Assert.IsTrue(lines.Any(l => l.Contains(",refuted-below,REFUTED,")), string.Join("\n", lines));

            var e = CommandLine.Run("codesign", "--space", SpacePath, "--workload", WorkloadPath, "--smallest", "GlobalBuffer.capacity", "--within", "5%",
                "--fix", "GlobalBuffer.fanout=4x4", "--fix", "registers.capacity=16", "--at", "0", "--mapping-out", dir);
            Assert.AreEqual(0, e.Code, e.Err + e.Out);
            StringAssert.Contains(e.Out, "held: GlobalBuffer.fanout=4x4 (--fix), Registers.capacity=16 (--fix), DRAM.bandwidth=2 (--at 0)");
            StringAssert.Contains(e.Out, "not monotone: the energy per access of GlobalBuffer grows with its capacity");
            StringAssert.Contains(e.Out, "PROVED: the smallest GlobalBuffer.capacity is 1024");
            // The witness mapping evaluates on the witness architecture to at most 1.05 x the reference's optimum.
            var eval = CommandLine.Run("evaluate", "--arch", Path.Combine(dir, "architecture.yaml"), "--workload", WorkloadPath, "--layer", "fc", "--mapping", Path.Combine(dir, "fc.yaml"));
            Assert.AreEqual(0, eval.Code, eval.Err + eval.Out);
            Assert.IsTrue(File.Exists(Path.Combine(dir, "reference", "architecture.yaml")) && File.Exists(Path.Combine(dir, "reference", "conv.yaml")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            File.Delete(csv);
        }
    }

    [TestMethod]
    public void BadQueriesAreClearErrors()
    {
        string[] Q(params string[] more) => ["codesign", "--space", SpacePath, "--workload", WorkloadPath, .. more];
        var cases = new (string[] Args, string Expected)[]
        {
            (Q("--smallest", "GlobalBufer.capacity", "--within", "5%", "--at", "0"), "has no parameter 'GlobalBufer.capacity'; did you mean 'GlobalBuffer.capacity'?"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5", "--at", "0"), "--within \"5\": write the tolerance as a non-negative percentage with its sign, such as 5%"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "five%", "--at", "0"), "--within \"five%\""),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "-5%", "--at", "0"), "--within \"-5%\""),
            (Q("--smallest", "GlobalBuffer.capacity", "--at", "0"), "--smallest needs --within PERCENT"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%"), "the query is ambiguous: the other parameters must be held, and GlobalBuffer.fanout (2x2, 4x4), Registers.capacity (16, 64), DRAM.bandwidth (2, 4) have several values"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--fix", "GlobalBuffer.fanout=3x3", "--at", "0"), "--fix \"GlobalBuffer.fanout=3x3\": 3x3 is not a value of GlobalBuffer.fanout"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--fix", "GlobalBuffer.capacity=1024", "--at", "0"), "is the parameter asked about"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--at", "16"), "--at \"16\": give a point number"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--at", "0", "--per-layer", "--network"), "--per-layer and --network contradict each other"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--at", "0", "--objective", "area"), "--objective area with --smallest"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--at", "0", "--pareto", "energy,area"), "--pareto belong to the minimization"),
            (Q("--smallest", "GlobalBuffer.capacity", "--within", "5%", "--at", "0", "--require", "area <= 1"), "--require belong to the minimization"),
            (Q("--within", "5%"), "--within belongs to a query: give --smallest PARAMETER --within TOLERANCE too"),
        };
        foreach (var (args, expected) in cases)
        {
            var r = CommandLine.Run(args);
            Assert.AreEqual(2, r.Code, $"{string.Join(" ", args)}\n{r.Out}{r.Err}");
            StringAssert.Contains(r.Err, expected, string.Join(" ", args));
        }
        // A parameter with a single value has no smaller value: the error names it and the file.
        var path = Path.Combine(Path.GetTempPath(), $"space-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "design-space:\n  base: simple-ws\n  parameters:\n    - {level: GlobalBuffer, capacity: [1024]}\n    - {level: Registers, capacity: [16, 64]}\n");
        try
        {
            var r = CommandLine.Run("codesign", "--space", path, "--workload", WorkloadPath, "--smallest", "GlobalBuffer.capacity", "--within", "5%");
            Assert.AreEqual(2, r.Code, r.Out + r.Err);
            StringAssert.Contains(r.Err, "--smallest GlobalBuffer.capacity: in design space");
            StringAssert.Contains(r.Err, Path.GetFileName(path));
            StringAssert.Contains(r.Err, "it has a single value (1024)");
            // --at base holds the others at the base's values when the space has them (simple-ws: 64 registers).
            var b = CommandLine.Run("codesign", "--space", path, "--workload", WorkloadPath, "--smallest", "Registers.capacity", "--within", "5%", "--at", "base");
            Assert.AreEqual(0, b.Code, b.Out + b.Err);
            StringAssert.Contains(b.Out, "held: GlobalBuffer.capacity=1024 (its only value)");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
