using System.Text.Json;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> (the fast tokenizers' single file) read into the tokenizer this library
/// runs for it: a WordPiece model with BERT's normalizer and pre-tokenizer (BERT, DistilBERT, ELECTRA), a byte-level
/// BPE model (RoBERTa), or a Unigram model in XLM-RoBERTa's layout. Anything else is refused, naming the part of
/// the file that differs.
/// </summary>
internal static class TokenizerJson
{
    /// <summary>The file name Hugging Face uses.</summary>
    public const string FileName = "tokenizer.json";

    /// <summary>The subword model a <c>tokenizer.json</c> holds (<c>model.type</c>), without building it.</summary>
    /// <exception cref="InvalidDataException">The file is not valid JSON or names no model type.</exception>
    public static string ModelType(byte[] json, string sourceForErrors)
    {
        using JsonDocument document = Parse(json, sourceForErrors);
        return ModelTypeOf(document.RootElement, sourceForErrors);
    }

    /// <summary>
    /// The tokenizer a <c>tokenizer.json</c> describes, for an encoder with the <paramref name="layout"/> of special
    /// tokens (WordPiece for BERT's layout; BPE or Unigram for RoBERTa's).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed or its model does not suit the encoder.</exception>
    /// <exception cref="NotSupportedException">The file asks for a normalizer, pre-tokenizer or model option this library does not implement.</exception>
    public static TextTokenizer Create(byte[] json, TokenizerFamily layout, int maxLength, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(json);
        using JsonDocument document = Parse(json, sourceForErrors);
        JsonElement root = document.RootElement;
        string type = ModelTypeOf(root, sourceForErrors);
        JsonElement model = root.GetProperty("model");
        return (type, layout) switch
        {
            ("WordPiece", TokenizerFamily.Bert) => WordPiece(root, model, maxLength, sourceForErrors),
            ("BPE", TokenizerFamily.Roberta) => ByteLevelBpe(root, model, maxLength, sourceForErrors),
            ("Unigram", TokenizerFamily.Roberta) => Unigram(root, model, maxLength, sourceForErrors),
            ("WordPiece" or "BPE" or "Unigram", _) => throw new InvalidDataException(
                $"{sourceForErrors} holds a {type} model, which does not suit this encoder: " +
                (layout == TokenizerFamily.Bert ? "BERT, DistilBERT and ELECTRA need WordPiece." : "RoBERTa needs byte-level BPE and XLM-RoBERTa Unigram.")),
            _ => throw new NotSupportedException($"{sourceForErrors} holds a {type} model; only WordPiece, BPE and Unigram are supported."),
        };
    }

    static JsonDocument Parse(byte[] json, string sourceForErrors)
    {
        try
        {
            JsonDocument document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new InvalidDataException($"{sourceForErrors} is not a JSON object.");
            }
            return document;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceForErrors} is not valid JSON: {e.Message}", e);
        }
    }

    static string ModelTypeOf(JsonElement root, string sourceForErrors) =>
        root.TryGetProperty("model", out JsonElement model) && model.ValueKind == JsonValueKind.Object
            && model.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw new InvalidDataException($"{sourceForErrors} has no model.type (WordPiece, BPE or Unigram).");

    static string? TypeOf(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()
            : null;

    static JsonElement Part(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement part) ? part : default;

    static bool? Flag(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out JsonElement value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;

    static string? Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    static Dictionary<string, int> Vocabulary(JsonElement model, string sourceForErrors)
    {
        if (!model.TryGetProperty("vocab", out JsonElement vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{sourceForErrors}: model.vocab is not an object of token to id.");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{sourceForErrors}: model.vocab gives '{entry.Name}' the id {entry.Value.GetRawText()}, not a non-negative integer.");
            result[entry.Name] = id;
        }
        if (result.Count == 0) throw new InvalidDataException($"{sourceForErrors}: model.vocab is empty.");
        return result;
    }

    static TextTokenizer WordPiece(JsonElement root, JsonElement model, int maxLength, string sourceForErrors)
    {
        if (Text(model, "continuing_subword_prefix") is { } prefix && prefix != "##")
            throw new NotSupportedException($"{sourceForErrors}: model.continuing_subword_prefix '{prefix}' is not supported; only '##'.");
        if (model.TryGetProperty("max_input_chars_per_word", out JsonElement max) && max.ValueKind == JsonValueKind.Number && max.GetInt32() != 100)
            throw new NotSupportedException($"{sourceForErrors}: model.max_input_chars_per_word {max.GetInt32()} is not supported; only 100 (BERT's).");
        if (Text(model, "unk_token") is { } unk && unk != "[UNK]")
            throw new NotSupportedException($"{sourceForErrors}: model.unk_token '{unk}' is not supported; only '[UNK]'.");

        JsonElement normalizer = Part(root, "normalizer");
        if (TypeOf(normalizer) != "BertNormalizer")
            throw new NotSupportedException($"{sourceForErrors}: normalizer {TypeOf(normalizer) ?? "null"} is not supported with WordPiece; only BertNormalizer.");
        if (Flag(normalizer, "clean_text") == false || Flag(normalizer, "handle_chinese_chars") == false)
            throw new NotSupportedException($"{sourceForErrors}: BertNormalizer with clean_text or handle_chinese_chars false is not supported.");
        bool lowerCase = Flag(normalizer, "lowercase") ?? true;
        bool? stripAccents = Flag(normalizer, "strip_accents");

        JsonElement preTokenizer = Part(root, "pre_tokenizer");
        if (TypeOf(preTokenizer) != "BertPreTokenizer")
            throw new NotSupportedException($"{sourceForErrors}: pre_tokenizer {TypeOf(preTokenizer) ?? "null"} is not supported with WordPiece; only BertPreTokenizer.");
        RequirePostProcessor(root, ["BertProcessing", "TemplateProcessing"], sourceForErrors);
        return BertTextTokenizer.Create(Vocabulary(model, sourceForErrors), lowerCase, stripAccents, maxLength, sourceForErrors);
    }

    static TextTokenizer ByteLevelBpe(JsonElement root, JsonElement model, int maxLength, string sourceForErrors)
    {
        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() != 0)
            throw new NotSupportedException($"{sourceForErrors}: BPE dropout is not supported.");
        if (Text(model, "continuing_subword_prefix") is { Length: > 0 } || Text(model, "end_of_word_suffix") is { Length: > 0 })
            throw new NotSupportedException($"{sourceForErrors}: BPE with a continuing_subword_prefix or end_of_word_suffix is not supported (byte-level BPE has neither).");
        if (Flag(model, "byte_fallback") == true)
            throw new NotSupportedException($"{sourceForErrors}: BPE byte_fallback is not supported (byte-level BPE needs none).");
        if (root.TryGetProperty("normalizer", out JsonElement normalizer) && normalizer.ValueKind != JsonValueKind.Null)
            throw new NotSupportedException($"{sourceForErrors}: normalizer {TypeOf(normalizer)} is not supported with byte-level BPE; RoBERTa's has none.");
        JsonElement preTokenizer = Part(root, "pre_tokenizer");
        if (TypeOf(preTokenizer) != "ByteLevel")
            throw new NotSupportedException($"{sourceForErrors}: pre_tokenizer {TypeOf(preTokenizer) ?? "null"} is not supported with BPE; only ByteLevel (RoBERTa's).");
        if (Flag(preTokenizer, "add_prefix_space") == true)
            throw new NotSupportedException($"{sourceForErrors}: ByteLevel add_prefix_space true is not supported; only the RoBERTa default (false).");
        if (Flag(preTokenizer, "use_regex") == false)
            throw new NotSupportedException($"{sourceForErrors}: ByteLevel use_regex false is not supported.");
        RequirePostProcessor(root, ["RobertaProcessing", "TemplateProcessing"], sourceForErrors);

        if (!model.TryGetProperty("merges", out JsonElement mergesElement) || mergesElement.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{sourceForErrors}: model.merges is not an array.");
        var merges = new List<string>(mergesElement.GetArrayLength());
        int index = 0;
        foreach (JsonElement merge in mergesElement.EnumerateArray())
        {
            // Two layouts: "left right" (tokenizers before 0.20) or ["left", "right"].
            string? text = merge.ValueKind switch
            {
                JsonValueKind.String => merge.GetString(),
                JsonValueKind.Array when merge.GetArrayLength() == 2 && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String
                    => merge[0].GetString() + " " + merge[1].GetString(),
                _ => null,
            };
            if (text is null || text.Split(' ').Length != 2 || text.Split(' ').Any(p => p.Length == 0))
                throw new InvalidDataException($"{sourceForErrors}: model.merges[{index}] is not a merge of two symbols: {merge.GetRawText()}.");
            merges.Add(text);
            index++;
        }
        return RobertaTextTokenizer.Create(Vocabulary(model, sourceForErrors), merges, maxLength, sourceForErrors, sourceForErrors);
    }

    static TextTokenizer Unigram(JsonElement root, JsonElement model, int maxLength, string sourceForErrors)
    {
        if (Flag(model, "byte_fallback") == true)
            throw new NotSupportedException($"{sourceForErrors}: Unigram byte_fallback is not supported (XLM-RoBERTa's tokenizer has none).");
        if (!model.TryGetProperty("vocab", out JsonElement vocab) || vocab.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{sourceForErrors}: model.vocab is not an array of [piece, score].");
        var entries = new List<(string Piece, float Score)>(vocab.GetArrayLength());
        foreach (JsonElement entry in vocab.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Array || entry.GetArrayLength() != 2 || entry[0].ValueKind != JsonValueKind.String
                || entry[1].ValueKind != JsonValueKind.Number)
                throw new InvalidDataException($"{sourceForErrors}: model.vocab[{entries.Count}] is not [piece, score]: {entry.GetRawText()}.");
            entries.Add((entry[0].GetString()!, (float)entry[1].GetDouble()));
        }
        string[] fairseq = ["<s>", "<pad>", "</s>", "<unk>"];
        int? unkId = model.TryGetProperty("unk_id", out JsonElement unk) && unk.ValueKind == JsonValueKind.Number ? unk.GetInt32() : null;
        if (entries.Count < 6 || !entries.Take(4).Select(e => e.Piece).SequenceEqual(fairseq) || entries[^1].Piece != "<mask>" || unkId != 3)
            throw new NotSupportedException(
                $"{sourceForErrors}: the Unigram model is not laid out as XLM-RoBERTa's (<s> <pad> </s> <unk> at ids 0-3, unk_id 3, <mask> last); only that layout is supported.");

        // Normalizer: SentencePiece's compiled rules (Precompiled), optionally with the collapse of repeated spaces
        // Hugging Face's converter adds; pre-tokenizer: Metaspace with a "▁" before the text.
        byte[] charsmap = [];
        JsonElement normalizer = Part(root, "normalizer");
        IEnumerable<JsonElement> normalizers = TypeOf(normalizer) == "Sequence" && normalizer.TryGetProperty("normalizers", out JsonElement list)
            ? list.EnumerateArray().ToArray()
            : normalizer.ValueKind == JsonValueKind.Object ? [normalizer] : [];
        foreach (JsonElement step in normalizers)
        {
            switch (TypeOf(step))
            {
                case "Precompiled":
                    string? map = Text(step, "precompiled_charsmap");
                    try
                    {
                        charsmap = map is null ? [] : Convert.FromBase64String(map);
                    }
                    catch (FormatException e)
                    {
                        throw new InvalidDataException($"{sourceForErrors}: the Precompiled normalizer's precompiled_charsmap is not base64.", e);
                    }
                    break;
                case "Replace" when Text(step, "content") is " " or "▁" && step.TryGetProperty("pattern", out JsonElement pattern)
                                    && Text(pattern, "Regex") == " {2,}":
                case "Strip" when Flag(step, "strip_left") != true:
                    break;   // the converter's versions of SentencePiece's remove_extra_whitespaces, which the tokenizer applies
                default:
                    throw new NotSupportedException($"{sourceForErrors}: normalizer {TypeOf(step) ?? "null"} is not supported with Unigram; only Precompiled (with Strip and Replace \" {{2,}}\", which SentencePiece's whitespace handling covers).");
            }
        }
        JsonElement preTokenizer = Part(root, "pre_tokenizer");
        JsonElement metaspace = TypeOf(preTokenizer) == "Sequence" && preTokenizer.TryGetProperty("pretokenizers", out JsonElement steps)
            ? steps.EnumerateArray().Where(s => TypeOf(s) != "WhitespaceSplit").SingleOrDefault()
            : preTokenizer;
        if (TypeOf(metaspace) != "Metaspace" || (Text(metaspace, "replacement") ?? "▁") != "▁")
            throw new NotSupportedException($"{sourceForErrors}: pre_tokenizer {TypeOf(preTokenizer) ?? "null"} is not supported with Unigram; only Metaspace with '▁'.");
        bool prefix = Text(metaspace, "prepend_scheme") is { } scheme ? scheme != "never" : Flag(metaspace, "add_prefix_space") ?? true;
        if (!prefix)
            throw new NotSupportedException($"{sourceForErrors}: Metaspace without a '▁' before the text is not supported (XLM-RoBERTa adds one).");
        RequirePostProcessor(root, ["TemplateProcessing", "RobertaProcessing"], sourceForErrors);

        // The SentencePiece model the file was converted from: its own <unk> <s> </s>, then the pieces, no <mask>.
        var pieces = new List<SentencePieceModel.Piece>(entries.Count - 2)
        {
            new("<unk>", 0, SentencePieceModel.PieceType.Unknown),
            new("<s>", 0, SentencePieceModel.PieceType.Control),
            new("</s>", 0, SentencePieceModel.PieceType.Control),
        };
        for (int i = 4; i < entries.Count - 1; i++) pieces.Add(new(entries[i].Piece, entries[i].Score, SentencePieceModel.PieceType.Normal));
        var spm = new SentencePieceModel { Pieces = pieces, NormalizerName = "nmt_nfkc", PrecompiledCharsmap = charsmap };
        return SentencePieceTextTokenizer.Create(spm, maxLength, sourceForErrors);
    }

    static void RequirePostProcessor(JsonElement root, string[] accepted, string sourceForErrors)
    {
        string? type = TypeOf(Part(root, "post_processor"));
        if (type is null || !accepted.Contains(type))
            throw new NotSupportedException(
                $"{sourceForErrors}: post_processor {type ?? "null"} is not supported here; expected {string.Join(" or ", accepted)} (the family's special tokens are placed by this library).");
    }
}
