namespace Optimizer.Solvers;

/// <summary>What the imperfect mapspace's searches refuse, worded once for the solvers and the command line.</summary>
public static class ImperfectRules
{
    /// <summary>Why an architecture with a same-stride window or neighbour forwarding cannot be searched with imperfect factors:
    /// the model counts those capabilities for perfect factors only, and the imperfect searches' array model leaves them out,
    /// so an "optimum" there could cost more than the perfect search's (found by the aimed bound tests, tl14u).</summary>
    public static string WindowCapabilities(string arch)
        => $"Architecture {arch} has a same-stride window or neighbour forwarding, which the model counts for perfect factors only; " +
           "the imperfect mapspace (--imperfect, --shapes) is searched on architectures without them (search it without --imperfect).";
}
