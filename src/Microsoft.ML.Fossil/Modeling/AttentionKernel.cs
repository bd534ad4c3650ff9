using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// Multi-head scaled dot-product attention over already projected queries, keys and values, shared by every encoder
/// family (BERT/RoBERTa/ELECTRA's <see cref="SelfAttention"/>, DistilBERT's <see cref="DistilBertAttention"/>), so that
/// all of them get the same choice of kernel.
/// </summary>
internal static class AttentionKernel
{
    /// <summary>
    /// q, k, v [B, T, heads * headSize]; additiveMask [B, 1, 1, T] (0 for tokens, a large negative number for padding);
    /// dropout <paramref name="attentionDropout"/> on the probabilities when <paramref name="training"/> -> context [B, T, heads * headSize].
    /// </summary>
    public static Tensor Compute(Tensor q, Tensor k, Tensor v, Tensor additiveMask, int heads, int headSize, double attentionDropout, bool training)
    {
        using var scope = NewDisposeScope();
        long batch = q.shape[0], length = q.shape[1];
        // [B, T, H] -> [B, heads, T, headSize]
        Tensor Split(Tensor t) => t.view(batch, length, heads, headSize).transpose(1, 2);
        Tensor qs = Split(q), ks = Split(k), vs = Split(v);
        // On the CPU, libtorch's fused attention takes no dropout (its fallback draws the mask one element at a time) and
        // its bf16/fp16 backward is slow (5 x the written-out attention's at 32 x 128 on MiniLM, measured): attention is
        // written out when it drops probabilities or when gradients will flow through it in reduced precision; otherwise
        // the fused kernel is the fast one, in fp32 (FusedInFloat32). CUDA's fused kernels drop and differentiate fast.
        bool dropping = training && attentionDropout > 0;
        bool cpu = qs.device_type == DeviceType.CPU;
        bool reducedBackward = qs.dtype != ScalarType.Float32 && is_grad_enabled();
        Tensor context;
        if (cpu && (dropping || reducedBackward))
            context = WrittenOut(qs, ks, vs, additiveMask, headSize, dropping ? attentionDropout : 0);
        else if (cpu && qs.dtype != ScalarType.Float32)
            context = FusedInFloat32(qs, ks, vs, additiveMask);
        else
            context = nn.functional.scaled_dot_product_attention(qs, ks, vs, attn_mask: additiveMask, p: dropping ? attentionDropout : 0.0);
        // [B, heads, T, headSize] -> [B, T, H]
        return context.transpose(1, 2).reshape(batch, length, heads * headSize).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// libtorch's fused CPU attention on bf16/fp16 inputs takes about twice as long as on fp32 ones (MiniLM's shapes,
    /// 1 x 16 to 64 x 64: 0.43 against 0.12 ms per layer at 1 x 53, 16 against 7.9 ms at 64 x 64, measured), more than
    /// the casts cost, so without gradients a reduced-precision q, k, v [B, heads, T, d] attend in fp32 and the context
    /// is cast back (rounding once, where the reduced kernel rounds the probabilities too).
    /// </summary>
    static Tensor FusedInFloat32(Tensor q, Tensor k, Tensor v, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        ScalarType reduced = q.dtype;
        Tensor context = nn.functional.scaled_dot_product_attention(
            q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32), attn_mask: additiveMask.to(ScalarType.Float32));
        return context.to(reduced).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Attention written out: softmax(q k^T / sqrt(d) + mask), with dropout <paramref name="p"/> on the probabilities, times
    /// v. libtorch's own fallback for dropout draws the [B, heads, T, T] mask one element at a time (and upcasts bf16 to
    /// fp32); here the mask comes from <see cref="FastDropout"/> and 1 / keep is folded into v ([B, heads, T, d], smaller
    /// than the probabilities for T &gt; d).
    /// </summary>
    static Tensor WrittenOut(Tensor q, Tensor k, Tensor v, Tensor additiveMask, int headSize, double p)
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
