using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>The columns a fitted model reads (one or two texts) and writes (Score, and PredictedLabel for classification).</summary>
internal sealed record ScoringColumns(string Text1, string? Text2, string Score, string PredictedLabel, PredictionTask Task, IReadOnlyList<string> LabelNames)
{
    /// <summary>Finds the text columns; the message names the column and the type found.</summary>
    public (DataViewSchema.Column Text1, DataViewSchema.Column? Text2) Find(DataViewSchema input) =>
        (RequireText(input, Text1, "sentence"), Text2 is null ? null : RequireText(input, Text2, "second sentence"));

    /// <summary>
    /// The text column <paramref name="name"/> of <paramref name="schema"/>, or ML.NET's style of schema
    /// error naming the column, its role, the data set (when given) and the type found.
    /// </summary>
    public static DataViewSchema.Column RequireText(DataViewSchema schema, string name, string role, string? dataSet = null)
    {
        string where = dataSet is null ? "" : $" in the {dataSet} data";
        DataViewSchema.Column column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"Schema mismatch for {role} column '{name}'{where}: column not found in the input data.");
        if (column.Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema), $"Schema mismatch for {role} column '{name}'{where}: expected String (text), got {column.Type}.");
        return column;
    }

    /// <summary>The appended columns, built as ML.NET's own multiclass / regression trainers build them.</summary>
    public DataViewSchema.DetachedColumn[] OutputColumns(DataViewSchema input)
    {
        uint setId = ClassificationOutput.NextScoreColumnSetId(input);
        return Task == PredictionTask.Regression
            ? [RegressionOutput.ScoreColumn(Score, setId)]
            : [ClassificationOutput.ScoreColumn(Score, LabelNames, setId), ClassificationOutput.PredictedLabelColumn(PredictedLabel, LabelNames, setId)];
    }
}

/// <summary>The ML.NET getters of the scorer's output columns.</summary>
internal static class ScoredColumns
{
    /// <summary>One getter per requested new column (0 = Score, 1 = PredictedLabel) over the current scored row.</summary>
    public static Delegate?[] Getters(IReadOnlyList<int> activeNewColumns, int newColumnCount, PredictionTask task, Func<ScoredRow> current)
    {
        var getters = new Delegate?[newColumnCount];
        foreach (int column in activeNewColumns)
        {
            getters[column] = (column, task) switch
            {
                (0, PredictionTask.Regression) => (ValueGetter<float>)((ref float value) => value = current().Scores[0]),
                (0, _) => (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
                {
                    float[] scores = current().Scores;
                    var editor = VBufferEditor.Create(ref value, scores.Length);
                    scores.AsSpan().CopyTo(editor.Values);
                    value = editor.Commit();
                }),
                _ => (ValueGetter<uint>)((ref uint value) => value = current().PredictedKey),
            };
        }
        return getters;
    }
}

/// <summary>
/// Row-by-row scoring for <c>PredictionEngine</c> and <c>TransformerChain</c>: Score and PredictedLabel
/// share one forward pass per row.
/// </summary>
internal sealed class ScoringRowMapper : FossilRowMapper
{
    readonly TextScorer scorer;
    readonly ScoringColumns columns;
    readonly DataViewSchema.Column text1;
    readonly DataViewSchema.Column? text2;

    public ScoringRowMapper(DataViewSchema input, TextScorer scorer, ScoringColumns columns)
        : base(input, columns.OutputColumns(input))
    {
        this.scorer = scorer;
        this.columns = columns;
        (text1, text2) = columns.Find(input);
    }

    public ScoringColumns Columns => columns;
    public DataViewSchema.Column Text1 => text1;
    public DataViewSchema.Column? Text2 => text2;

    protected override IEnumerable<DataViewSchema.Column> GetInputColumnsFor(IReadOnlyList<int> activeNewColumns) =>
        text2 is { } second ? [text1, second] : [text1];

    protected override Delegate?[] CreateGetters(DataViewRow input, IReadOnlyList<int> activeNewColumns, out Action? disposer)
    {
        disposer = null;
        ValueGetter<ReadOnlyMemory<char>> getText1 = input.GetGetter<ReadOnlyMemory<char>>(text1);
        ValueGetter<ReadOnlyMemory<char>>? getText2 = text2 is { } second ? input.GetGetter<ReadOnlyMemory<char>>(second) : null;
        ReadOnlyMemory<char> a = default, b = default;
        var cache = new PerRowCache<ScoredRow>(input, _ =>
        {
            getText1(ref a);
            string? pair = null;
            if (getText2 is not null)
            {
                getText2(ref b);
                pair = b.ToString();
            }
            return scorer.ScoreOne(a.ToString(), pair);
        });
        return ScoredColumns.Getters(activeNewColumns, NewColumnCount, columns.Task, cache.Get);
    }
}

