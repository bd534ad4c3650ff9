using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.Tests.MLNet;

/// <summary>The bundled fine-food review slices (samples/data), loaded with ML.NET's TextLoader.</summary>
internal static class FineFoods
{
    public static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "data", file);

    /// <summary>Columns Sentence (text) and Label (text "0"/"1"), the first <paramref name="take"/> rows.</summary>
    public static IDataView Reviews(MLContext ml, string file, int take)
    {
        var loader = ml.Data.CreateTextLoader(
            [new TextLoader.Column("Sentence", DataKind.String, 0), new TextLoader.Column("Label", DataKind.String, 1)],
            separatorChar: '\t', hasHeader: true, allowQuoting: false);
        return ml.Data.TakeRows(loader.Load(PathOf(file)), take);
    }

    /// <summary>Columns Sentence1, Sentence2 (text), SameLabel (text) and Positivity (Single), the first <paramref name="take"/> rows.</summary>
    public static IDataView Pairs(MLContext ml, string file, int take)
    {
        var loader = ml.Data.CreateTextLoader(
            [new TextLoader.Column("Sentence1", DataKind.String, 0), new TextLoader.Column("Sentence2", DataKind.String, 1),
             new TextLoader.Column("SameLabel", DataKind.String, 2), new TextLoader.Column("Positivity", DataKind.Single, 3)],
            separatorChar: '\t', hasHeader: true, allowQuoting: false);
        return ml.Data.TakeRows(loader.Load(PathOf(file)), take);
    }

    /// <summary>Share of the most frequent value of a text column.</summary>
    public static double MajorityShare(IDataView data, string column)
    {
        string[] values = [.. data.GetColumn<ReadOnlyMemory<char>>(column).Select(v => v.ToString())];
        return values.GroupBy(v => v).Max(g => g.Count()) / (double)values.Length;
    }
}
