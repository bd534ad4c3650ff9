using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// Whole-repository operations on ML.NET model zips without going through <c>mlContext.Model</c>:
/// saving one savable component into its own zip, loading it back through ML.NET's component
/// catalog (exactly the <c>[assembly: LoadableClass]</c> path that <c>mlContext.Model.Load</c> takes),
/// or reading a component's stream directly with a <see cref="FossilModelReader"/>.
/// </summary>
internal static class FossilModelFiles
{
    /// <summary>
    /// Saves <paramref name="component"/> into a new model repository (zip) written to
    /// <paramref name="destination"/>, in the folder <paramref name="directory"/>.
    /// </summary>
    /// <param name="env">The ML.NET environment (e.g. an <see cref="MLContext"/>).</param>
    /// <param name="component">What to save.</param>
    /// <param name="destination">A writable, seekable stream; left open.</param>
    /// <param name="directory">The folder inside the zip.</param>
    public static void Save(IHostEnvironment env, ICanSaveModel component, Stream destination, string directory)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(component);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        using var repository = RepositoryWriter.CreateNew(destination, env);
        ModelSaveContext.SaveModel(repository, component, directory);
        repository.Commit();
    }

    /// <summary>
    /// Loads the component saved in <paramref name="directory"/> of the model zip in
    /// <paramref name="source"/> through ML.NET's component catalog (<c>SignatureLoadModel</c>);
    /// ML.NET loads and registers the assembly named in the stream's header itself.
    /// </summary>
    /// <typeparam name="T">The expected type (or an interface of it, e.g. <see cref="ITransformer"/>).</typeparam>
    /// <param name="env">The ML.NET environment.</param>
    /// <param name="source">A readable, seekable stream holding the zip; left open.</param>
    /// <param name="directory">The folder inside the zip.</param>
    public static T Load<T>(IHostEnvironment env, Stream source, string directory)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        using var repository = RepositoryReader.Open(source, env);
        ModelLoadContext.LoadModel<T, SignatureLoadModel>(env, out T result, repository, directory);
        return result;
    }

    /// <summary>
    /// Reads the component stream in <paramref name="directory"/> of the model zip in
    /// <paramref name="source"/> with <paramref name="read"/>, bypassing the component catalog
    /// (for inspection, and for tests of a component's format).
    /// </summary>
    /// <typeparam name="T">What <paramref name="read"/> returns.</typeparam>
    /// <param name="env">The ML.NET environment.</param>
    /// <param name="source">A readable, seekable stream holding the zip; left open.</param>
    /// <param name="directory">The folder inside the zip.</param>
    /// <param name="version">The component's identity and readable formats (checked first).</param>
    /// <param name="read">Reads the component.</param>
    public static T Read<T>(IHostEnvironment env, Stream source, string directory, FossilModelVersion version, Func<FossilModelReader, T> read)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(read);
        using var repository = RepositoryReader.Open(source, env);
        using Repository.Entry entry = repository.OpenEntryOrNull(directory, ModelLoadContext.ModelStreamName)
            ?? throw new FormatException($"The model has no component in '{directory}'.");
        using var ctx = new ModelLoadContext(repository, entry, directory);
        T result = read(FossilModelReader.Begin(ctx, version));
        ctx.Done();
        return result;
    }
}
