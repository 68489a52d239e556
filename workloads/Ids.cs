namespace Optimizer.Workloads;

/// <summary>The name of one rank (loop dimension) of an Einsum, such as <c>K</c> or <c>P</c>.</summary>
public readonly record struct RankId
{
    /// <summary>The rank's name as written in specs and mappings.</summary>
    public string Name { get; }

    /// <summary>Creates a rank id; the name must be non-empty and free of white space.</summary>
    public RankId(string name) => Name = Check.Identifier(name, nameof(name), "rank");

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The name of one tensor (data space) of an Einsum, such as <c>Weights</c>.</summary>
public readonly record struct TensorId
{
    /// <summary>The tensor's name as written in specs and mappings.</summary>
    public string Name { get; }

    /// <summary>Creates a tensor id; the name must be non-empty and free of white space.</summary>
    public TensorId(string name) => Name = Check.Identifier(name, nameof(name), "tensor");

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The part a tensor plays in the multiply-accumulate: first operand, second operand, or result.</summary>
public enum TensorRole
{
    /// <summary>The first operand (activations in a convolution).</summary>
    Inputs,
    /// <summary>The second operand (filters in a convolution).</summary>
    Weights,
    /// <summary>The result, updated by read-modify-write of partial sums.</summary>
    Outputs,
}

/// <summary>The one place argument checks live, so every message says which argument broke which rule.</summary>
public static class Check
{
    /// <summary>Returns the name when it is a valid identifier, otherwise throws <see cref="ArgumentException"/>.</summary>
    public static string Identifier(string? name, string argument, string what)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw new ArgumentException($"A {what} name must not be empty.", argument);
        if (name.Any(char.IsWhiteSpace))
            throw new ArgumentException($"A {what} name must not contain white space, but '{name}' does.", argument);
        return name;
    }

    /// <summary>Returns the value when it is at least <paramref name="min"/>, otherwise throws.</summary>
    public static long AtLeast(long value, long min, string argument, string what)
        => value >= min ? value
            : throw new ArgumentOutOfRangeException(argument, value, $"{what} must be at least {min}, but is {value}.");

    /// <summary>Returns the value when it is finite and not negative, otherwise throws.</summary>
    public static double NonNegative(double value, string argument, string what)
        => double.IsFinite(value) && value >= 0 ? value
            : throw new ArgumentOutOfRangeException(argument, value, $"{what} must be a finite number of at least 0, but is {value}.");

    /// <summary>Returns the value when it is finite and positive, otherwise throws.</summary>
    public static double Positive(double value, string argument, string what)
        => double.IsFinite(value) && value > 0 ? value
            : throw new ArgumentOutOfRangeException(argument, value, $"{what} must be a finite number above 0, but is {value}.");
}
