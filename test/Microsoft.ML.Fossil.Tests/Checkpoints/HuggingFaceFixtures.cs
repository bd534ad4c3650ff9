using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Checkpoints;

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("fossil-hf-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Sub(string name) => Directory.CreateDirectory(File(name)).FullName;

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Tiny Hugging Face folders written from randomly initialised, perturbed encoders.</summary>
internal static class HuggingFaceFixtures
{
    public static EncoderConfig TinyRoberta() => new()
    {
        ModelType = "roberta", VocabSize = 100, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4,
        IntermediateSize = 64, MaxPositionEmbeddings = 40, TypeVocabSize = 1, LayerNormEps = 1e-5, PadTokenId = 1,
    };

    public static EncoderConfig TinyBert() => new()
    {
        ModelType = "bert", VocabSize = 120, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4,
        IntermediateSize = 64, MaxPositionEmbeddings = 64, TypeVocabSize = 2, LayerNormEps = 1e-12, PadTokenId = 0,
    };

    /// <summary>
    /// A fresh encoder in eval mode whose every tensor is moved away from its initial value (LayerNorm
    /// ones, zero biases), so a tensor that is not loaded, or loaded into the wrong place, shows.
    /// </summary>
    public static EncoderModel PerturbedModel(EncoderConfig config, bool addPoolingLayer, long seed)
    {
        var model = new EncoderModel(config, addPoolingLayer);
        var generator = new Generator((ulong)seed);
        using (no_grad())
        {
            foreach (var (_, parameter) in model.named_parameters())
            {
                using Tensor noise = randn(parameter.shape, generator: generator) * 0.5;
                parameter.add_(noise);
            }
        }
        model.eval();
        return model;
    }

    /// <summary>The model's tensors under new names (same tensor objects; the model owns them).</summary>
    public static Dictionary<string, Tensor> StateDict(nn.Module model, string prefix = "") =>
        model.state_dict().ToDictionary(p => prefix + p.Key, p => p.Value);

    public static void WriteConfig(string folder, EncoderConfig config) =>
        System.IO.File.WriteAllText(System.IO.Path.Combine(folder, "config.json"), config.ToJson());

    public static void WriteSafetensors(string path, Dictionary<string, Tensor> tensors) =>
        Safetensors.SaveStateDict(path, tensors);

    public static void WritePyTorch(string path, Dictionary<string, Tensor> tensors) =>
        PyTorchPickler.PickleStateDict(path, tensors);

    /// <summary>Writes the tensors as shards, round-robin, plus a Hugging Face index with a weight_map.</summary>
    public static void WriteSharded(string folder, Dictionary<string, Tensor> tensors, int shards, bool safetensors)
    {
        string extension = safetensors ? "safetensors" : "bin";
        string stem = safetensors ? "model" : "pytorch_model";
        var parts = Enumerable.Range(0, shards).Select(_ => new Dictionary<string, Tensor>()).ToArray();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var (name, tensor) in tensors)
        {
            int shard = i++ % shards;
            parts[shard][name] = tensor;
            weightMap[name] = $"{stem}-{shard + 1:D5}-of-{shards:D5}.{extension}";
        }
        for (int s = 0; s < shards; s++)
        {
            string path = System.IO.Path.Combine(folder, $"{stem}-{s + 1:D5}-of-{shards:D5}.{extension}");
            if (safetensors) WriteSafetensors(path, parts[s]);
            else WritePyTorch(path, parts[s]);
        }
        long totalSize = tensors.Values.Sum(t => t.NumberOfElements * t.ElementSize);
        string index = JsonSerializer.Serialize(new { metadata = new { total_size = totalSize }, weight_map = weightMap });
        System.IO.File.WriteAllText(System.IO.Path.Combine(folder, $"{stem}.{extension}.index.json"), index);
    }

    /// <summary>
    /// Two sequences, the second padded with the family's pad id: ids [2, 7], token types [2, 7], mask [2, 7].
    /// </summary>
    public static (Tensor Ids, Tensor Types, Tensor Mask) Batch(EncoderConfig config)
    {
        long pad = config.PadTokenId;
        long[,] ids =
        {
            { 0, 11, 42, 17, 93, 5, 2 },
            { 0, 23, 8, 2, pad, pad, pad },
        };
        long[,] mask = { { 1, 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 0, 0, 0 } };
        long[,] types = config.TypeVocabSize > 1
            ? new long[,] { { 0, 0, 0, 1, 1, 1, 1 }, { 0, 0, 1, 1, 0, 0, 0 } }
            : new long[2, 7];
        return (tensor(ids), tensor(types), tensor(mask));
    }
}

