using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Optimizer.Workloads.Specs;

/// <summary>
/// Reads and writes Timeloop problem files (docs/interop.md): <c>problem: {shape, instance}</c>, where the
/// shape is a map (dimensions, coefficients, data-spaces with projections, one read-write output) or the
/// name of the built-in CNN-layer shape. One problem is one Einsum.
/// </summary>
public static partial class TimeloopProblem
{
    /// <summary>The built-in shape's name, as Timeloop spells it.</summary>
    public const string CnnLayer = "cnn-layer";

    /// <summary>
    /// The <see cref="Einsum.Kind"/> of a layer read from a Timeloop problem: its tensor names are that problem's
    /// data-space names, which the Timeloop files written for it keep (<see cref="DataSpaceName"/>).
    /// </summary>
    public const string Kind = "timeloop-problem";

    /// <summary>
    /// The name a tensor's data-space has in the Timeloop files written for the layer (problem, mapping), in one
    /// place: a layer read from a Timeloop problem keeps that problem's data-space names; any other layer's
    /// data-spaces are named after their roles, <c>Inputs</c>, <c>Weights</c>, <c>Outputs</c>, as in Timeloop's
    /// CNN layer, so that they pair with the bypass entries of the architectures we write (which name roles);
    /// a layer with two tensors of one role keeps its tensor names.
    /// </summary>
    public static string DataSpaceName(Einsum einsum, TensorSpec tensor)
        => einsum.Kind == Kind || einsum.Tensors.DistinctBy(t => t.Role).Count() != einsum.Tensors.Count ? tensor.Id.Name : tensor.Role.ToString();

    /// <summary>The layer with its tensors named as its Timeloop data-spaces (<see cref="DataSpaceName"/>), as the problem <see cref="Write"/> gives reads back.</summary>
    public static Einsum AsTimeloop(Einsum einsum)
        => new(einsum.Name, Kind, einsum.Ranks, einsum.Tensors.Select(t => new TensorSpec(new TensorId(DataSpaceName(einsum, t)), t.Role, t.Dims)));

    // Timeloop's built-in CNN layer: R/P run along the width (W*), S/Q along the height (H*).
    private const string CnnLayerShape = """
        name: CNN-Layer
        dimensions: [R, S, P, Q, C, K, N]
        coefficients:
          - {name: Wstride, default: 1}
          - {name: Hstride, default: 1}
          - {name: Wdilation, default: 1}
          - {name: Hdilation, default: 1}
        data-spaces:
          - name: Weights
            projection: [[[C]], [[K]], [[R]], [[S]]]
          - name: Inputs
            projection: [[[N]], [[C]], [[R, Wdilation], [P, Wstride]], [[S, Hdilation], [Q, Hstride]]]
          - name: Outputs
            projection: [[[N]], [[K]], [[Q]], [[P]]]
            read-write: true
        """;

    /// <summary>Reads a Timeloop problem file as a one-layer workload named after the file; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static Workload Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Reads a Timeloop problem from text; <paramref name="fileName"/> is used in error messages and names the workload.</summary>
    public static Workload Parse(string text, string fileName)
    {
        var reader = new SpecReader(fileName);
        var problem = reader.Document(text, "problem")?.Required("problem")?.AsMap("version", "shape", "instance");
        var einsum = problem is null ? null : Read(problem);
        reader.ThrowIfErrors();
        var stem = Path.GetFileNameWithoutExtension(fileName);
        var name = stem.Length == 0 || stem.Any(char.IsWhiteSpace) ? "timeloop-problem" : stem;
        return new Workload(name, $"Timeloop problem {Path.GetFileName(fileName)}", [einsum!]);
    }

