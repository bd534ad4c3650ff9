using Microsoft.ML.Fossil.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Adapters;

/// <summary>FOSSIL layer math against closed forms built independently, element by element, in float64.</summary>
public class FossilLinearTests
{
    static Linear RandomLinear(long inFeatures, long outFeatures, int seed)
    {
        manual_seed(seed);
        var linear = nn.Linear(inFeatures, outFeatures);
        using (no_grad()) linear.bias!.uniform_(-0.5, 0.5);
        return linear;
    }

    static double[,] ToMatrix(Tensor t)
    {
        using Tensor cpu = t.detach().to(ScalarType.Float64).cpu().contiguous();
        double[] flat = cpu.data<double>().ToArray();
        long rows = t.shape[0], cols = t.shape[1];
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) m[i, j] = flat[i * cols + j];
        return m;
    }

    /// <summary>The closed-form dW, one element at a time, from the shard as stored.</summary>
    static double[,] ClosedFormDelta(FossilLinear layer, double[,] w)
    {
        int outF = (int)layer.OutFeatures, inF = (int)layer.InFeatures, r = layer.Rank;
        using Tensor shardCpu = layer.Shard.detach().to(ScalarType.Float64).cpu().contiguous();
        double[] s = shardCpu.data<double>().ToArray();
        var dw = new double[outF, inF];
        switch (layer.Variant)
        {
            case FossilVariant.Default:
                // dW[o, j*r + b] = D[b, o]; D is [r, out]
                for (int o = 0; o < outF; o++)
                    for (int i = 0; i < inF; i++) dw[o, i] = s[(i % r) * outF + o];
                break;
            case FossilVariant.Mini:
                // D [r, mini_r] tiled along out: column o uses D[:, o % mini_r]
                int mini = layer.MiniRank;
                for (int o = 0; o < outF; o++)
                    for (int i = 0; i < inF; i++) dw[o, i] = s[(i % r) * mini + (o % mini)];
                break;
            case FossilVariant.Bat:
                // B [out/r, r, r]; block (bi, bj): dW = W_block @ B_bi + B_bi
                for (int bi = 0; bi < outF / r; bi++)
                    for (int bj = 0; bj < inF / r; bj++)
                        for (int a = 0; a < r; a++)
                            for (int c = 0; c < r; c++)
                            {
                                double sum = s[(bi * r + a) * r + c];
                                for (int m = 0; m < r; m++) sum += w[bi * r + a, bj * r + m] * s[(bi * r + m) * r + c];
                                dw[bi * r + a, bj * r + c] = sum;
                            }
                break;
        }
        return dw;
    }

    /// <summary>y = x (W + dW)^T + b in float64 loops.</summary>
    static double[,] Reference(double[,] x, double[,] w, double[,] dw, double[] bias)
    {
        int n = x.GetLength(0), inF = x.GetLength(1), outF = w.GetLength(0);
        var y = new double[n, outF];
        for (int row = 0; row < n; row++)
            for (int o = 0; o < outF; o++)
            {
                double sum = bias[o];
                for (int i = 0; i < inF; i++) sum += x[row, i] * (w[o, i] + dw[o, i]);
                y[row, o] = sum;
            }
        return y;
    }

    static double MaxAbsDiff(double[,] a, Tensor b)
    {
        double[,] bm = ToMatrix(b);
        double max = 0;
        for (int i = 0; i < a.GetLength(0); i++)
            for (int j = 0; j < a.GetLength(1); j++) max = Math.Max(max, Math.Abs(a[i, j] - bm[i, j]));
        return max;
    }

    public static TheoryData<FossilVariant, int, int, int, int> Shapes => new()
    {
        // variant, in, out, r, mini_r
        { FossilVariant.Default, 48, 40, 8, 1 },   // in % r == 0
        { FossilVariant.Default, 50, 40, 8, 1 },   // in % r != 0: padding, partial last block
        { FossilVariant.Default, 30, 20, 7, 1 },   // odd rank, partial block
        { FossilVariant.Mini, 48, 40, 8, 4 },
        { FossilVariant.Mini, 50, 36, 8, 3 },      // in % r != 0
        { FossilVariant.Bat, 48, 40, 8, 1 },
        { FossilVariant.Bat, 32, 64, 16, 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_equals_x_times_W_plus_closed_form_delta(FossilVariant variant, int inF, int outF, int r, int mini)
    {
        var layer = new FossilLinear(RandomLinear(inF, outF, 11), r, variant, mini, zeroInit: false);
        layer.eval();
        manual_seed(5);
        using Tensor x = randn(6, inF);
        double[,] w = ToMatrix(layer.BaseLayer.weight!);
        double[] bias = layer.BaseLayer.bias!.detach().to(ScalarType.Float64).data<double>().ToArray();
        double[,] dw = ClosedFormDelta(layer, w);
        double[,] expected = Reference(ToMatrix(x), w, dw, bias);

        using Tensor y = layer.forward(x);
        Assert.True(MaxAbsDiff(expected, y) < 1e-5, $"forward differs from the closed form by {MaxAbsDiff(expected, y)}");

        // The adapter really contributes: the base layer alone is far from the adapted output.
        using Tensor baseOnly = layer.BaseLayer.forward(x);
        Assert.True(MaxAbsDiff(expected, baseOnly) > 1e-2);

        // DeltaWeight() is the same closed form.
        using Tensor delta = layer.DeltaWeight();
        Assert.True(MaxAbsDiff(dw, delta) < 1e-5, $"delta weight differs by {MaxAbsDiff(dw, delta)}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Gradients_of_input_and_shard_equal_the_closed_form(FossilVariant variant, int inF, int outF, int r, int mini)
    {
        var layer = new FossilLinear(RandomLinear(inF, outF, 13), r, variant, mini, zeroInit: false);
        layer.train();
        layer.BaseLayer.weight!.requires_grad = false;
        layer.BaseLayer.bias!.requires_grad = false;
        manual_seed(6);
        // [2, 3, in]: the layer sees a batch of sequences, as in the encoder.
        using Tensor x = randn(2, 3, inF).requires_grad_(true);
        using Tensor g = randn(2, 3, outF);
        using Tensor loss = (layer.forward(x) * g).sum();
        loss.backward();

        double[,] xs = ToMatrix(x.detach().reshape(6, inF)), gs = ToMatrix(g.reshape(6, outF));
        double[,] w = ToMatrix(layer.BaseLayer.weight!);
        double[,] dw = ClosedFormDelta(layer, w);
        // dL/dx[n, i] = sum_o g[n, o] (W + dW)[o, i]
        var gradX = new double[6, inF];
        for (int n = 0; n < 6; n++)
            for (int i = 0; i < inF; i++)
            {
                double sum = 0;
                for (int o = 0; o < outF; o++) sum += gs[n, o] * (w[o, i] + dw[o, i]);
                gradX[n, i] = sum;
            }
        Assert.True(MaxAbsDiff(gradX, x.grad!.reshape(6, inF)) < 1e-4, $"input gradient differs by {MaxAbsDiff(gradX, x.grad!.reshape(6, inF))}");

        if (variant == FossilVariant.Bat) return; // bat's shard gradient runs through W; its forward and x-gradient are checked above
        // dL/dD[b, c] = sum over the (o, i) that D[b, c] fills in dW of sum_n g[n, o] x[n, i]
        int columns = variant == FossilVariant.Mini ? mini : outF;
        var gradD = new double[r, columns];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
            {
                double sum = 0;
                for (int n = 0; n < 6; n++) sum += gs[n, o] * xs[n, i];
                gradD[i % r, o % columns] += sum;
            }
        Assert.True(MaxAbsDiff(gradD, layer.Shard.grad!) < 1e-4, $"shard gradient differs by {MaxAbsDiff(gradD, layer.Shard.grad!)}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Merge_gives_the_same_outputs_and_never_writes_W(FossilVariant variant, int inF, int outF, int r, int mini)
    {
        var layer = new FossilLinear(RandomLinear(inF, outF, 3), r, variant, mini, zeroInit: false);
        layer.eval();
        manual_seed(9);
        using Tensor x = randn(5, 3, inF);   // 3-D input: leading dims are kept
        using Tensor original = layer.BaseLayer.weight!.detach().clone();
        using Tensor unmergedOutput = layer.forward(x);

        layer.Merge();
        Assert.True(layer.Merged);
        using Tensor mergedOutput = layer.forward(x);
        double mergeDiff = (mergedOutput - unmergedOutput).abs().max().item<float>();
        Assert.True(mergeDiff < 1e-5, $"merged output differs by {mergeDiff}");
        // The merged weight is the layer's own tensor: W itself (maybe shared, maybe mapped from a file) is never written.
        Assert.True(layer.BaseLayer.weight!.eq(original).all().item<bool>(), "merging wrote the base weight");

        layer.Unmerge();
        Assert.False(layer.Merged);
        Assert.True(layer.BaseLayer.weight!.eq(original).all().item<bool>(), "unmerging changed the base weight");
        using Tensor afterUnmerge = layer.forward(x);
        Assert.True(afterUnmerge.eq(unmergedOutput).all().item<bool>(), "after unmerging, the layer computes exactly what it did before merging");
    }

    [Fact]
    public void Zero_init_starts_exactly_at_the_base_layer()
    {
        foreach (FossilVariant variant in Enum.GetValues<FossilVariant>())
        {
            var layer = new FossilLinear(RandomLinear(32, 32, 1), 8, variant, miniRank: 4);
            Assert.Equal(0f, layer.Shard.abs().sum().item<float>());
            using Tensor x = randn(4, 32);
            using Tensor adapted = layer.forward(x);
            using Tensor plain = layer.BaseLayer.forward(x);
            Assert.True(adapted.eq(plain).all().item<bool>(), $"{variant}: zero-initialised FOSSIL must equal the base layer bit for bit");
        }
    }

    [Fact]
    public void Shard_shapes_follow_the_variant()
    {
        Assert.Equal([8L, 40], new FossilLinear(RandomLinear(48, 40, 1), 8).Shard.shape);
        Assert.Equal([8L, 4], new FossilLinear(RandomLinear(48, 40, 1), 8, FossilVariant.Mini, 4).Shard.shape);
        Assert.Equal([5L, 8, 8], new FossilLinear(RandomLinear(48, 40, 1), 8, FossilVariant.Bat).Shard.shape);
    }

    [Fact]
    public void Invalid_shapes_are_rejected_with_the_layer_named()
    {
        var mini = Assert.Throws<ArgumentException>(() => new FossilLinear(RandomLinear(48, 40, 1), 8, FossilVariant.Mini, 3, layerName: "enc.q"));
        Assert.Contains("enc.q", mini.Message);
        Assert.Contains("40", mini.Message);
        var bat = Assert.Throws<ArgumentException>(() => new FossilLinear(RandomLinear(50, 40, 1), 8, FossilVariant.Bat, layerName: "enc.v"));
        Assert.Contains("enc.v", bat.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FossilLinear(RandomLinear(48, 40, 1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FossilLinear(RandomLinear(48, 40, 1), -2));
        var tooLarge = Assert.Throws<ArgumentOutOfRangeException>(() => new FossilLinear(RandomLinear(48, 40, 1), 64));
        Assert.Contains("48", tooLarge.Message);
    }

    [Fact]
    public void Fossil_equals_the_lora_layer_built_from_A_indicator_and_B_shard_transposed()
    {
        foreach (int inF in new[] { 48, 50 })
        {
            const int outF = 40, r = 8;
            Linear baseLinear = RandomLinear(inF, outF, 21);
            var fossil = new FossilLinear(baseLinear, r, zeroInit: false);
            // LoRA rank r with scaling alpha / r = 1, on an identical copy of the base layer.
            Linear copy = RandomLinear(inF, outF, 21);
            var lora = new LoraLinear(copy, r, alpha: r);
            using (no_grad())
            {
                // A[j, i] = 1 if i % r == j (the chunk-sum as a matrix), B = D^T.
                var indicator = new float[r * inF];
                for (int i = 0; i < inF; i++) indicator[(i % r) * inF + i] = 1f;
                lora.A.copy_(tensor(indicator, [r, inF]));
                lora.B.copy_(fossil.Shard.t());
            }
            fossil.eval();
            lora.eval();
            manual_seed(2);
            using Tensor x = randn(7, inF);
            using Tensor a = fossil.forward(x);
            using Tensor b = lora.forward(x);
            double diff = (a - b).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"in={inF}: FOSSIL and its LoRA form differ by {diff}");
            using Tensor da = fossil.DeltaWeight();
            using Tensor db = lora.DeltaWeight();
            Assert.True((da - db).abs().max().item<float>() < 1e-6);
        }
    }

    [Fact]
    public void Dropout_acts_on_the_adapter_input_in_training_only()
    {
        var layer = new FossilLinear(RandomLinear(32, 16, 4), 8, dropout: 0.5, zeroInit: false);
        manual_seed(1);
        using Tensor x = randn(64, 32);
        layer.eval();
        using Tensor evalOut = layer.forward(x);
        using Tensor evalAgain = layer.forward(x);
        Assert.True(evalOut.eq(evalAgain).all().item<bool>());

        layer.train();
        using Tensor trainOut = layer.forward(x);
        Assert.False(trainOut.allclose(evalOut), "dropout must change the adapter branch in training");
        // The base branch is untouched by dropout: with the shard zeroed, training equals the base layer.
        using (no_grad()) layer.Shard.zero_();
        using Tensor zeroShard = layer.forward(x);
        using Tensor plain = layer.BaseLayer.forward(x);
        Assert.True(zeroShard.allclose(plain, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void Disabling_the_adapter_gives_the_base_layer_and_unmerges()
    {
        var layer = new FossilLinear(RandomLinear(24, 24, 8), 6, zeroInit: false);
        layer.eval();
        using Tensor x = randn(3, 24);
        using Tensor original = layer.BaseLayer.weight!.detach().clone();
        using Tensor plain = layer.BaseLayer.forward(x);
        layer.Merge();
        layer.AdapterEnabled = false;
        Assert.False(layer.Merged);
        Assert.True(layer.BaseLayer.weight!.eq(original).all().item<bool>());
        using Tensor disabled = layer.forward(x);
        Assert.True(disabled.allclose(plain, rtol: 0, atol: 1e-5));
        layer.AdapterEnabled = true;
        using Tensor enabled = layer.forward(x);
        Assert.False(enabled.allclose(plain, rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void Half_precision_weights_keep_the_input_dtype_and_match_fp32()
    {
        foreach (FossilVariant variant in new[] { FossilVariant.Default, FossilVariant.Bat })
        {
            var reference = new FossilLinear(RandomLinear(32, 32, 6), 8, variant, zeroInit: false);
            var half = new FossilLinear(RandomLinear(32, 32, 6), 8, variant, zeroInit: false);
            using (no_grad()) half.Shard.copy_(reference.Shard);
            half.to(ScalarType.BFloat16);
            reference.eval();
            half.eval();
            using Tensor x = randn(4, 32);
            using Tensor expected = reference.forward(x);
            using Tensor got = half.forward(x.to(ScalarType.BFloat16));
            Assert.Equal(ScalarType.BFloat16, got.dtype);
            double diff = (got.to(ScalarType.Float32) - expected).abs().max().item<float>();
            Assert.True(diff < 0.1, $"{variant}: bf16 output off by {diff}");
        }
    }
}
