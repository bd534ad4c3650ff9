using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(Microsoft.ML.Fossil.FossilOnnxRuntimeTransformer), typeof(Microsoft.ML.Fossil.MLNetInternals.FossilLoader<Microsoft.ML.Fossil.FossilOnnxRuntimeTransformer>),
    null, typeof(SignatureLoadModel), "Fossil ONNX Runtime", Microsoft.ML.Fossil.FossilOnnxRuntimeTransformer.LoaderSignature)]

namespace Microsoft.ML.Fossil;

/// <summary>
/// A fitted Fossil model exported for ONNX Runtime (<c>mlContext.Model.ExportForOnnxRuntime</c>): the same input and
/// output columns and annotations as the <see cref="FossilTextClassificationTransformer"/> or
/// <see cref="FossilSentenceSimilarityTransformer"/> it came from, scored by ONNX Runtime over the merged float32 (or
/// int8) graph. Its model zip is self-contained (graph, tokenizer files, a manifest with their SHA-256) and loads with
/// the standard <c>mlContext.Model.Load</c> in an application that has no libtorch: nothing on its load, scoring or
/// save path touches TorchSharp. Internal: users meet it as the <see cref="ITransformer"/> that <c>Model.Load</c> returns.
/// </summary>
internal sealed class FossilOnnxRuntimeTransformer : ITransformer, IDisposable, ILoadableFossilComponent<FossilOnnxRuntimeTransformer>
{
    internal const string LoaderSignature = "FossilOrtTransformer";
    static readonly FossilModelVersion FormatVersion = new(
        modelSignature: "FOSSILOX",
        verWrittenCur: 0x00010001, // 1.1: ONNX model layout 1
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature);

    internal FossilOnnxRuntimeTransformer(OnnxTransformerCore core) => Core = core;

    internal OnnxTransformerCore Core { get; }

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Core.GetOutputSchema(inputSchema);

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => Core.GetRowToRowMapper(inputSchema);

    /// <summary>Scores <paramref name="input"/> lazily, in length-sorted batches of <see cref="ScoringTransformerCore.BatchSize"/> rows.</summary>
    public IDataView Transform(IDataView input) => Core.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx) => Core.Save(ctx, FormatVersion);

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose() => Core.Dispose();

    static FossilModelVersion ILoadableFossilComponent<FossilOnnxRuntimeTransformer>.Version => FormatVersion;

    /// <summary>Reads the model (found by ML.NET through the LoadableClass attribute above) with its context's settings: no backbone, no TorchSharp.</summary>
    static FossilOnnxRuntimeTransformer ILoadableFossilComponent<FossilOnnxRuntimeTransformer>.Load(FossilModelReader reader, IHostEnvironment env) =>
        new(OnnxTransformerCore.Load(reader, new OnnxRuntimeNetworkOptions { AllowSpinning = FossilCatalog.SettingsOf(env).OnnxRuntimeSpinning }));
}
