using Microsoft.ML.Fossil.Models;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Fossil.Checkpoints;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// Damaged and incompatible model files, loaded the way applications load them: the standard
/// mlContext.Model.Load. Each fails with an exception whose message says what is wrong, never a crash
/// or a silently wrong model. (A missing backbone and a backbone with a different hash:
/// TinyBackboneTests.A_moved_or_changed_backbone_is_found_by_hash_or_refused_and_an_embedded_one_travels_with_the_model.)
/// </summary>
[Collection(MiniLmFineFoodsFixture.Collection)]
public sealed class DamagedModelFileTests(MiniLmFineFoodsFixture fixture, ITestOutputHelper output) : IDisposable
{
    const string FossilFolder = "TransformerChain/Transform_001/";
    readonly string folder = Directory.CreateTempSubdirectory("fossil-damaged-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Model.Load's exception, and the one that says what is wrong (ML.NET wraps a loader's exception in TargetInvocationException).</summary>
    (Exception Thrown, Exception Cause) LoadFails(string path)
    {
        Exception thrown = Assert.ThrowsAny<Exception>(() => fixture.Ml.Model.Load(path, out _));
        Exception cause = thrown;
        while (cause is System.Reflection.TargetInvocationException { InnerException: { } inner }) cause = inner;
        output.WriteLine($"{thrown.GetType().Name} -> {cause.GetType().Name}: {cause.Message}");
        return (thrown, cause);
    }

    string Copy(string name)
    {
        string path = Path.Combine(folder, name);
        File.Copy(fixture.ModelPath, path);
        return path;
    }

    /// <summary>A copy of the fixture's model whose entry <paramref name="entryName"/> (in the Fossil transformer's folder) is replaced by <paramref name="change"/>'s result, or removed when it returns null.</summary>
    string WithEntry(string name, string entryName, Func<byte[], byte[]?> change)
    {
        string path = Copy(name);
        using ZipArchive zip = ZipFile.Open(path, ZipArchiveMode.Update);
        ZipArchiveEntry entry = zip.GetEntry(FossilFolder + entryName) ?? throw new InvalidOperationException($"the fixture's model has no {entryName}");
        byte[] original;
        using (Stream stream = entry.Open())
        using (var buffer = new MemoryStream())
        {
            stream.CopyTo(buffer);
            original = buffer.ToArray();
        }
        entry.Delete();
        if (change(original) is { } changed)
        {
            using Stream stream = zip.CreateEntry(FossilFolder + entryName).Open();
            stream.Write(changed);
        }
        return path;
    }

    [Theory]
    [InlineData("empty", 0)]
    [InlineData("first 100 bytes", 100)]
    [InlineData("half", -2)]
    [InlineData("all but the last 100 bytes", -100)]
    [InlineData("all but the last byte", -1)]
    public void A_truncated_zip_is_refused_as_an_incomplete_zip(string cut, int length)
    {
        byte[] whole = File.ReadAllBytes(fixture.ModelPath);
        int keep = length switch { -2 => whole.Length / 2, < 0 => whole.Length + length, _ => length };
        string path = Path.Combine(folder, $"truncated-{keep}.zip");
        File.WriteAllBytes(path, whole[..keep]);
        (Exception thrown, _) = LoadFails(path);
        // ML.NET opens the zip before any Fossil code runs, and reports System.IO.Compression's finding:
        // the zip's directory, which is at its end, is gone.
        Assert.IsType<FormatException>(thrown);
        Assert.Equal("Failed to open a zip archive", thrown.Message);
        Assert.IsType<InvalidDataException>(thrown.InnerException);
        output.WriteLine($"{cut}: {keep} of {whole.Length} bytes; inner: {thrown.InnerException.Message}");
        Assert.Contains("Central Directory", thrown.InnerException.Message);
    }

    [Fact]
    public void An_altered_trained_tensor_entry_is_refused_by_its_SHA_256()
    {
        // Flip bytes in the tensor data (after the safetensors header), so the entry still parses.
        string path = WithEntry("altered.zip", CompactModelFormat.TrainedEntry, bytes =>
        {
            byte[] changed = (byte[])bytes.Clone();
            for (int i = changed.Length / 2; i < changed.Length / 2 + 16; i++) changed[i] ^= 0xFF;
            return changed;
        });
        (_, Exception cause) = LoadFails(path);
        Assert.IsType<InvalidDataException>(cause);
        Assert.Contains($"'{CompactModelFormat.TrainedEntry}' entry does not match its recorded SHA-256", cause.Message);
        Assert.Contains("altered or damaged", cause.Message);
    }

    [Fact]
    public void A_byte_flipped_inside_the_compressed_trained_entry_is_refused()
    {
        // Damage on disk rather than a rewritten entry: one byte of the deflated data in the zip file itself.
        string path = Copy("flipped.zip");
        byte[] bytes = File.ReadAllBytes(path);
        int header = IndexOf(bytes, Encoding.ASCII.GetBytes(FossilFolder + CompactModelFormat.TrainedEntry)) - 30; // local file header
        Assert.Equal(0x04034b50u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(header)));
        int compressedSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(header + 18));
        int data = header + 30 + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(header + 26)) + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(header + 28));
        bytes[data + compressedSize / 2] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
        (_, Exception cause) = LoadFails(path);
        // Either the deflate stream or its CRC breaks, or the inflated bytes fail the SHA-256: all InvalidDataException.
        Assert.IsType<InvalidDataException>(cause);
        Assert.False(string.IsNullOrWhiteSpace(cause.Message));
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        int index = haystack.AsSpan().IndexOf(needle);
        Assert.True(index >= 0, "entry name not found in the zip");
        return index;
    }

    [Fact]
    public void A_missing_trained_tensor_entry_is_named()
    {
        (_, Exception cause) = LoadFails(WithEntry("no-trained.zip", CompactModelFormat.TrainedEntry, _ => null));
        Assert.IsType<InvalidDataException>(cause);
        Assert.Contains($"has no '{CompactModelFormat.TrainedEntry}' entry", cause.Message);
    }

    [Fact]
    public void A_damaged_manifest_is_named()
    {
        (_, Exception cause) = LoadFails(WithEntry("bad-manifest.zip", CompactModelFormat.ManifestEntry, bytes => bytes[..(bytes.Length / 2)]));
        Assert.IsType<InvalidDataException>(cause);
        Assert.Contains($"'{CompactModelFormat.ManifestEntry}' is damaged", cause.Message);
    }

    [Fact]
    public void A_manifest_of_a_newer_format_version_is_refused_naming_both_versions()
    {
        int newer = CompactModelFormat.CurrentVersion + 1;
        string path = WithEntry("newer-manifest.zip", CompactModelFormat.ManifestEntry, bytes =>
        {
            JsonNode manifest = JsonNode.Parse(bytes)!;
            manifest["format_version"] = newer;
            return Encoding.UTF8.GetBytes(manifest.ToJsonString());
        });
        (_, Exception cause) = LoadFails(path);
        Assert.IsType<InvalidDataException>(cause);
        Assert.Contains($"written in format version {newer}, newer than this Microsoft.ML.Fossil reads (up to {CompactModelFormat.CurrentVersion})", cause.Message);
        Assert.Contains("Update the package", cause.Message);
    }

    [Fact]
    public void A_component_header_of_a_newer_library_version_is_refused_naming_both_versions()
    {
        // ML.NET's header of the Fossil component: model signature "FOSSILTX", then the written and readable versions.
        string path = WithEntry("newer-header.zip", "Model.key", bytes =>
        {
            byte[] changed = (byte[])bytes.Clone();
            int signature = IndexOf(changed, Encoding.ASCII.GetBytes("FOSSILTX"));
            Assert.Equal(0x00010001u, BinaryPrimitives.ReadUInt32LittleEndian(changed.AsSpan(signature + 8)));
            BinaryPrimitives.WriteUInt32LittleEndian(changed.AsSpan(signature + 8), 0x00020001);  // written
            BinaryPrimitives.WriteUInt32LittleEndian(changed.AsSpan(signature + 12), 0x00020001); // readable by
            return changed;
        });
        (_, Exception cause) = LoadFails(path);
        Assert.IsType<FormatException>(cause);
        Assert.Contains("saved by a newer Microsoft.ML.Fossil (format 0x00020001", cause.Message);
        Assert.Contains("reads up to 0x00010001", cause.Message);
    }
}
