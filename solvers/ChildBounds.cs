namespace Optimizer.Solvers;

/// <summary>
/// The outer bound's cases for the children of one inner-first node, recorded while the bound is computed:
/// the splits G (the product of the undecided on-chip levels' temporal factors) with a case below the
/// cutoff. When level 1 is the only undecided on-chip level, a child is one split and keep set, and gets
/// the least of its cases; a child with no entry had every case at or above the cutoff (or does not fit
/// level 1), so it is pruned without being bounded again. With more undecided levels, a child's factors
/// must divide the split of each of its completions, so a child that divides no open split is pruned the
/// same way. The cutoff only falls during a search, so what is pruned stays pruned.
/// </summary>
internal sealed class ChildBounds
{
    /// <summary>More open children than this and the record is dropped: the node then bounds its children one by one.</summary>
    private const int MaxEntries = 1 << 15;

    private readonly long[] _remaining;
    private readonly long[][] _divisors; // per rank, the divisors of what is left (empty when nothing is)
    private readonly int _keepBits;
    private readonly double _cutoff;
    /// <summary>More open splits than this and the divisor check is dropped (it scans them all per child).</summary>
    private const int MaxSplits = 64;

    private Dictionary<long, double>? _open;
    private HashSet<long>? _openG;
    private List<long[]>? _splits; // the open splits' factors, for the divisor check

    public ChildBounds(long[] remaining, IReadOnlyDictionary<long, long[]> divisors, int tensors, double cutoff)
    {
        _remaining = remaining;
        _divisors = remaining.Select(left => left > 1 ? divisors[left] : []).ToArray();
        _keepBits = tensors;
        _cutoff = cutoff * (1 + 1e-9);
    }

    /// <summary>True when more children were open than the record holds; the record is then not used.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Records a case's value for the split <paramref name="g"/> of index <paramref name="gIndex"/> and this keep set (kept only below the cutoff).</summary>
    public void Add(long gIndex, long[] g, int keep, double bound)
    {
        if (Overflowed || bound >= _cutoff) return;
        _open ??= new Dictionary<long, double>();
        _openG ??= new HashSet<long>();
        _splits ??= [];
        long key = (gIndex << _keepBits) | (long)keep;
        _open[key] = _open.TryGetValue(key, out var old) ? Math.Min(old, bound) : bound;
        if (_openG.Add(gIndex) && _splits.Count <= MaxSplits) _splits.Add((long[])g.Clone());
        if (_open.Count > MaxEntries) Overflowed = true;
    }

    /// <summary>
    /// For a node whose undecided on-chip levels are 1 to d - 1 (G is their product), a choice of level d -
    /// 1's factors can lead somewhere only if it divides some open split, rank by rank; true when it does, or
    /// when too many splits are open to tell.
    /// </summary>
    public bool MayDivide(int[] temporal)
    {
        if (_splits is null) return false;
        if (_splits.Count > MaxSplits) return true;
        foreach (var g in _splits)
        {
            bool divides = true;
            for (int r = 0; r < temporal.Length && divides; r++) divides = g[r] % temporal[r] == 0;
            if (divides) return true;
        }
        return false;
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
            stride = checked(stride * _divisors[r].Length);
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
