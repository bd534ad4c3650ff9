using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// Multi-head scaled dot-product self-attention (<c>attention.self</c>). The projections are typed
/// as plain modules so that adapter injection can swap in an adapted layer.
/// </summary>
internal sealed class SelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> query;
    internal nn.Module<Tensor, Tensor> key;
    internal nn.Module<Tensor, Tensor> value;
#pragma warning restore IDE1006

    readonly int heads;
    readonly int headSize;
    readonly double attentionDropout;

    /// <summary>Creates the attention block for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills (no memory, no random initialisation).</param>
    public SelfAttention(EncoderConfig config, Device? device = null) : base(nameof(SelfAttention))
    {
        heads = config.NumAttentionHeads;
        headSize = config.HiddenSize / config.NumAttentionHeads;
        attentionDropout = config.AttentionProbsDropoutProb;
        query = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        key = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        value = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        RegisterComponents();
    }

    /// <summary>
    /// hidden [B, T, H]; additiveMask [B, 1, 1, T] (0 for tokens, a large negative number for padding)
    /// -> context [B, T, H].
    /// </summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        return AttentionKernel.Compute(query.forward(hidden), key.forward(hidden), value.forward(hidden), additiveMask,
            heads, headSize, attentionDropout, training).MoveToOuterDisposeScope();
    }
}
