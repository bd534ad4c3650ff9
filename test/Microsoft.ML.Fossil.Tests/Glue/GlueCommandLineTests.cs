using System.CommandLine;
using Microsoft.ML.Fossil.Glue;

namespace Microsoft.ML.Fossil.Tests.Glue;

/// <summary>The runner's command line: every flag, and exit code 2 with a usage text for every kind of bad usage.</summary>
public class GlueCommandLineTests
{
    internal static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = new GlueApp(output, error) { LiveProgress = false }.Run(args);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>What the command line hands to the train or predict action (no errors allowed), through System.CommandLine's own invocation.</summary>
    internal static (TrainSettings? Train, PredictSettings? Predict) Parse(params string[] args)
    {
        TrainSettings? train = null;
        PredictSettings? predict = null;
        RootCommand root = GlueCommandLine.Create(t => { train = t; return 0; }, p => { predict = p; return 0; });
        ParseResult parsed = root.Parse(args);
        Assert.Empty(parsed.Errors);
        Assert.Equal(0, parsed.Invoke(new InvocationConfiguration { Output = TextWriter.Null, Error = TextWriter.Null, EnableDefaultExceptionHandler = false }));
        Assert.True(train is null != predict is null);
        return (train, predict);
    }

    [Fact]
    public void No_options_is_the_embedded_default_and_leaves_every_library_setting_unset()
    {
        TrainSettings t = Parse().Train!;
        Assert.True(t.IsEmbeddedDefault);
        // Not given means not chosen: the trainer's Options keep the library's defaults (the runner copies none).
        Assert.Null(t.Backbone);
        Assert.Null(t.Adapter);
        Assert.Null(t.Rank);
        Assert.Null(t.Epochs);
        Assert.Null(t.BatchSize);
        Assert.Null(t.MaxLength);
        Assert.Null(t.LearningRate);
        Assert.Null(t.Seed);
        Assert.Null(t.Precision);
        Assert.Null(t.Output);
        Assert.False(t.Regression || t.EvalEachEpoch || t.Plain || t.Verbose);
        Assert.True(Parse("train").Train!.IsEmbeddedDefault);
        Assert.True(Parse("--epochs", "1").Train!.IsEmbeddedDefault); // the default with an override
        Assert.Equal(1, Parse("train", "--epochs", "1").Train!.Epochs);
    }

    [Fact]
    public void Every_train_flag_is_read()
    {
        foreach (string? verb in new[] { null, "train" })
        {
            string[] args =
            [
                "--train", "a.csv", "--validation", "b.csv", "--text-column", "q", "--text2-column", "p", "--label-column", "y",
                "--regression", "--backbone", "/models/roberta", "--adapter", "lora", "--rank", "16", "--epochs", "4", "--batch-size", "8",
                "--max-length", "64", "--learning-rate", "3e-4", "--seed", "-7", "--precision", "bf16", "--output", "m.zip", "--metrics-json", "m.json",
                "--predictions", "p.txt", "--max-train-rows", "100", "--max-validation-rows", "50", "--eval-each-epoch", "--plain", "--verbose",
            ];
            TrainSettings t = Parse(verb is null ? args : [verb, .. args]).Train!;
            Assert.Equal(("a.csv", "b.csv", "q", "p", "y", true), (t.TrainFile, t.ValidationFile, t.TextColumn, t.Text2Column, t.LabelColumn, t.Regression));
            Assert.Equal(("/models/roberta", AdapterChoice.Lora, 16), (t.Backbone, t.Adapter, t.Rank));
            Assert.Equal((4, 8, 64, 3e-4, -7), (t.Epochs, t.BatchSize, t.MaxLength, t.LearningRate, t.Seed));
            Assert.Equal(Precision.BFloat16, t.Precision);
            Assert.Equal(("m.zip", "m.json", "p.txt"), (t.Output, t.MetricsJson, t.Predictions));
            Assert.Equal((100, 50), (t.MaxTrainRows, t.MaxValidationRows));
            Assert.True(t.EvalEachEpoch && t.Plain && t.Verbose);
            Assert.False(t.IsEmbeddedDefault);
        }

        TrainSettings task = Parse("--task", "MNLI", "--data-dir", "/glue/MNLI", "--adapter=fossil-bat", "--epochs=2").Train!;
        Assert.Equal(("mnli", "/glue/MNLI", AdapterChoice.FossilBat, 2), (task.Task, task.DataDir, task.Adapter, task.Epochs));
        Assert.Equal("sst2", Parse("--task", "SST-2", "--data-dir", "d").Train!.Task);
        Assert.Equal("stsb", Parse("--task", "STS-B", "--data-dir", "d").Train!.Task);
        foreach (string name in GlueTasks.Names) Assert.Equal(name, Parse("--task", name, "--data-dir", "d").Train!.Task);
        foreach (var (value, adapter) in new[] { ("fossil", AdapterChoice.Fossil), ("fossil-mini", AdapterChoice.FossilMini),
                     ("fossil-bat", AdapterChoice.FossilBat), ("lora", AdapterChoice.Lora), ("FULL", AdapterChoice.Full) })
            Assert.Equal(adapter, Parse("--adapter", value).Train!.Adapter);
        foreach (var (value, precision) in new[] { ("fp32", Precision.Float32), ("BF16", Precision.BFloat16), ("fp16", Precision.Float16),
                     ("auto", Precision.Auto), ("bfloat16", Precision.BFloat16) })
            Assert.Equal(precision, Parse("--precision", value).Train!.Precision);
    }

