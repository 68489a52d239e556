using Microsoft.VisualStudio.TestTools.UnitTesting;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Tests;

[TestClass]
public class SpecTests
{
    private static SpecException Fails(Action parse)
    {
        try
        {
            parse();
        }
        catch (SpecException e)
        {
            return e;
        }
        Assert.Fail("Expected a SpecException.");
        throw new InvalidOperationException();
    }

    private static SpecError OneError(Action parse)
    {
        var e = Fails(parse);
        Assert.AreEqual(1, e.Errors.Count, e.Message);
        return e.Errors[0];
    }

    private static void AssertAt(SpecError error, int line, string key, string messagePart)
    {
        Assert.AreEqual(line, error.Line, error.ToString());
        Assert.AreEqual(key, error.Key, error.ToString());
        StringAssert.Contains(error.Message, messagePart, error.ToString());
    }

    private static SpecError WorkloadError(string yaml) => OneError(() => WorkloadSpec.Parse(yaml, "w.yaml"));
    private static SpecError ArchError(string yaml) => OneError(() => ArchitectureSpec.Parse(yaml, "a.yaml"));

    private static void AssertSameEinsum(Einsum a, Einsum b)
    {
        Assert.AreEqual(a.Name, b.Name);
        Assert.AreEqual(a.Kind, b.Kind);
        CollectionAssert.AreEqual(a.Ranks.Select(r => r.ToString()).ToList(), b.Ranks.Select(r => r.ToString()).ToList());
        CollectionAssert.AreEqual(a.Tensors.Select(t => $"{t.Role} {t}").ToList(), b.Tensors.Select(t => $"{t.Role} {t}").ToList());
    }

    private static void AssertSameWorkload(Workload a, Workload b)
    {
        Assert.AreEqual(a.Name, b.Name);
        Assert.AreEqual(a.Description, b.Description);
        Assert.AreEqual(a.Layers.Count, b.Layers.Count);
        for (int i = 0; i < a.Layers.Count; i++) AssertSameEinsum(a.Layers[i], b.Layers[i]);
    }

    private static Workload SampleWorkload()
    {
        var conv = Layers.Conv2d("conv1", 1, 3, 64, 56, 56, 7, 7, stride: 2, dilation: 1, outputs: "X1");
        var depthwise = Layers.Conv2d("dw", 1, 1, 1, 28, 28, 3, 3, stride: 2, dilation: 2, groups: 64, inputs: "X1", outputs: "X2");
        var odd = new Einsum("odd", "custom", [new Rank(new RankId("P"), 8), new Rank(new RankId("R"), 3), new Rank(new RankId("k_2"), 4)],
        [
            new TensorSpec(new TensorId("X2"), TensorRole.Inputs, [new AffineExpr([new AffineTerm(new RankId("P"), 3), new AffineTerm(new RankId("R"), -1)])]),
            new TensorSpec(new TensorId("W"), TensorRole.Weights, [AffineExpr.Of(new RankId("k_2")), AffineExpr.Of(new RankId("R"))]),
            new TensorSpec(new TensorId("X3"), TensorRole.Outputs, [AffineExpr.Of(new RankId("k_2")), AffineExpr.Of(new RankId("P"))]),
        ]);
        var softmax = Layers.Elementwise("softmax", [("k_2", 4), ("P", 8)], "X3", "X4", "softmax");
        var fc = Layers.Gemm("fc", 1, 1000, 32, a: "X4", z: "Y");
        var bmm = Layers.BatchedMatmul("bmm", 2, 3, 4, 5);
        return new Workload("sample-net", "A net with \"quotes\", colons: and # signs.", [conv, depthwise, odd, softmax, fc, bmm]);
    }

