using System.Collections.Concurrent;
using Microsoft.ML.Fossil.Modeling;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Weight hashes already computed, keyed by the files they came from (path, length and last write time of each):
/// loading the same unchanged backbone again (every <c>Model.Load</c> of a model trained on it) skips hashing it
/// again; a file rewritten since is hashed anew. Owned by a FossilSettings object, so its lifetime and sharing are
/// the caller's choice.
/// </summary>
internal sealed class WeightHashMemory
{
    readonly ConcurrentDictionary<string, string> hashesByFiles = new(StringComparer.Ordinal);

    /// <summary>Forgets every remembered hash.</summary>
    public void Clear() => hashesByFiles.Clear();

    /// <summary>The state of <paramref name="files"/> now; take it before they are read.</summary>
    public static string KeyOf(IEnumerable<string> files) =>
        string.Join('\n', files.Order(StringComparer.Ordinal).Select(path =>
        {
            var info = new FileInfo(path);
            return $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        }));

    /// <summary>The weights identity of <paramref name="encoder"/>, read from <paramref name="filesKey"/>'s files.</summary>
    public string IdentityOf(EncoderModel encoder, string filesKey) => hashesByFiles.GetOrAdd(filesKey, _ => WeightsIdentity.Sha256(encoder));
}
