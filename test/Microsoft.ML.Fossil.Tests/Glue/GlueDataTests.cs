using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Glue;

namespace Microsoft.ML.Fossil.Tests.Glue;

/// <summary>
/// Each Glue task's file layouts on tiny fixtures (columns found, header or not, labels, the metrics
/// chosen), read by the runner's first pass and by ML.NET's TextLoader; malformed rows reported with
/// file and line.
/// </summary>
public sealed class GlueDataTests : IDisposable
{
    readonly GlueFixtures fixtures = new();
    readonly MLContext ml = new(seed: 1);

    public void Dispose() => fixtures.Dispose();

    static string[] Strings(IDataView data, string column) => [.. data.GetColumn<string>(column)];

    (ScannedTable Table, IDataView Data) Read(DataSpec spec)
    {
        ScannedTable table = DataFiles.Scan(spec);
        return (table, DataFiles.Load(ml, table));
    }

    [Fact]
    public void Every_task_has_its_metrics_and_label_set()
    {
        Assert.Equal(["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"], GlueTasks.Names);
        Assert.Equal([MetricNames.Mcc, MetricNames.Accuracy], GlueTasks.Get("cola").Metrics);
        Assert.Equal([MetricNames.Accuracy], GlueTasks.Get("sst2").Metrics);
        Assert.Equal([MetricNames.Accuracy, MetricNames.F1], GlueTasks.Get("mrpc").Metrics);
        Assert.Equal([MetricNames.Accuracy, MetricNames.F1], GlueTasks.Get("qqp").Metrics);
        Assert.Equal([MetricNames.Pearson, MetricNames.Spearman], GlueTasks.Get("stsb").Metrics);
        Assert.Equal([MetricNames.MatchedAccuracy, MetricNames.MismatchedAccuracy], GlueTasks.Get("mnli").Metrics);
        Assert.Equal(["dev_matched.tsv", "dev_mismatched.tsv"], GlueTasks.Get("mnli").ValidationFiles);
        foreach (string name in new[] { "qnli", "rte", "wnli" }) Assert.Equal([MetricNames.Accuracy], GlueTasks.Get(name).Metrics);
        Assert.True(GlueTasks.Get("stsb").IsRegression);
        Assert.Equal(["entailment", "neutral", "contradiction"], GlueTasks.Get("mnli").Classes);
        Assert.Equal(["entailment", "not_entailment"], GlueTasks.Get("rte").Classes);
        Assert.Equal(["0", "1"], GlueTasks.Get("wnli").Classes);
    }

    [Fact]
    public void Sst2_reads_sentence_and_label_by_header_and_test_without_labels()
    {
        string dir = fixtures.Sst2();
        GlueTask sst2 = GlueTasks.Get("sst2");
        DataSpec train = sst2.Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.True(train.Layout.HasHeader);
        Assert.Equal((0, 1), (train.Text1.Index, train.Label!.Index));
        Assert.Null(train.Text2);
        var (table, data) = Read(train);
        Assert.Equal(12, table.Rows);
        Assert.Equal(2, table.LineNumbers[0]); // line 1 is the header
        Assert.Equal("a gorgeous , witty , seductive movie . ", Strings(data, "sentence")[0]);
        Assert.Equal(["1", "0"], Strings(data, "Label")[..2]);

        DataSpec test = sst2.Spec(Path.Combine(dir, "test.tsv"), labelled: false);
        Assert.Equal(1, test.Text1.Index); // index, sentence
        Assert.Null(test.Label);
        Assert.Equal(5, Read(test).Table.Rows);
    }

    [Fact]
    public void Cola_train_and_dev_have_no_header_and_test_has_one()
    {
        string dir = fixtures.Cola();
        GlueTask cola = GlueTasks.Get("cola");
        DataSpec train = cola.Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.False(train.Layout.HasHeader);
        Assert.Equal(GlueTask.ColaHeaderlessColumns, train.Layout.Columns);
        Assert.Equal((3, 1), (train.Text1.Index, train.Label!.Index));
        var (table, data) = Read(train);
        Assert.Equal(8, table.Rows);
        Assert.Equal(1, table.LineNumbers[0]); // the first line is data
        // ML.NET's TextLoader does not skip the first row either.
        Assert.Equal("Our friends won't buy this analysis, let alone the next one we propose.", Strings(data, "sentence")[0]);
        Assert.Equal(["1", "1", "0"], Strings(data, "Label")[..3]);

        DataSpec test = cola.Spec(Path.Combine(dir, "test.tsv"), labelled: false);
        Assert.True(test.Layout.HasHeader);
        Assert.Equal(1, test.Text1.Index);
        var (testTable, testData) = Read(test);
        Assert.Equal(3, testTable.Rows);
        Assert.Equal("Bill whistled past the house.", Strings(testData, "sentence")[0]);
    }

