using System.Security.Cryptography;
using System.Text;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using static Microsoft.ML.Fossil.Tests.Checkpoints.HuggingFaceFixtures;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Checkpoints;

/// <summary>
/// Loading builds the encoder as a meta skeleton and adopts the checkpoint's tensors; the safetensors
/// reader fills tensors straight from the file; the weights identity is its documented definition and
/// is remembered per unchanged file.
/// </summary>
public class SkeletonLoadingTests
{
    [Fact]
    public void Loaded_encoder_holds_exactly_the_checkpoint_values_and_no_meta_tensor()
    {
        using var dir = new TempFolder();
        using EncoderModel source = PerturbedModel(TinyRoberta(), addPoolingLayer: false, seed: 11);
        WriteConfig(dir.Path, source.Config);
        WriteSafetensors(dir.File("model.safetensors"), StateDict(source));

        using EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path);
        Dictionary<string, Tensor> expected = source.state_dict(), actual = loaded.state_dict();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in actual)
        {
            Assert.False(tensor.is_meta, $"{name} is still a meta tensor");
            Assert.Equal(DeviceType.CPU, tensor.device_type);
            Assert.True(tensor.requires_grad, $"{name} should be trainable until an injector freezes it");
            Assert.True(tensor.equal(expected[name]).all().ToBoolean(), $"{name} differs from the checkpoint");
        }
        Assert.Equal(loaded.parameters().Count(), actual.Count);
    }

    [Fact]
    public void A_fresh_encoder_gets_hugging_face_initial_values()
    {
        using EncoderModel model = new(TinyRoberta(), addPoolingLayer: true);
        double range = model.Config.InitializerRange;
        foreach (var (name, tensor) in model.state_dict())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) Assert.True(tensor.eq(0).all().ToBoolean(), $"{name} is not zero");
            else if (name.Contains("LayerNorm", StringComparison.Ordinal)) Assert.True(tensor.eq(1).all().ToBoolean(), $"{name} is not one");
            else Assert.InRange(tensor.std().ToDouble(), range * 0.7, range * 1.3);
        }
        // RoBERTa's padding index 1: a zero row in the word and position tables.
        Assert.True(model.state_dict()["embeddings.word_embeddings.weight"][1].eq(0).all().ToBoolean());
        Assert.True(model.state_dict()["embeddings.position_embeddings.weight"][1].eq(0).all().ToBoolean());
    }

    [Fact]
    public void Tensors_a_checkpoint_may_lack_get_hugging_face_initial_values()
    {
        using var dir = new TempFolder();
        using EncoderModel source = PerturbedModel(TinyBert(), addPoolingLayer: false, seed: 12);
        WriteConfig(dir.Path, source.Config);
        WriteSafetensors(dir.File("model.safetensors"), StateDict(source));

        using EncoderModel pooled = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report, addPoolingLayer: true);
        Assert.Equal(["pooler.dense.bias", "pooler.dense.weight"], report.LeftInitialised.Order(StringComparer.Ordinal));
        Dictionary<string, Tensor> tensors = pooled.state_dict();
        Assert.False(tensors["pooler.dense.weight"].is_meta);
        Assert.True(tensors["pooler.dense.bias"].eq(0).all().ToBoolean());
        // normal(0, initializer_range): over H x H values the sample deviation is close to the range.
        double std = tensors["pooler.dense.weight"].std().ToDouble();
        Assert.InRange(std, pooled.Config.InitializerRange * 0.8, pooled.Config.InitializerRange * 1.2);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Safetensors_of_every_dtype_read_back_equal_to_what_pybridge_wrote(bool map)
    {
        using var dir = new TempFolder();
        manual_seed(5);
        var written = new Dictionary<string, Tensor>
        {
            ["f64"] = randn(3, 5, dtype: ScalarType.Float64),
            ["f32"] = randn(7, dtype: ScalarType.Float32),
            ["f16"] = randn(2, 3, 4, dtype: ScalarType.Float16),
            ["bf16"] = randn(6, dtype: ScalarType.BFloat16),
            ["i64"] = randint(-1000, 1000, [4, 2], dtype: ScalarType.Int64),
            ["i32"] = randint(-1000, 1000, [5], dtype: ScalarType.Int32),
            ["i16"] = randint(-1000, 1000, [3], dtype: ScalarType.Int16),
            ["i8"] = randint(-100, 100, [9], dtype: ScalarType.Int8),
            ["u8"] = randint(0, 255, [2, 2], dtype: ScalarType.Byte),
            ["bool"] = randint(0, 2, [5], dtype: ScalarType.Int64).to(ScalarType.Bool),
            ["empty"] = zeros(0, 4),
            ["scalar"] = tensor(3.5f),
        };
        WriteSafetensors(dir.File("all.safetensors"), written);

        // PyBridge writes without alignment, so with map = true some tensors are mapped and the misaligned ones read.
        Dictionary<string, Tensor> read = CheckpointFiles.ReadSafetensors(dir.File("all.safetensors"), map);
        Assert.Equal(written.Keys.Order(StringComparer.Ordinal), read.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, expected) in written)
        {
            Assert.Equal(expected.dtype, read[name].dtype);
            Assert.Equal(expected.shape, read[name].shape);
            Assert.True(expected.equal(read[name]).all().ToBoolean(), $"{name} differs");
        }
        foreach (Tensor t in read.Values) t.Dispose();
    }

    [Fact]
    public void Writing_a_mapped_weight_changes_the_model_not_the_file()
    {
        using var dir = new TempFolder();
        using EncoderModel source = PerturbedModel(TinyRoberta(), addPoolingLayer: false, seed: 31);
        WriteConfig(dir.Path, source.Config);
        string weights = dir.File("model.safetensors");
        WriteSafetensors(weights, StateDict(source));
        byte[] before = File.ReadAllBytes(weights);

        Assert.True(new FossilSettings().MapWeightFiles);
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path))
        {
            Tensor query = loaded.state_dict()["encoder.layer.0.attention.self.query.weight"];
            using (no_grad()) query.add_(1.0f);   // what merging an adapter does to a base weight
            Assert.True(query.equal(source.state_dict()["encoder.layer.0.attention.self.query.weight"] + 1.0f).all().ToBoolean());
            Assert.Equal(before, File.ReadAllBytes(weights));
            // A second load sees the file's values, not the first model's private page.
            using EncoderModel again = HuggingFaceLoader.LoadEncoder(dir.Path);
            Assert.Equal(WeightsIdentity.Sha256(source), WeightsIdentity.Sha256(again));
        }
        Assert.Equal(before, File.ReadAllBytes(weights));
    }

    [Fact]
    public void Safetensors_cut_inside_the_data_is_refused_naming_the_file()
    {
        using var dir = new TempFolder();
        string path = dir.File("cut.safetensors");
        WriteSafetensors(path, new Dictionary<string, Tensor> { ["w"] = ones(64, 64) });
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);
        var error = Assert.Throws<InvalidDataException>(() => CheckpointFiles.ReadSafetensors(path));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void Weights_identity_is_sha256_over_names_shapes_and_per_tensor_value_digests_in_name_order()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["b.weight"] = arange(6, dtype: ScalarType.Float32).reshape(2, 3),
            ["a.bias"] = tensor(new[] { 1.5, -2.0 }, dtype: ScalarType.Float64),   // stored as fp64, hashed as its fp32 values
            ["c"] = tensor(new[] { 0.25f }).to(ScalarType.Float16),
        };
        // Independent of the implementation: the definition in docs/model-format.md, written out.
        var expected = new StringBuilder();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, values) in new (string, float[])[] { ("a.bias", [1.5f, -2f]), ("b.weight", [0, 1, 2, 3, 4, 5]), ("c", [0.25f]) })
        {
            string shape = name switch { "b.weight" => "2,3", "a.bias" => "2", _ => "1" };
            sha.AppendData(Encoding.UTF8.GetBytes($"{name}|{shape}|"));
            sha.AppendData(SHA256.HashData(values.SelectMany(BitConverter.GetBytes).ToArray()));
        }
        Assert.Equal(Convert.ToHexStringLower(sha.GetHashAndReset()), WeightsIdentity.Sha256(tensors));
    }

    [Fact]
    public void A_backbone_file_rewritten_in_place_is_hashed_again_and_refused_for_the_old_hash()
    {
        using var dir = new TempFolder();
        using EncoderModel first = PerturbedModel(TinyRoberta(), addPoolingLayer: false, seed: 21);
        using EncoderModel second = PerturbedModel(TinyRoberta(), addPoolingLayer: false, seed: 22);
        WriteConfig(dir.Path, first.Config);
        string weights = dir.File("model.safetensors");
        WriteSafetensors(weights, StateDict(first));
        BackboneSource source = BackboneSource.HuggingFaceFolder(dir.Path);

        LoadedBackbone loaded = source.Load();
        string firstHash = loaded.Identity.Sha256!;
        loaded.Encoder.Dispose();
        Assert.Equal(WeightsIdentity.Sha256(first), firstHash);
        // Loaded again unchanged: the remembered hash, still the right one.
        using (EncoderModel again = source.Load(expectedSha256: firstHash).Encoder) { }

        // Same length, other values, a later timestamp: hashed anew, so the old hash no longer passes.
        WriteSafetensors(weights, StateDict(second));
        File.SetLastWriteTimeUtc(weights, File.GetLastWriteTimeUtc(weights).AddSeconds(2));
        Assert.Throws<BackboneMismatchException>(() => source.Load(expectedSha256: firstHash));
        LoadedBackbone changed = source.Load();
        Assert.Equal(WeightsIdentity.Sha256(second), changed.Identity.Sha256);
        changed.Encoder.Dispose();
    }
}
