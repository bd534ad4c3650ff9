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
        long batch = hidden.shape[0], length = hidden.shape[1];
        // [B, T, H] -> [B, heads, T, headSize]
        Tensor Split(Tensor t) => t.view(batch, length, heads, headSize).transpose(1, 2);
        Tensor q = Split(query.forward(hidden));
        Tensor k = Split(key.forward(hidden));
        Tensor v = Split(value.forward(hidden));
        // On the CPU, libtorch's fused attention takes no dropout (its fallback draws the mask one element at a time) and
        // its bf16/fp16 backward is slow (5 x the written-out attention's at 32 x 128 on MiniLM, measured): attention is
        // written out when it drops probabilities or when gradients will flow through it in reduced precision; otherwise
        // (fp32, inference) the fused kernel is the fast one. CUDA's fused kernels drop and differentiate fast.
        bool dropping = training && attentionDropout > 0;
        bool cpu = q.device_type == DeviceType.CPU;
        bool reducedBackward = q.dtype != ScalarType.Float32 && is_grad_enabled();
        Tensor context = cpu && (dropping || reducedBackward)
            ? WrittenOutAttention(q, k, v, additiveMask, dropping ? attentionDropout : 0)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: additiveMask, p: dropping ? attentionDropout : 0.0);
        // [B, heads, T, headSize] -> [B, T, H]
        return context.transpose(1, 2).reshape(batch, length, heads * headSize).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Attention written out: softmax(q k^T / sqrt(d) + mask), with dropout <paramref name="p"/> on the probabilities, times
    /// v. libtorch's own fallback for dropout draws the [B, heads, T, T] mask one element at a time (and upcasts bf16 to
    /// fp32); here the mask comes from <see cref="FastDropout"/> and 1 / keep is folded into v ([B, heads, T, d], smaller
    /// than the probabilities for T &gt; d).
    /// </summary>
    Tensor WrittenOutAttention(Tensor q, Tensor k, Tensor v, Tensor additiveMask, double p)
    {
        using var scope = NewDisposeScope();
        // The 1 / sqrt(d) scale on q ([B, heads, T, d]); in place on the fresh scores is safe: matmul's backward reads its inputs.
        Tensor scores = q.mul(1 / Math.Sqrt(headSize)).matmul(k.transpose(-1, -2)).add_(additiveMask);   // [B, heads, T, T]
        Tensor probabilities = scores.softmax(-1);
        if (p <= 0) return probabilities.matmul(v).MoveToOuterDisposeScope();
        Tensor keep = FastDropout.KeepMask(probabilities.shape, p, probabilities.dtype, probabilities.device);
        return probabilities.mul(keep).matmul(v.mul(FastDropout.KeepAndScale(p).Scale)).MoveToOuterDisposeScope();
    }
}