/// <summary>
/// The output of <c>Transform</c>: the input columns plus the scores, computed in batches under
/// inference mode. A look-ahead cursor reads the texts of the next batch; a second cursor over the
/// same input serves the pass-through columns row by row, in the same order.
/// </summary>
internal sealed class BatchedScoringDataView : IDataView
{
    readonly IDataView input;
    readonly TextScorer scorer;
    readonly ScoringRowMapper mapper;
    readonly int batchSize;

    public BatchedScoringDataView(IDataView input, TextScorer scorer, ScoringRowMapper mapper, int batchSize)
    {
        this.input = input;
        this.scorer = scorer;
        this.mapper = mapper;
        this.batchSize = batchSize;
    }

    public DataViewSchema Schema => mapper.OutputSchema;
    public bool CanShuffle => false;
    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        int inputCount = input.Schema.Count;
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        List<int> activeNew = [.. needed.Where(i => i >= inputCount).Select(i => i - inputCount)];
        DataViewRowCursor rows = input.GetRowCursor(input.Schema.Where(c => needed.Contains(c.Index)));
        DataViewRowCursor? lookahead = activeNew.Count == 0 ? null
            : input.GetRowCursor(mapper.Text2 is { } second ? [mapper.Text1, second] : [mapper.Text1]);
        return new Cursor(this, rows, lookahead, needed, activeNew);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    /// <summary>Batches' worth of rows the Transform cursor reads ahead and sorts by length.</summary>
    internal const int LookAheadBatches = 4;

    sealed class Cursor : DataViewRowCursor
    {
        readonly BatchedScoringDataView parent;
        readonly DataViewRowCursor rows;
        readonly DataViewRowCursor? lookahead;
        readonly HashSet<int> active;
        readonly Delegate?[] newGetters;
        readonly ValueGetter<ReadOnlyMemory<char>>? getText1, getText2;
        readonly Queue<ScoredRow> ready = new();
        ScoredRow current;
        long position = -1;

        public Cursor(BatchedScoringDataView parent, DataViewRowCursor rows, DataViewRowCursor? lookahead, HashSet<int> active, List<int> activeNew)
        {
            this.parent = parent;
            this.rows = rows;
            this.lookahead = lookahead;
            this.active = active;
            ScoringColumns columns = parent.mapper.Columns;
            int newCount = columns.Task == PredictionTask.Regression ? 1 : 2;
            newGetters = ScoredColumns.Getters(activeNew, newCount, columns.Task, () => current);
            if (lookahead is not null)
            {
                getText1 = lookahead.GetGetter<ReadOnlyMemory<char>>(parent.mapper.Text1);
                if (parent.mapper.Text2 is { } second) getText2 = lookahead.GetGetter<ReadOnlyMemory<char>>(second);
            }
        }

        public override DataViewSchema Schema => parent.Schema;
        public override long Position => position;
        public override long Batch => 0;

        public override bool MoveNext()
        {
            if (!rows.MoveNext()) return false;
            position++;
            if (lookahead is not null)
            {
                if (ready.Count == 0) ScoreNextBatch();
                current = ready.Dequeue();
            }
            return true;
        }

        /// <summary>
        /// Rows read ahead and scored together: several batches' worth, so that sorting them by length
        /// gives batches of similar lengths (little padding); the scores then queue in input order.
        /// </summary>
        int Window => parent.batchSize * LookAheadBatches;

        void ScoreNextBatch()
        {
            var tokenized = new List<TokenizedText>(Window);
            ReadOnlyMemory<char> a = default, b = default;
            while (tokenized.Count < Window && lookahead!.MoveNext())
            {
                getText1!(ref a);
                string? pair = null;
                if (getText2 is not null)
                {
                    getText2(ref b);
                    pair = b.ToString();
                }
                tokenized.Add(parent.scorer.Tokenize(a.ToString(), pair));
            }
            if (tokenized.Count == 0) throw new InvalidOperationException("The input ended earlier for the scoring cursor than for the pass-through cursor.");
            foreach (ScoredRow row in parent.scorer.Score(tokenized, parent.batchSize)) ready.Enqueue(row);
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => rows.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column)) throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor.");
            int inputCount = parent.input.Schema.Count;
            if (column.Index < inputCount) return rows.GetGetter<TValue>(rows.Schema[column.Index]);
            return newGetters[column.Index - inputCount] as ValueGetter<TValue> ?? throw new InvalidOperationException(
                $"Invalid TValue in GetGetter for column '{column.Name}': expected {column.Type.RawType}, got {typeof(TValue)}.");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                rows.Dispose();
                lookahead?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
