using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Native;
using Microsoft.ML.Fossil.Tests.Contracts;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// Precision through the public surface, on a tiny RoBERTa with the real roberta-base tokenizer: a model trained in one
/// precision serves in another (chosen at load), the saved zip does not depend on either, fp16 on the CPU is refused
/// naming the option, and Auto reads the CPU's capabilities correctly.
/// </summary>
public sealed class PrecisionTests(ITestOutputHelper output) : IDisposable
{
    readonly TinyBackbone backbone = new();
    readonly string work = Directory.CreateTempSubdirectory("fossil-precision-").FullName;

    public void Dispose()
    {
        backbone.Dispose();
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
    }

    /// <summary>Largest difference of a class probability between bf16 and fp32 serving of the same tiny model (measured 1.3e-4; its probabilities sit near 0.5).</summary>
    const float ScoreTolerance = 0.03f;

    FossilTextClassificationTrainer.Options Options(Precision precision, AdapterKind kind = AdapterKind.Fossil) => new()
    {
        Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
        Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48,
        Rank = 8, LearningRate = kind == AdapterKind.FullFineTuning ? 1e-3 : 1e-2, Seed = 7, Precision = precision, AdapterKind = kind,
    };

    static IEstimator<ITransformer> Pipeline(MLContext ml, FossilTextClassificationTrainer.Options options) =>
        ml.Transforms.Conversion.MapValueToKey("SameLabel").Append(ml.MulticlassClassification.Trainers.FossilTextClassification(options));

    static FossilTextClassificationTransformer FossilOf(ITransformer model) =>
        ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();

    static MLContext Serving(Precision precision, bool merge = true)
    {
        var context = new MLContext(seed: 1);
        context.SetFossilSettings(new FossilSettings { ServingPrecision = precision, MergeAdaptersOnLoad = merge });
        return context;
    }

