using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.TestShared;

namespace Microsoft.ML.Fossil.FreshProcess;

/// <summary>
/// Commands for the reliability tests and test/soak/run-soak.sh. Unlike <c>transform</c>, these use the
/// library's API (SaveAtomically, the trainer, the transformer's EmbedBackbone), each in its own method so
/// that <c>transform</c> still runs without the library loaded before <c>Model.Load</c>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>save-repeatedly &lt;model.zip&gt; &lt;target.zip&gt; &lt;count&gt; [--embed-backbone]</c>: loads the
/// model and saves it <c>count</c> times to the target with <c>SaveAtomically</c>, printing
/// <c>saved N</c> after each; with <c>--embed-backbone</c> each file carries the backbone (tens of MB),
/// so a save takes long enough for a test to kill the process in the middle of one.</item>
/// <item><c>soak &lt;model.zip&gt; &lt;input.tsv&gt; &lt;predictions&gt; [--warmup N] [--sample-every N]</c>: one
/// <c>PredictionEngine</c> over a model whose input columns are all text (up to 4, the TSV layout of
/// <c>transform</c>), cycling over the input rows; prints JSON with VmRSS before and after the warm-up,
/// its peak and end, the growth after the warm-up and the rate.</item>
/// <item><c>fit &lt;reviews.tsv&gt; &lt;model.zip&gt; [--rows N] [--epochs N]</c>: fits the tests' MiniLM review
/// classifier (columns sentence, label, with a header; default 320 rows, 3 epochs) and saves it.</item>
/// <item><c>fit-twice &lt;reviews.tsv&gt; [--rows N] [--epochs N]</c>: fits the same classifier (default 64 rows,
/// 1 epoch) twice, disposing each model, and prints VmRSS before, after each fit and after each dispose
/// (after a full collection), also after glibc's <c>malloc_trim</c>, as JSON.</item>
/// </list>
/// </remarks>
internal static class ReliabilityCommands
{
    public const string Usage =
        "       Microsoft.ML.Fossil.FreshProcess save-repeatedly <model.zip> <target.zip> <count> [--embed-backbone]\n" +
        "       Microsoft.ML.Fossil.FreshProcess soak <model.zip> <input.tsv> <predictions> [--warmup N] [--sample-every N]\n" +
        "       Microsoft.ML.Fossil.FreshProcess fit <reviews.tsv> <model.zip> [--rows N] [--epochs N]\n" +
        "       Microsoft.ML.Fossil.FreshProcess fit-twice <reviews.tsv> [--rows N] [--epochs N]";

