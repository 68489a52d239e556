using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Optimizer.Workloads.Specs;

/// <summary>Formats scalars for the spec files the Write methods emit, quoting only where YAML needs it.</summary>
public static partial class YamlText
{
    /// <summary>The text as a YAML scalar: plain when it is a simple word, otherwise double-quoted with escapes.</summary>
    public static string Scalar(string text)
        => PlainWord().IsMatch(text) && !Reserved.Contains(text.ToLowerInvariant()) ? text : Quoted(text);

    /// <summary>The text double-quoted, with backslashes, quotes and control characters escaped.</summary>
    public static string Quoted(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text)
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        return sb.Append('"').ToString();
    }

    /// <summary>A number in the shortest form that reads back to the same value.</summary>
    public static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A flow list <c>[a, b, c]</c> of scalars.</summary>
    public static string List(IEnumerable<string> items) => $"[{string.Join(", ", items.Select(Scalar))}]";

    private static readonly HashSet<string> Reserved = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"];

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.\-]*$")]
    private static partial Regex PlainWord();
}
