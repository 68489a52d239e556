using Optimizer.Formulation;
using Optimizer.Hardware;

namespace Optimizer.Solvers;

/// <summary>
/// The mapspace's choices level by level (docs/mapspace.md): keep sets, the spatial plans, and each
/// level's temporal factors and loop orders, for the outer-first searches (<see cref="LevelChoices"/>)
/// and the inner-first one (<see cref="InnerChoices"/>), all in a fixed order.
/// </summary>
internal sealed class LevelEnumeration(SearchProblem problem) : SearchPart(problem)
{

    /// <summary>The keep sets level d may choose, largest first.</summary>
    public IEnumerable<int> KeepOptions(int d)
    {
        int all = (1 << _m.TensorCount) - 1;
        if (d == 0) { yield return all; yield break; }
        var c = _m.Constraint(d);
        int must = 0, mustNot = 0;
        foreach (var t in _m.Tensors)
        {
            if (c.Keep.Contains(t.Spec.Id)) must |= t.Bit;
            if (c.Bypass.Contains(t.Spec.Id)) mustNot |= t.Bit;
        }
        for (int mask = all; mask >= 0; mask--)
        {
            if ((mask & ~_m.AllowedMask[d]) != 0 || (mask & must) != must || (mask & mustNot) != 0) continue;
            yield return mask;
        }
    }

    /// <summary>True when the tiles level d keeps fit its capacity.</summary>
    public bool Fits(int d, State s)
    {
        if (_m.Storage[d].Capacity is not { } cap) return true;
        long need = 0;
        foreach (var t in _m.Tensors) if ((s.Keep[d] & t.Bit) != 0) need = checked(need + t.Tile(s.Rem[d]));
        return need <= cap;
    }

    /// <summary>Every decision level d can take, given the tile extents it has (outer-first).</summary>
    public IEnumerable<LevelChoice> LevelChoices(int d, State s)
    {
        var rem = s.Rem[d];
        var c = _m.Constraint(d);
        var fan = _m.Storage[d].Fanout;
        bool last = d == Levels - 1;
        var sx = new int[Ranks];
        var sy = new int[Ranks];
        var spatialOptions = s.Plan is { } plan ? FromPlan(plan) : Spatial(0, 1, 1);
        foreach (var _ in spatialOptions)
        {
            var t = new int[Ranks];
            foreach (var __ in Temporal(0))
                foreach (var order in Orders(d, t))
                    yield return new LevelChoice((int[])t.Clone(), order, (int[])sx.Clone(), (int[])sy.Clone());

            IEnumerable<bool> Temporal(int r)
            {
                if (r == Ranks) { yield return true; yield break; }
                // With a spatial plan, the splits of the levels below must still divide what is left.
                long left = rem[r] / ((long)sx[r] * sy[r]);
                if (s.Plan is { } p) for (int b = d + 1; b < Levels; b++) left /= (long)p.X[b][r] * p.Y[b][r];
                IEnumerable<long> options = last ? [left]
                    : c.Temporal.TryGetValue(_m.RankIds[r], out var pinned) ? (left % pinned == 0 ? [pinned] : [])
                    : _m.Divisors[left];
                foreach (var f in options)
                {
                    if (last && c.Temporal.TryGetValue(_m.RankIds[r], out var must) && must != f) continue;
                    t[r] = (int)f;
                    foreach (var x in Temporal(r + 1)) yield return x;
                }
            }
        }

        IEnumerable<bool> FromPlan(SpatialPlan plan)
        {
            Array.Copy(plan.X[d], sx, Ranks);
            Array.Copy(plan.Y[d], sy, Ranks);
            yield return true;
        }

        IEnumerable<bool> Spatial(int r, long px, long py)
        {
            if (r == Ranks) { yield return true; yield break; }
            foreach (var fx in AxisOptions(c, r, Axis.X, rem[r], fan.X / px))
            {
                sx[r] = (int)fx;
                foreach (var fy in AxisOptions(c, r, Axis.Y, rem[r] / fx, fan.Y / py))
                {
                    sy[r] = (int)fy;
                    foreach (var x in Spatial(r + 1, px * fx, py * fy)) yield return x;
                }
            }
        }
    }

