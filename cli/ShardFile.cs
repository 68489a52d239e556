using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary>
/// The shard file of <c>codesign --shard i/N --shard-out FILE</c> (docs/codesign.md, "Shards"): JSON written with every
/// number in its shortest round-trip form, read back through the spec reader so that a damaged file is a located error.
/// Non-finite numbers (an infinite bound) are written as null.
/// </summary>
internal static class ShardFile
{
    /// <summary>The file's top-level key.</summary>
    public const string Root = "codesign-shard";

    /// <summary>The version written and the only one read.</summary>
    public const int Version = 1;

    /// <summary>The identity of a run: hashes of the space's canonical text, of the workload's distinct shapes and of the question.</summary>
    public static ShardIdentity Identity(DesignSpace space, IReadOnlyList<(Einsum Layer, int Count)> shapes, DesignMetric objective, DesignMetric? second, IReadOnlyList<Budget> budgets,
        CostConvention convention = CostConvention.Default)
    {
        string spaceHash = Hash(space.Canonical());
        string workloadHash = Hash(string.Join("\n", shapes.Select(s => $"{s.Count} x {Zoo.ShapeKey(s.Layer)}")));
        string question = (second is { } b ? $"pareto {DesignMetrics.Name(objective)},{DesignMetrics.Name(b)}" : $"minimize {DesignMetrics.Name(objective)}") +
                          "; budgets: " + string.Join(", ", budgets.Select(x => $"{DesignMetrics.Name(x.Metric)} <= {x.Limit.ToString("R", CultureInfo.InvariantCulture)}").Order(StringComparer.Ordinal).Distinct())
                          + (convention == CostConvention.Default ? "" : $"; convention: {Conventions.Names[(int)convention]}");
        return new ShardIdentity(Hash($"{spaceHash}\n{workloadHash}\n{question}"), spaceHash, workloadHash, question);
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string StatusName(CodesignStatus s) => s.ToString().ToUpperInvariant();

    /// <summary>Writes a shard result through <see cref="AtomicFile"/> (whole or not at all).</summary>
    public static void Write(string path, ShardResult r)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartObject(Root);
            w.WriteNumber("version", Version);
            w.WriteStartObject("identity");
            w.WriteString("value", r.Identity.Value);
            w.WriteString("space", r.Identity.Space);
            w.WriteString("workload", r.Identity.Workload);
            w.WriteString("question", r.Identity.Question);
            w.WriteEndObject();
            w.WriteStartObject("space");
            w.WriteString("name", r.SpaceName);
            w.WriteNumber("points", r.SpacePoints);
            w.WriteNumber("full-sweep", r.SpaceFullSweep);
            w.WriteEndObject();
            w.WriteStartObject("workload");
            w.WriteString("name", r.WorkloadName);
            Objects(w, "shapes", r.Shapes, x => { w.WriteString("name", x.Name); w.WriteNumber("count", x.Count); });
            w.WriteEndObject();
            w.WriteString("objective", DesignMetrics.Name(r.Objective));
            if (r.Second is { } second) w.WriteString("second", DesignMetrics.Name(second));
            w.WriteStartArray("budgets");
            foreach (var b in r.Budgets) w.WriteStringValue(b);
            w.WriteEndArray();
            w.WriteStartObject("shard");
            w.WriteNumber("index", r.Index);
            w.WriteNumber("count", r.Count);
            w.WriteNumber("first", r.First);
            w.WriteNumber("end", r.End);
            w.WriteEndObject();
            w.WriteString("status", StatusName(r.Status));
            Number(w, "bound", r.Bound);
            w.WriteBoolean("bound-strict", r.BoundStrict);
            if (r.Explanation is { } why) w.WriteString("explanation", why); else w.WriteNull("explanation");
            Number(w, "over", r.Over);
            w.WriteNumber("static-feasible", r.StaticFeasible);
            w.WriteNumber("points-open", r.PointsOpen);
            w.WriteNumber("points-evaluated", r.PointsEvaluated);
            w.WritePropertyName("best");
            if (r.Best is { } best) Point(w, best); else w.WriteNullValue();
            Objects(w, "best-files", r.BestFiles, x => { w.WriteString("file", x.File); w.WriteString("text", x.Text); });
            w.WriteStartArray("front");
            foreach (var p in r.Front) Point(w, p);
            w.WriteEndArray();
            w.WriteStartObject("counts");
            w.WriteNumber("searches", r.Counts.Searches);
            w.WriteNumber("bound-searches", r.Counts.BoundSearches);
            w.WriteNumber("point-searches", r.Counts.PointSearches);
            w.WriteNumber("cache-hits", r.Counts.CacheHits);
            w.WriteNumber("refinements", r.Counts.Refinements);
            w.WriteNumber("full-sweep", r.Counts.FullSweep);
            w.WriteNumber("seconds", Math.Round(r.Counts.Seconds, 3));
            w.WriteEndObject();
            w.WriteStartArray("points");
            foreach (var p in r.Points) Point(w, p);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        AtomicFile.WriteAllBytes(path, [.. stream.ToArray(), (byte)'\n']);
    }

