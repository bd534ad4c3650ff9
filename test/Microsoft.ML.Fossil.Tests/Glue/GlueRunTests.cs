using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Glue;
using Microsoft.ML.Fossil.Tests.MLNet;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.Glue;

/// <summary>
/// The generic mode on the bundled reviews with the real MiniLM, sized for 2 CI cores (48 training rows,
/// max length 32, one epoch): FOSSIL and LoRA write the metrics JSON; predict on the saved zip
/// reproduces --predictions byte for byte.
/// </summary>
public sealed class GlueMiniLmRunFixture : IDisposable
{
    public GlueMiniLmRunFixture()
    {
        Folder = Directory.CreateTempSubdirectory("fossil-glue-run-").FullName;
        TrainFile = Path.Combine(GlueRunner.BundledDataFolder, "fine_foods_train.tsv");
        // A 40-row validation file of its own, so that predict reads exactly the rows --predictions covers.
        ValidationFile = Path.Combine(Folder, "validation.tsv");
        File.WriteAllLines(ValidationFile, File.ReadLines(Path.Combine(GlueRunner.BundledDataFolder, "fine_foods_test.tsv")).Take(41));
        Fossil = Train("fossil");
    }

    public string Folder { get; }
    public string TrainFile { get; }
    public string ValidationFile { get; }
    public RunResult Fossil { get; }

    public sealed record RunResult(int Exit, string Output, string Error, string Zip, string MetricsPath, string PredictionsPath, JsonObject? Metrics);

