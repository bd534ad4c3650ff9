using BenchmarkDotNet.Attributes;
using Microsoft.ML.Fossil.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Benchmarks.Micro;

/// <summary>
/// One linear layer [in x out] on an input of <see cref="Tokens"/> rows: a plain (frozen) linear
/// layer against the same layer wrapped by FOSSIL (default, mini, bat; r = 64) and LoRA (r = 8).
/// Forward runs under inference mode (unmerged adapters, as served before merging); forward+backward
/// is a training step of that layer alone: the input requires a gradient (as every layer's input does
/// in a network trained from the embeddings up), the base weight is frozen, the adapter is trained.
/// </summary>
[MemoryDiagnoser(displayGenColumns: false)]
public class AdaptedLayerBenchmarks
{
    /// <summary>Rows of the input ([tokens, in]); set by the suite before BenchmarkDotNet runs (in process).</summary>
    public static int Tokens { get; set; } = 32 * 128;

    public static IEnumerable<string> Shapes => ["384x384", "768x768", "768x3072"];

    public static IEnumerable<string> Kinds => ["linear", "fossil", "fossil-mini", "fossil-bat", "lora"];

    /// <summary>Precisions of the base layer and input; set by the suite before BenchmarkDotNet runs.</summary>
    public static IReadOnlyList<string> PrecisionChoices { get; set; } = ["fp32", "bf16"];

    public static IEnumerable<string> Precisions => PrecisionChoices;

    /// <summary>fp32 or bf16: the base layer's weights and the input (the adapter keeps fp32 parameters, as in training).</summary>
    [ParamsSource(nameof(Precisions))]
    public string Precision { get; set; } = "fp32";

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "384x384";

    [ParamsSource(nameof(Kinds))]
    public string Kind { get; set; } = "linear";

    nn.Module<Tensor, Tensor> layer = null!;
    Tensor input = null!;
    Parameter[] trainable = [];

    /// <summary>Trainable parameters of the adapter in a configuration (0 for the plain layer).</summary>
    public static long AdapterParameters(string shape, string kind)
    {
        var (inFeatures, outFeatures) = Parse(shape);
        return kind switch
        {
            "fossil" or "fossil-bat" => 64L * outFeatures,
            "fossil-mini" => 64L,
            "lora" => 8L * (inFeatures + outFeatures),
            _ => 0,
        };
    }

    static (int In, int Out) Parse(string shape)
    {
        string[] parts = shape.Split('x');
        return (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    [GlobalSetup]
    public void Setup()
    {
        Native.TorchRuntime.EnsureLoaded();
        manual_seed(1);
        var (inFeatures, outFeatures) = Parse(Shape);
        Linear linear = nn.Linear(inFeatures, outFeatures);
        linear.weight!.requires_grad = false;
        linear.bias!.requires_grad = false;
        // Random shards (not the zero start) so that no path can skip work on zeros.
        layer = Kind switch
        {
            "linear" => linear,
            "fossil" => new FossilLinear(linear, 64, FossilVariant.Default, zeroInit: false),
            "fossil-mini" => new FossilLinear(linear, 64, FossilVariant.Mini, miniRank: 1, zeroInit: false),
            "fossil-bat" => new FossilLinear(linear, 64, FossilVariant.Bat, zeroInit: false),
            "lora" => new LoraLinear(linear, 8, alpha: 8, zeroInit: false),
            _ => throw new ArgumentException($"Unknown kind '{Kind}'."),
        };
        trainable = layer is AdaptedLinear adapted ? [.. adapted.AdapterParameters] : [];
        foreach (Parameter p in trainable) p.requires_grad = true;
        ScalarType dtype = Macro.BenchModels.DType(Precision);
        if (layer is AdaptedLinear cast) cast.CastBase(dtype);
        else layer.to(dtype);
        layer.train();
        input = randn(Tokens, inFeatures).to(dtype);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        input.Dispose();
        layer.Dispose();
    }

    [Benchmark(Description = "forward (inference mode)")]
    public void Forward()
    {
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        layer.forward(input);
    }

    [Benchmark(Description = "forward + backward")]
    public void ForwardBackward()
    {
        using var scope = NewDisposeScope();
        Tensor x = input.detach().requires_grad_(true);
        Tensor y = layer.forward(x);
        y.sum().backward();
        // Gradients set to none between steps, as the trainer's zero_grad does.
        layer.zero_grad();
    }
}
