using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Models;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil;

public static partial class FossilCatalog
{
    /// <summary>
    /// Writes a fitted FOSSIL or LoRA model as a PEFT adapter folder, as Python's
    /// <c>PeftModelForSequenceClassification.save_pretrained</c> writes it: <c>adapter_config.json</c> (peft_type "MISS" or
    /// "LORA", task_type "SEQ_CLS", r, mini_r, init_weights, target_modules, modules_to_save, base_model_name_or_path,
    /// and every other field PEFT writes) and <c>adapter_model.safetensors</c> with PEFT's key names and layouts. It adds
    /// <c>config.json</c> (transformers' sequence-classification config with the labels) and the backbone's tokenizer
    /// files, so that in Python <c>PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base,
    /// config=AutoConfig.from_pretrained(folder)), folder)</c> rebuilds the model.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="model">The fitted model: a Fossil transformer, or a chain holding exactly one.</param>
    /// <param name="folder">The folder to write (created if needed; the files named above are replaced).</param>
    /// <exception cref="NotSupportedException">
    /// The model has no PEFT equivalent, and the message says why: full fine-tuning (every weight changed), or the
    /// mean-pooling head (sentence-transformers backbones such as the default MiniLM), which transformers' classes
    /// do not have, so a folder would load in Python as a different model.
    /// </exception>
    /// <exception cref="ArgumentException"><paramref name="model"/> holds no Fossil transformer, or more than one.</exception>
    public static void ExportPeftAdapter(this ModelOperationsCatalog catalog, ITransformer model, string folder)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        FossilTransformerCore core = SingleCore(model);
        PeftAdapterFormat.Export(core.Definition, core.Network.BackboneTokenizerFiles, Path.GetFullPath(folder));
    }

    /// <summary>
    /// Serves a PEFT adapter (MiSS or LoRA, task_type SEQ_CLS; trained in Python or exported by
    /// <see cref="ExportPeftAdapter"/>) on its backbone as an ML.NET transformer: a
    /// <see cref="FossilTextClassificationTransformer"/> (Score and PredictedLabel; labels from <c>id2label</c> of the
    /// adapter folder's config.json, else of the backbone's, else LABEL_0, LABEL_1, ...) or, for a head with one output
    /// (problem_type "regression"), a <see cref="FossilSentenceSimilarityTransformer"/>. It works with <c>Transform</c>,
    /// <c>PredictionEngine</c> and <c>mlContext.Model.Save</c> like a fitted model.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="adapterFolder">The folder with adapter_config.json and adapter_model.safetensors (or adapter_model.bin).</param>
    /// <param name="backbone">The base model; null takes <c>base_model_name_or_path</c> (a folder if it exists, else a hub id at <c>revision</c>).</param>
    /// <param name="sentence1ColumnName">The (first) sentence column.</param>
    /// <param name="sentence2ColumnName">The second sentence column of pair tasks, or null.</param>
    /// <param name="maxSequenceLength">
    /// Longest token sequence per row; null takes <c>model_max_length</c> of the folder's tokenizer_config.json (what
    /// transformers truncates to; an exported folder records the model's own), else the backbone's limit.
    /// </param>
    /// <param name="scoreColumnName">The output score column.</param>
    /// <param name="predictedLabelColumnName">The output predicted-label column (classification).</param>
    /// <returns>A <see cref="FossilTextClassificationTransformer"/> or a <see cref="FossilSentenceSimilarityTransformer"/>.</returns>
    /// <exception cref="NotSupportedException">An unknown peft_type or task_type, or an option this library does not implement; the message names it.</exception>
    /// <exception cref="InvalidDataException">Missing or unexpected keys, or shape mismatches, named as PEFT names them; or a damaged file.</exception>
    /// <exception cref="FileNotFoundException">The folder, its files or the backbone are missing.</exception>
    public static ITransformer LoadPeftAdapter(this ModelOperationsCatalog catalog, string adapterFolder, BackboneSource? backbone,
        string sentence1ColumnName, string? sentence2ColumnName = null, int? maxSequenceLength = null,
        string scoreColumnName = "Score", string predictedLabelColumnName = "PredictedLabel")
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(adapterFolder);
        ArgumentException.ThrowIfNullOrWhiteSpace(sentence1ColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(scoreColumnName);
        ArgumentException.ThrowIfNullOrWhiteSpace(predictedLabelColumnName);
        IHostEnvironment env = CatalogEnvironment.Of(catalog);
        FossilSettings settings = SettingsOf(env);
        string folder = Path.GetFullPath(adapterFolder);
        Native.TorchRuntime.EnsureLoaded();

        using PeftAdapterFormat.ImportedAdapter adapter = PeftAdapterFormat.Read(folder);
        string configPath = Path.Combine(folder, PeftAdapterFormat.ConfigFileName);
        BackboneSource source = backbone ?? BaseModelOf(adapter, configPath);
        LoadedBackbone loaded = BackboneLoader.Load(source.Locator, settings.ForBackboneLoading());
        try
        {
            EncoderModel encoder = loaded.Encoder;
            if (PeftAdapterFormat.Architecture(encoder.Config) is null)
                throw new NotSupportedException(
                    $"PEFT import covers BERT, RoBERTa, XLM-RoBERTa, CamemBERT, DistilBERT and ELECTRA backbones; {source.Description} is a '{encoder.Config.ModelType}'.");
            string prefix = EncoderFamilies.Of(encoder.Config.Family).StateDictPrefix;
            if (encoder.Config.Family == EncoderFamily.Bert && !encoder.HasPooler)
                throw new NotSupportedException(
                    $"{source.Description} has no pooler weights: transformers' BertForSequenceClassification classifies the pooler's output and would " +
                    "initialise a missing pooler at random, which the adapter does not carry. Use the backbone the adapter was trained on.");
            if (encoder.Config.Family == EncoderFamily.DistilBert
                && !(adapter.Config["modules_to_save"] is System.Text.Json.Nodes.JsonArray saved && saved.Any(m => m?.GetValue<string>() == SequenceClassifier.PreClassifierName)))
                throw new NotSupportedException(
                    $"{configPath}: DistilBertForSequenceClassification's pre_classifier layer is not in modules_to_save, so the adapter does not carry it " +
                    "and PEFT would have used a freshly initialised one. Train with modules_to_save=[\"pre_classifier\"].");
            List<string> linearLayers = [.. encoder.named_modules().Where(m => m.module is TorchSharp.Modules.Linear).Select(m => $"{prefix}.{m.name}")];
            Adapters.AdapterOptions options = PeftAdapterFormat.Options(adapter.Config, linearLayers, configPath);

            // The number of outputs is the head's: RoBERTa's and ELECTRA's out_proj, BERT's and DistilBERT's classifier.
            string headKey = PeftAdapterFormat.HeadOutputKey(encoder.Config.Family);
            if (!adapter.Tensors.TryGetValue(headKey, out TorchSharp.torch.Tensor? head) || head.dim() != 2)
                throw new InvalidDataException(
                    $"{adapter.WeightsFile} has no classification head '{PeftAdapterFormat.KeyPrefix}{headKey}' (a [labels, hidden] matrix): " +
                    "was the adapter saved from a sequence-classification model with the head in modules_to_save?");
            var (task, labels) = PeftAdapterFormat.Labels((int)head.shape[0],
                PeftAdapterFormat.ReadJsonObject(Path.Combine(folder, PeftAdapterFormat.ModelConfigFileName)),
                loaded.ConfigJsonText is { } text ? System.Text.Json.Nodes.JsonNode.Parse(text) as System.Text.Json.Nodes.JsonObject : null,
                Path.Combine(folder, PeftAdapterFormat.ModelConfigFileName));

            int maxLength = maxSequenceLength ?? Math.Min(PeftAdapterFormat.TokenizerMaxLength(folder) ?? int.MaxValue, encoder.Config.MaxSequenceLength);
            Tokenization.TextTokenizer tokenizer = loaded.CreateTokenizer(maxLength);
            var columns = new Dictionary<string, string> { ["sentence1"] = sentence1ColumnName };
            if (sentence2ColumnName is not null) columns["sentence2"] = sentence2ColumnName;
            var definition = new ModelDefinition(task, labels, HeadKind.Default, encoder.Config.ToJson(), options.ToJson(), tokenizer.Settings,
                loaded.Identity, CompactModelFormat.ToSafetensors(adapter.Tensors)) { Columns = columns };

            using var channel = new FossilChannel(env, "FossilPeftImport");
            TorchSharp.torch.Device device = DeviceChoice.Resolve(env, channel, "the imported PEFT adapter");
            var tensorSource = new FineTunedNetwork.TensorSource(adapter.WeightsFile, $"{configPath} on {source.Description}",
                name => PeftAdapterFormat.KeyPrefix + name);
            // Served like a loaded model: in the context's ServingPrecision (Auto: bf16 where the device runs it natively).
            TorchSharp.torch.ScalarType computeType = Native.PrecisionSupport.Resolve(settings.ServingPrecision, device,
                $"{nameof(FossilSettings)}.{nameof(FossilSettings.ServingPrecision)}");
            FineTunedNetwork network = FineTunedNetwork.FromDefinition(definition, loaded, device, settings.MergeAdaptersOnLoad, computeType,
                reloadPretrained: () => Checkpoints.BackboneLoader.Resolve(definition.Backbone, settings.ForBackboneLoading()).Encoder,
                source: tensorSource);
            var scoring = new ScoringColumns(sentence1ColumnName, sentence2ColumnName, scoreColumnName, predictedLabelColumnName, task, labels);
            var core = new FossilTransformerCore(definition, network, scoring, FossilDefaults.PredictionBatchSize, embedBackbone: false);
            channel.Info($"Imported {options.Kind} adapter from {folder} on {source.Description} ({labels.Count} labels).");
            return task == PredictionTask.Classification ? new FossilTextClassificationTransformer(core) : new FossilSentenceSimilarityTransformer(core);
        }
        catch
        {
            loaded.Encoder.Dispose();
            throw;
        }
    }

    /// <summary>The backbone an adapter names: its base_model_name_or_path as a folder when one exists there, else as a hub id.</summary>
    static BackboneSource BaseModelOf(PeftAdapterFormat.ImportedAdapter adapter, string configPath)
    {
        string name = adapter.BaseModel
                      ?? throw new ArgumentException($"{configPath} names no base_model_name_or_path: pass the backbone.", "backbone");
        return Directory.Exists(name) ? BackboneSource.HuggingFaceFolder(name) : BackboneSource.HuggingFaceHub(name, adapter.Revision ?? "main");
    }

    /// <summary>The one Fossil transformer in <paramref name="model"/> (itself, or inside a chain).</summary>
    static FossilTransformerCore SingleCore(ITransformer model)
    {
        var found = new List<FossilTransformerCore>();
        void Visit(ITransformer transformer)
        {
            switch (transformer)
            {
                case FossilTextClassificationTransformer classifier:
                    found.Add(classifier.Core);
                    break;
                case FossilSentenceSimilarityTransformer similarity:
                    found.Add(similarity.Core);
                    break;
                case IEnumerable<ITransformer> chain:
                    foreach (ITransformer inner in chain) Visit(inner);
                    break;
            }
        }
        Visit(model);
        return found.Count == 1 ? found[0] : throw new ArgumentException(
            found.Count == 0 ? "The model holds no Fossil transformer (fit one with FossilTextClassification or FossilSentenceSimilarity)."
                             : $"The model holds {found.Count} Fossil transformers; export one at a time.", nameof(model));
    }
}
