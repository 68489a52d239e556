using System.Text;
using System.Text.RegularExpressions;

namespace Optimizer.Workloads.Specs;

/// <summary>
/// Reads and writes workload spec files (docs/spec-format.md): a named list of layers, each given by a
/// builder shorthand (conv2d, conv1d, gemm, batched-matmul, elementwise) or by its ranks and tensors.
/// </summary>
public static partial class WorkloadSpec
{
    private static readonly string[] Shorthands = ["conv2d", "conv1d", "gemm", "batched-matmul", "elementwise"];

    /// <summary>Reads a workload spec file; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static Workload Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Reads a workload spec from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static Workload Parse(string text, string fileName)
    {
        var reader = new SpecReader(fileName);
        var workload = Read(reader, reader.Root(text, "workload"));
        reader.ThrowIfErrors();
        return workload!;
    }

    /// <summary>Writes the workload in the general form (ranks and tensors with index expressions), so that any Einsum reads back equal.</summary>
    public static string Write(Workload workload)
    {
        var sb = new StringBuilder();
        sb.Append("workload:\n");
        sb.Append($"  name: {YamlText.Scalar(workload.Name)}\n");
        if (workload.Description.Length > 0) sb.Append($"  description: {YamlText.Quoted(workload.Description)}\n");
        sb.Append("  layers:\n");
        foreach (var e in workload.Layers)
        {
            sb.Append($"    - name: {YamlText.Scalar(e.Name)}\n");
            sb.Append($"      kind: {YamlText.Scalar(e.Kind)}\n");
            sb.Append($"      ranks: {{{string.Join(", ", e.Ranks.Select(r => $"{YamlText.Scalar(r.Id.Name)}: {r.Bound}"))}}}\n");
            sb.Append("      tensors:\n");
            foreach (var t in e.Tensors)
                sb.Append($"        - {{name: {YamlText.Scalar(t.Id.Name)}, role: {RoleName(t.Role)}, index: {YamlText.List(t.Dims.Select(d => d.ToString()))}}}\n");
        }
        return sb.ToString();
    }

    /// <summary>The spelling of a role in spec files: <c>inputs</c>, <c>weights</c> or <c>outputs</c>.</summary>
    public static string RoleName(TensorRole role) => role.ToString().ToLowerInvariant();

    /// <summary>The role with this name (case-insensitive), or null.</summary>
    public static TensorRole? ParseRole(string name)
        => Enum.GetValues<TensorRole>().Cast<TensorRole?>().FirstOrDefault(r => string.Equals(r.ToString(), name, StringComparison.OrdinalIgnoreCase));

    private static Workload? Read(SpecReader reader, SpecMap? root)
    {
        if (root is null) return null;
        root.AllowOnly("name", "description", "layers");
        var name = Name(root.Required("name"), "workload");
        var description = root.String("description") ?? "";
        var items = root.List("layers", required: true);
        if (items is { Count: 0 }) root.Required("layers")!.Error("must list at least one layer");
        var layers = new List<(Einsum Einsum, SpecNode Node)>();
        var seen = new Dictionary<string, SpecNode>();
        foreach (var item in items ?? [])
            if (ReadLayer(item, seen) is { } layer) layers.Add((layer, item));
        if (reader.HasErrors || name is null) return null;
        CheckGraph(root.Required("layers")!, layers);
        if (reader.HasErrors) return null;
        return root.Self.Build(() => new Workload(name, description, layers.Select(l => l.Einsum)));
    }

