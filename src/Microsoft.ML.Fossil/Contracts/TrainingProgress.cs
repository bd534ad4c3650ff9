namespace Microsoft.ML.Fossil;

/// <summary>Progress of a fine-tuning run, reported after every step and after each validation.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Step">1-based step within the epoch.</param>
/// <param name="StepsPerEpoch">Steps in one epoch.</param>
/// <param name="Loss">Mean training loss of the epoch so far.</param>
/// <param name="RowsPerSecond">Training throughput of the epoch so far.</param>
/// <param name="Elapsed">Time since training started.</param>
/// <param name="Remaining">Estimated time to the end of the last epoch (validation excluded).</param>
/// <param name="Validation">Set on the report that ends an epoch with a validation set.</param>
public sealed record TrainingProgress(int Epoch, int Step, int StepsPerEpoch, double Loss, double RowsPerSecond,
    TimeSpan Elapsed, TimeSpan Remaining, EvaluationMetrics? Validation);

/// <summary>Validation metrics of one evaluation; the ones that do not apply to the task are null.</summary>
public sealed record EvaluationMetrics
{
    /// <summary>Share of rows whose predicted class equals the label (classification).</summary>
    public double? Accuracy { get; init; }
    /// <summary>F1 of class 1 for two classes, macro-averaged F1 otherwise (classification).</summary>
    public double? F1 { get; init; }
    /// <summary>Matthews correlation coefficient, multi-class form (classification).</summary>
    public double? Mcc { get; init; }
    /// <summary>Pearson correlation of predictions and labels (regression).</summary>
    public double? Pearson { get; init; }
    /// <summary>Spearman rank correlation, ties averaged (regression).</summary>
    public double? Spearman { get; init; }
    /// <summary>Mean squared error (regression).</summary>
    public double? MeanSquaredError { get; init; }
    /// <summary>Mean loss over the evaluated rows.</summary>
    public double Loss { get; init; }

    /// <summary>The number that selects the best epoch (higher is better): accuracy, or Pearson for regression.</summary>
    public double Primary => Accuracy ?? Pearson ?? -(MeanSquaredError ?? double.PositiveInfinity);

    /// <inheritdoc />
    public override string ToString() => Accuracy is not null
        ? $"accuracy {Accuracy:F4}, F1 {F1:F4}, MCC {Mcc:F4}, loss {Loss:F4}"
        : $"pearson {Pearson:F4}, spearman {Spearman:F4}, MSE {MeanSquaredError:F4}";
}
