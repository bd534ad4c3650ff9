using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// Word + position + token-type embeddings, LayerNorm, dropout. Field names are the Hugging Face
/// state-dict names (<c>embeddings.word_embeddings.weight</c>, ...).
/// </summary>
internal sealed class Embeddings : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    readonly EmbeddingTable word_embeddings;
    readonly EmbeddingTable position_embeddings;
    readonly EmbeddingTable token_type_embeddings;
    readonly LayerNorm LayerNorm;
    readonly Dropout dropout;
#pragma warning restore IDE1006

    readonly EncoderFamily family;
    readonly long paddingIndex;

    /// <summary>Creates the embeddings for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public Embeddings(EncoderConfig config, Device? device = null) : base(nameof(Embeddings))
    {
        family = config.Family;
        paddingIndex = config.PadTokenId;
        word_embeddings = new EmbeddingTable(config.VocabSize, config.HiddenSize, config.PadTokenId, device);
        position_embeddings = new EmbeddingTable(config.MaxPositionEmbeddings, config.HiddenSize,
            family == EncoderFamily.Roberta ? config.PadTokenId : null, device);
        token_type_embeddings = new EmbeddingTable(config.TypeVocabSize, config.HiddenSize, device: device);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>[B, T] ids and [B, T] token types -> [B, T, H].</summary>
    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        Tensor positions = PositionIds(inputIds);
        Tensor summed = word_embeddings.forward(inputIds)
                        + position_embeddings.forward(positions)
                        + token_type_embeddings.forward(tokenTypeIds);
        return dropout.forward(LayerNorm.forward(summed)).MoveToOuterDisposeScope();
    }

    Tensor PositionIds(Tensor inputIds)
    {
        long length = inputIds.shape[1];
        if (family == EncoderFamily.Roberta)
        {
            // RoBERTa numbers real tokens from padding_idx + 1 and gives padding the padding index
            // (Hugging Face create_position_ids_from_input_ids).
            Tensor mask = inputIds.ne(paddingIndex).to(ScalarType.Int64);
            return mask.cumsum(1).mul(mask).add(paddingIndex);
        }
        return arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
    }
}
