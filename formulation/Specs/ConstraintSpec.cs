using Optimizer.Hardware;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Formulation.Specs;

/// <summary>
/// Reads constraint spec files (docs/spec-format.md, "Constraints"): per level, pinned temporal and
/// spatial factors, the ranks allowed along each axis, a loop order, and tensors to keep or bypass.
/// </summary>
public static class ConstraintSpec
{
    /// <summary>Reads a constraint file for the Einsum on the architecture; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static MappingConstraints Load(string path, Einsum einsum, Architecture arch) => Parse(File.ReadAllText(path), path, einsum, arch);

    /// <summary>Reads constraints from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static MappingConstraints Parse(string text, string fileName, Einsum einsum, Architecture arch)
    {
        var reader = new SpecReader(fileName);
        var root = reader.Root(text, "constraints");
        var levels = new Dictionary<int, LevelConstraint>();
        var global = new List<GlobalConstraint>();
        string At(SpecNode node) => $"{fileName}:{node.Line}:{node.Column}";
        if (root is not null)
        {
            root.AllowOnly("levels", "min-utilization");
            if (root.Get("min-utilization") is { } util && Fraction(util) is { } u) global.Add(new MinUtilization(u) { Where = At(util) });
            foreach (var item in root.List("levels") ?? [])
            {
                var m = item.AsMap("level", "temporal", "spatial", "spatial-x", "spatial-y", "order", "keep", "bypass",
                    "tile-multiple", "min-fanout-used", "bandwidth-within-compute", "max-count");
                if (m is null) continue;
                var nameNode = m.Required("level");
                var name = nameNode?.AsString();
                int index = MappingSpec.LevelIndex(nameNode, name, arch);
                if (index < 0) continue;
                if (levels.ContainsKey(index)) { nameNode!.Error($"level {name} is constrained twice"); continue; }
                var temporal = MappingSpec.Loops(m.Get("temporal"), einsum, spatial: false);
                var spatial = MappingSpec.Loops(m.Get("spatial"), einsum, spatial: true);
                var dupT = temporal?.GroupBy(l => l.Rank).FirstOrDefault(g => g.Count() > 1);
                if (dupT is not null) m.Get("temporal")!.Error($"rank {dupT.Key} is pinned twice");
                var c = new LevelConstraint
                {
                    Temporal = temporal?.GroupBy(l => l.Rank).ToDictionary(g => g.Key, g => g.First().Factor) ?? new Dictionary<RankId, int>(),
                    Spatial = spatial?.GroupBy(l => (l.Rank, l.Axis!.Value)).ToDictionary(g => g.Key, g => g.Aggregate(1, (a, l) => a * l.Factor)) ?? new Dictionary<(RankId, Axis), int>(),
                    SpatialX = Ranks(m.Get("spatial-x"), einsum)?.ToHashSet(),
                    SpatialY = Ranks(m.Get("spatial-y"), einsum)?.ToHashSet(),
                    Order = Ranks(m.Get("order"), einsum),
                    Keep = Tensors(m.Get("keep"), einsum).ToHashSet(),
                    Bypass = Tensors(m.Get("bypass"), einsum).ToHashSet(),
                };
                CheckKeep(c, index, einsum, arch, m.Get("keep"), m.Get("bypass"));
                levels[index] = c;
                ReadGlobal(m, index, einsum, At, global);
            }
        }
        reader.ThrowIfErrors();
        return new MappingConstraints(levels) { Global = global };
    }

