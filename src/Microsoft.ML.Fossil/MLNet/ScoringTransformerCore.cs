using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Scoring;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// What every transformer of the library does with ML.NET the same way, whatever computes the logits (TorchSharp's
/// network or ONNX Runtime): the columns it reads and writes, the output schema, the row mapper PredictionEngine uses,
/// the length-sorted batched data view Transform returns, and the header of its saved form (the columns and the
/// Transform batch size).
/// </summary>
internal abstract class ScoringTransformerCore : IDisposable
{
    int batchSize;
    bool disposed;

    /// <param name="scorer">Tokenizer -> collation -> network -> scorer (owned: disposed with this).</param>
    /// <param name="columns">The columns read and written.</param>
    /// <param name="batchSize">Rows per network call in Transform.</param>
    protected ScoringTransformerCore(TextScorer scorer, ScoringColumns columns, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(columns);
        Scorer = scorer;
        Columns = columns;
        BatchSize = batchSize;
    }

    /// <summary>Tokenizer -> collation -> network -> scorer.</summary>
    public TextScorer Scorer { get; }

    /// <summary>The columns read and written.</summary>
    public ScoringColumns Columns { get; }

    /// <summary>Rows per network call in Transform.</summary>
    public int BatchSize
    {
        get => batchSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            batchSize = value;
        }
    }

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new ScoringRowMapper(inputSchema, Scorer, Columns).OutputSchema;
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ThrowIfDisposed();
        return new ScoringRowMapper(inputSchema, Scorer, Columns);
    }

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ThrowIfDisposed();
        return new BatchedScoringDataView(input, Scorer, new ScoringRowMapper(input.Schema, Scorer, Columns), BatchSize);
    }

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    // <format>
    //   main stream:  string Text1, string? Text2, string Score, string PredictedLabel, int BatchSize, then the subclass's
    // </format>

    /// <summary>Starts a save: the header, the columns and the batch size; the subclass writes its model after them.</summary>
    protected FossilModelWriter BeginSave(ModelSaveContext ctx, FossilModelVersion version)
    {
        ThrowIfDisposed();
        FossilModelWriter writer = FossilModelWriter.Begin(ctx, version);
        writer.WriteString(Columns.Text1);
        writer.WriteStringOrNull(Columns.Text2);
        writer.WriteString(Columns.Score);
        writer.WriteString(Columns.PredictedLabel);
        writer.WriteInt32(BatchSize);
        return writer;
    }

    /// <summary>The column names and batch size <see cref="BeginSave"/> wrote (the task and class names come with the model).</summary>
    protected internal sealed record SavedColumns(string Text1, string? Text2, string Score, string PredictedLabel, int BatchSize)
    {
        /// <summary>The columns of a model of <paramref name="task"/> with <paramref name="labelNames"/>.</summary>
        public ScoringColumns For(PredictionTask task, IReadOnlyList<string> labelNames) => new(Text1, Text2, Score, PredictedLabel, task, labelNames);
    }

    /// <summary>Reads what <see cref="BeginSave"/> wrote.</summary>
    protected static SavedColumns ReadColumns(FossilModelReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string text1 = reader.ReadString();
        string? text2 = reader.ReadStringOrNull();
        string score = reader.ReadString();
        string predictedLabel = reader.ReadString();
        return new SavedColumns(text1, text2, score, predictedLabel, reader.ReadInt32(1, 1 << 20));
    }

    /// <summary>Releases the scorer's network, then what the subclass owns.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Scorer.Network.Dispose();
        DisposeOwned();
    }

    /// <summary>What the subclass owns beyond the scorer's network.</summary>
    protected virtual void DisposeOwned() { }
}
