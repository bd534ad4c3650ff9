using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Adapters;

/// <summary>Injection by name, freezing, parameter reports, and gradients after a backward pass.</summary>
public class AdapterInjectorTests(ITestOutputHelper output)
{
    static SequenceClassifier TinyRoberta(int labels = 3)
    {
        manual_seed(7);
        return new SequenceClassifier(new EncoderModel(TinyModels.Roberta(), addPoolingLayer: false), labels);
    }

    static (Tensor Ids, Tensor Types, Tensor Mask) Batch()
    {
        // Two rows, the second padded (pad id 1): the mask matters.
        Tensor ids = tensor(new long[] { 0, 5, 9, 17, 2, 0, 8, 2, 1, 1 }, [2, 5]);
        Tensor mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 5]);
        return (ids, zeros_like(ids), mask);
    }

    [Fact]
    public void Default_targets_adapt_query_and_value_of_every_layer_and_train_only_adapters_and_head()
    {
        SequenceClassifier model = TinyRoberta();
        AdapterReport report = AdapterInjector.Apply(model, AdapterOptions.ForFossil(rank: 8));
        Assert.Equal(
            ["roberta.encoder.layer.0.attention.self.query", "roberta.encoder.layer.0.attention.self.value",
             "roberta.encoder.layer.1.attention.self.query", "roberta.encoder.layer.1.attention.self.value"],
            report.AdaptedModules);
        // 4 shards of 8 x 32, plus the RoBERTa head (dense 32x32+32, out_proj 32x3+3).
        long head = 32 * 32 + 32 + 32 * 3 + 3;
        Assert.Equal(4 * 8 * 32 + head, report.TrainableParameters);
        Assert.All(report.TrainableParameterNames, n => Assert.True(n.EndsWith(".miss_block", StringComparison.Ordinal) || n.StartsWith("classifier.", StringComparison.Ordinal), n));
        // State-dict names: the base layer keeps PEFT's base_layer prefix, the shard is miss_block.
        var names = model.state_dict().Keys.ToHashSet();
        Assert.Contains("roberta.encoder.layer.0.attention.self.query.base_layer.weight", names);
        Assert.Contains("roberta.encoder.layer.0.attention.self.query.miss_block", names);
        Assert.Contains("roberta.encoder.layer.0.attention.self.key.weight", names);
        output.WriteLine(report.ToString());
    }

    [Fact]
    public void After_a_backward_pass_only_adapter_and_head_parameters_have_gradients()
    {
        foreach (AdapterOptions options in new[] { AdapterOptions.ForFossil(8), AdapterOptions.ForLora(4) })
        {
            SequenceClassifier model = TinyRoberta();
            AdapterInjector.Apply(model, options);
            model.train();
            var (ids, types, mask) = Batch();
            using Tensor logits = model.forward(ids, types, mask);
            using Tensor loss = nn.functional.cross_entropy(logits, tensor(new long[] { 0, 2 }));
            loss.backward();
            foreach (var (name, parameter) in model.named_parameters())
            {
                bool shouldTrain = name.Contains(".miss_block") || name.Contains(".lora_") || name.StartsWith("classifier.", StringComparison.Ordinal);
                Assert.Equal(shouldTrain, parameter.requires_grad);
                if (shouldTrain)
                {
                    Assert.NotNull(parameter.grad);
                    // Zero-initialised shards/B still receive a non-zero gradient through the chunk sum.
                    if (!name.Contains("lora_A")) Assert.True(parameter.grad!.abs().sum().item<float>() > 0, $"{options.Kind}: {name} got a zero gradient");
                }
                else
                {
                    Assert.True(parameter.grad is null, $"{options.Kind}: frozen {name} received a gradient");
                }
            }
        }
    }

    [Fact]
    public void Zero_initialised_adapters_leave_the_model_output_unchanged()
    {
        SequenceClassifier plain = TinyRoberta();
        plain.eval();
        var (ids, types, mask) = Batch();
        using Tensor before = plain.forward(ids, types, mask);
        AdapterInjector.Apply(plain, new AdapterOptions { Rank = 8, TargetModules = [AdapterOptions.AllLinear] });
        using Tensor after = plain.forward(ids, types, mask);
        Assert.True(after.eq(before).all().item<bool>());
    }

    [Fact]
    public void Merged_model_matches_the_unmerged_one_and_differs_from_the_base()
    {
        foreach (FossilVariant variant in Enum.GetValues<FossilVariant>())
        {
            SequenceClassifier model = TinyRoberta();
            model.eval();
            var (ids, types, mask) = Batch();
            using Tensor baseOutput = model.forward(ids, types, mask);
            AdapterInjector.Apply(model, new AdapterOptions { Rank = 8, Variant = variant, MiniRank = 4, ZeroInit = false, TargetModules = [AdapterOptions.AllLinear] });
            using Tensor adapted = model.forward(ids, types, mask);
            AdapterInjector.MergeAll(model);
            using Tensor merged = model.forward(ids, types, mask);
            AdapterInjector.UnmergeAll(model);
            using Tensor unmerged = model.forward(ids, types, mask);
            AdapterInjector.SetAdaptersEnabled(model, false);
            using Tensor disabled = model.forward(ids, types, mask);

            Assert.True((merged - adapted).abs().max().item<float>() < 1e-4, $"{variant}: merged differs");
            Assert.True((unmerged - adapted).abs().max().item<float>() < 1e-4, $"{variant}: unmerged differs");
            Assert.True((adapted - baseOutput).abs().max().item<float>() > 1e-3, $"{variant}: adapters had no effect");
            Assert.True((disabled - baseOutput).abs().max().item<float>() < 1e-4, $"{variant}: disabled adapters must give the base model");
        }
    }

    [Fact]
    public void Unknown_target_is_an_error_listing_the_valid_names()
    {
        SequenceClassifier model = TinyRoberta();
        var e = Assert.Throws<ArgumentException>(() => AdapterInjector.Apply(model, new AdapterOptions { TargetModules = ["query", "qurey"], Rank = 4 }));
        Assert.Contains("'qurey'", e.Message);
        foreach (string valid in new[] { "query", "key", "value", "dense" }) Assert.Contains(valid, e.Message);
        Assert.DoesNotContain("out_proj", e.Message); // the head is a module to save, not a target
    }

    [Fact]
    public void All_linear_dotted_suffix_and_bias_modes()
    {
        SequenceClassifier all = TinyRoberta();
        AdapterReport allReport = AdapterInjector.Apply(all, new AdapterOptions { Rank = 4, TargetModules = [AdapterOptions.AllLinear] });
        Assert.Equal(2 * 6, allReport.AdaptedModules.Count); // q, k, v, attention.output.dense, intermediate.dense, output.dense
        Assert.DoesNotContain(allReport.AdaptedModules, m => m.StartsWith("classifier", StringComparison.Ordinal));

        SequenceClassifier suffix = TinyRoberta();
        AdapterReport suffixReport = AdapterInjector.Apply(suffix, new AdapterOptions { Rank = 4, TargetModules = ["attention.output.dense"] });
        Assert.Equal(["roberta.encoder.layer.0.attention.output.dense", "roberta.encoder.layer.1.attention.output.dense"], suffixReport.AdaptedModules);

        SequenceClassifier biasAll = TinyRoberta();
        AdapterReport biasReport = AdapterInjector.Apply(biasAll, new AdapterOptions { Rank = 4, Bias = AdapterBias.All });
        Assert.Contains("roberta.encoder.layer.1.output.LayerNorm.bias", biasReport.TrainableParameterNames);
        Assert.Contains("roberta.encoder.layer.0.attention.self.key.bias", biasReport.TrainableParameterNames);

        SequenceClassifier biasOnly = TinyRoberta();
        AdapterReport onlyReport = AdapterInjector.Apply(biasOnly, new AdapterOptions { Rank = 4, Bias = AdapterBias.AdapterOnly });
        Assert.Contains("roberta.encoder.layer.0.attention.self.query.base_layer.bias", onlyReport.TrainableParameterNames);
        Assert.DoesNotContain("roberta.encoder.layer.0.attention.self.key.bias", onlyReport.TrainableParameterNames);

        SequenceClassifier full = TinyRoberta();
        AdapterReport fullReport = AdapterInjector.Apply(full, AdapterOptions.ForFullFineTuning());
        Assert.Equal(fullReport.TotalParameters, fullReport.TrainableParameters);
        Assert.Empty(fullReport.AdaptedModules);
    }

    [Fact]
    public void MiniLM_parameter_counts_for_fossil_r64_and_lora_r8_on_query_value()
    {
        manual_seed(1);
        var fossilModel = new SequenceClassifier(new EncoderModel(TinyModels.MiniLm(), addPoolingLayer: true), 2);
        AdapterReport fossil = AdapterInjector.Apply(fossilModel, AdapterOptions.ForFossil(64));
        var loraModel = new SequenceClassifier(new EncoderModel(TinyModels.MiniLm(), addPoolingLayer: true), 2);
        AdapterReport lora = AdapterInjector.Apply(loraModel, AdapterOptions.ForLora(8));

        long head = 384 * 2 + 2;
        long fossilAdapters = 6 * 2 * 64 * 384;          // r * out per layer
        long loraAdapters = 6 * 2 * 8 * (384 + 384);     // r * (in + out) per layer
        Assert.Equal(fossilAdapters + head, fossil.TrainableParameters);
        Assert.Equal(loraAdapters + head, lora.TrainableParameters);
        Assert.Equal(fossil.TotalParameters - fossilAdapters, lora.TotalParameters - loraAdapters);
        output.WriteLine($"MiniLM FOSSIL r=64 q/v: adapters {fossilAdapters:N0}; {fossil}");
        output.WriteLine($"MiniLM LoRA r=8 q/v: adapters {loraAdapters:N0}; {lora}");
    }

    [Fact]
    public void Options_round_trip_through_peft_style_json()
    {
        var fossil = new AdapterOptions { Rank = 32, Variant = FossilVariant.Bat, Dropout = 0.05, TargetModules = ["query", "key"], Bias = AdapterBias.AdapterOnly, ZeroInit = false };
        string json = fossil.ToJson();
        Assert.Contains("\"peft_type\": \"MISS\"", json);
        Assert.Contains("\"init_weights\": \"bat\"", json);
        Assert.Contains("\"bias\": \"MiSS_only\"", json);
        AdapterOptions back = AdapterOptions.FromJson(json);
        Assert.Equal((fossil.Kind, fossil.Rank, fossil.Variant, fossil.Dropout, fossil.Bias, fossil.ZeroInit),
                     (back.Kind, back.Rank, back.Variant, back.Dropout, back.Bias, back.ZeroInit));
        Assert.Equal(fossil.TargetModules, back.TargetModules);

        AdapterOptions lora = AdapterOptions.FromJson(AdapterOptions.ForLora(16, 32).ToJson());
        Assert.Equal((AdapterKind.Lora, 16, 32.0), (lora.Kind, lora.Rank, lora.LoraAlpha));

        // PEFT's own MiSS config file.
        AdapterOptions peft = AdapterOptions.FromJson("""
            {"peft_type": "MISS", "r": 64, "mini_r": 8, "miss_dropout": 0.0, "init_weights": "mini",
             "target_modules": ["query", "value"], "bias": "none", "modules_to_save": ["classifier", "score"], "task_type": "SEQ_CLS"}
            """);
        Assert.Equal((FossilVariant.Mini, 8, 64), (peft.Variant, peft.MiniRank, peft.Rank));

        var bad = Assert.Throws<InvalidDataException>(() => AdapterOptions.FromJson("""{"peft_type": "MISS", "init_weights": "svd"}"""));
        Assert.Contains("svd", bad.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdapterOptions { Rank = 0 }.Validate());
    }

    [Fact]
    public void Base_state_dict_is_the_model_before_injection()
    {
        SequenceClassifier model = TinyRoberta();
        Dictionary<string, float[]> before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.data<float>().ToArray());
        AdapterInjector.Apply(model, new AdapterOptions { Rank = 4, ZeroInit = false, TargetModules = [AdapterOptions.AllLinear] });
        Dictionary<string, Tensor> after = AdapterInjector.BaseStateDict(model);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, values) in before) Assert.Equal(values, after[name].data<float>().ToArray());
    }
}
