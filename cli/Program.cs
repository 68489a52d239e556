using System.CommandLine;
using Optimizer.Workloads.Specs;

namespace Optimizer.Cli;

/// <summary>The optimizer command's entry point.</summary>
public static class Program
{
    /// <summary>Runs the command line; with no arguments, the built-in default job.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("Optimizer: a solver-backed mapping optimizer for tensor accelerators. Run with no arguments for the default job.");
        root.Subcommands.Add(EvaluateCommand.Build());
        root.Subcommands.Add(ZooCommand.Build());
        root.Subcommands.Add(MapCommand.Build());
        root.Subcommands.Add(RegressCommand.Build());
        root.Subcommands.Add(SimulateCommand.Build());
        root.Subcommands.Add(ValidateCommand.Build());
        root.Subcommands.Add(FuseCommand.Build());
        if (args.Length == 0) return Guard(DefaultJob.Run);
        if (args[0] == "--certify") return Guard(() => DefaultJob.Run(args));
        return root.Parse(args).Invoke();
    }

    /// <summary>
    /// Runs a command body, turning bad input into one clear message on stderr and exit code 2, so a
    /// user never sees a stack trace for a mistake in a file or an argument.
    /// </summary>
    internal static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (SpecException e)
        {
            Console.Error.WriteLine($"error: {e.Errors.Count} problem(s) in the input:");
            foreach (var err in e.Errors) Console.Error.WriteLine($"  {err}");
            return 2;
        }
        catch (Exception e) when (e is InputException or ArgumentException or IOException or UnauthorizedAccessException or OverflowException)
        {
            // .NET appends "(Parameter 'x')" to an ArgumentException's message; the user never sees parameter names.
            var message = e is ArgumentException { ParamName: { } p } ? e.Message.Replace($" (Parameter '{p}')", "") : e.Message;
            Console.Error.WriteLine($"error: {message}");
            return 2;
        }
    }
}
