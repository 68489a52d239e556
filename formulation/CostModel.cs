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
        if (!_perfect && a.HasWindowCapabilities)
            throw new NotSupportedException($"Architecture {a.Name} has a same-stride window or neighbour forwarding, which the model counts for perfect factors only; this mapping's factors do not multiply to the bounds (imperfect factorization).");
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
        var (above, loopAt) = StepsAbove(l);
        var fresh = new long[above.Length];
        long total;
        if (_a.Levels[l].Window == WindowReuse.SameStride)
        {
            var w = Counts.WindowVisits(Index(t), Extents(l), above, sameStride: true, [], 1);
            total = w.Visits;
            if (steps is not null) WindowSteps(t, l, above, loopAt, w, steps);
            return total;
        }
        total = Counts.Visits(Index(t), Extents(l), above, fresh);
        if (steps is not null)
        {
            long tile = TileWords(t, l), outer = 1;
            for (int j = 0; j < above.Length; j++)
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

    /// <summary>The temporal loops above level l that step (factor above 1), outermost first, with the nest loops they stand for.</summary>
    private (StepLoop[] Steps, NestLoop[] Loops) StepsAbove(int l)
    {
        var above = new List<StepLoop>();
        var loopAt = new List<NestLoop>();
        for (int j = 0; j < _levelStart[l]; j++)
        {
            var loop = _loops[j];
            if (loop.IsSpatial || loop.Factor == 1) continue;
            above.Add(new StepLoop(_rankPosition[loop.Rank], loop.Factor, _stride[j]));
            loopAt.Add(loop);
        }
        return (above.ToArray(), loopAt.ToArray());
    }

    /// <summary>The derivation steps of a same-stride level: each loop's words over all its steps (resets included).</summary>
    private void WindowSteps(TensorSpec t, int l, StepLoop[] above, NestLoop[] loopAt, WindowCount w, List<DerivationStep> steps)
    {
        long outer = 1;
        for (int j = 0; j < above.Length; j++)
        {
            var loop = loopAt[j];
            long transitions = Counts.Transitions(loop.Factor, outer);
            long per = transitions == 0 ? 0 : w.PerLoop[j] / transitions;
            string why = w.PerLoop[j] == 0 ? "the tile does not change: reused"
                : $"{w.PerLoop[j]} words over its {transitions} steps (same-stride window: a step that changes the translation fetches the whole tile; new words/step is the mean, rounded down)";
            steps.Add(new DerivationStep($"{_a.Levels[loop.Level].Name}: for {loop.Rank} in [0:{loop.Factor})", loop.Factor, t.IsIndexedBy(loop.Rank), transitions, per, w.PerLoop[j], why));
            outer = checked(outer * loop.Factor);
        }
    }

    /// <summary>
    /// The fanout level whose links an operand's child keeper <paramref name="c"/> below parent keeper <paramref name="l"/>
    /// may use (docs/cost-model.md, "Neighbour forwarding"): the nearest level at or below l and above c whose fanout has
    /// more than one child, when no other such fanout lies between it and c and it forwards; -1 otherwise.
    /// </summary>
    private int ForwardingFanout(TensorSpec t, int l, int c)
    {
        if (t.IsOutput || c >= _n || !_perfect) return -1;
        for (int m = c - 1; m >= l; m--)
            if (_a.Levels[m].Fanout.Size > 1)
                return _a.Levels[m].Fanout.Forwarding == Forwarding.None ? -1 : m;
        return -1;
    }

    /// <summary>The links of fanout level m: along each forwarding axis, its fastest spatial loop (the last listed on that axis) with factor above 1.</summary>
    private ForwardLink[] Links(int m)
    {
        var links = new List<ForwardLink>();
        var fwd = _a.Levels[m].Fanout.Forwarding;
        foreach (var axis in new[] { Axis.X, Axis.Y })
        {
            if (!fwd.HasFlag(axis == Axis.X ? Forwarding.X : Forwarding.Y)) continue;
            for (int j = _levelStart[m + 1] - 1; j >= _levelStart[m]; j--)
            {
                var loop = _loops[j];
                if (loop.Axis != axis || loop.Factor == 1) continue;
                links.Add(new ForwardLink(_rankPosition[loop.Rank], loop.Factor, _stride[j]));
                break;
            }
        }
        return links.ToArray();
    }

    /// <summary>
    /// What parent keeper l sends its children c for tensor t over the run, before multicast, and what the children take
    /// from their neighbours instead (<see cref="Counts.WindowVisits"/>); without capabilities, the children's visits each.
    /// </summary>
    private (long FromParent, long Forwarded, int Fanout) ChildTraffic(TensorSpec t, int l, int c, long childWords, long children)
    {
        int m = ForwardingFanout(t, l, c);
        if (m < 0) return (checked(childWords * children), 0, -1);
        var (above, _) = StepsAbove(c);
        var w = Counts.WindowVisits(Index(t), Extents(c), above, _a.Levels[c].Window == WindowReuse.SameStride, Links(m), children);
        return (w.FromParent, w.Forwarded, w.Forwarded == 0 ? -1 : m);
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

    private sealed record LevelCounts(long Tile, long Fills, long Reads, long Updates, long Visits, long Partition, int Child, long ChildWords, long Children, long Shared,
        long Forwarded, int ForwardFanout);

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
        var (fromParent, forwarded, fanout) = ChildTraffic(t, l, c, childWords, children);
        long served = Counts.Served(fromParent, shared);
        long reads = t.IsOutput ? Counts.OutputReads(served, partition) : served;
        long updates = t.IsOutput ? served : 0;
        if (fills < 0 || reads < 0)
            throw new InvalidOperationException($"Negative count for {t.Id} at {_a.Levels[l].Name}: a cost-model invariant is broken.");
        return new LevelCounts(tile, fills, reads, updates, visits, partition, c, childWords, children, shared, forwarded, fanout);
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
        var fanouts = new List<FanoutTraffic>();
        var forwardedAt = new Dictionary<(int Level, TensorId Tensor), long>();
        for (int l = 0; l < _n; l++)
        {
            var level = _a.Levels[l];
            long held = 0, reads = 0, writes = 0;
            double levelEnergy = 0;
            foreach (var t in _e.Tensors)
            {
                if (!_m.Levels[l].Keep.Contains(t.Id)) continue;
                var k = CountsOf(t, l, null);
                // Words this level's instances sent to a neighbour (each a read here), counted when the parent's counts were made.
                long sent = forwardedAt.GetValueOrDefault((l, t.Id));
                double energy = _used[l] * Counts.AccessEnergy(level, k.Reads, k.Fills, k.Updates) + Counts.AccessEnergy(level, sent, 0, 0);
                tensors.Add(new TensorLevelCost(l, level.Name, t.Id, t.Role, k.Tile, k.Fills, k.Reads, k.Updates, _used[l], energy) { ForwardedReads = sent });
                levelEnergy += energy;
                held = checked(held + k.Tile);
                // Bandwidth: the forwarded reads as a mean per instance, rounded up.
                reads = checked(reads + k.Reads + checked(sent + _used[l] - 1) / _used[l]);
                writes = checked(writes + k.Fills + k.Updates);
                long forwarded = 0;
                if (k.ForwardFanout >= 0)
                {
                    // Words children took from a neighbour: a read at the sending child and one hop of the forwarding fanout.
                    forwarded = checked(k.Forwarded * _used[l]);
                    forwardedAt[(k.Child, t.Id)] = checked(forwardedAt.GetValueOrDefault((k.Child, t.Id)) + forwarded);
                    fanouts.Add(new FanoutTraffic(k.ForwardFanout, _a.Levels[k.ForwardFanout].Name, t.Id, forwarded / _used[k.ForwardFanout], 0));
                }
                // Words between this keeper and the next keeper below cross every fanout in between; forwarded words one hop of theirs.
                long words = checked((k.Reads + k.Updates) * _used[l]);
                for (int m = l; m < k.Child; m++)
                {
                    var fan = _a.Levels[m].Fanout;
                    long linked = m == k.ForwardFanout ? forwarded : 0;
                    if (fan.HopEnergy == 0 || words + linked == 0) continue;
                    double e = (words * Hops(m) + linked * Counts.Hops(Topology.Bus, 1, 1)) * fan.HopEnergy;
                    network.Add(new NetworkCost(m, _a.Levels[m].Name, t.Id, checked(words + linked), e / fan.HopEnergy / checked(words + linked), e));
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
            macs * _a.Compute.MacEnergy, storage, net, util) { Fanouts = fanouts };
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
            if (k.ForwardFanout >= 0)
                formulas.Add($"reads = (child words x children - forwarded) / multicast = ({k.ChildWords} x {k.Children} - {k.Forwarded}) / {k.Shared} = {k.Reads} " +
                    $"({k.Forwarded} words the children took from a neighbour over the links below {_a.Levels[k.ForwardFanout].Name}: a read at the sender and a hop each)");
            else formulas.Add($"reads = child words x children / multicast = {k.ChildWords} x {k.Children} / {k.Shared} = {k.Reads}");
        }
        if (cost.ForwardedReads > 0)
            formulas.Add($"energy = instances used x (reads x {level.ReadEnergy} + (fills + updates) x {level.WriteEnergy}) + forwarded reads x {level.ReadEnergy} = {_used[l]} x ({k.Reads} x {level.ReadEnergy} + {k.Fills + k.Updates} x {level.WriteEnergy}) + {cost.ForwardedReads} x {level.ReadEnergy} = {cost.Energy:G6} pJ (the forwarded reads: words sent to a neighbour, a total over the instances)");
        else
            formulas.Add($"energy = instances used x (reads x {level.ReadEnergy} + (fills + updates) x {level.WriteEnergy}) = {_used[l]} x ({k.Reads} x {level.ReadEnergy} + {k.Fills + k.Updates} x {level.WriteEnergy}) = {cost.Energy:G6} pJ");
        return new Derivation(level.Name, t.Id, extents, dims, k.Tile, steps, k.Visits, k.Partition, child, cost, formulas);
    }
}
