namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// The identity and format version of one kind of savable Fossil component: what ML.NET's internal
/// <c>VersionInfo</c> holds, without exposing that type. The loader assembly written into every
/// model header is always the simple name "Microsoft.ML.Fossil" (no version), so that a model saved
/// with one release of the library loads in an application that ships a later one.
/// </summary>
/// <remarks>
/// Versioning rule (as in ML.NET): <see cref="VerWrittenCur"/> is the format this code writes;
/// <see cref="VerReadableCur"/> is the oldest code version able to read it; <see cref="VerWeCanReadBack"/>
/// is the oldest format this code still reads. Format versions are conventionally 0xMMMMmmmm.
/// </remarks>
internal sealed class FossilModelVersion
{
    /// <summary>The simple name of this assembly, written into every model header.</summary>
    public static readonly string LoaderAssemblyName = typeof(FossilModelVersion).Assembly.GetName().Name!;

    /// <summary>
    /// Creates a version description; throws <see cref="ArgumentException"/> on values that ML.NET
    /// would reject (late, while saving) or that would make loading ambiguous.
    /// </summary>
    /// <param name="modelSignature">Exactly 8 Latin-1 characters identifying the stream's format, e.g. "FOSTXTCL".</param>
    /// <param name="verWrittenCur">The format version this code writes.</param>
    /// <param name="verReadableCur">The oldest format version of code that can read what this code writes.</param>
    /// <param name="verWeCanReadBack">The oldest format version this code can read.</param>
    /// <param name="loaderSignature">
    /// The name under which the component is registered with <c>[assembly: LoadableClass]</c>
    /// (1 to 24 Latin-1 characters, unique across ML.NET and every other loaded component library).
    /// </param>
    public FossilModelVersion(string modelSignature, uint verWrittenCur, uint verReadableCur, uint verWeCanReadBack, string loaderSignature)
    {
        ArgumentNullException.ThrowIfNull(modelSignature);
        ArgumentNullException.ThrowIfNull(loaderSignature);
        if (modelSignature.Length != 8 || !IsLatin1(modelSignature))
            throw new ArgumentException($"A model signature must be exactly 8 Latin-1 characters; got '{modelSignature}'.", nameof(modelSignature));
        if (loaderSignature.Length is 0 or > 24 || !IsLatin1(loaderSignature) || string.IsNullOrWhiteSpace(loaderSignature))
            throw new ArgumentException($"A loader signature must be 1 to 24 Latin-1 characters; got '{loaderSignature}'.", nameof(loaderSignature));
        if (verReadableCur > verWrittenCur)
            throw new ArgumentException("verReadableCur cannot be greater than verWrittenCur.", nameof(verReadableCur));
        if (verWeCanReadBack > verWrittenCur)
            throw new ArgumentException("verWeCanReadBack cannot be greater than verWrittenCur.", nameof(verWeCanReadBack));

        ModelSignature = modelSignature;
        VerWrittenCur = verWrittenCur;
        VerReadableCur = verReadableCur;
        VerWeCanReadBack = verWeCanReadBack;
        LoaderSignature = loaderSignature;
    }

    /// <summary>The 8-character signature of the stream's format.</summary>
    public string ModelSignature { get; }

    /// <summary>The format version this code writes.</summary>
    public uint VerWrittenCur { get; }

    /// <summary>The oldest format version of code that can read what this code writes.</summary>
    public uint VerReadableCur { get; }

    /// <summary>The oldest format version this code can read.</summary>
    public uint VerWeCanReadBack { get; }

    /// <summary>The name of the component's <c>LoadableClass</c> registration.</summary>
    public string LoaderSignature { get; }

    /// <summary>ML.NET's representation (an internal type: use only inside MLNetInternals).</summary>
    internal VersionInfo ToVersionInfo()
        => new(ModelSignature, VerWrittenCur, VerReadableCur, VerWeCanReadBack,
               loaderAssemblyName: LoaderAssemblyName, loaderSignature: LoaderSignature);

    /// <summary>The 64-bit value ML.NET stores for <see cref="ModelSignature"/> (spaces map to zero bytes).</summary>
    internal ulong ModelSignatureValue
    {
        get
        {
            ulong value = 0;
            for (int i = 0; i < ModelSignature.Length; i++)
                if (ModelSignature[i] != ' ') value |= (ulong)ModelSignature[i] << (i * 8);
            return value;
        }
    }

    static bool IsLatin1(string s)
    {
        foreach (char c in s)
            if (c > 0xFF) return false;
        return true;
    }

    /// <inheritdoc />
    public override string ToString()
        => $"{LoaderSignature} ({ModelSignature}, writes 0x{VerWrittenCur:X8}, reads back to 0x{VerWeCanReadBack:X8})";
}
