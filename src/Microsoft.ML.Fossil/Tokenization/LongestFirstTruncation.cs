namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// Hugging Face's <c>longest_first</c> truncation, exactly as the Rust <c>tokenizers</c> crate
/// (<c>utils/truncation.rs</c>, <c>truncate_encodings</c>) applies it; <c>transformers</c>' fast
/// tokenizers call it with the budget left after the special tokens.
/// </summary>
internal static class LongestFirstTruncation
{
    /// <summary>
    /// Lengths to keep of a pair of sequences of <paramref name="first"/> and <paramref name="second"/>
    /// tokens so that together they fit <paramref name="budget"/> tokens (tokens are cut at the end).
    /// </summary>
    /// <remarks>
    /// When the shorter sequence fits in what the longer leaves, only the longer is cut.
    /// Otherwise each gets half the budget, and an odd token goes to the sequence that was longer;
    /// when both were equally long it goes to the second. (This is not the same as removing one
    /// token at a time from the longer one: for lengths 4 and 4 and a budget of 7 the result is
    /// 3 and 4.)
    /// </remarks>
    public static (int First, int Second) Lengths(int first, int second, int budget)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfNegative(second);
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        if (budget == 0) return (0, 0);
        if (first + second <= budget) return (first, second);

        bool swapped = first > second;
        int n1 = swapped ? second : first;   // the shorter
        int n2;                              // what the longer keeps
        n2 = n1 > budget ? n1 : Math.Max(n1, budget - n1);
        if (n1 + n2 > budget)
        {
            n1 = budget / 2;
            n2 = n1 + budget % 2;
        }
        return swapped ? (n2, n1) : (n1, n2);
    }
}
