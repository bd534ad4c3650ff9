using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>One file an ONNX Runtime model holds, as its manifest names it.</summary>
internal sealed record OnnxManifestFile
{
    /// <summary>The file's own name (<c>model.onnx</c>, <c>vocab.txt</c>, ...).</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>The entry of the model zip that holds it.</summary>
    [JsonPropertyName("entry")] public required string Entry { get; init; }
    /// <summary>Its length in bytes.</summary>
    [JsonPropertyName("bytes")] public required long Bytes { get; init; }
    /// <summary>SHA-256 of its bytes, lower-case hex.</summary>
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }
}

/// <summary>The JSON manifest of an ONNX Runtime model (entry <see cref="OnnxScoringModel.ManifestEntry"/>).</summary>
internal sealed record OnnxModelManifest
{
    /// <summary>Layout version; this library writes and reads <see cref="OnnxScoringModel.CurrentVersion"/>.</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = OnnxScoringModel.CurrentVersion;
    /// <summary><c>classification</c> or <c>regression</c>.</summary>
    [JsonPropertyName("task")] public required string Task { get; init; }
    /// <summary>Columns of the graph's logits.</summary>
    [JsonPropertyName("num_labels")] public required int NumLabels { get; init; }
    /// <summary>Class names in key order (classification).</summary>
    [JsonPropertyName("label_names")] public IReadOnlyList<string> LabelNames { get; init; } = [];
    /// <summary><c>float32</c> or <c>int8_dynamic</c>.</summary>
    [JsonPropertyName("weights")] public required string Weights { get; init; }
    /// <summary>The ONNX graph.</summary>
    [JsonPropertyName("onnx")] public required OnnxManifestFile Onnx { get; init; }
    /// <summary>The tokenizer's settings (<see cref="TokenizerSettings.ToJson"/>).</summary>
    [JsonPropertyName("tokenizer")] public required JsonNode Tokenizer { get; init; }
    /// <summary>The tokenizer's files.</summary>
    [JsonPropertyName("tokenizer_files")] public required IReadOnlyList<OnnxManifestFile> TokenizerFiles { get; init; }
    /// <summary>What the model was exported from (informational: backbone, trained tensors, adapter).</summary>
    [JsonPropertyName("exported_from")] public JsonNode? ExportedFrom { get; init; }
}

/// <summary>
/// A model that scores with ONNX Runtime, as a value: the exported graph's bytes, the tokenizer's settings and files, the
/// task and the class names. Stored as a manifest (<see cref="ManifestEntry"/>) naming every file with its length and
/// SHA-256, and one entry per file; reading verifies every file against the manifest and refuses damaged, truncated,
/// swapped or missing ones. Nothing here touches TorchSharp: an application without libtorch loads and scores it.
/// </summary>
internal sealed class OnnxScoringModel
{
    /// <summary>The layout version this library writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The manifest's entry name.</summary>
    public const string ManifestEntry = "onnx-model.json";

    /// <summary>The ONNX graph's entry name.</summary>
    public const string OnnxEntry = "model.onnx";

    /// <summary>Prefix of the tokenizer files' entry names (<c>tokenizer.vocab.txt</c>, ...).</summary>
    public const string TokenizerEntryPrefix = "tokenizer.";

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Creates the model; the hashes are computed here, once.</summary>
    /// <param name="task">Classification or regression.</param>
    /// <param name="labelNames">Class names in key order (empty for regression).</param>
    /// <param name="onnx">The exported graph (<see cref="OnnxClassifierContract"/>).</param>
    /// <param name="weights"><c>float32</c> or <c>int8_dynamic</c>.</param>
    /// <param name="tokenizer">The tokenizer's settings.</param>
    /// <param name="tokenizerFiles">The tokenizer's files by name (<see cref="RecordedTokenizer.FileNames"/>).</param>
    /// <param name="exportedFrom">What the model was exported from (informational), or null.</param>
    public OnnxScoringModel(PredictionTask task, IReadOnlyList<string> labelNames, byte[] onnx, string weights, TokenizerSettings tokenizer,
        IReadOnlyDictionary<string, byte[]> tokenizerFiles, JsonObject? exportedFrom)
    {
        ArgumentNullException.ThrowIfNull(labelNames);
        ArgumentNullException.ThrowIfNull(onnx);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(tokenizerFiles);
        if (task == PredictionTask.Classification && labelNames.Count < 2)
            throw new ArgumentException($"A classifier needs at least two class names; found {labelNames.Count}.", nameof(labelNames));
        Task = task;
        LabelNames = task == PredictionTask.Regression ? [] : [.. labelNames];
        Onnx = onnx;
        OnnxSha256 = Sha256(onnx);
        Weights = weights;
        Tokenizer = tokenizer;
        TokenizerFiles = new SortedDictionary<string, byte[]>(tokenizerFiles.ToDictionary(), StringComparer.Ordinal);
        ExportedFromJson = exportedFrom?.ToJsonString();
    }

