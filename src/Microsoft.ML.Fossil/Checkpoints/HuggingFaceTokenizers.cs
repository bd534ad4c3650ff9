using System.Text.Json;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>The tokenizer of a Hugging Face model folder, from its config.json, vocabulary files and tokenizer_config.json.</summary>
internal static class HuggingFaceTokenizers
{
    /// <summary>
    /// The encoder for a Hugging Face model folder. <c>config.json</c>'s <c>model_type</c> decides the family
    /// (<see cref="EncoderConfig.Family"/>); RoBERTa reads <c>vocab.json</c> and <c>merges.txt</c>, BERT reads
    /// <c>vocab.txt</c> and, from <c>tokenizer_config.json</c> when present, <c>do_lower_case</c> (default true,
    /// as in Hugging Face's <c>BertTokenizer</c>) and <c>strip_accents</c> (default: follows lower-casing).
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="maxLength">Most tokens per row; default the smallest of 512, the positions the model has
    /// (<see cref="EncoderConfig.MaxSequenceLength"/>) and <c>tokenizer_config.json</c>'s <c>model_max_length</c>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message names the folder and the files expected.</exception>
    /// <exception cref="ArgumentException"><paramref name="maxLength"/> exceeds the model's positions or is below <see cref="TextTokenizer.MinimumMaxLength"/>.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the tokenizer does not fit the model
    /// (ids beyond <c>vocab_size</c>, RoBERTa pad id different from <c>pad_token_id</c>).</exception>
    /// <exception cref="NotSupportedException">The model uses a SentencePiece tokenizer (xlm-roberta, camembert), or
    /// <c>tokenizer_config.json</c> asks for behaviour this encoder does not implement.</exception>
    public static TextTokenizer FromFolder(string folder, int? maxLength = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Hugging Face model folder not found: '{folder}'.");

        string configPath = Path.Combine(folder, "config.json");
        string Expected(EncoderFamily? family) => family switch
        {
            EncoderFamily.Roberta => "config.json, vocab.json and merges.txt (tokenizer_config.json optional)",
            EncoderFamily.Bert => "config.json and vocab.txt (tokenizer_config.json optional)",
            _ => "config.json plus vocab.txt (BERT) or vocab.json and merges.txt (RoBERTa)",
        };
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"Hugging Face model folder '{folder}' has no config.json; expected {Expected(null)}.", configPath);
        var config = EncoderConfig.Load(configPath);
        var family = config.Family;
        if (config.ModelType.ToLowerInvariant() is "xlm-roberta" or "camembert")
            throw new NotSupportedException(
                $"'{folder}': model_type {config.ModelType} uses a SentencePiece tokenizer, which this library does not implement; only byte-level BPE (roberta) and WordPiece (bert) tokenizers are supported.");

        string[] required = family == EncoderFamily.Roberta ? ["vocab.json", "merges.txt"] : ["vocab.txt"];
        string[] missing = required.Where(f => !File.Exists(Path.Combine(folder, f))).ToArray();
        if (missing.Length > 0)
            throw new FileNotFoundException(
                $"Hugging Face model folder '{folder}' ({config.ModelType}) is missing {string.Join(" and ", missing)}; expected {Expected(family)}.",
                Path.Combine(folder, missing[0]));

        var tokenizerConfig = TokenizerConfig.Read(Path.Combine(folder, "tokenizer_config.json"));
        int modelLimit = config.MaxSequenceLength;
        int length;
        if (maxLength is { } requested)
        {
            if (requested > modelLimit)
                throw new ArgumentException(
                    $"maxLength {requested} exceeds the {modelLimit} positions the model in '{folder}' supports (config.json max_position_embeddings {config.MaxPositionEmbeddings}).",
                    nameof(maxLength));
            length = requested;
        }
        else
        {
            length = Math.Min(TextTokenizer.DefaultMaxLength, modelLimit);
            if (tokenizerConfig.ModelMaxLength is { } tokenizerLimit && tokenizerLimit < length) length = (int)tokenizerLimit;
        }
        if (length < TextTokenizer.MinimumMaxLength)
            throw new ArgumentException(
                $"maxLength {length} is below the minimum of {TextTokenizer.MinimumMaxLength} (the model in '{folder}' supports {modelLimit} positions).",
                nameof(maxLength));

        TextTokenizer encoder;
        if (family == EncoderFamily.Roberta)
        {
            if (tokenizerConfig.AddPrefixSpace == true)
                throw new NotSupportedException($"'{folder}': tokenizer_config.json sets add_prefix_space true; only the RoBERTa default (false) is supported.");
            string vocabPath = Path.Combine(folder, "vocab.json"), mergesPath = Path.Combine(folder, "merges.txt");
            using var vocab = File.OpenRead(vocabPath);
            using var merges = File.OpenRead(mergesPath);
            encoder = RobertaTextTokenizer.Create(vocab, merges, length, vocabPath, mergesPath);
            if (encoder.PadTokenId != config.PadTokenId)
                throw new InvalidDataException(
                    $"'{folder}': the tokenizer's <pad> id {encoder.PadTokenId} differs from config.json pad_token_id {config.PadTokenId}; RoBERTa positions depend on them agreeing.");
        }
        else
        {
            if (tokenizerConfig.TokenizeChineseChars == false)
                throw new NotSupportedException($"'{folder}': tokenizer_config.json sets tokenize_chinese_chars false; only true (the BERT default) is supported.");
            string vocabPath = Path.Combine(folder, "vocab.txt");
            using var vocab = File.OpenRead(vocabPath);
            encoder = BertTextTokenizer.Create(vocab, tokenizerConfig.DoLowerCase ?? true, tokenizerConfig.StripAccents, length, vocabPath);
        }

        if (encoder.LargestTokenId >= config.VocabSize)
            throw new InvalidDataException(
                $"'{folder}': the tokenizer's ids go up to {encoder.LargestTokenId} but config.json vocab_size is {config.VocabSize}; those ids would fall outside the embedding table.");
        return encoder;
    }

    /// <summary>The few <c>tokenizer_config.json</c> fields that change ids.</summary>
    sealed record TokenizerConfig(bool? DoLowerCase, bool? StripAccents, bool? AddPrefixSpace, bool? TokenizeChineseChars, long? ModelMaxLength)
    {
        public static TokenizerConfig Read(string path)
        {
            if (!File.Exists(path)) return new(null, null, null, null, null);
            try
            {
                using var stream = File.OpenRead(path);
                using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path} is not a JSON object.");
                bool? Flag(string name) => root.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? value.GetBoolean()
                    : null;
                long? limit = root.TryGetProperty("model_max_length", out var max) && max.ValueKind == JsonValueKind.Number && max.TryGetInt64(out long l) && l > 0
                    ? l
                    : null;   // Hugging Face writes 1e30 for "no limit": not an integer, so ignored
                return new(Flag("do_lower_case"), Flag("strip_accents"), Flag("add_prefix_space"), Flag("tokenize_chinese_chars"), limit);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
            }
        }
    }
}
