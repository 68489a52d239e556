using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Optimizer.Workloads.Specs;

/// <summary>
/// Reads one spec file (YAML, or JSON, which YAML parses) and collects every error with its file,
/// line, column and key path, instead of stopping at the first.
/// </summary>
public sealed partial class SpecReader
{
    private readonly List<SpecError> _errors = [];

    /// <summary>The file name used in error messages.</summary>
    public string File { get; }

    /// <summary>The errors found so far, in the order they were found.</summary>
    public IReadOnlyList<SpecError> Errors => _errors;

    /// <summary>True when at least one error was found.</summary>
    public bool HasErrors => _errors.Count > 0;

    /// <summary>Creates a reader for the file with this name.</summary>
    public SpecReader(string file) => File = file;

    /// <summary>Records an error at a line and column for a key path.</summary>
    public void Error(int line, int column, string key, string message) => _errors.Add(new SpecError(File, line, column, key, message));

    /// <summary>Throws a <see cref="SpecException"/> carrying every error when there is any.</summary>
    public void ThrowIfErrors()
    {
        if (HasErrors) throw new SpecException(_errors.ToList());
    }

    /// <summary>
    /// Parses the text and returns the map under its one top-level key (<paramref name="rootKey"/>), with
    /// its keys unchecked (see <see cref="SpecMap.AllowOnly"/>); key paths below it leave the root key out.
    /// Null when the text is not such a document (errors recorded).
    /// </summary>
    public SpecMap? Root(string text, string rootKey)
    {
        var top = Document(text, rootKey)?.Self.AsMap(rootKey);
        if (top is null) return null;
        var root = top.Required(rootKey);
        return root is null ? null : new SpecNode(this, root.Node, "").AsMap();
    }

    /// <summary>Where the first tab in a line's indentation is (YAML forbids them; YamlDotNet reports where the enclosing mapping starts).</summary>
    private static (int Line, int Column)? FirstIndentTab(string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int c = 0;
            while (c < lines[i].Length && lines[i][c] is ' ' or '\t')
            {
                if (lines[i][c] == '\t') return (i + 1, c + 1);
                c++;
            }
        }
        return null;
    }

    /// <summary>
    /// Parses the text and returns its top-level map with its keys unchecked, for files that may hold several
    /// top-level keys (key paths then start with the top-level key). Null when the text is not a map
    /// (errors recorded; <paramref name="what"/> names the expected content in the message for an empty file).
    /// </summary>
    public SpecMap? Document(string text, string what)
    {
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(text));
        try
        {
            stream.Load(new Parser(scanner));
        }
        catch (YamlException e)
        {
            var (line, column) = e.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) && FirstIndentTab(text) is { } tab
                ? tab : ((int)e.Start.Line, (int)e.Start.Column);
            Error(line, column, "", "malformed YAML: " + StripMarks(e.Message));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way on some unclosed flow collections; where it stopped is the best location.
            Error((int)scanner.CurrentPosition.Line, (int)scanner.CurrentPosition.Column, "", "malformed YAML: an unclosed {...} or [...] or a misplaced value");
            return null;
        }
        if (stream.Documents.Count == 0)
        {
            Error(1, 1, what, $"the file is empty; it must hold a '{what}' map");
            return null;
        }
        if (stream.Documents.Count > 1)
        {
            var second = stream.Documents[1].RootNode.Start;
            Error((int)second.Line, (int)second.Column, "", "the file holds more than one YAML document; it must hold one");
        }
        return new SpecNode(this, stream.Documents[0].RootNode, "").AsMap();
    }

    private static string StripMarks(string message) => MarkPrefix().Replace(message, "");

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex MarkPrefix();

    /// <summary>The closest name to <paramref name="word"/> among <paramref name="names"/> when it is a likely typo, else null.</summary>
    public static string? Closest(string word, IEnumerable<string> names)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var n in names)
        {
            int d = Distance(word.ToLowerInvariant(), n.ToLowerInvariant());
            if (d < bestDistance) (best, bestDistance) = (n, d);
        }
        return bestDistance <= Math.Max(1, word.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}

/// <summary>One node of a spec file with its key path; its conversions record an error and return null on a wrong type or value.</summary>
public sealed class SpecNode
{
    /// <summary>The reader that collects this file's errors.</summary>
    public SpecReader Reader { get; }
    /// <summary>The YAML node.</summary>
    public YamlNode Node { get; }
    /// <summary>The key path, such as <c>layers[2].ranks.K</c>.</summary>
    public string Path { get; }

