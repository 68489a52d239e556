using System.Globalization;
using Google.Protobuf;
using Onnx;
using Optimizer.Workloads.Specs;

namespace Optimizer.Workloads.Frontends;

/// <summary>
/// Reads an ONNX model (protobuf, parsed by OnnxSharp) as a workload: Conv, Gemm, MatMul and Einsum nodes become
/// Einsums, the element-wise and shape-only nodes between them become links (docs/frontends.md), every other node
/// is listed with the reason it was left out. Shapes come from the declared shapes and initializers, else they are
/// inferred node by node; a declared shape that disagrees with the inferred one is an error.
/// </summary>
public static class OnnxImport
{
    /// <summary>The operator-set versions of the default domain this reader accepts.</summary>
    public const int MinOpset = 6, MaxOpset = 22;
    /// <summary>The domain of the one custom op, an Einsum written out rank by rank, for layers no standard op expresses.</summary>
    public const string CustomDomain = "org.optimizer";
    /// <summary>The metadata key prefix that keeps a layer's kind when it differs from what its op gives.</summary>
    public const string KindKey = "optimizer:kind:";

    /// <summary>Nodes that pass their first input through unchanged in shape.</summary>
    internal static readonly HashSet<string> Unary = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu", "Selu", "Celu", "Gelu", "Erf",
        "Softmax", "LogSoftmax", "Softplus", "Softsign", "Mish", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil",
        "Round", "Sign", "Dropout", "Identity", "Cast", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN",
    };
    /// <summary>Element-wise nodes whose inputs broadcast against each other.</summary>
    internal static readonly HashSet<string> Broadcast = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean" };
    /// <summary>Pooling and shape-only nodes the reader infers shapes through.</summary>
    internal static readonly HashSet<string> Shaping = new(StringComparer.Ordinal)
    {
        "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose", "Concat",
        "Squeeze", "Unsqueeze", "ReduceMean", "ReduceSum", "ReduceMax", "Pad",
    };

    /// <summary>Reads the bytes of an ONNX file; <paramref name="values"/> gives symbolic dimensions their values.</summary>
    public static ImportedModel Read(byte[] bytes, string file, IReadOnlyDictionary<string, int> values)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw ModelImport.Error(file, "", $"not an ONNX model, or a truncated one (the protobuf does not parse: {e.Message})");
        }
        if (model.IrVersion <= 0 || model.Graph is null || model.Graph.Node.Count == 0)
            throw ModelImport.Error(file, "", "not an ONNX model, or a truncated one (no IR version or no graph with nodes)");
        foreach (var opset in model.OpsetImport)
            if (opset.Domain is "" or "ai.onnx" && (opset.Version < MinOpset || opset.Version > MaxOpset))
                throw ModelImport.Error(file, "opset_import", $"opset {opset.Version} of the default domain is not supported (supported: {MinOpset} to {MaxOpset})");
        return new Reader(model, file, values).Run();
    }

    private sealed class Reader(ModelProto model, string file, IReadOnlyDictionary<string, int> values)
    {
        private readonly GraphLinks _links = new();
        private readonly Dictionary<string, int[]> _known = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (int?[] Dims, string?[] Symbols)> _declared = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long[]> _constants = new(StringComparer.Ordinal);
        private readonly HashSet<string> _constantLike = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _unsupported = new(StringComparer.Ordinal);
        private readonly List<Einsum> _layers = [];
        private readonly List<SkippedNode> _skipped = [];
        private readonly HashSet<string> _symbolsSeen = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _kinds = model.MetadataProps.Where(p => p.Key.StartsWith(KindKey, StringComparison.Ordinal))
            .ToDictionary(p => p.Key[KindKey.Length..], p => p.Value, StringComparer.Ordinal);

        public ImportedModel Run()
        {
            var g = model.Graph;
            foreach (var init in g.Initializer)
            {
                _known[init.Name] = [.. init.Dims.Select(d => checked((int)d))];
                _constantLike.Add(init.Name);
                if (init.DataType is (int)TensorProto.Types.DataType.Int64 or (int)TensorProto.Types.DataType.Int32) _constants[init.Name] = IntData(init);
            }
            foreach (var v in g.Input.Concat(g.ValueInfo).Concat(g.Output)) Declare(v);
            var unused = values.Keys.Where(k => !_symbolsSeen.Contains(k)).Order(StringComparer.Ordinal).ToList();
            if (unused.Count > 0)
                throw ModelImport.Error(file, "", $"the model has no symbolic dimension {string.Join(", ", unused.Select(u => $"'{u}'"))}; its symbolic dimensions: {(_symbolsSeen.Count == 0 ? "none" : string.Join(", ", _symbolsSeen.Order(StringComparer.Ordinal)))}");
            for (int i = 0; i < g.Node.Count; i++) Node(g.Node[i], i);

            // A node whose op is not supported and whose output an Einsum or a link reads has stopped the reading already.
            var skipped = _skipped;
            if (_layers.Count == 0)
                throw ModelImport.Error(file, "", "no node of the model is an Einsum (Conv, Gemm, MatMul, Einsum); nodes left out: " +
                    string.Join("; ", skipped.Take(8).Select(s => $"{s.Node} ({s.Op}): {s.Reason}")) + (skipped.Count > 8 ? "; ..." : ""));
            var name = ModelImport.Name(g.Name, Path.GetFileNameWithoutExtension(file));
            var description = model.DocString.Length > 0 ? model.DocString : $"ONNX model {Path.GetFileName(file)}";
            try
            {
                return new ImportedModel(new Workload(name, description, _layers), skipped);
            }
            catch (ArgumentException e)
            {
                throw ModelImport.Error(file, "", e.Message);
            }
        }

        private void Declare(ValueInfoProto v)
        {
            if (v.Type?.TensorType?.Shape is not { } shape || _known.ContainsKey(v.Name)) return;
            var dims = new int?[shape.Dim.Count];
            var symbols = new string?[shape.Dim.Count];
            for (int i = 0; i < dims.Length; i++)
            {
                var d = shape.Dim[i];
                if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0) dims[i] = checked((int)d.DimValue);
                else if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam && d.DimParam.Length > 0)
                {
                    _symbolsSeen.Add(d.DimParam);
                    symbols[i] = d.DimParam;
                    if (values.TryGetValue(d.DimParam, out var value)) dims[i] = value;
                }
            }
            _declared.TryAdd(v.Name, (dims, symbols));
        }

        private static string Label(NodeProto n, int index) => n.Name.Length > 0 ? n.Name : $"#{index}";

        private SpecException Error(NodeProto n, int index, string message)
            => ModelImport.Error(file, $"node '{Label(n, index)}' ({n.OpType})", message);

        /// <summary>The shape of a tensor a node reads: inferred, else declared with every dimension known.</summary>
        private int[] Shape(NodeProto n, int index, string tensor)
        {
            if (_unsupported.TryGetValue(tensor, out var producer))
                throw Error(n, index, $"reads '{tensor}', the output of node {producer}, whose op is not supported (docs/frontends.md lists the ops)");
            if (_known.TryGetValue(tensor, out var s)) return s;
            if (_declared.TryGetValue(tensor, out var d))
            {
                for (int i = 0; i < d.Dims.Length; i++)
                    if (d.Dims[i] is null)
                        throw Error(n, index, d.Symbols[i] is { } sym
                            ? $"dimension {i} of '{tensor}' is the symbol '{sym}': give its value, as {Path.GetFileName(file)}:{sym}=N"
                            : $"dimension {i} of '{tensor}' has no value and cannot be inferred");
                return _known[tensor] = [.. d.Dims.Select(x => x!.Value)];
            }
            throw Error(n, index, $"the shape of its input '{tensor}' is neither declared nor inferable");
        }

        /// <summary>Records an output's inferred shape, checking it against the declared one.</summary>
        private void SetShape(NodeProto n, int index, string tensor, int[] shape)
        {
            if (_declared.TryGetValue(tensor, out var d))
            {
                bool same = d.Dims.Length == shape.Length && d.Dims.Select((x, i) => x is null || x == shape[i]).All(b => b);
                if (!same)
                    throw Error(n, index, $"inconsistent shapes: output '{tensor}' is declared [{string.Join(", ", d.Dims.Select((x, i) => x?.ToString(CultureInfo.InvariantCulture) ?? d.Symbols[i] ?? "?"))}] but the node's inputs give [{string.Join(", ", shape)}]");
            }
            _known[tensor] = shape;
        }

        private void Skip(NodeProto n, int index, string reason) => _skipped.Add(new SkippedNode(Label(n, index), n.OpType, reason));

        private void Node(NodeProto n, int index)
        {
            if (n.Domain == CustomDomain && n.OpType == "Einsum") { Custom(n, index); return; }
            if (n.Domain is not ("" or "ai.onnx"))
            {
                Unsupported(n, index, $"domain '{n.Domain}' is not supported");
                return;
            }
            if (n.OpType is "Conv" or "Gemm" or "MatMul" && (n.Input.Count < 2 || n.Output.Count < 1))
                throw Error(n, index, "needs two inputs and an output");
            switch (n.OpType)
            {
                case "Conv": Conv(n, index); return;
                case "Gemm": Gemm(n, index); return;
                case "MatMul": MatMul(n, index); return;
                case "Einsum": EinsumNode(n, index); return;
                case "Constant": ConstantNode(n, index); return;
            }
            if (Unary.Contains(n.OpType) || Broadcast.Contains(n.OpType) || Shaping.Contains(n.OpType)) { PassThrough(n, index); return; }
            Unsupported(n, index, $"op {n.OpType} is not supported and no Einsum reads its output");
        }

        private void Unsupported(NodeProto n, int index, string reason)
        {
            foreach (var o in n.Output) _unsupported[o] = $"'{Label(n, index)}' ({n.OpType})";
            Skip(n, index, reason);
        }

        private void ConstantNode(NodeProto n, int index)
        {
            var value = n.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
            if (value is null) { Unsupported(n, index, "a Constant without a tensor value is not supported"); return; }
            _known[n.Output[0]] = [.. value.Dims.Select(d => checked((int)d))];
            _constantLike.Add(n.Output[0]);
            if (value.DataType is (int)TensorProto.Types.DataType.Int64 or (int)TensorProto.Types.DataType.Int32) _constants[n.Output[0]] = IntData(value);
            Skip(n, index, "constant");
        }

        private static long[] IntData(TensorProto t)
        {
            if (t.Int64Data.Count > 0) return [.. t.Int64Data];
            if (t.Int32Data.Count > 0) return [.. t.Int32Data.Select(x => (long)x)];
            var raw = t.RawData.ToByteArray();
            int width = t.DataType == (int)TensorProto.Types.DataType.Int64 ? 8 : 4;
            return [.. Enumerable.Range(0, raw.Length / width).Select(i => width == 8 ? BitConverter.ToInt64(raw, i * 8) : BitConverter.ToInt32(raw, i * 4))];
        }

        private AttributeProto? Attr(NodeProto n, string name) => n.Attribute.FirstOrDefault(a => a.Name == name);
        private long Int(NodeProto n, string name, long fallback) => Attr(n, name) is { } a ? a.I : fallback;
        private long[]? Ints(NodeProto n, string name) => Attr(n, name) is { } a ? [.. a.Ints] : null;

        /// <summary>The Einsum's name: the node's, else its first output's; the source names the node.</summary>
        private Einsum Add(NodeProto n, int index, Einsum e, int[] outputShape)
        {
            var named = e.With(e.Name, _kinds.TryGetValue(n.Name, out var k) ? k : e.Kind, $"onnx node {Label(n, index)} ({n.OpType})");
            _layers.Add(named);
            SetShape(n, index, n.Output[0], outputShape);
            return named;
        }

        private string LayerName(NodeProto n) => _links.LayerName(n.Name, n.Output.Count > 0 && n.Output[0].Length > 0 ? n.Output[0] : n.OpType);

        private string Operand(NodeProto n, int index, int input)
        {
            if (n.Input.Count <= input || n.Input[input].Length == 0) throw Error(n, index, $"input {input} is missing");
            return ModelImport.Name(_links.Root(n.Input[input]), $"input{input}");
        }

        private T Build<T>(NodeProto n, int index, Func<T> build)
        {
            try { return build(); }
            catch (ArgumentException e) { throw Error(n, index, e.Message); }
            catch (OverflowException) { throw Error(n, index, "a size is too large"); }
        }

        private void Conv(NodeProto n, int index)
        {
            var x = Shape(n, index, n.Input[0]);
            var w = Shape(n, index, n.Input[1]);
            int dims = x.Length - 2;
            if (dims is < 1 or > 3) throw Error(n, index, $"a Conv over {dims} spatial dimensions is not supported (1 to 3)");
            if (w.Length != x.Length) throw Error(n, index, $"inconsistent shapes: input [{string.Join(", ", x)}] and weights [{string.Join(", ", w)}] differ in rank");
            int groups = (int)Int(n, "group", 1);
            if (groups < 1 || x[1] != checked(w[1] * groups) || w[0] % groups != 0)
                throw Error(n, index, $"inconsistent shapes: {x[1]} input channels, weights [{string.Join(", ", w)}] and group {groups} do not agree (weights are [out, in/group, kernel...])");
            var kernel = w[2..];
            if (Ints(n, "kernel_shape") is { } ks && !ks.Select(v => (int)v).SequenceEqual(kernel))
                throw Error(n, index, $"inconsistent shapes: kernel_shape [{string.Join(", ", ks)}] but weights [{string.Join(", ", w)}]");
            var (outs, strides, dilations) = Window(n, index, x[2..], kernel, false);
            var e = Build(n, index, () => Layers.Conv(LayerName(n), x[0], x[1] / groups, w[0] / groups, outs, kernel, strides, dilations, groups,
                Operand(n, index, 0), Operand(n, index, 1), n.Output[0]));
            Add(n, index, e, [x[0], w[0], .. outs]);
        }

        /// <summary>The output sizes, strides and dilations of a sliding window (Conv, pooling) from its attributes.</summary>
        private (int[] Outs, int[] Strides, int[] Dilations) Window(NodeProto n, int index, int[] input, int[] kernel, bool pooling)
        {
            int dims = input.Length;
            int[] Per(string name) => Ints(n, name) is { } v
                ? (v.Length == dims ? [.. v.Select(x => checked((int)x))] : throw Error(n, index, $"attribute {name} has {v.Length} values for {dims} spatial dimensions"))
                : [.. Enumerable.Repeat(1, dims)];
            var strides = Per("strides");
            var dilations = Per("dilations");
            var pads = Ints(n, "pads") ?? new long[2 * dims];
            if (pads.Length != 2 * dims) throw Error(n, index, $"attribute pads has {pads.Length} values for {dims} spatial dimensions");
            var autoPad = Attr(n, "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
            bool ceil = pooling && Int(n, "ceil_mode", 0) != 0;
            var outs = new int[dims];
            for (int i = 0; i < dims; i++)
            {
                if (strides[i] < 1 || dilations[i] < 1) throw Error(n, index, "strides and dilations must be positive");
                long span = (long)dilations[i] * (kernel[i] - 1) + 1;
                long o = autoPad switch
                {
                    "SAME_UPPER" or "SAME_LOWER" => (input[i] + strides[i] - 1) / strides[i],
                    "VALID" => (input[i] - span) / strides[i] + 1,
                    "NOTSET" or "" => (long)Math.Floor((input[i] + pads[i] + pads[i + dims] - span) / (double)strides[i]) + 1
                                      + (ceil && (input[i] + pads[i] + pads[i + dims] - span) % strides[i] != 0 ? 1 : 0),
                    _ => throw Error(n, index, $"auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"),
                };
                if (o < 1) throw Error(n, index, $"inconsistent shapes: the window ({span} wide, stride {strides[i]}) does not fit spatial dimension {i} of size {input[i]}");
                outs[i] = checked((int)o);
            }
            return (outs, strides, dilations);
        }

        private void Gemm(NodeProto n, int index)
        {
            var a = Shape(n, index, n.Input[0]);
            var b = Shape(n, index, n.Input[1]);
            if (a.Length != 2 || b.Length != 2) throw Error(n, index, $"inconsistent shapes: Gemm takes two matrices, got [{string.Join(", ", a)}] and [{string.Join(", ", b)}]");
            bool ta = Int(n, "transA", 0) != 0, tb = Int(n, "transB", 0) != 0;
            int m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
            int k2 = tb ? b[1] : b[0], nn = tb ? b[0] : b[1];
            if (k != k2) throw Error(n, index, $"inconsistent shapes: A [{string.Join(", ", a)}]{(ta ? " transposed" : "")} and B [{string.Join(", ", b)}]{(tb ? " transposed" : "")} do not share K ({k} vs {k2})");
            var bounds = new Dictionary<string, int> { ["M"] = m, ["N"] = nn, ["K"] = k };
            var e = Build(n, index, () => Layers.Indexed(LayerName(n), "gemm",
                [ta ? ["K", "M"] : ["M", "K"], tb ? ["N", "K"] : ["K", "N"]], ["M", "N"], bounds,
                [Operand(n, index, 0), Operand(n, index, 1)], n.Output[0]));
            Add(n, index, e, [m, nn]);
        }

        private void MatMul(NodeProto n, int index)
        {
            var a = Shape(n, index, n.Input[0]);
            var b = Shape(n, index, n.Input[1]);
            if (a.Length == 0 || b.Length == 0 || (a.Length == 1 && b.Length == 1))
                throw Error(n, index, "a MatMul of scalars or of two vectors is not supported");
            int k = a[^1], k2 = b.Length == 1 ? b[0] : b[^2];
            if (k != k2) throw Error(n, index, $"inconsistent shapes: [{string.Join(", ", a)}] x [{string.Join(", ", b)}] do not share K ({k} vs {k2})");
            var aBatch = a.Length > 2 ? a[..^2] : [];
            var bBatch = b.Length > 2 ? b[..^2] : [];
            var batch = BroadcastShapes(n, index, aBatch, bBatch);
            var batchNames = batch.Length == 1 ? ["B"] : Enumerable.Range(1, batch.Length).Select(i => $"B{i}").ToArray();
            var bounds = new Dictionary<string, int> { ["K"] = k };
            for (int i = 0; i < batch.Length; i++) bounds[batchNames[i]] = batch[i];
            List<string> BatchIndex(int[] own) => [.. own.Select((size, i) => (size, name: batchNames[batch.Length - own.Length + i]))
                .Where(x => x.size == bounds[x.name]).Select(x => x.name)];
            var ai = BatchIndex(aBatch);
            var bi = BatchIndex(bBatch);
            var outIdx = new List<string>(batchNames);
            var outShape = new List<int>(batch);
            if (a.Length >= 2) { ai.Add("M"); bounds["M"] = a[^2]; outIdx.Add("M"); outShape.Add(a[^2]); }
            ai.Add("K");
            bi.Add("K");
            if (b.Length >= 2) { bi.Add("N"); bounds["N"] = b[^1]; outIdx.Add("N"); outShape.Add(b[^1]); }
            var e = Build(n, index, () => Layers.Indexed(LayerName(n), batch.Length > 0 ? "batched-matmul" : "gemm", [ai, bi], outIdx, bounds,
                [Operand(n, index, 0), Operand(n, index, 1)], n.Output[0]));
            Add(n, index, e, [.. outShape]);
        }

        private int[] BroadcastShapes(NodeProto n, int index, params int[][] shapes)
        {
            int rank = shapes.Max(s => s.Length);
            var result = new int[rank];
            for (int i = 0; i < rank; i++)
            {
                int size = 1;
                foreach (var s in shapes)
                {
                    int j = i - (rank - s.Length);
                    if (j < 0 || s[j] == 1) continue;
                    if (size != 1 && size != s[j])
                        throw Error(n, index, $"inconsistent shapes: {string.Join(" and ", shapes.Select(x => $"[{string.Join(", ", x)}]"))} do not broadcast");
                    size = s[j];
                }
                result[i] = size;
            }
            return result;
        }

        private void EinsumNode(NodeProto n, int index)
        {
            var equation = (Attr(n, "equation")?.S.ToStringUtf8() ?? throw Error(n, index, "the equation attribute is missing")).Replace(" ", "");
            var arrow = equation.IndexOf("->", StringComparison.Ordinal);
            var terms = (arrow < 0 ? equation : equation[..arrow]).Split(',');
            if (terms.Length != n.Input.Count) throw Error(n, index, $"the equation '{equation}' has {terms.Length} operands but the node {n.Input.Count} inputs");
            if (terms.Length > 2) { Unsupported(n, index, "an Einsum of more than two operands is not supported"); return; }
            var shapes = n.Input.Select(i => Shape(n, index, i)).ToArray();
            // Each term as letters, with "..." expanded to broadcast dimensions named _1, _2, ... (right-aligned).
            int ellipsis = 0;
            for (int t = 0; t < terms.Length; t++)
                if (terms[t].Contains("...", StringComparison.Ordinal)) ellipsis = Math.Max(ellipsis, shapes[t].Length - (terms[t].Length - 3));
            var ellipsisNames = Enumerable.Range(1, ellipsis).Select(i => $"_{i}").ToList();
            List<string> Expand(string term, int rank)
            {
                var list = new List<string>();
                for (int i = 0; i < term.Length; i++)
                {
                    if (term.AsSpan(i).StartsWith("...")) { list.AddRange(ellipsisNames.Skip(ellipsis - (rank - (term.Length - 3)))); i += 2; }
                    else if (char.IsAsciiLetter(term[i])) list.Add(char.IsAsciiLetterLower(term[i]) ? char.ToUpperInvariant(term[i]).ToString() : term[i] + "_");
                    else throw Error(n, index, $"the equation '{equation}' has the character '{term[i]}'");
                }
                return list;
            }
            var operands = terms.Select((t, i) => Expand(t, shapes[i].Length)).ToList();
            var bounds = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int t = 0; t < operands.Count; t++)
            {
                if (operands[t].Count != shapes[t].Length)
                    throw Error(n, index, $"inconsistent shapes: term '{terms[t]}' of '{equation}' has {operands[t].Count} indices but input '{n.Input[t]}' is [{string.Join(", ", shapes[t])}]");
                for (int d = 0; d < shapes[t].Length; d++)
                {
                    var r = operands[t][d];
                    if (bounds.TryGetValue(r, out var have) && have != shapes[t][d] && have != 1 && shapes[t][d] != 1)
                        throw Error(n, index, $"inconsistent shapes: index {r} of '{equation}' is {have} in one place and {shapes[t][d]} in another");
                    bounds[r] = Math.Max(have, shapes[t][d]);
                }
            }
            List<string> output;
            if (arrow >= 0) output = Expand(equation[(arrow + 2)..], ellipsis + equation[(arrow + 2)..].Replace("...", "").Length);
            else output = [.. ellipsisNames, .. operands.SelectMany(o => o).Where(r => !r.StartsWith('_')).GroupBy(r => r).Where(g => g.Count() == 1).Select(g => g.Key).Order(StringComparer.Ordinal)];
            foreach (var r in output)
                if (!bounds.ContainsKey(r)) throw Error(n, index, $"the output of '{equation}' has index {r}, which no operand has");
            // Size-1 broadcast dimensions of an operand are left out of its index; a scalar gets a rank of bound 1.
            var indices = operands.Select((o, t) => (IReadOnlyList<string>)o.Where((r, d) => shapes[t][d] == bounds[r]).ToList()).ToList();
            var outShape = output.Select(r => bounds[r]).ToArray();
            if (output.Count == 0 || indices.Any(i => i.Count == 0))
            {
                bounds["_0"] = 1;
                if (output.Count == 0) output = ["_0"];
                indices = [.. indices.Select(i => i.Count == 0 ? (IReadOnlyList<string>)["_0"] : i)];
            }
            var e = Build(n, index, () => Layers.Indexed(LayerName(n), "einsum", indices, output, bounds,
                [.. n.Input.Select((_, i) => Operand(n, index, i))], n.Output[0]));
            Add(n, index, e, outShape);
        }

        private void Custom(NodeProto n, int index)
        {
            string[] Strings(string name) => Attr(n, name) is { } a ? [.. a.Strings.Select(s => s.ToStringUtf8())] : throw Error(n, index, $"attribute {name} is missing");
            var ranks = Strings("ranks");
            var indices = Strings("indices");
            var roles = Strings("roles");
            var kind = Attr(n, "kind")?.S.ToStringUtf8() ?? "einsum";
            if (indices.Length != n.Input.Count + 1 || roles.Length != n.Input.Count)
                throw Error(n, index, $"needs one index per input and output and one role per input ({n.Input.Count} inputs)");
            var e = Build(n, index, () =>
            {
                var rankList = ranks.Select(r => r.Split('=')).Select(p => new Rank(new RankId(p[0]), int.Parse(p[1], CultureInfo.InvariantCulture))).ToList();
                var tensors = n.Input.Select((t, i) => new TensorSpec(new TensorId(ModelImport.Name(_links.Root(t), $"input{i}")),
                        WorkloadSpec.ParseRole(roles[i]) ?? throw new ArgumentException($"role '{roles[i]}' is not inputs or weights"), ParseIndex(indices[i])))
                    .Append(new TensorSpec(new TensorId(n.Output[0]), TensorRole.Outputs, ParseIndex(indices[^1])));
                return new Einsum(LayerName(n), kind, rankList, tensors);
            });
            Add(n, index, e, [.. e.Output.Dims.Select(d => e.Bound(d.Terms[0].Rank))]);
        }

        /// <summary>Parses an index list as the custom op writes it: dimensions separated by ';', each terms 'Rank' or 'Rank*c' joined by '+'.</summary>
        private static IEnumerable<AffineExpr> ParseIndex(string text)
            => text.Split(';').Select(dim => new AffineExpr(dim.Split('+', StringSplitOptions.TrimEntries).Select(term =>
            {
                var star = term.IndexOf('*');
                return star < 0 ? new AffineTerm(new RankId(term), 1)
                    : new AffineTerm(new RankId(term[..star].Trim()), int.Parse(term[(star + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
            })));

        private void PassThrough(NodeProto n, int index)
        {
            var data = n.Input.Where(i => i.Length > 0).ToList();
            if (data.Count == 0) throw Error(n, index, "the node has no input");
            // Only the data operand (input 0) of shape ops is a link; their other inputs are parameters.
            var linked = Broadcast.Contains(n.OpType) || n.OpType == "Concat" ? data : [data[0]];
            var shapes = linked.Select(t => Shape(n, index, t)).ToArray();
            var shape = OutputShape(n, index, shapes);
            SetShape(n, index, n.Output[0], shape);
            var activation = linked.FirstOrDefault(t => !_constantLike.Contains(_links.Root(t)));
            if (activation is null)
            {
                _constantLike.Add(n.Output[0]);
                Skip(n, index, "computes on constants only");
                return;
            }
            _links.Alias(n.Output[0], activation);
            var dropped = linked.Where(t => t != activation && !_constantLike.Contains(_links.Root(t))).ToList();
            Skip(n, index, $"{(Unary.Contains(n.OpType) || Broadcast.Contains(n.OpType) ? "element-wise" : "shape-only")}: '{n.Output[0]}' carried as '{_links.Root(activation)}'"
                + (dropped.Count > 0 ? $" (link from {string.Join(", ", dropped.Select(d => $"'{_links.Root(d)}'"))} not carried)" : ""));
        }

        private long[]? ConstantInput(NodeProto n, int input) => n.Input.Count > input && _constants.TryGetValue(n.Input[input], out var v) ? v : null;

        private int[] OutputShape(NodeProto n, int index, int[][] shapes)
        {
            var x = shapes[0];
            int Axis(long a, int rank) => (int)(a < 0 ? a + rank : a);
            switch (n.OpType)
            {
                case var op when Unary.Contains(op): return x;
                case var op when Broadcast.Contains(op): return BroadcastShapes(n, index, shapes);
                case "GlobalAveragePool" or "GlobalMaxPool": return [x[0], x[1], .. x[2..].Select(_ => 1)];
                case "MaxPool" or "AveragePool" or "LpPool":
                {
                    var kernel = Ints(n, "kernel_shape") ?? throw Error(n, index, "attribute kernel_shape is missing");
                    return [x[0], x[1], .. Window(n, index, x[2..], [.. kernel.Select(k => (int)k)], true).Outs];
                }
                case "Flatten":
                {
                    int axis = Axis(Int(n, "axis", 1), x.Length);
                    return [x[..axis].Aggregate(1, (p, v) => checked(p * v)), x[axis..].Aggregate(1, (p, v) => checked(p * v))];
                }
                case "Reshape":
                {
                    var target = ConstantInput(n, 1) ?? Ints(n, "shape");
                    if (target is null)
                        return _declared.ContainsKey(n.Output[0]) ? Shape(n, index, n.Output[0])
                            : throw Error(n, index, "the target shape is neither a constant nor declared on the output");
                    var result = target.Select((v, i) => v == 0 ? x[i] : (int)v).ToArray();
                    long total = x.Aggregate(1L, (p, v) => checked(p * v));
                    var known = result.Where(v => v != -1).Aggregate(1L, (p, v) => checked(p * v));
                    for (int i = 0; i < result.Length; i++) if (result[i] == -1) result[i] = (int)(total / Math.Max(1, known));
                    if (result.Aggregate(1L, (p, v) => checked(p * v)) != total)
                        throw Error(n, index, $"inconsistent shapes: [{string.Join(", ", x)}] cannot be reshaped to [{string.Join(", ", target)}]");
                    return result;
                }
                case "Transpose":
                {
                    var perm = Ints(n, "perm") ?? [.. Enumerable.Range(0, x.Length).Reverse().Select(i => (long)i)];
                    if (perm.Length != x.Length) throw Error(n, index, $"inconsistent shapes: perm has {perm.Length} entries for a tensor of rank {x.Length}");
                    return [.. perm.Select(p => x[p])];
                }
                case "Concat":
                {
                    int axis = Axis(Int(n, "axis", 0), x.Length);
                    var result = (int[])x.Clone();
                    foreach (var s in shapes.Skip(1))
                    {
                        if (s.Length != x.Length || s.Where((v, i) => i != axis && v != x[i]).Any())
                            throw Error(n, index, $"inconsistent shapes: [{string.Join(", ", s)}] cannot be concatenated with [{string.Join(", ", x)}] on axis {axis}");
                        result[axis] = checked(result[axis] + s[axis]);
                    }
                    return result;
                }
                case "Squeeze":
                {
                    var axes = Ints(n, "axes") ?? ConstantInput(n, 1);
                    var drop = axes is null ? Enumerable.Range(0, x.Length).Where(i => x[i] == 1).ToHashSet() : axes.Select(a => Axis(a, x.Length)).ToHashSet();
                    return [.. x.Where((_, i) => !drop.Contains(i))];
                }
                case "Unsqueeze":
                {
                    var axes = Ints(n, "axes") ?? ConstantInput(n, 1) ?? throw Error(n, index, "the axes are neither an attribute nor a constant");
                    int rank = x.Length + axes.Length;
                    var add = axes.Select(a => Axis(a, rank)).ToHashSet();
                    var result = new List<int>();
                    int j = 0;
                    for (int i = 0; i < rank; i++) result.Add(add.Contains(i) ? 1 : x[j++]);
                    return [.. result];
                }
                case "ReduceMean" or "ReduceSum" or "ReduceMax":
                {
                    var axes = Ints(n, "axes") ?? ConstantInput(n, 1);
                    var reduce = axes is null ? Enumerable.Range(0, x.Length).ToHashSet() : axes.Select(a => Axis(a, x.Length)).ToHashSet();
                    bool keep = Int(n, "keepdims", 1) != 0;
                    return [.. x.Select((v, i) => reduce.Contains(i) ? (keep ? 1 : -1) : v).Where(v => v != -1)];
                }
                case "Pad":
                {
                    var pads = Ints(n, "pads") ?? ConstantInput(n, 1) ?? throw Error(n, index, "the pads are neither an attribute nor a constant");
                    if (pads.Length != 2 * x.Length) throw Error(n, index, $"inconsistent shapes: {pads.Length} pads for a tensor of rank {x.Length}");
                    return [.. x.Select((v, i) => checked((int)(v + pads[i] + pads[i + x.Length])))];
                }
            }
            throw Error(n, index, "no shape rule");
        }
    }
}
