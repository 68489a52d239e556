using Optimizer.Formulation;
using Optimizer.Solvers;

namespace Optimizer.Tests;

/// <summary>
/// `fuse --pipeline --certify [z3|cpsat]` over the full mapspace (docs/fusion.md, "Certificate"): the certificate's picks
/// include every pipelined group's points found, each a chain of its members' partial mappings on keys of its own, the
/// group's cycles (its schedule's) on its last member.
/// </summary>
[TestClass]
public sealed class FusionPipelineCertificateTests
{
    /// <summary>
    /// On the GEMM and convolution chains of <see cref="FusionPipelineTests"/>, EDP and latency with <c>--pipeline</c>: both
    /// solvers certify the optimum (unsat at it) and find a combination below 1.001 x it; on the cases whose optimum has a
    /// pipelined group (at least two per objective), that group's points are among the picks, and with every pipelined
    /// group's cycles given as 1/1.3 of its own (a wrong candidate value, below the schedule's) both report a combination
    /// below the optimum, whose value is the certificate's difference. Checked by hand: with the picks' pipelined cycles
    /// scaled by 1.3 (<c>CertificateMember</c>) the check at 1.001 x the optimum fails.
    /// </summary>
    [TestMethod]
    public void PipelinedGroupsAreCertifiedAndAWrongGroupValueDisagrees()
    {
        foreach (var o in new[] { Objective.Edp, Objective.Latency })
        {
            int withGroups = 0;
            foreach (var (w, a) in FusionPipelineTests.Cases())
            {
                var p = new FusionProblem(w, a, o, Pipeline: true);
                Assert.IsTrue(p.FullMapspace);
                var r = new FusionSearch(p).Solve(SearchLimits.None);
                Assert.AreEqual(SolveStatus.Optimal, r.Status, $"{w.Name} {o}: {r.Explanation}");
                double best = r.Best!.Value;
                var piped = r.Survivors.SelectMany(l => l).Where(x => x.Pipelined).ToList();
                bool answerPipelined = r.Mapping!.Groups.Any(g => g.Pipelined);
                Console.WriteLine($"{w.Name} {o}: {best:G8}, {r.Survivors.Sum(l => l.Count)} picks, {piped.Count} of pipelined groups' members; answer {(answerPipelined ? "pipelined" : "sequential")}");
                foreach (var by in new[] { FusionCertifier.Z3, FusionCertifier.CpSat })
                {
                    var (at, _) = FusionCertificate.Certify(by, a, o, r.Survivors, best, TimeSpan.FromSeconds(60));
                    Assert.AreEqual(CertificateStatus.Unsat, at, $"{w.Name} {o} {by}: a combination below the optimum {best}");
                    var (above, _) = FusionCertificate.Check(by, a, o, r.Survivors, best * 1.001, TimeSpan.FromSeconds(60));
                    Assert.AreEqual(CertificateStatus.Sat, above, $"{w.Name} {o} {by}: nothing below 1.001 x the optimum {best}, which the answer itself is");
                }
                if (!answerPipelined) continue;
                withGroups++;
                Assert.IsTrue(piped.Any(x => x.OutKey is null && x.Cycles > 0), $"{w.Name} {o}: the answer's pipelined group is among the picks");
                // Every pipelined group's cycles at 1/1.3 of its schedule's: the answer's combination is then below the optimum.
                var wrong = r.Survivors.Select(l => (IReadOnlyList<FusionPartial>)l.Select(x => x.Pipelined && x.OutKey is null ? x with { Cycles = (long)(x.Cycles / 1.3) } : x).ToList()).ToList();
                foreach (var by in new[] { FusionCertifier.Z3, FusionCertifier.CpSat })
                {
                    var (status, _, found) = FusionCertificate.CertifyFound(by, a, o, wrong, best, TimeSpan.FromSeconds(60));
                    Assert.AreEqual(CertificateStatus.Sat, status, $"{w.Name} {o} {by}: the wrong group value went unnoticed");
                    Assert.IsTrue(found < best * (1 - FusionCertificate.Tolerance), $"{w.Name} {o} {by}: found {found} is not below {best}");
                    Console.WriteLine($"  {by}: with the groups' cycles / 1.3, found {found:G8} below {best:G8}");
                }
            }
            Assert.IsTrue(withGroups >= 2, $"{o}: only {withGroups} optimum(s) with a pipelined group, so the certificate's groups were tested little");
        }
    }

    /// <summary>
    /// `fuse --pipeline --certify cpsat` over the full mapspace prints the certificate (exit 0); over the template (a list of
    /// objectives) it is refused as bad usage (exit 2), as is `--certify` with `--keep-halos`.
    /// </summary>
    [TestMethod]
    public void TheCommandCertifiesPipelinedSearchesOverTheFullMapspaceAndRefusesTheTemplates()
    {
        var fuse = CommandLine.Run("fuse", "--arch", "tpu-v4i", "--workload", "matmul-chain:2", "--objective", "latency", "--pipeline", "--certify", "cpsat", "--quiet");
        Assert.AreEqual(0, fuse.Code, fuse.Out + fuse.Err);
        StringAssert.Contains(fuse.Out, "OPTIMAL latency=");
        StringAssert.Contains(fuse.Out, "CERTIFIED by CP-SAT");
        var list = CommandLine.Run("fuse", "--arch", "tpu-v4i", "--workload", "matmul-chain:2", "--objective", "latency,energy", "--pipeline", "--certify", "cpsat", "--quiet");
        Assert.AreEqual(2, list.Code, list.Out + list.Err);
        StringAssert.Contains(list.Err, "--certify with --pipeline");
    }
}
