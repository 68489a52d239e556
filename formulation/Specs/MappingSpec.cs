using System.Text;
using System.Text.RegularExpressions;
using Optimizer.Hardware;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Optimizer.Formulation.Specs;

/// <summary>
/// Reads and writes mapping spec files (docs/spec-format.md) for one Einsum on one architecture. The
/// reader checks only what the file says (names, ranks, factors, axes); whether the mapping is legal
/// (factor products, capacities, fanouts) is the <see cref="ValidityChecker"/>'s job.
/// </summary>
public static partial class MappingSpec
{
    /// <summary>Reads a mapping spec file for the Einsum on the architecture; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static Mapping Load(string path, Einsum einsum, Architecture arch) => Parse(File.ReadAllText(path), path, einsum, arch);

    /// <summary>Reads a mapping spec from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static Mapping Parse(string text, string fileName, Einsum einsum, Architecture arch)
    {
        var reader = new SpecReader(fileName);
        var mapping = Read(reader.Root(text, "mapping"), einsum, arch);
        reader.ThrowIfErrors();
        return mapping!;
    }

    /// <summary>The optional <c>layer</c> of a mapping spec, read before the Einsum is known; throws <see cref="SpecException"/> on malformed text.</summary>
    public static string? LayerOf(string text, string fileName)
    {
        var reader = new SpecReader(fileName);
        var layer = reader.Root(text, "mapping")?.String("layer");
        reader.ThrowIfErrors();
        return layer;
    }

