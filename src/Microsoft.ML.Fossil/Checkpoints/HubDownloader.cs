using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// How the Hugging Face hub is reached, decided at the edge (FossilSettings) and passed down: the cache folder (the
/// standard hub cache that huggingface_hub writes), the hub's address, the access token for private or gated models,
/// and whether the network may be used at all. <see cref="ToString"/> never shows the token.
/// </summary>
internal sealed class HubAccess(string cacheDirectory, Uri endpoint, string? token = null, bool offline = false)
{
    /// <summary>The hub cache root (HF_HUB_CACHE): <c>models--org--name/{blobs,refs,snapshots}</c> below it.</summary>
    public string CacheDirectory { get; } = cacheDirectory;

    /// <summary>The hub's address (HF_ENDPOINT).</summary>
    public Uri Endpoint { get; } = endpoint;

    /// <summary>Bearer token sent to <see cref="Endpoint"/> (HF_TOKEN), or null.</summary>
    public string? Token { get; } = token;

    /// <summary>HF_HUB_OFFLINE: only the cache is read, the network is never used.</summary>
    public bool Offline { get; } = offline;

    /// <summary>The same access with another cache folder and/or endpoint (a source's own).</summary>
    public HubAccess With(string? cacheDirectory, Uri? endpoint) => new(cacheDirectory ?? CacheDirectory, endpoint ?? Endpoint, Token, Offline);

    /// <inheritdoc />
    public override string ToString() =>
        $"hub {Endpoint} cached in {CacheDirectory}{(Offline ? " (offline)" : "")}{(Token is null ? "" : " with a token")}";
}

/// <summary>
/// Resolves a Hugging Face hub model id to a local folder through the standard hub cache, laid out as huggingface_hub
/// writes it, so a model Python already downloaded is used as it is, and a model downloaded here is found by Python:
/// <code>
/// {cache}/models--{org}--{name}/
///   blobs/{etag}                          file contents, named by their ETag (SHA-256 for LFS files, git SHA-1 otherwise)
///   refs/{revision}                       the commit a branch or tag pointed to, as text
///   snapshots/{commit}/{file}             relative symbolic link to ../../blobs/{etag} (a copy where links are not allowed)
///   .no_exist/{commit}/{file}             empty: the hub said the file does not exist at that commit
/// </code>
/// A snapshot with config.json, the weights and a tokenizer is used without any network access. Otherwise (unless
/// offline) the missing files are downloaded: a HEAD request on <c>{endpoint}/{id}/resolve/{revision}/{file}</c> gives
/// the commit (<c>X-Repo-Commit</c>) and the blob name (<c>X-Linked-Etag</c> or <c>ETag</c>) before any redirect to a
/// CDN; the blob is written under a temporary name, checked (size; SHA-256 when the ETag is one) and renamed, then
/// the snapshot link and the ref are written, each atomically by rename. Interrupted downloads never leave a damaged
/// file under a final name.
/// </summary>
internal sealed partial class HubDownloader : IDisposable
{
    /// <summary>Weight files in the order they are tried; the index forms bring their shards.</summary>
    static readonly string[] WeightFiles =
        [HuggingFaceLoader.SafetensorsFileName, HuggingFaceLoader.SafetensorsIndexFileName, HuggingFaceLoader.PyTorchFileName, HuggingFaceLoader.PyTorchIndexFileName];

    /// <summary>Tokenizer and other small files fetched when the hub has them (each family needs a subset).</summary>
    static readonly string[] OptionalFiles =
        ["tokenizer_config.json", "vocab.json", "merges.txt", "vocab.txt", "special_tokens_map.json", "tokenizer.json", "sentencepiece.bpe.model"];

    /// <summary>Any one of these makes a snapshot's tokenizer usable (vocab.json needs merges.txt too).</summary>
    static readonly string[][] TokenizerSets = [["vocab.json", "merges.txt"], ["vocab.txt"], ["tokenizer.json"], ["sentencepiece.bpe.model"]];

    readonly HttpClient http;
    readonly HubAccess access;

