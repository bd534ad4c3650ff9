using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Training;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>Bad options and bad labels are rejected before training, with messages naming the problem.</summary>
public sealed class BadInputTests : IDisposable
{
    readonly TinyBackbone backbone = new();
    readonly MLContext ml = new(seed: 1);

    public void Dispose() => backbone.Dispose();

    sealed class Row
    {
        public string Text { get; set; } = "";
        public string Label { get; set; } = "";
    }

    sealed class ScoredRow
    {
        public string Text { get; set; } = "";
        public float Score { get; set; }
    }

    FossilTextClassificationTrainer.Options Options(Action<FossilTextClassificationTrainer.Options>? change = null)
    {
        var options = new FossilTextClassificationTrainer.Options
        {
            Sentence1ColumnName = "Text", Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder),
            Epochs = 1, BatchSize = 4, MaxSequenceLength = 32, Rank = 8,
        };
        change?.Invoke(options);
        return options;
    }

    IDataView Keyed(params (string Text, string Label)[] rows)
    {
        IDataView data = ml.Data.LoadFromEnumerable(rows.Select(r => new Row { Text = r.Text, Label = r.Label }).ToArray());
        return ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
    }

    IDataView TwoClasses() => Keyed(("good", "pos"), ("bad", "neg"), ("great", "pos"), ("awful", "neg"));

    [Theory]
    [InlineData("rank 0", "Rank")]
    [InlineData("rank -3", "Rank")]
    [InlineData("batch 0", "BatchSize")]
    [InlineData("epochs 0", "Epochs")]
    [InlineData("dropout 1", "Dropout")]
    [InlineData("lr 0", "LearningRate")]
    [InlineData("no targets", "TargetModules")]
    [InlineData("max length 2", "MaxSequenceLength")]
    public void Invalid_options_are_rejected_when_the_trainer_is_made(string change, string option)
    {
        Action<FossilTextClassificationTrainer.Options> apply = change switch
        {
            "rank 0" => o => o.Rank = 0,
            "rank -3" => o => o.Rank = -3,
            "batch 0" => o => o.BatchSize = 0,
            "epochs 0" => o => o.Epochs = 0,
            "dropout 1" => o => o.AdapterDropout = 1,
            "lr 0" => o => o.LearningRate = 0,
            "no targets" => o => o.TargetModules = [],
            _ => o => o.MaxSequenceLength = 2,
        };
        var e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(Options(apply)));
        Assert.Contains(option, e.Message + e.ParamName);
    }

    [Theory]
    [InlineData("rank above the layer", "larger than the layer's input width 32")]
    [InlineData("mini_r not dividing", "mini_r = 5 must divide the output width 32")]
    [InlineData("bat not divisible", "bat needs both widths divisible by r = 12")]
    [InlineData("unknown target", "'qurey'")]
    [InlineData("max length above positions", "exceeds the backbone's 64 positions")]
    public void Options_that_do_not_fit_the_backbone_are_rejected_before_training(string change, string message)
    {
        bool trained = false;
        var options = Options(o =>
        {
            o.Progress = _ => trained = true;
            switch (change)
            {
                case "rank above the layer": o.Rank = 40; break;
                case "mini_r not dividing": o.FossilVariant = FossilVariant.Mini; o.MiniRank = 5; break;
                case "bat not divisible": o.FossilVariant = FossilVariant.Bat; o.Rank = 12; break;
                case "unknown target": o.TargetModules = ["qurey"]; break;
                default: o.MaxSequenceLength = 65; break;
            }
        });
        var e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(options).Fit(TwoClasses()));
        Assert.Contains(message, e.Message);
        Assert.False(trained);
    }

    [Fact]
    public void Bad_labels_are_rejected_naming_the_column_and_the_row()
    {
        var trainer = ml.MulticlassClassification.Trainers.FossilTextClassification(Options());
        IDataView raw = ml.Data.LoadFromEnumerable(new[] { new Row { Text = "good", Label = "pos" }, new Row { Text = "bad", Label = "neg" } });
        IDataView noRows = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(ml.Data.LoadFromEnumerable(Array.Empty<Row>()));
        var empty = Assert.Throws<ArgumentException>(() => trainer.Fit(noRows));
        Assert.Contains("no rows", empty.Message);

        var single = Assert.ThrowsAny<ArgumentException>(() => trainer.Fit(Keyed(("good", "pos"), ("great", "pos"))));
        Assert.Contains("'Label'", single.Message);

        IDataView validation = ml.Data.LoadFromEnumerable(new[] { new Row { Text = "fine", Label = "pos" }, new Row { Text = "meh", Label = "neutral" } });
        var unseen = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers
            .FossilTextClassification(Options(o => o.ValidationSet = validation)).Fit(TwoClasses()));
        Assert.Contains("Row 2 of the validation data", unseen.Message);
        Assert.Contains("'neutral'", unseen.Message);

        IDataView regression = ml.Data.LoadFromEnumerable(new[]
        {
            new ScoredRow { Text = "a", Score = 1 }, new ScoredRow { Text = "b", Score = float.NaN }, new ScoredRow { Text = "c", Score = 2 },
        });
        var nan = Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
        {
            Sentence1ColumnName = "Text", Sentence2ColumnName = null, LabelColumnName = "Score",
            Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, MaxSequenceLength = 32, Rank = 8,
        }).Fit(regression));
        Assert.Contains("Row 2", nan.Message);
        Assert.Contains("'Score'", nan.Message);
    }

    [Fact]
    public void A_missing_label_column_and_infinite_regression_labels_are_named()
    {
        IDataView noLabel = ml.Data.LoadFromEnumerable(new[] { new ScoredRow { Text = "a", Score = 1 }, new ScoredRow { Text = "b", Score = 2 } });
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(Options()).Fit(noLabel));
        Assert.Contains("label column 'Label'", missing.Message);
        Assert.Contains("column not found", missing.Message);

        foreach (float infinite in new[] { float.PositiveInfinity, float.NegativeInfinity })
        {
            IDataView regression = ml.Data.LoadFromEnumerable(new[]
            {
                new ScoredRow { Text = "a", Score = 1 }, new ScoredRow { Text = "b", Score = 3 }, new ScoredRow { Text = "c", Score = infinite },
            });
            var e = Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
            {
                Sentence1ColumnName = "Text", Sentence2ColumnName = null, LabelColumnName = "Score",
                Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, MaxSequenceLength = 32, Rank = 8,
            }).Fit(regression));
            Assert.Contains("Row 3 of the training data has a non-finite label", e.Message);
            Assert.Contains("'Score'", e.Message);
        }
    }

    [Fact]
    public void Diverging_training_stops_with_the_epoch_and_step_and_returns_no_model()
    {
        var trainer = ml.MulticlassClassification.Trainers.FossilTextClassification(Options(o =>
        {
            o.LearningRate = 1e30;
            o.MaxGradientNorm = 0;
            o.Epochs = 3;
        }));
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(TwoClasses()));
        Assert.Contains($"epoch {e.Epoch}, step {e.Step}", e.Message);
        Assert.False(double.IsFinite(e.Loss));
    }
}
