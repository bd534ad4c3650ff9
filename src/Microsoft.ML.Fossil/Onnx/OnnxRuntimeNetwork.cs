using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.Fossil.Collation;
using Microsoft.ML.Fossil.Scoring;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace Microsoft.ML.Fossil.Onnx;

/// <summary>How <see cref="OnnxRuntimeNetwork"/> configures its ONNX Runtime session.</summary>
internal sealed record OnnxRuntimeNetworkOptions
{
    /// <summary>Threads inside one operator (ONNX Runtime's intra-op pool); default: every core.</summary>
    public int IntraOpThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Whether ONNX Runtime's threads spin for a moment after each run before they sleep (ONNX Runtime's default, and
    /// this one's: about 20 % off a single row's latency here) instead of sleeping at once (which leaves the cores to
    /// other work sooner). <see cref="FossilSettings.OnnxRuntimeSpinning"/> sets it for loaded models.
    /// </summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>ONNX Runtime's graph optimisations (fusions); default: all.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>
    /// ONNX Runtime graph transformers to leave out. Default: <c>SkipLayerNormFusion</c>. On the 2-core
    /// AMD EPYC (AVX-512) machine this library is developed on, ONNX Runtime 1.31.1's fused
    /// SkipLayerNormalization kernel took 90-115 ms per 32 x 64 MiniLM batch where the LayerNormalization
    /// and Add it replaces took about 30 ms (about 2 ms against 1 ms at 1 x 64): 7-9 % of the whole run.
    /// </summary>
    public IReadOnlyList<string> DisabledOptimizers { get; init; } = ["SkipLayerNormFusion"];

    /// <summary>
    /// Whether the session's copy of the graph gets its attention blocks fused into ONNX Runtime's Attention kernel
    /// (<see cref="OnnxAttentionFusion"/>; ONNX Runtime does not fuse them in an opset-17 graph). Default: on.
    /// </summary>
    public bool FuseAttention { get; init; } = true;

    /// <summary>When set, ONNX Runtime writes the optimised (fused) graph there: for diagnostics and tests.</summary>
    public string? OptimizedModelPath { get; init; }

    /// <summary>When set, the model must have exactly this many output columns.</summary>
    public int? ExpectedLabels { get; init; }
}

/// <summary>
/// Scores an exported sequence classifier (<see cref="OnnxClassifierContract"/>) with ONNX Runtime: the network
/// stage of <see cref="TextScorer"/> for deployment without libtorch (collated int64 arrays in, float logits out).
/// Uses no TorchSharp type, so an application without libtorch can run it; the application brings ONNX Runtime's
/// native library (package Microsoft.ML.OnnxRuntime). Safe to call from several threads at once (ONNX Runtime
/// sessions are).
/// </summary>
internal sealed class OnnxRuntimeNetwork : IScoringNetwork
{
    readonly InferenceSession session;
    readonly string[] outputNames = [OnnxClassifierContract.Logits];

    OnnxRuntimeNetwork(string source, InferenceSession session, OnnxRuntimeNetworkOptions options, bool usesTokenTypeIds, int numLabels, int fusedAttentionLayers)
    {
        Source = source;
        Options = options;
        FusedAttentionLayers = fusedAttentionLayers;
        this.session = session;
        UsesTokenTypeIds = usesTokenTypeIds;
        NumLabels = numLabels;
    }

    /// <summary>Where the model came from, as messages name it: its file (quoted), or its entry in a model zip.</summary>
    public string Source { get; }

    /// <summary>The settings the session was created with.</summary>
    public OnnxRuntimeNetworkOptions Options { get; }

    /// <summary>Attention blocks <see cref="OnnxAttentionFusion"/> fused in the session's graph (0 when off or nothing matched).</summary>
    public int FusedAttentionLayers { get; }

    /// <summary>Whether the model takes <c>token_type_ids</c> (BERT family).</summary>
    public bool UsesTokenTypeIds { get; }

    /// <summary>Columns of <c>logits</c>.</summary>
    public int NumLabels { get; }

    /// <inheritdoc />
    public int OutputCount => NumLabels;

    /// <summary>The model's metadata (key/value pairs written at export, <c>fossil.*</c>).</summary>
    public IReadOnlyDictionary<string, string> Metadata => session.ModelMetadata.CustomMetadataMap;

    /// <summary>
    /// Loads and checks <paramref name="path"/>: it must parse, and have int64 [batch, sequence] inputs
    /// <c>input_ids</c>, <c>attention_mask</c> (optionally <c>token_type_ids</c>) and nothing else, and a
    /// float [batch, labels] output <c>logits</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ONNX model ONNX Runtime can load, or its inputs or outputs differ from the contract; the message names the file and what was expected and found.</exception>
    /// <exception cref="InvalidOperationException">ONNX Runtime's native library is missing from the application.</exception>
    public static OnnxRuntimeNetwork Load(string path, OnnxRuntimeNetworkOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new OnnxRuntimeNetworkOptions();
        path = Path.GetFullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model not found: '{path}'.", path);
        if (options.FuseAttention && Fused(File.ReadAllBytes(path)) is { } fused)
            return Create($"'{path}'", options, sessionOptions => new InferenceSession(fused.Model, sessionOptions), fused.Layers);
        return Create($"'{path}'", options, sessionOptions => new InferenceSession(path, sessionOptions), 0);
    }

