using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Scoring;

/// <summary>
/// Text to scores, one stage after another: tokenizer -> collation (length-sorted batches, dynamic padding) ->
/// network -> scorer. Serves the ML.NET row mapper (one row) and data view (batches), and validation during
/// training. Stateless between calls: safe to use from several threads at once.
/// </summary>
internal sealed class TextScorer(TextTokenizer tokenizer, IScoringNetwork network, PredictionTask task)
{
    /// <summary>The tokenizer stage.</summary>
    public TextTokenizer Tokenizer { get; } = tokenizer;

    /// <summary>The network stage.</summary>
    public IScoringNetwork Network { get; } = network;

    /// <summary>Classification (softmax scores) or regression (the value).</summary>
    public PredictionTask Task { get; } = task;

    /// <summary>Tokenizes one row (text, and the second text of a pair).</summary>
    public TokenizedText Tokenize(string? text, string? pair = null) => Tokenizer.Encode(text, pair);

    /// <summary>
    /// Raw network outputs (logits, or the regression value) per row, in input order, computed in batches of at most
    /// <paramref name="batchSize"/> rows of similar length.
    /// </summary>
    public float[][] Outputs(IReadOnlyList<TokenizedText> rows, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var results = new float[rows.Count][];
        int width = Network.OutputCount;
        foreach (int[] batchRows in LengthBucketBatcher.InferenceBatches([.. rows.Select(r => r.InputIds.Length)], batchSize))
        {
            TokenBatch batch = BatchCollator.Collate([.. batchRows.Select(i => rows[i])], Tokenizer.PadTokenId);
            float[] flat = Network.Run(batch);
            for (int k = 0; k < batchRows.Length; k++) results[batchRows[k]] = flat[(k * width)..((k + 1) * width)];
        }
        return results;
    }

    /// <summary>Scores rows already tokenized, in input order.</summary>
    public ScoredRow[] Score(IReadOnlyList<TokenizedText> rows, int batchSize) =>
        [.. Outputs(rows, batchSize).Select(outputs => Scorer.Score(outputs, Task))];

    /// <summary>Scores one row.</summary>
    public ScoredRow ScoreOne(string? text, string? pair) => Score([Tokenize(text, pair)], 1)[0];
}
