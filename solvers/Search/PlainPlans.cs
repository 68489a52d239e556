using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// A problem's spatial plans (<see cref="SearchModel.SpatialPlans"/>, in their order) with each plan's plain root bound
/// (<see cref="InnerBound.Bound"/> with no level decided) kept in the parts that depend neither on the levels' capacities nor
/// on which level may keep which tensor: per plan, tensor and level m, the tensor's term with m its innermost keeper
/// (<see cref="InnerBound.UnkeptShare"/>) and its smallest tile at m (<see cref="InnerBound.LeastTileAbove"/>). Made once from
/// one problem, it gives exactly the plain bounds of every problem it <see cref="Serves"/> (the same layer shape, architecture
/// but for capacities, convention and spatial constraints, whatever their keep and bypass constraints and capacities): the MAC
/// energy plus, per tensor in order, the least of its terms over DRAM and the levels that problem lets keep it and whose
/// capacity holds that tile, as <see cref="InnerBound.Bound"/> sums them (docs/fusion.md, "The spatial plans' plain bounds,
/// made once per layer shape").
/// </summary>
internal sealed class PlainPlans
{
    private readonly SearchProblem _from;
    private readonly string _shape;
    private readonly int _tensors, _levels;
    private readonly double[] _share; // [(plan x tensors + tensor) x levels + level]
    private readonly long[] _tile;    // the same places; level 0 (DRAM, unbounded) unused

    private PlainPlans(SearchProblem from, List<SpatialPlan> plans, double[] share, long[] tile)
    {
        _from = from;
        _shape = Zoo.ShapeKey(from.Map.Layer);
        _tensors = from.TensorCount;
        _levels = from.Levels;
        Plans = plans;
        _share = share;
        _tile = tile;
    }

    /// <summary>The plans, in the order the problem's model lists them.</summary>
    public IReadOnlyList<SpatialPlan> Plans { get; }

    /// <summary>
    /// The plans of <paramref name="model"/>'s problem with their parts; null when <paramref name="stopped"/> said so while they
    /// were listed, or when the problem's plain root bound is not of this form (a tensor bounded by its order-free window floor,
    /// or a search that is not the inner-first one on energy).
    /// </summary>
    public static PlainPlans? Of(SearchModel model, Func<bool> stopped)
    {
        var p = model.Problem;
        if (!p.DeferOrders || p.Imperfect || p.AnyFloored) return null;
        int levels = p.Levels, tensors = p.TensorCount;
        var plans = new List<SpatialPlan>();
        var share = new List<double>();
        var tile = new List<long>();
        foreach (var plan in model.SpatialPlans())
        {
            if ((plans.Count & 255) == 0 && stopped()) return null;
            var s = State.PlanRoot(model, plan);
            foreach (var t in p.Tensors)
                for (int m = 0; m < levels; m++)
                {
                    share.Add(model.UnkeptShare(s, t, m));
                    tile.Add(m == 0 ? 0 : model.LeastTileAbove(s, t, m, levels));
                }
            plans.Add(plan);
        }
        return new PlainPlans(p, plans, [.. share], [.. tile]);
    }

    /// <summary>
    /// True when the plans and their parts are <paramref name="p"/>'s own: its model would list the same plans in the same order
    /// and compute the same parts. The listing (<see cref="LevelEnumeration.SpatialPlans"/>) sees the rank bounds, the fanouts
    /// and hop energies, the convention, the objective and the spatial constraints; the parts see the layer's shape (its
    /// tensors' indexing and roles, its MACs), the levels' energies, fanouts and window reuse, the compute unit's MAC energy and
    /// the convention. The capacities and the keep and bypass constraints enter only <see cref="Plain"/>.
    /// </summary>
    public bool Serves(SearchProblem p)
    {
        if (ReferenceEquals(p, _from)) return true;
        if (p.Levels != _levels || p.TensorCount != _tensors || !p.DeferOrders || p.Imperfect || p.AnyFloored
            || p.SharedWindows != _from.SharedWindows || p.NoNetwork != _from.NoNetwork) return false;
        var (a, b) = (p.Map, _from.Map);
        if (a.Objective != b.Objective || a.Convention != b.Convention || a.OneAxis != b.OneAxis || a.Caps != b.Caps
            || !SpatiallyFree(a.Constraints) || !SpatiallyFree(b.Constraints)) return false;
        if (!p.Bound.AsSpan().SequenceEqual(_from.Bound) || Zoo.ShapeKey(a.Layer) != _shape) return false;
        if (a.Arch.Compute != b.Arch.Compute) return false;
        for (int l = 0; l < _levels; l++)
        {
            var (x, y) = (a.Arch.Levels[l], b.Arch.Levels[l]);
            if (x.ReadEnergy != y.ReadEnergy || x.WriteEnergy != y.WriteEnergy || x.Fanout != y.Fanout || x.Window != y.Window) return false;
        }
        return true;
    }

    /// <summary>No constraint on spatial factors or axes (the fused classes' constraints pin only DRAM's loops and keep sets).</summary>
    private static bool SpatiallyFree(MappingConstraints? c)
        => c is null || (!c.AxisDependent && c.Levels.Values.All(l => l.Spatial.Count == 0 && l.SpatialX is null && l.SpatialY is null));

    /// <summary>
    /// Plan <paramref name="plan"/>'s plain root bound in problem <paramref name="p"/> (one it <see cref="Serves"/>): the MAC energy
    /// plus, per tensor, the least of its terms over DRAM and each level m that p lets keep it (<see cref="SearchProblem.MayKeep"/>)
    /// with its smallest tile there within m's capacity, the test of <see cref="InnerBound.CanKeepAbove"/>; the sum in
    /// <see cref="InnerBound.Bound"/>'s order, so the same number.
    /// </summary>
    public double Plain(SearchProblem p, int plan)
    {
        double sum = 0;
        int at = plan * _tensors * _levels;
        foreach (var t in p.Tensors)
        {
            double best = double.PositiveInfinity;
            for (int m = 0; m < _levels; m++)
            {
                int k = at + t.Index * _levels + m;
                if (m != 0 && !p.MayKeepTile(t, m, _tile[k])) continue;
                best = Math.Min(best, _share[k]);
            }
            sum += best;
        }
        return p.MacEnergy + sum;
    }
}
