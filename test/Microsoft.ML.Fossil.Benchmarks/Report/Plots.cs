using System.Globalization;
using Microsoft.ML.Fossil.Benchmarks.Macro;
using ScottPlot;

namespace Microsoft.ML.Fossil.Benchmarks.Report;

/// <summary>The PNG plots (ScottPlot): step time and memory per configuration, inference rows/s by batch size.</summary>
internal static class Plots
{
    static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    /// <summary>Draws every plot the results allow; returns the file names (relative to <paramref name="folder"/>).</summary>
    public static List<string> Draw(SuiteResults results, string folder)
    {
        var files = new List<string>();
        List<TrainSummary> training = Summaries.Training(results);
        foreach (var group in training.GroupBy(t => (t.Model, t.Batch, t.Sequence)))
        {
            TrainSummary[] ok = [.. group.Where(t => t.Ok)];
            if (ok.Length == 0) continue;
            int hidden = BenchModels.Hidden(group.Key.Model);
            string[] precisions = [.. ok.Select(t => t.Precision).Distinct()];
            string[] configs = [.. ok.Select(t => t.Config).Distinct()];
            string[] labels = [.. configs.Select(c => TrainConfigs.Label(c, hidden))];
            double Value(string config, string precision, Func<TrainSummary, double> pick) =>
                ok.FirstOrDefault(t => t.Config == config && t.Precision == precision) is { } t ? pick(t) : double.NaN;
            string suffix = $"{group.Key.Model}-{group.Key.Batch}x{group.Key.Sequence}";
            string title = $"{BenchModels.Label(group.Key.Model)}, batch {group.Key.Batch} x {group.Key.Sequence}";

            string step = $"step-time-{suffix}.png";
            int threads = Math.Max(1, results.Machine.TorchThreads);
            BarChart(Path.Combine(folder, step), $"Training step, separate processes: {title}", "ms per step (median)", labels,
                [.. precisions.SelectMany(p => new (string, double[])[]
                {
                    ($"wall time, {p}", [.. configs.Select(c => Value(c, p, t => t.StepMs))]),
                    ($"CPU time / threads, {p}", [.. configs.Select(c => Value(c, p, t => t.StepCpuMs / threads))]),
                })]);
            files.Add(step);

            string memory = $"memory-{suffix}.png";
            BarChart(Path.Combine(folder, memory), $"Peak memory while training: {title}", "MiB", labels,
                [.. precisions.SelectMany(p => new (string, double[])[]
                {
                    ($"RSS before training (model loaded), {p}", [.. configs.Select(c => Value(c, p, t => t.RssBeforeBytes / 1048576.0))]),
                    ($"peak RSS while training, {p}", [.. configs.Select(c => Value(c, p, t => t.PeakRssBytes / 1048576.0))]),
                })]);
            files.Add(memory);
        }

        if (results.Accuracy.Any(a => a.Error is null))
        {
            string file = "accuracy-fp32-bf16.png";
            AccuracyResult[] ok = [.. results.Accuracy.Where(a => a.Error is null)];
            var keys = ok.Select(a => (a.Task, a.Seed)).Distinct().ToArray();
            string[] categories = [.. keys.Select(k => $"{k.Task} ({ok.First(a => a.Task == k.Task).PrimaryMetric}), seed {k.Seed}")];
            BarChart(Path.Combine(folder, file), "Held-out metric of MiniLM FOSSIL trained in fp32 and in bf16", "points", categories,
                [.. ok.Select(a => a.Precision).Distinct().Select(p => (p, keys.Select(k => ok.FirstOrDefault(a => (a.Task, a.Seed) == k && a.Precision == p)?.Primary ?? double.NaN).ToArray()))]);
            files.Add(file);
        }

        if (results.Peer.Any(p => p.Error is null))
        {
            foreach (var shape in results.Peer.Where(p => p.Error is null).GroupBy(p => (p.Batch, p.Sequence)))
            {
                string file = $"pytorch-peer-{shape.Key.Batch}x{shape.Key.Sequence}.png";
                PeerResult[] peers = [.. shape];
                string[] categories = [.. peers.Select(p => $"{TrainConfigs.Label(p.Config, 384)}, {p.Precision}")];
                double Ours(PeerResult p) => training.FirstOrDefault(t => t.Model == p.Model && t.Batch == p.Batch && t.Sequence == p.Sequence && t.Config == p.Config
                                                                         && t.Precision == p.Precision && t.Ok)?.StepMs ?? double.NaN;
                BarChart(Path.Combine(folder, file), $"Training step against plain PyTorch {peers[0].Torch} (bf16 autocast): MiniLM, batch {shape.Key.Batch} x {shape.Key.Sequence}",
                    "ms per step (median)", categories,
                    [("PyTorch", [.. peers.Select(p => Stats.Median(p.StepMs))]), ("Microsoft.ML.Fossil", [.. peers.Select(Ours)])]);
                files.Add(file);
            }
        }

        foreach (Macro.ProfileResult profile in results.Profile.Where(p => p.PhasesMs.Count > 0))
        {
            string file = $"step-profile-{profile.Model}-{profile.Batch}x{profile.Sequence}.png";
            StackedProfile(Path.Combine(folder, file), profile);
            files.Add(file);
        }

        MlNetResult[] mlnet = [.. results.MlNet.Where(m => m.TransformRowsPerSecond.Count > 0)];
        if (mlnet.Length > 0)
        {
            string rows = "inference-rows-per-second.png";
            var plot = new Plot();
            int[] sizes = [.. mlnet.SelectMany(m => m.TransformRowsPerSecond.Keys).Select(k => int.Parse(k, CultureInfo.InvariantCulture)).Distinct().Order()];
            double[] xs = [.. sizes.Select(s => Math.Log2(s))];
            bool severalServing = mlnet.Select(m => m.Precision).Distinct().Count() > 1;
            for (int i = 0; i < mlnet.Length; i++)
            {
                MlNetResult m = mlnet[i];
                string name = Summaries.WithPrecision(BenchModels.Label(m.Model), m.Precision, severalServing);
                int[] have = [.. sizes.Where(s => m.TransformRowsPerSecond.ContainsKey(s.ToString(CultureInfo.InvariantCulture)))];
                double[] lineX = [.. have.Select(s => Math.Log2(s))];
                double[] lineY = [.. have.Select(s => m.TransformRowsPerSecond[s.ToString(CultureInfo.InvariantCulture)])];
                var line = plot.Add.Scatter(lineX, lineY);
                line.Color = Palette.GetColor(i);
                line.LineWidth = 2;
                line.MarkerSize = 8;
                line.LegendText = $"Transform, {name}";
                if (m.PredictionEngineRowsPerSecond is { } engine)
                {
                    var h = plot.Add.HorizontalLine(engine);
                    h.Color = Palette.GetColor(i);
                    h.LinePattern = LinePattern.Dashed;
                    h.LegendText = $"PredictionEngine loop, {name}";
                }
            }
            plot.Axes.Bottom.SetTicks(xs, [.. sizes.Select(s => s.ToString(CultureInfo.InvariantCulture))]);
            plot.XLabel("Transform batch size (rows per forward pass)");
            plot.YLabel("rows per second");
            plot.Title("Inference throughput on real reviews (merged FOSSIL)");
            double top = mlnet.SelectMany(m => m.TransformRowsPerSecond.Values.Append(m.PredictionEngineRowsPerSecond ?? 0)).Max();
            plot.Axes.SetLimitsY(0, top * 1.15);
            plot.ShowLegend(Edge.Bottom);
            plot.SavePng(Path.Combine(folder, rows), 900, 560);
            files.Add(rows);
        }
        return files;
    }

