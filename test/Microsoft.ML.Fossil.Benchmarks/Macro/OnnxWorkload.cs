using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Benchmarks.Macro;

/// <summary>What the ONNX Runtime child process is asked to measure.</summary>
internal sealed class OnnxSpec
{
    public int Seed { get; set; }
    /// <summary>Fine-food reviews the MiniLM FOSSIL classifier is fitted on (the accuracy is measured on all 500 test reviews).</summary>
    public int TrainRows { get; set; }
    public int Epochs { get; set; }
    public int MaxSequenceLength { get; set; }
    /// <summary>Rows each engine predicts per turn of the PredictionEngine comparison.</summary>
    public int EngineRowsPerTurn { get; set; }
    /// <summary>Turns of the PredictionEngine comparison (the engines take turns, in rotating order).</summary>
    public int EngineTurns { get; set; }
    /// <summary>Rows each engine transforms per round of the Transform comparison.</summary>
    public int TransformRows { get; set; }
    public int TransformRounds { get; set; }
}

/// <summary>The TorchSharp model against its ONNX Runtime exports (fp32, int8): accuracy, agreement, rows/s, file sizes.</summary>
internal sealed class OnnxResult
{
    public string Model { get; set; } = "minilm";
    public int TrainRows { get; set; }
    public int TestRows { get; set; }
    public int MaxSequenceLength { get; set; }
    public double FitSeconds { get; set; }
    /// <summary>Seconds of ExportForOnnxRuntime, by engine (fp32, int8).</summary>
    public Dictionary<string, double> ExportSeconds { get; set; } = [];
    /// <summary>Accuracy on the test reviews, by engine.</summary>
    public Dictionary<string, double> Accuracy { get; set; } = [];
    /// <summary>Share of test reviews whose predicted label is the TorchSharp fp32 model's, by engine.</summary>
    public Dictionary<string, double> LabelAgreement { get; set; } = [];
    /// <summary>Largest |probability difference| to the TorchSharp fp32 model over the test reviews, by engine.</summary>
    public Dictionary<string, double> MaxScoreDifference { get; set; } = [];
    /// <summary>PredictionEngine ms per row, every row of every turn, by engine.</summary>
    public Dictionary<string, List<double>> EngineRowMs { get; set; } = [];
    /// <summary>PredictionEngine rows/s of each turn, by engine (the same turn index is the same period of machine load).</summary>
    public Dictionary<string, List<double>> EngineTurnRowsPerSecond { get; set; } = [];
    /// <summary>The network stage alone (IScoringNetwork.Run on one collated row), ms per row, every row of every turn, by engine.</summary>
    public Dictionary<string, List<double>> NetworkRowMs { get; set; } = [];
    /// <summary>Transform rows/s of each round, by engine.</summary>
    public Dictionary<string, List<double>> TransformRowsPerSecond { get; set; } = [];
    public int TransformBatchSize { get; set; }
    public double MeanTokensPerRow { get; set; }
    /// <summary>model.onnx and mlnet-model.zip bytes, by engine; the TorchSharp model zip (adapters and head only).</summary>
    public Dictionary<string, long> FileBytes { get; set; } = [];
    /// <summary>dotnet publish -r linux-x64 of the serving app (test/Microsoft.ML.Fossil.OnnxConsumer), bytes: "without libtorch", "with libtorch".</summary>
    public Dictionary<string, long> PublishedBytes { get; set; } = [];
    public string? PublishError { get; set; }
    public int OnnxRuntimeThreads { get; set; }
    public int TorchThreads { get; set; }
    public double LoadAverageAtStart { get; set; }
    public double LoadAverageAtEnd { get; set; }
    /// <summary>Engines not measured in this run, and why.</summary>
    public Dictionary<string, string> NotMeasured { get; set; } = [];
    public string? Error { get; set; }
}

/// <summary>
/// Issue 12's comparison, in one process so that every engine sees the same machine: a MiniLM FOSSIL classifier fitted
/// on the fine-food reviews and saved, loaded back as a user serves it (TorchSharp fp32, adapters merged), and exported
/// with ExportForOnnxRuntime (fp32 and int8) and loaded from the folders' mlnet-model.zip. Accuracy and agreement on the
/// 500 test reviews through Transform; then PredictionEngine and Transform rows/s with the engines taking turns, and the
/// network stage alone on the same rows (what the engines differ in; tokenizing and ML.NET's plumbing are shared).
/// </summary>
internal static class OnnxWorkload
{
    /// <summary>Idle time before each engine's turn, so that no engine runs while another's threads still spin.</summary>
    public const int IdleBeforeTurnMs = 30;

