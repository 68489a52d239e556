using System.Globalization;
using Optimizer.Cli;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using static Optimizer.Tests.CommandLine;

namespace Optimizer.Tests;

/// <summary>
/// The descent (docs/heuristics.md): its answers are valid, re-cost to what it reports, honour
/// constraints, do not depend on the run, and stay close to the exact optimum; and
/// <c>regress --heuristic FILE</c>: mappings made elsewhere round-trip with gap 0, and bad files get
/// located errors.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class HeuristicTests
{
    private static string _dir = "";

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "optimizer-heuristic-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    /// <summary>Small random layers on small random three-level architectures (some with a mesh of two nodes), small enough for the exact search to prove.</summary>
    private static IEnumerable<(Einsum, Architecture)> SmallCases(int seed, int count)
    {
        var rng = new Random(seed);
        int[] sizes = [1, 2, 3, 4, 6, 8, 12];
        for (int i = 0; i < count; i++)
        {
            Einsum layer = (i % 4) switch
            {
                0 => Layers.Conv1d($"c{i}", c: sizes[rng.Next(4)], k: sizes[rng.Next(1, 5)], p: sizes[rng.Next(1, 6)], r: 1 + rng.Next(3), stride: 1 + rng.Next(2)),
                1 => Layers.Gemm($"g{i}", m: sizes[rng.Next(1, 6)], n: sizes[rng.Next(1, 5)], k: sizes[rng.Next(1, 5)]),
                2 => Layers.Conv2d($"v{i}", n: 1, c: sizes[rng.Next(3)], k: sizes[rng.Next(1, 4)], p: sizes[rng.Next(1, 4)], q: 2, r: 1 + rng.Next(2), s: 1 + rng.Next(2)),
                _ => Layers.Conv2d($"s{i}", n: 1, c: sizes[rng.Next(3)], k: sizes[rng.Next(1, 3)], p: sizes[rng.Next(1, 3)], q: 2, r: 1, s: 1, stride: 2),
            };
            yield return (layer, TestMappings.RandomSmall(rng, $"a{i}", 96, mesh: i % 5 == 0));
        }
    }

    /// <summary>Asserts what every answer of the descent must satisfy, and returns its objective value.</summary>
    private static double CheckAnswer(MapProblem p, SolveResult r)
    {
        string what = $"{p.Layer.Name} on {p.Arch.Name}, {p.Objective}";
        Assert.AreEqual(SolveStatus.Feasible, r.Status, $"{what}: {r.Explanation}");
        Assert.AreEqual("descent", r.Solver);
        var violations = ValidityChecker.Check(p.Layer, p.Arch, r.Mapping!);
        Assert.AreEqual(0, violations.Count, $"{what}: {string.Join("; ", violations)}");
        double reference = CostModel.Evaluate(p.Layer, p.Arch, r.Mapping!).Objective(p.Objective);
        Assert.AreEqual(reference, r.Best!.Value, 1e-9 * reference, $"{what}: the reported value re-costs");
        Assert.AreEqual(reference, r.Report!.Objective(p.Objective), 1e-9 * reference);
        Assert.IsTrue(r.Bound <= r.Best.Value * (1 + 1e-12), $"{what}: the bound never exceeds the value");
        Assert.IsTrue(r.Explored > 0);
        return reference;
    }

    [TestMethod]
    public void DescentAnswersAreValidAndReCostOnRandomSmallLayers()
    {
        int answered = 0;
        foreach (var (layer, arch) in SmallCases(77, 120))
            foreach (var objective in new[] { Objective.Energy, Objective.Latency, Objective.Edp })
            {
                var p = new MapProblem(layer, arch, objective);
                var r = new Descent(p).Solve(SearchLimits.None);
                if (r.Status == SolveStatus.Infeasible)
                {
                    // Only when nothing fits: the exact search agrees.
                    Assert.AreEqual(SolveStatus.Infeasible, new TilingSearch(p, prune: true).Solve(SearchLimits.None).Status, $"{layer} on {arch.Name}");
                    continue;
                }
                CheckAnswer(p, r);
                answered++;
            }
        Assert.IsTrue(answered >= 300, $"only {answered} cases answered");
    }

    [TestMethod]
    public void DescentAnswersAreValidAndReCostOnEveryZooShapeOnEyerissAndTpu()
    {
        int answered = 0;
        foreach (var network in new[] { "resnet50", "vgg16", "mobilenetv2", "bert-base" })
            foreach (var arch in new[] { Presets.Get("eyeriss"), Presets.Get("tpu-v4i") })
                foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get(network)))
                {
                    var p = new MapProblem(layer, arch, Objective.Energy);
                    CheckAnswer(p, new Descent(p).Solve(SearchLimits.None));
                    answered++;
                }
        Assert.AreEqual(148, answered, "every distinct shape of the four networks on both architectures");
    }

    [TestMethod]
    public void DescentIsDeterministic()
    {
        var cases = SmallCases(5, 12).Select(c => new MapProblem(c.Item1, c.Item2, Objective.Energy))
            .Concat(new[] { "conv1", "conv3_1_b", "conv4_1_proj", "fc" }.Select(n => new MapProblem(Zoo.Get("resnet50").Layers.Single(l => l.Name == n), Presets.Get("eyeriss"), Objective.Energy)))
            .Append(new MapProblem(Zoo.Get("bert-base").Layers.Single(l => l.Name == "QK"), Presets.Get("tpu-v4i"), Objective.Edp));
        foreach (var p in cases)
        {
            var a = new Descent(p).Solve(SearchLimits.None);
            var b = new Descent(p).Solve(SearchLimits.None);
            Assert.AreEqual(a.Status, b.Status);
            if (a.Mapping is null) continue;
            var names = p.Arch.Levels.Select(l => l.Name).ToList();
            Assert.AreEqual(a.Mapping.ToCompactString(names), b.Mapping!.ToCompactString(names), $"{p.Layer.Name} on {p.Arch.Name}");
            Assert.AreEqual(a.Best, b.Best);
            Assert.AreEqual(a.Explored, b.Explored);
        }
    }

    /// <summary>
    /// Against proven optima on small random cases (energy): never better than the optimum (that would be
    /// a bug in one of them), within 1% on at least 95% of the cases and never more than 5% off. Measured
    /// when written: all 80 cases proved; the descent at the optimum on 79 and 1.5% above it on one.
    /// </summary>
    [TestMethod]
    public void DescentIsCloseToTheProvenOptimumOnSmallCases()
    {
        var gaps = new List<double>();
        foreach (var (layer, arch) in SmallCases(2025, 80))
        {
            var p = new MapProblem(layer, arch, Objective.Energy);
            var exact = new TilingSearch(p, prune: true, seed: false).Solve(SearchLimits.None);
            if (exact.Status != SolveStatus.Optimal) continue;
            double found = CheckAnswer(p, new Descent(p).Solve(SearchLimits.None));
            Assert.IsTrue(found >= exact.Best!.Value * (1 - 1e-9), $"{layer} on {arch.Name}: the descent beat a proven optimum");
            gaps.Add((found - exact.Best.Value) / exact.Best.Value * 100);
        }
        Assert.IsTrue(gaps.Count >= 60, $"only {gaps.Count} proven cases");
        double within = gaps.Count(g => g <= 1) / (double)gaps.Count;
        Assert.IsTrue(within >= 0.95, $"within 1% on {within:P0} of {gaps.Count} cases; gaps: {string.Join(", ", gaps.Where(g => g > 1).Select(g => g.ToString("F1", CultureInfo.InvariantCulture)))}");
        Assert.IsTrue(gaps.Max() <= 5, $"worst gap {gaps.Max():F1}%");
    }

    /// <summary>
    /// ResNet-50 on eyeriss (energy) against the exact search's best mapping within 10 s per shape, as
    /// recorded in docs/benchmarks.md (most not proved optimal): the descent is within 2% of it on at
    /// least 22 of the 24 shapes (measured: all 24, 4 of them cheaper). A change that makes the descent
    /// worse fails here.
    /// </summary>
    [TestMethod]
    public void DescentStaysWithinTwoPercentOfTheRecordedExactBestOnResNet50Eyeriss()
    {
        var recorded = new Dictionary<string, double>
        {
            ["conv1"] = 5.97632E+08, ["conv2_1_a"] = 1.20652E+08, ["conv2_1_b"] = 5.1203E+08, ["conv2_1_c"] = 3.74571E+08,
            ["conv2_2_a"] = 3.81796E+08, ["conv3_1_a"] = 6.27229E+08, ["conv3_1_b"] = 5.95494E+08, ["conv3_1_c"] = 3.21556E+08,
            ["conv3_1_proj"] = 6.27229E+08, ["conv3_2_a"] = 2.94347E+08, ["conv3_2_b"] = 5.01651E+08, ["conv4_1_a"] = 5.88694E+08,
            ["conv4_1_b"] = 5.80044E+08, ["conv4_1_c"] = 2.97974E+08, ["conv4_1_proj"] = 5.86514E+08, ["conv4_2_a"] = 3.11321E+08,
            ["conv4_2_b"] = 5.10659E+08, ["conv5_1_a"] = 6.22641E+08, ["conv5_1_b"] = 8.75275E+08, ["conv5_1_c"] = 4.07895E+08,
            ["conv5_1_proj"] = 8.86538E+08, ["conv5_2_a"] = 4.08949E+08, ["conv5_2_b"] = 8.60087E+08, ["fc"] = 4.18912E+08,
        };
        var arch = Presets.Get("eyeriss");
        var far = new List<string>();
        foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get("resnet50")))
        {
            var r = new Descent(new MapProblem(layer, arch, Objective.Energy)).Solve(SearchLimits.None);
            double exact = recorded[layer.Name];
            if (r.Best!.Value > exact * 1.02) far.Add($"{layer.Name} {(r.Best.Value / exact - 1) * 100:F1}%");
        }
        Assert.IsTrue(far.Count <= 2, $"more than 2% above the recorded exact best on {far.Count} shapes: {string.Join(", ", far)}");
    }

    [TestMethod]
    public void DescentHonoursConstraintsAndTimeLimits()
    {
        var w = Inputs.Workload(Example("conv1d-workload.yaml"));
        var arch = Presets.Get("simple-ws");
        var layer = w.Layers[0];
        var c = Inputs.Constraints(Example("simple-ws-constraints.yaml"), layer, arch);
        var p = new MapProblem(layer, arch, Objective.Energy, c);
        var r = new Descent(p).Solve(SearchLimits.None);
        CheckAnswer(p, r);
        Assert.IsTrue(ConstraintCheck.Allows(c, r.Mapping!));
        var exact = new TilingSearch(p, prune: true, seed: false).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, exact.Status);
        Assert.IsTrue(r.Best!.Value >= exact.Best!.Value * (1 - 1e-9));

        // A time limit far too short still gives a valid mapping or says it found none; never a wrong one.
        var big = new MapProblem(Zoo.Get("resnet50").Layers.Single(l => l.Name == "conv3_2_b"), Presets.Get("eyeriss"), Objective.Energy);
        var hurried = new Descent(big).Solve(new SearchLimits(TimeSpan.FromMilliseconds(1)));
        if (hurried.Mapping is null) Assert.AreEqual(SolveStatus.Unknown, hurried.Status);
        else CheckAnswer(big, hurried);
    }

    // ---- regress --heuristic FILE ----

    private static (Workload W, Architecture Arch, List<(Einsum Layer, Mapping Mapping)> Optimal) ExactMlp()
    {
        var w = Zoo.Get("mlp");
        var arch = Presets.Get("simple-ws");
        var optimal = w.Layers.Select(l =>
        {
            var r = new TilingSearch(new MapProblem(l, arch, Objective.Energy), prune: true).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, r.Status);
            return (l, r.Mapping!);
        }).ToList();
        return (w, arch, optimal);
    }

    private static string Dir(string name)
    {
        var d = Path.Combine(_dir, name);
        if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        Directory.CreateDirectory(d);
        return d;
    }

    private static List<string[]> CsvRows(string path) => File.ReadAllLines(path).Skip(1).Select(l => l.Split(',')).ToList();

    [TestMethod]
    public void RegressTakesALexicographicObjectiveAndMeasuresTheGapInTheFirstTermThatDiffers()
    {
        var w = Zoo.Get("mlp");
        var arch = Presets.Get("simple-ws");
        Objective[] terms = [Objective.Latency, Objective.Energy];
        var (fc1, fc3) = (w.Layers[0], w.Layers[2]);
        var lex = Lexicographic.Solve(new MapProblem(fc3, arch, Objective.Latency), terms, SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, lex.Status);
        var lexReport = CostModel.Evaluate(fc3, arch, lex.Mapping!);
        // fc1 with every loop at DRAM: valid, and far more cycles than its least.
        var slow = new Mapping(arch.Levels.Select((level, l) => new LevelMapping(
            l == 0 ? fc1.Ranks.Where(r => r.Bound > 1).Select(r => new TemporalLoop(r.Id, r.Bound)) : [], [],
            l == 0 ? fc1.Tensors.Select(t => t.Id) : [])));
        var slowReport = CostModel.Evaluate(fc1, arch, slow);
        var set = Path.Combine(_dir, "lexicographic-set.yaml");
        File.WriteAllText(set, MappingSetSpec.Write([(fc1, slow), (fc3, lex.Mapping!)], arch));
        var csv = Path.Combine(_dir, "lexicographic.csv");
        var (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", set, "--objective", "delay,energy", "--csv", csv);
        Assert.AreEqual(0, code, err + output);
        StringAssert.Contains(output, "mlp on simple-ws, latency,energy");
        StringAssert.Contains(output, "Skipped 1 layer shape(s) with no mapping given: fc2");
        var rows = CsvRows(csv).ToDictionary(r => r[0]);
        Assert.AreEqual(2, rows.Count);
        // The lexicographic optimum given back: equal in every term, so the gap is 0, taken in the last term (energy).
        Assert.AreEqual("energy", rows["fc3"][10]);
        Assert.AreEqual(0.0, double.Parse(rows["fc3"][6], CultureInfo.InvariantCulture), 1e-9);
        Assert.AreEqual(lexReport.Energy, double.Parse(rows["fc3"][3], CultureInfo.InvariantCulture), 1e-9 * lexReport.Energy);
        // The slow mapping loses in the first term already: the gap is in cycles, against the proved least cycles.
        Assert.AreEqual("latency", rows["fc1"][10]);
        double least = double.Parse(rows["fc1"][3], CultureInfo.InvariantCulture);
        Assert.AreEqual(slowReport.Cycles, double.Parse(rows["fc1"][5], CultureInfo.InvariantCulture));
        Assert.AreEqual((slowReport.Cycles - least) / least * 100, double.Parse(rows["fc1"][6], CultureInfo.InvariantCulture), 1e-6);
        Assert.IsTrue(slowReport.Cycles > least, "all loops at DRAM takes more cycles than the least");

        // Bad objective and convention names are usage errors.
        var bad = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--objective", "delay,power");
        Assert.AreEqual(2, bad.Code, bad.Out);
        StringAssert.Contains(bad.Err, "Unknown objective 'power'");
        bad = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--convention", "tl");
        Assert.AreEqual(2, bad.Code, bad.Out);
        StringAssert.Contains(bad.Err, "Unknown convention 'tl'; the choices: default, timeloop");
    }

    [TestMethod]
    public void TheRegressGapIsTakenInTheFirstTermWhereTheAnswersDiffer()
    {
        var arch = Presets.Get("simple-ws");
        var fc3 = Zoo.Get("mlp").Layers[2];
        var lex = Lexicographic.Solve(new MapProblem(fc3, arch, Objective.Latency), [Objective.Latency, Objective.Energy], SearchLimits.None);
        var exact = CostModel.Evaluate(fc3, arch, lex.Mapping!);
        // Any least-cycle mapping (the latency search alone): same cycles, so its gap is in energy, and never negative.
        var anyFastest = new TilingSearch(new MapProblem(fc3, arch, Objective.Latency), prune: true).Solve(SearchLimits.None);
        var other = CostModel.Evaluate(fc3, arch, anyFastest.Mapping!);
        Assert.AreEqual(exact.Cycles, other.Cycles);
        var (term, e, h, gap) = RegressCommand.Gap([Objective.Latency, Objective.Energy], exact, other);
        Assert.AreEqual(Objective.Energy, term);
        Assert.AreEqual(exact.Energy, e);
        Assert.AreEqual(other.Energy, h);
        Assert.AreEqual((other.Energy - exact.Energy) / exact.Energy * 100, gap, 1e-9);
        Assert.IsTrue(gap >= 0);
        // Energy first: the two differ in energy unless the least-cycle mapping is also least-energy.
        var (energyTerm, _, _, _) = RegressCommand.Gap([Objective.Energy, Objective.Latency], exact, other);
        Assert.AreEqual(exact.Energy == other.Energy ? Objective.Latency : Objective.Energy, energyTerm);
    }

    [TestMethod]
    public void RegressOnTheExactMappingsGivenAsFilesHasGapZero()
    {
        var (w, arch, optimal) = ExactMlp();
        // A directory: one native file per layer named by its layer key, and one Timeloop file named by the layer.
        // Timeloop's format holds one spatial factor per rank and level, and the optimum the search picks among
        // ties may split a rank over both axes. The Timeloop file holds a tie that keeps every rank on one axis,
        // found as map --format timeloop finds it (OneAxisTie), which must cost the same.
        var dir = Dir("exact");
        var (tlLayer, unconstrained) = optimal[1];
        var tie = OneAxisTie.Find(new MapProblem(tlLayer, arch, Objective.Energy), unconstrained, p => new TilingSearch(p, prune: true).Solve(SearchLimits.None));
        Assert.IsNotNull(tie.Mapping, tie.How);
        double optimum = CostModel.Evaluate(tlLayer, arch, unconstrained).Energy;
        Assert.AreEqual(optimum, CostModel.Evaluate(tlLayer, arch, tie.Mapping).Energy, 1e-9 * optimum, "the one-axis tie must cost what the optimum costs");
        var tlMapping = tie.Mapping;
        File.WriteAllText(Path.Combine(dir, "first.yaml"), MappingSpec.Write(optimal[0].Mapping, optimal[0].Layer, arch));
        File.WriteAllText(Path.Combine(dir, $"{tlLayer.Name}.yaml"), TimeloopMapping.Write(tlMapping, tlLayer, arch));
        File.WriteAllText(Path.Combine(dir, "third.yaml"), MappingSpec.Write(optimal[2].Mapping, optimal[2].Layer, arch));
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "not a mapping: only *.yaml, *.yml and *.json files are read");
        // One mapping set file holding all three.
        var set = Path.Combine(_dir, "exact-set.yaml");
        File.WriteAllText(set, MappingSetSpec.Write(optimal, arch, "the exact mapper's mappings of mlp on simple-ws"));

        foreach (var given in new[] { dir, set })
        {
            var csv = Path.Combine(_dir, "roundtrip.csv");
            var (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", given, "--csv", csv);
            Assert.AreEqual(0, code, err + output);
            StringAssert.Contains(output, $"Regression of the mappings in {given}");
            var rows = CsvRows(csv);
            Assert.AreEqual(w.Layers.Count, rows.Count);
            foreach (var row in rows)
            {
                Assert.AreEqual("OPTIMAL", row[2], row[0]);
                Assert.AreEqual(0.0, double.Parse(row[6], CultureInfo.InvariantCulture), 1e-9, $"{row[0]}: the exact mapper's own mapping has gap 0");
                Assert.AreEqual(double.Parse(row[3], CultureInfo.InvariantCulture), double.Parse(row[5], CultureInfo.InvariantCulture), 1e-6 * double.Parse(row[3], CultureInfo.InvariantCulture));
            }
            StringAssert.Contains(output, "Gap: mean 0%");
            Assert.IsFalse(output.Contains("Skipped"), output);
        }
    }

    [TestMethod]
    public void RegressBaselineFailsOnAWorsenedMappingFile()
    {
        var (_, arch, optimal) = ExactMlp();
        var good = Path.Combine(_dir, "good.yaml");
        File.WriteAllText(good, MappingSetSpec.Write(optimal, arch));
        var baseline = Path.Combine(_dir, "baseline.csv");
        var (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", good, "--csv", baseline);
        Assert.AreEqual(0, code, err + output);
        (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", good, "--baseline", baseline);
        Assert.AreEqual(0, code, err + output);
        StringAssert.Contains(output, "No layer's gap grew");

        // The injected regression: fc2 with every loop at DRAM and nothing kept below it (valid, much worse).
        var fc2 = optimal[1].Layer;
        var worst = new Mapping(arch.Levels.Select((level, l) => new LevelMapping(
            l == 0 ? fc2.Ranks.Where(r => r.Bound > 1).Select(r => new TemporalLoop(r.Id, r.Bound)) : [], [],
            l == 0 ? fc2.Tensors.Select(t => t.Id) : [])));
        var worse = optimal.Select(o => o.Layer == fc2 ? (o.Layer, worst) : o).ToList();
        var bad = Path.Combine(_dir, "worse.yaml");
        File.WriteAllText(bad, MappingSetSpec.Write(worse, arch));
        (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", bad, "--baseline", baseline);
        Assert.AreEqual(1, code, err + output);
        StringAssert.Contains(output, "REGRESSION fc2");
        Assert.IsFalse(output.Contains("REGRESSION fc1"), output);
    }

    [TestMethod]
    public void RegressFileProblemsAreLocatedErrorsAndMissingLayersAreSkipped()
    {
        var (_, arch, optimal) = ExactMlp();

        // A mapping that breaks a rule: the file, the layer and the rule are named; exit code 2, no stack trace.
        var dir = Dir("invalid");
        File.WriteAllText(Path.Combine(dir, "fc1.yaml"), MappingSpec.Write(optimal[0].Mapping, optimal[0].Layer, arch));
        var fc2 = optimal[1].Layer;
        var overflowing = new Mapping(arch.Levels.Select((level, l) => new LevelMapping(
            l == 1 ? fc2.Ranks.Where(r => r.Bound > 1).Select(r => new TemporalLoop(r.Id, r.Bound)) : [], [],
            l == 2 ? [] : fc2.Tensors.Select(t => t.Id))));
        var badFile = Path.Combine(dir, "fc2.yaml");
        File.WriteAllText(badFile, MappingSpec.Write(overflowing, fc2, arch));
        var (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", dir);
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(err, badFile);
        StringAssert.Contains(err, "layer fc2");
        StringAssert.Contains(err, "Capacity");
        StringAssert.Contains(err, "GlobalBuffer");
        Assert.IsFalse(err.Contains("   at "), "no stack trace");
        Assert.IsFalse(output.Contains("gap"), "nothing runs before the mappings are checked");

        // A layer the workload does not have, in a mapping set: located at its line, with a suggestion.
        var set = Path.Combine(_dir, "typo.yaml");
        File.WriteAllText(set, MappingSetSpec.Write(optimal, arch).Replace("layer: fc3", "layer: fc33"));
        (code, _, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", set);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, $"{set}:");
        StringAssert.Contains(err, "no layer 'fc33'");
        StringAssert.Contains(err, "did you mean fc3");

        // The same layer twice in a mapping set.
        File.WriteAllText(set, MappingSetSpec.Write(optimal.Append(optimal[0]), arch));
        (code, _, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", set);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "layer fc1 has a mapping already");

        // Neither descent, random nor a path.
        (code, _, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", Path.Combine(_dir, "no-such-dir"));
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--heuristic must be descent, random, or an existing file or directory");

        // Layers with no mapping are skipped and listed; the others are compared.
        File.WriteAllText(set, MappingSetSpec.Write(optimal.Take(2), arch));
        (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--heuristic", set);
        Assert.AreEqual(0, code, err + output);
        StringAssert.Contains(output, "Skipped 1 layer shape(s) with no mapping given: fc3");
        StringAssert.Contains(output, "fc1: gap 0%");
    }
}
