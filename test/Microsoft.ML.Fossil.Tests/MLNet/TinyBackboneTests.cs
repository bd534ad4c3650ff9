using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Tests.MLNetInternals;
using Microsoft.ML.Fossil.Training;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>Behaviour of the ML.NET surface on a tiny RoBERTa with the real roberta-base tokenizer.</summary>
public sealed class TinyBackboneTests(ITestOutputHelper output) : IDisposable
{
    readonly TinyBackbone backbone = new();
    readonly string work = Directory.CreateTempSubdirectory("fossil-tinytests-").FullName;

    public void Dispose()
    {
        backbone.Dispose();
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
    }

    FossilTextClassificationTrainer.Options PairOptions(BackboneSource? source = null, int epochs = 2) => new()
    {
        Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
        Backbone = source ?? BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = epochs, BatchSize = 16,
        MaxSequenceLength = 48, Rank = 8, LearningRate = 1e-3,
    };

    IEstimator<ITransformer> PairPipeline(MLContext ml, FossilTextClassificationTrainer.Options options) =>
        ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"));

    static FossilTextClassificationTransformer FossilOf(ITransformer model) =>
        ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();

    /// <summary>ML.NET's Model.Load wraps a loader's exception (TargetInvocationException): find the real one.</summary>
    static T Inner<T>(Exception e) where T : Exception
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
            if (current is T found) return found;
        throw new Xunit.Sdk.XunitException($"expected a {typeof(T).Name} inside {e}");
    }

    static int[] Bits(IEnumerable<float[]> scores) => [.. scores.SelectMany(s => s).Select(BitConverter.SingleToInt32Bits)];

    /// <summary>A context whose loads keep adapters separate: the trained model's own arithmetic, for bit-for-bit comparisons.</summary>
    static MLContext Unmerged(FossilSettings? settings = null)
    {
        var context = new MLContext(seed: 1);
        settings ??= new FossilSettings();
        settings.MergeAdaptersOnLoad = false;
        context.SetFossilSettings(settings);
        return context;
    }

    [Fact]
    public void Sentence_pair_classification_fits_and_round_trips_in_this_and_a_fresh_process()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 64);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 40);
        ITransformer model = PairPipeline(ml, PairOptions()).Fit(train);
        float[][] expected = [.. model.Transform(test).GetColumn<float[]>("Score")];
        Assert.All(expected, s => Assert.Equal(1f, s.Sum(), 4));

        string path = Path.Combine(work, "pairs.zip");
        ml.Model.Save(model, train.Schema, path);
        float[][] loaded = [.. Unmerged().Model.Load(path, out _).Transform(test).GetColumn<float[]>("Score")];
        Assert.Equal(Bits(expected), Bits(loaded));

        // Fresh process: the runner reads sentence1, sentence2, same_label, positivity as the saved input schema says.
        string input = Path.Combine(work, "pairs.tsv");
        string[] lines = File.ReadAllLines(FineFoods.PathOf("fine_foods_pairs_test.tsv")).Skip(1).Take(40).ToArray();
        File.WriteAllText(input, string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        string result = Path.Combine(work, "pairs.json");
        (int exit, string log) = FreshProcessTests.RunRunner(new Dictionary<string, string> { [FossilSettings.MergeVariable] = "0" },
            "transform", path, input, result);
        Assert.True(exit == 0, log);
        using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(result));
        float[][] fresh = [.. json.RootElement.GetProperty("rows").EnumerateArray()
            .Select(r => r.GetProperty("Score").EnumerateArray().Select(v => float.Parse(v.GetString()!, CultureInfo.InvariantCulture)).ToArray())];
        Assert.Equal(Bits(expected), Bits(fresh));
    }

    [Fact]
    public void Similarity_regression_fits_evaluates_and_round_trips()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 64);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 40);
        var trainer = ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "Positivity",
            Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 4, BatchSize = 16, MaxSequenceLength = 48, Rank = 8, LearningRate = 5e-2,
        });
        using FossilSentenceSimilarityTransformer model = trainer.Fit(train);
        IDataView scored = model.Transform(test);
        Assert.Equal(NumberDataViewType.Single, scored.Schema["Score"].Type);
        RegressionMetrics metrics = ml.Regression.Evaluate(scored, labelColumnName: "Positivity");
        output.WriteLine($"tiny regression: MSE {metrics.MeanSquaredError:F3}, R^2 {metrics.RSquared:F3}");
        Assert.True(double.IsFinite(metrics.MeanSquaredError));
        float[] expected = [.. scored.GetColumn<float>("Score")];
        // It learned: the training loss fell, and it beats predicting 0 (the untrained head's output) on held-out pairs.
        var epochs = model.TrainingSummary!["epochs"]!.AsArray();
        Assert.True(epochs[^1]!["train_loss"]!.GetValue<double>() < epochs[0]!["train_loss"]!.GetValue<double>());
        float[] labels = [.. test.GetColumn<float>("Positivity")];
        Assert.True(metrics.MeanSquaredError < labels.Average(l => l * l), $"MSE {metrics.MeanSquaredError} vs {labels.Average(l => l * l)} for predicting 0");

        string path = Path.Combine(work, "similarity.zip");
        ml.Model.Save(model, train.Schema, path);
        float[] loaded = [.. Unmerged().Model.Load(path, out _).Transform(test).GetColumn<float>("Score")];
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), loaded.Select(BitConverter.SingleToInt32Bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.FossilSentenceSimilarity(
            new FossilSentenceSimilarityTrainer.Options { Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel" }).Fit(train));
    }

    [Fact]
    public void A_moved_or_changed_backbone_is_found_by_hash_or_refused_and_an_embedded_one_travels_with_the_model()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        string original = backbone.CopyTo(Path.Combine(work, "original"));
        var options = PairOptions(BackboneSource.HuggingFaceFolder(original), epochs: 1);
        ITransformer model = PairPipeline(ml, options).Fit(train);
        float[][] expected = [.. model.Transform(train).GetColumn<float[]>("Score")];
        string compact = Path.Combine(work, "compact.zip");
        ml.Model.Save(model, train.Schema, compact);
        FossilOf(model).EmbedBackbone = true;
        string embedded = Path.Combine(work, "embedded.zip");
        ml.Model.Save(model, train.Schema, embedded);
        output.WriteLine($"compact {new FileInfo(compact).Length:N0} bytes, self-contained {new FileInfo(embedded).Length:N0} bytes");
        Assert.True(new FileInfo(embedded).Length > 5 * new FileInfo(compact).Length);

        // Moved: a clear error naming the hash and what was tried...
        string moved = Path.Combine(work, "moved");
        Directory.Move(original, moved);
        var missing = Inner<BackboneMismatchException>(Assert.ThrowsAny<Exception>(() => ml.Model.Load(compact, out _)));
        Assert.Contains(FossilOf(model).Core.Definition.Backbone.Sha256!, missing.Message);
        Assert.Contains(original, missing.Message);
        Assert.Contains("BackboneSearchFolders", missing.Message);
        // ...then found through a search folder of the loading context's settings, and verified by hash.
        var withSearchFolder = new FossilSettings();
        withSearchFolder.BackboneSearchFolders.Add(moved);
        float[][] found = [.. Unmerged(withSearchFolder).Model.Load(compact, out _).Transform(train).GetColumn<float[]>("Score")];
        Assert.Equal(Bits(expected), Bits(found));

        // A different backbone at the recorded place is refused, not silently used.
        string other = Path.Combine(work, "other");
        using (var different = new TinyBackbone(seed: 99)) different.CopyTo(other);
        Directory.Move(other, original);
        var changed = Inner<BackboneMismatchException>(Assert.ThrowsAny<Exception>(() => ml.Model.Load(compact, out _)));
        Assert.Contains("SHA-256", changed.Message);

        // The self-contained file needs no backbone at all.
        Directory.Delete(original, recursive: true);
        Directory.Delete(moved, recursive: true);
        float[][] selfContained = [.. Unmerged().Model.Load(embedded, out _).Transform(train).GetColumn<float[]>("Score")];
        Assert.Equal(Bits(expected), Bits(selfContained));
    }

    [Fact]
    public void A_hub_backbone_is_downloaded_once_from_a_local_server_and_then_used_offline()
    {
        int port = FreeLoopbackPort();
        string cache = Path.Combine(work, "hub-cache");
        var hub = new FossilSettings { HubCacheDirectory = cache, HubEndpoint = new Uri($"http://127.0.0.1:{port}/") };
        var requests = new List<string>();
        var ml = new MLContext(seed: 1);
        ml.SetFossilSettings(hub);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        string path = Path.Combine(work, "hub.zip");
        float[][] expected;
        using (ServeFolder(port, "tiny-org/tiny-roberta", backbone.Folder, requests))
        {
            ITransformer model = PairPipeline(ml, PairOptions(BackboneSource.HuggingFaceHub("tiny-org/tiny-roberta"), epochs: 1)).Fit(train);
            expected = [.. model.Transform(train).GetColumn<float[]>("Score")];
            ml.Model.Save(model, train.Schema, path);
            Assert.Contains(requests, r => r.EndsWith("/tiny-org/tiny-roberta/resolve/main/model.safetensors", StringComparison.Ordinal));
            // A model the hub does not have: the error says where it looked.
            var absent = Assert.Throws<FileNotFoundException>(() => BackboneSource.HuggingFaceHub("tiny-org/absent").Load(hub));
            Assert.Contains(Path.Combine(cache, "models--tiny-org--absent"), absent.Message);
            Assert.Contains($"127.0.0.1:{port}", absent.Message);
        }
        int served = requests.Count;
        // Server gone: the cached copy is used, with no request at all.
        float[][] offline = [.. Unmerged(hub).Model.Load(path, out _).Transform(train).GetColumn<float[]>("Score")];
        Assert.Equal(Bits(expected), Bits(offline));
        Assert.Equal(served, requests.Count);
        Assert.True(File.Exists(Path.Combine(cache, "models--tiny-org--tiny-roberta", "main", "model.safetensors")));
        Assert.Empty(Directory.GetFiles(cache, "*.partial", SearchOption.AllDirectories));
    }

    static int FreeLoopbackPort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Serves <paramref name="folder"/>'s files as /{id}/resolve/main/{file} on 127.0.0.1, 404 otherwise.</summary>
    static IDisposable ServeFolder(int port, string id, string folder, List<string> requests)
    {
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var loop = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                string pathAndQuery = context.Request.Url!.AbsolutePath;
                lock (requests) requests.Add(pathAndQuery);
                string prefix = $"/{id}/resolve/main/";
                string file = pathAndQuery.StartsWith(prefix, StringComparison.Ordinal) ? Path.Combine(folder, pathAndQuery[prefix.Length..]) : "";
                if (file.Length > 0 && !file.Contains("..", StringComparison.Ordinal) && File.Exists(file))
                {
                    byte[] bytes = await File.ReadAllBytesAsync(file);
                    context.Response.ContentLength64 = bytes.Length;
                    await context.Response.OutputStream.WriteAsync(bytes);
                }
                else
                {
                    context.Response.StatusCode = 404;
                }
                context.Response.Close();
            }
        });
        return new Stopper(() => { listener.Stop(); listener.Close(); loop.Wait(TimeSpan.FromSeconds(5)); });
    }

    sealed class Stopper(Action stop) : IDisposable
    {
        public void Dispose() => stop();
    }

    [Fact]
    public void Gpu_request_without_cuda_is_an_error_unless_FallbackToCpu()
    {
        if (TorchSharp.torch.cuda.is_available()) return; // this path is for CPU-only machines
        IDataView Data(MLContext ml) => FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        var strict = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        var error = Assert.Throws<InvalidOperationException>(() => PairPipeline(strict, PairOptions(epochs: 1)).Fit(Data(strict)));
        Assert.Contains("GpuDeviceId", error.Message);
        Assert.Contains("FallbackToCpu", error.Message);
        Assert.Contains("CUDA", error.Message);

        var lenient = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var warnings = new List<string>();
        lenient.Log += (_, e) => { if (e.Kind == Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
        ITransformer model = PairPipeline(lenient, PairOptions(epochs: 1)).Fit(Data(lenient));
        Assert.Equal(TorchSharp.DeviceType.CPU, FossilOf(model).Core.Network.Device.type);
        Assert.Contains(warnings, w => w.Contains("training on the CPU", StringComparison.Ordinal));
    }

    [Fact]
    public void The_same_seed_gives_bit_identical_weights_and_a_different_seed_does_not()
    {
        Dictionary<string, float[]> Weights(int seed)
        {
            var ml = new MLContext(seed: 1);
            var options = PairOptions(epochs: 1);
            options.Seed = seed;
            options.AdapterDropout = 0.1; // dropout too must follow the seed
            ITransformer model = PairPipeline(ml, options).Fit(FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 48));
            using FossilTextClassificationTransformer fossil = FossilOf(model);
            return Microsoft.ML.Fossil.Adapters.AdapterInjector.TrainableStateDict(fossil.Core.Network.Network).ToDictionary(p => p.Key, p => p.Value.data<float>().ToArray());
        }
        var first = Weights(7);
        var second = Weights(7);
        var third = Weights(8);
        Assert.Equal(first.Keys.Order(), second.Keys.Order());
        foreach (var (name, values) in first)
            Assert.True(values.Select(BitConverter.SingleToInt32Bits).SequenceEqual(second[name].Select(BitConverter.SingleToInt32Bits)), $"{name} differs between two runs with the same seed");
        Assert.Contains(first, p => !p.Value.SequenceEqual(third[p.Key]));
    }

    [Fact]
    public void Progress_reaches_the_callback_and_MLContext_Log_and_cancellation_stops_between_steps()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { if (e.Source == "FossilTextClassification") lock (log) log.Add(e.Message); };
        var reports = new List<TrainingProgress>();
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 48);
        var options = PairOptions(epochs: 2);
        options.ValidationSet = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        options.Progress = reports.Add;
        ITransformer model = PairPipeline(ml, options).Fit(train);
        Assert.Equal(6, reports.Count(r => r.Validation is null)); // 48 rows / 16 = 3 steps x 2 epochs
        Assert.Equal(2, reports.Count(r => r.Validation is not null));
        Assert.All(reports.Where(r => r.Validation is not null), r => Assert.NotNull(r.Validation!.Accuracy));
        Assert.Contains(log, m => m.Contains("] epoch 2 step 3/3", StringComparison.Ordinal));
        Assert.Contains(log, m => m.Contains("validation accuracy", StringComparison.Ordinal));
        var summary = FossilOf(model).TrainingSummary!;
        Assert.InRange(summary["best_epoch"]!.GetValue<int>(), 1, 2);
        Assert.Equal(2, summary["epochs"]!.AsArray().Count);

        using var cancellation = new CancellationTokenSource();
        var cancelled = PairOptions(epochs: 3);
        cancelled.CancellationToken = cancellation.Token;
        int steps = 0;
        cancelled.Progress = p => { if (++steps == 2) cancellation.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => PairPipeline(ml, cancelled).Fit(train));
        Assert.Equal(2, steps);
    }

    [Fact]
    public void Early_stopping_ends_training_when_validation_stops_improving()
    {
        var ml = new MLContext(seed: 1);
        var options = PairOptions(epochs: 6);
        options.LearningRate = 1e-12; // nothing changes, so the metric never improves after epoch 1
        options.ValidationSet = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        options.EarlyStoppingPatience = 2;
        ITransformer model = PairPipeline(ml, options).Fit(FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32));
        var summary = FossilOf(model).TrainingSummary!;
        Assert.True(summary["stopped_early"]!.GetValue<bool>());
        Assert.Equal(3, summary["epochs"]!.AsArray().Count);
        Assert.Equal(1, summary["best_epoch"]!.GetValue<int>());
        Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(
            new FossilTextClassificationTrainer.Options { EarlyStoppingPatience = 1 }));
    }
}
