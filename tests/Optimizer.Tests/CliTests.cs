using Optimizer.Cli;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using static Optimizer.Tests.CommandLine;

namespace Optimizer.Tests;

/// <summary>The optimizer command end to end: outputs, exit codes and the messages bad input gets.</summary>
[TestClass]
[DoNotParallelize]
public sealed class CliTests
{
    private static string _dir = "";

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "optimizer-cli-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static string File(string name, string text)
    {
        var p = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(p, text);
        return p;
    }

    private const string Workload1d = """
        workload:
          name: w
          layers:
            - name: conv
              conv1d: {k: 4, c: 2, p: 8, r: 3}
        """;

    [TestMethod]
    public void DefaultJobPrintsLoopNestAndCosts()
    {
        var (code, output, _) = Run();
        Assert.AreEqual(0, code);
        StringAssert.Contains(output, "Mapping layer conv5_2_b of resnet50 on eyeriss, minimizing energy");
        StringAssert.Contains(output, "spatial-for");
        StringAssert.Contains(output, "pJ/MAC");
        // Either a proof or the best found with its bound; never a bare claim.
        Assert.IsTrue(output.Contains("OPTIMAL energy=") || System.Text.RegularExpressions.Regex.IsMatch(output, @"FEASIBLE best=\S+ bound=\S+ gap="), output);
    }

    [TestMethod]
    public void EvaluateWritesCsvThatMatchesTheModel()
    {
        var csv = Path.Combine(_dir, "costs.csv");
        var (code, output, err) = Run("evaluate", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"),
            "--mapping", Example("conv1d-mapping.yaml"), "--csv", csv);
        Assert.AreEqual(0, code, err);
        var lines = System.IO.File.ReadAllLines(csv);
        Assert.AreEqual("Layer,Level,Tensor,Role,TileWords,InstancesUsed,ReadsPerInstance,FillsPerInstance,UpdatesPerInstance,Reads,Fills,Updates,EnergyPj,EnergyPerMacPj,Macs,Cycles,Utilization,Edp,Source,ForwardedReads", lines[0]);
        Assert.AreEqual(1 + 6 + 1 + 1, lines.Length, "6 level-tensor rows, a MAC row and a total row");
        var arch = ArchitectureSpec.Load(Example("two-level-arch.yaml"));
        var layer = WorkloadSpec.Load(Example("conv1d-workload.yaml")).Layers[0];
        var report = CostModel.Evaluate(layer, arch, MappingSpec.Load(Example("conv1d-mapping.yaml"), layer, arch));
        var total = lines[^1].Split(',');
        Assert.AreEqual("total", total[1]);
        Assert.AreEqual(report.Energy, double.Parse(total[12], System.Globalization.CultureInfo.InvariantCulture), 1e-6);
        Assert.AreEqual(report.Cycles.ToString(), total[15]);
        StringAssert.Contains(output, "Wrote");
    }

    [TestMethod]
    public void ExplainShowsTheDerivation()
    {
        var (code, output, _) = Run("evaluate", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"),
            "--mapping", Example("conv1d-mapping.yaml"), "--explain", "Buffer:Inputs");
        Assert.AreEqual(0, code);
        StringAssert.Contains(output, "How Inputs at Buffer is counted");
        StringAssert.Contains(output, "the window slides");
        StringAssert.Contains(output, "fills = visits = 4608");
    }

