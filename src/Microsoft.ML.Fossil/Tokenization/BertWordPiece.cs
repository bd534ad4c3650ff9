using System.Buffers;
using System.Globalization;
using System.Text;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// BERT's text pipeline as Hugging Face's <c>tokenizers</c> runs it for <c>BertTokenizerFast</c>:
/// the <c>BertNormalizer</c> (clean text, space out CJK ideographs, strip accents, lower-case), the
/// <c>BertPreTokenizer</c> (split on whitespace, isolate punctuation) and the <c>WordPiece</c> model
/// (greedy longest match, <c>##</c> continuations, whole word to <c>[UNK]</c> when it cannot be covered,
/// words over 100 characters to <c>[UNK]</c>).
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0.1's <c>BertTokenizer</c> differs from Hugging Face on ordinary text
/// (it deletes tabs and line breaks instead of treating them as spaces, so "one\nline" becomes one
/// word; it drops symbols such as <c>=</c>, <c>&gt;</c>, <c>`</c>, <c>^</c>, <c>|</c> and emoji; it re-composes
/// the decomposed text, which changes Hangul), so this pipeline is implemented here and checked
/// against Hugging Face ids in the tests. Thread-safe: encoding keeps no state between calls.
/// </remarks>
internal sealed class BertWordPiece
{
    const string ContinuationPrefix = "##";
    const int MaxInputCharsPerWord = 100;

    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly bool _lowerCase;
    readonly bool _stripAccents;
    readonly int _unknownId;

    public BertWordPiece(Dictionary<string, int> vocabulary, int unknownId, bool lowerCase, bool stripAccents)
    {
        _lookup = vocabulary.GetAlternateLookup<ReadOnlySpan<char>>();
        _unknownId = unknownId;
        _lowerCase = lowerCase;
        _stripAccents = stripAccents;
    }

    /// <summary>Appends the WordPiece ids of <paramref name="text"/> (no special tokens) to <paramref name="ids"/>.</summary>
    public void Encode(string text, List<int> ids)
    {
        if (text.Length == 0) return;
        string normalized = Normalize(text);
        PreTokenizeAndEncode(normalized, ids);
    }

