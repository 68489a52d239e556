using System.Diagnostics;
using Google.Protobuf;
using Onnx;
using Optimizer.Workloads;
using Optimizer.Workloads.Frontends;
using Optimizer.Workloads.Specs;

namespace Optimizer.Tests;

/// <summary>The ONNX front end (docs/frontends.md): Debian's ONNX test models, the zoo round trip, per-node results and bad input.</summary>
[TestClass]
public sealed class OnnxTests
{
    private const string TestData = "/usr/share/libonnx-testdata/data";
    private static readonly string[] Patterns = ["pytorch-converted/test_Conv", "pytorch-converted/test_Linear", "node/test_matmul", "node/test_gemm", "node/test_einsum", "node/test_conv"];

    /// <summary>The model files of libonnx-testdata the issue names; fails (never passes silently) when the package is missing.</summary>
    private static List<string> TestModels()
    {
        if (!Directory.Exists(TestData))
            Assert.Fail($"{TestData} is missing: install the Debian package libonnx-testdata (scripts/lib/setup.sh installs it; apt-get install libonnx-testdata).");
        var files = Directory.GetFiles(TestData, "model.onnx", SearchOption.AllDirectories)
            .Where(f => Patterns.Any(p => Path.GetRelativePath(TestData, f).StartsWith(p, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToList();
        Assert.IsGreaterThan(50, files.Count, "libonnx-testdata has fewer Conv/Gemm/MatMul/Einsum models than expected");
        return files;
    }

    private static readonly HashSet<string> Supported = ["Conv", "Gemm", "MatMul", "Einsum"];

    [TestMethod]
    public void EveryTestModelOfASupportedOpLoadsWithTheBoundsAndMacsItsShapesImply()
    {
        int checkedModels = 0, refused = 0;
        foreach (var file in TestModels())
        {
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(file));
            var g = model.Graph;
            var mapped = g.Node.Where(n => Supported.Contains(n.OpType)).ToList();
            if (mapped.Count == 0)
            {
                // ConvTranspose, ConvInteger, MatMulInteger: refused with the op named, exit 2 through the CLI.
                var (code, _, err) = CommandLine.Run("zoo", file);
                Assert.AreEqual(2, code, file);
                StringAssert.Contains(err, g.Node[0].OpType, file);
                refused++;
                continue;
            }
            var imported = ModelImport.Load(file);
            Assert.HasCount(mapped.Count, imported.Workload.Layers, file);
            int[] Declared(string name)
            {
                if (g.Initializer.FirstOrDefault(i => i.Name == name) is { } init) return [.. init.Dims.Select(d => (int)d)];
                var v = g.Input.Concat(g.ValueInfo).Concat(g.Output).First(x => x.Name == name);
                return [.. v.Type.TensorType.Shape.Dim.Select(d => (int)d.DimValue)];
            }
            foreach (var node in mapped)
            {
                var layer = imported.Workload.Layers.Single(l => l.Output.Id.Name == node.Output[0]);
                StringAssert.Contains(layer.Source, $"({node.OpType})", file);
                var output = Declared(node.Output[0]);
                long expected = node.OpType switch
                {
                    "Conv" => output.Aggregate(1L, (p, v) => p * v) * Declared(node.Input[1])[1..].Aggregate(1L, (p, v) => p * v),
                    "Gemm" => output.Aggregate(1L, (p, v) => p * v) * Declared(node.Input[0])[node.Attribute.Any(a => a.Name == "transA" && a.I == 1) ? 0 : 1],
                    "MatMul" => output.Aggregate(1L, (p, v) => p * v) * Declared(node.Input[0])[^1],
                    _ => EinsumMacs(node, node.Input.Select(Declared).ToList()),
                };
                Assert.AreEqual(expected, layer.Macs, $"{file}: MACs");
                // The output's ranks are the node's output shape (a grouped Conv splits channels into G x K).
                var bounds = layer.Output.Dims.Select(d => layer.Bound(d.Terms[0].Rank)).ToList();
                if (node.OpType == "Conv" && layer.HasRank(new RankId("G"))) bounds = [bounds[0], bounds[1] * bounds[2], .. bounds.Skip(3)];
                if (output.Length > 0) CollectionAssert.AreEqual(output, bounds, $"{file}: output bounds");
                else Assert.AreEqual(1L, bounds.Aggregate(1L, (p, v) => p * v), $"{file}: a scalar output");
                checkedModels++;
            }
        }
        Assert.IsGreaterThan(45, checkedModels, "Conv/Gemm/MatMul/Einsum nodes checked");
        Assert.IsGreaterThan(0, refused, "unsupported variants (ConvTranspose, ConvInteger, MatMulInteger) refused");
    }

    /// <summary>The MACs an Einsum equation implies: the product of every distinct index's size.</summary>
    private static long EinsumMacs(NodeProto node, List<int[]> shapes)
    {
        var equation = node.Attribute.Single(a => a.Name == "equation").S.ToStringUtf8().Replace(" ", "");
        var terms = equation.Split("->")[0].Split(',');
        var sizes = new Dictionary<string, int>();
        for (int t = 0; t < terms.Length; t++)
        {
            var letters = terms[t].Replace("...", "");
            int ellipsis = shapes[t].Length - letters.Length;
            int at = terms[t].IndexOf("...", StringComparison.Ordinal);
            var names = new List<string>();
            foreach (var c in terms[t].Replace("...", "\0"))
                if (c == '\0') names.AddRange(Enumerable.Range(0, ellipsis).Select(i => $"...{ellipsis - i}"));
                else names.Add(c.ToString());
            for (int d = 0; d < names.Count; d++) sizes[names[d]] = Math.Max(sizes.GetValueOrDefault(names[d], 1), shapes[t][d]);
            _ = at;
        }
        return sizes.Values.Aggregate(1L, (p, v) => p * v);
    }

    [TestMethod]
    public void EveryZooNetworkRoundTripsThroughOnnxWithIdenticalLayersAndGraph()
    {
        foreach (var entry in Zoo.Entries)
        {
            var w = Zoo.Get(entry.Name);
            var back = OnnxImport.Read(OnnxExport.Write(w), $"{entry.Name}.onnx", new Dictionary<string, int>()).Workload;
            Assert.AreEqual(w.Name, back.Name);
            Assert.AreEqual(w.Description, back.Description);
            Assert.HasCount(w.Layers.Count, back.Layers, entry.Name);
            for (int i = 0; i < w.Layers.Count; i++)
            {
                var (a, b) = (w.Layers[i], back.Layers[i]);
                Assert.AreEqual(a.Name, b.Name, entry.Name);
                Assert.AreEqual(a.Kind, b.Kind, $"{entry.Name}/{a.Name}");
                Assert.AreEqual(Zoo.ShapeKey(a), Zoo.ShapeKey(b), $"{entry.Name}/{a.Name}");
                CollectionAssert.AreEqual(a.Tensors.Select(t => t.Id).ToList(), b.Tensors.Select(t => t.Id).ToList(), $"{entry.Name}/{a.Name}");
                StringAssert.StartsWith(b.Source, $"onnx node {a.Name} (");
            }
            CollectionAssert.AreEqual(w.Edges.Select(e => $"{e.Producer.Name}>{e.Consumer.Name}:{e.Tensor}").ToList(),
                back.Edges.Select(e => $"{e.Producer.Name}>{e.Consumer.Name}:{e.Tensor}").ToList(), entry.Name);
        }
    }

    [TestMethod]
    public void TheExportedResNet50WritesStandardOpsOnlyAndPoolsWhereTheZooSkipsPooling()
    {
        var model = OnnxExport.Model(Zoo.Get("resnet50"));
        var ops = model.Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        Assert.AreEqual(53, ops["Conv"]);
        Assert.AreEqual(1, ops["Gemm"]);
        Assert.AreEqual(2, ops["MaxPool"], "conv2_1_a and conv2_1_proj read conv1's output pooled to 56x56");
        Assert.IsFalse(model.Graph.Node.Any(n => n.Domain == OnnxImport.CustomDomain));
        Assert.IsFalse(model.Graph.Initializer.Any(), "weights are declared shapes without data");
        Assert.IsTrue(Zoo.Get("lstm").Layers.Any(l => l.Kind == "lstm-cell"));
        Assert.IsTrue(OnnxExport.Model(Zoo.Get("lstm")).Graph.Node.Any(n => n.Domain == OnnxImport.CustomDomain), "the LSTM cell's G*hidden+H index needs the custom op");
    }

    /// <summary>Runs the optimizer with a temporary output file (its path replaces "{file}" in the arguments), expects exit 0, and gives the file's lines to the check.</summary>
    private static void RunWithOutput(string name, string[] args, Action<string> check)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{Environment.ProcessId}-{name}");
        try
        {
            var (code, _, err) = CommandLine.Run([.. args.Select(a => a == "{file}" ? path : a)]);
            Assert.AreEqual(0, code, err);
            check(path);
        }
        finally { File.Delete(path); }
    }

    [TestMethod]
    public void MapAllLayersOnTheExportedResNet50GivesTheSameTableAsOnTheZooEntry()
        => RunWithOutput("resnet50.onnx", ["zoo", "--export", "resnet50", "--format", "onnx", "--output", "{file}"], path =>
        {
            var zoo = CommandLine.Run("map", "--arch", "simple-ws", "--workload", "resnet50", "--all-layers", "--solver", "descent");
            var onnx = CommandLine.Run("map", "--arch", "simple-ws", "--workload", path, "--all-layers", "--solver", "descent");
            Assert.AreEqual(zoo.Code, onnx.Code);
            var expected = Table(zoo.Out);
            Assert.HasCount(55, expected);
            CollectionAssert.AreEqual(expected, Table(onnx.Out));
        });

    [TestMethod]
    public void CsvRowsNameTheModelNodeOfEachLayer()
        => RunWithOutput("model.csv", ["map", "--arch", "simple-ws", "--workload", CommandLine.Example("model.mlir"), "--all-layers", "--solver", "descent", "--csv", "{file}"], csv =>
        {
            var lines = File.ReadAllLines(csv);
            StringAssert.EndsWith(lines[0], ",Source");
            StringAssert.Contains(lines[1], "model.mlir:7:3 linalg.matmul");
            StringAssert.Contains(lines[3], "model.mlir:11:3 linalg.conv_2d_nchw_fchw");
        });

    [TestMethod]
    public void ARegressBaselineWrittenBeforeTheSourceColumnStillReads()
        => RunWithOutput("regress.csv", ["regress", "--arch", "simple-ws", "--workload", "mlp", "--csv", "{file}"], csv =>
        {
            var lines = File.ReadAllLines(csv);
            StringAssert.EndsWith(lines[0], ",Source,Term");
            // A baseline from before the Source and Term columns: both cut off.
            File.WriteAllLines(csv, lines.Select(l => l[..l[..l.LastIndexOf(',')].LastIndexOf(',')]));
            var again = CommandLine.Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--baseline", csv);
            Assert.AreEqual(0, again.Code, again.Err);
            Assert.AreEqual("", again.Err);
        });

    [TestMethod]
    public void LoadingA500NodeGraphTakesUnderOneSecond()
    {
        var bytes = OnnxExport.Write(Zoo.Get("matmul-chain:500,m=64,k=64"));
        OnnxImport.Read(bytes, "warm-up.onnx", new Dictionary<string, int>());
        var clock = Stopwatch.StartNew();
        var w = OnnxImport.Read(bytes, "chain.onnx", new Dictionary<string, int>()).Workload;
        clock.Stop();
        Assert.HasCount(500, w.Layers);
        Assert.HasCount(499, w.Edges);
        Assert.IsLessThan(1.0, clock.Elapsed.TotalSeconds, $"{clock.Elapsed.TotalSeconds:0.###} s");
    }

    /// <summary>The rows of the table map --all-layers prints, without the seconds column.</summary>
    internal static List<string> Table(string output)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int header = lines.FindIndex(l => l.StartsWith("layer ", StringComparison.Ordinal) && l.Contains("status"));
        Assert.IsGreaterThanOrEqualTo(0, header, output);
        var rows = lines.Skip(header + 2).TakeWhile(l => l.Trim().Length > 0 && !l.StartsWith("Total", StringComparison.Ordinal))
            .Select(l => string.Join(" ", l.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipLast(1))).ToList();
        // The totals line, without its time.
        var total = lines.Single(l => l.StartsWith("Total", StringComparison.Ordinal));
        return [.. rows, total[..total.LastIndexOf(',')]];
    }

