using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// The exact search's model of one problem: what <see cref="TilingSearch"/> and <see cref="DescentModel"/>
/// ask of a partial mapping (<see cref="State"/>), answered by its parts: the problem compiled once
/// (<see cref="SearchProblem"/>), the mapspace's choices level by level (<see cref="LevelEnumeration"/>),
/// the search's own cost over the formula kernel (<see cref="ArrayCostModel"/>), loop orders for energy
/// (<see cref="OrderOptimizer"/>), and the inner-first bounds (<see cref="Solvers.InnerBound"/>,
/// <see cref="Solvers.OuterBound"/>). Every answer is re-costed by the reference <see cref="CostModel"/>.
/// </summary>
internal sealed class SearchModel
{
    private readonly LevelEnumeration _enumeration;
    private readonly ArrayCostModel _cost;
    private readonly OrderOptimizer _orders;
    private readonly InnerBound _inner;
    private readonly OuterBound _outer;

    public SearchModel(MapProblem p, bool deferOrders = false)
    {
        Problem = new SearchProblem(p, deferOrders);
        _enumeration = new LevelEnumeration(Problem);
        _cost = new ArrayCostModel(Problem);
        _orders = new OrderOptimizer(Problem, _cost);
        _inner = new InnerBound(Problem, _cost);
        _outer = new OuterBound(Problem, _cost, _inner, _enumeration, _orders);
    }

    /// <summary>The problem as the parts see it.</summary>
    public SearchProblem Problem { get; }
    public int Levels => Problem.Levels;
    public int Ranks => Problem.Ranks;
    public int TensorCount => Problem.TensorCount;
    public long[] Bound => Problem.Bound;
    public RankId[] RankIds => Problem.RankIds;

    /// <summary>
    /// True for the branch and bound on energy: it searches levels innermost first
    /// (<see cref="InnerChoices"/>, <see cref="InnerBound"/>) without branching on loop orders, and
    /// <see cref="OptimizeOrders"/> picks every level's best order at a leaf. Sound for energy only, where
    /// each level's order adds its own term (docs/mapspace.md, "Orders are chosen per level").
    /// </summary>
    public bool DeferOrders => Problem.DeferOrders;

    // ---- Level enumeration. ----

    /// <summary>The keep sets level d may choose, largest first.</summary>
    public IEnumerable<int> KeepOptions(int d, State s) => _enumeration.KeepOptions(d);

    /// <summary>True when the tiles level d keeps fit its capacity.</summary>
    public bool Fits(int d, State s) => _enumeration.Fits(d, s);

    /// <summary>Every decision level d can take, given the tile extents it has (outer-first).</summary>
    public IEnumerable<LevelChoice> LevelChoices(int d, State s) => _enumeration.LevelChoices(d, s);

    /// <summary>Every decision level d can take when the levels below it are decided (inner-first).</summary>
    public IEnumerable<LevelChoice> InnerChoices(int d, State s) => _enumeration.InnerChoices(d, s);

    /// <summary>The loop orders level d's temporal factors are searched in, one per class of orders that cost the same (<see cref="LevelEnumeration.Orders"/>).</summary>
    public IEnumerable<int[]> Orders(int d, int[] temporal) => _enumeration.Orders(d, temporal);

    /// <summary>Every spatial split of every level, in a fixed order.</summary>
    public IEnumerable<SpatialPlan> SpatialPlans() => _enumeration.SpatialPlans();

    /// <summary>Decides level d in an inner-first state (<see cref="State.ApplyInner"/>).</summary>
    public void ApplyInner(State s, int d, LevelChoice choice) => s.ApplyInner(d, choice);

    // ---- The search's own cost. ----

    /// <summary>A lower bound on the objective of every completion of an outer-first partial mapping (<see cref="ArrayCostModel.LowerBound"/>).</summary>
    public double LowerBound(State s, int loopsDecided, int keepDecidedAt) => _cost.LowerBound(s, loopsDecided, keepDecidedAt);

    /// <summary>The exact objective of a complete mapping.</summary>
    public double Exact(State s) => _cost.Exact(s);

