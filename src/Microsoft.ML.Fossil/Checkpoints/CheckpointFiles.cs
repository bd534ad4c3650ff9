using System.Buffers.Binary;
using System.Collections;
using System.Text.Json;
using Razorvine.Pickle.Objects;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Reads one weights file (safetensors or a PyTorch zip checkpoint) into a name -> tensor
/// dictionary: safetensors directly (the header validated against the file before anything is
/// allocated), pickles through TorchSharp.PyBridge with the check it leaves out (a pickle may only
/// produce a flat dictionary of tensors). Every failure names the file.
/// </summary>
internal static class CheckpointFiles
{
    /// <summary>The safetensors reference implementation refuses headers above 100 MB.</summary>
    internal const long MaxSafetensorsHeaderBytes = 100_000_000;

    /// <summary>
    /// Reads a <c>.safetensors</c> file. The header is checked first (JSON object, known dtypes,
    /// offsets inside the file and consistent with the shapes), so a corrupt or hostile header
    /// fails with <see cref="InvalidDataException"/> instead of a huge allocation. The tensors are
    /// then views of the file mapped copy-on-write (libtorch's <c>from_file</c>, MAP_PRIVATE), as
    /// safetensors' own loaders do: nothing is copied, pages come from the page cache when first
    /// touched, and writing a weight (merging an adapter) copies only that page, never the file.
    /// A tensor whose offset is not a multiple of its element size, and every tensor when
    /// <paramref name="map"/> is false, is read from the file straight into its own storage (one copy).
    /// The caller owns the returned tensors.
    /// </summary>
    internal static Dictionary<string, Tensor> ReadSafetensors(string path, bool map = true)
    {
        // No FileStream buffer: the tensors read rather than mapped go from the page cache into their storage directly.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        long fileLength = stream.Length;
        var mapped = new Dictionary<ScalarType, Tensor>();
        try
        {
            return ReadSafetensors(stream, path, !map ? null : (entry, offset, count) =>
            {
                if (offset % entry.ElementSize != 0) return null;
                // The whole file as one flat tensor of this dtype, mapped once per dtype.
                if (!mapped.TryGetValue(entry.Type, out Tensor? whole))
                    mapped[entry.Type] = whole = from_file(path, shared: false, size: fileLength / entry.ElementSize, dtype: entry.Type);
                using Tensor flat = whole.narrow(0, offset / entry.ElementSize, count);
                return flat.view(entry.Shape);
            });
        }
        finally
        {
            // The views keep the mapping alive; these handles are not needed any more.
            foreach (Tensor whole in mapped.Values) whole.Dispose();
        }
    }

    /// <summary>
    /// Reads safetensors from a seekable stream (a model file's entry): the same header checks as
    /// <see cref="ReadSafetensors(string, bool)"/>, every tensor read into its own storage.
    /// <paramref name="source"/> names the stream in errors. The caller owns the returned tensors.
    /// </summary>
    internal static Dictionary<string, Tensor> ReadSafetensors(Stream stream, string source) => ReadSafetensors(stream, source, view: null);

