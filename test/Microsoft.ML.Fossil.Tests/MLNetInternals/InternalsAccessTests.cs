using System.Reflection;
using System.Reflection.Emit;
using System.Security.Cryptography;
using Microsoft.ML.Fossil.MLNetInternals;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNetInternals;

/// <summary>
/// Guards the rules of the ML.NET internals scheme on the compiled library (see
/// src/Microsoft.ML.Fossil/MLNetInternals/README.md):
/// <list type="number">
/// <item>every non-public member or type of another assembly that the library's IL or signatures
/// use belongs to an assembly named by [assembly: IgnoresAccessChecksTo] (otherwise the CLR throws
/// MethodAccessException at run time, although it compiled against the publicized copy);</item>
/// <item>all such uses are in the Microsoft.ML.Fossil.MLNetInternals namespace (or are assembly-level
/// LoadableClass attributes);</item>
/// <item>no public or protected member of a public library type exposes such a type;</item>
/// <item>bin/ holds the real ML.NET assemblies, the library depends on the real Microsoft.ML.Core
/// and Mono.Cecil never becomes a dependency.</item>
/// </list>
/// </summary>
public class InternalsAccessTests(ITestOutputHelper output)
{
    static readonly Assembly Fossil = typeof(FossilModelVersion).Assembly;
    const string InternalsNamespace = "Microsoft.ML.Fossil.MLNetInternals";

    /// <summary>One use of a non-public type or member of another assembly.</summary>
    internal sealed record Use(string Where, string What, string Assembly, bool InAllowedPlace);

    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    static HashSet<string> GrantedAssemblies() => Fossil.GetCustomAttributesData()
        .Where(a => a.AttributeType.FullName == "System.Runtime.CompilerServices.IgnoresAccessChecksToAttribute")
        .Select(a => (string)a.ConstructorArguments[0].Value!)
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>The non-visible types of other assemblies that <paramref name="type"/> is built from.</summary>
    static IEnumerable<Type> ForeignHidden(Type? type)
    {
        if (type is null || type.IsGenericParameter) yield break;
        if (type.HasElementType)
        {
            foreach (Type t in ForeignHidden(type.GetElementType())) yield return t;
            yield break;
        }
        if (type.IsConstructedGenericType)
        {
            foreach (Type argument in type.GetGenericArguments())
                foreach (Type t in ForeignHidden(argument)) yield return t;
            type = type.GetGenericTypeDefinition();
        }
        if (type.Assembly != Fossil && !type.IsVisible) yield return type;
    }

    static bool IsHiddenMember(MemberInfo member) => member switch
    {
        MethodBase m => !(m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly),
        FieldInfo f => !(f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly),
        _ => false,
    };

    static string Describe(MemberInfo member) =>
        member is Type t ? t.FullName ?? t.Name : $"{member.DeclaringType?.FullName}::{member.Name}";

    static bool InInternalsNamespace(Type type) =>
        type.Namespace is { } ns && (ns == InternalsNamespace || ns.StartsWith(InternalsNamespace + ".", StringComparison.Ordinal));

    /// <summary>Every use of a non-public foreign type or member in the library's IL and signatures.</summary>
    internal static List<Use> CollectUses()
    {
        var uses = new List<Use>();
        void AddType(string where, bool allowed, Type? type)
        {
            foreach (Type t in ForeignHidden(type))
                uses.Add(new Use(where, t.FullName ?? t.Name, t.Assembly.GetName().Name!, allowed));
        }
        void AddMember(string where, bool allowed, MemberInfo member)
        {
            switch (member)
            {
                case Type t:
                    AddType(where, allowed, t);
                    return;
                case MethodInfo { IsGenericMethod: true } generic:
                    foreach (Type argument in generic.GetGenericArguments()) AddType(where, allowed, argument);
                    break;
            }
            AddType(where, allowed, member.DeclaringType);
            if (member.DeclaringType?.Assembly != Fossil && IsHiddenMember(member))
                uses.Add(new Use(where, Describe(member), member.Module.Assembly.GetName().Name!, allowed));
        }

        foreach (CustomAttributeData attribute in Fossil.GetCustomAttributesData())
            AddType("[assembly]", attribute.AttributeType.Name == "LoadableClassAttribute", attribute.AttributeType);

        foreach (Type type in Fossil.GetTypes())
        {
            bool allowed = InInternalsNamespace(type);
            string where = type.FullName ?? type.Name;
            AddType(where, allowed, type.BaseType);
            foreach (Type face in type.GetInterfaces()) AddType(where, allowed, face);
            foreach (CustomAttributeData attribute in type.GetCustomAttributesData()) AddType(where, allowed, attribute.AttributeType);
            foreach (FieldInfo field in type.GetFields(Everything)) AddType($"{where}::{field.Name}", allowed, field.FieldType);
            foreach (PropertyInfo property in type.GetProperties(Everything)) AddType($"{where}::{property.Name}", allowed, property.PropertyType);
            foreach (MethodBase method in type.GetMethods(Everything).Cast<MethodBase>().Concat(type.GetConstructors(Everything)))
            {
                string at = $"{where}::{method.Name}";
                if (method is MethodInfo mi) AddType(at, allowed, mi.ReturnType);
                foreach (ParameterInfo parameter in method.GetParameters()) AddType(at, allowed, parameter.ParameterType);
                MethodBody? body = method.GetMethodBody();
                if (body is null) continue;
                foreach (LocalVariableInfo local in body.LocalVariables) AddType(at, allowed, local.LocalType);
                foreach (MemberInfo used in ReferencedMembers(method, body.GetILAsByteArray() ?? []))
                    AddMember(at, allowed, used);
            }
        }
        return uses;
    }

