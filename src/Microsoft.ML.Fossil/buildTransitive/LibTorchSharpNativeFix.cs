// The native-load fix for TorchSharp on Linux hosts whose libstdc++ predates GLIBCXX_3.4.32
// (Debian 12, Ubuntu 22.04). This one file is compiled twice: into Microsoft.ML.Fossil (with
// FOSSIL_LIBRARY defined, for runtime diagnostics and tests) and, by MSBuild's RoslynCodeTaskFactory,
// into the build task that patches the copy of libLibTorchSharp.so in a consumer's output folder.
//
// Why it works: libLibTorchSharp.so names GLIBCXX_3.4.32 only for `_ZSt21ios_base_library_initv`,
// a marker symbol with no relocation against it; every libtorch library needs at most 3.4.26.
// Marking that version requirement weak (VER_FLG_WEAK in .gnu.version_r) lets the loader accept
// the library on an older libstdc++. Only the copy in the build output is changed, never the
// NuGet cache.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Microsoft.ML.Fossil.Native
{
    /// <summary>Outcome of <see cref="LibTorchSharpElfPatcher.Patch"/> on one file.</summary>
    internal enum ElfPatchResult
    {
        /// <summary>The version requirement was marked weak and the file rewritten.</summary>
        Patched,
        /// <summary>The requirement was already weak; the file was left untouched.</summary>
        AlreadyPatched,
        /// <summary>The file does not require the version; nothing to do.</summary>
        NotRequired,
    }

    /// <summary>Edits the ELF version-needed table of a shared library.</summary>
    internal static class LibTorchSharpElfPatcher
    {
        /// <summary>The libstdc++ symbol version that TorchSharp 0.107's native library asks for.</summary>
        public const string RequiredVersion = "GLIBCXX_3.4.32";

        const uint ShtGnuVerneed = 0x6ffffffe;
        const ushort VerFlagWeak = 0x2;

        /// <summary>
        /// Marks the requirement on <paramref name="versionName"/> weak in <paramref name="path"/>,
        /// writing through a temporary file so that a hard-linked source is never modified.
        /// </summary>
        public static ElfPatchResult Patch(string path, string versionName = RequiredVersion)
        {
            byte[] image = File.ReadAllBytes(path);
            ElfPatchResult result = PatchInMemory(image, versionName, path);
            if (result == ElfPatchResult.Patched)
            {
                string temporary = path + ".fossil-patch.tmp";
                File.WriteAllBytes(temporary, image);
                // Replace the directory entry rather than writing into the file: the copy in the
                // output folder may be a hard link into the NuGet cache, which must stay intact.
                File.Delete(path);
                File.Move(temporary, path);
            }
            return result;
        }

        /// <summary>True when the requirement on <paramref name="versionName"/> is present and weak.</summary>
        public static bool IsWeak(string path, string versionName = RequiredVersion)
        {
            byte[] image = File.ReadAllBytes(path);
            foreach (int flagsOffset in FindVersionRequirements(image, versionName, path))
            {
                if ((BitConverter.ToUInt16(image, flagsOffset) & VerFlagWeak) == 0) return false;
            }
            return true;
        }

        /// <summary>Patches an ELF image held in memory; see <see cref="Patch"/>.</summary>
        public static ElfPatchResult PatchInMemory(byte[] image, string versionName, string fileNameForErrors)
        {
            List<int> flagOffsets = FindVersionRequirements(image, versionName, fileNameForErrors);
            if (flagOffsets.Count == 0) return ElfPatchResult.NotRequired;
            bool changed = false;
            foreach (int offset in flagOffsets)
            {
                ushort flags = BitConverter.ToUInt16(image, offset);
                if ((flags & VerFlagWeak) != 0) continue;
                flags |= VerFlagWeak;
                image[offset] = (byte)(flags & 0xff);
                image[offset + 1] = (byte)(flags >> 8);
                changed = true;
            }
            return changed ? ElfPatchResult.Patched : ElfPatchResult.AlreadyPatched;
        }

        /// <summary>Byte offsets of the vna_flags field of every Vernaux entry naming the version.</summary>
        static List<int> FindVersionRequirements(byte[] image, string versionName, string file)
        {
            // ELF64 little-endian only: the only layout TorchSharp ships for Linux.
            if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
                throw new InvalidDataException($"'{file}' is not an ELF file.");
            if (image[4] != 2 || image[5] != 1)
                throw new InvalidDataException($"'{file}' is not a 64-bit little-endian ELF file (class {image[4]}, data {image[5]}).");

            long sectionTable = (long)BitConverter.ToUInt64(image, 0x28);
            int sectionEntrySize = BitConverter.ToUInt16(image, 0x3A);
            int sectionCount = BitConverter.ToUInt16(image, 0x3C);
            var found = new List<int>();
            for (int s = 0; s < sectionCount; s++)
            {
                int header = checked((int)(sectionTable + (long)s * sectionEntrySize));
                if (BitConverter.ToUInt32(image, header + 4) != ShtGnuVerneed) continue;
                long verneedOffset = (long)BitConverter.ToUInt64(image, header + 0x18);
                int stringSectionIndex = (int)BitConverter.ToUInt32(image, header + 0x28);
                int entryCount = (int)BitConverter.ToUInt32(image, header + 0x2C);
                int stringHeader = checked((int)(sectionTable + (long)stringSectionIndex * sectionEntrySize));
                long strings = (long)BitConverter.ToUInt64(image, stringHeader + 0x18);

                long need = verneedOffset;
                for (int n = 0; n < entryCount; n++)
                {
                    // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
                    int auxCount = BitConverter.ToUInt16(image, (int)need + 2);
                    long aux = need + BitConverter.ToUInt32(image, (int)need + 8);
                    for (int a = 0; a < auxCount; a++)
                    {
                        // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
                        uint nameOffset = BitConverter.ToUInt32(image, (int)aux + 8);
                        if (ReadCString(image, strings + nameOffset) == versionName) found.Add((int)aux + 4);
                        uint nextAux = BitConverter.ToUInt32(image, (int)aux + 12);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint nextNeed = BitConverter.ToUInt32(image, (int)need + 12);
                    if (nextNeed == 0) break;
                    need += nextNeed;
                }
            }
            return found;
        }

        static string ReadCString(byte[] image, long offset)
        {
            int end = (int)offset;
            while (end < image.Length && image[end] != 0) end++;
            return Encoding.ASCII.GetString(image, (int)offset, end - (int)offset);
        }

        /// <summary>
        /// True when some libstdc++.so.6 on this host's standard library paths (or LD_LIBRARY_PATH)
        /// already provides <paramref name="versionName"/>: then no patch is needed.
        /// </summary>
        public static bool HostProvides(string versionName = RequiredVersion)
        {
            byte[] needle = Encoding.ASCII.GetBytes(versionName + "\0");
            foreach (string candidate in HostLibStdCxxCandidates())
            {
                if (!File.Exists(candidate)) continue;
                if (IndexOf(File.ReadAllBytes(candidate), needle) >= 0) return true;
            }
            return false;
        }

        static IEnumerable<string> HostLibStdCxxCandidates()
        {
            string? libraryPath = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
            if (!string.IsNullOrEmpty(libraryPath))
                foreach (string dir in libraryPath!.Split(':'))
                    if (dir.Length > 0) yield return Path.Combine(dir, "libstdc++.so.6");
            foreach (string dir in new[] { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib64", "/usr/local/lib" })
                yield return Path.Combine(dir, "libstdc++.so.6");
        }

        static int IndexOf(byte[] haystack, byte[] needle)
        {
            for (int i = 0; i <= haystack.Length - needle.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && haystack[i + j] == needle[j]) j++;
                if (j == needle.Length) return i;
            }
            return -1;
        }
    }
}

#if !FOSSIL_LIBRARY
namespace Microsoft.ML.Fossil.Build
{
    using Microsoft.ML.Fossil.Native;

    /// <summary>MSBuild task: patches every libLibTorchSharp.so below a folder when the host needs it.</summary>
    public class PatchLibTorchSharp : Microsoft.Build.Utilities.Task
    {
        /// <summary>Folder to search (the build or publish output).</summary>
        [Microsoft.Build.Framework.Required]
        public string Directory { get; set; } = "";

        /// <summary>auto (patch only when the host libstdc++ lacks the version), true, or false.</summary>
        public string Mode { get; set; } = "auto";

        /// <summary>Runs the task.</summary>
        public override bool Execute()
        {
            if (string.Equals(Mode, "false", StringComparison.OrdinalIgnoreCase)) return true;
            if (!System.IO.Directory.Exists(Directory)) return true;
            if (!string.Equals(Mode, "true", StringComparison.OrdinalIgnoreCase) && LibTorchSharpElfPatcher.HostProvides())
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "Host libstdc++ provides {0}; libLibTorchSharp.so left as is.", LibTorchSharpElfPatcher.RequiredVersion);
                return true;
            }
            foreach (string file in System.IO.Directory.EnumerateFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories))
            {
                ElfPatchResult result = LibTorchSharpElfPatcher.Patch(file);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "Microsoft.ML.Fossil: {0}: {1} requirement on {2}.", file, result, LibTorchSharpElfPatcher.RequiredVersion);
            }
            return true;
        }
    }
}
#endif
