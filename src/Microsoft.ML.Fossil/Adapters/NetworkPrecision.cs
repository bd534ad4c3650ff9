using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>
/// Puts a classifier's backbone in its compute dtype: every backbone tensor (embeddings, linear layers, LayerNorms, the
/// base layers and merged weights of adapted layers) becomes bf16/fp16/fp32, while the adapters' parameters and the head
/// stay fp32. The backbone then runs homogeneous in that dtype; the adapter branches cast their fp32 master weights to it
/// for their GEMMs, and the head casts the pooled states up (see <see cref="SequenceClassifier"/>).
/// </summary>
internal static class NetworkPrecision
{
    /// <summary>The dtypes a backbone may compute in.</summary>
    public static bool IsComputeType(ScalarType dtype) => dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16;

    /// <summary>
    /// Casts <paramref name="network"/>'s backbone to <paramref name="dtype"/> in place. A tensor changes by being replaced
    /// (the old one released, never written: it may be mapped from a file). Backbone parameters that train keep their
    /// requires_grad; the training loop gives them fp32 master copies. Merge adapters before this to merge from fp32 weights.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not fp32, bf16 or fp16.</exception>
    /// <exception cref="NotSupportedException">The backbone holds parameters in a module this does not know.</exception>
    public static void Apply(SequenceClassifier network, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!IsComputeType(dtype)) throw new ArgumentException($"A backbone computes in fp32, bf16 or fp16, not {dtype}.", nameof(dtype));
        using var noGrad = no_grad();
        List<(string Name, nn.Module Module)> modules = [.. network.Backbone.named_modules().Select(m => (m.name, m.module))];
        string[] adapted = [.. modules.Where(m => m.Module is AdaptedLinear).Select(m => m.Name + ".")];
        foreach (var (name, module) in modules)
        {
            if (adapted.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))) continue;   // handled by CastBase
            switch (module)
            {
                case AdaptedLinear layer:
                    layer.CastBase(dtype);
                    break;
                case Linear or LayerNorm or EmbeddingTable:
                    if (module.parameters(recurse: false).Any(p => p.dtype != dtype)) module.to(dtype);
                    break;
                default:
                    if (module.parameters(recurse: false).Any())
                        throw new NotSupportedException($"'{name}' is a {module.GetType().Name} with parameters of its own, which a backbone cast does not know.");
                    break;
            }
        }
    }
}
