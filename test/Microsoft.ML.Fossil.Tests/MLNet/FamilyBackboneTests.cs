using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tests.MLNetInternals;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// DistilBERT, ELECTRA and XLM-RoBERTa backbones in their real Hugging Face layouts, end to end through the ML.NET
/// trainer: fit, score, Model.Save, Model.Load (compact and self-contained), and one family in a fresh process.
/// </summary>
public sealed class FamilyBackboneTests : IDisposable
{
    readonly string work = Directory.CreateTempSubdirectory("fossil-familytests-").FullName;

    public void Dispose()
    {
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
    }

    static FossilTextClassificationTransformer FossilOf(ITransformer model) =>
        ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();

    static int[] Bits(IEnumerable<float[]> scores) => [.. scores.SelectMany(s => s).Select(BitConverter.SingleToInt32Bits)];

    static MLContext Unmerged()
    {
        var context = new MLContext(seed: 1);
        context.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = false });
        return context;
    }

    static IEstimator<ITransformer> Pipeline(MLContext ml, string folder, IList<string>? targets = null)
    {
        var options = new FossilTextClassificationTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
            Backbone = BackboneSource.HuggingFaceFolder(folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48, Rank = 8, LearningRate = 1e-3,
        };
        if (targets is not null) options.TargetModules = targets;
        return ml.Transforms.Conversion.MapValueToKey("SameLabel").Append(ml.MulticlassClassification.Trainers.FossilTextClassification(options));
    }

    public static TheoryData<string, bool> Families => new()
    {
        { "distilbert", false }, { "distilbert", true },
        { "electra", false }, { "electra", true },
        { "xlm-roberta", false }, { "xlm-roberta", true },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void Each_family_trains_saves_and_loads_compact_and_self_contained(string modelType, bool tokenizerJsonOnly)
    {
        using var backbone = new TinyFamilyBackbone(modelType, tokenizerJsonOnly);
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        ITransformer model = Pipeline(ml, backbone.Folder).Fit(train);
        float[][] expected = [.. model.Transform(test).GetColumn<float[]>("Score")];
        Assert.All(expected, s => Assert.Equal(1f, s.Sum(), 4));

        // What the model records: the family's config, its own adapter target names and head modules, the tokenizer model.
        var definition = FossilOf(model).Core.Definition;
        Assert.Equal(modelType, JsonNode.Parse(definition.EncoderConfigJson)!["model_type"]!.GetValue<string>());
        AdapterOptions adapter = definition.Adapter;
        (string[] targets, string[] head) = modelType == "distilbert"
            ? (new[] { "q_lin", "v_lin" }, new[] { "pre_classifier", "classifier" })
            : (new[] { "query", "value" }, new[] { "classifier" });
        Assert.Equal(targets, adapter.TargetModules);
        Assert.Equal(head, adapter.ModulesToSave);
        Assert.Equal(modelType == "xlm-roberta" ? TokenizerModel.Unigram : TokenizerModel.WordPiece, definition.Tokenizer.ModelKind);
        Assert.Contains("\"model\": \"" + (modelType == "xlm-roberta" ? "unigram" : "word_piece") + "\"", definition.Tokenizer.ToJson());
        var trained = AdapterInjector.TrainableStateDict(FossilOf(model).Core.Network.Network).Keys.ToHashSet();
        Assert.Contains(modelType == "distilbert" ? "distilbert.transformer.layer.1.attention.v_lin.miss_block"
                        : $"{(modelType == "electra" ? "electra" : "roberta")}.encoder.layer.1.attention.self.value.miss_block", trained);
        if (modelType == "distilbert") Assert.Contains("pre_classifier.weight", trained);
        if (modelType != "distilbert") Assert.Contains("classifier.out_proj.weight", trained);

        string compact = Path.Combine(work, "compact.zip");
        ml.Model.Save(model, train.Schema, compact);
        Assert.Equal(Bits(expected), Bits(Unmerged().Model.Load(compact, out _).Transform(test).GetColumn<float[]>("Score")));

        // Self-contained: the backbone's weights and exactly the tokenizer files it reads travel in the file.
        FossilOf(model).EmbedBackbone = true;
        string embedded = Path.Combine(work, "embedded.zip");
        ml.Model.Save(model, train.Schema, embedded);
        using (var zip = System.IO.Compression.ZipFile.OpenRead(embedded))
        {
            string[] files = [.. zip.Entries.Select(e => e.Name).Where(n => n.StartsWith("tokenizer.", StringComparison.Ordinal))];
            string expectedFile = tokenizerJsonOnly ? "tokenizer.json" : modelType == "xlm-roberta" ? "sentencepiece.bpe.model" : "vocab.txt";
            Assert.Equal(["tokenizer." + expectedFile], files);
        }
        Directory.Delete(backbone.Folder, recursive: true);
        Assert.Equal(Bits(expected), Bits(Unmerged().Model.Load(embedded, out _).Transform(test).GetColumn<float[]>("Score")));
        // Merged adapters: the same scores to the rounding of the format served in (the default, Auto, is bf16 on a
        // CPU with AVX512-BF16: merged in fp32, then cast, so the weights round differently from W and dW apart).
        ITransformer mergedModel = new MLContext(seed: 1).Model.Load(embedded, out _);
        int digits = FossilOf(mergedModel).Core.Network.ComputeType == TorchSharp.torch.ScalarType.Float32 ? 4 : 2;
        float[][] merged = [.. mergedModel.Transform(test).GetColumn<float[]>("Score")];
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < expected[i].Length; j++) Assert.Equal(expected[i][j], merged[i][j], digits);
    }

    /// <summary>
    /// ONNX export writes BERT's and RoBERTa's encoders only: a model on another family is refused by name before the
    /// folder is created (the model keeps serving through TorchSharp).
    /// </summary>
    [Theory]
    [InlineData("distilbert")]
    [InlineData("electra")]
    [InlineData("xlm-roberta")]
    public void Onnx_export_of_another_family_is_refused_naming_it_and_writes_nothing(string modelType)
    {
        using var backbone = new TinyFamilyBackbone(modelType);
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        ITransformer model = Pipeline(ml, backbone.Folder).Fit(train);
        string folder = Path.Combine(work, "export");
        var error = Assert.Throws<NotSupportedException>(() => ml.Model.ExportForOnnxRuntime(model, train.Schema, folder));
        Assert.Contains($"'{modelType}'", error.Message);
        Assert.Contains("BERT and RoBERTa", error.Message);
        Assert.False(Directory.Exists(folder));
        Assert.Equal(24, model.Transform(FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24)).GetColumn<float[]>("Score").Count());
    }

    [Fact]
    public void An_xlm_roberta_model_scores_the_same_in_a_fresh_process()
    {
        using var backbone = new TinyFamilyBackbone("xlm-roberta");
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        ITransformer model = Pipeline(ml, backbone.Folder).Fit(train);
        float[][] expected = [.. model.Transform(test).GetColumn<float[]>("Score")];
        string path = Path.Combine(work, "xlmr.zip");
        ml.Model.Save(model, train.Schema, path);

        string input = Path.Combine(work, "pairs.tsv");
        string[] lines = File.ReadAllLines(FineFoods.PathOf("fine_foods_pairs_test.tsv")).Skip(1).Take(24).ToArray();
        File.WriteAllText(input, string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        string result = Path.Combine(work, "xlmr.json");
        (int exit, string log) = FreshProcessTests.RunRunner(new Dictionary<string, string> { [FossilSettings.MergeVariable] = "0" },
            "transform", path, input, result);
        Assert.True(exit == 0, log);
        using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(result));
        float[][] fresh = [.. json.RootElement.GetProperty("rows").EnumerateArray()
            .Select(r => r.GetProperty("Score").EnumerateArray().Select(v => float.Parse(v.GetString()!, CultureInfo.InvariantCulture)).ToArray())];
        Assert.Equal(Bits(expected), Bits(fresh));
    }

    [Fact]
    public void Friendly_and_family_target_names_select_the_same_layers_and_unknown_ones_list_the_familys_names()
    {
        using var backbone = new TinyFamilyBackbone("distilbert");
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        var friendly = FossilOf(Pipeline(ml, backbone.Folder, ["query", "key", "value"]).Fit(train)).Core.Definition.Adapter;
        Assert.Equal(["q_lin", "k_lin", "v_lin"], friendly.TargetModules);
        var error = Assert.ThrowsAny<ArgumentException>(() => Pipeline(ml, backbone.Folder, ["dense"]).Fit(train));
        Assert.Contains("'dense'", error.Message);
        Assert.Contains("q_lin", error.Message);
        Assert.Contains("out_lin", error.Message);
        Assert.Contains("lin1", error.Message);
    }

    [Fact]
    public void Encoders_and_classifiers_have_hugging_faces_state_dict_names()
    {
        string Keys(nn.Module module) => string.Join(" ", module.state_dict().Keys.Where(k => !k.Contains(".layer.1.", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        // DistilBertForSequenceClassification (one layer shown; names from transformers' modeling_distilbert.py).
        var distil = EncoderConfig.FromJson("""{"model_type": "distilbert", "dim": 8, "n_layers": 2, "n_heads": 2, "hidden_dim": 16, "vocab_size": 10, "max_position_embeddings": 6}""");
        using (var classifier = new SequenceClassifier(new EncoderModel(distil, addPoolingLayer: false), 2))
        {
            string layer = "distilbert.transformer.layer.0.";
            string[] expected = [
                "classifier.bias", "classifier.weight",
                "distilbert.embeddings.LayerNorm.bias", "distilbert.embeddings.LayerNorm.weight",
                "distilbert.embeddings.position_embeddings.weight", "distilbert.embeddings.word_embeddings.weight",
                .. new[] { "attention.k_lin", "attention.out_lin", "attention.q_lin", "attention.v_lin", "ffn.lin1", "ffn.lin2", "output_layer_norm", "sa_layer_norm" }
                    .SelectMany(m => new[] { $"{layer}{m}.bias", $"{layer}{m}.weight" }),
                "pre_classifier.bias", "pre_classifier.weight"];
            Assert.Equal(string.Join(" ", expected.Order(StringComparer.Ordinal)), Keys(classifier));
        }
        // ElectraForSequenceClassification with narrower embeddings (names from modeling_electra.py).
        var electra = EncoderConfig.FromJson("""{"model_type": "electra", "embedding_size": 4, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "max_position_embeddings": 6}""");
        using (var classifier = new SequenceClassifier(new EncoderModel(electra, addPoolingLayer: false), 2))
        {
            string keys = Keys(classifier);
            foreach (string name in new[] { "electra.embeddings.token_type_embeddings.weight", "electra.embeddings_project.weight", "electra.embeddings_project.bias",
                         "electra.encoder.layer.0.attention.self.query.weight", "electra.encoder.layer.0.output.LayerNorm.bias",
                         "classifier.dense.weight", "classifier.out_proj.bias" })
                Assert.Contains(name, keys.Split(' '));
            Assert.Equal([10, 4], classifier.state_dict()["electra.embeddings.word_embeddings.weight"].shape);
            Assert.DoesNotContain("pooler", keys);
        }
        electra.EmbeddingSize = 8;   // as wide as the hidden states: no projection (ElectraModel only builds it when they differ)
        using (var encoder = new EncoderModel(electra, addPoolingLayer: false))
            Assert.DoesNotContain(encoder.state_dict().Keys, k => k.StartsWith("embeddings_project", StringComparison.Ordinal));
    }

    [Fact]
    public void Configs_of_each_family_parse_round_trip_and_refuse_what_is_not_implemented()
    {
        var distil = EncoderConfig.FromJson(Tokenization.FamilyTokenizerData.DistilBertBaseUncasedConfig);
        Assert.Equal((EncoderFamily.DistilBert, 768, 6, 12, 3072, 0.2), (distil.Family, distil.HiddenSize, distil.NumHiddenLayers, distil.NumAttentionHeads, distil.IntermediateSize, distil.ClassifierDropout!.Value));
        JsonObject written = JsonNode.Parse(distil.ToJson())!.AsObject();
        Assert.Equal(768, written["dim"]!.GetValue<int>());
        Assert.False(written.ContainsKey("hidden_size"));
        Assert.Equal(distil.ToJson(), EncoderConfig.FromJson(distil.ToJson()).ToJson());

        var electra = EncoderConfig.FromJson(Tokenization.FamilyTokenizerData.ElectraSmallDiscriminatorConfig);
        Assert.Equal((EncoderFamily.Electra, 128, 256), (electra.Family, electra.EmbeddingWidth, electra.HiddenSize));
        Assert.Equal(electra.ToJson(), EncoderConfig.FromJson(electra.ToJson()).ToJson());
        // ElectraConfig's defaults (electra-small's) for fields a file leaves out.
        var sparse = EncoderConfig.FromJson("""{"model_type": "electra"}""");
        Assert.Equal((128, 256, 4, 1024), (sparse.EmbeddingWidth, sparse.HiddenSize, sparse.NumAttentionHeads, sparse.IntermediateSize));

        var xlmr = EncoderConfig.FromJson(Tokenization.FamilyTokenizerData.XlmRobertaBaseConfig);
        Assert.Equal((EncoderFamily.Roberta, 512), (xlmr.Family, xlmr.MaxSequenceLength));

        var sinusoidal = JsonNode.Parse(Tokenization.FamilyTokenizerData.DistilBertBaseUncasedConfig)!.AsObject();
        sinusoidal["sinusoidal_pos_embds"] = true;
        Assert.Contains("sinusoidal_pos_embds", Assert.Throws<NotSupportedException>(() => EncoderConfig.FromJson(sinusoidal.ToJsonString())).Message);
        var unknown = Assert.Throws<NotSupportedException>(() => EncoderConfig.FromJson("""{"model_type": "deberta-v2"}"""));
        Assert.Contains("distilbert", unknown.Message);
        Assert.Contains("electra", unknown.Message);
        Assert.Contains("n_heads", Assert.Throws<InvalidDataException>(() => EncoderConfig.FromJson("""{"model_type": "distilbert", "dim": 30, "n_heads": 4}""")).Message);
    }

    [Fact]
    public void A_checkpoint_with_its_pretraining_head_loads_strictly_and_a_missing_tensor_is_named()
    {
        using var backbone = new TinyFamilyBackbone("electra");
        using (var encoder = HuggingFaceLoader.LoadEncoder(backbone.Folder, out var report))
        {
            Assert.Contains("discriminator_predictions.dense.weight", report.Ignored);
            Assert.Empty(report.LeftInitialised);
        }
        var state = HuggingFaceLoader.ReadStateDict(Path.Combine(backbone.Folder));
        state.Remove("electra.embeddings_project.weight");
        TorchSharp.PyBridge.Safetensors.SaveStateDict(Path.Combine(backbone.Folder, "model.safetensors"), state);
        var e = Assert.Throws<CheckpointMismatchException>(() => HuggingFaceLoader.LoadEncoder(backbone.Folder));
        Assert.Contains("embeddings_project.weight", e.Message);
    }
}
