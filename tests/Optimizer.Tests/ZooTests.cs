using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Tests;

[TestClass]
public sealed class ZooTests
{
    [TestMethod]
    public void EveryEntryBuildsAConnectedAcyclicGraphWithWorkInEveryLayer()
    {
        foreach (var entry in Zoo.Entries)
        {
            var w = Zoo.Get(entry.Name);
            Assert.AreEqual(entry.Name, w.Name);
            Assert.AreEqual(entry.Description, w.Description);
            Assert.IsFalse(entry.Description.Contains('\n'), entry.Name);
            foreach (var layer in w.Layers) Assert.IsGreaterThan(0L, layer.Macs, $"{entry.Name}/{layer.Name}");

            // Topological order: every producer comes before its consumer (the constructor rejects cycles).
            var position = w.Layers.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
            foreach (var (producer, consumer, _) in w.Edges) Assert.IsLessThan(position[consumer], position[producer], entry.Name);

            // Weakly connected: one component over the edges.
            var component = w.Layers.ToDictionary(l => l, l => l);
            Einsum Root(Einsum l) => component[l] == l ? l : component[l] = Root(component[l]);
            foreach (var (producer, consumer, _) in w.Edges) component[Root(producer)] = Root(consumer);
            Assert.AreEqual(1, w.Layers.Select(Root).Distinct().Count(), $"{entry.Name} is not one connected graph");

            // Weights are never shared between layers.
            var weights = w.Layers.SelectMany(l => l.Tensors.Where(t => t.Role == TensorRole.Weights && !w.Layers.Any(p => p.Output.Id == t.Id)).Select(t => t.Id)).ToList();
            Assert.AreEqual(weights.Count, weights.Distinct().Count(), entry.Name);
        }
    }

    [TestMethod]
    public void ResNet50HasEveryConvAndTheFc()
    {
        var w = Zoo.Get("resnet50");
        Assert.HasCount(54, w.Layers);
        Assert.AreEqual(53, w.Layers.Count(l => l.Kind == "conv2d"));
        Assert.AreEqual(4, w.Layers.Count(l => l.Name.EndsWith("_proj")));
        // Sum over the layer shapes (P*Q*K*C*R*S per conv, plus 2048*1000 for the FC): 4.089 GMACs,
        // the published ~4.1 G multiply-adds of ResNet-50 v1.5.
        Assert.AreEqual(4_089_184_256L, w.Macs);

        var conv1 = w.Layer("conv1");
        Assert.AreEqual(112, conv1.Bound(new RankId("P")));
        Assert.AreEqual(7, conv1.Bound(new RankId("R")));
        Assert.AreEqual(2, conv1.Tensors.Single(t => t.Role == TensorRole.Inputs).Dims[2].CoefficientOf(new RankId("P")));

        // v1.5: the stride 2 sits in the 3x3 conv; the first 1x1 runs at the input resolution.
        var a = w.Layer("conv3_1_a");
        var b = w.Layer("conv3_1_b");
        Assert.AreEqual(56, a.Bound(new RankId("P")));
        Assert.AreEqual(28, b.Bound(new RankId("P")));
        Assert.AreEqual(2, b.Tensors.Single(t => t.Role == TensorRole.Inputs).Dims[2].CoefficientOf(new RankId("P")));
        Assert.AreEqual(28, w.Layer("conv3_1_proj").Bound(new RankId("P")));
        Assert.AreEqual(2048, w.Layer("conv5_3_c").Bound(new RankId("K")));

        // The block's first conv and its projection both read the previous block's last conv.
        Assert.AreEqual("conv2_3_c_out", a.Tensors.Single(t => t.Role == TensorRole.Inputs).Id.Name);
        var producers = w.Edges.Where(e => e.Consumer.Name is "conv3_1_a" or "conv3_1_proj").Select(e => e.Producer.Name).Distinct().ToList();
        CollectionAssert.AreEqual(new[] { "conv2_3_c" }, producers);
        Assert.AreEqual("conv5_3_c", w.Edges.Single(e => e.Consumer.Name == "fc").Producer.Name);
    }

    [TestMethod]
    public void BatchScalesTheWork()
    {
        Assert.AreEqual(4 * Zoo.Get("resnet50").Macs, Zoo.Get("resnet50:batch=4").Macs);
        Assert.AreEqual(2 * Zoo.Get("vgg16").Macs, Zoo.Get("vgg16:batch=2").Macs);
        Assert.AreEqual(3 * Zoo.Get("bert-base").Macs, Zoo.Get("bert-base:batch=3").Macs);
        Assert.AreEqual(4, Zoo.Get("mobilenetv2:BATCH=4").Layer("conv1").Bound(new RankId("N")));
    }

