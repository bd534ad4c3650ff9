using System.Collections.Concurrent;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>A problem with a data file: the message names the file and, where there is one, the line (1-based, header included).</summary>
public sealed class DataFileException : Exception
{
    /// <summary>Creates the exception; <paramref name="line"/> 0 means the file as a whole.</summary>
    public DataFileException(string path, long line, string message)
        : base(line > 0 ? $"{path}, line {line}: {message}" : $"{path}: {message}")
    {
        FilePath = path;
        Line = line;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }
    /// <summary>1-based line number, or 0 for the whole file.</summary>
    public long Line { get; }
}

/// <summary>How a file's fields are separated and quoted: the settings ML.NET's TextLoader reads it with.</summary>
/// <param name="Separator">Field separator.</param>
/// <param name="AllowQuoting">Whether fields may be enclosed in double quotes ("" is a quote inside one).</param>
public sealed record FileFormat(char Separator, bool AllowQuoting)
{
    /// <summary>Tab-separated, never quoted: Glue's files (QQP and MNLI have stray quotes inside fields).</summary>
    public static readonly FileFormat Tsv = new('\t', false);
    /// <summary>Comma-separated with quoted fields.</summary>
    public static readonly FileFormat Csv = new(',', true);

    /// <summary>CSV for *.csv, TSV otherwise.</summary>
    public static FileFormat For(string path) =>
        Path.GetExtension(path).Equals(".csv", StringComparison.OrdinalIgnoreCase) ? Csv : Tsv;

    /// <summary>For messages.</summary>
    public override string ToString() => Separator == '\t' ? "tab-separated" : $"'{Separator}'-separated";

    /// <summary>The one TextLoader configuration every read of a file of this format uses (the checks and the data alike).</summary>
    public TextLoader.Options LoaderOptions(bool hasHeader, int? maxRows, params TextLoader.Column[] columns) => new()
    {
        Columns = columns,
        Separators = [Separator],
        AllowQuoting = AllowQuoting,
        HasHeader = hasHeader,
        TrimWhitespace = false,
        MissingRealsAsNaNs = true, // an empty score is missing (NaN), not 0
        MaxRows = maxRows,
    };
}

/// <summary>A file's columns: from its header row, or fixed by a header-less layout (CoLA's train/dev).</summary>
/// <param name="Path">The file.</param>
/// <param name="Format">Separator and quoting.</param>
/// <param name="HasHeader">Whether the first row is a header (ML.NET skips it).</param>
/// <param name="Columns">Column names in file order; every data row has exactly this many fields.</param>
/// <param name="HeaderLine">The header's line number (line 1 unless empty or comment lines come first).</param>
public sealed record TableLayout(string Path, FileFormat Format, bool HasHeader, IReadOnlyList<string> Columns, long HeaderLine = 1)
{
    /// <summary>Fields per row.</summary>
    public int FieldCount => Columns.Count;

    /// <summary>Reads the first row as the header; the file must exist and not be empty.</summary>
    public static TableLayout FromHeader(string path, FileFormat format)
    {
        var (header, line) = DataFiles.FirstRow(path, format);
        var duplicates = header.GroupBy(h => h, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
            throw new DataFileException(path, line, $"the header names column(s) {string.Join(", ", duplicates.Select(d => $"'{d}'"))} more than once.");
        return new TableLayout(path, format, true, header, line);
    }

    /// <summary>Index of <paramref name="name"/>; the error lists the columns there are.</summary>
    public int IndexOf(string name, string role)
    {
        for (int i = 0; i < Columns.Count; i++)
            if (Columns[i] == name) return i;
        string where = HasHeader ? $"the header (line {HeaderLine})" : "the header-less layout";
        throw new DataFileException(Path, HasHeader ? HeaderLine : 0,
            $"{where} has no {role} column '{name}'; the columns are: {string.Join(", ", Columns.Select(c => $"'{c}'"))}.");
    }
}

/// <summary>One column to read: its index in the file and its name in the IDataView.</summary>
/// <param name="Name">Column name in the loaded IDataView (the header's name for text columns, "Label" for labels).</param>
/// <param name="Index">0-based field index in the file.</param>
/// <param name="FileName">The column's name in the file, for messages.</param>
public sealed record ColumnRef(string Name, int Index, string FileName);

/// <summary>What to read from a file, and how to check its labels.</summary>
/// <param name="Layout">The file's layout.</param>
/// <param name="Text1">The sentence column.</param>
/// <param name="Text2">The second sentence column, or null.</param>
/// <param name="Label">The label column, or null (unlabelled files such as Glue's test.tsv).</param>
/// <param name="Regression">Labels are floats (else class names, text).</param>
/// <param name="Classes">The allowed class names, or null for any non-empty text.</param>
public sealed record DataSpec(TableLayout Layout, ColumnRef Text1, ColumnRef? Text2, ColumnRef? Label, bool Regression, IReadOnlyList<string>? Classes)
{
    /// <summary>The label column's name in the loaded data.</summary>
    public const string LabelColumn = "Label";