    public RunResult Train(string adapter)
    {
        string zip = Path.Combine(Folder, $"{adapter}.zip"), metrics = Path.Combine(Folder, $"{adapter}.json"), predictions = Path.Combine(Folder, $"{adapter}.txt");
        var output = new StringWriter();
        var error = new StringWriter();
        var app = new GlueApp(output, error) { LiveProgress = false };
        int exit = app.Run(["--train", TrainFile, "--validation", ValidationFile, "--max-train-rows", "48", "--max-length", "32", "--epochs", "1",
            "--batch-size", "16", "--learning-rate", "2e-3", "--adapter", adapter, "--output", zip, "--metrics-json", metrics, "--predictions", predictions]);
        return new RunResult(exit, output.ToString(), error.ToString(), zip, metrics, predictions, app.LastMetrics);
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

/// <summary>Every key of the metrics JSON (the runner's README lists them); a run writes exactly these.</summary>
internal static class MetricsKeys
{
    static readonly string[] Common =
    [
        "mode", "task", "backbone", "backbone_sha256", "adapter", "rank", "target_modules", "trainable_parameters", "total_parameters",
        "epochs", "epochs_run", "best_epoch", "best_epoch_metric", "batch_size", "max_length", "precision", "learning_rate", "seed", "train_file", "train_rows",
        "validation_file", "validation_rows", "train_seconds", "seconds_per_epoch", "fit_seconds", "model_zip", "model_zip_bytes",
        "backbone_weight_bytes", "evaluated_model", "task_metrics", "metric_sources", "validation", "per_epoch", "total_seconds",
    ];

    public static readonly string[] Classification =
        [.. Common, "accuracy", "f1", "mcc", "macro_accuracy", "log_loss", "majority_class", "majority_baseline"];

    public static readonly string[] Regression = [.. Common, "pearson", "spearman", "r_squared", "mse", "rmse", "mae", "mean_baseline_mse"];

    public static readonly string[] Mnli = [.. Classification, "matched_accuracy", "mismatched_accuracy"];

    public static void AssertExactly(IEnumerable<string> expected, JsonObject json) =>
        Assert.Equal(expected.Order(StringComparer.Ordinal), json.Select(p => p.Key).Order(StringComparer.Ordinal));
}

public class GlueMiniLmRunTests(GlueMiniLmRunFixture fixture, ITestOutputHelper log) : IClassFixture<GlueMiniLmRunFixture>
{
    static JsonObject AssertMetricsFile(GlueMiniLmRunFixture.RunResult run)
    {
        Assert.True(run.Exit == 0, $"exit {run.Exit}:\n{run.Error}\n{run.Output}");
        JsonObject json = JsonNode.Parse(File.ReadAllText(run.MetricsPath))!.AsObject();
        MetricsKeys.AssertExactly(MetricsKeys.Classification, json);
        Assert.Equal(new FileInfo(run.Zip).Length, json["model_zip_bytes"]!.GetValue<long>());
        // Given on the command line: the values used.
        Assert.Equal((1, 16, 32, 2e-3), (json["epochs"]!.GetValue<int>(), json["batch_size"]!.GetValue<int>(), json["max_length"]!.GetValue<int>(),
            json["learning_rate"]!.GetValue<double>()));
        // Not given: the library's defaults, as the model's training summary reports them.
        Assert.Equal(FossilDefaults.Seed, json["seed"]!.GetValue<int>());
        Assert.Equal(["query", "value"], json["target_modules"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Equal(BackboneSource.MiniLM().Description, json["backbone"]!.GetValue<string>());
        Assert.InRange(json["accuracy"]!.GetValue<double>(), 0, 1);
        Assert.InRange(json["f1"]!.GetValue<double>(), 0, 1);
        Assert.InRange(json["mcc"]!.GetValue<double>(), -1, 1);
        Assert.True(json["train_seconds"]!.GetValue<double>() > 0);
        Assert.True(json["seconds_per_epoch"]!.GetValue<double>() > 0);
        long trainable = json["trainable_parameters"]!.GetValue<long>(), total = json["total_parameters"]!.GetValue<long>();
        Assert.InRange(trainable, 1, total / 10);
        Assert.Equal(48, json["train_rows"]!.GetValue<int>());
        Assert.Equal(40, json["validation_rows"]!.GetValue<int>());
        Assert.Equal(json.ToJsonString(), run.Metrics!.ToJsonString());
        return json;
    }

    [Fact]
    public void Fossil_run_writes_the_metrics_json_with_the_required_keys()
    {
        JsonObject json = AssertMetricsFile(fixture.Fossil);
        Assert.Equal("fossil", json["adapter"]!.GetValue<string>());
        Assert.Equal(FossilDefaults.FossilRank, json["rank"]!.GetValue<int>());
        Assert.True(json["model_zip_bytes"]!.GetValue<long>() < json["backbone_weight_bytes"]!.GetValue<long>() / 20);
        Assert.Contains("MulticlassClassification.Evaluate", json["metric_sources"]!.ToJsonString());
        log.WriteLine(fixture.Fossil.Output);
        // Plain progress lines (the output is not a terminal) and the summary.
        Assert.Contains("epoch 1/1  step 3/3  loss", fixture.Fossil.Output);
        Assert.Contains($"Settings used: backbone {BackboneSource.MiniLM().Description}; adapter fossil r=64; 1 epoch(s), batch 16, max length 32, " +
                        $"learning rate 0.002, seed 42, precision {json["precision"]}.", fixture.Fossil.Output);
        Assert.Contains("accuracy", fixture.Fossil.Output);
        Assert.Contains($"Model saved to {fixture.Fossil.Zip}", fixture.Fossil.Output);
        Assert.DoesNotContain('\u001b', fixture.Fossil.Output);
    }

    [Fact]
    public void Lora_run_writes_the_metrics_json_with_the_required_keys()
    {
        GlueMiniLmRunFixture.RunResult lora = fixture.Train("lora");
        JsonObject json = AssertMetricsFile(lora);
        Assert.Equal("lora", json["adapter"]!.GetValue<string>());
        Assert.Equal(FossilDefaults.LoraRank, json["rank"]!.GetValue<int>());
        Assert.NotEqual(fixture.Fossil.Metrics!["trainable_parameters"]!.GetValue<long>(), json["trainable_parameters"]!.GetValue<long>());
        Assert.Equal(40, File.ReadAllLines(lora.PredictionsPath).Length);
    }

    [Fact]
    public void Predict_on_the_saved_zip_reproduces_the_predictions_file_byte_for_byte()
    {
        string[] predictions = File.ReadAllLines(fixture.Fossil.PredictionsPath);
        Assert.Equal(40, predictions.Length);
        Assert.All(predictions, p => Assert.Contains(p, new[] { "0", "1" }));

        string again = Path.Combine(fixture.Folder, "predict.txt");
        var (exit, output, error) = GlueCommandLineTests.Run("predict", "--model", fixture.Fossil.Zip, "--input", fixture.ValidationFile, "--output", again);
        Assert.True(exit == 0, error);
        Assert.Contains("Wrote 40 predictions", output);
        Assert.Equal(File.ReadAllBytes(fixture.Fossil.PredictionsPath), File.ReadAllBytes(again));

        // An unlabelled file whose sentence column has another name: --text-column picks it.
        string unlabelled = Path.Combine(fixture.Folder, "unlabelled.csv");
        File.WriteAllLines(unlabelled, ["id,review", .. File.ReadLines(fixture.ValidationFile).Skip(1).Select((l, i) => $"{i},\"{l.Split('\t')[0].Replace("\"", "\"\"")}\"")]);
        string renamed = Path.Combine(fixture.Folder, "renamed.txt");
        (exit, _, error) = GlueCommandLineTests.Run("predict", "--model", fixture.Fossil.Zip, "--input", unlabelled, "--text-column", "review", "--output", renamed);
        Assert.True(exit == 0, error);
        Assert.Equal(File.ReadAllBytes(fixture.Fossil.PredictionsPath), File.ReadAllBytes(renamed));

        (exit, _, error) = GlueCommandLineTests.Run("predict", "--model", fixture.Fossil.Zip, "--input", unlabelled, "--output", renamed);
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains("no sentence (--text-column) column 'sentence'", error);
        (exit, _, error) = GlueCommandLineTests.Run("predict", "--model", fixture.Fossil.Zip, "--input", unlabelled, "--text2-column", "id", "--output", renamed);
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains("--text2-column: the model reads one sentence per row", error);
    }

    [Fact]
    public void The_application_process_exits_2_on_bad_usage_and_prints_plain_lines_when_redirected()
    {
        string app = Path.Combine(AppContext.BaseDirectory, "Microsoft.ML.Fossil.Glue.dll");
        (int exit, string stdout, string stderr) Process(params string[] args)
        {
            string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
            var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = fixture.Folder };
            start.ArgumentList.Add(app);
            foreach (string a in args) start.ArgumentList.Add(a);
            using Process process = System.Diagnostics.Process.Start(start)!;
            Task<string> output = process.StandardOutput.ReadToEndAsync(), error = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "the runner did not finish in 2 minutes");
            return (process.ExitCode, output.Result, error.Result);
        }
        var (exit, _, error) = Process("--max-length");
        Assert.Equal(2, exit);
        Assert.Contains("Required argument missing for option: '--max-length'", error);
        Assert.Contains("Usage:", error);
        Assert.Contains(GlueCommandLine.ExitCodes, error);

        // The embedded default, shrunk: stdout redirected, so plain progress lines and no ANSI codes.
        string zip = Path.Combine(fixture.Folder, "process.zip");
        (exit, string output, error) = Process("--max-train-rows", "16", "--max-validation-rows", "8", "--max-length", "16", "--epochs", "1", "--output", zip);
        Assert.True(exit == 0, error + output);
        Assert.Contains("epoch 1/1  step 1/1", output);
        Assert.Contains("through a PredictionEngine", output);
        Assert.Contains($"Model saved to {zip}", output);
        Assert.DoesNotContain('\u001b', output);
    }
}

