using System.Diagnostics;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.Benchmarks.Macro;

/// <summary>What an accuracy child process is asked to train and evaluate.</summary>
internal sealed class AccuracySpec
{
    public string Task { get; set; } = "";
    public string Precision { get; set; } = "fp32";
    public int Seed { get; set; }
}

/// <summary>
/// all-MiniLM-L6-v2 with FOSSIL r=64 trained through the public API (the trainer's own defaults, only the precision set)
/// on the bundled data, in the three Glue shapes, and evaluated on the held-out rows: the fine-food reviews as SST-2
/// (sentiment, the Glue runner's embedded default: 3 epochs, batch 16, 96 tokens, learning rate 2e-3), the review pairs
/// as MRPC (do both reviews carry the same label?) and as STS-B (regression on their mean positivity, 0 to 5). Every
/// training row and every held-out row is used (800 / 500).
/// </summary>
internal static class AccuracyWorkload
{
    public const string Sst2 = "sst2-shape", Mrpc = "mrpc-shape", Stsb = "stsb-shape";

    public static readonly IReadOnlyList<string> Tasks = [Sst2, Mrpc, Stsb];

    public static string Describe(string task) => task switch
    {
        Sst2 => "reviews, sentiment (SST-2 shape; the Glue runner's embedded default)",
        Mrpc => "review pairs, same label? (MRPC shape)",
        Stsb => "review pairs, mean positivity 0-5 (STS-B shape)",
        _ => task,
    };

    sealed class Row
    {
        public string Sentence1 { get; set; } = "";
        public string? Sentence2 { get; set; }
        public string Label { get; set; } = "";
        public float Score { get; set; }
    }

    static IDataView Load(MLContext ml, string task, string split)
    {
        bool pairs = task != Sst2;
        string file = BenchData.DataFile(pairs ? $"fine_foods_pairs_{split}.tsv" : $"fine_foods_{split}.tsv");
        TextLoader.Column[] columns = pairs
            ? [new("Sentence1", DataKind.String, 0), new("Sentence2", DataKind.String, 1), new("Label", DataKind.String, 2), new("Score", DataKind.Single, 3)]
            : [new("Sentence1", DataKind.String, 0), new("Label", DataKind.String, 1)];
        return ml.Data.CreateTextLoader(columns, separatorChar: '\t', hasHeader: true, allowQuoting: false).Load(file);
    }

    public static AccuracyResult Run(AccuracySpec spec)
    {
        var result = new AccuracyResult { Task = spec.Task, Precision = spec.Precision, Seed = spec.Seed, Epochs = 3, BatchSize = 16 };
        var ml = new MLContext(seed: spec.Seed);
        IDataView train = Load(ml, spec.Task, "train"), test = Load(ml, spec.Task, "test");
        result.TrainRows = train.GetColumn<string>("Sentence1").Count();
        result.TestRows = test.GetColumn<string>("Sentence1").Count();
        result.MaxLength = spec.Task == Sst2 ? 96 : 128;
        result.LearningRate = spec.Task == Stsb ? 5e-3 : 2e-3;
        Action<TrainingProgress> progress = p =>
        {
            if (p.Step == p.StepsPerEpoch && p.Validation is null) result.EpochLosses.Add(p.Loss);
        };
        var clock = Stopwatch.StartNew();
        if (spec.Task == Stsb)
        {
            var trainer = ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
            {
                Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "Score",
                Backbone = BackboneSource.MiniLM(BenchModels.MiniLmAssemblyPath), Epochs = result.Epochs, BatchSize = result.BatchSize,
                MaxSequenceLength = result.MaxLength, LearningRate = result.LearningRate, Precision = BenchModels.Option(spec.Precision), Progress = progress,
            });
            using FossilSentenceSimilarityTransformer model = trainer.Fit(train);
            result.TrainSeconds = clock.Elapsed.TotalSeconds;
            float[] predicted = [.. model.Transform(test).GetColumn<float>("Score")];
            float[] labels = [.. test.GetColumn<float>("Score")];
            double pearson = Pearson(predicted, labels), spearman = Pearson(Ranks(predicted), Ranks(labels));
            result.PrimaryMetric = "pearson";
            result.Primary = 100 * pearson;
            result.Metrics["pearson"] = 100 * pearson;
            result.Metrics["spearman"] = 100 * spearman;
            result.Metrics["mse"] = predicted.Zip(labels).Average(p => (p.First - p.Second) * (p.First - p.Second));
        }
        else
        {
            var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
                {
                    Sentence1ColumnName = "Sentence1", Sentence2ColumnName = spec.Task == Mrpc ? "Sentence2" : null, LabelColumnName = "Label",
                    Backbone = BackboneSource.MiniLM(BenchModels.MiniLmAssemblyPath), Epochs = result.Epochs, BatchSize = result.BatchSize,
                    MaxSequenceLength = result.MaxLength, LearningRate = result.LearningRate, Precision = BenchModels.Option(spec.Precision), Progress = progress,
                }));
            ITransformer model = pipeline.Fit(train);
            result.TrainSeconds = clock.Elapsed.TotalSeconds;
            MulticlassClassificationMetrics metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
            result.PrimaryMetric = "accuracy";
            result.Primary = 100 * metrics.MicroAccuracy;
            result.Metrics["accuracy"] = 100 * metrics.MicroAccuracy;
            result.Metrics["log_loss"] = metrics.LogLoss;
            ((IDisposable)model).Dispose();
        }
        Console.Error.WriteLine($"[accuracy {spec.Task} {spec.Precision} seed {spec.Seed}] {result.PrimaryMetric} {result.Primary:F2}, trained in {result.TrainSeconds:F0} s");
        return result;
    }

    static double Pearson(float[] x, float[] y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxy / Math.Sqrt(sxx * syy);
    }

    static float[] Ranks(float[] values)
    {
        int[] order = [.. Enumerable.Range(0, values.Length).OrderBy(i => values[i])];
        var ranks = new float[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            for (int k = start; k <= end; k++) ranks[order[k]] = (start + end) / 2f + 1;
            start = end + 1;
        }
        return ranks;
    }
}
