using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>The stack of transformer layers (<c>encoder.layer.0</c> ... <c>encoder.layer.N-1</c>).</summary>
internal sealed class Encoder : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    readonly ModuleList<EncoderLayer> layer;
#pragma warning restore IDE1006

    /// <summary>Creates the stack for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public Encoder(EncoderConfig config, Device? device = null) : base(nameof(Encoder))
    {
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new EncoderLayer(config, device)).ToArray());
        RegisterComponents();
    }

    /// <summary>hidden [B, T, H], additiveMask [B, 1, 1, T] -> [B, T, H].</summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        Tensor current = hidden;
        foreach (EncoderLayer block in layer) current = block.forward(current, additiveMask);
        return current.MoveToOuterDisposeScope();
    }
}
