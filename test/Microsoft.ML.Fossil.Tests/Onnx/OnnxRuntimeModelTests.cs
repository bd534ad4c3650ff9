using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Tests.Tokenization;
using Xunit.Abstractions;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxModelSupport;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// Fossil models on a tiny RoBERTa folder (roberta-base's real tokenizer, a 2 x 32 random encoder), fitted once: a LoRA
/// pair classifier behind MapValueToKey / MapKeyToValue, and a FOSSIL bat sentence-similarity model.
/// </summary>
public sealed class TinyOnnxModels : IDisposable
{
    public TinyOnnxModels()
    {
        Ml = new MLContext(seed: 1);
        TrainPairs = FineFoods.Pairs(Ml, "fine_foods_pairs_train.tsv", 48);
        TestPairs = FineFoods.Pairs(Ml, "fine_foods_pairs_test.tsv", 24);
        BackboneSource source = BackboneSource.HuggingFaceFolder(Backbone.Folder);
        Classifier = Ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(Ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel", Backbone = source,
                AdapterKind = AdapterKind.Lora, Rank = 4, Epochs = 2, BatchSize = 16, MaxSequenceLength = 48, LearningRate = 1e-2,
                Precision = Precision.Float32,   // the claims here are against the fp32 TorchSharp model
            }))
            .Append(Ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"))
            .Fit(TrainPairs);
        Similarity = Ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "Positivity", Backbone = source,
            FossilVariant = FossilVariant.Bat, Rank = 8, Epochs = 2, BatchSize = 16, MaxSequenceLength = 48, LearningRate = 1e-2,
            Precision = Precision.Float32,
        }).Fit(TrainPairs);
    }

    internal TinyBackbone Backbone { get; } = new();
    public MLContext Ml { get; }
    public IDataView TrainPairs { get; }
    public IDataView TestPairs { get; }
    public ITransformer Classifier { get; }
    public FossilSentenceSimilarityTransformer Similarity { get; }
    public FossilTextClassificationTransformer ClassifierFossil => ((IEnumerable<ITransformer>)Classifier).OfType<FossilTextClassificationTransformer>().Single();

    public void Dispose()
    {
        ClassifierFossil.Dispose();
        Similarity.Dispose();
        Backbone.Dispose();
    }
}

