using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tests.Checkpoints;
using Microsoft.ML.Fossil.Tests.Tokenization;
using Microsoft.ML.Fossil.Tokenization;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxTestSupport;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// The export folder: model.onnx, a Hugging Face config.json with the classification fields, the tokenizer
/// files; written so that failures and cancellation leave no half-written content.
/// </summary>
public sealed class OnnxExportFolderTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static byte[] MiniLmVocab()
    {
        using Stream stream = TestAssets.OpenMiniLmResource("vocab.txt");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    static JsonObject Json(string path) => (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;

    static string[] Listing(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public void Bert_classifier_folder_holds_the_model_the_config_and_the_tokenizer_files()
    {
        byte[] vocab = MiniLmVocab();
        Assert.Contains((byte)'\r', vocab);   // the package's CRLF file
        TextTokenizer encoder = TextTokenizer.ForBert(new MemoryStream(vocab), lowerCase: true, maxLength: 32);
        EncoderConfig config = HuggingFaceFixtures.TinyBert();
        using var network = new SequenceClassifier(HuggingFaceFixtures.PerturbedModel(config, addPoolingLayer: true, seed: 8), 3, HeadKind.Default);
        string[] labels = ["negative", "neutral", "positive"];
        string target = Path.Combine(temp.Path, "export");

        OnnxClassifierExporter.ExportFolder(target, network, regression: false, labels, encoder.Settings, new Dictionary<string, byte[]> { ["vocab.txt"] = vocab });

        Assert.Equal(["config.json", "model.onnx", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"], Listing(target));
        Assert.Equal(["export"], Listing(temp.Path));   // no staging folder left beside it

        JsonObject json = Json(Path.Combine(target, "config.json"));
        Assert.Equal("BertForSequenceClassification", json["architectures"]![0]!.GetValue<string>());
        Assert.Equal("single_label_classification", json["problem_type"]!.GetValue<string>());
        Assert.Equal(3, json["num_labels"]!.GetValue<int>());
        Assert.Equal("positive", json["id2label"]!["2"]!.GetValue<string>());
        Assert.Equal(1, json["label2id"]!["neutral"]!.GetValue<int>());
        Assert.Equal("bert_pooler", json["fossil_head"]!.GetValue<string>());
        // The backbone's own fields round-trip.
        Assert.Equal(config.ToJson(), EncoderConfig.Load(Path.Combine(target, "config.json")).ToJson());

        string writtenVocab = File.ReadAllText(Path.Combine(target, "vocab.txt"));
        Assert.DoesNotContain('\r', writtenVocab);
        Assert.Equal(Encoding.UTF8.GetString(vocab).Split("\r\n"), writtenVocab.Split('\n'));
        JsonObject tokenizerConfig = Json(Path.Combine(target, "tokenizer_config.json"));
        Assert.Equal("BertTokenizer", tokenizerConfig["tokenizer_class"]!.GetValue<string>());
        Assert.True(tokenizerConfig["do_lower_case"]!.GetValue<bool>());
        Assert.Equal(32, tokenizerConfig["model_max_length"]!.GetValue<int>());
        JsonObject special = Json(Path.Combine(target, "special_tokens_map.json"));
        Assert.Equal("[CLS]", special["cls_token"]!.GetValue<string>());
        Assert.Equal("[PAD]", special["pad_token"]!.GetValue<string>());
        Assert.Equal("[MASK]", special["mask_token"]!.GetValue<string>());

        using var onnx = OnnxRuntimeNetwork.Load(Path.Combine(target, OnnxExportFolder.ModelFileName), new OnnxRuntimeNetworkOptions { IntraOpThreads = 1, ExpectedLabels = 3 });
        Collated batch = Collate([[2, 17, 44, 3], [2, 9, 3]], [[0, 0, 1, 1], [0, 0, 0]], 0);
        Assert.True(MaxAbsDiff(TorchLogits(network, batch), onnx.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length)) <= 1e-4f);
    }

    [Fact]
    public void Roberta_regression_folder_copies_the_bpe_files_and_says_regression()
    {
        var files = new Dictionary<string, byte[]>
        {
            ["vocab.json"] = Encoding.UTF8.GetBytes(TokenizationData.Roberta.Value.VocabJson),
            ["merges.txt"] = Encoding.UTF8.GetBytes(TokenizationData.Roberta.Value.MergesTxt),
            ["tokenizer_config.json"] = """{"add_prefix_space": false, "model_max_length": 512, "errors": "replace"}"""u8.ToArray(),
        };
        TextTokenizer encoder = TextTokenizer.ForRoberta(new MemoryStream(files["vocab.json"]), new MemoryStream(files["merges.txt"]), 40);
        EncoderConfig config = HuggingFaceFixtures.TinyRoberta();
        using var network = new SequenceClassifier(HuggingFaceFixtures.PerturbedModel(config, addPoolingLayer: false, seed: 9), 1, HeadKind.Default);
        string target = temp.Sub("existing");   // an existing folder: file-by-file replacement
        File.WriteAllText(Path.Combine(target, "model.onnx"), "old");

        OnnxClassifierExporter.ExportFolder(target, network, regression: true, [], encoder.Settings, files);

        Assert.Equal(["config.json", "merges.txt", "model.onnx", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"], Listing(target));
        Assert.Equal(files["vocab.json"], File.ReadAllBytes(Path.Combine(target, "vocab.json")));
        Assert.Equal(files["merges.txt"], File.ReadAllBytes(Path.Combine(target, "merges.txt")));
        JsonObject json = Json(Path.Combine(target, "config.json"));
        Assert.Equal("RobertaForSequenceClassification", json["architectures"]![0]!.GetValue<string>());
        Assert.Equal("regression", json["problem_type"]!.GetValue<string>());
        Assert.Equal(1, json["num_labels"]!.GetValue<int>());
        Assert.Equal("roberta_head", json["fossil_head"]!.GetValue<string>());
        JsonObject tokenizerConfig = Json(Path.Combine(target, "tokenizer_config.json"));
        Assert.Equal("replace", tokenizerConfig["errors"]!.GetValue<string>());            // the backbone's own fields stay
        Assert.Equal(40, tokenizerConfig["model_max_length"]!.GetValue<int>());            // the length the model was trained with
        Assert.Equal("RobertaTokenizer", tokenizerConfig["tokenizer_class"]!.GetValue<string>());
        JsonObject special = Json(Path.Combine(target, "special_tokens_map.json"));
        Assert.Equal("<s>", special["bos_token"]!.GetValue<string>());
        Assert.Equal("</s>", special["eos_token"]!.GetValue<string>());
        Assert.Equal("<pad>", special["pad_token"]!.GetValue<string>());

        using var onnx = OnnxRuntimeNetwork.Load(Path.Combine(target, "model.onnx"), new OnnxRuntimeNetworkOptions { IntraOpThreads = 1, ExpectedLabels = 1 });
        Assert.False(onnx.UsesTokenTypeIds);
    }

    static OnnxFolderFile Text(string name, string content) => new(name, s => s.Write(Encoding.UTF8.GetBytes(content)));

    [Fact]
    public void A_failure_while_writing_a_new_folder_leaves_no_folder()
    {
        string target = Path.Combine(temp.Path, "new");
        OnnxFolderFile[] files = [Text("a.txt", "A"), new("b.txt", s => { s.Write("half"u8); throw new IOException("disk full (simulated)"); }), Text("c.txt", "C")];
        Assert.Equal("disk full (simulated)", Assert.Throws<IOException>(() => OnnxExportFolder.Write(target, files)).Message);
        Assert.Empty(Listing(temp.Path));
    }

    [Fact]
    public void A_failure_or_cancellation_in_an_existing_folder_leaves_the_old_files_untouched()
    {
        string target = temp.Sub("existing");
        File.WriteAllText(Path.Combine(target, "a.txt"), "old A");
        File.WriteAllText(Path.Combine(target, "b.txt"), "old B");
        OnnxFolderFile[] failing = [Text("a.txt", "new A"), new("b.txt", s => { s.Write("half"u8); throw new IOException("disk full (simulated)"); })];
        Assert.Throws<IOException>(() => OnnxExportFolder.Write(target, failing));
        Assert.Equal(["a.txt", "b.txt"], Listing(target));
        Assert.Equal("old A", File.ReadAllText(Path.Combine(target, "a.txt")));
        Assert.Equal("old B", File.ReadAllText(Path.Combine(target, "b.txt")));

        using var cancellation = new CancellationTokenSource();
        OnnxFolderFile[] cancelled = [Text("a.txt", "new A"), new("b.txt", s => { s.Write("new B"u8); cancellation.Cancel(); }), Text("c.txt", "C")];
        Assert.ThrowsAny<OperationCanceledException>(() => OnnxExportFolder.Write(target, cancelled, cancellation.Token));
        Assert.Equal(["a.txt", "b.txt"], Listing(target));
        Assert.Equal("old A", File.ReadAllText(Path.Combine(target, "a.txt")));

        OnnxExportFolder.Write(target, [Text("a.txt", "new A"), Text("c.txt", "C")]);
        Assert.Equal(["a.txt", "b.txt", "c.txt"], Listing(target));
        Assert.Equal("new A", File.ReadAllText(Path.Combine(target, "a.txt")));
    }

    [Fact]
    public void Unusable_targets_and_inconsistent_labels_are_refused()
    {
        string file = temp.File("a-file");
        File.WriteAllText(file, "x");
        Assert.Contains(file, Assert.Throws<IOException>(() => OnnxExportFolder.Write(file, [Text("a.txt", "A")])).Message);
        string orphan = Path.Combine(temp.Path, "no-such-parent", "export");
        Assert.Contains("does not exist", Assert.Throws<DirectoryNotFoundException>(() => OnnxExportFolder.Write(orphan, [Text("a.txt", "A")])).Message);
        Assert.Throws<ArgumentException>(() => OnnxExportFolder.Write(temp.Path, [Text("../escape.txt", "A")]));

        using var network = new SequenceClassifier(HuggingFaceFixtures.PerturbedModel(HuggingFaceFixtures.TinyBert(), addPoolingLayer: false, seed: 1), 3, HeadKind.MeanPooling);
        TextTokenizer encoder = TextTokenizer.ForBert(new MemoryStream(MiniLmVocab()), lowerCase: true, maxLength: 16);
        var vocab = new Dictionary<string, byte[]> { ["vocab.txt"] = MiniLmVocab() };
        Assert.Contains("3 outputs but 2 class names", Assert.Throws<ArgumentException>(() =>
            OnnxClassifierExporter.ExportFolder(temp.File("x"), network, false, ["a", "b"], encoder.Settings, vocab)).Message);
        Assert.Contains("regression model has one output", Assert.Throws<ArgumentException>(() =>
            OnnxClassifierExporter.ExportFolder(temp.File("x"), network, true, [], encoder.Settings, vocab)).Message);
        Assert.Contains("appears twice", Assert.Throws<ArgumentException>(() =>
            OnnxClassifierExporter.ExportFolder(temp.File("x"), network, false, ["a", "b", "a"], encoder.Settings, vocab)).Message);
        Assert.Contains("lack 'vocab.txt'", Assert.Throws<InvalidOperationException>(() =>
            OnnxClassifierExporter.ExportFolder(temp.File("x"), network, false, ["a", "b", "c"], encoder.Settings, new Dictionary<string, byte[]>())).Message);
        Assert.False(Directory.Exists(temp.File("x")));
    }
}
