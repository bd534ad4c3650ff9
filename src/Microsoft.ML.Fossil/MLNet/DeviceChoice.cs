using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.MLNet;

/// <summary>
/// The device a context asks for, as ML.NET's own GPU trainers decide it: <c>MLContext.GpuDeviceId</c> names a
/// CUDA device; without CUDA, <c>MLContext.FallbackToCpu</c> decides between the CPU (with a warning) and an error.
/// Applies to training and to loading a model alike.
/// </summary>
internal static class DeviceChoice
{
    const string Reason = "CUDA is not available to TorchSharp (no CUDA libtorch runtime package such as libtorch-cuda-12.8-linux-x64 is " +
                          "referenced, or no GPU/driver was found)";

    /// <summary>Resolves the device for <paramref name="purpose"/> ("training", "the loaded model").</summary>
    public static Device Resolve(IHostEnvironment env, FossilChannel channel, string purpose)
    {
        (int? gpuDeviceId, bool fallbackToCpu) = ContextSettings.Device(env);
        if (gpuDeviceId is not int gpu) return CPU;
        Native.TorchRuntime.EnsureLoaded();
        if (cuda.is_available()) return new Device(TorchSharp.DeviceType.CUDA, gpu);
        if (fallbackToCpu)
        {
            channel.Warning($"MLContext.GpuDeviceId is {gpu} but {Reason}; running {purpose} on the CPU (FallbackToCpu is set).");
            return CPU;
        }
        throw new InvalidOperationException($"MLContext.GpuDeviceId is {gpu} but {Reason}. Set MLContext.FallbackToCpu = true to run {purpose} on the CPU instead.");
    }
}
