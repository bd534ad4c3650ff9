using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Models;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// What both public transformers are made of: the model as a value (<see cref="ModelDefinition"/>, what a save
/// writes), its running network behind a <see cref="TextScorer"/> (what Transform and PredictionEngine use), and the
/// columns it reads and writes. Saving reads only the definition, so it never touches the running network and can
/// run while other threads predict.
/// </summary>
internal sealed class FossilTransformerCore : IDisposable
{
    readonly FineTunedNetwork network;
    int batchSize;
    bool disposed;

    public FossilTransformerCore(ModelDefinition definition, FineTunedNetwork network, ScoringColumns columns, int batchSize, bool embedBackbone)
    {
        Definition = definition;
        this.network = network;
        Columns = columns;
        BatchSize = batchSize;
        EmbedBackbone = embedBackbone;
        Scorer = new TextScorer(network.Tokenizer, new TorchScoringNetwork(network.Network, network.Device, ownsNetwork: false), definition.Task);
    }

    /// <summary>The running network (for tests and benchmarks; scoring goes through <see cref="Scorer"/>).</summary>
    internal FineTunedNetwork Network => network;

    /// <summary>The model as a value.</summary>
    public ModelDefinition Definition { get; }

    /// <summary>Tokenizer -> network -> scorer.</summary>
    public TextScorer Scorer { get; }

    /// <summary>The columns read and written.</summary>
    public ScoringColumns Columns { get; }

    /// <summary>Whether a save embeds the backbone's weights.</summary>
    public bool EmbedBackbone { get; set; }

    /// <summary>Rows per forward pass in Transform.</summary>
    public int BatchSize
    {
        get => batchSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            batchSize = value;
        }
    }

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new ScoringRowMapper(inputSchema, Scorer, Columns).OutputSchema;
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ObjectDisposedException.ThrowIf(disposed, this);
        return new ScoringRowMapper(inputSchema, Scorer, Columns);
    }

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ObjectDisposedException.ThrowIf(disposed, this);
        return new BatchedScoringDataView(input, Scorer, new ScoringRowMapper(input.Schema, Scorer, Columns), BatchSize);
    }

    // <format>
    //   main stream:  string Text1, string? Text2, string Score, string PredictedLabel, int BatchSize
    //   side streams: the compact model entries (docs/model-format.md): fossil.json, trained.safetensors,
    //                 and for a self-contained model backbone.safetensors + tokenizer.*
    // </format>

    /// <summary>Writes the transformer: reads the definition (and, to embed the backbone, the pretrained weights), writes nothing else.</summary>
    public void Save(ModelSaveContext ctx, FossilModelVersion version)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        FossilModelWriter writer = FossilModelWriter.Begin(ctx, version);
        writer.WriteString(Columns.Text1);
        writer.WriteStringOrNull(Columns.Text2);
        writer.WriteString(Columns.Score);
        writer.WriteString(Columns.PredictedLabel);
        writer.WriteInt32(BatchSize);
        CompactModelFormat.Write(new WriterEntryStore(writer), Definition, EmbedBackbone ? network.EmbeddedBackbone() : null);
    }

    /// <summary>
    /// Reads what <see cref="Save"/> wrote and builds the running network on the device <paramref name="env"/> asks
    /// for, finding the backbone with <paramref name="backbones"/>, adapters merged when <paramref name="mergeAdapters"/> is set.
    /// </summary>
    public static FossilTransformerCore Load(FossilModelReader reader, IHostEnvironment env, BackboneLoadSettings backbones, bool mergeAdapters)
    {
        string text1 = reader.ReadString();
        string? text2 = reader.ReadStringOrNull();
        string score = reader.ReadString();
        string predictedLabel = reader.ReadString();
        int batchSize = reader.ReadInt32(1, 1 << 20);
        var (definition, embedded) = CompactModelFormat.Read(new ReaderEntryStore(reader));
        using var channel = new FossilChannel(env, "FossilModelLoad");
        TorchSharp.torch.Device device = DeviceChoice.Resolve(env, channel, "the loaded model");
        FineTunedNetwork network = FineTunedNetwork.Load(definition, embedded, backbones, device, mergeAdapters);
        var columns = new ScoringColumns(text1, text2, score, predictedLabel, definition.Task, definition.LabelNames);
        return new FossilTransformerCore(definition, network, columns, batchSize, embedBackbone: embedded is not null);
    }

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Scorer.Network.Dispose();
        network.Dispose();
    }

    sealed class WriterEntryStore(FossilModelWriter writer) : IModelEntryStore
    {
        public void Write(string name, byte[] content) => writer.SaveBytesStream(name, content);
        public byte[]? Read(string name) => throw new NotSupportedException();
    }

    sealed class ReaderEntryStore(FossilModelReader reader) : IModelEntryStore
    {
        public void Write(string name, byte[] content) => throw new NotSupportedException();

        public byte[]? Read(string name)
        {
            byte[]? bytes = null;
            reader.TryLoadBinaryStream(name, r => bytes = ReadAll(r.BaseStream));
            return bytes;
        }

        static byte[] ReadAll(Stream stream)
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return buffer.ToArray();
        }
    }
}
