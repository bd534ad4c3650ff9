using System.Globalization;
using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Tests.MLNet;
using Xunit.Abstractions;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxModelSupport;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// The MiniLM FOSSIL classifier fitted on the fine-food reviews (the shared fixture), exported for ONNX Runtime: the ML.NET
/// model in the folder against the TorchSharp model through Model.Load, Transform and PredictionEngine, here and in a
/// serving application that has no libtorch; and the int8 export's accuracy.
/// </summary>
[Collection(MiniLmFineFoodsFixture.Collection)]
public sealed class OnnxRuntimeMiniLmTests(MiniLmFineFoodsFixture fixture, ITestOutputHelper output)
{
    /// <summary>Export folders made once per fixture (float32, int8): exporting MiniLM writes two 90 MB files.</summary>
    static readonly Dictionary<(MiniLmFineFoodsFixture, bool), string> Exports = [];

    string Exported(bool int8)
    {
        lock (Exports)
        {
            if (Exports.TryGetValue((fixture, int8), out string? folder)) return folder;
            folder = Path.Combine(fixture.Folder, int8 ? "onnx-int8" : "onnx");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            fixture.Ml.Model.ExportForOnnxRuntime(fixture.Model, fixture.Train.Schema, folder, quantizeInt8: int8);
            output.WriteLine($"exported ({(int8 ? "int8" : "float32")}) in {clock.Elapsed.TotalSeconds:F1} s: " +
                             string.Join(", ", Directory.GetFiles(folder).Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)} {new FileInfo(f).Length / 1e6:F1} MB")));
            Exports[(fixture, int8)] = folder;
            return folder;
        }
    }

    /// <summary>
    /// The TorchSharp reference: the fixture's model loaded to serve in fp32 (the fixture trains in Auto, bf16 on a CPU
    /// with AVX512-BF16; its export is rebuilt in fp32 from the definition, so fp32 is what it must match).
    /// </summary>
    ITransformer TorchFp32
    {
        get
        {
            lock (Exports)
            {
                if (Fp32References.TryGetValue(fixture, out ITransformer? model)) return model;
                var context = new MLContext(seed: 1);
                context.SetFossilSettings(new FossilSettings { ServingPrecision = Precision.Float32 });
                return Fp32References[fixture] = context.Model.Load(fixture.ModelPath, out _);
            }
        }
    }

    static readonly Dictionary<MiniLmFineFoodsFixture, ITransformer> Fp32References = [];

    [Fact]
    public void The_float32_ML_NET_model_gives_the_TorchSharp_labels_and_scores_through_Model_Load_Transform_and_PredictionEngine()
    {
        string zip = Path.Combine(Exported(int8: false), "mlnet-model.zip");
        var serving = new MLContext(seed: 7);
        ITransformer loaded = serving.Model.Load(zip, out _);
        Assert.Equal(["ValueToKeyMappingTransformer", "FossilOnnxRuntimeTransformer", "KeyToValueMappingTransformer"], TransformerTypes(loaded));

        IDataView expected = TorchFp32.Transform(fixture.Test), actual = loaded.Transform(fixture.Test);
        Assert.Equal(Describe(expected.Schema), Describe(actual.Schema));
        float diff = MaxDiff(Scores(expected, "Score"), Scores(actual, "Score"));
        string[] torchLabels = Texts(expected, "PredictedLabelText"), onnxLabels = Texts(actual, "PredictedLabelText"), gold = Texts(fixture.Test, "Label");
        double agreement = Agreement(torchLabels, onnxLabels);
        output.WriteLine($"Transform, {gold.Length} reviews: labels identical on {agreement:P2}; max |p ONNX - p TorchSharp| = {diff:G3}; " +
                         $"accuracy TorchSharp {Agreement(torchLabels, gold):P2}, ONNX Runtime {Agreement(onnxLabels, gold):P2}");
        Assert.True(agreement >= 0.995, $"labels identical on only {agreement:P2}");
        Assert.True(diff <= ScoreTolerance, $"scores differ by {diff:G3}");

        var torch = fixture.Ml.Model.CreatePredictionEngine<MiniLmFineFoodsTests.Review, MiniLmFineFoodsTests.Prediction>(TorchFp32);
        var onnx = serving.Model.CreatePredictionEngine<MiniLmFineFoodsTests.Review, MiniLmFineFoodsTests.Prediction>(loaded);
        foreach (MiniLmFineFoodsTests.Review review in fixture.Ml.Data.CreateEnumerable<MiniLmFineFoodsTests.Review>(fixture.Test, reuseRowObject: false).Take(24))
        {
            var (a, b) = (torch.Predict(review), onnx.Predict(review));
            Assert.Equal(a.PredictedLabelText, b.PredictedLabelText);
            Assert.True(MaxDiff([a.Score], [b.Score]) <= ScoreTolerance, $"PredictionEngine scores differ by {MaxDiff([a.Score], [b.Score]):G3}");
        }
        ((IDisposable)((IEnumerable<ITransformer>)loaded).ElementAt(1)).Dispose();
    }

