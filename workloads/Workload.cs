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
    public long Macs => Layers.Aggregate(0L, (acc, l) => checked(acc + l.Macs));

    private static List<Einsum> TopologicalOrder(string name, List<Einsum> layers, List<(Einsum P, Einsum C, TensorId T)> edges)
    {
        // Kahn's algorithm, taking ready layers in declaration order so the order is deterministic.
        var indegree = layers.ToDictionary(l => l, _ => 0);
        foreach (var e in edges) indegree[e.C]++;
        var order = new List<Einsum>();
        var done = new HashSet<Einsum>();
        while (order.Count < layers.Count)
        {
            var next = layers.FirstOrDefault(l => !done.Contains(l) && indegree[l] == 0);
            if (next is null)
            {
                var stuck = layers.Where(l => !done.Contains(l)).Select(l => l.Name);
                throw new ArgumentException($"Workload {name} has a cycle among layers {string.Join(", ", stuck)}.", nameof(layers));
            }
            done.Add(next);
            order.Add(next);
            foreach (var e in edges.Where(e => e.P == next)) indegree[e.C]--;
        }
        return order;
    }
}
