namespace Microsoft.ML.Fossil.Training;

/// <summary>The metrics of Glue-style tasks, computed from predictions and labels.</summary>
internal static class Metrics
{
    /// <summary>Accuracy, F1 and MCC of predicted classes against labels.</summary>
    public static EvaluationMetrics Classification(IReadOnlyList<int> predicted, IReadOnlyList<int> labels, int classCount, double loss = 0)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(labels);
        if (predicted.Count != labels.Count) throw new ArgumentException($"{predicted.Count} predictions for {labels.Count} labels.");
        if (labels.Count == 0) throw new ArgumentException("No rows to evaluate.");
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

        // Gorodkin's multi-class MCC; equals the binary formula for two classes.
        double[] t = new double[classCount], p = new double[classCount];
        for (int a = 0; a < classCount; a++)
            for (int b = 0; b < classCount; b++) { t[a] += confusion[a, b]; p[b] += confusion[a, b]; }
        double covariance = correct * (double)n - t.Zip(p).Sum(x => x.First * x.Second);
        double denominator = Math.Sqrt(n * (double)n - p.Sum(x => x * x)) * Math.Sqrt(n * (double)n - t.Sum(x => x * x));
        double mcc = denominator == 0 ? 0 : covariance / denominator;
        return new EvaluationMetrics { Accuracy = correct / (double)n, F1 = f1, Mcc = mcc, Loss = loss };
    }

    /// <summary>Pearson, Spearman and MSE of predicted values against labels.</summary>
    public static EvaluationMetrics Regression(IReadOnlyList<float> predicted, IReadOnlyList<float> labels, double loss = 0)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(labels);
        if (predicted.Count != labels.Count) throw new ArgumentException($"{predicted.Count} predictions for {labels.Count} labels.");
        if (labels.Count == 0) throw new ArgumentException("No rows to evaluate.");
        double[] x = [.. predicted.Select(v => (double)v)], y = [.. labels.Select(v => (double)v)];
        double mse = x.Zip(y).Average(v => (v.First - v.Second) * (v.First - v.Second));
        return new EvaluationMetrics { Pearson = Pearson(x, y), Spearman = Pearson(Ranks(x), Ranks(y)), MeanSquaredError = mse, Loss = loss };
    }

    static double Pearson(double[] x, double[] y)
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

    /// <summary>1-based ranks with ties given their average rank.</summary>
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
