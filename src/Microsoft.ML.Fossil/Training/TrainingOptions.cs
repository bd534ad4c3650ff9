using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Training;

/// <summary>Optimisation settings of a fine-tuning run.</summary>
internal sealed class TrainingOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; set; } = FossilDefaults.Epochs;

    /// <summary>Rows per optimisation step.</summary>
    public int BatchSize { get; set; } = FossilDefaults.BatchSize;

    /// <summary>Peak learning rate of AdamW (reached after warm-up, then decayed linearly to 0).</summary>
    public double LearningRate { get; set; } = FossilDefaults.AdapterLearningRate;

    /// <summary>AdamW weight decay, applied to weight matrices and adapter shards, not to biases or LayerNorm weights.</summary>
    public double WeightDecay { get; set; } = FossilDefaults.WeightDecay;

    /// <summary>Share of all steps spent warming the learning rate up linearly from 0.</summary>
    public double WarmupRatio { get; set; } = FossilDefaults.WarmupRatio;

    /// <summary>Global gradient-norm clip; 0 or less turns clipping off.</summary>
    public double MaxGradientNorm { get; set; } = FossilDefaults.MaxGradientNorm;

    /// <summary>Stop after this many epochs without a better validation metric; 0 turns early stopping off.</summary>
    public int EarlyStoppingPatience { get; set; }

    /// <summary>Seed for shuffling, dropout and new weights: the same seed gives the same weights.</summary>
    public int Seed { get; set; } = FossilDefaults.Seed;

    /// <summary>Where to train; CPU by default.</summary>
    public Device Device { get; set; } = CPU;

    /// <summary>Checks the values; the message names the option.</summary>
    public void Validate()
    {
        if (Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be a positive finite number.");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay))
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay must be zero or positive.");
        if (!(WarmupRatio >= 0 && WarmupRatio < 1))
            throw new ArgumentOutOfRangeException(nameof(WarmupRatio), WarmupRatio, "WarmupRatio must be in [0, 1).");
        if (double.IsNaN(MaxGradientNorm)) throw new ArgumentOutOfRangeException(nameof(MaxGradientNorm), MaxGradientNorm, "MaxGradientNorm must be a number.");
        if (EarlyStoppingPatience < 0)
            throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must be 0 (off) or positive.");
    }
}
