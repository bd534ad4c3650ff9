using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>The feed-forward expansion with its activation (<c>layer.N.intermediate</c>).</summary>
internal sealed class Intermediate : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> dense;
#pragma warning restore IDE1006
    readonly string activation;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public Intermediate(EncoderConfig config, Device? device = null) : base(nameof(Intermediate))
    {
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device);
        activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <summary>[B, T, H] -> [B, T, I].</summary>
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return Activations.Apply(activation, dense.forward(hidden)).MoveToOuterDisposeScope();
    }
}