    // ---- bad input: one message naming the file and node, exit 2, no stack trace ----

    private static string Temp(string name, byte[] bytes)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{Environment.ProcessId}-{name}");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Refused(string path, params string[] expected)
    {
        try
        {
            var (code, _, err) = CommandLine.Run("zoo", path);
            Assert.AreEqual(2, code, err);
            StringAssert.Contains(err, Path.GetFileName(path.Split(':')[0]));
            foreach (var e in expected) StringAssert.Contains(err, e);
            Assert.DoesNotContain("   at ", err, "no stack trace");
            return err;
        }
        finally { File.Delete(path.Split(':')[0]); }
    }

    /// <summary>A one-Gemm model with a symbolic batch, for the cases below.</summary>
    private static ModelProto Small()
    {
        var model = OnnxExport.Model(Zoo.Get("mlp"));
        model.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "batch" };
        foreach (var v in model.Graph.ValueInfo.Concat(model.Graph.Output)) v.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "batch" };
        return model;
    }

    [TestMethod]
    public void ASymbolicDimensionNeedsAValueAndIsReportedByName()
    {
        Refused(Temp("sym.onnx", Small().ToByteArray()), "'batch'", "sym.onnx:batch=N", "node 'fc1' (Gemm)");
        var path = Temp("sym-ok.onnx", Small().ToByteArray());
        try
        {
            var w = ModelImport.Load(path + ":batch=4").Workload;
            Assert.AreEqual(4, w.Layers[0].Bound(new RankId("M")));
            Assert.AreEqual(4L * 784 * 512 + 4L * 512 * 256 + 4L * 256 * 10, w.Macs);
        }
        finally { File.Delete(path); }
        Refused(Temp("sym-typo.onnx", Small().ToByteArray()) + ":btch=4", "no symbolic dimension 'btch'", "batch");
    }

    [TestMethod]
    public void NotOnnxTruncatedOrAnUnsupportedOpsetIsRefused()
    {
        Refused(Temp("text.onnx", "workload:\n  name: x\n"u8.ToArray()), "not an ONNX model");
        var bytes = OnnxExport.Write(Zoo.Get("resnet50"));
        Refused(Temp("cut.onnx", bytes[..(bytes.Length / 2)]), "truncated");
        var model = OnnxExport.Model(Zoo.Get("mlp"));
        model.OpsetImport[0].Version = 99;
        Refused(Temp("opset.onnx", model.ToByteArray()), "opset 99");
    }

    [TestMethod]
    public void AnUnsupportedOpThatAnEinsumReadsIsRefusedAndOneNothingReadsIsListed()
    {
        var model = OnnxExport.Model(Zoo.Get("mlp"));
        var fc2 = model.Graph.Node.Single(n => n.Name == "fc2");
        var odd = new NodeProto { Name = "odd", OpType = "TopK" };
        odd.Input.Add("fc1_out");
        odd.Output.Add("odd_out");
        model.Graph.Node.Insert(1, odd);
        fc2.Input[0] = "odd_out";
        Refused(Temp("op.onnx", model.ToByteArray()), "node 'fc2' (Gemm)", "'odd' (TopK)", "not supported");

        var tail = OnnxExport.Model(Zoo.Get("mlp"));
        var argmax = new NodeProto { Name = "pick", OpType = "ArgMax" };
        argmax.Input.Add("fc3_out");
        argmax.Output.Add("label");
        tail.Graph.Node.Add(argmax);
        var path = Temp("tail.onnx", tail.ToByteArray());
        try
        {
            var (code, output, err) = CommandLine.Run("zoo", path);
            Assert.AreEqual(0, code, err);
            StringAssert.Contains(output, "pick");
            StringAssert.Contains(output, "op ArgMax is not supported");
        }
        finally { File.Delete(path); }
    }

    [TestMethod]
    public void InconsistentShapesBetweenNodesAreRefusedNamingTheNode()
    {
        var model = OnnxExport.Model(Zoo.Get("mlp"));
        model.Graph.ValueInfo.Single(v => v.Name == "fc1_out").Type.TensorType.Shape.Dim[1].DimValue = 500;
        Refused(Temp("shapes.onnx", model.ToByteArray()), "node 'fc1' (Gemm)", "inconsistent shapes", "[1, 500]");

        var weights = OnnxExport.Model(Zoo.Get("mlp"));
        weights.Graph.Input.Single(v => v.Name == "fc2_w").Type.TensorType.Shape.Dim[0].DimValue = 7;
        Refused(Temp("k.onnx", weights.ToByteArray()), "node 'fc2' (Gemm)", "do not share K");
    }

    [TestMethod]
    public void PassThroughNodesBecomeLinksBetweenEinsums()
    {
        var model = OnnxExport.Model(Zoo.Get("mlp"));
        // fc1 -> Relu -> Add(relu, bias) -> fc2: fc2 still reads fc1's output.
        var fc2 = model.Graph.Node.Single(n => n.Name == "fc2");
        var relu = new NodeProto { Name = "relu1", OpType = "Relu" };
        relu.Input.Add("fc1_out");
        relu.Output.Add("r1");
        var bias = new TensorProto { Name = "b1", DataType = (int)TensorProto.Types.DataType.Float };
        bias.Dims.Add(512);
        model.Graph.Initializer.Add(bias);
        var add = new NodeProto { Name = "bias1", OpType = "Add" };
        add.Input.Add("r1");
        add.Input.Add("b1");
        add.Output.Add("a1");
        model.Graph.Node.Insert(1, relu);
        model.Graph.Node.Insert(2, add);
        fc2.Input[0] = "a1";
        var imported = OnnxImport.Read(model.ToByteArray(), "links.onnx", new Dictionary<string, int>());
        CollectionAssert.Contains(imported.Workload.Edges.Select(e => $"{e.Producer.Name}>{e.Consumer.Name}").ToList(), "fc1>fc2");
        Assert.AreEqual("fc1_out", imported.Workload.Layer("fc2").Tensors[0].Id.Name);
        CollectionAssert.AreEqual(new[] { "relu1", "bias1" }, imported.Skipped.Select(s => s.Node).ToArray());
    }
}

