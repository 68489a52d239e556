namespace Optimizer.Workloads;

/// <summary>
/// A workload: a directed acyclic graph of Einsums joined by tensors. An Einsum whose output tensor
/// has the same name as another Einsum's operand feeds that Einsum.
/// </summary>
public sealed class Workload
{
    /// <summary>The workload's name, such as <c>resnet50</c>.</summary>
    public string Name { get; }
    /// <summary>One line saying what it is and where its shapes come from.</summary>
    public string Description { get; }
    /// <summary>The Einsums in a topological order (producers before consumers).</summary>
    public IReadOnlyList<Einsum> Layers { get; }
    /// <summary>The edges (producer, consumer, tensor), in layer order.</summary>
    public IReadOnlyList<(Einsum Producer, Einsum Consumer, TensorId Tensor)> Edges { get; }

    /// <summary>The layers (indices into <see cref="Layers"/>, in order) that read a tensor; empty for none.</summary>
    public IReadOnlyList<int> ReadersOf(TensorId t) => Index().Readers.TryGetValue(t, out var r) ? r : [];

    /// <summary>The index into <see cref="Layers"/> of the layer that writes a tensor; -1 for a workload input.</summary>
    public int ProducerOf(TensorId t) => Index().Producers.TryGetValue(t, out var i) ? i : -1;

    // Readers and producers per tensor, built on first use (a long chain asks for them once per layer and more); a
    // reference, so threads that race to build it each see a whole one.
    private sealed record TensorUse(Dictionary<TensorId, List<int>> Readers, Dictionary<TensorId, int> Producers);
    private TensorUse? _index;
    private TensorUse Index()
    {
        if (_index is { } built) return built;
        var readers = new Dictionary<TensorId, List<int>>();
        var producers = new Dictionary<TensorId, int>();
        for (int i = 0; i < Layers.Count; i++)
        {
            producers.TryAdd(Layers[i].Output.Id, i);
            foreach (var id in Layers[i].Tensors.Where(x => !x.IsOutput).Select(x => x.Id).Distinct())
            {
                if (!readers.TryGetValue(id, out var list)) readers[id] = list = [];
                list.Add(i);
            }
        }
        return _index = new TensorUse(readers, producers);
    }

    /// <summary>Creates a workload, checking names are distinct, each tensor has at most one producer and the graph has no cycle.</summary>
    public Workload(string name, string description, IEnumerable<Einsum> layers)
    {
        Name = Check.Identifier(name, nameof(name), "workload");
        Description = description;
        var list = layers.ToList();
        if (list.Count == 0) throw new ArgumentException($"Workload {name} has no layers.", nameof(layers));
        var dup = list.GroupBy(l => l.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"Workload {name} has two layers named {dup.Key}.", nameof(layers));

        var producer = new Dictionary<TensorId, Einsum>();
        foreach (var l in list)
            if (!producer.TryAdd(l.Output.Id, l))
                throw new ArgumentException($"Tensor {l.Output.Id} is written by both {producer[l.Output.Id].Name} and {l.Name}; each tensor has one producer.", nameof(layers));
        var edges = new List<(Einsum, Einsum, TensorId)>();
        foreach (var l in list)
            foreach (var t in l.Tensors.Where(t => !t.IsOutput))
                if (producer.TryGetValue(t.Id, out var p))
                {
                    if (ReferenceEquals(p, l)) throw new ArgumentException($"Layer {l.Name} reads its own output {t.Id}: a workload graph has no cycles.", nameof(layers));
                    edges.Add((p, l, t.Id));
                }
        Layers = TopologicalOrder(name, list, edges);
        var rank = Layers.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i);
        Edges = edges.OrderBy(e => rank[e.Item2]).ThenBy(e => rank[e.Item1]).ToList();
    }

    /// <summary>A workload of one Einsum.</summary>
    public static Workload Single(Einsum e, string? description = null) => new(e.Name, description ?? e.Kind, [e]);

    /// <summary>The layer with this name.</summary>
    public Einsum Layer(string name) => Layers.FirstOrDefault(l => l.Name == name)
        ?? throw new ArgumentException($"Workload {Name} has no layer named '{name}'. Its layers: {string.Join(", ", Layers.Take(12).Select(l => l.Name))}{(Layers.Count > 12 ? ", ..." : "")}.", nameof(name));

    /// <summary>The sum of the layers' multiply-accumulates.</summary>
    public long Macs
    {
        get
        {
            long total = 0;
            foreach (var l in Layers)
            {
                try { total = checked(total + l.Macs); }
                catch (OverflowException e) when (!e.Message.StartsWith("Layer ", StringComparison.Ordinal))
                {
                    throw new OverflowException($"Workload {Name}: the MAC count summed up to layer {l.Name} exceeds the 64-bit range; use smaller bounds (a smaller batch).");
                }
            }
            return total;
        }
    }

    private static List<Einsum> TopologicalOrder(string name, List<Einsum> layers, List<(Einsum P, Einsum C, TensorId T)> edges)
    {
        // Kahn's algorithm, taking the ready layer declared first each time so the order is deterministic;
        // linear in layers and edges (times a log for the ready queue).
        var index = new Dictionary<Einsum, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < layers.Count; i++) index[layers[i]] = i;
        var indegree = new int[layers.Count];
        var consumers = new List<int>[layers.Count];
        foreach (var e in edges)
        {
            indegree[index[e.C]]++;
            (consumers[index[e.P]] ??= []).Add(index[e.C]);
        }
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < layers.Count; i++) if (indegree[i] == 0) ready.Enqueue(i, i);
        var order = new List<Einsum>(layers.Count);
        while (ready.TryDequeue(out int next, out _))
        {
            order.Add(layers[next]);
            foreach (int c in consumers[next] ?? [])
                if (--indegree[c] == 0) ready.Enqueue(c, c);
        }
        if (order.Count < layers.Count)
        {
            var stuck = layers.Where((_, i) => indegree[i] > 0).Select(l => l.Name).ToList();
            throw new ArgumentException($"Workload {name} has a cycle among layers {string.Join(", ", stuck.Take(12))}{(stuck.Count > 12 ? $", ... ({stuck.Count} in all)" : "")}.", nameof(layers));
        }
        return order;
    }
}
