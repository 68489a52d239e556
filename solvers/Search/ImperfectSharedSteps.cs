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
        _sharedCount = 0;
        _sharedGridMade = false;
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
                if (b.Index <= a.Index || xb.Count == 0) continue;
                if (Covers(a, b) || Covers(b, a))
                {
                    raise = Math.Max(raise, PairRaise(xa, a, xb, b, s, d, tiles, innermost, total, 1));
                    KeepSharedPair(a, b, 1);
                }
                else
                {
                    // Neither moves clear: a step that changes none of A's plain ranks may still bring each keeper of B a share of a tile.
                    double ab = CoveredShare(a, b, xb, s), ba = CoveredShare(b, a, xa, s);
                    if (ab > 0) { raise = Math.Max(raise, PairRaise(xa, a, xb, b, s, d, tiles, innermost, total, ab)); KeepSharedPair(a, b, ab); }
                    if (ba > 0) { raise = Math.Max(raise, PairRaise(xb, b, xa, a, s, d, tiles, innermost, total, ba)); KeepSharedPair(b, a, ba); }
                }
            }
        }
        return raise;
    }

    /// <summary>
    /// The raise of one pair: the least over A's whole-tile steps k of A's share at k and B's at <c>floor(q x (T - 1 - k))</c>
    /// whole-tile steps (q, <paramref name="share"/>: what part of a tile each step that brings A none brings every keeper of
    /// B at least; 1 when it moves clear), less their separate shares. Each share only grows with its steps, so over a range
    /// of k A's share at its bottom and B's at its top bound it. B's steps each enter a tile of d not entered before and bring
    /// at least q of the first tile there, so n of them bring at least q times the n smallest first tiles, which is at least
    /// the <c>floor(q n)</c> smallest whole (the mean of the fewer smallest is no larger).
    /// </summary>
    private double PairRaise(TensorTerms xa, SearchTensor a, TensorTerms xb, SearchTensor b, State s, int d, Tiles tiles, int innermost, double total, double share)
    {
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
            double stepsB = share >= 1 ? total - hi : Math.Floor(share * (total - hi));
            least = Math.Min(least, shareA + TensorBound(xb, b, s, d, tiles, innermost, stepsB));
            lo = hi;
            if (hi >= total) break;
        }
        (xa.Energy, xa.Visits0, xb.Energy, xb.Visits0) = (ea, va, eb, vb);
        return double.IsFinite(least) ? least - sepA - sepB : 0;
    }

    /// <summary>
    /// What share of a tile, at least, every step above d that brings A's keepers no new tile brings each keeper of B (0: none
    /// known; docs/mapspace.md, "A share of a tile"): such a step changes only moving ranks that are not plain in A (A's plain
    /// ranks stay), and each of them that is not alone in a dimension of B moves B's tile of d along a dimension whose other
    /// ranks stay (<see cref="Optimizer.Formulation.TensorIndex.MovedShare"/>); every decided loop rewinds, so B's keeper c
    /// then holds its first box in the new tile of d. The least over those ranks and B's keepers.
    /// </summary>
    private double CoveredShare(SearchTensor a, SearchTensor b, TensorTerms xb, State s)
    {
        if (_sharedOthers.Length != Ranks) _sharedOthers = new bool[Ranks];
        for (int r = 0; r < Ranks; r++) _sharedOthers[r] = _passMoving[r] && !a.PlainDimRank[r];
        double share = 1;
        for (int r = 0; r < Ranks; r++)
        {
            if (!_sharedOthers[r] || b.PlainDimRank[r]) continue;
            if (!b.IndexedBy[r]) return 0;
            for (int i = 0; i < xb.Count; i++)
            {
                share = Math.Min(share, b.Dims.MovedShare(r, _passExtent, _passSmall, s.Rem[xb.Keepers[i]], _sharedOthers));
                if (share <= 0) return 0;
            }
        }
        return share;
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
