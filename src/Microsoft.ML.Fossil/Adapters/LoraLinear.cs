using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>
/// LoRA on one linear layer, as PEFT's lora.Linear: y = x W^T + b + scaling * B(A(dropout(x))),
/// A = <c>lora_A</c> [r, in], B = <c>lora_B</c> [out, r], scaling = alpha / r (or alpha / sqrt r).
/// </summary>
internal sealed class LoraLinear : AdaptedLinear
{
#pragma warning disable IDE1006 // PEFT names
    readonly Linear lora_A;
    readonly Linear lora_B;
#pragma warning restore IDE1006
    readonly Dropout? dropout;

    /// <summary>Rank r.</summary>
    public int Rank { get; }

    /// <summary>The factor applied to B A.</summary>
    public double Scaling { get; }

    /// <summary>A, [r, in].</summary>
    public Parameter A => lora_A.weight!;

    /// <summary>B, [out, r].</summary>
    public Parameter B => lora_B.weight!;

    /// <summary>Wraps <paramref name="baseLayer"/>; <paramref name="layerName"/> only names the layer in errors.</summary>
    public LoraLinear(Linear baseLayer, int rank, double alpha = 8, double dropout = 0, bool useRsLora = false,
        LoraInit init = LoraInit.Default, bool zeroInit = true, string layerName = "layer")
        : base(nameof(LoraLinear), baseLayer)
    {
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"{layerName}: the LoRA rank r must be positive.");
        if (rank > Math.Min(InFeatures, OutFeatures))
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"{layerName}: rank r = {rank} exceeds the layer's smaller width {Math.Min(InFeatures, OutFeatures)}.");
        Rank = rank;
        Scaling = useRsLora ? alpha / Math.Sqrt(rank) : alpha / rank;
        Tensor weight = baseLayer.weight!;
        lora_A = nn.Linear(InFeatures, rank, hasBias: false, device: weight.device, dtype: weight.dtype);
        lora_B = nn.Linear(rank, OutFeatures, hasBias: false, device: weight.device, dtype: weight.dtype);
        using (no_grad())
        {
            if (init == LoraInit.Gaussian) nn.init.normal_(lora_A.weight!, 0, 1.0 / rank);
            else nn.init.kaiming_uniform_(lora_A.weight!, a: Math.Sqrt(5));
            if (zeroInit) nn.init.zeros_(lora_B.weight!);
            else nn.init.kaiming_uniform_(lora_B.weight!, a: Math.Sqrt(5));
        }
        if (dropout > 0) this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> AdapterParameters => [lora_A.weight!, lora_B.weight!];

    /// <inheritdoc />
    protected override Tensor AdaptedForward(Tensor input)
    {
        ScalarType inputType = input.dtype;
        Tensor result = base_layer.forward(input);
        Tensor x = input.to(lora_A.weight!.dtype);
        if (dropout is not null) x = dropout.forward(x);
        return (result + lora_B.forward(lora_A.forward(x)).mul(Scaling).to(result.dtype)).to(inputType);
    }

    /// <inheritdoc />
    protected override Tensor ComputeDeltaWeight(Tensor weight)
    {
        ScalarType math = MathType(lora_A.weight!);
        return lora_B.weight!.to(math).matmul(lora_A.weight!.to(math)).mul(Scaling).to(weight.dtype);
    }
}