    /// <summary>
    /// The loop orders level d's temporal factors <paramref name="t"/> are searched in (outermost first), one per class
    /// of orders that cost the same, in a fixed order: the pinned or canonical order where the level's order is pinned,
    /// it is the innermost level, or it has at most one loop; else the first order (in lexicographic order) of each
    /// class, among the orders that start with the level's outer prefix (if any).
    /// </summary>
    public IEnumerable<int[]> Orders(int d, int[] t)
    {
        var c = _m.Constraint(d);
        var active = Enumerable.Range(0, Ranks).Where(r => t[r] > 1).ToArray();
        // The innermost level's order changes no count (only the compute units are below it), so one canonical order stands for all.
        if (c.Order is not null || d == Levels - 1 || active.Length <= 1)
        {
            if (PinnedOrder(c, active) is { } order) yield return order;
            yield break;
        }
        // Orders that cost the same for every tensor a level below may keep are one class.
        var below = BelowTensors(d);
        var seen = below is null ? null : new HashSet<string>();
        foreach (var perm in Permutations(active))
        {
            if (!c.StartsWithPrefix(perm, r => _m.RankIds[r])) continue;
            if (seen is not null && !seen.Add(OrderClass(perm, below!))) continue;
            yield return perm;
        }
    }

    /// <summary>
    /// Every decision level d can take when the levels below it are decided (inner-first): temporal
    /// factors that divide what the levels below and the plan leave (all of it at the outermost level),
    /// in one canonical order (the orders are picked at the leaves), or the pinned order.
    /// </summary>
    public IEnumerable<LevelChoice> InnerChoices(int d, State s)
    {
        var plan = s.Plan!;
        var c = _m.Constraint(d);
        var dram = _m.Constraint(0);
        var left = new long[Ranks];
        for (int r = 0; r < Ranks; r++)
        {
            left[r] = _m.Bound[r];
            for (int b = 0; b < Levels; b++) left[r] /= (long)plan.X[b][r] * plan.Y[b][r];
            for (int b = d + 1; b < Levels; b++) left[r] /= s.Choice[b]!.Temporal[r];
        }
        var t = new int[Ranks];
        foreach (var _ in Temporal(0))
        {
            int n = 0;
            for (int r = 0; r < Ranks; r++) if (t[r] > 1) n++;
            var active = new int[n];
            for (int r = 0, i = 0; r < Ranks; r++) if (t[r] > 1) active[i++] = r;
            if (PinnedOrder(c, active) is not { } order) continue;
            // The plan's arrays are shared: no choice is ever changed after it is made.
            yield return new LevelChoice((int[])t.Clone(), order, plan.X[d], plan.Y[d]);
        }

        IEnumerable<bool> Temporal(int r)
        {
            if (r == Ranks) { yield return true; yield break; }
            IEnumerable<long> options = d == 0 ? [left[r]]
                : c.Temporal.TryGetValue(_m.RankIds[r], out var pinned) ? (left[r] % pinned == 0 ? [pinned] : [])
                : _m.Divisors[left[r]];
            foreach (var f in options)
            {
                if (d == 0 && c.Temporal.TryGetValue(_m.RankIds[r], out var must) && must != f) continue;
                // A DRAM factor pinned by the constraints must stay what is left above: level 1 leaves exactly it to DRAM,
                // a deeper level a multiple of it (other choices have no completion).
                if (d > 0 && dram.Temporal.TryGetValue(_m.RankIds[r], out var pin) && (d == 1 ? left[r] / f != pin : left[r] / f % pin != 0)) continue;
                t[r] = (int)f;
                foreach (var x in Temporal(r + 1)) yield return x;
            }
        }
    }