/// <summary>
/// Each Glue task end to end on a tiny fixture folder with a tiny random RoBERTa (--backbone PATH): the
/// task's metrics in the JSON, predictions for every dev row, predict reproducing them from the zip, and
/// predict on the unlabelled test file.
/// </summary>
public sealed class GlueTaskRunTests : IDisposable
{
    readonly GlueFixtures fixtures = new();
    readonly TinyBackbone backbone = new();
    readonly ITestOutputHelper log;

    public GlueTaskRunTests(ITestOutputHelper log) => this.log = log;

    public void Dispose()
    {
        fixtures.Dispose();
        backbone.Dispose();
    }

    JsonObject TrainTask(string task, string dir, out string zip, out string predictions, params string[] more)
    {
        zip = Path.Combine(fixtures.Root, $"{task}.zip");
        predictions = Path.Combine(fixtures.Root, $"{task}.txt");
        string metrics = Path.Combine(fixtures.Root, $"{task}.json");
        var (exit, output, error) = GlueCommandLineTests.Run(["--task", task, "--data-dir", dir, "--backbone", backbone.Folder, "--epochs", "1",
            "--batch-size", "4", "--max-length", "32", "--learning-rate", "1e-3", "--rank", "8", "--output", zip, "--metrics-json", metrics,
            "--predictions", predictions, .. more]);
        log.WriteLine(output);
        Assert.True(exit == 0, $"exit {exit}:\n{error}\n{output}");
        JsonObject json = JsonNode.Parse(File.ReadAllText(metrics))!.AsObject();
        Assert.Equal(task, json["task"]!.GetValue<string>());
        MetricsKeys.AssertExactly(task switch { "stsb" => MetricsKeys.Regression, "mnli" => MetricsKeys.Mnli, _ => MetricsKeys.Classification }, json);
        Assert.Equal(8, json["rank"]!.GetValue<int>());
        // The precision actually used: --precision, else Auto (bf16 where this CPU runs it natively).
        string expectedPrecision = more.SkipWhile(a => a != "--precision").Skip(1).FirstOrDefault()
                                   ?? (Microsoft.ML.Fossil.Native.PrecisionSupport.RunsBFloat16Natively(TorchSharp.torch.CPU) ? "bf16" : "fp32");
        Assert.Equal(expectedPrecision, json["precision"]!.GetValue<string>());
        foreach (string metric in GlueTasks.Get(task).Metrics)
            Assert.True(json[metric] is JsonValue, $"metrics JSON lacks the task metric '{metric}'");
        Assert.Equal(GlueTasks.Get(task).Metrics, json["task_metrics"]!.AsArray().Select(m => m!.GetValue<string>()));
        return json;
    }

