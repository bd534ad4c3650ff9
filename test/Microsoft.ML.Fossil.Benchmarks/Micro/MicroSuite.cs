using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Microsoft.ML.Fossil.Benchmarks.Micro;

/// <summary>Runs <see cref="AdaptedLayerBenchmarks"/> with BenchmarkDotNet, in this process, and collects the results.</summary>
internal static class MicroSuite
{
    public static List<MicroResult> Run(RunSettings settings)
    {
        AdaptedLayerBenchmarks.Tokens = settings.MicroTokens;
        AdaptedLayerBenchmarks.PrecisionChoices = [.. settings.Precisions];
        // In process: the benchmarks need libtorch and the native-load fix of this build output, which a
        // generated out-of-process project would not have; and settings pass through a static.
        Job job = settings.Preset == "quick"
            ? Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithId("quick")
                .WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1).WithLaunchCount(1)
            : Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithId("full")
                .WithWarmupCount(3).WithIterationCount(10).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250))
                .WithUnrollFactor(1).WithLaunchCount(1);
        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddLogger(ConsoleLogger.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(StatisticColumn.Median)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(MarkdownExporter.GitHub, JsonExporter.Full)
            .WithArtifactsPath(Path.Combine(settings.OutputFolder, "micro"))
            .WithOptions(ConfigOptions.DisableLogFile | ConfigOptions.JoinSummary);
        Summary summary = BenchmarkRunner.Run<AdaptedLayerBenchmarks>(config);

        var results = new List<MicroResult>();
        foreach (BenchmarkReport report in summary.Reports)
        {
            string shape = (string)report.BenchmarkCase.Parameters["Shape"];
            string kind = (string)report.BenchmarkCase.Parameters["Kind"];
            string precision = (string)report.BenchmarkCase.Parameters["Precision"];
            var stats = report.ResultStatistics;
            results.Add(new MicroResult
            {
                Shape = shape,
                Kind = kind,
                Precision = precision,
                Method = report.BenchmarkCase.Descriptor.WorkloadMethod.Name == nameof(AdaptedLayerBenchmarks.Forward) ? "forward" : "forward+backward",
                Tokens = settings.MicroTokens,
                MedianMs = stats is null ? double.NaN : stats.Median / 1e6,
                MeanMs = stats is null ? double.NaN : stats.Mean / 1e6,
                StdErrMs = stats is null ? double.NaN : stats.StandardError / 1e6,
                AllocatedBytesPerOp = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase),
                TrainableParameters = AdaptedLayerBenchmarks.AdapterParameters(shape, kind),
            });
        }
        return results;
    }
}
