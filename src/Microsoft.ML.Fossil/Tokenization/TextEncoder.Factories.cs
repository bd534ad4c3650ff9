using System.Text.Json;
using Microsoft.ML.Fossil.Modeling;

namespace Microsoft.ML.Fossil.Tokenization;

public abstract partial class TextEncoder
{
    /// <summary>The longest default row length: what BERT and RoBERTa checkpoints are trained with.</summary>
    public const int DefaultMaxLength = 512;

    /// <summary>
    /// A BERT WordPiece encoder from a <c>vocab.txt</c> (one token per line, id = line number; CRLF
    /// line ends are fine). The vocabulary must contain <c>[CLS]</c>, <c>[SEP]</c>, <c>[PAD]</c> and <c>[UNK]</c>.
    /// </summary>
    /// <param name="vocabTxt">The vocabulary; read to the end, not disposed.</param>
    /// <param name="lowerCase">True for uncased checkpoints (lower-case and strip accents, as Hugging Face's
    /// <c>do_lower_case</c> with <c>strip_accents</c> unset); false for cased ones.</param>
    /// <param name="maxLength">Most tokens per row, special tokens included; at least <see cref="MinimumMaxLength"/>.</param>
    /// <remarks>
    /// Gives Hugging Face <c>BertTokenizerFast</c> ids. Microsoft.ML.Tokenizers' <c>BertTokenizer</c> is not used
    /// for the text pipeline because version 2.0.1 deletes line breaks and tabs (joining the words
    /// around them) and drops symbols such as <c>=</c> and emoji, giving different ids.
    /// </remarks>
    /// <exception cref="InvalidDataException">The vocabulary is empty or lacks a required special token.</exception>
    public static TextEncoder ForBert(Stream vocabTxt, bool lowerCase, int maxLength) =>
        BertTextEncoder.Create(vocabTxt, lowerCase, stripAccents: null, maxLength, "vocab.txt");

    /// <summary>
    /// A RoBERTa byte-level BPE encoder from Hugging Face <c>vocab.json</c> and <c>merges.txt</c>, giving
    /// Hugging Face <c>RobertaTokenizerFast</c> ids (GPT-2's pre-tokenizer, then Microsoft.ML.Tokenizers'
    /// byte-level BPE). The vocabulary must contain <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, <c>&lt;pad&gt;</c> and <c>&lt;unk&gt;</c>.
    /// </summary>
    /// <remarks>
    /// The pre-tokenizer is implemented here: Microsoft.ML.Tokenizers' <c>RobertaPreTokenizer</c> is a .NET
    /// regular expression, whose classes do not see supplementary characters as letters or digits.
    /// </remarks>
    /// <param name="vocabJson">Token-to-id JSON object; read to the end, not disposed.</param>
    /// <param name="mergesTxt">Merge rules in priority order; read to the end, not disposed.</param>
    /// <param name="maxLength">Most tokens per row, special tokens included; at least <see cref="MinimumMaxLength"/>.</param>
    /// <exception cref="InvalidDataException">A file is malformed or a required special token is missing.</exception>
    public static TextEncoder ForRoberta(Stream vocabJson, Stream mergesTxt, int maxLength) =>
        RobertaTextEncoder.Create(vocabJson, mergesTxt, maxLength, "vocab.json", "merges.txt");

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
    /// <exception cref="ArgumentException"><paramref name="maxLength"/> exceeds the model's positions or is below <see cref="MinimumMaxLength"/>.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the tokenizer does not fit the model
    /// (ids beyond <c>vocab_size</c>, RoBERTa pad id different from <c>pad_token_id</c>).</exception>
    /// <exception cref="NotSupportedException">The model uses a SentencePiece tokenizer (xlm-roberta, camembert), or
    /// <c>tokenizer_config.json</c> asks for behaviour this encoder does not implement.</exception>
    public static TextEncoder FromHuggingFaceFolder(string folder, int? maxLength = null)
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
            length = Math.Min(DefaultMaxLength, modelLimit);
            if (tokenizerConfig.ModelMaxLength is { } tokenizerLimit && tokenizerLimit < length) length = (int)tokenizerLimit;
        }
        if (length < MinimumMaxLength)
            throw new ArgumentException(
                $"maxLength {length} is below the minimum of {MinimumMaxLength} (the model in '{folder}' supports {modelLimit} positions).",
                nameof(maxLength));

        TextEncoder encoder;
        if (family == EncoderFamily.Roberta)
        {
            if (tokenizerConfig.AddPrefixSpace == true)
                throw new NotSupportedException($"'{folder}': tokenizer_config.json sets add_prefix_space true; only the RoBERTa default (false) is supported.");
            string vocabPath = Path.Combine(folder, "vocab.json"), mergesPath = Path.Combine(folder, "merges.txt");
            using var vocab = File.OpenRead(vocabPath);
            using var merges = File.OpenRead(mergesPath);
            encoder = RobertaTextEncoder.Create(vocab, merges, length, vocabPath, mergesPath);
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
            encoder = BertTextEncoder.Create(vocab, tokenizerConfig.DoLowerCase ?? true, tokenizerConfig.StripAccents, length, vocabPath);
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
