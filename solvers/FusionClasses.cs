using System.Diagnostics;
using Optimizer.Formulation;
using Optimizer.Workloads;

namespace Optimizer.Solvers;

/// <summary>
/// The fused search over the full mapspace (energy; docs/fusion.md, "The full mapspace"): every class of
/// partial mappings of every layer is a constrained single-layer problem (<see cref="FusionMapspace.ClassConstraints"/>)
/// that the exact <see cref="TilingSearch"/> solves; a branch and bound over the join decides which classes
/// must be searched at all, and how far.
/// </summary>
public sealed partial class FusionSearch
{
    /// <summary>One class of one layer in the full mapspace, with what is known about it.</summary>
    private sealed class ClassState(int layer, Job job)
    {
        public int Layer { get; } = layer;
        public Job Job { get; } = job;
        public string InKey => Job.InKey ?? DramKey;
        public string OutKey => Job.OutKey ?? DramKey;
        /// <summary>The best member known (fused cost), or null.</summary>
        public FusionPartial? Member { get => _member; set { _member = value; View?.Changed(this); } }
        /// <summary>The energy fusion removes from every member (the same for all; docs/fusion.md), once a member is known.</summary>
        public double? Removed { get; set; }
        /// <summary>A lower bound on every member's fused energy (+infinity: the class is empty).</summary>
        public double Lower { get => _lower; set { _lower = value; View?.Changed(this); } }
        /// <summary>True once its exact search ran (to the end, to the ceiling, or until stopped).</summary>
        public bool Searched { get => _searched; set { _searched = value; View?.Changed(this); } }
        private FusionPartial? _member;
        private double _lower;
        private bool _searched;
        /// <summary>
        /// The join's flat copy this class is in (<see cref="JoinView"/>), told of every change of what <see cref="NextClass"/>
        /// reads (<see cref="Member"/>, <see cref="Lower"/>, <see cref="Searched"/>), and the class's place there; null until a
        /// view takes it.
        /// </summary>
        public JoinView? View { get; set; }
        public int ViewLayer { get; set; }
        public int ViewSlot { get; set; }
        /// <summary>Set by its view, under the view's lock: a change not yet copied.</summary>
        public bool ViewDirty { get; set; }
        public long Nodes { get; set; }
        /// <summary>EDP: every member found (the template's, each weighted search's), fused costs.</summary>
        public List<FusionPartial> Pool { get; } = [];
        /// <summary>EDP: per lambda searched, a lower bound on min(E + lambda C) over the members (fused; the optimum when exact).</summary>
        public List<(double Lambda, double Bound)> Known { get; } = [];
        /// <summary>EDP: a lower bound on every member's fused energy, and on its fused cycles.</summary>
        public double EnergyLower { get; set; }
        public double CycleFloor { get; set; }
        /// <summary>EDP: true once a search proved the class has no member.</summary>
        public bool Empty { get; set; }
        /// <summary>
        /// A member of a group that keeps its halos (docs/fusion.md, "Searching both policies"): the class of its shared
        /// iterations' mappings, searched as any class; this class's member and bound are that class's plus its prologue's.
        /// </summary>
        public ClassState? Main { get; init; }
        /// <summary>With <see cref="Main"/>, the class of its prologue's mappings (no shared loops); null when it has none.</summary>
        public ClassState? Prologue { get; init; }
        /// <summary>With <see cref="Main"/>, the index of its group among the kept groups.</summary>
        public int KeptGroup { get; init; } = -1;
        /// <summary>latency,energy's second term: the class's least fused cycles, the cap of its energy search (FusionLatency.cs).</summary>
        public long CycleCap { get; init; }
        /// <summary>A member of a pipelined group in the latency search (FusionPipelineFull.cs): the group's index; -1 otherwise.</summary>
        public int PipeGroup { get; init; } = -1;
        /// <summary>A class of an open chain (<see cref="AddOpenRun"/>): pipelined groups not listed, bound 0, no member, never searched.</summary>
        public bool Open { get; init; }
    }

    /// <summary>What one class's searches found, shared by the classes of the same shape (tensors renamed when used).</summary>
    private sealed record ShapeResult(Einsum From, FusionPartial? Member, double? Removed, double Lower, bool Exact, long Nodes);

    private readonly Dictionary<string, ShapeResult> _shapes = [];

    /// <summary>
    /// A key equal for two classes of layers of the same shape whose held tensors sit at the same tensor positions,
    /// levels and uses, with the same shared loops and the same words reserved: their members differ only in names.
    /// </summary>
    private string ShapeKeyOf(int i, Job j) => ShapeKeyOf(i, j, uses: true);

    /// <summary>
    /// A class's shape as <see cref="ShapeKeyOf(int, Job)"/>, with <paramref name="uses"/> false leaving out how the class uses its
    /// held tensors (writes, loads or reads them): the key of its <see cref="ClassProblem"/>, which sees only where each held
    /// tensor lives (<see cref="FusionMapspace.ClassConstraints"/>, <see cref="FusionMapspace.KeepingNothingAt"/>), not its use.
    /// </summary>
    private string ShapeKeyOf(int i, Job j, bool uses)
    {
        var e = EinsumOf(i, j);
        var held = j.Held.Select(h => $"{IndexOfTensor(e, h.Tensor)}@{h.Level}{(uses ? h.Use : "")}");
        var reserved = j.Reserved.OrderBy(x => x.Key).Select(x => $"{x.Key}:{x.Value}");
        return $"{Zoo.ShapeKey(e)}|{SharedText(j.Shared)}|{string.Join(",", held)}|{string.Join(",", reserved)}{(j.Bare is { } bare ? $"|bare {bare}" : "")}";
    }

