using System.Diagnostics.CodeAnalysis;
using Optimizer.Workloads;

namespace Optimizer.Hardware;

/// <summary>
/// Built-in architectures, looked up by name. Energies are pJ per word access, bandwidths words per
/// cycle per instance, capacities words per instance; <c>docs/presets.md</c> gives the source of
/// every number, every unit conversion and every simplification.
/// </summary>
public static class Presets
{
    /// <summary>pJ per unit of the Eyeriss normalized energy table, where one unit is one 16-bit MAC at 65 nm (about 1 pJ).</summary>
    public const double EyerissPjPerUnit = 1.0;

    /// <summary>The TPU v4i clock in GHz, used to turn its GB/s figures into words per cycle.</summary>
    public const double TpuV4iClockGHz = 1.05;

    private const long KiB = 1024;
    private const long MiB = 1024 * KiB;

    private static readonly TensorRole[] InputsOnly = [TensorRole.Inputs];
    private static readonly TensorRole[] WeightsOnly = [TensorRole.Weights];
    private static readonly TensorRole[] OutputsOnly = [TensorRole.Outputs];
    private static readonly TensorRole[] InputsAndOutputs = [TensorRole.Inputs, TensorRole.Outputs];

    private static readonly Architecture[] Built = [Eyeriss(), SimpleWs(), TpuV4i(), Multinode("multinode", 16, 32 * KiB), Multinode("multinode-4x4", 4, 64 * KiB)];