    private static Architecture SampleArchitecture() => new("toy", "Three levels: DRAM, a buffer, registers.",
    [
        new StorageLevel("DRAM", null, 16, 200, 210.5, readBandwidth: 16, writeBandwidth: 8),
        new StorageLevel("GlobalBuffer", 65536, 16, 6.25, 6.5, keeps: [TensorRole.Inputs, TensorRole.Outputs],
            fanout: new Fanout(14, 12, multicast: true, spatialReduction: false, hopEnergy: 2, topology: Topology.Mesh)),
        new StorageLevel("RF", 16, 8, 0.5, 0.5, readBandwidth: 2.5, keeps: [TensorRole.Weights]),
    ], new ComputeUnit(1.25, 2), clockGHz: 0.2);

    private static void AssertSameArchitecture(Architecture a, Architecture b)
    {
        Assert.AreEqual(a.Name, b.Name);
        Assert.AreEqual(a.Description, b.Description);
        Assert.AreEqual(a.ClockGHz, b.ClockGHz);
        Assert.AreEqual(a.Compute, b.Compute);
        Assert.AreEqual(a.Levels.Count, b.Levels.Count);
        for (int i = 0; i < a.Levels.Count; i++)
        {
            StorageLevel x = a.Levels[i], y = b.Levels[i];
            Assert.AreEqual(x.Name, y.Name);
            Assert.AreEqual(x.Capacity, y.Capacity);
            Assert.AreEqual(x.WordBits, y.WordBits);
            Assert.AreEqual(x.ReadEnergy, y.ReadEnergy);
            Assert.AreEqual(x.WriteEnergy, y.WriteEnergy);
            Assert.AreEqual(x.ReadBandwidth, y.ReadBandwidth);
            Assert.AreEqual(x.WriteBandwidth, y.WriteBandwidth);
            Assert.IsTrue(x.Keeps.SetEquals(y.Keeps), x.Name);
            Assert.AreEqual(x.Fanout, y.Fanout);
        }
    }

    private static void AssertSameMapping(Mapping a, Mapping b)
    {
        Assert.AreEqual(a.Levels.Count, b.Levels.Count);
        for (int i = 0; i < a.Levels.Count; i++)
        {
            CollectionAssert.AreEqual(a.Levels[i].Temporal.ToList(), b.Levels[i].Temporal.ToList());
            CollectionAssert.AreEqual(a.Levels[i].Spatial.ToList(), b.Levels[i].Spatial.ToList());
            CollectionAssert.AreEqual(a.Levels[i].Keep.ToList(), b.Levels[i].Keep.ToList());
        }
    }

    // ---- workloads ----

    [TestMethod]
    public void WorkloadRoundTrip()
    {
        var w = SampleWorkload();
        var text = WorkloadSpec.Write(w);
        AssertSameWorkload(w, WorkloadSpec.Parse(text, "w.yaml"));
        Assert.AreEqual(text, WorkloadSpec.Write(WorkloadSpec.Parse(text, "w.yaml")));
    }

    [TestMethod]
    public void WorkloadShorthandsMatchTheBuilders()
    {
        var w = WorkloadSpec.Parse("""
            workload:
              name: net
              layers:
                - name: conv1
                  conv2d: {n: 1, c: 3, k: 64, p: 112, q: 112, r: 7, s: 7, stride: 2, dilation: 1, groups: 1}
                  tensors: {inputs: X0, weights: W1, outputs: X1}
                - name: c1
                  conv1d: {c: 4, k: 8, p: 16, r: 3, stride: 2}
                  tensors: {inputs: X1}
                - name: fc
                  gemm: {m: 1, n: 1000, k: 2048}
                - name: bmm
                  batched-matmul: {batch: 2, m: 3, n: 4, k: 5}
                  tensors: {inputs: Q, weights: K, outputs: QK}
                - name: act
                  elementwise: {ranks: {M: 4, N: 5}, kind: relu}
                  tensors: {inputs: QK, outputs: R}
            """, "w.yaml");
        AssertSameWorkload(new Workload("net", "",
        [
            Layers.Conv2d("conv1", 1, 3, 64, 112, 112, 7, 7, 2, 1, 1, "X0", "W1", "X1"),
            Layers.Conv1d("c1", 4, 8, 16, 3, 2, inputs: "X1"),
            Layers.Gemm("fc", 1, 1000, 2048),
            Layers.BatchedMatmul("bmm", 2, 3, 4, 5, "Q", "K", "QK"),
            Layers.Elementwise("act", [("M", 4), ("N", 5)], "QK", "R", "relu"),
        ]), w);
    }

