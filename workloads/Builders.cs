namespace Optimizer.Workloads;

/// <summary>Builders for the common layer shapes, named the way the field names their ranks.</summary>
public static class Layers
{
    private static RankId R(string n) => new(n);
    private static TensorSpec T(string name, TensorRole role, params AffineExpr[] dims) => new(new TensorId(name), role, dims);
    private static AffineExpr I(string rank) => AffineExpr.Of(R(rank));

    /// <summary>
    /// A 2-D convolution: <c>O[n,g,k,p,q] += I[n,g,c,p*s+r*d, q*s+s'*d] * W[g,k,c,r,s']</c>. With
    /// <paramref name="groups"/> = 1 the group rank is left out; <paramref name="c"/> and
    /// <paramref name="k"/> are channels per group. Depthwise: groups = channels, c = k = 1.
    /// P and Q are output sizes. Rank names: N C K P Q R S (and G).
    /// </summary>
    public static Einsum Conv2d(string name, int n, int c, int k, int p, int q, int r, int s,
        int stride = 1, int dilation = 1, int groups = 1,
        string inputs = "Inputs", string weights = "Weights", string outputs = "Outputs")
    {
        Check.AtLeast(stride, 1, nameof(stride), "The stride");
        Check.AtLeast(dilation, 1, nameof(dilation), "The dilation");
        Check.AtLeast(groups, 1, nameof(groups), "The number of groups");
        var ranks = new List<Rank>();
        if (groups > 1) ranks.Add(new Rank(R("G"), groups));
        ranks.AddRange([new Rank(R("N"), n), new Rank(R("K"), k), new Rank(R("C"), c), new Rank(R("P"), p), new Rank(R("Q"), q), new Rank(R("R"), r), new Rank(R("S"), s)]);
        var g = groups > 1 ? new[] { I("G") } : [];
        var h = AffineExpr.Window(R("P"), stride, R("R"), dilation);
        var w = AffineExpr.Window(R("Q"), stride, R("S"), dilation);
        return new Einsum(name, groups > 1 && c == 1 && k == 1 ? "depthwise" : "conv2d", ranks,
        [
            T(weights, TensorRole.Weights, [.. g, I("K"), I("C"), I("R"), I("S")]),
            T(inputs, TensorRole.Inputs, [I("N"), .. g, I("C"), h, w]),
            T(outputs, TensorRole.Outputs, [I("N"), .. g, I("K"), I("P"), I("Q")]),
        ]);
    }

    /// <summary>A 1-D convolution <c>O[k,p] += I[c, p*stride + r] * W[k,c,r]</c> (ranks K C P R); the hand-worked cases use it.</summary>
    public static Einsum Conv1d(string name, int c, int k, int p, int r, int stride = 1,
        string inputs = "Inputs", string weights = "Weights", string outputs = "Outputs")
    {
        var ranks = new List<Rank>();
        if (k > 1) ranks.Add(new Rank(R("K"), k));
        if (c > 1) ranks.Add(new Rank(R("C"), c));
        ranks.Add(new Rank(R("P"), p));
        ranks.Add(new Rank(R("R"), r));
        AffineExpr[] Opt(int bound, string rank) => bound > 1 ? [I(rank)] : [];
        return new Einsum(name, "conv1d", ranks,
        [
            T(weights, TensorRole.Weights, [.. Opt(k, "K"), .. Opt(c, "C"), I("R")]),
            T(inputs, TensorRole.Inputs, [.. Opt(c, "C"), AffineExpr.Window(R("P"), stride, R("R"), 1)]),
            T(outputs, TensorRole.Outputs, [.. Opt(k, "K"), I("P")]),
        ]);
    }

    /// <summary>A matrix multiply <c>Z[m,n] += A[m,k] * B[k,n]</c> (ranks M N K); a fully connected layer is M = batch.</summary>
    public static Einsum Gemm(string name, int m, int n, int k, string a = "A", string b = "B", string z = "Z")
        => new(name, "gemm", [new Rank(R("M"), m), new Rank(R("N"), n), new Rank(R("K"), k)],
        [
            T(a, TensorRole.Inputs, I("M"), I("K")),
            T(b, TensorRole.Weights, I("K"), I("N")),
            T(z, TensorRole.Outputs, I("M"), I("N")),
        ]);

    /// <summary>A batched matrix multiply <c>Z[b,m,n] += A[b,m,k] * B[b,k,n]</c> (ranks B M N K).</summary>
    public static Einsum BatchedMatmul(string name, int batch, int m, int n, int k, string a = "A", string b = "B", string z = "Z")
        => new(name, "batched-matmul", [new Rank(R("B"), batch), new Rank(R("M"), m), new Rank(R("N"), n), new Rank(R("K"), k)],
        [
            T(a, TensorRole.Inputs, I("B"), I("M"), I("K")),
            T(b, TensorRole.Weights, I("B"), I("K"), I("N")),
            T(z, TensorRole.Outputs, I("B"), I("M"), I("N")),
        ]);

    /// <summary>
    /// An elementwise Einsum <c>Z[dims] = f(A[dims])</c> (one operation per element, counted as one MAC),
    /// over the given ranks; used for softmax, activations and copies.
    /// </summary>
    public static Einsum Elementwise(string name, IReadOnlyList<(string Rank, int Bound)> dims, string input, string output, string kind = "elementwise")
        => new(name, kind, dims.Select(d => new Rank(R(d.Rank), d.Bound)),
        [
            T(input, TensorRole.Inputs, dims.Select(d => I(d.Rank)).ToArray()),
            T(output, TensorRole.Outputs, dims.Select(d => I(d.Rank)).ToArray()),
        ]);

    /// <summary>
    /// One attention head group as three Einsums: <c>QK[b,h,m,p] += Q[b,h,m,e]*K[b,h,p,e]</c>, the softmax
    /// over it as an elementwise Einsum, and <c>AV[b,h,m,f] += A[b,h,m,p]*V[b,h,p,f]</c>.
    /// </summary>
    public static IReadOnlyList<Einsum> Attention(string prefix, int batch, int heads, int tokens, int headDim,
        string q = "Q", string k = "K", string v = "V", string output = "AV")
    {
        var qk = new Einsum($"{prefix}QK", "attention-qk",
            [new Rank(R("B"), batch), new Rank(R("H"), heads), new Rank(R("M"), tokens), new Rank(R("P"), tokens), new Rank(R("E"), headDim)],
            [
                T(q, TensorRole.Inputs, I("B"), I("H"), I("M"), I("E")),
                T(k, TensorRole.Weights, I("B"), I("H"), I("P"), I("E")),
                T($"{prefix}QK", TensorRole.Outputs, I("B"), I("H"), I("M"), I("P")),
            ]);
        var softmax = Elementwise($"{prefix}Softmax", [("B", batch), ("H", heads), ("M", tokens), ("P", tokens)], $"{prefix}QK", $"{prefix}A", "softmax");
        var av = new Einsum($"{prefix}AV", "attention-av",
            [new Rank(R("B"), batch), new Rank(R("H"), heads), new Rank(R("M"), tokens), new Rank(R("F"), headDim), new Rank(R("P"), tokens)],
            [
                T($"{prefix}A", TensorRole.Inputs, I("B"), I("H"), I("M"), I("P")),
                T(v, TensorRole.Weights, I("B"), I("H"), I("P"), I("F")),
                T(output, TensorRole.Outputs, I("B"), I("H"), I("M"), I("F")),
            ]);
        return [qk, softmax, av];
    }
}