    /// <summary>A member found for another layer of the same shape, as a member of layer i's class.</summary>
    private FusionPartial? Adopt(ShapeResult r, int i, Job job)
        => r.Member is null ? null : Renamed(new JobResult([r.Member], 0, 1), r.From, EinsumOf(i, job), i, job).Kept[0];

    private Func<bool> _late = () => false;

    private FusionResult SolveFull(SearchLimits limits, Stopwatch sw, Func<bool> late, Func<bool> stop)
    {
        var w = _p.Workload;
        int n = w.Layers.Count;
        // 1. Every layer alone: the unconstrained single-layer search, exactly what map finds.
        if (EveryLayerAlone(c => Search(c, double.PositiveInfinity, stop, seedWithDescent: true), limits, "every layer's own optimum (the unfused mapping)", sw, late, stop) is not { } unfusedClasses) return _noLayerAlone!;
        var (uMap, uRep) = Recheck(Assemble(unfusedClasses.Select(c => c.Member!).ToList()));
        double unfusedBound = unfusedClasses.Sum(c => c.Lower);
        bool unfusedProven = Meets(unfusedBound, uRep.Energy);
        var template = TemplateJoin(limits, sw);

        // 2. Every class of every layer, with the energy fusion removes from each of its members and so the lower
        //    bound (the layer's own optimum, or bound) - (that energy).
        limits.Progress?.Phase("listing the classes of partial mappings");
        var layers = ListClasses((i, job) =>
        {
            if (job.InKey is null && job.OutKey is null) return unfusedClasses[i];
            var c = new ClassState(i, job);
            var key = ShapeKeyOf(i, job);
            ShapeResult? known;
            lock (_shapes) known = _p.ReuseSameShapes ? _shapes.GetValueOrDefault(key) : null;
            c.Removed = FusionCost.ClassRemoval(EinsumOf(i, job), _p.Arch, job.Shared, job.Held);
            // A member of the layer's own Einsum costs at least the layer's own optimum; one that computes its readers'
            // halos runs another Einsum (more rows, or fewer when its readers skip rows), so only 0 bounds it.
            c.Lower = job.Member is null ? Math.Max(0, unfusedClasses[i].Lower - c.Removed.Value) : 0;
            if (known is not null)
            {
                c.Member = Adopt(known, i, job);
                c.Lower = Math.Max(c.Lower, known.Lower);
                c.Searched = known.Exact;
            }
            return c;
        }, c => double.IsPositiveInfinity(c.Lower))!;
        // With --keep-halos, every group that keeps its halos, its members' classes beside the join's (their own keys).
        var kept = _p.KeepHalos ? AddKeptClasses(layers, i => unfusedClasses[i].Lower) : [];

        // The template's partial mappings are members of the same classes (the same constraints decide membership):
        // each class starts from its best template member, so the answer is never worse than the template's optimum
        // and the ceilings start tighter.
        SeedFromTemplate(layers, template, p => p.Energy, (a, b) => a.Energy < b.Energy * (1 - 1e-12));

        // Every class's bound before any is searched: the least over its spatial plans of the bound its own search would start
        // each plan from (TilingSearch.LowerBound, which sees the DRAM factors the class pins and the capacity its held
        // tensors leave), less R. On ResNet-50 and GPT-3 it is above u - R for most classes, so the forward pass reaches the
        // best total with few of them searched (docs/benchmarks.md). Layers of the same shape share it.
        if (!stop())
        {
            limits.Progress?.Phase("bounding every class of partial mappings");
            foreach (var c in layers.SelectMany(l => l))
            {
                if (c.Searched || (c.Job.InKey is null && c.Job.OutKey is null) || double.IsPositiveInfinity(c.Lower) || stop()) continue;
                if (c.Main is not null) { BoundKept(c); continue; }
                double own = ClassBound(c);
                c.Lower = Math.Min(Math.Max(c.Lower, own - c.Removed!.Value), c.Member?.Energy ?? double.PositiveInfinity);
            }
        }

        // 3. Branch and bound over the join: the class whose least possible total (the best bound of the layers
        //    before it, its own bound, the best bound of the layers after it) is smallest is searched exactly, with
        //    a ceiling: what it must stay below to improve on the best fused mapping known. When no class left
        //    unsearched could improve on it, the best is proven.
        int searchedCount = 0;
        while (!stop() && NextClass(layers, p => p.Energy) is var (next, ceiling) && next is not null)
        {
            limits.Progress?.Phase($"exact search of class {++searchedCount} ({w.Layers[next.Layer].Name}, shared [{SharedText(next.Job.Shared)}])");
            if (next.Main is null) Search(next, ceiling, stop, seedWithDescent: false);
            else SearchKept(next, ceiling, stop, kept, uMap);
        }

        // 4. The join of the members found (one per class, the class's optimum where it could matter), and its proof:
        //    the join of the classes' lower bounds.
        var survivors = layers.Select(l => (IReadOnlyList<FusionPartial>)l.Where(c => c.Member is not null).Select((c, k) => c.Member! with { Order = k }).ToList()).ToList();
        var chain = BestChain(layers);
        var (fMap, fRep) = Recheck(Assemble(chain));
        double value = fRep.Energy;
        double bound = Forward(layers, c => c.Lower)[n].GetValueOrDefault(DramKey, double.PositiveInfinity);
        bool proven = Meets(bound, value);
        // Per layer: search nodes, classes with a member, classes searched, the keys after the layer, classes.
        var keysAfter = Forward(layers, c => c.Lower);
        var stats = layers.Select((l, i) => new FusionLayerStats(w.Layers[i].Name, l.Sum(c => c.Nodes), l.Count(c => c.Member is not null), l.Count(c => c.Searched),
            keysAfter[i + 1].Count, l.Count)).ToList();
        return new FusionResult(proven ? SolveStatus.Optimal : SolveStatus.Feasible, fMap, fRep, value, uMap, uRep, sw.Elapsed, stats, survivors,
            proven ? null : "stopped before every class of partial mappings that could improve on the answer was searched to the end; the bound is the join of the classes' lower bounds")
        { Bound = proven ? value : Math.Min(value, bound), UnfusedProven = unfusedProven };
    }

