using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Writes the safetensors format (8-byte little-endian header length, a JSON header of
/// <c>{name: {dtype, shape, data_offsets}}</c> plus an optional <c>__metadata__</c> string map, padded with spaces
/// to 8 bytes, then the raw little-endian data) with metadata, which PEFT's files carry (<c>{"format": "pt"}</c>).
/// Tensors are written in name order, so the same tensors give the same bytes.
/// </summary>
internal static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (any device, any layout) and <paramref name="metadata"/> to <paramref name="output"/>.</summary>
    public static void Write(Stream output, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(tensors);
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var cpu = new List<Tensor>(names.Count);
        try
        {
            foreach (string name in names) cpu.Add(tensors[name].detach().cpu().contiguous());
            using var header = new MemoryStream();
            using (var json = new Utf8JsonWriter(header))
            {
                json.WriteStartObject();
                if (metadata is { Count: > 0 })
                {
                    json.WriteStartObject("__metadata__");
                    foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteString(key, value);
                    json.WriteEndObject();
                }
                long offset = 0;
                for (int i = 0; i < names.Count; i++)
                {
                    Tensor t = cpu[i];
                    long length = t.NumberOfElements * t.ElementSize;
                    json.WriteStartObject(names[i]);
                    json.WriteString("dtype", DtypeName(t.dtype, names[i]));
                    json.WriteStartArray("shape");
                    foreach (long d in t.shape) json.WriteNumberValue(d);
                    json.WriteEndArray();
                    json.WriteStartArray("data_offsets");
                    json.WriteNumberValue(offset);
                    json.WriteNumberValue(offset + length);
                    json.WriteEndArray();
                    json.WriteEndObject();
                    offset += length;
                }
                json.WriteEndObject();
            }
            // The data starts 8-byte aligned, as the reference writer pads the header with spaces.
            int padding = (int)((8 - header.Length % 8) % 8);
            for (int i = 0; i < padding; i++) header.WriteByte((byte)' ');
            Span<byte> length8 = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length8, (ulong)header.Length);
            output.Write(length8);
            header.Position = 0;
            header.CopyTo(output);
            foreach (Tensor t in cpu) TensorBytes.ForEachPiece(t, bytes => output.Write(bytes));
        }
        finally
        {
            foreach (Tensor t in cpu) t.Dispose();
        }
    }

    /// <summary>Writes to <paramref name="path"/> (replacing it).</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(file, tensors, metadata);
        file.Flush(flushToDisk: true);
    }

    /// <summary>Reads only the <c>__metadata__</c> map of a safetensors file (empty when it has none).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Span<byte> length8 = stackalloc byte[8];
        file.ReadExactly(length8);
        ulong length = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(length8);
        if (length > 100_000_000 || (long)length > file.Length - 8) throw new InvalidDataException($"'{path}' is not a safetensors file (header length {length}).");
        byte[] header = new byte[length];
        file.ReadExactly(header);
        using JsonDocument document = JsonDocument.Parse(Encoding.UTF8.GetString(header).TrimEnd(' '));
        return document.RootElement.TryGetProperty("__metadata__", out JsonElement metadata)
            ? metadata.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : new Dictionary<string, string>();
    }

    static string DtypeName(ScalarType type, string name) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Tensor '{name}' has dtype {type}, which safetensors cannot store."),
    };
}
