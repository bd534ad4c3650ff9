using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.OnnxConsumer;

/// <summary>
/// A serving application without libtorch: loads an export folder's <c>mlnet-model.zip</c> with <c>mlContext.Model.Load</c>
/// and predicts through <c>Transform</c> and <c>PredictionEngine</c>, then writes what it saw as JSON.
/// </summary>
/// <remarks>
/// <c>predict &lt;mlnet-model.zip&gt; &lt;input.tsv&gt; &lt;output.json&gt;</c>: the TSV has a header naming the
/// model's input columns (text or Single), tab-separated, no quoting. The output holds the columns the model adds, their
/// values per row from <c>Transform</c> and from <c>PredictionEngine</c> (floats as round-trip strings), the managed
/// assemblies loaded and the native libraries mapped (torch or onnxruntime in their names).
/// Exit code 0 on success, 1 on an error (message on stderr), 2 on bad usage.
/// </remarks>
public static class Program
{
    /// <summary>Entry point.</summary>
    /// <param name="args">See the class remarks.</param>
    public static int Main(string[] args)
    {
        if (args.Length != 4 || args[0] != "predict")
        {
            Console.Error.WriteLine("usage: Microsoft.ML.Fossil.OnnxConsumer predict <mlnet-model.zip> <input.tsv> <output.json>");
            return 2;
        }
        try
        {
            Predict(args[1], args[2], args[3]);
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.ToString());
            return 1;
        }
    }

    /// <summary>What PredictionEngine reads: the model's input columns are mapped onto these members by type, in order.</summary>
    public sealed class InputRow
    {
        public string? Text1 { get; set; }
        public string? Text2 { get; set; }
        public string? Text3 { get; set; }
        public float Number1 { get; set; }
    }

    /// <summary>What PredictionEngine writes: the model's new columns (scores, similarity, label text) mapped by type.</summary>
    public sealed class OutputRow
    {
        public float[]? Scores { get; set; }
        public float Score { get; set; }
        public string? Text { get; set; }
    }

    static void Predict(string modelPath, string inputPath, string outputPath)
    {
        var ml = new MLContext(seed: 1);
        ITransformer model = ml.Model.Load(modelPath, out DataViewSchema inputSchema);

        string[] header = File.ReadLines(inputPath).First().Split('\t');
        DataViewSchema.Column[] inputs = [.. inputSchema.Where(c => !c.IsHidden)];
        TextLoader.Column[] loaderColumns = [.. inputs.Select(c => new TextLoader.Column(c.Name, KindOf(c), FieldOf(header, c.Name)))];
        IDataView input = ml.Data.CreateTextLoader(loaderColumns, separatorChar: '\t', hasHeader: true, allowQuoting: false, trimWhitespace: false).Load(inputPath);
        IDataView output = model.Transform(input);
        DataViewSchema.Column[] added = [.. output.Schema.Where(c => !c.IsHidden && inputSchema.GetColumnOrNull(c.Name) is null)];

        using var stream = File.Create(outputPath);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("modelType", model.GetType().FullName);
        json.WritePropertyName("columns");
        json.WriteStartArray();
        foreach (DataViewSchema.Column column in added)
        {
            json.WriteStartObject();
            json.WriteString("name", column.Name);
            json.WriteString("type", column.Type.ToString());
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WritePropertyName("transform");
        json.WriteStartArray();
        using (DataViewRowCursor cursor = output.GetRowCursor(added))
        {
            var getters = added.Select(c => Getter(cursor, c)).ToArray();
            while (cursor.MoveNext())
            {
                json.WriteStartObject();
                for (int i = 0; i < added.Length; i++)
                {
                    json.WritePropertyName(added[i].Name);
                    getters[i](json);
                }
                json.WriteEndObject();
            }
        }
        json.WriteEndArray();

        json.WritePropertyName("engine");
        json.WriteStartArray();
        var (inputDefinition, _) = InputDefinition(inputs);
        var (outputDefinition, outputMembers) = OutputDefinition(added);
        var engine = ml.Model.CreatePredictionEngine<InputRow, OutputRow>(model, inputSchemaDefinition: inputDefinition, outputSchemaDefinition: outputDefinition);
        foreach (InputRow row in ml.Data.CreateEnumerable<InputRow>(input, reuseRowObject: false, schemaDefinition: inputDefinition))
        {
            OutputRow prediction = engine.Predict(row);
            json.WriteStartObject();
            foreach (var (member, column) in outputMembers)
            {
                json.WritePropertyName(column);
                switch (member)
                {
                    case nameof(OutputRow.Scores):
                        json.WriteStartArray();
                        foreach (float v in prediction.Scores!) json.WriteStringValue(v.ToString("R", CultureInfo.InvariantCulture));
                        json.WriteEndArray();
                        break;
                    case nameof(OutputRow.Score):
                        json.WriteStringValue(prediction.Score.ToString("R", CultureInfo.InvariantCulture));
                        break;
                    default:
                        json.WriteStringValue(prediction.Text);
                        break;
                }
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WritePropertyName("assemblies");
        json.WriteStartArray();
        foreach (string name in AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name ?? "").Order(StringComparer.Ordinal)) json.WriteStringValue(name);
        json.WriteEndArray();
        json.WritePropertyName("nativeLibraries");
        json.WriteStartArray();
        foreach (string library in MappedLibraries()) json.WriteStringValue(library);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    static DataKind KindOf(DataViewSchema.Column column) => column.Type switch
    {
        TextDataViewType => DataKind.String,
        NumberDataViewType n when n.RawType == typeof(float) => DataKind.Single,
        _ => throw new NotSupportedException($"Input column '{column.Name}' is {column.Type}; this app reads text and Single columns."),
    };

    static int FieldOf(string[] header, string name)
    {
        int index = Array.IndexOf(header, name);
        return index >= 0 ? index : throw new InvalidDataException($"The input file has no column '{name}' (its header: {string.Join(", ", header)}).");
    }

    /// <summary>The model's input columns onto InputRow's members: text columns onto Text1..3, a Single onto Number1.</summary>
    static (SchemaDefinition Definition, List<(string Member, string Column)> Members) InputDefinition(DataViewSchema.Column[] inputs)
    {
        SchemaDefinition definition = SchemaDefinition.Create(typeof(InputRow));
        var free = new Queue<string>([nameof(InputRow.Text1), nameof(InputRow.Text2), nameof(InputRow.Text3)]);
        var numbers = new Queue<string>([nameof(InputRow.Number1)]);
        var used = new List<(string, string)>();
        foreach (DataViewSchema.Column column in inputs)
        {
            string member = column.Type is TextDataViewType ? free.Dequeue() : numbers.Dequeue();
            definition.Single(c => c.MemberName == member).ColumnName = column.Name;
            used.Add((member, column.Name));
        }
        definition.RemoveAll(c => !used.Any(u => u.Item1 == c.MemberName));
        return (definition, used);
    }

    /// <summary>The model's new columns onto OutputRow's members: a float vector onto Scores, a Single onto Score, text onto Text (keys are left out).</summary>
    static (SchemaDefinition Definition, List<(string Member, string Column)> Members) OutputDefinition(DataViewSchema.Column[] added)
    {
        SchemaDefinition definition = SchemaDefinition.Create(typeof(OutputRow));
        var used = new List<(string, string)>();
        foreach (DataViewSchema.Column column in added)
        {
            string? member = column.Type switch
            {
                VectorDataViewType v when v.ItemType == NumberDataViewType.Single => nameof(OutputRow.Scores),
                NumberDataViewType n when n == NumberDataViewType.Single => nameof(OutputRow.Score),
                TextDataViewType => nameof(OutputRow.Text),
                _ => null,
            };
            if (member is null || used.Any(u => u.Item1 == member)) continue;
            SchemaDefinition.Column entry = definition.Single(c => c.MemberName == member);
            entry.ColumnName = column.Name;
            if (column.Type is VectorDataViewType) entry.ColumnType = column.Type;
            used.Add((member, column.Name));
        }
        definition.RemoveAll(c => !used.Any(u => u.Item1 == c.MemberName));
        return (definition, used);
    }

    /// <summary>Writes the current value of <paramref name="column"/> (floats as round-trip strings, keys as numbers).</summary>
    static Action<Utf8JsonWriter> Getter(DataViewRow row, DataViewSchema.Column column)
    {
        switch (column.Type)
        {
            case VectorDataViewType v when v.ItemType == NumberDataViewType.Single:
            {
                ValueGetter<VBuffer<float>> get = row.GetGetter<VBuffer<float>>(column);
                VBuffer<float> value = default;
                return json =>
                {
                    get(ref value);
                    json.WriteStartArray();
                    foreach (float f in value.DenseValues()) json.WriteStringValue(f.ToString("R", CultureInfo.InvariantCulture));
                    json.WriteEndArray();
                };
            }
            case NumberDataViewType n when n == NumberDataViewType.Single:
            {
                ValueGetter<float> get = row.GetGetter<float>(column);
                float value = 0;
                return json =>
                {
                    get(ref value);
                    json.WriteStringValue(value.ToString("R", CultureInfo.InvariantCulture));
                };
            }
            case KeyDataViewType:
            {
                ValueGetter<uint> get = row.GetGetter<uint>(column);
                uint value = 0;
                return json =>
                {
                    get(ref value);
                    json.WriteNumberValue(value);
                };
            }
            case TextDataViewType:
            {
                ValueGetter<ReadOnlyMemory<char>> get = row.GetGetter<ReadOnlyMemory<char>>(column);
                ReadOnlyMemory<char> value = default;
                return json =>
                {
                    get(ref value);
                    json.WriteStringValue(value.Span);
                };
            }
            default:
                throw new NotSupportedException($"Output column '{column.Name}' is {column.Type}.");
        }
    }

    /// <summary>File names of the mapped native libraries whose names mention torch or onnxruntime (Linux; empty elsewhere).</summary>
    static IEnumerable<string> MappedLibraries()
    {
        if (!File.Exists("/proc/self/maps")) return [];
        return File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(parts => parts.Length >= 6 && parts[5].Contains(".so", StringComparison.Ordinal))
            .Select(parts => Path.GetFileName(parts[5]))
            .Where(name => name.Contains("torch", StringComparison.OrdinalIgnoreCase) || name.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);
    }
}
