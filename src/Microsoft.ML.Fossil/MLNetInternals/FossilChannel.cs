using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// Messages to <c>MLContext.Log</c> through an ML.NET channel: training progress shows up wherever
/// the application listens to ML.NET's log.
/// </summary>
internal sealed class FossilChannel : IDisposable
{
    readonly IChannel channel;

    public FossilChannel(IHostEnvironment env, string name)
    {
        ArgumentNullException.ThrowIfNull(env);
        channel = env.Start(name);
    }

    /// <summary>An informational message.</summary>
    public void Info(string message) => channel.Info(MessageSensitivity.None, message);

    /// <summary>A warning.</summary>
    public void Warning(string message) => channel.Warning(MessageSensitivity.None, message);

    /// <inheritdoc />
    public void Dispose() => channel.Dispose();
}
