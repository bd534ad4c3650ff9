using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>Any string encodes: null, empty, white space, unusual and malformed Unicode.</summary>
public class RobustnessTests
{
    public static TheoryData<string> Families => new() { "bert", "roberta" };

    static TextTokenizer Encoder(string family) => family == "bert" ? TokenizationData.Bert() : TokenizationData.RobertaEncoder();

    [Theory]
    [MemberData(nameof(Families))]
    public void Null_and_empty_give_only_the_special_tokens(string family)
    {
        var encoder = Encoder(family);
        int cls = encoder.Settings.ClsTokenId, sep = encoder.Settings.SepTokenId;
        Assert.Equal([cls, sep], encoder.Encode(null).InputIds);
        Assert.Equal([cls, sep], encoder.Encode("").InputIds);
        Assert.Equal(encoder.Encode("").InputIds, encoder.Encode(null, null).InputIds);
        var pair = encoder.Encode(null, "");
        Assert.Equal(family == "bert" ? [cls, sep, sep] : [cls, sep, sep, sep], pair.InputIds);
        Assert.Equal(family == "bert" ? [0, 0, 1] : [0, 0, 0, 0], pair.TokenTypeIds);
    }

    [Fact]
    public void White_space_only_is_dropped_by_bert_but_kept_by_roberta()
    {
        Assert.Equal([101, 102], TokenizationData.Bert().Encode(" \t\r\n\u00A0\u3000 ").InputIds);
        var vocabulary = TokenizationData.Roberta.Value.Vocabulary;
        Assert.Equal([0, vocabulary["Ġ"], 2], TokenizationData.RobertaEncoder().Encode(" ").InputIds);
        Assert.Equal([0, vocabulary["Ċ"], 2], TokenizationData.RobertaEncoder().Encode("\n").InputIds);
    }

    // Named, because xunit gives texts with unpaired surrogates the same test id.
    static readonly Dictionary<string, string> OddTextsByName = new()
    {
        ["cjk-kana-hangul"] = "日本語のテキスト、中文字符和한국어",
        ["emoji-sequences"] = "😀👍🏽👨‍👩‍👧🇫🇷❤️",
        ["rtl-and-bidi-controls"] = "مرحبا بالعالم שלום עולם \u200F\u200E\u202E",
        ["stacked-combining-marks"] = "Z\u0351\u0316\u0300\u0301\u0302\u0303a\u0308\u0308\u0308",
        ["nul"] = "\u0000",
        ["nul-inside"] = "a\u0000b\u0000",
        ["c0-c1-controls"] = "\u0001\u0002\u0003\u001B[31m\u007F\u0085\u009F",
        ["lone-high-surrogate"] = "\uD800",
        ["lone-low-surrogate"] = "\uDC00",
        ["trailing-high-surrogate"] = "a\uD800",
        ["swapped-surrogates"] = "\uDBFF\uDBFF\uDC00\uDC00",
        ["half-emoji"] = "\uD83D",
        ["noncharacters"] = "\uFFFD\uFFFE\uFFFF",
        ["private-use"] = "\uE000\uF8FF\U0010FFFF",
        ["format-characters"] = "\u00AD\u200B\u200C\u200D\u2060\uFEFF",
        ["line-separators"] = "\u2028\u2029\u000B\u000C",
        ["5000-combining-marks"] = new string('\u0301', 5000),
        ["3000-emoji"] = string.Concat(Enumerable.Repeat("👍🏽", 3000)),
        ["10000-spaces"] = new string(' ', 10_000),
        ["all-special-tokens"] = "[CLS][SEP][PAD][MASK][UNK]<s></s><pad><mask><unk>",
        ["masks-and-spaces"] = "<mask><mask>   <mask>",
        ["partial-special-tokens"] = "[SEP </ < [",
        ["apostrophes"] = "''''\t\t\t'",
    };

    public static TheoryData<string, string> OddTexts()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in new[] { "bert", "roberta" })
            foreach (var name in OddTextsByName.Keys) data.Add(family, name);
        return data;
    }

    [Theory]
    [MemberData(nameof(OddTexts))]
    public void Unusual_unicode_encodes_to_valid_ids(string family, string name)
    {
        string text = OddTextsByName[name];
        var encoder = Encoder(family);
        foreach (var encoded in new[] { encoder.Encode(text), encoder.Encode(text, text), encoder.Encode("x", text) })
        {
            Assert.InRange(encoded.Length, 2, encoder.MaxLength);
            Assert.Equal(encoder.Settings.ClsTokenId, encoded.InputIds[0]);
            Assert.Equal(encoder.Settings.SepTokenId, encoded.InputIds[^1]);
            Assert.All(encoded.InputIds, id => Assert.InRange(id, 0, encoder.Settings.VocabSize - 1));
            Assert.Equal(encoded.Length, encoded.TokenTypeIds.Length);
        }
    }

    [Fact]
    public void Roberta_keeps_every_byte_of_text_without_special_tokens()
    {
        // Byte-level BPE never loses input: each id decodes to bytes; their count is the UTF-8 length.
        var roberta = TokenizationData.RobertaEncoder();
        var byteCount = ByteLevelLengths();
        foreach (string text in new[] { "日本語", "😀👍🏽", "\u0000\u0001", "مرحبا", "Z\u0351\u0316" })
        {
            int[] ids = roberta.Encode(text).InputIds[1..^1];
            Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Sum(id => byteCount[id]));
        }
    }

    static Dictionary<int, int> ByteLevelLengths() =>
        TokenizationData.Roberta.Value.Vocabulary.ToDictionary(p => p.Value, p => p.Key.EnumerateRunes().Count());

    [Fact]
    public void Encoders_are_usable_from_several_threads()
    {
        var golden = TokenizationData.Golden("roberta-base.golden.json");
        var roberta = TokenizationData.RobertaEncoder();
        var bert = TokenizationData.Bert();
        var bertGolden = TokenizationData.Golden("bert-base-uncased.golden.json");
        Parallel.For(0, 8, worker =>
        {
            for (int i = worker; i < golden.Length; i += 8)
                Assert.Equal(golden[i].Ids, roberta.Encode(golden[i].Text, golden[i].Pair).InputIds);
            for (int i = worker; i < bertGolden.Length; i += 8)
                Assert.Equal(bertGolden[i].Ids, bert.Encode(bertGolden[i].Text, bertGolden[i].Pair).InputIds);
        });
        Assert.Equal(TokenizerFamily.Roberta, roberta.Family);
    }
}
