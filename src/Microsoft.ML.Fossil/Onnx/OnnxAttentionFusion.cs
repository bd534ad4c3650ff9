using System.Runtime.InteropServices;
using Onnx;
using static Onnx.TensorProto.Types;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>
/// Rewrites each BERT self-attention block of a standard-op graph (the pattern <see cref="OnnxClassifierGraph"/> writes)
/// into one ONNX Runtime <c>com.microsoft:Attention</c> (or <c>MultiHeadAttention</c>) node, before a session is created from it. ONNX Runtime's own
/// AttentionFusion does this for graphs of opset 11-12 only: from opset 13 on, Unsqueeze takes its axes as an input,
/// which its mask matcher does not follow (ONNX Runtime 1.30-1.32, tested), so an opset-17 export would run the
/// attention as 17 separate nodes per layer. The exported file stays standard ops; only the session's copy is fused.
/// </summary>
/// <remarks>
/// Matched per layer, from the Softmax outward, each step checked (op type, constant, perm, shape):
/// <code>
/// q|k|v = Transpose(Reshape(Add(MatMul(x, W[H, H]), b[H]), [0, 0, heads, d]), perm)   (k: perm 0,2,3,1)
/// context = Reshape(Transpose(MatMul(Softmax(Add(Div(MatMul(q, k), sqrt(d)), mask), -1), v), 0,2,1,3), [0, 0, H])
/// mask = Mul(Sub(1, Cast(Unsqueeze(Unsqueeze(attention_mask, 1), 2))), filter)
/// </code>
/// becomes <c>Attention(x, [Wq | Wk | Wv] [H, 3H], [bq | bk | bv], int32(attention_mask); num_heads, mask_filter_value = filter)</c>,
/// which computes the same softmax(q k^T / sqrt(d) + (1 - mask) * filter) v. Where the projections are not float
/// MatMul + Add of one input (the int8 graph's integer kernels), the block from the projected q, k, v [B, T, H] on
/// becomes <c>MultiHeadAttention(q, k, v, key_padding_mask = int32(attention_mask))</c>, the same computation. A block
/// that does not match exactly (another exporter's graph) is left as it is.
/// </remarks>
internal static class OnnxAttentionFusion
{
    const string MicrosoftDomain = "com.microsoft";

