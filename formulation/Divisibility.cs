namespace Optimizer.Formulation;

/// <summary>Whole-number helpers shared by the models and the searches.</summary>
public static class Divisibility
{
    /// <summary>The greatest common divisor of two non-negative numbers (<paramref name="a"/> when <paramref name="b"/> is 0).</summary>
    public static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
