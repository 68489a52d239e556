namespace Optimizer.Solvers;

/// <summary>
/// The steps two decided tensors share (<see cref="SharedSteps"/>) in each of DRAM's cases (docs/mapspace.md, "Shared steps in
/// DRAM's cases"): the inequality <c>k_A + k_B / q >= T - 1</c> holds for every completion, whatever level 1 keeps, so in a
/// case (a keep set of level 1 and a point of <see cref="ImperfectDramSweeps"/>) the pair's shares are those of the case
/// (<see cref="TensorTerms.With"/> for a tensor level 1 keeps, <see cref="TensorTerms.Without"/> with the point's words for
/// one it does not), each still only growing with its steps, taken at the same grid of A's steps as in the plain sum.
/// </summary>
internal sealed partial class ImperfectBound
{
    /// <summary>A pair <see cref="SharedSteps"/> weighed: A, B and the share q of a tile each step that brings A none brings B.</summary>
    private (SearchTensor A, SearchTensor B, double Share)[] _sharedPairs = [];
    private int _sharedCount;

    /// <summary>Whether the grids of the kept pairs are made for the case being weighed (<see cref="MakeSharedGrids"/>).</summary>
    private bool _sharedGridMade;

    /// <summary>Per kept pair: A's and B's (energy, outermost visits) at their separate shares, then per range of A's steps.</summary>
    private double[][] _sharedGrid = [];
    private int[] _sharedCuts = [];

    /// <summary>How many ranges <see cref="MakeSharedGrids"/> cuts A's steps into above its own least, each twice the one before.</summary>
    private const int PointGrid = 10;

    private void KeepSharedPair(SearchTensor a, SearchTensor b, double share)
    {
        if (_sharedPairs.Length <= _sharedCount) Array.Resize(ref _sharedPairs, _sharedCount + 4);
        _sharedPairs[_sharedCount++] = (a, b, share);
    }

    /// <summary>
    /// For each kept pair, A's and B's energy and outermost keeper's visits (<see cref="TensorTerms.Energy"/>,
    /// <see cref="TensorTerms.Visits0"/>) at their separate shares and at each range of A's steps k (A at the range's bottom,
    /// B at <c>floor(q (T - 1 - top))</c> whole-tile steps), as <see cref="PairRaise"/> weighs them, without its early stop.
    /// </summary>
    private void MakeSharedGrids(TensorTerms[] terms, State s, int d, Tiles tiles, int innermost)
    {
        _sharedGridMade = true;
        double total = tiles.Total - 1;
        if (_sharedGrid.Length < _sharedCount)
        {
            Array.Resize(ref _sharedGrid, _sharedCount);
            Array.Resize(ref _sharedCuts, _sharedCount);
        }
        for (int i = 0; i < _sharedCount; i++)
        {
            var (a, b, share) = _sharedPairs[i];
            var (xa, xb) = (terms[a.Index], terms[b.Index]);
            double ea = xa.Energy, va = xa.Visits0, eb = xb.Energy, vb = xb.Visits0;
            var g = _sharedGrid[i] ??= new double[4 * (PointGrid + 2)];
            TensorBound(xa, a, s, d, tiles, innermost);
            TensorBound(xb, b, s, d, tiles, innermost);
            (g[0], g[1], g[2], g[3]) = (xa.Energy, xa.Visits0, xb.Energy, xb.Visits0);
            double own = double.PositiveInfinity;
            for (int k = 0; k < xa.Count; k++) own = Math.Min(own, WholeTileSteps(a, s, d, xa.Keepers[k], tiles, innermost));
            own = Math.Min(own, total);
            double lo = 0;
            int n = 0;
            for (int j = 0; j <= PointGrid; j++)
            {
                // Ranges that double in width from A's own count: a tile of A can cost far more than one of B (the weights'
                // 171 words from DRAM against 12 input words), so the least lies near A's own count.
                double hi = j == 0 ? own : own + Math.Ceiling((total - own) * (Math.Pow(2, j) - 1) / (Math.Pow(2, PointGrid) - 1));
                TensorBound(xa, a, s, d, tiles, innermost, lo);
                double stepsB = share >= 1 ? total - hi : Math.Floor(share * (total - hi));
                TensorBound(xb, b, s, d, tiles, innermost, stepsB);
                int o = 4 * (n + 1);
                (g[o], g[o + 1], g[o + 2], g[o + 3]) = (xa.Energy, xa.Visits0, xb.Energy, xb.Visits0);
                n++;
                lo = hi;
                if (hi >= total) break;
            }
            _sharedCuts[i] = n;
            (xa.Energy, xa.Visits0, xb.Energy, xb.Visits0) = (ea, va, eb, vb);
        }
    }

    /// <summary>
    /// The raise of the shared steps in one of DRAM's cases: per kept pair, the least over the ranges of A's share plus B's
    /// in the case (level 1 keeps it: <see cref="TensorTerms.With"/>; else DRAM sends it at least the point's words:
    /// <see cref="TensorTerms.Without"/>), less their separate shares in the case; the most over the pairs.
    /// </summary>
    private double SharedPointRaise(TensorTerms[] terms, State s, int d, Tiles tiles, int innermost, int keep, double[] point)
    {
        if (_sharedCount == 0) return 0;
        if (!_sharedGridMade) MakeSharedGrids(terms, s, d, tiles, innermost);
        double raise = 0;
        for (int i = 0; i < _sharedCount; i++)
        {
            var (a, b, _) = _sharedPairs[i];
            var (xa, xb) = (terms[a.Index], terms[b.Index]);
            double ea = xa.Energy, va = xa.Visits0, eb = xb.Energy, vb = xb.Visits0;
            var g = _sharedGrid[i];
            double sep = InCase(xa, a, keep, point, g[0], g[1]) + InCase(xb, b, keep, point, g[2], g[3]);
            double joint = double.PositiveInfinity;
            for (int j = 1; j <= _sharedCuts[i] && joint > sep; j++)
            {
                int o = 4 * j;
                joint = Math.Min(joint, InCase(xa, a, keep, point, g[o], g[o + 1]) + InCase(xb, b, keep, point, g[o + 2], g[o + 3]));
            }
            (xa.Energy, xa.Visits0, xb.Energy, xb.Visits0) = (ea, va, eb, vb);
            if (double.IsFinite(joint)) raise = Math.Max(raise, joint - sep);
        }
        return raise;
    }

    /// <summary>One decided tensor's share in a DRAM case at the given energy and outermost visits.</summary>
    private static double InCase(TensorTerms x, SearchTensor t, int keep, double[] point, double energy, double visits)
    {
        (x.Energy, x.Visits0) = (energy, visits);
        return (keep & t.Bit) != 0 ? x.With() : x.Without(point[1 + t.Index]);
    }
}
