using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.Scoring;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>
/// Null, empty and white-space text, and pairs whose second text is missing, end to end through
/// Transform and PredictionEngine: each gets a defined prediction (the model sees the special tokens
/// and whatever the tokenizer keeps), never an exception. ML.NET has no null text: a null string in an
/// input class or a missing field becomes empty text before the model sees it.
/// </summary>
[Collection(MiniLmFineFoodsFixture.Collection)]
public sealed class TextEdgeCaseTests(MiniLmFineFoodsFixture fixture, ITestOutputHelper output) : IDisposable
{
    readonly TinyBackbone backbone = new();

    public void Dispose() => backbone.Dispose();

    static float[] Probabilities(FossilTransformerCore model, string? text, string? pair = null)
    {
        float[] logits = model.Scorer.Outputs([model.Scorer.Tokenize(text, pair)], 1)[0];
        var probabilities = new float[logits.Length];
        Scorer.Softmax(logits, probabilities);
        return probabilities;
    }

    static int[] Bits(float[] scores) => [.. scores.Select(BitConverter.SingleToInt32Bits)];

    static void AssertClose(float[] expected, float[] actual, double tolerance = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(diff <= tolerance, $"scores differ by {diff}: [{string.Join(", ", expected)}] vs [{string.Join(", ", actual)}]");
    }

    [Fact]
    public void Null_empty_and_white_space_text_get_the_prediction_of_the_special_tokens_alone()
    {
        // MiniLM's BERT tokenizer drops white space, so all three are [CLS] [SEP].
        FossilTransformerCore model = fixture.Fossil.Core;
        string whiteSpace = " \t\r\n\u00A0\u3000 ";
        Assert.Equal([101, 102], model.Scorer.Tokenize(whiteSpace).InputIds);
        float[] expected = Probabilities(model, "");
        Assert.Equal(1f, expected.Sum(), 5);

        using var engine = fixture.Ml.Model.CreatePredictionEngine<MiniLmFineFoodsTests.Review, MiniLmFineFoodsTests.Prediction>(
            fixture.Model, new PredictionEngineOptions { OwnsTransformer = false });
        foreach (string? text in new[] { null, "", whiteSpace })
        {
            MiniLmFineFoodsTests.Prediction p = engine.Predict(new MiniLmFineFoodsTests.Review { Sentence = text!, Label = "1" });
            Assert.Equal(Bits(expected), Bits(p.Score));
            Assert.Equal(expected[1] > expected[0] ? "1" : "0", p.PredictedLabelText);
        }

        IDataView rows = fixture.Ml.Data.LoadFromEnumerable(new[]
        {
            new MiniLmFineFoodsTests.Review { Sentence = null!, Label = "1" },
            new MiniLmFineFoodsTests.Review { Sentence = "", Label = "0" },
            new MiniLmFineFoodsTests.Review { Sentence = whiteSpace, Label = "1" },
            new MiniLmFineFoodsTests.Review { Sentence = "Great coffee, would buy again.", Label = "1" },
        });
        float[][] batched = [.. fixture.Model.Transform(rows).GetColumn<float[]>("Score")];
        // Batched with a longer row (padding, attention mask): the same scores to float rounding.
        foreach (float[] scores in batched[..3]) AssertClose(expected, scores);
        output.WriteLine($"empty text: P = [{string.Join(", ", expected)}]");
    }

    public sealed class PairRow
    {
        public string? Sentence1 { get; set; }
        public string? Sentence2 { get; set; }
        public string SameLabel { get; set; } = "";
    }

    public sealed class PairPrediction
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void Pairs_with_a_missing_second_text_and_odd_texts_train_and_score_through_Transform_and_PredictionEngine()
    {
        var ml = new MLContext(seed: 1);
        PairRow[] pairs = [.. ml.Data.CreateEnumerable<PairRow>(FineFoods.Pairs(ml, "fine_foods_pairs_train.tsv", 40), reuseRowObject: false)];
        string first = pairs[0].Sentence1!;
        // Training accepts them too: rows with a missing, empty or white-space text.
        PairRow[] train =
        [
            .. pairs,
            new() { Sentence1 = first, Sentence2 = null, SameLabel = pairs[0].SameLabel },
            new() { Sentence1 = null, Sentence2 = "", SameLabel = pairs[1].SameLabel },
            new() { Sentence1 = "   ", Sentence2 = first, SameLabel = pairs[2].SameLabel },
        ];
        IDataView trainView = ml.Data.LoadFromEnumerable(train);
        ITransformer model = ml.Transforms.Conversion.MapValueToKey("SameLabel")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence1", Sentence2ColumnName = "Sentence2", LabelColumnName = "SameLabel",
                Backbone = BackboneSource.HuggingFaceFolder(backbone.Folder), Epochs = 1, BatchSize = 16, MaxSequenceLength = 48, Rank = 8,
            })).Fit(trainView);
        var fossil = ((IEnumerable<ITransformer>)model).OfType<FossilTextClassificationTransformer>().Single();
        try
        {
            var cases = new (string Name, string? Text1, string? Text2)[]
            {
                ("second null", first, null),
                ("second empty", first, ""),
                ("both null", null, null),
                ("both empty", "", ""),
                ("first white space", " \t\n ", first),
                ("100,000 characters", string.Concat(Enumerable.Repeat("good food ", 10_000)), first),
                ("CJK", "日本語のテキスト、中文字符和한국어", "美味しい"),
                ("emoji", "😀👍🏽👨‍👩‍👧🇫🇷❤️", first),
                ("RTL and bidi controls", "مرحبا بالعالم שלום עולם \u200F\u200E\u202E", first),
                ("combining marks", "Z\u0351\u0316\u0300\u0301\u0302\u0303a\u0308\u0308\u0308", first),
                ("control characters and NUL", "a\u0000b\u0001\u001B[31m\u007F\u0085", "\u0000"),
                ("unpaired surrogates", "\uD800 x \uDC00", "a\uD83D"),
            };
            PairRow[] rows = [.. cases.Select(c => new PairRow { Sentence1 = c.Text1, Sentence2 = c.Text2 })];
            float[][] batched = [.. model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float[]>("Score")];
            using var engine = ml.Model.CreatePredictionEngine<PairRow, PairPrediction>(model, new PredictionEngineOptions { OwnsTransformer = false });
            for (int i = 0; i < cases.Length; i++)
            {
                float[] single = engine.Predict(rows[i]).Score;
                Assert.True(single.All(float.IsFinite) && Math.Abs(single.Sum() - 1) < 1e-5, $"{cases[i].Name}: [{string.Join(", ", single)}]");
                AssertClose(single, batched[i]);
                // What the model computes for the row's text, null taken as empty.
                Assert.Equal(Bits(Probabilities(fossil.Core, cases[i].Text1 ?? "", cases[i].Text2 ?? "")), Bits(single));
                output.WriteLine($"{cases[i].Name}: [{string.Join(", ", single)}]");
            }
            // A missing second text is an empty second segment: null and "" score alike.
            Assert.Equal(Bits(engine.Predict(rows[0]).Score), Bits(engine.Predict(rows[1]).Score));
            Assert.Equal(Bits(engine.Predict(rows[2]).Score), Bits(engine.Predict(rows[3]).Score));
        }
        finally
        {
            fossil.Dispose();
        }
    }
}
