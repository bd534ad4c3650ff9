using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.Fossil.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil;

/// <summary>
/// How models find their frozen backbone at load time, and whether adapters are merged for
/// inference. Set before <c>mlContext.Model.Load</c>.
/// </summary>
public static class FossilBackbones
{
    static readonly List<string> searchFolders = [];
    static readonly Lock gate = new();

    /// <summary>Environment variable with extra backbone folders (separated by the path separator).</summary>
    public const string PathVariable = "FOSSIL_BACKBONE_PATH";

    /// <summary>
    /// Adds a Hugging Face folder to try when a model's recorded backbone folder is missing or
    /// differs (a moved or copied backbone). Folders are matched by the weights' SHA-256.
    /// </summary>
    public static void AddSearchFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        lock (gate) searchFolders.Add(Path.GetFullPath(folder));
    }

    /// <summary>
    /// Forgets the backbone hashes remembered in this process. A backbone file is hashed once per
    /// process and re-hashed when its size or last write time changes; call this to hash every
    /// backbone again at its next load (e.g. after restoring a file together with its old timestamp).
    /// </summary>
    public static void ForgetBackboneHashes() => BackboneSource.ForgetHashes();

    /// <summary>Removes all folders added with <see cref="AddSearchFolder"/>.</summary>
    public static void ClearSearchFolders()
    {
        lock (gate) searchFolders.Clear();
    }

    /// <summary>Environment variable setting the default of <see cref="MergeAdaptersOnLoad"/> ("0"/"false" to keep adapters separate).</summary>
    public const string MergeVariable = "FOSSIL_MERGE_ADAPTERS_ON_LOAD";

    /// <summary>
    /// Whether loaded models fold their adapters into the base weights (default true, or the value of
    /// <see cref="MergeVariable"/>): inference then costs exactly the bare backbone. The merge is exact in
    /// arithmetic; scores differ from the unmerged model only by float rounding (within 1e-5).
    /// </summary>
    public static bool MergeAdaptersOnLoad { get; set; } =
        Environment.GetEnvironmentVariable(MergeVariable) is not { } value || !(value == "0" || value.Equals("false", StringComparison.OrdinalIgnoreCase));

    /// <summary>Environment variable setting the default of <see cref="MapWeightFiles"/> ("0"/"false" to copy weights into memory).</summary>
    public const string MapVariable = "FOSSIL_MAP_WEIGHT_FILES";

    /// <summary>
    /// Whether backbone weights read from safetensors files are mapped copy-on-write instead of copied
    /// (default true, or the value of <see cref="MapVariable"/>). Mapped, a load copies nothing and
    /// processes that use the same backbone share its pages through the page cache; merging adapters
    /// copies only the pages it writes. The file must then not be rewritten in place while a model uses
    /// it: truncating it can crash the process (SIGBUS), as with any memory-mapped file. Replace backbone
    /// files by writing a new file and renaming it over the old one (the hub download does), or set this
    /// to false to read weights into the process's own memory.
    /// </summary>
    public static bool MapWeightFiles { get; set; } =
        Environment.GetEnvironmentVariable(MapVariable) is not { } value || !(value == "0" || value.Equals("false", StringComparison.OrdinalIgnoreCase));

    internal static IReadOnlyList<string> SearchFolders()
    {
        var folders = new List<string>();
        lock (gate) folders.AddRange(searchFolders);
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } variable)
            folders.AddRange(variable.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        return folders;
    }
}

/// <summary>
/// A fine-tuned model: a frozen backbone with adapters and a head, its tokenizer and labels. This is
/// what the ML.NET transformer wraps; it saves in the compact format (docs/model-format.md).
/// </summary>
public sealed class FineTunedModel : IDisposable
{
    FineTunedModel(SequenceClassifier network, TextEncoder textEncoder, PredictionTask task, IReadOnlyList<string> labelNames,
        AdapterOptions adapter, BackboneIdentity backbone, IReadOnlyDictionary<string, byte[]> tokenizerFiles, bool lowerCase)
    {
        Network = network;
        TextEncoder = textEncoder;
        Task = task;
        LabelNames = labelNames;
        Adapter = adapter;
        Backbone = backbone;
        TokenizerFiles = tokenizerFiles;
        LowerCase = lowerCase;
    }