    public const string TorchFp32 = "torchsharp-fp32", TorchBf16 = "torchsharp-bf16", OnnxFp32 = "onnxruntime-fp32", OnnxInt8 = "onnxruntime-int8";

    public sealed class Review
    {
        public string Sentence { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public string PredictedText { get; set; } = "";
    }

    static void Log(string message) => Console.Error.WriteLine($"[onnx] {message}");

    public static OnnxResult Run(OnnxSpec spec)
    {
        var result = new OnnxResult { TrainRows = spec.TrainRows, MaxSequenceLength = spec.MaxSequenceLength, LoadAverageAtStart = ProcessStats.LoadAverage() };
        string folder = Directory.CreateTempSubdirectory("fossil-bench-onnx-").FullName;
        var engines = new Dictionary<string, ITransformer>();
        try
        {
            Measure(spec, result, folder, engines);
        }
        catch (Exception e)
        {
            result.Error = e.ToString();
        }
        finally
        {
            foreach (ITransformer model in engines.Values)
                foreach (IDisposable part in ((IEnumerable<ITransformer>)model).OfType<IDisposable>()) part.Dispose();
            Directory.Delete(folder, recursive: true);
        }
        result.LoadAverageAtEnd = ProcessStats.LoadAverage();
        return result;
    }

    static Review[] Reviews(string file, int take) =>
        [.. File.ReadLines(BenchData.DataFile(file)).Skip(1).Select(l => l.Split('\t')).Where(f => f[0].Length > 0)
            .Take(take).Select(f => new Review { Sentence = f[0], Label = f[1] })];

    static void Measure(OnnxSpec spec, OnnxResult result, string folder, Dictionary<string, ITransformer> engines)
    {
        var ml = new MLContext(seed: spec.Seed);
        Review[] train = Reviews("fine_foods_train.tsv", spec.TrainRows), test = Reviews("fine_foods_test.tsv", int.MaxValue);
        result.TrainRows = train.Length;
        result.TestRows = test.Length;
        IDataView trainData = ml.Data.LoadFromEnumerable(train), testData = ml.Data.LoadFromEnumerable(test);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence", Epochs = spec.Epochs, BatchSize = 16, MaxSequenceLength = spec.MaxSequenceLength,
                LearningRate = 2e-3, Seed = spec.Seed,
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"));
        Log($"fitting MiniLM FOSSIL on {train.Length} reviews ({spec.Epochs} epochs, {spec.MaxSequenceLength} tokens) ...");
        var clock = Stopwatch.StartNew();
        ITransformer fitted = pipeline.Fit(trainData);
        result.FitSeconds = clock.Elapsed.TotalSeconds;
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(fitted, trainData.Schema, zip);
        result.FileBytes["torchsharp model.zip"] = new FileInfo(zip).Length;

        foreach (var (engine, int8) in new[] { (OnnxFp32, false), (OnnxInt8, true) })
        {
            string export = Path.Combine(folder, engine);
            clock.Restart();
            ml.Model.ExportForOnnxRuntime(fitted, trainData.Schema, export, quantizeInt8: int8);
            result.ExportSeconds[engine] = clock.Elapsed.TotalSeconds;
            result.FileBytes[$"{engine} model.onnx"] = new FileInfo(Path.Combine(export, "model.onnx")).Length;
            result.FileBytes[$"{engine} mlnet-model.zip"] = new FileInfo(Path.Combine(export, "mlnet-model.zip")).Length;
            Log($"exported {engine} in {result.ExportSeconds[engine]:F1} s");
        }
        foreach (IDisposable part in ((IEnumerable<ITransformer>)fitted).OfType<IDisposable>()) part.Dispose();

        // Served as users serve them: each loaded with the standard Model.Load in a fresh context (TorchSharp: adapters merged).
        // The TorchSharp model twice: served in fp32 (the reference) and in bf16 (where the CPU runs it natively).
        engines[TorchFp32] = Served(zip, Precision.Float32);
        if (Microsoft.ML.Fossil.Native.PrecisionSupport.RunsBFloat16Natively(TorchSharp.torch.CPU))
            engines[TorchBf16] = Served(zip, Precision.BFloat16);
        else
            result.NotMeasured[TorchBf16] = "this CPU has no native bf16 (AVX512-BF16 or AMX)";
        engines[OnnxFp32] = new MLContext(seed: 1).Model.Load(Path.Combine(folder, OnnxFp32, "mlnet-model.zip"), out _);
        engines[OnnxInt8] = new MLContext(seed: 1).Model.Load(Path.Combine(folder, OnnxInt8, "mlnet-model.zip"), out _);
        result.TorchThreads = TorchSharp.torch.get_num_threads();
        result.OnnxRuntimeThreads = Environment.ProcessorCount;

        // Accuracy and agreement: Transform over all test reviews.
        string[] gold = [.. test.Select(r => r.Label)];
        var labels = new Dictionary<string, string[]>();
        var scores = new Dictionary<string, float[][]>();
        foreach (var (name, model) in engines)
        {
            IDataView scored = model.Transform(testData);
            labels[name] = [.. scored.GetColumn<ReadOnlyMemory<char>>("PredictedText").Select(v => v.ToString())];
            scores[name] = [.. scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray())];
            result.Accuracy[name] = labels[name].Zip(gold).Count(p => p.First == p.Second) / (double)gold.Length;
        }
        foreach (string name in engines.Keys)
        {
            result.LabelAgreement[name] = labels[name].Zip(labels[TorchFp32]).Count(p => p.First == p.Second) / (double)gold.Length;
            result.MaxScoreDifference[name] = scores[name].Zip(scores[TorchFp32]).Max(p => p.First.Zip(p.Second).Max(x => Math.Abs(x.First - x.Second)));
            Log($"{name}: accuracy {result.Accuracy[name]:P2}, labels as TorchSharp fp32 on {result.LabelAgreement[name]:P2}, max |dp| {result.MaxScoreDifference[name]:G3}");
        }

