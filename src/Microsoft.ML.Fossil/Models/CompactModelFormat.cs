using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Models;

/// <summary>
/// Named binary entries of a model file. ML.NET's model zip provides them (one folder per
/// transformer); tests and tools can use any other store.
/// </summary>
internal interface IModelEntryStore
{
    /// <summary>Writes an entry.</summary>
    void Write(string name, byte[] content);

    /// <summary>Reads an entry; null when it is absent.</summary>
    byte[]? Read(string name);
}

/// <summary>The JSON manifest of a compact model (entry <see cref="CompactModelFormat.ManifestEntry"/>).</summary>
internal sealed record CompactModelManifest
{
    /// <summary>Format version; see docs/model-format.md.</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = CompactModelFormat.CurrentVersion;
    /// <summary>"classification" or "regression".</summary>
    [JsonPropertyName("task")] public required string Task { get; init; }
    /// <summary>Outputs of the head.</summary>
    [JsonPropertyName("num_labels")] public required int NumLabels { get; init; }
    /// <summary>Class names in key order (classification).</summary>
    [JsonPropertyName("label_names")] public IReadOnlyList<string> LabelNames { get; init; } = [];
    /// <summary>"default" or "mean_pooling".</summary>
    [JsonPropertyName("head")] public required string Head { get; init; }
    /// <summary>Hugging Face config.json of the encoder.</summary>
    [JsonPropertyName("encoder_config")] public required JsonNode EncoderConfig { get; init; }
    /// <summary>PEFT-style adapter_config.json.</summary>
    [JsonPropertyName("adapter_config")] public required JsonNode AdapterConfig { get; init; }
    /// <summary>Tokenizer settings.</summary>
    [JsonPropertyName("tokenizer")] public required JsonNode Tokenizer { get; init; }
    /// <summary>Where the frozen backbone comes from and its weights' SHA-256.</summary>
    [JsonPropertyName("backbone")] public required BackboneIdentity Backbone { get; init; }
    /// <summary>Whether the backbone weights and tokenizer files are inside the file.</summary>
    [JsonPropertyName("backbone_embedded")] public bool BackboneEmbedded { get; init; }
    /// <summary>SHA-256 of the trained-tensor entry, checked at load.</summary>
    [JsonPropertyName("trained_sha256")] public required string TrainedSha256 { get; init; }
    /// <summary>SHA-256 of the embedded backbone entry, checked at load (absent when the backbone is not embedded, and in older files).</summary>
    [JsonPropertyName("backbone_entry_sha256")] public string? BackboneEntrySha256 { get; init; }
    /// <summary>Input column names used in training (informational).</summary>
    [JsonPropertyName("columns")] public IReadOnlyDictionary<string, string> Columns { get; init; } = new Dictionary<string, string>();
    /// <summary>Per-epoch training summary (informational).</summary>
    [JsonPropertyName("training")] public JsonNode? Training { get; init; }
}

