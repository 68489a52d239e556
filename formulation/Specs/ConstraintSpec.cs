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
        if (root is not null)
        {
            root.AllowOnly("levels");
            foreach (var item in root.List("levels") ?? [])
            {
                var m = item.AsMap("level", "temporal", "spatial", "spatial-x", "spatial-y", "order", "keep", "bypass");
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
            }
        }
        reader.ThrowIfErrors();
        return new MappingConstraints(levels);
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
