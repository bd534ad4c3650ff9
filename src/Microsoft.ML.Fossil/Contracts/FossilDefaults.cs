namespace Microsoft.ML.Fossil;

/// <summary>
/// Every default value of a fine-tuning run, in one place: the trainers' Options, the catalog's simple overloads,
/// the adapter configuration and the training loop all read them from here.
/// </summary>
internal static class FossilDefaults
{
    /// <summary>FOSSIL's shard rank r (PEFT's MiSS default).</summary>
    public const int FossilRank = 64;
    /// <summary>LoRA's rank (the LoRA paper's RoBERTa setting).</summary>
    public const int LoraRank = 8;
    /// <summary>FOSSIL mini's shard width.</summary>
    public const int MiniRank = 1;
    /// <summary>Peak learning rate with adapters.</summary>
    public const double AdapterLearningRate = 5e-4;
    /// <summary>Peak learning rate for full fine-tuning.</summary>
    public const double FullFineTuningLearningRate = 3e-5;
    /// <summary>Passes over the training data.</summary>
    public const int Epochs = 3;
    /// <summary>Rows per optimisation step.</summary>
    public const int BatchSize = 32;
    /// <summary>Tokens per row, pairs together.</summary>
    public const int MaxSequenceLength = 128;
    /// <summary>Share of steps warming the learning rate up.</summary>
    public const double WarmupRatio = 0.06;
    /// <summary>AdamW weight decay.</summary>
    public const double WeightDecay = 0.01;
    /// <summary>Global gradient-norm clip.</summary>
    public const double MaxGradientNorm = 1.0;
    /// <summary>Rows per forward pass when a fitted model transforms data.</summary>
    public const int PredictionBatchSize = 64;
    /// <summary>The seed when neither the Options nor the MLContext give one... see <see cref="FossilTrainerOptions.Seed"/>.</summary>
    public const int Seed = 42;

    /// <summary>The rank for <paramref name="kind"/> when none is given.</summary>
    public static int RankFor(AdapterKind kind) => kind == AdapterKind.Lora ? LoraRank : FossilRank;

    /// <summary>The learning rate for <paramref name="kind"/> when none is given.</summary>
    public static double LearningRateFor(AdapterKind kind) => kind == AdapterKind.FullFineTuning ? FullFineTuningLearningRate : AdapterLearningRate;
}