    [TestMethod]
    public void Vgg16AndMobileNetV2MatchThePublishedFigures()
    {
        var vgg = Zoo.Get("vgg16");
        Assert.HasCount(16, vgg.Layers);
        Assert.AreEqual(13, vgg.Layers.Count(l => l.Kind == "conv2d"));
        Assert.AreEqual(15_470_264_320L, vgg.Macs); // ~15.5 GMACs, as published
        Assert.AreEqual(25088, vgg.Layer("fc6").Bound(new RankId("K")));

        var mobile = Zoo.Get("mobilenetv2");
        // Stem conv, 17 blocks (the first without expansion: 2 + 16 * 3 convs), the 1x1 to 1280 and the FC.
        Assert.HasCount(53, mobile.Layers);
        Assert.AreEqual(17, mobile.Layers.Count(l => l.Kind == "depthwise"));
        Assert.AreEqual(300_774_272L, mobile.Macs); // ~300 M multiply-adds, as in the paper
        var dw = mobile.Layer("block6_1_dw");
        Assert.AreEqual(96 * 6, dw.Bound(new RankId("G")));
        Assert.AreEqual(7, dw.Bound(new RankId("P")));
    }

    [TestMethod]
    public void Gpt3LayerIsTenEinsumsWithTheRightBounds()
    {
        var w = Zoo.Get("gpt3-6.7b");
        CollectionAssert.AreEqual(new[] { "Copy", "Q", "K", "V", "QK", "Softmax", "AV", "Z", "FFA", "FFB" }, w.Layers.Select(l => l.Name).ToArray());

        string Shape(string layer) => string.Join(" ", w.Layer(layer).Ranks);
        Assert.AreEqual("B=1 M=8192 D=4096", Shape("Copy"));
        Assert.AreEqual("B=1 M=8192 H=32 E=128 D=4096", Shape("Q"));
        Assert.AreEqual("B=1 M=8192 P=8192 H=32 E=128", Shape("QK"));
        Assert.AreEqual("B=1 M=8192 P=8192 H=32", Shape("Softmax"));
        Assert.AreEqual("B=1 M=8192 H=32 F=128 P=8192", Shape("AV"));
        Assert.AreEqual("B=1 M=8192 G=4096 H=32 F=128", Shape("Z"));
        Assert.AreEqual("B=1 M=8192 C=16384 G=4096", Shape("FFA"));
        Assert.AreEqual("B=1 M=8192 J=4096 C=16384", Shape("FFB"));
        Assert.AreEqual("K[B, P, H, E]", w.Layer("QK").Tensors[1].ToString());
        Assert.AreEqual("V[B, P, H, F]", w.Layer("AV").Tensors[1].ToString());

        // Copy feeds Q, K and V; K feeds QK as its second operand.
        Assert.AreEqual(3, w.Edges.Count(e => e.Producer.Name == "Copy"));
        Assert.IsTrue(w.Edges.Any(e => e.Producer.Name == "K" && e.Consumer.Name == "QK"));
        Assert.HasCount(11, w.Edges);
        // m*d + 3*m*d*h*e + 2*h*m*p*e + h*m*p + m*g*h*f + 2*m*d*c = 2,201,204,293,632.
        Assert.AreEqual(2_201_204_293_632L, w.Macs);
        Assert.AreEqual(1024, Zoo.Get("gpt3-6.7b:tokens=1024,batch=2").Layer("QK").Bound(new RankId("P")));
    }

    [TestMethod]
    public void BertBaseIsOneConnectedEncoderLayer()
    {
        var w = Zoo.Get("bert-base");
        CollectionAssert.AreEqual(new[] { "Q", "K", "V", "QK", "Softmax", "AV", "O", "FF1", "FF2" }, w.Layers.Select(l => l.Name).ToArray());
        // 4*s*768^2 (Q, K, V, O) + 2*12*s*s*64 (QK, AV) + 12*s*s (softmax) + 2*s*768*3072 (FFN), s = 512.
        Assert.AreEqual(4_029_677_568L, w.Macs);
        Assert.AreEqual(128, Zoo.Get("bert-base:seq=128").Layer("QK").Bound(new RankId("P")));
    }

    [TestMethod]
    public void MatmulChainHasTheGivenLength()
    {
        var w = Zoo.Get("matmul-chain:4");
        Assert.HasCount(4, w.Layers);
        Assert.HasCount(3, w.Edges);
        Assert.AreEqual(4L * 8192 * 8192 * 8192, w.Macs);
        Assert.HasCount(2, Zoo.Get("matmul-chain").Layers);

        var small = Zoo.Get("matmul-chain:len=3,m=16,k=32");
        Assert.HasCount(3, small.Layers);
        Assert.AreEqual(3L * 16 * 32 * 32, small.Macs);
        Assert.AreEqual("T1", small.Edges[0].Tensor.Name);
    }

