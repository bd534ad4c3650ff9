using System.Globalization;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// XLM-RoBERTa's tokenizer: SentencePiece Unigram (Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>)
/// with fairseq's ids, in RoBERTa's layout (<c>&lt;s&gt; A &lt;/s&gt;&lt;/s&gt; B &lt;/s&gt;</c>).
/// </summary>
/// <remarks>
/// <para>fairseq's dictionary puts <c>&lt;s&gt;</c>=0, <c>&lt;pad&gt;</c>=1, <c>&lt;/s&gt;</c>=2, <c>&lt;unk&gt;</c>=3 first
/// and then the SentencePiece pieces from the fourth on, so a piece's id is its SentencePiece id + 1;
/// <c>&lt;mask&gt;</c> comes last (number of pieces + 1). This is the layout of Hugging Face's
/// <c>XLMRobertaTokenizer</c> and of the <c>tokenizer.json</c> its converter writes (the first three pieces,
/// SentencePiece's own <c>&lt;unk&gt; &lt;s&gt; &lt;/s&gt;</c>, are replaced by the four fairseq tokens).</para>
/// <para>Text is segmented as SentencePiece segments it (the model's normalization rules, whitespace stripped and
/// collapsed, a "▁" before the text), which is how XLM-R was pretrained and what Hugging Face's slow
/// <c>XLMRobertaTokenizer</c> gives; the fast one differs on leading, trailing and repeated spaces (it keeps a
/// "▁" for them).</para>
/// </remarks>
internal sealed class SentencePieceTextTokenizer : TextTokenizer
{
    /// <summary>fairseq's offset between a SentencePiece id and the model's id.</summary>
    public const int FairseqOffset = 1;

    readonly SentencePieceTokenizer _pieces;
    readonly int _unknownId;
    readonly System.Buffers.SearchValues<char> _deleted;

    SentencePieceTextTokenizer(TokenizerSettings settings, SentencePieceTokenizer pieces, IEnumerable<(string, int, bool)> specialTokens,
        int largestTokenId, string deleted)
        : base(settings, specialTokens, largestTokenId)
    {
        _pieces = pieces;
        _unknownId = settings.UnkTokenId;
        _deleted = System.Buffers.SearchValues.Create(deleted);
    }

