using System.Globalization;

namespace Optimizer.Hardware;

/// <summary>What a design parameter varies.</summary>
public enum DesignKnob
{
    /// <summary>The X x Y fanout below a level.</summary>
    Fanout,
    /// <summary>A level's capacity in words per instance (its energies and area follow its cost table).</summary>
    Capacity,
    /// <summary>A level's read bandwidth, words a cycle per instance.</summary>
    ReadBandwidth,
    /// <summary>A level's write bandwidth, words a cycle per instance.</summary>
    WriteBandwidth,
    /// <summary>A level's read and write bandwidth together.</summary>
    Bandwidth,
    /// <summary>MACs a compute unit completes a cycle.</summary>
    MacsPerCycle,
}

/// <summary>One value of a design parameter: a number, or for a fanout its X and Y (<see cref="Number"/> is then X x Y).</summary>
public sealed record DesignValue(double Number, int X = 0, int Y = 0)
{
    /// <summary>A fanout value.</summary>
    public static DesignValue Fanout(int x, int y) => new((double)x * y, x, y);

    /// <inheritdoc/>
    public override string ToString() => X > 0 ? $"{X}x{Y}" : Number.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>One axis of a design space: a knob of a level (or of the compute units) and the values it takes, in the order written.</summary>
public sealed record DesignParameter(DesignKnob Knob, string? Level, IReadOnlyList<DesignValue> Values)
{
    /// <summary>The parameter's name as printed: <c>GlobalBuffer.capacity</c>, <c>macs-per-cycle</c>.</summary>
    public string Name => Level is null ? KnobName(Knob) : $"{Level}.{KnobName(Knob)}";

    /// <summary>A knob's name as written in a design space file.</summary>
    public static string KnobName(DesignKnob knob) => knob switch
    {
        DesignKnob.Fanout => "fanout",
        DesignKnob.Capacity => "capacity",
        DesignKnob.ReadBandwidth => "read-bandwidth",
        DesignKnob.WriteBandwidth => "write-bandwidth",
        DesignKnob.Bandwidth => "bandwidth",
        _ => "macs-per-cycle",
    };
}

/// <summary>What a design is judged by: the network's costs (each layer mapped optimally for the metric) and the chip's size.</summary>
public enum DesignMetric
{
    /// <summary>Network energy, pJ: the sum over layers of each layer's least energy.</summary>
    Energy,
    /// <summary>Network cycles: the sum over layers of each layer's least cycles.</summary>
    Latency,
    /// <summary>The sum over layers of each layer's least energy-delay product (pJ x cycles).</summary>
    Edp,
    /// <summary>Chip area, mm², from the cost tables.</summary>
    Area,
    /// <summary>On-chip storage, KiB (every on-chip level's instances x capacity x word bits).</summary>
    Sram,
    /// <summary>Average power in W of the reported mappings (their energy over their time at the clock).</summary>
    Power,
    /// <summary>The most cycles of any one layer, each layer mapped for least cycles.</summary>
    LayerLatency,
}

/// <summary>Names and units of the design metrics as users write them.</summary>
public static class DesignMetrics
{
    /// <summary>The names accepted, for messages.</summary>
    public const string Choices = "energy, latency, edp, area, sram, power, layer-latency";

    /// <summary>A metric's name as written.</summary>
    public static string Name(DesignMetric m) => m switch
    {
        DesignMetric.LayerLatency => "layer-latency",
        _ => m.ToString().ToLowerInvariant(),
    };

    /// <summary>A metric's unit.</summary>
    public static string Unit(DesignMetric m) => m switch
    {
        DesignMetric.Energy => "pJ",
        DesignMetric.Latency or DesignMetric.LayerLatency => "cycles",
        DesignMetric.Edp => "pJ x cycles",
        DesignMetric.Area => "mm²",
        DesignMetric.Sram => "KiB",
        _ => "W",
    };

    /// <summary>Reads a metric name (delay and cycles read latency); false when unknown.</summary>
    public static bool TryParse(string text, out DesignMetric metric)
    {
        DesignMetric? m = text.Trim().ToLowerInvariant() switch
        {
            "energy" => DesignMetric.Energy,
            "latency" or "delay" or "cycles" => DesignMetric.Latency,
            "edp" => DesignMetric.Edp,
            "area" => DesignMetric.Area,
            "sram" => DesignMetric.Sram,
            "power" => DesignMetric.Power,
            "layer-latency" => DesignMetric.LayerLatency,
            _ => null,
        };
        metric = m ?? default;
        return m is not null;
    }

