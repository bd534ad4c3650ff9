using Microsoft.ML.Fossil.Adapters;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// The baselines run through the same trainer: LoRA r=8 and full fine-tuning on the same MiniLM,
/// data, epochs and seed as the FOSSIL fixture, each beating the majority class on held-out reviews.
/// </summary>
public class AdapterKindComparisonTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(AdapterKind.Lora)]
    [InlineData(AdapterKind.FullFineTuning)]
    public void Baseline_fits_through_the_same_trainer_and_beats_the_majority_class(AdapterKind kind)
    {
        var ml = new MLContext(seed: 1);
        IDataView train = FineFoods.Reviews(ml, "fine_foods_train.tsv", MiniLmFineFoodsFixture.TrainRows);
        IDataView test = FineFoods.Reviews(ml, "fine_foods_test.tsv", MiniLmFineFoodsFixture.TestRows);
        ITransformer model = MiniLmFineFoodsFixture.Pipeline(ml, kind).Fit(train);
        var fossil = ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();
        try
        {
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
            double baseline = FineFoods.MajorityShare(test, "Label");
            string zip = Path.Combine(Path.GetTempPath(), $"fossil-{kind}-{Guid.NewGuid():N}.zip");
            ml.Model.Save(model, train.Schema, zip);
            long zipBytes = new FileInfo(zip).Length;
            File.Delete(zip);
            var summary = fossil.TrainingSummary!;
            double secondsPerEpoch = summary["epochs"]!.AsArray().Average(e => e!["seconds"]!.GetValue<double>());
            var report = fossil.Core.Network.ParameterReport();
            output.WriteLine($"{kind}: accuracy {metrics.MicroAccuracy:F4} vs majority {baseline:F4}; trainable {report.TrainableParameters:N0}; " +
                             $"{secondsPerEpoch:F1} s/epoch; zip {zipBytes:N0} bytes");
            Assert.True(metrics.MicroAccuracy > baseline + 0.05, $"{kind}: accuracy {metrics.MicroAccuracy:F4} vs majority {baseline:F4}");
            if (kind == AdapterKind.FullFineTuning) Assert.Equal(report.TotalParameters, report.TrainableParameters);
            else Assert.Equal(6 * 2 * 8 * (384 + 384) + 384 * 2 + 2, report.TrainableParameters);
        }
        finally
        {
            fossil.Dispose();
        }
    }
}