    /// <summary>
    /// The tokenizer of a SentencePiece Unigram model: its pieces from the fourth on keep their order (ids + 1), the
    /// fairseq tokens take ids 0-3 and <c>&lt;mask&gt;</c> the last id.
    /// </summary>
    /// <exception cref="InvalidDataException">The model is not a Unigram model this tokenizer can run; the message says why.</exception>
    public static SentencePieceTextTokenizer Create(SentencePieceModel model, int maxLength, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(model);
        ValidateMaxLength(maxLength, nameof(maxLength));
        if (model.ModelType != 1)
            throw new NotSupportedException($"{sourceForErrors} is a SentencePiece {(model.ModelType == 2 ? "BPE" : $"type {model.ModelType}")} model; only Unigram models (XLM-RoBERTa's) are supported.");
        if (model.ByteFallback)
            throw new NotSupportedException($"{sourceForErrors} uses byte fallback, which XLM-RoBERTa's tokenizer does not; it is not supported.");
        if (model.TreatWhitespaceAsSuffix || !model.EscapeWhitespaces)
            throw new NotSupportedException($"{sourceForErrors} does not mark word starts with a leading '▁' (treat_whitespace_as_suffix or escape_whitespaces off); it is not supported.");
        if (model.Pieces.Count < 4)
            throw new InvalidDataException($"{sourceForErrors} has {model.Pieces.Count} pieces; a tokenizer needs at least 4.");

        // SentencePiece's own layout for XLM-R: <unk> <s> </s> first. The first three pieces of any model are
        // replaced by them, as Hugging Face's converter drops them; the rest keep their ids.
        var pieces = new List<SentencePieceModel.Piece>(model.Pieces.Count)
        {
            new("<unk>", 0, SentencePieceModel.PieceType.Unknown),
            new("<s>", 0, SentencePieceModel.PieceType.Control),
            new("</s>", 0, SentencePieceModel.PieceType.Control),
        };
        for (int i = 3; i < model.Pieces.Count; i++)
        {
            var piece = model.Pieces[i];
            // A second unknown piece would confuse the unknown id; it can never be produced anyway.
            pieces.Add(piece.Type == SentencePieceModel.PieceType.Unknown ? piece with { Type = SentencePieceModel.PieceType.Control } : piece);
        }
        var canonical = new SentencePieceModel
        {
            Pieces = pieces, ModelType = 1, UnkId = 0, NormalizerName = model.NormalizerName, PrecompiledCharsmap = model.PrecompiledCharsmap,
            AddDummyPrefix = model.AddDummyPrefix, RemoveExtraWhitespaces = model.RemoveExtraWhitespaces, EscapeWhitespaces = true,
        };

        SentencePieceTokenizer tokenizer;
        try
        {
            tokenizer = SentencePieceTokenizer.Create(new MemoryStream(canonical.Write(bosId: 1, eosId: 2, padId: -1)),
                addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException or FormatException)
        {
            throw new InvalidDataException($"{sourceForErrors} could not be loaded as a SentencePiece Unigram model: {e.Message}", e);
        }

        // fairseq ids: <s> 0, <pad> 1, </s> 2, <unk> 3, piece i (i >= 3) -> i + 1, <mask> last.
        int mask = pieces.Count + FairseqOffset;
        var vocabulary = new Dictionary<string, int>(pieces.Count + 2, StringComparer.Ordinal);
        for (int i = pieces.Count - 1; i >= 3; i--) vocabulary[pieces[i].Text] = i + FairseqOffset;   // the first of duplicates wins, as SentencePiece's lookup
        vocabulary["<s>"] = 0;
        vocabulary["<pad>"] = 1;
        vocabulary["</s>"] = 2;
        vocabulary["<unk>"] = 3;
        vocabulary["<mask>"] = mask;

        var settings = new TokenizerSettings
        {
            Family = TokenizerFamily.Roberta,
            Model = TokenizerModel.Unigram,
            LowerCase = false,
            StripAccents = false,
            MaxLength = maxLength,
            VocabSize = pieces.Count + 2,
            VocabularySha256 = VocabularyFiles.Fingerprint(vocabulary,
                [.. pieces.Skip(3).Select(p => p.Score.ToString("R", CultureInfo.InvariantCulture))]),
            ClsToken = "<s>", ClsTokenId = 0,
            SepToken = "</s>", SepTokenId = 2,
            PadToken = "<pad>", PadTokenId = 1,
            UnkToken = "<unk>", UnkTokenId = 3,
            MaskToken = "<mask>", MaskTokenId = mask,
        };
        // As in XLM-R's tokenizer.json: <mask> swallows the whitespace on its left (lstrip).
        (string, int, bool)[] specials = [("<s>", 0, false), ("<pad>", 1, false), ("</s>", 2, false), ("<unk>", 3, false), ("<mask>", mask, true)];
        // Control characters the model's rules delete (nmt_nfkc: C0 and C1 controls but tab and line breaks), which
        // Microsoft.ML.Tokenizers 2.0.1 leaves in place (each becomes an <unk>): removed before it sees the text.
        string deleted = new([.. PrecompiledCharsmap.DeletedCharacters(model.PrecompiledCharsmap).Where(char.IsControl)]);
        return new SentencePieceTextTokenizer(settings, tokenizer, specials, mask, deleted);
    }

    string RemoveDeleted(string text)
    {
        var kept = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
            if (!_deleted.Contains(c)) kept.Append(c);
        return kept.ToString();
    }

    private protected override void EncodeSegment(string text, List<int> ids)
    {
        if (text.Length == 0) return;
        if (text.AsSpan().ContainsAny(_deleted)) text = RemoveDeleted(text);
        bool previousUnknown = false;
        foreach (int id in _pieces.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: false, considerNormalization: true))
        {
            // SentencePiece merges a run of unknown pieces into one <unk> (Microsoft.ML.Tokenizers gives one per character).
            if (id == 0 && previousUnknown) continue;
            previousUnknown = id == 0;
            // SentencePiece id -> fairseq id: <unk> (0) is 3, pieces move up by one (<s> and </s> never come from text).
            ids.Add(id == 0 ? _unknownId : id + FairseqOffset);
        }
    }
}
