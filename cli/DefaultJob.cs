namespace Optimizer.Cli;

/// <summary>
/// What <c>optimizer</c> does with no arguments: the exact mapper on a ResNet-50 3x3 layer (conv3_2_b:
/// C=K=128, 28x28 outputs) on the eyeriss preset, minimizing energy under a time limit. It prints the
/// best mapping, its costs and what was proved: OPTIMAL, or the best found with its bound and gap.
/// </summary>
internal static class DefaultJob
{
    public const string WorkloadName = "resnet50";
    public const string LayerName = "conv3_2_b";
    public const int Seconds = 20;

    public static int Run()
    {
        Console.WriteLine($"Default job: the exact mapper on ResNet-50 layer {LayerName} on eyeriss, minimizing energy, {Seconds} s limit.");
        Console.WriteLine("(Run 'optimizer --help' for the commands; 'optimizer zoo' for what is built in.)");
        Console.WriteLine();
        return Program.Main(["map", "--arch", "eyeriss", "--workload", WorkloadName, "--layer", LayerName, "--time-limit", Seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
    }
}
