using System.Globalization;
using System.Text;
using Microsoft.ML.Data;

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

/// <summary>How a file's fields are separated and quoted, as ML.NET's TextLoader is told.</summary>
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

    /// <summary>Splits one line as ML.NET's TextLoader does with these settings; throws <see cref="FormatException"/> on broken quoting.</summary>
    public string[] Split(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (!AllowQuoting) return line.Split(Separator);
        var fields = new List<string>();
        int i = 0;
        while (true)
        {
            if (i < line.Length && line[i] == '"')
            {
                var field = new StringBuilder();
                int opened = i++;
                while (true)
                {
                    if (i >= line.Length) throw new FormatException($"the quoted field starting at character {opened + 1} is not closed");
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    field.Append(line[i++]);
                }
                fields.Add(field.ToString());
                if (i == line.Length) break;
                if (line[i] != Separator) throw new FormatException($"text follows the closing quote at character {i}");
                i++;
            }
            else
            {
                int next = line.IndexOf(Separator, i);
                if (next < 0)
                {
                    fields.Add(line[i..]);
                    break;
                }
                fields.Add(line[i..next]);
                i = next + 1;
            }
        }
        return [.. fields];
    }
}

/// <summary>A file's columns: from its header row, or fixed by a header-less layout (CoLA's train/dev).</summary>
/// <param name="Path">The file.</param>
/// <param name="Format">Separator and quoting.</param>
/// <param name="HasHeader">Whether line 1 is a header (ML.NET skips it).</param>
/// <param name="Columns">Column names in file order; every data row has exactly this many fields.</param>
public sealed record TableLayout(string Path, FileFormat Format, bool HasHeader, IReadOnlyList<string> Columns)
{
    /// <summary>Fields per row.</summary>
    public int FieldCount => Columns.Count;

