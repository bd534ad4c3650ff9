using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>An error of a run that is not bad usage (exit code 1); the message is meant for the user.</summary>
public sealed class GlueException(string message) : Exception(message);

/// <summary>
/// The runner's two commands. <c>train</c>: check and load the data with ML.NET's TextLoader, fine-tune
/// through an ML.NET pipeline, save the model zip, load it back with <c>mlContext.Model.Load</c> and
/// evaluate <em>that</em> model (so <c>--predictions</c> is what <c>predict</c> gives for the same file).
/// <c>predict</c>: load a zip and write one prediction per input row.
/// </summary>
public sealed partial class GlueRunner
{
    /// <summary>Where the embedded default looks for the bundled data: data/ beside the application.</summary>
    public static string BundledDataFolder => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>Default output of the embedded default.</summary>
    public const string DefaultModelFile = "fossil-finefoods.zip";

    // The embedded default's own settings (the sample's choice, not the library's defaults): all 800 bundled training
    // rows, measured on this repository's 2-core machine to finish, build included, well within 5 minutes (see README.md).
    internal const int DefaultEpochs = 3, DefaultMaxLength = 96, DefaultBatchSize = 16;
    internal const double DefaultLearningRate = 2e-3;

    readonly TextWriter output;
    readonly TextWriter error;

    /// <summary>Creates a runner writing its report to <paramref name="output"/> and warnings to <paramref name="error"/>.</summary>
    public GlueRunner(TextWriter output, TextWriter error)
    {
        this.output = output ?? throw new ArgumentNullException(nameof(output));
        this.error = error ?? throw new ArgumentNullException(nameof(error));
    }

    /// <summary>Live progress display: null detects (an interactive terminal), false prints plain lines.</summary>
    public bool? LiveProgress { get; init; }

    /// <summary>
    /// The data of a run: where it comes from and how it is read, and the settings the mode chooses itself (null: the
    /// library's default; only the embedded default chooses).
    /// </summary>
    internal sealed record Plan(string Mode, GlueTask? Task, DataSpec Train, IReadOnlyList<(string Name, DataSpec Spec)> Validations,
        bool Regression, IReadOnlyList<string>? Classes, string DefaultOutput,
        int? Epochs = null, int? BatchSize = null, int? MaxLength = null, double? LearningRate = null);

    /// <summary>Resolves the data files and defaults of <paramref name="s"/> (no rows are read yet).</summary>
    internal static Plan MakePlan(TrainSettings s)
    {
        if (s.Task is { } name)
        {
            GlueTask task = GlueTasks.Get(name);
            string dir = s.DataDir!;
            if (!Directory.Exists(dir)) throw new GlueException($"--data-dir: folder '{dir}' not found.");
            string File(string file) => Path.Combine(dir, file);
            return new Plan("task", task, task.Spec(File(GlueTask.TrainFile), labelled: true),
                [.. task.ValidationFiles.Select(f => (f, task.Spec(File(f), labelled: true)))],
                task.IsRegression, task.Classes, $"fossil-{task.Name}.zip");
        }
        if (s.TrainFile is { } trainFile)
        {
            DataSpec Spec(string path) => FileSpec(path, s.TextColumn ?? "sentence", s.Text2Column, s.LabelColumn ?? "label", s.Regression);
            return new Plan("files", null, Spec(trainFile), [(Path.GetFileName(s.ValidationFile!), Spec(s.ValidationFile!))], s.Regression, null,
                "fossil-model.zip");
        }
        string train = Path.Combine(BundledDataFolder, "fine_foods_train.tsv"), test = Path.Combine(BundledDataFolder, "fine_foods_test.tsv");
        return new Plan("embedded-default", null, FileSpec(train, "sentence", null, "label", false),
            [(Path.GetFileName(test), FileSpec(test, "sentence", null, "label", false))], false, null, DefaultModelFile,
            DefaultEpochs, DefaultBatchSize, DefaultMaxLength, DefaultLearningRate);
    }

