using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>
/// Behaviours where the JavaScript tokenizers behind the golden files differ from Hugging Face's Rust
/// tokenizers (see TestData/tokenization/README.md); each expectation follows the Rust/Python rule.
/// </summary>
public class HuggingFaceSemanticsTests
{
    static int Line(string token) => Array.IndexOf(TokenizationData.BertVocabLines.Value, token);

    static int[] BertIds(params string[] pieces)
    {
        var ids = pieces.Select(Line).ToArray();
        Assert.DoesNotContain(-1, ids);
        return [101, .. ids, 102];
    }

    [Fact]
    public void Bert_lower_cases_each_character_on_its_own_so_final_sigma_stays_sigma()
    {
        // Rust's NormalizedString::lowercase maps char by char: Σ -> σ even at a word's end (never ς).
        Assert.Equal(BertIds("σ", "##ι", "##σ", "##υ", "##φ", "##ο", "##σ"), TokenizationData.Bert().Encode("ΣΊΣΥΦΟΣ").InputIds);
    }

    [Fact]
    public void Bert_spaces_out_supplementary_cjk_ideographs()
    {
        // U+2000B lies in CJK extension B (0x20000-0x2A6DF): it becomes a word of its own ([UNK] here).
        Assert.Equal(BertIds("a", "[UNK]", "b"), TokenizationData.Bert().Encode("a\U0002000Bb").InputIds);
        Assert.Equal(BertIds("o", "'", "neil", "[UNK]"), TokenizationData.Bert().Encode("O'Neil\U0002000B").InputIds);
    }

    [Fact]
    public void Bert_removes_unpaired_surrogates_and_format_characters()
    {
        Assert.Equal([101, 102], TokenizationData.Bert().Encode("\uD800").InputIds);
        Assert.Equal(BertIds("x", "##y"), TokenizationData.Bert().Encode("x\uDC00\u200By").InputIds);
    }

    static string[] Pieces(string text)
    {
        var pieces = new List<string>();
        ByteLevelPreTokenizer.Split(text, (start, length) => pieces.Add(text.Substring(start, length)));
        Assert.Equal(text, string.Concat(pieces));
        return pieces.ToArray();
    }

    // Each split worked out by hand from GPT-2's pattern with \s = Unicode White_Space.
    [Theory]
    [InlineData("Hello world!", new[] { "Hello", " world", "!" })]
    [InlineData("  a", new[] { " ", " a" })]
    [InlineData("   a", new[] { "  ", " a" })]
    [InlineData("a  ", new[] { "a", "  " })]
    [InlineData("\n\na", new[] { "\n", "\n", "a" })]
    [InlineData("x \t y", new[] { "x", " \t", " y" })]
    [InlineData("''ll", new[] { "''", "ll" })]
    [InlineData(" 's", new[] { " '", "s" })]
    [InlineData("don't they'LL", new[] { "don", "'t", " they", "'", "LL" })]
    [InlineData("3.14", new[] { "3", ".", "14" })]
    [InlineData("   \uFEFF'S", new[] { "  ", " \uFEFF'", "S" })]        // U+FEFF is not White_Space
    [InlineData("\u200F\u0085'll", new[] { "\u200F", "\u0085", "'ll" })] // U+0085 is White_Space
    [InlineData("\U0002000B're", new[] { "\U0002000B", "'re" })]         // a supplementary letter
    [InlineData("\U0001D7CF\U0001D7D0x", new[] { "\U0001D7CF\U0001D7D0", "x" })] // mathematical digits
    [InlineData("😀👍!", new[] { "😀👍!" })]
    public void Roberta_pre_tokenizer_follows_gpt2_pattern(string text, string[] expected)
    {
        Assert.Equal(expected, Pieces(text));
    }

    [Fact]
    public void Roberta_ids_are_the_bpe_of_each_piece()
    {
        var roberta = TokenizationData.RobertaEncoder();
        var vocabulary = TokenizationData.Roberta.Value.Vocabulary;
        // " \uFEFF'" is one piece: 'Ġ' + the UTF-8 bytes of U+FEFF (EF BB BF -> ï » ¿) + "'".
        var ids = roberta.Encode("   \uFEFF'S").InputIds;
        Assert.Equal(0, ids[0]);
        Assert.Equal(2, ids[^1]);
        Assert.Equal(vocabulary["Ġ"], ids[1]);
        Assert.Equal(vocabulary["S"], ids[^2]);
        Assert.Equal([0, vocabulary["Ġ"], vocabulary["Ġ"], 2], roberta.Encode("  ").InputIds);
    }

    [Fact]
    public void Roberta_writes_unpaired_surrogates_as_the_replacement_character()
    {
        var roberta = TokenizationData.RobertaEncoder();
        int replacement = TokenizationData.Roberta.Value.Vocabulary["ï¿½"];   // U+FFFD = EF BF BD
        Assert.Equal([0, replacement, 2], roberta.Encode("\uD800").InputIds);
        Assert.Equal(roberta.Encode("a\uFFFDb").InputIds, roberta.Encode("a\uDC00b").InputIds);
    }

    [Fact]
    public void Roberta_mask_swallows_any_white_space_on_its_left()
    {
        var roberta = TokenizationData.RobertaEncoder();
        Assert.Equal([0, 102, 50264, 2], roberta.Encode("a\u0085 \t<mask>").InputIds);
        Assert.Equal([0, 50264, 2], roberta.Encode("   <mask>").InputIds);
        // Only <mask> has lstrip; </s> leaves the space as a token of its own.
        Assert.Equal([0, 102, 1437, 2, 2], roberta.Encode("a </s>").InputIds);
    }
}