    private static void CheckGraph(SpecNode layersNode, List<(Einsum Einsum, SpecNode Node)> layers)
    {
        var producer = new Dictionary<TensorId, (Einsum Einsum, SpecNode Node)>();
        foreach (var l in layers)
            if (!producer.TryAdd(l.Einsum.Output.Id, l))
                l.Node.Error($"tensor '{l.Einsum.Output.Id}' is written by both layer {producer[l.Einsum.Output.Id].Einsum.Name} and layer {l.Einsum.Name}; each tensor has one producer");
        var readsFrom = layers.ToDictionary(l => l.Einsum, l => l.Einsum.Tensors.Where(t => !t.IsOutput)
            .Select(t => producer.TryGetValue(t.Id, out var p) ? p.Einsum : null).OfType<Einsum>().ToList());
        // Depth-first search along "reads from", with an explicit stack (a chain of 100,000 layers must not overflow
        // the call stack); the path, reversed, is the cycle in data-flow order.
        var state = layers.ToDictionary(l => l.Einsum, _ => 0);
        var path = new List<(Einsum Layer, int Next)>();
        var onPath = new Dictionary<Einsum, int>();
        List<Einsum>? cycle = null;
        foreach (var root in layers.Select(l => l.Einsum))
        {
            if (state[root] != 0 || cycle is not null) continue;
            state[root] = 1;
            onPath[root] = 0;
            path.Add((root, 0));
            while (path.Count > 0 && cycle is null)
            {
                var (e, next) = path[^1];
                var reads = readsFrom[e];
                if (next == reads.Count)
                {
                    path.RemoveAt(path.Count - 1);
                    onPath.Remove(e);
                    state[e] = 2;
                    continue;
                }
                path[^1] = (e, next + 1);
                var p = reads[next];
                if (state[p] == 1) cycle = path.Skip(onPath[p]).Select(x => x.Layer).Reverse().ToList();
                else if (state[p] == 0)
                {
                    state[p] = 1;
                    onPath[p] = path.Count;
                    path.Add((p, 0));
                }
            }
        }
        if (cycle is not null)
        {
            // Start the cycle at its first declared layer, so the message reads in file order.
            var declared = layers.Select((l, i) => (l.Einsum, i)).ToDictionary(x => x.Einsum, x => x.i);
            int start = cycle.IndexOf(cycle.MinBy(e => declared[e])!);
            cycle = [.. cycle.Skip(start), .. cycle.Take(start)];
            var names = cycle.Select(e => e.Name).Append(cycle[0].Name);
            layersNode.Error($"the layers form a cycle: {string.Join(" -> ", names)}; a workload graph must be acyclic");
        }
    }

    private static Einsum? ReadLayer(SpecNode item, Dictionary<string, SpecNode> seen)
    {
        var map = item.AsMap(["name", "kind", "ranks", "tensors", .. Shorthands]);
        if (map is null) return null;
        var name = Name(map.Required("name"), "layer");
        if (name is not null && !seen.TryAdd(name, item))
            map.Get("name")!.Error($"layer name '{name}' is already used by the layer at line {seen[name].Line}");
        var forms = Shorthands.Append("ranks").Where(map.Has).ToList();
        if (forms.Count == 0)
        {
            item.Error($"needs one of {string.Join(", ", Shorthands)} or ranks (with tensors)");
            return null;
        }
        if (forms.Count > 1)
        {
            map.Get(forms[1])!.Error($"a layer is given by exactly one of {string.Join(", ", Shorthands)}, ranks; this one has {string.Join(" and ", forms)}");
            return null;
        }
        if (forms[0] != "ranks" && map.Has("kind")) map.Get("kind")!.Error($"kind is set by the {forms[0]} shorthand; give kind only with ranks");
        var errorsBefore = item.Reader.Errors.Count;
        Func<Einsum>? build = forms[0] switch
        {
            "conv2d" => Conv2d(map, name),
            "conv1d" => Conv1d(map, name),
            "gemm" => Gemm(map, name, batched: false),
            "batched-matmul" => Gemm(map, name, batched: true),
            "elementwise" => Elementwise(map, name),
            _ => General(map, name),
        };
        if (build is null || name is null || item.Reader.Errors.Count > errorsBefore) return null;
        return item.Build(build);
    }

    private static Func<Einsum>? Conv2d(SpecMap layer, string? name)
    {
        var m = layer.Map("conv2d", true, "n", "c", "k", "p", "q", "r", "s", "stride", "dilation", "groups");
        var names = ShorthandTensors(layer, "inputs", "weights", "outputs");
        if (m is null || names is null) return null;
        int n = m.Int("n", min: 1) ?? 1, stride = m.Int("stride", min: 1) ?? 1, dilation = m.Int("dilation", min: 1) ?? 1, groups = m.Int("groups", min: 1) ?? 1;
        int? c = m.Int("c", true, 1), k = m.Int("k", true, 1), p = m.Int("p", true, 1), q = m.Int("q", true, 1), r = m.Int("r", true, 1), s = m.Int("s", true, 1);
        if (c is null || k is null || p is null || q is null || r is null || s is null) return null;
        return () => Layers.Conv2d(name!, n, c.Value, k.Value, p.Value, q.Value, r.Value, s.Value, stride, dilation, groups,
            names["inputs"] ?? "Inputs", names["weights"] ?? "Weights", names["outputs"] ?? "Outputs");
    }

