using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// <c>map --imperfect</c>: every mapping of the imperfect mapspace (docs/mapspace.md, "Imperfect factors"),
/// enumerated and costed by the reference model (<see cref="CostModel.Evaluate"/> with
/// <see cref="Factorization.Imperfect"/>). OPTIMAL only when the enumeration finishes; a stopped one is
/// FEASIBLE with the bound every mapping meets (the MACs' energy and the MACs spread over every compute unit).
/// It has no bounds of its own, so it serves small layers; the branch and bound covers perfect factors only.
/// </summary>
public sealed class ImperfectEnumeration
{
    private readonly MapProblem _p;
    private readonly int _n;
    private readonly List<(int Level, Axis? Axis)> _slots = [];

    /// <summary>Prepares the enumeration of one problem (default convention, one objective, no constraints).</summary>
    public ImperfectEnumeration(MapProblem problem)
    {
        if (problem.Convention != CostConvention.Default)
            throw new ArgumentException("Imperfect factors are counted by the default model only.", nameof(problem));
        if (problem.Arch.HasWindowCapabilities)
            throw new ArgumentException(ImperfectRules.WindowCapabilities(problem.Arch.Name), nameof(problem));
        if (problem.Constraints is not null || problem.Caps is not null)
            throw new ArgumentException("The imperfect enumeration takes no constraints and one objective term.", nameof(problem));
        _p = problem;
        _n = problem.Arch.Levels.Count;
        for (int l = 0; l < _n; l++)
        {
            _slots.Add((l, null));
            if (problem.Arch.Levels[l].Fanout.X > 1) _slots.Add((l, Axis.X));
            if (problem.Arch.Levels[l].Fanout.Y > 1) _slots.Add((l, Axis.Y));
        }
    }

    /// <summary>
    /// Every factor vector one rank can take, one factor per slot (in nest order: per level its temporal slot,
    /// then X, then Y): from the innermost slot out, a temporal factor up to what is left
    /// (<c>ceil(bound / inner)</c>, so no iteration is ever empty), a spatial factor up to the fanout whose span
    /// divides the bound, and the outermost temporal slot what covers the rest.
    /// </summary>
    public IReadOnlyList<int[]> RankOptions(Rank rank) => RankOptions(rank, () => false)!;

    /// <summary>As <see cref="RankOptions(Rank)"/>, or null once <paramref name="stop"/> says so (checked every 4,096 vectors) or past <see cref="MaxOptions"/> vectors.</summary>
    private List<int[]>? RankOptions(Rank rank, Func<bool> stop)
    {
        var result = new List<int[]>();
        var f = new int[_slots.Count];
        bool given = false;
        void Fill(int slot, long inner)
        {
            if (given) return;
            if (result.Count % 4096 == 4095 && (stop() || result.Count > MaxOptions)) { given = true; return; }
            long most = (rank.Bound + inner - 1) / inner;
            if (slot == 0)
            {
                f[0] = (int)most;
                result.Add((int[])f.Clone());
                return;
            }
            var (level, axis) = _slots[slot];
            long room = axis switch { Axis.X => _p.Arch.Levels[level].Fanout.X, Axis.Y => _p.Arch.Levels[level].Fanout.Y, _ => most };
            for (long x = 1; x <= Math.Min(most, room); x++)
            {
                if (axis is not null && x > 1 && rank.Bound % (inner * x) != 0) continue;
                f[slot] = (int)x;
                Fill(slot - 1, inner * x);
            }
            f[slot] = 1;
        }
        Fill(_slots.Count - 1, 1);
        return given ? null : result;
    }

    /// <summary>The most factor vectors one rank may have before the enumeration gives up on the problem as too large.</summary>
    public const int MaxOptions = 1_000_000;

