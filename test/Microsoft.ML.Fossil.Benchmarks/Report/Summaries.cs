using Microsoft.ML.Fossil.Benchmarks.Macro;

namespace Microsoft.ML.Fossil.Benchmarks.Report;

/// <summary>One training configuration's figures, pooled over its rounds.</summary>
internal sealed record TrainSummary(
    string Model, int Batch, int Sequence, string Config, string Precision, int Rounds, long TrainableParameters, int AdaptedLayers,
    double StepMs, double MinStepMs, double StepCpuMs, double TokensPerSecond, long PeakRssBytes, long RssBeforeBytes, long PeakManagedBytes,
    double AllocatedBytesPerStep, double? AdapterInitMs, double? AdapterInitColdMs, long TrainedTensorBytes, string? Error)
{
    public double? AdapterInitMsPerLayer => AdapterInitMs is { } ms && AdaptedLayers > 0 ? ms / AdaptedLayers : null;
    public bool Ok => Error is null && !double.IsNaN(StepMs);
}

internal static class Summaries
{
    public static List<TrainSummary> Training(SuiteResults results) =>
        [.. results.Training
            .GroupBy(t => (t.Model, t.Batch, t.Sequence, t.Config, t.Precision))
            .Select(g =>
            {
                TrainResult[] ok = [.. g.Where(t => t.Error is null && t.StepMs.Count > 0)];
                TrainResult first = ok.FirstOrDefault() ?? g.First();
                double step = Stats.Median(ok.SelectMany(t => t.StepMs));
                return new TrainSummary(g.Key.Model, g.Key.Batch, g.Key.Sequence, g.Key.Config, g.Key.Precision, g.Count(), first.TrainableParameters, first.AdaptedLayers,
                    step, ok.SelectMany(t => t.StepMs).DefaultIfEmpty(double.NaN).Min(), Stats.Median(ok.SelectMany(t => t.StepCpuMs)), g.Key.Batch * g.Key.Sequence / (step / 1000.0),
                    (long)Stats.Median(ok.Select(t => (double)t.PeakRssBytes)), (long)Stats.Median(ok.Select(t => (double)t.RssBeforeTrainingBytes)),
                    (long)Stats.Median(ok.Select(t => (double)t.PeakManagedHeapBytes)), Stats.Median(ok.SelectMany(t => t.StepAllocatedBytes.Select(b => (double)b))),
                    ok.Any(t => t.AdapterInitMs is not null) ? Stats.Median(ok.Where(t => t.AdapterInitMs is not null).Select(t => t.AdapterInitMs!.Value)) : null,
                    ok.Any(t => t.AdapterInitColdMs is not null) ? Stats.Median(ok.Where(t => t.AdapterInitColdMs is not null).Select(t => t.AdapterInitColdMs!.Value)) : null,
                    first.TrainedTensorBytes, ok.Length == 0 ? g.First().Error ?? "no steps" : null);
            })
            .OrderBy(s => s.Model == BenchModels.MiniLm ? 0 : 1).ThenByDescending(s => s.Sequence).ThenBy(s => IndexOf(s.Config)).ThenBy(s => s.Precision == "fp32" ? 0 : 1)];

    static int IndexOf(string config)
    {
        for (int i = 0; i < TrainConfigs.All.Count; i++) if (TrainConfigs.All[i] == config) return i;
        return int.MaxValue;
    }

    /// <summary>Results of several precisions are labelled with theirs; a run in fp32 only keeps its old labels.</summary>
    public static string WithPrecision(string label, string precision, bool several) => several ? $"{label} [{precision}]" : label;

    public static string Mib(long bytes) => (bytes / 1048576.0).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);

    public static string Bytes(double bytes) => bytes switch
    {
        >= 1 << 30 => $"{bytes / (1 << 30):F2} GiB",
        >= 1 << 20 => $"{bytes / (1 << 20):F1} MiB",
        >= 1 << 10 => $"{bytes / (1 << 10):F1} KiB",
        _ => $"{bytes:F0} B",
    };
}
