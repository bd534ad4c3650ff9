using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>Self-attention followed by its output block (<c>layer.N.attention</c>).</summary>
internal sealed class Attention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    [ComponentName(Name = "self")]
    readonly SelfAttention self_;
    readonly SelfOutput output;
#pragma warning restore IDE1006

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public Attention(EncoderConfig config, Device? device = null) : base(nameof(Attention))
    {
        self_ = new SelfAttention(config, device);
        output = new SelfOutput(config, device);
        RegisterComponents();
    }

    /// <summary>hidden [B, T, H], additiveMask [B, 1, 1, T] -> [B, T, H].</summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        return output.forward(self_.forward(hidden, additiveMask), hidden).MoveToOuterDisposeScope();
    }
}
