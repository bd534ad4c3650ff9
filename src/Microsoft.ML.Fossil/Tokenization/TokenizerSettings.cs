using System.Text.Json;
using System.Text.Json.Serialization;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// How a <see cref="TextTokenizer"/> tokenizes: family, normalisation, maximum length, vocabulary
/// identity and special tokens. Serialised as JSON with snake_case names, so a saved model can
/// record it and a loaded model can check that its encoder still matches (records compare by value).
/// </summary>
internal sealed record TokenizerSettings
{
    /// <summary>The <see cref="FormatVersion"/> this library writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Version of this JSON layout.</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>Encoder family: <c>bert</c> (WordPiece) or <c>roberta</c> (byte-level BPE).</summary>
    public required TokenizerFamily Family { get; init; }

    /// <summary>Whether text is lower-cased before WordPiece (BERT uncased); always false for RoBERTa.</summary>
    public required bool LowerCase { get; init; }

    /// <summary>Whether accents (non-spacing marks after canonical decomposition) are removed; always false for RoBERTa.</summary>
    public required bool StripAccents { get; init; }

    /// <summary>Most tokens per row, special tokens included.</summary>
    public required int MaxLength { get; init; }

    /// <summary>Number of entries in the vocabulary.</summary>
    public required int VocabSize { get; init; }

    /// <summary>
    /// SHA-256 (lower-case hex) of the vocabulary as <c>id\ttoken\n</c> lines in id order, followed
    /// for BPE by the merges as lines: independent of file layout and line ends.
    /// </summary>
    public required string VocabularySha256 { get; init; }

    /// <summary>First token of every row: <c>[CLS]</c> or <c>&lt;s&gt;</c>.</summary>
    public required string ClsToken { get; init; }

    /// <summary>Id of <see cref="ClsToken"/>.</summary>
    public required int ClsTokenId { get; init; }

    /// <summary>Separator and final token: <c>[SEP]</c> or <c>&lt;/s&gt;</c>.</summary>
    public required string SepToken { get; init; }

    /// <summary>Id of <see cref="SepToken"/>.</summary>
    public required int SepTokenId { get; init; }

    /// <summary>Padding token: <c>[PAD]</c> or <c>&lt;pad&gt;</c>.</summary>
    public required string PadToken { get; init; }

    /// <summary>Id of <see cref="PadToken"/>.</summary>
    public required int PadTokenId { get; init; }

    /// <summary>Unknown token: <c>[UNK]</c> or <c>&lt;unk&gt;</c>.</summary>
    public required string UnkToken { get; init; }

    /// <summary>Id of <see cref="UnkToken"/>.</summary>
    public required int UnkTokenId { get; init; }

    /// <summary>Mask token (<c>[MASK]</c> or <c>&lt;mask&gt;</c>) when the vocabulary has one.</summary>
    public string? MaskToken { get; init; }

    /// <summary>Id of <see cref="MaskToken"/> when the vocabulary has one.</summary>
    public int? MaskTokenId { get; init; }

    /// <summary>Serialises with snake_case property names (<c>max_length</c>, <c>pad_token_id</c>, ...).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates settings written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">The text is not valid settings JSON; the message says why.</exception>
    public static TokenizerSettings FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        TokenizerSettings settings;
        try
        {
            settings = JsonSerializer.Deserialize<TokenizerSettings>(json, JsonOptions)
                       ?? throw new InvalidDataException("Text encoder settings JSON is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Text encoder settings JSON is not valid: {e.Message}", e);
        }
        settings.Validate();
        return settings;
    }

    /// <summary>Checks the values; the message names the offending field and value.</summary>
    /// <exception cref="InvalidDataException">A field is out of range.</exception>
    public void Validate()
    {
        if (FormatVersion != CurrentFormatVersion)
            throw new InvalidDataException($"Text encoder settings format_version {FormatVersion} is not supported; this library reads version {CurrentFormatVersion}.");
        if (!Enum.IsDefined(Family))
            throw new InvalidDataException($"Text encoder settings: family {(int)Family} is not a known encoder family.");
        if (MaxLength < TextTokenizer.MinimumMaxLength)
            throw new InvalidDataException($"Text encoder settings: max_length must be at least {TextTokenizer.MinimumMaxLength}; found {MaxLength}.");
        if (VocabSize <= 0)
            throw new InvalidDataException($"Text encoder settings: vocab_size must be positive; found {VocabSize}.");
        if (Family == TokenizerFamily.Roberta && (LowerCase || StripAccents))
            throw new InvalidDataException("Text encoder settings: lower_case and strip_accents must be false for the roberta family.");
        void Token(string? token, int? id, string name)
        {
            if (string.IsNullOrEmpty(token))
                throw new InvalidDataException($"Text encoder settings: {name} must not be empty.");
            if (id is not { } value || value < 0)
                throw new InvalidDataException($"Text encoder settings: {name}_id must be a non-negative id; found {id?.ToString() ?? "null"}.");
        }
        Token(ClsToken, ClsTokenId, "cls_token");
        Token(SepToken, SepTokenId, "sep_token");
        Token(PadToken, PadTokenId, "pad_token");
        Token(UnkToken, UnkTokenId, "unk_token");
        if (MaskToken is not null || MaskTokenId is not null) Token(MaskToken, MaskTokenId, "mask_token");
        if (string.IsNullOrEmpty(VocabularySha256) || VocabularySha256.Length != 64 || !VocabularySha256.All(char.IsAsciiHexDigitLower))
            throw new InvalidDataException($"Text encoder settings: vocabulary_sha256 must be 64 lower-case hex digits; found '{VocabularySha256}'.");
    }
}
