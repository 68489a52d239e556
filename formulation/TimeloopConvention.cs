using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The Timeloop convention (docs/cost-model.md, "The Timeloop convention"): the counts, cycles and energy that
/// Timeloop v3.0.3's <c>timeloop-model</c> reports for a mapping, obtained by emulating its nest analysis over
/// boxes step by step: window overlap kept only while a tile keeps the same translation (rule A), temporal loops
/// sampled at iterations 0 and 1 and spatial rows at their first three children (rule B), words forwarded between
/// neighbouring children (rule C) and multicast by identical deltas (rule C'), then Timeloop's per-level
/// bookkeeping (partition sizes, bypass, peer accesses, first-read elision). Slower than <see cref="CostModel"/>,
/// and independent of it.
/// </summary>
public static class TimeloopConvention
{
    /// <summary>
    /// The pairs (child, neighbour) of a run of <paramref name="children"/> on the fanout's physical mesh: the left, right,
    /// upper and lower neighbours (no wrap-around), children numbered along X first
    /// (Timeloop's row-major placement: child i at column i mod X, row i / X). Flat: child, neighbour, child, neighbour...
    /// </summary>
    public static int[] NeighbourPairs(Fanout fan, int children)
    {
        var pairs = new List<int>();
        int h = fan.X, v = fan.Y;
        void Pair(int x, int y, int nx, int ny)
        {
            int cur = y * h + x, old = ny * h + nx;
            if (nx >= 0 && nx < h && ny >= 0 && ny < v && cur < children && old < children) { pairs.Add(cur); pairs.Add(old); }
        }
        for (int y = 0; y < v; y++)
            for (int x = 0; x < h; x++)
            {
                Pair(x, y, x, y - 1);
                Pair(x, y, x, y + 1);
                Pair(x, y, x - 1, y);
                Pair(x, y, x + 1, y);
            }
        return pairs.ToArray();
    }

    /// <summary>Evaluates a valid mapping in Timeloop's terms; throws <see cref="InvalidOperationException"/> when the mapping is not valid.</summary>
    public static CostReport Evaluate(Einsum einsum, Architecture arch, Mapping mapping)
    {
        ValidityChecker.RequireValid(einsum, arch, mapping, "The Timeloop convention");
        return new TimeloopNest(einsum, arch, mapping).Evaluate();
    }
}

/// <summary>One loop of Timeloop's nest, as the emulation walks it.</summary>
internal sealed class TlLoop
{
    public const int Temporal = 0, SpaceX = 1, SpaceY = 2;

    public int Rank, Factor, Kind, Level;
    public bool Boundary, Master;
    public long Stride;          // index step of the loop's rank per iteration
    public long[] MoldHigh = []; // per rank: extent of the subnest from this loop inwards, minus 1
    public int RunFanout = 1;    // master spatial loops: product of the factors of the spatial run below
}

/// <summary>What the nest analysis leaves for one instance of one loop, per tensor: the largest box seen, the accesses by (multicast, scatter) and the words forwarded among the children.</summary>
internal sealed class TlCounts
{
    public readonly long[] MaxSize;
    public readonly Dictionary<(long Multicast, long Scatter), long>[] Accesses;
    public readonly long[] Links;

    public TlCounts(int tensors)
    {
        MaxSize = new long[tensors];
        Links = new long[tensors];
        Accesses = new Dictionary<(long, long), long>[tensors];
        for (int t = 0; t < tensors; t++) Accesses[t] = [];
    }
}

/// <summary>
/// Timeloop's nest for one mapping (its loops innermost first, each tensor's index expressions, the fanouts) and its
/// per-level bookkeeping, which turns the counts of the nest analysis (<see cref="TimeloopNest"/>) into the report.
/// </summary>
internal sealed class TimeloopShape
{
    /// <summary>Spatial extrapolation: children simulated along the innermost spatial loop of a run.</summary>
    public const int SampledChildren = 3;
    private const int Temporal = TlLoop.Temporal, SpaceX = TlLoop.SpaceX, SpaceY = TlLoop.SpaceY;

    private readonly Einsum _e;
    private readonly Architecture _a;
    private readonly Mapping _m;
    private readonly int _n, _ranks, _tensors;
    private readonly long[] _fanout;   // per level: product of its spatial factors
    private readonly long[] _used;     // per level: instances used; [n] compute units used