        // Speed: the engines take turns, turn by turn in rotating order, on the same rows (a shared machine's load changes
        // from second to second; taking turns gives each engine the same periods).
        var predictors = engines.ToDictionary(e => e.Key, e => ml.Model.CreatePredictionEngine<Review, Prediction>(e.Value, new PredictionEngineOptions { OwnsTransformer = false }));
        var networks = engines.ToDictionary(e => e.Key, e => ScorerOf(e.Value));
        TextTokenizer tokenizer = networks[TorchFp32].Tokenizer;
        Review[] rows = [.. test.Take(Math.Max(spec.EngineRowsPerTurn * spec.EngineTurns, spec.TransformRows))];
        TokenBatch[] single = [.. rows.Select(r => BatchCollator.Collate([tokenizer.Encode(r.Sentence)], tokenizer.PadTokenId))];
        result.MeanTokensPerRow = single.Average(b => b.SequenceLength);
        string[] names = [.. engines.Keys];
        foreach (string name in names)
        {
            result.EngineRowMs[name] = [];
            result.EngineTurnRowsPerSecond[name] = [];
            result.NetworkRowMs[name] = [];
            result.TransformRowsPerSecond[name] = [];
            for (int i = 0; i < 5; i++)
            {
                predictors[name].Predict(rows[i]);   // warm-up
                networks[name].Network.Run(single[i]);
            }
        }
        for (int turn = 0; turn < spec.EngineTurns; turn++)
        {
            Review[] turnRows = rows.Skip(turn * spec.EngineRowsPerTurn % rows.Length).Take(spec.EngineRowsPerTurn).ToArray();
            TokenBatch[] turnBatches = single.Skip(turn * spec.EngineRowsPerTurn % rows.Length).Take(spec.EngineRowsPerTurn).ToArray();
            for (int k = 0; k < names.Length; k++)
            {
                string name = names[(turn + k) % names.Length];
                // The engine before may leave its threads spinning for a moment (ONNX Runtime's pools and libtorch's
                // OpenMP team both spin after work); a process serving one model starts each request on idle cores.
                Thread.Sleep(IdleBeforeTurnMs);
                long start = Stopwatch.GetTimestamp();
                foreach (Review row in turnRows)
                {
                    long rowStart = Stopwatch.GetTimestamp();
                    predictors[name].Predict(row);
                    result.EngineRowMs[name].Add(Stopwatch.GetElapsedTime(rowStart).TotalMilliseconds);
                }
                result.EngineTurnRowsPerSecond[name].Add(turnRows.Length / Stopwatch.GetElapsedTime(start).TotalSeconds);
                Thread.Sleep(IdleBeforeTurnMs);
                foreach (TokenBatch batch in turnBatches)
                {
                    long rowStart = Stopwatch.GetTimestamp();
                    networks[name].Network.Run(batch);
                    result.NetworkRowMs[name].Add(Stopwatch.GetElapsedTime(rowStart).TotalMilliseconds);
                }
            }
            Log($"PredictionEngine turn {turn + 1}/{spec.EngineTurns}: " +
                string.Join(", ", names.Select(n => $"{n} {result.EngineTurnRowsPerSecond[n][^1]:F1} rows/s")) + $" (load {ProcessStats.LoadAverage():F1})");
        }

