using System.Text;
using Microsoft.ML.Fossil.MLNetInternals;

namespace Microsoft.ML.Fossil.Tests.MLNetInternals;

/// <summary>
/// FossilModelWriter/FossilModelReader through real ML.NET model repositories (zip): every call
/// below runs ML.NET's internal ModelSaveContext/ModelLoadContext members from Microsoft.ML.Fossil,
/// so these tests prove both halves of the scheme (it compiled, and the CLR allowed the accesses).
/// </summary>
public class ModelStorageTests
{
    static readonly FossilModelVersion BlobV2 = new("FOSBLOB ", 0x00010002, 0x00010002, 0x00010001, "FossilTestBlob");

    /// <summary>A component saved only through the helpers (no loader registration needed to read it back).</summary>
    sealed class Blob : ICanSaveModel
    {
        public FossilModelVersion Version { get; init; } = BlobV2;
        public string Name { get; init; } = "";
        public string? Optional { get; init; }
        public string[] Labels { get; init; } = [];
        public byte[] Small { get; init; } = [];
        public byte[] Weights { get; init; } = [];
        public string Json { get; init; } = "";
        public int Count { get; init; }
        public float Scale { get; init; }

        public void Save(ModelSaveContext ctx)
        {
            var writer = FossilModelWriter.Begin(ctx, Version);
            Assert.True(writer.InRepository);
            writer.WriteString(Name);
            writer.WriteStringOrNull(Optional);
            writer.WriteStrings(Labels);
            writer.WriteBytes(Small);
            writer.WriteInt32(Count);
            writer.Writer.Write(Scale);
            writer.SaveBytesStream("Weights.bin", Weights);
            writer.SaveBinaryStream("Labels.bin", w => { foreach (string l in Labels) w.Write(l); });
            writer.SaveTextStream("config.json", t => t.Write(Json));
        }

        public static Blob Read(FossilModelReader reader)
        {
            // Main-stream fields in the order they were written, then the side streams.
            string name = reader.ReadString();
            string? optional = reader.ReadStringOrNull();
            string[] labels = reader.ReadStrings();
            byte[] small = reader.ReadBytes();
            int count = reader.ReadInt32(0, 1000);
            float scale = reader.Reader.ReadSingle();
            byte[] weights = reader.LoadBytesStream("Weights.bin");
            string json = "";
            reader.LoadTextStream("config.json", t => json = t.ReadToEnd());
            return new Blob
            {
                Name = name, Optional = optional, Labels = labels, Small = small,
                Count = count, Scale = scale, Weights = weights, Json = json,
            };
        }
    }