    /// <summary>A TSV/CSV file with a header; columns found by name.</summary>
    internal static DataSpec FileSpec(string path, string text, string? text2, string label, bool regression)
    {
        TableLayout layout = TableLayout.FromHeader(path, FileFormat.For(path));
        return new DataSpec(layout, new ColumnRef(text, layout.IndexOf(text, "sentence (--text-column)"), text),
            text2 is null ? null : new ColumnRef(text2, layout.IndexOf(text2, "second sentence (--text2-column)"), text2),
            new ColumnRef(DataSpec.LabelColumn, layout.IndexOf(label, "label (--label-column)"), label), regression, null).Checked();
    }

    /// <summary>Fine-tunes, saves, reloads, evaluates; returns the metrics JSON (also written to --metrics-json).</summary>
    public JsonObject Train(TrainSettings s, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(s);
        var wall = Stopwatch.StartNew();
        // No --seed: an MLContext without a seed, and the trainer takes its own default.
        var ml = new MLContext(seed: s.Seed);
        ml.Log += (_, e) =>
        {
            if (e.Kind is ChannelMessageKind.Warning or ChannelMessageKind.Error || (s.Verbose && e.Kind == ChannelMessageKind.Info))
                lock (error) error.WriteLine($"[{e.Source}] {e.Message}");
        };

        Plan plan = MakePlan(s);
        output.WriteLine(plan.Mode switch
        {
            "task" => $"Glue {plan.Task!.Title}: {Path.GetFullPath(s.DataDir!)}",
            "files" => $"Training on {plan.Train.Layout.Path}, validating on {plan.Validations[0].Spec.Layout.Path}",
            _ => "Embedded default: all-MiniLM-L6-v2 + FOSSIL on the bundled fine-food reviews (label 1 = five-star review)",
        });

        // 1. Every row checked (file and line on error), then loaded with ML.NET's TextLoader.
        ScannedTable trainTable = DataFiles.Scan(plan.Train, s.MaxTrainRows);
        IReadOnlyList<string> classes = plan.Regression ? [] : plan.Classes ?? [.. trainTable.Labels!.Distinct().Order(StringComparer.Ordinal)];
        if (!plan.Regression && trainTable.Labels!.Distinct().Count() < 2)
            throw new DataFileException(trainTable.Path, 0, $"the training labels are all '{trainTable.Labels![0]}': classification needs at least two classes.");
        var validationTables = plan.Validations
            .Select(v => (v.Name, Table: DataFiles.Scan(v.Spec with { Classes = plan.Regression ? null : classes }, s.MaxValidationRows)))
            .ToList();
        IDataView trainView = DataFiles.Load(ml, trainTable);
        var validationViews = validationTables.Select(v => DataFiles.Load(ml, v.Table)).ToList();
        output.WriteLine($"  train: {trainTable.Rows} rows" + string.Concat(validationTables.Select(v => $"; {v.Name}: {v.Table.Rows} rows")) +
                         (plan.Regression ? "; labels: scores" : $"; classes: {string.Join(", ", classes)}"));

        // 2. Labels to keys (fitted apart from the model, so that the saved model reads only the text columns).
        if (!plan.Regression)
        {
            IDataView keyData = ml.Data.LoadFromEnumerable(classes.Select(c => new LabelValue { Label = c }));
            ITransformer labelKeys = ml.Transforms.Conversion.MapValueToKey(DataSpec.LabelColumn, keyData: keyData).Fit(trainView);
            trainView = labelKeys.Transform(trainView);
            validationViews = [.. validationViews.Select(labelKeys.Transform)];
        }

        // 3. Fine-tune. Only what the command line (or the embedded default) chooses is set; every other field keeps the
        //    library's default, and the model's training summary reports what was used.
        FossilTrainerOptions options = plan.Regression ? new FossilSentenceSimilarityTrainer.Options() : new FossilTextClassificationTrainer.Options();
        options.LabelColumnName = DataSpec.LabelColumn;
        options.Sentence1ColumnName = plan.Train.Text1.Name;
        options.Sentence2ColumnName = plan.Train.Text2?.Name;
        if (s.Backbone is { } backbone) options.Backbone = Backbone(backbone);
        if (s.Adapter is { } adapter)
        {
            (options.AdapterKind, options.FossilVariant) = adapter switch
            {
                AdapterChoice.FossilMini => (AdapterKind.Fossil, FossilVariant.Mini),
                AdapterChoice.FossilBat => (AdapterKind.Fossil, FossilVariant.Bat),
                AdapterChoice.Lora => (AdapterKind.Lora, FossilVariant.Default),
                AdapterChoice.Full => (AdapterKind.FullFineTuning, FossilVariant.Default),
                _ => (AdapterKind.Fossil, FossilVariant.Default),
            };
        }
        options.Rank = s.Rank;
        if ((s.Epochs ?? plan.Epochs) is int epochs) options.Epochs = epochs;
        if ((s.BatchSize ?? plan.BatchSize) is int batchSize) options.BatchSize = batchSize;
        if ((s.MaxLength ?? plan.MaxLength) is int maxLength) options.MaxSequenceLength = maxLength;
        options.LearningRate = s.LearningRate ?? plan.LearningRate;
        if (s.Precision is { } precision) options.Precision = precision;
        options.ValidationSet = s.EvalEachEpoch ? validationViews[0] : null;
        // The best epoch by the task's official metric (files mode: the library's default, accuracy or Pearson).
        if (s.EvalEachEpoch && plan.Task is { } glueTask) options.EarlyStoppingMetric = glueTask.BestEpochMetric;
        options.CancellationToken = cancellation;
        output.WriteLine($"  backbone: {options.Backbone?.Description ?? "default"}; adapter: {s.Adapter?.Name() ?? "default"}" +
                         (s.Rank is { } r ? $" r={r}" : "") + $"; {options.Epochs} epoch(s), batch {options.BatchSize}, " +
                         $"max length {options.MaxSequenceLength}, learning rate " +
                         (options.LearningRate?.ToString("G", CultureInfo.InvariantCulture) ?? "default"));
        bool live = !s.Plain && !s.Verbose && (LiveProgress ?? ProgressDisplay.CanRenderLive(output));
        var fitClock = Stopwatch.StartNew();
        ITransformer model = ProgressDisplay.Run(output, live, options.Epochs, progress =>
        {
            options.Progress = progress;
            IEstimator<ITransformer> estimator = plan.Regression
                ? ml.Regression.Trainers.FossilSentenceSimilarity((FossilSentenceSimilarityTrainer.Options)options)
                : ml.MulticlassClassification.Trainers.FossilTextClassification((FossilTextClassificationTrainer.Options)options)
                    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelText", "PredictedLabel"));
            return estimator.Fit(trainView);
        });
        double fitSeconds = fitClock.Elapsed.TotalSeconds;

        // 4. Save the compact model zip.
        FossilModel fossil = FossilModel.Find(model);
        JsonObject summary;
        string zipPath = Path.GetFullPath(s.Output ?? plan.DefaultOutput);
        try
        {
            summary = fossil.TrainingSummary ?? throw new InvalidOperationException("The trainer left no training summary.");
            if (Path.GetDirectoryName(zipPath) is { Length: > 0 } folder) Directory.CreateDirectory(folder);
            ml.Model.SaveAtomically(model, trainView.Schema, zipPath); // never a half-written zip at zipPath
        }
        finally
        {
            fossil.Dispose();
        }
        long zipBytes = new FileInfo(zipPath).Length;
        long backboneBytes = summary["backbone_weight_bytes"]!.GetValue<long>();
        string backboneDescription = summary["backbone"]!.GetValue<string>();
        string backboneSha = fossil.BackboneSha256 ?? throw new InvalidOperationException("The trained model names no backbone.");

        // 5. Load it back as any application would, and evaluate that model.
        ITransformer loaded = ml.Model.Load(zipPath, out _);
        FossilModel loadedFossil = FossilModel.Find(loaded);
        try
        {
            var evaluations = validationTables.Zip(validationViews)
                .Select(v => Evaluate(ml, loaded, v.First.Name, v.First.Table, v.Second, plan.Regression, classes, trainTable))
                .ToList();
            if (s.Predictions is { } predictionsPath) WriteLines(predictionsPath, evaluations[0].Predictions);

            JsonObject metrics = Report(plan, summary, fitSeconds, zipPath, zipBytes,
                backboneBytes, backboneDescription, backboneSha, trainTable, evaluations);
            metrics["total_seconds"] = wall.Elapsed.TotalSeconds;
            if (s.MetricsJson is { } metricsPath)
            {
                if (Path.GetDirectoryName(Path.GetFullPath(metricsPath)) is { Length: > 0 } folder) Directory.CreateDirectory(folder);
                File.WriteAllText(metricsPath, metrics.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", new UTF8Encoding(false));
            }
            PrintSummary(metrics, evaluations, plan);
            if (plan.Mode == "embedded-default") DemonstratePredictionEngine(ml, loaded);
            if (s.Predictions is not null) output.WriteLine($"Predictions ({evaluations[0].Name}, one line per row): {Path.GetFullPath(s.Predictions)}");
            if (s.MetricsJson is not null) output.WriteLine($"Metrics: {Path.GetFullPath(s.MetricsJson)}");
            output.WriteLine($"Model saved to {zipPath}");
            output.WriteLine($"Done in {wall.Elapsed.TotalSeconds:F1} s.");
            return metrics;
        }
        finally
        {
            loadedFossil.Dispose();
        }
    }

    /// <summary>Writes one prediction per row of <c>--input</c> with the model in <c>--model</c>; returns the row count.</summary>
    public int Predict(PredictSettings p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.PeftAdapter is null && !File.Exists(p.Model)) throw new GlueException($"--model: file '{p.Model}' not found.");
        if (p.PeftAdapter is { } adapterFolder && !Directory.Exists(adapterFolder)) throw new GlueException($"--peft-adapter: folder '{adapterFolder}' not found.");
        if (!File.Exists(p.Input)) throw new GlueException($"--input: file '{p.Input}' not found.");
        var ml = new MLContext(seed: 1);
        ml.Log += (_, e) =>
        {
            if (e.Kind is ChannelMessageKind.Warning or ChannelMessageKind.Error) lock (error) error.WriteLine($"[{e.Source}] {e.Message}");
        };
        if (p.Precision is { } precision)
        {
            // The serving precision of a TorchSharp model (an ONNX Runtime model computes in its export's format).
            FossilSettings settings = FossilSettings.FromEnvironment();
            settings.ServingPrecision = precision;
            ml.SetFossilSettings(settings);
        }
        ITransformer model;
        DataViewSchema? savedSchema = null;
        if (p.PeftAdapter is { } peft)
        {
            // A PEFT adapter (trained in Python, or written by export-peft) on its backbone; its columns are the ones given
            // here (--text-column, default "sentence"; --text2-column for sentence-pair adapters).
            try
            {
                model = ml.Model.LoadPeftAdapter(peft, p.Backbone is { } backbone ? Backbone(backbone) : null, p.TextColumn ?? "sentence", p.Text2Column);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException or FileNotFoundException)
            {
                throw new GlueException($"--peft-adapter: '{peft}' cannot be served: {GlueApp.Message(e)}");
            }
        }
        else
        {
            try
            {
                model = ml.Model.Load(p.Model, out DataViewSchema schema);
                savedSchema = schema;
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or InvalidOperationException)
            {
                throw new GlueException($"--model: '{p.Model}' cannot be loaded: {GlueApp.Message(e)}");
            }
        }
        // A model zip of this runner, or the mlnet-model.zip of export-onnx (scored by ONNX Runtime).
        FossilModel fossil = savedSchema is null ? FossilModel.Find(model) : FossilModel.Find(model, savedSchema);
        try
        {
            string text1 = fossil.Sentence1ColumnName;
            string? text2 = fossil.Sentence2ColumnName;
            if (p.Text2Column is not null && text2 is null)
                throw new GlueException("--text2-column: the model reads one sentence per row.");
            // CoLA's own train/dev files have no header (recognised by their rows); any other file is read by its header.
            FileFormat format = FileFormat.For(p.Input);
            TableLayout layout = format == FileFormat.Tsv && p.TextColumn is null && text1 == "sentence" && text2 is null
                ? GlueTasks.Get("cola").Layout(p.Input, requireTextColumn: false)
                : TableLayout.FromHeader(p.Input, format);
            string file1 = p.TextColumn ?? text1;
            var spec = new DataSpec(layout, new ColumnRef(text1, layout.IndexOf(file1, "sentence (--text-column)"), file1),
                text2 is null ? null : new ColumnRef(text2, layout.IndexOf(p.Text2Column ?? text2, "second sentence (--text2-column)"), p.Text2Column ?? text2),
                null, false, null);
            ScannedTable table = DataFiles.Scan(spec);
            IDataView scored = model.Transform(DataFiles.Load(ml, table));
            string[] lines = fossil.IsRegression
                ? [.. scored.GetColumn<float>("Score").Select(FormatScore)]
                : PredictedLabels(scored, fossil);
            WriteLines(p.Output, lines);
            output.WriteLine($"Wrote {lines.Length} predictions to {Path.GetFullPath(p.Output)}");
            return lines.Length;
        }
        finally
        {
            fossil.Dispose();
        }
    }