    /// <summary>
    /// Validates the header, then makes each tensor: <paramref name="view"/>'s tensor for (entry, absolute
    /// offset, element count) when it gives one, otherwise one read from the stream into fresh storage.
    /// </summary>
    static Dictionary<string, Tensor> ReadSafetensors(Stream stream, string source, Func<SafetensorsEntry, long, long, Tensor?>? view)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; this machine is not.");
        List<SafetensorsEntry> entries = ReadSafetensorsHeader(stream, source, out long dataStart);
        var result = new Dictionary<string, Tensor>(entries.Count, StringComparer.Ordinal);
        try
        {
            foreach (SafetensorsEntry entry in entries.OrderBy(e => e.Begin))
            {
                long count = entry.Shape.Aggregate(1L, (a, b) => a * b), offset = dataStart + entry.Begin;
                if (count > 0 && view?.Invoke(entry, offset, count) is { } mappedView)
                {
                    result.Add(entry.Name, mappedView);
                    continue;
                }
                Tensor tensor = empty(entry.Shape, dtype: entry.Type);
                result.Add(entry.Name, tensor);
                stream.Position = offset;
                ReadInto(stream, tensor, source);
            }
            return result;
        }
        catch (Exception e)
        {
            foreach (Tensor tensor in result.Values) tensor.Dispose();
            if (e is InvalidDataException) throw;
            throw new InvalidDataException($"'{source}' could not be read as safetensors: {e.Message}", e);
        }
    }

    /// <summary>One tensor of a safetensors header, validated.</summary>
    sealed record SafetensorsEntry(string Name, ScalarType Type, int ElementSize, long[] Shape, long Begin);

    /// <summary>Fills a contiguous tensor's storage from the stream.</summary>
    static void ReadInto(Stream stream, Tensor tensor, string path)
    {
        try
        {
            TensorBytes.ForEachPiece(tensor, bytes => stream.ReadExactly(bytes));
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid safetensors file: it ended inside tensor data.", e);
        }
    }

    static List<SafetensorsEntry> ReadSafetensorsHeader(Stream stream, string path, out long dataStart)
    {
        InvalidDataException Bad(string why) => new($"'{path}' is not a valid safetensors file: {why}.");

        long fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (fileLength < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw Bad($"it is {fileLength} bytes long, shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)MaxSafetensorsHeaderBytes || headerLength > (ulong)(fileLength - 8))
            throw Bad($"the header claims {headerLength} bytes but the file has {fileLength - 8} after the length prefix (limit {MaxSafetensorsHeaderBytes})");
        byte[] header = new byte[(int)headerLength];
        stream.ReadExactly(header);
        dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid safetensors file: the header is not JSON ({e.Message}).", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw Bad("the header is not a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<SafetensorsEntry>();
            foreach (JsonProperty entry in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(entry.Name)) throw Bad($"the header lists '{entry.Name}' twice");
                if (entry.Name == "__metadata__") continue;
                entries.Add(ValidateEntry(entry, dataLength, Bad));
            }
            return entries;
        }
    }

    static SafetensorsEntry ValidateEntry(JsonProperty entry, long dataLength, Func<string, InvalidDataException> bad)
    {
        string name = entry.Name;
        JsonElement value = entry.Value;
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out JsonElement dtype) || dtype.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out JsonElement shape) || shape.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw bad($"tensor '{name}' needs a string 'dtype', an array 'shape' and a two-element 'data_offsets'");

        (ScalarType type, int elementSize) = dtype.GetString() switch
        {
            "F64" => (ScalarType.Float64, 8),
            "I64" => (ScalarType.Int64, 8),
            "F32" => (ScalarType.Float32, 4),
            "I32" => (ScalarType.Int32, 4),
            "F16" => (ScalarType.Float16, 2),
            "BF16" => (ScalarType.BFloat16, 2),
            "I16" => (ScalarType.Int16, 2),
            "I8" => (ScalarType.Int8, 1),
            "U8" => (ScalarType.Byte, 1),
            "BOOL" => (ScalarType.Bool, 1),
            string other => throw bad($"tensor '{name}' has dtype '{other}', which cannot be read (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"),
            null => throw bad($"tensor '{name}' has no dtype"),
        };
        long bytes = elementSize;
        var dims = new List<long>();
        try
        {
            foreach (JsonElement dimension in shape.EnumerateArray())
            {
                if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
                    throw bad($"tensor '{name}' has an invalid shape {shape.GetRawText()}");
                bytes = checked(bytes * size);
                dims.Add(size);
            }
        }
        catch (OverflowException)
        {
            throw bad($"tensor '{name}' has a shape {shape.GetRawText()} too large to address");
        }
        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw bad($"tensor '{name}' has invalid data_offsets {offsets.GetRawText()}");
        if (end > dataLength)
            throw bad($"tensor '{name}' ends at byte {end} of the data but the file holds only {dataLength} data bytes");
        if (end - begin != bytes)
            throw bad($"tensor '{name}' has {end - begin} data bytes but dtype {dtype.GetString()} and shape {shape.GetRawText()} need {bytes}");
        return new SafetensorsEntry(name, type, elementSize, [.. dims], begin);
    }

    /// <summary>
    /// Reads a PyTorch zip checkpoint (<c>torch.save</c> of a state dict). The pickle inside is
    /// interpreted by Razorvine.Pickle as PyBridge configures it: it runs no Python and resolves no
    /// .NET types by name, so unknown globals become inert dictionaries or fail. Anything but a flat
    /// string -> tensor dictionary is rejected with <see cref="InvalidDataException"/>.
    /// Call inside a dispose scope: tensors built before a failure are not returned.
    /// The caller owns the returned tensors.
    /// </summary>
    internal static Dictionary<string, Tensor> ReadPyTorch(string path)
    {
        using FileStream stream = File.OpenRead(path);
        Span<byte> signature = stackalloc byte[4];
        if (stream.ReadAtLeast(signature, 4, throwOnEndOfStream: false) < 4
            || signature[0] != 0x50 || signature[1] != 0x4b || signature[2] != 0x03 || signature[3] != 0x04)
            throw new InvalidDataException(
                $"'{path}' is not a PyTorch zip checkpoint (torch.save since PyTorch 1.6); legacy and raw pickle files are not read. " +
                SafetensorsAdvice);
        stream.Position = 0;

        Hashtable table;
        try
        {
            table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw NotATensorDictionary(path, $"{e.GetType().Name}: {e.Message}", e);
        }

        var result = new Dictionary<string, Tensor>(table.Count, StringComparer.Ordinal);
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Key is not string name)
                throw NotATensorDictionary(path, $"a key is {Describe(entry.Key)}, not a tensor name");
            if (entry.Value is not Tensor tensor)
                throw NotATensorDictionary(path, $"'{name}' holds {Describe(entry.Value)}");
            result.Add(name, tensor);
        }
        return result;
    }

    const string SafetensorsAdvice =
        "Convert the checkpoint to safetensors (model.safetensors), which holds only tensors, " +
        "for example with the safetensors or transformers Python packages on a trusted machine.";

    static InvalidDataException NotATensorDictionary(string path, string detail, Exception? inner = null) => new(
        $"'{path}' was not loaded: the checkpoint contains non-tensor objects or is not a plain PyTorch state dict ({detail}). " +
        "Pickle checkpoints are only read as dictionaries of tensor names to tensors; nothing in them is executed. " +
        SafetensorsAdvice, inner);

    static string Describe(object? value) => value switch
    {
        null => "None",
        ClassDict classDict => $"an object of the Python class '{classDict.ClassName}' (unpickled as an inert {nameof(ClassDict)})",
        string text => $"the string '{(text.Length > 80 ? text[..80] + "..." : text)}'",
        _ => $"a value of type {value.GetType().FullName}",
    };
}
