using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// A constraint on a complete mapping and its cost report, beyond what <see cref="LevelConstraint"/> pins
/// (docs/spec-format.md, "Constraints"). <see cref="ConstraintCheck.Holds"/> is the one definition of each kind;
/// the CP-SAT model states the same inequalities, and every answer is re-checked by it.
/// </summary>
/// <remarks><see cref="Where"/> is where the constraint was written (<c>file:line:column</c>), for messages; empty when built in code.</remarks>
public abstract record GlobalConstraint
{
    /// <summary>The solvers that honour the global kinds, as the CLI says it.</summary>
    public const string Honoured = "--solver exact, brute and cpsat honour them (their proofs are over the constrained mapspace) and --solver random draws only mappings that satisfy them; --solver descent and z3 (and --certify z3) do not";

    /// <summary>Where the constraint was written (file:line:column), or empty.</summary>
    public string Where { get; init; } = "";

    /// <summary>The constraint in words, with the level's name.</summary>
    public abstract string Describe(Architecture arch);

    /// <summary>The constraint in words, followed by where it was written.</summary>
    public string Name(Architecture arch) => Where.Length == 0 ? Describe(arch) : $"{Describe(arch)} ({Where})";

    /// <summary>
    /// The least whole number of units that is at least <paramref name="fraction"/> of <paramref name="total"/> (a fraction
    /// written in decimal, such as 0.3 of 10, counts as exact: 3). Every kind with a minimum fraction uses it.
    /// </summary>
    public static long AtLeast(double fraction, long total) => Math.Max(0, (long)Math.Ceiling(fraction * total * (1 - 1e-12)));
}

/// <summary>(a) The extent of <see cref="Rank"/> in the tile of <see cref="Level"/> (<see cref="Mapping.TileExtent"/>) is a multiple of <see cref="Multiple"/>.</summary>
public sealed record TileMultiple(int Level, RankId Rank, long Multiple) : GlobalConstraint
{
    /// <inheritdoc/>
    public override string Describe(Architecture arch) => $"{arch.Levels[Level].Name}: the tile extent of {Rank} is a multiple of {Multiple}";
}

/// <summary>
/// (b) The mapping uses at least <see cref="Fraction"/> of the compute units: the product of every spatial factor of every
/// level (the compute units used, as <see cref="CostReport.ComputeInstancesUsed"/> reports them) at least
/// <see cref="GlobalConstraint.AtLeast"/>(fraction, the architecture's compute units).
/// </summary>
public sealed record MinUtilization(double Fraction) : GlobalConstraint
{
    /// <inheritdoc/>
    public override string Describe(Architecture arch)
        => $"min-utilization {Fraction:0.###}: at least {AtLeast(Fraction, arch.ComputeInstances)} of the {arch.ComputeInstances} compute units used";
}

/// <summary>Which part of a fanout <see cref="MinFanoutUsed"/> is about.</summary>
public enum FanoutPart
{
    /// <summary>Children along X: the product of the level's spatial factors along X, over the fanout's X.</summary>
    X,
    /// <summary>Children along Y.</summary>
    Y,
    /// <summary>Every child: the product of all the level's spatial factors over X x Y.</summary>
    Total,
}

/// <summary>(d) <see cref="Level"/>'s fanout uses at least <see cref="Fraction"/> of its children along an axis, or in all.</summary>
public sealed record MinFanoutUsed(int Level, FanoutPart Part, double Fraction) : GlobalConstraint
{
    /// <summary>The children of the part: the fanout's X, Y, or X x Y.</summary>
    public long Children(Architecture arch) => Part switch
    {
        FanoutPart.X => arch.Levels[Level].Fanout.X,
        FanoutPart.Y => arch.Levels[Level].Fanout.Y,
        _ => arch.Levels[Level].Fanout.Size,
    };

    /// <inheritdoc/>
    public override string Describe(Architecture arch)
        => $"{arch.Levels[Level].Name}: min-fanout-used {Part.ToString().ToLowerInvariant()} {Fraction:0.###} (at least {AtLeast(Fraction, Children(arch))} of {Children(arch)} children)";
}

/// <summary>(c) <see cref="Level"/>'s bandwidth cycles (<see cref="LevelCost.BandwidthCycles"/>) are at most the compute cycles: the level never bounds the latency.</summary>
public sealed record BandwidthWithinCompute(int Level) : GlobalConstraint
{
    /// <inheritdoc/>
    public override string Describe(Architecture arch) => $"{arch.Levels[Level].Name}: bandwidth cycles at most the compute cycles";
}

/// <summary>Which count <see cref="MaxCount"/> bounds.</summary>
public enum CountKind
{
    /// <summary><see cref="TensorLevelCost.Reads"/>.</summary>
    Reads,
    /// <summary><see cref="TensorLevelCost.Fills"/>.</summary>
    Fills,
    /// <summary><see cref="TensorLevelCost.Updates"/>.</summary>
    Updates,
}

/// <summary>
/// (e) An upper bound on a count of the cost report at <see cref="Level"/>: of <see cref="Tensor"/> (null: the sum over
/// every tensor the level keeps), per instance (<see cref="TensorLevelCost.Reads"/> ...) or, with <see cref="Total"/>, over
/// every instance used (<see cref="TensorLevelCost.TotalReads"/> ...). A level that does not keep a tensor counts 0 for it.
/// </summary>
public sealed record MaxCount(int Level, TensorId? Tensor, CountKind Count, bool Total, long Limit) : GlobalConstraint
{
    /// <summary>The count this constraint bounds, from a cost report.</summary>
    public long Of(CostReport report) => report.Tensors
        .Where(t => t.LevelIndex == Level && (Tensor is not { } only || t.Tensor == only))
        .Aggregate(0L, (a, t) => checked(a + (Count, Total) switch
        {
            (CountKind.Reads, false) => t.Reads,
            (CountKind.Fills, false) => t.Fills,
            (CountKind.Updates, false) => t.Updates,
            (CountKind.Reads, true) => t.TotalReads,
            (CountKind.Fills, true) => t.TotalFills,
            _ => t.TotalUpdates,
        }));

    /// <inheritdoc/>
    public override string Describe(Architecture arch)
        => $"{arch.Levels[Level].Name}: {Count.ToString().ToLowerInvariant()} of {(Tensor is { } t ? t.ToString() : "every tensor")} {(Total ? "over all instances" : "per instance")} at most {Limit}";
}
