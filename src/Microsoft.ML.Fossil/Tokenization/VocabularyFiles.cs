using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>Reads Hugging Face tokenizer files and fingerprints vocabularies.</summary>
internal static class VocabularyFiles
{
    /// <summary>
    /// Reads a WordPiece <c>vocab.txt</c>: one token per line, id = zero-based line number, trailing
    /// whitespace (including the <c>\r</c> of CRLF files) trimmed, a later duplicate wins - as
    /// Hugging Face's <c>WordPiece::read_file</c> does.
    /// </summary>
    public static Dictionary<string, int> ReadWordPieceVocabulary(Stream stream, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string text;
        using (var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true))
            text = reader.ReadToEnd();

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        int id = 0, start = 0;
        while (start < text.Length)
        {
            int end = text.IndexOf('\n', start);
            if (end < 0) end = text.Length;
            vocabulary[text[start..end].TrimEnd()] = id++;
            start = end + 1;
        }
        if (vocabulary.Count == 0) throw new InvalidDataException($"{sourceForErrors} is empty.");
        return vocabulary;
    }

    /// <summary>Reads a BPE <c>vocab.json</c> (token to id).</summary>
    public static Dictionary<string, int> ReadBpeVocabulary(Stream stream, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Dictionary<string, int>? vocabulary;
        try
        {
            vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(stream);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceForErrors} is not a JSON object of token to id: {e.Message}", e);
        }
        if (vocabulary is null || vocabulary.Count == 0) throw new InvalidDataException($"{sourceForErrors} is empty.");
        var ordinal = new Dictionary<string, int>(vocabulary, StringComparer.Ordinal);
        foreach (var (token, id) in ordinal)
            if (id < 0) throw new InvalidDataException($"{sourceForErrors}: token '{token}' has negative id {id}.");
        return ordinal;
    }

    /// <summary>
    /// Reads BPE <c>merges.txt</c>: an optional <c>#version</c> line, then one "left right" pair per
    /// line in priority order; CRLF and blank lines are accepted.
    /// </summary>
    public static List<string> ReadMerges(Stream stream, string sourceForErrors)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var merges = new List<string>(50_000);
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ');
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                throw new InvalidDataException($"{sourceForErrors} line {lineNumber} is not a merge of two symbols separated by one space: '{line}'.");
            merges.Add(line);
        }
        return merges;
    }

    /// <summary>
    /// SHA-256 of the vocabulary as <c>id\ttoken\n</c> lines in id order (ties by token), then for BPE
    /// a <c>#merges\n</c> line and the merges, one per line; lower-case hex.
    /// </summary>
    public static string Fingerprint(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<string>? merges)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var builder = new StringBuilder();
        void Flush(bool force)
        {
            if (!force && builder.Length < 1 << 16) return;
            hash.AppendData(Encoding.UTF8.GetBytes(builder.ToString()));
            builder.Clear();
        }
        foreach (var (token, id) in vocabulary.OrderBy(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
        {
            builder.Append(id).Append('\t').Append(token).Append('\n');
            Flush(false);
        }
        if (merges is not null)
        {
            builder.Append("#merges\n");
            foreach (var merge in merges)
            {
                builder.Append(merge).Append('\n');
                Flush(false);
            }
        }
        Flush(true);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Id of a required special token; the message names the token and the file.</summary>
    public static int RequireToken(IReadOnlyDictionary<string, int> vocabulary, string token, string sourceForErrors) =>
        vocabulary.TryGetValue(token, out int id)
            ? id
            : throw new InvalidDataException($"{sourceForErrors} has no '{token}' token, which this encoder family needs.");
}