    [Fact]
    public void Mrpc_header_with_byte_order_mark_and_quotes_left_alone()
    {
        string dir = fixtures.Mrpc();
        Assert.Equal([0xEF, 0xBB, 0xBF], File.ReadAllBytes(Path.Combine(dir, "train.tsv"))[..3]);
        GlueTask mrpc = GlueTasks.Get("mrpc");
        DataSpec train = mrpc.Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.Equal("Quality", train.Layout.Columns[0]); // no byte-order mark in the name
        Assert.Equal((3, 4, 0), (train.Text1.Index, train.Text2!.Index, train.Label!.Index));
        var (table, data) = Read(train);
        Assert.Equal(6, table.Rows);
        Assert.Equal("Amrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .", Strings(data, "#1 String")[0]);
        Assert.StartsWith("Referring to him", Strings(data, "#2 String")[0]);

        DataSpec test = mrpc.Spec(Path.Combine(dir, "test.tsv"), labelled: false);
        Assert.Equal((3, 4), (test.Text1.Index, test.Text2!.Index));
        Assert.Equal(3, Read(test).Table.Rows);
    }

    [Fact]
    public void Qqp_stray_quotes_stay_inside_their_field()
    {
        string dir = fixtures.Qqp();
        DataSpec train = GlueTasks.Get("qqp").Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.Equal((3, 4, 5), (train.Text1.Index, train.Text2!.Index, train.Label!.Index));
        Assert.False(train.Layout.Format.AllowQuoting);
        var (table, data) = Read(train);
        Assert.Equal(6, table.Rows);
        Assert.Equal("Where can I find a \"power outlet for my laptop at Melbourne Airport?", Strings(data, "question1")[4]);
        Assert.Equal(["0", "1", "0", "1", "0", "0"], Strings(data, "Label"));
        DataSpec test = GlueTasks.Get("qqp").Spec(Path.Combine(dir, "test.tsv"), labelled: false);
        Assert.Equal((1, 2), (test.Text1.Index, test.Text2!.Index));
    }

    [Fact]
    public void Stsb_score_is_the_last_of_ten_columns_and_a_float()
    {
        string dir = fixtures.Stsb();
        GlueTask stsb = GlueTasks.Get("stsb");
        DataSpec train = stsb.Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.Equal(10, train.Layout.FieldCount);
        Assert.Equal((7, 8, 9), (train.Text1.Index, train.Text2!.Index, train.Label!.Index));
        Assert.True(train.Regression);
        var (_, data) = Read(train);
        Assert.Equal([5f, 3.8f, 3.8f, 2.6f, 4.25f, 4.25f, 0.5f, 1.6f], data.GetColumn<float>("Label"));
        Assert.Equal("An air plane is taking off.", Strings(data, "sentence2")[0]);
        DataSpec test = stsb.Spec(Path.Combine(dir, "test.tsv"), labelled: false);
        Assert.Equal(9, test.Layout.FieldCount);
        Assert.Equal(3, Read(test).Table.Rows);
    }

    [Fact]
    public void Mnli_sentences_at_8_and_9_gold_label_last_in_train_and_both_dev_files()
    {
        string dir = fixtures.Mnli();
        GlueTask mnli = GlueTasks.Get("mnli");
        DataSpec train = mnli.Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.Equal((8, 9, 11), (train.Text1.Index, train.Text2!.Index, train.Label!.Index));
        foreach (string dev in mnli.ValidationFiles)
        {
            DataSpec spec = mnli.Spec(Path.Combine(dir, dev), labelled: true);
            Assert.Equal((8, 9, 15), (spec.Text1.Index, spec.Text2!.Index, spec.Label!.Index));
            Assert.Equal(16, spec.Layout.FieldCount);
        }
        var (_, data) = Read(train);
        Assert.Equal("neutral", Strings(data, "Label")[0]);
        Assert.Equal("Product and geography are what make cream skimming work. ", Strings(data, "sentence2")[0]);
        DataSpec test = mnli.Spec(Path.Combine(dir, "test_matched.tsv"), labelled: false);
        Assert.Equal((8, 9, 10), (test.Text1.Index, test.Text2!.Index, test.Layout.FieldCount));
    }

