// Build-time only: compiled by MSBuild's RoslynCodeTaskFactory from
// ../PublicizeMLNetReferences.targets. It is excluded from the library's own compilation and is
// never shipped in the NuGet package.
//
// Writes copies of ML.NET reference assemblies in which (almost) every type and member is public,
// so that the C# compiler lets Microsoft.ML.Fossil use ML.NET internals. At run time the real
// assemblies are used, and [assembly: IgnoresAccessChecksTo("...")] makes the CLR allow those
// accesses. Only the copies under obj/ are written; the NuGet cache is never modified.
//
// Visibility rules (a pure function of each member's own accessibility, so that a base member and
// every override of it always end up with the same accessibility):
// - types (top-level and nested) become public, except compiler-generated ones and polyfills in
//   the System.* / Microsoft.CodeAnalysis.* namespaces (e.g. the compiler's own NullableAttribute),
//   which would otherwise clash with the ones the compiler synthesizes;
// - a virtual method that is protected, protected internal or private protected becomes protected,
//   so that an override in Fossil is still written "protected override" (and CLR override rules
//   stay satisfied: protected is never narrower than the original);
// - every other non-public method, constructor, property accessor and field becomes public;
// - explicit interface implementations (methods with .override entries), compiler-generated
//   members (names with '<') and event backing fields (same name as the event) are left alone.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Build.Framework;

namespace Microsoft.ML.Fossil.Build
{
    /// <summary>MSBuild task: writes all-public copies of assemblies (compile-time use only).</summary>
    public class PublicizeAssemblies : Microsoft.Build.Utilities.Task
    {
        /// <summary>The assemblies to rewrite; metadata PublicizedPath says where each copy goes.</summary>
        [Required]
        public ITaskItem[] Assemblies { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Folders where Cecil may look for referenced assemblies (all compile references).</summary>
        public string[] SearchDirectories { get; set; } = Array.Empty<string>();

        /// <summary>Full path of Mono.Cecil.dll (from the NuGet cache).</summary>
        [Required]
        public string CecilPath { get; set; } = "";

        static readonly object Gate = new object();
        static string? resolvedCecilPath;

        /// <summary>Runs the task.</summary>
        public override bool Execute()
        {
            if (!File.Exists(CecilPath))
            {
                Log.LogError("Microsoft.ML.Fossil: Mono.Cecil not found at '{0}' (restore the Mono.Cecil package reference).", CecilPath);
                return false;
            }
            EnsureCecilResolvable(CecilPath);
            try
            {
                foreach (ITaskItem item in Assemblies)
                {
                    string input = item.GetMetadata("FullPath");
                    string output = item.GetMetadata("PublicizedPath");
                    if (string.IsNullOrEmpty(output))
                    {
                        Log.LogError("Microsoft.ML.Fossil: no PublicizedPath metadata on '{0}'.", input);
                        return false;
                    }
                    (int types, int members) = Rewrite(input, Path.GetFullPath(output), SearchDirectories);
                    Log.LogMessage(MessageImportance.Normal,
                        "Microsoft.ML.Fossil: publicized {0} types and {1} members of '{2}' into '{3}' (compile-time only).",
                        types, members, Path.GetFileName(input), output);
                }
                return !Log.HasLoggedErrors;
            }
            catch (Exception ex)
            {
                Log.LogErrorFromException(ex, showStackTrace: true);
                return false;
            }
        }

        // The inline task is compiled with a reference to Mono.Cecil.dll, but the MSBuild process
        // does not necessarily know where to load it from at run time.
        static void EnsureCecilResolvable(string cecilPath)
        {
            lock (Gate)
            {
                if (resolvedCecilPath != null) return;
                resolvedCecilPath = Path.GetFullPath(cecilPath);
                AppDomain.CurrentDomain.AssemblyResolve += (_, args) =>
                {
                    string? name = new AssemblyName(args.Name).Name;
                    return name == "Mono.Cecil" ? Assembly.LoadFrom(resolvedCecilPath) : null;
                };
            }
        }

        // Kept out of Execute so that Mono.Cecil is first needed after the resolver is installed.
        [MethodImpl(MethodImplOptions.NoInlining)]
        static (int Types, int Members) Rewrite(string input, string output, string[] searchDirectories)
            => CecilPublicizer.Rewrite(input, output, searchDirectories);
    }

