// nb2cs: turns a C# Polyglot notebook (.ipynb) into a .NET 10 file-based app (.cs) beside it, so that
// `dotnet run sst2.cs` executes every code cell in order. See samples/notebooks/README.md.
//
//   dotnet run samples/notebooks/tools/nb2cs.cs -- [--check] NOTEBOOK.ipynb...
//
// Writes NOTEBOOK.cs next to each notebook; with --check writes nothing and exits 1 when a committed
// .cs differs from what the notebook gives (or when a notebook carries outputs). Exit 2: a notebook
// that cannot be converted, with the cell and line that is the problem.
//
// Mapping:
//   #r "nuget: Id, Version"     -> #:package Id@Version, or #:project <relative path> when this repository
//                                  has src/Id/Id.csproj (its <Version> must equal Version)
//   #!csharp (cell magic)       -> dropped; any other magic, #i and #r of a file are errors
//   using directives            -> hoisted to the top (a file-based app needs them before any statement)
//   statements                  -> top-level statements, in cell order
//   classes, records, enums...  -> moved after the statements (C# requires it), in cell order
//   a cell's last expression    -> display(expression); or, for a call, displayResult(() => call());
//                                  (Polyglot displays it; a void call just runs)
//   display(x)                  -> NotebookOutput.display, added at the end: writes x to the console
//   markdown cells              -> // comments
#:property ManagePackageVersionsCentrally=false
#:property PublishAot=false
#:package Microsoft.CodeAnalysis.CSharp@4.14.0

using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

bool check = false;
var notebooks = new List<string>();
foreach (string arg in args)
{
    if (arg == "--check") check = true;
    else if (arg.StartsWith('-')) return Usage($"unknown option '{arg}'");
    else notebooks.Add(arg);
}
if (notebooks.Count == 0) return Usage("no notebook given");

int exit = 0;
foreach (string argument in notebooks)
{
    string notebook = Path.GetFullPath(argument), target = Path.ChangeExtension(notebook, ".cs");
    string generated;
    IReadOnlyList<int> withOutputs;
    try
    {
        (generated, withOutputs) = NotebookConverter.Convert(notebook, target);
    }
    catch (Exception e) when (e is NotebookException or IOException or UnauthorizedAccessException or KeyNotFoundException or InvalidOperationException)
    {
        string problem = e is NotebookException ? e.Message : $"cannot be read as a notebook: {e.Message}";
        Console.Error.WriteLine($"nb2cs: {Path.GetFileName(notebook)}: {problem}");
        exit = Math.Max(exit, 2);
        continue;
    }
    if (withOutputs.Count > 0)
    {
        // Committed notebooks carry no outputs: they would go stale, and they bloat the diffs.
        string cellList = withOutputs.Count == 1 ? $"cell {withOutputs[0]} has" : $"cells {string.Join(", ", withOutputs)} have";
        Console.Error.WriteLine($"nb2cs: {Path.GetFileName(notebook)}: {cellList} outputs; clear them before committing");
        if (check) exit = Math.Max(exit, 1);
    }
    if (check)
    {
        string? committed = File.Exists(target) ? File.ReadAllText(target) : null;
        if (committed != generated)
        {
            Console.Error.WriteLine($"nb2cs: {Path.GetFileName(target)} {(committed is null ? "is missing" : "differs from its notebook")}; " +
                                    $"regenerate it: dotnet run samples/notebooks/tools/nb2cs.cs -- {argument}");
            exit = Math.Max(exit, 1);
        }
        else Console.WriteLine($"nb2cs: {Path.GetFileName(target)} matches {Path.GetFileName(notebook)}");
    }
    else
    {
        File.WriteAllText(target, generated, new UTF8Encoding(false));
        Console.WriteLine($"nb2cs: wrote {target}");
    }
}
return exit;

static int Usage(string problem)
{
    Console.Error.WriteLine($"nb2cs: {problem}\nusage: dotnet run samples/notebooks/tools/nb2cs.cs -- [--check] NOTEBOOK.ipynb...");
    return 64;
}

sealed class NotebookException(string message) : Exception(message);

static partial class NotebookConverter
{
    const string Kernel = "csharp";

    [GeneratedRegex("""^\s*#r\s+"nuget:\s*(?<id>[^,"\s]+)\s*(,\s*(?<version>[^"\s]+)\s*)?"\s*$""")]
    private static partial Regex NuGetReference();

    [GeneratedRegex("""^\s*#(r|i)\b""")]
    private static partial Regex OtherReference();

    [GeneratedRegex("""^\s*#!\s*(?<magic>\S+)""")]
    private static partial Regex Magic();

