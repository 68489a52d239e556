namespace Optimizer.Solvers;

/// <summary>
/// A cache key: an owner, four numbers and an array compared by content. The array is the caller's (a lookup allocates
/// nothing); <see cref="Copy"/> before storing.
/// </summary>
internal readonly struct ContentKey : IEquatable<ContentKey>
{
    private readonly object? _owner;
    private readonly (long, long, long, long) _numbers;
    private readonly long[] _array;
    private readonly int _hash;

    public ContentKey(object? owner, (long, long, long, long) numbers, long[] array)
    {
        (_owner, _numbers, _array) = (owner, numbers, array);
        var hash = new HashCode();
        hash.Add(owner is null ? 0 : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(owner));
        hash.Add(numbers);
        foreach (long x in array) hash.Add(x);
        _hash = hash.ToHashCode();
    }

    public ContentKey((long, long, long, long) numbers, long[] array) : this(null, numbers, array) { }
    public ContentKey(object owner, int number, long[] array) : this(owner, (number, 0, 0, 0), array) { }

    public ContentKey Copy() => new(_owner, _numbers, (long[])_array.Clone());
    public bool Equals(ContentKey other) => ReferenceEquals(_owner, other._owner) && _numbers == other._numbers && _array.AsSpan().SequenceEqual(other._array);
    public override bool Equals(object? obj) => obj is ContentKey k && Equals(k);
    public override int GetHashCode() => _hash;
}
