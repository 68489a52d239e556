using Google.OrTools.Sat;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers.Symbolic;

namespace Optimizer.Solvers.CpSat;

/// <summary>
/// One layer's mapspace (docs/mapspace.md), its validity rules and its exact cost (docs/cost-model.md) as a CP-SAT
/// model (docs/cpsat.md): the one symbolic encoder (<see cref="MapEncoder{TX, TL, TE}"/>) over the CP-SAT backend of
/// its algebra (<see cref="CpSatAlgebra"/>), with energies scaled to integers by <see cref="Scale"/>, the caps that keep
/// the 64-bit arithmetic safe, the objectives, the global constraints' literals, hints and decoding.
/// </summary>
internal sealed class CpSatEncoding
{
    /// <summary>Largest magnitude any term may reach; a product that could exceed it is refused (CP-SAT's arithmetic is 64-bit).</summary>
    internal const long Limit = CpSatAlgebra.Limit;

    private readonly MapProblem _p;
    private readonly CpSatAlgebra _a;
    private readonly MapEncoder<LinearExpr, ILiteral, IntTerm<LinearExpr>> _enc;
    private readonly long? _edpCap;
    private IntTerm<LinearExpr>? _energy, _energySum, _cycles, _edp;
    private BoolVar[] _globalLiterals = [];

    /// <summary>The model.</summary>
    public CpModel Model { get; } = new();

    /// <summary>Energies are multiplied by this integer (a power of ten) in the model.</summary>
    public long Scale => _a.Scale;

    /// <summary>True when every energy coefficient times <see cref="Scale"/> is an integer, so the scaled energy is exact; otherwise each is rounded down and the model's energy is a lower bound of the reference's.</summary>
    public bool ExactScale => _a.ExactScale;

    /// <summary>The smallest non-zero energy a counted word adds (pJ), for the rounding bound when the scale is not exact.</summary>
    public double SmallestCoefficient { get; }

    /// <summary>
    /// Builds the model. The caps (in model units: scaled pJ, cycles, scaled pJ x cycles) bound every cost term,
    /// which keeps CP-SAT's 64-bit arithmetic safe; a mapping above a cap is not in the model.
    /// </summary>
    /// <param name="timeloopFloor">The costs are a lower bound of the Timeloop convention's (<see cref="CpSatTimeloop"/>; the encoder's <c>timeloopFloor</c>).</param>
    public CpSatEncoding(MapProblem p, long scale, bool exactScale, double? energyCapPj, double? cycleCap, double? edpCap, bool timeloopFloor = false)
    {
        _p = p;
        _a = new CpSatAlgebra(Model, scale, exactScale, $"layer {p.Layer.Name} on {p.Arch.Name}");
        SmallestCoefficient = Coefficients(p.Arch).Where(x => x > 0).DefaultIfEmpty(1).Min();
        _a.EnergyCap = energyCapPj is { } e ? Sat(Math.Floor(e * scale * (1 + 1e-9)) + 1) : null;
        _a.CycleCap = cycleCap is { } c ? Sat(Math.Floor(c)) : null;
        _edpCap = edpCap is { } d ? Sat(Math.Floor(d * scale * (1 + 1e-9)) + 1) : null;
        _enc = new MapEncoder<LinearExpr, ILiteral, IntTerm<LinearExpr>>(p, _a, freeFactors: false, "CP-SAT", timeloopFloor);
        if (_edpCap is { } ec)
        {
            // EDP <= cap with cycles >= the compute floor and energy >= the MACs' energy bounds each factor.
            long macs = Math.Max(1, _a.Coef(p.Arch.Compute.MacEnergy) * p.Layer.Macs);
            _a.CycleCap = Math.Min(_a.CycleCap ?? Limit, ec / macs + 1);
            _a.EnergyCap = Math.Min(_a.EnergyCap ?? Limit, ec / _enc.ComputeCyclesFloor() + 1);
        }
    }

    private static long Sat(double x) => x >= Limit ? Limit : (long)x;

