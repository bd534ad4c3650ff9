using Microsoft.ML.Fossil.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Adapters;

/// <summary>The LoRA baseline against its definition.</summary>
public class LoraLinearTests
{
    static Linear RandomLinear(long inFeatures, long outFeatures, int seed)
    {
        manual_seed(seed);
        return nn.Linear(inFeatures, outFeatures);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_is_base_plus_scaled_BA_and_merge_is_exact(bool rsLora)
    {
        var layer = new LoraLinear(RandomLinear(40, 24, 1), rank: 4, alpha: 16, useRsLora: rsLora, zeroInit: false);
        layer.eval();
        double scaling = rsLora ? 16 / Math.Sqrt(4) : 16 / 4.0;
        Assert.Equal(scaling, layer.Scaling, 12);
        using Tensor x = randn(5, 40, dtype: ScalarType.Float64).to(ScalarType.Float32);
        // Independent float64 reference: x W^T + b + scaling * x A^T B^T.
        using Tensor x64 = x.to(ScalarType.Float64);
        using Tensor expected = x64.matmul(layer.BaseLayer.weight!.detach().to(ScalarType.Float64).t())
                                + layer.BaseLayer.bias!.detach().to(ScalarType.Float64)
                                + x64.matmul(layer.A.detach().to(ScalarType.Float64).t()).matmul(layer.B.detach().to(ScalarType.Float64).t()) * scaling;
        using Tensor y = layer.forward(x);
        Assert.True((y.to(ScalarType.Float64) - expected).abs().max().item<double>() < 1e-4);

        using Tensor original = layer.BaseLayer.weight!.detach().clone();
        layer.Merge();
        using Tensor merged = layer.forward(x);
        Assert.True((merged - y).abs().max().item<float>() < 1e-5);
        Assert.True(layer.BaseLayer.weight!.eq(original).all().item<bool>(), "merging wrote the base weight");
        layer.Unmerge();
        Assert.True(layer.BaseLayer.weight!.eq(original).all().item<bool>());
    }

    [Fact]
    public void Default_init_starts_at_the_base_layer_with_a_nonzero_A()
    {
        var layer = new LoraLinear(RandomLinear(16, 16, 2), rank: 4);
        Assert.Equal(0f, layer.B.abs().sum().item<float>());
        Assert.True(layer.A.abs().sum().item<float>() > 0);
        using Tensor x = randn(3, 16);
        using Tensor a = layer.forward(x);
        using Tensor b = layer.BaseLayer.forward(x);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.Equal([4L, 16], layer.A.shape);
        Assert.Equal([16L, 4], layer.B.shape);
    }

    [Fact]
    public void Rank_larger_than_the_layer_is_rejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LoraLinear(RandomLinear(16, 8, 2), rank: 9, layerName: "x.value"));
        Assert.Contains("x.value", e.Message);
    }
}
