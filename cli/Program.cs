namespace Optimizer.Cli;

/// <summary>The optimizer command's entry point.</summary>
public static class Program
{
    /// <summary>Runs the command line.</summary>
    public static int Main(string[] args) => 0;
}
