using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>Entry point: see <see cref="GlueCommandLine"/> and <c>--help</c>.</summary>
public static class Program
{
    /// <summary>Runs the command line; exit code 0 ok, 1 error, 2 bad usage.</summary>
    public static int Main(string[] args) => new GlueApp(Console.Out, Console.Error).Run(args);
}

/// <summary>The command line as a process sees it: parsing, the two commands, messages and exit codes.</summary>
public sealed class GlueApp(TextWriter output, TextWriter error)
{
    /// <summary>Exit code of a successful run.</summary>
    public const int Ok = 0;
    /// <summary>Exit code of a failed run (message on stderr).</summary>
    public const int Failed = 1;
    /// <summary>Exit code of bad usage (message and help on stderr).</summary>
    public const int BadUsage = 2;

    /// <summary>Live progress display: null detects, false prints plain lines.</summary>
    public bool? LiveProgress { get; init; }

    /// <summary>The metrics of the last train command (for tests).</summary>
    public System.Text.Json.Nodes.JsonObject? LastMetrics { get; private set; }

    /// <summary>Runs <paramref name="args"/>; returns the exit code.</summary>
    public int Run(IReadOnlyList<string> args)
    {
        using var cancellation = new CancellationTokenSource();
        bool verbose = false;
        RootCommand root = GlueCommandLine.Create(
            train: s =>
            {
                verbose = s.Verbose;
                LastMetrics = new GlueRunner(output, error) { LiveProgress = LiveProgress }.Train(s, cancellation.Token);
                return Ok;
            },
            predict: p =>
            {
                verbose = p.Verbose;
                new GlueRunner(output, error).Predict(p);
                return Ok;
            },
            exportPeft: x =>
            {
                verbose = x.Verbose;
                new GlueRunner(output, error).ExportPeft(x);
                return Ok;
            },
            exportOnnx: x =>
            {
                verbose = x.Verbose;
                new GlueRunner(output, error).ExportOnnx(x);
                return Ok;
            });
        ParseResult parsed = root.Parse(args);
        // Bad usage, unless help was asked for (`predict --help` lacks predict's required options).
        if (parsed.Action is ParseErrorAction) return Usage(root, parsed, [.. parsed.Errors.Select(e => e.Message)]);

        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            e.Cancel = true; // stop between training steps, then exit with code 1
            cancellation.Cancel();
        }
        Console.CancelKeyPress += OnCancel;
        try
        {
            // Exceptions reach the handlers below: ours print one line (exit 1), or the help for bad usage (exit 2).
            return parsed.Invoke(new InvocationConfiguration
            {
                Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
            });
        }
        catch (UsageException e)
        {
            return Usage(root, parsed, [e.Message]);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine("error: cancelled.");
            return Failed;
        }
        catch (Exception e)
        {
            error.WriteLine($"error: {Message(e)}");
            if (verbose) error.WriteLine(e.ToString());
            return Failed;
        }
        finally
        {
            Console.CancelKeyPress -= OnCancel;
        }
    }

    /// <summary>The messages, then the help of the command they concern, on stderr; exit code 2.</summary>
    int Usage(RootCommand root, ParseResult parsed, IEnumerable<string> messages)
    {
        foreach (string message in messages) error.WriteLine($"error: {message}");
        error.WriteLine();
        string[] helpArgs = parsed.CommandResult.Command == root ? ["--help"] : [parsed.CommandResult.Command.Name, "--help"];
        root.Parse(helpArgs).Invoke(new InvocationConfiguration { Output = error });
        return BadUsage;
    }

    /// <summary>The message of the exception that matters, without wrappers.</summary>
    public static string Message(Exception e)
    {
        while (e is TargetInvocationException or AggregateException or TypeInitializationException && e.InnerException is not null) e = e.InnerException!;
        return e.Message;
    }
}
