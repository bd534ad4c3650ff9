using System.Globalization;
using System.Text.Json;

namespace Microsoft.ML.Fossil.TestShared;

/// <summary>
/// roberta-base's Hugging Face vocab.json and merges.txt, derived from the GPT-2 files embedded in
/// Microsoft.ML.TorchSharp the way fairseq defined them: the id of a BPE token is 4 + the line of its
/// GPT-2 id in dict.txt; 0-3 are &lt;s&gt;, &lt;pad&gt;, &lt;/s&gt;, &lt;unk&gt;; &lt;mask&gt; follows the dictionary.
/// merges.txt is GPT-2's vocab.bpe. Shared by the tests and the benchmarks (linked into both).
/// </summary>
internal static class RobertaBaseTokenizerFiles
{
    /// <summary>Derives the files; <paramref name="openResource"/> opens encoder.json, dict.txt and vocab.bpe.</summary>
    public static (string VocabJson, string MergesTxt, Dictionary<string, int> Vocabulary) Derive(Func<string, Stream> openResource)
    {
        Dictionary<string, int> gpt2;
        using (Stream encoder = openResource("encoder.json"))
            gpt2 = JsonSerializer.Deserialize<Dictionary<string, int>>(encoder)!;
        string[] dict;
        using (var reader = new StreamReader(openResource("dict.txt")))
            dict = [.. reader.ReadToEnd().Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0)];
        string mergesTxt;
        using (var reader = new StreamReader(openResource("vocab.bpe")))
            mergesTxt = reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);

        var lineOfSymbol = new Dictionary<string, int>();
        for (int i = 0; i < dict.Length; i++) lineOfSymbol[dict[i].Split(' ')[0]] = i;
        var vocabulary = new Dictionary<string, int> { ["<s>"] = 0, ["<pad>"] = 1, ["</s>"] = 2, ["<unk>"] = 3 };
        foreach (var (token, gptId) in gpt2) vocabulary[token] = 4 + lineOfSymbol[gptId.ToString(CultureInfo.InvariantCulture)];
        foreach (var (symbol, line) in lineOfSymbol)
            if (!symbol.All(char.IsAsciiDigit)) vocabulary[symbol] = 4 + line;   // madeupword0000..0002
        vocabulary["<mask>"] = 4 + dict.Length;
        return (JsonSerializer.Serialize(vocabulary), mergesTxt, vocabulary);
    }
}
