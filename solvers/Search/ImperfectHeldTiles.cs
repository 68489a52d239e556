namespace Optimizer.Solvers;

/// <summary>
/// DRAM's sweeps over the decided tiles (docs/mapspace.md, "DRAM's sweeps over the decided tiles"): a tensor level 1 does
/// not keep carries words from one of DRAM's iterations to the next at the same position only when the position's words
/// lie in one tile per instance of its outermost keeper below level 1 (<see cref="ImperfectDramSweeps.BypassWords"/>), so
/// what the levels below 1 can hold of it (H) is at most that keeper's tile (decided) or capacity (undecided) over the
/// instances that hold distinct words (fixed by the plan), not the capacities over all instances. At nodes with levels d
/// and below decided (d at least 2, the root included) that the capacities' sweeps do not prune, the sweeps' cases are
/// weighed again with those H, each rounded up to a step of 2^(1/4) (a larger H only lowers the words DRAM must send),
/// once per distinct set of rounded H per search (at most <see cref="MaxHeldSweeps"/>, made only where
/// <see cref="MakesPlanSweeps"/> allows: not while the search lists its roots, nor in its dives), every order of DRAM's
/// loops weighed as for the capacities' sweeps.
/// </summary>
internal sealed partial class ImperfectBound
{
    /// <summary>The sweeps weighed per rounded H (key: per tensor 4 log2(H) + 1, 0 for H = 0, 255 for the capacities' H; 8 bits each), with those H.</summary>
    private readonly Dictionary<long, (double[] Held, ImperfectDramSweeps? Sweeps)> _sweepsHeld = new();
    private double[] _heldCap = [];
    private readonly double[] _heldNode = new double[problem.TensorCount];

    /// <summary>
    /// At most this many sets of H are weighed per search (each costs a pass over DRAM's cases, as the first); past it a
    /// node takes the weighed set whose H are all at least its own with the least sum of their logarithms (a larger H only
    /// lowers what the sweeps claim), or the capacities'.
    /// </summary>
    private const int MaxHeldSweeps = 8;

    /// <summary><see cref="Sweeps"/> at a node with levels d (at least 2) and below decided, with each tensor's H from <see cref="DecidedHeld"/>; null when no H is below the capacities'.</summary>
    private ImperfectDramSweeps? SweepsHeld(State s, int d)
    {
        var plain = Sweeps(s);
        if (plain is null) return null;
        if (_heldCap.Length != _m.TensorCount) _heldCap = _m.Tensors.Select(t => ImperfectDramSweeps.Held(_m, t)).ToArray();
        long key = 0;
        bool lower = false;
        foreach (var t in _m.Tensors)
        {
            // The step 2^(1/4): e = 4 log2(H) + 1, at least H; 0 for H = 0; 255 for the capacities'. A window tensor's claim
            // (its iterations' words less H each) reads the same H: DRAM's count is its outermost keeper's fills.
            double cap = _heldCap[t.Index], h = DecidedHeld(t, s, d);
            int e = 255;
            if (h <= 0) e = 0;
            else if (h < cap)
            {
                int k = Math.Max(0, (int)Math.Ceiling(4 * Math.Log2(h)) - 1);
                while (Math.Pow(2, k / 4.0) < h) k++;
                if (k < 250 && Math.Pow(2, k / 4.0) < cap) e = k + 1;
            }
            _heldNode[t.Index] = e == 255 ? cap : e == 0 ? 0 : Math.Pow(2, (e - 1) / 4.0);
            lower |= e != 255;
            key = key << 8 | (long)e;
        }
        _heldKey = lower ? key : null;
        if (!lower) return null;
        if (_sweepsHeld.TryGetValue(key, out var known)) return known.Sweeps;
        if (_sweepsHeld.Count < MaxHeldSweeps && MakesPlanSweeps)
        {
            var held = (double[])_heldNode.Clone();
            var made = ImperfectDramSweeps.Create(_m, _cost, _levels!, s, held, resends: WeighsResends, stop: Stop);
            if (made is null && StopAnswered) return null;
            _sweepsHeld[key] = (held, made);
            return made;
        }
        // Past the budget: the tightest weighed set that every H of the node's is at most.
        ImperfectDramSweeps? best = null;
        double least = double.PositiveInfinity;
        foreach (var (held, sweeps) in _sweepsHeld.Values)
        {
            double sum = 0;
            bool covers = true;
            for (int i = 0; i < held.Length && covers; i++)
            {
                covers = held[i] >= _heldNode[i];
                sum += Math.Log2(1 + held[i]);
            }
            if (covers && sum < least) (least, best) = (sum, sweeps);
        }
        return best;
    }

