using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// Estimator for <see cref="LogitsToPredictionTransformer"/>: turns a vector of raw class scores
/// (logits, e.g. a classification head's output) into ML.NET's standard multiclass output, a
/// <c>Score</c> vector of probabilities with the class names as slot names and a key-typed
/// <c>PredictedLabel</c> whose key values are the class names. The class names come from the key
/// values of a label column of the training data (as set by <c>MapValueToKey</c>) or are given.
/// </summary>
/// <remarks>
/// The classification output stage of every Fossil classifier, and the library's end-to-end proof
/// that a component of this assembly saves with <c>mlContext.Model.Save</c> and loads with
/// <c>mlContext.Model.Load</c> in a fresh process (see MLNetInternals/README.md).
/// </remarks>
internal sealed class LogitsToPredictionEstimator : IEstimator<LogitsToPredictionTransformer>
{
    readonly string _logitsColumnName;
    readonly string? _labelColumnName;
    readonly string[]? _classNames;
    readonly string _scoreColumnName;
    readonly string _predictedLabelColumnName;

    /// <summary>Creates the estimator.</summary>
    /// <param name="logitsColumnName">Input column: <c>Vector&lt;Single, K&gt;</c>.</param>
    /// <param name="labelColumnName">A key-typed label column whose key values name the K classes, or null to use <paramref name="classNames"/>.</param>
    /// <param name="classNames">The K class names, when <paramref name="labelColumnName"/> is null.</param>
    /// <param name="scoreColumnName">Output score column.</param>
    /// <param name="predictedLabelColumnName">Output predicted-label column.</param>
    public LogitsToPredictionEstimator(string logitsColumnName, string? labelColumnName = null, IReadOnlyList<string>? classNames = null,
        string scoreColumnName = ClassificationOutput.DefaultScoreColumnName,
        string predictedLabelColumnName = ClassificationOutput.DefaultPredictedLabelColumnName)
    {
        ArgumentException.ThrowIfNullOrEmpty(logitsColumnName);
        ArgumentException.ThrowIfNullOrEmpty(scoreColumnName);
        ArgumentException.ThrowIfNullOrEmpty(predictedLabelColumnName);
        if ((labelColumnName is null) == (classNames is null))
            throw new ArgumentException("Give either a label column or the class names.", nameof(classNames));
        if (scoreColumnName == predictedLabelColumnName)
            throw new ArgumentException("The score and predicted-label columns need different names.", nameof(predictedLabelColumnName));
        _logitsColumnName = logitsColumnName;
        _labelColumnName = labelColumnName;
        _classNames = classNames?.ToArray();
        _scoreColumnName = scoreColumnName;
        _predictedLabelColumnName = predictedLabelColumnName;
    }

    /// <inheritdoc />
    public LogitsToPredictionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        GetOutputSchema(SchemaShapes.FromSchema(input.Schema));
        string[] classNames = _classNames ?? ClassificationOutput.ClassNamesFromKeyValues(input.Schema[_labelColumnName!]);
        var transformer = new LogitsToPredictionTransformer(_logitsColumnName, _scoreColumnName, _predictedLabelColumnName, classNames);
        transformer.GetOutputSchema(input.Schema); // checks the logits vector size against the class count
        return transformer;
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaShapes.RequireColumn(inputSchema, "logits", _logitsColumnName, "Vector<Single>",
            c => c.Kind == SchemaShape.Column.VectorKind.Vector && !c.IsKey && c.ItemType == NumberDataViewType.Single);
        if (_labelColumnName is not null)
            SchemaShapes.RequireColumn(inputSchema, "label", _labelColumnName, "Key<UInt32> with text key values",
                c => c.Kind == SchemaShape.Column.VectorKind.Scalar && c.IsKey
                    && SchemaShapes.TryFindColumn(c.Annotations, AnnotationKinds.KeyValues, out var keyValues)
                    && keyValues.Kind == SchemaShape.Column.VectorKind.Vector && keyValues.ItemType is TextDataViewType);
        return SchemaShapes.WithColumns(inputSchema,
            [ClassificationOutput.ScoreShape(_scoreColumnName), ClassificationOutput.PredictedLabelShape(_predictedLabelColumnName)]);
    }
}

/// <summary>
/// Maps a logits vector column to ML.NET's multiclass output (see <see cref="LogitsToPredictionEstimator"/>).
/// Saved with <c>mlContext.Model.Save</c>, loaded by ML.NET through the <c>LoadableClass</c>
/// registration in LoadableClasses.cs.
/// </summary>
internal sealed class LogitsToPredictionTransformer : ITransformer
{
    /// <summary>The name of the component's <c>LoadableClass</c> registration.</summary>
    internal const string LoaderSignature = "FossilLogitsToPredict";

    /// <summary>
    /// Format history: 0x00010001 = initial (column names and class count in the main stream, class
    /// names in the "ClassNames.bin" side stream).
    /// </summary>
    internal static readonly FossilModelVersion Version = new(
        modelSignature: "FOSLG2PR",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature);

    const string ClassNamesStream = "ClassNames.bin";
    const int MaxClasses = 1 << 20;

    readonly string[] _classNames;

