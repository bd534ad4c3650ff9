using System.Text.Json;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// The tokenizer of a Hugging Face model folder, from its config.json, tokenizer files and tokenizer_config.json.
/// Which files a family reads, in the order they are preferred:
/// BERT, DistilBERT, ELECTRA: <c>vocab.txt</c>, else a WordPiece <c>tokenizer.json</c>;
/// RoBERTa: <c>vocab.json</c> + <c>merges.txt</c>, else a byte-level BPE <c>tokenizer.json</c>;
/// XLM-RoBERTa: <c>sentencepiece.bpe.model</c>, else a Unigram <c>tokenizer.json</c>.
/// </summary>
internal static class HuggingFaceTokenizers
{
    /// <summary>SentencePiece model file of XLM-RoBERTa folders.</summary>
    public const string SentencePieceFileName = "sentencepiece.bpe.model";

    /// <summary>The optional file whose fields (<c>do_lower_case</c>, <c>model_max_length</c>, ...) change tokenization.</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    /// <summary>Every tokenizer file a backbone may carry (and a self-contained model embeds).</summary>
    public static readonly string[] AllFileNames =
        ["vocab.txt", "vocab.json", "merges.txt", SentencePieceFileName, TokenizerJson.FileName, TokenizerConfigFileName];

    /// <summary>
    /// The tokenizer files <paramref name="config"/>'s family reads, chosen among the <paramref name="present"/> file
    /// names (<see cref="TokenizerConfigFileName"/> included when present).
    /// </summary>
    /// <exception cref="FileNotFoundException">None of the family's choices is complete; the message names what is expected.</exception>
    /// <exception cref="NotSupportedException">The family's tokenizer is one this library does not implement (CamemBERT's).</exception>
    public static IReadOnlyList<string> FilesFor(EncoderConfig config, ICollection<string> present, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(present);
        string[][] choices = Choices(config);
        string[]? chosen = choices.FirstOrDefault(choice => choice.All(present.Contains));
        if (chosen is null)
        {
            string[] missing = choices[0].Where(f => !present.Contains(f)).ToArray();
            throw new FileNotFoundException(
                $"{sourceForErrors} ({config.ModelType}) is missing {string.Join(" and ", missing)}; expected {Expected(config)}.", missing[0]);
        }
        return present.Contains(TokenizerConfigFileName) ? [.. chosen, TokenizerConfigFileName] : chosen;
    }

    /// <summary>What a family's folder must hold, for messages.</summary>
    static string Expected(EncoderConfig config) =>
        "config.json and " + string.Join(", or ", Choices(config).Select(c => string.Join(" and ", c))) + " (tokenizer_config.json optional)";

    static string[][] Choices(EncoderConfig config)
    {
        if (config.Family != EncoderFamily.Roberta) return [["vocab.txt"], [TokenizerJson.FileName]];
        return config.ModelType.ToLowerInvariant() switch
        {
            "xlm-roberta" => [[SentencePieceFileName], [TokenizerJson.FileName]],
            "camembert" => throw new NotSupportedException(
                $"model_type camembert uses CamemBERT's SentencePiece layout (<s>NOTUSED, fairseq offset 4), which this library does not implement; XLM-RoBERTa's is supported."),
            _ => [["vocab.json", "merges.txt"], [TokenizerJson.FileName]],
        };
    }

    /// <summary>
    /// The encoder for a Hugging Face model folder. <c>config.json</c>'s <c>model_type</c> decides the family
    /// (<see cref="EncoderConfig.Family"/>) and the files read (see the class). From <c>tokenizer_config.json</c>
    /// when present: <c>do_lower_case</c> (default true, as in Hugging Face's <c>BertTokenizer</c>) and
    /// <c>strip_accents</c> (default: follows lower-casing) for <c>vocab.txt</c>; a WordPiece <c>tokenizer.json</c>
    /// carries its own.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="maxLength">Most tokens per row; default the smallest of 512, the positions the model has
    /// (<see cref="EncoderConfig.MaxSequenceLength"/>) and <c>tokenizer_config.json</c>'s <c>model_max_length</c>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message names the folder and the files expected.</exception>
    /// <exception cref="ArgumentException"><paramref name="maxLength"/> exceeds the model's positions or is below <see cref="TextTokenizer.MinimumMaxLength"/>.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the tokenizer does not fit the model
    /// (ids beyond <c>vocab_size</c>, RoBERTa pad id different from <c>pad_token_id</c>).</exception>
    /// <exception cref="NotSupportedException">The folder asks for behaviour this library does not implement (the message names it).</exception>
    public static TextTokenizer FromFolder(string folder, int? maxLength = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Hugging Face model folder not found: '{folder}'.");

        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
            throw new FileNotFoundException(
                $"Hugging Face model folder '{folder}' has no config.json; expected config.json plus vocab.txt (BERT, DistilBERT, ELECTRA), " +
                "vocab.json and merges.txt (RoBERTa), sentencepiece.bpe.model (XLM-RoBERTa) or tokenizer.json.", configPath);
        var config = EncoderConfig.Load(configPath);
        string[] present = [.. AllFileNames.Where(f => File.Exists(Path.Combine(folder, f)))];
        IReadOnlyList<string> names = FilesFor(config, present, $"Hugging Face model folder '{folder}'");
        var files = names.ToDictionary(n => n, n => File.ReadAllBytes(Path.Combine(folder, n)), StringComparer.Ordinal);
        var tokenizerConfig = TokenizerConfig.Read(files.GetValueOrDefault(TokenizerConfigFileName), Path.Combine(folder, TokenizerConfigFileName));

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
        return FromFiles(config, files, tokenizerConfig.DoLowerCase ?? true, length, $"'{folder}'", folder);
    }