    public static int Run(string[] args)
    {
        Action command;
        try
        {
            command = Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"usage: {e.Message}\n{Usage}");
            return 2;
        }
        try
        {
            command();
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.ToString());
            return 1;
        }
    }

    sealed class UsageException(string message) : Exception(message);

    static Action Parse(string[] args)
    {
        switch (args[0])
        {
            case "save-repeatedly" when args.Length >= 4:
                var flags = args[4..];
                if (flags.Any(f => f != "--embed-backbone")) throw new UsageException($"unknown option in '{string.Join(' ', flags)}'");
                int count = PositiveInt(args[3], "count");
                return () => SaveRepeatedly(args[1], args[2], count, embedBackbone: flags.Length > 0);
            case "soak" when args.Length >= 4:
                var soak = Options(args[4..], "--warmup", "--sample-every");
                int predictions = PositiveInt(args[3], "predictions");
                return () => Soak(args[1], args[2], predictions, soak.GetValueOrDefault("--warmup", 200),
                    soak.GetValueOrDefault("--sample-every", 500));
            case "fit" when args.Length >= 3:
                var fit = Options(args[3..], "--rows", "--epochs");
                return () => Fit(args[1], args[2], fit.GetValueOrDefault("--rows", 320), fit.GetValueOrDefault("--epochs", 3));
            case "fit-twice" when args.Length >= 2:
                var fitTwice = Options(args[2..], "--rows", "--epochs");
                return () => FitTwice(args[1], fitTwice.GetValueOrDefault("--rows", 64), fitTwice.GetValueOrDefault("--epochs", 1));
            default:
                throw new UsageException($"unknown command or wrong arguments: {string.Join(' ', args)}");
        }
    }

    static int PositiveInt(string text, string what) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value : throw new UsageException($"{what} must be a positive integer, got '{text}'");

    static Dictionary<string, int> Options(string[] args, params string[] known)
    {
        if (args.Length % 2 != 0) throw new UsageException($"option '{args[^1]}' has no value");
        var options = new Dictionary<string, int>();
        for (int i = 0; i < args.Length; i += 2)
        {
            if (!known.Contains(args[i])) throw new UsageException($"unknown option '{args[i]}' (known: {string.Join(", ", known)})");
            options[args[i]] = PositiveInt(args[i + 1], args[i]);
        }
        return options;
    }

    static void SaveRepeatedly(string modelPath, string target, int count, bool embedBackbone)
    {
        var ml = new MLContext(seed: 1);
        ITransformer model = ml.Model.Load(modelPath, out DataViewSchema inputSchema);
        foreach (FossilTextClassificationTransformer fossil in FossilTransformers(model)) fossil.EmbedBackbone = embedBackbone;
        for (int i = 1; i <= count; i++)
        {
            ml.Model.SaveAtomically(model, inputSchema, target);
            Console.WriteLine($"saved {i}");
            Console.Out.Flush();
        }
        (model as IDisposable)?.Dispose();
    }

    static IEnumerable<FossilTextClassificationTransformer> FossilTransformers(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.OfType<FossilTextClassificationTransformer>()
        : model is FossilTextClassificationTransformer single ? [single] : [];

    /// <summary>Up to four text input columns, renamed to the model's input columns by a schema definition.</summary>
    public sealed class TextRow
    {
        public string? T0 { get; set; }
        public string? T1 { get; set; }
        public string? T2 { get; set; }
        public string? T3 { get; set; }
    }

    public sealed class VectorScore
    {
        public float[] Score { get; set; } = [];
    }

    public sealed class ScalarScore
    {
        public float Score { get; set; }
    }

    static void Soak(string modelPath, string inputPath, int predictions, int warmup, int sampleEvery)
    {
        double beforeLoad = RssMiB();
        var ml = new MLContext(seed: 1);
        ITransformer model = ml.Model.Load(modelPath, out DataViewSchema inputSchema);
        double afterLoad = RssMiB();

        DataViewSchema.Column[] columns = [.. inputSchema.Where(c => !c.IsHidden)];
        if (columns.Length is 0 or > 4 || columns.Any(c => c.Type is not TextDataViewType))
            throw new NotSupportedException("soak needs a model whose input is 1 to 4 text columns; this one has: " +
                                            string.Join(", ", columns.Select(c => $"{c.Name} ({c.Type})")));
        SchemaDefinition definition = SchemaDefinition.Create(typeof(TextRow));
        for (int i = 0; i < definition.Count; i++)
            if (i < columns.Length) definition[i].ColumnName = columns[i].Name;
        definition.RemoveRange(columns.Length, definition.Count - columns.Length);
        IDataView input = ml.Data.CreateTextLoader(Program.TextColumnsFor(inputSchema), separatorChar: '\t', hasHeader: false,
            allowQuoting: false, trimWhitespace: false).Load(inputPath);
        TextRow[] rows = [.. ml.Data.CreateEnumerable<TextRow>(input, reuseRowObject: false, schemaDefinition: definition)];
        if (rows.Length == 0) throw new InvalidDataException($"'{inputPath}' has no rows.");

        bool vector = model.GetOutputSchema(inputSchema)["Score"].Type is VectorDataViewType;
        Func<TextRow, float> predict;
        if (vector)
        {
            var engine = ml.Model.CreatePredictionEngine<TextRow, VectorScore>(model, inputSchemaDefinition: definition);
            predict = row => engine.Predict(row).Score[0];
        }
        else
        {
            var engine = ml.Model.CreatePredictionEngine<TextRow, ScalarScore>(model, inputSchemaDefinition: definition);
            predict = row => engine.Predict(row).Score;
        }

        float checksum = 0;
        for (int i = 0; i < warmup; i++) checksum += predict(rows[i % rows.Length]);
        double start = RssMiB(), peak = start;
        var samples = new List<double> { start };
        var clock = Stopwatch.StartNew();
        for (int i = 1; i <= predictions; i++)
        {
            float score = predict(rows[(warmup + i) % rows.Length]);
            if (!float.IsFinite(score)) throw new InvalidOperationException($"prediction {i} gave a non-finite score {score}");
            checksum += score;
            if (i % sampleEvery == 0 || i == predictions)
            {
                double rss = RssMiB();
                peak = Math.Max(peak, rss);
                samples.Add(rss);
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double end = samples[^1];
        WriteJson(json =>
        {
            json.WriteString("model", Path.GetFileName(modelPath));
            json.WriteNumber("input_rows", rows.Length);
            json.WriteNumber("warmup", warmup);
            json.WriteNumber("predictions", predictions);
            json.WriteNumber("rss_before_load_mib", Round(beforeLoad));
            json.WriteNumber("rss_after_load_mib", Round(afterLoad));
            json.WriteNumber("start_rss_mib", Round(start));
            json.WriteNumber("peak_rss_mib", Round(peak));
            json.WriteNumber("end_rss_mib", Round(end));
            json.WriteNumber("growth_after_warmup_mib", Round(end - start));
            json.WriteNumber("peak_growth_after_warmup_mib", Round(peak - start));
            json.WriteNumber("seconds", Round(seconds));
            json.WriteNumber("predictions_per_second", Round(predictions / seconds));
            json.WriteNumber("managed_heap_mib", Round(GC.GetTotalMemory(forceFullCollection: false) / 1048576.0));
            json.WriteNumber("checksum", checksum);
            json.WriteStartArray("rss_samples_mib");
            foreach (double s in samples) json.WriteNumberValue(Round(s));
            json.WriteEndArray();
        });
        (model as IDisposable)?.Dispose();
    }

    public sealed class Review
    {
        [LoadColumn(0)] public string Sentence { get; set; } = "";
        [LoadColumn(1)] public string Label { get; set; } = "";
    }

    /// <summary>The test fixture's recipe (MiniLM, FOSSIL r = 64 on query/value, 64 tokens, batch 16), on the first <paramref name="rows"/> reviews.</summary>
    static (IDataView Train, IEstimator<ITransformer> Pipeline) ReviewClassifier(MLContext ml, string reviewsPath, int rows, int epochs)
    {
        IDataView train = ml.Data.TakeRows(ml.Data.LoadFromTextFile<Review>(reviewsPath, hasHeader: true, allowQuoting: false), rows);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.FossilTextClassification(new FossilTextClassificationTrainer.Options
            {
                Sentence1ColumnName = "Sentence", Epochs = epochs, BatchSize = 16, MaxSequenceLength = 64, LearningRate = 2e-3,
            }));
        return (train, pipeline);
    }

    static void Fit(string reviewsPath, string modelPath, int rows, int epochs)
    {
        var ml = new MLContext(seed: 1);
        (IDataView train, IEstimator<ITransformer> pipeline) = ReviewClassifier(ml, reviewsPath, rows, epochs);
        ITransformer model = pipeline.Fit(train);
        ml.Model.SaveAtomically(model, train.Schema, modelPath);
        (model as IDisposable)?.Dispose();
        Console.WriteLine($"saved {modelPath}");
    }

    static void FitTwice(string reviewsPath, int rows, int epochs)
    {
        var ml = new MLContext(seed: 1);
        (IDataView train, IEstimator<ITransformer> pipeline) = ReviewClassifier(ml, reviewsPath, rows, epochs);
        var steps = new List<(string Step, double Rss, double? Trimmed)>();
        var parts = new List<(string Step, double Anonymous, double File)>();
        var clock = Stopwatch.StartNew();
        void Record(string step)
        {
            double rss = RssMiB();
            // What the process still uses: glibc keeps freed blocks in its arenas until malloc_trim returns them.
            double? trimmed = ProcessMemory.TrimNativeHeap() ? RssMiB() : null;
            steps.Add((step, rss, trimmed));
            parts.Add((step, ProcStatusMiB("RssAnon"), ProcStatusMiB("RssFile")));
        }
        CollectGarbage();
        Record("before");
        for (int fit = 1; fit <= 2; fit++)
        {
            ITransformer model = pipeline.Fit(train);
            float[] scores = [.. model.Transform(train).GetColumn<float[]>("Score").Select(s => s[0])];
            if (scores.Length != rows || !scores.All(float.IsFinite)) throw new InvalidOperationException($"fit {fit}: the model scored badly");
            Record($"fit{fit}");
            ((IDisposable)model).Dispose();
            CollectGarbage();
            Record($"dispose{fit}");
        }
        double? Trimmed(string step) => steps.Single(s => s.Step == step).Trimmed;
        double Raw(string step) => steps.Single(s => s.Step == step).Rss;
        WriteJson(json =>
        {
            json.WriteNumber("rows", rows);
            json.WriteNumber("epochs", epochs);
            json.WriteStartObject("rss_mib");
            foreach (var (step, rss, _) in steps) json.WriteNumber(step, Round(rss));
            json.WriteEndObject();
            json.WriteStartObject("rss_after_malloc_trim_mib");
            foreach (var (step, _, trimmed) in steps)
                if (trimmed is { } t) json.WriteNumber(step, Round(t));
                else json.WriteNull(step);
            json.WriteEndObject();
            json.WriteStartObject("rss_anonymous_mib");
            foreach (var (step, anonymous, _) in parts) json.WriteNumber(step, Round(anonymous));
            json.WriteEndObject();
            json.WriteStartObject("rss_file_mib");
            foreach (var (step, _, file) in parts) json.WriteNumber(step, Round(file));
            json.WriteEndObject();
            json.WriteNumber("raw_second_minus_first_after_dispose_mib", Round(Raw("dispose2") - Raw("dispose1")));
            if (Trimmed("dispose2") is { } d2 && Trimmed("dispose1") is { } d1 && Trimmed("fit1") is { } f1)
            {
                json.WriteNumber("second_minus_first_after_dispose_mib", Round(d2 - d1));
                json.WriteNumber("released_by_first_dispose_mib", Round(f1 - d1));
            }
            json.WriteNumber("seconds", Round(clock.Elapsed.TotalSeconds));
        });
    }

    static void CollectGarbage()
    {
        // Finalizers of tensors that escaped a dispose scope run only after a collection; the aggressive
        // collection also decommits the managed heap's free space, so RSS shows what is in use.
        // The MiniLM's package assembly (90 MB, mapped) is read in a collectible load context, which
        // unloads over several collections.
        for (int i = 0; i < 4; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>Resident set size from /proc/self/status (Linux), in MiB.</summary>
    static double RssMiB() => ProcStatusMiB("VmRSS");

    /// <summary>A kB field of /proc/self/status (VmRSS; RssAnon: heap and tensors; RssFile: mapped files), in MiB.</summary>
    static double ProcStatusMiB(string field) =>
        (ProcessMemory.StatusBytes(field) ?? throw new InvalidOperationException($"/proc/self/status has no {field} line.")) / 1048576.0;

    static double Round(double value) => Math.Round(value, 1);

    static void WriteJson(Action<Utf8JsonWriter> write)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var json = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }
        stdout.WriteByte((byte)'\n');
    }
}
