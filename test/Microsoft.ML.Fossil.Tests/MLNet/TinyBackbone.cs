using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tests.Tokenization;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// A Hugging Face RoBERTa folder with roberta-base's real byte-level BPE tokenizer and a tiny random
/// encoder (2 x 32): the whole ML.NET path in seconds, for tests of behaviour rather than accuracy.
/// </summary>
internal sealed class TinyBackbone : IDisposable
{
    public TinyBackbone(long seed = 3)
    {
        Folder = Directory.CreateTempSubdirectory("fossil-tiny-roberta-").FullName;
        Config = new EncoderConfig
        {
            ModelType = "roberta", VocabSize = 50265, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4,
            IntermediateSize = 64, MaxPositionEmbeddings = 66, TypeVocabSize = 1, LayerNormEps = 1e-5, PadTokenId = 1,
            HiddenDropoutProb = 0.1, AttentionProbsDropoutProb = 0.1,
        };
        TokenizationData.WriteRobertaFolder(Folder);
        File.WriteAllText(Path.Combine(Folder, "config.json"), Config.ToJson());
        manual_seed(seed);
        using var encoder = new EncoderModel(Config, addPoolingLayer: false);
        Safetensors.SaveStateDict(Path.Combine(Folder, "model.safetensors"), encoder.state_dict());
    }

    public string Folder { get; }
    internal EncoderConfig Config { get; }

    /// <summary>Copies the folder elsewhere (a "moved" backbone).</summary>
    public string CopyTo(string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (string file in Directory.GetFiles(Folder)) File.Copy(file, Path.Combine(destination, Path.GetFileName(file)), overwrite: true);
        return destination;
    }

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }
}
