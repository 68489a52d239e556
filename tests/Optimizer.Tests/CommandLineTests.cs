namespace Optimizer.Tests;

/// <summary>The in-process command runner the CLI tests share, under the suite's two-at-a-time classes.</summary>
[TestClass]
public sealed class CommandLineTests
{
    // Commands run at once on several threads each get exactly their own output, and a line another test writes
    // meanwhile reaches none of them. Swapping the console per run (as the runner once did) fails this: the runs'
    // outputs end up in each other's writers.
    [TestMethod]
    public void CommandsRunAtOnceKeepTheirOwnOutput()
    {
        string[] names = ["eyeriss", "mlp", "simple-ws", "resnet50"];
        var alone = names.Select(n => CommandLine.Run("zoo", n)).ToArray();
        foreach (var (code, output, _) in alone) Assert.AreEqual(0, code);
        Assert.AreEqual(names.Length, alone.Select(r => r.Out).Distinct().Count(), "the entries' listings should differ");

        var stray = new CancellationTokenSource();
        var writer = Task.Run(() => { while (!stray.IsCancellationRequested) Console.WriteLine("a stray line from another test"); });
        var together = Enumerable.Range(0, 24).AsParallel().WithDegreeOfParallelism(4)
            .Select(i => (i, r: CommandLine.Run("zoo", names[i % names.Length]))).ToArray();
        stray.Cancel();
        writer.Wait();
        foreach (var (i, r) in together)
        {
            Assert.AreEqual(0, r.Code);
            Assert.AreEqual(alone[i % names.Length].Out, r.Out, $"run {i} ({names[i % names.Length]})");
            Assert.AreEqual(alone[i % names.Length].Err, r.Err, $"run {i} ({names[i % names.Length]})");
        }
    }
}
