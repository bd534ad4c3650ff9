using System.Buffers;
using System.Text;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// Finds special tokens written literally in the raw text (<c>[SEP]</c>, <c>&lt;/s&gt;</c>, ...), as
/// Hugging Face's added-token matching does before any normalisation: leftmost match first, the
/// longest token when several start at the same place. Text between matches is tokenized normally.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    readonly (string Text, int Id, bool StripLeft)[] _tokens;
    readonly SearchValues<char> _firstChars;

    /// <param name="tokens">Token text, id, and whether whitespace on its left is swallowed (Hugging Face <c>lstrip</c>).</param>
    public SpecialTokenSplitter(IEnumerable<(string Text, int Id, bool StripLeft)> tokens)
    {
        _tokens = tokens.Where(t => t.Text.Length > 0).OrderByDescending(t => t.Text.Length).ToArray();
        _firstChars = SearchValues.Create(new string(_tokens.Select(t => t.Text[0]).Distinct().ToArray()));
    }

    /// <summary>
    /// Calls <paramref name="encodeSegment"/> for each stretch of ordinary text and adds the ids of
    /// special tokens to <paramref name="ids"/> in order.
    /// </summary>
    public void Encode(string text, List<int> ids, Action<string, List<int>> encodeSegment)
    {
        int segmentStart = 0, searchFrom = 0;
        while (searchFrom < text.Length)
        {
            int found = text.AsSpan(searchFrom).IndexOfAny(_firstChars);
            if (found < 0) break;
            int at = searchFrom + found;
            int match = Match(text, at);
            if (match < 0)
            {
                searchFrom = at + 1;
                continue;
            }

            var token = _tokens[match];
            int segmentEnd = at;
            if (token.StripLeft)
                while (segmentEnd > segmentStart && IsWhiteSpaceEndingAt(text, segmentEnd, out int width))
                    segmentEnd -= width;
            if (segmentEnd > segmentStart) encodeSegment(text[segmentStart..segmentEnd], ids);
            ids.Add(token.Id);
            segmentStart = searchFrom = at + token.Text.Length;
        }
        if (segmentStart == 0) encodeSegment(text, ids);
        else if (segmentStart < text.Length) encodeSegment(text[segmentStart..], ids);
    }

    int Match(string text, int at)
    {
        // _tokens is sorted longest first, so the first hit is the longest one starting here.
        for (int i = 0; i < _tokens.Length; i++)
            if (text.AsSpan(at).StartsWith(_tokens[i].Text, StringComparison.Ordinal)) return i;
        return -1;
    }

    static bool IsWhiteSpaceEndingAt(string text, int end, out int width)
    {
        if (Rune.DecodeLastFromUtf16(text.AsSpan(0, end), out Rune rune, out width) == System.Buffers.OperationStatus.Done)
            return Rune.IsWhiteSpace(rune);
        return false;
    }
}
