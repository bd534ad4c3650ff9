namespace Microsoft.ML.Fossil.Collation;

/// <summary>
/// Groups rows of similar token length into batches so that padding to the longest row in a batch
/// wastes little compute. Training order: shuffle, cut into pools of <c>poolBatches</c> batches, sort
/// each pool by length, cut into batches, shuffle the batches (seeded: the same seed, the same order).
/// </summary>
internal static class LengthBucketBatcher
{
    /// <summary>Row indices per batch for one training epoch.</summary>
    public static List<int[]> TrainingBatches(IReadOnlyList<int> lengths, int batchSize, Random random, int poolBatches = 50)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentNullException.ThrowIfNull(random);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        int[] order = [.. Enumerable.Range(0, lengths.Count)];
        random.Shuffle(order);
        var batches = new List<int[]>();
        int poolSize = batchSize * Math.Max(1, poolBatches);
        for (int start = 0; start < order.Length; start += poolSize)
        {
            int[] pool = order[start..Math.Min(order.Length, start + poolSize)];
            // Stable sort so that equal lengths keep their shuffled order.
            int[] sorted = [.. pool.OrderBy(i => lengths[i])];
            for (int b = 0; b < sorted.Length; b += batchSize) batches.Add(sorted[b..Math.Min(sorted.Length, b + batchSize)]);
        }
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batches));
        return batches;
    }

    /// <summary>Padding allowed in an inference batch, as a share of its real tokens, before a shorter batch is cut.</summary>
    public const double InferencePaddingLimit = 0.10;

    /// <summary>
    /// Row indices per batch for inference (callers restore the input order): the rows sorted by length,
    /// cut into batches of at most <paramref name="batchSize"/> rows, and cut early (once a batch has an
    /// eighth of <paramref name="batchSize"/> rows) where taking the next, longer row would pad the batch
    /// beyond <see cref="InferencePaddingLimit"/> of its real tokens. Padding is pure waste at inference
    /// (and attention grows with the square of the padded length), while a batch of a few rows of
    /// similar length already fills a CPU's matrix products.
    /// </summary>
    public static List<int[]> InferenceBatches(IReadOnlyList<int> lengths, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        int[] sorted = [.. Enumerable.Range(0, lengths.Count).OrderBy(i => lengths[i])];
        var batches = new List<int[]>();
        int start = 0, minimumRows = Math.Max(1, batchSize / 8);
        long realTokens = 0;
        for (int i = 0; i < sorted.Length; i++)
        {
            int count = i - start;
            long length = lengths[sorted[i]];
            // Ascending lengths: with row i the batch pads every row to length.
            bool full = count == batchSize;
            bool tooMuchPadding = count >= minimumRows && (count + 1) * length - (realTokens + length) > InferencePaddingLimit * (realTokens + length);
            if (full || tooMuchPadding)
            {
                batches.Add(sorted[start..i]);
                start = i;
                realTokens = 0;
            }
            realTokens += length;
        }
        if (start < sorted.Length) batches.Add(sorted[start..]);
        return batches;
    }
}