    /// <summary>Every per-word energy of the architecture (reads, writes, hops, the MAC), in pJ.</summary>
    internal static IEnumerable<double> Coefficients(Architecture a)
    {
        foreach (var l in a.Levels)
        {
            yield return l.ReadEnergy;
            yield return l.WriteEnergy;
            if (l.Fanout.HopEnergy != 0) yield return l.Fanout.Topology == Topology.Bus ? l.Fanout.HopEnergy : l.Fanout.HopEnergy / 2;
        }
        yield return a.Compute.MacEnergy;
    }

    /// <summary>
    /// The scale for energies: the smallest power of ten (up to 10^9) that makes every coefficient an integer
    /// (within 1e-12 relative), exact; otherwise the largest power of ten that keeps <paramref name="maxPj"/> x scale
    /// within 64 bits, with coefficients rounded down (not exact).
    /// </summary>
    /// <param name="edp">With both energy and cycles in the model: the energy-delay product (pJ x cycles) the scaled product must hold within 64 bits.</param>
    internal static (long Scale, bool Exact) ChooseScale(Architecture a, double maxPj, double? edp)
    {
        var (scale, exact) = ChooseScale(a, maxPj);
        if (edp is not { } d) return (scale, exact);
        double room = Limit / 4.0 / Math.Max(1, d);
        if (room >= scale) return (scale, exact);
        scale = Math.Max(1, (long)Math.Pow(10, Math.Floor(Math.Log10(Math.Max(1, room)))));
        return (scale, exact && Coefficients(a).All(x => Math.Abs(x * scale - Math.Round(x * scale)) <= 1e-12 * Math.Max(1, x * scale)));
    }

    internal static (long Scale, bool Exact) ChooseScale(Architecture a, double maxPj)
    {
        var coefs = Coefficients(a).Where(x => x != 0).ToArray();
        long room = maxPj > 0 ? (long)Math.Min(1e15, Limit / 4 / Math.Max(1, maxPj)) : (long)1e9;
        long best = 1;
        for (long s = 1; s <= 1_000_000_000 && s <= room; s *= 10)
        {
            best = s;
            if (coefs.All(x => Math.Abs(x * s - Math.Round(x * s)) <= 1e-12 * Math.Max(1, x * s))) return (s, true);
        }
        return (best, false);
    }

    /// <summary>Per global constraint (in <see cref="MappingConstraints.Global"/>'s order), the literal that enforces it (built by <see cref="BuildCosts"/>).</summary>
    public IReadOnlyList<BoolVar> GlobalLiterals => _globalLiterals;

    /// <summary>
    /// Builds the energy (scaled pJ), the cycles, or both, as the objective needs, and the global constraints
    /// (<see cref="MappingConstraints.Global"/>), each enforced by its literal in <see cref="GlobalLiterals"/>;
    /// each cost at most its cap.
    /// </summary>
    /// <param name="keeperFloor">Adds the redundant keeper-path floor on the energy (docs/cpsat.md, "Keeper paths").</param>
    public void BuildCosts(bool energy, bool cycles, bool keeperFloor = false)
    {
        var costs = _enc.BuildCosts(energy, cycles, keeperFloor);
        _globalLiterals = costs.GlobalLiterals.Select(l => (BoolVar)l.L!).ToArray();
        _energy = _energySum = costs.Energy;
        if (_a.EnergyCap is { } cap && _energy is { X: not null } en)
        {
            Model.Add(en.X! <= cap);
            _energy = _energySum = new IntTerm<LinearExpr>(en.X!, en.Lo, Math.Min(en.Hi, cap));
            // With a floor and the energy alone as objective: the objective is a variable at least the sum and at least
            // the floor (equal to the sum at every optimum, the floor being a lower bound of it), so the search's bound
            // on the objective sees the floor; a sum's bound is its terms' bounds only.
            if (!cycles && _a.EnergyFloor is { } floor)
            {
                long lo = Math.Max(en.Lo, floor.Lo);
                var objective = Model.NewIntVar(lo, Math.Max(lo, Math.Min(en.Hi, cap)), "energy");
                Model.Add(objective >= en.X!);
                Model.Add(objective >= (floor.X ?? LinearExpr.Constant(floor.C!.Value)));
                _energy = new IntTerm<LinearExpr>(objective, lo, Math.Max(lo, Math.Min(en.Hi, cap)));
            }
        }
        _cycles = costs.Cycles;
        if (energy && cycles)
        {
            _edp = _a.Mul(_energy!, _cycles!, _edpCap);
            if (_edpCap is { } ec && _edp.X is not null) Model.Add(_edp.X <= ec);
        }
    }

