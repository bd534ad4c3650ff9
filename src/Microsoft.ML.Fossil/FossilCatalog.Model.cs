using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil;

public static partial class FossilCatalog
{
    /// <summary>The name under which <see cref="SetFossilSettings"/> stores the settings in the context (<c>MLContext.SetOption</c>).</summary>
    const string SettingsOptionName = "Microsoft.ML.Fossil.Settings";

    /// <summary>
    /// Gives <paramref name="mlContext"/> its own <see cref="FossilSettings"/>: trainers and <c>mlContext.Model.Load</c>
    /// of this context use them from now on (without this, <see cref="FossilSettings.Default"/>).
    /// </summary>
    /// <param name="mlContext">The context.</param>
    /// <param name="settings">The settings; the context keeps this object, so later changes to it apply to later calls.</param>
    public static void SetFossilSettings(this MLContext mlContext, FossilSettings settings)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(settings);
        mlContext.SetOption(SettingsOptionName, settings);
    }

    /// <summary>The settings of <paramref name="mlContext"/>: those given with <see cref="SetFossilSettings"/>, else <see cref="FossilSettings.Default"/>.</summary>
    /// <param name="mlContext">The context.</param>
    public static FossilSettings GetFossilSettings(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return mlContext.TryGetOption(SettingsOptionName, out FossilSettings? settings) && settings is not null ? settings : FossilSettings.Default;
    }

    /// <summary>The settings of the context behind <paramref name="env"/> (what a trainer or a model loader is given).</summary>
    internal static FossilSettings SettingsOf(IHostEnvironment env) => ContextSettings.Option<FossilSettings>(env, SettingsOptionName) ?? FossilSettings.Default;

    /// <summary>Suffix of the temporary file a save writes before renaming it over the model path.</summary>
    internal const string PartialFileSuffix = ".partial";

    /// <summary>
    /// Saves <paramref name="model"/> and <paramref name="inputSchema"/> to <paramref name="filePath"/>
    /// as <c>mlContext.Model.Save</c> does, but atomically: on any failure or cancellation the
    /// temporary file is deleted and an existing file at <paramref name="filePath"/> is left untouched.
    /// </summary>
    /// <param name="catalog"><c>mlContext.Model</c>.</param>
    /// <param name="model">The fitted model (any ML.NET transformer or chain).</param>
    /// <param name="inputSchema">The schema of the model's input, saved with it; may be null, as for <c>Save</c>.</param>
    /// <param name="filePath">The model file to write or replace; its folder must exist.</param>
    /// <param name="cancellationToken">Checked before writing, while the zip is written, and before the file replaces the old one.</param>
    /// <remarks>
    /// ML.NET's <c>mlContext.Model.Save(model, schema, path)</c> opens the path with <c>File.Create</c>
    /// and writes into it directly: an exception, a cancelled save, a killed process or a full disk
    /// leaves a truncated zip in place of the previous model. This writes the zip to a temporary file in
    /// the same folder, flushes it to disk, and only then renames it over the path (an atomic
    /// <c>rename(2)</c> on Linux and macOS, <c>MoveFileEx(REPLACE_EXISTING)</c> on Windows). The zip
    /// itself is ML.NET's, byte for byte the same as <c>Save</c> writes, and loads with
    /// <c>mlContext.Model.Load</c>. A process killed during the save leaves a hidden
    /// <c>.NAME.GUID.partial</c> file beside the model, which is safe to delete.
    /// </remarks>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="filePath"/> does not exist (or is a file).</exception>
    /// <exception cref="UnauthorizedAccessException">The folder of <paramref name="filePath"/> is not writable.</exception>
    /// <exception cref="IOException">The path is a folder, or the file system failed while writing or renaming.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; no file was written or replaced.</exception>
    public static void SaveAtomically(this ModelOperationsCatalog catalog, ITransformer model, DataViewSchema? inputSchema, string filePath,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(filePath);
        string target = Path.GetFullPath(filePath);
        string folder = Path.GetDirectoryName(target)
                        ?? throw new ArgumentException($"Cannot save the model to '{target}': the path has no folder.", nameof(filePath));
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException(File.Exists(folder)
                ? $"Cannot save the model to '{target}': '{folder}' is a file, not a folder."
                : $"Cannot save the model to '{target}': the folder '{folder}' does not exist. Create it first.");
        if (Directory.Exists(target))
            throw new IOException($"Cannot save the model to '{target}': that path is a folder, not a file.");
        cancellationToken.ThrowIfCancellationRequested();

        // Same folder as the target, so that the final rename stays on one file system (and is atomic).
        string partial = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}{PartialFileSuffix}");
        FileStream file;
        try
        {
            file = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new UnauthorizedAccessException($"Cannot save the model to '{target}': the folder '{folder}' is not writable ({e.Message}).", e);
        }

        try
        {
            using (file)
            {
                catalog.Save(model, inputSchema, new CancellableWriteStream(file, cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
                // Data on disk before the rename: after a power loss the path never names a file whose blocks were not written.
                file.Flush(flushToDisk: true);
            }
            cancellationToken.ThrowIfCancellationRequested();
            File.Move(partial, target, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(partial);
            // ML.NET may fail on its own (closing the zip) once the stream refuses writes: report the cancellation.
            if (cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
                throw new OperationCanceledException($"Saving the model to '{target}' was cancelled; the file was not changed.", e, cancellationToken);
            throw;
        }
    }

    static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original exception matters more; a leftover .partial file is harmless.
        }
    }

    /// <summary>
    /// Passes writes through to the file and throws <see cref="OperationCanceledException"/> once the token
    /// is cancelled, so that a long save stops mid-entry. Disposing it leaves the file open: SaveAtomically owns it.
    /// </summary>
    sealed class CancellableWriteStream(Stream inner, CancellationToken cancellationToken) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => true;
        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            inner.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            cancellationToken.ThrowIfCancellationRequested();
            inner.Write(buffer);
        }

        public override void WriteByte(byte value)
        {
            cancellationToken.ThrowIfCancellationRequested();
            inner.WriteByte(value);
        }

        public override void Flush()
        {
            cancellationToken.ThrowIfCancellationRequested();
            inner.Flush();
        }

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => inner.SetLength(value);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
