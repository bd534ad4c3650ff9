using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Modeling;

/// <summary>
/// The fast dropout keeps torch's dropout semantics: each element kept independently with probability 1 - p (to 2^-16),
/// kept values scaled by exactly 1 / keep, dropped ones zero, gradients through the same mask, a fresh mask at every call,
/// the same masks under the same manual_seed; and attention with dropped probabilities is the attention it drops from.
/// </summary>
public sealed class FastDropoutTests(ITestOutputHelper output)
{
    public static TheoryData<ScalarType, double> Cases => new()
    {
        { ScalarType.Float32, 0.1 }, { ScalarType.BFloat16, 0.1 }, { ScalarType.Float16, 0.1 },
        { ScalarType.Float32, 0.5 }, { ScalarType.BFloat16, 0.9 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_kept_share_is_one_minus_p_and_kept_values_are_scaled_by_exactly_one_over_keep(ScalarType dtype, double p)
    {
        const long n = 1_000_003;   // not a multiple of the SIMD step or the parallel chunk: the scalar tail runs too
        manual_seed(1);
        using var scope = NewDisposeScope();
        Tensor x = (rand(n) + 0.5).to(dtype);   // no zeros of its own
        Tensor y = FastDropout.Apply(x, p, training: true);
        Assert.Equal(dtype, y.dtype);
        var (keep, scale) = FastDropout.KeepAndScale(p);
        Assert.True(Math.Abs(keep - (1 - p)) <= 0.5 / 65536, $"keep {keep} for p {p}");
        Tensor kept = y.ne(0);
        double share = kept.to(ScalarType.Float64).mean().item<double>();
        double sigma = Math.Sqrt(keep * (1 - keep) / n);
        output.WriteLine($"{dtype}, p = {p}: kept share {share:F6}, expected {keep:F6} (sigma {sigma:E1}); scale {scale:F6}");
        Assert.True(Math.Abs(share - keep) < 5 * sigma, $"kept share {share}, expected {keep} +- {5 * sigma}");
        // Kept values: x * scale computed in fp32 and rounded once to the dtype (torch's mul by a scalar).
        Tensor expected = (x.to(ScalarType.Float32) * (float)scale).to(dtype);
        Assert.True(y.index(kept).eq(expected.index(kept)).all().item<bool>(), "a kept value is not x / keep");
        // Independent draws: neighbours are both kept with probability keep^2.
        Tensor both = kept.narrow(0, 0, n - 1).logical_and(kept.narrow(0, 1, n - 1));
        double pairs = both.to(ScalarType.Float64).mean().item<double>();
        Assert.True(Math.Abs(pairs - keep * keep) < 5 * Math.Sqrt(keep * keep * (1 - keep * keep) / n) + 1e-4, $"neighbour pairs kept {pairs}, expected {keep * keep}");
        // Unbiased: the mean of y is the mean of x.
        double meanX = x.to(ScalarType.Float64).mean().item<double>(), meanY = y.to(ScalarType.Float64).mean().item<double>();
        Assert.True(Math.Abs(meanY / meanX - 1) < 10 * Math.Sqrt((1 - keep) / keep / n) + 0.003, $"mean {meanY} vs {meanX}");
    }

    [Fact]
    public void Gradients_flow_through_the_same_mask_and_scale()
    {
        manual_seed(2);
        using var scope = NewDisposeScope();
        Tensor x = randn(4096).requires_grad_(true);
        Tensor residual = randn(4096).requires_grad_(true);
        Tensor y = FastDropout.AddDropout(residual, x, 0.25, training: true);
        Tensor weights = randn(4096);
        (y * weights).sum().backward();
        double scale = FastDropout.KeepAndScale(0.25).Scale;
        Tensor kept = (y - residual).detach().ne(0);
        // d/dx = mask * scale * weights, d/dresidual = weights
        Tensor expectedX = where(kept, weights * scale, zeros_like(weights));
        Assert.True(x.grad!.allclose(expectedX, rtol: 1e-6, atol: 1e-7));
        Assert.True(residual.grad!.allclose(weights));
        Assert.True((y - residual).detach().index(kept).allclose((x * scale).detach().index(kept), rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void Every_call_draws_a_new_mask_and_manual_seed_repeats_them()
    {
        using var scope = NewDisposeScope();
        Tensor x = ones(100_000);
        manual_seed(5);
        Tensor first = FastDropout.Apply(x, 0.3, true), second = FastDropout.Apply(x, 0.3, true);
        manual_seed(5);
        Tensor again = FastDropout.Apply(x, 0.3, true);
        Assert.True(first.eq(again).all().item<bool>(), "the same seed gave another mask");
        double same = first.eq(second).to(ScalarType.Float64).mean().item<double>();
        // Two independent masks agree on keep^2 + drop^2 = 0.58 of the elements.
        Assert.InRange(same, 0.57, 0.59);
        Assert.Same(x, FastDropout.Apply(x, 0.3, training: false));
        Assert.Same(x, FastDropout.Apply(x, 0, training: true));
        Assert.True(FastDropout.Apply(x, 1, true).eq(0).all().item<bool>());
    }

    static (SelfAttention Attention, Tensor Hidden, Tensor Mask) Attention(double p)
    {
        manual_seed(3);
        EncoderConfig config = Microsoft.ML.Fossil.Tests.TinyModels.Bert(hidden: 32, heads: 4);
        config.AttentionProbsDropoutProb = p;
        var attention = new SelfAttention(config);
        Tensor hidden = randn(3, 10, 32);
        Tensor keep = ones(3, 10, dtype: ScalarType.Int64);
        keep[1, TensorIndex.Slice(7)] = tensor(0L);   // padding in row 1
        return (attention, hidden, EncoderModel.AdditiveMask(keep, ScalarType.Float32));
    }

    [Fact]
    public void Attention_written_out_for_dropout_is_the_fused_attention_when_nothing_is_dropped()
    {
        // p > 0 selects the written-out path; a p below 2^-17 rounds to keeping every element.
        var (attention, hidden, mask) = Attention(1e-9);
        using var _ = attention;
        using var scope = NewDisposeScope();
        attention.train();
        Tensor written = attention.forward(hidden, mask);
        attention.eval();
        Tensor fused = attention.forward(hidden, mask);
        double difference = (written - fused).abs().max().item<float>();
        output.WriteLine($"written-out vs fused attention: max difference {difference:E2}");
        Assert.True(difference < 1e-5, $"difference {difference}");
    }

    [Fact]
    public void Bf16_attention_written_out_for_backward_agrees_with_the_fused_kernel()
    {
        // bf16 with gradients takes the written-out path (the fused kernel's bf16 backward is slow); inference the fused one.
        var (attention, hidden, mask) = Attention(0);
        using var _ = attention;
        using var scope = NewDisposeScope();
        attention.to(ScalarType.BFloat16);
        attention.eval();
        Tensor input = hidden.to(ScalarType.BFloat16), bfMask = mask.to(ScalarType.BFloat16);
        Tensor fused;
        using (inference_mode()) fused = attention.forward(input, bfMask).clone();
        Tensor written = attention.forward(input.requires_grad_(true), bfMask);
        written.sum().backward();
        double difference = ((written.detach().to(ScalarType.Float32) - fused.to(ScalarType.Float32)).norm() / fused.to(ScalarType.Float32).norm()).item<float>();
        output.WriteLine($"bf16 attention: written-out vs fused relative L2 difference {difference:E2}");
        Assert.True(difference < 2e-2, $"difference {difference}");
        Assert.True(input.grad!.isfinite().all().item<bool>());
    }

    [Fact]
    public void Attention_with_dropped_probabilities_averages_to_the_attention_without_dropout()
    {
        var (attention, hidden, mask) = Attention(0.5);
        using var _ = attention;
        using var scope = NewDisposeScope();
        attention.eval();
        Tensor reference = attention.forward(hidden, mask);
        attention.train();
        const int draws = 400;
        Tensor sum = zeros_like(reference);
        Tensor first = attention.forward(hidden, mask);
        sum.add_(first);
        for (int i = 1; i < draws; i++)
        {
            using var step = NewDisposeScope();
            sum.add_(attention.forward(hidden, mask));
        }
        Tensor mean = sum / draws;
        double single = ((first - reference).norm() / reference.norm()).item<float>();
        double averaged = ((mean - reference).norm() / reference.norm()).item<float>();
        output.WriteLine($"one draw differs from no dropout by {single:F3} (relative L2), the mean of {draws} by {averaged:F4}");
        Assert.True(single > 0.1, "dropout changed nothing");
        Assert.True(averaged < single / 8, $"mean of {draws} draws: {averaged}, one draw {single}");
    }
}
