using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Optimizer.Formulation;

namespace Optimizer.Cli;

/// <summary>
/// Range rules on numeric options, checked while the command line is parsed, so a value out of range is a usage
/// error (exit 2, with the option named) before any file is read or any search starts.
/// </summary>
internal static class OptionRules
{
    /// <summary>The longest time limit taken, in seconds (about 11.6 days): longer ones are a usage error rather than an overflow.</summary>
    public const double MaxSeconds = 1_000_000;

    /// <summary>A --time-limit option in seconds: finite, positive and at most <see cref="MaxSeconds"/>.</summary>
    public static Option<double?> TimeLimit(string description)
    {
        var option = new Option<double?>("--time-limit") { Description = description };
        option.Validators.Add(r => CheckSeconds(r, Value<double?>(r)));
        return option;
    }

    /// <summary>A --time-limit option in seconds with a default.</summary>
    public static Option<double> TimeLimit(string description, double defaultSeconds)
    {
        var option = new Option<double>("--time-limit") { Description = description, DefaultValueFactory = _ => defaultSeconds };
        option.Validators.Add(r => CheckSeconds(r, Value<double?>(r)));
        return option;
    }

    /// <summary>The time limit as a span (null: none).</summary>
    public static TimeSpan? Span(double? seconds) => seconds is { } s ? TimeSpan.FromSeconds(s) : null;

    /// <summary>Requires an integer option to be at least <paramref name="min"/> (and at most <paramref name="max"/>).</summary>
    public static Option<int> Within(this Option<int> option, int min, int max = int.MaxValue, string? meaning = null)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0) return;
            if (Value<int?>(r) is not { } v) return;
            if (v < min || v > max)
                r.AddError($"{option.Name} must be {(max == int.MaxValue ? $"at least {min}" : $"between {min} and {max}")}{(meaning is null ? "" : $" ({meaning})")}, got {v}.");
        });
        return option;
    }

    /// <summary>Requires a long option to be at least <paramref name="min"/>.</summary>
    public static Option<long> AtLeast(this Option<long> option, long min)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0) return;
            if (Value<long?>(r) is not { } v) return;
            if (v < min) r.AddError($"{option.Name} must be at least {min}, got {v}.");
        });
        return option;
    }

    /// <summary>Requires a real option to be finite and at least <paramref name="min"/>.</summary>
    public static Option<double> AtLeast(this Option<double> option, double min)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0) return;
            if (Value<double?>(r) is not { } v) return;
            if (!double.IsFinite(v) || v < min) r.AddError($"{option.Name} must be a number of at least {min.ToString(CultureInfo.InvariantCulture)}, got {Show(v)}.");
        });
        return option;
    }

    /// <summary>A --convention option (default or timeloop), checked while the command line is parsed.</summary>
    public static Option<string> Convention(string description)
    {
        var option = new Option<string>("--convention") { Description = description, HelpName = string.Join("|", Conventions.Names), DefaultValueFactory = _ => "default" };
        option.Validators.Add(r =>
        {
            if (Value<string>(r) is { } text && !Conventions.TryParse(text, out _, out var error)) r.AddError($"{option.Name}: {error}");
        });
        return option;
    }

    /// <summary>The convention an option made by <see cref="Convention"/> names (its validator already refused any other text).</summary>
    public static CostConvention ConventionOf(ParseResult pr, Option<string> option) =>
        Conventions.TryParse(pr.GetValue(option)!, out var convention, out var error) ? convention : throw new InputException($"{option.Name}: {error}");

    /// <summary>An --objective option: one objective or a lexicographic list (<see cref="Objectives.TryParse"/>), checked while parsing.</summary>
    public static Option<string> Objective(string description, string defaultValue = "energy")
    {
        var option = new Option<string>("--objective") { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            if (Value<string>(r) is { } text && !Objectives.TryParse(text, out _, out var error)) r.AddError($"{option.Name}: {error}");
        });
        return option;
    }

    /// <summary>The objective's terms an option made by <see cref="Objective"/> names.</summary>
    public static IReadOnlyList<Optimizer.Formulation.Objective> ObjectiveOf(ParseResult pr, Option<string> option) =>
        Objectives.TryParse(pr.GetValue(option)!, out var terms, out var error) ? terms : throw new InputException($"{option.Name}: {error}");

    /// <summary>The option's value, or null when its text does not convert (the parser reports that error itself).</summary>
    private static T? Value<T>(OptionResult r)
    {
        try { return r.GetValueOrDefault<T>(); }
        catch (InvalidOperationException) { return default; }
    }

    private static void CheckSeconds(OptionResult r, double? seconds)
    {
        if (r.Tokens.Count == 0 || seconds is not { } s) return;
        if (!double.IsFinite(s) || s <= 0)
            r.AddError($"{r.Option.Name} must be a positive number of seconds, got {Show(s)}.");
        else if (s > MaxSeconds)
            r.AddError($"{r.Option.Name} {Show(s)} is too long: at most {MaxSeconds.ToString(CultureInfo.InvariantCulture)} seconds (about 11 days); leave it out for no limit where the command allows.");
    }

    private static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