/// <summary>The MLIR linalg front end (docs/frontends.md).</summary>
[TestClass]
public sealed class OnnxMlirTests
{
    [TestMethod]
    public void TheMlirExampleMapsToTheSameOptimumAsItsYamlTwin()
    {
        var mlir = ModelImport.Load(CommandLine.Example("model.mlir")).Workload;
        var yaml = WorkloadSpec.Load(CommandLine.Example("model.yaml"));
        CollectionAssert.AreEqual(yaml.Layers.Select(Zoo.ShapeKey).ToList(), mlir.Layers.Select(Zoo.ShapeKey).ToList());
        CollectionAssert.AreEqual(yaml.Edges.Select(e => $"{e.Producer.Name}>{e.Consumer.Name}:{e.Tensor}").ToList(),
            mlir.Edges.Select(e => $"{e.Producer.Name}>{e.Consumer.Name}:{e.Tensor}").ToList());
        var a = CommandLine.Run("map", "--arch", "simple-ws", "--workload", CommandLine.Example("model.mlir"), "--all-layers");
        var b = CommandLine.Run("map", "--arch", "simple-ws", "--workload", CommandLine.Example("model.yaml"), "--all-layers");
        Assert.AreEqual(0, a.Code, a.Err);
        Assert.AreEqual(0, b.Code, b.Err);
        var expected = OnnxTests.Table(b.Out);
        Assert.HasCount(5, expected, b.Out);
        Assert.IsTrue(expected.SkipLast(1).All(l => l.Contains("OPTIMAL")), b.Out);
        CollectionAssert.AreEqual(expected, OnnxTests.Table(a.Out));
    }