/// <summary>
/// The compact model format: a JSON manifest, the trained tensors (adapters + head) as safetensors,
/// and, only when asked, the backbone. See docs/model-format.md.
/// </summary>
internal static class CompactModelFormat
{
    /// <summary>The version this library writes; it reads this version and older ones.</summary>
    public const int CurrentVersion = 1;
    /// <summary>Manifest entry name.</summary>
    public const string ManifestEntry = "fossil.json";
    /// <summary>Trained tensors entry name.</summary>
    public const string TrainedEntry = "trained.safetensors";
    /// <summary>Embedded backbone weights entry name.</summary>
    public const string BackboneEntry = "backbone.safetensors";
    /// <summary>Prefix of embedded tokenizer file entries.</summary>
    public const string TokenizerEntryPrefix = "tokenizer.";

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Serialises tensors to safetensors bytes (on CPU).</summary>
    public static byte[] ToSafetensors(IReadOnlyDictionary<string, Tensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var cpu = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, tensor) in tensors) cpu[name] = tensor.detach().cpu().contiguous();
            using var stream = new MemoryStream();
            Safetensors.SaveStateDict(stream, cpu, leaveOpen: true);
            return stream.ToArray();
        }
        finally
        {
            foreach (Tensor t in cpu.Values) t.Dispose();
        }
    }

    /// <summary>Reads safetensors bytes (header checked as for backbone files); <paramref name="entry"/> names the source in errors.</summary>
    public static Dictionary<string, Tensor> FromSafetensors(byte[] bytes, string entry)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            return CheckpointFiles.ReadSafetensors(stream, entry);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"The model entry '{entry}' is damaged: {e.Message}", e);
        }
    }

    /// <summary>SHA-256 of bytes, lowercase hex.</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    /// <summary>Reads and checks the manifest.</summary>
    /// <exception cref="InvalidDataException">Absent, unreadable, or written by a newer format version.</exception>
    public static CompactModelManifest ReadManifest(IModelEntryStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        byte[] bytes = store.Read(ManifestEntry) ?? throw new InvalidDataException($"The model has no '{ManifestEntry}' entry: it was not written by Microsoft.ML.Fossil or is damaged.");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The model's '{ManifestEntry}' is damaged: {e.Message}", e);
        }
        int version = node?["format_version"]?.GetValue<int>() ?? 0;
        if (version > CurrentVersion)
            throw new InvalidDataException(
                $"The model was written in format version {version}, newer than this Microsoft.ML.Fossil reads (up to {CurrentVersion}). Update the package.");
        if (version < 1) throw new InvalidDataException($"The model's '{ManifestEntry}' has no valid format_version.");
        try
        {
            return node.Deserialize<CompactModelManifest>(JsonOptions) ?? throw new InvalidDataException($"The model's '{ManifestEntry}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The model's '{ManifestEntry}' is damaged: {e.Message}", e);
        }
    }

    /// <summary>Writes the manifest.</summary>
    public static void WriteManifest(IModelEntryStore store, CompactModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(store);
        store.Write(ManifestEntry, JsonSerializer.SerializeToUtf8Bytes(manifest, JsonOptions));
    }

    /// <summary>
    /// Writes <paramref name="definition"/>: the manifest and the trained tensors exactly as the definition holds them,
    /// and, when <paramref name="embedded"/> is given, the backbone's weights and tokenizer files.
    /// </summary>
    public static void Write(IModelEntryStore store, ModelDefinition definition, EmbeddedBackbone? embedded)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(definition);
        var manifest = new CompactModelManifest
        {
            Task = definition.Task == PredictionTask.Regression ? "regression" : "classification",
            NumLabels = definition.NumLabels,
            LabelNames = definition.LabelNames,
            Head = definition.Head == HeadKind.MeanPooling ? "mean_pooling" : "default",
            EncoderConfig = JsonNode.Parse(definition.EncoderConfigJson)!,
            AdapterConfig = JsonNode.Parse(definition.AdapterConfigJson)!,
            Tokenizer = JsonNode.Parse(definition.Tokenizer.ToJson())!,
            Backbone = definition.Backbone,
            BackboneEmbedded = embedded is not null,
            TrainedSha256 = definition.TrainedSha256,
            BackboneEntrySha256 = embedded is null ? null : Sha256(embedded.Weights),
            Columns = definition.Columns,
            Training = definition.TrainingSummaryJson is { } summary ? JsonNode.Parse(summary) : null,
        };
        WriteManifest(store, manifest);
        store.Write(TrainedEntry, definition.TrainedTensors);
        if (embedded is not null)
        {
            store.Write(BackboneEntry, embedded.Weights);
            foreach (var (name, bytes) in embedded.TokenizerFiles) store.Write(TokenizerEntryPrefix + name, bytes);
        }
    }

    /// <summary>
    /// Reads a compact model: the manifest (version checked), the trained tensors (hash checked) and, when the file
    /// embeds its backbone, the backbone entry (hash checked) and tokenizer files.
    /// </summary>
    /// <exception cref="InvalidDataException">An entry is missing, damaged, altered, or written by a newer version; the message names it.</exception>
    public static (ModelDefinition Definition, EmbeddedBackbone? Embedded) Read(IModelEntryStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        CompactModelManifest manifest = ReadManifest(store);
        byte[] trained = store.Read(TrainedEntry) ?? throw new InvalidDataException($"The model has no '{TrainedEntry}' entry.");
        if (!string.Equals(Sha256(trained), manifest.TrainedSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"The model's '{TrainedEntry}' entry does not match its recorded SHA-256: the file was altered or damaged.");
        PredictionTask task = manifest.Task switch
        {
            "classification" => PredictionTask.Classification,
            "regression" => PredictionTask.Regression,
            _ => throw new InvalidDataException($"The model's task '{manifest.Task}' is unknown."),
        };
        HeadKind head = manifest.Head switch
        {
            "mean_pooling" => HeadKind.MeanPooling,
            "default" => HeadKind.Default,
            _ => throw new InvalidDataException($"The model's head '{manifest.Head}' is unknown."),
        };
        int expectedLabels = task == PredictionTask.Regression ? 1 : manifest.LabelNames.Count;
        if (manifest.NumLabels != expectedLabels || (task == PredictionTask.Classification && expectedLabels < 2))
            throw new InvalidDataException($"The model's manifest says {manifest.NumLabels} outputs for {manifest.LabelNames.Count} label names ({manifest.Task}).");
        string encoderConfig = EncoderConfig.FromJson(manifest.EncoderConfig.ToJsonString(), "the model's encoder_config").ToJson();
        string adapterConfig = Adapters.AdapterOptions.FromJson(manifest.AdapterConfig.ToJsonString(), "the model's adapter_config").ToJson();
        TokenizerSettings tokenizer = TokenizerSettings.FromJson(manifest.Tokenizer.ToJsonString());
        var definition = new ModelDefinition(task, manifest.LabelNames, head, encoderConfig, adapterConfig, tokenizer, manifest.Backbone, trained)
        {
            Columns = manifest.Columns,
            TrainingSummaryJson = manifest.Training?.ToJsonString(),
        };
        if (!manifest.BackboneEmbedded) return (definition, null);

        byte[] weights = store.Read(BackboneEntry)
                         ?? throw new InvalidDataException($"The model says its backbone is embedded but has no '{BackboneEntry}' entry.");
        if (manifest.BackboneEntrySha256 is { } expected && !string.Equals(Sha256(weights), expected, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"The model's '{BackboneEntry}' entry does not match its recorded SHA-256: the file was altered or damaged.");
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string name in LoadedBackbone.TokenizerFileNames)
            if (store.Read(TokenizerEntryPrefix + name) is { } bytes) files[name] = bytes;
        return (definition, new EmbeddedBackbone(weights, files));
    }
}

