using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// One mapping run on a smaller shape (docs/shapes.md): the loops keep their factors, and under imperfect
/// semantics (docs/cost-model.md, "Imperfect factorization") an iteration whose first point is at or beyond the
/// shape's bound does not run. <see cref="Clamp"/> writes that execution as a mapping the checker accepts: every
/// loop's factor becomes the iterations it can ever run for that bound (<see cref="Counts.Trips"/> with the
/// bound left, as the checker's <c>EmptyIteration</c> rule computes it), so the same points run in the same
/// order with the same tiles, and the reference model and the simulator count it as they count any mapping.
/// </summary>
public static class ShapeFit
{
    /// <summary>
    /// The mapping as it runs on <paramref name="shape"/> (the layer with that shape's bounds): each loop of rank
    /// <c>r</c> with factor <c>f</c> over tiles of <c>S</c> (the product of r's factors inside it) runs
    /// <c>min(f, ceil(min(B, f S) / S))</c> iterations; loops left with one iteration are dropped. Once a loop
    /// of r is cut, its span <c>f S</c> exceeds <c>B</c>, so every loop of r outside it runs once: the points run
    /// and every tile (clipped to the bound) are those of the mapping as written. Returns the mapping itself when
    /// nothing is cut.
    /// </summary>
    public static Mapping Clamp(Mapping mapping, Einsum shape)
    {
        var nest = mapping.Nest().ToList();
        var factor = nest.Select(x => x.Factor).ToArray();
        bool changed = false;
        foreach (var rank in shape.Ranks)
        {
            long inner = 1;
            for (int i = nest.Count - 1; i >= 0; i--)
            {
                if (nest[i].Rank != rank.Id) continue;
                long span = checked(inner * nest[i].Factor);
                long runs = Runs(rank.Bound, nest[i].Factor, inner);
                if (runs < factor[i]) { factor[i] = (int)runs; changed = true; }
                inner = span;
            }
        }
        if (!changed) return mapping;
        var levels = new List<LevelMapping>();
        int k = 0;
        for (int l = 0; l < mapping.Levels.Count; l++)
        {
            var lm = mapping.Levels[l];
            var temporal = new List<TemporalLoop>();
            foreach (var t in lm.Temporal) { if (factor[k] > 1 || t.Factor == 1) temporal.Add(new TemporalLoop(t.Rank, factor[k])); k++; }
            var spatial = new List<SpatialLoop>();
            foreach (var s in lm.Spatial) { if (factor[k] > 1 || s.Factor == 1) spatial.Add(new SpatialLoop(s.Rank, factor[k], s.Axis)); k++; }
            levels.Add(new LevelMapping(temporal, spatial, lm.Keep));
        }
        return new Mapping(levels);
    }

    /// <summary>
    /// The iterations a loop of factor <paramref name="factor"/> over tiles of <paramref name="inner"/> points (the product
    /// of its rank's factors inside it, as written) runs on a shape whose bound is <paramref name="bound"/>:
    /// <c>min(f, ceil(min(B, f S) / S))</c> (<see cref="Counts.Trips"/>).
    /// </summary>
    public static long Runs(long bound, long factor, long inner) => Counts.Trips(Math.Min(bound, checked(inner * factor)), factor, inner);
}