    /// <summary>An array of objects, each written by <paramref name="body"/>.</summary>
    private static void Objects<T>(Utf8JsonWriter w, string name, IEnumerable<T> items, Action<T> body)
    {
        w.WriteStartArray(name);
        foreach (var item in items)
        {
            w.WriteStartObject();
            body(item);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name);
    }

    private static void Point(Utf8JsonWriter w, PointRecord p)
    {
        w.WriteStartObject();
        w.WriteNumber("point", p.Point);
        w.WriteString("description", p.Description);
        w.WriteBoolean("proved", p.Proved);
        w.WriteStartObject("values");
        foreach (var (m, v) in p.Values) Number(w, DesignMetrics.Name(m), v);
        w.WriteEndObject();
        w.WriteStartObject("shapes");
        foreach (var (o, outcomes) in p.Shapes)
        {
            w.WriteStartArray(Objectives.Name(o));
            foreach (var s in outcomes)
            {
                w.WriteStartObject();
                w.WriteString("status", s.Status.ToString().ToUpperInvariant());
                if (s.Best is { } b && double.IsFinite(b)) w.WriteNumber("best", b); else w.WriteNull("best");
                Number(w, "bound", s.Bound);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>A shard result read back, with the nodes its checks are located at.</summary>
    public sealed record Read(ShardResult Result, string Path, SpecNode IdentityNode, SpecNode ShardNode);

    /// <summary>Reads a shard file; every mistake is a located error (<see cref="SpecException"/>).</summary>
    public static Read Load(string path)
    {
        var reader = new SpecReader(path);
        var root = reader.Root(File.ReadAllText(path), Root);
        var read = root is null ? null : Parse(reader, root, path);
        reader.ThrowIfErrors();
        return read!;
    }

    private static Read? Parse(SpecReader reader, SpecMap root, string path)
    {
        root.AllowOnly("version", "identity", "space", "workload", "objective", "second", "budgets", "shard", "status", "bound", "bound-strict", "explanation", "over",
            "static-feasible", "points-open", "points-evaluated", "best", "best-files", "front", "counts", "points");
        var version = root.Int("version", required: true);
        if (version is { } v && v != Version)
        {
            root.Get("version")!.Error($"this optimizer reads shard files of version {Version}, got {v}");
            return null;
        }
        var idNode = root.Required("identity");
        var id = idNode?.AsMap("value", "space", "workload", "question");
        string? Hex(SpecMap? m, string key)
        {
            var text = m?.String(key, required: true);
            if (text is not null && (text.Length != 64 || !text.All(char.IsAsciiHexDigitLower))) { m!.Get(key)!.Error("must be a SHA-256 hash, 64 lowercase hexadecimal digits"); return null; }
            return text;
        }
        var identity = (Hex(id, "value"), Hex(id, "space"), Hex(id, "workload"), id?.String("question", required: true)) is (string a, string b, string c, string d) ? new ShardIdentity(a, b, c, d) : null;
        var space = root.Map("space", required: true, "name", "points", "full-sweep");
        var spaceName = space?.String("name", required: true);
        var spacePoints = space?.Int("points", required: true, min: 1);
        var spaceFull = space?.Long("full-sweep", required: true, min: 0);
        var workload = root.Map("workload", required: true, "name", "shapes");
        var workloadName = workload?.String("name", required: true);
        var shapes = new List<(string, int)>();
        foreach (var s in workload?.List("shapes", required: true) ?? [])
        {
            var m = s.AsMap("name", "count");
            if (m?.String("name", required: true) is { } name && m.Int("count", required: true, min: 1) is { } times) shapes.Add((name, times));
        }
        var objective = Metric(root, "objective", required: true);
        var second = Metric(root, "second", required: false);
        var budgets = (root.List("budgets", required: true) ?? []).Select(b => b.AsString()).Where(b => b is not null).Select(b => b!).ToList();
        var shardNode = root.Required("shard");
        var shard = shardNode?.AsMap("index", "count", "first", "end");
        var index = shard?.Int("index", required: true, min: 0);
        var count = shard?.Int("count", required: true, min: 1);
        var first = shard?.Int("first", required: true, min: 0);
        var end = shard?.Int("end", required: true, min: 0);
        if (index is { } i && count is { } n2 && i >= n2) shard!.Get("index")!.Error($"a shard of {n2} is numbered 0 to {n2 - 1}, got {i}");
        var status = EnumValue<CodesignStatus>(root.Required("status"));
        double bound = Optional(root, "bound") ?? double.PositiveInfinity;
        var strict = root.Bool("bound-strict", required: true);
        var explanation = root.Get("explanation")?.AsString();
        double over = Optional(root, "over") ?? double.PositiveInfinity;
        var staticFeasible = root.Int("static-feasible", required: true, min: 0);
        var open = root.Int("points-open", required: true, min: 0);
        var evaluated = root.Int("points-evaluated", required: true, min: 0);
        var best = root.Get("best") is { } bn ? Point(bn) : null;
        var bestFiles = new List<(string, string)>();
        foreach (var item in root.List("best-files", required: true) ?? [])
        {
            var m = item.AsMap("file", "text");
            if (m?.String("file", required: true) is not { } file || m.String("text", required: true) is not { } text) continue;
            // Only plain names of YAML files: a file name must not lead out of the --mapping-out folder.
            if (file != Path.GetFileName(file) || file.StartsWith('.') || !file.EndsWith(".yaml", StringComparison.Ordinal) || file.IndexOfAny(['/', '\\']) >= 0)
                m.Get("file")!.Error($"must be a plain file name ending in .yaml, got '{file}'");
            else bestFiles.Add((file, text));
        }
        var front = (root.List("front", required: true) ?? []).Select(Point).ToList();
        var points = (root.List("points", required: true) ?? []).Select(Point).ToList();
        var cm = root.Map("counts", required: true, "searches", "bound-searches", "point-searches", "cache-hits", "refinements", "full-sweep", "seconds");
        var counts = cm is null ? null : new ShardCounts(cm.Long("searches", true, 0) ?? 0, cm.Long("bound-searches", true, 0) ?? 0, cm.Long("point-searches", true, 0) ?? 0,
            cm.Long("cache-hits", true, 0) ?? 0, cm.Long("refinements", true, 0) ?? 0, cm.Long("full-sweep", true, 0) ?? 0, cm.Double("seconds", true, 0) ?? 0);
        if (reader.HasErrors) return null;
        // What the merge relies on, checked here so that a hand-edited file is refused where it is wrong.
        if (status is CodesignStatus.Optimal && best is null && second is null) root.Required("best")!.Error("an OPTIMAL shard of a minimization must name its best point");
        foreach (var p in front.Concat(best is null ? [] : [best!]))
        {
            if (!p!.Values.ContainsKey(objective!.Value)) root.Self.Error($"point {p.Point} has no {DesignMetrics.Name(objective.Value)} value");
            if (!p.Values.ContainsKey(second ?? DesignMetric.Area)) root.Self.Error($"point {p.Point} has no {DesignMetrics.Name(second ?? DesignMetric.Area)} value");
            if (p.Point < first || p.Point >= end) root.Self.Error($"point {p.Point} is not among the shard's points {first} to {end - 1}");
        }
        if (reader.HasErrors) return null;
        var result = new ShardResult(identity!, spaceName!, spacePoints!.Value, workloadName!, shapes, objective!.Value, second, budgets, spaceFull!.Value,
            index!.Value, count!.Value, first!.Value, end!.Value, status!.Value, best, bound, strict!.Value, explanation, over, staticFeasible!.Value, open!.Value, evaluated!.Value, front!, points!, counts!)
            { BestFiles = bestFiles };
        return new Read(result, path, idNode!, shardNode!);

        PointRecord? Point(SpecNode node)
        {
            var m = node.AsMap("point", "description", "proved", "values", "shapes");
            if (m is null) return null;
            var point = m.Int("point", required: true, min: 0);
            var description = m.String("description", required: true);
            var proved = m.Bool("proved", required: true);
            var values = new SortedDictionary<DesignMetric, double>();
            foreach (var (key, value) in m.Map("values", required: true)?.Entries ?? [])
            {
                if (!DesignMetrics.TryParse(key, out var metric)) { value.Error($"unknown metric '{key}'; metrics: {DesignMetrics.Choices}"); continue; }
                if (value.AsDouble() is { } d) values[metric] = d;
            }
            var outcomes = new SortedDictionary<Objective, IReadOnlyList<ShapeOutcome>>();
            foreach (var (key, value) in m.Map("shapes", required: true)?.Entries ?? [])
            {
                if (!System.Enum.TryParse<Objective>(key, ignoreCase: true, out var o) || !System.Enum.IsDefined(o) || int.TryParse(key, out _)) { value.Error($"unknown objective '{key}'; objectives: energy, latency, edp"); continue; }
                var list = new List<ShapeOutcome>();
                foreach (var item in value.AsList() ?? [])
                {
                    var sm = item.AsMap("status", "best", "bound");
                    if (sm is null) continue;
                    var st = EnumValue<SolveStatus>(sm.Required("status"));
                    var b = sm.Get("best")?.AsDouble();
                    var bd = Optional(sm, "bound") ?? double.PositiveInfinity;
                    if (st is { } s) list.Add(new ShapeOutcome(s, b, bd));
                }
                if (list.Count != shapes.Count) value.Error($"must list one outcome per shape ({shapes.Count}), got {list.Count}");
                outcomes[o] = list;
            }
            return point is { } pt && description is not null && proved is { } pr ? new PointRecord(pt, description, pr, values, outcomes) : null;
        }
    }

    private static double? Optional(SpecMap map, string key) => map.Get(key)?.AsDouble();

    private static DesignMetric? Metric(SpecMap map, string key, bool required)
    {
        var node = required ? map.Required(key) : map.Get(key);
        var text = node?.AsString();
        if (text is null) return null;
        if (DesignMetrics.TryParse(text, out var m)) return m;
        node!.Error($"unknown metric '{text}'; metrics: {DesignMetrics.Choices}");
        return null;
    }

    private static T? EnumValue<T>(SpecNode? node) where T : struct, System.Enum
    {
        var text = node?.AsString();
        if (text is null) return null;
        if (System.Enum.TryParse<T>(text.Replace("-", ""), ignoreCase: true, out var v) && System.Enum.IsDefined(v) && !int.TryParse(text, out _)) return v;
        node!.Error($"must be one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToUpperInvariant()))}, got '{text}'");
        return null;
    }

    /// <summary>
    /// The cutoff of <c>--bounds-from</c>: the least best value among shard files of the run <paramref name="identity"/>
    /// split into <paramref name="count"/> shards (null when none has a best point), and which file gave it. A file of
    /// another run or partition is a located error.
    /// </summary>
    public static (double? Value, string Source) Cutoff(IReadOnlyList<string> paths, ShardIdentity identity, int count)
    {
        var errors = new List<SpecError>();
        double? best = null;
        string source = "";
        foreach (var path in paths)
        {
            Read read;
            try { read = Load(Inputs.RequireFile(path, "shard")); }
            catch (SpecException e) { errors.AddRange(e.Errors); continue; }
            var r = read.Result;
            if (r.Identity.Value != identity.Value)
                errors.Add(new SpecError(path, read.IdentityNode.Line, read.IdentityNode.Column, "identity", $"--bounds-from: shard {r.Name} is not of this run ({(r.Identity.Space != identity.Space ? "the design space" : r.Identity.Workload != identity.Workload ? "the workload" : "the question")} differs)"));
            else if (r.Count != count)
                errors.Add(new SpecError(path, read.ShardNode.Line, read.ShardNode.Column, "shard", $"--bounds-from: shard {r.Name} is one of {r.Count} shards, this one of {count}"));
            else if (r.Best is { } p && p.Values.TryGetValue(r.Objective, out var v) && (best is null || v < best))
                (best, source) = (v, $"the best of shard {r.Name} (point {p.Point}, {path})");
        }
        if (errors.Count > 0) throw new SpecException(errors);
        return (best, source);
    }

    /// <summary>
    /// Reads the shard files of one run and checks that they can be merged: one identity, one partition, every shard
    /// from 0 to N-1 exactly once. Each refusal names the file (and the line) it is about.
    /// </summary>
    public static IReadOnlyList<ShardResult> LoadAll(IReadOnlyList<string> paths)
    {
        var errors = new List<SpecError>();
        var reads = new List<Read>();
        foreach (var path in paths)
        {
            try { reads.Add(Load(Inputs.RequireFile(path, "shard"))); }
            catch (SpecException e) { errors.AddRange(e.Errors); }
        }
        if (errors.Count > 0) throw new SpecException(errors);
        var first = reads[0];
        foreach (var r in reads.Skip(1))
        {
            var (a, b) = (first.Result, r.Result);
            string? differs = a.Identity.Space != b.Identity.Space ? $"the design space differs ({b.SpaceName} here, {a.SpaceName} there)"
                : a.Identity.Workload != b.Identity.Workload ? $"the workload differs ({b.WorkloadName} here, {a.WorkloadName} there)"
                : a.Identity.Question != b.Identity.Question ? $"the question differs ('{b.Identity.Question}' here, '{a.Identity.Question}' there)"
                : a.Identity.Value != b.Identity.Value ? "the identity differs" : null;
            if (differs is not null)
                errors.Add(new SpecError(r.Path, r.IdentityNode.Line, r.IdentityNode.Column, "identity", $"shard {b.Name} is not of the same run as {first.Path} (shard {a.Name}): {differs}; merge only the shards of one run"));
            else if (a.Count != b.Count)
                errors.Add(new SpecError(r.Path, r.ShardNode.Line, r.ShardNode.Column, "shard", $"shard {b.Name} is one of {b.Count} shards, but {first.Path} is shard {a.Name}, one of {a.Count}"));
        }
        if (errors.Count > 0) throw new SpecException(errors);
        int n = first.Result.Count;
        var byIndex = new Read?[n];
        foreach (var r in reads)
        {
            var s = r.Result;
            var (lo, end) = ShardPlan.Range(s.Index, s.Count, s.SpacePoints);
            if (s.First != lo || s.End != end)
                errors.Add(new SpecError(r.Path, r.ShardNode.Line, r.ShardNode.Column, "shard", $"shard {s.Name} covers points {s.First} to {s.End - 1}, but shard {s.Name} of {s.SpacePoints} points is {lo} to {end - 1}"));
            else if (byIndex[s.Index] is { } twice)
                errors.Add(new SpecError(r.Path, r.ShardNode.Line, r.ShardNode.Column, "shard", $"shard {s.Name} is given twice: {twice.Path} and {r.Path}"));
            else byIndex[s.Index] = r;
        }
        var missing = Enumerable.Range(0, n).Where(i => byIndex[i] is null).ToList();
        if (missing.Count > 0 && errors.Count == 0)
        {
            var pts = first.Result.SpacePoints;
            throw new InputException($"shard(s) {string.Join(", ", missing.Select(i => { var (lo, end) = ShardPlan.Range(i, n, pts); return $"{i}/{n} (points {lo} to {end - 1})"; }))} missing: " +
                                     $"{paths.Count} file(s) given for {n} shards ({string.Join(", ", reads.Select(r => $"{r.Path}: shard {r.Result.Name}"))}); " +
                                     $"run `codesign --shard i/{n}` for each missing i with the same space, workload, objective and budgets");
        }
        if (errors.Count > 0) throw new SpecException(errors);
        return byIndex.Select(r => r!.Result).ToList();
    }
}
