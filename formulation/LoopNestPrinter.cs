using System.Text;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>Prints a mapping as a readable loop nest: each level's keep set and tile sizes, then its loops, indented as they nest.</summary>
public static class LoopNestPrinter
{
    /// <summary>The loop nest as text, outermost first, ending with the MAC.</summary>
    public static string Print(Einsum einsum, Architecture arch, Mapping mapping)
    {
        var sb = new StringBuilder();
        var tiles = new TileShapes(einsum, mapping);
        int depth = 0;
        var residuals = mapping.Residuals(einsum);
        int at = 0;
        // A loop that runs fewer iterations under the last iterations of the loops outside it (imperfect factors) says so.
        var nest = mapping.Nest().ToList();
        string Partial()
        {
            var (loop, res) = (nest[at], residuals[at]);
            at++;
            return res is { } x && x != loop.Factor ? $"  (under the last outer iterations: [0:{x}))" : "";
        }
        int width = arch.Levels.Max(l => l.Name.Length);
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var lm = mapping.Levels[l];
            var kept = einsum.Tensors.Where(t => lm.Keep.Contains(t.Id)).Select(t => $"{t.Id}:{tiles.TileWords(t, l)}");
            var keepText = lm.Keep.Count == 0 ? "(keeps nothing)" : "keeps " + string.Join(" ", kept);
            sb.Append(arch.Levels[l].Name.PadRight(width)).Append("  ").AppendLine(keepText);
            foreach (var t in lm.Temporal)
                sb.Append("| ").Append(new string(' ', 2 * depth++)).AppendLine($"for {t.Rank} in [0:{t.Factor}){Partial()}");
            foreach (var s in lm.Spatial)
                sb.Append("| ").Append(new string(' ', 2 * depth++)).AppendLine($"spatial-for {s.Rank} in [0:{s.Factor}) along {s.Axis}{Partial()}");
        }
        sb.Append("| ").Append(new string(' ', 2 * depth)).AppendLine($"<< MAC: {einsum.ToString().Split("  (")[0]}");
        return sb.ToString();
    }
}
