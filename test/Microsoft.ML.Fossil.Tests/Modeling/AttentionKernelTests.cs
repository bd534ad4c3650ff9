using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Modeling;

/// <summary>
/// Every path of <see cref="AttentionKernel"/> (libtorch's fused kernel in fp32, reduced-precision inputs attending in
/// fp32 without gradients, the written-out attention with gradients in reduced precision) computes
/// softmax(q k^T / sqrt(d) + mask) v, checked against that closed form in float64 on the same (rounded) inputs, with a
/// padded row whose padding must not be attended to.
/// </summary>
public sealed class AttentionKernelTests(ITestOutputHelper output)
{
    const int Batch = 2, Length = 7, Heads = 4, HeadSize = 8, Hidden = Heads * HeadSize;

    /// <summary>q, k, v [2, 7, 32] in <paramref name="dtype"/>; the second row has 3 padding positions.</summary>
    static (Tensor Q, Tensor K, Tensor V, Tensor Mask, Tensor AttentionMask) Inputs(ScalarType dtype)
    {
        var generator = new Generator(7);
        Tensor Random() => randn(new long[] { Batch, Length, Hidden }, generator: generator).to(dtype);
        Tensor attentionMask = ones(Batch, Length, dtype: ScalarType.Int64);
        attentionMask[1, TensorIndex.Slice(Length - 3)] = 0;
        return (Random(), Random(), Random(), EncoderModel.AdditiveMask(attentionMask, dtype), attentionMask);
    }

    /// <summary>The closed form in float64 from the same (already rounded) q, k, v; padded keys get weight exactly 0.</summary>
    static Tensor Reference(Tensor q, Tensor k, Tensor v, Tensor attentionMask)
    {
        Tensor Split(Tensor t) => t.to(ScalarType.Float64).view(Batch, Length, Heads, HeadSize).transpose(1, 2);
        Tensor scores = Split(q).matmul(Split(k).transpose(-1, -2)) / Math.Sqrt(HeadSize);
        Tensor padded = attentionMask.eq(0).unsqueeze(1).unsqueeze(2);
        Tensor probabilities = scores.masked_fill(padded, double.NegativeInfinity).softmax(-1);
        return probabilities.matmul(Split(v)).transpose(1, 2).reshape(Batch, Length, Hidden);
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    // Computed in fp32 and rounded once: within half an ulp of the closed form, at most 2^-8 of |x| in bf16 and 2^-11 in fp16.
    [InlineData(ScalarType.BFloat16, 1.0 / 256)]
    [InlineData(ScalarType.Float16, 1.0 / 2048)]
    public void Inference_matches_the_closed_form_and_ignores_padding(ScalarType dtype, double relative)
    {
        using var scope = NewDisposeScope();
        var (q, k, v, mask, attentionMask) = Inputs(dtype);
        Tensor context;
        using (inference_mode())
            context = AttentionKernel.Compute(q, k, v, mask, Heads, HeadSize, attentionDropout: 0.1, training: false);
        Assert.Equal(dtype, context.dtype);
        Assert.Equal(new long[] { Batch, Length, Hidden }, context.shape);
        Tensor expected = Reference(q, k, v, attentionMask);
        Tensor error = (context.to(ScalarType.Float64) - expected).abs();
        Tensor allowed = expected.abs() * relative + 1e-6;
        double worst = (error / allowed).max().item<double>();
        output.WriteLine($"{dtype}: max |error| {error.max().item<double>():E2}, worst error / allowed {worst:F2}");
        Assert.True(worst <= 1, $"{dtype}: an element is off by {worst:F2} x the allowed {relative:E1} relative error");

        // Padding: changing the padded keys and values of row 1 changes nothing.
        Tensor k2 = k.clone(), v2 = v.clone();
        k2[1, TensorIndex.Slice(Length - 3)] = 100;
        v2[1, TensorIndex.Slice(Length - 3)] = -100;
        Tensor again;
        using (inference_mode())
            again = AttentionKernel.Compute(q, k2, v2, mask, Heads, HeadSize, attentionDropout: 0.1, training: false);
        Assert.True(again.eq(context).all().item<bool>(), $"{dtype}: padded positions changed the context");
    }

    [Fact]
    public void Bf16_with_gradients_takes_the_written_out_path_and_matches_the_closed_form()
    {
        using var scope = NewDisposeScope();
        var (q, k, v, mask, attentionMask) = Inputs(ScalarType.BFloat16);
        Tensor qg = q.requires_grad_(true);
        Tensor context = AttentionKernel.Compute(qg, k, v, mask, Heads, HeadSize, attentionDropout: 0, training: true);
        Assert.Equal(ScalarType.BFloat16, context.dtype);
        Tensor expected = Reference(q.detach(), k, v, attentionMask);
        double worst = ((context.detach().to(ScalarType.Float64) - expected).abs() / (expected.abs() * (1.0 / 32) + 1.0 / 64)).max().item<double>();
        // bf16 scores, probabilities and products each round (2^-8): a few bf16 ulps of the values (|v| ~ 1).
        Assert.True(worst <= 1, $"written-out bf16 attention is off by {worst:F2} x the allowed error");
        context.sum().backward();
        Tensor grad = qg.grad!;
        Assert.True(grad.isfinite().all().item<bool>(), "the query gradient is not finite");
    }
}