    /// <summary>The loops, innermost first.</summary>
    public readonly TlLoop[] Loops;
    /// <summary>Per tensor, per dimension: the (rank, coefficient) terms of its index expression.</summary>
    public readonly (int Rank, long Coef)[][][] Dims;
    public Architecture Arch => _a;
    public int Levels => _n;
    public int Ranks => _ranks;
    public int Tensors => _tensors;
    /// <summary>The product of level l's spatial factors.</summary>
    public long FanoutOf(int l) => _fanout[l];

    public TimeloopShape(Einsum e, Architecture a, Mapping m)
    {
        _e = e; _a = a; _m = m;
        _n = a.Levels.Count;
        _ranks = e.Ranks.Count;
        _tensors = e.Tensors.Count;
        var rankIndex = e.Ranks.Select((r, i) => (r.Id, i)).ToDictionary(x => x.Id, x => x.i);
        Dims = e.Tensors.Select(t => t.Dims.Select(d => d.Terms.Select(x => (rankIndex[x.Rank], (long)x.Coefficient)).ToArray()).ToArray()).ToArray();

        // The nest outermost first: per level its temporal loops (a trivial one when it has none), then its
        // spatial loops, Y outside X (Timeloop lays the first dimensions of a spatial permutation, the innermost, along X).
        var outerFirst = new List<TlLoop>();
        for (int l = 0; l < _n; l++)
        {
            var lm = m.Levels[l];
            var temporal = lm.Temporal.Where(x => x.Factor > 1).Select(x => new TlLoop { Rank = rankIndex[x.Rank], Factor = x.Factor, Kind = Temporal, Level = l }).ToList();
            if (temporal.Count == 0) temporal.Add(new TlLoop { Rank = 0, Factor = 1, Kind = Temporal, Level = l });
            temporal[0].Boundary = true;
            outerFirst.AddRange(temporal);
            outerFirst.AddRange(lm.Spatial.Where(x => x.Factor > 1 && x.Axis == Axis.Y).Select(x => new TlLoop { Rank = rankIndex[x.Rank], Factor = x.Factor, Kind = SpaceY, Level = l }));
            outerFirst.AddRange(lm.Spatial.Where(x => x.Factor > 1 && x.Axis == Axis.X).Select(x => new TlLoop { Rank = rankIndex[x.Rank], Factor = x.Factor, Kind = SpaceX, Level = l }));
        }
        outerFirst.Reverse();
        Loops = outerFirst.ToArray();
        var scale = new long[_ranks];
        Array.Fill(scale, 1L);
        for (int i = 0; i < Loops.Length; i++)
        {
            var lp = Loops[i];
            lp.Stride = scale[lp.Rank];
            scale[lp.Rank] = checked(scale[lp.Rank] * lp.Factor);
            lp.MoldHigh = scale.Select(x => x - 1).ToArray();
            lp.Master = lp.Kind != Temporal && (i + 1 == Loops.Length || Loops[i + 1].Kind == Temporal);
            if (lp.Master)
            {
                long f = 1;
                for (int j = i; j >= 0 && Loops[j].Kind != Temporal; j--) f = checked(f * Loops[j].Factor);
                lp.RunFanout = (int)f;
            }
        }
        _fanout = new long[_n];
        _used = new long[_n + 1];
        _used[0] = 1;
        for (int l = 0; l < _n; l++)
        {
            _fanout[l] = m.Levels[l].Spatial.Aggregate(1L, (acc, s) => checked(acc * s.Factor));
            _used[l + 1] = checked(_used[l] * _fanout[l]);
        }
    }

    /// <summary>One level's collapsed tile for one tensor, in Timeloop's bookkeeping.</summary>
    private sealed class Tile
    {
        public long Size, Partition, Links, PartitionDenominator;
        public SortedDictionary<(long Multicast, long Scatter), double> Stats = new();
        public double Content, ParentShare, PeerAccesses, PeerFills;
        public long Fanout, Replication;
        public long Reads, Fills, Updates, SpatialReductions;
        public double Total => Stats.Values.Sum();
        public double Weighted => Stats.Sum(x => x.Value * x.Key.Multicast);
    }

