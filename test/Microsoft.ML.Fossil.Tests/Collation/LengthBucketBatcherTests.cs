using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Training;

namespace Microsoft.ML.Fossil.Tests.Collation;

/// <summary>Inference batches: every row once, sorted by length, at most the batch size, padding bounded.</summary>
public class LengthBucketBatcherTests
{
    static long Padding(IReadOnlyList<int> lengths, int[] batch) => batch.Length * (long)batch.Max(i => lengths[i]) - batch.Sum(i => (long)lengths[i]);

    [Theory]
    [InlineData(1, 64)]
    [InlineData(7, 64)]
    [InlineData(500, 64)]
    [InlineData(500, 8)]
    [InlineData(500, 1)]
    public void Every_row_appears_once_in_batches_of_at_most_the_batch_size(int rows, int batchSize)
    {
        var random = new Random(rows);
        int[] lengths = [.. Enumerable.Range(0, rows).Select(_ => random.Next(3, 129))];
        List<int[]> batches = LengthBucketBatcher.InferenceBatches(lengths, batchSize);
        Assert.Equal(Enumerable.Range(0, rows), batches.SelectMany(b => b).Order());
        Assert.All(batches, b => Assert.InRange(b.Length, 1, batchSize));
        // Sorted by length across batches: each batch starts no shorter than the previous one ended.
        for (int i = 1; i < batches.Count; i++) Assert.True(lengths[batches[i][0]] >= lengths[batches[i - 1][^1]]);
    }

    [Fact]
    public void Batches_of_at_least_an_eighth_of_the_batch_size_keep_padding_within_the_limit()
    {
        var random = new Random(3);
        int[] lengths = [.. Enumerable.Range(0, 512).Select(_ => random.Next(5, 129))];
        List<int[]> batches = LengthBucketBatcher.InferenceBatches(lengths, 64);
        foreach (int[] batch in batches.Where(b => b.Length > 8))
            Assert.True(Padding(lengths, batch) <= LengthBucketBatcher.InferencePaddingLimit * batch.Sum(i => lengths[i]) + 1e-9,
                $"batch of {batch.Length} rows pads {Padding(lengths, batch)} tokens");
        // Less padding in total than cutting the sorted rows every 64.
        int[] sorted = [.. Enumerable.Range(0, 512).OrderBy(i => lengths[i])];
        long naive = sorted.Chunk(64).Sum(c => Padding(lengths, c));
        long bounded = batches.Sum(b => Padding(lengths, b));
        Assert.True(bounded < naive, $"padding {bounded} tokens vs {naive} for fixed batches of 64");
    }

    [Fact]
    public void Equal_lengths_fill_whole_batches()
    {
        int[] lengths = [.. Enumerable.Repeat(40, 130)];
        Assert.Equal([64, 64, 2], LengthBucketBatcher.InferenceBatches(lengths, 64).Select(b => b.Length));
    }
}
