using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// RoBERTa byte-level BPE encoder: GPT-2's pre-tokenizer (<see cref="ByteLevelPreTokenizer"/>), then
/// Microsoft.ML.Tokenizers' byte-level BPE on each piece, without the library adding any special token
/// (this class places them itself: pairs need <c>&lt;/s&gt;&lt;/s&gt;</c> in the middle).
/// </summary>
/// <remarks>
/// Pieces go to <see cref="CodeGenTokenizer"/>, whose merge loop is a priority queue (a 400,000-character
/// word takes well under a second; <see cref="BpeTokenizer"/> needs minutes). <see cref="CodeGenTokenizer.Create"/>
/// however always adds CodeGen's own added tokens (runs of 2-31 spaces or 2-9 tabs, <c>&lt;|endoftext|&gt;</c>)
/// and maps a piece equal to one of them to CodeGen's id, which is not RoBERTa's; those short pieces go
/// to a <see cref="BpeTokenizer"/> built from the same files instead.
/// </remarks>
internal sealed class RobertaTextTokenizer : TextTokenizer
{
    const string CodeGenEndOfText = "<|endoftext|>";

    readonly CodeGenTokenizer _codeGen;
    readonly BpeTokenizer _bpe;
    readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _codeGenAddedTokens;
    readonly int _unknownSentinel;
    readonly int _unknownId;

    // Ids of frequent short pieces: most words repeat, and a hit costs no call into the library.
    const int MaxCachedPieceLength = 32;
    const int MaxCachedPieces = 250_000;
    readonly ConcurrentDictionary<string, int[]> _pieceCache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _pieceLookup;
    int _cachedPieces;

    RobertaTextTokenizer(TokenizerSettings settings, CodeGenTokenizer codeGen, BpeTokenizer bpe, int unknownSentinel,
                       IEnumerable<(string, int, bool)> specialTokens, int largestTokenId)
        : base(settings, specialTokens, largestTokenId)
    {
        _codeGen = codeGen;
        _bpe = bpe;
        _codeGenAddedTokens = new HashSet<string>(codeGen.SpecialTokens?.Keys ?? [], StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
        _unknownSentinel = unknownSentinel;
        _unknownId = settings.UnkTokenId;
        _pieceLookup = _pieceCache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static RobertaTextTokenizer Create(Stream vocabJson, Stream mergesTxt, int maxLength, string vocabSource, string mergesSource)
    {
        ArgumentNullException.ThrowIfNull(vocabJson);
        ArgumentNullException.ThrowIfNull(mergesTxt);
        ValidateMaxLength(maxLength, nameof(maxLength));
        var vocabulary = VocabularyFiles.ReadBpeVocabulary(vocabJson, vocabSource);
        var merges = VocabularyFiles.ReadMerges(mergesTxt, mergesSource);
        int cls = VocabularyFiles.RequireToken(vocabulary, "<s>", vocabSource);
        int sep = VocabularyFiles.RequireToken(vocabulary, "</s>", vocabSource);
        int pad = VocabularyFiles.RequireToken(vocabulary, "<pad>", vocabSource);
        int unk = VocabularyFiles.RequireToken(vocabulary, "<unk>", vocabSource);
        int? mask = vocabulary.TryGetValue("<mask>", out int m) ? m : null;
        int largestId = vocabulary.Values.Max();

        // CodeGenTokenizer needs <|endoftext|> (its unknown token) in the vocabulary; GPT-2-derived
        // vocabularies have it, others get it under an id past the end, mapped back to <unk> below.
        var codeGenVocabulary = vocabulary;
        int unknownSentinel = -1;
        if (!vocabulary.ContainsKey(CodeGenEndOfText))
        {
            codeGenVocabulary = new Dictionary<string, int>(vocabulary, StringComparer.Ordinal);
            codeGenVocabulary[CodeGenEndOfText] = unknownSentinel = largestId + 1;
        }

        CodeGenTokenizer codeGen;
        BpeTokenizer bpe;
        try
        {
            // CodeGen skips the first line of the merges as the "#version" header.
            byte[] mergesBytes = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join('\n', merges) + "\n");
            codeGen = CodeGenTokenizer.Create(
                new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(codeGenVocabulary)), new MemoryStream(mergesBytes),
                addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
            bpe = BpeTokenizer.Create(new BpeOptions(vocabulary) { Merges = merges, ByteLevel = true, PreTokenizer = RobertaPreTokenizer.Instance });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or KeyNotFoundException or IOException)
        {
            throw new InvalidDataException($"{vocabSource} and {mergesSource} do not form a byte-level BPE tokenizer: {e.Message}", e);
        }

        var settings = new TokenizerSettings
        {
            Family = TokenizerFamily.Roberta,
            LowerCase = false,
            StripAccents = false,
            MaxLength = maxLength,
            VocabSize = vocabulary.Count,
            VocabularySha256 = VocabularyFiles.Fingerprint(vocabulary, merges),
            ClsToken = "<s>", ClsTokenId = cls,
            SepToken = "</s>", SepTokenId = sep,
            PadToken = "<pad>", PadTokenId = pad,
            UnkToken = "<unk>", UnkTokenId = unk,
            MaskToken = mask is null ? null : "<mask>", MaskTokenId = mask,
        };
        // As in roberta-base's tokenizer.json: <mask> swallows the whitespace on its left (lstrip).
        var specials = new List<(string, int, bool)> { ("<s>", cls, false), ("</s>", sep, false), ("<pad>", pad, false), ("<unk>", unk, false) };
        if (mask is { } maskId) specials.Add(("<mask>", maskId, true));
        return new RobertaTextTokenizer(settings, codeGen, bpe, unknownSentinel, specials, largestId);
    }

    private protected override void EncodeSegment(string text, List<int> ids)
    {
        if (text.Length == 0) return;
        // Unpaired surrogates become U+FFFD, as any UTF-8 encoder writes them.
        if (text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        ByteLevelPreTokenizer.Split(text, (start, length) => EncodePiece(text.AsSpan(start, length), ids));
    }

    void EncodePiece(ReadOnlySpan<char> piece, List<int> ids)
    {
        bool cacheable = piece.Length <= MaxCachedPieceLength;
        if (cacheable && _pieceLookup.TryGetValue(piece, out int[]? cached))
        {
            ids.AddRange(cached);
            return;
        }

        IReadOnlyList<int> encoded = _codeGenAddedTokens.Contains(piece)
            ? _bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false)
            : _codeGen.EncodeToIds(piece, addPrefixSpace: false, addBeginningOfSentence: false, addEndOfSentence: false,
                                   considerPreTokenization: false, considerNormalization: false);
        int[] result = [.. encoded];
        if (_unknownSentinel >= 0)
            for (int i = 0; i < result.Length; i++)
                if (result[i] == _unknownSentinel) result[i] = _unknownId;
        ids.AddRange(result);
        if (cacheable && Volatile.Read(ref _cachedPieces) < MaxCachedPieces && _pieceCache.TryAdd(piece.ToString(), result))
            Interlocked.Increment(ref _cachedPieces);
    }
}
