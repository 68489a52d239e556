using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Tests;

/// <summary>
/// The Timeloop convention's nest analysis (<see cref="TimeloopNest"/>: reused buffers, sizes without boxes where only
/// sizes are needed, children of a fanout mirrored instead of stepped, steps replayed from a memo of rule A's memory)
/// against <see cref="ReferenceNest"/>, the same rules written the plain way: every box a fresh object, every child of a
/// run simulated, every step run. On random valid mappings of window layers (and a GEMM) on the architectures of
/// <see cref="SharedWindowBoundTests"/> (every preset, the Timeloop fixtures' machines, small random ones) and of
/// ResNet-50's 3x3 layers on eyeriss, in up to three spatial orders each, every loop's every instance must have the same
/// counts, and the reports must be equal to the last bit.
/// </summary>
[TestClass]
public sealed class TimeloopNestReferenceTests
{
    private static IEnumerable<Einsum> LayersFor()
    {
        yield return Layers.Conv1d("c1d", c: 2, k: 4, p: 12, r: 3);
        yield return Layers.Conv1d("c1d-s2", c: 2, k: 2, p: 16, r: 3, stride: 2);
        yield return Layers.Conv2d("c2d", n: 1, c: 4, k: 4, p: 8, q: 6, r: 3, s: 3);
        yield return Layers.Conv2d("dil", n: 1, c: 2, k: 2, p: 4, q: 4, r: 2, s: 2, dilation: 2);
        yield return Layers.Conv2d("s2", n: 2, c: 2, k: 4, p: 6, q: 4, r: 3, s: 3, stride: 2);
        yield return Layers.Gemm("gemm", m: 8, n: 4, k: 6);
    }

    [TestMethod]
    public void CountsAndReportsEqualThePlainEmulationOnRandomMappings()
    {
        var rng = new Random(20261203);
        var failures = new List<string>();
        int compared = 0, mirrored = 0, replayed = 0, extrapolated = 0;
        var cases = SharedWindowBoundTests.Architectures().SelectMany(a => LayersFor().Select(l => (Layer: l, Arch: a, Samples: 6))).ToList();
        // ResNet-50's 3x3 layers on eyeriss: the search's hot case, with runs wider than three children.
        var eyeriss = Presets.Get("eyeriss");
        cases.AddRange(Zoo.DistinctShapes(Zoo.Get("resnet50")).Select(x => x.Item1)
            .Where(l => l.Ranks.Any(r => r.Id.Name == "R" && r.Bound == 3)).Take(4).Select(l => (l, eyeriss, 25)));
        foreach (var (layer, arch, samples) in cases)
        {
            var space = new Mapspace(layer, arch);
            for (int sample = 0; sample < samples; sample++)
            {
                if (!space.TrySampleValid(rng, 2000, out var sampled)) break;
                foreach (var m in Mapspace.SpatialOrders(sampled).Take(3))
                {
                    var shape = new TimeloopShape(layer, arch, m);
                    var nest = new TimeloopNest(shape);
                    var fast = nest.Analyse();
                    var plain = new ReferenceNest(shape).Analyse();
                    string what = $"{layer.Name} on {arch.Name}, mapping {m}";
                    compared++;
                    if (nest.MirroredSteps > 0) mirrored++;
                    if (nest.Replays > 0) replayed++;
                    if (shape.Loops.Any(l => l.Kind != TlLoop.Temporal && l.Factor > 3)) extrapolated++;
                    if (CountsDiffer(fast, plain) is { } why) { failures.Add($"{what}: {why}"); continue; }
                    var (a, b) = (shape.Report(fast), shape.Report(plain));
                    if (!a.Tensors.SequenceEqual(b.Tensors) || !a.Levels.SequenceEqual(b.Levels) || !a.Fanouts.SequenceEqual(b.Fanouts)
                        || a.Cycles != b.Cycles || a.Energy != b.Energy)
                        failures.Add($"{what}: reports differ (energy {a.Energy:R} vs {b.Energy:R})");
                }
            }
        }
        Assert.IsEmpty(failures, $"{failures.Count} of {compared} mappings differ:\n{string.Join("\n", failures.Take(10))}");
        Console.WriteLine($"{compared} mappings, {mirrored} with children mirrored, {replayed} with steps replayed, {extrapolated} with a spatial loop of more than three children");
        Assert.IsGreaterThan(700, compared, "too few mappings compared");
        Assert.IsGreaterThan(400, mirrored, "too few mappings with children mirrored");
        Assert.IsGreaterThan(250, replayed, "too few mappings with steps replayed");
        Assert.IsGreaterThan(60, extrapolated, "too few mappings with a spatial loop of more than three children");
    }