    /// <summary>Output column names of the runner's models; input columns must not use them.</summary>
    public static readonly IReadOnlyList<string> Reserved = [LabelColumn, "Score", "PredictedLabel", "PredictedLabelText"];

    /// <summary>Checks the text columns' names do not collide with the model's columns.</summary>
    public DataSpec Checked()
    {
        foreach (ColumnRef text in new[] { Text1, Text2 }.OfType<ColumnRef>())
            if (Reserved.Contains(text.Name))
                throw new DataFileException(Layout.Path, Layout.HasHeader ? Layout.HeaderLine : 0,
                    $"the text column is named '{text.Name}', a name the model uses for its own columns ({string.Join(", ", Reserved)}): rename it in the header.");
        if (Text2 is not null && Text2.Index == Text1.Index)
            throw new DataFileException(Layout.Path, 0, $"the two sentence columns are the same column '{Text1.FileName}'.");
        if (Label is not null && (Label.Index == Text1.Index || Label.Index == Text2?.Index))
            throw new DataFileException(Layout.Path, 0, $"the label column '{Label.FileName}' is also a sentence column.");
        return this;
    }
}

/// <summary>A file checked row by row: its data rows' line numbers and labels.</summary>
public sealed class ScannedTable
{
    internal ScannedTable(DataSpec spec, List<long> lines, List<string>? labels, List<float>? scores, int? maxRows)
    {
        Spec = spec;
        LineNumbers = lines;
        Labels = labels;
        Scores = scores;
        MaxRows = maxRows;
    }

    /// <summary>What was read.</summary>
    public DataSpec Spec { get; }
    /// <summary>The file.</summary>
    public string Path => Spec.Layout.Path;
    /// <summary>1-based line number of each data row, in order.</summary>
    public IReadOnlyList<long> LineNumbers { get; }
    /// <summary>The label text of each row (null when there is no label column).</summary>
    public IReadOnlyList<string>? Labels { get; }
    /// <summary>Regression: each row's label as ML.NET reads it (null otherwise).</summary>
    public IReadOnlyList<float>? Scores { get; }
    /// <summary>The row limit the scan honoured, or null.</summary>
    public int? MaxRows { get; }
    /// <summary>Data rows.</summary>
    public int Rows => LineNumbers.Count;
}

/// <summary>
/// Reading data files with ML.NET's TextLoader. It splits every row, but it never complains: a short row gives
/// missing values (an empty string, or NaN for a Single), a row starting with "//" is skipped as a comment, and broken
/// quoting is only a warning in the log. So a first pass reads each row's fields with the same TextLoader settings and
/// stops at the first problem with the file and line; then the data is loaded with those settings.
/// </summary>
public static class DataFiles
{
    /// <summary>The first row's fields (the header, or CoLA's first data row) and its line number.</summary>
    public static (string[] Fields, long Line) FirstRow(string path, FileFormat format)
    {
        if (!File.Exists(path)) throw new DataFileException(path, 0, "file not found.");
        List<long> lines = RowLines(path, hasHeader: false, maxRows: 1);
        if (lines.Count == 0) throw new DataFileException(path, 0, "the file is empty (its first line should be the header).");
        using var read = new FieldReader(path, format, hasHeader: false, maxRows: 1, labelIndex: null);
        if (!read.MoveNext(out string[] fields, out _) || read.FormatError is not null)
            throw new DataFileException(path, lines[0], $"cannot read the first row: {read.FormatError ?? "no fields"}.");
        return (fields, lines[0]);
    }

    /// <summary>Checks every data row of <paramref name="spec"/>'s file (up to <paramref name="maxRows"/>): field count and label.</summary>
    public static ScannedTable Scan(DataSpec spec, int? maxRows = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Checked();
        TableLayout layout = spec.Layout;
        string path = layout.Path;
        if (!File.Exists(path)) throw new DataFileException(path, 0, "file not found.");
        List<long> lines = RowLines(path, layout.HasHeader, maxRows);
        List<string>? labels = spec.Label is null ? null : [];
        List<float>? scores = spec.Label is not null && spec.Regression ? [] : null;
        int row = 0;
        using (var read = new FieldReader(path, layout.Format, layout.HasHeader, maxRows, scores is null ? null : spec.Label!.Index))
        {
            while (read.MoveNext(out string[] fields, out float score))
            {
                long line = row < lines.Count ? lines[row] : 0;
                string? problem = null;
                if (fields.Length != layout.FieldCount)
                    problem = $"malformed row: {fields.Length} {layout.Format} field(s), expected {layout.FieldCount} " +
                              $"({(layout.HasHeader ? "as in the header" : "the layout's columns")}: {string.Join(", ", layout.Columns)}).";
                else if (spec.Label is { } label && LabelProblem(fields[label.Index], score, spec) is { } labelProblem)
                    problem = $"unparsable label '{fields[label.Index]}' in column '{label.FileName}': {labelProblem}.";
                if (problem is not null)
                    throw new DataFileException(path, line, problem + (read.FormatError is { } f ? $" (ML.NET's TextLoader: {f})" : ""));
                labels?.Add(fields[spec.Label!.Index]);
                scores?.Add(score);
                row++;
            }
            if (read.FormatError is { } formatError) throw new DataFileException(path, 0, $"ML.NET's TextLoader cannot read the quoting: {formatError}.");
        }
        if (row != lines.Count)
            throw new DataFileException(path, 0, $"ML.NET's TextLoader read {row} rows where the file has {lines.Count} data rows.");
        if (row == 0) throw new DataFileException(path, 0, "the file has no data rows.");
        return new ScannedTable(spec, lines, labels, scores, maxRows);
    }

