using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tests.Checkpoints;
using Microsoft.ML.Fossil.Tests.Tokenization;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxTestSupport;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// A RoBERTa-shaped Hugging Face folder (2 x 32, gelu_new, every weight moved off its initial value,
/// roberta-base's real byte-level BPE files) loaded through BackboneSource, adapted, exported and scored:
/// position ids from input_ids (cumsum after the padding index), no token_type_ids input, RoBERTa's head.
/// </summary>
public sealed class OnnxExportRobertaTests(ITestOutputHelper output) : IDisposable
{
    const float Fp32Tolerance = 1e-4f;
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    static readonly string[] Sentences =
    [
        "Hello world!",
        "The reviews were mixed, but the coffee itself is smooth and not bitter at all.",
        "Meh.",
        "I bought three boxes; two arrived crushed and the third one tasted like cardboard.",
    ];

    static readonly (string, string)[] Pairs =
    [
        ("A man is playing a guitar.", "Someone plays an instrument."),
        ("Fast shipping.", "The package took three weeks to arrive and the seal was broken."),
    ];

    LoadedBackbone WriteAndLoadFolder()
    {
        EncoderConfig config = HuggingFaceFixtures.TinyRoberta();
        config.VocabSize = 50265;             // roberta-base's BPE ids
        config.MaxPositionEmbeddings = 66;    // 64 usable positions after the padding index
        config.HiddenAct = "gelu_new";        // the tanh GELU pattern
        string path = folder.Sub("tiny-roberta");
        TokenizationData.WriteRobertaFolder(path);
        HuggingFaceFixtures.WriteConfig(path, config);
        TorchSharp.torch.manual_seed(21);   // the initial values PerturbedModel moves away from
        using EncoderModel source = HuggingFaceFixtures.PerturbedModel(config, addPoolingLayer: false, seed: 21);
        Safetensors.SaveStateDict(Path.Combine(path, "model.safetensors"), HuggingFaceFixtures.StateDict(source, "roberta."));
        return BackboneSource.HuggingFaceFolder(path).Load();
    }

    void Compare(SequenceClassifier network, OnnxRuntimeNetwork onnx, Collated batch, string what)
    {
        float[] expected = TorchLogits(network, batch);
        float worst = MaxAbsDiff(expected, onnx.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length));
        for (int row = 0; row < batch.Batch; row++)
        {
            Collated single = Row(batch, row);
            worst = Math.Max(worst, MaxAbsDiff(TorchLogits(network, single), onnx.Score(single.Ids, single.Mask, null, 1, single.Length)));
        }
        output.WriteLine($"{what}: max |ONNX fp32 - TorchSharp| = {worst:G3}");
        Assert.True(worst <= Fp32Tolerance, $"{what}: max |ONNX - TorchSharp| = {worst:G3} > {Fp32Tolerance}");
    }

    [Fact]
    public void Fossil_with_the_roberta_head_matches_TorchSharp_on_singles_and_pairs()
    {
        LoadedBackbone backbone = WriteAndLoadFolder();
        using var network = new SequenceClassifier(backbone.Encoder, 3, HeadKind.Default);
        Assert.IsType<FirstTokenClassificationHead>(network.Classifier);
        AdapterInjector.Apply(network, new AdapterOptions { Kind = AdapterKind.Fossil, Rank = 8, TargetModules = [AdapterOptions.AllLinear] });
        Perturb(network, seed: 3, adapterScale: 0.05);
        TextTokenizer encoder = backbone.CreateTokenizer(64);

        string path = folder.File("roberta.onnx");
        ExportTo(network, path);
        using var onnx = OnnxRuntimeNetwork.Load(path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, ExpectedLabels = 3 });
        Assert.False(onnx.UsesTokenTypeIds);
        Assert.Equal("roberta_head", onnx.Metadata[OnnxClassifierContract.HeadKey]);

        Collated singles = Collate(Sentences.Select(s => encoder.Encode(s)).ToList(), encoder.PadTokenId);
        Collated pairs = Collate(Pairs.Select(p => encoder.Encode(p.Item1, p.Item2)).ToList(), encoder.PadTokenId);
        Assert.Contains(1L, singles.Ids);   // padding with RoBERTa's pad id 1: the position ids must skip it
        Compare(network, onnx, singles, "RoBERTa FOSSIL, singles");
        Compare(network, onnx, pairs, "RoBERTa FOSSIL, pairs");

        // A pad id inside a row's real tokens shifts the positions after it (cumsum of the non-pad mask) in both.
        Collated inner = Collate([[0, 31414, 1, 232, 328, 2], [0, 31414, 2]], null, 1);
        Compare(network, onnx, inner, "RoBERTa FOSSIL, a pad id among the tokens");

        string int8Path = folder.File("roberta-int8.onnx");
        ExportTo(network, int8Path, int8: true);
        using var int8 = OnnxRuntimeNetwork.Load(int8Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2 });
        foreach (Collated batch in new[] { singles, pairs })
        {
            float[] expected = TorchLogits(network, batch);
            float[] actual = int8.Score(batch.Ids, batch.Mask, null, batch.Batch, batch.Length);
            float max = MaxAbsDiff(expected, actual), mean = MeanAbsDiff(expected, actual), range = expected.Max() - expected.Min();
            output.WriteLine($"RoBERTa int8, {batch.Batch} rows: max |ONNX int8 - TorchSharp| = {max:G3}, mean {mean:G3} (logit range {range:G3}); " +
                             $"argmax {string.Join(",", Argmax(actual, 3))} vs TorchSharp {string.Join(",", Argmax(expected, 3))}");
            Assert.True(max <= 0.35f * range, $"int8 max difference {max:G3} > 0.35 x range {range:G3}");
            Assert.True(mean <= 0.1f * range, $"int8 mean difference {mean:G3} > 0.1 x range {range:G3}");
        }

        Dictionary<string, int> ops = OptimizedOps(path);
        output.WriteLine($"ORT-optimised fp32 graph: {Describe(ops)}");
        Assert.Equal(2, ops.GetValueOrDefault("com.microsoft:FastGelu"));   // the tanh GELU of both layers, fused
        Assert.Equal(2, ops.GetValueOrDefault("com.microsoft:Attention"));   // OnnxAttentionFusion, both layers
        Assert.Equal(5, ops.GetValueOrDefault("LayerNormalization"));   // embeddings + 2 per layer, SkipLayerNormFusion left out
    }

    [Fact]
    public void Lora_with_mean_pooling_regression_matches_TorchSharp()
    {
        LoadedBackbone backbone = WriteAndLoadFolder();
        using var network = new SequenceClassifier(backbone.Encoder, 1, HeadKind.MeanPooling);
        AdapterInjector.Apply(network, new AdapterOptions { Kind = AdapterKind.Lora, Rank = 4, LoraAlpha = 8 });
        Perturb(network, seed: 4, adapterScale: 0.1);
        TextTokenizer encoder = backbone.CreateTokenizer(64);

        string path = folder.File("roberta-regression.onnx");
        ExportTo(network, path);
        using var onnx = OnnxRuntimeNetwork.Load(path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2, ExpectedLabels = 1 });
        Compare(network, onnx, Collate(Sentences.Select(s => encoder.Encode(s)).ToList(), encoder.PadTokenId), "RoBERTa LoRA regression, singles");
        Compare(network, onnx, Collate(Pairs.Select(p => encoder.Encode(p.Item1, p.Item2)).ToList(), encoder.PadTokenId), "RoBERTa LoRA regression, pairs");
    }
}
