namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// One encoded row: token ids with the family's special tokens already in place, and the
/// matching token type ids. Rows are not padded; the attention mask is implicitly all ones for
/// <see cref="Length"/> positions (see <see cref="Collation.BatchCollator"/> for batching).
/// </summary>
/// <param name="InputIds">Token ids, special tokens included.</param>
/// <param name="TokenTypeIds">Segment ids, one per token (BERT: 0 for the first text, 1 for the pair; RoBERTa: all 0).</param>
/// <remarks>Record equality compares the array references, not their contents.</remarks>
internal sealed record TokenizedText(int[] InputIds, int[] TokenTypeIds)
{
    /// <summary>Number of tokens in the row, special tokens included.</summary>
    public int Length => InputIds.Length;
}
