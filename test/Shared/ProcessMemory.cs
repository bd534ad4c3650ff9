using System.Globalization;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Fossil.TestShared;

/// <summary>
/// This process's memory as Linux reports it, and glibc's trim. Shared by the benchmarks and the
/// fresh-process runner (linked into both).
/// </summary>
internal static class ProcessMemory
{
    /// <summary>A kB field of /proc/self/status (VmRSS, VmHWM, RssAnon, RssFile, ...) in bytes; null where there is none.</summary>
    public static long? StatusBytes(string field)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                    return long.Parse(line[(field.Length + 1)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not Linux
        }
        return null;
    }

    /// <summary>Returns glibc's free heap memory to the OS (malloc_trim); false where there is no glibc (not Linux, musl).</summary>
    public static bool TrimNativeHeap()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            malloc_trim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    static extern int malloc_trim(nuint pad);
}
