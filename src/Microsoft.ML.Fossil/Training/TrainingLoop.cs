using System.Diagnostics;
using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Training;

/// <summary>Tokenized rows with their labels (class index, or the value for regression).</summary>
/// <param name="Rows">Token ids per row, special tokens included.</param>
/// <param name="Labels">Class index as a float (classification) or the target value (regression), one per row.</param>
internal sealed record TokenizedDataset(IReadOnlyList<TokenizedText> Rows, IReadOnlyList<float> Labels)
{
    /// <summary>Number of rows.</summary>
    public int Count => Rows.Count;
}

/// <summary>One epoch's summary.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="Seconds">Wall time of the epoch's training steps.</param>
/// <param name="Validation">Validation metrics, when a validation set was given.</param>
internal sealed record EpochSummary(int Epoch, double TrainLoss, double Seconds, EvaluationMetrics? Validation);

/// <summary>What a run did.</summary>
/// <param name="Epochs">One summary per epoch run.</param>
/// <param name="BestEpoch">The epoch whose weights the model holds now (the last one without validation).</param>
/// <param name="StoppedEarly">Whether early stopping ended the run.</param>
internal sealed record TrainingResult(IReadOnlyList<EpochSummary> Epochs, int BestEpoch, bool StoppedEarly);

/// <summary>
/// The fine-tuning loop: length-bucketed batches with dynamic padding, AdamW with linear warm-up
/// and decay, gradient clipping, per-epoch validation, best-epoch weights and early stopping.
/// Only parameters with requires_grad are optimised (adapters and head after injection).
/// </summary>
internal static class TrainingLoop
{
    /// <summary>Trains <paramref name="model"/> in place; on return it holds the best epoch's trainable weights.</summary>
    /// <param name="model">The classifier, adapters in place and only the trained parameters requiring gradients.</param>
    /// <param name="tokenizer">The tokenizer the rows were made with (its pad id collates them; it scores validation).</param>
    /// <param name="train">The training rows.</param>
    /// <param name="validation">Rows scored after every epoch, or null.</param>
    /// <param name="task">Classification or regression.</param>
    /// <param name="options">Optimisation settings.</param>
    /// <param name="progress">Called after every step and every validation.</param>
    /// <param name="cancelled">Polled before every step: true stops training with <see cref="OperationCanceledException"/>.</param>
    public static TrainingResult Run(SequenceClassifier model, TextTokenizer tokenizer, TokenizedDataset train, TokenizedDataset? validation,
        PredictionTask task, TrainingOptions options, Action<TrainingProgress>? progress = null, Func<bool>? cancelled = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (train.Count == 0) throw new ArgumentException("The training set is empty.", nameof(train));

        Device device = options.Device;
        manual_seed(options.Seed);
        var random = new Random(options.Seed);
        List<(string Name, Parameter Parameter)> trainable = [.. model.named_parameters().Where(p => p.parameter.requires_grad)];
        if (trainable.Count == 0) throw new InvalidOperationException("The model has no trainable parameters.");

        // Hugging Face's grouping: no weight decay on biases and LayerNorm weights.
        static bool Decays(string name, Parameter p) => p.dim() >= 2 && !name.Contains("LayerNorm", StringComparison.Ordinal);
        var groups = new List<AdamW.ParamGroup>
        {
            new(trainable.Where(p => Decays(p.Name, p.Parameter)).Select(p => p.Parameter), lr: options.LearningRate, weight_decay: options.WeightDecay),
            new(trainable.Where(p => !Decays(p.Name, p.Parameter)).Select(p => p.Parameter), lr: options.LearningRate, weight_decay: 0),
        };
        groups.RemoveAll(g => !g.Parameters.Any());
        using var optimizer = optim.AdamW(groups, lr: options.LearningRate);

        int[] lengths = [.. train.Rows.Select(r => r.InputIds.Length)];
        int stepsPerEpoch = (train.Count + options.BatchSize - 1) / options.BatchSize;
        long totalSteps = (long)stepsPerEpoch * options.Epochs;
        long warmupSteps = (long)Math.Ceiling(totalSteps * options.WarmupRatio);
        long globalStep = 0;
        List<Parameter> clipped = [.. trainable.Select(p => p.Parameter)];

        var summaries = new List<EpochSummary>();
        Dictionary<string, Tensor>? bestWeights = null;
        double bestMetric = double.NegativeInfinity;
        int bestEpoch = 0, epochsWithoutImprovement = 0;
        bool stoppedEarly = false;
        var total = Stopwatch.StartNew();
        try
        {
            for (int epoch = 1; epoch <= options.Epochs; epoch++)
            {
                model.train();
                var clock = Stopwatch.StartNew();
                double lossSum = 0;
                long rowsSeen = 0;
                List<int[]> batches = LengthBucketBatcher.TrainingBatches(lengths, options.BatchSize, random);
                for (int step = 1; step <= batches.Count; step++)
                {
                    if (cancelled?.Invoke() == true) throw new OperationCanceledException("Training was cancelled.");
                    int[] rows = batches[step - 1];
                    SetLearningRate(optimizer, options.LearningRate * Schedule(globalStep, warmupSteps, totalSteps));
                    double loss;
                    using (var scope = NewDisposeScope())
                    {
                        TokenBatch batch = BatchCollator.Collate([.. rows.Select(i => train.Rows[i])], tokenizer.PadTokenId);
                        using NetworkInput input = NetworkInput.From(batch, device);
                        Tensor logits = model.forward(input.InputIds, input.TokenTypeIds, input.AttentionMask);
                        Tensor lossTensor = Loss(logits, [.. rows.Select(i => train.Labels[i])], task, device);
                        loss = lossTensor.item<float>();
                        if (!double.IsFinite(loss)) throw new TrainingDivergedException(epoch, step, loss);
                        optimizer.zero_grad();
                        lossTensor.backward();
                        if (options.MaxGradientNorm > 0) nn.utils.clip_grad_norm_(clipped, options.MaxGradientNorm);
                        optimizer.step();
                    }
                    globalStep++;
                    lossSum += loss * rows.Length;
                    rowsSeen += rows.Length;
                    if (progress is not null)
                    {
                        double rowsPerSecond = rowsSeen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                        long rowsLeft = (long)(options.Epochs - epoch) * train.Count + (train.Count - rowsSeen);
                        progress(new TrainingProgress(epoch, step, batches.Count, lossSum / rowsSeen, rowsPerSecond, total.Elapsed,
                            TimeSpan.FromSeconds(rowsLeft / Math.Max(rowsPerSecond, 1e-9)), null));
                    }
                }
                double seconds = clock.Elapsed.TotalSeconds;
                EvaluationMetrics? metrics = validation is { Count: > 0 } ? Evaluate(model, tokenizer, validation, task, options.BatchSize, device) : null;
                summaries.Add(new EpochSummary(epoch, lossSum / rowsSeen, seconds, metrics));
                if (metrics is not null)
                {
                    progress?.Invoke(new TrainingProgress(epoch, batches.Count, batches.Count, lossSum / rowsSeen, rowsSeen / Math.Max(seconds, 1e-9),
                        total.Elapsed, TimeSpan.Zero, metrics));
                    if (metrics.Primary > bestMetric)
                    {
                        bestMetric = metrics.Primary;
                        bestEpoch = epoch;
                        epochsWithoutImprovement = 0;
                        DisposeAll(bestWeights);
                        bestWeights = trainable.ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
                    }
                    else if (options.EarlyStoppingPatience > 0 && ++epochsWithoutImprovement >= options.EarlyStoppingPatience)
                    {
                        stoppedEarly = true;
                        break;
                    }
                }
                else
                {
                    bestEpoch = epoch;
                }
            }

            if (bestWeights is not null && bestEpoch != summaries.Count)
            {
                using var noGrad = no_grad();
                foreach (var (name, parameter) in trainable) parameter.copy_(bestWeights[name]);
            }
        }
        finally
        {
            DisposeAll(bestWeights);
            model.eval();
        }
        return new TrainingResult(summaries, bestEpoch, stoppedEarly);
    }

