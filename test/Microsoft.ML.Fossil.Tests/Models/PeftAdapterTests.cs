using Microsoft.ML.Data;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tests.Checkpoints;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Tests.Tokenization;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Models;

/// <summary>
/// PEFT adapter folders out (ExportPeftAdapter) and in (LoadPeftAdapter). No PEFT runs here, so the expected key
/// names, shapes and config fields are written out from PEFT's source (huggingface/peft, the lines cited at each).
/// </summary>
public sealed class PeftAdapterTests : IDisposable
{
    readonly TinyBackbone roberta = new();
    readonly TempFolder temp = new();

    public void Dispose()
    {
        roberta.Dispose();
        temp.Dispose();
    }

    static int[] Bits(IEnumerable<float[]> scores) => [.. scores.SelectMany(s => s).Select(BitConverter.SingleToInt32Bits)];

    static int[] Bits(IEnumerable<float> scores) => [.. scores.Select(BitConverter.SingleToInt32Bits)];

    /// <summary>A context whose loads keep adapters separate (the fitted model's own arithmetic).</summary>
    static MLContext Context(bool merge)
    {
        var ml = new MLContext(seed: 1);
        ml.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = merge });
        return ml;
    }

    static FossilTextClassificationTransformer FossilOf(ITransformer model) =>
        model as FossilTextClassificationTransformer ?? ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();

    ITransformer FitPairs(MLContext ml, IDataView train, Action<FossilTextClassificationTrainer.Options> configure, string? backboneFolder = null)
    {
        var options = new FossilTextClassificationTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
            Backbone = BackboneSource.HuggingFaceFolder(backboneFolder ?? roberta.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48,
            Rank = 8, LearningRate = 1e-2, Seed = 3,
        };
        configure(options);
        return ml.Transforms.Conversion.MapValueToKey("SameLabel").Append(ml.MulticlassClassification.Trainers.FossilTextClassification(options)).Fit(train);
    }

    static Dictionary<string, long[]> Shapes(string safetensorsPath)
    {
        Dictionary<string, Tensor> tensors = CheckpointFiles.ReadSafetensors(safetensorsPath, map: false);
        try
        {
            return tensors.ToDictionary(p => p.Key, p => p.Value.shape);
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
    }

    // PeftConfigMixin (task_type, peft_type, auto_mapping, peft_version) + PeftConfig (base_model_name_or_path, revision,
    // inference_mode): src/peft/config.py. asdict() writes every dataclass field.
    static readonly string[] BaseFields = ["auto_mapping", "base_model_name_or_path", "inference_mode", "peft_type", "peft_version", "revision", "task_type"];

    // MissConfig's fields: src/peft/tuners/miss/config.py (r, miss_dropout, mini_r, target_modules, exclude_modules,
    // init_weights, layers_to_transform, layers_pattern, bias, modules_to_save).
    static readonly string[] MissFields =
        ["r", "miss_dropout", "mini_r", "target_modules", "exclude_modules", "init_weights", "layers_to_transform", "layers_pattern", "bias", "modules_to_save"];

    // LoraConfig's fields: src/peft/tuners/lora/config.py, less runtime_config (LoraConfig.to_dict pops it).
    static readonly string[] LoraFields =
        ["r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout", "fan_in_fan_out", "bias", "use_rslora", "modules_to_save",
         "init_lora_weights", "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern", "megatron_config", "megatron_core",
         "trainable_token_indices", "loftq_config", "eva_config", "corda_config", "lora_ga_config", "use_dora", "velora_config",
         "alora_invocation_tokens", "use_qalora", "qalora_group_size", "monteclora_config", "layer_replication", "lora_bias", "target_parameters",
         "use_bdlora", "arrow_config", "kasa_config", "ensure_weight_tying"];

    [Theory]
    [InlineData(AdapterKind.Fossil, FossilVariant.Default)]
    [InlineData(AdapterKind.Fossil, FossilVariant.Mini)]
    [InlineData(AdapterKind.Fossil, FossilVariant.Bat)]
    [InlineData(AdapterKind.Lora, FossilVariant.Default)]
    public void A_RoBERTa_export_has_PEFTs_keys_layouts_and_config_and_imports_back_bit_for_bit(AdapterKind kind, FossilVariant variant)
    {
        MLContext ml = Context(merge: false);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        ITransformer model = FitPairs(ml, train, o =>
        {
            o.AdapterKind = kind;
            o.FossilVariant = variant;
            o.MiniRank = 4;
            o.LoraAlpha = 16;
        });
        float[][] expected = [.. model.Transform(test).GetColumn<float[]>("Score")];
        string folder = temp.Sub($"peft-{kind}-{variant}");
        ml.Model.ExportPeftAdapter(model, folder);

        // Keys: get_peft_model_state_dict = tuner keys (the adapter name removed by _remove_adapter_name_from_state_dict_key:
        // "...query.miss_block.default" -> "...query.miss_block", "...lora_A.default.weight" -> "...lora_A.weight") plus
        // ModulesToSaveWrapper.adapter_state_dict (keys relative to the head, put under its name "classifier"), all under
        // PeftModel's "base_model.model." (PeftModel.base_model = the tuner, its .model = RobertaForSequenceClassification).
        // Shapes: MissLayer.update_layer / reset_*_parameters: default zeros(r, out), mini zeros(r, mini_r),
        // bat zeros(out // r, r, r); lora.Linear: lora_A = nn.Linear(in, r) [r, in], lora_B = nn.Linear(r, out) [out, r].
        var want = new Dictionary<string, long[]>
        {
            ["base_model.model.classifier.dense.weight"] = [32, 32], ["base_model.model.classifier.dense.bias"] = [32],
            ["base_model.model.classifier.out_proj.weight"] = [2, 32], ["base_model.model.classifier.out_proj.bias"] = [2],
        };
        foreach (int layer in new[] { 0, 1 })
            foreach (string target in new[] { "query", "value" })
            {
                string module = $"base_model.model.roberta.encoder.layer.{layer}.attention.self.{target}";
                if (kind == AdapterKind.Lora)
                {
                    want[$"{module}.lora_A.weight"] = [8, 32];
                    want[$"{module}.lora_B.weight"] = [32, 8];
                }
                else
                {
                    want[$"{module}.miss_block"] = variant switch { FossilVariant.Mini => [8, 4], FossilVariant.Bat => [32 / 8, 8, 8], _ => [8, 32] };
                }
            }
        Dictionary<string, long[]> found = Shapes(Path.Combine(folder, "adapter_model.safetensors"));
        Assert.Equal(want.Keys.Order(), found.Keys.Order());
        foreach (var (key, shape) in want) Assert.True(shape.SequenceEqual(found[key]), $"{key}: [{string.Join(", ", found[key])}]");
        // safe_save_file(..., metadata={"format": "pt"}) in PeftModel.save_pretrained.
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, SafetensorsWriter.ReadMetadata(Path.Combine(folder, "adapter_model.safetensors")));

        string configText = File.ReadAllText(Path.Combine(folder, "adapter_config.json"));
        JsonObject config = JsonNode.Parse(configText)!.AsObject();
        string[] fields = [.. BaseFields, .. kind == AdapterKind.Lora ? LoraFields : MissFields];
        Assert.Equal(fields.Distinct().Order(StringComparer.Ordinal), config.Select(p => p.Key));   // json.dumps(sort_keys=True)
        Assert.StartsWith("{\n  \"", configText);                                                    // indent=2
        Assert.Equal("SEQ_CLS", config["task_type"]!.GetValue<string>());
        Assert.True(config["inference_mode"]!.GetValue<bool>());
        Assert.Equal(roberta.Folder, config["base_model_name_or_path"]!.GetValue<string>());
        Assert.Equal(8, config["r"]!.GetValue<int>());
        Assert.Equal(["classifier", "score"], config["modules_to_save"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Equal(["query", "value"], config["target_modules"]!.AsArray().Select(m => m!.GetValue<string>()).Order());
        Assert.Equal("none", config["bias"]!.GetValue<string>());
        if (kind == AdapterKind.Lora)
        {
            Assert.Equal("LORA", config["peft_type"]!.GetValue<string>());
            Assert.Equal(16, config["lora_alpha"]!.GetValue<int>());
            Assert.Contains("\"lora_dropout\": 0.0", configText);   // a Python float
            Assert.True(config["init_lora_weights"]!.GetValue<bool>());
        }
        else
        {
            Assert.Equal("MISS", config["peft_type"]!.GetValue<string>());
            Assert.Equal(4, config["mini_r"]!.GetValue<int>());   // written as given, as PEFT does, whatever the variant
            Assert.Equal(variant switch { FossilVariant.Mini => "\"mini\"", FossilVariant.Bat => "\"bat\"", _ => "true" }, config["init_weights"]!.ToJsonString());
            Assert.Contains("\"miss_dropout\": 0.0", configText);
        }
        JsonObject modelConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        Assert.Equal("RobertaForSequenceClassification", modelConfig["architectures"]![0]!.GetValue<string>());
        Assert.Equal(FossilOf(model).ClassNames, [modelConfig["id2label"]!["0"]!.GetValue<string>(), modelConfig["id2label"]!["1"]!.GetValue<string>()]);
        Assert.Equal(48, JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!["model_max_length"]!.GetValue<int>());
        Assert.True(File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt")));

        // In again: the same predictions, bit for bit, through Transform, PredictionEngine and a saved model.
        using var imported = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(folder, BackboneSource.HuggingFaceFolder(roberta.Folder), "Sentence1", "Sentence2");
        Assert.Equal(FossilOf(model).ClassNames, imported.ClassNames);
        Assert.Equal(Bits(expected), Bits(imported.Transform(test).GetColumn<float[]>("Score")));
        // One row at a time (no padding) may round differently from a padded batch: compare engine with engine.
        var row = new Pair { Sentence1 = FirstOf(test, "Sentence1"), Sentence2 = FirstOf(test, "Sentence2") };
        float[] single = ml.Model.CreatePredictionEngine<Pair, PairScore>(FossilOf(model)).Predict(row).Score;
        Assert.Equal(Bits([single]), Bits([ml.Model.CreatePredictionEngine<Pair, PairScore>(imported).Predict(row).Score]));
        string saved = Path.Combine(temp.Path, $"imported-{kind}-{variant}.zip");
        ml.Model.Save(imported, test.Schema, saved);
        Assert.Equal(Bits(expected), Bits(ml.Model.Load(saved, out _).Transform(test).GetColumn<float[]>("Score")));

        // Merged on load (the default): the exported-and-imported model equals the saved-and-loaded one bit for bit.
        MLContext merged = Context(merge: true);
        string original = Path.Combine(temp.Path, $"original-{kind}-{variant}.zip");
        ml.Model.Save(model, train.Schema, original);
        float[][] loaded = [.. merged.Model.Load(original, out _).Transform(test).GetColumn<float[]>("Score")];
        using var importedMerged = (FossilTextClassificationTransformer)merged.Model.LoadPeftAdapter(folder, null, "Sentence1", "Sentence2");   // backbone from base_model_name_or_path
        Assert.Equal(Bits(loaded), Bits(importedMerged.Transform(test).GetColumn<float[]>("Score")));
    }

    static string FirstOf(IDataView data, string column) => data.GetColumn<ReadOnlyMemory<char>>(column).First().ToString();

    public sealed class Pair
    {
        public string Sentence1 { get; set; } = "";
        public string Sentence2 { get; set; } = "";
    }

    public sealed class PairScore
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void A_similarity_model_exports_as_a_one_output_regression_head_and_imports_as_a_similarity_transformer()
    {
        MLContext ml = Context(merge: false);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 16);
        using FossilSentenceSimilarityTransformer model = ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "Positivity",
            Backbone = BackboneSource.HuggingFaceFolder(roberta.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48, Rank = 8, LearningRate = 1e-2,
        }).Fit(train);
        string folder = temp.Sub("similarity");
        ml.Model.ExportPeftAdapter(model, folder);
        JsonObject modelConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        Assert.Equal("regression", modelConfig["problem_type"]!.GetValue<string>());
        Assert.Equal([1, 32], Shapes(Path.Combine(folder, "adapter_model.safetensors"))["base_model.model.classifier.out_proj.weight"]);

        using var imported = Assert.IsType<FossilSentenceSimilarityTransformer>(
            ml.Model.LoadPeftAdapter(folder, BackboneSource.HuggingFaceFolder(roberta.Folder), "Sentence1", "Sentence2"));
        Assert.Equal(Bits(model.Transform(test).GetColumn<float>("Score")), Bits(imported.Transform(test).GetColumn<float>("Score")));
    }

    /// <summary>A tiny BERT folder with pooler weights and bert-base-uncased's real vocab.txt.</summary>
    string TinyBertFolder(bool withPooler = true)
    {
        string folder = temp.Sub(withPooler ? "tiny-bert" : "tiny-bert-no-pooler");
        var config = new EncoderConfig
        {
            ModelType = "bert", VocabSize = 30522, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 64,
            MaxPositionEmbeddings = 64, TypeVocabSize = 2, LayerNormEps = 1e-12, PadTokenId = 0,
        };
        TokenizationData.WriteBertFolder(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJson());
        manual_seed(11);
        using var encoder = new EncoderModel(config, addPoolingLayer: withPooler);
        Safetensors.SaveStateDict(Path.Combine(folder, "model.safetensors"), encoder.state_dict());
        return folder;
    }

    [Fact]
    public void A_BERT_export_puts_the_classifier_after_the_pooler_under_PEFTs_names_with_all_biases_and_round_trips()
    {
        string bert = TinyBertFolder();
        MLContext ml = Context(merge: false);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 16);
        ITransformer model = FitPairs(ml, train, o => o.Bias = AdapterBias.All, bert);
        string folder = temp.Sub("peft-bert");
        ml.Model.ExportPeftAdapter(model, folder);

        Dictionary<string, long[]> found = Shapes(Path.Combine(folder, "adapter_model.safetensors"));
        // BertForSequenceClassification: bert (with pooler) -> dropout -> classifier Linear(hidden, labels).
        Assert.Equal([2, 32], found["base_model.model.classifier.weight"]);
        Assert.Equal([8, 32], found["base_model.model.bert.encoder.layer.0.attention.self.query.miss_block"]);
        // bias="all": _get_learnable_bias_state_dict takes every state-dict key ending in ".bias": the adapted layers'
        // base_layer.bias, every other bias (LayerNorms, pooler), and both copies ModulesToSaveWrapper keeps of the head
        // (original_module, and modules_to_save.default, whose adapter name _remove_adapter_name_from_state_dict_key
        // strips only when it is the second-to-last component: "classifier.modules_to_save.default.bias" ->
        // "classifier.modules_to_save.bias").
        Assert.Contains("base_model.model.bert.encoder.layer.1.attention.self.value.base_layer.bias", found.Keys);
        Assert.Contains("base_model.model.bert.encoder.layer.1.attention.self.key.bias", found.Keys);
        Assert.Contains("base_model.model.bert.embeddings.LayerNorm.bias", found.Keys);
        Assert.Contains("base_model.model.bert.pooler.dense.bias", found.Keys);
        Assert.Contains("base_model.model.classifier.bias", found.Keys);
        Assert.Contains("base_model.model.classifier.original_module.bias", found.Keys);
        Assert.Contains("base_model.model.classifier.modules_to_save.bias", found.Keys);
        Assert.DoesNotContain(found.Keys, k => k.Contains(".default", StringComparison.Ordinal) || k.Contains("pooler.dense.weight", StringComparison.Ordinal));
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();
        Assert.Equal("all", config["bias"]!.GetValue<string>());
        Assert.Equal("BertForSequenceClassification", JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!["architectures"]![0]!.GetValue<string>());
        Assert.True(JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!["do_lower_case"]!.GetValue<bool>());

        using var imported = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(folder, BackboneSource.HuggingFaceFolder(bert), "Sentence1", "Sentence2");
        Assert.Equal(Bits(model.Transform(test).GetColumn<float[]>("Score")), Bits(imported.Transform(test).GetColumn<float[]>("Score")));
    }

    [Theory]
    // DistilBertForSequenceClassification: distilbert.transformer.layer.N.attention.{q_lin,v_lin}, then pre_classifier
    // (dim -> dim, ReLU) and classifier; PEFT saves pre_classifier only when modules_to_save names it (SEQ_CLS adds
    // classifier and score only), so it is listed first.
    [InlineData("distilbert", "base_model.model.distilbert.transformer.layer.1.attention.v_lin.miss_block",
        new[] { "base_model.model.pre_classifier.weight", "base_model.model.classifier.weight" }, new[] { "pre_classifier", "classifier", "score" },
        "DistilBertForSequenceClassification")]
    // ElectraForSequenceClassification: electra.encoder.layer.N.attention.self.{query,value}, head classifier.dense / out_proj.
    [InlineData("electra", "base_model.model.electra.encoder.layer.1.attention.self.value.miss_block",
        new[] { "base_model.model.classifier.dense.weight", "base_model.model.classifier.out_proj.weight" }, new[] { "classifier", "score" },
        "ElectraForSequenceClassification")]
    public void DistilBERT_and_ELECTRA_export_under_their_own_names_and_import_back_bit_for_bit(string modelType, string adapterKey, string[] headKeys,
        string[] modulesToSave, string architecture)
    {
        using var family = new TinyFamilyBackbone(modelType);
        MLContext ml = Context(merge: false);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 16);
        ITransformer model = FitPairs(ml, train, _ => { }, family.Folder);
        string folder = temp.Sub($"peft-{modelType}");
        ml.Model.ExportPeftAdapter(model, folder);
        Dictionary<string, long[]> found = Shapes(Path.Combine(folder, "adapter_model.safetensors"));
        Assert.Equal([8, 32], found[adapterKey]);
        foreach (string key in headKeys) Assert.Contains(key, found.Keys);
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "adapter_config.json")))!.AsObject();
        Assert.Equal(modulesToSave, config["modules_to_save"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Equal(architecture, JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!["architectures"]![0]!.GetValue<string>());

        using var imported = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(folder, BackboneSource.HuggingFaceFolder(family.Folder), "Sentence1", "Sentence2");
        Assert.Equal(Bits(model.Transform(test).GetColumn<float[]>("Score")), Bits(imported.Transform(test).GetColumn<float[]>("Score")));

        if (modelType == "distilbert")
        {
            // Without pre_classifier in modules_to_save the adapter cannot rebuild the head: refused with the reason.
            JsonObject edited = (JsonObject)config.DeepClone();
            edited["modules_to_save"] = new JsonArray("classifier", "score");
            File.WriteAllText(Path.Combine(folder, "adapter_config.json"), edited.ToJsonString());
            Assert.Contains("pre_classifier", Assert.Throws<NotSupportedException>(
                () => ml.Model.LoadPeftAdapter(folder, BackboneSource.HuggingFaceFolder(family.Folder), "Sentence1", "Sentence2")).Message);
        }
    }

    [Fact]
    public void Models_without_a_PEFT_equivalent_are_refused_with_the_reason()
    {
        MLContext ml = Context(merge: false);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        ITransformer full = FitPairs(ml, train, o => { o.AdapterKind = AdapterKind.FullFineTuning; o.LearningRate = 1e-4; });
        var fullError = Assert.Throws<NotSupportedException>(() => ml.Model.ExportPeftAdapter(full, temp.Sub("full")));
        Assert.Contains("fully fine-tuned", fullError.Message);
        Assert.Contains("mlContext.Model.Save", fullError.Message);

        ITransformer pooled = FitPairs(ml, train, o => o.Head = HeadKind.MeanPooling);
        var pooledError = Assert.Throws<NotSupportedException>(() => ml.Model.ExportPeftAdapter(pooled, temp.Sub("pooled")));
        Assert.Contains("mean of the token states", pooledError.Message);
        Assert.Contains("RobertaForSequenceClassification", pooledError.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(temp.Path, "pooled")));

        Assert.Throws<ArgumentException>(() => ml.Model.ExportPeftAdapter(ml.Transforms.Conversion.MapValueToKey("SameLabel").Fit(train), temp.Sub("none")));
    }

    /// <summary>
    /// A folder as PEFT writes it for RobertaForSequenceClassification + MissConfig(r=4, target_modules=["query", "value"]),
    /// made here without the exporter: keys from the code paths above, tensors written with TorchSharp.PyBridge's
    /// safetensors writer, the config text as json.dumps(indent=2, sort_keys=True) prints it (a set's order for
    /// target_modules, a real peft_version).
    /// </summary>
    string PythonStyleMissFolder(string name, int rank = 4, Action<JsonObject>? editConfig = null, Action<Dictionary<string, Tensor>>? editTensors = null, long seed = 5)
    {
        string folder = temp.Sub(name);
        var generator = new Generator((ulong)seed);
        var tensors = new Dictionary<string, Tensor>
        {
            ["base_model.model.classifier.dense.weight"] = randn([32, 32], generator: generator) * 0.2,
            ["base_model.model.classifier.dense.bias"] = randn([32], generator: generator) * 0.2,
            ["base_model.model.classifier.out_proj.weight"] = randn([3, 32], generator: generator) * 0.2,
            ["base_model.model.classifier.out_proj.bias"] = randn([3], generator: generator) * 0.2,
        };
        foreach (int layer in new[] { 0, 1 })
            foreach (string target in new[] { "query", "value" })
                tensors[$"base_model.model.roberta.encoder.layer.{layer}.attention.self.{target}.miss_block"] = randn([rank, 32], generator: generator) * 0.1;
        editTensors?.Invoke(tensors);
        Safetensors.SaveStateDict(Path.Combine(folder, "adapter_model.safetensors"), tensors);
        foreach (Tensor t in tensors.Values) t.Dispose();
        var config = new JsonObject
        {
            ["auto_mapping"] = null, ["base_model_name_or_path"] = "FacebookAI/roberta-base", ["bias"] = "none", ["exclude_modules"] = null,
            ["inference_mode"] = true, ["init_weights"] = true, ["layers_pattern"] = null, ["layers_to_transform"] = null, ["mini_r"] = 1,
            ["miss_dropout"] = 0.0, ["modules_to_save"] = new JsonArray("classifier", "score"), ["peft_type"] = "MISS", ["peft_version"] = "0.17.1",
            ["r"] = rank, ["revision"] = null, ["target_modules"] = new JsonArray("value", "query"), ["task_type"] = "SEQ_CLS",
        };
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(folder, "adapter_config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return folder;
    }

    [Fact]
    public void A_folder_written_the_way_PEFT_writes_it_serves_with_its_labels_and_a_regex_target_means_the_same_layers()
    {
        MLContext ml = Context(merge: false);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 16);
        string folder = PythonStyleMissFolder("python");
        File.WriteAllText(Path.Combine(folder, "config.json"), """{"id2label": {"0": "negative", "1": "neutral", "2": "positive"}, "model_type": "roberta"}""");
        BackboneSource source = BackboneSource.HuggingFaceFolder(roberta.Folder);
        using var imported = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(folder, source, "Sentence1", "Sentence2");
        Assert.Equal(["negative", "neutral", "positive"], imported.ClassNames);
        float[][] scores = [.. imported.Transform(test).GetColumn<float[]>("Score")];
        Assert.All(scores, s => Assert.Equal(3, s.Length));
        // The tokenizer_config.json is absent: the backbone's own limit (64 positions - 2) applies.
        Assert.Equal(64, imported.Core.Definition.Tokenizer.MaxLength);

        // The shards are used: zero them and the scores change.
        string zero = PythonStyleMissFolder("python-zero", editTensors: t =>
        {
            foreach (string key in t.Keys.Where(k => k.EndsWith("miss_block", StringComparison.Ordinal)).ToList()) t[key] = zeros_like(t[key]);
        });
        File.Copy(Path.Combine(folder, "config.json"), Path.Combine(zero, "config.json"));
        using (var plain = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(zero, source, "Sentence1", "Sentence2"))
            Assert.NotEqual(Bits(scores), Bits(plain.Transform(test).GetColumn<float[]>("Score")));

        // target_modules as a regular expression (PEFT: re.fullmatch against each module name) picks the same layers.
        string regex = PythonStyleMissFolder("python-regex", editConfig: c => c["target_modules"] = @".*\.attention\.self\.(query|value)");
        File.Copy(Path.Combine(folder, "config.json"), Path.Combine(regex, "config.json"));
        using (var byRegex = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(regex, source, "Sentence1", "Sentence2"))
            Assert.Equal(Bits(scores), Bits(byRegex.Transform(test).GetColumn<float[]>("Score")));

        // Without config.json labels: the backbone has none either, so transformers' defaults.
        File.Delete(Path.Combine(folder, "config.json"));
        using (var unnamed = (FossilTextClassificationTransformer)ml.Model.LoadPeftAdapter(folder, source, "Sentence1", "Sentence2"))
            Assert.Equal(["LABEL_0", "LABEL_1", "LABEL_2"], unnamed.ClassNames);
    }

    [Fact]
    public void Unknown_types_unsupported_options_missing_keys_and_shape_mismatches_are_refused_by_name()
    {
        MLContext ml = Context(merge: false);
        BackboneSource source = BackboneSource.HuggingFaceFolder(roberta.Folder);
        ITransformer Load(string folder) => ml.Model.LoadPeftAdapter(folder, source, "Sentence1", "Sentence2");

        var ia3 = Assert.Throws<NotSupportedException>(() => Load(PythonStyleMissFolder("ia3", editConfig: c => c["peft_type"] = "IA3")));
        Assert.Contains("'IA3'", ia3.Message);
        var causal = Assert.Throws<NotSupportedException>(() => Load(PythonStyleMissFolder("causal", editConfig: c => c["task_type"] = "CAUSAL_LM")));
        Assert.Contains("'CAUSAL_LM'", causal.Message);
        var layers = Assert.Throws<NotSupportedException>(() => Load(PythonStyleMissFolder("layers", editConfig: c => c["layers_to_transform"] = new JsonArray(0))));
        Assert.Contains("layers_to_transform", layers.Message);
        var dora = Assert.Throws<NotSupportedException>(() => Load(PythonStyleMissFolder("dora", editConfig: c =>
        {
            c["peft_type"] = "LORA";
            c["use_dora"] = true;
        })));
        Assert.Contains("use_dora = true", dora.Message);
        var pissa = Assert.Throws<NotSupportedException>(() => Load(PythonStyleMissFolder("pissa", editConfig: c =>
        {
            c["peft_type"] = "LORA";
            c["init_lora_weights"] = "pissa";
        })));
        Assert.Contains("path_initial_model_for_weight_conversion", pissa.Message);

        var missing = Assert.Throws<InvalidDataException>(() => Load(PythonStyleMissFolder("missing",
            editTensors: t => t.Remove("base_model.model.roberta.encoder.layer.1.attention.self.value.miss_block"))));
        Assert.Contains("missing [base_model.model.roberta.encoder.layer.1.attention.self.value.miss_block]", missing.Message);

        var unexpected = Assert.Throws<InvalidDataException>(() => Load(PythonStyleMissFolder("unexpected",
            editTensors: t => t["base_model.model.roberta.encoder.layer.0.attention.self.key.miss_block"] = zeros(4, 32))));
        Assert.Contains("unexpected [base_model.model.roberta.encoder.layer.0.attention.self.key.miss_block]", unexpected.Message);

        // r = 8 in the config, shards of 4 rows in the file.
        var shape = Assert.Throws<InvalidDataException>(() => Load(PythonStyleMissFolder("shape", editConfig: c => c["r"] = 8)));
        Assert.Contains("'base_model.model.roberta.encoder.layer.0.attention.self.query.miss_block' is [4, 32], expected [8, 32]", shape.Message);

        var outside = Assert.Throws<InvalidDataException>(() => Load(PythonStyleMissFolder("outside",
            editTensors: t => t["roberta.encoder.layer.0.attention.self.query.miss_block"] = zeros(4, 32))));
        Assert.Contains("roberta.encoder.layer.0.attention.self.query.miss_block", outside.Message);

        string labels = PythonStyleMissFolder("labels");
        File.WriteAllText(Path.Combine(labels, "config.json"), """{"id2label": {"0": "a", "1": "b"}}""");
        Assert.Contains("2 labels", Assert.Throws<InvalidDataException>(() => Load(labels)).Message);

        Assert.Throws<FileNotFoundException>(() => Load(temp.Sub("empty")));
    }

    [Fact]
    public void A_BERT_backbone_without_pooler_weights_is_refused_for_import()
    {
        string bert = TinyBertFolder(withPooler: false);
        string folder = PythonStyleMissFolder("bert-adapter", editTensors: t =>
        {
            foreach (string key in t.Keys.ToList())
            {
                Tensor value = t[key];
                t.Remove(key);
                t[key.Replace(".roberta.", ".bert.", StringComparison.Ordinal)] = value;
            }
        });
        MLContext ml = Context(merge: false);
        var error = Assert.Throws<NotSupportedException>(() => ml.Model.LoadPeftAdapter(folder, BackboneSource.HuggingFaceFolder(bert), "Sentence1"));
        Assert.Contains("pooler", error.Message);
    }
}