    private static readonly Dictionary<string, Architecture> ByName =
        Built.ToDictionary(a => a.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Every preset, built once, in a fixed order: eyeriss, simple-ws, tpu-v4i, multinode, multinode-4x4.</summary>
    public static IReadOnlyList<Architecture> All { get; } = Array.AsReadOnly(Built);

    /// <summary>The presets' names, in the order of <see cref="All"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = Array.AsReadOnly(Built.Select(a => a.Name).ToArray());

    /// <summary>Finds a preset by name, ignoring case; returns false (and null) when there is none.</summary>
    public static bool TryGet(string name, [NotNullWhen(true)] out Architecture? arch)
    {
        arch = null;
        return name is not null && ByName.TryGetValue(name, out arch);
    }

    /// <summary>Returns the preset with this name, ignoring case, or throws an <see cref="ArgumentException"/> listing the valid names.</summary>
    public static Architecture Get(string name)
        => TryGet(name, out var arch) ? arch
            : throw new ArgumentException($"There is no preset architecture named '{name}'. Valid names: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>Eyeriss (Chen et al., ISCA 2016): a 12 x 14 row-stationary PE array with per-PE scratchpads.</summary>
    private static Architecture Eyeriss()
    {
        const int bits = 16;
        const double mac = 1 * EyerissPjPerUnit, spad = 1 * EyerissPjPerUnit, array = 2 * EyerissPjPerUnit;
        const double glb = 6 * EyerissPjPerUnit, dram = 200 * EyerissPjPerUnit;
        const long glbWords = 108 * KiB * 8 / bits; // 110592 bytes = 55296 words
        StorageLevel[] levels =
        [
            new("DRAM", null, bits, dram, dram, readBandwidth: 4, writeBandwidth: 4),
            new("GlobalBuffer", glbWords, bits, glb, glb, readBandwidth: 16, writeBandwidth: 16, keeps: InputsAndOutputs,
                fanout: new Fanout(14, 12, multicast: true, spatialReduction: true, hopEnergy: array)),
            new("WeightsSpad", 224, bits, spad, spad, keeps: WeightsOnly),
            new("InputsSpad", 12, bits, spad, spad, keeps: InputsOnly),
            new("PsumSpad", 24, bits, spad, spad, keeps: OutputsOnly),
        ];
        const string description =
            "Eyeriss (Chen, Emer and Sze, ISCA 2016): a 65 nm row-stationary accelerator with 16-bit words, a 108 KB global buffer " +
            "and 168 PEs (14 x 12), each with a 224-word weight scratchpad, a 12-word input scratchpad and a 24-word partial-sum " +
            "scratchpad. Energies are the paper's normalized costs (MAC 1, scratchpad 1, inter-PE array 2, global buffer 6, DRAM 200) " +
            "times EyerissPjPerUnit = 1 pJ, taking one 16-bit 65 nm MAC as about 1 pJ. Simplified: the global buffer keeps only " +
            "inputs and outputs (weights go from DRAM straight to the PEs), the three scratchpads are stacked as three levels " +
            "(weights, inputs, partial sums, outermost first) with no fanout between them, the array is a multicast and reducing " +
            "bus at 2 pJ a word, DRAM gives 4 words a cycle, the global buffer 16 read and 16 write, and the scratchpads are " +
            "unlimited; the clock is 200 MHz.";
        return new Architecture("eyeriss", description, levels, new ComputeUnit(mac, 1), clockGHz: 0.2);
    }

    /// <summary>A small weight-stationary array with a small mapspace, for tests and examples.</summary>
    private static Architecture SimpleWs()
    {
        const int bits = 16;
        StorageLevel[] levels =
        [
            new("DRAM", null, bits, 100, 100, readBandwidth: 4, writeBandwidth: 4),
            new("GlobalBuffer", 4096, bits, 3, 3,
                fanout: new Fanout(4, 4, multicast: true, spatialReduction: true, hopEnergy: 0.5)),
            new("Registers", 64, bits, 0.3, 0.3, keeps: WeightsOnly),
        ];
        const string description =
            "simple-ws: an invented small weight-stationary accelerator for tests and examples, not a real chip. 16-bit words; " +
            "DRAM (100 pJ a word, 4 words a cycle); a 4096-word global buffer keeping every tensor (3 pJ, unlimited bandwidth) " +
            "feeding a 4 x 4 PE array over a multicast and reducing bus (0.5 pJ a hop); per PE a 64-word register file that " +
            "keeps only weights (0.3 pJ), so inputs and partial sums stream from the global buffer; 0.5 pJ a MAC, one MAC a " +
            "cycle, 1 GHz. Three levels and 16 PEs keep its mapspace small enough to enumerate.";
        return new Architecture("simple-ws", description, levels, new ComputeUnit(0.5, 1), clockGHz: 1.0);
    }

    /// <summary>Google TPU v4i (Jouppi et al., ISCA 2021), one 128 x 128 MXU with int8 words.</summary>
    private static Architecture TpuV4i()
    {
        const int bits = 8; // int8 inference: one word is one byte
        const double dramPjPerWord = 7.03 * bits; // 56.24 pJ
        const double dramWordsPerCycle = 614 / TpuV4iClockGHz; // 614 GB/s = 584.76 bytes a cycle
        const double cmemReadWordsPerCycle = 2048 / TpuV4iClockGHz; // 1950.48
        const double cmemWriteWordsPerCycle = 1024 / TpuV4iClockGHz; // 975.24
        StorageLevel[] levels =
        [
            new("DRAM", null, bits, dramPjPerWord, dramPjPerWord, dramWordsPerCycle, dramWordsPerCycle),
            new("GlobalBuffer", 128 * MiB, bits, 1.88, 2.36, cmemReadWordsPerCycle, cmemWriteWordsPerCycle),
            new("LocalBuffer", 4 * 4 * MiB, bits, 0.249, 0.293, keeps: InputsAndOutputs,
                fanout: new Fanout(128, 128, multicast: true, spatialReduction: true)),
            new("WeightRegister", 1, bits, 0, 0, keeps: WeightsOnly),
        ];
        const string description =
            "TPU v4i (Jouppi et al., ISCA 2021) for int8 inference, so one word is one byte: HBM DRAM at 614 GB/s and 7.03 pJ/bit " +
            "(56.24 pJ a word; 584.76 words a cycle at 1.05 GHz), a 128 MB common memory as the global buffer (2048 GB/s read = " +
            "1950.48 words a cycle, 1024 GB/s write = 975.24; 1.88 pJ read, 2.36 pJ write), a local buffer for inputs and " +
            "outputs (0.249 pJ read, 0.293 pJ write), a 128 x 128 multicast and reducing PE array and a one-word weight register " +
            "per PE; 0.084 pJ a MAC. Simplified: the four 4 MB local buffers are one 16 MB level with unlimited bandwidth, below " +
            "which there is one 128 x 128 array (16384 MACs, a quarter of the chip's four MXUs); array wires and the weight " +
            "register cost nothing apart from the MAC energy; DRAM's shared bandwidth is granted to reads and writes each.";
        return new Architecture("tpu-v4i", description, levels, new ComputeUnit(0.084, 1), clockGHz: TpuV4iClockGHz);
    }

    /// <summary>The Tangram/KAPLA-style tiled accelerator: a mesh of nodes, each an 8 x 8 PE array with a global buffer.</summary>
    private static Architecture Multinode(string name, int nodesPerSide, long glbBytes)
    {
        const int bits = 16;
        long glbWords = glbBytes * 8 / bits;
        StorageLevel[] levels =
        [
            new("DRAM", null, bits, 401.89, 401.89, readBandwidth: 25, writeBandwidth: 25,
                fanout: new Fanout(nodesPerSide, nodesPerSide, multicast: true, spatialReduction: true, hopEnergy: 9.76, topology: Topology.Mesh)),
            new("GlobalBuffer", glbWords, bits, 2.8325, 2.8325,
                fanout: new Fanout(8, 8, multicast: true, spatialReduction: true, hopEnergy: 1.6416, topology: Topology.Bus)),
            new("RegFile", 64 * 8 / bits, bits, 0.0941, 0.0941),
        ];
        string description =
            $"{name}: the tiled multi-node accelerator of the Tangram and KAPLA studies of scalable NN accelerators: " +
            $"{nodesPerSide} x {nodesPerSide} nodes on a mesh network-on-chip (9.76 pJ a word a hop), each node an 8 x 8 PE array " +
            $"on a bus (1.6416 pJ a word) under a {glbBytes / KiB} KB global buffer ({glbWords} 16-bit words, 2.8325 pJ), each PE " +
            "with 64 B of register file (32 words, 0.0941 pJ) and a MAC of 0.9984 pJ; DRAM costs 401.89 pJ a word and is " +
            "reached at the array's edges at 25 words a cycle. Simplified: DRAM is one level whose fanout is the node mesh " +
            "(entered at a corner, with multicast and reduction), the on-chip buffers have unlimited bandwidth, every level may " +
            "keep every tensor, and no clock is given, so results are in cycles only.";
        return new Architecture(name, description, levels, new ComputeUnit(0.9984, 1));
    }
}