    void AssertPredictReproduces(string zip, string input, string predictions, string name)
    {
        string again = Path.Combine(fixtures.Root, name);
        var (exit, _, error) = GlueCommandLineTests.Run("predict", "--model", zip, "--input", input, "--output", again);
        Assert.True(exit == 0, error);
        Assert.Equal(File.ReadAllBytes(predictions), File.ReadAllBytes(again));
    }

    string[] PredictUnlabelled(string zip, string input)
    {
        string output = Path.Combine(fixtures.Root, Path.GetFileName(input) + ".predicted");
        var (exit, _, error) = GlueCommandLineTests.Run("predict", "--model", zip, "--input", input, "--output", output);
        Assert.True(exit == 0, error);
        return File.ReadAllLines(output);
    }

    [Fact]
    public void Sst2_reports_accuracy_and_predicts_its_test_file()
    {
        string dir = fixtures.Sst2();
        JsonObject json = TrainTask("sst2", dir, out string zip, out string predictions, "--seed", "7");
        Assert.Equal(7, json["seed"]!.GetValue<int>()); // the MLContext's seed reaches the trainer
        Assert.Equal(6, File.ReadAllLines(predictions).Length);
        AssertPredictReproduces(zip, Path.Combine(dir, "dev.tsv"), predictions, "sst2-again.txt");
        Assert.All(PredictUnlabelled(zip, Path.Combine(dir, "test.tsv")), p => Assert.Contains(p, new[] { "0", "1" }));
        Assert.Equal(5, PredictUnlabelled(zip, Path.Combine(dir, "test.tsv")).Length);
        Assert.Contains(backbone.Folder, json["backbone"]!.GetValue<string>());
    }