    /// <summary>Writes the model in <c>--model</c> as a PEFT adapter folder (<c>export-peft</c>); returns the files written.</summary>
    public IReadOnlyList<string> ExportPeft(ExportPeftSettings e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (!File.Exists(e.Model)) throw new GlueException($"--model: file '{e.Model}' not found.");
        var ml = new MLContext(seed: 1);
        ITransformer model;
        try
        {
            model = ml.Model.Load(e.Model, out _);
        }
        catch (Exception x) when (x is InvalidDataException or FormatException or InvalidOperationException)
        {
            throw new GlueException($"--model: '{e.Model}' cannot be loaded: {GlueApp.Message(x)}");
        }
        FossilModel fossil = FossilModel.Find(model);
        try
        {
            string folder = Path.GetFullPath(e.Output);
            try
            {
                ml.Model.ExportPeftAdapter(model, folder);
            }
            catch (NotSupportedException x)
            {
                throw new GlueException(x.Message);
            }
            string[] files = [.. Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
            output.WriteLine($"Wrote a PEFT adapter folder to {folder}: {string.Join(", ", files)}");
            return files;
        }
        finally
        {
            fossil.Dispose();
        }
    }

    /// <summary>
    /// Writes the model in <c>--model</c> for ONNX Runtime (<c>export-onnx</c>): model.onnx, config.json, the tokenizer files
    /// and mlnet-model.zip, which <c>predict --model</c> serves without libtorch; returns the files written.
    /// </summary>
    public IReadOnlyList<string> ExportOnnx(ExportOnnxSettings e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (!File.Exists(e.Model)) throw new GlueException($"--model: file '{e.Model}' not found.");
        var ml = new MLContext(seed: 1);
        ITransformer model;
        DataViewSchema schema;
        try
        {
            model = ml.Model.Load(e.Model, out schema);
        }
        catch (Exception x) when (x is InvalidDataException or FormatException or InvalidOperationException)
        {
            throw new GlueException($"--model: '{e.Model}' cannot be loaded: {GlueApp.Message(x)}");
        }
        FossilModel fossil = FossilModel.Find(model);
        try
        {
            string folder = Path.GetFullPath(e.Output);
            var clock = Stopwatch.StartNew();
            try
            {
                ml.Model.ExportForOnnxRuntime(model, schema, folder, quantizeInt8: e.Int8);
            }
            catch (NotSupportedException x)
            {
                throw new GlueException(x.Message);
            }
            string[] files = [.. Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
            output.WriteLine($"Wrote the {(e.Int8 ? "int8" : "float32")} ONNX export to {folder} in {clock.Elapsed.TotalSeconds:F1} s: " +
                             string.Join(", ", files.Select(f => $"{f} ({new FileInfo(Path.Combine(folder, f)).Length / 1e6:F1} MB)")));
            output.WriteLine($"Serve it without libtorch: predict --model {Path.Combine(folder, "mlnet-model.zip")} --input FILE --output FILE");
            return files;
        }
        finally
        {
            fossil.Dispose();
        }
    }

    static string[] PredictedLabels(IDataView scored, FossilModel fossil)
    {
        if (scored.Schema.GetColumnOrNull("PredictedLabelText") is { Type: TextDataViewType })
            return [.. scored.GetColumn<string>("PredictedLabelText")];
        // A model without the MapKeyToValue step: the key's class names.
        return [.. scored.GetColumn<uint>("PredictedLabel").Select(k => fossil.ClassNames[(int)k - 1])];
    }

    /// <summary>How a predicted score is written: shortest round-trip form.</summary>
    public static string FormatScore(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    static void WriteLines(string path, IEnumerable<string> lines)
    {
        string full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { Length: > 0 } folder) Directory.CreateDirectory(folder);
        var text = new StringBuilder();
        foreach (string line in lines) text.Append(line).Append('\n');
        File.WriteAllText(full, text.ToString(), new UTF8Encoding(false));
    }

    /// <summary>The <c>--adapter</c> spelling of what the trainer used, from the training summary.</summary>
    static string AdapterName(JsonObject summary) =>
        (summary["adapter"]!.GetValue<string>(), summary["fossil_variant"]?.GetValue<string>()) switch
        {
            ("fossil", "mini" or "bat") => $"fossil-{summary["fossil_variant"]}",
            var (kind, _) => kind,
        };

    /// <summary>
    /// <c>--backbone</c>: <c>minilm</c>, an existing Hugging Face folder, or a hub id <c>org/name</c> (optionally
    /// <c>org/name@revision</c>) resolved through Hugging Face's standard cache (HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE).
    /// </summary>
    internal static BackboneSource Backbone(string value)
    {
        if (value.Equals("minilm", StringComparison.OrdinalIgnoreCase)) return BackboneSource.MiniLM();
        if (Directory.Exists(value))
        {
            if (!File.Exists(Path.Combine(value, "config.json"))) throw new GlueException($"--backbone: '{value}' has no config.json (not a Hugging Face model folder).");
            return BackboneSource.HuggingFaceFolder(value);
        }
        string[] idAndRevision = value.Split('@', 2);
        if (HubId().IsMatch(idAndRevision[0]) && (idAndRevision.Length == 1 || idAndRevision[1].Length > 0))
            return BackboneSource.HuggingFaceHub(idAndRevision[0], idAndRevision.Length == 2 ? idAndRevision[1] : "main");
        throw new GlueException($"--backbone: '{value}' is neither 'minilm', an existing Hugging Face folder, nor a hub id such as FacebookAI/roberta-base.");
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial System.Text.RegularExpressions.Regex HubId();

    sealed class LabelValue
    {
        public string Label { get; set; } = "";
    }

    /// <summary>One validation file's results.</summary>
    internal sealed record Evaluation(string Name, int Rows, JsonObject Metrics, IReadOnlyList<string> Predictions);

    Evaluation Evaluate(MLContext ml, ITransformer model, string name, ScannedTable table, IDataView data, bool regression,
        IReadOnlyList<string> classes, ScannedTable train)
    {
        var metrics = new JsonObject();
        if (regression)
        {
            // One inference pass: the scored columns are cached, then read by ML.NET's evaluator and by ours.
            IDataView scored = ml.Data.Cache(model.Transform(data), DataSpec.LabelColumn, "Score");
            RegressionMetrics ours = ml.Regression.Evaluate(scored, DataSpec.LabelColumn, "Score");
            float[] scores = [.. scored.GetColumn<float>("Score")], labels = [.. scored.GetColumn<float>(DataSpec.LabelColumn)];
            metrics[MetricNames.Pearson] = GlueMetrics.Pearson(scores, labels);
            metrics[MetricNames.Spearman] = GlueMetrics.Spearman(scores, labels);
            metrics["r_squared"] = ours.RSquared;
            metrics["mse"] = ours.MeanSquaredError;
            metrics["rmse"] = ours.RootMeanSquaredError;
            metrics["mae"] = ours.MeanAbsoluteError;
            double mean = train.Scores!.Average(l => (double)l);
            metrics["mean_baseline_mse"] = labels.Average(l => (l - mean) * (l - mean));
            return new Evaluation(name, table.Rows, metrics, [.. scores.Select(FormatScore)]);
        }
        else
        {
            IDataView scored = ml.Data.Cache(model.Transform(data), DataSpec.LabelColumn, "Score", "PredictedLabel", "PredictedLabelText");
            MulticlassClassificationMetrics ours = ml.MulticlassClassification.Evaluate(scored, DataSpec.LabelColumn, "Score", "PredictedLabel");
            uint[] labels = [.. scored.GetColumn<uint>(DataSpec.LabelColumn)], predicted = [.. scored.GetColumn<uint>("PredictedLabel")];
            string[] predictedText = [.. scored.GetColumn<string>("PredictedLabelText")];
            var (f1, mcc) = GlueMetrics.F1AndMcc([.. predicted.Select(k => (int)k - 1)], [.. labels.Select(k => (int)k - 1)], classes.Count);
            metrics[MetricNames.Accuracy] = ours.MicroAccuracy;
            metrics[MetricNames.F1] = f1;
            metrics[MetricNames.Mcc] = mcc;
            metrics["macro_accuracy"] = ours.MacroAccuracy;
            metrics["log_loss"] = ours.LogLoss;
            string majority = train.Labels!.GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
            metrics["majority_class"] = majority;
            metrics["majority_baseline"] = table.Labels!.Count(l => l == majority) / (double)table.Rows;
            return new Evaluation(name, table.Rows, metrics, predictedText);
        }
    }

    static JsonObject Report(Plan plan, JsonObject summary, double fitSeconds, string zipPath, long zipBytes, long backboneBytes,
        string backboneDescription, string? backboneSha, ScannedTable train, List<Evaluation> evaluations)
    {
        JsonArray perEpoch = summary["epochs"]?.AsArray() ?? [];
        double trainSeconds = summary["train_seconds"]!.GetValue<double>();
        // The settings as the trainer used them (the library's defaults where the command line gave none).
        var report = new JsonObject
        {
            ["mode"] = plan.Mode,
            ["task"] = plan.Task?.Name,
            ["backbone"] = backboneDescription,
            ["backbone_sha256"] = backboneSha,
            ["adapter"] = AdapterName(summary),
            ["rank"] = summary["rank"]?.DeepClone(),
            ["target_modules"] = summary["target_modules"]?.DeepClone(),
            ["trainable_parameters"] = summary["trainable_parameters"]!.DeepClone(),
            ["total_parameters"] = summary["total_parameters"]!.DeepClone(),
            ["epochs"] = summary["epochs_requested"]!.DeepClone(),
            ["epochs_run"] = perEpoch.Count,
            ["best_epoch"] = summary["best_epoch"]?.DeepClone(),
            ["best_epoch_metric"] = summary["best_epoch_metric"]?.DeepClone(),
            ["batch_size"] = summary["batch_size"]!.DeepClone(),
            ["max_length"] = summary["max_length"]!.DeepClone(),
            ["precision"] = summary["precision"]!.DeepClone(),
            ["learning_rate"] = summary["learning_rate"]!.DeepClone(),
            ["seed"] = summary["seed"]!.DeepClone(),
            ["train_file"] = train.Path,
            ["train_rows"] = train.Rows,
            ["validation_file"] = plan.Validations[0].Spec.Layout.Path,
            ["validation_rows"] = evaluations[0].Rows,
            ["train_seconds"] = trainSeconds,
            ["seconds_per_epoch"] = perEpoch.Count == 0 ? trainSeconds : perEpoch.Average(e => e!["seconds"]!.GetValue<double>()),
            ["fit_seconds"] = fitSeconds,
            ["model_zip"] = zipPath,
            ["model_zip_bytes"] = zipBytes,
            ["backbone_weight_bytes"] = backboneBytes,
            ["evaluated_model"] = "the saved model zip, loaded back with mlContext.Model.Load",
        };
        // The primary validation file's metrics at the top level; MNLI adds matched / mismatched accuracy.
        foreach (var (key, value) in evaluations[0].Metrics) report[key] = value?.DeepClone();
        if (plan.Task?.Name == "mnli")
        {
            report[MetricNames.MatchedAccuracy] = evaluations[0].Metrics[MetricNames.Accuracy]!.DeepClone();
            report[MetricNames.MismatchedAccuracy] = evaluations[1].Metrics[MetricNames.Accuracy]!.DeepClone();
        }
        report["task_metrics"] = new JsonArray([.. (plan.Task?.Metrics ?? (plan.Regression
            ? [MetricNames.Pearson, MetricNames.Spearman]
            : [MetricNames.Accuracy, MetricNames.F1, MetricNames.Mcc])).Select(m => (JsonNode)m)]);
        report["metric_sources"] = plan.Regression
            ? new JsonObject
            {
                ["r_squared, mse, rmse, mae"] = "ML.NET mlContext.Regression.Evaluate",
                ["pearson, spearman"] = "this sample (GlueMetrics.cs; ML.NET has no correlation evaluator)",
            }
            : new JsonObject
            {
                ["accuracy, macro_accuracy, log_loss"] = "ML.NET mlContext.MulticlassClassification.Evaluate (accuracy = MicroAccuracy)",
                ["f1, mcc"] = "this sample (GlueMetrics.cs; ML.NET has no MCC evaluator; F1 is of class '1' " +
                              "- the second class - for two classes, macro-averaged otherwise)",
            };
        report["validation"] = new JsonArray([.. evaluations.Select(e =>
        {
            var item = new JsonObject { ["file"] = e.Name, ["rows"] = e.Rows };
            foreach (var (key, value) in e.Metrics) item[key] = value?.DeepClone();
            return (JsonNode)item;
        })]);
        report["per_epoch"] = perEpoch.DeepClone();
        return report;
    }

    void PrintSummary(JsonObject m, List<Evaluation> evaluations, Plan plan)
    {
        static string F(JsonNode? n, string format = "F4") => n is null ? "-" : n.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);
        output.WriteLine();
        // JSON values print culture-invariant.
        output.WriteLine($"Settings used: backbone {m["backbone"]}; adapter {m["adapter"]}" + (m["rank"] is { } rank ? $" r={rank}" : "") +
            $"; {m["epochs"]} epoch(s), batch {m["batch_size"]}, max length {m["max_length"]}, learning rate {F(m["learning_rate"], "G")}, seed {m["seed"]}, precision {m["precision"]}.");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {m["epochs_run"]} epoch(s) in {F(m["train_seconds"], "F1")} s ({F(m["seconds_per_epoch"], "F1")} s/epoch); " +
            $"trainable parameters {m["trainable_parameters"]!.GetValue<long>():N0} of {m["total_parameters"]!.GetValue<long>():N0}."));
        foreach (Evaluation e in evaluations)
        {
            JsonObject x = e.Metrics;
            output.WriteLine(plan.Regression
                ? $"{e.Name} ({e.Rows} rows): pearson {F(x[MetricNames.Pearson])}, spearman {F(x[MetricNames.Spearman])}, " +
                  $"R^2 {F(x["r_squared"])}, MSE {F(x["mse"])} (predicting the training mean: MSE {F(x["mean_baseline_mse"])})"
                : $"{e.Name} ({e.Rows} rows): accuracy {F(x[MetricNames.Accuracy])} vs majority-class baseline {F(x["majority_baseline"])} " +
                  $"(always '{x["majority_class"]}'); F1 {F(x[MetricNames.F1])}, MCC {F(x[MetricNames.Mcc])}");
        }
        double zip = m["model_zip_bytes"]!.GetValue<long>(), backbone = m["backbone_weight_bytes"]!.GetValue<long>();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Model zip {zip / 1e6:F2} MB = {100 * zip / backbone:F2}% of the backbone's {backbone / 1e6:F1} MB of weights (referenced by SHA-256, not copied)."));
    }

