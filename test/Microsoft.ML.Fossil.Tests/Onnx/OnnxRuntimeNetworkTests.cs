using System.Reflection;
using System.Runtime.Loader;
using Google.Protobuf;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Onnx;
using Microsoft.ML.Fossil.Tests.Checkpoints;
using Onnx;
using static Microsoft.ML.Fossil.Onnx.OnnxGraphBuilder;
using static Microsoft.ML.Fossil.Tests.Onnx.OnnxTestSupport;
using static Onnx.TensorProto.Types;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>
/// The ONNX Runtime runner: damaged and mismatched files are refused with messages that name the file and
/// what was expected and found; bad arguments are refused; and scoring touches no TorchSharp type.
/// </summary>
public sealed class OnnxRuntimeNetworkTests : IDisposable
{
    readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    /// <summary>A tiny BERT classifier (3 labels, mean pooling) exported to a file.</summary>
    string ExportTinyBert(string name = "tiny.onnx")
    {
        using var network = new SequenceClassifier(HuggingFaceFixtures.PerturbedModel(HuggingFaceFixtures.TinyBert(), addPoolingLayer: false, seed: 5), 3, HeadKind.MeanPooling);
        string path = folder.File(name);
        ExportTo(network, path);
        return path;
    }

    /// <summary>
    /// A hand-made graph in the contract's shape (logits = ReduceSum(Cast(input_ids)) [batch, 1]) that
    /// <paramref name="change"/> then bends out of shape.
    /// </summary>
    string HandMade(string name, Action<OnnxGraphBuilder>? declareInputs = null, string output = "logits", DataType outputType = DataType.Float,
        int outputRank = 2)
    {
        var g = new OnnxGraphBuilder("hand_made");
        if (declareInputs is null)
        {
            g.Input(OnnxClassifierContract.InputIds, DataType.Int64, Dim("batch"), Dim("sequence"));
            g.Input(OnnxClassifierContract.AttentionMask, DataType.Int64, Dim("batch"), Dim("sequence"));
        }
        else
        {
            declareInputs(g);
        }
        string source = g.Graph.Input[0].Name;
        string cast = g.Node("Cast", "cast", [source], Int("to", (long)outputType));
        string summed = g.Node("ReduceSum", "sum", [cast, g.Int64Vector(1)], Int("keepdims", 1));
        if (outputRank == 3) summed = g.Node("Unsqueeze", "unsqueeze", [summed, g.Int64Vector(2)]);
        g.NodeWithOutput("Identity", "out", [summed], output);
        g.Output(output, outputType, [.. Enumerable.Range(0, outputRank).Select(i => i == 0 ? Dim("batch") : Dim(1))]);
        var model = new ModelProto { IrVersion = 8, Graph = g.Graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        string path = folder.File(name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    static InvalidDataException Refused(string path, int? expectedLabels = null)
    {
        var e = Assert.Throws<InvalidDataException>(() => OnnxRuntimeNetwork.Load(path, new OnnxRuntimeNetworkOptions { IntraOpThreads = 1, ExpectedLabels = expectedLabels }));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void A_hand_made_graph_in_the_contract_shape_loads_and_scores()
    {
        // The control for the refusals below: the same graph, unbent, is accepted.
        using var network = OnnxRuntimeNetwork.Load(HandMade("good.onnx"), new OnnxRuntimeNetworkOptions { IntraOpThreads = 1 });
        Assert.False(network.UsesTokenTypeIds);
        Assert.Equal(1, network.NumLabels);
        Assert.Equal([6f, 15f], network.Score([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1], null, 2, 3));
    }

    [Fact]
    public void Truncated_and_non_onnx_files_are_refused_naming_the_file()
    {
        string exported = ExportTinyBert();
        byte[] bytes = File.ReadAllBytes(exported);
        string truncated = folder.File("truncated.onnx");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.Contains("cannot load", Refused(truncated).Message);

        string text = folder.File("notes.onnx");
        File.WriteAllText(text, "this is not a protobuf message, just a few words of text\n");
        Assert.Contains("cannot load", Refused(text).Message);

        string empty = folder.File("empty.onnx");
        File.WriteAllBytes(empty, []);
        Refused(empty);

        string missing = folder.File("missing.onnx");
        var notFound = Assert.Throws<FileNotFoundException>(() => OnnxRuntimeNetwork.Load(missing));
        Assert.Contains(missing, notFound.Message);
    }

    [Fact]
    public void Missing_renamed_extra_and_mistyped_inputs_are_refused_with_expected_and_found()
    {
        string renamed = HandMade("renamed.onnx", g =>
        {
            g.Input(OnnxClassifierContract.InputIds, DataType.Int64, Dim("batch"), Dim("sequence"));
            g.Input("mask", DataType.Int64, Dim("batch"), Dim("sequence"));
        });
        string message = Refused(renamed).Message;
        Assert.Contains("unexpected input 'mask'", message);
        Assert.Contains("input_ids (int64 [batch, sequence])", message);

        string missing = HandMade("missing.onnx", g => g.Input(OnnxClassifierContract.InputIds, DataType.Int64, Dim("batch"), Dim("sequence")));
        message = Refused(missing).Message;
        Assert.Contains("no input 'attention_mask'", message);
        Assert.Contains("Its inputs: input_ids (int64 [batch, sequence])", message);

        string floatIds = HandMade("float-ids.onnx", g =>
        {
            g.Input(OnnxClassifierContract.InputIds, DataType.Float, Dim("batch"), Dim("sequence"));
            g.Input(OnnxClassifierContract.AttentionMask, DataType.Int64, Dim("batch"), Dim("sequence"));
        });
        message = Refused(floatIds).Message;
        Assert.Contains("input 'input_ids' (float [batch, sequence])", message);
        Assert.Contains("expected int64 [batch, sequence]", message);

        string int32Mask = HandMade("int32-mask.onnx", g =>
        {
            g.Input(OnnxClassifierContract.InputIds, DataType.Int64, Dim("batch"), Dim("sequence"));
            g.Input(OnnxClassifierContract.AttentionMask, DataType.Int32, Dim("batch"), Dim("sequence"));
        });
        Assert.Contains("input 'attention_mask' (int32 [batch, sequence])", Refused(int32Mask).Message);

        string rank3 = HandMade("rank3.onnx", g =>
        {
            g.Input(OnnxClassifierContract.InputIds, DataType.Int64, Dim("batch"), Dim("sequence"), Dim(4));
            g.Input(OnnxClassifierContract.AttentionMask, DataType.Int64, Dim("batch"), Dim("sequence"));
        });
        Assert.Contains("input 'input_ids' (int64 [batch, sequence, 4])", Refused(rank3).Message);
    }

    [Fact]
    public void Missing_or_mistyped_logits_and_a_wrong_label_count_are_refused()
    {
        string message = Refused(HandMade("scores.onnx", output: "scores")).Message;
        Assert.Contains("no output 'logits'", message);
        Assert.Contains("Its outputs: scores (float [batch, 1])", message);

        Assert.Contains("output 'logits' (int64 [batch, 1]); expected float [batch, labels]",
            Refused(HandMade("int-logits.onnx", outputType: DataType.Int64)).Message);
        Assert.Contains("output 'logits' (float [batch, 1, 1])", Refused(HandMade("rank3-logits.onnx", outputRank: 3)).Message);

        string exported = ExportTinyBert();
        Assert.Contains("has 3 output column(s); expected 2", Refused(exported, expectedLabels: 2).Message);
    }

    [Fact]
    public void Bad_score_arguments_are_refused()
    {
        using var network = OnnxRuntimeNetwork.Load(ExportTinyBert(), new OnnxRuntimeNetworkOptions { IntraOpThreads = 1 });
        Assert.True(network.UsesTokenTypeIds);
        long[] six = [2, 3, 4, 5, 6, 7], ones = [1, 1, 1, 1, 1, 1];
        Assert.Equal(6, network.Score(six, ones, new long[6], 2, 3).Length);
        Assert.Contains("needs 6", Assert.Throws<ArgumentException>(() => network.Score(six, ones[..5], new long[6], 2, 3)).Message);
        Assert.Contains("token_type_ids", Assert.Throws<ArgumentNullException>(() => network.Score(six, ones, null, 2, 3)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => network.Score([], [], [], 0, 3));
        network.Dispose();
        Assert.Throws<ObjectDisposedException>(() => network.Score(six, ones, new long[6], 2, 3));
    }

    /// <summary>
    /// Loads Microsoft.ML.Fossil a second time into a load context that refuses TorchSharp, and loads
    /// and scores an exported model through it: an application without libtorch can run the runner.
    /// </summary>
    [Fact]
    public void Scoring_never_loads_TorchSharp()
    {
        string path = ExportTinyBert();
        var context = new TorchSharpRefusingContext(typeof(OnnxRuntimeNetwork).Assembly.Location);
        try
        {
            Assembly fossil = context.LoadFromAssemblyPath(typeof(OnnxRuntimeNetwork).Assembly.Location);
            Type runner = fossil.GetType(typeof(OnnxRuntimeNetwork).FullName!, throwOnError: true)!;
            Type options = fossil.GetType(typeof(OnnxRuntimeNetworkOptions).FullName!, throwOnError: true)!;
            object network = runner.GetMethod(nameof(OnnxRuntimeNetwork.Load), [typeof(string), options])!.Invoke(null, [path, null])!;
            try
            {
                var logits = (float[])runner.GetMethod(nameof(OnnxRuntimeNetwork.Score))!.Invoke(network,
                    [new long[] { 2, 7, 9, 3 }, new long[] { 1, 1, 1, 1 }, new long[] { 0, 0, 1, 1 }, 1, 4])!;
                Assert.Equal(3, logits.Length);
                Assert.All(logits, v => Assert.True(float.IsFinite(v)));
            }
            finally
            {
                ((IDisposable)network).Dispose();
            }
            Assert.Contains("Microsoft.ML.OnnxRuntime", context.Requested);
            Assert.DoesNotContain(context.Requested, n => n.StartsWith("TorchSharp", StringComparison.Ordinal));
        }
        finally
        {
            context.Unload();
        }
    }

    sealed class TorchSharpRefusingContext(string fossilPath) : AssemblyLoadContext("no-torchsharp", isCollectible: true)
    {
        public List<string> Requested { get; } = [];

        protected override Assembly? Load(AssemblyName name)
        {
            lock (Requested) Requested.Add(name.Name!);
            if (name.Name!.StartsWith("TorchSharp", StringComparison.Ordinal))
                throw new InvalidOperationException($"The ONNX Runtime path asked for {name.FullName}.");
            return name.Name == "Microsoft.ML.Fossil" ? LoadFromAssemblyPath(fossilPath) : null;
        }
    }
}
