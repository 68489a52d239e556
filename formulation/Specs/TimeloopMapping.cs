using System.Text;
using System.Text.RegularExpressions;
using Optimizer.Hardware;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Formulation.Specs;

/// <summary>
/// Reads and writes Timeloop mapping files (a <c>mapping</c> list of <c>target</c>/<c>type</c> entries:
/// <c>temporal</c> and <c>spatial</c> with <c>factors</c> and a <c>permutation</c> written innermost first,
/// <c>split</c> for the X/Y boundary, <c>bypass</c> with <c>keep</c>/<c>bypass</c>), and reads the same
/// entries as mapper constraints (docs/interop.md).
/// </summary>
public static partial class TimeloopMapping
{
    private static readonly string[] Types = ["temporal", "spatial", "bypass", "datatype"];
    private static readonly string[] ConstraintKeys = ["mapspace_constraints", "architecture_constraints", "constraints"];

    /// <summary>Reads a Timeloop mapping file for the Einsum on the architecture; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static Mapping Load(string path, Einsum einsum, Architecture arch) => Parse(File.ReadAllText(path), path, einsum, arch);

    /// <summary>Reads a Timeloop mapping from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static Mapping Parse(string text, string fileName, Einsum einsum, Architecture arch)
    {
        var reader = new SpecReader(fileName);
        var node = reader.Document(text, "mapping")?.Required("mapping");
        var items = node?.IsList == false ? node.AsMap("targets")?.List("targets", required: true) : node?.AsList();
        var directives = items is null ? null : Directives(items, einsum, arch);
        var mapping = directives is null || reader.HasErrors ? null : Build(directives, einsum, arch);
        if (mapping is not null) CheckResiduals(directives!, mapping, einsum);
        reader.ThrowIfErrors();
        return mapping!;
    }

    /// <summary>Every loop of <see cref="Mapping.Nest"/> with the residual Timeloop writes for it (<see cref="Mapping.Residuals"/>).</summary>
    private static List<(int Level, bool Spatial, RankId Rank, int Factor, long? Residual)> LoopResiduals(Mapping mapping, Einsum einsum)
        => mapping.Nest().Zip(mapping.Residuals(einsum), (x, r) => (x.Level, x.IsSpatial, x.Rank, x.Factor, r)).ToList();

    // A residual that is given must be the one the factors and the bound fix (Timeloop stops otherwise: 'product of all factors ... is not equal to the dimension size').
    private static void CheckResiduals(List<Directive> directives, Mapping mapping, Einsum einsum)
    {
        var derived = LoopResiduals(mapping, einsum);
        foreach (var d in directives)
            foreach (var (rank, given) in d.Residuals ?? [])
            {
                if (d.Type is not ("temporal" or "spatial")) continue;
                var loop = derived.FirstOrDefault(x => x.Level == d.Level && x.Spatial == (d.Type == "spatial") && x.Rank == rank);
                long expected = loop.Factor == 0 ? 1 : loop.Residual ?? given.Value;
                if (given.Value != expected)
                    given.Fail($"the residual {given.Value} of {rank} does not fit its bound {einsum.Bound(rank)}: with these factors the last iteration of every loop outside " +
                               $"runs {expected} of this loop's iterations (bound - 1 = sum of (residual - 1) x stride over {rank}'s loops)");
            }
    }

    /// <summary>Reads a Timeloop constraints file (mapspace_constraints, architecture_constraints or constraints entries) as mapper constraints.</summary>
    public static MappingConstraints LoadConstraints(string path, Einsum einsum, Architecture arch) => ParseConstraints(File.ReadAllText(path), path, einsum, arch);

