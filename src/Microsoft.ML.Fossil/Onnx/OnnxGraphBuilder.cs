using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using static Onnx.TensorProto.Types;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>
/// Appends nodes, initializers, inputs and outputs to an ONNX <see cref="GraphProto"/> with unique
/// names. Only the protobuf types are used: nothing is serialised by hand, nothing touches TorchSharp.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    readonly HashSet<string> names = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> constants = new(StringComparer.Ordinal);

    /// <summary>The graph being built.</summary>
    public GraphProto Graph { get; }

    /// <summary>Starts an empty graph called <paramref name="name"/>.</summary>
    public OnnxGraphBuilder(string name) => Graph = new GraphProto { Name = name };

    /// <summary>Adds to an existing graph (a rewrite): every name it already uses is taken.</summary>
    public OnnxGraphBuilder(GraphProto graph)
    {
        Graph = graph;
        foreach (TensorProto initializer in graph.Initializer) names.Add(initializer.Name);
        foreach (ValueInfoProto value in graph.Input.Concat(graph.Output)) names.Add(value.Name);
        foreach (NodeProto node in graph.Node)
        {
            names.Add(node.Name);
            foreach (string output in node.Output) names.Add(output);
        }
    }

    /// <summary><paramref name="hint"/>, or <paramref name="hint"/>_N when taken; the name is reserved.</summary>
    public string Fresh(string hint)
    {
        string name = Unused(hint);
        names.Add(name);
        return name;
    }

    /// <summary><paramref name="hint"/>, or <paramref name="hint"/>_N when taken; not reserved.</summary>
    string Unused(string hint)
    {
        if (!names.Contains(hint)) return hint;
        for (int i = 1; ; i++)
        {
            string candidate = $"{hint}_{i}";
            if (!names.Contains(candidate)) return candidate;
        }
    }

    /// <summary>Adds a node with one output named after <paramref name="name"/>; returns that output.</summary>
    public string Node(string opType, string name, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, name, inputs, outputs: 1, output: null, attributes)[0];

    /// <summary>Adds a node whose single output is called exactly <paramref name="output"/> (a graph output).</summary>
    public string NodeWithOutput(string opType, string name, IEnumerable<string> inputs, string output, params AttributeProto[] attributes) =>
        Node(opType, name, inputs, outputs: 1, output, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs; returns their names.</summary>
    public string[] Node(string opType, string name, IEnumerable<string> inputs, int outputs, string? output = null, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh(name) };
        node.Input.AddRange(inputs);
        var outputNames = new string[outputs];
        for (int i = 0; i < outputs; i++)
        {
            outputNames[i] = output is not null && outputs == 1
                ? (names.Add(output) ? output : throw new InvalidOperationException($"The ONNX name '{output}' is already used."))
                : Fresh(outputs == 1 ? node.Name + "_out" : $"{node.Name}_out{i}");
            node.Output.Add(outputNames[i]);
        }
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return outputNames;
    }

    /// <summary>A float32 initializer (its bytes are copied once into the tensor).</summary>
    public string Float32(string name, float[] data, long[] dims, string? docString = null) =>
        Initializer(name, DataType.Float, MemoryMarshal.AsBytes(data.AsSpan()).ToArray(), dims, docString);

    /// <summary>A float32 initializer named <paramref name="hint"/>, or <paramref name="hint"/>_N when taken.</summary>
    public string FreshFloat32(string hint, float[] data, long[] dims) => Float32(Unused(hint), data, dims);

    /// <summary>An int8 initializer.</summary>
    public string Int8(string name, sbyte[] data, long[] dims, string? docString = null) =>
        Initializer(name, DataType.Int8, MemoryMarshal.AsBytes(data.AsSpan()).ToArray(), dims, docString);

    /// <summary>An int64 initializer.</summary>
    public string Int64(string name, long[] data, long[] dims) =>
        Initializer(name, DataType.Int64, MemoryMarshal.AsBytes(data.AsSpan()).ToArray(), dims, null);

    /// <summary>A float scalar constant, shared by value across the graph.</summary>
    public string ScalarFloat(float value) =>
        Shared($"f32:{BitConverter.SingleToInt32Bits(value)}", () => Float32(Unused("const_f32"), [value], []));

    /// <summary>An int64 scalar constant, shared by value.</summary>
    public string ScalarInt64(long value) => Shared($"i64:{value}", () => Int64(Unused("const_i64"), [value], []));

    /// <summary>A 1-D int64 constant (shapes, axes), shared by value.</summary>
    public string Int64Vector(params long[] values) =>
        Shared($"i64[]:{string.Join(',', values)}", () => Int64(Unused("const_i64s"), values, [values.Length]));

    string Shared(string key, Func<string> create)
    {
        if (!constants.TryGetValue(key, out string? name)) constants[key] = name = create();
        return name;
    }

    string Initializer(string name, DataType type, byte[] raw, long[] dims, string? docString)
    {
        if (!names.Add(name)) throw new InvalidOperationException($"The ONNX name '{name}' is already used.");
        // Little-endian raw data is what ONNX stores; the array is owned by the tensor from here on.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Writing ONNX raw tensor data needs a little-endian machine.");
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = UnsafeByteOperations.UnsafeWrap(raw) };
        tensor.Dims.AddRange(dims);
        if (docString is not null) tensor.DocString = docString;
        Graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Declares a graph input.</summary>
    public void Input(string name, DataType type, params TensorShapeProto.Types.Dimension[] dims)
    {
        if (!names.Add(name)) throw new InvalidOperationException($"The ONNX name '{name}' is already used.");
        Graph.Input.Add(ValueInfo(name, type, dims));
    }

    /// <summary>Declares a graph output (the name must be produced by a node).</summary>
    public void Output(string name, DataType type, params TensorShapeProto.Types.Dimension[] dims) =>
        Graph.Output.Add(ValueInfo(name, type, dims));

    static ValueInfoProto ValueInfo(string name, DataType type, TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>A symbolic dimension.</summary>
    public static TensorShapeProto.Types.Dimension Dim(string parameter) => new() { DimParam = parameter };

    /// <summary>A fixed dimension.</summary>
    public static TensorShapeProto.Types.Dimension Dim(long value) => new() { DimValue = value };

    /// <summary>An int attribute.</summary>
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>An ints attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }
}
