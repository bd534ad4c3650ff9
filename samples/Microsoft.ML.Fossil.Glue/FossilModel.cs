using System.Text.Json.Nodes;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>
/// The Fossil transformer inside a fitted or loaded pipeline, whichever trainer made it: the classifier
/// (<see cref="FossilTextClassificationTransformer"/>) or the similarity model (<see cref="FossilSentenceSimilarityTransformer"/>).
/// </summary>
internal sealed class FossilModel : IDisposable
{
    readonly FossilTextClassificationTransformer? classifier;
    readonly FossilSentenceSimilarityTransformer? similarity;

    FossilModel(FossilTextClassificationTransformer? classifier, FossilSentenceSimilarityTransformer? similarity)
    {
        this.classifier = classifier;
        this.similarity = similarity;
    }

    /// <summary>The one Fossil transformer of <paramref name="model"/> (a transformer or a chain).</summary>
    public static FossilModel Find(ITransformer model)
    {
        IEnumerable<ITransformer> parts = model is IEnumerable<ITransformer> chain ? chain : [model];
        ITransformer fossil = parts.Where(t => t is FossilTextClassificationTransformer or FossilSentenceSimilarityTransformer).SingleOrDefault()
                              ?? throw new GlueException("The model has no Fossil text model (was it saved by this runner?).");
        return new FossilModel(fossil as FossilTextClassificationTransformer, fossil as FossilSentenceSimilarityTransformer);
    }

    /// <summary>Whether the model scores similarity (regression) rather than classes.</summary>
    public bool IsRegression => similarity is not null;

    /// <summary>The (first) sentence column.</summary>
    public string Sentence1ColumnName => classifier?.Sentence1ColumnName ?? similarity!.Sentence1ColumnName;

    /// <summary>The second sentence column, or null.</summary>
    public string? Sentence2ColumnName => classifier is not null ? classifier.Sentence2ColumnName : similarity!.Sentence2ColumnName;

    /// <summary>The class names (classification).</summary>
    public IReadOnlyList<string> ClassNames => classifier?.ClassNames ?? [];

    /// <summary>The backbone's weights SHA-256.</summary>
    public string BackboneSha256 => classifier?.BackboneSha256 ?? similarity!.BackboneSha256;

    /// <summary>The training summary the model records.</summary>
    public JsonObject? TrainingSummary => classifier is not null ? classifier.TrainingSummary : similarity!.TrainingSummary;

    /// <inheritdoc />
    public void Dispose()
    {
        classifier?.Dispose();
        similarity?.Dispose();
    }
}
