using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Training;

namespace Microsoft.ML.Fossil;

/// <summary>
/// A fitted FOSSIL (or LoRA / fully fine-tuned) text model as an ML.NET transformer. Appends
/// <c>Score</c> (class probabilities with the class names as slot names, or the similarity value)
/// and, for classification, <c>PredictedLabel</c> (a key over the training labels). Saves with
/// <c>mlContext.Model.Save</c> as a compact model (adapters and head; the frozen backbone is
/// referenced by source and SHA-256) and loads with <c>mlContext.Model.Load</c>.
/// </summary>
public sealed class FossilTextClassificationTransformer : ITransformer, IDisposable
{
    internal const string LoaderSignature = "FossilTextTransformer";
    internal static readonly FossilModelVersion Version = new(
        modelSignature: "FOSSILTX",
        verWrittenCur: 0x00010001, // 1.1: compact model format 1
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature);

    readonly ScoringColumns columns;
    bool disposed;

    internal FossilTextClassificationTransformer(FineTunedModel model, ScoringColumns columns, bool embedBackbone, int batchSize)
    {
        Model = model;
        this.columns = columns;
        EmbedBackbone = embedBackbone;
        BatchSize = batchSize;
    }

    /// <summary>The fine-tuned network, tokenizer and labels (training summary included).</summary>
    public FineTunedModel Model { get; }

    /// <summary>Whether <c>Save</c> embeds the backbone's weights (a self-contained, larger file).</summary>
    public bool EmbedBackbone { get; set; }

    /// <summary>Rows per forward pass in <see cref="Transform"/>.</summary>
    public int BatchSize { get; set; }

    /// <summary>The sentence column.</summary>
    public string SentenceColumnName => columns.Text1;

    /// <summary>The second sentence column of pair tasks, or null.</summary>
    public string? Sentence2ColumnName => columns.Text2;

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return new ScoringRowMapper(inputSchema, Model, columns).OutputSchema;
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ObjectDisposedException.ThrowIf(disposed, this);
        return new ScoringRowMapper(inputSchema, Model, columns);
    }

    /// <summary>Scores <paramref name="input"/> lazily, in batches of <see cref="BatchSize"/> rows under inference mode.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ObjectDisposedException.ThrowIf(disposed, this);
        return new BatchedScoringDataView(input, Model, new ScoringRowMapper(input.Schema, Model, columns), BatchSize);
    }

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        // <format>
        //   main stream:  string Text1, string? Text2, string Score, string PredictedLabel, int BatchSize
        //   side streams: the compact model entries (docs/model-format.md): fossil.json,
        //                 trained.safetensors, and with EmbedBackbone backbone.safetensors + tokenizer.*
        // </format>
        FossilModelWriter writer = FossilModelWriter.Begin(ctx, Version);
        writer.WriteString(columns.Text1);
        writer.WriteStringOrNull(columns.Text2);
        writer.WriteString(columns.Score);
        writer.WriteString(columns.PredictedLabel);
        writer.WriteInt32(BatchSize);
        Model.Save(new WriterEntryStore(writer), EmbedBackbone);
    }

    internal static FossilTextClassificationTransformer Load(FossilModelReader reader)
    {
        string text1 = reader.ReadString();
        string? text2 = reader.ReadStringOrNull();
        string score = reader.ReadString();
        string predictedLabel = reader.ReadString();
        int batchSize = reader.ReadInt32(1, 1 << 20);
        FineTunedModel model = FineTunedModel.Load(new ReaderEntryStore(reader));
        var columns = new ScoringColumns(text1, text2, score, predictedLabel, model.Task, model.LabelNames);
        return new FossilTextClassificationTransformer(model, columns, embedBackbone: false, batchSize);
    }

    /// <summary>Releases the network's native memory.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Model.Dispose();
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
