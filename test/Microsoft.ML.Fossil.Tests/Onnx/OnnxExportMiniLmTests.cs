using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tests.Checkpoints;
using Microsoft.ML.Fossil.Tokenization;
using Onnx;
using Xunit.Abstractions;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxTestSupport;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// The real all-MiniLM-L6-v2 with non-zero adapters merged and a trained-looking head, exported to
/// ONNX and scored by ONNX Runtime, against the TorchSharp network (float32, evaluation mode).
/// </summary>
public sealed class OnnxExportMiniLmTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Exported float32 logits must match TorchSharp's to this absolute difference.</summary>
    const float Fp32Tolerance = 1e-4f;

    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    static readonly string[] Sentences =
    [
        "Best coffee ever!",
        "The tea arrived stale and the box was crushed; I would not order it again.",
        "ok",
        "These dog treats are the only ones my picky beagle eats, and they don't upset his stomach at all. Highly recommended for sensitive dogs.",
    ];

    static readonly (string, string)[] Pairs =
    [
        ("A man is playing a guitar.", "Someone plays an instrument."),
        ("The cat sat on the mat.", "A dog is barking loudly at the mailman outside the house."),
        ("Is it good?", "Yes."),
    ];

    static (SequenceClassifier Network, TextTokenizer Encoder) Build(AdapterOptions adapter, int labels, HeadKind head, long seed, double adapterScale)
    {
        LoadedBackbone backbone = BackboneSource.MiniLM().Load();
        var network = new SequenceClassifier(backbone.Encoder, labels, head);
        AdapterInjector.Apply(network, adapter);
        Perturb(network, seed, adapterScale);
        return (network, backbone.CreateTokenizer(128));
    }

    /// <summary>Batch 1 (each row alone) and the ragged batch (padded to the longest) against TorchSharp.</summary>
    float CompareFp32(SequenceClassifier network, OnnxRuntimeNetwork onnx, Collated batch, string what)
    {
        int labels = network.NumLabels;
        float[] expected = TorchLogits(network, batch);
        float[] actual = onnx.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length);
        float worst = MaxAbsDiff(expected, actual);
        Assert.True(worst <= Fp32Tolerance, $"{what}, ragged batch of {batch.Batch}: max |ONNX - TorchSharp| = {worst:G3} > {Fp32Tolerance}");
        for (int row = 0; row < batch.Batch; row++)
        {
            Collated single = Row(batch, row);
            float[] alone = onnx.Score(single.Ids, single.Mask, single.Types, 1, single.Length);
            float diff = MaxAbsDiff(TorchLogits(network, single), alone);
            Assert.True(diff <= Fp32Tolerance, $"{what}, row {row} alone: max |ONNX - TorchSharp| = {diff:G3}");
            // The padded row inside the batch scores as the row alone.
            float padded = MaxAbsDiff(expected.AsSpan(row * labels, labels).ToArray(), alone);
            Assert.True(padded <= Fp32Tolerance, $"{what}, row {row}: padded in the batch vs alone differ by {padded:G3}");
            worst = Math.Max(worst, diff);
        }
        output.WriteLine($"{what}: max |ONNX fp32 - TorchSharp| = {worst:G3} over {batch.Batch} rows (labels {labels})");
        return worst;
    }

    [Fact]
    public void Fossil_default_all_linear_mean_pooling_matches_TorchSharp_and_int8_stays_close()
    {
        var adapter = new AdapterOptions { Kind = AdapterKind.Fossil, Rank = 64, TargetModules = [AdapterOptions.AllLinear] };
        var (network, encoder) = Build(adapter, labels: 3, HeadKind.MeanPooling, seed: 11, adapterScale: 0.01);
        using var _ = network;
        Dictionary<string, float[]> before = network.state_dict().ToDictionary(p => p.Key, p => p.Value.data<float>().ToArray());

        Collated singles = Collate(Sentences.Select(s => encoder.Encode(s)).ToList(), encoder.PadTokenId);
        AdapterInjector.SetAdaptersEnabled(network, false);
        float[] withoutAdapters = TorchLogits(network, singles);
        AdapterInjector.SetAdaptersEnabled(network, true);

        string fp32Path = folder.File("fossil.onnx"), int8Path = folder.File("fossil-int8.onnx");
        ExportTo(network, fp32Path);
        ExportTo(network, int8Path, int8: true);

        // Export leaves the network as it was: adapters unmerged, every tensor bit-identical.
        Assert.All(AdapterInjector.AdaptedLayers(network), l => Assert.False(l.Layer.Merged));
        foreach (var (name, tensor) in network.state_dict())
            Assert.True(before[name].AsSpan().SequenceEqual(tensor.data<float>().ToArray()), $"export changed {name}");

        Collated pairs = Collate(Pairs.Select(p => encoder.Encode(p.Item1, p.Item2)).ToList(), encoder.PadTokenId);
        Assert.Contains(1L, pairs.Types);   // pairs really carry segment 1

        using (var onnx = OnnxRuntimeNetwork.Load(fp32Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, ExpectedLabels = 3 }))
        {
            Assert.True(onnx.UsesTokenTypeIds);
            Assert.Equal(6, onnx.FusedAttentionLayers);   // every layer's attention runs as ONNX Runtime's Attention kernel
            CompareFp32(network, onnx, singles, "FOSSIL default, singles");
            CompareFp32(network, onnx, pairs, "FOSSIL default, pairs");
            // The fused session and the graph as written (17 nodes per attention) agree on a padded, ragged batch.
            using var unfused = OnnxRuntimeNetwork.Load(fp32Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, FuseAttention = false });
            Assert.Equal(0, unfused.FusedAttentionLayers);
            foreach (Collated batch in new[] { singles, pairs })
            {
                float fusion = MaxAbsDiff(unfused.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length),
                                          onnx.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length));
                output.WriteLine($"{batch.Batch} rows: max |fused - unfused| = {fusion:G3}");
                Assert.True(fusion <= 1e-5f, $"fusing the attention moved the logits by {fusion:G3}");
            }
            // The adapters matter: without them the logits are far off, so a dropped merge would show.
            float[] exported = onnx.Score(singles.Ids, singles.Mask, singles.Types, singles.Batch, singles.Length);
            Assert.True(MaxAbsDiff(withoutAdapters, exported) > 100 * Fp32Tolerance, $"adapters change the logits by only {MaxAbsDiff(withoutAdapters, exported):G3}");
        }

        using var int8 = OnnxRuntimeNetwork.Load(int8Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2 });
        Assert.Equal("int8_dynamic", int8.Metadata[OnnxClassifierContract.WeightsKey]);
        foreach (Collated batch in new[] { singles, pairs })
        {
            float[] expected = TorchLogits(network, batch);
            float[] actual = int8.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length);
            float max = MaxAbsDiff(expected, actual), mean = MeanAbsDiff(expected, actual), range = expected.Max() - expected.Min();
            output.WriteLine($"int8, {batch.Batch} rows: max |ONNX int8 - TorchSharp| = {max:G3}, mean {mean:G3} (logit range {range:G3}); " +
                             $"argmax {string.Join(",", Argmax(actual, 3))} vs TorchSharp {string.Join(",", Argmax(expected, 3))}");
            // Dynamic int8 rounds every linear layer's input (per tensor) and weight (per column): close, not
            // equal. Measured with these random adapters and head: max 0.05-0.13 and mean 0.025-0.045 of the
            // logit range (a trained MiniLM: max 0.10, mean 0.011); a wrong scale or layout is off by the whole range.
            Assert.True(max <= 0.25f * range, $"int8 max difference {max:G3} > 0.25 x range {range:G3}");
            Assert.True(mean <= 0.08f * range, $"int8 mean difference {mean:G3} > 0.08 x range {range:G3}");
        }

        // What ONNX Runtime runs after its optimisations (pinned for ONNX Runtime 1.31.1).
        Dictionary<string, int> fp32Ops = OptimizedOps(fp32Path), int8Ops = OptimizedOps(int8Path);
        output.WriteLine($"ORT-optimised fp32 graph: {Describe(fp32Ops)}");
        output.WriteLine($"ORT-optimised int8 graph: {Describe(int8Ops)}");
        Assert.Equal(6, fp32Ops.GetValueOrDefault("com.microsoft:BiasGelu"));   // the Erf GELU + its bias, fused
        Assert.False(fp32Ops.ContainsKey("Erf"));
        // OnnxAttentionFusion: one Attention per layer, nothing left of the written-out attention.
        Assert.Equal(6, fp32Ops.GetValueOrDefault("com.microsoft:Attention"));
        Assert.False(fp32Ops.ContainsKey("Softmax"));
        Assert.False(fp32Ops.ContainsKey("Transpose"));
        // Without it, ONNX Runtime 1.31.1 fuses none of them in this opset-17 graph.
        Dictionary<string, int> unfusedOps = OptimizedOps(fp32Path, fuseAttention: false);
        Assert.False(unfusedOps.ContainsKey("com.microsoft:Attention"));
        Assert.Equal(6, unfusedOps.GetValueOrDefault("Softmax"));
        // The runner leaves out SkipLayerNormFusion (slower here, see OnnxRuntimeNetworkOptions.DisabledOptimizers);
        // with it, every LayerNormalization and its residual Add would become SkipLayerNormalization.
        Assert.Equal(13, fp32Ops.GetValueOrDefault("LayerNormalization"));
        Assert.False(fp32Ops.ContainsKey("com.microsoft:SkipLayerNormalization"));
        Dictionary<string, int> withSkip = OptimizedOps(fp32Path, disabledOptimizers: []);
        Assert.Equal(13, withSkip.GetValueOrDefault("com.microsoft:SkipLayerNormalization"));
        // Every encoder linear layer (6 x 6) runs on an integer kernel; none is left as MatMulInteger + Cast + Mul.
        Assert.Equal(36, int8Ops.GetValueOrDefault("com.microsoft:DynamicQuantizeMatMul") + int8Ops.GetValueOrDefault("com.microsoft:MatMulIntegerToFloat"));
        Assert.False(int8Ops.ContainsKey("MatMulInteger"));
        // The int8 layers' projections are integer kernels: their attention (after the projections) is MultiHeadAttention.
        Assert.Equal(6, int8.FusedAttentionLayers);
        Assert.Equal(6, int8Ops.GetValueOrDefault("com.microsoft:MultiHeadAttention"));
        Assert.False(int8Ops.ContainsKey("com.microsoft:Attention"));
        Assert.False(int8Ops.ContainsKey("Softmax"));
        // ... and scores as the graph written out (ragged, padded batch).
        using (var int8Unfused = OnnxRuntimeNetwork.Load(int8Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, FuseAttention = false }))
        {
            float fusion = MaxAbsDiff(int8Unfused.Score(pairs.Ids, pairs.Mask, pairs.Types, pairs.Batch, pairs.Length),
                                      int8.Score(pairs.Ids, pairs.Mask, pairs.Types, pairs.Batch, pairs.Length));
            output.WriteLine($"int8: max |fused - unfused| = {fusion:G3}");
            Assert.True(fusion <= 1e-5f, $"fusing the int8 graph's attention moved the logits by {fusion:G3}");
        }
        Assert.Equal(6, OptimizedOps(int8Path, fuseAttention: false).GetValueOrDefault("Softmax"));
    }

    [Fact]
    public void Fossil_bat_with_the_bert_pooler_head_regression_matches_TorchSharp()
    {
        // all-linear includes pooler.dense: its merged base_layer weight is read as pooler.dense.weight.
        var adapter = new AdapterOptions { Kind = AdapterKind.Fossil, Variant = FossilVariant.Bat, Rank = 64, TargetModules = [AdapterOptions.AllLinear] };
        var (network, encoder) = Build(adapter, labels: 1, HeadKind.Default, seed: 12, adapterScale: 0.02);
        using var _ = network;
        Assert.Contains(AdapterInjector.AdaptedLayers(network), l => l.Name == "bert.pooler.dense");
        string path = folder.File("bat.onnx");
        ExportTo(network, path);
        using var onnx = OnnxRuntimeNetwork.Load(path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, ExpectedLabels = 1 });
        Assert.Equal("bert_pooler", onnx.Metadata[OnnxClassifierContract.HeadKey]);
        CompareFp32(network, onnx, Collate(Sentences.Select(s => encoder.Encode(s)).ToList(), encoder.PadTokenId), "FOSSIL bat, singles");
        CompareFp32(network, onnx, Collate(Pairs.Select(p => encoder.Encode(p.Item1, p.Item2)).ToList(), encoder.PadTokenId), "FOSSIL bat, pairs");
    }

    [Fact]
    public void Lora_merged_before_export_with_the_bert_pooler_head_matches_TorchSharp()
    {
        var adapter = new AdapterOptions { Kind = AdapterKind.Lora, Rank = 8, LoraAlpha = 16 };
        var (network, encoder) = Build(adapter, labels: 2, HeadKind.Default, seed: 13, adapterScale: 0.05);
        using var _ = network;
        Collated singles = Collate(Sentences.Select(s => encoder.Encode(s)).ToList(), encoder.PadTokenId);
        float[] unmerged = TorchLogits(network, singles);
        AdapterInjector.SetAdaptersEnabled(network, false);
        float[] withoutAdapters = TorchLogits(network, singles);
        AdapterInjector.SetAdaptersEnabled(network, true);
        AdapterInjector.MergeAll(network);   // as a loaded model is (MergeAdaptersOnLoad): export reads the merged weights as they are
        string path = folder.File("lora.onnx");
        ExportTo(network, path);
        Assert.All(AdapterInjector.AdaptedLayers(network), l => Assert.True(l.Layer.Merged));
        using var onnx = OnnxRuntimeNetwork.Load(path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, ExpectedLabels = 2 });
        CompareFp32(network, onnx, singles, "LoRA merged, singles");
        CompareFp32(network, onnx, Collate(Pairs.Select(p => encoder.Encode(p.Item1, p.Item2)).ToList(), encoder.PadTokenId), "LoRA merged, pairs");
        float[] exported = onnx.Score(singles.Ids, singles.Mask, singles.Types, singles.Batch, singles.Length);
        Assert.True(MaxAbsDiff(unmerged, exported) <= Fp32Tolerance, "the export of the merged network matches the unmerged network too");
        // The adapters matter: without them the logits are far off, so a dropped merge would show.
        Assert.True(MaxAbsDiff(withoutAdapters, exported) > 100 * Fp32Tolerance, $"adapters change the logits by only {MaxAbsDiff(withoutAdapters, exported):G3}");
    }
}