    /// <summary>Wraps a YAML node.</summary>
    public SpecNode(SpecReader reader, YamlNode node, string path)
    {
        Reader = reader;
        Node = node;
        Path = path;
    }

    /// <summary>The 1-based line where the node starts.</summary>
    public int Line => (int)Node.Start.Line;
    /// <summary>The 1-based column where the node starts.</summary>
    public int Column => (int)Node.Start.Column;
    /// <summary>True for a list.</summary>
    public bool IsList => Node is YamlSequenceNode;

    /// <summary>Records an error located at this node.</summary>
    public void Error(string message) => Reader.Error(Line, Column, Path, message);

    /// <summary>The node's text when it is a scalar, else null (error recorded).</summary>
    public string? AsString()
    {
        if (Node is YamlScalarNode s) return s.Value ?? "";
        Error($"must be a text value, got {Describe()}");
        return null;
    }

    /// <summary>The node as an int of at least <paramref name="min"/>, else null (error recorded).</summary>
    public int? AsInt(int min = int.MinValue)
    {
        var v = AsLong(min);
        if (v is null) return null;
        if (v > int.MaxValue) { Error($"must be at most {int.MaxValue}, got {v}"); return null; }
        return (int)v;
    }

    /// <summary>The node as a long of at least <paramref name="min"/>, else null (error recorded).</summary>
    public long? AsLong(long min = long.MinValue)
    {
        var text = Scalar();
        if (text is null || !long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            Error($"{IntegerRule(min)}, got {Describe()}");
            return null;
        }
        if (v < min) { Error($"{IntegerRule(min)}, got {v}"); return null; }
        return v;
    }

