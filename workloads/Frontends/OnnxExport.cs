using Google.Protobuf;
using Onnx;

namespace Optimizer.Workloads.Frontends;

/// <summary>
/// Writes a workload as an ONNX model that <see cref="OnnxImport"/> reads back to the same layers and graph
/// (docs/frontends.md): each layer as the standard op that reads back to it (Conv, Gemm, MatMul, Einsum), else as
/// the custom op <c>org.optimizer.Einsum</c> that spells out ranks and indices; weights and inputs as declared
/// shapes without data. Where a layer reads a tensor in another shape than its producer writes (the zoo leaves out
/// pooling and flattening), a MaxPool, GlobalAveragePool, Flatten or Reshape node makes the shapes meet.
/// </summary>
public static class OnnxExport
{
    private const int Opset = 17;

    /// <summary>The ONNX model of the workload, serialized.</summary>
    public static byte[] Write(Workload workload) => Model(workload).ToByteArray();

    /// <summary>The ONNX model of the workload.</summary>
    public static ModelProto Model(Workload workload)
    {
        var graph = new GraphProto { Name = workload.Name };
        var model = new ModelProto { IrVersion = 8, ProducerName = "optimizer", DocString = workload.Description, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        var consumed = workload.Layers.SelectMany(l => l.Tensors.Where(t => !t.IsOutput)).Select(t => t.Id.Name).ToHashSet(StringComparer.Ordinal);
        var shapes = new Dictionary<string, int[]?>(StringComparer.Ordinal);
        var custom = false;
        foreach (var layer in workload.Layers)
        {
            var (node, needs, output, kind) = Node(layer);
            custom |= node.Domain == OnnxImport.CustomDomain;
            for (int i = 0; i < needs.Count; i++)
            {
                var tensor = node.Input[i];
                if (!shapes.TryGetValue(tensor, out var have))
                {
                    shapes[tensor] = needs[i];
                    graph.Input.Add(Value(tensor, needs[i] ?? [.. layer.Tensors[i].Dims.Select(_ => 0)]));
                    continue;
                }
                if (needs[i] is { } need && have is not null && !have.SequenceEqual(need))
                    node.Input[i] = Adapt(graph, tensor, have, need, layer.Name);
            }
            graph.Node.Add(node);
            shapes[layer.Output.Id.Name] = output;
            (consumed.Contains(layer.Output.Id.Name) ? graph.ValueInfo : graph.Output).Add(Value(layer.Output.Id.Name, output));
            if (kind != layer.Kind) model.MetadataProps.Add(new StringStringEntryProto { Key = OnnxImport.KindKey + layer.Name, Value = layer.Kind });
        }
        if (custom) model.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxImport.CustomDomain, Version = 1 });
        return model;
    }

    /// <summary>The node of one layer, the shape each input must have (null: any), its output shape, and the kind the reader gives it.</summary>
    private static (NodeProto Node, List<int[]?> Needs, int[] Output, string Kind) Node(Einsum layer)
    {
        if (AsConv(layer) is { } conv) return conv;
        if (AsIndexed(layer) is { } indexed) return indexed;
        var node = new NodeProto { Name = layer.Name, OpType = "Einsum", Domain = OnnxImport.CustomDomain };
        foreach (var t in layer.Tensors.Where(t => !t.IsOutput)) node.Input.Add(t.Id.Name);
        node.Output.Add(layer.Output.Id.Name);
        node.Attribute.Add(new AttributeProto { Name = "kind", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(layer.Kind) });
        node.Attribute.Add(Strings("ranks", layer.Ranks.Select(r => $"{r.Id.Name}={r.Bound}")));
        node.Attribute.Add(Strings("indices", layer.Tensors.Select(t => string.Join(";", t.Dims))));
        node.Attribute.Add(Strings("roles", layer.Tensors.Where(t => !t.IsOutput).Select(t => t.Role.ToString().ToLowerInvariant())));
        return (node, [.. layer.Tensors.Where(t => !t.IsOutput).Select(_ => (int[]?)null)], [.. layer.Output.Dims.Select(d => layer.Bound(d.Terms[0].Rank))], layer.Kind);
    }

    /// <summary>The layer as a Conv node when the reader's Conv gives the same Einsum.</summary>
    private static (NodeProto, List<int[]?>, int[], string)? AsConv(Einsum layer)
    {
        var dims = layer.HasRank(new RankId("O")) ? 3 : layer.HasRank(new RankId("Q")) ? 2 : 1;
        if (layer.Tensors.Count != 3 || layer.Tensors[1].Role != TensorRole.Inputs || layer.Tensors[1].Dims.Count != dims + (layer.HasRank(new RankId("G")) ? 3 : 2)) return null;
        try
        {
            int B(string r) => layer.Bound(new RankId(r));
            int groups = layer.HasRank(new RankId("G")) ? B("G") : 1;
            var outNames = Layers.ConvOutputRanks[dims - 1];
            var kernelNames = Layers.ConvKernelRanks[dims - 1];
            var windows = layer.Tensors[1].Dims.TakeLast(dims).ToList();
            var strides = windows.Select((w, i) => w.CoefficientOf(new RankId(outNames[i]))).ToArray();
            var dilations = windows.Select((w, i) => w.CoefficientOf(new RankId(kernelNames[i]))).ToArray();
            var outs = outNames.Select(B).ToArray();
            var kernel = kernelNames.Select(B).ToArray();
            var again = Layers.Conv(layer.Name, B("N"), B("C"), B("K"), outs, kernel, strides, dilations, groups,
                layer.Tensors[1].Id.Name, layer.Tensors[0].Id.Name, layer.Output.Id.Name);
            if (!Same(layer, again)) return null;
            var input = outs.Select((o, i) => checked(o * strides[i])).ToArray();
            var pads = new long[2 * dims];
            for (int i = 0; i < dims; i++)
            {
                long total = Math.Max(0, (long)(outs[i] - 1) * strides[i] + (long)dilations[i] * (kernel[i] - 1) + 1 - input[i]);
                pads[i] = total / 2;
                pads[i + dims] = total - total / 2;
            }
            var node = new NodeProto { Name = layer.Name, OpType = "Conv" };
            node.Input.Add(layer.Tensors[1].Id.Name);
            node.Input.Add(layer.Tensors[0].Id.Name);
            node.Output.Add(layer.Output.Id.Name);
            node.Attribute.Add(Ints("kernel_shape", kernel.Select(k => (long)k)));
            node.Attribute.Add(Ints("strides", strides.Select(s => (long)s)));
            node.Attribute.Add(Ints("dilations", dilations.Select(d => (long)d)));
            node.Attribute.Add(Ints("pads", pads));
            node.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = groups });
            int channelsIn = checked(groups * B("C")), channelsOut = checked(groups * B("K"));
            return (node, [[B("N"), channelsIn, .. input], [channelsOut, B("C"), .. kernel]], [B("N"), channelsOut, .. outs], again.Kind);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The layer as a Gemm, MatMul or Einsum node when every index is one rank and the reader gives the same Einsum.</summary>
    private static (NodeProto, List<int[]?>, int[], string)? AsIndexed(Einsum layer)
    {
        var operands = layer.Tensors.Where(t => !t.IsOutput).ToList();
        if (operands.Count > 2 || operands[0].Role != TensorRole.Inputs || (operands.Count == 2 && operands[1].Role != TensorRole.Weights)) return null;
        if (layer.Tensors.Any(t => t.Dims.Any(d => d.Terms.Count != 1 || d.Terms[0].Coefficient != 1))) return null;
        List<string> Index(TensorSpec t) => [.. t.Dims.Select(d => d.Terms[0].Rank.Name)];
        var bounds = layer.Ranks.ToDictionary(r => r.Id.Name, r => r.Bound);
        var names = operands.Select(o => o.Id.Name).ToList();
        var indices = operands.Select(o => (IReadOnlyList<string>)Index(o)).ToList();
        var output = Index(layer.Output);
        var needs = operands.Select(o => (int[]?)[.. Index(o).Select(r => bounds[r])]).ToList();
        int[] outShape = [.. output.Select(r => bounds[r])];
        NodeProto Make(string op)
        {
            var node = new NodeProto { Name = layer.Name, OpType = op };
            node.Input.AddRange(names);
            node.Output.Add(layer.Output.Id.Name);
            return node;
        }
        bool Reads(string kind, IReadOnlyList<IReadOnlyList<string>> ix, IReadOnlyList<string> outIx)
        {
            try { return Same(layer, Layers.Indexed(layer.Name, kind, ix, outIx, bounds, names, layer.Output.Id.Name)); }
            catch (Exception e) when (e is ArgumentException or KeyNotFoundException) { return false; }
        }
        if (operands.Count == 2 && Reads("gemm", [["M", "K"], ["K", "N"]], ["M", "N"])) return (Make("Gemm"), needs, outShape, "gemm");
        if (operands.Count == 2 && Reads("batched-matmul", [["B", "M", "K"], ["B", "K", "N"]], ["B", "M", "N"]))
            return (Make("MatMul"), needs, outShape, "batched-matmul");
        bool letters = layer.Ranks.All(r => r.Id.Name.Length == 1 && char.IsAsciiLetterUpper(r.Id.Name[0]));
        if (!letters || !Reads("einsum", indices, output)) return null;
        var einsum = Make("Einsum");
        var equation = string.Join(",", indices.Select(i => string.Concat(i).ToLowerInvariant())) + "->" + string.Concat(output).ToLowerInvariant();
        einsum.Attribute.Add(new AttributeProto { Name = "equation", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(equation) });
        return (einsum, needs, outShape, "einsum");
    }

    /// <summary>True when two Einsums have the same name, shape and tensor names.</summary>
    private static bool Same(Einsum a, Einsum b)
        => a.Name == b.Name && Zoo.ShapeKey(a).Split('|', 2)[1] == Zoo.ShapeKey(b).Split('|', 2)[1] && a.Tensors.Select(t => t.Id).SequenceEqual(b.Tensors.Select(t => t.Id));

    /// <summary>Nodes that turn <paramref name="tensor"/> of shape <paramref name="have"/> into <paramref name="need"/> for one consumer; the name of the result.</summary>
    private static string Adapt(GraphProto graph, string tensor, int[] have, int[] need, string consumer)
    {
        string Add(string op, string input, int[] shape, params AttributeProto[] attributes)
        {
            var name = $"{tensor}.{op.ToLowerInvariant()}.{consumer}";
            var node = new NodeProto { Name = name, OpType = op };
            node.Input.Add(input);
            node.Output.Add(name);
            node.Attribute.AddRange(attributes);
            graph.Node.Add(node);
            graph.ValueInfo.Add(Value(name, shape));
            return name;
        }
        string Pool(string input, int[] factors)
        {
            var shape = have.Select((h, i) => i < 2 ? h : h / factors[i - 2]).ToArray();
            return Add("MaxPool", input, shape, Ints("kernel_shape", factors.Select(f => (long)f)), Ints("strides", factors.Select(f => (long)f)));
        }
        long Count(IEnumerable<int> s) => s.Aggregate(1L, (p, v) => checked(p * v));
        bool batchAndChannels = have.Length >= 3 && need.Length >= 2 && have[0] == need[0] && have[1] == need[1];
        if (batchAndChannels && need.Length == have.Length && have.Skip(2).Zip(need.Skip(2)).All(p => p.Second > 0 && p.First % p.Second == 0))
            return Pool(tensor, [.. have.Skip(2).Zip(need.Skip(2)).Select(p => p.First / p.Second)]);
        if (have.Length >= 3 && need.Length == 2 && have[0] == need[0])
        {
            var flatten = new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 };
            if (need[1] == have[1])
                return Add("Flatten", Add("GlobalAveragePool", tensor, [have[0], have[1], .. have.Skip(2).Select(_ => 1)]), need, flatten);
            if (Count(have.Skip(1)) == need[1]) return Add("Flatten", tensor, need, flatten);
            for (int f = 2; f <= have.Skip(2).Min(); f++)
                if (have.Skip(2).All(h => h % f == 0) && checked(have[1] * Count(have.Skip(2).Select(h => h / f))) == need[1])
                    return Add("Flatten", Pool(tensor, [.. have.Skip(2).Select(_ => f)]), need, flatten);
        }
        if (Count(have) == Count(need))
        {
            var shapeName = $"{tensor}.shape.{consumer}";
            var shape = new TensorProto { Name = shapeName, DataType = (int)TensorProto.Types.DataType.Int64 };
            shape.Dims.Add(need.Length);
            shape.Int64Data.AddRange(need.Select(v => (long)v));
            graph.Initializer.Add(shape);
            var reshaped = Add("Reshape", tensor, need);
            graph.Node[^1].Input.Add(shapeName);
            return reshaped;
        }
        throw new ArgumentException($"Layer {consumer} reads '{tensor}' as [{string.Join(", ", need)}] but it is [{string.Join(", ", have)}], and no pooling, flattening or reshaping node turns one into the other.");
    }

    private static ValueInfoProto Value(string name, int[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var d in shape) tensorShape.Dim.Add(d > 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension());
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape } } };
    }

    private static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto Strings(string name, IEnumerable<string> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings };
        a.Strings.AddRange(values.Select(ByteString.CopyFromUtf8));
        return a;
    }
}