    /// <summary>The exact energy and cycles of a complete mapping, whatever the objective (<see cref="ArrayCostModel.ExactParts"/>).</summary>
    public (double Energy, double Cycles) ExactParts(State s) => _cost.ExactParts(s);

    /// <summary>The energy of a complete mapping without the tensors bounded by their order-free floor (<see cref="ArrayCostModel.PlainEnergy"/>).</summary>
    public double PlainEnergy(State s) => _cost.PlainEnergy(s);

    /// <summary>The order-free floors of a complete mapping's floored tensors (<see cref="Solvers.InnerBound.WindowFloor"/>), summed.</summary>
    public double FlooredEnergy(State s) => Problem.Tensors.Where(Problem.Floored).Sum(t => _inner.WindowFloor(t, s, 0));

    /// <summary>The floors of a complete mapping's floored tensors in its own orders (<see cref="Solvers.InnerBound.WindowFloor"/> ordered: the refetched tiles of that nest).</summary>
    public double OrderedFlooredEnergy(State s) => Problem.Tensors.Where(Problem.Floored).Sum(t => _inner.WindowFloor(t, s, 0, ordered: true));

    /// <summary>
    /// <see cref="OrderedFlooredEnergy(State)"/> of a complete mapping in one member of its plan's class (the plan itself or one
    /// of its <see cref="SpatialPlan.Variants"/>): the same floor with that member as the plan, alone (the floor's least over the
    /// class's members and their spatial orders, taken over the member's orders only), so a bound of the leaf in that member.
    /// </summary>
    public double OrderedFlooredEnergy(State s, SpatialPlan member)
    {
        var plan = s.Plan;
        s.Plan = member.Variants.Count == 0 ? member : _alone.GetOrAdd(member, m => new SpatialPlan(m.X, m.Y));
        try { return OrderedFlooredEnergy(s); }
        finally { s.Plan = plan; }
    }

    // Per plan with variants, the same split without them (its floors' caches are keyed by the plan).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<SpatialPlan, SpatialPlan> _alone = new(ReferenceEqualityComparer.Instance);

    /// <summary>The bandwidth cycles no order at level <paramref name="open"/> or below changes (<see cref="ArrayCostModel.CyclesFixedAbove"/>).</summary>
    public double CyclesFixedAbove(State s, int open) => _cost.CyclesFixedAbove(s, open);

    /// <summary>The lower bound before any decision: what every mapping costs at least.</summary>
    public double RootBound() => _cost.RootBound();

    /// <summary>The least cycles a fused class's held tensors put on their fusion levels' ports (<see cref="ArrayCostModel.HeldPortCycles"/>).</summary>
    public double HeldPortCycles() => _cost.HeldPortCycles();

    // ---- Loop orders (energy). ----

    /// <summary>Picks every level's best loop order for a complete tiling (<see cref="OrderOptimizer.OptimizeOrders"/>).</summary>
    public void OptimizeOrders(State s) => _orders.OptimizeOrders(s);

    /// <summary>The order of one level's loops minimizing a per-loop cost (<see cref="OrderOptimizer.BestOrder"/>).</summary>
    internal (double Value, int[] Order) BestOrder(int[] factors, Func<int, long, double> cost) => _orders.BestOrder(factors, cost);

    /// <summary>What each of level d's <paramref name="orders"/> adds to a complete tiling's energy (<see cref="OrderOptimizer.LevelEnergies"/>).</summary>
    public double[] LevelEnergies(State s, int d, IReadOnlyList<int[]> orders) => _orders.LevelEnergies(s, d, orders);

    /// <summary>Records what level d's loops add at least to the visits below it (<see cref="OrderOptimizer.RecordInnerVisits"/>).</summary>
    public void RecordInnerVisits(State s, int d) => _orders.RecordInnerVisits(s, d);

    // ---- Bounds of the inner-first search (energy). ----

    /// <summary>The plain bound of an inner-first node (<see cref="Solvers.InnerBound.Bound"/>).</summary>
    public double InnerBound(State s, int d, double cutoff = double.PositiveInfinity) => _inner.Bound(s, d, cutoff);

