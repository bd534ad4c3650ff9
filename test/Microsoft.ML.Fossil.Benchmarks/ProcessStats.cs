using System.Globalization;
using System.Runtime.InteropServices;

namespace Microsoft.ML.Fossil.Benchmarks;

/// <summary>Process memory and CPU time, from /proc and getrusage (Linux).</summary>
internal static partial class ProcessStats
{
    /// <summary>Resident set size now (VmRSS), bytes; 0 where /proc is not available.</summary>
    public static long Rss() => TestShared.ProcessMemory.StatusBytes("VmRSS") ?? 0;

    /// <summary>Peak resident set size (VmHWM) since the process started or since <see cref="ResetPeak"/>, bytes.</summary>
    public static long PeakRss() => TestShared.ProcessMemory.StatusBytes("VmHWM") ?? 0;

    /// <summary>
    /// Resets VmHWM to the current RSS (Linux >= 4.0: "5" written to /proc/self/clear_refs), so that
    /// the next <see cref="PeakRss"/> reports the peak of what runs in between. False if not possible.
    /// </summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct RUsage
    {
        public TimeVal User;
        public TimeVal System;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVcsw, NIvcsw;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRUsage(int who, out RUsage usage);

    /// <summary>CPU time (user + system, all threads) of this process so far, milliseconds.</summary>
    public static double CpuMilliseconds()
    {
        if (OperatingSystem.IsLinux() && GetRUsage(0, out RUsage u) == 0)
            return (u.User.Seconds + u.System.Seconds) * 1000.0 + (u.User.Microseconds + u.System.Microseconds) / 1000.0;
        return System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
    }

    /// <summary>
    /// Full blocking GC with LOH compaction, then glibc's malloc_trim: memory freed by earlier work
    /// (a model load's transient buffers) goes back to the OS, so that RSS figures taken next compare
    /// between processes.
    /// </summary>
    public static void ReleaseFreedMemory()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect();
        TestShared.ProcessMemory.TrimNativeHeap();
    }

    /// <summary>The 1-minute load average, or NaN.</summary>
    public static double LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return double.NaN;
        }
    }

    /// <summary>The CPU model name from /proc/cpuinfo.</summary>
    public static string CpuName()
    {
        try
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    /// <summary>Physical memory, bytes.</summary>
    public static long TotalMemory() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
}

/// <summary>Small statistics helpers.</summary>
internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        double[] v = [.. values.Order()];
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>Nearest-rank percentile (p in 0..100).</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        double[] v = [.. values.Order()];
        if (v.Length == 0) return double.NaN;
        int rank = (int)Math.Ceiling(p / 100.0 * v.Length);
        return v[Math.Clamp(rank - 1, 0, v.Length - 1)];
    }
}
