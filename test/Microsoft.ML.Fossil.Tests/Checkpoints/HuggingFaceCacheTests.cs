using System.Security.Cryptography;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Tests.MLNet;

namespace Microsoft.ML.Fossil.Tests.Checkpoints;

/// <summary>
/// Hub ids resolve through Hugging Face's standard cache, laid out as huggingface_hub writes it (file_download.py:
/// blobs named by ETag, snapshots/{commit} links, refs/{branch}, .no_exist), against a hub served on 127.0.0.1.
/// </summary>
public sealed class HuggingFaceCacheTests : IDisposable
{
    const string Id = "tiny-org/tiny-roberta";
    readonly TinyBackbone backbone = new();
    readonly TempFolder temp = new();
    readonly LocalHub hub = new();

    public void Dispose()
    {
        hub.Dispose();
        temp.Dispose();
        backbone.Dispose();
    }

    HubDownloader Downloader(string cache, string? token = null, bool offline = false) => new(new HubAccess(cache, hub.Endpoint, token, offline));

    static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void A_download_writes_the_layout_huggingface_hub_writes_and_a_second_resolve_uses_no_network()
    {
        string commit = hub.Add(Id, backbone.Folder);
        string cache = temp.Sub("hub");
        using HubDownloader downloader = Downloader(cache);
        string snapshot = downloader.EnsureDownloaded(Id);

        string repository = Path.Combine(cache, "models--tiny-org--tiny-roberta");
        Assert.Equal(Path.Combine(repository, "snapshots", commit), snapshot);
        Assert.Equal(commit, File.ReadAllText(Path.Combine(repository, "refs", "main")));   // the commit, no newline
        foreach (string file in new[] { "config.json", "model.safetensors", "vocab.json", "merges.txt" })
        {
            var pointer = new FileInfo(Path.Combine(snapshot, file));
            string source = Path.Combine(backbone.Folder, file);
            string etag = LocalHub.IsLfs(file) ? Sha256Of(source) : LocalHub.GitBlobSha1(File.ReadAllBytes(source));
            Assert.Equal($"../../blobs/{etag}", pointer.LinkTarget);   // relative link, as _create_symlink makes it
            Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(Path.Combine(repository, "blobs", etag)));
        }
        // Files the hub does not have are remembered as huggingface_hub remembers them.
        Assert.True(File.Exists(Path.Combine(repository, ".no_exist", commit, "vocab.txt")));
        Assert.True(File.Exists(Path.Combine(repository, ".no_exist", commit, "tokenizer.json")));
        Assert.Empty(Directory.GetFiles(cache, "*.incomplete", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(cache, "*.tmp", SearchOption.AllDirectories));
        // The weights came from the CDN host the hub redirected to, never from the hub itself.
        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Host == "127.0.0.2" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal));
        Assert.DoesNotContain(hub.Requests, r => r.Method == "GET" && r.Path.EndsWith("/model.safetensors", StringComparison.Ordinal));

        int served = hub.Requests.Count;
        Assert.Equal(snapshot, downloader.EnsureDownloaded(Id));
        Assert.Equal(served, hub.Requests.Count);
    }

    [Fact]
    public void A_cache_laid_out_by_huggingface_hub_is_used_as_it_is_by_branch_tag_or_commit_without_any_request()
    {
        string cache = temp.Sub("python-cache");
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        string snapshot = HubCacheLayout.Write(cache, Id, commit, backbone.Folder, "main", "tokenizer.json", "added_tokens.json");
        File.WriteAllText(Path.Combine(cache, "models--tiny-org--tiny-roberta", "refs", "v1.0"), commit);

        using HubDownloader downloader = Downloader(cache);
        Assert.Equal(snapshot, downloader.EnsureDownloaded(Id));
        Assert.Equal(snapshot, downloader.EnsureDownloaded(Id, "v1.0"));
        Assert.Equal(snapshot, downloader.EnsureDownloaded(Id, commit));
        Assert.Empty(hub.Requests);

        // The backbone it loads is the folder's, weight for weight.
        var settings = new FossilSettings { HubCacheDirectory = cache, HubEndpoint = hub.Endpoint };
        LoadedBackbone fromCache = BackboneSource.HuggingFaceHub(Id).Load(settings);
        LoadedBackbone fromFolder = BackboneSource.HuggingFaceFolder(backbone.Folder).Load(new FossilSettings());
        try
        {
            Assert.Equal(fromFolder.Identity.Sha256, fromCache.Identity.Sha256);
            Assert.Equal(new BackboneIdentity(BackboneLocator.HubKind, Id, fromFolder.Identity.Sha256, "main"), fromCache.Identity);
        }
        finally
        {
            fromCache.Encoder.Dispose();
            fromFolder.Encoder.Dispose();
        }
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void Offline_mode_never_touches_the_network_and_says_what_is_not_cached()
    {
        string commit = hub.Add(Id, backbone.Folder);
        string cache = temp.Sub("offline");
        using (HubDownloader offline = Downloader(cache, offline: true))
        {
            var error = Assert.Throws<FileNotFoundException>(() => offline.EnsureDownloaded(Id));
            Assert.Contains("HF_HUB_OFFLINE", error.Message);
            Assert.Contains(cache, error.Message);
            Assert.Contains("refs", error.Message);
        }
        Assert.Empty(hub.Requests);

        // A snapshot without its weights: the message names what is missing.
        string partial = temp.Sub("partial-source");
        foreach (string file in new[] { "config.json", "vocab.json", "merges.txt" }) File.Copy(Path.Combine(backbone.Folder, file), Path.Combine(partial, file));
        HubCacheLayout.Write(cache, Id, commit, partial);
        using (HubDownloader offline = Downloader(cache, offline: true))
            Assert.Contains("weights", Assert.Throws<FileNotFoundException>(() => offline.EnsureDownloaded(Id)).Message);
        Assert.Empty(hub.Requests);

        // Online, the same snapshot gets the missing weights; offline again, it is used.
        using (HubDownloader online = Downloader(cache)) online.EnsureDownloaded(Id, "main");
        int served = hub.Requests.Count;
        Assert.True(served > 0);
        using (HubDownloader offline = Downloader(cache, offline: true)) Assert.True(File.Exists(Path.Combine(offline.EnsureDownloaded(Id), "model.safetensors")));
        Assert.Equal(served, hub.Requests.Count);
    }

    [Fact]
    public void A_private_model_needs_the_token_which_goes_to_the_hub_as_a_bearer_token_and_never_to_the_CDN()
    {
        const string token = "hf_secret_token_1234";
        hub.Add(Id, backbone.Folder, token);
        string cache = temp.Sub("private");
        using (HubDownloader anonymous = Downloader(cache))
        {
            var refused = Assert.Throws<UnauthorizedAccessException>(() => anonymous.EnsureDownloaded(Id));
            Assert.Contains("HF_TOKEN", refused.Message);
            Assert.Contains("401", refused.Message);
        }
        using (HubDownloader wrong = Downloader(cache, token: "hf_wrong"))
        {
            var refused = Assert.Throws<UnauthorizedAccessException>(() => wrong.EnsureDownloaded(Id));
            Assert.DoesNotContain("hf_wrong", refused.Message);
        }

        var settings = new FossilSettings { HubCacheDirectory = cache, HubEndpoint = hub.Endpoint, HubToken = token };
        LoadedBackbone loaded = BackboneSource.HuggingFaceHub(Id).Load(settings);
        loaded.Encoder.Dispose();
        Assert.All(hub.Requests.Where(r => r.Path.Contains("/resolve/", StringComparison.Ordinal) && r.Authorization == $"Bearer {token}"),
            r => Assert.Equal("127.0.0.1", r.Host));
        Assert.Contains(hub.Requests, r => r.Path.EndsWith("/resolve/main/config.json", StringComparison.Ordinal) && r.Authorization == $"Bearer {token}");
        Assert.Contains(hub.Requests, r => r.Host == "127.0.0.2");
        Assert.All(hub.Requests.Where(r => r.Host == "127.0.0.2"), r => Assert.Null(r.Authorization));
    }

    [Fact]
    public void Unknown_models_and_revisions_are_errors_that_say_where_it_looked()
    {
        hub.Add(Id, backbone.Folder);
        string cache = temp.Sub("unknown");
        using HubDownloader downloader = Downloader(cache);
        var absent = Assert.Throws<FileNotFoundException>(() => downloader.EnsureDownloaded("tiny-org/absent"));
        Assert.Contains("tiny-org/absent", absent.Message);
        Assert.Contains($"127.0.0.1:{hub.Port}", absent.Message);
        Assert.Contains("revision 'v9'", Assert.Throws<FileNotFoundException>(() => downloader.EnsureDownloaded(Id, "v9")).Message);
        Assert.Throws<ArgumentException>(() => downloader.EnsureDownloaded("../etc"));
        Assert.Throws<ArgumentException>(() => downloader.EnsureDownloaded(Id, "../../x"));
    }

    [Fact]
    public void FromEnvironment_reads_the_variables_huggingface_hub_reads()
    {
        string home = temp.Sub("hf-home");
        File.WriteAllText(Path.Combine(home, "token"), "hf_from_file\n");
        FossilSettings Read(Dictionary<string, string> variables) => FossilSettings.FromEnvironment(name => variables.GetValueOrDefault(name));

        FossilSettings fromHome = Read(new() { ["HF_HOME"] = home, ["HF_HUB_OFFLINE"] = "1", ["HF_ENDPOINT"] = "http://127.0.0.1:1/" });
        Assert.Equal(Path.Combine(home, "hub"), fromHome.HubCacheDirectory);
        Assert.Equal("hf_from_file", fromHome.HubToken);
        Assert.True(fromHome.HubOffline);
        Assert.Equal(new Uri("http://127.0.0.1:1/"), fromHome.HubEndpoint);

        FossilSettings explicitCache = Read(new() { ["HF_HOME"] = home, ["HF_HUB_CACHE"] = "/elsewhere/hub", ["HF_TOKEN"] = "hf_variable", ["HF_HUB_OFFLINE"] = "no" });
        Assert.Equal("/elsewhere/hub", explicitCache.HubCacheDirectory);
        Assert.Equal("hf_variable", explicitCache.HubToken);
        Assert.False(explicitCache.HubOffline);

        FossilSettings xdg = Read(new() { ["XDG_CACHE_HOME"] = "/xdg", ["TRANSFORMERS_OFFLINE"] = "TRUE" });
        Assert.Equal(Path.Combine("/xdg", "huggingface", "hub"), xdg.HubCacheDirectory);
        Assert.True(xdg.HubOffline);

        FossilSettings none = Read([]);
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "hub"), none.HubCacheDirectory);
        Assert.False(none.HubOffline);
        Assert.Equal(new FossilSettings().HubCacheDirectory, none.HubCacheDirectory);
    }
}
