using System.Diagnostics;
using System.Globalization;
using System.Text;
using Google.OrTools.Sat;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers.Z3;

namespace Optimizer.Solvers;

/// <summary>Which solver answers a fusion certificate's questions.</summary>
public enum FusionCertifier
{
    /// <summary>Z3 over exact rationals (the project's binding of Debian's libz3).</summary>
    Z3,
    /// <summary>CP-SAT (Google OR-Tools) over integers: energies scaled and rounded down, so an infeasible answer is still a proof.</summary>
    CpSat,
}

/// <summary>The answer to "is there a combination of survivors below the threshold?".</summary>
public enum CertificateStatus
{
    /// <summary>No combination is below the threshold (at the optimum: the certificate).</summary>
    Unsat,
    /// <summary>A combination below the threshold exists (checked with the survivors' own values).</summary>
    Sat,
    /// <summary>The solver stopped (time limit, question limit) before it could decide.</summary>
    Unknown,
}

/// <summary>
/// The final choice of the fused search as a solver model (docs/fusion.md, "Certificate"): one Boolean per
/// surviving partial mapping of every layer, exactly one per layer, a layer's incoming key equal to its
/// predecessor's outgoing key, each level's reservation within its capacity, and the objective below a
/// threshold. Unsat at the found optimum proves no combination of survivors costs less. Energy and
/// latency are linear questions; EDP (a product of two sums) is answered by linear questions over
/// ranges of cycles, so that neither solver faces nonlinear arithmetic. Z3 or CP-SAT answers them
/// (<see cref="FusionCertifier"/>); the questions and the EDP ranges are the same for both.
/// </summary>
public static class FusionCertificate
{
    /// <summary>Relative tolerance below the optimum, for floating sums of the same costs.</summary>
    public const double Tolerance = 1e-9;

    /// <summary>At most this many linear questions for one EDP certificate; beyond it the answer is Unknown.</summary>
    public const int MaxEdpQuestions = 400;

    /// <summary>
    /// Asks whether some combination of survivors has an objective below <paramref name="threshold"/>; returns the
    /// answer and the text of the question(s) (SMT-LIB 2 for Z3, a summary of each question for CP-SAT).
    /// </summary>
    public static (CertificateStatus Status, string Text) Check(FusionCertifier by, Architecture arch, Objective objective, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors,
        double threshold, TimeSpan? timeout)
    {
        var (status, text, _) = CheckFound(by, arch, objective, survivors, threshold, timeout);
        return (status, text);
    }

    /// <summary>
    /// <see cref="Check"/>, with the objective of the combination found when the answer is Sat (its energy, cycles, or
    /// energy x cycles, from the survivors' own values), null otherwise: what the certificate reports as the difference.
    /// </summary>
    public static (CertificateStatus Status, string Text, double? Found) CheckFound(FusionCertifier by, Architecture arch, Objective objective,
        IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double threshold, TimeSpan? timeout)
    {
        if (survivors.Count == 0) throw new ArgumentException("There are no layers to certify.", nameof(survivors));
        using IPicks picks = by == FusionCertifier.Z3 ? new Z3Picks(arch, survivors) : new CpSatPicks(arch, survivors);
        var text = new StringBuilder();
        var (status, energy, cycles) = objective switch
        {
            Objective.Energy => picks.Ask(new Question(null, null, threshold, null), timeout, text),
            Objective.Latency => picks.Ask(new Question(null, null, null, threshold), timeout, text),
            _ => Edp(picks, survivors, threshold, timeout, text),
        };
        double? found = status != CertificateStatus.Sat ? null : objective switch
        {
            Objective.Energy => energy,
            Objective.Latency => cycles,
            _ => energy * cycles,
        };
        return (status, text.ToString(), found);
    }

    /// <summary>Certifies a found optimum: the question at <c>optimum x (1 - Tolerance)</c>.</summary>
    public static (CertificateStatus Status, string Text) Certify(FusionCertifier by, Architecture arch, Objective objective, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors,
        double optimum, TimeSpan? timeout)
        => Check(by, arch, objective, survivors, optimum * (1 - Tolerance), timeout);

    /// <summary><see cref="Certify"/>, with the objective of the combination found below the optimum when there is one (<see cref="CheckFound"/>).</summary>
    public static (CertificateStatus Status, string Text, double? Found) CertifyFound(FusionCertifier by, Architecture arch, Objective objective,
        IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double optimum, TimeSpan? timeout)
        => CheckFound(by, arch, objective, survivors, optimum * (1 - Tolerance), timeout);

