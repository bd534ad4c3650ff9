using System.Runtime.InteropServices;
using TorchSharp;

namespace Microsoft.ML.Fossil.Native;

/// <summary>
/// Thrown when TorchSharp's native library cannot be loaded; the message names the real cause
/// (TorchSharp itself reports a misleading "doesn't contain a reference to libtorch" error).
/// </summary>
internal sealed class TorchNativeLoadException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public TorchNativeLoadException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Loads TorchSharp once and turns native load failures into actionable messages.</summary>
internal static class TorchRuntime
{
    static readonly Lazy<Exception?> LoadFailure = new(TryInitialize, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Makes sure TorchSharp's native library is loaded; throws <see cref="TorchNativeLoadException"/>
    /// naming the cause when it is not. Cheap after the first call.
    /// </summary>
    public static void EnsureLoaded()
    {
        if (LoadFailure.Value is { } failure)
            throw new TorchNativeLoadException(DescribeLoadFailure(AppContext.BaseDirectory), failure);
    }

    static Exception? TryInitialize()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            return null;
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or BadImageFormatException)
        {
            return e;
        }
    }

    /// <summary>Explains why libLibTorchSharp cannot be loaded from <paramref name="applicationDirectory"/>.</summary>
    internal static string DescribeLoadFailure(string applicationDirectory)
    {
        string[] candidates =
        [
            Path.Combine(applicationDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", NativeFileName),
            Path.Combine(applicationDirectory, "runtimes", "linux-x64", "native", NativeFileName),
            Path.Combine(applicationDirectory, NativeFileName),
        ];
        string? found = candidates.FirstOrDefault(File.Exists);
        if (found is null)
            return $"TorchSharp's native library {NativeFileName} was not found in '{applicationDirectory}'. " +
                   "Reference a libtorch runtime package (libtorch-cpu-linux-x64 2.10.0 for CPU, or a CUDA runtime package) in the application.";
        return DescribeLibraryLoadFailure(found) ??
               $"TorchSharp failed to initialise although '{found}' loads; see the inner exception.";
    }

    /// <summary>Tries to load one native library file; returns null when it loads, else the cause.</summary>
    internal static string? DescribeLibraryLoadFailure(string libraryPath)
    {
        string loaderMessage;
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(libraryPath));
            return null;
        }
        catch (DllNotFoundException e)
        {
            loaderMessage = e.Message;
        }
        catch (BadImageFormatException e)
        {
            loaderMessage = e.Message;
        }

        string message = $"TorchSharp's native library '{libraryPath}' could not be loaded. The system loader said: {loaderMessage}";
        if (loaderMessage.Contains("GLIBCXX_", StringComparison.Ordinal))
        {
            message += $" This host's libstdc++ is older than the one TorchSharp was built against (it lacks {LibTorchSharpElfPatcher.RequiredVersion}). " +
                       "Microsoft.ML.Fossil's build step marks that requirement weak in the copy of libLibTorchSharp.so in the build output: " +
                       "rebuild the application so that the step runs (check that the property FossilPatchLibTorchSharp is not 'false'), " +
                       "or install a libstdc++ that provides the version.";
        }
        return message;
    }

    static string NativeFileName =>
        OperatingSystem.IsWindows() ? "LibTorchSharp.dll" : OperatingSystem.IsMacOS() ? "libLibTorchSharp.dylib" : "libLibTorchSharp.so";
}
