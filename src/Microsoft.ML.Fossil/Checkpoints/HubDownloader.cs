using System.Net;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Downloads a Hugging Face model repository's files once into a local cache and serves them from
/// there afterwards (offline included). Files are written to a temporary name and renamed, so an
/// interrupted download never leaves a damaged file in the cache.
/// </summary>
internal sealed class HubDownloader
{
    /// <summary>Files a BERT/RoBERTa sequence classifier needs, in the order they are tried.</summary>
    static readonly string[] ConfigFiles = ["config.json"];
    static readonly string[] WeightFiles = ["model.safetensors", "pytorch_model.bin"];
    static readonly string[] OptionalFiles = ["tokenizer_config.json", "vocab.json", "merges.txt", "vocab.txt", "special_tokens_map.json"];

    readonly HttpClient http;

    /// <summary>Hub base address.</summary>
    public Uri Endpoint { get; }

    /// <summary>Cache root.</summary>
    public string CacheDirectory { get; }

    /// <summary>Creates a downloader for <paramref name="endpoint"/> caching into <paramref name="cacheDirectory"/> (both chosen at the edge, see FossilSettings).</summary>
    public HubDownloader(string cacheDirectory, Uri endpoint, HttpClient? httpClient = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);
        ArgumentNullException.ThrowIfNull(endpoint);
        Endpoint = endpoint;
        CacheDirectory = cacheDirectory;
        http = httpClient ?? new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
    }

    /// <summary>The folder where <paramref name="modelId"/> at <paramref name="revision"/> is cached.</summary>
    public string FolderFor(string modelId, string revision = "main")
    {
        ValidateModelId(modelId);
        return Path.Combine(CacheDirectory, "models--" + modelId.Replace("/", "--", StringComparison.Ordinal), revision);
    }

    /// <summary>
    /// Returns a local folder holding the model's files, downloading what the cache lacks. A complete
    /// cached copy is used without any network access.
    /// </summary>
    /// <exception cref="FileNotFoundException">The model is neither cached nor downloadable; the message says where it looked.</exception>
    public async Task<string> EnsureDownloadedAsync(string modelId, string revision = "main", CancellationToken cancellation = default)
    {
        string folder = FolderFor(modelId, revision);
        if (IsComplete(folder)) return folder;
        Directory.CreateDirectory(folder);
        var failures = new List<string>();
        try
        {
            foreach (string file in ConfigFiles)
                if (!await TryDownloadAsync(modelId, revision, file, folder, failures, cancellation).ConfigureAwait(false))
                    throw Missing(modelId, folder, failures);
            bool gotWeights = false;
            foreach (string file in WeightFiles)
            {
                if (await TryDownloadAsync(modelId, revision, file, folder, failures, cancellation).ConfigureAwait(false))
                {
                    gotWeights = true;
                    break;
                }
            }
            if (!gotWeights) throw Missing(modelId, folder, failures);
            foreach (string file in OptionalFiles)
                await TryDownloadAsync(modelId, revision, file, folder, failures, cancellation).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new FileNotFoundException(
                $"Model '{modelId}' is not in the cache at '{folder}' and could not be downloaded from {Endpoint}: {e.Message}", folder, e);
        }
        File.WriteAllText(Path.Combine(folder, ".complete"), DateTime.UtcNow.ToString("O"));
        return folder;
    }

    /// <summary>Synchronous <see cref="EnsureDownloadedAsync"/>.</summary>
    public string EnsureDownloaded(string modelId, string revision = "main") =>
        EnsureDownloadedAsync(modelId, revision).GetAwaiter().GetResult();

    static bool IsComplete(string folder) => File.Exists(Path.Combine(folder, ".complete"));

    FileNotFoundException Missing(string modelId, string folder, List<string> failures) => new(
        $"Model '{modelId}' is not in the cache at '{folder}' and the hub at {Endpoint} does not provide it ({string.Join("; ", failures)}). " +
        "Check the model id, or pass a local Hugging Face folder instead.", folder);

    async Task<bool> TryDownloadAsync(string modelId, string revision, string file, string folder, List<string> failures, CancellationToken cancellation)
    {
        string target = Path.Combine(folder, file);
        if (File.Exists(target)) return true;
        var url = new Uri(Endpoint, $"{modelId}/resolve/{Uri.EscapeDataString(revision)}/{file}");
        using HttpResponseMessage response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            failures.Add($"{url} -> {(int)response.StatusCode}");
            return false;
        }
        response.EnsureSuccessStatusCode();
        string partial = target + ".partial";
        await using (var output = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await response.Content.CopyToAsync(output, cancellation).ConfigureAwait(false);
            if (response.Content.Headers.ContentLength is long expected && output.Length != expected)
                throw new IOException($"Download of {url} ended after {output.Length} of {expected} bytes.");
        }
        File.Move(partial, target, overwrite: true);
        return true;
    }

    static void ValidateModelId(string modelId)
    {
        if (string.IsNullOrWhiteSpace(modelId) || modelId.Contains("..", StringComparison.Ordinal) || modelId.StartsWith('/') ||
            modelId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')))
            throw new ArgumentException($"'{modelId}' is not a valid Hugging Face model id (expected 'name' or 'org/name').", nameof(modelId));
    }
}