    [TestMethod]
    public void WorkloadGeneralFormParsesAffineIndices()
    {
        var w = WorkloadSpec.Parse("""
            workload:
              name: custom
              layers:
                - name: custom
                  ranks: {p: 8, r: 3, K: 4}
                  tensors:
                    - {name: A, role: Inputs, index: ["p*2 + r*1"]}
                    - {name: B, role: weights, index: [K, "2*r - p"]}
                    - {name: Z, role: outputs, index: [K, p]}
            """, "w.yaml");
        var e = w.Layers[0];
        Assert.AreEqual("einsum", e.Kind);
        CollectionAssert.AreEqual(new[] { "A[p*2 + r]", "B[K, r*2 + p*-1]", "Z[K, p]" }, e.Tensors.Select(t => t.ToString()).ToList());
    }

    [TestMethod]
    public void UnknownRankInIndexIsLocated()
    {
        var error = WorkloadError("""
            workload:
              name: net
              layers:
                - name: custom
                  ranks: {M: 64, N: 32, K: 16}
                  tensors:
                    - {name: A, role: inputs, index: [M, k]}
                    - {name: B, role: weights, index: [K, N]}
                    - {name: Z, role: outputs, index: [M, N]}
            """);
        AssertAt(error, 7, "layers[0].tensors[0].index[1]", "unknown rank 'k'");
        StringAssert.Contains(error.Message, "did you mean 'K'?");
        StringAssert.StartsWith(error.ToString(), "w.yaml:7:");
    }

    [TestMethod]
    public void NonPositiveBoundIsLocated()
    {
        var error = WorkloadError("""
            workload:
              name: net
              layers:
                - name: fc
                  gemm: {m: 1, n: 10, k: 4}
                - name: custom
                  ranks:
                    M: 64
                    K: -3
                  tensors:
                    - {name: A, role: inputs, index: [M, K]}
                    - {name: Z, role: outputs, index: [M]}
            """);
        AssertAt(error, 9, "layers[1].ranks.K", "must be a positive integer, got -3");
        Assert.AreEqual("w.yaml:9:12: layers[1].ranks.K: must be a positive integer, got -3", error.ToString());
        var zero = WorkloadError("""
            workload:
              name: net
              layers:
                - {name: fc, gemm: {m: 1, n: 10, k: 0}}
            """);
        AssertAt(zero, 4, "layers[0].gemm.k", "positive integer, got 0");
    }

    [TestMethod]
    public void TwoOutputsAreLocated()
    {
        var error = WorkloadError("""
            workload:
              name: net
              layers:
                - name: custom
                  ranks: {M: 64, K: 16}
                  tensors:
                    - {name: A, role: inputs, index: [M, K]}
                    - {name: Z, role: outputs, index: [M]}
                    - {name: Y, role: outputs, index: [M]}
            """);
        AssertAt(error, 9, "layers[0].tensors[2]", "exactly one output");
    }

    [TestMethod]
    public void DuplicateLayerAndTensorNamesAreLocated()
    {
        var e = Fails(() => WorkloadSpec.Parse("""
            workload:
              name: net
              layers:
                - name: fc
                  gemm: {m: 1, n: 10, k: 4}
                - name: fc
                  ranks: {M: 64, K: 16}
                  tensors:
                    - {name: A, role: inputs, index: [M, K]}
                    - {name: A, role: weights, index: [K]}
                    - {name: Z, role: outputs, index: [M]}
            """, "w.yaml"));
        Assert.AreEqual(2, e.Errors.Count, e.Message);
        AssertAt(e.Errors[0], 6, "layers[1].name", "layer name 'fc' is already used by the layer at line 4");
        AssertAt(e.Errors[1], 10, "layers[1].tensors[1].name", "tensor name 'A' is already used in this layer at line 9");
    }

