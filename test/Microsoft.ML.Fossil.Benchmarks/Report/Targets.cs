using System.Globalization;
using Microsoft.ML.Fossil.Benchmarks.Macro;

namespace Microsoft.ML.Fossil.Benchmarks.Report;

/// <summary>The issue's targets, evaluated on ratios measured in the same run.</summary>
internal static class Targets
{
    static string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);

    enum Bound { AtMost, Below, AtLeast, Info }

    static TargetCheck Check(string target, string scope, double? ratio, double limit, Bound bound, string measured)
    {
        bool Holds(double r) => bound switch { Bound.AtMost => r <= limit, Bound.Below => r < limit, _ => r >= limit };
        string status = ratio is not { } r || double.IsNaN(r) ? "n/a" : bound == Bound.Info ? "info" : Holds(r) ? "pass" : "miss";
        return new TargetCheck
        {
            Target = target, Scope = scope, Ratio = ratio is { } x && !double.IsNaN(x) ? Math.Round(x, 3) : null, Limit = bound == Bound.Info ? null : limit,
            Status = status, Measured = measured,
        };
    }

    public static List<TargetCheck> Evaluate(SuiteResults results)
    {
        var checks = new List<TargetCheck>();
        List<TrainSummary> training = Summaries.Training(results);
        bool severalPrecisions = training.Select(t => t.Precision).Distinct().Count() > 1;
        foreach (var group in training.GroupBy(t => (t.Model, t.Batch, t.Sequence, t.Precision)))
        {
            string scope = $"{BenchModels.Label(group.Key.Model)}, {group.Key.Batch} x {group.Key.Sequence}" + (severalPrecisions ? $", {group.Key.Precision}" : "");
            string Key(string config) => Macro.ProfileWorkload.Key(config, group.Key.Precision, dropout: true);
            TrainSummary? Get(string config) => group.FirstOrDefault(t => t.Config == config && t.Ok);
            TrainSummary? fossil = Get(TrainConfigs.Fossil), floor = Get(TrainConfigs.Floor), lora = Get(TrainConfigs.Lora), full = Get(TrainConfigs.Full);
            if (fossil is null) continue;
            bool probe = results.Training.Any(t => t.MemoryProbe && (t.Model, t.Batch, t.Sequence, t.Precision) == group.Key);
            if (probe) scope += " (memory probe: one step)";
            // Where a model has a memory probe, memory is judged there (the issue's shape, RSS that follows
            // live memory), not at the timed steps' small sizes.
            bool memory = probe || !results.Training.Any(t => t.MemoryProbe && t.Model == group.Key.Model);
            string Step(TrainSummary t) => $"{F(t.StepMs)} ms (CPU {F(t.StepCpuMs)} ms)";
            Macro.ProfileResult? profile = results.Profile.FirstOrDefault(p => p.Model == group.Key.Model && p.Batch == group.Key.Batch && p.Sequence == group.Key.Sequence);
            string CpuRatio(TrainSummary a, TrainSummary b) =>
                $"; separate processes: ratio of medians {F(a.StepMs / b.StepMs, "F2")}, of fastest steps {F(a.MinStepMs / b.MinStepMs, "F2")}, of CPU times {F(a.StepCpuMs / b.StepCpuMs, "F2")}";
            // The step ratio is taken from the interleaved profile when there is one: both configurations
            // ran round by round in one process, under the same background load. Separate processes run
            // minutes apart on a shared machine; their ratio is given beside it.
            double? ProfileRatio(string a, string b) => Profiled(profile, Key(a), Key(b));
            string Source(string a, string b) => ProfileRatio(a, b) is null ? "separate processes" : $"interleaved in one process ({Phases(profile, Key(a))!["total"].Count} rounds, medians)";
            void StepCheck(string target, TrainSummary other, string name, double limit) =>
                checks.Add(Check(target, scope, ProfileRatio(fossil.Config, other.Config) ?? fossil.StepMs / other.StepMs, limit, Bound.AtMost,
                    $"{Source(fossil.Config, other.Config)}; FOSSIL {Step(fossil)} vs {name} {Step(other)}{CpuRatio(fossil, other)}"));
            if (!probe && floor is not null) StepCheck("FOSSIL training step <= 1.10 x the floor", floor, "floor", 1.10);
            if (!probe && lora is not null) StepCheck("FOSSIL training step <= 1.0 x LoRA r=8", lora, "LoRA", 1.0);
            if (!probe && full is not null) StepCheck("FOSSIL training step <= 0.6 x full fine-tuning", full, "full", 0.6);
            if (memory && lora is not null)
                checks.Add(Check("FOSSIL peak training memory <= LoRA's", scope, (double)fossil.PeakRssBytes / lora.PeakRssBytes, 1.0, Bound.AtMost,
                    $"peak RSS FOSSIL {Summaries.Mib(fossil.PeakRssBytes)} MiB vs LoRA {Summaries.Mib(lora.PeakRssBytes)} MiB " +
                    $"(over the loaded model: {Summaries.Mib(fossil.PeakRssBytes - fossil.RssBeforeBytes)} vs {Summaries.Mib(lora.PeakRssBytes - lora.RssBeforeBytes)} MiB)" +
                    (Get(TrainConfigs.LoraMatched) is { } matched
                        ? $"; LoRA with as many trainable parameters as FOSSIL r=64 ({TrainConfigs.Label(TrainConfigs.LoraMatched, 1)}): " +
                          $"{Summaries.Mib(matched.PeakRssBytes)} MiB ({F((double)fossil.PeakRssBytes / matched.PeakRssBytes, "F3")} x)"
                        : "")));
            if (memory && lora is not null && full is not null)
                checks.Add(Check("LoRA's peak training memory < full fine-tuning's", scope, (double)lora.PeakRssBytes / full.PeakRssBytes, 1.0, Bound.Below,
                    $"peak RSS LoRA {Summaries.Mib(lora.PeakRssBytes)} MiB vs full {Summaries.Mib(full.PeakRssBytes)} MiB"));
            if (!probe && fossil.AdapterInitMsPerLayer is { } perLayer)
                checks.Add(Check("Adapter initialisation <= 1 ms per adapted layer", scope, perLayer, 1.0, Bound.AtMost,
                    $"FOSSIL Apply {F(fossil.AdapterInitMs!.Value, "F1")} ms for {fossil.AdaptedLayers} layers, median (first call, JIT included, on a tiny model: {F(fossil.AdapterInitColdMs ?? double.NaN, "F0")} ms)"));
        }
        checks.AddRange(PrecisionTargets(results, training));
        bool severalInference = results.Inference.Select(i => i.Precision).Distinct().Count() > 1;
        foreach (InferenceResult inference in results.Inference.Where(i => i.Error is null && i.BareMs.Count > 0 && (!severalInference || i.Precision == "fp32")))
        {
            double bare = Stats.Median(inference.BareMs), merged = Stats.Median(inference.MergedMs), unmerged = Stats.Median(inference.UnmergedMs);
            double off = Stats.Median(inference.AdaptersOffMs);
            checks.Add(Check("Merged inference <= 1.02 x the bare backbone", $"{BenchModels.Label(inference.Model)}, {inference.Batch} x {inference.Sequence}",
                merged / bare, 1.02, Bound.AtMost, $"merged {F(merged)} ms, bare {F(bare)} ms, unmerged {F(unmerged)} ms ({F(unmerged / bare, "F2")} x bare); " +
                $"same weights copy with adapters off {F(off)} ms (merged / off {F(merged / off, "F2")})"));
        }
        foreach (MlNetResult mlnet in results.MlNet.Where(m => m.Error is null && m.PredictionEngineRowsPerSecond is not null && m.Precision == results.MlNet.First(x => x.Model == m.Model).Precision))
        {
            string key = mlnet.DefaultBatchSize.ToString(CultureInfo.InvariantCulture);
            double? transform = mlnet.TransformRowsPerSecond.TryGetValue(key, out double t) ? t : mlnet.TransformRowsPerSecond.Values.DefaultIfEmpty(double.NaN).Max();
            InferenceResult? forward = results.Inference.FirstOrDefault(i => i.Model == mlnet.Model && i.OneRowPerCallMsPerRow.Count > 0);
            string headroom = forward is null ? "" :
                $"; batching headroom on this machine: {forward.HeadroomRows} rows of {forward.HeadroomSequence} tokens in one forward call run " +
                $"{F(Stats.Median(forward.OneRowPerCallMsPerRow) / Stats.Median(forward.AllRowsInOneCallMsPerRow), "F2")} x the rows/s of one row per call (no padding): the most any batching can gain here";
            checks.Add(Check("Batched Transform >= 4 x a PredictionEngine loop (rows/s)", $"{BenchModels.Label(mlnet.Model)}, {mlnet.Rows} reviews",
                transform / mlnet.PredictionEngineRowsPerSecond, 4.0, Bound.AtLeast,
                $"Transform (batch {mlnet.DefaultBatchSize}) {F(transform ?? double.NaN, "F1")} rows/s vs PredictionEngine {F(mlnet.PredictionEngineRowsPerSecond!.Value, "F1")} rows/s " +
                $"(PredictionEngine p50 {F(mlnet.LatencyP50Ms ?? double.NaN, "F1")} ms, p99 {F(mlnet.LatencyP99Ms ?? double.NaN, "F1")} ms per row){headroom}"));
        }
        foreach (LoadResult load in results.Loading.Where(l => l.Error is null && l.LoadMs.Count > 0))
        {
            double loadMs = Stats.Median(load.LoadMs), read = Stats.Median(load.PlainReadMs);
            string again = load.RepeatLoadMs.Count > 0 ? $"; loaded again with its hash remembered {F(Stats.Median(load.RepeatLoadMs))} ms ({F(Stats.Median(load.RepeatLoadMs) / read, "F2")} x)" : "";
            string readHash = load.ReadAndHashMs.Count > 0 ? $"; reading and SHA-256 of the bytes alone {F(Stats.Median(load.ReadAndHashMs))} ms ({F(Stats.Median(load.ReadAndHashMs) / read, "F2")} x)" : "";
            checks.Add(Check("Backbone load <= 1.5 x a plain read of the weight file", BenchModels.Label(load.Model), loadMs / read, 1.5, Bound.AtMost,
                $"BackboneSource.Load (weights hashed) {F(loadMs)} ms vs File.ReadAllBytes of {load.WeightFile} ({Summaries.Bytes(load.WeightFileBytes)}) {F(read)} ms{again}{readHash}"));
        }
        if (results.Onnx is { } onnx) checks.AddRange(OnnxChecks(onnx));
        return checks;
    }

    /// <summary>A runner's phases in the profile, by <see cref="Macro.ProfileWorkload.Key"/> (older results name fp32 runners without a precision).</summary>
    static Dictionary<string, List<double>>? Phases(Macro.ProfileResult? profile, string key)
    {
        if (profile is null) return null;
        if (profile.PhasesMs.TryGetValue(key, out var phases)) return phases;
        return profile.PhasesMs.FirstOrDefault(p => Macro.ProfileWorkload.Parse(p.Key) == Macro.ProfileWorkload.Parse(key)).Value;
    }

    static double? Profiled(Macro.ProfileResult? profile, string a, string b) =>
        Phases(profile, a) is { } pa && Phases(profile, b) is { } pb ? Stats.Median(pa["total"]) / Stats.Median(pb["total"]) : null;

    /// <summary>Issue 11's targets: bf16 against fp32 (step, memory, serving), against PyTorch's bf16 autocast, and accuracy.</summary>
    static IEnumerable<TargetCheck> PrecisionTargets(SuiteResults results, List<TrainSummary> training)
    {
        // Step: bf16 <= 0.45 x fp32 for FOSSIL r=64, from the interleaved profile when it has both (else separate processes).
        foreach (var group in training.Where(t => !IsProbe(results, t)).GroupBy(t => (t.Model, t.Batch, t.Sequence)))
        {
            TrainSummary? fp32 = group.FirstOrDefault(t => t.Config == TrainConfigs.Fossil && t.Precision == "fp32" && t.Ok);
            TrainSummary? bf16 = group.FirstOrDefault(t => t.Config == TrainConfigs.Fossil && t.Precision == "bf16" && t.Ok);
            if (fp32 is null || bf16 is null) continue;
            Macro.ProfileResult? profile = results.Profile.FirstOrDefault(p => (p.Model, p.Batch, p.Sequence) == group.Key);
            string bfKey = Macro.ProfileWorkload.Key(TrainConfigs.Fossil, "bf16", true), fpKey = Macro.ProfileWorkload.Key(TrainConfigs.Fossil, "fp32", true);
            double? interleaved = Profiled(profile, bfKey, fpKey);
            string others = string.Join(", ", group.Where(t => t.Precision == "bf16" && t.Ok)
                .Select(t => (t, f: group.FirstOrDefault(x => x.Config == t.Config && x.Precision == "fp32" && x.Ok)))
                .Where(p => p.f is not null)
                .Select(p => $"{TrainConfigs.Label(p.t.Config, BenchModels.Hidden(group.Key.Model))} {F(p.t.StepMs / p.f!.StepMs, "F2")}"));
            yield return Check("bf16 training step <= 0.45 x fp32 (FOSSIL r=64)", $"{BenchModels.Label(group.Key.Model)}, {group.Key.Batch} x {group.Key.Sequence}",
                interleaved ?? bf16.StepMs / fp32.StepMs, 0.45, Bound.AtMost,
                (interleaved is null ? "separate processes" : $"interleaved in one process ({Phases(profile, bfKey)!["total"].Count} rounds, medians): " +
                    $"bf16 {F(Stats.Median(Phases(profile, bfKey)!["total"]))} ms vs fp32 {F(Stats.Median(Phases(profile, fpKey)!["total"]))} ms; separate processes") +
                $": bf16 {F(bf16.StepMs)} ms vs fp32 {F(fp32.StepMs)} ms ({F(bf16.StepMs / fp32.StepMs, "F2")}); every configuration, bf16 / fp32 in separate processes: {others}");
        }
        // Memory: bf16 peak <= 0.65 x fp32 (judged on the probes where a model has them).
        foreach (var group in training.GroupBy(t => (t.Model, t.Batch, t.Sequence)))
        {
            bool probe = group.Any(t => IsProbe(results, t));
            if (!probe && results.Training.Any(t => t.MemoryProbe && t.Model == group.Key.Model)) continue;
            TrainSummary? fp32 = group.FirstOrDefault(t => t.Config == TrainConfigs.Fossil && t.Precision == "fp32" && t.Ok);
            TrainSummary? bf16 = group.FirstOrDefault(t => t.Config == TrainConfigs.Fossil && t.Precision == "bf16" && t.Ok);
            if (fp32 is null || bf16 is null) continue;
            yield return Check("bf16 peak training memory <= 0.65 x fp32 (FOSSIL r=64)",
                $"{BenchModels.Label(group.Key.Model)}, {group.Key.Batch} x {group.Key.Sequence}" + (probe ? " (memory probe: one step)" : ""),
                (double)bf16.PeakRssBytes / fp32.PeakRssBytes, 0.65, Bound.AtMost,
                $"peak RSS bf16 {Summaries.Mib(bf16.PeakRssBytes)} MiB vs fp32 {Summaries.Mib(fp32.PeakRssBytes)} MiB (loaded model {Summaries.Mib(bf16.RssBeforeBytes)} vs {Summaries.Mib(fp32.RssBeforeBytes)} MiB; " +
                $"over it {Summaries.Mib(bf16.PeakRssBytes - bf16.RssBeforeBytes)} vs {Summaries.Mib(fp32.PeakRssBytes - fp32.RssBeforeBytes)} MiB)");
        }
        // Serving: bf16 Transform and PredictionEngine rows/s >= 2 x fp32.
        foreach (var group in results.MlNet.Where(m => m.Error is null && m.PredictionEngineRowsPerSecond is not null).GroupBy(m => m.Model))
        {
            MlNetResult? fp32 = group.FirstOrDefault(m => m.Precision == "fp32"), bf16 = group.FirstOrDefault(m => m.Precision == "bf16");
            if (fp32 is null || bf16 is null) continue;
            string key = fp32.DefaultBatchSize.ToString(CultureInfo.InvariantCulture);
            if (fp32.TransformRowsPerSecond.TryGetValue(key, out double tf) && bf16.TransformRowsPerSecond.TryGetValue(key, out double tb))
                yield return Check("bf16 batched Transform rows/s >= 2 x fp32", $"{BenchModels.Label(group.Key)}, {fp32.Rows} reviews, batch {key}", tb / tf, 2.0, Bound.AtLeast,
                    $"bf16 {F(tb, "F1")} rows/s vs fp32 {F(tf, "F1")} rows/s (merged); every batch size: " +
                    string.Join(", ", fp32.TransformRowsPerSecond.Keys.Where(bf16.TransformRowsPerSecond.ContainsKey)
                        .Select(b => $"b={b} {F(bf16.TransformRowsPerSecond[b] / fp32.TransformRowsPerSecond[b], "F2")} x")));
            double pf = fp32.PredictionEngineRowsPerSecond!.Value, pb = bf16.PredictionEngineRowsPerSecond!.Value;
            yield return Check("bf16 PredictionEngine rows/s >= 2 x fp32", $"{BenchModels.Label(group.Key)}, {fp32.Rows} reviews", pb / pf, 2.0, Bound.AtLeast,
                $"bf16 {F(pb, "F1")} rows/s (p50 {F(bf16.LatencyP50Ms ?? double.NaN, "F1")} ms) vs fp32 {F(pf, "F1")} rows/s (p50 {F(fp32.LatencyP50Ms ?? double.NaN, "F1")} ms)");
        }
        // Against PyTorch's bf16 autocast, the same shape, measured right after ours.
        foreach (PeerResult peer in results.Peer.Where(p => p.Error is null && p.Config == TrainConfigs.Fossil && p.Precision == "bf16" && p.StepMs.Count > 0))
        {
            TrainSummary? ours = training.FirstOrDefault(t => t.Model == peer.Model && t.Batch == peer.Batch && t.Sequence == peer.Sequence && t.Config == TrainConfigs.Fossil
                                                             && t.Precision == "bf16" && t.Ok && !IsProbe(results, t));
            if (ours is null) continue;
            double theirs = Stats.Median(peer.StepMs);
            PeerResult? peerFloor = results.Peer.FirstOrDefault(p => p.Error is null && p.Config == TrainConfigs.Floor && p.Precision == "bf16" && p.Batch == peer.Batch && p.Sequence == peer.Sequence);
            PeerResult? peerFp32 = results.Peer.FirstOrDefault(p => p.Error is null && p.Config == TrainConfigs.Fossil && p.Precision == "fp32" && p.Batch == peer.Batch && p.Sequence == peer.Sequence);
            yield return Check("bf16 FOSSIL step faster than PyTorch's bf16-autocast MiSS step", $"{BenchModels.Label(peer.Model)}, {peer.Batch} x {peer.Sequence}",
                ours.StepMs / theirs, 1.0, Bound.Below,
                $"ours {F(ours.StepMs)} ms vs PyTorch {peer.Torch} {F(theirs)} ms ({peer.Threads} threads), back to back; PyTorch floor bf16 " +
                $"{(peerFloor is null ? "-" : F(Stats.Median(peerFloor.StepMs)))} ms, MiSS fp32 {(peerFp32 is null ? "-" : F(Stats.Median(peerFp32.StepMs)))} ms");
        }
        // Accuracy: bf16-trained within 0.5 points of fp32-trained, per task and seed.
        foreach (var group in results.Accuracy.Where(a => a.Error is null).GroupBy(a => (a.Task, a.Seed)))
        {
            AccuracyResult? fp32 = group.FirstOrDefault(a => a.Precision == "fp32"), bf16 = group.FirstOrDefault(a => a.Precision == "bf16");
            if (fp32 is null || bf16 is null) continue;
            yield return Check("bf16-trained within 0.5 points of fp32-trained", $"{Macro.AccuracyWorkload.Describe(group.Key.Task)}, seed {group.Key.Seed}",
                Math.Abs(bf16.Primary - fp32.Primary), 0.5, Bound.AtMost,
                $"{fp32.PrimaryMetric} fp32 {F(fp32.Primary, "F2")}, bf16 {F(bf16.Primary, "F2")} ({fp32.TrainRows} training, {fp32.TestRows} held-out rows); " +
                string.Join(", ", fp32.Metrics.Keys.Where(bf16.Metrics.ContainsKey).Select(k => $"{k} {F(fp32.Metrics[k], "F3")} / {F(bf16.Metrics[k], "F3")}")));
            if (group.Key.Task == Macro.AccuracyWorkload.Sst2)
                yield return Check("The embedded default trains faster in bf16 (training time bf16 / fp32)", $"{Macro.AccuracyWorkload.Describe(group.Key.Task)}, seed {group.Key.Seed}",
                    bf16.TrainSeconds / fp32.TrainSeconds, 0, Bound.Info,
                    $"Fit (tokenizing, training 3 epochs, no validation) bf16 {F(bf16.TrainSeconds, "F1")} s vs fp32 {F(fp32.TrainSeconds, "F1")} s");
        }
    }

    static bool IsProbe(SuiteResults results, TrainSummary t) =>
        results.Training.Any(r => r.MemoryProbe && (r.Model, r.Batch, r.Sequence, r.Config, r.Precision) == (t.Model, t.Batch, t.Sequence, t.Config, t.Precision));

    /// <summary>Issue 12's targets: ONNX Runtime against TorchSharp, engines taking turns in one process.</summary>
    static IEnumerable<TargetCheck> OnnxChecks(OnnxResult onnx)
    {
        const string Torch = OnnxWorkload.TorchFp32, Fp32 = OnnxWorkload.OnnxFp32, Int8 = OnnxWorkload.OnnxInt8;
        string load = $"1-minute load average {F(onnx.LoadAverageAtStart, "F1")} -> {F(onnx.LoadAverageAtEnd, "F1")}";
        bool speed = onnx.EngineTurnRowsPerSecond.TryGetValue(Torch, out var torch) && torch.Count > 0
                     && onnx.EngineTurnRowsPerSecond.TryGetValue(Fp32, out var fp32) && onnx.EngineTurnRowsPerSecond.TryGetValue(Int8, out var int8);
        string Engine(string name) =>
            $"{name} {F(Stats.Median(onnx.EngineTurnRowsPerSecond[name]), "F1")} rows/s (fastest row {F(onnx.EngineRowMs[name].Min(), "F1")} ms, " +
            $"network stage alone {F(Stats.Median(onnx.NetworkRowMs[name]), "F1")} ms/row, fastest {F(onnx.NetworkRowMs[name].Min(), "F1")} ms)";
        string scope = $"MiniLM, PredictionEngine, {onnx.EngineTurnRowsPerSecond.GetValueOrDefault(Torch)?.Count ?? 0} turns, reviews of {F(onnx.MeanTokensPerRow, "F0")} tokens on average";
        if (speed)
        {
            yield return Check("ONNX Runtime fp32 PredictionEngine rows/s >= 2.5 x TorchSharp fp32", scope,
                OnnxWorkload.PairedRatio(onnx.EngineTurnRowsPerSecond[Fp32], onnx.EngineTurnRowsPerSecond[Torch]), 2.5, Bound.AtLeast,
                $"median of per-turn ratios; {Engine(Fp32)} vs {Engine(Torch)}; ratio of fastest rows {F(onnx.EngineRowMs[Torch].Min() / onnx.EngineRowMs[Fp32].Min(), "F2")}, " +
                $"of network stages {F(Stats.Median(onnx.NetworkRowMs[Torch]) / Stats.Median(onnx.NetworkRowMs[Fp32]), "F2")}; {load}");
            yield return Check("ONNX Runtime int8 PredictionEngine rows/s >= 1.5 x ONNX Runtime fp32", scope,
                OnnxWorkload.PairedRatio(onnx.EngineTurnRowsPerSecond[Int8], onnx.EngineTurnRowsPerSecond[Fp32]), 1.5, Bound.AtLeast,
                $"median of per-turn ratios; {Engine(Int8)} vs {Engine(Fp32)}; ratio of fastest rows {F(onnx.EngineRowMs[Fp32].Min() / onnx.EngineRowMs[Int8].Min(), "F2")}, " +
                $"of network stages {F(Stats.Median(onnx.NetworkRowMs[Fp32]) / Stats.Median(onnx.NetworkRowMs[Int8]), "F2")}; {load}");
        }
        if (speed && onnx.EngineTurnRowsPerSecond.TryGetValue(OnnxWorkload.TorchBf16, out var bf16Turns) && bf16Turns.Count > 0)
            yield return Check("ONNX Runtime fp32 PredictionEngine rows/s against TorchSharp bf16", scope,
                OnnxWorkload.PairedRatio(onnx.EngineTurnRowsPerSecond[Fp32], bf16Turns), 0, Bound.Info,
                $"median of per-turn ratios; {Engine(Fp32)} vs {Engine(OnnxWorkload.TorchBf16)}; TorchSharp bf16 accuracy " +
                $"{F(onnx.Accuracy.GetValueOrDefault(OnnxWorkload.TorchBf16) * 100, "F2")} %, labels as fp32's on {F(onnx.LabelAgreement.GetValueOrDefault(OnnxWorkload.TorchBf16) * 100, "F2")} %");
        if (onnx.Accuracy.TryGetValue(Int8, out double int8Accuracy) && onnx.Accuracy.TryGetValue(Fp32, out double fp32Accuracy))
            yield return Check("ONNX Runtime int8 accuracy within 1 point of fp32", $"MiniLM, {onnx.TestRows} test reviews",
                Math.Abs(int8Accuracy - fp32Accuracy) * 100, 1.0, Bound.AtMost,
                $"accuracy int8 {F(int8Accuracy * 100, "F2")} %, ONNX Runtime fp32 {F(fp32Accuracy * 100, "F2")} %, TorchSharp fp32 {F(onnx.Accuracy[Torch] * 100, "F2")} % " +
                $"(ratio column: points of difference); int8 labels as TorchSharp's on {F(onnx.LabelAgreement[Int8] * 100, "F2")} %");
        if (onnx.LabelAgreement.TryGetValue(Fp32, out double agreement))
            yield return Check("Identical labels (ONNX Runtime fp32 vs TorchSharp) >= 99.5 %", $"MiniLM, {onnx.TestRows} test reviews",
                agreement * 100, 99.5, Bound.AtLeast, $"max |probability difference| {onnx.MaxScoreDifference[Fp32]:G3}");
        if (onnx.PublishedBytes.TryGetValue("without libtorch", out long without))
            yield return Check("Published serving app without libtorch <= 150 MB", "dotnet publish -r linux-x64 of test/Microsoft.ML.Fossil.OnnxConsumer",
                without / 1e6, 150, Bound.AtMost,
                $"{F(without / 1e6, "F1")} MB without libtorch" +
                (onnx.PublishedBytes.TryGetValue("with libtorch", out long with) ? $", {F(with / 1e6, "F1")} MB with libtorch-cpu-linux-x64" : "") + " (ratio column: MB)");
    }
}
