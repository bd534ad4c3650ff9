
namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>BERT WordPiece encoder (see <see cref="BertWordPiece"/> for the text pipeline).</summary>
internal sealed class BertTextTokenizer : TextTokenizer
{
    readonly BertWordPiece _wordPiece;

    BertTextTokenizer(TokenizerSettings settings, BertWordPiece wordPiece, IEnumerable<(string, int, bool)> specialTokens, int largestTokenId)
        : base(settings, specialTokens, largestTokenId)
    {
        _wordPiece = wordPiece;
    }

    public static BertTextTokenizer Create(Stream vocabTxt, bool lowerCase, bool? stripAccents, int maxLength, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(vocabTxt);
        ValidateMaxLength(maxLength, nameof(maxLength));
        var vocabulary = VocabularyFiles.ReadWordPieceVocabulary(vocabTxt, sourceForErrors);
        int cls = VocabularyFiles.RequireToken(vocabulary, "[CLS]", sourceForErrors);
        int sep = VocabularyFiles.RequireToken(vocabulary, "[SEP]", sourceForErrors);
        int pad = VocabularyFiles.RequireToken(vocabulary, "[PAD]", sourceForErrors);
        int unk = VocabularyFiles.RequireToken(vocabulary, "[UNK]", sourceForErrors);
        int? mask = vocabulary.TryGetValue("[MASK]", out int m) ? m : null;
        bool strip = stripAccents ?? lowerCase;   // Hugging Face: strip_accents unset follows lowercase

        var settings = new TokenizerSettings
        {
            Family = TokenizerFamily.Bert,
            LowerCase = lowerCase,
            StripAccents = strip,
            MaxLength = maxLength,
            VocabSize = vocabulary.Count,
            VocabularySha256 = VocabularyFiles.Fingerprint(vocabulary, merges: null),
            ClsToken = "[CLS]", ClsTokenId = cls,
            SepToken = "[SEP]", SepTokenId = sep,
            PadToken = "[PAD]", PadTokenId = pad,
            UnkToken = "[UNK]", UnkTokenId = unk,
            MaskToken = mask is null ? null : "[MASK]", MaskTokenId = mask,
        };
        var specials = new List<(string, int, bool)> { ("[CLS]", cls, false), ("[SEP]", sep, false), ("[PAD]", pad, false), ("[UNK]", unk, false) };
        if (mask is { } maskId) specials.Add(("[MASK]", maskId, false));
        return new BertTextTokenizer(settings, new BertWordPiece(vocabulary, unk, lowerCase, strip), specials, vocabulary.Values.Max());
    }

    private protected override void EncodeSegment(string text, List<int> ids) => _wordPiece.Encode(text, ids);
}
