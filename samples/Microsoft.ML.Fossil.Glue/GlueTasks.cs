namespace Microsoft.ML.Fossil.Glue;

/// <summary>The validation metrics a task reports (besides the ones every run reports).</summary>
public static class MetricNames
{
    /// <summary>Share of correct predictions.</summary>
    public const string Accuracy = "accuracy";
    /// <summary>F1 of the positive class "1" (binary tasks).</summary>
    public const string F1 = "f1";
    /// <summary>Matthews correlation coefficient.</summary>
    public const string Mcc = "mcc";
    /// <summary>Pearson correlation (regression).</summary>
    public const string Pearson = "pearson";
    /// <summary>Spearman rank correlation (regression).</summary>
    public const string Spearman = "spearman";
    /// <summary>MNLI: accuracy on dev_matched.tsv.</summary>
    public const string MatchedAccuracy = "matched_accuracy";
    /// <summary>MNLI: accuracy on dev_mismatched.tsv.</summary>
    public const string MismatchedAccuracy = "mismatched_accuracy";
}

/// <summary>
/// One Glue task in the official folder layout (as the GLUE download script writes it): its files,
/// its columns (found by name in the header row, CoLA's header-less train/dev excepted), its labels
/// and its metrics.
/// </summary>
/// <param name="Name">Lower-case name for --task.</param>
/// <param name="Title">Display name.</param>
/// <param name="Text1">Header name of the (first) sentence column.</param>
/// <param name="Text2">Header name of the second sentence column, or null.</param>
/// <param name="Label">Header name of the label column (absent from test.tsv).</param>
/// <param name="Classes">Class names in output order, or null for regression (STS-B).</param>
/// <param name="ValidationFiles">Labelled evaluation files: dev.tsv, or MNLI's matched and mismatched.</param>
/// <param name="Metrics">The task's official metrics.</param>
/// <param name="BestEpochMetric">The official metric that picks the best epoch with --eval-each-epoch (MCC for CoLA, F1 for MRPC and QQP, Pearson for STS-B, accuracy otherwise).</param>
public sealed record GlueTask(string Name, string Title, string Text1, string? Text2, string Label, IReadOnlyList<string>? Classes,
    IReadOnlyList<string> ValidationFiles, IReadOnlyList<string> Metrics, EarlyStoppingMetric BestEpochMetric = EarlyStoppingMetric.Accuracy)
{
    /// <summary>The training file of every task.</summary>
    public const string TrainFile = "train.tsv";

    /// <summary>CoLA's train.tsv and dev.tsv have no header: source, label, original label ("*" when unacceptable), sentence.</summary>
    public static readonly IReadOnlyList<string> ColaHeaderlessColumns = ["source", "label", "original_label", "sentence"];

    /// <summary>Similarity regression (STS-B).</summary>
    public bool IsRegression => Classes is null;

    /// <summary>
    /// The layout of one of the task's files, decided by reading its first row: for CoLA a first row of
    /// four fields whose second is 0 or 1 is data (train/dev have no header), anything else is a header
    /// (test.tsv: index, sentence); every other task's files start with a header, which must name the
    /// task's sentence column unless <paramref name="requireTextColumn"/> is false (the caller picks columns).
    /// </summary>
    public TableLayout Layout(string path, bool requireTextColumn = true)
    {
        string[] first = DataFiles.FirstRow(path, FileFormat.Tsv).Fields;
        if (Name == "cola" && first.Length == ColaHeaderlessColumns.Count && first[1] is "0" or "1")
            return new TableLayout(path, FileFormat.Tsv, false, ColaHeaderlessColumns);
        TableLayout layout = TableLayout.FromHeader(path, FileFormat.Tsv);
        if (requireTextColumn && !layout.Columns.Contains(Text1))
            throw new DataFileException(path, layout.HeaderLine,
                $"line {layout.HeaderLine} is not a {Title} header: it has no '{Text1}' column (it has {string.Join(", ", layout.Columns.Select(c => $"'{c}'"))})" +
                (Name == "cola" ? "; CoLA's header-less train.tsv and dev.tsv rows have four fields: source, label 0/1, original label, sentence." : "."));
        return layout;
    }

    /// <summary>What to read from one of the task's files; <paramref name="labelled"/> false for test files.</summary>
    public DataSpec Spec(string path, bool labelled)
    {
        TableLayout layout = Layout(path);
        ColumnRef Text(string name, string role) => new(name, layout.IndexOf(name, role), name);
        return new DataSpec(layout, Text(Text1, "sentence"), Text2 is null ? null : Text(Text2, "second sentence"),
            labelled ? new ColumnRef(DataSpec.LabelColumn, layout.IndexOf(Label, "label"), Label) : null,
            IsRegression, Classes).Checked();
    }
}

/// <summary>The nine Glue tasks.</summary>
public static class GlueTasks
{
    static readonly string[] Binary = ["0", "1"];
    static readonly string[] Entailment = ["entailment", "not_entailment"];

    /// <summary>All tasks by name.</summary>
    public static readonly IReadOnlyList<GlueTask> All =
    [
        // train/dev: no header (source, label, original label, sentence); test: index, sentence.
        new("cola", "CoLA", "sentence", null, "label", Binary, ["dev.tsv"], [MetricNames.Mcc, MetricNames.Accuracy], EarlyStoppingMetric.Mcc),
        // sentence, label; test: index, sentence.
        new("sst2", "SST-2", "sentence", null, "label", Binary, ["dev.tsv"], [MetricNames.Accuracy]),
        // Quality, #1 ID, #2 ID, #1 String, #2 String (the files start with a UTF-8 byte-order mark); test: index instead of Quality.
        new("mrpc", "MRPC", "#1 String", "#2 String", "Quality", Binary, ["dev.tsv"], [MetricNames.Accuracy, MetricNames.F1], EarlyStoppingMetric.F1),
        // id, qid1, qid2, question1, question2, is_duplicate; test: id, question1, question2. Stray quotes: never quoted.
        new("qqp", "QQP", "question1", "question2", "is_duplicate", Binary, ["dev.tsv"], [MetricNames.Accuracy, MetricNames.F1], EarlyStoppingMetric.F1),
        // index, genre, filename, year, old_index, source1, source2, sentence1, sentence2, score (10 columns; test has 9).
        new("stsb", "STS-B", "sentence1", "sentence2", "score", null, ["dev.tsv"], [MetricNames.Pearson, MetricNames.Spearman], EarlyStoppingMetric.Pearson),
        // index, promptID, pairID, genre, 4 parses, sentence1 (8), sentence2 (9), label1 [.. label5 in dev], gold_label (last).
        new("mnli", "MNLI", "sentence1", "sentence2", "gold_label", ["entailment", "neutral", "contradiction"],
            ["dev_matched.tsv", "dev_mismatched.tsv"], [MetricNames.MatchedAccuracy, MetricNames.MismatchedAccuracy]),
        // index, question, sentence, label.
        new("qnli", "QNLI", "question", "sentence", "label", Entailment, ["dev.tsv"], [MetricNames.Accuracy]),
        // index, sentence1, sentence2, label.
        new("rte", "RTE", "sentence1", "sentence2", "label", Entailment, ["dev.tsv"], [MetricNames.Accuracy]),
        new("wnli", "WNLI", "sentence1", "sentence2", "label", Binary, ["dev.tsv"], [MetricNames.Accuracy]),
    ];

    /// <summary>The task names.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(t => t.Name)];

    /// <summary>The task called <paramref name="name"/>.</summary>
    public static GlueTask Get(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new UsageException($"Unknown Glue task '{name}': expected one of {string.Join(", ", Names)}.");
}
