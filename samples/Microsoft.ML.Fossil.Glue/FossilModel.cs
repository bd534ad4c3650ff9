using System.Text.Json.Nodes;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>
/// What the runner needs to know of a fitted or loaded model: its text columns, whether it scores similarity or classes,
/// and its class names. From the Fossil transformer inside the pipeline (<see cref="FossilTextClassificationTransformer"/>
/// or <see cref="FossilSentenceSimilarityTransformer"/>), or, for a model that scores through ONNX Runtime (the
/// <c>mlnet-model.zip</c> that <c>export-onnx</c> writes), from its schemas: the text columns of the input schema it was
/// saved with (the runner's own data, so every text column but the label), and its Score column.
/// </summary>
internal sealed class FossilModel : IDisposable
{
    readonly IDisposable[] owned;

    FossilModel(string sentence1, string? sentence2, bool regression, IReadOnlyList<string> classNames, string? backboneSha256,
        JsonObject? trainingSummary, IDisposable[] owned)
    {
        Sentence1ColumnName = sentence1;
        Sentence2ColumnName = sentence2;
        IsRegression = regression;
        ClassNames = classNames;
        BackboneSha256 = backboneSha256;
        TrainingSummary = trainingSummary;
        this.owned = owned;
    }

    /// <summary>The Fossil transformer of <paramref name="model"/> (a transformer or a chain).</summary>
    public static FossilModel Find(ITransformer model) =>
        TryFossil(model) ?? throw new GlueException("The model has no Fossil text model (was it saved by this runner?).");

    /// <summary>
    /// <see cref="Find(ITransformer)"/>, or for a model without a Fossil transformer (ONNX Runtime scoring), what its
    /// <paramref name="inputSchema"/> (as loaded with it) and output schema say.
    /// </summary>
    public static FossilModel Find(ITransformer model, DataViewSchema inputSchema)
    {
        if (TryFossil(model) is { } fossil) return fossil;
        DataViewSchema output;
        try
        {
            output = model.GetOutputSchema(inputSchema);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new GlueException($"The model does not apply to the data it was saved with: {GlueApp.Message(e)}");
        }
        if (output.GetColumnOrNull("Score") is not { } score)
            throw new GlueException("The model has no Fossil text model and no Score column (was it saved by this runner or by export-onnx?).");
        string[] texts = [.. inputSchema.Where(c => !c.IsHidden && c.Type is TextDataViewType && c.Name != DataSpec.LabelColumn).Select(c => c.Name)];
        if (texts.Length is 0 or > 2)
            throw new GlueException($"The model's input schema has {texts.Length} text columns besides '{DataSpec.LabelColumn}'; expected one or two sentences.");
        bool regression = score.Type is NumberDataViewType;
        string[] classes = [];
        if (!regression)
        {
            VBuffer<ReadOnlyMemory<char>> names = default;
            score.GetSlotNames(ref names);
            classes = [.. names.DenseValues().Select(n => n.ToString())];
        }
        IDisposable[] parts = [.. (model is IEnumerable<ITransformer> chain ? chain : [model]).OfType<IDisposable>()];
        return new FossilModel(texts[0], texts.Length > 1 ? texts[1] : null, regression, classes, null, null, parts);
    }

    static FossilModel? TryFossil(ITransformer model)
    {
        IEnumerable<ITransformer> parts = model is IEnumerable<ITransformer> chain ? chain : [model];
        return parts.Where(t => t is FossilTextClassificationTransformer or FossilSentenceSimilarityTransformer).SingleOrDefault() switch
        {
            FossilTextClassificationTransformer c => new FossilModel(c.Sentence1ColumnName, c.Sentence2ColumnName, false, c.ClassNames,
                c.BackboneSha256, c.TrainingSummary, [c]),
            FossilSentenceSimilarityTransformer s => new FossilModel(s.Sentence1ColumnName, s.Sentence2ColumnName, true, [],
                s.BackboneSha256, s.TrainingSummary, [s]),
            _ => null,
        };
    }

    /// <summary>Whether the model scores similarity (regression) rather than classes.</summary>
    public bool IsRegression { get; }

    /// <summary>The (first) sentence column.</summary>
    public string Sentence1ColumnName { get; }

    /// <summary>The second sentence column, or null.</summary>
    public string? Sentence2ColumnName { get; }

    /// <summary>The class names (classification).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The backbone's weights SHA-256 (null for an ONNX Runtime model).</summary>
    public string? BackboneSha256 { get; }

    /// <summary>The training summary the model records (null for an ONNX Runtime model).</summary>
    public JsonObject? TrainingSummary { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (IDisposable part in owned) part.Dispose();
    }
}
