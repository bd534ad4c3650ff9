using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Native;

/// <summary>
/// Which floating-point format a device computes natively, and the <see cref="Precision"/> a run asked for turned into
/// the dtype the network uses. Called at the edge (the trainer's Fit, a model's load) and passed down.
/// </summary>
internal static class PrecisionSupport
{
    static readonly Lazy<CpuBFloat16> Cpu = new(DetectCpu, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>What the CPU offers for bf16 and how that was found out.</summary>
    /// <param name="Native">AVX512-BF16 or AMX: bf16 GEMMs run at about 4 x fp32's rate.</param>
    /// <param name="Avx512Bf16">The CPU has AVX512-BF16 (and the OS enabled AVX-512 state).</param>
    /// <param name="Amx">The CPU has AMX tiles.</param>
    /// <param name="Source">"libtorch" (ATen's own check, exported by libtorch_cpu) or "cpuid" (read here, when the export is absent).</param>
    internal sealed record CpuBFloat16(bool Native, bool Avx512Bf16, bool Amx, string Source);

    /// <summary>The CPU's bf16 support (detected once per process).</summary>
    internal static CpuBFloat16 CpuSupport => Cpu.Value;

    /// <summary>The dtype of <paramref name="precision"/> on <paramref name="device"/>.</summary>
    /// <param name="precision">What the options or settings ask for.</param>
    /// <param name="device">Where the network runs.</param>
    /// <param name="option">The option's name for errors, e.g. "FossilTrainerOptions.Precision".</param>
    /// <exception cref="ArgumentException"><see cref="Precision.Float16"/> on the CPU.</exception>
    public static ScalarType Resolve(Precision precision, Device device, string option) => precision switch
    {
        Precision.Float32 => ScalarType.Float32,
        Precision.BFloat16 => ScalarType.BFloat16,
        Precision.Float16 when device.type == DeviceType.CUDA => ScalarType.Float16,
        Precision.Float16 => throw new ArgumentException(
            $"{option} = Float16 runs only on a CUDA GPU: CPUs have no fast fp16 arithmetic. On the CPU use Precision.BFloat16 " +
            "(fp32's range at half the memory), Precision.Auto (bf16 where the CPU has AVX512-BF16 or AMX) or Precision.Float32.", option),
        Precision.Auto => RunsBFloat16Natively(device) ? ScalarType.BFloat16 : ScalarType.Float32,
        _ => throw new ArgumentOutOfRangeException(option, precision, $"{option} = {(int)precision} is not a Precision value."),
    };

    /// <summary>Why <see cref="Precision.Auto"/> chose what it chose on <paramref name="device"/>, for the log.</summary>
    public static string DescribeAuto(Device device)
    {
        if (device.type == DeviceType.CUDA)
            return CudaComputeCapability(device.index < 0 ? 0 : device.index) is { } cc
                ? $"CUDA device {device.index} has compute capability {cc.Major}.{cc.Minor} ({(cc.Major >= 8 ? "bf16 is native" : "bf16 needs 8.0")})"
                : $"the compute capability of CUDA device {device.index} could not be read";
        CpuBFloat16 cpu = CpuSupport;
        return cpu.Native
            ? $"the CPU has {(cpu.Avx512Bf16 ? "AVX512-BF16" : "")}{(cpu.Avx512Bf16 && cpu.Amx ? " and " : "")}{(cpu.Amx ? "AMX" : "")} (checked by {cpu.Source})"
            : $"the CPU has neither AVX512-BF16 nor AMX (checked by {cpu.Source})";
    }

    /// <summary>Short name for logs and summaries: fp32, bf16, fp16.</summary>
    public static string Name(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => dtype.ToString(),
    };

    /// <summary>Whether <paramref name="device"/> runs bf16 arithmetic in hardware (what <see cref="Precision.Auto"/> asks).</summary>
    public static bool RunsBFloat16Natively(Device device) => device.type switch
    {
        DeviceType.CPU => CpuSupport.Native,
        // Ampere (8.0) and later have bf16 tensor cores; earlier GPUs emulate bf16.
        DeviceType.CUDA => CudaComputeCapability(device.index < 0 ? 0 : device.index) is { Major: >= 8 },
        _ => false,
    };

    /// <summary>
    /// ATen's own check (at::cpu::is_avx512_bf16_supported / is_amx_tile_supported, exported by libtorch_cpu; TorchSharp does
    /// not wrap them), which is what libtorch's kernels dispatch on. Where the export is missing (another libtorch build),
    /// CPUID is read here: leaf 7 sub-leaf 1 EAX bit 5 (AVX512_BF16, usable when the OS enabled AVX-512 state), leaf 7
    /// EDX bit 24 (AMX tiles).
    /// </summary>
    static CpuBFloat16 DetectCpu()
    {
        TorchRuntime.EnsureLoaded();
        if (AtenCheck("is_avx512_bf16_supported") is bool avx512 && AtenCheck("is_amx_tile_supported") is bool amx)
            return new CpuBFloat16(avx512 || amx, avx512, amx, "libtorch");
        return ReadCpuid();
    }

    /// <summary>The fallback: the CPUID bits (and whether the runtime found AVX-512 state enabled by the OS).</summary>
    internal static CpuBFloat16 ReadCpuid()
    {
        bool cpuidBf16 = false, cpuidAmx = false;
        if (X86Base.IsSupported && X86Base.CpuId(0, 0).Eax >= 7)
        {
            cpuidBf16 = Avx512F.IsSupported && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
            cpuidAmx = (X86Base.CpuId(7, 0).Edx & (1 << 24)) != 0;
        }
        return new CpuBFloat16(cpuidBf16 || cpuidAmx, cpuidBf16, cpuidAmx, "cpuid");
    }

    static readonly string[] TorchCpuNames = ["libtorch_cpu.so", "torch_cpu.dll", "libtorch_cpu.dylib"];

    /// <summary>Calls <c>bool at::cpu::<paramref name="function"/>()</c> in libtorch_cpu; null when it cannot be found.</summary>
    static unsafe bool? AtenCheck(string function)
    {
        string itanium = $"_ZN2at3cpu{function.Length}{function}Ev";   // gcc/clang mangling of at::cpu::f()
        string msvc = $"?{function}@cpu@at@@YA_NXZ";
        foreach (string library in TorchCpuNames)
        {
            // libtorch_cpu is already loaded by TorchSharp; loading it by name returns that copy.
            if (!NativeLibrary.TryLoad(library, typeof(torch).Assembly, null, out IntPtr handle) && !NativeLibrary.TryLoad(library, out handle)) continue;
            if (NativeLibrary.TryGetExport(handle, itanium, out IntPtr export) || NativeLibrary.TryGetExport(handle, msvc, out export))
                return ((delegate* unmanaged<byte>)export)() != 0;
        }
        return null;
    }

    /// <summary>
    /// The compute capability of CUDA device <paramref name="ordinal"/> from the CUDA driver API (libcuda, always present
    /// with the NVIDIA driver; TorchSharp does not expose torch.cuda.get_device_capability); null when it cannot be read.
    /// </summary>
    internal static unsafe (int Major, int Minor)? CudaComputeCapability(int ordinal)
    {
        foreach (string library in (string[])["libcuda.so.1", "libcuda.so", "nvcuda.dll"])
        {
            if (!NativeLibrary.TryLoad(library, out IntPtr handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cuInit", out IntPtr init)
                || !NativeLibrary.TryGetExport(handle, "cuDeviceGet", out IntPtr get)
                || !NativeLibrary.TryGetExport(handle, "cuDeviceGetAttribute", out IntPtr attribute)) continue;
            const int ComputeCapabilityMajor = 75, ComputeCapabilityMinor = 76;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*
            int device = 0, major = 0, minor = 0;
            if (((delegate* unmanaged<uint, int>)init)(0) != 0) return null;
            if (((delegate* unmanaged<int*, int, int>)get)(&device, ordinal) != 0) return null;
            if (((delegate* unmanaged<int*, int, int, int>)attribute)(&major, ComputeCapabilityMajor, device) != 0) return null;
            if (((delegate* unmanaged<int*, int, int, int>)attribute)(&minor, ComputeCapabilityMinor, device) != 0) return null;
            return (major, minor);
        }
        return null;
    }
}