    /// <summary>Enumerates and returns the best mapping (the first in enumeration order among equals).</summary>
    public SolveResult Solve(SearchLimits limits)
    {
        var sw = Stopwatch.StartNew();
        var layer = _p.Layer;
        var arch = _p.Arch;
        bool Stop() => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);
        var (options, failed) = Options(Stop);
        if (options is null)
            return new SolveResult(SolveStatus.Unknown, null, null, null, AnyMappingFloor(_p), sw.Elapsed, 0, Name,
                $"the imperfect mapspace is too large to enumerate: listing rank {failed!.Id}'s factor vectors " +
                (Stop() ? "ran out of time" : $"passed {MaxOptions:N0}"));
        long explored = 0;
        Mapping? best = null;
        CostReport? bestReport = null;
        double bestValue = double.PositiveInfinity;
        var walk = new WalkState();
        limits.Progress?.Attach(() => new SearchSnapshot("imperfect enumeration", explored, best is null ? null : bestValue, AnyMappingFloor(_p)));
        foreach (var m in Walk(options, _ => true, Stop, walk))
        {
            if (++explored % 256 == 0 && Stop()) { walk.Stopped = true; break; }
            var report = CostModel.Evaluate(layer, arch, m, Factorization.Imperfect);
            double value = report.Objective(_p.Objective);
            if (value < bestValue) { bestValue = value; best = m; bestReport = report; }
        }
        bool stopped = walk.Stopped;
        if (best is null)
            return new SolveResult(stopped ? SolveStatus.Unknown : SolveStatus.Infeasible, null, null, null, AnyMappingFloor(_p), sw.Elapsed, explored, Name,
                stopped ? "the enumeration stopped before it found a valid mapping" : "no mapping with imperfect factors fits the architecture");
        return new SolveResult(stopped ? SolveStatus.Feasible : SolveStatus.Optimal, best, bestReport, bestValue, stopped ? AnyMappingFloor(_p) : bestValue,
            sw.Elapsed, explored, Name);
    }

    private const string Name = "enumeration (imperfect factorization)";

    /// <summary>Every rank's factor vectors (<see cref="RankOptions(Rank)"/>), or the rank whose list ran out of time or past <see cref="MaxOptions"/>.</summary>
    internal (IReadOnlyList<int[]>[]? Options, Rank? Failed) Options(Func<bool> stop)
    {
        var options = new IReadOnlyList<int[]>[_p.Layer.Ranks.Count];
        for (int r = 0; r < options.Length; r++)
        {
            if (RankOptions(_p.Layer.Ranks[r], stop) is not { } list) return (null, _p.Layer.Ranks[r]);
            options[r] = list;
        }
        return (options, null);
    }

    /// <summary>
    /// Every mapping of the imperfect mapspace, in enumeration order (factor vectors, then keep sets, then orders):
    /// those whose canonical form (factors and keep sets, canonical orders) passes the checker and
    /// <paramref name="accept"/>. Ends early once <paramref name="stop"/> says so (checked between factor vectors and
    /// every 256 mappings), and then sets <see cref="WalkState.Stopped"/>.
    /// </summary>
    internal IEnumerable<Mapping> Walk(IReadOnlyList<int[]>[] options, Func<Mapping, bool> accept, Func<bool> stop, WalkState state)
    {
        var keepOptions = Enumerable.Range(0, _n).Select(l => KeepSets(l).ToList()).ToArray();
        var pick = new int[options.Length];
        long walked = 0;
        while (true)
        {
            var factors = Enumerable.Range(0, options.Length).Select(r => options[r][pick[r]]).ToArray();
            if (FitsFanouts(factors))
                foreach (var keeps in Cartesian(keepOptions))
                {
                    var canonical = Build(factors, keeps, null);
                    if (ValidityChecker.Check(_p.Layer, _p.Arch, canonical, Factorization.Imperfect).Count > 0 || !accept(canonical)) continue;
                    foreach (var orders in Orders(factors))
                    {
                        if (++walked % 256 == 0 && stop()) { state.Stopped = true; yield break; }
                        yield return Build(factors, keeps, orders);
                    }
                }
            int k = options.Length - 1;
            while (k >= 0 && ++pick[k] == options[k].Count) { pick[k] = 0; k--; }
            if (k < 0) yield break;
            if (stop()) { state.Stopped = true; yield break; }
        }
    }

    /// <summary>Whether a <see cref="Walk"/> ended because it was told to stop (a consumer that breaks off sets it itself).</summary>
    internal sealed class WalkState
    {
        public bool Stopped { get; set; }
    }

    /// <summary>A bound every mapping meets, imperfect or not, under the default model (<see cref="TilingSearch.AnyMappingFloor"/>).</summary>
    private static double AnyMappingFloor(MapProblem p) => TilingSearch.AnyMappingFloor(p);

    private bool FitsFanouts(int[][] factors)
    {
        for (int s = 0; s < _slots.Count; s++)
        {
            if (_slots[s].Axis is not { } axis) continue;
            long product = 1;
            foreach (var f in factors) product *= f[s];
            var fan = _p.Arch.Levels[_slots[s].Level].Fanout;
            if (product > (axis == Axis.X ? fan.X : fan.Y)) return false;
        }
        return true;
    }

    /// <summary>The keep sets of level l: every tensor at the outermost level; elsewhere every subset of the tensors whose role it may keep.</summary>
    private IEnumerable<TensorId[]> KeepSets(int l)
    {
        var tensors = _p.Layer.Tensors.Where(t => l == 0 || _p.Arch.Levels[l].MayKeep(t.Role)).Select(t => t.Id).ToArray();
        if (l == 0) { yield return tensors; yield break; }
        for (int mask = (1 << tensors.Length) - 1; mask >= 0; mask--)
            yield return tensors.Where((_, i) => (mask & (1 << i)) != 0).ToArray();
    }

    /// <summary>Every order of each level's temporal loops with a factor above 1 (the innermost level's order changes no count: one canonical order).</summary>
    private IEnumerable<int[][]> Orders(int[][] factors)
    {
        var perLevel = new List<List<int[]>>();
        for (int l = 0; l < _n; l++)
        {
            int slot = _slots.IndexOf((l, null));
            var active = Enumerable.Range(0, factors.Length).Where(r => factors[r][slot] > 1).ToArray();
            perLevel.Add(l == _n - 1 ? [active] : Permutations(active).ToList());
        }
        return Cartesian(perLevel.ToArray());
    }

    private Mapping Build(int[][] factors, TensorId[][] keeps, int[][]? orders)
    {
        var ranks = _p.Layer.Ranks;
        var levels = new List<LevelMapping>();
        for (int l = 0; l < _n; l++)
        {
            int slot = _slots.IndexOf((l, null));
            var order = orders?[l] ?? Enumerable.Range(0, ranks.Count).Where(r => factors[r][slot] > 1).ToArray();
            var temporal = order.Select(r => new TemporalLoop(ranks[r].Id, factors[r][slot]));
            var spatial = new List<SpatialLoop>();
            foreach (var axis in new[] { Axis.X, Axis.Y })
            {
                int s = _slots.IndexOf((l, axis));
                if (s >= 0) spatial.AddRange(Enumerable.Range(0, ranks.Count).Where(r => factors[r][s] > 1).Select(r => new SpatialLoop(ranks[r].Id, factors[r][s], axis)));
            }
            levels.Add(new LevelMapping(temporal, spatial, keeps[l]));
        }
        return new Mapping(levels);
    }

    private static IEnumerable<T[]> Cartesian<T>(IReadOnlyList<T>[] lists)
    {
        if (lists.Any(x => x.Count == 0)) yield break;
        var idx = new int[lists.Length];
        while (true)
        {
            yield return Enumerable.Range(0, lists.Length).Select(i => lists[i][idx[i]]).ToArray();
            int k = lists.Length - 1;
            while (k >= 0 && ++idx[k] == lists[k].Count) { idx[k] = 0; k--; }
            if (k < 0) yield break;
        }
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
            foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
                yield return [items[i], .. rest];
    }
}