    /// <summary>The node as a finite number of at least <paramref name="min"/> (above it when <paramref name="exclusive"/>), else null (error recorded).</summary>
    public double? AsDouble(double min = double.NegativeInfinity, bool exclusive = false)
    {
        var text = Scalar();
        var rule = double.IsNegativeInfinity(min) ? "must be a number"
            : exclusive ? $"must be a number above {Format(min)}" : $"must be a number of at least {Format(min)}";
        if (text is null || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
        {
            Error($"{rule}, got {Describe()}");
            return null;
        }
        if (exclusive ? v <= min : v < min) { Error($"{rule}, got {Format(v)}"); return null; }
        return v;
    }

    /// <summary>The node as true or false, else null (error recorded).</summary>
    public bool? AsBool()
    {
        var text = Scalar();
        if (string.Equals(text, "true", StringComparison.OrdinalIgnoreCase)) return true;
        if (string.Equals(text, "false", StringComparison.OrdinalIgnoreCase)) return false;
        Error($"must be true or false, got {Describe()}");
        return null;
    }

    /// <summary>The items of a list, each with its path <c>key[i]</c>, else null (error recorded).</summary>
    public IReadOnlyList<SpecNode>? AsList()
    {
        if (Node is YamlSequenceNode seq) return seq.Children.Select((c, i) => new SpecNode(Reader, c, $"{Path}[{i}]")).ToList();
        Error($"must be a list, got {Describe()}");
        return null;
    }

    /// <summary>The node as a map whose keys must be among <paramref name="allowedKeys"/> (any key when none is given), else null (error recorded).</summary>
    public SpecMap? AsMap(params string[] allowedKeys)
    {
        if (Node is not YamlMappingNode map)
        {
            Error($"must be a map of keys to values, got {Describe()}");
            return null;
        }
        var result = new SpecMap(this, map);
        if (allowedKeys.Length > 0) result.AllowOnly(allowedKeys);
        return result;
    }

    /// <summary>Runs a constructor; an <see cref="ArgumentException"/> it throws becomes an error at this node and the result is null.</summary>
    public T? Build<T>(Func<T> build) where T : class
    {
        try
        {
            return build();
        }
        catch (ArgumentException e)
        {
            // .NET appends "(Parameter 'x')" to the message; the spec reader's user never sees parameter names.
            Error(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", ""));
            return null;
        }
    }

    /// <summary>A short description of the node for messages: the scalar itself in quotes, or "a list" or "a map".</summary>
    public string Describe() => Node switch
    {
        YamlScalarNode s => $"'{s.Value}'",
        YamlSequenceNode => "a list",
        _ => "a map",
    };

    private string? Scalar() => Node is YamlScalarNode s ? s.Value : null;

    private static string IntegerRule(long min) => min switch
    {
        1 => "must be a positive integer",
        0 => "must be a non-negative integer",
        <= int.MinValue => "must be an integer",
        _ => $"must be an integer of at least {min}",
    };

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>A map of a spec file: typed lookups by key that record an error and return null on a missing required key or a wrong value.</summary>
public sealed class SpecMap
{
    private readonly SpecNode _self;
    private readonly YamlMappingNode _map;

    /// <summary>Wraps a map node.</summary>
    public SpecMap(SpecNode self, YamlMappingNode map)
    {
        _self = self;
        _map = map;
    }

    /// <summary>The map as a node (for its location and path).</summary>
    public SpecNode Self => _self;

    /// <summary>The entries in the order written, each value with its path.</summary>
    public IReadOnlyList<(string Key, SpecNode Value)> Entries
        => _map.Children.Select(kv => (KeyText(kv.Key), new SpecNode(_self.Reader, kv.Value, Child(KeyText(kv.Key))))).ToList();

    /// <summary>Records an error for every key not among <paramref name="allowed"/>, suggesting the closest allowed key.</summary>
    public void AllowOnly(params string[] allowed)
    {
        foreach (var key in _map.Children.Keys)
        {
            var text = KeyText(key);
            if (allowed.Contains(text)) continue;
            var near = SpecReader.Closest(text, allowed);
            var hint = near is null ? $"allowed keys are {string.Join(", ", allowed)}" : $"did you mean '{near}'?";
            _self.Reader.Error((int)key.Start.Line, (int)key.Start.Column, Child(text), $"unknown key '{text}'; {hint}");
        }
    }

    /// <summary>True when the key is present with a value other than null.</summary>
    public bool Has(string key) => Get(key) is not null;

    /// <summary>The value of the key, or null when it is absent or written as null.</summary>
    public SpecNode? Get(string key)
    {
        foreach (var kv in _map.Children)
            if (KeyText(kv.Key) == key)
                return IsNull(kv.Value) ? null : new SpecNode(_self.Reader, kv.Value, Child(key));
        return null;
    }

    /// <summary>The value of the key; when it is absent, records an error at the map and returns null.</summary>
    public SpecNode? Required(string key)
    {
        var v = Get(key);
        if (v is null) _self.Reader.Error(_self.Line, _self.Column, Child(key), "is required but missing");
        return v;
    }

    /// <summary>The key's value as text.</summary>
    public string? String(string key, bool required = false) => Lookup(key, required)?.AsString();
    /// <summary>The key's value as an int of at least <paramref name="min"/>.</summary>
    public int? Int(string key, bool required = false, int min = int.MinValue) => Lookup(key, required)?.AsInt(min);
    /// <summary>The key's value as a long of at least <paramref name="min"/>.</summary>
    public long? Long(string key, bool required = false, long min = long.MinValue) => Lookup(key, required)?.AsLong(min);
    /// <summary>The key's value as a finite number of at least (or above, when <paramref name="exclusive"/>) <paramref name="min"/>.</summary>
    public double? Double(string key, bool required = false, double min = double.NegativeInfinity, bool exclusive = false)
        => Lookup(key, required)?.AsDouble(min, exclusive);
    /// <summary>The key's value as true or false.</summary>
    public bool? Bool(string key, bool required = false) => Lookup(key, required)?.AsBool();
    /// <summary>The key's value as a list.</summary>
    public IReadOnlyList<SpecNode>? List(string key, bool required = false) => Lookup(key, required)?.AsList();
    /// <summary>The key's value as a map whose keys must be among <paramref name="allowedKeys"/> (any key when none is given).</summary>
    public SpecMap? Map(string key, bool required = false, params string[] allowedKeys) => Lookup(key, required)?.AsMap(allowedKeys);

    private SpecNode? Lookup(string key, bool required) => required ? Required(key) : Get(key);

    private string Child(string key) => _self.Path.Length == 0 ? key : $"{_self.Path}.{key}";

    private static string KeyText(YamlNode key) => key is YamlScalarNode s ? s.Value ?? "" : key.ToString();

    private static bool IsNull(YamlNode node)
        => node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" or "Null" or "NULL" };
}
