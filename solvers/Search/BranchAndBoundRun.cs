using System.Diagnostics;

namespace Optimizer.Solvers;

/// <summary>
/// What a depth-first branch and bound run keeps whatever it searches: the stopping rule, the incumbent's value, and the
/// least bound of what it left unexplored (the bound reported when it stops early).
/// </summary>
internal abstract class BranchAndBoundRun(SearchLimits limits, Stopwatch clock)
{
    /// <summary>Relative margin under the incumbent below which a bound must be for its node to be searched (rounding of the bound's arithmetic).</summary>
    public const double TieMargin = 1e-9;

    private double _open = double.PositiveInfinity;

    /// <summary>The limits the run is under.</summary>
    protected SearchLimits Limits { get; } = limits;

    public long Explored { get; protected set; }
    public bool Stopped { get; private set; }
    public double Best { get; protected set; } = double.PositiveInfinity;

    /// <summary>True (and from then on) once the time limit has passed or the search was cancelled.</summary>
    public bool CheckStop()
    {
        if (Limits.Cancel.IsCancellationRequested || (Limits.TimeLimit is { } t && clock.Elapsed > t)) Stopped = true;
        return Stopped;
    }

    /// <summary>Records the bound of a node left unexplored.</summary>
    public void Open(double bound) => _open = Math.Min(_open, bound);

    /// <summary>The least bound over what is left unexplored, or the incumbent when nothing is.</summary>
    public double OpenBound() => Math.Min(_open, Best);

    /// <summary>True when a node of this bound cannot hold anything strictly better than the incumbent.</summary>
    public bool Prunable(double bound) => bound >= Best * (1 - TieMargin);
}
