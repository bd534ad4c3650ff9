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
    readonly Dropout? dropout;

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
        if (dropout > 0) this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> AdapterParameters => [miss_block];

    /// <summary>The shard expanded to [r, out] (mini tiles its columns; default returns it as is).</summary>
    Tensor ExpandedShard() => Variant == FossilVariant.Mini ? miss_block.repeat(1, OutFeatures / MiniRank) : miss_block;

    /// <inheritdoc />
    protected override Tensor AdaptedForward(Tensor input)
    {
        ScalarType inputType = input.dtype;
        if (Variant == FossilVariant.Bat)
        {
            Tensor weight = base_layer.weight!;
            Tensor adapted = weight + BatDelta(weight, miss_block);
            Tensor? bias = base_layer.bias;
            return nn.functional.linear(input.to(adapted.dtype), adapted, bias?.to(adapted.dtype)).to(inputType);
        }

        long k = input.shape[^1];
        long[] outShape = [.. input.shape[..^1], OutFeatures];
        Tensor rows = input.reshape(-1, k);                 // [N, k], a view for contiguous input
        Tensor result = base_layer.forward(rows);           // [N, out], a fresh tensor
        Tensor shard = ExpandedShard();                     // [r, out]
        ScalarType math = MathType(shard);
        Tensor x = rows;
        if (k % Rank != 0) x = nn.functional.pad(x, [0, Rank - k % Rank]);   // [N, k2], zeros on the right
        x = x.to(math);
        if (dropout is not null) x = dropout.forward(x);
        Tensor chunkSum = x.view(x.shape[0], x.shape[1] / Rank, Rank).sum(1);   // [N, r]
        if (result.dtype == math)
        {
            // y += chunkSum @ D inside the GEMM (beta = 1): no [N, out] product tensor, no second pass
            // over the output. In place is safe for autograd: linear's backward does not read its output.
            return result.addmm_(chunkSum, shard).view(outShape);
        }
        return result.to(math).addmm_(chunkSum, shard.to(math)).to(inputType).view(outShape);
    }

    /// <inheritdoc />
    protected override Tensor ComputeDeltaWeight(Tensor weight)
    {
        if (Variant == FossilVariant.Bat) return BatDelta(weight, miss_block).to(weight.dtype);
        // dW[o, j*r + b] = D[b, o] for every input block j; the last partial block takes D[:k % r].
        Tensor shardT = ExpandedShard().to(MathType(miss_block)).t();          // [out, r]
        long blocks = (InFeatures + Rank - 1) / Rank;
        return shardT.repeat(1, blocks).narrow(1, 0, InFeatures).to(weight.dtype);
    }

    /// <summary>Bat's dW for W [out, in] and B [out / r, r, r]: per block (i out, j in) W_ij B_i + B_i.</summary>
    Tensor BatDelta(Tensor weight, Tensor b)
    {
        long r = Rank, outBlocks = OutFeatures / r, inBlocks = InFeatures / r;
        ScalarType math = MathType(b);
        // [out, in] -> [out/r, r, in/r, r] -> [in/r, out/r, r, r]: blocks W_ij as [r_out, r_in]
        Tensor blocks = weight.to(math).reshape(outBlocks, r, inBlocks, r).permute(2, 0, 1, 3);
        Tensor bm = b.to(math);
        Tensor delta = blocks.matmul(bm) + bm;
        return delta.permute(1, 2, 0, 3).reshape(OutFeatures, InFeatures);
    }
}
