using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// What each <see cref="EncoderFamily"/> is called and holds in Hugging Face's files, as data the modules, the
/// checkpoint loader and the adapter injector read: model types, state-dict prefix, default adapter targets and
/// their friendly aliases, the pretraining heads a checkpoint may carry, and config defaults.
/// </summary>
internal static class EncoderFamilies
{
    /// <summary>One family's names and needs.</summary>
    /// <param name="Family">The family.</param>
    /// <param name="ModelTypes">config.json <c>model_type</c> values of the family.</param>
    /// <param name="StateDictPrefix">Attribute of the encoder in Hugging Face's task models (<c>bert</c>, <c>roberta</c>, ...).</param>
    /// <param name="HasTokenTypes">Whether the embeddings have a token-type table.</param>
    /// <param name="DefaultTargets">Linear layers adapted when the options name none (PEFT's defaults for the family).</param>
    /// <param name="TargetAliases">Friendly names (query, key, value) accepted for the family's own layer names.</param>
    /// <param name="PretrainingHeads">State-dict prefixes (after the backbone prefix) of heads an encoder has no place for.</param>
    /// <param name="HiddenSizeField">config.json name of the hidden width (for messages).</param>
    /// <param name="LayersField">config.json name of the layer count.</param>
    /// <param name="HeadsField">config.json name of the head count.</param>
    /// <param name="IntermediateField">config.json name of the feed-forward width.</param>
    /// <param name="ActivationField">config.json name of the activation.</param>
    internal sealed record Layout(
        EncoderFamily Family,
        IReadOnlyList<string> ModelTypes,
        string StateDictPrefix,
        bool HasTokenTypes,
        IReadOnlyList<string> DefaultTargets,
        IReadOnlyDictionary<string, string> TargetAliases,
        IReadOnlyList<string> PretrainingHeads,
        string HiddenSizeField = "hidden_size",
        string LayersField = "num_hidden_layers",
        string HeadsField = "num_attention_heads",
        string IntermediateField = "intermediate_size",
        string ActivationField = "hidden_act");

    static readonly Dictionary<string, string> NoAliases = new(StringComparer.Ordinal);

    /// <summary>Every family this library implements.</summary>
    public static IReadOnlyList<Layout> All { get; } =
    [
        new(EncoderFamily.Bert, ["bert"], "bert", HasTokenTypes: true, ["query", "value"], NoAliases, ["cls.", "classifier.", "qa_outputs."]),
        new(EncoderFamily.Roberta, ["roberta", "xlm-roberta", "camembert"], "roberta", HasTokenTypes: true, ["query", "value"], NoAliases,
            ["lm_head.", "classifier.", "qa_outputs."]),
        new(EncoderFamily.DistilBert, ["distilbert"], "distilbert", HasTokenTypes: false, ["q_lin", "v_lin"],
            new Dictionary<string, string>(StringComparer.Ordinal) { ["query"] = "q_lin", ["key"] = "k_lin", ["value"] = "v_lin" },
            ["vocab_transform.", "vocab_layer_norm.", "vocab_projector.", "pre_classifier.", "classifier.", "qa_outputs."],
            HiddenSizeField: "dim", LayersField: "n_layers", HeadsField: "n_heads", IntermediateField: "hidden_dim", ActivationField: "activation"),
        new(EncoderFamily.Electra, ["electra"], "electra", HasTokenTypes: true, ["query", "value"], NoAliases,
            ["discriminator_predictions.", "generator_predictions.", "generator_lm_head.", "classifier.", "qa_outputs."]),
    ];

    /// <summary>The layout of <paramref name="family"/>.</summary>
    public static Layout Of(EncoderFamily family) => All.First(l => l.Family == family);

    /// <summary>The family of a config.json <c>model_type</c>.</summary>
    /// <exception cref="NotSupportedException">The type is none of the families'; the message lists the supported ones.</exception>
    public static EncoderFamily FamilyOf(string modelType, string sourceForErrors = "config.json")
    {
        ArgumentNullException.ThrowIfNull(modelType);
        string type = modelType.ToLowerInvariant();
        foreach (Layout layout in All)
            if (layout.ModelTypes.Contains(type)) return layout.Family;
        throw new NotSupportedException(
            $"{sourceForErrors} model_type '{modelType}' is not supported; expected one of: {string.Join(", ", All.SelectMany(l => l.ModelTypes))}.");
    }