    /// <summary>Reads line 1 as the header; the file must exist and not be empty.</summary>
    public static TableLayout FromHeader(string path, FileFormat format)
    {
        string[] header = ReadFirstRow(path, format);
        var duplicates = header.GroupBy(h => h, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
            throw new DataFileException(path, 1, $"the header names column(s) {string.Join(", ", duplicates.Select(d => $"'{d}'"))} more than once.");
        return new TableLayout(path, format, true, header);
    }

    /// <summary>Line 1 split into fields; a clear error when the file is missing or empty.</summary>
    public static string[] ReadFirstRow(string path, FileFormat format)
    {
        if (!File.Exists(path)) throw new DataFileException(path, 0, "file not found.");
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        string? first = reader.ReadLine();
        if (string.IsNullOrEmpty(first)) throw new DataFileException(path, 1, "the file is empty (line 1 should be the header).");
        try
        {
            return format.Split(first);
        }
        catch (FormatException e)
        {
            throw new DataFileException(path, 1, $"cannot read the header: {e.Message}.");
        }
    }

    /// <summary>Index of <paramref name="name"/>; the error lists the columns there are.</summary>
    public int IndexOf(string name, string role)
    {
        for (int i = 0; i < Columns.Count; i++)
            if (Columns[i] == name) return i;
        string where = HasHeader ? "the header (line 1)" : "the header-less layout";
        throw new DataFileException(Path, HasHeader ? 1 : 0,
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
                throw new DataFileException(Layout.Path, Layout.HasHeader ? 1 : 0,
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
    internal ScannedTable(DataSpec spec, List<long> lines, List<string>? labels, int? maxRows)
    {
        Spec = spec;
        LineNumbers = lines;
        Labels = labels;
        MaxRows = maxRows;
    }

    /// <summary>What was read.</summary>
    public DataSpec Spec { get; }
    /// <summary>The file.</summary>
    public string Path => Spec.Layout.Path;
    /// <summary>1-based line number of each data row, in order.</summary>
    public IReadOnlyList<long> LineNumbers { get; }
    /// <summary>The raw label of each row (null when there is no label column).</summary>
    public IReadOnlyList<string>? Labels { get; }
    /// <summary>The row limit the scan honoured, or null.</summary>
    public int? MaxRows { get; }
    /// <summary>Data rows.</summary>
    public int Rows => LineNumbers.Count;
}

/// <summary>
/// Reading data files: a first pass of our own that checks every row (field count, label) and reports
/// the file and line of the first problem - ML.NET's TextLoader would silently turn a short row into
/// missing values (0 for a Single) - then ML.NET's TextLoader loads the same rows, and the two are
/// compared row by row.
/// </summary>
public static class DataFiles
{
    /// <summary>Checks every data row of <paramref name="spec"/>'s file (up to <paramref name="maxRows"/>).</summary>
    public static ScannedTable Scan(DataSpec spec, int? maxRows = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Checked();
        TableLayout layout = spec.Layout;
        string path = layout.Path;
        if (!File.Exists(path)) throw new DataFileException(path, 0, "file not found.");
        var lines = new List<long>();
        List<string>? labels = spec.Label is null ? null : [];
        var allowed = spec.Classes is null ? null : new HashSet<string>(spec.Classes, StringComparer.Ordinal);
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        long number = 0;
        string? line;
        if (layout.HasHeader)
        {
            reader.ReadLine();
            number = 1;
        }
        while ((line = reader.ReadLine()) is not null)
        {
            number++;
            if (line.Length == 0) continue; // ML.NET's TextLoader skips empty lines too
            if (maxRows is int max && lines.Count >= max) break;
            if (line.StartsWith("//", StringComparison.Ordinal))
                throw new DataFileException(path, number, "the row begins with '//', which ML.NET's TextLoader skips as a comment line: the row would be lost.");
            string[] fields;
            try
            {
                fields = layout.Format.Split(line);
            }
            catch (FormatException e)
            {
                throw new DataFileException(path, number, $"malformed row: {e.Message}.");
            }
            if (fields.Length != layout.FieldCount)
                throw new DataFileException(path, number,
                    $"malformed row: {fields.Length} {layout.Format} field(s), expected {layout.FieldCount} " +
                    $"({(layout.HasHeader ? "as in the header" : "the layout's columns")}: {string.Join(", ", layout.Columns)}).");
            if (spec.Label is { } label)
            {
                string value = fields[label.Index];
                if (CheckLabel(value, spec.Regression, allowed) is { } problem)
                    throw new DataFileException(path, number, $"unparsable label '{value}' in column '{label.FileName}': {problem}.");
                labels!.Add(value);
            }
            lines.Add(number);
        }
        if (lines.Count == 0) throw new DataFileException(path, 0, "the file has no data rows.");
        return new ScannedTable(spec, lines, labels, maxRows);
    }

    static string? CheckLabel(string value, bool regression, HashSet<string>? allowed)
    {
        if (value.Length == 0) return "the label is empty";
        if (value.Trim().Length != value.Length) return "the label has surrounding spaces";
        if (regression)
            return float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out float number) && float.IsFinite(number)
                ? null : "expected a number";
        if (allowed is not null && !allowed.Contains(value))
            return $"expected one of {string.Join(", ", allowed.Select(a => $"'{a}'"))}";
        return null;
    }

    /// <summary>The float value of a regression label the scan accepted.</summary>
    public static float ParseScore(string value) => float.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>
    /// Loads <paramref name="table"/> with ML.NET's TextLoader (text columns as String; the label as
    /// String, or Single for regression) and verifies ML.NET read the rows the scan checked, label by label.
    /// </summary>
    public static IDataView Load(MLContext ml, ScannedTable table)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentNullException.ThrowIfNull(table);
        DataSpec spec = table.Spec;
        var columns = new List<TextLoader.Column> { new(spec.Text1.Name, DataKind.String, spec.Text1.Index) };
        if (spec.Text2 is { } text2) columns.Add(new TextLoader.Column(text2.Name, DataKind.String, text2.Index));
        if (spec.Label is { } label) columns.Add(new TextLoader.Column(label.Name, spec.Regression ? DataKind.Single : DataKind.String, label.Index));
        TextLoader loader = ml.Data.CreateTextLoader([.. columns], separatorChar: spec.Layout.Format.Separator, hasHeader: spec.Layout.HasHeader,
            allowQuoting: spec.Layout.Format.AllowQuoting, trimWhitespace: false);
        IDataView data = loader.Load(table.Path);
        if (table.MaxRows is int max) data = ml.Data.TakeRows(data, max);
        Verify(data, table);
        return data;
    }

    static void Verify(IDataView data, ScannedTable table)
    {
        DataSpec spec = table.Spec;
        DataViewSchema.Column column = spec.Label is { } label ? data.Schema[label.Name] : data.Schema[spec.Text1.Name];
        using DataViewRowCursor cursor = data.GetRowCursor([column]);
        int row = 0;
        if (spec.Label is null)
        {
            while (cursor.MoveNext()) row++;
        }
        else if (spec.Regression)
        {
            ValueGetter<float> get = cursor.GetGetter<float>(column);
            float value = 0;
            while (cursor.MoveNext())
            {
                get(ref value);
                if (row < table.Rows && !value.Equals(ParseScore(table.Labels![row])))
                    throw new DataFileException(table.Path, table.LineNumbers[row],
                        $"ML.NET's TextLoader read the label '{table.Labels![row]}' as {value.ToString(CultureInfo.InvariantCulture)} (a missing or unparsable value).");
                row++;
            }
        }
        else
        {
            ValueGetter<ReadOnlyMemory<char>> get = cursor.GetGetter<ReadOnlyMemory<char>>(column);
            ReadOnlyMemory<char> value = default;
            while (cursor.MoveNext())
            {
                get(ref value);
                if (row < table.Rows && !value.Span.SequenceEqual(table.Labels![row]))
                    throw new DataFileException(table.Path, table.LineNumbers[row],
                        $"ML.NET's TextLoader read the label '{table.Labels![row]}' as '{value}' (check the quoting of the row).");
                row++;
            }
        }
        if (row != table.Rows)
            throw new DataFileException(table.Path, 0, $"ML.NET's TextLoader read {row} rows where the file has {table.Rows} data rows.");
    }
}
