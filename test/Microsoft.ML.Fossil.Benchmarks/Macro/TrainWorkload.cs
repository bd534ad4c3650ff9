using System.Diagnostics;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.Fossil.Training;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Benchmarks.Macro;

/// <summary>What a training child process is asked to measure.</summary>
internal sealed class TrainSpec
{
    public string Model { get; set; } = "";
    public string Config { get; set; } = "";
    public int Batch { get; set; }
    public int Sequence { get; set; }
    public int WarmupSteps { get; set; }
    public int MeasuredSteps { get; set; }
    public int Round { get; set; }
    public int Seed { get; set; }
    public int AdapterInitSamples { get; set; } = 1;
    public string? RobertaFolder { get; set; }
}

/// <summary>
/// One training configuration, in its own process: the library's own training loop
/// (<see cref="TrainingLoop.Run"/>: padding, forward, loss, backward, clipping, AdamW) over rows of
/// exactly the sequence length, timed step by step through its progress callback.
/// </summary>
internal static class TrainWorkload
{
    public static TrainResult Run(TrainSpec spec)
    {
        var result = new TrainResult
        {
            Model = spec.Model, Config = spec.Config, Batch = spec.Batch, Sequence = spec.Sequence, Round = spec.Round, WarmupSteps = spec.WarmupSteps,
        };
        Native.TorchRuntime.EnsureLoaded();
        result.TorchThreads = get_num_threads();
        var clock = Stopwatch.StartNew();
        EncoderModel encoder;
        TextTokenizer tokenizer;
        if (spec.Model == BenchModels.MiniLm)
        {
            LoadedBackbone backbone = BenchModels.Source(spec.Model, null).Load();
            encoder = backbone.Encoder;
            tokenizer = backbone.CreateTokenizer(spec.Sequence);
        }
        else
        {
            // The trainer's BackboneSource.Load also hashes the weights; the training figures do not need that.
            encoder = HuggingFaceLoader.LoadEncoder(spec.RobertaFolder!);
            tokenizer = HuggingFaceTokenizers.FromFolder(spec.RobertaFolder!, spec.Sequence);
        }
        result.BackboneLoadSeconds = clock.Elapsed.TotalSeconds;

        manual_seed(spec.Seed);
        var network = new SequenceClassifier(encoder, 2, BenchModels.Head(spec.Model));
        int hidden = encoder.Config.HiddenSize;
        AdapterOptions? options = TrainConfigs.Options(spec.Config, hidden);
        if (options is null)
        {
            TrainConfigs.MakeFloor(network);
        }
        else
        {
            // First call: JIT and first-use costs, on a tiny model of the same family.
            using (SequenceClassifier tiny = BenchModels.Tiny(spec.Model))
            {
                long t = Stopwatch.GetTimestamp();
                AdapterInjector.Apply(tiny, options);
                result.AdapterInitColdMs = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
            long start = Stopwatch.GetTimestamp();
            AdapterReport applied = AdapterInjector.Apply(network, options);
            result.AdapterInitSamplesMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            result.AdaptedLayers = applied.AdaptedModules.Count;
            result.AdapterInitMs = result.AdapterInitSamplesMs[0];
        }
        AdapterReport report = AdapterInjector.Report(network);
        result.TrainableParameters = report.TrainableParameters;
        result.TotalParameters = report.TotalParameters;

        int steps = spec.WarmupSteps + spec.MeasuredSteps;
        List<TokenizedText> rows = BenchData.ExactLengthRows(tokenizer, spec.Batch * steps, spec.Sequence);
        var dataset = new TokenizedDataset(rows, [.. Enumerable.Range(0, rows.Count).Select(i => (float)(i % 2))]);
        var training = new TrainingOptions
        {
            Epochs = 1,
            BatchSize = spec.Batch,
            Seed = spec.Seed,
            LearningRate = FossilDefaults.LearningRateFor(spec.Config == TrainConfigs.Full ? AdapterKind.FullFineTuning : AdapterKind.Fossil),
        };

        ProcessStats.ReleaseFreedMemory();
        result.RssBeforeTrainingBytes = ProcessStats.Rss();
        ProcessStats.ResetPeak();
        long peakManaged = GC.GetTotalMemory(false);
        long last = Stopwatch.GetTimestamp();
        double lastCpu = ProcessStats.CpuMilliseconds();
        long lastAlloc = GC.GetAllocatedBytesForCurrentThread();
        int step = 0;
        TrainingLoop.Run(network, tokenizer, dataset, null, PredictionTask.Classification, training, progress =>
        {
            long now = Stopwatch.GetTimestamp();
            double cpu = ProcessStats.CpuMilliseconds();
            long alloc = GC.GetAllocatedBytesForCurrentThread();
            peakManaged = Math.Max(peakManaged, Math.Max(GC.GetTotalMemory(false), GC.GetGCMemoryInfo().HeapSizeBytes));
            if (++step > spec.WarmupSteps)
            {
                result.StepMs.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                result.StepCpuMs.Add(cpu - lastCpu);
                result.StepAllocatedBytes.Add(alloc - lastAlloc);
            }
            Console.Error.WriteLine($"[{spec.Model} {spec.Config} {spec.Batch}x{spec.Sequence}] step {step}/{steps}: " +
                                    $"{Stopwatch.GetElapsedTime(last, now).TotalMilliseconds:F0} ms{(step <= spec.WarmupSteps ? " (warm-up)" : "")}");
            // The callback's own work is left out of the next step.
            last = Stopwatch.GetTimestamp();
            lastCpu = ProcessStats.CpuMilliseconds();
            lastAlloc = GC.GetAllocatedBytesForCurrentThread();
        });
        result.PeakRssBytes = ProcessStats.PeakRss();
        result.PeakManagedHeapBytes = peakManaged;
        result.ManagedCommittedBytes = GC.GetGCMemoryInfo().TotalCommittedBytes;
        if (step != steps) throw new InvalidOperationException($"Expected {steps} steps, the loop ran {step}.");

        using (var scope = NewDisposeScope())
            result.TrainedTensorBytes = Models.CompactModelFormat.ToSafetensors(AdapterInjector.TrainableStateDict(network)).LongLength;
        network.Dispose();

        if (options is not null)
        {
            // More Apply samples, after the memory figures (the extra models would stay in the allocator's
            // free lists and inflate RSS): fresh encoders of the same configuration, random weights (Apply does not read them).
            for (int i = 1; i < spec.AdapterInitSamples; i++)
            {
                using var fresh = new SequenceClassifier(new EncoderModel(encoder.Config, addPoolingLayer: encoder.HasPooler), 2, BenchModels.Head(spec.Model));
                GC.Collect();
                long start = Stopwatch.GetTimestamp();
                AdapterInjector.Apply(fresh, options);
                result.AdapterInitSamplesMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            result.AdapterInitMs = Stats.Median(result.AdapterInitSamplesMs);
        }
        return result;
    }
}