    /// <summary>A tensor's term of a plan root's plain bound with level m its innermost keeper (<see cref="Solvers.InnerBound.UnkeptShare"/>).</summary>
    public double UnkeptShare(State s, SearchTensor t, int m) => _inner.UnkeptShare(t, s, m);

    /// <summary>A tensor's smallest possible tile at an undecided level m above the decided level d (<see cref="Solvers.InnerBound.LeastTileAbove"/>).</summary>
    public long LeastTileAbove(State s, SearchTensor t, int m, int d) => _inner.LeastTileAbove(t, s, m, d);

    /// <summary>A plan root's bound with every loop above the register level as one level (<see cref="Solvers.OuterBound.RegisterOrders"/>; 0 where it does not apply).</summary>
    public double RegisterOrders(State s, double plain, double cutoff) => _outer.RegisterOrders(s, plain, cutoff);

    /// <summary>The plain bound raised by the outer bound where it applies (<see cref="Solvers.OuterBound.Refine"/>).</summary>
    public double RefineBound(State s, int d, double bound, double cutoff) => _outer.Refine(s, d, bound, cutoff, out _);

    /// <summary>
    /// The search's stop check, looked at by the outer bound's dearest term (<see cref="Solvers.OuterBound.Stop"/>): once it is
    /// true, <see cref="RefineBound(State, int, double, double)"/> returns soon, with a smaller bound (still valid). Null: never stops.
    /// </summary>
    public Func<bool>? Stop { get => _outer.Stop; set => _outer.Stop = value; }

    /// <summary>The choices the outer bound's whole-tile term has taken in this model (<see cref="Solvers.OuterBound.WholeTileChoices"/>).</summary>
    internal long WholeTileChoices => _outer.WholeTileChoices;

    /// <summary><see cref="RefineBound(State, int, double, double)"/>, with the cases that bound the next node's children (null when they were not recorded).</summary>
    public double RefineBound(State s, int d, double bound, double cutoff, out ChildBounds? children) => _outer.Refine(s, d, bound, cutoff, out children);

    // ---- A state as a Mapping and back. ----

    /// <summary>
    /// A mapping as a complete state of this search (the inverse of <see cref="ToMapping"/>), so the
    /// search's own cost of any mapping can be compared with the reference model's; null when the mapping
    /// has two temporal loops over one rank at a level, which the search's levels never hold.
    /// </summary>
    public State? FromMapping(Mapping mapping)
    {
        if (mapping.Levels.Count != Levels) throw new ArgumentException($"The mapping has {mapping.Levels.Count} levels; the architecture has {Levels}.", nameof(mapping));
        var position = RankIds.Select((r, i) => (r, i)).ToDictionary(x => x.r, x => x.i);
        var s = new State(Problem);
        for (int d = 0; d < Levels; d++)
        {
            var level = mapping.Levels[d];
            int[] temporal = new int[Ranks], x = new int[Ranks], y = new int[Ranks];
            Array.Fill(temporal, 1); Array.Fill(x, 1); Array.Fill(y, 1);
            var order = new List<int>();
            foreach (var loop in level.Temporal)
            {
                int r = position[loop.Rank];
                if (order.Contains(r)) return null;
                order.Add(r);
                temporal[r] = loop.Factor;
            }
            foreach (var loop in level.Spatial)
            {
                var axis = loop.Axis == Axis.X ? x : y;
                axis[position[loop.Rank]] = checked(axis[position[loop.Rank]] * loop.Factor);
            }
            foreach (var t in Problem.Tensors) if (level.Keep.Contains(t.Spec.Id)) s.Keep[d] |= t.Bit;
            s.Apply(d, new LevelChoice(temporal, order.Where(r => temporal[r] > 1).ToArray(), x, y));
        }
        return s;
    }

    /// <summary>The complete state as the one Mapping type (<see cref="SearchProblem.ToMapping"/>).</summary>
    public Mapping ToMapping(State s) => Problem.ToMapping(s);

    /// <summary>The complete state as a Mapping with the spatial split of <paramref name="plan"/>, a variant of its plan (<see cref="SpatialPlan.Variants"/>).</summary>
    public Mapping ToMapping(State s, SpatialPlan plan) => Problem.ToMapping(s, plan);
}
