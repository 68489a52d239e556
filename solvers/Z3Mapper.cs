using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Solvers.Symbolic;
using Optimizer.Solvers.Z3;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// One layer's mapspace, its validity rules and its exact energy (docs/cost-model.md) as a Z3 model
/// (docs/z3-encoding.md): minimum-energy mapping by iterative tightening, exportable certificates,
/// and unsat cores that explain infeasibility.
/// </summary>
public static class Z3Mapper
{
    /// <summary>Relative margin of "cheaper": a mapping counts as cheaper than C when its energy is below C x (1 - 1e-9).</summary>
    public const double Tolerance = 1e-9;

    /// <summary>Most ranks with a bound above 1 that the encoding accepts.</summary>
    public const int MaxRanks = 5;
    /// <summary>Most storage levels the encoding accepts.</summary>
    public const int MaxLevels = 4;
    /// <summary>Largest rank bound the encoding accepts.</summary>
    public const int MaxBound = 64;
    /// <summary>Most ways one rank's bound can be split over its slots (the size of its choice table).</summary>
    public const int MaxSplitsPerRank = 4000;

    /// <summary>Finds the minimum-energy mapping (<c>--solver z3</c>): find a mapping, demand a cheaper one, repeat until Z3 proves none exists.</summary>
    public static SolveResult Solve(MapProblem p, SearchLimits limits)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(limits);
        CheckScope(p);
        CheckCosts(p);
        var sw = Stopwatch.StartNew();
        double macEnergy = p.Layer.Macs * p.Arch.Compute.MacEnergy;
        using var enc = new Z3MapEncoding(p, diagnose: false);
        using var solver = new Z3Solver(enc.Context);
        enc.AddTo(solver);
        using var registration = limits.Cancel.Register(enc.Context.Cancel);
        Mapping? best = null;
        CostReport? report = null;
        long found = 0;
        bool proven = false;
        while (true)
        {
            TimeSpan? left = limits.TimeLimit is { } t ? t - sw.Elapsed : null;
            if (left is { } l && l <= TimeSpan.Zero) break;
            if (limits.Cancel.IsCancellationRequested) break;
            var status = solver.Check(left);
            if (status == Z3Status.Unsat) { proven = true; break; }
            if (status == Z3Status.Unknown) break;
            var mapping = enc.Decode(solver);
            double z3Energy = solver.Value(enc.Energy);
            report = Recheck(p, mapping, z3Energy);
            best = mapping;
            found++;
            solver.Add(enc.Energy < report.Energy * (1 - Tolerance));
        }
        var elapsed = sw.Elapsed;
        if (best is null)
        {
            if (proven)
                return new SolveResult(SolveStatus.Infeasible, null, null, null, double.PositiveInfinity, elapsed, found, "z3", Explain(p, null));
            return new SolveResult(SolveStatus.Unknown, null, null, null, macEnergy, elapsed, found, "z3",
                $"Z3 stopped ({solver.ReasonUnknown ?? "time limit"}) before it found a valid mapping.");
        }
        double value = report!.Energy;
        return proven
            ? new SolveResult(SolveStatus.Optimal, best, report, value, value, elapsed, found, "z3")
            : new SolveResult(SolveStatus.Feasible, best, report, value, Math.Min(macEnergy, value), elapsed, found, "z3",
                $"Z3 stopped ({solver.ReasonUnknown ?? "time limit"}) before it proved that nothing is cheaper; the bound is the MAC energy.");
    }

    /// <summary>
    /// Asks Z3 whether any mapping has energy below <paramref name="optimum"/> x (1 - 1e-9); Unsat is a
    /// certificate that none does. Returns the answer and the SMT-LIB 2 text of exactly that question.
    /// </summary>
    public static (Z3Status Status, string Smt2) Certify(MapProblem p, double optimum, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (!double.IsFinite(optimum) || optimum < 0)
            throw new ArgumentOutOfRangeException(nameof(optimum), optimum, "The optimum to certify must be a finite, non-negative energy.");
        CheckScope(p);
        CheckCosts(p);
        using var enc = new Z3MapEncoding(p, diagnose: false);
        using var solver = new Z3Solver(enc.Context);
        enc.AddTo(solver);
        solver.Add(enc.Energy < optimum * (1 - Tolerance));
        var status = solver.Check(timeout);
        return (status, solver.ToSmt2());
    }

    /// <summary>Why no mapping is valid, from an unsat core over tracked constraints (capacity, fanout, factor completeness, each user constraint).</summary>
    public static string Explain(MapProblem p, TimeSpan? timeout)
    {
        ArgumentNullException.ThrowIfNull(p);
        CheckScope(p);
        using var enc = new Z3MapEncoding(p, diagnose: true);
        using var solver = new Z3Solver(enc.Context);
        enc.AddTo(solver);
        var status = solver.Check(timeout);
        if (status == Z3Status.Sat) return "The mapspace has a valid mapping.";
        if (status == Z3Status.Unknown) return $"Z3 could not decide feasibility ({solver.ReasonUnknown}).";
        var core = solver.UnsatCore().Select(enc.Describe).ToList();
        var capacity = core.Where(c => c.StartsWith("capacity", StringComparison.Ordinal)).ToList();
        if (capacity.Count > 0)
        {
            var others = core.Except(capacity).ToList();
            return $"No valid mapping: {string.Join(" and ", capacity)} conflicts with: {(others.Count > 0 ? string.Join(", ", others) : "the smallest tiles the mapspace allows")}.";
        }
        return $"No valid mapping: these constraints conflict: {string.Join("; ", core)}.";
    }

    /// <summary>Throws <see cref="NotSupportedException"/> for an architecture with window capabilities, whose counts the encoding does not state (explanations of infeasibility, which read validity only, are not refused).</summary>
    private static void CheckCosts(MapProblem p)
    {
        if (p.Arch.HasWindowCapabilities)
            throw new NotSupportedException($"The Z3 encoding does not encode the window capabilities of architecture {p.Arch.Name} ({p.Arch.WindowCapabilities()}); search it with --solver exact or brute (docs/mapspace.md, \"Window capabilities\").");
    }

    /// <summary>Throws <see cref="NotSupportedException"/> for objectives other than energy and <see cref="ArgumentException"/> for problems outside the supported scope (docs/z3-encoding.md).</summary>
    public static void CheckScope(MapProblem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.Objective != Objective.Energy)
            throw new NotSupportedException($"The Z3 encoding is exact for energy only; objective {Objectives.Name(p.Objective)} needs the cycle terms (ceilings and a maximum over bandwidth-bound levels), which it does not encode. Use the exact search (--solver exact) for {Objectives.Name(p.Objective)}.");
        var e = p.Layer;
        var a = p.Arch;
        if (a.Levels.Count > MaxLevels)
            throw new ArgumentException($"The Z3 encoding supports at most {MaxLevels} storage levels; architecture {a.Name} has {a.Levels.Count}.", nameof(p));
        var big = e.Ranks.Where(r => r.Bound > MaxBound).ToList();
        if (big.Count > 0)
            throw new ArgumentException($"The Z3 encoding supports rank bounds up to {MaxBound}; layer {e.Name} has {string.Join(", ", big)}.", nameof(p));
        int active = e.Ranks.Count(r => r.Bound > 1);
        if (active > MaxRanks)
            throw new ArgumentException($"The Z3 encoding supports at most {MaxRanks} ranks with a bound above 1; layer {e.Name} has {active}.", nameof(p));
        foreach (var r in e.Ranks)
        {
            int splits = MapEncoding.Splits(p, r.Bound, prefilter: false).Count;
            if (splits > MaxSplitsPerRank)
                throw new ArgumentException($"The Z3 encoding supports at most {MaxSplitsPerRank} splits of one rank over the slots; rank {r.Id} has {splits} on {a.Name}.", nameof(p));
        }
        var c = p.Constraints ?? MappingConstraints.None;
        if (c.Global.Count > 0)
            throw new NotSupportedException($"The Z3 encoding does not state {c.Global[0].Name(a)}: {GlobalConstraint.Honoured}.");
        foreach (var (level, lc) in c.Levels)
        {
            if (level < 0 || level >= a.Levels.Count)
                throw new ArgumentException($"A constraint names level {level}, but architecture {a.Name} has levels 0..{a.Levels.Count - 1}.", nameof(p));
            var ranks = lc.Temporal.Keys.Concat(lc.Spatial.Keys.Select(k => k.Rank)).Concat(lc.SpatialX ?? new HashSet<RankId>())
                .Concat(lc.SpatialY ?? new HashSet<RankId>()).Concat(lc.Order ?? []);
            foreach (var r in ranks)
                if (!e.HasRank(r)) throw new ArgumentException($"A constraint at {a.Levels[level].Name} names rank {r}, which layer {e.Name} does not have.", nameof(p));
            foreach (var t in lc.Keep.Concat(lc.Bypass))
                if (e.FindTensor(t) is null) throw new ArgumentException($"A constraint at {a.Levels[level].Name} names tensor {t}, which layer {e.Name} does not have.", nameof(p));
        }
    }

    /// <summary>Re-checks a decoded mapping with the validity checker and re-costs it with the reference model; a disagreement with Z3's value is a bug.</summary>
    private static CostReport Recheck(MapProblem p, Mapping mapping, double z3Energy)
    {
        var report = MapEncoding.Recheck(p, mapping, "Z3");
        if (Math.Abs(report.Energy - z3Energy) > 1e-9 * Math.Max(1, Math.Abs(report.Energy)))
            throw new InvalidOperationException($"Z3 costed its mapping at {z3Energy} pJ but the cost model says {report.Energy} pJ; this is a bug in the encoding.");
        return report;
    }
}

