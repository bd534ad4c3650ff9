using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>
/// FOSSIL (MiSS) on one linear layer, exactly as PEFT's MissLinear: a shard <c>miss_block</c>
/// (default D[r, out]; mini D[r, mini_r] tiled along out; bat B[out / r, r, r]) that starts at zero.
/// Default / mini forward: y = x W^T + b + (sum of the r-wide chunks of pad(x)) @ D, never
/// materialising an [out, in] delta. Bat: y = x (W + dW)^T + b with dW_ij = W_ij B_i + B_i per r x r block.
/// </summary>
internal sealed class FossilLinear : AdaptedLinear
{
#pragma warning disable IDE1006 // PEFT names: <layer>.miss_block
    readonly Parameter miss_block;
#pragma warning restore IDE1006
    /// <summary>Dropout probability on the adapter input (see <see cref="FastDropout"/>).</summary>
    readonly double dropout;

    /// <summary>Rank r.</summary>
    public int Rank { get; }

    /// <summary>Variant.</summary>
    public FossilVariant Variant { get; }

    /// <summary>mini_r (only meaningful for <see cref="FossilVariant.Mini"/>).</summary>
    public int MiniRank { get; }

    /// <summary>The trainable shard.</summary>
    public Parameter Shard => miss_block;

    /// <summary>Wraps <paramref name="baseLayer"/>; <paramref name="layerName"/> only names the layer in errors.</summary>
    /// <exception cref="ArgumentException">The variant's shape constraints do not hold for this layer.</exception>
    public FossilLinear(Linear baseLayer, int rank, FossilVariant variant = FossilVariant.Default, int miniRank = 1,
        double dropout = 0, bool zeroInit = true, string layerName = "layer")
        : base(nameof(FossilLinear), baseLayer)
    {
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"{layerName}: the FOSSIL rank r must be positive.");
        if (rank > InFeatures)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"{layerName}: rank r = {rank} is larger than the layer's input width {InFeatures}.");
        Rank = rank;
        Variant = variant;
        MiniRank = miniRank;
        long[] shape;
        switch (variant)
        {
            case FossilVariant.Mini:
                if (miniRank <= 0 || OutFeatures % miniRank != 0)
                    throw new ArgumentException($"{layerName}: mini_r = {miniRank} must divide the output width {OutFeatures}.", nameof(miniRank));
                shape = [rank, miniRank];
                break;
            case FossilVariant.Bat:
                if (InFeatures % rank != 0 || OutFeatures % rank != 0)
                    throw new ArgumentException($"{layerName}: bat needs both widths divisible by r = {rank}; the layer is [{OutFeatures} x {InFeatures}].", nameof(rank));
                shape = [OutFeatures / rank, rank, rank];
                break;
            default:
                shape = [rank, OutFeatures];
                break;
        }
        Tensor weight = baseLayer.weight!;
        miss_block = new Parameter(zeros(shape, dtype: weight.dtype, device: weight.device));
        if (!zeroInit)
        {
            // PEFT init_weights=False: kaiming-uniform with a = sqrt(5), for tests that need a non-zero start.
            using var noGrad = no_grad();
            nn.init.kaiming_uniform_(miss_block, a: Math.Sqrt(5));
        }
        this.dropout = dropout;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> AdapterParameters => [miss_block];

    /// <summary>The shard expanded to [r, out] (mini tiles its columns; default returns it as is).</summary>
    Tensor ExpandedShard() => Variant == FossilVariant.Mini ? miss_block.repeat(1, OutFeatures / MiniRank) : miss_block;

    /// <inheritdoc />
    /// <remarks>
    /// In a bf16/fp16 backbone the input and the base layer are in that dtype and the shard is fp32 (its master weight):
    /// chunk sums accumulate in fp32, and the shard product runs in the activations' dtype with fp32 accumulation inside the
    /// GEMM, as autocast runs a GEMM (the shard's gradient is cast back to fp32). Bat builds W + dW in fp32 and casts it.
    /// </remarks>
    protected override Tensor AdaptedForward(Tensor input)
    {
        ScalarType compute = input.dtype;
        if (Variant == FossilVariant.Bat)
        {
            Tensor weight = base_layer.weight!;
            Tensor wide = weight.to(AccumulateType(weight.dtype));          // [out, in]
            Tensor adapted = (wide + BatDelta(wide, miss_block)).to(compute);
            return nn.functional.linear(input, adapted, base_layer.bias?.to(compute));
        }

        long k = input.shape[^1];
        long[] outShape = [.. input.shape[..^1], OutFeatures];
        Tensor rows = input.reshape(-1, k);                 // [N, k], a view for contiguous input
        Tensor result = base_layer.forward(rows);           // [N, out], a fresh tensor
        Tensor shard = ExpandedShard();                     // [r, out]
        Tensor x = rows;
        if (k % Rank != 0) x = nn.functional.pad(x, [0, Rank - k % Rank]);   // [N, k2], zeros on the right
        x = FastDropout.Apply(x, dropout, training);
        ScalarType accumulate = AccumulateType(compute);
        Tensor chunkSum = x.view(x.shape[0], x.shape[1] / Rank, Rank).sum(1, type: accumulate);   // [N, r]
        // y += chunkSum @ D inside the GEMM (beta = 1): no [N, out] product tensor, no second pass
        // over the output. In place is safe for autograd: linear's backward does not read its output.
        return result.addmm_(chunkSum.to(result.dtype), shard.to(result.dtype)).view(outShape);
    }

    /// <inheritdoc />
    protected override Tensor ComputeDeltaWeight(Tensor weight)
    {
        ScalarType wide = AccumulateType(weight.dtype);
        if (Variant == FossilVariant.Bat) return BatDelta(weight.to(wide), miss_block).to(weight.dtype);
        // dW[o, j*r + b] = D[b, o] for every input block j; the last partial block takes D[:k % r].
        Tensor shardT = ExpandedShard().to(wide).t();          // [out, r]
        long blocks = (InFeatures + Rank - 1) / Rank;
        return shardT.repeat(1, blocks).narrow(1, 0, InFeatures).to(weight.dtype);
    }

    /// <summary>Bat's dW for W [out, in] and B [out / r, r, r]: per block (i out, j in) W_ij B_i + B_i, in W's dtype.</summary>
    Tensor BatDelta(Tensor weight, Tensor b)
    {
        long r = Rank, outBlocks = OutFeatures / r, inBlocks = InFeatures / r;
        ScalarType math = weight.dtype;
        // [out, in] -> [out/r, r, in/r, r] -> [in/r, out/r, r, r]: blocks W_ij as [r_out, r_in]
        Tensor blocks = weight.to(math).reshape(outBlocks, r, inBlocks, r).permute(2, 0, 1, 3);
        Tensor bm = b.to(math);
        Tensor delta = blocks.matmul(bm) + bm;
        return delta.permute(1, 2, 0, 3).reshape(OutFeatures, InFeatures);
    }
}
