using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Tests.MLNet;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.Contracts;

/// <summary>
/// The user-level contracts of a fitted model, for every adapter kind and FOSSIL variant, on a tiny RoBERTa with the
/// real roberta-base tokenizer: save -> load -> save -> load keeps everything (the same entries, bit-identical
/// scores), saving never disturbs predictions running in other threads, and a self-contained model stays
/// self-contained when it is loaded and saved again.
/// </summary>
public sealed class ModelContractTests(ITestOutputHelper output) : IDisposable
{
    readonly TinyBackbone backbone = new();
    readonly string work = Directory.CreateTempSubdirectory("fossil-contracts-").FullName;

    public void Dispose()
    {
        backbone.Dispose();
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
    }

    public sealed class PairRow
    {
        public string Sentence1 { get; set; } = "";
        public string Sentence2 { get; set; } = "";
        public string SameLabel { get; set; } = "";
        public float Positivity { get; set; }
    }

    public sealed class ClassPrediction
    {
        public float[] Score { get; set; } = [];
    }

    public sealed class SimilarityPrediction
    {
        public float Score { get; set; }
    }

    public static TheoryData<string> Adapters => ["fossil", "fossil-mini", "fossil-bat", "lora", "full"];

    FossilTextClassificationTrainer.Options Options(string adapter)
    {
        var options = new FossilTextClassificationTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
            Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48,
            Rank = 8, LearningRate = 1e-2, Seed = 7,
        };
        switch (adapter)
        {
            case "fossil-mini": options.FossilVariant = FossilVariant.Mini; options.MiniRank = 4; break;
            case "fossil-bat": options.FossilVariant = FossilVariant.Bat; break;
            case "lora": options.AdapterKind = AdapterKind.Lora; break;
            case "full": options.AdapterKind = AdapterKind.FullFineTuning; options.LearningRate = 1e-3; break;
        }
        return options;
    }

    (ITransformer Model, IDataView Train, IDataView Test, MLContext Ml) FitClassifier(string adapter)
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 48);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        ITransformer model = ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(Options(adapter)))
            .Fit(train);
        return (model, train, test, ml);
    }

    [Theory]
    [MemberData(nameof(Adapters))]
    public void A_classifier_saved_loaded_and_saved_again_keeps_everything(string adapter)
    {
        var (model, train, test, _) = FitClassifier(adapter);
        string zip = ModelContract.SaveLoadCycles(model, train.Schema, test, work, output);
        Assert.Contains(ModelContract.Entries(zip).Keys, k => k.EndsWith("trained.safetensors", StringComparison.Ordinal));
        // Loaded with adapters kept separate, the model computes exactly what the fitted model computes.
        var unmerged = new MLContext(seed: 1);
        unmerged.SetFossilSettings(new FossilSettings { MergeAdaptersOnLoad = false });
        ITransformer loaded = unmerged.Model.Load(zip, out _);
        Assert.Equal(ModelContract.ScoreBits(model, test), ModelContract.ScoreBits(loaded, test));
        ((IDisposable)loaded).Dispose();
        ((IDisposable)model).Dispose();
    }

    [Theory]
    [MemberData(nameof(Adapters))]
    public void Saving_a_loaded_model_while_three_threads_predict_changes_no_prediction(string adapter)
    {
        var (model, train, _, ml) = FitClassifier(adapter);
        string zip = Path.Combine(work, "model.zip");
        ml.Model.Save(model, train.Schema, zip);
        ((IDisposable)model).Dispose();
        var serving = new MLContext(seed: 1);
        ITransformer loaded = serving.Model.Load(zip, out DataViewSchema schema);
        PairRow[] rows = [.. serving.Data.CreateEnumerable<PairRow>(FineFoods.Pairs(serving, "fine_foods_pairs_test.tsv", 6), reuseRowObject: false)];
        ModelContract.SaveWhilePredicting<PairRow, ClassPrediction>(serving, loaded, schema, rows, p => p.Score, work, output);
        ((IDisposable)loaded).Dispose();
    }

    [Fact]
    public void Saving_a_freshly_fitted_model_while_threads_predict_changes_no_prediction()
    {
        var (model, train, _, ml) = FitClassifier("fossil-bat");
        PairRow[] rows = [.. ml.Data.CreateEnumerable<PairRow>(FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 6), reuseRowObject: false)];
        ModelContract.SaveWhilePredicting<PairRow, ClassPrediction>(ml, model, train.Schema, rows, p => p.Score, work, output, saves: 5);
        ((IDisposable)model).Dispose();
    }

    [Fact]
    public void A_similarity_model_saved_loaded_and_saved_again_keeps_everything_and_is_named_for_what_it_is()
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 48);
        IDataView test = FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 24);
        FossilSentenceSimilarityTransformer model = ml.Regression.Trainers.FossilSentenceSimilarity(new FossilSentenceSimilarityTrainer.Options
        {
            Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "Positivity",
            Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48, Rank = 8,
            FossilVariant = FossilVariant.Bat,
        }).Fit(train);
        string zip = ModelContract.SaveLoadCycles(model, train.Schema, test, work, output);
        ITransformer loaded = new MLContext(seed: 1).Model.Load(zip, out DataViewSchema schema);
        Assert.IsType<FossilSentenceSimilarityTransformer>(loaded);
        PairRow[] rows = [.. ml.Data.CreateEnumerable<PairRow>(FineFoods.Pairs(ml, "fine_foods_pairs_test.tsv", 4), reuseRowObject: false)];
        ModelContract.SaveWhilePredicting<PairRow, SimilarityPrediction>(ml, loaded, schema, rows, p => [p.Score], work, output, saves: 5);
        ((IDisposable)loaded).Dispose();
        model.Dispose();
    }

    [Fact]
    public void A_self_contained_model_stays_self_contained_when_loaded_and_saved_again()
    {
        var (model, train, test, ml) = FitClassifier("fossil");
        ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single().EmbedBackbone = true;
        string first = Path.Combine(work, "self-contained.zip"), again = Path.Combine(work, "self-contained-again.zip");
        ml.Model.Save(model, train.Schema, first);
        ITransformer loaded = new MLContext(seed: 1).Model.Load(first, out DataViewSchema schema);
        Assert.True(((IEnumerable<ITransformer>)loaded).OfType<FossilTextClassificationTransformer>().Single().EmbedBackbone);
        new MLContext(seed: 1).Model.Save(loaded, schema, again);
        Assert.Equal(ModelContract.Entries(first), ModelContract.Entries(again));

        // Without the backbone folder the re-saved file still loads and scores the same.
        int[] expected = ModelContract.ScoreBits(loaded, test);
        ((IDisposable)loaded).Dispose();
        ((IDisposable)model).Dispose();
        Directory.Delete(backbone.Folder, recursive: true);
        ITransformer reloaded = new MLContext(seed: 1).Model.Load(again, out _);
        Assert.Equal(expected, ModelContract.ScoreBits(reloaded, test));
        ((IDisposable)reloaded).Dispose();
    }
}