    /// <summary>Timeloop's report for the mapping from what the nest analysis left per loop and instance (<paramref name="states"/>[i]: loop i's instances in the order first met).</summary>
    public CostReport Report(IReadOnlyList<TlCounts>[] states)
    {
        // Per level: its storage-boundary loop (size) and its innermost loop that counts accesses.
        var boundary = new int[_n];
        var inner = new int[_n];
        for (int l = 0; l < _n; l++)
        {
            boundary[l] = Array.FindIndex(Loops, x => x.Level == l && x.Boundary);
            inner[l] = Array.FindIndex(Loops, x => x.Level == l && (x.Kind == Temporal || x.Master));
        }
        var tiles = new Tile[_tensors][];
        for (int t = 0; t < _tensors; t++)
        {
            var tile = tiles[t] = new Tile[_n];
            for (int l = 0; l < _n; l++)
            {
                var sizeStates = states[boundary[l]];
                var accStates = states[inner[l]];
                var k = tile[l] = new Tile
                {
                    Size = sizeStates.Aggregate(0L, (acc, s) => checked(acc + s.MaxSize[t])) / sizeStates.Count,
                    Links = accStates.Aggregate(0L, (acc, s) => checked(acc + s.Links[t])) / accStates.Count,
                    Fanout = _fanout[l],
                    Replication = _used[l],
                };
                foreach (var s in accStates)
                    foreach (var (key, v) in s.Accesses[t]) k.Stats[key] = k.Stats.GetValueOrDefault(key) + v;
                foreach (var key in k.Stats.Keys.ToList()) k.Stats[key] /= accStates.Count;
                k.Content = k.Total;
            }
            for (int l = 1; l < _n; l++)
            {
                var masterLoop = Loops[inner[l - 1]];
                tile[l].PartitionDenominator = masterLoop.Master
                    ? states[inner[l - 1]].Aggregate(0L, (acc, s) => checked(acc + s.MaxSize[t])) / states[inner[l - 1]].Count
                    : tile[l].Size;
            }
            // Partition sizes, outermost down.
            long partition = tile[0].Size;
            tile[0].Partition = partition;
            for (int l = 1; l < _n; l++)
            {
                if (tile[l].PartitionDenominator != 0) partition = checked(partition * tile[l].Size) / tile[l].PartitionDenominator;
                tile[l].Partition = partition;
            }
            // Each level's share of its parent's accesses (its fills), before bypass is applied.
            for (int l = 1; l < _n; l++)
                foreach (var (key, acc) in tile[l - 1].Stats) tile[l].ParentShare += acc * key.Multicast / tile[l - 1].Fanout;
            // Bypass: a level that does not keep the tensor hands its children's accesses to the next keeper above.
            var id = _e.Tensors[t].Id;
            for (int l = _n - 1; l >= 0; l--)
            {
                if (tile[l].Size == 0 || _m.Levels[l].Keep.Contains(id)) continue;
                int outer = l - 1;
                while (outer >= 0 && tile[outer].Size == 0) outer--;
                if (outer < 0)
                {
                    Clear(tile[l]);
                    break;
                }
                double weighted = tile[outer].Weighted;
                double factor = weighted == 0 ? 0 : tile[l].Content * tile[outer].Fanout / weighted;
                foreach (var key in tile[outer].Stats.Keys.ToList()) tile[outer].Stats[key] *= factor;
                tile[outer].Links = 0;
                tile[outer].Content = tile[outer].Total;
                Clear(tile[l]);
            }
            for (int l = 0; l < _n; l++)
            {
                if (!_m.Levels[l].Keep.Contains(id)) { tile[l] = new Tile { Fanout = _fanout[l], Replication = _used[l] }; continue; }
                tile[l].ParentShare = 0;
                break;
            }
            // Words forwarded between neighbours are read from and written into the receiving children.
            for (int l = 0; l < _n - 1; l++)
            {
                if (tile[l].Links == 0) continue;
                double each = tile[l].Links / tile[l + 1].Replication;
                tile[l + 1].PeerAccesses += each;
                tile[l + 1].PeerFills += each;
            }
            bool output = _e.Tensors[t].IsOutput;
            for (int l = 0; l < _n; l++)
            {
                var k = tile[l];
                if (output)
                    foreach (var (key, acc) in k.Stats) k.SpatialReductions = checked(k.SpatialReductions + (long)Math.Round(acc * (key.Multicast - 1), MidpointRounding.AwayFromZero));
                if (k.Size == 0) continue;
                bool outermost = true;
                for (int o = 0; o < l; o++) if (tile[o].Size > 0) outermost = false;
                if (output)
                {
                    k.Updates = Round(k.Content);
                    k.Reads = Round(k.Content + k.PeerAccesses - k.Partition);
                    k.Fills = outermost ? Round(k.ParentShare + k.PeerFills) : Round(k.ParentShare + k.PeerFills - k.Partition);
                }
                else
                {
                    k.Reads = Round(k.Content + k.PeerAccesses);
                    k.Fills = Round(k.ParentShare + k.PeerFills);
                }
            }
        }
        return Report(tiles);
    }

