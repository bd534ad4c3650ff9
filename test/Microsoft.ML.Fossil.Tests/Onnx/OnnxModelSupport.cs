using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using Microsoft.ML.Data;

namespace Microsoft.ML.Fossil.Tests.Onnx;

/// <summary>Helpers for the ML.NET-level ONNX Runtime tests: schemas as text, scores, zip entries, the consumer app.</summary>
internal static class OnnxModelSupport
{
    /// <summary>Probabilities (or regression values) of two models may differ by this much (fp32 export).</summary>
    public const float ScoreTolerance = 1e-4f;

    /// <summary>Every visible and hidden column with its type and each annotation's value, one line per column.</summary>
    public static string Describe(DataViewSchema schema)
    {
        var text = new StringBuilder();
        foreach (DataViewSchema.Column column in schema)
        {
            text.Append(CultureInfo.InvariantCulture, $"{column.Index} {column.Name} : {column.Type}{(column.IsHidden ? " (hidden)" : "")}");
            foreach (DataViewSchema.Column annotation in column.Annotations.Schema)
                text.Append(CultureInfo.InvariantCulture, $" | {annotation.Name} : {annotation.Type} = {AnnotationValue(column.Annotations, annotation)}");
            text.AppendLine();
        }
        return text.ToString();
    }

    static string AnnotationValue(DataViewSchema.Annotations annotations, DataViewSchema.Column annotation)
    {
        Type raw = annotation.Type is VectorDataViewType v ? v.ItemType.RawType : annotation.Type.RawType;
        MethodInfo method = typeof(OnnxModelSupport).GetMethod(annotation.Type is VectorDataViewType ? nameof(VectorValue) : nameof(ScalarValue),
            BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(raw);
        return (string)method.Invoke(null, [annotations, annotation])!;
    }

    static string ScalarValue<T>(DataViewSchema.Annotations annotations, DataViewSchema.Column annotation)
    {
        T value = default!;
        annotations.GetGetter<T>(annotation)(ref value);
        return value?.ToString() ?? "null";
    }

    static string VectorValue<T>(DataViewSchema.Annotations annotations, DataViewSchema.Column annotation)
    {
        VBuffer<T> value = default;
        annotations.GetGetter<VBuffer<T>>(annotation)(ref value);
        return "[" + string.Join(", ", value.DenseValues().Select(v => v?.ToString())) + "]";
    }

    /// <summary>The float values of a Single or vector-of-Single column, one array per row.</summary>
    public static float[][] Scores(IDataView data, string column)
    {
        DataViewSchema.Column c = data.Schema[column];
        if (c.Type is VectorDataViewType)
            return [.. data.GetColumn<VBuffer<float>>(c).Select(v => v.DenseValues().ToArray())];
        return [.. data.GetColumn<float>(c).Select(v => new[] { v })];
    }

    /// <summary>The values of a text column.</summary>
    public static string[] Texts(IDataView data, string column) => [.. data.GetColumn<ReadOnlyMemory<char>>(column).Select(v => v.ToString())];

    /// <summary>Largest absolute difference between two row sets of equal shape.</summary>
    public static float MaxDiff(float[][] a, float[][] b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int r = 0; r < a.Length; r++)
        {
            Assert.Equal(a[r].Length, b[r].Length);
            for (int i = 0; i < a[r].Length; i++) max = Math.Max(max, Math.Abs(a[r][i] - b[r][i]));
        }
        return max;
    }

    /// <summary>Share of positions where the two label lists agree.</summary>
    public static double Agreement(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        Assert.Equal(a.Count, b.Count);
        return a.Zip(b).Count(p => p.First == p.Second) / (double)a.Count;
    }

    /// <summary>The non-chain transformers of a model, in order, by type name.</summary>
    public static string[] TransformerTypes(ITransformer model)
    {
        var names = new List<string>();
        void Walk(ITransformer t)
        {
            if (t is IEnumerable<ITransformer> chain && t.GetType().IsGenericType) foreach (ITransformer part in chain) Walk(part);
            else names.Add(t.GetType().Name);
        }
        Walk(model);
        return [.. names];
    }

    /// <summary>The full name of the one zip entry whose name ends with <paramref name="suffix"/>.</summary>
    public static string EntryName(string zipPath, string suffix)
    {
        using ZipArchive zip = ZipFile.OpenRead(zipPath);
        return zip.Entries.Single(e => e.FullName.EndsWith("/" + suffix, StringComparison.Ordinal)).FullName;
    }

    /// <summary>The bytes of the zip entry whose name ends with <paramref name="suffix"/>.</summary>
    public static byte[] ReadEntry(string zipPath, string suffix)
    {
        using ZipArchive zip = ZipFile.OpenRead(zipPath);
        ZipArchiveEntry entry = zip.Entries.Single(e => e.FullName.EndsWith("/" + suffix, StringComparison.Ordinal));
        using Stream stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// A copy of <paramref name="zipPath"/> at <paramref name="copyPath"/> whose entries ending with the given names are
    /// replaced by <c>change</c>'s result (a valid zip entry with the new content), or removed when it returns null.
    /// </summary>
    public static string WithEntries(string zipPath, string copyPath, params (string Suffix, Func<byte[], byte[]?> Change)[] changes)
    {
        File.Copy(zipPath, copyPath, overwrite: true);
        using ZipArchive zip = ZipFile.Open(copyPath, ZipArchiveMode.Update);
        foreach (var (suffix, change) in changes)
        {
            ZipArchiveEntry entry = zip.Entries.Single(e => e.FullName.EndsWith("/" + suffix, StringComparison.Ordinal));
            string name = entry.FullName;
            byte[] original;
            using (Stream stream = entry.Open())
            using (var buffer = new MemoryStream())
            {
                stream.CopyTo(buffer);
                original = buffer.ToArray();
            }
            entry.Delete();
            if (change(original) is { } changed)
            {
                using Stream stream = zip.CreateEntry(name).Open();
                stream.Write(changed);
            }
        }
        return copyPath;
    }

    /// <summary>What Model.Load threw, unwrapped from ML.NET's TargetInvocationException.</summary>
    public static Exception LoadFails(MLContext ml, string path)
    {
        Exception thrown = Assert.ThrowsAny<Exception>(() => ml.Model.Load(path, out _));
        while (thrown is TargetInvocationException { InnerException: { } inner }) thrown = inner;
        return thrown;
    }

    /// <summary>Path of the consumer app's dll (test/Microsoft.ML.Fossil.OnnxConsumer), recorded by the test project at build time.</summary>
    public static string ConsumerPath() =>
        typeof(OnnxModelSupport).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "FossilOnnxConsumer").Value
        ?? throw new InvalidOperationException("The test project did not record the consumer app's path.");

    /// <summary>Runs the consumer app; returns its exit code and stderr + stdout.</summary>
    public static (int ExitCode, string Output) RunConsumer(params string[] arguments)
    {
        string app = ConsumerPath();
        Assert.True(File.Exists(app), $"consumer app not built: {app}");
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(app);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("the consumer app did not finish in 3 minutes");
        }
        return (process.ExitCode, stderr.Result + stdout.Result);
    }

    /// <summary>Writes rows as a TSV with a header (no quoting: the texts hold no tabs or line breaks).</summary>
    public static void WriteTsv(string path, string[] header, IEnumerable<string[]> rows)
    {
        var lines = new List<string> { string.Join('\t', header) };
        foreach (string[] row in rows)
        {
            Assert.All(row, v => Assert.DoesNotContain('\t', v));
            lines.Add(string.Join('\t', row));
        }
        File.WriteAllLines(path, lines);
    }
}
