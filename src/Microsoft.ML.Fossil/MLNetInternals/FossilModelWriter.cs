namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// Writes one Fossil component into an ML.NET model: the component's main stream (small fields,
/// strings through ML.NET's string table) and any number of named side streams (weights, JSON,
/// vocabularies) next to it in the model zip. Wraps the internal members of ML.NET's
/// <see cref="ModelSaveContext"/>; its own members use public types only.
/// </summary>
/// <example>
/// <code>
/// void ICanSaveModel.Save(ModelSaveContext ctx)
/// {
///     var writer = FossilModelWriter.Begin(ctx, Version);
///     writer.WriteString(_inputColumnName);
///     writer.WriteStrings(_labelNames);
///     writer.SaveBinaryStream("Weights.bin", w => _module.save(w));
/// }
/// </code>
/// </example>
internal sealed class FossilModelWriter
{
    readonly ModelSaveContext _ctx;

    FossilModelWriter(ModelSaveContext ctx) => _ctx = ctx;

    /// <summary>
    /// Starts writing: checks that nothing was written to the main stream yet and records
    /// <paramref name="version"/> (signature, format version, loader signature and the simple
    /// loader assembly name) in the stream's header. Call it first in <c>ICanSaveModel.Save</c>;
    /// ML.NET finishes the stream (<c>Done</c>) after <c>Save</c> returns.
    /// </summary>
    /// <param name="ctx">The context ML.NET passes to <c>ICanSaveModel.Save</c>.</param>
    /// <param name="version">The component's identity and format version.</param>
    public static FossilModelWriter Begin(ModelSaveContext ctx, FossilModelVersion version)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(version);
        ctx.CheckAtModel();
        ctx.SetVersionInfo(version.ToVersionInfo());
        return new FossilModelWriter(ctx);
    }

    /// <summary>
    /// True when saving into a model repository (a zip, as <c>mlContext.Model.Save</c> does); false
    /// for single-stream saving, where side streams are not available.
    /// </summary>
    public bool InRepository => _ctx.InRepository;

    /// <summary>The main stream, for primitive values (<c>Write(int)</c>, <c>Write(float)</c>, ...).</summary>
    public BinaryWriter Writer => _ctx.Writer;

    /// <summary>Writes an <see cref="int"/> to the main stream.</summary>
    /// <param name="value">The value.</param>
    public void WriteInt32(int value) => _ctx.Writer.Write(value);

    /// <summary>Writes a non-null string (as an id into ML.NET's string table).</summary>
    /// <param name="value">The string; may be empty.</param>
    public void WriteString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _ctx.SaveString(value);
    }

    /// <summary>Writes a string that may be null.</summary>
    /// <param name="value">The string or null.</param>
    public void WriteStringOrNull(string? value) => _ctx.SaveStringOrNull(value);

    /// <summary>Writes a count followed by each (non-null) string.</summary>
    /// <param name="values">The strings.</param>
    public void WriteStrings(IReadOnlyList<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _ctx.Writer.Write(values.Count);
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is null) throw new ArgumentException($"Element {i} is null.", nameof(values));
            _ctx.SaveString(values[i]);
        }
    }

    /// <summary>Writes a length-prefixed byte array into the main stream (keep it small; use a side stream for weights).</summary>
    /// <param name="bytes">The bytes.</param>
    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        _ctx.Writer.Write(bytes.Length);
        _ctx.Writer.Write(bytes);
    }

    /// <summary>
    /// Writes a named side stream in the component's folder of the model repository, through a
    /// <see cref="BinaryWriter"/> (UTF-8 strings). Requires <see cref="InRepository"/>.
    /// </summary>
    /// <param name="name">Entry name, unique within the component, e.g. "Weights.bin".</param>
    /// <param name="write">Writes the content.</param>
    public void SaveBinaryStream(string name, Action<BinaryWriter> write)
    {
        CheckStreamName(name);
        ArgumentNullException.ThrowIfNull(write);
        RequireRepository(name);
        _ctx.SaveBinaryStream(name, write);
    }

    /// <summary>Writes a named side stream holding exactly <paramref name="content"/>. Requires <see cref="InRepository"/>.</summary>
    /// <param name="name">Entry name, unique within the component.</param>
    /// <param name="content">The bytes.</param>
    public void SaveBytesStream(string name, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        SaveBinaryStream(name, w => w.Write(content));
    }

    /// <summary>Writes a named UTF-8 text side stream (JSON, vocabularies). Requires <see cref="InRepository"/>.</summary>
    /// <param name="name">Entry name, unique within the component, e.g. "config.json".</param>
    /// <param name="write">Writes the text.</param>
    public void SaveTextStream(string name, Action<TextWriter> write)
    {
        CheckStreamName(name);
        ArgumentNullException.ThrowIfNull(write);
        RequireRepository(name);
        _ctx.SaveTextStream(name, write); // UTF-8 without a byte-order mark
    }

    void RequireRepository(string name)
    {
        if (!_ctx.InRepository)
            throw new InvalidOperationException($"Side stream '{name}' can only be written when saving into a model repository (zip).");
    }

    internal static void CheckStreamName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.IndexOfAny(['/', '\\']) >= 0)
            throw new ArgumentException($"Stream name '{name}' must not contain path separators.", nameof(name));
        if (name is ModelLoadContext.ModelStreamName or ModelLoadContext.NameBinary)
            throw new ArgumentException($"Stream name '{name}' is reserved by ML.NET.", nameof(name));
    }
}