    private FusionResult? _noLayerAlone;

    /// <summary>
    /// Every class's first member: its best template member by <paramref name="order"/> (<see cref="TemplateJoin"/>'s
    /// survivors: they meet the classes' constraints, so they are members), where it is <paramref name="better"/> than the
    /// member known. Every layer the template's join reached, whether or not it finished.
    /// </summary>
    private static void SeedFromTemplate(List<List<ClassState>> layers, IReadOnlyList<IReadOnlyList<FusionPartial>> template, Func<FusionPartial, double> order, Func<FusionPartial, FusionPartial, bool> better)
    {
        for (int i = 0; i < layers.Count; i++)
            foreach (var c in layers[i])
            {
                var best = (template.ElementAtOrDefault(i) ?? []).Where(p => !p.Pipelined && !p.Keep && (p.InKey ?? DramKey) == c.InKey && (p.OutKey ?? DramKey) == c.OutKey)
                    .OrderBy(order).ThenBy(p => p.Energy).FirstOrDefault();
                if (best is not null && (c.Member is null || better(best, c.Member))) c.Member = best;
            }
    }

    /// <summary>
    /// Step 1 of the searches over the full mapspace: every layer alone, each class searched by <paramref name="search"/>
    /// (exactly as map finds it); null when some layer has no member, the answer then in <see cref="_noLayerAlone"/>.
    /// </summary>
    private ClassState[]? EveryLayerAlone(Action<ClassState> search, SearchLimits limits, string phase, Stopwatch sw, Func<bool> late, Func<bool> stop)
    {
        limits.Progress?.Phase(phase);
        var w = _p.Workload;
        var alone = new ClassState[w.Layers.Count];
        for (int i = 0; i < alone.Length; i++)
        {
            var c = alone[i] = new ClassState(i, Job.Alone);
            search(c);
            if (c.Member is not null) continue;
            _deadEnd = w.Layers[i].Name;
            _noLayerAlone = new FusionResult(late() || stop() ? SolveStatus.Unknown : SolveStatus.Infeasible, null, null, null, null, null, sw.Elapsed, [], [],
                late() || stop() ? $"stopped before layer {w.Layers[i].Name} had any mapping"
                    : $"layer {w.Layers[i].Name} has no valid mapping in the single-layer mapspace, so the fused mapspace is empty");
            return null;
        }
        return alone;
    }

    /// <summary>
    /// A layer's own class when the run was interrupted (Ctrl-C, not the time limit) before its search: the template's best by
    /// <paramref name="value"/>, proving nothing, so that there is still an answer.
    /// </summary>
    private void FallBackToTemplate(ClassState c, Func<FusionPartial, double> value)
    {
        if (c.Member is null && c.Job.InKey is null && c.Job.OutKey is null && !_late())
            c.Member = TemplateClasses(c.Layer, [c.Job])[0].Kept.OrderBy(value).ThenBy(p => p.Energy).FirstOrDefault();
    }

    /// <summary>
    /// The class to search next in the branch and bound over the join (step 3): the unsearched one on the least total of
    /// bounds (the best bounds before it, its own, the best after it), with its ceiling (the best total of members known,
    /// by <paramref name="value"/>, less the two sums); null when no unsearched class could improve on that best total.
    /// The passes run over the join's flat copy of the classes (<see cref="JoinView"/>, f17ae): with pipelined groups this is
    /// called once per class searched (about 5,600 times on GPT-3, over about 22,000 classes), and reading every class object
    /// in each of the three passes was about 10 s of CPU there; the copy takes only the classes changed since the last call.
    /// The same values, the same pick (ties: the first in order) and the same ceiling as the passes over the objects.
    /// </summary>
    private (ClassState? Next, double Ceiling) NextClass(List<List<ClassState>> layers, Func<FusionPartial, double> value)
    {
        int n = layers.Count;
        var view = JoinView.Of(layers, value);
        if (CheckJoinViews)
        {
            view.Check(layers, value);
            JoinViewsChecked++;
        }
        var keys = view.Keys;
        var forward = keys.Forward(view.Lower, view.Forward);
        var backward = keys.Backward(view.Lower, view.Backward);
        double best = keys.Forward(view.MemberValue, view.Members)[n][keys.Dram];
        ClassState? next = null;
        double nextTotal = double.PositiveInfinity, before = 0, after = 0;
        for (int i = 0; i < n; i++)
        {
            var lower = view.Lower[i];
            var searched = view.Searched[i];
            int[] ins = keys.In[i], outs = keys.Out[i];
            double[] f = forward[i], b = backward[i + 1];
            for (int j = 0; j < lower.Length; j++)
            {
                if (searched[j]) continue;
                double total = f[ins[j]] + lower[j] + b[outs[j]];
                if (total < nextTotal) (next, nextTotal, before, after) = (layers[i][j], total, f[ins[j]], b[outs[j]]);
            }
        }
        if (next is null || Meets(nextTotal, best)) return (null, 0);
        return (next, best - before - after);
    }