    static string? LabelProblem(string value, float score, DataSpec spec)
    {
        if (value.Length == 0) return "the label is empty";
        if (value.Trim().Length != value.Length) return "the label has surrounding spaces";
        if (spec.Regression) return float.IsFinite(score) ? null : "expected a number";
        if (spec.Classes is { } classes && !classes.Contains(value))
            return $"expected one of {string.Join(", ", classes.Select(a => $"'{a}'"))}";
        return null;
    }

    /// <summary>
    /// Loads <paramref name="table"/>'s rows with ML.NET's TextLoader (text columns as String; the label as String, or
    /// Single for regression), with the settings the scan checked them with.
    /// </summary>
    public static IDataView Load(MLContext ml, ScannedTable table)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentNullException.ThrowIfNull(table);
        DataSpec spec = table.Spec;
        var columns = new List<TextLoader.Column> { new(spec.Text1.Name, DataKind.String, spec.Text1.Index) };
        if (spec.Text2 is { } text2) columns.Add(new TextLoader.Column(text2.Name, DataKind.String, text2.Index));
        if (spec.Label is { } label) columns.Add(new TextLoader.Column(label.Name, spec.Regression ? DataKind.Single : DataKind.String, label.Index));
        return ml.Data.CreateTextLoader(spec.Layout.Format.LoaderOptions(spec.Layout.HasHeader, table.MaxRows, [.. columns])).Load(table.Path);
    }

    /// <summary>
    /// The 1-based line of each row TextLoader reads: it skips empty lines and lines starting with "//", and before the
    /// first row (the header, or the first data row) also lines starting with '#'. A later row starting with "//" would
    /// be lost silently, so it is an error here.
    /// </summary>
    static List<long> RowLines(string path, bool hasHeader, int? maxRows)
    {
        var rows = new List<long>();
        long number = 0;
        bool started = false;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0) continue;
            if (maxRows is int max && rows.Count >= max) break;
            bool comment = line.StartsWith("//", StringComparison.Ordinal);
            if (!started)
            {
                if (comment || line[0] == '#') continue;
                started = true;
                if (hasHeader) continue;
            }
            else if (comment)
            {
                throw new DataFileException(path, number, "the row begins with '//', which ML.NET's TextLoader skips as a comment line: the row would be lost.");
            }
            rows.Add(number);
        }
        return rows;
    }

    /// <summary>
    /// Each row's fields as TextLoader splits them (one variable-length text vector), and regression's label as it reads
    /// it. Its own MLContext's log catches TextLoader's format errors (broken quoting), which are never thrown.
    /// </summary>
    sealed class FieldReader : IDisposable
    {
        readonly ConcurrentQueue<string> formatErrors = new();
        readonly DataViewRowCursor cursor;
        readonly ValueGetter<VBuffer<ReadOnlyMemory<char>>> getFields;
        readonly ValueGetter<float>? getScore;
        VBuffer<ReadOnlyMemory<char>> fields;

        public FieldReader(string path, FileFormat format, bool hasHeader, int? maxRows, int? labelIndex)
        {
            var ml = new MLContext();
            ml.Log += (_, e) =>
            {
                if (e.Kind == ChannelMessageKind.Warning && e.RawMessage.StartsWith("Format error", StringComparison.Ordinal)) formatErrors.Enqueue(e.RawMessage);
            };
            var columns = new List<TextLoader.Column> { new("Fields", DataKind.String, [new TextLoader.Range(0, null) { AutoEnd = false, VariableEnd = true }]) };
            if (labelIndex is int index) columns.Add(new TextLoader.Column("Score", DataKind.Single, index));
            IDataView data = ml.Data.CreateTextLoader(format.LoaderOptions(hasHeader, maxRows, [.. columns])).Load(path);
            cursor = data.GetRowCursor(data.Schema);
            getFields = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(data.Schema["Fields"]);
            getScore = labelIndex is null ? null : cursor.GetGetter<float>(data.Schema["Score"]);
        }

        /// <summary>The first format error TextLoader logged so far, or null.</summary>
        public string? FormatError => formatErrors.TryPeek(out string? first) ? first : null;

        public bool MoveNext(out string[] values, out float score)
        {
            score = float.NaN;
            values = [];
            if (!cursor.MoveNext()) return false;
            getFields(ref fields);
            values = [.. fields.DenseValues().Select(f => f.ToString())]; // empty fields are implicit (sparse) zeros: DenseValues gives them as ""
            getScore?.Invoke(ref score);
            return true;
        }

        public void Dispose() => cursor.Dispose();
    }
}