    [TestMethod]
    public void CycleNamesTheLayers()
    {
        var error = WorkloadError("""
            workload:
              name: net
              layers:
                - {name: first, gemm: {m: 4, n: 4, k: 4}, tensors: {inputs: T3, outputs: T1}}
                - {name: second, gemm: {m: 4, n: 4, k: 4}, tensors: {inputs: T1, outputs: T2}}
                - {name: third, gemm: {m: 4, n: 4, k: 4}, tensors: {inputs: T2, outputs: T3}}
            """);
        AssertAt(error, 4, "layers", "cycle");
        StringAssert.Contains(error.Message, "first -> second -> third -> first");
    }

    [TestMethod]
    public void UnknownKeysAndWrongTypesAreLocated()
    {
        var e = Fails(() => WorkloadSpec.Parse("""
            workload:
              name: net
              layrs: []
              layers:
                - name: fc
                  gemm: {m: 1, n: many, k: 4, strid: 2}
            """, "w.yaml"));
        Assert.AreEqual(3, e.Errors.Count, e.Message);
        AssertAt(e.Errors[0], 3, "layrs", "did you mean 'layers'?");
        AssertAt(e.Errors[1], 6, "layers[0].gemm.strid", "unknown key 'strid'");
        AssertAt(e.Errors[2], 6, "layers[0].gemm.n", "must be a positive integer, got 'many'");
        var list = WorkloadError("""
            workload:
              name: net
              layers: {fc: 1}
            """);
        AssertAt(list, 3, "layers", "must be a list");
    }

    [TestMethod]
    public void ThreeMistakesGiveThreeErrors()
    {
        var e = Fails(() => WorkloadSpec.Parse("""
            workload:
              name: net
              layers:
                - name: a
                  gemm: {m: -1, n: 10, k: 4}
                - name: b
                  ranks: {M: 4}
                  tensors:
                    - {name: A, role: input, index: [M]}
                    - {name: Z, role: outputs, index: [Q]}
            """, "w.yaml"));
        Assert.AreEqual(3, e.Errors.Count, e.Message);
        CollectionAssert.AreEqual(new[] { 5, 9, 10 }, e.Errors.Select(x => x.Line).ToList());
        CollectionAssert.AreEqual(new[] { "layers[0].gemm.m", "layers[1].tensors[0].role", "layers[1].tensors[1].index[0]" }, e.Errors.Select(x => x.Key).ToList());
        Assert.AreEqual(3, e.Message.Split(Environment.NewLine).Length);
    }

    [TestMethod]
    public void MalformedYamlGivesOneLocatedError()
    {
        var error = WorkloadError("""
            workload:
              name: net
              layers:
                - name: fc
                  gemm: {m: 1, n: 10, k: 4
                - name: other
            """);
        Assert.IsTrue(error.Line >= 5, error.ToString());
        StringAssert.Contains(error.Message, "malformed YAML");
        Assert.IsFalse(error.Message.Contains("   at "), error.Message);
        var indent = OneError(() => ArchitectureSpec.Parse("architecture:\n  name: x\n    levels: 1\n", "a.yaml"));
        Assert.AreEqual(3, indent.Line, indent.ToString());
        StringAssert.StartsWith(indent.Message, "malformed YAML: ");
        Assert.IsFalse(indent.Message.Contains("(Line:"), indent.Message);
    }

    [TestMethod]
    public void JsonInputWorks()
    {
        var w = WorkloadSpec.Parse("""
            {"workload": {"name": "net", "layers": [
              {"name": "fc", "gemm": {"m": 2, "n": 10, "k": 4}},
              {"name": "custom", "ranks": {"M": 2, "N": 10}, "tensors": [
                {"name": "Z", "role": "inputs", "index": ["M", "N"]},
                {"name": "Y", "role": "outputs", "index": ["M", "N"]}]}]}}
            """, "w.json");
        Assert.AreEqual(2, w.Layers.Count);
        Assert.AreEqual(1, w.Edges.Count);
        var bad = OneError(() => ArchitectureSpec.Parse("""
            {"architecture": {"name": "x", "compute": {"mac-energy": 1},
             "levels": [{"name": "DRAM", "read-energy": -1, "write-energy": 1}]}}
            """, "a.json"));
        AssertAt(bad, 2, "levels[0].read-energy", "at least 0, got -1");
    }

