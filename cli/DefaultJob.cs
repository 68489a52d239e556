namespace Optimizer.Cli;

/// <summary>
/// What <c>optimizer</c> does with no arguments: the exact mapper on a ResNet-50 3x3 layer (conv5_2_b:
/// C=K=512, 7x7 outputs) on the eyeriss preset, minimizing energy. It prints the best mapping, its
/// costs and what was proved: OPTIMAL (about 10 s on two cores), or, if the time limit comes first,
/// the best found with its bound and gap.
/// </summary>
internal static class DefaultJob
{
    public const string WorkloadName = "resnet50";
    public const string LayerName = "conv5_2_b";
    public const int Seconds = 120;

    public static int Run() => Run([]);

    /// <summary>The default job with extra <c>map</c> options: only <c>--certify z3|cpsat</c> is taken (<c>optimizer --certify cpsat</c>).</summary>
    public static int Run(string[] extra)
    {
        if (extra.Length > 0 && !(extra[0] == "--certify" && extra.Length <= 2))
            throw new InputException($"The default job takes only --certify [z3|cpsat]; got {string.Join(" ", extra)}. Use 'optimizer map ...' for anything else.");
        Console.WriteLine($"Default job: the exact mapper on ResNet-50 layer {LayerName} on eyeriss, minimizing energy, {Seconds} s limit.");
        Console.WriteLine("(Run 'optimizer --help' for the commands; 'optimizer zoo' for what is built in.)");
        Console.WriteLine();
        return Program.Main(["map", "--arch", "eyeriss", "--workload", WorkloadName, "--layer", LayerName, "--time-limit", Seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);
    }
}
