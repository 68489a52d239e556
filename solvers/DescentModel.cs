using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>Where a factor of a rank sits at one level: its temporal loop, or its spatial loop along X or Y.</summary>
internal enum SlotKind { Temporal, X, Y }

/// <summary>One slot of the perfect factorization: a level and a kind.</summary>
internal readonly record struct Slot(int Level, SlotKind Kind);

/// <summary>
/// A mapping in array form for the descent: per level and rank the temporal factor and the spatial
/// factors along X and Y, and per level the keep set as a bit mask over the layer's tensors. Loop
/// orders are not part of it: <see cref="DescentModel"/> picks every level's best order when it costs it.
/// </summary>
internal sealed class FactorPoint
{
    public readonly int[][] T, X, Y;
    public readonly int[] Keep;

    public FactorPoint(int levels, int ranks)
    {
        T = new int[levels][]; X = new int[levels][]; Y = new int[levels][];
        for (int l = 0; l < levels; l++) { T[l] = Ones(ranks); X[l] = Ones(ranks); Y[l] = Ones(ranks); }
        Keep = new int[levels];

        static int[] Ones(int n) { var a = new int[n]; Array.Fill(a, 1); return a; }
    }

    private FactorPoint(int[][] t, int[][] x, int[][] y, int[] keep) { T = t; X = x; Y = y; Keep = keep; }

    public FactorPoint Clone() => new(Copy(T), Copy(X), Copy(Y), (int[])Keep.Clone());

    private static int[][] Copy(int[][] a) => a.Select(r => (int[])r.Clone()).ToArray();

    /// <summary>The factor array of a slot (index it by rank).</summary>
    public int[] Of(Slot s) => s.Kind switch { SlotKind.Temporal => T[s.Level], SlotKind.X => X[s.Level], _ => Y[s.Level] };

    /// <summary>A text key of the spatial factors alone.</summary>
    public string SpatialKey()
    {
        var sb = new System.Text.StringBuilder();
        for (int l = 0; l < X.Length; l++) sb.Append(string.Join(',', X[l])).Append('/').Append(string.Join(',', Y[l])).Append('|');
        return sb.ToString();
    }

    /// <summary>A text key: two points with the same key are the same mapping up to loop orders.</summary>
    public string Key()
    {
        var sb = new System.Text.StringBuilder();
        for (int l = 0; l < T.Length; l++)
            sb.Append(string.Join(',', T[l])).Append('/').Append(string.Join(',', X[l])).Append('/').Append(string.Join(',', Y[l])).Append('/').Append(Keep[l]).Append('|');
        return sb.ToString();
    }
}

/// <summary>
/// What the descent needs to know about one problem: the slots and their constraints, and a fast exact
/// cost of a <see cref="FactorPoint"/> with every level's loop order chosen by
/// <see cref="SearchModel.OptimizeOrders"/> (the energy-optimal order per level, exact; docs/mapspace.md).
/// The cost is the search's array copy of the model, which the tests hold equal to the reference
/// <see cref="CostModel"/>; the descent still re-checks and re-costs its answer with the reference.
/// </summary>
internal sealed class DescentModel
{
    private readonly MapProblem _p;
    private readonly SearchModel _model;
    private readonly MappingConstraints _c;

    public int Levels { get; }
    public int Ranks { get; }
    public int Tensors { get; }
    /// <summary>Every slot, outermost level first, temporal before X before Y; spatial slots only where the fanout has more than one child along the axis.</summary>
    public IReadOnlyList<Slot> Slots { get; }
    /// <summary>Per tensor and rank: the rank indexes the tensor.</summary>
    public bool[][] Indexes { get; }
    /// <summary>Per level, the tensors it may keep (role and constraints), as a bit mask over the layer's tensors.</summary>
    public int[] MayKeep { get; }
    /// <summary>Per level, the tensors it must keep (the outermost level keeps all).</summary>
    public int[] MustKeep { get; }
    /// <summary>How many points have been costed.</summary>
    public long Evaluations { get; private set; }
    /// <summary>Per tensor: some index of it strides past the words between (a term's coefficient exceeds what the other terms of its dimension span), so its bounding-box tiles hold words no MAC uses.</summary>
    public bool[] Gappy { get; }

    public DescentModel(MapProblem p)
    {
        _p = p;
        _model = new SearchModel(p);
        _c = p.Constraints ?? MappingConstraints.None;
        Levels = p.Arch.Levels.Count;
        Ranks = p.Layer.Ranks.Count;
        Tensors = p.Layer.Tensors.Count;
        var slots = new List<Slot>();
        for (int l = 0; l < Levels; l++)
        {
            slots.Add(new Slot(l, SlotKind.Temporal));
            if (p.Arch.Levels[l].Fanout.X > 1) slots.Add(new Slot(l, SlotKind.X));
            if (p.Arch.Levels[l].Fanout.Y > 1) slots.Add(new Slot(l, SlotKind.Y));
        }
        Slots = slots;
        Indexes = p.Layer.Tensors.Select(t => p.Layer.Ranks.Select(r => t.IsIndexedBy(r.Id)).ToArray()).ToArray();
        Gappy = p.Layer.Tensors.Select(t => t.Dims.Any(d => d.Terms.Any(term =>
            Math.Abs(term.Coefficient) > 1 + d.Terms.Where(o => o.Rank != term.Rank).Sum(o => Math.Abs((long)o.Coefficient) * (p.Layer.Ranks.First(r => r.Id == o.Rank).Bound - 1))))).ToArray();
        MayKeep = new int[Levels];
        MustKeep = new int[Levels];
        for (int l = 0; l < Levels; l++)
        {
            var lc = _c.For(l);
            for (int t = 0; t < Tensors; t++)
            {
                var spec = p.Layer.Tensors[t];
                if (l == 0 || (p.Arch.Levels[l].MayKeep(spec.Role) && !lc.Bypass.Contains(spec.Id))) MayKeep[l] |= 1 << t;
                if (l == 0 || lc.Keep.Contains(spec.Id)) MustKeep[l] |= 1 << t;
            }
        }
    }