    /// <summary>
    /// energy x cycles below T, asked as linear questions: for cycles in [a, b], is there a combination
    /// with energy below T / a? Unsat for a range proves that none in it reaches T (energy at least T/a
    /// and cycles at least a). A sat answer whose product is below T is a real counterexample; otherwise
    /// the range is split at the answer's cycles, which excludes it from both halves.
    /// </summary>
    private static (CertificateStatus Status, double Energy, long Cycles) Edp(IPicks picks, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double threshold, TimeSpan? timeout, StringBuilder text)
    {
        var clock = Stopwatch.StartNew();
        double minEnergy = survivors.Sum(l => l.Min(p => p.Energy));
        long minCycles = survivors.Sum(l => l.Min(p => p.Cycles));
        long maxCycles = survivors.Sum(l => l.Max(p => p.Cycles));
        long top = minEnergy > 0 ? (long)Math.Min(maxCycles, Math.Floor(threshold / minEnergy)) : maxCycles;
        var ranges = new Stack<(long A, long B)>();
        // Always at least one question: when even the cheapest energy times the fewest cycles reaches T, the solver says so too.
        ranges.Push((minCycles, Math.Max(minCycles, top)));
        for (int questions = 0; ranges.Count > 0; questions++)
        {
            TimeSpan? left = timeout is { } t ? t - clock.Elapsed : null;
            if (questions == MaxEdpQuestions || left is { } l && l <= TimeSpan.Zero) return (CertificateStatus.Unknown, 0, 0);
            var (a, b) = ranges.Pop();
            text.Append(CultureInfo.InvariantCulture, $"; question {questions + 1}: cycles in [{a}, {b}], energy below {threshold / Math.Max(a, 1):R}\n");
            var (status, energy, cycles) = picks.Ask(new Question(Math.Max(a, 1), b, threshold / Math.Max(a, 1), null), left, text);
            if (status == CertificateStatus.Unknown) return (CertificateStatus.Unknown, 0, 0);
            if (status == CertificateStatus.Unsat) continue;
            if (energy * cycles < threshold || a == b) return (CertificateStatus.Sat, energy, cycles);
            // cycles > a here (energy < T/a yet energy x cycles >= T), so both halves shrink.
            ranges.Push((cycles, b));
            ranges.Push((a, cycles - 1));
        }
        return (CertificateStatus.Unsat, 0, 0);
    }

    /// <summary>One linear question: cycles within [<see cref="CyclesFrom"/>, <see cref="CyclesTo"/>], energy below, cycles below (null: no such part).</summary>
    private readonly record struct Question(long? CyclesFrom, long? CyclesTo, double? EnergyBelow, double? CyclesBelow)
    {
        /// <summary>True when a combination of this energy and these cycles answers the question.</summary>
        public bool Holds(double energy, long cycles)
            => (CyclesFrom is not { } f || cycles >= f) && (CyclesTo is not { } t || cycles <= t)
               && (EnergyBelow is not { } e || energy < e) && (CyclesBelow is not { } c || cycles < c);
    }

    /// <summary>The picks and their rules in one solver; answers questions about them.</summary>
    private interface IPicks : IDisposable
    {
        /// <summary>Sat with the energy and cycles of a combination that answers the question, Unsat when none does, or Unknown; appends the question's text.</summary>
        (CertificateStatus Status, double Energy, long Cycles) Ask(Question q, TimeSpan? timeout, StringBuilder text);
    }

