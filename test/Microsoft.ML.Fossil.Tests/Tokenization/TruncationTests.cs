using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>Hugging Face <c>longest_first</c> truncation and the maximum row length.</summary>
public class TruncationTests
{
    // The table of huggingface/tokenizers' own unit test (utils/truncation.rs,
    // truncate_encodings_longest_first): max_length 7, sequences of 0, 2, 4 and 8 tokens.
    [Theory]
    [InlineData(0, 0, 0, 0)] [InlineData(0, 2, 0, 2)] [InlineData(0, 4, 0, 4)] [InlineData(0, 8, 0, 7)]
    [InlineData(2, 0, 2, 0)] [InlineData(2, 2, 2, 2)] [InlineData(2, 4, 2, 4)] [InlineData(2, 8, 2, 5)]
    [InlineData(4, 0, 4, 0)] [InlineData(4, 2, 4, 2)] [InlineData(4, 4, 3, 4)] [InlineData(4, 8, 3, 4)]
    [InlineData(8, 0, 7, 0)] [InlineData(8, 2, 5, 2)] [InlineData(8, 4, 4, 3)] [InlineData(8, 8, 3, 4)]
    public void Longest_first_matches_hugging_face_table(int first, int second, int keepFirst, int keepSecond)
    {
        Assert.Equal((keepFirst, keepSecond), LongestFirstTruncation.Lengths(first, second, 7));
    }

    [Fact]
    public void Longest_first_keeps_the_budget_and_never_grows_a_sequence()
    {
        for (int budget = 0; budget <= 12; budget++)
        for (int a = 0; a <= 15; a++)
        for (int b = 0; b <= 15; b++)
        {
            var (ka, kb) = LongestFirstTruncation.Lengths(a, b, budget);
            Assert.Equal(Math.Min(a + b, budget), ka + kb);
            Assert.InRange(ka, 0, a);
            Assert.InRange(kb, 0, b);
            if (a + b > budget && ka < a && kb < b)
                Assert.True(Math.Abs(ka - kb) <= 1, $"both cut but unbalanced: {a},{b} -> {ka},{kb} (budget {budget})");
            if (a + b > budget && a <= b && ka == a) Assert.True(kb >= ka);   // only the longer one was cut
        }
        Assert.Equal((0, 0), LongestFirstTruncation.Lengths(5, 5, 0));
    }

    static readonly string LongA = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"alpha{i}"));
    static readonly string LongB = string.Join(' ', Enumerable.Range(0, 70).Select(i => $"beta{i}"));

    [Theory]
    [InlineData(true, 16)]
    [InlineData(true, 17)]
    [InlineData(false, 16)]
    [InlineData(false, 17)]
    public void Pair_truncation_keeps_prefixes_of_each_part(bool bert, int maxLength)
    {
        var encoder = bert ? TokenizationData.Bert(maxLength) : TokenizationData.RobertaEncoder(maxLength);
        var full = bert ? TokenizationData.Bert() : TokenizationData.RobertaEncoder();
        int[] a = full.Encode(LongA).InputIds[1..^1], b = full.Encode("short one", null).InputIds[1..^1];
        int specials = bert ? 3 : 4;

        // The short part fits: only the long part is cut, to exactly what is left.
        var cut = encoder.Encode(LongA, "short one");
        Assert.Equal(maxLength, cut.Length);
        int keepA = maxLength - specials - b.Length;
        int[] sep = bert ? [102] : [2, 2];
        int[] cls = [bert ? 101 : 0];
        Assert.Equal([.. cls, .. a[..keepA], .. sep, .. b, sep[0]], cut.InputIds);

        // Both long: each keeps half the budget, the odd token to the longer (LongB has more tokens).
        int[] longB = full.Encode(LongB).InputIds[1..^1];
        Assert.True(longB.Length > a.Length);
        var both = encoder.Encode(LongA, LongB);
        int budget = maxLength - specials;
        int half = budget / 2, rest = budget - half;
        Assert.Equal(maxLength, both.Length);
        Assert.Equal([.. cls, .. a[..half], .. sep, .. longB[..rest], sep[0]], both.InputIds);
        // Swapped, the odd token follows the longer part to the first position.
        var swapped = encoder.Encode(LongB, LongA);
        Assert.Equal([.. cls, .. longB[..rest], .. sep, .. a[..half], sep[0]], swapped.InputIds);
        // Equally long: the odd token goes to the second part.
        var tie = encoder.Encode(LongA, LongA);
        Assert.Equal([.. cls, .. a[..half], .. sep, .. a[..rest], sep[0]], tie.InputIds);
    }

    [Fact]
    public void Bert_token_types_follow_the_truncated_parts()
    {
        var encoded = TokenizationData.Bert(11).Encode(LongA, LongB);
        // budget 8: 4 + 4 -> [CLS] a a a a [SEP] b b b b [SEP]
        Assert.Equal([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], encoded.TokenTypeIds);
        Assert.Equal(102, encoded.InputIds[5]);
    }

    [Fact]
    public void Single_text_keeps_its_first_tokens()
    {
        int[] full = TokenizationData.Bert().Encode(LongA).InputIds;
        Assert.Equal([.. full[..9], 102], TokenizationData.Bert(10).Encode(LongA).InputIds);
        int[] fullRoberta = TokenizationData.RobertaEncoder().Encode(LongA).InputIds;
        Assert.Equal([.. fullRoberta[..9], 2], TokenizationData.RobertaEncoder(10).Encode(LongA).InputIds);
    }

    [Fact]
    public void Hundred_thousand_characters_become_exactly_max_length_tokens()
    {
        var random = new Random(7);
        string words = string.Concat(Enumerable.Range(0, 20_000).Select(_ => (char)('a' + random.Next(26)) + (random.Next(5) == 0 ? " " : "")));
        string huge = (words + words + words + words + words + words)[..100_000];
        Assert.Equal(100_000, huge.Length);
        foreach (var encoder in new[] { TokenizationData.Bert(), TokenizationData.RobertaEncoder() })
        {
            Assert.Equal(512, encoder.Encode(huge).Length);
            Assert.Equal(512, encoder.Encode(huge, huge).Length);
            Assert.Equal(512, encoder.Encode("short", huge).Length);
            string oneWord = new('x', 100_000);
            Assert.Equal(encoder.Family == TokenizerFamily.Bert ? 3 : 512, encoder.Encode(oneWord).Length);   // BERT: one word over 100 chars is [UNK]
        }
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(16)]
    public void Max_length_is_respected_on_every_golden_case(int maxLength)
    {
        foreach (var (encoder, file) in new[]
                 {
                     (TokenizationData.Bert(maxLength), "bert-base-uncased.golden.json"),
                     (TokenizationData.RobertaEncoder(maxLength), "roberta-base.golden.json"),
                 })
        {
            Assert.Equal(maxLength, encoder.MaxLength);
            foreach (var golden in TokenizationData.Golden(file))
            {
                var encoded = encoder.Encode(golden.Text, golden.Pair);
                Assert.Equal(Math.Min(golden.Ids.Length, maxLength), encoded.Length);
                Assert.Equal(encoded.Length, encoded.TokenTypeIds.Length);
                Assert.Equal(golden.Ids[0], encoded.InputIds[0]);
                Assert.Equal(golden.Ids[^1], encoded.InputIds[^1]);
                if (golden.Pair is null)
                    Assert.Equal(golden.Ids[..(encoded.Length - 1)], encoded.InputIds[..^1]);
            }
        }
    }
}
