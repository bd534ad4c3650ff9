using Microsoft.ML.Fossil.Adapters;
using Microsoft.ML.Fossil.Checkpoints;
using Microsoft.ML.Fossil.Modeling;
using Microsoft.ML.Fossil.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Fossil.Models;

/// <summary>
/// A model's running network: the backbone's encoder with adapters and a head (<see cref="SequenceClassifier"/>) on
/// a device, its tokenizer, and the backbone's tokenizer files (for a self-contained save). Built either fresh for
/// training or from a <see cref="ModelDefinition"/> for serving. Owns the network.
/// </summary>
internal sealed class FineTunedNetwork : IDisposable
{
    FineTunedNetwork(SequenceClassifier network, TextTokenizer tokenizer, Device device, LoadedBackbone backbone)
    {
        Network = network;
        Tokenizer = tokenizer;
        Device = device;
        BackboneIdentity = backbone.Identity;
        BackboneTokenizerFiles = backbone.TokenizerFiles;
    }

    /// <summary>Encoder, adapters and head.</summary>
    public SequenceClassifier Network { get; }

    /// <summary>The tokenizer the model was trained with.</summary>
    public TextTokenizer Tokenizer { get; }

    /// <summary>Where the network's parameters are.</summary>
    public Device Device { get; }

    /// <summary>The backbone the network was built on.</summary>
    public BackboneIdentity BackboneIdentity { get; }

    /// <summary>The backbone's tokenizer files.</summary>
    public IReadOnlyDictionary<string, byte[]> BackboneTokenizerFiles { get; }

    /// <summary>The head a model on <paramref name="backbone"/> gets for the option <paramref name="requested"/>.</summary>
    public static HeadKind ResolveHead(LoadedBackbone backbone, HeadKind requested) =>
        // What the backbone was pretrained for (mean pooling for sentence-transformers models); BERT checkpoints
        // without a pooler also get mean pooling rather than a random frozen pooler.
        requested == HeadKind.Default && (backbone.PreferredHead == HeadKind.MeanPooling ||
                                          (backbone.Encoder.Config.Family == EncoderFamily.Bert && !backbone.Encoder.HasPooler))
            ? HeadKind.MeanPooling
            : requested;

