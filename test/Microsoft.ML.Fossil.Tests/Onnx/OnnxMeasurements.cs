using System.Diagnostics;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tests.Checkpoints;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxTestSupport;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>Runs only when FOSSIL_ONNX_MEASURE=1: measurements that train a model and time for minutes.</summary>
public sealed class OnnxMeasurementFactAttribute : FactAttribute
{
    public OnnxMeasurementFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("FOSSIL_ONNX_MEASURE") != "1")
            Skip = "Measurement (trains MiniLM, then times for minutes): set FOSSIL_ONNX_MEASURE=1 to run.";
    }
}

/// <summary>
/// ONNX Runtime float32 / int8 against TorchSharp float32 on MiniLM: accuracy and agreement of a FOSSIL
/// classifier trained on the bundled fine-food reviews (500 test rows), and rows/s at 1 x 64 and 32 x 64
/// tokens with 2 threads each, measured back to back in interleaved rounds.
/// </summary>
public sealed class OnnxMeasurements(ITestOutputHelper output) : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [OnnxMeasurementFact]
    public void MiniLm_fine_foods_accuracy()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Reviews(ml, "fine_foods_train.tsv", 800);
        var clock = Stopwatch.StartNew();
        ITransformer fitted = MiniLmFineFoodsFixture.Pipeline(ml, AdapterKind.Fossil).Fit(train);
        output.WriteLine($"trained FOSSIL MiniLM on 800 rows in {clock.Elapsed.TotalSeconds:F0} s");
        using var fossil = ((IEnumerable<ITransformer>)fitted).OfType<FossilTextClassificationTransformer>().Single();
        SequenceClassifier network = fossil.Core.Network.Network;
        TextTokenizer encoder = fossil.Core.Network.Tokenizer;
        IReadOnlyList<string> labelNames = fossil.Core.Definition.LabelNames;
        int labels = network.NumLabels;

        string fp32Path = folder.File("model.onnx"), int8Path = folder.File("model-int8.onnx");
        ExportTo(network, fp32Path);
        ExportTo(network, int8Path, int8: true);
        AdapterInjector.MergeAll(network);   // TorchSharp serves merged models (MergeAdaptersOnLoad)

        string[][] test = [.. File.ReadAllLines(FineFoods.PathOf("fine_foods_test.tsv")).Skip(1).Select(l => l.Split('\t'))];
        List<TokenizedText> rows = [.. test.Select(r => encoder.Encode(r[0]))];
        int[] gold = [.. test.Select(r => labelNames.ToList().IndexOf(r[1]))];
        Assert.DoesNotContain(-1, gold);

        using var fp32 = OnnxRuntimeNetwork.Load(fp32Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2 });
        using var int8 = OnnxRuntimeNetwork.Load(int8Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2 });
        var torchAll = new List<float>(); var fp32All = new List<float>(); var int8All = new List<float>(); var int8Single = new List<float>();
        for (int start = 0; start < rows.Count; start += 32)
        {
            Collated batch = Collate(rows.Skip(start).Take(32).ToList(), encoder.PadTokenId);
            torchAll.AddRange(TorchLogits(network, batch));
            fp32All.AddRange(fp32.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length));
            int8All.AddRange(int8.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length));
            for (int r = 0; r < batch.Batch; r++)
            {
                Collated one = Row(batch, r);
                int8Single.AddRange(int8.Score(one.Ids, one.Mask, one.Types, 1, one.Length));
            }
        }
        int[] torchPred = Argmax([.. torchAll], labels), fp32Pred = Argmax([.. fp32All], labels);
        int[] int8Pred = Argmax([.. int8All], labels), int8SinglePred = Argmax([.. int8Single], labels);
        double Accuracy(int[] p) => p.Zip(gold).Count(x => x.First == x.Second) / (double)gold.Length;
        double Agreement(int[] p) => p.Zip(torchPred).Count(x => x.First == x.Second) / (double)gold.Length;
        output.WriteLine($"accuracy on {gold.Length} test rows: TorchSharp {Accuracy(torchPred):P2}, ORT fp32 {Accuracy(fp32Pred):P2}, " +
                         $"ORT int8 (batches of 32) {Accuracy(int8Pred):P2}, ORT int8 (batch 1) {Accuracy(int8SinglePred):P2}");
        output.WriteLine($"labels identical to TorchSharp: fp32 {Agreement(fp32Pred):P2}, int8 batched {Agreement(int8Pred):P2}, int8 batch 1 {Agreement(int8SinglePred):P2}");
        float[] t = [.. torchAll];
        output.WriteLine($"max |logit - TorchSharp|: fp32 {MaxAbsDiff(t, [.. fp32All]):G3}, int8 batched {MaxAbsDiff(t, [.. int8All]):G3}, " +
                         $"int8 batch 1 {MaxAbsDiff(t, [.. int8Single]):G3}; mean |int8 - TorchSharp| {t.Zip(int8All).Average(x => Math.Abs(x.First - x.Second)):G3}; " +
                         $"logit range {t.Min():G3}..{t.Max():G3}");
    }

    /// <summary>Speed does not depend on the weights: MiniLM with merged non-zero FOSSIL adapters, no training.</summary>
    [OnnxMeasurementFact]
    public void MiniLm_speed()
    {
        LoadedBackbone backbone = BackboneSource.MiniLM().Load();
        using var network = new SequenceClassifier(backbone.Encoder, 2, HeadKind.MeanPooling);
        AdapterInjector.Apply(network, AdapterOptions.ForFossil());
        Perturb(network, seed: 1, adapterScale: 0.01);
        TextTokenizer encoder = backbone.CreateTokenizer(64);
        string fp32Path = folder.File("model.onnx"), int8Path = folder.File("model-int8.onnx");
        ExportTo(network, fp32Path);
        ExportTo(network, int8Path, int8: true);
        AdapterInjector.MergeAll(network);   // TorchSharp serves merged models (MergeAdaptersOnLoad)
        using var fp32 = OnnxRuntimeNetwork.Load(fp32Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2 });
        using var int8 = OnnxRuntimeNetwork.Load(int8Path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 2 });
        List<TokenizedText> rows = [.. File.ReadAllLines(FineFoods.PathOf("fine_foods_test.tsv")).Skip(1).Select(l => encoder.Encode(l.Split('\t')[0]))];

        // The reference: the package's own MiniLM ONNX export (encoder only, opset 13), same session settings.
        string packagePath = folder.File("package-minilm.onnx");
        using (Stream resource = TestAssets.OpenMiniLmResource("model.onnx"))
        using (FileStream file = File.Create(packagePath))
            resource.CopyTo(file);
        using var packageOptions = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        packageOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "1");   // as OnnxRuntimeNetworkOptions.AllowSpinning
        using var package = new InferenceSession(packagePath, packageOptions);

        // Real rows truncated to exactly 64 tokens (no padding).
        List<TokenizedText> long64 = [.. rows.Where(r => r.Length == 64).Take(32)];
        Assert.Equal(32, long64.Count);
        set_num_threads(2);
        foreach (int batchSize in new[] { 1, 32 })
        {
            Collated batch = Collate(long64.Take(batchSize).ToList(), encoder.PadTokenId);
            var engines = new (string Name, Action Run)[]
            {
                ("TorchSharp fp32", () => TorchLogits(network, batch)),
                ("ORT fp32", () => fp32.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length)),
                ("ORT int8", () => int8.Score(batch.Ids, batch.Mask, batch.Types, batch.Batch, batch.Length)),
                ("ORT package enc.", () =>
                {
                    long[] shape = [batch.Batch, batch.Length];
                    using var ids = OrtValue.CreateTensorValueFromMemory(batch.Ids, shape);
                    using var mask = OrtValue.CreateTensorValueFromMemory(batch.Mask, shape);
                    using var types = OrtValue.CreateTensorValueFromMemory(batch.Types, shape);
                    using var runOptions = new RunOptions();
                    using var results = package.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [ids, mask, types], [package.OutputNames[0]]);
                }),
            };
            string[] only = Environment.GetEnvironmentVariable("FOSSIL_ONNX_MEASURE_ENGINES")?.Split(',') ?? [];
            if (only.Length > 0) engines = [.. engines.Where(e => only.Any(o => e.Name.StartsWith(o, StringComparison.Ordinal)))];
            var times = engines.ToDictionary(e => e.Name, _ => new List<double>());
            foreach (var (_, run) in engines) for (int i = 0; i < 3; i++) run();   // warm-up
            // The engines take turns call by call, so each sees the same load (the machine is shared), starting
            // each turn with the next engine (none always runs right after another's threads and cache use); the
            // ratios are taken per turn (paired), then their median.
            int turns = batchSize == 1 ? 200 : 20;
            for (int turn = 0; turn < turns; turn++)
                for (int k = 0; k < engines.Length; k++)
                {
                    var (name, run) = engines[(turn + k) % engines.Length];
                    var watch = Stopwatch.StartNew();
                    run();
                    times[name].Add(watch.Elapsed.TotalMilliseconds);
                }
            static double Median(IEnumerable<double> v)
            {
                double[] sorted = [.. v.Order()];
                return sorted[sorted.Length / 2];
            }
            foreach (var (name, _) in engines)
            {
                double ms = Median(times[name]), best = times[name].Min();
                output.WriteLine($"{batchSize} x 64: {name,-16} median {ms,8:F2} ms ({batchSize * 1000 / ms,6:F1} rows/s), fastest {best,8:F2} ms ({batchSize * 1000 / best,6:F1} rows/s)");
            }
            if (!times.ContainsKey("TorchSharp fp32") || !times.ContainsKey("ORT fp32") || !times.ContainsKey("ORT int8")) continue;
            double PairedRatio(string slow, string fast) => Median(times[slow].Zip(times[fast]).Select(p => p.First / p.Second));
            output.WriteLine($"{batchSize} x 64, paired per turn: ORT fp32 vs TorchSharp fp32 = {PairedRatio("TorchSharp fp32", "ORT fp32"):F2}x, " +
                             $"ORT int8 vs ORT fp32 = {PairedRatio("ORT fp32", "ORT int8"):F2}x" +
                             (times.ContainsKey("ORT package enc.") ? $", ORT fp32 vs the package's encoder = {PairedRatio("ORT package enc.", "ORT fp32"):F2}x" : ""));
        }
    }
}