    /// <summary>
    /// Writes the mapping with one entry per architecture level, loops in the string forms and explicit
    /// keep lists; <c>layer</c> is <paramref name="layer"/>, or the Einsum's name when null.
    /// </summary>
    public static string Write(Mapping mapping, Einsum einsum, Architecture arch, string? layer = null)
    {
        if (mapping.Levels.Count != arch.Levels.Count)
            throw new ArgumentException($"The mapping has {mapping.Levels.Count} levels but architecture {arch.Name} has {arch.Levels.Count}.", nameof(mapping));
        var sb = new StringBuilder();
        sb.Append("mapping:\n");
        sb.Append($"  layer: {YamlText.Scalar(layer ?? einsum.Name)}\n");
        sb.Append("  levels:\n");
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var lm = mapping.Levels[l];
            sb.Append($"    - level: {YamlText.Scalar(arch.Levels[l].Name)}\n");
            if (lm.Temporal.Count > 0) sb.Append($"      temporal: {YamlText.Quoted(string.Join(" ", lm.Temporal))}\n");
            if (lm.Spatial.Count > 0) sb.Append($"      spatial: {YamlText.Quoted(string.Join(" ", lm.Spatial))}\n");
            // Einsum order first, then any tensor the Einsum does not know, so the file shows what the mapping holds.
            var keep = einsum.Tensors.Select(t => t.Id).Where(lm.Keep.Contains).Concat(lm.Keep.Where(t => einsum.FindTensor(t) is null));
            sb.Append($"      keep: {YamlText.List(keep.Select(t => t.Name))}\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Appends a mapping spec's body as an item of a <c>mappings</c> list two levels deep (the fused
    /// mapping and mapping set files): <c>mapping:</c> dropped, four more spaces of indent.
    /// </summary>
    internal static void AppendListItem(StringBuilder sb, Mapping mapping, Einsum einsum, Architecture arch)
    {
        var body = Write(mapping, einsum, arch).Split('\n').Skip(1).Where(l => l.Length > 0).ToList();
        for (int k = 0; k < body.Count; k++)
            sb.Append(k == 0 ? "    - " + body[k].TrimStart() : "    " + body[k]).Append('\n');
    }

    internal static Mapping? Read(SpecMap? root, Einsum einsum, Architecture arch)
    {
        if (root is null) return null;
        root.AllowOnly("layer", "levels");
        root.String("layer");
        var levels = arch.Levels.Select(l => Default(einsum, l)).ToArray();
        var seen = new Dictionary<int, SpecNode>();
        int last = -1;
        foreach (var item in root.List("levels") ?? [])
        {
            var m = item.AsMap("level", "temporal", "spatial", "keep", "bypass");
            if (m is null) continue;
            var nameNode = m.Required("level");
            var name = nameNode?.AsString();
            int index = LevelIndex(nameNode, name, arch);
            if (index >= 0 && seen.TryGetValue(index, out var first))
                nameNode!.Error($"level {name} is listed twice (first at line {first.Line})");
            else if (index >= 0 && index < last)
                nameNode!.Error($"level {name} comes after {arch.Levels[last].Name}, but it is further out; list levels outermost first: {LevelNames(arch)}");
            if (index >= 0 && !seen.ContainsKey(index)) seen[index] = item;
            last = Math.Max(last, index);

            var temporal = Loops(m.Get("temporal"), einsum, spatial: false);
            var spatialLoops = Loops(m.Get("spatial"), einsum, spatial: true);
            var keep = Keep(m, einsum, index >= 0 ? arch.Levels[index] : null);
            if (index >= 0 && temporal is not null && spatialLoops is not null && keep is not null)
                levels[index] = new LevelMapping(temporal.Select(t => new TemporalLoop(t.Rank, t.Factor)), spatialLoops.Select(s => new SpatialLoop(s.Rank, s.Factor, s.Axis!.Value)), keep);
        }
        return root.Self.Reader.HasErrors ? null : new Mapping(levels);
    }

    private static string LevelNames(Architecture arch) => string.Join(", ", arch.Levels.Select(l => l.Name));

    // An omitted level: no loops, and it keeps every tensor its role rules allow.
    private static LevelMapping Default(Einsum einsum, StorageLevel level)
        => new([], [], einsum.Tensors.Where(t => level.MayKeep(t.Role)).Select(t => t.Id));

    private static IEnumerable<TensorId>? Keep(SpecMap m, Einsum einsum, StorageLevel? level)
    {
        var keepNode = m.Get("keep");
        var bypassNode = m.Get("bypass");
        if (keepNode is not null && bypassNode is not null)
        {
            bypassNode.Error("give keep or bypass, not both");
            return null;
        }
        var node = keepNode ?? bypassNode;
        if (node is null) return level is null ? null : Default(einsum, level).Keep;
        var items = node.AsList();
        if (items is null) return null;
        var named = Tensors(items, einsum);
        if (named is null || level is null) return null;
        return keepNode is not null ? named : Default(einsum, level).Keep.Except(named);
    }

    /// <summary>The index of a named level, or -1 with a located error (and a suggestion) when the architecture has none.</summary>
    internal static int LevelIndex(SpecNode? nameNode, string? name, Architecture arch)
    {
        if (name is null) return -1;
        int index = arch.IndexOf(name);
        if (index < 0)
        {
            var near = SpecReader.Closest(name, arch.Levels.Select(l => l.Name));
            nameNode!.Error($"unknown level '{name}'{(near is null ? "" : $"; did you mean '{near}'?")}; architecture {arch.Name} has levels {LevelNames(arch)}");
        }
        return index;
    }

    /// <summary>Tensors named by tensor name or role (a role names every tensor of that role); null, with located errors, when one is unknown.</summary>
    internal static List<TensorId>? Tensors(IEnumerable<SpecNode> items, Einsum einsum)
    {
        var named = new List<TensorId>();
        bool ok = true;
        foreach (var item in items)
        {
            var text = item.AsString();
            if (text is null) { ok = false; continue; }
            var tensor = einsum.Tensors.FirstOrDefault(t => t.Id.Name == text);
            if (tensor is not null) named.Add(tensor.Id);
            else if (WorkloadSpec.ParseRole(text) is { } role) named.AddRange(einsum.Tensors.Where(t => t.Role == role).Select(t => t.Id));
            else
            {
                item.Error($"unknown tensor or role '{text}'; layer {einsum.Name} has tensors {string.Join(", ", einsum.Tensors.Select(t => t.Id))} and roles inputs, weights, outputs");
                ok = false;
            }
        }
        return ok ? named : null;
    }

    internal readonly record struct Loop(RankId Rank, int Factor, Axis? Axis);

    internal static List<Loop>? Loops(SpecNode? node, Einsum einsum, bool spatial)
    {
        if (node is null) return [];
        return node.IsList ? LoopList(node, einsum, spatial) : LoopString(node, einsum, spatial);
    }

    // "K=2 C=4" (temporal) or "K=16@X C=4@Y" (spatial), outermost first.
    private static List<Loop>? LoopString(SpecNode node, Einsum einsum, bool spatial)
    {
        var text = node.AsString();
        if (text is null) return null;
        var loops = new List<Loop>();
        bool ok = true;
        var form = spatial ? "rank=factor@axis, such as K=16@X" : "rank=factor, such as K=2";
        foreach (Match token in LoopToken().Matches(text))
        {
            void Fail(string message)
            {
                ok = false;
                node.Reader.Error(node.Line, TokenColumn(node, token.Index), node.Path, message);
            }
            var parts = Regex.Match(token.Value, spatial ? @"^([^=@]+)=([^=@]+)@([^=@]+)$" : @"^([^=@]+)=([^=@]+)$");
            if (!parts.Success) { Fail($"'{token.Value}' is not a loop; write {form}"); continue; }
            var rank = CheckRank(parts.Groups[1].Value, einsum, Fail);
            var factor = CheckFactor(parts.Groups[2].Value, Fail);
            var axis = spatial ? CheckAxis(parts.Groups[3].Value, Fail) : null;
            if (rank is not null && factor is not null && (!spatial || axis is not null)) loops.Add(new Loop(rank.Value, factor.Value, axis));
        }
        return ok ? loops : null;
    }

    // [{rank: K, factor: 2}, ...] or, spatial, [{rank: K, factor: 16, axis: X}, ...].
    private static List<Loop>? LoopList(SpecNode node, Einsum einsum, bool spatial)
    {
        var loops = new List<Loop>();
        bool ok = true;
        foreach (var item in node.AsList()!)
        {
            var m = spatial ? item.AsMap("rank", "factor", "axis") : item.AsMap("rank", "factor");
            if (m is null) { ok = false; continue; }
            var rankNode = m.Required("rank");
            var factorNode = m.Required("factor");
            var axisNode = spatial ? m.Required("axis") : null;
            var rank = rankNode?.AsString() is { } r ? CheckRank(r, einsum, rankNode.Error) : null;
            var factor = factorNode?.AsString() is { } f ? CheckFactor(f, factorNode.Error) : null;
            var axis = axisNode?.AsString() is { } a ? CheckAxis(a, axisNode.Error) : null;
            if (rank is null || factor is null || (spatial && axis is null)) ok = false;
            else loops.Add(new Loop(rank.Value, factor.Value, axis));
        }
        return ok ? loops : null;
    }

    internal static RankId? CheckRank(string name, Einsum einsum, Action<string> error)
    {
        var rank = einsum.Ranks.FirstOrDefault(r => r.Id.Name == name);
        if (rank is not null) return rank.Id;
        error($"unknown rank '{name}'; layer {einsum.Name} has ranks {string.Join(", ", einsum.Ranks.Select(r => r.Id))}");
        return null;
    }

    private static int? CheckFactor(string text, Action<string> error)
    {
        if (int.TryParse(text, out var f) && f >= 1) return f;
        error($"a loop factor must be a positive integer, got '{text}'");
        return null;
    }

    private static Axis? CheckAxis(string text, Action<string> error)
    {
        if (string.Equals(text, "x", StringComparison.OrdinalIgnoreCase)) return Axis.X;
        if (string.Equals(text, "y", StringComparison.OrdinalIgnoreCase)) return Axis.Y;
        error($"unknown axis '{text}'; an axis is X or Y");
        return null;
    }

    /// <summary>The column of a token inside a one-line scalar, so an error points at the token itself.</summary>
    internal static int TokenColumn(SpecNode node, int offset)
        => node.Node is YamlScalarNode { Value: { } v } s && !v.Contains('\n') && s.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted
            ? node.Column + offset + (s.Style == ScalarStyle.Plain ? 0 : 1)
            : node.Column;

    [GeneratedRegex(@"[^\s,]+")]
    private static partial Regex LoopToken();
}