    /// <summary>
    /// Tests only: at every <see cref="NextClass"/>, the join's flat copy (<see cref="JoinView"/>) compared with the classes
    /// read afresh, value by value (an exception on the first difference).
    /// </summary>
    internal bool CheckJoinViews { get; init; }

    /// <summary>Tests only, with <see cref="CheckJoinViews"/>: the calls whose view was checked.</summary>
    internal long JoinViewsChecked { get; private set; }

    /// <summary>
    /// A join's classes as flat arrays per layer (f17ae): each class's bound, whether it was searched and its member's value,
    /// what <see cref="NextClass"/>'s passes read, with the pass buffers. Each class in it tells it of every change
    /// (<see cref="ClassState.View"/>); a call takes only the classes changed since the last, every class when a layer gained
    /// classes or the value of a member changed (another join's lambda). A class already in another join's view is not taken
    /// over: this view then reads every class at every call.
    /// </summary>
    private sealed class JoinView
    {
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<List<List<ClassState>>, JoinView> Known = new();
        private readonly object _lock = new();
        private readonly List<ClassState> _dirty = [];
        private int[] _counts = [];
        private bool _tracked;
        private Func<FusionPartial, double>? _value;
        public KeyIndex Keys { get; private set; } = null!;
        public double[][] Lower { get; private set; } = [];
        public bool[][] Searched { get; private set; } = [];
        public double[][] MemberValue { get; private set; } = [];
        /// <summary>The buffers of the forward, backward and members' passes.</summary>
        public double[][] Forward { get; private set; } = [];
        public double[][] Backward { get; private set; } = [];
        public double[][] Members { get; private set; } = [];

        /// <summary>The view of <paramref name="layers"/> with every change taken, its member values by <paramref name="value"/>.</summary>
        public static JoinView Of(List<List<ClassState>> layers, Func<FusionPartial, double> value)
        {
            var view = Known.GetValue(layers, _ => new JoinView());
            view.Update(layers, value);
            return view;
        }

        /// <summary>Called by a class of this view when what the passes read changed.</summary>
        public void Changed(ClassState c)
        {
            lock (_lock)
            {
                if (c.ViewDirty) return;
                c.ViewDirty = true;
                _dirty.Add(c);
            }
        }

        private void Update(List<List<ClassState>> layers, Func<FusionPartial, double> value)
        {
            bool same = _counts.Length == layers.Count;
            for (int i = 0; same && i < layers.Count; i++) same = _counts[i] == layers[i].Count;
            if (!same) Build(layers);
            if (!same || !_tracked || !ReferenceEquals(value, _value))
            {
                lock (_lock)
                {
                    foreach (var c in _dirty) c.ViewDirty = false;
                    _dirty.Clear();
                }
                for (int i = 0; i < layers.Count; i++)
                    for (int j = 0; j < layers[i].Count; j++) Read(layers[i][j], i, j, value);
            }
            else
            {
                ClassState[] changed;
                lock (_lock)
                {
                    changed = [.. _dirty];
                    foreach (var c in changed) c.ViewDirty = false;
                    _dirty.Clear();
                }
                foreach (var c in changed) Read(c, c.ViewLayer, c.ViewSlot, value);
            }
            _value = value;
        }

        /// <summary>The arrays and buffers made again (a layer gained classes), every class taken, and told to report to this view.</summary>
        private void Build(List<List<ClassState>> layers)
        {
            Keys = KeyIndex.Of(layers);
            _counts = layers.Select(l => l.Count).ToArray();
            Lower = layers.Select(l => new double[l.Count]).ToArray();
            Searched = layers.Select(l => new bool[l.Count]).ToArray();
            MemberValue = layers.Select(l => new double[l.Count]).ToArray();
            (Forward, Backward, Members) = (Keys.Empty(), Keys.Empty(), Keys.Empty());
            _tracked = true;
            lock (_lock)
            {
                for (int i = 0; i < layers.Count; i++)
                    for (int j = 0; j < layers[i].Count; j++)
                    {
                        var c = layers[i][j];
                        if (c.View is not null && c.View != this) { _tracked = false; continue; }
                        (c.View, c.ViewLayer, c.ViewSlot) = (this, i, j);
                    }
                foreach (var c in _dirty) c.ViewDirty = false;
                _dirty.Clear();
            }
            _value = null;
        }

        private void Read(ClassState c, int i, int j, Func<FusionPartial, double> value)
        {
            Lower[i][j] = c.Lower;
            Searched[i][j] = c.Searched;
            MemberValue[i][j] = c.Member is { } m ? value(m) : double.PositiveInfinity;
        }

        /// <summary>Tests only: throws unless every value of the view equals the class's read afresh.</summary>
        public void Check(List<List<ClassState>> layers, Func<FusionPartial, double> value)
        {
            for (int i = 0; i < layers.Count; i++)
                for (int j = 0; j < layers[i].Count; j++)
                {
                    var c = layers[i][j];
                    double member = c.Member is { } m ? value(m) : double.PositiveInfinity;
                    if (!c.Lower.Equals(Lower[i][j]) || c.Searched != Searched[i][j] || !member.Equals(MemberValue[i][j]))
                        throw new InvalidOperationException($"the join's view of class {j} of layer {i} is stale: bound {Lower[i][j]} for {c.Lower}, " +
                            $"searched {Searched[i][j]} for {c.Searched}, member {MemberValue[i][j]} for {member}");
                }
        }
    }

