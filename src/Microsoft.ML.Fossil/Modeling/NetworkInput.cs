using Microsoft.ML.Fossil.Collation;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Modeling;

/// <summary>
/// A collated batch as the encoder takes it: int64 tensors <c>[B, T]</c> on the network's device. Owns its
/// tensors: dispose it (or let an enclosing <c>torch.NewDisposeScope()</c> do so) when done.
/// </summary>
internal sealed class NetworkInput : IDisposable
{
    NetworkInput(Tensor inputIds, Tensor tokenTypeIds, Tensor attentionMask)
    {
        InputIds = inputIds;
        TokenTypeIds = tokenTypeIds;
        AttentionMask = attentionMask;
    }

    /// <summary>Token ids <c>[B, T]</c>.</summary>
    public Tensor InputIds { get; }

    /// <summary>Token type ids <c>[B, T]</c>.</summary>
    public Tensor TokenTypeIds { get; }

    /// <summary>Attention mask <c>[B, T]</c>: 1 for tokens, 0 for padding.</summary>
    public Tensor AttentionMask { get; }

    /// <summary>Copies <paramref name="batch"/> into tensors on <paramref name="device"/>.</summary>
    public static NetworkInput From(TokenBatch batch, Device device)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Native.TorchRuntime.EnsureLoaded();
        long[] shape = batch.Shape;
        Tensor? ids = null, types = null, mask = null;
        try
        {
            ids = tensor(batch.InputIds, shape, int64, device);
            types = tensor(batch.TokenTypeIds, shape, int64, device);
            mask = tensor(batch.AttentionMask, shape, int64, device);
            return new NetworkInput(ids, types, mask);
        }
        catch
        {
            ids?.Dispose();
            types?.Dispose();
            mask?.Dispose();
            throw;
        }
    }

    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        InputIds.Dispose();
        TokenTypeIds.Dispose();
        AttentionMask.Dispose();
    }
}