    /// <summary>
    /// The tests run the runner in their own process, which has ONNX Runtime's native library; the runner's own
    /// application must bring it too, or export-onnx and predict on an mlnet-model.zip fail when run as the README says.
    /// </summary>
    [Fact]
    public void The_runner_application_brings_ONNX_Runtime_s_native_library()
    {
        string deps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Microsoft.ML.Fossil.Glue.deps.json"));
        Assert.Contains("\"Microsoft.ML.OnnxRuntime/", deps);
        Assert.Contains("libonnxruntime.so", deps);
    }

    [Fact]
    public void The_export_onnx_and_predict_precision_flags_are_read()
    {
        ExportOnnxSettings? exported = null;
        RootCommand root = GlueCommandLine.Create(_ => 0, _ => 0, exportOnnx: x => { exported = x; return 0; });
        Assert.Equal(0, root.Parse(["export-onnx", "--model", "m.zip", "--output", "out", "--int8", "--verbose"])
            .Invoke(new InvocationConfiguration { Output = TextWriter.Null, Error = TextWriter.Null, EnableDefaultExceptionHandler = false }));
        Assert.Equal(("m.zip", "out", true, true), (exported!.Model, exported.Output, exported.Int8, exported.Verbose));
        Assert.Equal(0, root.Parse(["export-onnx", "--model", "m.zip", "--output", "out"]).Invoke(new InvocationConfiguration { Output = TextWriter.Null }));
        Assert.False(exported!.Int8);

        Assert.Equal(Precision.Float32, Parse("predict", "--model", "m.zip", "--input", "i", "--output", "o", "--precision", "fp32").Predict!.Precision);
        Assert.Null(Parse("predict", "--model", "m.zip", "--input", "i", "--output", "o").Predict!.Precision);
    }

    [Fact]
    public void Every_predict_flag_is_read()
    {
        PredictSettings p = Parse("predict", "--model", "m.zip", "--input", "test.tsv", "--text-column", "a",
            "--text2-column", "b", "--output", "out.txt", "--verbose").Predict!;
        Assert.Equal(("m.zip", "test.tsv", "a", "b", "out.txt", true), (p.Model, p.Input, p.TextColumn, p.Text2Column, p.Output, p.Verbose));
        PredictSettings bare = Parse("predict", "--model=m.zip", "--input", "i.csv", "--output", "o.txt").Predict!;
        Assert.Equal((null, null, false), (bare.TextColumn, bare.Text2Column, bare.Verbose));
    }

