using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>
/// Hugging Face folders of the DistilBERT, ELECTRA and XLM-RoBERTa families for the tests: their published
/// config.json files, real tokenizer files (bert-base-uncased's vocab.txt, which distilbert-base-uncased and
/// google/electra-*-discriminator ship; ALBERT's real SentencePiece Unigram model in XLM-R's place, see
/// TestData/tokenization/README.md), and tokenizer.json files laid out as those models' are.
/// </summary>
internal static class FamilyTokenizerData
{
    /// <summary>distilbert-base-uncased's config.json as published.</summary>
    public const string DistilBertBaseUncasedConfig = """
        {"activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "attention_dropout": 0.1, "dim": 768, "dropout": 0.1,
         "hidden_dim": 3072, "initializer_range": 0.02, "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12,
         "n_layers": 6, "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": false,
         "tie_weights_": true, "transformers_version": "4.10.0.dev0", "vocab_size": 30522}
        """;

    /// <summary>google/electra-small-discriminator's config.json as published.</summary>
    public const string ElectraSmallDiscriminatorConfig = """
        {"architectures": ["ElectraForPreTraining"], "attention_probs_dropout_prob": 0.1, "embedding_size": 128, "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "hidden_size": 256, "initializer_range": 0.02, "intermediate_size": 1024, "layer_norm_eps": 1e-12,
         "max_position_embeddings": 512, "model_type": "electra", "num_attention_heads": 4, "num_hidden_layers": 12, "pad_token_id": 0,
         "type_vocab_size": 2, "vocab_size": 30522}
        """;

    /// <summary>xlm-roberta-base's config.json as published (vocab_size 250002: 250,000 pieces + &lt;pad&gt;... see <see cref="XlmRobertaConfig"/>).</summary>
    public const string XlmRobertaBaseConfig = """
        {"architectures": ["XLMRobertaForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "eos_token_id": 2,
         "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
         "layer_norm_eps": 1e-05, "max_position_embeddings": 514, "model_type": "xlm-roberta", "num_attention_heads": 12,
         "num_hidden_layers": 12, "output_past": true, "pad_token_id": 1, "position_embedding_type": "absolute",
         "transformers_version": "4.17.0.dev0", "type_vocab_size": 1, "use_cache": true, "vocab_size": 250002}
        """;

    /// <summary>
    /// xlm-roberta-base's config.json with vocab_size fitted to the SentencePiece model the tests have (ALBERT's
    /// 30,000 pieces give fairseq ids up to 30,001: vocab_size 30,002, as 250,000 pieces give XLM-R's 250,002).
    /// </summary>
    public static JsonObject XlmRobertaConfig()
    {
        var config = JsonNode.Parse(XlmRobertaBaseConfig)!.AsObject();
        config["vocab_size"] = 30002;
        return config;
    }

    /// <summary>Writes a distilbert-base-uncased tokenizer folder: config.json and vocab.txt, or only tokenizer.json.</summary>
    public static string WriteDistilBertFolder(string folder, bool tokenizerJsonOnly = false)
    {
        File.WriteAllText(Path.Combine(folder, "config.json"), DistilBertBaseUncasedConfig);
        WriteWordPiece(folder, tokenizerJsonOnly);
        return folder;
    }

    /// <summary>Writes a google/electra-small-discriminator tokenizer folder: config.json and vocab.txt, or only tokenizer.json.</summary>
    public static string WriteElectraFolder(string folder, bool tokenizerJsonOnly = false)
    {
        File.WriteAllText(Path.Combine(folder, "config.json"), ElectraSmallDiscriminatorConfig);
        WriteWordPiece(folder, tokenizerJsonOnly);
        return folder;
    }

    /// <summary>Writes an XLM-R tokenizer folder: config.json and sentencepiece.bpe.model, or only tokenizer.json.</summary>
    public static string WriteXlmRobertaFolder(string folder, bool tokenizerJsonOnly = false, JsonObject? config = null)
    {
        File.WriteAllText(Path.Combine(folder, "config.json"), (config ?? XlmRobertaConfig()).ToJsonString());
        if (tokenizerJsonOnly) File.WriteAllText(Path.Combine(folder, "tokenizer.json"), UnigramTokenizerJson(TestAssets.AlbertSentencePieceModel).ToJsonString());
        else File.WriteAllBytes(Path.Combine(folder, "sentencepiece.bpe.model"), TestAssets.AlbertSentencePieceModel);
        return folder;
    }

    static void WriteWordPiece(string folder, bool tokenizerJsonOnly)
    {
        if (tokenizerJsonOnly) File.WriteAllText(Path.Combine(folder, "tokenizer.json"), WordPieceTokenizerJson().ToJsonString());
        else File.WriteAllBytes(Path.Combine(folder, "vocab.txt"), TokenizationData.BertVocabTxt);
    }

