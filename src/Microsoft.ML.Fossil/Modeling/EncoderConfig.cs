using System.Text.Json;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>The two encoder families this library implements; they differ in embeddings, head and tokenizer.</summary>
internal enum EncoderFamily
{
    /// <summary>BERT and its distillations (MiniLM, ...): absolute positions from 0, token types, WordPiece.</summary>
    Bert,
    /// <summary>RoBERTa (and DistilRoBERTa, XLM-R layouts): positions start after the padding index, byte-level BPE.</summary>
    Roberta,
}

/// <summary>
/// A Hugging Face <c>config.json</c> for a BERT-family encoder. Property names are the
/// Hugging Face field names, so the file round-trips.
/// </summary>
internal sealed class EncoderConfig
{
    /// <summary>Hugging Face <c>model_type</c>: bert, roberta, xlm-roberta, camembert.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "bert";
    /// <summary>Number of token ids.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 30522;
    /// <summary>Width of every hidden state.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; } = 768;
    /// <summary>Number of transformer layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; } = 12;
    /// <summary>Attention heads per layer.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; set; } = 12;
    /// <summary>Width of the feed-forward block.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; } = 3072;
    /// <summary>Feed-forward activation: gelu, gelu_new, gelu_pytorch_tanh, relu.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "gelu";
    /// <summary>Dropout on hidden states.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; set; } = 0.1;
    /// <summary>Dropout on attention probabilities.</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; set; } = 0.1;
    /// <summary>Rows of the position embedding table (RoBERTa: usable length + 2).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; set; } = 512;
    /// <summary>Rows of the token-type embedding table (RoBERTa: 1).</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; set; } = 2;
    /// <summary>Standard deviation for newly initialised weights.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; set; } = 0.02;
    /// <summary>LayerNorm epsilon (BERT 1e-12, RoBERTa 1e-5).</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; set; } = 1e-12;
    /// <summary>Padding token id (RoBERTa: also the position padding index).</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; set; }
    /// <summary>Dropout before the classifier; null means <see cref="HiddenDropoutProb"/>.</summary>
    [JsonPropertyName("classifier_dropout")] public double? ClassifierDropout { get; set; }
    /// <summary>Only "absolute" is supported.</summary>
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; set; } = "absolute";

    /// <summary>The family implied by <see cref="ModelType"/>.</summary>
    [JsonIgnore]
    public EncoderFamily Family => ModelType.ToLowerInvariant() switch
    {
        "bert" => EncoderFamily.Bert,
        "roberta" or "xlm-roberta" or "camembert" => EncoderFamily.Roberta,
        _ => throw new NotSupportedException(
            $"config.json model_type '{ModelType}' is not supported; expected one of: bert, roberta, xlm-roberta, camembert."),
    };

    /// <summary>
    /// Longest token sequence the position table allows (RoBERTa reserves the first
    /// <c>pad_token_id + 1</c> rows).
    /// </summary>
    [JsonIgnore]
    public int MaxSequenceLength => Family == EncoderFamily.Roberta ? MaxPositionEmbeddings - PadTokenId - 1 : MaxPositionEmbeddings;

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Parses a <c>config.json</c> text; unknown fields are ignored, as Hugging Face does.</summary>
    public static EncoderConfig FromJson(string json, string sourceForErrors = "config.json")
    {
        EncoderConfig config;
        try
        {
            config = JsonSerializer.Deserialize<EncoderConfig>(json, JsonOptions)
                     ?? throw new InvalidDataException($"{sourceForErrors} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceForErrors} is not a valid encoder config: {e.Message}", e);
        }
        config.Validate(sourceForErrors);
        return config;
    }

    /// <summary>Reads <c>config.json</c> from a file.</summary>
    public static EncoderConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Encoder config not found: '{path}'.", path);
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Serialises with Hugging Face field names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Checks the fields this implementation depends on; the message names the field.</summary>
    public void Validate(string sourceForErrors = "config.json")
    {
        _ = Family;
        void Positive(int value, string name)
        {
            if (value <= 0) throw new InvalidDataException($"{sourceForErrors}: {name} must be positive, found {value}.");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        Positive(TypeVocabSize, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{sourceForErrors}: hidden_size ({HiddenSize}) must be a multiple of num_attention_heads ({NumAttentionHeads}).");
        if (PositionEmbeddingType != "absolute")
            throw new NotSupportedException($"{sourceForErrors}: position_embedding_type '{PositionEmbeddingType}' is not supported; only 'absolute'.");
        if (HiddenAct is not ("gelu" or "gelu_new" or "gelu_pytorch_tanh" or "relu"))
            throw new NotSupportedException($"{sourceForErrors}: hidden_act '{HiddenAct}' is not supported; expected gelu, gelu_new, gelu_pytorch_tanh or relu.");
        if (Family == EncoderFamily.Roberta && MaxSequenceLength <= 0)
            throw new InvalidDataException($"{sourceForErrors}: max_position_embeddings ({MaxPositionEmbeddings}) leaves no positions after pad_token_id ({PadTokenId}).");
    }
}
