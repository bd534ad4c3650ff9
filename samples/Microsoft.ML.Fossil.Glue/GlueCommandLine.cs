using System.CommandLine;
// Microsoft.ML.Command (a namespace) would hide System.CommandLine.Command inside Microsoft.ML.Fossil.Glue.
using CliCommand = System.CommandLine.Command;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>Bad usage: an unknown flag, a missing or malformed value, conflicting options. Exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The adapter choices of <c>--adapter</c>.</summary>
public enum AdapterChoice
{
    /// <summary>FOSSIL, one shard per adapted layer.</summary>
    Fossil,
    /// <summary>FOSSIL mini: a shard tiled along the output.</summary>
    FossilMini,
    /// <summary>FOSSIL bat: block-affine.</summary>
    FossilBat,
    /// <summary>LoRA.</summary>
    Lora,
    /// <summary>Full fine-tuning: every parameter trains.</summary>
    Full,
}

/// <summary>
/// Options of the train command. Null means "not given": the library's default applies (the trainer's Options
/// field is left as it is), except in the embedded default, which sets its own epochs, batch, length and rate.
/// </summary>
public sealed class TrainSettings
{
    /// <summary>Glue task name (<c>--task</c>), lower case.</summary>
    public string? Task { get; set; }
    /// <summary>Folder with the task's files in the official Glue layout (<c>--data-dir</c>).</summary>
    public string? DataDir { get; set; }
    /// <summary>Generic mode: training file (<c>--train</c>).</summary>
    public string? TrainFile { get; set; }
    /// <summary>Generic mode: validation file (<c>--validation</c>).</summary>
    public string? ValidationFile { get; set; }
    /// <summary>Generic mode: the sentence column (header name).</summary>
    public string? TextColumn { get; set; }
    /// <summary>Generic mode: the second sentence column of pair tasks.</summary>
    public string? Text2Column { get; set; }
    /// <summary>Generic mode: the label column.</summary>
    public string? LabelColumn { get; set; }
    /// <summary>Generic mode: float labels, similarity regression.</summary>
    public bool Regression { get; set; }
    /// <summary><c>minilm</c> or a Hugging Face folder.</summary>
    public string? Backbone { get; set; }
    /// <summary>Adapter kind.</summary>
    public AdapterChoice? Adapter { get; set; }
    /// <summary>Adapter rank.</summary>
    public int? Rank { get; set; }
    /// <summary>Passes over the training data.</summary>
    public int? Epochs { get; set; }
    /// <summary>Rows per step.</summary>
    public int? BatchSize { get; set; }
    /// <summary>Longest token sequence (pairs together).</summary>
    public int? MaxLength { get; set; }
    /// <summary>Peak learning rate.</summary>
    public double? LearningRate { get; set; }
    /// <summary>Seed of the MLContext (and so of initialisation and shuffling).</summary>
    public int? Seed { get; set; }
    /// <summary>The frozen backbone's format while training (<c>--precision</c>); null: the library's default (Auto).</summary>
    public Precision? Precision { get; set; }
    /// <summary>Where the model zip goes.</summary>
    public string? Output { get; set; }
    /// <summary>Where the metrics JSON goes.</summary>
    public string? MetricsJson { get; set; }
    /// <summary>Where the validation predictions go, one line per row.</summary>
    public string? Predictions { get; set; }
    /// <summary>Read only the first N training rows (<c>--max-train-rows</c>).</summary>
    public int? MaxTrainRows { get; set; }
    /// <summary>Read only the first N rows of each validation file (<c>--max-validation-rows</c>).</summary>
    public int? MaxValidationRows { get; set; }
    /// <summary>Evaluate after every epoch and keep the best epoch (<c>--eval-each-epoch</c>).</summary>
    public bool EvalEachEpoch { get; set; }
    /// <summary>Plain progress lines even on a terminal (<c>--plain</c>).</summary>
    public bool Plain { get; set; }
    /// <summary>ML.NET log and stack traces (<c>--verbose</c>).</summary>
    public bool Verbose { get; set; }

    /// <summary>Neither a Glue task nor files: the bundled fine-food reviews.</summary>
    public bool IsEmbeddedDefault => Task is null && TrainFile is null;

