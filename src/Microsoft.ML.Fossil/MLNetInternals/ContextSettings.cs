using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// What an <see cref="MLContext"/> tells the components it creates, read from the environment ML.NET hands to
/// trainers and model loaders (the context's inner environment, through ML.NET's internal
/// <c>IHostEnvironmentInternal</c> and <c>ICancelable</c>): the GPU choice, the seed, whether
/// <c>CancelExecution</c> was called, and the options set with <c>MLContext.SetOption</c>.
/// </summary>
internal static class ContextSettings
{
    /// <summary><c>MLContext.GpuDeviceId</c> (null: CPU) and <c>MLContext.FallbackToCpu</c>.</summary>
    public static (int? GpuDeviceId, bool FallbackToCpu) Device(IHostEnvironment env) => env switch
    {
        IHostEnvironmentInternal settings => (settings.GpuDeviceId, settings.FallbackToCpu),
        _ => (null, false),
    };

    /// <summary>The seed of <c>new MLContext(seed)</c>, or null when the context was created without one.</summary>
    public static int? Seed(IHostEnvironment env) => env is IHostEnvironmentInternal settings ? settings.Seed : null;

    /// <summary>Whether <c>MLContext.CancelExecution()</c> was called on the context.</summary>
    public static bool IsCancelled(IHostEnvironment env) => env is ICancelable { IsCanceled: true };

    /// <summary>The option <paramref name="name"/> set with <c>MLContext.SetOption</c>, or null.</summary>
    public static T? Option<T>(IHostEnvironment env, string name) where T : class =>
        env is IHostEnvironmentInternal settings && settings.TryGetOption(name, out T? value) ? value : null;
}
