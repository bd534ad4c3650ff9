using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.Tests.MLNetInternals;

/// <summary>
/// The fresh-process runner (Microsoft.ML.Fossil.FreshProcess, a plain consumer of the library that
/// never names a Fossil type): the end-to-end tests save models here with mlContext.Model.Save and
/// load them there with mlContext.Model.Load (MLNet/MiniLmFineFoodsTests, MLNet/TinyBackboneTests).
/// </summary>
public class FreshProcessTests
{
    /// <summary>Path of the runner's dll, recorded by the test project at build time.</summary>
    internal static string RunnerPath() =>
        typeof(FreshProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "FossilFreshProcessRunner").Value
        ?? throw new InvalidOperationException("The test project did not record the fresh-process runner's path.");

    /// <summary>Runs the runner with <paramref name="arguments"/>; returns the exit code and its stderr+stdout.</summary>
    internal static (int ExitCode, string Output) RunRunner(params string[] arguments) => RunRunner(null, arguments);

    /// <summary>Runs the runner with extra environment variables.</summary>
    internal static (int ExitCode, string Output) RunRunner(IReadOnlyDictionary<string, string>? environment, params string[] arguments) =>
        RunRunner(TimeSpan.FromMinutes(3), environment, arguments);

    /// <summary>Runs the runner with extra environment variables, killing it after <paramref name="timeout"/>.</summary>
    internal static (int ExitCode, string Output) RunRunner(TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        using Process process = StartRunner(environment, arguments);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fresh-process runner did not finish in {timeout.TotalMinutes:F0} minutes");
        }
        return (process.ExitCode, stderr.Result + stdout.Result);
    }

    /// <summary>Starts the runner with stdout and stderr redirected; the caller reads them and waits (or kills it).</summary>
    internal static Process StartRunner(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        string runner = RunnerPath();
        Assert.True(File.Exists(runner), $"fresh-process runner not built: {runner}");
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(runner);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (name, value) in environment) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    [Fact]
    public void The_runner_reports_a_model_it_cannot_load()
    {
        string dir = Directory.CreateTempSubdirectory("fossil-fresh-").FullName;
        try
        {
            string bogus = Path.Combine(dir, "bogus.zip");
            File.WriteAllText(bogus, "not a zip");
            (int exitCode, string log) = RunRunner("transform", bogus, bogus, Path.Combine(dir, "out.json"));
            Assert.Equal(1, exitCode);
            Assert.False(string.IsNullOrWhiteSpace(log));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
