using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Native;
using TorchSharp;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// Turns text (or a pair of texts) into the token ids a pretrained BERT or RoBERTa encoder expects,
/// with the same ids, special tokens, segment ids and truncation as Hugging Face's fast tokenizers,
/// and pads batches into TorchSharp tensors.
/// </summary>
/// <remarks>
/// <para>Formats: BERT <c>[CLS] A [SEP]</c> and <c>[CLS] A [SEP] B [SEP]</c>, token types 0 for
/// <c>[CLS] A [SEP]</c> and 1 for <c>B [SEP]</c>; RoBERTa <c>&lt;s&gt; A &lt;/s&gt;</c> and
/// <c>&lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;</c>, token types all 0.</para>
/// <para>Special tokens written literally in a text (<c>[SEP]</c>, <c>&lt;/s&gt;</c>, ...) become those
/// tokens, as in Hugging Face.</para>
/// <para>Settings never change after creation (RoBERTa keeps an internal, thread-safe cache of piece ids);
/// <see cref="Encode"/> and <see cref="Pad"/> may be called from several threads at once.</para>
/// </remarks>
public abstract partial class TextEncoder
{
    /// <summary>The smallest <see cref="MaxLength"/> accepted: room for a pair's special tokens.</summary>
    public const int MinimumMaxLength = 4;

    readonly SpecialTokenSplitter _splitter;
    readonly int _clsId;
    readonly int _sepId;
    readonly int _pairSpecialTokens;
    readonly int _pairTokenType;

    private protected TextEncoder(TextEncoderSettings settings, IEnumerable<(string Text, int Id, bool StripLeft)> specialTokens, int largestTokenId)
    {
        ArgumentNullException.ThrowIfNull(settings);
        LargestTokenId = largestTokenId;
        settings.Validate();
        Settings = settings;
        _clsId = settings.ClsTokenId;
        _sepId = settings.SepTokenId;
        _pairSpecialTokens = settings.Family == EncoderFamily.Bert ? 3 : 4;
        _pairTokenType = settings.Family == EncoderFamily.Bert ? 1 : 0;
        _splitter = new SpecialTokenSplitter(specialTokens);
    }

    /// <summary>The encoder family whose format this encoder produces.</summary>
    public EncoderFamily Family => Settings.Family;

    /// <summary>Id used to pad rows in <see cref="Pad"/> (BERT <c>[PAD]</c>, usually 0; RoBERTa <c>&lt;pad&gt;</c>, usually 1).</summary>
    public int PadTokenId => Settings.PadTokenId;

    /// <summary>Most tokens in one row, special tokens included; longer input is truncated.</summary>
    public int MaxLength => Settings.MaxLength;

    /// <summary>How this encoder tokenizes, in a form a saved model can record (<see cref="TextEncoderSettings.ToJson"/>).</summary>
    public TextEncoderSettings Settings { get; }

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
    public EncodedText Encode(string? text, string? pair = null)
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
            return new EncodedText(ids, new int[ids.Length]);
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
        return new EncodedText(pairIds, types);
    }

    /// <summary>
    /// Pads rows to the longest row of this batch (not to <see cref="MaxLength"/>) with
    /// <see cref="PadTokenId"/> and returns int64 tensors <c>[B, T]</c>: input ids, token type ids
    /// (0 in padding) and the attention mask (1 for real tokens, 0 for padding).
    /// </summary>
    /// <param name="rows">At least one row, each as <see cref="Encode"/> returns it.</param>
    /// <param name="device">Where the tensors are created; null means the CPU.</param>
    /// <exception cref="ArgumentException">No rows, a null or empty row, or a row whose arrays differ in length.</exception>
    public TokenBatch Pad(IReadOnlyList<EncodedText> rows, torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new ArgumentException("Pad needs at least one row.", nameof(rows));
        int width = 0;
        var lengths = new int[rows.Count];
        for (int b = 0; b < rows.Count; b++)
        {
            var row = rows[b] ?? throw new ArgumentException($"Row {b} is null.", nameof(rows));
            if (row.InputIds is null || row.TokenTypeIds is null)
                throw new ArgumentException($"Row {b} has null arrays.", nameof(rows));
            if (row.InputIds.Length != row.TokenTypeIds.Length)
                throw new ArgumentException($"Row {b} has {row.InputIds.Length} input ids but {row.TokenTypeIds.Length} token type ids.", nameof(rows));
            if (row.InputIds.Length == 0) throw new ArgumentException($"Row {b} is empty.", nameof(rows));
            lengths[b] = row.InputIds.Length;
            width = Math.Max(width, lengths[b]);
        }

        var inputIds = new long[rows.Count * width];
        var tokenTypes = new long[inputIds.Length];
        var mask = new long[inputIds.Length];
        Array.Fill(inputIds, PadTokenId);
        for (int b = 0; b < rows.Count; b++)
        {
            int offset = b * width;
            var row = rows[b];
            for (int t = 0; t < row.InputIds.Length; t++)
            {
                inputIds[offset + t] = row.InputIds[t];
                tokenTypes[offset + t] = row.TokenTypeIds[t];
            }
            mask.AsSpan(offset, row.InputIds.Length).Fill(1);
        }

        TorchRuntime.EnsureLoaded();
        long[] shape = [rows.Count, width];
        torch.Tensor? ids = null, types = null, attention = null;
        try
        {
            ids = torch.tensor(inputIds, shape, torch.int64, device);
            types = torch.tensor(tokenTypes, shape, torch.int64, device);
            attention = torch.tensor(mask, shape, torch.int64, device);
            return new TokenBatch(ids, types, attention, lengths);
        }
        catch
        {
            ids?.Dispose();
            types?.Dispose();
            attention?.Dispose();
            throw;
        }
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
