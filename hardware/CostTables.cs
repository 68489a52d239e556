using System.Globalization;

namespace Optimizer.Hardware;

/// <summary>
/// A quantity (an energy per access in pJ, or an area in mm²) as a function of a level's capacity in words: either a
/// table of (capacity, value) points interpolated linearly in log(capacity) and log(value) (a power law between two
/// neighbouring points; beyond the first or last point the nearest segment's power law is extended), or one power law
/// <c>value = reference x (capacity / referenceWords)^exponent</c>. The one place where such tables are read
/// (docs/codesign.md, "Cost tables").
/// </summary>
public sealed class CostCurve
{
    private readonly (double Words, double Value)[] _points;
    private readonly double _exponent;

    private CostCurve((double, double)[] points, double exponent)
    {
        _points = points;
        _exponent = exponent;
    }

    /// <summary>A power law through (<paramref name="referenceWords"/>, <paramref name="reference"/>) with this exponent.</summary>
    public static CostCurve PowerLaw(double referenceWords, double reference, double exponent)
    {
        if (!(referenceWords > 0) || !double.IsFinite(referenceWords)) throw new ArgumentException($"A power law's reference capacity must be a positive number of words, got {Show(referenceWords)}.", nameof(referenceWords));
        if (!(reference >= 0) || !double.IsFinite(reference)) throw new ArgumentException($"A power law's reference value must be a non-negative number, got {Show(reference)}.", nameof(reference));
        if (!double.IsFinite(exponent) || exponent < 0) throw new ArgumentException($"A power law's exponent must be a non-negative number (a larger memory never costs less), got {Show(exponent)}.", nameof(exponent));
        return new CostCurve([(referenceWords, reference)], exponent);
    }

    /// <summary>
    /// A table of points, capacities strictly increasing and values positive and non-decreasing (a larger memory never
    /// costs less per access or in area; the relaxation bound of docs/codesign.md does not need it, but a table that
    /// decreases is almost always a typo). One point is a constant.
    /// </summary>
    public static CostCurve Table(IReadOnlyList<(double Words, double Value)> points)
    {
        if (points.Count == 0) throw new ArgumentException("A cost table needs at least one point.", nameof(points));
        for (int i = 0; i < points.Count; i++)
        {
            if (!(points[i].Words > 0) || !double.IsFinite(points[i].Words)) throw new ArgumentException($"Point {i}: the capacity must be a positive number of words, got {Show(points[i].Words)}.", nameof(points));
            if (!(points[i].Value > 0) || !double.IsFinite(points[i].Value)) throw new ArgumentException($"Point {i}: the value must be a positive number (the table is interpolated in log space), got {Show(points[i].Value)}.", nameof(points));
            if (i > 0 && points[i].Words <= points[i - 1].Words) throw new ArgumentException($"Point {i}: capacities must be strictly increasing, got {Show(points[i].Words)} after {Show(points[i - 1].Words)}.", nameof(points));
            if (i > 0 && points[i].Value < points[i - 1].Value) throw new ArgumentException($"Point {i}: the table is not increasing: {Show(points[i].Value)} at {Show(points[i].Words)} words is below {Show(points[i - 1].Value)} at {Show(points[i - 1].Words)} words.", nameof(points));
        }
        return new CostCurve(points.ToArray(), 0);
    }

    /// <summary>The value at a capacity in words.</summary>
    public double At(double words)
    {
        if (!(words > 0)) throw new ArgumentException($"A capacity must be positive, got {Show(words)}.", nameof(words));
        if (_points.Length == 1)
            return _exponent == 0 ? _points[0].Value : _points[0].Value * Math.Pow(words / _points[0].Words, _exponent);
        int hi = 1;
        while (hi < _points.Length - 1 && words > _points[hi].Words) hi++;
        var (w0, v0) = _points[hi - 1];
        var (w1, v1) = _points[hi];
        if (words == w0) return v0;
        if (words == w1) return v1;
        double slope = Math.Log(v1 / v0) / Math.Log(w1 / w0);
        return v0 * Math.Pow(words / w0, slope);
    }

    private static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>What one storage level costs as a function of its capacity: read and write energy per word, area per instance.</summary>
public sealed record LevelCosts(CostCurve Read, CostCurve Write, CostCurve Area);

/// <summary>
/// The cost tables of a design space: per on-chip level its energies and area as functions of capacity, and the
/// area of one MAC unit (per MAC a cycle). The MAC's energy is the base architecture's. Levels without capacity (DRAM)
/// are off chip: they keep the base's energies and count no area.
/// </summary>
public sealed class CostTables
{
    /// <summary>
    /// The default exponent of energy per access against capacity: SRAM read energy grows about as the square root of
    /// its size (Horowitz, ISSCC 2014, 45 nm: 10 pJ for a 64-bit read of 8 KB, 20 pJ of 32 KB, 100 pJ of 1 MB; a
    /// 4x larger array costs 2x, a 128x larger one 10x). An approximation: docs/codesign.md.
    /// </summary>
    public const double DefaultEnergyExponent = 0.5;

    /// <summary>
    /// The default SRAM area per bit in mm²: 1 µm² a bit (a 65 nm 6T cell of about 0.5 µm² with as much again for
    /// decoders, sense amplifiers and wiring). An assumption for relative comparisons, docs/codesign.md.
    /// </summary>
    public const double DefaultAreaPerBit = 1e-6;

    /// <summary>The default area in mm² of one 16-bit MAC unit (one MAC a cycle) at 65 nm: an assumption, docs/codesign.md.</summary>
    public const double DefaultMacArea = 0.01;

    private readonly IReadOnlyDictionary<string, LevelCosts> _levels;

    /// <summary>The area in mm² of a MAC unit completing one MAC a cycle (a unit of m MACs a cycle counts m of them).</summary>
    public double MacArea { get; }

    /// <summary>Creates tables; levels not given get <see cref="Default"/>.</summary>
    public CostTables(IReadOnlyDictionary<string, LevelCosts> levels, double macArea)
    {
        _levels = levels;
        if (!double.IsFinite(macArea) || macArea < 0) throw new ArgumentException($"The MAC area must be a non-negative number of mm², got {macArea}.", nameof(macArea));
        MacArea = macArea;
    }

    /// <summary>The default costs of a level: energies a power law anchored at the base level's capacity and energies, area linear in bits.</summary>
    public static LevelCosts Default(StorageLevel baseLevel)
    {
        double words = baseLevel.Capacity ?? throw new ArgumentException($"Level {baseLevel.Name} has no capacity (off chip): it has no cost table.", nameof(baseLevel));
        return new LevelCosts(
            CostCurve.PowerLaw(words, baseLevel.ReadEnergy, DefaultEnergyExponent),
            CostCurve.PowerLaw(words, baseLevel.WriteEnergy, DefaultEnergyExponent),
            CostCurve.PowerLaw(1, DefaultAreaPerBit * baseLevel.WordBits, 1));
    }

    /// <summary>The costs of an on-chip level: its own table when one was given, else the default anchored at the base level.</summary>
    public LevelCosts Of(StorageLevel baseLevel) => _levels.TryGetValue(baseLevel.Name, out var c) ? c : Default(baseLevel);

    /// <summary>True when the level has a table of its own.</summary>
    public bool Has(string level) => _levels.ContainsKey(level);
}