        IDataView transformData = ml.Data.LoadFromEnumerable(rows.Take(spec.TransformRows));
        result.TransformBatchSize = new FossilTextClassificationTrainer.Options().PredictionBatchSize;
        for (int round = 0; round < spec.TransformRounds; round++)
            for (int k = 0; k < names.Length; k++)
            {
                string name = names[(round + k) % names.Length];
                long start = Stopwatch.GetTimestamp();
                IDataView scored = engines[name].Transform(transformData);
                int count = scored.GetColumn<VBuffer<float>>("Score").Count();
                result.TransformRowsPerSecond[name].Add(count / Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        Log("Transform: " + string.Join(", ", names.Select(n => $"{n} {Stats.Median(result.TransformRowsPerSecond[n]):F1} rows/s")));
        foreach (var predictor in predictors.Values) predictor.Dispose();
    }

    static ITransformer Served(string zip, Precision precision)
    {
        var context = new MLContext(seed: 1);
        context.SetFossilSettings(new FossilSettings { ServingPrecision = precision });
        return context.Model.Load(zip, out _);
    }

    /// <summary>The tokenizer -> network -> scorer stages of the Fossil or ONNX Runtime transformer in a chain.</summary>
    static TextScorer ScorerOf(ITransformer chain)
    {
        foreach (ITransformer part in (IEnumerable<ITransformer>)chain)
        {
            if (part is FossilTextClassificationTransformer fossil) return fossil.Core.Scorer;
            if (part is FossilOnnxRuntimeTransformer onnx) return onnx.Core.Scorer;
        }
        throw new InvalidOperationException("The chain holds no Fossil or ONNX Runtime transformer.");
    }

    /// <summary>
    /// Publishes the serving app (test/Microsoft.ML.Fossil.OnnxConsumer) with <c>dotnet publish -r linux-x64</c>, as it is
    /// (ONNX Runtime, no libtorch) and with libtorch-cpu-linux-x64 added, and measures the folders. Needs the repository.
    /// </summary>
    public static void MeasurePublishedSizes(OnnxResult result)
    {
        try
        {
            string repo = RepositoryRoot() ?? throw new DirectoryNotFoundException("The repository (Microsoft.ML.Fossil.sln) is not above the benchmark's folder.");
            string project = Path.Combine(repo, "test", "Microsoft.ML.Fossil.OnnxConsumer", "Microsoft.ML.Fossil.OnnxConsumer.csproj");
            string output = Directory.CreateTempSubdirectory("fossil-bench-publish-").FullName;
            try
            {
                foreach (var (name, withTorch) in new[] { ("without libtorch", false), ("with libtorch", true) })
                {
                    string target = Path.Combine(output, withTorch ? "with" : "without");
                    var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                    // Its own artifacts folder (obj, bin of the app and the library): the repository's build outputs stay as they are.
                    foreach (string a in new[] { "publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-o", target,
                                 "--artifacts-path", Path.Combine(output, withTorch ? "artifacts-with" : "artifacts-without"),
                                 $"-p:FossilConsumerWithLibTorch={(withTorch ? "true" : "false")}", "-nologo" })
                        start.ArgumentList.Add(a);
                    Log($"dotnet publish -r linux-x64 ({name}) ...");
                    using Process publish = Process.Start(start)!;
                    Task<string> stdout = publish.StandardOutput.ReadToEndAsync(), stderr = publish.StandardError.ReadToEndAsync();
                    if (!publish.WaitForExit(TimeSpan.FromMinutes(15)))
                    {
                        publish.Kill(entireProcessTree: true);
                        throw new TimeoutException($"dotnet publish ({name}) took over 15 minutes");
                    }
                    if (publish.ExitCode != 0) throw new InvalidOperationException($"dotnet publish ({name}) failed:\n{stdout.Result}\n{stderr.Result}");
                    result.PublishedBytes[name] = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                    Log($"published {name}: {result.PublishedBytes[name] / 1e6:F1} MB");
                }
            }
            finally
            {
                Directory.Delete(output, recursive: true);
            }
        }
        catch (Exception e)
        {
            result.PublishError = e.Message;
        }
    }

    static string? RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Microsoft.ML.Fossil.sln"))) return d.FullName;
        return null;
    }

    /// <summary>Median of the per-turn ratios a / b: each ratio compares two engines within one turn.</summary>
    public static double PairedRatio(IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        Stats.Median(a.Zip(b).Select(p => p.First / p.Second));

    internal static string Format(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
}