    private static Func<Einsum>? Conv1d(SpecMap layer, string? name)
    {
        var m = layer.Map("conv1d", true, "c", "k", "p", "r", "stride");
        var names = ShorthandTensors(layer, "inputs", "weights", "outputs");
        if (m is null || names is null) return null;
        int stride = m.Int("stride", min: 1) ?? 1;
        int? c = m.Int("c", true, 1), k = m.Int("k", true, 1), p = m.Int("p", true, 1), r = m.Int("r", true, 1);
        if (c is null || k is null || p is null || r is null) return null;
        return () => Layers.Conv1d(name!, c.Value, k.Value, p.Value, r.Value, stride,
            names["inputs"] ?? "Inputs", names["weights"] ?? "Weights", names["outputs"] ?? "Outputs");
    }

    private static Func<Einsum>? Gemm(SpecMap layer, string? name, bool batched)
    {
        var m = batched ? layer.Map("batched-matmul", true, "batch", "m", "n", "k") : layer.Map("gemm", true, "m", "n", "k");
        var names = ShorthandTensors(layer, "inputs", "weights", "outputs");
        if (m is null || names is null) return null;
        int? batch = batched ? m.Int("batch", true, 1) : 1, mm = m.Int("m", true, 1), n = m.Int("n", true, 1), k = m.Int("k", true, 1);
        if (batch is null || mm is null || n is null || k is null) return null;
        string a = names["inputs"] ?? "A", b = names["weights"] ?? "B", z = names["outputs"] ?? "Z";
        return batched
            ? () => Layers.BatchedMatmul(name!, batch.Value, mm.Value, n.Value, k.Value, a, b, z)
            : () => Layers.Gemm(name!, mm.Value, n.Value, k.Value, a, b, z);
    }

    private static Func<Einsum>? Elementwise(SpecMap layer, string? name)
    {
        var m = layer.Map("elementwise", true, "ranks", "kind");
        var names = ShorthandTensors(layer, "inputs", "outputs");
        if (m is null || names is null) return null;
        var kind = m.String("kind") ?? "elementwise";
        var ranks = Ranks(m.Map("ranks", true));
        if (ranks is null) return null;
        var dims = ranks.Select(r => (r.Id.Name, r.Bound)).ToList();
        return () => Layers.Elementwise(name!, dims, names["inputs"] ?? "Inputs", names["outputs"] ?? "Outputs", kind);
    }

    // The optional `tensors: {inputs: X, ...}` of a shorthand; a missing role maps to null (the builder's default name).
    private static Dictionary<string, string?>? ShorthandTensors(SpecMap layer, params string[] roles)
    {
        var result = roles.ToDictionary(r => r, _ => (string?)null);
        var node = layer.Get("tensors");
        if (node is null) return result;
        if (node.IsList)
        {
            node.Error("with a shorthand, tensors is a map from role to name, such as {inputs: X0, outputs: X1}; the list form goes with ranks");
            return null;
        }
        var map = node.AsMap(roles);
        if (map is null) return null;
        foreach (var role in roles) result[role] = Name(map.Get(role), "tensor");
        return result;
    }

    private static Func<Einsum>? General(SpecMap layer, string? name)
    {
        var kind = layer.String("kind") ?? "einsum";
        var ranks = Ranks(layer.Map("ranks", true));
        var list = layer.List("tensors", true);
        if (ranks is null || list is null) return null;
        var declared = ranks.Select(r => r.Id).ToList();
        var tensors = new List<TensorSpec>();
        var seen = new Dictionary<string, SpecNode>();
        var outputs = new List<SpecNode>();
        bool ok = true;
        foreach (var item in list)
        {
            var t = item.AsMap("name", "role", "index");
            if (t is null) { ok = false; continue; }
            var tname = Name(t.Required("name"), "tensor");
            var roleNode = t.Required("role");
            var roleText = roleNode?.AsString();
            var role = roleText is null ? null : ParseRole(roleText);
            if (roleText is not null && role is null) roleNode!.Error($"unknown role '{roleText}'; a role is inputs, weights or outputs");
            var index = t.List("index", true);
            if (index is { Count: 0 }) t.Get("index")!.Error("a tensor needs at least one dimension");
            var dims = index?.Select(d => ParseIndex(d, declared, role == TensorRole.Outputs)).ToList();
            if (tname is not null)
            {
                if (seen.TryGetValue(tname, out var first)) t.Get("name")!.Error($"tensor name '{tname}' is already used in this layer at line {first.Line}");
                else seen[tname] = item;
            }
            if (role == TensorRole.Outputs) outputs.Add(item);
            if (tname is null || role is null || dims is null || dims.Count == 0 || dims.Any(d => d is null)) { ok = false; continue; }
            tensors.Add(new TensorSpec(new TensorId(tname), role.Value, dims!));
        }
        var tensorsNode = layer.Get("tensors")!;
        if (outputs.Count > 1)
            outputs[1].Error($"a layer has exactly one output tensor, but this is the second (the first is at line {outputs[0].Line})");
        else if (outputs.Count == 0 && ok)
            tensorsNode.Error("a layer needs exactly one tensor with role outputs; none has it");
        if (list.Count < 2 && ok) tensorsNode.Error("a layer needs at least one operand besides its output");
        if (!ok || outputs.Count != 1 || list.Count < 2) return null;
        return () => new Einsum(name!, kind, ranks, tensors);
    }

