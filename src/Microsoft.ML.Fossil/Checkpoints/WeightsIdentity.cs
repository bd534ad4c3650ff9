using System.Collections.Concurrent;
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
internal static class WeightsIdentity
{
    /// <summary>
    /// SHA-256 over every tensor in ordinal name order: its name, its shape and the SHA-256 of its
    /// values widened to little-endian float32 (the storage dtype is left out on purpose: the identity
    /// is of the values the model computes with). The per-tensor digests are computed in parallel,
    /// which is why the values enter through their own digest. Returns lowercase hex.
    /// </summary>
    public static string Sha256(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The weights identity is defined on little-endian machines.");
        KeyValuePair<string, Tensor>[] ordered = [.. tensors.OrderBy(p => p.Key, StringComparer.Ordinal)];
        var digests = new byte[ordered.Length][];
        // Largest first, so the last tensors to finish are small ones and the cores stay busy.
        int[] bySize = [.. Enumerable.Range(0, ordered.Length).OrderByDescending(i => ordered[i].Value.NumberOfElements)];
        Parallel.ForEach(Partitioner.Create(bySize, loadBalance: true), i => digests[i] = ValuesDigest(ordered[i].Value));

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = 0; i < ordered.Length; i++)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{ordered[i].Key}|{string.Join(",", ordered[i].Value.shape)}|"));
            hash.AppendData(digests[i]);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Hashes a module's state dict (parameters and buffers, names relative to the module).</summary>
    public static string Sha256(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return Sha256(module.state_dict());
    }

    /// <summary>SHA-256 of the values as little-endian fp32, read in place when they already are (no copy).</summary>
    static byte[] ValuesDigest(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        Tensor values = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        TensorBytes.ForEachPiece(values, bytes => hash.AppendData(bytes));
        return hash.GetHashAndReset();
    }
}
