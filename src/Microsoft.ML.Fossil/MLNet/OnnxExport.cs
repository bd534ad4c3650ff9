using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Models;
using Microsoft.ML.Fossil.Onnx;
using Onnx;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>What an export produces: the ONNX Runtime model (a value) and the files of the export folder.</summary>
/// <param name="Model">The graph, tokenizer settings and files, task and class names.</param>
/// <param name="FolderFiles">model.onnx, config.json and the tokenizer files (for Python and other runtimes).</param>
internal sealed record OnnxExportResult(OnnxScoringModel Model, IReadOnlyList<OnnxFolderFile> FolderFiles);

/// <summary>
/// Exports a fitted Fossil model (<see cref="FossilTransformerCore"/>) for ONNX Runtime: the float32 merged graph of its
/// network, whatever state the running network is in (adapters merged or not; held in float32 or, with mixed
/// precision, in bf16/fp16), int8 weights when asked. This is the TorchSharp side of the export; the ONNX Runtime side
/// (<see cref="OnnxTransformerCore"/>) never touches TorchSharp.
/// </summary>
internal static class OnnxExport
{
    /// <summary>Exports <paramref name="core"/>'s model.</summary>
    /// <param name="core">The fitted (or loaded) model.</param>
    /// <param name="quantizeInt8">Write the encoder's linear layers with dynamic int8 weights.</param>
    /// <param name="backbones">How to find the backbone again should the network have to be rebuilt in float32.</param>
    /// <param name="rebuildInFloat32">
    /// Rebuild the network in float32 from the model's definition and its backbone's float32 weights even when the
    /// running network is float32 (what a network held in bf16/fp16 needs; tests use it to check that both paths agree).
    /// </param>
    public static OnnxExportResult Export(FossilTransformerCore core, bool quantizeInt8, BackboneLoadSettings backbones, bool rebuildInFloat32 = false)
    {
        ArgumentNullException.ThrowIfNull(core);
        ArgumentNullException.ThrowIfNull(backbones);
        ModelDefinition definition = core.Definition;
        OnnxClassifierExporter.EnsureSupported(definition.EncoderConfig);
        FineTunedNetwork running = core.Network;
        FineTunedNetwork? rebuilt = null;
        try
        {
            // The running network is only read (merging keeps its own tensor, never writes W), so export may run while it
            // serves. A network not held in float32 has no float32 weights: rebuild one from the definition, on the CPU,
            // from the pretrained float32 weights (the same bytes a self-contained save embeds), adapters unmerged.
            if (rebuildInFloat32 || !OnnxClassifierExporter.IsFloat32(running.Network))
                rebuilt = FineTunedNetwork.Load(definition, running.EmbeddedBackbone(definition), backbones, CPU, mergeAdapters: false);
            SequenceClassifier network = (rebuilt ?? running).Network;
            var options = new OnnxExportOptions { QuantizeInt8 = quantizeInt8 };
            ModelProto graph = OnnxClassifierExporter.Export(network, options);
            byte[] onnx = graph.ToByteArray();

            var config = network.Backbone.Config;
            IReadOnlyDictionary<string, byte[]> tokenizerFiles = OnnxExportFolder.TokenizerFiles(config, running.BackboneTokenizerFiles);
            var model = new OnnxScoringModel(definition.Task, definition.LabelNames, onnx, quantizeInt8 ? "int8_dynamic" : "float32",
                definition.Tokenizer, tokenizerFiles, ExportedFrom(definition));
            IReadOnlyList<OnnxFolderFile> files = OnnxExportFolder.Contents(onnx, config, definition.Task == PredictionTask.Regression, definition.LabelNames,
                definition.Tokenizer, running.BackboneTokenizerFiles, OnnxClassifierExporter.Describe(network).Head);
            return new OnnxExportResult(model, files);
        }
        finally
        {
            rebuilt?.Dispose();
        }
    }

    /// <summary>The model's origin, recorded in the ONNX Runtime model's manifest (informational).</summary>
    static JsonObject ExportedFrom(ModelDefinition definition) => new()
    {
        ["backbone"] = new JsonObject
        {
            ["kind"] = definition.Backbone.Kind,
            ["locator"] = definition.Backbone.Locator,
            ["sha256"] = definition.Backbone.Sha256,
        },
        ["adapter"] = definition.Adapter.Kind.ToString(),
        ["head"] = definition.Head.ToString(),
        ["trained_sha256"] = definition.TrainedSha256,
        ["exported_by"] = $"Microsoft.ML.Fossil {typeof(OnnxExport).Assembly.GetName().Version?.ToString(3) ?? "?"}",
    };
}