    /// <summary>Fuses every matching attention block of <paramref name="model"/> in place; returns how many.</summary>
    public static int Apply(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        GraphProto graph = model.Graph;
        var index = new GraphIndex(graph);
        var builder = new OnnxGraphBuilder(graph);   // fresh names and the packed initializers
        var blocks = new List<Block>();
        foreach (NodeProto softmax in graph.Node.Where(n => n.OpType == "Softmax" && n.Domain.Length == 0).ToList())
            if (Match(index, softmax) is { } block) blocks.Add(block);
        if (blocks.Count == 0) return 0;

        // One int32 copy of attention_mask [B, T], Attention's raw 2-D mask, shared by every layer.
        string maskInt32 = builder.Fresh("attention_mask_int32");
        var cast = new NodeProto { OpType = "Cast", Name = builder.Fresh("attention_mask/Cast_int32") };
        cast.Input.Add(OnnxClassifierContract.AttentionMask);
        cast.Output.Add(maskInt32);
        cast.Attribute.Add(OnnxGraphBuilder.Int("to", (long)DataType.Int32));

        var removed = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (Block block in blocks)
        {
            NodeProto attention;
            if (block.Packed is { } packed)
            {
                string weights = builder.FreshFloat32(block.Label + "qkv.weight",
                    ConcatenateColumns([.. packed.Weights.Select(Floats)], block.Hidden), [block.Hidden, 3L * block.Hidden]);
                string bias = builder.FreshFloat32(block.Label + "qkv.bias", [.. packed.Biases.SelectMany(Floats)], [3L * block.Hidden]);
                attention = new NodeProto { OpType = "Attention", Domain = MicrosoftDomain, Name = builder.Fresh(block.Label + "Attention") };
                attention.Input.AddRange([packed.Input, weights, bias, maskInt32]);
            }
            else
            {
                // query, key, value [B, T, H]; no bias (input 3: the projections added theirs); key_padding_mask [B, T] int32.
                attention = new NodeProto { OpType = "MultiHeadAttention", Domain = MicrosoftDomain, Name = builder.Fresh(block.Label + "MultiHeadAttention") };
                attention.Input.AddRange([block.Projected[0], block.Projected[1], block.Projected[2], "", maskInt32]);
            }
            attention.Output.Add(block.Output);
            attention.Attribute.Add(OnnxGraphBuilder.Int("num_heads", block.Heads));
            attention.Attribute.Add(OnnxGraphBuilder.Float("mask_filter_value", block.MaskFilterValue));
            foreach (NodeProto node in block.Nodes) removed.Add(node);
            replacements[block.Nodes[^1]] = attention;   // the context Reshape: every consumer of the output follows it
        }

        var nodes = new List<NodeProto> { cast };
        foreach (NodeProto node in graph.Node)
        {
            if (replacements.TryGetValue(node, out NodeProto? attention)) nodes.Add(attention);
            else if (!removed.Contains(node)) nodes.Add(node);
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        RemoveDeadNodesAndInitializers(graph);
        if (!model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        return blocks.Count;
    }

    /// <summary>
    /// One attention block: the nodes it replaces (context Reshape last) and what the fused node needs. With
    /// <see cref="Packed"/> (float projections of one input) it becomes Attention; without, MultiHeadAttention over the
    /// already projected <see cref="Projected"/> q, k, v [B, T, H].
    /// </summary>
    sealed record Block(string Label, string[] Projected, string Output, int Heads, int Hidden, float MaskFilterValue,
        PackedProjections? Packed, List<NodeProto> Nodes);

    /// <summary>q, k, v = x W + b for one input x: the weights [H, H] and biases [H] Attention packs.</summary>
    sealed record PackedProjections(string Input, TensorProto[] Weights, TensorProto[] Biases);

    static Block? Match(GraphIndex g, NodeProto softmax)
    {
        if (g.Int(softmax, "axis", 1) is not (-1 or 3)) return null;
        NodeProto? maskAdd = g.Producer(softmax.Input[0], "Add");
        if (maskAdd is null || g.Consumers(maskAdd.Output[0]).Count != 1) return null;
        NodeProto? div = g.Producer(maskAdd.Input[0], "Div");
        if (div is null || g.Consumers(div.Output[0]).Count != 1 || g.Scalar(div.Input[1]) is not { } scaleDivisor) return null;
        NodeProto? scores = g.Producer(div.Input[0], "MatMul");
        if (scores is null || g.Consumers(scores.Output[0]).Count != 1) return null;
        if (MaskFilter(g, maskAdd.Input[1]) is not { } filter) return null;

        List<NodeProto> softmaxConsumers = g.Consumers(softmax.Output[0]);
        if (softmaxConsumers is not [{ OpType: "MatMul" } contextMatMul] || contextMatMul.Input[0] != softmax.Output[0]) return null;
        NodeProto? contextTranspose = g.OnlyConsumer(contextMatMul.Output[0], "Transpose");
        if (contextTranspose is null || !g.Perm(contextTranspose).SequenceEqual([0L, 2, 1, 3])) return null;
        NodeProto? contextReshape = g.OnlyConsumer(contextTranspose.Output[0], "Reshape");
        if (contextReshape is null || g.Int64s(contextReshape.Input[1]) is not [0, 0, var hidden] || hidden <= 0) return null;

        var q = Projection(g, scores.Input[0], [0, 2, 1, 3]);
        var k = Projection(g, scores.Input[1], [0, 2, 3, 1]);
        var v = Projection(g, contextMatMul.Input[1], [0, 2, 1, 3]);
        if (q is null || k is null || v is null) return null;
        if (q.Value.Heads != k.Value.Heads || q.Value.Heads != v.Value.Heads || q.Value.HeadSize != k.Value.HeadSize || q.Value.HeadSize != v.Value.HeadSize) return null;
        int heads = q.Value.Heads, headSize = q.Value.HeadSize;
        if ((long)heads * headSize != hidden) return null;
        // Attention scales by 1 / sqrt(d) itself; a graph dividing by anything else is not this block.
        if (Math.Abs(scaleDivisor - MathF.Sqrt(headSize)) > 1e-6f * MathF.Sqrt(headSize)) return null;

        string label = contextReshape.Name.EndsWith("context/Reshape", StringComparison.Ordinal)
            ? contextReshape.Name[..^"context/Reshape".Length]
            : contextReshape.Name + "/";
        var nodes = new List<NodeProto>();
        foreach (var p in new[] { q.Value, k.Value, v.Value }) nodes.AddRange(p.Nodes);
        nodes.AddRange([scores, div, maskAdd, softmax, contextMatMul, contextTranspose, contextReshape]);
        string[] projected = [q.Value.Projected, k.Value.Projected, v.Value.Projected];

        // Packed: each projection is Add(MatMul(x, W [H, H]), b [H]) of one x, both used only here.
        var linear = projected.Select(p => FloatLinear(g, p, hidden)).ToArray();
        if (linear.All(l => l is not null) && linear.Select(l => l!.Value.Input).Distinct(StringComparer.Ordinal).Count() == 1)
        {
            foreach (var l in linear) nodes.AddRange(l!.Value.Nodes);
            var packed = new PackedProjections(linear[0]!.Value.Input, [.. linear.Select(l => l!.Value.Weight)], [.. linear.Select(l => l!.Value.Bias)]);
            return new Block(label, projected, contextReshape.Output[0], heads, (int)hidden, filter, packed, nodes);
        }
        return new Block(label, projected, contextReshape.Output[0], heads, (int)hidden, filter, null, nodes);
    }

    /// <summary>Transpose(Reshape(p, [0, 0, heads, d]), perm) of a projection p [B, T, H], each output used once.</summary>
    static (string Projected, int Heads, int HeadSize, NodeProto[] Nodes)? Projection(GraphIndex g, string output, long[] perm)
    {
        NodeProto? transpose = g.Producer(output, "Transpose");
        if (transpose is null || g.Consumers(output).Count != 1 || !g.Perm(transpose).SequenceEqual(perm)) return null;
        NodeProto? reshape = g.Producer(transpose.Input[0], "Reshape");
        if (reshape is null || g.Consumers(reshape.Output[0]).Count != 1 || g.Int64s(reshape.Input[1]) is not [0, 0, var heads, var headSize]) return null;
        if (heads <= 0 || headSize <= 0 || g.Consumers(reshape.Input[0]).Count != 1) return null;
        return (reshape.Input[0], (int)heads, (int)headSize, [reshape, transpose]);
    }

    /// <summary>p = Add(MatMul(x, W [H, H] initializer), b [H] initializer), the MatMul's output used once; or null.</summary>
    static (string Input, TensorProto Weight, TensorProto Bias, NodeProto[] Nodes)? FloatLinear(GraphIndex g, string projected, long hidden)
    {
        NodeProto? add = g.Producer(projected, "Add");
        if (add is null) return null;
        NodeProto? matMul = g.Producer(add.Input[0], "MatMul");
        if (matMul is null || g.Consumers(matMul.Output[0]).Count != 1) return null;
        if (g.FloatInitializer(matMul.Input[1]) is not { } weight || g.FloatInitializer(add.Input[1]) is not { } bias) return null;
        if (!weight.Dims.SequenceEqual([hidden, hidden]) || !bias.Dims.SequenceEqual([hidden])) return null;
        return (matMul.Input[0], weight, bias, [matMul, add]);
    }

    /// <summary>The filter value c of mask = Mul(Sub(1, Cast(Unsqueeze(Unsqueeze(attention_mask, 1), 2))), c), or null.</summary>
    static float? MaskFilter(GraphIndex g, string mask)
    {
        NodeProto? mul = g.Producer(mask, "Mul");
        if (mul is null || g.Scalar(mul.Input[1]) is not { } filter || filter >= 0) return null;
        NodeProto? sub = g.Producer(mul.Input[0], "Sub");
        if (sub is null || g.Scalar(sub.Input[0]) != 1f) return null;
        NodeProto? cast = g.Producer(sub.Input[1], "Cast");
        if (cast is null || g.Int(cast, "to", 0) != (long)DataType.Float) return null;
        NodeProto? inner = g.Producer(cast.Input[0], "Unsqueeze");
        if (inner is null || inner.Input.Count < 2 || g.Int64s(inner.Input[1]) is not [2]) return null;
        NodeProto? outer = g.Producer(inner.Input[0], "Unsqueeze");
        if (outer is null || outer.Input.Count < 2 || g.Int64s(outer.Input[1]) is not [1]) return null;
        return outer.Input[0] == OnnxClassifierContract.AttentionMask ? filter : null;
    }

    /// <summary>A float initializer's values (raw data, as <see cref="GraphIndex.FloatInitializer"/> checked).</summary>
    static float[] Floats(TensorProto tensor) => MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();

    /// <summary>[H, H] x 3 row-major -> [H, 3H]: row r is q's row r, then k's, then v's (Attention's packed weight).</summary>
    static float[] ConcatenateColumns(float[][] parts, int hidden)
    {
        var packed = new float[parts.Length * hidden * hidden];
        for (int r = 0; r < hidden; r++)
            for (int p = 0; p < parts.Length; p++)
                Array.Copy(parts[p], (long)r * hidden, packed, (long)r * parts.Length * hidden + (long)p * hidden, hidden);
        return packed;
    }

    /// <summary>Drops nodes whose outputs nobody reads (the mask chain the fused layers no longer use) and unused initializers.</summary>
    static void RemoveDeadNodesAndInitializers(GraphProto graph)
    {
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        bool changed = true;
        while (changed)
        {
            var read = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
            var dead = graph.Node.Where(n => n.Output.All(o => !read.Contains(o) && !graphOutputs.Contains(o))).ToList();
            changed = dead.Count > 0;
            foreach (NodeProto node in dead) graph.Node.Remove(node);
        }
        var used = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var unused = graph.Initializer.Where(i => !used.Contains(i.Name)).ToList();
        foreach (TensorProto initializer in unused) graph.Initializer.Remove(initializer);
    }

    /// <summary>Who produces and who reads each value; initializers by name.</summary>
    sealed class GraphIndex
    {
        readonly Dictionary<string, NodeProto> producers = new(StringComparer.Ordinal);
        readonly Dictionary<string, List<NodeProto>> consumers = new(StringComparer.Ordinal);
        readonly Dictionary<string, TensorProto> initializers = new(StringComparer.Ordinal);

        public GraphIndex(GraphProto graph)
        {
            foreach (TensorProto t in graph.Initializer) initializers[t.Name] = t;
            foreach (NodeProto node in graph.Node)
            {
                foreach (string output in node.Output) producers[output] = node;
                foreach (string input in node.Input)
                {
                    if (!consumers.TryGetValue(input, out List<NodeProto>? list)) consumers[input] = list = [];
                    list.Add(node);
                }
            }
        }

        public NodeProto? Producer(string value, string opType) =>
            producers.TryGetValue(value, out NodeProto? node) && node.OpType == opType && node.Domain.Length == 0 ? node : null;

        public List<NodeProto> Consumers(string value) => consumers.TryGetValue(value, out List<NodeProto>? list) ? list : [];

        public NodeProto? OnlyConsumer(string value, string opType) =>
            Consumers(value) is [var node] && node.OpType == opType && node.Domain.Length == 0 ? node : null;

        public long Int(NodeProto node, string name, long fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { Type: AttributeProto.Types.AttributeType.Int } a ? a.I : fallback;

        public long[] Perm(NodeProto transpose) =>
            transpose.Attribute.FirstOrDefault(a => a.Name == "perm") is { } a ? [.. a.Ints] : [];

        /// <summary>A 1-D int64 initializer's values (raw or typed data), or null.</summary>
        public long[]? Int64s(string name)
        {
            if (!initializers.TryGetValue(name, out TensorProto? t) || t.DataType != (int)DataType.Int64 || t.Dims.Count != 1) return null;
            if (t.RawData.Length == 8 * t.Dims[0]) return MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray();
            return t.Int64Data.Count == t.Dims[0] ? [.. t.Int64Data] : null;
        }

        /// <summary>A one-element float initializer's value, or null.</summary>
        public float? Scalar(string name)
        {
            if (!initializers.TryGetValue(name, out TensorProto? t) || t.DataType != (int)DataType.Float || t.Dims.Any(d => d != 1)) return null;
            if (t.RawData.Length == 4) return MemoryMarshal.Read<float>(t.RawData.Span);
            return t.FloatData.Count == 1 ? t.FloatData[0] : null;
        }

        /// <summary>A float initializer with raw data (what this library writes), or null.</summary>
        public TensorProto? FloatInitializer(string name) =>
            initializers.TryGetValue(name, out TensorProto? t) && t.DataType == (int)DataType.Float && t.DataLocation != DataLocation.External
            && t.RawData.Length == 4 * t.Dims.Aggregate(1L, (a, b) => a * b) ? t : null;
    }
}
