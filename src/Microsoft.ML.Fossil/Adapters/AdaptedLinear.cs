using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Adapters;

/// <summary>
/// A frozen linear layer (<c>base_layer</c>, state-dict names as PEFT) with a trainable adapter
/// beside it. Subclasses supply the adapter's forward branch, its delta weight and merge/unmerge.
/// </summary>
internal abstract class AdaptedLinear : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // PEFT / Hugging Face names
    /// <summary>The wrapped layer, y0 = x W^T + b with W [out, in].</summary>
    protected readonly Linear base_layer;
#pragma warning restore IDE1006

    bool enabled = true;

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected AdaptedLinear(string name, Linear baseLayer) : base(name)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        base_layer = baseLayer;
        InFeatures = baseLayer.weight!.shape[1];
        OutFeatures = baseLayer.weight!.shape[0];
    }

    /// <summary>The wrapped base layer.</summary>
    public Linear BaseLayer => base_layer;

    /// <summary>Input width k.</summary>
    public long InFeatures { get; }

    /// <summary>Output width.</summary>
    public long OutFeatures { get; }

    /// <summary>The merged weight W + dW [out, in] in use while merged, else null (read-only: it is the layer's own).</summary>
    internal Tensor? MergedWeightInUse => mergedWeight;

    /// <summary>Whether the layer computes with its merged weight W + dW.</summary>
    public bool Merged => mergedWeight is not null;

    /// <summary>
    /// W + dW [out, in] while merged: a tensor of this layer's own, beside the base layer's weight, which a merge
    /// never writes (it may be shared, or mapped from a file), so unmerging is exact and a model's pretrained weights
    /// can be read (to save them) while it serves. Not a registered parameter: merge after moving the layer to its device.
    /// </summary>
    Tensor? mergedWeight;

    /// <summary>The adapter's trainable parameters (not the base layer's).</summary>
    public abstract IReadOnlyList<Parameter> AdapterParameters { get; }

    /// <summary>
    /// Switches the adapter off (the layer computes the base layer alone) or back on. Switching off
    /// a merged layer unmerges it first, so the base weights are restored.
    /// </summary>
    public bool AdapterEnabled
    {
        get => enabled;
        set
        {
            if (!value && Merged) Unmerge();
            enabled = value;
        }
    }

    /// <summary>The weight the adapter adds to W, [out, in], for the current (unmerged) base weight.</summary>
    public Tensor DeltaWeight()
    {
        if (Merged) throw new InvalidOperationException("The delta weight is defined against the unmerged base weight; unmerge first.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return ComputeDeltaWeight(base_layer.weight!).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Folds the adapter into a merged weight W + dW: the layer then costs exactly a plain linear layer. The base
    /// weight is left as it is. W + dW is computed in fp32 (fp64 for an fp64 layer) and rounded once to the layer's
    /// dtype, so a bf16 or fp16 layer gets the nearest representable merged weight of the base weight it holds (merge
    /// before <see cref="CastBase"/> to merge from the fp32 base).
    /// </summary>
    public void Merge()
    {
        if (Merged) return;
        if (!enabled) throw new InvalidOperationException("Cannot merge a disabled adapter.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor weight = base_layer.weight!;
        Tensor merged = MergedWeight(weight.to(AccumulateType(weight.dtype))).to(weight.dtype).contiguous();
        if (!merged.isfinite().all().item<bool>())
            throw new InvalidOperationException("Merging would put non-finite values into the weights; the adapter is broken.");
        mergedWeight = merged.DetachFromDisposeScope();
    }

    /// <summary>
    /// Puts the base layer (weight, bias) and a merged weight in <paramref name="dtype"/>, the backbone's compute dtype;
    /// the adapter's own parameters keep theirs (fp32). The base layer's old tensors are released, never written.
    /// </summary>
    internal void CastBase(ScalarType dtype)
    {
        using var noGrad = no_grad();
        base_layer.to(dtype);
        if (mergedWeight is { } merged && merged.dtype != dtype)
        {
            mergedWeight = merged.to(dtype).DetachFromDisposeScope();
            merged.Dispose();
        }
    }

    /// <summary>Goes back to the base weight plus the adapter branch (exact: the base weight never changed) and frees the merged weight.</summary>
    public void Unmerge()
    {
        if (mergedWeight is not { } merged) return;
        mergedWeight = null;
        merged.Dispose();
    }

    /// <summary>
    /// What the layer computes with, as a new float32 tensor [out, in] built afresh from the base weight and the
    /// adapter whatever the merge state: W + dW while the adapter is enabled, W when it is disabled. Reads the layer,
    /// never writes it (the ONNX exporter's weight). A half-precision base weight gives its own values widened, not
    /// the float32 weights it was cast from.
    /// </summary>
    internal Tensor EffectiveWeightFloat32()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor weight = base_layer.weight!.detach().to(ScalarType.Float32);
        Tensor effective = enabled ? MergedWeight(weight) : weight;
        return effective.to(ScalarType.Float32).contiguous().clone().MoveToOuterDisposeScope();
    }

    /// <summary>Forward: the base layer alone when disabled, the merged weight when merged, else base plus adapter branch.</summary>
    public override Tensor forward(Tensor input)
    {
        if (!enabled) return base_layer.forward(input);
        if (mergedWeight is { } merged) return nn.functional.linear(input, merged, base_layer.bias);
        using var scope = NewDisposeScope();
        return AdaptedForward(input).MoveToOuterDisposeScope();
    }

    /// <summary>The adapted forward pass for an unmerged, enabled layer.</summary>
    protected abstract Tensor AdaptedForward(Tensor input);

    /// <summary>dW for base weight <paramref name="weight"/> [out, in], computed in <see cref="AccumulateType"/> and returned in the weight's dtype.</summary>
    protected abstract Tensor ComputeDeltaWeight(Tensor weight);

    /// <summary>W + dW; override when merging is not additive.</summary>
    protected virtual Tensor MergedWeight(Tensor weight) => weight + ComputeDeltaWeight(weight);

    /// <summary>
    /// The dtype sums and merges accumulate in: fp32 for bf16/fp16 tensors (8 and 11 significant bits would lose the small
    /// adapter terms), the tensor's own dtype otherwise.
    /// </summary>
    protected static ScalarType AccumulateType(ScalarType dtype) =>
        dtype is ScalarType.Float16 or ScalarType.BFloat16 ? ScalarType.Float32 : dtype;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) Unmerge();
        base.Dispose(disposing);
    }
}
