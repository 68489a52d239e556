using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using static Optimizer.Tests.CommandLine;
using static Optimizer.Tests.TestMappings;

namespace Optimizer.Tests;

/// <summary>
/// The Timeloop formats (docs/interop.md): hand-written files load into the objects our own formats
/// describe, malformed ones give located errors, exports read back equal, and the hand-worked cases give
/// their numbers when every input is in Timeloop's format.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class TimeloopFormatTests
{
    private static string _dir = "";

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "optimizer-timeloop-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static string Save(string name, string text)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    /// <summary>An Einsum as text without its kind: name, ranks with bounds, tensors with roles and index expressions.</summary>
    private static string Describe(Einsum e)
        => $"{e.Name} ({string.Join(", ", e.Ranks)}): {string.Join("; ", e.Tensors.Select(t => $"{t.Role} {t}"))}";

    /// <summary>An architecture in the native format, with its description left out.</summary>
    private static string Describe(Architecture a)
        => ArchitectureSpec.Write(new Architecture(a.Name, "", a.Levels, a.Compute, a.ClockGHz));

    /// <summary>A native architecture as the Timeloop reader gives it: Timeloop's same-stride windows and forwarding along both axes (docs/interop.md).</summary>
    private static Architecture AsTimeloopReads(Architecture a) => WindowCapabilityTests.With(a, WindowReuse.SameStride, Forwarding.XY);

    private static SpecException Fails(Action read)
    {
        try { read(); }
        catch (SpecException e) { return e; }
        Assert.Fail("expected a SpecException");
        throw new InvalidOperationException();
    }

    // ---- problems ----

    private const string Conv1dProblem = """
        problem:
          shape:
            name: conv
            dimensions: [P, R]
            coefficients:
              - name: Stride
                default: 1
            data-spaces:
              - name: Weights
                projection:
                  - [ [R] ]
              - name: Inputs
                projection:
                  - [ [P, Stride], [R] ]
              - name: Outputs
                projection:
                  - [ [P] ]
                read-write: True
          instance:
            P: 16
            R: 3
        """;

    [TestMethod]
    public void HandWrittenProblemLoadsLikeTheNativeSpec()
    {
        var tl = TimeloopProblem.Parse(Conv1dProblem, "conv.yaml").Layers.Single();
        Assert.AreEqual(Describe(Layers.Conv1d("conv", c: 1, k: 1, p: 16, r: 3)), Describe(tl));
        var native = WorkloadSpec.Parse("""
            workload:
              name: w
              layers:
                - name: conv
                  ranks: {P: 16, R: 3}
                  tensors:
                    - {name: Weights, role: weights, index: [R]}
                    - {name: Inputs, role: inputs, index: [P + R]}
                    - {name: Outputs, role: outputs, index: [P]}
            """, "w.yaml").Layers.Single();
        Assert.AreEqual(Describe(native), Describe(tl));
        // The instance sets a coefficient: stride 2 makes the input index P*2 + R.
        var strided = TimeloopProblem.Parse(Conv1dProblem.Replace("R: 3", "R: 3\n    Stride: 2"), "s.yaml").Layers.Single();
        Assert.AreEqual(Describe(Layers.Conv1d("conv", c: 1, k: 1, p: 16, r: 3, stride: 2)), Describe(strided));
        Assert.AreEqual(2 * 15 + 2 + 1, strided.TensorWords(strided.Tensors.Single(t => t.Role == TensorRole.Inputs)));
    }

    [TestMethod]
    public void BuiltInCnnLayerMatchesTheConvolutionBuilder()
    {
        var text = """
            problem:
              shape: cnn-layer
              instance: {C: 3, K: 64, R: 7, S: 5, P: 28, Q: 14, N: 2, Wstride: 2, Hstride: 3, Wdilation: 1, Hdilation: 2}
            """;
        var tl = TimeloopProblem.Parse(text, "layer.yaml").Layers.Single();
        Assert.AreEqual(7, tl.Ranks.Count);
        Assert.AreEqual("Weights[C, K, R, S]", tl.Tensors.Single(t => t.Role == TensorRole.Weights).ToString());
        // R and P run along the width (W*), S and Q along the height (H*), as in Timeloop's built-in shape.
        Assert.AreEqual("Inputs[N, C, R + P*2, S*2 + Q*3]", tl.Tensors.Single(t => t.Role == TensorRole.Inputs).ToString());
        Assert.AreEqual("Outputs[N, K, Q, P]", tl.Output.ToString());
        Assert.AreEqual(2L * 3 * 64 * 7 * 5 * 28 * 14, tl.Macs);
        // Without a shape, Timeloop's default is the CNN layer; dimensions left out of the instance are 1.
        var defaulted = TimeloopProblem.Parse("problem:\n  instance: {R: 3, P: 8}\n", "d.yaml").Layers.Single();
        Assert.AreEqual(24, defaulted.Macs);
        Assert.AreEqual("CNN-Layer", defaulted.Name);
    }

    [TestMethod]
    public void MalformedProblemsGiveLocatedErrors()
    {
        var e = Fails(() => TimeloopProblem.Parse("""
            problem:
              shape:
                name: bad
                dimensions: [M, N, K]
                data-spaces:
                  - name: A
                    projection: [[[M]], [[Kk]]]
                  - name: B
                    projection: [[[K, Scale]], [[N]]]
                  - name: Z
                    projection: [[[M]], [[N]]]
                    read-write: true
              instance: {M: 4, N: two, densities: {A: 0.5}}
            """, "bad.yaml"));
        var all = e.Message;
        StringAssert.Contains(all, "bad.yaml:7:");
        StringAssert.Contains(all, "unknown dimension 'Kk'; did you mean 'K'?");
        StringAssert.Contains(all, "bad.yaml:9:");
        StringAssert.Contains(all, "unknown coefficient 'Scale'");
        // The instance is checked as far as it can be without the shape.
        StringAssert.Contains(all, "problem.instance.N: must be an integer, got 'two'");
        StringAssert.Contains(all, "problem.instance.densities: sparse workloads (densities) are not supported");
        Assert.AreEqual(4, e.Errors.Count, all);

        e = Fails(() => TimeloopProblem.Parse("problem:\n  shape: cnn-layer\n  instance: {R: 0, Pp: 3, densities: {Inputs: 0.5}}\n", "i.yaml"));
        StringAssert.Contains(e.Message, "i.yaml:3:");
        StringAssert.Contains(e.Message, "instance.R: must be a positive integer");
        StringAssert.Contains(e.Message, "unknown dimension or coefficient 'Pp'; did you mean 'P'?");
        StringAssert.Contains(e.Message, "sparse workloads (densities) are not supported");
        Assert.AreEqual(3, e.Errors.Count, e.Message);

        e = Fails(() => TimeloopProblem.Parse("problem:\n  shape:\n    dimensions: [M]\n    data-spaces:\n      - {name: A, projection: [[[M]]], read-write: true}\n      - {name: Z, projection: [[[M]]], read-write: true}\n  instance: {M: 2}\n", "rw.yaml"));
        StringAssert.Contains(e.Message, "exactly one read-write data-space");
        e = Fails(() => TimeloopProblem.Parse("problem:\n  shape: depthwise\n  instance: {}\n", "s.yaml"));
        StringAssert.Contains(e.Message, "s.yaml:2:10: problem.shape: unknown built-in shape 'depthwise'");
    }

    [TestMethod]
    public void EveryZooLayerShapeRoundTripsThroughTheProblemFormat()
    {
        int checkedLayers = 0;
        foreach (var entry in Zoo.Entries)
            foreach (var (layer, _) in Zoo.DistinctShapes(Zoo.Get(entry.Name)))
            {
                // The data-spaces are named after the roles (Timeloop's CNN layer names), so that they pair with Timeloop files naming them.
                var back = TimeloopProblem.Parse(TimeloopProblem.Write(layer), "p.yaml").Layers.Single();
                Assert.AreEqual(Describe(TimeloopProblem.AsTimeloop(layer)), Describe(back), $"{entry.Name}/{layer.Name}");
                CollectionAssert.AreEqual(layer.Tensors.Select(t => t.Role.ToString()).ToList(), back.Tensors.Select(t => t.Id.Name).ToList());
                // A layer read from a Timeloop problem keeps that problem's names.
                Assert.AreEqual(TimeloopProblem.Write(layer), TimeloopProblem.Write(back));
                checkedLayers++;
            }
        Assert.IsTrue(checkedLayers > 30, $"only {checkedLayers} layer shapes");
    }

    // ---- architectures and energy tables ----

    // DRAM (200 pJ) above a 4096-word global buffer (6 pJ) feeding 16 PEs over a 2 pJ-a-hop bus, each with a 64-word register file (1 pJ); MAC 1.
    private const string ThreeLevelTree = """
        architecture:
          version: 0.3
          subtree:
            - name: three-level
              attributes: {technology: 45nm}
              local:
                - name: DRAM
                  class: DRAM
                  attributes: {type: LPDDR4, width: 64, word-bits: 16}
                - name: GLB
                  class: smartbuffer_SRAM
                  attributes: {depth: 1024, width: 64, word-bits: 16, n_banks: 4, optimizer-hop-energy: 2}
              subtree:
                - name: PE[0..15]
                  local:
                    - name: Reg
                      class: regfile
                      attributes: {depth: 64, width: 16, word-bits: 16}
                    - name: mac
                      class: intmac
                      attributes: {datawidth: 16}
        """;

    // Energies per action: DRAM and the buffer move blocks of 4 words (64 bits / 16), so 800 pJ a DRAM read is 200 pJ a word, 24 pJ a buffer read 6.
    private const string ThreeLevelErt = """
        ERT:
          version: 0.3
          tables:
            - name: three-level.DRAM
              actions:
                - {name: read, energy: 800}
                - {name: write, energy: 800}
                - {name: update, energy: 800}
                - {name: idle, energy: 0}
            - name: three-level.GLB
              actions:
                - {name: read, arguments: {data_delta: 0, address_delta: 0}, energy: 0.5}
                - {name: read, arguments: {data_delta: 1, address_delta: 1}, energy: 24}
                - {name: write, energy: 24}
                - {name: update, energy: 24}
            - name: three-level.PE[0..15].Reg
              actions:
                - {name: read, energy: 1}
                - {name: write, energy: 1}
            - name: three-level.PE[0..15].mac
              actions:
                - {name: mac_random, energy: 1}
                - {name: mac_gated, energy: 0.1}
        """;

    private static Architecture Named(Architecture a, string name) => new(name, a.Description, a.Levels, a.Compute, a.ClockGHz);

    [TestMethod]
    public void HandWrittenTreeArchitectureLoadsLikeTheNativeSpec()
    {
        var energy = EnergyTable.Parse(ThreeLevelErt, "ert.yaml");
        var tl = TimeloopArchitecture.Parse(ThreeLevelTree, "arch.yaml", energy);
        Assert.AreEqual(Describe(Named(AsTimeloopReads(ThreeLevel16()), "three-level")), Describe(tl));
        // The same table inside the architecture file works as well.
        var inFile = TimeloopArchitecture.Parse(ThreeLevelTree + "\n" + ThreeLevelErt, "arch.yaml");
        Assert.AreEqual(Describe(tl), Describe(inFile));
        Assert.AreEqual(16, tl.ComputeInstances);
        Assert.AreEqual(4096, tl.Levels[1].Capacity);
        // Bandwidths in words per cycle per instance; meshY alone sets meshX = instances / meshY.
        var more = TimeloopArchitecture.Parse(ThreeLevelTree
            .Replace("{type: LPDDR4, width: 64, word-bits: 16}", "{type: LPDDR4, width: 64, word-bits: 16, read_bandwidth: 4, write-bandwidth: 2.5}")
            .Replace("attributes: {depth: 64, width: 16, word-bits: 16}", "attributes: {depth: 64, width: 16, word-bits: 16, meshY: 4}")
            .Replace("attributes: {datawidth: 16}", "attributes: {datawidth: 16, meshY: 4}"), "more.yaml", energy);
        Assert.AreEqual(4, more.Levels[0].ReadBandwidth);
        Assert.AreEqual(2.5, more.Levels[0].WriteBandwidth);
        Assert.AreEqual(new Fanout(4, 4, hopEnergy: 2) { Forwarding = Forwarding.XY }, more.Levels[1].Fanout);
        Assert.AreEqual(Fanout.None, more.Levels[2].Fanout);
    }

    [TestMethod]
    public void FlatComponentFormLoadsLikeTheTreeForm()
    {
        var flat = """
            architecture:
              version: 0.4
              nodes:
                - !Container
                  name: three-level
                  attributes: {technology: 45nm}
                - !Component
                  name: DRAM
                  class: DRAM
                  attributes: {width: 64, datawidth: 16}
                - !Component
                  name: GLB
                  class: SRAM
                  attributes: {depth: 1024, width: 64, datawidth: 16, optimizer-hop-energy: 2}
                - !Container
                  name: PE
                  spatial: {meshX: 16}
                - !Component
                  name: Reg
                  class: regfile
                  attributes: {depth: 64, width: 16, datawidth: 16}
                - !Component
                  name: mac
                  class: intmac
                  attributes: {width: 16}
            """;
        var energy = EnergyTable.Parse(ThreeLevelErt, "ert.yaml");
        Assert.AreEqual(Describe(TimeloopArchitecture.Parse(ThreeLevelTree, "tree.yaml", energy)), Describe(TimeloopArchitecture.Parse(flat, "flat.yaml", energy)));
        // Roles a level may not keep: a v0.4 component's dataspace bypass, or a v0.3 architecture_constraints bypass entry.
        var flatBypass = TimeloopArchitecture.Parse(flat.Replace("attributes: {depth: 1024, width: 64, datawidth: 16, optimizer-hop-energy: 2}",
            "attributes: {depth: 1024, width: 64, datawidth: 16, optimizer-hop-energy: 2}\n      constraints: {dataspace: {bypass: [Weights]}}"), "flat.yaml", energy);
        var treeBypass = TimeloopArchitecture.Parse(ThreeLevelTree + "\narchitecture_constraints:\n  targets:\n    - {target: GLB, type: bypass, bypass: [Weights]}\n", "tree.yaml", energy);
        Assert.IsFalse(flatBypass.Levels[1].MayKeep(TensorRole.Weights));
        Assert.IsTrue(flatBypass.Levels[1].MayKeep(TensorRole.Inputs));
        Assert.AreEqual(Describe(treeBypass), Describe(flatBypass));
        // A 2-D mesh: meshX 4 of 16 instances gives a 4 x 4 fanout.
        var mesh = TimeloopArchitecture.Parse(ThreeLevelTree.Replace("attributes: {depth: 64, width: 16, word-bits: 16}", "attributes: {depth: 64, width: 16, word-bits: 16, meshX: 4}")
            .Replace("attributes: {datawidth: 16}", "attributes: {datawidth: 16, meshX: 4}"), "mesh.yaml", energy);
        Assert.AreEqual(new Fanout(4, 4, hopEnergy: 2) { Forwarding = Forwarding.XY }, mesh.Levels[1].Fanout);
    }

    [TestMethod]
    public void EnergyTableMapsActionsOntoPerWordEnergies()
    {
        var energy = EnergyTable.Parse(ThreeLevelErt, "ert.yaml");
        Assert.AreEqual(24, energy.Components["GLB"].Read);   // the most expensive argument combination
        Assert.AreEqual(1, energy.Components["mac"].Mac);    // mac_random, not mac_gated
        Assert.AreEqual(1, energy.Components["Reg"].Write);
        // On a native architecture or preset, an action is a word: the table replaces the named levels' energies.
        var applied = EnergyTable.Parse("ERT:\n  tables:\n    - name: sys.Registers\n      actions: [{name: read, energy: 0.7}, {name: update, energy: 0.9}]\n    - name: sys.pe.mac\n      actions: [{name: compute, energy: 0.25}]\n", "e.yaml")
            .Apply(Presets.Get("simple-ws"));
        Assert.AreEqual(0.7, applied.Levels[2].ReadEnergy);
        Assert.AreEqual(0.9, applied.Levels[2].WriteEnergy);
        Assert.AreEqual(3, applied.Levels[1].ReadEnergy);
        Assert.AreEqual(0.25, applied.Compute.MacEnergy);

        var e = Fails(() => EnergyTable.Parse("ERT:\n  tables:\n    - name: x.Buf\n      actions:\n        - {name: write, energy: 2}\n        - {name: update, energy: 3}\n", "u.yaml"));
        StringAssert.Contains(e.Message, "u.yaml:6:11:");
        StringAssert.Contains(e.Message, "must be equal");
        e = Fails(() => EnergyTable.Parse("ERT:\n  tables:\n    - name: x.Bufr\n      actions: [{name: read, energy: 2}]\n", "n.yaml").Apply(Presets.Get("simple-ws")));
        StringAssert.Contains(e.Message, "n.yaml:3:7:");
        StringAssert.Contains(e.Message, "component Bufr is neither a level of simple-ws");
    }

    [TestMethod]
    public void MalformedArchitecturesGiveLocatedErrors()
    {
        var energy = EnergyTable.Parse(ThreeLevelErt, "ert.yaml");
        var e = Fails(() => TimeloopArchitecture.Parse(ThreeLevelTree.Replace("class: regfile", "class: XY_NoC"), "bad.yaml", energy));
        StringAssert.Contains(e.Message, "bad.yaml:");
        StringAssert.Contains(e.Message, "unknown class 'XY_NoC'");
        Assert.IsTrue(e.Errors.All(x => x.Line > 0 && x.File == "bad.yaml"));

        e = Fails(() => TimeloopArchitecture.Parse(ThreeLevelTree.Replace("{type: LPDDR4, width: 64, word-bits: 16}", "{type: LPDDR4, width: 64, word-bits: 16, shared_bandwidth: 8}")
            .Replace("attributes: {depth: 64, width: 16, word-bits: 16}", "attributes: {depth: 64, width: 16, word-bits: 16, meshX: 3}"), "bad.yaml", energy));
        StringAssert.Contains(e.Message, "attribute shared-bandwidth is not supported");
        StringAssert.Contains(e.Message, "meshX 3 does not divide the 16 instances of Reg");

        e = Fails(() => TimeloopArchitecture.Parse(ThreeLevelTree, "noenergy.yaml"));
        StringAssert.Contains(e.Message, "noenergy.yaml:7:");
        StringAssert.Contains(e.Message, "no read and write energy for DRAM");
        StringAssert.Contains(e.Message, "no MAC energy for mac");
    }

    [TestMethod]
    public void EveryPresetRoundTripsThroughTheArchitectureFormat()
    {
        foreach (var preset in Presets.All)
        {
            var text = TimeloopArchitecture.Write(preset);
            Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect(text), preset.Name);
            var back = TimeloopArchitecture.Parse(text, preset.Name + ".yaml");
            Assert.AreEqual(ArchitectureSpec.Write(preset), ArchitectureSpec.Write(back), preset.Name);
        }
    }

    // ---- mappings and constraints ----

    private static readonly Einsum Conv32 = Layers.Conv1d("conv", c: 32, k: 32, p: 16, r: 3);

    [TestMethod]
    public void HandWrittenMappingLoadsLikeTheNativeSpec()
    {
        var arch = ThreeLevel16();
        var tl = TimeloopMapping.Parse("""
            mapping:
              - target: DRAM
                type: temporal
                factors: K=2 C=1 P=1 R=1
                permutation: KCPR
              - target: GLB
                type: temporal
                factors: C=2 K=16
                permutation: KC
              - target: GLB
                type: spatial
                factors: C=16
                permutation: C K P R
                split: 1
              - target: GLB
                type: bypass
                keep: [Inputs, Outputs]
                bypass: [Weights]
              - target: Reg
                type: temporal
                factors: P=16 R=3 K=1
                permutation: [R, P]
            """, "m.yaml", Conv32, arch);
        var native = MappingSpec.Parse("""
            mapping:
              levels:
                - level: DRAM
                  temporal: "K=2"
                - level: GLB
                  temporal: "C=2 K=16"
                  spatial: "C=16@X"
                  bypass: [Weights]
                - level: Reg
                  temporal: "P=16 R=3"
            """, "n.yaml", Conv32, arch);
        Assert.AreEqual(MappingSpec.Write(native, Conv32, arch), MappingSpec.Write(tl, Conv32, arch));
        // Timeloop's mapper writes factors without '=': "K2 C1".
        var terse = TimeloopMapping.Parse("mapping:\n  - {target: DRAM, type: temporal, factors: K2 C1 P16 R3, permutation: RPCK}\n", "t.yaml", Conv32, arch);
        CollectionAssert.AreEqual(new[] { "K=2", "P=16", "R=3" }, terse.Levels[0].Temporal.Select(t => t.ToString()).ToArray());
        // type datatype is the older name of bypass.
        var datatype = TimeloopMapping.Parse("mapping:\n  - {target: GLB, type: datatype, keep: [Inputs], bypass: [Weights, Outputs]}\n", "d.yaml", Conv32, arch);
        CollectionAssert.AreEqual(new[] { new TensorId("Inputs") }, datatype.Levels[1].Keep.ToArray());
        // split 0 puts the spatial dimension on Y.
        var y = TimeloopMapping.Parse("mapping:\n  - {target: GLB, type: spatial, factors: C=4, permutation: C, split: 0}\n", "y.yaml", Conv32, arch);
        Assert.AreEqual(new SpatialLoop(new RankId("C"), 4, Axis.Y), y.Levels[1].Spatial.Single());
    }

    [TestMethod]
    public void MalformedMappingsGiveLocatedErrors()
    {
        var arch = ThreeLevel16();
        var e = Fails(() => TimeloopMapping.Parse("""
            mapping:
              - target: DRAM
                type: temporal
                factors: K=2 Z=3 C=0
                permutation: KC
              - target: Reg
                type: spatial
                factors: K=2
              - target: GLBB
                type: temporal
                factors: K<=4
              - target: GLB
                type: utilization
              - target: GLB
                type: temporal
                factors: K=4 C=2
                permutation: K
            """, "bad.yaml", Conv32, arch));
        StringAssert.Contains(e.Message, "bad.yaml:4:18: mapping[0].factors: unknown rank 'Z'");
        StringAssert.Contains(e.Message, "a factor of 0 (which Timeloop reads as the whole bound, with a warning) is not supported");
        StringAssert.Contains(e.Message, "bad.yaml:7:11: mapping[1].type: level Reg has no fanout below it");
        StringAssert.Contains(e.Message, "unknown level 'GLBB'; did you mean 'GLB'?");
        StringAssert.Contains(e.Message, "type 'utilization' is not supported");
        StringAssert.Contains(e.Message, "bad.yaml:11:14: mapping[2].factors: 'K<=4': only exact factors (D=N) are supported, not bounds");
        Assert.AreEqual(6, e.Errors.Count, e.Message);
        e = Fails(() => TimeloopMapping.Parse("mapping:\n  - {target: GLB, type: temporal, factors: K=4 C=2, permutation: K}\n", "p.yaml", Conv32, arch));
        StringAssert.Contains(e.Message, "p.yaml:2:");
        StringAssert.Contains(e.Message, "the permutation leaves out C");
    }

    [TestMethod]
    public void ConstraintEntriesLoadLikeTheNativeConstraints()
    {
        var arch = Presets.Get("simple-ws");
        var layer = Layers.Conv1d("conv", c: 2, k: 4, p: 8, r: 3);
        var tl = TimeloopMapping.ParseConstraints("""
            mapspace_constraints:
              targets:
                - target: GlobalBuffer
                  type: spatial
                  factors: R=1 K=4
                  permutation: K C
                  split: 1
                - target: GlobalBuffer
                  type: bypass
                  bypass: [Weights]
                - target: Registers
                  type: temporal
                  factors: R=3 K=1 C=1
                  permutation: RP
            """, "c.yaml", layer, arch);
        var native = ConstraintSpec.Parse("""
            constraints:
              levels:
                - level: GlobalBuffer
                  spatial: "K=4@X"
                  spatial-x: [K]
                  spatial-y: [C]
                  bypass: [Weights]
                - level: Registers
                  temporal: "R=3 K=1 C=1"
                  order: [P, R]
            """, "n.yaml", layer, arch);
        var a = tl.For(1);
        var b = native.For(1);
        Assert.AreEqual(4, a.Spatial[(new RankId("K"), Axis.X)]);
        Assert.AreEqual(1, a.Spatial[(new RankId("R"), Axis.Y)]);
        CollectionAssert.AreEquivalent(b.SpatialX!.ToList(), a.SpatialX!.ToList());
        CollectionAssert.AreEquivalent(b.SpatialY!.ToList(), a.SpatialY!.ToList());
        CollectionAssert.AreEquivalent(b.Bypass.ToList(), a.Bypass.ToList());
        CollectionAssert.AreEqual(native.For(2).Order!.ToList(), tl.For(2).Order!.ToList());
        CollectionAssert.AreEquivalent(native.For(2).Temporal.ToList(), tl.For(2).Temporal.ToList());
        // The search honours them: its answer is allowed by both readings.
        var r = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, tl), prune: true).Solve(SearchLimits.None);
        Assert.AreEqual(SolveStatus.Optimal, r.Status);
        Assert.IsTrue(ConstraintCheck.Allows(native, r.Mapping!));
        // A partial permutation leaving free dimensions outside it cannot be expressed: a located error.
        var e = Fails(() => TimeloopMapping.ParseConstraints("mapspace_constraints:\n  - {target: Registers, type: temporal, permutation: R}\n", "p.yaml", layer, arch));
        StringAssert.Contains(e.Message, "p.yaml:2:");
        StringAssert.Contains(e.Message, "a partial permutation leaves");
    }

    [TestMethod]
    public void MappingsFoundByTheSearchRoundTrip()
    {
        // On simple-ws's 4 x 4 array, a Timeloop spatial constraint (K along X, the other ranks along Y) keeps each
        // rank on one axis, as Timeloop's mappings need.
        var cases = new (Einsum Layer, Architecture Arch, bool Axes)[]
        {
            (Layers.Conv1d("c1", c: 2, k: 4, p: 8, r: 3), Presets.Get("simple-ws"), true),
            (Layers.Conv1d("c2", c: 4, k: 8, p: 4, r: 3, stride: 2), Presets.Get("simple-ws"), true),
            (Layers.Conv2d("c3", n: 1, c: 2, k: 4, p: 4, q: 2, r: 3, s: 1), Presets.Get("simple-ws"), true),
            (Layers.Gemm("g", 4, 8, 2), ThreeLevel16(), false),
            (Layers.Conv1d("c4", c: 4, k: 8, p: 8, r: 3), ThreeLevel16(), false),
        };
        foreach (var (layer, arch, axes) in cases)
        {
            var others = layer.Ranks.Select(r => r.Id.Name).Where(n => n != "K");
            var constraints = axes
                ? TimeloopMapping.ParseConstraints($"mapspace_constraints:\n  - {{target: GlobalBuffer, type: spatial, permutation: K {string.Join(" ", others)}, split: 1}}\n", "c.yaml", layer, arch)
                : null;
            var r = new TilingSearch(new MapProblem(layer, arch, Objective.Energy, constraints), prune: true).Solve(SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, r.Status, layer.Name);
            var text = TimeloopMapping.Write(r.Mapping!, layer, arch);
            Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect(text));
            var back = TimeloopMapping.Parse(text, "m.yaml", layer, arch);
            Assert.AreEqual(MappingSpec.Write(r.Mapping!, layer, arch), MappingSpec.Write(back, layer, arch), layer.Name);
            Assert.AreEqual(r.Report!.Energy, CostModel.Evaluate(layer, arch, back).Energy, layer.Name);
            // And the problem and architecture travel with it.
            var layerBack = TimeloopProblem.Parse(TimeloopProblem.Write(layer), "p.yaml").Layers.Single();
            var archBack = TimeloopArchitecture.Parse(TimeloopArchitecture.Write(arch), "a.yaml");
            Assert.AreEqual(r.Report.Energy, CostModel.Evaluate(layerBack, archBack, TimeloopMapping.Parse(text, "m.yaml", layerBack, archBack)).Energy, 1e-9);
        }
    }

    [TestMethod]
    public void WriterRefusesWhatTimeloopCannotSay()
    {
        var arch = ThreeLevel16();
        var both = M(L(""), L("C=32", "K=4@X K=4@Y"), L("K=2 P=16 R=3"));
        var e = Assert.ThrowsExactly<ArgumentException>(() => TimeloopMapping.Write(both, Conv32, arch));
        StringAssert.Contains(e.Message, "two spatial loops over K");
    }

    // ---- the hand-worked cases, every input in Timeloop's format ----

    private const string TwoLevelTimeloop = """
        architecture:
          version: 0.3
          subtree:
            - name: two-level
              local:
                - name: DRAM
                  class: DRAM
                  attributes: {word-bits: 16}
                - name: Buffer
                  class: SRAM
                  attributes: {depth: 16, block-size: 4, word-bits: 16}
                - name: MAC
                  class: intmac
                  attributes: {datawidth: 16}
        ERT:
          version: 0.3
          tables:
            - name: two-level.DRAM
              actions: [{name: read, energy: 100}, {name: write, energy: 100}, {name: update, energy: 100}]
            - name: two-level.Buffer
              actions: [{name: read, energy: 4}, {name: write, energy: 4}, {name: update, energy: 4}]
            - name: two-level.MAC
              actions: [{name: compute, energy: 1}]
        """;

    [TestMethod]
    public void OneDimensionalConvolutionsInTimeloopFormatsGiveTheHandWorkedCounts()
    {
        var arch = TimeloopArchitecture.Parse(TwoLevelTimeloop, "two.yaml");
        Assert.AreEqual(Describe(Named(AsTimeloopReads(TwoLevel()), "two-level")), Describe(arch));
        var conv = TimeloopProblem.Parse(Conv1dProblem, "conv.yaml").Layers.Single();
        // Weight stationary: DRAM for R in [0:3); Buffer for P in [0:16) (HandWorkedCostTests).
        var m = TimeloopMapping.Parse("""
            mapping:
              - {target: DRAM, type: temporal, factors: R=3 P=1, permutation: RP}
              - {target: Buffer, type: temporal, factors: R=1 P=16, permutation: PR}
            """, "ws.yaml", conv, arch);
        var r = CostModel.Evaluate(conv, arch, m);
        Assert.AreEqual(3, Row(r, "Buffer", "Weights").Fills);
        Assert.AreEqual(18, Row(r, "Buffer", "Inputs").Fills);
        Assert.AreEqual(48, Row(r, "Buffer", "Inputs").Reads);
        Assert.AreEqual(48, Row(r, "Buffer", "Outputs").Updates);
        Assert.AreEqual(32, Row(r, "Buffer", "Outputs").Reads);
        Assert.AreEqual(18, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(16, Row(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(3945, r.Energy, 1e-9);
        Assert.AreEqual(48, r.Cycles);
        // Stride 2, R=1, P=4: each P step moves the input by 2 > 1 word: 4 whole new tiles.
        var strided = TimeloopProblem.Parse(Conv1dProblem.Replace("P: 16", "P: 4").Replace("R: 3", "R: 1\n    Stride: 2"), "s2.yaml").Layers.Single();
        var ms = TimeloopMapping.Parse("mapping:\n  - {target: DRAM, type: temporal, factors: P=4 R=1, permutation: PR}\n", "s2m.yaml", strided, arch);
        Assert.AreEqual(4, Row(CostModel.Evaluate(strided, arch, ms), "Buffer", "Inputs").Fills);
    }

    [TestMethod]
    public void TwoDimensionalStridedConvolutionInTimeloopFormatsGivesTheHandWorkedCounts()
    {
        // O[q,p] += I[r + 2p, s + 2q] * W[r,s] with P = Q = 2, R = S = 3 (Timeloop's built-in CNN layer, C = K = N = 1): 36 MACs.
        var arch = TimeloopArchitecture.Parse(TwoLevelTimeloop, "two.yaml");
        var conv = TimeloopProblem.Parse("problem:\n  shape: cnn-layer\n  instance: {R: 3, S: 3, P: 2, Q: 2, Wstride: 2, Hstride: 2}\n", "c2.yaml").Layers.Single();
        // DRAM: for P in [0:2), for Q in [0:2) (innermost first: Q then P); Buffer: for S, for R.
        var m = TimeloopMapping.Parse("""
            mapping:
              - {target: DRAM, type: temporal, factors: P=2 Q=2, permutation: QPRSCKN}
              - {target: Buffer, type: temporal, factors: R=3 S=3, permutation: RSPQCKN}
            """, "m2.yaml", conv, arch);
        var r = CostModel.Evaluate(conv, arch, m);
        Assert.AreEqual(36, r.Macs);
        // Buffer tiles: W 3x3 = 9, I 3x3 = 9 (one window), O 1.
        Assert.AreEqual(9, Row(r, "Buffer", "Inputs").TileWords);
        // W: P and Q do not index it: fetched once, 9 fills; 36 reads.
        Assert.AreEqual(9, Row(r, "Buffer", "Weights").Fills);
        Assert.AreEqual(36, Row(r, "Buffer", "Weights").Reads);
        // I: each Q step moves the window by 2 along its width: 3 x (3-2) = 3 words kept, 6 new, 2 steps (one per p): 12.
        // The P step moves it 2 along the height and Q back by 2: (3-2) x (3-2) = 1 kept, 8 new, once. 9 + 12 + 8 = 29 of
        // the 25-word input with a sliding window; the Timeloop reader gives the buffer Timeloop's same-stride window
        // (docs/interop.md), and the P step changes the translation, so it fetches the whole 9: 9 + 12 + 9 = 30.
        Assert.AreEqual(29, Row(CostModel.Evaluate(conv, WindowCapabilityTests.With(arch, WindowReuse.Slide, Forwarding.None), m), "Buffer", "Inputs").Fills);
        Assert.AreEqual(30, Row(r, "Buffer", "Inputs").Fills);
        Assert.AreEqual(36, Row(r, "Buffer", "Inputs").Reads);
        // O: 4 words, each a first touch (fills 0); 36 updates; reads 36 - 4 = 32.
        Assert.AreEqual(0, Row(r, "Buffer", "Outputs").Fills);
        Assert.AreEqual(36, Row(r, "Buffer", "Outputs").Updates);
        Assert.AreEqual(32, Row(r, "Buffer", "Outputs").Reads);
        // DRAM serves the buffer's fills (W 9, I 30) and takes 4 updates, 0 reads.
        Assert.AreEqual(9, Row(r, "DRAM", "Weights").Reads);
        Assert.AreEqual(30, Row(r, "DRAM", "Inputs").Reads);
        Assert.AreEqual(4, Row(r, "DRAM", "Outputs").Updates);
        Assert.AreEqual(0, Row(r, "DRAM", "Outputs").Reads);
        // Energy: DRAM (9 + 30 + 4) x 100 = 4300; buffer 104 reads + 75 writes at 1 = 179; MACs 36: 4515 pJ.
        Assert.AreEqual(4300, r.Levels[0].Energy, 1e-9);
        Assert.AreEqual(179, r.Levels[1].Energy, 1e-9);
        Assert.AreEqual(4515, r.Energy, 1e-9);
    }

    // ---- the command line ----

    [TestMethod]
    public void CommandsReadTimeloopFilesAndPrintTimeloopStatistics()
    {
        var arch = Save("arch.yaml", TwoLevelTimeloop);
        var problem = Save("conv.yaml", Conv1dProblem);
        var mapping = Save("ws.yaml", "mapping:\n  - {target: DRAM, type: temporal, factors: R=3, permutation: R}\n  - {target: Buffer, type: temporal, factors: P=16, permutation: P}\n");
        var (code, output, err) = Run("evaluate", "--arch", arch, "--workload", problem, "--mapping", mapping, "--style", "timeloop");
        Assert.AreEqual(0, code, err);
        StringAssert.Contains(output, "=== Buffer ===");
        StringAssert.Contains(output, "Scalar fills (per-instance)");
        var inputs = output[output.IndexOf("=== Buffer ===")..];
        inputs = inputs[inputs.IndexOf("    Inputs:")..];
        StringAssert.Matches(inputs, new System.Text.RegularExpressions.Regex(@"Scalar fills \(per-instance\)\s+: 18\n"));
        StringAssert.Matches(output, new System.Text.RegularExpressions.Regex(@"\nEnergy\s+: 3,945\.0 pJ\n"));

        // --format never overrides what a file's content shows: --format native reads these Timeloop files as Timeloop's.
        (code, _, err) = Run("evaluate", "--arch", arch, "--workload", problem, "--mapping", mapping, "--format", "native");
        Assert.AreEqual(0, code, err);
        // It decides a file that shows neither format: a misspelt top-level key gets the errors of the reader the user meant,
        // located, exit 2, no stack trace.
        var misspelt = Save("misspelt.yaml", Conv1dProblem.Replace("problem:", "problm:"));
        (code, _, err) = Run("evaluate", "--arch", arch, "--workload", misspelt, "--mapping", mapping, "--format", "timeloop");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "misspelt.yaml:1:1: problem:");
        Assert.IsFalse(err.Contains("   at "), err);
        (code, _, err) = Run("evaluate", "--arch", arch, "--workload", misspelt, "--mapping", mapping);
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "misspelt.yaml:1:1: workload:");
        Assert.IsFalse(err.Contains("   at "), err);

        // map writes a Timeloop mapping that evaluate reads back to the same energy.
        var best = Path.Combine(_dir, "best.yaml");
        (code, output, err) = Run("map", "--arch", arch, "--workload", problem, "--mapping-out", best, "--format", "timeloop");
        Assert.AreEqual(0, code, err);
        var energyLine = output.Split('\n').First(l => l.StartsWith("Energy"));
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect(File.ReadAllText(best)));
        (code, output, err) = Run("evaluate", "--arch", arch, "--workload", problem, "--mapping", best);
        Assert.AreEqual(0, code, err);
        Assert.AreEqual(energyLine, output.Split('\n').First(l => l.StartsWith("Energy")));

        // --energy overrides a preset's energies.
        var ert = Save("ert.yaml", "ERT:\n  tables:\n    - name: x.DRAM\n      actions: [{name: read, energy: 1}, {name: write, energy: 1}]\n");
        var native = Save("w.yaml", "workload:\n  name: w\n  layers:\n    - name: conv\n      conv1d: {k: 4, c: 2, p: 8, r: 3}\n");
        var cheap = Path.Combine(_dir, "cheap.yaml");
        (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", native, "--energy", ert, "--mapping-out", cheap);
        Assert.AreEqual(0, code, err);
        (code, output, _) = Run("evaluate", "--arch", "simple-ws", "--workload", native, "--mapping", cheap, "--energy", ert, "--style", "timeloop");
        Assert.AreEqual(0, code);
        StringAssert.Contains(output, "=== DRAM ===");
    }

    [TestMethod]
    public void TimeloopExamplesLoadLikeTheNativeExamples()
    {
        var native = ArchitectureSpec.Load(Example("two-level-arch.yaml"));
        var arch = TimeloopArchitecture.Load(Example("timeloop/two-level-arch.yaml"), EnergyTable.Load(Example("timeloop/two-level-ert.yaml")));
        Assert.AreEqual(Describe(AsTimeloopReads(native)), Describe(arch));
        // The built-in CNN layer has three more dimensions (N, S, Q), all 1: the same work and the same tensors.
        var conv1d = WorkloadSpec.Load(Example("conv1d-workload.yaml")).Layers.Single();
        var cnn = TimeloopProblem.Load(Example("timeloop/conv1d-problem.yaml")).Layers.Single();
        Assert.AreEqual(conv1d.Macs, cnn.Macs);
        foreach (var role in Enum.GetValues<TensorRole>())
            Assert.AreEqual(conv1d.TensorWords(conv1d.Tensors.Single(t => t.Role == role)), cnn.TensorWords(cnn.Tensors.Single(t => t.Role == role)), role.ToString());
        var m = MappingSpec.Load(Example("conv1d-mapping.yaml"), conv1d, native);
        var tm = TimeloopMapping.Load(Example("timeloop/conv1d-mapping.yaml"), cnn, arch);
        for (int l = 0; l < 2; l++)
        {
            CollectionAssert.AreEqual(m.Levels[l].Temporal.ToArray(), tm.Levels[l].Temporal.ToArray());
            CollectionAssert.AreEqual(m.Levels[l].Keep.ToArray(), tm.Levels[l].Keep.ToArray());
        }
    }

    [TestMethod]
    public void TimeloopExamplesEvaluateLikeTheNativeExamples()
    {
        var (code, native, err) = Run("evaluate", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"), "--mapping", Example("conv1d-mapping.yaml"));
        Assert.AreEqual(0, code, err);
        (code, var timeloop, err) = Run("evaluate", "--arch", Example("timeloop/two-level-arch.yaml"), "--energy", Example("timeloop/two-level-ert.yaml"),
            "--workload", Example("timeloop/conv1d-problem.yaml"), "--mapping", Example("timeloop/conv1d-mapping.yaml"));
        Assert.AreEqual(0, code, err);
        string Energy(string output) => output.Split('\n').First(l => l.StartsWith("Energy"));
        Assert.AreEqual(Energy(native), Energy(timeloop));
        StringAssert.Contains(Energy(timeloop), "6,028,288.0 pJ");
        // The weight-stationary constraints in either format give the same proved optimum.
        (code, native, err) = Run("map", "--arch", "simple-ws", "--workload", Example("conv1d-workload.yaml"), "--constraints", Example("simple-ws-constraints.yaml"));
        Assert.AreEqual(0, code, err);
        (code, timeloop, err) = Run("map", "--arch", "simple-ws", "--workload", Example("timeloop/conv1d-problem.yaml"), "--constraints", Example("timeloop/simple-ws-constraints.yaml"));
        Assert.AreEqual(0, code, err);
        string Status(string output) => output.Split('\n').First(l => l.StartsWith("OPTIMAL"));
        Assert.AreEqual(Status(native), Status(timeloop));
    }

    [TestMethod]
    public void ZooExportsTimeloopFilesThatReadBack()
    {
        var file = Path.Combine(_dir, "eyeriss.yaml");
        var (code, _, err) = Run("zoo", "--export", "eyeriss", "--format", "timeloop", "--output", file);
        Assert.AreEqual(0, code, err);
        Assert.AreEqual(ArchitectureSpec.Write(Presets.Get("eyeriss")), ArchitectureSpec.Write(TimeloopArchitecture.Load(file)));
        var dir = Path.Combine(_dir, "mlp");
        (code, _, err) = Run("zoo", "--export", "mlp", "--format", "timeloop", "--output", dir);
        Assert.AreEqual(0, code, err);
        var w = Zoo.Get("mlp");
        foreach (var layer in w.Layers)
            Assert.AreEqual(Describe(TimeloopProblem.AsTimeloop(layer)), Describe(TimeloopProblem.Load(Path.Combine(dir, layer.Name + ".yaml")).Layers.Single()));
        (code, _, err) = Run("zoo", "--export", "mlp", "--format", "timeloop");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "give --output DIR");
    }

    // Every data-space name the keep and bypass lists of a Timeloop file's constraint or mapping entries hold, read as
    // Timeloop reads them (straight from the YAML, not through our readers).
    private static List<(string Target, string Name)> DataSpaceNamesIn(string yaml)
    {
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(yaml));
        var top = (YamlDotNet.RepresentationModel.YamlMappingNode)stream.Documents[0].RootNode;
        var names = new List<(string, string)>();
        foreach (var key in new[] { "architecture_constraints", "mapspace_constraints", "constraints", "mapping" })
        {
            if (!top.Children.TryGetValue(new YamlDotNet.RepresentationModel.YamlScalarNode(key), out var node)) continue;
            var entries = node is YamlDotNet.RepresentationModel.YamlMappingNode m ? m.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("targets")] : node;
            foreach (var entry in ((YamlDotNet.RepresentationModel.YamlSequenceNode)entries).Cast<YamlDotNet.RepresentationModel.YamlMappingNode>())
                foreach (var list in new[] { "keep", "bypass" })
                    if (entry.Children.TryGetValue(new YamlDotNet.RepresentationModel.YamlScalarNode(list), out var items))
                        foreach (var item in ((YamlDotNet.RepresentationModel.YamlSequenceNode)items).Cast<YamlDotNet.RepresentationModel.YamlScalarNode>())
                            names.Add((entry.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("target")].ToString(), item.Value!));
        }
        return names;
    }

    [TestMethod]
    public void EveryExportedArchitectureLoadsWithEveryExportedProblemAsTimeloopPairsThem()
    {
        // Timeloop reads an architecture (with any architecture_constraints), a problem and a mapping together, and stops
        // on a keep or bypass naming a data-space the problem does not declare ("data-space Weights not found in problem
        // shape"). So every name an exported architecture uses, and every name a mapping written for a layer uses, must
        // be a data-space of the problem `zoo --export WORKLOAD --format timeloop` writes for that layer: every layer of
        // every zoo workload, as our reader reads it back.
        var problems = new List<(string Where, Einsum Layer, Einsum Back)>();
        foreach (var entry in Zoo.Entries)
            foreach (var layer in Zoo.Get(entry.Name).Layers)
                problems.Add(($"{entry.Name}/{layer.Name}", layer, TimeloopProblem.Parse(TimeloopProblem.Write(layer), layer.Name + ".yaml").Layers.Single()));
        int named = 0;
        foreach (var preset in Presets.All)
        {
            var text = TimeloopArchitecture.Write(preset);
            var arch = TimeloopArchitecture.Parse(text, "arch.yaml");
            Assert.AreEqual(ArchitectureSpec.Write(preset), ArchitectureSpec.Write(arch), preset.Name);
            var archNames = DataSpaceNamesIn(text);
            foreach (var (where, layer, back) in problems)
            {
                // A mapping that keeps at each level what the architecture lets it keep (all loops at the top): its bypass entries name every data-space.
                var keepAll = new Mapping(preset.Levels.Select((l, i) => new LevelMapping(
                    i == 0 ? layer.Ranks.Where(r => r.Bound > 1).Select(r => new TemporalLoop(r.Id, r.Bound)) : [], [],
                    layer.Tensors.Where(t => l.MayKeep(t.Role)).Select(t => t.Id))));
                var mapping = TimeloopMapping.Write(keepAll, layer, preset);
                var names = archNames.Concat(DataSpaceNamesIn(mapping)).ToList();
                named += names.Count;
                var missing = names.Where(n => back.FindTensor(new TensorId(n.Name)) is null).Select(n => $"{n.Target}: {n.Name}").Distinct().ToList();
                Assert.AreEqual(0, missing.Count, $"{preset.Name} with {where} (data-spaces {string.Join(", ", back.Tensors.Select(t => t.Id))}): not found in problem shape: {string.Join("; ", missing)}");
                // Our readers pair them the same way: the mapping read for the problem keeps what it kept.
                var read = TimeloopMapping.Parse(mapping, "mapping.yaml", back, arch);
                for (int l = 0; l < arch.Levels.Count; l++)
                    CollectionAssert.AreEqual(back.Tensors.Where(t => arch.Levels[l].MayKeep(t.Role)).Select(t => t.Id.Name).Order().ToList(),
                        read.Levels[l].Keep.Select(t => t.Name).ToList(), $"{preset.Name} {arch.Levels[l].Name} with {where}");
            }
        }
        Assert.IsTrue(named > 0 && problems.Count > 100, $"{named} names, {problems.Count} problems");

        // And our readers hold a layer read from a Timeloop problem to Timeloop's rule: a name that is not one of its data-spaces is a located error.
        var gemm = TimeloopProblem.Parse("""
            problem:
              shape:
                name: gemm
                dimensions: [M, N, K]
                data-spaces:
                  - {name: A, projection: [[[M]], [[K]]]}
                  - {name: B, projection: [[[K]], [[N]]]}
                  - {name: Z, projection: [[[M]], [[N]]], read-write: true}
              instance: {M: 4, N: 4, K: 4}
            """, "gemm.yaml").Layers.Single();
        var constraints = "architecture_constraints:\n  targets:\n    - {target: GlobalBuffer, type: bypass, bypass: [Weights]}\n";
        var e = Fails(() => TimeloopMapping.ParseConstraints(constraints, "c.yaml", gemm, Presets.Get("eyeriss")));
        StringAssert.Contains(e.Message, "c.yaml:3:");
        StringAssert.Contains(e.Message, "data-space 'Weights' is not in problem gemm, whose data-spaces are A, B, Z");
        // While a zoo layer (not read from a Timeloop problem) still takes role names.
        var zooLayer = Zoo.Get("mlp").Layers[0];
        Assert.IsTrue(TimeloopMapping.ParseConstraints(constraints, "c.yaml", zooLayer, Presets.Get("eyeriss")).For(1).Bypass.Contains(zooLayer.Tensors.Single(t => t.Role == TensorRole.Weights).Id));
    }

    [TestMethod]
    public void MapWritesAnEqualCostTimeloopMappingOrSaysWhyNotAndAlwaysPrintsTheStatus()
    {
        // On simple-ws's 4 x 4 array the optimum of mlp's fc1 and fc3 splits K over both axes, which Timeloop's format cannot say.
        var fc1 = Zoo.Get("mlp").Layers.Single(l => l.Name == "fc1");
        var arch = Presets.Get("simple-ws");
        var optimum = new TilingSearch(new MapProblem(fc1, arch, Objective.Energy), prune: true).Solve(SearchLimits.None);
        Assert.IsNotNull(TimeloopMapping.Inexpressible(optimum.Mapping!, arch), "the case needs an optimum Timeloop cannot express");

        // fc1 has a one-axis tie: it is written, said so, and the status line follows; the file reads back, with the
        // problem written for the layer, to the optimum's energy.
        var file = Path.Combine(_dir, "fc1-timeloop.yaml");
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", "mlp", "--layer", "fc1", "--mapping-out", file, "--format", "timeloop");
        Assert.AreEqual(0, code, err + output);
        StringAssert.Contains(output, $"Wrote {file}: a mapping of equal energy that Timeloop's format can express");
        StringAssert.Contains(output, "OPTIMAL energy=");
        var problem = TimeloopProblem.Parse(TimeloopProblem.Write(fc1), "fc1.yaml").Layers.Single();
        var archBack = TimeloopArchitecture.Parse(TimeloopArchitecture.Write(arch), "a.yaml");
        Assert.AreEqual(optimum.Report!.Energy, CostModel.Evaluate(problem, archBack, TimeloopMapping.Load(file, problem, archBack)).Energy, 1e-9 * optimum.Report.Energy);

        // fc3 has none (its optimum needs K split 8 ways): nothing is written, the reason and the exit code are given,
        // and the result and its status line are still printed.
        file = Path.Combine(_dir, "fc3-timeloop.yaml");
        (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", "mlp", "--layer", "fc3", "--mapping-out", file, "--format", "timeloop");
        Assert.AreEqual(4, code, err + output);
        Assert.IsFalse(File.Exists(file));
        StringAssert.Contains(output, $"Did not write {file} (exit code 4");
        StringAssert.Contains(output, "two spatial loops over K");
        StringAssert.Contains(output, "Loop nest");
        StringAssert.Contains(output, "OPTIMAL energy=");
        Assert.IsFalse(err.Contains("   at "), err);
    }

    [TestMethod]
    public void FormatTimeloopReadsANativeConstraintsFileAsNative()
    {
        // A Timeloop problem, a native constraints file, and --format timeloop for the Timeloop mapping written: each
        // input is read in the format its content shows, and --format only chooses what --mapping-out writes.
        var best = Path.Combine(_dir, "ws-best.yaml");
        var (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", Example("timeloop/conv1d-problem.yaml"),
            "--constraints", Example("simple-ws-constraints.yaml"), "--mapping-out", best, "--format", "timeloop");
        Assert.AreEqual(0, code, err + output);
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect(File.ReadAllText(best)));
        var optimal = output.Split('\n').First(l => l.StartsWith("OPTIMAL"));
        // The same optimum as with the Timeloop constraints file.
        (code, output, err) = Run("map", "--arch", "simple-ws", "--workload", Example("timeloop/conv1d-problem.yaml"),
            "--constraints", Example("timeloop/simple-ws-constraints.yaml"), "--format", "native");
        Assert.AreEqual(0, code, err + output);
        Assert.AreEqual(optimal, output.Split('\n').First(l => l.StartsWith("OPTIMAL")));
        // A constraints file in neither format, with --format timeloop: the Timeloop reader's located error, exit 2.
        var neither = Save("neither.yaml", "levels:\n  - level: GlobalBuffer\n");
        (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", Example("timeloop/conv1d-problem.yaml"), "--constraints", neither, "--format", "timeloop");
        Assert.AreEqual(2, code);
        StringAssert.Contains(err, "neither.yaml:1:1:");
        StringAssert.Contains(err, "mapspace_constraints");
        Assert.IsFalse(err.Contains("   at "), err);
    }

    [TestMethod]
    public void FormatIsDetectedFromContent()
    {
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect(Conv1dProblem));
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect(ThreeLevelTree));
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect("mapping:\n  - {target: DRAM, type: temporal}\n"));
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Detect("constraints:\n  targets: []\n"));
        Assert.AreEqual(SpecFormat.Native, SpecFormats.Detect("mapping:\n  levels: []\n"));
        Assert.AreEqual(SpecFormat.Native, SpecFormats.Detect("architecture:\n  name: a\n  levels: []\n"));
        Assert.AreEqual(SpecFormat.Native, SpecFormats.Detect("workload: [unclosed"));
        Assert.AreEqual(SpecFormat.Timeloop, SpecFormats.Shown("mapping:\n  targets: []\n"));
        Assert.AreEqual(SpecFormat.Native, SpecFormats.Shown("constraints:\n  levels: []\n"));
        Assert.AreEqual(SpecFormat.Native, SpecFormats.Shown("workload:\n  name: w\n"));
        Assert.IsNull(SpecFormats.Shown("problm:\n  shape: cnn-layer\n"));
        Assert.IsNull(SpecFormats.Shown("workload: [unclosed"));
    }
}
