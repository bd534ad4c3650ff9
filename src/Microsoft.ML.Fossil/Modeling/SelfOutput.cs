using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>Attention output projection with residual and LayerNorm (<c>attention.output</c>).</summary>
internal sealed class SelfOutput : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> dense;
    readonly LayerNorm LayerNorm;
    readonly Dropout dropout;
#pragma warning restore IDE1006

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public SelfOutput(EncoderConfig config, Device? device = null) : base(nameof(SelfOutput))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    /// <summary>context [B, T, H], residual [B, T, H] -> LayerNorm(dropout(dense(context)) + residual).</summary>
    public override Tensor forward(Tensor context, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.forward(dropout.forward(dense.forward(context)) + residual).MoveToOuterDisposeScope();
    }
}
