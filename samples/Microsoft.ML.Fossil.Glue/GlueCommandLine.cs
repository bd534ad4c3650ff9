using System.Globalization;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>Bad usage: an unknown flag, a missing or malformed value, conflicting options. Exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>What the command line asks for.</summary>
public enum Verb
{
    /// <summary>Fine-tune (the default verb).</summary>
    Train,
    /// <summary>Apply a saved model to a file.</summary>
    Predict,
    /// <summary>Print the usage text.</summary>
    Help,
}

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

/// <summary>Options of the train verb. Null means "not given": the mode's default applies.</summary>
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
    public string Backbone { get; set; } = "minilm";
    /// <summary>Adapter kind.</summary>
    public AdapterChoice Adapter { get; set; } = AdapterChoice.Fossil;
    /// <summary>Adapter rank; null: 64 for FOSSIL, 8 for LoRA.</summary>
    public int? Rank { get; set; }
    /// <summary>Passes over the training data.</summary>
    public int? Epochs { get; set; }
    /// <summary>Rows per step.</summary>
    public int? BatchSize { get; set; }
    /// <summary>Longest token sequence (pairs together).</summary>
    public int? MaxLength { get; set; }
    /// <summary>Peak learning rate.</summary>
    public double? LearningRate { get; set; }
    /// <summary>Seed of initialisation and shuffling.</summary>
    public int Seed { get; set; } = 42;
    /// <summary>Where the model zip goes.</summary>
    public string? Output { get; set; }
    /// <summary>Where the metrics JSON goes.</summary>
    public string? MetricsJson { get; set; }
    /// <summary>Where the validation predictions go, one line per row.</summary>
    public string? Predictions { get; set; }

    // Not in the usage contract; for quick runs and tests.

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
}

/// <summary>Options of the predict verb.</summary>
public sealed class PredictSettings
{
    /// <summary>The model zip.</summary>
    public string Model { get; set; } = "";
    /// <summary>The file to score.</summary>
    public string Input { get; set; } = "";
    /// <summary>The output file, one line per input row.</summary>
    public string Output { get; set; } = "";
    /// <summary>The input's sentence column when its name differs from the training data's.</summary>
    public string? TextColumn { get; set; }
    /// <summary>The input's second sentence column when its name differs from the training data's.</summary>
    public string? Text2Column { get; set; }
    /// <summary>Stack traces on errors.</summary>
    public bool Verbose { get; set; }
}

/// <summary>A parsed command line.</summary>
public sealed record ParsedCommand(Verb Verb, TrainSettings? Train, PredictSettings? Predict);

/// <summary>Parses the runner's command line (see <see cref="Usage"/>); every problem is a <see cref="UsageException"/>.</summary>
public static class GlueCommandLine
{
    /// <summary>The Glue task names <c>--task</c> accepts.</summary>
    public static IReadOnlyList<string> TaskNames => GlueTasks.Names;

    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage:
          Microsoft.ML.Fossil.Glue [train] [options]
          Microsoft.ML.Fossil.Glue predict --model model.zip --input FILE [--text-column C] [--text2-column C] --output FILE

        With no data options, fine-tunes all-MiniLM-L6-v2 with FOSSIL on the bundled fine-food reviews
        (samples/data), evaluates on the bundled test slice and saves fossil-finefoods.zip.

        data (one of):
          --task NAME --data-dir DIR     cola|sst2|mrpc|qqp|stsb|mnli|qnli|rte|wnli in the official Glue layout
                                         (train.tsv, dev.tsv; MNLI: dev_matched.tsv, dev_mismatched.tsv)
          --train FILE --validation FILE any TSV/CSV with a header (.csv: comma, quoted fields; else tab, unquoted)
            --text-column C              sentence column (default: sentence)
            --text2-column C             second sentence column of pair tasks
            --label-column C             label column (default: label)
            --regression                 float labels: similarity regression

        model and training:
          --backbone minilm|PATH         all-MiniLM-L6-v2 (default) or a Hugging Face folder
          --adapter fossil|fossil-mini|fossil-bat|lora|full   (default: fossil)
          --rank N                       adapter rank (default: 64 for FOSSIL, 8 for LoRA)
          --epochs N  --batch-size N  --max-length N  --learning-rate X  --seed N

        outputs:
          --output model.zip             the saved model (default: fossil-<task>.zip here)
          --metrics-json FILE            parameters, timings, size and validation metrics as JSON
          --predictions FILE             one predicted label (or score) per validation row, in input order

        more:
          --max-train-rows N  --max-validation-rows N   read only the first N rows
          --eval-each-epoch              evaluate after each epoch and keep the best epoch
          --plain                        plain progress lines instead of the live display
          --verbose                      ML.NET's log, and stack traces on errors
          --help                         this text

