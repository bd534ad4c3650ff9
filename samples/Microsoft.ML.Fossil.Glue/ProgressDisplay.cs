using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Microsoft.ML.Fossil.Glue;

/// <summary>
/// Training progress: a live Spectre.Console display (epoch, step, loss, rows/s, ETA) on an interactive
/// terminal, plain lines when the output is redirected or not a terminal (or with --plain).
/// </summary>
public static class ProgressDisplay
{
    /// <summary>Whether <paramref name="output"/> can show a live display.</summary>
    public static bool CanRenderLive(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected) return false;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        return console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi;
    }

    /// <summary>Runs <paramref name="work"/> (which trains, calling the progress action) under the chosen display.</summary>
    public static T Run<T>(TextWriter output, bool live, int epochs, Func<Action<TrainingProgress>, T> work)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(work);
        return live ? RunLive(output, epochs, work) : work(new PlainReporter(output, epochs).Report);
    }

    /// <summary>One progress line, as printed in plain mode and shown in the live display.</summary>
    public static string Describe(TrainingProgress p, int epochs) =>
        string.Create(CultureInfo.InvariantCulture,
            $"epoch {p.Epoch}/{epochs}  step {p.Step}/{p.StepsPerEpoch}  loss {p.Loss:F4}  {p.RowsPerSecond:F1} rows/s  ETA {Eta(p.Remaining)}");

    /// <summary>The validation line that ends an epoch.</summary>
    public static string DescribeValidation(TrainingProgress p, int epochs) =>
        string.Create(CultureInfo.InvariantCulture, $"epoch {p.Epoch}/{epochs} done: train loss {p.Loss:F4}; validation {p.Validation}");

    static string Eta(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"mm\:ss", CultureInfo.InvariantCulture);

    static T RunLive<T>(TextWriter output, int epochs, Func<Action<TrainingProgress>, T> work)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        return console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new SpinnerColumn(), new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask("loading the backbone and tokenizing", maxValue: 1);
                task.IsIndeterminate = true;
                int lastEpochShown = 0;
                T result = work(p =>
                {
                    long total = (long)p.StepsPerEpoch * epochs;
                    if (task.IsIndeterminate)
                    {
                        task.IsIndeterminate = false;
                        task.MaxValue = total;
                    }
                    if (p.Validation is not null)
                    {
                        console.MarkupLine(Markup.Escape(DescribeValidation(p, epochs)));
                        return;
                    }
                    task.Value = (long)(p.Epoch - 1) * p.StepsPerEpoch + p.Step;
                    task.Description = Markup.Escape(Describe(p, epochs));
                    if (p.Step == p.StepsPerEpoch && p.Epoch > lastEpochShown)
                    {
                        lastEpochShown = p.Epoch;
                        console.MarkupLine(Markup.Escape($"epoch {p.Epoch}/{epochs}: train loss {p.Loss.ToString("F4", CultureInfo.InvariantCulture)}"));
                    }
                });
                task.Value = task.MaxValue;
                task.StopTask();
                return result;
            });
    }

    /// <summary>Plain lines: the first step, about every tenth of an epoch (at most every 15 s), the end of each epoch.</summary>
    sealed class PlainReporter(TextWriter output, int epochs)
    {
        readonly Stopwatch sinceLine = Stopwatch.StartNew();
        int lastStep;

        public void Report(TrainingProgress p)
        {
            if (p.Validation is not null)
            {
                output.WriteLine(DescribeValidation(p, epochs));
                output.Flush();
                return;
            }
            if (p.Step < lastStep) lastStep = 0; // a new epoch
            int every = Math.Max(1, p.StepsPerEpoch / 10);
            bool due = (p.Epoch == 1 && p.Step == 1) || p.Step == p.StepsPerEpoch || p.Step - lastStep >= every || sinceLine.Elapsed.TotalSeconds >= 15;
            if (!due) return;
            lastStep = p.Step;
            sinceLine.Restart();
            output.WriteLine(Describe(p, epochs));
            output.Flush();
        }
    }
}
