using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using static Optimizer.Tests.CommandLine;

namespace Optimizer.Tests;

/// <summary>
/// The defects found by hostile use (issue 16), each kept as a test: crashes, hangs, lost or destroyed files,
/// wrong answers, wrong exit codes and unclear messages. The bad inputs are files in Fixtures/hostile.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class HostileInputTests
{
    private static string _dir = "";

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "optimizer-hostile-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static string Hostile(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "hostile", name);

    private static string Temp(string name) => Path.Combine(_dir, name);

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static readonly string Arch2 = Example("two-level-arch.yaml");
    private static readonly string Conv1d = Example("conv1d-workload.yaml");
    private static readonly string Mapping1d = Example("conv1d-mapping.yaml");

    // 1. A long chain declared consumer first overflowed the stack of the recursive cycle check (exit 134).
    [TestMethod]
    public void HundredThousandLayerChainDeclaredConsumerFirstLoads()
    {
        const int n = 100_000;
        var sb = new StringBuilder("workload:\n  name: chain\n  layers:\n");
        for (int i = n - 1; i >= 0; i--)
            sb.Append($"    - {{name: l{i}, gemm: {{m: 2, n: 2, k: 2}}, tensors: {{inputs: t{i}, weights: w{i}, outputs: t{i + 1}}}}}\n");
        var w = WorkloadSpec.Parse(sb.ToString(), "chain.yaml");
        Assert.AreEqual(n, w.Layers.Count);
        Assert.AreEqual("l0", w.Layers[0].Name, "producers come first");
        Assert.AreEqual($"l{n - 1}", w.Layers[^1].Name);
        Assert.AreEqual(n - 1, w.Edges.Count);
    }

    // 1 (cycle): the iterative check still finds and names a cycle, in file order.
    [TestMethod]
    public void CycleIsNamedInFileOrder()
    {
        const string text = """
            workload:
              name: loop
              layers:
                - {name: a, gemm: {m: 2, n: 2, k: 2}, tensors: {inputs: tc, weights: wa, outputs: ta}}
                - {name: b, gemm: {m: 2, n: 2, k: 2}, tensors: {inputs: ta, weights: wb, outputs: tb}}
                - {name: c, gemm: {m: 2, n: 2, k: 2}, tensors: {inputs: tb, weights: wc, outputs: tc}}
            """;
        var e = Assert.ThrowsExactly<SpecException>(() => WorkloadSpec.Parse(text, "loop.yaml"));
        StringAssert.Contains(e.Message, "a -> b -> c -> a");
    }

    // 2. Ordering layers was quadratic; a 40,000-layer graph declared in reverse took over 100 s.
    [TestMethod]
    public void ReverseDeclaredGraphIsOrderedProducersFirst()
    {
        const int n = 40_000;
        var layers = Enumerable.Range(0, n).Reverse().Select(i => Layers.Gemm($"l{i}", 2, 2, 2, $"t{i}", $"w{i}", $"t{i + 1}")).ToList();
        var w = new Workload("reverse", "", layers);
        var position = w.Layers.Select((l, i) => (l.Name, i)).ToDictionary(x => x.Name, x => x.i);
        Assert.IsTrue(w.Edges.All(e => position[e.Producer.Name] < position[e.Consumer.Name]), "every producer before its consumer");
        Assert.AreEqual("l0", w.Layers[0].Name);
    }

    // 2. fuse on a long chain: the limit covers building the workload; a stopped search answers with a status, not a hang.
    [TestMethod]
    public void FuseOnALongChainEndsWithAStatus()
    {
        var (code, output, err) = Run("fuse", "--arch", "tpu-v4i", "--workload", "matmul-chain:20000", "--time-limit", "2");
        Assert.IsTrue(code is 0 or 3, $"exit {code}: {err}");
        Assert.IsTrue(output.Contains("FEASIBLE") || output.Contains("UNKNOWN") || output.Contains("OPTIMAL"), output);
    }

    // 3. DRAM energies of 1e308 threw IndexOutOfRange in the search; now refused before it, the input named.
    [TestMethod]
    public void HugeDramEnergiesAreRefusedWithTheInputNamed()
    {
        var (code, _, err) = Run("map", "--arch", Hostile("arch-huge-dram-energy.yaml"), "--workload", Conv1d, "--time-limit", "5");
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "DRAM read-energy");
        Assert.IsFalse(err.Contains("   at "), err);
    }

    // 4. mac-energy 1.7e308 printed "Energy Infinity pJ", wrote Infinity to the CSV and exited 0.
    [TestMethod]
    public void InfiniteEnergyIsAnErrorAndNoCsvIsWritten()
    {
        var csv = Temp("mac.csv");
        var (code, output, err) = Run("evaluate", "--arch", Hostile("arch-huge-mac-energy.yaml"), "--workload", Conv1d, "--mapping", Mapping1d, "--csv", csv);
        Assert.AreEqual(2, code, output + err);
        StringAssert.Contains(err, "mac-energy");
        Assert.IsFalse(output.Contains("Infinity"), output);
        Assert.IsFalse(File.Exists(csv), "no CSV of an overflowed cost");
    }

    // 5. map --solver z3 --objective edp gave a NotSupportedException stack trace.
    [TestMethod]
    public void Z3WithEdpIsAUsageError()
    {
        var (code, _, err) = Run("map", "--arch", Arch2, "--workload", Conv1d, "--solver", "z3", "--objective", "edp");
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "--solver z3 encodes energy only");
    }

    // 6, 7, 8. SIGTERM (as schedulers, timeout and containers send) and Ctrl-C stop a command, which prints its best
    // answer; Ctrl-C goes through the same handler (SIGINT may be ignored by a test runner's children, so SIGTERM is sent).
    [TestMethod]
    [DataRow("map --arch eyeriss --workload resnet50 --layer conv3_1_b --time-limit 120", "FEASIBLE best=", DisplayName = "map")]
    [DataRow("map --arch multinode --workload resnet50 --network --time-limit 60", "FEASIBLE energy=", DisplayName = "map --network")]
    [DataRow("fuse --arch tpu-v4i --workload gpt3-6.7b", "FEASIBLE best=", DisplayName = "fuse")]
    public void SigtermPrintsTheBestAnswerSoFar(string args, string expected)
    {
        var (code, output, err) = RunAndSignal(args.Split(' '), "Mapping|Fusing", TimeSpan.FromSeconds(1.5));
        Assert.AreEqual(0, code, output + err);
        StringAssert.Contains(output, expected);
        StringAssert.Contains(err, "SIGTERM: stopping");
        Assert.IsFalse(err.Contains("   at "), err);
    }

    // 9 is measured by `bench timelimit` (docs/benchmarks.md); here: the root bounds stop at the limit, so a
    // short limit still yields a mapping with a valid bound.
    [TestMethod]
    public void StoppedRootBoundsStayValid()
    {
        var (code, output, err) = Run("map", "--arch", "eyeriss", "--workload", "resnet50", "--layer", "conv3_1_b", "--time-limit", "0.5", "--threads", "1");
        Assert.AreEqual(0, code, err);
        var m = System.Text.RegularExpressions.Regex.Match(output, @"FEASIBLE best=(\S+) bound=(\S+) gap=");
        Assert.IsTrue(m.Success, output);
        double best = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        double bound = double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        // conv3_1_b's proven optimum on eyeriss is 5.95494E+08 pJ (docs/benchmarks.md): a valid bound is below it.
        Assert.IsTrue(bound <= 5.95494e8 && bound <= best, $"bound {bound}, best {best}");
    }

    // 10, 13. Usage errors exited 1 ("mapping invalid", "gap grew") or were accepted silently; they are exit 2.
    [TestMethod]
    [DataRow("map --arch eyeriss --workload resnet50 --bogus", "Unrecognized", DisplayName = "unknown option")]
    [DataRow("map --workload resnet50", "--arch", DisplayName = "missing --arch")]
    [DataRow("map --arch eyeriss --workload resnet50 --layer fc --objective power", "--objective", DisplayName = "unknown objective")]
    [DataRow("map --arch eyeriss --workload resnet50 --layer fc --time-limit abc", "--time-limit must be a number", DisplayName = "time limit not a number")]
    [DataRow("map --arch eyeriss --arch eyeriss --workload resnet50 --layer fc", "--arch", DisplayName = "option twice")]
    [DataRow("map --arch eyeriss --workload resnet50 --layer fc --all-layers", "contradict", DisplayName = "--layer with --all-layers")]
    [DataRow("map --arch eyeriss --workload resnet50 --layer fc --threads -1", "--threads must be between 0", DisplayName = "negative threads")]
    [DataRow("regress --arch eyeriss --workload resnet50 --tolerance -1", "--tolerance must be", DisplayName = "negative tolerance")]
    [DataRow("map --arch eyeriss --workload resnet50 --layer fc --time-limit 1e12", "is too long", DisplayName = "huge time limit")]
    [DataRow("map --arch eyeriss --workload resnet50 --layer fc --time-limit -3", "positive number of seconds", DisplayName = "negative time limit")]
    [DataRow("fuse --arch eyeriss --workload resnet50 --max-fused-loops 9", "between 0 and 4", DisplayName = "fused loops out of range")]
    [DataRow("frobnicate", "Unrecognized", DisplayName = "unknown command")]
    public void UsageErrorsExitTwo(string args, string message)
    {
        var (code, output, err) = Run(args.Split(' '));
        Assert.AreEqual(2, code, output + err);
        StringAssert.Contains(err, message);
        Assert.IsFalse(err.Contains("System.") || err.Contains("   at "), err);
    }

    // 11. An output equal to an input destroyed the input, exit 0.
    [TestMethod]
    public void OutputThatIsAnInputIsRefusedAndTheInputKept()
    {
        var mapping = Temp("v.yaml");
        File.Copy(Mapping1d, mapping, overwrite: true);
        var workload = Temp("w.yaml");
        File.Copy(Conv1d, workload, overwrite: true);
        var link = Temp("link.yaml");
        if (File.Exists(link)) File.Delete(link);
        File.CreateSymbolicLink(link, mapping);
        string before = Hash(mapping), beforeW = Hash(workload);
        string[][] cases =
        [
            ["evaluate", "--arch", Arch2, "--workload", workload, "--mapping", mapping, "--csv", mapping],
            ["evaluate", "--arch", Arch2, "--workload", workload, "--mapping", mapping, "--csv", link],
            ["map", "--arch", Arch2, "--workload", workload, "--mapping-out", workload],
        ];
        foreach (var args in cases)
        {
            var (code, _, err) = Run(args);
            Assert.AreEqual(2, code, string.Join(" ", args) + "\n" + err);
            StringAssert.Contains(err, "would destroy the input");
        }
        Assert.AreEqual(before, Hash(mapping));
        Assert.AreEqual(beforeW, Hash(workload));
        var (c2, _, e2) = Run("map", "--arch", Arch2, "--workload", workload, "--csv", Temp("o.csv"), "--mapping-out", Temp("o.csv"));
        Assert.AreEqual(2, c2, e2);
        StringAssert.Contains(e2, "--csv and --mapping-out name the same file");
        Assert.IsFalse(File.Exists(Temp("o.csv")));
    }

    // 12. K pinned along X where spatial-x allows only C was answered OPTIMAL with K along X.
    [TestMethod]
    public void ContradictorySpatialConstraintsAreInfeasible()
    {
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", Conv1d, "--constraints", Hostile("constraints-spatial-conflict.yaml"));
        Assert.AreEqual(3, code, output + err);
        StringAssert.Contains(output, "INFEASIBLE: GlobalBuffer: the constraints pin K=4 along X, but spatial-x allows only C");
        Assert.IsFalse(output.Contains("OPTIMAL"), output);
    }

    // 14. After a failed --csv, the --mapping-out file was left behind: all outputs or none.
    [TestMethod]
    public void FailedOutputLeavesNoOtherOutput()
    {
        var mappingOut = Temp("kept-or-not.yaml");
        if (File.Exists(mappingOut)) File.Delete(mappingOut);
        var badCsv = Path.Combine(_dir, "no-such-folder", "x.csv");
        var (code, _, err) = Run("map", "--arch", Arch2, "--workload", Conv1d, "--mapping-out", mappingOut, "--csv", badCsv);
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "does not exist");
        StringAssert.Contains(err, "No output was written");
        Assert.IsFalse(File.Exists(mappingOut), "the mapping written before the failed CSV is discarded");
        Assert.AreEqual(0, Directory.GetFiles(_dir, ".kept-or-not*").Length, "no temporary file left");
    }

    // 15. Messages that named nothing useful.
    [TestMethod]
    public void OverflowNamesTheLayerOrWorkload()
    {
        var (code, _, err) = Run("zoo", "vgg16:batch=2147483647");
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "Workload vgg16: the MAC count summed up to layer");
        Assert.IsFalse(err.Contains("Arithmetic operation resulted in an overflow"), err);
    }

    [TestMethod]
    public void TabIndentationIsLocatedOnItsLine()
    {
        var (code, _, err) = Run("zoo", Hostile("workload-tab-indent.yaml"));
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "workload-tab-indent.yaml:2:1: malformed YAML");
    }

    [TestMethod]
    public void FolderGivenAsFileIsNamedAsAFolder()
    {
        var (code, _, err) = Run("evaluate", "--arch", _dir, "--workload", Conv1d, "--mapping", Mapping1d);
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "is a folder");
        var (c2, _, e2) = Run("evaluate", "--arch", Arch2, "--workload", Conv1d, "--mapping", Mapping1d, "--csv", _dir);
        Assert.AreEqual(2, c2, e2);
        StringAssert.Contains(e2, "--csv");
        StringAssert.Contains(e2, "is a folder");
    }

    [TestMethod]
    public void UnwritableOutputNamesTheUsersFileNotTheTemporaryOne()
    {
        var (code, _, err) = Run("evaluate", "--arch", Arch2, "--workload", Conv1d, "--mapping", Mapping1d, "--csv", "/proc/x.csv");
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "Cannot write /proc/x.csv");
        Assert.IsFalse(err.Contains(".tmp"), err);
    }

    [TestMethod]
    public void EmptyOutputNameNamesTheOption()
    {
        var (code, _, err) = Run("evaluate", "--arch", Arch2, "--workload", Conv1d, "--mapping", Mapping1d, "--csv", "");
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "--csv needs a file name");
    }

    [TestMethod]
    public void CertificateLineHasNoParameterName()
    {
        var (_, output, _) = Run("map", "--arch", "eyeriss", "--workload", "resnet50", "--layer", "conv5_2_b", "--time-limit", "3", "--certify");
        StringAssert.Contains(output, "CERTIFICATE not available");
        Assert.IsFalse(output.Contains("(Parameter"), output);
    }

    [TestMethod]
    public void MissingLayerOfALargeWorkloadListsTheClosestNamesOnly()
    {
        var (code, _, err) = Run("map", "--arch", "tpu-v4i", "--workload", "matmul-chain:5000", "--layer", "mm4999x");
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "It has 5000 layers; the closest names: mm4999");
        Assert.IsTrue(err.Length < 600, $"one short message, not 5,000 names: {err.Length} characters");
    }

    /// <summary>Runs the optimizer as a process, sends SIGTERM once a line matching <paramref name="ready"/> was printed and <paramref name="after"/> passed.</summary>
    private static (int Code, string Out, string Err) RunAndSignal(string[] args, string ready, TimeSpan after)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "optimizer.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var output = new StringBuilder();
        var error = new StringBuilder();
        var started = new ManualResetEventSlim();
        var pattern = new System.Text.RegularExpressions.Regex(ready);
        p.OutputDataReceived += (_, e) => { if (e.Data is null) return; lock (output) output.AppendLine(e.Data); if (pattern.IsMatch(e.Data)) started.Set(); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is null) return; lock (error) error.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        Assert.IsTrue(started.Wait(TimeSpan.FromMinutes(2)), $"the command never started: {output}{error}");
        Thread.Sleep(after);
        using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.IsTrue(p.WaitForExit(TimeSpan.FromMinutes(2)), "the command did not stop after SIGTERM");
        p.WaitForExit();
        return (p.ExitCode, output.ToString(), error.ToString());
    }
}

