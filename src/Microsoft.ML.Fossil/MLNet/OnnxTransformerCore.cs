using Microsoft.ML.Data;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Scoring;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// What the ONNX Runtime transformer is made of: the model as a value (<see cref="OnnxScoringModel"/>: graph, tokenizer
/// files and settings, task, class names: what a save writes), the serving stages over it (tokenizer -> collation ->
/// ONNX Runtime -> scorer, a <see cref="TextScorer"/>) and the columns, which are those of the Fossil transformer it was
/// exported from. Uses the same row mapper and batched data view as the TorchSharp transformers. Touches no TorchSharp
/// type: an application without libtorch loads, scores and saves it.
/// </summary>
internal sealed class OnnxTransformerCore : ScoringTransformerCore
{
    /// <summary>Serves <paramref name="model"/> through an ONNX Runtime session created here (which checks the graph).</summary>
    /// <param name="model">The model.</param>
    /// <param name="columns">Columns read and written (the task and class names must be the model's).</param>
    /// <param name="batchSize">Rows per ONNX Runtime call in Transform.</param>
    /// <param name="where">Names the model in messages.</param>
    /// <param name="options">ONNX Runtime session settings; null for the defaults.</param>
    public OnnxTransformerCore(OnnxScoringModel model, ScoringColumns columns, int batchSize, string where, OnnxRuntimeNetworkOptions? options = null)
        : base(Session(model, columns, where, options), columns, batchSize)
    {
        Model = model;
    }

    /// <summary>The columns checked against the model, then its scorer over a new ONNX Runtime session.</summary>
    static TextScorer Session(OnnxScoringModel model, ScoringColumns columns, string where, OnnxRuntimeNetworkOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Task != model.Task || !columns.LabelNames.SequenceEqual(model.LabelNames, StringComparer.Ordinal))
            throw new InvalidDataException($"{where}: the columns describe a {columns.Task} model with classes [{string.Join(", ", columns.LabelNames)}], " +
                                           $"the ONNX model is a {model.Task} model with classes [{string.Join(", ", model.LabelNames)}].");
        return model.CreateScorer(options ?? new OnnxRuntimeNetworkOptions(), where);
    }

    /// <summary>The model as a value.</summary>
    public OnnxScoringModel Model { get; }

    // <format>
    //   main stream:  the columns and batch size (ScoringTransformerCore)
    //   side streams: onnx-model.json (manifest: task, class names, tokenizer settings, every file with its SHA-256),
    //                 model.onnx, tokenizer.vocab.txt | tokenizer.vocab.json + tokenizer.merges.txt (docs/onnx.md)
    // </format>

    /// <summary>Writes the transformer: the columns, then the model's manifest and files (the same bytes it was loaded from).</summary>
    public void Save(ModelSaveContext ctx, FossilModelVersion version) => Model.Write(BeginSave(ctx, version).SaveBytesStream);

    /// <summary>Reads what <see cref="Save"/> wrote, verifying every file against the manifest, and starts an ONNX Runtime session.</summary>
    /// <exception cref="InvalidDataException">A file is missing, damaged or replaced, or the graph or tokenizer do not fit the manifest.</exception>
    public static OnnxTransformerCore Load(FossilModelReader reader, OnnxRuntimeNetworkOptions options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(options);
        string where = $"The ONNX Runtime model in folder '{reader.Directory}' of the model zip";
        SavedColumns saved = ReadColumns(reader);
        OnnxScoringModel model = OnnxScoringModel.Read(name => TryRead(reader, name), where);
        return new OnnxTransformerCore(model, saved.For(model.Task, model.LabelNames), saved.BatchSize, where, options);
    }

    static byte[]? TryRead(FossilModelReader reader, string name)
    {
        byte[]? bytes = null;
        reader.TryLoadBinaryStream(name, r =>
        {
            // One array of the entry's size when the stream knows it (the ONNX graph is tens of MB).
            Stream stream = r.BaseStream;
            if (stream.CanSeek)
            {
                long length = stream.Length - stream.Position;
                if (length > Array.MaxLength) throw new InvalidDataException($"The model entry '{name}' is {length} bytes, more than one array holds.");
                bytes = new byte[length];
                stream.ReadExactly(bytes);
                return;
            }
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            bytes = buffer.ToArray();
        });
        return bytes;
    }
}
