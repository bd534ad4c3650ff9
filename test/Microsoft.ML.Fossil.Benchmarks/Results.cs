using System.Text.Json;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Fossil.Benchmarks;

#pragma warning disable CA1002, CA2227 // plain JSON data holders

/// <summary>Everything one run measured: written to results.json, read back by --report-only.</summary>
internal sealed class SuiteResults
{
    public string Preset { get; set; } = "";
    public string Command { get; set; } = "";
    public DateTimeOffset Started { get; set; }
    public double TotalSeconds { get; set; }
    public MachineInfo Machine { get; set; } = new();
    public JsonElement? Settings { get; set; }
    public List<MicroResult> Micro { get; set; } = [];
    public List<TrainResult> Training { get; set; } = [];
    public List<LoadResult> Loading { get; set; } = [];
    public List<InferenceResult> Inference { get; set; } = [];
    public List<MlNetResult> MlNet { get; set; } = [];
    public List<Macro.ProfileResult> Profile { get; set; } = [];
    public List<AccuracyResult> Accuracy { get; set; } = [];
    public List<PeerResult> Peer { get; set; } = [];
    /// <summary>The ONNX Runtime comparison (issue 12).</summary>
    public Macro.OnnxResult? Onnx { get; set; }
    public List<TargetCheck> Targets { get; set; } = [];
    public List<string> Errors { get; set; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

internal sealed class MachineInfo
{
    public string Os { get; set; } = "";
    public string Cpu { get; set; } = "";
    public int LogicalCores { get; set; }
    public long MemoryBytes { get; set; }
    public string Runtime { get; set; } = "";
    public string TorchSharp { get; set; } = "";
    public string LibTorch { get; set; } = "";
    public int TorchThreads { get; set; }
    public int TorchInteropThreads { get; set; }
    public double LoadAverageAtStart { get; set; }
    public double LoadAverageAtEnd { get; set; }
}

/// <summary>One BenchmarkDotNet case: a layer kind at a shape, forward or forward+backward.</summary>
internal sealed class MicroResult
{
    public string Shape { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Method { get; set; } = "";
    public int Tokens { get; set; }
    /// <summary>fp32 or bf16: the layer's base weight and input (the adapter stays fp32).</summary>
    public string Precision { get; set; } = "fp32";
    public double MedianMs { get; set; }
    public double MeanMs { get; set; }
    public double StdErrMs { get; set; }
    public long? AllocatedBytesPerOp { get; set; }
    public long TrainableParameters { get; set; }
}

/// <summary>One training configuration measured in its own process.</summary>
internal sealed class TrainResult
{
    public string Model { get; set; } = "";
    public string Config { get; set; } = "";
    /// <summary>The backbone's precision: fp32 or bf16 (adapters, head, masters and loss are fp32 in both).</summary>
    public string Precision { get; set; } = "fp32";
    public int Batch { get; set; }
    public int Sequence { get; set; }
    public int Round { get; set; }
    public int TorchThreads { get; set; }
    public int AdaptedLayers { get; set; }
    public long TrainableParameters { get; set; }
    public long TotalParameters { get; set; }
    /// <summary>AdapterInjector.Apply on a model of the real size, after a warm-up Apply on a tiny model (JIT excluded): median of the samples.</summary>
    public double? AdapterInitMs { get; set; }
    /// <summary>Every Apply timed (the real model's first, then fresh encoders of the same configuration); <see cref="AdapterInitMs"/> is their median.</summary>
    public List<double> AdapterInitSamplesMs { get; set; } = [];
    /// <summary>The warm-up Apply on a tiny 2-layer model: what a first call pays (JIT included).</summary>
    public double? AdapterInitColdMs { get; set; }
    public double BackboneLoadSeconds { get; set; }
    public List<double> StepMs { get; set; } = [];
    public List<double> StepCpuMs { get; set; } = [];
    public List<long> StepAllocatedBytes { get; set; } = [];
    public int WarmupSteps { get; set; }
    public long RssBeforeTrainingBytes { get; set; }
    public long PeakRssBytes { get; set; }
    public long PeakManagedHeapBytes { get; set; }
    public long ManagedCommittedBytes { get; set; }
    /// <summary>Bytes of the trained tensors as the compact model stores them (trained.safetensors).</summary>
    public long TrainedTensorBytes { get; set; }
    /// <summary>A memory probe (one step at a larger size, for peak memory only; its step time is not a measurement).</summary>
    public bool MemoryProbe { get; set; }
    public string? Error { get; set; }
}

/// <summary>Backbone loading against a plain read of its weight file.</summary>
internal sealed class LoadResult
{
    public string Model { get; set; } = "";
    public string WeightFile { get; set; } = "";
    public long WeightFileBytes { get; set; }
    public List<double> PlainReadMs { get; set; } = [];
    public double LoadColdMs { get; set; }
    /// <summary>Loads with the weights hashed (the process's remembered hashes forgotten first): what a first load costs.</summary>
    public List<double> LoadMs { get; set; } = [];
    /// <summary>Loads of the unchanged file again, its hash remembered (each further Model.Load in a process).</summary>
    public List<double> RepeatLoadMs { get; set; } = [];
    /// <summary>File.ReadAllBytes then SHA-256 of those bytes on one core: reading plus verifying, with no tensors at all.</summary>
    public List<double> ReadAndHashMs { get; set; } = [];
    /// <summary>Parts of a load timed on their own (ms): reading the file into tensors, building the encoder from them, hashing.</summary>
    public Dictionary<string, double> BreakdownMs { get; set; } = [];
    public string? Error { get; set; }
}

/// <summary>Forward passes of the classifier under inference mode: bare backbone, FOSSIL unmerged, FOSSIL merged.</summary>
internal sealed class InferenceResult
{
    public string Model { get; set; } = "";
    /// <summary>The backbone's precision (merged in fp32, then cast).</summary>
    public string Precision { get; set; } = "fp32";
    public int Batch { get; set; }
    public int Sequence { get; set; }
    public List<double> BareMs { get; set; } = [];
    public List<double> UnmergedMs { get; set; } = [];
    public List<double> MergedMs { get; set; } = [];
    /// <summary>
    /// The adapted network with its adapters switched off (base layers only): bare compute on the
    /// same copy of the weights as merged/unmerged, to separate the adapters' cost from where a copy lies in memory.
    /// </summary>
    public List<double> AdaptersOffMs { get; set; } = [];
    /// <summary>Time to merge all adapters into the weights (AdapterInjector.MergeAll).</summary>
    public double MergeMs { get; set; }
    /// <summary>
    /// Batching headroom: bare forward of <see cref="HeadroomRows"/> rows of <see cref="HeadroomSequence"/> tokens
    /// (no padding) one row per call vs all in one call, ms per row, interleaved rounds. Their ratio is
    /// the most any batching (Transform's included) can gain over one row at a time on this machine.
    /// </summary>
    public List<double> OneRowPerCallMsPerRow { get; set; } = [];
    public List<double> AllRowsInOneCallMsPerRow { get; set; } = [];
    public int HeadroomRows { get; set; }
    public int HeadroomSequence { get; set; }
    public int AdaptedLayers { get; set; }
    public string? Error { get; set; }
}

/// <summary>The ML.NET surface: zip size, batched Transform and a PredictionEngine loop on real reviews.</summary>
internal sealed class MlNetResult
{
    public string Model { get; set; } = "";
    /// <summary>The serving precision the model was loaded in (FossilSettings.ServingPrecision).</summary>
    public string Precision { get; set; } = "fp32";
    public long ZipBytes { get; set; }
    public long BackboneWeightBytes { get; set; }
    public int Rows { get; set; }
    public int MaxSequenceLength { get; set; }
    public double MeanTokensPerRow { get; set; }
    /// <summary>Merged model (the default on load): rows/s of Transform by batch size.</summary>
    public Dictionary<string, double> TransformRowsPerSecond { get; set; } = [];
    /// <summary>
    /// Share of the tokens in Transform's forward passes that are padding, by batch size: Transform
    /// takes the rows in input order, a batch at a time, and pads each batch to its longest row.
    /// </summary>
    public Dictionary<string, double> TransformPaddingShare { get; set; } = [];
    /// <summary>Unmerged model, Transform at the model's default batch size.</summary>
    public double? UnmergedTransformRowsPerSecond { get; set; }
    public int DefaultBatchSize { get; set; }
    public double? PredictionEngineRowsPerSecond { get; set; }
    public double? UnmergedPredictionEngineRowsPerSecond { get; set; }
    public double? LatencyP50Ms { get; set; }
    public double? LatencyP99Ms { get; set; }
    public double? LatencyMeanMs { get; set; }
    public string? Error { get; set; }
}

/// <summary>A model trained through the public API on a bundled task, in one precision, evaluated on held-out rows.</summary>
internal sealed class AccuracyResult
{
    /// <summary>sst2-shape (reviews), mrpc-shape (review pairs, same label?), stsb-shape (review pairs, positivity regression).</summary>
    public string Task { get; set; } = "";
    public string Precision { get; set; } = "fp32";
    public int Seed { get; set; }
    public int TrainRows { get; set; }
    public int TestRows { get; set; }
    public int Epochs { get; set; }
    public int MaxLength { get; set; }
    public int BatchSize { get; set; }
    public double LearningRate { get; set; }
    /// <summary>accuracy (classification) or pearson (regression), in points (x 100).</summary>
    public string PrimaryMetric { get; set; } = "";
    public double Primary { get; set; }
    public Dictionary<string, double> Metrics { get; set; } = [];
    public List<double> EpochLosses { get; set; } = [];
    public double TrainSeconds { get; set; }
    public string? Error { get; set; }
}

/// <summary>The PyTorch peer (pytorch_peer.py): one configuration's training steps in plain PyTorch, measured in the same run.</summary>
internal sealed class PeerResult
{
    public string Model { get; set; } = "";
    /// <summary>floor or fossil (MiSS r=64 on query/value, written out as PEFT's MissLinear).</summary>
    public string Config { get; set; } = "";
    /// <summary>fp32, or bf16 (autocast, as run_glue --bf16 on a CPU).</summary>
    public string Precision { get; set; } = "";
    public int Batch { get; set; }
    public int Sequence { get; set; }
    public List<double> StepMs { get; set; } = [];
    public string Torch { get; set; } = "";
    public int Threads { get; set; }
    public string? Error { get; set; }
}

/// <summary>One target of the issue, evaluated on this run's numbers.</summary>
internal sealed class TargetCheck
{
    public string Target { get; set; } = "";
    public string Scope { get; set; } = "";
    public string Measured { get; set; } = "";
    public double? Ratio { get; set; }
    public double? Limit { get; set; }
    /// <summary>"pass", "miss" or "n/a".</summary>
    public string Status { get; set; } = "n/a";
}