    static float[] Scores(ITransformer model, IDataView data) => [.. model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s)];

    static float MaxDifference(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second));

    static T Inner<T>(Exception e) where T : Exception
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
            if (current is T found) return found;
        throw new Xunit.Sdk.XunitException($"expected a {typeof(T).Name} inside {e}");
    }

    [Theory]
    [InlineData(AdapterKind.Fossil)]
    [InlineData(AdapterKind.FullFineTuning)]
    public void A_model_trained_in_bf16_serves_in_fp32_and_one_trained_in_fp32_serves_in_bf16(AdapterKind kind)
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 48);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        var trained = new Dictionary<Precision, (ITransformer Model, string Zip)>();
        foreach (Precision precision in (Precision[])[Precision.Float32, Precision.BFloat16])
        {
            ITransformer model = Pipeline(ml, Options(precision, kind)).Fit(train);
            Assert.Equal(precision == Precision.Float32 ? "fp32" : "bf16", FossilOf(model).TrainingSummary!["precision"]!.GetValue<string>());
            string zip = Path.Combine(work, $"{kind}-{precision}.zip");
            ml.Model.Save(model, train.Schema, zip);
            trained[precision] = (model, zip);
        }
        foreach (var (trainedIn, (model, zip)) in trained)
        {
            float[] fitted = Scores(model, test);
            float[] fp32 = Scores(Serving(Precision.Float32).Model.Load(zip, out _), test);
            float[] bf16 = Scores(Serving(Precision.BFloat16).Model.Load(zip, out _), test);
            float[] bf16Unmerged = Scores(Serving(Precision.BFloat16, merge: false).Model.Load(zip, out _), test);
            output.WriteLine($"{kind} trained in {trainedIn}: served in fp32 vs bf16 max probability difference {MaxDifference(fp32, bf16):E2}, " +
                             $"bf16 merged vs unmerged {MaxDifference(bf16, bf16Unmerged):E2}, fitted vs served in its own precision " +
                             $"{MaxDifference(fitted, trainedIn == Precision.Float32 ? fp32 : bf16Unmerged):E2}");
            Assert.All(fp32.Concat(bf16), v => Assert.True(float.IsFinite(v)));
            Assert.True(MaxDifference(fp32, bf16) < ScoreTolerance, $"fp32 vs bf16 serving: {MaxDifference(fp32, bf16)}");
            Assert.True(MaxDifference(bf16, bf16Unmerged) < ScoreTolerance, $"bf16 merged vs unmerged: {MaxDifference(bf16, bf16Unmerged)}");
            Assert.True(MaxDifference(fp32, bf16) > 0, "bf16 serving gave fp32's scores bit for bit: it did not run in bf16");
            // The fitted model serves in its training precision; loaded unmerged in that precision it computes the same.
            if (kind == AdapterKind.FullFineTuning || trainedIn == Precision.BFloat16)
                Assert.Equal(fitted, trainedIn == Precision.Float32 ? fp32 : bf16Unmerged);
        }
        // Both trained the same model up to rounding.
        float[] a = Scores(Serving(Precision.Float32).Model.Load(trained[Precision.Float32].Zip, out _), test);
        float[] b = Scores(Serving(Precision.Float32).Model.Load(trained[Precision.BFloat16].Zip, out _), test);
        output.WriteLine($"{kind}: trained in fp32 vs trained in bf16, both served in fp32: max probability difference {MaxDifference(a, b):E2}");
        Assert.True(MaxDifference(a, b) < 0.1f, $"fp32- and bf16-trained models differ by {MaxDifference(a, b)}");
    }

    [Fact]
    public void The_saved_zip_does_not_depend_on_the_serving_precision_embedded_backbone_included()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        ITransformer model = Pipeline(ml, Options(Precision.BFloat16)).Fit(train);
        string zip = Path.Combine(work, "trained-bf16.zip");
        ml.Model.Save(model, train.Schema, zip);
        // Trained in bf16, the trained tensors are still fp32 (the masters).
        using (ZipArchive archive = ZipFile.OpenRead(zip))
        {
            ZipArchiveEntry entry = archive.Entries.Single(e => e.FullName.EndsWith("trained.safetensors", StringComparison.Ordinal));
            using var reader = new BinaryReader(entry.Open());
            long headerLength = reader.ReadInt64();
            var header = JsonNode.Parse(reader.ReadBytes((int)headerLength))!.AsObject();
            Assert.All(header.Where(p => p.Key != "__metadata__"), p => Assert.Equal("F32", p.Value!["dtype"]!.GetValue<string>()));
        }
        // The fitted (bf16) model and loads in fp32 and bf16 save the same entries, with and without the backbone embedded.
        var saved = new List<(string Name, SortedDictionary<string, string> Entries)>();
        foreach (bool embed in (bool[])[false, true])
        {
            FossilOf(model).EmbedBackbone = embed;
            string fitted = Path.Combine(work, $"fitted-{embed}.zip");
            ml.Model.Save(model, train.Schema, fitted);
            saved.Add(($"fitted embed={embed}", ModelContract.Entries(fitted)));
            foreach (Precision serving in (Precision[])[Precision.Float32, Precision.BFloat16])
            {
                MLContext context = Serving(serving);
                ITransformer loaded = context.Model.Load(fitted, out DataViewSchema schema);
                string again = Path.Combine(work, $"resaved-{embed}-{serving}.zip");
                context.Model.Save(loaded, schema, again);
                saved.Add(($"loaded in {serving}, embed={embed}", ModelContract.Entries(again)));
                // And once more from the loaded copy (an embedded model served in bf16 keeps the entry it came with).
                ITransformer reloaded = context.Model.Load(again, out DataViewSchema schema2);
                string third = Path.Combine(work, $"resaved2-{embed}-{serving}.zip");
                context.Model.Save(reloaded, schema2, third);
                saved.Add(($"reloaded in {serving}, embed={embed}", ModelContract.Entries(third)));
            }
        }
        foreach (var (name, entries) in saved) output.WriteLine($"{name}: {string.Join(", ", entries.Select(e => $"{e.Key}={e.Value[..8]}"))}");
        foreach (bool embed in (bool[])[false, true])
        {
            var group = saved.Where(s => s.Name.EndsWith($"embed={embed}", StringComparison.Ordinal)).ToList();
            Assert.All(group, s => Assert.Equal(group[0].Entries, s.Entries));
        }
        Assert.Contains(saved, s => s.Entries.Keys.Any(k => k.EndsWith("backbone.safetensors", StringComparison.Ordinal)));
    }

    [Fact]
    public void Float16_on_the_cpu_is_refused_naming_the_option()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        var training = Assert.Throws<ArgumentException>(() => Pipeline(ml, Options(Precision.Float16)).Fit(train));
        output.WriteLine(training.Message);
        Assert.Contains("FossilTrainerOptions.Precision", training.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA", training.Message, StringComparison.Ordinal);

        ITransformer model = Pipeline(ml, Options(Precision.Float32)).Fit(train);
        string zip = Path.Combine(work, "model.zip");
        ml.Model.Save(model, train.Schema, zip);
        Exception loading = Assert.ThrowsAny<Exception>(() => Serving(Precision.Float16).Model.Load(zip, out _));
        ArgumentException inner = Inner<ArgumentException>(loading);
        output.WriteLine(inner.Message);
        Assert.Contains("FossilSettings.ServingPrecision", inner.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_picks_bf16_exactly_when_the_cpu_has_avx512_bf16_or_amx()
    {
        PrecisionSupport.CpuBFloat16 aten = PrecisionSupport.CpuSupport;
        PrecisionSupport.CpuBFloat16 cpuid = PrecisionSupport.ReadCpuid();
        output.WriteLine($"libtorch: {aten}; cpuid: {cpuid}; Auto -> {PrecisionSupport.Resolve(Precision.Auto, CPU, "test")}");
        Assert.Equal("libtorch", aten.Source);   // ATen's export is found in the libtorch this project ships with
        Assert.Equal(aten.Native ? ScalarType.BFloat16 : ScalarType.Float32, PrecisionSupport.Resolve(Precision.Auto, CPU, "test"));
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            Assert.Equal(aten.Avx512Bf16, cpuid.Avx512Bf16);
            Assert.Equal(aten.Amx, cpuid.Amx);
        }
        if (File.Exists("/proc/cpuinfo"))
        {
            string flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
            string[] words = flags.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(words.Contains("avx512_bf16"), aten.Avx512Bf16);
            Assert.Equal(words.Contains("amx_tile"), aten.Amx);
        }
        Assert.Equal(ScalarType.Float32, PrecisionSupport.Resolve(Precision.Float32, CPU, "test"));
        Assert.Equal(ScalarType.BFloat16, PrecisionSupport.Resolve(Precision.BFloat16, CPU, "test"));
        Assert.Equal(ScalarType.Float16, PrecisionSupport.Resolve(Precision.Float16, new Device(TorchSharp.DeviceType.CUDA, 0), "test"));
    }

    [Theory]
    [InlineData("auto", Precision.Auto)]
    [InlineData("fp32", Precision.Float32)]
    [InlineData("BF16", Precision.BFloat16)]
    [InlineData("bfloat16", Precision.BFloat16)]
    [InlineData(" fp16 ", Precision.Float16)]
    [InlineData("Float32", Precision.Float32)]
    public void The_serving_precision_variable_reads_short_and_enum_names(string text, Precision expected) =>
        Assert.Equal(expected, FossilSettings.ParsePrecision(text, FossilSettings.ServingPrecisionVariable));

    [Fact]
    public void A_bad_serving_precision_variable_names_the_variable_and_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => FossilSettings.ParsePrecision("half", FossilSettings.ServingPrecisionVariable));
        Assert.Contains("FOSSIL_SERVING_PRECISION", e.Message, StringComparison.Ordinal);
        Assert.Contains("'half'", e.Message, StringComparison.Ordinal);
        Assert.Contains("bf16", e.Message, StringComparison.Ordinal);
    }
}
