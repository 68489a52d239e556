using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The analytical cost model of DESIGN.md and docs/cost-model.md. It evaluates a mapping that the
/// validity checker accepted; it never knows which search produced it.
/// </summary>
public static class CostModel
{
    /// <summary>Evaluates a valid mapping; throws <see cref="InvalidOperationException"/> when the mapping is not valid.</summary>
    public static CostReport Evaluate(Einsum einsum, Architecture arch, Mapping mapping, Factorization factorization = Factorization.Perfect)
    {
        ValidityChecker.RequireValid(einsum, arch, mapping, "The cost model", factorization);
        return CostRange.RequireFinite(new Nest(einsum, arch, mapping).Evaluate(), einsum, arch);
    }

    /// <summary>Checks and, when valid, evaluates a mapping with one pass of the checker; false with the violations otherwise.</summary>
    public static bool TryEvaluate(Einsum einsum, Architecture arch, Mapping mapping, out CostReport? report, out IReadOnlyList<Violation> violations,
        Factorization factorization = Factorization.Perfect)
    {
        violations = ValidityChecker.Check(einsum, arch, mapping, factorization);
        report = violations.Count == 0 ? CostRange.RequireFinite(new Nest(einsum, arch, mapping).Evaluate(), einsum, arch) : null;
        return report is not null;
    }

    /// <summary>How the counts of one tensor at one level were derived, for a user to check by hand.</summary>
    public static Derivation Explain(Einsum einsum, Architecture arch, Mapping mapping, string level, TensorId tensor, Factorization factorization = Factorization.Perfect)
    {
        var violations = ValidityChecker.Check(einsum, arch, mapping, factorization);
        if (violations.Count > 0)
            throw new InvalidOperationException($"Only a valid mapping can be explained; first violation: {violations[0].Message}");
        int l = arch.IndexOf(level);
        if (l < 0) throw new ArgumentException($"Architecture {arch.Name} has no level '{level}'; its levels: {string.Join(", ", arch.Levels.Select(x => x.Name))}.", nameof(level));
        var spec = einsum.FindTensor(tensor) ?? throw new ArgumentException($"Layer {einsum.Name} has no tensor '{tensor}'; its tensors: {string.Join(", ", einsum.Tensors.Select(t => t.Id))}.", nameof(tensor));
        if (!mapping.Levels[l].Keep.Contains(tensor))
            throw new ArgumentException($"Level {level} does not keep {tensor} in this mapping (it passes through), so it has no counts to explain.", nameof(tensor));
        return new Nest(einsum, arch, mapping).Explain(l, spec);
    }
}

/// <summary>One loop above a level, seen from one tensor's tile at that level.</summary>
public sealed record DerivationStep(string Loop, int Factor, bool Relevant, long Transitions, long NewWordsPerTransition, long Words, string Why);

/// <summary>The derivation of one tensor's counts at one level.</summary>
public sealed record Derivation(
    string Level,
    TensorId Tensor,
    IReadOnlyList<(RankId Rank, long Extent)> TileExtents,
    IReadOnlyList<(string Index, long Extent)> TileDims,
    long TileWords,
    IReadOnlyList<DerivationStep> Steps,
    long Visits,
    long Partition,
    string ChildDescription,
    TensorLevelCost Counts,
    IReadOnlyList<string> Formulas);

/// <summary>A mapping's flattened loop nest with the per-level quantities the cost model needs.</summary>
internal sealed class Nest
{
    private readonly Einsum _e;
    private readonly Architecture _a;
    private readonly Mapping _m;
    private readonly List<NestLoop> _loops;
    private readonly int[] _levelStart; // index of the first loop of each level; [n] = loop count
    private readonly long[] _stride;    // per loop: product of the factors of its rank in all loops inside it
    private readonly long[] _used;      // instances used of each level; [n] = compute units used
    private readonly long _temporalProduct; // MACs per compute unit
    private readonly long[] _bound;         // per rank (the Einsum's order)
    private readonly long[][] _spatialAbove; // [level][rank]: product of the rank's spatial factors at levels above it
    private readonly bool _perfect;         // every rank's factors multiply to its bound
    private readonly int _n;
    private readonly Dictionary<RankId, int> _rankPosition;
    private readonly Dictionary<TensorId, TensorIndex> _index;