    /// <summary>True for the metrics the cost tables give without mapping any layer.</summary>
    public static bool IsStatic(DesignMetric m) => m is DesignMetric.Area or DesignMetric.Sram;
}

/// <summary>A budget: a metric must be at most a limit; <see cref="Source"/> says where it was given (file:line or --require).</summary>
public sealed record Budget(DesignMetric Metric, double Limit, string Source)
{
    /// <summary>True when a value meets the budget (within a relative 1e-9 for rounding).</summary>
    public bool Allows(double value) => value <= Limit + 1e-9 * Math.Max(1, Math.Abs(Limit));

    /// <inheritdoc/>
    public override string ToString() => $"{DesignMetrics.Name(Metric)} <= {Limit.ToString("G6", CultureInfo.InvariantCulture)} {DesignMetrics.Unit(Metric)}";
}

/// <summary>
/// A declared design space (docs/codesign.md): a base architecture, parameters each with a list of values (the
/// points are every combination, numbered in mixed radix with the last parameter varying fastest), cost tables
/// and budgets. <see cref="Build"/> makes a point's architecture; <see cref="Relax"/> makes one architecture that is
/// at least as good as every point of a set for every mapping (largest capacities, fanouts and bandwidths, least
/// energies), whose optimum is therefore a lower bound on each of theirs.
/// </summary>
public sealed class DesignSpace
{
    /// <summary>The space's name.</summary>
    public string Name { get; }
    /// <summary>The architecture the parameters change.</summary>
    public Architecture Base { get; }
    /// <summary>The parameters in the order written.</summary>
    public IReadOnlyList<DesignParameter> Parameters { get; }
    /// <summary>Energy and area as functions of capacity.</summary>
    public CostTables Costs { get; }
    /// <summary>The budgets the file gives.</summary>
    public IReadOnlyList<Budget> Budgets { get; }
    /// <summary>The number of points.</summary>
    public int Count { get; }

    /// <summary>Creates a space, checking that every parameter names a level of the base and every value fits it.</summary>
    public DesignSpace(string name, Architecture baseArch, IReadOnlyList<DesignParameter> parameters, CostTables costs, IReadOnlyList<Budget> budgets)
    {
        Name = name;
        Base = baseArch;
        Parameters = parameters;
        Costs = costs;
        Budgets = budgets;
        long count = 1;
        foreach (var p in parameters)
        {
            if (p.Values.Count == 0) throw new ArgumentException($"Parameter {p.Name} has no values.", nameof(parameters));
            if (p.Level is not null && baseArch.IndexOf(p.Level) < 0)
                throw new ArgumentException($"The base architecture {baseArch.Name} has no level '{p.Level}'; its levels: {string.Join(", ", baseArch.Levels.Select(l => l.Name))}.", nameof(parameters));
            if (p.Knob == DesignKnob.Capacity && baseArch.Levels[baseArch.IndexOf(p.Level!)].Capacity is null)
                throw new ArgumentException($"Level {p.Level} is off chip (no capacity): its capacity is not a parameter.", nameof(parameters));
            count *= p.Values.Count;
            if (count > 1_000_000) throw new ArgumentException($"The space has more than 1,000,000 points; split it.", nameof(parameters));
        }
        var twice = parameters.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ArgumentException($"Parameter {twice.Key} is given twice.", nameof(parameters));
        Count = (int)count;
        _radix = parameters.Select(p => p.Values.Count).ToArray();
        Build(0); // the levels must accept the values (each value is checked on its own by the spec reader)
    }

    private readonly int[] _radix;

    /// <summary>The value index of every parameter at a point.</summary>
    public int[] Indices(int point)
    {
        if (point < 0 || point >= Count) throw new ArgumentOutOfRangeException(nameof(point), point, $"A point of {Name} is numbered 0 to {Count - 1}.");
        var idx = new int[_radix.Length];
        for (int i = _radix.Length - 1; i >= 0; i--) { idx[i] = point % _radix[i]; point /= _radix[i]; }
        return idx;
    }

