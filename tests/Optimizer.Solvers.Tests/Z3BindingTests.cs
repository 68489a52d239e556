using System.Diagnostics;
using Optimizer.Solvers.Z3;

namespace Optimizer.Solvers.Tests;

[TestClass]
public sealed class Z3BindingTests
{
    // Asserts that the constraint has a model and that every model gives the variable the expected value.
    private static void AssertForces(Z3Context ctx, BoolExpr constraint, IntExpr variable, long expected)
    {
        using (var solver = new Z3Solver(ctx))
        {
            solver.Add(constraint);
            Assert.AreEqual(Z3Status.Sat, solver.Check(), constraint.ToString());
            Assert.AreEqual(expected, solver.Value(variable), constraint.ToString());
        }
        using (var solver = new Z3Solver(ctx))
        {
            solver.Add(constraint);
            solver.Add(variable != expected);
            Assert.AreEqual(Z3Status.Unsat, solver.Check(), $"{constraint} allows another value than {expected}");
        }
    }

    private static void AssertForces(Z3Context ctx, BoolExpr constraint, RealExpr variable, double expected)
    {
        using (var solver = new Z3Solver(ctx))
        {
            solver.Add(constraint);
            Assert.AreEqual(Z3Status.Sat, solver.Check(), constraint.ToString());
            Assert.AreEqual(expected, solver.Value(variable), 1e-12, constraint.ToString());
        }
        using (var solver = new Z3Solver(ctx))
        {
            solver.Add(constraint);
            solver.Add(variable != expected);
            Assert.AreEqual(Z3Status.Unsat, solver.Check(), $"{constraint} allows another value than {expected}");
        }
    }

    private static Z3Status Check(Z3Context ctx, params BoolExpr[] constraints)
    {
        using var solver = new Z3Solver(ctx);
        foreach (var constraint in constraints) solver.Add(constraint);
        return solver.Check();
    }

