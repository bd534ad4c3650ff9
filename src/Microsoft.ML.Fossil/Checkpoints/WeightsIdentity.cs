using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// A format-independent SHA-256 of a set of weights: the same tensors give the same hash whether
/// they came from safetensors, a PyTorch checkpoint or an ONNX export. Used to find and verify the
/// frozen backbone that a compact model file refers to.
/// </summary>
public static class WeightsIdentity
{
    /// <summary>
    /// Hashes every tensor in ordinal name order: its name, its shape and its values widened to
    /// little-endian float32 (the storage dtype is left out on purpose: the identity is of the
    /// values the model computes with). Returns lowercase hex.
    /// </summary>
    public static string Sha256(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in tensors.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}|{string.Join(",", tensor.shape)}|"));
            using Tensor values = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
            hash.AppendData(values.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Hashes a module's state dict (parameters and buffers, names relative to the module).</summary>
    public static string Sha256(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return Sha256(module.state_dict());
    }
}
