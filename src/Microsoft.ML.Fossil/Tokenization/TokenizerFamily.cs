namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// The layout of special tokens and segments a tokenizer produces: BERT's <c>[CLS] A [SEP] B [SEP]</c> with token
/// types 0/1, or RoBERTa's <c>&lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;</c> with token types all 0. Recorded in a
/// saved model as "bert" / "roberta".
/// </summary>
internal enum TokenizerFamily
{
    /// <summary>BERT: WordPiece, <c>[CLS]</c>/<c>[SEP]</c>, token types 0 and 1.</summary>
    Bert,
    /// <summary>RoBERTa: byte-level BPE, <c>&lt;s&gt;</c>/<c>&lt;/s&gt;</c>, token types all 0.</summary>
    Roberta,
}
