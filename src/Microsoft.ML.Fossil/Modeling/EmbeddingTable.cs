using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// A lookup table <c>weight</c> [rows, width]: ids [...] -> vectors [..., width], as torch's
/// <c>nn.Embedding</c> computes it. A managed module instead of TorchSharp's native Embedding,
/// which draws a random table on the CPU whenever it is built; this one can be built as a
/// <c>meta</c> skeleton and take a checkpoint's tensor as its weight, without copying it.
/// </summary>
/// <remarks>
/// Hugging Face's padding_idx only stops gradients to the padding row; the encoder never lets a
/// padded position reach the loss (attention masks it, the heads skip it), so that row gets no
/// gradient here either.
/// </remarks>
internal sealed class EmbeddingTable : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // state-dict name
    Parameter weight;
#pragma warning restore IDE1006

    /// <summary>Creates an uninitialised table (see <see cref="EncoderModel"/> for the initial values).</summary>
    /// <param name="rows">Number of entries (vocabulary size, positions, token types).</param>
    /// <param name="width">Vector width (the hidden size).</param>
    /// <param name="paddingIndex">The padding row, which Hugging Face initialises to zero.</param>
    /// <param name="device">Where the table is created; <c>meta</c> allocates nothing.</param>
    public EmbeddingTable(long rows, long width, long? paddingIndex = null, Device? device = null) : base(nameof(EmbeddingTable))
    {
        PaddingIndex = paddingIndex;
        weight = new Parameter(empty(rows, width, device: device));
        RegisterComponents();
    }

    /// <summary>The padding row, if any (zeroed by the initialiser).</summary>
    public long? PaddingIndex { get; }

    /// <summary>The table [rows, width]; setting it replaces the parameter (same shape expected by the caller).</summary>
    public Parameter Weight
    {
        get => weight;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (ReferenceEquals(value, weight)) return;
            weight.Dispose();
            weight = value;
            ConditionallyRegisterParameter(nameof(weight), weight);
        }
    }

    /// <summary>ids [...] int64 -> [..., width].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        long[] shape = [.. ids.shape, weight.shape[1]];
        return weight.index_select(0, ids.reshape(-1)).view(shape).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) weight.Dispose();
        base.Dispose(disposing);
    }
}