    private static ImportedModel Parse(string text) => MlirImport.Parse(text, "t.mlir");

    [TestMethod]
    public void AGenericOpIsTheEinsumOfItsIndexingMaps()
    {
        var m = Parse("""
            #a = affine_map<(d0, d1, d2) -> (d0, d2)>
            #b = affine_map<(d0, d1, d2) -> (d2, d1)>
            #c = affine_map<(d0, d1, d2) -> (d0, d1)>
            func.func @f(%x: tensor<8x4xf32>, %w: tensor<4x6xf32>, %o: tensor<8x6xf32>) -> tensor<8x6xf32> {
              %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<8x4xf32>, tensor<4x6xf32>) outs(%o : tensor<8x6xf32>) {
              ^bb0(%p: f32, %q: f32, %s: f32):
                %m = arith.mulf %p, %q : f32
                %t = arith.addf %s, %m : f32
                linalg.yield %t : f32
              } -> tensor<8x6xf32>
              %c = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0 * 2 + d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%v, %k : tensor<9xf32>, tensor<3xf32>) outs(%u : tensor<4xf32>) {
              ^bb0(%p: f32, %q: f32, %s: f32):
                linalg.yield %s : f32
              } -> tensor<4xf32>
              return %r : tensor<8x6xf32>
            }
            """);
        Assert.HasCount(2, m.Workload.Layers);
        var mm = m.Workload.Layers[0];
        Assert.AreEqual(8L * 6 * 4, mm.Macs);
        Assert.AreEqual("r[D0, D1] += x[D0, D2] * w[D2, D1]  (D0=8, D1=6, D2=4)", mm.ToString());
        Assert.AreEqual("c[D0] += v[D0*2 + D1] * k[D1]  (D0=4, D1=3)", m.Workload.Layers[1].ToString());
        StringAssert.StartsWith(mm.Source, "t.mlir:5:");
    }