/// <summary>A backbone carried inside a model file: its weights as safetensors bytes and its tokenizer files.</summary>
internal sealed record EmbeddedBackbone(byte[] Weights, IReadOnlyDictionary<string, byte[]> TokenizerFiles);

/// <summary>An <see cref="IModelEntryStore"/> over a zip file: a model file without ML.NET.</summary>
internal sealed class ZipModelEntryStore : IModelEntryStore, IDisposable
{
    readonly System.IO.Compression.ZipArchive archive;

    /// <summary>Opens <paramref name="stream"/> for reading or (with <paramref name="write"/>) writing.</summary>
    public ZipModelEntryStore(Stream stream, bool write)
    {
        archive = new System.IO.Compression.ZipArchive(stream, write ? System.IO.Compression.ZipArchiveMode.Create : System.IO.Compression.ZipArchiveMode.Read, leaveOpen: true);
    }

    /// <inheritdoc />
    public void Write(string name, byte[] content)
    {
        System.IO.Compression.ZipArchiveEntry entry = archive.CreateEntry(name, System.IO.Compression.CompressionLevel.Fastest);
        using Stream output = entry.Open();
        output.Write(content);
    }

    /// <inheritdoc />
    public byte[]? Read(string name)
    {
        System.IO.Compression.ZipArchiveEntry? entry = archive.GetEntry(name);
        if (entry is null) return null;
        using Stream input = entry.Open();
        using var buffer = new MemoryStream();
        input.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <inheritdoc />
    public void Dispose() => archive.Dispose();
}
