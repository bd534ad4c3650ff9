using System.Globalization;
using System.Text;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// GPT-2's pre-tokenizer, the split RoBERTa's byte-level BPE runs on:
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>, evaluated on whole
/// Unicode characters with <c>\s</c> = Unicode White_Space, as Python's <c>regex</c> module and
/// Hugging Face's Oniguruma-based <c>ByteLevel</c> pre-tokenizer do.
/// </summary>
/// <remarks>
/// Written out by hand because a .NET <see cref="System.Text.RegularExpressions.Regex"/> sees the two
/// halves of a supplementary character (CJK extension B, mathematical letters and digits, ...) as
/// neither letters nor numbers, which splits text such as "𠀋're" differently from GPT-2.
/// </remarks>
internal static class ByteLevelPreTokenizer
{
    enum Kind { Space, Letter, Number, Other }

    /// <summary>Calls <paramref name="piece"/> with the start and length of each pre-token, in order.</summary>
    public static void Split(ReadOnlySpan<char> text, Action<int, int> piece)
    {
        int n = text.Length;
        int i = 0;
        while (i < n)
        {
            if (text[i] == '\'' && ContractionLength(text[(i + 1)..]) is var contraction and > 0)
            {
                piece(i, contraction + 1);
                i += contraction + 1;
                continue;
            }

            int j = i;
            if (text[i] == ' ' && i + 1 < n && KindAt(text, i + 1, out _) != Kind.Space) j = i + 1;
            Kind kind = KindAt(text, j, out int width);
            if (kind != Kind.Space)
            {
                int end = j + width;
                while (end < n && KindAt(text, end, out int w) == kind) end += w;
                piece(i, end - i);
                i = end;
                continue;
            }

            // Whitespace run: all of it at the end of the text, else all but its last character
            // (which then leads the next word) when that leaves something, else the single character.
            int runEnd = i, last = i;
            while (runEnd < n && KindAt(text, runEnd, out int w) == Kind.Space)
            {
                last = runEnd;
                runEnd += w;
            }
            int stop = runEnd == n || last == i ? runEnd : last;
            piece(i, stop - i);
            i = stop;
        }
    }

    static int ContractionLength(ReadOnlySpan<char> rest)
    {
        if (rest.IsEmpty) return 0;
        switch (rest[0])
        {
            case 's' or 't' or 'm' or 'd': return 1;
            case 'r' or 'v' when rest.Length > 1 && rest[1] == 'e': return 2;
            case 'l' when rest.Length > 1 && rest[1] == 'l': return 2;
            default: return 0;
        }
    }

    static Kind KindAt(ReadOnlySpan<char> text, int index, out int width)
    {
        Rune.DecodeFromUtf16(text[index..], out Rune rune, out width);
        if (Rune.IsWhiteSpace(rune)) return Kind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }
}