    /// <summary>
    /// Every decision level d can take inner-first in the imperfect mapspace (docs/mapspace.md, "Imperfect factors";
    /// the same set as <see cref="ImperfectEnumeration.RankOptions"/>), given the levels below (their extents clipped to
    /// the bounds) and the plan: per rank, with <c>S</c> the rank's factors inside the level's temporal loop, any factor
    /// from 1 to <c>ceil(bound / S)</c> (no iteration is ever empty), except that a rank split spatially above the level
    /// must keep every span below that split a divisor of its bound (the checker's <c>SpatialRemainder</c>), so it takes
    /// the divisors of what is left; the outermost level takes <c>ceil(bound / S)</c>. One canonical order (rank order).
    /// With <paramref name="levelOneClasses"/>, level 1 takes per rank only the factors that stand for their class
    /// (<see cref="ImperfectLevelOne.Stands"/>; energy only, one shape); with <paramref name="innerClasses"/>, so do the levels
    /// from 2 inward for the ranks no level above splits spatially (docs/mapspace.md, "An inner level's factors per count of
    /// its tiles"; energy only, one shape).
    /// </summary>
    public IEnumerable<LevelChoice> ImperfectInnerChoices(int d, State s, bool levelOneClasses = false, bool innerClasses = false)
    {
        var plan = s.Plan!;
        var options = new long[Ranks][];
        for (int r = 0; r < Ranks; r++)
        {
            long bound = _m.Bound[r];
            long inner = checked((d + 1 < Levels ? s.Rem[d + 1][r] : 1) * plan.X[d][r] * plan.Y[d][r]);
            long above = 1;
            for (int b = 0; b < d; b++) above = checked(above * plan.X[b][r] * plan.Y[b][r]);
            long most = (bound + inner - 1) / inner;
            if (d == 0) options[r] = [most];
            else if (above > 1) options[r] = bound % checked(inner * above) == 0 ? _m.Divisors[bound / (inner * above)] : [];
            else options[r] = Enumerable.Range(1, (int)most).Select(x => (long)x)
                .Where(f => !(d == 1 ? levelOneClasses : innerClasses) || ImperfectLevelOne.Stands(_m, r, most, f)).ToArray();
        }
        var t = new int[Ranks];
        return Temporal(0);

        IEnumerable<LevelChoice> Temporal(int r)
        {
            if (r == Ranks)
            {
                var order = Enumerable.Range(0, Ranks).Where(x => t[x] > 1).ToArray();
                yield return new LevelChoice((int[])t.Clone(), order, plan.X[d], plan.Y[d]);
                yield break;
            }
            foreach (var f in options[r])
            {
                t[r] = (int)f;
                foreach (var x in Temporal(r + 1)) yield return x;
            }
        }
    }

    /// <summary>
    /// Every spatial split of every level that the fanouts and the constraints allow (the same splits
    /// <see cref="LevelChoices"/> offers level by level), in a fixed order.
    /// </summary>
    /// <remarks>
    /// Costs see a plan only through each rank's spatial factor per level (and, on a mesh, the number of children used
    /// along X plus along Y), never through which axis a rank is on: plans that agree on those are the same for every
    /// count, so the first (in the order of the splits, level 0 first, each level's ranks in order, X before Y, factors
    /// ascending) stands for all. What a level may split depends only on what the levels above leave of each rank, so
    /// the classes are formed level by level: each level's splits are listed once per remainder, the first of each
    /// class kept (<see cref="LevelSplits"/>), and the plans are their combinations in the same order, the same list
    /// as merging whole plans (before this, 300,000 plans of BERT-base's Q on multinode took 10 s to list).
    /// On a mesh whose hops cost energy, of a level's splits with the same factors only the first with the fewest
    /// children used along X plus along Y is kept (unless the objective is latency alone): every count is the same
    /// under each of them, and a word's hops over the mesh, <c>(X + Y) / 2</c> of the children used, are fewest, while
    /// words always cross the level's fanout; so every mapping under another costs strictly more energy with the same
    /// cycles, and is neither the answer nor a tie with it.
    /// A per-axis fanout constraint tells plans apart by axis: then every plan is listed. So do shared windows
    /// (the Timeloop convention, neighbour forwarding): which children are neighbours decides what is forwarded.
    /// Under the Timeloop convention a plan with a rank on both axes of a fanout is no answer (Timeloop's format
    /// cannot say it): it is left out before plans are merged, so an expressible plan stands for its class.
    /// A window layer under the Timeloop convention searched for energy (floored tensors, <see cref="SearchProblem.Floored"/>)
    /// has shared windows, but its bounds see a plan only through the per-rank factors (no hops are counted under the
    /// convention): its plans are merged too, and each keeps the other plans of its class (<see cref="SpatialPlan.Variants"/>:
    /// every combination of its levels' class members), in which its leaves are costed.
    /// </remarks>
    public IEnumerable<SpatialPlan> SpatialPlans()
    {
        var x = new int[Levels][];
        var y = new int[Levels][];
        var left = (long[])_m.Bound.Clone();
        var known = new Dictionary<string, List<(int[] X, int[] Y, List<(int[] X, int[] Y)> Members)>>();
        var members = new List<(int[] X, int[] Y)>[Levels];
        return Level(0);

        // Lazily, so that a caller's time limit holds while the plans are listed.
        IEnumerable<SpatialPlan> Level(int d)
        {
            if (d == Levels)
            {
                var plan = new SpatialPlan(x.Select(a => (int[])a.Clone()).ToArray(), y.Select(a => (int[])a.Clone()).ToArray());
                if (_m.AnyFloored) AddVariants(plan, members);
                yield return plan;
                yield break;
            }
            string key = d + ":" + string.Join(",", left);
            if (!known.TryGetValue(key, out var splits)) known[key] = splits = LevelSplits(d, left);
            foreach (var (sx, sy, classOf) in splits)
            {
                x[d] = sx;
                y[d] = sy;
                members[d] = classOf;
                for (int r = 0; r < Ranks; r++) left[r] /= (long)sx[r] * sy[r];
                foreach (var plan in Level(d + 1)) yield return plan;
                for (int r = 0; r < Ranks; r++) left[r] *= (long)sx[r] * sy[r];
            }
        }
    }

