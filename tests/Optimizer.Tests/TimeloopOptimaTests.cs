using System.Text.Json;
using Optimizer.Formulation;
using Optimizer.Formulation.Specs;
using Optimizer.Hardware;
using Optimizer.Hardware.Specs;
using Optimizer.Solvers;
using Optimizer.Workloads;
using Optimizer.Workloads.Specs;

namespace Optimizer.Tests;

/// <summary>
/// The search under the Timeloop convention against timeloop-mapper's exhaustive optima (Fixtures/timeloop/optima.jsonl):
/// a Timeloop-mapper result must never beat our proven optimum under the same counts.
/// </summary>
[TestClass]
public sealed class TimeloopOptimaTests
{
    private static string FixtureDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "timeloop");

    /// <summary>Every fixture of optima.jsonl: its record, architecture, layer and lexicographic terms (optimization-metrics).</summary>
    internal static IEnumerable<(JsonElement Root, Architecture Arch, Einsum Layer, Objective[] Terms)> Fixtures()
    {
        foreach (var line in File.ReadLines(Path.Combine(FixtureDir, "optima.jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var root = JsonDocument.Parse(line).RootElement;
            var parts = root.GetProperty("id").GetString()!.Split('/');
            var archPath = Path.Combine(FixtureDir, $"arch_{parts[0]}.yaml");
            var arch = TimeloopArchitecture.Parse(File.ReadAllText(archPath), archPath, EnergyTable.Load(Path.Combine(FixtureDir, $"ert_{parts[0]}.yaml")));
            var layer = TimeloopProblem.Load(Path.Combine(FixtureDir, $"prob_{parts[1]}.yaml")).Layers.Single();
            var terms = root.GetProperty("optimization_metrics").EnumerateArray().Select(m => m.GetString() == "delay" ? Objective.Latency : Objective.Energy).ToArray();
            yield return (root, arch, layer, terms);
        }
    }

    [TestMethod]
    public void ProvenOptimaUnderTheTimeloopConventionAreNeverBeatenByTimeloopMapper()
    {
        int equal = 0, compared = 0, provedWhereTimeloopTimedOut = 0;
        var report = new List<string>();
        foreach (var (root, arch, layer, terms) in Fixtures())
        {
            var problem = new MapProblem(layer, arch, terms[0], Convention: CostConvention.Timeloop);
            var ours = Lexicographic.Solve(problem, terms, SearchLimits.None);
            Assert.AreEqual(SolveStatus.Optimal, ours.Status, root.GetProperty("id").GetString());
            // The answer is costed by the Timeloop convention, and so is what the test recomputes.
            var recomputed = TimeloopConvention.Evaluate(layer, arch, ours.Mapping!);
            Assert.AreEqual(recomputed.Energy, ours.Report!.Energy, 1e-9 * recomputed.Energy);
            if (root.TryGetProperty("timed_out", out var t) && t.GetBoolean()) { provedWhereTimeloopTimedOut++; continue; }
            var theirs = root.GetProperty("results");
            double energy = theirs.GetProperty("energy_pJ").GetDouble(), cycles = theirs.GetProperty("cycles").GetDouble();
            // Lexicographically no worse than Timeloop-mapper's optimum.
            foreach (var term in terms)
            {
                double mine = ours.Report.Objective(term), other = term == Objective.Energy ? energy : cycles;
                Assert.IsTrue(mine <= other * (1 + 1e-9), $"{root.GetProperty("id").GetString()}: timeloop-mapper's {term} {other} beats our proven {mine}");
                if (mine < other * (1 - 1e-9)) break;
            }
            bool same = Math.Abs(ours.Report.Energy - energy) <= 1e-9 * energy && ours.Report.Cycles == cycles;
            report.Add($"{root.GetProperty("id").GetString()}: ours {ours.Report.Cycles} cycles {ours.Report.Energy:R} pJ, timeloop-mapper {cycles} cycles {energy:R} pJ");
            if (same) equal++;
            compared++;
        }
        Console.WriteLine(string.Join("\n", report));
        Assert.AreEqual(6, compared);
        Assert.AreEqual(2, provedWhereTimeloopTimedOut);
        // Measured: equal on 5 of the 6; on M3L2x4 x conv1d (energy) ours is 1577.18 pJ against 1579.704 pJ
        // (timeloop-mapper's linear-pruned space is exhaustive over its pruned mapspace only).
        Assert.IsTrue(equal >= 5, string.Join("\n", report));
    }
}
