using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>The feed-forward activations Hugging Face BERT-family configs name in <c>hidden_act</c>.</summary>
internal static class Activations
{
    /// <summary>Applies the activation named by <paramref name="name"/> (validated by <see cref="EncoderConfig.Validate"/>).</summary>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "gelu" => nn.functional.gelu(x),
        // Hugging Face's gelu_new / gelu_pytorch_tanh: the tanh approximation.
        "gelu_new" or "gelu_pytorch_tanh" => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        "relu" => nn.functional.relu(x),
        _ => throw new NotSupportedException($"hidden_act '{name}' is not supported."),
    };
}
