namespace Microsoft.ML.Fossil.Training;

/// <summary>
/// Groups rows of similar token length into batches so that padding to the longest row in a batch
/// wastes little compute. Training order: shuffle, cut into pools of <c>poolBatches</c> batches, sort
/// each pool by length, cut into batches, shuffle the batches (seeded: the same seed, the same order).
/// </summary>
public static class LengthBucketBatcher
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

    /// <summary>Row indices per batch for inference: all rows sorted by length (callers restore the input order).</summary>
    public static List<int[]> InferenceBatches(IReadOnlyList<int> lengths, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive");
        int[] sorted = [.. Enumerable.Range(0, lengths.Count).OrderBy(i => lengths[i])];
        var batches = new List<int[]>();
        for (int b = 0; b < sorted.Length; b += batchSize) batches.Add(sorted[b..Math.Min(sorted.Length, b + batchSize)]);
        return batches;
    }
}
