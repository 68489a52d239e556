using Optimizer.Workloads;

namespace Optimizer.Hardware;

/// <summary>How a spatial fanout's wires are laid: a bus reaches every child in one hop; a mesh costs the Manhattan distance from the edge.</summary>
public enum Topology
{
    /// <summary>One hop to any child (an array bus or a point-to-point link).</summary>
    Bus,
    /// <summary>A 2-D mesh entered at one corner; a word travels one hop per router passed.</summary>
    Mesh,
}

/// <summary>How a storage level keeps the overlap of a tile with the previous one (docs/cost-model.md, "Window reuse").</summary>
public enum WindowReuse
{
    /// <summary>Any overlap with the previous tile is kept: only the words the previous tile did not hold are fetched.</summary>
    Slide,
    /// <summary>The overlap is kept only while the tile keeps moving the same way (Timeloop's rule): after a change of translation the whole tile is fetched.</summary>
    SameStride,
}

/// <summary>The axes of a fanout along which a child may take words from its neighbour (docs/cost-model.md, "Neighbour forwarding").</summary>
[Flags]
public enum Forwarding
{
    /// <summary>No links between children.</summary>
    None = 0,
    /// <summary>Links between neighbours along X.</summary>
    X = 1,
    /// <summary>Links between neighbours along Y.</summary>
    Y = 2,
    /// <summary>Links along both axes.</summary>
    XY = X | Y,
}

/// <summary>
/// The spatial fanout below a storage level: an X by Y array of child instances (of the next inner
/// storage level, or of compute units below the innermost level).
/// </summary>
public sealed record Fanout
{
    /// <summary>Children along X; at least 1.</summary>
    public int X { get; }
    /// <summary>Children along Y; at least 1.</summary>
    public int Y { get; }
    /// <summary>Whether one read of the parent can deliver the same word to many children.</summary>
    public bool Multicast { get; }
    /// <summary>Whether partial sums from many children are added on the way up, arriving as one update.</summary>
    public bool SpatialReduction { get; }
    /// <summary>Energy in pJ for one word to travel one hop of this network.</summary>
    public double HopEnergy { get; }
    /// <summary>The wiring, which decides the hop count.</summary>
    public Topology Topology { get; }
    /// <summary>The axes along which a child takes from its neighbour the words the neighbour needed one step earlier; none by default.</summary>
    public Forwarding Forwarding { get; init; }

    /// <summary>Creates a fanout.</summary>
    public Fanout(int x, int y, bool multicast = true, bool spatialReduction = true, double hopEnergy = 0, Topology topology = Topology.Bus)
    {
        X = (int)Check.AtLeast(x, 1, nameof(x), "A fanout's X size");
        Y = (int)Check.AtLeast(y, 1, nameof(y), "A fanout's Y size");
        Multicast = multicast;
        SpatialReduction = spatialReduction;
        HopEnergy = Check.NonNegative(hopEnergy, nameof(hopEnergy), "A fanout's hop energy");
        Topology = topology;
    }

    /// <summary>No fanout: one child.</summary>
    public static Fanout None { get; } = new(1, 1);

    /// <summary>The number of children.</summary>
    public int Size => X * Y;
}

/// <summary>
/// One storage level: capacity, word width, energy per access, bandwidth per instance, the tensor
/// roles it may keep, and the fanout below it.
/// </summary>
public sealed record StorageLevel
{
    /// <summary>The level's name, such as <c>DRAM</c> or <c>GlobalBuffer</c>.</summary>
    public string Name { get; }
    /// <summary>Capacity in words per instance; null means unbounded (DRAM).</summary>
    public long? Capacity { get; }
    /// <summary>Bits per word.</summary>
    public int WordBits { get; }
    /// <summary>Energy in pJ to read one word.</summary>
    public double ReadEnergy { get; }
    /// <summary>Energy in pJ to write one word (a fill or an update).</summary>
    public double WriteEnergy { get; }
    /// <summary>Words per cycle that one instance can read; null means unlimited.</summary>
    public double? ReadBandwidth { get; }
    /// <summary>Words per cycle that one instance can write; null means unlimited.</summary>
    public double? WriteBandwidth { get; }
    /// <summary>The tensor roles this level may keep; all three when not restricted.</summary>
    public IReadOnlySet<TensorRole> Keeps { get; }
    /// <summary>The spatial fanout from this level to the next inner one (or to compute).</summary>
    public Fanout Fanout { get; init; }
    /// <summary>How the level keeps the overlap of a tile with the previous one; <see cref="WindowReuse.Slide"/> by default.</summary>
    public WindowReuse Window { get; init; }

    /// <summary>Creates a storage level, checking every number.</summary>
    public StorageLevel(string name, long? capacity, int wordBits, double readEnergy, double writeEnergy,
        double? readBandwidth = null, double? writeBandwidth = null, IEnumerable<TensorRole>? keeps = null, Fanout? fanout = null)
    {
        Name = Check.Identifier(name, nameof(name), "storage level");
        if (capacity is { } c) Check.AtLeast(c, 1, nameof(capacity), $"The capacity of level {name}");
        Capacity = capacity;
        WordBits = (int)Check.AtLeast(wordBits, 1, nameof(wordBits), $"The word width of level {name}");
        ReadEnergy = Check.NonNegative(readEnergy, nameof(readEnergy), $"The read energy of level {name}");
        WriteEnergy = Check.NonNegative(writeEnergy, nameof(writeEnergy), $"The write energy of level {name}");
        if (readBandwidth is { } rb) Check.Positive(rb, nameof(readBandwidth), $"The read bandwidth of level {name}");
        if (writeBandwidth is { } wb) Check.Positive(wb, nameof(writeBandwidth), $"The write bandwidth of level {name}");
        ReadBandwidth = readBandwidth;
        WriteBandwidth = writeBandwidth;
        var set = keeps?.ToHashSet() ?? [TensorRole.Inputs, TensorRole.Weights, TensorRole.Outputs];
        if (set.Count == 0) throw new ArgumentException($"Level {name} must be allowed to keep at least one tensor role.", nameof(keeps));
        Keeps = set;
        Fanout = fanout ?? Fanout.None;
    }