    /// <summary>The first difference between two analyses' counts, loop by loop and instance by instance; null when equal.</summary>
    private static string? CountsDiffer(List<TlCounts>[] fast, List<TlCounts>[] plain)
    {
        for (int i = 0; i < plain.Length; i++)
        {
            if (fast[i].Count != plain[i].Count) return $"loop {i}: {fast[i].Count} instances vs {plain[i].Count}";
            for (int k = 0; k < plain[i].Count; k++)
            {
                var (f, p) = (fast[i][k], plain[i][k]);
                for (int t = 0; t < p.MaxSize.Length; t++)
                {
                    if (f.MaxSize[t] != p.MaxSize[t]) return $"loop {i} instance {k} tensor {t}: tile {f.MaxSize[t]} vs {p.MaxSize[t]}";
                    if (f.Links[t] != p.Links[t]) return $"loop {i} instance {k} tensor {t}: links {f.Links[t]} vs {p.Links[t]}";
                    if (f.Accesses[t].Count != p.Accesses[t].Count || f.Accesses[t].Any(x => p.Accesses[t].GetValueOrDefault(x.Key, -1) != x.Value))
                        return $"loop {i} instance {k} tensor {t}: accesses {Show(f.Accesses[t])} vs {Show(p.Accesses[t])}";
                }
            }
        }
        return null;
    }

    private static string Show(Dictionary<(long Multicast, long Scatter), long> a)
        => string.Join(" ", a.OrderBy(x => x.Key).Select(x => $"{x.Key.Multicast}x{x.Key.Scatter}:{x.Value}"));
}

/// <summary>
/// Timeloop's nest analysis as plainly as it can be written (docs/cost-model.md, "The Timeloop convention"): boxes are
/// objects, a box minus another a fresh list of slabs, every simulated child of a run is stepped. Slow; a reference.
/// </summary>
internal sealed class ReferenceNest(TimeloopShape shape)
{
    private const int Sampled = 3; // Timeloop simulates the first three children along a run's innermost spatial loop

    private sealed record Box(long[] Lo, long[] Hi)
    {
        public long Size => Lo.Select((l, d) => Hi[d] - l).Aggregate(1L, (a, x) => checked(a * x));
        public bool SameAs(Box o) => Lo.SequenceEqual(o.Lo) && Hi.SequenceEqual(o.Hi);
        public Box Moved(long[] by) => new(Lo.Select((x, d) => checked(x + by[d])).ToArray(), Hi.Select((x, d) => checked(x + by[d])).ToArray());

        public List<Box> Minus(Box b)
        {
            if (Lo.Select((_, d) => Hi[d] <= b.Lo[d] || b.Hi[d] <= Lo[d]).Any(x => x)) return [this];
            var slabs = new List<Box>();
            var (lo, hi) = ((long[])Lo.Clone(), (long[])Hi.Clone());
            for (int d = 0; d < Lo.Length; d++)
            {
                if (lo[d] < b.Lo[d]) { var h = (long[])hi.Clone(); h[d] = b.Lo[d]; slabs.Add(new Box((long[])lo.Clone(), h)); lo[d] = b.Lo[d]; }
                if (b.Hi[d] < hi[d]) { var l = (long[])lo.Clone(); l[d] = b.Hi[d]; slabs.Add(new Box(l, (long[])hi.Clone())); hi[d] = b.Hi[d]; }
            }
            return slabs;
        }
    }

    private sealed class Instance(int tensors)
    {
        public readonly TlCounts Counts = new(tensors);
        public readonly Box?[] Prev = new Box?[tensors];
        public readonly long[]?[] Translation = new long[]?[tensors];
        public List<Box>[][]? PrevChildren;
    }

