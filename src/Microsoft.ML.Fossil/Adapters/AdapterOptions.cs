using System.Text.Json;
using System.Text.Json.Nodes;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>How LoRA's matrices start (PEFT's <c>init_lora_weights</c>).</summary>
internal enum LoraInit
{
    /// <summary>A kaiming-uniform (a = sqrt 5), B zeros: the adapted model starts equal to the base model.</summary>
    Default,
    /// <summary>A normal(0, 1/r), B zeros.</summary>
    Gaussian,
}

/// <summary>
/// Adapter configuration: the kind, its rank and targets. Serialises to a PEFT-style
/// <c>adapter_config.json</c> (PEFT field names where PEFT has the field).
/// </summary>
internal sealed class AdapterOptions
{
    /// <summary>PEFT's default targets for BERT and RoBERTa.</summary>
    public static readonly IReadOnlyList<string> DefaultTargetModules = ["query", "value"];

    /// <summary>The target list that selects every linear layer except the classification head.</summary>
    public const string AllLinear = "all-linear";

    /// <summary>Adapter kind. Default FOSSIL.</summary>
    public AdapterKind Kind { get; set; } = AdapterKind.Fossil;

    /// <summary>Rank r: FOSSIL shard rows (PEFT default 64), LoRA rank (PEFT default 8).</summary>
    public int Rank { get; set; } = FossilDefaults.FossilRank;

    /// <summary>FOSSIL variant (default, mini, bat).</summary>
    public FossilVariant Variant { get; set; } = FossilVariant.Default;

    /// <summary>FOSSIL mini: width of the shard that is tiled along the output (PEFT <c>mini_r</c>, default 1).</summary>
    public int MiniRank { get; set; } = FossilDefaults.MiniRank;

    /// <summary>Dropout on the adapter branch's input (PEFT <c>miss_dropout</c> / <c>lora_dropout</c>).</summary>
    public double Dropout { get; set; }

    /// <summary>Module names to adapt: last name segments or dotted suffixes, or ["all-linear"].</summary>
    public IList<string> TargetModules { get; set; } = [.. DefaultTargetModules];

    /// <summary>Which biases are trained.</summary>
    public AdapterBias Bias { get; set; } = AdapterBias.None;

    /// <summary>Modules trained in full besides the adapters (the classification head).</summary>
    public IList<string> ModulesToSave { get; set; } = ["classifier"];

    /// <summary>
    /// True (the method's default): FOSSIL shards and LoRA's B start at zero, so the adapted model
    /// starts exactly equal to the base model. False starts them random (kaiming-uniform), for tests.
    /// </summary>
    public bool ZeroInit { get; set; } = true;

    /// <summary>LoRA: alpha; the update is scaled by alpha / r (or alpha / sqrt r with <see cref="UseRsLora"/>).</summary>
    public double LoraAlpha { get; set; } = FossilDefaults.LoraRank;

    /// <summary>LoRA: rank-stabilised scaling alpha / sqrt(r).</summary>
    public bool UseRsLora { get; set; }

    /// <summary>LoRA: how A starts.</summary>
    public LoraInit LoraInit { get; set; } = LoraInit.Default;

    /// <summary>FOSSIL with PEFT's defaults (r = 64 on query and value).</summary>
    public static AdapterOptions ForFossil(int rank = FossilDefaults.FossilRank, FossilVariant variant = FossilVariant.Default) =>
        new() { Kind = AdapterKind.Fossil, Rank = rank, Variant = variant };

    /// <summary>LoRA with the LoRA paper's RoBERTa setting (r = 8 on query and value, alpha = 8).</summary>
    public static AdapterOptions ForLora(int rank = FossilDefaults.LoraRank, double alpha = FossilDefaults.LoraRank) =>
        new() { Kind = AdapterKind.Lora, Rank = rank, LoraAlpha = alpha };

    /// <summary>Full fine-tuning: no adapters, every parameter trained.</summary>
    public static AdapterOptions ForFullFineTuning() => new() { Kind = AdapterKind.FullFineTuning };

    /// <summary>Checks values that do not depend on the model; the message names the option.</summary>
    public void Validate()
    {
        if (Kind == AdapterKind.FullFineTuning) return;
        if (Rank <= 0) throw new ArgumentOutOfRangeException(nameof(Rank), Rank, "The adapter rank r must be a positive integer.");
        if (Kind == AdapterKind.Fossil && Variant == FossilVariant.Mini && MiniRank <= 0)
            throw new ArgumentOutOfRangeException(nameof(MiniRank), MiniRank, "mini_r must be a positive integer.");
        if (double.IsNaN(Dropout) || Dropout < 0 || Dropout >= 1)
            throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "Adapter dropout must be in [0, 1).");
        if (TargetModules is null || TargetModules.Count == 0 || TargetModules.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("TargetModules must name at least one module (or \"all-linear\"), with no empty names.", nameof(TargetModules));
        if (Kind == AdapterKind.Lora && (double.IsNaN(LoraAlpha) || LoraAlpha <= 0))
            throw new ArgumentOutOfRangeException(nameof(LoraAlpha), LoraAlpha, "lora_alpha must be positive.");
    }