    /// <summary>
    /// Loads and checks an ONNX model held in memory (an entry of a model zip) as <see cref="Load(string, OnnxRuntimeNetworkOptions?)"/>
    /// does a file; <paramref name="source"/> names it in messages (e.g. <c>entry 'model.onnx' of the model zip</c>).
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not an ONNX model ONNX Runtime can load, or its inputs or outputs differ from the contract.</exception>
    /// <exception cref="InvalidOperationException">ONNX Runtime's native library is missing from the application.</exception>
    public static OnnxRuntimeNetwork Load(byte[] model, string source, OnnxRuntimeNetworkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        if (model.Length == 0) throw new InvalidDataException($"The ONNX model {source} is empty.");
        options ??= new OnnxRuntimeNetworkOptions();
        if (options.FuseAttention && Fused(model) is { } fused)
            return Create(source, options, sessionOptions => new InferenceSession(fused.Model, sessionOptions), fused.Layers);
        return Create(source, options, sessionOptions => new InferenceSession(model, sessionOptions), 0);
    }

    /// <summary>The model with its attention blocks fused, or null when nothing matched (or the bytes do not parse: ONNX Runtime then says why).</summary>
    static (byte[] Model, int Layers)? Fused(byte[] model)
    {
        ModelProto parsed;
        try
        {
            parsed = ModelProto.Parser.ParseFrom(model);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
        if (parsed.Graph is null) return null;
        int layers = OnnxAttentionFusion.Apply(parsed);
        return layers == 0 ? null : (parsed.ToByteArray(), layers);
    }

    static OnnxRuntimeNetwork Create(string source, OnnxRuntimeNetworkOptions options, Func<SessionOptions, InferenceSession> open, int fusedAttentionLayers)
    {
        if (options.IntraOpThreads < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.IntraOpThreads, "IntraOpThreads must be at least 1.");
        InferenceSession session = CreateSession(source, options, open);
        try
        {
            var (usesTypes, labels) = Validate(source, session, options.ExpectedLabels);
            return new OnnxRuntimeNetwork(source, session, options, usesTypes, labels, fusedAttentionLayers);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    static InferenceSession CreateSession(string source, OnnxRuntimeNetworkOptions options, Func<SessionOptions, InferenceSession> open)
    {
        SessionOptions sessionOptions;
        try
        {
            sessionOptions = new SessionOptions();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            throw new InvalidOperationException(
                "ONNX Runtime's native library could not be loaded. An application that scores exported models needs the " +
                $"NuGet package Microsoft.ML.OnnxRuntime (or another ONNX Runtime native package) next to Microsoft.ML.Fossil: {e.Message}", e);
        }
        using (sessionOptions)
        {
            sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
            sessionOptions.InterOpNumThreads = 1;
            sessionOptions.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
            sessionOptions.GraphOptimizationLevel = options.OptimizationLevel;
            // ONNX Runtime's warnings go to the console; a library keeps to errors (which also surface as exceptions).
            sessionOptions.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
            // Spinning threads answer the next request sooner but burn the cores between requests.
            string spinning = options.AllowSpinning ? "1" : "0";
            sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning);
            sessionOptions.AddSessionConfigEntry("session.inter_op.allow_spinning", spinning);
            if (options.DisabledOptimizers.Count > 0)
                sessionOptions.AddSessionConfigEntry("optimization.disable_specified_optimizers", string.Join(',', options.DisabledOptimizers));
            if (options.OptimizedModelPath is { } optimized) sessionOptions.OptimizedModelFilePath = optimized;
            try
            {
                return open(sessionOptions);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InvalidDataException($"ONNX Runtime cannot load {source} as an ONNX model (damaged, truncated or not ONNX): {e.Message}", e);
            }
        }
    }

    static (bool UsesTokenTypeIds, int NumLabels) Validate(string source, InferenceSession session, int? expectedLabels)
    {
        IReadOnlyDictionary<string, NodeMetadata> inputs = session.InputMetadata;
        const string expectedInputs =
            $"{OnnxClassifierContract.InputIds} and {OnnxClassifierContract.AttentionMask} (and {OnnxClassifierContract.TokenTypeIds} for BERT), each int64 [batch, sequence]";
        string Found() => string.Join(", ", inputs.Select(i => $"{i.Key} {Describe(i.Value)}"));

        foreach (var (name, metadata) in inputs)
        {
            if (name is not (OnnxClassifierContract.InputIds or OnnxClassifierContract.AttentionMask or OnnxClassifierContract.TokenTypeIds))
                throw new InvalidDataException($"The ONNX model {source} has an unexpected input '{name}' {Describe(metadata)}; expected {expectedInputs}. Its inputs: {Found()}.");
            if (!metadata.IsTensor || metadata.ElementDataType != TensorElementType.Int64 || metadata.Dimensions.Length != 2)
                throw new InvalidDataException($"The ONNX model {source} has input '{name}' {Describe(metadata)}; expected int64 [batch, sequence].");
        }
        foreach (string required in new[] { OnnxClassifierContract.InputIds, OnnxClassifierContract.AttentionMask })
            if (!inputs.ContainsKey(required))
                throw new InvalidDataException($"The ONNX model {source} has no input '{required}'; expected {expectedInputs}. Its inputs: {Found()}.");

        IReadOnlyDictionary<string, NodeMetadata> outputs = session.OutputMetadata;
        if (!outputs.TryGetValue(OnnxClassifierContract.Logits, out NodeMetadata? logits))
            throw new InvalidDataException(
                $"The ONNX model {source} has no output '{OnnxClassifierContract.Logits}' (float [batch, labels]). Its outputs: {string.Join(", ", outputs.Select(o => $"{o.Key} {Describe(o.Value)}"))}.");
        if (!logits.IsTensor || logits.ElementDataType != TensorElementType.Float || logits.Dimensions.Length != 2 || logits.Dimensions[1] < 1)
            throw new InvalidDataException($"The ONNX model {source} has output '{OnnxClassifierContract.Logits}' {Describe(logits)}; expected float [batch, labels] with a fixed number of labels.");
        int labels = logits.Dimensions[1];
        if (expectedLabels is { } expected && expected != labels)
            throw new InvalidDataException($"The ONNX model {source} has {labels} output column(s); expected {expected}.");
        return (inputs.ContainsKey(OnnxClassifierContract.TokenTypeIds), labels);
    }

    static string Describe(NodeMetadata metadata)
    {
        if (!metadata.IsTensor) return $"({metadata.OnnxValueType})";
        string[] dims = metadata.Dimensions.Select((d, i) =>
            d >= 0 ? d.ToString(CultureInfo.InvariantCulture)
            : metadata.SymbolicDimensions.Length > i && metadata.SymbolicDimensions[i].Length > 0 ? metadata.SymbolicDimensions[i] : "?").ToArray();
        return $"({metadata.ElementDataType.ToString().ToLowerInvariant()} [{string.Join(", ", dims)}])";
    }

    /// <summary>
    /// Scores a collated batch: <paramref name="inputIds"/>, <paramref name="attentionMask"/> and
    /// <paramref name="tokenTypeIds"/> are row-major [<paramref name="batch"/>, <paramref name="length"/>]
    /// (padding: mask 0). Returns the logits row-major [batch, <see cref="NumLabels"/>].
    /// <paramref name="tokenTypeIds"/> is required when <see cref="UsesTokenTypeIds"/>, and ignored otherwise
    /// (a model with one token type, whose ids are all 0).
    /// </summary>
    public float[] Score(long[] inputIds, long[] attentionMask, long[]? tokenTypeIds, int batch, int length)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(attentionMask);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "A batch needs at least one row.");
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "Rows need at least one token.");
        long cells = (long)batch * length;
        void Check(long[] array, string name)
        {
            if (array.LongLength != cells)
                throw new ArgumentException($"{name} has {array.LongLength} values; a [{batch}, {length}] batch needs {cells}.", name);
        }
        Check(inputIds, nameof(inputIds));
        Check(attentionMask, nameof(attentionMask));
        if (UsesTokenTypeIds)
        {
            if (tokenTypeIds is null)
                throw new ArgumentNullException(nameof(tokenTypeIds), $"The ONNX model {Source} takes {OnnxClassifierContract.TokenTypeIds}.");
            Check(tokenTypeIds, nameof(tokenTypeIds));
        }

