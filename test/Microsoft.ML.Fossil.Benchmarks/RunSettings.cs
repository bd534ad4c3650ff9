using System.Globalization;

namespace Microsoft.ML.Fossil.Benchmarks;

/// <summary>What one run of the suite measures, and how hard. <see cref="Full"/> is the issue's specification; <see cref="Quick"/> a smoke run.</summary>
internal sealed record RunSettings
{
    /// <summary>Preset name: "full" or "quick".</summary>
    public string Preset { get; init; } = "full";
    /// <summary>Where results.json, results.md, the plots and BenchmarkDotNet's artifacts go.</summary>
    public string OutputFolder { get; init; } = Path.GetFullPath(Path.Combine("artifacts", "benchmarks"));
    /// <summary>Run the BenchmarkDotNet layer benchmarks.</summary>
    public bool Micro { get; init; } = true;
    /// <summary>Run the macro workloads (training steps, loading, inference).</summary>
    public bool Macro { get; init; } = true;
    /// <summary>Run the per-model macro workloads (training steps, loading, inference); false with --onnx-only.</summary>
    public bool ModelWorkloads { get; init; } = true;

    /// <summary>Run the ONNX Runtime comparison (issue 12): TorchSharp fp32 against its ONNX Runtime fp32 / int8 exports.</summary>
    public bool Onnx { get; init; } = true;
    /// <summary>Publish the serving app with and without libtorch (dotnet publish -r linux-x64) and measure it.</summary>
    public bool OnnxPublish { get; init; } = true;
    /// <summary>Reviews the ONNX comparison's MiniLM FOSSIL classifier is fitted on.</summary>
    public int OnnxTrainRows { get; init; } = 800;
    /// <summary>Epochs of that fit.</summary>
    public int OnnxEpochs { get; init; } = 3;
    /// <summary>Its maximum sequence length (reviews are truncated to it).</summary>
    public int OnnxMaxSequenceLength { get; init; } = 64;
    /// <summary>Rows each engine predicts per turn of the PredictionEngine comparison.</summary>
    public int OnnxEngineRowsPerTurn { get; init; } = 16;
    /// <summary>Turns of the PredictionEngine comparison.</summary>
    public int OnnxEngineTurns { get; init; } = 16;
    /// <summary>Rows transformed per round of the Transform comparison.</summary>
    public int OnnxTransformRows { get; init; } = 256;
    /// <summary>Rounds of the Transform comparison.</summary>
    public int OnnxTransformRounds { get; init; } = 3;

    /// <summary>Rows per layer-benchmark input (batch x sequence flattened).</summary>
    public int MicroTokens { get; init; } = 32 * 128;

    /// <summary>Backbones: "minilm" (the real all-MiniLM-L6-v2) and "roberta-base" (roberta-base's shape, random weights).</summary>
    public IReadOnlyList<string> Models { get; init; } = ["minilm", "roberta-base"];
    /// <summary>Training configurations (see <see cref="Benchmarks.Macro.TrainConfigs"/>).</summary>
    public IReadOnlyList<string> Configs { get; init; } = Benchmarks.Macro.TrainConfigs.All;
    /// <summary>Training batch size.</summary>
    public int Batch { get; init; } = 32;
    /// <summary>Training sequence lengths (every row has exactly this many tokens: no padding).</summary>
    public IReadOnlyList<int> SequenceLengths { get; init; } = [128, 64];
    /// <summary>Training steps run and thrown away before measuring.</summary>
    public int WarmupSteps { get; init; } = 2;
    /// <summary>Training steps measured (the median is reported).</summary>
    public int MeasuredSteps { get; init; } = 5;
    /// <summary>
    /// Each (model, sequence length) sweep over the configurations is run this many times, interleaved
    /// (config 1..n, then again), and each configuration reports the median of all its measured steps:
    /// on a shared machine this spreads slow periods over all configurations.
    /// </summary>
    public int Rounds { get; init; } = 1;

    /// <summary>
    /// Rounds of the in-process profile (every configuration on its own backbone copy, one step each per
    /// round, split into phases) at the first sequence length; 0 turns it off.
    /// </summary>
    public int ProfileRounds { get; init; } = 5;