    /// <summary>
    /// Writes one Einsum as a Timeloop problem: its ranks as dimensions, its tensors as data-spaces named by
    /// <see cref="DataSpaceName"/> (the output read-write), each coefficient other than 1 as a named coefficient,
    /// and the bounds as the instance.
    /// </summary>
    public static string Write(Einsum einsum)
    {
        var coefficients = einsum.Tensors.SelectMany(t => t.Dims).SelectMany(d => d.Terms).Select(t => t.Coefficient)
            .Where(c => c != 1).Distinct().Order().ToList();
        var sb = new StringBuilder();
        sb.Append("problem:\n  shape:\n");
        sb.Append($"    name: {YamlText.Scalar(einsum.Name)}\n");
        sb.Append($"    dimensions: [{string.Join(", ", einsum.Ranks.Select(r => r.Id.Name))}]\n");
        if (coefficients.Count > 0)
        {
            sb.Append("    coefficients:\n");
            foreach (var c in coefficients) sb.Append($"      - {{name: {CoefficientName(c)}, default: {c}}}\n");
        }
        sb.Append("    data-spaces:\n");
        foreach (var t in einsum.Tensors)
        {
            var name = DataSpaceName(einsum, t);
            sb.Append($"      - name: {YamlText.Scalar(name)}\n");
            sb.Append("        projection:\n");
            foreach (var d in t.Dims)
                sb.Append($"          - [{string.Join(", ", d.Terms.Select(term => term.Coefficient == 1 ? $"[{term.Rank}]" : $"[{term.Rank}, {CoefficientName(term.Coefficient)}]"))}]\n");
            if (t.IsOutput) sb.Append("        read-write: true\n");
            else if (WorkloadSpec.ParseRole(name) != t.Role) sb.Append($"        {RoleKey}: {WorkloadSpec.RoleName(t.Role)}\n");
        }
        sb.Append("  instance:\n");
        foreach (var r in einsum.Ranks) sb.Append($"    {r.Id}: {r.Bound}\n");
        return sb.ToString();
    }

    // Our own key, which Timeloop ignores: the role of an operand whose name does not say it.
    private const string RoleKey = "optimizer-role";

    private static string CoefficientName(int c) => c > 0 ? $"Coef{c}" : $"CoefMinus{-c}";

    /// <summary>One term of a projection: a dimension times a coefficient (named, or a constant).</summary>
    private sealed record Term(string Dim, string? Coefficient, int Constant);

    private sealed record DataSpace(SpecNode Node, string Name, List<List<Term>> Projection, bool ReadWrite, TensorRole? Role);

    private sealed record Shape(string Name, List<string> Dims, Dictionary<string, int> Defaults, List<DataSpace> Spaces);

    private static Einsum? Read(SpecMap problem)
    {
        var shapeNode = problem.Get("shape");
        var shape = shapeNode is null ? BuiltIn() : ReadShape(shapeNode);
        var instance = problem.Map("instance", required: true);
        if (instance is null) return null;
        foreach (var (key, value) in instance.Entries)
        {
            if (key == "densities") value.Error("sparse workloads (densities) are not supported; docs/interop.md lists what is");
            else if (shape is null) value.AsInt(); // without a shape the names cannot be checked, the values can
        }
        if (shape is null) return null;
        var bounds = shape.Dims.ToDictionary(d => d, _ => 1);
        var values = new Dictionary<string, int>(shape.Defaults);
        foreach (var (key, value) in instance.Entries.Where(e => e.Key != "densities"))
        {
            if (bounds.ContainsKey(key)) { if (value.AsInt(min: 1) is { } b) bounds[key] = b; }
            else if (values.ContainsKey(key))
            {
                if (value.AsInt() is { } c)
                {
                    if (c == 0) value.Error($"coefficient {key} must not be 0");
                    else values[key] = c;
                }
            }
            else
            {
                var known = shape.Dims.Concat(shape.Defaults.Keys).ToList();
                var near = SpecReader.Closest(key, known);
                value.Error($"unknown dimension or coefficient '{key}'{(near is null ? "" : $"; did you mean '{near}'?")}; the shape has dimensions {string.Join(", ", shape.Dims)}" +
                            (shape.Defaults.Count > 0 ? $" and coefficients {string.Join(", ", shape.Defaults.Keys)}" : ""));
            }
        }
        if (problem.Self.Reader.HasErrors) return null;
        var outputs = shape.Spaces.Where(s => s.ReadWrite).ToList();
        var operands = shape.Spaces.Where(s => !s.ReadWrite).ToList();
        var where = shapeNode ?? problem.Self;
        if (outputs.Count != 1)
        {
            where.Error($"a problem has exactly one read-write data-space (its output); this shape has {outputs.Count}");
            return null;
        }
        if (operands.Count is 0 or > 2)
        {
            where.Error($"a problem has one or two read-only data-spaces (the operands of a multiply-accumulate); this shape has {operands.Count}");
            return null;
        }
        foreach (var dim in outputs[0].Projection)
            if (dim.Count != 1 || dim[0].Coefficient is not null || dim[0].Constant != 1)
            {
                outputs[0].Node.Error($"each projection of the output data-space {outputs[0].Name} must be a single dimension; sliding windows in outputs are not supported");
                return null;
            }
        var roles = OperandRoles(operands);
        var tensors = shape.Spaces.Select(s => (s, role: s.ReadWrite ? TensorRole.Outputs : roles[s])).ToList();
        var layerName = Regex.Replace(shape.Name, @"\s+", "_");
        return where.Build(() => new Einsum(layerName.Length == 0 ? "layer" : layerName, Kind,
            shape.Dims.Select(d => new Rank(new RankId(d), bounds[d])),
            tensors.Select(x => new TensorSpec(new TensorId(x.s.Name), x.role,
                x.s.Projection.Select(dim => new AffineExpr(dim.Select(t => new AffineTerm(new RankId(t.Dim), t.Coefficient is null ? t.Constant : values[t.Coefficient]))))))));
    }