    private static void Clear(Tile k)
    {
        k.Size = 0; k.Partition = 0; k.Content = 0; k.ParentShare = 0;
    }

    private static long Round(double x)
    {
        if (double.IsNaN(x) || x < -0.5) throw new InvalidOperationException($"Negative or undefined count {x} in the Timeloop convention: an invariant is broken.");
        return checked((long)Math.Round(x, MidpointRounding.AwayFromZero));
    }

    private CostReport Report(Tile[][] tiles)
    {
        var perLevel = Enumerable.Range(0, _n).Select(_ => new List<TensorLevelCost>()).ToArray();
        var levels = new List<LevelCost>();
        var fanouts = new List<FanoutTraffic>();
        long perUnit = _m.Levels.SelectMany(l => l.Temporal).Aggregate(1L, (acc, x) => checked(acc * x.Factor));
        long computeCycles = (perUnit + _a.Compute.MacsPerCycle - 1) / _a.Compute.MacsPerCycle;
        long cycles = computeCycles;
        string boundBy = "compute";
        double storage = 0;
        for (int l = _n - 1; l >= 0; l--)
        {
            var level = _a.Levels[l];
            long held = 0, reads = 0, writes = 0;
            double levelEnergy = 0;
            for (int t = 0; t < _tensors; t++)
            {
                var k = tiles[t][l];
                var spec = _e.Tensors[t];
                if (_fanout[l] > 1 && (k.Links != 0 || k.SpatialReductions != 0))
                    fanouts.Add(new FanoutTraffic(l, level.Name, spec.Id, k.Links, k.SpatialReductions));
                if (!_m.Levels[l].Keep.Contains(spec.Id)) continue;
                double energy = (k.Reads * level.ReadEnergy + k.Fills * level.WriteEnergy + k.Updates * level.WriteEnergy) * _used[l];
                perLevel[l].Add(new TensorLevelCost(l, level.Name, spec.Id, spec.Role, k.Size, k.Fills, k.Reads, k.Updates, _used[l], energy));
                levelEnergy += energy;
                held = checked(held + k.Size);
                reads = checked(reads + k.Reads);
                writes = checked(writes + k.Fills + k.Updates);
            }
            long bw = Math.Max(
                level.ReadBandwidth is { } rb ? (long)Math.Ceiling(reads / rb) : 0,
                level.WriteBandwidth is { } wb ? (long)Math.Ceiling(writes / wb) : 0);
            if (bw > cycles) { cycles = bw; boundBy = level.Name; }
            levels.Add(new LevelCost(l, level.Name, _used[l], _a.InstancesOf(l), held, level.Capacity, levelEnergy, bw));
            storage += levelEnergy;
        }
        var tensors = perLevel.SelectMany(x => x).ToList();
        levels.Reverse();
        fanouts.Reverse();
        long macs = checked(perUnit * _used[_n]);
        double util = (double)macs / ((double)_a.ComputeInstances * cycles * _a.Compute.MacsPerCycle);
        return new CostReport(tensors, [], levels, macs, _used[_n], computeCycles, cycles, boundBy,
            macs * _a.Compute.MacEnergy, storage, 0, util)
        { Fanouts = fanouts };
    }
}