    /// <summary>
    /// The encoder a backbone with <paramref name="config"/> and tokenizer <paramref name="files"/> (name -> bytes, as
    /// <see cref="FilesFor"/> chose them) runs, for rows of at most <paramref name="maxLength"/> tokens.
    /// </summary>
    /// <param name="config">The backbone's configuration.</param>
    /// <param name="files">The tokenizer files.</param>
    /// <param name="lowerCase">For <c>vocab.txt</c>: whether text is lower-cased (a <c>tokenizer.json</c> says so itself).</param>
    /// <param name="maxLength">Most tokens per row.</param>
    /// <param name="sourceForErrors">Names the backbone in messages.</param>
    /// <param name="folder">The folder the files come from, if any: their paths in messages.</param>
    public static TextTokenizer FromFiles(EncoderConfig config, IReadOnlyDictionary<string, byte[]> files, bool lowerCase, int maxLength,
        string sourceForErrors, string? folder = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(files);
        IReadOnlyList<string> names = FilesFor(config, [.. files.Keys], $"The backbone {sourceForErrors}");
        string PathOf(string name) => folder is null ? name : Path.Combine(folder, name);
        var tokenizerConfig = TokenizerConfig.Read(files.GetValueOrDefault(TokenizerConfigFileName), PathOf(TokenizerConfigFileName));
        TokenizerFamily layout = config.Family == EncoderFamily.Roberta ? TokenizerFamily.Roberta : TokenizerFamily.Bert;

        TextTokenizer encoder;
        switch (names[0])
        {
            case "vocab.txt":
                if (tokenizerConfig.TokenizeChineseChars == false)
                    throw new NotSupportedException($"{sourceForErrors}: tokenizer_config.json sets tokenize_chinese_chars false; only true (the BERT default) is supported.");
                encoder = BertTextTokenizer.Create(new MemoryStream(files["vocab.txt"]), lowerCase, tokenizerConfig.StripAccents, maxLength, PathOf("vocab.txt"));
                break;
            case "vocab.json":
                if (tokenizerConfig.AddPrefixSpace == true)
                    throw new NotSupportedException($"{sourceForErrors}: tokenizer_config.json sets add_prefix_space true; only the RoBERTa default (false) is supported.");
                encoder = RobertaTextTokenizer.Create(new MemoryStream(files["vocab.json"]), new MemoryStream(files["merges.txt"]), maxLength,
                    PathOf("vocab.json"), PathOf("merges.txt"));
                break;
            case SentencePieceFileName:
                encoder = SentencePieceTextTokenizer.Create(SentencePieceModel.Read(files[SentencePieceFileName], PathOf(SentencePieceFileName)),
                    maxLength, PathOf(SentencePieceFileName));
                break;
            default:
                if (tokenizerConfig.AddPrefixSpace == true && layout == TokenizerFamily.Roberta)
                    throw new NotSupportedException($"{sourceForErrors}: tokenizer_config.json sets add_prefix_space true; only the RoBERTa default (false) is supported.");
                encoder = TokenizerJson.Create(files[TokenizerJson.FileName], layout, maxLength, PathOf(TokenizerJson.FileName));
                break;
        }

        if (layout == TokenizerFamily.Roberta && encoder.PadTokenId != config.PadTokenId)
            throw new InvalidDataException(
                $"{sourceForErrors}: the tokenizer's <pad> id {encoder.PadTokenId} differs from config.json pad_token_id {config.PadTokenId}; RoBERTa positions depend on them agreeing.");
        if (encoder.LargestTokenId >= config.VocabSize)
            throw new InvalidDataException(
                $"{sourceForErrors}: the tokenizer's ids go up to {encoder.LargestTokenId} but config.json vocab_size is {config.VocabSize}; those ids would fall outside the embedding table.");
        return encoder;
    }

    /// <summary>The few <c>tokenizer_config.json</c> fields that change ids.</summary>
    sealed record TokenizerConfig(bool? DoLowerCase, bool? StripAccents, bool? AddPrefixSpace, bool? TokenizeChineseChars, long? ModelMaxLength)
    {
        public static TokenizerConfig Read(byte[]? bytes, string path)
        {
            if (bytes is null) return new(null, null, null, null, null);
            try
            {
                using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
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
