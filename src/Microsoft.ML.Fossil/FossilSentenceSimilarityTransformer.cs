using Microsoft.ML;
using Microsoft.ML.Data;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(Microsoft.ML.Fossil.FossilSentenceSimilarityTransformer), typeof(Microsoft.ML.Fossil.MLNetInternals.FossilLoader<Microsoft.ML.Fossil.FossilSentenceSimilarityTransformer>),
    null, typeof(SignatureLoadModel), "Fossil Sentence Similarity", Microsoft.ML.Fossil.FossilSentenceSimilarityTransformer.LoaderSignature)]

namespace Microsoft.ML.Fossil;

/// <summary>
/// A fitted sentence-similarity model (STS-B style regression; FOSSIL, LoRA or fully fine-tuned) as an ML.NET
/// transformer. Appends <c>Score</c>, the predicted similarity (a Single with ML.NET's regression annotations). Saves with <c>mlContext.Model.Save</c> as a compact model (adapters and head; the frozen backbone is
/// referenced by source and SHA-256) and loads with <c>mlContext.Model.Load</c>. Saving never changes the model, so
/// it may run while other threads predict; a model loaded and saved again keeps everything.
/// </summary>
public sealed class FossilSentenceSimilarityTransformer : ITransformer, IDisposable, ILoadableFossilComponent<FossilSentenceSimilarityTransformer>
{
    internal const string LoaderSignature = "FossilSimilarityModel";
    static readonly FossilModelVersion FormatVersion = new(
        modelSignature: "FOSSILSS",
        verWrittenCur: 0x00010001, // 1.1: compact model format 1
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature);

    internal FossilSentenceSimilarityTransformer(FossilTransformerCore core) => Core = core;

    internal FossilTransformerCore Core { get; }

    /// <summary>The (first) sentence column read.</summary>
    public string Sentence1ColumnName => Core.Columns.Text1;

    /// <summary>The second sentence column of pair tasks, or null.</summary>
    public string? Sentence2ColumnName => Core.Columns.Text2;

    /// <summary>The similarity column written.</summary>
    public string ScoreColumnName => Core.Columns.Score;

    /// <summary>SHA-256 of the frozen backbone's weights, which the model finds its backbone by.</summary>
    public string BackboneSha256 => Core.Definition.Backbone.Sha256 ?? "";

    /// <summary>
    /// The training run as recorded in the model (a copy): seconds, epochs with their loss and validation metrics,
    /// the best epoch, parameter counts, the adapter and its learning rate. Null for a model that was saved without one.
    /// </summary>
    public JsonObject? TrainingSummary => Core.Definition.TrainingSummaryJson is { } json ? JsonNode.Parse(json)!.AsObject() : null;

    /// <summary>Whether saving embeds the backbone's weights and tokenizer (a self-contained file as large as the backbone).</summary>
    public bool EmbedBackbone
    {
        get => Core.EmbedBackbone;
        set => Core.EmbedBackbone = value;
    }

    /// <summary>Rows per forward pass in <see cref="Transform"/>.</summary>
    public int BatchSize
    {
        get => Core.BatchSize;
        set => Core.BatchSize = value;
    }

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Core.GetOutputSchema(inputSchema);

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Core.GetRowToRowMapper(inputSchema);

    /// <summary>Scores <paramref name="input"/> lazily, in batches of <see cref="BatchSize"/> rows under inference mode.</summary>
    public IDataView Transform(IDataView input) => Core.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => Core.Save(ctx, FormatVersion);

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose() => Core.Dispose();

    static FossilModelVersion ILoadableFossilComponent<FossilSentenceSimilarityTransformer>.Version => FormatVersion;

    /// <summary>Reads the model (found by ML.NET through the LoadableClass attribute above) with its context's settings and device.</summary>
    static FossilSentenceSimilarityTransformer ILoadableFossilComponent<FossilSentenceSimilarityTransformer>.Load(FossilModelReader reader, IHostEnvironment env)
    {
        FossilSettings settings = FossilCatalog.SettingsOf(env);
        FossilTransformerCore core = FossilTransformerCore.Load(reader, env, settings.ForBackboneLoading(), settings.MergeAdaptersOnLoad);
        if (core.Definition.Task != PredictionTask.Regression)
        {
            core.Dispose();
            throw new InvalidDataException("This model file names the similarity transformer but holds a classifier: the file is damaged.");
        }
        return new FossilSentenceSimilarityTransformer(core);
    }
}
