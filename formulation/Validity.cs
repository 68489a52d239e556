using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>The rules a mapping can break; each violation names one.</summary>
public enum Rule
{
    /// <summary>The mapping has a different number of levels than the architecture.</summary>
    LevelCount,
    /// <summary>A loop names a rank the Einsum does not have.</summary>
    UnknownRank,
    /// <summary>A keep set names a tensor the Einsum does not have.</summary>
    UnknownTensor,
    /// <summary>The factors of a rank over all levels do not multiply to its bound.</summary>
    FactorProduct,
    /// <summary>The tiles a level keeps exceed its capacity.</summary>
    Capacity,
    /// <summary>The spatial factors along X exceed the fanout's X size.</summary>
    FanoutX,
    /// <summary>The spatial factors along Y exceed the fanout's Y size.</summary>
    FanoutY,
    /// <summary>A level keeps a tensor whose role it may not keep.</summary>
    KeepRole,
    /// <summary>The outermost level must keep every tensor.</summary>
    OutermostKeepsAll,
    /// <summary>Imperfect factorization: a loop whose factor is more than its rank ever lets it run (a whole iteration would be empty).</summary>
    EmptyIteration,
    /// <summary>Imperfect factorization: a spatial loop whose span (its rank's factors at and inside it) does not divide the bound, so its instances would not get equal shares.</summary>
    SpatialRemainder,
}

/// <summary>Whether a mapping's factors must multiply to each bound exactly, or may cover it with partial last iterations (docs/cost-model.md, "Imperfect factorization").</summary>
public enum Factorization
{
    /// <summary>The factors of every rank multiply to its bound.</summary>
    Perfect,
    /// <summary>The factors of every rank multiply to at least its bound; every iteration whose first point is beyond the bound is skipped.</summary>
    Imperfect,
}

/// <summary>One broken rule, as data: which rule, where, and the needed and available amounts.</summary>
public sealed record Violation(Rule Rule, string? Level, string? Tensor, string? Rank, long Needed, long Available, string Message)
{
    /// <inheritdoc/>
    public override string ToString() => Message;
}

/// <summary>Decides whether a mapping is legal for an Einsum on an architecture, reporting every violation.</summary>
public static class ValidityChecker
{
    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first broken rule when the mapping is not valid; <paramref name="who"/> names the evaluator that refuses it.</summary>
    public static void RequireValid(Einsum einsum, Architecture arch, Mapping mapping, string who, Factorization factorization = Factorization.Perfect)
    {
        var violations = Check(einsum, arch, mapping, factorization);
        if (violations.Count > 0)
            throw new InvalidOperationException($"{who} evaluates valid mappings only; this one breaks {violations.Count} rule(s), first: {violations[0].Message}");
    }