    /// <summary>The combinations of options System.CommandLine does not check; throws <see cref="UsageException"/>.</summary>
    public TrainSettings Checked()
    {
        static void Fail(string message) => throw new UsageException(message);
        if (Task is not null && DataDir is null) Fail("--task needs --data-dir (the folder with the task's train.tsv and dev.tsv).");
        if (DataDir is not null && Task is null) Fail($"--data-dir needs --task ({string.Join("|", GlueTasks.Names)}).");
        if (Task is not null && (TrainFile ?? ValidationFile) is not null)
            Fail("--task reads its own files: give either --task and --data-dir, or --train and --validation.");
        string[] columnOptions = [.. new[] { ("--text-column", TextColumn), ("--text2-column", Text2Column), ("--label-column", LabelColumn), ("--regression", Regression ? "" : null) }
            .Where(c => c.Item2 is not null).Select(c => c.Item1)];
        if (Task is not null && columnOptions.Length > 0)
            Fail($"--task {Task} defines its own columns and label type: {string.Join(", ", columnOptions)} apply to --train files only.");
        if (TrainFile is not null && ValidationFile is null) Fail("--train needs --validation (a labelled file to evaluate on).");
        if (ValidationFile is not null && TrainFile is null) Fail("--validation needs --train.");
        if (IsEmbeddedDefault && columnOptions.Length > 0)
            Fail($"{string.Join(", ", columnOptions)} {(columnOptions.Length == 1 ? "needs" : "need")} --train and --validation.");
        if (Rank is not null && Adapter == AdapterChoice.Full) Fail("--rank does not apply to --adapter full.");
        if (TextColumn is not null && TextColumn == Text2Column) Fail("--text-column and --text2-column name the same column.");
        if (LabelColumn is not null && (LabelColumn == (TextColumn ?? "sentence") || LabelColumn == Text2Column)) Fail("--label-column names a text column.");
        return this;
    }
}

/// <summary>Options of the predict command.</summary>
public sealed class PredictSettings
{
    /// <summary>The model zip (unless <see cref="PeftAdapter"/>).</summary>
    public string Model { get; set; } = "";
    /// <summary>A PEFT adapter folder to serve instead of a model zip.</summary>
    public string? PeftAdapter { get; set; }
    /// <summary>The PEFT adapter's backbone (minilm, a folder or a hub id); null: the adapter's base_model_name_or_path.</summary>
    public string? Backbone { get; set; }
    /// <summary>The file to score.</summary>
    public string Input { get; set; } = "";
    /// <summary>The output file, one line per input row.</summary>
    public string Output { get; set; } = "";
    /// <summary>The input's sentence column when its name differs from the training data's.</summary>
    public string? TextColumn { get; set; }
    /// <summary>The input's second sentence column when its name differs from the training data's.</summary>
    public string? Text2Column { get; set; }
    /// <summary>The precision a TorchSharp model serves in (<c>--precision</c>); null: the library's default (Auto, or FOSSIL_SERVING_PRECISION).</summary>
    public Precision? Precision { get; set; }
    /// <summary>Stack traces on errors.</summary>
    public bool Verbose { get; set; }
}

/// <summary>Options of the export-onnx command.</summary>
public sealed class ExportOnnxSettings
{
    /// <summary>The model zip.</summary>
    public string Model { get; set; } = "";
    /// <summary>The export folder to write.</summary>
    public string Output { get; set; } = "";
    /// <summary>int8 weights for the encoder's linear layers (<c>--int8</c>).</summary>
    public bool Int8 { get; set; }
    /// <summary>Stack traces on errors.</summary>
    public bool Verbose { get; set; }
}

/// <summary>Options of the export-peft command.</summary>
public sealed class ExportPeftSettings
{
    /// <summary>The model zip.</summary>
    public string Model { get; set; } = "";
    /// <summary>The PEFT adapter folder to write.</summary>
    public string Output { get; set; } = "";
    /// <summary>Stack traces on errors.</summary>
    public bool Verbose { get; set; }
}

