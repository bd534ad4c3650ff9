using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;
using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.MLNet;
using Microsoft.ML.Fossil.Models;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Fossil.Tokenization;
using Microsoft.ML.Fossil.Training;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil;

/// <summary>
/// What both public trainers do: check the schema, read the rows once (every problem naming the data set, column
/// and row), load the backbone, build the network, train, and turn the result into a <see cref="ModelDefinition"/>
/// and a running network. Settings come from the Options and the <see cref="MLContext"/> the trainer was made with.
/// </summary>
internal sealed class FossilTrainer
{
    readonly IHostEnvironment env;
    readonly FossilTrainerOptions options;
    readonly PredictionTask task;

    public FossilTrainer(IHostEnvironment env, FossilTrainerOptions options, PredictionTask task)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        // The library's first touch of torch may be here (validation names a device): load it, with the native-load fix, first.
        Native.TorchRuntime.EnsureLoaded();
        options.Validate();
        this.env = env;
        this.options = options;
        this.task = task;
    }

    /// <summary>The schema the fitted transformer will produce; rejects missing or mistyped input columns.</summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        SchemaShapes.RequireColumn(inputSchema, "sentence", options.Sentence1ColumnName, "String",
            c => c.Kind == SchemaShape.Column.VectorKind.Scalar && c.ItemType is TextDataViewType);
        if (options.Sentence2ColumnName is { } second)
            SchemaShapes.RequireColumn(inputSchema, "second sentence", second, "String",
                c => c.Kind == SchemaShape.Column.VectorKind.Scalar && c.ItemType is TextDataViewType);
        if (task == PredictionTask.Regression)
        {
            SchemaShapes.RequireColumn(inputSchema, "label", options.LabelColumnName, "Single",
                c => c.Kind == SchemaShape.Column.VectorKind.Scalar && c.ItemType == NumberDataViewType.Single && !c.IsKey);
            return SchemaShapes.WithColumns(inputSchema, [RegressionOutput.ScoreShape(options.ScoreColumnName)]);
        }
        SchemaShapes.RequireColumn(inputSchema, "label", options.LabelColumnName, "Key<UInt32> with text key values (use MapValueToKey)",
            c => c.Kind == SchemaShape.Column.VectorKind.Scalar && c.IsKey);
        return SchemaShapes.WithColumns(inputSchema,
            [ClassificationOutput.ScoreShape(options.ScoreColumnName), ClassificationOutput.PredictedLabelShape(options.PredictedLabelColumnName)]);
    }

    /// <summary>Loads the backbone, tokenizes the data once, injects adapters and trains.</summary>
    public FossilTransformerCore Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var channel = new FossilChannel(env, "FossilTextClassification");
        Native.TorchRuntime.EnsureLoaded();
        Device device = DeviceChoice.Resolve(env, channel, "training");
        FossilSettings settings = FossilCatalog.SettingsOf(env);
        int seed = options.Seed ?? ContextSettings.Seed(env) ?? FossilDefaults.Seed;
        Func<bool> cancelled = () => options.CancellationToken.IsCancellationRequested || ContextSettings.IsCancelled(env);

        // Everything about the data is checked before the (slow) backbone load.
        IReadOnlyList<string> labelNames = task == PredictionTask.Classification ? ClassNames(input.Schema) : [];
        LabeledTexts train = ReadLabeledTexts(input, "training", labelNames);
        if (train.Count == 0) throw new ArgumentException("The training data has no rows.", nameof(input));
        if (task == PredictionTask.Classification && train.Labels.Distinct().Count() < 2)
            throw new ArgumentException(
                $"The training labels in column '{options.LabelColumnName}' contain a single class ('{labelNames[(int)train.Labels[0]]}'); classification needs at least two.",
                nameof(input));
        LabeledTexts? validation = options.ValidationSet is { } validationView ? ReadLabeledTexts(validationView, "validation", labelNames) : null;
        if (cancelled()) throw new OperationCanceledException("Training was cancelled before the backbone was loaded.");

        var clock = Stopwatch.StartNew();
        BackboneSource source = options.Backbone ?? BackboneSource.MiniLM();
        LoadedBackbone backbone = BackboneLoader.Load(source.Locator, settings.ForBackboneLoading());
        channel.Info($"Loaded {source.Description} in {clock.Elapsed.TotalSeconds:F1} s (weights SHA-256 {backbone.Identity.Sha256}).");
        if (options.MaxSequenceLength > backbone.Encoder.Config.MaxSequenceLength)
        {
            backbone.Encoder.Dispose();
            throw new ArgumentOutOfRangeException(nameof(input), options.MaxSequenceLength,
                $"MaxSequenceLength {options.MaxSequenceLength} exceeds the backbone's {backbone.Encoder.Config.MaxSequenceLength} positions.");
        }

        long backboneBytes = backbone.Encoder.parameters().Sum(p => p.numel() * p.element_size());
        AdapterOptions adapter = options.ToAdapterOptions();
        HeadKind head = FineTunedNetwork.ResolveHead(backbone, options.Head);
        int numLabels = task == PredictionTask.Regression ? 1 : labelNames.Count;
        FineTunedNetwork network;
        try
        {
            network = FineTunedNetwork.ForTraining(backbone, numLabels, head, adapter, options.MaxSequenceLength, seed, device);
        }
        catch
        {
            backbone.Encoder.Dispose();
            throw;
        }
        try
        {
            AdapterReport parameters = network.ParameterReport();
            channel.Info($"{options.AdapterKind} adapters: {parameters}");
            clock.Restart();
            TokenizedDataset trainSet = train.Tokenize(network.Tokenizer);
            TokenizedDataset? validationSet = validation?.Tokenize(network.Tokenizer);
            channel.Info($"Tokenized {trainSet.Count} training and {validationSet?.Count ?? 0} validation rows in {clock.Elapsed.TotalSeconds:F1} s.");

            clock.Restart();
            TrainingOptions training = options.ToTrainingOptions(device, seed);
            TrainingResult result = TrainingLoop.Run(network.Network, network.Tokenizer, trainSet, validationSet, task, training,
                progress => Report(channel, progress), cancelled);
            double seconds = clock.Elapsed.TotalSeconds;
            channel.Info($"Trained {result.Epochs.Count} epochs in {seconds:F1} s; keeping epoch {result.BestEpoch}" +
                         (result.StoppedEarly ? " (stopped early)." : "."));

            var definition = new ModelDefinition(task, labelNames, head, backbone.Encoder.Config.ToJson(), adapter.ToJson(), network.Tokenizer.Settings,
                backbone.Identity, network.TrainedTensors())
            {
                Columns = Columns(),
                TrainingSummaryJson = Summary(result, seconds, parameters, adapter, training, options.MaxSequenceLength, source, backboneBytes).ToJsonString(),
            };
            var columns = new ScoringColumns(options.Sentence1ColumnName, options.Sentence2ColumnName, options.ScoreColumnName,
                options.PredictedLabelColumnName, task, labelNames);
            return new FossilTransformerCore(definition, network, columns, options.PredictionBatchSize, options.EmbedBackboneOnSave);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    void Report(FossilChannel channel, TrainingProgress progress)
    {
        if (progress.Validation is { } metrics)
            channel.Info($"epoch {progress.Epoch}: train loss {progress.Loss:F4}, validation {metrics}");
        else if (progress.Step == progress.StepsPerEpoch || progress.Step % 10 == 0)
            channel.Info($"epoch {progress.Epoch} step {progress.Step}/{progress.StepsPerEpoch}: loss {progress.Loss:F4}, " +
                         $"{progress.RowsPerSecond:F1} rows/s, ETA {progress.Remaining:hh\\:mm\\:ss}");
        options.Progress?.Invoke(progress);
    }

    IReadOnlyList<string> ClassNames(DataViewSchema schema)
    {
        DataViewSchema.Column label = schema.GetColumnOrNull(options.LabelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"Schema mismatch for label column '{options.LabelColumnName}': column not found in the input data.");
        if (label.Type is not KeyDataViewType)
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"Schema mismatch for label column '{options.LabelColumnName}': expected Key<UInt32> (use MapValueToKey), got {label.Type}.");
        string[] names = LabelValues.ClassNames(label);
        if (names.Length < 2)
            throw new ArgumentException($"The label column '{options.LabelColumnName}' has {names.Length} class; classification needs at least two.");
        return names;
    }

    /// <summary>Reads texts and labels; every problem names the data set, the column and the row.</summary>
    LabeledTexts ReadLabeledTexts(IDataView data, string role, IReadOnlyList<string> labelNames)
    {
        DataViewSchema schema = data.Schema;
        DataViewSchema.Column text1 = ScoringColumns.RequireText(schema, options.Sentence1ColumnName, "sentence", role);
        DataViewSchema.Column? text2 = options.Sentence2ColumnName is { } s2 ? ScoringColumns.RequireText(schema, s2, "second sentence", role) : null;
        DataViewSchema.Column label = schema.GetColumnOrNull(options.LabelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(data), $"Schema mismatch for label column '{options.LabelColumnName}' in the {role} data: column not found.");
        bool keyLabels = label.Type is KeyDataViewType;
        if (task == PredictionTask.Classification)
        {
            if (keyLabels && ((KeyDataViewType)label.Type).Count != (ulong)labelNames.Count)
                throw new ArgumentException($"The {role} label column '{options.LabelColumnName}' has {((KeyDataViewType)label.Type).Count} classes, the training data {labelNames.Count}: map both with the same MapValueToKey.");
            if (!keyLabels && role == "training")
                throw new ArgumentOutOfRangeException(nameof(data), $"Schema mismatch for label column '{options.LabelColumnName}': expected Key<UInt32> (use MapValueToKey), got {label.Type}.");
            if (!keyLabels && label.Type is not (TextDataViewType or NumberDataViewType or BooleanDataViewType))
                throw new ArgumentOutOfRangeException(nameof(data), $"Schema mismatch for label column '{options.LabelColumnName}' in the {role} data: expected a key or the raw label values, got {label.Type}.");
        }
        if (task == PredictionTask.Regression && label.Type != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(data), $"Schema mismatch for label column '{options.LabelColumnName}' in the {role} data: expected Single, got {label.Type}.");

        var first = new List<string>();
        var second = text2 is null ? null : new List<string>();
        var labels = new List<float>();
        DataViewSchema.Column[] needed = text2 is { } t2 ? [text1, t2, label] : [text1, label];
        using DataViewRowCursor cursor = data.GetRowCursor(needed);
        ValueGetter<ReadOnlyMemory<char>> getText1 = cursor.GetGetter<ReadOnlyMemory<char>>(text1);
        ValueGetter<ReadOnlyMemory<char>>? getText2 = text2 is { } column2 ? cursor.GetGetter<ReadOnlyMemory<char>>(column2) : null;
        ValueGetter<uint>? getKey = task == PredictionTask.Classification && keyLabels ? cursor.GetGetter<uint>(label) : null;
        // A validation set that did not go through the pipeline's MapValueToKey: match its raw values to the class names.
        Func<string>? getRaw = task == PredictionTask.Classification && !keyLabels ? LabelValues.TextGetter(cursor, label) : null;
        Dictionary<string, int> classIndex = labelNames.Select((name, index) => (name, index)).ToDictionary(p => p.name, p => p.index);
        ValueGetter<float>? getValue = task == PredictionTask.Regression ? cursor.GetGetter<float>(label) : null;
        ReadOnlyMemory<char> a = default, b = default;
        uint key = 0;
        float value = 0;
        long row = 0;
        while (cursor.MoveNext())
        {
            row++;
            getText1(ref a);
            first.Add(a.ToString());
            if (getText2 is not null)
            {
                getText2(ref b);
                second!.Add(b.ToString());
            }
            if (getKey is not null)
            {
                getKey(ref key);
                if (key == 0)
                    throw new ArgumentException($"Row {row} of the {role} data has a missing label in column '{options.LabelColumnName}' " +
                                                "(a value MapValueToKey did not see in the training data, or an empty one).");
                labels.Add(key - 1);
            }
            else if (getRaw is not null)
            {
                string raw = getRaw();
                if (!classIndex.TryGetValue(raw, out int index))
                    throw new ArgumentException($"Row {row} of the {role} data has the label '{raw}' in column '{options.LabelColumnName}', which the training data does not have " +
                                                $"(training classes: {string.Join(", ", labelNames.Select(n => $"'{n}'"))}).");
                labels.Add(index);
            }
            else
            {
                getValue!(ref value);
                if (!float.IsFinite(value))
                    throw new ArgumentException($"Row {row} of the {role} data has a non-finite label {value} in column '{options.LabelColumnName}'.");
                labels.Add(value);
            }
        }
        return new LabeledTexts(first, second, labels);
    }

    Dictionary<string, string> Columns()
    {
        var columns = new Dictionary<string, string> { ["label"] = options.LabelColumnName, ["sentence1"] = options.Sentence1ColumnName };
        if (options.Sentence2ColumnName is { } second) columns["sentence2"] = second;
        return columns;
    }

    static JsonObject Summary(TrainingResult result, double seconds, AdapterReport parameters, AdapterOptions adapter, TrainingOptions training,
        int maxLength, BackboneSource source, long backboneBytes)
    {
        bool full = adapter.Kind == AdapterKind.FullFineTuning;
        return new JsonObject
        {
            ["train_seconds"] = seconds,
            ["best_epoch"] = result.BestEpoch,
            ["stopped_early"] = result.StoppedEarly,
            ["trainable_parameters"] = parameters.TrainableParameters,
            ["total_parameters"] = parameters.TotalParameters,
            ["adapter"] = adapter.Kind switch { AdapterKind.Fossil => "fossil", AdapterKind.Lora => "lora", _ => "full" },
            ["fossil_variant"] = adapter.Kind == AdapterKind.Fossil ? adapter.Variant.ToString().ToLowerInvariant() : null,
            ["rank"] = full ? null : adapter.Rank,
            ["target_modules"] = full ? null : new JsonArray([.. adapter.TargetModules.Select(m => (JsonNode)m)]),
            ["learning_rate"] = training.LearningRate,
            ["epochs_requested"] = training.Epochs,
            ["batch_size"] = training.BatchSize,
            ["max_length"] = maxLength,
            ["seed"] = training.Seed,
            ["backbone"] = source.Description,
            ["backbone_weight_bytes"] = backboneBytes,
            ["epochs"] = new JsonArray([.. result.Epochs.Select(e => (JsonNode)new JsonObject
            {
                ["epoch"] = e.Epoch,
                ["train_loss"] = e.TrainLoss,
                ["seconds"] = e.Seconds,
                ["validation"] = e.Validation is { } v ? JsonSerializer.SerializeToNode(v) : null,
            })]),
        };
    }

    sealed record LabeledTexts(List<string> First, List<string>? Second, List<float> Labels)
    {
        public int Count => First.Count;

        public TokenizedDataset Tokenize(TextTokenizer tokenizer)
        {
            var rows = new TokenizedText[First.Count];
            for (int i = 0; i < rows.Length; i++) rows[i] = tokenizer.Encode(First[i], Second?[i]);
            return new TokenizedDataset(rows, Labels);
        }
    }
}