    // ---- architectures ----

    [TestMethod]
    public void ArchitectureRoundTrip()
    {
        var a = SampleArchitecture();
        var text = ArchitectureSpec.Write(a);
        AssertSameArchitecture(a, ArchitectureSpec.Parse(text, "a.yaml"));
        Assert.AreEqual(text, ArchitectureSpec.Write(ArchitectureSpec.Parse(text, "a.yaml")));
    }

    [TestMethod]
    public void ArchitectureDefaultsAndCapacityInBytes()
    {
        var a = ArchitectureSpec.Parse("""
            architecture:
              name: small
              compute: {mac-energy: 0.5}
              levels:
                - {name: DRAM, read-energy: 100, write-energy: 100}
                - {name: SRAM, word-bits: 8, read-energy: 1, write-energy: 1, capacity-bytes: 1024, keeps: [Weights]}
            """, "a.yaml");
        Assert.AreEqual("", a.Description);
        Assert.IsNull(a.ClockGHz);
        Assert.AreEqual(1, a.Compute.MacsPerCycle);
        Assert.AreEqual(16, a.Levels[0].WordBits);
        Assert.IsNull(a.Levels[0].Capacity);
        Assert.AreEqual(3, a.Levels[0].Keeps.Count);
        Assert.AreEqual(Fanout.None, a.Levels[0].Fanout);
        Assert.AreEqual(1024L, a.Levels[1].Capacity);
        Assert.IsTrue(a.Levels[1].Keeps.SetEquals([TensorRole.Weights]));
    }

    [TestMethod]
    public void ArchitectureMistakesAreLocated()
    {
        var e = Fails(() => ArchitectureSpec.Parse("""
            architecture:
              name: bad
              compute: {mac-energy: 1.0}
              levels:
                - name: DRAM
                  read-energy: 200
                  write-energy: 200
                  keeps: [inputs, weights]
                - name: Buf
                  word-bits: 16
                  read-energy: 1
                  write-energy: 1
                  capacity-bytes: 3
                  fanout: {x: 0, y: 2, topology: ring}
                - name: Buf
                  read-energy: 1
                  write-energy: 1
                  capacty: 4
            """, "a.yaml"));
        Assert.AreEqual(6, e.Errors.Count, e.Message);
        AssertAt(e.Errors[0], 8, "levels[0].keeps", "outermost level must keep every role");
        AssertAt(e.Errors[1], 13, "levels[1].capacity-bytes", "not a whole number of 16-bit words");
        AssertAt(e.Errors[2], 14, "levels[1].fanout.x", "positive integer, got 0");
        AssertAt(e.Errors[3], 14, "levels[1].fanout.topology", "unknown topology 'ring'");
        AssertAt(e.Errors[4], 18, "levels[2].capacty", "did you mean 'capacity'?");
        AssertAt(e.Errors[5], 15, "levels[2].name", "level name 'Buf' is already used");
    }

    [TestMethod]
    public void ArchitectureMissingKeysAreLocated()
    {
        var error = ArchError("""
            architecture:
              name: bad
              compute: {mac-energy: 1.0}
              levels:
                - name: DRAM
                  read-energy: 200
            """);
        AssertAt(error, 5, "levels[0].write-energy", "required");
    }

    // ---- mappings ----

    private static Einsum Conv => Layers.Conv1d("conv", 32, 32, 16, 3);