    [Theory]
    // System.CommandLine's own checks.
    [InlineData("Unrecognized command or argument '--bogus'", "--bogus")]
    [InlineData("Unrecognized command or argument 'fit'", "fit")]
    [InlineData("Required argument missing for option: '--epochs'", "--epochs")]
    [InlineData("Option '--seed' expects a single argument but 2 were provided", "--seed", "1", "--seed", "2")]
    [InlineData("Unrecognized command or argument 'yes'", "--regression=yes")]
    [InlineData("Unrecognized command or argument 'extra'", "--epochs", "1", "extra")]
    [InlineData("Unrecognized command or argument '--model'", "--model", "m.zip")]
    [InlineData("Unrecognized command or argument '--epochs'", "predict", "--model", "m", "--input", "i", "--output", "o", "--epochs", "1")]
    // --model is one of two sources now (a zip, or --peft-adapter): exactly one is needed.
    [InlineData("predict needs either --model or --peft-adapter", "predict", "--input", "i", "--output", "o")]
    [InlineData("predict needs either --model or --peft-adapter", "predict", "--model", "m", "--peft-adapter", "d", "--input", "i", "--output", "o")]
    [InlineData("--backbone goes with --peft-adapter", "predict", "--model", "m", "--backbone", "org/name", "--input", "i", "--output", "o")]
    [InlineData("Option '--model' is required", "export-peft", "--output", "d")]
    [InlineData("Option '--model' is required", "export-onnx", "--output", "d")]
    [InlineData("Option '--output' is required", "export-onnx", "--model", "m.zip")]
    [InlineData("Unknown --precision 'half': expected fp32, bf16, fp16 or auto", "--precision", "half")]
    [InlineData("Unknown --precision 'int8': expected fp32, bf16, fp16 or auto", "predict", "--model", "m", "--input", "i", "--output", "o", "--precision", "int8")]
    [InlineData("Option '--output' is required", "export-peft", "--model", "m.zip")]
    [InlineData("Option '--input' is required", "predict", "--model", "m", "--output", "o")]
    [InlineData("Option '--output' is required", "predict", "--model", "m", "--input", "i")]
    [InlineData("Required argument missing for option: '--output'", "--output=")]
    // Each value, converted by the runner's parsers.
    [InlineData("Option --epochs needs a value", "--epochs", "--seed", "1")]
    [InlineData("Option --output needs a value", "train", "--output", "--plain")]
    [InlineData("Option --output needs a non-empty value", "--output", " ")]
    [InlineData("--epochs needs a whole number, got 'three'", "--epochs", "three")]
    [InlineData("--epochs must be at least 1, got 0", "--epochs", "0")]
    [InlineData("--rank needs a whole number, got '1.5'", "--rank", "1.5")]
    [InlineData("--batch-size must be at least 1", "--batch-size", "-4")]
    [InlineData("--max-length must be at least 8", "--max-length", "4")]
    [InlineData("--max-train-rows must be at least 1", "--max-train-rows", "0")]
    [InlineData("--learning-rate needs a number such as 2e-3, got 'fast'", "--learning-rate", "fast")]
    [InlineData("--learning-rate must be positive", "--learning-rate", "-1e-3")]
    [InlineData("--seed needs a whole number", "--seed", "1e3")]
    [InlineData("Unknown --task 'squad'", "--task", "squad", "--data-dir", "d")]
    [InlineData("Unknown --adapter 'prefix'", "--adapter", "prefix")]
    // Combinations (TrainSettings.Checked).
    [InlineData("--task needs --data-dir", "--task", "sst2")]
    [InlineData("--data-dir needs --task", "--data-dir", "d")]
    [InlineData("--train needs --validation", "--train", "a.tsv")]
    [InlineData("--validation needs --train", "train", "--validation", "a.tsv")]
    [InlineData("--task reads its own files", "--task", "rte", "--data-dir", "d", "--train", "a.tsv", "--validation", "b.tsv")]
    [InlineData("--task sst2 defines its own columns", "--task", "sst2", "--data-dir", "d", "--text-column", "x")]
    [InlineData("--task stsb defines its own columns and label type: --regression", "--task", "stsb", "--data-dir", "d", "--regression")]
    [InlineData("--label-column needs --train and --validation", "--label-column", "y")]
    [InlineData("--text-column, --regression need --train and --validation", "--text-column", "x", "--regression")]
    [InlineData("--rank does not apply to --adapter full", "--adapter", "full", "--rank", "8")]
    [InlineData("--text-column and --text2-column name the same column", "--train", "a", "--validation", "b", "--text-column", "x", "--text2-column", "x")]
    [InlineData("--label-column names a text column", "--train", "a", "--validation", "b", "--label-column", "sentence")]
    public void Bad_usage_exits_2_with_the_message_and_the_help_and_runs_nothing(string message, params string[] args)
    {
        var (exit, output, error) = Run(args);
        Assert.Equal(GlueApp.BadUsage, exit);
        Assert.Contains($"error: {message}", error);
        Assert.Contains("Usage:", error);
        Assert.Contains(GlueCommandLine.ExitCodes, error);
        Assert.Equal("", output); // nothing trained or predicted
        // The help of the command the arguments were for.
        Assert.Contains(args[0] is "predict" or "train" or "export-peft" or "export-onnx" ? $"{GlueCommandLine.AppName} {args[0]} [options]" : $"{GlueCommandLine.AppName} [command] [options]", error);
    }

