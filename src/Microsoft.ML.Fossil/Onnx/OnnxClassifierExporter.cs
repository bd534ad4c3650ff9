using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>
/// Exports a fitted <see cref="SequenceClassifier"/> to an ONNX <see cref="ModelProto"/>: every adapter
/// merged into its base weight in float32 (<see cref="AdaptedLinear.Merge"/>, the same merge inference
/// uses), the weights read from the network's state dict under their Hugging Face names, and the graph
/// written by <see cref="OnnxClassifierGraph"/>. The network is left exactly as it was.
/// </summary>
internal static class OnnxClassifierExporter
{
    /// <summary>Exports <paramref name="network"/> as it computes in evaluation mode.</summary>
    /// <exception cref="NotSupportedException">The network holds non-float32 weights.</exception>
    public static ModelProto Export(SequenceClassifier network, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        OnnxClassifierSpec spec = Describe(network);
        Dictionary<string, OnnxWeight> weights = MergedWeights(network);
        return OnnxClassifierGraph.Build(spec, weights, options ?? new OnnxExportOptions());
    }

    /// <summary>
    /// Exports <paramref name="network"/> into an export folder (<see cref="OnnxExportFolder"/>): model.onnx,
    /// config.json and the tokenizer files, written so that a failure leaves no half-written content.
    /// </summary>
    /// <param name="folder">The folder to create or update.</param>
    /// <param name="network">The fitted network.</param>
    /// <param name="regression">True when the network's single output is a regression value.</param>
    /// <param name="labelNames">Class names in output order (empty for regression).</param>
    /// <param name="tokenizer">The settings of the tokenizer the network was trained with.</param>
    /// <param name="tokenizerFiles">The backbone's tokenizer files by name.</param>
    /// <param name="options">Export choices (int8).</param>
    /// <param name="cancellationToken">Checked between files; a cancelled export leaves the folder as it was.</param>
    public static void ExportFolder(string folder, SequenceClassifier network, bool regression, IReadOnlyList<string> labelNames,
        TextEncoderSettings tokenizer, IReadOnlyDictionary<string, byte[]> tokenizerFiles, OnnxExportOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(labelNames);
        if (regression && network.NumLabels != 1)
            throw new ArgumentException($"A regression model has one output; the network has {network.NumLabels}.", nameof(regression));
        if (!regression && labelNames.Count != network.NumLabels)
            throw new ArgumentException($"The network has {network.NumLabels} outputs but {labelNames.Count} class names were given.", nameof(labelNames));
        ModelProto model = Export(network, options);
        cancellationToken.ThrowIfCancellationRequested();
        IReadOnlyList<OnnxFolderFile> files = OnnxExportFolder.Contents(model, network.Backbone.Config, regression, labelNames,
            tokenizer, tokenizerFiles, Describe(network).Head);
        OnnxExportFolder.Write(folder, files, cancellationToken);
    }

    /// <summary>The head, family and output count of <paramref name="network"/>.</summary>
    public static OnnxClassifierSpec Describe(SequenceClassifier network)
    {
        ArgumentNullException.ThrowIfNull(network);
        OnnxHeadKind head = network.HeadKind == HeadKind.MeanPooling ? OnnxHeadKind.MeanPooling
            : network.Classifier is RobertaClassificationHead ? OnnxHeadKind.RobertaHead
            : OnnxHeadKind.BertPooler;
        return new OnnxClassifierSpec(network.Backbone.Config, network.BackbonePrefix, head, network.NumLabels);
    }

    /// <summary>
    /// The state dict with every enabled, unmerged adapter merged (<c>x.base_layer.weight</c> read as
    /// <c>x.weight</c>, <see cref="AdapterInjector.BaseStateDict"/>), as float32 arrays. Layers merged here
    /// get their exact original weight back afterwards (a copy, not <see cref="AdaptedLinear.Unmerge"/>,
    /// whose inverse is only approximate for bat).
    /// </summary>
    public static Dictionary<string, OnnxWeight> MergedWeights(SequenceClassifier network)
    {
        var mergedHere = new List<(AdaptedLinear Layer, Tensor Original)>();
        try
        {
            using (no_grad())
            {
                foreach (var (name, layer) in AdapterInjector.AdaptedLayers(network))
                {
                    if (layer.Merged || !layer.AdapterEnabled) continue;   // disabled: the network computes the base layer alone
                    Tensor weight = layer.BaseLayer.weight!;
                    if (weight.dtype != ScalarType.Float32)
                        throw new NotSupportedException($"ONNX export merges adapters in float32; the layer '{name}' has {weight.dtype} weights.");
                    mergedHere.Add((layer, weight.detach().clone()));
                    layer.Merge();
                }
            }
            var result = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
            foreach (var (name, tensor) in AdapterInjector.BaseStateDict(network))
            {
                if (!tensor.is_floating_point()) continue;
                if (tensor.dtype != ScalarType.Float32)
                    throw new NotSupportedException($"ONNX export writes float32 weights; the tensor '{name}' is {tensor.dtype}.");
                result[name] = ToArray(tensor);
            }
            return result;
        }
        finally
        {
            List<Exception>? failures = null;
            using (no_grad())
            {
                foreach (var (layer, original) in mergedHere)
                {
                    // Unmerge clears the layer's merged state; the copy then restores the weight bit for bit.
                    try
                    {
                        if (layer.Merged) layer.Unmerge();
                    }
                    catch (Exception e)
                    {
                        (failures ??= []).Add(e);
                    }
                    layer.BaseLayer.weight!.copy_(original);
                    original.Dispose();
                }
            }
            if (failures is not null)
                throw new InvalidOperationException("Export merged the adapters but could not mark them unmerged again; reload the model.", new AggregateException(failures));
        }
    }

    static OnnxWeight ToArray(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        Tensor cpu = tensor.detach().cpu().contiguous();
        return new OnnxWeight(cpu.data<float>().ToArray(), cpu.shape);
    }
}
