using System.Buffers.Binary;
using System.Text;

namespace Microsoft.ML.Fossil.Tokenization;

/// <summary>
/// Reads SentencePiece's compiled normalization rules (<c>NormalizerSpec.precompiled_charsmap</c>): a little-endian
/// uint32 with the size of a double-array trie (Darts-clone units) over UTF-8 keys, the trie, then the
/// NUL-terminated replacement strings the trie's values point into.
/// </summary>
internal static class PrecompiledCharsmap
{
    /// <summary>The characters of the Basic Multilingual Plane that the rules replace by nothing.</summary>
    public static List<char> DeletedCharacters(byte[] charsmap)
    {
        ArgumentNullException.ThrowIfNull(charsmap);
        var deleted = new List<char>();
        if (charsmap.Length < 4) return deleted;
        int trieBytes = (int)BinaryPrimitives.ReadUInt32LittleEndian(charsmap);
        if (trieBytes < 4 || trieBytes % 4 != 0 || trieBytes > charsmap.Length - 4)
            throw new InvalidDataException($"The precompiled charsmap's trie size {trieBytes} does not fit its {charsmap.Length} bytes.");
        var units = new uint[trieBytes / 4];
        for (int i = 0; i < units.Length; i++) units[i] = BinaryPrimitives.ReadUInt32LittleEndian(charsmap.AsSpan(4 + 4 * i));
        ReadOnlySpan<byte> strings = charsmap.AsSpan(4 + trieBytes);
        Span<byte> key = stackalloc byte[4];
        for (int c = 0; c < 0x10000; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            int length = new Rune(c).EncodeToUtf8(key);
            if (Lookup(units, key[..length]) is { } value && value < strings.Length && strings[value] == 0) deleted.Add((char)c);
        }
        return deleted;
    }

    /// <summary>The value of the exact key, or null (Darts-clone's exactMatchSearch).</summary>
    static int? Lookup(uint[] units, ReadOnlySpan<byte> key)
    {
        static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);
        static uint Label(uint unit) => unit & ((1u << 31) | 0xFF);
        static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;

        uint node = 0;
        uint unit = units[0];
        foreach (byte b in key)
        {
            node ^= Offset(unit) ^ b;
            if (node >= units.Length) return null;
            unit = units[node];
            if (Label(unit) != b) return null;
        }
        if (!HasLeaf(unit)) return null;
        // The leaf's value sits in the unit the node's offset points to.
        uint leafPosition = node ^ Offset(unit);
        if (leafPosition >= units.Length) return null;
        uint leaf = units[leafPosition];
        return (int)(leaf & ((1u << 31) - 1));
    }
}