    /// <summary>Hugging Face <c>BertNormalizer</c> with <c>clean_text</c> and <c>handle_chinese_chars</c> on.</summary>
    internal string Normalize(string text)
    {
        // 1. clean_text: drop NUL, U+FFFD and "other" characters (Cc, Cf, Co, Cn; unpaired surrogates
        //    decode as U+FFFD), except tab and line breaks, which like every other whitespace become ' '.
        // 2. handle_chinese_chars: a space on each side of a CJK ideograph.
        var builder = new StringBuilder(text.Length + 16);
        bool ascii = true;
        int i = 0;
        while (i < text.Length)
        {
            Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int consumed);
            i += consumed;
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune)) continue;
            if (IsWhiteSpace(rune)) { builder.Append(' '); continue; }
            if (cp >= 0x80) ascii = false;
            if (IsChineseChar(cp))
            {
                builder.Append(' ');
                AppendRune(builder, rune);
                builder.Append(' ');
                continue;
            }
            AppendRune(builder, rune);
        }

        string cleaned = builder.ToString();
        if (!_stripAccents && !_lowerCase) return cleaned;
        if (ascii) return _lowerCase ? cleaned.ToLowerInvariant() : cleaned;

        // 3. strip_accents: canonical decomposition, then drop non-spacing marks (Mn only).
        // 4. lowercase: per character, with the full mapping (U+0130 becomes "i" + U+0307).
        string source = _stripAccents ? cleaned.Normalize(NormalizationForm.FormD) : cleaned;
        builder.Clear();
        i = 0;
        while (i < source.Length)
        {
            Rune.DecodeFromUtf16(source.AsSpan(i), out Rune rune, out int consumed);
            i += consumed;
            if (_stripAccents && Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark) continue;
            if (_lowerCase)
            {
                if (rune.Value == 0x130) { builder.Append('i').Append('\u0307'); continue; }
                rune = Rune.ToLowerInvariant(rune);
            }
            AppendRune(builder, rune);
        }
        return builder.ToString();
    }

    void PreTokenizeAndEncode(string normalized, List<int> ids)
    {
        // BertPreTokenizer: whitespace ends a word and is dropped; punctuation is a word of its own.
        int wordStart = -1;
        int i = 0;
        while (i < normalized.Length)
        {
            Rune.DecodeFromUtf16(normalized.AsSpan(i), out Rune rune, out int consumed);
            bool space = Rune.IsWhiteSpace(rune);
            bool punctuation = !space && IsPunctuation(rune);
            if (space || punctuation)
            {
                if (wordStart >= 0) EncodeWord(normalized.AsSpan(wordStart, i - wordStart), ids);
                wordStart = -1;
                if (punctuation) EncodeWord(normalized.AsSpan(i, consumed), ids);
            }
            else if (wordStart < 0)
            {
                wordStart = i;
            }
            i += consumed;
        }
        if (wordStart >= 0) EncodeWord(normalized.AsSpan(wordStart), ids);
    }

    /// <summary>WordPiece on one pre-tokenized word.</summary>
    void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        if (word.Length > MaxInputCharsPerWord && CountRunes(word) > MaxInputCharsPerWord)
        {
            ids.Add(_unknownId);
            return;
        }

        int firstNew = ids.Count;
        char[]? rented = null;
        Span<char> candidate = word.Length + ContinuationPrefix.Length <= 256
            ? stackalloc char[word.Length + ContinuationPrefix.Length]
            : (rented = ArrayPool<char>.Shared.Rent(word.Length + ContinuationPrefix.Length));
        try
        {
            ContinuationPrefix.AsSpan().CopyTo(candidate);
            int start = 0;
            while (start < word.Length)
            {
                int end = word.Length;
                int id = -1;
                while (end > start)
                {
                    ReadOnlySpan<char> piece = word[start..end];
                    scoped ReadOnlySpan<char> key;
                    if (start == 0)
                    {
                        key = piece;
                    }
                    else
                    {
                        piece.CopyTo(candidate[ContinuationPrefix.Length..]);
                        key = candidate[..(ContinuationPrefix.Length + piece.Length)];
                    }
                    if (_lookup.TryGetValue(key, out id)) break;
                    id = -1;
                    // Step back one whole character (never split a surrogate pair).
                    end -= end - 2 >= start && char.IsLowSurrogate(word[end - 1]) && char.IsHighSurrogate(word[end - 2]) ? 2 : 1;
                }
                if (id < 0)
                {
                    ids.RemoveRange(firstNew, ids.Count - firstNew);
                    ids.Add(_unknownId);
                    return;
                }
                ids.Add(id);
                start = end;
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        }
    }

    static void AppendRune(StringBuilder builder, Rune rune)
    {
        if (rune.IsBmp) builder.Append((char)rune.Value);
        else
        {
            Span<char> pair = stackalloc char[2];
            rune.EncodeToUtf16(pair);
            builder.Append(pair);
        }
    }

    static int CountRunes(ReadOnlySpan<char> text)
    {
        int count = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            count++;
        }
        return count;
    }

    /// <summary>Tab, line feed and carriage return, plus Unicode White_Space.</summary>
    static bool IsWhiteSpace(Rune rune) => Rune.IsWhiteSpace(rune);

    /// <summary>Unicode "other" categories (Cc, Cf, Cs, Co, Cn) except tab, line feed and carriage return.</summary>
    static bool IsControl(Rune rune)
    {
        if (rune.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>ASCII punctuation (all of <c>!"#$%&amp;'()*+,-./:;&lt;=&gt;?@[\]^_`{|}~</c>) or a Unicode P* category.</summary>
    static bool IsPunctuation(Rune rune)
    {
        int cp = rune.Value;
        if (cp < 0x80)
            return cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK ideograph blocks BERT spaces out (Hangul, Hiragana and Katakana are not among them).</summary>
    static bool IsChineseChar(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF
            or >= 0x3400 and <= 0x4DBF
            or >= 0x20000 and <= 0x2A6DF
            or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F
            or >= 0x2B920 and <= 0x2CEAF
            or >= 0xF900 and <= 0xFAFF
            or >= 0x2F800 and <= 0x2FA1F;
}
