namespace Optimizer.Workloads;

/// <summary>One rank of an Einsum with its bound: the loop <c>for r in 0..Bound-1</c>.</summary>
public sealed record Rank
{
    /// <summary>The rank's name.</summary>
    public RankId Id { get; }
    /// <summary>The number of values the rank takes; at least 1.</summary>
    public int Bound { get; }

    /// <summary>Creates a rank with a bound of at least 1.</summary>
    public Rank(RankId id, int bound)
    {
        Id = id;
        Bound = (int)Check.AtLeast(bound, 1, nameof(bound), $"The bound of rank {id}");
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Id}={Bound}";
}

/// <summary>One term <c>coefficient * rank</c> of an affine index expression.</summary>
public readonly record struct AffineTerm(RankId Rank, int Coefficient);

/// <summary>An affine index expression such as <c>p*2 + r</c>: the index of one tensor dimension.</summary>
public sealed class AffineExpr
{
    /// <summary>The terms, each a rank times a non-zero coefficient; no rank twice.</summary>
    public IReadOnlyList<AffineTerm> Terms { get; }

    /// <summary>Creates an expression; coefficients must be non-zero and ranks distinct.</summary>
    public AffineExpr(IEnumerable<AffineTerm> terms)
    {
        var list = terms.ToList();
        if (list.Count == 0) throw new ArgumentException("An index expression needs at least one rank.", nameof(terms));
        foreach (var t in list)
            if (t.Coefficient == 0) throw new ArgumentException($"The coefficient of rank {t.Rank} must not be 0.", nameof(terms));
        var dup = list.GroupBy(t => t.Rank).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"Rank {dup.Key} appears twice in one index expression.", nameof(terms));
        Terms = list;
    }

    /// <summary>The plain index <c>rank</c>.</summary>
    public static AffineExpr Of(RankId rank) => new([new AffineTerm(rank, 1)]);

    /// <summary>The sliding-window index <c>outer*stride + inner*dilation</c>.</summary>
    public static AffineExpr Window(RankId outer, int stride, RankId inner, int dilation)
        => new([new AffineTerm(outer, stride), new AffineTerm(inner, dilation)]);

    /// <summary>The coefficient of the rank in this expression, 0 when it does not appear.</summary>
    public int CoefficientOf(RankId rank)
    {
        foreach (var t in Terms) if (t.Rank == rank) return t.Coefficient;
        return 0;
    }

    /// <inheritdoc/>
    public override string ToString()
        => string.Join(" + ", Terms.Select(t => t.Coefficient == 1 ? t.Rank.Name : $"{t.Rank.Name}*{t.Coefficient}"));
}

/// <summary>One tensor of an Einsum: its name, its role and the affine index of each of its dimensions.</summary>
public sealed class TensorSpec
{
    /// <summary>The tensor's name (unique within a workload graph when it joins two Einsums).</summary>
    public TensorId Id { get; }
    /// <summary>Whether the tensor is the first operand, the second operand or the result.</summary>
    public TensorRole Role { get; }
    /// <summary>The index expression of each dimension, outermost first.</summary>
    public IReadOnlyList<AffineExpr> Dims { get; }

    /// <summary>Creates a tensor.</summary>
    public TensorSpec(TensorId id, TensorRole role, IEnumerable<AffineExpr> dims)
    {
        Id = id;
        Role = role;
        Dims = dims.ToList();
        if (Dims.Count == 0) throw new ArgumentException($"Tensor {id} needs at least one dimension.", nameof(dims));
    }

    /// <summary>True for the result tensor.</summary>
    public bool IsOutput => Role == TensorRole.Outputs;

    /// <summary>True when the rank appears in some index of this tensor (so moving along it changes the tile).</summary>
    public bool IsIndexedBy(RankId rank) => Dims.Any(d => d.CoefficientOf(rank) != 0);

    /// <inheritdoc/>
    public override string ToString() => $"{Id}[{string.Join(", ", Dims)}]";
}

/// <summary>
/// An Einsum: ranks with bounds, operand tensors and one output; one multiply-accumulate per point of
/// the iteration space.
/// </summary>
public sealed class Einsum
{
    private readonly Dictionary<RankId, Rank> _ranks;

