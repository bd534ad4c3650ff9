namespace Microsoft.ML.Fossil;

/// <summary>
/// The floating-point format the frozen backbone's weights and activations use, in training
/// (<see cref="FossilTrainerOptions.Precision"/>) and in serving (<see cref="FossilSettings.ServingPrecision"/>).
/// Adapters, the head, gradients, optimizer state and the loss are always fp32, and a saved model never depends on it.
/// </summary>
public enum Precision
{
    /// <summary>
    /// bf16 where the device computes it natively (a CPU with AVX512-BF16 or AMX, a CUDA GPU of compute capability 8.0
    /// or later), fp32 elsewhere.
    /// </summary>
    Auto,
    /// <summary>fp32 throughout: the reference numerics, on every device.</summary>
    Float32,
    /// <summary>bf16 backbone (fp32's range, 8 significant bits): about half the memory and, where native, 2 to 4 x the GEMM speed.</summary>
    BFloat16,
    /// <summary>fp16 backbone, on CUDA GPUs only; training scales the loss dynamically so gradients do not underflow.</summary>
    Float16,
}