    [Theory]
    [InlineData("qnli", "question", "sentence")]
    [InlineData("rte", "sentence1", "sentence2")]
    [InlineData("wnli", "sentence1", "sentence2")]
    public void Indexed_pair_tasks_read_index_text_text_label(string task, string text1, string text2)
    {
        string dir = fixtures.IndexedPairs(task);
        DataSpec train = GlueTasks.Get(task).Spec(Path.Combine(dir, "train.tsv"), labelled: true);
        Assert.Equal((text1, text2), (train.Text1.Name, train.Text2!.Name));
        Assert.Equal((1, 2, 3), (train.Text1.Index, train.Text2.Index, train.Label!.Index));
        Assert.Equal(4, Read(train).Table.Rows);
    }

    static DataFileException Malformed(Action read) => Assert.Throws<DataFileException>(read);

    [Fact]
    public void A_row_with_a_missing_field_is_reported_with_file_and_line()
    {
        string dir = fixtures.Sst2();
        string path = Path.Combine(dir, "train.tsv");
        List<string> lines = [.. File.ReadAllLines(path)];
        lines[3] = "a row whose label went missing .";
        File.WriteAllLines(path, lines);
        // What the first pass protects against: ML.NET's TextLoader reads the short row as an empty label.
        IDataView silent = ml.Data.CreateTextLoader([new TextLoader.Column("Label", DataKind.String, 1)], separatorChar: '\t', hasHeader: true).Load(path);
        Assert.Equal("", Strings(silent, "Label")[2]);

        var error = Malformed(() => DataFiles.Scan(GlueTasks.Get("sst2").Spec(path, labelled: true)));
        Assert.Equal(4, error.Line);
        Assert.Equal(path, error.FilePath);
        Assert.Contains($"{path}, line 4: malformed row: 1 tab-separated field(s), expected 2", error.Message);
    }

    [Fact]
    public void A_short_mnli_dev_row_is_reported_with_its_line()
    {
        string dir = fixtures.Mnli();
        string path = Path.Combine(dir, "dev_mismatched.tsv");
        List<string> lines = [.. File.ReadAllLines(path)];
        lines[2] = string.Join('\t', lines[2].Split('\t')[..15]);
        File.WriteAllLines(path, lines);
        var error = Malformed(() => DataFiles.Scan(GlueTasks.Get("mnli").Spec(path, labelled: true)));
        Assert.Equal(3, error.Line);
        Assert.Contains("15 tab-separated field(s), expected 16", error.Message);
    }

    [Fact]
    public void An_unparsable_stsb_score_is_reported_and_ML_NET_alone_would_read_0()
    {
        string dir = fixtures.Stsb();
        string path = Path.Combine(dir, "dev.tsv");
        List<string> lines = [.. File.ReadAllLines(path)];
        lines[4] = lines[4][..lines[4].LastIndexOf('\t')] + "\tn/a";
        File.WriteAllLines(path, lines);
        var error = Malformed(() => DataFiles.Scan(GlueTasks.Get("stsb").Spec(path, labelled: true)));
        Assert.Equal(5, error.Line);
        Assert.Contains("unparsable label 'n/a' in column 'score': expected a number", error.Message);

        // The scores are ML.NET's own reading of the column.
        ScannedTable train = DataFiles.Scan(GlueTasks.Get("stsb").Spec(Path.Combine(dir, "train.tsv"), labelled: true));
        Assert.Equal([5f, 3.8f, 3.8f, 2.6f, 4.25f, 4.25f, 0.5f, 1.6f], train.Scores);
        Assert.Equal("5.000", train.Labels![0]);
    }

