using System.Globalization;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// Label values as text, one formatting for every primitive type, so that class names taken from
/// a key's values (MapValueToKey on text, numbers or booleans) and raw labels of a validation set
/// compare equal.
/// </summary>
internal static class LabelValues
{
    /// <summary>Formats a label value.</summary>
    public static string Format<T>(T value) => value switch
    {
        ReadOnlyMemory<char> text => text.ToString(),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "True" : "False",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "",
    };

    /// <summary>A function that reads the cursor's current <paramref name="column"/> value as text.</summary>
    public static Func<string> TextGetter(DataViewRow row, DataViewSchema.Column column) => column.Type.RawType switch
    {
        Type t when t == typeof(ReadOnlyMemory<char>) => Getter<ReadOnlyMemory<char>>(row, column),
        Type t when t == typeof(float) => Getter<float>(row, column),
        Type t when t == typeof(double) => Getter<double>(row, column),
        Type t when t == typeof(bool) => Getter<bool>(row, column),
        Type t when t == typeof(int) => Getter<int>(row, column),
        Type t when t == typeof(long) => Getter<long>(row, column),
        Type t when t == typeof(uint) => Getter<uint>(row, column),
        Type t when t == typeof(short) => Getter<short>(row, column),
        Type t when t == typeof(byte) => Getter<byte>(row, column),
        _ => throw new ArgumentOutOfRangeException(nameof(column), $"Label column '{column.Name}' of type {column.Type} cannot be read as class names."),
    };

    /// <summary>
    /// The class names of a key-typed label column: its key values (of any primitive type) formatted
    /// as text, or "0".."N-1" when the key has no values.
    /// </summary>
    public static string[] ClassNames(DataViewSchema.Column label)
    {
        if (label.Type is not KeyDataViewType key || key.Count == 0 || key.Count > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(label), $"Schema mismatch for label column '{label.Name}': expected Key<UInt32> with a known count (use MapValueToKey), got {label.Type}.");
        DataViewSchema.Column? values = label.Annotations.Schema.GetColumnOrNull("KeyValues");
        if (values is not { Type: VectorDataViewType { ItemType: var item } vector } || vector.Size != (int)key.Count)
            return [.. Enumerable.Range(0, (int)key.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))];
        string[] names = item.RawType switch
        {
            Type t when t == typeof(ReadOnlyMemory<char>) => Read<ReadOnlyMemory<char>>(label),
            Type t when t == typeof(float) => Read<float>(label),
            Type t when t == typeof(double) => Read<double>(label),
            Type t when t == typeof(bool) => Read<bool>(label),
            Type t when t == typeof(int) => Read<int>(label),
            Type t when t == typeof(long) => Read<long>(label),
            Type t when t == typeof(uint) => Read<uint>(label),
            _ => [.. Enumerable.Range(0, (int)key.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))],
        };
        var duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"Label column '{label.Name}' has the class name '{duplicate.Key}' twice.");
        return names;
    }

    static string[] Read<T>(DataViewSchema.Column label)
    {
        VBuffer<T> values = default;
        label.Annotations.GetValue("KeyValues", ref values);
        return [.. values.DenseValues().Select(Format)];
    }

    static Func<string> Getter<T>(DataViewRow row, DataViewSchema.Column column)
    {
        ValueGetter<T> getter = row.GetGetter<T>(column);
        T value = default!;
        return () =>
        {
            getter(ref value);
            return Format(value);
        };
    }
}
