using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// Dropout with the semantics of torch's (every element kept independently with probability 1 - p, kept values scaled
/// by 1 / (1 - p), a new mask at every call, reproducible under <c>manual_seed</c>), but with the mask drawn fast.
/// libtorch draws a CPU mask one element at a time from one Mersenne Twister, on one thread (its parallel MKL path is
/// taken on Intel CPUs only): on a 32 x 128 MiniLM batch that was about half of the forward pass. Here the mask is
/// counter-based: element group i takes SplitMix64(seed + i * golden gamma) (SplitMix64's own output sequence), each
/// 64-bit output giving four 16-bit draws, computed with SIMD on every core; the seed is drawn from torch's generator,
/// so <c>manual_seed</c> still fixes every mask. Keep probabilities are multiples of 2^-16 (p = 0.1 keeps 58982 / 65536
/// = 0.899994), and the scale is the exact inverse of the keep probability, so the expectation is unbiased.
/// On CUDA the mask comes from torch's own (parallel) generator.
/// </summary>
internal static class FastDropout
{
    const double Draws = 65536;
    const ulong Gamma = 0x9E3779B97F4A7C15UL;

    /// <summary>The 16-bit threshold for <paramref name="p"/>: a draw below it drops the element.</summary>
    internal static int Threshold(double p) => (int)Math.Round(p * Draws);

    /// <summary>The keep probability actually used for <paramref name="p"/>, and the scale 1 / keep.</summary>
    public static (double Keep, double Scale) KeepAndScale(double p)
    {
        double keep = (Draws - Threshold(p)) / Draws;
        return (keep, 1 / keep);
    }

    /// <summary>Dropout of <paramref name="x"/> with probability <paramref name="p"/> when <paramref name="training"/>; else <paramref name="x"/>.</summary>
    public static Tensor Apply(Tensor x, double p, bool training)
    {
        if (!training || p <= 0) return x;
        if (p >= 1) return zeros_like(x);
        using var scope = NewDisposeScope();
        Tensor mask = KeepMask(x.shape, p, x.dtype, x.device);
        // The scale as a scalar of an out-of-place mul, which applies it in fp32 and rounds once (an in-place mul_, like a
        // bf16 mask holding 1 / keep, rounds the scale itself to bf16 first: torch's own bf16 dropout keeps x * 1.109375
        // for p = 0.1, 0.16 % low); then the 0/1 mask in place, which is exact.
        return x.mul(KeepAndScale(p).Scale).mul_(mask).MoveToOuterDisposeScope();
    }

    /// <summary><paramref name="residual"/> + dropout(<paramref name="x"/>) in one fused pass (addcmul), or the plain sum when not training.</summary>
    public static Tensor AddDropout(Tensor residual, Tensor x, double p, bool training)
    {
        if (!training || p <= 0) return x + residual;
        if (p >= 1) return residual.clone();
        using var scope = NewDisposeScope();
        Tensor mask = KeepMask(x.shape, p, x.dtype, x.device);
        return residual.addcmul(x, mask, KeepAndScale(p).Scale).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A mask of <paramref name="shape"/> in <paramref name="dtype"/>: 1 where an element is kept (probability
    /// <see cref="KeepAndScale"/>.Keep), 0 where it is dropped. Not scaled: callers fold 1 / keep in where it is cheapest.
    /// </summary>
    public static Tensor KeepMask(long[] shape, double p, ScalarType dtype, Device device)
    {
        if (device.type != DeviceType.CPU) return empty(shape, dtype, device).bernoulli_(KeepAndScale(p).Keep);
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            return KeepMask(shape, p, ScalarType.Float32, device).to(dtype);
        // The seed comes from torch's generator: manual_seed fixes it, and each call advances it.
        long seed;
        using (Tensor draw = randint(0, int.MaxValue, [2], dtype: ScalarType.Int64))
        {
            long[] parts = draw.data<long>().ToArray();
            seed = (parts[0] << 31) ^ parts[1];
        }
        Tensor mask = empty(shape, dtype);
        Fill(mask, (ulong)seed, (ushort)Threshold(p));
        return mask;
    }

    /// <summary>Elements per parallel chunk (a multiple of 16, the SIMD step).</summary>
    const long Chunk = 1 << 16;

    static unsafe void Fill(Tensor mask, ulong seed, ushort threshold)
    {
        long count = mask.NumberOfElements;
        if (count == 0) return;
        bool wide = mask.dtype == ScalarType.Float32;
        // The bits of 1.0 in the mask's dtype.
        uint one = mask.dtype switch { ScalarType.Float32 => 0x3F800000u, ScalarType.BFloat16 => 0x3F80u, _ => 0x3C00u };
        fixed (byte* start = mask.bytes)
        {
            nint address = (nint)start;
            long chunks = (count + Chunk - 1) / Chunk;
            if (chunks == 1)
            {
                FillRange(address, 0, count, seed, threshold, wide, one);
                return;
            }
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) }, c =>
            {
                long first = c * Chunk;
                FillRange(address, first, Math.Min(Chunk, count - first), seed, threshold, wide, one);
            });
        }
    }

    /// <summary>Elements [first, first + length) of the mask; first is a multiple of 4 (one 64-bit draw per 4 elements).</summary>
    static unsafe void FillRange(nint address, long first, long length, ulong seed, ushort threshold, bool wide, uint one)
    {
        long i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var lanes = Vector256.Create(0UL, 1, 2, 3);
            var gamma = Vector256.Create(Gamma);
            var limit = Vector256.Create(threshold);
            for (; i + 16 <= length; i += 16)
            {
                ulong group = (ulong)(first + i) / 4;
                Vector256<ulong> z = Vector256.Create(seed) + (Vector256.Create(group + 1) + lanes) * gamma;
                Vector256<ushort> draws = Mix(z).AsUInt16();
                Vector256<ushort> keep = Vector256.GreaterThanOrEqual(draws, limit);   // 0xFFFF where kept
                if (wide)
                {
                    // Sign-extending widen: 0xFFFF becomes 0xFFFFFFFF.
                    var (low, high) = Vector256.Widen(keep.AsInt16());
                    var bits = Vector256.Create((int)one);
                    float* f = (float*)address + first + i;
                    Vector256.Store((low & bits).AsSingle(), f);
                    Vector256.Store((high & bits).AsSingle(), f + 8);
                }
                else
                {
                    Vector256.Store(keep & Vector256.Create((ushort)one), (ushort*)address + first + i);
                }
            }
        }
        for (; i < length; i++)
        {
            long index = first + i;
            ulong z = seed + ((ulong)index / 4 + 1) * Gamma;
            ushort draw = (ushort)(Mix(z) >> (int)(16 * (index % 4)));
            uint value = draw >= threshold ? one : 0u;
            if (wide) ((uint*)address)[index] = value;
            else ((ushort*)address)[index] = (ushort)value;
        }
    }

    /// <summary>SplitMix64's output function.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<ulong> Mix(Vector256<ulong> z)
    {
        z = (z ^ Vector256.ShiftRightLogical(z, 30)) * Vector256.Create(0xBF58476D1CE4E5B9UL);
        z = (z ^ Vector256.ShiftRightLogical(z, 27)) * Vector256.Create(0x94D049BB133111EBUL);
        return z ^ Vector256.ShiftRightLogical(z, 31);
    }
}