/// <summary>
/// Writes pickle protocol 2 opcodes by hand, as <c>torch.save</c> does (its default protocol is 2),
/// so tests can build both ordinary and hostile <c>data.pkl</c> streams.
/// </summary>
internal sealed class PickleWriter
{
    readonly MemoryStream bytes = new();

    public PickleWriter() => Op(0x80, 0x02); // PROTO 2

    public PickleWriter Op(params byte[] raw)
    {
        bytes.Write(raw);
        return this;
    }

    public PickleWriter Global(string module, string name) => Op((byte)'c').Op(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));
    public PickleWriter Text(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        Op((byte)'X').Op(BitConverter.GetBytes(utf8.Length));
        return Op(utf8);
    }
    public PickleWriter Int(int value) => Op((byte)'J').Op(BitConverter.GetBytes(value));
    public PickleWriter Mark() => Op((byte)'(');
    public PickleWriter Tuple() => Op((byte)'t');
    public PickleWriter EmptyTuple() => Op((byte)')');
    public PickleWriter Tuple1() => Op(0x85);
    public PickleWriter Tuple2() => Op(0x86);
    public PickleWriter EmptyDict() => Op((byte)'}');
    public PickleWriter EmptyList() => Op((byte)']');
    public PickleWriter SetItems() => Op((byte)'u');
    public PickleWriter Reduce() => Op((byte)'R');
    public PickleWriter Build() => Op((byte)'b');
    public PickleWriter NewFalse() => Op(0x89);
    public PickleWriter BinPersId() => Op((byte)'Q');
    public PickleWriter IntTuple(long[] values)
    {
        Mark();
        foreach (long value in values) Int(checked((int)value));
        return Tuple();
    }

    /// <summary>
    /// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()),
    /// the storage being persistent id ('storage', torch.FloatStorage, key, 'cpu', numel).
    /// </summary>
    public PickleWriter FloatTensor(string storageKey, long[] shape)
    {
        long[] stride = new long[shape.Length];
        long step = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            stride[d] = step;
            step *= shape[d];
        }
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark().Text("storage").Global("torch", "FloatStorage").Text(storageKey).Text("cpu").Int((int)step).Tuple().BinPersId();
        Int(0).IntTuple(shape).IntTuple(stride).NewFalse();
        Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return Tuple().Reduce();
    }

    public byte[] Stop()
    {
        bytes.WriteByte((byte)'.');
        return bytes.ToArray();
    }

    /// <summary>The zip layout of <c>torch.save</c>: archive/data.pkl, archive/version, archive/data/KEY.</summary>
    public static void WriteTorchZip(string path, byte[] dataPkl, IReadOnlyDictionary<string, byte[]> storages)
    {
        using var archive = ZipFile.Open(path, ZipArchiveMode.Create);
        void Entry(string name, byte[] content)
        {
            using Stream stream = archive.CreateEntry(name, CompressionLevel.NoCompression).Open();
            stream.Write(content);
        }
        Entry("archive/data.pkl", dataPkl);
        Entry("archive/version", "3\n"u8.ToArray());
        foreach (var (key, content) in storages) Entry($"archive/data/{key}", content);
    }

    public static byte[] FloatBytes(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
}
