using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// The final choice of the fused search as a Z3 model (docs/fusion.md, "Certificate"): one Boolean per
/// surviving partial mapping of every layer, exactly one per layer, a layer's incoming key equal to its
/// predecessor's outgoing key, each level's reservation within its capacity, and the objective below a
/// threshold. Unsat at the found optimum proves no combination of survivors costs less.
/// </summary>
public static class FusionCertificate
{
    /// <summary>Relative tolerance below the optimum, for floating sums of the same costs.</summary>
    public const double Tolerance = 1e-9;

    /// <summary>Asks whether some combination of survivors has an objective below <paramref name="threshold"/>; returns the answer and the SMT-LIB 2 text of the question.</summary>
    public static (Z3Status Status, string Smt2) Check(Architecture arch, Objective objective, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double threshold, TimeSpan? timeout)
    {
        if (survivors.Count == 0) throw new ArgumentException("There are no layers to certify.", nameof(survivors));
        using var ctx = new Z3Context();
        using var solver = new Z3Solver(ctx);
        var vars = new List<List<(FusionPartial P, BoolExpr X)>>();
        foreach (var layer in survivors)
            vars.Add(layer.Select(p => (p, ctx.BoolVar($"pick_L{p.Layer}_{p.Order}"))).ToList());
        IntExpr One(BoolExpr x) => ctx.Ite(x, ctx.Int(1), ctx.Int(0));
        for (int i = 0; i < vars.Count; i++)
        {
            solver.Add(ctx.Sum(vars[i].Select(v => One(v.X))) == 1, $"one_L{i}");
            if (i == 0) foreach (var v in vars[i].Where(v => v.P.InKey is not null)) solver.Add(!v.X);
            if (i == vars.Count - 1) foreach (var v in vars[i].Where(v => v.P.OutKey is not null)) solver.Add(!v.X);
            if (i > 0)
            {
                // Compatibility: the on-chip intermediate (or DRAM) that layer i-1 gives out is what layer i takes in.
                foreach (var (key, dram) in vars[i - 1].Select(v => (v.P.OutKey ?? "", v.P.OutKey is null))
                             .Concat(vars[i].Select(v => (v.P.InKey ?? "", v.P.InKey is null))).Distinct())
                {
                    var outs = vars[i - 1].Where(v => (v.P.OutKey is null) == dram && (v.P.OutKey ?? "") == key).Select(v => One(v.X));
                    var ins = vars[i].Where(v => (v.P.InKey is null) == dram && (v.P.InKey ?? "") == key).Select(v => One(v.X));
                    solver.Add(ctx.Sum(outs) == ctx.Sum(ins));
                }
            }
            for (int l = 0; l < arch.Levels.Count; l++)
                if (arch.Levels[l].Capacity is { } cap)
                    solver.Add(ctx.Sum(vars[i].Select(v => ctx.Ite(v.X, ctx.Int(v.P.Held[l]), ctx.Int(0)))) <= cap);
        }
        var energy = ctx.Sum(vars.SelectMany(l => l).Select(v => ctx.Ite(v.X, ctx.Real(v.P.Energy), ctx.Real(0, 1))));
        var cycles = ctx.Sum(vars.SelectMany(l => l).Select(v => ctx.Ite(v.X, ctx.Real(v.P.Cycles, 1), ctx.Real(0, 1))));
        var value = objective switch
        {
            Objective.Energy => energy,
            Objective.Latency => cycles,
            _ => energy * cycles,
        };
        solver.Add(value < threshold);
        var status = solver.Check(timeout);
        return (status, solver.ToSmt2());
    }

    /// <summary>Certifies a found optimum: the question at <c>optimum x (1 - Tolerance)</c>.</summary>
    public static (Z3Status Status, string Smt2) Certify(Architecture arch, Objective objective, IReadOnlyList<IReadOnlyList<FusionPartial>> survivors, double optimum, TimeSpan? timeout)
        => Check(arch, objective, survivors, optimum * (1 - Tolerance), timeout);
}