    /// <summary>
    /// Level d's spatial splits given what the levels above leave of each rank, in order (ranks in order, X before Y,
    /// factors ascending), one per class of splits that differ only in which axis a rank is on (see
    /// <see cref="SpatialPlans"/>), or every one where axes matter.
    /// </summary>
    private List<(int[] X, int[] Y, List<(int[] X, int[] Y)> Members)> LevelSplits(int d, long[] left)
    {
        bool grouped = _m.AnyFloored && _m.Map.Constraints is not { AxisDependent: true };
        bool merge = _m.Map.Constraints is not { AxisDependent: true } && (!_m.SharedWindows || grouped);
        var classes = new Dictionary<string, List<(int[] X, int[] Y)>>();
        bool oneAxis = _m.Map.Convention == CostConvention.Timeloop || _m.Map.OneAxis;
        var fan = _m.Storage[d].Fanout;
        // On a mesh whose hops cost energy, of the splits with the same factors only the first with the fewest children
        // along X plus along Y is kept, except for latency alone (see SpatialPlans).
        bool leastHops = merge && fan.Topology != Topology.Bus && _m.HopEnergy(d) > 0 && _m.Map.Objective != Objective.Latency;
        var kept = new Dictionary<string, (long Position, long Sum, int[] X, int[] Y)>();
        long position = 0;
        var x = Enumerable.Repeat(1, Ranks).ToArray();
        var y = Enumerable.Repeat(1, Ranks).ToArray();
        var rest = (long[])left.Clone();
        var c = _m.Constraint(d);
        Split(0, 1, 1);
        return kept.Select(k => (k.Value.Position, k.Value.X, k.Value.Y, Members: grouped ? classes[k.Key] : new List<(int[] X, int[] Y)>()))
            .OrderBy(k => k.Position).Select(k => (k.X, k.Y, k.Members)).ToList();

        void Split(int r, long px, long py)
        {
            if (r == Ranks)
            {
                if (oneAxis && Enumerable.Range(0, Ranks).Any(q => x[q] > 1 && y[q] > 1)) return;
                long at = position++;
                if (!merge) { kept.Add(at.ToString(), (at, 0, (int[])x.Clone(), (int[])y.Clone())); return; }
                string key = SplitKey(d, x, y, withSum: !leastHops);
                if (grouped) { if (!classes.TryGetValue(key, out var list)) classes[key] = list = []; list.Add(((int[])x.Clone(), (int[])y.Clone())); }
                long sum = px + py;
                if (!kept.TryGetValue(key, out var first) || (leastHops && sum < first.Sum))
                    kept[key] = (at, sum, (int[])x.Clone(), (int[])y.Clone());
                return;
            }
            foreach (var fx in AxisOptions(c, r, Axis.X, rest[r], fan.X / px))
                foreach (var fy in AxisOptions(c, r, Axis.Y, rest[r] / fx, fan.Y / py))
                {
                    x[r] = (int)fx;
                    y[r] = (int)fy;
                    rest[r] /= fx * fy;
                    Split(r + 1, px * fx, py * fy);
                    rest[r] *= fx * fy;
                }
            x[r] = 1;
            y[r] = 1;
        }
    }

