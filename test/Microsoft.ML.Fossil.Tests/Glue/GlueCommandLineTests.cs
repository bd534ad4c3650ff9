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

    [Fact]
    public void No_options_is_the_embedded_default()
    {
        ParsedCommand command = GlueCommandLine.Parse([]);
        Assert.Equal(Verb.Train, command.Verb);
        TrainSettings t = command.Train!;
        Assert.True(t.IsEmbeddedDefault);
        Assert.Equal(("minilm", AdapterChoice.Fossil, 42), (t.Backbone, t.Adapter, t.Seed));
        Assert.Null(t.Epochs);
        Assert.Null(t.Output);
        Assert.True(GlueCommandLine.Parse(["train"]).Train!.IsEmbeddedDefault);
        Assert.True(GlueCommandLine.Parse(["--epochs", "1"]).Train!.IsEmbeddedDefault); // the default with an override
    }

    [Fact]
    public void Every_train_flag_is_read()
    {
        TrainSettings t = GlueCommandLine.Parse([
            "train", "--train", "a.csv", "--validation", "b.csv", "--text-column", "q", "--text2-column", "p", "--label-column", "y",
            "--regression", "--backbone", "/models/roberta", "--adapter", "lora", "--rank", "16", "--epochs", "4", "--batch-size", "8",
            "--max-length", "64", "--learning-rate", "3e-4", "--seed", "-7", "--output", "m.zip", "--metrics-json", "m.json",
            "--predictions", "p.txt", "--max-train-rows", "100", "--max-validation-rows", "50", "--eval-each-epoch", "--plain", "--verbose",
        ]).Train!;
        Assert.Equal(("a.csv", "b.csv", "q", "p", "y", true), (t.TrainFile, t.ValidationFile, t.TextColumn, t.Text2Column, t.LabelColumn, t.Regression));
        Assert.Equal(("/models/roberta", AdapterChoice.Lora, 16), (t.Backbone, t.Adapter, t.Rank));
        Assert.Equal((4, 8, 64, 3e-4, -7), (t.Epochs, t.BatchSize, t.MaxLength, t.LearningRate, t.Seed));
        Assert.Equal(("m.zip", "m.json", "p.txt"), (t.Output, t.MetricsJson, t.Predictions));
        Assert.Equal((100, 50), (t.MaxTrainRows, t.MaxValidationRows));
        Assert.True(t.EvalEachEpoch && t.Plain && t.Verbose);
        Assert.False(t.IsEmbeddedDefault);

        TrainSettings task = GlueCommandLine.Parse(["--task", "MNLI", "--data-dir", "/glue/MNLI", "--adapter=fossil-bat", "--epochs=2"]).Train!;
        Assert.Equal(("mnli", "/glue/MNLI", AdapterChoice.FossilBat, 2), (task.Task, task.DataDir, task.Adapter, task.Epochs));
        Assert.Equal("sst2", GlueCommandLine.Parse(["--task", "SST-2", "--data-dir", "d"]).Train!.Task);
        Assert.Equal("stsb", GlueCommandLine.Parse(["--task", "STS-B", "--data-dir", "d"]).Train!.Task);
        foreach (string name in GlueTasks.Names) Assert.Equal(name, GlueCommandLine.Parse(["--task", name, "--data-dir", "d"]).Train!.Task);
        foreach (var (value, adapter) in new[] { ("fossil", AdapterChoice.Fossil), ("fossil-mini", AdapterChoice.FossilMini),
                     ("fossil-bat", AdapterChoice.FossilBat), ("lora", AdapterChoice.Lora), ("full", AdapterChoice.Full) })
            Assert.Equal(adapter, GlueCommandLine.Parse(["--adapter", value]).Train!.Adapter);
    }

    [Fact]
    public void Every_predict_flag_is_read()
    {
        ParsedCommand command = GlueCommandLine.Parse(["predict", "--model", "m.zip", "--input", "test.tsv", "--text-column", "a",
            "--text2-column", "b", "--output", "out.txt", "--verbose"]);
        Assert.Equal(Verb.Predict, command.Verb);
        PredictSettings p = command.Predict!;
        Assert.Equal(("m.zip", "test.tsv", "a", "b", "out.txt", true), (p.Model, p.Input, p.TextColumn, p.Text2Column, p.Output, p.Verbose));
    }

    [Theory]
    [InlineData("Unknown option --bogus", "--bogus")]
    [InlineData("Unknown command 'fit'", "fit")]
    [InlineData("Option --epochs needs a value", "--epochs")]
    [InlineData("Option --epochs needs a value", "--epochs", "--seed", "1")]
    [InlineData("--epochs needs a whole number, got 'three'", "--epochs", "three")]
    [InlineData("--epochs must be at least 1, got 0", "--epochs", "0")]
    [InlineData("--rank needs a whole number, got '1.5'", "--rank", "1.5")]
    [InlineData("--batch-size must be at least 1", "--batch-size", "-4")]
    [InlineData("--max-length must be at least 8", "--max-length", "4")]
    [InlineData("--learning-rate needs a number such as 2e-3, got 'fast'", "--learning-rate", "fast")]
    [InlineData("--learning-rate must be positive", "--learning-rate", "-1e-3")]
    [InlineData("--seed needs a whole number", "--seed", "1e3")]
    [InlineData("Unknown --task 'squad'", "--task", "squad", "--data-dir", "d")]
    [InlineData("Unknown --adapter 'prefix'", "--adapter", "prefix")]
    [InlineData("--task needs --data-dir", "--task", "sst2")]
    [InlineData("--data-dir needs --task", "--data-dir", "d")]
    [InlineData("--train needs --validation", "--train", "a.tsv")]
    [InlineData("--validation needs --train", "--validation", "a.tsv")]
    [InlineData("--task reads its own files", "--task", "rte", "--data-dir", "d", "--train", "a.tsv", "--validation", "b.tsv")]
    [InlineData("--task sst2 defines its own columns", "--task", "sst2", "--data-dir", "d", "--text-column", "x")]
    [InlineData("--task stsb defines its own columns and label type: --regression", "--task", "stsb", "--data-dir", "d", "--regression")]
    [InlineData("need --train and --validation", "--label-column", "y")]
    [InlineData("--rank does not apply to --adapter full", "--adapter", "full", "--rank", "8")]
    [InlineData("Option --seed is given more than once", "--seed", "1", "--seed", "2")]
    [InlineData("Option --regression takes no value", "--regression=yes")]
    [InlineData("Unexpected argument 'extra'", "--epochs", "1", "extra")]
    [InlineData("Option --model does not apply to the train command", "--model", "m.zip")]
    [InlineData("Option --epochs does not apply to the predict command", "predict", "--model", "m", "--input", "i", "--output", "o", "--epochs", "1")]
    [InlineData("predict needs --model", "predict", "--input", "i", "--output", "o")]
    [InlineData("predict needs --input", "predict", "--model", "m", "--output", "o")]
    [InlineData("predict needs --output", "predict", "--model", "m", "--input", "i")]
    [InlineData("Option --output needs a non-empty value", "--output=")]
    public void Bad_usage_exits_2_with_the_message_and_the_usage_text(string message, params string[] args)
    {
        var (exit, output, error) = Run(args);
        Assert.Equal(GlueApp.BadUsage, exit);
        Assert.Contains(message, error);
        Assert.Contains("usage:", error);
        Assert.Equal("", output);
        Assert.Throws<UsageException>(() => GlueCommandLine.Parse(args));
    }

    [Fact]
    public void Help_prints_the_usage_and_exits_0()
    {
        var (exit, output, error) = Run("--help");
        Assert.Equal(GlueApp.Ok, exit);
        Assert.Contains("--task NAME --data-dir DIR", output);
        Assert.Contains("predict --model model.zip --input FILE", output);
        Assert.Equal("", error);
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