/// <summary>
/// The Z3 terms of one problem: the one symbolic encoder (<see cref="MapEncoder{TX, TL, TE}"/>) over the Z3 backend of
/// its algebra (<see cref="Z3Algebra"/>). In cost mode each rank picks one split of its bound over the slots from a
/// table and the energy is a term; in diagnose mode the factors are free variables and only the tracked validity rules
/// and user constraints are asserted.
/// </summary>
internal sealed class Z3MapEncoding : IDisposable
{
    private readonly bool _diagnose;
    private readonly Z3Algebra _a;
    private readonly MapEncoder<IntExpr, BoolExpr, Z3Energy> _enc;

    /// <summary>The context that owns every term.</summary>
    public Z3Context Context { get; } = new();

    /// <summary>The total energy in pJ (cost mode only).</summary>
    public RealExpr Energy { get; }

    public Z3MapEncoding(MapProblem p, bool diagnose)
    {
        _diagnose = diagnose;
        _a = new Z3Algebra(Context);
        _enc = new MapEncoder<IntExpr, BoolExpr, Z3Energy>(p, _a, freeFactors: diagnose, "Z3");
        if (diagnose)
        {
            Energy = Context.Real(0, 1);
            return;
        }
        Energy = Context.RealVar("energy");
        _a.Plain.Add(Energy == _a.ToReal(_enc.BuildCosts(energy: true, cycles: false).Energy!));
    }

    /// <summary>Asserts every constraint of the encoding; tracked ones with their names in diagnose mode.</summary>
    public void AddTo(Z3Solver solver)
    {
        foreach (var c in _a.Plain) solver.Add(c);
        foreach (var (name, _, c) in _a.Tracked)
            if (_diagnose) solver.Add(c, name); else solver.Add(c);
    }

    /// <summary>The words for a tracking name of an unsat core.</summary>
    public string Describe(string trackingName) => _a.Tracked.First(t => t.Name == trackingName).Words;

    public void Dispose() => Context.Dispose();

    /// <summary>The mapping of the solver's model, as the one <see cref="Mapping"/> type.</summary>
    public Mapping Decode(Z3Solver solver) => _enc.Decode(v => solver.Value(v.X!), b => solver.Value(b.L!));
}
