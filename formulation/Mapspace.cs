using Optimizer.Hardware;
using Optimizer.Workloads;

namespace Optimizer.Formulation;

/// <summary>
/// The mapspace of one Einsum on one architecture (perfect factorization): every assignment of each
/// rank's prime factors to the temporal and spatial slots of every level, every loop order, every
/// keep/bypass choice the architecture allows. This class draws mappings from it at random.
/// </summary>
public sealed class Mapspace
{
    private readonly Einsum _einsum;
    private readonly Architecture _arch;
    private readonly List<(int Level, Axis? Axis)> _slots = new();

    /// <summary>Creates the mapspace of an Einsum on an architecture.</summary>
    public Mapspace(Einsum einsum, Architecture arch)
    {
        _einsum = einsum;
        _arch = arch;
        for (int l = 0; l < arch.Levels.Count; l++)
        {
            _slots.Add((l, null));
            if (arch.Levels[l].Fanout.X > 1) _slots.Add((l, Axis.X));
            if (arch.Levels[l].Fanout.Y > 1) _slots.Add((l, Axis.Y));
        }
    }

    /// <summary>
    /// The mapping with its spatial loops in every order within each axis of each fanout (the first is the mapping
    /// itself). The default model's counts do not depend on that order; Timeloop's do, since the order says which rank
    /// varies fastest from one child to the next, so which children are neighbours (rule C of docs/cost-model.md).
    /// </summary>
    public static IEnumerable<Mapping> SpatialOrders(Mapping mapping)
    {
        var perLevel = mapping.Levels.Select(lm =>
        {
            var x = lm.Spatial.Where(s => s.Axis == Axis.X).ToList();
            var y = lm.Spatial.Where(s => s.Axis == Axis.Y).ToList();
            return (from px in Permutations(x) from py in Permutations(y) select new LevelMapping(lm.Temporal, px.Concat(py), lm.Keep)).ToList();
        }).ToList();
        IEnumerable<List<LevelMapping>> Combine(int l) => l == perLevel.Count
            ? [[]]
            : from first in perLevel[l] from rest in Combine(l + 1) select rest.Prepend(first).ToList();
        return Combine(0).Select(levels => new Mapping(levels));
    }

    /// <summary>Every order of the items, the given order first.</summary>
    public static IEnumerable<List<T>> Permutations<T>(List<T> items)
    {
        if (items.Count <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Count; i++)
            foreach (var rest in Permutations(items.Where((_, k) => k != i).ToList()))
                yield return rest.Prepend(items[i]).ToList();
    }

    /// <summary>The prime factors of n in ascending order.</summary>
    public static List<int> PrimeFactors(int n)
    {
        var f = new List<int>();
        for (int p = 2; (long)p * p <= n; p++)
            while (n % p == 0) { f.Add(p); n /= p; }
        if (n > 1) f.Add(n);
        return f;
    }

    /// <summary>
    /// Draws one mapping: each prime factor goes to a random slot (the outermost level's temporal slot
    /// with probability <paramref name="outerBias"/>, one half by default, so that tiles stay small), loops take a random order, and each
    /// level keeps each tensor it may keep with probability <paramref name="keepProbability"/>.
    /// The result may break capacity or fanout rules; <see cref="TrySampleValid"/> retries until it does not.
    /// </summary>
    public Mapping Sample(Random rng, double keepProbability = 0.7, double outerBias = 0.5)
    {
        int n = _arch.Levels.Count;
        var temporal = Enumerable.Range(0, n).Select(_ => new Dictionary<RankId, int>()).ToArray();
        var spatial = Enumerable.Range(0, n).Select(_ => new Dictionary<(RankId, Axis), int>()).ToArray();
        foreach (var rank in _einsum.Ranks)
            foreach (var p in PrimeFactors(rank.Bound))
            {
                var slot = rng.NextDouble() < outerBias ? _slots[0] : _slots[rng.Next(_slots.Count)];
                if (slot.Axis is { } axis)
                    spatial[slot.Level][(rank.Id, axis)] = spatial[slot.Level].GetValueOrDefault((rank.Id, axis), 1) * p;
                else
                    temporal[slot.Level][rank.Id] = temporal[slot.Level].GetValueOrDefault(rank.Id, 1) * p;
            }
        var levels = new List<LevelMapping>();
        for (int l = 0; l < n; l++)
        {
            var t = temporal[l].OrderBy(kv => kv.Key.Name, StringComparer.Ordinal).Select(kv => new TemporalLoop(kv.Key, kv.Value)).ToList();
            Shuffle(t, rng);
            var s = spatial[l].OrderBy(kv => kv.Key.Item1.Name, StringComparer.Ordinal).ThenBy(kv => kv.Key.Item2)
                .Select(kv => new SpatialLoop(kv.Key.Item1, kv.Value, kv.Key.Item2)).ToList();
            Shuffle(s, rng);
            var keep = _einsum.Tensors.Where(x => l == 0 || (_arch.Levels[l].MayKeep(x.Role) && rng.NextDouble() < keepProbability)).Select(x => x.Id);
            levels.Add(new LevelMapping(t, s, keep));
        }
        return new Mapping(levels);
    }

