using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>The settings record a saved model keeps.</summary>
public class SettingsTests
{
    [Fact]
    public void Roberta_settings_round_trip_through_snake_case_json()
    {
        var settings = TokenizationData.RobertaEncoder().Settings;
        string json = settings.ToJson();
        var node = JsonNode.Parse(json)!.AsObject();
        Assert.Equal("roberta", (string)node["family"]!);
        Assert.Equal(512, (int)node["max_length"]!);
        Assert.Equal(1, (int)node["pad_token_id"]!);
        Assert.Equal("<pad>", (string)node["pad_token"]!);
        Assert.Equal(0, (int)node["cls_token_id"]!);
        Assert.Equal(2, (int)node["sep_token_id"]!);
        Assert.Equal(50264, (int)node["mask_token_id"]!);
        Assert.Equal(50265, (int)node["vocab_size"]!);
        Assert.False((bool)node["lower_case"]!);
        Assert.Equal(1, (int)node["format_version"]!);
        Assert.Matches("^[0-9a-f]{64}$", (string)node["vocabulary_sha256"]!);

        var back = TokenizerSettings.FromJson(json);
        Assert.Equal(settings, back);
        Assert.Equal(json, back.ToJson());
    }

    [Fact]
    public void Bert_settings_record_lower_casing_and_special_tokens()
    {
        var settings = TokenizationData.Bert(128).Settings;
        Assert.Equal(TokenizerFamily.Bert, settings.Family);
        Assert.True(settings.LowerCase);
        Assert.True(settings.StripAccents);
        Assert.Equal(128, settings.MaxLength);
        Assert.Equal(("[CLS]", 101, "[SEP]", 102, "[PAD]", 0, "[UNK]", 100, "[MASK]", 103),
            (settings.ClsToken, settings.ClsTokenId, settings.SepToken, settings.SepTokenId, settings.PadToken, settings.PadTokenId,
             settings.UnkToken, settings.UnkTokenId, settings.MaskToken, settings.MaskTokenId));
        Assert.Equal(settings, TokenizerSettings.FromJson(settings.ToJson()));
        Assert.Contains("\"family\": \"bert\"", settings.ToJson());
    }

    [Fact]
    public void Settings_differ_when_tokenization_differs()
    {
        var uncased = TokenizationData.Bert().Settings;
        Assert.NotEqual(uncased, TokenizationData.Bert(lowerCase: false).Settings);
        Assert.NotEqual(uncased, TokenizationData.Bert(256).Settings);
        Assert.NotEqual(uncased.VocabularySha256, TokenizationData.RobertaEncoder().Settings.VocabularySha256);

        // One token changed in the vocabulary changes its fingerprint.
        string changed = Encoding.UTF8.GetString(TokenizationData.BertVocabTxt).Replace("\nhello\r\n", "\nhallo\r\n");
        var other = TextTokenizer.ForBert(new MemoryStream(Encoding.UTF8.GetBytes(changed)), true, 512);
        Assert.Equal(uncased.VocabSize, other.Settings.VocabSize);
        Assert.NotEqual(uncased.VocabularySha256, other.Settings.VocabularySha256);
    }

    [Theory]
    [InlineData("max_length", "2", "max_length")]
    [InlineData("family", "\"gpt2\"", "family")]
    [InlineData("format_version", "2", "format_version")]
    [InlineData("vocabulary_sha256", "\"abc\"", "vocabulary_sha256")]
    [InlineData("pad_token_id", "-1", "pad_token_id")]
    [InlineData("lower_case", "true", "lower_case")]
    public void Invalid_settings_are_rejected_naming_the_field(string field, string value, string expectedInMessage)
    {
        var node = JsonNode.Parse(TokenizationData.RobertaEncoder().Settings.ToJson())!.AsObject();
        node[field] = JsonNode.Parse(value);
        var e = Assert.Throws<InvalidDataException>(() => TokenizerSettings.FromJson(node.ToJsonString()));
        Assert.Contains(expectedInMessage, e.Message);
    }

    [Fact]
    public void Missing_required_field_is_rejected()
    {
        var node = JsonNode.Parse(TokenizationData.Bert().Settings.ToJson())!.AsObject();
        node.Remove("sep_token_id");
        var e = Assert.Throws<InvalidDataException>(() => TokenizerSettings.FromJson(node.ToJsonString()));
        Assert.Contains("sep_token_id", e.Message);
        Assert.Throws<InvalidDataException>(() => TokenizerSettings.FromJson("not json"));
        Assert.Throws<InvalidDataException>(() => TokenizerSettings.FromJson("null"));
    }
}