    // A data-space given a role, or named like one (inputs, weights), takes it; the others take the roles left, inputs first.
    private static Dictionary<DataSpace, TensorRole> OperandRoles(List<DataSpace> operands)
    {
        var roles = new Dictionary<DataSpace, TensorRole>();
        var free = new List<TensorRole> { TensorRole.Inputs, TensorRole.Weights };
        foreach (var s in operands)
            if (s.Role is { } given && free.Remove(given)) roles[s] = given;
        foreach (var s in operands.Where(s => !roles.ContainsKey(s)))
            if (WorkloadSpec.ParseRole(s.Name) is { } r && free.Remove(r)) roles[s] = r;
        foreach (var s in operands.Where(s => !roles.ContainsKey(s)))
        {
            roles[s] = free[0];
            free.RemoveAt(0);
        }
        return roles;
    }

    private static Shape? BuiltIn()
    {
        var reader = new SpecReader("built-in cnn-layer shape");
        var map = reader.Document(CnnLayerShape, "shape");
        var shape = map is null ? null : ReadShape(map.Self);
        reader.ThrowIfErrors();
        return shape;
    }

    private static Shape? ReadShape(SpecNode node)
    {
        if (node.Node is YamlScalarNode)
        {
            var builtIn = node.AsString()!;
            if (Regex.Replace(builtIn.ToLowerInvariant(), "[-_ ]", "") == "cnnlayer") return BuiltIn();
            node.Error($"unknown built-in shape '{builtIn}'; the built-in shape is {CnnLayer}; give any other shape as a map (dimensions, coefficients, data-spaces)");
            return null;
        }
        var m = node.AsMap("name", "dimensions", "coefficients", "data-spaces", "data_spaces");
        if (m is null) return null;
        var errors = node.Reader.Errors.Count;
        var name = m.String("name") ?? "layer";
        var dims = new List<string>();
        foreach (var item in m.List("dimensions", required: true) ?? [])
        {
            var d = item.AsString();
            if (d is null) continue;
            if (!Identifier().IsMatch(d)) item.Error($"a dimension name is letters, digits and _, starting with a letter or _; got '{d}'");
            else if (dims.Contains(d)) item.Error($"dimension {d} is listed twice");
            else dims.Add(d);
        }
        var defaults = new Dictionary<string, int>();
        foreach (var item in m.List("coefficients") ?? [])
        {
            var c = item.AsMap("name", "default");
            var cname = c?.String("name", required: true);
            var value = c?.Int("default") ?? 1;
            if (cname is null) continue;
            if (dims.Contains(cname)) c!.Get("name")!.Error($"coefficient {cname} has the name of a dimension");
            else if (!defaults.TryAdd(cname, value)) c!.Get("name")!.Error($"coefficient {cname} is declared twice");
        }
        var spacesKey = m.Has("data_spaces") ? "data_spaces" : "data-spaces";
        var spaces = new List<DataSpace>();
        foreach (var item in m.List(spacesKey, required: true) ?? [])
        {
            var s = item.AsMap("name", "projection", "read-write", "read_write", RoleKey);
            if (s is null) continue;
            var sname = s.String("name", required: true);
            if (sname is not null && (sname.Length == 0 || sname.Any(char.IsWhiteSpace)))
                s.Get("name")!.Error($"a data-space name must be non-empty and free of white space, got '{sname}'");
            else if (sname is not null && spaces.Any(x => x.Name == sname)) s.Get("name")!.Error($"data-space {sname} is declared twice");
            var readWrite = s.Bool(s.Has("read_write") ? "read_write" : "read-write") ?? false;
            var projection = new List<List<Term>>();
            foreach (var dim in s.List("projection", required: true) ?? [])
                if (Projection(dim, dims, defaults) is { } terms) projection.Add(terms);
            if (s.Get("projection") is { IsList: true } p && p.AsList()!.Count == 0) p.Error("a data-space needs at least one projection");
            TensorRole? role = null;
            if (s.String(RoleKey) is { } roleText && (role = WorkloadSpec.ParseRole(roleText)) is null or TensorRole.Outputs)
            {
                s.Get(RoleKey)!.Error($"{RoleKey} is inputs or weights (the output is the read-write data-space), got '{roleText}'");
                role = null;
            }
            if (sname is not null) spaces.Add(new DataSpace(item, sname, projection, readWrite, role));
        }
        return node.Reader.Errors.Count > errors ? null : new Shape(name, dims, defaults, spaces);
    }

