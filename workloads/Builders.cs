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
        => Conv(name, n, c, k, [p, q], [r, s], [stride, stride], [dilation, dilation], groups, inputs, weights, outputs);

    /// <summary>The output rank names of a convolution with 1, 2 or 3 spatial dimensions.</summary>
    internal static readonly string[][] ConvOutputRanks = [["P"], ["P", "Q"], ["O", "P", "Q"]];
    /// <summary>The kernel rank names, in the same order.</summary>
    internal static readonly string[][] ConvKernelRanks = [["R"], ["R", "S"], ["T", "R", "S"]];

    /// <summary>
    /// A convolution over 1, 2 or 3 spatial dimensions with a stride and dilation per dimension:
    /// <c>O[n,g,k,out...] += I[n,g,c,out*stride + kernel*dilation...] * W[g,k,c,kernel...]</c>. Ranks G (when
    /// groups > 1) N K C, the outputs (P; P Q; O P Q) and the kernel (R; R S; T R S); <paramref name="c"/> and
    /// <paramref name="k"/> are channels per group. Kind conv1d/conv2d/conv3d, or depthwise when c = k = 1 and groups > 1.
    /// </summary>
    public static Einsum Conv(string name, int n, int c, int k, IReadOnlyList<int> outputs, IReadOnlyList<int> kernel,
        IReadOnlyList<int> strides, IReadOnlyList<int> dilations, int groups = 1,
        string inputs = "Inputs", string weights = "Weights", string outputsTensor = "Outputs")
    {
        int dims = outputs.Count;
        if (dims is < 1 or > 3 || kernel.Count != dims || strides.Count != dims || dilations.Count != dims)
            throw new ArgumentException($"Convolution {name}: 1 to 3 spatial dimensions, with one kernel size, stride and dilation each.", nameof(outputs));
        foreach (var st in strides) Check.AtLeast(st, 1, nameof(strides), "The stride");
        foreach (var d in dilations) Check.AtLeast(d, 1, nameof(dilations), "The dilation");
        Check.AtLeast(groups, 1, nameof(groups), "The number of groups");
        var outRanks = ConvOutputRanks[dims - 1];
        var kernelRanks = ConvKernelRanks[dims - 1];
        var ranks = new List<Rank>();
        if (groups > 1) ranks.Add(new Rank(R("G"), groups));
        ranks.AddRange([new Rank(R("N"), n), new Rank(R("K"), k), new Rank(R("C"), c)]);
        for (int i = 0; i < dims; i++) ranks.Add(new Rank(R(outRanks[i]), outputs[i]));
        for (int i = 0; i < dims; i++) ranks.Add(new Rank(R(kernelRanks[i]), kernel[i]));
        var g = groups > 1 ? new[] { I("G") } : [];
        var windows = Enumerable.Range(0, dims).Select(i => AffineExpr.Window(R(outRanks[i]), strides[i], R(kernelRanks[i]), dilations[i]));
        var kind = groups > 1 && c == 1 && k == 1 ? "depthwise" : $"conv{dims}d";
        return new Einsum(name, kind, ranks,
        [
            T(weights, TensorRole.Weights, [.. g, I("K"), I("C"), .. kernelRanks.Select(I)]),
            T(inputs, TensorRole.Inputs, [I("N"), .. g, I("C"), .. windows]),
            T(outputsTensor, TensorRole.Outputs, [I("N"), .. g, I("K"), .. outRanks.Select(I)]),
        ]);
    }

    /// <summary>
    /// An Einsum over plain indices, written like <c>mk,kn-&gt;mn</c>: one rank per distinct index (its name
    /// the index upper-cased, or <paramref name="rankNames"/>' entry), output ranks first and then the others
    /// in order of first appearance; each operand has the role <paramref name="roles"/> gives (the first
    /// inputs, the second weights by default). <paramref name="bounds"/> gives each index's bound.
    /// </summary>
    public static Einsum Indexed(string name, string kind, IReadOnlyList<IReadOnlyList<string>> operandIndices, IReadOnlyList<string> outputIndices,
        IReadOnlyDictionary<string, int> bounds, IReadOnlyList<string> operandNames, string outputName, IReadOnlyList<TensorRole>? roles = null)
    {
        var order = outputIndices.Concat(operandIndices.SelectMany(x => x)).Distinct().ToList();
        roles ??= [.. operandNames.Select((_, i) => i == 0 ? TensorRole.Inputs : TensorRole.Weights)];
        return new Einsum(name, kind, order.Select(i => new Rank(R(i), bounds[i])),
        [
            .. operandIndices.Select((ix, t) => T(operandNames[t], roles[t], [.. ix.Select(I)])),
            T(outputName, TensorRole.Outputs, [.. outputIndices.Select(I)]),
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
