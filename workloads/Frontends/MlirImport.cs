using System.Globalization;
using System.Text.RegularExpressions;
using Optimizer.Workloads.Specs;

namespace Optimizer.Workloads.Frontends;

/// <summary>
/// Reads the subset of MLIR's linalg dialect that docs/frontends.md lists, by hand (no MLIR library): statements
/// <c>%r = op ... ins(...) outs(...) -&gt; type</c> on ranked tensor or memref types. <c>linalg.generic</c> (indexing
/// maps and iterator types) and the named ops matmul, batch_matmul, conv_1d*, conv_2d_nhwc_hwcf, conv_2d_nchw_fchw and
/// depthwise_conv_*d become Einsums; SSA values link them, and shape ops (tensor.expand_shape, collapse_shape,
/// pad, cast; element-wise linalg ops) pass their first operand through; everything else is listed.
/// </summary>
public static partial class MlirImport
{
    [GeneratedRegex(@"(?:(%[\w.$-]+)(?::\d+)?\s*=\s*)?""?([a-z_][\w]*\.[\w.]+)""?", RegexOptions.CultureInvariant)]
    private static partial Regex OpStart();
    [GeneratedRegex(@"^#([\w.$-]+)\s*=\s*affine_map<(.*)>\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex MapAlias();
    [GeneratedRegex(@"(?:tensor|memref)<([^>]*)>", RegexOptions.CultureInvariant)]
    private static partial Regex ShapedType();
    [GeneratedRegex(@"(strides|dilations)\s*=\s*dense<\[?([\d,\s]+)\]?>", RegexOptions.CultureInvariant)]
    private static partial Regex DenseAttr();
    [GeneratedRegex(@"loc\(""([^""]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex Loc();

    private static readonly HashSet<string> Structural = new(StringComparer.Ordinal) { "func.func", "func.return", "builtin.module", "linalg.yield", "arith.constant" };
    private static readonly HashSet<string> Inits = new(StringComparer.Ordinal) { "tensor.empty", "linalg.fill", "linalg.init_tensor", "bufferization.alloc_tensor", "memref.alloc" };
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
    {
        "tensor.expand_shape", "tensor.collapse_shape", "tensor.pad", "tensor.cast", "linalg.transpose", "linalg.elemwise_unary",
        "linalg.elemwise_binary", "linalg.add", "linalg.sub", "linalg.mul", "linalg.max", "linalg.exp", "linalg.pooling_nhwc_max",
        "linalg.pooling_nchw_max", "linalg.pooling_nhwc_sum", "memref.collapse_shape", "memref.expand_shape",
    };

    /// <summary>Parses MLIR text; <paramref name="file"/> names it in errors, which give line and column.</summary>
    public static ImportedModel Parse(string text, string file) => new Parser(text, file).Run();

    private sealed class Parser(string text, string file)
    {
        private readonly GraphLinks _links = new();
        private readonly Dictionary<string, string> _maps = new(StringComparer.Ordinal);
        private readonly List<Einsum> _layers = [];
        private readonly List<SkippedNode> _skipped = [];
        private readonly Dictionary<string, string> _unsupported = new(StringComparer.Ordinal);
        private readonly string _text = StripComments(text);

        private static string StripComments(string s)
            => string.Join('\n', s.Split('\n').Select(l => l.IndexOf("//", StringComparison.Ordinal) is var i and >= 0 ? l[..i] + new string(' ', l.Length - i) : l));

        private (int Line, int Column) Where(int pos)
        {
            int line = 1, col = 1;
            for (int i = 0; i < pos && i < _text.Length; i++) { if (_text[i] == '\n') { line++; col = 1; } else col++; }
            return (line, col);
        }

        private SpecException Error(int pos, string message)
        {
            var (line, col) = Where(pos);
            return ModelImport.Error(file, "", message, line, col);
        }

        /// <summary>The index just past the bracket that closes the one at <paramref name="open"/>.</summary>
        private int Close(int open)
        {
            char o = _text[open], c = o switch { '{' => '}', '(' => ')', '[' => ']', '<' => '>', _ => throw Error(open, $"'{o}' is no bracket") };
            int depth = 0;
            for (int i = open; i < _text.Length; i++)
            {
                if (_text[i] == '"') { i = _text.IndexOf('"', i + 1); if (i < 0) break; continue; }
                if (_text[i] == o) depth++;
                else if (_text[i] == c && !(c == '>' && _text[i - 1] == '-') && --depth == 0) return i + 1;
            }
            throw Error(open, $"the '{o}' opened here is never closed");
        }

        public ImportedModel Run()
        {
            var lines = _text.Split('\n');
            foreach (var line in lines)
                if (MapAlias().Match(line.Trim()) is { Success: true } m) _maps[m.Groups[1].Value] = m.Groups[2].Value;
            int pos = 0;
            var sawOp = false;
            while (pos < _text.Length)
            {
                var m = OpStart().Match(_text, pos);
                if (!m.Success) break;
                // Skip map aliases and attribute text outside statements.
                int lineStart = _text.LastIndexOf('\n', Math.Max(0, m.Index - 1)) + 1;
                var before = _text[lineStart..m.Index].Trim();
                if (before.Length > 0 && !before.StartsWith('%') && before != "\"")
                {
                    pos = m.Index + m.Length;
                    continue;
                }
                sawOp = true;
                pos = Statement(m.Index, m.Groups[1].Value, m.Groups[2].Value, m.Index + m.Length);
            }
            if (!sawOp) throw ModelImport.Error(file, "", "not MLIR: no operation found (expected statements such as %0 = linalg.matmul ins(...) outs(...))", 1, 1);
            if (_layers.Count == 0)
                throw ModelImport.Error(file, "", "no operation of the file is an Einsum (linalg.generic, matmul, batch_matmul, conv, depthwise conv); left out: " +
                    string.Join("; ", _skipped.Take(8).Select(s => $"{s.Node} ({s.Op}): {s.Reason}")), 1, 1);
            try
            {
                return new ImportedModel(new Workload(ModelImport.Name(Path.GetFileNameWithoutExtension(file), "mlir"), $"MLIR linalg file {Path.GetFileName(file)}", _layers), _skipped);
            }
            catch (ArgumentException e)
            {
                throw ModelImport.Error(file, "", e.Message, 1, 1);
            }
        }

        /// <summary>Reads one statement starting at <paramref name="start"/>; returns where the next one may start.</summary>
        private int Statement(int start, string result, string op, int after)
        {
            if (op is "func.func" or "builtin.module")
            {
                // Function arguments are graph inputs; continue inside the body.
                var body = _text.IndexOf('{', after);
                return body < 0 ? _text.Length : body + 1;
            }
            // The statement runs to the end of its line, past any brackets it opens (attributes, regions, operand lists).
            int end = after;
            while (end < _text.Length && _text[end] != '\n')
            {
                if (_text[end] is '{' or '(' or '[' or '<') end = Close(end);
                else end++;
            }
            var stmt = _text[start..end];
            var (line, col) = Where(start);
            var label = Loc().Match(stmt) is { Success: true } l ? l.Groups[1].Value : $"{op.Split('.')[^1]}_{line}";
            var source = $"{Path.GetFileName(file)}:{line}:{col} {op}";
            var name = result.Length > 0 ? result : "";
            if (Structural.Contains(op)) return end;
            if (Inits.Contains(op))
            {
                _skipped.Add(new SkippedNode(label, op, "creates or fills an output buffer"));
                return end;
            }
            var ins = Operands(stmt, start, "ins");
            var outs = Operands(stmt, start, "outs");
            foreach (var (value, _) in ins)
                if (_unsupported.TryGetValue(value, out var producer))
                    throw Error(start, $"{op} reads {value}, the result of {producer}, which is not supported (docs/frontends.md lists the subset)");
            if (PassThrough.Contains(op))
            {
                var first = ins.Count > 0 ? ins[0].Value : FirstValue(stmt, op);
                if (name.Length > 0 && first is not null) _links.Alias(name, first);
                _skipped.Add(new SkippedNode(label, op, first is null ? "no operand" : $"shape-only or element-wise: {name} carried as {Tensor(first)}"));
                return end;
            }
            if (!op.StartsWith("linalg.", StringComparison.Ordinal))
            {
                if (name.Length > 0) _unsupported[name] = $"{op} at line {line}";
                _skipped.Add(new SkippedNode(label, op, "not in the supported subset, and no Einsum reads its result"));
                return end;
            }
            if (ins.Count == 0 || outs.Count != 1)
                throw Error(start, $"{op}: expected ins(...) with operands and outs(...) with one operand, each with its tensor or memref type");
            var output = name.Length > 0 ? name : outs[0].Value;
            var layerName = _links.LayerName(label, label);
            Einsum e;
            try
            {
                e = op == "linalg.generic" ? Generic(stmt, start, layerName, ins, outs[0], output) : Named(op, stmt, start, layerName, ins, outs[0], output);
            }
            catch (ArgumentException ex)
            {
                throw Error(start, $"{op}: {ex.Message}");
            }
            _layers.Add(e.With(e.Name, e.Kind, source));
            return end;
        }

        private static string? FirstValue(string stmt, string op)
        {
            var m = Regex.Match(stmt[(stmt.IndexOf(op, StringComparison.Ordinal) + op.Length)..], @"%[\w.$-]+");
            return m.Success ? m.Value : null;
        }

        private string Tensor(string value) => ModelImport.Name(_links.Root(value).TrimStart('%'), "value");

        /// <summary>The operands and their shapes of <c>ins(%a, %b : t1, t2)</c> or <c>outs(...)</c>.</summary>
        private List<(string Value, int[] Shape)> Operands(string stmt, int start, string keyword)
        {
            var at = Regex.Match(stmt, $@"\b{keyword}\s*\(");
            if (!at.Success) return [];
            int open = start + at.Index + at.Length - 1;
            var inner = _text[(open + 1)..(Close(open) - 1)];
            var colon = inner.IndexOf(':');
            if (colon < 0) throw Error(open, $"{keyword}(...) lists no types after ':'");
            var values = inner[..colon].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var types = ShapedType().Matches(inner[colon..]).Select(m => m.Groups[1].Value).ToList();
            if (values.Length != types.Count) throw Error(open, $"{keyword}(...) has {values.Length} operands but {types.Count} tensor or memref types");
            return [.. values.Select((v, i) => (v, Shape(types[i], open)))];
        }

        private int[] Shape(string type, int pos)
        {
            var parts = type.Split('x');
            var dims = new int[parts.Length - 1];
            for (int i = 0; i < dims.Length; i++)
                if (!int.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] < 1)
                    throw Error(pos, $"dimension {i} of type <{type}> is '{parts[i].Trim()}', not a positive size (dynamic sizes are not supported)");
            return dims;
        }

        private int[] Ints(string stmt, string name, int count, int pos)
        {
            foreach (Match m in DenseAttr().Matches(stmt))
                if (m.Groups[1].Value == name)
                {
                    var v = m.Groups[2].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                    return v.Length == 1 ? [.. Enumerable.Repeat(v[0], count)] : v.Length == count ? v : throw Error(pos, $"{name} has {v.Length} values for {count} dimensions");
                }
            return [.. Enumerable.Repeat(1, count)];
        }

        private Einsum Named(string op, string stmt, int pos, string name, List<(string Value, int[] Shape)> ins, (string Value, int[] Shape) outs, string output)
        {
            if (ins.Count != 2) throw new ArgumentException($"expected two ins operands, got {ins.Count}");
            var (a, b, o) = (ins[0].Shape, ins[1].Shape, outs.Shape);
            string ta = Tensor(ins[0].Value), tb = Tensor(ins[1].Value), to = output.TrimStart('%');
            void Expect(bool ok, string what) { if (!ok) throw new ArgumentException($"inconsistent shapes: {what} (ins [{string.Join("x", a)}], [{string.Join("x", b)}], outs [{string.Join("x", o)}])"); }
            var kind = op["linalg.".Length..];
            switch (kind)
            {
                case "matmul":
                    Expect(a.Length == 2 && b.Length == 2 && o.Length == 2 && a[1] == b[0] && o[0] == a[0] && o[1] == b[1], "matmul is [M,K] x [K,N] -> [M,N]");
                    return Layers.Indexed(name, "gemm", [["M", "K"], ["K", "N"]], ["M", "N"], new Dictionary<string, int> { ["M"] = a[0], ["N"] = b[1], ["K"] = a[1] }, [ta, tb], to);
                case "batch_matmul":
                    Expect(a.Length == 3 && b.Length == 3 && o.Length == 3 && a[0] == b[0] && a[2] == b[1] && o[0] == a[0] && o[1] == a[1] && o[2] == b[2], "batch_matmul is [B,M,K] x [B,K,N] -> [B,M,N]");
                    return Layers.Indexed(name, "batched-matmul", [["B", "M", "K"], ["B", "K", "N"]], ["B", "M", "N"],
                        new Dictionary<string, int> { ["B"] = a[0], ["M"] = a[1], ["N"] = b[2], ["K"] = a[2] }, [ta, tb], to);
            }
            // Convolutions: positions of batch, channels and spatial dimensions in input, filter and output per layout.
            (int N, int C, int[] Sp, int F, int FC, int[] FSp, int ON, int OF, int[] OSp, int Mult)? layout = kind switch
            {
                "conv_1d" => (-1, -1, [0], -1, -1, [0], -1, -1, [0], -1),
                "conv_2d" => (-1, -1, [0, 1], -1, -1, [0, 1], -1, -1, [0, 1], -1),
                "conv_1d_nwc_wcf" => (0, 2, [1], 2, 1, [0], 0, 2, [1], -1),
                "conv_1d_ncw_fcw" => (0, 1, [2], 0, 1, [2], 0, 1, [2], -1),
                "conv_2d_nhwc_hwcf" => (0, 3, [1, 2], 3, 2, [0, 1], 0, 3, [1, 2], -1),
                "conv_2d_nchw_fchw" => (0, 1, [2, 3], 0, 1, [2, 3], 0, 1, [2, 3], -1),
                "conv_3d_ndhwc_dhwcf" => (0, 4, [1, 2, 3], 4, 3, [0, 1, 2], 0, 4, [1, 2, 3], -1),
                "depthwise_conv_1d_nwc_wc" => (0, 2, [1], -1, 1, [0], 0, 2, [1], -1),
                "depthwise_conv_2d_nhwc_hwc" => (0, 3, [1, 2], -1, 2, [0, 1], 0, 3, [1, 2], -1),
                "depthwise_conv_2d_nchw_chw" => (0, 1, [2, 3], -1, 0, [1, 2], 0, 1, [2, 3], -1),
                "depthwise_conv_2d_nhwc_hwcm" => (0, 3, [1, 2], -1, 2, [0, 1], 0, 3, [1, 2], 3),
                _ => null,
            };
            if (layout is not { } L) throw new ArgumentException("this named op is not in the supported subset (docs/frontends.md)");
            int dims = L.Sp.Length;
            Expect(a.Length == (L.N < 0 ? dims : dims + 2) && b.Length == (L.F < 0 && L.FC < 0 ? dims : dims + (L.F >= 0 ? 2 : 1) + (L.Mult >= 0 ? 1 : 0)), "the operand ranks do not fit the op's layout");
            int n = L.N < 0 ? 1 : a[L.N], c = L.C < 0 ? 1 : a[L.C];
            var outs2 = L.OSp.Select(i => L.Mult >= 0 ? o[i] : o[i]).ToArray();
            var kernel = L.FSp.Select(i => b[i]).ToArray();
            var strides = Ints(stmt, "strides", dims, pos);
            var dilations = Ints(stmt, "dilations", dims, pos);
            bool depthwise = kind.StartsWith("depthwise", StringComparison.Ordinal);
            int mult = L.Mult >= 0 ? b[L.Mult] : 1;
            int k = depthwise ? mult : L.F < 0 ? 1 : b[L.F];
            if (!depthwise) Expect(L.FC < 0 || b[L.FC] == c, "the filter's input channels differ from the input's");
            else Expect(b[L.FC] == c, "the filter's channels differ from the input's");
            for (int i = 0; i < dims; i++)
                Expect(a[L.Sp[i]] >= (long)(outs2[i] - 1) * strides[i] + (long)dilations[i] * (kernel[i] - 1) + 1, $"spatial dimension {i} of the input is too small for the output, stride and dilation");
            return depthwise
                ? Layers.Conv(name, n, 1, k, outs2, kernel, strides, dilations, c, ta, tb, to)
                : Layers.Conv(name, n, c, k, outs2, kernel, strides, dilations, 1, ta, tb, to);
        }

        private Einsum Generic(string stmt, int pos, string name, List<(string Value, int[] Shape)> ins, (string Value, int[] Shape) outs, string output)
        {
            var mapsMatch = Regex.Match(stmt, @"indexing_maps\s*=\s*\[");
            var itersMatch = Regex.Match(stmt, @"iterator_types\s*=\s*\[([^\]]*)\]");
            if (!mapsMatch.Success || !itersMatch.Success) throw new ArgumentException("linalg.generic needs indexing_maps and iterator_types");
            int open = pos + mapsMatch.Index + mapsMatch.Length - 1;
            var mapsText = _text[(open + 1)..(Close(open) - 1)];
            var maps = new List<string>();
            for (int i = 0; i < mapsText.Length; i++)
            {
                if (mapsText[i] == '#')
                {
                    var m = Regex.Match(mapsText[(i + 1)..], @"^[\w.$-]+");
                    maps.Add(_maps.TryGetValue(m.Value, out var body) ? body : throw new ArgumentException($"#{m.Value} is not an affine_map defined in the file"));
                    i += m.Length;
                }
                else if (mapsText.AsSpan(i).StartsWith("affine_map<"))
                {
                    int lt = i + "affine_map".Length;
                    int depth = 0, j = lt;
                    for (; j < mapsText.Length; j++) { if (mapsText[j] == '<') depth++; else if (mapsText[j] == '>' && mapsText[j - 1] != '-' && --depth == 0) break; }
                    maps.Add(mapsText[(lt + 1)..j]);
                    i = j;
                }
            }
            var iterators = Regex.Matches(itersMatch.Groups[1].Value, @"(parallel|reduction)").Select(m => m.Value).ToList();
            if (ins.Count > 2) throw new ArgumentException($"a linalg.generic of {ins.Count} inputs is not supported (one or two)");
            if (maps.Count != ins.Count + 1) throw new ArgumentException($"{maps.Count} indexing maps for {ins.Count + 1} operands");
            var parsed = maps.Select(ParseMap).ToList();
            int loops = parsed[0].Dims.Count;
            if (parsed.Any(p => p.Dims.Count != loops) || iterators.Count != loops)
                throw new ArgumentException($"the indexing maps and iterator_types disagree on the number of loops ({iterators.Count} iterator types)");
            var shapes = ins.Select(i => i.Shape).Append(outs.Shape).ToList();
            var bounds = new int?[loops];
            for (int t = 0; t < parsed.Count; t++)
            {
                if (parsed[t].Results.Count != shapes[t].Length) throw new ArgumentException($"inconsistent shapes: map {t} has {parsed[t].Results.Count} results for a tensor of rank {shapes[t].Length}");
                for (int d = 0; d < shapes[t].Length; d++)
                    if (parsed[t].Results[d] is [(var loop, 1)])
                    {
                        if (bounds[loop] is { } b && b != shapes[t][d]) throw new ArgumentException($"inconsistent shapes: loop d{loop} is {b} in one operand and {shapes[t][d]} in another");
                        bounds[loop] = shapes[t][d];
                    }
            }
            var rankNames = Enumerable.Range(0, loops).Select(i => $"D{i}").ToArray();
            for (int i = 0; i < loops; i++)
            {
                if (bounds[i] is null) throw new ArgumentException($"loop d{i} indexes no dimension on its own, so its bound is unknown");
                bool inOutput = parsed[^1].Results.Any(r => r.Any(x => x.Loop == i));
                if ((iterators[i] == "parallel") != inOutput) throw new ArgumentException($"loop d{i} is {iterators[i]} but {(inOutput ? "indexes" : "does not index")} the output");
            }
            AffineExpr Expr(List<(int Loop, int Coefficient)> r) => new(r.Select(x => new AffineTerm(new RankId(rankNames[x.Loop]), x.Coefficient)));
            var tensors = ins.Select((v, t) => new TensorSpec(new TensorId(Tensor(v.Value)), t == 0 ? TensorRole.Inputs : TensorRole.Weights, parsed[t].Results.Select(Expr)))
                .Append(new TensorSpec(new TensorId(output.TrimStart('%')), TensorRole.Outputs, parsed[^1].Results.Select(Expr)));
            return new Einsum(name, "generic", Enumerable.Range(0, loops).Select(i => new Rank(new RankId(rankNames[i]), bounds[i]!.Value)), tensors);
        }

        /// <summary>An affine map <c>(d0, d1) -&gt; (d0 * 2 + d1, d1)</c>: its loop names and each result as terms (loop, coefficient).</summary>
        private static (List<string> Dims, List<List<(int Loop, int Coefficient)>> Results) ParseMap(string map)
        {
            var arrow = map.IndexOf("->", StringComparison.Ordinal);
            if (arrow < 0 || map.Contains('[')) throw new ArgumentException($"affine map '{map}' is not (dims) -> (results) without symbols");
            var dims = map[..arrow].Trim().Trim('(', ')').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
            var results = map[(arrow + 2)..].Trim();
            if (!results.StartsWith('(') || !results.EndsWith(')')) throw new ArgumentException($"affine map '{map}' has no parenthesized results");
            var list = new List<List<(int, int)>>();
            foreach (var expr in results[1..^1].Split(',', StringSplitOptions.TrimEntries))
            {
                var terms = new List<(int, int)>();
                foreach (var term in expr.Split('+', StringSplitOptions.TrimEntries))
                {
                    var factors = term.Split('*', StringSplitOptions.TrimEntries);
                    var loop = factors.FirstOrDefault(f => dims.Contains(f));
                    var coefficient = factors.Where(f => f != loop).Aggregate(1, (p, f) => int.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? p * v
                        : throw new ArgumentException($"'{term}' in affine map '{map}' is not loop or loop * constant"));
                    if (loop is null) throw new ArgumentException($"'{term}' in affine map '{map}' names no loop (constant offsets are not supported)");
                    terms.Add((dims.IndexOf(loop), coefficient));
                }
                list.Add(terms);
            }
            return (dims, list);
        }
    }
}
