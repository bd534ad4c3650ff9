namespace Microsoft.ML.Fossil.Collation;

/// <summary>
/// Tokenized rows padded to the longest row of the batch, as flat row-major <c>[B, T]</c> int64 arrays: what a
/// network stage (TorchSharp or ONNX Runtime) takes as input. Plain managed memory, so that collating never
/// touches a native library.
/// </summary>
/// <param name="InputIds">Token ids <c>[B, T]</c>; positions past a row's length hold the pad id.</param>
/// <param name="TokenTypeIds">Token type (segment) ids <c>[B, T]</c>; 0 in padding.</param>
/// <param name="AttentionMask">Attention mask <c>[B, T]</c>: 1 for real tokens, 0 for padding.</param>
/// <param name="Lengths">Number of real tokens in each row, special tokens included.</param>
/// <param name="SequenceLength">Padded row length <c>T</c>: the longest row of the batch.</param>
internal sealed record TokenBatch(long[] InputIds, long[] TokenTypeIds, long[] AttentionMask, int[] Lengths, int SequenceLength)
{
    /// <summary>Number of rows, <c>B</c>.</summary>
    public int BatchSize => Lengths.Length;

    /// <summary>The shape of each array, <c>[B, T]</c>.</summary>
    public long[] Shape => [BatchSize, SequenceLength];
}