    /// <summary>Decodes <paramref name="il"/> and resolves every field, method and type token in it.</summary>
    static IEnumerable<MemberInfo> ReferencedMembers(MethodBase method, byte[] il)
    {
        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArguments = method is MethodInfo { IsGenericMethod: true } ? method.GetGenericArguments() : null;
        int i = 0;
        while (i < il.Length)
        {
            OpCode op = il[i] == 0xFE ? OpCodesByValue[unchecked((short)(0xFE00 | il[i + 1]))] : OpCodesByValue[il[i]];
            i += op.Size;
            switch (op.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + 4 * BitConverter.ToInt32(il, i); break;
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    int token = BitConverter.ToInt32(il, i);
                    i += 4;
                    MemberInfo? member;
                    try
                    {
                        member = method.Module.ResolveMember(token, typeArguments, methodArguments);
                    }
                    catch (Exception ex) when (ex is ArgumentException or TypeLoadException or BadImageFormatException or FileNotFoundException or MissingMemberException)
                    {
                        throw new InvalidOperationException($"Cannot resolve token 0x{token:X8} in {method.DeclaringType}::{method.Name}: {ex.Message}", ex);
                    }
                    if (member is not null) yield return member;
                    break;
                default: i += 4; break; // InlineI, InlineBrTarget, ShortInlineR, InlineString, InlineSig
            }
        }
    }

    [Fact]
    public void Every_MLNet_internal_the_library_uses_is_granted_at_run_time_and_used_only_in_MLNetInternals()
    {
        List<Use> uses = CollectUses();
        HashSet<string> granted = GrantedAssemblies();
        output.WriteLine($"IgnoresAccessChecksTo: {string.Join(", ", granted)}");
        foreach (var group in uses.GroupBy(u => (u.Assembly, u.What)).OrderBy(g => g.Key.Assembly).ThenBy(g => g.Key.What, StringComparer.Ordinal))
            output.WriteLine($"{group.Key.Assembly}: {group.Key.What}  ({group.Select(u => u.Where).Distinct().Count()} places)");

        Assert.NotEmpty(uses); // the scan sees the helpers' own uses; an empty list means it is broken
        Assert.Empty(uses.Where(u => !granted.Contains(u.Assembly)).Select(u => $"{u.Where} uses {u.What} of {u.Assembly}, which is not granted"));
        Assert.Empty(uses.Where(u => !u.InAllowedPlace).Select(u => $"{u.Where} uses {u.What} of {u.Assembly} outside {InternalsNamespace}"));
    }

    [Fact]
    public void No_public_library_signature_exposes_an_internal_type_of_another_assembly()
    {
        var problems = new List<string>();
        void Check(string where, Type? type)
        {
            foreach (Type t in ForeignHidden(type)) problems.Add($"{where} exposes {t.FullName}");
        }
        const BindingFlags Visible = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (Type type in Fossil.GetExportedTypes())
        {
            Check(type.FullName!, type.BaseType);
            foreach (Type face in type.GetInterfaces()) Check(type.FullName!, face);
            foreach (MemberInfo member in type.GetMembers(Visible))
            {
                bool exposed = member switch
                {
                    MethodBase m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly,
                    FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
                    _ => false,
                };
                if (!exposed) continue;
                string where = $"{type.FullName}::{member.Name}";
                if (member is MethodInfo method) Check(where, method.ReturnType);
                if (member is FieldInfo field) Check(where, field.FieldType);
                if (member is MethodBase withParameters)
                    foreach (ParameterInfo p in withParameters.GetParameters()) Check(where, p.ParameterType);
            }
        }
        Assert.Empty(problems);
    }

    [Fact]
    public void The_runtime_grant_makes_the_LoadableClass_registrations_visible_to_MLNet()
    {
        // Without [assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")] reflection silently drops
        // these attributes (their type and constructor are internal), and Model.Load fails with
        // "Couldn't load model". RegisterAssembly also instantiates every registered loader.
        Attribute[] attributes = Fossil.GetCustomAttributes().ToArray();
        Assert.Contains(attributes, a => a.GetType().FullName == "Microsoft.ML.LoadableClassAttribute");
        new MLContext(seed: 1).ComponentCatalog.RegisterAssembly(Fossil);
    }

    [Fact]
    public void The_build_output_has_the_real_MLNet_assemblies_and_no_Mono_Cecil()
    {
        Assembly core = typeof(ModelSaveContext).Assembly;
        Assert.Equal("Microsoft.ML.Core", core.GetName().Name);
        // The real assembly: its internals are internal (only the compiler saw the publicized copy).
        Type? loadContext = core.GetType("Microsoft.ML.ModelLoadContext");
        Assert.NotNull(loadContext);
        Assert.False(loadContext!.IsPublic);

        // Byte-identical to the package's file.
        string version = core.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                          ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string packaged = Path.Combine(packages, "microsoft.ml", version, "lib", "netstandard2.0", "Microsoft.ML.Core.dll");
        Assert.True(File.Exists(packaged), packaged);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(packaged)), SHA256.HashData(File.ReadAllBytes(core.Location)));

        AssemblyName reference = Fossil.GetReferencedAssemblies().Single(a => a.Name == "Microsoft.ML.Core");
        Assert.Equal(core.GetName().GetPublicKeyToken(), reference.GetPublicKeyToken());

        string deps = Path.Combine(AppContext.BaseDirectory, "Microsoft.ML.Fossil.Tests.deps.json");
        Assert.DoesNotContain("Mono.Cecil", File.ReadAllText(deps), StringComparison.OrdinalIgnoreCase);
        Assert.False(File.Exists(Path.Combine(AppContext.BaseDirectory, "Mono.Cecil.dll")));
    }
}