/// <summary>
/// <c>mlContext.Model.ExportForOnnxRuntime</c> on pair classification and sentence similarity: the folder, the ML.NET model
/// it holds (same columns and annotations, same predictions through Model.Load, Transform and PredictionEngine), the
/// same graph whatever the network's state, and damaged, swapped or missing entries refused at load.
/// </summary>
public sealed class OnnxRuntimeModelTests(TinyOnnxModels models, ITestOutputHelper output) : IClassFixture<TinyOnnxModels>, IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("fossil-onnx-model-").FullName;

    public void Dispose() => Directory.Delete(work, recursive: true);

    public sealed class PairRow
    {
        public string Sentence1 { get; set; } = "";
        public string Sentence2 { get; set; } = "";
        public string SameLabel { get; set; } = "";
        public float Positivity { get; set; }
    }

    public sealed class ClassPrediction
    {
        public float[] Score { get; set; } = [];
        public string PredictedText { get; set; } = "";
    }

    public sealed class SimilarityPrediction
    {
        public float Score { get; set; }
    }

    string Export(ITransformer model, string name, bool int8 = false)
    {
        string folder = Path.Combine(work, name);
        models.Ml.Model.ExportForOnnxRuntime(model, models.TrainPairs.Schema, folder, int8);
        return folder;
    }

    /// <summary>
    /// What a serving application does with an exported model: load it, save it again (re-packaging), load that, and
    /// predict from several threads while it is being saved; the same entries and bit-identical scores throughout.
    /// </summary>
    [Fact]
    public void The_ONNX_Runtime_model_keeps_the_user_contract_load_save_load_and_save_while_predicting()
    {
        string folder = Export(models.Classifier, "contract", int8: true);
        var serving = new MLContext(seed: 3);
        ITransformer loaded = serving.Model.Load(Path.Combine(folder, "mlnet-model.zip"), out DataViewSchema schema);
        string cycles = Path.Combine(work, "contract-cycles");
        Directory.CreateDirectory(cycles);
        Contracts.ModelContract.SaveLoadCycles(loaded, schema, models.TestPairs, cycles, output);

        PairRow[] rows = [.. models.Ml.Data.CreateEnumerable<PairRow>(models.TestPairs, reuseRowObject: false).Take(8)];
        string concurrent = Path.Combine(work, "contract-concurrent");
        Directory.CreateDirectory(concurrent);
        Contracts.ModelContract.SaveWhilePredicting<PairRow, ClassPrediction>(serving, loaded, schema, rows, p => p.Score, concurrent, output, saves: 5);
        foreach (IDisposable part in ((IEnumerable<ITransformer>)loaded).OfType<IDisposable>()) part.Dispose();
    }

    [Fact]
    public void A_pair_classifier_exports_to_a_folder_whose_ML_NET_model_scores_as_the_TorchSharp_model()
    {
        string folder = Export(models.Classifier, "pairs");
        Assert.Equal(["config.json", "merges.txt", "mlnet-model.zip", "model.onnx", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"],
            Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        Assert.Equal(["0", "1"], config["id2label"]!.AsObject().OrderBy(p => p.Key).Select(p => p.Value!.GetValue<string>()));

        // A fresh context, the standard Model.Load: the chain comes back with the ONNX Runtime transformer in the Fossil one's place.
        var serving = new MLContext(seed: 2);
        ITransformer loaded = serving.Model.Load(Path.Combine(folder, "mlnet-model.zip"), out DataViewSchema schema);
        Assert.Equal(Describe(models.TrainPairs.Schema), Describe(schema));
        Assert.Equal(["ValueToKeyMappingTransformer", "FossilOnnxRuntimeTransformer", "KeyToValueMappingTransformer"], TransformerTypes(loaded));
        Assert.Equal(["ValueToKeyMappingTransformer", "FossilTextClassificationTransformer", "KeyToValueMappingTransformer"], TransformerTypes(models.Classifier));

        // Transform: the same columns, types and annotations (slot names, key values, score kinds), the same scores and labels.
        IDataView expected = models.Classifier.Transform(models.TestPairs);
        IDataView actual = loaded.Transform(models.TestPairs);
        Assert.Equal(Describe(expected.Schema), Describe(actual.Schema));
        float diff = MaxDiff(Scores(expected, "Score"), Scores(actual, "Score"));
        output.WriteLine($"Transform, 24 pairs: max |p ONNX - p TorchSharp| = {diff:G3}");
        Assert.True(diff <= ScoreTolerance, $"scores differ by {diff:G3}");
        Assert.Equal(Texts(expected, "PredictedText"), Texts(actual, "PredictedText"));

        // PredictionEngine: row by row through the chain's row mapper.
        var torch = models.Ml.Model.CreatePredictionEngine<PairRow, ClassPrediction>(models.Classifier);
        var onnx = serving.Model.CreatePredictionEngine<PairRow, ClassPrediction>(loaded);
        foreach (PairRow row in models.Ml.Data.CreateEnumerable<PairRow>(models.TestPairs, reuseRowObject: false).Take(12))
        {
            ClassPrediction a = torch.Predict(row), b = onnx.Predict(row);
            Assert.Equal(a.PredictedText, b.PredictedText);
            Assert.True(MaxDiff([a.Score], [b.Score]) <= ScoreTolerance, $"PredictionEngine scores differ by {MaxDiff([a.Score], [b.Score]):G3}");
        }
        ((IDisposable)((IEnumerable<ITransformer>)loaded).OfType<FossilOnnxRuntimeTransformer>().Single()).Dispose();
    }

    [Fact]
    public void The_context_settings_choose_ONNX_Runtime_spinning_and_the_attention_is_fused_either_way()
    {
        string folder = Export(models.Classifier, "spinning");
        string zip = Path.Combine(folder, "mlnet-model.zip");
        static OnnxRuntimeNetwork Network(ITransformer model) =>
            (OnnxRuntimeNetwork)((IEnumerable<ITransformer>)model).OfType<FossilOnnxRuntimeTransformer>().Single().Core.Scorer.Network;

        var spinning = new MLContext(seed: 3);   // FossilSettings' default: ONNX Runtime's own, spinning
        ITransformer a = spinning.Model.Load(zip, out _);
        var sleeping = new MLContext(seed: 3);
        sleeping.SetFossilSettings(new FossilSettings { OnnxRuntimeSpinning = false });
        ITransformer b = sleeping.Model.Load(zip, out _);
        Assert.True(Network(a).Options.AllowSpinning);
        Assert.False(Network(b).Options.AllowSpinning);
        Assert.Equal(2, Network(a).FusedAttentionLayers);   // the tiny roberta-shaped backbone's two layers
        Assert.Equal(2, Network(b).FusedAttentionLayers);
        Assert.Equal(Scores(a.Transform(models.TestPairs), "Score"), Scores(b.Transform(models.TestPairs), "Score"));
        foreach (ITransformer model in new[] { a, b })
            ((IDisposable)((IEnumerable<ITransformer>)model).OfType<FossilOnnxRuntimeTransformer>().Single()).Dispose();

        // The environment variable, as FossilSettings.FromEnvironment reads it (absent: on).
        bool Read(string? value) => FossilSettings.FromEnvironment(name =>
            name == FossilSettings.OnnxRuntimeSpinningVariable ? value : null).OnnxRuntimeSpinning;
        Assert.True(Read(null));
        Assert.False(Read("0"));
        Assert.False(Read("false"));
        Assert.True(Read("1"));
    }

    [Fact]
    public void A_similarity_model_exports_with_its_regression_column_and_scores_as_the_TorchSharp_model()
    {
        string folder = Export(models.Similarity, "similarity");
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        Assert.Equal("regression", config["problem_type"]!.GetValue<string>());

        var serving = new MLContext(seed: 2);
        using var loaded = (FossilOnnxRuntimeTransformer)serving.Model.Load(Path.Combine(folder, "mlnet-model.zip"), out _);
        IDataView expected = models.Similarity.Transform(models.TestPairs), actual = loaded.Transform(models.TestPairs);
        Assert.Equal(Describe(expected.Schema), Describe(actual.Schema));
        float diff = MaxDiff(Scores(expected, "Score"), Scores(actual, "Score"));
        output.WriteLine($"similarity, 24 pairs: max |ONNX - TorchSharp| = {diff:G3} (scores {Scores(expected, "Score").Min(s => s[0]):F3}..{Scores(expected, "Score").Max(s => s[0]):F3})");
        Assert.True(diff <= ScoreTolerance, $"similarity differs by {diff:G3}");

        var torch = models.Ml.Model.CreatePredictionEngine<PairRow, SimilarityPrediction>(models.Similarity);
        var onnx = serving.Model.CreatePredictionEngine<PairRow, SimilarityPrediction>(loaded);
        foreach (PairRow row in models.Ml.Data.CreateEnumerable<PairRow>(models.TestPairs, reuseRowObject: false).Take(8))
            Assert.True(Math.Abs(torch.Predict(row).Score - onnx.Predict(row).Score) <= ScoreTolerance);

        // Saved again (mlContext.Model.Save of the loaded model): the same entries, byte for byte, and it loads.
        string again = Path.Combine(work, "again.zip");
        serving.Model.Save(loaded, models.TrainPairs.Schema, again);
        foreach (string entry in (string[])["onnx-model.json", "model.onnx", "tokenizer.vocab.json", "tokenizer.merges.txt"])
            Assert.Equal(ReadEntry(Path.Combine(folder, "mlnet-model.zip"), entry), ReadEntry(again, entry));
        using var reloaded = (FossilOnnxRuntimeTransformer)serving.Model.Load(again, out _);
        Assert.Equal(Scores(actual, "Score").SelectMany(s => s), Scores(reloaded.Transform(models.TestPairs), "Score").SelectMany(s => s));
    }

    [Fact]
    public void Merged_unmerged_reloaded_and_float32_rebuilt_networks_export_the_same_graph()
    {
        var backbones = models.Ml.GetFossilSettings().ForBackboneLoading();
        FossilTransformerCore fitted = models.ClassifierFossil.Core;
        Assert.False(fitted.Network.AdaptersMerged);
        byte[] reference = OnnxExport.Export(fitted, quantizeInt8: false, backbones).Model.Onnx;
        // The float32 rebuild from the definition (what a network held in bf16 needs) writes the same bytes.
        Assert.Equal(reference, OnnxExport.Export(fitted, quantizeInt8: false, backbones, rebuildInFloat32: true).Model.Onnx);

        string saved = Path.Combine(work, "model.zip");
        models.Ml.Model.Save(models.Classifier, models.TrainPairs.Schema, saved);
        foreach (bool merge in (bool[])[true, false])
        {
            var context = new MLContext(seed: 3);
            context.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = merge });
            ITransformer loaded = context.Model.Load(saved, out _);
            using var fossil = ((IEnumerable<ITransformer>)loaded).OfType<FossilTextClassificationTransformer>().Single();
            Assert.Equal(merge, fossil.Core.Network.AdaptersMerged);
            Assert.Equal(reference, OnnxExport.Export(fossil.Core, quantizeInt8: false, backbones).Model.Onnx);
            // Exporting leaves the network as it was.
            Assert.Equal(merge, fossil.Core.Network.AdaptersMerged);
        }
    }

    [Fact]
    public void Damaged_swapped_and_missing_entries_of_the_ML_NET_model_are_refused_naming_the_entry()
    {
        string folder = Export(models.Classifier, "classifier");
        string zip = Path.Combine(folder, "mlnet-model.zip");
        string similarityZip = Path.Combine(Export(models.Similarity, "similarity-for-swap"), "mlnet-model.zip");
        var ml = new MLContext(seed: 4);
        string Copy(string name, params (string, Func<byte[], byte[]?>)[] changes) => WithEntries(zip, Path.Combine(work, name), changes);
        static byte[] Flip(byte[] b)
        {
            byte[] c = [.. b];
            c[c.Length / 2] ^= 0x40;
            return c;
        }

        // One bit flipped in the middle of the graph (a valid zip entry: only the manifest's SHA-256 can tell).
        Exception e = LoadFails(ml, Copy("flipped-onnx.zip", ("model.onnx", Flip)));
        output.WriteLine(e.Message);
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains("entry 'model.onnx'", e.Message);
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains("damaged or replaced", e.Message);

        // Another model's valid graph in its place.
        byte[] otherGraph = ReadEntry(similarityZip, "model.onnx");
        e = LoadFails(ml, Copy("swapped-onnx.zip", ("model.onnx", _ => otherGraph)));
        Assert.Contains("entry 'model.onnx'", e.Message);
        Assert.Contains("damaged or replaced", e.Message);

        // ... and with the manifest edited to match it: the graph's single output is not the classifier's two.
        e = LoadFails(ml, Copy("swapped-onnx-and-manifest.zip", ("model.onnx", _ => otherGraph), ("onnx-model.json", m => Manifest(m, json =>
        {
            json["onnx"]!["sha256"] = OnnxScoringModel.Sha256(otherGraph);
            json["onnx"]!["bytes"] = otherGraph.LongLength;
        }))));
        output.WriteLine(e.Message);
        Assert.Contains("has 1 output column(s); expected 2", e.Message);

        // A damaged tokenizer file; a missing one.
        e = LoadFails(ml, Copy("flipped-vocab.zip", ("tokenizer.vocab.json", Flip)));
        Assert.Contains("entry 'tokenizer.vocab.json' (vocab.json)", e.Message);
        e = LoadFails(ml, Copy("no-merges.zip", ("tokenizer.merges.txt", _ => null)));
        output.WriteLine(e.Message);
        Assert.Contains("has no entry 'tokenizer.merges.txt'", e.Message);

        // A different vocabulary with a manifest that agrees with it: the tokenizer no longer is the one the model recorded.
        byte[] vocab = ReadEntry(zip, "tokenizer.vocab.json");
        JsonObject tokens = JsonNode.Parse(vocab)!.AsObject();
        (string first, string second) = ("Ġthe", "Ġand");
        int a = tokens[first]!.GetValue<int>(), b = tokens[second]!.GetValue<int>();
        tokens[first] = b;
        tokens[second] = a;
        byte[] swappedVocab = Encoding.UTF8.GetBytes(tokens.ToJsonString());
        e = LoadFails(ml, Copy("other-vocab.zip", ("tokenizer.vocab.json", _ => swappedVocab), ("onnx-model.json", m => Manifest(m, json =>
        {
            JsonObject file = json["tokenizer_files"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "vocab.json")!.AsObject();
            file["sha256"] = OnnxScoringModel.Sha256(swappedVocab);
            file["bytes"] = swappedVocab.LongLength;
        }))));
        output.WriteLine(e.Message);
        Assert.Contains("vocabulary_sha256: recorded", e.Message);

        // No manifest; a newer layout.
        Assert.Contains("has no manifest entry 'onnx-model.json'", LoadFails(ml, Copy("no-manifest.zip", ("onnx-model.json", _ => null))).Message);
        Assert.Contains("Update Microsoft.ML.Fossil",
            LoadFails(ml, Copy("newer.zip", ("onnx-model.json", m => Manifest(m, json => json["format_version"] = 2)))).Message);

        // The untouched copy still loads (the refusals above are the changes', not the copying's).
        using var good = (FossilOnnxRuntimeTransformer)((IEnumerable<ITransformer>)ml.Model.Load(Copy("untouched.zip"), out _)).ElementAt(1);
        Assert.Equal(2, good.Core.Model.NumLabels);
    }

    static byte[] Manifest(byte[] manifest, Action<JsonObject> edit)
    {
        JsonObject json = JsonNode.Parse(manifest)!.AsObject();
        edit(json);
        return Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    [Fact]
    public void Export_refuses_models_without_one_Fossil_transformer_schemas_it_cannot_read_and_missing_folders()
    {
        var ml = models.Ml;
        ITransformer keys = ml.Transforms.Conversion.MapValueToKey("SameLabel").Fit(models.TrainPairs);
        var e = Assert.Throws<ArgumentException>(() => ml.Model.ExportForOnnxRuntime(keys, models.TrainPairs.Schema, Path.Combine(work, "none")));
        Assert.Contains("holds no FossilTextClassificationTransformer or FossilSentenceSimilarityTransformer", e.Message);
        Assert.Contains("ValueToKeyMappingTransformer", e.Message);

        var two = new TransformerChain<ITransformer>(models.Classifier, models.Similarity);
        Assert.Contains("holds 2 Fossil transformers", Assert.Throws<ArgumentException>(() =>
            ml.Model.ExportForOnnxRuntime(two, models.TrainPairs.Schema, Path.Combine(work, "two"))).Message);

        IDataView reviews = FineFoods.Reviews(ml, "fine_foods_test.tsv", 4);   // no Sentence1/Sentence2 columns
        Assert.ThrowsAny<ArgumentException>(() => ml.Model.ExportForOnnxRuntime(models.Similarity, reviews.Schema, Path.Combine(work, "schema")));

        string missingParent = Path.Combine(work, "no-such-folder", "export");
        var notFound = Assert.Throws<DirectoryNotFoundException>(() => ml.Model.ExportForOnnxRuntime(models.Similarity, models.TrainPairs.Schema, missingParent));
        Assert.Contains(Path.Combine(work, "no-such-folder"), notFound.Message);
        Assert.False(Directory.Exists(Path.Combine(work, "no-such-folder")));

        // A model loaded from an export is already an ONNX Runtime model.
        string folder = Export(models.Similarity, "exported");
        using var loaded = (FossilOnnxRuntimeTransformer)ml.Model.Load(Path.Combine(folder, "mlnet-model.zip"), out _);
        Assert.Contains("already scores with ONNX Runtime", Assert.Throws<ArgumentException>(() =>
            ml.Model.ExportForOnnxRuntime(loaded, models.TrainPairs.Schema, Path.Combine(work, "again"))).Message);
    }

    [Fact]
    public void The_int8_export_agrees_with_float32_on_the_tiny_model_and_says_int8_in_its_manifest()
    {
        string folder = Export(models.Classifier, "int8", int8: true);
        JsonNode manifest = JsonNode.Parse(ReadEntry(Path.Combine(folder, "mlnet-model.zip"), "onnx-model.json"))!;
        Assert.Equal("int8_dynamic", manifest["weights"]!.GetValue<string>());
        ITransformer loaded = new MLContext(seed: 5).Model.Load(Path.Combine(folder, "mlnet-model.zip"), out _);
        IDataView expected = models.Classifier.Transform(models.TestPairs), actual = loaded.Transform(models.TestPairs);
        float diff = MaxDiff(Scores(expected, "Score"), Scores(actual, "Score"));
        double agreement = Agreement(Texts(expected, "PredictedText"), Texts(actual, "PredictedText"));
        output.WriteLine($"int8 on the tiny model: max |p int8 - p fp32| = {diff:G3}, labels identical on {agreement:P0} of 24 pairs");
        // Rounding, not a wrong layout: probabilities stay within a few hundredths (a wrong scale moves them by the whole range).
        Assert.True(diff < 0.1f, $"int8 probabilities differ by {diff:G3}");
    }
}