    /// <summary>Every flag the runner has, with its value placeholder as the help shows it.</summary>
    static readonly string[] TrainFlags =
    [
        "--task <NAME>", "--data-dir <DIR>", "--train <FILE>", "--validation <FILE>", "--text-column <C>", "--text2-column <C>",
        "--label-column <C>", "--regression", "--backbone <minilm|PATH|ORG/NAME>", "--adapter <fossil|fossil-mini|fossil-bat|lora|full>",
        "--rank <N>", "--epochs <N>", "--batch-size <N>", "--max-length <N>", "--learning-rate <X>", "--seed <N>", "--precision <fp32|bf16|fp16|auto>", "--output <FILE>",
        "--metrics-json <FILE>", "--predictions <FILE>", "--max-train-rows <N>", "--max-validation-rows <N>", "--eval-each-epoch", "--plain",
        "--verbose", "-?, -h, --help",
    ];

    static readonly string[] PredictFlags =
        ["--model <FILE>", "--peft-adapter <DIR>", "--backbone <minilm|PATH|ORG/NAME>", "--input <FILE> (REQUIRED)", "--text-column <C>", "--text2-column <C>", "--output <FILE> (REQUIRED)", "--precision <fp32|bf16|fp16|auto>", "--verbose"];

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("-?")]
    [InlineData("help")]
    [InlineData("train", "--help")]
    [InlineData("--epochs", "1", "--help")]
    public void Help_lists_every_flag_the_data_modes_and_the_exit_codes_and_exits_0(params string[] args)
    {
        var (exit, output, error) = Run(args);
        Assert.Equal(GlueApp.Ok, exit);
        Assert.Equal("", error);
        foreach (string flag in TrainFlags) Assert.Contains(flag, output);
        Assert.Contains("cola|sst2|mrpc|qqp|stsb|mnli|qnli|rte|wnli", output);
        Assert.Contains("--task NAME --data-dir DIR, or --train FILE --validation FILE", output);
        Assert.Contains("embedded default", output);
        Assert.Contains(GlueCommandLine.ExitCodes, output);
        if (args[0] != "train") Assert.Contains("predict --model model.zip --input FILE [--text-column C] [--text2-column C] --output FILE", output);
        Assert.DoesNotContain("--version", output);
    }

    [Fact]
    public void Predict_reads_a_PEFT_adapter_and_its_backbone_and_backbone_accepts_a_hub_id()
    {
        PredictSettings p = Parse("predict", "--peft-adapter", "adapter", "--backbone", "FacebookAI/roberta-base", "--input", "i.tsv", "--output", "o.txt",
            "--text-column", "a", "--text2-column", "b").Predict!;
        Assert.Equal(("adapter", "FacebookAI/roberta-base", "", "a", "b"), (p.PeftAdapter, p.Backbone, p.Model, p.TextColumn, p.Text2Column));
        Assert.Equal(BackboneSource.HuggingFaceHub("FacebookAI/roberta-base").Description, GlueRunner.Backbone("FacebookAI/roberta-base").Description);
        Assert.Equal(BackboneSource.HuggingFaceHub("org/name", "v1").Description, GlueRunner.Backbone("org/name@v1").Description);
        Assert.Contains("hub id", Assert.Throws<GlueException>(() => GlueRunner.Backbone("no such folder")).Message);
        Assert.Contains("hub id", Assert.Throws<GlueException>(() => GlueRunner.Backbone("a/b/c")).Message);
    }

    [Fact]
    public void Predict_help_lists_its_flags_even_without_the_required_ones()
    {
        var (exit, output, error) = Run("predict", "--help");
        Assert.Equal(GlueApp.Ok, exit);
        Assert.Equal("", error);
        foreach (string flag in PredictFlags) Assert.Contains(flag, output);
        Assert.DoesNotContain("--epochs", output);
        Assert.Contains("mlnet-model.zip of export-onnx", output);
        Assert.Contains(GlueCommandLine.ExitCodes, output);

        (exit, output, error) = Run("export-onnx", "--help");
        Assert.Equal((GlueApp.Ok, ""), (exit, error));
        foreach (string flag in new[] { "--model <FILE> (REQUIRED)", "--output <DIR> (REQUIRED)", "--int8", "--verbose" }) Assert.Contains(flag, output);
        Assert.Contains("without libtorch", output);
    }

    [Fact]
    public void The_defaults_the_help_names_are_the_library_s()
    {
        // The help names the library's defaults for information only; the runner leaves these Options fields alone.
        var (_, help, _) = Run("--help");
        Assert.Contains($"(default: {FossilDefaults.FossilRank} for FOSSIL, {FossilDefaults.LoraRank} for LoRA)", help);
        Assert.Contains("all-MiniLM-L6-v2 (default)", help);
        Assert.Contains("Adapter (default: fossil)", help);
        var options = new FossilTextClassificationTrainer.Options();
        Assert.Equal((AdapterKind.Fossil, FossilVariant.Default, null), (options.AdapterKind, options.FossilVariant, options.Rank));
        Assert.Null(options.Backbone); // null: all-MiniLM-L6-v2
    }

    [Fact]
    public void Errors_exit_1_with_a_message_naming_the_file_and_no_stack_trace_unless_verbose()
    {
        string missing = Path.Combine(Path.GetTempPath(), "fossil-glue-no-such-folder");
        var (exit, _, error) = Run("--task", "sst2", "--data-dir", missing);
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains($"--data-dir: folder '{missing}' not found", error);
        Assert.DoesNotContain("   at ", error);

        using var fixtures = new GlueFixtures();
        string dir = fixtures.Sst2();
        File.Delete(Path.Combine(dir, "dev.tsv"));
        (exit, _, error) = Run("--task", "sst2", "--data-dir", dir);
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains($"{Path.Combine(dir, "dev.tsv")}: file not found", error);
        Assert.DoesNotContain("   at ", error);

        (exit, _, error) = Run("--task", "sst2", "--data-dir", dir, "--verbose");
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains("   at ", error);

        (exit, _, error) = Run("predict", "--model", Path.Combine(dir, "none.zip"), "--input", "x", "--output", "y");
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains("--model: file", error);

        (exit, _, error) = Run("--backbone", Path.Combine(dir, "no-backbone"), "--max-train-rows", "4");
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains("--backbone:", error);
    }

    [Fact]
    public void A_validation_label_the_training_data_lacks_is_reported_before_any_model_loads()
    {
        using var fixtures = new GlueFixtures();
        string train = fixtures.Write("generic", "train.tsv", ["sentence\tlabel", "good\tpos", "bad\tneg", "fine\tpos"]);
        string validation = fixtures.Write("generic", "dev.tsv", ["sentence\tlabel", "great\tpos", "meh\tneutral"]);
        var (exit, _, error) = Run("--train", train, "--validation", validation);
        Assert.Equal(GlueApp.Failed, exit);
        Assert.Contains($"{validation}, line 3: unparsable label 'neutral' in column 'label': expected one of 'neg', 'pos'", error);
    }

    [Fact]
    public void Progress_is_plain_text_when_the_output_is_not_a_terminal()
    {
        Assert.False(ProgressDisplay.CanRenderLive(new StringWriter()));
        var p = new TrainingProgress(2, 7, 50, 0.51234, 41.26, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(83), null);
        Assert.Equal("epoch 2/3  step 7/50  loss 0.5123  41.3 rows/s  ETA 01:23", ProgressDisplay.Describe(p, 3));
        var output = new StringWriter();
        int result = ProgressDisplay.Run(output, live: false, epochs: 1, report =>
        {
            for (int step = 1; step <= 20; step++)
                report(new TrainingProgress(1, step, 20, 0.5, 10, TimeSpan.Zero, TimeSpan.FromSeconds(20 - step), null));
            return 42;
        });
        Assert.Equal(42, result);
        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("epoch 1/1  step 1/20  loss 0.5000  10.0 rows/s  ETA 00:19", lines[0]);
        Assert.Equal("epoch 1/1  step 20/20  loss 0.5000  10.0 rows/s  ETA 00:00", lines[^1]);
        Assert.InRange(lines.Length, 3, 12); // about every tenth of an epoch, not every step
        Assert.DoesNotContain('\u001b', output.ToString());
    }
}
