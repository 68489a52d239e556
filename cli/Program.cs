using System.CommandLine;
using Optimizer.Formulation;
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
        root.Subcommands.Add(CodesignCommand.Build());
        root.Subcommands.Add(MergeCommand.Build());
        var quiet = new Option<bool>("--quiet") { Description = "No live progress display (it is shown only on a terminal anyway).", Recursive = true };
        root.Options.Add(quiet);
        if (args.Length == 0) return Guard(DefaultJob.Run);
        if (args[0] == "--certify") return Guard(() => DefaultJob.Run(args));
        var parsed = root.Parse(args);
        Live.Quiet = parsed.GetValue(quiet);
        // A usage error (an unknown option, a missing one, a value out of range, one given twice) is exit 2, like any
        // other bad input: exit 1 means "mapping invalid" or "gap grew", which scripts test for.
        var problems = parsed.Errors.Select(e => Plain(e.Message)).ToList();
        if (problems.Count == 0 && CommandFiles.Problem(parsed) is { } clash) problems.Add(clash);
        if (problems.Count > 0)
        {
            foreach (var p in problems) Console.Error.WriteLine($"error: {p}");
            Console.Error.WriteLine($"Run '{string.Join(" ", parsed.CommandResult.Command is RootCommand ? ["optimizer"] : new[] { "optimizer", parsed.CommandResult.Command.Name })} --help' for the options.");
            return 2;
        }
        return parsed.Invoke();
    }

    /// <summary>
    /// Runs a command body, turning bad input into one clear message on stderr and exit code 2, so a
    /// user never sees a stack trace for a mistake in a file or an argument.
    /// The body's outputs are written all or none (<see cref="OutputBatch"/>), and Ctrl-C or SIGTERM cancels
    /// <see cref="Interrupt.Token"/> so a search ends with its best answer so far.
    /// </summary>
    internal static int Guard(Func<int> body)
    {
        using var interrupt = new Interrupt();
        using var outputs = OutputBatch.Begin();
        try
        {
            int code = body();
            outputs.Commit();
            return code;
        }
        catch (SpecException e)
        {
            Console.Error.WriteLine($"error: {e.Errors.Count} problem(s) in the input:");
            foreach (var err in e.Errors) Console.Error.WriteLine($"  {err}");
            Discarded(outputs);
            return 2;
        }
        catch (Exception e) when (e is InputException or ArgumentException or IOException or UnauthorizedAccessException or OverflowException or NotSupportedException or NonFiniteCostException)
        {
            Console.Error.WriteLine($"error: {Text.Message(e)}");
            Discarded(outputs);
            return 2;
        }
    }

    /// <summary>A parser message in the user's terms: "a whole number", not "System.Int32"; the choices on one line.</summary>
    private static string Plain(string message)
    {
        var m = System.Text.RegularExpressions.Regex.Match(message, @"^Cannot parse argument '(.*)' for option '([^']*)' as expected type '([^']*)'\.(.*)$", System.Text.RegularExpressions.RegexOptions.Singleline);
        if (!m.Success) return message;
        string type = m.Groups[3].Value.Replace("System.Nullable`1[", "").TrimEnd(']');
        string wanted = type switch
        {
            "System.Int32" or "System.Int64" => "a whole number",
            "System.Double" => "a number",
            _ => "one of: " + string.Join(", ", m.Groups[4].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(w => !w.StartsWith("Did you mean", StringComparison.Ordinal)).Select(w => w.ToLowerInvariant())),
        };
        return $"{m.Groups[2].Value} must be {wanted}, got '{m.Groups[1].Value}'.";
    }

    private static void Discarded(OutputBatch outputs)
    {
        if (outputs.Pending.Count > 0)
            Console.Error.WriteLine($"No output was written ({string.Join(", ", outputs.Pending)} discarded): a command writes all its outputs or none.");
    }
}
