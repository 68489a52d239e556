namespace Optimizer.Solvers;

/// <summary>One level's decision: temporal factors and their order, and the spatial split along X and Y.</summary>
internal sealed record LevelChoice(int[] Temporal, int[] Order, int[] SpatialX, int[] SpatialY);

/// <summary>The spatial split of every level decided up front: per level, the factor of each rank along X and along Y.</summary>
internal sealed record SpatialPlan(int[][] X, int[][] Y)
{
    /// <summary>
    /// The other plans of its class that the search does not list on their own (<see cref="LevelEnumeration.SpatialPlans"/>):
    /// the same factor per rank and level on other axes, which every bound sees alike; a leaf is costed in each.
    /// </summary>
    public List<SpatialPlan> Variants { get; } = [];
}

/// <summary>What a spatial plan alone fixes: the MACs per compute unit, and per level and tensor the words one instance touches and uses.</summary>
internal sealed record PlanFacts(long TemporalTotal, long[][] Partition, long[][] Used);

/// <summary>
/// The partial mapping the branch and bound carries: the decisions taken so far (outermost level first
/// for the outer-first searches, innermost first for energy) with what they imply.
/// </summary>
internal sealed class State
{
    public readonly long[][] Rem;     // tile extents per rank at each level (Rem[n] = all ones at a leaf)
    public readonly int[] Keep;        // keep bitmask over tensors per level
    public readonly LevelChoice?[] Choice;
    public readonly long[] Used;       // instances used per level; [n] = compute units
    public SpatialPlan? Plan;          // when set, every level's spatial split is fixed by it
    public PlanFacts? Facts;           // what the plan alone fixes, computed once per state
    public readonly double[][][] InnerVisits; // [d][c][tensor]: the least that level d's loops add to the visits at keeper c (inner-first)

    public State(SearchModel m, SpatialPlan? plan = null) : this(m.Problem, plan) { }

    public State(SearchProblem m, SpatialPlan? plan = null)
    {
        Plan = plan;
        InnerVisits = new double[m.Levels][][];
        for (int d = 0; d < m.Levels; d++) { InnerVisits[d] = new double[m.Levels][]; for (int c = 0; c < m.Levels; c++) InnerVisits[d][c] = new double[m.TensorCount]; }
        Used = new long[m.Levels + 1];
        Used[0] = 1;
        if (plan is not null)
        {
            // The instances used follow from the plan alone, so every level's count is known from the start.
            for (int d = 0; d < m.Levels; d++)
            {
                long spatial = 1;
                for (int r = 0; r < m.Ranks; r++) spatial = checked(spatial * plan.X[d][r] * plan.Y[d][r]);
                Used[d + 1] = checked(Used[d] * spatial);
            }
        }
        Rem = new long[m.Levels + 1][];
        for (int d = 0; d <= m.Levels; d++) Rem[d] = new long[m.Ranks];
        for (int r = 0; r < m.Ranks; r++) Rem[0][r] = m.Bound[r];
        if (plan is not null) Array.Fill(Rem[m.Levels], 1L);
        Keep = new int[m.Levels];
        Choice = new LevelChoice?[m.Levels];
    }

    /// <summary>A spatial plan's root: the plan's splits, DRAM keeping every tensor, nothing else decided.</summary>
    public static State PlanRoot(SearchModel m, SpatialPlan plan)
    {
        var s = new State(m, plan);
        s.Keep[0] = (1 << m.TensorCount) - 1;
        return s;
    }

    /// <summary>Decides level d outer-first: its choice, and the tile extents below it that follow from the levels above.</summary>
    public void Apply(int d, LevelChoice c)
    {
        Choice[d] = c;
        long spatial = 1;
        for (int r = 0; r < Rem[d].Length; r++)
        {
            Rem[d + 1][r] = Rem[d][r] / checked((long)c.Temporal[r] * c.SpatialX[r] * c.SpatialY[r]);
            spatial = checked(spatial * c.SpatialX[r] * c.SpatialY[r]);
        }
        Used[d + 1] = checked(Used[d] * spatial);
    }

    /// <summary>
    /// Decides level d inner-first: its choice, and the tile extents at d that follow from the levels below; with
    /// <paramref name="clip"/> (imperfect factors: the bounds), each extent at most its bound, as the first tile is.
    /// </summary>
    public void ApplyInner(int d, LevelChoice c, long[]? clip = null)
    {
        Choice[d] = c;
        bool innermost = d + 1 == Choice.Length;
        for (int r = 0; r < Rem[d].Length; r++)
        {
            Rem[d][r] = checked((innermost ? 1 : Rem[d + 1][r]) * c.Temporal[r] * c.SpatialX[r] * c.SpatialY[r]);
            if (clip is not null) Rem[d][r] = Math.Min(Rem[d][r], clip[r]);
        }
    }

    /// <summary>
    /// A copy of an inner-first state whose levels above d are undecided (its plan, the decided levels d+1 and below with
    /// their visits, and the outermost keep set), for a child that must not share it with its siblings.
    /// </summary>
    public State Above(SearchProblem m, int d)
    {
        var x = new State(m, Plan);
        x.Facts = Facts;
        for (int b = d + 1; b < m.Levels; b++)
        {
            x.Choice[b] = Choice[b];
            Array.Copy(Rem[b], x.Rem[b], m.Ranks);
            x.Keep[b] = Keep[b];
            for (int c = 0; c < m.Levels; c++) Array.Copy(InnerVisits[b][c], x.InnerVisits[b][c], m.TensorCount);
        }
        x.Keep[0] = Keep[0];
        return x;
    }

    /// <summary>The spatial factor of rank r at level d along both axes, from the plan or the level's choice.</summary>
    public long Spatial(int d, int r) => Plan is { } p ? (long)p.X[d][r] * p.Y[d][r] : (long)Choice[d]!.SpatialX[r] * Choice[d]!.SpatialY[r];
}
