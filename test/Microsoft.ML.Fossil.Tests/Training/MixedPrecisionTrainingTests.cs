using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Models;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.Fossil.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Training;

/// <summary>
/// The training loop with a reduced-precision backbone, on a tiny RoBERTa with the real tokenizer and real review pairs:
/// backbone weights that train keep fp32 master copies (updates smaller than a bf16 step are not lost), trained tensors
/// are the fp32 masters, and fp16 trains with dynamic loss scaling.
/// </summary>
public sealed class MixedPrecisionTrainingTests(ITestOutputHelper output) : IDisposable
{
    readonly TinyBackbone backbone = new();

    public void Dispose() => backbone.Dispose();

    FineTunedNetwork Build(AdapterOptions adapter, ScalarType dtype)
    {
        LoadedBackbone loaded = BackboneSource.HuggingFaceFolder(backbone.Folder).Load();
        return FineTunedNetwork.ForTraining(loaded, 2, HeadKind.Default, adapter, 48, seed: 5, CPU, dtype);
    }

    static TokenizedDataset Pairs(TextTokenizer tokenizer, int rows)
    {
        string[][] lines = [.. File.ReadLines(FineFoods.PathOf("fine_foods_pairs_train.tsv")).Skip(1).Take(rows).Select(l => l.Split('\t'))];
        return new TokenizedDataset([.. lines.Select(l => tokenizer.Encode(l[0], l[1]))], [.. lines.Select(l => float.Parse(l[2], System.Globalization.CultureInfo.InvariantCulture))]);
    }

    static Dictionary<string, Tensor> Snapshot(IEnumerable<(string Name, Tensor Tensor)> tensors) =>
        tensors.ToDictionary(t => t.Name, t => t.Tensor.detach().clone());

    [Fact]
    public void Full_fine_tuning_in_bf16_keeps_fp32_masters_and_updates_below_a_bf16_step_are_not_lost()
    {
        using FineTunedNetwork network = Build(AdapterOptions.ForFullFineTuning(), ScalarType.BFloat16);
        MasterWeights masters = network.Masters!;
        Assert.True(masters.HasCopies);
        foreach (MasterWeights.Entry e in masters.Entries)
        {
            Assert.Equal(ScalarType.Float32, e.Master.dtype);
            bool head = e.Name.StartsWith("classifier.", StringComparison.Ordinal);
            Assert.Equal(head ? ScalarType.Float32 : ScalarType.BFloat16, e.Network.dtype);
            Assert.Equal(!head, e.IsCopy);
        }
        Dictionary<string, Tensor> mastersBefore = Snapshot(masters.Entries.Select(e => (e.Name, (Tensor)e.Master)));
        Dictionary<string, Tensor> networkBefore = Snapshot(masters.Entries.Select(e => (e.Name, (Tensor)e.Network)));

        // A learning rate whose updates are mostly below half a bf16 step of the weights: a bf16 network alone would not move.
        var options = new TrainingOptions { Epochs = 1, BatchSize = 8, LearningRate = 2e-6, WarmupRatio = 0, Seed = 3 };
        TrainingLoop.Run(network.Network, network.Tokenizer, Pairs(network.Tokenizer, 24), null, PredictionTask.Classification, options,
            masters: masters);

        long mastersMoved = 0, networkMoved = 0, elements = 0;
        foreach (MasterWeights.Entry e in masters.Entries.Where(e => e.IsCopy))
        {
            using var scope = NewDisposeScope();
            // The network holds the masters rounded once to bf16.
            Assert.True(e.Network.eq(e.Master.to(ScalarType.BFloat16)).all().item<bool>(), $"{e.Name}: the network's copy is not the master rounded");
            // Embedding rows of tokens the batches never use get no gradient: count the dense layers' weights.
            if (e.Name.Contains("embeddings.", StringComparison.Ordinal)) continue;
            mastersMoved += e.Master.ne(mastersBefore[e.Name]).sum().item<long>();
            networkMoved += e.Network.ne(networkBefore[e.Name]).sum().item<long>();
            elements += e.Master.numel();
        }
        output.WriteLine($"{elements:N0} weights of the encoder layers: {mastersMoved:N0} masters moved, {networkMoved:N0} bf16 copies moved");
        Assert.True(mastersMoved > elements / 2, $"only {mastersMoved} of {elements} masters moved");
        Assert.True(networkMoved < mastersMoved / 2, $"{networkMoved} bf16 weights moved for {mastersMoved} masters: the test's updates are not below a bf16 step");

        // The trained tensors a model saves are the fp32 masters.
        Dictionary<string, Tensor> saved = CompactModelFormat.FromSafetensors(network.TrainedTensors(), "trained.safetensors");
        Assert.Equal(masters.Entries.Select(e => e.Name), saved.Keys);
        foreach (MasterWeights.Entry e in masters.Entries)
        {
            Assert.Equal(ScalarType.Float32, saved[e.Name].dtype);
            Assert.True(saved[e.Name].eq(e.Master).all().item<bool>(), $"{e.Name}: saved tensor differs from the master");
        }
        foreach (Tensor t in mastersBefore.Values.Concat(networkBefore.Values).Concat(saved.Values)) t.Dispose();
    }