    /// <summary>The Mono.Cecil part: visibility rewrite of one assembly.</summary>
    static class CecilPublicizer
    {
        public static (int Types, int Members) Rewrite(string input, string output, string[] searchDirectories)
        {
            using var resolver = new Mono.Cecil.DefaultAssemblyResolver();
            resolver.AddSearchDirectory(Path.GetDirectoryName(input));
            foreach (string dir in searchDirectories.Where(Directory.Exists).Distinct(StringComparer.Ordinal))
                resolver.AddSearchDirectory(dir);

            var readerParameters = new Mono.Cecil.ReaderParameters
            {
                AssemblyResolver = resolver,
                ReadingMode = Mono.Cecil.ReadingMode.Immediate,
                ReadSymbols = false,
                InMemory = true,
            };
            using var assembly = Mono.Cecil.AssemblyDefinition.ReadAssembly(input, readerParameters);

            int types = 0, members = 0;
            foreach (Mono.Cecil.ModuleDefinition module in assembly.Modules)
            {
                foreach (Mono.Cecil.TypeDefinition type in module.GetTypes())
                {
                    if (!ShouldPublicize(type)) continue;
                    if (type.IsNested ? !type.IsNestedPublic : !type.IsPublic)
                    {
                        if (type.IsNested) type.IsNestedPublic = true; else type.IsPublic = true;
                        types++;
                    }
                    members += PublicizeMembers(type);
                }
            }

            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            // Write next to the target and move, so that a half-written file never looks up to date.
            string temporary = output + ".tmp";
            assembly.Write(temporary, new Mono.Cecil.WriterParameters { DeterministicMvid = true });
            if (File.Exists(output)) File.Delete(output);
            File.Move(temporary, output);
            return (types, members);
        }

        static bool ShouldPublicize(Mono.Cecil.TypeDefinition type)
        {
            for (Mono.Cecil.TypeDefinition? t = type; t != null; t = t.DeclaringType)
            {
                if (t.Name == "<Module>" || t.Name.Contains('<')) return false;
                if (HasAttribute(t, "System.Runtime.CompilerServices.CompilerGeneratedAttribute")) return false;
                if (HasAttribute(t, "Microsoft.CodeAnalysis.EmbeddedAttribute")) return false;
                if (t.DeclaringType == null)
                {
                    string ns = t.Namespace ?? "";
                    if (ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal)) return false;
                    if (ns == "Microsoft.CodeAnalysis" || ns.StartsWith("Microsoft.CodeAnalysis.", StringComparison.Ordinal)) return false;
                }
            }
            return true;
        }

        static int PublicizeMembers(Mono.Cecil.TypeDefinition type)
        {
            int changed = 0;
            foreach (Mono.Cecil.MethodDefinition method in type.Methods)
            {
                if (method.IsPublic || method.HasOverrides || method.Name.Contains('<')) continue;
                if (method.IsVirtual && (method.IsFamily || method.IsFamilyOrAssembly || method.IsFamilyAndAssembly))
                {
                    if (method.IsFamily) continue;
                    method.IsFamily = true;
                }
                else
                {
                    method.IsPublic = true;
                }
                changed++;
            }

            var eventNames = new HashSet<string>(type.Events.Select(e => e.Name), StringComparer.Ordinal);
            foreach (Mono.Cecil.FieldDefinition field in type.Fields)
            {
                if (field.IsPublic || field.Name.Contains('<') || eventNames.Contains(field.Name)) continue;
                field.IsPublic = true;
                changed++;
            }
            return changed;
        }

        static bool HasAttribute(Mono.Cecil.ICustomAttributeProvider provider, string fullName)
            => provider.HasCustomAttributes && provider.CustomAttributes.Any(a => a.AttributeType.FullName == fullName);
    }
}