    /// <summary>Configurations in the profile (each needs its own copy of the backbone in memory).</summary>
    public IReadOnlyList<string> ProfileConfigs { get; init; } = Benchmarks.Macro.TrainConfigs.All;

    /// <summary>Batch of the model-level inference comparison (bare / unmerged / merged).</summary>
    public int InferenceBatch { get; init; } = 32;
    /// <summary>Sequence length of the model-level inference comparison.</summary>
    public int InferenceSequence { get; init; } = 128;
    /// <summary>Forward passes per variant per round in the model-level comparison.</summary>
    public int InferenceRepeats { get; init; } = 5;
    /// <summary>Interleaved rounds of the model-level comparison.</summary>
    public int InferenceRounds { get; init; } = 3;

    /// <summary>Review rows scored by Transform and by the PredictionEngine loop.</summary>
    public int MlNetRows { get; init; } = 256;
    /// <summary>Transform batch sizes swept.</summary>
    public IReadOnlyList<int> TransformBatchSizes { get; init; } = [1, 8, 32, 64];
    /// <summary>Models whose ML.NET inference (Transform sweep, PredictionEngine loop) is measured; every model gets its zip size.</summary>
    public IReadOnlyList<string> MlNetInferenceModels { get; init; } = ["minilm", "roberta-base"];
    /// <summary>Maximum sequence length of the ML.NET models (reviews are truncated to it).</summary>
    public int MlNetMaxSequenceLength { get; init; } = 128;

    /// <summary>AdapterInjector.Apply calls timed per adapter configuration (each on its own model).</summary>
    public int AdapterInitSamples { get; init; } = 5;

    /// <summary>Backbone loads timed (after one untimed load).</summary>
    public int LoadRepeats { get; init; } = 3;

    /// <summary>torch intra-op threads in every workload; 0 keeps libtorch's default (one per core).</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Peak-memory probes: one training step per configuration of <see cref="MemoryProbeConfigs"/> at a
    /// larger size, for models whose steps are otherwise measured only at small sizes (the quick run).
    /// Each entry is "model:batch:sequence".
    /// </summary>
    public IReadOnlyList<string> MemoryProbes { get; init; } = [];
    /// <summary>Configurations of the memory probes.</summary>
    public IReadOnlyList<string> MemoryProbeConfigs { get; init; } =
        [Benchmarks.Macro.TrainConfigs.Floor, Benchmarks.Macro.TrainConfigs.Fossil, Benchmarks.Macro.TrainConfigs.Lora,
         Benchmarks.Macro.TrainConfigs.LoraMatched, Benchmarks.Macro.TrainConfigs.Full];

    /// <summary>
    /// Backbone precisions every training configuration, the profile, the inference comparison and the ML.NET serving
    /// run in: fp32 and bf16 (adapters, head, masters and loss stay fp32). fp16 needs a CUDA GPU.
    /// </summary>
    public IReadOnlyList<string> Precisions { get; init; } = ["fp32", "bf16"];

    /// <summary>Run the accuracy workload: MiniLM FOSSIL trained through the public API on the bundled tasks, per precision.</summary>
    public bool Accuracy { get; init; }
    /// <summary>Seeds of the accuracy runs (each task x precision x seed is one training run).</summary>
    public IReadOnlyList<int> AccuracySeeds { get; init; } = [1];
    /// <summary>Accuracy tasks: sst2-shape, mrpc-shape, stsb-shape (see <see cref="Benchmarks.Macro.AccuracyWorkload"/>).</summary>
    public IReadOnlyList<string> AccuracyTasks { get; init; } = Benchmarks.Macro.AccuracyWorkload.Tasks;

    /// <summary>Run the PyTorch peer (pytorch_peer.py, plain PyTorch with bf16 autocast) at the training shapes, back to back with ours.</summary>
    public bool PytorchPeer { get; init; }
    /// <summary>The Python interpreter with torch (Debian: apt-get install python3-torch).</summary>
    public string Python { get; init; } = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>Seed of every random weight, shard and shuffle.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Per child process.</summary>
    public TimeSpan ChildTimeout { get; init; } = TimeSpan.FromMinutes(30);
    /// <summary>Draw the PNG plots.</summary>
    public bool Plots { get; init; } = true;

    public static RunSettings Full() => new();

