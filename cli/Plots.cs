using System.CommandLine;
using System.Globalization;
using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Solvers;
using Optimizer.Workloads;
using ScottPlot;

namespace Optimizer.Cli;

/// <summary>
/// The pictures of <c>--plot</c> and <c>--report</c> (docs/reports.md), drawn with ScottPlot from numbers the cost
/// model, the searches and the simulator already gave: nothing here computes a cost. Unit scaling (pJ to nJ, say)
/// and stacking segments on each other are all the arithmetic it does.
/// </summary>
internal static class Plots
{
    /// <summary>The picture formats <c>--plot</c> takes, by file extension.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".svg"];

    private const int Width = 900, Height = 540;

    /// <summary>The <c>--plot</c> option; its extension is checked while the command line is parsed (a usage error, exit 2).</summary>
    public static Option<string?> PlotOption(string what)
        => WithExtension(new Option<string?>("--plot") { Description = $"Draw {what} into FILE.png or FILE.svg (the format from the extension; docs/reports.md).", HelpName = "FILE" }, Extensions);

    /// <summary>The <c>--report</c> option: one self-contained HTML page.</summary>
    public static Option<string?> ReportOption()
        => WithExtension(new Option<string?>("--report")
        {
            Description = "Write one self-contained HTML page (no external resources) with the command line, the status, the loop nest, the tables and the pictures (docs/reports.md).",
            HelpName = "FILE",
        }, [".html", ".htm"]);