    public Nest(Einsum e, Architecture a, Mapping m)
    {
        _e = e; _a = a; _m = m;
        _n = a.Levels.Count;
        _loops = m.Nest().ToList();
        var ranks = e.Ranks.Select(r => r.Id).ToArray();
        _rankPosition = ranks.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i);
        _index = e.Tensors.ToDictionary(t => t.Id, t => new TensorIndex(t, ranks));
        _levelStart = new int[_n + 1];
        int idx = 0;
        for (int l = 0; l < _n; l++)
        {
            _levelStart[l] = idx;
            idx += m.Levels[l].Temporal.Count + m.Levels[l].Spatial.Count;
        }
        _levelStart[_n] = idx;
        _stride = new long[_loops.Count];
        var inner = e.Ranks.ToDictionary(r => r.Id, _ => 1L);
        for (int i = _loops.Count - 1; i >= 0; i--)
        {
            _stride[i] = inner[_loops[i].Rank];
            inner[_loops[i].Rank] = checked(inner[_loops[i].Rank] * _loops[i].Factor);
        }
        _used = new long[_n + 1];
        _used[0] = 1;
        for (int l = 0; l < _n; l++) _used[l + 1] = checked(_used[l] * m.Levels[l].SpatialProduct);
        _bound = e.Ranks.Select(r => (long)r.Bound).ToArray();
        _spatialAbove = new long[_n + 1][];
        _spatialAbove[0] = new long[ranks.Length];
        Array.Fill(_spatialAbove[0], 1L);
        for (int l = 0; l < _n; l++)
        {
            _spatialAbove[l + 1] = (long[])_spatialAbove[l].Clone();
            foreach (var s in m.Levels[l].Spatial) _spatialAbove[l + 1][_rankPosition[s.Rank]] = checked(_spatialAbove[l + 1][_rankPosition[s.Rank]] * s.Factor);
        }
        _perfect = ranks.Select((r, i) => _loops.Where(x => x.Rank == r).Aggregate(1L, (acc, x) => checked(acc * x.Factor)) == _bound[i]).All(x => x);
        // The MACs one compute unit does: the points of every rank it covers (with perfect factors, the product of the temporal factors).
        _temporalProduct = 1;
        for (int i = 0; i < ranks.Length; i++) _temporalProduct = checked(_temporalProduct * Counts.PerInstance(_bound[i], _spatialAbove[_n][i]));
    }

    /// <summary>Extent of a rank in the tile of level l: the product of its factors in loops at l and below (Mapping.TileExtent), at most its bound (imperfect factors may cover more).</summary>
    private long Extent(int l, RankId r) => Math.Min(_m.TileExtent(l, r), _bound[_rankPosition[r]]);

    /// <summary>The extents of every rank (in the Einsum's order) in the tile of level l.</summary>
    private long[] Extents(int l) => _e.Ranks.Select(r => Extent(l, r.Id)).ToArray();

    private TensorIndex Index(TensorSpec t) => _index[t.Id];

    private long TileWords(TensorSpec t, int l) => Index(t).Words(Extents(l));

    /// <summary>Distinct elements one instance of level l ever holds: the tile grown by every temporal loop above l.</summary>
    private long Partition(TensorSpec t, int l)
    {
        // Every point of a rank its instance covers (the bound shared by the spatial loops above l).
        var ext = new long[_bound.Length];
        for (int i = 0; i < ext.Length; i++) ext[i] = Counts.PerInstance(_bound[i], _spatialAbove[l][i]);
        return Index(t).Words(ext);
    }

    /// <summary>
    /// Words brought into one instance of level l over the run when it holds exactly the current
    /// tile (<see cref="Counts.Visits"/> over the temporal loops above l).
    /// </summary>
    private long Visits(TensorSpec t, int l, List<DerivationStep>? steps)
    {
        if (!_perfect) return ClippedVisits(t, l, steps);
        var above = new List<StepLoop>();
        var loopAt = new List<NestLoop>();
        for (int j = 0; j < _levelStart[l]; j++)
        {
            var loop = _loops[j];
            if (loop.IsSpatial || loop.Factor == 1) continue;
            above.Add(new StepLoop(_rankPosition[loop.Rank], loop.Factor, _stride[j]));
            loopAt.Add(loop);
        }
        var fresh = new long[above.Count];
        long total = Counts.Visits(Index(t), Extents(l), above.ToArray(), fresh);
        if (steps is not null)
        {
            long tile = TileWords(t, l), outer = 1;
            for (int j = 0; j < above.Count; j++)
            {
                var loop = loopAt[j];
                long transitions = Counts.Transitions(loop.Factor, outer);
                bool relevant = t.IsIndexedBy(loop.Rank);
                string why = fresh[j] == 0 ? "the tile does not change: reused"
                    : fresh[j] == tile ? "a whole new tile each time"
                    : $"the window slides: {fresh[j]} of {tile} words are new";
                steps.Add(new DerivationStep($"{_a.Levels[loop.Level].Name}: for {loop.Rank} in [0:{loop.Factor})", loop.Factor, relevant, transitions, fresh[j], checked(transitions * fresh[j]), why));
                outer = checked(outer * loop.Factor);
            }
        }
        return total;
    }

    /// <summary>Visits under imperfect factorization: <see cref="Counts.ClippedVisits"/> over every loop above l (spatial ones limit what is left of their rank).</summary>
    private long ClippedVisits(TensorSpec t, int l, List<DerivationStep>? steps)
    {
        var above = new List<ChainLoop>();
        var loopAt = new List<NestLoop>();
        for (int j = 0; j < _levelStart[l]; j++)
        {
            var loop = _loops[j];
            if (loop.Factor == 1) continue;
            above.Add(new ChainLoop(_rankPosition[loop.Rank], loop.Factor, _stride[j], loop.IsSpatial));
            loopAt.Add(loop);
        }
        var products = _e.Ranks.Select(r => _m.TileExtent(l, r.Id)).ToArray();
        var transitions = new long[above.Count];
        var words = new long[above.Count];
        long total = Counts.ClippedVisits(Index(t), products, above.ToArray(), _bound, transitions, words);
        if (steps is not null)
            for (int j = 0; j < above.Count; j++)
            {
                var loop = loopAt[j];
                if (loop.IsSpatial) continue;
                bool relevant = t.IsIndexedBy(loop.Rank);
                long per = transitions[j] == 0 ? 0 : words[j] / transitions[j];
                string why = words[j] == 0 ? "the tile does not change: reused"
                    : $"{words[j]} words over its {transitions[j]} steps in all (tiles clipped to the bounds: a step into a partial tile may bring fewer; new words/step is the mean, rounded down)";
                steps.Add(new DerivationStep($"{_a.Levels[loop.Level].Name}: for {loop.Rank} in [0:{loop.Factor})", loop.Factor, relevant, transitions[j], per, words[j], why));
            }
        return total;
    }

    /// <summary>The next level below l that keeps t, or n for the compute units.</summary>
    private int ChildKeeper(TensorSpec t, int l)
    {
        for (int c = l + 1; c < _n; c++) if (_m.Levels[c].Keep.Contains(t.Id)) return c;
        return _n;
    }

    /// <summary>Product of the spatial factors in levels [from, to) whose rank does not index t and whose fanout shares t's accesses (<see cref="Counts.Shares"/>).</summary>
    private long SharedFactor(TensorSpec t, int from, int to)
    {
        long p = 1;
        for (int m = from; m < to; m++)
        {
            if (!Counts.Shares(_a.Levels[m].Fanout, t.IsOutput)) continue;
            foreach (var s in _m.Levels[m].Spatial) if (!t.IsIndexedBy(s.Rank)) p = checked(p * s.Factor);
        }
        return p;
    }

    private sealed record LevelCounts(long Tile, long Fills, long Reads, long Updates, long Visits, long Partition, int Child, long ChildWords, long Children, long Shared);

    private LevelCounts CountsOf(TensorSpec t, int l, List<DerivationStep>? steps)
    {
        long tile = TileWords(t, l);
        long visits = l == 0 ? tile : Visits(t, l, steps);
        long partition = t.IsOutput ? Partition(t, l) : 0;
        int c = ChildKeeper(t, l);
        // What each child instance asks of this level over the run: its visits (tile changes), or one word per MAC for compute units.
        long childWords = c == _n ? _temporalProduct : Visits(t, c, null);
        long children = _used[c] / _used[l];
        long fills = Counts.Fills(t.IsOutput, l == 0, visits, partition);
        long shared = SharedFactor(t, l, c);
        long served = Counts.Served(childWords, children, shared);
        long reads = t.IsOutput ? Counts.OutputReads(served, partition) : served;
        long updates = t.IsOutput ? served : 0;
        if (fills < 0 || reads < 0)
            throw new InvalidOperationException($"Negative count for {t.Id} at {_a.Levels[l].Name}: a cost-model invariant is broken.");
        return new LevelCounts(tile, fills, reads, updates, visits, partition, c, childWords, children, shared);
    }

    public CostReport Evaluate()
    {
        var tensors = new List<TensorLevelCost>();
        var network = new List<NetworkCost>();
        var levels = new List<LevelCost>();
        double storage = 0, net = 0;
        long cycles = Counts.ComputeCycles(_temporalProduct, _a.Compute.MacsPerCycle);
        long computeCycles = cycles;
        string boundBy = "compute";
        for (int l = 0; l < _n; l++)
        {
            var level = _a.Levels[l];
            long held = 0, reads = 0, writes = 0;
            double levelEnergy = 0;
            foreach (var t in _e.Tensors)
            {
                if (!_m.Levels[l].Keep.Contains(t.Id)) continue;
                var k = CountsOf(t, l, null);
                double energy = _used[l] * Counts.AccessEnergy(level, k.Reads, k.Fills, k.Updates);
                tensors.Add(new TensorLevelCost(l, level.Name, t.Id, t.Role, k.Tile, k.Fills, k.Reads, k.Updates, _used[l], energy));
                levelEnergy += energy;
                held = checked(held + k.Tile);
                reads = checked(reads + k.Reads);
                writes = checked(writes + k.Fills + k.Updates);
                // Words between this keeper and the next keeper below cross every fanout in between.
                long words = checked((k.Reads + k.Updates) * _used[l]);
                for (int m = l; m < k.Child; m++)
                {
                    var fan = _a.Levels[m].Fanout;
                    if (fan.HopEnergy == 0 || words == 0) continue;
                    double hops = Hops(m);
                    double e = words * hops * fan.HopEnergy;
                    network.Add(new NetworkCost(m, _a.Levels[m].Name, t.Id, words, hops, e));
                    net += e;
                }
            }
            long bw = Counts.BandwidthCycles(level, reads, writes);
            if (bw > cycles) { cycles = bw; boundBy = level.Name; }
            levels.Add(new LevelCost(l, level.Name, _used[l], _a.InstancesOf(l), held, level.Capacity, levelEnergy, bw));
            storage += levelEnergy;
        }
        long macs = checked(_temporalProduct * _used[_n]);
        double util = (double)macs / ((double)_a.ComputeInstances * cycles * _a.Compute.MacsPerCycle);
        return new CostReport(tensors, network, levels, macs, _used[_n], computeCycles, cycles, boundBy,
            macs * _a.Compute.MacEnergy, storage, net, util);
    }

    /// <summary>Hops per word over the fanout below level m: 1 on a bus; on a mesh 1 plus the mean Manhattan distance from the entry corner to the children used.</summary>
    private double Hops(int m)
        => Counts.Hops(_a.Levels[m].Fanout.Topology,
            _m.Levels[m].Spatial.Where(s => s.Axis == Axis.X).Aggregate(1L, (a, s) => checked(a * s.Factor)),
            _m.Levels[m].Spatial.Where(s => s.Axis == Axis.Y).Aggregate(1L, (a, s) => checked(a * s.Factor)));

    public Derivation Explain(int l, TensorSpec t)
    {
        var steps = new List<DerivationStep>();
        var k = CountsOf(t, l, steps);
        var level = _a.Levels[l];
        var cost = Evaluate().Tensors.Single(x => x.LevelIndex == l && x.Tensor == t.Id);
        var extents = _e.Ranks.Select(r => (r.Id, Extent(l, r.Id))).ToList();
        var dims = t.Dims.Zip(TensorIndex.Of(t).DimExtents(r => Extent(l, r)), (d, x) => (d.ToString(), x)).ToList();
        string child = k.Child == _n
            ? $"the compute units: each of the {k.Children} used below one {level.Name} instance does {k.ChildWords} MACs"
            : $"{_a.Levels[k.Child].Name}: each of the {k.Children} instances used below one {level.Name} instance brings in {k.ChildWords} words of {t.Id} over the run";
        var formulas = new List<string>();
        if (l == 0)
            formulas.Add($"visits = tile = {k.Tile} ({level.Name} is the outermost level: the tensor starts here, so fills = 0)");
        else
            formulas.Add($"visits = tile + sum over loops above of transitions x new words = {k.Visits}");
        if (t.IsOutput)
        {
            formulas.Add($"partition = distinct {t.Id} elements one instance ever holds = {k.Partition}");
            if (l > 0) formulas.Add($"fills = visits - partition = {k.Visits} - {k.Partition} = {k.Fills} (the first touch of each element needs no fill)");
            formulas.Add($"updates = child words x children / reduced = {k.ChildWords} x {k.Children} / {k.Shared} = {k.Updates}");
            formulas.Add($"reads = updates - partition = {k.Updates} - {k.Partition} = {k.Reads} (read-modify-write, except the first touch)");
        }
        else
        {
            if (l > 0) formulas.Add($"fills = visits = {k.Fills}");
            formulas.Add($"reads = child words x children / multicast = {k.ChildWords} x {k.Children} / {k.Shared} = {k.Reads}");
        }
        formulas.Add($"energy = instances used x (reads x {level.ReadEnergy} + (fills + updates) x {level.WriteEnergy}) = {_used[l]} x ({k.Reads} x {level.ReadEnergy} + {k.Fills + k.Updates} x {level.WriteEnergy}) = {cost.Energy:G6} pJ");
        return new Derivation(level.Name, t.Id, extents, dims, k.Tile, steps, k.Visits, k.Partition, child, cost, formulas);
    }
}
