using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Named binary entries of a model file. ML.NET's model zip provides them (one folder per
/// transformer); tests and tools can use any other store.
/// </summary>
public interface IModelEntryStore
{
    /// <summary>Writes an entry.</summary>
    void Write(string name, byte[] content);

    /// <summary>Reads an entry; null when it is absent.</summary>
    byte[]? Read(string name);
}

/// <summary>The JSON manifest of a compact model (entry <see cref="CompactModelFormat.ManifestEntry"/>).</summary>
public sealed record CompactModelManifest
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
    /// <summary>Input column names used in training (informational).</summary>
    [JsonPropertyName("columns")] public IReadOnlyDictionary<string, string> Columns { get; init; } = new Dictionary<string, string>();
    /// <summary>Per-epoch training summary (informational).</summary>
    [JsonPropertyName("training")] public JsonNode? Training { get; init; }
}

/// <summary>
/// The compact model format: a JSON manifest, the trained tensors (adapters + head) as safetensors,
/// and, only when asked, the backbone. See docs/model-format.md.
/// </summary>
public static class CompactModelFormat
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
}

/// <summary>An <see cref="IModelEntryStore"/> over a zip file: a model file without ML.NET.</summary>
public sealed class ZipModelEntryStore : IModelEntryStore, IDisposable
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