        long[] shape = [batch, length];
        var names = new List<string>(3) { OnnxClassifierContract.InputIds, OnnxClassifierContract.AttentionMask };
        var values = new List<OrtValue>(3);
        try
        {
            // The managed arrays are pinned and read in place, not copied.
            values.Add(OrtValue.CreateTensorValueFromMemory(inputIds, shape));
            values.Add(OrtValue.CreateTensorValueFromMemory(attentionMask, shape));
            if (UsesTokenTypeIds)
            {
                names.Add(OnnxClassifierContract.TokenTypeIds);
                values.Add(OrtValue.CreateTensorValueFromMemory(tokenTypeIds!, shape));
            }
            using var runOptions = new RunOptions();
            using IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, names, values, outputNames);
            OrtValue logits = results.First();
            long[] outputShape = logits.GetTensorTypeAndShape().Shape;
            if (outputShape.Length != 2 || outputShape[0] != batch || outputShape[1] != NumLabels)
                throw new InvalidDataException(
                    $"The ONNX model {Source} returned logits of shape [{string.Join(", ", outputShape)}] for a batch of {batch}; expected [{batch}, {NumLabels}].");
            return logits.GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (OrtValue value in values) value.Dispose();
        }
    }

    /// <inheritdoc />
    public float[] Run(TokenBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Score(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.BatchSize, batch.SequenceLength);
    }

    bool disposed;

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        session.Dispose();
    }
}
