using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Validation;

/// <summary>Options of one simulation run.</summary>
public sealed record SimOptions
{
    /// <summary>Record a trace of transfer events.</summary>
    public bool Trace { get; init; }
    /// <summary>Stop recording trace events after this many.</summary>
    public int TraceLimit { get; init; } = 100_000;
    /// <summary>Refuse mappings whose loop nest above the innermost level has more tile steps than this.</summary>
    public long MaxSteps { get; init; } = 200_000_000;
    /// <summary>Whether the mapping may cover a bound with partial last iterations (imperfect factorization, docs/cost-model.md).</summary>
    public Factorization Factorization { get; init; } = Factorization.Perfect;
}

/// <summary>One transfer event of the trace: words moved into or out of a level at one tile step.</summary>
public sealed record SimEvent(long Tile, int LevelIndex, string Level, string Tensor, string Kind, double StartCycle, double EndCycle, long Words);

/// <summary>The simulated counts of one tensor at one level that keeps it, per (representative) instance.</summary>
public sealed record SimTensorLevel(
    int LevelIndex,
    string Level,
    TensorId Tensor,
    TensorRole Role,
    long TileWords,
    long Fills,
    long Reads,
    long Updates,
    long InstancesUsed)
{
    /// <summary>Reads over all instances used.</summary>
    public long TotalReads => checked(Reads * InstancesUsed);
    /// <summary>Fills over all instances used.</summary>
    public long TotalFills => checked(Fills * InstancesUsed);
    /// <summary>Updates over all instances used.</summary>
    public long TotalUpdates => checked(Updates * InstancesUsed);
    /// <summary>Reads of words sent to a neighbouring instance (neighbour forwarding), over all instances used.</summary>
    public long ForwardedReads { get; init; }
}

/// <summary>What one level did in the simulation: its tiles, port traffic, buffering and the cycles consumers waited for it.</summary>
public sealed record SimLevel(
    int LevelIndex,
    string Level,
    long InstancesUsed,
    bool DoubleBuffered,
    long Tiles,
    long ReadWords,
    long WriteWords,
    double StallCycles);

/// <summary>The result of simulating one mapping: counts per level and tensor, cycles, stalls, utilization and an optional trace.</summary>
public sealed record SimReport(
    IReadOnlyList<SimTensorLevel> Tensors,
    IReadOnlyList<SimLevel> Levels,
    long Macs,
    long ComputeInstancesUsed,
    long ComputeCycles,
    long Cycles,
    double Utilization,
    long TilesSimulated,
    IReadOnlyList<SimEvent> Trace,
    bool TraceTruncated)
{
    /// <summary>The row of one level and tensor, or null when the level does not keep the tensor.</summary>
    public SimTensorLevel? Find(int level, TensorId tensor) => Tensors.FirstOrDefault(t => t.LevelIndex == level && t.Tensor == tensor);
}
