using System.Diagnostics;
using System.IO.Compression;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Tests.MLNetInternals;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// mlContext.Model.SaveAtomically: the file at the path is always the previous complete model or the new
/// complete model, whatever happens during the save (an exception, a cancellation, a killed process).
/// </summary>
[Collection(MiniLmFineFoodsFixture.Collection)]
public sealed class AtomicSaveTests(MiniLmFineFoodsFixture fixture, ITestOutputHelper output) : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("fossil-atomic-save-").FullName;

    public void Dispose()
    {
        fixture.Fossil.EmbedBackbone = false;
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    string[] PartialFiles() => Directory.GetFiles(folder, "*" + FossilCatalog.PartialFileSuffix);

    static int[] Bits(IEnumerable<float[]> scores) => [.. scores.SelectMany(s => s).Select(BitConverter.SingleToInt32Bits)];

    float[][] LoadAndScore(string path)
    {
        // Adapters kept separate: the trained model's own arithmetic, for a bit-for-bit comparison.
        var context = new MLContext(seed: 1);
        context.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = false });
        ITransformer loaded = context.Model.Load(path, out _);
        float[][] scores = [.. loaded.Transform(fixture.Test).GetColumn<float[]>("Score")];
        ((IDisposable)loaded).Dispose();
        return scores;
    }

    /// <summary>A transformer whose Save runs <paramref name="onSave"/> (to fail or cancel after earlier components were written).</summary>
    sealed class SaveHook(Action onSave) : ITransformer
    {
        public bool IsRowToRowMapper => false;
        public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inputSchema;
        public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => throw new NotSupportedException();
        public IDataView Transform(IDataView input) => input;
        void ICanSaveModel.Save(ModelSaveContext ctx) => onSave();
    }

    [Fact]
    public void SaveAtomically_writes_what_Model_Save_writes_and_the_file_loads_and_predicts_bit_identically()
    {
        string plain = Path.Combine(folder, "plain.zip"), atomic = Path.Combine(folder, "atomic.zip");
        fixture.Ml.Model.Save(fixture.Model, fixture.Train.Schema, plain);
        File.WriteAllText(atomic, "an older file that the save replaces");
        fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, atomic);

        // The same zip entries as ML.NET's own Save (only the zip's timestamps may differ).
        using (ZipArchive a = ZipFile.OpenRead(plain), b = ZipFile.OpenRead(atomic))
        {
            Assert.Equal(a.Entries.Select(e => e.FullName), b.Entries.Select(e => e.FullName));
            foreach (ZipArchiveEntry entry in a.Entries)
                Assert.True(ReadEntry(entry).AsSpan().SequenceEqual(ReadEntry(b.GetEntry(entry.FullName)!)), $"entry {entry.FullName} differs");
        }
        float[][] expected = [.. fixture.Model.Transform(fixture.Test).GetColumn<float[]>("Score")];
        Assert.Equal(Bits(expected), Bits(LoadAndScore(atomic)));
        Assert.Empty(PartialFiles());
        // A relative path is resolved against the current folder, as File.Create does.
        string before = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = folder;
            fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, "relative.zip");
        }
        finally
        {
            Environment.CurrentDirectory = before;
        }
        Assert.True(File.Exists(Path.Combine(folder, "relative.zip")));
    }

    static byte[] ReadEntry(ZipArchiveEntry entry)
    {
        using Stream stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    [Fact]
    public void A_failed_or_cancelled_save_leaves_the_previous_file_byte_for_byte_and_no_partial_file()
    {
        string path = Path.Combine(folder, "model.zip");
        File.Copy(fixture.ModelPath, path);
        byte[] previous = File.ReadAllBytes(path);

        // 1. Cancelled before anything is written.
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, path, cancelled.Token));
        }
        Assert.Equal(previous, File.ReadAllBytes(path));
        Assert.Empty(PartialFiles());

        // 2. A component fails after the Fossil model was already written into the temporary file.
        long partialLength = 0;
        var failing = new TransformerChain<ITransformer>(fixture.Model, new SaveHook(() =>
        {
            partialLength = new FileInfo(Assert.Single(PartialFiles())).Length;
            throw new InvalidOperationException("this component cannot be saved");
        }));
        var error = Assert.Throws<InvalidOperationException>(() => fixture.Ml.Model.SaveAtomically(failing, fixture.Train.Schema, path));
        Assert.Equal("this component cannot be saved", error.Message);
        Assert.True(partialLength > 0, "the temporary file should have held the components saved before the failure");
        Assert.Equal(previous, File.ReadAllBytes(path));
        Assert.Empty(PartialFiles());

        // 3. Cancelled in the middle of writing a large entry (the embedded backbone, tens of MB).
        fixture.Fossil.EmbedBackbone = true;
        using var midWrite = new CancellationTokenSource();
        long cancelledAt = 0;
        using var saving = new CancellationTokenSource();
        var watcher = new Thread(() =>
        {
            while (!saving.IsCancellationRequested)
            {
                if (PartialFiles() is [var partial] && new FileInfo(partial).Length > (1 << 20))
                {
                    cancelledAt = new FileInfo(partial).Length;
                    midWrite.Cancel();
                    return;
                }
                Thread.Sleep(2);
            }
        });
        watcher.Start();
        try
        {
            Assert.ThrowsAny<OperationCanceledException>(() => fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, path, midWrite.Token));
        }
        finally
        {
            saving.Cancel();
            watcher.Join();
            fixture.Fossil.EmbedBackbone = false;
        }
        output.WriteLine($"cancelled with {cancelledAt:N0} bytes written to the temporary file");
        Assert.True(cancelledAt > 0);
        Assert.Equal(previous, File.ReadAllBytes(path));
        Assert.Empty(PartialFiles());
    }

    [Fact]
    public void A_missing_folder_a_file_in_place_of_the_folder_and_a_folder_in_place_of_the_file_are_named()
    {
        string missing = Path.Combine(folder, "no-such-folder");
        var notFound = Assert.Throws<DirectoryNotFoundException>(() =>
            fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, Path.Combine(missing, "model.zip")));
        Assert.Contains($"the folder '{missing}' does not exist", notFound.Message);

        string file = Path.Combine(folder, "a-file");
        File.WriteAllText(file, "not a folder");
        var notAFolder = Assert.Throws<DirectoryNotFoundException>(() =>
            fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, Path.Combine(file, "model.zip")));
        Assert.Contains($"'{file}' is a file, not a folder", notAFolder.Message);

        string aFolder = Directory.CreateDirectory(Path.Combine(folder, "model.zip")).FullName;
        var isFolder = Assert.Throws<IOException>(() => fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, aFolder));
        Assert.Contains($"'{aFolder}'", isFolder.Message);
        Assert.Contains("is a folder", isFolder.Message);
    }

    [Fact]
    public void A_folder_that_refuses_new_files_even_to_root_is_named()
    {
        // sysfs refuses to create files for every user, root included (tests here run as root, where chmod does not help).
        var e = Assert.Throws<UnauthorizedAccessException>(() =>
            fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, "/sys/fossil-model.zip"));
        Assert.Contains("'/sys/fossil-model.zip'", e.Message);
        Assert.Contains("the folder '/sys' is not writable", e.Message);
    }

    [NotRootFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_read_only_folder_is_named_and_an_existing_file_there_is_untouched()
    {
        string readOnly = Directory.CreateDirectory(Path.Combine(folder, "read-only")).FullName;
        string path = Path.Combine(readOnly, "model.zip");
        File.Copy(fixture.ModelPath, path);
        byte[] previous = File.ReadAllBytes(path);
        File.SetUnixFileMode(readOnly, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var e = Assert.Throws<UnauthorizedAccessException>(() => fixture.Ml.Model.SaveAtomically(fixture.Model, fixture.Train.Schema, path));
            Assert.Contains($"the folder '{readOnly}' is not writable", e.Message);
        }
        finally
        {
            File.SetUnixFileMode(readOnly, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Assert.Equal(previous, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_process_killed_while_saving_leaves_the_previous_model_file_complete()
    {
        string path = Path.Combine(folder, "model.zip");
        File.Copy(fixture.ModelPath, path);
        byte[] previous = File.ReadAllBytes(path);

        // The runner saves the model with its backbone embedded (tens of MB, seconds of writing) again and again.
        using Process runner = FreshProcessTests.StartRunner(null, "save-repeatedly", fixture.ModelPath, path, "3", "--embed-backbone");
        var stdout = new System.Text.StringBuilder();
        var stderr = new System.Text.StringBuilder();
        runner.OutputDataReceived += (_, e) => { lock (stdout) stdout.AppendLine(e.Data); };
        runner.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        runner.BeginOutputReadLine();
        runner.BeginErrorReadLine();
        long killedAt = 0;
        var clock = Stopwatch.StartNew();
        while (killedAt == 0 && !runner.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (PartialFiles() is [var partial] && new FileInfo(partial).Length is > (1 << 20) and var length)
            {
                runner.Kill(entireProcessTree: true);
                killedAt = length;
            }
            else Thread.Sleep(2);
        }
        Assert.True(runner.WaitForExit(TimeSpan.FromSeconds(30)), "the runner did not stop after Kill");
        string saved;
        lock (stdout) saved = stdout.ToString();
        string errors;
        lock (stderr) errors = stderr.ToString();
        Assert.True(killedAt > 0, $"the runner never wrote a temporary file of more than 1 MB (exit {runner.ExitCode}):\n{saved}\n{errors}");
        output.WriteLine($"killed with {killedAt:N0} bytes in the temporary file; runner output: {saved.Trim()}");

        // The path holds a complete model: the previous one byte for byte, or (killed in a later save) a complete new one.
        if (!saved.Contains("saved 1", StringComparison.Ordinal)) Assert.Equal(previous, File.ReadAllBytes(path));
        float[][] expected = [.. fixture.Model.Transform(fixture.Test).GetColumn<float[]>("Score")];
        Assert.Equal(Bits(expected), Bits(LoadAndScore(path)));
        // The killed save's temporary file is left behind (nothing can remove it), under its own name, never the model's.
        Assert.Single(PartialFiles());
    }
}

/// <summary>Skipped when the tests run as root, for whom file permission bits do not stop writes.</summary>
public sealed class NotRootFactAttribute : FactAttribute
{
    public NotRootFactAttribute()
    {
        if (Environment.IsPrivilegedProcess)
            Skip = "Running as root: permission bits do not stop root from creating files (A_folder_that_refuses_new_files_even_to_root_is_named covers this).";
    }
}
