using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.Fossil.Native;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Tests.MLNetInternals;
using TorchSharp;

namespace Microsoft.ML.Fossil.Tests;

/// <summary>
/// The native-load fix at run time (docs/native-loading.md), for hosts that run no MSBuild step: a private, patched
/// copy of libLibTorchSharp.so in a per-user cache, loaded before TorchSharp loads its own.
/// </summary>
public sealed class NativeLoadRuntimeFixTests : IDisposable
{
    static readonly DateTime Marked = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    readonly string folder = Directory.CreateTempSubdirectory("fossil-runtime-fix-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    static string PackagedLibTorchSharp()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                      ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    [Fact]
    public void The_private_copy_is_patched_keyed_by_the_original_and_rewritten_only_when_it_differs()
    {
        if (!OperatingSystem.IsLinux()) return;
        string original = Path.Combine(folder, "app", "libLibTorchSharp.so");
        Directory.CreateDirectory(Path.GetDirectoryName(original)!);
        File.Copy(PackagedLibTorchSharp(), original);
        byte[] originalBytes = File.ReadAllBytes(original);
        string cache = Path.Combine(folder, "cache");

        string copy = LibTorchSharpRuntimeFix.WritePrivateCopy(original, cache);
        Assert.Equal(Path.Combine(cache, Convert.ToHexStringLower(SHA256.HashData(originalBytes))[..16], "libLibTorchSharp.so"), copy);
        Assert.True(LibTorchSharpElfPatcher.IsWeak(copy));
        Assert.False(LibTorchSharpElfPatcher.IsWeak(original));
        Assert.Equal(originalBytes, File.ReadAllBytes(original));
        // The copy differs from the original in the flag bytes only.
        Assert.InRange(originalBytes.Zip(File.ReadAllBytes(copy)).Count(p => p.First != p.Second), 1, 2);

        // Found as it should be: reused, not rewritten (a rewrite would give it a new time).
        File.SetLastWriteTimeUtc(copy, Marked);
        Assert.Equal(copy, LibTorchSharpRuntimeFix.WritePrivateCopy(original, cache));
        Assert.Equal(Marked, File.GetLastWriteTimeUtc(copy));

        // Damaged (a write cut short): replaced by a whole one.
        File.WriteAllBytes(copy, originalBytes[..4096]);
        Assert.Equal(copy, LibTorchSharpRuntimeFix.WritePrivateCopy(original, cache));
        Assert.True(LibTorchSharpElfPatcher.IsWeak(copy));
        Assert.Equal(originalBytes.Length, new FileInfo(copy).Length);
        Assert.Equal([copy], Directory.GetFiles(Path.GetDirectoryName(copy)!));   // no temporary file left behind
    }

    [Fact]
    public void Nothing_is_done_where_the_host_has_the_version_or_the_library_is_already_patched()
    {
        string cache = Path.Combine(folder, "cache");
        var fix = LibTorchSharpRuntimeFix.Apply(typeof(torch).Assembly, cache, hostProvides: true);
        Assert.Null(fix.PrivateCopy);
        Assert.False(Directory.Exists(cache));

        if (!OperatingSystem.IsLinux()) return;
        // This test process's own copy (the build output's) is patched by the build step on an old host.
        string? own = LibTorchSharpRuntimeFix.Locate(typeof(torch).Assembly);
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"), own);
        if (LibTorchSharpElfPatcher.IsWeak(own!))
        {
            fix = LibTorchSharpRuntimeFix.Apply(typeof(torch).Assembly, cache, hostProvides: false);
            Assert.Null(fix.PrivateCopy);
            Assert.Contains("build step", fix.Description);
            Assert.False(Directory.Exists(cache));
        }
    }

    /// <summary>
    /// The fresh-process runner copied into an application folder whose libLibTorchSharp.so is TorchSharp's own, as a
    /// build with FossilPatchLibTorchSharp=false (or on another machine) leaves it: it trains and saves a model in one
    /// process and loads and applies it in another, each time through the private copy.
    /// </summary>
    [Fact]
    public void An_application_without_the_build_step_trains_and_loads_models_through_the_private_copy()
    {
        if (!OperatingSystem.IsLinux()) return;
        string app = UnpatchedApplication();
        string appLibrary = Path.Combine(app, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.False(LibTorchSharpElfPatcher.IsWeak(appLibrary));
        string home = Path.Combine(folder, "home");
        Directory.CreateDirectory(home);
        string cache = Path.Combine(home, ".cache", "microsoft-ml-fossil", "native");

        string model = Path.Combine(folder, "model.zip");
        Run(app, home, "fit", FineFoods.PathOf("fine_foods_train.tsv"), model, "--rows", "16", "--epochs", "1");
        Assert.True(File.Exists(model));
        string[] copies = Directory.Exists(cache) ? Directory.GetFiles(cache, "libLibTorchSharp.so", SearchOption.AllDirectories) : [];
        if (LibTorchSharpElfPatcher.HostProvides())
        {
            Assert.Empty(copies);   // a host whose libstdc++ has the version needs no copy
        }
        else
        {
            string copy = Assert.Single(copies);
            Assert.True(LibTorchSharpElfPatcher.IsWeak(copy));
            File.SetLastWriteTimeUtc(copy, Marked);

            string input = Path.Combine(folder, "input.tsv");
            File.WriteAllText(input, "Absolutely wonderful, I loved it.\t1\nStale and bland.\t0\n", new UTF8Encoding(false));
            Run(app, home, "transform", model, input, Path.Combine(folder, "out.json"));
            Assert.Contains("\"rows\"", File.ReadAllText(Path.Combine(folder, "out.json")));
            Assert.Equal(Marked, File.GetLastWriteTimeUtc(copy));   // the second process reused the first one's copy
        }
        // Neither the application folder nor the NuGet cache was written to, and TorchSharp never fell back to
        // copying libtorch into a folder of its own.
        Assert.False(LibTorchSharpElfPatcher.IsWeak(appLibrary));
        Assert.False(LibTorchSharpElfPatcher.IsWeak(PackagedLibTorchSharp()));
        Assert.False(Directory.Exists(Path.Combine(app, "cpu")), "TorchSharp fell back to consolidating libtorch into the app folder");
    }

    /// <summary>
    /// A copy of the runner's output folder with TorchSharp's own libLibTorchSharp.so; the native libraries under
    /// runtimes/ (libtorch: 480 MB) are linked, not copied.
    /// </summary>
    string UnpatchedApplication()
    {
        string source = Path.GetDirectoryName(FreshProcessTests.RunnerPath())!;
        string app = Path.Combine(folder, "app");
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(source, file);
            string target = Path.Combine(app, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (relative == Path.Combine("runtimes", "linux-x64", "native", "libLibTorchSharp.so"))
                File.Copy(PackagedLibTorchSharp(), target);
            else if (relative.StartsWith("runtimes" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                File.CreateSymbolicLink(target, file);
            else
                File.Copy(file, target);
        }
        return app;
    }

    static void Run(string app, string home, params string[] arguments)
    {
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(app, Path.GetFileName(FreshProcessTests.RunnerPath())));
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // A home of its own (where the private copy goes), and the NuGet cache of this one (the MiniLM's package).
        start.Environment["HOME"] = home;
        start.Environment["NUGET_PACKAGES"] = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(PackagedLibTorchSharp())!, "..", "..", "..", "..", ".."));
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{arguments[0]} did not finish in 5 minutes");
        }
        Assert.True(process.ExitCode == 0, $"{arguments[0]} failed ({process.ExitCode}):\n{stderr.Result}{stdout.Result}");
    }
}