    // One dimension of a data-space: [[D]], [[D, coefficient], [E]] (a sum of products), or D alone.
    private static List<Term>? Projection(SpecNode dim, List<string> dims, Dictionary<string, int> coefficients)
    {
        if (!dim.IsList) return dim.AsString() is { } d && CheckDim(dim, d, dims) ? [new Term(d, null, 1)] : null;
        var terms = new List<Term>();
        bool ok = true;
        foreach (var term in dim.AsList()!)
        {
            var parts = term.IsList ? term.AsList()! : [term];
            var texts = parts.Select(p => p.AsString()).ToList();
            if (texts.Any(t => t is null)) { ok = false; continue; }
            if (parts.Count is 0 or > 2)
            {
                term.Error("a projection term is [dimension] or [dimension, coefficient]");
                ok = false;
                continue;
            }
            if (!CheckDim(parts[0], texts[0]!, dims)) { ok = false; continue; }
            if (parts.Count == 1) { terms.Add(new Term(texts[0]!, null, 1)); continue; }
            var coef = texts[1]!;
            if (coefficients.ContainsKey(coef)) terms.Add(new Term(texts[0]!, coef, 1));
            else if (int.TryParse(coef, out var constant) && constant != 0) terms.Add(new Term(texts[0]!, null, constant));
            else
            {
                parts[1].Error($"unknown coefficient '{coef}'; declare it under coefficients{(coefficients.Count > 0 ? $" (declared: {string.Join(", ", coefficients.Keys)})" : "")} or write a non-zero integer");
                ok = false;
            }
        }
        if (ok && terms.Count == 0) { dim.Error("a projection needs at least one term"); return null; }
        return ok ? terms : null;
    }

    private static bool CheckDim(SpecNode node, string name, List<string> dims)
    {
        if (dims.Contains(name)) return true;
        var near = SpecReader.Closest(name, dims);
        node.Error($"unknown dimension '{name}'{(near is null ? "" : $"; did you mean '{near}'?")}; the shape has dimensions {string.Join(", ", dims)}");
        return false;
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex Identifier();
}
