using System.Reflection;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>Entry point: see <see cref="GlueCommandLine.Usage"/>.</summary>
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
    /// <summary>Exit code of bad usage (message and usage text on stderr).</summary>
    public const int BadUsage = 2;

    /// <summary>Live progress display: null detects, false prints plain lines.</summary>
    public bool? LiveProgress { get; init; }

    /// <summary>The metrics of the last train command (for tests).</summary>
    public System.Text.Json.Nodes.JsonObject? LastMetrics { get; private set; }

    /// <summary>Runs <paramref name="args"/>; returns the exit code.</summary>
    public int Run(IReadOnlyList<string> args)
    {
        ParsedCommand command;
        try
        {
            command = GlueCommandLine.Parse(args);
        }
        catch (UsageException e)
        {
            return Usage(e.Message);
        }
        if (command.Verb == Verb.Help)
        {
            output.WriteLine(GlueCommandLine.Usage);
            return Ok;
        }

        bool verbose = command.Train?.Verbose ?? command.Predict?.Verbose ?? false;
        using var cancellation = new CancellationTokenSource();
        void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            e.Cancel = true; // stop between training steps, then exit with code 1
            cancellation.Cancel();
        }
        Console.CancelKeyPress += OnCancel;
        try
        {
            var runner = new GlueRunner(output, error) { LiveProgress = LiveProgress };
            if (command.Verb == Verb.Predict) runner.Predict(command.Predict!);
            else LastMetrics = runner.Train(command.Train!, cancellation.Token);
            return Ok;
        }
        catch (UsageException e)
        {
            return Usage(e.Message);
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

    int Usage(string message)
    {
        error.WriteLine($"error: {message}");
        error.WriteLine();
        error.WriteLine(GlueCommandLine.Usage);
        return BadUsage;
    }

    /// <summary>The message of the exception that matters, without wrappers.</summary>
    public static string Message(Exception e)
    {
        while (e is TargetInvocationException or AggregateException or TypeInitializationException && e.InnerException is not null) e = e.InnerException!;
        return e.Message;
    }
}
