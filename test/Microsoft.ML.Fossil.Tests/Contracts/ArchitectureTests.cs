using System.Reflection;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.Contracts;

/// <summary>
/// The shape of the library, checked on the built assembly and on its sources: a small public surface (the types an
/// ML.NET user must name, pinned in PublicAPI.*.txt), and folders whose code depends only on folders below them in
/// the order of docs/architecture.md, so data flows one way and no two folders need each other.
/// </summary>
public sealed partial class ArchitectureTests(ITestOutputHelper output)
{
    static readonly Assembly Library = typeof(FossilCatalog).Assembly;

    /// <summary>Bottom to top: a folder's code may use its own folder and the ones before it; the root (public entry points) uses all.</summary>
    static readonly string[] FolderOrder =
        ["Contracts", "Native", "MLNetInternals", "Tokenization", "Collation", "Modeling", "Adapters", "Checkpoints", "Scoring", "Onnx", "Training", "Models", "MLNet"];

    static string SourceFolder([System.Runtime.CompilerServices.CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", "..", "src", "Microsoft.ML.Fossil"));

    [Fact]
    public void The_public_surface_is_at_most_twenty_types_and_each_is_declared_in_the_public_API_files()
    {
        Type[] exported = Library.GetExportedTypes();
        foreach (Type t in exported.OrderBy(t => t.FullName)) output.WriteLine(t.FullName);
        Assert.True(exported.Length <= 20, $"{exported.Length} public types");
        Assert.All(exported, t => Assert.Equal("Microsoft.ML.Fossil", t.Namespace));

        string declared = File.ReadAllText(Path.Combine(SourceFolder(), "PublicAPI.Shipped.txt")) + "\n" +
                          File.ReadAllText(Path.Combine(SourceFolder(), "PublicAPI.Unshipped.txt"));
        var declaredTypes = declared.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#') && !l.Contains(' ') && !l.Contains('('))
            .Where(l => !l.Contains(".get") && !l.Contains(".set") && !l.Contains(".init")).ToHashSet(StringComparer.Ordinal);
        foreach (Type t in exported) Assert.Contains(t.FullName!.Replace('+', '.'), declaredTypes);
    }

    [Fact]
    public void Each_folder_depends_only_on_the_folders_below_it()
    {
        string root = SourceFolder();
        var violations = new List<string>();
        int examined = 0;
        foreach (string file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(root, file);
            if (relative.StartsWith("bin", StringComparison.Ordinal) || relative.StartsWith("obj", StringComparison.Ordinal) || relative.Contains("/build/")
                || relative.StartsWith("buildTransitive", StringComparison.Ordinal)) continue;
            string folder = relative.Contains('/') ? relative[..relative.IndexOf('/')] : "(root)";
            if (folder == "(root)") continue;   // the public entry points may use everything
            int level = Array.IndexOf(FolderOrder, folder);
            examined++;
            Assert.True(level >= 0, $"{relative}: folder '{folder}' is not in the dependency order of this test and docs/architecture.md");
            // Code only: comments and string literals may name anything.
            string text = CommentOrString().Replace(File.ReadAllText(file), " ");
            foreach (Match use in FossilNamespace().Matches(text).Concat(QualifiedUse().Matches(text)))
            {
                string used = use.Groups[1].Value;
                int usedLevel = Array.IndexOf(FolderOrder, used);
                if (usedLevel > level) violations.Add($"{relative} uses {used}");
            }
            // Public entry points (the root folder's types) are used from below only through Contracts' types.
            foreach (string entryPoint in (string[])["FossilCatalog", "FossilTrainerOptions", "FossilTextClassificationTrainer", "FossilSentenceSimilarityTrainer",
                                                     "FossilTextClassificationTransformer", "FossilSentenceSimilarityTransformer", "FossilTrainer", "BackboneSource", "FossilSettings"])
                if (Regex.IsMatch(text, $@"\b{entryPoint}\b"))
                    violations.Add($"{relative} uses the entry point {entryPoint}");
        }
        foreach (string v in violations) output.WriteLine(v);
        Assert.True(examined > 50, $"only {examined} source files found under {root}");
        Assert.Empty(violations);
    }

    [GeneratedRegex(@"//[^\n]*|@?\$?""(?:\\.|""""|[^""\\])*""")]
    private static partial Regex CommentOrString();

    /// <summary>A sibling namespace named without its prefix: <c>Checkpoints.StateDictLoader</c> from inside <c>Microsoft.ML.Fossil.*</c>.</summary>
    [GeneratedRegex(@"(?<![\w.])(Contracts|Native|MLNetInternals|Tokenization|Collation|Modeling|Adapters|Checkpoints|Scoring|Onnx|Training|Models|MLNet)\.[A-Z]")]
    private static partial Regex QualifiedUse();

    [GeneratedRegex(@"Microsoft\.ML\.Fossil\.(Contracts|Native|MLNetInternals|Tokenization|Collation|Modeling|Adapters|Checkpoints|Scoring|Onnx|Training|Models|MLNet)\b")]
    private static partial Regex FossilNamespace();
}