    /// <summary>
    /// <paramref name="root"/> with the fields it leaves out set to the defaults of the family's Hugging Face config
    /// class where they differ from BERT's (which are <see cref="EncoderConfig"/>'s own defaults).
    /// </summary>
    public static JsonObject WithDefaults(JsonObject root, EncoderFamily family)
    {
        ArgumentNullException.ThrowIfNull(root);
        var copy = (JsonObject)root.DeepClone();
        void Default(string name, JsonNode value)
        {
            if (!copy.ContainsKey(name)) copy[name] = value;
        }
        switch (family)
        {
            case EncoderFamily.Roberta:
                // RobertaConfig / XLMRobertaConfig: pad 1 (bos 0, eos 2).
                Default("pad_token_id", 1);
                break;
            case EncoderFamily.Electra:
                // ElectraConfig's defaults are electra-small's.
                Default("embedding_size", 128);
                Default("hidden_size", 256);
                Default("num_attention_heads", 4);
                Default("intermediate_size", 1024);
                break;
        }
        return copy;
    }
}

/// <summary>
/// DistilBERT's config.json, in its own field names (<c>dim</c>, <c>n_layers</c>, <c>n_heads</c>, <c>hidden_dim</c>,
/// <c>activation</c>, <c>dropout</c>, ...) with DistilBertConfig's defaults; read into and written from
/// <see cref="EncoderConfig"/>'s common properties.
/// </summary>
internal sealed class DistilBertFields
{
#pragma warning disable CA1822 // serialised constant
    [JsonPropertyName("model_type")] public string ModelType => "distilbert";
#pragma warning restore CA1822
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 30522;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; set; } = 512;
    [JsonPropertyName("sinusoidal_pos_embds")] public bool SinusoidalPosEmbds { get; set; }
    [JsonPropertyName("n_layers")] public int NLayers { get; set; } = 6;
    [JsonPropertyName("n_heads")] public int NHeads { get; set; } = 12;
    [JsonPropertyName("dim")] public int Dim { get; set; } = 768;
    [JsonPropertyName("hidden_dim")] public int HiddenDim { get; set; } = 3072;
    [JsonPropertyName("dropout")] public double Dropout { get; set; } = 0.1;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; set; } = 0.1;
    [JsonPropertyName("activation")] public string Activation { get; set; } = "gelu";
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; set; } = 0.02;
    [JsonPropertyName("qa_dropout")] public double QaDropout { get; set; } = 0.1;
    [JsonPropertyName("seq_classif_dropout")] public double SeqClassifDropout { get; set; } = 0.2;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; set; }

    /// <summary>DistilBERT's LayerNorms use a fixed epsilon (it has no layer_norm_eps field).</summary>
    public const double LayerNormEps = 1e-12;

    /// <summary>Reads DistilBERT's fields into the common configuration.</summary>
    public static EncoderConfig Read(JsonObject root, string sourceForErrors)
    {
        DistilBertFields fields = System.Text.Json.JsonSerializer.Deserialize<DistilBertFields>(root)
                                  ?? throw new InvalidDataException($"{sourceForErrors} is empty.");
        return new EncoderConfig
        {
            ModelType = "distilbert",
            VocabSize = fields.VocabSize,
            MaxPositionEmbeddings = fields.MaxPositionEmbeddings,
            SinusoidalPositionEmbeddings = fields.SinusoidalPosEmbds,
            NumHiddenLayers = fields.NLayers,
            NumAttentionHeads = fields.NHeads,
            HiddenSize = fields.Dim,
            IntermediateSize = fields.HiddenDim,
            HiddenDropoutProb = fields.Dropout,
            AttentionProbsDropoutProb = fields.AttentionDropout,
            HiddenAct = fields.Activation,
            InitializerRange = fields.InitializerRange,
            QaDropout = fields.QaDropout,
            ClassifierDropout = fields.SeqClassifDropout,
            PadTokenId = fields.PadTokenId,
            TypeVocabSize = 0,
            LayerNormEps = LayerNormEps,
        };
    }

    /// <summary>The DistilBERT fields of a common configuration.</summary>
    public static DistilBertFields From(EncoderConfig config) => new()
    {
        VocabSize = config.VocabSize,
        MaxPositionEmbeddings = config.MaxPositionEmbeddings,
        SinusoidalPosEmbds = config.SinusoidalPositionEmbeddings,
        NLayers = config.NumHiddenLayers,
        NHeads = config.NumAttentionHeads,
        Dim = config.HiddenSize,
        HiddenDim = config.IntermediateSize,
        Dropout = config.HiddenDropoutProb,
        AttentionDropout = config.AttentionProbsDropoutProb,
        Activation = config.HiddenAct,
        InitializerRange = config.InitializerRange,
        QaDropout = config.QaDropout,
        SeqClassifDropout = config.ClassifierDropout ?? 0.2,
        PadTokenId = config.PadTokenId,
    };
}
