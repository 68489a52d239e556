using System.Diagnostics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// The fast heuristic mapper: a bottom-up cost descent from several starting structures
/// (docs/heuristics.md). Each start fixes a spatial plan (every fanout spread over the ranks that do
/// not index one chosen tensor, so that tensor is multicast or reduced) and keep sets; the buffers are
/// then grown from the innermost level outward by moving prime factors in from the outermost level
/// while the cost does not rise and the tiles fit, every level's loop order being the cheapest one
/// (exact per level for energy). The best starts are improved by keep-set climbing, a short seeded
/// annealing and a steepest descent over factor moves, exchanges and keep flips. Every candidate is
/// costed by the search's array copy of the cost model; the answer is re-checked by
/// <see cref="ValidityChecker"/> and re-costed by the reference <see cref="CostModel"/>. Deterministic;
/// it proves nothing, and <c>optimizer regress</c> measures how far it is from the exact optimum.
/// </summary>
public sealed class Descent(MapProblem problem)
{
    // How wide each stage looks; fixed, so the answer depends on the problem only.
    private const int KeepVariantPlans = 5;   // plans whose other keep sets are grown too
    private const int ResidentPlans = 2;      // plans tried with one tensor whole in one buffer
    private const int SpreadingPlans = 3;     // plans tried with their axes spread in the other ways
    private const int ClimbedPlans = 3;       // plans whose keep sets are climbed
    private const int ShortAnneals = 8;       // starts annealed briefly
    private const int ShortAnnealSteps = 200;
    private const int LongAnneals = 1;        // of those, annealed longer and then polished
    private const int LongAnnealSteps = 600;