    private static Mapping SampleMapping() => new(
    [
        new LevelMapping([new TemporalLoop(new RankId("K"), 2), new TemporalLoop(new RankId("C"), 4)], [], [new TensorId("Inputs"), new TensorId("Weights"), new TensorId("Outputs")]),
        new LevelMapping([new TemporalLoop(new RankId("P"), 4)], [new SpatialLoop(new RankId("K"), 8, Axis.X), new SpatialLoop(new RankId("C"), 8, Axis.Y)], [new TensorId("Inputs"), new TensorId("Outputs")]),
        new LevelMapping([new TemporalLoop(new RankId("R"), 3), new TemporalLoop(new RankId("K"), 2), new TemporalLoop(new RankId("P"), 4)], [], []),
    ]);

    [TestMethod]
    public void MappingRoundTrip()
    {
        var m = SampleMapping();
        var text = MappingSpec.Write(m, Conv, SampleArchitecture(), "conv3_2_b");
        AssertSameMapping(m, MappingSpec.Parse(text, "m.yaml", Conv, SampleArchitecture()));
        Assert.AreEqual("conv3_2_b", MappingSpec.LayerOf(text, "m.yaml"));
        StringAssert.Contains(text, "spatial: \"K=8@X C=8@Y\"");
    }

    [TestMethod]
    public void MappingListFormsRolesBypassAndDefaults()
    {
        var m = MappingSpec.Parse("""
            mapping:
              levels:
                - level: DRAM
                  temporal: [{rank: K, factor: 2}, {rank: C, factor: 4}]
                - level: GlobalBuffer
                  temporal: "P=4"
                  spatial: [{rank: K, factor: 8, axis: x}, {rank: C, factor: 8, axis: Y}]
                  keep: [inputs, OUTPUTS]
                - level: RF
                  temporal: R=3 K=2 P=4
                  bypass: [Weights]
            """, "m.yaml", Conv, SampleArchitecture());
        AssertSameMapping(SampleMapping(), m);
        var omitted = MappingSpec.Parse("mapping:\n  levels:\n    - level: GlobalBuffer\n      bypass: [outputs]\n", "m.yaml", Conv, SampleArchitecture());
        CollectionAssert.AreEqual(new[] { "Inputs", "Outputs", "Weights" }, omitted.Levels[0].Keep.Select(t => t.Name).ToList());
        CollectionAssert.AreEqual(new[] { "Inputs" }, omitted.Levels[1].Keep.Select(t => t.Name).ToList());
        CollectionAssert.AreEqual(new[] { "Weights" }, omitted.Levels[2].Keep.Select(t => t.Name).ToList());
        Assert.AreEqual(0, omitted.Levels[2].Temporal.Count);
    }

    [TestMethod]
    public void MappingMistakesAreLocated()
    {
        var e = Fails(() => MappingSpec.Parse("""
            mapping:
              levels:
                - level: GlobalBuffer
                  temporal: "K=2 Q=4 C=0"
                  spatial: "K=8@Z P=2"
                - level: DRAM
                  keep: [Inputs, Psums]
                  bypass: [Weights]
                - level: GlobalBufer
                - level: GlobalBuffer
            """, "m.yaml", Conv, SampleArchitecture()));
        Assert.AreEqual(8, e.Errors.Count, e.Message);
        AssertAt(e.Errors[0], 4, "levels[0].temporal", "unknown rank 'Q'; layer conv has ranks K, C, P, R");
        Assert.AreEqual(22, e.Errors[0].Column);
        AssertAt(e.Errors[1], 4, "levels[0].temporal", "a loop factor must be a positive integer, got '0'");
        AssertAt(e.Errors[2], 5, "levels[0].spatial", "unknown axis 'Z'");
        AssertAt(e.Errors[3], 5, "levels[0].spatial", "'P=2' is not a loop");
        AssertAt(e.Errors[4], 6, "levels[1].level", "comes after GlobalBuffer");
        AssertAt(e.Errors[5], 8, "levels[1].bypass", "not both");
        AssertAt(e.Errors[6], 9, "levels[2].level", "did you mean 'GlobalBuffer'?");
        AssertAt(e.Errors[7], 10, "levels[3].level", "listed twice (first at line 3)");
        var tensor = OneError(() => MappingSpec.Parse("mapping:\n  levels:\n    - level: RF\n      keep: [Psums]\n", "m.yaml", Conv, SampleArchitecture()));
        AssertAt(tensor, 4, "levels[0].keep[0]", "unknown tensor or role 'Psums'");
    }

