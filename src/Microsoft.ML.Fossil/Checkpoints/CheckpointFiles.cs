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
/// dictionary through TorchSharp.PyBridge, with the checks PyBridge leaves out: the safetensors
/// header is validated against the file before anything is allocated, and a pickle may only
/// produce a flat dictionary of tensors. Every failure names the file.
/// </summary>
internal static class CheckpointFiles
{
    /// <summary>The safetensors reference implementation refuses headers above 100 MB.</summary>
    internal const long MaxSafetensorsHeaderBytes = 100_000_000;

    /// <summary>
    /// Reads a <c>.safetensors</c> file. The header is checked first (JSON object, known dtypes,
    /// offsets inside the file and consistent with the shapes), so a corrupt or hostile header
    /// fails with <see cref="InvalidDataException"/> instead of a huge allocation.
    /// The caller owns the returned tensors.
    /// </summary>
    internal static Dictionary<string, Tensor> ReadSafetensors(string path)
    {
        using FileStream stream = File.OpenRead(path);
        ValidateSafetensorsHeader(stream, path);
        stream.Position = 0;
        try
        {
            return Safetensors.LoadStateDict(stream, leaveOpen: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"'{path}' could not be read as safetensors: {e.Message}", e);
        }
    }

    static void ValidateSafetensorsHeader(FileStream stream, string path)
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
        long dataLength = fileLength - 8 - (long)headerLength;

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
            foreach (JsonProperty entry in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(entry.Name)) throw Bad($"the header lists '{entry.Name}' twice");
                if (entry.Name == "__metadata__") continue;
                ValidateEntry(entry, dataLength, Bad);
            }
        }
    }

    static void ValidateEntry(JsonProperty entry, long dataLength, Func<string, InvalidDataException> bad)
    {
        string name = entry.Name;
        JsonElement value = entry.Value;
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out JsonElement dtype) || dtype.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out JsonElement shape) || shape.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw bad($"tensor '{name}' needs a string 'dtype', an array 'shape' and a two-element 'data_offsets'");

        int elementSize = dtype.GetString() switch
        {
            "F64" or "I64" => 8,
            "F32" or "I32" => 4,
            "F16" or "BF16" or "I16" => 2,
            "I8" or "U8" or "BOOL" => 1,
            string other => throw bad($"tensor '{name}' has dtype '{other}', which TorchSharp.PyBridge cannot read (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"),
            null => throw bad($"tensor '{name}' has no dtype"),
        };
        long bytes = elementSize;
        try
        {
            foreach (JsonElement dimension in shape.EnumerateArray())
            {
                if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
                    throw bad($"tensor '{name}' has an invalid shape {shape.GetRawText()}");
                bytes = checked(bytes * size);
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
