using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil;

/// <summary>
/// Fine-tunes a pretrained BERT/RoBERTa backbone for text classification (one sentence or a pair) with FOSSIL
/// adapters, as an ML.NET estimator. The label column must be a key (use <c>MapValueToKey</c> first); the fitted
/// <see cref="FossilTextClassificationTransformer"/> appends <c>Score</c> and <c>PredictedLabel</c>.
/// </summary>
/// <remarks>
/// Follows the <see cref="MLContext"/> it was created from: its seed (when <see cref="FossilTrainerOptions.Seed"/> is
/// not set), <c>GpuDeviceId</c> / <c>FallbackToCpu</c>, its log, <c>CancelExecution</c>, and the settings given with
/// <c>SetFossilSettings</c>.
/// </remarks>
public sealed class FossilTextClassificationTrainer : IEstimator<FossilTextClassificationTransformer>
{
    /// <summary>Options of <see cref="FossilTextClassificationTrainer"/>.</summary>
    public sealed class Options : FossilTrainerOptions;

    readonly FossilTrainer core;

    internal FossilTextClassificationTrainer(IHostEnvironment env, Options options) => core = new FossilTrainer(env, options, PredictionTask.Classification);

    /// <summary>The schema the fitted transformer produces; rejects missing or mistyped input columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => core.GetOutputSchema(inputSchema);

    /// <summary>Loads the backbone, tokenizes the data once, injects adapters and trains.</summary>
    /// <exception cref="OperationCanceledException">The Options' cancellation token or <c>MLContext.CancelExecution</c> stopped training.</exception>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite.</exception>
    public FossilTextClassificationTransformer Fit(IDataView input) => new(core.Fit(input));
}
