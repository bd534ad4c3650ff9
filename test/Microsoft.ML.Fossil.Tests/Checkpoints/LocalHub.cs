using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Microsoft.ML.Fossil.Tests.Checkpoints;

/// <summary>
/// A Hugging Face hub on 127.0.0.1 that answers as huggingface.co does for <c>/{id}/resolve/{revision}/{file}</c>
/// (huggingface_hub's file_download.py reads these headers): <c>X-Repo-Commit</c> on every answer; small files with
/// their git blob SHA-1 as <c>ETag</c>; LFS files (weights) as a 302 to a CDN host (127.0.0.2, so a token must not follow)
/// carrying <c>X-Linked-Etag</c> (the content's SHA-256) and <c>X-Linked-Size</c>; 404 with <c>X-Error-Code</c>
/// EntryNotFound / RepoNotFound / RevisionNotFound; 401 for a private model without its bearer token.
/// Every request is recorded with its Authorization header.
/// </summary>
internal sealed class LocalHub : IDisposable
{
    readonly HttpListener listener = new();
    readonly Task loop;
    readonly Dictionary<string, Model> models = new(StringComparer.Ordinal);
    readonly List<Request> requests = [];

    sealed record Model(string Folder, string Commit, string? Token, HashSet<string> Tags);

    /// <summary>One request: method, host, path and the Authorization header (null when absent).</summary>
    public sealed record Request(string Method, string Host, string Path, string? Authorization);

    public LocalHub()
    {
        Port = FreeLoopbackPort();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Prefixes.Add($"http://127.0.0.2:{Port}/");
        listener.Start();
        loop = Task.Run(Serve);
    }

    public int Port { get; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port}/");

    public IReadOnlyList<Request> Requests
    {
        get
        {
            lock (requests) return [.. requests];
        }
    }

    /// <summary>Serves <paramref name="folder"/>'s files as model <paramref name="id"/>; returns its commit hash.</summary>
    public string Add(string id, string folder, string? token = null, params string[] tags)
    {
        string commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes("commit of " + id)));
        lock (models) models[id] = new Model(folder, commit, token, [.. tags]);
        return commit;
    }

    /// <summary>git's blob id: SHA-1 of "blob {length}\0" + content (the hub's ETag of a file stored in git, not LFS).</summary>
    public static string GitBlobSha1(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal) || file.EndsWith(".bin", StringComparison.Ordinal);

    async Task Serve()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                await Answer(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                // the client went away
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    async Task Answer(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        HttpListenerResponse response = context.Response;
        string path = Uri.UnescapeDataString(request.Url!.AbsolutePath);
        lock (requests) requests.Add(new Request(request.HttpMethod, request.Url.Host, path, request.Headers["Authorization"]));
        bool head = request.HttpMethod == "HEAD";

        if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            string sha = path["/cdn/".Length..];
            byte[]? blob = null;
            lock (models)
                foreach (Model model in models.Values)
                    foreach (string file in Directory.GetFiles(model.Folder))
                    {
                        byte[] bytes = File.ReadAllBytes(file);
                        if (Convert.ToHexStringLower(SHA256.HashData(bytes)) == sha) blob = bytes;
                    }
            if (blob is null)
            {
                response.StatusCode = 404;
                return;
            }
            response.ContentLength64 = blob.Length;
            if (!head) await response.OutputStream.WriteAsync(blob);
            return;
        }

        // /{org}/{name}/resolve/{revision}/{file}
        string[] parts = path.TrimStart('/').Split('/');
        int resolve = Array.IndexOf(parts, "resolve");
        if (resolve < 1 || parts.Length != resolve + 3)
        {
            response.StatusCode = 404;
            return;
        }
        string id = string.Join('/', parts[..resolve]);
        string revision = parts[resolve + 1], fileName = parts[resolve + 2];
        Model? found;
        lock (models) models.TryGetValue(id, out found);
        if (found is null)
        {
            response.StatusCode = 404;
            response.Headers["X-Error-Code"] = "RepoNotFound";
            return;
        }
        if (found.Token is { } token && request.Headers["Authorization"] != $"Bearer {token}")
        {
            response.StatusCode = 401;
            response.Headers["X-Error-Code"] = "RepoNotFound";
            return;
        }
        if (revision != "main" && revision != found.Commit && !found.Tags.Contains(revision))
        {
            response.StatusCode = 404;
            response.Headers["X-Error-Code"] = "RevisionNotFound";
            return;
        }
        response.Headers["X-Repo-Commit"] = found.Commit;
        string filePath = Path.Combine(found.Folder, fileName);
        if (!File.Exists(filePath))
        {
            response.StatusCode = 404;
            response.Headers["X-Error-Code"] = "EntryNotFound";
            return;
        }
        byte[] content = await File.ReadAllBytesAsync(filePath);
        if (IsLfs(fileName))
        {
            string sha = Convert.ToHexStringLower(SHA256.HashData(content));
            response.StatusCode = 302;
            response.Headers["X-Linked-Etag"] = $"\"{sha}\"";
            response.Headers["X-Linked-Size"] = content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.RedirectLocation = $"http://127.0.0.2:{Port}/cdn/{sha}";
            return;
        }
        response.Headers["ETag"] = $"\"{GitBlobSha1(content)}\"";
        response.ContentLength64 = content.Length;
        if (!head) await response.OutputStream.WriteAsync(content);
    }

    static int FreeLoopbackPort()
    {
        var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(5));
    }
}

/// <summary>Writes a hub cache folder exactly as huggingface_hub lays it out after a download.</summary>
internal static class HubCacheLayout
{
    /// <summary>
    /// models--{org}--{name}/blobs/{etag} (SHA-256 for weights, git SHA-1 for the rest), snapshots/{commit}/{file} as
    /// relative links to ../../blobs/{etag}, refs/{branch} = the commit (no newline), and .no_exist/{commit}/{file}
    /// for each of <paramref name="knownMissing"/>. Returns the snapshot folder.
    /// </summary>
    public static string Write(string cache, string id, string commit, string sourceFolder, string branch = "main", params string[] knownMissing)
    {
        string repository = Path.Combine(cache, "models--" + id.Replace("/", "--", StringComparison.Ordinal));
        string snapshot = Directory.CreateDirectory(Path.Combine(repository, "snapshots", commit)).FullName;
        Directory.CreateDirectory(Path.Combine(repository, "blobs"));
        foreach (string file in Directory.GetFiles(sourceFolder))
        {
            byte[] content = File.ReadAllBytes(file);
            string etag = LocalHub.IsLfs(file) ? Convert.ToHexStringLower(SHA256.HashData(content)) : LocalHub.GitBlobSha1(content);
            File.WriteAllBytes(Path.Combine(repository, "blobs", etag), content);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), $"../../blobs/{etag}");
        }
        Directory.CreateDirectory(Path.Combine(repository, "refs"));
        File.WriteAllText(Path.Combine(repository, "refs", branch), commit);
        foreach (string missing in knownMissing)
        {
            string marker = Path.Combine(repository, ".no_exist", commit, missing);
            Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
            File.WriteAllBytes(marker, []);
        }
        return snapshot;
    }
}