    /// <summary>
    /// The keys of a join's classes as indices per layer boundary, so that <see cref="NextClass"/>, run once per class searched,
    /// takes <see cref="Forward"/> and <see cref="Backward"/> over arrays (the same values, in the same order): with pipelined
    /// groups each group's members have keys of their own (GPT-3 on tpu-v4i: about 22,000 classes, and before f17s a third of the
    /// pipelined EDP search's time went into those passes over dictionaries). Taken again when a layer gains classes.
    /// </summary>
    private sealed class KeyIndex
    {
        private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<List<List<ClassState>>, KeyIndex> Known = new();
        private readonly int[] _counts;
        private readonly int[] _keys;
        /// <summary>Per class of the last layer, true when its out key is not DRAM (no chain ends there).</summary>
        private readonly bool[] _lastOpen;
        /// <summary>Per layer, per class: its in key's index at the boundary before the layer, its out key's at the one after.</summary>
        public int[][] In { get; }
        public int[][] Out { get; }
        /// <summary>DRAM's index at every boundary (0: the first key taken at each).</summary>
        public int Dram => 0;

        private KeyIndex(List<List<ClassState>> layers)
        {
            int n = layers.Count;
            var at = Enumerable.Range(0, n + 1).Select(_ => new Dictionary<string, int> { [DramKey] = 0 }).ToArray();
            int IndexOf(int boundary, string key) => at[boundary].TryGetValue(key, out var k) ? k : at[boundary][key] = at[boundary].Count;
            _counts = layers.Select(l => l.Count).ToArray();
            In = layers.Select((l, i) => l.Select(c => IndexOf(i, c.InKey)).ToArray()).ToArray();
            Out = layers.Select((l, i) => l.Select(c => IndexOf(i + 1, c.OutKey)).ToArray()).ToArray();
            _keys = at.Select(d => d.Count).ToArray();
            _names = at.Select(d => d.OrderBy(e => e.Value).Select(e => e.Key).ToArray()).ToArray();
            _lastOpen = n == 0 ? [] : layers[^1].Select(c => c.OutKey != DramKey).ToArray();
        }

        /// <summary>Per boundary, the keys by index.</summary>
        private readonly string[][] _names;

        /// <summary>Sums per key index as dictionaries by key, keeping only the finite ones (the keys a chain reaches).</summary>
        public List<Dictionary<string, double>> Named(double[][] sums)
            => sums.Select((row, b) => Enumerable.Range(0, row.Length).Where(k => !double.IsPositiveInfinity(row[k]))
                .ToDictionary(k => _names[b][k], k => row[k])).ToList();

        /// <summary>The index of <paramref name="layers"/>, taken again when some layer's count of classes changed (classes are only added).</summary>
        public static KeyIndex Of(List<List<ClassState>> layers)
        {
            if (Known.TryGetValue(layers, out var known) && known._counts.Length == layers.Count && known._counts.Select((k, i) => k == layers[i].Count).All(x => x))
                return known;
            var made = new KeyIndex(layers);
            Known.AddOrUpdate(layers, made);
            return made;
        }

        /// <summary>Per boundary, per key index, +infinity.</summary>
        public double[][] Empty() => _keys.Select(k => Enumerable.Repeat(double.PositiveInfinity, k).ToArray()).ToArray();

        /// <summary>Per layer, per class, its value.</summary>
        private static double[][] Values(List<List<ClassState>> layers, Func<ClassState, double> value) => layers.Select(l => l.Select(value).ToArray()).ToArray();

        public double[][] Forward(List<List<ClassState>> layers, Func<ClassState, double> value) => Forward(Values(layers, value), Empty());

        public double[][] Backward(List<List<ClassState>> layers, Func<ClassState, double> value) => Backward(Values(layers, value), Empty());

        /// <summary>
        /// Per boundary, per key index, the least sum of a value (<paramref name="values"/>, per layer per class) over one class per
        /// layer before it along compatible keys (+infinity where no chain reaches it), into <paramref name="result"/>: the one place
        /// of the join's forward recurrence.
        /// </summary>
        public double[][] Forward(double[][] values, double[][] result)
        {
            int n = values.Length;
            foreach (var row in result) Array.Fill(row, double.PositiveInfinity);
            result[0][Dram] = 0;
            for (int i = 0; i < n; i++)
            {
                double[] from = result[i], to = result[i + 1], v = values[i];
                int[] ins = In[i], outs = Out[i];
                for (int j = 0; j < v.Length; j++)
                {
                    if (i == n - 1 && _lastOpen[j]) continue;
                    double before = from[ins[j]];
                    if (double.IsPositiveInfinity(before)) continue;
                    double total = before + v[j];
                    if (total < to[outs[j]]) to[outs[j]] = total;
                }
            }
            return result;
        }