    /// <summary>
    /// The starting point every plan is built on: each factor the constraints pin is in its slot, the rest
    /// of every rank is in the outermost level's temporal loop (or, when that is pinned, in the outermost
    /// free temporal loop below it), and every level keeps what it may.
    /// </summary>
    public FactorPoint Base()
    {
        var x = new FactorPoint(Levels, Ranks);
        for (int r = 0; r < Ranks; r++)
        {
            long left = _p.Layer.Ranks[r].Bound;
            foreach (var s in Slots)
                if (Pinned(s, r) is { } f && !(s.Level == 0 && s.Kind == SlotKind.Temporal))
                {
                    x.Of(s)[r] = f;
                    left = left % f == 0 ? left / f : left;
                }
            var home = Slots.FirstOrDefault(s => s.Kind == SlotKind.Temporal && Pinned(s, r) is null, new Slot(0, SlotKind.Temporal));
            if (Pinned(new Slot(0, SlotKind.Temporal), r) is { } outer && outer > 1)
            {
                x.T[0][r] = outer;
                left = left % outer == 0 ? left / outer : left;
            }
            x.Of(home)[r] *= (int)left;
        }
        for (int l = 0; l < Levels; l++) x.Keep[l] = MayKeep[l];
        return x;
    }

    /// <summary>The fanout size of a spatial slot's axis (1 for a temporal slot).</summary>
    public int Room(Slot s)
    {
        var fan = _p.Arch.Levels[s.Level].Fanout;
        return s.Kind switch { SlotKind.X => fan.X, SlotKind.Y => fan.Y, _ => 1 };
    }

    private readonly Dictionary<Slot, int?[]> _pinned = new();

    /// <summary>The factor the constraints pin for a rank in a slot, or null when it is free.</summary>
    public int? Pinned(Slot s, int r)
    {
        if (!_pinned.TryGetValue(s, out var row))
        {
            row = new int?[Ranks];
            for (int i = 0; i < Ranks; i++) row[i] = PinnedByConstraints(s, i);
            _pinned[s] = row;
        }
        return row[r];
    }

    private int? PinnedByConstraints(Slot s, int r)
    {
        var lc = _c.For(s.Level);
        var id = _p.Layer.Ranks[r].Id;
        switch (s.Kind)
        {
            case SlotKind.Temporal:
                if (lc.Temporal.TryGetValue(id, out var f)) return f;
                if (lc.Order is { } order && !order.Contains(id)) return 1;
                return null;
            default:
                var axis = s.Kind == SlotKind.X ? Axis.X : Axis.Y;
                if (lc.Spatial.TryGetValue((id, axis), out var g)) return g;
                var allowed = axis == Axis.X ? lc.SpatialX : lc.SpatialY;
                return allowed is not null && !allowed.Contains(id) ? 1 : null;
        }
    }

    /// <summary>The product of a spatial slot's factors over every rank (how many children along its axis it uses).</summary>
    public static long Used(int[] factors)
    {
        long p = 1;
        foreach (var f in factors) p = checked(p * f);
        return p;
    }

    /// <summary>
    /// The objective of the point with every level's best loop order, or +infinity when a level's tiles
    /// do not fit or a fanout is exceeded. Every factor product must already equal the rank bounds.
    /// </summary>
    public double Cost(FactorPoint x) => Build(x) is { } s ? _model.Exact(s) : double.PositiveInfinity;


    /// <summary>The exact search's root bound: what every mapping costs at least.</summary>
    public double RootBound() => _model.RootBound();

    /// <summary>The point as the one Mapping type, with the orders <see cref="Cost"/> assumed; null when it is not valid.</summary>
    public Mapping? ToMapping(FactorPoint x) => Build(x) is { } s ? _model.ToMapping(s) : null;

    private State? _state;

    private State? Build(FactorPoint x)
    {
        Evaluations++;
        // One state, overwritten level by level: Apply sets every level's choice, extents and instances.
        var s = _state ??= new State(_model);
        for (int l = 0; l < Levels; l++)
        {
            var fan = _p.Arch.Levels[l].Fanout;
            if (Used(x.X[l]) > fan.X || Used(x.Y[l]) > fan.Y) return null;
            s.Keep[l] = x.Keep[l];
            s.Apply(l, new LevelChoice(x.T[l], Order(l, x.T[l]), x.X[l], x.Y[l]));
        }
        for (int l = 1; l < Levels; l++) if (!_model.Fits(l, s)) return null;
        _model.OptimizeOrders(s);
        return s;
    }

    /// <summary>The ranks with a factor above 1 at a level, in the order its constraint gives (<see cref="LevelConstraint.Arrange"/>) or in rank order.</summary>
    private int[] Order(int l, int[] t)
    {
        int n = 0;
        for (int r = 0; r < Ranks; r++) if (t[r] > 1) n++;
        var active = new int[n];
        for (int r = 0, i = 0; r < Ranks; r++) if (t[r] > 1) active[i++] = r;
        return _c.For(l).Arrange(active, r => _p.Layer.Ranks[r].Id)?.ToArray() ?? active;
    }
}
