using TorchSharp;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// A padded batch of encoded rows as int64 tensors of shape <c>[B, T]</c>, where <c>T</c> is the
/// longest row of the batch. Owns its tensors: dispose it (or let an enclosing
/// <c>torch.NewDisposeScope()</c> do so) when done.
/// </summary>
public sealed class TokenBatch : IDisposable
{
    internal TokenBatch(torch.Tensor inputIds, torch.Tensor tokenTypeIds, torch.Tensor attentionMask, int[] lengths)
    {
        InputIds = inputIds;
        TokenTypeIds = tokenTypeIds;
        AttentionMask = attentionMask;
        Lengths = lengths;
    }

    /// <summary>Token ids <c>[B, T]</c>; positions past a row's length hold the pad id.</summary>
    public torch.Tensor InputIds { get; }

    /// <summary>Token type (segment) ids <c>[B, T]</c>; 0 in padding.</summary>
    public torch.Tensor TokenTypeIds { get; }

    /// <summary>Attention mask <c>[B, T]</c>: 1 for real tokens, 0 for padding.</summary>
    public torch.Tensor AttentionMask { get; }

    /// <summary>Number of real tokens in each row, special tokens included.</summary>
    public int[] Lengths { get; }

    /// <summary>Number of rows, <c>B</c>.</summary>
    public int BatchSize => Lengths.Length;

    /// <summary>Padded row length, <c>T</c>: the longest row of the batch.</summary>
    public int SequenceLength => (int)InputIds.shape[1];

    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        InputIds.Dispose();
        TokenTypeIds.Dispose();
        AttentionMask.Dispose();
    }
}
