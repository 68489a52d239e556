using System.Diagnostics;
using Optimizer.Formulation;

namespace Optimizer.Solvers;

/// <summary>
/// The fused latency search over the full mapspace (docs/fusion.md, "Latency over the full mapspace"): with every group run
/// sequentially the workload's cycles are the sum of its layers' fused cycles, and a layer's fused cycles depend only on its
/// own mapping and its class, so one member per class, its least fused cycles, suffices; the branch and bound over the join
/// of the energy search (<see cref="SolveFull"/>, step 3) decides which classes must be searched, each by the latency
/// <see cref="TilingSearch"/> on its fused cycles (<see cref="LatencyProblem"/>, searched by <see cref="Search"/>).
/// </summary>
public sealed partial class FusionSearch
{
    private FusionResult SolveFullLatency(SearchLimits limits, Stopwatch sw, Func<bool> late, Func<bool> stop)
    {
        var w = _p.Workload;
        int n = w.Layers.Count;
        // 1. Every layer alone: the unconstrained single-layer latency search, exactly what map --objective latency finds.
        bool lex = _p.LatencyThenEnergy;
        if (EveryLayerAlone(c => Search(c, double.PositiveInfinity, stop, seedWithDescent: true), limits, "every layer's own least cycles (the unfused mapping)", sw, late, stop) is not { } alone)
            return _noLayerAlone!;
        var (uMap, uRep) = Recheck(Assemble(alone.Select(c => c.Member!).ToList()));
        // latency,energy: proven once every layer's least energy at its least cycles is too (step 5).
        bool unfusedProven = Meets(alone.Sum(c => c.Lower), uRep.Cycles) && !lex;
        // The template's join before the classes' cycle floors (which can take longer): its optimum is the answer to beat.
        var template = TemplateJoin(limits, sw);

        // 2. Every class of every layer, bounded by its cycle floor: the latency search's root bound of the class problem, whose
        //    counts leave out what fusion removes (cycles are integers, so it is rounded up). Fusion lowers cycles, so the
        //    layer's own optimum bounds nothing here.
        limits.Progress?.Phase("listing and bounding the classes of partial mappings");
        var layers = ListClasses((i, job) =>
        {
            if (job.InKey is null && job.OutKey is null) return alone[i];
            if (stop()) return null;
            var c = new ClassState(i, job);
            var key = ShapeKeyOf(i, job);
            c.Lower = ShapeCycleFloor(c, () => false);
            ShapeResult? known;
            lock (_shapes) known = _p.ReuseSameShapes ? _shapes.GetValueOrDefault(key) : null;
            if (known is not null)
            {
                c.Member = Adopt(known, i, job);
                c.Lower = Math.Max(c.Lower, known.Lower);
                c.Searched = known.Exact;
            }
            return c;
        }, c => double.IsPositiveInfinity(c.Lower));
        if (layers is null)
            return new FusionResult(SolveStatus.Feasible, uMap, uRep, uRep.Cycles, uMap, uRep, sw.Elapsed, [], [],
                "stopped while listing the classes of partial mappings, with every layer's own mapping (unfused) joined")
            { UnfusedProven = unfusedProven };
        // With --keep-halos, every group that keeps its halos, its members' classes beside the join's (FusionKept.cs), each
        // bounded by 0 (no floor is taken for them: every one that could improve on the best total is searched).
        var kept = _p.KeepHalos ? AddKeptClasses(layers, _ => 0) : [];
        // With --pipeline, every pipelined group as a chain of classes with keys of its own, its cycles on its last member's
        // class, bounded by PipelineFloor from its members' layers' sequential floors, raised with its members' own class cycle
        // floors when the branch and bound reaches it (FusionPipelineFull.cs). Stopped while listing them: the groups not listed are open chains bounded by their layers' floors (AddOpenRun,
        // OpenRunFloor), and the answer below is the fastest chain of the sequential classes' members known (every layer's own,
        // the template's), with that bound.
        bool listingStopped = false;
        if (_p.Pipeline) limits.Progress?.Phase("listing the pipelined groups");
        var piped = _p.Pipeline ? AddPipelinedClasses(layers, c => c.Lower, stop, out listingStopped) : [];

        // The template's partial mappings are members of the same classes: each class starts from its fastest template member,
        // so the answer is never worse than the template's optimum and the ceilings start tighter.
        if (_p.SeedFromTemplate) SeedFromTemplate(layers, template, p => p.Cycles, Faster);

        // 3. Branch and bound over the join, in cycles: the class on the least total of bounds is searched next, under the
        //    ceiling the best total known leaves it, until no unsearched class could improve on that total.
        int searched = 0;
        while (!stop() && NextClass(layers, p => p.Cycles) is var (next, ceiling) && next is not null)
        {
            limits.Progress?.Phase($"exact latency search of class {++searched} ({w.Layers[next.Layer].Name}, shared [{SharedText(next.Job.Shared)}])");
            if (next.PipeGroup >= 0) SearchPipelined(next, ceiling, stop, piped, uMap);
            else if (next.Main is null) Search(next, ceiling, stop, seedWithDescent: false);
            else SearchKept(next, ceiling, stop, kept, uMap);
        }

        // 4. The join of the members (least total cycles), and its proof: the join of the classes' bounds.
        // A pipelined group's members carry its fastest point found, on the group's own keys (one point per group), each with
        // its held words as the certificate's capacity rule reads them (CertificateMember).
        var survivors = layers.Select(l => (IReadOnlyList<FusionPartial>)l.Where(c => c.Member is not null)
            .Select((c, k) => (c.PipeGroup >= 0 ? CertificateMember(c, c.Member!, c.Member!.InKey, c.Member.OutKey) : c.Member!) with { Order = k }).ToList()).ToList();
        var (fMap, fRep) = Recheck(Assemble(FastestChain(layers)));
        double value = fRep.Cycles;
        var keysAfter = Forward(layers, c => c.Lower);
        double bound = keysAfter[n].GetValueOrDefault(DramKey, double.PositiveInfinity);
        bool proven = Meets(bound, value);
        var stats = layers.Select((l, i) => new FusionLayerStats(w.Layers[i].Name, l.Sum(c => c.Nodes), l.Count(c => c.Member is not null), l.Count(c => c.Searched),
            keysAfter[i + 1].Count, l.Count)).ToList();
        if (!proven)
            return new FusionResult(SolveStatus.Feasible, fMap, fRep, value, uMap, uRep, sw.Elapsed, stats, survivors,
                (listingStopped ? "stopped while listing the pipelined groups (those not listed are bounded by their layers' floors); the answer is the fastest chain of the members known, " :
                "stopped before every class of partial mappings that could improve on the answer was searched to the end; ") + "the bound is the join of the classes' lower bounds" +
                (lex ? " (the least energy at the least cycles was not searched, the unfused mapping's either)" : ""))
            { Bound = Math.Min(value, bound), UnfusedProven = unfusedProven };
        if (!lex)
            return new FusionResult(SolveStatus.Optimal, fMap, fRep, value, uMap, uRep, sw.Elapsed, stats, survivors) { Bound = value, UnfusedProven = unfusedProven };

        // 5. latency,energy, once the least cycles are proved: every layer's own least energy at its least cycles (exactly what
        //    map --objective latency,energy finds: the unfused mapping), then among the fused mappings of the least cycles the
        //    least energy.
        bool aloneEnergyProven = Meets(alone.Sum(c => c.Lower), uRep.Cycles);
        foreach (var c in alone)
        {
            if (stop() || c.Member is not { } m || m.Cycles > c.Lower) { aloneEnergyProven = false; continue; }
            limits.Progress?.Phase($"the least energy of {w.Layers[c.Layer].Name} alone at its least cycles");
            var at = AtLeastCycles(c);
            SearchCapped(at, double.PositiveInfinity, stop);
            if (at.Member is { } e && e.Cycles == m.Cycles) c.Member = e;
            aloneEnergyProven &= at.Searched && at.Member is not null && Meets(at.Lower, at.Member.Energy);
        }
        (uMap, uRep) = Recheck(Assemble(alone.Select(c => c.Member!).ToList()));
        unfusedProven = aloneEnergyProven;
        var (chain, energyBound, tight) = LeastEnergyAtLeastCycles(layers, fRep.Cycles, limits, stop, kept, uMap);
        stats = stats.Select((s, i) => s with { Evaluated = s.Evaluated + tight[i].Sum(c => c.Nodes) }).ToList();
        // Stopped while settling: the fastest chain again, now that every layer alone has its least energy at its least cycles.
        if (chain is null && Recheck(Assemble(FastestChain(layers))) is var (sMap, sRep) && sRep.Cycles == fRep.Cycles && sRep.Energy < fRep.Energy)
            (fMap, fRep) = (sMap, sRep);
        if (chain is null)
            return new FusionResult(SolveStatus.Feasible, fMap, fRep, fRep.Energy, uMap, uRep, sw.Elapsed, stats, survivors,
                $"the least cycles, {fRep.Cycles:N0}, are proved; stopped before every class that may reach them had its least cycles settled, so the energy at them is not proved (best and bound are energy)")
            { Bound = Math.Min(fRep.Energy, energyBound), UnfusedProven = unfusedProven };
        var (lMap, lRep) = Recheck(Assemble(chain));
        if (lRep.Cycles != fRep.Cycles)
            throw new InvalidOperationException($"The least energy at the least cycles came with {lRep.Cycles} cycles, not {fRep.Cycles}; this is a bug.");
        bool energyProven = Meets(energyBound, lRep.Energy);
        return new FusionResult(energyProven ? SolveStatus.Optimal : SolveStatus.Feasible, lMap, lRep, energyProven ? value : lRep.Energy, uMap, uRep, sw.Elapsed, stats, survivors,
            energyProven ? null : $"the least cycles, {fRep.Cycles:N0}, are proved; stopped before every class that could lower the energy at them was searched to the end (best and bound are energy)")
        { Bound = energyProven ? value : Math.Min(lRep.Energy, energyBound), UnfusedProven = unfusedProven };
    }

