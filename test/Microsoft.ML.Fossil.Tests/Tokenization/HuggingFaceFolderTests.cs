using Microsoft.ML.Fossil.Checkpoints;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>Reading the tokenizer of a Hugging Face model folder.</summary>
public class HuggingFaceFolderTests
{
    [Fact]
    public void Roberta_folder_gives_roberta_base_encoder_with_512_tokens()
    {
        var roberta = TokenizationData.RobertaEncoder();
        Assert.Equal(TokenizerFamily.Roberta, roberta.Family);
        Assert.Equal(512, roberta.MaxLength);   // 514 positions - (pad id 1 + 1)
        Assert.Equal(1, roberta.PadTokenId);
    }

    [Fact]
    public void Bert_folder_lower_cases_by_default_and_reads_tokenizer_config()
    {
        using var folder = new TokenizationData.TempFolder();
        TokenizationData.WriteBertFolder(folder.Path);
        var uncased = HuggingFaceTokenizers.FromFolder(folder.Path);
        Assert.Equal(TokenizerFamily.Bert, uncased.Family);
        Assert.Equal(512, uncased.MaxLength);
        Assert.True(uncased.Settings.LowerCase);
        Assert.Equal([101, 7592, 2088, 102], uncased.Encode("Hello world").InputIds);
        Assert.Equal(TokenizationData.Bert().Settings, uncased.Settings);

        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), """{"do_lower_case": false, "model_max_length": 128}""");
        var cased = HuggingFaceTokenizers.FromFolder(folder.Path);
        Assert.False(cased.Settings.LowerCase);
        Assert.False(cased.Settings.StripAccents);
        Assert.Equal(128, cased.MaxLength);
        Assert.Equal(TokenizationData.Bert(lowerCase: false).Encode("Hello Café").InputIds, cased.Encode("Hello Café").InputIds);

        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), """{"do_lower_case": true, "strip_accents": false, "model_max_length": 1000000000000000019884624838656}""");
        var keepAccents = HuggingFaceTokenizers.FromFolder(folder.Path);
        Assert.True(keepAccents.Settings.LowerCase);
        Assert.False(keepAccents.Settings.StripAccents);
        Assert.Equal(512, keepAccents.MaxLength);   // the "no limit" sentinel is ignored
        Assert.NotEqual(uncased.Encode("café").InputIds, keepAccents.Encode("café").InputIds);
    }

    [Fact]
    public void Default_length_is_capped_by_the_model_positions()
    {
        using var folder = new TokenizationData.TempFolder();
        var config = TokenizationData.RobertaConfig();
        config["max_position_embeddings"] = 40;
        TokenizationData.WriteRobertaFolder(folder.Path, config);
        Assert.Equal(38, HuggingFaceTokenizers.FromFolder(folder.Path).MaxLength);
        Assert.Equal(20, HuggingFaceTokenizers.FromFolder(folder.Path, 20).MaxLength);
    }

    [Fact]
    public void Max_length_beyond_the_model_names_both_numbers()
    {
        using var folder = new TokenizationData.TempFolder();
        TokenizationData.WriteRobertaFolder(folder.Path);
        var e = Assert.Throws<ArgumentException>(() => HuggingFaceTokenizers.FromFolder(folder.Path, 513));
        Assert.Contains("513", e.Message);
        Assert.Contains("512", e.Message);
        Assert.Equal(512, HuggingFaceTokenizers.FromFolder(folder.Path, 512).MaxLength);
        Assert.Throws<ArgumentException>(() => HuggingFaceTokenizers.FromFolder(folder.Path, 3));
    }

    [Fact]
    public void Missing_files_name_the_folder_and_the_files_expected()
    {
        using var folder = new TokenizationData.TempFolder();
        TokenizationData.WriteRobertaFolder(folder.Path);
        File.Delete(Path.Combine(folder.Path, "merges.txt"));
        var e = Assert.Throws<FileNotFoundException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains(folder.Path, e.Message);
        Assert.Contains("merges.txt", e.Message);
        Assert.Contains("vocab.json", e.Message);

        File.Delete(Path.Combine(folder.Path, "config.json"));
        e = Assert.Throws<FileNotFoundException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(folder.Path, e.Message);

        using var bert = new TokenizationData.TempFolder();
        File.WriteAllText(Path.Combine(bert.Path, "config.json"), TokenizationData.BertConfig().ToJsonString());
        e = Assert.Throws<FileNotFoundException>(() => HuggingFaceTokenizers.FromFolder(bert.Path));
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains(bert.Path, e.Message);

        Assert.Throws<DirectoryNotFoundException>(() => HuggingFaceTokenizers.FromFolder(Path.Combine(bert.Path, "nope")));
    }

    [Fact]
    public void Tokenizer_that_does_not_fit_the_model_is_rejected()
    {
        using var folder = new TokenizationData.TempFolder();
        var config = TokenizationData.RobertaConfig();
        config["pad_token_id"] = 0;
        TokenizationData.WriteRobertaFolder(folder.Path, config);
        var e = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains("pad_token_id", e.Message);

        config = TokenizationData.RobertaConfig();
        config["vocab_size"] = 50000;
        TokenizationData.WriteRobertaFolder(folder.Path, config);
        e = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains("50000", e.Message);
        Assert.Contains("50264", e.Message);
    }

    [Fact]
    public void Unsupported_tokenizer_options_are_refused()
    {
        using var folder = new TokenizationData.TempFolder();
        TokenizationData.WriteRobertaFolder(folder.Path);
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), """{"add_prefix_space": true}""");
        Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), "{ broken");
        Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
    }

    [Fact]
    public void Unknown_model_type_is_refused()
    {
        using var folder = new TokenizationData.TempFolder();
        var config = new JsonObject { ["model_type"] = "gpt2" };
        TokenizationData.WriteRobertaFolder(folder.Path, config);
        Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));

        config = TokenizationData.RobertaConfig();
        config["model_type"] = "xlm-roberta";
        TokenizationData.WriteRobertaFolder(folder.Path, config);
        var e = Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains("SentencePiece", e.Message);
    }
}