    static JsonObject Special(string content, int id, bool lstrip = false) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = lstrip, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
    };

    static JsonObject Template(string cls, int clsId, string sep, int sepId, bool robertaPair)
    {
        JsonObject Token(string id, int type) => new() { ["SpecialToken"] = new JsonObject { ["id"] = id, ["type_id"] = type } };
        JsonObject Part(string id, int type) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = type } };
        var pair = new JsonArray(Token(cls, 0), Part("A", 0), Token(sep, 0));
        if (robertaPair) pair.Add(Token(sep, 0));
        pair.Add(Part("B", robertaPair ? 0 : 1));
        pair.Add(Token(sep, robertaPair ? 0 : 1));
        return new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(Token(cls, 0), Part("A", 0), Token(sep, 0)),
            ["pair"] = pair,
            ["special_tokens"] = new JsonObject
            {
                [cls] = new JsonObject { ["id"] = cls, ["ids"] = new JsonArray(clsId), ["tokens"] = new JsonArray(cls) },
                [sep] = new JsonObject { ["id"] = sep, ["ids"] = new JsonArray(sepId), ["tokens"] = new JsonArray(sep) },
            },
        };
    }

    /// <summary>A tokenizer.json laid out as bert-base-uncased's / distilbert-base-uncased's, with the real vocabulary.</summary>
    public static JsonObject WordPieceTokenizerJson(bool lowercase = true)
    {
        var vocab = new JsonObject();
        string[] lines = TokenizationData.BertVocabLines.Value;
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Length > 0 || i < lines.Length - 1) vocab[lines[i]] = i;
        return new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special("[PAD]", 0), Special("[UNK]", 100), Special("[CLS]", 101), Special("[SEP]", 102), Special("[MASK]", 103)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = lowercase,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = Template("[CLS]", 101, "[SEP]", 102, robertaPair: false),
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = "##", ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100, ["vocab"] = vocab,
            },
        };
    }

    /// <summary>A tokenizer.json laid out as roberta-base's, with roberta-base's vocabulary and merges (merges as pairs, the current layout).</summary>
    public static JsonObject ByteLevelBpeTokenizerJson()
    {
        var files = TokenizationData.Roberta.Value;
        var merges = new JsonArray();
        foreach (string line in files.MergesTxt.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal)) continue;
            string[] parts = line.Split(' ');
            merges.Add(new JsonArray(parts[0], parts[1]));
        }
        return new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special("<s>", 0), Special("<pad>", 1), Special("</s>", 2), Special("<unk>", 3), Special("<mask>", 50264, lstrip: true)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "RobertaProcessing", ["sep"] = new JsonArray("</s>", 2), ["cls"] = new JsonArray("<s>", 0), ["trim_offsets"] = true, ["add_prefix_space"] = false,
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = JsonNode.Parse(files.VocabJson), ["merges"] = merges,
            },
        };
    }

    /// <summary>
    /// A tokenizer.json as Hugging Face's XLMRobertaConverter writes it from a SentencePiece model: fairseq's four tokens,
    /// the pieces from the fourth on, &lt;mask&gt; last; the model's compiled normalization rules, Metaspace.
    /// </summary>
    public static JsonObject UnigramTokenizerJson(byte[] sentencePieceModel)
    {
        SentencePieceModel model = SentencePieceModel.Read(sentencePieceModel, "the SentencePiece model");
        var vocab = new JsonArray(new JsonArray("<s>", 0.0), new JsonArray("<pad>", 0.0), new JsonArray("</s>", 0.0), new JsonArray("<unk>", 0.0));
        foreach (var piece in model.Pieces.Skip(3)) vocab.Add(new JsonArray(piece.Text, (double)piece.Score));
        vocab.Add(new JsonArray("<mask>", 0.0));
        int mask = vocab.Count - 1;
        return new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special("<s>", 0), Special("<pad>", 1), Special("</s>", 2), Special("<unk>", 3), Special("<mask>", mask, lstrip: true)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Precompiled", ["precompiled_charsmap"] = Convert.ToBase64String(model.PrecompiledCharsmap) },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = " {2,}" }, ["content"] = " " }),
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["add_prefix_space"] = true },
            ["post_processor"] = Template("<s>", 0, "</s>", 2, robertaPair: true),
            ["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["add_prefix_space"] = true },
            ["model"] = new JsonObject { ["type"] = "Unigram", ["unk_id"] = 3, ["vocab"] = vocab, ["byte_fallback"] = false },
        };
    }

    /// <summary>Writes <paramref name="json"/> as a folder's only tokenizer file next to <paramref name="config"/>.</summary>
    public static string WriteTokenizerJsonFolder(string folder, JsonObject config, JsonObject json)
    {
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return folder;
    }
}
