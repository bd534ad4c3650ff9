using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>Batching rows into padded int64 tensors.</summary>
public class PadTests
{
    static long[,] Values(torch.Tensor tensor)
    {
        Assert.Equal(torch.int64, tensor.dtype);
        long rows = tensor.shape[0], cols = tensor.shape[1];
        var flat = tensor.data<long>().ToArray();
        var result = new long[rows, cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) result[r, c] = flat[r * cols + c];
        return result;
    }

    [Fact]
    public void Bert_rows_pad_to_the_longest_row_of_the_batch()
    {
        var bert = TokenizationData.Bert();
        var rows = new[] { bert.Encode("Hello world"), bert.Encode("a", "b"), bert.Encode("") };
        using var batch = bert.Pad(rows);

        Assert.Equal([3L, 5L], batch.InputIds.shape);
        Assert.Equal([3L, 5L], batch.TokenTypeIds.shape);
        Assert.Equal([3L, 5L], batch.AttentionMask.shape);
        Assert.Equal([4, 5, 2], batch.Lengths);
        Assert.Equal(3, batch.BatchSize);
        Assert.Equal(5, batch.SequenceLength);
        int a = rows[1].InputIds[1], b = rows[1].InputIds[3];
        Assert.Equal(new long[,] { { 101, 7592, 2088, 102, 0 }, { 101, a, 102, b, 102 }, { 101, 102, 0, 0, 0 } }, Values(batch.InputIds));
        Assert.Equal(new long[,] { { 0, 0, 0, 0, 0 }, { 0, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0 } }, Values(batch.TokenTypeIds));
        Assert.Equal(new long[,] { { 1, 1, 1, 1, 0 }, { 1, 1, 1, 1, 1 }, { 1, 1, 0, 0, 0 } }, Values(batch.AttentionMask));
    }

    [Fact]
    public void Roberta_pads_with_its_pad_id_and_not_to_max_length()
    {
        var roberta = TokenizationData.RobertaEncoder();
        Assert.Equal(512, roberta.MaxLength);
        using var batch = roberta.Pad([roberta.Encode("Hello world!"), roberta.Encode("Hi")], torch.CPU);
        Assert.Equal(DeviceType.CPU, batch.InputIds.device_type);
        var ids = Values(batch.InputIds);
        Assert.Equal(5, ids.GetLength(1));
        long hi = roberta.Encode("Hi").InputIds[1];
        Assert.Equal(new long[,] { { 0, 31414, 232, 328, 2 }, { 0, hi, 2, 1, 1 } }, ids);
        Assert.Equal(new long[,] { { 1, 1, 1, 1, 1 }, { 1, 1, 1, 0, 0 } }, Values(batch.AttentionMask));
        Assert.Equal(new long[2, 5], Values(batch.TokenTypeIds));
    }

    [Fact]
    public void Single_full_length_row_has_no_padding()
    {
        var bert = TokenizationData.Bert(8);
        using var batch = bert.Pad([bert.Encode(string.Join(' ', Enumerable.Repeat("word", 50)))]);
        Assert.Equal([1L, 8L], batch.InputIds.shape);
        Assert.Equal(8L, batch.AttentionMask.sum().item<long>());
    }

    [Fact]
    public void Disposing_the_batch_disposes_its_tensors()
    {
        var bert = TokenizationData.Bert();
        var batch = bert.Pad([bert.Encode("x")]);
        batch.Dispose();
        Assert.True(batch.InputIds.IsInvalid);
        Assert.True(batch.TokenTypeIds.IsInvalid);
        Assert.True(batch.AttentionMask.IsInvalid);
    }

    [Fact]
    public void Bad_rows_are_rejected_with_the_row_number()
    {
        var bert = TokenizationData.Bert();
        Assert.Throws<ArgumentException>(() => bert.Pad([]));
        Assert.Throws<ArgumentNullException>(() => bert.Pad(null!));
        var e = Assert.Throws<ArgumentException>(() => bert.Pad([bert.Encode("x"), new EncodedText([101, 102], [0])]));
        Assert.Contains("Row 1", e.Message);
        Assert.Contains("Row 0", Assert.Throws<ArgumentException>(() => bert.Pad([new EncodedText([], [])])).Message);
        Assert.Contains("Row 1", Assert.Throws<ArgumentException>(() => bert.Pad([bert.Encode("x"), null!])).Message);
    }
}