    /// <summary>True when the level may keep a tensor of this role.</summary>
    public bool MayKeep(TensorRole role) => Keeps.Contains(role);
}

/// <summary>The compute units below the innermost storage level.</summary>
public sealed record ComputeUnit
{
    /// <summary>Energy in pJ of one multiply-accumulate.</summary>
    public double MacEnergy { get; }
    /// <summary>Multiply-accumulates one unit completes per cycle.</summary>
    public int MacsPerCycle { get; }

    /// <summary>Creates a compute unit.</summary>
    public ComputeUnit(double macEnergy, int macsPerCycle = 1)
    {
        MacEnergy = Check.NonNegative(macEnergy, nameof(macEnergy), "The energy per MAC");
        MacsPerCycle = (int)Check.AtLeast(macsPerCycle, 1, nameof(macsPerCycle), "MACs per cycle");
    }
}

/// <summary>
/// An accelerator: storage levels from the outermost (DRAM) to the innermost, each with the fanout
/// below it, and the compute units at the bottom. Multi-node designs are a level whose fanout is a
/// mesh network-on-chip with a per-hop energy.
/// </summary>
public sealed class Architecture
{
    /// <summary>The architecture's name, such as <c>eyeriss</c>.</summary>
    public string Name { get; }
    /// <summary>One paragraph saying what it is and where its numbers come from.</summary>
    public string Description { get; }
    /// <summary>Levels, outermost first.</summary>
    public IReadOnlyList<StorageLevel> Levels { get; }
    /// <summary>The compute units below the innermost level.</summary>
    public ComputeUnit Compute { get; }
    /// <summary>Clock frequency in GHz, used only to print seconds; null when unknown.</summary>
    public double? ClockGHz { get; }

    /// <summary>Creates an architecture; the outermost level must be unbounded and keep every role.</summary>
    public Architecture(string name, string description, IEnumerable<StorageLevel> levels, ComputeUnit compute, double? clockGHz = null)
    {
        Name = Check.Identifier(name, nameof(name), "architecture");
        Description = description;
        Levels = levels.ToList();
        if (Levels.Count == 0) throw new ArgumentException($"Architecture {name} needs at least one storage level.", nameof(levels));
        var dup = Levels.GroupBy(l => l.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"Architecture {name} has two levels named {dup.Key}.", nameof(levels));
        if (Levels[0].Keeps.Count != 3)
            throw new ArgumentException($"The outermost level {Levels[0].Name} of {name} must be allowed to keep every tensor role: it is where tensors start and end.", nameof(levels));
        Compute = compute;
        if (clockGHz is { } f) Check.Positive(f, nameof(clockGHz), "The clock frequency");
        ClockGHz = clockGHz;
        long inst = 1;
        var instances = new long[Levels.Count + 1];
        for (int i = 0; i < Levels.Count; i++) { instances[i] = inst; inst = checked(inst * Levels[i].Fanout.Size); }
        instances[Levels.Count] = inst;
        _instances = instances;
    }

    private readonly long[] _instances;

    /// <summary>Instances of a level (the product of the fanouts above it).</summary>
    public long InstancesOf(int level) => _instances[level];

    /// <summary>The number of compute units.</summary>
    public long ComputeInstances => _instances[Levels.Count];

    /// <summary>True when some level keeps window overlap only under the same stride or some fanout forwards between neighbours (docs/cost-model.md): the capabilities the order DP and the solver encodings do not model.</summary>
    public bool HasWindowCapabilities => HasForwarding || Levels.Skip(1).Any(l => l.Window != WindowReuse.Slide);

    /// <summary>True when some fanout with more than one child forwards between neighbours.</summary>
    public bool HasForwarding => Levels.Any(l => l.Fanout.Forwarding != Forwarding.None && l.Fanout.Size > 1);

    /// <summary>This architecture with every window sliding and no fanout forwarding (the search's own model of it).</summary>
    public Architecture WithoutWindowCapabilities()
        => HasWindowCapabilities
            ? new(Name, Description, Levels.Select(l => l with { Window = WindowReuse.Slide, Fanout = l.Fanout with { Forwarding = Forwarding.None } }), Compute, ClockGHz)
            : this;

    /// <summary>The window capabilities in words, for a message that refuses them: "a same-stride window at Buffer, forwarding along xy below GLB".</summary>
    public string WindowCapabilities()
        => string.Join(", ", Levels.Skip(1).Where(l => l.Window != WindowReuse.Slide).Select(l => $"a same-stride window at {l.Name}")
            .Concat(Levels.Where(l => l.Fanout.Forwarding != Forwarding.None && l.Fanout.Size > 1).Select(l => $"neighbour forwarding along {l.Fanout.Forwarding.ToString().ToLowerInvariant()} below {l.Name}")));

    /// <summary>The index of the level with this name, or -1.</summary>
    public int IndexOf(string levelName)
    {
        for (int i = 0; i < Levels.Count; i++) if (Levels[i].Name == levelName) return i;
        return -1;
    }
}
