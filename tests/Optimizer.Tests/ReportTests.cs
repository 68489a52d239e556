using System.Text.RegularExpressions;
using System.Xml.Linq;
using static Optimizer.Tests.CommandLine;

namespace Optimizer.Tests;

/// <summary>--plot and --report end to end: the files each command writes, what they hold, and the usage errors.</summary>
[TestClass]
[DoNotParallelize]
public sealed class ReportTests
{
    private static string _dir = "";

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "optimizer-report-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static string Out(string name) => Path.Combine(_dir, name);

    private static string[] Evaluate(params string[] more) =>
        ["evaluate", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"), "--mapping", Example("conv1d-mapping.yaml"), .. more];

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static void AssertPng(string path)
    {
        Assert.IsTrue(File.Exists(path), $"{path} was not written");
        var bytes = File.ReadAllBytes(path);
        Assert.IsTrue(bytes.Length > 1000, $"{path} has only {bytes.Length} bytes");
        CollectionAssert.AreEqual(PngSignature, bytes.Take(8).ToArray(), "not a PNG file");
    }

    /// <summary>The SVG's text: it must parse as XML with an svg root element.</summary>
    private static string AssertSvg(string path)
    {
        Assert.IsTrue(File.Exists(path), $"{path} was not written");
        var text = File.ReadAllText(path);
        var root = XDocument.Parse(text).Root!;
        Assert.AreEqual("svg", root.Name.LocalName);
        Assert.IsTrue(root.Descendants().Count() > 20, "an almost empty picture");
        return text;
    }

    /// <summary>Words drawn as text in an SVG (the text elements' contents, trimmed).</summary>
    private static List<string> SvgWords(string svg)
        => XDocument.Parse(svg).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();

    [TestMethod]
    public void EvaluatePlotPngIsAPicture()
    {
        var png = Out("evaluate.png");
        var (code, output, err) = Run(Evaluate("--plot", png));
        Assert.AreEqual(0, code, err);
        AssertPng(png);
        StringAssert.Contains(output, $"Wrote {png}");
    }

    [TestMethod]
    public void EvaluatePlotSvgNamesEveryLevelAndTensorAndIsDeterministic()
    {
        var (a, b) = (Out("evaluate-a.svg"), Out("evaluate-b.svg"));
        Assert.AreEqual(0, Run(Evaluate("--plot", a)).Code);
        Assert.AreEqual(0, Run(Evaluate("--plot", b)).Code);
        var words = SvgWords(AssertSvg(a));
        foreach (var name in new[] { "DRAM", "Buffer", "compute", "Weights", "Inputs", "Outputs", "MACs" })
            CollectionAssert.Contains(words, name, $"the picture does not show {name}");
        CollectionAssert.AreEqual(File.ReadAllBytes(a), File.ReadAllBytes(b), "the same input drew different SVG files");
    }

    [TestMethod]
    public void MapPlotAndReportShowTheStatusLoopNestAndTables()
    {
        var (svg, html) = (Out("map.svg"), Out("map.html"));
        var (code, output, err) = Run("map", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"), "--time-limit", "30", "--plot", svg, "--report", html);
        Assert.AreEqual(0, code, err);
        var words = SvgWords(AssertSvg(svg));
        CollectionAssert.IsSubsetOf(new[] { "DRAM", "Buffer", "Weights", "Inputs", "Outputs" }, words);
        var page = File.ReadAllText(html);
        var status = Regex.Match(output, @"^OPTIMAL energy=.*$", RegexOptions.Multiline).Value;
        Assert.IsTrue(status.Length > 0, output);
        StringAssert.Contains(page, System.Net.WebUtility.HtmlEncode(status));
        AssertSelfContained(page);
        StringAssert.Contains(page, "keeps");           // the loop nest (LoopNestPrinter)
        StringAssert.Contains(page, "<th>Reads/inst</th>");
    }

    [TestMethod]
    public void EvaluateReportHoldsCommandLineStatusLoopNestTablesAndAnInlinePicture()
    {
        var html = Out("evaluate.html");
        var (code, _, err) = Run(Evaluate("--report", html));
        Assert.AreEqual(0, code, err);
        var page = File.ReadAllText(html);
        StringAssert.Contains(page, "VALID: the mapping breaks no rule");
        StringAssert.Contains(page, "optimizer evaluate --arch");
        StringAssert.Contains(page, "Loop nest");
        StringAssert.Contains(page, "for K in [0:8)");
        StringAssert.Contains(page, "<td>Buffer</td>");
        StringAssert.Contains(page, "<th>Energy (pJ)</th>");
        AssertSelfContained(page);
    }

    /// <summary>One inline SVG picture at least, and nothing the browser would fetch: no src, no href, no url(), no @import to anywhere.</summary>
    private static void AssertSelfContained(string page)
    {
        StringAssert.StartsWith(page, "<!DOCTYPE html>");
        StringAssert.Contains(page, "<svg");
        Assert.IsFalse(Regex.IsMatch(page, @"(src|href)\s*=\s*[""']?\s*(https?:|//)", RegexOptions.IgnoreCase), "an external reference");
        Assert.IsFalse(Regex.IsMatch(page, @"url\(\s*[""']?\s*(https?:|//)|@import|<script|<link|<iframe|<img", RegexOptions.IgnoreCase), "an external resource");
        // The namespaces of the inline SVG are names, not references; nothing else may mention http(s) at all.
        var rest = Regex.Replace(page, @"xmlns(:\w+)?=""http://www\.w3\.org/[^""]*""", "");
        Assert.IsFalse(Regex.IsMatch(rest, @"https?://", RegexOptions.IgnoreCase), "an address in the page");
    }

    [TestMethod]
    public void RegressPlotAndReport()
    {
        var (png, html) = (Out("regress.png"), Out("regress.html"));
        var (code, output, err) = Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--time-limit", "10", "--plot", png, "--report", html);
        Assert.AreEqual(0, code, err);
        AssertPng(png);
        var page = File.ReadAllText(html);
        var gap = Regex.Match(output, "^Gap: mean .*$", RegexOptions.Multiline).Value;
        Assert.IsTrue(gap.Length > 0, output);
        StringAssert.Contains(page, System.Net.WebUtility.HtmlEncode(gap));
        StringAssert.Contains(page, "fc1");
        AssertSelfContained(page);
        var svg = Out("regress.svg");
        Assert.AreEqual(0, Run("regress", "--arch", "simple-ws", "--workload", "mlp", "--time-limit", "10", "--plot", svg).Code);
        CollectionAssert.IsSubsetOf(new[] { "fc1", "fc2", "fc3" }, SvgWords(AssertSvg(svg)));
    }

    [TestMethod]
    public void FusePlotShowsGroupsAgainstUnfused()
    {
        var (svg, html) = (Out("fuse.svg"), Out("fuse.html"));
        var (code, output, err) = Run("fuse", "--arch", "simple-ws", "--workload", "mlp", "--time-limit", "60", "--plot", svg, "--report", html);
        Assert.AreEqual(0, code, err);
        var text = AssertSvg(svg);
        var words = SvgWords(text);
        Assert.IsTrue(words.Any(w => w.StartsWith("unfused", StringComparison.Ordinal)), string.Join("|", words));
        Assert.IsTrue(words.Any(w => w.Contains("fc1")), string.Join("|", words));
        var page = File.ReadAllText(html);
        var status = Regex.Match(output, "^(OPTIMAL|FEASIBLE) .*$", RegexOptions.Multiline).Value;
        Assert.IsTrue(status.Length > 0, output);
        StringAssert.Contains(page, System.Net.WebUtility.HtmlEncode(status));
        AssertSelfContained(page);
    }

    [TestMethod]
    public void ValidatePlotHasOnePointPerAgreeingMappingAndTheDiagonal()
    {
        var svg = Out("validate.svg");
        var (code, output, err) = Run("validate", "--arch", "simple-ws", "--workload", "mlp", "--samples", "3", "--plot", svg);
        Assert.AreEqual(0, code, err);
        var words = SvgWords(AssertSvg(svg));
        CollectionAssert.IsSubsetOf(new[] { "fc1", "fc2", "fc3", "simulated = modelled" }, words);
        StringAssert.Contains(output, "9 agree");
        var png = Out("validate.png");
        Assert.AreEqual(0, Run("validate", "--arch", "simple-ws", "--workload", "mlp", "--samples", "3", "--plot", png).Code);
        AssertPng(png);
    }

    [TestMethod]
    public void AnExtensionThatIsNoPictureIsAUsageError()
    {
        foreach (var (option, file, accepted) in new[] { ("--plot", "x.jpg", ".png or .svg"), ("--plot", "x", ".png or .svg"), ("--report", "x.pdf", ".html") })
        {
            var path = Out(file);
            var (code, _, err) = Run(Evaluate(option, path));
            Assert.AreEqual(2, code, $"{option} {file}: {err}");
            StringAssert.Contains(err, option);
            StringAssert.Contains(err, accepted);
            Assert.IsFalse(File.Exists(path));
        }
    }

    [TestMethod]
    public void PlotAndReportAreRefusedWhereTheyCannotBeDrawn()
    {
        var path = Out("all.png");
        var (code, _, err) = Run("map", "--arch", "simple-ws", "--workload", "mlp", "--all-layers", "--plot", path);
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "--plot");
        Assert.IsFalse(File.Exists(path));
    }

    [TestMethod]
    public void AFailedReportLeavesNoOtherOutput()
    {
        // The report's folder does not exist, so the page cannot be written; the CSV and the picture written before it
        // must not be left behind either (a command writes all its outputs or none).
        var (csv, png) = (Out("allornone.csv"), Out("allornone.png"));
        var html = Path.Combine(_dir, "no-such-folder", "report.html");
        var (code, _, err) = Run(Evaluate("--csv", csv, "--plot", png, "--report", html));
        Assert.AreEqual(2, code, err);
        StringAssert.Contains(err, "report.html");
        Assert.IsFalse(File.Exists(csv), "the CSV was left behind");
        Assert.IsFalse(File.Exists(png), "the picture was left behind");
        Assert.IsFalse(Directory.EnumerateFiles(_dir, ".allornone*").Any(), "a temporary file was left behind");
    }

    [TestMethod]
    public void AnInvalidMappingGetsAPageWithItsViolationsAndNoPicture()
    {
        var mapping = Out("bad-mapping.yaml");
        File.WriteAllText(mapping, File.ReadAllText(Example("conv1d-mapping.yaml")).Replace("K=4 C=2 P=4 R=3", "K=4 C=2 P=4 R=1"));
        var (png, html) = (Out("invalid.png"), Out("invalid.html"));
        var (code, output, _) = Run("evaluate", "--arch", Example("two-level-arch.yaml"), "--workload", Example("conv1d-workload.yaml"), "--mapping", mapping, "--plot", png, "--report", html);
        Assert.AreEqual(1, code, output);
        Assert.IsFalse(File.Exists(png));
        StringAssert.Contains(output, "No picture written");
        var page = File.ReadAllText(html);
        StringAssert.Contains(page, "INVALID: the mapping breaks");
        Assert.IsFalse(page.Contains("<svg"), "a picture of an invalid mapping");
    }
}
