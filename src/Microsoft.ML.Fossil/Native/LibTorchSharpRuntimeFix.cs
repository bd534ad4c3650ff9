using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Microsoft.ML.Fossil.Native;

/// <summary>
/// The native-load fix of <c>buildTransitive/LibTorchSharpNativeFix.cs</c> applied at run time, for hosts that run
/// no MSBuild step (notebook kernels, scripts, applications built on another machine or with the step turned off):
/// before TorchSharp loads <c>libLibTorchSharp.so</c>, a private copy with the GLIBCXX_3.4.32 requirement marked
/// weak is written to a per-user cache folder and loaded. TorchSharp's own load then finds it already loaded: the
/// system loader matches a bare library name against the sonames of loaded libraries, and TorchSharp ends every
/// search with the bare name. The NuGet cache and the application folder are never written.
/// </summary>
internal static class LibTorchSharpRuntimeFix
{
    const string FileName = "libLibTorchSharp.so";

    /// <summary>What <see cref="Apply"/> did: the library TorchSharp would load, the private copy loaded instead, and why.</summary>
    internal sealed record Outcome(string? Original, string? PrivateCopy, string Description);

    /// <summary>
    /// The default cache folder of the private copies: <c>~/.cache/microsoft-ml-fossil/native</c>, or null when the
    /// process has no home folder.
    /// </summary>
    internal static string? DefaultCacheRoot()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length == 0 ? null : Path.Combine(home, ".cache", "microsoft-ml-fossil", "native");
    }

    /// <summary>
    /// Applies the fix for the TorchSharp in <paramref name="torchSharp"/> when this host needs it
    /// (<paramref name="hostProvides"/>: the host's libstdc++ has the version, so nothing is done). Never throws for
    /// a fix it cannot apply: the outcome says why, and TorchSharp's own load then reports the failure.
    /// Must run before anything touches <c>torch</c> (whose type initializer loads the native library).
    /// </summary>
    internal static Outcome Apply(Assembly torchSharp, string? cacheRoot, bool hostProvides)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return new(null, null, "not needed: TorchSharp's Linux x64 library is the only one with the requirement");
        if (hostProvides)
            return new(null, null, $"not needed: this host's libstdc++ provides {LibTorchSharpElfPatcher.RequiredVersion}");
        string? original = Locate(torchSharp);
        if (original is null)
            return new(null, null, $"not applied: no {FileName} was found where TorchSharp looks for it");
        try
        {
            // IsWeak is also true when the file does not require the version at all (a TorchSharp built without it).
            if (LibTorchSharpElfPatcher.IsWeak(original))
                return new(original, null, $"not needed: '{original}' does not require {LibTorchSharpElfPatcher.RequiredVersion} strictly (the build step patched it)");
            if (cacheRoot is null)
                return new(original, null, "not applied: this process has no home folder for the private copy");
            string copy = WritePrivateCopy(original, cacheRoot);
            LoadDependencies(original, torchSharp);
            NativeLibrary.Load(copy);
            return new(original, copy, $"applied: loaded '{copy}', a copy of '{original}' with the {LibTorchSharpElfPatcher.RequiredVersion} requirement marked weak");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or DllNotFoundException or BadImageFormatException)
        {
            return new(original, null, $"failed: {e.Message}");
        }
    }

    /// <summary>
    /// The libLibTorchSharp.so that TorchSharp's load by name would reach first: in the host's native search folders
    /// (an application's <c>runtimes/linux-x64/native</c>), beside TorchSharp.dll, or in TorchSharp's NuGet package
    /// when TorchSharp.dll is loaded from the package itself (notebook kernels and scripts do that).
    /// </summary>
    internal static string? Locate(Assembly torchSharp)
    {
        var folders = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchFolders)
            folders.AddRange(searchFolders.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        if (Path.GetDirectoryName(torchSharp.Location) is { Length: > 0 } assemblyFolder)
        {
            folders.Add(assemblyFolder);
            // <package>/lib/<framework>/TorchSharp.dll -> <package>/runtimes/linux-x64/native/
            folders.Add(Path.Combine(assemblyFolder, "..", "..", "runtimes", "linux-x64", "native"));
        }
        return folders.Select(folder => Path.GetFullPath(Path.Combine(folder, FileName))).FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// Writes the patched copy of <paramref name="original"/> to <c>cacheRoot/&lt;hash of the original&gt;/</c> unless
    /// an identical one is there; returns its path. The file is replaced by a rename, so a process that has the old
    /// one loaded, or another process writing the same copy, is never disturbed.
    /// </summary>
    internal static string WritePrivateCopy(string original, string cacheRoot)
    {
        byte[] image = File.ReadAllBytes(original);
        string folder = Path.Combine(cacheRoot, Convert.ToHexStringLower(SHA256.HashData(image))[..16]);
        string copy = Path.Combine(folder, FileName);
        LibTorchSharpElfPatcher.PatchInMemory(image, LibTorchSharpElfPatcher.RequiredVersion, original);
        if (File.Exists(copy) && File.ReadAllBytes(copy).AsSpan().SequenceEqual(image))
            return copy;
        Directory.CreateDirectory(folder);
        string temporary = $"{copy}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, copy, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);   // no-op once moved
        }
        return copy;
    }

    /// <summary>
    /// Loads libtorch.so (which brings libtorch_cpu.so and libc10.so), the libraries libLibTorchSharp.so needs: they
    /// sit beside the original, not beside the copy, whose <c>$ORIGIN</c> run path therefore finds nothing. Once
    /// loaded, the loader resolves the copy's needs by their sonames.
    /// </summary>
    static void LoadDependencies(string original, Assembly torchSharp)
    {
        string beside = Path.Combine(Path.GetDirectoryName(original)!, "libtorch.so");
        if (File.Exists(beside))
            NativeLibrary.Load(beside);
        // Elsewhere (a notebook kernel: libtorch is in its own package), as TorchSharp itself finds it.
        else if (!NativeLibrary.TryLoad("torch", torchSharp, null, out _))
            throw new DllNotFoundException($"libtorch.so, which {FileName} needs, was found neither beside '{original}' nor by the host's native library search; reference a libtorch runtime package (libtorch-cpu-linux-x64 2.10.0 for CPU).");
    }
}
