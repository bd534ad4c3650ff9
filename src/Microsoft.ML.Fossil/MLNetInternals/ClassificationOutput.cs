using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>Names of the standard ML.NET column annotations (ML.NET's own list is internal).</summary>
internal static class AnnotationKinds
{
    /// <summary>Names of the slots of a vector column (e.g. one class name per score).</summary>
    public const string SlotNames = AnnotationUtils.Kinds.SlotNames;

    /// <summary>The value of each key of a key-typed column (e.g. the class name of each predicted label).</summary>
    public const string KeyValues = AnnotationUtils.Kinds.KeyValues;

    /// <summary>Groups the output columns of one scorer (a key with <see cref="uint"/> raw values).</summary>
    public const string ScoreColumnSetId = AnnotationUtils.Kinds.ScoreColumnSetId;

    /// <summary>The kind of task that produced a score column, e.g. "MulticlassClassification".</summary>
    public const string ScoreColumnKind = AnnotationUtils.Kinds.ScoreColumnKind;

    /// <summary>What a scorer's column holds: "Score", "PredictedLabel" or "Probability".</summary>
    public const string ScoreValueKind = AnnotationUtils.Kinds.ScoreValueKind;

    /// <summary>The label values seen in training, per score slot.</summary>
    public const string TrainingLabelValues = AnnotationUtils.Kinds.TrainingLabelValues;

    /// <summary>The <see cref="ScoreColumnKind"/> of multiclass classifiers.</summary>
    public const string MulticlassClassification = AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification;

    /// <summary>The <see cref="ScoreValueKind"/> of a score column.</summary>
    public const string ScoreValue = AnnotationUtils.Const.ScoreValueKind.Score;

    /// <summary>The <see cref="ScoreValueKind"/> of a predicted-label column.</summary>
    public const string PredictedLabelValue = AnnotationUtils.Const.ScoreValueKind.PredictedLabel;
}

/// <summary>
/// The two output columns of an ML.NET multiclass classifier, built the way ML.NET's own trainers
/// build them, so that <c>MulticlassClassification.Evaluate</c>, <c>MapKeyToValue</c> and
/// <c>PredictionEngine</c> treat a Fossil classifier like any other:
/// <list type="bullet">
/// <item><c>Score</c>: <c>Vector&lt;Single, K&gt;</c> of class probabilities, annotated with
/// <c>SlotNames</c> (the class names), <c>TrainingLabelValues</c>, <c>ScoreColumnSetId</c>,
/// <c>ScoreColumnKind</c> = MulticlassClassification and <c>ScoreValueKind</c> = Score.</item>
/// <item><c>PredictedLabel</c>: <c>Key&lt;UInt32, K&gt;</c> (1-based; 0 = missing), annotated with
/// <c>KeyValues</c> (the class names) and the same score-set annotations with
/// <c>ScoreValueKind</c> = PredictedLabel.</item>
/// </list>
/// </summary>
internal static class ClassificationOutput
{
    /// <summary>The conventional name of the score column.</summary>
    public const string DefaultScoreColumnName = "Score";

    /// <summary>The conventional name of the predicted-label column.</summary>
    public const string DefaultPredictedLabelColumnName = "PredictedLabel";

    /// <summary>
    /// The score-set id for new scorer columns appended to <paramref name="inputSchema"/>: one more
    /// than the largest already present (1 when there is none), as ML.NET's scorers do.
    /// </summary>
    /// <param name="inputSchema">The schema the columns are appended to.</param>
    public static uint NextScoreColumnSetId(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return checked(inputSchema.GetMaxAnnotationKind(out _, AnnotationKinds.ScoreColumnSetId) + 1);
    }

    /// <summary>The score column: class probabilities with the class names as slot names.</summary>
    /// <param name="name">Column name.</param>
    /// <param name="classNames">The class names, in score order (at least one).</param>
    /// <param name="scoreColumnSetId">From <see cref="NextScoreColumnSetId"/>.</param>
    public static DataViewSchema.DetachedColumn ScoreColumn(string name, IReadOnlyList<string> classNames, uint scoreColumnSetId)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ReadOnlyMemory<char>[] names = ToMemory(classNames);
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(AnnotationKinds.SlotNames, new VectorDataViewType(TextDataViewType.Instance, names.Length), TextVectorGetter(names));
        annotations.Add(AnnotationKinds.TrainingLabelValues, new VectorDataViewType(TextDataViewType.Instance, names.Length), TextVectorGetter(names));
        AddScoreSetAnnotations(annotations, scoreColumnSetId, AnnotationKinds.ScoreValue);
        return new DataViewSchema.DetachedColumn(name, new VectorDataViewType(NumberDataViewType.Single, names.Length), annotations.ToAnnotations());
    }

    /// <summary>The predicted-label column: a key over the classes whose key values are the class names.</summary>
    /// <param name="name">Column name.</param>
    /// <param name="classNames">The class names, in score order (at least one).</param>
    /// <param name="scoreColumnSetId">From <see cref="NextScoreColumnSetId"/>.</param>
    public static DataViewSchema.DetachedColumn PredictedLabelColumn(string name, IReadOnlyList<string> classNames, uint scoreColumnSetId)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ReadOnlyMemory<char>[] names = ToMemory(classNames);
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(AnnotationKinds.KeyValues, new VectorDataViewType(TextDataViewType.Instance, names.Length), TextVectorGetter(names));
        AddScoreSetAnnotations(annotations, scoreColumnSetId, AnnotationKinds.PredictedLabelValue);
        return new DataViewSchema.DetachedColumn(name, new KeyDataViewType(typeof(uint), names.Length), annotations.ToAnnotations());
    }

    /// <summary>The <see cref="SchemaShape"/> promise matching <see cref="ScoreColumn"/>.</summary>
    /// <param name="name">Column name.</param>
    public static SchemaShape.Column ScoreShape(string name)
        => SchemaShapes.Vector(name, NumberDataViewType.Single,
            [
                SchemaShapes.Vector(AnnotationKinds.SlotNames, TextDataViewType.Instance),
                SchemaShapes.Vector(AnnotationKinds.TrainingLabelValues, TextDataViewType.Instance),
                .. ScoreSetShapes(),
            ]);

    /// <summary>The <see cref="SchemaShape"/> promise matching <see cref="PredictedLabelColumn"/>.</summary>
    /// <param name="name">Column name.</param>
    public static SchemaShape.Column PredictedLabelShape(string name)
        => SchemaShapes.Key(name,
            [
                SchemaShapes.Vector(AnnotationKinds.KeyValues, TextDataViewType.Instance),
                .. ScoreSetShapes(),
            ]);

    static void AddScoreSetAnnotations(DataViewSchema.Annotations.Builder annotations, uint scoreColumnSetId, string valueKind)
    {
        annotations.Add(AnnotationKinds.ScoreColumnSetId, AnnotationUtils.ScoreColumnSetIdType, (ref uint value) => value = scoreColumnSetId);
        annotations.Add(AnnotationKinds.ScoreColumnKind, TextDataViewType.Instance,
            (ref ReadOnlyMemory<char> value) => value = AnnotationKinds.MulticlassClassification.AsMemory());
        annotations.Add(AnnotationKinds.ScoreValueKind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> value) => value = valueKind.AsMemory());
    }

    static IEnumerable<SchemaShape.Column> ScoreSetShapes() =>
    [
        SchemaShapes.Key(AnnotationKinds.ScoreColumnSetId),
        SchemaShapes.Scalar(AnnotationKinds.ScoreColumnKind, TextDataViewType.Instance),
        SchemaShapes.Scalar(AnnotationKinds.ScoreValueKind, TextDataViewType.Instance),
    ];

    static ReadOnlyMemory<char>[] ToMemory(IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        if (classNames.Count == 0) throw new ArgumentException("At least one class is needed.", nameof(classNames));
        var names = new ReadOnlyMemory<char>[classNames.Count];
        for (int i = 0; i < names.Length; i++)
            names[i] = (classNames[i] ?? throw new ArgumentException($"Class name {i} is null.", nameof(classNames))).AsMemory();
        return names;
    }

    static ValueGetter<VBuffer<ReadOnlyMemory<char>>> TextVectorGetter(ReadOnlyMemory<char>[] values)
        => (ref VBuffer<ReadOnlyMemory<char>> destination) =>
        {
            var editor = VBufferEditor.Create(ref destination, values.Length);
            values.AsSpan().CopyTo(editor.Values);
            destination = editor.Commit();
        };
}
