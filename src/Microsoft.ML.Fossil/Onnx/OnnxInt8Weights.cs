namespace Microsoft.ML.Fossil.Onnx;

/// <summary>
/// Symmetric per-output-column int8 quantization of a linear layer's weight, done once at export:
/// for each output feature j, scale_j = max_i |W[j, i]| / 127 and q = round(W / scale_j) in [-127, 127]
/// (zero point 0). Activations are quantized at run time by <c>DynamicQuantizeLinear</c> (uint8), so
/// ONNX Runtime runs the products as u8 x s8 integer GEMMs.
/// </summary>
internal static class OnnxInt8Weights
{
    /// <summary>
    /// <paramref name="weight"/> as PyTorch stores it, [out, in] row-major -> the transposed int8 matrix
    /// [in, out] row-major (MatMulInteger's B) and one scale per output column.
    /// </summary>
    public static (sbyte[] Transposed, float[] Scales) Quantize(float[] weight, int outFeatures, int inFeatures)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if ((long)outFeatures * inFeatures != weight.Length)
            throw new ArgumentException($"A [{outFeatures}, {inFeatures}] weight needs {(long)outFeatures * inFeatures} values; found {weight.Length}.", nameof(weight));
        var quantized = new sbyte[weight.Length];
        var scales = new float[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            ReadOnlySpan<float> row = weight.AsSpan(o * inFeatures, inFeatures);
            float max = 0;
            foreach (float w in row)
            {
                if (!float.IsFinite(w)) throw new InvalidOperationException($"Cannot quantize a weight with a non-finite value (output row {o}).");
                max = Math.Max(max, Math.Abs(w));
            }
            // An all-zero row keeps scale 1 (any scale reproduces zeros; 0 would divide by zero here and in ORT).
            float scale = max > 0 ? max / 127f : 1f;
            scales[o] = scale;
            for (int i = 0; i < inFeatures; i++)
                quantized[(long)i * outFeatures + o] = (sbyte)Math.Clamp(MathF.Round(row[i] / scale, MidpointRounding.ToEven), -127f, 127f);
        }
        return (quantized, scales);
    }
}
