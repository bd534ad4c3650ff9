using System.Text;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>BERT WordPiece against bert-base-uncased's real vocabulary and Hugging Face ids.</summary>
public class BertEncoderTests
{
    const string GoldenFile = "bert-base-uncased.golden.json";

    static int Line(string token)
    {
        int id = Array.IndexOf(TokenizationData.BertVocabLines.Value, token);
        Assert.True(id >= 0, $"'{token}' is not a line of vocab.txt");
        return id;
    }

    [Fact]
    public void Hello_world_gives_the_documented_ids()
    {
        var encoded = TokenizationData.Bert().Encode("Hello world");
        Assert.Equal([101, 7592, 2088, 102], encoded.InputIds);
        Assert.Equal([0, 0, 0, 0], encoded.TokenTypeIds);
        Assert.Equal(TokenizerFamily.Bert, TokenizationData.Bert().Family);
        Assert.Equal(0, TokenizationData.Bert().PadTokenId);
    }

    [Fact]
    public void Vocabulary_lines_are_the_ids_even_with_crlf_line_ends()
    {
        // The embedded file really has CRLF line ends, so this checks that '\r' never reaches a token.
        Assert.Contains("[PAD]\r\n", Encoding.UTF8.GetString(TokenizationData.BertVocabTxt[..64]));
        Assert.Equal("hello", TokenizationData.BertVocabLines.Value[7592]);
        Assert.Equal("world", TokenizationData.BertVocabLines.Value[2088]);
        Assert.Equal(30522, TokenizationData.Bert().Settings.VocabSize);

        string lf = Encoding.UTF8.GetString(TokenizationData.BertVocabTxt).Replace("\r\n", "\n");
        var fromLf = TextTokenizer.ForBert(new MemoryStream(Encoding.UTF8.GetBytes(lf)), lowerCase: true, maxLength: 512);
        Assert.Equal(TokenizationData.Bert().Settings, fromLf.Settings);
        Assert.Equal(TokenizationData.Bert().Encode("unaffable ##ness").InputIds, fromLf.Encode("unaffable ##ness").InputIds);
    }

    // Expected pieces written by hand; their ids are the pieces' line numbers in vocab.txt.
    [Theory]
    [InlineData("unaffable", new[] { "una", "##ffa", "##ble" })]
    [InlineData("electroencephalography", new[] { "electro", "##ence", "##pha", "##log", "##raphy" })]
    [InlineData("Tokenization", new[] { "token", "##ization" })]
    [InlineData("HELLO, World!", new[] { "hello", ",", "world", "!" })]
    [InlineData("Café naïve", new[] { "cafe", "naive" })]
    [InlineData("日本", new[] { "日", "本" })]
    [InlineData("x=>y", new[] { "x", "=", ">", "y" })]
    [InlineData("one\ntwo\tthree\r\nfour", new[] { "one", "two", "three", "four" })]
    [InlineData("I love it 😀!", new[] { "i", "love", "it", "[UNK]", "!" })]
    [InlineData("a [SEP] b [sep]", new[] { "a", "[SEP]", "b", "[", "sep", "]" })]
    public void Words_split_into_the_expected_vocabulary_pieces(string text, string[] pieces)
    {
        int[] expected = [Line("[CLS]"), .. pieces.Select(Line), Line("[SEP]")];
        Assert.Equal(expected, TokenizationData.Bert().Encode(text).InputIds);
    }

    [Fact]
    public void Hand_derived_ids_match_literal_numbers()
    {
        // Guards the helper above: the same pieces as plain numbers read off vocab.txt.
        Assert.Equal([101, 14477, 20961, 3468, 102], TokenizationData.Bert().Encode("unaffable").InputIds);
        Assert.Equal([101, 19204, 3989, 102], TokenizationData.Bert().Encode("Tokenization").InputIds);
    }

    [Fact]
    public void Words_longer_than_100_characters_become_unknown()
    {
        var bert = TokenizationData.Bert();
        int unk = bert.Settings.UnkTokenId;
        var hundred = bert.Encode(new string('a', 100)).InputIds;
        Assert.DoesNotContain(unk, hundred);
        Assert.True(hundred.Length > 3);
        Assert.Equal([101, unk, 102], bert.Encode(new string('a', 101)).InputIds);
    }

    [Fact]
    public void Pair_has_bert_layout_and_token_types()
    {
        var bert = TokenizationData.Bert();
        var encoded = bert.Encode("How old are you?", "I'm 6.");
        int[] a = bert.Encode("How old are you?").InputIds[1..^1];
        int[] b = bert.Encode("I'm 6.").InputIds[1..^1];
        Assert.Equal([101, .. a, 102, .. b, 102], encoded.InputIds);
        Assert.Equal([.. Enumerable.Repeat(0, a.Length + 2), .. Enumerable.Repeat(1, b.Length + 1)], encoded.TokenTypeIds);
    }

    [Fact]
    public void Empty_second_text_still_makes_a_pair()
    {
        var encoded = TokenizationData.Bert().Encode("hello", "");
        Assert.Equal([101, 7592, 102, 102], encoded.InputIds);
        Assert.Equal([0, 0, 0, 1], encoded.TokenTypeIds);
    }

    public static TheoryData<string> UncasedNames => TokenizationData.GoldenNames(GoldenFile);
    public static TheoryData<string> CasedNames => TokenizationData.GoldenNames(GoldenFile, "cased_cases");

    [Theory]
    [MemberData(nameof(UncasedNames))]
    public void Uncased_matches_hugging_face_ids(string name)
    {
        var golden = TokenizationData.Golden(GoldenFile).Single(c => c.Name == name);
        var encoded = TokenizationData.Bert().Encode(golden.Text, golden.Pair);
        Assert.Equal(golden.Ids, encoded.InputIds);
        Assert.Equal(golden.TokenTypeIds ?? new int[golden.Ids.Length], encoded.TokenTypeIds);
    }

    [Theory]
    [MemberData(nameof(CasedNames))]
    public void Without_lower_casing_matches_hugging_face_ids(string name)
    {
        var golden = TokenizationData.Golden(GoldenFile, "cased_cases").Single(c => c.Name == name);
        Assert.Equal(golden.Ids, TokenizationData.Bert(lowerCase: false).Encode(golden.Text, golden.Pair).InputIds);
    }

    [Fact]
    public void Lower_casing_flag_changes_ids_and_settings()
    {
        var cased = TokenizationData.Bert(lowerCase: false);
        Assert.NotEqual(TokenizationData.Bert().Encode("Hello").InputIds, cased.Encode("Hello").InputIds);
        Assert.False(cased.Settings.LowerCase);
        Assert.False(cased.Settings.StripAccents);
        Assert.True(TokenizationData.Bert().Settings.StripAccents);
    }

    [Fact]
    public void Vocabulary_without_special_tokens_is_rejected()
    {
        var vocab = new MemoryStream(Encoding.UTF8.GetBytes("[PAD]\n[UNK]\nhello\n"));
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.ForBert(vocab, true, 16));
        Assert.Contains("[CLS]", e.Message);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(0)]
    [InlineData(-1)]
    public void Max_length_below_four_is_rejected(int maxLength)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TextTokenizer.ForBert(new MemoryStream(TokenizationData.BertVocabTxt), true, maxLength));
        Assert.Contains(maxLength.ToString(), e.Message);
    }
}