    /// <summary>
    /// export-onnx, then predict on its mlnet-model.zip (ONNX Runtime): the labels, or the scores to 1e-4, of the TorchSharp
    /// model served in fp32 (the export is the fp32 graph).
    /// </summary>
    void AssertOnnxExportPredictsAsTorchSharp(string zip, string input, string name, bool regression, params string[] predictArgs)
    {
        string torch = Path.Combine(fixtures.Root, $"{name}-torch-fp32.txt"), onnx = Path.Combine(fixtures.Root, $"{name}-onnx.txt");
        var (exit, _, error) = GlueCommandLineTests.Run(["predict", "--model", zip, "--input", input, "--output", torch, "--precision", "fp32", .. predictArgs]);
        Assert.True(exit == 0, error);
        string export = Path.Combine(fixtures.Root, $"{name}-onnx");
        (exit, string output, error) = GlueCommandLineTests.Run("export-onnx", "--model", zip, "--output", export);
        Assert.True(exit == 0, error);
        Assert.Contains("mlnet-model.zip", output);
        foreach (string file in new[] { "model.onnx", "config.json", "mlnet-model.zip" }) Assert.True(File.Exists(Path.Combine(export, file)), file);
        (exit, _, error) = GlueCommandLineTests.Run(["predict", "--model", Path.Combine(export, "mlnet-model.zip"), "--input", input, "--output", onnx, .. predictArgs]);
        Assert.True(exit == 0, error);
        string[] expected = File.ReadAllLines(torch), actual = File.ReadAllLines(onnx);
        Assert.Equal(expected.Length, actual.Length);
        if (!regression) Assert.Equal(expected, actual);
        else
            for (int i = 0; i < expected.Length; i++)
                Assert.Equal(double.Parse(expected[i], System.Globalization.CultureInfo.InvariantCulture), double.Parse(actual[i], System.Globalization.CultureInfo.InvariantCulture), 4);
    }

    [Fact]
    public void Sst2_trained_in_fp32_exports_to_ONNX_and_predict_serves_the_export_as_the_TorchSharp_model()
    {
        string dir = fixtures.Sst2();
        JsonObject json = TrainTask("sst2", dir, out string zip, out _, "--precision", "fp32");
        Assert.Equal("fp32", json["precision"]!.GetValue<string>());
        AssertOnnxExportPredictsAsTorchSharp(zip, Path.Combine(dir, "dev.tsv"), "sst2", regression: false);
        AssertOnnxExportPredictsAsTorchSharp(zip, Path.Combine(dir, "test.tsv"), "sst2-test", regression: false);
    }

    [Fact]
    public void Cola_reports_mcc_and_predicts_its_header_less_dev_file_and_its_test_file()
    {
        string dir = fixtures.Cola();
        JsonObject json = TrainTask("cola", dir, out string zip, out string predictions, "--eval-each-epoch");
        Assert.Equal("mcc", json["best_epoch_metric"]!.GetValue<string>());   // CoLA's official metric
        Assert.InRange(json[MetricNames.Mcc]!.GetValue<double>(), -1, 1);
        Assert.Equal(5, File.ReadAllLines(predictions).Length);
        AssertPredictReproduces(zip, Path.Combine(dir, "dev.tsv"), predictions, "cola-again.txt");
        Assert.Equal(3, PredictUnlabelled(zip, Path.Combine(dir, "test.tsv")).Length);
    }

