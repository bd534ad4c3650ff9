using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// DistilBERT's layer stack (<c>transformer.layer.0</c> ... <c>transformer.layer.N-1</c>), as Hugging Face's
/// <c>Transformer</c> builds it. Field names are the state-dict names.
/// </summary>
internal sealed class DistilBertTransformer : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    readonly ModuleList<DistilBertLayer> layer;
#pragma warning restore IDE1006

    /// <summary>Creates the stack for <paramref name="config"/>.</summary>
    /// <param name="config">The Hugging Face configuration.</param>
    /// <param name="device">Where the parameters are created; <c>meta</c> builds a skeleton that a checkpoint fills.</param>
    public DistilBertTransformer(EncoderConfig config, Device? device = null) : base(nameof(DistilBertTransformer))
    {
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new DistilBertLayer(config, device)).ToArray());
        RegisterComponents();
    }

    /// <summary>hidden [B, T, H], additiveMask [B, 1, 1, T] -> [B, T, H].</summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        Tensor current = hidden;
        foreach (DistilBertLayer block in layer) current = block.forward(current, additiveMask);
        return current.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One DistilBERT layer (Hugging Face's <c>TransformerBlock</c>): attention, <c>sa_layer_norm</c> over the residual,
/// the feed-forward block, <c>output_layer_norm</c> over its residual.
/// </summary>
internal sealed class DistilBertLayer : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    readonly DistilBertAttention attention;
    readonly LayerNorm sa_layer_norm;
    readonly DistilBertFeedForward ffn;
    readonly LayerNorm output_layer_norm;
#pragma warning restore IDE1006

    /// <summary>Creates the layer for <paramref name="config"/>.</summary>
    public DistilBertLayer(EncoderConfig config, Device? device = null) : base(nameof(DistilBertLayer))
    {
        attention = new DistilBertAttention(config, device);
        sa_layer_norm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        ffn = new DistilBertFeedForward(config, device);
        output_layer_norm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps, device: device);
        RegisterComponents();
    }

    /// <summary>hidden [B, T, H], additiveMask [B, 1, 1, T] -> [B, T, H].</summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        // DistilBERT applies no dropout to the attention output before its residual (unlike BERT's SelfOutput).
        Tensor attended = sa_layer_norm.forward(attention.forward(hidden, additiveMask) + hidden);
        return output_layer_norm.forward(ffn.forward(attended) + attended).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// DistilBERT's multi-head self-attention (<c>attention.q_lin</c>, <c>k_lin</c>, <c>v_lin</c>, <c>out_lin</c>). The
/// projections are typed as plain modules so that adapter injection can swap in an adapted layer.
/// </summary>
internal sealed class DistilBertAttention : nn.Module<Tensor, Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> q_lin;
    internal nn.Module<Tensor, Tensor> k_lin;
    internal nn.Module<Tensor, Tensor> v_lin;
    internal nn.Module<Tensor, Tensor> out_lin;
#pragma warning restore IDE1006

    readonly int heads;
    readonly int headSize;
    readonly double attentionDropout;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    public DistilBertAttention(EncoderConfig config, Device? device = null) : base(nameof(DistilBertAttention))
    {
        heads = config.NumAttentionHeads;
        headSize = config.HiddenSize / config.NumAttentionHeads;
        attentionDropout = config.AttentionProbsDropoutProb;
        q_lin = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        k_lin = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        v_lin = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        out_lin = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        RegisterComponents();
    }

    /// <summary>hidden [B, T, H], additiveMask [B, 1, 1, T] -> out_lin(context) [B, T, H].</summary>
    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        Tensor context = AttentionKernel.Compute(q_lin.forward(hidden), k_lin.forward(hidden), v_lin.forward(hidden), additiveMask,
            heads, headSize, attentionDropout, training);
        return out_lin.forward(context).MoveToOuterDisposeScope();
    }
}

/// <summary>DistilBERT's feed-forward block (<c>ffn.lin1</c>, <c>ffn.lin2</c>): dropout(lin2(activation(lin1(x)))).</summary>
internal sealed class DistilBertFeedForward : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Hugging Face names
    internal nn.Module<Tensor, Tensor> lin1;
    internal nn.Module<Tensor, Tensor> lin2;
#pragma warning restore IDE1006
    readonly double dropout;
    readonly string activation;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    public DistilBertFeedForward(EncoderConfig config, Device? device = null) : base(nameof(DistilBertFeedForward))
    {
        lin1 = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device);
        lin2 = nn.Linear(config.IntermediateSize, config.HiddenSize, device: device);
        dropout = config.HiddenDropoutProb;
        activation = config.HiddenAct;
        RegisterComponents();
    }

    /// <summary>[B, T, H] -> [B, T, H].</summary>
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return FastDropout.Apply(lin2.forward(Activations.Apply(activation, lin1.forward(hidden))), dropout, training).MoveToOuterDisposeScope();
    }
}