    /// <summary>
    /// Draws one mapping with imperfect factors (docs/cost-model.md, "Imperfect factorization"): each rank's
    /// slots are filled from the innermost out, a temporal slot with any factor up to what is left of the bound
    /// (<c>ceil(bound / inner tile)</c>), a spatial slot with a factor whose span divides the bound, and the
    /// outermost level's temporal slot with what covers the rest; loops in a random order (spatial loops X before
    /// Y), keep sets as in <see cref="Sample"/>. The result may break capacity or fanout rules.
    /// </summary>
    public Mapping SampleImperfect(Random rng, double keepProbability = 0.7)
    {
        int n = _arch.Levels.Count;
        var temporal = Enumerable.Range(0, n).Select(_ => new Dictionary<RankId, int>()).ToArray();
        var spatial = Enumerable.Range(0, n).Select(_ => new Dictionary<(RankId, Axis), int>()).ToArray();
        foreach (var rank in _einsum.Ranks)
        {
            long inner = 1;
            for (int i = _slots.Count - 1; i >= 1; i--)
            {
                var (level, axis) = _slots[i];
                long most = (rank.Bound + inner - 1) / inner;
                long f = 1;
                if (most > 1 && axis is { } ax)
                {
                    long room = Math.Min(most, ax == Axis.X ? _arch.Levels[level].Fanout.X : _arch.Levels[level].Fanout.Y);
                    var fits = Enumerable.Range(2, (int)Math.Max(0, room - 1)).Where(x => rank.Bound % (inner * x) == 0).ToList();
                    if (fits.Count > 0 && rng.NextDouble() < 0.5) f = fits[rng.Next(fits.Count)];
                }
                else if (most > 1 && rng.NextDouble() < 0.6) f = rng.Next(2, (int)Math.Min(most, 16) + 1);
                if (f == 1) continue;
                if (axis is { } a) spatial[level][(rank.Id, a)] = (int)f;
                else temporal[level][rank.Id] = (int)f;
                inner *= f;
            }
            long rest = (rank.Bound + inner - 1) / inner;
            if (rest > 1) temporal[0][rank.Id] = (int)rest;
        }
        var levels = new List<LevelMapping>();
        for (int l = 0; l < n; l++)
        {
            var t = temporal[l].OrderBy(kv => kv.Key.Name, StringComparer.Ordinal).Select(kv => new TemporalLoop(kv.Key, kv.Value)).ToList();
            Shuffle(t, rng);
            var s = spatial[l].OrderBy(kv => kv.Key.Item2).ThenBy(kv => kv.Key.Item1.Name, StringComparer.Ordinal)
                .Select(kv => new SpatialLoop(kv.Key.Item1, kv.Value, kv.Key.Item2)).ToList();
            var keep = _einsum.Tensors.Where(x => l == 0 || (_arch.Levels[l].MayKeep(x.Role) && rng.NextDouble() < keepProbability)).Select(x => x.Id);
            levels.Add(new LevelMapping(t, s, keep));
        }
        return new Mapping(levels);
    }

    /// <summary>Draws mappings until one is valid, at most <paramref name="attempts"/> times; with imperfect factorization from <see cref="SampleImperfect"/>.</summary>
    public bool TrySampleValid(Random rng, int attempts, out Mapping mapping, double outerBias = 0.5, Factorization factorization = Factorization.Perfect)
    {
        for (int i = 0; i < attempts; i++)
        {
            var m = factorization == Factorization.Imperfect ? SampleImperfect(rng) : Sample(rng, outerBias: outerBias);
            if (ValidityChecker.Check(_einsum, _arch, m, factorization).Count == 0) { mapping = m; return true; }
        }
        mapping = null!;
        return false;
    }

    private static void Shuffle<T>(List<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