    /// <summary>
    /// Step 5 for latency,energy (docs/fusion.md, "Latency then energy over the full mapspace"), once <paramref name="cycles"/>
    /// is proved the least total. With every group run sequentially both totals are sums over the layers, and for one choice of
    /// classes the least (cycles, energy) is each class's least cycles with its least energy at them; so a fused mapping of
    /// <paramref name="cycles"/> picks classes whose least cycles sum to it. (a) Every class whose bound, with the least bounds
    /// of the layers before and after it, does not exceed <paramref name="cycles"/> has its least cycles settled (a member that
    /// meets its bound; else searched below its bound + 1/2, which finds one or raises the bound). (b) The tight classes, those
    /// whose least cycles and the least bounds around them sum to <paramref name="cycles"/>: along compatible keys they form
    /// exactly the chains of that many cycles (the least bound to each key is then every tight chain's cycles so far). (c) The
    /// energy branch and bound over the tight classes, each searched for its least fused energy within a cap on its fused cycles
    /// at its least (<see cref="SearchCapped"/>). Returns the chain of least energy (null when stopped in (a)), the join of the
    /// tight classes' energy bounds, and the tight classes per layer.
    /// </summary>
    private (List<FusionPartial>? Chain, double Bound, List<List<ClassState>> Tight) LeastEnergyAtLeastCycles(List<List<ClassState>> layers, long cycles, SearchLimits limits, Func<bool> stop,
        List<KeptGroup> kept, FusedMapping unfused)
    {
        int n = layers.Count;
        static bool Settled(ClassState c) => c.Member is { } m && m.Cycles <= c.Lower;
        List<Dictionary<string, double>> fwd, bwd;
        double Through(ClassState c) => fwd[c.Layer].GetValueOrDefault(c.InKey, double.PositiveInfinity) + c.Lower + bwd[c.Layer + 1].GetValueOrDefault(c.OutKey, double.PositiveInfinity);
        var none = layers.Select(_ => new List<ClassState>()).ToList();
        while (true)
        {
            (fwd, bwd) = (Forward(layers, c => c.Lower), Backward(layers, c => c.Lower));
            var open = layers.SelectMany(l => l).FirstOrDefault(c => !Settled(c) && Through(c) <= cycles);
            if (open is null) break;
            if (stop()) return (null, double.NegativeInfinity, none);
            limits.Progress?.Phase($"settling the least cycles of a class ({_p.Workload.Layers[open.Layer].Name}, shared [{SharedText(open.Job.Shared)}])");
            double before = open.Lower;
            if (open.Main is null) Search(open, before + 0.5, stop, seedWithDescent: false);
            else SearchKept(open, before + 0.5, stop, kept, unfused);
            if (!Settled(open) && open.Lower <= before) return (null, double.NegativeInfinity, none);
        }
        var tight = layers.Select(l => l.Where(c => Settled(c) && Through(c) <= cycles).Select(AtLeastCycles).ToList()).ToList();
        foreach (var c in tight.SelectMany(l => l))
        {
            if (stop()) break;
            foreach (var x in c.Main is null ? [c] : new[] { c.Main, c.Prologue }.OfType<ClassState>())
                if (!x.Searched) x.Lower = Math.Min(Math.Max(0, ClassBound(x) - x.Removed!.Value), x.Member!.Energy);
            if (c.Main is not null) c.Lower = c.Main.Lower + (c.Prologue?.Lower ?? 0);
        }
        int searched = 0;
        while (!stop() && NextClass(tight, p => p.Energy) is var (next, ceiling) && next is not null)
        {
            limits.Progress?.Phase($"least energy at the least cycles, class {++searched} ({_p.Workload.Layers[next.Layer].Name}, shared [{SharedText(next.Job.Shared)}])");
            if (next.Main is null) SearchCapped(next, ceiling, stop);
            else SearchCappedKept(next, ceiling, stop);
        }
        return (BestChain(tight), Forward(tight, c => c.Lower)[n].GetValueOrDefault(DramKey, double.PositiveInfinity), tight);
    }

