using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace Microsoft.ML.Fossil.Tests.Contracts;

/// <summary>
/// What a user's application does with a fitted model, checked end to end through the standard ML.NET calls (in the
/// style of ML.NET's own estimator contract tests): fit -> save -> load -> save -> load, each load in a fresh
/// <see cref="MLContext"/>. Every save of the same model writes the same entries, byte for byte, and every load
/// scores bit for bit the same; saving while other threads predict changes neither their scores nor the file.
/// </summary>
internal static class ModelContract
{
    /// <summary>Every entry of a model zip (by name) with the SHA-256 of its content.</summary>
    public static SortedDictionary<string, string> Entries(string zip)
    {
        using ZipArchive archive = ZipFile.OpenRead(zip);
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (ZipArchiveEntry entry in archive.Entries)
        {
            using Stream stream = entry.Open();
            entries[entry.FullName] = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        return entries;
    }

    /// <summary>The bits of every score of <paramref name="model"/> on <paramref name="data"/> (vector or scalar Score column).</summary>
    public static int[] ScoreBits(ITransformer model, IDataView data)
    {
        IDataView scored = model.Transform(data);
        float[] values = scored.Schema["Score"].Type is VectorDataViewType
            ? [.. scored.GetColumn<float[]>("Score").SelectMany(s => s)]
            : [.. scored.GetColumn<float>("Score")];
        return [.. values.Select(BitConverter.SingleToInt32Bits)];
    }

    /// <summary>
    /// Saves <paramref name="fitted"/>, loads it, saves the loaded model, loads that, and saves it again; asserts that
    /// every save wrote the same entries and both loads score <paramref name="test"/> identically. Returns the first zip.
    /// </summary>
    public static string SaveLoadCycles(ITransformer fitted, DataViewSchema inputSchema, IDataView test, string folder, ITestOutputHelper output,
        Func<MLContext>? newContext = null)
    {
        newContext ??= () => new MLContext(seed: 1);
        string zip1 = Path.Combine(folder, "fitted.zip"), zip2 = Path.Combine(folder, "resaved.zip"), zip3 = Path.Combine(folder, "resaved-twice.zip");
        new MLContext(seed: 1).Model.Save(fitted, inputSchema, zip1);

        MLContext first = newContext();
        ITransformer loaded1 = first.Model.Load(zip1, out DataViewSchema schema1);
        first.Model.Save(loaded1, schema1, zip2);
        MLContext second = newContext();
        ITransformer loaded2 = second.Model.Load(zip2, out DataViewSchema schema2);
        second.Model.Save(loaded2, schema2, zip3);

        SortedDictionary<string, string> entries1 = Entries(zip1), entries2 = Entries(zip2), entries3 = Entries(zip3);
        output.WriteLine($"{new FileInfo(zip1).Length:N0} / {new FileInfo(zip2).Length:N0} / {new FileInfo(zip3).Length:N0} bytes; " +
                         $"{entries1.Count} entries: {string.Join(", ", entries1.Keys)}");
        Assert.Equal(entries1, entries2);
        Assert.Equal(entries1, entries3);
        Assert.Equal(new FileInfo(zip1).Length, new FileInfo(zip2).Length);

        int[] scores1 = ScoreBits(loaded1, test), scores2 = ScoreBits(loaded2, test);
        Assert.NotEmpty(scores1);
        Assert.Equal(scores1, scores2);
        ((IDisposable)loaded1).Dispose();
        ((IDisposable)loaded2).Dispose();
        return zip1;
    }

    /// <summary>
    /// While <paramref name="predictors"/> threads each predict <paramref name="rows"/> over and over through their own
    /// PredictionEngine, saves <paramref name="model"/> <paramref name="saves"/> times; asserts every prediction stayed
    /// bit-identical to the one made before any save, and every saved file has the same entries.
    /// </summary>
    public static void SaveWhilePredicting<TInput, TOutput>(MLContext ml, ITransformer model, DataViewSchema inputSchema, IReadOnlyList<TInput> rows,
        Func<TOutput, float[]> scoresOf, string folder, ITestOutputHelper output, int predictors = 3, int saves = 20)
        where TInput : class where TOutput : class, new()
    {
        int[][] expected;
        using (var engine = ml.Model.CreatePredictionEngine<TInput, TOutput>(model, new PredictionEngineOptions { OwnsTransformer = false }))
            expected = [.. rows.Select(r => scoresOf(engine.Predict(r)).Select(BitConverter.SingleToInt32Bits).ToArray())];

        using var stop = new CancellationTokenSource();
        using var running = new CountdownEvent(predictors);
        long predictions = 0, moved = 0, duringSaves = 0;
        bool saving = false;
        Task[] workers = [.. Enumerable.Range(0, predictors).Select(_ => Task.Run(() =>
        {
            using var engine = ml.Model.CreatePredictionEngine<TInput, TOutput>(model, new PredictionEngineOptions { OwnsTransformer = false });
            bool signalled = false;
            while (!stop.IsCancellationRequested)
            {
                for (int i = 0; i < rows.Count; i++)
                {
                    int[] actual = [.. scoresOf(engine.Predict(rows[i])).Select(BitConverter.SingleToInt32Bits)];
                    Interlocked.Increment(ref predictions);
                    if (Volatile.Read(ref saving)) Interlocked.Increment(ref duringSaves);
                    if (!actual.SequenceEqual(expected[i])) Interlocked.Increment(ref moved);
                }
                if (!signalled)
                {
                    signalled = true;
                    running.Signal();
                }
            }
        }))];
        // Every predictor is under way before the first save.
        Assert.True(running.Wait(TimeSpan.FromMinutes(2)), "the predictors did not start");
        Volatile.Write(ref saving, true);

        SortedDictionary<string, string>? first = null;
        try
        {
            for (int s = 0; s < saves; s++)
            {
                string path = Path.Combine(folder, $"concurrent-{s}.zip");
                ml.Model.Save(model, inputSchema, path);
                SortedDictionary<string, string> entries = Entries(path);
                first ??= entries;
                Assert.Equal(first, entries);
                File.Delete(path);
            }
        }
        finally
        {
            Volatile.Write(ref saving, false);
            stop.Cancel();
            Task.WaitAll(workers);
        }
        output.WriteLine($"{saves} saves; {Interlocked.Read(ref duringSaves)} of {Interlocked.Read(ref predictions)} predictions on {predictors} threads " +
                         $"ran while saving; {moved} moved");
        Assert.True(Interlocked.Read(ref duringSaves) > 0, "no prediction ran while saving");
        Assert.Equal(0, Interlocked.Read(ref moved));
    }
}
