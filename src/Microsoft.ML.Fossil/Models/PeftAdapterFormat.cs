using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Models;

/// <summary>
/// A PEFT adapter folder, as <c>PeftModelForSequenceClassification.save_pretrained</c> writes it (huggingface/peft:
/// peft_model.py save_pretrained, utils/save_and_load.py get_peft_model_state_dict, config.py to_dict):
/// <list type="bullet">
/// <item><c>adapter_config.json</c>: every field of the method's config dataclass (MissConfig / LoraConfig with
/// PeftConfig's base fields), <c>json.dumps(indent=2, sort_keys=True)</c>, <c>inference_mode</c> true,
/// <c>task_type</c> "SEQ_CLS", <c>modules_to_save</c> with "classifier" and "score" (what
/// PeftModelForSequenceClassification adds).</item>
/// <item><c>adapter_model.safetensors</c> (metadata <c>{"format": "pt"}</c>): the model's state-dict keys under
/// <c>base_model.model.</c> with the adapter name removed: <c>...query.miss_block</c>, <c>...query.lora_A.weight</c>,
/// the head as <c>classifier.*</c> (ModulesToSaveWrapper.adapter_state_dict strips <c>modules_to_save.default.</c>),
/// biases per <c>bias</c>.</item>
/// </list>
/// The export adds <c>config.json</c> (transformers' sequence-classification config: architectures, id2label,
/// label2id, problem_type; PEFT ignores it, <c>AutoConfig.from_pretrained(folder)</c> reads it) and the backbone's
/// tokenizer files with <c>model_max_length</c> set to the model's maximum length.
/// Our state-dict names are transformers' names (SequenceClassifier, AdaptedLinear's <c>base_layer</c>), so the
/// key mapping is the prefix, plus the wrapper aliases PEFT's <c>bias="all"</c> saves.
/// </summary>
internal static class PeftAdapterFormat
{
    /// <summary>PEFT's config file.</summary>
    public const string ConfigFileName = "adapter_config.json";
    /// <summary>PEFT's weights (safe_serialization, the default).</summary>
    public const string WeightsFileName = "adapter_model.safetensors";
    /// <summary>PEFT's weights with safe_serialization=False (a torch.save pickle).</summary>
    public const string PickleWeightsFileName = "adapter_model.bin";
    /// <summary>transformers' model config, written beside the adapter.</summary>
    public const string ModelConfigFileName = "config.json";
    /// <summary>The prefix of every key: PeftModel.base_model (the tuner) .model (the transformers model).</summary>
    public const string KeyPrefix = "base_model.model.";
    /// <summary>The adapter name PEFT uses when none is given; it appears in module keys, never in saved keys.</summary>
    const string AdapterName = "default";
    /// <summary>What PeftModelForSequenceClassification appends to modules_to_save.</summary>
    static readonly string[] ClassifierModuleNames = ["classifier", "score"];

