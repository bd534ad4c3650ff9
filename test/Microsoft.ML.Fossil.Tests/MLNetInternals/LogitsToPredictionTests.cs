using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNetInternals;

namespace Microsoft.ML.Fossil.Tests.MLNetInternals;

/// <summary>
/// The library's proof component in ML.NET pipelines, in this process: schema promises, the
/// multiclass output conventions, Model.Save/Model.Load, PredictionEngine and Evaluate.
/// </summary>
public class LogitsToPredictionTests
{
    internal sealed class Row
    {
        public string Label { get; set; } = "";

        [VectorType(3)]
        public float[] Logits { get; set; } = [];
    }

    internal sealed class Prediction
    {
        public string PredictedLabelText { get; set; } = "";

        public float[] Score { get; set; } = [];
    }

    // Class order is the key order MapValueToKey assigns: first occurrence.
    internal static readonly string[] Classes = ["cat", "dog", "bird"];

    internal static Row[] Rows() =>
    [
        new() { Label = "cat", Logits = [2f, 0.5f, -1f] },
        new() { Label = "dog", Logits = [0.25f, 1.5f, 0.125f] },
        new() { Label = "bird", Logits = [-3f, 0f, 3.75f] },
        new() { Label = "cat", Logits = [0f, 1f, 0f] },        // wrong: predicts dog
        new() { Label = "dog", Logits = [1f, 1f, 1f] },        // tie: first class wins
        new() { Label = "bird", Logits = [-0.5f, -0.75f, 10f] },
    ];

    internal static IEstimator<ITransformer> Pipeline(MLContext ml) =>
        ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label")
            .Append(new LogitsToPredictionEstimator("Logits", labelColumnName: "LabelKey"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelText", "PredictedLabel"));

    static double[] SoftmaxInDouble(float[] logits)
    {
        double max = logits.Max();
        double[] e = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    static string[] TextVector(DataViewSchema.Annotations annotations, string kind)
    {
        VBuffer<ReadOnlyMemory<char>> values = default;
        annotations.GetValue(kind, ref values);
        return values.DenseValues().Select(v => v.ToString()).ToArray();
    }

    static T Annotation<T>(DataViewSchema.Annotations annotations, string kind)
    {
        T value = default!;
        annotations.GetValue(kind, ref value);
        return value;
    }

    [Fact]
    public void Output_follows_MLNet_multiclass_conventions_and_values_are_softmax_and_argmax()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Rows());
        ITransformer model = Pipeline(ml).Fit(data);
        IDataView output = model.Transform(data);

        DataViewSchema.Column score = output.Schema["Score"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 3), score.Type);
        Assert.Equal(Classes, TextVector(score.Annotations, "SlotNames"));
        Assert.Equal(Classes, TextVector(score.Annotations, "TrainingLabelValues"));
        Assert.Equal("MulticlassClassification", Annotation<ReadOnlyMemory<char>>(score.Annotations, "ScoreColumnKind").ToString());
        Assert.Equal("Score", Annotation<ReadOnlyMemory<char>>(score.Annotations, "ScoreValueKind").ToString());
        Assert.Equal(1u, Annotation<uint>(score.Annotations, "ScoreColumnSetId"));

        DataViewSchema.Column predicted = output.Schema["PredictedLabel"];
        Assert.Equal(new KeyDataViewType(typeof(uint), 3), predicted.Type);
        Assert.Equal(Classes, TextVector(predicted.Annotations, "KeyValues"));
        Assert.Equal("PredictedLabel", Annotation<ReadOnlyMemory<char>>(predicted.Annotations, "ScoreValueKind").ToString());

        Row[] rows = Rows();
        float[][] scores = output.GetColumn<float[]>("Score").ToArray();
        uint[] keys = output.GetColumn<uint>("PredictedLabel").ToArray();
        string[] texts = output.GetColumn<string>("PredictedLabelText").ToArray();
        string[] expected = ["cat", "dog", "bird", "dog", "cat", "bird"];
        for (int i = 0; i < rows.Length; i++)
        {
            double[] reference = SoftmaxInDouble(rows[i].Logits);
            for (int c = 0; c < 3; c++) Assert.Equal(reference[c], scores[i][c], 6);
            Assert.Equal((uint)Array.IndexOf(Classes, expected[i]) + 1, keys[i]);
            Assert.Equal(expected[i], texts[i]);
        }
    }

