using System.CommandLine;
using System.Net;
using System.Text;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;
using ScottPlot;

namespace Optimizer.Cli;

/// <summary>
/// One self-contained HTML page (docs/reports.md): the command line, the status line, text blocks (loop nests,
/// printouts), tables and pictures as inline SVG. It links, loads and runs nothing: no scripts, no external style
/// sheets, fonts or images, so it reads the same offline and years later.
/// </summary>
internal sealed class HtmlReport
{
    private readonly StringBuilder _body = new();
    private readonly string _title;
    private int _pictures;

    public HtmlReport(string title, string commandLine)
    {
        _title = title;
        _body.Append($"<h1>{E(title)}</h1>\n");
        _body.Append($"<p class=\"cmd\"><code>{E(commandLine)}</code></p>\n");
    }

    /// <summary>The status line (OPTIMAL, FEASIBLE with bound and gap, VALID, INVALID ...), shown first and marked.</summary>
    public HtmlReport Status(string line)
    {
        string kind = line.Split(' ', ':')[0].ToLowerInvariant();
        _body.Append($"<p class=\"status {E(kind)}\">{E(line)}</p>\n");
        return this;
    }

    /// <summary>A paragraph of plain text.</summary>
    public HtmlReport Paragraph(string text)
    {
        _body.Append($"<p>{E(text)}</p>\n");
        return this;
    }

    /// <summary>A heading and a block of preformatted text (a loop nest, a printout).</summary>
    public HtmlReport Pre(string heading, string text)
    {
        _body.Append($"<h2>{E(heading)}</h2>\n<pre>{E(text.TrimEnd())}</pre>\n");
        return this;
    }

    /// <summary>A table whose first row is the header; cells that read as numbers are right-aligned, as in the printout.</summary>
    public HtmlReport Table(string caption, IReadOnlyList<string[]> rows)
    {
        _body.Append($"<table>\n<caption>{E(caption)}</caption>\n<thead><tr>");
        foreach (var h in rows[0]) _body.Append($"<th>{E(h)}</th>");
        _body.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in rows.Skip(1))
        {
            _body.Append("<tr>");
            for (int c = 0; c < row.Length; c++)
            {
                bool number = c > 0 && row[c].Length > 0 && (char.IsDigit(row[c][0]) || row[c][0] == '-');
                _body.Append(number ? $"<td class=\"n\">{E(row[c])}</td>" : $"<td>{E(row[c])}</td>");
            }
            _body.Append("</tr>\n");
        }
        _body.Append("</tbody>\n</table>\n");
        return this;
    }

    /// <summary>A heading and a picture, inline as SVG, with a sentence saying what it shows.</summary>
    public HtmlReport Picture(string heading, string caption, Plot plot)
    {
        string svg = Plots.Svg(plot, $"picture{++_pictures}-");
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        if (start < 0) throw new InvalidOperationException("The plotting library returned no SVG element; this is a bug.");
        _body.Append($"<h2>{E(heading)}</h2>\n<figure>\n{svg[start..].Trim()}\n<figcaption>{E(caption)}</figcaption>\n</figure>\n");
        return this;
    }

    /// <summary>The whole page.</summary>
    public string Html() =>
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
        $"<title>{E(_title)}</title>\n<style>\n{Style}</style>\n</head>\n<body>\n{_body}<p class=\"foot\">Written by the optimizer command; every number comes from its cost model, search or simulator.</p>\n</body>\n</html>\n";

    /// <summary>Writes the page through <see cref="AtomicFile"/> (with the command's other outputs, or none).</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, Html());

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private const string Style = """
        body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
        h1 { font-size: 1.5em; }
        h2 { font-size: 1.15em; margin-top: 1.6em; }
        .cmd code { background: #f3f3f3; padding: 0.3em 0.5em; display: block; white-space: pre-wrap; word-break: break-all; }
        .status { font-family: "DejaVu Sans Mono", monospace; font-weight: bold; padding: 0.5em; border-left: 6px solid #999; background: #f7f7f7; }
        .status.optimal, .status.valid, .status.agree { border-color: #2a8a2a; }
        .status.feasible { border-color: #d08a00; }
        .status.infeasible, .status.invalid, .status.unknown, .status.disagree { border-color: #c0392b; }
        pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.9em; }
        table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
        caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
        th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
        th { background: #eee; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        figure { margin: 1em 0; }
        figure svg { max-width: 100%; height: auto; }
        figcaption { font-size: 0.9em; color: #555; }
        .foot { color: #777; font-size: 0.8em; margin-top: 3em; }

        """;
}

/// <summary>What a command was asked to draw: the <c>--plot</c> picture and the <c>--report</c> page, with the command line.</summary>
internal sealed record Visuals(string? Plot, string? Report, string CommandLine)
{
    /// <summary>Neither picture nor page.</summary>
    public static readonly Visuals None = new(null, null, "");