    static readonly JsonWriterOptions PythonStyle = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, NewLine = "\n" };

    // ------------------------------------------------------------------ export

    /// <summary>Why <paramref name="definition"/> cannot be written as a PEFT adapter, or null when it can.</summary>
    public static string? WhyNotExportable(ModelDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        AdapterOptions adapter = definition.Adapter;
        EncoderConfig config = definition.EncoderConfig;
        if (adapter.Kind == AdapterKind.FullFineTuning)
            return "the model was fully fine-tuned: every backbone weight changed, and a PEFT adapter holds only adapters and the head. " +
                   "Save it with mlContext.Model.Save (EmbedBackbone = true for a self-contained file) instead.";
        if (definition.Head == HeadKind.MeanPooling)
            return "the model classifies the mean of the token states (the sentence-transformers head used for MiniLM and for BERT backbones " +
                   $"without a pooler); transformers' {Architecture(config) ?? "sequence-classification model"} classifies the first token " +
                   "(through BERT's pooler), so the adapter would load silently into a different model in Python. Train on a Hugging Face " +
                   "BERT (with pooler weights) or RoBERTa folder or hub id to get a model PEFT can load, or keep using mlContext.Model.Save.";
        if (Architecture(config) is null)
            return $"the backbone's model_type '{config.ModelType}' has no known transformers sequence-classification layout here " +
                   "(PEFT export covers BERT, RoBERTa, XLM-RoBERTa, CamemBERT, DistilBERT and ELECTRA).";
        return null;
    }

    /// <summary>
    /// Writes <paramref name="definition"/> as a PEFT adapter folder (created if needed; each file replaced
    /// atomically). <paramref name="tokenizerFiles"/> are the backbone's tokenizer files. Returns the files written.
    /// </summary>
    /// <exception cref="NotSupportedException">The model has no PEFT equivalent; the message says why.</exception>
    public static IReadOnlyList<string> Export(ModelDefinition definition, IReadOnlyDictionary<string, byte[]> tokenizerFiles, string folder)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(tokenizerFiles);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (WhyNotExportable(definition) is { } reason) throw new NotSupportedException($"This model cannot be exported as a PEFT adapter: {reason}");
        AdapterOptions adapter = definition.Adapter;
        Directory.CreateDirectory(folder);
        var written = new List<string>();

        Dictionary<string, Tensor> ours = CompactModelFormat.FromSafetensors(definition.TrainedTensors, CompactModelFormat.TrainedEntry);
        try
        {
            Dictionary<string, Tensor> peft = ToPeftStateDict(ours, adapter);
            WriteAtomically(folder, WeightsFileName, path => SafetensorsWriter.Write(path, peft, new Dictionary<string, string> { ["format"] = "pt" }));
            written.Add(WeightsFileName);
        }
        finally
        {
            foreach (Tensor t in ours.Values) t.Dispose();
        }

        WriteText(folder, ConfigFileName, PythonJson(AdapterConfig(adapter, definition.Backbone)), written);
        WriteText(folder, ModelConfigFileName, PythonJson(ModelConfig(definition)), written);
        foreach (var (name, bytes) in tokenizerFiles.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (name == "tokenizer_config.json") continue;
            WriteAtomically(folder, name, path => File.WriteAllBytes(path, bytes));
            written.Add(name);
        }
        WriteText(folder, "tokenizer_config.json", PythonJson(TokenizerConfig(definition, tokenizerFiles)), written);
        return written;
    }

    /// <summary>
    /// Our trained tensors under PEFT's keys: the prefix, and with <c>bias="all"</c> the aliases PEFT saves for the head's
    /// biases (ModulesToSaveWrapper's original_module and modules_to_save.default copies, through PEFT's adapter-name removal).
    /// </summary>
    internal static Dictionary<string, Tensor> ToPeftStateDict(IReadOnlyDictionary<string, Tensor> ours, AdapterOptions adapter)
    {
        var peft = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in ours)
        {
            peft[KeyPrefix + name] = tensor;
            if (adapter.Bias != AdapterBias.All || !IsBias(name)) continue;
            // _get_learnable_bias_state_dict(bias="all") takes every key ending in ".bias" of the PEFT model's state dict,
            // which for a head wrapped in ModulesToSaveWrapper includes both of its copies.
            string? wrapped = adapter.ModulesToSave.FirstOrDefault(m => name.StartsWith(m + ".", StringComparison.Ordinal));
            if (wrapped is null) continue;
            string rest = name[(wrapped.Length + 1)..];
            peft[KeyPrefix + RemoveAdapterName($"{wrapped}.original_module.{rest}")] = tensor;
            peft[KeyPrefix + RemoveAdapterName($"{wrapped}.modules_to_save.{AdapterName}.{rest}")] = tensor;
        }
        return peft;
    }

    static bool IsBias(string name) => name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal);

    /// <summary>PEFT's _remove_adapter_name_from_state_dict_key (tuners_utils.py), for the adapter "default".</summary>
    internal static string RemoveAdapterName(string key)
    {
        if (!key.Contains('.', StringComparison.Ordinal)) return key;
        string suffix = "." + AdapterName;
        if (key.EndsWith(suffix, StringComparison.Ordinal)) return key[..^suffix.Length];
        int dot = key.LastIndexOf('.');
        string head = key[..dot];
        if (head.EndsWith(suffix, StringComparison.Ordinal)) head = head[..^suffix.Length];
        return $"{head}.{key[(dot + 1)..]}";
    }

    /// <summary>PEFT's modules_to_save for a SEQ_CLS model: ours, then "classifier" and "score" where missing.</summary>
    static List<string> PeftModulesToSave(AdapterOptions adapter) =>
        [.. adapter.ModulesToSave, .. ClassifierModuleNames.Where(m => !adapter.ModulesToSave.Contains(m))];

    /// <summary>adapter_config.json: every field the config dataclass writes (asdict), with PEFT's defaults where we have no value.</summary>
    internal static JsonObject AdapterConfig(AdapterOptions adapter, BackboneIdentity backbone)
    {
        (string? baseModel, string? revision) = BaseModel(backbone);
        var json = new JsonObject
        {
            // PeftConfigMixin + PeftConfig (config.py)
            ["auto_mapping"] = null,            // only written when task_type is None
            ["base_model_name_or_path"] = baseModel,
            ["inference_mode"] = true,          // save_pretrained sets it for the file
            ["peft_version"] = null,            // not written by PEFT: PEFT fills in its own version when it loads the file
            ["revision"] = revision,
            ["task_type"] = "SEQ_CLS",
            // the tuner's shared fields
            ["target_modules"] = new JsonArray([.. adapter.TargetModules.Select(t => (JsonNode)t)]),
            ["exclude_modules"] = null,
            ["layers_to_transform"] = null,
            ["layers_pattern"] = null,
            ["modules_to_save"] = new JsonArray([.. PeftModulesToSave(adapter).Select(t => (JsonNode)t)]),
            ["r"] = adapter.Rank,
        };
        if (adapter.Kind == AdapterKind.Fossil)
        {
            // MissConfig (tuners/miss/config.py)
            json["peft_type"] = "MISS";
            json["bias"] = adapter.Bias switch { AdapterBias.All => "all", AdapterBias.AdapterOnly => "MiSS_only", _ => "none" };
            json["miss_dropout"] = adapter.Dropout;
            json["mini_r"] = adapter.MiniRank;
            json["init_weights"] = adapter.Variant switch
            {
                FossilVariant.Mini => "mini",
                FossilVariant.Bat => "bat",
                _ => adapter.ZeroInit,
            };
        }
        else
        {
            // LoraConfig (tuners/lora/config.py); runtime_config is dropped by LoraConfig.to_dict.
            json["peft_type"] = "LORA";
            json["bias"] = adapter.Bias switch { AdapterBias.All => "all", AdapterBias.AdapterOnly => "lora_only", _ => "none" };
            json["lora_alpha"] = adapter.LoraAlpha == Math.Floor(adapter.LoraAlpha) && Math.Abs(adapter.LoraAlpha) < 1e15
                ? JsonValue.Create((long)adapter.LoraAlpha) : JsonValue.Create(adapter.LoraAlpha);
            json["lora_dropout"] = adapter.Dropout;
            json["use_rslora"] = adapter.UseRsLora;
            json["init_lora_weights"] = !adapter.ZeroInit ? JsonValue.Create(false)
                : adapter.LoraInit == LoraInit.Gaussian ? JsonValue.Create("gaussian") : JsonValue.Create(true);
            json["fan_in_fan_out"] = false;
            json["rank_pattern"] = new JsonObject();
            json["alpha_pattern"] = new JsonObject();
            json["megatron_config"] = null;
            json["megatron_core"] = "megatron.core";
            json["trainable_token_indices"] = null;
            json["loftq_config"] = new JsonObject();
            json["eva_config"] = null;
            json["corda_config"] = null;
            json["lora_ga_config"] = null;
            json["use_dora"] = false;
            json["velora_config"] = null;
            json["alora_invocation_tokens"] = null;
            json["use_qalora"] = false;
            json["qalora_group_size"] = 16;
            json["monteclora_config"] = null;
            json["layer_replication"] = null;
            json["lora_bias"] = false;
            json["target_parameters"] = null;
            json["use_bdlora"] = null;
            json["arrow_config"] = null;
            json["kasa_config"] = null;
            json["ensure_weight_tying"] = false;
        }
        return json;
    }

    /// <summary>base_model_name_or_path and revision for a backbone: the folder, the hub id (and a non-default revision), or the MiniLM's hub id.</summary>
    static (string? Name, string? Revision) BaseModel(BackboneIdentity backbone) => backbone.Kind switch
    {
        BackboneLocator.FolderKind => (backbone.Locator, null),
        BackboneLocator.HubKind => (backbone.Locator, backbone.Revision is null or "main" ? null : backbone.Revision),
        BackboneLocator.MiniLmKind => ("sentence-transformers/all-MiniLM-L6-v2", null),
        _ => (null, null),
    };

    /// <summary>transformers' class for the model, or null when its layout is not mapped here.</summary>
    internal static string? Architecture(EncoderConfig config) => config.ModelType.ToLowerInvariant() switch
    {
        "bert" => "BertForSequenceClassification",
        "roberta" => "RobertaForSequenceClassification",
        "xlm-roberta" => "XLMRobertaForSequenceClassification",
        "camembert" => "CamembertForSequenceClassification",
        "distilbert" => "DistilBertForSequenceClassification",
        "electra" => "ElectraForSequenceClassification",
        _ => null,
    };

    /// <summary>The key of the head's output layer ([labels, hidden]): the dense + out_proj heads' out_proj, else the classifier.</summary>
    internal static string HeadOutputKey(EncoderFamily family) =>
        family is EncoderFamily.Roberta or EncoderFamily.Electra ? "classifier.out_proj.weight" : "classifier.weight";

    /// <summary>transformers' slow tokenizer class of a model type, for a tokenizer_config.json that names none.</summary>
    static string TokenizerClass(EncoderConfig config) => config.ModelType.ToLowerInvariant() switch
    {
        "roberta" => "RobertaTokenizer",
        "xlm-roberta" => "XLMRobertaTokenizer",
        "camembert" => "CamembertTokenizer",
        "distilbert" => "DistilBertTokenizer",
        "electra" => "ElectraTokenizer",
        _ => "BertTokenizer",
    };

    /// <summary>config.json: the backbone's configuration with what AutoModelForSequenceClassification needs for this head.</summary>
    static JsonObject ModelConfig(ModelDefinition definition)
    {
        JsonObject config = JsonNode.Parse(definition.EncoderConfigJson)!.AsObject();
        config["architectures"] = new JsonArray(Architecture(definition.EncoderConfig)!);
        IReadOnlyList<string> labels = definition.Task == PredictionTask.Regression ? ["LABEL_0"] : definition.LabelNames;
        config["id2label"] = new JsonObject(labels.Select((name, i) => KeyValuePair.Create(i.ToString(CultureInfo.InvariantCulture), (JsonNode?)name)));
        config["label2id"] = new JsonObject(labels.Select((name, i) => KeyValuePair.Create(name, (JsonNode?)i)));
        config["problem_type"] = definition.Task == PredictionTask.Regression ? "regression" : "single_label_classification";
        return config;
    }

    /// <summary>tokenizer_config.json: the backbone's, with model_max_length the model's maximum length (transformers truncates to it).</summary>
    static JsonObject TokenizerConfig(ModelDefinition definition, IReadOnlyDictionary<string, byte[]> tokenizerFiles)
    {
        JsonObject config = tokenizerFiles.TryGetValue("tokenizer_config.json", out byte[]? bytes) && JsonNode.Parse(bytes) is JsonObject existing
            ? existing
            : new JsonObject();
        config["model_max_length"] = definition.Tokenizer.MaxLength;
        EncoderConfig encoder = definition.EncoderConfig;
        if (config["tokenizer_class"] is null) config["tokenizer_class"] = TokenizerClass(encoder);
        // WordPiece families: whether text was lower-cased.
        if (encoder.Family is EncoderFamily.Bert or EncoderFamily.DistilBert or EncoderFamily.Electra && config["do_lower_case"] is null)
            config["do_lower_case"] = definition.Tokenizer.LowerCase;
        return config;
    }

    static void WriteText(string folder, string name, string text, List<string> written)
    {
        WriteAtomically(folder, name, path => File.WriteAllText(path, text, new System.Text.UTF8Encoding(false)));
        written.Add(name);
    }

    /// <summary>Writes a temporary file beside the target and renames it over the target: a reader sees the old file or the new one.</summary>
    static void WriteAtomically(string folder, string name, Action<string> write)
    {
        string target = Path.Combine(folder, name);
        string temporary = Path.Combine(folder, $".{name}.{Guid.NewGuid():N}.partial");
        try
        {
            write(temporary);
            File.Move(temporary, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>JSON as Python's <c>json.dumps(obj, indent=2, sort_keys=True)</c> writes it (floats keep a ".0").</summary>
    internal static string PythonJson(JsonNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, PythonStyle)) Write(writer, node);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());

        static void Write(Utf8JsonWriter writer, JsonNode? node)
        {
            switch (node)
            {
                case null:
                    writer.WriteNullValue();
                    break;
                case JsonObject obj:
                    writer.WriteStartObject();
                    foreach (var (key, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                    {
                        writer.WritePropertyName(key);
                        Write(writer, value);
                    }
                    writer.WriteEndObject();
                    break;
                case JsonArray array:
                    writer.WriteStartArray();
                    foreach (JsonNode? item in array) Write(writer, item);
                    writer.WriteEndArray();
                    break;
                case JsonValue value when value.GetValueKind() == JsonValueKind.Number:
                    if (value.TryGetValue(out long integer)) writer.WriteNumberValue(integer);
                    else if (value.TryGetValue(out int small)) writer.WriteNumberValue(small);
                    else writer.WriteRawValue(PythonFloat(value.GetValue<double>()));
                    break;
                default:
                    node.WriteTo(writer);
                    break;
            }
        }
    }

    /// <summary>Python's repr of a float: "0.0", "0.1", "1e-05".</summary>
    static string PythonFloat(double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        int e = text.IndexOf('E', StringComparison.Ordinal);
        if (e >= 0)
        {
            int exponent = int.Parse(text[(e + 1)..], CultureInfo.InvariantCulture);
            return $"{text[..e]}e{(exponent < 0 ? "-" : "+")}{Math.Abs(exponent):D2}";
        }
        return text.Contains('.', StringComparison.Ordinal) || text.Contains("Infinity", StringComparison.Ordinal) || text == "NaN" ? text : text + ".0";
    }

    // ------------------------------------------------------------------ import

    /// <summary>A PEFT adapter folder as read: its configuration and its tensors under our names (the caller owns them).</summary>
    internal sealed class ImportedAdapter : IDisposable
    {
        public required string Folder { get; init; }
        /// <summary>adapter_config.json.</summary>
        public required JsonObject Config { get; init; }
        /// <summary>The weights file read.</summary>
        public required string WeightsFile { get; init; }
        /// <summary>Tensors under our state-dict names (PEFT's prefix removed, wrapper aliases dropped).</summary>
        public required Dictionary<string, Tensor> Tensors { get; init; }
        /// <summary>base_model_name_or_path, or null.</summary>
        public string? BaseModel => Config["base_model_name_or_path"]?.GetValue<string>();
        /// <summary>revision, or null.</summary>
        public string? Revision => Config["revision"]?.GetValue<string>();

        public void Dispose()
        {
            foreach (Tensor t in Tensors.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Reads a PEFT adapter folder and checks what can be checked without the backbone: the peft_type (MISS or LORA),
    /// the task_type (SEQ_CLS), options this library does not implement, and that every key is a PEFT model key.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder, adapter_config.json or the weights are missing.</exception>
    /// <exception cref="NotSupportedException">The adapter uses a method or option this library does not implement; the message names it.</exception>
    /// <exception cref="InvalidDataException">A file is damaged, or a key is not under base_model.model.</exception>
    public static ImportedAdapter Read(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"PEFT adapter folder not found: '{folder}'.");
        string configPath = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"'{folder}' is not a PEFT adapter folder: it has no {ConfigFileName}.", configPath);
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new InvalidDataException($"{configPath} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configPath} is not valid JSON: {e.Message}", e);
        }
        CheckSupported(config, configPath);

        string weights = Path.Combine(folder, WeightsFileName);
        Dictionary<string, Tensor> stored;
        if (File.Exists(weights)) stored = CheckpointFiles.ReadSafetensors(weights, map: false);
        else if (File.Exists(Path.Combine(folder, PickleWeightsFileName))) stored = CheckpointFiles.ReadPyTorch(weights = Path.Combine(folder, PickleWeightsFileName));
        else throw new FileNotFoundException($"The PEFT adapter folder '{folder}' has no {WeightsFileName} (or {PickleWeightsFileName}).", weights);

        var ours = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            List<string> outside = [.. stored.Keys.Where(k => !k.StartsWith(KeyPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
            if (outside.Count > 0)
                throw new InvalidDataException($"{weights} has keys outside PEFT's '{KeyPrefix}' prefix: {string.Join(", ", outside)}.");
            foreach (var (key, tensor) in stored)
            {
                string name = key[KeyPrefix.Length..];
                // The copies PEFT's bias="all" saves of a wrapped head's biases: the head's own key holds the value that loads.
                if (name.Contains(".original_module.", StringComparison.Ordinal) || name.Contains(".modules_to_save.", StringComparison.Ordinal))
                {
                    tensor.Dispose();
                    continue;
                }
                ours[name] = tensor;
            }
            return new ImportedAdapter { Folder = folder, Config = config, WeightsFile = weights, Tensors = ours };
        }
        catch
        {
            foreach (Tensor t in stored.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>init_lora_weights values whose base model is the unchanged backbone (the others rewrite the base weights at init).</summary>
    static readonly string[] BaseKeepingLoraInits = ["gaussian", "eva", "orthogonal"];

    /// <summary>Fields whose non-default values change what the adapter computes, in a way this library does not implement.</summary>
    static readonly string[] CommonUnsupported = ["layers_to_transform", "exclude_modules"];
    static readonly string[] LoraUnsupported =
        ["fan_in_fan_out", "use_dora", "lora_bias", "rank_pattern", "alpha_pattern", "layer_replication", "trainable_token_indices", "megatron_config",
         "use_qalora", "target_parameters", "alora_invocation_tokens", "velora_config", "monteclora_config", "use_bdlora", "arrow_config", "kasa_config"];

    static void CheckSupported(JsonObject config, string source)
    {
        string peftType = config["peft_type"] is JsonValue type && type.TryGetValue(out string? text) ? text
            : throw new InvalidDataException($"{source} has no peft_type.");
        if (peftType is not ("MISS" or "LORA"))
            throw new NotSupportedException(
                $"{source}: peft_type '{peftType}' is not supported; Microsoft.ML.Fossil imports MISS (FOSSIL) and LORA adapters" +
                (peftType == "BONE" ? " (BONE is MiSS's former name: load it in PEFT and save it again as MISS)." : "."));
        string? taskType = config["task_type"] is JsonValue task && task.TryGetValue(out string? t) ? t : null;
        if (taskType != "SEQ_CLS")
            throw new NotSupportedException(
                $"{source}: task_type is {(taskType is null ? "null" : $"'{taskType}'")}, expected 'SEQ_CLS': only adapters saved from a sequence-classification " +
                "model (PeftModelForSequenceClassification, with its classifier head) can be served as a text classifier.");
        List<string> unsupported = [.. CommonUnsupported.Concat(peftType == "LORA" ? LoraUnsupported : []).Where(f => !IsDefault(config[f]))];
        if (unsupported.Count > 0)
            throw new NotSupportedException(
                $"{source}: {string.Join(", ", unsupported.Select(f => $"{f} = {config[f]!.ToJsonString()}"))} {(unsupported.Count == 1 ? "is" : "are")} not supported " +
                "(Microsoft.ML.Fossil implements plain MiSS and LoRA on every targeted layer).");
        if (peftType == "LORA" && config["init_lora_weights"] is JsonValue init && init.TryGetValue(out string? mode) && !BaseKeepingLoraInits.Contains(mode))
            throw new NotSupportedException(
                $"{source}: init_lora_weights '{mode}' is not supported: " +
                (mode.StartsWith("pissa", StringComparison.Ordinal) || mode is "olora" or "corda" or "loftq"
                    ? "that initialisation rewrites the base model's weights, so the adapter does not apply to the original backbone. " +
                      "Convert it in PEFT first (save_pretrained with path_initial_model_for_weight_conversion)."
                    : $"expected true, false or one of {string.Join(", ", BaseKeepingLoraInits)}."));
    }

    static bool IsDefault(JsonNode? node) => node switch
    {
        null => true,
        JsonValue value when value.GetValueKind() == JsonValueKind.False => true,
        JsonArray { Count: 0 } => true,
        JsonObject { Count: 0 } => true,
        _ => false,
    };

    /// <summary>
    /// The adapter options <paramref name="config"/> describes, with a regex <c>target_modules</c> resolved to the full
    /// names of <paramref name="linearLayers"/> it matches (as PEFT's re.fullmatch does) and LoRA's base-keeping
    /// initialisations recorded as the default (they matter only before training).
    /// </summary>
    public static AdapterOptions Options(JsonObject config, IEnumerable<string> linearLayers, string source)
    {
        var normalised = (JsonObject)config.DeepClone();
        if (normalised["init_lora_weights"] is JsonValue init && init.TryGetValue(out string? mode) && mode is "eva" or "orthogonal")
            normalised["init_lora_weights"] = true;
        List<string> modulesToSave = normalised["modules_to_save"] is JsonArray save ? [.. save.Select(m => m!.GetValue<string>())] : [];
        if (normalised["target_modules"] is JsonValue pattern && pattern.TryGetValue(out string? regex) && regex != AdapterOptions.AllLinear)
        {
            Regex full;
            try
            {
                full = new Regex($"^(?:{regex})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{source}: target_modules '{regex}' is not a regular expression .NET can read: {e.Message}", e);
            }
            List<string> matched = [.. linearLayers.Where(name => full.IsMatch(name)
                && !modulesToSave.Any(m => name == m || name.StartsWith(m + ".", StringComparison.Ordinal) || name.Contains("." + m + ".", StringComparison.Ordinal)))];
            if (matched.Count == 0) throw new InvalidDataException($"{source}: target_modules '{regex}' matches no linear layer of the backbone.");
            normalised["target_modules"] = new JsonArray([.. matched.Select(m => (JsonNode)m)]);
        }
        return AdapterOptions.FromJson(normalised.ToJsonString(), source);
    }

    /// <summary>
    /// The labels of an imported classifier with <paramref name="outputs"/> outputs: <c>id2label</c> of the adapter
    /// folder's config.json (which must then have <paramref name="outputs"/> entries), else of the backbone's when it has
    /// that many, else transformers' defaults LABEL_0, LABEL_1, ...; and whether the model is a regression
    /// (one output, or problem_type "regression").
    /// </summary>
    public static (PredictionTask Task, IReadOnlyList<string> Labels) Labels(int outputs, JsonObject? adapterModelConfig, JsonObject? backboneConfig, string adapterSource)
    {
        string? problem = adapterModelConfig?["problem_type"]?.GetValue<string>();
        if (problem == "multi_label_classification")
            throw new NotSupportedException($"{adapterSource}: problem_type 'multi_label_classification' (one sigmoid per label) is not supported; the classifier scores one label per row (softmax).");
        if (outputs == 1 || problem == "regression")
        {
            if (outputs != 1) throw new InvalidDataException($"{adapterSource} says problem_type 'regression', but the head has {outputs} outputs.");
            return (PredictionTask.Regression, []);
        }
        if (Id2Label(adapterModelConfig, adapterSource) is { } fromAdapter)
        {
            if (fromAdapter.Count != outputs)
                throw new InvalidDataException($"{adapterSource} has {fromAdapter.Count} labels in id2label, but the head has {outputs} outputs.");
            return (PredictionTask.Classification, fromAdapter);
        }
        if (Id2Label(backboneConfig, "the backbone's config.json") is { } fromBackbone && fromBackbone.Count == outputs)
            return (PredictionTask.Classification, fromBackbone);
        return (PredictionTask.Classification, [.. Enumerable.Range(0, outputs).Select(i => $"LABEL_{i}")]);
    }

    static List<string>? Id2Label(JsonObject? config, string source)
    {
        if (config?["id2label"] is not JsonObject map) return null;
        var labels = new SortedDictionary<int, string>();
        foreach (var (key, value) in map)
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                throw new InvalidDataException($"{source}: id2label has the key '{key}', which is not a class index.");
            labels[id] = value?.GetValue<string>() ?? throw new InvalidDataException($"{source}: id2label[{key}] is not a string.");
        }
        if (labels.Keys.Select((id, i) => id != i).Any(gap => gap))
            throw new InvalidDataException($"{source}: id2label's keys are not 0..{labels.Count - 1}.");
        if (labels.Values.Distinct(StringComparer.Ordinal).Count() != labels.Count)
            throw new InvalidDataException($"{source}: id2label names a label twice.");
        return [.. labels.Values];
    }

    /// <summary>Reads a JSON object file, or null when absent.</summary>
    public static JsonObject? ReadJsonObject(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>The maximum sequence length an adapter folder's tokenizer_config.json gives (model_max_length), when it is a usable number.</summary>
    public static int? TokenizerMaxLength(string folder) =>
        ReadJsonObject(Path.Combine(folder, "tokenizer_config.json"))?["model_max_length"] is JsonValue value
        && value.TryGetValue(out double length) && length >= TextTokenizer.MinimumMaxLength && length < int.MaxValue
            ? (int)length
            : null;
}