    /// <summary>Evaluates on a labelled set: loss and the task's metrics. Leaves the model in evaluation mode.</summary>
    public static EvaluationMetrics Evaluate(SequenceClassifier model, TextTokenizer tokenizer, TokenizedDataset data, PredictionTask task, int batchSize, Device device)
    {
        ArgumentNullException.ThrowIfNull(data);
        var scorer = new TextScorer(tokenizer, new TorchScoringNetwork(model, device, ownsNetwork: false), task);
        float[][] outputs = scorer.Outputs(data.Rows, batchSize);
        using var scope = NewDisposeScope();
        Tensor logits = tensor(outputs.SelectMany(o => o).ToArray(), [outputs.Length, model.NumLabels]);
        double loss = Loss(logits, [.. data.Labels], task, CPU).item<float>();
        if (task == PredictionTask.Regression)
            return Metrics.Regression([.. outputs.Select(o => o[0])], data.Labels, loss);
        int[] predicted = [.. outputs.Select(o => (int)Scorer.ArgMaxKey(o) - 1)];
        return Metrics.Classification(predicted, [.. data.Labels.Select(l => (int)l)], model.NumLabels, loss);
    }

    /// <summary>Linear warm-up to 1, then linear decay to 0 (Hugging Face's linear schedule).</summary>
    internal static double Schedule(long step, long warmupSteps, long totalSteps)
    {
        if (step < warmupSteps) return (step + 1) / (double)(warmupSteps + 1);
        return Math.Max(0.0, (totalSteps - step) / (double)Math.Max(1, totalSteps - warmupSteps));
    }

    static Tensor Loss(Tensor logits, float[] labels, PredictionTask task, Device device)
    {
        if (task == PredictionTask.Regression)
        {
            Tensor target = tensor(labels, device: device);
            return nn.functional.mse_loss(logits.squeeze(-1).to(ScalarType.Float32), target);
        }
        Tensor classes = tensor(labels.Select(l => (long)l).ToArray(), device: device);
        return nn.functional.cross_entropy(logits.to(ScalarType.Float32), classes);
    }

    static void SetLearningRate(optim.Optimizer optimizer, double learningRate)
    {
        foreach (optim.ILearningRateController group in ((AdamW)optimizer).ParamGroups) group.LearningRate = learningRate;
    }

    static void DisposeAll(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (Tensor t in tensors.Values) t.Dispose();
    }
}