    /// <summary>
    /// A settled class (its member has its least fused cycles) as a class of the energy search at those cycles: the same job,
    /// that member to start from, its cycles the cap, its energy bound 0 until bounded; adopting what a class of the same shape
    /// and cap found.
    /// </summary>
    private ClassState AtLeastCycles(ClassState c)
    {
        // A member of a group that keeps its halos: its shared iterations' and its prologue's classes, each at its least cycles
        // (both are, when the member is: its least cycles are the two least summed), searched apart (SearchCappedKept).
        if (c.Main is not null)
        {
            var (main, pro) = (AtLeastCycles(c.Main), c.Prologue is { } p ? AtLeastCycles(p) : null);
            return new ClassState(c.Layer, c.Job)
            {
                Main = main, Prologue = pro, KeptGroup = c.KeptGroup, CycleCap = c.Member!.Cycles,
                Member = Together(main.Member!, pro?.Member), Lower = main.Lower + (pro?.Lower ?? 0), Searched = main.Searched && (pro?.Searched ?? true),
            };
        }
        var a = new ClassState(c.Layer, c.Job)
        {
            CycleCap = c.Member!.Cycles,
            Member = c.Member,
            Removed = c.Job.Held.Count == 0 ? 0 : FusionCost.ClassRemoval(EinsumOf(c.Layer, c.Job), _p.Arch, c.Job.Shared, c.Job.Held),
        };
        ShapeResult? known;
        lock (_capped) known = _p.ReuseSameShapes ? _capped.GetValueOrDefault(CappedKey(a)) : null;
        if (known is { Exact: true })
            (a.Member, a.Lower, a.Searched) = (Adopt(known, a.Layer, a.Job), known.Lower, true);
        return a;
    }

