using System.Diagnostics;
using Optimizer.Cli;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;

namespace Optimizer.Tests;

/// <summary>
/// Sharded co-design (issue 19, docs/codesign.md, "Shards"): <c>codesign --shard i/N</c> partitions the space, and
/// <c>optimizer merge</c> of the N shard files gives the single run's answer (best point, status and value; the Pareto
/// front), in process and with the shards run as separate processes; shards of different runs, missing, duplicate or
/// damaged shard files are refused with located messages (exit 2).
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class CodesignShardTests
{
    private static readonly string SpacePath = CommandLine.Example("codesign-simple-ws.yaml");
    private static readonly string WorkloadPath = CommandLine.Example("codesign-small-workload.yaml");
    private static string _dir = "";

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "optimizer-shard-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static string[] Codesign(params string[] extra) => ["codesign", "--space", SpacePath, "--workload", WorkloadPath, "--quiet", .. extra];

    /// <summary>Runs the N shards of a question in process; the shard files' paths.</summary>
    private static List<string> Shards(string tag, int n, params string[] question)
    {
        var files = new List<string>();
        for (int i = 0; i < n; i++)
        {
            var file = Path.Combine(_dir, $"{tag}-{i}-of-{n}.json");
            var r = CommandLine.Run(Codesign([.. question, "--shard", $"{i}/{n}", "--shard-out", file]));
            Assert.AreEqual(0, r.Code, r.Err + r.Out);
            StringAssert.Contains(r.Out, $"Shard {i}/{n}: ");
            Assert.IsTrue(File.Exists(file), file);
            files.Add(file);
        }
        return files;
    }

    /// <summary>The lines that must agree between a single run and a merge: the best point, its figures and per-shape table, or the front; the status line.</summary>
    private static List<string> Answer(string output)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int start = lines.FindIndex(l => l.StartsWith("Best point ", StringComparison.Ordinal) || l.StartsWith("point ", StringComparison.Ordinal));
        var answer = start < 0 ? new List<string>() : lines.Skip(start).TakeWhile(l => !l.StartsWith("Exact layer searches", StringComparison.Ordinal)).ToList();
        answer.Add(lines.Last(l => l.Length > 0));
        return answer;
    }

    private static void MergeEqualsSingleRun(string tag, int n, params string[] question)
    {
        var single = CommandLine.Run(Codesign(question));
        var files = Shards(tag, n, question);
        files.Reverse(); // any order
        var merged = CommandLine.Run(["merge", .. files]);
        string what = string.Join(" ", question);
        Assert.AreEqual(single.Code, merged.Code, $"{what}\n{merged.Err}{merged.Out}");
        CollectionAssert.AreEqual(Answer(single.Out), Answer(merged.Out), $"{what}\nsingle:\n{single.Out}\nmerged:\n{merged.Out}");
        StringAssert.Contains(merged.Out, $"Merge of {n} shard(s)");
    }

    [TestMethod]
    public void MergedShardsGiveTheSingleRunsAnswerForEveryObjective()
    {
        foreach (var objective in new[] { "energy", "latency", "edp", "area" })
        {
            MergeEqualsSingleRun($"min-{objective}", 3, "--objective", objective);
            var single = CommandLine.Run(Codesign("--objective", objective));
            StringAssert.StartsWith(Answer(single.Out)[^1], "OPTIMAL", objective); // the comparison is between proved answers
        }
        // Every shard count from 1 to the number of points gives the same answer.
        foreach (var n in new[] { 1, 2, 5, 16 }) MergeEqualsSingleRun($"min-n{n}", n, "--objective", "edp");
    }

    [TestMethod]
    public void MergedShardsGiveTheSingleRunsParetoFrontAndInfeasibility()
    {
        MergeEqualsSingleRun("front-energy-area", 3, "--pareto", "energy,area");
        MergeEqualsSingleRun("front-latency-sram", 3, "--pareto", "latency,sram", "--require", "area <= 0.2");
        // Budgets that leave only some shards with points: the shards without any are INFEASIBLE, the merge is the single run's.
        MergeEqualsSingleRun("some-infeasible", 3, "--require", "area <= 0.1");
        // No point anywhere: INFEASIBLE (exit 3), the same closest point named.
        MergeEqualsSingleRun("all-infeasible", 3, "--require", "area <= 0.01");
        MergeEqualsSingleRun("latency-infeasible", 3, "--require", "latency <= 10");
        // Shard 2's points all break the area budget, the others' the latency budget: the single run names latency.
        MergeEqualsSingleRun("mixed-infeasible", 3, "--require", "area <= 0.1", "--require", "latency <= 10");
    }

    [TestMethod]
    public void ShardsRunAsSeparateProcessesMergeToTheSingleRunsAnswer()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "optimizer.dll");
        Process Start(params string[] args)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add(dll);
            foreach (var a in args) start.ArgumentList.Add(a);
            return Process.Start(start)!;
        }
        var files = Enumerable.Range(0, 3).Select(i => Path.Combine(_dir, $"process-{i}.json")).ToList();
        var processes = new List<Process>();
        // The three shards run at the same time, each in its own process.
        // Every quick bound given 60 s, so that each search finishes however loaded the machine (a quick bound stopped at
        // 0.25 s under load changes the dive's path, and with it which of two mappings of equal value a point reports).
        string[] quick = ["--quick-bound-time", "60"];
        for (int i = 0; i < 3; i++) processes.Add(Start(Codesign([.. quick, "--objective", "edp", "--threads", "1", "--shard", $"{i}/3", "--shard-out", files[i]])));
        foreach (var p in processes)
        {
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            Assert.IsTrue(p.WaitForExit(TimeSpan.FromMinutes(3)), "a shard did not finish");
            Assert.AreEqual(0, p.ExitCode, error.Result + output.Result);
            p.Dispose();
        }
        using var merge = Start(["merge", .. files]);
        var mergedOut = merge.StandardOutput.ReadToEnd();
        merge.WaitForExit();
        Assert.AreEqual(0, merge.ExitCode, merge.StandardError.ReadToEnd() + mergedOut);
        var single = CommandLine.Run(Codesign([.. quick, "--objective", "edp"]));
        CollectionAssert.AreEqual(Answer(single.Out), Answer(mergedOut), $"single:\n{single.Out}\nmerged:\n{mergedOut}");
        StringAssert.StartsWith(Answer(mergedOut)[^1], "OPTIMAL edp=");
        // The shard files are deterministic: the same shard run again writes the same answer (everything before the
        // counts but the number of points evaluated). The counts and the points mapped may differ: a full bound
        // repeated, or another set split first, as the searches' times go.
        var again = Path.Combine(_dir, "process-1-again.json");
        Assert.AreEqual(0, CommandLine.Run(Codesign([.. quick, "--objective", "edp", "--threads", "1", "--shard", "1/3", "--shard-out", again])).Code);
        static string WithoutCounts(string path)
        {
            var lines = File.ReadAllLines(path).ToList();
            int start = lines.FindIndex(l => l.Trim() == "\"counts\": {");
            Assert.IsTrue(start > 0, path);
            return string.Join("\n", lines.Take(start).Where(l => !l.Contains("\"points-evaluated\"", StringComparison.Ordinal)));
        }
        Assert.AreEqual(WithoutCounts(files[1]), WithoutCounts(again));
    }

    [TestMethod]
    public void TheMergeWritesTheSingleRunsMappings()
    {
        string[] question = ["--objective", "edp"];
        var singleDir = Path.Combine(_dir, "mappings-single");
        var single = CommandLine.Run(Codesign([.. question, "--mapping-out", singleDir]));
        Assert.AreEqual(0, single.Code, single.Err + single.Out);
        var files = Shards("mappings", 3, question);
        var mergedDir = Path.Combine(_dir, "mappings-merged");
        var merged = CommandLine.Run(["merge", .. files, "--mapping-out", mergedDir]);
        Assert.AreEqual(0, merged.Code, merged.Err + merged.Out);
        StringAssert.Contains(merged.Out, $"Wrote {mergedDir}/architecture.yaml and 2 layer mapping(s)");
        var names = Directory.GetFiles(singleDir).Select(Path.GetFileName).Order().ToList();
        CollectionAssert.AreEqual(names, Directory.GetFiles(mergedDir).Select(Path.GetFileName).Order().ToList());
        Assert.AreEqual(3, names.Count);
        foreach (var name in names) Assert.AreEqual(File.ReadAllText(Path.Combine(singleDir, name!)), File.ReadAllText(Path.Combine(mergedDir, name!)), name);
        // A shard file naming a file outside the folder is refused where it says so.
        var best = files.Select(f => (File: f, Text: File.ReadAllText(f))).First(f => f.Text.Contains("\"file\": \"conv.yaml\"", StringComparison.Ordinal));
        var evil = Write("evil.json", best.Text.Replace("\"file\": \"conv.yaml\"", "\"file\": \"../conv.yaml\""));
        var r = CommandLine.Run(["merge", .. files.Select(f => f == best.File ? evil : f), "--mapping-out", Path.Combine(_dir, "never")]);
        Assert.AreEqual(2, r.Code, r.Err + r.Out);
        StringAssert.Contains(r.Err, "evil.json:");
        StringAssert.Contains(r.Err, "must be a plain file name ending in .yaml, got '../conv.yaml'");
        Assert.IsFalse(Directory.Exists(Path.Combine(_dir, "never")));
    }

    [TestMethod]
    public void TheShardsPartitionEveryPointExactlyOnce()
    {
        foreach (var points in new[] { 1, 2, 3, 7, 16, 100, 257 })
            for (int n = 1; n <= Math.Min(points, 40); n++)
            {
                var seen = new int[points];
                int previousEnd = 0;
                for (int i = 0; i < n; i++)
                {
                    var (first, end) = ShardPlan.Range(i, n, points);
                    Assert.AreEqual(previousEnd, first, $"{points} points, shard {i}/{n}");
                    Assert.IsTrue(end - first is >= 1 && end - first <= (points + n - 1) / n, $"{points} points, shard {i}/{n}: {first} to {end}");
                    for (int p = first; p < end; p++) seen[p]++;
                    previousEnd = end;
                }
                Assert.IsTrue(seen.All(c => c == 1), $"{points} points in {n} shards");
            }
        Assert.ThrowsExactly<ArgumentException>(() => ShardPlan.Range(0, 17, 16));
        Assert.ThrowsExactly<ArgumentException>(() => ShardPlan.Range(3, 3, 16));
    }

    private static PointRecord Point(int point, double value, double area)
        => new(point, $"p{point}", true, new Dictionary<DesignMetric, double> { [DesignMetric.Energy] = value, [DesignMetric.Area] = area, [DesignMetric.Sram] = 1 },
            new Dictionary<Objective, IReadOnlyList<ShapeOutcome>>());

    private static ShardResult Shard(int index, CodesignStatus status, PointRecord? best, double bound, int open = 0, bool strict = false)
    {
        var (first, end) = ShardPlan.Range(index, 2, 10);
        return new ShardResult(new ShardIdentity("id", "s", "w", "q"), "space", 10, "w", [("a", 1)], DesignMetric.Energy, null, [], 10, index, 2, first, end,
            status, best, bound, strict, status == CodesignStatus.Optimal ? null : "stopped", double.PositiveInfinity, 5, open, 1, [], [], new ShardCounts(1, 0, 1, 0, 0, 5, 1));
    }

    [TestMethod]
    public void AStoppedShardKeepsTheMergeFeasibleUnlessItsBoundIsAboveTheBest()
    {
        // Shard 0 proved 10 at point 2; shard 1 stopped with the bound 12: nothing there can beat or tie 10.
        var r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 1), 10), Shard(1, CodesignStatus.Feasible, Point(7, 15, 1), 12, open: 3)]);
        Assert.AreEqual(CodesignStatus.Optimal, r.Status);
        Assert.AreEqual(2, r.Best!.Point);
        // The bound 10: a point of shard 1 could tie 10 with less area, so the merge is not proved.
        r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 1), 10), Shard(1, CodesignStatus.Feasible, Point(7, 15, 1), 10, open: 3)]);
        Assert.AreEqual(CodesignStatus.Feasible, r.Status);
        Assert.AreEqual(10, r.Bound);
        Assert.AreEqual(3, r.PointsOpen);
        // Shard 1 stopped with a lower bound of 8: the gap is (10 - 8) / 10.
        r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 1), 10), Shard(1, CodesignStatus.Unknown, null, 8, open: 5)]);
        Assert.AreEqual(CodesignStatus.Feasible, r.Status);
        Assert.AreEqual(8, r.Bound);
        Assert.AreEqual(20, r.GapPercent!.Value, 1e-9);
        StringAssert.Contains(r.Explanation, "shard 1/2: UNKNOWN");
        // The best point found in a stopped shard is reported but not proved.
        r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 1), 10), Shard(1, CodesignStatus.Feasible, Point(7, 9, 1), 6, open: 2)]);
        Assert.AreEqual((CodesignStatus.Feasible, 7, 6.0), (r.Status, r.Best!.Point, r.Bound));
        // No point known anywhere: UNKNOWN.
        r = ShardMerge.Minimize([Shard(0, CodesignStatus.Infeasible, null, double.PositiveInfinity), Shard(1, CodesignStatus.Unknown, null, 4, open: 5)]);
        Assert.AreEqual(CodesignStatus.Unknown, r.Status);
    }

    [TestMethod]
    public void AShardGivenAnotherShardsBestAsCutoffSearchesLessAndTheMergeIsUnchanged()
    {
        string[] question = ["--objective", "energy"];
        var plain = Shards("cut-plain", 3, question);
        // Shard 1 holds the optimum (point 8); shards 0 and 2 run again with its best as their cutoff.
        var cut = new List<string> { plain[0], plain[1], plain[2] };
        var searches = new Dictionary<int, (long Plain, long Cut)>();
        foreach (var i in new[] { 0, 2 })
        {
            cut[i] = Path.Combine(_dir, $"cut-{i}-of-3.json");
            var r = CommandLine.Run(Codesign([.. question, "--shard", $"{i}/3", "--shard-out", cut[i], "--bounds-from", plain[1]]));
            Assert.AreEqual(0, r.Code, r.Err + r.Out);
            StringAssert.Contains(r.Out, "cutoff: energy 73552.8 pJ, the best of shard 1/3 (point 8, ");
            StringAssert.Contains(r.Out, $"Shard {i}/3: no point of the shard {i}/3");
            var text = File.ReadAllText(cut[i]);
            StringAssert.Contains(text, "\"bound-strict\": true");
            StringAssert.Contains(text, "\"points-open\": 0");
            searches[i] = (ShardFile.Load(plain[i]).Result.Counts.Searches, ShardFile.Load(cut[i]).Result.Counts.Searches);
        }
        Assert.IsTrue(searches.Values.Sum(x => x.Cut) < searches.Values.Sum(x => x.Plain),
            $"searches with the cutoff {string.Join(", ", searches.Select(x => $"shard {x.Key}: {x.Value.Cut} against {x.Value.Plain}"))}");
        var single = CommandLine.Run(Codesign(question));
        var merged = CommandLine.Run(["merge", .. cut]);
        Assert.AreEqual(0, merged.Code, merged.Err + merged.Out);
        CollectionAssert.AreEqual(Answer(single.Out), Answer(merged.Out), $"single:\n{single.Out}\nmerged:\n{merged.Out}");
        // A cutoff file of another run or of another partition is refused where it is wrong; so is a cutoff without a shard.
        var latency = Shards("cut-latency", 3, "--objective", "latency");
        var bad = CommandLine.Run(Codesign([.. question, "--shard", "0/3", "--shard-out", Path.Combine(_dir, "never.json"), "--bounds-from", latency[1]]));
        Assert.AreEqual(2, bad.Code, bad.Err + bad.Out);
        StringAssert.Contains(bad.Err, $"{latency[1]}:4:17: identity: --bounds-from: shard 1/3 is not of this run (the question differs)");
        bad = CommandLine.Run(Codesign([.. question, "--shard", "0/2", "--shard-out", Path.Combine(_dir, "never.json"), "--bounds-from", plain[1]]));
        Assert.AreEqual(2, bad.Code, bad.Err + bad.Out);
        StringAssert.Contains(bad.Err, "--bounds-from: shard 1/3 is one of 3 shards, this one of 2");
        bad = CommandLine.Run(Codesign([.. question, "--bounds-from", plain[1]]));
        Assert.AreEqual(2, bad.Code, bad.Err + bad.Out);
        StringAssert.Contains(bad.Err, "--bounds-from gives a shard of a minimization");
        Assert.IsFalse(File.Exists(Path.Combine(_dir, "never.json")));
    }

    [TestMethod]
    public void AStrictBoundSettlesAShardOnlyWhenTheBestIsAtOrBelowIt()
    {
        // Shard 1 proved that none of its points is at or below 10 (a cutoff): the best, 10, is proved.
        var r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 5), 10), Shard(1, CodesignStatus.Unknown, null, 10, strict: true)]);
        Assert.AreEqual(CodesignStatus.Optimal, r.Status);
        // The cutoff came from a best that the final file of its shard no longer has: points of shard 1 above 10 may beat 12.
        r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 12, 5), 12), Shard(1, CodesignStatus.Unknown, null, 10, strict: true)]);
        Assert.AreEqual((CodesignStatus.Feasible, 10.0), (r.Status, r.Bound));
    }

    [TestMethod]
    public void TiesAcrossShardsGoToTheLeastAreaThenTheLowerPoint()
    {
        var r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 2), 10), Shard(1, CodesignStatus.Optimal, Point(7, 10, 1), 10)]);
        Assert.AreEqual(7, r.Best!.Point);
        r = ShardMerge.Minimize([Shard(0, CodesignStatus.Optimal, Point(2, 10, 1), 10), Shard(1, CodesignStatus.Optimal, Point(7, 10, 1), 10)]);
        Assert.AreEqual(2, r.Best!.Point);
    }

    private static string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [TestMethod]
    public void MergingShardsOfDifferentRunsMissingDuplicateOrDamagedIsRefused()
    {
        var files = Shards("bad", 3, "--objective", "energy");
        // A shard of another space: the same file with another register file size.
        var otherSpace = Write("other-space.yaml", File.ReadAllText(SpacePath).Replace("capacity: [16, 64]", "capacity: [16, 32]"));
        var other = Path.Combine(_dir, "other-1-of-3.json");
        Assert.AreEqual(0, CommandLine.Run("codesign", "--space", otherSpace, "--workload", WorkloadPath, "--quiet", "--shard", "1/3", "--shard-out", other).Code);
        var r = CommandLine.Run("merge", files[0], other, files[2]);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, $"{other}:4:17: identity: shard 1/3 is not of the same run as {files[0]} (shard 0/3): the design space differs");
        // The same space written differently (another file, another name, a comment, the budget through --require) is the same run.
        var sameSpace = Write("same-space.yaml", "# the same points\n" + File.ReadAllText(SpacePath).Replace("name: simple-ws-16", "name: renamed").Replace("  budgets:\n    area: 1.0", ""));
        var same = Path.Combine(_dir, "same-1-of-3.json");
        r = CommandLine.Run("codesign", "--space", sameSpace, "--workload", WorkloadPath, "--quiet", "--require", "area <= 1", "--shard", "1/3", "--shard-out", same);
        Assert.AreEqual(0, r.Code, r.Err + r.Out);
        r = CommandLine.Run("merge", files[0], same, files[2]);
        Assert.AreEqual(0, r.Code, r.Err + r.Out);
        StringAssert.Contains(r.Out, "OPTIMAL energy=");
        // Another objective, other budgets: the question differs.
        var latency = Shards("bad-latency", 3, "--objective", "latency");
        r = CommandLine.Run("merge", files[0], latency[1], files[2]);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, "the question differs ('minimize latency; budgets: area <= 1' here, 'minimize energy; budgets: area <= 1' there)");
        var budget = Path.Combine(_dir, "budget-2-of-3.json");
        Assert.AreEqual(0, CommandLine.Run(Codesign("--require", "area <= 0.5", "--shard", "2/3", "--shard-out", budget)).Code);
        r = CommandLine.Run("merge", files[0], files[1], budget);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, "the question differs");
        // Another partition.
        var half = Shards("bad-half", 2, "--objective", "energy");
        r = CommandLine.Run("merge", files[0], half[1], files[2]);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, $"{half[1]}:");
        StringAssert.Contains(r.Err, "shard 1/2 is one of 2 shards, but");
        // A missing shard, a duplicate one.
        r = CommandLine.Run("merge", files[0], files[2]);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, "shard(s) 1/3 (points 5 to 9) missing: 2 file(s) given for 3 shards");
        var copy = Write("copy.json", File.ReadAllText(files[1]));
        r = CommandLine.Run("merge", files[0], files[1], copy, files[2]);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, $"shard 1/3 is given twice: {files[1]} and {copy}");
        // Damaged files: cut short, a wrong value, a point outside the shard, not a shard file, absent.
        var text = File.ReadAllText(files[1]);
        var cases = new (string Text, string Expected)[]
        {
            (text[..(text.Length / 2)], "malformed YAML"),
            (text.Replace("\"status\": \"OPTIMAL\"", "\"status\": \"MAYBE\""), "status: must be one of OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN, got 'MAYBE'"),
            (text.Replace("\"point\": 8,", "\"point\": 12,"), "point 12 is not among the shard's points 5 to 9"),
            (text.Replace("\"version\": 1", "\"version\": 2"), "version: this optimizer reads shard files of version 1, got 2"),
            ("{\"design-space\": {}}", "codesign-shard: is required but missing"),
            ("", "the file is empty; it must hold a 'codesign-shard' map"),
        };
        foreach (var (bad, expected) in cases)
        {
            var path = Write("damaged.json", bad);
            r = CommandLine.Run("merge", files[0], path, files[2]);
            Assert.AreEqual(2, r.Code, $"{expected}\n{r.Out}{r.Err}");
            StringAssert.Contains(r.Err, expected);
            StringAssert.Contains(r.Err, path);
            Assert.IsFalse(r.Err.Contains("   at ", StringComparison.Ordinal), r.Err);
        }
        r = CommandLine.Run("merge", files[0], Path.Combine(_dir, "nowhere.json"), files[2]);
        Assert.AreEqual(2, r.Code, r.Out + r.Err);
        StringAssert.Contains(r.Err, "nowhere.json");
    }

    [TestMethod]
    public void ParetoFrontsAreDrawnByCodesignAndByTheMerge()
    {
        var svg = Path.Combine(_dir, "front.svg");
        var r = CommandLine.Run(Codesign("--pareto", "energy,area", "--plot", svg));
        Assert.AreEqual(0, r.Code, r.Err + r.Out);
        var text = File.ReadAllText(svg);
        StringAssert.Contains(text, "<svg xmlns=");
        StringAssert.Contains(text, "Exact Pareto front of energy and area: codesign-small on simple-ws-16");
        StringAssert.Contains(text, "Pareto front (2 point(s))");
        var files = Shards("plot-front", 3, "--pareto", "energy,area");
        var png = Path.Combine(_dir, "merged.png");
        r = CommandLine.Run(["merge", .. files, "--plot", png]);
        Assert.AreEqual(0, r.Code, r.Err + r.Out);
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png).Take(4).ToArray());
        // A minimization has no front to draw.
        var minimize = Shards("plot-min", 2, "--objective", "energy");
        var never = Path.Combine(_dir, "never.png");
        r = CommandLine.Run(["merge", .. minimize, "--plot", never]);
        Assert.AreEqual(2, r.Code, r.Err + r.Out);
        StringAssert.Contains(r.Err, "--plot draws a Pareto front");
        r = CommandLine.Run(Codesign("--plot", never));
        Assert.AreEqual(2, r.Code, r.Err + r.Out);
        StringAssert.Contains(r.Err, "--plot draws a Pareto front: give --pareto too");
        r = CommandLine.Run(Codesign("--pareto", "energy,area", "--plot", Path.Combine(_dir, "front.txt")));
        Assert.AreEqual(2, r.Code, r.Err + r.Out);
        StringAssert.Contains(r.Err, "--plot takes a file ending in .png or .svg");
        Assert.IsFalse(File.Exists(never));
    }

    [TestMethod]
    public void BadShardOptionsAreRefused()
    {
        var file = Path.Combine(_dir, "never.json");
        foreach (var (args, expected) in new (string[], string)[]
                 {
                     (["--shard", "3/3", "--shard-out", file], "the shards of 3 are numbered 0 to 2"),
                     (["--shard", "0/17", "--shard-out", file], "the space has 16 point(s); split it into at most 16 shards"),
                     (["--shard", "one/3", "--shard-out", file], "write i/N"),
                     (["--shard", "0/0", "--shard-out", file], "write i/N"),
                     (["--shard", "0/3"], "--shard needs --shard-out FILE"),
                     (["--shard-out", file], "give --shard i/N too"),
                     (["--shard", "0/3", "--shard-out", file, "--csv", Path.Combine(_dir, "x.csv")], "give them to `optimizer merge`"),
                     (["--shard", "0/3", "--shard-out", file, "--pareto", "energy,area", "--plot", Path.Combine(_dir, "x.svg")], "give them to `optimizer merge`"),
                     (["--shard", "0/3", "--shard-out", file, "--mapping-out", Path.Combine(_dir, "x")], "give them to `optimizer merge`"),
                 })
        {
            var r = CommandLine.Run(Codesign(args));
            Assert.AreEqual(2, r.Code, $"{string.Join(" ", args)}\n{r.Out}{r.Err}");
            StringAssert.Contains(r.Err, expected);
        }
        Assert.IsFalse(File.Exists(file));
    }
}
