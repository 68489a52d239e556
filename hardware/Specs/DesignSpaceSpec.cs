using System.Globalization;
using System.Text.RegularExpressions;
using Optimizer.Workloads.Specs;

namespace Optimizer.Hardware.Specs;

/// <summary>Reads design space files (docs/spec-format.md, "Design space"; docs/codesign.md) with located errors.</summary>
public static partial class DesignSpaceSpec
{
    private static readonly string[] Knobs = ["fanout", "capacity", "read-bandwidth", "write-bandwidth", "bandwidth", "macs-per-cycle"];

    /// <summary>Reads a design space file; throws <see cref="SpecException"/> listing every mistake.</summary>
    public static DesignSpace Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>
    /// Reads a design space from text; <paramref name="fileName"/> is used in messages, and a base architecture given
    /// as a file is found relative to its folder.
    /// </summary>
    public static DesignSpace Parse(string text, string fileName)
    {
        var reader = new SpecReader(fileName);
        var root = reader.Root(text, "design-space");
        var space = root is null ? null : Read(root, fileName);
        reader.ThrowIfErrors();
        return space!;
    }

    private static DesignSpace? Read(SpecMap root, string fileName)
    {
        root.AllowOnly("name", "description", "base", "parameters", "costs", "budgets");
        var name = root.String("name") ?? Path.GetFileNameWithoutExtension(fileName);
        var baseNode = root.Required("base");
        var arch = baseNode is null ? null : Base(baseNode, fileName);
        var parameters = new List<DesignParameter>();
        var list = root.List("parameters", required: true);
        if (list is not null && list.Count == 0) root.Get("parameters")!.Error("the space is empty: give at least one parameter with its values");
        foreach (var item in list ?? [])
            if (Parameter(item, arch) is { } p)
            {
                var same = parameters.FirstOrDefault(q => q.Name == p.Name);
                if (same is not null) item.Error($"parameter {p.Name} is given twice");
                else parameters.Add(p);
            }
        var costs = root.Get("costs") is { } c && arch is not null ? Costs(c, arch) : arch is null ? null : new CostTables(new Dictionary<string, LevelCosts>(), CostTables.DefaultMacArea);
        var budgets = root.Get("budgets") is { } b ? Budgets(b, fileName) : [];
        if (arch is null || costs is null || root.Self.Reader.HasErrors) return null;
        return root.Self.Build(() => new DesignSpace(name, arch, parameters, costs, budgets));
    }