    sealed class ReviewInput
    {
        [ColumnName("sentence")]
        public string Sentence { get; set; } = "";
    }

    sealed class ReviewPrediction
    {
        public string PredictedLabelText { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    void DemonstratePredictionEngine(MLContext ml, ITransformer loaded)
    {
        string[] reviews =
        [
            "Absolutely delicious. My kids ask for these every day and I have already ordered three more boxes.",
            "Stale, bland and overpriced. Half the bag went straight into the trash.",
            "The coffee is fine, nothing special, and the price keeps going up.",
            "Best dog treats we have found: our picky terrier goes crazy for them.",
        ];
        // OwnsTransformer = false: the engine must not dispose the model it borrows.
        using var engine = ml.Model.CreatePredictionEngine<ReviewInput, ReviewPrediction>(loaded, new PredictionEngineOptions { OwnsTransformer = false });
        output.WriteLine();
        output.WriteLine("The saved model, loaded with mlContext.Model.Load, through a PredictionEngine:");
        foreach (string review in reviews)
        {
            ReviewPrediction p = engine.Predict(new ReviewInput { Sentence = review });
            string verdict = p.PredictedLabelText == "1" ? "five stars" : "fewer stars";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {verdict,-11} (P(five stars) = {p.Score[1]:F2})  {review}"));
        }
    }
}
