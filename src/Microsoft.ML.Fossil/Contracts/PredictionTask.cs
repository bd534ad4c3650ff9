namespace Microsoft.ML.Fossil;

/// <summary>What a model predicts (chosen by the trainer: text classification or sentence similarity).</summary>
internal enum PredictionTask
{
    /// <summary>One of N classes; cross-entropy loss, softmax scores.</summary>
    Classification,
    /// <summary>One real number (e.g. a similarity score); mean squared error loss.</summary>
    Regression,
}