    /// <summary>
    /// The smoke run: every workload and figure, at small sizes (training batch 2 x 32 tokens, 3 measured
    /// steps; inference 2 x 32), ML.NET inference on MiniLM only (roberta-base gets its zip size).
    /// Under 3 minutes on 2 idle cores.
    /// </summary>
    public static RunSettings Quick() => new()
    {
        Preset = "quick",
        MicroTokens = 256,
        Batch = 2,
        SequenceLengths = [32],
        WarmupSteps = 1,
        MeasuredSteps = 3,
        ProfileRounds = 7,
        // 8 x 128 on roberta-base keeps the run under 3 minutes and is already past the size (about 450
        // tokens) where activations, not optimizer state, decide the comparison.
        MemoryProbes = ["minilm:32:128", "roberta-base:8:128"],
        ProfileConfigs = [Benchmarks.Macro.TrainConfigs.Floor, Benchmarks.Macro.TrainConfigs.Fossil, Benchmarks.Macro.TrainConfigs.Lora, Benchmarks.Macro.TrainConfigs.Full],
        InferenceBatch = 2,
        InferenceSequence = 32,
        InferenceRepeats = 3,
        InferenceRounds = 2,
        MlNetRows = 48,
        TransformBatchSizes = [1, 8, 64],
        MlNetInferenceModels = ["minilm"],
        MlNetMaxSequenceLength = 64,
        LoadRepeats = 2,
        AdapterInitSamples = 3,
        OnnxTrainRows = 160,
        OnnxEpochs = 1,
        OnnxEngineRowsPerTurn = 8,
        OnnxEngineTurns = 4,
        OnnxTransformRows = 64,
        OnnxTransformRounds = 2,
        ChildTimeout = TimeSpan.FromMinutes(5),
    };

    public const string Usage = """
        Microsoft.ML.Fossil.Benchmarks: the benchmark suite (docs/benchmarks.md).

          dotnet run -c Release --project test/Microsoft.ML.Fossil.Benchmarks -- [options]

        Options:
          --quick                 small sizes, every workload (about 3 minutes on 2 idle cores)
          --out DIR               output folder (default ./artifacts/benchmarks, ignored by git)
          --micro-only            only the BenchmarkDotNet layer benchmarks
          --macro-only            only the macro workloads
          --onnx-only             only the ONNX Runtime comparison (and the serving app's published size)
          --no-onnx               skip the ONNX Runtime comparison
          --no-publish            skip publishing the serving app (dotnet publish -r linux-x64)
          --onnx-turns N          turns of the ONNX Runtime PredictionEngine comparison
          --models a,b            minilm, roberta-base
          --configs a,b           floor, fossil, fossil-mini, fossil-bat, lora, lora-matched, full
          --batch N               training batch size
          --seq N,M               training sequence lengths
          --warmup N              warm-up steps per configuration
          --steps N               measured steps per configuration
          --rounds N              interleaved repetitions of each configuration sweep
          --profile-rounds N      rounds of the in-process step profile (0: off)
          --micro-tokens N        rows of the layer-benchmark input
          --mlnet-rows N          rows scored by Transform / PredictionEngine
          --mlnet-models a,b      models whose ML.NET inference is measured
          --threads N             torch intra-op threads (default: libtorch's, one per core)
          --profile-configs a,b   configurations in the step profile
          --inference B,T         batch and sequence length of the bare / unmerged / merged comparison
          --memory-probes m:B:T,.. one step per configuration at that size, for peak memory only ("none": off)
          --precisions a,b        backbone precisions: fp32, bf16 (default both; every workload runs in each)
          --accuracy              also train MiniLM FOSSIL on the bundled tasks in each precision and compare accuracy
          --accuracy-only         only the accuracy workload
          --accuracy-seeds a,b    seeds of the accuracy runs (default 1)
          --accuracy-tasks a,b    sst2-shape, mrpc-shape, stsb-shape
          --pytorch-peer          also time plain PyTorch (pytorch_peer.py, bf16 autocast) at the training shapes
          --python PATH           the interpreter for --pytorch-peer (default /usr/bin/python3, Debian's, where python3-torch installs)
          --no-plots              skip the PNG plots
          --report-only           rebuild results.md and the plots from DIR/results.json
        """;

