using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.Tests.MLNetInternals;

/// <summary>
/// Save here with the standard mlContext.Model.Save; load in a fresh process (the
/// Microsoft.ML.Fossil.FreshProcess console app, a plain consumer of the library that never names a
/// Fossil type) with the standard mlContext.Model.Load; compare bit for bit.
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
    internal static (int ExitCode, string Output) RunRunner(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        string runner = RunnerPath();
        Assert.True(File.Exists(runner), $"fresh-process runner not built: {runner}");
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(runner);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (name, value) in environment) start.Environment[name] = value;
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("fresh-process runner did not finish in 3 minutes");
        }
        return (process.ExitCode, stderr.Result + stdout.Result);
    }

    static string Tsv(LogitsToPredictionTests.Row[] rows)
    {
        var text = new StringBuilder();
        foreach (LogitsToPredictionTests.Row row in rows)
        {
            text.Append(row.Label);
            foreach (float v in row.Logits) text.Append('\t').Append(v.ToString("R", CultureInfo.InvariantCulture));
            text.Append('\n');
        }
        return text.ToString();
    }

    static int Bits(JsonElement value) => BitConverter.SingleToInt32Bits(float.Parse(value.GetString()!, CultureInfo.InvariantCulture));

    [Fact]
    public void A_model_saved_here_loads_with_Model_Load_in_a_fresh_process_and_predicts_bit_identically()
    {
        var ml = new MLContext(seed: 1);
        LogitsToPredictionTests.Row[] rows = LogitsToPredictionTests.Rows();
        IDataView data = ml.Data.LoadFromEnumerable(rows);
        ITransformer model = LogitsToPredictionTests.Pipeline(ml).Fit(data);
        IDataView expected = model.Transform(data);
        float[][] expectedScores = expected.GetColumn<float[]>("Score").ToArray();
        uint[] expectedKeys = expected.GetColumn<uint>("PredictedLabel").ToArray();
        string[] expectedTexts = expected.GetColumn<string>("PredictedLabelText").ToArray();

        string dir = Directory.CreateTempSubdirectory("fossil-fresh-").FullName;
        try
        {
            string modelPath = Path.Combine(dir, "model.zip");
            string inputPath = Path.Combine(dir, "input.tsv");
            string outputPath = Path.Combine(dir, "output.json");
            ml.Model.Save(model, data.Schema, modelPath);
            File.WriteAllText(inputPath, Tsv(rows));

            (int exitCode, string log) = RunRunner("transform", modelPath, inputPath, outputPath);
            Assert.True(exitCode == 0, $"runner failed ({exitCode}):\n{log}");

            using JsonDocument result = JsonDocument.Parse(File.ReadAllBytes(outputPath));
            JsonElement root = result.RootElement;
            // The consumer never touched Microsoft.ML.Fossil: ML.NET loaded it from the model header.
            Assert.False(root.GetProperty("fossilLoadedBeforeModelLoad").GetBoolean());
            Assert.True(root.GetProperty("fossilLoadedAfterModelLoad").GetBoolean());

            JsonElement[] columns = root.GetProperty("columns").EnumerateArray().ToArray();
            JsonElement score = columns.Single(c => c.GetProperty("name").GetString() == "Score");
            Assert.Equal(LogitsToPredictionTests.Classes, score.GetProperty("annotations").GetProperty("SlotNames").EnumerateArray().Select(e => e.GetString()));
            JsonElement predicted = columns.Single(c => c.GetProperty("name").GetString() == "PredictedLabel");
            Assert.Equal(expected.Schema["PredictedLabel"].Type.ToString(), predicted.GetProperty("type").GetString());
            Assert.Equal(LogitsToPredictionTests.Classes, predicted.GetProperty("annotations").GetProperty("KeyValues").EnumerateArray().Select(e => e.GetString()));

            foreach (string rowsProperty in new[] { "rows", "mapperRows" })
            {
                JsonElement[] outRows = root.GetProperty(rowsProperty).EnumerateArray().ToArray();
                Assert.Equal(rows.Length, outRows.Length);
                for (int i = 0; i < rows.Length; i++)
                {
                    Assert.Equal(expectedScores[i].Select(BitConverter.SingleToInt32Bits),
                        outRows[i].GetProperty("Score").EnumerateArray().Select(Bits));
                    Assert.Equal(expectedKeys[i], outRows[i].GetProperty("PredictedLabel").GetUInt32());
                    Assert.Equal(expectedTexts[i], outRows[i].GetProperty("PredictedLabelText").GetString());
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
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