    /// <summary>Classification or regression.</summary>
    public PredictionTask Task { get; }

    /// <summary>Class names in key order (empty for regression).</summary>
    public IReadOnlyList<string> LabelNames { get; }

    /// <summary>Columns of the graph's logits: the number of classes, or 1.</summary>
    public int NumLabels => Task == PredictionTask.Regression ? 1 : LabelNames.Count;

    /// <summary>The ONNX graph's bytes.</summary>
    public byte[] Onnx { get; }

    /// <summary>SHA-256 of <see cref="Onnx"/>, lower-case hex.</summary>
    public string OnnxSha256 { get; }

    /// <summary><c>float32</c> or <c>int8_dynamic</c>.</summary>
    public string Weights { get; }

    /// <summary>The tokenizer's settings.</summary>
    public TokenizerSettings Tokenizer { get; }

    /// <summary>The tokenizer's files by name, in name order.</summary>
    public IReadOnlyDictionary<string, byte[]> TokenizerFiles { get; }

    /// <summary>What the model was exported from (informational JSON), or null.</summary>
    public string? ExportedFromJson { get; }

    /// <summary>SHA-256 of <paramref name="bytes"/>, lower-case hex.</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Writes the manifest and one entry per file through <paramref name="write"/> (entry name, content).</summary>
    public void Write(Action<string, byte[]> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        OnnxManifestFile File(string name, string entry, byte[] content) => new() { Name = name, Entry = entry, Bytes = content.LongLength, Sha256 = Sha256(content) };
        var manifest = new OnnxModelManifest
        {
            Task = Task == PredictionTask.Regression ? "regression" : "classification",
            NumLabels = NumLabels,
            LabelNames = LabelNames,
            Weights = Weights,
            Onnx = new OnnxManifestFile { Name = OnnxExportFolder.ModelFileName, Entry = OnnxEntry, Bytes = Onnx.LongLength, Sha256 = OnnxSha256 },
            Tokenizer = JsonNode.Parse(Tokenizer.ToJson())!,
            TokenizerFiles = [.. TokenizerFiles.Select(f => File(f.Key, TokenizerEntryPrefix + f.Key, f.Value))],
            ExportedFrom = ExportedFromJson is null ? null : JsonNode.Parse(ExportedFromJson),
        };
        write(ManifestEntry, JsonSerializer.SerializeToUtf8Bytes(manifest, JsonOptions));
        write(OnnxEntry, Onnx);
        foreach (var (name, content) in TokenizerFiles) write(TokenizerEntryPrefix + name, content);
    }

    /// <summary>
    /// Reads what <see cref="Write"/> wrote through <paramref name="read"/> (entry name to content, null when absent),
    /// verifying every file's length and SHA-256 against the manifest.
    /// </summary>
    /// <param name="read">Reads an entry.</param>
    /// <param name="where">Names the model in messages (e.g. <c>the ONNX Runtime model in 'x.zip'</c>).</param>
    /// <exception cref="InvalidDataException">The manifest is missing, malformed or of a newer layout, or a file is missing, damaged or not the one the manifest names; the message names the entry and what was expected and found.</exception>
    public static OnnxScoringModel Read(Func<string, byte[]?> read, string where)
    {
        ArgumentNullException.ThrowIfNull(read);
        byte[] manifestBytes = read(ManifestEntry)
            ?? throw new InvalidDataException($"{where} has no manifest entry '{ManifestEntry}': it was not written by ExportForOnnxRuntime, or it is damaged.");
        OnnxModelManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<OnnxModelManifest>(manifestBytes, JsonOptions)
                       ?? throw new InvalidDataException($"{where}: the manifest '{ManifestEntry}' is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{where}: the manifest '{ManifestEntry}' is not valid JSON of this layout ({e.Message}).", e);
        }
        if (manifest.FormatVersion > CurrentVersion)
            throw new InvalidDataException($"{where} has ONNX model layout version {manifest.FormatVersion}; this version of Microsoft.ML.Fossil reads up to {CurrentVersion}. Update Microsoft.ML.Fossil.");
        if (manifest.FormatVersion < 1)
            throw new InvalidDataException($"{where}: the manifest's format_version {manifest.FormatVersion} is not valid.");
        PredictionTask task = manifest.Task switch
        {
            "classification" => PredictionTask.Classification,
            "regression" => PredictionTask.Regression,
            _ => throw new InvalidDataException($"{where}: the manifest's task '{manifest.Task}' is neither 'classification' nor 'regression'."),
        };
        int expectedLabels = task == PredictionTask.Regression ? 1 : manifest.LabelNames.Count;
        if (manifest.NumLabels != expectedLabels || (task == PredictionTask.Classification && expectedLabels < 2))
            throw new InvalidDataException($"{where}: the manifest says {manifest.NumLabels} outputs for a {manifest.Task} model with {manifest.LabelNames.Count} class names.");
        if (manifest.Weights is not ("float32" or "int8_dynamic"))
            throw new InvalidDataException($"{where}: the manifest's weights '{manifest.Weights}' are neither 'float32' nor 'int8_dynamic'.");
        TokenizerSettings tokenizer;
        try
        {
            tokenizer = TokenizerSettings.FromJson(manifest.Tokenizer.ToJsonString());
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{where}: the manifest's tokenizer settings are not valid: {e.Message}", e);
        }

