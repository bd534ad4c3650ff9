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
internal sealed class OnnxTransformerCore : IDisposable
{
    int batchSize;
    bool disposed;

    /// <summary>Serves <paramref name="model"/> through an ONNX Runtime session created here (which checks the graph).</summary>
    /// <param name="model">The model.</param>
    /// <param name="columns">Columns read and written (the task and class names must be the model's).</param>
    /// <param name="batchSize">Rows per ONNX Runtime call in Transform.</param>
    /// <param name="where">Names the model in messages.</param>
    /// <param name="options">ONNX Runtime session settings; null for the defaults.</param>
    public OnnxTransformerCore(OnnxScoringModel model, ScoringColumns columns, int batchSize, string where, OnnxRuntimeNetworkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Task != model.Task || !columns.LabelNames.SequenceEqual(model.LabelNames, StringComparer.Ordinal))
            throw new InvalidDataException($"{where}: the columns describe a {columns.Task} model with classes [{string.Join(", ", columns.LabelNames)}], " +
                                           $"the ONNX model is a {model.Task} model with classes [{string.Join(", ", model.LabelNames)}].");
        Model = model;
        Columns = columns;
        BatchSize = batchSize;
        Scorer = model.CreateScorer(options ?? new OnnxRuntimeNetworkOptions(), where);
    }

    /// <summary>The model as a value.</summary>
    public OnnxScoringModel Model { get; }

    /// <summary>Tokenizer -> collation -> ONNX Runtime -> scorer.</summary>
    public TextScorer Scorer { get; }

    /// <summary>The columns read and written.</summary>
    public ScoringColumns Columns { get; }

    /// <summary>Rows per ONNX Runtime call in Transform.</summary>
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
    //   side streams: onnx-model.json (manifest: task, class names, tokenizer settings, every file with its SHA-256),
    //                 model.onnx, tokenizer.vocab.txt | tokenizer.vocab.json + tokenizer.merges.txt (docs/onnx.md)
    // </format>

    /// <summary>Writes the transformer: the columns, then the model's manifest and files (the same bytes it was loaded from).</summary>
    public void Save(ModelSaveContext ctx, FossilModelVersion version)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        FossilModelWriter writer = FossilModelWriter.Begin(ctx, version);
        writer.WriteString(Columns.Text1);
        writer.WriteStringOrNull(Columns.Text2);
        writer.WriteString(Columns.Score);
        writer.WriteString(Columns.PredictedLabel);
        writer.WriteInt32(BatchSize);
        Model.Write(writer.SaveBytesStream);
    }

    /// <summary>Reads what <see cref="Save"/> wrote, verifying every file against the manifest, and starts an ONNX Runtime session.</summary>
    /// <exception cref="InvalidDataException">A file is missing, damaged or replaced, or the graph or tokenizer do not fit the manifest.</exception>
    public static OnnxTransformerCore Load(FossilModelReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string where = $"The ONNX Runtime model in folder '{reader.Directory}' of the model zip";
        string text1 = reader.ReadString();
        string? text2 = reader.ReadStringOrNull();
        string score = reader.ReadString();
        string predictedLabel = reader.ReadString();
        int batchSize = reader.ReadInt32(1, 1 << 20);
        OnnxScoringModel model = OnnxScoringModel.Read(name => TryRead(reader, name), where);
        var columns = new ScoringColumns(text1, text2, score, predictedLabel, model.Task, model.LabelNames);
        return new OnnxTransformerCore(model, columns, batchSize, where);
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

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Scorer.Network.Dispose();
    }
}
