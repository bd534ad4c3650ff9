using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// The output column of an ML.NET regression trainer: <c>Score</c> (<c>Single</c>) annotated with
/// <c>ScoreColumnSetId</c>, <c>ScoreColumnKind</c> = Regression and <c>ScoreValueKind</c> = Score,
/// so <c>Regression.Evaluate</c> treats a Fossil similarity model like ML.NET's own regressors.
/// </summary>
internal static class RegressionOutput
{
    /// <summary>The score column.</summary>
    public static DataViewSchema.DetachedColumn ScoreColumn(string name, uint scoreColumnSetId)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var annotations = new DataViewSchema.Annotations.Builder();
        annotations.Add(AnnotationKinds.ScoreColumnSetId, AnnotationUtils.ScoreColumnSetIdType, (ref uint value) => value = scoreColumnSetId);
        annotations.Add(AnnotationKinds.ScoreColumnKind, TextDataViewType.Instance,
            (ref ReadOnlyMemory<char> value) => value = AnnotationUtils.Const.ScoreColumnKind.Regression.AsMemory());
        annotations.Add(AnnotationKinds.ScoreValueKind, TextDataViewType.Instance,
            (ref ReadOnlyMemory<char> value) => value = AnnotationKinds.ScoreValue.AsMemory());
        return new DataViewSchema.DetachedColumn(name, NumberDataViewType.Single, annotations.ToAnnotations());
    }

    /// <summary>The <see cref="SchemaShape"/> promise matching <see cref="ScoreColumn"/>.</summary>
    public static SchemaShape.Column ScoreShape(string name) =>
        SchemaShapes.Scalar(name, NumberDataViewType.Single,
            SchemaShapes.Key(AnnotationKinds.ScoreColumnSetId),
            SchemaShapes.Scalar(AnnotationKinds.ScoreColumnKind, TextDataViewType.Instance),
            SchemaShapes.Scalar(AnnotationKinds.ScoreValueKind, TextDataViewType.Instance));
}

/// <summary>
/// The host environment behind an ML.NET trainers catalog. ML.NET exposes it only through the
/// internal interface <c>Microsoft.ML.Data.IInternalCatalog</c> (in Microsoft.ML.Data, which this
/// library does not publicize), so it is read by reflection, here and nowhere else.
/// </summary>
internal static class CatalogEnvironment
{
    static readonly System.Reflection.PropertyInfo EnvironmentProperty =
        typeof(TrainCatalogBase).Assembly.GetType("Microsoft.ML.Data.IInternalCatalog")?.GetProperty("Environment")
        ?? throw new MissingMemberException("Microsoft.ML.Data.IInternalCatalog.Environment was not found: this Microsoft.ML version is not supported (expected [5.0.1, 5.1)).");

    /// <summary>The environment (the <see cref="MLContext"/>) a trainers sub-catalog was created with.</summary>
    public static IHostEnvironment Of(TrainCatalogBase.CatalogInstantiatorBase trainers)
    {
        ArgumentNullException.ThrowIfNull(trainers);
        return (IHostEnvironment)(EnvironmentProperty.GetValue(trainers)
            ?? throw new InvalidOperationException("The catalog has no host environment."));
    }

    /// <summary>The environment (the <see cref="MLContext"/>) <c>mlContext.Model</c> belongs to.</summary>
    public static IHostEnvironment Of(ModelOperationsCatalog model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return (IHostEnvironment)(EnvironmentProperty.GetValue(model)
            ?? throw new InvalidOperationException("The model catalog has no host environment."));
    }
}
