using System.Diagnostics;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Benchmarks.Macro;

/// <summary>What a profile child process is asked to measure.</summary>
internal sealed class ProfileSpec
{
    public string Model { get; set; } = "";
    public string[] Configs { get; set; } = [];
    public int Batch { get; set; }
    public int Sequence { get; set; }
    public int Rounds { get; set; }
    public int Seed { get; set; }
    public string? RobertaFolder { get; set; }
}

/// <summary>Where a training step's time goes, per configuration.</summary>
internal sealed class ProfileResult
{
    public string Model { get; set; } = "";
    public int Batch { get; set; }
    public int Sequence { get; set; }
    /// <summary>Configuration -> phase -> one time per round (ms).</summary>
    public Dictionary<string, Dictionary<string, List<double>>> PhasesMs { get; set; } = [];
    public string? Error { get; set; }
}

/// <summary>
/// Every configuration in one process, each on its own copy of the backbone, their steps
/// interleaved (one step of each configuration per round), each step split into phases: padding,
/// forward, loss, backward, gradient clipping, optimizer step. The step replicates
/// <c>TrainingLoop.Run</c>'s (same calls, same order). Interleaving puts every configuration under
/// the same background load, so the ratios between them are steadier than those of separate
/// processes; a "dropout off" floor runs the same step in eval mode, to show what dropout costs.
/// </summary>
internal static class ProfileWorkload
{
    public const string NoDropoutSuffix = " (dropout off)";

    sealed class Runner(string name, SequenceClassifier network, AdamW optimizer, List<Parameter> trainable, bool dropout)
    {
        public string Name { get; } = name;
        public SequenceClassifier Network { get; } = network;
        public AdamW Optimizer { get; } = optimizer;
        public List<Parameter> Trainable { get; } = trainable;
        public bool Dropout { get; } = dropout;
    }

    public static ProfileResult Run(ProfileSpec spec)
    {
        Native.TorchRuntime.EnsureLoaded();
        var result = new ProfileResult { Model = spec.Model, Batch = spec.Batch, Sequence = spec.Sequence };
        TextTokenizer tokenizer = spec.Model == BenchModels.MiniLm
            ? BenchModels.Source(spec.Model, null).Load().CreateTokenizer(spec.Sequence)
            : HuggingFaceTokenizers.FromFolder(spec.RobertaFolder!, spec.Sequence);
        List<TokenizedText> rows = BenchData.ExactLengthRows(tokenizer, spec.Batch, spec.Sequence);
        float[] labels = [.. Enumerable.Range(0, rows.Count).Select(i => (float)(i % 2))];

        var runners = new List<Runner>();
        var names = new List<(string Config, bool Dropout)>();
        foreach (string config in spec.Configs) names.Add((config, true));
        if (spec.Configs.Contains(TrainConfigs.Floor)) names.Add((TrainConfigs.Floor, false));
        foreach (var (config, dropout) in names)
        {
            EncoderModel encoder = spec.Model == BenchModels.MiniLm
                ? BenchModels.Source(spec.Model, null).Load().Encoder
                : HuggingFaceLoader.LoadEncoder(spec.RobertaFolder!);
            manual_seed(spec.Seed);
            var network = new SequenceClassifier(encoder, 2, BenchModels.Head(spec.Model));
            if (TrainConfigs.Options(config, encoder.Config.HiddenSize) is { } options) AdapterInjector.Apply(network, options);
            else TrainConfigs.MakeFloor(network);
            List<Parameter> trainable = [.. network.parameters().Where(p => p.requires_grad)];
            var optimizer = optim.AdamW(trainable, lr: config == TrainConfigs.Full ? 3e-5 : 5e-4, weight_decay: 0.01);
            runners.Add(new Runner(config + (dropout ? "" : NoDropoutSuffix), network, optimizer, trainable, dropout));
            Console.Error.WriteLine($"[{spec.Model} profile] built {runners[^1].Name}");
        }

        for (int round = 0; round <= spec.Rounds; round++)
        {
            for (int i = 0; i < runners.Count; i++)
            {
                Runner runner = runners[(i + round) % runners.Count];
                Dictionary<string, double> phases = Step(runner, tokenizer, rows, labels);
                if (round == 0) continue;   // warm-up round
                if (!result.PhasesMs.TryGetValue(runner.Name, out var store)) result.PhasesMs[runner.Name] = store = [];
                foreach (var (phase, ms) in phases)
                {
                    if (!store.TryGetValue(phase, out var list)) store[phase] = list = [];
                    list.Add(ms);
                }
            }
            if (round > 0) Console.Error.WriteLine($"[{spec.Model} profile] round {round}/{spec.Rounds}");
        }
        foreach (Runner runner in runners)
        {
            runner.Optimizer.Dispose();
            runner.Network.Dispose();
        }
        return result;
    }

    static Dictionary<string, double> Step(Runner runner, TextTokenizer tokenizer, List<TokenizedText> rows, float[] labels)
    {
        var phases = new Dictionary<string, double>();
        long mark = Stopwatch.GetTimestamp();
        void Lap(string phase)
        {
            long now = Stopwatch.GetTimestamp();
            phases[phase] = Stopwatch.GetElapsedTime(mark, now).TotalMilliseconds;
            mark = now;
        }
        long start = mark;
        runner.Network.train(runner.Dropout);
        using (var scope = NewDisposeScope())
        {
            using NetworkInput batch = BenchData.Pad(tokenizer, rows);
            Lap("pad");
            Tensor logits = runner.Network.forward(batch.InputIds, batch.TokenTypeIds, batch.AttentionMask);
            Lap("forward");
            Tensor loss = nn.functional.cross_entropy(logits.to(ScalarType.Float32), tensor(labels.Select(l => (long)l).ToArray()));
            _ = loss.item<float>();
            Lap("loss");
            runner.Optimizer.zero_grad();
            loss.backward();
            Lap("backward");
            nn.utils.clip_grad_norm_(runner.Trainable, 1.0);
            Lap("clip");
            runner.Optimizer.step();
            Lap("optimizer");
        }
        phases["total"] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return phases;
    }
}