    private static List<Rank>? Ranks(SpecMap? map)
    {
        if (map is null) return null;
        var entries = map.Entries;
        if (entries.Count == 0) { map.Self.Error("must declare at least one rank"); return null; }
        var ranks = new List<Rank>();
        foreach (var (key, value) in entries)
        {
            if (!RankName().IsMatch(key)) value.Error($"a rank name is letters, digits and _, starting with a letter or _; got '{key}'");
            var bound = value.AsInt(min: 1);
            if (bound is not null && RankName().IsMatch(key)) ranks.Add(new Rank(new RankId(key), bound.Value));
        }
        return ranks.Count == entries.Count ? ranks : null;
    }

    // Parses one index expression such as "P*2 + R", "2*P - R" or "K".
    private static AffineExpr? ParseIndex(SpecNode node, List<RankId> ranks, bool isOutput)
    {
        var text = node.AsString();
        if (text is null) return null;
        var tokens = Token().Matches(text).Select(m => m.Value).ToList();
        if (string.Concat(tokens) != Regex.Replace(text, @"\s+", "") || tokens.Count == 0)
        {
            node.Error($"'{text}' is not an index expression; write a sum of terms such as P*2 + R");
            return null;
        }
        var terms = new List<AffineTerm>();
        int i = 0, sign = 1;
        bool expectTerm = true;
        AffineExpr? Fail(string why)
        {
            node.Error($"'{text}' is not an index expression: {why}");
            return null;
        }
        while (i < tokens.Count)
        {
            if (!expectTerm)
            {
                if (tokens[i] is not ("+" or "-")) return Fail($"expected + or - before '{tokens[i]}'");
                sign = tokens[i] == "-" ? -1 : 1;
                expectTerm = true;
                i++;
                continue;
            }
            long coefficient = sign;
            string? rank = null;
            while (true)
            {
                if (i < tokens.Count && tokens[i] == "-") { coefficient = -coefficient; i++; }
                if (i >= tokens.Count) return Fail("it ends where a rank or number is expected");
                var tok = tokens[i++];
                if (char.IsDigit(tok[0]))
                {
                    coefficient *= int.TryParse(tok, out var n) ? n : (long)int.MaxValue + 1;
                    if (Math.Abs(coefficient) > int.MaxValue) return Fail($"a coefficient is beyond {int.MaxValue}");
                }
                else if (tok is "+" or "*") return Fail($"unexpected '{tok}'");
                else if (rank is null) rank = tok;
                else return Fail($"a term multiplies two ranks ({rank} and {tok}); an index is affine");
                if (i < tokens.Count && tokens[i] == "*") { i++; continue; }
                break;
            }
            if (rank is null) return Fail("a term has no rank");
            var id = new RankId(rank);
            if (!ranks.Contains(id))
            {
                var near = SpecReader.Closest(rank, ranks.Select(r => r.Name));
                node.Error($"unknown rank '{rank}' in '{text}' (rank names are case-sensitive){(near is null ? "" : $"; did you mean '{near}'?")}; the layer's ranks are {string.Join(", ", ranks)}");
                return null;
            }
            if (coefficient == 0) return Fail($"the coefficient of {rank} is {coefficient}");
            if (terms.Any(t => t.Rank == id)) return Fail($"rank {rank} appears twice");
            terms.Add(new AffineTerm(id, (int)coefficient));
            expectTerm = false;
            sign = 1;
        }
        if (expectTerm) return Fail("it ends with a sign");
        if (isOutput && (terms.Count != 1 || terms[0].Coefficient != 1))
        {
            node.Error($"each index of an output tensor is a single rank, but this one is '{text}'");
            return null;
        }
        return new AffineExpr(terms);
    }

    private static string? Name(SpecNode? node, string what)
    {
        var text = node?.AsString();
        if (text is null) return null;
        if (text.Length == 0 || text.Any(char.IsWhiteSpace))
        {
            node!.Error($"a {what} name must be non-empty and free of white space, got '{text}'");
            return null;
        }
        return text;
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex RankName();

    [GeneratedRegex(@"[A-Za-z_][A-Za-z0-9_]*|\d+|[+\-*]")]
    private static partial Regex Token();
}