    /// <summary>Parses the command line (after the preset, later options override it).</summary>
    public static (RunSettings Settings, bool ReportOnly) Parse(string[] args)
    {
        RunSettings s = args.Contains("--quick") ? Quick() : Full();
        bool reportOnly = false;
        static int Int(string v) => int.Parse(v, CultureInfo.InvariantCulture);
        static string[] List(string v) => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value.");
            s = a switch
            {
                "--quick" => s,
                "--out" => s with { OutputFolder = Path.GetFullPath(Next()) },
                "--micro-only" => s with { Macro = false },
                "--macro-only" => s with { Micro = false },
                "--onnx-only" => s with { Micro = false, ModelWorkloads = false, Onnx = true },
                "--no-onnx" => s with { Onnx = false },
                "--no-publish" => s with { OnnxPublish = false },
                "--onnx-turns" => s with { OnnxEngineTurns = Int(Next()) },
                "--models" => s with { Models = List(Next()), MlNetInferenceModels = s.MlNetInferenceModels },
                "--configs" => s with { Configs = List(Next()), ProfileConfigs = List(args[i]) },
                "--batch" => s with { Batch = Int(Next()) },
                "--seq" => s with { SequenceLengths = [.. List(Next()).Select(Int)] },
                "--warmup" => s with { WarmupSteps = Int(Next()) },
                "--steps" => s with { MeasuredSteps = Int(Next()) },
                "--rounds" => s with { Rounds = Int(Next()) },
                "--profile-rounds" => s with { ProfileRounds = Int(Next()) },
                "--micro-tokens" => s with { MicroTokens = Int(Next()) },
                "--mlnet-rows" => s with { MlNetRows = Int(Next()) },
                "--mlnet-models" => s with { MlNetInferenceModels = List(Next()) },
                "--threads" => s with { Threads = Int(Next()) },
                "--profile-configs" => s with { ProfileConfigs = List(Next()) },
                "--inference" => List(Next()) is [var b, var t] ? s with { InferenceBatch = Int(b), InferenceSequence = Int(t) }
                                                                : throw new ArgumentException("--inference needs B,T."),
                "--no-plots" => s with { Plots = false },
                "--memory-probes" => s with { MemoryProbes = List(Next()).Where(p => p != "none").ToList() },
                "--precisions" => s with { Precisions = List(Next()) },
                "--accuracy" => s with { Accuracy = true },
                "--accuracy-only" => s with { Accuracy = true, Micro = false, Macro = false },
                "--accuracy-seeds" => s with { AccuracySeeds = [.. List(Next()).Select(Int)] },
                "--accuracy-tasks" => s with { AccuracyTasks = List(Next()) },
                "--pytorch-peer" => s with { PytorchPeer = true },
                "--python" => s with { Python = Next() },
                "--report-only" => s,
                _ => throw new ArgumentException($"Unknown option '{a}'.\n\n{Usage}"),
            };
            if (a == "--report-only") reportOnly = true;
        }
        foreach (string m in s.Models)
            if (m is not ("minilm" or "roberta-base")) throw new ArgumentException($"Unknown model '{m}' (minilm, roberta-base).");
        foreach (string c in s.Configs.Concat(s.ProfileConfigs))
            if (!Benchmarks.Macro.TrainConfigs.All.Contains(c)) throw new ArgumentException($"Unknown configuration '{c}' ({string.Join(", ", Benchmarks.Macro.TrainConfigs.All)}).");
        foreach (string p in s.Precisions)
            if (p is not ("fp32" or "bf16")) throw new ArgumentException($"Unknown precision '{p}' (fp32, bf16; fp16 needs a CUDA GPU).");
        foreach (string t in s.AccuracyTasks)
            if (!Benchmarks.Macro.AccuracyWorkload.Tasks.Contains(t)) throw new ArgumentException($"Unknown accuracy task '{t}' ({string.Join(", ", Benchmarks.Macro.AccuracyWorkload.Tasks)}).");
        if (s.Threads < 0) throw new ArgumentException("--threads must be 0 (default) or positive.");
        if (s.Batch <= 0 || s.MeasuredSteps <= 0 || s.WarmupSteps < 0 || s.Rounds <= 0 || s.MicroTokens <= 0)
            throw new ArgumentException("Batch, steps, rounds and micro tokens must be positive (warm-up may be 0).");
        return (s, reportOnly);
    }
}