    /// <summary>The point whose value index of every parameter is <paramref name="indices"/> (the inverse of <see cref="Indices"/>).</summary>
    public int PointOf(IReadOnlyList<int> indices)
    {
        if (indices.Count != _radix.Length) throw new ArgumentException($"A point of {Name} has {_radix.Length} value indices, got {indices.Count}.", nameof(indices));
        int point = 0;
        for (int i = 0; i < _radix.Length; i++)
        {
            if (indices[i] < 0 || indices[i] >= _radix[i]) throw new ArgumentOutOfRangeException(nameof(indices), indices[i], $"{Parameters[i].Name} has values 0 to {_radix[i] - 1}.");
            point = point * _radix[i] + indices[i];
        }
        return point;
    }

    /// <summary>
    /// The index of the value of parameter <paramref name="parameter"/> that the base architecture has (its capacity,
    /// fanout, bandwidth or MAC rate), or null when the base's value is not among the parameter's values.
    /// </summary>
    public int? BaseIndex(int parameter)
    {
        var p = Parameters[parameter];
        var level = p.Level is null ? null : Base.Levels[Base.IndexOf(p.Level)];
        for (int v = 0; v < p.Values.Count; v++)
        {
            var value = p.Values[v];
            bool same = p.Knob switch
            {
                DesignKnob.Capacity => level!.Capacity == (long)value.Number,
                DesignKnob.Fanout => level!.Fanout.X == value.X && level.Fanout.Y == value.Y,
                DesignKnob.ReadBandwidth => level!.ReadBandwidth == value.Number,
                DesignKnob.WriteBandwidth => level!.WriteBandwidth == value.Number,
                DesignKnob.Bandwidth => level!.ReadBandwidth == value.Number && level.WriteBandwidth == value.Number,
                _ => Base.Compute.MacsPerCycle == value.Number,
            };
            if (same) return v;
        }
        return null;
    }

    /// <summary>A parameter's value indices from the smallest value to the largest (by number, for a fanout X x Y, then X): the order of "smaller" and "larger".</summary>
    public static IReadOnlyList<int> Ascending(DesignParameter p)
        => Enumerable.Range(0, p.Values.Count).OrderBy(v => p.Values[v].Number).ThenBy(v => p.Values[v].X).ToList();

    /// <summary>The point as <c>GlobalBuffer.capacity=32768, ...</c>.</summary>
    public string Describe(int point)
    {
        if (Parameters.Count == 0) return "the base architecture";
        var idx = Indices(point);
        return string.Join(", ", Parameters.Select((p, i) => $"{p.Name}={p.Values[idx[i]]}"));
    }

    /// <summary>The architecture of one point.</summary>
    public Architecture Build(int point) => Relax([point]);

    /// <summary>
    /// The relaxation of a set of points: every varied capacity, fanout (X and Y apart), bandwidth and MAC rate at its
    /// largest over the set and every energy at its least, so that any mapping valid on a point is valid on it and
    /// costs no more energy and no more cycles there (docs/codesign.md, "Lower bounds"). For one point it is that
    /// point's architecture.
    /// </summary>
    public Architecture Relax(IReadOnlyList<int> points)
    {
        if (points.Count == 0) throw new ArgumentException("A relaxation needs at least one point.", nameof(points));
        var chosen = Parameters.Select(_ => new List<DesignValue>()).ToArray();
        foreach (var point in points.Distinct())
        {
            var idx = Indices(point);
            for (int i = 0; i < idx.Length; i++) chosen[i].Add(Parameters[i].Values[idx[i]]);
        }
        double Max(int i) => chosen[i].Max(v => v.Number);
        var levels = new List<StorageLevel>();
        for (int l = 0; l < Base.Levels.Count; l++)
        {
            var b = Base.Levels[l];
            long? capacity = b.Capacity;
            double? read = b.ReadBandwidth, write = b.WriteBandwidth;
            var fanout = b.Fanout;
            List<double>? capacities = null;
            for (int i = 0; i < Parameters.Count; i++)
            {
                var p = Parameters[i];
                if (p.Level != b.Name) continue;
                switch (p.Knob)
                {
                    case DesignKnob.Capacity:
                        capacities = chosen[i].Select(v => v.Number).Distinct().ToList();
                        capacity = (long)Max(i);
                        break;
                    case DesignKnob.Fanout:
                        fanout = new Fanout(chosen[i].Max(v => v.X), chosen[i].Max(v => v.Y), fanout.Multicast, fanout.SpatialReduction, fanout.HopEnergy, fanout.Topology) { Forwarding = fanout.Forwarding };
                        break;
                    case DesignKnob.ReadBandwidth: read = Max(i); break;
                    case DesignKnob.WriteBandwidth: write = Max(i); break;
                    case DesignKnob.Bandwidth: read = Max(i); write = Max(i); break;
                }
            }
            double readEnergy = b.ReadEnergy, writeEnergy = b.WriteEnergy;
            if (b.Capacity is { } baseWords)
            {
                var costs = Costs.Of(b);
                capacities ??= [baseWords];
                readEnergy = capacities.Min(costs.Read.At);
                writeEnergy = capacities.Min(costs.Write.At);
            }
            levels.Add(new StorageLevel(b.Name, capacity, b.WordBits, readEnergy, writeEnergy, read, write, b.Keeps, fanout) { Window = b.Window });
        }
        int macs = Base.Compute.MacsPerCycle;
        for (int i = 0; i < Parameters.Count; i++)
            if (Parameters[i].Knob == DesignKnob.MacsPerCycle) macs = (int)Max(i);
        string name = points.Count == 1 ? $"{Name}-p{points[0]}" : $"{Name}-relaxed";
        return new Architecture(name, points.Count == 1 ? $"Point {points[0]} of design space {Name}: {Describe(points[0])}." : $"The relaxation of {points.Count} points of design space {Name}.",
            levels, new ComputeUnit(Base.Compute.MacEnergy, macs), Base.ClockGHz);
    }

