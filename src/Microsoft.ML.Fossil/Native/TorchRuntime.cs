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
    static readonly Lazy<(Exception? Failure, LibTorchSharpRuntimeFix.Outcome Fix)> Load = new(TryInitialize, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Makes sure TorchSharp's native library is loaded; throws <see cref="TorchNativeLoadException"/>
    /// naming the cause when it is not. Cheap after the first call.
    /// </summary>
    /// <remarks>
    /// On Linux hosts whose libstdc++ lacks GLIBCXX_3.4.32 the first call loads a patched private copy of
    /// libLibTorchSharp.so when the one TorchSharp would load is not patched (docs/native-loading.md).
    /// </remarks>
    public static void EnsureLoaded()
    {
        if (Load.Value is ({ } failure, var fix))
        {
            // The library that was meant to load: the private copy when the run-time fix made one.
            string message = (fix.PrivateCopy ?? fix.Original) is { } library
                ? DescribeLibraryLoadFailure(library) ?? $"TorchSharp failed to initialise although '{library}' loads; see the inner exception."
                : DescribeLoadFailure(AppContext.BaseDirectory);
            throw new TorchNativeLoadException($"{message} Run-time fix: {fix.Description.TrimEnd('.')}.", failure);
        }
    }

    static (Exception?, LibTorchSharpRuntimeFix.Outcome) TryInitialize()
    {
        // Before anything touches `torch`: its type initializer loads the native library.
        var fix = LibTorchSharpRuntimeFix.Apply(typeof(torch).Assembly, LibTorchSharpRuntimeFix.DefaultCacheRoot(),
            hostProvides: OperatingSystem.IsLinux() && LibTorchSharpElfPatcher.HostProvides());
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            return (null, fix);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or BadImageFormatException)
        {
            return (e, fix);
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
                       "Microsoft.ML.Fossil marks that requirement weak in the copy of libLibTorchSharp.so in the build output (build step) " +
                       "and, when that copy is not patched, in a private copy under ~/.cache/microsoft-ml-fossil/native that it loads first (run time): " +
                       "rebuild the application so that the build step runs (check that the property FossilPatchLibTorchSharp is not 'false'), " +
                       "make the home folder writable for the private copy, or install a libstdc++ that provides the version.";
        }
        return message;
    }

    static string NativeFileName =>
        OperatingSystem.IsWindows() ? "LibTorchSharp.dll" : OperatingSystem.IsMacOS() ? "libLibTorchSharp.dylib" : "libLibTorchSharp.so";
}