    private readonly Dictionary<string, ShapeResult> _capped = [];

    private string CappedKey(ClassState c) => $"{ShapeKeyOf(c.Layer, c.Job)}|{c.CycleCap}";

    /// <summary>
    /// The exact search of one class for its least fused energy among its members of at most <see cref="ClassState.CycleCap"/>
    /// fused cycles (the energy search within a cycle cap, on the fused cycles: <see cref="MapProblem.Weighted"/> with lambda 0),
    /// under a ceiling in fused energy: its optimum when below the ceiling, else the proof that nothing is; when stopped, the
    /// search's bound. Layers of the same shape and cap share the result.
    /// </summary>
    private void SearchCapped(ClassState c, double ceiling, Func<bool> stop)
    {
        var key = CappedKey(c);
        ShapeResult? known;
        lock (_capped) known = _p.ReuseSameShapes ? _capped.GetValueOrDefault(key) : null;
        c.Searched = true;
        if (known is { Exact: true } || (known is not null && known.Lower >= ceiling))
        {
            if (Adopt(known, c.Layer, c.Job) is { } adopted && (c.Member is null || adopted.Energy < c.Member.Energy)) c.Member = adopted;
            c.Lower = Math.Max(c.Lower, known.Lower);
            return;
        }
        if (stop()) return;
        double removed = c.Removed!.Value;
        // Integer cycles: the cap admits exactly the members of at most CycleCap cycles, within the caps' relative margin.
        var problem = ClassProblem(c) with
        {
            Caps = new CostCaps(Cycles: (c.CycleCap + 0.5) / (1 + CostCaps.Margin)),
            Weighted = c.Job.Held.Count == 0 ? null : new WeightedCycles(0, c.Job.Held),
        };
        var r = new TilingSearch(problem, prune: true, seed: c.Member is not null, incumbent: c.Member?.Mapping,
            ceiling: double.IsFinite(ceiling) ? ceiling + removed : double.PositiveInfinity).Solve(_classLimits());
        c.Nodes += Spend(r.Explored);
        if (r.Status == SolveStatus.Infeasible) (c.Member, c.Lower) = (null, double.PositiveInfinity);
        else
        {
            if (r is { Mapping: { } m, Report: { } report })
            {
                var member = Member(c.Layer, c.Job, m, report, 0, out _);
                if (member.Cycles > c.CycleCap)
                    throw new InvalidOperationException($"The energy search within {c.CycleCap} cycles returned a member of {member.Cycles}; this is a bug.");
                if (c.Member is null || member.Energy < c.Member.Energy * (1 - 1e-12)) c.Member = member;
            }
            c.Lower = r.Status == SolveStatus.Optimal ? c.Member!.Energy : Math.Max(c.Lower, r.Bound - removed);
        }
        bool exact = r.Status is SolveStatus.Optimal or SolveStatus.Infeasible;
        lock (_capped) _capped[key] = new ShapeResult(EinsumOf(c.Layer, c.Job), c.Member, c.Removed, c.Lower, exact, c.Nodes);
    }

