using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.FreshProcess;

/// <summary>
/// Loads an ML.NET model in a fresh process, the way a consumer application does, applies it and
/// writes everything observable as JSON for the tests to compare with the saving process.
/// </summary>
/// <remarks>
/// <c>transform &lt;model.zip&gt; &lt;input.tsv&gt; &lt;output.json&gt;</c> (this command never names a Fossil
/// type: the library is loaded by <c>Model.Load</c> alone; the reliability commands in
/// <see cref="ReliabilityCommands"/> use its API)
/// <list type="bullet">
/// <item>The input schema saved with the model says how to read the TSV (no header, tab-separated,
/// no quoting): one field per scalar column, one field per slot of a fixed-size vector column,
/// in schema order; keys are given as their raw 1-based values (0 = missing).</item>
/// <item>The output has the transformed schema (types and the annotations of each column), the rows
/// from <c>Transform</c>, the rows from <c>GetRowToRowMapper</c> (what <c>PredictionEngine</c> uses),
/// and whether Microsoft.ML.Fossil was loaded before and after <c>Model.Load</c>.</item>
/// <item>Floating-point values are written as strings in round-trip format, so that the test can
/// compare them bit for bit.</item>
/// </list>
/// Exit code 0 on success, 1 on a load or transform error (message on stderr), 2 on bad usage.
/// <para>The other commands (for the reliability tests): see <see cref="ReliabilityCommands"/>.</para>
/// </remarks>
public static class Program
{
    /// <summary>Entry point.</summary>
    /// <param name="args">See the class remarks.</param>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] != "transform")
            return ReliabilityCommands.Run(args);
        if (args.Length != 4)
        {
            Console.Error.WriteLine("usage: Microsoft.ML.Fossil.FreshProcess transform <model.zip> <input.tsv> <output.json>");
            Console.Error.WriteLine(ReliabilityCommands.Usage);
            return 2;
        }
        try
        {
            Transform(args[1], args[2], args[3]);
            return 0;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine(ex.ToString());
            return 1;
        }
    }

    static bool FossilLoaded() =>
        AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.ML.Fossil");

    static void Transform(string modelPath, string inputPath, string outputPath)
    {
        var mlContext = new MLContext(seed: 1);
        bool fossilBefore = FossilLoaded();
        ITransformer model = mlContext.Model.Load(modelPath, out DataViewSchema inputSchema);
        bool fossilAfter = FossilLoaded();

        IDataView input = mlContext.Data.CreateTextLoader(TextColumnsFor(inputSchema), separatorChar: '\t', hasHeader: false,
            allowQuoting: false, trimWhitespace: false).Load(inputPath);
        IDataView output = model.Transform(input);

        using var stream = File.Create(outputPath);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteBoolean("fossilLoadedBeforeModelLoad", fossilBefore);
        json.WriteBoolean("fossilLoadedAfterModelLoad", fossilAfter);
        json.WriteString("modelType", model.GetType().FullName);
        json.WritePropertyName("columns");
        WriteSchema(json, output.Schema);
        json.WritePropertyName("rows");
        using (DataViewRowCursor cursor = output.GetRowCursor(output.Schema))
            WriteRows(json, cursor, cursor, output.Schema);
        json.WritePropertyName("mapperRows");
        IRowToRowMapper mapper = model.GetRowToRowMapper(input.Schema);
        DataViewRowCursor inputCursor = input.GetRowCursor(mapper.GetDependencies(mapper.OutputSchema));
        using (DataViewRow row = mapper.GetRow(inputCursor, mapper.OutputSchema)) // disposes the input cursor too
        {
            if (!ReferenceEquals(row.Schema, mapper.OutputSchema))
                throw new InvalidOperationException("The mapped row's schema is not the mapper's OutputSchema object.");
            WriteRows(json, inputCursor, row, mapper.OutputSchema);
        }
        json.WriteEndObject();
    }

    /// <summary>TextLoader columns reading the TSV layout described in the class remarks.</summary>
    internal static TextLoader.Column[] TextColumnsFor(DataViewSchema schema)
    {
        var columns = new List<TextLoader.Column>();
        int field = 0;
        foreach (DataViewSchema.Column column in schema.Where(c => !c.IsHidden))
        {
            DataViewType item = column.Type is VectorDataViewType v ? v.ItemType : column.Type;
            int width = column.Type switch
            {
                VectorDataViewType { IsKnownSize: true } vector => vector.Size,
                VectorDataViewType => throw new NotSupportedException($"Column '{column.Name}': variable-size vectors cannot be read from the TSV layout."),
                _ => 1,
            };
            // A range makes a vector column even when it spans one field: scalars take a single index.
            var textColumn = column.Type is VectorDataViewType
                ? new TextLoader.Column(column.Name, KindOf(item.RawType), field, field + width - 1)
                : new TextLoader.Column(column.Name, KindOf(item.RawType), field);
            if (item is KeyDataViewType key) textColumn.KeyCount = new KeyCount(key.Count);
            columns.Add(textColumn);
            field += width;
        }
        return columns.ToArray();
    }

    static DataKind KindOf(Type raw) =>
        raw == typeof(float) ? DataKind.Single
        : raw == typeof(double) ? DataKind.Double
        : raw == typeof(ReadOnlyMemory<char>) ? DataKind.String
        : raw == typeof(bool) ? DataKind.Boolean
        : raw == typeof(sbyte) ? DataKind.SByte
        : raw == typeof(byte) ? DataKind.Byte
        : raw == typeof(short) ? DataKind.Int16
        : raw == typeof(ushort) ? DataKind.UInt16
        : raw == typeof(int) ? DataKind.Int32
        : raw == typeof(uint) ? DataKind.UInt32
        : raw == typeof(long) ? DataKind.Int64
        : raw == typeof(ulong) ? DataKind.UInt64
        : throw new NotSupportedException($"Input columns of type {raw} are not supported.");

    static void WriteSchema(Utf8JsonWriter json, DataViewSchema schema)
    {
        json.WriteStartArray();
        foreach (DataViewSchema.Column column in schema)
        {
            json.WriteStartObject();
            json.WriteString("name", column.Name);
            json.WriteString("type", column.Type.ToString());
            json.WriteBoolean("hidden", column.IsHidden);
            json.WritePropertyName("annotations");
            json.WriteStartObject();
            foreach (DataViewSchema.Column annotation in column.Annotations.Schema)
            {
                json.WritePropertyName(annotation.Name);
                WriteValue(json, annotation.Type, GetterOf(column.Annotations, annotation));
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>Writes one object per row: visible column name to value.</summary>
    static void WriteRows(Utf8JsonWriter json, DataViewRowCursor cursor, DataViewRow row, DataViewSchema schema)
    {
        DataViewSchema.Column[] visible = schema.Where(c => !c.IsHidden).ToArray();
        Delegate[] getters = visible.Select(c => GetterOf(row, c)).ToArray();
        json.WriteStartArray();
        while (cursor.MoveNext())
        {
            json.WriteStartObject();
            for (int i = 0; i < visible.Length; i++)
            {
                json.WritePropertyName(visible[i].Name);
                WriteValue(json, visible[i].Type, getters[i]);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    static Delegate GetterOf(DataViewRow row, DataViewSchema.Column column) =>
        (Delegate)InvokeGeneric(nameof(RowGetter), ValueTypeOf(column.Type), row, column)!;

    static Delegate GetterOf(DataViewSchema.Annotations annotations, DataViewSchema.Column column) =>
        (Delegate)InvokeGeneric(nameof(AnnotationGetter), ValueTypeOf(column.Type), annotations, column)!;

    static ValueGetter<T> RowGetter<T>(DataViewRow row, DataViewSchema.Column column) => row.GetGetter<T>(column);

    static ValueGetter<T> AnnotationGetter<T>(DataViewSchema.Annotations annotations, DataViewSchema.Column column) =>
        annotations.GetGetter<T>(column);

    static Type ValueTypeOf(DataViewType type) =>
        type is VectorDataViewType vector ? typeof(VBuffer<>).MakeGenericType(vector.ItemType.RawType) : type.RawType;

    static void WriteValue(Utf8JsonWriter json, DataViewType type, Delegate getter)
    {
        if (type is VectorDataViewType vector)
            InvokeGeneric(nameof(WriteVector), vector.ItemType.RawType, json, getter);
        else
            InvokeGeneric(nameof(WriteScalar), type.RawType, json, getter);
    }

    static void WriteScalar<T>(Utf8JsonWriter json, Delegate getter)
    {
        T value = default!;
        ((ValueGetter<T>)getter)(ref value);
        WriteItem(json, value);
    }

    static void WriteVector<T>(Utf8JsonWriter json, Delegate getter)
    {
        VBuffer<T> value = default;
        ((ValueGetter<VBuffer<T>>)getter)(ref value);
        json.WriteStartArray();
        foreach (T item in value.DenseValues()) WriteItem(json, item);
        json.WriteEndArray();
    }

    static void WriteItem<T>(Utf8JsonWriter json, T value)
    {
        switch (value)
        {
            case float f: json.WriteStringValue(f.ToString("R", CultureInfo.InvariantCulture)); break;
            case double d: json.WriteStringValue(d.ToString("R", CultureInfo.InvariantCulture)); break;
            case ReadOnlyMemory<char> text: json.WriteStringValue(text.Span); break;
            case bool b: json.WriteBooleanValue(b); break;
            case sbyte or byte or short or ushort or int or uint or long:
                json.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case ulong u: json.WriteNumberValue(u); break;
            default: json.WriteStringValue(value?.ToString()); break;
        }
    }

    static object? InvokeGeneric(string method, Type typeArgument, params object[] args) =>
        typeof(Program).GetMethod(method, BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(typeArgument).Invoke(null, args);
}
