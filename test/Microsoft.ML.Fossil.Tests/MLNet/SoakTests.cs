using System.Text;
using System.Text.Json;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Tests.MLNetInternals;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// Memory over time, each in a fresh process (the runner's soak and fit-twice commands) so that RSS is
/// the model's alone. These are the CI-sized runs; test/soak/run-soak.sh runs the full 20,000-prediction
/// soak and docs/reliability.md has its figures.
/// </summary>
[Collection(MiniLmFineFoodsFixture.Collection)]
public sealed class SoakTests(MiniLmFineFoodsFixture fixture, ITestOutputHelper output) : IDisposable
{
    const double GrowthBoundMiB = 50;
    readonly string folder = Directory.CreateTempSubdirectory("fossil-soak-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    JsonElement Run(params string[] arguments)
    {
        // Each run takes 10 to 30 s on an idle 2-core machine; libtorch slows down many times over when
        // other processes compete for the cores, so the limit is generous: these tests measure memory.
        (int exit, string log) = FreshProcessTests.RunRunner(TimeSpan.FromMinutes(10), null, arguments);
        Assert.True(exit == 0, $"runner failed ({exit}):\n{log}");
        output.WriteLine(log);
        // The runner prints one JSON object on stdout (after stderr in the combined log).
        using JsonDocument json = JsonDocument.Parse(log[log.IndexOf('{', StringComparison.Ordinal)..(log.LastIndexOf('}') + 1)]);
        return json.RootElement.Clone();
    }

    [Fact]
    public void Two_thousand_PredictionEngine_predictions_grow_RSS_by_less_than_50_MB_after_warm_up()
    {
        // Short rows (the first 8 words of each held-out review) keep this well under a minute on 2 cores;
        // run-soak.sh uses whole reviews.
        string input = Path.Combine(folder, "input.tsv");
        string[] sentences = [.. fixture.Test.GetColumn<string>("Sentence")];
        File.WriteAllText(input, string.Concat(sentences.Select(s => string.Join(' ', s.Split(' ').Take(8)) + "\t1\n")), new UTF8Encoding(false));
        JsonElement soak = Run("soak", fixture.ModelPath, input, "2000", "--warmup", "200", "--sample-every", "250");
        double growth = soak.GetProperty("growth_after_warmup_mib").GetDouble();
        double peakGrowth = soak.GetProperty("peak_growth_after_warmup_mib").GetDouble();
        Assert.Equal(2000, soak.GetProperty("predictions").GetInt32());
        Assert.True(growth < GrowthBoundMiB, $"RSS grew by {growth} MiB over 2,000 predictions after warm-up");
        Assert.True(peakGrowth < GrowthBoundMiB, $"RSS peaked {peakGrowth} MiB above its level after warm-up");
    }

    [Fact]
    public void Fitting_twice_in_one_process_releases_the_first_model_when_it_is_disposed()
    {
        JsonElement fit = Run("fit-twice", FineFoods.PathOf("fine_foods_train.tsv"), "--rows", "64", "--epochs", "1");
        // RSS after glibc's malloc_trim: what the process uses, not what the allocator keeps cached
        // (the runner also waits for the MiniLM package's collectible load context to unload).
        double secondMinusFirst = fit.GetProperty("second_minus_first_after_dispose_mib").GetDouble();
        double released = fit.GetProperty("released_by_first_dispose_mib").GetDouble();
        Assert.True(secondMinusFirst < GrowthBoundMiB, $"after the second fit and dispose RSS is {secondMinusFirst} MiB above the first's");
        // The MiniLM's weights alone are 87.8 MiB: disposing the first model must give at least that back.
        Assert.True(released > 87.8, $"disposing the first model released only {released} MiB");
    }
}
