using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Optimizer.Workloads;

/// <summary>
/// One network of the built-in zoo: its name, a one-line description, its parameters with their
/// defaults (such as <c>batch=1</c>), and a builder that takes parameter values as text and uses
/// the defaults for the ones it is not given (throwing <see cref="ArgumentException"/> for an unknown or
/// non-positive one).
/// </summary>
public sealed record ZooEntry(string Name, string Description, string Parameters, Func<IReadOnlyDictionary<string, string>, Workload> Build);

/// <summary>
/// The built-in networks, looked up by a spec such as <c>resnet50</c>, <c>bert-base:seq=128,batch=4</c>
/// or <c>matmul-chain:4</c>. Layers have stable names (<c>conv2_1_a</c>, <c>fc</c>, <c>QK</c>); each layer writes a tensor of its own
/// (<c>{layer}_out</c> for the CNNs) and reads the tensor of the layer that feeds it, so the workload is
/// one connected graph. Pooling, normalization, activations and residual adds carry no MACs in our
/// model and are left out.
/// </summary>
public static class Zoo
{
    // The parameter a bare number in a spec sets, for the networks that have one.
    private static readonly Dictionary<string, string> PositionalParameter = new() { ["matmul-chain"] = "len" };

    /// <summary>The networks, in the order they are listed to users.</summary>
    public static IReadOnlyList<ZooEntry> Entries { get; } =
    [
        Entry("resnet50",
            "ResNet-50 v1.5 (He et al. 2016, torchvision shapes, 224x224 input): all 53 convolutions (stride 2 in the 3x3 conv, projection conv in each stage's first block) and the 2048->1000 FC as a GEMM; max-pool, average-pool, batch-norm, ReLU and residual adds are skipped, so conv2_1 reads conv1's output as if pooled to 56x56.",
            "batch=1", p => ResNet50(p["batch"])),
        Entry("vgg16",
            "VGG-16 (Simonyan and Zisserman 2015, configuration D, 224x224 input): 13 3x3 same-padded convolutions and 3 FCs (25088->4096->4096->1000) as GEMMs; max-pools and ReLUs are skipped, so each stage's first conv reads the previous conv's output as if pooled.",
            "batch=1", p => Vgg16(p["batch"])),
        Entry("mobilenetv2",
            "MobileNetV2 (Sandler et al. 2018, width 1.0, 224x224 input): the 3x3/2 stem conv, the 17 inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 project), the 1x1 320->1280 conv and the 1280->1000 FC as a GEMM; batch-norm, ReLU6, pooling and residual adds are skipped.",
            "batch=1", p => MobileNetV2(p["batch"])),
        Entry("bert-base",
            "One BERT-base encoder layer (Devlin et al. 2019: 768 hidden, 12 heads of 64, FFN 3072): Q, K and V projections per head, attention QK, softmax and AV, the output projection, and the two FFN GEMMs; layer norms, GELU and residual adds are skipped.",
            "seq=512,batch=1", p => BertBase(p["seq"], p["batch"])),
        Entry("gpt3-6.7b",
            "One GPT-3 6.7B decoder layer (Brown et al. 2020: d=4096, 32 heads of 128, FFN 16384) as ten Einsums: input copy, Q, K and V projections, QK, softmax, AV, output projection Z, and the FFN GEMMs FFA and FFB; layer norms, GELU and residual adds are skipped.",
            "tokens=8192,batch=1", p => Gpt3(p["tokens"], p["batch"])),
        Entry("matmul-chain",
            "A chain of len matrix multiplies T{i+1}[m,k] = T{i}[m,k] * W{i}[k,k], each feeding the next (a bare number, as in matmul-chain:4, sets len); a synthetic fusion benchmark.",
            "len=2,m=8192,k=8192", p => MatmulChain(p["len"], p["m"], p["k"])),
        Entry("mlp",
            "A small 3-layer MLP, 784->512->256->10 (MNIST-sized), as three GEMMs; activations are skipped.",
            "batch=1", p => Mlp(p["batch"])),
        Entry("mlp-l",
            "MLP-L (PRIME, Chi et al. 2016; one of the networks of the nn_dataflow set that the Tangram and KAPLA multi-node studies use): 784->1500->1000->500->10 as four GEMMs fc1..fc4, batch 64 by default (the batch is the GEMMs' M); activations are skipped. The plain mlp entry is a smaller 3-layer MLP.",
            "batch=64", p => MlpL(p["batch"])),
        Entry("lstm",
            "One LSTM cell step: the gate GEMM [x_t, h_t-1] (input+hidden) -> 4*hidden, the cell update c = f*c_prev + i*g as a reduction over the 4 gates (reading gate column g*hidden+h), and h = o*tanh(c) as an elementwise Einsum over batch x hidden.",
            "batch=1,hidden=1024,input=1024", p => Lstm(p["batch"], p["hidden"], p["input"])),
    ];

