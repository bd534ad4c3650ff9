using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Models;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Native;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// What both public transformers are made of: the model as a value (<see cref="ModelDefinition"/>, what a save
/// writes), its running network behind a <see cref="TextScorer"/> (what Transform and PredictionEngine use), and the
/// columns it reads and writes. Saving reads only the definition, so it never touches the running network and can
/// run while other threads predict.
/// </summary>
internal sealed class FossilTransformerCore : ScoringTransformerCore
{
    readonly FineTunedNetwork network;

    public FossilTransformerCore(ModelDefinition definition, FineTunedNetwork network, ScoringColumns columns, int batchSize, bool embedBackbone)
        : base(new TextScorer(network.Tokenizer, new TorchScoringNetwork(network.Network, network.Device, ownsNetwork: false), definition.Task),
               columns, batchSize)
    {
        Definition = definition;
        this.network = network;
        EmbedBackbone = embedBackbone;
    }

    /// <summary>The running network (for tests and benchmarks; scoring goes through <see cref="ScoringTransformerCore.Scorer"/>).</summary>
    internal FineTunedNetwork Network => network;

    /// <summary>The model as a value.</summary>
    public ModelDefinition Definition { get; }

    /// <summary>Whether a save embeds the backbone's weights.</summary>
    public bool EmbedBackbone { get; set; }

    // <format>
    //   main stream:  the columns and batch size (ScoringTransformerCore)
    //   side streams: the compact model entries (docs/model-format.md): fossil.json, trained.safetensors,
    //                 and for a self-contained model backbone.safetensors + tokenizer.*
    // </format>

    /// <summary>Writes the transformer: reads the definition (and, to embed the backbone, the pretrained weights), writes nothing else.</summary>
    public void Save(ModelSaveContext ctx, FossilModelVersion version)
    {
        FossilModelWriter writer = BeginSave(ctx, version);
        CompactModelFormat.Write(new WriterEntryStore(writer), Definition, EmbedBackbone ? network.EmbeddedBackbone(Definition) : null);
    }

    /// <summary>
    /// Reads what <see cref="Save"/> wrote and builds the running network on the device <paramref name="env"/> asks
    /// for, finding the backbone with <paramref name="backbones"/>, adapters merged when <paramref name="mergeAdapters"/> is set,
    /// serving in <paramref name="precision"/> (resolved on that device; <paramref name="precisionOption"/> names it in errors).
    /// </summary>
    public static FossilTransformerCore Load(FossilModelReader reader, IHostEnvironment env, BackboneLoadSettings backbones, bool mergeAdapters,
        Precision precision, string precisionOption)
    {
        SavedColumns saved = ReadColumns(reader);
        var (definition, embedded) = CompactModelFormat.Read(new ReaderEntryStore(reader));
        using var channel = new FossilChannel(env, "FossilModelLoad");
        TorchSharp.torch.Device device = DeviceChoice.Resolve(env, channel, "the loaded model");
        TorchSharp.torch.ScalarType computeType = PrecisionSupport.Resolve(precision, device, precisionOption);
        if (precision == Precision.Auto)
            channel.Info($"Serving in {PrecisionSupport.Name(computeType)} ({precisionOption} = Auto: {PrecisionSupport.DescribeAuto(device)}).");
        FineTunedNetwork network = FineTunedNetwork.Load(definition, embedded, backbones, device, mergeAdapters, computeType);
        return new FossilTransformerCore(definition, network, saved.For(definition.Task, definition.LabelNames), saved.BatchSize,
            embedBackbone: embedded is not null);
    }

    /// <summary>Releases the network's native memory.</summary>
    protected override void DisposeOwned() => network.Dispose();

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
