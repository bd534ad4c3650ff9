using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>Receives one piece of a tensor's storage.</summary>
internal delegate void BytesAction(Span<byte> bytes);

/// <summary>A contiguous CPU tensor's storage as byte spans, in order.</summary>
internal static class TensorBytes
{
    /// <summary>Largest piece handed out: spans are int-sized, so a tensor over 2 GiB comes in several.</summary>
    const long PieceBytes = 1L << 30;

    /// <summary>Calls <paramref name="action"/> on the storage of <paramref name="contiguous"/>, piece by piece, without copying.</summary>
    public static void ForEachPiece(Tensor contiguous, BytesAction action)
    {
        if (contiguous.NumberOfElements * contiguous.ElementSize <= PieceBytes)
        {
            action(contiguous.bytes);
            return;
        }
        using Tensor flat = contiguous.view(-1);
        long elements = flat.NumberOfElements, piece = Math.Max(1, PieceBytes / contiguous.ElementSize);
        for (long start = 0; start < elements; start += piece)
        {
            using Tensor part = flat.narrow(0, start, Math.Min(piece, elements - start));
            action(part.bytes);
        }
    }
}