    /// <summary>
    /// <see cref="SearchCapped"/> for a member of a group that keeps its halos: its prologue's class within its least cycles
    /// (no ceiling: a few rows, shared by every group with the same prologue), then its shared iterations' under the ceiling
    /// less the prologue's least energy. Its fused energy is the two summed, each depending on its own mapping only, and its
    /// cycles are at their least only when both parts' are, so its least energy there is the two parts' least.
    /// </summary>
    private void SearchCappedKept(ClassState c, double ceiling, Func<bool> stop)
    {
        c.Searched = true;
        var (main, pro) = (c.Main!, c.Prologue);
        if (pro is { Searched: false }) SearchCapped(pro, double.PositiveInfinity, stop);
        if (pro is not null && !Exact(pro, p => p.Energy))
        {
            c.Lower = Math.Max(c.Lower, main.Lower + pro.Lower);
            return;
        }
        if (!main.Searched) SearchCapped(main, ceiling - (pro?.Member?.Energy ?? 0), stop);
        c.Nodes = main.Nodes + (pro?.Nodes ?? 0);
        c.Lower = main.Lower + (pro?.Lower ?? 0);
        c.Member = main.Member is { } m && (pro is null || pro.Member is not null) ? Together(m, pro?.Member) : null;
    }

    /// <summary>
    /// The chain of members of least total cycles and, among those, least total energy (of the members known: each class's
    /// member has its least cycles, not necessarily the least energy at them); ties: the first class in each layer's order.
    /// </summary>
    private static List<FusionPartial> FastestChain(List<List<ClassState>> layers)
    {
        int n = layers.Count;
        static bool Less((long C, double E) a, (long C, double E) b) => a.C < b.C || (a.C == b.C && a.E < b.E * (1 - 1e-12));
        var after = new Dictionary<string, (long C, double E)>[n + 1];
        after[n] = new() { [DramKey] = (0, 0) };
        for (int i = n - 1; i >= 0; i--)
        {
            after[i] = [];
            foreach (var c in layers[i])
            {
                if (c.Member is not { } m || !after[i + 1].TryGetValue(c.OutKey, out var rest)) continue;
                var total = (m.Cycles + rest.C, m.Energy + rest.E);
                if (!after[i].TryGetValue(c.InKey, out var known) || Less(total, known)) after[i][c.InKey] = total;
            }
        }
        var chain = new List<FusionPartial>();
        string key = DramKey;
        for (int i = 0; i < n; i++)
        {
            ClassState? pick = null;
            (long C, double E) least = (long.MaxValue, double.PositiveInfinity);
            foreach (var c in layers[i])
            {
                if (c.InKey != key || c.Member is not { } m || !after[i + 1].TryGetValue(c.OutKey, out var rest)) continue;
                var total = (m.Cycles + rest.C, m.Energy + rest.E);
                if (pick is null || Less(total, least)) (pick, least) = (c, total);
            }
            chain.Add(pick!.Member!);
            key = pick.OutKey;
        }
        return chain;
    }