    /// <summary>The base: a preset name, or an architecture spec file (native or Timeloop) relative to the space file's folder.</summary>
    private static Architecture? Base(SpecNode node, string fileName)
    {
        var text = node.AsString();
        if (text is null) return null;
        if (Presets.TryGet(text, out var preset)) return preset;
        var path = Path.IsPathRooted(text) ? text : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(fileName)) ?? ".", text);
        if (!File.Exists(path))
        {
            node.Error($"'{text}' is neither a preset ({string.Join(", ", Presets.Names)}) nor an architecture file (looked for {path})");
            return null;
        }
        try
        {
            var content = File.ReadAllText(path);
            return SpecFormats.Detect(content) == SpecFormat.Timeloop ? TimeloopArchitecture.Parse(content, path) : ArchitectureSpec.Parse(content, path);
        }
        catch (SpecException e)
        {
            foreach (var err in e.Errors) node.Error($"in the base architecture: {err}");
            return null;
        }
    }

    private static DesignParameter? Parameter(SpecNode item, Architecture? arch)
    {
        var m = item.AsMap(["level", .. Knobs]);
        if (m is null) return null;
        var knobs = Knobs.Where(m.Has).ToList();
        if (knobs.Count != 1)
        {
            item.Error(knobs.Count == 0 ? $"a parameter needs one of {string.Join(", ", Knobs)} with its list of values" : $"a parameter varies one thing; this one gives {string.Join(" and ", knobs)}");
            return null;
        }
        var knob = knobs[0] switch
        {
            "fanout" => DesignKnob.Fanout,
            "capacity" => DesignKnob.Capacity,
            "read-bandwidth" => DesignKnob.ReadBandwidth,
            "write-bandwidth" => DesignKnob.WriteBandwidth,
            "bandwidth" => DesignKnob.Bandwidth,
            _ => DesignKnob.MacsPerCycle,
        };
        string? level = null;
        if (knob == DesignKnob.MacsPerCycle)
        {
            if (m.Get("level") is { } extra) extra.Error("macs-per-cycle belongs to the compute units, not to a level: leave 'level' out");
        }
        else
        {
            var levelNode = m.Required("level");
            level = levelNode?.AsString();
            if (level is not null && arch is not null)
            {
                int index = arch.IndexOf(level);
                if (index < 0)
                {
                    var near = SpecReader.Closest(level, arch.Levels.Select(l => l.Name));
                    levelNode!.Error($"the base architecture {arch.Name} has no level '{level}'{(near is null ? "" : $"; did you mean '{near}'?")} (its levels: {string.Join(", ", arch.Levels.Select(l => l.Name))})");
                    level = null;
                }
                else if (knob == DesignKnob.Capacity && arch.Levels[index].Capacity is null)
                {
                    levelNode!.Error($"level {level} is off chip (no capacity in the base architecture): its capacity cannot be a parameter");
                    level = null;
                }
            }
            if (level is null) return null;
        }
        var valuesNode = m.Get(knobs[0])!;
        var items = valuesNode.IsList ? valuesNode.AsList()! : [valuesNode];
        if (items.Count == 0) { valuesNode.Error("the list of values is empty"); return null; }
        var values = new List<DesignValue>();
        foreach (var v in items)
        {
            DesignValue? value = knob switch
            {
                DesignKnob.Fanout => FanoutValue(v),
                DesignKnob.Capacity => v.AsLong(1) is { } c ? new DesignValue(c) : null,
                DesignKnob.MacsPerCycle => v.AsInt(1) is { } n ? new DesignValue(n) : null,
                _ => v.AsDouble(0, exclusive: true) is { } bw ? new DesignValue(bw) : null,
            };
            if (value is null) continue;
            if (values.Contains(value)) { v.Error($"the value {value} is given twice"); continue; }
            values.Add(value);
        }
        return values.Count == items.Count ? new DesignParameter(knob, level, values) : null;
    }

    private static DesignValue? FanoutValue(SpecNode v)
    {
        var text = v.AsString();
        if (text is null) return null;
        var match = FanoutText().Match(text);
        if (!match.Success || !int.TryParse(match.Groups[1].Value, CultureInfo.InvariantCulture, out int x) || !int.TryParse(match.Groups[2].Value, CultureInfo.InvariantCulture, out int y) || x < 1 || y < 1)
        {
            v.Error($"a fanout is written XxY with positive whole numbers, such as 14x12; got '{text}'");
            return null;
        }
        return DesignValue.Fanout(x, y);
    }

    [GeneratedRegex(@"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")]
    private static partial Regex FanoutText();

    private static CostTables? Costs(SpecNode node, Architecture arch)
    {
        var m = node.AsMap("mac-area", "levels");
        if (m is null) return null;
        double macArea = m.Double("mac-area", min: 0) ?? CostTables.DefaultMacArea;
        var levels = new Dictionary<string, LevelCosts>();
        if (m.Map("levels") is { } lm)
            foreach (var (levelName, entry) in lm.Entries)
            {
                int index = arch.IndexOf(levelName);
                if (index < 0)
                {
                    var near = SpecReader.Closest(levelName, arch.Levels.Select(l => l.Name));
                    entry.Error($"the base architecture {arch.Name} has no level '{levelName}'{(near is null ? "" : $"; did you mean '{near}'?")}");
                    continue;
                }
                var level = arch.Levels[index];
                if (level.Capacity is null) { entry.Error($"level {levelName} is off chip: it keeps the base's energies and has no area, so it takes no cost table"); continue; }
                if (LevelCost(entry, level) is { } c) levels[levelName] = c;
            }
        return node.Build(() => new CostTables(levels, macArea));
    }

    private static LevelCosts? LevelCost(SpecNode entry, StorageLevel level)
    {
        var m = entry.AsMap("table", "power-law");
        if (m is null) return null;
        if (m.Has("table") == m.Has("power-law")) { entry.Error("give one of 'table' (points interpolated in log-log) or 'power-law'"); return null; }
        if (m.List("table") is { } rows)
        {
            var read = new List<(double, double)>();
            var write = new List<(double, double)>();
            var area = new List<(double, double)>();
            foreach (var row in rows)
            {
                var r = row.AsMap("words", "read", "write", "area");
                var words = r?.Double("words", required: true, min: 0, exclusive: true);
                var re = r?.Double("read", required: true, min: 0, exclusive: true);
                var we = r?.Double("write", min: 0, exclusive: true) ?? re;
                var a = r?.Double("area", required: true, min: 0, exclusive: true);
                if (words is null || re is null || we is null || a is null) continue;
                read.Add((words.Value, re.Value));
                write.Add((words.Value, we.Value));
                area.Add((words.Value, a.Value));
            }
            if (read.Count != rows.Count) return null;
            // Checked row by row here so that the message points at the row (CostCurve.Table checks the same rules).
            bool ordered = true;
            for (int i = 1; i < rows.Count; i++)
            {
                if (read[i].Item1 <= read[i - 1].Item1) { rows[i].Error($"capacities must be strictly increasing: {Num(read[i].Item1)} words after {Num(read[i - 1].Item1)}"); ordered = false; continue; }
                foreach (var (what, list) in new[] { ("read energy", read), ("write energy", write), ("area", area) })
                    if (list[i].Item2 < list[i - 1].Item2)
                    {
                        rows[i].Error($"the {what} is not increasing: {Num(list[i].Item2)} at {Num(list[i].Item1)} words is below {Num(list[i - 1].Item2)} at {Num(list[i - 1].Item1)} words (a larger memory never costs less)");
                        ordered = false;
                    }
            }
            if (!ordered) return null;
            var tableNode = m.Get("table")!;
            var readCurve = tableNode.Build(() => Curve("read energy", read));
            var writeCurve = tableNode.Build(() => Curve("write energy", write));
            var areaCurve = tableNode.Build(() => Curve("area", area));
            return readCurve is null || writeCurve is null || areaCurve is null ? null : new LevelCosts(readCurve, writeCurve, areaCurve);
        }
        var p = m.Map("power-law", false, "words", "read", "write", "energy-exponent", "area", "area-exponent");
        if (p is null) return null;
        double refWords = p.Double("words", min: 0, exclusive: true) ?? level.Capacity!.Value;
        double readE = p.Double("read", min: 0) ?? level.ReadEnergy * Math.Pow(refWords / level.Capacity!.Value, CostTables.DefaultEnergyExponent);
        double writeE = p.Double("write", min: 0) ?? level.WriteEnergy * Math.Pow(refWords / level.Capacity!.Value, CostTables.DefaultEnergyExponent);
        double energyExp = p.Double("energy-exponent", min: 0) ?? CostTables.DefaultEnergyExponent;
        double areaRef = p.Double("area", min: 0) ?? CostTables.DefaultAreaPerBit * level.WordBits * refWords;
        double areaExp = p.Double("area-exponent", min: 0) ?? 1;
        var self = m.Get("power-law")!;
        var rc = self.Build(() => CostCurve.PowerLaw(refWords, readE, energyExp));
        var wc = self.Build(() => CostCurve.PowerLaw(refWords, writeE, energyExp));
        var ac = self.Build(() => CostCurve.PowerLaw(refWords, areaRef, areaExp));
        return rc is null || wc is null || ac is null ? null : new LevelCosts(rc, wc, ac);
    }

    private static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static CostCurve Curve(string what, List<(double, double)> points)
    {
        try
        {
            return CostCurve.Table(points);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{what}: {e.Message.Replace($" (Parameter '{e.ParamName}')", "")}", e);
        }
    }

    private static List<Budget> Budgets(SpecNode node, string fileName)
    {
        var budgets = new List<Budget>();
        var m = node.AsMap("area", "sram", "power", "energy", "latency", "edp", "layer-latency");
        if (m is null) return budgets;
        foreach (var (key, value) in m.Entries)
        {
            if (!DesignMetrics.TryParse(key, out var metric)) continue;
            if (value.AsDouble(0, exclusive: true) is { } limit) budgets.Add(new Budget(metric, limit, $"{fileName}:{value.Line}"));
        }
        return budgets;
    }
}