    [Fact]
    public void GetOutputSchema_promises_what_Fit_then_Transform_delivers()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Rows());
        IEstimator<ITransformer> pipeline = Pipeline(ml);
        SchemaShape promised = pipeline.GetOutputSchema(SchemaShapes.FromSchema(data.Schema));
        SchemaShape actual = SchemaShapes.FromSchema(pipeline.Fit(data).Transform(data).Schema);

        foreach (string name in new[] { "Score", "PredictedLabel", "PredictedLabelText" })
        {
            Assert.True(SchemaShapes.TryFindColumn(promised, name, out SchemaShape.Column p), name);
            Assert.True(SchemaShapes.TryFindColumn(actual, name, out SchemaShape.Column a), name);
            Assert.True(SchemaShapes.IsCompatible(p, a), $"{name}: promised {SchemaShapes.Describe(p)}, got {SchemaShapes.Describe(a)}");
        }
    }

    [Fact]
    public void Model_Save_and_Model_Load_round_trip_gives_identical_output_and_a_working_PredictionEngine()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Rows());
        ITransformer model = Pipeline(ml).Fit(data);
        using var zip = new MemoryStream();
        ml.Model.Save(model, data.Schema, zip);
        zip.Position = 0;

        var loadingContext = new MLContext(seed: 2);
        ITransformer loaded = loadingContext.Model.Load(zip, out DataViewSchema inputSchema);
        Assert.Equal(data.Schema.Select(c => (c.Name, c.Type)), inputSchema.Select(c => (c.Name, c.Type)));
        Assert.Contains(((TransformerChain<ITransformer>)loaded).OfType<LogitsToPredictionTransformer>(), t => t.ClassNames.SequenceEqual(Classes));

        float[][] before = model.Transform(data).GetColumn<float[]>("Score").ToArray();
        float[][] after = loaded.Transform(loadingContext.Data.LoadFromEnumerable(Rows())).GetColumn<float[]>("Score").ToArray();
        Assert.Equal(before.Length, after.Length);
        for (int i = 0; i < before.Length; i++)
            Assert.Equal(before[i].Select(BitConverter.SingleToInt32Bits), after[i].Select(BitConverter.SingleToInt32Bits));

        var engine = loadingContext.Model.CreatePredictionEngine<Row, Prediction>(loaded);
        Row[] rows = Rows();
        for (int i = 0; i < rows.Length; i++)
        {
            Prediction p = engine.Predict(rows[i]);
            Assert.Equal(before[i].Select(BitConverter.SingleToInt32Bits), p.Score.Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Equal("bird", engine.Predict(new Row { Logits = [0f, 0f, 1f] }).PredictedLabelText);
    }

    [Fact]
    public void The_component_alone_saves_and_loads_through_the_component_catalog()
    {
        var ml = new MLContext(seed: 1);
        var transformer = new LogitsToPredictionEstimator("Logits", classNames: ["a", "b", "c"], scoreColumnName: "S", predictedLabelColumnName: "P")
            .Fit(ml.Data.LoadFromEnumerable(Rows()));
        using var zip = new MemoryStream();
        FossilModelFiles.Save(ml, transformer, zip, "Component");
        zip.Position = 0;

        var loaded = Assert.IsType<LogitsToPredictionTransformer>(FossilModelFiles.Load<ITransformer>(new MLContext(seed: 3), zip, "Component"));
        Assert.Equal(["a", "b", "c"], loaded.ClassNames);
        Assert.Equal(("Logits", "S", "P"), (loaded.LogitsColumnName, loaded.ScoreColumnName, loaded.PredictedLabelColumnName));
    }

    [Fact]
    public void Evaluate_accepts_the_output_as_a_multiclass_classifier_output()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Rows());
        IDataView output = Pipeline(ml).Fit(data).Transform(data);
        MulticlassClassificationMetrics metrics = ml.MulticlassClassification.Evaluate(output, labelColumnName: "LabelKey");
        Assert.Equal(4.0 / 6.0, metrics.MicroAccuracy, 9);
        Assert.Equal(3, metrics.PerClassLogLoss.Count);
    }

    [Fact]
    public void A_second_scorer_gets_the_next_score_column_set_id()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Rows());
        IDataView first = Pipeline(ml).Fit(data).Transform(data);
        IDataView second = new LogitsToPredictionEstimator("Logits", classNames: Classes, scoreColumnName: "Score2", predictedLabelColumnName: "Predicted2")
            .Fit(first).Transform(first);
        Assert.Equal(2u, Annotation<uint>(second.Schema["Score2"].Annotations, "ScoreColumnSetId"));
    }

    [Fact]
    public void Schema_mismatches_are_reported_like_MLNet_does()
    {
        var ml = new MLContext(seed: 1);
        IDataView data = ml.Data.LoadFromEnumerable(Rows());
        // Text label (no key): rejected by the schema promise before fitting.
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new LogitsToPredictionEstimator("Logits", labelColumnName: "Label").GetOutputSchema(SchemaShapes.FromSchema(data.Schema)));
        Assert.Contains("Label", ex.Message);
        // Four class names for a three-wide logits vector.
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new LogitsToPredictionEstimator("Logits", classNames: ["a", "b", "c", "d"]).Fit(data));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new LogitsToPredictionEstimator("Missing", classNames: Classes).Fit(data));
    }

    [Fact]
    public void Softmax_and_argmax_handle_extreme_and_missing_values()
    {
        float[] probabilities = new float[3];
        ClassificationOutput.Softmax([1000f, 0f, -1000f], probabilities);
        Assert.Equal([1f, 0f, 0f], probabilities);
        Assert.Equal(0u, ClassificationOutput.ArgMaxKey([float.NaN, float.NaN]));
        Assert.Equal(2u, ClassificationOutput.ArgMaxKey([float.NaN, 3f, 1f]));
        Assert.Equal(0u, ClassificationOutput.ArgMaxKey([]));
    }
}