    /// <summary>Stacked bars: the median of each phase of a step, per configuration (the interleaved in-process profile).</summary>
    static void StackedProfile(string path, Macro.ProfileResult profile)
    {
        int hidden = BenchModels.Hidden(profile.Model);
        string[] names = [.. profile.PhasesMs.Keys.OrderBy(n => Macro.ProfileWorkload.Parse(n).Dropout ? 0 : 1)
            .ThenBy(n => TrainConfigs.All.ToList().IndexOf(Macro.ProfileWorkload.Parse(n).Config)).ThenBy(n => Macro.ProfileWorkload.Parse(n).Precision == "fp32" ? 0 : 1)];
        bool several = names.Select(n => Macro.ProfileWorkload.Parse(n).Precision).Distinct().Count() > 1;
        (string Label, string[] Phases)[] segments =
        [
            ("forward", ["forward"]), ("backward", ["backward"]), ("clip + optimizer", ["clip", "optimizer"]), ("pad + loss", ["pad", "loss"]),
        ];
        var plot = new Plot();
        for (int s = 0; s < segments.Length; s++)
        {
            var bars = new List<Bar>();
            for (int c = 0; c < names.Length; c++)
            {
                var phases = profile.PhasesMs[names[c]];
                double below = segments.Take(s).Sum(seg => seg.Phases.Sum(ph => Stats.Median(phases[ph])));
                double value = segments[s].Phases.Sum(ph => Stats.Median(phases[ph]));
                bars.Add(new Bar { Position = c, ValueBase = below, Value = below + value, Size = 0.6, FillColor = Palette.GetColor(s) });
            }
            plot.Add.Bars(bars).LegendText = segments[s].Label;
        }
        string[] labels = [.. names.Select(Macro.ProfileWorkload.Parse).Select(n => TrainConfigs.Label(n.Config, hidden) + (n.Dropout ? "" : ", dropout off")
                                                                                     + (several ? $", {n.Precision}" : ""))];
        for (int c = 0; c < names.Length; c++)
        {
            var phases = profile.PhasesMs[names[c]];
            double total = Stats.Median(phases["total"]);
            double stackTop = segments.Sum(seg => seg.Phases.Sum(ph => Stats.Median(phases[ph])));
            var text = plot.Add.Text(total.ToString(total >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture), c, stackTop);
            text.LabelAlignment = Alignment.LowerCenter;
        }
        double top = names.Max(n => Math.Max(Stats.Median(profile.PhasesMs[n]["total"]),
            segments.Sum(seg => seg.Phases.Sum(ph => Stats.Median(profile.PhasesMs[n][ph])))));
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, names.Length).Select(i => (double)i)], labels);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.SetLimits(-0.6, names.Length - 0.4, 0, top * 1.12);
        plot.YLabel("ms per step (median of the phases)");
        plot.Title($"Step phases, interleaved in one process: {BenchModels.Label(profile.Model)}, {profile.Batch} x {profile.Sequence}");
        plot.ShowLegend(Edge.Bottom);
        plot.SavePng(path, 1000, 560);
    }

    static void BarChart(string path, string title, string yLabel, string[] categories, (string Name, double[] Values)[] series)
    {
        var plot = new Plot();
        double width = 0.8 / series.Length;
        for (int s = 0; s < series.Length; s++)
        {
            var bars = new List<Bar>();
            for (int c = 0; c < categories.Length; c++)
            {
                double value = series[s].Values[c];
                if (double.IsNaN(value)) continue;
                bars.Add(new Bar
                {
                    Position = c - 0.4 + width * (s + 0.5),
                    Value = value,
                    Size = width * 0.95,
                    FillColor = Palette.GetColor(s),
                    Label = value.ToString(value >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture),
                });
            }
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = series[s].Name;
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, categories.Length).Select(i => (double)i)], categories);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        double top = series.SelectMany(s => s.Values).Where(v => !double.IsNaN(v)).DefaultIfEmpty(1).Max();
        plot.Axes.SetLimits(-0.6, categories.Length - 0.4, 0, top * 1.12);
        plot.YLabel(yLabel);
        plot.Title(title);
        plot.ShowLegend(Edge.Bottom);
        plot.SavePng(path, 1000, 560);
    }
}