    [TestMethod]
    public void MalformedYamlGivesLocatedErrorAndExitCode2()
    {
        var w = File("bad.yaml", "workload:\n  name: x\n  layers: [\n");
        var (code, _, err) = Run("evaluate", "--arch", "eyeriss", "--workload", w, "--mapping", w);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "bad.yaml:");
        Assert.IsFalse(err.Contains("   at "), "no stack trace");
    }

    [TestMethod]
    public void UnknownRankInMappingIsNamed()
    {
        var w = File("w1.yaml", Workload1d);
        var m = File("m1.yaml", "mapping:\n  levels:\n    - level: DRAM\n      temporal: \"K=4 Z=2\"\n");
        var (code, _, err) = Run("evaluate", "--arch", Example("two-level-arch.yaml"), "--workload", w, "--mapping", m);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "m1.yaml:4");
        StringAssert.Contains(err, "Z");
    }

    [TestMethod]
    public void EveryViolationIsPrintedWithExitCode1()
    {
        var w = File("w2.yaml", Workload1d);
        // K: 2 (bound 4); C: 2*2 = 4 (bound 2); the buffer keeps a 2x16 ... tile too big for 4 words.
        var arch = File("a2.yaml", """
            architecture:
              name: tiny
              compute: {mac-energy: 1}
              levels:
                - {name: DRAM, read-energy: 100, write-energy: 100}
                - {name: Buffer, read-energy: 1, write-energy: 1, capacity: 4}
            """);
        var m = File("m2.yaml", """
            mapping:
              levels:
                - level: DRAM
                  temporal: "K=2 C=2"
                - level: Buffer
                  temporal: "C=2 P=8 R=3"
            """);
        var (code, output, _) = Run("evaluate", "--arch", arch, "--workload", w, "--mapping", m);
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "INVALID: the mapping breaks 3 rule(s)");
        StringAssert.Contains(output, "[FactorProduct] Rank K: factors over all levels multiply to 2, but its bound is 4.");
        StringAssert.Contains(output, "[FactorProduct] Rank C: factors over all levels multiply to 4, but its bound is 2.");
        StringAssert.Contains(output, "[Capacity] Level Buffer");
        StringAssert.Contains(output, "but it holds 4");
    }

    [TestMethod]
    public void NonPositiveSizesAndCyclesAreRejected()
    {
        var zero = File("zero.yaml", Workload1d.Replace("k: 4", "k: 0"));
        var (code, _, err) = Run("zoo", zero);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "zero.yaml:");
        StringAssert.Contains(err, "k");

        var cycle = File("cycle.yaml", """
            workload:
              name: loop
              layers:
                - name: a
                  gemm: {m: 2, n: 2, k: 2}
                  tensors: {a: Y, b: W1, z: X}
                - name: b
                  gemm: {m: 2, n: 2, k: 2}
                  tensors: {a: X, b: W2, z: Y}
            """);
        (code, _, err) = Run("zoo", cycle);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "cycle");
    }

    [TestMethod]
    public void UnknownNamesListTheValidOnes()
    {
        var (code, _, err) = Run("evaluate", "--arch", "eyerss", "--workload", "resnet50", "--mapping", "x.yaml");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "eyeriss");
        (code, _, err) = Run("zoo", "resnet5O");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "resnet50");
        (code, _, err) = Run("evaluate", "--arch", "eyeriss", "--workload", "resnet50", "--mapping", "nope.yaml");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "--layer");
    }

    [TestMethod]
    public void ZooListsAndExportsRoundTrip()
    {
        var (code, output, _) = Run("zoo");
        Assert.AreEqual(0, code);
        foreach (var name in new[] { "resnet50", "vgg16", "mobilenetv2", "bert-base", "gpt3-6.7b", "matmul-chain", "mlp", "lstm", "eyeriss", "simple-ws", "tpu-v4i", "multinode", "multinode-4x4" })
            StringAssert.Contains(output, name);
        foreach (var preset in Presets.All)
        {
            var path = Path.Combine(_dir, preset.Name + ".yaml");
            Assert.AreEqual(0, Run("zoo", "--export", preset.Name, "--output", path).Code);
            var back = ArchitectureSpec.Load(path);
            Assert.AreEqual(ArchitectureSpec.Write(preset), ArchitectureSpec.Write(back), $"{preset.Name} reads back to the same object");
            Assert.AreEqual(preset.ComputeInstances, back.ComputeInstances);
        }
        foreach (var entry in Zoo.Entries)
        {
            var w = Zoo.Get(entry.Name);
            var back = WorkloadSpec.Parse(WorkloadSpec.Write(w), entry.Name + ".yaml");
            Assert.AreEqual(WorkloadSpec.Write(w), WorkloadSpec.Write(back));
            Assert.AreEqual(w.Macs, back.Macs);
        }
    }

    [TestMethod]
    public void MapThenEvaluateTheWrittenMappingGivesTheSameNumbers()
    {
        var w = File("w3.yaml", Workload1d);
        var mapping = Path.Combine(_dir, "best.yaml");
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--mapping-out", mapping);
        Assert.AreEqual(0, code, err);
        StringAssert.Contains(output, "OPTIMAL energy=");
        var energyLine = output.Split('\n').First(l => l.StartsWith("Energy"));
        (code, output, err) = Run("evaluate", "--arch", "simple-ws", "--workload", w, "--mapping", mapping);
        Assert.AreEqual(0, code, err);
        Assert.AreEqual(energyLine, output.Split('\n').First(l => l.StartsWith("Energy")));
    }

    [TestMethod]
    public void EveryZooLayerEvaluatesOnEveryPreset()
    {
        // The all-in-DRAM mapping (every loop at the outermost level, inner levels keep nothing) is valid
        // for any layer on any preset; evaluating it exercises the counts at every size without overflow.
        int evaluated = 0;
        foreach (var entry in Zoo.Entries)
            foreach (var layer in Zoo.Get(entry.Name).Layers)
                foreach (var arch in Presets.All)
                {
                    var levels = new List<LevelMapping> { new(layer.Ranks.Select(r => new TemporalLoop(r.Id, r.Bound)), [], layer.Tensors.Select(t => t.Id)) };
                    for (int l = 1; l < arch.Levels.Count; l++) levels.Add(new LevelMapping([], [], []));
                    var r = CostModel.Evaluate(layer, arch, new Mapping(levels));
                    Assert.AreEqual(layer.Macs, r.Macs);
                    Assert.IsTrue(r.Energy > 0 && double.IsFinite(r.Energy));
                    evaluated++;
                }
        Assert.IsTrue(evaluated > 700);
    }

    [TestMethod]
    public void ConstraintFilesAreHonouredAndOverConstraintIsExplained()
    {
        var w = File("w4.yaml", Workload1d);
        var c = File("c4.yaml", """
            constraints:
              levels:
                - level: GlobalBuffer
                  spatial-x: [K]
                  bypass: [Weights]
                - level: Registers
                  temporal: "R=3"
            """);
        var mapping = Path.Combine(_dir, "constrained.yaml");
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", c, "--mapping-out", mapping);
        Assert.AreEqual(0, code, err);
        StringAssert.Contains(output, "OPTIMAL");
        var layer = WorkloadSpec.Load(w).Layers[0];
        var arch = Presets.Get("simple-ws");
        var m = MappingSpec.Load(mapping, layer, arch);
        Assert.IsTrue(m.Levels[1].Spatial.Where(s => s.Axis == Axis.X).All(s => s.Rank.Name == "K"), "only K may be split along X");
        Assert.IsFalse(m.Levels[1].Keep.Contains(new TensorId("Weights")));
        Assert.AreEqual(3, m.Levels[2].TemporalFactor(new RankId("R")));

        var over = File("c5.yaml", """
            constraints:
              levels:
                - level: Registers
                  temporal: "K=3"
            """);
        (code, output, _) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", over);
        Assert.AreEqual(3, code);
        StringAssert.Contains(output, "INFEASIBLE: K=4 cannot be split as the constraints pin it");

        var bad = File("c6.yaml", "constraints:\n  levels:\n    - level: Registers\n      keep: [Inputs]\n");
        (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", w, "--constraints", bad);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "c6.yaml:4");
        StringAssert.Contains(err, "may not keep");
    }

    [TestMethod]
    public void CertifyAndExportSmt2AgreeAcrossSolvers()
    {
        var w = File("w7.yaml", """
            workload:
              name: tiny
              layers:
                - name: mm
                  gemm: {m: 4, n: 2, k: 3}
            """);
        var a = File("a7.yaml", """
            architecture:
              name: tarch
              compute: {mac-energy: 1.0}
              levels:
                - {name: DRAM, read-energy: 100, write-energy: 100}
                - {name: Buffer, read-energy: 2, write-energy: 2, capacity: 12}
            """);
        var smt2 = Path.Combine(_dir, "q.smt2");
        string? optimum = null;
        foreach (var solver in new[] { "exact", "brute", "z3" })
        {
            var (code, output, err) = Run("map", "--arch", a, "--workload", w, "--solver", solver, "--certify", "--export-smt2", smt2);
            Assert.AreEqual(0, code, err);
            var line = output.Split('\n').Single(l => l.StartsWith("OPTIMAL"));
            var value = line.Split(' ')[1];
            optimum ??= value;
            Assert.AreEqual(optimum, value, $"{solver} finds the same optimum");
            StringAssert.Contains(output, "CERTIFIED by Z3");
        }
        // The exported question, re-checked by the z3 binary from the operating system's packages.
        var z3 = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("z3", ["-smt2", smt2]) { RedirectStandardOutput = true })!;
        var answer = z3.StandardOutput.ReadToEnd().Trim();
        z3.WaitForExit();
        Assert.AreEqual("unsat", answer);
    }

    [TestMethod]
    public void TheConstraintExampleIsHonoured()
    {
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", Example("conv1d-workload.yaml"),
            "--constraints", Example("simple-ws-constraints.yaml"), "--time-limit", "60");
        Assert.AreEqual(0, code, err);
        StringAssert.Contains(output, "OPTIMAL");
        StringAssert.Contains(output, "spatial-for K in");
        StringAssert.Contains(output, "along X");
    }

    [TestMethod]
    public void RegressBaselineCatchesAWorsenedHeuristic()
    {
        var csv = Path.Combine(_dir, "regress.csv");
        var (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--csv", csv);
        Assert.AreEqual(0, code, err);
        StringAssert.Contains(output, "Gap: mean");
        // The same run against its own baseline passes (both mappers are deterministic).
        (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--baseline", csv);
        Assert.AreEqual(0, code, err + output);
        StringAssert.Contains(output, "No layer's gap grew");

        // A deliberately worsened heuristic: the worst of a few random draws instead of the best.
        var arch = Presets.Get("simple-ws");
        var baseline = System.IO.File.ReadAllLines(csv).Skip(1).Select(l => l.Split(','))
            .ToDictionary(f => f[0], f => double.Parse(f[6], System.Globalization.CultureInfo.InvariantCulture));
        var worse = RegressCommand.Run(Zoo.Get("mlp"), arch, [Objective.Energy], WorstOfFew, TimeSpan.FromSeconds(10));
        Assert.AreEqual(1, RegressCommand.CompareWithBaseline(worse, baseline, 0.5));
    }

    private static Optimizer.Solvers.SolveResult WorstOfFew(Optimizer.Solvers.MapProblem p)
    {
        var space = new Mapspace(p.Layer, p.Arch);
        var rng = new Random(5);
        Mapping? worst = null;
        double value = double.NegativeInfinity;
        for (int i = 0; i < 5; i++)
            if (space.TrySampleValid(rng, 2000, out var m))
            {
                var v = CostModel.Evaluate(p.Layer, p.Arch, m).Energy;
                if (v > value) { value = v; worst = m; }
            }
        return new Optimizer.Solvers.SolveResult(Optimizer.Solvers.SolveStatus.Feasible, worst, null, value, 0, TimeSpan.Zero, 5, "worst-of-few");
    }

    [TestMethod]
    public void AllLayersSearchesEachShapeOnceAndReportsEveryLayer()
    {
        var csv = Path.Combine(_dir, "layers.csv");
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", "resnet50", "--all-layers", "--solver", "descent", "--csv", csv);
        Assert.AreEqual(0, code, err);
        var rows = System.IO.File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.AreEqual(54, rows.Count, "one row per layer");
        StringAssert.Contains(output, "conv2_3_a: FEASIBLE");
        StringAssert.Contains(output, "same shape as conv2_2_a");
        // A carried answer costs the same as the one it was carried from, re-costed for its own layer.
        Assert.AreEqual(rows.Single(r => r[0] == "conv2_2_a")[2], rows.Single(r => r[0] == "conv2_3_a")[2]);
        var line = System.IO.File.ReadAllLines(csv).Single(l => l.StartsWith("conv2_3_a,"));
        StringAssert.Contains(line, "conv2_3_a_w", "the carried mapping names the layer's own tensors");
    }
}
