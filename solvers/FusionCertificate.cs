using System.Diagnostics;
using System.Text;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers.Z3;

namespace Optimizer.Solvers;

/// <summary>
/// The final choice of the fused search as a Z3 model (docs/fusion.md, "Certificate"): one Boolean per
/// surviving partial mapping of every layer, exactly one per layer, a layer's incoming key equal to its
/// predecessor's outgoing key, each level's reservation within its capacity, and the objective below a
/// threshold. Unsat at the found optimum proves no combination of survivors costs less. Energy and
/// latency are linear questions; EDP (a product of two sums) is answered by linear questions over
/// ranges of cycles, so that Z3 never faces nonlinear arithmetic.
/// </summary>
public static class FusionCertificate
{
    /// <summary>Relative tolerance below the optimum, for floating sums of the same costs.</summary>
    public const double Tolerance = 1e-9;

    /// <summary>At most this many linear questions for one EDP certificate; beyond it the answer is Unknown.</summary>
    public const int MaxEdpQuestions = 400;

    /// <summary>Asks whether some combination of survivors has an objective below <paramref name="threshold"/>; returns the answer and the SMT-LIB 2 text of the question(s).</summary>
    public static (Z3Status Status, string Smt2) Check(Architecture arch, Objective objective, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double threshold, TimeSpan? timeout)
    {
        if (survivors.Count == 0) throw new ArgumentException("There are no layers to certify.", nameof(survivors));
        using var ctx = new Z3Context();
        var model = new Model(ctx, arch, survivors);
        if (objective == Objective.Energy) return model.Ask([model.Energy < threshold], timeout);
        if (objective == Objective.Latency) return model.Ask([model.CyclesReal < threshold], timeout);
        return Edp(model, survivors, threshold, timeout);
    }

    /// <summary>Certifies a found optimum: the question at <c>optimum x (1 - Tolerance)</c>.</summary>
    public static (Z3Status Status, string Smt2) Certify(Architecture arch, Objective objective, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double optimum, TimeSpan? timeout)
        => Check(arch, objective, survivors, optimum * (1 - Tolerance), timeout);

    /// <summary>
    /// energy x cycles below T, asked as linear questions: for cycles in [a, b], is there a combination
    /// with energy below T / a? Unsat for a range proves that none in it reaches T (energy at least T/a
    /// and cycles at least a). A sat answer whose product is below T is a real counterexample; otherwise
    /// the range is split at the answer's cycles, which excludes it from both halves.
    /// </summary>
    private static (Z3Status, string) Edp(Model model, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double threshold, TimeSpan? timeout)
    {
        var clock = Stopwatch.StartNew();
        double minEnergy = survivors.Sum(l => l.Min(p => p.Energy));
        long minCycles = survivors.Sum(l => l.Min(p => p.Cycles));
        long maxCycles = survivors.Sum(l => l.Max(p => p.Cycles));
        long top = minEnergy > 0 ? (long)Math.Min(maxCycles, Math.Floor(threshold / minEnergy)) : maxCycles;
        var text = new StringBuilder();
        var ranges = new Stack<(long A, long B)>();
        // Always at least one question: when even the cheapest energy times the fewest cycles reaches T, Z3 says so too.
        ranges.Push((minCycles, Math.Max(minCycles, top)));
        for (int questions = 0; ranges.Count > 0; questions++)
        {
            TimeSpan? left = timeout is { } t ? t - clock.Elapsed : null;
            if (questions == MaxEdpQuestions || left is { } l && l <= TimeSpan.Zero) return (Z3Status.Unknown, text.ToString());
            var (a, b) = ranges.Pop();
            var ctx = model.Context;
            var (status, smt2, energy, cycles) = model.AskWithModel(
                [model.Cycles >= ctx.Int(Math.Max(a, 1)), model.Cycles <= ctx.Int(b), model.Energy < threshold / Math.Max(a, 1)], left);
            text.Append($"; question {questions + 1}: cycles in [{a}, {b}], energy below {threshold / Math.Max(a, 1):R}\n").Append(smt2);
            if (status == Z3Status.Unknown) return (Z3Status.Unknown, text.ToString());
            if (status == Z3Status.Unsat) continue;
            if (energy * cycles < threshold || a == b) return (Z3Status.Sat, text.ToString());
            // cycles > a here (energy < T/a yet energy x cycles >= T), so both halves shrink.
            ranges.Push((cycles, b));
            ranges.Push((a, cycles - 1));
        }
        return (Z3Status.Unsat, text.ToString());
    }