    [TestMethod]
    public void MappingLoaderLeavesSemanticRulesToTheChecker()
    {
        var m = MappingSpec.Parse("mapping:\n  levels:\n    - level: RF\n      temporal: K=3\n      keep: [Inputs]\n", "m.yaml", Conv, SampleArchitecture());
        var rules = ValidityChecker.Check(Conv, SampleArchitecture(), m).Select(v => v.Rule).ToHashSet();
        Assert.IsTrue(rules.Contains(Rule.FactorProduct));
        Assert.IsTrue(rules.Contains(Rule.KeepRole));
    }

    // ---- examples ----

    private static string Example(string name) => RepoFile(Path.Combine("examples", name));

    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, relative);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}.");
    }

    [TestMethod]
    public void TheFormatDocsExamplesParse()
    {
        var doc = File.ReadAllText(RepoFile(Path.Combine("docs", "spec-format.md")));
        var blocks = System.Text.RegularExpressions.Regex.Matches(doc, "```yaml\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value).ToList();
        Assert.AreEqual(6, blocks.Count);
        var workload = WorkloadSpec.Parse(blocks[0], "doc-workload");
        var arch = ArchitectureSpec.Parse(blocks[1], "doc-architecture");
        Assert.AreEqual(55296L, arch.Levels[1].Capacity);
        var mapping = MappingSpec.Parse(blocks[2], "doc-mapping", workload.Layer("conv1"), arch);
        Assert.AreEqual(3, mapping.Levels[0].Temporal.Count);
        var set = MappingSetSpec.Parse(blocks[3], "doc-mapping-set", workload, arch);
        Assert.AreEqual("conv1 fc", string.Join(" ", set.Select(e => e.Layer.Name)));
        Assert.AreEqual(2, set[0].Mapping.Levels[1].Temporal.Count);
        var constraints = ConstraintSpec.Parse(blocks[4], "doc-constraints", workload.Layer("conv1"), arch);
        var glb = constraints.For(arch.IndexOf("GlobalBuffer"));
        Assert.AreEqual(8, glb.Temporal[new RankId("C")]);
        Assert.AreEqual(16, glb.Spatial[(new RankId("K"), Axis.X)]);
        Assert.AreEqual("K C P", string.Join(" ", glb.Order!));
        Assert.AreEqual("MinUtilization TileMultiple MinFanoutUsed MinFanoutUsed MaxCount MaxCount BandwidthWithinCompute",
            string.Join(" ", constraints.Global.Select(g => g.GetType().Name)));
        var space = Optimizer.Hardware.Specs.DesignSpaceSpec.Parse(blocks[5], "doc-design-space");
        Assert.AreEqual(3 * 3 * 2 * 2, space.Count);
        Assert.AreEqual(5, space.Budgets.Count);
    }

    [TestMethod]
    public void ExampleSpecsLoadAndTheMappingIsValid()
    {
        var workload = WorkloadSpec.Load(Example("conv1d-workload.yaml"));
        var arch = ArchitectureSpec.Load(Example("two-level-arch.yaml"));
        var mappingPath = Example("conv1d-mapping.yaml");
        var layer = workload.Layer(MappingSpec.LayerOf(File.ReadAllText(mappingPath), mappingPath)!);
        Assert.AreEqual("K=32 C=32 P=16 R=3", string.Join(" ", layer.Ranks));
        Assert.AreEqual(64L, arch.Levels[1].Capacity);
        Assert.AreEqual(1L, arch.ComputeInstances);
        var mapping = MappingSpec.Load(mappingPath, layer, arch);
        var violations = ValidityChecker.Check(layer, arch, mapping);
        Assert.AreEqual(0, violations.Count, string.Join("\n", violations));
    }
}
