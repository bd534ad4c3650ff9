using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML.Fossil.Benchmarks.Macro;
using Microsoft.ML.Fossil.Benchmarks.Micro;
using Microsoft.ML.Fossil.Benchmarks.Report;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Benchmarks;

/// <summary>
/// The benchmark suite. One command runs everything (micro-benchmarks in this process, each macro
/// workload in a child process of this same program) and writes results.json, results.md and the
/// plots. See docs/benchmarks.md.
/// </summary>
public static class Program
{
    const string ChildFlag = "--child";
    const string ThreadsVariable = "FOSSIL_BENCH_THREADS";

    /// <summary>Entry point; see <see cref="RunSettings.Usage"/>.</summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == ChildFlag) return RunChild(args);
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(RunSettings.Usage);
            return 0;
        }
        RunSettings settings;
        bool reportOnly;
        try
        {
            (settings, reportOnly) = RunSettings.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        Directory.CreateDirectory(settings.OutputFolder);
        string resultsPath = Path.Combine(settings.OutputFolder, "results.json");
        if (reportOnly)
        {
            SuiteResults saved = JsonSerializer.Deserialize<SuiteResults>(File.ReadAllText(resultsPath), SuiteResults.Json)!;
            saved.Targets = Targets.Evaluate(saved);
            WriteOutputs(saved, settings);
            return 0;
        }

        var total = Stopwatch.StartNew();
        Native.TorchRuntime.EnsureLoaded();
        if (settings.Threads > 0) set_num_threads(settings.Threads);
        var results = new SuiteResults
        {
            Preset = settings.Preset,
            Command = "dotnet run -c Release --project test/Microsoft.ML.Fossil.Benchmarks --" + (args.Length == 0 ? "" : " " + string.Join(' ', args)),
            Started = DateTimeOffset.Now,
            Machine = Machine(),
            Settings = JsonSerializer.SerializeToElement(settings, SuiteResults.Json),
        };
        Console.Error.WriteLine($"[suite] {settings.Preset}: {results.Machine.Cpu}, {results.Machine.LogicalCores} cores, torch threads {results.Machine.TorchThreads}, " +
                                $"load average {results.Machine.LoadAverageAtStart:F2}; output {settings.OutputFolder}");

        if (settings.Micro)
        {
            try
            {
                results.Micro = MicroSuite.Run(settings);
            }
            catch (Exception e)
            {
                results.Errors.Add($"micro-benchmarks: {e}");
            }
            Console.Error.WriteLine($"[suite] micro-benchmarks done at {total.Elapsed.TotalSeconds:F0} s");
        }
        if (settings.Macro) RunMacro(settings, results, total);
        if (settings.Accuracy) RunAccuracy(settings, results, total);

        results.Machine.LoadAverageAtEnd = ProcessStats.LoadAverage();
        results.TotalSeconds = total.Elapsed.TotalSeconds;
        results.Targets = Targets.Evaluate(results);
        File.WriteAllText(resultsPath, JsonSerializer.Serialize(results, SuiteResults.Json));
        WriteOutputs(results, settings);
        Console.Error.WriteLine($"[suite] done in {total.Elapsed.TotalSeconds:F0} s: {resultsPath}");
        return results.Errors.Count == 0 ? 0 : 1;
    }

    static void WriteOutputs(SuiteResults results, RunSettings settings)
    {
        var plots = new List<string>();
        if (settings.Plots)
        {
            try
            {
                plots = Plots.Draw(results, settings.OutputFolder);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                results.Errors.Add($"plots: {e.Message}");
            }
        }
        string markdown = MarkdownReport.Render(results, plots);
        File.WriteAllText(Path.Combine(settings.OutputFolder, "results.md"), markdown);
        Console.WriteLine(markdown);
    }

    static MachineInfo Machine() => new()
    {
        Os = RuntimeInformation.OSDescription,
        Cpu = ProcessStats.CpuName(),
        LogicalCores = Environment.ProcessorCount,
        MemoryBytes = ProcessStats.TotalMemory(),
        Runtime = RuntimeInformation.FrameworkDescription,
        TorchSharp = typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0] ?? "?",
        LibTorch = __version__,
        TorchThreads = get_num_threads(),
        TorchInteropThreads = get_num_interop_threads(),
        LoadAverageAtStart = ProcessStats.LoadAverage(),
    };

    static void RunMacro(RunSettings settings, SuiteResults results, Stopwatch total)
    {
        if (settings.Onnx) RunOnnx(settings, results, total);
        if (!settings.ModelWorkloads) return;
        string? robertaFolder = null;
        if (settings.Models.Contains(BenchModels.RobertaBase))
        {
            try
            {
                robertaFolder = BenchModels.EnsureRobertaFolder(settings.Seed);
            }
            catch (Exception e)
            {
                results.Errors.Add($"roberta-base-shaped backbone: {e}");
            }
        }
        foreach (string model in settings.Models)
        {
            if (model == BenchModels.RobertaBase && robertaFolder is null) continue;
            foreach (int sequence in settings.SequenceLengths)
            {
                for (int round = 1; round <= settings.Rounds; round++)
                {
                    foreach (string config in settings.Configs)
                    {
                        // Each configuration's precisions back to back, so their ratio sees the same background load.
                        foreach (string precision in settings.Precisions)
                        {
                            var spec = new TrainSpec
                            {
                                Model = model, Config = config, Precision = precision, Batch = settings.Batch, Sequence = sequence,
                                WarmupSteps = settings.WarmupSteps, MeasuredSteps = settings.MeasuredSteps, Round = round, Seed = settings.Seed,
                                RobertaFolder = robertaFolder, AdapterInitSamples = round == 1 ? settings.AdapterInitSamples : 1,
                            };
                            TrainResult? train = RunChildProcess<TrainSpec, TrainResult>("train", spec, settings, out string? error);
                            train ??= new TrainResult { Model = model, Config = config, Precision = precision, Batch = settings.Batch, Sequence = sequence, Round = round };
                            if (error is not null)
                            {
                                train.Error = error;
                                results.Errors.Add($"train {model} {config} {precision} {settings.Batch}x{sequence}: {error}");
                            }
                            results.Training.Add(train);
                            Console.Error.WriteLine($"[suite] {model} {config} {precision} {settings.Batch}x{sequence} round {round}: " +
                                                    (error is null ? $"median {Stats.Median(train.StepMs):F0} ms/step, peak RSS {train.PeakRssBytes / 1048576.0:F0} MiB" : "FAILED") +
                                                    $" ({total.Elapsed.TotalSeconds:F0} s)");
                        }
                    }
                }
                if (settings.PytorchPeer && model == BenchModels.MiniLm) RunPeer(settings, results, sequence, total);
            }
            foreach (string probe in settings.MemoryProbes)
            {
                string[] parts = probe.Split(':');
                if (parts.Length != 3 || parts[0] != model) continue;
                foreach (string config in settings.MemoryProbeConfigs)
                {
                    foreach (string precision in settings.Precisions)
                    {
                        var spec = new TrainSpec
                        {
                            Model = model, Config = config, Precision = precision, Batch = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture),
                            Sequence = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), WarmupSteps = 0, MeasuredSteps = 1,
                            Round = 1, Seed = settings.Seed, RobertaFolder = robertaFolder, AdapterInitSamples = 1,
                        };
                        TrainResult? train = RunChildProcess<TrainSpec, TrainResult>("train", spec, settings, out string? error, MemoryProbeEnvironment);
                        train ??= new TrainResult { Model = model, Config = config, Precision = precision, Batch = spec.Batch, Sequence = spec.Sequence, Round = 1 };
                        train.MemoryProbe = true;
                        if (error is not null)
                        {
                            train.Error = error;
                            results.Errors.Add($"memory probe {model} {config} {precision} {spec.Batch}x{spec.Sequence}: {error}");
                        }
                        results.Training.Add(train);
                        Console.Error.WriteLine($"[suite] memory probe {model} {config} {precision} {spec.Batch}x{spec.Sequence}: " +
                                                (error is null ? $"peak RSS {train.PeakRssBytes / 1048576.0:F0} MiB" : "FAILED") + $" ({total.Elapsed.TotalSeconds:F0} s)");
                    }
                }
            }
            if (settings.ProfileRounds > 0)
            {
                var profileSpec = new ProfileSpec
                {
                    Model = model, Configs = [.. settings.ProfileConfigs], Precisions = [.. settings.Precisions], Batch = settings.Batch, Sequence = settings.SequenceLengths[0],
                    Rounds = settings.ProfileRounds, Seed = settings.Seed, RobertaFolder = robertaFolder,
                };
                ProfileResult? profile = RunChildProcess<ProfileSpec, ProfileResult>("profile", profileSpec, settings, out string? profileError);
                if (profileError is not null) results.Errors.Add($"profile {model}: {profileError}");
                if (profile is not null) results.Profile.Add(profile);
                Console.Error.WriteLine($"[suite] {model} step profile done ({total.Elapsed.TotalSeconds:F0} s)");
            }
            var inferenceSpec = new InferenceSpec
            {
                Model = model, RobertaFolder = robertaFolder, Seed = settings.Seed, LoadRepeats = settings.LoadRepeats,
                Batch = settings.InferenceBatch, Sequence = settings.InferenceSequence, Repeats = settings.InferenceRepeats, Rounds = settings.InferenceRounds,
                MlNetInference = settings.MlNetInferenceModels.Contains(model), MlNetRows = settings.MlNetRows,
                TransformBatchSizes = [.. settings.TransformBatchSizes], MlNetMaxSequenceLength = settings.MlNetMaxSequenceLength,
                Precisions = [.. settings.Precisions],
            };
            InferenceChildResult? inference = RunChildProcess<InferenceSpec, InferenceChildResult>("inference", inferenceSpec, settings, out string? inferenceError);
            if (inferenceError is not null) results.Errors.Add($"inference {model}: {inferenceError}");
            if (inference?.Loading is { } loading)
            {
                results.Loading.Add(loading);
                if (loading.Error is not null) results.Errors.Add($"loading {model}: {loading.Error}");
            }
            foreach (InferenceResult forward in inference?.Inference ?? [])
            {
                results.Inference.Add(forward);
                if (forward.Error is not null) results.Errors.Add($"forward {model} {forward.Precision}: {forward.Error}");
            }
            foreach (MlNetResult mlnet in inference?.MlNet ?? [])
            {
                results.MlNet.Add(mlnet);
                if (mlnet.Error is not null) results.Errors.Add($"ML.NET {model} {mlnet.Precision}: {mlnet.Error}");
            }
            Console.Error.WriteLine($"[suite] {model} inference workloads done ({total.Elapsed.TotalSeconds:F0} s)");
        }
    }

    /// <summary>Every accuracy task in every precision and seed, each training run in its own process; precisions back to back.</summary>
    static void RunAccuracy(RunSettings settings, SuiteResults results, Stopwatch total)
    {
        foreach (int seed in settings.AccuracySeeds)
            foreach (string task in settings.AccuracyTasks)
                foreach (string precision in settings.Precisions)
                {
                    var spec = new AccuracySpec { Task = task, Precision = precision, Seed = seed };
                    AccuracyResult? accuracy = RunChildProcess<AccuracySpec, AccuracyResult>("accuracy", spec, settings, out string? error);
                    accuracy ??= new AccuracyResult { Task = task, Precision = precision, Seed = seed };
                    if (error is not null)
                    {
                        accuracy.Error = error;
                        results.Errors.Add($"accuracy {task} {precision} seed {seed}: {error}");
                    }
                    results.Accuracy.Add(accuracy);
                    Console.Error.WriteLine($"[suite] accuracy {task} {precision} seed {seed}: " +
                                            (error is null ? $"{accuracy.PrimaryMetric} {accuracy.Primary:F2}, trained in {accuracy.TrainSeconds:F0} s" : "FAILED") +
                                            $" ({total.Elapsed.TotalSeconds:F0} s)");
                }
    }

    /// <summary>
    /// The PyTorch peer (pytorch_peer.py beside this program) at the training shape, right after our own steps at that
    /// shape: floor and FOSSIL, fp32 and bf16 autocast, the same warm-up, steps and thread count.
    /// </summary>
    static void RunPeer(RunSettings settings, SuiteResults results, int sequence, Stopwatch total)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "pytorch_peer.py");
        string output = Path.Combine(Directory.CreateTempSubdirectory("fossil-bench-peer-").FullName, "peer.json");
        var start = new ProcessStartInfo(settings.Python) { UseShellExecute = false };
        foreach (string a in new[]
                 {
                     script, "--batch", settings.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--seq", sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), "--configs", "floor,fossil",
                     "--precisions", string.Join(',', settings.Precisions), "--warmup", Math.Max(1, settings.WarmupSteps).ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--steps", settings.MeasuredSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     // Our thread count (libtorch's default, one per core, unless --threads): Debian's torch defaults to one.
                     "--threads", (settings.Threads > 0 ? settings.Threads : get_num_threads()).ToString(System.Globalization.CultureInfo.InvariantCulture), "--json", output,
                 })
            start.ArgumentList.Add(a);
        try
        {
            using Process child = Process.Start(start) ?? throw new InvalidOperationException($"{settings.Python} did not start.");
            if (!child.WaitForExit(settings.ChildTimeout))
            {
                child.Kill(entireProcessTree: true);
                throw new TimeoutException($"timed out after {settings.ChildTimeout.TotalMinutes:F0} min");
            }
            if (child.ExitCode != 0 || !File.Exists(output)) throw new InvalidOperationException($"{settings.Python} {script} exited with code {child.ExitCode}");
            List<PeerResult> peers = JsonSerializer.Deserialize<List<PeerResult>>(File.ReadAllText(output), SuiteResults.Json) ?? [];
            results.Peer.AddRange(peers);
            foreach (PeerResult p in peers)
                Console.Error.WriteLine($"[suite] PyTorch {p.Torch} {p.Config} {p.Precision} {p.Batch}x{p.Sequence}: median {Stats.Median(p.StepMs):F0} ms/step ({total.Elapsed.TotalSeconds:F0} s)");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            results.Errors.Add($"PyTorch peer {settings.Batch}x{sequence}: {e.Message}");
            results.Peer.Add(new PeerResult { Model = BenchModels.MiniLm, Batch = settings.Batch, Sequence = sequence, Error = e.Message });
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
        }
    }

    /// <summary>The ONNX Runtime comparison in a child process, then the serving app's published sizes (no torch needed).</summary>
    static void RunOnnx(RunSettings settings, SuiteResults results, Stopwatch total)
    {
        var spec = new OnnxSpec
        {
            Seed = settings.Seed, TrainRows = settings.OnnxTrainRows, Epochs = settings.OnnxEpochs, MaxSequenceLength = settings.OnnxMaxSequenceLength,
            EngineRowsPerTurn = settings.OnnxEngineRowsPerTurn, EngineTurns = settings.OnnxEngineTurns,
            TransformRows = settings.OnnxTransformRows, TransformRounds = settings.OnnxTransformRounds,
        };
        // Fitting MiniLM on a shared machine can take many minutes: the ONNX child gets at least half an hour.
        RunSettings childSettings = settings with { ChildTimeout = TimeSpan.FromTicks(Math.Max(settings.ChildTimeout.Ticks, TimeSpan.FromMinutes(30).Ticks)) };
        OnnxResult? onnx = RunChildProcess<OnnxSpec, OnnxResult>("onnx", spec, childSettings, out string? error);
        onnx ??= new OnnxResult();
        if (error is not null) onnx.Error = error;
        if (onnx.Error is not null) results.Errors.Add($"onnx: {onnx.Error}");
        if (settings.OnnxPublish)
        {
            OnnxWorkload.MeasurePublishedSizes(onnx);
            if (onnx.PublishError is not null) results.Errors.Add($"publish: {onnx.PublishError}");
        }
        results.Onnx = onnx;
        Console.Error.WriteLine($"[suite] ONNX Runtime comparison done ({total.Elapsed.TotalSeconds:F0} s)");
    }

    /// <summary>
    /// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
    /// tensors come from the heap and freed memory stays resident, so peak RSS depends on the order of
    /// allocations more than on what is alive: it varied by 300+ MiB between adapter configurations with
    /// the same activations. A fixed 128 KiB threshold maps every tensor of that size on its own and
    /// returns it when freed, so a probe's peak RSS follows the peak of live memory. Probes are not timed.
    /// </summary>
    static readonly Dictionary<string, string> MemoryProbeEnvironment = new() { ["MALLOC_MMAP_THRESHOLD_"] = "131072" };

    /// <summary>Runs this program again as "--child KIND SPEC RESULT" and reads its JSON result.</summary>
    static TResult? RunChildProcess<TSpec, TResult>(string kind, TSpec spec, RunSettings settings, out string? error,
        IReadOnlyDictionary<string, string>? environment = null) where TResult : class
    {
        error = null;
        string folder = Directory.CreateTempSubdirectory("fossil-bench-child-").FullName;
        try
        {
            string specPath = Path.Combine(folder, "spec.json"), resultPath = Path.Combine(folder, "result.json");
            File.WriteAllText(specPath, JsonSerializer.Serialize(spec, SuiteResults.Json));
            string self = Environment.ProcessPath ?? "dotnet";
            var start = new ProcessStartInfo(self) { UseShellExecute = false };
            if (settings.Threads > 0) start.Environment[ThreadsVariable] = settings.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
            if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(Program).Assembly.Location);
            foreach (string a in new[] { ChildFlag, kind, specPath, resultPath }) start.ArgumentList.Add(a);
            using Process child = Process.Start(start) ?? throw new InvalidOperationException("The child process did not start.");
            if (!child.WaitForExit(settings.ChildTimeout))
            {
                child.Kill(entireProcessTree: true);
                child.WaitForExit();
                error = $"timed out after {settings.ChildTimeout.TotalMinutes:F0} min";
                return null;
            }
            if (child.ExitCode != 0 || !File.Exists(resultPath))
            {
                error = $"child process exited with code {child.ExitCode}" +
                        (File.Exists(resultPath + ".error") ? ": " + File.ReadAllText(resultPath + ".error") : "");
                return null;
            }
            return JsonSerializer.Deserialize<TResult>(File.ReadAllText(resultPath), SuiteResults.Json);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static int RunChild(string[] args)
    {
        if (args.Length != 4)
        {
            Console.Error.WriteLine("usage: --child train|inference|profile|accuracy|onnx SPEC.json RESULT.json");
            return 2;
        }
        string kind = args[1], specPath = args[2], resultPath = args[3];
        try
        {
            Native.TorchRuntime.EnsureLoaded();
            if (int.TryParse(Environment.GetEnvironmentVariable(ThreadsVariable), out int threads) && threads > 0) set_num_threads(threads);
            string json = File.ReadAllText(specPath);
            object result = kind switch
            {
                "train" => TrainWorkload.Run(JsonSerializer.Deserialize<TrainSpec>(json, SuiteResults.Json)!),
                "inference" => InferenceWorkload.Run(JsonSerializer.Deserialize<InferenceSpec>(json, SuiteResults.Json)!),
                "profile" => ProfileWorkload.Run(JsonSerializer.Deserialize<ProfileSpec>(json, SuiteResults.Json)!),
                "accuracy" => AccuracyWorkload.Run(JsonSerializer.Deserialize<AccuracySpec>(json, SuiteResults.Json)!),
                "onnx" => OnnxWorkload.Run(JsonSerializer.Deserialize<OnnxSpec>(json, SuiteResults.Json)!),
                _ => throw new ArgumentException($"Unknown child workload '{kind}'."),
            };
            File.WriteAllText(resultPath, JsonSerializer.Serialize(result, result.GetType(), SuiteResults.Json));
            return 0;
        }
        catch (Exception e)
        {
            File.WriteAllText(resultPath + ".error", e.ToString());
            Console.Error.WriteLine(e);
            return 1;
        }
    }
}
