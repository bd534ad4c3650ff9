using Microsoft.ML.Fossil.Collation;

namespace Microsoft.ML.Fossil.Scoring;

/// <summary>
/// The network stage as scoring sees it: a collated batch in, the head's raw outputs out (class logits, or the
/// regression value). Implemented over TorchSharp (<see cref="TorchScoringNetwork"/>) and, for deployment without
/// libtorch, over ONNX Runtime; the tokenizer before it and the scorer after it are the same for both.
/// Implementations may be called from several threads at once.
/// </summary>
internal interface IScoringNetwork : IDisposable
{
    /// <summary>Outputs per row: the number of classes, or 1 for regression.</summary>
    int OutputCount { get; }

    /// <summary>Runs <paramref name="batch"/>; returns the outputs row-major, <c>[B * OutputCount]</c>, in the batch's row order.</summary>
    float[] Run(TokenBatch batch);
}