    /// <summary>
    /// A network to train: <paramref name="backbone"/> (whose encoder it takes over) with a new head seeded by
    /// <paramref name="seed"/> and adapters per <paramref name="adapter"/>, on <paramref name="device"/>.
    /// </summary>
    public static FineTunedNetwork ForTraining(LoadedBackbone backbone, int numLabels, HeadKind head, AdapterOptions adapter, int maxLength,
        int seed, Device device)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(adapter);
        TextTokenizer tokenizer = backbone.CreateTokenizer(maxLength);
        manual_seed(seed);
        var network = new SequenceClassifier(backbone.Encoder, numLabels, head);
        try
        {
            AdapterInjector.Apply(network, adapter);
            network.to(device);
            return new FineTunedNetwork(network, tokenizer, device, backbone);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The network <paramref name="definition"/> describes, on <paramref name="backbone"/> (whose encoder it takes
    /// over), with the trained tensors loaded, on <paramref name="device"/>, in evaluation mode, adapters merged when
    /// <paramref name="mergeAdapters"/> is set.
    /// </summary>
    /// <exception cref="BackboneMismatchException">The backbone's configuration or tokenizer differs from the model's.</exception>
    /// <exception cref="InvalidDataException">The trained tensors do not fit the adapter configuration.</exception>
    public static FineTunedNetwork FromDefinition(ModelDefinition definition, LoadedBackbone backbone, Device device, bool mergeAdapters)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(backbone);
        if (backbone.Encoder.Config.ToJson() != definition.EncoderConfigJson)
            throw new BackboneMismatchException("The backbone's config.json differs from the one the model was trained with.");
        TextTokenizer tokenizer = LoadedBackbone.CreateTokenizer(backbone.Encoder.Config, backbone.TokenizerFiles, backbone.LowerCase, definition.Tokenizer.MaxLength);
        if (tokenizer.Settings.VocabularySha256 != definition.Tokenizer.VocabularySha256)
            throw new BackboneMismatchException("The backbone's tokenizer vocabulary differs from the one the model was trained with.");

        var network = new SequenceClassifier(backbone.Encoder, definition.NumLabels, definition.Head);
        try
        {
            AdapterInjector.Apply(network, definition.Adapter);
            Dictionary<string, Tensor> tensors = CompactModelFormat.FromSafetensors(definition.TrainedTensors, CompactModelFormat.TrainedEntry);
            try
            {
                Dictionary<string, Tensor> expected = AdapterInjector.TrainableStateDict(network);
                List<string> missing = [.. expected.Keys.Where(k => !tensors.ContainsKey(k))];
                List<string> unexpected = [.. tensors.Keys.Where(k => !expected.ContainsKey(k))];
                if (missing.Count > 0 || unexpected.Count > 0)
                    throw new InvalidDataException("The model's trained tensors do not fit its adapter configuration: " +
                                                   $"missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}].");
                StateDictLoader.Load(network, tensors, CompactModelFormat.TrainedEntry, mayBeMissing: name => !expected.ContainsKey(name));
            }
            finally
            {
                foreach (Tensor t in tensors.Values) t.Dispose();
            }
            foreach (var (_, parameter) in network.named_parameters()) parameter.requires_grad = false;
            network.to(device);
            network.eval();
            if (mergeAdapters) AdapterInjector.MergeAll(network);
            return new FineTunedNetwork(network, tokenizer, device, backbone);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The running network of a model read from a file: its backbone (embedded in the file, or the one its identity
    /// names, found through <paramref name="settings"/> and verified by hash), with the trained tensors, on
    /// <paramref name="device"/>, adapters merged when <paramref name="mergeAdapters"/> is set.
    /// </summary>
    public static FineTunedNetwork Load(ModelDefinition definition, EmbeddedBackbone? embedded, BackboneLoadSettings settings, Device device,
        bool mergeAdapters)
    {
        ArgumentNullException.ThrowIfNull(definition);
        LoadedBackbone backbone = embedded is null ? BackboneLoader.Resolve(definition.Backbone, settings) : FromEmbedded(definition, embedded);
        try
        {
            return FromDefinition(definition, backbone, device, mergeAdapters);
        }
        catch
        {
            backbone.Encoder.Dispose();
            throw;
        }
    }

    /// <summary>The backbone a self-contained model carries; for adapter models its weights must hash to the recorded identity.</summary>
    static LoadedBackbone FromEmbedded(ModelDefinition definition, EmbeddedBackbone embedded)
    {
        Dictionary<string, Tensor> tensors = CompactModelFormat.FromSafetensors(embedded.Weights, CompactModelFormat.BackboneEntry);
        try
        {
            bool pooler = tensors.Keys.Any(k => k.StartsWith("pooler.", StringComparison.Ordinal));
            EncoderModel encoder = EncoderModel.FromStateDict(definition.EncoderConfig, pooler, tensors, CompactModelFormat.BackboneEntry, out _);
            // Full fine-tuning embeds the trained weights (its pretrained ones were trained in place); the entry's own
            // hash protects them. Adapter models embed the pretrained weights, which must be the recorded backbone.
            if (definition.Adapter.Kind != AdapterKind.FullFineTuning && definition.Backbone.Sha256 is { } expected
                && !string.Equals(WeightsIdentity.Sha256(encoder), expected, StringComparison.OrdinalIgnoreCase))
            {
                encoder.Dispose();
                throw new InvalidDataException("The model's embedded backbone does not match its recorded SHA-256: the file was altered or damaged.");
            }
            return new LoadedBackbone(encoder, definition.Backbone, embedded.TokenizerFiles, definition.Tokenizer.LowerCase);
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>
    /// The trained tensors now, as safetensors bytes: what a <see cref="ModelDefinition"/> stores after training.
    /// Call while the network is unmerged and its trained parameters still require gradients (at the end of training).
    /// </summary>
    public byte[] TrainedTensors() => CompactModelFormat.ToSafetensors(AdapterInjector.TrainableStateDict(Network));

    /// <summary>
    /// The backbone's weights as safetensors bytes, for a self-contained file: the pretrained weights, never a
    /// merged copy (merging keeps them unchanged). Reads the network, never writes it.
    /// </summary>
    public EmbeddedBackbone EmbeddedBackbone() =>
        new(CompactModelFormat.ToSafetensors(AdapterInjector.BaseStateDict(Network.Backbone)), BackboneTokenizerFiles);

    /// <summary>Whether every adapter is merged into its layer's weight.</summary>
    public bool AdaptersMerged => AdapterInjector.AdaptedLayers(Network) is { Count: > 0 } layers && layers.All(l => l.Layer.Merged);

    /// <summary>Trainable and total parameter counts.</summary>
    public AdapterReport ParameterReport() => AdapterInjector.Report(Network);

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();
}
