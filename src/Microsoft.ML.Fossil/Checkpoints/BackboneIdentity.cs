using System.Text.Json.Serialization;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Where a pretrained backbone came from, as a compact model file records it: the kind of source, a locator
/// (folder, hub id, package name) and the SHA-256 of the weights (<see cref="WeightsIdentity"/>).
/// </summary>
/// <param name="Kind">One of <see cref="BackboneLocator.FolderKind"/>, <see cref="BackboneLocator.HubKind"/>, <see cref="BackboneLocator.MiniLmKind"/>.</param>
/// <param name="Locator">Folder path, hub model id, or the MiniLM's name.</param>
/// <param name="Sha256">Hash of the backbone weights; null only before loading.</param>
/// <param name="Revision">Hub revision (hub sources only).</param>
internal sealed record BackboneIdentity(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("locator")] string Locator,
    [property: JsonPropertyName("sha256")] string? Sha256,
    [property: JsonPropertyName("revision")] string? Revision = null);
