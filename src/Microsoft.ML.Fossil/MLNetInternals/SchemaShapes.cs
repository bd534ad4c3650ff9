using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// Builds and inspects <see cref="SchemaShape"/> values for <c>IEstimator.GetOutputSchema</c>. The
/// <see cref="SchemaShape.Column"/> constructor and the lookup/compatibility helpers are internal to
/// ML.NET; these wrappers are the only place Fossil calls them.
/// </summary>
internal static class SchemaShapes
{
    /// <summary>A column shape. Key columns give the key's raw item type (e.g. <see cref="NumberDataViewType.UInt32"/>).</summary>
    /// <param name="name">Column name.</param>
    /// <param name="kind">Scalar, fixed-size vector or variable-size vector.</param>
    /// <param name="itemType">The item type; for keys, the raw type (never a key or vector type).</param>
    /// <param name="isKey">Whether the column (or its items) is a key.</param>
    /// <param name="annotations">Shapes of the annotations the column promises.</param>
    public static SchemaShape.Column Column(string name, SchemaShape.Column.VectorKind kind, DataViewType itemType, bool isKey, IEnumerable<SchemaShape.Column>? annotations = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(itemType);
        if (itemType is KeyDataViewType or VectorDataViewType)
            throw new ArgumentException("Give the item's raw type (e.g. UInt32 with isKey: true), not a key or vector type.", nameof(itemType));
        return new SchemaShape.Column(name, kind, itemType, isKey, annotations is null ? null : new SchemaShape(annotations));
    }

    /// <summary>The shape of a scalar column of <paramref name="itemType"/>.</summary>
    /// <param name="name">Column name.</param>
    /// <param name="itemType">The item type.</param>
    /// <param name="annotations">Annotation shapes.</param>
    public static SchemaShape.Column Scalar(string name, DataViewType itemType, params SchemaShape.Column[] annotations)
        => Column(name, SchemaShape.Column.VectorKind.Scalar, itemType, isKey: false, annotations);

    /// <summary>The shape of a fixed-size vector column of <paramref name="itemType"/>.</summary>
    /// <param name="name">Column name.</param>
    /// <param name="itemType">The item type.</param>
    /// <param name="annotations">Annotation shapes.</param>
    public static SchemaShape.Column Vector(string name, DataViewType itemType, params SchemaShape.Column[] annotations)
        => Column(name, SchemaShape.Column.VectorKind.Vector, itemType, isKey: false, annotations);

    /// <summary>The shape of a scalar key column with <see cref="uint"/> raw values.</summary>
    /// <param name="name">Column name.</param>
    /// <param name="annotations">Annotation shapes (e.g. <see cref="AnnotationKinds.KeyValues"/>).</param>
    public static SchemaShape.Column Key(string name, params SchemaShape.Column[] annotations)
        => Column(name, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, isKey: true, annotations);

    /// <summary>The exact shape of a concrete column (what ML.NET's <c>SchemaShape.Create</c> does per column).</summary>
    /// <param name="name">Column name.</param>
    /// <param name="type">Column type.</param>
    /// <param name="annotations">The column's annotations, or null.</param>
    public static SchemaShape.Column FromColumn(string name, DataViewType type, DataViewSchema.Annotations? annotations)
    {
        ArgumentNullException.ThrowIfNull(type);
        var annotationShapes = new List<SchemaShape.Column>();
        if (annotations is not null)
        {
            foreach (DataViewSchema.Column annotation in annotations.Schema)
            {
                SchemaShape.GetColumnTypeShape(annotation.Type, out var annotationKind, out var annotationItem, out bool annotationIsKey);
                annotationShapes.Add(new SchemaShape.Column(annotation.Name, annotationKind, annotationItem, annotationIsKey));
            }
        }
        SchemaShape.GetColumnTypeShape(type, out var kind, out var itemType, out bool isKey);
        return new SchemaShape.Column(name, kind, itemType, isKey, new SchemaShape(annotationShapes));
    }

    /// <summary>The exact shape of a concrete detached column.</summary>
    /// <param name="column">The column.</param>
    public static SchemaShape.Column FromColumn(DataViewSchema.DetachedColumn column)
        => FromColumn(column.Name, column.Type, column.Annotations);

    /// <summary>The shape of a whole schema (hidden columns left out), as ML.NET estimators see their input.</summary>
    /// <param name="schema">The schema.</param>
    public static SchemaShape FromSchema(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return SchemaShape.Create(schema);
    }

    /// <summary>
    /// <paramref name="input"/> with <paramref name="outputs"/> added; an output replaces an input
    /// column of the same name (as a transformer's output column hides it).
    /// </summary>
    /// <param name="input">The input shape.</param>
    /// <param name="outputs">The added columns.</param>
    public static SchemaShape WithColumns(SchemaShape input, IEnumerable<SchemaShape.Column> outputs)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputs);
        var columns = new List<SchemaShape.Column>(input);
        foreach (SchemaShape.Column output in outputs)
        {
            int existing = columns.FindIndex(c => c.Name == output.Name);
            if (existing >= 0) columns.RemoveAt(existing);
            columns.Add(output);
        }
        return new SchemaShape(columns);
    }

    /// <summary>Finds the column named <paramref name="name"/>.</summary>
    /// <param name="shape">The shape to search.</param>
    /// <param name="name">Column name.</param>
    /// <param name="column">The column, when found.</param>
    public static bool TryFindColumn(SchemaShape shape, string name, out SchemaShape.Column column)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(name);
        return shape.TryFindColumn(name, out column);
    }

    /// <summary>
    /// Whether <paramref name="actual"/> satisfies the requirement <paramref name="required"/>: same
    /// name, kind, item type and key-ness, and at least the required annotations.
    /// </summary>
    /// <param name="required">The requirement.</param>
    /// <param name="actual">The column found in the input.</param>
    public static bool IsCompatible(SchemaShape.Column required, SchemaShape.Column actual)
        => required.IsCompatibleWith(actual);

    /// <summary>A readable type description such as "Vector&lt;Single&gt;" or "Key&lt;UInt32&gt;".</summary>
    /// <param name="column">The column shape.</param>
    public static string Describe(SchemaShape.Column column) => column.GetTypeString();

    /// <summary>
    /// Checks that <paramref name="input"/> has a column named <paramref name="name"/> matching
    /// <paramref name="accept"/>; throws the same exception type ML.NET does for schema mismatches
    /// (<see cref="ArgumentOutOfRangeException"/>) otherwise.
    /// </summary>
    /// <param name="input">The input shape.</param>
    /// <param name="role">What the column is for, e.g. "text" (for the message).</param>
    /// <param name="name">Column name.</param>
    /// <param name="expected">The expected type, e.g. "Vector&lt;Single&gt;" (for the message).</param>
    /// <param name="accept">Whether a found column is acceptable.</param>
    public static SchemaShape.Column RequireColumn(SchemaShape input, string role, string name, string expected, Func<SchemaShape.Column, bool> accept)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(accept);
        if (!input.TryFindColumn(name, out SchemaShape.Column column))
            throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for {role} column '{name}': column not found.");
        if (!accept(column))
            throw new ArgumentOutOfRangeException(nameof(input), $"Schema mismatch for {role} column '{name}': expected {expected}, got {column.GetTypeString()}.");
        return column;
    }
}
