using System.Globalization;
using System.Text;

namespace Optimizer.Cli;

/// <summary>Number formats and plain aligned tables, culture-invariant so output is the same on every machine.</summary>
internal static class Text
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>An integer with thousands separators.</summary>
    public static string Int(long v) => v.ToString("N0", Inv);

    /// <summary>An energy in pJ: grouped digits and one decimal below a trillion, scientific above.</summary>
    public static string Pj(double v) => Math.Abs(v) < 1e12 ? v.ToString("N1", Inv) : v.ToString("0.000E+0", Inv);

    /// <summary>A general number with up to six significant digits.</summary>
    public static string Num(double v) => v.ToString("G6", Inv);

    /// <summary>A percentage with two decimals.</summary>
    public static string Pct(double fraction) => (fraction * 100).ToString("0.00", Inv) + " %";

    /// <summary>An exception's message for a user: without the "(Parameter 'x')" .NET appends to argument errors.</summary>
    public static string Message(Exception e)
        => e is ArgumentException { ParamName: { } p } ? e.Message.Replace($" (Parameter '{p}')", "") : e.Message;

    /// <summary>Renders rows as a table: the first row is the header; numeric-looking cells are right-aligned.</summary>
    public static string Table(IReadOnlyList<string[]> rows)
    {
        int cols = rows.Max(r => r.Length);
        var width = new int[cols];
        foreach (var r in rows) for (int c = 0; c < r.Length; c++) width[c] = Math.Max(width[c], r[c].Length);
        var sb = new StringBuilder();
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            for (int c = 0; c < r.Length; c++)
            {
                bool right = i > 0 && r[c].Length > 0 && (char.IsDigit(r[c][0]) || r[c][0] == '-') && c > 0;
                bool lastColumn = c == r.Length - 1;
                sb.Append(right ? r[c].PadLeft(width[c]) : lastColumn ? r[c] : r[c].PadRight(width[c]));
                if (c < r.Length - 1) sb.Append("  ");
            }
            sb.Append('\n');
            if (i == 0) sb.Append(new string('-', width.Sum() + 2 * (cols - 1))).Append('\n');
        }
        return sb.ToString();
    }
}
