using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;

namespace Microsoft.ML.Fossil.Models;

/// <summary>
/// What a fine-tuned model is, as a value: its task and labels, head, encoder and adapter configuration,
/// tokenizer, the backbone it builds on, and the trained tensors as the bytes a model file stores. Saving writes
/// this and nothing else, so a save never reads or changes the running network, and a model loaded and saved
/// again writes the same bytes. Immutable.
/// </summary>
internal sealed class ModelDefinition
{
    /// <summary>Classification or regression.</summary>
    public PredictionTask Task { get; }

    /// <summary>Class names in key order (empty for regression).</summary>
    public IReadOnlyList<string> LabelNames { get; }

    /// <summary>The head actually built: the family's Hugging Face head, or mean pooling.</summary>
    public HeadKind Head { get; }

    /// <summary>The encoder's Hugging Face config.json, as written by <see cref="EncoderConfig.ToJson"/>.</summary>
    public string EncoderConfigJson { get; }

    /// <summary>The PEFT-style adapter_config.json, as written by <see cref="AdapterOptions.ToJson"/>.</summary>
    public string AdapterConfigJson { get; }

    /// <summary>How text is tokenized (checked against the backbone's vocabulary at load).</summary>
    public TokenizerSettings Tokenizer { get; }

    /// <summary>Where the frozen backbone comes from and its weights' SHA-256.</summary>
    public BackboneIdentity Backbone { get; }

    /// <summary>The trained tensors (adapters, head, trained biases; every weight for full fine-tuning) as safetensors bytes.</summary>
    public byte[] TrainedTensors { get; }

    /// <summary>SHA-256 of <see cref="TrainedTensors"/>, lowercase hex.</summary>
    public string TrainedSha256 { get; }

    /// <summary>Input column names used in training (informational).</summary>
    public IReadOnlyDictionary<string, string> Columns { get; init; } = new Dictionary<string, string>();

    /// <summary>The training summary JSON (informational), or null.</summary>
    public string? TrainingSummaryJson { get; init; }

    /// <summary>Outputs of the head: the number of classes, or 1 for regression.</summary>
    public int NumLabels => Task == PredictionTask.Regression ? 1 : LabelNames.Count;

    /// <summary>The encoder configuration, parsed.</summary>
    public EncoderConfig EncoderConfig => EncoderConfig.FromJson(EncoderConfigJson, "the model's encoder_config");

    /// <summary>The adapter configuration, parsed.</summary>
    public AdapterOptions Adapter => AdapterOptions.FromJson(AdapterConfigJson, "the model's adapter_config");

    /// <summary>Creates the definition; the hash of <paramref name="trainedTensors"/> is computed here, once.</summary>
    public ModelDefinition(PredictionTask task, IReadOnlyList<string> labelNames, HeadKind head, string encoderConfigJson, string adapterConfigJson,
        TokenizerSettings tokenizer, BackboneIdentity backbone, byte[] trainedTensors)
    {
        Task = task;
        LabelNames = [.. labelNames];
        Head = head;
        EncoderConfigJson = encoderConfigJson;
        AdapterConfigJson = adapterConfigJson;
        Tokenizer = tokenizer;
        Backbone = backbone;
        TrainedTensors = trainedTensors;
        TrainedSha256 = CompactModelFormat.Sha256(trainedTensors);
    }
}
