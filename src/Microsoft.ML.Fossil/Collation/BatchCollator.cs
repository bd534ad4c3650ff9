using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Collation;

/// <summary>Pads tokenized rows into a <see cref="TokenBatch"/> (dynamic padding: to the batch's longest row, not to the maximum length).</summary>
internal static class BatchCollator
{
    /// <summary>
    /// Pads <paramref name="rows"/> to the longest row with <paramref name="padTokenId"/>: token types 0 and the
    /// attention mask 0 in padding.
    /// </summary>
    /// <exception cref="ArgumentException">No rows, a null or empty row, or a row whose arrays differ in length.</exception>
    public static TokenBatch Collate(IReadOnlyList<TokenizedText> rows, int padTokenId)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new ArgumentException("A batch needs at least one row.", nameof(rows));
        int width = 0;
        var lengths = new int[rows.Count];
        for (int b = 0; b < rows.Count; b++)
        {
            TokenizedText row = rows[b] ?? throw new ArgumentException($"Row {b} is null.", nameof(rows));
            if (row.InputIds is null || row.TokenTypeIds is null)
                throw new ArgumentException($"Row {b} has null arrays.", nameof(rows));
            if (row.InputIds.Length != row.TokenTypeIds.Length)
                throw new ArgumentException($"Row {b} has {row.InputIds.Length} input ids but {row.TokenTypeIds.Length} token type ids.", nameof(rows));
            if (row.InputIds.Length == 0) throw new ArgumentException($"Row {b} is empty.", nameof(rows));
            lengths[b] = row.InputIds.Length;
            width = Math.Max(width, lengths[b]);
        }

        var inputIds = new long[rows.Count * width];
        var tokenTypes = new long[inputIds.Length];
        var mask = new long[inputIds.Length];
        Array.Fill(inputIds, padTokenId);
        for (int b = 0; b < rows.Count; b++)
        {
            int offset = b * width;
            TokenizedText row = rows[b];
            for (int t = 0; t < row.InputIds.Length; t++)
            {
                inputIds[offset + t] = row.InputIds[t];
                tokenTypes[offset + t] = row.TokenTypeIds[t];
            }
            mask.AsSpan(offset, row.InputIds.Length).Fill(1);
        }
        return new TokenBatch(inputIds, tokenTypes, mask, lengths, width);
    }
}