    /// <summary>The objective in model units (scaled pJ, cycles, scaled pJ x cycles).</summary>
    public IntTerm<LinearExpr> Objective(Objective o) => o switch
    {
        Formulation.Objective.Energy => _energy ?? throw new InvalidOperationException("The energy was not built."),
        Formulation.Objective.Latency => _cycles ?? throw new InvalidOperationException("The cycles were not built."),
        _ => _edp ?? throw new InvalidOperationException("The energy-delay product was not built."),
    };

    /// <summary>The objective's value in a solution, as the reference model would cost it (the energy's sum, not the variable above it and the floor).</summary>
    public long Value(CpSolver solver, Objective o)
    {
        var term = o == Formulation.Objective.Energy ? _energySum ?? Objective(o) : Objective(o);
        return term.C ?? solver.Value(term.X!);
    }

    /// <summary>Hints the solver with a mapping of the mapspace (its splits, keep sets and orders); false when it is not in the model's tables.</summary>
    public bool Hint(Mapping m)
    {
        if (_enc.Assignment(m) is not { } values) return false;
        Model.ClearHints();
        foreach (var (v, x) in values.Ints) Model.AddHint((IntVar)v.X!, x);
        foreach (var (b, x) in values.Bools) if (b.L is BoolVar bv) Model.AddHint(bv, x);
        return true;
    }

    /// <summary>
    /// Excludes a mapping's assignment of the model's decisions (its splits, keep sets and orders) with one clause: some
    /// split index, keep or order Boolean differs. False when the model has no decision left (nothing else is in it).
    /// </summary>
    internal bool Exclude(Mapping m)
    {
        if (_enc.Assignment(m) is not { } values) throw new InvalidOperationException("A decoded mapping is not in the model's split tables; this is a bug in the encoding.");
        var differs = new List<ILiteral>();
        foreach (var (v, x) in values.Ints)
        {
            var other = Model.NewBoolVar("");
            Model.Add(v.X! != x).OnlyEnforceIf(other);
            Model.Add(v.X! == x).OnlyEnforceIf(other.Not());
            differs.Add(other);
        }
        foreach (var (b, x) in values.Bools) differs.Add(x ? b.L!.Not() : b.L!);
        if (differs.Count == 0) return false;
        Model.AddBoolOr(differs);
        return true;
    }

    /// <summary>Fixes the model's decisions (splits, keep sets, orders) to a mapping's, for tests that every mapping stays in the model at its own cost; false when it is not in the model's tables.</summary>
    internal bool Pin(Mapping m)
    {
        if (_enc.Assignment(m) is not { } values) return false;
        foreach (var (v, x) in values.Ints) Model.Add(v.X! == x);
        foreach (var (b, x) in values.Bools) Model.AddBoolOr([x ? b.L! : b.L!.Not()]);
        return true;
    }

    /// <summary>The mapping of one of the solver's pooled solutions (<c>fill_additional_solutions_in_response</c>): the values of every model variable by index.</summary>
    public Mapping Decode(IReadOnlyList<long> values)
        => _enc.Decode(v => v.X is IntVar x ? values[x.GetIndex()] : throw new InvalidOperationException("A split choice is not a variable."),
            b => b.L!.GetIndex() is var i && i >= 0 ? values[i] != 0 : values[-i - 1] == 0);

    /// <summary>The mapping of a solution, as the one <see cref="Mapping"/> type.</summary>
    public Mapping Decode(CpSolver solver) => _enc.Decode(v => solver.Value(v.X!), b => solver.BooleanValue(b.L!));
}