/// <summary>
/// The runner's command line, declared with System.CommandLine: <c>[train] [options]</c> (the root command trains too)
/// and <c>predict</c>. System.CommandLine splits the arguments, converts and checks each value and writes the help;
/// <see cref="TrainSettings.Checked"/> checks the combinations.
/// </summary>
public static class GlueCommandLine
{
    /// <summary>The name the help shows.</summary>
    public const string AppName = "Microsoft.ML.Fossil.Glue";

    /// <summary>Printed after the generated help of the train (root) command.</summary>
    public const string TrainNotes = """
        Data: --task NAME --data-dir DIR, or --train FILE --validation FILE; with neither, the embedded default
        (all-MiniLM-L6-v2 + FOSSIL on the bundled fine-food reviews in samples/data, evaluated on the bundled test slice,
        saved to fossil-finefoods.zip). Options not given keep the library's defaults; the metrics JSON reports the values used.

        """;

    /// <summary>Printed after every command's help.</summary>
    public const string ExitCodes = "Exit codes: 0 ok, 1 error, 2 bad usage.";

    /// <summary>
    /// The commands: <paramref name="train"/> runs for the root command and <c>train</c>, <paramref name="predict"/>
    /// for <c>predict</c>; each returns the exit code. Combinations that do not go together throw <see cref="UsageException"/>.
    /// </summary>
    public static RootCommand Create(Func<TrainSettings, int> train, Func<PredictSettings, int> predict, Func<ExportPeftSettings, int>? exportPeft = null,
        Func<ExportOnnxSettings, int>? exportOnnx = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(predict);

        // Data.
        var task = Flag("--task", "NAME", $"Glue task: {string.Join("|", GlueTasks.Names)}, read from --data-dir in the official Glue layout " +
            "(train.tsv, dev.tsv; MNLI: dev_matched.tsv, dev_mismatched.tsv)", TaskName);
        var dataDir = Flag("--data-dir", "DIR", "The Glue task's folder", Text);
        var trainFile = Flag("--train", "FILE", "Any TSV/CSV with a header to train on (.csv: comma, quoted fields; else tab, unquoted)", Text);
        var validationFile = Flag("--validation", "FILE", "The labelled file to evaluate on, with --train", Text);
        var textColumn = Flag("--text-column", "C", "--train files: the sentence column (default: sentence)", Text);
        var text2Column = Flag("--text2-column", "C", "--train files: the second sentence column of pair tasks", Text);
        var labelColumn = Flag("--label-column", "C", "--train files: the label column (default: label)", Text);
        var regression = Switch("--regression", "--train files: float labels, similarity regression");
        // Model and training: not given, the trainer's own default applies.
        var backbone = Flag("--backbone", "minilm|PATH|ORG/NAME", "all-MiniLM-L6-v2 (default), a Hugging Face folder, or a hub id (org/name[@revision]; " +
            "Hugging Face's cache, HF_TOKEN and HF_HUB_OFFLINE apply)", Text);
        var adapter = Flag<AdapterChoice?>("--adapter", "fossil|fossil-mini|fossil-bat|lora|full", "Adapter (default: fossil)", AdapterName);
        var rank = Number("--rank", 1, "Adapter rank (default: 64 for FOSSIL, 8 for LoRA)");
        var epochs = Number("--epochs", 1, "Passes over the training data");
        var batchSize = Number("--batch-size", 1, "Rows per step");
        var maxLength = Number("--max-length", 8, "Longest token sequence, pairs together");
        var learningRate = Flag<double?>("--learning-rate", "X", "Peak learning rate", PositiveNumber);
        var seed = Number("--seed", int.MinValue, "Seed of the MLContext: initialisation and shuffling");
        var precision = Flag<Precision?>("--precision", "fp32|bf16|fp16|auto", "The frozen backbone's format while training (default: auto, " +
            "bf16 where the CPU or GPU runs it natively, else fp32; fp16 on CUDA only); the metrics JSON reports the one used", PrecisionName);
        // Outputs.
        var output = Flag("--output", "FILE", "The saved model zip (default: fossil-<task>.zip here; fossil-model.zip for --train)", Text);
        var metricsJson = Flag("--metrics-json", "FILE", "Parameters, timings, size and validation metrics as JSON", Text);
        var predictions = Flag("--predictions", "FILE", "One predicted label (or score) per validation row, in input order", Text);
        // More.
        var maxTrainRows = Number("--max-train-rows", 1, "Read only the first N training rows");
        var maxValidationRows = Number("--max-validation-rows", 1, "Read only the first N rows of each validation file");
        var evalEachEpoch = Switch("--eval-each-epoch", "Evaluate after each epoch and keep the best epoch");
        var plain = Switch("--plain", "Plain progress lines instead of the live display");
        var verbose = Switch("--verbose", "ML.NET's log, and stack traces on errors");
        Option[] trainOptions =
        [
            task, dataDir, trainFile, validationFile, textColumn, text2Column, labelColumn, regression,
            backbone, adapter, rank, epochs, batchSize, maxLength, learningRate, seed, precision,
            output, metricsJson, predictions, maxTrainRows, maxValidationRows, evalEachEpoch, plain, verbose,
        ];
        int Train(ParseResult r) => train(new TrainSettings
        {
            Task = r.GetValue(task), DataDir = r.GetValue(dataDir), TrainFile = r.GetValue(trainFile), ValidationFile = r.GetValue(validationFile),
            TextColumn = r.GetValue(textColumn), Text2Column = r.GetValue(text2Column), LabelColumn = r.GetValue(labelColumn),
            Regression = r.GetValue(regression), Backbone = r.GetValue(backbone), Adapter = r.GetValue(adapter), Rank = r.GetValue(rank),
            Epochs = r.GetValue(epochs), BatchSize = r.GetValue(batchSize), MaxLength = r.GetValue(maxLength), LearningRate = r.GetValue(learningRate),
            Seed = r.GetValue(seed), Precision = r.GetValue(precision), Output = r.GetValue(output), MetricsJson = r.GetValue(metricsJson), Predictions = r.GetValue(predictions),
            MaxTrainRows = r.GetValue(maxTrainRows), MaxValidationRows = r.GetValue(maxValidationRows),
            EvalEachEpoch = r.GetValue(evalEachEpoch), Plain = r.GetValue(plain), Verbose = r.GetValue(verbose),
        }.Checked());

        var root = new RootCommand("Fine-tunes a BERT/RoBERTa backbone with FOSSIL adapters (or LoRA, or full fine-tuning) through an " +
                                   "ML.NET pipeline, saves the model zip, loads it back and evaluates it.") { HelpName = AppName };
        var trainCommand = new CliCommand("train", "Fine-tune, save, reload and evaluate (the default command: the options above)");
        foreach (Option option in trainOptions)
        {
            root.Options.Add(option);
            trainCommand.Options.Add(option);
        }
        root.SetAction(Train);
        trainCommand.SetAction(Train);

        var model = Flag("--model", "FILE", "The model zip (or --peft-adapter)", Text);
        var peftAdapter = Flag("--peft-adapter", "DIR", "A PEFT adapter folder (MiSS or LoRA, SEQ_CLS) to serve instead of a model zip", Text);
        var peftBackbone = Flag("--backbone", "minilm|PATH|ORG/NAME", "With --peft-adapter: its backbone (default: its base_model_name_or_path)", Text);
        var input = Flag("--input", "FILE", "The TSV/CSV to score (a header, or CoLA's header-less rows)", Text, required: true);
        var predictText = Flag("--text-column", "C", "The input's sentence column, when its name differs from the training data's", Text);
        var predictText2 = Flag("--text2-column", "C", "The input's second sentence column, likewise", Text);
        var predictOutput = Flag("--output", "FILE", "One prediction per input row", Text, required: true);
        var predictPrecision = Flag<Precision?>("--precision", "fp32|bf16|fp16|auto",
            "The format a TorchSharp model serves in (default: auto, or FOSSIL_SERVING_PRECISION); an ONNX Runtime model computes in its export's", PrecisionName);
        var predictVerbose = Switch("--verbose", "Stack traces on errors");
        var predictCommand = new CliCommand("predict",
            "Apply a saved model to a file: predict --model model.zip --input FILE [--text-column C] [--text2-column C] --output FILE " +
            "(model.zip: a zip this runner saved, or the mlnet-model.zip of export-onnx, served by ONNX Runtime); " +
            "or a PEFT adapter on its backbone: predict --peft-adapter DIR [--backbone SRC] --input FILE [--text-column C] [--text2-column C] --output FILE")
            { model, peftAdapter, peftBackbone, input, predictText, predictText2, predictOutput, predictPrecision, predictVerbose };
        predictCommand.SetAction(r =>
        {
            string? zip = r.GetValue(model), adapterFolder = r.GetValue(peftAdapter), adapterBackbone = r.GetValue(peftBackbone);
            if ((zip is null) == (adapterFolder is null)) throw new UsageException("predict needs either --model or --peft-adapter.");
            if (adapterBackbone is not null && adapterFolder is null) throw new UsageException("--backbone goes with --peft-adapter (a model zip knows its backbone).");
            return predict(new PredictSettings
            {
                Model = zip ?? "", PeftAdapter = adapterFolder, Backbone = adapterBackbone, Input = r.GetRequiredValue(input),
                Output = r.GetRequiredValue(predictOutput), TextColumn = r.GetValue(predictText), Text2Column = r.GetValue(predictText2),
                Precision = r.GetValue(predictPrecision), Verbose = r.GetValue(predictVerbose),
            });
        });

        var exportModel = Flag("--model", "FILE", "The model zip", Text, required: true);
        var exportOutput = Flag("--output", "DIR", "The PEFT adapter folder to write (adapter_config.json, adapter_model.safetensors, config.json, tokenizer)", Text, required: true);
        var exportVerbose = Switch("--verbose", "Stack traces on errors");
        var exportCommand = new CliCommand("export-peft",
            "Write a saved FOSSIL or LoRA model as a PEFT adapter folder that Python's PEFT loads: export-peft --model model.zip --output DIR")
            { exportModel, exportOutput, exportVerbose };
        exportCommand.SetAction(r => (exportPeft ?? throw new InvalidOperationException("export-peft is not wired."))(new ExportPeftSettings
        {
            Model = r.GetRequiredValue(exportModel), Output = r.GetRequiredValue(exportOutput), Verbose = r.GetValue(exportVerbose),
        }));

        var onnxModel = Flag("--model", "FILE", "The model zip", Text, required: true);
        var onnxOutput = Flag("--output", "DIR", "The export folder to write (model.onnx, config.json, tokenizer files, mlnet-model.zip)", Text, required: true);
        var onnxInt8 = Switch("--int8", "int8 weights for the encoder's linear layers (dynamic quantization; smaller and faster, check the accuracy)");
        var onnxVerbose = Switch("--verbose", "Stack traces on errors");
        var exportOnnxCommand = new CliCommand("export-onnx",
            "Export a saved model for ONNX Runtime: export-onnx --model model.zip --output DIR [--int8]; DIR/mlnet-model.zip serves " +
            "through predict (or mlContext.Model.Load) without libtorch, and DIR is the folder Hugging Face Optimum reads")
            { onnxModel, onnxOutput, onnxInt8, onnxVerbose };
        exportOnnxCommand.SetAction(r => (exportOnnx ?? throw new InvalidOperationException("export-onnx is not wired."))(new ExportOnnxSettings
        {
            Model = r.GetRequiredValue(onnxModel), Output = r.GetRequiredValue(onnxOutput), Int8 = r.GetValue(onnxInt8), Verbose = r.GetValue(onnxVerbose),
        }));

        // `help` as a command too, as the hand-written parser had it; no --version (the sample has none).
        var helpCommand = new CliCommand("help", "This text") { Hidden = true };
        helpCommand.SetAction(r => root.Parse(["--help"]).Invoke(r.InvocationConfiguration));
        root.Subcommands.Add(trainCommand);
        root.Subcommands.Add(predictCommand);
        root.Subcommands.Add(exportCommand);
        root.Subcommands.Add(exportOnnxCommand);
        root.Subcommands.Add(helpCommand);
        foreach (Option option in root.Options.OfType<VersionOption>().ToList()) root.Options.Remove(option);
        HelpOption help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithNotes((HelpAction)help.Action!);
        return root;
    }