    static Blob Sample() => new()
    {
        Name = "fossil-é-漢字",
        Optional = null,
        Labels = ["negative", "positive", "", "neutral"],
        Small = [1, 2, 3, 255],
        Weights = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 31)).ToArray(),
        Json = "{\"r\": 64, \"name\": \"ü\"}\n",
        Count = 42,
        Scale = 0.1f,
    };

    static MemoryStream SaveToZip(MLContext ml, ICanSaveModel component, string directory = "Blob")
    {
        var zip = new MemoryStream();
        FossilModelFiles.Save(ml, component, zip, directory);
        zip.Position = 0;
        return zip;
    }

    [Fact]
    public void Helpers_round_trip_main_stream_fields_and_side_streams_through_a_model_zip()
    {
        var ml = new MLContext(seed: 1);
        Blob original = Sample();
        using MemoryStream zip = SaveToZip(ml, original);

        (Blob read, string? loader, uint format) = FossilModelFiles.Read(ml, zip, "Blob", BlobV2,
            r => (Blob.Read(r), r.LoaderAssemblyName, r.FormatVersion));

        Assert.Equal(original.Name, read.Name);
        Assert.Null(read.Optional);
        Assert.Equal(original.Labels, read.Labels);
        Assert.Equal(original.Small, read.Small);
        Assert.Equal(original.Count, read.Count);
        Assert.Equal(original.Scale, read.Scale);
        Assert.Equal(original.Weights, read.Weights);
        Assert.Equal(original.Json, read.Json);
        // The header names the simple assembly name, never a full name with a version.
        Assert.Equal("Microsoft.ML.Fossil", loader);
        Assert.Equal(0x00010002u, format);
    }

    [Fact]
    public void Side_streams_are_plain_entries_of_the_zip_next_to_the_component_stream()
    {
        var ml = new MLContext(seed: 1);
        using MemoryStream zip = SaveToZip(ml, Sample());
        using var archive = new System.IO.Compression.ZipArchive(zip, System.IO.Compression.ZipArchiveMode.Read);
        string[] names = archive.Entries.Select(e => e.FullName.Replace('\\', '/')).ToArray();
        Assert.Contains("Blob/Model.key", names);
        Assert.Contains("Blob/Weights.bin", names);
        Assert.Contains("Blob/config.json", names);
        using var reader = new StreamReader(archive.GetEntry(names.First(n => n.EndsWith("config.json", StringComparison.Ordinal)))!.Open(), new UTF8Encoding(false));
        Assert.Equal(Sample().Json, reader.ReadToEnd()); // UTF-8, no byte-order mark
    }

    [Fact]
    public void Reading_with_a_different_signature_fails_with_a_clear_format_error()
    {
        var ml = new MLContext(seed: 1);
        using MemoryStream zip = SaveToZip(ml, Sample());
        var other = new FossilModelVersion("FOSOTHER", 0x00010002, 0x00010002, 0x00010001, "FossilOther");
        var ex = Assert.Throws<FormatException>(() => FossilModelFiles.Read(ml, zip, "Blob", other, Blob.Read));
        Assert.Contains("FossilOther", ex.Message);
    }

    [Fact]
    public void A_model_from_a_newer_library_or_a_retired_format_is_refused_naming_Microsoft_ML_Fossil()
    {
        var ml = new MLContext(seed: 1);
        using MemoryStream zip = SaveToZip(ml, Sample());

        // This code only knows formats up to 0x00010001, but the stream needs a 0x00010002 reader.
        var older = new FossilModelVersion("FOSBLOB ", 0x00010001, 0x00010001, 0x00010001, "FossilTestBlob");
        var tooNew = Assert.Throws<FormatException>(() => FossilModelFiles.Read(ml, zip, "Blob", older, Blob.Read));
        Assert.Contains("newer Microsoft.ML.Fossil", tooNew.Message);

        zip.Position = 0;
        var newer = new FossilModelVersion("FOSBLOB ", 0x00010003, 0x00010003, 0x00010003, "FossilTestBlob");
        var tooOld = Assert.Throws<FormatException>(() => FossilModelFiles.Read(ml, zip, "Blob", newer, Blob.Read));
        Assert.Contains("no longer reads", tooOld.Message);

        zip.Position = 0;
        var compatible = new FossilModelVersion("FOSBLOB ", 0x00010003, 0x00010001, 0x00010002, "FossilTestBlob");
        Assert.Equal(Sample().Name, FossilModelFiles.Read(ml, zip, "Blob", compatible, Blob.Read).Name);
    }

    [Fact]
    public void A_reader_that_does_not_consume_the_whole_main_stream_is_caught_by_MLNet()
    {
        var ml = new MLContext(seed: 1);
        using MemoryStream zip = SaveToZip(ml, Sample());
        Assert.Throws<FormatException>(() => FossilModelFiles.Read(ml, zip, "Blob", BlobV2, r => r.ReadString()));
    }

    [Fact]
    public void Missing_side_streams_are_reported_or_tolerated_on_request()
    {
        var ml = new MLContext(seed: 1);
        using MemoryStream zip = SaveToZip(ml, Sample());
        bool found = true;
        var ex = Assert.Throws<FormatException>(() => FossilModelFiles.Read(ml, zip, "Blob", BlobV2, r =>
        {
            Blob.Read(r);
            found = r.TryLoadBinaryStream("Absent.bin", _ => { });
            return r.LoadBytesStream("Absent.bin");
        }));
        Assert.False(found);
        Assert.Contains("Absent.bin", ex.Message);
    }

    [Theory]
    [InlineData("SHORT", "Loader")]
    [InlineData("TOOLONGSIG", "Loader")]
    [InlineData("FOSBLOB ", "")]
    [InlineData("FOSBLOB ", "ThisLoaderSignatureIsTooLong")]
    [InlineData("FOSBLOB\u0100", "Loader")]
    public void Version_descriptions_that_MLNet_would_reject_late_are_rejected_early(string modelSignature, string loaderSignature)
    {
        Assert.Throws<ArgumentException>(() => new FossilModelVersion(modelSignature, 0x00010001, 0x00010001, 0x00010001, loaderSignature));
    }

    [Fact]
    public void Reserved_or_nested_side_stream_names_are_rejected()
    {
        var ml = new MLContext(seed: 1);
        foreach (string name in new[] { "Model.key", "Model.bin", "a/b", "" })
        {
            var blob = new BadStreamName(name);
            Assert.ThrowsAny<ArgumentException>(() => FossilModelFiles.Save(ml, blob, new MemoryStream(), "Blob"));
        }
    }

    sealed class BadStreamName(string name) : ICanSaveModel
    {
        public void Save(ModelSaveContext ctx) => FossilModelWriter.Begin(ctx, BlobV2).SaveBytesStream(name, [1]);
    }
}
