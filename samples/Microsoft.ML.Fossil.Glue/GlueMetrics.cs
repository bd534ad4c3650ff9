namespace Microsoft.ML.Fossil.Glue;

/// <summary>
/// The Glue metrics ML.NET's evaluators do not compute: F1 and Matthews correlation for classes, Pearson and
/// Spearman correlation for scores.
/// </summary>
public static class GlueMetrics
{
    /// <summary>
    /// F1 of class 1 for two classes (macro-averaged F1 otherwise) and the multi-class MCC (Gorodkin's form, equal to
    /// the binary formula for two classes), from 0-based predicted classes and labels.
    /// </summary>
    public static (double F1, double Mcc) F1AndMcc(IReadOnlyList<int> predicted, IReadOnlyList<int> labels, int classCount)
    {
        if (predicted.Count != labels.Count || labels.Count == 0) throw new ArgumentException($"{predicted.Count} predictions for {labels.Count} labels.");
        var confusion = new long[classCount, classCount]; // [label, predicted]
        for (int i = 0; i < labels.Count; i++) confusion[labels[i], predicted[i]]++;
        long n = labels.Count, correct = 0;
        for (int c = 0; c < classCount; c++) correct += confusion[c, c];

        double F1Of(int c)
        {
            long tp = confusion[c, c], fp = 0, fn = 0;
            for (int k = 0; k < classCount; k++)
            {
                if (k == c) continue;
                fp += confusion[k, c];
                fn += confusion[c, k];
            }
            return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
        }
        double f1 = classCount == 2 ? F1Of(1) : Enumerable.Range(0, classCount).Average(F1Of);

        double[] t = new double[classCount], p = new double[classCount];
        for (int a = 0; a < classCount; a++)
            for (int b = 0; b < classCount; b++) { t[a] += confusion[a, b]; p[b] += confusion[a, b]; }
        double covariance = correct * (double)n - t.Zip(p).Sum(x => x.First * x.Second);
        double denominator = Math.Sqrt(n * (double)n - p.Sum(x => x * x)) * Math.Sqrt(n * (double)n - t.Sum(x => x * x));
        return (f1, denominator == 0 ? 0 : covariance / denominator);
    }

    /// <summary>Pearson correlation of predictions and labels.</summary>
    public static double Pearson(IReadOnlyList<float> predicted, IReadOnlyList<float> labels) =>
        Correlation([.. predicted.Select(v => (double)v)], [.. labels.Select(v => (double)v)]);

    /// <summary>Spearman rank correlation (ties get their average rank).</summary>
    public static double Spearman(IReadOnlyList<float> predicted, IReadOnlyList<float> labels) =>
        Correlation(Ranks([.. predicted.Select(v => (double)v)]), Ranks([.. labels.Select(v => (double)v)]));

    static double Correlation(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? 0 : sxy / Math.Sqrt(sxx * syy);
    }

    static double[] Ranks(double[] values)
    {
        int[] order = [.. Enumerable.Range(0, values.Length).OrderBy(i => values[i])];
        var ranks = new double[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            double average = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = average;
            start = end + 1;
        }
        return ranks;
    }
}
