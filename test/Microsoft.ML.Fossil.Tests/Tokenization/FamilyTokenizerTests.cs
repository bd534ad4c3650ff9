using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>
/// The DistilBERT, ELECTRA and XLM-RoBERTa tokenizers, and folders that ship only tokenizer.json, against golden ids
/// from independent implementations (TestData/tokenization/README.md): every case of each file must match.
/// </summary>
public class FamilyTokenizerTests
{
    static void AssertGolden(TextTokenizer tokenizer, string goldenFile, bool checkTypes, Func<GoldenCase, bool>? skip = null)
    {
        var failures = new List<string>();
        GoldenCase[] cases = [.. TokenizationData.Golden(goldenFile).Where(c => skip?.Invoke(c) != true)];
        foreach (GoldenCase golden in cases)
        {
            TokenizedText encoded = tokenizer.Encode(golden.Text, golden.Pair);
            if (!encoded.InputIds.SequenceEqual(golden.Ids))
                failures.Add($"{golden.Name}: expected [{string.Join(",", golden.Ids)}], got [{string.Join(",", encoded.InputIds)}]");
            else if (checkTypes && golden.TokenTypeIds is { } types && !encoded.TokenTypeIds.SequenceEqual(types))
                failures.Add($"{golden.Name}: token types [{string.Join(",", encoded.TokenTypeIds)}], expected [{string.Join(",", types)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Length} cases of {goldenFile} differ:\n{string.Join("\n", failures.Take(20))}");
        Assert.True(cases.Length >= 140 && cases.Count(c => c.Pair is not null) >= 10, $"{goldenFile} has too few cases");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DistilBert_folders_give_distilbert_base_uncased_ids(bool tokenizerJsonOnly)
    {
        using var folder = new TokenizationData.TempFolder();
        FamilyTokenizerData.WriteDistilBertFolder(folder.Path, tokenizerJsonOnly);
        TextTokenizer tokenizer = HuggingFaceTokenizers.FromFolder(folder.Path);
        Assert.Equal(TokenizerModel.WordPiece, tokenizer.Settings.ModelKind);
        Assert.Equal(TokenizationData.Bert().Settings.VocabularySha256, tokenizer.Settings.VocabularySha256);
        AssertGolden(tokenizer, "distilbert-base-uncased.golden.json", checkTypes: false);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Electra_folders_give_electra_discriminator_ids_and_token_types(bool tokenizerJsonOnly)
    {
        using var folder = new TokenizationData.TempFolder();
        FamilyTokenizerData.WriteElectraFolder(folder.Path, tokenizerJsonOnly);
        TextTokenizer tokenizer = HuggingFaceTokenizers.FromFolder(folder.Path);
        Assert.Equal(TokenizerFamily.Bert, tokenizer.Family);
        AssertGolden(tokenizer, "electra-discriminator.golden.json", checkTypes: true);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void XlmRoberta_folders_give_sentencepiece_ids_in_fairseq_layout(bool tokenizerJsonOnly)
    {
        using var folder = new TokenizationData.TempFolder();
        FamilyTokenizerData.WriteXlmRobertaFolder(folder.Path, tokenizerJsonOnly);
        TextTokenizer tokenizer = HuggingFaceTokenizers.FromFolder(folder.Path);
        TokenizerSettings settings = tokenizer.Settings;
        Assert.Equal((TokenizerFamily.Roberta, TokenizerModel.Unigram), (settings.Family, settings.ModelKind));
        // fairseq's dictionary: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> after the 30,000 pieces' ids (4 ... 30000).
        Assert.Equal((0, 1, 2, 3, 30001), (settings.ClsTokenId, settings.PadTokenId, settings.SepTokenId, settings.UnkTokenId, settings.MaskTokenId!.Value));
        Assert.Equal(30002, settings.VocabSize);
        // ALBERT's model has control pieces ([SEP], [MASK]) after the first three, which a SentencePiece file marks as
        // never matched and a tokenizer.json cannot mark (XLM-R's own model has none): rows with them are left out there.
        AssertGolden(tokenizer, "xlm-roberta-layout.golden.json", checkTypes: false,
            skip: c => tokenizerJsonOnly && $"{c.Text}{c.Pair}" is var text && (text.Contains("[SEP]", StringComparison.Ordinal) || text.Contains("[MASK]", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_sentencepiece_file_and_its_tokenizer_json_are_the_same_vocabulary()
    {
        using var model = new TokenizationData.TempFolder();
        using var json = new TokenizationData.TempFolder();
        var fromModel = HuggingFaceTokenizers.FromFolder(FamilyTokenizerData.WriteXlmRobertaFolder(model.Path));
        var fromJson = HuggingFaceTokenizers.FromFolder(FamilyTokenizerData.WriteXlmRobertaFolder(json.Path, tokenizerJsonOnly: true));
        Assert.Equal(fromModel.Settings, fromJson.Settings);
        // A folder with both reads the SentencePiece file (what XLM-R was pretrained with).
        File.WriteAllBytes(Path.Combine(json.Path, "sentencepiece.bpe.model"), TestAssets.AlbertSentencePieceModel);
        Assert.Equal(fromModel.Settings, HuggingFaceTokenizers.FromFolder(json.Path).Settings);
    }

    [Fact]
    public void Bert_and_roberta_folders_with_only_tokenizer_json_give_the_same_ids_as_their_vocabulary_files()
    {
        using var bert = new TokenizationData.TempFolder();
        TextTokenizer fromJson = HuggingFaceTokenizers.FromFolder(
            FamilyTokenizerData.WriteTokenizerJsonFolder(bert.Path, TokenizationData.BertConfig(), FamilyTokenizerData.WordPieceTokenizerJson()));
        Assert.Equal(TokenizationData.Bert().Settings, fromJson.Settings);
        AssertGolden(fromJson, "bert-base-uncased.golden.json", checkTypes: true);

        using var roberta = new TokenizationData.TempFolder();
        TextTokenizer bpe = HuggingFaceTokenizers.FromFolder(
            FamilyTokenizerData.WriteTokenizerJsonFolder(roberta.Path, TokenizationData.RobertaConfig(), FamilyTokenizerData.ByteLevelBpeTokenizerJson()));
        Assert.Equal(TokenizationData.RobertaEncoder().Settings, bpe.Settings);
        AssertGolden(bpe, "roberta-base.golden.json", checkTypes: false);
    }

    [Fact]
    public void Tokenizer_json_that_does_not_suit_the_family_or_asks_for_unsupported_parts_is_refused_by_name()
    {
        using var folder = new TokenizationData.TempFolder();
        // A WordPiece file in a RoBERTa folder.
        FamilyTokenizerData.WriteTokenizerJsonFolder(folder.Path, TokenizationData.RobertaConfig(), FamilyTokenizerData.WordPieceTokenizerJson());
        var wrongModel = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains("WordPiece", wrongModel.Message);
        Assert.Contains("tokenizer.json", wrongModel.Message);

        // A normalizer this library does not run.
        JsonObject json = FamilyTokenizerData.WordPieceTokenizerJson();
        json["normalizer"] = new JsonObject { ["type"] = "NFKC" };
        FamilyTokenizerData.WriteTokenizerJsonFolder(folder.Path, TokenizationData.BertConfig(), json);
        var normalizer = Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizers.FromFolder(folder.Path));
        Assert.Contains("NFKC", normalizer.Message);

        // A model type none of the families uses.
        json = FamilyTokenizerData.WordPieceTokenizerJson();
        json["model"]!["type"] = "WordLevel";
        FamilyTokenizerData.WriteTokenizerJsonFolder(folder.Path, TokenizationData.BertConfig(), json);
        Assert.Contains("WordLevel", Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizers.FromFolder(folder.Path)).Message);

        // A Unigram model not laid out as XLM-R's (e.g. T5's: no fairseq tokens first).
        json = FamilyTokenizerData.UnigramTokenizerJson(TestAssets.AlbertSentencePieceModel);
        json["model"]!["vocab"]!.AsArray().RemoveAt(0);
        FamilyTokenizerData.WriteTokenizerJsonFolder(folder.Path, FamilyTokenizerData.XlmRobertaConfig(), json);
        Assert.Contains("XLM-RoBERTa", Assert.Throws<NotSupportedException>(() => HuggingFaceTokenizers.FromFolder(folder.Path)).Message);

        // A damaged SentencePiece file.
        using var damaged = new TokenizationData.TempFolder();
        FamilyTokenizerData.WriteXlmRobertaFolder(damaged.Path);
        File.WriteAllBytes(Path.Combine(damaged.Path, "sentencepiece.bpe.model"), TestAssets.AlbertSentencePieceModel[..1000]);
        var broken = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizers.FromFolder(damaged.Path));
        Assert.Contains("sentencepiece.bpe.model", broken.Message);

        // vocab_size too small for the tokenizer's ids.
        var small = FamilyTokenizerData.XlmRobertaConfig();
        small["vocab_size"] = 30001;
        FamilyTokenizerData.WriteXlmRobertaFolder(damaged.Path, config: small);
        var ids = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizers.FromFolder(damaged.Path));
        Assert.Contains("30001", ids.Message);
    }

    [Fact]
    public void Xlm_roberta_pairs_special_tokens_and_truncation_follow_the_roberta_layout()
    {
        using var folder = new TokenizationData.TempFolder();
        TextTokenizer tokenizer = HuggingFaceTokenizers.FromFolder(FamilyTokenizerData.WriteXlmRobertaFolder(folder.Path), maxLength: 32);
        TokenizedText pair = tokenizer.Encode("Hello world", "Hello world");
        int[] hello = tokenizer.Encode("Hello world").InputIds[1..^1];
        Assert.Equal([0, .. hello, 2, 2, .. hello, 2], pair.InputIds);
        Assert.All(pair.TokenTypeIds, t => Assert.Equal(0, t));
        // <mask> written in the text is the mask token, and swallows the space before it.
        int[] masked = tokenizer.Encode("Hello <mask>").InputIds;
        Assert.Equal(30001, masked[^2]);
        Assert.Equal(tokenizer.Encode("Hello").InputIds[..^1], masked[..^2]);
        TextTokenizer shortRows = HuggingFaceTokenizers.FromFolder(folder.Path, maxLength: 8);
        Assert.Equal(8, shortRows.Encode(string.Join(" ", Enumerable.Repeat("word", 50))).Length);
        Assert.Equal(8, shortRows.Encode("Hello world", "Hello world").Length);
    }
}