    /// <summary>Reads Timeloop constraint entries from text; <paramref name="fileName"/> is used in error messages.</summary>
    public static MappingConstraints ParseConstraints(string text, string fileName, Einsum einsum, Architecture arch)
    {
        var reader = new SpecReader(fileName);
        var top = reader.Document(text, "mapspace_constraints");
        var items = new List<SpecNode>();
        if (top is not null)
        {
            var present = ConstraintKeys.Where(top.Has).ToList();
            if (present.Count == 0) top.Self.Error($"a Timeloop constraints file holds {string.Join(", ", ConstraintKeys)} or mapspace.constraints; this one has none");
            foreach (var key in present) items.AddRange(Entries(top.Get(key)!));
            if (top.Get("mapspace") is { } mapspace && mapspace.AsMap()?.Get("constraints") is { } nested) items.AddRange(Entries(nested));
        }
        var directives = Directives(items, einsum, arch);
        var constraints = reader.HasErrors ? null : Constraints(directives, einsum, arch);
        reader.ThrowIfErrors();
        return constraints!;
    }

    private static IReadOnlyList<SpecNode> Entries(SpecNode node) => (node.IsList ? node.AsList() : node.AsMap("targets")?.List("targets", required: true)) ?? [];

    /// <summary>One entry: its level, its type, and what it says (absent parts null).</summary>
    private sealed record Directive(SpecMap Map, int Level, string Type, Dictionary<RankId, int>? Factors, List<RankId>? Permutation, int? Split, List<TensorId>? Keep, List<TensorId>? Bypass,
        Dictionary<RankId, Residual>? Residuals = null);

    /// <summary>A residual written after a factor (<c>P=3,2</c>): its value, and how to report a mistake at it.</summary>
    private sealed record Residual(int Value, Action<string> Fail);

    private static List<Directive> Directives(IReadOnlyList<SpecNode> items, Einsum einsum, Architecture arch)
    {
        var result = new List<Directive>();
        var seen = new Dictionary<(int, string), SpecNode>();
        foreach (var item in items)
        {
            var m = item.AsMap("target", "type", "factors", "permutation", "split", "keep", "bypass");
            if (m is null) continue;
            var type = m.String("type", required: true);
            if (type is not null && !Types.Contains(type))
            {
                m.Get("type")!.Error($"type '{type}' is not supported; the types are temporal, spatial and bypass (or datatype)");
                continue;
            }
            if (type == "datatype") type = "bypass";
            var level = Target(m.Required("target"), arch);
            if (type is null) continue;
            if (level >= 0 && seen.TryGetValue((level, type), out var first))
                m.Get("type")!.Error($"a second {type} entry for {arch.Levels[level].Name} (the first is at line {first.Line})");
            else if (level >= 0) seen[(level, type)] = item;
            if (level >= 0 && type == "spatial" && arch.Levels[level].Fanout.Size == 1)
                m.Get("type")!.Error($"level {arch.Levels[level].Name} has no fanout below it, so it takes no spatial entry");
            foreach (var key in type == "bypass" ? ["factors", "permutation", "split"] : new[] { "keep", "bypass" }.Concat(type == "temporal" ? ["split"] : []))
                if (m.Get(key) is { } extra) extra.Error($"a {type} entry takes no {key}");
            var residuals = new Dictionary<RankId, Residual>();
            var factors = m.Get("factors") is { } f ? Factors(f, einsum, residuals) : null;
            var permutation = m.Get("permutation") is { } p ? Permutation(p, einsum) : null;
            var split = m.Int("split", min: 0);
            if (split is { } s && permutation is not null && s > permutation.Count)
                m.Get("split")!.Error($"split {s} is beyond the {permutation.Count} dimensions of the permutation");
            var keep = m.List("keep") is { } k ? DataSpaces(k, einsum) : null;
            var bypass = m.List("bypass") is { } b ? DataSpaces(b, einsum) : null;
            if (level >= 0) result.Add(new Directive(m, level, type, factors, permutation, split, keep, bypass, residuals));
        }
        return result;
    }

    // A level by name, or by Timeloop's numeric id (0 is the innermost storage level).
    private static int Target(SpecNode? node, Architecture arch)
    {
        var text = node?.AsString();
        if (text is null) return -1;
        if (int.TryParse(text, out var id))
        {
            if (id >= 0 && id < arch.Levels.Count) return arch.Levels.Count - 1 - id;
            node!.Error($"storage level id {id} is out of range: {arch.Name} has {arch.Levels.Count} levels (0 is the innermost)");
            return -1;
        }
        return MappingSpec.LevelIndex(node, text, arch);
    }

