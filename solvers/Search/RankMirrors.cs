using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// The rank permutations that map a layer onto itself (docs/mapspace.md, "Mirrored spatial plans"): pi sends each rank to
/// one of the same bound, and every tensor's dimensions, each an affine index with its ranks renamed by pi, are the same
/// multiset of indices as before (a square convolution's P with Q and R with S together, its strides and dilations equal).
/// Renaming the ranks of a mapping by such a pi renames the layer's own ranks and reorders each tensor's dimensions, which
/// the model counts only through products over dimensions and per-rank extents: the mirrored mapping is valid exactly when
/// the mapping is, at the same energy (<c>RankMirrorsTests</c>). So every spatial plan's mappings cost what its mirror's do.
/// </summary>
internal static class RankMirrors
{
    /// <summary>At most this many candidate permutations (products of the factorials of the groups of equal bound) are tried; past it, none is taken.</summary>
    private const long MaxCandidates = 40320;

    /// <summary>
    /// The permutations other than the identity that map <paramref name="layer"/> onto itself, as arrays over its rank
    /// positions (<c>pi[r]</c> the position rank r goes to); empty when none is or the candidates are too many to try.
    /// </summary>
    public static int[][] Of(Einsum layer)
    {
        int n = layer.Ranks.Count;
        var groups = Enumerable.Range(0, n).GroupBy(r => layer.Ranks[r].Bound).Select(g => g.ToArray()).ToArray();
        long candidates = 1;
        foreach (var g in groups)
            for (int i = 2; i <= g.Length; i++)
                if ((candidates *= i) > MaxCandidates) return [];
        var position = Enumerable.Range(0, n).ToDictionary(r => layer.Ranks[r].Id, r => r);
        var tensors = layer.Tensors.Select(t => Signature(t, position, null)).ToArray();
        var found = new List<int[]>();
        var pi = Enumerable.Range(0, n).ToArray();
        Choose(0);
        return [.. found];

        // Every permutation within the groups of equal bound, group by group.
        void Choose(int g)
        {
            if (g == groups.Length)
            {
                bool identity = true;
                for (int r = 0; r < n; r++) identity &= pi[r] == r;
                if (identity) return;
                for (int t = 0; t < tensors.Length; t++)
                    if (Signature(layer.Tensors[t], position, pi) != tensors[t]) return;
                found.Add((int[])pi.Clone());
                return;
            }
            foreach (var image in Permutations(groups[g]))
            {
                for (int i = 0; i < image.Length; i++) pi[groups[g][i]] = image[i];
                Choose(g + 1);
            }
            foreach (int r in groups[g]) pi[r] = r;
        }
    }

    /// <summary>A tensor's dimensions as a sorted multiset of indices, each a sorted list of (rank position, coefficient), its ranks renamed by <paramref name="pi"/> (null: as they are).</summary>
    private static string Signature(TensorSpec t, Dictionary<RankId, int> position, int[]? pi)
        => string.Join(" | ", t.Dims
            .Select(d => string.Join(" ", d.Terms.Select(x => (Rank: pi is null ? position[x.Rank] : pi[position[x.Rank]], x.Coefficient))
                .OrderBy(x => x.Rank).Select(x => $"{x.Rank}*{x.Coefficient}")))
            .OrderBy(s => s, StringComparer.Ordinal));

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1) { yield return (int[])items.Clone(); yield break; }
        for (int i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, j) => j != i).ToArray();
            foreach (var tail in Permutations(rest)) yield return [items[i], .. tail];
        }
    }

    /// <summary>The plan with each rank's spatial factors moved to its image under <paramref name="pi"/> (the same axes and levels).</summary>
    public static SpatialPlan Apply(int[] pi, SpatialPlan plan)
    {
        int[][] Move(int[][] f) => f.Select(level =>
        {
            var moved = new int[level.Length];
            for (int r = 0; r < level.Length; r++) moved[pi[r]] = level[r];
            return moved;
        }).ToArray();
        return new SpatialPlan(Move(plan.X), Move(plan.Y));
    }

    /// <summary>What tells plans apart: every level's factor per rank along X and along Y.</summary>
    public static string Key(SpatialPlan plan)
        => string.Join(";", plan.X.Select(a => string.Join(",", a))) + "/" + string.Join(";", plan.Y.Select(a => string.Join(",", a)));

    /// <summary>The mapping with every loop's rank renamed by <paramref name="pi"/> (positions in <paramref name="layer"/>'s rank order); the loops keep their places, factors and axes.</summary>
    public static Mapping Apply(Einsum layer, int[] pi, Mapping m)
    {
        var ids = layer.Ranks.Select(r => r.Id).ToArray();
        var position = Enumerable.Range(0, ids.Length).ToDictionary(r => ids[r], r => r);
        RankId Image(RankId r) => ids[pi[position[r]]];
        return new Mapping(m.Levels.Select(l => new LevelMapping(
            l.Temporal.Select(x => new TemporalLoop(Image(x.Rank), x.Factor)),
            l.Spatial.Select(x => new SpatialLoop(Image(x.Rank), x.Factor, x.Axis)),
            l.Keep)));
    }
}
