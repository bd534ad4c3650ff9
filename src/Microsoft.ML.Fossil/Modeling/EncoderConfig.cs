using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// The encoder layouts this library implements. They differ in state-dict names, embeddings, layer layout and
/// classification head; <see cref="EncoderFamilies"/> holds what each one names and needs, as data.
/// </summary>
internal enum EncoderFamily
{
    /// <summary>BERT and its distillations (MiniLM, ...): absolute positions from 0, token types, pooler.</summary>
    Bert,
    /// <summary>RoBERTa, XLM-RoBERTa, CamemBERT: positions start after the padding index; dense + tanh head.</summary>
    Roberta,
    /// <summary>DistilBERT: no token types, no pooler, <c>transformer.layer.N</c> with q_lin/k_lin/v_lin/out_lin.</summary>
    DistilBert,
    /// <summary>ELECTRA discriminators: BERT's encoder behind embeddings of their own width (projected when narrower).</summary>
    Electra,
}

/// <summary>
/// A Hugging Face <c>config.json</c> for a BERT-family encoder. Property names are the
/// Hugging Face field names, so the file round-trips.
/// </summary>
internal sealed class EncoderConfig
{
    /// <summary>Hugging Face <c>model_type</c>: bert, roberta, xlm-roberta, camembert, distilbert, electra.</summary>
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
    /// <summary>ELECTRA: width of the embeddings, projected to <see cref="HiddenSize"/> by <c>embeddings_project</c> when it differs; null elsewhere.</summary>
    [JsonPropertyName("embedding_size")] public int? EmbeddingSize { get; set; }
    /// <summary>DistilBERT: fixed sinusoidal positions instead of a learned table (refused: checkpoints with it are rare and store no table).</summary>
    [JsonIgnore] public bool SinusoidalPositionEmbeddings { get; set; }
    /// <summary>DistilBERT: dropout of its question-answering head (kept so the file round-trips).</summary>
    [JsonIgnore] public double QaDropout { get; set; } = 0.1;

    /// <summary>The family implied by <see cref="ModelType"/>.</summary>
    [JsonIgnore]
    public EncoderFamily Family => EncoderFamilies.FamilyOf(ModelType);

    /// <summary>Width of the embedding vectors: <see cref="EmbeddingSize"/> (ELECTRA) or <see cref="HiddenSize"/>.</summary>
    [JsonIgnore]
    public int EmbeddingWidth => EmbeddingSize ?? HiddenSize;

    /// <summary>
    /// Longest token sequence the position table allows (RoBERTa reserves the first
    /// <c>pad_token_id + 1</c> rows).
    /// </summary>
    [JsonIgnore]
    public int MaxSequenceLength => Family == EncoderFamily.Roberta ? MaxPositionEmbeddings - PadTokenId - 1 : MaxPositionEmbeddings;

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>
    /// Parses a <c>config.json</c> text; unknown fields are ignored, as Hugging Face does. Fields a file leaves out
    /// take the defaults of the model type's Hugging Face config class (DistilBERT's own field names - <c>dim</c>,
    /// <c>n_layers</c>, <c>hidden_dim</c>, ... - are read into the common properties).
    /// </summary>
    public static EncoderConfig FromJson(string json, string sourceForErrors = "config.json")
    {
        EncoderConfig config;
        try
        {
            JsonObject root = JsonNode.Parse(json) as JsonObject
                              ?? throw new InvalidDataException($"{sourceForErrors} is not a JSON object.");
            string modelType = root["model_type"] is JsonValue type && type.TryGetValue(out string? name) ? name : "bert";
            EncoderFamily family = EncoderFamilies.FamilyOf(modelType, sourceForErrors);
            config = family == EncoderFamily.DistilBert
                ? DistilBertFields.Read(root, sourceForErrors)
                : (EncoderFamilies.WithDefaults(root, family).Deserialize<EncoderConfig>(JsonOptions)
                   ?? throw new InvalidDataException($"{sourceForErrors} is empty."));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceForErrors} is not a valid encoder config: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // A field of the wrong JSON kind (a string where a number belongs, ...).
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

    /// <summary>Serialises with the Hugging Face field names of the model type (DistilBERT's own for distilbert).</summary>
    public string ToJson() => Family == EncoderFamily.DistilBert
        ? JsonSerializer.Serialize(DistilBertFields.From(this), JsonOptions)
        : JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Checks the fields this implementation depends on; the message names the field.</summary>
    public void Validate(string sourceForErrors = "config.json")
    {
        EncoderFamily family = EncoderFamilies.FamilyOf(ModelType, sourceForErrors);
        EncoderFamilies.Layout layout = EncoderFamilies.Of(family);
        void Positive(int value, string name)
        {
            if (value <= 0) throw new InvalidDataException($"{sourceForErrors}: {name} must be positive, found {value}.");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, layout.HiddenSizeField);
        Positive(NumHiddenLayers, layout.LayersField);
        Positive(NumAttentionHeads, layout.HeadsField);
        Positive(IntermediateSize, layout.IntermediateField);
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (layout.HasTokenTypes) Positive(TypeVocabSize, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{sourceForErrors}: {layout.HiddenSizeField} ({HiddenSize}) must be a multiple of {layout.HeadsField} ({NumAttentionHeads}).");
        if (PositionEmbeddingType != "absolute")
            throw new NotSupportedException($"{sourceForErrors}: position_embedding_type '{PositionEmbeddingType}' is not supported; only 'absolute'.");
        if (HiddenAct is not ("gelu" or "gelu_new" or "gelu_pytorch_tanh" or "relu"))
            throw new NotSupportedException($"{sourceForErrors}: {layout.ActivationField} '{HiddenAct}' is not supported; expected gelu, gelu_new, gelu_pytorch_tanh or relu.");
        if (family == EncoderFamily.Roberta && MaxSequenceLength <= 0)
            throw new InvalidDataException($"{sourceForErrors}: max_position_embeddings ({MaxPositionEmbeddings}) leaves no positions after pad_token_id ({PadTokenId}).");
        if (SinusoidalPositionEmbeddings)
            throw new NotSupportedException($"{sourceForErrors}: sinusoidal_pos_embds true is not supported; only DistilBERT checkpoints with a learned position table (sinusoidal_pos_embds false) load.");
        if (EmbeddingSize is { } embedding)
        {
            if (family != EncoderFamily.Electra)
                throw new NotSupportedException($"{sourceForErrors}: embedding_size ({embedding}) is an ELECTRA field, but model_type is '{ModelType}'.");
            Positive(embedding, "embedding_size");
        }
        if (PadTokenId < 0 || PadTokenId >= VocabSize)
            throw new InvalidDataException($"{sourceForErrors}: pad_token_id ({PadTokenId}) must be an id below vocab_size ({VocabSize}).");
    }
}
