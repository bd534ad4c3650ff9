// Run-time half of the ML.NET internals scheme (see README.md in this folder): CoreCLR lets the
// assembly that carries [assembly: IgnoresAccessChecksTo("X")] use X's non-public types and
// members. The compile-time half is PublicizeMLNetReferences.targets.
//
// Keep this list equal to FossilPublicizedReferences in PublicizeMLNetReferences.targets.
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]

namespace System.Runtime.CompilerServices
{
    /// <summary>
    /// Tells the runtime that this assembly may access the non-public types and members of the named
    /// assembly. The runtime recognises the attribute by its full name; the BCL does not define it, so
    /// every assembly that uses it declares its own, internal copy.
    /// </summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        /// <summary>Grants access to the non-public members of <paramref name="assemblyName"/>.</summary>
        /// <param name="assemblyName">The simple name of the assembly, e.g. "Microsoft.ML.Core".</param>
        public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

        /// <summary>The simple name of the assembly whose access checks are ignored.</summary>
        public string AssemblyName { get; }
    }
}