        byte[] onnx = Verified(read, manifest.Onnx, where, OnnxEntry);
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (OnnxManifestFile file in manifest.TokenizerFiles)
        {
            if (!RecordedTokenizer.FileNames(tokenizer.Family).Contains(file.Name) || files.ContainsKey(file.Name))
                throw new InvalidDataException($"{where}: the manifest names an unexpected or repeated tokenizer file '{file.Name}'; a {tokenizer.Family.ToString().ToLowerInvariant()} tokenizer has {string.Join(" and ", RecordedTokenizer.FileNames(tokenizer.Family))}.");
            files[file.Name] = Verified(read, file, where, TokenizerEntryPrefix + file.Name);
        }
        return new OnnxScoringModel(task, manifest.LabelNames, onnx, manifest.Weights, tokenizer, files,
            manifest.ExportedFrom as JsonObject);
    }

    /// <summary>The entry <paramref name="file"/> names, checked against its recorded length and SHA-256.</summary>
    static byte[] Verified(Func<string, byte[]?> read, OnnxManifestFile file, string where, string expectedEntry)
    {
        if (file.Entry != expectedEntry)
            throw new InvalidDataException($"{where}: the manifest puts '{file.Name}' in entry '{file.Entry}'; this layout keeps it in '{expectedEntry}'.");
        byte[] content = read(file.Entry)
                         ?? throw new InvalidDataException($"{where} has no entry '{file.Entry}' ({file.Name}), which its manifest names: the file is incomplete.");
        string sha = Sha256(content);
        if (content.LongLength != file.Bytes || !string.Equals(sha, file.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"{where}: the entry '{file.Entry}' ({file.Name}) is not the file its manifest names (expected {file.Bytes.ToString(CultureInfo.InvariantCulture)} bytes with SHA-256 {file.Sha256}, " +
                $"found {content.LongLength.ToString(CultureInfo.InvariantCulture)} bytes with SHA-256 {sha}): it was damaged or replaced.");
        return content;
    }

    /// <summary>
    /// The serving stages over this model: its tokenizer (built from the recorded settings and files) -> collation -> an
    /// ONNX Runtime session over the graph -> the scorer. Checks that the graph fits the manifest (inputs, outputs, label
    /// count, token types for the tokenizer's family, padding id).
    /// </summary>
    /// <param name="options">ONNX Runtime session settings.</param>
    /// <param name="where">Names the model in messages.</param>
    /// <exception cref="InvalidDataException">The graph or the tokenizer files do not fit the manifest; the message says how.</exception>
    public TextScorer CreateScorer(OnnxRuntimeNetworkOptions options, string where)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(where);
        TextTokenizer tokenizer = RecordedTokenizer.Create(Tokenizer, TokenizerFiles, where);
        OnnxRuntimeNetwork network = OnnxRuntimeNetwork.Load(Onnx, $"'{OnnxEntry}' of {char.ToLowerInvariant(where[0])}{where[1..]}", options with { ExpectedLabels = NumLabels });
        try
        {
            // BERT pairs need segment ids; a RoBERTa graph has one token type and takes none.
            bool expectsTypes = Tokenizer.Family == TokenizerFamily.Bert;
            if (network.UsesTokenTypeIds != expectsTypes)
                throw new InvalidDataException($"{where}: the ONNX graph {(network.UsesTokenTypeIds ? "takes" : "does not take")} {OnnxClassifierContract.TokenTypeIds}, " +
                                               $"but its {Tokenizer.Family.ToString().ToLowerInvariant()} tokenizer {(expectsTypes ? "produces" : "does not produce")} them.");
            // RoBERTa's position ids count from the padding id: the graph must pad as the tokenizer does.
            if (network.Metadata.TryGetValue(OnnxClassifierContract.PadTokenIdKey, out string? pad) && pad != Tokenizer.PadTokenId.ToString(CultureInfo.InvariantCulture))
                throw new InvalidDataException($"{where}: the ONNX graph was exported with padding id {pad}; its tokenizer pads with {Tokenizer.PadTokenId}.");
            return new TextScorer(tokenizer, network, Task);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>A short description for logs and errors: task, outputs, weights, sizes.</summary>
    public override string ToString() =>
        $"ONNX Runtime {Task.ToString().ToLowerInvariant()} model ({NumLabels} outputs, {Weights} weights, {Onnx.Length / (1024.0 * 1024):F1} MiB graph, " +
        $"{Tokenizer.Family.ToString().ToLowerInvariant()} tokenizer: {string.Join(", ", TokenizerFiles.Keys)})";
}
