using Microsoft.ML.Fossil.Native;
using TorchSharp;

namespace Microsoft.ML.Fossil.Tests;

/// <summary>The build step that makes TorchSharp load on hosts with an older libstdc++.</summary>
public class NativeLoadTests
{
    static string PackagedLibTorchSharp()
    {
        // The untouched file in the NuGet cache, as TorchSharp ships it.
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                      ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    static string OutputLibTorchSharp() =>
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void Torch_loads_in_the_test_process()
    {
        TorchRuntime.EnsureLoaded();
        using var sum = torch.ones(3).sum();
        Assert.Equal(3f, sum.item<float>());
    }

    [Fact]
    public void Patcher_marks_only_the_glibcxx_3_4_32_requirement_weak_and_is_idempotent()
    {
        if (!OperatingSystem.IsLinux()) return;
        string original = PackagedLibTorchSharp();
        Assert.True(File.Exists(original), $"expected TorchSharp's native library at {original}");
        Assert.False(LibTorchSharpElfPatcher.IsWeak(original), "the NuGet cache copy must never be modified");

        string dir = Directory.CreateTempSubdirectory("fossil-elf-").FullName;
        try
        {
            string copy = Path.Combine(dir, "libLibTorchSharp.so");
            File.Copy(original, copy);
            Assert.Equal(ElfPatchResult.Patched, LibTorchSharpElfPatcher.Patch(copy));
            Assert.True(LibTorchSharpElfPatcher.IsWeak(copy));
            Assert.Equal(ElfPatchResult.AlreadyPatched, LibTorchSharpElfPatcher.Patch(copy));

            // Exactly two bytes (the vna_flags field) differ from the original.
            byte[] before = File.ReadAllBytes(original), after = File.ReadAllBytes(copy);
            Assert.Equal(before.Length, after.Length);
            int differing = before.Zip(after).Count(p => p.First != p.Second);
            Assert.InRange(differing, 1, 2);

            // A requirement the file does not have is reported, not invented.
            Assert.Equal(ElfPatchResult.NotRequired, LibTorchSharpElfPatcher.Patch(copy, "GLIBCXX_9.9.99"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Build_output_copy_is_patched_when_the_host_lacks_the_version()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(File.Exists(OutputLibTorchSharp()));
        if (LibTorchSharpElfPatcher.HostProvides())
            Assert.False(LibTorchSharpElfPatcher.IsWeak(OutputLibTorchSharp()), "hosts that have the version are left untouched");
        else
            Assert.True(LibTorchSharpElfPatcher.IsWeak(OutputLibTorchSharp()));
    }

    [Fact]
    public void Unpatched_library_on_an_old_host_gives_a_message_naming_the_cause()
    {
        if (!OperatingSystem.IsLinux() || LibTorchSharpElfPatcher.HostProvides()) return;
        string dir = Directory.CreateTempSubdirectory("fossil-unpatched-").FullName;
        try
        {
            string copy = Path.Combine(dir, "libLibTorchSharp.so");
            File.Copy(PackagedLibTorchSharp(), copy);
            // Its libtorch dependencies sit beside it, as in a real output folder.
            foreach (string dependency in Directory.GetFiles(Path.GetDirectoryName(OutputLibTorchSharp())!, "lib*.so*"))
                if (Path.GetFileName(dependency) != "libLibTorchSharp.so")
                    File.CreateSymbolicLink(Path.Combine(dir, Path.GetFileName(dependency)), dependency);
            string? message = TorchRuntime.DescribeLibraryLoadFailure(copy);
            Assert.NotNull(message);
            Assert.Contains("GLIBCXX_3.4.32", message);
            Assert.Contains("FossilPatchLibTorchSharp", message);
            Assert.Contains(copy, message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Missing_native_library_names_the_folder_and_the_package_to_add()
    {
        string empty = Directory.CreateTempSubdirectory("fossil-empty-").FullName;
        try
        {
            string message = TorchRuntime.DescribeLoadFailure(empty);
            Assert.Contains(empty, message);
            Assert.Contains("libtorch-cpu-linux-x64", message);
        }
        finally { Directory.Delete(empty, recursive: true); }
    }
}