    [Fact]
    public void Adapters_train_without_copies_their_own_fp32_parameters_are_the_masters()
    {
        using FineTunedNetwork network = Build(AdapterOptions.ForFossil(8), ScalarType.BFloat16);
        Assert.False(network.Masters!.HasCopies);
        Assert.All(network.Masters.Entries, e => Assert.Equal(ScalarType.Float32, e.Master.dtype));
        var options = new TrainingOptions { Epochs = 2, BatchSize = 8, LearningRate = 1e-2, Seed = 3 };
        TrainingResult result = TrainingLoop.Run(network.Network, network.Tokenizer, Pairs(network.Tokenizer, 32), null, PredictionTask.Classification, options,
            masters: network.Masters);
        Assert.All(result.Epochs, e => Assert.True(double.IsFinite(e.TrainLoss)));
        Parameter shard = ((FossilLinear)AdapterInjector.AdaptedLayers(network.Network)[0].Layer).Shard;
        Assert.True(shard.abs().max().item<float>() > 0, "the shard did not move from zero");
    }

    [Fact]
    public void The_loss_scaler_skips_overflowing_steps_halves_and_grows_back()
    {
        var scaler = new LossScaler();
        Assert.Equal(65536, scaler.Scale);
        Assert.False(scaler.Update(gradientsFinite: false, 1, 1));
        Assert.Equal(32768, scaler.Scale);
        Assert.Equal(1, scaler.SkippedSteps);
        for (int i = 0; i < LossScaler.GrowthInterval - 1; i++) Assert.True(scaler.Update(true, 1, i));
        Assert.Equal(32768, scaler.Scale);
        Assert.True(scaler.Update(true, 1, 0));
        Assert.Equal(65536, scaler.Scale);
        for (int i = 0; i < 16; i++) scaler.Update(false, 2, i);
        Assert.Equal(1, scaler.Scale);
        var e = Assert.Throws<InvalidOperationException>(() => scaler.Update(false, 2, 17));
        Assert.Contains("epoch 2, step 17", e.Message, StringComparison.Ordinal);
        Assert.Contains("bf16", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Taking_gradients_unscales_them_into_fp32_masters_and_reports_overflow()
    {
        using var module = nn.Linear(4, 3, dtype: ScalarType.Float16);
        module.weight!.requires_grad = true;
        using var head = nn.Linear(3, 2);
        var both = nn.Sequential(module, head);
        using MasterWeights masters = MasterWeights.For(both);
        Assert.Equal(4, masters.Entries.Count);
        Assert.Equal([true, true, false, false], masters.Entries.Select(e => e.IsCopy));
        using (no_grad())
        {
            module.weight!.grad = full(3, 4, 1024.0, dtype: ScalarType.Float16);
            module.bias!.grad = full(3, 2048.0, dtype: ScalarType.Float16);
            head.weight!.grad = full(2, 3, 512.0);
            head.bias!.grad = full(2, 256.0);
        }
        Assert.True(masters.TakeGradients(1 / 1024.0));
        float[] expected = [1, 2, 0.5f, 0.25f];
        for (int i = 0; i < 4; i++)
        {
            using Tensor grad = masters.Entries[i].Master.grad!;
            Assert.Equal(ScalarType.Float32, grad.dtype);
            Assert.All(grad.data<float>().ToArray(), v => Assert.Equal(expected[i], v));
        }
        using (no_grad()) module.weight!.grad = full(3, 4, double.PositiveInfinity, dtype: ScalarType.Float16);
        Assert.False(masters.TakeGradients(1 / 1024.0));
    }

    [Fact]
    public void Fp16_trains_with_loss_scaling_and_stays_close_to_fp32()
    {
        // fp16 is refused at the edge on the CPU (slow); the loop itself runs anywhere, so it is tested here.
        var results = new Dictionary<ScalarType, (double Loss, Tensor Shard)>();
        foreach (ScalarType dtype in (ScalarType[])[ScalarType.Float32, ScalarType.Float16])
        {
            using FineTunedNetwork network = Build(AdapterOptions.ForFossil(8), dtype);
            var options = new TrainingOptions { Epochs = 2, BatchSize = 8, LearningRate = 1e-2, Seed = 3 };
            TrainingResult result = TrainingLoop.Run(network.Network, network.Tokenizer, Pairs(network.Tokenizer, 32), null, PredictionTask.Classification, options,
                masters: network.Masters);
            Parameter shard = ((FossilLinear)AdapterInjector.AdaptedLayers(network.Network)[0].Layer).Shard;
            results[dtype] = (result.Epochs[^1].TrainLoss, shard.detach().clone());
            output.WriteLine($"{dtype}: losses {string.Join(", ", result.Epochs.Select(e => e.TrainLoss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}");
        }
        var (loss16, shard16) = results[ScalarType.Float16];
        var (loss32, shard32) = results[ScalarType.Float32];
        Assert.True(double.IsFinite(loss16));
        double relative = (shard16 - shard32).norm().item<float>() / shard32.norm().item<float>();
        output.WriteLine($"first shard after training: fp16 vs fp32 relative L2 difference {relative:E2}; final losses {loss16:F4} vs {loss32:F4}");
        Assert.True(relative < 0.1, $"fp16 training drifted from fp32's: {relative}");
        Assert.True(Math.Abs(loss16 - loss32) < 0.02, $"losses {loss16} vs {loss32}");
    }
}
