using Optimizer.Formulation;
using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Cli;

/// <summary>
/// What <c>optimizer</c> does with no arguments: evaluate a built-in reference mapping of a ResNet-50
/// 3x3 layer (conv3_2_b: C=K=128, 28x28 outputs) on the eyeriss preset.
/// </summary>
internal static class DefaultJob
{
    public const string WorkloadName = "resnet50";
    public const string LayerName = "conv3_2_b";

    public static int Run()
    {
        Console.WriteLine("Default job: the built-in reference mapping of ResNet-50 layer conv3_2_b on eyeriss.");
        Console.WriteLine("(Run 'optimizer --help' for the commands; 'optimizer zoo' for what is built in.)");
        Console.WriteLine();
        var w = Zoo.Get(WorkloadName);
        var layer = w.Layer(LayerName);
        var arch = Presets.Get("eyeriss");
        return EvaluateCommand.Run(w, layer, arch, ReferenceMapping(layer), null, null);
    }

    /// <summary>
    /// A hand-made row-stationary-like mapping for a 3x3, 128-to-128-channel, 28x28 layer on eyeriss:
    /// 14 output columns along X and 3 filter rows x 4 output rows along Y; each PE keeps 8 output
    /// channels x 4 input channels x 3 filter columns of weights (96 of 224 words), a 4-channel by
    /// 3-column input window (12 of 12) and 8 partial sums (of 24).
    /// </summary>
    public static Mapping ReferenceMapping(Einsum layer)
    {
        static TemporalLoop T(string r, int f) => new(new RankId(r), f);
        static SpatialLoop S(string r, int f, Axis a) => new(new RankId(r), f, a);
        IEnumerable<TensorId> Keep(params TensorRole[] roles) => layer.Tensors.Where(t => roles.Contains(t.Role)).Select(t => t.Id);
        const TensorRole W = TensorRole.Weights, I = TensorRole.Inputs, O = TensorRole.Outputs;
        return new Mapping([
            new LevelMapping([T("K", 16), T("C", 4)], [], Keep(W, I, O)),                          // DRAM
            new LevelMapping([T("C", 8), T("P", 7), T("Q", 2)], [S("Q", 14, Axis.X), S("R", 3, Axis.Y), S("P", 4, Axis.Y)], Keep(I, O)), // GlobalBuffer
            new LevelMapping([], [], Keep(W)),                                                                   // WeightsSpad
            new LevelMapping([T("C", 4)], [], Keep(I)),                                                           // InputsSpad
            new LevelMapping([T("S", 3), T("K", 8)], [], Keep(O)),                                               // PsumSpad
        ]);
    }
}
