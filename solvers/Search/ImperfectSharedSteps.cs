namespace Optimizer.Solvers;

/// <summary>
/// The steps two decided tensors share (docs/mapspace.md, "Steps two decided tensors share"): the steps above d number the
/// tiles of d less one (each step enters a tile of d not entered before), and when every step brings a whole new tile to
/// the keepers of A or to those of B, their whole-tile steps together are at least that many, whatever each one's own count.
/// </summary>
internal sealed partial class ImperfectBound
{
    /// <summary>How many ranges <see cref="SharedSteps"/> cuts A's steps into above A's own least (A's share at a range's bottom, B's at the rest of its top).</summary>
    private const int SharedGrid = 8;

    /// <summary>The moving ranks' mask (<see cref="Covers"/>) and A's plain ranks removed from it.</summary>
    private bool[] _sharedOthers = [];

    /// <summary>
    /// The raise of a case (the innermost loop above d over <paramref name="innermost"/>): the most over pairs (A, B) of decided
    /// tensors that every step clears (<see cref="Covers"/>) of the least over A's steps k of A's share at k whole-tile steps
    /// and B's at <c>T - 1 - k</c> (T the tiles of d), less their separate shares. Each share only grows with its steps, so
    /// over a range of k A's share at its bottom and B's at T - 1 less its top bound it. The buffers of
    /// <see cref="PassesApply"/> are filled (the passes are weighed in the same cases: <see cref="Case"/> adds the more of the two).
    /// </summary>
    private double SharedSteps(TensorTerms[] terms, State s, int d, Tiles tiles, int innermost)
    {
        double total = tiles.Total - 1;
        if (total <= 0) return 0;
        double raise = 0;
        var tensors = _m.Tensors;
        foreach (var a in tensors)
        {
            var xa = terms[a.Index];
            if (xa.Count == 0) continue;
            foreach (var b in tensors)
            {
                var xb = terms[b.Index];
                if (b.Index <= a.Index || xb.Count == 0 || !(Covers(a, b) || Covers(b, a))) continue;
                double ea = xa.Energy, va = xa.Visits0, eb = xb.Energy, vb = xb.Visits0;
                double sepA = TensorBound(xa, a, s, d, tiles, innermost), sepB = TensorBound(xb, b, s, d, tiles, innermost);
                double least = double.PositiveInfinity;
                double lo = 0;
                // Below A's least own count, A's share is its separate one: the first range ends there.
                double own = double.PositiveInfinity;
                for (int i = 0; i < xa.Count; i++) own = Math.Min(own, WholeTileSteps(a, s, d, xa.Keepers[i], tiles, innermost));
                own = Math.Min(own, total);
                for (int j = 0; j <= SharedGrid && least > sepA + sepB; j++)
                {
                    double hi = j == 0 ? own : own + Math.Ceiling((total - own) * j / SharedGrid);
                    double shareA = j == 0 ? sepA : TensorBound(xa, a, s, d, tiles, innermost, lo);
                    least = Math.Min(least, shareA + TensorBound(xb, b, s, d, tiles, innermost, total - hi));
                    lo = hi;
                    if (hi >= total) break;
                }
                (xa.Energy, xa.Visits0, xb.Energy, xb.Visits0) = (ea, va, eb, vb);
                if (double.IsFinite(least)) raise = Math.Max(raise, least - sepA - sepB);
            }
        }
        return raise;
    }

    /// <summary>
    /// Whether every step above d brings the keepers of A or those of B a whole new tile: a step that changes a moving rank
    /// alone in a dimension of A moves A's tile of d to a disjoint range; one that changes none of those changes only other
    /// moving ranks, and each of them must then be alone in a dimension of B or clear B
    /// (<see cref="Optimizer.Formulation.TensorIndex.MovesClear"/>) while A's plain ranks stay.
    /// </summary>
    private bool Covers(SearchTensor a, SearchTensor b)
    {
        if (_sharedOthers.Length != Ranks) _sharedOthers = new bool[Ranks];
        for (int r = 0; r < Ranks; r++) _sharedOthers[r] = _passMoving[r] && !a.PlainDimRank[r];
        for (int r = 0; r < Ranks; r++)
        {
            if (!_sharedOthers[r] || b.PlainDimRank[r]) continue;
            if (!b.IndexedBy[r] || !b.Dims.MovesClear(r, _passExtent, _sharedOthers)) return false;
        }
        return true;
    }
}
