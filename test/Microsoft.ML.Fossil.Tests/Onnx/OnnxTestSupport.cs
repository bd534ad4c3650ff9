using Google.Protobuf;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tokenization;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>A collated batch as managed arrays, row-major [Batch, Length], right-padded.</summary>
internal sealed record Collated(long[] Ids, long[] Mask, long[] Types, int Batch, int Length);

/// <summary>Helpers shared by the ONNX export tests: collation, reference logits, export to a file.</summary>
internal static class OnnxTestSupport
{
    /// <summary>Pads <paramref name="rows"/> to the longest with <paramref name="padId"/> (mask 0, type 0), as TextTokenizer.Pad does.</summary>
    public static Collated Collate(IReadOnlyList<TokenizedText> rows, int padId) =>
        Collate(rows.Select(r => r.InputIds.Select(i => (long)i).ToArray()).ToList(),
                rows.Select(r => r.TokenTypeIds.Select(i => (long)i).ToArray()).ToList(), padId);

    public static Collated Collate(IReadOnlyList<long[]> ids, IReadOnlyList<long[]>? types, long padId)
    {
        int batch = ids.Count, length = ids.Max(r => r.Length);
        var collated = new Collated(new long[batch * length], new long[batch * length], new long[batch * length], batch, length);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
            {
                bool real = t < ids[b].Length;
                collated.Ids[b * length + t] = real ? ids[b][t] : padId;
                collated.Mask[b * length + t] = real ? 1 : 0;
                collated.Types[b * length + t] = real && types is not null ? types[b][t] : 0;
            }
        return collated;
    }

    /// <summary>One row of a collated batch as its own batch of one (its own length, no padding).</summary>
    public static Collated Row(Collated batch, int row)
    {
        int length = (int)batch.Mask.Skip(row * batch.Length).Take(batch.Length).Sum();
        long[] Slice(long[] a) => a.Skip(row * batch.Length).Take(length).ToArray();
        return new Collated(Slice(batch.Ids), Slice(batch.Mask), Slice(batch.Types), 1, length);
    }

    /// <summary>The TorchSharp network's outputs in evaluation and inference mode, row-major [B, labels].</summary>
    public static float[] TorchLogits(SequenceClassifier network, Collated batch)
    {
        network.eval();
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        Tensor ids = tensor(batch.Ids).reshape(batch.Batch, batch.Length);
        Tensor types = tensor(batch.Types).reshape(batch.Batch, batch.Length);
        Tensor mask = tensor(batch.Mask).reshape(batch.Batch, batch.Length);
        return network.forward(ids, types, mask).contiguous().data<float>().ToArray();
    }

    /// <summary>Exports <paramref name="network"/> to <paramref name="path"/>.</summary>
    public static ModelProto ExportTo(SequenceClassifier network, string path, bool int8 = false)
    {
        ModelProto model = OnnxClassifierExporter.Export(network, new OnnxExportOptions { QuantizeInt8 = int8 });
        using var file = File.Create(path);
        model.WriteTo(file);
        return model;
    }

    /// <summary>Largest absolute difference.</summary>
    public static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    /// <summary>Index of the largest value of each row of a row-major [rows, columns] array.</summary>
    public static int[] Argmax(float[] logits, int columns) =>
        Enumerable.Range(0, logits.Length / columns)
            .Select(r => Enumerable.Range(0, columns).MaxBy(c => logits[r * columns + c]))
            .ToArray();

    /// <summary>
    /// Gives every adapter parameter seeded random values of scale <paramref name="scale"/> (a trained
    /// adapter is not zero) and the head weights a trained-looking size, so merge and head mistakes show.
    /// </summary>
    public static void Perturb(SequenceClassifier network, long seed, double adapterScale, double headScale = 0.3)
    {
        var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (_, layer) in AdapterInjector.AdaptedLayers(network))
            foreach (Parameter parameter in layer.AdapterParameters)
            {
                using Tensor values = randn(parameter.shape, generator: generator) * adapterScale;
                parameter.copy_(values);
            }
        foreach (var (name, parameter) in network.named_parameters())
        {
            if (!name.StartsWith(SequenceClassifier.ClassifierName + ".", StringComparison.Ordinal)) continue;
            using Tensor values = randn(parameter.shape, generator: generator) * headScale;
            parameter.copy_(values);
        }
        network.eval();
    }

    /// <summary>
    /// Loads <paramref name="modelPath"/> with the runner's optimisations (or with only
    /// <paramref name="disabledOptimizers"/> left out), has it write the optimised graph, and counts its ops by domain-qualified type ("com.microsoft:BiasGelu", "MatMul", ...).
    /// </summary>
    public static Dictionary<string, int> OptimizedOps(string modelPath, IReadOnlyList<string>? disabledOptimizers = null, bool fuseAttention = true)
    {
        string optimized = Path.ChangeExtension(modelPath, ".optimized.onnx");
        var options = new OnnxRuntimeNetworkOptions { IntraOpThreads = 1, OptimizedModelPath = optimized, FuseAttention = fuseAttention };
        if (disabledOptimizers is not null) options = options with { DisabledOptimizers = disabledOptimizers };
        using (OnnxRuntimeNetwork.Load(modelPath, options)) { }
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized));
        File.Delete(optimized);
        return model.Graph.Node.GroupBy(n => n.Domain.Length > 0 && n.Domain != "ai.onnx" ? $"{n.Domain}:{n.OpType}" : n.OpType)
            .ToDictionary(g => g.Key, g => g.Count());
    }

    public static string Describe(Dictionary<string, int> ops) =>
        string.Join(", ", ops.OrderByDescending(o => o.Value).ThenBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} x{o.Value}"));

    /// <summary>Mean absolute difference.</summary>
    public static float MeanAbsDiff(float[] a, float[] b) => (float)a.Zip(b).Average(p => Math.Abs(p.First - p.Second));
}
