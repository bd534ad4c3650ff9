using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tests.Tokenization;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;

namespace Microsoft.ML.Fossil.Tests.Collation;

/// <summary>Collating tokenized rows into padded [B, T] batches, and those batches into the network's int64 tensors.</summary>
public class CollationTests
{
    static long[,] Grid(long[] flat, int rows, int cols)
    {
        Assert.Equal(rows * cols, flat.Length);
        var result = new long[rows, cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) result[r, c] = flat[r * cols + c];
        return result;
    }

    [Fact]
    public void Bert_rows_pad_to_the_longest_row_of_the_batch()
    {
        var bert = TokenizationData.Bert();
        var rows = new[] { bert.Encode("Hello world"), bert.Encode("a", "b"), bert.Encode("") };
        TokenBatch batch = BatchCollator.Collate(rows, bert.PadTokenId);

        Assert.Equal([3L, 5L], batch.Shape);
        Assert.Equal([4, 5, 2], batch.Lengths);
        Assert.Equal(3, batch.BatchSize);
        Assert.Equal(5, batch.SequenceLength);
        int a = rows[1].InputIds[1], b = rows[1].InputIds[3];
        Assert.Equal(new long[,] { { 101, 7592, 2088, 102, 0 }, { 101, a, 102, b, 102 }, { 101, 102, 0, 0, 0 } }, Grid(batch.InputIds, 3, 5));
        Assert.Equal(new long[,] { { 0, 0, 0, 0, 0 }, { 0, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0 } }, Grid(batch.TokenTypeIds, 3, 5));
        Assert.Equal(new long[,] { { 1, 1, 1, 1, 0 }, { 1, 1, 1, 1, 1 }, { 1, 1, 0, 0, 0 } }, Grid(batch.AttentionMask, 3, 5));
    }

    [Fact]
    public void Roberta_pads_with_its_pad_id_and_not_to_max_length()
    {
        var roberta = TokenizationData.RobertaEncoder();
        Assert.Equal(512, roberta.MaxLength);
        TokenBatch batch = BatchCollator.Collate([roberta.Encode("Hello world!"), roberta.Encode("Hi")], roberta.PadTokenId);
        Assert.Equal(5, batch.SequenceLength);
        long hi = roberta.Encode("Hi").InputIds[1];
        Assert.Equal(new long[,] { { 0, 31414, 232, 328, 2 }, { 0, hi, 2, 1, 1 } }, Grid(batch.InputIds, 2, 5));
        Assert.Equal(new long[,] { { 1, 1, 1, 1, 1 }, { 1, 1, 1, 0, 0 } }, Grid(batch.AttentionMask, 2, 5));
        Assert.Equal(new long[2, 5], Grid(batch.TokenTypeIds, 2, 5));
    }

    [Fact]
    public void Single_full_length_row_has_no_padding()
    {
        var bert = TokenizationData.Bert(8);
        TokenBatch batch = BatchCollator.Collate([bert.Encode(string.Join(' ', Enumerable.Repeat("word", 50)))], bert.PadTokenId);
        Assert.Equal([1L, 8L], batch.Shape);
        Assert.Equal(8L, batch.AttentionMask.Sum());
    }

    [Fact]
    public void Network_input_holds_the_batch_as_int64_tensors_and_disposing_it_disposes_them()
    {
        var bert = TokenizationData.Bert();
        TokenBatch batch = BatchCollator.Collate([bert.Encode("Hello world"), bert.Encode("a", "b")], bert.PadTokenId);
        var input = NetworkInput.From(batch, torch.CPU);
        foreach (var (tensor, expected) in new[] { (input.InputIds, batch.InputIds), (input.TokenTypeIds, batch.TokenTypeIds), (input.AttentionMask, batch.AttentionMask) })
        {
            Assert.Equal(torch.int64, tensor.dtype);
            Assert.Equal(batch.Shape, tensor.shape);
            Assert.Equal(expected, tensor.data<long>().ToArray());
        }
        input.Dispose();
        Assert.True(input.InputIds.IsInvalid);
        Assert.True(input.TokenTypeIds.IsInvalid);
        Assert.True(input.AttentionMask.IsInvalid);
    }

    [Fact]
    public void Bad_rows_are_rejected_with_the_row_number()
    {
        var bert = TokenizationData.Bert();
        Assert.Throws<ArgumentException>(() => BatchCollator.Collate([], 0));
        Assert.Throws<ArgumentNullException>(() => BatchCollator.Collate(null!, 0));
        var e = Assert.Throws<ArgumentException>(() => BatchCollator.Collate([bert.Encode("x"), new TokenizedText([101, 102], [0])], 0));
        Assert.Contains("Row 1", e.Message);
        Assert.Contains("Row 0", Assert.Throws<ArgumentException>(() => BatchCollator.Collate([new TokenizedText([], [])], 0)).Message);
        Assert.Contains("Row 1", Assert.Throws<ArgumentException>(() => BatchCollator.Collate([bert.Encode("x"), null!], 0)).Message);
    }
}