    [Theory]
    [InlineData("cola", "train.tsv", 6, "2", "expected one of '0', '1'")]
    [InlineData("mnli", "train.tsv", 3, "maybe", "expected one of 'entailment', 'neutral', 'contradiction'")]
    [InlineData("rte", "dev.tsv", 2, "", "the label is empty")]
    public void A_label_outside_the_task_s_classes_is_reported(string task, string file, int line, string label, string expected)
    {
        string dir = task switch { "cola" => fixtures.Cola(), "mnli" => fixtures.Mnli(), _ => fixtures.IndexedPairs(task) };
        string path = Path.Combine(dir, file);
        List<string> lines = [.. File.ReadAllLines(path)];
        string[] fields = lines[line - 1].Split('\t');
        int labelIndex = task == "cola" ? 1 : fields.Length - 1;
        fields[labelIndex] = label;
        lines[line - 1] = string.Join('\t', fields);
        File.WriteAllLines(path, lines);
        var error = Malformed(() => DataFiles.Scan(GlueTasks.Get(task).Spec(path, labelled: true)));
        Assert.Equal(line, error.Line);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_comment_looking_row_that_ML_NET_would_drop_is_reported()
    {
        string path = fixtures.Write("generic", "comment.tsv", ["sentence\tlabel", "fine\t1", "// not a comment, a review\t0"]);
        var error = Malformed(() => DataFiles.Scan(GlueRunner.FileSpec(path, "sentence", null, "label", false)));
        Assert.Equal(3, error.Line);
        Assert.Contains("comment", error.Message);
    }

    [Fact]
    public void Empty_lines_are_skipped_as_ML_NET_skips_them_and_line_numbers_stay_true()
    {
        string path = fixtures.Write("generic", "gaps.tsv", ["sentence\tlabel", "one\t1", "", "two\t0", "", "three\t1"]);
        var (table, data) = Read(GlueRunner.FileSpec(path, "sentence", null, "label", false));
        Assert.Equal([2L, 4L, 6L], table.LineNumbers);
        Assert.Equal(["one", "two", "three"], Strings(data, "sentence"));
    }

    [Fact]
    public void Csv_files_are_read_with_quoting_and_broken_quotes_are_reported()
    {
        string path = fixtures.Write("generic", "reviews.csv",
            ["\"text\",stars", "\"Great, really great\",1", "\"She said \"\"meh\"\"\",0", "plain text,1"]);
        DataSpec spec = GlueRunner.FileSpec(path, "text", null, "stars", false);
        Assert.True(spec.Layout.Format.AllowQuoting);
        Assert.Equal(["text", "stars"], spec.Layout.Columns); // the header's quotes are ML.NET's to remove, too
        var (_, data) = Read(spec);
        Assert.Equal(["Great, really great", "She said \"meh\"", "plain text"], Strings(data, "text"));
        Assert.Equal(["1", "0", "1"], Strings(data, "Label"));

        // A quote never closed swallows the rest of the row: one field where two were expected, and ML.NET's own complaint.
        string broken = fixtures.Write("generic", "broken.csv", ["text,stars", "fine,1", "\"never closed,0"]);
        var error = Malformed(() => DataFiles.Scan(GlueRunner.FileSpec(broken, "text", null, "stars", false)));
        Assert.Equal(3, error.Line);
        Assert.Contains("1 ','-separated field(s), expected 2", error.Message);
        Assert.Contains("Illegal quoting", error.Message);

        // Text after a closing quote: the field count is right, but ML.NET would read the text as missing (only a log warning).
        string trailing = fixtures.Write("generic", "trailing.csv", ["text,stars", "fine,1", "\"quoted\" then more,0", "last,1"]);
        IDataView silent = ml.Data.CreateTextLoader(FileFormat.Csv.LoaderOptions(true, null, new TextLoader.Column("text", DataKind.String, 0))).Load(trailing);
        Assert.Equal(["fine", "", "last"], Strings(silent, "text"));
        error = Malformed(() => DataFiles.Scan(GlueRunner.FileSpec(trailing, "text", null, "stars", false)));
        Assert.Contains("ML.NET's TextLoader cannot read the quoting", error.Message);
        Assert.Contains($"{trailing}(3,", error.Message); // ML.NET's location: line 3
        Assert.Contains("Illegal quoting", error.Message);
    }

    [Fact]
    public void Lines_are_counted_as_ML_NET_counts_them()
    {
        // Leading empty and '#' lines before the header are skipped by TextLoader (and here); after it, '#' starts an ordinary row.
        string path = fixtures.Write("generic", "comments.tsv", ["", "# a comment before the header", "sentence\tlabel", "#1 fan here\t1", "meh\t0"]);
        DataSpec spec = GlueRunner.FileSpec(path, "sentence", null, "label", false);
        Assert.Equal(3, spec.Layout.HeaderLine);
        var (table, data) = Read(spec);
        Assert.Equal([4L, 5L], table.LineNumbers);
        Assert.Equal(["#1 fan here", "meh"], Strings(data, "sentence"));

        string missing = fixtures.Write("generic", "missing-column.tsv", ["", "text\tlabel", "a\t1"]);
        Assert.Contains("missing-column.tsv, line 2: the header (line 2) has no sentence", Malformed(() => GlueRunner.FileSpec(missing, "sentence", null, "label", false)).Message);
    }

    [Fact]
    public void A_row_with_too_many_fields_and_an_empty_score_are_reported()
    {
        string path = fixtures.Write("generic", "long.tsv", ["sentence\tlabel", "fine\t1", "a\ttab\t0"]);
        var error = Malformed(() => DataFiles.Scan(GlueRunner.FileSpec(path, "sentence", null, "label", false)));
        Assert.Equal(3, error.Line);
        Assert.Contains("3 tab-separated field(s), expected 2", error.Message);

        string scores = fixtures.Write("generic", "scores.tsv", ["sentence\tscore", "fine\t4.5", "blank\t"]);
        error = Malformed(() => DataFiles.Scan(GlueRunner.FileSpec(scores, "sentence", null, "score", true)));
        Assert.Equal(3, error.Line);
        Assert.Contains("unparsable label '' in column 'score': the label is empty", error.Message);
    }

    [Fact]
    public void Missing_files_and_columns_are_named()
    {
        string dir = fixtures.Sst2();
        var missing = Malformed(() => GlueTasks.Get("sst2").Spec(Path.Combine(dir, "nope.tsv"), labelled: true));
        Assert.Contains("nope.tsv: file not found", missing.Message);

        string path = Path.Combine(dir, "train.tsv");
        var column = Malformed(() => GlueRunner.FileSpec(path, "text", null, "label", false));
        Assert.Contains("no sentence (--text-column) column 'text'", column.Message);
        Assert.Contains("'sentence', 'label'", column.Message);

        // A file that is not the task's layout: SST-2's train.tsv given as MRPC.
        var wrongTask = Malformed(() => GlueTasks.Get("mrpc").Spec(path, labelled: true));
        Assert.Contains("not a MRPC header", wrongTask.Message);

        string reserved = fixtures.Write("generic", "reserved.tsv", ["Score\tlabel", "x\t1"]);
        Assert.Contains("'Score'", Malformed(() => GlueRunner.FileSpec(reserved, "Score", null, "label", false)).Message);

        string duplicate = fixtures.Write("generic", "duplicate.tsv", ["sentence\tsentence\tlabel", "x\ty\t1"]);
        Assert.Contains("line 1: the header names column(s) 'sentence' more than once", Malformed(() => GlueRunner.FileSpec(duplicate, "sentence", null, "label", false)).Message);

        string empty = fixtures.Write("generic", "empty.tsv", [""]);
        Assert.Contains("empty.tsv: the file is empty", Malformed(() => GlueRunner.FileSpec(empty, "sentence", null, "label", false)).Message);
        string headerOnly = fixtures.Write("generic", "header-only.tsv", ["sentence\tlabel"]);
        Assert.Contains("header-only.tsv: the file has no data rows", Malformed(() => DataFiles.Scan(GlueRunner.FileSpec(headerOnly, "sentence", null, "label", false))).Message);
    }

    [Fact]
    public void Row_limits_read_the_first_rows_in_both_passes()
    {
        string path = Path.Combine(GlueRunner.BundledDataFolder, "fine_foods_train.tsv");
        ScannedTable table = DataFiles.Scan(GlueRunner.FileSpec(path, "sentence", null, "label", false), maxRows: 7);
        IDataView data = DataFiles.Load(ml, table);
        Assert.Equal(7, table.Rows);
        Assert.Equal(7, Strings(data, "Label").Length);
        Assert.Equal(800, DataFiles.Scan(GlueRunner.FileSpec(path, "sentence", null, "label", false)).Rows);
    }
}