    private static Option<string?> WithExtension(Option<string?> option, IReadOnlyList<string> extensions)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0) return;
            string value = r.Tokens[0].Value;
            if (value.Trim().Length == 0) return; // CommandFiles names an empty file name
            string ext = Path.GetExtension(value).ToLowerInvariant();
            if (!extensions.Contains(ext))
                r.AddError($"{option.Name} takes a file ending in {string.Join(" or ", extensions)}, got '{value}'.");
        });
        return option;
    }

    /// <summary>Writes a picture to a file in the format its extension names, through <see cref="AtomicFile"/>.</summary>
    public static void Write(Plot plot, string path)
    {
        if (Path.GetExtension(path).Equals(".svg", StringComparison.OrdinalIgnoreCase)) AtomicFile.WriteAllText(path, Svg(plot));
        else AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>
    /// The picture as SVG markup (for a .svg file and for the HTML report), with its element ids numbered from 0 in
    /// order of appearance after <paramref name="idPrefix"/>: the drawing library numbers its clip paths from a counter
    /// that runs on through the process, so the same picture drawn twice would otherwise differ. A page with several
    /// pictures gives each its own prefix, so no two share an id.
    /// </summary>
    public static string Svg(Plot plot, string idPrefix = "")
    {
        var ids = new Dictionary<string, string>();
        return IdPattern.Replace(plot.GetSvgXml(Width, Height), m =>
        {
            string id = m.Groups["id"].Value;
            if (!ids.TryGetValue(id, out var renamed)) ids[id] = renamed = $"{idPrefix}clip{ids.Count.ToString(Inv)}";
            return m.Groups["before"].Value + renamed + m.Groups["after"].Value;
        });
    }

    private static readonly System.Text.RegularExpressions.Regex IdPattern =
        new(@"(?<before>id=""|url\(#)(?<id>[A-Za-z]+_[0-9A-Fa-f]+)(?<after>["")])", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// Energy by level and tensor: one stacked bar per level (outermost first), one segment per tensor the level keeps
    /// (<see cref="TensorLevelCost.Energy"/>), a network bar when the mapping sends words over a mesh, and a compute bar
    /// (<see cref="CostReport.MacEnergy"/>); each bar is labelled with its total from the report.
    /// </summary>
    public static Plot EnergyByLevel(Einsum layer, Architecture arch, CostReport r)
    {
        var plot = NewPlot("", "", "");
        var tensors = layer.Tensors.Select(t => t.Id).ToList();
        var (scale, unit) = Unit(Math.Max(r.MacEnergy, Math.Max(r.Levels.Select(l => l.Energy).DefaultIfEmpty(0).Max(), r.NetworkEnergy)));
        var bars = new List<Bar>();
        var ticks = new List<(double, string)>();
        double position = 0;
        foreach (var level in r.Levels)
        {
            Stack(bars, position, r.Tensors.Where(t => t.LevelIndex == level.LevelIndex).Select(t => (tensors.IndexOf(t.Tensor), t.Energy)), scale);
            Total(plot, position, level.Energy, scale);
            ticks.Add((position++, level.Level));
        }
        if (r.Network.Count > 0)
        {
            Stack(bars, position, r.Network.Select(n => (tensors.IndexOf(n.Tensor), n.Energy)), scale);
            Total(plot, position, r.NetworkEnergy, scale);
            ticks.Add((position++, "network"));
        }
        bars.Add(new Bar { Position = position, ValueBase = 0, Value = r.MacEnergy / scale, FillColor = ComputeColor, LineWidth = 0 });
        Total(plot, position, r.MacEnergy, scale);
        ticks.Add((position, "compute"));
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(ticks.Select(t => t.Item1).ToArray(), ticks.Select(t => t.Item2).ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.YLabel($"energy ({unit})");
        plot.Axes.Margins(bottom: 0, top: 0.15);
        foreach (var (t, i) in tensors.Select((t, i) => (t, i)))
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = t.Name, FillColor = TensorColor(i) });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "MACs", FillColor = ComputeColor });
        plot.ShowLegend(Edge.Right);
        plot.Title($"Energy of {layer.Name} on {arch.Name}: {Short(r.Energy / scale)} {unit} in all");
        return plot;
    }

    /// <summary>
    /// regress: one bar per layer shape with the heuristic's gap to the exact mapper in percent (left axis; orange where
    /// the exact mapper did not prove its answer, so the gap is to its best found), and the speed-up, exact seconds over
    /// heuristic seconds, as a diamond per shape on a log scale (right axis).
    /// </summary>
    public static Plot RegressGaps(IReadOnlyList<RegressCommand.Row> rows, string heuristic)
    {
        var plot = NewPlot($"Gap and speed-up of {heuristic} against the exact mapper", "", "gap to the exact answer (%)");
        var proved = Palette.GetColor(0);
        var unproved = Palette.GetColor(1);
        var bars = rows.Select((r, i) => new Bar
        {
            Position = i, ValueBase = 0, Value = r.GapPercent, LineWidth = 0,
            FillColor = r.ExactStatus == "OPTIMAL" ? proved : unproved,
            // With many shapes the numbers would overlap; the table on the page and the printout have them.
            Label = rows.Count <= 12 ? Short(r.GapPercent) : "",
        }).ToList();
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 11;
        var speed = rows.Select(r => Math.Log10(RegressCommand.SpeedUp(r.ExactSeconds, r.HeuristicSeconds))).ToArray();
        var markers = plot.Add.Markers(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), speed);
        markers.MarkerShape = MarkerShape.FilledDiamond;
        markers.MarkerSize = 11;
        markers.Color = Colors.Black;
        markers.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Right.Label.Text = "speed-up: exact s / heuristic s (log scale)";
        plot.Axes.Right.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true,
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            LabelFormatter = y => Math.Pow(10, y).ToString(y >= 0 ? "N0" : "0.###", Inv) + "x",
        };
        double low = Math.Min(0, Math.Floor(speed.DefaultIfEmpty(0).Min())), high = Math.Max(1, Math.Ceiling(speed.DefaultIfEmpty(0).Max() + 0.3));
        plot.Axes.SetLimitsY(low, high, plot.Axes.Right);
        double gapTop = Math.Max(1, rows.Select(r => r.GapPercent).DefaultIfEmpty(0).Max());
        plot.Axes.SetLimitsY(0, gapTop * 1.2, plot.Axes.Left);
        plot.Axes.SetLimitsX(-0.6, rows.Count - 0.4);
        LayerTicks(plot, rows.Select(r => r.Count > 1 ? $"{r.Layer} (x{r.Count})" : r.Layer).ToList());
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "gap, exact proved optimal", FillColor = proved });
        if (rows.Any(r => r.ExactStatus != "OPTIMAL")) plot.Legend.ManualItems.Add(new LegendItem { LabelText = "gap to the exact's best found (not proved)", FillColor = unproved });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "speed-up (right axis)", MarkerShape = MarkerShape.FilledDiamond, MarkerFillColor = Colors.Black, MarkerLineColor = Colors.Black, MarkerSize = 10, LineWidth = 0 });
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    /// <summary>
    /// fuse: for each fused group (and in total), the energy of its layers unfused (every layer alone, intermediates
    /// through DRAM; the best unfused mapping) beside their energy in the fused mapping, from the two fused cost reports.
    /// Without an unfused mapping (a layer has none alone in the template), the fused bars only, and the title says so.
    /// </summary>
    public static Plot FusedAgainstUnfused(Workload w, FusedMapping fused, FusedCostReport fusedReport, FusedCostReport? unfusedReport)
    {
        var (scale, unit) = Unit(Math.Max(unfusedReport?.Energy ?? 0, fusedReport.Energy));
        var plot = NewPlot($"Energy of {w.Name}: fused {Short(fusedReport.Energy / scale)} {unit} against " +
            (unfusedReport is null ? "no unfused mapping" : $"unfused {Short(unfusedReport.Energy / scale)} {unit}"), "", $"energy ({unit})");
        var groups = fused.Groups.Select(g => (Name: g.Count == 1 ? w.Layers[g.First].Name : $"{w.Layers[g.First].Name}..{w.Layers[g.Last].Name} ({g.Count})",
            Unfused: unfusedReport?.EnergyOf(g), Fused: fusedReport.EnergyOf(g))).ToList();
        var (u, f) = (Colors.Gray, Palette.GetColor(0));
        var bars = new List<Bar>();
        for (int i = 0; i < groups.Count; i++)
        {
            if (groups[i].Unfused is { } alone)
                bars.Add(new Bar { Position = 3 * i, Value = alone / scale, FillColor = u, LineWidth = 0, Label = Short(alone / scale) });
            bars.Add(new Bar { Position = 3 * i + 1, Value = groups[i].Fused / scale, FillColor = f, LineWidth = 0, Label = Short(groups[i].Fused / scale) });
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 11;
        plot.Axes.Margins(bottom: 0, top: 0.15);
        LayerTicks(plot, groups.Select(g => g.Name).ToList(), spacing: 3, offset: 0.5);
        if (unfusedReport is not null)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = "unfused (intermediates through DRAM)", FillColor = u });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "fused", FillColor = f });
        plot.ShowLegend(Alignment.UpperRight);
        return plot;
    }

    /// <summary>
    /// validate: one point per sampled mapping that agreed with the model, its modelled cycles (x) against its simulated
    /// cycles (y), both on log scales, with the line y = x: the simulator never runs faster than the model's bound, so
    /// every point sits on or above the line.
    /// </summary>
    public static Plot SimulatedAgainstModelled(IReadOnlyList<(string Layer, long Model, long Simulated)> points, string title)
    {
        var plot = NewPlot(title, "modelled cycles (log scale)", "simulated cycles (log scale)");
        var layers = points.Select(p => p.Layer).Distinct().ToList();
        bool byLayer = layers.Count <= 10;
        for (int k = 0; k < (byLayer ? layers.Count : 1); k++)
        {
            var mine = byLayer ? points.Where(p => p.Layer == layers[k]).ToList() : points.ToList();
            var m = plot.Add.Markers(mine.Select(p => Math.Log10(p.Model)).ToArray(), mine.Select(p => Math.Log10(p.Simulated)).ToArray());
            m.MarkerShape = MarkerShape.OpenCircle;
            m.MarkerSize = 8;
            m.Color = byLayer ? Palette.GetColor(k) : Palette.GetColor(0);
            m.LegendText = byLayer ? layers[k] : $"{points.Count} mappings of {layers.Count} layer shapes";
        }
        double low = Math.Floor(points.Select(p => Math.Log10(Math.Min(p.Model, p.Simulated))).DefaultIfEmpty(0).Min());
        double high = Math.Ceiling(points.Select(p => Math.Log10(Math.Max(p.Model, p.Simulated))).DefaultIfEmpty(1).Max());
        if (high <= low) high = low + 1;
        var line = plot.Add.Line(low, low, high, high);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Black;
        line.LegendText = "simulated = modelled";
        foreach (var axis in new IAxis[] { plot.Axes.Bottom, plot.Axes.Left })
            axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                IntegerTicksOnly = true,
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                LabelFormatter = v => Math.Pow(10, v).ToString("N0", Inv),
            };
        // A little room beyond the decades, so the outermost tick labels are not cut off.
        plot.Axes.SetLimits(low - 0.08, high + 0.15, low - 0.08, high + 0.15);
        plot.Axes.Right.MinimumSize = 40;
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    /// <summary>
    /// codesign --pareto: the front's points (filled, joined by the staircase of the region they dominate, each labelled
    /// with its point number) and the other points the run mapped exactly that meet the budgets (open grey circles), the
    /// static metric on x and the mapped one on y. Energy is scaled to the largest unit that keeps the values at 1 or
    /// more; the other metrics are drawn in their own units.
    /// </summary>
    public static Plot ParetoFront(IReadOnlyList<PointRecord> front, IReadOnlyList<PointRecord> others, DesignMetric first, DesignMetric second, string title)
    {
        double largest = front.Concat(others).Select(p => p.Values[first]).DefaultIfEmpty(1).Max();
        var (scale, unit) = first == DesignMetric.Energy ? Unit(largest) : (1.0, DesignMetrics.Unit(first));
        var plot = NewPlot(title, $"{DesignMetrics.Name(second)} ({DesignMetrics.Unit(second)})", $"{DesignMetrics.Name(first)} ({unit})");
        if (others.Count > 0)
        {
            var m = plot.Add.Markers(others.Select(p => p.Values[second]).ToArray(), others.Select(p => p.Values[first] / scale).ToArray());
            m.MarkerShape = MarkerShape.OpenCircle;
            m.MarkerSize = 7;
            m.Color = Colors.Gray;
            m.LegendText = $"other points mapped exactly ({others.Count})";
        }
        var sorted = front.OrderBy(p => p.Values[second]).ToList();
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i < sorted.Count; i++)
        {
            // The staircase: from each point right to the next point's area, then down to its value.
            if (i > 0) { xs.Add(sorted[i].Values[second]); ys.Add(sorted[i - 1].Values[first] / scale); }
            xs.Add(sorted[i].Values[second]);
            ys.Add(sorted[i].Values[first] / scale);
        }
        if (xs.Count > 1)
        {
            var line = plot.Add.ScatterLine(xs.ToArray(), ys.ToArray());
            line.Color = Palette.GetColor(0);
            line.LineWidth = 1.5f;
        }
        var f = plot.Add.Markers(sorted.Select(p => p.Values[second]).ToArray(), sorted.Select(p => p.Values[first] / scale).ToArray());
        f.MarkerShape = MarkerShape.FilledCircle;
        f.MarkerSize = 9;
        f.Color = Palette.GetColor(0);
        f.LegendText = $"Pareto front ({front.Count} point(s))";
        foreach (var p in sorted)
        {
            var label = plot.Add.Text(p.Point.ToString(Inv), p.Values[second], p.Values[first] / scale);
            label.LabelAlignment = Alignment.LowerLeft;
            label.LabelFontSize = 12;
            label.OffsetX = 4;
            label.OffsetY = -2;
        }
        plot.Axes.Margins(0.08, 0.12);
        plot.ShowLegend(Edge.Bottom); // below the axes: inside, it could hide a point
        return plot;
    }

    /// <summary>Names under the bars; slanted when there are many or they are long, with room made for them.</summary>
    private static void LayerTicks(Plot plot, IReadOnlyList<string> names, int spacing = 1, double offset = 0)
    {
        plot.Axes.Bottom.SetTicks(names.Select((_, i) => spacing * i + offset).ToArray(), names.ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        int longest = names.Select(n => n.Length).DefaultIfEmpty(0).Max();
        if (names.Count > 6 || longest * names.Count > 70)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plot.Axes.Bottom.MinimumSize = 10 + 5.5f * Math.Min(longest, 40);
        }
    }

    private static readonly Color ComputeColor = Colors.Gray;
    private static readonly ScottPlot.Palettes.Category10 Palette = new();
    private static Color TensorColor(int i) => Palette.GetColor(i);

    /// <summary>Segments on one bar, bottom up in the given order, one color per tensor.</summary>
    private static void Stack(List<Bar> bars, double position, IEnumerable<(int Tensor, double Energy)> segments, double scale)
    {
        double top = 0;
        foreach (var (tensor, energy) in segments)
        {
            double value = energy / scale;
            bars.Add(new Bar { Position = position, ValueBase = top, Value = top + value, FillColor = TensorColor(tensor), LineWidth = 0 });
            top += value;
        }
    }

    /// <summary>A bar's total above it, as the report gives it.</summary>
    private static void Total(Plot plot, double position, double energy, double scale)
    {
        var label = plot.Add.Text(Short(energy / scale), position, energy / scale);
        label.LabelAlignment = Alignment.LowerCenter;
        label.LabelFontSize = 13;
        label.OffsetY = -3;
    }

    /// <summary>The largest of pJ, nJ, uJ, mJ, J that keeps the largest value at 1 or more.</summary>
    private static (double Scale, string Unit) Unit(double largest)
    {
        string[] units = ["pJ", "nJ", "µJ", "mJ", "J"];
        int k = 0;
        while (k < units.Length - 1 && largest >= 1000 * Math.Pow(1000, k)) k++;
        return (Math.Pow(1000, k), units[k]);
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Font.Set(SansFont.Value);
        plot.Title(title);
        if (x.Length > 0) plot.XLabel(x);
        if (y.Length > 0) plot.YLabel(y);
        return plot;
    }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A plain sans-serif font that is installed (DejaVu Sans on Debian), else the library's own choice.</summary>
    private static readonly Lazy<string> SansFont = new(() =>
    {
        var installed = SkiaSharp.SKFontManager.Default.FontFamilies.ToHashSet(StringComparer.OrdinalIgnoreCase);
        return new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Helvetica" }.FirstOrDefault(installed.Contains) ?? Fonts.Sans;
    });

    /// <summary>A value on a picture: four significant digits are enough to read, the tables have the rest.</summary>
    private static string Short(double v) => v.ToString("G4", Inv);
}
