using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Checkpoints;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>One loaded model serving several threads: each with its own PredictionEngine, and concurrent Transform calls.</summary>
public sealed class ConcurrencyTests : IDisposable
{
    readonly TinyBackbone backbone = new();
    readonly string folder = Directory.CreateTempSubdirectory("fossil-concurrency-").FullName;

    public void Dispose()
    {
        backbone.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    public sealed class Pair
    {
        public string Sentence1 { get; set; } = "";
        public string Sentence2 { get; set; } = "";
        public string SameLabel { get; set; } = "";
        public float Positivity { get; set; }
    }

    public sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void Eight_threads_with_their_own_PredictionEngine_match_a_single_thread()
    {
        const int Threads = 8, PerThread = 100;
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        ITransformer trained = ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
                Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48, Rank = 8,
            })).Fit(train);
        string path = Path.Combine(folder, "model.zip");
        ml.Model.Save(trained, train.Schema, path);
        ITransformer model = ml.Model.Load(path, out _);

        Pair[] inputs = [.. ml.Data.CreateEnumerable<Pair>(FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", PerThread), reuseRowObject: false)];
        var single = ml.Model.CreatePredictionEngine<Pair, Prediction>(model, new PredictionEngineOptions { OwnsTransformer = false });
        float[][] expected = [.. inputs.Select(i => single.Predict(i).Score)];

        var results = new float[Threads][][];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            var engine = ml.Model.CreatePredictionEngine<Pair, Prediction>(model, new PredictionEngineOptions { OwnsTransformer = false });
            // Each thread walks the inputs from a different offset, so threads work on different rows at once.
            var mine = new float[PerThread][];
            for (int k = 0; k < PerThread; k++)
            {
                int i = (k + t * 13) % PerThread;
                mine[i] = engine.Predict(inputs[i]).Score;
            }
            results[t] = mine;
        });
        foreach (float[][] threadResult in results)
            for (int i = 0; i < PerThread; i++)
                Assert.Equal(expected[i].Select(BitConverter.SingleToInt32Bits), threadResult[i].Select(BitConverter.SingleToInt32Bits));

        // Concurrent Transform calls over the same model give the single-call scores.
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", PerThread);
        float[][] batched = [.. model.Transform(test).GetColumn<float[]>("Score")];
        float[][][] concurrent = new float[4][][];
        Parallel.For(0, 4, k => concurrent[k] = [.. model.Transform(test).GetColumn<float[]>("Score")]);
        foreach (float[][] run in concurrent)
            Assert.Equal(batched.SelectMany(s => s).Select(BitConverter.SingleToInt32Bits), run.SelectMany(s => s).Select(BitConverter.SingleToInt32Bits));
        ((IDisposable)model).Dispose();
    }
}
