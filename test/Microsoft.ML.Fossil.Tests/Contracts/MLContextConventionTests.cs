using System.Reflection;
using Microsoft.ML.Fossil.Tests.MLNet;
using Microsoft.ML.Runtime;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.Contracts;

/// <summary>
/// The trainers and loaded models follow the <see cref="MLContext"/> they come from, as ML.NET's own components do:
/// its seed, <c>CancelExecution</c>, <c>GpuDeviceId</c> / <c>FallbackToCpu</c> (for loading too), and the settings
/// given to it with <c>SetFossilSettings</c> (never another context's).
/// </summary>
public sealed class MLContextConventionTests(ITestOutputHelper output) : IDisposable
{
    readonly TinyBackbone backbone = new();
    readonly string work = Directory.CreateTempSubdirectory("fossil-context-").FullName;

    public void Dispose()
    {
        backbone.Dispose();
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
    }

    FossilTextClassificationTrainer.Options Options(int? seed = null) => new()
    {
        Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
        Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 32,
        Rank = 8, LearningRate = 1e-2, Seed = seed, AdapterDropout = 0.1,
    };

    /// <summary>The trained tensors of a model fitted in a context created with <paramref name="contextSeed"/>.</summary>
    byte[] TrainedTensors(int? contextSeed, int? optionsSeed = null)
    {
        var ml = new MLContext(contextSeed);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 32);
        using FossilTextClassificationTransformer model = ml.MulticlassClassification.Trainers.FossilTextClassification(Options(optionsSeed))
            .Fit(ml.Transforms.Conversion.MapValueToKey("SameLabel").Fit(train).Transform(train));
        return model.Core.Definition.TrainedTensors;
    }

    [Fact]
    public void The_context_seed_seeds_training_when_the_options_give_none()
    {
        byte[] a = TrainedTensors(contextSeed: 5), b = TrainedTensors(contextSeed: 5), c = TrainedTensors(contextSeed: 6);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        // An explicit Options.Seed wins over the context's.
        Assert.Equal(TrainedTensors(contextSeed: 5, optionsSeed: 11), TrainedTensors(contextSeed: 6, optionsSeed: 11));
    }

    [Fact]
    public void CancelExecution_ends_Fit_with_OperationCanceledException_within_one_step_and_writes_nothing()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = ml.Transforms.Conversion.MapValueToKey("SameLabel").Fit(FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 64))
            .Transform(FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 64));
        FossilTextClassificationTrainer.Options options = Options();
        options.Epochs = 3;
        int stepsAfterCancel = -1;
        bool cancelled = false;
        options.Progress = p =>
        {
            if (cancelled) stepsAfterCancel++;
            if (p.Epoch == 1 && p.Step == 2)
            {
                // ML.NET's own MLContext.CancelExecution (internal to ML.NET, as AutoML calls it).
                typeof(MLContext).GetMethod("CancelExecution", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!.Invoke(ml, null);
                cancelled = true;
                stepsAfterCancel = 0;
            }
        };
        string before = string.Join(",", Directory.GetFileSystemEntries(work));
        Assert.Throws<OperationCanceledException>(() => ml.MulticlassClassification.Trainers.FossilTextClassification(options).Fit(train));
        Assert.Equal(0, stepsAfterCancel);
        Assert.Equal(before, string.Join(",", Directory.GetFileSystemEntries(work)));
    }

    [Fact]
    public void GpuDeviceId_applies_to_Model_Load_falling_back_to_the_CPU_only_when_asked()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        ITransformer model = ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(Options(seed: 1))).Fit(train);
        string zip = Path.Combine(work, "model.zip");
        ml.Model.Save(model, train.Schema, zip);
        ((IDisposable)model).Dispose();
        Assert.False(TorchSharp.torch.cuda.is_available(), "this test checks the CPU fallback of a machine without CUDA");

        var strict = new MLContext(seed: 1) { GpuDeviceId = 0 };
        Exception refused = Assert.ThrowsAny<Exception>(() => strict.Model.Load(zip, out _));
        string message = string.Join(" | ", Chain(refused).Select(e => e.Message));
        Assert.Contains("GpuDeviceId is 0", message);
        Assert.Contains("FallbackToCpu", message);

        var lenient = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var warnings = new List<string>();
        lenient.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
        ITransformer loaded = lenient.Model.Load(zip, out _);
        FossilTextClassificationTransformer fossil = ((IEnumerable<ITransformer>)loaded).OfType<FossilTextClassificationTransformer>().Single();
        Assert.Equal(TorchSharp.DeviceType.CPU, fossil.Core.Network.Device.type);
        Assert.Contains(warnings, w => w.Contains("on the CPU", StringComparison.Ordinal));
        output.WriteLine(warnings.First(w => w.Contains("on the CPU", StringComparison.Ordinal)));
        fossil.Dispose();
    }

    [Fact]
    public void Settings_given_to_one_context_do_not_reach_another()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 16);
        ITransformer model = ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(Options(seed: 1))).Fit(train);
        string zip = Path.Combine(work, "model.zip");
        ml.Model.Save(model, train.Schema, zip);
        ((IDisposable)model).Dispose();

        var unmerged = new MLContext(seed: 1);
        unmerged.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = false });
        Assert.False(unmerged.GetFossilSettings().MergeAdaptersOnLoad);
        var plain = new MLContext(seed: 1);
        Assert.Same(FossilSettings.Default, plain.GetFossilSettings());
        ITransformer a = unmerged.Model.Load(zip, out _), b = plain.Model.Load(zip, out _);
        Assert.False(((IEnumerable<ITransformer>)a).OfType<FossilTextClassificationTransformer>().Single().Core.Network.AdaptersMerged);
        Assert.Equal(FossilSettings.Default.MergeAdaptersOnLoad,
            ((IEnumerable<ITransformer>)b).OfType<FossilTextClassificationTransformer>().Single().Core.Network.AdaptersMerged);
        ((IDisposable)a).Dispose();
        ((IDisposable)b).Dispose();
    }

    static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException) yield return current;
    }
}