    [TestMethod]
    public void MlpAndLstmHaveTheDescribedShapes()
    {
        var mlp = Zoo.Get("mlp");
        Assert.HasCount(3, mlp.Layers);
        Assert.AreEqual(784L * 512 + 512 * 256 + 256 * 10, mlp.Macs);

        var lstm = Zoo.Get("lstm:hidden=256,input=128,batch=2");
        Assert.HasCount(3, lstm.Layers);
        var gates = lstm.Layer("gates");
        Assert.AreEqual(4 * 256, gates.Bound(new RankId("N")));
        Assert.AreEqual(128 + 256, gates.Bound(new RankId("K")));
        Assert.AreEqual(2L * 256 * 4, lstm.Layer("cell").Macs);
        Assert.AreEqual(2L * 256, lstm.Layer("hidden").Macs);
        // The cell update reads all 4*hidden gate columns.
        var cell = lstm.Layer("cell");
        Assert.AreEqual(4L * 256 * 2, cell.TensorWords(cell.FindTensor(new TensorId("Gates"))!));
        Assert.HasCount(2, lstm.Edges);
    }

    [TestMethod]
    public void BadSpecsGiveErrorsNamingTheProblem()
    {
        Assert.IsFalse(Zoo.TryGet("resnet51", out var w, out var error));
        Assert.IsNull(w);
        StringAssert.Contains(error, "resnet51");
        StringAssert.Contains(error, "resnet50");
        StringAssert.Contains(error, "matmul-chain");

        Assert.IsFalse(Zoo.TryGet("resnet50:bach=2", out _, out error));
        StringAssert.Contains(error, "bach");
        StringAssert.Contains(error, "batch");

        Assert.IsFalse(Zoo.TryGet("vgg16:batch=0", out _, out error));
        StringAssert.Contains(error, "batch");
        StringAssert.Contains(error, "'0'");

        Assert.IsFalse(Zoo.TryGet("bert-base:seq=-3", out _, out error));
        StringAssert.Contains(error, "seq");

        Assert.IsFalse(Zoo.TryGet("matmul-chain:len=x", out _, out error));
        StringAssert.Contains(error, "len");

        Assert.IsFalse(Zoo.TryGet("resnet50:4", out _, out error));
        StringAssert.Contains(error, "'4'");

        Assert.IsFalse(Zoo.TryGet("matmul-chain:3,len=4", out _, out error));
        StringAssert.Contains(error, "twice");

        Assert.IsFalse(Zoo.TryGet("lstm:hidden=1000000000", out _, out error));
        StringAssert.Contains(error, "lstm");
        Assert.IsFalse(error.Contains('\n'));

        var thrown = Assert.ThrowsExactly<ArgumentException>(() => Zoo.Get("mlp:width=3"));
        StringAssert.Contains(thrown.Message, "width");
        Assert.ThrowsExactly<ArgumentException>(() => Zoo.Entries.Single(e => e.Name == "mlp").Build(new Dictionary<string, string> { ["batch"] = "two" }));
    }

    [TestMethod]
    public void DistinctShapesGroupsRepeatedLayers()
    {
        var w = Zoo.Get("resnet50");
        var shapes = Zoo.DistinctShapes(w);
        Assert.IsLessThan(w.Layers.Count, shapes.Count);
        Assert.AreEqual(w.Layers.Count, shapes.Sum(s => s.Count));
        Assert.AreEqual("conv1", shapes[0].Layer.Name);
        Assert.AreEqual(1, shapes[0].Count);
        // conv2_2_a and conv2_3_a share a shape (256 -> 64 at 56x56); conv2_1_a (64 -> 64) does not.
        var group = shapes.Single(s => s.Layer.Name == "conv2_2_a");
        Assert.AreEqual(2, group.Count);
        // conv4_x repeats its 3x3 conv five times after the strided one.
        Assert.AreEqual(5, shapes.Single(s => s.Layer.Name == "conv4_2_b").Count);

        // Q, K and V of the GPT-3 layer have one shape, whatever their tensors are called.
        var gpt = Zoo.DistinctShapes(Zoo.Get("gpt3-6.7b"));
        Assert.HasCount(8, gpt);
        Assert.AreEqual(3, gpt.Single(s => s.Layer.Name == "Q").Count);
    }
}
