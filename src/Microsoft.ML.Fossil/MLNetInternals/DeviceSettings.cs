using Microsoft.ML.Runtime;

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>
/// <c>MLContext.GpuDeviceId</c> and <c>MLContext.FallbackToCpu</c> as the trainer sees them: the
/// catalogs hand trainers the context's inner environment, which carries the two settings through
/// ML.NET's internal <c>IHostEnvironmentInternal</c>.
/// </summary>
internal static class DeviceSettings
{
    /// <summary>The GPU the user asked for (null: CPU) and whether to fall back to the CPU without CUDA.</summary>
    public static (int? GpuDeviceId, bool FallbackToCpu) Of(IHostEnvironment env) => env switch
    {
        IHostEnvironmentInternal settings => (settings.GpuDeviceId, settings.FallbackToCpu),
        _ => (null, false),
    };
}
