using System.Text;
using System.Text.Json;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using static Optimizer.Tests.CommandLine;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>
/// The Timeloop convention (docs/cost-model.md, "The Timeloop convention") against Timeloop v3.0.3's own
/// outputs (Fixtures/timeloop: 120 random mappings), a hand-worked case of rule A, and the CLI option.
/// </summary>
[TestClass]
public sealed class TimeloopConventionTests
{
    private static string FixtureDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "timeloop");

    /// <summary>One fixture case read through the project's Timeloop readers.</summary>
    internal sealed record Case(string Id, Einsum Layer, Architecture Arch, Mapping Mapping, JsonElement Results);

    internal static IReadOnlyList<Case> LoadCases()
    {
        var archs = new Dictionary<string, Architecture>();
        var layers = new Dictionary<string, Einsum>();
        var cases = new List<Case>();
        foreach (var line in File.ReadLines(Path.Combine(FixtureDir, "cases.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var root = JsonDocument.Parse(line).RootElement;
            string archName = root.GetProperty("arch").GetString()!, problem = root.GetProperty("problem").GetString()!;
            if (!archs.TryGetValue(archName, out var arch))
            {
                var archPath = Path.Combine(FixtureDir, $"arch_{archName}.yaml");
                var ert = EnergyTable.Load(Path.Combine(FixtureDir, $"ert_{archName}.yaml"));
                archs[archName] = arch = TimeloopArchitecture.Parse(File.ReadAllText(archPath), archPath, ert);
            }
            if (!layers.TryGetValue(problem, out var layer))
                layers[problem] = layer = TimeloopProblem.Load(Path.Combine(FixtureDir, $"prob_{problem}.yaml")).Layers.Single();
            var yaml = root.GetProperty("mapping_yaml").GetString()!;
            var mapping = TimeloopMapping.Parse(yaml, "map.yaml", layer, arch);
            cases.Add(new Case(root.GetProperty("id").GetString()!, layer, arch, mapping, root.GetProperty("results").Clone()));
        }
        return cases;
    }

    /// <summary>Every difference between our evaluation of a case and Timeloop's, one line each (empty when equal).</summary>
    internal static List<string> Differences(Case c, CostReport r)
    {
        var diffs = new List<string>();
        var res = c.Results;
        long cycles = res.GetProperty("cycles").GetInt64();
        if (r.Cycles != cycles) diffs.Add($"{c.Id}: cycles {r.Cycles} vs Timeloop {cycles}");
        double energy = res.GetProperty("energy_pJ").GetDouble();
        if (Math.Abs(r.Energy - energy) > 1e-9 * Math.Abs(energy)) diffs.Add($"{c.Id}: energy {r.Energy:R} vs Timeloop {energy:R}");
        foreach (var level in res.GetProperty("levels").EnumerateArray())
        {
            string name = level.GetProperty("name").GetString()!;
            int l = c.Arch.IndexOf(name);
            foreach (var ds in level.GetProperty("dataspaces").EnumerateObject())
            {
                var tensor = c.Layer.Tensors.Single(t => t.Id.Name == ds.Name);
                var v = ds.Value;
                var ours = r.Tensors.SingleOrDefault(x => x.LevelIndex == l && x.Tensor == tensor.Id);
                var traffic = r.Fanouts.SingleOrDefault(x => x.LevelIndex == l && x.Tensor == tensor.Id);
                void Check(string what, long mine, string key)
                {
                    long theirs = v.GetProperty(key).GetInt64();
                    if (mine != theirs) diffs.Add($"{c.Id}: {name} {ds.Name} {what} {mine} vs Timeloop {theirs}");
                }
                Check("reads", ours?.Reads ?? 0, "reads");
                Check("fills", ours?.Fills ?? 0, "fills");
                Check("updates", ours?.Updates ?? 0, "updates");
                Check("tile", ours?.TileWords ?? 0, "tile_words");
                Check("link transfers", traffic?.LinkTransfers ?? 0, "link_transfers");
                Check("spatial reductions", traffic?.SpatialReductions ?? 0, "spatial_reductions");
                if (ours is not null) Check("utilized instances", ours.InstancesUsed, "utilized_instances");
            }
        }
        return diffs;
    }

    [TestMethod]
    public void EveryFixtureCaseEqualsTimeloop()
    {
        var cases = LoadCases();
        Assert.HasCount(120, cases);
        var diffs = new List<string>();
        int equal = 0;
        foreach (var c in cases)
        {
            var d = Differences(c, TimeloopConvention.Evaluate(c.Layer, c.Arch, c.Mapping));
            if (d.Count == 0) equal++;
            diffs.AddRange(d);
        }
        Assert.IsEmpty(diffs, $"{equal} of {cases.Count} cases equal Timeloop; differences:\n{string.Join("\n", diffs)}");
    }

    // The reader keeps the order of a spatial permutation within an axis: it says which rank varies fastest from one
    // child to the next, so which children are neighbours. Every fixture case whose permutation lays two or more
    // ranks along X comes back in the file's order, is written back with the same permutation, and (where the order
    // changes Timeloop's counts) the other order would not equal Timeloop.
    [TestMethod]
    public void SpatialOrderWithinAnAxisIsReadAndWrittenAsTimeloopHasIt()
    {
        int several = 0, orderMatters = 0;
        foreach (var c in LoadCases())
        {
            int fanoutLevel = c.Mapping.Levels.ToList().FindIndex(lm => lm.Spatial.Count(s => s.Axis == Axis.X) >= 2);
            if (fanoutLevel < 0) continue;
            several++;
            var x = c.Mapping.Levels[fanoutLevel].Spatial.Where(s => s.Axis == Axis.X).Select(s => s.Rank.Name).ToList();
            // The written permutation starts with the X ranks innermost first, the reverse of the mapping's list.
            var written = TimeloopMapping.Write(c.Mapping, c.Layer, c.Arch);
            var perm = written.Split('\n').SkipWhile(l => !l.Contains("type: spatial")).First(l => l.Contains("permutation:")).Split(':')[1].Trim();
            Assert.StartsWith(string.Concat(Enumerable.Reverse(x)), perm.Replace(" ", ""), c.Id);
            var back = TimeloopMapping.Parse(written, "map.yaml", c.Layer, c.Arch);
            CollectionAssert.AreEqual(c.Mapping.Levels[fanoutLevel].Spatial.ToList(), back.Levels[fanoutLevel].Spatial.ToList(), c.Id);
            // The same loops in the reversed order along X.
            var lm = c.Mapping.Levels[fanoutLevel];
            var swapped = lm.Spatial.Where(s => s.Axis == Axis.X).Reverse().Concat(lm.Spatial.Where(s => s.Axis != Axis.X)).ToList();
            var other = new Mapping(c.Mapping.Levels.Select((m, l) => l == fanoutLevel ? new LevelMapping(m.Temporal, swapped, m.Keep) : m));
            if (Differences(c, TimeloopConvention.Evaluate(c.Layer, c.Arch, other)).Count > 0) orderMatters++;
        }
        Assert.IsGreaterThanOrEqualTo(5, several, "fixture cases with two or more ranks along X");
        Assert.IsGreaterThanOrEqualTo(1, orderMatters, "cases where the order along X changes Timeloop's counts");
    }

    // Rule A by hand (docs/cost-model.md, "The Timeloop convention"). 1-D convolution R=3, P=16, C=4, K=4; the
    // buffer keeps only Inputs, with for P in 4, R in 3, C in 4 inside it: its input tile is C=4 x (4+3-1)=6 = 24
    // words. Above it DRAM runs for P in 4 { for K in 4 }. The K loop does not move the input tile.
    private static readonly Einsum RuleAConv = Layers.Conv1d("conv", c: 4, k: 4, p: 16, r: 3);

    [TestMethod]
    public void RuleAFetchesTheWholeTileAfterTheTileStoodStill()
    {
        var arch = TwoLevel();
        var pOuter = M(L("P=4 K=4"), L("P=4 R=3 C=4", keep: "Inputs"));
        // Default model: 24 words first, then each of the 3 P steps slides the window by 4 of its 6 columns:
        // 4 x 4 = 16 new words per step: 24 + 3 x 16 = 72 (the K steps fetch nothing).
        Assert.AreEqual(72, Row(CostModel.Evaluate(RuleAConv, arch, pOuter), "Buffer", "Inputs").Fills);
        // Timeloop: sampled sequence (rule B) (p0,k0), (p0,k1) x3, (p1,k0) x3, (p1,k1) x9. (p0,k1) stands still: the
        // translation becomes 0. (p1,k0) moves by 4: not the translation 0, so the stride changed and the whole 24 words
        // are fetched (translation reset); (p1,k1) stands still again. 24 + 0 + 3 x 24 + 0 = 96 = 4 P positions x 24.
        var tl = TimeloopConvention.Evaluate(RuleAConv, arch, pOuter);
        Assert.AreEqual(96, Row(tl, "Buffer", "Inputs").Fills);
        Assert.AreEqual(96, Row(tl, "DRAM", "Inputs").Reads);
        Assert.AreEqual(24, Row(tl, "Buffer", "Inputs").TileWords);
        // With for K in 4 { for P in 4 } every K step moves the tile back (a new translation): both give
        // 4 x (24 + 3 x 16) = 288.
        var kOuter = M(L("K=4 P=4"), L("P=4 R=3 C=4", keep: "Inputs"));
        Assert.AreEqual(288, Row(CostModel.Evaluate(RuleAConv, arch, kOuter), "Buffer", "Inputs").Fills);
        Assert.AreEqual(288, Row(TimeloopConvention.Evaluate(RuleAConv, arch, kOuter), "Buffer", "Inputs").Fills);
    }

    // simulate --convention timeloop: the rule A case above, executed; the run equals the default model (exit 0) and
    // its two input counts are listed against Timeloop's 96.
    [TestMethod]
    public void SimulateConventionTimeloopShowsTimeloopBesideTheRun()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tl-simulate-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var workload = Path.Combine(dir, "w.yaml");
            var mapping = Path.Combine(dir, "m.yaml");
            System.IO.File.WriteAllText(workload, "workload:\n  name: rule-a\n  layers:\n    - name: conv\n      conv1d: {k: 4, c: 4, p: 16, r: 3}\n      tensors: {inputs: Inputs, weights: Weights, outputs: Outputs}\n");
            System.IO.File.WriteAllText(mapping, "mapping:\n  layer: conv\n  levels:\n    - level: DRAM\n      temporal: \"P=4 K=4\"\n    - level: Buffer\n      temporal: \"P=4 R=3 C=4\"\n      keep: [Inputs]\n");
            string[] common = ["simulate", "--arch", Example("two-level-arch.yaml"), "--workload", workload, "--mapping", mapping];
            var (code, output, err) = Run([.. common, "--convention", "timeloop"]);
            Assert.AreEqual(0, code, err + output);
            StringAssert.Contains(output, "Buffer Inputs fills: timeloop 96, simulated 72");
            StringAssert.Contains(output, "DRAM Inputs reads: timeloop 96, simulated 72");
            StringAssert.Contains(output, "Agreement    every count equals the default model's");
            (code, output, err) = Run(common);
            Assert.AreEqual(0, code, err + output);
            Assert.DoesNotContain("timeloop 96", output);
            (code, _, err) = Run([.. common, "--convention", "timeloop", "--imperfect"]);
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "--imperfect is counted by the default model only");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestMethod]
    public void RefusesInvalidMappings()
    {
        var bad = M(L("P=4"), L("P=4 R=3 C=4", keep: "Inputs"));
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => TimeloopConvention.Evaluate(RuleAConv, TwoLevel(), bad));
        StringAssert.Contains(e.Message, "valid mappings only");
    }

    [TestMethod]
    public void EvaluateConventionTimeloopPrintsTimeloopCountsWithLinkTransfers()
    {
        // R3L8x1/conv1d_R5_P12_C3_K6/003: the register files forward input words to their neighbours (522 link transfers).
        var c = File.ReadLines(Path.Combine(FixtureDir, "cases.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(r => r.GetProperty("id").GetString() == "R3L8x1/conv1d_R5_P12_C3_K6/003");
        var mapping = Path.Combine(Path.GetTempPath(), $"tl-convention-{Environment.ProcessId}.yaml");
        System.IO.File.WriteAllText(mapping, c.GetProperty("mapping_yaml").GetString());
        try
        {
            string[] common = ["evaluate", "--arch", Path.Combine(FixtureDir, "arch_R3L8x1.yaml"), "--energy", Path.Combine(FixtureDir, "ert_R3L8x1.yaml"),
                "--workload", Path.Combine(FixtureDir, "prob_conv1d_R5_P12_C3_K6.yaml"), "--mapping", mapping];
            var (code, output, err) = Run([.. common, "--style", "timeloop", "--convention", "timeloop"]);
            Assert.AreEqual(0, code, err);
            StringAssert.Contains(output, "Convention: timeloop");
            StringAssert.Contains(output, "Link transfers");
            StringAssert.Contains(output, "522");
            StringAssert.Contains(output, "801"); // the register files' input reads, peer reads included
            // The default model on the same architecture: the Timeloop reader gives its fanout Timeloop's forwarding along
            // both axes, so the register files forward too, by the native rule (no sampling, no multicast of equal words).
            (code, output, err) = Run([.. common, "--style", "timeloop"]);
            Assert.AreEqual(0, code, err);
            StringAssert.Contains(output, "Link transfers                  : 432");
            (code, _, err) = Run([.. common, "--convention", "timelop"]);
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "--convention: Unknown convention 'timelop'; the choices: default, timeloop.");
            (code, _, err) = Run([.. common, "--convention", "timeloop", "--explain"]);
            Assert.AreEqual(2, code);
            StringAssert.Contains(err, "--explain");
        }
        finally { System.IO.File.Delete(mapping); }
    }

    /// <summary>conv2_1_b of ResNet-50 on eyeriss with DRAM's loops P 2, Q 2, C 16 and the weights scratchpad's K 64 (issue 14, tl14h).</summary>
    private static Mapping Conv21b(Einsum layer, Architecture arch, string globalBuffer) => MappingSpec.Parse($$"""
        mapping:
          layer: conv2_1_b
          levels:
            - { level: DRAM, temporal: "P=2 Q=2 C=16", keep: [conv2_1_b_w, conv2_1_a_out, conv2_1_b_out] }
            - { level: GlobalBuffer, {{globalBuffer}}, keep: [conv2_1_a_out, conv2_1_b_out] }
            - { level: WeightsSpad, temporal: "K=64", keep: [conv2_1_b_w] }
            - { level: InputsSpad, keep: [conv2_1_a_out] }
            - { level: PsumSpad, keep: [] }
        """, "conv2_1_b.yaml", layer, arch);

    /// <summary>A ResNet-50 layer on eyeriss under the Timeloop convention, and a mapping's energy there (null when it is not valid or Timeloop's format cannot say it): what the seeding's climbs value.</summary>
    private static (Architecture Arch, Einsum Layer, Optimizer.Solvers.MapProblem Problem, Func<Mapping, double?> Value) OnEyeriss(string name)
    {
        var arch = Presets.Get("eyeriss");
        var layer = Zoo.Get("resnet50").Layers.Single(l => l.Name == name);
        return (arch, layer, new Optimizer.Solvers.MapProblem(layer, arch, Objective.Energy, Convention: CostConvention.Timeloop),
            m => ValidityChecker.Check(layer, arch, m).Count > 0 || TimeloopMapping.Inexpressible(m, arch) is not null ? null : TimeloopConvention.Evaluate(layer, arch, m).Energy);
    }

    [TestMethod]
    public void ClimbUnderTheConventionMovesSpatialOrdersAxesAndExchanges()
    {
        // The seed's climb under the Timeloop convention (TilingSearch seeding): Timeloop's counts depend on the order of the
        // spatial loops along an axis (neighbour forwarding), and a full fanout trades one spatial factor for another only by
        // an exchange. Both starts below end at the hand-built 5.08455E+08 (tl14h), which no single-factor move improves.
        var (arch, layer, p, Value) = OnEyeriss("conv2_1_b");
        var target = Conv21b(layer, arch, "temporal: \"P=14 Q=14\", spatial: \"P=2@X Q=2@X S=3@X R=3@Y C=4@Y\"");
        Assert.AreEqual(5.08455e8, Value(target)!.Value, 0.0005e8);
        // The same loops with C outside R along Y: 5.08471E+08 (as with the spatial loops in rank-name order, how the drafts
        // used to write them).
        var swapped = Conv21b(layer, arch, "temporal: \"P=14 Q=14\", spatial: \"P=2@X Q=2@X S=3@X C=4@Y R=3@Y\"");
        // P 4 along X where the target has P 2 and Q 2: 5.09057E+08.
        var fourP = Conv21b(layer, arch, "temporal: \"P=7 Q=28\", spatial: \"C=4@Y R=3@Y S=3@X P=4@X\"");
        foreach (var start in new[] { swapped, fourP })
        {
            Assert.IsTrue(Value(start) > Value(target) * (1 + 1e-5));
            var (climbed, value) = Optimizer.Solvers.LocalSearch.Improve(p, start, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None);
            Assert.AreEqual(Value(climbed)!.Value, value, 1e-9 * value);
            Assert.IsTrue(value <= Value(target)!.Value * (1 + 1e-9), $"climbed to {value:G6}");
        }
        // The order swap and the axis moves are among the moves: the target is one move from `swapped`; R onto X is another.
        string Order(Mapping m) => string.Join(" ", m.Levels[1].Spatial.Select(s => $"{s.Rank.Name}{s.Factor}{s.Axis}"));
        var moves = Optimizer.Solvers.MappingDraft.From(swapped, ordered: true).SpatialMoves(1).Select(d => Order(d.ToMapping())).ToList();
        CollectionAssert.Contains(moves, Order(target));
        CollectionAssert.Contains(moves, "P2X Q2X S3X C4Y R3X");
        // The default model's drafts still write the spatial loops sorted by rank name; ordered drafts keep the mapping's order.
        Assert.AreEqual("C P Q R S", string.Join(" ", Optimizer.Solvers.MappingDraft.From(target).ToMapping().Levels[1].Spatial.Select(s => s.Rank.Name)));
        Assert.AreEqual("P Q S R C", string.Join(" ", Optimizer.Solvers.MappingDraft.From(target, ordered: true).ToMapping().Levels[1].Spatial.Select(s => s.Rank.Name)));
    }

    /// <summary>conv3_1_b of ResNet-50 on eyeriss with the given DRAM and global buffer loops and the weights scratchpad's K 128.</summary>
    private static Mapping Conv31b(Einsum layer, Architecture arch, string dram, string globalBuffer) => MappingSpec.Parse($$"""
        mapping:
          layer: conv3_1_b
          levels:
            - { level: DRAM, temporal: "{{dram}}", keep: [conv3_1_b_w, conv3_1_a_out, conv3_1_b_out] }
            - { level: GlobalBuffer, {{globalBuffer}} }
            - { level: WeightsSpad, temporal: "K=128", keep: [conv3_1_b_w] }
            - { level: InputsSpad, keep: [conv3_1_a_out] }
            - { level: PsumSpad, keep: [] }
        """, "conv3_1_b.yaml", layer, arch);

    [TestMethod]
    public void ClimbTakesAnotherMappingsSpatialPlanWithABypass()
    {
        // conv3_1_b under the Timeloop convention (issue 14): the seed's climb ended at 5.99131E+08 (R 3, S 3 along X, C 8
        // along Y; the global buffer keeping inputs and outputs), no single move improving it. 5.91325E+08 (tl14j) has the
        // plan P 2, Q 2, S 3 along X, C 4, R 3 along Y with the inputs bypassing the global buffer: several factors and a
        // keep set apart. Given a donor with that plan (a poor mapping otherwise), the climb re-splits the global buffer's
        // loops into it, bypasses the inputs and climbs on to it.
        var (arch, layer, p, Value) = OnEyeriss("conv3_1_b");
        var start = Conv31b(layer, arch, "P=2 Q=2 C=16", "temporal: \"P=14 Q=14\", spatial: \"R=3@X S=3@X C=8@Y\", keep: [conv3_1_a_out, conv3_1_b_out]");
        var target = Conv31b(layer, arch, "P=2 C=32", "temporal: \"P=7 Q=14\", spatial: \"P=2@X Q=2@X S=3@X C=4@Y R=3@Y\", keep: [conv3_1_b_out]");
        var donor = Conv31b(layer, arch, "P=7 Q=7 C=32", "temporal: \"P=2 Q=2\", spatial: \"P=2@X Q=2@X S=3@X C=4@Y R=3@Y\", keep: [conv3_1_a_out, conv3_1_b_out]");
        Assert.AreEqual(5.99131e8, Value(start)!.Value, 0.00001e8);
        Assert.AreEqual(5.91325e8, Value(target)!.Value, 0.00001e8);
        Assert.IsTrue(Value(donor) > Value(start));
        var (_, alone) = Optimizer.Solvers.LocalSearch.Improve(p, start, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None);
        Assert.AreEqual(Value(start)!.Value, alone, 1e-9 * alone, "without the donor's plan the start is a local minimum");
        var (climbed, value) = Optimizer.Solvers.LocalSearch.Improve(p, start, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None, [donor]);
        Assert.AreEqual(Value(climbed)!.Value, value, 1e-9 * value);
        Assert.IsTrue(value <= Value(target)!.Value * (1 + 1e-9), $"climbed to {value:G6}");
    }

    [TestMethod]
    public void SeedingClimbStopsAfterItsMovesWhateverTheClock()
    {
        // The seeding's climbs stop after a fixed number of mappings valued (TilingSearch.ClimbMoves), not after 2 s of a
        // clock that a loaded machine eats (issue 14, tl14r: conv2_1_b's climb from 5.14034E+08 to 5.08455E+08 took 2.3 s of
        // wall at load 20 and used to be cut short). The deadline here is an hour away: only the moves stop the climb.
        var (arch, layer, p, energy) = OnEyeriss("conv2_1_b");
        int valued = 0;
        double? Value(Mapping m)
        {
            valued++;
            return energy(m);
        }
        var target = Conv21b(layer, arch, "temporal: \"P=14 Q=14\", spatial: \"P=2@X Q=2@X S=3@X R=3@Y C=4@Y\"");
        var fourP = Conv21b(layer, arch, "temporal: \"P=7 Q=28\", spatial: \"C=4@Y R=3@Y S=3@X P=4@X\"");
        string Key(Mapping m) => string.Join(" | ", m.Levels.Select(l => $"{string.Join(" ", l.Temporal.Select(t => $"{t.Rank.Name}{t.Factor}"))}"
            + $" / {string.Join(" ", l.Spatial.Select(s => $"{s.Rank.Name}{s.Factor}{s.Axis}"))} / {string.Join(" ", l.Keep.Select(k => k.Name).Order())}"));
        // A few moves: the climb values the start and at most that many more mappings (each distinct one once), and ends at the
        // same mapping every time.
        var ends = new List<string>();
        foreach (int run in new[] { 0, 1 })
        {
            valued = 0;
            var (m, v) = Optimizer.Solvers.LocalSearch.Improve(p, fourP, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None, [target], moves: 40);
            Assert.IsTrue(valued <= 41, $"{valued} mappings valued: more than the start and the 40 moves");
            Assert.IsTrue(v <= Value(fourP), "a climb never ends above its start");
            ends.Add($"{Key(m)} = {v:R}");
        }
        Assert.AreEqual(ends[0], ends[1]);
        // The seeding's moves at a 30-s limit (8,000) take the climb from P 4 along X to the hand-built 5.08455E+08 and no further:
        // it stops at a local minimum, so the moves are not what ends it.
        int moves = Optimizer.Solvers.TilingSearch.ClimbMoves(new Optimizer.Solvers.SearchLimits(TimeSpan.FromSeconds(30)));
        Assert.AreEqual(8000, moves);
        valued = 0;
        var (_, climbed) = Optimizer.Solvers.LocalSearch.Improve(p, fourP, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None, moves: moves);
        Assert.IsTrue(climbed <= 5.08455e8 * (1 + 1e-6), $"climbed to {climbed:G6}");
        Assert.IsTrue(valued < moves, $"{valued} mappings valued");
    }

    [TestMethod]
    public void DonorsNeverMakeTheClimbWorse()
    {
        // A donor's plan is taken only when the climb from it ends lower (LocalSearch's kicks): from random starts, with random
        // valid mappings as donors, the climb with donors ends at or below the climb without them under the same moves, and
        // both at or below the start (the seeding's climbs, TilingSearch.SeedIncumbent and ClimbIntoPlans).
        var (arch, layer, p, Value) = OnEyeriss("conv2_1_b");
        var space = new Mapspace(layer, arch);
        var rng = new Random(14);
        var drawn = new List<Mapping>();
        while (drawn.Count < 12)
            if (space.TrySampleValid(rng, 2000, out var m) && Value(m) is not null) drawn.Add(m);
        int better = 0;
        for (int i = 0; i < 6; i++)
        {
            var start = drawn[i];
            var (_, alone) = Optimizer.Solvers.LocalSearch.Improve(p, start, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None, moves: 4000);
            var (withDonors, value) = Optimizer.Solvers.LocalSearch.Improve(p, start, Value, DateTime.UtcNow.AddHours(1), CancellationToken.None, drawn.Skip(6).ToList(), moves: 4000);
            Assert.AreEqual(Value(withDonors)!.Value, value, 1e-9 * value);
            Assert.IsTrue(alone <= Value(start)!.Value * (1 + 1e-12));
            Assert.IsTrue(value <= alone * (1 + 1e-12), $"start {i}: {value:G6} with donors, {alone:G6} without");
            if (value < alone * (1 - 1e-9)) better++;
        }
        Assert.IsTrue(better > 0, "no donor's plan helped: the test no longer reaches the kicks");
    }

    [TestMethod]
    public void FittedOneAxisVariantsStayValidAndExpressible()
    {
        // C split over both axes (4 along X beside S 3, 2 along Y beside R 3), as the descent's mappings often are: on one axis
        // its 8 no longer fit beside the 3 (14 x 12), so a 2 of it goes to the global buffer's temporal loops, as C 2.
        var arch = Presets.Get("eyeriss");
        var layer = Zoo.Get("resnet50").Layers.Single(l => l.Name == "conv2_1_b");
        var split = MappingSpec.Parse("""
            mapping:
              layer: conv2_1_b
              levels:
                - { level: DRAM, temporal: "P=4 Q=4 C=8", keep: [conv2_1_b_w, conv2_1_a_out, conv2_1_b_out] }
                - { level: GlobalBuffer, temporal: "P=14 Q=14", spatial: "S=3@X C=4@X R=3@Y C=2@Y", keep: [conv2_1_a_out, conv2_1_b_out] }
                - { level: WeightsSpad, temporal: "K=64", keep: [conv2_1_b_w] }
                - { level: InputsSpad, keep: [conv2_1_a_out] }
                - { level: PsumSpad, keep: [] }
            """, "split.yaml", layer, arch);
        Assert.AreEqual(0, ValidityChecker.Check(layer, arch, split).Count);
        Assert.IsNotNull(TimeloopMapping.Inexpressible(split, arch));
        var fitted = Optimizer.Solvers.OneAxisTie.Fitted(layer, arch, split).ToList();
        Assert.AreEqual(2, fitted.Count);
        var c = layer.Ranks.Single(r => r.Id.Name == "C").Id;
        foreach (var m in fitted)
        {
            Assert.AreEqual(0, ValidityChecker.Check(layer, arch, m).Count, MappingSpec.Write(m, layer, arch));
            Assert.IsNull(TimeloopMapping.Inexpressible(m, arch));
            var gb = m.Levels[1];
            Assert.AreEqual(4, gb.Spatial.Single(s => s.Rank == c).Factor);
            Assert.AreEqual(2, gb.Temporal.Single(t => t.Rank == c).Factor);
        }
        CollectionAssert.AreEquivalent(new[] { Axis.X, Axis.Y }, fitted.Select(m => m.Levels[1].Spatial.Single(s => s.Rank == c).Axis).ToArray());
    }
}