        exit codes: 0 ok, 1 error, 2 bad usage
        """;

    enum Kind { Value, Switch }

    sealed record Flag(string Name, Kind Kind, Verb Verb, Action<TrainSettings, PredictSettings, string> Apply);

    static readonly Flag[] Flags =
    [
        new("--task", Kind.Value, Verb.Train, (t, _, v) => t.Task = TaskName(v)),
        new("--data-dir", Kind.Value, Verb.Train, (t, _, v) => t.DataDir = v),
        new("--train", Kind.Value, Verb.Train, (t, _, v) => t.TrainFile = v),
        new("--validation", Kind.Value, Verb.Train, (t, _, v) => t.ValidationFile = v),
        new("--text-column", Kind.Value, Verb.Train, (t, _, v) => t.TextColumn = v),
        new("--text2-column", Kind.Value, Verb.Train, (t, _, v) => t.Text2Column = v),
        new("--label-column", Kind.Value, Verb.Train, (t, _, v) => t.LabelColumn = v),
        new("--regression", Kind.Switch, Verb.Train, (t, _, _) => t.Regression = true),
        new("--backbone", Kind.Value, Verb.Train, (t, _, v) => t.Backbone = v),
        new("--adapter", Kind.Value, Verb.Train, (t, _, v) => t.Adapter = AdapterName(v)),
        new("--rank", Kind.Value, Verb.Train, (t, _, v) => t.Rank = Int("--rank", v, 1)),
        new("--epochs", Kind.Value, Verb.Train, (t, _, v) => t.Epochs = Int("--epochs", v, 1)),
        new("--batch-size", Kind.Value, Verb.Train, (t, _, v) => t.BatchSize = Int("--batch-size", v, 1)),
        new("--max-length", Kind.Value, Verb.Train, (t, _, v) => t.MaxLength = Int("--max-length", v, 8)),
        new("--learning-rate", Kind.Value, Verb.Train, (t, _, v) => t.LearningRate = Positive("--learning-rate", v)),
        new("--seed", Kind.Value, Verb.Train, (t, _, v) => t.Seed = Int("--seed", v, int.MinValue)),
        new("--output", Kind.Value, Verb.Train, (t, _, v) => t.Output = v),
        new("--metrics-json", Kind.Value, Verb.Train, (t, _, v) => t.MetricsJson = v),
        new("--predictions", Kind.Value, Verb.Train, (t, _, v) => t.Predictions = v),
        new("--max-train-rows", Kind.Value, Verb.Train, (t, _, v) => t.MaxTrainRows = Int("--max-train-rows", v, 1)),
        new("--max-validation-rows", Kind.Value, Verb.Train, (t, _, v) => t.MaxValidationRows = Int("--max-validation-rows", v, 1)),
        new("--eval-each-epoch", Kind.Switch, Verb.Train, (t, _, _) => t.EvalEachEpoch = true),
        new("--plain", Kind.Switch, Verb.Train, (t, _, _) => t.Plain = true),
        new("--verbose", Kind.Switch, Verb.Train, (t, _, _) => t.Verbose = true),

        new("--model", Kind.Value, Verb.Predict, (_, p, v) => p.Model = v),
        new("--input", Kind.Value, Verb.Predict, (_, p, v) => p.Input = v),
        new("--text-column", Kind.Value, Verb.Predict, (_, p, v) => p.TextColumn = v),
        new("--text2-column", Kind.Value, Verb.Predict, (_, p, v) => p.Text2Column = v),
        new("--output", Kind.Value, Verb.Predict, (_, p, v) => p.Output = v),
        new("--verbose", Kind.Switch, Verb.Predict, (_, p, _) => p.Verbose = true),
    ];

    /// <summary>Parses <paramref name="args"/>; throws <see cref="UsageException"/> naming the offending flag or value.</summary>
    public static ParsedCommand Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Any(a => a is "--help" or "-h" or "-?") || (args.Count > 0 && args[0] == "help")) return new ParsedCommand(Verb.Help, null, null);
        int start = 0;
        Verb verb = Verb.Train;
        if (args.Count > 0 && !args[0].StartsWith('-'))
        {
            verb = args[0] switch
            {
                "train" => Verb.Train,
                "predict" => Verb.Predict,
                _ => throw new UsageException($"Unknown command '{args[0]}': expected 'train', 'predict' or options starting with --."),
            };
            start = 1;
        }

        var train = new TrainSettings();
        var predict = new PredictSettings();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = start; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"Unexpected argument '{arg}': options start with --.");
            string name = arg;
            string? inline = null;
            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                name = arg[..equals];
                inline = arg[(equals + 1)..];
            }
            Flag flag = Flags.FirstOrDefault(f => f.Name == name && f.Verb == verb)
                ?? throw new UsageException(Flags.Any(f => f.Name == name)
                    ? $"Option {name} does not apply to the {verb.ToString().ToLowerInvariant()} command."
                    : $"Unknown option {name}.");
            if (!seen.Add(name)) throw new UsageException($"Option {name} is given more than once.");
            string value;
            if (flag.Kind == Kind.Switch)
            {
                if (inline is not null) throw new UsageException($"Option {name} takes no value.");
                value = "";
            }
            else if (inline is not null)
            {
                value = inline;
            }
            else
            {
                if (i + 1 >= args.Count || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
                    throw new UsageException($"Option {name} needs a value.");
                value = args[++i];
            }
            if (flag.Kind == Kind.Value && string.IsNullOrWhiteSpace(value)) throw new UsageException($"Option {name} needs a non-empty value.");
            flag.Apply(train, predict, value);
        }

        if (verb == Verb.Predict)
        {
            foreach (var (option, value) in new[] { ("--model", predict.Model), ("--input", predict.Input), ("--output", predict.Output) })
                if (value.Length == 0) throw new UsageException($"predict needs {option}.");
            return new ParsedCommand(Verb.Predict, null, predict);
        }
        CheckTrain(train);
        return new ParsedCommand(Verb.Train, train, null);
    }

    static void CheckTrain(TrainSettings t)
    {
        if (t.Task is not null && t.DataDir is null) throw new UsageException("--task needs --data-dir (the folder with the task's train.tsv and dev.tsv).");
        if (t.DataDir is not null && t.Task is null) throw new UsageException($"--data-dir needs --task ({string.Join("|", TaskNames)}).");
        if (t.Task is not null && (t.TrainFile ?? t.ValidationFile) is not null)
            throw new UsageException("--task reads its own files: give either --task and --data-dir, or --train and --validation.");
        if (t.Task is not null)
        {
            string[] defined = [.. new[] { ("--text-column", t.TextColumn), ("--text2-column", t.Text2Column), ("--label-column", t.LabelColumn) }
                .Where(c => c.Item2 is not null).Select(c => c.Item1)];
            if (t.Regression) defined = [.. defined, "--regression"];
            if (defined.Length > 0)
                throw new UsageException($"--task {t.Task} defines its own columns and label type: {string.Join(", ", defined)} apply to --train files only.");
        }
        if (t.TrainFile is not null && t.ValidationFile is null) throw new UsageException("--train needs --validation (a labelled file to evaluate on).");
        if (t.ValidationFile is not null && t.TrainFile is null) throw new UsageException("--validation needs --train.");
        if (t.IsEmbeddedDefault && (t.TextColumn ?? t.Text2Column ?? t.LabelColumn) is not null)
            throw new UsageException("--text-column, --text2-column and --label-column need --train and --validation.");
        if (t.IsEmbeddedDefault && t.Regression) throw new UsageException("--regression needs --train and --validation.");
        if (t.Rank is not null && t.Adapter == AdapterChoice.Full) throw new UsageException("--rank does not apply to --adapter full.");
        if (t.TextColumn is not null && t.TextColumn == t.Text2Column) throw new UsageException("--text-column and --text2-column name the same column.");
        if (t.LabelColumn is not null && (t.LabelColumn == (t.TextColumn ?? "sentence") || t.LabelColumn == t.Text2Column))
            throw new UsageException("--label-column names a text column.");
    }

    static string TaskName(string value)
    {
        string name = value.ToLowerInvariant().Replace("-", "", StringComparison.Ordinal);
        name = name switch { "sst" => "sst2", "sts" or "stsb" => "stsb", _ => name };
        if (!TaskNames.Contains(name)) throw new UsageException($"Unknown --task '{value}': expected one of {string.Join(", ", TaskNames)}.");
        return name;
    }

    static AdapterChoice AdapterName(string value) => value.ToLowerInvariant() switch
    {
        "fossil" => AdapterChoice.Fossil,
        "fossil-mini" => AdapterChoice.FossilMini,
        "fossil-bat" => AdapterChoice.FossilBat,
        "lora" => AdapterChoice.Lora,
        "full" => AdapterChoice.Full,
        _ => throw new UsageException($"Unknown --adapter '{value}': expected fossil, fossil-mini, fossil-bat, lora or full."),
    };

    static int Int(string option, string value, int minimum)
    {
        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int result))
            throw new UsageException($"{option} needs a whole number, got '{value}'.");
        if (result < minimum) throw new UsageException($"{option} must be at least {minimum}, got {result}.");
        return result;
    }

    static double Positive(string option, string value)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result) || !double.IsFinite(result))
            throw new UsageException($"{option} needs a number such as 2e-3, got '{value}'.");
        if (result <= 0) throw new UsageException($"{option} must be positive, got {value}.");
        return result;
    }

    /// <summary>The adapter's command-line spelling.</summary>
    public static string Name(this AdapterChoice adapter) => adapter switch
    {
        AdapterChoice.Fossil => "fossil",
        AdapterChoice.FossilMini => "fossil-mini",
        AdapterChoice.FossilBat => "fossil-bat",
        AdapterChoice.Lora => "lora",
        _ => "full",
    };
}