    /// <summary>The rules of a combination, written once for both solvers: exactly one pick per layer, the ends off chip, keys that match, capacity.</summary>
    private static void Rules<TLit>(Architecture arch, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, IReadOnlyList<IReadOnlyList<TLit>> picks,
        Action<IReadOnlyList<TLit>> exactlyOne, Action<TLit> forbid, Action<IReadOnlyList<TLit>, IReadOnlyList<TLit>> sameCount, Action<IReadOnlyList<(TLit X, long Words)>, long> atMost)
    {
        for (int i = 0; i < survivors.Count; i++)
        {
            var layer = survivors[i];
            exactlyOne(picks[i]);
            for (int k = 0; k < layer.Count; k++)
            {
                if (i == 0 && layer[k].InKey is not null) forbid(picks[i][k]);
                if (i == survivors.Count - 1 && layer[k].OutKey is not null) forbid(picks[i][k]);
            }
            if (i > 0)
            {
                // Compatibility: what layer i-1 gives out (an on-chip key, or DRAM) is what layer i takes in.
                var before = survivors[i - 1];
                foreach (var key in before.Select(p => p.OutKey).Concat(layer.Select(p => p.InKey)).Distinct())
                    sameCount(Enumerable.Range(0, before.Count).Where(k => before[k].OutKey == key).Select(k => picks[i - 1][k]).ToList(),
                              Enumerable.Range(0, layer.Count).Where(k => layer[k].InKey == key).Select(k => picks[i][k]).ToList());
            }
            for (int l = 0; l < arch.Levels.Count; l++)
                if (arch.Levels[l].Capacity is { } cap)
                    atMost(Enumerable.Range(0, layer.Count).Select(k => (picks[i][k], layer[k].Held[l])).ToList(), cap);
        }
    }

    /// <summary>The questions in Z3, over exact rationals (energies) and integers (cycles).</summary>
    private sealed class Z3Picks : IPicks
    {
        private readonly Z3Context _ctx = new();
        private readonly List<BoolExpr> _rules = [];
        private readonly RealExpr _energy;
        private readonly IntExpr _cycles;
        private readonly RealExpr _cyclesReal;

        public Z3Picks(Architecture arch, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors)
        {
            var ctx = _ctx;
            var vars = survivors.Select(layer => (IReadOnlyList<BoolExpr>)layer.Select(p => ctx.BoolVar($"pick_L{p.Layer}_{p.Order}")).ToList()).ToList();
            IntExpr One(BoolExpr x) => ctx.Ite(x, ctx.Int(1), ctx.Int(0));
            Rules(arch, survivors, vars,
                xs => _rules.Add(ctx.Sum(xs.Select(One)) == 1),
                x => _rules.Add(!x),
                (a, b) => _rules.Add(ctx.Sum(a.Select(One)) == ctx.Sum(b.Select(One))),
                (terms, cap) => _rules.Add(ctx.Sum(terms.Select(t => ctx.Ite(t.X, ctx.Int(t.Words), ctx.Int(0)))) <= cap));
            var all = survivors.SelectMany(l => l).Zip(vars.SelectMany(v => v), (p, x) => (P: p, X: x)).ToList();
            _energy = ctx.Sum(all.Select(v => ctx.Ite(v.X, ctx.Real(v.P.Energy), ctx.Real(0, 1))));
            _cycles = ctx.Sum(all.Select(v => ctx.Ite(v.X, ctx.Int(v.P.Cycles), ctx.Int(0))));
            _cyclesReal = ctx.Sum(all.Select(v => ctx.Ite(v.X, ctx.Real(v.P.Cycles, 1), ctx.Real(0, 1))));
        }

        public (CertificateStatus, double, long) Ask(Question q, TimeSpan? timeout, StringBuilder text)
        {
            using var solver = new Z3Solver(_ctx);
            foreach (var r in _rules) solver.Add(r);
            if (q.CyclesFrom is { } from) solver.Add(_cycles >= _ctx.Int(from));
            if (q.CyclesTo is { } to) solver.Add(_cycles <= _ctx.Int(to));
            if (q.EnergyBelow is { } e) solver.Add(_energy < e);
            if (q.CyclesBelow is { } c) solver.Add(_cyclesReal < c);
            var status = solver.Check(timeout);
            text.Append(solver.ToSmt2());
            return status switch
            {
                Z3Status.Sat => (CertificateStatus.Sat, solver.Value(_energy), solver.Value(_cycles)),
                Z3Status.Unsat => (CertificateStatus.Unsat, 0, 0),
                _ => (CertificateStatus.Unknown, 0, 0),
            };
        }

        public void Dispose() => _ctx.Dispose();
    }

    /// <summary>
    /// The questions in CP-SAT, over integers: each energy is scaled by a power of ten and rounded down, and "below
    /// T" is asked as "at most ceil(T x scale) - 1", which every combination really below T meets (so infeasible is a
    /// proof). A solution is checked with the survivors' own values; one that only the rounding let in is cut off
    /// and the question asked again.
    /// </summary>
    private sealed class CpSatPicks(Architecture arch, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors) : IPicks
    {
        /// <summary>Scaled sums stay below this, far inside CP-SAT's 64-bit arithmetic.</summary>
        private const double Room = 1e15;