    /// <summary>
    /// The other plans of a plan's class (<see cref="SpatialPlan.Variants"/>): every combination of one member of each level's
    /// class, in the classes' order, but the plan itself.
    /// </summary>
    private void AddVariants(SpatialPlan plan, List<(int[] X, int[] Y)>[] members)
    {
        var x = new int[Levels][];
        var y = new int[Levels][];
        Combine(0, true);

        void Combine(int d, bool same)
        {
            if (d == Levels)
            {
                if (!same) plan.Variants.Add(new SpatialPlan((int[][])x.Clone(), (int[][])y.Clone()));
                return;
            }
            foreach (var (mx, my) in members[d])
            {
                (x[d], y[d]) = (mx, my);
                Combine(d + 1, same && mx.AsSpan().SequenceEqual(plan.X[d]) && my.AsSpan().SequenceEqual(plan.Y[d]));
            }
        }
    }

    /// <summary>What costs see of one level's spatial split: each rank's factor, and (<paramref name="withSum"/>) on a mesh the children used along X plus along Y.</summary>
    private string SplitKey(int d, int[] x, int[] y, bool withSum)
    {
        var sb = new System.Text.StringBuilder();
        long ux = 1, uy = 1;
        for (int r = 0; r < Ranks; r++) { sb.Append(x[r] * y[r]).Append(','); ux *= x[r]; uy *= y[r]; }
        if (withSum && _m.Storage[d].Fanout.Topology != Topology.Bus) sb.Append('m').Append(ux + uy);
        return sb.ToString();
    }

    /// <summary>
    /// The loops of a level in the canonical order its constraint gives (<see cref="LevelConstraint.Arrange"/>:
    /// the pinned order, or the outer prefix then rank order, or rank order); null when no allowed order
    /// has exactly these loops.
    /// </summary>
    private int[]? PinnedOrder(LevelConstraint c, int[] active) => c.Arrange(active, r => _m.RankIds[r])?.ToArray();

    /// <summary>The spatial factors rank r may take along one axis of level d's fanout, given what is left of it and the room on the axis.</summary>
    private IEnumerable<long> AxisOptions(LevelConstraint c, int r, Axis axis, long left, long room)
    {
        if (c.Spatial.TryGetValue((_m.RankIds[r], axis), out var pinned))
        {
            if (left % pinned == 0 && pinned <= room) yield return pinned;
            yield break;
        }
        var allowed = axis == Axis.X ? c.SpatialX : c.SpatialY;
        if (allowed is not null && !allowed.Contains(_m.RankIds[r])) { yield return 1; yield break; }
        foreach (var f in _m.Divisors[left]) { if (f > room) break; yield return f; }
    }

    /// <summary>
    /// The tensors some level below d may keep, when every one of them is indexed by plain ranks (no
    /// sliding window, coefficient 1); null otherwise, and then every order is searched.
    /// </summary>
    private SearchTensor[]? BelowTensors(int d)
    {
        var below = _m.Tensors.Where(t => Enumerable.Range(d + 1, Levels - d - 1).Any(m => _m.MayKeep(t, m))).ToArray();
        return below.All(t => t.UnitCoefficients) ? below : null;
    }

    /// <summary>
    /// The class of a level's loop order for tensors indexed by plain ranks. For such a tensor a step of a
    /// loop brings either nothing or a whole new tile, so its visits are the tile times the factors of
    /// every loop at or outside its innermost indexing loop (docs/cost-model.md, "Visits"). Within this
    /// level, an order matters to it only through which loops sit inside its innermost indexing loop
    /// here; two orders with the same such sets for every tensor give the same counts.
    /// </summary>
    private static string OrderClass(int[] order, SearchTensor[] tensors)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var t in tensors)
        {
            int innermost = -1;
            for (int i = 0; i < order.Length; i++) if (t.IndexedBy[order[i]]) innermost = i;
            long inside = 0;
            for (int i = innermost + 1; i < order.Length && innermost >= 0; i++) inside |= 1L << order[i];
            sb.Append(inside).Append(',');
        }
        return sb.ToString();
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        var a = (int[])items.Clone();
        // Lexicographic order, starting from the sorted array: deterministic.
        while (true)
        {
            yield return (int[])a.Clone();
            int i = a.Length - 2;
            while (i >= 0 && a[i] >= a[i + 1]) i--;
            if (i < 0) yield break;
            int j = a.Length - 1;
            while (a[j] <= a[i]) j--;
            (a[i], a[j]) = (a[j], a[i]);
            Array.Reverse(a, i + 1, a.Length - i - 1);
        }
    }
}