    // "R=1 S=3" or, as Timeloop's mapper writes them, "R1 S3" (spaces or commas between), or a list of such strings; every factor exact and
    // positive. "P=3,2" is factor 3 with residual 2 (Timeloop's residual_end: the iterations the loop runs when every outer loop of P is at its last).
    private static Dictionary<RankId, int>? Factors(SpecNode node, Einsum einsum, Dictionary<RankId, Residual> residuals)
    {
        var texts = node.IsList ? node.AsList()!.Select(i => (i, i.AsString())).ToList() : [(node, node.AsString())];
        var result = new Dictionary<RankId, int>();
        bool ok = true;
        foreach (var (where, text) in texts)
        {
            if (text is null) { ok = false; continue; }
            foreach (Match token in Token().Matches(text))
            {
                // Errors point at the factor itself inside the string.
                void Fail(string message)
                {
                    ok = false;
                    where.Reader.Error(where.Line, MappingSpec.TokenColumn(where, token.Index), where.Path, message);
                }
                var parts = FactorToken().Match(token.Value);
                if (!parts.Success)
                {
                    Fail(token.Value.Contains('<') || token.Value.Contains('>')
                        ? $"'{token.Value}': only exact factors (D=N) are supported, not bounds"
                        : $"'{token.Value}' is not a factor; write dimension=factor (or dimension factor), such as R=3 or R3");
                    continue;
                }
                var rank = MappingSpec.CheckRank(parts.Groups[1].Value, einsum, Fail);
                var value = int.Parse(parts.Groups[2].Value);
                int? residual = parts.Groups[3].Success ? int.Parse(parts.Groups[3].Value) : null;
                if (value == 0) Fail($"'{token.Value}': a factor of 0 (which Timeloop reads as the whole bound, with a warning) is not supported; give the factor");
                else if (residual is { } x && (x < 1 || x > value)) Fail($"'{token.Value}': the residual {x} must be between 1 and the factor {value}");
                else if (rank is { } r && !result.TryAdd(r, value)) Fail($"dimension {r} has two factors");
                else if (rank is null) ok = false;
                else if (residual is { } res) residuals[rank.Value] = new Residual(res, Fail);
            }
        }
        return ok ? result : null;
    }

    // Innermost first: "RSPQ" (one letter a dimension), "R S P Q" or a list.
    private static List<RankId>? Permutation(SpecNode node, Einsum einsum)
    {
        List<(SpecNode Node, string Name)> names;
        if (node.IsList) names = node.AsList()!.Select(i => (i, i.AsString() ?? "")).ToList();
        else
        {
            var text = node.AsString() ?? "";
            var tokens = Token().Matches(text).Select(t => t.Value).ToList();
            names = (tokens.Count == 1 && !einsum.HasRank(new RankId(tokens[0])) ? tokens[0].Select(c => c.ToString()) : tokens).Select(n => (node, n)).ToList();
        }
        var result = new List<RankId>();
        bool ok = true;
        foreach (var (where, name) in names)
        {
            var rank = name.Length == 0 ? null : MappingSpec.CheckRank(name, einsum, where.Error);
            if (rank is null) ok = false;
            else if (result.Contains(rank.Value)) { where.Error($"dimension {name} appears twice in the permutation"); ok = false; }
            else result.Add(rank.Value);
        }
        return ok ? result : null;
    }