    /// <summary>Writes a PEFT-style adapter_config.json.</summary>
    public string ToJson()
    {
        var json = new JsonObject();
        string bias = Bias switch
        {
            AdapterBias.None => "none",
            AdapterBias.All => "all",
            _ => Kind == AdapterKind.Lora ? "lora_only" : "MiSS_only",
        };
        switch (Kind)
        {
            case AdapterKind.Fossil:
                json["peft_type"] = "MISS";
                json["r"] = Rank;
                json["mini_r"] = MiniRank;
                json["miss_dropout"] = Dropout;
                json["init_weights"] = Variant switch
                {
                    FossilVariant.Mini => JsonValue.Create("mini"),
                    FossilVariant.Bat => JsonValue.Create("bat"),
                    _ => JsonValue.Create(ZeroInit),
                };
                // PEFT cannot say "mini/bat with a random start"; this extra field can.
                if (Variant != FossilVariant.Default && !ZeroInit) json["fossil_random_init"] = true;
                break;
            case AdapterKind.Lora:
                json["peft_type"] = "LORA";
                json["r"] = Rank;
                json["lora_alpha"] = LoraAlpha;
                json["lora_dropout"] = Dropout;
                json["use_rslora"] = UseRsLora;
                json["init_lora_weights"] = !ZeroInit ? JsonValue.Create(false)
                    : LoraInit == LoraInit.Gaussian ? JsonValue.Create("gaussian") : JsonValue.Create(true);
                break;
            default:
                json["peft_type"] = "FULL_FINE_TUNING";
                break;
        }
        if (Kind != AdapterKind.FullFineTuning)
        {
            json["target_modules"] = new JsonArray([.. TargetModules.Select(t => JsonValue.Create(t))]);
            json["bias"] = bias;
            json["modules_to_save"] = new JsonArray([.. ModulesToSave.Select(t => JsonValue.Create(t))]);
        }
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads what <see cref="ToJson"/> writes (and PEFT's own MiSS / LoRA adapter_config.json).</summary>
    public static AdapterOptions FromJson(string text, string sourceForErrors = "adapter_config.json")
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(text) as JsonObject ?? throw new InvalidDataException($"{sourceForErrors} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceForErrors} is not valid JSON: {e.Message}", e);
        }
        string peftType = json["peft_type"]?.GetValue<string>()
            ?? throw new InvalidDataException($"{sourceForErrors} lacks peft_type.");
        var options = new AdapterOptions();
        switch (peftType.ToUpperInvariant())
        {
            case "MISS" or "BONE" or "FOSSIL":
                options.Kind = AdapterKind.Fossil;
                options.Rank = json["r"]?.GetValue<int>() ?? FossilDefaults.FossilRank;
                options.MiniRank = json["mini_r"]?.GetValue<int>() ?? FossilDefaults.MiniRank;
                options.Dropout = json["miss_dropout"]?.GetValue<double>() ?? 0;
                JsonNode? init = json["init_weights"];
                if (init is JsonValue value && value.TryGetValue(out string? mode))
                {
                    options.Variant = mode switch
                    {
                        "mini" => FossilVariant.Mini,
                        "bat" => FossilVariant.Bat,
                        _ => throw new InvalidDataException($"{sourceForErrors}: init_weights '{mode}' is not one of true, false, \"mini\", \"bat\"."),
                    };
                    options.ZeroInit = json["fossil_random_init"]?.GetValue<bool>() != true;
                }
                else
                {
                    options.ZeroInit = init?.GetValue<bool>() ?? true;
                }
                break;
            case "LORA":
                options.Kind = AdapterKind.Lora;
                options.Rank = json["r"]?.GetValue<int>() ?? FossilDefaults.LoraRank;
                options.LoraAlpha = json["lora_alpha"]?.GetValue<double>() ?? FossilDefaults.LoraRank;
                options.Dropout = json["lora_dropout"]?.GetValue<double>() ?? 0;
                options.UseRsLora = json["use_rslora"]?.GetValue<bool>() ?? false;
                JsonNode? loraInit = json["init_lora_weights"];
                if (loraInit is JsonValue loraValue && loraValue.TryGetValue(out string? loraMode))
                {
                    if (loraMode != "gaussian")
                        throw new InvalidDataException($"{sourceForErrors}: init_lora_weights '{loraMode}' is not supported; expected true, false or \"gaussian\".");
                    options.LoraInit = LoraInit.Gaussian;
                }
                else
                {
                    options.ZeroInit = loraInit?.GetValue<bool>() ?? true;
                }
                break;
            case "FULL_FINE_TUNING":
                return ForFullFineTuning();
            default:
                throw new InvalidDataException($"{sourceForErrors}: peft_type '{peftType}' is not supported; expected MISS, LORA or FULL_FINE_TUNING.");
        }
        if (json["target_modules"] is JsonArray targets) options.TargetModules = [.. targets.Select(t => t!.GetValue<string>())];
        else if (json["target_modules"] is JsonValue single) options.TargetModules = [single.GetValue<string>()];
        if (json["modules_to_save"] is JsonArray save) options.ModulesToSave = [.. save.Select(t => t!.GetValue<string>())];
        options.Bias = (json["bias"]?.GetValue<string>() ?? "none") switch
        {
            "none" => AdapterBias.None,
            "all" => AdapterBias.All,
            "MiSS_only" or "lora_only" or "bone_only" => AdapterBias.AdapterOnly,
            string other => throw new InvalidDataException($"{sourceForErrors}: bias '{other}' is not one of none, all, MiSS_only, lora_only."),
        };
        options.Validate();
        return options;
    }
}
