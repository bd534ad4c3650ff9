
namespace Microsoft.ML.Fossil.Tokenization;

internal abstract partial class TextTokenizer
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
    public static TextTokenizer ForBert(Stream vocabTxt, bool lowerCase, int maxLength) =>
        BertTextTokenizer.Create(vocabTxt, lowerCase, stripAccents: null, maxLength, "vocab.txt");

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
    public static TextTokenizer ForRoberta(Stream vocabJson, Stream mergesTxt, int maxLength) =>
        RobertaTextTokenizer.Create(vocabJson, mergesTxt, maxLength, "vocab.json", "merges.txt");
}