    /// <summary>The picks, their rules, and the sums of energy and cycles over the picks, in one context.</summary>
    private sealed class Model
    {
        private readonly List<BoolExpr> _rules = [];

        public Z3Context Context { get; }
        public RealExpr Energy { get; }
        public IntExpr Cycles { get; }
        public RealExpr CyclesReal { get; }

        public Model(Z3Context ctx, Architecture arch, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors)
        {
            Context = ctx;
            var vars = survivors.Select(layer => layer.Select(p => (P: p, X: ctx.BoolVar($"pick_L{p.Layer}_{p.Order}"))).ToList()).ToList();
            IntExpr One(BoolExpr x) => ctx.Ite(x, ctx.Int(1), ctx.Int(0));
            for (int i = 0; i < vars.Count; i++)
            {
                _rules.Add(ctx.Sum(vars[i].Select(v => One(v.X))) == 1);
                if (i == 0) _rules.AddRange(vars[i].Where(v => v.P.InKey is not null).Select(v => !v.X));
                if (i == vars.Count - 1) _rules.AddRange(vars[i].Where(v => v.P.OutKey is not null).Select(v => !v.X));
                if (i > 0)
                {
                    // Compatibility: what layer i-1 gives out (an on-chip key, or DRAM) is what layer i takes in.
                    var keys = vars[i - 1].Select(v => v.P.OutKey).Concat(vars[i].Select(v => v.P.InKey)).Distinct();
                    foreach (var key in keys)
                        _rules.Add(ctx.Sum(vars[i - 1].Where(v => v.P.OutKey == key).Select(v => One(v.X)))
                                   == ctx.Sum(vars[i].Where(v => v.P.InKey == key).Select(v => One(v.X))));
                }
                for (int l = 0; l < arch.Levels.Count; l++)
                    if (arch.Levels[l].Capacity is { } cap)
                        _rules.Add(ctx.Sum(vars[i].Select(v => ctx.Ite(v.X, ctx.Int(v.P.Held[l]), ctx.Int(0)))) <= cap);
            }
            var all = vars.SelectMany(l => l).ToList();
            Energy = ctx.Sum(all.Select(v => ctx.Ite(v.X, ctx.Real(v.P.Energy), ctx.Real(0, 1))));
            Cycles = ctx.Sum(all.Select(v => ctx.Ite(v.X, ctx.Int(v.P.Cycles), ctx.Int(0))));
            CyclesReal = ctx.Sum(all.Select(v => ctx.Ite(v.X, ctx.Real(v.P.Cycles, 1), ctx.Real(0, 1))));
        }

        public (Z3Status, string) Ask(IEnumerable<BoolExpr> question, TimeSpan? timeout)
        {
            var (status, smt2, _, _) = AskWithModel(question, timeout);
            return (status, smt2);
        }

        public (Z3Status Status, string Smt2, double Energy, long Cycles) AskWithModel(IEnumerable<BoolExpr> question, TimeSpan? timeout)
        {
            using var solver = new Z3Solver(Context);
            foreach (var r in _rules) solver.Add(r);
            foreach (var q in question) solver.Add(q);
            var status = solver.Check(timeout);
            return status == Z3Status.Sat
                ? (status, solver.ToSmt2(), solver.Value(Energy), solver.Value(Cycles))
                : (status, solver.ToSmt2(), 0, 0);
        }
    }
}
