using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>A Fossil component that <c>mlContext.Model.Load</c> can create through <see cref="FossilLoader{T}"/>.</summary>
/// <typeparam name="TSelf">The component itself.</typeparam>
internal interface ILoadableFossilComponent<TSelf>
{
    /// <summary>The component's signature and format versions.</summary>
    static abstract FossilModelVersion Version { get; }

    /// <summary>Reads the component from the stream <paramref name="reader"/> has checked the header of.</summary>
    static abstract TSelf Load(FossilModelReader reader, IHostEnvironment env);
}

/// <summary>
/// ML.NET's entry point for loading a Fossil component: the loader type of its <c>[assembly: LoadableClass]</c>
/// attribute (<c>typeof(FossilLoader&lt;TheComponent&gt;)</c>). ML.NET finds the private static <c>Create</c> by
/// reflection and passes an <c>ModelLoadContext</c>, an ML.NET internal, which is why this lives here; the component
/// reads its own fields through <see cref="FossilModelReader"/>.
/// </summary>
/// <typeparam name="T">The component.</typeparam>
internal static class FossilLoader<T> where T : class, ILoadableFossilComponent<T>
{
    static T Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        return T.Load(FossilModelReader.Begin(ctx, T.Version), env);
    }
}