    [Fact]
    public void The_int8_ML_NET_model_keeps_the_accuracy_and_most_labels()
    {
        string zip = Path.Combine(Exported(int8: true), "mlnet-model.zip");
        long fp32Bytes = new FileInfo(Path.Combine(Exported(int8: false), "model.onnx")).Length, int8Bytes = new FileInfo(Path.Combine(Path.GetDirectoryName(zip)!, "model.onnx")).Length;
        ITransformer loaded = new MLContext(seed: 8).Model.Load(zip, out _);
        string[] torchLabels = Texts(TorchFp32.Transform(fixture.Test), "PredictedLabelText");
        string[] int8Labels = Texts(loaded.Transform(fixture.Test), "PredictedLabelText");
        string[] gold = Texts(fixture.Test, "Label");
        double torchAccuracy = Agreement(torchLabels, gold), int8Accuracy = Agreement(int8Labels, gold), agreement = Agreement(torchLabels, int8Labels);
        output.WriteLine($"int8, {gold.Length} reviews: accuracy {int8Accuracy:P2} vs TorchSharp fp32 {torchAccuracy:P2}; labels identical on {agreement:P2}; " +
                         $"model.onnx {int8Bytes / 1e6:F1} MB vs {fp32Bytes / 1e6:F1} MB");
        // 200 rows: one row is half a point. The target (within 1 point) is measured on all 500 test rows by the benchmarks.
        Assert.True(Math.Abs(int8Accuracy - torchAccuracy) <= 0.03, $"int8 accuracy {int8Accuracy:P2} vs {torchAccuracy:P2}");
        Assert.True(agreement >= 0.9, $"int8 labels identical on only {agreement:P2}");
        // The encoder's 36 linear layers shrink 4x; the embeddings (half of MiniLM) stay float32.
        Assert.True(int8Bytes < 0.65 * fp32Bytes, $"int8 graph {int8Bytes} bytes vs float32 {fp32Bytes}");
        ((IDisposable)((IEnumerable<ITransformer>)loaded).ElementAt(1)).Dispose();
    }

    [Fact]
    public void A_serving_app_without_libtorch_loads_the_export_and_predicts_as_the_TorchSharp_model()
    {
        // The app's build output carries ONNX Runtime and no libtorch (its only native torch file is TorchSharp's small
        // wrapper, which nothing loads).
        string app = Path.GetDirectoryName(ConsumerPath())!;
        string[] files = [.. Directory.EnumerateFiles(app, "*", SearchOption.AllDirectories).Select(Path.GetFileName)!];
        Assert.DoesNotContain(files, f => f!.StartsWith("libtorch", StringComparison.Ordinal) || f.StartsWith("libc10", StringComparison.Ordinal));
        Assert.Contains("libonnxruntime.so", files);
        Assert.DoesNotContain("libtorch", File.ReadAllText(Path.ChangeExtension(ConsumerPath(), ".deps.json")), StringComparison.Ordinal);

        string folder = Exported(int8: false);
        string input = Path.Combine(fixture.Folder, "consumer-input.tsv");
        MiniLmFineFoodsTests.Review[] reviews = [.. fixture.Ml.Data.CreateEnumerable<MiniLmFineFoodsTests.Review>(fixture.Test, reuseRowObject: false).Take(40)];
        WriteTsv(input, ["Sentence", "Label"], reviews.Select(r => new[] { r.Sentence, r.Label }));
        string result = Path.Combine(fixture.Folder, "consumer-output.json");
        (int exit, string log) = RunConsumer("predict", Path.Combine(folder, "mlnet-model.zip"), input, result);
        Assert.True(exit == 0, $"the consumer app failed ({exit}):\n{log}");

        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(result));
        JsonElement root = json.RootElement;
        string[] assemblies = [.. root.GetProperty("assemblies").EnumerateArray().Select(a => a.GetString()!)];
        string[] native = [.. root.GetProperty("nativeLibraries").EnumerateArray().Select(a => a.GetString()!)];
        output.WriteLine($"consumer app: native libraries {string.Join(", ", native)}; assemblies with torch in their name: " +
                         string.Join(", ", assemblies.Where(a => a.Contains("Torch", StringComparison.OrdinalIgnoreCase)).DefaultIfEmpty("none")));
        Assert.Contains("Microsoft.ML.Fossil", assemblies);
        // TorchSharp's managed assembly (a dependency of the package) is loaded by ML.NET itself: Model.Load registers the
        // library with its component catalog, which lists every type of the assembly (Module.GetTypes), and the network
        // modules derive from TorchSharp's. Its native side (libLibTorchSharp.so, libtorch) is never loaded.
        Assert.Contains("libonnxruntime.so", native);
        Assert.DoesNotContain(native, n => n.Contains("torch", StringComparison.OrdinalIgnoreCase));

        var torch = fixture.Ml.Model.CreatePredictionEngine<MiniLmFineFoodsTests.Review, MiniLmFineFoodsTests.Prediction>(TorchFp32);
        MiniLmFineFoodsTests.Prediction[] expected = [.. reviews.Select(torch.Predict)];
        foreach (string source in (string[])["transform", "engine"])
        {
            JsonElement[] rows = [.. root.GetProperty(source).EnumerateArray()];
            Assert.Equal(reviews.Length, rows.Length);
            for (int i = 0; i < rows.Length; i++)
            {
                Assert.Equal(expected[i].PredictedLabelText, rows[i].GetProperty("PredictedLabelText").GetString());
                float[] scores = [.. rows[i].GetProperty("Score").EnumerateArray().Select(v => float.Parse(v.GetString()!, CultureInfo.InvariantCulture))];
                Assert.True(MaxDiff([expected[i].Score], [scores]) <= ScoreTolerance, $"{source} row {i}: scores differ by {MaxDiff([expected[i].Score], [scores]):G3}");
            }
        }
    }
}