    /// <summary>Reads a level's global kinds: tile-multiple, min-fanout-used, bandwidth-within-compute, max-count.</summary>
    private static void ReadGlobal(SpecMap m, int index, Einsum einsum, Func<SpecNode, string> at, List<GlobalConstraint> global)
    {
        if (m.Get("tile-multiple") is { } tm && MappingSpec.Loops(tm, einsum, spatial: false) is { } multiples)
        {
            var dup = multiples.GroupBy(l => l.Rank).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null) tm.Error($"rank {dup.Key} is given twice");
            else global.AddRange(multiples.Select(l => new TileMultiple(index, l.Rank, l.Factor) { Where = at(tm) }));
        }
        if (m.Get("min-fanout-used") is { } fu && fu.AsMap("x", "y", "total") is { } parts)
            foreach (var (key, value) in parts.Entries)
                if (Fraction(value) is { } f)
                    global.Add(new MinFanoutUsed(index, key switch { "x" => FanoutPart.X, "y" => FanoutPart.Y, _ => FanoutPart.Total }, f) { Where = at(value) });
        if (m.Get("bandwidth-within-compute") is { } bw && bw.AsBool() == true) global.Add(new BandwidthWithinCompute(index) { Where = at(bw) });
        foreach (var item in m.List("max-count") ?? [])
        {
            var c = item.AsMap("count", "tensor", "scope", "at-most");
            if (c is null) continue;
            var countNode = c.Required("count");
            CountKind? count = countNode?.AsString() switch
            {
                null => null,
                "reads" => CountKind.Reads,
                "fills" => CountKind.Fills,
                "updates" => CountKind.Updates,
                var other => Fail(countNode!, $"unknown count '{other}'; a count is reads, fills or updates"),
            };
            TensorId? tensor = null;
            bool tensorOk = true;
            if (c.Get("tensor") is { } tn)
            {
                // A tensor's name, or a role that stands for one tensor of the layer.
                var named = MappingSpec.Tensors([tn], einsum);
                tensorOk = named is { Count: 1 };
                if (tensorOk) tensor = named![0];
                else if (named is { Count: > 1 }) tn.Error($"'{tn.AsString()}' stands for {string.Join(", ", named)}; name one tensor");
            }
            bool? total = c.Get("scope") is not { } sc ? false : sc.AsString() switch
            {
                null => null,
                "instance" => false,
                "total" => true,
                var other => Fail<bool>(sc, $"unknown scope '{other}'; the scope is instance (per instance, the default) or total (over every instance used)"),
            };
            var limit = c.Long("at-most", required: true, min: 0);
            if (count is { } k && total is { } all && limit is { } most && tensorOk)
                global.Add(new MaxCount(index, tensor, k, all, most) { Where = at(item) });
        }
    }

    private static T? Fail<T>(SpecNode node, string message) where T : struct
    {
        node.Error(message);
        return null;
    }

    private static CountKind? Fail(SpecNode node, string message) => Fail<CountKind>(node, message);

    /// <summary>A fraction above 0 and at most 1, else null (error recorded).</summary>
    private static double? Fraction(SpecNode node)
    {
        var v = node.AsDouble(0, exclusive: true);
        if (v is > 1) { node.Error($"must be a fraction above 0 and at most 1, got {v}"); return null; }
        return v;
    }

    /// <summary>Records located errors for a bypass at the outermost level, a tensor both kept and bypassed, and a keep of a role the level may not keep.</summary>
    internal static void CheckKeep(LevelConstraint c, int index, Einsum einsum, Architecture arch, SpecNode? keepNode, SpecNode? bypassNode)
    {
        var name = arch.Levels[index].Name;
        if (index == 0 && c.Bypass.Count > 0)
            bypassNode!.Error($"the outermost level {name} keeps every tensor; it cannot bypass {string.Join(", ", c.Bypass)}");
        var both = c.Keep.Intersect(c.Bypass).ToList();
        if (both.Count > 0) bypassNode!.Error($"{string.Join(", ", both)} cannot be both kept and bypassed");
        foreach (var t in c.Keep)
            if (!arch.Levels[index].MayKeep(einsum.FindTensor(t)!.Role))
                keepNode!.Error($"level {name} may not keep {t} ({einsum.FindTensor(t)!.Role}); it may keep {string.Join(", ", arch.Levels[index].Keeps.Order())}");
    }

    private static List<RankId>? Ranks(SpecNode? node, Einsum einsum)
    {
        if (node is null) return null;
        var list = new List<RankId>();
        foreach (var item in node.AsList() ?? [])
            if (item.AsString() is { } name && MappingSpec.CheckRank(name, einsum, item.Error) is { } r) list.Add(r);
        return list;
    }

    private static IEnumerable<TensorId> Tensors(SpecNode? node, Einsum einsum)
        => node?.AsList() is { } items ? MappingSpec.Tensors(items, einsum) ?? [] : [];
}