    private readonly TlLoop[] _loops = shape.Loops;
    private readonly int _tensors = shape.Tensors;
    private readonly Dictionary<long, Instance>[] _instances = shape.Loops.Select(_ => new Dictionary<long, Instance>()).ToArray();
    private readonly List<TlCounts>[] _counts = shape.Loops.Select(_ => new List<TlCounts>()).ToArray();
    private readonly long[] _at = new long[shape.Ranks];
    private readonly long[] _key = new long[shape.Levels + 1];
    private long _epochs = 1;

    public List<TlCounts>[] Analyse()
    {
        Run(_loops.Length - 1);
        return _counts;
    }

    private Instance InstanceOf(int i)
    {
        long key = _key[_loops[i].Level];
        if (!_instances[i].TryGetValue(key, out var s))
        {
            _instances[i][key] = s = new Instance(_tensors);
            _counts[i].Add(s.Counts);
        }
        return s;
    }

    private Box BoxOf(int t, long[] moldHigh)
    {
        var dims = shape.Dims[t];
        var lo = new long[dims.Length];
        var hi = new long[dims.Length];
        for (int d = 0; d < dims.Length; d++)
            foreach (var (r, c) in dims[d])
            {
                long low = _at[r] * c, high = (_at[r] + moldHigh[r]) * c;
                lo[d] += Math.Min(low, high);
                hi[d] += Math.Max(low, high);
            }
        return new Box(lo, hi.Select(x => x + 1).ToArray());
    }

    private static long Words(List<Box> boxes) => boxes.Sum(b => b.Size);

    /// <summary>Runs loop i at the current position; at a storage boundary, the words per tensor its new tile brings (rule A).</summary>
    private List<Box>[]? Run(int i)
    {
        var lp = _loops[i];
        var inst = InstanceOf(i);
        if (lp.Kind == TlLoop.Temporal) Temporal(i, inst);
        else Spatial(i, inst);
        for (int t = 0; t < _tensors && (lp.Boundary || lp.Master); t++)
            inst.Counts.MaxSize[t] = Math.Max(inst.Counts.MaxSize[t], BoxOf(t, lp.MoldHigh).Size);
        if (!lp.Boundary) return null;
        var brought = new List<Box>[_tensors];
        for (int t = 0; t < _tensors; t++)
        {
            var box = BoxOf(t, lp.MoldHigh);
            var prev = inst.Prev[t];
            var move = prev is null ? null : box.Lo.Select((x, d) => x - prev.Lo[d]).ToArray();
            if (inst.Translation[t] is null)
            {
                brought[t] = prev is null ? [box] : box.Minus(prev);
                inst.Translation[t] = move;
            }
            else if (move!.SequenceEqual(inst.Translation[t]!)) brought[t] = box.Minus(prev!);
            else
            {
                brought[t] = [box];
                inst.Translation[t] = null;
            }
            inst.Prev[t] = box;
        }
        return brought;
    }

    private void Temporal(int i, Instance inst)
    {
        var lp = _loops[i];
        if (i == 0)
        {
            for (int t = 0; t < _tensors; t++) Add(inst.Counts.Accesses[t], (1, 1), lp.Factor * _epochs);
            return;
        }
        var child = _loops[i - 1];
        var words = new long[_tensors];
        long saved = _at[lp.Rank];
        for (int iteration = 0; iteration < Math.Min(lp.Factor, 2); iteration++)
        {
            long weight = iteration == 0 ? 1 : lp.Factor - 1; // iteration 1 stands for iterations 1..n-1
            long outer = _epochs;
            _epochs *= weight;
            if (child.Boundary) _key[child.Level] = _key[lp.Level];
            var brought = Run(i - 1);
            _epochs = outer;
            if (brought is not null) for (int t = 0; t < _tensors; t++) words[t] += Words(brought[t]) * weight;
            _at[lp.Rank] += lp.Stride;
        }
        _at[lp.Rank] = saved;
        if (child.Boundary) for (int t = 0; t < _tensors; t++) Add(inst.Counts.Accesses[t], (1, 1), words[t] * _epochs);
    }

    private static void Add(Dictionary<(long, long), long> into, (long, long) key, long value) => into[key] = into.GetValueOrDefault(key) + value;