    [TestMethod]
    public void IntArithmeticKeepsConstantsOnEitherSide()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x");
        AssertForces(ctx, x + 3 == 5, x, 2);
        AssertForces(ctx, 3 + x == 5, x, 2);
        AssertForces(ctx, x - 3 == 5, x, 8);
        AssertForces(ctx, 3 - x == 5, x, -2);
        AssertForces(ctx, 2 * x == 6, x, 3);
        AssertForces(ctx, x * 2 == 6, x, 3);
        AssertForces(ctx, -x == 4, x, -4);
        AssertForces(ctx, 5 == x, x, 5);
    }

    [TestMethod]
    public void IntArithmeticBetweenTerms()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x");
        var y = ctx.IntVar("y");
        var pin = y == 4;
        AssertForces(ctx, pin & (x + y == 10), x, 6);
        AssertForces(ctx, pin & (x - y == 10), x, 14);
        AssertForces(ctx, pin & (x * y == 12), x, 3);
        AssertForces(ctx, pin & (x == y), x, 4);
        AssertForces(ctx, pin & (x < y) & (x > y - 2), x, 3);
        AssertForces(ctx, pin & (x <= y) & (x >= y), x, 4);
    }

    [TestMethod]
    public void IntComparisonsWithConstantsOnEitherSide()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x");
        AssertForces(ctx, (x > 3) & (x < 5), x, 4);
        AssertForces(ctx, (3 < x) & (5 > x), x, 4);
        AssertForces(ctx, (x >= 3) & (x <= 3), x, 3);
        AssertForces(ctx, (3 <= x) & (3 >= x), x, 3);
        AssertForces(ctx, (x >= 2) & (x <= 3) & (x != 2), x, 3);
        AssertForces(ctx, (x >= 2) & (x <= 3) & (2 != x), x, 3);
    }

    [TestMethod]
    public void SumNotEqualToConstantKeepsTheConstant()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x", 0, 2);
        var y = ctx.IntVar("y", 0, 2);
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, x + y != 2, (x == 1) & (y == 1)));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, 2 != x + y, (x == 1) & (y == 1)));
        using var solver = new Z3Solver(ctx);
        solver.Add(x + y != 2);
        Assert.AreEqual(Z3Status.Sat, solver.Check());
        Assert.AreNotEqual(2, solver.Value(x) + solver.Value(y));
    }

    [TestMethod]
    public void BoundedVariablesStayInTheirDomain()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x", 3, 7);
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, x < 3));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, x > 7));
        AssertForces(ctx, x >= 7, x, 7);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ctx.IntVar("empty", 2, 1));
    }

    [TestMethod]
    public void RealArithmeticKeepsConstantsOnEitherSide()
    {
        using var ctx = new Z3Context();
        var x = ctx.RealVar("x");
        AssertForces(ctx, x + 0.5 == 2, x, 1.5);
        AssertForces(ctx, 0.5 + x == 2, x, 1.5);
        AssertForces(ctx, x - 0.5 == 2, x, 2.5);
        AssertForces(ctx, 0.5 - x == 2, x, -1.5);
        AssertForces(ctx, 2 * x == 3, x, 1.5);
        AssertForces(ctx, x * 2 == 3, x, 1.5);
        AssertForces(ctx, -x == 0.25, x, -0.25);
        AssertForces(ctx, 0.1 == x, x, 0.1);
        AssertForces(ctx, (x >= 0.5) & (x <= 0.5), x, 0.5);
        AssertForces(ctx, (0.5 <= x) & (0.5 >= x), x, 0.5);
        AssertForces(ctx, (x >= 1) & (x <= 2) & (x != 1) & (1 != x) & (x < 2.5) & (2.5 > x) & (x > 0) & (0 < x) & (x * 3 == 4.5), x, 1.5);
    }

    [TestMethod]
    public void RealConstantsAreExact()
    {
        using var ctx = new Z3Context();
        var x = ctx.RealVar("x");
        Assert.AreEqual(Z3Status.Sat, Check(ctx, x == 0.1, x * 10 == 1));
        Assert.AreEqual(Z3Status.Sat, Check(ctx, x == 1e-5, x * 100000 == 1));
        Assert.AreEqual(Z3Status.Sat, Check(ctx, x == -1.5e20, x == ctx.Real(-150_000_000_000_000_000, 1) * 1000));
        Assert.AreEqual(Z3Status.Sat, Check(ctx, x == 5e-324, x > 0));
        Assert.AreEqual(Z3Status.Sat, Check(ctx, x == ctx.Real(1, 3), x * 3 == 1));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, x == ctx.Real(1, 3), x == 0.3333333333333333));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ctx.Real(1, 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ctx.Real(double.NaN));
    }

    [TestMethod]
    public void IntToRealAndRealTerms()
    {
        using var ctx = new Z3Context();
        var i = ctx.IntVar("i");
        var r = ctx.RealVar("r");
        AssertForces(ctx, (i.ToReal() * 0.5 == r) & (r == 1.5), i, 3);
        AssertForces(ctx, (r + r == r * 2) & (r - 1 == r * 0.5), r, 2);
        AssertForces(ctx, (ctx.Real(3, 1) < r) & (r < 5) & (r * 2 == ctx.Int(7).ToReal()), r, 3.5);
    }

    [TestMethod]
    public void IrrationalValuesAreRoundedToDouble()
    {
        using var ctx = new Z3Context();
        var x = ctx.RealVar("x");
        using var solver = new Z3Solver(ctx);
        solver.Add((x * x == 2) & (x > 0));
        Assert.AreEqual(Z3Status.Sat, solver.Check());
        Assert.AreEqual(Math.Sqrt(2), solver.Value(x), 1e-12);
    }

    [TestMethod]
    public void BooleanOperators()
    {
        using var ctx = new Z3Context();
        var a = ctx.BoolVar("a");
        var b = ctx.BoolVar("b");
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, a & !a));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, a | b, !a, !b));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, a.Implies(b), a, !b));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, a == b, a, !b));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, a != b, a, b));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, ctx.False));
        Assert.AreEqual(Z3Status.Sat, Check(ctx, ctx.True));
        using var solver = new Z3Solver(ctx);
        solver.Add(a != b);
        solver.Add(!a);
        Assert.AreEqual(Z3Status.Sat, solver.Check());
        Assert.IsFalse(solver.Value(a));
        Assert.IsTrue(solver.Value(b));
    }

    [TestMethod]
    public void AggregatesAndIte()
    {
        using var ctx = new Z3Context();
        var xs = Enumerable.Range(0, 3).Select(i => ctx.IntVar($"x_{i}", 1, 3)).ToList();
        var c = ctx.BoolVar("c");
        var r = ctx.RealVar("r");
        AssertForces(ctx, ctx.Distinct(xs) & (xs[0] == 3) & (xs[1] == 2), xs[2], 1);
        AssertForces(ctx, (ctx.Sum(xs) == 3), xs[1], 1);
        AssertForces(ctx, (ctx.Product(xs) == 27), xs[0], 3);
        AssertForces(ctx, ctx.And(xs.Select(x => x >= 2)) & ctx.Or(xs.Select(x => x < 3)) & (xs[0] == 3) & (xs[1] == 3), xs[2], 2);
        AssertForces(ctx, c & (ctx.Ite(c, xs[0], xs[1] + 10) == 2), xs[0], 2);
        AssertForces(ctx, !c & (ctx.Ite(c, r, ctx.Real(1, 2)) == r), r, 0.5);
        AssertForces(ctx, ctx.Ite(c, ctx.False, ctx.True) & (ctx.Ite(c, xs[0], xs[1]) == 2), xs[1], 2);
        AssertForces(ctx, ctx.Sum(Array.Empty<IntExpr>()) + ctx.Product(Array.Empty<IntExpr>()) == xs[0], xs[0], 1);
        AssertForces(ctx, ctx.Sum([r, r]) == ctx.Product([ctx.Real(3.0), r]) - 1, r, 1);
        Assert.AreEqual(Z3Status.Sat, Check(ctx, ctx.And([]), ctx.Distinct([xs[0]])));
        Assert.AreEqual(Z3Status.Unsat, Check(ctx, ctx.Or([])));
    }

    [TestMethod]
    public void UnsatCoreNamesTheTrackedConstraintsInConflict()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x");
        var y = ctx.IntVar("y");
        using var solver = new Z3Solver(ctx);
        solver.Add(x > 5, "a: x > 5");
        solver.Add(y == 1, "c: y == 1");
        solver.Add(x < 3, "b: x < 3");
        solver.Add(y >= 0);
        Assert.AreEqual(Z3Status.Unsat, solver.Check());
        CollectionAssert.AreEqual(new[] { "a: x > 5", "b: x < 3" }, solver.UnsatCore().ToArray());
        Assert.IsNull(solver.ReasonUnknown);
        Assert.ThrowsExactly<InvalidOperationException>(() => solver.Value(x));
    }

    [TestMethod]
    public void NamesAreUniquePerContext()
    {
        using var ctx = new Z3Context();
        ctx.IntVar("x");
        Assert.ThrowsExactly<ArgumentException>(() => ctx.BoolVar("x"));
        using var solver = new Z3Solver(ctx);
        Assert.ThrowsExactly<ArgumentException>(() => solver.Add(ctx.True, "x"));
        Assert.ThrowsExactly<ArgumentException>(() => ctx.RealVar(" "));
        Assert.ThrowsExactly<ArgumentException>(() => ctx.RealVar("a|b"));
    }

    [TestMethod]
    public void OptimizerProvesTheMinimum()
    {
        using var ctx = new Z3Context();
        var a = ctx.IntVar("a", 0, 10);
        var b = ctx.IntVar("b", 0, 10);
        using var optimizer = new Z3Optimizer(ctx);
        optimizer.Add(a + b >= 7);
        var cost = optimizer.Minimize(3 * a + 5 * b);
        Assert.AreEqual(Z3Status.Sat, optimizer.Check());
        Assert.AreEqual(7, optimizer.Value(a));
        Assert.AreEqual(0, optimizer.Value(b));
        Assert.AreEqual(21, optimizer.Value(3 * a + 5 * b));
        Assert.AreEqual(21.0, optimizer.Lower(cost));
        Assert.AreEqual(21.0, optimizer.Upper(cost));
        StringAssert.Contains(optimizer.ToSmt2(), "minimize");
    }

    [TestMethod]
    public void OptimizerMinimizesARealObjective()
    {
        using var ctx = new Z3Context();
        var r = ctx.RealVar("r");
        using var optimizer = new Z3Optimizer(ctx);
        optimizer.Add(r * 4 >= 1);
        var objective = optimizer.Minimize(r);
        Assert.ThrowsExactly<InvalidOperationException>(() => optimizer.Lower(objective));
        Assert.AreEqual(Z3Status.Sat, optimizer.Check(TimeSpan.FromMinutes(1)));
        Assert.AreEqual(0.25, optimizer.Value(r));
        Assert.AreEqual(0.25, optimizer.Lower(objective));
        using var other = new Z3Optimizer(ctx);
        Assert.ThrowsExactly<ArgumentException>(() => other.Lower(objective));
    }

    // x^3 + y^3 = z^3 has no positive solution, and no solver can prove it: every check ends Unknown.
    private static BoolExpr Fermat(Z3Context ctx)
    {
        var x = ctx.IntVar("x");
        var y = ctx.IntVar("y");
        var z = ctx.IntVar("z");
        return (x >= 1) & (y >= 1) & (z >= 1) & (x * x * x + y * y * y == z * z * z);
    }

    [TestMethod]
    public void TimeoutReturnsUnknownWithAReason()
    {
        using var ctx = new Z3Context();
        using var solver = new Z3Solver(ctx);
        solver.Add(Fermat(ctx));
        Assert.AreEqual(Z3Status.Unknown, solver.Check(TimeSpan.FromMilliseconds(50)));
        Assert.AreEqual("timeout", solver.ReasonUnknown);
        Assert.ThrowsExactly<InvalidOperationException>(() => solver.UnsatCore());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => solver.Check(TimeSpan.FromSeconds(-1)));
    }

    [TestMethod]
    public void OptimizerTimeoutReturnsUnknown()
    {
        using var ctx = new Z3Context();
        using var optimizer = new Z3Optimizer(ctx);
        optimizer.Add(Fermat(ctx));
        var objective = optimizer.Minimize(ctx.IntVar("w"));
        Assert.AreEqual(Z3Status.Unknown, optimizer.Check(TimeSpan.FromMilliseconds(50)));
        Assert.AreEqual("timeout", optimizer.ReasonUnknown);
        Assert.IsTrue(optimizer.Lower(objective) <= optimizer.Upper(objective));
    }

    // libz3 4.8.12's own timeout parameter deadlocked when its timer threads were reused (the first reuse in a
    // process could hang for good); the binding's watchdog must survive many short limits in a row. The test's
    // timeout turns a hang into a failure.
    [TestMethod]
    [Timeout(60_000)]
    public void ManyShortTimeLimitsInARowNeverHang()
    {
        using var shared = new Z3Context();
        using var reused = new Z3Solver(shared);
        reused.Add(Fermat(shared));
        for (var i = 0; i < 25; i++)
        {
            Assert.AreEqual(Z3Status.Unknown, reused.Check(TimeSpan.FromMilliseconds(5)), $"check {i} on one solver");
            using var ctx = new Z3Context();
            using var optimizer = new Z3Optimizer(ctx);
            optimizer.Add(Fermat(ctx));
            optimizer.Minimize(ctx.IntVar("w"));
            Assert.AreEqual(Z3Status.Unknown, optimizer.Check(TimeSpan.FromMilliseconds(5)), $"check {i} on a new optimizer");
        }
        // A limit that has passed leaves no interrupt behind: the next check without a limit decides.
        using var after = new Z3Solver(shared);
        var x = shared.IntVar("x_after", 0, 9);
        after.Add(x * x == 49);
        Assert.AreEqual(Z3Status.Sat, after.Check());
        Assert.AreEqual(7L, after.Value(x));
    }

    [TestMethod]
    public void CancelFromAnotherThreadStopsTheCheck()
    {
        using var ctx = new Z3Context();
        using var solver = new Z3Solver(ctx);
        solver.Add(Fermat(ctx));
        var check = Task.Run(() => solver.Check());
        while (!check.Wait(TimeSpan.FromMilliseconds(20))) ctx.Cancel();
        Assert.AreEqual(Z3Status.Unknown, check.Result);
        Assert.IsFalse(string.IsNullOrEmpty(solver.ReasonUnknown));
    }

    [TestMethod]
    public void Smt2ExportIsRecheckedByTheZ3Binary()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x", 0, 2);
        var y = ctx.IntVar("y", 0, 2);
        var flag = ctx.BoolVar("flag");
        var r = ctx.RealVar("tile K at L1");
        using var sat = new Z3Solver(ctx);
        sat.Add(x + y != 2);
        sat.Add(flag.Implies(x > 0), "uses x");
        sat.Add(r * 2 == x.ToReal() + 0.5);
        using var unsat = new Z3Solver(ctx);
        unsat.Add(x + y != 2, "a: x + y != 2");
        unsat.Add((x == 1) & (y == 1), "b: x = y = 1");
        Assert.AreEqual(Z3Status.Sat, sat.Check());
        Assert.AreEqual(Z3Status.Unsat, unsat.Check());
        StringAssert.Contains(sat.ToSmt2(), "(check-sat)");
        Assert.IsTrue(File.Exists("/usr/bin/z3"), "/usr/bin/z3 is not installed: install the Debian package z3 (scripts/test does).");
        Assert.AreEqual("sat", RunZ3(sat.ToSmt2()));
        Assert.AreEqual("unsat", RunZ3(unsat.ToSmt2()));
    }

    private static string RunZ3(string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"z3-binding-{Guid.NewGuid():N}.smt2");
        File.WriteAllText(file, script);
        try
        {
            using var process = Process.Start(new ProcessStartInfo("/usr/bin/z3", ["-smt2", file])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return output.Trim();
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestMethod]
    public void Z3ErrorsBecomeExceptions()
    {
        using var ctx = new Z3Context();
        var i = ctx.IntVar("i");
        var b = ctx.BoolVar("b");
        Assert.ThrowsExactly<Z3Exception>(() => ctx.Binary(Z3Native.Z3_mk_eq, i, b));
        using var solver = new Z3Solver(ctx);
        var error = Assert.ThrowsExactly<Z3Exception>(() => solver.SetParameter("no_such_parameter", 1u));
        StringAssert.Contains(error.Message, "no_such_parameter");
        Assert.ThrowsExactly<Z3Exception>(() => solver.SetParameter("random_seed", true));
        solver.SetParameter("random_seed", 7u);
        solver.Add(i == 1);
        Assert.AreEqual(Z3Status.Sat, solver.Check());
    }

    [TestMethod]
    public void ExpressionsFromAnotherContextAreRejected()
    {
        using var first = new Z3Context();
        using var second = new Z3Context();
        var x = first.IntVar("x");
        var y = second.IntVar("y");
        Assert.ThrowsExactly<ArgumentException>(() => x + y);
        using var solver = new Z3Solver(second);
        Assert.ThrowsExactly<ArgumentException>(() => solver.Add(x == 1));
        Assert.ThrowsExactly<ArgumentNullException>(() => x + (IntExpr)null!);
    }

    [TestMethod]
    public void EqualsIsReferenceEquality()
    {
        using var ctx = new Z3Context();
        var x = ctx.IntVar("x");
        var same = x;
        var other = x + 0;
        Assert.IsTrue(x.Equals(same));
        Assert.IsFalse(x.Equals(other));
        Assert.AreEqual(x.GetHashCode(), same.GetHashCode());
        Assert.IsInstanceOfType<BoolExpr>(x == same);
    }

    [TestMethod]
    public void DisposingTwiceIsSafeAndUseAfterDisposeThrows()
    {
        var ctx = new Z3Context();
        var x = ctx.IntVar("x");
        var solver = new Z3Solver(ctx);
        var optimizer = new Z3Optimizer(ctx);
        solver.Add(x == 1);
        Assert.AreEqual(Z3Status.Sat, solver.Check());
        solver.Dispose();
        solver.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => solver.Check());
        Assert.ThrowsExactly<ObjectDisposedException>(() => solver.Check(TimeSpan.FromSeconds(1)));
        optimizer.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => optimizer.Check());
        ctx.Dispose();
        ctx.Dispose();
        optimizer.Dispose();
        optimizer.Dispose();
        ctx.Cancel();
        Assert.ThrowsExactly<ObjectDisposedException>(() => x + 1);
        Assert.ThrowsExactly<ObjectDisposedException>(() => new Z3Solver(ctx));
    }
}