    [TestMethod]
    public void BatchMatmulAndDepthwiseConvAndMemrefFormsRead()
    {
        var m = Parse("""
            func.func @f(%a: memref<2x8x4xf32>, %b: memref<2x4x5xf32>, %c: memref<2x8x5xf32>) {
              linalg.batch_matmul ins(%a, %b : memref<2x8x4xf32>, memref<2x4x5xf32>) outs(%c : memref<2x8x5xf32>)
              %d = linalg.depthwise_conv_2d_nhwc_hwc {strides = dense<2> : tensor<2xi64>, dilations = dense<1> : tensor<2xi64>} ins(%i, %f : tensor<1x9x9x16xf32>, tensor<3x3x16xf32>) outs(%o : tensor<1x4x4x16xf32>) -> tensor<1x4x4x16xf32>
              return
            }
            """);
        var bmm = m.Workload.Layers[0];
        Assert.AreEqual("batched-matmul", bmm.Kind);
        Assert.AreEqual(2L * 8 * 5 * 4, bmm.Macs);
        Assert.AreEqual("c", bmm.Output.Id.Name);
        var dw = m.Workload.Layers[1];
        Assert.AreEqual("depthwise", dw.Kind);
        Assert.AreEqual(16L * 4 * 4 * 9, dw.Macs);
    }