    internal LogitsToPredictionTransformer(string logitsColumnName, string scoreColumnName, string predictedLabelColumnName, IReadOnlyList<string> classNames)
    {
        ArgumentException.ThrowIfNullOrEmpty(logitsColumnName);
        ArgumentException.ThrowIfNullOrEmpty(scoreColumnName);
        ArgumentException.ThrowIfNullOrEmpty(predictedLabelColumnName);
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count is 0 or > MaxClasses)
            throw new ArgumentException($"Between 1 and {MaxClasses} classes are supported; got {classNames.Count}.", nameof(classNames));
        LogitsColumnName = logitsColumnName;
        ScoreColumnName = scoreColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
        _classNames = classNames.ToArray();
    }

    /// <summary>The input column of raw class scores.</summary>
    public string LogitsColumnName { get; }

    /// <summary>The output probability column.</summary>
    public string ScoreColumnName { get; }

    /// <summary>The output key column.</summary>
    public string PredictedLabelColumnName { get; }

    /// <summary>The class names, in score order.</summary>
    public IReadOnlyList<string> ClassNames => _classNames;

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new Mapper(this, inputSchema).OutputSchema;

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema);

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new MappedDataView(input, new Mapper(this, input.Schema));
    }

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        // *** Binary format 0x00010001 ***
        // main stream: string logits column, string score column, string predicted-label column, int K
        // ClassNames.bin: K length-prefixed UTF-8 strings
        var writer = FossilModelWriter.Begin(ctx, Version);
        writer.WriteString(LogitsColumnName);
        writer.WriteString(ScoreColumnName);
        writer.WriteString(PredictedLabelColumnName);
        writer.WriteInt32(_classNames.Length);
        writer.SaveBinaryStream(ClassNamesStream, w =>
        {
            foreach (string name in _classNames) w.Write(name);
        });
    }

    /// <summary>Reads what <see cref="ICanSaveModel.Save"/> wrote (called by the registered loader).</summary>
    /// <param name="reader">Positioned at the component's data.</param>
    internal static LogitsToPredictionTransformer Load(FossilModelReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string logits = reader.ReadString();
        string score = reader.ReadString();
        string predicted = reader.ReadString();
        int count = reader.ReadInt32(1, MaxClasses);
        var names = new string[count];
        reader.LoadBinaryStream(ClassNamesStream, r =>
        {
            for (int i = 0; i < count; i++) names[i] = r.ReadString();
            reader.CheckDecode(r.BaseStream.Position == r.BaseStream.Length, "trailing data after the class names");
        });
        return new LogitsToPredictionTransformer(logits, score, predicted, names);
    }

    sealed class Mapper : FossilRowMapper
    {
        readonly DataViewSchema.Column _logits;
        readonly int _classCount;

        public Mapper(LogitsToPredictionTransformer parent, DataViewSchema inputSchema)
            : base(inputSchema, NewColumns(parent, inputSchema))
        {
            _logits = inputSchema[parent.LogitsColumnName];
            _classCount = parent._classNames.Length;
        }

        static DataViewSchema.DetachedColumn[] NewColumns(LogitsToPredictionTransformer parent, DataViewSchema inputSchema)
        {
            ArgumentNullException.ThrowIfNull(inputSchema);
            DataViewSchema.Column logits = inputSchema.GetColumnOrNull(parent.LogitsColumnName)
                ?? throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for logits column '{parent.LogitsColumnName}': column not found.");
            if (logits.Type is not VectorDataViewType { ItemType: NumberDataViewType, Size: var size } vector
                || vector.ItemType != NumberDataViewType.Single || size != parent._classNames.Length)
                throw new ArgumentOutOfRangeException(nameof(inputSchema),
                    $"Schema mismatch for logits column '{parent.LogitsColumnName}': expected Vector<Single, {parent._classNames.Length}>, got {logits.Type}.");
            uint setId = ClassificationOutput.NextScoreColumnSetId(inputSchema);
            return
            [
                ClassificationOutput.ScoreColumn(parent.ScoreColumnName, parent._classNames, setId),
                ClassificationOutput.PredictedLabelColumn(parent.PredictedLabelColumnName, parent._classNames, setId),
            ];
        }

        protected override IEnumerable<DataViewSchema.Column> GetInputColumnsFor(IReadOnlyList<int> activeNewColumns) => [_logits];

        protected override Delegate?[] CreateGetters(DataViewRow input, IReadOnlyList<int> activeNewColumns, out Action? disposer)
        {
            disposer = null;
            ValueGetter<VBuffer<float>> getLogits = input.GetGetter<VBuffer<float>>(_logits);
            VBuffer<float> logits = default;
            var probabilities = new PerRowCache<float[]>(input, previous =>
            {
                float[] values = previous ?? new float[_classCount];
                getLogits(ref logits);
                logits.CopyTo(values);
                ClassificationOutput.Softmax(values, values);
                return values;
            });

            ValueGetter<VBuffer<float>> score = (ref VBuffer<float> destination) =>
            {
                float[] values = probabilities.Get();
                var editor = VBufferEditor.Create(ref destination, values.Length);
                values.AsSpan().CopyTo(editor.Values);
                destination = editor.Commit();
            };
            ValueGetter<uint> predicted = (ref uint destination) => destination = ClassificationOutput.ArgMaxKey(probabilities.Get());
            return [score, predicted];
        }
    }
}