    /// <summary>Every violation of the mapping; empty when it is valid. <paramref name="factorization"/> says whether partial last iterations are allowed.</summary>
    public static IReadOnlyList<Violation> Check(Einsum einsum, Architecture arch, Mapping mapping, Factorization factorization = Factorization.Perfect)
    {
        var v = new List<Violation>();
        if (mapping.Levels.Count != arch.Levels.Count)
        {
            v.Add(new Violation(Rule.LevelCount, null, null, null, arch.Levels.Count, mapping.Levels.Count,
                $"The mapping has {mapping.Levels.Count} levels but architecture {arch.Name} has {arch.Levels.Count} ({string.Join(", ", arch.Levels.Select(l => l.Name))})."));
            return v;
        }

        bool ranksKnown = true;
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            var name = arch.Levels[l].Name;
            var lm = mapping.Levels[l];
            foreach (var r in lm.Temporal.Select(t => t.Rank).Concat(lm.Spatial.Select(s => s.Rank)).Distinct())
                if (!einsum.HasRank(r))
                {
                    ranksKnown = false;
                    v.Add(new Violation(Rule.UnknownRank, name, null, r.Name, 0, 0,
                        $"Level {name}: loop over rank {r}, but layer {einsum.Name} has ranks {string.Join(", ", einsum.Ranks.Select(x => x.Id))}."));
                }
            foreach (var t in lm.Keep)
            {
                var spec = einsum.FindTensor(t);
                if (spec is null)
                    v.Add(new Violation(Rule.UnknownTensor, name, t.Name, null, 0, 0,
                        $"Level {name}: keeps tensor {t}, but layer {einsum.Name} has tensors {string.Join(", ", einsum.Tensors.Select(x => x.Id))}."));
                else if (!arch.Levels[l].MayKeep(spec.Role))
                    v.Add(new Violation(Rule.KeepRole, name, t.Name, null, 0, 0,
                        $"Level {name}: keeps {t} ({spec.Role}), but it may only keep {string.Join(", ", arch.Levels[l].Keeps.Order())}."));
            }
            var fan = arch.Levels[l].Fanout;
            long x = lm.Spatial.Where(s => s.Axis == Axis.X).Aggregate(1L, (a, s) => checked(a * s.Factor));
            long y = lm.Spatial.Where(s => s.Axis == Axis.Y).Aggregate(1L, (a, s) => checked(a * s.Factor));
            if (x > fan.X)
                v.Add(new Violation(Rule.FanoutX, name, null, null, x, fan.X,
                    $"Level {name}: spatial factors along X multiply to {x}, but its fanout has {fan.X} along X."));
            if (y > fan.Y)
                v.Add(new Violation(Rule.FanoutY, name, null, null, y, fan.Y,
                    $"Level {name}: spatial factors along Y multiply to {y}, but its fanout has {fan.Y} along Y."));
        }
        foreach (var t in einsum.Tensors)
            if (!mapping.Levels[0].Keep.Contains(t.Id))
                v.Add(new Violation(Rule.OutermostKeepsAll, arch.Levels[0].Name, t.Id.Name, null, 0, 0,
                    $"Level {arch.Levels[0].Name}: must keep {t.Id}, since the outermost level is where every tensor starts and ends."));

        foreach (var rank in einsum.Ranks)
        {
            long product = 1;
            foreach (var lm in mapping.Levels) product = checked(product * lm.TemporalFactor(rank.Id) * lm.SpatialFactor(rank.Id));
            if (factorization == Factorization.Perfect && product != rank.Bound)
            {
                // Factors that would be a valid imperfect cover get a hint; others (an iteration that would be empty) do not.
                var imperfect = new List<Violation>();
                if (product > rank.Bound && ranksKnown) ImperfectRules(arch, mapping, rank, imperfect);
                v.Add(new Violation(Rule.FactorProduct, null, null, rank.Id.Name, rank.Bound, product,
                    $"Rank {rank.Id}: factors over all levels multiply to {product}, but its bound is {rank.Bound}" +
                    (product > rank.Bound && ranksKnown && imperfect.Count == 0
                        ? " (factors that cover the bound with a partial last iteration are imperfect factorization, which must be asked for: --imperfect)." : ".")));
            }
            else if (factorization == Factorization.Imperfect && product < rank.Bound)
                v.Add(new Violation(Rule.FactorProduct, null, null, rank.Id.Name, rank.Bound, product,
                    $"Rank {rank.Id}: factors over all levels multiply to {product}, below its bound {rank.Bound}: the points beyond {product} would never be computed."));
            else if (factorization == Factorization.Imperfect && ranksKnown)
                ImperfectRules(arch, mapping, rank, v);
        }

