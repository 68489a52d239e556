using System.Text;
using Optimizer.Cli;

namespace Optimizer.Tests;

/// <summary>Runs the optimizer command in process, capturing what it prints.</summary>
/// <remarks>
/// Test classes run two at a time (Parallelism.cs), so a run cannot swap the process's console for its own
/// writers: another class's run, or a test's own diagnostic line, would land in them. Instead the console is
/// routed once, for good, through writers that send each write to the capture of the run it belongs to (an
/// async-local value, which flows into the tasks and threads the command starts) and everything else where it
/// went before.
/// </remarks>
internal static class CommandLine
{
    private static readonly AsyncLocal<Capture?> Current = new();
    private static readonly object Gate = new();

    private sealed record Capture(StringWriter Out, StringWriter Err);

    /// <summary>The exit code, standard output and standard error of one run.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        Route();
        var capture = new Capture(new StringWriter(), new StringWriter());
        var before = Current.Value;
        Current.Value = capture;
        try { return (Program.Main(args), capture.Out.ToString(), capture.Err.ToString()); }
        finally { Current.Value = before; }
    }

    /// <summary>The path of a file under the repository's examples folder.</summary>
    public static string Example(string name)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "Optimizer.sln"))) dir = Path.GetDirectoryName(dir)!;
        return Path.Combine(dir, "examples", name);
    }

    /// <summary>Puts the routing writers in front of the console's, unless they are there already.</summary>
    private static void Route()
    {
        lock (Gate)
        {
            if (Console.Out is not Routed) Console.SetOut(new Routed(Console.Out, error: false));
            if (Console.Error is not Routed) Console.SetError(new Routed(Console.Error, error: true));
        }
    }

    /// <summary>A writer that sends each write to the running capture's stream, or to the writer it replaced.</summary>
    private sealed class Routed(TextWriter elsewhere, bool error) : TextWriter
    {
        private TextWriter Target => Current.Value is { } c ? (error ? c.Err : c.Out) : elsewhere;
        public override Encoding Encoding => elsewhere.Encoding;
        public override void Write(char value) { var t = Target; lock (t) t.Write(value); }
        public override void Write(char[] buffer, int index, int count) { var t = Target; lock (t) t.Write(buffer, index, count); }
        public override void Write(string? value) { var t = Target; lock (t) t.Write(value); }
        public override void WriteLine(string? value) { var t = Target; lock (t) t.WriteLine(value); }
        public override void WriteLine() { var t = Target; lock (t) t.WriteLine(); }
        public override void Flush() { var t = Target; lock (t) t.Flush(); }
    }
}
