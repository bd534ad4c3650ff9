using System.Buffers.Binary;
using System.Text;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using TorchSharp;
using static Microsoft.ML.Fossil.Tests.Checkpoints.HuggingFaceFixtures;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Tests.Checkpoints;

/// <summary>Hugging Face folders (safetensors, PyTorch, sharded) into the encoder, strictly and safely.</summary>
public class HuggingFaceLoaderTests
{
    static void AssertSameOutputs(EncoderModel expected, EncoderModel actual)
    {
        var (ids, types, mask) = Batch(expected.Config);
        using (ids)
        using (types)
        using (mask)
        using (no_grad())
        using (NewDisposeScope())
        {
            using Tensor want = expected.forward(ids, types, mask);
            using Tensor got = actual.forward(ids, types, mask);
            Assert.Equal(want.shape, got.shape);
            Assert.True(want.equal(got).all().ToBoolean(), $"outputs differ, max |diff| = {(want - got).abs().max().ToSingle()}");
            if (expected.HasPooler)
            {
                using Tensor wantPooled = expected.Pool(want);
                using Tensor gotPooled = actual.Pool(got);
                Assert.True(wantPooled.equal(gotPooled).all().ToBoolean(), "pooled outputs differ");
            }
        }
        Assert.Equal(WeightsIdentity.Sha256(expected), WeightsIdentity.Sha256(actual));
    }

    static TempFolder RobertaFolder(out EncoderModel source, Action<string, Dictionary<string, Tensor>>? write = null)
    {
        var dir = new TempFolder();
        source = PerturbedModel(TinyRoberta(), addPoolingLayer: false, seed: 1);
        WriteConfig(dir.Path, source.Config);
        (write ?? ((folder, weights) => WriteSafetensors(Path.Combine(folder, "model.safetensors"), weights)))(dir.Path, StateDict(source));
        return dir;
    }

    // ---- Loading that works ----

