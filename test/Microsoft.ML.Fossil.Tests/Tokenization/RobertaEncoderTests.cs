using System.Text;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>RoBERTa byte-level BPE against roberta-base ids.</summary>
public class RobertaEncoderTests
{
    const string GoldenFile = "roberta-base.golden.json";

    [Fact]
    public void Derived_vocabulary_has_roberta_base_ids()
    {
        var vocabulary = TokenizationData.Roberta.Value.Vocabulary;
        Assert.Equal(50265, vocabulary.Count);
        Assert.Equal(31414, vocabulary["Hello"]);
        Assert.Equal(232, vocabulary["Ġworld"]);
        Assert.Equal(328, vocabulary["!"]);
        Assert.Equal(50264, vocabulary["<mask>"]);
        Assert.Equal(Enumerable.Range(0, 50265), vocabulary.Values.Order());
    }

    [Fact]
    public void Hello_world_gives_roberta_base_ids()
    {
        var roberta = TokenizationData.RobertaEncoder();
        Assert.Equal(TokenizerFamily.Roberta, roberta.Family);
        Assert.Equal([0, 31414, 232, 328, 2], roberta.Encode("Hello world!").InputIds);
        Assert.Equal(1, roberta.PadTokenId);
    }

    public static TheoryData<string> Names => TokenizationData.GoldenNames(GoldenFile);

    [Theory]
    [MemberData(nameof(Names))]
    public void Matches_hugging_face_ids(string name)
    {
        var golden = TokenizationData.Golden(GoldenFile).Single(c => c.Name == name);
        var encoded = TokenizationData.RobertaEncoder().Encode(golden.Text, golden.Pair);
        Assert.Equal(golden.Ids, encoded.InputIds);
        Assert.All(encoded.TokenTypeIds, t => Assert.Equal(0, t));
    }

    [Fact]
    public void Golden_file_covers_punctuation_numbers_contractions_spaces_accents_emoji_and_pairs()
    {
        var names = TokenizationData.Golden(GoldenFile).Select(c => c.Name).ToHashSet();
        foreach (var name in new[] { "contractions-numbers", "leading-multiple-spaces", "accents", "emoji", "pair-question", "special-tokens-in-text" })
            Assert.Contains(name, names);
        Assert.True(TokenizationData.Golden(GoldenFile).Count(c => c.Pair is not null) >= 10);
    }

    [Fact]
    public void Pair_has_roberta_layout_with_all_zero_token_types()
    {
        var roberta = TokenizationData.RobertaEncoder();
        var encoded = roberta.Encode("How old are you?", "I'm 6.");
        int[] a = roberta.Encode("How old are you?").InputIds[1..^1];
        int[] b = roberta.Encode("I'm 6.").InputIds[1..^1];
        Assert.Equal([0, .. a, 2, 2, .. b, 2], encoded.InputIds);
        Assert.Equal(new int[encoded.Length], encoded.TokenTypeIds);
        Assert.Equal([0, 31414, 2, 2, 2], roberta.Encode("Hello", "").InputIds);
    }

