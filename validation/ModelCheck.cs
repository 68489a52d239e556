using Optimizer.Formulation;

namespace Optimizer.Validation;

/// <summary>One disagreement between the simulator and the analytical model.</summary>
public sealed record Disagreement(string Level, string Tensor, string Quantity, long Model, long Simulated)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Level} {Tensor} {Quantity}: model {Model}, simulated {Simulated}";
}

/// <summary>Cross-checks a simulation against the cost model: counts must be equal, cycles at least the model's bounds.</summary>
public static class ModelCheck
{
    /// <summary>Every disagreement: a count that differs, or simulated cycles below the model's compute or bandwidth bound.</summary>
    public static IReadOnlyList<Disagreement> Compare(CostReport model, SimReport sim)
    {
        var d = new List<Disagreement>();
        void Eq(string level, string tensor, string what, long m, long s)
        {
            if (m != s) d.Add(new Disagreement(level, tensor, what, m, s));
        }
        Eq("", "", "MACs", model.Macs, sim.Macs);
        Eq("", "", "compute units used", model.ComputeInstancesUsed, sim.ComputeInstancesUsed);
        Eq("", "", "compute cycles", model.ComputeCycles, sim.ComputeCycles);
        foreach (var m in model.Tensors)
        {
            var s = sim.Find(m.LevelIndex, m.Tensor);
            if (s is null) { d.Add(new Disagreement(m.Level, m.Tensor.Name, "kept", 1, 0)); continue; }
            Eq(m.Level, m.Tensor.Name, "tile words", m.TileWords, s.TileWords);
            Eq(m.Level, m.Tensor.Name, "fills", m.Fills, s.Fills);
            Eq(m.Level, m.Tensor.Name, "reads", m.Reads, s.Reads);
            Eq(m.Level, m.Tensor.Name, "updates", m.Updates, s.Updates);
            Eq(m.Level, m.Tensor.Name, "forwarded reads", m.ForwardedReads, s.ForwardedReads);
            Eq(m.Level, m.Tensor.Name, "instances used", m.InstancesUsed, s.InstancesUsed);
        }
        if (sim.Tensors.Count != model.Tensors.Count) Eq("", "", "level-tensor rows", model.Tensors.Count, sim.Tensors.Count);
        if (sim.Cycles < model.ComputeCycles) d.Add(new Disagreement("", "", "cycles below compute bound", model.ComputeCycles, sim.Cycles));
        foreach (var l in model.Levels)
            if (sim.Cycles < l.BandwidthCycles) d.Add(new Disagreement(l.Level, "", "cycles below bandwidth bound", l.BandwidthCycles, sim.Cycles));
        return d;
    }
}
