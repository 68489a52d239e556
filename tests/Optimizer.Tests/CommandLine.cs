using Optimizer.Cli;

namespace Optimizer.Tests;

/// <summary>Runs the optimizer command in process, capturing what it prints.</summary>
internal static class CommandLine
{
    /// <summary>The exit code, standard output and standard error of one run.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = Console.Out;
        var e = Console.Error;
        var so = new StringWriter();
        var se = new StringWriter();
        Console.SetOut(so);
        Console.SetError(se);
        try { return (Program.Main(args), so.ToString(), se.ToString()); }
        finally { Console.SetOut(o); Console.SetError(e); }
    }

    /// <summary>The path of a file under the repository's examples folder.</summary>
    public static string Example(string name)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "Optimizer.sln"))) dir = Path.GetDirectoryName(dir)!;
        return Path.Combine(dir, "examples", name);
    }
}
