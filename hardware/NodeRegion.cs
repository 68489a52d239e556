using Optimizer.Workloads;

namespace Optimizer.Hardware;

/// <summary>
/// A rectangular sub-array of the nodes of a multi-node design: rows <c>Row..Row+Rows-1</c> and
/// columns <c>Col..Col+Cols-1</c> of the node mesh (row 0, column 0 is the corner where the mesh is
/// entered). A layer placed on a region runs on the architecture <see cref="NodeArray.ForRegion"/> gives.
/// </summary>
public readonly record struct NodeRegion
{
    /// <summary>The first row.</summary>
    public int Row { get; }
    /// <summary>The first column.</summary>
    public int Col { get; }
    /// <summary>The number of rows; at least 1.</summary>
    public int Rows { get; }
    /// <summary>The number of columns; at least 1.</summary>
    public int Cols { get; }

    /// <summary>Creates a region.</summary>
    public NodeRegion(int row, int col, int rows, int cols)
    {
        Row = (int)Check.AtLeast(row, 0, nameof(row), "A region's first row");
        Col = (int)Check.AtLeast(col, 0, nameof(col), "A region's first column");
        Rows = (int)Check.AtLeast(rows, 1, nameof(rows), "A region's row count");
        Cols = (int)Check.AtLeast(cols, 1, nameof(cols), "A region's column count");
    }

    /// <summary>The number of nodes.</summary>
    public int Nodes => Rows * Cols;

    /// <summary>The last row.</summary>
    public int LastRow => Row + Rows - 1;

    /// <summary>The last column.</summary>
    public int LastCol => Col + Cols - 1;

    /// <summary>True when the two regions share a node.</summary>
    public bool Overlaps(NodeRegion other)
        => Row <= other.LastRow && other.Row <= LastRow && Col <= other.LastCol && other.Col <= LastCol;

    /// <summary>True when every node of this region is a node of <paramref name="outer"/>.</summary>
    public bool IsInside(NodeRegion outer)
        => Row >= outer.Row && LastRow <= outer.LastRow && Col >= outer.Col && LastCol <= outer.LastCol;

    /// <summary>The mean Manhattan distance, in mesh hops, from a node of <paramref name="from"/> to a node of <paramref name="to"/>, over every pair of nodes.</summary>
    public static double MeanHops(NodeRegion from, NodeRegion to)
        => MeanDistance(from.Row, from.Rows, to.Row, to.Rows) + MeanDistance(from.Col, from.Cols, to.Col, to.Cols);

    // The mean of |x - y| over x in [a, a+na) and y in [b, b+nb).
    private static double MeanDistance(int a, int na, int b, int nb)
    {
        long sum = 0;
        for (int x = a; x < a + na; x++)
            for (int y = b; y < b + nb; y++) sum += Math.Abs(x - y);
        return (double)sum / ((long)na * nb);
    }

    /// <inheritdoc/>
    public override string ToString() => $"rows {Row}-{LastRow} x cols {Col}-{LastCol}";
}

/// <summary>
/// The node array of a multi-node design: an architecture whose outermost level's fanout is a mesh
/// (<see cref="Topology.Mesh"/>), each child of it a node. Builds the architecture a region of it
/// runs on, and lays out regions.
/// </summary>
public static class NodeArray
{
    /// <summary>The node mesh: the outermost level's fanout when it is a mesh of more than one node, else null.</summary>
    public static Fanout? Mesh(Architecture arch)
        => arch.Levels[0].Fanout is { Topology: Topology.Mesh, Size: > 1 } f ? f : null;

    /// <summary>The whole array as a region (rows along the mesh's Y, columns along its X); throws when there is no node mesh.</summary>
    public static NodeRegion Whole(Architecture arch)
        => Mesh(arch) is { } f ? new NodeRegion(0, 0, f.Y, f.X)
            : throw new ArgumentException($"Architecture {arch.Name} has no node mesh: its outermost level's fanout is not a mesh of several nodes.", nameof(arch));

    /// <summary>
    /// The architecture a region runs on: the same levels, with the outermost level's mesh fanout
    /// reduced to the region's columns (X) by rows (Y); the whole array gives the architecture itself.
    /// </summary>
    public static Architecture ForRegion(Architecture arch, NodeRegion region)
    {
        var whole = Whole(arch);
        if (!region.IsInside(whole))
            throw new ArgumentException($"Region {region} is not inside the {whole.Rows} x {whole.Cols} node array of {arch.Name}.", nameof(region));
        if (region.Rows == whole.Rows && region.Cols == whole.Cols) return arch;
        var top = arch.Levels[0];
        var f = top.Fanout;
        var reduced = new StorageLevel(top.Name, top.Capacity, top.WordBits, top.ReadEnergy, top.WriteEnergy, top.ReadBandwidth, top.WriteBandwidth, top.Keeps,
            new Fanout(region.Cols, region.Rows, f.Multicast, f.SpatialReduction, f.HopEnergy, f.Topology) { Forwarding = f.Forwarding }) { Window = top.Window };
        return new Architecture($"{arch.Name}@{region.Rows}x{region.Cols}",
            $"{arch.Name} restricted to a region of {region.Rows} x {region.Cols} of its nodes (the outermost mesh fanout reduced to {region.Cols} x {region.Rows}).",
            [reduced, .. arch.Levels.Skip(1)], arch.Compute, arch.ClockGHz);
    }

    /// <summary>
    /// Cuts the array into horizontal strips, one per weight in order, each at least one row high, with
    /// heights proportional to the weights (largest remainder, ties to the earlier strip); null when
    /// there are more weights than rows.
    /// </summary>
    public static IReadOnlyList<NodeRegion>? Strips(NodeRegion whole, IReadOnlyList<double> weights)
    {
        int k = weights.Count;
        if (k == 0 || k > whole.Rows) return null;
        // One row each, then the rest shared in proportion to the weights.
        int spare = whole.Rows - k;
        double total = weights.Sum();
        var share = weights.Select(w => total > 0 ? spare * w / total : (double)spare / k).ToArray();
        var rows = share.Select(s => 1 + (int)Math.Floor(s)).ToArray();
        int left = whole.Rows - rows.Sum();
        foreach (var i in Enumerable.Range(0, k).OrderByDescending(i => share[i] - Math.Floor(share[i])).ThenBy(i => i).Take(left)) rows[i]++;
        var strips = new List<NodeRegion>();
        int row = whole.Row;
        foreach (var h in rows)
        {
            strips.Add(new NodeRegion(row, whole.Col, h, whole.Cols));
            row += h;
        }
        return strips;
    }
}
