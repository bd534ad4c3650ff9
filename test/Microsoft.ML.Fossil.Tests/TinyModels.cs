using Microsoft.ML.Fossil.Modeling;

namespace Microsoft.ML.Fossil.Tests;

/// <summary>Small encoder configurations for fast tests.</summary>
internal static class TinyModels
{
    /// <summary>A RoBERTa-shaped config: positions after the padding index, one token type, eps 1e-5.</summary>
    public static EncoderConfig Roberta(int layers = 2, int hidden = 32, int heads = 4) => new()
    {
        ModelType = "roberta", VocabSize = 100, HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads,
        IntermediateSize = hidden * 2, MaxPositionEmbeddings = 40, TypeVocabSize = 1, LayerNormEps = 1e-5, PadTokenId = 1,
    };

    /// <summary>A BERT-shaped config.</summary>
    public static EncoderConfig Bert(int layers = 2, int hidden = 32, int heads = 4) => new()
    {
        ModelType = "bert", VocabSize = 120, HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads,
        IntermediateSize = hidden * 2, MaxPositionEmbeddings = 64, TypeVocabSize = 2, LayerNormEps = 1e-12, PadTokenId = 0,
    };

    /// <summary>all-MiniLM-L6-v2's shape (6 x 384, 12 heads, FFN 1536).</summary>
    public static EncoderConfig MiniLm() => new()
    {
        ModelType = "bert", VocabSize = 30522, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 12,
        IntermediateSize = 1536, MaxPositionEmbeddings = 512, TypeVocabSize = 2, LayerNormEps = 1e-12,
    };
}
