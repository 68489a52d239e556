using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;

namespace Optimizer.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM while a command runs: the first one cancels <see cref="Token"/>, so a search stops and
/// the command prints (and writes) its best answer so far, as a time limit would; a second one ends the process at
/// once. Schedulers, <c>timeout</c> and containers stop a process with SIGTERM, so it is treated as Ctrl-C.
/// </summary>
internal sealed class Interrupt : IDisposable
{
    private static readonly AsyncLocal<Interrupt?> Open = new();
    private readonly Interrupt? _outer;
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration?[] _registrations;
    private int _signals;

    public Interrupt()
    {
        _outer = Open.Value;
        Open.Value = this;
        _registrations = [Register(PosixSignal.SIGINT), Register(PosixSignal.SIGTERM)];
    }

    /// <summary>Cancelled by the first Ctrl-C or SIGTERM of the running command.</summary>
    public static CancellationToken Token => Open.Value?._cancel.Token ?? CancellationToken.None;

    private PosixSignalRegistration? Register(PosixSignal signal)
    {
        try { return PosixSignalRegistration.Create(signal, OnSignal); }
        catch (PlatformNotSupportedException) { return null; }
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signals) > 1) return; // the second one: the default action ends the process
        context.Cancel = true;
        string name = context.Signal == PosixSignal.SIGTERM ? "SIGTERM" : "Ctrl-C";
        Console.Error.WriteLine($"{name}: stopping; the best answer so far follows (Ctrl-C again quits at once).");
        _cancel.Cancel();
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r?.Dispose();
        if (Open.Value == this) Open.Value = _outer;
        _cancel.Dispose();
    }
}

/// <summary>
/// The files a command line names, checked before the command runs: an output may not be one of the inputs (it would
/// be destroyed), two outputs may not be the same file, and an output must be a file name.
/// </summary>
internal static class CommandFiles
{
    /// <summary>Options that name files the command writes; every other option's value that names an existing file is an input.</summary>
    public static readonly IReadOnlySet<string> OutputOptions = new HashSet<string> { "--csv", "--mapping-out", "--export-smt2", "--trace", "--output", "--plot", "--report" };

    /// <summary>The first problem with the named files, or null.</summary>
    public static string? Problem(ParseResult parsed)
    {
        var given = parsed.CommandResult.Children.OfType<OptionResult>().Where(o => !o.Implicit && o.Tokens.Count > 0).ToList();
        var outputs = new Dictionary<string, (string Option, string Value)>();
        foreach (var o in given.Where(o => OutputOptions.Contains(o.Option.Name)))
        {
            string value = o.Tokens[0].Value;
            if (string.IsNullOrWhiteSpace(value)) return $"{o.Option.Name} needs a file name, got an empty one.";
            // --output, and codesign's and merge's --mapping-out, name folders (written again on a second run).
            bool folder = o.Option.Name == "--output" || (o.Option.Name == "--mapping-out" && parsed.CommandResult.Command.Name is "codesign" or "merge");
            if (Directory.Exists(value) && !folder) return $"{o.Option.Name} {value} is a folder; give a file name.";
            string full = Canonical(value);
            if (outputs.TryGetValue(full, out var other)) return $"{other.Option} and {o.Option.Name} name the same file ({value}): each output needs its own file.";
            outputs[full] = (o.Option.Name, value);
        }
        foreach (var o in given.Where(o => !OutputOptions.Contains(o.Option.Name)))
            foreach (var token in o.Tokens)
                if (File.Exists(token.Value) && outputs.TryGetValue(Canonical(token.Value), out var output))
                    return $"{output.Option} {output.Value} is the input of {o.Option.Name} ({token.Value}): writing it would destroy the input; choose another file.";
        return null;
    }

    /// <summary>A full path with symbolic links resolved, so two names of one file compare equal.</summary>
    private static string Canonical(string path)
    {
        var full = Path.GetFullPath(path);
        try
        {
            if (new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target) return Path.GetFullPath(target.FullName);
        }
        catch (IOException) { }
        return full;
    }
}