        /// <summary>
        /// Per boundary, per key index, the least sum of a value (<paramref name="values"/>) over one class per layer from it on
        /// (+infinity where none), into <paramref name="result"/>: the one place of the backward recurrence.
        /// </summary>
        public double[][] Backward(double[][] values, double[][] result)
        {
            int n = values.Length;
            foreach (var row in result) Array.Fill(row, double.PositiveInfinity);
            result[n][Dram] = 0;
            for (int i = n - 1; i >= 0; i--)
            {
                double[] from = result[i + 1], to = result[i], v = values[i];
                int[] ins = In[i], outs = Out[i];
                for (int j = 0; j < v.Length; j++)
                {
                    double after = from[outs[j]];
                    if (double.IsPositiveInfinity(after)) continue;
                    double total = v[j] + after;
                    if (total < to[ins[j]]) to[ins[j]] = total;
                }
            }
            return result;
        }
    }

    /// <summary>
    /// Every class of every layer reachable along compatible keys from DRAM, in each layer's fixed order, each made by
    /// <paramref name="make"/> (null: stopped, and so is the listing); a class that <paramref name="dead"/> says has no
    /// member leads nowhere. With <paramref name="threads"/> above 1 a layer's classes are made on that many threads
    /// (<paramref name="make"/> must then be safe to run at once on different classes); each lands at its place in the
    /// layer's order, so the lists are the same.
    /// </summary>
    private List<List<ClassState>>? ListClasses(Func<int, Job, ClassState?> make, Func<ClassState, bool> dead, int threads = 1)
    {
        var layers = new List<List<ClassState>>();
        IEnumerable<string?> inKeys = [null];
        for (int i = 0; i < _p.Workload.Layers.Count; i++)
        {
            var list = new List<ClassState>();
            var jobs = Jobs(i, inKeys, fuse: true);
            if (threads > 1)
            {
                var made = new ClassState?[jobs.Count];
                int layer = i;
                Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, (k, loop) =>
                {
                    if ((made[k] = make(layer, jobs[k])) is null) loop.Stop();
                });
                if (made.Any(c => c is null)) return null;
                list.AddRange(made!);
            }
            else
                foreach (var job in jobs)
                {
                    if (make(i, job) is not { } c) return null;
                    list.Add(c);
                }
            layers.Add(list);
            inKeys = list.Where(c => c.OutKey != DramKey && !dead(c)).Select(c => (string?)c.OutKey).Distinct().Prepend(null).ToList();
        }
        return layers;
    }

    /// <summary>
    /// The exact search of one class under a ceiling (in fused energy, or for latency fused cycles; infinite for none): its
    /// optimum when it is below the ceiling, else the proof that nothing is (the ceiling becomes its bound), or, when stopped,
    /// the search's bound. Layers of the same shape share the result.
    /// </summary>
    private void Search(ClassState c, double ceiling, Func<bool> stop, bool seedWithDescent)
    {
        bool latency = _p.Objective == Objective.Latency;
        var e = EinsumOf(c.Layer, c.Job);
        var key = ShapeKeyOf(c.Layer, c.Job);
        ShapeResult? known;
        lock (_shapes) known = _p.ReuseSameShapes ? _shapes.GetValueOrDefault(key) : null;
        if (known is { Exact: true } || (known is not null && known.Lower >= ceiling))
        {
            (c.Member, c.Removed, c.Lower, c.Searched) = (Adopt(known, c.Layer, c.Job), known.Removed, latency ? Math.Max(c.Lower, known.Lower) : known.Lower, true);
            return;
        }
        c.Searched = true;
        if (stop())
        {
            FallBackToTemplate(c, latency ? p => p.Cycles : p => p.Energy);
            return;
        }
        // In the search's own (unfused) energy the ceiling is the fused one plus what fusion removes (known from a member);
        // the latency search's own cycles are the fused ones (LatencyProblem).
        double searchCeiling = latency ? ceiling : c.Removed is { } removed && double.IsFinite(ceiling) ? ceiling + removed : double.PositiveInfinity;
        // Below a ceiling the search needs no seed: it finds the optimum itself, or proves nothing is below it.
        var r = new TilingSearch(latency ? LatencyProblem(c) : ClassProblem(c), prune: true, seed: seedWithDescent || c.Member is not null,
                incumbent: seedWithDescent ? null : c.Member?.Mapping, ceiling: searchCeiling)
            .Solve(_classLimits());
        c.Nodes += Spend(r.Explored);
        if (r.Status == SolveStatus.Infeasible)
        {
            (c.Member, c.Lower) = (null, double.PositiveInfinity);
        }
        else
        {
            if (r is { Mapping: { } m, Report: { } report })
            {
                var member = Member(c.Layer, c.Job, m, report, 0, out var cost);
                c.Removed = cost.RemovedEnergy;
                if (c.Member is null || (latency ? Faster(member, c.Member) : member.Energy < c.Member.Energy)) c.Member = member;
            }
            if (r.Status == SolveStatus.Optimal) c.Lower = latency ? c.Member!.Cycles : c.Member!.Energy;
            else if (latency) c.Lower = Math.Max(c.Lower, Math.Ceiling(r.Bound));
            else if (c.Removed is { } x) c.Lower = Math.Max(c.Lower, r.Bound - x);
        }
        bool exact = r.Status is SolveStatus.Optimal or SolveStatus.Infeasible;
        lock (_shapes) _shapes[key] = new ShapeResult(e, c.Member, c.Removed, c.Lower, exact, c.Nodes);
    }

    /// <summary>
    /// A shape's class bound (<see cref="ClassBound"/>): computed once, by the first thread to ask (the others wait), and
    /// whether the search itself has taken it. <see cref="KnownClassBound"/> reads only the taken ones, so what the search
    /// knows never depends on what was computed ahead of it (<see cref="ClassBoundsAhead"/>): the same path on every run.
    /// </summary>
    private sealed class ShapeBound(Lazy<double> value)
    {
        public Lazy<double> Value { get; } = value;
        public volatile bool Taken;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ShapeBound> _classBounds = new();

    /// <summary>
    /// The one computation of each class problem's bound (f17aa), shared by the shapes whose held tensors differ only in their
    /// use (a reader's class and its loader's class of the same layer, tensors and levels: on GPT-3, 38 of the 1,012 bounds
    /// the search computed). Sound because the bound is a function of this key: <see cref="UnsharedClassBound"/> bounds
    /// <see cref="ClassProblem"/>, made of the class's Einsum (its shape, what <see cref="Zoo.ShapeKey"/> says), the words
    /// reserved per level, its shared loops, and its held tensors' positions and levels and its bare level (its constraints);
    /// the uses enter only what fusion removes and the fused cycles, which the bound leaves out. Each shape keeps its own
    /// <see cref="ShapeBound.Taken"/>, so what the search reads as known (<see cref="KnownClassBound"/>) is as before.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<double>> _classBoundValues = new();

    /// <summary>How many threads the class searches may use (the limits' count, or one per core).</summary>
    private int SearchThreads => _classLimits().Threads is > 0 and var t ? t : Environment.ProcessorCount;

    /// <summary>A class as a single-layer problem: its Einsum under its constraints, on the architecture less the words that
    /// held tensors living across the layer take from its levels' capacity (docs/fusion.md, "Capacity").</summary>
    private MapProblem ClassProblem(ClassState c)
    {
        var e = EinsumOf(c.Layer, c.Job);
        var constraints = FusionMapspace.ClassConstraints(e, c.Job.Shared, c.Job.Held);
        if (c.Job.Bare is { } bare) constraints = FusionMapspace.KeepingNothingAt(constraints, e, bare, c.Job.Held);
        return new MapProblem(e, FusionRules.Reserve(_p.Arch, c.Job.Reserved)!, Objective.Energy, constraints);
    }

    /// <summary>A lower bound on every member's unfused energy, without a search (<see cref="TilingSearch.LowerBound"/>), shared by classes of the same shape.</summary>
    private double ClassBound(ClassState c)
    {
        // Once per shape, also when classes are bounded on several threads at once (the first to ask computes, the others wait).
        if (!_p.ReuseSameShapes) return UnsharedClassBound(c);
        var shape = ShapeBoundOf(c);
        double bound = shape.Value.Value;
        shape.Taken = true;
        return bound;
    }

    /// <summary>The entry of a class's shape in the shared class bounds (made, not computed, when missing).</summary>
    private ShapeBound ShapeBoundOf(ClassState c) => _classBounds.GetOrAdd(ShapeKeyOf(c.Layer, c.Job),
        _ => new ShapeBound(_classBoundValues.GetOrAdd(ShapeKeyOf(c.Layer, c.Job, uses: false), _ => new Lazy<double>(() => ClassBoundOnSharedPlans(c)))));

    /// <summary>A class's bound computed afresh: the energy search's <see cref="TilingSearch.LowerBound(SearchLimits)"/> of its problem, listing and bounding its spatial plans itself.</summary>
    private double UnsharedClassBound(ClassState c) => new TilingSearch(ClassProblem(c), prune: true, seed: false).LowerBound(_classLimits());

    /// <summary>
    /// The one computation of a class's bound (<see cref="UnsharedClassBound"/>'s number), its spatial plans and the parts of their
    /// plain bounds taken from <see cref="_plainPlans"/>: made by the first class of its layer's shape to ask, shared by the others.
    /// </summary>
    private double ClassBoundOnSharedPlans(ClassState c)
    {
        var limits = _classLimits();
        var search = new TilingSearch(ClassProblem(c), prune: true, seed: false);
        return search.LowerBound(limits, PlainPlansOf(c, search, limits));
    }

    /// <summary>The shared plans of a class's layer shape, made by <paramref name="search"/> (the class's own) when missing; null when they could not be made.</summary>
    private PlainPlans? PlainPlansOf(ClassState c, TilingSearch search, SearchLimits limits)
        => _plainPlans.GetOrAdd(Zoo.ShapeKey(EinsumOf(c.Layer, c.Job)), _ => new Lazy<PlainPlans?>(() => search.PlainPlans(limits))).Value;

    /// <summary>
    /// Per layer shape (<see cref="Zoo.ShapeKey"/> of the class's Einsum), its spatial plans with the parts of their plain inner
    /// bounds (<see cref="Solvers.PlainPlans"/>, f17ab): on GPT-3, 1,012 class bounds each listed and bounded about 1,790 plans,
    /// 44.7 s of CPU, for a handful of shapes. Sound because the parts are a function of this key within one fused search: the
    /// classes' problems (<see cref="ClassProblem"/>) differ only in their constraints, which pin DRAM's loops and keep sets and
    /// never a spatial factor, and in the capacities the reserved words leave (<see cref="FusionRules.Reserve"/> changes nothing
    /// else of a level); the architecture's energies and fanouts, the convention and the objective are the run's. The keep
    /// sets and capacities enter only <see cref="Solvers.PlainPlans.Plain"/>, per class; <see cref="Solvers.PlainPlans.Serves"/>
    /// checks the rest for each class (a class it does not serve is bounded afresh). The plans made while the limits had
    /// stopped the run are not kept (null: every class then bounds its own, as before).
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<PlainPlans?>> _plainPlans = new();

    /// <summary>
    /// For tests: up to <paramref name="most"/> classes the full mapspace lists (in the layers' order), the first
    /// <paramref name="perLayer"/> of each layer whose problem (uses left out) is new, each with every plan's plain bound as
    /// <see cref="ClassBoundOnSharedPlans"/> takes it (from its layer shape's shared plans, made by an earlier class when there
    /// was one) and as computed afresh, its bound both ways, and its layer shape's key (the first class of a shape made its plans).
    /// </summary>
    internal IReadOnlyList<(string Problem, string Shape, IReadOnlyList<double> Shared, IReadOnlyList<double> Own, double SharedBound, double OwnBound)> ClassPlainBoundsOnSharedPlans(int most, int perLayer)
    {
        var layers = ListClasses((i, job) => new ClassState(i, job), _ => false)!;
        var seen = new HashSet<string>();
        var result = new List<(string, string, IReadOnlyList<double>, IReadOnlyList<double>, double, double)>();
        foreach (var layer in layers)
        {
            int taken = 0;
            foreach (var c in layer)
            {
                if (result.Count == most) return result;
                if (taken == perLayer) break;
                var problem = ShapeKeyOf(c.Layer, c.Job, uses: false);
                if (!seen.Add(problem)) continue;
                taken++;
                var limits = _classLimits();
                var search = new TilingSearch(ClassProblem(c), prune: true, seed: false);
                var plans = PlainPlansOf(c, search, limits);
                var fresh = new TilingSearch(ClassProblem(c), prune: true, seed: false);
                result.Add((problem, Zoo.ShapeKey(EinsumOf(c.Layer, c.Job)), search.PlainBounds(plans)!, fresh.PlainBounds(null)!, ClassBoundOnSharedPlans(c), UnsharedClassBound(c)));
            }
        }
        return result;
    }

    /// <summary>
    /// For tests: the first <paramref name="most"/> classes the full mapspace lists (in the layers' order) whose problem (uses
    /// left out, <see cref="_classBoundValues"/>) an earlier class of another shape has: its shape's key and the earlier one's,
    /// its <see cref="ClassBound"/> (the earlier class's computation, shared across uses) and its own bound computed afresh
    /// (<see cref="UnsharedClassBound"/>).
    /// </summary>
    internal IReadOnlyList<(string Shape, string Earlier, double Shared, double Own)> ClassBoundsAcrossUses(int most)
    {
        var layers = ListClasses((i, job) => new ClassState(i, job), _ => false)!;
        var first = new Dictionary<string, ClassState>();
        var result = new List<(string, string, double, double)>();
        foreach (var c in layers.SelectMany(x => x))
        {
            var problem = ShapeKeyOf(c.Layer, c.Job, uses: false);
            if (!first.TryGetValue(problem, out var earlier)) { first[problem] = c; ClassBound(c); continue; }
            if (ShapeKeyOf(earlier.Layer, earlier.Job) == ShapeKeyOf(c.Layer, c.Job)) continue;
            result.Add((ShapeKeyOf(c.Layer, c.Job), ShapeKeyOf(earlier.Layer, earlier.Job), ClassBound(c), UnsharedClassBound(c)));
            if (result.Count == most) break;
        }
        return result;
    }

    /// <summary>A class's <see cref="ClassBound"/> when the search has already taken its shape's (shared shapes only), else null.</summary>
    private double? KnownClassBound(ClassState c)
        => _p.ReuseSameShapes && _classBounds.TryGetValue(ShapeKeyOf(c.Layer, c.Job), out var b) && b.Taken ? b.Value.Value : null;

    /// <summary>
    /// Per layer boundary i (0..n), per key: the least sum of a value over one class per layer before i along compatible keys
    /// (only the keys some chain reaches with a finite sum). The recurrence is <see cref="KeyIndex.Forward"/>'s.
    /// </summary>
    private static List<Dictionary<string, double>> Forward(List<List<ClassState>> layers, Func<ClassState, double> value)
    {
        var keys = KeyIndex.Of(layers);
        return keys.Named(keys.Forward(layers, value));
    }

    /// <summary>
    /// Per layer boundary i (0..n), per key: the least sum of a value over one class per layer from i on, starting with that
    /// key (only finite sums). The recurrence is <see cref="KeyIndex.Backward"/>'s.
    /// </summary>
    private static List<Dictionary<string, double>> Backward(List<List<ClassState>> layers, Func<ClassState, double> value)
    {
        var keys = KeyIndex.Of(layers);
        return keys.Named(keys.Backward(layers, value));
    }

    /// <summary>The chain of members of least total energy, or of another value of a member (ties: the first class in each layer's fixed order).</summary>
    private static List<FusionPartial> BestChain(List<List<ClassState>> layers, Func<FusionPartial, double>? valueOf = null)
    {
        valueOf ??= p => p.Energy;
        var after = Backward(layers, c => c.Member is { } m ? valueOf(m) : double.PositiveInfinity);
        var chain = new List<FusionPartial>();
        string key = DramKey;
        for (int i = 0; i < layers.Count; i++)
        {
            ClassState? pick = null;
            double least = double.PositiveInfinity;
            foreach (var c in layers[i])
            {
                if (c.InKey != key || c.Member is null || !after[i + 1].TryGetValue(c.OutKey, out var rest)) continue;
                double total = valueOf(c.Member) + rest;
                if (total < least * (1 - 1e-12)) (pick, least) = (c, total);
            }
            chain.Add(pick!.Member!);
            key = pick.OutKey;
        }
        return chain;
    }
}