    /// <summary>The chip area of a point in mm²: every on-chip level's instances x its area at its capacity, plus the MAC units.</summary>
    public double Area(int point) => Area(Build(point));

    /// <summary>The on-chip storage of a point in KiB.</summary>
    public double Sram(int point) => Sram(Build(point));

    /// <summary>The area of an architecture of this space (a point's) in mm².</summary>
    public double Area(Architecture arch)
    {
        double area = 0;
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var level = arch.Levels[l];
            if (level.Capacity is not { } words) continue;
            area += arch.InstancesOf(l) * Costs.Of(Base.Levels[l]).Area.At(words);
        }
        return area + arch.ComputeInstances * (double)arch.Compute.MacsPerCycle * Costs.MacArea;
    }

    /// <summary>The on-chip storage of an architecture in KiB.</summary>
    public static double Sram(Architecture arch)
    {
        double bits = 0;
        for (int l = 0; l < arch.Levels.Count; l++)
            if (arch.Levels[l].Capacity is { } words) bits += arch.InstancesOf(l) * (double)words * arch.Levels[l].WordBits;
        return bits / 8 / 1024;
    }

    /// <summary>
    /// A text equal for two spaces exactly when every number a co-design run reads from them is equal: the base
    /// architecture as written by <see cref="Specs.ArchitectureSpec.Write"/>, the parameters and their values in order
    /// (so the same point numbers), and each on-chip level's read and write energy and area at every capacity a point can
    /// give it, and the MAC area. The space's name and the file's comments and layout are left out. The identity of a
    /// shard file (docs/codesign.md, "Shards") hashes it.
    /// </summary>
    public string Canonical()
    {
        static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var sb = new System.Text.StringBuilder();
        sb.Append(Specs.ArchitectureSpec.Write(Base));
        foreach (var p in Parameters) sb.Append($"parameter {p.Name}: {string.Join(", ", p.Values)}\n");
        foreach (var level in Base.Levels)
        {
            if (level.Capacity is not { } words) continue;
            var costs = Costs.Of(level);
            var capacities = Parameters.Where(p => p.Knob == DesignKnob.Capacity && p.Level == level.Name).SelectMany(p => p.Values.Select(v => v.Number)).DefaultIfEmpty(words);
            foreach (var c in capacities)
                sb.Append($"costs {level.Name} at {N(c)} words: read {N(costs.Read.At(c))}, write {N(costs.Write.At(c))}, area {N(costs.Area.At(c))}\n");
        }
        sb.Append($"mac-area {N(Costs.MacArea)}\n");
        return sb.ToString();
    }

    /// <summary>A static metric (area, sram) of a point.</summary>
    public double Static(DesignMetric metric, int point) => metric switch
    {
        DesignMetric.Area => Area(point),
        DesignMetric.Sram => Sram(point),
        _ => throw new ArgumentException($"{DesignMetrics.Name(metric)} needs the layers mapped; it is not a static metric.", nameof(metric)),
    };
}
