
namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// Turns text (or a pair of texts) into the token ids a pretrained BERT or RoBERTa encoder expects,
/// with the same ids, special tokens, segment ids and truncation as Hugging Face's fast tokenizers,
/// as plain arrays (collation into batches is the next stage, <see cref="Collation.BatchCollator"/>). Nothing here
/// touches a native library.
/// </summary>
/// <remarks>
/// <para>Formats: BERT <c>[CLS] A [SEP]</c> and <c>[CLS] A [SEP] B [SEP]</c>, token types 0 for
/// <c>[CLS] A [SEP]</c> and 1 for <c>B [SEP]</c>; RoBERTa <c>&lt;s&gt; A &lt;/s&gt;</c> and
/// <c>&lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;</c>, token types all 0.</para>
/// <para>Special tokens written literally in a text (<c>[SEP]</c>, <c>&lt;/s&gt;</c>, ...) become those
/// tokens, as in Hugging Face.</para>
/// <para>Settings never change after creation (RoBERTa keeps an internal, thread-safe cache of piece ids);
/// <see cref="Encode"/> may be called from several threads at once.</para>
/// </remarks>
internal abstract partial class TextTokenizer
{
    /// <summary>The smallest <see cref="MaxLength"/> accepted: room for a pair's special tokens.</summary>
    public const int MinimumMaxLength = 4;

    readonly SpecialTokenSplitter _splitter;
    readonly int _clsId;
    readonly int _sepId;
    readonly int _pairSpecialTokens;
    readonly int _pairTokenType;

    private protected TextTokenizer(TokenizerSettings settings, IEnumerable<(string Text, int Id, bool StripLeft)> specialTokens, int largestTokenId)
    {
        ArgumentNullException.ThrowIfNull(settings);
        LargestTokenId = largestTokenId;
        settings.Validate();
        Settings = settings;
        _clsId = settings.ClsTokenId;
        _sepId = settings.SepTokenId;
        _pairSpecialTokens = settings.Family == TokenizerFamily.Bert ? 3 : 4;
        _pairTokenType = settings.Family == TokenizerFamily.Bert ? 1 : 0;
        _splitter = new SpecialTokenSplitter(specialTokens);
    }

    /// <summary>The encoder family whose format this encoder produces.</summary>
    public TokenizerFamily Family => Settings.Family;

    /// <summary>Id used to pad rows when they are collated (BERT <c>[PAD]</c>, usually 0; RoBERTa <c>&lt;pad&gt;</c>, usually 1).</summary>
    public int PadTokenId => Settings.PadTokenId;

    /// <summary>Most tokens in one row, special tokens included; longer input is truncated.</summary>
    public int MaxLength => Settings.MaxLength;

    /// <summary>How this encoder tokenizes, in a form a saved model can record (<see cref="TokenizerSettings.ToJson"/>).</summary>
    public TokenizerSettings Settings { get; }

    /// <summary>
    /// Encodes one text, or a sentence pair when <paramref name="pair"/> is not null, adding the
    /// family's special tokens and truncating to <see cref="MaxLength"/> tokens. Never throws on
    /// content: any string, however long or unusual, gives a row.
    /// </summary>
    /// <param name="text">The (first) text; null is treated as the empty string.</param>
    /// <param name="pair">The second text of a pair; null encodes <paramref name="text"/> alone, while
    /// the empty string gives a pair whose second part is empty (<c>[CLS] A [SEP] [SEP]</c>).</param>
    /// <remarks>
    /// Truncation is Hugging Face's <c>longest_first</c> as the Rust <c>tokenizers</c> crate does it:
    /// a single text keeps its first <c>MaxLength - 2</c> tokens; for a pair, when the shorter part
    /// fits in what the longer leaves only the longer is cut, otherwise each part keeps half of the
    /// budget (<see cref="MaxLength"/> minus the 3 (BERT) or 4 (RoBERTa) special tokens) and an odd token
    /// goes to the part that was longer (to the second when they were equally long).
    /// </remarks>
    public TokenizedText Encode(string? text, string? pair = null)
    {
        var first = new List<int>();
        _splitter.Encode(text ?? string.Empty, first, EncodeSegment);
        if (pair is null)
        {
            int keep = Math.Min(first.Count, MaxLength - 2);
            var ids = new int[keep + 2];
            ids[0] = _clsId;
            first.CopyTo(0, ids, 1, keep);
            ids[^1] = _sepId;
            return new TokenizedText(ids, new int[ids.Length]);
        }

        var second = new List<int>();
        _splitter.Encode(pair, second, EncodeSegment);
        var (n1, n2) = LongestFirstTruncation.Lengths(first.Count, second.Count, MaxLength - _pairSpecialTokens);
        n1 = Math.Min(n1, first.Count);
        n2 = Math.Min(n2, second.Count);

        var pairIds = new int[n1 + n2 + _pairSpecialTokens];
        var types = new int[pairIds.Length];
        int at = 0;
        pairIds[at++] = _clsId;
        first.CopyTo(0, pairIds, at, n1);
        at += n1;
        pairIds[at++] = _sepId;
        int secondStart = at;
        if (_pairSpecialTokens == 4) pairIds[at++] = _sepId;   // RoBERTa: </s></s> between the parts
        second.CopyTo(0, pairIds, at, n2);
        at += n2;
        pairIds[at++] = _sepId;
        if (_pairTokenType != 0) types.AsSpan(secondStart).Fill(_pairTokenType);
        return new TokenizedText(pairIds, types);
    }

    /// <summary>The largest id the vocabulary can produce (checked against a model's embedding table).</summary>
    internal int LargestTokenId { get; }

    /// <summary>Appends the ids of a stretch of text without special tokens.</summary>
    private protected abstract void EncodeSegment(string text, List<int> ids);

    /// <summary>Checks a requested maximum length against <see cref="MinimumMaxLength"/>.</summary>
    private protected static void ValidateMaxLength(int maxLength, string parameterName)
    {
        if (maxLength < MinimumMaxLength)
            throw new ArgumentOutOfRangeException(parameterName, maxLength,
                $"maxLength must be at least {MinimumMaxLength} (room for a pair's special tokens); found {maxLength}.");
    }
}
