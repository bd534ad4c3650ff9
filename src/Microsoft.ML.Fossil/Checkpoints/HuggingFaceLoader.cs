using System.Text.Json;
using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Loads Hugging Face model folders (<c>config.json</c> plus <c>model.safetensors</c>,
/// <c>pytorch_model.bin</c> or their sharded <c>*.index.json</c> forms) of the BERT and RoBERTa
/// families into an <see cref="EncoderModel"/>, strictly: every encoder tensor must be present with
/// its shape, and every checkpoint tensor must be either used or a known extra (a task head, an
/// old <c>position_ids</c> buffer).
/// </summary>
internal static class HuggingFaceLoader
{
    /// <summary>The Hugging Face configuration file name.</summary>
    public const string ConfigFileName = "config.json";
    /// <summary>Single-file safetensors weights (preferred).</summary>
    public const string SafetensorsFileName = "model.safetensors";
    /// <summary>Index of sharded safetensors weights.</summary>
    public const string SafetensorsIndexFileName = "model.safetensors.index.json";
    /// <summary>Single-file PyTorch weights (a zip with a pickle inside).</summary>
    public const string PyTorchFileName = "pytorch_model.bin";
    /// <summary>Index of sharded PyTorch weights.</summary>
    public const string PyTorchIndexFileName = "pytorch_model.bin.index.json";

    /// <summary>Weight files in the order they are looked for; the first one present is read.</summary>
    public static IReadOnlyList<string> WeightFileNames { get; } =
        [SafetensorsFileName, SafetensorsIndexFileName, PyTorchFileName, PyTorchIndexFileName];

    /// <summary>Checkpoint name prefixes (after the backbone prefix is removed) of heads that an encoder has no place for.</summary>
    public static IReadOnlyList<string> IgnoredHeadPrefixes { get; } = ["lm_head.", "cls.", "classifier.", "qa_outputs."];

    /// <summary>
    /// Reads the weights of a Hugging Face folder into a name -> tensor dictionary, names as stored.
    /// Looks for, in order, <c>model.safetensors</c>, <c>model.safetensors.index.json</c>,
    /// <c>pytorch_model.bin</c> and <c>pytorch_model.bin.index.json</c>; shards named by an index's
    /// <c>weight_map</c> are read once each. The caller owns (and should dispose) the tensors.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder does not exist or holds none of the weight files.</exception>
    /// <exception cref="InvalidDataException">A weight file or index is corrupt, inconsistent, or (for pickles) holds anything but tensors.</exception>
    public static Dictionary<string, Tensor> ReadStateDict(string folder, bool mapWeightFiles = true) => ReadStateDict(folder, mapWeightFiles, out _);

    /// <summary>
    /// Builds an encoder from a Hugging Face folder: reads <c>config.json</c> and the weights,
    /// removes the <c>bert.</c> / <c>roberta.</c> prefix that task models save, renames old
    /// <c>LayerNorm.gamma</c>/<c>beta</c> to <c>weight</c>/<c>bias</c>, and copies the tensors in.
    /// The encoder is returned in evaluation mode, as <c>from_pretrained</c> does.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="addPoolingLayer">
    /// Whether to build BERT's pooler. Default: BERT gets one when the checkpoint has <c>pooler.*</c>
    /// weights, RoBERTa never. A pooler requested but absent from the checkpoint is left initialised
    /// (see <see cref="StateDictLoadReport.LeftInitialised"/>); pooler weights present but not
    /// requested are ignored.
    /// </param>
    /// <param name="strict">
    /// True: any missing or unexpected tensor fails the load. False: missing tensors are left
    /// initialised and unexpected ones ignored (both reported). Misshaped tensors always fail.
    /// </param>
    /// <param name="mapWeightFiles">Map safetensors files copy-on-write instead of reading them into memory.</param>
    /// <exception cref="FileNotFoundException">The folder, <c>config.json</c> or the weights are missing.</exception>
    /// <exception cref="NotSupportedException"><c>config.json</c> describes a model this library does not implement.</exception>
    /// <exception cref="CheckpointMismatchException">The weights do not fit the configured encoder; the message lists every problem.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt, or a pickle holds non-tensor objects.</exception>
    public static EncoderModel LoadEncoder(string folder, bool? addPoolingLayer = null, bool strict = true, bool mapWeightFiles = true) =>
        LoadEncoder(folder, out _, addPoolingLayer, strict, mapWeightFiles);

    /// <summary>
    /// <see cref="LoadEncoder(string, bool?, bool, bool)"/> that also returns what the load did: tensors
    /// copied, tensors left initialised and checkpoint tensors ignored (names after normalisation,
    /// e.g. <c>lm_head.dense.weight</c>, <c>embeddings.position_ids</c>).
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="report">What was loaded, left initialised and ignored.</param>
    /// <param name="addPoolingLayer">See <see cref="LoadEncoder(string, bool?, bool, bool)"/>.</param>
    /// <param name="strict">See <see cref="LoadEncoder(string, bool?, bool, bool)"/>.</param>
    /// <param name="mapWeightFiles">Map safetensors files copy-on-write instead of reading them into memory.</param>
    public static EncoderModel LoadEncoder(string folder, out StateDictLoadReport report, bool? addPoolingLayer = null, bool strict = true, bool mapWeightFiles = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        RequireFolder(folder);
        EncoderConfig config = ReadConfig(Path.Combine(folder, ConfigFileName));

        Dictionary<string, Tensor> stored = ReadStateDict(folder, mapWeightFiles, out string source);
        try
        {
            Dictionary<string, Tensor> weights = Normalise(stored, config.Family, source);
            bool hasPoolerWeights = weights.Keys.Any(IsPooler);
            bool pool = addPoolingLayer ?? (config.Family == EncoderFamily.Bert && hasPoolerWeights);

            return EncoderModel.FromStateDict(config, pool, weights, source, out report,
                mayBeMissing: name => !strict || (pool && IsPooler(name)),
                mayBeIgnored: name => !strict || IsKnownExtra(name) || (!pool && IsPooler(name)));
        }
        finally
        {
            foreach (Tensor tensor in stored.Values) tensor.Dispose();
        }
    }

    /// <summary>Whether a (normalised) checkpoint name is a known extra that an encoder skips: a task head or a <c>position_ids</c> buffer.</summary>
    public static bool IsKnownExtra(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name == "position_ids" || name.EndsWith(".position_ids", StringComparison.Ordinal)
               || IgnoredHeadPrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal));
    }

    static bool IsPooler(string name) => name.StartsWith("pooler.", StringComparison.Ordinal);

    static void RequireFolder(string folder)
    {
        if (!Directory.Exists(folder))
            throw new FileNotFoundException(
                $"Hugging Face model folder '{folder}' does not exist (expected {ConfigFileName} and one of: {string.Join(", ", WeightFileNames)}).",
                folder);
    }

    static EncoderConfig ReadConfig(string path)
    {
        try
        {
            return EncoderConfig.Load(path);
        }
        catch (NotSupportedException e) when (!e.Message.Contains(path, StringComparison.Ordinal))
        {
            throw new NotSupportedException($"'{path}': {e.Message}", e);
        }
    }

    /// <summary>Names as the encoder has them: backbone prefix removed, LayerNorm gamma/beta renamed. Same tensor objects.</summary>
    static Dictionary<string, Tensor> Normalise(Dictionary<string, Tensor> stored, EncoderFamily family, string source)
    {
        string prefix = family == EncoderFamily.Roberta ? "roberta." : "bert.";
        var result = new Dictionary<string, Tensor>(stored.Count, StringComparer.Ordinal);
        var origin = new Dictionary<string, string>(stored.Count, StringComparer.Ordinal);
        foreach (var (storedName, tensor) in stored)
        {
            string name = storedName.StartsWith(prefix, StringComparison.Ordinal) ? storedName[prefix.Length..] : storedName;
            if (name.EndsWith("LayerNorm.gamma", StringComparison.Ordinal)) name = name[..^"gamma".Length] + "weight";
            else if (name.EndsWith("LayerNorm.beta", StringComparison.Ordinal)) name = name[..^"beta".Length] + "bias";
            if (!origin.TryAdd(name, storedName))
                throw new InvalidDataException(
                    $"The checkpoint '{source}' holds both '{origin[name]}' and '{storedName}', which are the same encoder tensor '{name}'.");
            result.Add(name, tensor);
        }
        return result;
    }

    static Dictionary<string, Tensor> ReadStateDict(string folder, bool mapWeightFiles, out string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        RequireFolder(folder);
        string? found = WeightFileNames.Select(name => Path.Combine(folder, name)).FirstOrDefault(File.Exists);
        source = found ?? throw new FileNotFoundException(
            $"No weights in Hugging Face model folder '{folder}': looked for {string.Join(", ", WeightFileNames)}.", folder);
        Native.TorchRuntime.EnsureLoaded();

        // Tensors built before a failure (a bad shard, a rejected pickle) are freed with the scope.
        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> result = Path.GetFileName(found) switch
        {
            SafetensorsFileName => CheckpointFiles.ReadSafetensors(found, mapWeightFiles),
            PyTorchFileName => CheckpointFiles.ReadPyTorch(found),
            SafetensorsIndexFileName => ReadSharded(folder, found, shard => CheckpointFiles.ReadSafetensors(shard, mapWeightFiles)),
            _ => ReadSharded(folder, found, CheckpointFiles.ReadPyTorch),
        };
        foreach (Tensor tensor in result.Values) tensor.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>Reads an index's <c>weight_map</c>, each shard once, and checks that index and shards agree.</summary>
    static Dictionary<string, Tensor> ReadSharded(string folder, string indexPath, Func<string, Dictionary<string, Tensor>> readShard)
    {
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using JsonDocument index = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (index.RootElement.ValueKind != JsonValueKind.Object
                || !index.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"The index '{indexPath}' has no 'weight_map' object.");
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"The index '{indexPath}' maps '{entry.Name}' to {entry.Value.GetRawText()}, not a file name.");
                if (!weightMap.TryAdd(entry.Name, entry.Value.GetString()!))
                    throw new InvalidDataException($"The index '{indexPath}' lists '{entry.Name}' twice.");
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The index '{indexPath}' is not valid JSON: {e.Message}", e);
        }

        var result = new Dictionary<string, Tensor>(weightMap.Count, StringComparer.Ordinal);
        foreach (string shard in weightMap.Values.Distinct(StringComparer.Ordinal))
        {
            // Shards are plain file names beside the index; nothing may point outside the folder.
            if (shard.Length == 0 || shard is "." or ".." || shard.IndexOfAny(['/', '\\', ':']) >= 0 || Path.IsPathRooted(shard))
                throw new InvalidDataException($"The index '{indexPath}' names the shard '{shard}', which is not a file name in the model folder.");
            string shardPath = Path.Combine(folder, shard);
            if (!File.Exists(shardPath))
                throw new FileNotFoundException($"The index '{indexPath}' names the shard '{shard}', which is not in '{folder}'.", shardPath);

            foreach (var (name, tensor) in readShard(shardPath))
            {
                if (!weightMap.TryGetValue(name, out string? listed) || listed != shard)
                    throw new InvalidDataException(listed is null
                        ? $"The shard '{shardPath}' holds '{name}', which the index '{indexPath}' does not list."
                        : $"The shard '{shardPath}' holds '{name}', which the index '{indexPath}' places in '{listed}'.");
                result.Add(name, tensor);
            }
        }
        foreach (var (name, shard) in weightMap)
            if (!result.ContainsKey(name))
                throw new InvalidDataException($"The index '{indexPath}' places '{name}' in '{shard}', but that shard does not hold it.");
        return result;
    }
}
