namespace Optimizer.Solvers;

/// <summary>
/// Level 1's factors of the imperfect mapspace on energy (docs/mapspace.md, "Level 1's factors through DRAM's counts").
/// Inside level 1's loop over a rank r lie n blocks of r (the tiles of what is inside the loop, all whole but the last);
/// DRAM's loop over r (no fanout above level 1: one temporal loop) takes <c>D = ceil(n / f)</c> iterations, and the tiles
/// below level 1 are those n blocks whatever f is: level 1 only groups them, D groups, all of f blocks but the last
/// (<c>n - (D - 1) f</c>). When r indexes every tensor only alone in a dimension (K, C, N of a convolution; not P or R of
/// a window), a step that changes r's block brings a tile disjoint in that dimension from the one before, and one that
/// does not reads r's block only through its extent. Then, as long as every group of r has more than one block (so
/// level 1's loop steps, and its rewinds change r, in every group; f = 1 and a last group of one block are classes of
/// their own), the steps of each kind and the blocks they enter are the same whatever f: the loops inside level 1's
/// enter every block once per outer iteration, level 1's own steps the blocks that start no group, the loops between
/// DRAM's and level 1's the blocks that start one (all whole), so every count is the same; only level 1's tile (its
/// capacity) grows with f. The least f of a class is therefore valid whenever another is, at the same energy
/// (<c>ImperfectLevelOneTests</c>: equal on random mappings, and the window ranks excluded because they differ).
/// The search takes the same classes at levels 2 and inward for ranks no level above splits spatially, the levels above
/// grouping that level's tiles as DRAM groups level 1's (docs/mapspace.md, "An inner level's factors per count of its tiles";
/// <c>ImperfectInnerClassTests</c>).
/// </summary>
internal static class ImperfectLevelOne
{
    /// <summary>
    /// Whether level 1's factor f of rank r, with n blocks inside it, is searched: always for a rank that indexes some
    /// tensor through a window (or with another rank in one dimension), else only when it is its class's
    /// <see cref="LeastFactor"/>.
    /// </summary>
    public static bool Stands(SearchProblem m, int r, long n, long f) => Representative(m, r, n, f) == f;

    /// <summary>The factor of level 1 that stands for f (rank r, n blocks inside the loop): f for a rank not <see cref="Alone"/>, else its class's <see cref="LeastFactor"/>.</summary>
    public static long Representative(SearchProblem m, int r, long n, long f) => Alone(m, r) ? LeastFactor(n, f) : f;

    /// <summary>Rank r indexes every tensor it indexes only in dimensions it indexes alone (the search's dimensions leave out ranks of bound 1: P of a 1 x 1 convolution's <c>2P + R</c> is alone).</summary>
    public static bool Alone(SearchProblem m, int r)
    {
        foreach (var t in m.Tensors)
            for (int k = 0; k < t.Dims.Dimensions; k++)
            {
                var ranks = t.Dims.RanksOf(k);
                if (ranks.Length > 1 && ranks.Contains(r)) return false;
            }
        return true;
    }

    /// <summary>
    /// The factor that stands for f: f itself when its last group is one block (D at least 2), else the least factor with
    /// DRAM's count <c>D = ceil(n / f)</c>, <c>ceil(n / D)</c>.
    /// </summary>
    public static long LeastFactor(long n, long f)
    {
        long dram = (n + f - 1) / f;
        if (dram >= 2 && n - (dram - 1) * f == 1) return f;
        return (n + dram - 1) / dram;
    }
}