/// <summary>The live progress a terminal shows (issue 16): what the search reports and how the line reads.</summary>
[TestClass]
public sealed class ProgressTests
{
    [TestMethod]
    public void SearchReportsItsNodesIncumbentAndBoundThroughTheProgressObject()
    {
        var layer = Zoo.Get("resnet50").Layer("conv5_2_b");
        var arch = Optimizer.Hardware.Presets.Get("simple-ws");
        var progress = new Optimizer.Solvers.SearchProgress();
        var r = new Optimizer.Solvers.TilingSearch(new Optimizer.Solvers.MapProblem(layer, arch, Optimizer.Formulation.Objective.Energy), prune: true)
            .Solve(new Optimizer.Solvers.SearchLimits(TimeSpan.FromSeconds(60), Progress: progress));
        var s = progress.Read();
        Assert.AreEqual(r.Explored, s.Nodes);
        Assert.AreEqual(r.Best, s.Best);
        StringAssert.StartsWith(s.Phase, "searching");
        if (r.Status == Optimizer.Solvers.SolveStatus.Optimal)
            Assert.AreEqual(r.Best!.Value, s.Bound, 1e-9 * r.Best.Value, "every plan finished: the bound is the incumbent");
    }

    [TestMethod]
    public void StatusLineNamesEveryFigure()
    {
        var line = Optimizer.Cli.Live.Line(new Optimizer.Solvers.SearchSnapshot("searching 12 spatial plans", 123456, 200, 150), TimeSpan.FromSeconds(2.5));
        Assert.AreEqual("searching 12 spatial plans, 123,456 nodes, best 200, bound 150, gap 25%, 2.5 s", line);
        var early = Optimizer.Cli.Live.Line(new Optimizer.Solvers.SearchSnapshot("seeding the incumbent", 0, null, 0), TimeSpan.FromSeconds(0.4));
        Assert.AreEqual("seeding the incumbent, 0.4 s", early);
    }
}
