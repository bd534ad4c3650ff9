using System.Globalization;
using Microsoft.ML.Fossil.Modeling;
using Onnx;
using static Microsoft.ML.Fossil.Onnx.OnnxGraphBuilder;
using static Onnx.TensorProto.Types;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>How the exported head reduces the sequence (<see cref="SequenceClassifier"/>'s three heads).</summary>
internal enum OnnxHeadKind
{
    /// <summary>BERT: tanh(pooler.dense(h[:, 0])), then classifier.</summary>
    BertPooler,
    /// <summary>RoBERTa: classifier.out_proj(tanh(classifier.dense(h[:, 0]))).</summary>
    RobertaHead,
    /// <summary>Mean of h under the attention mask, then classifier (sentence-transformers style).</summary>
    MeanPooling,
}

/// <summary>A weight as a row-major float32 array with its PyTorch shape.</summary>
internal sealed record OnnxWeight(float[] Data, long[] Shape);

/// <summary>What the exported graph computes.</summary>
/// <param name="Config">The encoder's Hugging Face configuration.</param>
/// <param name="Prefix">State-dict prefix of the encoder: <c>bert</c> or <c>roberta</c>.</param>
/// <param name="Head">The head.</param>
/// <param name="NumLabels">Output columns: 1 for regression, else the number of classes.</param>
internal sealed record OnnxClassifierSpec(EncoderConfig Config, string Prefix, OnnxHeadKind Head, int NumLabels);

/// <summary>Export choices.</summary>
internal sealed record OnnxExportOptions
{
    /// <summary>
    /// Write the encoder's linear layers (query, key, value, attention output, intermediate, output) with
    /// int8 weights quantized once at export and activations quantized at run time
    /// (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul by the scales -> Add bias, which ONNX Runtime
    /// fuses into its integer kernels). The head stays float32: it is tiny, and its rounding would reach
    /// the logits unaveraged.
    /// </summary>
    public bool QuantizeInt8 { get; init; }
}

/// <summary>
/// Builds the ONNX graph of a sequence classifier from plain weight arrays: opset 17, standard ops only,
/// written as the op patterns ONNX Runtime's optimizer fuses (LayerNormalization + residual Add, the
/// Erf and tanh GELU forms) and as the BERT attention pattern with its additive mask, which ONNX Runtime fuses only
/// below opset 13 and <see cref="OnnxAttentionFusion"/> fuses for this library's sessions. Weight names are the
/// Hugging Face state-dict names (linear weights stored transposed, [in, out], as MatMul's B).
/// Touches no TorchSharp type.
/// </summary>
internal static class OnnxClassifierGraph
{
    /// <summary>Builds the model. <paramref name="weights"/> maps full state-dict names (<c>bert.embeddings...</c>, <c>classifier.weight</c>) to arrays.</summary>
    /// <exception cref="InvalidOperationException">A weight the graph needs is missing or has an unexpected shape; the message names it.</exception>
    public static ModelProto Build(OnnxClassifierSpec spec, IReadOnlyDictionary<string, OnnxWeight> weights, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        spec.Config.Validate("the exported encoder's config");
        if (spec.NumLabels < 1) throw new ArgumentOutOfRangeException(nameof(spec), spec.NumLabels, "A classifier needs at least one output.");
        var writer = new Writer(spec, weights, options);
        GraphProto graph = writer.Build();

        var model = new ModelProto
        {
            IrVersion = OnnxClassifierContract.IrVersion,
            ProducerName = OnnxClassifierContract.ProducerName,
            ProducerVersion = typeof(OnnxClassifierGraph).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph,
            DocString = $"{spec.Config.ModelType} sequence classifier ({spec.NumLabels} outputs) exported by Microsoft.ML.Fossil with adapters merged.",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OnnxClassifierContract.Opset });
        void Meta(string key, string value) => model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        Meta(OnnxClassifierContract.FormatKey, OnnxClassifierContract.FormatValue);
        Meta(OnnxClassifierContract.NumLabelsKey, spec.NumLabels.ToString(CultureInfo.InvariantCulture));
        Meta(OnnxClassifierContract.FamilyKey, spec.Config.Family == EncoderFamily.Roberta ? "roberta" : "bert");
        Meta(OnnxClassifierContract.HeadKey, spec.Head switch
        {
            OnnxHeadKind.BertPooler => "bert_pooler",
            OnnxHeadKind.RobertaHead => "roberta_head",
            _ => "mean_pooling",
        });
        Meta(OnnxClassifierContract.WeightsKey, options.QuantizeInt8 ? "int8_dynamic" : "float32");
        Meta(OnnxClassifierContract.PadTokenIdKey, spec.Config.PadTokenId.ToString(CultureInfo.InvariantCulture));
        return model;
    }

    /// <summary>Whether the graph takes <c>token_type_ids</c>: the BERT family does, RoBERTa (one token type) does not.</summary>
    public static bool UsesTokenTypeIds(EncoderConfig config) => config.Family == EncoderFamily.Bert;

    sealed class Writer(OnnxClassifierSpec spec, IReadOnlyDictionary<string, OnnxWeight> weights, OnnxExportOptions options)
    {
        readonly OnnxGraphBuilder g = new($"{spec.Config.ModelType}_sequence_classifier");
        readonly EncoderConfig config = spec.Config;
        readonly string prefix = spec.Prefix + ".";
        int Hidden => config.HiddenSize;

        public GraphProto Build()
        {
            g.Input(OnnxClassifierContract.InputIds, DataType.Int64, Dim(OnnxClassifierContract.BatchAxis), Dim(OnnxClassifierContract.SequenceAxis));
            g.Input(OnnxClassifierContract.AttentionMask, DataType.Int64, Dim(OnnxClassifierContract.BatchAxis), Dim(OnnxClassifierContract.SequenceAxis));
            bool types = UsesTokenTypeIds(config);
            if (types)
                g.Input(OnnxClassifierContract.TokenTypeIds, DataType.Int64, Dim(OnnxClassifierContract.BatchAxis), Dim(OnnxClassifierContract.SequenceAxis));

            string hidden = Embeddings(types);
            string mask = AdditiveMask();
            for (int i = 0; i < config.NumHiddenLayers; i++) hidden = Layer(i, hidden, mask);
            Head(hidden);
            g.Output(OnnxClassifierContract.Logits, DataType.Float, Dim(OnnxClassifierContract.BatchAxis), Dim(spec.NumLabels));
            return g.Graph;
        }

        OnnxWeight Weight(string name, params long[] shape)
        {
            if (!weights.TryGetValue(name, out OnnxWeight? weight))
                throw new InvalidOperationException($"The network has no tensor '{name}', which the ONNX graph needs.");
            if (!weight.Shape.SequenceEqual(shape))
                throw new InvalidOperationException(
                    $"The tensor '{name}' has shape [{string.Join(", ", weight.Shape)}]; the ONNX graph expects [{string.Join(", ", shape)}].");
            return weight;
        }

        string Plain(string name, params long[] shape) => g.Float32(name, Weight(name, shape).Data, shape);

        /// <summary>word + position + token type embeddings, then LayerNorm -> [B, T, H].</summary>
        string Embeddings(bool types)
        {
            string e = prefix + "embeddings.";
            string ids = OnnxClassifierContract.InputIds;
            string word = g.Node("Gather", "word_embeddings", [Plain(e + "word_embeddings.weight", config.VocabSize, Hidden), ids], Int("axis", 0));

            string table = Plain(e + "position_embeddings.weight", config.MaxPositionEmbeddings, Hidden);
            string positions;
            if (config.Family == EncoderFamily.Roberta)
            {
                // Hugging Face create_position_ids_from_input_ids, as Modeling/Embeddings.cs:
                // mask = ids != pad; positions = cumsum(mask, 1) * mask + pad  ([B, T] int64).
                string isPad = g.Node("Equal", "position_is_pad", [ids, g.ScalarInt64(config.PadTokenId)]);
                string notPad = g.Node("Not", "position_not_pad", [isPad]);
                string notPadInt = g.Node("Cast", "position_mask", [notPad], Int("to", (long)DataType.Int64));
                string cumsum = g.Node("CumSum", "position_cumsum", [notPadInt, g.ScalarInt64(1)]);
                string masked = g.Node("Mul", "position_masked", [cumsum, notPadInt]);
                string positionIds = g.Node("Add", "position_ids", [masked, g.ScalarInt64(config.PadTokenId)]);
                positions = g.Node("Gather", "position_embeddings", [table, positionIds], Int("axis", 0));   // [B, T, H]
            }
            else
            {
                // BERT: positions 0..T-1 in every row, [B, T] as an exclusive cumsum of ones shaped like input_ids
                // (not Range, whose length ONNX Runtime cannot relate to the input's): the sequence axis stays
                // one symbolic dimension through the graph, as in RoBERTa's, so both families optimise alike.
                string ones = g.Node("Add", "position_ones", [g.Node("Mul", "position_zeros", [ids, g.ScalarInt64(0)]), g.ScalarInt64(1)]);
                string positionIds = g.Node("CumSum", "position_ids", [ones, g.ScalarInt64(1)], Int("exclusive", 1));
                positions = g.Node("Gather", "position_embeddings", [table, positionIds], Int("axis", 0));   // [B, T, H]
            }
            string sum = g.Node("Add", "embeddings_add_positions", [word, positions]);

            OnnxWeight typeTable = Weight(e + "token_type_embeddings.weight", config.TypeVocabSize, Hidden);
            string typed;
            if (types)
            {
                string gathered = g.Node("Gather", "token_type_embeddings", [g.Float32(e + "token_type_embeddings.weight", typeTable.Data, typeTable.Shape), OnnxClassifierContract.TokenTypeIds], Int("axis", 0));
                typed = g.Node("Add", "embeddings_add_types", [sum, gathered]);
            }
            else
            {
                // One token type (RoBERTa): every token adds row 0, as the TorchSharp model does with all-zero type ids.
                float[] row0 = typeTable.Data[..Hidden];
                typed = g.Node("Add", "embeddings_add_types", [sum, g.Float32(e + "token_type_embeddings.weight[0]", row0, [Hidden])]);
            }
            return LayerNorm(e + "LayerNorm", typed, "embeddings_layer_norm");
        }

        /// <summary>
        /// [B, T] 1/0 -> [B, 1, 1, T] of 0 for tokens and float.MinValue for padding, as
        /// EncoderModel.AdditiveMask (Unsqueeze, Unsqueeze, Cast, Sub(1, m), Mul: the mask pattern ORT matches).
        /// </summary>
        string AdditiveMask()
        {
            string u1 = g.Node("Unsqueeze", "mask_unsqueeze_1", [OnnxClassifierContract.AttentionMask, g.Int64Vector(1)]);
            string u2 = g.Node("Unsqueeze", "mask_unsqueeze_2", [u1, g.Int64Vector(2)]);
            string cast = g.Node("Cast", "mask_cast", [u2], Int("to", (long)DataType.Float));
            string inverted = g.Node("Sub", "mask_invert", [g.ScalarFloat(1f), cast]);
            return g.Node("Mul", "mask_additive", [inverted, g.ScalarFloat(float.MinValue)]);
        }

        string LayerNorm(string module, string input, string name) =>
            g.Node("LayerNormalization", name,
                [input, Plain(module + ".weight", Hidden), Plain(module + ".bias", Hidden)],
                Int("axis", -1), Float("epsilon", (float)config.LayerNormEps));

        /// <summary>
        /// x [.., in] @ W^T + b for the linear layer <paramref name="module"/> (PyTorch weight [out, in]):
        /// float32 MatMul with the transposed weight then Add, or the int8 dynamic pattern.
        /// </summary>
        string Linear(string module, string input, int inFeatures, int outFeatures, bool quantize)
        {
            OnnxWeight weight = Weight(module + ".weight", outFeatures, inFeatures);
            string bias = Plain(module + ".bias", outFeatures);
            string label = module.Replace(prefix, "", StringComparison.Ordinal);
            if (!quantize)
            {
                string product = g.Node("MatMul", label + "/MatMul",
                    [input, g.Float32(module + ".weight_transposed", Transpose(weight.Data, outFeatures, inFeatures), [inFeatures, outFeatures],
                        $"{module}.weight transposed to [in, out] for MatMul")]);
                return g.Node("Add", label + "/Add", [product, bias]);
            }

            var (quantized, scales) = OnnxInt8Weights.Quantize(weight.Data, outFeatures, inFeatures);
            string b = g.Int8(module + ".weight_quantized", quantized, [inFeatures, outFeatures],
                $"{module}.weight transposed to [in, out], symmetric int8 per output column (zero point 0)");
            string bScale = g.Float32(module + ".weight_scale", scales, [outFeatures]);
            // One DynamicQuantizeLinear per layer: ORT fuses it into DynamicQuantizeMatMul only when its
            // outputs feed this one MatMulInteger.
            string[] q = g.Node("DynamicQuantizeLinear", label + "/DynamicQuantizeLinear", [input], outputs: 3);
            string integer = g.Node("MatMulInteger", label + "/MatMulInteger", [q[0], b, q[2]]);
            string asFloat = g.Node("Cast", label + "/Cast", [integer], Int("to", (long)DataType.Float));
            string scale = g.Node("Mul", label + "/ScaleProduct", [q[1], bScale]);
            string scaled = g.Node("Mul", label + "/Scale", [asFloat, scale]);
            return g.Node("Add", label + "/Add", [scaled, bias]);
        }

        /// <summary>One transformer layer: attention, residual + LayerNorm, feed-forward, residual + LayerNorm.</summary>
        string Layer(int index, string x, string additiveMask)
        {
            string l = $"{prefix}encoder.layer.{index}.";
            int heads = config.NumAttentionHeads, headSize = Hidden / heads;
            bool q8 = options.QuantizeInt8;

            // [B, T, H] -> [B, heads, T, headSize] (keys: [B, heads, headSize, T]).
            string Split(string projection, string name, long[] perm)
            {
                string reshaped = g.Node("Reshape", name + "/Reshape", [projection, g.Int64Vector(0, 0, heads, headSize)]);
                return g.Node("Transpose", name + "/Transpose", [reshaped], Ints("perm", perm));
            }
            string label = $"encoder.layer.{index}.attention.self.";
            string query = Split(Linear(l + "attention.self.query", x, Hidden, Hidden, q8), label + "query", [0, 2, 1, 3]);
            string key = Split(Linear(l + "attention.self.key", x, Hidden, Hidden, q8), label + "key", [0, 2, 3, 1]);
            string value = Split(Linear(l + "attention.self.value", x, Hidden, Hidden, q8), label + "value", [0, 2, 1, 3]);

            string scores = g.Node("MatMul", label + "scores", [query, key]);                                   // [B, heads, T, T]
            string scaled = g.Node("Div", label + "scale", [scores, g.ScalarFloat(MathF.Sqrt(headSize))]);
            string masked = g.Node("Add", label + "mask", [scaled, additiveMask]);
            string probabilities = g.Node("Softmax", label + "softmax", [masked], Int("axis", 3));
            string context = g.Node("MatMul", label + "context", [probabilities, value]);                       // [B, heads, T, headSize]
            string merged = g.Node("Transpose", label + "context/Transpose", [context], Ints("perm", 0, 2, 1, 3));
            string flat = g.Node("Reshape", label + "context/Reshape", [merged, g.Int64Vector(0, 0, Hidden)]);  // [B, T, H]

            string attended = Linear(l + "attention.output.dense", flat, Hidden, Hidden, q8);
            string residual1 = g.Node("Add", $"encoder.layer.{index}.attention.output/residual", [attended, x]);
            string normed1 = LayerNorm(l + "attention.output.LayerNorm", residual1, $"encoder.layer.{index}.attention.output/LayerNorm");

            string intermediate = Activation(Linear(l + "intermediate.dense", normed1, Hidden, config.IntermediateSize, q8), $"encoder.layer.{index}.intermediate");
            string output = Linear(l + "output.dense", intermediate, config.IntermediateSize, Hidden, q8);
            string residual2 = g.Node("Add", $"encoder.layer.{index}.output/residual", [output, normed1]);
            return LayerNorm(l + "output.LayerNorm", residual2, $"encoder.layer.{index}.output/LayerNorm");
        }

        /// <summary>hidden_act as the op pattern ORT's GeluFusion / FastGeluFusion recognise.</summary>
        string Activation(string x, string name) => config.HiddenAct switch
        {
            // 0.5 * x * (1 + erf(x / sqrt(2)))
            "gelu" => g.Node("Mul", name + "/gelu_half", [
                g.Node("Mul", name + "/gelu_mul", [x,
                    g.Node("Add", name + "/gelu_add", [
                        g.Node("Erf", name + "/gelu_erf", [g.Node("Div", name + "/gelu_div", [x, g.ScalarFloat(MathF.Sqrt(2f))])]),
                        g.ScalarFloat(1f)])]),
                g.ScalarFloat(0.5f)]),
            // (0.5 * x) * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))), the operand order and constants of
            // ORT's FastGeluFusion.
            "gelu_new" or "gelu_pytorch_tanh" => g.Node("Mul", name + "/gelu_mul", [
                g.Node("Mul", name + "/gelu_half", [x, g.ScalarFloat(0.5f)]),
                g.Node("Add", name + "/gelu_add", [
                    g.Node("Tanh", name + "/gelu_tanh", [
                        g.Node("Mul", name + "/gelu_scale", [
                            g.Node("Add", name + "/gelu_inner", [
                                g.Node("Mul", name + "/gelu_cube_scale", [
                                    g.Node("Pow", name + "/gelu_cube", [x, g.ScalarFloat(3f)]),
                                    g.ScalarFloat(0.044715f)]),
                                x]),
                            g.ScalarFloat(0.7978845834732056f)])]),   // sqrt(2 / pi)
                    g.ScalarFloat(1f)])]),
            "relu" => g.Node("Relu", name + "/relu", [x]),
            _ => throw new NotSupportedException($"hidden_act '{config.HiddenAct}' cannot be exported."),
        };

        void Head(string hidden)
        {
            string logits = OnnxClassifierContract.Logits;
            int labels = spec.NumLabels;
            switch (spec.Head)
            {
                case OnnxHeadKind.BertPooler:
                {
                    string first = g.Node("Gather", "first_token", [hidden, g.ScalarInt64(0)], Int("axis", 1));     // [B, H]
                    string pooled = g.Node("Tanh", "pooler/Tanh", [Linear(prefix + "pooler.dense", first, Hidden, Hidden, quantize: false)]);
                    FinalLinear("classifier", pooled, labels, logits);
                    break;
                }
                case OnnxHeadKind.RobertaHead:
                {
                    string first = g.Node("Gather", "first_token", [hidden, g.ScalarInt64(0)], Int("axis", 1));
                    string dense = g.Node("Tanh", "classifier.dense/Tanh", [Linear("classifier.dense", first, Hidden, Hidden, quantize: false)]);
                    FinalLinear("classifier.out_proj", dense, labels, logits);
                    break;
                }
                default:
                {
                    // SequenceClassifier.MeanPool: sum(h * m, 1) / clamp_min(sum(m, 1), 1e-9) with m = mask [B, T, 1].
                    string maskFloat = g.Node("Cast", "pool/mask_cast", [OnnxClassifierContract.AttentionMask], Int("to", (long)DataType.Float));
                    string mask3 = g.Node("Unsqueeze", "pool/mask_unsqueeze", [maskFloat, g.Int64Vector(2)]);
                    string weighted = g.Node("Mul", "pool/masked", [hidden, mask3]);
                    string summed = g.Node("ReduceSum", "pool/sum", [weighted, g.Int64Vector(1)], Int("keepdims", 0));   // [B, H]
                    string counts = g.Node("ReduceSum", "pool/count", [mask3, g.Int64Vector(1)], Int("keepdims", 0));   // [B, 1]
                    string clamped = g.Node("Max", "pool/count_clamp", [counts, g.ScalarFloat(1e-9f)]);
                    string mean = g.Node("Div", "pool/mean", [summed, clamped]);
                    FinalLinear("classifier", mean, labels, logits);
                    break;
                }
            }
        }

        /// <summary>The last linear layer, whose Add writes the graph output.</summary>
        void FinalLinear(string module, string input, int labels, string output)
        {
            OnnxWeight weight = Weight(module + ".weight", labels, Hidden);
            string product = g.Node("MatMul", module + "/MatMul",
                [input, g.Float32(module + ".weight_transposed", Transpose(weight.Data, labels, Hidden), [Hidden, labels], $"{module}.weight transposed to [in, out] for MatMul")]);
            g.NodeWithOutput("Add", module + "/Add", [product, Plain(module + ".bias", labels)], output);
        }

        static float[] Transpose(float[] data, int rows, int columns)
        {
            var result = new float[data.Length];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    result[(long)c * rows + r] = data[(long)r * columns + c];
            return result;
        }
    }
}
