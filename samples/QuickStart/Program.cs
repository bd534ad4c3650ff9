// The README's quick start, runnable: fine-tune all-MiniLM-L6-v2 (the default backbone) with FOSSIL adapters on a
// few of the bundled fine-food reviews (label 1 = a five-star review), save the model, load it back and predict.
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil;

var ml = new MLContext(seed: 1);
string trainFile = Path.Combine(AppContext.BaseDirectory, "data", "fine_foods_train.tsv");
IDataView train = ml.Data.LoadFromTextFile<Review>(trainFile, hasHeader: true, allowQuoting: false);
train = ml.Data.TakeRows(train, 128); // a few rows: well under a minute on 2 cores
var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(   // all-MiniLM-L6-v2 + FOSSIL r=64
        labelColumnName: "Label", sentence1ColumnName: "Sentence", epochs: 2, batchSize: 16, learningRate: 2e-3))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"));
ITransformer model = pipeline.Fit(train);
ml.Model.SaveAtomically(model, train.Schema, "model.zip"); // ~1 MB: the backbone is referenced by its SHA-256, not copied
var engine = ml.Model.CreatePredictionEngine<Review, Prediction>(ml.Model.Load("model.zip", out _));
foreach (string review in new[] { "Best coffee ever!", "Stale and bland, never again." })
    Console.WriteLine($"{engine.Predict(new Review { Sentence = review }).PredictedText}  {review}");

/// <summary>A row of the bundled TSV: the review and its label.</summary>
public sealed class Review
{
    /// <summary>The review text.</summary>
    [LoadColumn(0)] public string Sentence { get; set; } = "";
    /// <summary>"1" for a five-star review, "0" otherwise.</summary>
    [LoadColumn(1)] public string Label { get; set; } = "";
}

/// <summary>What the model adds to a row.</summary>
public sealed class Prediction
{
    /// <summary>The probability of each class.</summary>
    public float[] Score { get; set; } = [];
    /// <summary>The predicted label, as text.</summary>
    public string PredictedText { get; set; } = "";
}