        /// <summary>At most this many solutions cut off for rounding in one question; beyond it the answer is Unknown.</summary>
        private const int MaxCuts = 1000;

        private readonly double _scale = Math.Pow(10, Math.Floor(Math.Log10(Room / Math.Max(1e-300, survivors.Sum(l => l.Max(p => p.Energy))))));

        public (CertificateStatus, double, long) Ask(Question q, TimeSpan? timeout, StringBuilder text)
        {
            var clock = Stopwatch.StartNew();
            // Combinations this question's rounding let in, cut off (they may answer another question).
            var cuts = new List<List<(int Layer, int Pick)>>();
            for (int attempt = 0; attempt <= MaxCuts; attempt++)
            {
                var model = new CpModel();
                var x = survivors.Select((layer, i) => (IReadOnlyList<BoolVar>)layer.Select((_, k) => model.NewBoolVar($"pick_L{i}_{k}")).ToList()).ToList();
                Rules(arch, survivors, x,
                    xs => model.AddExactlyOne(xs),
                    v => model.Add(v == 0),
                    (a, b) => model.Add(LinearExpr.Sum(a) == LinearExpr.Sum(b)),
                    (terms, cap) => model.Add(LinearExpr.WeightedSum(terms.Select(t => t.X), terms.Select(t => t.Words)) <= cap));
                foreach (var cut in cuts) model.AddBoolOr(cut.Select(c => x[c.Layer][c.Pick].Not()));
                var picks = x.SelectMany(v => v).ToList();
                var all = survivors.SelectMany(l => l).ToList();
                var cycles = LinearExpr.WeightedSum(picks, all.Select(p => p.Cycles));
                if (q.CyclesFrom is { } from) model.Add(cycles >= from);
                if (q.CyclesTo is { } to) model.Add(cycles <= to);
                if (q.CyclesBelow is { } below) model.Add(cycles <= (long)Math.Ceiling(below) - 1);
                if (q.EnergyBelow is { } e)
                    model.Add(LinearExpr.WeightedSum(picks, all.Select(p => (long)Math.Floor(p.Energy * _scale))) <= (long)Math.Ceiling(e * _scale) - 1);
                string invalid = model.Validate();
                if (!string.IsNullOrEmpty(invalid)) throw new InvalidOperationException($"CP-SAT rejected the fusion certificate's model (a bug): {invalid}");
                var left = timeout is { } t ? t - clock.Elapsed : (TimeSpan?)null;
                if (left is { } l && l <= TimeSpan.Zero) return (CertificateStatus.Unknown, 0, 0);
                var solver = new CpSolver { StringParameters = CpSat.CpSatMapper.Parameters(new SearchLimits(left, CancellationToken.None)) };
                var status = solver.Solve(model);
                text.Append(CultureInfo.InvariantCulture, $"; CP-SAT: {picks.Count} picks, cycles in [{q.CyclesFrom?.ToString(CultureInfo.InvariantCulture) ?? "-"}, {q.CyclesTo?.ToString(CultureInfo.InvariantCulture) ?? "-"}]" +
                    $"{(q.CyclesBelow is { } cb ? $", cycles below {cb:R}" : "")}{(q.EnergyBelow is { } eb ? $", energy below {eb:R} (scaled by {_scale:R}, rounded down)" : "")}" +
                    $"{(cuts.Count > 0 ? $", {cuts.Count} rounding cut(s)" : "")}: {status}\n");
                if (status == CpSolverStatus.Infeasible) return (CertificateStatus.Unsat, 0, 0);
                if (status is not (CpSolverStatus.Feasible or CpSolverStatus.Optimal)) return (CertificateStatus.Unknown, 0, 0);
                var chosen = new List<(int Layer, int Pick)>();
                double energy = 0;
                long cyclesValue = 0;
                for (int i = 0; i < x.Count; i++)
                    for (int k = 0; k < x[i].Count; k++)
                        if (solver.BooleanValue(x[i][k]))
                        {
                            chosen.Add((i, k));
                            energy += survivors[i][k].Energy;
                            cyclesValue += survivors[i][k].Cycles;
                        }
                if (q.Holds(energy, cyclesValue)) return (CertificateStatus.Sat, energy, cyclesValue);
                cuts.Add(chosen);
            }
            return (CertificateStatus.Unknown, 0, 0);
        }

        public void Dispose() { }
    }
}