    [TestMethod]
    public void MlirThatDoesNotParseOrIsOutsideTheSubsetIsRefusedWithItsLine()
    {
        string Write(string name, string text)
        {
            var path = Path.Combine(Path.GetTempPath(), $"{Environment.ProcessId}-{name}");
            File.WriteAllText(path, text);
            return path;
        }
        void Refused(string path, params string[] expected)
        {
            try
            {
                var (code, _, err) = CommandLine.Run("zoo", path);
                Assert.AreEqual(2, code, err);
                StringAssert.Contains(err, Path.GetFileName(path));
                foreach (var e in expected) StringAssert.Contains(err, e);
                Assert.DoesNotContain("   at ", err);
            }
            finally { File.Delete(path); }
        }
        Refused(Write("unclosed.mlir", "func.func @f() {\n  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32> outs(%c : tensor<2x4xf32>)\n}\n"), "unclosed.mlir:2:", "never closed");
        Refused(Write("shapes.mlir", "func.func @f() {\n  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<5x4xf32>) outs(%c : tensor<2x4xf32>) -> tensor<2x4xf32>\n}\n"), "shapes.mlir:2:3", "inconsistent shapes");
        Refused(Write("dynamic.mlir", "func.func @f() {\n\n  %0 = linalg.matmul ins(%a, %b : tensor<?x3xf32>, tensor<3x4xf32>) outs(%c : tensor<2x4xf32>) -> tensor<2x4xf32>\n}\n"), "dynamic.mlir:3:", "'?'");
        Refused(Write("none.mlir", "this is not mlir at all\n"), "none.mlir:1:1", "not MLIR");
        Refused(Write("unsupported.mlir", "func.func @f() {\n  %s = tosa.sort %a : tensor<4xf32>\n  %0 = linalg.matmul ins(%s, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%c : tensor<2x4xf32>) -> tensor<2x4xf32>\n}\n"), "unsupported.mlir:3:3", "tosa.sort");
    }
}
