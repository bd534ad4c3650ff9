namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// Builds the tokenizer a model recorded (its <see cref="TokenizerSettings"/>) from its tokenizer files alone, without
/// a backbone: what a model that carries its own tokenizer files (an ONNX Runtime model) serves with. The files must
/// give exactly the recorded settings (family, casing, special tokens, vocabulary hash), else they are refused.
/// </summary>
internal static class RecordedTokenizer
{
    /// <summary>The tokenizer files a family needs: <c>vocab.txt</c> (BERT WordPiece) or <c>vocab.json</c> + <c>merges.txt</c> (RoBERTa BPE).</summary>
    public static IReadOnlyList<string> FileNames(TokenizerFamily family) =>
        family == TokenizerFamily.Roberta ? ["vocab.json", "merges.txt"] : ["vocab.txt"];

    /// <summary>
    /// The tokenizer of <paramref name="settings"/> over <paramref name="files"/> (by file name, see <see cref="FileNames"/>).
    /// </summary>
    /// <param name="settings">What the model recorded.</param>
    /// <param name="files">The tokenizer files by name.</param>
    /// <param name="where">Names the model in messages (e.g. <c>the ONNX Runtime model 'x.zip'</c>).</param>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or the files give other settings than recorded; the message names the field, the recorded and the found value.</exception>
    public static TextTokenizer Create(TokenizerSettings settings, IReadOnlyDictionary<string, byte[]> files, string where)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(files);
        settings.Validate();
        foreach (string name in FileNames(settings.Family))
            if (!files.ContainsKey(name))
                throw new InvalidDataException($"{where} has no tokenizer file '{name}', which its {settings.Family.ToString().ToLowerInvariant()} tokenizer needs.");
        TextTokenizer tokenizer = settings.Family == TokenizerFamily.Roberta
            ? RobertaTextTokenizer.Create(new MemoryStream(files["vocab.json"], writable: false), new MemoryStream(files["merges.txt"], writable: false),
                settings.MaxLength, "vocab.json", "merges.txt")
            : BertTextTokenizer.Create(new MemoryStream(files["vocab.txt"], writable: false), settings.LowerCase, settings.StripAccents, settings.MaxLength, "vocab.txt");
        if (tokenizer.Settings != settings)
            throw new InvalidDataException($"{where}: its tokenizer files give other tokenizer settings than the model recorded ({Differences(settings, tokenizer.Settings)}).");
        return tokenizer;
    }

    /// <summary>The fields that differ, as <c>name: recorded X, files give Y</c>.</summary>
    static string Differences(TokenizerSettings recorded, TokenizerSettings found)
    {
        var differences = new List<string>();
        void Compare<T>(string name, T a, T b)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b)) differences.Add($"{name}: recorded {a?.ToString() ?? "none"}, the files give {b?.ToString() ?? "none"}");
        }
        Compare("vocabulary_sha256", recorded.VocabularySha256, found.VocabularySha256);
        Compare("vocab_size", recorded.VocabSize, found.VocabSize);
        Compare("family", recorded.Family, found.Family);
        Compare("lower_case", recorded.LowerCase, found.LowerCase);
        Compare("strip_accents", recorded.StripAccents, found.StripAccents);
        Compare("max_length", recorded.MaxLength, found.MaxLength);
        Compare("cls_token", $"{recorded.ClsToken}={recorded.ClsTokenId}", $"{found.ClsToken}={found.ClsTokenId}");
        Compare("sep_token", $"{recorded.SepToken}={recorded.SepTokenId}", $"{found.SepToken}={found.SepTokenId}");
        Compare("pad_token", $"{recorded.PadToken}={recorded.PadTokenId}", $"{found.PadToken}={found.PadTokenId}");
        Compare("unk_token", $"{recorded.UnkToken}={recorded.UnkTokenId}", $"{found.UnkToken}={found.UnkTokenId}");
        Compare("mask_token", $"{recorded.MaskToken}={recorded.MaskTokenId}", $"{found.MaskToken}={found.MaskTokenId}");
        return differences.Count > 0 ? string.Join("; ", differences) : "format_version";
    }
}