    /// <summary>True when a member has fewer fused cycles than another, or as many and less energy.</summary>
    private static bool Faster(FusionPartial a, FusionPartial b) => a.Cycles < b.Cycles || (a.Cycles == b.Cycles && a.Energy < b.Energy * (1 - 1e-12));

    private readonly Dictionary<string, double> _cycleFloors = [];

    /// <summary>
    /// <see cref="CycleFloor"/>, shared by the classes of the same shape (<see cref="ShapeKeyOf"/>); 0 (a floor too) when
    /// <paramref name="stop"/> says so before it is taken.
    /// </summary>
    private double ShapeCycleFloor(ClassState c, Func<bool> stop)
    {
        var key = ShapeKeyOf(c.Layer, c.Job);
        if (_p.ReuseSameShapes && _cycleFloors.TryGetValue(key, out var floor)) return floor;
        if (stop()) return 0;
        return _cycleFloors[key] = CycleFloor(c);
    }

    /// <summary>A class's cycle floor: the latency search's root bound of its problem (<see cref="LatencyProblem"/>), rounded up (cycles are integers).</summary>
    private double CycleFloor(ClassState c) => Math.Ceiling(new TilingSearch(LatencyProblem(c), prune: true, seed: false).PlanCycleFloor(_classLimits()));

    /// <summary>A class as a single-layer latency problem on its fused cycles (the counts fusion removes take no bandwidth).</summary>
    private MapProblem LatencyProblem(ClassState c)
        => ClassProblem(c) with { Objective = Objective.Latency, Weighted = c.Job.Held.Count == 0 ? null : new WeightedCycles(0, c.Job.Held) };
}
