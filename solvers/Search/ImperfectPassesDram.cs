namespace Optimizer.Solvers;

/// <summary>
/// The passes DRAM's iterations force (docs/mapspace.md, "Passes over DRAM's iterations"): the argument of
/// <see cref="Passes"/> with DRAM's iterations in place of the tiles of B's innermost keeper. DRAM is the outermost level:
/// its iterations are visited once each and each runs its positions of d's tiles together, like a keeper's tiles; its loops
/// cut each rank of X into D_r chunks, so (X split by no fanout above d, each instance holding positions of X in every chunk)
/// every position of D lies in exactly S = prod over X of D_r iterations (<see cref="ImperfectDramSweeps.Sweeps"/>: the
/// product over the ranks that do not index A; a rank not moving at d has one chunk). A step from one iteration to the next
/// that keeps A's tile changes X only (s of them): it brings B's keeper a tile disjoint from the one before, and its tile
/// there is fixed by the first position of X of the new chunk and the position of Z (at most <c>S n_Z</c> first entries).
/// So A's whole-tile steps are at least <c>S P_D - 1 - s</c> and B's words at least its used words plus
/// <c>(s - S n_Z) w</c>, as with a keeper's tiles (<see cref="Ranges"/>, the same formula with S boxes). In a case of DRAM's
/// sweeps each point carries the least S over the grids it stands for, so the pair is weighed there with that many boxes
/// when it is more than the keeper's own (both hold: the larger). A point's S is at most its grid's, so the share must not
/// fall as S grows: in entries E of D's positions (at least <c>S P_D - s</c>) A's share is its E - 1 smallest tiles (no
/// <see cref="PassWords"/>, which at a given E falls as S grows) and B's extra words <c>max(0, S (P_D - n_Z) - E) w</c> only
/// grow with S, so the least over E at a smaller S is at most the grid's.
/// </summary>
internal sealed partial class ImperfectBound
{
    /// <summary>The case being bounded (<see cref="Passes"/> sets it): its state, d, tiles and the innermost loop above d.</summary>
    private State _passState = null!;
    private int _passD, _passInnermost;

    /// <summary>Whether a pair of the case being bounded may take DRAM's iterations as its boxes (then each of DRAM's points is weighed with it).</summary>
    private bool _dramPairs;
    private Tiles _passTiles;

    /// <summary>Per (pair, option, S) weighed in the case being bounded: its ranges (energy, visits of A; DRAM's words for B).</summary>
    private readonly Dictionary<(int Pair, int Option, double Boxes), DramRanges> _dramRanges = new();
    private readonly List<DramRanges> _dramPool = new();
    private int _dramUsed;

    private sealed class DramRanges
    {
        public int Count;
        public readonly double[] Plain = new double[PassGrid + 1], Energy = new double[PassGrid + 1], Visits = new double[PassGrid + 1], Words = new double[PassGrid + 1];
    }

    /// <summary>Starts a case: its context kept for <see cref="DramPasses"/>, its ranges forgotten.</summary>
    private void DramPassesCase(State s, int d, Tiles tiles, int innermost)
    {
        (_passState, _passD, _passTiles, _passInnermost) = (s, d, tiles, innermost);
        _dramRanges.Clear();
        _dramUsed = 0;
    }

    /// <summary>
    /// Pair i's least share with B's innermost keeper its option o, in a case of DRAM's sweeps where A is kept by level 1
    /// (<paramref name="kept"/>) or sent <paramref name="aWords"/>, B sent at least <paramref name="bWords"/>, and every
    /// position of D lies in <paramref name="sweeps"/> of DRAM's iterations.
    /// </summary>
    private double DramPasses(int i, int o, double sweeps, bool kept, double aWords, double bWords)
    {
        var pair = _pairs[i];
        var (xa, xb) = (pair.XA, pair.XB);
        if (!_dramRanges.TryGetValue((i, o, sweeps), out var r))
        {
            if (_dramUsed == _dramPool.Count) _dramPool.Add(new DramRanges());
            r = _dramPool[_dramUsed++];
            double ea = xa.Energy, va = xa.Visits0;
            r.Count = Ranges(pair.A, xa, pair.B, xb, o, _passState, _passD, _passTiles, _passInnermost, pair.Nx, pair.Pd, pair.Nz, pair.Small, sweeps,
                r.Plain, r.Energy, r.Visits, r.Words, passWords: false);
            (xa.Energy, xa.Visits0) = (ea, va);
            _dramRanges[(i, o, sweeps)] = r;
        }
        return LeastOverRanges(xa, xb, o, r.Count, r.Energy, r.Visits, r.Words, kept, aWords, bWords);
    }
}