    /// <summary>Encoder, adapters and head.</summary>
    public SequenceClassifier Network { get; }
    /// <summary>The tokenizer the model was trained with.</summary>
    public TextEncoder TextEncoder { get; }
    /// <summary>Classification or regression.</summary>
    public PredictionTask Task { get; }
    /// <summary>Class names in output order (empty for regression).</summary>
    public IReadOnlyList<string> LabelNames { get; }
    /// <summary>The adapter configuration.</summary>
    public AdapterOptions Adapter { get; }
    /// <summary>The backbone's identity.</summary>
    public BackboneIdentity Backbone { get; }
    /// <summary>Where the model runs.</summary>
    public Device Device { get; private set; } = CPU;
    /// <summary>Training summary, when the model was trained in this process or saved with one.</summary>
    public JsonNode? TrainingSummary { get; set; }
    /// <summary>Input column names recorded for information.</summary>
    public IReadOnlyDictionary<string, string> Columns { get; set; } = new Dictionary<string, string>();

    internal IReadOnlyDictionary<string, byte[]> TokenizerFiles { get; }
    internal bool LowerCase { get; }

    /// <summary>Builds a model to train: the backbone with a new head and adapters per <paramref name="adapter"/>.</summary>
    public static FineTunedModel Create(LoadedBackbone backbone, PredictionTask task, IReadOnlyList<string> labelNames, AdapterOptions adapter,
        int maxLength, int seed, HeadKind head = HeadKind.Default)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(labelNames);
        ArgumentNullException.ThrowIfNull(adapter);
        int numLabels = task == PredictionTask.Regression ? 1 : labelNames.Count;
        if (task == PredictionTask.Classification && numLabels < 2)
            throw new ArgumentException($"Classification needs at least two classes; found {numLabels}.", nameof(labelNames));
        TextEncoder encoder = backbone.CreateTextEncoder(maxLength);
        // Default: what the backbone was pretrained for (mean pooling for sentence-transformers models);
        // BERT checkpoints without a pooler also fall back to mean pooling rather than a random frozen pooler.
        if (head == HeadKind.Default && (backbone.PreferredHead == HeadKind.MeanPooling ||
                                         (backbone.Encoder.Config.Family == EncoderFamily.Bert && !backbone.Encoder.HasPooler)))
            head = HeadKind.MeanPooling;
        manual_seed(seed);
        var network = new SequenceClassifier(backbone.Encoder, numLabels, head);
        AdapterInjector.Apply(network, adapter);
        return new FineTunedModel(network, encoder, task, labelNames, adapter, backbone.Identity, backbone.TokenizerFiles, backbone.LowerCase);
    }

    /// <summary>Moves the model to <paramref name="device"/>.</summary>
    public void MoveTo(Device device)
    {
        Network.to(device);
        Device = device;
    }

    /// <summary>Trainable and total parameter counts.</summary>
    public AdapterReport ParameterReport() => AdapterInjector.Report(Network);

    /// <summary>Tokenizes one row (text, optional second text).</summary>
    public EncodedText Encode(string? text, string? pair = null) => TextEncoder.Encode(text, pair);

    /// <summary>Raw outputs (logits, or the predicted value) per row, in input order, computed in batches.</summary>
    public float[][] Predict(IReadOnlyList<EncodedText> rows, int batchSize = 32) => TrainingLoop.Predict(Network, TextEncoder, rows, batchSize, Device);

    /// <summary>Folds adapters into the base weights (exact); a no-op for full fine-tuning.</summary>
    public void MergeAdapters() => AdapterInjector.MergeAll(Network);

    /// <summary>Whether all adapters are merged.</summary>
    public bool AdaptersMerged => AdapterInjector.AdaptedLayers(Network) is { Count: > 0 } layers && layers.All(l => l.Layer.Merged);

    /// <summary>
    /// Writes the model in the compact format: manifest and trained tensors, and the backbone only
    /// when <paramref name="embedBackbone"/> is set.
    /// </summary>
    public void Save(IModelEntryStore store, bool embedBackbone = false)
    {
        ArgumentNullException.ThrowIfNull(store);
        bool merged = AdaptersMerged;
        if (merged) AdapterInjector.UnmergeAll(Network);
        try
        {
            byte[] trained = CompactModelFormat.ToSafetensors(AdapterInjector.TrainableStateDict(Network));
            var manifest = new CompactModelManifest
            {
                Task = Task == PredictionTask.Regression ? "regression" : "classification",
                NumLabels = Network.NumLabels,
                LabelNames = LabelNames,
                Head = Network.HeadKind == HeadKind.MeanPooling ? "mean_pooling" : "default",
                EncoderConfig = JsonNode.Parse(Network.Backbone.Config.ToJson())!,
                AdapterConfig = JsonNode.Parse(Adapter.ToJson())!,
                Tokenizer = JsonNode.Parse(TextEncoder.Settings.ToJson())!,
                Backbone = Backbone,
                BackboneEmbedded = embedBackbone,
                TrainedSha256 = CompactModelFormat.Sha256(trained),
                Columns = Columns,
                Training = TrainingSummary?.DeepClone(),
            };
            CompactModelFormat.WriteManifest(store, manifest);
            store.Write(CompactModelFormat.TrainedEntry, trained);
            if (embedBackbone)
            {
                store.Write(CompactModelFormat.BackboneEntry, CompactModelFormat.ToSafetensors(AdapterInjector.BaseStateDict(Network.Backbone)));
                foreach (var (name, bytes) in TokenizerFiles) store.Write(CompactModelFormat.TokenizerEntryPrefix + name, bytes);
            }
        }
        finally
        {
            if (merged) AdapterInjector.MergeAll(Network);
        }
    }

    /// <summary>
    /// Reads a compact model: finds the backbone (embedded, at its recorded place, or in
    /// <see cref="FossilBackbones"/>' search folders, always verified by hash), rebuilds the network
    /// and loads the trained tensors.
    /// </summary>
    public static FineTunedModel Load(IModelEntryStore store, bool? mergeAdapters = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        CompactModelManifest manifest = CompactModelFormat.ReadManifest(store);
        byte[] trained = store.Read(CompactModelFormat.TrainedEntry)
                         ?? throw new InvalidDataException($"The model has no '{CompactModelFormat.TrainedEntry}' entry.");
        if (!string.Equals(CompactModelFormat.Sha256(trained), manifest.TrainedSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"The model's '{CompactModelFormat.TrainedEntry}' entry does not match its recorded SHA-256: the file was altered or damaged.");

        EncoderConfig config = EncoderConfig.FromJson(manifest.EncoderConfig.ToJsonString(), "the model's encoder_config");
        AdapterOptions adapter = AdapterOptions.FromJson(manifest.AdapterConfig.ToJsonString(), "the model's adapter_config");
        TextEncoderSettings tokenizer = TextEncoderSettings.FromJson(manifest.Tokenizer.ToJsonString());
        LoadedBackbone backbone = manifest.BackboneEmbedded ? EmbeddedBackbone(store, manifest, config, tokenizer) : ResolveBackbone(manifest.Backbone);
        if (backbone.Encoder.Config.ToJson() != config.ToJson())
            throw new BackboneMismatchException("The backbone's config.json differs from the one the model was trained with.");

        PredictionTask task = manifest.Task switch
        {
            "classification" => PredictionTask.Classification,
            "regression" => PredictionTask.Regression,
            _ => throw new InvalidDataException($"The model's task '{manifest.Task}' is unknown."),
        };
        HeadKind head = manifest.Head == "mean_pooling" ? HeadKind.MeanPooling : HeadKind.Default;
        var network = new SequenceClassifier(backbone.Encoder, manifest.NumLabels, head);
        AdapterInjector.Apply(network, adapter);
        Dictionary<string, Tensor> tensors = CompactModelFormat.FromSafetensors(trained, CompactModelFormat.TrainedEntry);
        try
        {
            var expected = AdapterInjector.TrainableStateDict(network);
            var missing = expected.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            var unexpected = tensors.Keys.Where(k => !expected.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException($"The model's trained tensors do not fit its adapter configuration: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}].");
            StateDictLoader.Load(network, tensors, CompactModelFormat.TrainedEntry,
                mayBeMissing: name => !expected.ContainsKey(name));
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
        foreach (var (_, parameter) in network.named_parameters()) parameter.requires_grad = false;
        network.eval();
        TextEncoder textEncoder = LoadedBackbone.CreateTextEncoder(config, backbone.TokenizerFiles, backbone.LowerCase, tokenizer.MaxLength);
        if (textEncoder.Settings.VocabularySha256 != tokenizer.VocabularySha256)
            throw new BackboneMismatchException("The backbone's tokenizer vocabulary differs from the one the model was trained with.");
        var model = new FineTunedModel(network, textEncoder, task, manifest.LabelNames, adapter, backbone.Identity, backbone.TokenizerFiles, backbone.LowerCase)
        {
            TrainingSummary = manifest.Training,
            Columns = manifest.Columns,
        };
        if (mergeAdapters ?? FossilBackbones.MergeAdaptersOnLoad) model.MergeAdapters();
        return model;
    }

    static LoadedBackbone EmbeddedBackbone(IModelEntryStore store, CompactModelManifest manifest, EncoderConfig config, TextEncoderSettings tokenizer)
    {
        byte[] weights = store.Read(CompactModelFormat.BackboneEntry)
                         ?? throw new InvalidDataException($"The model says its backbone is embedded but has no '{CompactModelFormat.BackboneEntry}' entry.");
        Dictionary<string, Tensor> tensors = CompactModelFormat.FromSafetensors(weights, CompactModelFormat.BackboneEntry);
        try
        {
            EncoderModel encoder = EncoderModel.FromStateDict(config, addPoolingLayer: tensors.Keys.Any(k => k.StartsWith("pooler.", StringComparison.Ordinal)),
                tensors, CompactModelFormat.BackboneEntry, out _);
            string sha = WeightsIdentity.Sha256(encoder);
            if (manifest.Backbone.Sha256 is { } expected && !string.Equals(sha, expected, StringComparison.OrdinalIgnoreCase))
            {
                encoder.Dispose();
                throw new InvalidDataException("The model's embedded backbone does not match its recorded SHA-256: the file was altered or damaged.");
            }
            var files = new Dictionary<string, byte[]>();
            foreach (string name in BackboneSource.TokenizerFileNames)
                if (store.Read(CompactModelFormat.TokenizerEntryPrefix + name) is { } bytes) files[name] = bytes;
            return new LoadedBackbone(encoder, manifest.Backbone, files, tokenizer.LowerCase);
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>The recorded source first, then the search folders; every candidate is verified by hash.</summary>
    static LoadedBackbone ResolveBackbone(BackboneIdentity identity)
    {
        var attempts = new List<string>();
        try
        {
            return BackboneSource.FromIdentity(identity).Load(identity.Sha256);
        }
        catch (Exception e) when (e is IOException or BackboneMismatchException or InvalidDataException or UnauthorizedAccessException)
        {
            attempts.Add($"{identity.Kind} '{identity.Locator}': {e.Message}");
        }
        foreach (string folder in FossilBackbones.SearchFolders())
        {
            try
            {
                return BackboneSource.HuggingFaceFolder(folder).Load(identity.Sha256);
            }
            catch (Exception e) when (e is IOException or BackboneMismatchException or InvalidDataException or UnauthorizedAccessException)
            {
                attempts.Add($"search folder '{folder}': {e.Message}");
            }
        }
        throw new BackboneMismatchException(
            $"The backbone this model was trained on (SHA-256 {identity.Sha256}) was not found. Tried: {string.Join(" | ", attempts)}. " +
            $"Add the folder that holds it with FossilBackbones.AddSearchFolder or the {FossilBackbones.PathVariable} environment variable, " +
            "or save the model with the backbone embedded.");
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();
}