    [Fact]
    public void Mrpc_reports_accuracy_and_f1_picks_the_best_epoch_by_f1_and_serves_its_PEFT_export()
    {
        string dir = fixtures.Mrpc();
        JsonObject json = TrainTask("mrpc", dir, out string zip, out string predictions, "--eval-each-epoch");
        Assert.InRange(json[MetricNames.F1]!.GetValue<double>(), 0, 1);
        Assert.Equal("f1", json["best_epoch_metric"]!.GetValue<string>());   // MRPC's official metric
        AssertPredictReproduces(zip, Path.Combine(dir, "dev.tsv"), predictions, "mrpc-again.txt");
        Assert.Equal(3, PredictUnlabelled(zip, Path.Combine(dir, "test.tsv")).Length);

        // export-peft, then predict --peft-adapter on the same backbone: the same predictions as the zip.
        string adapter = Path.Combine(fixtures.Root, "mrpc-peft");
        var (exit, output, error) = GlueCommandLineTests.Run("export-peft", "--model", zip, "--output", adapter);
        Assert.True(exit == 0, error);
        Assert.Contains("adapter_model.safetensors", output);
        Assert.True(File.Exists(Path.Combine(adapter, "adapter_config.json")));
        string again = Path.Combine(fixtures.Root, "mrpc-peft.txt");
        (exit, _, error) = GlueCommandLineTests.Run("predict", "--peft-adapter", adapter, "--backbone", backbone.Folder,
            "--text-column", "#1 String", "--text2-column", "#2 String", "--input", Path.Combine(dir, "dev.tsv"), "--output", again);
        Assert.True(exit == 0, error);
        Assert.Equal(File.ReadAllBytes(predictions), File.ReadAllBytes(again));
    }

    [Fact]
    public void Stsb_is_regression_with_pearson_spearman_and_scores_as_predictions()
    {
        string dir = fixtures.Stsb();
        JsonObject json = TrainTask("stsb", dir, out string zip, out string predictions, "--eval-each-epoch");
        Assert.Equal("pearson", json["best_epoch_metric"]!.GetValue<string>());
        foreach (string key in new[] { "pearson", "spearman", "r_squared", "mse" }) Assert.True(json[key] is JsonValue, key);
        Assert.Contains("Regression.Evaluate", json["metric_sources"]!.ToJsonString());
        string[] scores = File.ReadAllLines(predictions);
        Assert.Equal(5, scores.Length);
        Assert.All(scores, s => Assert.True(float.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out _), s));
        AssertPredictReproduces(zip, Path.Combine(dir, "dev.tsv"), predictions, "stsb-again.txt");
        Assert.Equal(3, PredictUnlabelled(zip, Path.Combine(dir, "test.tsv")).Length);
        // Sentence pairs and a similarity score through ONNX Runtime (the model trained in Auto: exported from its fp32 rebuild).
        AssertOnnxExportPredictsAsTorchSharp(zip, Path.Combine(dir, "dev.tsv"), "stsb", regression: true);
    }

    [Fact]
    public void Mnli_reports_matched_and_mismatched_accuracy()
    {
        string dir = fixtures.Mnli();
        JsonObject json = TrainTask("mnli", dir, out string zip, out string predictions);
        JsonArray validation = json["validation"]!.AsArray();
        Assert.Equal(["dev_matched.tsv", "dev_mismatched.tsv"], validation.Select(v => v!["file"]!.GetValue<string>()));
        Assert.Equal(validation[0]!["accuracy"]!.GetValue<double>(), json[MetricNames.MatchedAccuracy]!.GetValue<double>());
        Assert.Equal(validation[1]!["accuracy"]!.GetValue<double>(), json[MetricNames.MismatchedAccuracy]!.GetValue<double>());
        string[] labels = File.ReadAllLines(predictions);
        Assert.Equal(5, labels.Length); // dev_matched
        Assert.All(labels, l => Assert.Contains(l, new[] { "entailment", "neutral", "contradiction" }));
        AssertPredictReproduces(zip, Path.Combine(dir, "dev_matched.tsv"), predictions, "mnli-again.txt");
        Assert.Equal(3, PredictUnlabelled(zip, Path.Combine(dir, "test_matched.tsv")).Length);
    }

    [Fact]
    public void Generic_pair_regression_on_the_bundled_pairs()
    {
        string zip = Path.Combine(fixtures.Root, "pairs.zip"), predictions = Path.Combine(fixtures.Root, "pairs.txt");
        string metrics = Path.Combine(fixtures.Root, "pairs.json");
        string pairsTrain = FineFoods.PathOf("fine_foods_pairs_train.tsv"), pairsTest = FineFoods.PathOf("fine_foods_pairs_test.tsv");
        var (exit, output, error) = GlueCommandLineTests.Run("--train", pairsTrain, "--validation", pairsTest, "--text-column", "sentence1",
            "--text2-column", "sentence2", "--label-column", "positivity", "--regression", "--backbone", backbone.Folder, "--max-train-rows", "24",
            "--max-validation-rows", "12", "--max-length", "32", "--epochs", "1", "--adapter", "fossil-mini", "--rank", "8", "--output", zip,
            "--predictions", predictions, "--metrics-json", metrics);
        Assert.True(exit == 0, error + output);
        Assert.Contains("pearson", output);
        Assert.Equal(12, File.ReadAllLines(predictions).Length);
        JsonObject json = JsonNode.Parse(File.ReadAllText(metrics))!.AsObject();
        MetricsKeys.AssertExactly(MetricsKeys.Regression, json);
        Assert.Equal(("files", "fossil-mini"), (json["mode"]!.GetValue<string>(), json["adapter"]!.GetValue<string>()));
        // Not given: the library's defaults, reported from the model's training summary.
        Assert.Equal(FossilDefaults.AdapterLearningRate, json["learning_rate"]!.GetValue<double>());
        Assert.Equal(FossilDefaults.BatchSize, json["batch_size"]!.GetValue<int>());
        Assert.Equal(FossilDefaults.Seed, json["seed"]!.GetValue<int>());
        Assert.Equal(new FossilSentenceSimilarityTrainer.Options().TargetModules, json["target_modules"]!.AsArray().Select(m => m!.GetValue<string>()));
        Assert.Equal((1, 32), (json["epochs"]!.GetValue<int>(), json["max_length"]!.GetValue<int>()));
    }
}

