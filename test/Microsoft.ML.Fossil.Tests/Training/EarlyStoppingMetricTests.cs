using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Training;

namespace Microsoft.ML.Fossil.Tests.Training;

/// <summary>The best epoch chosen by the task's metric (Options.EarlyStoppingMetric), and the metrics it reads.</summary>
public sealed class EarlyStoppingMetricTests : IDisposable
{
    readonly TinyBackbone backbone = new();

    public void Dispose() => backbone.Dispose();

    [Fact]
    public void Macro_F1_averages_every_class_and_binary_F1_is_class_one_alone()
    {
        // Labels / predictions with a known confusion [label, predicted]:
        //   class 0: 3 right, 1 as class 1      class 1: 1 right, 1 as class 0
        int[] labels = [0, 0, 0, 0, 1, 1];
        int[] predicted = [0, 0, 0, 1, 1, 0];
        EvaluationMetrics binary = Metrics.Classification(predicted, labels, 2);
        // F1(c) = 2 tp / (2 tp + fp + fn): class 0 = 6 / (6 + 1 + 1) = 0.75, class 1 = 2 / (2 + 1 + 1) = 0.5.
        Assert.Equal(0.5, binary.F1!.Value, 12);
        Assert.Equal((0.75 + 0.5) / 2, binary.MacroF1!.Value, 12);
        Assert.Equal(0.5, Metrics.Score(binary, EarlyStoppingMetric.F1), 12);
        Assert.Equal(0.625, Metrics.Score(binary, EarlyStoppingMetric.MacroF1), 12);
        Assert.Equal(4 / 6.0, Metrics.Score(binary, EarlyStoppingMetric.Default), 12);

        // Three classes: F1 is the macro average, as is MacroF1.
        EvaluationMetrics three = Metrics.Classification([0, 1, 2, 2], [0, 1, 1, 2], 3);
        // class 0: 1.0; class 1: tp 1, fn 1 -> 2/3; class 2: tp 1, fp 1 -> 2/3.
        Assert.Equal((1 + 2 / 3.0 + 2 / 3.0) / 3, three.MacroF1!.Value, 12);
        Assert.Equal(three.MacroF1, three.F1);

        // Loss is minimised: its score is the negated loss. A metric of the other task is refused.
        EvaluationMetrics regression = Metrics.Regression([1f, 2f, 3f], [1f, 3f, 2f], loss: 0.25);
        Assert.Equal(-0.25, Metrics.Score(regression, EarlyStoppingMetric.Loss));
        Assert.Equal(0.5, Metrics.Score(regression, EarlyStoppingMetric.Spearman), 12);
        Assert.Throws<ArgumentException>(() => Metrics.Score(regression, EarlyStoppingMetric.Mcc));
    }

    FossilTextClassificationTrainer.Options Options(MLContext ml, EarlyStoppingMetric metric) => new()
    {
        Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
        Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 4, BatchSize = 16, MaxSequenceLength = 48, Rank = 8,
        LearningRate = 5e-3, Seed = 5, EarlyStoppingMetric = metric,
        ValidationSet = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 40),
    };

    JsonObject Fit(EarlyStoppingMetric metric)
    {
        var ml = new MLContext(seed: 1);
        ITransformer model = ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(Options(ml, metric)))
            .Fit(FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 64));
        using var fossil = ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();
        return fossil.TrainingSummary!;
    }

    [Theory]
    [InlineData(EarlyStoppingMetric.Loss, "loss", "Loss", false)]
    [InlineData(EarlyStoppingMetric.Mcc, "mcc", "Mcc", true)]
    [InlineData(EarlyStoppingMetric.Default, "accuracy", "Accuracy", true)]
    public void The_best_epoch_is_the_one_with_the_best_value_of_the_chosen_metric(EarlyStoppingMetric metric, string recorded, string field, bool higherIsBetter)
    {
        JsonObject summary = Fit(metric);
        Assert.Equal(recorded, summary["best_epoch_metric"]!.GetValue<string>());
        double[] values = [.. summary["epochs"]!.AsArray().Select(e => e!["validation"]![field]!.GetValue<double>())];
        Assert.Equal(4, values.Length);
        // The first epoch with the best value (a later tie does not replace it).
        double best = higherIsBetter ? values.Max() : values.Min();
        Assert.Equal(Array.IndexOf(values, best) + 1, summary["best_epoch"]!.GetValue<int>());
    }

    [Fact]
    public void A_metric_of_the_other_task_or_without_a_validation_set_is_refused_when_the_trainer_is_made()
    {
        var ml = new MLContext(seed: 1);
        var pearson = Options(ml, EarlyStoppingMetric.Pearson);
        var wrongTask = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(pearson));
        Assert.Contains("Pearson", wrongTask.Message);
        Assert.Contains("Mcc", wrongTask.Message);

        var accuracy = new FossilSentenceSimilarityTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "Positivity",
            EarlyStoppingMetric = EarlyStoppingMetric.Accuracy, ValidationSet = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 8),
        };
        Assert.Contains("Spearman", Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.FossilSentenceSimilarity(accuracy)).Message);

        var noValidation = Options(ml, EarlyStoppingMetric.Mcc);
        noValidation.ValidationSet = null;
        Assert.Contains("ValidationSet", Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(noValidation)).Message);
    }
}
