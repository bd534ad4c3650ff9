// Generated from converter.ipynb by samples/notebooks/tools/nb2cs.cs: edit the notebook, not this file.
// Run: dotnet run converter.cs   (.ci/run-notebooks checks that this file matches the notebook and runs it)
// ML.NET and TorchSharp do not support native AOT, a file-based app's default for publishing.
#:property PublishAot=false

using System.Text;
using System.Globalization;
using static NotebookOutput;

// # nb2cs test notebook
//
// Each code cell exercises one conversion rule of `tools/nb2cs.cs`; `.ci/run-notebooks` checks that the
// committed `converter.cs` is what the converter makes of this notebook and that its output is
// `converter.expected.txt`. It references no package, so it builds in seconds.

// [cell 2]
// A comment above the cell's usings stays with the cell's code.

var builder = new StringBuilder("cell 2");
Console.WriteLine(builder);

// A type declared mid-notebook moves after the statements; the statements of its cell stay in place.

// [cell 4]
var origin = new Point(0, 0);
Console.WriteLine($"cell 4: {origin}");

// [cell 5: declarations, moved to the end of the file]

// [cell 6]
// A later cell's usings are hoisted; its local functions become local functions of the app.
string Twice(int value) => (2 * value).ToString(CultureInfo.InvariantCulture);
display(new Settings());
display(new[] { Shape.Single, Shape.Pair });
display(Twice(21));

// [cell 7]
// The last expression without a semicolon is displayed, as Polyglot does.
display(new Point(1, 2));

// [cell 8]
// A call that returns a value is displayed...
var seen = new HashSet<int>();
displayResult(() => seen.Add(7));

// [cell 9]
// ...a void call just runs.
displayResult(() => Console.WriteLine($"cell 9: {seen.Count} seen"));

// [cell 10]
// A sequence is displayed one item a line.
displayResult(() => Enumerable.Range(1, 3).Select(i => new { I = i, Twice = Twice(i) }));

// [cell 11]
// A cell of comments only is kept as comments.

// [cell 4, declarations]
record Point(int X, int Y);

// [cell 5, declarations]
public class Settings
{
    public int Rows { get; set; } = 128;
    public string Name { get; set; } = "sst2";
}

public enum Shape { Single, Pair }

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

// The end.