    private static Mapping? Build(List<Directive> directives, Einsum einsum, Architecture arch)
    {
        var levels = new List<LevelMapping>();
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var temporal = Ordered(directives.FirstOrDefault(d => d.Level == l && d.Type == "temporal"), einsum);
            var spatialEntry = directives.FirstOrDefault(d => d.Level == l && d.Type == "spatial");
            var spatial = Ordered(spatialEntry, einsum);
            var bypass = directives.FirstOrDefault(d => d.Level == l && d.Type == "bypass");
            if (temporal is null || spatial is null) return null;
            var keep = einsum.Tensors.Where(x => arch.Levels[l].MayKeep(x.Role)).Select(x => x.Id).ToHashSet();
            keep.UnionWith(bypass?.Keep ?? []);
            keep.ExceptWith(bypass?.Bypass ?? []);
            // Positions before split run along X, the rest along Y, each innermost first; the mapping lists each axis's
            // loops outermost first, X before Y. The order within an axis is kept: it says which rank varies fastest from
            // one child to the next, so which children are neighbours (Timeloop's link transfers, docs/cost-model.md).
            int split = spatialEntry?.Split ?? spatial.Value.Permutation.Count;
            var laid = spatial.Value.Permutation.Select((r, i) => new SpatialLoop(r, spatial.Value.Factors[r], i < split ? Axis.X : Axis.Y)).Where(x => x.Factor > 1).ToList();
            var spatialLoops = laid.Where(x => x.Axis == Axis.X).Reverse().Concat(laid.Where(x => x.Axis == Axis.Y).Reverse());
            var temporalLoops = temporal.Value.Permutation.AsEnumerable().Reverse().Where(r => temporal.Value.Factors[r] > 1)
                .Select(r => new TemporalLoop(r, temporal.Value.Factors[r]));
            levels.Add(new LevelMapping(temporalLoops, spatialLoops, keep));
        }
        return new Mapping(levels);
    }

    // An entry's factors (1 where not given) and permutation (innermost first), checked to name every dimension whose factor is above 1.
    private static (List<RankId> Permutation, Dictionary<RankId, int> Factors)? Ordered(Directive? d, Einsum einsum)
    {
        var factors = new Dictionary<RankId, int>(d?.Factors ?? []);
        foreach (var r in einsum.Ranks.Where(r => !factors.ContainsKey(r.Id))) factors[r.Id] = 1;
        var active = einsum.Ranks.Select(r => r.Id).Where(r => factors[r] > 1).ToList();
        var permutation = d?.Permutation ?? (active.Count <= 1 ? active : null);
        if (permutation is null)
        {
            d!.Map.Self.Error($"give a permutation: dimensions {string.Join(", ", active)} have factors above 1 here");
            return null;
        }
        var missing = active.Where(r => !permutation.Contains(r)).ToList();
        if (missing.Count > 0)
        {
            d!.Map.Get("permutation")!.Error($"the permutation leaves out {string.Join(", ", missing)}, whose factors are above 1; list every such dimension");
            return null;
        }
        return (permutation, factors);
    }

    private static MappingConstraints? Constraints(List<Directive> directives, Einsum einsum, Architecture arch)
    {
        var levels = new Dictionary<int, LevelConstraint>();
        bool ok = true;
        foreach (var group in directives.GroupBy(d => d.Level))
        {
            var c = new LevelConstraint();
            foreach (var d in group)
            {
                foreach (var (rank, residual) in d.Residuals ?? [])
                {
                    residual.Fail($"a residual ({rank}=...,{residual.Value}) belongs to a mapping, not to constraints; give the factor alone");
                    ok = false;
                }
                switch (d.Type)
                {
                    case "temporal":
                        c = c with { Temporal = d.Factors ?? new Dictionary<RankId, int>() };
                        if (d.Permutation is { } p)
                        {
                            var free = einsum.Ranks.Select(r => r.Id).Where(r => !p.Contains(r) && (d.Factors?.GetValueOrDefault(r) ?? 0) != 1).ToList();
                            if (free.Count > 0)
                            {
                                d.Map.Get("permutation")!.Error($"a partial permutation leaves {string.Join(", ", free)} free outside the listed dimensions, which these constraints cannot express; list every dimension, or pin the others to 1 in factors");
                                ok = false;
                            }
                            c = c with { Order = p.AsEnumerable().Reverse().ToList() };
                        }
                        break;
                    case "spatial":
                        var axes = d.Permutation?.Select((r, i) => (r, axis: d.Split is { } s ? (i < s ? Axis.X : Axis.Y) : (Axis?)null)).ToList();
                        var spatial = new Dictionary<(RankId, Axis), int>();
                        foreach (var (rank, f) in d.Factors ?? [])
                        {
                            var axis = axes?.FirstOrDefault(x => x.r == rank).axis;
                            if (f == 1) { spatial[(rank, Axis.X)] = 1; spatial[(rank, Axis.Y)] = 1; }
                            else if (axis is { } a) spatial[(rank, a)] = f;
                            else
                            {
                                d.Map.Get("factors")!.Error($"spatial factor {rank}={f} needs an axis: list {rank} in the permutation and give split");
                                ok = false;
                            }
                        }
                        c = c with { Spatial = spatial };
                        if (axes is not null)
                            c = d.Split is null
                                ? c with { SpatialX = axes.Select(x => x.r).ToHashSet(), SpatialY = axes.Select(x => x.r).ToHashSet() }
                                : c with { SpatialX = axes.Where(x => x.axis == Axis.X).Select(x => x.r).ToHashSet(), SpatialY = axes.Where(x => x.axis == Axis.Y).Select(x => x.r).ToHashSet() };
                        break;
                    default:
                        c = c with { Keep = (d.Keep ?? []).ToHashSet(), Bypass = (d.Bypass ?? []).ToHashSet() };
                        ConstraintSpec.CheckKeep(c, d.Level, einsum, arch, d.Map.Get("keep"), d.Map.Get("bypass"));
                        break;
                }
            }
            levels[group.Key] = c;
        }
        return ok ? new MappingConstraints(levels) : null;
    }

    /// <summary>
    /// Why Timeloop's mapping format cannot say this mapping (one factor per dimension, level and type: no
    /// dimension twice in a level's temporal loops, none along both axes of a fanout, no spatial loops where
    /// there is no fanout), or null when it can. The one place that rule lives: <see cref="Write"/> refuses
    /// what it names, and <c>map</c> looks for an equal-cost tie that passes it.
    /// </summary>
    public static string? Inexpressible(Mapping mapping, Architecture arch)
    {
        if (mapping.Levels.Count != arch.Levels.Count)
            return $"The mapping has {mapping.Levels.Count} levels but architecture {arch.Name} has {arch.Levels.Count}.";
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var lm = mapping.Levels[l];
            if (lm.Temporal.GroupBy(t => t.Rank).FirstOrDefault(g => g.Count() > 1)?.Key is { } t)
                return $"Timeloop's mapping format has one factor per dimension, level and type, but level {arch.Levels[l].Name} has two temporal loops over {t}.";
            if (lm.Spatial.GroupBy(s => s.Rank).FirstOrDefault(g => g.Count() > 1)?.Key is { } s)
                return $"Timeloop's mapping format has one factor per dimension, level and type, but level {arch.Levels[l].Name} has two spatial loops over {s} (along X and Y); " +
                       "constrain the axes (spatial-x, spatial-y, or a spatial permutation with split) to get a mapping Timeloop can read.";
            if (arch.Levels[l].Fanout.Size == 1 && lm.Spatial.Count > 0)
                return $"Level {arch.Levels[l].Name} has no fanout below it, so Timeloop cannot give it spatial loops.";
        }
        return null;
    }

    /// <summary>
    /// Writes the mapping as Timeloop entries: per level a temporal entry with every dimension's factor and the
    /// full permutation innermost first, a spatial entry where the level has a fanout (X loops first, then Y,
    /// with split), and a bypass entry with explicit keep and bypass lists naming the data-spaces as
    /// <see cref="TimeloopProblem.DataSpaceName"/> does (so the file pairs with the problem written for the layer).
    /// Throws <see cref="ArgumentException"/> for what Timeloop cannot say (<see cref="Inexpressible"/>).
    /// </summary>
    public static string Write(Mapping mapping, Einsum einsum, Architecture arch)
    {
        if (Inexpressible(mapping, arch) is { } why) throw new ArgumentException(why, nameof(mapping));
        bool letters = einsum.Ranks.All(r => r.Id.Name.Length == 1);
        string Perm(IEnumerable<RankId> ranks) => string.Join(letters ? "" : " ", ranks);
        // A factor whose loop runs fewer iterations under the last iterations of the loops outside it carries Timeloop's residual: P=3,2.
        var residual = LoopResiduals(mapping, einsum).Where(x => x.Residual is { } res && res != x.Factor).ToDictionary(x => (x.Level, x.Spatial, x.Rank), x => x.Residual!.Value);
        string Factors(Func<RankId, long> factor, int level, bool spatial)
            => string.Join(" ", einsum.Ranks.Select(r => $"{r.Id}={factor(r.Id)}" + (residual.TryGetValue((level, spatial, r.Id), out var res) ? $",{res}" : "")));
        var sb = new StringBuilder("mapping:\n");
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var lm = mapping.Levels[l];
            var name = YamlText.Scalar(arch.Levels[l].Name);
            var inner = lm.Temporal.Select(t => t.Rank).Reverse().ToList();
            sb.Append($"  - target: {name}\n    type: temporal\n    factors: {Factors(lm.TemporalFactor, l, false)}\n");
            sb.Append($"    permutation: {Perm(inner.Concat(einsum.Ranks.Select(r => r.Id).Except(inner)))}\n");
            if (arch.Levels[l].Fanout.Size > 1)
            {
                // Each axis's loops innermost first, as Timeloop's permutation lists them (the mapping lists them outermost first).
                var x = lm.Spatial.Where(s => s.Axis == Axis.X).Select(s => s.Rank).Reverse().ToList();
                var y = lm.Spatial.Where(s => s.Axis == Axis.Y).Select(s => s.Rank).Reverse().ToList();
                sb.Append($"  - target: {name}\n    type: spatial\n    factors: {Factors(lm.SpatialFactor, l, true)}\n");
                sb.Append($"    permutation: {Perm(x.Concat(y).Concat(einsum.Ranks.Select(r => r.Id).Except(x).Except(y)))}\n    split: {x.Count}\n");
            }
            var kept = einsum.Tensors.Where(t => lm.Keep.Contains(t.Id)).Select(t => TimeloopProblem.DataSpaceName(einsum, t));
            var passed = einsum.Tensors.Where(t => !lm.Keep.Contains(t.Id)).Select(t => TimeloopProblem.DataSpaceName(einsum, t));
            sb.Append($"  - target: {name}\n    type: bypass\n    keep: {YamlText.List(kept)}\n    bypass: {YamlText.List(passed)}\n");
        }
        return sb.ToString();
    }

    // The data-spaces a keep or bypass list names. A layer read from a Timeloop problem is held to Timeloop's rule:
    // its data-space names exactly (Timeloop stops on any other name); other layers also take tensor and role names.
    private static List<TensorId>? DataSpaces(IReadOnlyList<SpecNode> items, Einsum einsum)
    {
        if (einsum.Kind != TimeloopProblem.Kind) return MappingSpec.Tensors(items, einsum);
        var named = new List<TensorId>();
        bool ok = true;
        foreach (var item in items)
        {
            var text = item.AsString();
            if (text is not null && einsum.FindTensor(new TensorId(text)) is { } t) named.Add(t.Id);
            else
            {
                if (text is not null)
                    item.Error($"data-space '{text}' is not in problem {einsum.Name}, whose data-spaces are {string.Join(", ", einsum.Tensors.Select(x => x.Id))}; " +
                               $"Timeloop stops on it ('data-space {text} not found in problem shape')");
                ok = false;
            }
        }
        return ok ? named : null;
    }

    // A comma followed by digits alone continues a factor (its residual, "P=3,2"); any other comma separates.
    [GeneratedRegex(@"[^\s,]+(?:,\d+(?=[\s,]|$))?")]
    private static partial Regex Token();

    [GeneratedRegex(@"^([A-Za-z_][A-Za-z0-9_]*?)=?(\d+)(?:,(\d+))?$")]
    private static partial Regex FactorToken();
}
