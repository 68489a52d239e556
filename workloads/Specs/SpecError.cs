namespace Optimizer.Workloads.Specs;

/// <summary>
/// One mistake in a spec file: where it is (file, line, column, key path) and what is wrong. Line 0 means a
/// file without lines (a binary ONNX model), where <see cref="Key"/> names the node or tensor.
/// </summary>
public sealed record SpecError(string File, int Line, int Column, string Key, string Message)
{
    /// <inheritdoc/>
    public override string ToString()
        => (Line > 0 ? $"{File}:{Line}:{Column}: " : $"{File}: ") + (Key.Length == 0 ? Message : $"{Key}: {Message}");
}

/// <summary>Thrown when a spec file has mistakes; carries every one of them, not just the first.</summary>
public sealed class SpecException : Exception
{
    /// <summary>The mistakes, in the order they were found.</summary>
    public IReadOnlyList<SpecError> Errors { get; }

    /// <summary>Creates the exception; its message lists every error, one per line.</summary>
    public SpecException(IReadOnlyList<SpecError> errors)
        : base(string.Join(Environment.NewLine, errors))
    {
        if (errors.Count == 0) throw new ArgumentException("A spec exception needs at least one error.", nameof(errors));
        Errors = errors;
    }
}
