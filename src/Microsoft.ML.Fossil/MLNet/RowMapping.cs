using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// Base for the row mapper of a Fossil transformer: the input columns pass through unchanged and
/// the transformer's new columns are appended (hiding input columns of the same name). Derived
/// classes say which input columns the new columns read and create one getter per new column.
/// Built only on ML.NET's public row API, so it works for <c>Transform</c> (through
/// the transformer's own data view), for <c>TransformerChain</c>/<c>PredictionEngine</c> (through
/// <see cref="IRowToRowMapper"/>), and for ML.NET transforms before and after it.
/// </summary>
/// <remarks>
/// <see cref="OutputSchema"/> is built once; every row this mapper returns has exactly that schema
/// object, as <c>PredictionEngine</c> requires.
/// </remarks>
internal abstract class FossilRowMapper : IRowToRowMapper
{
    readonly int _firstNewColumn;

    /// <summary>Creates the mapper for <paramref name="inputSchema"/>.</summary>
    /// <param name="inputSchema">The schema of the rows the mapper accepts (the very object).</param>
    /// <param name="newColumns">The columns the mapper appends, in order.</param>
    protected FossilRowMapper(DataViewSchema inputSchema, IReadOnlyList<DataViewSchema.DetachedColumn> newColumns)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ArgumentNullException.ThrowIfNull(newColumns);
        InputSchema = inputSchema;
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        foreach (DataViewSchema.DetachedColumn column in newColumns)
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        OutputSchema = builder.ToSchema();
        _firstNewColumn = inputSchema.Count;
        NewColumnCount = newColumns.Count;
    }

    /// <inheritdoc />
    public DataViewSchema InputSchema { get; }

    /// <inheritdoc />
    public DataViewSchema OutputSchema { get; }

    /// <summary>The number of appended columns.</summary>
    protected int NewColumnCount { get; }

    /// <summary>The input columns needed to compute the given new columns (0-based among the new columns).</summary>
    /// <param name="activeNewColumns">Indexes of the requested new columns; never empty.</param>
    protected abstract IEnumerable<DataViewSchema.Column> GetInputColumnsFor(IReadOnlyList<int> activeNewColumns);

    /// <summary>
    /// One getter per new column (a <c>ValueGetter&lt;T&gt;</c> of the column's raw type; null for an
    /// inactive column). Getters read <paramref name="input"/>'s current values each time they are
    /// called: compute once per row by caching on <see cref="DataViewRow.Position"/> (see
    /// <see cref="PerRowCache{T}"/>).
    /// </summary>
    /// <param name="input">The input row (a cursor while transforming).</param>
    /// <param name="activeNewColumns">Indexes of the requested new columns.</param>
    /// <param name="disposer">Releases per-row resources when the row is disposed, or null.</param>
    protected abstract Delegate?[] CreateGetters(DataViewRow input, IReadOnlyList<int> activeNewColumns, out Action? disposer);

    /// <inheritdoc />
    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        ArgumentNullException.ThrowIfNull(dependingColumns);
        var inputs = new SortedSet<int>();
        List<int> activeNew = [];
        foreach (DataViewSchema.Column column in dependingColumns)
        {
            if (column.Index < _firstNewColumn) inputs.Add(column.Index);
            else activeNew.Add(column.Index - _firstNewColumn);
        }
        if (activeNew.Count > 0)
            foreach (DataViewSchema.Column column in GetInputColumnsFor(activeNew))
                inputs.Add(column.Index);
        return inputs.Select(i => InputSchema[i]).ToArray();
    }

    /// <inheritdoc />
    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(activeColumns);
        if (!ReferenceEquals(input.Schema, InputSchema))
            throw new ArgumentException("The row's schema is not the schema this mapper was created for.", nameof(input));
        var active = new bool[OutputSchema.Count];
        foreach (DataViewSchema.Column column in activeColumns) active[column.Index] = true;
        List<int> activeNew = [];
        for (int i = 0; i < NewColumnCount; i++)
            if (active[_firstNewColumn + i]) activeNew.Add(i);
        Action? disposer = null;
        Delegate?[] getters = activeNew.Count > 0 ? CreateGetters(input, activeNew, out disposer) : new Delegate?[NewColumnCount];
        if (getters.Length != NewColumnCount)
            throw new InvalidOperationException($"{GetType().Name}.CreateGetters returned {getters.Length} getters for {NewColumnCount} columns.");
        return new MappedRow(this, input, active, getters, disposer);
    }

    /// <summary>The row <see cref="GetRow"/> returns: input values pass through, new values come from the getters.</summary>
    sealed class MappedRow(FossilRowMapper mapper, DataViewRow input, bool[] active, Delegate?[] getters, Action? disposer) : DataViewRow
    {
        bool _disposed;

        public override DataViewSchema Schema => mapper.OutputSchema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column)
        {
            CheckColumn(column);
            return column.Index < mapper._firstNewColumn ? input.IsColumnActive(input.Schema[column.Index]) : active[column.Index];
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            CheckColumn(column);
            if (column.Index < mapper._firstNewColumn)
                return input.GetGetter<TValue>(input.Schema[column.Index]);
            if (!active[column.Index])
                throw new InvalidOperationException($"Column '{column.Name}' is not active.");
            Delegate? getter = getters[column.Index - mapper._firstNewColumn];
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' holds {Schema[column.Index].Type.RawType}, not {typeof(TValue)}.");
        }

        void CheckColumn(DataViewSchema.Column column)
        {
            if ((uint)column.Index >= (uint)Schema.Count)
                throw new ArgumentOutOfRangeException(nameof(column), $"Column index {column.Index} is outside the schema.");
        }

        protected override void Dispose(bool disposing)
        {
            if (_disposed) return;
            _disposed = true;
            if (disposing)
            {
                disposer?.Invoke();
                input.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Caches a value computed from the current row of a <see cref="DataViewRow"/>, recomputing it only
/// when the row's <see cref="DataViewRow.Position"/> changes: lets several output columns (e.g.
/// Score and PredictedLabel) share one model evaluation per row.
/// </summary>
/// <typeparam name="T">The cached value.</typeparam>
/// <param name="row">The row whose position keys the cache.</param>
/// <param name="compute">Computes the value for the current row, possibly reusing the previous value's storage.</param>
internal sealed class PerRowCache<T>(DataViewRow row, Func<T?, T> compute)
{
    long _position = -1;
    T? _value;

    /// <summary>The value for the row's current position.</summary>
    public T Get()
    {
        if (_position != row.Position || _position < 0)
        {
            _value = compute(_value);
            _position = row.Position;
        }
        return _value!;
    }
}