    /// <summary>Runs the descent; the time limit and cancellation stop it early with the best mapping found so far.</summary>
    /// <exception cref="NotSupportedException">The problem has global constraints (<see cref="MappingConstraints.Global"/>), which the descent does not honour.</exception>
    public SolveResult Solve(SearchLimits limits)
    {
        if (problem.Constraints is { Global.Count: > 0 } g)
            throw new NotSupportedException($"The descent does not honour {g.Global[0].Name(problem.Arch)}: {GlobalConstraint.Honoured}.");
        var sw = Stopwatch.StartNew();
        var contradictions = Infeasibility.Contradictions(problem);
        if (contradictions.Count > 0)
            return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, sw.Elapsed, 0, "descent", string.Join(" ", contradictions));
        var m = new DescentModel(problem);
        bool Stopped() => limits.Cancel.IsCancellationRequested || (limits.TimeLimit is { } t && sw.Elapsed > t);
        var moves = new DescentMoves(m, Stopped);
        var starts = Starts(m, moves, Stopped);
        (FactorPoint X, double V)? best = starts.Count > 0 && !double.IsInfinity(starts[0].V) ? starts[0] : null;
        if (best is not null)
        {
            // Successive halving: a short anneal from each of the best few distinct starts, a longer one
            // from the best of those, then steepest descent with exchanges.
            int seed = 1;
            var round = starts.Take(ShortAnneals).Select(s => moves.Anneal(s.X, s.V, ShortAnnealSteps, seed++)).ToList();
            foreach (var (x0, v0) in round.OrderBy(s => s.V).Take(LongAnneals))
            {
                var (x, v) = moves.Anneal(x0, v0, LongAnnealSteps, seed++);
                v = moves.Improve(x, v);
                if (v < best.Value.V) best = (x, v);
            }
        }
        double bound = m.RootBound();
        if (best is not { } answer)
            return new SolveResult(SolveStatus.Unknown, null, null, null, bound, sw.Elapsed, m.Evaluations, "descent",
                Stopped() ? "The descent stopped before it found a valid mapping." : "The descent found no valid mapping from any of its starts.");
        var mapping = m.ToMapping(answer.X) ?? throw new InvalidOperationException("The descent's best point is not valid; this is a bug.");
        var report = Recheck(mapping, answer.V);
        if (problem.Objective != Objective.Energy) (mapping, report) = ReorderForObjective(mapping, report);
        // Neighbour forwarding removes words the descent's model counts: its root bound is then no bound.
        if (problem.Arch.HasForwarding) bound = TilingSearch.AnyMappingFloor(problem);
        return new SolveResult(SolveStatus.Feasible, mapping, report, report.Objective(problem.Objective), Math.Min(bound, report.Objective(problem.Objective)),
            sw.Elapsed, m.Evaluations, "descent");
    }

    /// <summary>
    /// The screened starting points, best first and distinct: every plan regrown with its first keep
    /// set; for the best plans, their other keep sets, a tensor resident in one buffer, one rank per
    /// axis; then keep-set climbing from the best point of each of the best plans.
    /// </summary>
    private List<(FactorPoint X, double V)> Starts(DescentModel m, DescentMoves moves, Func<bool> stopped)
    {
        var starts = new List<(FactorPoint X, double V)>();
        var plans = Plans(m).ToList();
        var screened = new List<(int Plan, double V)>();
        for (int i = 0; i < plans.Count && !stopped(); i++)
        {
            var (x, v) = moves.Regrown(KeepVariants(m, plans[i]).First());
            starts.Add((x, v));
            screened.Add((i, v));
        }
        // Best first, each spatial plan once (a plan topped up can equal one that was not).
        var ranked = screened.OrderBy(p => p.V).Select(p => p.Plan).DistinctBy(i => plans[i].SpatialKey()).ToList();
        foreach (var i in ranked.Take(KeepVariantPlans))
            foreach (var variant in KeepVariants(m, plans[i]).Skip(1))
                if (!stopped()) starts.Add(moves.Regrown(variant));
        foreach (var i in ranked.Take(ResidentPlans))
            foreach (var x in Residents(m, KeepVariants(m, plans[i]).First()))
                if (!stopped()) starts.Add((x, moves.Grown(x)));
        foreach (var i in ranked.Take(SpreadingPlans))
        {
            var keeps = starts.Where(s => s.X.SpatialKey() == plans[i].SpatialKey()).OrderBy(s => s.V).First().X.Keep;
            var (fx, fy) = Favoured(m, i);
            foreach (var (sx, sy) in OtherSpreadings)
            {
                if (stopped()) break;
                var plan = Plan(m, fx, fy, sx, sy);
                Array.Copy(keeps, plan.Keep, keeps.Length);
                starts.Add(moves.Regrown(plan));
            }
        }
        foreach (var (x, v) in starts.OrderBy(s => s.V).GroupBy(s => s.X.SpatialKey()).Select(g => g.First()).Take(ClimbedPlans).ToList())
            if (!stopped()) starts.Add(moves.ClimbKeeps(x, v));
        var distinct = new HashSet<string>();
        return starts.OrderBy(s => s.V).Where(s => distinct.Add(s.X.Key())).ToList();
    }

    /// <summary>
    /// The spatial plans to start from, one per pair of favoured tensors (or none, -1) for the X and Y
    /// axes: every fanout's X axis spread over the ranks that do not index the first tensor and its Y
    /// axis over those that do not index the second, so that tensor is multicast (operands) or reduced
    /// (outputs) along that axis. Every temporal factor is at the outermost level.
    /// </summary>
    private IEnumerable<FactorPoint> Plans(DescentModel m)
    {
        for (int i = 0; i < (m.Tensors + 1) * (m.Tensors + 1); i++)
        {
            var (fx, fy) = Favoured(m, i);
            yield return Plan(m, fx, fy, Spreading.Product, Spreading.Product);
        }
        for (int i = 0; i < (m.Tensors + 1) * (m.Tensors + 1); i++)
        {
            var (fx, fy) = Favoured(m, i);
            yield return Plan(m, fx, fy, Spreading.TopUp, Spreading.TopUp);
        }
    }

    private static readonly (Spreading X, Spreading Y)[] OtherSpreadings =
        [(Spreading.OneRank, Spreading.Product), (Spreading.Product, Spreading.OneRank), (Spreading.OneRank, Spreading.OneRank), (Spreading.TopUp, Spreading.TopUp)];

    /// <summary>The favoured tensors (X, Y) of plan i in the order of <see cref="Plans"/>.</summary>
    private static (int X, int Y) Favoured(DescentModel m, int i) => (i % ((m.Tensors + 1) * (m.Tensors + 1)) / (m.Tensors + 1) - 1, i % (m.Tensors + 1) - 1);

    /// <summary>
    /// The plan that spreads every fanout's X axis over the ranks not indexing tensor fx and its Y axis over
    /// those not indexing fy (any rank for -1), innermost fanout first: the largest product of factors
    /// that fits (spatial factors need not fill the fanout), or another <see cref="Spreading"/> per axis.
    /// Pinned factors are placed first.
    /// </summary>
    private FactorPoint Plan(DescentModel m, int fx, int fy, Spreading alongX, Spreading alongY)
    {
        var x = m.Base();
        for (int l = m.Levels - 1; l >= 0; l--)
        {
            var fan = problem.Arch.Levels[l].Fanout;
            if (fan.X > 1) Spread(m, x, new Slot(l, SlotKind.X), fx, alongX);
            if (fan.Y > 1) Spread(m, x, new Slot(l, SlotKind.Y), fy, alongY);
        }
        return x;
    }

    /// <summary>How a plan fills an axis: the largest product of the favoured ranks' factors that fits; the same of one rank only; or the first, topped up with the other ranks' factors in the room left.</summary>
    private enum Spreading { Product, OneRank, TopUp }

    /// <summary>
    /// Fills a spatial slot with the largest product of factors, taken from the outermost level, of the
    /// free ranks that do not index tensor t (any rank when t is -1), as <paramref name="how"/> says.
    /// </summary>
    private static void Spread(DescentModel m, FactorPoint x, Slot slot, int t, Spreading how)
    {
        Fill(m, x, slot, r => t < 0 || !m.Indexes[t][r], how == Spreading.OneRank);
        if (how == Spreading.TopUp && t >= 0) Fill(m, x, slot, r => m.Indexes[t][r], single: false);
    }

    /// <summary>Moves into a spatial slot the largest product of factors of the eligible free ranks that the room left along its axis allows.</summary>
    private static void Fill(DescentModel m, FactorPoint x, Slot slot, Func<int, bool> eligible, bool single)
    {
        var outer = new Slot(0, SlotKind.Temporal);
        var ranks = Enumerable.Range(0, m.Ranks)
            .Where(r => eligible(r) && m.Pinned(slot, r) is null && m.Pinned(outer, r) is null && x.T[0][r] > 1).ToArray();
        long room = m.Room(slot) / DescentModel.Used(x.Of(slot));
        var best = new int[m.Ranks];
        long bestProduct = 1;
        var cur = new int[m.Ranks];
        Search(0, 1, 0);
        for (int r = 0; r < m.Ranks; r++)
            if (best[r] > 1) { x.T[0][r] /= best[r]; x.Of(slot)[r] *= best[r]; }

        void Search(int i, long product, int used)
        {
            if (product > bestProduct) { bestProduct = product; Array.Copy(cur, best, m.Ranks); }
            if (i == ranks.Length) return;
            int r = ranks[i];
            cur[r] = 1;
            Search(i + 1, product, used);
            if (single && used > 0) return;
            for (int f = 2; f <= x.T[0][r] && product * f <= room; f++)
            {
                if (x.T[0][r] % f != 0) continue;
                cur[r] = f;
                Search(i + 1, product * f, used + 1);
            }
            cur[r] = 1;
        }
    }

    /// <summary>
    /// Keep sets to start from, the plan's own first: every level keeps what it may, except that a
    /// tensor whose tiles have gaps (a stride past its window) passes every level but the outermost and
    /// its innermost possible keeper; then the same with that tensor kept by the outermost level only;
    /// then every level keeping what it may; and each of those with one tensor passing its innermost
    /// possible keeper.
    /// </summary>
    private static IEnumerable<FactorPoint> KeepVariants(DescentModel m, FactorPoint x)
    {
        var bases = new List<FactorPoint> { x };
        for (int t = 0; t < m.Tensors; t++)
        {
            int bit = 1 << t, l = Innermost(m, t);
            if (l <= 0 || (m.MustKeep[l] & bit) != 0) continue;
            var v = x.Clone();
            v.Keep[l] &= ~bit;
            bases.Add(v);
        }
        foreach (var b in bases)
        {
            // Gap-free forms: tensors with gaps kept only at their innermost possible keeper, or nowhere below the outermost level.
            var seen = new List<int[]> { b.Keep };
            foreach (bool keepInnermost in new[] { true, false })
            {
                var g = b.Clone();
                for (int t = 0; t < m.Tensors; t++)
                {
                    if (!m.Gappy[t]) continue;
                    int inner = Innermost(m, t);
                    for (int l = 1; l < m.Levels; l++)
                        if ((m.MustKeep[l] & (1 << t)) == 0 && (l < inner || !keepInnermost)) g.Keep[l] &= ~(1 << t);
                }
                if (seen.Any(k => k.SequenceEqual(g.Keep))) continue;
                seen.Add(g.Keep);
                yield return g;
            }
            yield return b;
        }
    }

    /// <summary>The innermost level that may keep tensor t (0 when only the outermost may).</summary>
    private static int Innermost(DescentModel m, int t)
    {
        for (int l = m.Levels - 1; l >= 1; l--) if ((m.MayKeep[l] & (1 << t)) != 0) return l;
        return 0;
    }

    /// <summary>
    /// Starts in which one tensor is resident in one buffer level that keeps it: every factor of the
    /// ranks indexing it moves from the outermost level into that level (when the tiles still fit), so
    /// the tensor is fetched from the outermost level once.
    /// </summary>
    private static IEnumerable<FactorPoint> Residents(DescentModel m, FactorPoint plan)
    {
        var outer = new Slot(0, SlotKind.Temporal);
        for (int l = 1; l < m.Levels; l++)
            for (int t = 0; t < m.Tensors; t++)
            {
                if ((plan.Keep[l] & (1 << t)) == 0) continue;
                var x = plan.Clone();
                var slot = new Slot(l, SlotKind.Temporal);
                for (int r = 0; r < m.Ranks; r++)
                {
                    if (!m.Indexes[t][r] || m.Pinned(slot, r) is not null || m.Pinned(outer, r) is not null) continue;
                    x.T[l][r] *= x.T[0][r];
                    x.T[0][r] = 1;
                }
                if (!double.IsInfinity(m.Cost(x))) yield return x;
            }
    }

    /// <summary>Re-checks the answer with the validity checker and the constraints and re-costs it with the reference model; a disagreement is a bug, reported loudly.</summary>
    private CostReport Recheck(Mapping mapping, double value)
    {
        var violations = ValidityChecker.Check(problem.Layer, problem.Arch, mapping);
        if (violations.Count > 0)
            throw new InvalidOperationException($"The descent returned an invalid mapping ({violations[0].Message}); this is a bug.");
        if (problem.Constraints is { } c && !ConstraintCheck.Allows(c, mapping))
            throw new InvalidOperationException("The descent returned a mapping that breaks the constraints; this is a bug.");
        var report = CostModel.Evaluate(problem.Layer, problem.Arch, mapping);
        double reference = report.Objective(problem.Objective);
        // The descent's model has no window capabilities (it searches as if every window slid and nothing were forwarded): the answer is the reference model's cost.
        if (problem.Arch.HasWindowCapabilities) return report;
        if (Math.Abs(reference - value) > 1e-9 * Math.Max(1, Math.Abs(reference)))
            throw new InvalidOperationException($"The descent costed its mapping at {value} but the cost model says {reference}; this is a bug.");
        return report;
    }

    /// <summary>
    /// For latency and EDP: the descent's loop orders are the energy-optimal ones; swap neighbouring loops
    /// while the reference model says the objective drops (cycles depend on orders through bandwidth).
    /// </summary>
    private (Mapping, CostReport) ReorderForObjective(Mapping mapping, CostReport report)
    {
        var draft = MappingDraft.From(mapping);
        double value = report.Objective(problem.Objective);
        for (bool improved = true; improved;)
        {
            improved = false;
            for (int l = 0; l < mapping.Levels.Count && !improved; l++)
                foreach (var swap in draft.SwapMoves(l))
                    if (swap.Value(problem) is { } v && v < value * (1 - 1e-12)) { draft = swap; value = v; improved = true; break; }
        }
        var reordered = draft.ToMapping();
        return (reordered, CostModel.Evaluate(problem.Layer, problem.Arch, reordered));
    }
}