    [Fact]
    public void Stream_factory_accepts_the_raw_gpt2_merges_file()
    {
        // vocab.bpe as embedded: "#version" header and CRLF line ends.
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes(TokenizationData.Roberta.Value.VocabJson));
        using var merges = TestAssets.OpenTorchSharpResource("vocab.bpe");
        var roberta = TextTokenizer.ForRoberta(vocab, merges, 512);
        Assert.Equal(TokenizationData.RobertaEncoder().Settings, roberta.Settings);
        var golden = TokenizationData.Golden(GoldenFile).Single(c => c.Name == "contractions-numbers");
        Assert.Equal(golden.Ids, roberta.Encode(golden.Text).InputIds);
    }

    [Fact]
    public void Special_tokens_written_in_text_become_special_ids()
    {
        var roberta = TokenizationData.RobertaEncoder();
        // </s> keeps the space before it as its own token; <mask> swallows it (lstrip), as in roberta-base.
        Assert.Equal([0, 102, 1437, 2, 741, 2], roberta.Encode("a </s> b").InputIds);
        Assert.Equal([0, 102, 50264, 741, 2], roberta.Encode("a <mask> b").InputIds);
        Assert.Equal([0, 0, 2], roberta.Encode("<s>").InputIds);
    }

    [Fact]
    public void Malformed_merges_are_rejected_with_the_line()
    {
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes(TokenizationData.Roberta.Value.VocabJson));
        using var merges = new MemoryStream(Encoding.UTF8.GetBytes("#version: 0.2\nĠ t\nthree part merge\n"));
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.ForRoberta(vocab, merges, 16));
        Assert.Contains("line 3", e.Message);
    }

    [Fact]
    public void Vocabulary_without_pad_is_rejected()
    {
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes("{\"<s>\":0,\"</s>\":2,\"<unk>\":3,\"a\":4}"));
        using var merges = new MemoryStream(Encoding.UTF8.GetBytes("#version: 0.2\n"));
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.ForRoberta(vocab, merges, 16));
        Assert.Contains("<pad>", e.Message);
    }

    [Fact]
    public void Runs_of_spaces_and_tabs_are_one_token_per_character()
    {
        // GPT-2 has no merges between spaces or tabs, so a run stays one 'Ġ' / 'ĉ' per character
        // (Microsoft.ML.Tokenizers' CodeGenTokenizer would map such runs to CodeGen's own added ids).
        var vocabulary = TokenizationData.Roberta.Value.Vocabulary;
        int space = vocabulary["Ġ"], tab = vocabulary["ĉ"], a = vocabulary["a"], gb = vocabulary["Ġb"], b = vocabulary["b"];
        var roberta = TokenizationData.RobertaEncoder();
        for (int n = 1; n <= 40; n++)
        {
            Assert.Equal([0, a, .. Enumerable.Repeat(space, n - 1), gb, 2], roberta.Encode("a" + new string(' ', n) + "b").InputIds);
            Assert.Equal([0, a, .. Enumerable.Repeat(tab, n), b, 2], roberta.Encode("a" + new string('\t', n) + "b").InputIds);
        }
        Assert.All(roberta.Encode(new string(' ', 300) + "\t\t\t\t").InputIds, id => Assert.InRange(id, 0, 50264));
    }

    [Fact]
    public void Vocabulary_without_gpt2_end_of_text_still_encodes()
    {
        var vocabulary = new Dictionary<string, int>(TokenizationData.Roberta.Value.Vocabulary);
        Assert.True(vocabulary.Remove("<|endoftext|>"));
        using var vocab = new MemoryStream(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(vocabulary));
        using var merges = new MemoryStream(Encoding.UTF8.GetBytes(TokenizationData.Roberta.Value.MergesTxt));
        var roberta = TextTokenizer.ForRoberta(vocab, merges, 512);
        var golden = TokenizationData.Golden(GoldenFile).Single(c => c.Name == "code-and-urls");
        Assert.Equal(golden.Ids, roberta.Encode(golden.Text).InputIds);
        Assert.Equal(50264, roberta.Settings.VocabSize);
    }

    [Fact]
    public void Very_long_words_are_encoded_and_truncated()
    {
        // Speed is a benchmark's job; a quadratic merge loop (Microsoft.ML.Tokenizers' BpeTokenizer
        // needs ~140 s on this input) would show up there and in this test's run time.
        var roberta = TokenizationData.RobertaEncoder();
        string cjk = new('中', 400_000), emoji = string.Concat(Enumerable.Repeat("😀", 200_000));
        Assert.Equal(512, roberta.Encode(cjk).Length);
        Assert.Equal(512, roberta.Encode(emoji, cjk).Length);
        int zhong = TokenizationData.Roberta.Value.Vocabulary["ä¸Ń"];   // '中' = E4 B8 AD
        Assert.All(roberta.Encode(cjk).InputIds[1..^1], id => Assert.Equal(zhong, id));
    }
}