    [Fact]
    public void Roberta_safetensors_folder_loads_strictly_and_computes_exactly_what_the_source_computes()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source);
        using (source)
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report))
        {
            Assert.False(loaded.HasPooler);
            Assert.False(loaded.training);
            Assert.Equal(source.state_dict().Count, report.Loaded);
            Assert.Empty(report.LeftInitialised);
            Assert.Empty(report.Ignored);
            AssertSameOutputs(source, loaded);
        }
    }

    [Fact]
    public void Roberta_task_checkpoint_with_prefix_lm_head_pooler_and_position_ids_loads_and_reports_the_extras()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source, (folder, weights) =>
        {
            // As RobertaForMaskedLM / roberta-base store it: everything under "roberta.", a masked-LM
            // head, an unused pooler and the old position_ids buffer.
            var stored = weights.ToDictionary(p => "roberta." + p.Key, p => p.Value);
            stored["roberta.embeddings.position_ids"] = arange(40L).unsqueeze(0);
            stored["roberta.pooler.dense.weight"] = randn(32, 32);
            stored["roberta.pooler.dense.bias"] = randn(32);
            stored["lm_head.dense.weight"] = randn(32, 32);
            stored["lm_head.dense.bias"] = randn(32);
            stored["lm_head.layer_norm.weight"] = randn(32);
            stored["lm_head.layer_norm.bias"] = randn(32);
            stored["lm_head.decoder.weight"] = randn(100, 32);
            stored["lm_head.bias"] = randn(100);
            WriteSafetensors(Path.Combine(folder, "model.safetensors"), stored);
        });
        using (source)
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report))
        {
            Assert.False(loaded.HasPooler);
            Assert.Equal(source.state_dict().Count, report.Loaded);
            Assert.Equal(
                new[] { "embeddings.position_ids", "lm_head.bias", "lm_head.decoder.weight", "lm_head.dense.bias", "lm_head.dense.weight",
                        "lm_head.layer_norm.bias", "lm_head.layer_norm.weight", "pooler.dense.bias", "pooler.dense.weight" },
                report.Ignored.Order(StringComparer.Ordinal));
            AssertSameOutputs(source, loaded);
        }
    }

    [Fact]
    public void Pytorch_model_bin_loads_and_computes_the_same_outputs()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source,
            (folder, weights) => WritePyTorch(Path.Combine(folder, "pytorch_model.bin"), weights));
        using (source)
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path))
            AssertSameOutputs(source, loaded);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Sharded_checkpoint_with_an_index_loads_every_shard(bool safetensors)
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source,
            (folder, weights) => WriteSharded(folder, weights, shards: 3, safetensors));
        Assert.Equal(3, Directory.GetFiles(dir.Path, safetensors ? "model-*.safetensors" : "pytorch_model-*.bin").Length);
        using (source)
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report))
        {
            Assert.Equal(source.state_dict().Count, report.Loaded);
            AssertSameOutputs(source, loaded);
        }
    }

    [Fact]
    public void ReadStateDict_returns_the_stored_names_and_values()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source,
            (folder, weights) => WriteSafetensors(Path.Combine(folder, "model.safetensors"),
                weights.ToDictionary(p => "roberta." + p.Key, p => p.Value)));
        using (source)
        {
            Dictionary<string, Tensor> read = HuggingFaceLoader.ReadStateDict(dir.Path);
            try
            {
                Assert.Equal(source.state_dict().Keys.Select(k => "roberta." + k).Order(StringComparer.Ordinal), read.Keys.Order(StringComparer.Ordinal));
                Assert.Equal(WeightsIdentity.Sha256(source.state_dict().Select(p => KeyValuePair.Create("roberta." + p.Key, p.Value))),
                             WeightsIdentity.Sha256(read));
            }
            finally
            {
                foreach (Tensor t in read.Values) t.Dispose();
            }
        }
    }

    [Fact]
    public void Safetensors_is_preferred_when_a_pytorch_bin_is_also_present()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source);
        string marker = dir.File("pwned");
        // A hostile pytorch_model.bin beside it must not even be opened.
        PickleWriter.WriteTorchZip(dir.File("pytorch_model.bin"),
            new PickleWriter().Global("os", "system").Text($"touch {marker}").Tuple1().Reduce().Stop(), new Dictionary<string, byte[]>());
        using (source)
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path))
            AssertSameOutputs(source, loaded);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Half_precision_checkpoint_is_converted_to_the_models_float32()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source, (folder, weights) =>
        {
            var half = weights.ToDictionary(p => p.Key, p => p.Value.to(ScalarType.Float16));
            WriteSafetensors(Path.Combine(folder, "model.safetensors"), half);
        });
        using (source)
        using (EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path))
        {
            var rounded = source.state_dict().ToDictionary(p => p.Key, p => p.Value.to(ScalarType.Float16).to(ScalarType.Float32));
            Assert.Equal(WeightsIdentity.Sha256(rounded), WeightsIdentity.Sha256(loaded));
            Assert.All(loaded.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        }
    }

    [Fact]
    public void Bert_sequence_classification_checkpoint_with_pooler_gets_a_pooler_by_default()
    {
        using var dir = new TempFolder();
        using EncoderModel source = PerturbedModel(TinyBert(), addPoolingLayer: true, seed: 2);
        WriteConfig(dir.Path, source.Config);
        var stored = StateDict(source, "bert.");
        stored["bert.embeddings.position_ids"] = arange(64L).unsqueeze(0);
        stored["classifier.weight"] = randn(3, 32);
        stored["classifier.bias"] = randn(3);
        WriteSafetensors(dir.File("model.safetensors"), stored);

        using EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report);
        Assert.True(loaded.HasPooler);
        Assert.Empty(report.LeftInitialised);
        Assert.Equal(new[] { "classifier.bias", "classifier.weight", "embeddings.position_ids" }, report.Ignored.Order(StringComparer.Ordinal));
        AssertSameOutputs(source, loaded);
    }

    [Fact]
    public void Bert_without_pooler_weights_builds_no_pooler_unless_asked_and_then_reports_it_left_initialised()
    {
        using var dir = new TempFolder();
        using EncoderModel source = PerturbedModel(TinyBert(), addPoolingLayer: false, seed: 3);
        WriteConfig(dir.Path, source.Config);
        WriteSafetensors(dir.File("model.safetensors"), StateDict(source));

        using (EncoderModel plain = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport plainReport))
        {
            Assert.False(plain.HasPooler);
            Assert.Empty(plainReport.LeftInitialised);
            AssertSameOutputs(source, plain);
        }
        using (EncoderModel pooled = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report, addPoolingLayer: true))
        {
            Assert.True(pooled.HasPooler);
            Assert.Equal(new[] { "pooler.dense.bias", "pooler.dense.weight" }, report.LeftInitialised.Order(StringComparer.Ordinal));
            Assert.Equal(source.state_dict().Count, report.Loaded);
        }
    }

    [Fact]
    public void Old_bert_layernorm_gamma_and_beta_names_are_renamed()
    {
        using var dir = new TempFolder();
        using EncoderModel source = PerturbedModel(TinyBert(), addPoolingLayer: true, seed: 4);
        WriteConfig(dir.Path, source.Config);
        var stored = StateDict(source, "bert.").ToDictionary(
            p => p.Key.Replace("LayerNorm.weight", "LayerNorm.gamma", StringComparison.Ordinal).Replace("LayerNorm.bias", "LayerNorm.beta", StringComparison.Ordinal),
            p => p.Value);
        Assert.Contains("bert.embeddings.LayerNorm.gamma", stored.Keys);
        WritePyTorch(dir.File("pytorch_model.bin"), stored);

        using EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path);
        AssertSameOutputs(source, loaded);
    }

    // ---- Mismatches ----

    static TempFolder RobertaFolderEdited(Action<Dictionary<string, Tensor>> edit)
    {
        using EncoderModel source = PerturbedModel(TinyRoberta(), addPoolingLayer: false, seed: 5);
        var dir = new TempFolder();
        WriteConfig(dir.Path, source.Config);
        var stored = StateDict(source);
        edit(stored);
        WriteSafetensors(dir.File("model.safetensors"), stored);
        return dir;
    }

    [Fact]
    public void Missing_tensor_fails_naming_it_and_is_left_initialised_when_not_strict()
    {
        using TempFolder dir = RobertaFolderEdited(d => d.Remove("encoder.layer.1.output.dense.bias"));
        var error = Assert.Throws<CheckpointMismatchException>(() => HuggingFaceLoader.LoadEncoder(dir.Path));
        Assert.Equal(["encoder.layer.1.output.dense.bias"], error.Missing);
        Assert.Contains("encoder.layer.1.output.dense.bias", error.Message);
        Assert.Contains(dir.File("model.safetensors"), error.Message);

        using EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report, strict: false);
        Assert.Equal(["encoder.layer.1.output.dense.bias"], report.LeftInitialised);
    }

    [Fact]
    public void Unexpected_tensor_fails_naming_it_and_is_ignored_when_not_strict()
    {
        using TempFolder dir = RobertaFolderEdited(d => d["encoder.layer.0.attention.self.rotary.weight"] = randn(4, 4));
        var error = Assert.Throws<CheckpointMismatchException>(() => HuggingFaceLoader.LoadEncoder(dir.Path));
        Assert.Equal(["encoder.layer.0.attention.self.rotary.weight"], error.Unexpected);
        Assert.Empty(error.Missing);
        Assert.Contains("encoder.layer.0.attention.self.rotary.weight", error.Message);

        using EncoderModel loaded = HuggingFaceLoader.LoadEncoder(dir.Path, out StateDictLoadReport report, strict: false);
        Assert.Equal(["encoder.layer.0.attention.self.rotary.weight"], report.Ignored);
    }

    [Fact]
    public void Misshaped_tensor_fails_with_both_shapes_even_when_not_strict()
    {
        using TempFolder dir = RobertaFolderEdited(d => d["embeddings.word_embeddings.weight"] = randn(101, 32));
        foreach (bool strict in new[] { true, false })
        {
            var error = Assert.Throws<CheckpointMismatchException>(() => HuggingFaceLoader.LoadEncoder(dir.Path, strict: strict));
            Assert.Single(error.Misshaped);
            Assert.Contains("'embeddings.word_embeddings.weight' has shape [101, 32], expected [100, 32]", error.Message);
        }
    }

    [Fact]
    public void Checkpoint_of_the_other_family_fails_listing_what_is_wrong()
    {
        // BERT-prefixed names in a RoBERTa folder are not silently stripped.
        using TempFolder dir = RobertaFolderEdited(d =>
        {
            foreach (string key in d.Keys.ToList())
            {
                d["bert." + key] = d[key];
                d.Remove(key);
            }
        });
        var error = Assert.Throws<CheckpointMismatchException>(() => HuggingFaceLoader.LoadEncoder(dir.Path));
        Assert.Contains("embeddings.word_embeddings.weight", error.Missing);
        Assert.Contains("bert.embeddings.word_embeddings.weight", error.Unexpected);
    }

    [Fact]
    public void Prefixed_and_unprefixed_copies_of_one_tensor_are_refused()
    {
        using TempFolder dir = RobertaFolderEdited(d => d["roberta.embeddings.LayerNorm.bias"] = d["embeddings.LayerNorm.bias"]);
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.LoadEncoder(dir.Path));
        Assert.Contains("'embeddings.LayerNorm.bias'", error.Message);
        Assert.Contains("'roberta.embeddings.LayerNorm.bias'", error.Message);
    }

    [Fact]
    public void Folder_without_weights_or_missing_folder_fails_naming_the_folder_and_the_files_looked_for()
    {
        using var dir = new TempFolder();
        WriteConfig(dir.Path, TinyRoberta());
        File.WriteAllText(dir.File("tokenizer.json"), "{}");
        foreach (Action load in new Action[] { () => HuggingFaceLoader.LoadEncoder(dir.Path), () => HuggingFaceLoader.ReadStateDict(dir.Path) })
        {
            var error = Assert.Throws<FileNotFoundException>(load);
            Assert.Contains(dir.Path, error.Message);
            foreach (string name in HuggingFaceLoader.WeightFileNames) Assert.Contains(name, error.Message);
        }

        string absent = dir.File("no-such-model");
        var missing = Assert.Throws<FileNotFoundException>(() => HuggingFaceLoader.LoadEncoder(absent));
        Assert.Contains(absent, missing.Message);
        Assert.Throws<FileNotFoundException>(() => HuggingFaceLoader.ReadStateDict(absent));
    }

    [Fact]
    public void Unsupported_model_type_fails_naming_the_type_and_the_file()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source);
        source.Dispose();
        string config = dir.File("config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"roberta\"", "\"gpt2\"", StringComparison.Ordinal));
        var error = Assert.Throws<NotSupportedException>(() => HuggingFaceLoader.LoadEncoder(dir.Path));
        Assert.Contains("model_type 'gpt2'", error.Message);
        Assert.Contains(config, error.Message);
    }

    [Fact]
    public void Sharded_index_that_points_outside_the_folder_or_disagrees_with_its_shards_is_refused()
    {
        using TempFolder dir = RobertaFolder(out EncoderModel source, (folder, weights) => WriteSharded(folder, weights, 2, safetensors: true));
        source.Dispose();
        string index = dir.File("model.safetensors.index.json");
        string original = File.ReadAllText(index);

        File.WriteAllText(index, original.Replace("model-00002-of-00002.safetensors", "../model-00002-of-00002.safetensors", StringComparison.Ordinal));
        var outside = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.ReadStateDict(dir.Path));
        Assert.Contains("../model-00002-of-00002.safetensors", outside.Message);

        // The index moves one tensor to the other shard: the shards no longer agree with it.
        const string In1 = "\"embeddings.LayerNorm.bias\":\"model-00001-of-00002.safetensors\"";
        const string In2 = "\"embeddings.LayerNorm.bias\":\"model-00002-of-00002.safetensors\"";
        string moved = original.Contains(In1, StringComparison.Ordinal)
            ? original.Replace(In1, In2, StringComparison.Ordinal)
            : original.Replace(In2, In1, StringComparison.Ordinal);
        Assert.NotEqual(original, moved);
        File.WriteAllText(index, moved);
        var disagree = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.ReadStateDict(dir.Path));
        Assert.Contains("embeddings.LayerNorm.bias", disagree.Message);
    }

    // ---- Hostile files ----

    /// <summary>A safetensors file whose header is replaced; the data section is kept.</summary>
    static void RewriteHeader(string path, string header)
    {
        byte[] file = File.ReadAllBytes(path);
        long oldLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        byte[] data = file[(int)(8 + oldLength)..];
        byte[] json = Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        stream.Write(length);
        stream.Write(json);
        stream.Write(data);
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,16]}}""", "need 4000000000000")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1600000]}}""", "ends at byte 1600000")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}""", "too large")]
    [InlineData("""{"w":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}""", "dtype 'F8_E4M3'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}""", "invalid shape")]
    [InlineData("""[1,2,3]""", "not a JSON object")]
    [InlineData("""{"w":""", "not JSON")]
    public void Hostile_safetensors_header_is_refused_before_anything_is_allocated(string header, string reason)
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        WriteSafetensors(path, new Dictionary<string, Tensor> { ["w"] = ones(4) });
        Dictionary<string, Tensor> fine = HuggingFaceLoader.ReadStateDict(dir.Path); // control: the file as written loads
        Assert.Equal(4f, fine["w"].sum().ToSingle());
        fine["w"].Dispose();

        RewriteHeader(path, header);
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.ReadStateDict(dir.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Safetensors_header_length_beyond_the_file_is_refused()
    {
        using var dir = new TempFolder();
        string path = dir.File("model.safetensors");
        byte[] bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue / 2);
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.ReadStateDict(dir.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("header claims", error.Message);
    }

    // A handwritten torch.save layout. Each hostile pickle starts with a real tensor, like a real
    // state dict, so the hostile part is reached after ordinary unpickling has begun.
    static readonly float[] Values = [1f, -2f, 3.5f, 0.25f, 8f, -1f];

    static PickleWriter StateDictStart() => new PickleWriter().EmptyDict().Mark().Text("weight").FloatTensor("0", [2, 3]);

    static string WriteTorchFolder(TempFolder dir, byte[] dataPkl)
    {
        WriteConfig(dir.Path, TinyRoberta());
        string path = dir.File("pytorch_model.bin");
        PickleWriter.WriteTorchZip(path, dataPkl, new Dictionary<string, byte[]> { ["0"] = PickleWriter.FloatBytes(Values) });
        return path;
    }

    static InvalidDataException AssertRefused(TempFolder dir, string path)
    {
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.ReadStateDict(dir.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("non-tensor objects", error.Message);
        Assert.Contains("safetensors", error.Message);
        // LoadEncoder ends in the same exception.
        Assert.Equal(error.Message, Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.LoadEncoder(dir.Path)).Message);
        return error;
    }

    [Fact]
    public void Handwritten_torch_pickle_loads_so_the_hostile_variants_below_fail_only_for_their_payload()
    {
        using var dir = new TempFolder();
        WriteTorchFolder(dir, StateDictStart().SetItems().Stop());
        Dictionary<string, Tensor> read = HuggingFaceLoader.ReadStateDict(dir.Path);
        Assert.Equal(["weight"], read.Keys);
        using Tensor weight = read["weight"];
        Assert.Equal(new long[] { 2, 3 }, weight.shape);
        Assert.Equal(Values, weight.data<float>().ToArray());
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("subprocess", "check_call")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("System.Diagnostics.Process", "Start")]
    public void Pickle_that_calls_a_global_runs_nothing_and_is_refused(string module, string name)
    {
        using var dir = new TempFolder();
        string marker = dir.File("pwned");
        string command = module.StartsWith("builtins", StringComparison.Ordinal) ? $"__import__('os').system('touch {marker}')" : $"touch {marker}";
        byte[] pkl = StateDictStart()
            .Text("payload").Global(module, name).Text(command).Tuple1().Reduce()
            .SetItems().Stop();
        string path = WriteTorchFolder(dir, pkl);

        InvalidDataException error = AssertRefused(dir, path);
        // Razorvine maps every unregistered global to an inert ClassDict constructor, which refuses arguments.
        Assert.IsType<Razorvine.Pickle.PickleException>(error.InnerException);
        Assert.Contains($"ClassDict (for {module}.{name})", error.Message);
        Assert.False(File.Exists(marker), "the pickle's command ran");
    }

    [Theory]
    [InlineData("System.Diagnostics", "Process")]
    [InlineData("System.IO", "FileInfo")]
    [InlineData("__main__", "Exploit")]
    public void Pickle_that_asks_for_an_arbitrary_class_gets_an_inert_dictionary_and_is_refused(string module, string name)
    {
        using var dir = new TempFolder();
        string marker = dir.File("pwned");
        // cls() then BUILD with a state: what __reduce__ of an arbitrary object pickles to.
        byte[] pkl = StateDictStart()
            .Text("payload").Global(module, name).EmptyTuple().Reduce()
            .EmptyDict().Mark().Text("FileName").Text("touch").Text("Arguments").Text(marker).SetItems().Build()
            .SetItems().Stop();
        string path = WriteTorchFolder(dir, pkl);

        InvalidDataException error = AssertRefused(dir, path);
        Assert.Contains($"'payload' holds an object of the Python class '{module}.{name}' (unpickled as an inert ClassDict)", error.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Pickle_whose_top_level_is_not_a_state_dict_is_refused()
    {
        using var dir = new TempFolder();
        string path = WriteTorchFolder(dir, new PickleWriter().EmptyList().Stop());
        AssertRefused(dir, path);
    }

    [Fact]
    public void Pickle_with_a_nested_dictionary_is_refused()
    {
        using var dir = new TempFolder();
        // {"weight": tensor, "_metadata": {"": 1}}: not a flat name -> tensor dictionary.
        string path = WriteTorchFolder(dir, StateDictStart().Text("_metadata").EmptyDict().Mark().Text("").Int(1).SetItems().SetItems().Stop());
        InvalidDataException error = AssertRefused(dir, path);
        Assert.Contains("'_metadata' holds a value of type System.Collections.Hashtable", error.Message);
    }

    [Fact]
    public void Raw_or_legacy_pickle_file_is_refused_without_unpickling()
    {
        using var dir = new TempFolder();
        string marker = dir.File("pwned");
        WriteConfig(dir.Path, TinyRoberta());
        string path = dir.File("pytorch_model.bin");
        File.WriteAllBytes(path, new PickleWriter().Global("os", "system").Text($"touch {marker}").Tuple1().Reduce().Stop());
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLoader.LoadEncoder(dir.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("not a PyTorch zip checkpoint", error.Message);
        Assert.False(File.Exists(marker));
    }
}