    /// <summary>Creates a downloader with <paramref name="access"/>; <paramref name="handler"/> replaces the HTTP stack (tests).</summary>
    public HubDownloader(HubAccess access, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(access);
        ArgumentException.ThrowIfNullOrWhiteSpace(access.CacheDirectory);
        this.access = access;
        // Redirects are followed by hand: the hub's own headers are on the first response, and the token must not
        // travel to another host (the CDN a large file redirects to).
        http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = TimeSpan.FromMinutes(30),
        };
    }

    /// <summary>The model's folder in the cache: <c>models--org--name</c>.</summary>
    public string RepositoryFolder(string modelId)
    {
        ValidateModelId(modelId);
        return Path.Combine(access.CacheDirectory, "models--" + modelId.Replace("/", "--", StringComparison.Ordinal));
    }

    /// <summary>
    /// The cached snapshot of <paramref name="modelId"/> at <paramref name="revision"/> (a branch, tag or 40-hex commit)
    /// when it holds config.json, weights and a tokenizer; otherwise null. Never uses the network.
    /// </summary>
    public string? CachedSnapshot(string modelId, string revision = "main")
    {
        string repository = RepositoryFolder(modelId);
        ValidateRevision(revision);
        string? commit = CachedCommit(repository, revision);
        if (commit is null) return null;
        string snapshot = SnapshotFolder(repository, commit);
        return IsUsable(snapshot) ? snapshot : null;
    }

    /// <summary>
    /// A local folder with the model's files: the cached snapshot when it is usable (no network access at all),
    /// otherwise the snapshot after downloading what it lacks.
    /// </summary>
    /// <exception cref="FileNotFoundException">Not cached and offline, or the hub does not provide the model; the message says where it looked.</exception>
    /// <exception cref="UnauthorizedAccessException">The hub refused access (private or gated model, missing or wrong token).</exception>
    public async Task<string> EnsureDownloadedAsync(string modelId, string revision = "main", CancellationToken cancellation = default)
    {
        string repository = RepositoryFolder(modelId);
        ValidateRevision(revision);
        if (CachedSnapshot(modelId, revision) is { } cached) return cached;
        if (access.Offline)
        {
            string? commit = CachedCommit(repository, revision);
            string state = commit is null
                ? $"no snapshot of revision '{revision}' is cached (no {Path.Combine(repository, "refs", revision)})"
                : $"the cached snapshot {SnapshotFolder(repository, commit)} lacks {string.Join(" or ", MissingParts(SnapshotFolder(repository, commit)))}";
            throw new FileNotFoundException(
                $"Model '{modelId}' is not in the Hugging Face cache at '{access.CacheDirectory}' ({state}), and HF_HUB_OFFLINE forbids downloading it " +
                "(FossilSettings.HubOffline). Download it while online (here, or in Python with huggingface_hub), or pass a local folder.", repository);
        }
        try
        {
            return await DownloadAsync(modelId, repository, revision, cancellation).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new FileNotFoundException(
                $"Model '{modelId}' is not in the Hugging Face cache at '{repository}' and could not be downloaded from {access.Endpoint}: {e.Message}", repository, e);
        }
    }

    /// <summary>Synchronous <see cref="EnsureDownloadedAsync"/>.</summary>
    public string EnsureDownloaded(string modelId, string revision = "main") => EnsureDownloadedAsync(modelId, revision).GetAwaiter().GetResult();

    async Task<string> DownloadAsync(string modelId, string repository, string revision, CancellationToken cancellation)
    {
        // config.json first: its answer names the commit, and every other file is then asked for at that commit, so
        // the snapshot is consistent even if the branch moves meanwhile.
        FileMetadata config = await HeadAsync(modelId, revision, HuggingFaceLoader.ConfigFileName, cancellation).ConfigureAwait(false)
                              ?? throw NotOnHub(modelId, revision, HuggingFaceLoader.ConfigFileName);
        string commit = config.Commit;
        string snapshot = SnapshotFolder(repository, commit);
        if (!string.Equals(revision, commit, StringComparison.Ordinal)) WriteRef(repository, revision, commit);
        await MaterializeAsync(repository, snapshot, HuggingFaceLoader.ConfigFileName, config, cancellation).ConfigureAwait(false);

        if (!HasWeights(snapshot))
        {
            bool found = false;
            foreach (string file in WeightFiles)
            {
                if (IsKnownMissing(repository, commit, file)) continue;
                FileMetadata? weights = await HeadAsync(modelId, commit, file, cancellation).ConfigureAwait(false);
                if (weights is null)
                {
                    MarkMissing(repository, commit, file);
                    continue;
                }
                await MaterializeAsync(repository, snapshot, file, weights, cancellation).ConfigureAwait(false);
                foreach (string shard in Shards(snapshot, file))
                {
                    FileMetadata part = await HeadAsync(modelId, commit, shard, cancellation).ConfigureAwait(false)
                                        ?? throw NotOnHub(modelId, commit, $"{shard} (a shard {file} names)");
                    await MaterializeAsync(repository, snapshot, shard, part, cancellation).ConfigureAwait(false);
                }
                found = true;
                break;
            }
            if (!found) throw NotOnHub(modelId, commit, $"weights (any of {string.Join(", ", WeightFiles)})");
        }

        foreach (string file in OptionalFiles)
        {
            if (File.Exists(Path.Combine(snapshot, file)) || IsKnownMissing(repository, commit, file)) continue;
            FileMetadata? metadata = await HeadAsync(modelId, commit, file, cancellation).ConfigureAwait(false);
            if (metadata is null) MarkMissing(repository, commit, file);
            else await MaterializeAsync(repository, snapshot, file, metadata, cancellation).ConfigureAwait(false);
        }
        return snapshot;
    }

    /// <summary>What the hub says about one file before any download.</summary>
    /// <param name="Commit">The commit the revision resolved to (X-Repo-Commit).</param>
    /// <param name="Etag">The blob name (X-Linked-Etag for LFS files, else ETag), without quotes.</param>
    /// <param name="Size">Bytes, when the hub says.</param>
    /// <param name="Location">Where to GET the content (a CDN address for LFS files).</param>
    sealed record FileMetadata(string Commit, string Etag, long? Size, Uri Location);

    /// <summary>HEAD on the file's resolve address, following only redirects within the hub; null when the file does not exist there.</summary>
    async Task<FileMetadata?> HeadAsync(string modelId, string revision, string file, CancellationToken cancellation)
    {
        Uri url = ResolveUrl(modelId, revision, file);
        for (int hop = 0; hop < 10; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, url);
            AddHeaders(request, url);
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                Uri target = location.IsAbsoluteUri ? location : new Uri(url, location);
                // A redirect within the hub (a renamed repository) is followed; one to another host is the CDN that
                // serves the content: the hub's headers on this response are the file's metadata.
                if (!location.IsAbsoluteUri || SameHost(target, access.Endpoint))
                {
                    if (Header(response, "X-Repo-Commit") is null)
                    {
                        url = target;
                        continue;
                    }
                }
                return Metadata(response, modelId, file, target);
            }
            if (response.IsSuccessStatusCode) return Metadata(response, modelId, file, url);
            string? code = Header(response, "X-Error-Code");
            if (status is 401 or 403 || code is "GatedRepo")
            {
                string advice = access.Token is null
                    ? "Set HF_TOKEN (FossilSettings.HubToken) to a token that may read it."
                    : "The token given (HF_TOKEN / FossilSettings.HubToken) may not read it.";
                string reason = code is null ? status.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{status} {code}";
                throw new UnauthorizedAccessException(
                    $"The hub at {access.Endpoint} refused access to model '{modelId}' ({reason}): it is private or gated, or does not exist. {advice}");
            }
            if (status == 404 && code is "RepoNotFound" or "RevisionNotFound")
                throw new FileNotFoundException(
                    $"The hub at {access.Endpoint} has no {(code == "RepoNotFound" ? $"model '{modelId}'" : $"revision '{revision}' of model '{modelId}'")} " +
                    "(check the id and revision; private models need HF_TOKEN).", RepositoryFolder(modelId));
            if (status == 404) return null;
            response.EnsureSuccessStatusCode();
        }
        throw new HttpRequestException($"Too many redirects for {ResolveUrl(modelId, revision, file)}.");
    }

    FileMetadata Metadata(HttpResponseMessage response, string modelId, string file, Uri location)
    {
        string commit = Header(response, "X-Repo-Commit") ?? throw new InvalidDataException(
            $"The server at {access.Endpoint} answered for {modelId}/{file} without an X-Repo-Commit header: it does not look like a Hugging Face hub (check HF_ENDPOINT).");
        if (!CommitPattern().IsMatch(commit))
            throw new InvalidDataException($"The hub at {access.Endpoint} gave '{commit}' as the commit of {modelId}, which is not a 40-hex commit hash.");
        string? etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag");
        etag = etag is null ? null : NormaliseEtag(etag);
        if (string.IsNullOrEmpty(etag) || !EtagPattern().IsMatch(etag))
            throw new InvalidDataException($"The hub at {access.Endpoint} gave no usable ETag for {modelId}/{file} ('{etag}'): the file cannot be cached.");
        long? size = long.TryParse(Header(response, "X-Linked-Size"), out long linked) ? linked : response.Content.Headers.ContentLength;
        return new FileMetadata(commit, etag, size, location);
    }

    /// <summary>Puts <paramref name="file"/> into the snapshot: the blob (downloaded unless present) and the link to it.</summary>
    async Task MaterializeAsync(string repository, string snapshot, string file, FileMetadata metadata, CancellationToken cancellation)
    {
        string pointer = Path.Combine(snapshot, file);
        if (File.Exists(pointer)) return;
        string blob = Path.Combine(repository, "blobs", metadata.Etag);
        if (!File.Exists(blob)) await DownloadBlobAsync(metadata, blob, cancellation).ConfigureAwait(false);
        CreatePointer(blob, pointer);
    }

    async Task DownloadBlobAsync(FileMetadata metadata, string blob, CancellationToken cancellation)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        string partial = $"{blob}.{Guid.NewGuid():N}.incomplete";
        try
        {
            Uri url = metadata.Location;
            HttpResponseMessage? response = null;
            for (int hop = 0; hop < 10; hop++)
            {
                var request = new HttpRequestMessage(HttpMethod.Get, url);
                AddHeaders(request, url);
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    url = location.IsAbsoluteUri ? location : new Uri(url, location);
                    response.Dispose();
                    response = null;
                    continue;
                }
                break;
            }
            using (response)
            {
                if (response is null) throw new HttpRequestException($"Too many redirects for {metadata.Location}.");
                response.EnsureSuccessStatusCode();
                bool isSha256 = Sha256Pattern().IsMatch(metadata.Etag);
                using var hash = isSha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                await using (var output = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                await using (Stream input = await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false))
                {
                    byte[] buffer = new byte[1 << 16];
                    int read;
                    while ((read = await input.ReadAsync(buffer, cancellation).ConfigureAwait(false)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellation).ConfigureAwait(false);
                        hash?.AppendData(buffer, 0, read);
                    }
                    await output.FlushAsync(cancellation).ConfigureAwait(false);
                    if (metadata.Size is long expected && output.Length != expected)
                        throw new IOException($"Download of {metadata.Location} ended after {output.Length} of {expected} bytes.");
                }
                if (hash is not null && !string.Equals(Convert.ToHexStringLower(hash.GetHashAndReset()), metadata.Etag, StringComparison.OrdinalIgnoreCase))
                    throw new InvalidDataException($"The content downloaded from {metadata.Location} does not have the SHA-256 the hub announced ({metadata.Etag}).");
            }
            File.Move(partial, blob, overwrite: true);
        }
        finally
        {
            TryDelete(partial);
        }
    }

    /// <summary>snapshots/{commit}/{file} -> ../../blobs/{etag} (relative, as huggingface_hub links), or a copy where links are refused.</summary>
    static void CreatePointer(string blob, string pointer)
    {
        string folder = Path.GetDirectoryName(pointer)!;
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, $".{Path.GetFileName(pointer)}.{Guid.NewGuid():N}.tmp");
        try
        {
            try
            {
                File.CreateSymbolicLink(temporary, Path.GetRelativePath(folder, blob));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                File.Copy(blob, temporary, overwrite: true);   // Windows without the right to make links: huggingface_hub copies too
            }
            File.Move(temporary, pointer, overwrite: true);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    static void WriteRef(string repository, string revision, string commit)
    {
        string path = Path.Combine(repository, "refs", revision);
        if (File.Exists(path) && File.ReadAllText(path).Trim() == commit) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllText(temporary, commit);   // no newline, as huggingface_hub writes it
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    static void MarkMissing(string repository, string commit, string file)
    {
        string path = Path.Combine(repository, ".no_exist", commit, file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!File.Exists(path)) File.WriteAllBytes(path, []);
    }

    static bool IsKnownMissing(string repository, string commit, string file) => File.Exists(Path.Combine(repository, ".no_exist", commit, file));

    static string SnapshotFolder(string repository, string commit) => Path.Combine(repository, "snapshots", commit);

    /// <summary>The commit of <paramref name="revision"/>: itself when it is a commit hash, else what refs/{revision} says; null when unknown.</summary>
    static string? CachedCommit(string repository, string revision)
    {
        if (CommitPattern().IsMatch(revision)) return revision;
        string path = Path.Combine(repository, "refs", revision);
        if (!File.Exists(path)) return null;
        string commit = File.ReadAllText(path).Trim();
        return CommitPattern().IsMatch(commit) ? commit : null;
    }

    static bool IsUsable(string snapshot) => MissingParts(snapshot).Count == 0;

    /// <summary>What a snapshot lacks to be loaded: config.json, weights, a tokenizer.</summary>
    static List<string> MissingParts(string snapshot)
    {
        var missing = new List<string>();
        if (!File.Exists(Path.Combine(snapshot, HuggingFaceLoader.ConfigFileName))) missing.Add(HuggingFaceLoader.ConfigFileName);
        if (!HasWeights(snapshot)) missing.Add($"weights ({string.Join(", ", WeightFiles)})");
        if (!TokenizerSets.Any(set => set.All(f => File.Exists(Path.Combine(snapshot, f)))))
            missing.Add("tokenizer files (vocab.json + merges.txt, vocab.txt, tokenizer.json or sentencepiece.bpe.model)");
        return missing;
    }

    static bool HasWeights(string snapshot) => WeightFiles.Any(file =>
    {
        if (!File.Exists(Path.Combine(snapshot, file))) return false;
        try
        {
            return Shards(snapshot, file).All(shard => File.Exists(Path.Combine(snapshot, shard)));
        }
        catch (InvalidDataException)
        {
            return false;
        }
    });

    /// <summary>The shard files an index names (none for a single weight file).</summary>
    static IReadOnlyList<string> Shards(string snapshot, string file)
    {
        if (!file.EndsWith(".index.json", StringComparison.Ordinal)) return [];
        string path = Path.Combine(snapshot, file);
        try
        {
            using JsonDocument index = JsonDocument.Parse(File.ReadAllBytes(path));
            List<string> shards = [.. index.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Value.GetString()!).Distinct()];
            foreach (string shard in shards)
                if (shard.Length == 0 || shard.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(shard) || shard.Contains('\\'))
                    throw new InvalidDataException($"{path} names the shard '{shard}', which is not a file name inside the model.");
            return shards;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path} is not a valid weight index: {e.Message}", e);
        }
    }

    Uri ResolveUrl(string modelId, string revision, string file) =>
        new($"{access.Endpoint.ToString().TrimEnd('/')}/{modelId}/resolve/{Uri.EscapeDataString(revision)}/{file}");

    void AddHeaders(HttpRequestMessage request, Uri url)
    {
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("Microsoft.ML.Fossil", "1.0"));
        // The token goes to the hub only, never to the host a download is redirected to.
        if (access.Token is { } token && SameHost(url, access.Endpoint)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    static bool SameHost(Uri a, Uri b) =>
        string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port && a.Scheme == b.Scheme;

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out IEnumerable<string>? values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    /// <summary>ETag as huggingface_hub names blobs: without a weak-validator prefix and without quotes.</summary>
    internal static string NormaliseEtag(string etag)
    {
        string value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal)) value = value[2..];
        return value.Trim('"');
    }

    FileNotFoundException NotOnHub(string modelId, string revision, string what) => new(
        $"Model '{modelId}' (revision '{revision}') is not in the Hugging Face cache at '{RepositoryFolder(modelId)}', and the hub at {access.Endpoint} " +
        $"does not provide its {what}. Check the model id, or pass a local Hugging Face folder instead.", RepositoryFolder(modelId));

    static void ValidateModelId(string modelId)
    {
        if (string.IsNullOrWhiteSpace(modelId) || modelId.Contains("..", StringComparison.Ordinal) || modelId.StartsWith('/') || modelId.EndsWith('/')
            || modelId.Count(c => c == '/') > 1 || modelId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')))
            throw new ArgumentException($"'{modelId}' is not a valid Hugging Face model id (expected 'name' or 'org/name').", nameof(modelId));
    }

    static void ValidateRevision(string revision)
    {
        if (string.IsNullOrWhiteSpace(revision) || revision.Contains("..", StringComparison.Ordinal) || revision.StartsWith('/') || revision.Contains('\\'))
            throw new ArgumentException($"'{revision}' is not a valid revision (a branch, tag or commit hash).", nameof(revision));
    }

    static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path) || new FileInfo(path).LinkTarget is not null) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temporary file is harmless and never has a final name.
        }
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();

    [GeneratedRegex("^[0-9a-f]{64}$", RegexOptions.IgnoreCase)]
    private static partial Regex Sha256Pattern();

    /// <summary>Blob names are used as file names: hex (and the odd dash or underscore some servers add), nothing else.</summary>
    [GeneratedRegex("^[0-9A-Za-z_-]{1,128}$")]
    private static partial Regex EtagPattern();

    /// <inheritdoc />
    public void Dispose() => http.Dispose();
}