/// <summary>Runs only with FOSSIL_SLOW_TESTS=1: the real no-option default takes a minute or more on 2 cores.</summary>
public sealed class SlowFactAttribute : FactAttribute
{
    public SlowFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("FOSSIL_SLOW_TESTS") != "1")
            Skip = "Slow (the full embedded default): set FOSSIL_SLOW_TESTS=1 to run.";
    }
}

public class GlueEmbeddedDefaultTests(ITestOutputHelper log)
{
    [SlowFact]
    public void The_no_option_default_beats_the_majority_baseline_by_10_points_with_a_compact_zip()
    {
        string folder = Directory.CreateTempSubdirectory("fossil-glue-default-").FullName;
        string before = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = folder;
            var output = new StringWriter();
            var error = new StringWriter();
            var app = new GlueApp(output, error) { LiveProgress = false };
            var clock = Stopwatch.StartNew();
            int exit = app.Run([]);
            log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s\n{output}\n{error}");
            Assert.Equal(0, exit);
            JsonObject m = app.LastMetrics!;
            Assert.Equal(800, m["train_rows"]!.GetValue<int>());
            Assert.Equal(500, m["validation_rows"]!.GetValue<int>());
            Assert.True(m["accuracy"]!.GetValue<double>() > m["majority_baseline"]!.GetValue<double>() + 0.10, m.ToJsonString());
            Assert.True(File.Exists(Path.Combine(folder, GlueRunner.DefaultModelFile)));
            Assert.True(m["model_zip_bytes"]!.GetValue<long>() < m["backbone_weight_bytes"]!.GetValue<long>() / 20);
        }
        finally
        {
            Environment.CurrentDirectory = before;
            Directory.Delete(folder, recursive: true);
        }
    }
}
