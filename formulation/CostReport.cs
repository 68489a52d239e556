using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The counts of one tensor at one level that keeps it, per instance, and the energy over all the
/// instances the mapping uses.
/// </summary>
public sealed record TensorLevelCost(
    int LevelIndex,
    string Level,
    TensorId Tensor,
    TensorRole Role,
    long TileWords,
    long Fills,
    long Reads,
    long Updates,
    long InstancesUsed,
    double Energy)
{
    /// <summary>Reads over all instances used.</summary>
    public long TotalReads => checked(Reads * InstancesUsed);
    /// <summary>Fills over all instances used.</summary>
    public long TotalFills => checked(Fills * InstancesUsed);
    /// <summary>Updates over all instances used.</summary>
    public long TotalUpdates => checked(Updates * InstancesUsed);
    /// <summary>Reads of words sent to a neighbouring instance (neighbour forwarding), over all instances used; in <see cref="Energy"/>, not in <see cref="Reads"/>.</summary>
    public long ForwardedReads { get; init; }
}

/// <summary>Traffic of one tensor over the network of one fanout, and its energy.</summary>
public sealed record NetworkCost(int LevelIndex, string Level, TensorId Tensor, long Words, double Hops, double Energy);

/// <summary>
/// Traffic among the children of one fanout for one tensor, recorded on the level above the fanout: words a child
/// took from a neighbouring child instead of the parent (link transfers; the default model with neighbour forwarding,
/// and <see cref="TimeloopConvention"/>), and partial sums added on the way up (spatial reductions; the Timeloop
/// convention only). Totals per instance of the level above, whether or not that level keeps the tensor.
/// </summary>
public sealed record FanoutTraffic(int LevelIndex, string Level, TensorId Tensor, long LinkTransfers, long SpatialReductions);

/// <summary>What one level adds up to: instances used, words held, energy and the cycles its bandwidth needs.</summary>
public sealed record LevelCost(
    int LevelIndex,
    string Level,
    long InstancesUsed,
    long Instances,
    long WordsHeld,
    long? Capacity,
    double Energy,
    long BandwidthCycles);

/// <summary>The analytical cost of one valid mapping: every count, energy, cycles, utilization and EDP.</summary>
public sealed record CostReport(
    IReadOnlyList<TensorLevelCost> Tensors,
    IReadOnlyList<NetworkCost> Network,
    IReadOnlyList<LevelCost> Levels,
    long Macs,
    long ComputeInstancesUsed,
    long ComputeCycles,
    long Cycles,
    string BoundBy,
    double MacEnergy,
    double StorageEnergy,
    double NetworkEnergy,
    double Utilization)
{
    /// <summary>Link transfers and spatial reductions per fanout and tensor; empty unless neighbour forwarding moved words or the Timeloop convention produced the report.</summary>
    public IReadOnlyList<FanoutTraffic> Fanouts { get; init; } = [];

    /// <summary>Total energy in pJ.</summary>
    public double Energy => MacEnergy + StorageEnergy + NetworkEnergy;
    /// <summary>Energy per MAC in pJ.</summary>
    public double EnergyPerMac => Energy / Macs;
    /// <summary>Energy-delay product in pJ x cycles.</summary>
    public double Edp => Energy * Cycles;

    /// <summary>The value of an objective for this report.</summary>
    public double Objective(Objective objective) => objective switch
    {
        Formulation.Objective.Energy => Energy,
        Formulation.Objective.Latency => Cycles,
        Formulation.Objective.Edp => Edp,
        _ => throw new ArgumentOutOfRangeException(nameof(objective), objective, "Unknown objective."),
    };
}

/// <summary>What a mapper minimizes.</summary>
public enum Objective
{
    /// <summary>Total energy.</summary>
    Energy,
    /// <summary>Cycles.</summary>
    Latency,
    /// <summary>Energy times cycles.</summary>
    Edp,
}

/// <summary>Objective names as users write them, and lexicographic lists of them.</summary>
public static class Objectives
{
    /// <summary>The names accepted, as a user reads them in an error.</summary>
    public const string Choices = "energy, latency (or delay), edp, or a comma-separated list of them minimized in order (e.g. delay,energy)";

    /// <summary>The name of an objective as printed.</summary>
    public static string Name(Objective o) => o.ToString().ToLowerInvariant();

    /// <summary>Relative margin within which two values of a term tie, as the searches' (the later terms then decide).</summary>
    public const double TieMargin = 1e-9;

    /// <summary>
    /// The lexicographic least of <paramref name="items"/> under <paramref name="terms"/>: the least first term, then
    /// among the items within <see cref="TieMargin"/> of it the least second term, and so on; among items that tie on
    /// every term, the first. Throws <see cref="InvalidOperationException"/> for no items.
    /// </summary>
    public static T Least<T>(IEnumerable<T> items, IReadOnlyList<Objective> terms, Func<T, Objective, double> value)
    {
        var left = items.ToList();
        if (left.Count == 0) throw new InvalidOperationException("There is nothing to choose from.");
        foreach (var term in terms)
        {
            double least = left.Min(x => value(x, term));
            left = left.Where(x => value(x, term) <= least + TieMargin * Math.Abs(least)).ToList();
        }
        return left[0];
    }

    /// <summary>
    /// Reads one objective or a lexicographic list (<c>delay,energy</c>: least cycles, then least energy
    /// among them, as Timeloop's <c>optimization-metrics</c>); false with a message naming the choices.
    /// </summary>
    public static bool TryParse(string text, out IReadOnlyList<Objective> terms, out string error)
    {
        var list = new List<Objective>();
        terms = list;
        error = "";
        foreach (var raw in text.Split(','))
        {
            var name = raw.Trim().ToLowerInvariant();
            Objective? o = name switch
            {
                "energy" => Objective.Energy,
                "latency" or "delay" or "cycles" => Objective.Latency,
                "edp" => Objective.Edp,
                _ => null,
            };
            if (o is null) { error = $"Unknown objective '{raw.Trim()}' in '{text}'; the choices: {Choices}."; return false; }
            if (list.Contains(o.Value)) { error = $"The objective '{text}' names {Name(o.Value)} twice; each term may appear once."; return false; }
            list.Add(o.Value);
        }
        return true;
    }
}