    static readonly CSharpParseOptions ScriptOptions = new(LanguageVersion.Preview, DocumentationMode.None, SourceCodeKind.Script);

    sealed record CellCode(int Number, string Comments, string Body, string Declarations);

    /// <summary>The file-based app for <paramref name="notebookPath"/>, to be written at <paramref name="targetPath"/>, and the code cells that carry outputs.</summary>
    public static (string App, IReadOnlyList<int> CellsWithOutputs) Convert(string notebookPath, string targetPath)
    {
        JsonElement root;
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(notebookPath));
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new NotebookException($"not valid JSON: {e.Message}");
        }
        if (!root.TryGetProperty("nbformat", out JsonElement format) || format.ValueKind != JsonValueKind.Number || format.GetInt32() != 4)
            throw new NotebookException("not an nbformat 4 notebook");
        string? kernelSpec = Find(root, "metadata", "kernelspec", "name")?.GetString();
        if (kernelSpec != ".net-csharp")
            throw new NotebookException($"kernelspec '{kernelSpec}' is not the C# Polyglot Notebooks kernel (.net-csharp)");
        string defaultKernel = Find(root, "metadata", "polyglot_notebook", "kernelInfo", "defaultKernelName")?.GetString() ?? Kernel;

        var directives = new List<string>();
        var usings = new List<string>();
        var cells = new List<CellCode>();
        var comments = new StringBuilder();
        var withOutputs = new List<int>();
        bool usesDisplay = false;
        int number = 0;
        if (!root.TryGetProperty("cells", out JsonElement cellArray) || cellArray.ValueKind != JsonValueKind.Array)
            throw new NotebookException("has no cells");
        foreach (JsonElement cell in cellArray.EnumerateArray())
        {
            number++;
            string type = cell.GetProperty("cell_type").GetString() ?? "";
            string source = Source(cell);
            if (type == "markdown")
            {
                comments.Append(Commented(source));
                continue;
            }
            if (type != "code") continue;
            if (cell.TryGetProperty("outputs", out JsonElement outputs) && outputs.ValueKind == JsonValueKind.Array && outputs.GetArrayLength() > 0)
                withOutputs.Add(number);
            string kernel = Find(cell, "metadata", "polyglot_notebook", "kernelName")?.GetString()
                            ?? Find(cell, "metadata", "dotnet_interactive", "language")?.GetString()
                            ?? defaultKernel;
            if (kernel != Kernel)
                throw new NotebookException($"cell {number} runs in the '{kernel}' kernel; only C# cells can become a file-based app");

            string code = Directives(source, number, notebookPath, targetPath, directives);
            (string body, string declarations) = ConvertCell(code, number, usings, ref usesDisplay);
            if (declarations.Length > 0 && body.Length == 0)
                comments.Append($"// [cell {number}: declarations, moved to the end of the file]\n\n");
            if (body.Length == 0 && declarations.Length == 0) continue;
            cells.Add(new CellCode(number, body.Length > 0 ? comments.ToString() : "", body, declarations));
            // The markdown goes with the next cell that has statements.
            if (body.Length > 0) comments.Clear();
        }

        var output = new StringBuilder();
        output.Append($"// Generated from {Path.GetFileName(notebookPath)} by samples/notebooks/tools/nb2cs.cs: edit the notebook, not this file.\n");
        output.Append($"// Run: dotnet run {Path.GetFileName(targetPath)}   (.ci/run-notebooks checks that this file matches the notebook and runs it)\n");
        if (directives.Any(d => d.StartsWith("#:package", StringComparison.Ordinal)))
            output.Append("// This repository manages package versions centrally, which forbids the versions #:package pins: opt out.\n")
                  .Append("#:property ManagePackageVersionsCentrally=false\n");
        output.Append("// ML.NET and TorchSharp do not support native AOT, a file-based app's default for publishing.\n")
              .Append("#:property PublishAot=false\n");
        foreach (string directive in directives) output.Append(directive).Append('\n');
        output.Append('\n');
        foreach (string directive in usings) output.Append(directive).Append('\n');
        if (usesDisplay) output.Append("using static NotebookOutput;\n");
        // Statements in cell order, each cell after the markdown above it, then the declarations C# wants after them.
        foreach (CellCode cell in cells.Where(c => c.Body.Length > 0))
            output.Append('\n').Append(cell.Comments).Append($"// [cell {cell.Number}]\n").Append(cell.Body);
        foreach (CellCode cell in cells.Where(c => c.Declarations.Length > 0))
            output.Append($"\n// [cell {cell.Number}, declarations]\n").Append(cell.Declarations);
        if (usesDisplay) output.Append('\n').Append(DisplayClass);
        if (comments.Length > 0) output.Append('\n').Append(comments.ToString().TrimEnd('\n')).Append('\n');
        return (output.ToString(), withOutputs);
    }

    /// <summary>Removes the notebook directives of a cell (keeping its line numbers), adding their file-based-app equivalents to <paramref name="directives"/>.</summary>
    static string Directives(string source, int number, string notebookPath, string targetPath, List<string> directives)
    {
        string[] lines = source.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            string where = $"cell {number}, line {i + 1}";
            if (Magic().Match(line) is { Success: true } magic)
            {
                if (magic.Groups["magic"].Value is not ("csharp" or "c#" or "C#"))
                    throw new NotebookException($"{where}: the magic command '{line.Trim()}' has no file-based-app equivalent");
                lines[i] = "";
            }
            else if (NuGetReference().Match(line) is { Success: true } reference)
            {
                string id = reference.Groups["id"].Value, version = reference.Groups["version"].Value;
                if (version.Length == 0)
                    throw new NotebookException($"{where}: pin the package version: #r \"nuget: {id}, <version>\"");
                string directive = RepositoryProject(id, version, notebookPath, targetPath, where) is { } project
                    ? $"#:project {project}"
                    : $"#:package {id}@{version}";
                if (!directives.Contains(directive)) directives.Add(directive);
                lines[i] = "";
            }
            else if (OtherReference().IsMatch(line))
                throw new NotebookException($"{where}: '{line.Trim()}' has no file-based-app equivalent (only #r \"nuget: Id, Version\" is converted)");
        }
        return string.Join('\n', lines);
    }

    /// <summary>The relative path from the app to src/<paramref name="id"/>/<paramref name="id"/>.csproj of the enclosing repository, or null.</summary>
    static string? RepositoryProject(string id, string version, string notebookPath, string targetPath, string where)
    {
        for (DirectoryInfo? folder = new FileInfo(notebookPath).Directory; folder is not null; folder = folder.Parent)
        {
            string project = Path.Combine(folder.FullName, "src", id, id + ".csproj");
            if (!File.Exists(project)) continue;
            string? projectVersion = XDocument.Load(project).Descendants("Version").FirstOrDefault()?.Value.Trim();
            if (projectVersion != version)
                throw new NotebookException($"{where}: the notebook asks for {id} {version} but {project} builds version {projectVersion ?? "(none)"}");
            return Path.GetRelativePath(Path.GetDirectoryName(targetPath)!, project).Replace('\\', '/');
        }
        return null;
    }

    static (string Body, string Declarations) ConvertCell(string code, int number, List<string> usings, ref bool usesDisplay)
    {
        SyntaxTree tree = CSharpSyntaxTree.ParseText(code, ScriptOptions);
        var root = (CompilationUnitSyntax)tree.GetRoot();
        // A cell's last expression may lack its semicolon: Polyglot displays its value.
        ExpressionStatementSyntax? trailing = root.Members.LastOrDefault() is GlobalStatementSyntax { Statement: ExpressionStatementSyntax { SemicolonToken.IsMissing: true } last }
            ? last : null;
        foreach (Diagnostic diagnostic in tree.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error))
        {
            if (trailing is not null && diagnostic.Id == "CS1002" && diagnostic.Location.SourceSpan.Start >= trailing.Expression.Span.End) continue;
            int line = diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1;
            throw new NotebookException($"cell {number}, line {line}: {diagnostic.Id}: {diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}");
        }
        if (root.Externs.Count > 0 || root.AttributeLists.Count > 0)
            throw new NotebookException($"cell {number}: extern aliases and assembly attributes are not supported");

        var body = new StringBuilder();
        var declarations = new StringBuilder();
        // Comments above a cell's usings stay with the cell's code.
        if (root.Usings.Count > 0) body.Append(CommentsOnly(root.Usings[0].GetLeadingTrivia()));
        foreach (UsingDirectiveSyntax directive in root.Usings)
        {
            string text = directive.WithoutTrivia().ToString();
            if (!usings.Contains(text)) usings.Add(text);
        }
        foreach (MemberDeclarationSyntax member in root.Members)
        {
            usesDisplay |= member.DescendantNodes().OfType<InvocationExpressionSyntax>()
                                 .Any(i => i.Expression is IdentifierNameSyntax { Identifier.ValueText: "display" });
            if (member is BaseTypeDeclarationSyntax or DelegateDeclarationSyntax or BaseNamespaceDeclarationSyntax)
                declarations.Append(member.ToFullString());
            else if (member is GlobalStatementSyntax { Statement: ExpressionStatementSyntax statement } && statement == trailing)
            {
                usesDisplay = true;
                body.Append(member.GetLeadingTrivia().ToFullString())
                    .Append(DisplayTrailing(statement.Expression.WithoutTrivia()))
                    .Append(statement.Expression.GetTrailingTrivia().ToFullString());
            }
            else body.Append(member.ToFullString());
        }
        body.Append(root.EndOfFileToken.LeadingTrivia.ToFullString());
        return (Tidy(body.ToString()), Tidy(declarations.ToString()));
    }

    /// <summary>
    /// The statement that shows a cell's last expression as Polyglot does. Without types the converter cannot
    /// tell a call that returns a value from a void one: a call goes to displayResult(() => call()), whose
    /// overloads take a Func (shown) or an Action (just run), and C# picks the Func when there is a value.
    /// Assignments, increments and awaits just get their semicolon.
    /// </summary>
    static string DisplayTrailing(ExpressionSyntax expression) => expression switch
    {
        AwaitExpressionSyntax or AssignmentExpressionSyntax or PostfixUnaryExpressionSyntax
            or PrefixUnaryExpressionSyntax { OperatorToken.RawKind: (int)SyntaxKind.PlusPlusToken or (int)SyntaxKind.MinusMinusToken } => $"{expression};",
        InvocationExpressionSyntax or ConditionalAccessExpressionSyntax => $"displayResult(() => {expression});",
        _ => $"display({expression});",
    };

    /// <summary>Trims blank lines at both ends, normalises line ends to \n and ends with one.</summary>
    static string Tidy(string text)
    {
        string[] lines = text.Replace("\r\n", "\n").Split('\n').Select(l => l.TrimEnd()).ToArray();
        int first = Array.FindIndex(lines, l => l.Length > 0);
        if (first < 0) return "";
        int last = Array.FindLastIndex(lines, l => l.Length > 0);
        var kept = new List<string>();
        foreach (string line in lines[first..(last + 1)])
            if (!(line.Length == 0 && kept.Count > 0 && kept[^1].Length == 0)) kept.Add(line);
        return string.Join('\n', kept) + "\n";
    }

    static string CommentsOnly(SyntaxTriviaList trivia) =>
        string.Concat(trivia.Where(t => !t.IsKind(SyntaxKind.WhitespaceTrivia) && !t.IsKind(SyntaxKind.EndOfLineTrivia))
                            .Select(t => t.ToFullString().TrimEnd() + "\n"));

    static string Commented(string markdown)
    {
        string text = Tidy(markdown);
        return text.Length == 0 ? "" : string.Concat(text.TrimEnd('\n').Split('\n').Select(l => l.Length == 0 ? "//\n" : $"// {l}\n")) + "\n";
    }

    static string Source(JsonElement cell)
    {
        JsonElement source = cell.GetProperty("source");
        return source.ValueKind == JsonValueKind.Array
            ? string.Concat(source.EnumerateArray().Select(s => s.GetString()))
            : source.GetString() ?? "";
    }

    static JsonElement? Find(JsonElement element, params string[] names)
    {
        foreach (string name in names)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element)) return null;
        }
        return element;
    }

    const string DisplayClass = """
        // Added by nb2cs: display(x) of Polyglot Notebooks, and the value of a cell's last expression, written to
        // the console. A sequence is written one item a line, an object without a ToString of its own as
        // { Property = value, ... }.
        static class NotebookOutput
        {
            public static void display(object? value)
            {
                if (value is System.Collections.IEnumerable items and not string)
                    foreach (object? item in items) Console.WriteLine(Text(item, 1));
                else Console.WriteLine(Text(value, 0));
            }

            public static void displayResult<T>(Func<T> expression) => display(expression());

            public static void displayResult(Action statement) => statement();

            static string Text(object? item, int depth) => item switch
            {
                null => "null",
                string text => text,
                IFormattable formattable => formattable.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(i => Text(i, depth + 1))) + "]",
                _ when depth < 2 && item.GetType().GetMethod("ToString", Type.EmptyTypes)?.DeclaringType == typeof(object) =>
                    "{ " + string.Join(", ", item.GetType().GetProperties().Where(p => p.GetIndexParameters().Length == 0)
                                                 .Select(p => $"{p.Name} = {Text(p.GetValue(item), depth + 1)}")) + " }",
                _ => item.ToString() ?? "",
            };
        }

        """;
}
