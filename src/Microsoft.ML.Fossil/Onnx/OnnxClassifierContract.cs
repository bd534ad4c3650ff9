namespace Microsoft.ML.Fossil.Onnx;

/// <summary>
/// The names and types an exported sequence classifier has: the layout Hugging Face Optimum's
/// <c>ORTModelForSequenceClassification</c> feeds and reads. Shared by the exporter and the runner;
/// nothing here touches TorchSharp.
/// </summary>
internal static class OnnxClassifierContract
{
    /// <summary>Token ids, int64 [batch, sequence].</summary>
    public const string InputIds = "input_ids";

    /// <summary>1 for tokens, 0 for padding, int64 [batch, sequence].</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>Segment ids, int64 [batch, sequence]; BERT family only (RoBERTa has one token type).</summary>
    public const string TokenTypeIds = "token_type_ids";

    /// <summary>Raw outputs, float [batch, labels]: class logits, or the regression value (one column).</summary>
    public const string Logits = "logits";

    /// <summary>Symbolic name of the batch axis.</summary>
    public const string BatchAxis = "batch_size";

    /// <summary>Symbolic name of the sequence axis.</summary>
    public const string SequenceAxis = "sequence_length";

    /// <summary>The default ONNX opset the graph is written against (LayerNormalization is standard from 17).</summary>
    public const long Opset = 17;

    /// <summary>ONNX IR version that goes with opset 17.</summary>
    public const long IrVersion = 8;

    /// <summary>Written into <c>producer_name</c>.</summary>
    public const string ProducerName = "Microsoft.ML.Fossil";

    /// <summary>Metadata key: <c>sequence-classifier/1</c> for this layout.</summary>
    public const string FormatKey = "fossil.format";

    /// <summary>Value of <see cref="FormatKey"/>.</summary>
    public const string FormatValue = "sequence-classifier/1";

    /// <summary>Metadata key: number of output columns.</summary>
    public const string NumLabelsKey = "fossil.num_labels";

    /// <summary>Metadata key: <c>bert</c> or <c>roberta</c>.</summary>
    public const string FamilyKey = "fossil.family";

    /// <summary>Metadata key: <c>bert_pooler</c>, <c>roberta_head</c> or <c>mean_pooling</c>.</summary>
    public const string HeadKey = "fossil.head";

    /// <summary>Metadata key: <c>float32</c>, or <c>int8_dynamic</c> when the encoder's linear layers are quantized.</summary>
    public const string WeightsKey = "fossil.weights";

    /// <summary>Metadata key: the padding token id (RoBERTa's position ids depend on it).</summary>
    public const string PadTokenIdKey = "fossil.pad_token_id";
}