    /// <summary>
    /// Looks up a network by a spec <c>name</c> or <c>name:key=value,key=value</c> (for matmul-chain a bare
    /// number is the chain length); on failure returns false with a one-line error naming what is wrong.
    /// </summary>
    public static bool TryGet(string spec, [NotNullWhen(true)] out Workload? workload, out string error)
    {
        workload = null;
        var colon = spec.IndexOf(':');
        var name = (colon < 0 ? spec : spec[..colon]).Trim();
        var entry = Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));
        if (entry is null)
        {
            error = $"Unknown network '{name}'; the zoo has: {string.Join(", ", Entries.Select(e => e.Name))}.";
            return false;
        }
        var given = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (colon >= 0)
            foreach (var item in spec[(colon + 1)..].Split(',').Select(i => i.Trim()))
            {
                var eq = item.IndexOf('=');
                string key, value;
                if (eq >= 0) (key, value) = (item[..eq].Trim(), item[(eq + 1)..].Trim());
                else if (PositionalParameter.TryGetValue(entry.Name, out var positional)) (key, value) = (positional, item);
                else
                {
                    error = $"Parameter '{item}' of network {entry.Name} is not key=value; its parameters (with defaults): {entry.Parameters}.";
                    return false;
                }
                if (!given.TryAdd(key, value))
                {
                    error = $"Parameter '{key}' of network {entry.Name} is given twice; its parameters (with defaults): {entry.Parameters}.";
                    return false;
                }
            }
        if (Resolve(entry.Name, entry.Parameters, given, out error) is null) return false;
        try
        {
            workload = entry.Build(given);
        }
        catch (Exception ex) when (ex is ArgumentException or OverflowException)
        {
            error = $"Network {entry.Name} cannot be built from '{spec}': {ex.Message.ReplaceLineEndings(" ")}";
            return false;
        }
        return true;
    }

    /// <summary>Looks up a network like <see cref="TryGet"/>, throwing <see cref="ArgumentException"/> with the same message on failure.</summary>
    public static Workload Get(string spec)
        => TryGet(spec, out var workload, out var error) ? workload : throw new ArgumentException(error, nameof(spec));

    /// <summary>A key equal for two layers exactly when they have the same shape: kind, rank bounds, and each tensor's role and index expressions (tensor names aside).</summary>
    public static string ShapeKey(Einsum layer)
        => $"{layer.Kind}|{string.Join(",", layer.Ranks)}|{string.Join(";", layer.Tensors.Select(t => $"{t.Role}[{string.Join(",", t.Dims)}]"))}";

    /// <summary>
    /// The layers grouped by identical shape (kind, rank bounds, and each tensor's role and index
    /// expressions, whatever the tensors are named): the first layer of each group and the group's size,
    /// in layer order.
    /// </summary>
    public static IReadOnlyList<(Einsum Layer, int Count)> DistinctShapes(Workload w)
    {
        var groups = new List<(Einsum Layer, int Count)>();
        var groupOf = new Dictionary<string, int>();
        foreach (var layer in w.Layers)
        {
            var key = ShapeKey(layer);
            if (groupOf.TryGetValue(key, out var i)) groups[i] = (groups[i].Layer, groups[i].Count + 1);
            else
            {
                groupOf[key] = groups.Count;
                groups.Add((layer, 1));
            }
        }
        return groups;
    }

    private static ZooEntry Entry(string name, string description, string parameters, Func<IReadOnlyDictionary<string, int>, IEnumerable<Einsum>> layers)
        => new(name, description, parameters,
            given => new Workload(name, description, layers(Resolve(name, parameters, given, out var error) ?? throw new ArgumentException(error, nameof(given)))));

    /// <summary>The parameter values: the defaults from <paramref name="parameters"/> overridden by the given ones; null with an error when one is unknown or not a positive integer.</summary>
    private static IReadOnlyDictionary<string, int>? Resolve(string network, string parameters, IReadOnlyDictionary<string, string> given, out string error)
    {
        var values = parameters.Split(',').Select(kv => kv.Split('='))
            .ToDictionary(kv => kv[0], kv => int.Parse(kv[1], CultureInfo.InvariantCulture), StringComparer.OrdinalIgnoreCase);
        foreach (var (key, text) in given)
        {
            if (!values.ContainsKey(key))
            {
                error = $"Network {network} has no parameter '{key}'; its parameters (with defaults): {parameters}.";
                return null;
            }
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1)
            {
                error = $"Parameter '{key}' of network {network} must be a positive integer, but is '{text}'; its parameters (with defaults): {parameters}.";
                return null;
            }
            values[key] = value;
        }
        error = "";
        return values;
    }

    private static IEnumerable<Einsum> ResNet50(int batch)
    {
        var layers = new List<Einsum> { Conv("conv1", batch, 3, 64, 112, 7, 2, "image") };
        var feed = "conv1_out";
        var channels = 64;
        (int Blocks, int Mid, int Out, int Size)[] stages = [(3, 64, 256, 56), (4, 128, 512, 28), (6, 256, 1024, 14), (3, 512, 2048, 7)];
        for (var stage = 0; stage < stages.Length; stage++)
        {
            var (blocks, mid, outChannels, size) = stages[stage];
            for (var block = 1; block <= blocks; block++)
            {
                var prefix = $"conv{stage + 2}_{block}";
                var stride = block == 1 && stage > 0 ? 2 : 1;
                layers.Add(Conv($"{prefix}_a", batch, channels, mid, size * stride, 1, 1, feed));
                layers.Add(Conv($"{prefix}_b", batch, mid, mid, size, 3, stride, $"{prefix}_a_out"));
                layers.Add(Conv($"{prefix}_c", batch, mid, outChannels, size, 1, 1, $"{prefix}_b_out"));
                if (block == 1) layers.Add(Conv($"{prefix}_proj", batch, channels, outChannels, size, 1, stride, feed));
                feed = $"{prefix}_c_out";
                channels = outChannels;
            }
        }
        layers.Add(Fc("fc", batch, 2048, 1000, feed));
        return layers;
    }

    private static IEnumerable<Einsum> Vgg16(int batch)
    {
        var layers = new List<Einsum>();
        var feed = "image";
        var channels = 3;
        (int Channels, int Size, int Convs)[] stages = [(64, 224, 2), (128, 112, 2), (256, 56, 3), (512, 28, 3), (512, 14, 3)];
        for (var stage = 0; stage < stages.Length; stage++)
            for (var conv = 1; conv <= stages[stage].Convs; conv++)
            {
                var name = $"conv{stage + 1}_{conv}";
                layers.Add(Conv(name, batch, channels, stages[stage].Channels, stages[stage].Size, 3, 1, feed));
                feed = $"{name}_out";
                channels = stages[stage].Channels;
            }
        layers.Add(Fc("fc6", batch, 512 * 7 * 7, 4096, feed));
        layers.Add(Fc("fc7", batch, 4096, 4096, "fc6_out"));
        layers.Add(Fc("fc8", batch, 4096, 1000, "fc7_out"));
        return layers;
    }

    private static IEnumerable<Einsum> MobileNetV2(int batch)
    {
        var layers = new List<Einsum> { Conv("conv1", batch, 3, 32, 112, 3, 2, "image") };
        var feed = "conv1_out";
        var channels = 32;
        var size = 112;
        (int Expansion, int Channels, int Repeats, int Stride)[] blocks =
            [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
        for (var b = 0; b < blocks.Length; b++)
        {
            var (expansion, outChannels, repeats, firstStride) = blocks[b];
            for (var repeat = 1; repeat <= repeats; repeat++)
            {
                var prefix = $"block{b + 1}_{repeat}";
                var stride = repeat == 1 ? firstStride : 1;
                var hidden = channels * expansion;
                if (expansion != 1)
                {
                    layers.Add(Conv($"{prefix}_expand", batch, channels, hidden, size, 1, 1, feed));
                    feed = $"{prefix}_expand_out";
                }
                size /= stride;
                layers.Add(Conv($"{prefix}_dw", batch, 1, 1, size, 3, stride, feed, groups: hidden));
                layers.Add(Conv($"{prefix}_project", batch, hidden, outChannels, size, 1, 1, $"{prefix}_dw_out"));
                feed = $"{prefix}_project_out";
                channels = outChannels;
            }
        }
        layers.Add(Conv("conv_last", batch, channels, 1280, size, 1, 1, feed));
        layers.Add(Fc("fc", batch, 1280, 1000, "conv_last_out"));
        return layers;
    }

    private static IEnumerable<Einsum> BertBase(int seq, int batch)
    {
        const int Heads = 12, HeadDim = 64, Model = 768, Ffn = 3072;
        var bounds = Bounds(("b", batch), ("m", seq), ("h", Heads), ("e", HeadDim), ("d", Model), ("g", Model), ("c", Ffn), ("j", Model));
        return
        [
            Custom("Q", "projection", bounds, "Q[b,h,m,e]", "X[b,m,d]", "WQ[h,e,d]"),
            Custom("K", "projection", bounds, "K[b,h,m,e]", "X[b,m,d]", "WK[h,e,d]"),
            Custom("V", "projection", bounds, "V[b,h,m,e]", "X[b,m,d]", "WV[h,e,d]"),
            .. Layers.Attention("", batch, Heads, seq, HeadDim),
            Custom("O", "projection", bounds, "O[b,m,g]", "AV[b,h,m,e]", "WO[h,e,g]"),
            Custom("FF1", "gemm", bounds, "FF1[b,m,c]", "O[b,m,g]", "W1[g,c]"),
            Custom("FF2", "gemm", bounds, "FF2[b,m,j]", "FF1[b,m,c]", "W2[c,j]"),
        ];
    }

    private static IEnumerable<Einsum> Gpt3(int tokens, int batch)
    {
        const int Heads = 32, HeadDim = 128, Model = 4096, Ffn = 16384;
        var bounds = Bounds(("b", batch), ("m", tokens), ("p", tokens), ("h", Heads), ("e", HeadDim), ("f", HeadDim),
            ("d", Model), ("g", Model), ("c", Ffn), ("j", Model));
        return
        [
            Layers.Elementwise("Copy", [("B", batch), ("M", tokens), ("D", Model)], "X", "I", "copy"),
            Custom("Q", "projection", bounds, "Q[b,m,h,e]", "I[b,m,d]", "WQ[h,e,d]"),
            Custom("K", "projection", bounds, "K[b,m,h,e]", "I[b,m,d]", "WK[h,e,d]"),
            Custom("V", "projection", bounds, "V[b,m,h,e]", "I[b,m,d]", "WV[h,e,d]"),
            Custom("QK", "attention-qk", bounds, "QK[b,m,p,h]", "Q[b,m,h,e]", "K[b,p,h,e]"),
            Layers.Elementwise("Softmax", [("B", batch), ("M", tokens), ("P", tokens), ("H", Heads)], "QK", "A", "softmax"),
            Custom("AV", "attention-av", bounds, "AV[b,m,h,f]", "A[b,m,p,h]", "V[b,p,h,f]"),
            Custom("Z", "projection", bounds, "Z[b,m,g]", "AV[b,m,h,f]", "WZ[h,f,g]"),
            Custom("FFA", "gemm", bounds, "FFA[b,m,c]", "Z[b,m,g]", "WA[g,c]"),
            Custom("FFB", "gemm", bounds, "FFB[b,m,j]", "FFA[b,m,c]", "WB[c,j]"),
        ];
    }

    private static IEnumerable<Einsum> MatmulChain(int length, int m, int k)
        => Enumerable.Range(0, length).Select(i => Layers.Gemm($"mm{i}", m, k, k, a: $"T{i}", b: $"W{i}", z: $"T{i + 1}"));

    private static IEnumerable<Einsum> Mlp(int batch)
        =>
        [
            Fc("fc1", batch, 784, 512, "X"),
            Fc("fc2", batch, 512, 256, "fc1_out"),
            Fc("fc3", batch, 256, 10, "fc2_out"),
        ];

    private static IEnumerable<Einsum> MlpL(int batch)
        =>
        [
            Fc("fc1", batch, 784, 1500, "X"),
            Fc("fc2", batch, 1500, 1000, "fc1_out"),
            Fc("fc3", batch, 1000, 500, "fc2_out"),
            Fc("fc4", batch, 500, 10, "fc3_out"),
        ];

    private static IEnumerable<Einsum> Lstm(int batch, int hidden, int input)
    {
        RankId b = new("B"), h = new("H"), g = new("G");
        var cell = new Einsum("cell", "lstm-cell", [new Rank(b, batch), new Rank(h, hidden), new Rank(g, 4)],
        [
            new TensorSpec(new TensorId("Gates"), TensorRole.Inputs, [AffineExpr.Of(b), AffineExpr.Window(g, hidden, h, 1)]),
            new TensorSpec(new TensorId("C_prev"), TensorRole.Weights, [AffineExpr.Of(b), AffineExpr.Of(h)]),
            new TensorSpec(new TensorId("C"), TensorRole.Outputs, [AffineExpr.Of(b), AffineExpr.Of(h)]),
        ]);
        return
        [
            Layers.Gemm("gates", batch, checked(4 * hidden), checked(input + hidden), a: "XH", b: "W", z: "Gates"),
            cell,
            Layers.Elementwise("hidden", [("B", batch), ("H", hidden)], "C", "H", "lstm-hidden"),
        ];
    }

    /// <summary>A square convolution reading <paramref name="input"/> and writing <c>{name}_out</c> with weights <c>{name}_w</c>; <paramref name="size"/> is the output height and width.</summary>
    private static Einsum Conv(string name, int batch, int c, int k, int size, int kernel, int stride, string input, int groups = 1)
        => Layers.Conv2d(name, batch, c, k, size, size, kernel, kernel, stride, groups: groups,
            inputs: input, weights: $"{name}_w", outputs: $"{name}_out");

    /// <summary>A fully connected layer as the GEMM <c>{name}_out[batch,out] = input[batch,in] * {name}_w[in,out]</c>.</summary>
    private static Einsum Fc(string name, int batch, int inFeatures, int outFeatures, string input)
        => Layers.Gemm(name, batch, outFeatures, inFeatures, a: input, b: $"{name}_w", z: $"{name}_out");

    private static Dictionary<string, int> Bounds(params (string Index, int Bound)[] bounds)
        => bounds.ToDictionary(x => x.Index, x => x.Bound);

    /// <summary>
    /// An Einsum written in index notation, <c>output = input * weights</c> with tensors such as
    /// <c>Q[b,m,h,e]</c>: each lower-case index is the rank of that name in upper case, bounded by
    /// <paramref name="bounds"/>; ranks are declared in order of first appearance.
    /// </summary>
    private static Einsum Custom(string name, string kind, IReadOnlyDictionary<string, int> bounds, string output, string input, string weights)
    {
        var parsed = new[] { (Text: output, Role: TensorRole.Outputs), (Text: input, Role: TensorRole.Inputs), (Text: weights, Role: TensorRole.Weights) }
            .Select(t => (Name: t.Text[..t.Text.IndexOf('[')], Indices: t.Text[(t.Text.IndexOf('[') + 1)..^1].Split(','), t.Role))
            .ToList();
        static RankId RankOf(string index) => new(index.ToUpperInvariant());
        return new Einsum(name, kind,
            parsed.SelectMany(t => t.Indices).Distinct().Select(i => new Rank(RankOf(i), bounds[i])),
            parsed.Select(t => new TensorSpec(new TensorId(t.Name), t.Role, t.Indices.Select(i => AffineExpr.Of(RankOf(i))))));
    }
}