    /// <summary>The Einsum's name (a layer name).</summary>
    public string Name { get; }
    /// <summary>What built it (conv2d, gemm, elementwise, ...); informational.</summary>
    public string Kind { get; }
    /// <summary>The ranks in declaration order.</summary>
    public IReadOnlyList<Rank> Ranks { get; }
    /// <summary>The tensors: operands first, the output last.</summary>
    public IReadOnlyList<TensorSpec> Tensors { get; }
    /// <summary>
    /// Where the layer came from in a model file (such as <c>onnx node /layer1/Conv (Conv)</c> or
    /// <c>net.mlir:12:5 linalg.matmul</c>); empty for layers built in code or read from a spec. Informational:
    /// it takes no part in the shape or the cost.
    /// </summary>
    public string Source { get; init; } = "";

    /// <summary>Creates an Einsum, checking that every index names a declared rank, that there is exactly one output and that tensor names are distinct.</summary>
    public Einsum(string name, string kind, IEnumerable<Rank> ranks, IEnumerable<TensorSpec> tensors)
    {
        Name = Check.Identifier(name, nameof(name), "layer");
        Kind = kind;
        Ranks = ranks.ToList();
        if (Ranks.Count == 0) throw new ArgumentException($"Einsum {name} needs at least one rank.", nameof(ranks));
        _ranks = new Dictionary<RankId, Rank>();
        foreach (var r in Ranks)
            if (!_ranks.TryAdd(r.Id, r)) throw new ArgumentException($"Einsum {name} declares rank {r.Id} twice.", nameof(ranks));
        var list = tensors.ToList();
        var outputs = list.Count(t => t.IsOutput);
        if (outputs != 1) throw new ArgumentException($"Einsum {name} must have exactly one output tensor, but has {outputs}.", nameof(tensors));
        if (list.Count < 2) throw new ArgumentException($"Einsum {name} needs at least one operand besides its output.", nameof(tensors));
        var dupT = list.GroupBy(t => t.Id).FirstOrDefault(g => g.Count() > 1);
        if (dupT is not null) throw new ArgumentException($"Einsum {name} declares tensor {dupT.Key} twice.", nameof(tensors));
        foreach (var t in list)
            foreach (var d in t.Dims)
                foreach (var term in d.Terms)
                    if (!_ranks.ContainsKey(term.Rank))
                        throw new ArgumentException($"Tensor {t.Id} of Einsum {name} is indexed by rank {term.Rank}, which the Einsum does not declare.", nameof(tensors));
        foreach (var d in list.Single(t => t.IsOutput).Dims)
            if (d.Terms.Count != 1 || d.Terms[0].Coefficient != 1)
                throw new ArgumentException($"Einsum {name}: each index of the output tensor must be a single rank with coefficient 1, but one is '{d}'.", nameof(tensors));
        // Operands first, output last, so that every listing reads the same way.
        Tensors = list.Where(t => !t.IsOutput).Concat(list.Where(t => t.IsOutput)).ToList();
    }

    /// <summary>The output tensor.</summary>
    public TensorSpec Output => Tensors[^1];

    /// <summary>The same Einsum with another name, kind and source.</summary>
    public Einsum With(string name, string kind, string source) => new(name, kind, Ranks, Tensors) { Source = source };

    /// <summary>The bound of a rank.</summary>
    public int Bound(RankId rank) => _ranks.TryGetValue(rank, out var r) ? r.Bound
        : throw new ArgumentException($"Einsum {Name} has no rank {rank}.", nameof(rank));

    /// <summary>True when the Einsum declares the rank.</summary>
    public bool HasRank(RankId rank) => _ranks.ContainsKey(rank);

    /// <summary>The tensor with this name, or null.</summary>
    public TensorSpec? FindTensor(TensorId id) => Tensors.FirstOrDefault(t => t.Id == id);

    /// <summary>The number of multiply-accumulates: the volume of the iteration space.</summary>
    public long Macs
    {
        get
        {
            try { return Ranks.Aggregate(1L, (acc, r) => checked(acc * r.Bound)); }
            catch (OverflowException)
            {
                throw new OverflowException($"Layer {Name}: its MAC count ({string.Join(" x ", Ranks.Select(r => $"{r.Id}={r.Bound}"))}) exceeds the 64-bit range; use smaller bounds.");
            }
        }
    }


    /// <inheritdoc/>
    public override string ToString()
        => $"{Output} += {string.Join(" * ", Tensors.Where(t => !t.IsOutput))}  ({string.Join(", ", Ranks)})";
}
