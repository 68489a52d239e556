using Optimizer.Solvers;
using Spectre.Console;

namespace Optimizer.Cli;

/// <summary>
/// Live progress of long work, on a terminal only: a status line on standard error that a search's nodes,
/// incumbent, bound, gap and time refresh a few times a second, and which line of a many-layer run is being
/// worked on. Nothing is shown when standard error or standard output is redirected (a pipe, a file, a test) or
/// with --quiet, so piped output is exactly what it was.
/// </summary>
internal static class Live
{
    private static readonly AsyncLocal<bool> QuietFlag = new();

    /// <summary>Set from --quiet for the running command.</summary>
    public static bool Quiet { get => QuietFlag.Value; set => QuietFlag.Value = value; }

    /// <summary>True when a display would reach a person at a terminal.</summary>
    public static bool Enabled => !Quiet && !Console.IsErrorRedirected && !Console.IsOutputRedirected;

    /// <summary>
    /// Runs <paramref name="work"/> with a progress object (null when no display is shown) and shows its snapshots,
    /// prefixed by <paramref name="title"/>, until it returns. The status line is erased before anything is printed.
    /// </summary>
    public static T Run<T>(string title, Func<SearchProgress?, T> work)
    {
        if (!Enabled) return work(null);
        var progress = new SearchProgress();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Status().Spinner(Spinner.Known.Dots).Start(Markup.Escape(title), ctx =>
        {
            var task = Task.Run(() => work(progress));
            while (!task.Wait(250)) ctx.Status(Markup.Escape($"{title}: {Line(progress.Read(), clock.Elapsed)}"));
            result = task.GetAwaiter().GetResult();
        });
        return result;
    }

    /// <summary>One status line: phase, nodes, incumbent, bound, gap and time.</summary>
    public static string Line(SearchSnapshot s, TimeSpan elapsed)
    {
        var parts = new List<string> { s.Phase };
        if (s.Nodes > 0) parts.Add($"{Text.Int(s.Nodes)} nodes");
        if (s.Best is { } b) parts.Add($"best {Text.Num(b)}");
        if (s.Bound > 0 && double.IsFinite(s.Bound)) parts.Add($"bound {Text.Num(s.Bound)}");
        if (s.GapPercent is { } g && s.Bound > 0) parts.Add($"gap {g:0.##}%");
        parts.Add($"{elapsed.TotalSeconds:0.0} s");
        return string.Join(", ", parts);
    }
}
