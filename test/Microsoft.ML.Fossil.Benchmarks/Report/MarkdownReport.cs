using System.Globalization;
using System.Text;
using Microsoft.ML.Fossil.Benchmarks.Macro;

namespace Microsoft.ML.Fossil.Benchmarks.Report;

/// <summary>results.md: the machine, the targets, and one table per workload.</summary>
internal static class MarkdownReport
{
    static string F(double v, string format = "F0") => double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);

    static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    public static string Render(SuiteResults results, IReadOnlyList<string> plots)
    {
        var md = new StringBuilder();
        MachineInfo m = results.Machine;
        md.AppendLine(CultureInfo.InvariantCulture, $"# Benchmark results ({results.Preset})");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"- Command: `{results.Command}`");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Started {results.Started:yyyy-MM-dd HH:mm zzz}, took {F(results.TotalSeconds)} s");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {m.Cpu}, {m.LogicalCores} logical cores, {Summaries.Bytes(m.MemoryBytes)}; {m.Os}; {m.Runtime}");
        md.AppendLine(CultureInfo.InvariantCulture, $"- TorchSharp {m.TorchSharp}, libtorch {m.LibTorch} (CPU), {m.TorchThreads} intra-op / {m.TorchInteropThreads} inter-op threads (defaults)");
        md.AppendLine(CultureInfo.InvariantCulture, $"- 1-minute load average: {F(m.LoadAverageAtStart, "F2")} at the start, {F(m.LoadAverageAtEnd, "F2")} at the end (above the core count means other work shared the CPUs)");
        md.AppendLine();

        md.AppendLine("## Targets");
        md.AppendLine();
        md.AppendLine("| target | scope | ratio | limit | status | measured |");
        md.AppendLine("|---|---|---:|---:|---|---|");
        foreach (TargetCheck t in results.Targets)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {t.Target} | {t.Scope} | {(t.Ratio is { } r ? F(r, "F2") : "-")} | {(t.Limit is { } l ? F(l, "F2") : "-")} | **{t.Status}** | {t.Measured} |");
        md.AppendLine();

        List<TrainSummary> training = Summaries.Training(results);
        if (training.Count > 0)
        {
            md.AppendLine("## Training steps");
            md.AppendLine();
            md.AppendLine("Each configuration runs in its own process: the library's `TrainingLoop.Run` (pad, forward, cross-entropy, backward, " +
                          "gradient clipping, AdamW) over rows of exactly the sequence length (no padding), with the trainer's defaults. " +
                          "ms/step is the median of the measured steps after warm-up (min ms: the fastest one, a noise-robust figure on a shared machine); CPU ms is the process CPU time per step (all threads); " +
                          "peak RSS is VmHWM while training (reset after the model is loaded), so it includes the loaded model; " +
                          "alloc/step is managed allocation per step.");
            md.AppendLine();
            bool several = training.Select(t => t.Precision).Distinct().Count() > 1;
            foreach (var group in training.GroupBy(t => (t.Model, t.Batch, t.Sequence)))
            {
                int hidden = BenchModels.Hidden(group.Key.Model);
                md.AppendLine(CultureInfo.InvariantCulture, $"### {BenchModels.Label(group.Key.Model)}, batch {group.Key.Batch} x {group.Key.Sequence} tokens");
                md.AppendLine();
                md.AppendLine("| configuration | trainable params | ms/step | x floor | bf16 / fp32 | min ms | CPU ms/step | tokens/s | peak RSS MiB | RSS before MiB | peak managed MiB | alloc/step | adapter init ms (per layer) | trained tensors |");
                md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
                foreach (TrainSummary t in group)
                {
                    string label = Summaries.WithPrecision(TrainConfigs.Label(t.Config, hidden), t.Precision, several);
                    if (!t.Ok)
                    {
                        md.AppendLine(CultureInfo.InvariantCulture, $"| {label} | failed: {FirstLine(t.Error)} |||||||||||||");
                        continue;
                    }
                    TrainSummary? floor = group.FirstOrDefault(f => f.Config == TrainConfigs.Floor && f.Precision == t.Precision && f.Ok);
                    TrainSummary? fp32 = t.Precision == "fp32" ? null : group.FirstOrDefault(f => f.Config == t.Config && f.Precision == "fp32" && f.Ok);
                    string init = t.AdapterInitMs is { } ms ? $"{F(ms, "F1")} ({F(t.AdapterInitMsPerLayer ?? double.NaN, "F2")})" : "-";
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {label} | {N(t.TrainableParameters)} | {F(t.StepMs)} | {(floor is null ? "-" : F(t.StepMs / floor.StepMs, "F2"))} | {(fp32 is null ? "-" : F(t.StepMs / fp32.StepMs, "F2"))} | {F(t.MinStepMs)} | " +
                        $"{F(t.StepCpuMs)} | {F(t.TokensPerSecond)} | {Summaries.Mib(t.PeakRssBytes)} | {Summaries.Mib(t.RssBeforeBytes)} | {Summaries.Mib(t.PeakManagedBytes)} | " +
                        $"{Summaries.Bytes(t.AllocatedBytesPerStep)} | {init} | {Summaries.Bytes(t.TrainedTensorBytes)} |");
                }
                md.AppendLine();
            }
        }

        if (results.Profile.Any(p => p.PhasesMs.Count > 0))
        {
            md.AppendLine("## Where a step's time goes (all configurations in one process, interleaved)");
            md.AppendLine();
            md.AppendLine("Each configuration on its own copy of the backbone, one step of each per round (order rotated), after a warm-up round; " +
                          "the step replicates `TrainingLoop.Run`'s and is timed phase by phase; medians over the rounds. Running the configurations " +
                          "side by side puts them under the same background load: these ratios are the steadier ones on a shared machine. " +
                          "\"dropout off\" runs the same step in eval mode (no dropout, gradients as usual).");
            md.AppendLine();
            foreach (Macro.ProfileResult p in results.Profile.Where(p => p.PhasesMs.Count > 0))
            {
                int hidden = BenchModels.Hidden(p.Model);
                string[] phases = ["pad", "forward", "loss", "backward", "clip", "optimizer", "total"];
                var parsed = p.PhasesMs.Select(e => (Parts: Macro.ProfileWorkload.Parse(e.Key), Values: e.Value)).ToList();
                bool severalProfiled = parsed.Select(e => e.Parts.Precision).Distinct().Count() > 1;
                md.AppendLine(CultureInfo.InvariantCulture, $"### {BenchModels.Label(p.Model)}, batch {p.Batch} x {p.Sequence} tokens, {p.PhasesMs.First().Value["total"].Count} rounds");
                md.AppendLine();
                md.AppendLine("| configuration | " + string.Join(" | ", phases.Select(ph => ph + " ms")) + " | total x floor | fastest total x fastest floor | total bf16 / fp32 |");
                md.AppendLine("|---|" + string.Concat(phases.Select(_ => "---:|")) + "---:|---:|---:|");
                foreach (var ((config, precision, dropout), values) in parsed.OrderBy(e => e.Parts.Dropout ? 0 : 1).ThenBy(e => TrainConfigs.All.ToList().IndexOf(e.Parts.Config)).ThenBy(e => e.Parts.Precision == "fp32" ? 0 : 1))
                {
                    var floor = parsed.FirstOrDefault(e => e.Parts == (TrainConfigs.Floor, precision, true)).Values;
                    var fp32 = precision == "fp32" ? null : parsed.FirstOrDefault(e => e.Parts == (config, "fp32", dropout)).Values;
                    string label = Summaries.WithPrecision(TrainConfigs.Label(config, hidden) + (dropout ? "" : Macro.ProfileWorkload.NoDropoutSuffix), precision, severalProfiled);
                    double total = Stats.Median(values["total"]);
                    string cells = string.Join(" | ", phases.Select(ph => F(Stats.Median(values[ph]), ph is "pad" or "loss" or "clip" ? "F1" : "F0")));
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {label} | {cells} | {(floor is null ? "-" : F(total / Stats.Median(floor["total"]), "F2"))} | {(floor is null ? "-" : F(values["total"].Min() / floor["total"].Min(), "F2"))} | " +
                        $"{(fp32 is null ? "-" : F(total / Stats.Median(fp32["total"]), "F2"))} |");
                }
                md.AppendLine();
            }
        }

        if (results.Loading.Count > 0)
        {
            md.AppendLine("## Backbone loading");
            md.AppendLine();
            md.AppendLine("`BackboneSource.Load` (what the trainer calls) against `File.ReadAllBytes` of the weight file, page cache warm, medians; " +
                          "the first load of the process (JIT, first use of libtorch) apart. \"load\" hashes the weights (remembered hashes forgotten first); " +
                          "\"again\" loads the unchanged file with its hash remembered, as every further `Model.Load` in a process does. " +
                          "\"read + SHA-256\" reads the file and hashes its bytes on one core: the cost of verifying a file without building anything. " +
                          "The parts were timed on their own.");
            md.AppendLine();
            md.AppendLine("| backbone | weight file | plain read ms | read + SHA-256 ms | load ms | load / read | again ms | again / read | first load ms | parts (ms) |");
            md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (LoadResult l in results.Loading)
            {
                if (l.Error is not null)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {BenchModels.Label(l.Model)} | failed: {FirstLine(l.Error)} |||||||||");
                    continue;
                }
                double read = Stats.Median(l.PlainReadMs), load = Stats.Median(l.LoadMs);
                double readHash = l.ReadAndHashMs.Count > 0 ? Stats.Median(l.ReadAndHashMs) : double.NaN;
                double again = l.RepeatLoadMs.Count > 0 ? Stats.Median(l.RepeatLoadMs) : double.NaN;
                string parts = string.Join("; ", l.BreakdownMs.Select(p => $"{p.Key}: {F(p.Value)}"));
                md.AppendLine(CultureInfo.InvariantCulture, $"| {BenchModels.Label(l.Model)} | {l.WeightFile} ({Summaries.Bytes(l.WeightFileBytes)}) | {F(read)} | {F(readHash)} | {F(load)} | {F(load / read, "F1")} | {F(again)} | {F(again / read, "F1")} | {F(l.LoadColdMs)} | {parts} |");
            }
            md.AppendLine();
        }

        if (results.Inference.Count > 0)
        {
            md.AppendLine("## Inference: bare backbone, FOSSIL unmerged, FOSSIL merged");
            md.AppendLine();
            md.AppendLine("Classifier forward under `inference_mode`, eval mode, rows of exactly the sequence length; FOSSIL r=64 on query/value " +
                          "with random shards; two copies of the backbone so the variants run interleaved (order rotated each round); medians. " +
                          "\"adapters off\" is the adapted copy with its adapters switched off: bare compute on the same weights in memory as merged and unmerged.");
            md.AppendLine();
            md.AppendLine("| backbone | precision | batch x tokens | bare ms | unmerged ms | unmerged / bare | merged ms | merged / bare | adapters off ms | merged / adapters off | merge all (ms) | merged bf16 / fp32 |");
            md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (InferenceResult i in results.Inference)
            {
                if (i.Error is not null)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {BenchModels.Label(i.Model)} | {i.Precision} | failed: {FirstLine(i.Error)} ||||||||||");
                    continue;
                }
                double bare = Stats.Median(i.BareMs), un = Stats.Median(i.UnmergedMs), merged = Stats.Median(i.MergedMs), off = Stats.Median(i.AdaptersOffMs);
                InferenceResult? fp32 = i.Precision == "fp32" ? null : results.Inference.FirstOrDefault(x => x.Model == i.Model && x.Precision == "fp32" && x.Error is null && x.MergedMs.Count > 0);
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {BenchModels.Label(i.Model)} | {i.Precision} | {i.Batch} x {i.Sequence} | {F(bare)} | {F(un)} | {F(un / bare, "F3")} | {F(merged)} | {F(merged / bare, "F3")} | {F(off)} | {F(merged / off, "F3")} | {F(i.MergeMs, "F1")} | " +
                    $"{(fp32 is null ? "-" : F(merged / Stats.Median(fp32.MergedMs), "F2"))} |");
            }
            md.AppendLine();
        }

        if (results.MlNet.Count > 0)
        {
            md.AppendLine("## ML.NET: model zip, batched Transform, PredictionEngine");
            md.AppendLine();
            md.AppendLine("A FOSSIL r=64 model fitted through `FossilTextClassification` (1 epoch on 8 reviews: the zip does not depend on training length), " +
                          "saved with `mlContext.Model.Save`, loaded with `mlContext.Model.Load` (adapters merged, the default; then unmerged), and applied to held-out reviews. " +
                          "In brackets: the share of padding in Transform's forward passes (each batch is padded to its longest row).");
            md.AppendLine();
            var batchSizes = results.MlNet.SelectMany(x => x.TransformRowsPerSecond.Keys).Distinct().OrderBy(k => int.Parse(k, CultureInfo.InvariantCulture)).ToList();
            md.AppendLine("| backbone | serving precision | zip | backbone weights | rows (mean tokens) | " + string.Join(" | ", batchSizes.Select(b => $"Transform b={b} rows/s")) +
                          " | PredictionEngine rows/s | p50 ms | p99 ms | unmerged Transform rows/s | unmerged PredictionEngine rows/s |");
            md.AppendLine("|---|---|---:|---:|---:|" + string.Concat(batchSizes.Select(_ => "---:|")) + "---:|---:|---:|---:|---:|");
            foreach (MlNetResult x in results.MlNet)
            {
                if (x.Error is not null && x.ZipBytes == 0)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {BenchModels.Label(x.Model)} | {x.Precision} | failed: {FirstLine(x.Error)} |");
                    continue;
                }
                string rates = string.Join(" | ", batchSizes.Select(b => x.TransformRowsPerSecond.TryGetValue(b, out double r)
                    ? F(r, "F1") + (x.TransformPaddingShare.TryGetValue(b, out double pad) ? $" ({F(100 * pad)}% pad)" : "")
                    : "-"));
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {BenchModels.Label(x.Model)} | {x.Precision} | {Summaries.Bytes(x.ZipBytes)} | {Summaries.Bytes(x.BackboneWeightBytes)} | {(x.Rows == 0 ? "-" : $"{x.Rows} ({F(x.MeanTokensPerRow, "F1")})")} | {rates} | " +
                    $"{F(x.PredictionEngineRowsPerSecond ?? double.NaN, "F1")} | {F(x.LatencyP50Ms ?? double.NaN, "F1")} | {F(x.LatencyP99Ms ?? double.NaN, "F1")} | " +
                    $"{F(x.UnmergedTransformRowsPerSecond ?? double.NaN, "F1")} | {F(x.UnmergedPredictionEngineRowsPerSecond ?? double.NaN, "F1")} |");
            }
            md.AppendLine();
        }

        if (results.Onnx is { Error: null } onnx && onnx.EngineTurnRowsPerSecond.Count > 0)
        {
            md.AppendLine("## ONNX Runtime against TorchSharp (issue 12)");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"A MiniLM FOSSIL classifier fitted on {onnx.TrainRows} reviews ({F(onnx.FitSeconds)} s), saved and loaded with Model.Load (TorchSharp, adapters merged), " +
                $"and exported with ExportForOnnxRuntime and loaded from mlnet-model.zip (ONNX Runtime, {onnx.OnnxRuntimeThreads} intra-op threads; TorchSharp {onnx.TorchThreads}). " +
                $"Accuracy over {onnx.TestRows} test reviews through Transform. Speed: the engines take turns ({onnx.EngineTurnRowsPerSecond.First().Value.Count} turns of " +
                $"{onnx.EngineRowMs.First().Value.Count / Math.Max(1, onnx.EngineTurnRowsPerSecond.First().Value.Count)} rows, rotating order, each turn after {Macro.OnnxWorkload.IdleBeforeTurnMs} ms idle), PredictionEngine row by row; " +
                $"'network' is the network stage alone on the same rows collated one by one; Transform at batch {onnx.TransformBatchSize} over {onnx.TransformRowsPerSecond.First().Value.Count} rounds. " +
                $"Load average {F(onnx.LoadAverageAtStart, "F1")} at the start, {F(onnx.LoadAverageAtEnd, "F1")} at the end.");
            md.AppendLine();
            md.AppendLine("| engine | accuracy | labels as TorchSharp | max abs dp | PredictionEngine rows/s (median turn) | fastest row ms | p50 row ms | network ms/row (p50 / fastest) | Transform rows/s | model.onnx | mlnet-model.zip |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (string name in onnx.EngineTurnRowsPerSecond.Keys)
            {
                string File(string kind) => onnx.FileBytes.TryGetValue($"{name} {kind}", out long b) ? Summaries.Bytes(b) : "-";
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {name} | {F(onnx.Accuracy[name] * 100, "F2")} % | {F(onnx.LabelAgreement[name] * 100, "F2")} % | {onnx.MaxScoreDifference[name]:G3} | " +
                    $"{F(Stats.Median(onnx.EngineTurnRowsPerSecond[name]), "F1")} | {F(onnx.EngineRowMs[name].Min(), "F1")} | {F(Stats.Median(onnx.EngineRowMs[name]), "F1")} | " +
                    $"{F(Stats.Median(onnx.NetworkRowMs[name]), "F1")} / {F(onnx.NetworkRowMs[name].Min(), "F1")} | {F(Stats.Median(onnx.TransformRowsPerSecond[name]), "F1")} | {File("model.onnx")} | {File("mlnet-model.zip")} |");
            }
            foreach (var (name, why) in onnx.NotMeasured) md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | not measured: {why} ||||||||||");
            md.AppendLine();
            if (onnx.PublishedBytes.Count > 0)
                md.AppendLine("Published serving app (`dotnet publish -r linux-x64`, framework-dependent): " +
                              string.Join(", ", onnx.PublishedBytes.Select(p => $"{p.Key} {F(p.Value / 1e6, "F1")} MB")) + ".");
            md.AppendLine();
        }
        if (results.Micro.Count > 0)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"## One adapted layer (BenchmarkDotNet, input {results.Micro[0].Tokens} x in)");
            md.AppendLine();
            md.AppendLine("Forward under `inference_mode` (adapters unmerged); forward + backward with the input requiring a gradient and the base weight frozen. " +
                          "Medians; x linear is against the plain frozen layer of the same shape; alloc is managed allocation per operation.");
            md.AppendLine();
            md.AppendLine("| layer (in x out) | precision | kind | adapter params | forward ms | x linear | fwd+bwd ms | x linear | alloc fwd / fwd+bwd |");
            md.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
            foreach (var shape in results.Micro.GroupBy(r => (r.Shape, r.Precision)))
            {
                MicroResult? Find(string kind, string method) => shape.FirstOrDefault(r => r.Kind == kind && r.Method == method);
                MicroResult? baseF = Find("linear", "forward"), baseB = Find("linear", "forward+backward");
                foreach (string kind in shape.Select(r => r.Kind).Distinct())
                {
                    MicroResult? f = Find(kind, "forward"), b = Find(kind, "forward+backward");
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {shape.Key.Shape} | {shape.Key.Precision} | {kind} | {N((f ?? b)!.TrainableParameters)} | {F(f?.MedianMs ?? double.NaN, "F2")} | {(f is null || baseF is null ? "-" : F(f.MedianMs / baseF.MedianMs, "F2"))} | " +
                        $"{F(b?.MedianMs ?? double.NaN, "F2")} | {(b is null || baseB is null ? "-" : F(b.MedianMs / baseB.MedianMs, "F2"))} | " +
                        $"{(f?.AllocatedBytesPerOp is { } af ? Summaries.Bytes(af) : "-")} / {(b?.AllocatedBytesPerOp is { } ab ? Summaries.Bytes(ab) : "-")} |");
                }
            }
            md.AppendLine();
        }

        if (results.Accuracy.Count > 0)
        {
            md.AppendLine("## Accuracy: trained in bf16 against trained in fp32");
            md.AppendLine();
            md.AppendLine("all-MiniLM-L6-v2 with FOSSIL r=64, trained through the public API on every bundled training row and evaluated on every " +
                          "held-out row, once per precision with the same seed (the dropout masks do not depend on the precision, so the two runs " +
                          "differ by rounding only). Metrics in points (x 100); Fit time includes tokenizing and loading the backbone.");
            md.AppendLine();
            md.AppendLine("| task | seed | metric | fp32 | bf16 | bf16 - fp32 | other metrics (fp32 / bf16) | epoch losses fp32 | epoch losses bf16 | Fit s fp32 | Fit s bf16 | bf16 / fp32 |");
            md.AppendLine("|---|---:|---|---:|---:|---:|---|---|---|---:|---:|---:|");
            foreach (var group in results.Accuracy.GroupBy(a => (a.Task, a.Seed)))
            {
                AccuracyResult? a = group.FirstOrDefault(x => x.Precision == "fp32" && x.Error is null), b = group.FirstOrDefault(x => x.Precision == "bf16" && x.Error is null);
                if (a is null || b is null)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Task} | {group.Key.Seed} | failed: {FirstLine(group.FirstOrDefault(x => x.Error is not null)?.Error)} ||||||||||");
                    continue;
                }
                string others = string.Join(", ", a.Metrics.Keys.Where(k => k != a.PrimaryMetric && b.Metrics.ContainsKey(k)).Select(k => $"{k} {F(a.Metrics[k], "F3")} / {F(b.Metrics[k], "F3")}"));
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {AccuracyWorkloadLabel(group.Key.Task)} | {group.Key.Seed} | {a.PrimaryMetric} | {F(a.Primary, "F2")} | {F(b.Primary, "F2")} | {F(b.Primary - a.Primary, "+0.00;-0.00;0.00")} | {others} | " +
                    $"{string.Join(", ", a.EpochLosses.Select(l => F(l, "F4")))} | {string.Join(", ", b.EpochLosses.Select(l => F(l, "F4")))} | {F(a.TrainSeconds, "F0")} | {F(b.TrainSeconds, "F0")} | {F(b.TrainSeconds / a.TrainSeconds, "F2")} |");
            }
            md.AppendLine();
        }

        if (results.Peer.Count > 0)
        {
            md.AppendLine("## Against PyTorch (plain PyTorch, bf16 autocast)");
            md.AppendLine();
            md.AppendLine("`pytorch_peer.py`: a BERT-shaped MiniLM written out in plain PyTorch, MiSS r=64 on query/value as PEFT's MissLinear computes it, " +
                          "fp32 and bf16 autocast (what `run_glue --bf16` does on a CPU), started right after our own steps at the same shape, with the " +
                          "same warm-up, step count and threads; its configurations interleaved. Ours: the separate-process medians above.");
            md.AppendLine();
            md.AppendLine("| shape | configuration | precision | PyTorch ms/step | ours ms/step | ours / PyTorch |");
            md.AppendLine("|---|---|---|---:|---:|---:|");
            foreach (PeerResult p in results.Peer)
            {
                if (p.Error is not null)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {p.Batch} x {p.Sequence} | failed: {FirstLine(p.Error)} |||||");
                    continue;
                }
                TrainSummary? ours = training.FirstOrDefault(t => t.Model == p.Model && t.Batch == p.Batch && t.Sequence == p.Sequence && t.Config == p.Config && t.Precision == p.Precision
                                                                 && t.Ok && !results.Training.Any(r => r.MemoryProbe && (r.Model, r.Batch, r.Sequence, r.Config, r.Precision) == (t.Model, t.Batch, t.Sequence, t.Config, t.Precision)));
                double theirs = Stats.Median(p.StepMs);
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {p.Batch} x {p.Sequence} | {TrainConfigs.Label(p.Config, 384)} | {p.Precision} | {F(theirs)} (torch {p.Torch}, {p.Threads} threads) | {(ours is null ? "-" : F(ours.StepMs))} | {(ours is null ? "-" : F(ours.StepMs / theirs, "F2"))} |");
            }
            md.AppendLine();
        }

        if (plots.Count > 0)
        {
            md.AppendLine("## Plots");
            md.AppendLine();
            foreach (string plot in plots) md.AppendLine(CultureInfo.InvariantCulture, $"![{Path.GetFileNameWithoutExtension(plot)}]({plot})");
            md.AppendLine();
        }

        if (results.Errors.Count > 0)
        {
            md.AppendLine("## Errors");
            md.AppendLine();
            foreach (string e in results.Errors) md.AppendLine(CultureInfo.InvariantCulture, $"- {FirstLine(e)}");
            md.AppendLine();
        }
        return md.ToString();
    }

    static string AccuracyWorkloadLabel(string task) => Macro.AccuracyWorkload.Describe(task);

    static string FirstLine(string? text) => (text ?? "").Split('\n')[0].Replace("|", "/", StringComparison.Ordinal).Trim();
}
