using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>
/// Exports a fitted <see cref="SequenceClassifier"/> to an ONNX <see cref="ModelProto"/>: every adapter
/// merged in float32 (<see cref="AdaptedLinear.EffectiveWeightFloat32"/>, the merge inference uses), the weights
/// read from the network's state dict under their Hugging Face names, and the graph written by
/// <see cref="OnnxClassifierGraph"/>. The network is only read, so export may run while it serves.
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
        TokenizerSettings tokenizer, IReadOnlyDictionary<string, byte[]> tokenizerFiles, OnnxExportOptions? options = null,
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
        IReadOnlyList<OnnxFolderFile> files = OnnxExportFolder.Contents(model.ToByteArray(), network.Backbone.Config, regression, labelNames,
            tokenizer, tokenizerFiles, Describe(network).Head);
        OnnxExportFolder.Write(folder, files, cancellationToken);
    }

    /// <summary>
    /// Refuses, before anything is written, a backbone the graph writer does not cover: it writes BERT's and RoBERTa's
    /// encoders (model_type <c>bert</c>, <c>roberta</c>) with their WordPiece and byte-level BPE vocabularies. DistilBERT's
    /// and ELECTRA's layers, and the SentencePiece vocabulary of XLM-RoBERTa, are not written.
    /// </summary>
    /// <exception cref="NotSupportedException">Another model type.</exception>
    public static void EnsureSupported(EncoderConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        string type = config.ModelType.ToLowerInvariant();
        if (type is not ("bert" or "roberta"))
            throw new NotSupportedException(
                $"ONNX export covers BERT and RoBERTa backbones (model_type 'bert' or 'roberta'); this model's backbone is a '{config.ModelType}'. " +
                "Serve it with the TorchSharp model (Model.Load), or fine-tune a BERT or RoBERTa backbone to export.");
    }

    /// <summary>The head, family and output count of <paramref name="network"/>.</summary>
    /// <exception cref="NotSupportedException">A backbone the exporter does not cover (<see cref="EnsureSupported"/>).</exception>
    public static OnnxClassifierSpec Describe(SequenceClassifier network)
    {
        ArgumentNullException.ThrowIfNull(network);
        EnsureSupported(network.Backbone.Config);
        OnnxHeadKind head = network.HeadKind == HeadKind.MeanPooling ? OnnxHeadKind.MeanPooling
            : network.Classifier is FirstTokenClassificationHead ? OnnxHeadKind.RobertaHead
            : OnnxHeadKind.BertPooler;
        return new OnnxClassifierSpec(network.Backbone.Config, network.BackbonePrefix, head, network.NumLabels);
    }

    /// <summary>
    /// The network's weights under their Hugging Face names, as float32 arrays, each adapted layer's weight being what
    /// the layer computes with: W + dW for an enabled adapter (merged or not: merging keeps its own tensor and never
    /// writes W, so the merge is computed here afresh, in float32, from W and the adapter), W for a disabled one. The
    /// network is only read.
    /// </summary>
    /// <exception cref="NotSupportedException">A weight is not float32 (a network held in bf16/fp16: export from its float32 weights).</exception>
    public static Dictionary<string, OnnxWeight> MergedWeights(SequenceClassifier network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var result = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        foreach (var (name, tensor) in AdapterInjector.BaseStateDict(network))
        {
            if (!tensor.is_floating_point()) continue;
            if (tensor.dtype != ScalarType.Float32)
                throw new NotSupportedException($"ONNX export writes float32 weights; the tensor '{name}' is {tensor.dtype}.");
            result[name] = ToArray(tensor);
        }
        foreach (var (name, layer) in AdapterInjector.AdaptedLayers(network))
        {
            // BaseStateDict named the base weight '<layer>.weight': replace it with the weight the layer computes with.
            using Tensor effective = layer.EffectiveWeightFloat32();
            result[name + ".weight"] = ToArray(effective);
        }
        return result;
    }

    /// <summary>Whether every floating-point tensor of <paramref name="network"/> is float32 (what <see cref="Export"/> needs).</summary>
    public static bool IsFloat32(SequenceClassifier network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.state_dict().Values.All(t => !t.is_floating_point() || t.dtype == ScalarType.Float32);
    }

    static OnnxWeight ToArray(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        Tensor cpu = tensor.detach().cpu().contiguous();
        return new OnnxWeight(cpu.data<float>().ToArray(), cpu.shape);
    }
}
