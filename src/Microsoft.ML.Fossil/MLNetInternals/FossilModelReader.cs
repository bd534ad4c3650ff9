using System.Globalization;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// Reads back what <see cref="FossilModelWriter"/> wrote: the dual of it, over ML.NET's internal
/// <c>ModelLoadContext</c>. Decoding problems throw <see cref="FormatException"/>, as ML.NET does.
/// </summary>
internal sealed class FossilModelReader
{
    readonly ModelLoadContext _ctx;

    FossilModelReader(ModelLoadContext ctx) => _ctx = ctx;

    /// <summary>
    /// Starts reading: checks the stream's signature and format version against
    /// <paramref name="version"/> (with messages that name Microsoft.ML.Fossil rather than ML.NET)
    /// and that the reader is at the start of the component's data.
    /// </summary>
    /// <param name="ctx">The context ML.NET passes to the loader's <c>Create</c> method.</param>
    /// <param name="version">The component's identity and the formats this code reads.</param>
    public static FossilModelReader Begin(ModelLoadContext ctx, FossilModelVersion version)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(version);
        ModelHeader header = ctx.Header;
        if (header.ModelSignature != version.ModelSignatureValue)
            throw new FormatException($"The model stream is not a '{version.LoaderSignature}' component (model signature mismatch).");
        if (header.ModelVerReadable > version.VerWrittenCur)
            throw new FormatException(
                $"This '{version.LoaderSignature}' component was saved by a newer Microsoft.ML.Fossil (format 0x{header.ModelVerWritten:X8}, " +
                $"readable by format 0x{header.ModelVerReadable:X8} and later); Microsoft.ML.Fossil {LibraryVersion} reads up to 0x{version.VerWrittenCur:X8}. " +
                "Upgrade Microsoft.ML.Fossil to load this model.");
        if (header.ModelVerWritten < version.VerWeCanReadBack)
            throw new FormatException(
                $"This '{version.LoaderSignature}' component was saved in format 0x{header.ModelVerWritten:X8}, which Microsoft.ML.Fossil {LibraryVersion} " +
                $"no longer reads (oldest readable: 0x{version.VerWeCanReadBack:X8}).");
        ctx.CheckAtModel(version.ToVersionInfo());
        return new FossilModelReader(ctx);
    }

    static string LibraryVersion
        => typeof(FossilModelReader).Assembly.GetName().Version?.ToString(3) ?? "?";

    /// <summary>The format version the stream was written with (branch on it to read older formats).</summary>
    public uint FormatVersion => _ctx.Header.ModelVerWritten;

    /// <summary>The loader assembly name recorded in the header (the simple name "Microsoft.ML.Fossil").</summary>
    public string? LoaderAssemblyName => _ctx.LoaderAssemblyName;

    /// <summary>True when reading from a model repository (zip), where side streams exist.</summary>
    public bool InRepository => _ctx.InRepository;

    /// <summary>The component's folder inside the model zip (for messages), or null outside a repository.</summary>
    public string? Directory => _ctx.Directory;

    /// <summary>The main stream, for primitive values.</summary>
    public BinaryReader Reader => _ctx.Reader;

    /// <summary>Reads an <see cref="int"/> and checks that it lies in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="min">Smallest valid value.</param>
    /// <param name="max">Largest valid value.</param>
    public int ReadInt32(int min = int.MinValue, int max = int.MaxValue)
    {
        int value = _ctx.Reader.ReadInt32();
        CheckDecode(value >= min && value <= max,
            string.Create(CultureInfo.InvariantCulture, $"value {value} outside [{min}, {max}]"));
        return value;
    }

    /// <summary>Reads a string written by <see cref="FossilModelWriter.WriteString"/>.</summary>
    public string ReadString()
    {
        string? value = _ctx.LoadStringOrNull();
        CheckDecode(value is not null, "unexpected null string");
        return value!;
    }

    /// <summary>Reads a string written by <see cref="FossilModelWriter.WriteStringOrNull"/>.</summary>
    public string? ReadStringOrNull() => _ctx.LoadStringOrNull();

    /// <summary>Reads strings written by <see cref="FossilModelWriter.WriteStrings"/>.</summary>
    /// <param name="maxCount">Largest count accepted (guards against corrupt input).</param>
    public string[] ReadStrings(int maxCount = 1 << 24)
    {
        int count = ReadInt32(0, maxCount);
        var values = new string[count];
        for (int i = 0; i < count; i++) values[i] = ReadString();
        return values;
    }

    /// <summary>Reads a byte array written by <see cref="FossilModelWriter.WriteBytes"/>.</summary>
    /// <param name="maxLength">Largest length accepted (guards against corrupt input).</param>
    public byte[] ReadBytes(int maxLength = int.MaxValue)
    {
        int length = ReadInt32(0, maxLength);
        byte[] bytes = _ctx.Reader.ReadBytes(length);
        CheckDecode(bytes.Length == length, "truncated byte array");
        return bytes;
    }

    /// <summary>Reads the named side stream if present; false when the model has no such entry.</summary>
    /// <param name="name">The entry name used when saving.</param>
    /// <param name="read">Reads the content (UTF-8 strings).</param>
    public bool TryLoadBinaryStream(string name, Action<BinaryReader> read)
    {
        FossilModelWriter.CheckStreamName(name);
        ArgumentNullException.ThrowIfNull(read);
        return _ctx.InRepository && _ctx.TryLoadBinaryStream(name, read);
    }

    /// <summary>Reads the named side stream; throws <see cref="FormatException"/> when it is missing.</summary>
    /// <param name="name">The entry name used when saving.</param>
    /// <param name="read">Reads the content.</param>
    public void LoadBinaryStream(string name, Action<BinaryReader> read)
    {
        if (!TryLoadBinaryStream(name, read))
            throw new FormatException($"The model has no '{name}' stream in '{_ctx.Directory}'.");
    }

    /// <summary>Reads the whole named side stream into memory; throws <see cref="FormatException"/> when missing.</summary>
    /// <param name="name">The entry name used when saving.</param>
    public byte[] LoadBytesStream(string name)
    {
        byte[] content = [];
        LoadBinaryStream(name, r =>
        {
            using var buffer = new MemoryStream();
            r.BaseStream.CopyTo(buffer);
            content = buffer.ToArray();
        });
        return content;
    }

    /// <summary>Reads the named UTF-8 text side stream if present.</summary>
    /// <param name="name">The entry name used when saving.</param>
    /// <param name="read">Reads the text.</param>
    public bool TryLoadTextStream(string name, Action<TextReader> read)
    {
        FossilModelWriter.CheckStreamName(name);
        ArgumentNullException.ThrowIfNull(read);
        return _ctx.InRepository && _ctx.TryLoadTextStream(name, read);
    }

    /// <summary>Reads the named UTF-8 text side stream; throws <see cref="FormatException"/> when it is missing.</summary>
    /// <param name="name">The entry name used when saving.</param>
    /// <param name="read">Reads the text.</param>
    public void LoadTextStream(string name, Action<TextReader> read)
    {
        if (!TryLoadTextStream(name, read))
            throw new FormatException($"The model has no '{name}' stream in '{_ctx.Directory}'.");
    }

    /// <summary>Throws <see cref="FormatException"/> (a corrupt or incompatible model) unless <paramref name="condition"/> holds.</summary>
    /// <param name="condition">What must hold.</param>
    /// <param name="what">Short description of the problem.</param>
    public void CheckDecode(bool condition, string what)
    {
        if (!condition)
            throw new FormatException($"Corrupt model stream in '{_ctx.Directory}': {what}.");
    }
}
