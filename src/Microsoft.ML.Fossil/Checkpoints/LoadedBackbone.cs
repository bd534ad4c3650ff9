using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>A backbone ready to use: the encoder with pretrained weights, its identity and the matching tokenizer files.</summary>
internal sealed class LoadedBackbone(EncoderModel encoder, BackboneIdentity identity, IReadOnlyDictionary<string, byte[]> tokenizerFiles,
    bool lowerCase, HeadKind preferredHead = HeadKind.Default)
{
    /// <summary>Tokenizer file names a backbone may carry (and a self-contained model embeds).</summary>
    public static readonly string[] TokenizerFileNames = ["vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json"];

    /// <summary>
    /// The head that suits the backbone's pretraining: mean pooling for sentence-transformers models
    /// (trained to be mean-pooled), the family's Hugging Face head otherwise.
    /// </summary>
    public HeadKind PreferredHead { get; } = preferredHead;

    /// <summary>The encoder with pretrained weights.</summary>
    public EncoderModel Encoder { get; } = encoder;

    /// <summary>Where it came from and the hash of its weights.</summary>
    public BackboneIdentity Identity { get; } = identity;

    /// <summary>Tokenizer files by name (vocab.txt, or vocab.json + merges.txt, ...).</summary>
    public IReadOnlyDictionary<string, byte[]> TokenizerFiles { get; } = tokenizerFiles;

    /// <summary>BERT: whether text is lower-cased before WordPiece.</summary>
    public bool LowerCase { get; } = lowerCase;

    /// <summary>Builds the backbone's tokenizer for rows of at most <paramref name="maxLength"/> tokens.</summary>
    public TextTokenizer CreateTokenizer(int maxLength) => CreateTokenizer(Encoder.Config, TokenizerFiles, LowerCase, maxLength);

    /// <summary>The tokenizer of a backbone with <paramref name="config"/> and tokenizer <paramref name="files"/>.</summary>
    public static TextTokenizer CreateTokenizer(EncoderConfig config, IReadOnlyDictionary<string, byte[]> files, bool lowerCase, int maxLength)
    {
        if (maxLength > config.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength,
                $"The maximum sequence length {maxLength} exceeds the backbone's {config.MaxSequenceLength} positions.");
        if (config.Family == EncoderFamily.Roberta)
        {
            if (!files.TryGetValue("vocab.json", out byte[]? vocab) || !files.TryGetValue("merges.txt", out byte[]? merges))
                throw new FileNotFoundException("A RoBERTa backbone needs vocab.json and merges.txt tokenizer files.");
            return TextTokenizer.ForRoberta(new MemoryStream(vocab), new MemoryStream(merges), maxLength);
        }
        if (!files.TryGetValue("vocab.txt", out byte[]? wordPieces))
            throw new FileNotFoundException("A BERT backbone needs a vocab.txt tokenizer file.");
        return TextTokenizer.ForBert(new MemoryStream(wordPieces), lowerCase, maxLength);
    }
}
