using System.Reflection;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Onnx;

namespace Microsoft.ML.Fossil;

public static partial class FossilCatalog
{
    /// <summary>The ML.NET model an export folder holds (see <see cref="ExportForOnnxRuntime"/>).</summary>
    internal const string OnnxRuntimeModelFileName = "mlnet-model.zip";

    /// <summary>
    /// Exports a fitted Fossil model for serving with ONNX Runtime, without libtorch. Writes into <paramref name="folder"/>:
    /// <list type="bullet">
    /// <item><c>model.onnx</c>: the encoder and head as an ONNX graph (opset 17, dynamic batch and sequence axes, inputs
    /// <c>input_ids</c>, <c>attention_mask</c> and, for BERT, <c>token_type_ids</c>; output <c>logits</c>), the adapters
    /// merged in float32, whatever state the model is in (merged, unmerged, trained in bf16; FOSSIL, LoRA or fully fine-tuned);</item>
    /// <item><c>config.json</c> (with <c>id2label</c> / <c>label2id</c>) and the tokenizer files, so that Hugging Face
    /// Optimum's <c>ORTModelForSequenceClassification</c> and <c>AutoTokenizer</c> serve the folder from Python;</item>
    /// <item><c>mlnet-model.zip</c>: <paramref name="model"/> with its Fossil transformer replaced by one that scores with
    /// ONNX Runtime (the other transforms of the chain kept), with the same input and output columns. It loads with the
    /// standard <c>mlContext.Model.Load</c> and serves through <c>Transform</c> and <c>PredictionEngine</c> in an
    /// application that references Microsoft.ML.Fossil, Microsoft.ML and Microsoft.ML.OnnxRuntime but no libtorch
    /// package. It is self-contained: it holds the graph and the tokenizer files, with a manifest of their SHA-256
    /// that loading verifies.</item>
    /// </list>
    /// See docs/onnx.md.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="model">A fitted model holding one <see cref="FossilTextClassificationTransformer"/> or
    /// <see cref="FossilSentenceSimilarityTransformer"/>, alone or in a transformer chain (e.g. from <c>Fit</c> or <c>Model.Load</c>).</param>
    /// <param name="inputSchema">The schema of the model's input, saved with <c>mlnet-model.zip</c> (as for <c>Model.Save</c>).</param>
    /// <param name="folder">The folder to create or update; its parent folder must exist.</param>
    /// <param name="quantizeInt8">
    /// Write the encoder's linear layers with int8 weights (per output column, quantized once) and activations quantized
    /// at run time, which ONNX Runtime runs on the CPU's integer instructions (VNNI where present): faster and 4 times
    /// smaller, with logits that differ slightly from float32 (docs/onnx.md gives the measured accuracy). Default false:
    /// the float32 graph, whose logits match the TorchSharp model's to about 1e-5.
    /// </param>
    /// <remarks>
    /// The files are written so that a failure leaves no half-written content: a new folder appears whole; in an
    /// existing folder every file is written completely beside its name first and then renamed over it. Exporting reads
    /// the model and never changes it, so it may run while the model serves.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="model"/> holds no Fossil transformer, or more than one, or
    /// does not accept <paramref name="inputSchema"/>.</exception>
    /// <exception cref="DirectoryNotFoundException">The parent folder of <paramref name="folder"/> does not exist.</exception>
    /// <exception cref="IOException">The folder is a file, or cannot be created or written; the message names it.</exception>
    public static void ExportForOnnxRuntime(this ModelOperationsCatalog catalog, ITransformer model, DataViewSchema inputSchema, string folder,
        bool quantizeInt8 = false)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputSchema);
        folder = OnnxExportFolder.CheckTarget(folder);
        // The model must accept the schema it is saved with (ML.NET's own message names the missing or mistyped column).
        model.GetOutputSchema(inputSchema);

        ITransformer fossil = FindFossilTransformer(model);
        FossilTransformerCore core = fossil switch
        {
            FossilTextClassificationTransformer t => t.Core,
            FossilSentenceSimilarityTransformer t => t.Core,
            _ => throw new InvalidOperationException("unreachable"),
        };
        FossilSettings settings = SettingsOf(CatalogEnvironment.Of(catalog));
        OnnxExportResult export = OnnxExport.Export(core, quantizeInt8, settings.ForBackboneLoading());

        // Loading the graph into ONNX Runtime here checks it (and the tokenizer files) before anything is written.
        using var onnxRuntime = new FossilOnnxRuntimeTransformer(new OnnxTransformerCore(export.Model, core.Columns, core.BatchSize, "The exported ONNX Runtime model"));
        ITransformer serving = Replace(model, fossil, onnxRuntime);
        OnnxFolderFile mlnetModel = new(OnnxRuntimeModelFileName, stream => catalog.Save(serving, inputSchema, stream));
        OnnxExportFolder.Write(folder, [.. export.FolderFiles, mlnetModel]);
    }

    /// <summary>The one Fossil transformer of <paramref name="model"/>, searched through (nested) transformer chains.</summary>
    static ITransformer FindFossilTransformer(ITransformer model)
    {
        var all = new List<ITransformer>();
        void Walk(ITransformer t)
        {
            all.Add(t);
            if (IsChain(t)) foreach (ITransformer part in (IEnumerable<ITransformer>)t) Walk(part);
        }
        Walk(model);
        if (all.OfType<FossilOnnxRuntimeTransformer>().Any())
            throw new ArgumentException("The model already scores with ONNX Runtime (it was loaded from an export folder's mlnet-model.zip); export the Fossil model it came from.", nameof(model));
        List<ITransformer> fossils = [.. all.Where(t => t is FossilTextClassificationTransformer or FossilSentenceSimilarityTransformer)];
        string Listing() => string.Join(", ", all.Where(t => !IsChain(t)).Select(t => t.GetType().Name));
        return fossils.Count switch
        {
            1 => fossils[0],
            0 => throw new ArgumentException("The model holds no FossilTextClassificationTransformer or FossilSentenceSimilarityTransformer, so there is nothing to " +
                                             $"export for ONNX Runtime. Its transformers: {Listing()}.", nameof(model)),
            _ => throw new ArgumentException($"The model holds {fossils.Count} Fossil transformers; an export folder holds one ONNX model. Its transformers: {Listing()}.", nameof(model)),
        };
    }

    static bool IsChain(ITransformer t) => t.GetType() is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(TransformerChain<>);

    /// <summary>
    /// <paramref name="model"/> with <paramref name="target"/> replaced by <paramref name="replacement"/>; chains are rebuilt
    /// with every other transformer, in order, each keeping its scope (training, testing, scoring).
    /// </summary>
    static ITransformer Replace(ITransformer model, ITransformer target, ITransformer replacement)
    {
        if (ReferenceEquals(model, target)) return replacement;
        if (!IsChain(model)) return model;
        ITransformer[] parts = [.. (IEnumerable<ITransformer>)model];
        // A chain's scopes are internal to ML.NET; GetModelFor(scope) (public) lists the transformers of each scope, in order.
        MethodInfo modelFor = model.GetType().GetMethod(nameof(TransformerChain<ITransformer>.GetModelFor), [typeof(TransformerScope)])
            ?? throw new MissingMethodException(model.GetType().Name, nameof(TransformerChain<ITransformer>.GetModelFor));
        var scopes = new TransformerScope[parts.Length];
        foreach (TransformerScope scope in (TransformerScope[])[TransformerScope.Training, TransformerScope.Testing, TransformerScope.Scoring])
        {
            ITransformer[] inScope = [.. (IEnumerable<ITransformer>)modelFor.Invoke(model, [scope])!];
            for (int i = 0, j = 0; i < parts.Length && j < inScope.Length; i++)
                if (ReferenceEquals(parts[i], inScope[j]))
                {
                    scopes[i] |= scope;
                    j++;
                }
        }
        return new TransformerChain<ITransformer>(parts.Select(p => Replace(p, target, replacement)), scopes);
    }
}
