using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>One file of an export folder: its name and how to write its content.</summary>
internal sealed record OnnxFolderFile(string Name, Action<Stream> Write);

/// <summary>
/// The export folder: <c>model.onnx</c>, a Hugging Face <c>config.json</c> (the backbone's config plus
/// <c>architectures</c>, <c>id2label</c>, <c>label2id</c>, <c>problem_type</c>, <c>num_labels</c>) and the
/// tokenizer files (<c>vocab.txt</c>, or <c>vocab.json</c> + <c>merges.txt</c>, with
/// <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c>), so the folder also serves from Python
/// with Optimum's <c>ORTModelForSequenceClassification</c> and <c>AutoTokenizer</c>. Nothing here touches TorchSharp.
/// </summary>
internal static class OnnxExportFolder
{
    /// <summary>The ONNX graph's file name (Optimum's default).</summary>
    public const string ModelFileName = "model.onnx";

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The files of an export folder.</summary>
    /// <param name="onnx">The exported graph's bytes.</param>
    /// <param name="config">The backbone's Hugging Face configuration.</param>
    /// <param name="regression">True for one regression output, false for classification.</param>
    /// <param name="labelNames">Class names in output order (ignored for regression).</param>
    /// <param name="tokenizer">How the model's text is tokenized (special tokens, casing, maximum length).</param>
    /// <param name="tokenizerFiles">The backbone's tokenizer files by name.</param>
    /// <param name="head">The exported head, recorded in config.json as <c>fossil_head</c>.</param>
    public static IReadOnlyList<OnnxFolderFile> Contents(byte[] onnx, EncoderConfig config, bool regression, IReadOnlyList<string> labelNames,
        TokenizerSettings tokenizer, IReadOnlyDictionary<string, byte[]> tokenizerFiles, OnnxHeadKind head)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(labelNames);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(tokenizerFiles);
        var files = new List<OnnxFolderFile>
        {
            Bytes(ModelFileName, onnx),
            Bytes("config.json", ConfigJson(config, regression, labelNames, head)),
        };
        foreach (var (name, content) in TokenizerFiles(config, tokenizerFiles)) files.Add(Bytes(name, content));
        tokenizerFiles.TryGetValue("tokenizer_config.json", out byte[]? existing);
        files.Add(Bytes("tokenizer_config.json", TokenizerConfigJson(config, tokenizer, existing)));
        files.Add(Bytes("special_tokens_map.json", SpecialTokensMapJson(config, tokenizer)));
        return files;
    }

    /// <summary>
    /// The vocabulary files an export carries, by name: <c>vocab.json</c> and <c>merges.txt</c> (RoBERTa family) as the
    /// backbone has them, or <c>vocab.txt</c> (BERT family) with its line ends normalised to <c>\n</c> (the MiniLM
    /// package ships CRLF; the tokens are unchanged). The same bytes go into the folder and the ONNX Runtime model zip.
    /// </summary>
    public static IReadOnlyDictionary<string, byte[]> TokenizerFiles(EncoderConfig config, IReadOnlyDictionary<string, byte[]> tokenizerFiles)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizerFiles);
        if (config.Family == EncoderFamily.Roberta)
            return new Dictionary<string, byte[]>(StringComparer.Ordinal)
            {
                ["vocab.json"] = Required(tokenizerFiles, "vocab.json"),
                ["merges.txt"] = Required(tokenizerFiles, "merges.txt"),
            };
        string vocab = Encoding.UTF8.GetString(Required(tokenizerFiles, "vocab.txt")).Replace("\r\n", "\n", StringComparison.Ordinal);
        return new Dictionary<string, byte[]>(StringComparer.Ordinal) { ["vocab.txt"] = Encoding.UTF8.GetBytes(vocab) };
    }

    static byte[] Required(IReadOnlyDictionary<string, byte[]> files, string name) =>
        files.TryGetValue(name, out byte[]? bytes) ? bytes
            : throw new InvalidOperationException($"The model's tokenizer files lack '{name}'; found: {string.Join(", ", files.Keys.Order(StringComparer.Ordinal))}.");

    static OnnxFolderFile Bytes(string name, byte[] content) => new(name, stream => stream.Write(content));

    /// <summary>The Hugging Face <c>*ForSequenceClassification</c> class for the model type.</summary>
    public static string Architecture(EncoderConfig config) => config.ModelType.ToLowerInvariant() switch
    {
        "roberta" => "RobertaForSequenceClassification",
        "xlm-roberta" => "XLMRobertaForSequenceClassification",
        "camembert" => "CamembertForSequenceClassification",
        _ => "BertForSequenceClassification",
    };

    /// <summary>The backbone's config.json with the sequence-classification fields Hugging Face reads.</summary>
    public static byte[] ConfigJson(EncoderConfig config, bool regression, IReadOnlyList<string> labelNames, OnnxHeadKind head)
    {
        var json = (JsonObject)JsonNode.Parse(config.ToJson())!;
        IReadOnlyList<string> names = regression ? ["LABEL_0"] : labelNames;
        if (!regression && names.Count < 2)
            throw new ArgumentException($"A classifier needs at least two class names; found {names.Count}.", nameof(labelNames));
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (int i = 0; i < names.Count; i++)
        {
            id2label[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = names[i];
            if (label2id.ContainsKey(names[i]))
                throw new ArgumentException($"The class name '{names[i]}' appears twice; label2id needs distinct names.", nameof(labelNames));
            label2id[names[i]] = i;
        }
        json["architectures"] = new JsonArray(Architecture(config));
        json["id2label"] = id2label;
        json["label2id"] = label2id;
        json["num_labels"] = names.Count;
        json["problem_type"] = regression ? "regression" : "single_label_classification";
        // Not a Hugging Face field: the exported head (mean pooling is not what *ForSequenceClassification computes in PyTorch; the ONNX graph holds it).
        json["fossil_head"] = head switch
        {
            OnnxHeadKind.BertPooler => "bert_pooler",
            OnnxHeadKind.RobertaHead => "roberta_head",
            _ => "mean_pooling",
        };
        return Encoding.UTF8.GetBytes(json.ToJsonString(Indented));
    }

    /// <summary>
    /// tokenizer_config.json: the backbone's own when it has one, else a minimal one naming the slow
    /// tokenizer class; in both, the settings the model's ids depend on (casing, accents, the maximum
    /// length it was trained with, so <c>truncation=True</c> truncates as ML.NET does).
    /// </summary>
    public static byte[] TokenizerConfigJson(EncoderConfig config, TokenizerSettings tokenizer, byte[]? existing)
    {
        JsonObject json;
        try
        {
            json = existing is null ? [] : JsonNode.Parse(existing) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            json = [];
        }
        bool roberta = config.Family == EncoderFamily.Roberta;
        if (!json.ContainsKey("tokenizer_class")) json["tokenizer_class"] = roberta ? "RobertaTokenizer" : "BertTokenizer";
        if (!roberta)
        {
            json["do_lower_case"] = tokenizer.LowerCase;
            json["strip_accents"] = tokenizer.StripAccents;
        }
        json["model_max_length"] = tokenizer.MaxLength;
        foreach (var (key, value) in SpecialTokens(config, tokenizer)) json[key] = value;
        return Encoding.UTF8.GetBytes(json.ToJsonString(Indented));
    }

    /// <summary>special_tokens_map.json from the model's tokenizer settings.</summary>
    public static byte[] SpecialTokensMapJson(EncoderConfig config, TokenizerSettings tokenizer)
    {
        var json = new JsonObject();
        foreach (var (key, value) in SpecialTokens(config, tokenizer)) json[key] = value;
        return Encoding.UTF8.GetBytes(json.ToJsonString(Indented));
    }

    static IEnumerable<(string Key, string Value)> SpecialTokens(EncoderConfig config, TokenizerSettings tokenizer)
    {
        if (config.Family == EncoderFamily.Roberta)
        {
            yield return ("bos_token", tokenizer.ClsToken);
            yield return ("eos_token", tokenizer.SepToken);
        }
        yield return ("cls_token", tokenizer.ClsToken);
        yield return ("sep_token", tokenizer.SepToken);
        yield return ("pad_token", tokenizer.PadToken);
        yield return ("unk_token", tokenizer.UnkToken);
        if (tokenizer.MaskToken is { } mask) yield return ("mask_token", mask);
    }

    /// <summary>
    /// Writes <paramref name="files"/> into <paramref name="folder"/> so that a failure or cancellation
    /// leaves no half-written content: a new folder is filled under a temporary name and renamed into
    /// place; in an existing folder every file is first written completely to a temporary file beside it
    /// and flushed, and only then are they renamed over their names (a file-by-file replacement; the
    /// renames are the only step that can leave an old and a new file side by side). Temporary files are
    /// deleted on failure.
    /// </summary>
    /// <exception cref="IOException">The folder cannot be created or written; the message names it.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing new is left in the folder.</exception>
    public static void Write(string folder, IReadOnlyList<OnnxFolderFile> files, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(files);
        foreach (OnnxFolderFile file in files)
            if (file.Name.Length == 0 || file.Name != Path.GetFileName(file.Name))
                throw new ArgumentException($"'{file.Name}' is not a plain file name.", nameof(files));
        folder = CheckTarget(folder);
        string parent = Path.GetDirectoryName(folder)!;

        if (!Directory.Exists(folder))
        {
            // A new folder appears whole: filled under a temporary name, then renamed.
            string staging = Path.Combine(parent, $".{Path.GetFileName(folder)}.{Guid.NewGuid():N}.tmp");
            try
            {
                Directory.CreateDirectory(staging);
                foreach (OnnxFolderFile file in files) WriteFlushed(Path.Combine(staging, file.Name), file, cancellationToken);
                cancellationToken.ThrowIfCancellationRequested();
                Directory.Move(staging, folder);
                return;
            }
            catch
            {
                TryDelete(() => Directory.Delete(staging, recursive: true), staging);
                throw;
            }
        }

        var temporaries = new List<(string Temporary, string Final)>();
        try
        {
            foreach (OnnxFolderFile file in files)
            {
                string temporary = Path.Combine(folder, $".{file.Name}.{Guid.NewGuid():N}.tmp");
                temporaries.Add((temporary, Path.Combine(folder, file.Name)));
                WriteFlushed(temporary, file, cancellationToken);
            }
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var (temporary, final) in temporaries) File.Move(temporary, final, overwrite: true);
        }
        catch
        {
            foreach (var (temporary, _) in temporaries) TryDelete(() => File.Delete(temporary), temporary);
            throw;
        }
    }

    /// <summary>
    /// The full path of <paramref name="folder"/> once it is known to be writable as an export folder: not a file, and
    /// its parent folder exists (checked before an export spends time on the model).
    /// </summary>
    /// <exception cref="IOException">The path is a file.</exception>
    /// <exception cref="DirectoryNotFoundException">The parent folder does not exist; the message names it.</exception>
    public static string CheckTarget(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        folder = Path.GetFullPath(folder);
        if (File.Exists(folder)) throw new IOException($"Cannot export into '{folder}': it is a file, not a folder.");
        string parent = Path.GetDirectoryName(folder) ?? throw new IOException($"'{folder}' has no parent folder.");
        if (!Directory.Exists(parent)) throw new DirectoryNotFoundException($"Cannot export into '{folder}': the parent folder '{parent}' does not exist.");
        return folder;
    }

    static void WriteFlushed(string path, OnnxFolderFile file, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
            file.Write(stream);
            stream.Flush(flushToDisk: true);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"Cannot write '{path}' ({file.Name}): {e.Message}", e);
        }
    }

    static void TryDelete(Action delete, string path)
    {
        try
        {
            if (File.Exists(path) || Directory.Exists(path)) delete();
        }
        catch (IOException)
        {
            // Best effort: the original exception matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
