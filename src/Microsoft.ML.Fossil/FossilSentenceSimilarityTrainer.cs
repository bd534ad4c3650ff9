using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil;

/// <summary>
/// Fine-tunes a pretrained backbone to score sentence pairs (STS-B style similarity regression, mean squared
/// error) with FOSSIL adapters, as an ML.NET estimator. The label column must be Single; the fitted
/// <see cref="FossilSentenceSimilarityTransformer"/> appends <c>Score</c>.
/// </summary>
/// <remarks>Follows the <see cref="MLContext"/> it was created from, as <see cref="FossilTextClassificationTrainer"/> does.</remarks>
public sealed class FossilSentenceSimilarityTrainer : IEstimator<FossilSentenceSimilarityTransformer>
{
    /// <summary>Options of <see cref="FossilSentenceSimilarityTrainer"/>.</summary>
    public sealed class Options : FossilTrainerOptions;

    readonly FossilTrainer core;

    internal FossilSentenceSimilarityTrainer(IHostEnvironment env, Options options) => core = new FossilTrainer(env, options, PredictionTask.Regression);

    /// <summary>The schema the fitted transformer produces; rejects missing or mistyped input columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => core.GetOutputSchema(inputSchema);

    /// <summary>Loads the backbone, tokenizes the data once, injects adapters and trains.</summary>
    /// <exception cref="OperationCanceledException">The Options' cancellation token or <c>MLContext.CancelExecution</c> stopped training.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public FossilSentenceSimilarityTransformer Fit(IDataView input) => new(core.Fit(input));
}
