using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>BERT's pooler (<c>pooler.dense</c>): tanh(dense(hidden of the first token)).</summary>
internal sealed class Pooler : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> dense;
#pragma warning restore IDE1006

    /// <summary>Creates the pooler for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public Pooler(EncoderConfig config, Device? device = null) : base(nameof(Pooler))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        RegisterComponents();
    }

    /// <summary>[B, T, H] -> [B, H].</summary>
    public override Tensor forward(Tensor sequence)
    {
        using var scope = NewDisposeScope();
        return dense.forward(sequence.select(1, 0)).tanh().MoveToOuterDisposeScope();
    }
}
