using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>One transformer layer (<c>encoder.layer.N</c>): attention, then the feed-forward block.</summary>
internal sealed class EncoderLayer : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    readonly Attention attention;
    readonly Intermediate intermediate;
    readonly Output output;
#pragma warning restore IDE1006

    /// <summary>Creates the layer for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public EncoderLayer(EncoderConfig config, Device? device = null) : base(nameof(EncoderLayer))
    {
        attention = new Attention(config, device);
        intermediate = new Intermediate(config, device);
        output = new Output(config, device);
        RegisterComponents();
    }

    /// <summary>hidden [B, T, H], additiveMask [B, 1, 1, T] -> [B, T, H].</summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        Tensor attended = attention.forward(hidden, additiveMask);
        return output.forward(intermediate.forward(attended), attended).MoveToOuterDisposeScope();
    }
}