    /// <summary>The rounded H of the node <see cref="SweepsHeld"/> last weighed (its key; null when none was below the capacities').</summary>
    private long? _heldKey;

    /// <summary>The sweeps per rounded H and span vector of level 1's tile (<see cref="SweepsHeldPlanned"/>).</summary>
    private readonly Dictionary<(long Held, string Spans), ImperfectDramSweeps?> _sweepsHeldPlanned = new();

    /// <summary>At most this many pairs of a set of H and a span vector are weighed per search (apart from <see cref="MaxHeldSweeps"/>).</summary>
    private const int MaxHeldPlannedSweeps = 8;

    /// <summary>
    /// DRAM's sweeps over the node's rounded H (those <see cref="SweepsHeld"/> just weighed) with level 1's tile at least the
    /// spans the node's plan fixes (<see cref="ImperfectDramSweeps.LevelOneLeast"/>, as <see cref="PlanSweeps"/>): the held
    /// sets alone are made without the spans (shared by every plan), so their cases include grids the plan cannot run (a
    /// rank split at DRAM below what the plan spreads over level 1's fanout). Both restrictions hold of every completion of
    /// the node, so the cases weighed with both are a subset of each's (docs/mapspace.md, "DRAM's sweeps over the decided
    /// tiles"). Made once per pair, at most <see cref="MaxHeldPlannedSweeps"/> per search, only where <see cref="MakesPlanSweeps"/>
    /// allows, under the search's clock (<see cref="Stop"/>); null when there is none (the held sets alone stand).
    /// </summary>
    private ImperfectDramSweeps? SweepsHeldPlanned(State s)
    {
        if (_heldKey is not { } held || !UsesPlanSweeps) return null;
        if (_levels is null || s.Plan is null || !ReferenceEquals(_sweepsPlan, s.Plan)) _sweepsPlanKey = PlanSweepsKey(s);
        if (_sweepsPlanKey is not { } spans) return null;
        if (_sweepsHeldPlanned.TryGetValue((held, spans.Key), out var made)) return made;
        if (!MakesPlanSweeps || _sweepsHeldPlanned.Count >= MaxHeldPlannedSweeps) return null;
        made = ImperfectDramSweeps.Create(_m, _cost, _levels!, s, (double[])_heldNode.Clone(), least: spans.Least, resends: WeighsResends, stop: Stop);
        if (made is null && StopAnswered) return null;
        _sweepsHeldPlanned[(held, spans.Key)] = made;
        return made;
    }

    /// <summary>
    /// What the levels below 1 hold of t at most when they are decided: its outermost keeper's tile times the instances with
    /// distinct words (the product of the spatial factors above it over the ranks that index t: an instance's tile depends
    /// on its place in those ranks only); 0 when none keeps it.
    /// </summary>
    internal static double DecidedHeld(SearchProblem m, SearchTensor t, long[] extent, Func<int, int, long> spatial, int outermost)
        => outermost < 0 ? 0 : t.Tile(extent) * Groups(m, t, spatial, outermost);

    /// <summary>
    /// What the levels below 1 can hold of t at a node with levels d and below decided (d at least 2), over the instances
    /// with distinct words (<see cref="Groups"/>, fixed by the plan): the most over the levels that may be its outermost
    /// keeper below 1 of what one holds, an undecided one (from 2 to d - 1) its capacity, the outermost decided keeper its
    /// tile; 0 when none may keep it.
    /// </summary>
    private double DecidedHeld(SearchTensor t, State s, int d)
    {
        double held = 0;
        for (int c = 2; c < d; c++)
            if (_m.MayKeep(t, c))
                held = Math.Max(held, _m.Storage[c].Capacity is { } cap ? cap * Groups(_m, t, s.Spatial, c) : double.PositiveInfinity);
        int k = d;
        while (k < Levels && (s.Keep[k] & t.Bit) == 0) k++;
        return k < Levels ? Math.Max(held, DecidedHeld(_m, t, s.Rem[k], s.Spatial, k)) : held;
    }

    /// <summary>The instances of level c with distinct words of t: the product of the spatial factors above c over the ranks that index t.</summary>
    private static double Groups(SearchProblem m, SearchTensor t, Func<int, int, long> spatial, int c)
    {
        double groups = 1;
        for (int l = 0; l < c; l++)
            for (int r = 0; r < m.Ranks; r++)
                if (t.IndexedBy[r]) groups *= spatial(l, r);
        return groups;
    }
}