    /// <summary>The files named on the command line.</summary>
    public static Visuals Of(ParseResult pr, Option<string?> plot, Option<string?> report)
        => new(pr.GetValue(plot), pr.GetValue(report), "optimizer " + string.Join(" ", pr.Tokens.Select(t => Quote(t.Value))));

    /// <summary>True when a picture or a page was asked for.</summary>
    public bool Any => Plot is not null || Report is not null;

    /// <summary>Refuses --plot and --report where a command cannot draw them (a usage error before anything runs).</summary>
    public void NotWith(string what)
    {
        if (Any) throw new InputException($"{(Plot is not null ? "--plot" : "--report")} is not available {what}.");
    }

    /// <summary>Writes the picture (when asked) and says so.</summary>
    public void WritePlot(Plot plot)
    {
        if (Plot is null) return;
        Plots.Write(plot, Plot);
        Console.WriteLine($"Wrote {Plot}");
    }

    /// <summary>Writes the page (when asked) and says so.</summary>
    public void WriteReport(HtmlReport page)
    {
        if (Report is null) return;
        page.Write(Report);
        Console.WriteLine($"Wrote {Report}");
    }

    /// <summary>
    /// The picture and page of one layer's mapping (evaluate, map): the energy by level and tensor; on the page the
    /// status, any notes, the loop nest, the tables and the totals. Without a mapping (invalid, infeasible) the page has
    /// the status and the notes only, and no picture is written.
    /// </summary>
    public void WriteLayer(string title, Einsum layer, Architecture arch, Mapping? mapping, CostReport? report, string status, IEnumerable<string> notes)
    {
        if (!Any) return;
        var plot = report is null ? null : Plots.EnergyByLevel(layer, arch, report);
        if (plot is null && Plot is not null) Console.WriteLine($"No picture written to {Plot}: there is no valid mapping to draw.");
        else if (plot is not null) WritePlot(plot);
        if (Report is null) return;
        var page = new HtmlReport(title, CommandLine).Status(status);
        page.Paragraph($"Layer {layer.Name}: {layer}; {Text.Int(layer.Macs)} MACs on {arch.Name}.");
        foreach (var n in notes) page.Paragraph(n);
        if (mapping is not null && report is not null)
        {
            page.Pre("Loop nest (outermost first; tile sizes in words)", LoopNestPrinter.Print(layer, arch, mapping));
            page.Picture("Energy by level and tensor", EnergyCaption, plot!);
            foreach (var (caption, rows) in ReportPrinter.Tables(report)) page.Table(caption, rows);
            page.Pre("Totals", ReportPrinter.Summary(arch, report));
        }
        WriteReport(page);
    }

    /// <summary>
    /// The picture and page of a command over many layers (regress, fuse, validate): the page has the status line, the
    /// picture and the command's whole printout (its tables and per-layer lines) as text.
    /// </summary>
    public void WriteSummary(string title, string status, Plot? plot, string heading, string caption, Printout? printout)
    {
        if (plot is null && Plot is not null) Console.WriteLine($"No picture written to {Plot}: there is nothing to draw.");
        else if (plot is not null) WritePlot(plot);
        if (Report is null) return;
        var page = new HtmlReport(title, CommandLine).Status(status);
        if (plot is not null) page.Picture(heading, caption, plot);
        if (printout is not null) page.Pre("What the command printed", printout.Text);
        WriteReport(page);
    }

    /// <summary>Starts keeping a copy of what the command prints, when a page was asked for (null otherwise).</summary>
    public Printout? Capture() => Report is null ? null : new Printout();

    /// <summary>What the energy picture shows, for the page.</summary>
    public const string EnergyCaption = "One bar per storage level, outermost first, stacked by the energy of each tensor the level keeps " +
        "(over every instance used); a network bar when words cross a mesh; the compute bar is the MACs' energy. The number above a bar is its total.";

    private static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./:=,@+%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}

/// <summary>
/// A copy of everything printed on standard output while it is open (for the page of <c>--report</c>); the printout
/// still goes to the terminal as before. Disposing it stops the copy.
/// </summary>
internal sealed class Printout : IDisposable
{
    private readonly TextWriter _original;
    private readonly StringWriter _copy = new();

    public Printout()
    {
        _original = Console.Out;
        Console.SetOut(new Tee(_original, _copy));
    }

    /// <summary>What was printed so far.</summary>
    public string Text => _copy.ToString();

    public void Dispose() => Console.SetOut(_original);

    private sealed class Tee(TextWriter first, TextWriter second) : TextWriter
    {
        public override Encoding Encoding => first.Encoding;
        public override void Write(char value) { first.Write(value); second.Write(value); }
        public override void Write(string? value) { first.Write(value); second.Write(value); }
        public override void WriteLine(string? value) { first.WriteLine(value); second.WriteLine(value); }
        public override void Flush() => first.Flush();
    }
}