    private void Spatial(int i, Instance inst)
    {
        var lp = _loops[i];
        var children = new List<Box>[lp.RunFanout][];
        Children(i, children, 0);
        // Rule C: a child takes from a neighbour on the mesh the delta that neighbour had at the previous step.
        var fan = shape.Arch.Levels[lp.Level].Fanout;
        long w = fan.X, h = fan.Y;
        var prev = inst.PrevChildren;
        for (int t = 0; t < _tensors; t++)
        {
            var served = new bool[children.Length];
            long links = 0;
            for (int c = 0; c < children.Length && prev is not null; c++)
            {
                long x = c % w, y = c / w;
                var neighbours = new[] { (x, y - 1), (x, y + 1), (x - 1, y), (x + 1, y) }
                    .Where(n => n.Item1 >= 0 && n.Item1 < w && n.Item2 >= 0 && n.Item2 < h && (n.Item2 == y ? w > 1 : h > 1))
                    .Select(n => n.Item2 * w + n.Item1).Where(n => n < prev.Length);
                if (Words(children[c][t]) > 0 && neighbours.Any(n => Same(children[c][t], prev[n][t])))
                {
                    served[c] = true;
                    links += Words(children[c][t]) * _epochs;
                }
            }
            var plain = Multicast(children, t, new bool[children.Length]);
            var linked = Multicast(children, t, served);
            bool link = linked.Values.Sum() < plain.Values.Sum();
            if (link) inst.Counts.Links[t] += links;
            foreach (var (key, v) in link ? linked : plain) Add(inst.Counts.Accesses[t], key, v);
        }
        inst.PrevChildren = children;
    }

    private static bool Same(List<Box> a, List<Box> b) => a.Count == b.Count && a.All(x => b.Any(x.SameAs));

    /// <summary>Rule C': children with identical deltas share one access; per (multicast factor, groups) the accesses.</summary>
    private Dictionary<(long, long), long> Multicast(List<Box>[][] children, int t, bool[] served)
    {
        var groups = new List<(long Children, long Words)>();
        var done = (bool[])served.Clone();
        for (int a = 0; a < children.Length; a++)
        {
            if (done[a]) continue;
            var same = Enumerable.Range(a, children.Length - a).Where(b => !done[b] && Same(children[a][t], children[b][t])).ToList();
            foreach (var b in same) done[b] = true;
            if (Words(children[a][t]) > 0) groups.Add((same.Count, Words(children[a][t]) * _epochs));
        }
        return groups.GroupBy(g => g.Children).ToDictionary(g => (g.Key, (long)g.Count()), g => g.Sum(x => x.Words));
    }

    /// <summary>The deltas of every child of the run starting at loop i (rule B: three simulated along the innermost loop, the rest moved).</summary>
    private void Children(int i, List<Box>[][] children, long first)
    {
        var lp = _loops[i];
        first *= lp.Factor;
        long saved = _at[lp.Rank];
        for (long idx = 0; idx < lp.Factor; idx++, _at[lp.Rank] += lp.Stride)
        {
            if (i == 0) children[first + idx] = Enumerable.Range(0, _tensors).Select(t => new List<Box> { BoxOf(t, new long[shape.Ranks]) }).ToArray();
            else if (_loops[i - 1].Kind != TlLoop.Temporal) Children(i - 1, children, first + idx);
            else if (idx < Sampled)
            {
                _key[_loops[i - 1].Level] = _key[lp.Level] * shape.FanoutOf(lp.Level) + first + idx;
                children[first + idx] = Run(i - 1)!;
            }
            else
            {
                var (before, last) = (children[first + Sampled - 2], children[first + Sampled - 1]);
                var prev = children[first + idx - 1];
                children[first + idx] = Enumerable.Range(0, _tensors).Select(t => prev[t].Select(b => b.Moved(Move(before[t], last[t], b.Lo.Length))).ToList()).ToArray();
            }
        }
        _at[lp.Rank] = saved;
    }

    /// <summary>The move between two sets of boxes: the difference of their size-weighted centres, rounded half away from zero (none when either holds no word).</summary>
    private static long[] Move(List<Box> from, List<Box> to, int order)
    {
        long a = Words(from), b = Words(to);
        if (a == 0 || b == 0) return new long[order];
        double Centre(List<Box> boxes, int d) => boxes.Sum(x => (x.Lo[d] + x.Hi[d]) / 2.0 * x.Size);
        return Enumerable.Range(0, order).Select(d => (long)Math.Round(Centre(to, d) / b - Centre(from, d) / a, MidpointRounding.AwayFromZero)).ToArray();
    }
}