    /// <summary>System.CommandLine's help, then <see cref="TrainNotes"/> (not for predict) and <see cref="ExitCodes"/>.</summary>
    sealed class HelpWithNotes(HelpAction help) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int exit = help.Invoke(parseResult);
            TextWriter output = parseResult.InvocationConfiguration.Output;
            if (parseResult.CommandResult.Command.Name is not ("predict" or "export-peft" or "export-onnx")) output.WriteLine(TrainNotes);
            output.WriteLine(ExitCodes);
            return exit;
        }
    }

    /// <summary>An option with a value; <paramref name="parse"/> throws <see cref="UsageException"/> on a bad one.</summary>
    static Option<T> Flag<T>(string name, string helpName, string description, Func<string, string, T> parse, bool required = false) => new(name)
    {
        HelpName = helpName,
        Description = description,
        Required = required,
        CustomParser = result =>
        {
            string value = result.Tokens[^1].Value;
            // System.CommandLine takes the next token as the value even when it is another option: `--epochs --seed 1`.
            string? problem = value.StartsWith("--", StringComparison.Ordinal) && value.Length > 2 ? $"Option {name} needs a value."
                : string.IsNullOrWhiteSpace(value) ? $"Option {name} needs a non-empty value." : null;
            try
            {
                if (problem is null) return parse(name, value);
            }
            catch (UsageException e)
            {
                problem = e.Message;
            }
            result.AddError(problem);
            return default!;
        },
    };

    static Option<bool> Switch(string name, string description) => new(name) { Description = description, Arity = ArgumentArity.Zero };

    static Option<int?> Number(string name, int minimum, string description) => Flag<int?>(name, "N", description, (option, value) =>
    {
        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int result))
            throw new UsageException($"{option} needs a whole number, got '{value}'.");
        return result >= minimum ? result : throw new UsageException($"{option} must be at least {minimum}, got {result}.");
    });

    static string Text(string option, string value) => value;

    static double? PositiveNumber(string option, string value)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result) || !double.IsFinite(result))
            throw new UsageException($"{option} needs a number such as 2e-3, got '{value}'.");
        return result > 0 ? result : throw new UsageException($"{option} must be positive, got {value}.");
    }

    static string TaskName(string option, string value)
    {
        string name = value.ToLowerInvariant().Replace("-", "", StringComparison.Ordinal);
        name = name switch { "sst" => "sst2", "sts" => "stsb", _ => name };
        return GlueTasks.Names.Contains(name) ? name
            : throw new UsageException($"Unknown {option} '{value}': expected one of {string.Join(", ", GlueTasks.Names)}.");
    }

    /// <summary>The precision's command-line spelling.</summary>
    public static string Name(this Precision precision) => precision switch
    {
        Precision.Float32 => "fp32",
        Precision.BFloat16 => "bf16",
        Precision.Float16 => "fp16",
        _ => "auto",
    };

    static Precision? PrecisionName(string option, string value) => value.ToLowerInvariant() switch
    {
        "fp32" or "float32" => Precision.Float32,
        "bf16" or "bfloat16" => Precision.BFloat16,
        "fp16" or "float16" => Precision.Float16,
        "auto" => Precision.Auto,
        _ => throw new UsageException($"Unknown {option} '{value}': expected fp32, bf16, fp16 or auto."),
    };

    /// <summary>The adapter's command-line spelling.</summary>
    public static string Name(this AdapterChoice adapter) => adapter switch
    {
        AdapterChoice.Fossil => "fossil",
        AdapterChoice.FossilMini => "fossil-mini",
        AdapterChoice.FossilBat => "fossil-bat",
        AdapterChoice.Lora => "lora",
        _ => "full",
    };

    static AdapterChoice? AdapterName(string option, string value) => value.ToLowerInvariant() switch
    {
        "fossil" => AdapterChoice.Fossil,
        "fossil-mini" => AdapterChoice.FossilMini,
        "fossil-bat" => AdapterChoice.FossilBat,
        "lora" => AdapterChoice.Lora,
        "full" => AdapterChoice.Full,
        _ => throw new UsageException($"Unknown {option} '{value}': expected fossil, fossil-mini, fossil-bat, lora or full."),
    };
}
