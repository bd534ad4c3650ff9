namespace Microsoft.ML.Fossil.Scoring;

/// <summary>One scored row: class probabilities (softmax) and the 1-based predicted key, or the regression value.</summary>
/// <param name="Scores">Probabilities per class, or one regression value.</param>
/// <param name="PredictedKey">1-based class key (0 for regression).</param>
internal readonly record struct ScoredRow(float[] Scores, uint PredictedKey);

/// <summary>The scorer stage: raw network outputs to what a user reads. No native code, no TorchSharp.</summary>
internal static class Scorer
{
    /// <summary>Scores one row's raw outputs (logits, or the regression value).</summary>
    public static ScoredRow Score(ReadOnlySpan<float> outputs, PredictionTask task)
    {
        if (task == PredictionTask.Regression) return new ScoredRow([outputs[0]], 0);
        var probabilities = new float[outputs.Length];
        Softmax(outputs, probabilities);
        return new ScoredRow(probabilities, ArgMaxKey(outputs));
    }

    /// <summary>Numerically stable softmax of <paramref name="logits"/> into <paramref name="probabilities"/>.</summary>
    public static void Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        if (probabilities.Length != logits.Length)
            throw new ArgumentException("Destination length differs from source length.", nameof(probabilities));
        if (logits.Length == 0) return;
        float max = float.NegativeInfinity;
        foreach (float v in logits) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float e = MathF.Exp(logits[i] - max);
            probabilities[i] = e;
            sum += e;
        }
        float inverse = (float)(1.0 / sum);
        for (int i = 0; i < probabilities.Length; i++) probabilities[i] *= inverse;
    }

    /// <summary>The 1-based key of the largest score (the first on ties; NaN never wins), 0 when every score is NaN.</summary>
    public static uint ArgMaxKey(ReadOnlySpan<float> scores)
    {
        int best = -1;
        for (int i = 0; i < scores.Length; i++)
            if (!float.IsNaN(scores[i]) && (best < 0 || scores[i] > scores[best])) best = i;
        return (uint)(best + 1);
    }
}