        if (ranksKnown)
        {
            var tiles = new TileShapes(einsum, mapping);
            for (int l = 0; l < arch.Levels.Count; l++)
            {
                var level = arch.Levels[l];
                if (level.Capacity is not { } cap) continue;
                var kept = einsum.Tensors.Where(t => mapping.Levels[l].Keep.Contains(t.Id)).ToList();
                long need = kept.Aggregate(0L, (a, t) => checked(a + tiles.TileWords(t, l)));
                if (need > cap)
                    v.Add(new Violation(Rule.Capacity, level.Name, string.Join("+", kept.Select(t => t.Id)), null, need, cap,
                        $"Level {level.Name}: the tiles it keeps ({string.Join(" + ", kept.Select(t => $"{t.Id} {tiles.TileWords(t, l)}"))}) need {need} words, but it holds {cap}."));
            }
        }
        return v;
    }

    /// <summary>
    /// The rules of imperfect factorization for one rank whose factors cover its bound: walking its loops from
    /// the innermost out, a loop may not have more iterations than the rank ever leaves it (its span minus the
    /// bound must stay below its inner tile: <see cref="Counts.Trips"/>), and a spatial loop's span must divide
    /// the bound, so that every instance gets the same share (partial tiles live in temporal loops outside it).
    /// </summary>
    private static void ImperfectRules(Architecture arch, Mapping mapping, Rank rank, List<Violation> v)
    {
        var loops = mapping.Nest().Where(x => x.Rank == rank.Id).ToList();
        long inner = 1;
        for (int i = loops.Count - 1; i >= 0; i--)
        {
            var loop = loops[i];
            long span = checked(inner * loop.Factor);
            string level = arch.Levels[loop.Level].Name;
            string what = loop.IsSpatial ? $"spatial loop {rank.Id}={loop.Factor}@{loop.Axis}" : $"loop {rank.Id}={loop.Factor}";
            long runs = Counts.Trips(Math.Min(rank.Bound, span), loop.Factor, inner);
            if (runs < loop.Factor)
                v.Add(new Violation(Rule.EmptyIteration, level, null, rank.Id.Name, loop.Factor, runs,
                    $"Level {level}: {what} over tiles of {inner} never runs more than {runs} iteration(s), since the bound is {rank.Bound}: its span {span} minus the bound is at least one tile, so a whole iteration would be empty; use factor {runs}."));
            else if (loop.IsSpatial && loop.Factor > 1 && rank.Bound % span != 0)
                v.Add(new Violation(Rule.SpatialRemainder, level, null, rank.Id.Name, span, rank.Bound,
                    $"Level {level}: {what} spans {span} points of {rank.Id}, which does not divide its bound {rank.Bound}, so its instances would get unequal shares; partial tiles are supported only in temporal loops outside every spatial loop of the rank."));
            inner = span;
        }
    }
}

/// <summary>The tile extents of every rank at every level of a mapping (imperfect factors: at most the bound): the product of the factors at that level and below.</summary>
public sealed class TileShapes
{
    private readonly Einsum _einsum;
    private readonly Dictionary<RankId, long>[] _extent;

    /// <summary>Computes tile extents; loops over unknown ranks are ignored.</summary>
    public TileShapes(Einsum einsum, Mapping mapping)
    {
        _einsum = einsum;
        int n = mapping.Levels.Count;
        _extent = new Dictionary<RankId, long>[n + 1];
        _extent[n] = einsum.Ranks.ToDictionary(r => r.Id, _ => 1L);
        for (int l = n - 1; l >= 0; l--)
        {
            var e = new Dictionary<RankId, long>(_extent[l + 1]);
            foreach (var t in mapping.Levels[l].Temporal) if (e.ContainsKey(t.Rank)) e[t.Rank] = checked(e[t.Rank] * t.Factor);
            foreach (var s in mapping.Levels[l].Spatial) if (e.ContainsKey(s.Rank)) e[s.Rank] = checked(e[s.Rank] * s.Factor);
            _extent[l] = e;
        }
        foreach (var e in _extent)
            foreach (var r in einsum.Ranks) if (e.ContainsKey(r.Id)) e[r.Id] = Math.Min(e[r.Id], r.Bound);
    }

    /// <summary>The extent of a rank in the tile of a level (level = count means one compute unit).</summary>
    public long Extent(int level, RankId rank) => _extent[level][rank];

    /// <summary>Words of the tensor's tile at a level (its bounding box).</summary>
    public long TileWords(TensorSpec t, int level) => t.Footprint(r => _extent[level][r]);
}
