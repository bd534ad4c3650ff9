using System.Text;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Tokenizers;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// RoBERTa byte-level BPE encoder: GPT-2's pre-tokenizer (<see cref="ByteLevelPreTokenizer"/>), then
/// Microsoft.ML.Tokenizers' byte-level <see cref="BpeTokenizer"/> on each piece. The tokenizer is built
/// without beginning/end-of-sentence tokens so that this class places the special tokens itself
/// (pairs need <c>&lt;/s&gt;&lt;/s&gt;</c> in the middle).
/// </summary>
internal sealed class RobertaTextEncoder : TextEncoder
{
    readonly BpeTokenizer _bpe;

    RobertaTextEncoder(TextEncoderSettings settings, BpeTokenizer bpe, IEnumerable<(string, int, bool)> specialTokens, int largestTokenId)
        : base(settings, specialTokens, largestTokenId)
    {
        _bpe = bpe;
    }

    public static RobertaTextEncoder Create(Stream vocabJson, Stream mergesTxt, int maxLength, string vocabSource, string mergesSource)
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

        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = RobertaPreTokenizer.Instance,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{vocabSource} and {mergesSource} do not form a byte-level BPE tokenizer: {e.Message}", e);
        }

        var settings = new TextEncoderSettings
        {
            Family = EncoderFamily.Roberta,
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
        return new RobertaTextEncoder(settings, bpe, specials, vocabulary.Values.Max());
    }

    private protected override void EncodeSegment(string text, List<int> ids)
    {
        if (text.Length == 0) return;
        // Unpaired surrogates become U+FFFD, as any UTF-8 encoder writes them.
        if (text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        ByteLevelPreTokenizer.Split(text, (start, length) =>
            ids.AddRange(_bpe.EncodeToIds(text.AsSpan(start, length), considerPreTokenization: false, considerNormalization: false)));
    }
}
