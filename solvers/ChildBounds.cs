namespace Optimizer.Solvers;

/// <summary>
/// The outer bound's cases for the children of one inner-first node whose only undecided on-chip level is
/// level 1: one bound per choice of level 1's temporal factors (G) and keep set, recorded while the bound
/// is computed. A child with no recorded entry had every case at or above the cutoff (or does not fit level
/// 1), so it is pruned without being bounded again; the cutoff only falls during a search, so it stays pruned.
/// </summary>
internal sealed class ChildBounds
{
    /// <summary>More open children than this and the record is dropped: the node then bounds its children one by one.</summary>
    private const int MaxEntries = 1 << 15;

    private readonly long[] _remaining;
    private readonly long[][] _divisors; // per rank, the divisors of what is left (empty when nothing is)
    private readonly int _keepBits;
    private readonly double _cutoff;
    private Dictionary<long, double>? _open;
    private HashSet<long>? _openG;

    public ChildBounds(long[] remaining, IReadOnlyDictionary<long, long[]> divisors, int tensors, double cutoff)
    {
        _remaining = remaining;
        _divisors = remaining.Select(left => left > 1 ? divisors[left] : []).ToArray();
        _keepBits = tensors;
        _cutoff = cutoff * (1 + 1e-9);
    }

    /// <summary>True when more children were open than the record holds; the record is then not used.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Records a case's value for the child with the G of index <paramref name="gIndex"/> and this keep set (kept only below the cutoff).</summary>
    public void Add(long gIndex, int keep, double bound)
    {
        if (Overflowed || bound >= _cutoff) return;
        _open ??= new Dictionary<long, double>();
        _openG ??= new HashSet<long>();
        long key = (gIndex << _keepBits) | (long)keep;
        _open[key] = _open.TryGetValue(key, out var old) ? Math.Min(old, bound) : bound;
        _openG.Add(gIndex);
        if (_open.Count > MaxEntries) Overflowed = true;
    }

    /// <summary>
    /// The index of level 1's temporal factors among the cases (mixed radix over the ranks with something
    /// left, in divisor order, as the outer bound enumerates them), or -1 when they are not among them.
    /// </summary>
    public long Index(int[] temporal)
    {
        long index = 0, stride = 1;
        for (int r = 0; r < _remaining.Length; r++)
        {
            if (_remaining[r] <= 1)
            {
                if (temporal[r] != 1) return -1;
                continue;
            }
            int j = Array.BinarySearch(_divisors[r], (long)temporal[r]);
            if (j < 0) return -1;
            index += j * stride;
            stride *= _divisors[r].Length;
        }
        return index;
    }

    /// <summary>True when some keep set with these factors is open.</summary>
    public bool AnyOpen(long gIndex) => gIndex >= 0 && _openG is not null && _openG.Contains(gIndex);

    /// <summary>The least case bound of the child with these factors and keep set, or false when it is closed.</summary>
    public bool TryGet(long gIndex, int keep, out double bound)
    {
        bound = 0;
        return gIndex >= 0 && _open is not null && _open.TryGetValue((gIndex << _keepBits) | (long)keep, out bound);
    }
}
